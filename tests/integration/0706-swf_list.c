/* 0706: SWF.ListOpenWorkflowExecutions and SWF.ListClosedWorkflowExecutions through the worker: pages across
 * 400 runs, the filters (time, type, execution, close status), cancelRequested, order, and faults. */
#include "harness.h"
#include "harness-swf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 400

/* Every page of op for domain listdom with maximumPageSize 100 and the fields of extra (stolen). */
static json_t *list_all(const char *op, json_t *extra)
{
	json_t *all = json_array(), *token = NULL;
	int pages = 0;

	do {
		json_t *body = json_deep_copy(extra), *r, *page;

		json_object_set_new(body, "domain", json_string("listdom"));
		json_object_set_new(body, "maximumPageSize", json_integer(100));
		if (token != NULL)
			json_object_set(body, "nextPageToken", token);
		r = h_call(op, body);
		if (!hw_ok(r))
			fprintf(stderr, "%s: %s\n", op, json_dumps(r, JSON_COMPACT));
		assert_true(hw_ok(r));
		page = json_object_get(r, "body");
		assert_true(json_array_size(json_object_get(page, "executionInfos")) <= 100);
		json_array_extend(all, json_object_get(page, "executionInfos"));
		json_decref(token);
		token = json_incref(json_object_get(page, "nextPageToken"));
		assert_true(++pages <= N);
	} while (token != NULL);
	json_decref(extra);
	return all;
}

static json_t *since_epoch(const char *filter)
{
	return json_pack("{s:{s:i}}", filter, "oldestDate", 0);
}

static const char *wid_of(json_t *info)
{
	return json_string_value(json_object_get(json_object_get(info, "execution"), "workflowId"));
}

static void open_runs_with_filters(void **state)
{
	json_t *all, *part, *e, *q;
	int seen[N] = {0}, cancels = 0;
	size_t i;

	(void)state;
	all = list_all("SWF.ListOpenWorkflowExecutions", since_epoch("startTimeFilter"));
	assert_int_equal(json_array_size(all), N - 50);
	json_array_foreach(all, i, e)
	{
		int k = atoi(wid_of(e) + 2);

		assert_true(k >= 50 && k < N);
		assert_int_equal(seen[k]++, 0);
		assert_string_equal(json_string_value(json_object_get(e, "executionStatus")), "OPEN");
		assert_null(json_object_get(e, "closeStatus"));
		assert_string_equal(
		    json_string_value(json_object_get(json_object_get(e, "workflowType"), "name")),
		    k % 2 == 0 ? "wfA" : "wfB");
		assert_int_equal(json_is_true(json_object_get(e, "cancelRequested")), k < 60);
		cancels += json_is_true(json_object_get(e, "cancelRequested"));
		if (i > 0) /* newest first */
			assert_true(
			    json_number_value(json_object_get(e, "startTimestamp")) <=
			    json_number_value(json_object_get(json_array_get(all, i - 1), "startTimestamp")));
	}
	assert_int_equal(cancels, 10);
	/* Oldest first with reverseOrder. */
	q = since_epoch("startTimeFilter");
	json_object_set_new(q, "reverseOrder", json_true());
	part = list_all("SWF.ListOpenWorkflowExecutions", q);
	assert_int_equal(json_array_size(part), N - 50);
	for (i = 1; i < json_array_size(part); i++)
		assert_true(
		    json_number_value(json_object_get(json_array_get(part, i), "startTimestamp")) >=
		    json_number_value(json_object_get(json_array_get(part, i - 1), "startTimestamp")));
	json_decref(part);
	q = since_epoch("startTimeFilter");
	json_object_set_new(q, "typeFilter", json_pack("{s:s}", "name", "wfA"));
	part = list_all("SWF.ListOpenWorkflowExecutions", q);
	assert_int_equal(json_array_size(part), (N - 50) / 2);
	json_decref(part);
	q = since_epoch("startTimeFilter");
	json_object_set_new(q, "executionFilter", json_pack("{s:s}", "workflowId", "w-77"));
	part = list_all("SWF.ListOpenWorkflowExecutions", q);
	assert_int_equal(json_array_size(part), 1);
	assert_string_equal(wid_of(json_array_get(part, 0)), "w-77");
	json_decref(part);
	/* A start window that ends before everything lists nothing. */
	part = list_all("SWF.ListOpenWorkflowExecutions",
			json_pack("{s:{s:i, s:i}}", "startTimeFilter", "oldestDate", 0, "latestDate", 1000));
	assert_int_equal(json_array_size(part), 0);
	json_decref(part);
	json_decref(all);
}

