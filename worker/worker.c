/* worker: the daemon's main loop: poll a batch, pipeline it to Redis, answer on Kafka, store offsets. */
#include "worker_int.h"

#include "codec.h"
#include "engine.h"
#include "idem.h"
#include "kafka.h"
#include "log.h"
#include "ops.h"
#include "proto.h"
#include "quarantine.h"
#include "request.h"
#include "track.h"
#include "util.h"

#include <librdkafka/rdkafka.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
		andon_health_brokers(w, 0); /* back up: the next statistics say so */
	/* Broker and transport errors: librdkafka reconnects and retries by itself. */
	andon_warn("kafka: %s: %s", rd_kafka_err2name(err), reason);
}

/* librdkafka's statistics (statistics.interval.ms), served on the main thread by the consumer's poll. */
static int kafka_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
	andon_worker_t *w = opaque;
	int up = andon_stats_kafka(w->stats, json, len);

	(void)rk;
	if (up >= 0)
		andon_health_brokers(w, up);
	return 0; /* librdkafka frees json */
}

static void rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
		      void *opaque)
{
	andon_worker_t *w = opaque;
	int cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
	int64_t deadline = andon_now_us() + (int64_t)w->cfg->shutdown_timeout_ms * 1000;
	rd_kafka_error_t *e = NULL;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		andon_info("assigned %d partition(s)", parts->cnt);
		/* Before the first fetch: what their last owner left in flight decides how they start. */
		if (andon_quar_assign(w->quar, parts, w->run, deadline) != 0)
			andon_warn("assigned partitions start without their in-flight records");
		if (cooperative)
			e = rd_kafka_incremental_assign(rk, parts);
		else
			rd_kafka_assign(rk, parts);
		andon_health_assigned(w, parts->cnt);
	} else {
		/* Exactly-once: what is open commits now, in the generation it was consumed in (or, when the
		 * partitions are lost already, is aborted), so the next owner starts after it. */
		if (andon_out_txn_open(w))
			andon_out_commit(w, !rd_kafka_assignment_lost(rk));
		/* Finish what was taken from these partitions so the next owner starts after it. */
		andon_info("revoked %d partition(s); draining %zu in flight", parts->cnt,
			   andon_track_count(w->track));
		if (andon_out_drain(w, deadline) != 0)
			andon_warn("revoke: %zu message(s) still unacknowledged; they will be consumed again",
				   andon_track_count(w->track));
		if (w->txn == NULL) /* exactly-once commits offsets with each batch's transaction */
			rd_kafka_commit(rk, NULL, 0);
		andon_quar_revoke(w->quar, parts, rd_kafka_assignment_lost(rk), w->run, deadline);
		if (cooperative) {
			e = rd_kafka_incremental_unassign(rk, parts);
		} else {
			rd_kafka_assign(rk, NULL);
			andon_health_revoked(w); /* an eager rebalance always assigns again */
		}
	}
	if (e != NULL) {
		andon_err("rebalance: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	}
}

/* Applies the worker's defaults (two lists, more may be NULL), then the user's kafka.* settings, which win.
 */
static rd_kafka_conf_t *kafka_conf(andon_worker_t *w, const char *const *defaults, const char *const *more,
				   char *errstr, size_t errstr_size)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	for (const char *const *d = defaults; *d != NULL; d++)
		if (andon_kafka_conf_kv(conf, *d, errstr, errstr_size) != 0)
			goto err;
	for (const char *const *d = more; d != NULL && *d != NULL; d++)
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

/* The consumer group of conf (a consumer's configuration). */
static void group_of(const rd_kafka_conf_t *conf, char *group, size_t size)
{
	if (rd_kafka_conf_get(conf, "group.id", group, &size) != RD_KAFKA_CONF_OK)
		snprintf(group, size, "andon-worker");
}

/* In-flight records are per consumer group: whichever worker of the group owns a partition next reads them.
 */
static andon_quar_t *quar_new(andon_worker_t *w)
{
	char group[256];

	group_of(rd_kafka_conf(w->consumer), group, sizeof(group));
	return andon_quar_new(w->engine, w->cfg->quarantine_after, group, w->cfg->topic_requests);
}

/*
 * The producer: transactional (txn.h) unless worker.exactly_once is false, or auto on a cluster without
 * transactions. Returns 1 when transactional, 0 when not, -1 with the reason in errstr.
 */
static int producer_new(andon_worker_t *w, const char *group, char *errstr, size_t errstr_size)
{
	static const char *const defaults[] = {"enable.idempotence=true", "linger.ms=2",
					       "reconnect.backoff.max.ms=1000", NULL};
	/* A transaction that a killed worker left open holds read_committed readers of its partitions back
	 * until the broker aborts it: after 10 s here, not librdkafka's 60 s. A batch commits in
	 * milliseconds.
	 */
	static const char *const txn_defaults[] = {"enable.idempotence=true", "linger.ms=2",
						   "reconnect.backoff.max.ms=1000",
						   "transaction.timeout.ms=10000", NULL};
	int eos = w->cfg->exactly_once != ANDON_EOS_OFF, rc;
	char id[600];

	for (;;) {
		rd_kafka_conf_t *conf =
		    kafka_conf(w, eos ? txn_defaults : defaults, NULL, errstr, errstr_size);

		if (conf == NULL)
			return -1;
		andon_txn_id(w->cfg, group, id, sizeof(id));
		if (eos && andon_kafka_conf_set(conf, "transactional.id", id, errstr, errstr_size) != 0) {
			rd_kafka_conf_destroy(conf);
			return -1;
		}
		rd_kafka_conf_set_dr_msg_cb(conf, andon_out_delivered);
		w->dlq_original_max = dlq_original_max(w->cfg, conf);
		if ((w->producer = andon_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size)) == NULL)
			return -1;
		conf = NULL; /* now owned by the producer */
		if (!eos)
			return 0;
		if ((rc = andon_txn_init(w->producer, w->run, errstr, errstr_size)) != 0) {
			if (rc > 0)
				andon_info("exactly-once outputs: transactional.id %s", id);
			return rc;
		}
		if (w->cfg->exactly_once == ANDON_EOS_ON) {
			andon_fail(
			    errstr, errstr_size,
			    "worker.exactly_once = true, but the cluster does not support transactions");
			return -1;
		}
		andon_warn("the cluster does not support transactions: outputs at least once "
			   "(worker.exactly_once = auto)");
		rd_kafka_destroy(w->producer);
		w->producer = NULL;
		eos = 0;
	}
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
	/* With metrics served: the consumer's statistics (lag per partition, brokers up) every 5 s. */
	static const char *const metrics_defaults[] = {"statistics.interval.ms=5000", NULL};
	const char *const own_topics[] = {cfg->topic_requests, cfg->topic_replies, cfg->topic_events,
					  cfg->topic_dlq};
	andon_worker_t *w = calloc(1, sizeof(*w));
	rd_kafka_conf_t *conf = NULL;
	rd_kafka_topic_partition_list_t *topics;
	rd_kafka_resp_err_t err;
	char group[256];
	size_t n;
	int eos;

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
	w->pre = calloc(3 * n, sizeof(*w->pre));
	w->pre_replies = calloc(3 * n, sizeof(*w->pre_replies));
	w->timer_key = calloc(n, sizeof(*w->timer_key));
	w->offsets = rd_kafka_topic_partition_list_new(8);
	msgpack_sbuffer_init(&w->sb);
	msgpack_sbuffer_init(&w->sb_dead);
	msgpack_sbuffer_init(&w->sb_built);
	msgpack_sbuffer_init(&w->sb_kms);
	if (w->msgs == NULL || w->jobs == NULL || w->calls == NULL || w->replies == NULL ||
	    w->timer_key == NULL || andon_timers_init(w) != 0 || w->pre == NULL || w->pre_replies == NULL ||
	    andon_arena_init(&w->arena, arena_size(cfg)) != 0 ||
	    !(w->zone_ok = msgpack_zone_init(&w->zone, 64 * 1024)) ||
	    (w->track = andon_track_new((size_t)cfg->inflight_max)) == NULL ||
	    (w->engine = andon_engine_new(cfg)) == NULL || (w->stats = andon_stats_new()) == NULL ||
	    (w->svc = andon_service_new()) == NULL) {
		andon_fail(errstr, errstr_size, "out of memory");
		goto err;
	}
	andon_engine_timing(w->engine, andon_stats_redis_rtt(w->stats));
	andon_engine_watch(w->engine, andon_health_redis, w);
	andon_track_ages(w->track, andon_stats_request_age(w->stats));
	if (andon_engine_connect(w->engine, errstr, errstr_size) != 0 ||
	    (w->auth = andon_auth_new(cfg, w->engine, run, errstr, errstr_size)) == NULL)
		goto err;
	if ((w->kms = andon_kms_new(cfg, w->engine, run, andon_auth_master(w->auth))) == NULL) {
		andon_fail(errstr, errstr_size, "out of memory");
		goto err;
	}
	if (cfg->auth == ANDON_AUTH_OFF)
		andon_warn("security.auth = off: requests are not signed and act for the account they name; "
			   "any producer that can write to %s can stop anything (docs/OPERATIONS.md)",
			   cfg->topic_requests);
	else
		andon_info(
		    "security.auth = required: only requests signed by an active access key are applied");

	/* The consumer's settings first: the transactional.id names its group. */
	if ((conf = kafka_conf(w, consumer_defaults, cfg->http_listen[0] != '\0' ? metrics_defaults : NULL,
			       errstr, errstr_size)) == NULL)
		goto err;
	group_of(conf, group, sizeof(group));
	if ((eos = producer_new(w, group, errstr, errstr_size)) < 0)
		goto err;
	/* The topics must exist before the subscription: librdkafka looks for a missing subscribed topic
	 * only every topic.metadata.refresh.interval.ms. */
	if ((w->topics = andon_topics_new(w->producer, cfg, errstr, errstr_size)) == NULL ||
	    andon_topics_ensure(w->topics, own_topics, 4, run, errstr, errstr_size) != 0)
		goto err;

	/* Exactly-once commits offsets only with the transaction holding what they caused. */
	if ((cfg->instance_id[0] != '\0' &&
	     andon_kafka_conf_set(conf, "group.instance.id", cfg->instance_id, errstr, errstr_size) != 0) ||
	    (eos && andon_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size) != 0) ||
	    andon_kafka_conf_set(conf, "isolation.level", "read_committed", errstr, errstr_size) != 0)
		goto err;
	rd_kafka_conf_set_rebalance_cb(conf, rebalance);
	rd_kafka_conf_set_stats_cb(conf, kafka_stats);
	if ((w->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size)) == NULL)
		goto err;
	conf = NULL; /* now owned by the consumer */
	if ((w->quar = quar_new(w)) == NULL ||
	    (eos && (w->txn = andon_txn_new(w->producer, w->consumer)) == NULL)) {
		andon_fail(errstr, errstr_size, "out of memory");
		goto err;
	}
	rd_kafka_poll_set_consumer(w->consumer);
	w->queue = rd_kafka_queue_get_consumer(w->consumer);

	if (cfg->http_listen[0] != '\0') {
		if ((w->http = andon_http_start(cfg->http_listen, andon_stats_registry(w->stats),
						cfg->health_stall_ms, errstr, errstr_size)) == NULL)
			goto err;
		andon_info("http: /metrics, /healthz and /readyz on %s (port %d)", cfg->http_listen,
			   andon_http_port(w->http));
	}
	andon_health_start(w);

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

