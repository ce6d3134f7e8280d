/* state.h - the embedded state store (SQLite, WAL): per-stream watermarks,
 * marks, the facts kept for matching, alerts with stable ids and their
 * lifecycle, the delivery outbox, the quarantine of rejected records, and
 * data-quality counts.
 *
 * Everything a cycle writes goes through explicit transactions (state_begin /
 * state_commit), so a crash leaves the previous consistent state. The schema is
 * plain SQL with no SQLite-only semantics beyond upsert, so it can later move to
 * a shared PostgreSQL store for several workers.
 *
 * Errors: every function returns 0 on success and -1 on failure, logging the
 * SQLite message with the operation that failed. */
#ifndef GG_STATE_H
#define GG_STATE_H

#include <stddef.h>

#include "alerts/alert.h"
#include "core/strmap.h"
#include "model/fact.h"

typedef struct state state;

/* Process-wide SQLite settings, once at program start before any state_open
 * (which sets up the page cache, sized for the first store it opens). */
void state_library_init(void);
state *state_open(const char *path, char *err, size_t errsz); /* creates the schema */
/* state_open with flags. STATE_OPEN_DEFER_WAL: a store this open creates
 * (its file missing or empty) is written with a rollback journal, not the
 * WAL, until state_wal_settle: a first load into an empty database then
 * writes each page once (the WAL writes it twice, once more when it is
 * copied back), and the journal holds almost nothing (pages past the end of
 * the file at a transaction's start are not journaled). Crash-safe as the
 * WAL is (a hot journal is rolled back by the next open), synchronous=FULL;
 * but another process's reader waits while a write transaction holds the
 * file (an open between two transactions puts the store in WAL mode early,
 * which is harmless). For the run loop's first cycle; everyone else opens
 * in WAL mode. */
#define STATE_OPEN_DEFER_WAL 1
state *state_open_flags(const char *path, int flags, char *err, size_t errsz);
/* Puts a store opened with STATE_OPEN_DEFER_WAL in WAL mode (synchronous
 * NORMAL), unless it is already: 0, or -1 when SQLite could not switch now
 * (another connection holds the file; logged once): it stays as it is and
 * the next call, or the next open, tries again. */
int state_wal_settle(state *st);
void state_close(state *st);
/* One daemon per state store: an exclusive flock(2) on "<path>.lock" (created
 * 0600, holding the holder's pid), taken by whatever writes the store in a
 * cycle (run, deliver). 0 with *fd (keep it open while writing), -1 with err
 * naming the holder's pid when another process holds it. state_unlock(fd)
 * releases it (closing the fd or exiting does too). */
int state_lock(const char *path, int *fd, char *err, size_t errsz);
void state_unlock(int fd);
/* WAL checkpoints done so far by the store's checkpoint thread (which
 * state_open starts once state_library_init has run: commits then never
 * copy the WAL back themselves); -1 when there is none. */
long state_background_checkpoints(state *st);
int state_begin(state *st);
int state_commit(state *st);
int state_rollback(state *st);
/* A read transaction (BEGIN DEFERRED ... COMMIT) around many reads: one
 * snapshot and one lock instead of a lock taken and released by every
 * statement (the per-id person lookups of a match: ~4 fcntl calls each). */
int state_read_begin(state *st);
int state_read_end(state *st);
/* 1 when a transaction (read or write) is open on the store's connection. */
int state_in_transaction(state *st);
/* The index built from the stored rows once instead of row by row
 * (store/indexbuild.c): the touched log's facts_subject. Start builds it,
 * when missing, on a second connection in a thread of its own, and returns
 * at once: call it while the caller only reads, in WAL mode (a match's read
 * transaction; a store still in its first load's rollback journal starts
 * nothing). The next state_begin, state_index_build_wait or state_close
 * waits for it. 0, or -1 (logged: the index is built later, by the touched
 * log's start). */
int state_index_build_start(state *st);
int state_index_build_wait(state *st);

/* Watermarks: opaque text per (source, stream). *value is malloc'd or NULL. */
int state_watermark_get(state *st, const char *source, const char *stream, char **value);
int state_watermark_set(state *st, const char *source, const char *stream, const char *value);

