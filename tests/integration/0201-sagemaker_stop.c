/* 0201: SageMaker StopPipelineExecution and the callback-step handshake, driven only through Kafka. */
#include "harness-sagemaker.h"
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P "orders"

static const char *code(json_t *reply)
{
	return json_string_value(json_object_get(json_object_get(reply, "error"), "code"));
}

static int is_ok(json_t *reply)
{
	return json_is_true(json_object_get(reply, "ok"));
}

static json_t *stop(const char *arn)
{
	return h_call("SageMaker.StopPipelineExecution", json_pack("{s:s}", "PipelineExecutionArn", arn));
}

/* Events about arn whose stepStatus (step != NULL) or status (step == NULL, no step) is status. */
static size_t count_events(const char *arn, const char *step, const char *status)
{
	json_t *evs = h_events(arn), *e;
	size_t i, n = 0;

	json_array_foreach(evs, i, e)
	{
		const char *s = json_string_value(json_object_get(e, step ? "stepStatus" : "status"));
		const char *name = json_string_value(json_object_get(e, "step"));
		if (s == NULL || strcmp(s, status) != 0)
			continue;
		if (step != NULL ? (name != NULL && strcmp(name, step) == 0) : name == NULL)
			n++;
	}
	json_decref(evs);
	return n;
}

/* The handshake: stop -> Stopping message on the pipeline topic -> still Stopping -> result -> Stopped. */
static void handshake(int success)
{
	char *arn = hs_start(P), *token;
	json_t *r, *d, *m;
	size_t i;
	int seen = 0;

	h_watch(hs_topic(P));
	token = hs_step(arn, "train", "Callback", NULL, 0);
	assert_non_null(token);
	assert_int_equal(strlen(token), 10);
	assert_int_equal(hs_wait_message(hs_topic(P), token, "Executing", 20000), 0);

	r = stop(arn);
	assert_true(is_ok(r));
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(r, "body"), "PipelineExecutionArn")), arn);
	assert_int_equal(hs_wait_message(hs_topic(P), token, "Stopping", 20000), 0);

	/* The message carries everything a handler needs. */
	json_array_foreach(h_topic(hs_topic(P)), i, m)
	{
		json_t *v = json_object_get(m, "value");
		if (strcmp(json_string_value(json_object_get(v, "token")), token) != 0)
			continue;
		assert_string_equal(json_string_value(json_object_get(m, "key")), arn);
		assert_string_equal(json_string_value(json_object_get(v, "pipelineExecutionArn")), arn);
		assert_string_equal(json_string_value(json_object_get(v, "stepName")), "train");
		assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "arguments"), "n")),
				 7);
		seen++;
	}
	assert_int_equal(seen, 2);

	/* However long it takes, no Stopped before the step answers. */
	h_pump(300);
	assert_string_equal(hs_status(arn), "Stopping");
	assert_string_equal(hs_step_status(arn, "train"), "Stopping");
	assert_int_equal(count_events(arn, NULL, "Stopped"), 0);

	r = hs_result(token, success, "cleaned up");
	assert_true(is_ok(r));
	assert_string_equal(hs_status(arn), "Stopped");
	assert_string_equal(hs_step_status(arn, "train"), success ? "Stopped" : "Failed");
	assert_int_equal(h_wait_events(arn, 6, 20000),
			 0); /* Executing, step Executing, Stopping x2, step end, Stopped */
	assert_int_equal(count_events(arn, NULL, "Stopping"), 1);
	assert_int_equal(count_events(arn, NULL, "Stopped"), 1);
	assert_int_equal(count_events(arn, "train", success ? "Stopped" : "Failed"), 1);
	assert_int_equal(hs_history_count(arn, NULL, "Stopped"), 1);

	d = hs_describe(arn);
	if (!success)
		assert_string_equal(
		    json_string_value(json_object_get(
			json_array_get(json_object_get(d, "PipelineExecutionSteps"), 0), "FailureReason")),
		    "cleaned up");
	json_decref(d);

	/* The token is used up. */
	assert_string_equal(code(hs_result(token, 1, NULL)), "ResourceNotFound");
	free(token);
	free(arn);
}

static void stop_waits_for_callback_success(void **state)
{
	(void)state;
	handshake(1);
}

static void stop_waits_for_callback_failure(void **state)
{
	(void)state;
	handshake(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(stop_waits_for_callback_success),
	    cmocka_unit_test(stop_waits_for_callback_failure),
	};
	return cmocka_run_group_tests(tests, h_group_setup_cmocka, h_group_teardown_cmocka);
}
