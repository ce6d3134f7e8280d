/* worker_push.h - pushing one alert through a sink's adapter in a sandboxed
 * worker process (worker/push.c). */
#ifndef GG_WORKER_PUSH_H
#define GG_WORKER_PUSH_H

#include <stddef.h>

#include "adapter/adapter.h"

/* Pushes alert a (with its zh-CN explanation) through ad's push function in a
 * worker forked for this one alert (deadline: alert.deadline as epoch seconds,
 * 0 = none; see adapter_push_due); src gives its limits (deadline_ms + the
 * connections' timeouts, memory_mb) and the files it may read. 0 pushed, -1
 * with err: the adapter's error, or how the worker ended ("source x: deadline
 * of N s exceeded, killed"). The caller's retry and dead-letter handling is
 * unchanged. */
int worker_push(adapter *ad, const gg_source_conf *src, const alert *a, const char *explanation, long long deadline,
                char *err, size_t errsz);

/* The file a connection spec reads ("odbc:...Database=/x.db" -> "/x.db"):
 * 0 with out filled, -1 when it names none. */
int worker_conn_file(const char *spec, char *out, size_t outsz);

#endif
