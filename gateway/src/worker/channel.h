/* channel.h - the fact channel from a source's worker process to the core.
 *
 * A worker (worker.h) pulls one source and sends what it finds as a stream of
 * binary frames over a pipe. Every frame is
 *
 *     u32 length (little endian, bytes after this field: 1 + payload)
 *     u8  type   (ch_frame_type)
 *     payload    (varints and length-prefixed byte strings, see docs/worker.md)
 *
 * The writer batches frames in a buffer flushed at CH_FLUSH_AT bytes, so a fact
 * costs a memcpy, not a syscall. The reader is strict because the worker is not
 * trusted: every length is bounds-checked against the frame, every id against
 * its registry, the frame sequence against the protocol (FACT, REJECT and
 * SEEN only inside a STREAM_BEGIN .. STREAM_END of the same stream, nothing
 * after DONE, DONE's counts equal to what was received), and anything else is
 * an error with a message saying what and at which byte, never a crash.
 *
 * A kept record the worker found unchanged (app/pull.c) travels as its ref
 * hash only, many to a SEEN frame. A stream's row memo (app/pull.h: the
 * entries of the rows it read, for the next cycle) travels as 64-bit words,
 * many to a MEMO frame, at the end of the stream; or, when it is the stored
 * memo exactly, as one MEMO frame saying so.
 *
 * A fact travels whole: kind, source-relative stream id, ref, every set field
 * as (field id, type, value), the identity fields when normalized, the folded
 * name, raw_json (the source's own values, kept for evidence) and the raw hash
 * (fact.raw_hash, 8 bytes little endian, when set). The source
 * name is not sent: the reader is created for one source and fills it in, so
 * a decoded fact is identical to the one encoded.
 *
 * Ownership: a ch_writer owns its buffer, not its fd. A ch_reader owns the
 * frame it hands out; the FACT's fact may be moved out by the caller (the
 * reader fact_clear()s it before decoding the next frame). */
#ifndef GG_CHANNEL_H
#define GG_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "model/fact.h"

#define CH_FLUSH_AT (64u * 1024u)          /* writer flushes past this many bytes */
#define CH_MAX_FRAME_DEFAULT (16u << 20)   /* reader refuses frames above this */

typedef enum {
    CH_FACT = 1,
    CH_REJECT = 2,
    CH_LOG = 3,
    CH_STREAM_BEGIN = 4,
    CH_STREAM_END = 5,
    CH_ERROR = 6,
    CH_DONE = 7,
    CH_SEEN = 8,
    CH_MEMO = 9,
} ch_frame_type;

/* SEEN frames carry up to this many ref hashes each (8 bytes a hash). */
#define CH_SEEN_BATCH 4096

/* ERROR frame codes: what kind of failure the worker reports. */
typedef enum {
    CH_ERR_FAILED = 1,  /* the source failed (connection, Lua error, ...) */
    CH_ERR_NOMEM = 2,   /* an allocation was refused: the memory cap */
    CH_ERR_SYSCALL = 3, /* a forbidden system call was attempted */
} ch_err_code;

/* What a stream's worker adds to its STREAM_END besides the row count: rows
 * it dropped itself (not of interest), and its lookups. */
typedef struct ch_stream_stats {
    uint64_t skipped, lookup_ids, lookup_rows;
    uint64_t raw_built; /* records whose raw JSON the worker built (those it sent) */
    uint64_t passed;    /* rows taken by their row hash, unmapped (passed over, or found stored) */
} ch_stream_stats;

/* A decoded frame. Strings are NUL-terminated and point into the reader (valid
 * until the next ch_reader_next call); `fact` is the reader's, and so are its
 * strings (fact.borrowed): fact_copy or fact_own it to keep it longer. */
typedef struct ch_frame {
    ch_frame_type type;
    uint32_t stream;       /* FACT, REJECT, STREAM_*, ERROR (when has_stream) */
    int has_stream;        /* ERROR: 1 when the error belongs to a stream */
    fact *fact;            /* FACT */
    const char *ref;       /* REJECT, may be NULL */
    const char *text;      /* REJECT reason, LOG/ERROR message, STREAM_BEGIN name */
    const char *raw_json;  /* REJECT, may be NULL */
    const char *watermark; /* STREAM_END, may be NULL */
    uint64_t count;        /* STREAM_END rows; DONE facts; SEEN ref hashes */
    uint64_t count2;       /* DONE rejects */
    int level;             /* LOG: gg_log_level; ERROR: ch_err_code */
    int failed;            /* STREAM_END: the stream failed; text is why (its facts are void) */
    int has_stats;         /* STREAM_END: stats below were sent */
    ch_stream_stats stats;
    const uint64_t *seen;  /* SEEN: count ref hashes; MEMO: count words (in the reader, aligned) */
    uint64_t token;        /* MEMO: the token the memo holds under */
    int stands;            /* MEMO: the memo stored under token stands as it is (count 0) */
    const unsigned char *bytes; /* the whole frame as received (header included), in the reader */
    size_t nbytes;
} ch_frame;

