/* harness-stream: a paced request stream with its own Kafka clients and threads, for fault tests. */
#include "harness-stream.h"

#include "codec.h"
#include "harness-kafka.h"
#include "harness.h"
#include "json.h"
#include "kafka.h"

#include <librdkafka/rdkafka.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

/* One request of the stream: index 2i starts execution i, 2i+1 stops it. */
typedef struct req {
	long long sent_ms;   /* 0: not sent */
	long long answer_ms; /* first reply; 0: none yet */
	unsigned replies;
	int partition;	   /* of andon.requests, from the delivery report; -1 until then */
	int ok;		   /* first reply's ok */
	char status[16];   /* first stop reply's body.status */
	int contradiction; /* a later reply differed from the first */
} req_t;

struct hf_stream {
	char name[64], sm_arn[256];
	int rate;
	size_t max;
	req_t *reqs;
	size_t sent; /* requests produced so far */
	pthread_mutex_t lock;
	pthread_t sender, reader;
	volatile int sending, reading;
	rd_kafka_t *producer, *consumer;
};

#define DIE(...)                                                                                             \
	do {                                                                                                 \
		fprintf(stderr, "harness-stream: " __VA_ARGS__);                                             \
		fprintf(stderr, "\n");                                                                       \
		h_stop();                                                                                    \
		abort();                                                                                     \
	} while (0)

/* Refused connections to a broker killed on purpose are expected: only critical lines are shown. */
static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	if (level <= 2)
		andon_kafka_log_cb(rk, level, fac, buf);
}

/* Delivery report: which partition request k (the message's opaque) went to. */
static void delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	hf_stream_t *s = opaque;
	size_t k = (size_t)(uintptr_t)m->_private;

	(void)rk;
	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "harness-stream: request %zu not delivered: %s\n", k,
			rd_kafka_err2str(m->err));
		return;
	}
	pthread_mutex_lock(&s->lock);
	s->reqs[k].partition = m->partition;
	pthread_mutex_unlock(&s->lock);
}

static rd_kafka_t *client(hf_stream_t *s, rd_kafka_type_t type, const char *const *props)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char err[512];
	rd_kafka_t *rk;

	if (andon_kafka_conf_set(conf, "bootstrap.servers", h_brokers(), err, sizeof(err)) != 0 ||
	    andon_kafka_conf_set_pairs(conf, props, err, sizeof(err)) != 0)
		DIE("%s", err);
	rd_kafka_conf_set_log_cb(conf, quiet_log);
	rd_kafka_conf_set_opaque(conf, s);
	if (type == RD_KAFKA_PRODUCER)
		rd_kafka_conf_set_dr_msg_cb(conf, delivered);
	if ((rk = andon_kafka_new(type, conf, err, sizeof(err))) == NULL)
		DIE("%s", err);
	return rk;
}

static void exec_name(const hf_stream_t *s, size_t i, char *buf, size_t size)
{
	snprintf(buf, size, "%s-%zu", s->name, i);
}

static void exec_arn(const hf_stream_t *s, size_t i, char *buf, size_t size)
{
	snprintf(buf, size, "arn:aws:states:" H_REGION ":" H_ACCOUNT ":execution:%s:%s-%zu", s->name, s->name,
		 i);
}