/*
 * Adds a request's first-round commands: its gate (already built in w->pre[w->npre] by the adapter), its id
 * record, and its lookup (the adapter built the lookup as its call; it moves to the first round, and the
 * real call is built in its place from the lookup's value).
 */
static void pre_add(andon_worker_t *w, job_t *j, int has_gate)
{
	andon_call_t *c = &w->calls[j->call];
	char *fp = andon_arena_alloc(&w->arena, ANDON_IDEM_FP_LEN);

	j->pre_gate = has_gate ? (int)w->npre++ : -1;
	if (fp != NULL)
		andon_idem_fingerprint(&j->req, j->account, fp);
	j->fp = fp;
	j->pre_id = (int)w->npre++;
	/* A NULL fp (arena full) overflows the record: never sent, answered InternalFailure. */
	andon_idem_record(&w->pre[j->pre_id], &w->arena, j->account, &j->req, fp, w->cfg->request_id_ttl);
	j->pre_lookup = -1;
	if (c->resolve != NULL) {
		j->pre_lookup = (int)w->npre++;
		w->pre[j->pre_lookup] = *c;
	}
}

/* What the signature check of one message is given (andon_request_auth_fn's opaque). */
typedef struct auth_ctx {
	andon_worker_t *w;
	const rd_kafka_message_t *m;
	char *key_id; /* the job's, set when accepted */
} auth_ctx_t;

