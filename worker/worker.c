/* worker: the daemon's main loop: poll a batch, pipeline it to Redis, answer on Kafka, store offsets. */
#include "worker.h"

#include "codec.h"
#include "engine.h"
#include "kafka.h"
#include "log.h"
#include "ops.h"
#include "proto.h"
#include "topics.h"
#include "track.h"
#include "util.h"

#include <librdkafka/rdkafka.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* What became of one consumed message. */
enum job_kind {
	JOB_CALL,  /* valid request: its answer comes from the engine */
	JOB_ERROR, /* rejected before Redis: error reply (+ DLQ when the input itself is bad) */
	JOB_DLQ,   /* nobody to answer (no id): DLQ record only */
};

typedef struct job {
	rd_kafka_message_t *msg;
	uint64_t seq; /* tracker sequence, the opaque of what is produced for it */
	enum job_kind kind;
	andon_req_t req;
	andon_apierr_t err;
	int call; /* index into w->calls for JOB_CALL */
	char account[65];
} job_t;

/* A message whose delivery failed for good, produced again from the main loop. */
typedef struct redo {
	struct redo *next;
	char *topic;
	void *key, *value;
	size_t key_len, value_len;
	uint64_t seq;
	rd_kafka_resp_err_t err; /* why it failed */
} redo_t;

struct andon_worker {
	const andon_config_t *cfg;
	const volatile sig_atomic_t *run;
	rd_kafka_t *consumer, *producer;
	rd_kafka_queue_t *queue;
	andon_engine_t *engine;
	andon_track_t *track;
	andon_topics_t *topics;

	/* Per-batch state, allocated once. */
	rd_kafka_message_t **msgs;
	job_t *jobs;
	andon_call_t *calls;
	redisReply **replies;
	/* Second pipeline of a chunk: the calls built from lookups (andon_resolve_fn). */
	andon_call_t *rcalls;
	redisReply **rreplies, **rkeep; /* rkeep: the lookups' replies, which rcalls point into */
	int *rcall;			/* index into calls/replies the resolved call replaces */
	andon_arena_t arena;
	msgpack_zone zone;
	msgpack_sbuffer sb;	 /* the reply or DLQ record being produced */
	msgpack_sbuffer sb_dead; /* DLQ records (built while sb may hold the message being dead-lettered) */
	rd_kafka_topic_partition_list_t *offsets;

	redo_t *redo, *redo_tail; /* first in, first produced again */

	/* Post-writes: the '@timer' and '@index' outputs of a chunk's calls, applied before producing. */
	andon_call_t *post;
	redisReply **post_replies;
	size_t post_cap;

	/* Timer sweep: what the last sweep fired, removed from the timer set once all of it is acknowledged.
	 */
	redisReply *fired;	/* the claim's reply: members */
	const char **done_argv; /* ZREM andon:timers member... */
	size_t *done_len, done_argc;
	unsigned long timer_pending; /* messages produced by the sweep, not yet acknowledged */

	int fatal;
	int zone_ok;
	size_t stuck; /* messages of a batch Redis never answered at shutdown: never acknowledged */
	size_t
	    dlq_original_max; /* bytes of an original a DLQ record keeps, so the record fits the producer */

	/* Statistics since start. */
	unsigned long long consumed, answered, dlq, events, redelivered, lost, batches, timers;
	int64_t next_stats_us, next_tick_us;
};

static void kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	andon_worker_t *w = opaque;
	char fatal[512];

	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
		andon_err("kafka fatal error: %s", fatal);
		w->fatal = 1;
		return;
	}
	/* Broker and transport errors: librdkafka reconnects and retries by itself. */
	andon_warn("kafka: %s: %s", rd_kafka_err2name(err), reason);
}

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

/* The opaque of what the timer sweep produces: it belongs to no consumed message. (UINT64_MAX is the
 * tracker's "full".) */
#define TIMER_SEQ (UINT64_MAX - 1)

#define TIMERS_KEY "andon:timers"

/* One more acknowledgement to wait for, on a consumed message or on the timer sweep. */
static void hold(andon_worker_t *w, uint64_t seq)
{
	if (seq == TIMER_SEQ)
		w->timer_pending++;
	else
		andon_track_hold(w->track, seq, 1);
}

static void release(andon_worker_t *w, uint64_t seq)
{
	if (seq == TIMER_SEQ)
		w->timer_pending--;
	else
		andon_track_release(w->track, seq);
}

/* Delivery report: one acknowledgement for the consumed message the produced one belongs to. */
static void delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	andon_worker_t *w = opaque;
	uint64_t seq = (uint64_t)(uintptr_t)m->_private;
	rd_kafka_resp_err_t err = m->err;

	(void)rk;
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		release(w, seq);
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

static void produce(andon_worker_t *w, const char *topic, const void *key, size_t key_len, const void *value,
		    size_t len, uint64_t seq);

/*
 * Produces a DLQ record for the message value[0..len) that came from (or was going to) topic. The original
 * is cut to dlq_original_max so the record itself fits in Kafka; the reason then says so. The record is
 * built in sb_dead, never in sb, because value may be sb's own content.
 */
