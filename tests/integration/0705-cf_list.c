/* 0705: CloudFlow.ListExecutions through the worker: pages across 600 executions, Status,
 * ExecutionNamePrefix, StartedTimeBegin/End, and access and argument errors. */
#include "harness.h"
#include "harness-cflow.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 600

static const char *error_code(json_t *r)
{
	return json_string_value(json_object_get(json_object_get(r, "error"), "code"));
}

/* Every page of flow "listflow" with Limit 100 and the fields of extra (stolen). */
static json_t *list_all(json_t *extra)
{
	json_t *all = json_array(), *token = NULL;
	int pages = 0;

	do {
		json_t *body = json_deep_copy(extra), *r, *page;

		json_object_set_new(body, "FlowName", json_string("listflow"));
		json_object_set_new(body, "Limit", json_integer(100));
		if (token != NULL)
			json_object_set(body, "NextToken", token);
		r = h_call("CloudFlow.ListExecutions", body);
		if (!json_is_true(json_object_get(r, "ok")))
			fprintf(stderr, "ListExecutions: %s\n", json_dumps(r, JSON_COMPACT));
		assert_true(json_is_true(json_object_get(r, "ok")));
		page = json_object_get(r, "body");
		assert_true(json_array_size(json_object_get(page, "Executions")) <= 100);
		json_array_extend(all, json_object_get(page, "Executions"));
		json_decref(token);
		token = json_incref(json_object_get(page, "NextToken"));
		assert_true(++pages <= N);
	} while (token != NULL);
	json_decref(extra);
	return all;
}

static const char *s(json_t *a, size_t i, const char *k)
{
	return json_string_value(json_object_get(json_array_get(a, i), k));
}

static void pages_statuses_and_prefix(void **state)
{
	int seen[N] = {0};
	json_t *all, *part;
	size_t i;

	(void)state;
	all = list_all(json_object());
	assert_int_equal(json_array_size(all), N);
	for (i = 0; i < N; i++) {
		int k = atoi(s(all, i, "Name") + 3);
		const char *want = k < 100 ? "Stopped" : k < 150 ? "Succeeded" : "Running";

		assert_true(k >= 0 && k < N);
		assert_int_equal(seen[k]++, 0);
		assert_string_equal(s(all, i, "Status"), want);
		assert_string_equal(s(all, i, "FlowName"), "listflow");
		assert_true(hcf_is_time(s(all, i, "StartedTime")));
		assert_true((k < 150) == (s(all, i, "StoppedTime") != NULL));
		if (i > 0)
			assert_true(strcmp(s(all, i, "StartedTime"), s(all, i - 1, "StartedTime")) <= 0);
	}
	part = list_all(json_pack("{s:s}", "Status", "Stopped"));
	assert_int_equal(json_array_size(part), 100);
	json_decref(part);
	/* "ex-1": ex-1, ex-10 to ex-19 and ex-100 to ex-199 (names are ex-<i>). */
	part = list_all(json_pack("{s:s}", "ExecutionNamePrefix", "ex-1"));
	assert_int_equal(json_array_size(part), 111);
	json_decref(part);
	/* A window of start times, both ends inclusive. */
	{
		const char *lo = s(all, 400, "StartedTime"), *hi = s(all, 200, "StartedTime");
		size_t want = 0;

		for (i = 0; i < N; i++)
			want += strcmp(s(all, i, "StartedTime"), lo) >= 0 &&
				strcmp(s(all, i, "StartedTime"), hi) <= 0;
		part = list_all(json_pack("{s:s, s:s}", "StartedTimeBegin", lo, "StartedTimeEnd", hi));
		assert_int_equal(json_array_size(part), want);
		json_decref(part);
	}
	json_decref(all);
}

static void errors(void **state)
{
	(void)state;
	assert_string_equal(
	    error_code(h_call("CloudFlow.ListExecutions", json_pack("{s:s}", "FlowName", "nope"))),
	    "FlowNotExists");
	assert_string_equal(
	    error_code(h_call_as("CloudFlow.ListExecutions", NULL, HCF_ACCOUNT_B,
				 json_pack("{s:s, s:s}", "FlowName", "listflow", "FlowOwner", H_ACCOUNT))),
	    "AccessDenied");
	assert_string_equal(
	    error_code(h_call("CloudFlow.ListExecutions",
			      json_pack("{s:s, s:s}", "FlowName", "listflow", "Status", "Done"))),
	    "InvalidArgument");
	assert_string_equal(
	    error_code(h_call("CloudFlow.ListExecutions",
			      json_pack("{s:s, s:s}", "FlowName", "listflow", "StartedTimeBegin", "-2h"))),
	    "InvalidArgument");
	assert_string_equal(error_code(h_call("CloudFlow.ListExecutions",
					      json_pack("{s:s, s:i}", "FlowName", "listflow", "Limit", 101))),
			    "InvalidArgument");
	assert_string_equal(
	    error_code(h_call("CloudFlow.ListExecutions",
			      json_pack("{s:s, s:s}", "FlowName", "listflow", "NextToken", "abc"))),
	    "InvalidArgument");
}

static int setup(void **state)
{
	(void)state;
	h_group_setup(NULL); /* cloudflow.rate 0: stops are not throttled */
	hcf_flow(NULL, "listflow", "version: v1\ntype: flow\nsteps: []\n");
	hcf_start_many(NULL, "listflow", "ex", N, 1);
	for (int i = 0; i < 150; i++) {
		char name[32];
		json_t *body, *r;

		snprintf(name, sizeof(name), "ex-%d", i);
		body = hcf_body("listflow", name);
		if (i >= 100)
			json_object_set_new(body, "Status", json_string("Succeeded"));
		r = h_call(i < 100 ? "CloudFlow.StopExecution" : "CloudFlow.FinishExecution", body);
		if (!json_is_true(json_object_get(r, "ok"))) {
			fprintf(stderr, "%s: %s\n", name, json_dumps(r, JSON_COMPACT));
			return -1;
		}
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(pages_statuses_and_prefix),
	    cmocka_unit_test(errors),
	};
	return cmocka_run_group_tests_name("0705-cf_list", tests, setup, h_group_teardown_cmocka);
}