static int auth_check(void *opaque, const andon_op_t *op, const andon_req_t *req,
		      char account[ANDON_REQUEST_ACCOUNT_SIZE], const char **key_id, andon_apierr_t *err)
{
	auth_ctx_t *x = opaque;
	const char *reason = NULL;

	if (andon_auth_check_message(x->w->auth, x->m, op, req, account, err, &reason) == 0) {
		*key_id = andon_auth_key_id(x->w->auth);
		snprintf(x->key_id, 65, "%s", *key_id);
		return 0;
	}
	andon_stats_auth_refused(x->w->stats, reason);
	andon_log_req(ANDON_LOG_INFO, req->id, req->id_len, "refused (%s): %s: %s", reason, err->code,
		      err->message);
	return -1;
}

/* Decodes and validates one message; a valid request gets its engine call built in w->calls[ncalls]. */
static void prepare(andon_worker_t *w, job_t *j, size_t *ncalls)
{
	auth_ctx_t actx = {w, j->msg, j->key_id};
	const rd_kafka_message_t *m = j->msg;
	andon_call_t *gate = &w->pre[w->npre]; /* where an adapter's gate goes, if it asks for one */
	char reason[256];

	_Static_assert(sizeof(j->account) == ANDON_REQUEST_ACCOUNT_SIZE, "job account buffer");
	memset(&j->err, 0, sizeof(j->err));
	memset(&j->req, 0, sizeof(j->req));
	j->key_id[0] = '\0';
	if (andon_quar_poisoned(w->quar, m->partition, m->offset, reason, sizeof(reason))) {
		j->kind = JOB_DLQ; /* not even decoded: the poison may sit anywhere in processing */
		andon_apierr(&j->err, "Quarantined", 500, "%s", reason);
		return;
	}
	switch (andon_request_prepare_auth(
	    w->cfg, &w->arena, &w->zone, m->payload, m->len, &j->req, j->account, &w->calls[*ncalls], gate,
	    &j->err, w->cfg->auth == ANDON_AUTH_REQUIRED ? auth_check : NULL, &actx, w->kms)) {
	case ANDON_REQUEST_CALL:
		/* Older than its API keeps closed executions: refused before Redis (docs/PROTOCOL.md). */
		if (andon_request_expired(w->cfg, &j->req, rd_kafka_message_timestamp(m, NULL),
					  andon_wall_ms(), &j->err) != 0) {
			j->kind = JOB_ERROR;
			break;
		}
		j->kind = JOB_CALL;
		j->call = (int)(*ncalls)++;
		pre_add(w, j, gate->argc > 0);
		break;
	case ANDON_REQUEST_ERROR:
		j->kind = JOB_ERROR;
		break;
	case ANDON_REQUEST_DLQ:
		j->kind = JOB_DLQ;
		break;
	}
}

