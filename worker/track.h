/*
 * track: the messages in flight, in the order they were consumed. A message is done when its Redis call is
 * answered and every message it caused (reply, events, DLQ record) was acknowledged by the broker; offsets
 * are handed out only for done messages with nothing undone before them, so a crash never skips one.
 */
#ifndef ANDON_TRACK_H
#define ANDON_TRACK_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

typedef struct andon_track andon_track_t;

/** A tracker for at most cap messages in flight. NULL when out of memory. */
andon_track_t *andon_track_new(size_t cap);
void andon_track_destroy(andon_track_t *t);

/**
 * Adds a consumed message with one pending hold (the worker's own, released when it is done with the
 * message) and returns its sequence number, the opaque of everything produced for it. Returns
 * UINT64_MAX when full or when topic could not be recorded.
 */
uint64_t andon_track_add(andon_track_t *t, const char *topic, int32_t partition, int64_t offset);

/** Adds n pending acknowledgements to message seq (one per message produced for it). */
void andon_track_hold(andon_track_t *t, uint64_t seq, int n);

/** Releases one pending acknowledgement of message seq. */
void andon_track_release(andon_track_t *t, uint64_t seq);

/**
 * Removes the done messages from the head and adds, for each partition among them, the next offset to
 * consume (the last done offset + 1) to list. Returns how many messages were removed.
 */
size_t andon_track_collect(andon_track_t *t, rd_kafka_topic_partition_list_t *list);

/** Records the Kafka timestamp (epoch ms, < 0 when unknown) of message seq, for andon_track_ages(). */
void andon_track_stamp(andon_track_t *t, uint64_t seq, int64_t ts_ms);

/**
 * A histogram series (lib/metrics.h) that andon_track_collect() gives, for each message it removes with a
 * known timestamp, the message's age in seconds: from its Kafka timestamp to the moment everything it
 * caused was acknowledged. NULL: none.
 */
struct andon_series;
void andon_track_ages(andon_track_t *t, struct andon_series *age);

size_t andon_track_count(const andon_track_t *t);
int andon_track_full(const andon_track_t *t);

#endif
