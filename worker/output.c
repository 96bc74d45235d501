/* output: what the worker produces to Kafka, each message held on its request until the broker acknowledges
 * it; failed deliveries are produced again or dead-lettered, never dropped. With exactly-once (txn.h) a
 * batch's outputs are committed with its offsets instead, and a failed delivery aborts the batch. The
 * answers' Redis outputs ('@timer', '@index'...) are applied here too, before any of that is produced. */
#include "worker_int.h"

#include "log.h"
#include "proto.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * Errors that no retry can fix: the message is too large, the topic is invalid, missing or forbidden.
 * Everything else (timeouts, brokers down, leader changes) is worth producing again.
 */
static int permanent(rd_kafka_resp_err_t err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_INVALID_MSG:
	case RD_KAFKA_RESP_ERR_INVALID_RECORD:
	case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
	case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
	case RD_KAFKA_RESP_ERR__INVALID_ARG:
		return 1;
	default:
		return 0;
	}
}

static void redo_push(andon_worker_t *w, redo_t *r)
{
	r->next = NULL;
	if (w->redo_tail != NULL)
		w->redo_tail->next = r;
	else
		w->redo = r;
	w->redo_tail = r;
}

/* Keeps a copy of a failed message for the main loop to produce again (or dead-letter when dead). */
static void keep_for_redo(andon_worker_t *w, const char *topic, const void *key, size_t key_len,
			  const void *value, size_t len, uint64_t seq, rd_kafka_resp_err_t err)
{
	redo_t *r = calloc(1, sizeof(*r));

	if (r == NULL || (r->topic = strdup(topic)) == NULL || (r->key = malloc(key_len + 1)) == NULL ||
	    (r->value = malloc(len + 1)) == NULL) {
		/* The hold stays: the offset is never stored and the request is consumed again after a
		 * restart. */
		andon_err("out of memory keeping a failed delivery");
		if (r != NULL) {
			free(r->topic);
			free(r->key);
			free(r);
		}
		return;
	}
	memcpy(r->key, key, key_len);
	memcpy(r->value, value, len);
	r->key_len = key_len;
	r->value_len = len;
	r->seq = seq;
	r->err = err;
	redo_push(w, r);
}

/* One more acknowledgement to wait for, on a consumed message or on the timer sweep. Exactly-once waits for
 * none: the commit of the transaction delivers all of a batch's outputs, or none. */
static void hold(andon_worker_t *w, uint64_t seq)
{
	if (w->txn != NULL)
		return;
	if (seq == TIMER_SEQ)
		w->timer_pending++;
	else
		andon_track_hold(w->track, seq, 1);
}

void andon_out_release(andon_worker_t *w, uint64_t seq)
{
	if (seq == TIMER_SEQ)
		w->timer_pending--;
	else
		andon_track_release(w->track, seq);
}

/* The counterpart of hold(): an acknowledgement arrived, or a kept copy took over. */
static void unhold(andon_worker_t *w, uint64_t seq)
{
	if (w->txn == NULL)
		andon_out_release(w, seq);
}

/* A fingerprint of one output (FNV-1a over topic, key and value), for the outputs the broker refused. */
static uint64_t fingerprint(const char *topic, const void *key, size_t key_len, const void *value, size_t len)
{
	const unsigned char *parts[3] = {(const unsigned char *)topic, key, value};
	size_t lens[3] = {strlen(topic) + 1, key_len, len};
	uint64_t h = 14695981039346656037ULL;

	for (int p = 0; p < 3; p++)
		for (size_t i = 0; i < lens[p]; i++)
			h = (h ^ parts[p][i]) * 1099511628211ULL;
	return h;
}

