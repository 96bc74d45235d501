/* 0704: SageMaker.ListPipelineExecutions through the worker: pages in both orders across 1,200
 * executions, CreatedAfter/CreatedBefore, statuses following stops and finishes, and bad requests. */
#include "harness.h"
#include "harness-sagemaker.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 1200

static char *arns[N];

static json_t *call_ok(const char *op, json_t *body)
{
	json_t *r = h_call(op, body);

	if (!json_is_true(json_object_get(r, "ok")))
		fprintf(stderr, "%s failed: %s\n", op, json_dumps(r, JSON_COMPACT));
	assert_true(json_is_true(json_object_get(r, "ok")));
	return json_object_get(r, "body");
}

static const char *error_code(json_t *r)
{
	return json_string_value(json_object_get(json_object_get(r, "error"), "code"));
}

/* Every page of PipelineName's executions with MaxResults 100 and the extra fields of body (stolen). */
static json_t *list_all(const char *pipeline, json_t *extra)
{
	json_t *all = json_array(), *token = NULL;
	int pages = 0;

	do {
		json_t *body = json_deep_copy(extra), *page;

		json_object_set_new(body, "PipelineName", json_string(pipeline));
		json_object_set_new(body, "MaxResults", json_integer(100));
		if (token != NULL)
			json_object_set(body, "NextToken", token);
		page = call_ok("SageMaker.ListPipelineExecutions", body);
		assert_true(json_array_size(json_object_get(page, "PipelineExecutionSummaries")) <= 100);
		json_array_extend(all, json_object_get(page, "PipelineExecutionSummaries"));
		json_decref(token);
		token = json_incref(json_object_get(page, "NextToken"));
		assert_true(++pages <= N);
	} while (token != NULL);
	json_decref(extra);
	return all;
}

static int index_of(const char *arn)
{
	for (int i = 0; i < N; i++)
		if (strcmp(arns[i], arn) == 0)
			return i;
	return -1;
}

static double start_of(json_t *a, size_t i)
{
	return json_number_value(json_object_get(json_array_get(a, i), "StartTime"));
}

static void both_orders_list_every_execution_once(void **state)
{
	json_t *desc = list_all("ListPipe", json_object()), *asc;
	int seen[N] = {0};
	size_t i;
	json_t *e;

	(void)state;
	asc = list_all("listpipe", json_pack("{s:s}", "SortOrder", "Ascending"));
	assert_int_equal(json_array_size(desc), N);
	assert_int_equal(json_array_size(asc), N);
	json_array_foreach(desc, i, e)
	{
		int k = index_of(json_string_value(json_object_get(e, "PipelineExecutionArn")));

		assert_true(k >= 0);
		assert_int_equal(seen[k]++, 0);
		assert_string_equal(json_string_value(json_object_get(e, "PipelineExecutionStatus")),
				    "Executing");
		if (i > 0)
			assert_true(start_of(desc, i) <= start_of(desc, i - 1));
		/* The same executions the other way round. */
		assert_true(json_equal(e, json_array_get(asc, N - 1 - i)) ||
			    start_of(asc, N - 1 - i) == start_of(desc, i));
	}
	json_decref(desc);
	json_decref(asc);
}

static void created_after_and_before_are_exclusive(void **state)
{
	json_t *asc = list_all("listpipe", json_pack("{s:s}", "SortOrder", "Ascending")), *win;
	double lo = start_of(asc, 300), hi = start_of(asc, 900);
	size_t want = 0;

	(void)state;
	for (size_t i = 0; i < N; i++)
		want += start_of(asc, i) > lo && start_of(asc, i) < hi;
	win = list_all("listpipe", json_pack("{s:f, s:f}", "CreatedAfter", lo, "CreatedBefore", hi));
	fprintf(stderr, "window (%.3f, %.3f): %zu executions\n", lo, hi, want);
	assert_true(want > 0);
	assert_int_equal(json_array_size(win), want);
	for (size_t i = 0; i < json_array_size(win); i++)
		assert_true(start_of(win, i) > lo && start_of(win, i) < hi);
	json_decref(win);
	json_decref(asc);
}