static void dead_letter(andon_worker_t *w, const char *code, const char *why, const char *topic,
			int32_t partition, int64_t offset, const void *key, size_t key_len, const void *value,
			size_t len, uint64_t seq)
{
	size_t keep = len < w->dlq_original_max ? len : w->dlq_original_max;
	char reason[640];

	snprintf(reason, sizeof(reason), "%s%s", why, keep < len ? " (original truncated)" : "");
	andon_proto_dlq(&w->sb_dead, code, reason, topic, partition, offset, key, key_len, value, keep);
	produce(w, w->cfg->topic_dlq, key, key_len, w->sb_dead.data, w->sb_dead.size, seq);
	w->dlq++;
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
	dead_letter(w, "UndeliverableMessage", why, topic, -1, -1, key, key_len, value, len, seq);
}

/* Produces a copy of value for consumed message seq; waits for queue space rather than dropping. */
static void produce(andon_worker_t *w, const char *topic, const void *key, size_t key_len, const void *value,
		    size_t len, uint64_t seq)
{
	rd_kafka_resp_err_t err;

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
	for (;;) {
		err = rd_kafka_producev(w->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
					RD_KAFKA_V_VALUE((void *)value, len),
					RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					RD_KAFKA_V_OPAQUE((void *)(uintptr_t)seq), RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		rd_kafka_poll(w->producer, 10);
	}
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		hold(w, seq);
		return;
	}
	andon_warn("cannot produce to %s: %s", topic, rd_kafka_err2str(err));
	if (permanent(err))
		undeliverable(w, topic, key, key_len, value, len, seq, err);
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
			produce(w, r->topic, r->key, r->key_len, r->value, r->value_len, r->seq);
		w->redelivered++;
		/* The failed attempt's hold is handed over to what was just produced. */
		release(w, r->seq);
		free(r->topic);
		free(r->key);
		free(r->value);
		free(r);
		r = next;
	}
}

/* Serves delivery reports and stores the offsets of everything finished, in order. */
static void settle(andon_worker_t *w, int timeout_ms)
{
	rd_kafka_resp_err_t err;

	rd_kafka_poll(w->producer, timeout_ms);
	andon_topics_poll(w->topics);
	if (w->redo != NULL)
		redo_all(w);
	if (andon_track_collect(w->track, w->offsets) == 0)
		return;
	if ((err = rd_kafka_offsets_store(w->consumer, w->offsets)) != RD_KAFKA_RESP_ERR_NO_ERROR)
		andon_warn("storing offsets: %s", rd_kafka_err2str(err));
	rd_kafka_topic_partition_list_destroy(w->offsets);
	w->offsets = rd_kafka_topic_partition_list_new(8);
}

/* Waits until every message in flight is acknowledged; 0 when drained, -1 when the deadline passed. */
static int drain(andon_worker_t *w, int64_t deadline_us)
{
	while (andon_track_count(w->track) > w->stuck || w->timer_pending > 0) {
		if (andon_now_us() >= deadline_us)
			return -1;
		settle(w, 50);
	}
	return 0;
}