/* Why the broker refused this output before, or 0. */
static rd_kafka_resp_err_t was_refused(const andon_worker_t *w, uint64_t fp)
{
	for (size_t i = 0; i < sizeof(w->refused) / sizeof(w->refused[0]); i++)
		if (w->refused[i].fp == fp && w->refused[i].err != RD_KAFKA_RESP_ERR_NO_ERROR)
			return w->refused[i].err;
	return RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* Delivery report: one acknowledgement for the consumed message the produced one belongs to. */
void andon_out_delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	andon_worker_t *w = opaque;
	uint64_t seq = (uint64_t)(uintptr_t)m->_private;
	rd_kafka_resp_err_t err = m->err;

	(void)rk;
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		unhold(w, seq);
		return;
	}
	if (w->txn != NULL) {
		/* The transaction holding it can only be aborted; the batch is consumed again and produces it
		 * again, as a DLQ record when no retry can deliver it. (After an abort, purged messages
		 * report here too: no transaction is open then.) */
		if (permanent(err) && andon_txn_open(w->txn)) {
			unsigned i = w->refused_next++ % (sizeof(w->refused) / sizeof(w->refused[0]));

			w->refused[i].fp =
			    fingerprint(rd_kafka_topic_name(m->rkt), m->key, m->key_len, m->payload, m->len);
			w->refused[i].err = err;
			andon_warn("delivery to %s failed: %s", rd_kafka_topic_name(m->rkt),
				   rd_kafka_err2str(err));
		}
		andon_txn_fail(w->txn, err);
		return;
	}
	/* Never drop an answer: produce it again, or dead-letter it when no retry can help. The failed
	 * delivery keeps its hold until then, so the offset waits. */
	andon_warn("delivery to %s failed: %s", rd_kafka_topic_name(m->rkt), rd_kafka_err2str(err));
	if ((err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC || err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) &&
	    andon_topics_forget(w->topics, rd_kafka_topic_name(m->rkt)))
		err = RD_KAFKA_RESP_ERR__RETRY; /* one of ours: created again, then produced again */
	keep_for_redo(w, rd_kafka_topic_name(m->rkt), m->key, m->key_len, m->payload, m->len, seq, err);
}

/*
 * Produces a DLQ record for the message value[0..len) that came from (or was going to) topic. The original
 * is cut to dlq_original_max so the record itself fits in Kafka; the reason then says so. The record is
 * built in sb_dead, never in sb, because value may be sb's own content.
 */
void andon_out_dead_letter(andon_worker_t *w, const char *code, const char *why, const char *topic,
			   int32_t partition, int64_t offset, int64_t ts, const void *key, size_t key_len,
			   const void *value, size_t len, uint64_t seq)
{
	size_t keep = len < w->dlq_original_max ? len : w->dlq_original_max;
	char reason[640];

	snprintf(reason, sizeof(reason), "%s%s", why, keep < len ? " (original truncated)" : "");
	andon_proto_dlq(&w->sb_dead, code, reason, topic, partition, offset, ts, key, key_len, value, keep);
	andon_out_produce(w, w->cfg->topic_dlq, key, key_len, w->sb_dead.data, w->sb_dead.size, seq);
	w->dlq++;
	andon_stats_dead_letter(w->stats, code);
}

/*
 * A message that can never reach its topic goes to the DLQ with the reason. Only a DLQ record that cannot
 * be delivered is given up, loudly: keeping its hold would stop every partition's offsets for good.
 */
static void undeliverable(andon_worker_t *w, const char *topic, const void *key, size_t key_len,
			  const void *value, size_t len, uint64_t seq, rd_kafka_resp_err_t err)
{
	char why[512];

	if (strcmp(topic, w->cfg->topic_dlq) == 0) {
		andon_err("dead-letter record of %zu bytes cannot be delivered (%s); giving it up", len,
			  rd_kafka_err2str(err));
		w->lost++;
		return;
	}
	snprintf(why, sizeof(why), "could not deliver %zu bytes to %s: %s", len, topic,
		 rd_kafka_err2str(err));
	andon_out_dead_letter(w, "UndeliverableMessage", why, topic, -1, -1, -1, key, key_len, value, len,
			      seq);
}