static void produce_dlq(andon_worker_t *w, job_t *j)
{
	const rd_kafka_message_t *m = j->msg;

	andon_out_dead_letter(w, j->err.code, j->err.message, rd_kafka_topic_name(m->rkt), m->partition,
			      m->offset, rd_kafka_message_timestamp(m, NULL), m->key, m->key_len, m->payload,
			      m->len, j->seq);
	andon_log_req(ANDON_LOG_INFO, j->req.id, j->req.id_len, "dead-lettered %s [%d] @%lld: %s: %s",
		      rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset, j->err.code,
		      j->err.message);
}

static const char *reply_topic(const andon_worker_t *w, const job_t *j, char *buf, size_t size)
{
	if (j->req.reply_to == NULL)
		return w->cfg->topic_replies;
	snprintf(buf, size, "%.*s", (int)j->req.reply_to_len, j->req.reply_to);
	return buf;
}

/*
 * The reply body of job j's engine answer r: the packed body the function returned, or for a compact
 * answer the one its adapter builds (with its outputs) into w->built. 0, or -1 with j->err set.
 */
static int engine_body(andon_worker_t *w, job_t *j, const redisReply *r, const char **body, size_t *len)
{
	const andon_call_t *c = &w->calls[j->call];

	if (!andon_out_answer_ok(r))
		return andon_apierr(&j->err, "InternalFailure", 500, "engine error: %s",
				    r == NULL			   ? "no reply"
				    : r->type == REDIS_REPLY_ERROR ? r->str
								   : "malformed reply");
	if (!andon_out_compact(r)) {
		*body = r->element[2]->str;
		*len = r->element[2]->len;
		return 0;
	}
	andon_built_reset(&w->built, &w->sb_built);
	if (c->build == NULL || c->build(&j->req, j->account, r->element[2], &w->built) != 0)
		return andon_apierr(&j->err, "InternalFailure", 500,
				    "engine error: malformed compact answer");
	*body = w->sb_built.data;
	*len = w->built.body_len;
	return 0;
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
		const char *body = NULL;
		size_t len = 0;
		int ok;

		r = w->replies[j->call];
		if (engine_body(w, j, r, &body, &len) == 0 &&
		    andon_kms_reveal(w->kms, &j->req, j->account, j->key_id[0] != '\0' ? j->key_id : NULL,
				     &body, &len, &w->sb_kms, &j->err) == 0) {
			ok = r->element[1]->integer != 0;
			andon_proto_reply_raw(&w->sb, &j->req, ok, body, len);
			andon_out_produce(w, to, j->req.id, j->req.id_len, w->sb.data, w->sb.size, j->seq);
			andon_stats_answered_raw(w->stats, j->sop, ok, body, len, &w->zone);
			/* A duplicate re-sends its outputs too: the first attempt may have died before they
			 * were acknowledged. Subscribers deduplicate events by eventId. */
			if (andon_out_compact(r))
				andon_out_emit_built(w, &w->built, j->seq);
			andon_out_emit(w, r, j->seq);
			w->answered++;
			goto done;
		}
		j->kind = JOB_ERROR;
	}
	andon_proto_reply_err(&w->sb, &j->req, &j->err);
	andon_out_produce(w, to, j->req.id, j->req.id_len, w->sb.data, w->sb.size, j->seq);
	andon_stats_answered(w->stats, j->sop, j->err.code, strlen(j->err.code));
	w->answered++;
	if (j->err.bad_input || j->err.status >= 500)
		produce_dlq(w, j);
