/*
 * 0107: a poison pill is quarantined, not retried forever. A request that kills the worker (Test.Crash, in
 * the test build of the worker only) is dead-lettered "Quarantined" unprocessed once it was in flight at
 * worker.quarantine_after consecutive starts, and every request behind it on its partition is answered.
 */
#include "harness.h"

#include "codec.h"
#include "json.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

/* Every request of a test goes with this Kafka key: one partition, so the poison blocks what follows. */
#define LANE  "lane-0107"
#define AFTER 2
/* The in-flight records of this binary's consumer group (the harness names the group per binary). */
#define INFLIGHT_KEYS "andon:{inflight:*}:andon.requests"

static char *sm;

/* The poison's bytes: {v:1, op:"Test.Crash", id, body:{}}. */
static void poison_bytes(const char *id, msgpack_sbuffer *sb)
{
	json_t *req = json_pack("{s:i, s:s, s:s, s:{}}", "v", 1, "op", "Test.Crash", "id", id, "body");
	msgpack_packer pk;
	char err[128];

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	assert_int_equal(andon_json_to_msgpack(req, &pk, err, sizeof(err)), 0);
	json_decref(req);
}

static int same_original(json_t *rec, const void *buf, size_t len)
{
	const char *b64 = json_string_value(json_object_get(json_object_get(rec, "original"), "$bin"));
	msgpack_object o = {.type = MSGPACK_OBJECT_BIN, .via.bin = {.size = (uint32_t)len, .ptr = buf}};
	json_t *enc = andon_json_from_msgpack(&o);
	int same = b64 != NULL && strcmp(b64, json_string_value(json_object_get(enc, "$bin"))) == 0;

	json_decref(enc);
	return same;
}

/* DLQ records with code Quarantined seen so far; *match (when not NULL) gets the last one whose original is
 * buf[0..len). */
static size_t quarantined(const void *buf, size_t len, json_t **match)
{
	json_t *all = h_dlq(), *rec;
	size_t i, n = 0;

	json_array_foreach(all, i, rec)
	{
		json_t *v = json_object_get(rec, "value");
		const char *code = json_string_value(json_object_get(v, "code"));

		if (code == NULL || strcmp(code, "Quarantined") != 0)
			continue;
		n++;
		if (match != NULL && same_original(v, buf, len))
			*match = v;
	}
	return n;
}

static void assert_killed_by_poison(int status)
{
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
		fail_msg("worker ended with wait status %#x; expected death by SIGABRT (Test.Crash)", status);
}

/*
 * Starts workers with opts, one after another, each dying on the poison, until one dead-letters it as
 * Quarantined. starts: the starts so far (workers that already died on it); at most max_starts in all.
 * Returns the number of starts it took, the quarantining one included.
 */
static int start_until_quarantined(const char *const *opts, int starts, int max_starts, const void *buf,
				   size_t len)
{
	for (;;) {
		long long deadline = h_now_ms() + 90000;
		int status = -1;
		pid_t pid;

		if (starts == max_starts)
			fail_msg("no quarantine after %d starts", starts);
		pid = h_worker_spawn(opts);
		starts++;
		while (quarantined(buf, len, NULL) == 0 && (status = h_worker_wait(pid, 0)) == -1) {
			if (h_now_ms() >= deadline)
				fail_msg("worker %d neither died nor quarantined within 90 s (see %s)",
					 (int)pid, h_worker_log(pid));
			h_pump(50);
		}
		if (quarantined(buf, len, NULL) > 0)
			return starts;
		assert_killed_by_poison(status);
		fprintf(stderr, "start %d: the worker died on the poison\n", starts);
	}
}

static long long inflight_fields(void)
{
	redisReply *keys = h_redis("KEYS " INFLIGHT_KEYS), *r;
	long long n = 0;

	assert_non_null(keys);
	assert_int_equal(keys->type, REDIS_REPLY_ARRAY);
	for (size_t i = 0; i < keys->elements; i++) {
		r = h_redis("HLEN %s", keys->element[i]->str);
		assert_non_null(r);
		assert_int_equal(r->type, REDIS_REPLY_INTEGER);
		n += r->integer;
		freeReplyObject(r);
	}
	freeReplyObject(keys);
	return n;
}