static void send_one(hf_stream_t *s, size_t k)
{
	char id[96], arn[256], name[96];
	json_t *req, *body;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char err[256];
	rd_kafka_resp_err_t e;
	size_t i = k / 2;

	exec_arn(s, i, arn, sizeof(arn));
	snprintf(id, sizeof(id), "%s-%zu-%c", s->name, i, k % 2 == 0 ? 's' : 't');
	if (k % 2 == 0) {
		exec_name(s, i, name, sizeof(name));
		body = json_pack("{s:s, s:s}", "stateMachineArn", s->sm_arn, "name", name);
	} else {
		body = json_pack("{s:s, s:s}", "executionArn", arn, "error", "Halted");
	}
	req = json_pack("{s:i, s:s, s:s, s:o}", "v", 1, "op",
			k % 2 == 0 ? "StepFunctions.StartExecution" : "StepFunctions.StopExecution", "id", id,
			"body", body);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (andon_json_to_msgpack(req, &pk, err, sizeof(err)) != 0)
		DIE("encode: %s", err);
	json_decref(req);
	pthread_mutex_lock(&s->lock);
	s->reqs[k].sent_ms = h_now_ms();
	s->reqs[k].partition = -1;
	s->sent = k + 1;
	pthread_mutex_unlock(&s->lock);
	while ((e = rd_kafka_producev(s->producer, RD_KAFKA_V_TOPIC("andon.requests"),
				      RD_KAFKA_V_KEY(arn, strlen(arn)), RD_KAFKA_V_VALUE(sb.data, sb.size),
				      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				      RD_KAFKA_V_OPAQUE((void *)(uintptr_t)k), RD_KAFKA_V_END)) ==
	       RD_KAFKA_RESP_ERR__QUEUE_FULL)
		rd_kafka_poll(s->producer, 10);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
		DIE("produce: %s", rd_kafka_err2str(e));
	msgpack_sbuffer_destroy(&sb);
}

/* Sends pairs at s->rate requests per second, catching up in 5 ms steps, until stopped or done. */
static void *sender(void *arg)
{
	hf_stream_t *s = arg;
	long long t0 = h_now_ms();
	size_t k = 0;

	while (s->sending && k < s->max) {
		size_t due = (size_t)((h_now_ms() - t0) * s->rate / 1000);

		due += due % 2; /* whole pairs */
		while (k < due && k < s->max)
			send_one(s, k++);
		rd_kafka_poll(s->producer, 5);
	}
	s->sending = 0;
	rd_kafka_flush(s->producer, 120000);
	return NULL;
}

/* Index of the stream request a reply id names, or -1. */
static long long index_of(const hf_stream_t *s, const char *id)
{
	size_t len = strlen(s->name);
	unsigned long long i;
	char kind, end;

	if (id == NULL || strncmp(id, s->name, len) != 0 || id[len] != '-' ||
	    sscanf(id + len + 1, "%llu-%c%c", &i, &kind, &end) != 2 || (kind != 's' && kind != 't'))
		return -1;
	return (long long)(2 * i + (kind == 't'));
}

static void record(hf_stream_t *s, const rd_kafka_message_t *m)
{
	msgpack_zone zone;
	msgpack_object o;
	json_t *v = NULL;
	char err[128];
	long long k;

	msgpack_zone_init(&zone, 4096);
	if (andon_codec_unpack(m->payload, m->len, 64, &zone, &o, err, sizeof(err)) == 0)
		v = andon_json_from_msgpack(&o);
	msgpack_zone_destroy(&zone);
	if (v == NULL || (k = index_of(s, json_string_value(json_object_get(v, "id")))) < 0 ||
	    (size_t)k >= s->max) {
		json_decref(v);
		return;
	}
	pthread_mutex_lock(&s->lock);
	{
		req_t *r = &s->reqs[k];
		int ok = json_is_true(json_object_get(v, "ok"));
		const char *st = json_string_value(json_object_get(json_object_get(v, "body"), "status"));

		if (r->replies++ == 0) {
			r->answer_ms = h_now_ms();
			r->ok = ok;
			snprintf(r->status, sizeof(r->status), "%s", st != NULL ? st : "");
		} else if (r->ok != ok || strcmp(r->status, st != NULL ? st : "") != 0) {
			r->contradiction = 1;
		}
	}
	pthread_mutex_unlock(&s->lock);
	json_decref(v);
}

static void *reader(void *arg)
{
	hf_stream_t *s = arg;

	while (s->reading) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(s->consumer, 50);

		if (m == NULL)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
			record(s, m);
		rd_kafka_message_destroy(m);
	}
	return NULL;
}