done:
	andon_out_release(w, j->seq);
}

/* A request that the first round answered: an error reply, and its call never runs. */
static void refuse(job_t *j, andon_call_t *c)
{
	j->kind = JOB_ERROR;
	c->skip = 1;
}

/*
 * Reads the first round of jobs [from, to): a request whose id belongs to another request is answered
 * IdempotentParameterMismatch; a lookup's value builds the real call in the lookup's place; a gate's answer
 * becomes the call's '@gate' field. What fails here is answered and its call skipped.
 */
static void round_one(andon_worker_t *w, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		job_t *j = &w->jobs[i];
		andon_call_t *c;
		redisReply *r;
		andon_ctx_t ctx;
		int idem;

		if (j->kind != JOB_CALL)
			continue;
		c = &w->calls[j->call];
		if ((idem = andon_idem_check(w->pre_replies[j->pre_id], j->fp)) <= 0) {
			r = w->pre_replies[j->pre_id];
			if (idem == 0)
				andon_apierr(&j->err, "IdempotentParameterMismatch", 400,
					     "request id %.*s was already used for a different request",
					     (int)j->req.id_len, j->req.id);
			else
				andon_apierr(&j->err, "InternalFailure", 500, "request id record: %s",
					     r != NULL && r->type == REDIS_REPLY_ERROR ? r->str
										       : "not recorded");
			refuse(j, c);
			continue;
		}
		if (j->pre_lookup >= 0) {
			r = w->pre_replies[j->pre_lookup];
			if (r == NULL || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL)) {
				andon_apierr(&j->err, "InternalFailure", 500, "lookup: %s",
					     r != NULL && r->type == REDIS_REPLY_ERROR ? r->str : "no reply");
				refuse(j, c);
				continue;
			}
			andon_request_ctx(w->cfg, &w->arena, j->account, &ctx);
			if (c->resolve(&ctx, &j->req, r->type == REDIS_REPLY_STRING ? r->str : NULL, r->len,
				       c, &j->err) != 0) {
				refuse(j, c);
				continue;
			}
			andon_request_stamp(w->cfg, &w->arena, c, j->account);
		}
		if (j->pre_gate >= 0) {
			r = w->pre_replies[j->pre_gate];
			if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
				andon_apierr(&j->err, "InternalFailure", 500, "gate: %s",
					     r != NULL && r->type == REDIS_REPLY_ERROR ? r->str : "no reply");
				refuse(j, c);
				continue;
			}
			andon_call_field(c, "@gate", r->integer != 0 ? "1" : "0", 1);
		}
		if (c->overflow) {
			andon_apierr(&j->err, "InternalFailure", 500,
				     "request has too many fields or too long names");
			refuse(j, c);
		}
	}
}

