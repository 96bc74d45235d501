/* 0104: at-least-once under failure: worker killed with SIGKILL mid-stream, Redis restarted mid-stream. */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *sm;

static const char **stop_range(char **arns, int from, int to, const char **ids)
{
	for (int i = from; i < to; i++)
		ids[i] = h_send("StepFunctions.StopExecution", NULL, NULL,
				json_pack("{s:s}", "executionArn", arns[i]));
	h_flush();
	return ids;
}

static int answered(const char **ids, int n)
{
	int k = 0;

	h_pump(0);
	for (int i = 0; i < n; i++)
		k += h_reply_count(ids[i]) > 0;
	return k;
}

/* Every stop answered, duplicates identical, every execution stopped exactly once. */
static void check_all_stopped(char **arns, const char **ids, int n)
{
	int dups = 0;

	for (int i = 0; i < n; i++) {
		json_t *first = h_reply(ids[i], 1, 60000);
		size_t count = h_reply_count(ids[i]);
		redisReply *r;

		assert_non_null(first);
		assert_true(json_is_true(json_object_get(first, "ok")));
		assert_string_equal(
		    json_string_value(json_object_get(json_object_get(first, "body"), "status")), "ABORTED");
		for (size_t k = 2; k <= count; k++)
			assert_true(json_equal(first, h_reply(ids[i], (int)k, 0)));
		dups += count > 1;
		r = h_redis("LLEN andon:{%s}:h", arns[i]);
		assert_non_null(r);
		assert_int_equal(r->integer, 2);
		freeReplyObject(r);
		r = h_redis("HGET andon:{%s}:x st", arns[i]);
		assert_non_null(r);
		assert_string_equal(r->str, "STOPPED");
		freeReplyObject(r);
	}
	fprintf(stderr, "%d request(s) were answered more than once (replayed after the failure)\n", dups);
}

static void kill9_mid_stream_loses_nothing_applies_nothing_twice(void **state)
{
	enum { N = 3000 };
	char **arns = h_sfn_start_many(sm, "k9", N);
	const char **ids = calloc(N, sizeof(*ids));
	long long deadline;

	(void)state;
	/* The kill lands halfway through the stream: after the first half is consumed (and, at this speed,
	 * mostly answered but not yet committed), before the second half is produced. */
	stop_range(arns, 0, N / 2, ids);
	for (deadline = h_now_ms() + 30000; answered(ids, N / 2) == 0 && h_now_ms() < deadline;)
		h_pump(1);
	h_worker_kill();
	fprintf(stderr, "killed after %d of %d requests were answered\n", answered(ids, N / 2), N);
	stop_range(arns, N / 2, N, ids); /* produced while no worker runs */
	h_worker_start(NULL);
	check_all_stopped(arns, ids, N);
	for (int i = 0; i < N; i++)
		free(arns[i]);
	free(arns);
	free(ids);
}

static void redis_restart_mid_stream(void **state)
{
	enum { N = 600 };
	char **arns = h_sfn_start_many(sm, "rr", N);
	const char **ids = calloc(N, sizeof(*ids));

	(void)state;
	stop_range(arns, 0, N / 3, ids);
	h_redis_stop();
	/* Requests arriving while Redis is down wait; none is answered with an error or skipped. */
	stop_range(arns, N / 3, N, ids);
	h_pump(1000);
	h_redis_start();
	check_all_stopped(arns, ids, N);
	for (int i = 0; i < N; i++)
		free(arns[i]);
	free(arns);
	free(ids);
}

static void sigterm_exits_zero_and_commits(void **state)
{
	char **arns = h_sfn_start_many(sm, "term", 20);
	const char **ids = calloc(20, sizeof(*ids));
	const char *probe;

	(void)state;
	stop_range(arns, 0, 20, ids);
	check_all_stopped(arns, ids, 20);
	assert_int_equal(h_worker_stop(), 0);
	/* Committed: a new worker does not answer those requests again. */
	h_worker_start(NULL);
	probe = h_send("StepFunctions.DescribeExecution", NULL, NULL,
		       json_pack("{s:s}", "executionArn", arns[0]));
	h_flush();
	assert_non_null(h_reply(probe, 1, 20000));
	for (int i = 0; i < 20; i++) {
		assert_int_equal(h_reply_count(ids[i]), 1);
		free(arns[i]);
	}
	free(arns);
	free(ids);
}

static int setup(void **state)
{
	(void)state;
	h_group_setup(NULL);
	sm = h_sfn_machine("crash", "STANDARD");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(sm);
	return h_group_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(kill9_mid_stream_loses_nothing_applies_nothing_twice),
	    cmocka_unit_test(redis_restart_mid_stream),
	    cmocka_unit_test(sigterm_exits_zero_and_commits),
	};
	return cmocka_run_group_tests_name("0104-crash", tests, setup, teardown);
}