/* Produces a copy of value for consumed message seq; waits for queue space rather than dropping. */
void andon_out_produce(andon_worker_t *w, const char *topic, const void *key, size_t key_len,
		       const void *value, size_t len, uint64_t seq)
{
	rd_kafka_resp_err_t err;
	rd_kafka_headers_t *hdrs = NULL;
	const andon_creds_t *self;
	char why[256];

	switch (andon_topics_state(w->topics, topic, &err)) {
	case ANDON_TOPIC_PENDING: /* being created: wait for it, and so does the offset */
		hold(w, seq);
		keep_for_redo(w, topic, key, key_len, value, len, seq, RD_KAFKA_RESP_ERR__RETRY);
		return;
	case ANDON_TOPIC_FAILED:
		undeliverable(w, topic, key, key_len, value, len, seq, err);
		return;
	case ANDON_TOPIC_READY:
		break;
	}
	if (w->txn != NULL && (err = was_refused(w, fingerprint(topic, key, key_len, value, len))) != 0) {
		undeliverable(w, topic, key, key_len, value, len, seq, err);
		return;
	}
	/* A request handed on to the workers ('@requests') is signed with their own key, so workers that
	 * require signatures take it (docs/PROTOCOL.md section 12). */
	if (w->auth != NULL && (self = andon_auth_self(w->auth)) != NULL &&
	    strcmp(topic, w->cfg->topic_requests) == 0 &&
	    ((hdrs = rd_kafka_headers_new(3)) == NULL ||
	     andon_sign_headers(hdrs, self, topic, key, key_len, value, len, time(NULL), why, sizeof(why)) !=
		 0)) {
		andon_warn("cannot sign a request for %s: %s", topic, hdrs == NULL ? "out of memory" : why);
		if (hdrs != NULL)
			rd_kafka_headers_destroy(hdrs);
		hdrs = NULL;
	}
	for (;;) {
		err = rd_kafka_producev(w->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
					RD_KAFKA_V_VALUE((void *)value, len),
					RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
					RD_KAFKA_V_OPAQUE((void *)(uintptr_t)seq), RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		rd_kafka_poll(w->producer, 10);
	}
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR && hdrs != NULL)
		rd_kafka_headers_destroy(hdrs); /* the message owns them only once produced */
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		hold(w, seq);
		return;
	}
	andon_warn("cannot produce to %s: %s", topic, rd_kafka_err2str(err));
	if (permanent(err))
		undeliverable(w, topic, key, key_len, value, len, seq, err);
	else if (w->txn != NULL)
		andon_txn_fail(w->txn,
			       err); /* a transaction in error: aborted, and the batch consumed again */
	else {
		hold(w, seq); /* released when the kept copy is produced again */
		keep_for_redo(w, topic, key, key_len, value, len, seq, err);
	}
}

static void redo_all(andon_worker_t *w)
{
	redo_t *r = w->redo;

	w->redo = w->redo_tail = NULL;
	while (r != NULL) {
		redo_t *next = r->next;

		if (andon_topics_state(w->topics, r->topic, NULL) == ANDON_TOPIC_PENDING) {
			redo_push(w, r); /* its topic is still being created */
			r = next;
			continue;
		}
		if (permanent(r->err))
			undeliverable(w, r->topic, r->key, r->key_len, r->value, r->value_len, r->seq,
				      r->err);
		else
			andon_out_produce(w, r->topic, r->key, r->key_len, r->value, r->value_len, r->seq);
		w->redelivered++;
		/* The failed attempt's hold is handed over to what was just produced. */
		unhold(w, r->seq);
		free(r->topic);
		free(r->key);
		free(r->value);
		free(r);
		r = next;
	}
}