hf_stream_t *hf_stream_start(const char *name, int rate, size_t max_requests)
{
	/* The stream's own clients reconnect as fast as the worker, so recovery times are the worker's. */
	static const char *const pprops[] = {
	    "linger.ms", "5", "enable.idempotence", "true", "reconnect.backoff.max.ms", "1000", NULL};
	static const char *const cprops[] = {"group.id",
					     "andon-stream-reader",
					     "enable.auto.commit",
					     "false",
					     "fetch.wait.max.ms",
					     "100",
					     "reconnect.backoff.max.ms",
					     "1000",
					     NULL};
	hf_stream_t *s = calloc(1, sizeof(*s));
	rd_kafka_topic_partition_list_t *l;
	int32_t *ids = NULL;
	int n;

	if (s == NULL || (s->reqs = calloc(max_requests + 2, sizeof(*s->reqs))) == NULL)
		DIE("out of memory");
	snprintf(s->name, sizeof(s->name), "%s", name);
	{
		char *arn = h_sfn_machine(name, "STANDARD");
		snprintf(s->sm_arn, sizeof(s->sm_arn), "%s", arn);
		free(arn);
	}
	s->rate = rate;
	s->max = max_requests;
	pthread_mutex_init(&s->lock, NULL);
	s->producer = client(s, RD_KAFKA_PRODUCER, pprops);
	s->consumer = client(s, RD_KAFKA_CONSUMER, cprops);
	n = hk_partitions(s->producer, "andon.replies", &ids);
	l = rd_kafka_topic_partition_list_new(n);
	for (int i = 0; i < n; i++)
		rd_kafka_topic_partition_list_add(l, "andon.replies", ids[i])->offset =
		    RD_KAFKA_OFFSET_BEGINNING;
	free(ids);
	if (rd_kafka_assign(s->consumer, l) != RD_KAFKA_RESP_ERR_NO_ERROR)
		DIE("assign andon.replies");
	rd_kafka_topic_partition_list_destroy(l);
	s->sending = s->reading = 1;
	if (pthread_create(&s->reader, NULL, reader, s) != 0 ||
	    pthread_create(&s->sender, NULL, sender, s) != 0)
		DIE("pthread_create");
	return s;
}

void hf_stream_stop(hf_stream_t *s)
{
	if (s->sender) {
		s->sending = 0;
		pthread_join(s->sender, NULL);
		s->sender = 0;
	}
}

size_t hf_stream_sent(hf_stream_t *s)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = s->sent;
	pthread_mutex_unlock(&s->lock);
	return n;
}