/* Marks: other small texts the cycle remembers between cycles, per (scope,
 * key); not watermarks, which are only a stream's position. Used for the
 * verdict last applied to an alert (scope: the verdict's source, key
 * "verdict:<alert id>") and the cycle up to which an incremental stream's
 * lookup fetched new subjects of interest (scope: the source, key
 * "<stream>#lookup"). *value is malloc'd or NULL. */
int state_mark_get(state *st, const char *scope, const char *key, char **value);
int state_mark_set(state *st, const char *scope, const char *key, const char *value);

/* The stored subjects of interest (app/cycle.c keeps them across cycles while
 * the small side is unchanged): a set of normalized ids and a set of case
 * keys. The table holds raw ids, as the facts do: the state file is 0600.
 * replace: the table's contents become the keys of ids and cases (values
 * ignored), in the caller's transaction. load: adds the stored keys to ids
 * and cases (value 0). */
int state_interest_replace(state *st, const strmap *ids, const strmap *cases);
int state_interest_load(state *st, strmap *ids, strmap *cases);

/* A stream's row memo (app/pull.h): 64-bit words, entries in the order the
 * rows came, under the token of what they depend on, written in parts as they
 * come (so that no side holds a big table's memo to write it). clear removes
 * it; append adds part number `part` (0, 1, ...); both in the caller's
 * transaction. load: the parts in order, *h malloc'd (NULL and *n 0 when none
 * is stored, or when the stored one is not well formed: logged, and the next
 * pull replaces it). 0 or -1. */
int state_row_memo_clear(state *st, const char *source, const char *stream);
int state_row_memo_append(state *st, const char *source, const char *stream, long part, uint64_t token,
                          const uint64_t *h, size_t n);
int state_row_memo_load(state *st, const char *source, const char *stream, uint64_t *token, uint64_t **h, size_t *n);

/* Facts: upsert by (source, kind, ref); `cycle` records when it was last
 * written. The fact's content hash (state_fact_hash) is stored with it. */
int state_fact_put(state *st, const fact *f, long cycle);
/* Content hash of a fact as read: kind, canonical fields, the raw values
 * (fact_raw_hash: the row's hash as the adapter read it, or the text of
 * f->raw_json when the fact carries none) and the
 * id's reading (id_norm, id_status); not the folded name, which derives from
 * the fields. Equal hashes mean the stored fact needs no rewrite. */
uint64_t state_fact_hash(const fact *f);
/* state_fact_put with the content hash given (state_fact_put stores
 * state_fact_hash(f)). */
int state_fact_put_hashed(state *st, const fact *f, long cycle, uint64_t hash);
/* state_fact_put_hashed of a fact the caller found stored with another
 * content hash: when its id, case, folded name, name hash and conflict flag
 * are the stored ones (a resident who moved, a corrected amount), only its
 * fields, raw values, hash and cycle are rewritten, which leaves the persons'
 * name index alone; otherwise (or when it was not stored after all) the
 * upsert. */
int state_fact_put_stored(state *st, const fact *f, long cycle, uint64_t hash);
/* Calls fn with (id_norm, name_hash) of every named person fact with an id
 * (facts_person_names; name_hash = state_ref_hash of the name as written). */
int state_person_name_hashes_each(state *st, int (*fn)(void *ud, const char *id_norm, uint64_t name_hash),
                                  void *ud);
/* Hash of a record key, for the refs-seen sets of state_facts_prune_unseen
 * (also of a person's name as the source holds it). */
uint64_t state_ref_hash(const char *ref);
/* The content hash stored for f's (source, kind, ref): *found 0 when there is
 * no such fact (or it was stored before hashes existed). */
int state_fact_stored_hash(state *st, const fact *f, uint64_t *hash, int *found);
/* Calls fn with (state_ref_hash(ref), content hash) of every fact of one
 * (source, kind) stored with a content hash: what a worker compares its rows
 * with (app/pull.h). Read from the (source, kind)'s hash set when it has one
 * (16 bytes a fact, a pair given twice comes twice), else from the facts'
 * rows (the key's range, each row read: slower, once after the set was
 * dropped). fn returns nonzero to stop. */
int state_fact_hashes_each(state *st, const char *source, int k,
                           int (*fn)(void *ud, uint64_t ref_hash, uint64_t content_hash), void *ud);
