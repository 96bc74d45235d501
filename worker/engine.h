/* engine: the worker's Redis calls: runs pipelined batches through the router, retrying with backoff. */
#ifndef ANDON_ENGINE_H
#define ANDON_ENGINE_H

#include "call.h"
#include "config.h"

#include <hiredis.h>
#include <signal.h>

typedef struct andon_engine andon_engine_t;

/** A disconnected engine; connects on first use. NULL when out of memory. cfg must outlive it. */
andon_engine_t *andon_engine_new(const andon_config_t *cfg);
void andon_engine_destroy(andon_engine_t *e);

/**
 * Connects (AUTH, SELECT; every primary of a cluster, or the primary the sentinels name) and loads the
 * function library with FUNCTION LOAD REPLACE on each.
 * Returns 0, or -1 with a reason.
 */
int andon_engine_connect(andon_engine_t *e, char *errstr, size_t errstr_size);

/**
 * Sends calls[0..n) in one pipeline and reads every reply into replies[i] (the caller frees each with
 * freeReplyObject). Connection loss, a Redis that is loading, busy or out of memory, and a missing function
 * library are retried with backoff (calls are idempotent by request id, so resending is safe) until every
 * call has its reply, or until *run is 0 and deadline_us (monotonic) has passed, then -1. Replies that are
 * Redis errors of any other kind (a script bug) are returned as they are for the caller to report.
 * Calls with overflow or skip set are not sent; their reply stays NULL.
 */
int andon_engine_exec(andon_engine_t *e, const andon_call_t *calls, size_t n, redisReply **replies,
		      const volatile sig_atomic_t *run, int64_t deadline_us);

/** Runs one command synchronously, with the same retry rules (for tests and tools). */
redisReply *andon_engine_command(andon_engine_t *e, int argc, const char **argv, const size_t *argvlen);

/** Number of reconnects so far (statistics). */
unsigned long andon_engine_reconnects(const andon_engine_t *e);

/** The router under the engine (redis_route.h), for its statistics. */
struct andon_route;
const struct andon_route *andon_engine_route(const andon_engine_t *e);

/**
 * Who hears of Redis going away and coming back: fn(opaque, 0, why) on every failed attempt (a connect or
 * a connection that failed, or a Redis that is loading, busy...: each retry is a turn of the caller's
 * wait), and fn(opaque, 1, NULL) once when Redis answers again after that. Called on the caller's thread,
 * from inside andon_engine_exec(). fn may be NULL: nobody.
 */
typedef void(andon_engine_watch_fn)(void *opaque, int up, const char *why);
void andon_engine_watch(andon_engine_t *e, andon_engine_watch_fn *fn, void *opaque);

/** A histogram series (lib/metrics.h) that gets the time, in seconds, of each pipeline round trip that
 * Redis answered in full; NULL: none. */
struct andon_series;
void andon_engine_timing(andon_engine_t *e, struct andon_series *rtt);

#endif