/* Serves delivery reports and stores the offsets of everything finished, in order. */
void andon_out_settle(andon_worker_t *w, int timeout_ms)
{
	rd_kafka_resp_err_t err;

	rd_kafka_poll(w->producer, timeout_ms);
	andon_topics_poll(w->topics);
	if (w->txn != NULL) {
		/* What waited for its topic belongs to the open transaction; offsets go with its commit. */
		if (w->redo != NULL && andon_txn_open(w->txn))
			redo_all(w);
		return;
	}
	if (w->redo != NULL)
		redo_all(w);
	if (andon_track_collect(w->track, w->offsets) == 0)
		return;
	if ((err = rd_kafka_offsets_store(w->consumer, w->offsets)) != RD_KAFKA_RESP_ERR_NO_ERROR)
		andon_warn("storing offsets: %s", rd_kafka_err2str(err));
	rd_kafka_topic_partition_list_destroy(w->offsets);
	w->offsets = rd_kafka_topic_partition_list_new(8);
}

int andon_out_begin(andon_worker_t *w, rd_kafka_message_t *const *msgs, size_t n)
{
	if (w->txn == NULL)
		return 0;
	if (andon_txn_begin(w->txn) != 0) {
		w->fatal = 1;
		return -1;
	}
	if (andon_txn_consumed(w->txn, msgs, n) != 0)
		andon_err("a transaction without its consumer's group metadata: it will be aborted");
	return 0;
}

/* Frees the messages waiting to be produced again (an aborted transaction makes them again; exit). */
void andon_out_redo_clear(andon_worker_t *w)
{
	while (w->redo != NULL) {
		redo_t *next = w->redo->next;

		free(w->redo->topic);
		free(w->redo->key);
		free(w->redo->value);
		free(w->redo);
		w->redo = next;
	}
	w->redo_tail = NULL;
}

int andon_out_commit(andon_worker_t *w, int ok)
{
	int64_t deadline = andon_now_us() + (int64_t)w->cfg->shutdown_timeout_ms * 1000;
	int rc;

	if (w->txn == NULL || !andon_txn_open(w->txn))
		return 0;
	/* Outputs waiting for a topic being created are produced into this transaction first. */
	while (ok && w->redo != NULL && !andon_txn_doomed(w->txn)) {
		if (andon_now_us() >= deadline) {
			andon_warn("topics still being created after %d ms", w->cfg->shutdown_timeout_ms);
			ok = 0;
			break;
		}
		andon_out_settle(w, 10);
	}
	/* Every request whose Redis change is confirmed and whose outputs are produced is finished: its
	 * offset goes with the outputs, all or nothing. */
	andon_track_collect(w->track, w->offsets);
	if (ok)
		rc = andon_txn_commit(w->txn, w->offsets, deadline);
	else
		rc = andon_txn_abort(w->txn, "the batch was not finished", deadline);
	rd_kafka_topic_partition_list_destroy(w->offsets);
	w->offsets = rd_kafka_topic_partition_list_new(8);
	if (rc != ANDON_TXN_COMMITTED) {
		andon_out_redo_clear(w);
		/* The purged messages' reports belong to no transaction now. */
		while (rd_kafka_outq_len(w->producer) > 0 && andon_now_us() < deadline)
			rd_kafka_poll(w->producer, 10);
	}
	if (rc == ANDON_TXN_FATAL)
		w->fatal = 1;
	return rc;
}

int andon_out_commit_due(andon_worker_t *w, int idle)
{
	if (!andon_out_txn_open(w))
		return 0;
	if (idle || andon_txn_age_us(w->txn) >= (int64_t)w->cfg->transaction_ms * 1000 ||
	    andon_track_full(w->track) || andon_txn_doomed(w->txn))
		return andon_out_commit(w, 1);
	return 0;
}

int andon_out_txn_open(const andon_worker_t *w)
{
	return w->txn != NULL && andon_txn_open(w->txn);
}

/* Waits until every message in flight is acknowledged; 0 when drained, -1 when the deadline passed. */
int andon_out_drain(andon_worker_t *w, int64_t deadline_us)
{
	while (andon_track_count(w->track) > w->stuck || w->timer_pending > 0) {
		if (andon_now_us() >= deadline_us)
			return -1;
		andon_out_settle(w, 50);
	}
	return 0;
}

