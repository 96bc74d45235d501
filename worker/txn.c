/* txn: the transactional producer around each batch: begin, note what was consumed, commit or abort. */
#include "txn.h"

#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct andon_txn {
	rd_kafka_t *producer, *consumer;
	int open;
	int doomed;				     /* a delivery failed: abort is all that is left */
	int64_t began_us;			     /* when the open transaction began */
	rd_kafka_consumer_group_metadata_t *cgmd;    /* the generation the open transaction consumed in */
	rd_kafka_topic_partition_list_t *first;	     /* per partition, the first offset consumed into it */
	unsigned long long commits, aborts, retries; /* since start */
};

void andon_txn_id(const andon_config_t *cfg, const char *group, char *buf, size_t size)
{
	char host[256];

	if (cfg->transactional_id[0] != '\0') {
		snprintf(buf, size, "%s", cfg->transactional_id);
		return;
	}
	if (cfg->instance_id[0] != '\0') {
		snprintf(buf, size, "%s-%s", group, cfg->instance_id);
		return;
	}
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(buf, size, "%s-%s-%ld", group, host, (long)getpid());
}

static void pause_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

int andon_txn_init(rd_kafka_t *producer, const volatile sig_atomic_t *run, char *errstr, size_t errstr_size)
{
	int64_t next_warn = andon_now_us() + 5000000;

	while (*run) {
		rd_kafka_error_t *e = rd_kafka_init_transactions(producer, 5000);
		rd_kafka_resp_err_t code;

		if (e == NULL)
			return 1;
		code = rd_kafka_error_code(e);
		if (code == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE) {
			rd_kafka_error_destroy(e);
			return 0;
		}
		if (rd_kafka_error_is_fatal(e) || !rd_kafka_error_is_retriable(e)) {
			andon_fail(errstr, errstr_size, "initializing transactions: %s",
				   rd_kafka_error_string(e));
			rd_kafka_error_destroy(e);
			return -1;
		}
		/* A coordinator that never becomes available is usually a transaction log the cluster cannot
		 * place: its replication factor (default 3) and min.isr (2) must fit the cluster. */
		if (andon_now_us() >= next_warn) {
			andon_warn("waiting for the transaction coordinator: %s (the cluster needs "
				   "transaction.state.log.replication.factor and .min.isr it can meet)",
				   rd_kafka_error_string(e));
			next_warn = andon_now_us() + 5000000;
		}
		rd_kafka_error_destroy(e);
		pause_ms(100);
	}
	andon_fail(errstr, errstr_size, "stopped while waiting for the transaction coordinator");
	return -1;
}

andon_txn_t *andon_txn_new(rd_kafka_t *producer, rd_kafka_t *consumer)
{
	andon_txn_t *t = calloc(1, sizeof(*t));

	if (t == NULL || (t->first = rd_kafka_topic_partition_list_new(8)) == NULL) {
		free(t);
		return NULL;
	}
	t->producer = producer;
	t->consumer = consumer;
	return t;
}

/* The open transaction is over, one way or the other. */
static void closed(andon_txn_t *t)
{
	t->open = 0;
	t->doomed = 0;
	if (t->cgmd != NULL)
		rd_kafka_consumer_group_metadata_destroy(t->cgmd);
	t->cgmd = NULL;
	rd_kafka_topic_partition_list_destroy(t->first);
	t->first = rd_kafka_topic_partition_list_new(8);
}

