/*
 * http: the worker's HTTP endpoints, served by libmicrohttpd on a thread of its own:
 *   GET /metrics  the registry in the Prometheus text format 0.0.4 (lib/metrics.h),
 *                 Content-Type: text/plain; version=0.0.4; charset=utf-8
 *   GET /healthz  200 "ok" while the main loop turns; 503 "main loop stalled for N ms" once it has not
 *                 called andon_http_beat() for longer than the stall limit
 *   GET /readyz   200 "ready" when every readiness condition holds; 503 with one line per condition that
 *                 does not ("kafka: waiting for partition assignment")
 * Anything else: 404; a method other than GET or HEAD: 405. Bodies are text/plain.
 *
 * The main loop only stores: a beat is one atomic store, a readiness change one short mutex hold, and the
 * metrics reach this thread through andon_metrics_publish().
 */
#ifndef ANDON_HTTP_H
#define ANDON_HTTP_H

#include "metrics.h"

#include <stddef.h>

#define ANDON_HTTP_CONDITIONS 4

typedef struct andon_http andon_http_t;

/**
 * Starts serving on listen, "host:port" ("127.0.0.1:9464", "[::1]:9464", "localhost:9464"; port 0 picks a
 * free one, see andon_http_port()). metrics is read on the server's thread and must outlive the server.
 * stall_ms is the stall limit of /healthz; the first beat is the start. Every readiness condition holds
 * until andon_http_ready() says otherwise. Returns NULL with a reason on failure.
 */
andon_http_t *andon_http_start(const char *listen, andon_metrics_t *metrics, int stall_ms, char *errstr,
			       size_t errstr_size);
/** Stops the server (waits for a request in progress) and frees it. h may be NULL. */
void andon_http_stop(andon_http_t *h);

/** The port the server listens on. */
int andon_http_port(const andon_http_t *h);

/** The main loop turned (or waits on purpose, e.g. for Redis to come back). h may be NULL. */
void andon_http_beat(andon_http_t *h);
/** A new stall limit for /healthz, in ms (a reload). h may be NULL. */
void andon_http_stall_ms(andon_http_t *h, int ms);

/**
 * Sets readiness condition i (0 <= i < ANDON_HTTP_CONDITIONS, the caller's own numbering): why NULL means
 * it holds, else why (copied, at most 255 bytes) says what is missing. Conditions never set hold.
 * h may be NULL.
 */
void andon_http_ready(andon_http_t *h, int i, const char *why);

#endif
