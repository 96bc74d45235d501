/*
 * 0115: exactly-once outputs on real Kafka. The worker (worker.exactly_once at its default, on) is killed
 * with SIGKILL at 50 random moments, and restarted at once with its instance id, under a steady stream of
 * mixed requests: Step Functions starts and stops, SageMaker stops whose callback steps a handler thread
 * answers when it reads their Stopping message (the handshake), and SWF terminates whose child policy
 * fans out to each run's children through the request topic. Two subscribers read every andon.* topic
 * (replies, events, DLQ, requests, the callback and decision topics) from the beginning: a read_committed
 * one must see every message exactly once and every message the other saw; the read_uncommitted one must
 * see messages more than once (the aborted and killed transactions), or the test proved nothing.
 */
#include "harness-eos.h"
#include "harness-sagemaker.h"
#include "harness-stream.h"
#include "harness-swf.h"
#include "harness.h"

#include "codec.h"
#include "json.h"
#include "kafka.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
	KILLS = 50,
	RATE = 400, /* Step Functions requests per second (start and stop pairs) */
	N_SM = 150, /* SageMaker executions with one running callback step each, stopped during the kills */
	SM_EVERY = 200, /* ms between two SageMaker stops */
	N_SWF = 50,	/* SWF parents with 3 children each, terminated during the kills */
	SWF_EVERY = 600,
	PROGRESS = 20, /* replies each worker life must have committed before it may be killed */
};

#define PIPELINE "eos"
#define CB_TOPIC "andon.pipeline." H_ACCOUNT "." PIPELINE ".callbacks"
#define DOM	 "eos"

static struct {
	char sm_arn[256];
	char *pipes[N_SM];
	hw_run_t parents[N_SWF], children[3 * N_SWF];
	rd_kafka_t *producer;
	pthread_mutex_t lock;
	json_t *expected; /* request ids that must be answered exactly once */
	size_t pairs;	  /* Step Functions executions started */
	size_t answered_tokens;
	volatile int sending, handling;
} S;

static void expect(const char *id)
{
	pthread_mutex_lock(&S.lock);
	json_object_set_new(S.expected, id, json_true());
	pthread_mutex_unlock(&S.lock);
}

/* Produces request {v, op, id, body} (body stolen) keyed by key, without waiting. */
static void send_req(const char *op, const char *id, const char *key, json_t *body)
{
	json_t *req = json_pack("{s:i, s:s, s:s, s:o}", "v", 1, "op", op, "id", id, "body", body);
	msgpack_sbuffer sb;
	msgpack_packer pk;
	rd_kafka_resp_err_t e;
	char err[256];

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	/* Runs on the sender and handler threads: no cmocka assertion here. */
	if (andon_json_to_msgpack(req, &pk, err, sizeof(err)) != 0) {
		fprintf(stderr, "0115: encode: %s\n", err);
		abort();
	}
	json_decref(req);
	expect(id);
	while ((e = rd_kafka_producev(S.producer, RD_KAFKA_V_TOPIC("andon.requests"),
				      RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(sb.data, sb.size),
				      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
	       RD_KAFKA_RESP_ERR__QUEUE_FULL)
		rd_kafka_poll(S.producer, 10);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "0115: produce: %s\n", rd_kafka_err2str(e));
		abort();
	}
	msgpack_sbuffer_destroy(&sb);
}

static void sfn_pair(size_t i)
{
	char arn[256], name[64], id[64];

	snprintf(name, sizeof(name), "x-%zu", i);
	snprintf(arn, sizeof(arn), "arn:aws:states:" H_REGION ":" H_ACCOUNT ":execution:eos:%s", name);
	snprintf(id, sizeof(id), "sfn-%zu-s", i);
	send_req("StepFunctions.StartExecution", id, arn,
		 json_pack("{s:s, s:s}", "stateMachineArn", S.sm_arn, "name", name));
	snprintf(id, sizeof(id), "sfn-%zu-t", i);
	send_req("StepFunctions.StopExecution", id, arn,
		 json_pack("{s:s, s:s}", "executionArn", arn, "error", "Halted"));
}

/* The stream: Step Functions pairs at RATE until told to stop, and every SageMaker stop and SWF terminate
 * spread over the first part of it. */
