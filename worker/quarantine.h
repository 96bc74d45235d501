/*
 * quarantine: one message must not stop a partition for good. Before a batch is processed, the offsets it
 * holds are recorded per partition in Redis; the next owner of a partition that finds a record knows that
 * its last owner died with those offsets in flight. It processes them one message per batch, so a repeat
 * death narrows the record to one offset, and a single offset found in flight at quarantine_after
 * consecutive starts is dead-lettered unprocessed ("Quarantined"). docs/REDIS.md, section 8.
 *
 * Record: hash andon:{inflight:<group.id>}:<topic>, field = partition (decimal), value = "lo hi seen":
 * offsets lo..hi were in flight, and seen earlier starts already found them in flight (each one a death
 * of the owner before). A start that finds a record counts one more; a batch within a found range inherits
 * its count, as each of its offsets was in flight at every one of those deaths.
 */
#ifndef ANDON_QUARANTINE_H
#define ANDON_QUARANTINE_H

#include "engine.h"

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

typedef struct andon_quar andon_quar_t;

/** One record: offsets lo..hi (inclusive) in flight; seen = starts that found them so before. */
typedef struct andon_quar_rec {
	int64_t lo, hi;
	long long seen;
} andon_quar_rec_t;

/** Parses "lo hi seen" (three decimal integers, single spaces, 0 <= lo <= hi): 0, or -1 when malformed. */
int andon_quar_parse(const char *s, size_t len, andon_quar_rec_t *rec);

/** Writes "lo hi seen" into buf (NUL-terminated); returns its length, or -1 when it does not fit. */
int andon_quar_format(const andon_quar_rec_t *rec, char *buf, size_t size);

/**
 * The records of topic for consumer group group. after = worker.quarantine_after: a single offset found in
 * flight at this many consecutive starts is quarantined; 0 turns all of it off (no Redis I/O at all).
 * engine may be NULL when only the functions without Redis I/O are used (unit tests); it must outlive q.
 * NULL when out of memory.
 */
andon_quar_t *andon_quar_new(andon_engine_t *engine, int after, const char *group, const char *topic);
void andon_quar_destroy(andon_quar_t *q);

/**
 * Partitions assigned: reads their records (one round trip) and decides, for each found one, to process its
 * range carefully or to quarantine its offset. Entries of other topics are ignored. Returns 0, or -1 when
 * Redis stayed away through a shutdown or memory ran out (the partitions are then taken without records).
 */
int andon_quar_assign(andon_quar_t *q, const rd_kafka_topic_partition_list_t *parts,
		      const volatile sig_atomic_t *run, int64_t deadline_us);

/**
 * Partitions revoked, after the worker drained them. A worker that lets go of a partition alive did not
 * die with its offsets in flight: its records are deleted, except a found range not reached yet, whose
 * rest is put back with the count it was read with, so the next owner counts the same deaths. lost (the
 * group took the partitions
 * away, another worker may own them now): Redis is not touched. 0, or -1 when Redis stayed away.
 */
int andon_quar_revoke(andon_quar_t *q, const rd_kafka_topic_partition_list_t *parts, int lost,
		      const volatile sig_atomic_t *run, int64_t deadline_us);

/** 1 when the message at partition/offset must be processed in a batch of its own (a found range). */
int andon_quar_alone(const andon_quar_t *q, int32_t partition, int64_t offset);

/**
 * Records the offsets of msgs[0..n) (messages with an error are skipped) as in flight, for every partition
 * among them, in one HSET round trip. Call before anything of the batch is decoded. Returns 0, or -1 when
 * Redis stayed away through a shutdown (the batch must then not be processed).
 */
int andon_quar_begin(andon_quar_t *q, rd_kafka_message_t *const *msgs, size_t n,
		     const volatile sig_atomic_t *run, int64_t deadline_us);

/** 1 with a note for the DLQ record when the message at partition/offset is quarantined, else 0. */
int andon_quar_poisoned(const andon_quar_t *q, int32_t partition, int64_t offset, char *note, size_t size);

/** Offsets stored (next offset per partition, as collected from the tracker): records now done. */
void andon_quar_stored(andon_quar_t *q, const rd_kafka_topic_partition_list_t *offsets);

/** Deletes the records whose offsets are all stored, in one HDEL when there are any (the periodic hook). */
void andon_quar_clear(andon_quar_t *q, const volatile sig_atomic_t *run, int64_t deadline_us);

/*
 * The decisions without Redis, for andon_quar_assign/_begin and unit tests.
 */

/** What assignment does with one partition's record: value NULL (or len 0) when there was none. */
int andon_quar_found(andon_quar_t *q, int32_t partition, const char *value, size_t len);

/**
 * The record of a batch holding offsets lo..hi of partition: fills rec (seen inherited from a found range
 * that contains lo..hi, else 0) and notes it as the partition's record in Redis. 0, or -1 out of memory.
 */
int andon_quar_range(andon_quar_t *q, int32_t partition, int64_t lo, int64_t hi, andon_quar_rec_t *rec);

/** 1 when the partition has a record in Redis that andon_quar_clear would delete now. */
int andon_quar_clearable(const andon_quar_t *q, int32_t partition);

/** 1 while a found range of the partition is not passed yet (processing it is still to come). */
int andon_quar_careful(const andon_quar_t *q, int32_t partition);

#endif
