/* 0103: 1,000 mixed requests in one burst, all answered correctly. */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N = 1000 };

static void thousand_mixed_requests(void **state)
{
	static const char *const ops[] = {"StepFunctions.StopExecution", "StepFunctions.DescribeExecution",
					  "StepFunctions.FinishExecution",
					  "StepFunctions.GetExecutionHistory"};
	char *sm = h_sfn_machine("load", "STANDARD");
	const char **ids = calloc(N, sizeof(*ids));
	char **arns = calloc(N / 4, sizeof(*arns));
	char name[32];
	long long t0;
	int ok = 0, invalid = 0;

	(void)state;
	for (int i = 0; i < N / 4; i++) {
		snprintf(name, sizeof(name), "x-%d", i);
		arns[i] = h_sfn_start(sm, name);
	}
	/* Each execution gets a stop, a describe, a finish (which the stop beats or loses to) and a history
	 * read; every tenth request is malformed instead. */
	t0 = h_now_ms();
	for (int i = 0; i < N; i++) {
		const char *arn = arns[i / 4];
		json_t *body = i % 10 == 9 ? json_pack("{s:s}", "executionArn", "broken")
			       : i % 4 == 2
				   ? json_pack("{s:s, s:s}", "executionArn", arn, "status", "SUCCEEDED")
				   : json_pack("{s:s}", "executionArn", arn);
		ids[i] = h_send(ops[i % 4], NULL, NULL, body);
	}
	h_flush();
	for (int i = 0; i < N; i++) {
		json_t *r = h_reply(ids[i], 1, 60000);
		assert_non_null(r);
		if (i % 10 == 9) {
			assert_string_equal(
			    json_string_value(json_object_get(json_object_get(r, "error"), "code")),
			    "InvalidArn");
			invalid++;
		} else if (json_is_true(json_object_get(r, "ok"))) {
			ok++;
		} else {
			/* Only the finish may lose, to the stop of the same execution. */
			assert_int_equal(i % 4, 2);
			assert_string_equal(
			    json_string_value(json_object_get(json_object_get(r, "error"), "code")),
			    "ExecutionNotRunning");
		}
	}
	fprintf(stderr, "1000 mixed requests answered in %lld ms (%d ok, %d invalid)\n", h_now_ms() - t0, ok,
		invalid);
	assert_int_equal(invalid, N / 10);
	/* Every execution ended exactly once. */
	for (int i = 0; i < N / 4; i++) {
		redisReply *r = h_redis("LLEN andon:{%s}:h", arns[i]);
		assert_non_null(r);
		assert_int_equal(r->integer, 2);
		freeReplyObject(r);
		free(arns[i]);
	}
	free(arns);
	free(ids);
	free(sm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(thousand_mixed_requests),
	};
	return cmocka_run_group_tests_name("0103-load", tests, h_group_setup_cmocka, h_group_teardown_cmocka);
}