static void rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
		      void *opaque)
{
	andon_worker_t *w = opaque;
	int cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
	rd_kafka_error_t *e = NULL;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		andon_info("assigned %d partition(s)", parts->cnt);
		if (cooperative)
			e = rd_kafka_incremental_assign(rk, parts);
		else
			rd_kafka_assign(rk, parts);
	} else {
		/* Finish what was taken from these partitions so the next owner starts after it. */
		andon_info("revoked %d partition(s); draining %zu in flight", parts->cnt,
			   andon_track_count(w->track));
		if (drain(w, andon_now_us() + (int64_t)w->cfg->shutdown_timeout_ms * 1000) != 0)
			andon_warn("revoke: %zu message(s) still unacknowledged; they will be consumed again",
				   andon_track_count(w->track));
		rd_kafka_commit(rk, NULL, 0);
		if (cooperative)
			e = rd_kafka_incremental_unassign(rk, parts);
		else
			rd_kafka_assign(rk, NULL);
	}
	if (e != NULL) {
		andon_err("rebalance: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	}
}

/* Applies the worker's defaults, then the user's kafka.* settings, which win. */
static rd_kafka_conf_t *kafka_conf(andon_worker_t *w, const char *const *defaults, char *errstr,
				   size_t errstr_size)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	for (const char *const *d = defaults; *d != NULL; d++)
		if (andon_kafka_conf_kv(conf, *d, errstr, errstr_size) != 0)
			goto err;
	for (size_t i = 0; i < w->cfg->kafka_count; i++)
		if (andon_kafka_conf_kv(conf, w->cfg->kafka[i], errstr, errstr_size) != 0)
			goto err;
	rd_kafka_conf_set_opaque(conf, w);
	rd_kafka_conf_set_log_cb(conf, andon_kafka_log_cb);
	rd_kafka_conf_set_error_cb(conf, kafka_error);
	return conf;
err:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

/* The part of an original a DLQ record can carry: within max_message_bytes and, with 2 KiB left for
 * the record's other fields, within the producer's message.max.bytes. */
static size_t dlq_original_max(const andon_config_t *cfg, const rd_kafka_conf_t *conf)
{
	char buf[32];
	size_t size = sizeof(buf), max = (size_t)cfg->max_message_bytes;
	long long producer_max;

	if (rd_kafka_conf_get(conf, "message.max.bytes", buf, &size) == RD_KAFKA_CONF_OK &&
	    andon_parse_ll(buf, 4096, LLONG_MAX, &producer_max) == 0 && (size_t)producer_max - 2048 < max)
		max = (size_t)producer_max - 2048;
	return max;
}

/* Room for the keys of a whole batch of ordinary requests, and for one request of the largest size. */
static size_t arena_size(const andon_config_t *cfg)
{
	size_t batch = (size_t)cfg->batch_size * 4096, largest = 4 * (size_t)cfg->max_message_bytes + 65536;

	return batch > largest ? batch : largest;
}

andon_worker_t *andon_worker_new(const andon_config_t *cfg, const volatile sig_atomic_t *run, char *errstr,
				 size_t errstr_size)
{
	/* A broker back from a restart is found within a second, not after librdkafka's backoff of up to
	 * 10 s between attempts. */
	static const char *const consumer_defaults[] = {"group.id=andon-worker",
							"enable.auto.offset.store=false",
							"auto.offset.reset=earliest",
							"enable.partition.eof=false",
							"auto.commit.interval.ms=1000",
							"reconnect.backoff.max.ms=1000",
							NULL};
	static const char *const producer_defaults[] = {"enable.idempotence=true", "linger.ms=2",
							"reconnect.backoff.max.ms=1000", NULL};
	const char *const own_topics[] = {cfg->topic_requests, cfg->topic_replies, cfg->topic_events,
					  cfg->topic_dlq};
	andon_worker_t *w = calloc(1, sizeof(*w));
	rd_kafka_conf_t *conf = NULL;
	rd_kafka_topic_partition_list_t *topics;
	rd_kafka_resp_err_t err;
	size_t n;

	if (w == NULL) {
		andon_fail(errstr, errstr_size, "out of memory");
		return NULL;
	}
	w->cfg = cfg;
	w->run = run;
	n = (size_t)cfg->batch_size;
	w->msgs = calloc(n, sizeof(*w->msgs));
	w->jobs = calloc(n, sizeof(*w->jobs));
	w->calls = calloc(n, sizeof(*w->calls));
	w->replies = calloc(n, sizeof(*w->replies));
	w->rcalls = calloc(n, sizeof(*w->rcalls));
	w->rreplies = calloc(n, sizeof(*w->rreplies));
	w->rkeep = calloc(n, sizeof(*w->rkeep));
	w->rcall = calloc(n, sizeof(*w->rcall));
	w->done_argv = calloc((size_t)cfg->timer_batch + 2, sizeof(*w->done_argv));
	w->done_len = calloc((size_t)cfg->timer_batch + 2, sizeof(*w->done_len));
	w->offsets = rd_kafka_topic_partition_list_new(8);
	msgpack_sbuffer_init(&w->sb);
	msgpack_sbuffer_init(&w->sb_dead);
	if (w->msgs == NULL || w->jobs == NULL || w->calls == NULL || w->replies == NULL ||
	    w->done_argv == NULL || w->done_len == NULL || w->rcalls == NULL || w->rreplies == NULL ||
	    w->rkeep == NULL || w->rcall == NULL || andon_arena_init(&w->arena, arena_size(cfg)) != 0 ||
	    !(w->zone_ok = msgpack_zone_init(&w->zone, 64 * 1024)) ||
	    (w->track = andon_track_new((size_t)cfg->inflight_max)) == NULL ||
	    (w->engine = andon_engine_new(cfg)) == NULL) {
		andon_fail(errstr, errstr_size, "out of memory");
		goto err;
	}
	w->done_argv[0] = "ZREM";
	w->done_argv[1] = TIMERS_KEY;
	w->done_len[0] = 4;
	w->done_len[1] = strlen(TIMERS_KEY);
	w->done_argc = 2;
	if (andon_engine_connect(w->engine, errstr, errstr_size) != 0)
		goto err;

	if ((conf = kafka_conf(w, producer_defaults, errstr, errstr_size)) == NULL)
		goto err;
	rd_kafka_conf_set_dr_msg_cb(conf, delivered);
	w->dlq_original_max = dlq_original_max(cfg, conf);
	if ((w->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size)) == NULL)
		goto err;
	conf = NULL; /* now owned by the producer */
	/* The topics must exist before the subscription: librdkafka looks for a missing subscribed topic
	 * only every topic.metadata.refresh.interval.ms. */
	if ((w->topics = andon_topics_new(w->producer, cfg, errstr, errstr_size)) == NULL ||
	    andon_topics_ensure(w->topics, own_topics, 4, run, errstr, errstr_size) != 0)
		goto err;

	if ((conf = kafka_conf(w, consumer_defaults, errstr, errstr_size)) == NULL ||
	    (cfg->instance_id[0] != '\0' &&
	     andon_kafka_conf_set(conf, "group.instance.id", cfg->instance_id, errstr, errstr_size) != 0))
		goto err;
	rd_kafka_conf_set_rebalance_cb(conf, rebalance);
	if ((w->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size)) == NULL)
		goto err;
	conf = NULL; /* now owned by the consumer */
	rd_kafka_poll_set_consumer(w->consumer);
	w->queue = rd_kafka_queue_get_consumer(w->consumer);

	topics = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(topics, cfg->topic_requests, RD_KAFKA_PARTITION_UA);
	err = rd_kafka_subscribe(w->consumer, topics);
	rd_kafka_topic_partition_list_destroy(topics);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		andon_fail(errstr, errstr_size, "subscribe %s: %s", cfg->topic_requests,
			   rd_kafka_err2str(err));
		goto err;
	}
	return w;