const char *ch_frame_type_name(int type); /* "FACT", ..., "?" */

/* ---- writer (worker side) ------------------------------------------------ */

typedef struct ch_writer ch_writer;

/* fd: the pipe's write end (not owned, not closed by ch_writer_free). Never
 * NULL (out of memory aborts, core/util.h). */
ch_writer *ch_writer_new(int fd);
void ch_writer_free(ch_writer *w);
/* The last error ("write to channel: Broken pipe"). */
const char *ch_writer_error(const ch_writer *w);
/* Bytes written to the fd so far and write(2) calls made (for tests/bench). */
uint64_t ch_writer_bytes(const ch_writer *w);
uint64_t ch_writer_writes(const ch_writer *w);

/* Each returns 0, or -1 with ch_writer_error set (the frame was not queued).
 * Writes happen when the buffer passes CH_FLUSH_AT and on ch_flush. */
int ch_stream_begin(ch_writer *w, uint32_t stream, const char *name);
int ch_fact(ch_writer *w, uint32_t stream, const fact *f);
int ch_reject(ch_writer *w, uint32_t stream, const char *ref, const char *reason, const char *raw_json);
int ch_log(ch_writer *w, int level, const char *msg);
int ch_stream_end(ch_writer *w, uint32_t stream, uint64_t nrows, const char *watermark);
/* STREAM_END with optional stats (NULL: none) and, when failure is non-NULL,
 * the stream failed: the consumer voids its facts and logs the reason. */
int ch_stream_end_ex(ch_writer *w, uint32_t stream, uint64_t nrows, const char *watermark, const ch_stream_stats *st,
                     const char *failure);
int ch_error(ch_writer *w, ch_err_code code, int has_stream, uint32_t stream, const char *msg);
int ch_done(ch_writer *w); /* carries the counts of FACT and REJECT frames sent */
/* Notes a kept record the worker found unchanged (its stored content hash is
 * the one the core would compute): only its ref hash travels, batched into
 * SEEN frames of up to CH_SEEN_BATCH hashes. The batch goes out before any
 * other frame (and at ch_flush), so it always stays inside its stream. */
int ch_seen(ch_writer *w, uint32_t stream, uint64_t ref_hash);
/* n words of stream's row memo under token, as MEMO frames of up to
 * CH_SEEN_BATCH words (none when n is 0); stands = 1 (h NULL, n 0) says
 * instead that the memo stored under token stands. */
int ch_memo(ch_writer *w, uint32_t stream, uint64_t token, int stands, const uint64_t *h, size_t n);
/* Ref hashes noted by ch_seen so far (for tests/logs). */
uint64_t ch_writer_seen(const ch_writer *w);
int ch_flush(ch_writer *w);

/* Encodes one fact's FACT payload into a caller buffer (no frame header):
 * returns the length needed; the bytes are written only when it fits cap.
 * -1 on a fact that cannot be encoded (bad kind, text field without value). */
long ch_encode_fact(unsigned char *buf, size_t cap, uint32_t stream, const fact *f);

/* ---- reader (core side) -------------------------------------------------- */

typedef struct ch_reader ch_reader;

/* source: the source's name, copied into every decoded fact. max_frame: 0 =
 * CH_MAX_FRAME_DEFAULT. Never NULL (out of memory aborts, core/util.h). */
ch_reader *ch_reader_new(const char *source, size_t max_frame);
void ch_reader_free(ch_reader *r);
/* Appends bytes read from the pipe. 0, or -1 on out of memory. */
int ch_reader_feed(ch_reader *r, const void *data, size_t n);
/* Next complete frame: 1 with *out filled, 0 when more bytes are needed, -1
 * on a bad frame or protocol violation with the reason in err (the reader is
 * then dead: every further call returns -1). */
int ch_reader_next(ch_reader *r, ch_frame *out, char *err, size_t errsz);
/* At end of input: 0 when no partial frame is pending, else -1 with "truncated
 * frame ..." in err. (A missing DONE is the caller's judgement, see
 * ch_reader_done.) */
int ch_reader_eof(ch_reader *r, char *err, size_t errsz);
/* 1 after a DONE frame was accepted. */
int ch_reader_done(const ch_reader *r);
/* The stream begun and not yet ended, or -1. */
long ch_reader_open_stream(const ch_reader *r);
/* Counts of accepted frames so far. */
uint64_t ch_reader_facts(const ch_reader *r);
uint64_t ch_reader_rejects(const ch_reader *r);
uint64_t ch_reader_seen(const ch_reader *r); /* ref hashes in SEEN frames */

/* Decodes a FACT payload (no frame header) into f (fact_init'd or cleared by
 * the caller; left cleared on error). source may be NULL. 0 or -1 with err. */
int ch_decode_fact(const unsigned char *p, size_t n, const char *source, uint32_t *stream, fact *f,
                   char *err, size_t errsz);

#endif
