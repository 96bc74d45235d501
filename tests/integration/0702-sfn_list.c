/* 0702: StepFunctions.ListExecutions through the worker: pagination across thousands of executions (each
 * listed once, newest first), statusFilter, the index following stops and finishes, bad tokens, EXPRESS
 * and other accounts' state machines. */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 3000 /* executions */

static char *sm, **arns;

/* One ListExecutions call; the reply (borrowed) must be ok. */
static json_t *list(json_t *body)
{
	json_t *r = h_call("StepFunctions.ListExecutions", body);

	if (!json_is_true(json_object_get(r, "ok")))
		fprintf(stderr, "ListExecutions failed: %s\n", json_dumps(r, JSON_COMPACT));
	assert_true(json_is_true(json_object_get(r, "ok")));
	return json_object_get(r, "body");
}

/* Every page with maxResults max and the status filter (NULL: none): the executions in order (new ref) and
 * the number of pages. */
static json_t *list_all(int max, const char *status, int *pages)
{
	json_t *all = json_array(), *token = NULL;

	*pages = 0;
	do {
		json_t *body = json_pack("{s:s, s:i}", "stateMachineArn", sm, "maxResults", max), *page;

		if (status != NULL)
			json_object_set_new(body, "statusFilter", json_string(status));
		if (token != NULL)
			json_object_set(body, "nextToken", token);
		page = list(body);
		assert_true(json_array_size(json_object_get(page, "executions")) <= (size_t)max);
		json_array_extend(all, json_object_get(page, "executions"));
		json_decref(token);
		token = json_incref(json_object_get(page, "nextToken"));
		assert_true(++*pages <= N);
	} while (token != NULL);
	return all;
}

static int index_of(const char *arn)
{
	const char *dash = strrchr(arn, '-');

	return dash != NULL ? atoi(dash + 1) : -1;
}

static void pages_list_every_execution_once_newest_first(void **state)
{
	int pages, seen[N] = {0};
	double prev = 1e18;
	json_t *all, *e;
	size_t i;

	(void)state;
	all = list_all(250, NULL, &pages);
	assert_int_equal(json_array_size(all), N);
	assert_true(pages >= N / 250);
	json_array_foreach(all, i, e)
	{
		int k = index_of(json_string_value(json_object_get(e, "executionArn")));
		double start = json_number_value(json_object_get(e, "startDate"));

		assert_true(k >= 0 && k < N);
		assert_int_equal(seen[k]++, 0);
		assert_string_equal(json_string_value(json_object_get(e, "stateMachineArn")), sm);
		assert_true(start <= prev);
		prev = start;
	}
	json_decref(all);
	/* The index's memory, for docs/REDIS.md section 13. */
	{
		char key[300];
		redisReply *a, *b;

		snprintf(key, sizeof(key), "andon:{%s}:ix", sm);
		a = h_redis("MEMORY USAGE %s SAMPLES 0", key);
		snprintf(key, sizeof(key), "andon:{%s}:ixs", sm);
		b = h_redis("MEMORY USAGE %s SAMPLES 0", key);
		assert_int_equal(a->type, REDIS_REPLY_INTEGER);
		assert_int_equal(b->type, REDIS_REPLY_INTEGER);
		fprintf(stderr, "index memory: %lld bytes per execution\n", (a->integer + b->integer) / N);
		freeReplyObject(a);
		freeReplyObject(b);
	}
}

