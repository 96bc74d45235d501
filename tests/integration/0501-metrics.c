/*
 * 0501: the worker's /metrics under load, read with a strict parser of the text exposition format 0.0.4
 * (tests/prom.c), and /readyz and /healthz through a Redis outage. Counters must move by exactly what was
 * sent; the gauges that need Redis (timers, Stopping steps) must follow what Redis holds.
 */
#include "harness-http.h"
#include "harness-sagemaker.h"
#include "harness-kafka.h"
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SFN "StepFunctions."

static int port;

/* Every family the worker exports, with its type (docs/OPERATIONS.md). */
static const struct {
	const char *name, *type;
} families[] = {
    {"andon_build_info", "gauge"},
    {"andon_requests_consumed_total", "counter"},
    {"andon_requests_answered_total", "counter"},
    {"andon_dead_letters_total", "counter"},
    {"andon_auth_refusals_total", "counter"},
    {"andon_events_total", "counter"},
    {"andon_produce_retries_total", "counter"},
    {"andon_dead_letters_lost_total", "counter"},
    {"andon_batch_messages", "histogram"},
    {"andon_redis_roundtrip_seconds", "histogram"},
    {"andon_redis_reconnects_total", "counter"},
    {"andon_redis_up", "gauge"},
    {"andon_redis_moved_total", "counter"},
    {"andon_redis_ask_total", "counter"},
    {"andon_redis_slot_map_reads_total", "counter"},
    {"andon_redis_wait_shortfalls_total", "counter"},
    {"andon_redis_node_calls_total", "counter"},
    {"andon_request_age_seconds", "histogram"},
    {"andon_kafka_consumer_lag_messages", "gauge"},
    {"andon_kafka_brokers_up", "gauge"},
    {"andon_inflight_messages", "gauge"},
    {"andon_ready", "gauge"},
    {"andon_timers_scheduled", "gauge"},
    {"andon_timers_due", "gauge"},
    {"andon_timers_claimed_total", "counter"},
    {"andon_timers_fired_total", "counter"},
    {"andon_sagemaker_stopping_executions", "gauge"},
    {"andon_sagemaker_stopping_steps", "gauge"},
    {"andon_sagemaker_stopping_oldest_seconds", "gauge"},
    {"andon_transactions_committed_total", "counter"},
    {"andon_transactions_aborted_total", "counter"},
    {"andon_process_resident_memory_bytes", "gauge"},
    {"andon_uptime_seconds", "gauge"},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* A value of a fresh scrape, 0 when no sample matches (a labelled series appears on first use). */
static double now_value(const char *name, const char *match)
{
	prom_t *p = hh_scrape(port);
	double v = prom_sum(p, name, match, NULL);

	prom_free(p);
	return v;
}

/* Scrapes until name{match} >= want (published on the worker's tick); fails after timeout_ms. */
static double wait_at_least(const char *name, const char *match, double want, int timeout_ms)
{
	long long deadline = h_now_ms() + timeout_ms;
	double v;

	while ((v = now_value(name, match)) < want) {
		if (h_now_ms() >= deadline)
			fail_msg("%s{%s} is %g after %d ms, expected at least %g", name, match ? match : "",
				 v, timeout_ms, want);
		h_sleep_ms(20);
	}
	return v;
}

/* Scrapes until name{match} == want; fails after timeout_ms. */
static void wait_equal(const char *name, const char *match, double want, int timeout_ms)
{
	long long deadline = h_now_ms() + timeout_ms;
	double v;

	while ((v = now_value(name, match)) != want) {
		if (h_now_ms() >= deadline)
			fail_msg("%s{%s} is %g after %d ms, expected %g", name, match ? match : "", v,
				 timeout_ms, want);
		h_sleep_ms(20);
	}
}

static int get(const char *path, char **body)
{
	return hh_get(port, path, body, NULL, 0);
}

static void every_family_is_there(void **state)
{
	prom_t *p = hh_scrape(port);

	(void)state;
	for (size_t i = 0; i < N(families); i++) {
		const char *t = prom_type(p, families[i].name);

		if (t == NULL || strcmp(t, families[i].type) != 0)
			fail_msg("family %s: type %s, expected %s", families[i].name, t ? t : "missing",
				 families[i].type);
	}
	/* Nothing else, and the naming rules: andon_ prefix, counters end in _total. */
	assert_int_equal(prom_families(p), N(families));
	for (size_t i = 0; i < prom_families(p); i++) {
		const char *name = prom_family(p, i);

		assert_int_equal(strncmp(name, "andon_", 6), 0);
		if (strcmp(prom_type(p, name), "counter") == 0)
			assert_string_equal(name + strlen(name) - 6, "_total");
	}
	assert_true(hh_value(p, "andon_build_info", NULL) == 1);
	assert_true(hh_value(p, "andon_process_resident_memory_bytes", NULL) > 1e6);
	assert_true(hh_value(p, "andon_ready", NULL) == 1);
	assert_true(hh_value(p, "andon_redis_up", NULL) == 1);
	assert_true(hh_value(p, "andon_transactions_aborted_total", NULL) == 0);
	prom_free(p);
}

/* True when every message p counts as consumed is done (its age observed) and nothing is in flight. */
static int settled(const prom_t *p)
{
	return prom_sum(p, "andon_requests_consumed_total", NULL, NULL) ==
		   prom_sum(p, "andon_request_age_seconds_count", NULL, NULL) &&
	       prom_sum(p, "andon_inflight_messages", NULL, NULL) == 0;
}

/*
 * A scrape once the worker is quiet: settled, and still the same 300 ms later (the metrics are published
 * every tick, 100 ms, so by then nothing done before the first scrape is missing). Deltas between two quiet
 * scrapes count exactly what happened between them.
 */
static prom_t *quiet(void)
{
	long long deadline = h_now_ms() + 20000;
	prom_t *p = hh_scrape(port), *q;

	for (;;) {
		h_sleep_ms(300);
		q = hh_scrape(port);
		if (settled(p) && settled(q) &&
		    prom_sum(p, "andon_requests_consumed_total", NULL, NULL) ==
			prom_sum(q, "andon_requests_consumed_total", NULL, NULL)) {
			prom_free(p);
			return q;
		}
		prom_free(p);
		p = q;
		if (h_now_ms() >= deadline)
			fail_msg("the worker never settled: consumed and done differ");
	}
}

static const char *bad_request(const char *op, json_t *body)
{
	return h_send(op, NULL, NULL, body);
}

/* Good and bad requests through Kafka: every counter moves by exactly what was sent. */
static void counters_move_with_requests(void **state)
{
	enum { EXECS = 20 };
	prom_t *before, *after;
	char *sm = h_sfn_machine("metrics", "STANDARD"), **arns;
	const char *ids[EXECS], *bogus, *invalid, *invalid_code;
	char answered_invalid[128], dlq_invalid[128];
	double up0, up1;
	static const unsigned char junk[] = {0xc1, 0xc1, 0xc1};

	(void)state;
	before = quiet();
	up0 = hh_value(before, "andon_uptime_seconds", NULL);
	arns = h_sfn_start_many(sm, "m", EXECS);
	for (int i = 0; i < EXECS; i++)
		ids[i] = h_send(SFN "StopExecution", NULL, NULL, json_pack("{s:s}", "executionArn", arns[i]));
	bogus = bad_request(SFN "Bogus", json_object());
	invalid = bad_request(SFN "StopExecution", json_pack("{s:s}", "executionArn", "not-an-arn"));
	h_flush();
	h_produce_raw("andon.requests", "junk", junk, sizeof(junk)); /* undecodable: DLQ only, no reply */
	for (int i = 0; i < EXECS; i++)
		assert_non_null(h_reply(ids[i], 1, 20000));
	assert_non_null(h_reply(bogus, 1, 20000));
	assert_non_null(h_reply(invalid, 1, 20000));
	invalid_code =
	    json_string_value(json_object_get(json_object_get(h_reply(invalid, 1, 0), "error"), "code"));
	assert_non_null(invalid_code);
	snprintf(answered_invalid, sizeof(answered_invalid), "op=" SFN "StopExecution,code=%s", invalid_code);
	snprintf(dlq_invalid, sizeof(dlq_invalid), "reason=%s", invalid_code);
	assert_int_equal(h_wait_dlq(3, 20000), 0);

	/* The tick publishes; wait until all of it is done, then compare everything with one scrape. */
	wait_at_least("andon_request_age_seconds_count", NULL,
		      prom_sum(before, "andon_request_age_seconds_count", NULL, NULL) + 2 * EXECS + 3, 10000);
	after = quiet();
#define DELTA(name, match) (prom_sum(after, name, match, NULL) - prom_sum(before, name, match, NULL))
	assert_true(DELTA("andon_requests_consumed_total", "op=" SFN "StartExecution") == EXECS);
	assert_true(DELTA("andon_requests_consumed_total", "op=" SFN "StopExecution") == EXECS + 1);
	assert_true(DELTA("andon_requests_consumed_total", "op=unknown") == 2); /* Bogus and the junk */
	assert_true(DELTA("andon_requests_answered_total", "op=" SFN "StartExecution,code=ok") == EXECS);
	assert_true(DELTA("andon_requests_answered_total", "op=" SFN "StopExecution,code=ok") == EXECS);
	assert_true(DELTA("andon_requests_answered_total", answered_invalid) == 1);
	assert_true(DELTA("andon_requests_answered_total", "op=unknown,code=ActionNotSupported") == 1);
	assert_true(DELTA("andon_requests_answered_total", NULL) == 2 * EXECS + 2);
	assert_true(DELTA("andon_dead_letters_total", dlq_invalid) == 1);
	assert_true(DELTA("andon_dead_letters_total", "reason=ActionNotSupported") == 1);
	assert_true(DELTA("andon_dead_letters_total", "reason=SerializationException") == 1);
	assert_true(DELTA("andon_events_total", NULL) == 2 * EXECS); /* RUNNING, then ABORTED */
	/* Every consumed message went through a batch and, done, through the age histogram. */
	assert_true(DELTA("andon_batch_messages_sum", NULL) == 2 * EXECS + 3);
	assert_true(DELTA("andon_batch_messages_count", NULL) >= 1);
	/* Exactly-once (on by default where the broker has transactions): a transaction per few batches. */
	if (!hk_is_dev())
		assert_true(DELTA("andon_transactions_committed_total", NULL) >= 1);
	assert_true(DELTA("andon_batch_messages_count", NULL) <= 2 * EXECS + 3);
	assert_true(DELTA("andon_request_age_seconds_count", NULL) == 2 * EXECS + 3);
	assert_true(DELTA("andon_request_age_seconds_sum", NULL) > 0);
	assert_true(DELTA("andon_request_age_seconds_bucket", "le=+Inf") == 2 * EXECS + 3);
	/* Each batch took at least two Redis rounds (id records first, then the calls). */
	assert_true(DELTA("andon_redis_roundtrip_seconds_count", NULL) >=
		    2 * DELTA("andon_batch_messages_count", NULL));
	assert_true(DELTA("andon_redis_roundtrip_seconds_sum", NULL) > 0);
	assert_true(hh_value(after, "andon_inflight_messages", NULL) >= 0);
	up1 = hh_value(after, "andon_uptime_seconds", NULL);
	assert_true(up1 >= up0);
	wait_at_least("andon_uptime_seconds", NULL, up1 + 1, 3000); /* updated every second */
#undef DELTA
	prom_free(before);
	prom_free(after);
	for (int i = 0; i < EXECS; i++)
		free(arns[i]);
	free(arns);
	free(sm);
}

/* Under a steady stream, some partition shows lag; once it stops, every partition's lag goes to 0. */
static void consumer_lag_under_load(void **state)
{
	const char *probe = "arn:aws:states:" H_REGION ":" H_ACCOUNT ":execution:nothing:here";
	long long end = h_now_ms() + 15000;
	double most = 0;
	size_t parts = 0;
	prom_t *p;

	(void)state;
	/* Until statistics saw the worker behind once (or 15 s): a loaded machine may need several bursts. */
	while (most <= 0 && h_now_ms() < end) {
		/* Bursts the worker needs some 50 ms for, so that statistics (every 200 ms) see it behind. */
		for (int i = 0; i < 1000; i++) {
			char key[16];

			snprintf(key, sizeof(key), "k%d", i % 100); /* spread over the partitions */
			h_send_key(SFN "DescribeExecution", NULL, key,
				   json_pack("{s:s}", "executionArn", probe));
		}
		h_flush();
		p = hh_scrape(port);
		if (prom_sum(p, "andon_kafka_consumer_lag_messages", "topic=andon.requests", &parts) > most)
			most = prom_sum(p, "andon_kafka_consumer_lag_messages", "topic=andon.requests", NULL);
		prom_free(p);
		h_pump(50);
	}
	fprintf(stderr, "0501: largest summed lag seen under load: %.0f, over %zu partition(s)\n", most,
		parts);
	assert_true(most > 0);
	/* Taken and reported (statistics every 200 ms): back to 0 on all 4 partitions. */
	wait_equal("andon_kafka_consumer_lag_messages", "topic=andon.requests", 0, 20000);
	p = hh_scrape(port);
	prom_sum(p, "andon_kafka_consumer_lag_messages", "topic=andon.requests", &parts);
	assert_int_equal(parts, 4);
	assert_true(hh_value(p, "andon_kafka_brokers_up", NULL) >= 1);
	prom_free(p);
}

/* Five Lambda steps time out together; the worker (timer_batch 1) claims and fires them one a tick. */
static void timers_due_claimed_fired(void **state)
{
	enum { STEPS = 5 };
	double claimed0 = now_value("andon_timers_claimed_total", NULL),
	       fired0 = now_value("andon_timers_fired_total", NULL), due = 0;
	char *arns[STEPS];
	long long deadline;

	(void)state;
	for (int i = 0; i < STEPS; i++) {
		arns[i] = hs_start("timed");
		free(hs_step(arns[i], "lambda", "Lambda", NULL, 1));
	}
	wait_at_least("andon_timers_scheduled", NULL, STEPS, 10000);
	/* Due from 1 s on: a scan between two firings sees the ones not yet claimed. */
	for (deadline = h_now_ms() + 15000; now_value("andon_timers_fired_total", NULL) < fired0 + STEPS;) {
		double d = now_value("andon_timers_due", NULL);

		due = d > due ? d : due;
		if (h_now_ms() >= deadline)
			fail_msg("the timers did not all fire");
		h_sleep_ms(10);
	}
	assert_true(due >= 1);
	assert_true(now_value("andon_timers_claimed_total", NULL) >= claimed0 + STEPS);
	assert_true(now_value("andon_timers_fired_total", NULL) == fired0 + STEPS);
	/* Removed from the set once what they fired is acknowledged. */
	wait_equal("andon_timers_scheduled", NULL, 0, 10000);
	wait_equal("andon_timers_due", NULL, 0, 10000);
	for (int i = 0; i < STEPS; i++) {
		assert_int_equal(hs_wait_status(arns[i], "Executing", 1000), 0);
		assert_string_equal(hs_step_status(arns[i], "lambda"), "Failed");
		free(arns[i]);
	}
}

static long long owed_in_redis(void)
{
	redisReply *r = h_redis("ZCARD andon:owed");
	long long n = r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;

	freeReplyObject(r);
	return n;
}

/* A stop that waits for a callback step shows in the Stopping gauges until the step answers; a replayed
 * stop (which writes its outputs again) does not bring it back. */
static void stopping_steps_and_their_age(void **state)
{
	char *arn = hs_start("stoppable");
	char *token = hs_step(arn, "cb", "Callback", NULL, 0);
	json_t *stop = hs_stop_body(arn), *again = json_deep_copy(stop);
	const char *id;
	double age1, age2;

	(void)state;
	assert_non_null(token);
	id = h_send("SageMaker.StopPipelineExecution", NULL, NULL, stop);
	h_flush();
	assert_non_null(h_reply(id, 1, 20000));
	assert_int_equal(hs_wait_status(arn, "Stopping", 10000), 0);
	wait_equal("andon_sagemaker_stopping_executions", NULL, 1, 10000);
	assert_true(now_value("andon_sagemaker_stopping_steps", NULL) == 1);
	age1 = now_value("andon_sagemaker_stopping_oldest_seconds", NULL);
	age2 = wait_at_least("andon_sagemaker_stopping_oldest_seconds", NULL, age1 + 0.5, 5000);
	assert_true(age2 > age1);
	assert_int_equal(owed_in_redis(), 1);

	/* The step answers: nothing owed any more. */
	{
		json_t *r = hs_result(token, 1, NULL);
		char *text = json_dumps(r, 0);

		if (!json_is_true(json_object_get(r, "ok")))
			fail_msg("step result refused: %s", text);
		free(text);
	}
	assert_int_equal(hs_wait_status(arn, "Stopped", 10000), 0);
	wait_equal("andon_sagemaker_stopping_executions", NULL, 0, 10000);
	assert_true(now_value("andon_sagemaker_stopping_steps", NULL) == 0);
	assert_true(now_value("andon_sagemaker_stopping_oldest_seconds", NULL) == 0);
	assert_int_equal(owed_in_redis(), 0);

	/* The same stop again: its stored answer comes back with its outputs, '@owed' included; the scan
	 * finds the execution Stopped and removes what the replay wrote. */
	h_send("SageMaker.StopPipelineExecution", id, NULL, again);
	h_flush();
	assert_non_null(h_reply(id, 2, 20000));
	for (long long deadline = h_now_ms() + 10000; owed_in_redis() != 0; h_sleep_ms(20))
		if (h_now_ms() >= deadline)
			fail_msg("the replayed stop's owed answer was never removed");
	assert_true(now_value("andon_sagemaker_stopping_steps", NULL) == 0);
	assert_true(now_value("andon_sagemaker_stopping_executions", NULL) == 0);
	free(token);
	free(arn);
}

/* /readyz follows Redis: 503 with the reason while it is away, 200 once it answers; /healthz stays 200. */
static void readyz_follows_redis(void **state)
{
	char *body = NULL;
	double reconnects = now_value("andon_redis_reconnects_total", NULL);
	long long deadline;
	int status;

	(void)state;
	assert_int_equal(get("/readyz", &body), 200);
	assert_string_equal(body, "ready\n");
	free(body);
	h_redis_stop();
	for (deadline = h_now_ms() + 10000; (status = get("/readyz", &body)) != 503; free(body)) {
		if (h_now_ms() >= deadline)
			fail_msg("/readyz still %d 10 s after Redis went away", status);
		h_sleep_ms(20);
	}
	assert_non_null(strstr(body, "redis"));
	free(body);
	assert_true(now_value("andon_ready", NULL) == 0);
	assert_true(now_value("andon_redis_up", NULL) == 0);
	/* Waiting for Redis is the loop doing its job: alive. The stall limit is 3 s for this worker, its
	 * retries at most 2 s apart. */
	h_sleep_ms(3500);
	assert_int_equal(get("/healthz", NULL), 200);
	assert_int_equal(get("/readyz", NULL), 503);
	h_redis_start();
	for (deadline = h_now_ms() + 20000; (status = get("/readyz", NULL)) != 200; h_sleep_ms(20))
		if (h_now_ms() >= deadline)
			fail_msg("/readyz still %d 20 s after Redis came back", status);
	assert_true(now_value("andon_redis_up", NULL) == 1);
	assert_true(now_value("andon_redis_reconnects_total", NULL) >= reconnects + 1);
	assert_int_equal(get("/healthz", NULL), 200);
	assert_int_equal(get("/nothing", NULL), 404);
	free(h_sfn_machine("after-outage", "STANDARD"));
}

static int setup(void **state)
{
	static const char *const opts[] = {"worker.http_listen=127.0.0.1:0",   "worker.metrics_scan_ms=100",
					   "worker.health_stall_ms=3000",      "worker.timer_batch=1",
					   "kafka.statistics.interval.ms=200", NULL};
	pid_t pid;

	(void)state;
	h_start();
	pid = h_worker_start(opts);
	port = hh_port(pid);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return h_group_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(every_family_is_there),	    cmocka_unit_test(counters_move_with_requests),
	    cmocka_unit_test(consumer_lag_under_load),	    cmocka_unit_test(timers_due_claimed_fired),
	    cmocka_unit_test(stopping_steps_and_their_age), cmocka_unit_test(readyz_follows_redis),
	};

	return cmocka_run_group_tests_name("0501-metrics", tests, setup, teardown);
}