static void statuses_follow_stops_and_finishes(void **state)
{
	int stopped = 0, succeeded = 0;
	json_t *all;
	size_t i;
	json_t *e;

	(void)state;
	for (int k = 0; k < 100; k++)
		call_ok("SageMaker.StopPipelineExecution", hs_stop_body(arns[k]));
	for (int k = 100; k < 150; k++)
		call_ok("SageMaker.FinishPipelineExecution",
			json_pack("{s:s, s:s}", "PipelineExecutionArn", arns[k], "PipelineExecutionStatus",
				  "Succeeded"));
	all = list_all("listpipe", json_object());
	json_array_foreach(all, i, e)
	{
		const char *st = json_string_value(json_object_get(e, "PipelineExecutionStatus"));
		int k = index_of(json_string_value(json_object_get(e, "PipelineExecutionArn")));

		stopped += strcmp(st, "Stopped") == 0;
		succeeded += strcmp(st, "Succeeded") == 0;
		assert_string_equal(st, k < 100 ? "Stopped" : k < 150 ? "Succeeded" : "Executing");
	}
	assert_int_equal(stopped, 100);
	assert_int_equal(succeeded, 50);
	json_decref(all);
}

static void bad_requests(void **state)
{
	char own[200], other[200];

	(void)state;
	snprintf(own, sizeof(own), "arn:aws:sagemaker:%s:%s:pipeline/listpipe", H_REGION, H_ACCOUNT);
	snprintf(other, sizeof(other), "arn:aws:sagemaker:%s:210987654321:pipeline/listpipe", H_REGION);
	/* The pipeline's own ARN names it too. */
	assert_int_equal(json_array_size(json_object_get(
			     call_ok("SageMaker.ListPipelineExecutions",
				     json_pack("{s:s, s:i}", "PipelineName", own, "MaxResults", 7)),
			     "PipelineExecutionSummaries")),
			 7);
	assert_string_equal(
	    error_code(h_call("SageMaker.ListPipelineExecutions", json_pack("{s:s}", "PipelineName", other))),
	    "ResourceNotFound");
	assert_string_equal(error_code(h_call("SageMaker.ListPipelineExecutions",
					      json_pack("{s:s, s:s}", "PipelineName", "listpipe", "SortBy",
							"PipelineExecutionArn"))),
			    "ValidationException");
	assert_string_equal(
	    error_code(h_call("SageMaker.ListPipelineExecutions",
			      json_pack("{s:s, s:i}", "PipelineName", "listpipe", "MaxResults", 0))),
	    "ValidationException");
	assert_string_equal(
	    error_code(h_call("SageMaker.ListPipelineExecutions",
			      json_pack("{s:s, s:s}", "PipelineName", "listpipe", "NextToken", "zz"))),
	    "ValidationException");
	assert_string_equal(
	    error_code(h_call("SageMaker.ListPipelineExecutions",
			      json_pack("{s:s, s:s}", "PipelineName", "listpipe", "CreatedAfter", "x"))),
	    "ValidationException");
	/* A pipeline with no executions lists none. */
	assert_int_equal(json_array_size(json_object_get(call_ok("SageMaker.ListPipelineExecutions",
								 json_pack("{s:s}", "PipelineName", "empty")),
							 "PipelineExecutionSummaries")),
			 0);
}

static int setup(void **state)
{
	const char *ids[N];

	(void)state;
	h_group_setup(NULL);
	for (int i = 0; i < N; i++)
		ids[i] = h_send("SageMaker.StartPipelineExecution", NULL, NULL,
				json_pack("{s:s}", "PipelineName", "ListPipe"));
	h_flush();
	for (int i = 0; i < N; i++) {
		json_t *r = h_reply(ids[i], 1, 60000);

		if (r == NULL || !json_is_true(json_object_get(r, "ok")))
			return -1;
		arns[i] = strdup(
		    json_string_value(json_object_get(json_object_get(r, "body"), "PipelineExecutionArn")));
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < N; i++)
		free(arns[i]);
	return h_group_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(both_orders_list_every_execution_once),
	    cmocka_unit_test(created_after_and_before_are_exclusive),
	    cmocka_unit_test(statuses_follow_stops_and_finishes),
	    cmocka_unit_test(bad_requests),
	};
	return cmocka_run_group_tests_name("0704-sm_list", tests, setup, teardown);
}