/* Hash sets: per (source, kind), the pairs (state_ref_hash(ref), content
 * hash) of its stored facts, kept so that the pairs a worker compares with
 * are read as one blob instead of from an index of the whole facts table
 * built after a first load and kept up by every write. A set stands for the
 * facts exactly: every write to the facts of a (source, kind) drops its set
 * in the same transaction (st_hash_set_drop), and the cycle puts a new one
 * once a complete read of the (source, kind) has left the stored facts
 * equal to the refs it kept (app/cycle.c prune_facts), in the prune's
 * transaction. A set that is missing is only slower to read; one that is
 * there is never stale, whatever a crash interrupts. put replaces the set
 * with the n pairs (ref hash, content hash) at pairs (2n words, any order;
 * n may be 0), in the caller's transaction; exists: 1 when the (source,
 * kind) has a set, 0 when not, -1 on failure. */
int state_fact_hash_set_put(state *st, const char *source, int k, const uint64_t *pairs, size_t n);
int state_fact_hash_set_exists(state *st, const char *source, int k);
/* Facts on demand (fn owns each fact, as for state_facts_each), of many
 * normalized ids at once, read in the table's order (one pass instead of a
 * random page per fact; an id given twice counts once): persons = 1, the
 * person facts of the ids (facts_person_names); 0, their other facts but
 * verdicts (facts_subject: for a match of the subjects the touched log names, whose
 * index exists then). The facts come in no particular order. */
int state_facts_of_ids(state *st, int persons, const char *const *ids, size_t n, int (*fn)(void *ud, fact *f),
                       void *ud);
/* Persons on demand, as above: the ids of persons whose folded name and
 * id-embedded birth date are (name_norm, birth); the person facts without a
 * valid id; the ids whose person facts conflict among themselves (2+ folded
 * names, or a stated birth date other than the id's). */
/* The stored raw values (JSON text, malloc'd into *raw; NULL when the fact or
 * its raw values are not stored) of one fact: the evidence of an alert, for
 * facts loaded without them (store/evidence.c). 0 ok, -1 logged failure. */
int state_fact_raw(state *st, const char *source, fact_kind kind, const char *ref, char **raw);
/* A first load of a source and kind (none stored yet): every write is an
 * insert, so the writer reads nothing before it, and the change counters and
 * the persons' generation get what it wrote at its end; a rollback drops
 * it. Both run inside the caller's transaction; 0 ok, -1 logged failure. */
int state_first_load_begin(state *st);
int state_first_load_end(state *st);
/* A first load of persons (a source with none stored yet) inserts them in
 * random id order; the persons' index is dropped inside the stream's
 * transaction and built once, sorted, before it commits (1.7 s for 1M persons,
 * instead of a random B-tree insert per person). The change counter
 * (state_facts_changes) counts the facts put meanwhile at the end too, not by
 * a trigger per fact. A rollback restores both. Both run inside the caller's
 * transaction; 0 ok, -1 logged failure. */
int state_person_index_suspend(state *st);
int state_person_index_restore(state *st);
int state_person_ids_by_key(state *st, const char *name_norm, int birth, int (*fn)(void *ud, const char *id),
                            void *ud);
int state_persons_without_id(state *st, int (*fn)(void *ud, fact *f), void *ud);
/* For a match of the subjects the touched log names (app/cycle.c; the facts
 * of its ids: state_facts_of_ids): the named facts without a valid id but
 * persons and verdicts (whose low links a change of any person may move); and
 * of one case, the distinct ids of its facts to id_fn, and its facts with
 * neither id nor name to fn (a case payment naming only the case). fn owns
 * each fact, as for state_facts_each; a non-zero return of either callback
 * stops (returned when positive). */
int state_facts_without_id_named(state *st, int (*fn)(void *ud, fact *f), void *ud);
/* (id, folded name) of every named fact with an id but persons and verdicts
 * (facts_subject): with state_person_names_walk, every id some fact names so. */
int state_fact_names_walk(state *st, int (*fn)(void *ud, const char *id_norm, const char *name_norm), void *ud);
int state_case_facts(state *st, const char *case_key, int (*id_fn)(void *ud, const char *id),
                     int (*fn)(void *ud, fact *f), void *ud);