static void *sender(void *arg)
{
	long long t0 = h_now_ms();
	size_t k = 0, sm = 0, swf = 0;
	char id[64];

	(void)arg;
	while (S.sending || sm < N_SM || swf < N_SWF) {
		long long t = h_now_ms() - t0;
		size_t due = (size_t)(t * RATE / 2000);

		while (S.sending && k < due)
			sfn_pair(k++);
		for (; sm < N_SM && (long long)sm * SM_EVERY <= t; sm++) {
			snprintf(id, sizeof(id), "sm-stop-%zu", sm);
			send_req("SageMaker.StopPipelineExecution", id, S.pipes[sm],
				 hs_stop_body(S.pipes[sm]));
		}
		for (; swf < N_SWF && (long long)swf * SWF_EVERY <= t; swf++) {
			snprintf(id, sizeof(id), "swf-term-%zu", swf);
			send_req("SWF.TerminateWorkflowExecution", id, S.parents[swf].wid,
				 hw_exec(&S.parents[swf], 1));
		}
		rd_kafka_poll(S.producer, 5);
	}
	pthread_mutex_lock(&S.lock);
	S.pairs = k;
	pthread_mutex_unlock(&S.lock);
	rd_kafka_flush(S.producer, 60000);
	return NULL;
}

/* The step handler: reads the callback topic as a handler would (read_committed) and answers each step
 * that is being stopped, once per token. */
static void *handler(void *arg)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *l;
	json_t *answered = json_object();
	int32_t *ids = NULL;
	char err[512];
	rd_kafka_t *rk;
	int n;

	(void)arg;
	if (andon_kafka_conf_set(conf, "bootstrap.servers", h_brokers(), err, sizeof(err)) != 0 ||
	    andon_kafka_conf_set(conf, "group.id", "eos-handler", err, sizeof(err)) != 0 ||
	    andon_kafka_conf_set(conf, "isolation.level", "read_committed", err, sizeof(err)) != 0 ||
	    andon_kafka_conf_set(conf, "fetch.wait.max.ms", "50", err, sizeof(err)) != 0 ||
	    (rk = andon_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err))) == NULL) {
		fprintf(stderr, "0115: handler: %s\n", err);
		abort();
	}
	n = andon_kafka_partitions(rk, CB_TOPIC, NULL, 10000, &ids, err, sizeof(err));
	if (n <= 0) {
		fprintf(stderr, "0115: handler: %s\n", err);
		abort();
	}
	l = rd_kafka_topic_partition_list_new(n);
	for (int i = 0; i < n; i++)
		rd_kafka_topic_partition_list_add(l, CB_TOPIC, ids[i])->offset = RD_KAFKA_OFFSET_BEGINNING;
	free(ids);
	rd_kafka_assign(rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	while (S.handling) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
		msgpack_zone zone;
		msgpack_object o;
		json_t *v = NULL;
		const char *token, *status;
		char id[64];

		if (m == NULL)
			continue;
		msgpack_zone_init(&zone, 4096);
		if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR &&
		    andon_codec_unpack(m->payload, m->len, 32, &zone, &o, err, sizeof(err)) == 0)
			v = andon_json_from_msgpack(&o);
		msgpack_zone_destroy(&zone);
		rd_kafka_message_destroy(m);
		token = json_string_value(json_object_get(v, "token"));
		status = json_string_value(json_object_get(v, "status"));
		if (token != NULL && status != NULL && strcmp(status, "Stopping") == 0 &&
		    json_object_get(answered, token) == NULL) {
			json_object_set_new(answered, token, json_true());
			snprintf(id, sizeof(id), "sm-done-%zu", json_object_size(answered));
			send_req("SageMaker.SendPipelineExecutionStepSuccess", id, token,
				 json_pack("{s:s, s:[{s:s, s:s}]}", "CallbackToken", token,
					   "OutputParameters", "Name", "result", "Value", "42"));
			pthread_mutex_lock(&S.lock);
			S.answered_tokens = json_object_size(answered);
			pthread_mutex_unlock(&S.lock);
		}
		json_decref(v);
	}
	json_decref(answered);
	andon_kafka_consumer_close(rk);
	return NULL;
}

/* SageMaker executions with a running callback step, and SWF parents with three children each, set up
 * in bursts before the kills begin. */