/*
 * Runs jobs [from, to) whose calls are w->calls[0..ncalls): one Redis pipeline, then every answer.
 * Returns 0, or -1 when Redis stayed away through a shutdown (nothing answered, nothing acknowledged).
 */
static int run_chunk(andon_worker_t *w, size_t from, size_t to, size_t ncalls)
{
	int rc = 0;

	/* Two rounds: id records, gates and lookups first; then the changes, all of them at once. */
	if (ncalls > 0 &&
	    (andon_engine_exec(w->engine, w->pre, w->npre, w->pre_replies, w->run,
			       andon_now_us() + (int64_t)w->cfg->shutdown_timeout_ms * 1000) != 0 ||
	     (round_one(w, from, to),
	      andon_engine_exec(w->engine, w->calls, ncalls, w->replies, w->run,
				andon_now_us() + (int64_t)w->cfg->shutdown_timeout_ms * 1000)) != 0 ||
	     andon_worker_post_write(w, w->replies, ncalls) != 0)) {
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
	for (size_t i = 0; i < w->npre; i++) {
		freeReplyObject(w->pre_replies[i]);
		w->pre_replies[i] = NULL;
	}
	w->npre = 0;
	andon_arena_reset(&w->arena);
	msgpack_zone_clear(&w->zone);
	return rc;
}

/*
 * One batch: decode all, one Redis pipeline for all, produce all answers. A batch whose keys would not fit
 * in the arena is cut into chunks, so what a request is answered never depends on its neighbours.
 * Returns 0, or -1 when Redis gave up during a shutdown.
 */
static int process(andon_worker_t *w, rd_kafka_message_t **msgs, size_t n)
{
	size_t ncalls = 0, njobs = 0, from = 0, i = 0;

	/* Recorded before anything is decoded: whatever kills the worker now, the next owner knows. */
	if (andon_quar_begin(w->quar, msgs, n, w->run,
			     andon_now_us() + (int64_t)w->cfg->shutdown_timeout_ms * 1000) != 0) {
		andon_err("redis unavailable at shutdown; %zu request(s) left for redelivery", n);
		goto stuck;
	}
	for (i = 0; i < n; i++) {
		rd_kafka_message_t *m = msgs[i];
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
		andon_track_stamp(w->track, j->seq, rd_kafka_message_timestamp(m, NULL));
		prepare(w, j, &ncalls);
		j->sop = andon_stats_consumed(w->stats, j->req.op, j->req.op_len);
	}
	w->consumed += njobs;
	w->batches++;
	andon_stats_batch(w->stats, njobs);
	return run_chunk(w, from, njobs, ncalls);
stuck:
	/* Not yet tracked, so never acknowledged either: their offsets are not stored. */
	for (; i < n; i++)
		rd_kafka_message_destroy(msgs[i]);
	return -1;
}

/*
 * Processes the polled batch w->msgs[0..n) in order, giving each message of a range its partition's last
 * owner died with (andon_quar_alone) a batch of its own, so that a death there names one offset.
 */
static int process_all(andon_worker_t *w, size_t n)
{
	size_t from = 0;
	int rc = 0;

	/* process() disposes of the messages it is given, whatever it returns; the rest are left here. */
	for (size_t i = 0; i < n; i++) {
		const rd_kafka_message_t *m = w->msgs[i];

		if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR ||
		    !andon_quar_alone(w->quar, m->partition, m->offset))
			continue;
		if (i > from && (rc = process(w, w->msgs + from, i - from)) != 0) {
			from = i;
			break;
		}
		from = i + 1;
		if ((rc = process(w, w->msgs + i, 1)) != 0)
			break;
	}
	if (rc == 0 && from < n)
		return process(w, w->msgs + from, n - from);
	for (; from < n; from++)
		rd_kafka_message_destroy(w->msgs[from]);
	return rc;
}