err:
	if (conf != NULL)
		rd_kafka_conf_destroy(conf);
	andon_worker_destroy(w);
	return NULL;
}

/* Decodes and validates one message; a valid request gets its engine call built in w->calls[ncalls]. */
static void job_ctx(andon_worker_t *w, const job_t *j, andon_ctx_t *ctx)
{
	ctx->cfg = w->cfg;
	ctx->region = w->cfg->region;
	ctx->account = j->account;
	ctx->arena = &w->arena;
}

/*
 * Every engine function checks that what it loads belongs to the request's account (00-core.lua, owned()):
 * an FCALL built for a request carries it as the last field, '@acct'. Lookups (plain GETs) carry nothing.
 */
static void stamp_account(andon_call_t *c, const char *account)
{
	if (c->argc > 0 && c->argvlen[0] == 5 && memcmp(c->argv[0], "FCALL", 5) == 0)
		andon_call_field(c, "@acct", account, strlen(account));
}

static void prepare(andon_worker_t *w, job_t *j, size_t *ncalls)
{
	const rd_kafka_message_t *m = j->msg;
	const andon_op_t *op;
	msgpack_object root;
	andon_ctx_t ctx;
	char reason[256];
	const char *bad;
	size_t bad_len;

	j->kind = JOB_ERROR;
	memset(&j->err, 0, sizeof(j->err));
	if (andon_codec_unpack(m->payload, m->len, w->cfg->max_depth, &w->zone, &root, reason,
			       sizeof(reason)) != 0) {
		j->kind = JOB_DLQ;
		andon_apierr(&j->err, "SerializationException", 400, "undecodable msgpack: %s", reason);
		return;
	}
	if (andon_proto_parse(&root, &j->req, &j->err) != 0) {
		if (j->req.id == NULL)
			j->kind = JOB_DLQ;
		return;
	}
	if ((op = andon_ops_find(j->req.op, j->req.op_len)) == NULL) {
		andon_apierr(&j->err, "ActionNotSupported", 400,
			     "the action %.*s is not valid for this endpoint", (int)j->req.op_len, j->req.op);
		return;
	}
	if (m->len > (size_t)w->cfg->max_message_bytes) {
		andon_apierr(&j->err, "EntityTooLarge", op->too_large_status,
			     "request of %zu bytes exceeds the limit of %d bytes", m->len,
			     w->cfg->max_message_bytes);
		return;
	}
	if (andon_codec_check_text(j->req.body, &bad, &bad_len) != 0) {
		/* Text that is not UTF-8 never reaches Redis, nor anything Andon writes (a callback message
		 * echoes its step's Arguments). */
		if (bad != NULL)
			andon_apierr(
			    &j->err, andon_ops_invalid_code(op), 400,
			    "1 validation error detected: Value at '%.*s' failed to satisfy constraint: "
			    "Member must be valid UTF-8 text",
			    (int)(bad_len > 128 ? 128 : bad_len), bad);
		else
			andon_apierr(&j->err, andon_ops_invalid_code(op), 400,
				     "body holds a key or text that is not valid UTF-8");
		return;
	}
	if (j->req.account != NULL) {
		memcpy(j->account, j->req.account, j->req.account_len);
		j->account[j->req.account_len] = '\0';
	} else {
		snprintf(j->account, sizeof(j->account), "%s", w->cfg->default_account);
	}
	job_ctx(w, j, &ctx);
	if (op->prepare(&ctx, &j->req, &w->calls[*ncalls], &j->err) != 0)
		return;
	stamp_account(&w->calls[*ncalls], j->account);
	if (w->calls[*ncalls].overflow) {
		andon_apierr(&j->err, "InternalFailure", 500,
			     "request has too many fields or too long names");
		return;
	}
	j->kind = JOB_CALL;
	j->call = (int)(*ncalls)++;
}

static void produce_dlq(andon_worker_t *w, job_t *j)
{
	const rd_kafka_message_t *m = j->msg;

	dead_letter(w, j->err.code, j->err.message, rd_kafka_topic_name(m->rkt), m->partition, m->offset,
		    m->key, m->key_len, m->payload, m->len, j->seq);
	andon_info("dead-lettered %s [%d] @%lld: %s: %s", rd_kafka_topic_name(m->rkt), (int)m->partition,
		   (long long)m->offset, j->err.code, j->err.message);
}

static const char *reply_topic(const andon_worker_t *w, const job_t *j, char *buf, size_t size)
{
	if (j->req.reply_to == NULL)
		return w->cfg->topic_replies;
	snprintf(buf, size, "%.*s", (int)j->req.reply_to_len, j->req.reply_to);
	return buf;
}