static void closed_runs_with_filters(void **state)
{
	json_t *all, *part, *e, *q;
	size_t i;

	(void)state;
	all = list_all("SWF.ListClosedWorkflowExecutions", since_epoch("startTimeFilter"));
	assert_int_equal(json_array_size(all), 50);
	json_array_foreach(all, i, e)
	{
		assert_true(atoi(wid_of(e) + 2) < 50);
		assert_string_equal(json_string_value(json_object_get(e, "executionStatus")), "CLOSED");
		assert_string_equal(json_string_value(json_object_get(e, "closeStatus")), "TERMINATED");
		assert_true(json_is_number(json_object_get(e, "closeTimestamp")));
	}
	json_decref(all);
	part = list_all("SWF.ListClosedWorkflowExecutions", since_epoch("closeTimeFilter"));
	assert_int_equal(json_array_size(part), 50);
	json_decref(part);
	q = since_epoch("startTimeFilter");
	json_object_set_new(q, "closeStatusFilter", json_pack("{s:s}", "status", "TERMINATED"));
	part = list_all("SWF.ListClosedWorkflowExecutions", q);
	assert_int_equal(json_array_size(part), 50);
	json_decref(part);
	q = since_epoch("startTimeFilter");
	json_object_set_new(q, "closeStatusFilter", json_pack("{s:s}", "status", "COMPLETED"));
	part = list_all("SWF.ListClosedWorkflowExecutions", q);
	assert_int_equal(json_array_size(part), 0);
	json_decref(part);
	/* Andon keeps no tags: a tag filter matches nothing. */
	q = since_epoch("startTimeFilter");
	json_object_set_new(q, "tagFilter", json_pack("{s:s}", "tag", "x"));
	part = list_all("SWF.ListClosedWorkflowExecutions", q);
	assert_int_equal(json_array_size(part), 0);
	json_decref(part);
}

static void faults(void **state)
{
	(void)state;
	assert_true(
	    hw_is_error(h_call("SWF.ListOpenWorkflowExecutions", json_pack("{s:s}", "domain", "listdom")),
			"ValidationException"));
	assert_true(
	    hw_is_error(h_call("SWF.ListClosedWorkflowExecutions",
			       json_pack("{s:s, s:{s:i}, s:{s:i}}", "domain", "listdom", "startTimeFilter",
					 "oldestDate", 0, "closeTimeFilter", "oldestDate", 0)),
			"ValidationException"));
	assert_true(hw_is_error(h_call("SWF.ListOpenWorkflowExecutions",
				       json_pack("{s:s, s:{s:i}, s:{s:s}, s:{s:s}}", "domain", "listdom",
						 "startTimeFilter", "oldestDate", 0, "typeFilter", "name",
						 "wfA", "executionFilter", "workflowId", "w-1")),
				"ValidationException"));
	assert_true(hw_is_error(
	    h_call("SWF.ListOpenWorkflowExecutions",
		   json_pack("{s:s, s:{s:i}}", "domain", "nodom", "startTimeFilter", "oldestDate", 0)),
	    "UnknownResourceFault"));
	assert_true(hw_is_error(h_call("SWF.ListOpenWorkflowExecutions",
				       json_pack("{s:s, s:{s:i}, s:s}", "domain", "listdom",
						 "startTimeFilter", "oldestDate", 0, "nextPageToken", "zz")),
				"ValidationException"));
}

static int setup(void **state)
{
	const char *ids[N];

	(void)state;
	h_group_setup(NULL);
	hw_domain("listdom", NULL);
	hw_type("listdom", "wfA", "1", "ABANDON");
	hw_type("listdom", "wfB", "1", "ABANDON");
	for (int i = 0; i < N; i++) {
		char wid[32];

		snprintf(wid, sizeof(wid), "w-%d", i);
		ids[i] =
		    h_send("SWF.StartWorkflowExecution", NULL, NULL,
			   json_pack("{s:s, s:s, s:{s:s, s:s}}", "domain", "listdom", "workflowId", wid,
				     "workflowType", "name", i % 2 == 0 ? "wfA" : "wfB", "version", "1"));
	}
	h_flush();
	for (int i = 0; i < N; i++) {
		json_t *r = h_reply(ids[i], 1, 60000);

		if (!hw_ok(r)) {
			fprintf(stderr, "start %d: %s\n", i,
				r != NULL ? json_dumps(r, JSON_COMPACT) : "no reply");
			return -1;
		}
	}
	for (int i = 0; i < 60; i++) {
		char wid[32];

		snprintf(wid, sizeof(wid), "w-%d", i);
		json_t *r =
		    h_call(i < 50 ? "SWF.TerminateWorkflowExecution" : "SWF.RequestCancelWorkflowExecution",
			   json_pack("{s:s, s:s}", "domain", "listdom", "workflowId", wid));

		if (!hw_ok(r)) {
			fprintf(stderr, "%s: %s\n", wid, json_dumps(r, JSON_COMPACT));
			return -1;
		}
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(open_runs_with_filters),
	    cmocka_unit_test(closed_runs_with_filters),
	    cmocka_unit_test(faults),
	};
	return cmocka_run_group_tests_name("0706-swf_list", tests, setup, h_group_teardown_cmocka);
}
