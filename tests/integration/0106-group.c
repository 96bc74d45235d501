/* 0106: two workers in one consumer group against one Redis; one is killed mid-stream. */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N = 2000 };

static void two_workers_share_the_load_and_survive_a_kill(void **state)
{
	char *sm = h_sfn_machine("group", "STANDARD");
	const char **stops = calloc(N, sizeof(*stops));
	char **arns;
	pid_t second;
	int dups = 0;

	(void)state;
	second = h_worker_start(NULL); /* joins the group of the one started by setup */
	arns = h_sfn_start_many(sm, "g", N);
	for (int i = 0; i < N; i++) {
		stops[i] = h_send("StepFunctions.StopExecution", NULL, NULL,
				  json_pack("{s:s}", "executionArn", arns[i]));
		if (i == N / 2) {
			h_flush();
			h_worker_kill_pid(
			    second); /* its partitions move to the survivor after the session timeout */
		}
	}
	h_flush();
	for (int i = 0; i < N; i++) {
		json_t *r = h_reply(stops[i], 1, 90000);
		redisReply *len;

		assert_non_null(r);
		assert_true(json_is_true(json_object_get(r, "ok")));
		assert_string_equal(json_string_value(json_object_get(json_object_get(r, "body"), "status")),
				    "ABORTED");
		dups += h_reply_count(stops[i]) > 1;
		len = h_redis("LLEN andon:{%s}:h", arns[i]);
		assert_non_null(len);
		assert_int_equal(len->integer, 2); /* applied once, whichever worker answered */
		freeReplyObject(len);
		free(arns[i]);
	}
	fprintf(stderr, "%d stop(s) answered twice after the kill\n", dups);
	free(arns);
	free(stops);
	free(sm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(two_workers_share_the_load_and_survive_a_kill),
	};
	return cmocka_run_group_tests_name("0106-group", tests, h_group_setup_cmocka,
					   h_group_teardown_cmocka);
}