/* The touched log (store/touched.c): the keys ('i' id, 'c' case, 'n' folded
 * name of a fact without a valid id, 'v' a verdict) of every fact written
 * since the last match, kept by triggers while the log is on. restart: on and emptied (in
 * the caller's transaction, the one that stores a match's alerts); stop: off
 * and emptied; on: 1 on, 0 off, -1 failure; count: keys, -1 failure; each:
 * fn(type, value) per key, a non-zero return stops (returned when positive). */
int state_touch_log_restart(state *st);
int state_touch_log_stop(state *st);
int state_touch_log_on(state *st);
long state_touched_count(state *st);
int state_touched_each(state *st, int (*fn)(void *ud, char type, const char *value), void *ud);
/* The low links' candidates the last match found (store/touched.c): replace
 * (in the caller's transaction) stores the pairs, each a key of pairs
 * "<folded name>|<yyyymmdd>\x1f<id>" (id "" for a key no id answers); each
 * calls fn(key, id) per stored pair, a non-zero return stops. */
int state_low_links_replace(state *st, const strmap *pairs);
int state_low_links_each(state *st, int (*fn)(void *ud, const char *key, const char *id), void *ud);
/* The register cache (store/register.c): the generation of the persons
 * (-1 on failure); get maps the id and pair hash sets (sorted, distinct)
 * written under generation gen into *m and returns 1, 0 when there is none
 * under gen (or it cannot be read; a damaged one is warned of), and release
 * unmaps them; put writes them under gen (0, or -1 warned: the next build
 * writes it again). */
typedef struct state_register_map {
    void *map;
    size_t len;
    const uint64_t *ids, *pairs;
    size_t nids, npairs;
} state_register_map;
long state_person_gen(state *st);
int state_register_cache_get(state *st, long gen, state_register_map *m);
void state_register_map_release(state_register_map *m);
int state_register_cache_put(state *st, long gen, const uint64_t *ids, size_t nids, const uint64_t *pairs,
                             size_t npairs);
/* A read-only second connection to the store for one thread beside the
 * core (store/reader.c): open it on the core's thread (NULL, err set, when it
 * cannot be opened), use it on one other thread, close it before the core
 * forks. It logs nothing: a failed read returns -1 and state_reader_error
 * says why. person_name_hashes_each is state_person_name_hashes_each on it
 * (1 when fn stopped it). */
typedef struct state_reader state_reader;
state_reader *state_reader_open(state *st, char *err, size_t errsz);
int state_reader_person_name_hashes_each(state_reader *r, int (*fn)(void *ud, const char *id_norm,
                                                                      uint64_t name_hash),
                                         void *ud);
const char *state_reader_error(const state_reader *r);
void state_reader_close(state_reader *r);
/* Calls fn once per id whose facts conflict: flagged dq = 1, or person facts
 * of two folded names. */
int state_person_ids_in_conflict(state *st, int (*fn)(void *ud, const char *id), void *ud);
/* One pass over the register, in id order: name_fn (optional) gets (id,
 * folded name) of every person with a valid id and a name, for matching many
 * name + birth-date keys at once; conflict_fn (optional) as
 * state_person_ids_in_conflict; a non-zero return of either stops. */
int state_person_names_walk(state *st, int (*name_fn)(void *ud, const char *id_norm, const char *name_norm),
                            int (*conflict_fn)(void *ud, const char *id), void *ud);
/* Data quality of a row kept for no rule: *persons 1 when id_norm has person
 * facts with a folded name; *same 1 when one of them has the name exactly as
 * `name` (compared by hash: no folding needed) or, when name_norm is given,
 * that folded name. */
int state_person_name_check(state *st, const char *id_norm, const char *name, const char *name_norm,
                            int *persons, int *same);
/* Calls fn for every stored fact (of kind k, or all when k < 0), with its
 * fields and its stored folded name (name_norm); the id is not normalized
 * (fact_normalize_id does that without re-folding the name). The fact is
 * owned by the callback (it must fact_clear it or move it). Stops when fn
 * returns nonzero. */
int state_facts_each(state *st, int k, int (*fn)(void *ud, fact *f), void *ud);
long state_fact_count(state *st, int k);
/* Facts inserted, deleted or changed in content (fields, id, case, raw
 * record, folded name) since this handle was opened; committed writes only.
 * -1 on error. The run loop debounces matching on it. */