static void setup_workflows(void)
{
	const char *ids[N_SM];
	hw_run_t *parents[3 * N_SWF];
	char *wids[3 * N_SWF];
	char wid[64];

	for (int i = 0; i < N_SM; i++)
		ids[i] = h_send("SageMaker.StartPipelineExecution", NULL, NULL,
				json_pack("{s:s}", "PipelineName", PIPELINE));
	h_flush();
	for (int i = 0; i < N_SM; i++) {
		json_t *r = h_reply(ids[i], 1, 60000);
		const char *arn =
		    json_string_value(json_object_get(json_object_get(r, "body"), "PipelineExecutionArn"));

		assert_non_null(arn);
		S.pipes[i] = strdup(arn);
		ids[i] = h_send("SageMaker.StartPipelineExecutionStep", NULL, NULL,
				json_pack("{s:s, s:s, s:s, s:{s:s}}", "PipelineExecutionArn", arn, "StepName",
					  "work", "StepType", "Callback", "Arguments", "step", "work"));
	}
	h_flush();
	for (int i = 0; i < N_SM; i++) {
		json_t *r = h_reply(ids[i], 1, 60000);

		if (!json_is_true(json_object_get(r, "ok")))
			json_dumpf(r, stderr, 0);
		assert_true(json_is_true(json_object_get(r, "ok")));
	}

	hw_domain(DOM, NULL);
	hw_type(DOM, "flow", "1", "TERMINATE");
	for (int i = 0; i < N_SWF; i++) {
		snprintf(wid, sizeof(wid), "p-%d", i);
		S.parents[i] = hw_start(DOM, wid, "flow", "1", NULL);
	}
	for (int i = 0; i < 3 * N_SWF; i++) {
		parents[i] = &S.parents[i / 3];
		if (asprintf(&wids[i], "c-%d", i) < 0)
			abort();
	}
	hw_children(3 * N_SWF, parents, wids, S.children);
	for (int i = 0; i < 3 * N_SWF; i++)
		free(wids[i]);
}

/* Requests of the stream not yet answered by a committed reply. */
static size_t unanswered(he_reader_t *rc)
{
	const char *id;
	json_t *v;
	size_t n = 0;

	pthread_mutex_lock(&S.lock);
	json_object_foreach(S.expected, id, v) n += he_replies(rc, id) == 0;
	pthread_mutex_unlock(&S.lock);
	return n;
}

/* Checks in Redis (the worker is stopped by now): every Step Functions execution stopped with two history
 * events, every SWF child terminated. Returns the number of executions in another state. */
static size_t wrong_states(size_t pairs)
{
	redisContext *c = h_redis_ctx();
	size_t wrong = 0;

	for (size_t i = 0; i < pairs; i++) {
		redisReply *len = NULL, *st = NULL;
		char arn[256];

		snprintf(arn, sizeof(arn), "arn:aws:states:" H_REGION ":" H_ACCOUNT ":execution:eos:x-%zu",
			 i);
		len = redisCommand(c, "LLEN andon:{%s}:h", arn);
		st = redisCommand(c, "HGET andon:{%s}:x st", arn);
		assert_non_null(len);
		assert_non_null(st);
		wrong += len->type != REDIS_REPLY_INTEGER || len->integer != 2 ||
			 st->type != REDIS_REPLY_STRING || strcmp(st->str, "STOPPED") != 0;
		freeReplyObject(len);
		freeReplyObject(st);
	}
	for (int i = 0; i < 3 * N_SWF; i++) {
		redisReply *st = redisCommand(c, "HGET andon:{swfw:" DOM ":%s:" H_ACCOUNT "}:x:%s st",
					      S.children[i].wid, S.children[i].rid);

		assert_non_null(st);
		wrong += st->type != REDIS_REPLY_STRING || strcmp(st->str, "TERMINATED") != 0;
		freeReplyObject(st);
	}
	return wrong;
}