static const char *stop(const char *arn)
{
	return h_send_key("StepFunctions.StopExecution", NULL, LANE, json_pack("{s:s}", "executionArn", arn));
}

static void assert_status(const char *id, const char *status)
{
	json_t *r = h_reply(id, 1, 30000);

	if (r == NULL)
		fail_msg("request %s was never answered", id);
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "body"), "status")), status);
}

static void poison_is_quarantined_and_the_partition_flows_on(void **state)
{
	static const char *const opts[] = {"worker.quarantine_after=2", NULL};
	char **arns;
	const char *before[2], *behind[6], *probe;
	msgpack_sbuffer sb;
	json_t *rec = NULL;
	pid_t pid;
	int starts;

	(void)state;
	h_worker_program(h_test_worker());
	pid = h_worker_start(opts);
	arns = h_sfn_start_many(sm, "q", 6);

	/* Ordinary requests on the lane are answered. */
	before[0] = stop(arns[0]);
	before[1] = stop(arns[1]);
	h_flush();
	assert_status(before[0], "ABORTED");
	assert_status(before[1], "ABORTED");

	/* The poison, then the requests behind it on the same partition. */
	poison_bytes("poison-0107", &sb);
	h_produce_raw("andon.requests", LANE, sb.data, sb.size);
	behind[0] = stop(arns[2]);
	behind[1] = stop(arns[3]);
	behind[2] = h_send_key("StepFunctions.DescribeExecution", NULL, LANE,
			       json_pack("{s:s}", "executionArn", arns[2]));
	behind[3] = stop(arns[0]); /* already stopped: absorbed, success with the same status */
	behind[4] = h_send_key("StepFunctions.FinishExecution", NULL, LANE,
			       json_pack("{s:s, s:s}", "executionArn", arns[4], "status", "SUCCEEDED"));
	behind[5] = stop(arns[5]);
	h_flush();

	/* The worker dies on it and leaves its record of what was in flight. */
	assert_killed_by_poison(h_worker_wait(pid, 30000));
	assert_true(inflight_fields() >= 1);
	for (int i = 0; i < 6; i++)
		assert_int_equal(h_reply_count(behind[i]), 0);

	/* Each start dies on it again until it was in flight at AFTER starts; the next one quarantines it. */
	starts = start_until_quarantined(opts, 1, AFTER + 2, sb.data, sb.size);
	fprintf(stderr, "quarantined at start %d after %d crash(es), quarantine_after=%d\n", starts,
		starts - 1, AFTER);
	assert_int_equal(starts, AFTER + 1);

	/* Exactly one Quarantined record, carrying the poison as it was produced. */
	h_pump(500);
	assert_int_equal(quarantined(sb.data, sb.size, &rec), 1);
	assert_non_null(rec);
	assert_string_equal(json_string_value(json_object_get(rec, "topic")), "andon.requests");
	assert_true(json_is_integer(json_object_get(rec, "offset")));
	assert_non_null(strstr(json_string_value(json_object_get(rec, "reason")), "not processed"));
	assert_int_equal(h_reply_count("poison-0107"), 0); /* not even decoded: no reply */

	/* Everything behind it is answered as usual, once. */
	assert_status(behind[0], "ABORTED");
	assert_status(behind[1], "ABORTED");
	assert_status(behind[2], "ABORTED");
	assert_status(behind[3], "ABORTED");
	assert_status(behind[5], "ABORTED");
	assert_non_null(h_reply(behind[4], 1, 30000));
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(h_reply(behind[4], 1, 0), "body"), "status")),
	    "SUCCEEDED");
	h_pump(1500);
	for (int i = 0; i < 6; i++)
		assert_int_equal(h_reply_count(behind[i]), 1);
	for (int i = 0; i < 2; i++) /* replayed after the crashes maybe, but always the same answer */
		for (size_t k = 2; k <= h_reply_count(before[i]); k++)
			assert_true(json_equal(h_reply(before[i], 1, 0), h_reply(before[i], (int)k, 0)));

	/* A clean stop leaves no record; a clean restart (the production worker) quarantines nothing. */
	assert_int_equal(h_worker_stop(), 0);
	assert_int_equal(inflight_fields(), 0);
	h_worker_program(NULL);
	h_worker_start(NULL);
	probe = stop(arns[5]);
	h_flush();
	assert_status(probe, "ABORTED");
	/* The production worker has no Test.Crash: it is an unknown op there. */
	probe = h_send_key("Test.Crash", NULL, LANE, json_object());
	h_flush();
	assert_non_null(h_reply(probe, 1, 20000));
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(h_reply(probe, 1, 0), "error"), "code")),
	    "ActionNotSupported");
	h_pump(1000);
	assert_int_equal(quarantined(NULL, 0, NULL), 1);
	for (int i = 0; i < 6; i++)
		assert_int_equal(h_reply_count(behind[i]), 1);

	msgpack_sbuffer_destroy(&sb);
	for (int i = 0; i < 6; i++)
		free(arns[i]);
	free(arns);
}