void andon_txn_destroy(andon_txn_t *t)
{
	rd_kafka_error_t *e;

	if (t == NULL)
		return;
	if (t->open && (e = rd_kafka_abort_transaction(t->producer, 5000)) != NULL) {
		andon_warn("aborting the last transaction at exit: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	}
	closed(t);
	if (t->first != NULL)
		rd_kafka_topic_partition_list_destroy(t->first);
	free(t);
}

int andon_txn_begin(andon_txn_t *t)
{
	rd_kafka_error_t *e;

	if (t->open)
		return 0;
	if (t->first == NULL) {
		andon_err("out of memory for a transaction");
		return -1;
	}
	if ((e = rd_kafka_begin_transaction(t->producer)) != NULL) {
		andon_err("beginning a transaction: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
		return -1;
	}
	t->open = 1;
	t->began_us = andon_now_us();
	return 0;
}

int andon_txn_consumed(andon_txn_t *t, rd_kafka_message_t *const *msgs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const rd_kafka_message_t *m = msgs[i];
		const char *topic;

		if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
			continue;
		topic = rd_kafka_topic_name(m->rkt);
		/* Consumption order is offset order within a partition: the first one seen is the lowest. */
		if (rd_kafka_topic_partition_list_find(t->first, topic, m->partition) == NULL)
			rd_kafka_topic_partition_list_add(t->first, topic, m->partition)->offset = m->offset;
		if (t->cgmd == NULL && (t->cgmd = rd_kafka_consumer_group_metadata(t->consumer)) == NULL) {
			andon_err("no consumer group metadata for a transaction");
			t->doomed = 1;
			return -1;
		}
	}
	return 0;
}

void andon_txn_fail(andon_txn_t *t, rd_kafka_resp_err_t err)
{
	if (!t->open)
		return;
	if (!t->doomed)
		andon_warn("transaction cannot commit: %s", rd_kafka_err2str(err));
	t->doomed = 1;
}

int andon_txn_open(const andon_txn_t *t)
{
	return t->open;
}

int64_t andon_txn_age_us(const andon_txn_t *t)
{
	return t->open ? andon_now_us() - t->began_us : 0;
}

int andon_txn_doomed(const andon_txn_t *t)
{
	return t->open && t->doomed;
}

/* The consumer reads the aborted batch again from its first offsets. A partition taken away meanwhile is
 * not ours to rewind: its next owner starts from the committed offset anyway. */
static void rewind_consumer(andon_txn_t *t)
{
	rd_kafka_error_t *e;

	if (t->first == NULL || t->first->cnt == 0)
		return;
	if ((e = rd_kafka_seek_partitions(t->consumer, t->first, 5000)) != NULL) {
		andon_warn("rewinding the consumer: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
		return;
	}
	for (int i = 0; i < t->first->cnt; i++) {
		const rd_kafka_topic_partition_t *p = &t->first->elems[i];

		if (p->err != RD_KAFKA_RESP_ERR_NO_ERROR)
			andon_info("not rewinding %s [%d]: %s", p->topic, (int)p->partition,
				   rd_kafka_err2str(p->err));
	}
}

static int fatal(andon_txn_t *t, const char *what, rd_kafka_error_t *e)
{
	andon_err("%s: %s%s", what, rd_kafka_error_string(e),
		  rd_kafka_error_is_fatal(e) ? " (fenced or failed for good: exiting)" : "");
	rd_kafka_error_destroy(e);
	closed(t);
	return ANDON_TXN_FATAL;
}

int andon_txn_abort(andon_txn_t *t, const char *why, int64_t deadline_us)
{
	rd_kafka_error_t *e;

	if (!t->open)
		return ANDON_TXN_ABORTED;
	andon_warn("aborting a transaction (%s); %d partition(s) are consumed again from its first offsets",
		   why, t->first != NULL ? t->first->cnt : 0);
	while ((e = rd_kafka_abort_transaction(t->producer, -1)) != NULL) {
		if (rd_kafka_error_is_fatal(e) || !rd_kafka_error_is_retriable(e) ||
		    andon_now_us() >= deadline_us)
			return fatal(t, "aborting a transaction", e);
		andon_warn("aborting a transaction: %s; trying again", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
		pause_ms(100);
	}
	rewind_consumer(t);
	closed(t);
	t->aborts++;
	return ANDON_TXN_ABORTED;
}

/* An error from send_offsets or commit: 1 to try again, else what the transaction came to. */
static int failed(andon_txn_t *t, const char *what, rd_kafka_error_t *e, int64_t deadline_us, int *rc)
{
	char why[512];

	if (rd_kafka_error_is_fatal(e) ||
	    (!rd_kafka_error_txn_requires_abort(e) && !rd_kafka_error_is_retriable(e))) {
		*rc = fatal(t, what, e);
		return 0;
	}
	if (!rd_kafka_error_txn_requires_abort(e) && andon_now_us() < deadline_us) {
		andon_warn("%s: %s; trying again", what, rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
		t->retries++;
		pause_ms(50);
		return 1;
	}
	snprintf(why, sizeof(why), "%s: %s", what, rd_kafka_error_string(e));
	rd_kafka_error_destroy(e);
	*rc = andon_txn_abort(t, why, deadline_us);
	return 0;
}

int andon_txn_commit(andon_txn_t *t, const rd_kafka_topic_partition_list_t *offsets, int64_t deadline_us)
{
	rd_kafka_error_t *e;
	int rc = ANDON_TXN_COMMITTED;
	int64_t t0 = andon_now_us(), t1;

	if (!t->open)
		return ANDON_TXN_COMMITTED;
	/* The offsets go while the outputs are still on their way (the commit waits for them): one round
	 * trip less per transaction. Reports already in tell of a failed delivery at once. */
	rd_kafka_poll(t->producer, 0);
	if (t->doomed)
		return andon_txn_abort(t, "a message could not be delivered", deadline_us);
	if (offsets != NULL && offsets->cnt > 0) {
		if (t->cgmd == NULL)
			return andon_txn_abort(t, "offsets without consumer group metadata", deadline_us);
		/* Retried with the same offsets and metadata, as librdkafka asks. */
		for (;;) {
			int64_t left_ms = (deadline_us - andon_now_us()) / 1000;

			e = rd_kafka_send_offsets_to_transaction(t->producer, offsets, t->cgmd,
								 left_ms > 1000 ? (int)left_ms : 1000);
			if (e == NULL)
				break;
			if (!failed(t, "sending offsets to the transaction", e, deadline_us, &rc))
				return rc;
		}
	}
	t1 = andon_now_us();
	/* -1: the transaction's remaining time, as librdkafka recommends. */
	while ((e = rd_kafka_commit_transaction(t->producer, -1)) != NULL)
		if (!failed(t, "committing a transaction", e, deadline_us, &rc))
			return rc;
	andon_debug(
	    "transaction committed: open %lld us, offsets %lld us, commit (outputs delivered) %lld us",
	    (long long)(t0 - t->began_us), (long long)(t1 - t0), (long long)(andon_now_us() - t1));
	closed(t);
	t->commits++;
	return ANDON_TXN_COMMITTED;
}

unsigned long long andon_txn_commits(const andon_txn_t *t)
{
	return t != NULL ? t->commits : 0;
}

unsigned long long andon_txn_aborts(const andon_txn_t *t)
{
	return t != NULL ? t->aborts : 0;
}
