/*
 * quarantine: one message must not stop a partition for good. Before a batch is processed, the offsets it
 * holds are recorded per partition in Redis, and removed once it is processed; the next owner of a
 * partition that finds a record knows that its last owner died processing those offsets. It processes
 * them one message per batch, so a repeat death names one offset, and an offset that was in flight at
 * quarantine_after consecutive deaths, alone at the last one, is dead-lettered unprocessed ("Quarantined").
 * docs/REDIS.md, section 8.
 *
 * Record: hash andon:{inflight:<group.id>}:<topic>, field = partition (decimal), value = "lo hi seen batch":
 * offsets lo..hi of the partition were being processed in a batch of batch messages (all partitions), and
 * seen starts before had already found them in flight (each one a death of an owner). A start that finds a
 * record counts one death more; a batch within a found range inherits that count, as each of its offsets
 * was in flight at every one of those deaths. A message that shared the fatal batch with others may be a
 * bystander: only an offset that was its batch's one message at the last death is quarantined.
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
	long long batch; /* messages of the batch (all partitions) that wrote the record */
} andon_quar_rec_t;

/**
 * Parses "lo hi seen batch" (four decimal integers, single spaces, 0 <= lo <= hi, batch >= 1): 0, or -1
 * when malformed.
 */
int andon_quar_parse(const char *s, size_t len, andon_quar_rec_t *rec);

/** Writes "lo hi seen batch" into buf (NUL-terminated); returns its length, or -1 when it does not fit. */
int andon_quar_format(const andon_quar_rec_t *rec, char *buf, size_t size);

/**
 * The records of topic for consumer group group. after = worker.quarantine_after: an offset found in
 * flight at this many consecutive starts is quarantined; 0 turns all of it off (no Redis I/O at all).
 * engine may be NULL when only the functions without Redis I/O are used (unit tests); it must outlive q.
 * NULL when out of memory.
 */
andon_quar_t *andon_quar_new(andon_engine_t *engine, int after, const char *group, const char *topic);
void andon_quar_destroy(andon_quar_t *q);

/**
 * Partitions assigned: reads their records (one round trip) and decides, for each found one, to process its
 * range one message per batch or to quarantine its offset. Entries of other topics are ignored. Returns 0,
 * or -1 when Redis stayed away through a shutdown or memory ran out (the partitions then start without).
 */
int andon_quar_assign(andon_quar_t *q, const rd_kafka_topic_partition_list_t *parts,
		      const volatile sig_atomic_t *run, int64_t deadline_us);

/**
 * Partitions revoked (the worker lets go of them alive, so it did not die with anything in flight): their
 * batch records are removed, or, for a found range not passed yet, what is left of it is put back with the
 * count it was read with. lost (the group took them away; another worker may own them already): Redis is
 * not touched. Returns 0, or -1 when Redis stayed away.
 */
int andon_quar_revoke(andon_quar_t *q, const rd_kafka_topic_partition_list_t *parts, int lost,
		      const volatile sig_atomic_t *run, int64_t deadline_us);

/** 1 when the message at partition/offset must be processed in a batch of its own (a found range). */
int andon_quar_alone(const andon_quar_t *q, int32_t partition, int64_t offset);

/**
 * Records the offsets of msgs[0..n) (messages with an error are skipped) as in flight, and the batches
 * before as done, in one round trip (an HSET and an HDEL). Call before anything of the batch is decoded.
 * Returns 0, or -1 when Redis stayed away through a shutdown (the batch must then not be processed).
 */
int andon_quar_begin(andon_quar_t *q, rd_kafka_message_t *const *msgs, size_t n,
		     const volatile sig_atomic_t *run, int64_t deadline_us);

/** 1 with a note for the DLQ record when the message at partition/offset is quarantined, else 0. */
int andon_quar_poisoned(const andon_quar_t *q, int32_t partition, int64_t offset, char *note, size_t size);

/** Nothing is being processed (the periodic hook): removes the last batch's records, one round trip. */
void andon_quar_clear(andon_quar_t *q, const volatile sig_atomic_t *run, int64_t deadline_us);

/*
 * The decisions without Redis, for the functions above and unit tests.
 */

/** What assignment does with one partition's record: value NULL (or len 0) when there was none. */
int andon_quar_found(andon_quar_t *q, int32_t partition, const char *value, size_t len);

/**
 * The record of a batch of batch messages holding offsets lo..hi of partition: fills rec (seen inherited
 * from a found range that contains lo..hi, else 0) and notes it as the partition's record in Redis. 0, or
 * -1 out of memory.
 */
int andon_quar_range(andon_quar_t *q, int32_t partition, int64_t lo, int64_t hi, size_t batch,
		     andon_quar_rec_t *rec);

/**
 * The partition's batch record is done with: 0 when it has none in Redis; 1 when it is to be deleted; 2
 * when put_back is to be written in its place (the rest of a found range not passed yet).
 */
int andon_quar_done(andon_quar_t *q, int32_t partition, andon_quar_rec_t *put_back);

/** 1 while a found range of the partition governs it (until a batch past the range begins). */
int andon_quar_careful(const andon_quar_t *q, int32_t partition);

#endif