static void quarantine_off_retries_and_writes_no_record(void **state)
{
	static const char *const off[] = {"worker.quarantine_after=0", NULL};
	static const char *const one[] = {"worker.quarantine_after=1", NULL};
	char **arns;
	const char *behind;
	msgpack_sbuffer sb;
	pid_t pid;
	int starts;

	(void)state;
	h_worker_program(h_test_worker());
	pid = h_worker_start(off);
	arns = h_sfn_start_many(sm, "off", 1);
	poison_bytes("poison-off", &sb);
	h_produce_raw("andon.requests", LANE, sb.data, sb.size);
	behind = stop(arns[0]);
	h_flush();

	/* Off: as many starts as would have quarantined it with AFTER, and each one dies on it again. */
	for (int i = 0; i < AFTER + 1; i++) {
		assert_killed_by_poison(h_worker_wait(pid, 90000));
		fprintf(stderr, "quarantine off, start %d: the worker died on the poison\n", i + 1);
		assert_int_equal(inflight_fields(), 0);
		assert_int_equal(quarantined(NULL, 0, NULL), 0);
		assert_int_equal(h_reply_count(behind), 0);
		if (i < AFTER)
			pid = h_worker_spawn(off);
	}

	/* Turned on with 1: the first start that records it dies, the next one (or, when it shared that
	 * batch with other messages, the one after) quarantines it. */
	starts = start_until_quarantined(one, 0, 1 + 2, sb.data, sb.size);
	fprintf(stderr, "quarantine_after=1: quarantined at start %d\n", starts);
	assert_status(behind, "ABORTED");
	h_pump(500);
	assert_int_equal(quarantined(sb.data, sb.size, NULL), 1);
	msgpack_sbuffer_destroy(&sb);
	free(arns[0]);
	free(arns);
}

static int setup(void **state)
{
	struct rlimit none = {0, 0};

	(void)state;
	setrlimit(RLIMIT_CORE, &none); /* the workers this kills leave no core files */
	h_start();
	h_worker_start(NULL);
	sm = h_sfn_machine("quarantine", "STANDARD");
	assert_int_equal(h_worker_stop(), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(sm);
	h_worker_program(NULL);
	return h_group_teardown();
}

int main(void)
{
	const struct CMUnitTest on[] = {
	    cmocka_unit_test(poison_is_quarantined_and_the_partition_flows_on),
	};
	const struct CMUnitTest off[] = {
	    cmocka_unit_test(quarantine_off_retries_and_writes_no_record),
	};
	int failed = cmocka_run_group_tests_name("0107-quarantine", on, setup, teardown);

	return failed + cmocka_run_group_tests_name("0107-quarantine-off", off, setup, teardown);
}