/* The polled batch; with exactly-once into the open transaction (output.c, txn.h). 0, or -1 when the
 * worker must stop (Redis gave up during a shutdown, or the producer failed for good). */
static int process_batch(andon_worker_t *w, size_t n)
{
	if (andon_out_begin(w, w->msgs, n) != 0) {
		for (size_t i = 0; i < n; i++)
			rd_kafka_message_destroy(w->msgs[i]);
		return -1;
	}
	if (process_all(w, n) == 0)
		return 0;
	/* Unfinished: what is open is aborted, and consumed again by the next owner. */
	andon_out_commit(w, 0);
	return -1;
}

/* How long a poll waits for the first message: poll_ms, or with an open transaction up to its age limit
 * (worker.transaction_ms) but no more than 2 ms: a transaction commits when requests pause, and a lone
 * request is not held back. */
static int poll_wait_ms(const andon_worker_t *w)
{
	int64_t left;

	if (!andon_out_txn_open(w))
		return w->cfg->poll_ms;
	left = (int64_t)w->cfg->transaction_ms - andon_txn_age_us(w->txn) / 1000;
	return left <= 0 ? 0 : left < 2 ? (int)left : 2;
}

static void stats(const andon_worker_t *w)
{
	andon_info(
	    "stats: consumed %llu answered %llu events %llu timers %llu dlq %llu redelivered %llu "
	    "lost %llu batches %llu inflight %zu redis-reconnects %lu txn-commits %llu txn-aborts %llu",
	    w->consumed, w->answered, w->events, w->timers, w->dlq, w->redelivered, w->lost, w->batches,
	    andon_track_count(w->track), andon_engine_reconnects(w->engine), andon_txn_commits(w->txn),
	    andon_txn_aborts(w->txn));
}

/*
 * A reload (SIGHUP) between batches: the owner of the settings reads them again and applies what can
 * change; then what was sized from them at start follows (the arena grows for larger requests, the DLQ
 * keeps as much of an original as the new limit allows).
 */
static void reload(andon_worker_t *w)
{
	andon_arena_t bigger;

	*w->hup = 0;
	/* Before the first READY=1 there is nothing to tell: READY=1 waits for the assignment. */
	if (w->notified_ready)
		andon_service_reloading(w->svc);
	if (w->reload(w->reload_opaque) == 0) {
		w->dlq_original_max = dlq_original_max(w->cfg, rd_kafka_conf(w->producer));
		if (arena_size(w->cfg) > w->arena.cap) {
			if (andon_arena_init(&bigger, arena_size(w->cfg)) == 0) {
				andon_arena_free(&w->arena); /* empty between batches */
				w->arena = bigger;
			} else {
				andon_err("reload: no memory for a larger batch arena; requests near "
					  "worker.max_message_bytes may be answered InternalFailure");
			}
		}
		andon_http_stall_ms(w->http, w->cfg->health_stall_ms);
	}
	if (w->notified_ready)
		andon_service_ready(w->svc, "reloaded");
}

/* The periodic hook: everything time-driven happens here, each with its own period. */
static void cron(andon_worker_t *w)
{
	int64_t now = andon_now_us();

	if (w->hup != NULL && *w->hup)
		reload(w);
	andon_timers_sweep(w);
	andon_quar_clear(w->quar, w->run, now + (int64_t)w->cfg->shutdown_timeout_ms * 1000);
	if (w->cfg->stats_interval_ms > 0 && now >= w->next_stats_us) {
		w->next_stats_us = now + (int64_t)w->cfg->stats_interval_ms * 1000;
		stats(w);
	}
	andon_stats_tick(w, now);
}