/* Checks the engine's {dup, ok, answer, [to, key, value]...} shape; a malformed one is a script bug. */
static int answer_ok(const redisReply *r)
{
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 3 || (r->elements - 3) % 3 != 0 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_INTEGER)
		return 0;
	for (size_t i = 2; i < r->elements; i++)
		if (r->element[i]->type != REDIS_REPLY_STRING)
			return 0;
	return 1;
}

static int out_is(const redisReply *to, const char *s)
{
	return to->len == strlen(s) && memcmp(to->str, s, to->len) == 0;
}

/* Produces the Kafka outputs of engine answer r (00-core.lua, OUT) on behalf of seq; the Redis ones were
 * applied by post_write(). */
static void emit(andon_worker_t *w, const redisReply *r, uint64_t seq)
{
	for (size_t i = 3; i + 2 < r->elements; i += 3) {
		const redisReply *to = r->element[i], *key = r->element[i + 1], *val = r->element[i + 2];
		const char *topic;
		char buf[256];

		if (to->len == 0) {
			topic = w->cfg->topic_events;
			w->events++;
		} else if (out_is(to, "@requests")) {
			topic = w->cfg->topic_requests;
		} else if (to->str[0] == '@') {
			continue; /* a Redis output, already applied */
		} else if (to->len < sizeof(buf)) {
			memcpy(buf, to->str, to->len);
			buf[to->len] = '\0';
			topic = buf;
			/* A pipeline's or domain's topic: created if new, and produce() waits for it. */
			andon_topics_want(w->topics, topic);
		} else {
			/* Adapters only accept legal topic names (249 bytes), so this is an engine bug: the
			 * message is kept in the DLQ rather than sent to a cut name. */
			undeliverable(w, "(topic name over 255 bytes)", key->str, key->len, val->str,
				      val->len, seq, RD_KAFKA_RESP_ERR__INVALID_ARG);
			continue;
		}
		produce(w, topic, key->str, key->len, val->str, val->len, seq);
	}
}

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
 * Applies the Redis outputs of answers[0..n) ('@timer': ZADD NX to the timer set, '@index': SET) in one
 * pipeline, before anything they relate to is produced. Returns 0, or -1 when Redis stayed away through
 * a shutdown. Nothing is acknowledged before this is done, so a replay re-applies them after a crash.
 */
static int post_write(andon_worker_t *w, redisReply **answers, size_t n)
{
	size_t np = 0;
	int rc;

	for (size_t i = 0; i < n; i++) {
		const redisReply *r = answers[i];

		if (!answer_ok(r))
			continue;
		for (size_t k = 3; k + 2 < r->elements; k += 3) {
			const redisReply *to = r->element[k], *key = r->element[k + 1],
					 *val = r->element[k + 2];
			andon_call_t *c;

			if (to->len == 0 || to->str[0] != '@' || out_is(to, "@requests"))
				continue;
			if (post_room(w, np + 1) != 0) {
				andon_err("out of memory for %zu post-writes", np + 1);
				return -1;
			}
			c = &w->post[np++];
			if (out_is(to, "@timer")) {
				andon_call_command(c, "ZADD");
				andon_call_arg(c, TIMERS_KEY, strlen(TIMERS_KEY));
				andon_call_arg(c, "NX", 2);
				andon_call_arg(c, val->str, val->len);
				andon_call_arg(c, key->str, key->len);
			} else {
				andon_call_command(c, "SET");
				andon_call_arg(c, key->str, key->len);
				andon_call_arg(c, val->str, val->len);
			}
		}
	}
	if (np == 0)
		return 0;
	rc = andon_engine_exec(w->engine, w->post, np, w->post_replies, w->run,
			       andon_now_us() + (int64_t)w->cfg->shutdown_timeout_ms * 1000);
	for (size_t i = 0; i < np; i++) {
		if (w->post_replies[i] != NULL && w->post_replies[i]->type == REDIS_REPLY_ERROR)
			andon_err("post-write %.*s failed: %s", (int)w->post[i].argvlen[0],
				  w->post[i].argv[0], w->post_replies[i]->str);
		freeReplyObject(w->post_replies[i]);
		w->post_replies[i] = NULL;
	}
	return rc;
}

/* Produces everything a message caused, then drops the worker's own hold on it. */
static void answer(andon_worker_t *w, job_t *j)
{
	char topic[256];
	const char *to;
	redisReply *r;

	if (j->kind == JOB_DLQ) {
		produce_dlq(w, j);
		goto done;
	}
	to = reply_topic(w, j, topic, sizeof(topic));
	if (j->kind == JOB_CALL) {
		r = w->replies[j->call];
		if (!answer_ok(r)) {
			andon_apierr(&j->err, "InternalFailure", 500, "engine error: %s",
				     r == NULL			    ? "no reply"
				     : r->type == REDIS_REPLY_ERROR ? r->str
								    : "malformed reply");
			j->kind = JOB_ERROR;
		} else {
			andon_proto_reply_raw(&w->sb, &j->req, r->element[1]->integer != 0,
					      r->element[2]->str, r->element[2]->len);
			produce(w, to, j->req.id, j->req.id_len, w->sb.data, w->sb.size, j->seq);
			/* A duplicate re-sends its outputs too: the first attempt may have died before they
			 * were acknowledged. Subscribers deduplicate events by eventId. */
			emit(w, r, j->seq);
			w->answered++;
			goto done;
		}
	}
	andon_proto_reply_err(&w->sb, &j->req, &j->err);
	produce(w, to, j->req.id, j->req.id_len, w->sb.data, w->sb.size, j->seq);
	w->answered++;
	if (j->err.bad_input || j->err.status >= 500)
		produce_dlq(w, j);
done:
	release(w, j->seq);
}

