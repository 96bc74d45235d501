/*
 * txn: exactly-once outputs. With worker.exactly_once the worker's producer is transactional: everything a
 * batch of requests caused (replies, events, callback and decision messages, SWF hand-offs to the request
 * topic, DLQ records) and the batch's next offsets, sent with the consumer group's metadata (KIP-447), are
 * committed in one Kafka transaction. A read_committed reader then sees each output once however often a
 * worker dies: a batch whose transaction never commits is consumed again, and the engine's stored answers
 * make it produce the same outputs (docs/PROTOCOL.md, section 8; docs/KAFKA.md, section 2a).
 *
 * One transaction at a time, holding one or more polled batches (worker.transaction_ms): begin (local),
 * consumed (notes where the batches started and the group generation they were consumed in), produce,
 * commit; a rebalance commits what is open before partitions are let go. An abortable failure aborts
 * and rewinds the consumer to the batch's first offsets; a fatal one (fenced by a newer producer with the
 * same transactional.id) leaves the worker nothing but to exit for its supervisor.
 */
#ifndef ANDON_TXN_H
#define ANDON_TXN_H

#include "config.h"

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

typedef struct andon_txn andon_txn_t;

/* What andon_txn_commit() and andon_txn_abort() did. */
enum {
	ANDON_TXN_FATAL = -1,	 /* the producer failed for good (fenced): exit */
	ANDON_TXN_COMMITTED = 0, /* outputs and offsets are in */
	ANDON_TXN_ABORTED = 1,	 /* outputs and offsets are void; the consumer reads the batch again */
};

/**
 * The transactional.id of a worker of consumer group group: worker.transactional_id when set; else
 * "<group>-<worker.instance_id>" (stable across restarts, so a restarted worker aborts what its previous
 * life left open at once); else "<group>-<host>-<pid>" (unique, not stable: an open
 * transaction of a killed worker then holds read_committed readers back until transaction.timeout.ms).
 * Fencing of zombies does not rest on the id: the group generation sent with the offsets does (KIP-447).
 */
void andon_txn_id(const andon_config_t *cfg, const char *group, char *buf, size_t size);

/**
 * rd_kafka_init_transactions() on a producer configured with a transactional.id, retried while the
 * transaction coordinator is not reachable or not ready (a warning every 5 s) until *run drops. Returns 1
 * when transactions are ready; 0 when the cluster does not support them (the producer is unusable then:
 * make a new one without transactional.id); -1 with the reason in errstr.
 */
int andon_txn_init(rd_kafka_t *producer, const volatile sig_atomic_t *run, char *errstr, size_t errstr_size);

/** Transactions of producer (initialized) for the offsets of consumer. NULL when out of memory. */
andon_txn_t *andon_txn_new(rd_kafka_t *producer, rd_kafka_t *consumer);
/** Aborts what is open (the consumer is not rewound) and frees t. t may be NULL. */
void andon_txn_destroy(andon_txn_t *t);

/** Opens a transaction unless one is open. 0, or -1 when the producer failed for good. */
int andon_txn_begin(andon_txn_t *t);

/**
 * msgs[0..n) (those without an error) were consumed into the open transaction: notes each partition's
 * first offset (where an abort rewinds the consumer) and, with the first messages of the transaction, the
 * consumer group's metadata: the generation they were consumed in, which the offsets are committed with,
 * so that a worker that lost its partitions meanwhile cannot commit them. 0, or -1 out of memory.
 */
int andon_txn_consumed(andon_txn_t *t, rd_kafka_message_t *const *msgs, size_t n);

/** A message of the open transaction cannot be delivered: it can only be aborted. No-op when none is open. */
void andon_txn_fail(andon_txn_t *t, rd_kafka_resp_err_t err);

/** 1 while a transaction is open. */
int andon_txn_open(const andon_txn_t *t);
/** Microseconds since the open transaction began (0 when none is open). */
int64_t andon_txn_age_us(const andon_txn_t *t);
/** 1 when the open transaction can only be aborted. */
int andon_txn_doomed(const andon_txn_t *t);

/**
 * Commits the open transaction with offsets (the next offsets to consume; may be empty or NULL): sends
 * them to the transaction with the noted group metadata, then commits, which waits for every produced
 * message (a delivery that fails makes the commit fail as abortable). Retriable
 * errors are retried until deadline_us; an abortable one, or the deadline, aborts (andon_txn_abort()).
 * Returns ANDON_TXN_COMMITTED, ANDON_TXN_ABORTED or ANDON_TXN_FATAL; 0 at once when nothing is open.
 */
int andon_txn_commit(andon_txn_t *t, const rd_kafka_topic_partition_list_t *offsets, int64_t deadline_us);

/**
 * Aborts the open transaction (why is logged) and rewinds the consumer to the first offsets of what was
 * consumed into it. Returns ANDON_TXN_ABORTED, or ANDON_TXN_FATAL when the producer failed for good or the
 * abort did not complete by deadline_us.
 */
int andon_txn_abort(andon_txn_t *t, const char *why, int64_t deadline_us);

/** Transactions committed and aborted since start. */
unsigned long long andon_txn_commits(const andon_txn_t *t);
unsigned long long andon_txn_aborts(const andon_txn_t *t);

#endif