static void worker_killed_50_times_outputs_once(void **state)
{
	static const char *const pprops[] = {"linger.ms", "5", "enable.idempotence", "true", NULL};
	unsigned seed = (unsigned)time(NULL);
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	he_reader_t *rc, *ru, *both[2];
	pthread_t send_thread, handle_thread;
	long long t0, deadline;
	char err[512];
	size_t left;
	pid_t pid;

	(void)state;
	srand(seed);
	pthread_mutex_init(&S.lock, NULL);
	S.expected = json_object();
	assert_int_equal(andon_kafka_conf_set(conf, "bootstrap.servers", h_brokers(), err, sizeof(err)), 0);
	assert_int_equal(andon_kafka_conf_set_pairs(conf, pprops, err, sizeof(err)), 0);
	assert_non_null(S.producer = andon_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err)));

	pid = hf_worker_spawn("eos-1", NULL);
	{
		char *arn = h_sfn_machine("eos", "STANDARD"); /* answered once the worker is up */
		snprintf(S.sm_arn, sizeof(S.sm_arn), "%s", arn);
		free(arn);
	}
	setup_workflows();
	rc = he_reader_start("read_committed");
	ru = he_reader_start("read_uncommitted");
	S.sending = S.handling = 1;
	assert_int_equal(pthread_create(&handle_thread, NULL, handler, NULL), 0);
	assert_int_equal(pthread_create(&send_thread, NULL, sender, NULL), 0);

	t0 = h_now_ms();
	for (int k = 0; k < KILLS; k++) {
		size_t base = he_reply_total(rc);

		/* Each life commits some work before it dies, then dies at a random moment of it. */
		for (deadline = h_now_ms() + 60000; he_reply_total(rc) < base + PROGRESS; h_sleep_ms(5))
			assert_true(h_now_ms() < deadline);
		h_sleep_ms(rand() % 700);
		hf_worker_kill(pid);
		pid = hf_worker_spawn("eos-1", NULL);
	}
	fprintf(stderr, "0115 (seed %u): %d kills in %lld ms\n", seed, KILLS, h_now_ms() - t0);
	S.sending = 0;
	pthread_join(send_thread, NULL);

	/* Everything answered, each handshake completed, then a clean stop: nothing is left open. */
	for (deadline = h_now_ms() + 120000; (left = unanswered(rc)) > 0 || S.answered_tokens < N_SM;
	     h_sleep_ms(50))
		if (h_now_ms() >= deadline) {
			fprintf(stderr, "0115: %zu request(s) unanswered, %zu of %d handshakes\n", left,
				S.answered_tokens, N_SM);
			fail();
		}
	S.handling = 0;
	pthread_join(handle_thread, NULL);
	assert_int_equal(h_tool_stop(pid), 0);
	both[0] = rc;
	both[1] = ru;
	assert_int_equal(he_settle(both, 2, 60000), 0);

	fprintf(stderr,
		"0115: requests %zu (Step Functions %zu, SageMaker stops %d and handler answers %zu, SWF "
		"terminates %d fanning out to %d children)\n",
		json_object_size(S.expected), 2 * S.pairs, N_SM, S.answered_tokens, N_SWF, 3 * N_SWF);
	fprintf(stderr, "0115: read_committed: %zu messages, %zu distinct, %zu read more than once\n",
		he_messages(rc), he_distinct(rc), he_repeated(rc));
	fprintf(stderr, "0115: read_uncommitted: %zu messages, %zu distinct, %zu read more than once\n",
		he_messages(ru), he_distinct(ru), he_repeated(ru));
	assert_int_equal(he_repeated(rc), 0);	    /* exactly once... */
	assert_int_equal(he_missing(ru, rc), 0);    /* ...everything that was ever produced */
	assert_int_equal(unanswered(rc), 0);	    /* every request answered */
	assert_true(he_repeated(ru) > 0);	    /* and the kills did leave uncommitted repeats */
	assert_int_equal(wrong_states(S.pairs), 0); /* every change applied once */

	he_reader_free(rc);
	he_reader_free(ru);
	andon_kafka_producer_close(S.producer, 5000, 0);
	json_decref(S.expected);
	for (int i = 0; i < N_SM; i++)
		free(S.pipes[i]);
	for (int i = 0; i < N_SWF; i++)
		hw_run_free(&S.parents[i]);
	for (int i = 0; i < 3 * N_SWF; i++)
		hw_run_free(&S.children[i]);
	pthread_mutex_destroy(&S.lock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(worker_killed_50_times_outputs_once),
	};

	return hf_run("0115-eos_worker_kill", tests, sizeof(tests) / sizeof(tests[0]), NULL);
}