/*
 * Turns the answered lookups among jobs [from, to) into their real calls and runs those in a second
 * pipeline; each reply takes the place of its lookup's. Returns 0, or -1 when Redis stayed away through a
 * shutdown.
 */
static int resolve(andon_worker_t *w, size_t from, size_t to)
{
	size_t n = 0;
	int rc = 0;

	for (size_t i = from; i < to; i++) {
		job_t *j = &w->jobs[i];
		andon_call_t *c = &w->calls[j->call];
		redisReply *r = w->replies[j->call];
		andon_ctx_t ctx;

		if (j->kind != JOB_CALL || c->resolve == NULL || r == NULL ||
		    (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL))
			continue; /* a Redis error stays the reply: answered InternalFailure */
		job_ctx(w, j, &ctx);
		w->replies[j->call] = NULL;
		if (c->resolve(&ctx, &j->req, r->type == REDIS_REPLY_STRING ? r->str : NULL, r->len,
			       &w->rcalls[n], &j->err) != 0 ||
		    (stamp_account(&w->rcalls[n], j->account), w->rcalls[n].overflow)) {
			if (w->rcalls[n].overflow)
				andon_apierr(&j->err, "InternalFailure", 500,
					     "request has too many fields or too long names");
			j->kind = JOB_ERROR;
			freeReplyObject(r);
			continue;
		}
		w->rkeep[n] = r;
		w->rcall[n++] = j->call;
	}
	if (n > 0)
		rc = andon_engine_exec(w->engine, w->rcalls, n, w->rreplies, w->run,
				       andon_now_us() + (int64_t)w->cfg->shutdown_timeout_ms * 1000);
	for (size_t k = 0; k < n; k++) {
		w->replies[w->rcall[k]] = w->rreplies[k];
		w->rreplies[k] = NULL;
		freeReplyObject(w->rkeep[k]);
	}
	return rc;
}

/*
 * Runs jobs [from, to) whose calls are w->calls[0..ncalls): one Redis pipeline, then every answer.
 * Returns 0, or -1 when Redis stayed away through a shutdown (nothing answered, nothing acknowledged).
 */
static int run_chunk(andon_worker_t *w, size_t from, size_t to, size_t ncalls)
{
	int rc = 0;

	if (ncalls > 0 &&
	    (andon_engine_exec(w->engine, w->calls, ncalls, w->replies, w->run,
			       andon_now_us() + (int64_t)w->cfg->shutdown_timeout_ms * 1000) != 0 ||
	     resolve(w, from, to) != 0 || post_write(w, w->replies, ncalls) != 0)) {
		/* The offsets stay unstored, so these are consumed again by whoever runs next. */
		andon_err("redis unavailable at shutdown; %zu request(s) left for redelivery", to - from);
		w->stuck += to - from;
		rc = -1;
	}
	for (size_t i = from; i < to; i++) {
		if (rc == 0)
			answer(w, &w->jobs[i]);
		rd_kafka_message_destroy(w->jobs[i].msg);
	}
	for (size_t i = 0; i < ncalls; i++) {
		freeReplyObject(w->replies[i]);
		w->replies[i] = NULL;
	}
	andon_arena_reset(&w->arena);
	msgpack_zone_clear(&w->zone);
	return rc;
}

/*
 * One batch: decode all, one Redis pipeline for all, produce all answers. A batch whose keys would not fit
 * in the arena is cut into chunks, so what a request is answered never depends on its neighbours.
 * Returns 0, or -1 when Redis gave up during a shutdown.
 */
static int process(andon_worker_t *w, size_t n)
{
	size_t ncalls = 0, njobs = 0, from = 0, i;

	for (i = 0; i < n; i++) {
		rd_kafka_message_t *m = w->msgs[i];
		job_t *j;

		if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			/* A fatal consumer error (a static member fenced by its own rejoin, say) ends the
			 * consumer for good: finish what is in hand and exit, for the supervisor to restart.
			 */
			if (m->err == RD_KAFKA_RESP_ERR__FATAL)
				w->fatal = 1;
			andon_log(w->fatal ? ANDON_LOG_ERROR : ANDON_LOG_WARN, "consume: %s",
				  rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			continue;
		}
		/* Keys are built from the request's own fields: 4 keys of its length bound what it needs. */
		if (ncalls > 0 && w->arena.cap - w->arena.used < 4 * m->len + 4096) {
			if (run_chunk(w, from, njobs, ncalls) != 0)
				goto stuck;
			from = njobs;
			ncalls = 0;
		}
		j = &w->jobs[njobs++];
		j->msg = m;
		j->seq = andon_track_add(w->track, rd_kafka_topic_name(m->rkt), m->partition, m->offset);
		prepare(w, j, &ncalls);
	}
	w->consumed += njobs;
	w->batches++;
	return run_chunk(w, from, njobs, ncalls);
stuck:
	/* Not yet tracked, so never acknowledged either: their offsets are not stored. */
	for (; i < n; i++)
		rd_kafka_message_destroy(w->msgs[i]);
	return -1;
}

