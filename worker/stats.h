/*
 * stats: what the worker counts, as the metric families of docs/OPERATIONS.md (lib/metrics.h). The hot
 * path pays a plain increment per message (a request's op is looked up once, when it is consumed); the
 * rest is read on the worker's tick (andon_stats_tick() in worker_int.h) and published to the HTTP thread
 * there, once per tick.
 */
#ifndef ANDON_STATS_H
#define ANDON_STATS_H

#include "metrics.h"

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

typedef struct andon_stats andon_stats_t;
/** The counters of one op (or of every message whose op is unknown or unreadable). */
typedef struct andon_stats_op andon_stats_op_t;

/** The registry with every family of the worker. NULL when out of memory. */
andon_stats_t *andon_stats_new(void);
void andon_stats_destroy(andon_stats_t *s);

/** The registry, for the HTTP server. */
andon_metrics_t *andon_stats_registry(andon_stats_t *s);
/** The histograms the engine (Redis round trips) and the tracker (request ages) record into. */
andon_series_t *andon_stats_redis_rtt(andon_stats_t *s);
andon_series_t *andon_stats_request_age(andon_stats_t *s);

/**
 * Counts one consumed message whose op is op[0..len) (NULL: unreadable) and returns the op's counters for
 * andon_stats_answered(). Only ops of the op table get a series of their own; any other name counts as
 * "unknown", so a producer cannot grow the label set.
 */
andon_stats_op_t *andon_stats_consumed(andon_stats_t *s, const char *op, size_t len);

/** Counts one reply: code NULL for a success, else its error code[0..len). */
void andon_stats_answered(andon_stats_t *s, andon_stats_op_t *op, const char *code, size_t len);

/**
 * Counts one reply made of an engine answer: ok, else the code read from the error map {code, status,
 * message} in answer[0..len) (unpacked into zone, which the caller clears).
 */
void andon_stats_answered_raw(andon_stats_t *s, andon_stats_op_t *op, int ok, const char *answer, size_t len,
			      msgpack_zone *zone);

/** Counts one dead letter with its reason (the DLQ record's code). */
void andon_stats_dead_letter(andon_stats_t *s, const char *reason);

/** Counts one request refused by the signature or policy check, with its reason (auth.h). */
void andon_stats_auth_refused(andon_stats_t *s, const char *reason);

/** Records one batch of n messages. */
void andon_stats_batch(andon_stats_t *s, size_t n);

/**
 * Reads librdkafka's statistics (the consumer's stats_cb JSON): consumer lag per assigned partition
 * (partitions no longer reported are dropped). Returns the number of brokers in state UP, or -1 when the
 * JSON could not be read.
 */
int andon_stats_kafka(andon_stats_t *s, const char *json, size_t len);

#endif