long state_facts_changes(state *st);
/* Of those, the changes of the small side that the subjects of interest and
 * the register's names (app/ingest.c) derive from: any insert or delete of a
 * fact other than a payment or income, any change of one but a person's
 * whose valid id, folded name, name as written and conflict flag stay the
 * same (a resident who moved). Persons put during a first load
 * (state_person_index_suspend) all count. -1 on error. */
long state_facts_identity_changes(state *st);
/* Added for incremental pulls: the death, custody and assistance_member facts
 * first stored in a cycle after `since_cycle` (facts.first_cycle > since), with
 * that cycle: the subjects that became of interest since then, whose payments
 * an incremental stream has to look up. Stops when fn returns nonzero. */
int state_interest_new_each(state *st, long since_cycle,
                            int (*fn)(void *ud, const char *source, const char *kind, const char *ref,
                                      long first_cycle),
                            void *ud);
/* Facts of one source and kind stored for one source and kind. */
long state_fact_count_source(state *st, const char *source, int k);
/* 1 when a fact of (source, kind) is stored, 0 when none, -1 on error. */
int state_fact_any_source(state *st, const char *source, int k);
/* Full-refresh semantics: after every stream of (source, kind) was read
 * completely in cycle C, facts not seen since (last_cycle < C) are gone from
 * the source (deleted rows, rows no longer of interest) and are removed. */
int state_facts_prune(state *st, const char *source, int k, long before_cycle, long *deleted);
/* The same without rewriting every seen fact: removes the facts of (source,
 * kind) whose ref hash is not in seen (ascending and distinct, n entries). */
int state_facts_prune_unseen(state *st, const char *source, int k, const uint64_t *seen, size_t nseen,
                             long *deleted);

/* The quarantine: records the gateway could not take as they are, one row
 * per (source, stream, ref, reason) with a count, of three kinds:
 *   QK_REJECTED        rejected: the record is not used (no fact);
 *   QK_INVALID_ID      its id number is invalid: the record is kept (linked by
 *                      name + birth date at low confidence where possible);
 *   QK_LAST_GOOD_KEPT  rejected this time, but an earlier good version of the
 *                      same record is kept (a bad correction does not withdraw
 *                      the alerts resting on it; state_quarantine_keep_fact). */
typedef enum { QK_REJECTED = 0, QK_INVALID_ID, QK_LAST_GOOD_KEPT } quarantine_kind;
/* Stored name ("rejected", "invalid_id", "last_good_kept") and the words the
 * CLI shows ("rejected", "invalid id, kept", "rejected, last good kept"). */
const char *quarantine_kind_name(quarantine_kind k);
const char *quarantine_kind_words(const char *stored);
int state_quarantine_add(state *st, const char *source, const char *stream, const char *ref,
                         const char *reason, const char *raw_json, long cycle); /* QK_REJECTED */
int state_quarantine_add_kind(state *st, quarantine_kind kind, const char *source, const char *stream,
                              const char *ref, const char *reason, const char *raw_json, long cycle);
/* A rejected record whose earlier version is stored as a fact of (source,
 * kind, ref): marks that fact seen in `cycle` so that pruning keeps it.
 * *kept = 1 when there was one. In the caller's transaction. */
int state_quarantine_keep_fact(state *st, const char *source, int kind, const char *ref, long cycle, int *kept);
typedef struct quarantine_row {
    long id;
    const char *source, *stream, *ref, *reason, *raw_json;
    const char *kind; /* stored name, see quarantine_kind_name */
    long long at;
    long last_cycle;
} quarantine_row;
int state_quarantine_each(state *st, const char *source, int (*fn)(void *ud, const quarantine_row *r), void *ud);
/* The QK_LAST_GOOD_KEPT rows seen in `cycle` (<= 0: the latest cycle): the
 * records currently rejected whose last good version stands in. */
int state_quarantine_last_good_each(state *st, long cycle, int (*fn)(void *ud, const quarantine_row *r), void *ud);

/* Data-quality counters per (source, metric, reason), e.g. ("psb", "invalid_id", "bad_check"). */
int state_dq_add(state *st, const char *source, const char *metric, const char *reason, long n, long cycle);
int state_dq_each(state *st, long cycle, int (*fn)(void *ud, const char *source, const char *metric,
                                                  const char *reason, long n), void *ud);