/*
 * Removes from the timer set what the last sweep fired, once all it produced is acknowledged; a member
 * that another worker claimed again meanwhile (our lease ran out) fires there once more and is answered
 * from the engine's stored answer. Returns 1 while the last sweep is still unacknowledged.
 */
static int timers_settle(andon_worker_t *w)
{
	redisReply *r;

	if (w->timer_pending > 0)
		return 1;
	if (w->done_argc > 2) {
		r = andon_engine_command(w->engine, (int)w->done_argc, w->done_argv, w->done_len);
		if (r == NULL || r->type == REDIS_REPLY_ERROR)
			andon_warn("removing fired timers: %s; they fire again after their lease",
				   r != NULL ? r->str : "redis unavailable");
		freeReplyObject(r);
	}
	w->done_argc = 2;
	freeReplyObject(w->fired);
	w->fired = NULL;
	return 0;
}

/*
 * Fires the due deadlines, at most timer_batch per tick: claims them (00-core.lua, timers_claim), calls
 * each one's engine function in one pipeline, applies and produces what they caused. A member is
 * "fn\ntag\nrest"; fn runs on the keys x, h, r of andon:{tag}, with request id "timer\n<member>".
 */
static void timers_sweep(andon_worker_t *w)
{
	char lease[16], max[16];
	const char *argv[] = {"FCALL", "andon_timers_claim", "1", TIMERS_KEY, lease, max};
	size_t argvlen[6], n, ncalls = 0;
	size_t batch =
	    (size_t)(w->cfg->timer_batch < w->cfg->batch_size ? w->cfg->timer_batch : w->cfg->batch_size);
	redisReply *r;

	if (timers_settle(w))
		return;
	snprintf(lease, sizeof(lease), "%d", w->cfg->timer_lease_ms);
	snprintf(max, sizeof(max), "%zu", batch);
	for (int i = 0; i < 6; i++)
		argvlen[i] = strlen(argv[i]);
	r = andon_engine_command(w->engine, 6, argv, argvlen);
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
		if (r != NULL && r->type == REDIS_REPLY_ERROR)
			andon_warn("timer sweep: %s", r->str);
		freeReplyObject(r);
		return;
	}
	w->fired = r;
	n = r->elements;
	for (size_t i = 0; i < n; i++) {
		const redisReply *m = r->element[i];
		const char *fn_end, *tag_end;
		char *id;
		andon_call_t *c = &w->calls[ncalls];
		char fn[64];

		if (m->type != REDIS_REPLY_STRING || (fn_end = memchr(m->str, '\n', m->len)) == NULL ||
		    (tag_end = memchr(fn_end + 1, '\n', m->len - (size_t)(fn_end + 1 - m->str))) == NULL ||
		    (size_t)(fn_end - m->str) >= sizeof(fn)) {
			andon_err("timer set holds a malformed member; leaving it");
			continue;
		}
		snprintf(fn, sizeof(fn), "%.*s", (int)(fn_end - m->str), m->str);
		andon_call_begin(c, fn);
		c->argv[1] =
		    andon_arena_strndup(&w->arena, fn, strlen(fn)); /* fn[] is gone after this turn */
		c->overflow |= c->argv[1] == NULL;
		for (const char *suffix = "x\0h\0r\0"; *suffix; suffix += 2)
			andon_call_key(c, &w->arena, fn_end + 1, (size_t)(tag_end - fn_end - 1), suffix);
		if ((id = andon_arena_alloc(&w->arena, 6 + m->len)) != NULL) {
			memcpy(id, "timer\n", 6);
			memcpy(id + 6, m->str, m->len);
		}
		andon_call_arg(c, id, 6 + m->len);
		andon_call_arg(c, "Andon.Timer", 11);
		andon_call_field(c, "timer", m->str, m->len);
		if (c->overflow) {
			andon_err("timer member of %zu bytes does not fit a call; leaving it", m->len);
			continue;
		}
		ncalls++;
	}
	if (ncalls > 0 &&
	    (andon_engine_exec(w->engine, w->calls, ncalls, w->replies, w->run,
			       andon_now_us() + (int64_t)w->cfg->shutdown_timeout_ms * 1000) != 0 ||
	     post_write(w, w->replies, ncalls) != 0)) {
		andon_warn("timer sweep: redis unavailable; the claimed timers fire again after their lease");
		for (size_t i = 0; i < ncalls; i++) {
			freeReplyObject(w->replies[i]);
			w->replies[i] = NULL;
		}
		ncalls = 0;
	}
	for (size_t i = 0; i < ncalls; i++) {
		redisReply *a = w->replies[i];

		if (answer_ok(a)) {
			emit(w, a, TIMER_SEQ);
			/* The member is the call's "timer" field, the last argument. */
			w->done_argv[w->done_argc] = w->calls[i].argv[w->calls[i].argc - 1];
			w->done_len[w->done_argc++] = w->calls[i].argvlen[w->calls[i].argc - 1];
			w->timers++;
		} else {
			andon_err("timer %.*s failed: %s", (int)w->calls[i].argvlen[w->calls[i].argc - 1],
				  w->calls[i].argv[w->calls[i].argc - 1],
				  a != NULL && a->type == REDIS_REPLY_ERROR ? a->str : "malformed reply");
		}
		freeReplyObject(a);
		w->replies[i] = NULL;
	}
	andon_arena_reset(&w->arena);
}