/* Checks the engine's {dup, ok, answer, [to, key, value]...} shape, where answer may be the compact
 * {field...} (answer.h); a malformed one is a script bug. */
int andon_out_answer_ok(const redisReply *r)
{
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 3 || (r->elements - 3) % 3 != 0 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_INTEGER)
		return 0;
	/* A compact answer's fields are an array; the outputs after them are triples either way. */
	for (size_t i = andon_out_compact(r) ? 3 : 2; i < r->elements; i++)
		if (r->element[i]->type != REDIS_REPLY_STRING)
			return 0;
	return 1;
}

int andon_out_compact(const redisReply *r)
{
	return r->element[2]->type == REDIS_REPLY_ARRAY;
}

int andon_out_is(const redisReply *to, const char *s)
{
	return to->len == strlen(s) && memcmp(to->str, s, to->len) == 0;
}

/* Produces one Kafka output of an answer for seq: to "" is the events topic, "@requests" the worker's own
 * request topic, another "@..." a Redis output (already applied), anything else a topic by name. */
static void emit_one(andon_worker_t *w, const char *to, size_t to_len, const char *key, size_t key_len,
		     const char *val, size_t val_len, uint64_t seq)
{
	const char *topic;
	char buf[256];

	if (to_len == 0) {
		topic = w->cfg->topic_events;
		w->events++;
	} else if (to_len == 9 && memcmp(to, "@requests", 9) == 0) {
		topic = w->cfg->topic_requests;
	} else if (to[0] == '@') {
		return; /* a Redis output, already applied */
	} else if (to_len < sizeof(buf)) {
		memcpy(buf, to, to_len);
		buf[to_len] = '\0';
		topic = buf;
		/* A pipeline's or domain's topic: created if new, and produce() waits for it. */
		andon_topics_want(w->topics, topic);
	} else {
		/* Adapters only accept legal topic names (249 bytes), so this is an engine bug: the message
		 * is kept in the DLQ rather than sent to a cut name. */
		undeliverable(w, "(topic name over 255 bytes)", key, key_len, val, val_len, seq,
			      RD_KAFKA_RESP_ERR__INVALID_ARG);
		return;
	}
	andon_out_produce(w, topic, key, key_len, val, val_len, seq);
}

/* Produces the Kafka outputs of engine answer r (00-core.lua, OUT) on behalf of seq; the Redis ones were
 * applied by andon_worker_post_write(). */
void andon_out_emit(andon_worker_t *w, const redisReply *r, uint64_t seq)
{
	for (size_t i = 3; i + 2 < r->elements; i += 3) {
		const redisReply *to = r->element[i], *key = r->element[i + 1], *val = r->element[i + 2];

		emit_one(w, to->str, to->len, key->str, key->len, val->str, val->len, seq);
	}
}

void andon_out_emit_built(andon_worker_t *w, const andon_built_t *b, uint64_t seq)
{
	for (int i = 0; i < b->nout; i++) {
		const andon_built_out_t *o = &b->out[i];

		emit_one(w, andon_built_at(b, o->to_off), o->to_len, andon_built_at(b, o->key_off),
			 o->key_len, andon_built_at(b, o->off), o->len, seq);
	}
}

/* ---- Redis outputs ---- */

/* Room for n post-write commands. */
static int post_room(andon_worker_t *w, size_t n)
{
	andon_call_t *c;
	redisReply **r;
	size_t cap = w->post_cap;

	if (n <= cap)
		return 0;
	while (cap < n)
		cap = cap ? cap * 2 : 64;
	if ((c = realloc(w->post, cap * sizeof(*c))) != NULL)
		w->post = c;
	if ((r = realloc(w->post_replies, cap * sizeof(*r))) != NULL)
		w->post_replies = r;
	if (c == NULL || r == NULL)
		return -1;
	w->post_cap = cap;
	return 0;
}