int andon_worker_run(andon_worker_t *w)
{
	size_t room;
	ssize_t n;
	int rc = 0;
	int64_t deadline, now;

	andon_info("consuming %s; answering on %s, events on %s, dead letters on %s", w->cfg->topic_requests,
		   w->cfg->topic_replies, w->cfg->topic_events, w->cfg->topic_dlq);
	while (*w->run && !w->fatal) {
		/* Never take more than the tracker can follow. */
		room = (size_t)w->cfg->inflight_max - andon_track_count(w->track);
		if (room > (size_t)w->cfg->batch_size)
			room = (size_t)w->cfg->batch_size;
		if (room == 0) {
			andon_out_settle(w, 10);
			if (andon_out_commit_due(w, 1) < 0)
				rc = -1;
			continue;
		}
		/* Wait for the first message only, then take what is already fetched: a batch never waits
		 * to fill up, so one lone request is answered at once. An open transaction waits a moment at
		 * most (poll_wait_ms): when nothing more comes, it commits. */
		n = 0;
		if ((w->msgs[0] = rd_kafka_consumer_poll(w->consumer, poll_wait_ms(w))) != NULL) {
			n = rd_kafka_consume_batch_queue(w->queue, 0, w->msgs + 1, room - 1);
			n = n < 0 ? 1 : n + 1;
		}
		if ((n > 0 && process_batch(w, (size_t)n) != 0) || andon_out_commit_due(w, n == 0) < 0) {
			rc = -1;
			break;
		}
		andon_out_settle(w, 0);
		now = andon_now_us();
		andon_health_beat(w, now);
		if (now >= w->next_tick_us) {
			w->next_tick_us = now + (int64_t)w->cfg->tick_ms * 1000;
			cron(w);
		}
	}
	/* Shutdown order: stop polling (done), commit what is open (exactly-once), drain acknowledgements,
	 * commit, close the consumer. */
	andon_health_stopping(w);
	if (!w->fatal && andon_out_commit(w, 1) < 0)
		rc = -1;
	andon_info("shutting down: %zu message(s) awaiting acknowledgement", andon_track_count(w->track));
	deadline = andon_now_us() + (int64_t)w->cfg->shutdown_timeout_ms * 1000;
	if (andon_out_drain(w, deadline) != 0) {
		andon_err("shutdown: %zu message(s) not acknowledged in time; they will be consumed again",
			  andon_track_count(w->track));
		rc = -1;
	}
	andon_timers_settle(w); /* what the last sweep fired is acknowledged now: remove it */
	if (w->txn == NULL)
		rd_kafka_commit(w->consumer, NULL, 0);
	rd_kafka_consumer_close(w->consumer);
	if (w->fatal)
		rc = -1;
	stats(w);
	return rc;
}

void andon_worker_on_reload(andon_worker_t *w, volatile sig_atomic_t *flag, andon_worker_reload_fn *fn,
			    void *opaque)
{
	w->hup = flag;
	w->reload = fn;
	w->reload_opaque = opaque;
}

void andon_worker_destroy(andon_worker_t *w)
{
	if (w == NULL)
		return;
	andon_http_stop(w->http); /* first: its thread reads the metrics */
	andon_txn_destroy(w->txn);
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
	andon_out_redo_clear(w);
	if (w->offsets != NULL)
		rd_kafka_topic_partition_list_destroy(w->offsets);
	andon_quar_destroy(w->quar);
	andon_auth_destroy(w->auth);
	andon_kms_destroy(w->kms);
	andon_engine_destroy(w->engine);
	andon_track_destroy(w->track);
	andon_arena_free(&w->arena);
	if (w->zone_ok)
		msgpack_zone_destroy(&w->zone);
	msgpack_sbuffer_destroy(&w->sb);
	msgpack_sbuffer_destroy(&w->sb_dead);
	msgpack_sbuffer_destroy(&w->sb_built);
	msgpack_sbuffer_destroy(&w->sb_kms);
	free(w->msgs);
	free(w->jobs);
	free(w->calls);
	free(w->replies);
	free(w->pre);
	free(w->pre_replies);
	free(w->post);
	free(w->post_replies);
	andon_timers_free(w);
	free(w->timer_key);
	andon_stats_destroy(w->stats);
	andon_service_destroy(w->svc);
	free(w);
}