static void stats(const andon_worker_t *w)
{
	andon_info("stats: consumed %llu answered %llu events %llu timers %llu dlq %llu redelivered %llu "
		   "lost %llu batches %llu inflight %zu redis-reconnects %lu",
		   w->consumed, w->answered, w->events, w->timers, w->dlq, w->redelivered, w->lost,
		   w->batches, andon_track_count(w->track), andon_engine_reconnects(w->engine));
}

/* The periodic hook: everything time-driven happens here, each with its own period. */
static void cron(andon_worker_t *w)
{
	int64_t now = andon_now_us();

	timers_sweep(w);
	if (w->cfg->stats_interval_ms > 0 && now >= w->next_stats_us) {
		w->next_stats_us = now + (int64_t)w->cfg->stats_interval_ms * 1000;
		stats(w);
	}
}

int andon_worker_run(andon_worker_t *w)
{
	size_t room;
	ssize_t n;
	int rc = 0;
	int64_t deadline;

	andon_info("consuming %s; answering on %s, events on %s, dead letters on %s", w->cfg->topic_requests,
		   w->cfg->topic_replies, w->cfg->topic_events, w->cfg->topic_dlq);
	while (*w->run && !w->fatal) {
		/* Never take more than the tracker can follow. */
		room = (size_t)w->cfg->inflight_max - andon_track_count(w->track);
		if (room > (size_t)w->cfg->batch_size)
			room = (size_t)w->cfg->batch_size;
		if (room == 0) {
			settle(w, 10);
			continue;
		}
		/* Wait for the first message only, then take what is already fetched: a batch never waits
		 * to fill up, so one lone request is answered at once. */
		n = 0;
		if ((w->msgs[0] = rd_kafka_consumer_poll(w->consumer, w->cfg->poll_ms)) != NULL) {
			n = rd_kafka_consume_batch_queue(w->queue, 0, w->msgs + 1, room - 1);
			n = n < 0 ? 1 : n + 1;
		}
		if (n > 0 && process(w, (size_t)n) != 0) {
			rc = -1;
			break;
		}
		settle(w, 0);
		if (andon_now_us() >= w->next_tick_us) {
			w->next_tick_us = andon_now_us() + (int64_t)w->cfg->tick_ms * 1000;
			cron(w);
		}
	}
	/* Shutdown order: stop polling (done), drain acknowledgements, commit, close the consumer. */
	andon_info("shutting down: %zu message(s) awaiting acknowledgement", andon_track_count(w->track));
	deadline = andon_now_us() + (int64_t)w->cfg->shutdown_timeout_ms * 1000;
	if (drain(w, deadline) != 0) {
		andon_err("shutdown: %zu message(s) not acknowledged in time; they will be consumed again",
			  andon_track_count(w->track));
		rc = -1;
	}
	timers_settle(w); /* what the last sweep fired is acknowledged now: remove it */
	rd_kafka_commit(w->consumer, NULL, 0);
	rd_kafka_consumer_close(w->consumer);
	if (w->fatal)
		rc = -1;
	stats(w);
	return rc;
}

void andon_worker_destroy(andon_worker_t *w)
{
	if (w == NULL)
		return;
	if (w->queue != NULL)
		rd_kafka_queue_destroy(w->queue);
	if (w->consumer != NULL)
		rd_kafka_destroy(w->consumer);
	andon_topics_destroy(w->topics);
	if (w->producer != NULL) {
		rd_kafka_flush(w->producer, 5000);
		if (rd_kafka_outq_len(w->producer) > 0)
			andon_warn("%d message(s) still queued at exit", rd_kafka_outq_len(w->producer));
		rd_kafka_destroy(w->producer);
	}
	while (w->redo != NULL) {
		redo_t *next = w->redo->next;
		free(w->redo->topic);
		free(w->redo->key);
		free(w->redo->value);
		free(w->redo);
		w->redo = next;
	}
	if (w->offsets != NULL)
		rd_kafka_topic_partition_list_destroy(w->offsets);
	andon_engine_destroy(w->engine);
	andon_track_destroy(w->track);
	andon_arena_free(&w->arena);
	if (w->zone_ok)
		msgpack_zone_destroy(&w->zone);
	msgpack_sbuffer_destroy(&w->sb);
	msgpack_sbuffer_destroy(&w->sb_dead);
	free(w->msgs);
	free(w->jobs);
	free(w->calls);
	free(w->replies);
	free(w->rcalls);
	free(w->rreplies);
	free(w->rkeep);
	free(w->rcall);
	free(w->post);
	free(w->post_replies);
	freeReplyObject(w->fired);
	free(w->done_argv);
	free(w->done_len);
	free(w);
}