/* Stops every third, finishes every seventh (when not stopped): the filters see exactly those. */
static void status_filter_follows_stops_and_finishes(void **state)
{
	int pages, stopped = 0, failed = 0, running;
	json_t *all;

	(void)state;
	for (int i = 0; i < N; i++) {
		if (i % 3 == 0) {
			h_send("StepFunctions.StopExecution", NULL, NULL,
			       json_pack("{s:s}", "executionArn", arns[i]));
			stopped++;
		} else if (i % 7 == 0) {
			h_send("StepFunctions.FinishExecution", NULL, NULL,
			       json_pack("{s:s, s:s}", "executionArn", arns[i], "status", "FAILED"));
			failed++;
		}
	}
	h_flush();
	running = N - stopped - failed;
	/* A probe after the burst: its reply comes after every earlier change on its partition... but the
	 * burst spans partitions, so wait for the index itself, with a deadline. */
	for (long long deadline = h_now_ms() + 60000;;) {
		all = list_all(1000, "ABORTED", &pages);
		if ((int)json_array_size(all) == stopped || h_now_ms() > deadline)
			break;
		json_decref(all);
		h_pump(200);
	}
	assert_int_equal(json_array_size(all), stopped);
	json_decref(all);
	for (long long deadline = h_now_ms() + 60000;;) {
		all = list_all(1000, "FAILED", &pages);
		if ((int)json_array_size(all) == failed || h_now_ms() > deadline)
			break;
		json_decref(all);
		h_pump(200);
	}
	assert_int_equal(json_array_size(all), failed);
	assert_non_null(json_object_get(json_array_get(all, 0), "stopDate"));
	json_decref(all);
	all = list_all(1000, "RUNNING", &pages);
	assert_int_equal(json_array_size(all), running);
	assert_null(json_object_get(json_array_get(all, 0), "stopDate"));
	json_decref(all);
	all = list_all(100, "SUCCEEDED", &pages);
	assert_int_equal(json_array_size(all), 0);
	assert_int_equal(pages,
			 N / 500); /* 500 entries looked at per call at most: empty pages with a token */
	json_decref(all);
}

static void bad_requests(void **state)
{
	char other[256], express_sm[256];
	json_t *r;
	char *ex;

	(void)state;
	r = h_call("StepFunctions.ListExecutions",
		   json_pack("{s:s, s:s}", "stateMachineArn", sm, "nextToken", "00zz"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
			    "InvalidToken");
	r = h_call("StepFunctions.ListExecutions",
		   json_pack("{s:s, s:s}", "stateMachineArn", sm, "statusFilter", "STOPPED"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
			    "ValidationException");
	r = h_call("StepFunctions.ListExecutions",
		   json_pack("{s:s, s:i}", "stateMachineArn", sm, "maxResults", 1001));
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
			    "ValidationException");
	snprintf(other, sizeof(other), "arn:aws:states:%s:%s:stateMachine:no-such", H_REGION, H_ACCOUNT);
	r = h_call("StepFunctions.ListExecutions", json_pack("{s:s}", "stateMachineArn", other));
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
			    "StateMachineDoesNotExist");
	/* The same state machine seen from another account does not exist. */
	r = h_call_as("StepFunctions.ListExecutions", NULL, "210987654321",
		      json_pack("{s:s}", "stateMachineArn", sm));
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
			    "StateMachineDoesNotExist");
	ex = h_sfn_machine("list-express", "EXPRESS");
	snprintf(express_sm, sizeof(express_sm), "%s", ex);
	free(h_sfn_start(ex, "fast"));
	r = h_call("StepFunctions.ListExecutions", json_pack("{s:s}", "stateMachineArn", express_sm));
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
			    "ValidationException");
	free(ex);
}

static int setup(void **state)
{
	long long t0;

	(void)state;
	h_group_setup(NULL);
	sm = h_sfn_machine("list", "STANDARD");
	t0 = h_now_ms();
	arns = h_sfn_start_many(sm, "list", N);
	fprintf(stderr, "%d executions started in %lld ms\n", N, h_now_ms() - t0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < N; i++)
		free(arns[i]);
	free(arns);
	free(sm);
	return h_group_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(pages_list_every_execution_once_newest_first),
	    cmocka_unit_test(status_filter_follows_stops_and_finishes),
	    cmocka_unit_test(bad_requests),
	};
	return cmocka_run_group_tests_name("0702-sfn_list", tests, setup, teardown);
}