size_t hf_stream_answered(hf_stream_t *s)
{
	size_t n = 0, sent;

	pthread_mutex_lock(&s->lock);
	sent = s->sent;
	for (size_t k = 0; k < sent; k++)
		n += s->reqs[k].replies > 0;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/*
 * Per partition, the first request sent at or after t_ms; the recovery is the latest of their answers:
 * until then some partition was not served. A partition must have been sent to within 2 s after t_ms.
 */
long long hf_stream_recovery(hf_stream_t *s, long long t_ms, int timeout_ms)
{
	long long deadline = h_now_ms() + timeout_ms;
	enum { MAXP = 64 };
	size_t k = 0;

	/* The first request sent at or after t_ms. */
	for (;;) {
		pthread_mutex_lock(&s->lock);
		while (k < s->sent && s->reqs[k].sent_ms < t_ms)
			k++;
		pthread_mutex_unlock(&s->lock);
		if (k < s->sent)
			break;
		if (h_now_ms() >= deadline)
			return -1;
		h_sleep_ms(5);
	}
	for (;;) {
		long long first[MAXP] = {0}, latest = 0;
		int waiting = 0;

		/* Requests sent within 2 s of t_ms name the partitions; each one's first must be answered. */
		pthread_mutex_lock(&s->lock);
		for (size_t j = k; j < s->sent && s->reqs[j].sent_ms < t_ms + 2000; j++) {
			const req_t *r = &s->reqs[j];

			if (r->partition < 0 || r->partition >= MAXP) {
				waiting |= r->partition < 0; /* not yet acknowledged: partition unknown */
				continue;
			}
			if (first[r->partition] != 0)
				continue;
			first[r->partition] = r->answer_ms > 0 ? r->answer_ms : -1;
		}
		pthread_mutex_unlock(&s->lock);
		for (int p = 0; p < MAXP; p++) {
			if (first[p] < 0)
				waiting = 1;
			else if (first[p] > latest)
				latest = first[p];
		}
		if (!waiting && latest > 0 && h_now_ms() >= t_ms + 2000)
			return latest - t_ms;
		if (h_now_ms() >= deadline)
			return -1;
		h_sleep_ms(10);
	}
}

/* Checks every execution in Redis, pipelined: two history events and the stopped state each. */
static void check_one(redisReply *len, redisReply *st, hf_report_t *rep)
{
	if (len == NULL || st == NULL)
		DIE("redis: no reply");
	if (len->type != REDIS_REPLY_INTEGER || len->integer < 2)
		rep->lost++;
	else if (len->integer > 2)
		rep->applied_twice++;
	if (st->type != REDIS_REPLY_STRING || strcmp(st->str, "STOPPED") != 0)
		rep->contradictions++;
	freeReplyObject(len);
	freeReplyObject(st);
}

static void check_redis(hf_stream_t *s, size_t executions, hf_report_t *rep)
{
	redisContext *rc;
	char arn[256];
	size_t chunk = 500;

	if (h_redis_cluster()) {
		/* Executions spread over the cluster: one command at a time, routed by the harness. */
		for (size_t i = 0; i < executions; i++) {
			exec_arn(s, i, arn, sizeof(arn));
			check_one(h_redis("LLEN andon:{%s}:h", arn), h_redis("HGET andon:{%s}:x st", arn),
				  rep);
		}
		return;
	}
	rc = h_redis_ctx();
	for (size_t from = 0; from < executions; from += chunk) {
		size_t to = from + chunk < executions ? from + chunk : executions;

		for (size_t i = from; i < to; i++) {
			exec_arn(s, i, arn, sizeof(arn));
			redisAppendCommand(rc, "LLEN andon:{%s}:h", arn);
			redisAppendCommand(rc, "HGET andon:{%s}:x st", arn);
		}
		for (size_t i = from; i < to; i++) {
			redisReply *len = NULL, *st = NULL;

			if (redisGetReply(rc, (void **)&len) != REDIS_OK ||
			    redisGetReply(rc, (void **)&st) != REDIS_OK)
				DIE("redis: %s", rc->errstr);
			check_one(len, st, rep);
		}
	}
}

int hf_stream_finish(hf_stream_t *s, int timeout_ms, hf_report_t *rep)
{
	long long deadline = h_now_ms() + timeout_ms;
	size_t sent;

	hf_stream_stop(s);
	sent = hf_stream_sent(s);
	while (hf_stream_answered(s) < sent && h_now_ms() < deadline)
		h_sleep_ms(20);
	h_sleep_ms(500); /* late duplicates of replayed requests */
	s->reading = 0;
	pthread_join(s->reader, NULL);
	s->reader = 0;

	memset(rep, 0, sizeof(*rep));
	rep->requests = sent;
	rep->executions = sent / 2;
	for (size_t k = 0; k < sent; k++) {
		const req_t *r = &s->reqs[k];

		if (r->replies == 0) {
			rep->lost++;
			continue;
		}
		rep->answered++;
		rep->answered_twice += r->replies > 1;
		if (!r->ok || r->contradiction || (k % 2 == 1 && strcmp(r->status, "ABORTED") != 0))
			rep->contradictions++;
	}
	check_redis(s, rep->executions, rep);
	fprintf(
	    stderr,
	    "%s: requests %zu (executions %zu), answered %zu, answered twice %zu, lost %zu, applied twice "
	    "%zu, contradictions %zu\n",
	    s->name, rep->requests, rep->executions, rep->answered, rep->answered_twice, rep->lost,
	    rep->applied_twice, rep->contradictions);
	return rep->lost == 0 && rep->applied_twice == 0 && rep->contradictions == 0 ? 0 : -1;
}

void hf_stream_free(hf_stream_t *s)
{
	if (s == NULL)
		return;
	hf_stream_stop(s);
	if (s->reader) {
		s->reading = 0;
		pthread_join(s->reader, NULL);
	}
	andon_kafka_consumer_close(s->consumer);
	andon_kafka_producer_close(s->producer, 5000, 0);
	pthread_mutex_destroy(&s->lock);
	free(s->reqs);
	free(s);
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return (x > y) - (x < y);
}

void hf_print_times(const char *label, const long long *ms, size_t n)
{
	long long *c;

	if (n == 0) {
		fprintf(stderr, "%s: none\n", label);
		return;
	}
	if ((c = malloc(n * sizeof(*c))) == NULL)
		return;
	memcpy(c, ms, n * sizeof(*c));
	qsort(c, n, sizeof(*c), cmp_ll);
	fprintf(stderr, "%s: %zu, min %lld ms, median %lld ms, max %lld ms\n", label, n, c[0], c[n / 2],
		c[n - 1]);
	free(c);
}

pid_t hf_worker_spawn(const char *instance_id, const char *const *opts)
{
	static char port[H_CLUSTER_NODES * 24 + 32], id[300];
	const char *args[40];
	char *kargs[8];
	int n = 0, nk = 0;

	if (h_redis_cluster())
		snprintf(port, sizeof(port), "redis.cluster=%s", h_redis_cluster_seeds());
	else
		snprintf(port, sizeof(port), "redis.port=%d", h_redis_port());
	args[n++] = "-b";
	args[n++] = h_brokers();
	args[n++] = "-o";
	args[n++] = port;
	hk_worker_args(kargs, &nk);
	for (int i = 0; i < nk; i++)
		args[n++] = kargs[i];
	args[n++] = "-X";
	args[n++] = "session.timeout.ms=6000";
	args[n++] = "-X";
	args[n++] = "heartbeat.interval.ms=500";
	args[n++] = "-o";
	args[n++] = "worker.shutdown_timeout_ms=15000";
	if (instance_id != NULL) {
		snprintf(id, sizeof(id), "worker.instance_id=%s", instance_id);
		args[n++] = "-o";
		args[n++] = id;
	}
	for (; opts != NULL && *opts != NULL && n < 38; opts++) {
		args[n++] = "-o";
		args[n++] = *opts;
	}
	args[n] = NULL;
	/* h_tool_start copies the arguments into the child at once, so the static buffers can be reused. */
	return h_tool_start("andon-worker", args);
}

void hf_worker_kill(pid_t pid)
{
	kill(pid, SIGKILL);
	h_tool_stop(pid); /* reaps it */
}

/* What the running fault test does before the harness starts (its own cluster, Redis settings). */
static void (*before_start)(void);

static int fault_setup(void **state)
{
	(void)state;
	if (before_start != NULL)
		before_start();
	h_start();
	return 0;
}

static int fault_teardown(void **state)
{
	(void)state;
	h_stop();
	return 0;
}

int hf_run(const char *name, const struct CMUnitTest *tests, size_t n, void (*before)(void))
{
	const char *kafka = getenv("ANDON_KAFKA");

	if (kafka != NULL && strcmp(kafka, "dev") == 0) {
		fprintf(stderr, "%s: skipped on the development broker (a real Kafka test)\n", name);
		return 0;
	}
	before_start = before;
	return _cmocka_run_group_tests(name, tests, n, fault_setup, fault_teardown);
}