/*
 * Applies the Redis outputs of answers[0..n) ('@timer': ZADD NX to the member's timer shard, '@index': SET
 * KEEPTTL, '@owed': ZADD NX to the owed set, '@answered': ZREM from it, '@expire': EXPIRE, '@listed':
 * andon_ix_put) in one pipeline, before
 * anything they relate to is produced. Returns 0, or -1 when Redis stayed away through a shutdown. Nothing is
 * acknowledged before this is done, so a replay re-applies them after a crash.
 */
int andon_worker_post_write(andon_worker_t *w, redisReply **answers, size_t n)
{
	size_t np = 0;
	int rc;

	for (size_t i = 0; i < n; i++) {
		const redisReply *r = answers[i];

		if (!andon_out_answer_ok(r))
			continue;
		for (size_t k = 3; k + 2 < r->elements; k += 3) {
			const redisReply *to = r->element[k], *key = r->element[k + 1],
					 *val = r->element[k + 2];
			andon_call_t *c;

			if (to->len == 0 || to->str[0] != '@' || andon_out_is(to, "@requests"))
				continue;
			if (post_room(w, np + 1) != 0) {
				andon_err("out of memory for %zu post-writes", np + 1);
				return -1;
			}
			c = &w->post[np++];
			if (andon_out_is(to, "@timer") || andon_out_is(to, "@owed")) {
				const char *set =
				    to->str[1] == 't' ? andon_timers_key(w, key->str, key->len) : OWED_KEY;

				andon_call_command(c, "ZADD");
				andon_call_arg(c, set, strlen(set));
				andon_call_arg(c, "NX", 2);
				andon_call_arg(c, val->str, val->len);
				andon_call_arg(c, key->str, key->len);
			} else if (andon_out_is(to, "@expire")) {
				andon_call_command(c, "EXPIRE");
				andon_call_arg(c, key->str, key->len);
				andon_call_arg(c, val->str, val->len);
			} else if (andon_out_is(to, "@listed")) {
				/* The parent's List index, in the parent's slot (docs/REDIS.md, section 13).
				 */
				andon_call_begin(c, "andon_ix_put");
				andon_call_key(c, &w->arena, key->str, key->len, "ix");
				andon_call_key(c, &w->arena, key->str, key->len, "ixs");
				andon_call_arg(c, val->str, val->len);
			} else if (andon_out_is(to, "@answered")) {
				andon_call_command(c, "ZREM");
				andon_call_arg(c, OWED_KEY, strlen(OWED_KEY));
				andon_call_arg(c, key->str, key->len);
			} else {
				/* KEEPTTL: a replay of the output that made it never lifts the expiry its
				 * execution's close gave it (docs/REDIS.md, Lifetime). */
				andon_call_command(c, "SET");
				andon_call_arg(c, key->str, key->len);
				andon_call_arg(c, val->str, val->len);
				andon_call_arg(c, "KEEPTTL", 7);
			}
		}
	}
	if (np == 0)
		return 0;
	rc = andon_engine_exec(w->engine, w->post, np, w->post_replies, w->run,
			       andon_now_us() + (int64_t)w->cfg->shutdown_timeout_ms * 1000);
	for (size_t i = 0; i < np; i++) {
		/* Only a '@listed' builds keys here: a full arena leaves that List index one change behind.
		 */
		if (w->post[i].overflow)
			andon_err("post-write %.*s skipped: the batch arena is full",
				  (int)w->post[i].argvlen[1], w->post[i].argv[1]);
		if (w->post_replies[i] != NULL && w->post_replies[i]->type == REDIS_REPLY_ERROR)
			andon_err("post-write %.*s failed: %s", (int)w->post[i].argvlen[0],
				  w->post[i].argv[0], w->post_replies[i]->str);
		freeReplyObject(w->post_replies[i]);
		w->post_replies[i] = NULL;
	}
	return rc;
}