/* Cycles: a monotonically increasing number per `run`. */
int state_cycle_begin(state *st, long *cycle);
int state_cycle_end(state *st, long cycle, const char *summary_json);

/* Alerts. Upsert by id: a new alert is stored with status "new" and version 1;
 * an existing one whose fingerprint changed is updated (version+1, and a
 * dismissed/confirmed one reopens to "new"); an unchanged one is left alone. */
typedef enum { ALERT_UNCHANGED = 0, ALERT_CREATED, ALERT_UPDATED } alert_change;
int state_alert_upsert(state *st, alert *a, alert_change *change);
/* Loads an alert by id (full evidence). 0 found, 1 not found, -1 error. */
int state_alert_get(state *st, const char *id, alert *out);
/* What a delivery needs of an alert: state_alert_get without the evidence
 * (nev 0), and *explanation, the stored explanation of this version
 * (malloc'd; NULL when none was stored: an alert stored before schema 11, or
 * whose explanation could not be made then). */
int state_alert_get_to_push(state *st, const char *id, alert *out, char **explanation);
/* Stores the zh-CN explanation of version `version` of alert id (a version
 * written since has none: the upsert clears it), in the caller's
 * transaction: made once, when the match has the alert and its evidence in
 * memory, instead of at each delivery from the stored evidence. */
int state_alert_explanation_set(state *st, const char *id, int version, const char *text);
/* Iterates alerts (filter by rule name / status when non-NULL), ordered by id. */
int state_alerts_each(state *st, const char *rule, const char *status,
                      int (*fn)(void *ud, const alert *a), void *ud);
int state_alert_set_status(state *st, const char *id, const char *status, const char *note);
/* The number of alerts of each (rule name, status), for the metrics: counted
 * by SQLite, no alert loaded. */
int state_alert_counts_each(state *st, int (*fn)(void *ud, const char *rule, const char *status, long n), void *ud);

/* Open alerts (new, pushed, overdue), by id. fn returning nonzero stops. */
int state_alerts_open_each(state *st, int (*fn)(void *ud, const char *id), void *ud);
/* Every stored alert with what its subject is made of: id, rule name, the
 * subject person's id ("" for a case), case key (NULL when none), the subject
 * and the status. Collected first, so fn may write alerts. */
int state_alerts_subjects_each(state *st,
                               int (*fn)(void *ud, const char *id, const char *rule, const char *id_no,
                                         const char *case_key, const char *subject, const char *status),
                               void *ud);
/* The finding is gone (e.g. a death registration was restored): status
 * "withdrawn", version+1 (so sinks hear of it), fingerprint cleared so that the
 * same finding coming back reopens the alert. *version gets the new version. */
int state_alert_withdraw(state *st, const char *id, int *version);
/* Pushed alerts with no verdict since `pushed_before` (unix seconds) become
 * "overdue" with version+1; fn (may be NULL) is called with each id so the
 * caller can escalate (re-deliver). */
int state_alerts_overdue(state *st, long long pushed_before, int (*fn)(void *ud, const char *id), void *ud);

/* Outbox: one row per (alert id, sink, version). Delivery is at-least-once and
 * the sinks are idempotent on the alert id. */
int state_outbox_enqueue(state *st, const char *alert_id, const char *sink, int version);
typedef struct outbox_row {
    long id;
    const char *alert_id, *sink;
    int version, attempts;
    const char *last_error;
} outbox_row;
/* Rows due now (pending, next_attempt <= now), oldest first. */
int state_outbox_due(state *st, int (*fn)(void *ud, const outbox_row *r), void *ud);
int state_outbox_done(state *st, long id);
/* Records a failure; the row is retried at next_attempt, or becomes "dead" when
 * attempts reach max_attempts (kept, with the error, for `outbox list`). */
int state_outbox_failed(state *st, long id, const char *error, long long next_attempt, int max_attempts);
int state_outbox_pending_count(state *st, const char *alert_id, long *n);
int state_outbox_each(state *st, const char *status, int (*fn)(void *ud, const outbox_row *r, const char *status), void *ud);

#endif
