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
	return h_call("SageMaker.StopPipelineExecution", hs_stop_body(arn));
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

static json_t *finish_lambda(const char *arn, const char *step, const char *status)
{
	return h_call("SageMaker.FinishPipelineExecutionStep",
		      json_pack("{s:s, s:s, s:s}", "PipelineExecutionArn", arn, "StepName", step,
				"StepStatus", status));
}

/* A Lambda step cannot be stopped: the stop waits for its function, sends it nothing, then completes. */
static void stop_waits_for_lambda_to_finish(void **state)
{
	char *arn = hs_start(P);

	(void)state;
	assert_null(hs_step(arn, "score", "Lambda", NULL, 60));
	assert_true(is_ok(stop(arn)));
	assert_string_equal(hs_status(arn), "Stopping");
	assert_string_equal(hs_step_status(arn, "score"), "Executing");
	assert_true(is_ok(finish_lambda(arn, "score", "Succeeded")));
	assert_string_equal(hs_status(arn), "Stopped");
	assert_string_equal(hs_step_status(arn, "score"), "Succeeded");
	/* Finished twice: one outcome only. */
	assert_string_equal(code(finish_lambda(arn, "score", "Failed")), "ConflictException");
	free(arn);
}

/* A Lambda step that outlives its timeout fails, and the stop then ends the execution Failed. */
static void lambda_timeout_fails_the_stopped_execution(void **state)
{
	char *arn = hs_start(P);
	json_t *d, *step;

	(void)state;
	free(hs_step(arn, "slow", "Lambda", NULL, 1));
	assert_true(is_ok(stop(arn)));
	assert_string_equal(hs_status(arn), "Stopping");
	assert_int_equal(hs_wait_status(arn, "Failed", 20000), 0);
	d = hs_describe(arn);
	step = json_array_get(json_object_get(d, "PipelineExecutionSteps"), 0);
	assert_string_equal(json_string_value(json_object_get(step, "StepStatus")), "Failed");
	assert_non_null(strstr(json_string_value(json_object_get(step, "FailureReason")), "1 seconds"));
	assert_non_null(json_string_value(json_object_get(d, "FailureReason")));
	json_decref(d);
	/* The function's late report finds the step ended. */
	assert_string_equal(code(finish_lambda(arn, "slow", "Succeeded")), "ConflictException");
	assert_int_equal(hs_history_count(arn, "slow", "Failed"), 1);
	free(arn);
}

/* Two callback steps and a Lambda step: the stop ends only when the last of the three is done. */
static void two_callbacks_and_a_lambda(void **state)
{
	char *arn = hs_start(P), *t1, *t2;

	(void)state;
	h_watch(hs_topic(P));
	t1 = hs_step(arn, "cb-1", "Callback", NULL, 0);
	t2 = hs_step(arn, "cb-2", "Callback", NULL, 0);
	free(hs_step(arn, "fn", "Lambda", NULL, 60));
	assert_true(is_ok(stop(arn)));
	assert_int_equal(hs_wait_message(hs_topic(P), t1, "Stopping", 20000), 0);
	assert_int_equal(hs_wait_message(hs_topic(P), t2, "Stopping", 20000), 0);
	assert_true(is_ok(hs_result(t1, 1, NULL)));
	assert_string_equal(hs_status(arn), "Stopping");
	assert_true(is_ok(finish_lambda(arn, "fn", "Succeeded")));
	assert_string_equal(hs_status(arn), "Stopping");
	assert_true(is_ok(hs_result(t2, 0, "interrupted")));
	assert_string_equal(hs_status(arn), "Stopped");
	assert_string_equal(hs_step_status(arn, "cb-1"), "Stopped");
	assert_string_equal(hs_step_status(arn, "cb-2"), "Failed");
	assert_string_equal(hs_step_status(arn, "fn"), "Succeeded");
	free(t1);
	free(t2);
	free(arn);
}

/* With no step running, the stop completes at once; a second stop and a replay change nothing. */
static void stop_rules(void **state)
{
	char *arn = hs_start(P), *done = hs_start(P);
	json_t *r1, *r2, *body = hs_stop_body(arn);
	const char *id;
	size_t dlq;

	(void)state;
	r1 = h_call("SageMaker.StopPipelineExecution", json_deep_copy(body));
	assert_true(is_ok(r1));
	assert_string_equal(hs_status(arn), "Stopped");
	assert_int_equal(hs_history_count(arn, NULL, "Stopping"), 1);
	assert_int_equal(hs_history_count(arn, NULL, "Stopped"), 1);

	/* Another stop (new id) of a Stopped execution: same reply, nothing changes. */
	r2 = stop(arn);
	assert_true(json_equal(json_object_get(r1, "body"), json_object_get(r2, "body")));
	/* A replay of the first request. */
	id = json_string_value(json_object_get(r1, "id"));
	r2 = h_call_as("SageMaker.StopPipelineExecution", id, NULL, body);
	assert_true(json_equal(json_object_get(r1, "body"), json_object_get(r2, "body")));
	assert_int_equal(hs_history_count(arn, NULL, "Stopped"), 1);

	/* A finished execution refuses the stop. */
	assert_true(is_ok(
	    h_call("SageMaker.FinishPipelineExecution", json_pack("{s:s, s:s}", "PipelineExecutionArn", done,
								  "PipelineExecutionStatus", "Succeeded"))));
	assert_string_equal(code(stop(done)), "ConflictException");
	assert_string_equal(hs_status(done), "Succeeded");

	/* Unknown execution, another account's, a malformed ARN. */
	assert_string_equal(
	    code(stop("arn:aws:sagemaker:us-east-1:123456789012:pipeline/orders/execution/nope00000000")),
	    "ResourceNotFound");
	r2 = h_call_as("SageMaker.StopPipelineExecution", NULL, "999999999999", hs_stop_body(done));
	assert_string_equal(code(r2), "ResourceNotFound");
	dlq = json_array_size(h_dlq());
	assert_string_equal(code(stop("arn:aws:sagemaker:us-east-1:123456789012:pipeline/orders")),
			    "ValidationException");
	/* Its DLQ record follows the reply, maybe later: the next test counts DLQ records from a baseline. */
	assert_int_equal(h_wait_dlq(dlq + 1, 20000), 0);
	free(arn);
	free(done);
}

/* ClientRequestToken is SageMaker's idempotency key: two request ids with one token are one stop. */
static void client_request_token_dedups(void **state)
{
	char *arn = hs_start(P), *token;
	const char *crt = "0123456789abcdef0123456789abcdef";
	json_t *r1, *r2;

	(void)state;
	token = hs_step(arn, "cb", "Callback", NULL, 0);
	r1 = h_call("SageMaker.StopPipelineExecution",
		    json_pack("{s:s, s:s}", "PipelineExecutionArn", arn, "ClientRequestToken", crt));
	r2 = h_call("SageMaker.StopPipelineExecution",
		    json_pack("{s:s, s:s}", "PipelineExecutionArn", arn, "ClientRequestToken", crt));
	assert_true(is_ok(r1));
	assert_true(json_equal(json_object_get(r1, "body"), json_object_get(r2, "body")));
	assert_int_equal(hs_history_count(arn, NULL, "Stopping"), 1);
	assert_int_equal(hs_history_count(arn, "cb", "Stopping"), 1);
	/* The same start token starts the same execution. */
	r1 = h_call("SageMaker.StartPipelineExecution",
		    json_pack("{s:s, s:s}", "PipelineName", P, "ClientRequestToken", crt));
	r2 = h_call("SageMaker.StartPipelineExecution",
		    json_pack("{s:s, s:s}", "PipelineName", P, "ClientRequestToken", crt));
	assert_true(is_ok(r1));
	assert_true(json_equal(json_object_get(r1, "body"), json_object_get(r2, "body")));
	assert_true(is_ok(hs_result(token, 1, NULL)));
	free(token);
	free(arn);

	/* One idempotency token reused for the results of two steps: two results. */
	arn = hs_start(P);
	char *a = hs_step(arn, "a", "Callback", NULL, 0), *b = hs_step(arn, "b", "Callback", NULL, 0);
	r1 = h_call("SageMaker.SendPipelineExecutionStepSuccess",
		    json_pack("{s:s, s:s}", "CallbackToken", a, "ClientRequestToken", crt));
	r2 = h_call("SageMaker.SendPipelineExecutionStepSuccess",
		    json_pack("{s:s, s:s}", "CallbackToken", b, "ClientRequestToken", crt));
	assert_true(is_ok(r1));
	assert_true(is_ok(r2));
	assert_string_equal(hs_step_status(arn, "a"), "Succeeded");
	assert_string_equal(hs_step_status(arn, "b"), "Succeeded");
	free(a);
	free(b);
	free(arn);
}

/* History pages of 100; a nil field counts as absent. */
static void history_pages_and_nil_fields(void **state)
{
	enum { STEPS = 60 };
	char *arn = hs_start(P), name[16];
	const char *ids[STEPS];
	json_t *r;

	(void)state;
	r = h_call("SageMaker.StartPipelineExecutionStep",
		   json_pack("{s:s, s:s, s:s, s:n, s:n}", "PipelineExecutionArn", arn, "StepName", "nil-args",
			     "StepType", "Callback", "Arguments", "TimeoutSeconds"));
	assert_true(is_ok(r));
	for (int i = 0; i < STEPS; i++) {
		snprintf(name, sizeof(name), "fn-%d", i);
		ids[i] = h_send("SageMaker.StartPipelineExecutionStep", NULL, NULL,
				json_pack("{s:s, s:s, s:s}", "PipelineExecutionArn", arn, "StepName", name,
					  "StepType", "Lambda"));
	}
	h_flush();
	for (int i = 0; i < STEPS; i++)
		assert_true(is_ok(h_reply(ids[i], 1, 20000)));
	for (int i = 0; i < STEPS; i++) {
		snprintf(name, sizeof(name), "fn-%d", i);
		ids[i] = h_send("SageMaker.FinishPipelineExecutionStep", NULL, NULL,
				json_pack("{s:s, s:s, s:s}", "PipelineExecutionArn", arn, "StepName", name,
					  "StepStatus", "Succeeded"));
	}
	h_flush();
	for (int i = 0; i < STEPS; i++)
		assert_true(is_ok(h_reply(ids[i], 1, 20000)));
	/* 1 + 1 + 60 + 60 entries: two pages. */
	assert_int_equal(hs_history_count(arn, "fn-59", "Succeeded"), 1);
	assert_int_equal(hs_history_count(arn, "fn-0", "Executing"), 1);
	r = h_call("SageMaker.ListPipelineExecutionHistory",
		   json_pack("{s:s, s:s}", "PipelineExecutionArn", arn, "NextToken", "x"));
	assert_string_equal(code(r), "ValidationException");
	free(arn);
}

/* Forged, malformed, late and foreign tokens. */
static void late_or_forged_tokens(void **state)
{
	char *arn = hs_start(P), *token;
	size_t dlq;
	json_t *r;

	(void)state;
	token = hs_step(arn, "cb", "Callback", NULL, 0);
	dlq = json_array_size(h_dlq());
	/* Well-formed but never issued: an answer about state, no DLQ. */
	assert_string_equal(code(hs_result("AAAAAAAAAA", 1, NULL)), "ResourceNotFound");
	assert_string_equal(code(hs_result("zzzzzzzzzz", 0, "x")), "ResourceNotFound");
	/* Another account cannot finish this account's step. */
	r = h_call_as("SageMaker.SendPipelineExecutionStepSuccess", NULL, "999999999999",
		      json_pack("{s:s}", "CallbackToken", token));
	assert_string_equal(code(r), "ResourceNotFound");
	/* Malformed: bad input, DLQ. */
	assert_string_equal(code(hs_result("short", 1, NULL)), "ValidationException");
	assert_string_equal(code(hs_result("has space!", 1, NULL)), "ValidationException");
	assert_int_equal(h_wait_dlq(dlq + 2, 20000), 0);
	h_pump(100);
	assert_int_equal(json_array_size(h_dlq()), dlq + 2);
	/* Used once, then late. */
	assert_true(is_ok(hs_result(token, 1, NULL)));
	assert_string_equal(hs_step_status(arn, "cb"), "Succeeded");
	assert_string_equal(code(hs_result(token, 0, "late")), "ResourceNotFound");
	assert_string_equal(hs_step_status(arn, "cb"), "Succeeded");
	free(token);
	free(arn);
}

static json_t *name_values(int n, int name_len, int value_len)
{
	json_t *a = json_array();
	char *name = malloc((size_t)name_len + 8), *value = malloc((size_t)value_len + 1);

	for (int i = 0; i < n; i++) {
		snprintf(name, (size_t)name_len + 8, "%0*d", name_len, i);
		memset(value, 'v', (size_t)value_len);
		value[value_len] = '\0';
		json_array_append_new(a, json_pack("{s:s, s:s}", "Name", name, "Value", value));
	}
	free(name);
	free(value);
	return a;
}

/* The limits of the callback results: 50 outputs, names 256, values 1024, reasons 256, tokens 32-128. */
static void callback_result_limits(void **state)
{
	char *arn = hs_start(P), *token, reason[300], crt[200];
	const char *ok_op = "SageMaker.SendPipelineExecutionStepSuccess";
	const char *fail_op = "SageMaker.SendPipelineExecutionStepFailure";
	json_t *r;

	(void)state;
	token = hs_step(arn, "cb", "Callback", NULL, 0);
	r = h_call(ok_op, json_pack("{s:s, s:o}", "CallbackToken", token, "OutputParameters",
				    name_values(51, 4, 4)));
	assert_string_equal(code(r), "ValidationException");
	r = h_call(ok_op, json_pack("{s:s, s:o}", "CallbackToken", token, "OutputParameters",
				    name_values(1, 257, 4)));
	assert_string_equal(code(r), "ValidationException");
	r = h_call(ok_op, json_pack("{s:s, s:o}", "CallbackToken", token, "OutputParameters",
				    name_values(1, 4, 1025)));
	assert_string_equal(code(r), "ValidationException");
	memset(reason, 'r', 257);
	reason[257] = '\0';
	r = h_call(fail_op, json_pack("{s:s, s:s}", "CallbackToken", token, "FailureReason", reason));
	assert_string_equal(code(r), "ValidationException");
	memset(crt, 'c', 129);
	crt[129] = '\0';
	r = h_call(ok_op, json_pack("{s:s, s:s}", "CallbackToken", token, "ClientRequestToken", crt));
	assert_string_equal(code(r), "ValidationException");
	crt[31] = '\0';
	r = h_call(ok_op, json_pack("{s:s, s:s}", "CallbackToken", token, "ClientRequestToken", crt));
	assert_string_equal(code(r), "ValidationException");
	/* Still running after all that; the largest legal result is taken whole. */
	assert_string_equal(hs_step_status(arn, "cb"), "Executing");
	crt[31] = 'c';
	crt[128] = '\0';
	r = h_call(ok_op, json_pack("{s:s, s:o, s:s}", "CallbackToken", token, "OutputParameters",
				    name_values(50, 256, 1024), "ClientRequestToken", crt));
	assert_true(is_ok(r));
	r = hs_describe(arn);
	assert_int_equal(
	    json_array_size(json_object_get(
		json_object_get(
		    json_object_get(json_array_get(json_object_get(r, "PipelineExecutionSteps"), 0),
				    "Metadata"),
		    "Callback"),
		"OutputParameters")),
	    50);
	json_decref(r);
	free(token);
	free(arn);
}

/* Success racing the stop, 30 times: whichever Redis runs first decides; the execution always ends
 * Stopped exactly once, and the step ends Succeeded (success first) or Stopped (stop first). */
static void success_racing_stop(void **state)
{
	enum { N = 30 };
	char *arns[N], *tokens[N];
	const char *ids[N][2];

	(void)state;
	for (int i = 0; i < N; i++) {
		arns[i] = hs_start(P);
		tokens[i] = hs_step(arns[i], "cb", "Callback", NULL, 0);
	}
	for (int i = 0; i < N; i++) {
		json_t *stop_body = hs_stop_body(arns[i]);
		json_t *ok_body = json_pack("{s:s}", "CallbackToken", tokens[i]);
		if (i % 2) {
			ids[i][0] = h_send("SageMaker.StopPipelineExecution", NULL, NULL, stop_body);
			ids[i][1] = h_send("SageMaker.SendPipelineExecutionStepSuccess", NULL, NULL, ok_body);
		} else {
			ids[i][1] = h_send("SageMaker.SendPipelineExecutionStepSuccess", NULL, NULL, ok_body);
			ids[i][0] = h_send("SageMaker.StopPipelineExecution", NULL, NULL, stop_body);
		}
	}
	h_flush();
	for (int i = 0; i < N; i++) {
		const char *st;
		assert_true(is_ok(h_reply(ids[i][0], 1, 20000)));
		assert_true(is_ok(h_reply(ids[i][1], 1, 20000)));
		assert_int_equal(hs_wait_status(arns[i], "Stopped", 20000), 0);
		st = hs_step_status(arns[i], "cb");
		assert_true(strcmp(st, "Succeeded") == 0 || strcmp(st, "Stopped") == 0);
		assert_int_equal(hs_history_count(arns[i], NULL, "Stopped"), 1);
		assert_int_equal(hs_history_count(arns[i], "cb", st), 1);
		free(arns[i]);
		free(tokens[i]);
	}
}

/* A result arriving at its step's deadline: one outcome only, and the loser learns it lost. */
static void result_racing_its_timeout(void **state)
{
	enum { N = 20 };
	char *arns[N], *tokens[N];
	const char *ids[N];
	json_t *body;
	long long due;
	int won = 0;

	(void)state;
	for (int i = 0; i < N; i++) {
		arns[i] = hs_start(P);
		body = json_pack("{s:s, s:s, s:s, s:i}", "PipelineExecutionArn", arns[i], "StepName", "cb",
				 "StepType", "Callback", "TimeoutSeconds", 1);
		tokens[i] = strdup(json_string_value(json_object_get(
		    json_object_get(h_call("SageMaker.StartPipelineExecutionStep", body), "body"),
		    "CallbackToken")));
	}
	/* Send the results around the deadline of the first step. */
	due = h_now_ms() + 900;
	while (h_now_ms() < due)
		h_pump(20);
	for (int i = 0; i < N; i++)
		ids[i] = h_send("SageMaker.SendPipelineExecutionStepSuccess", NULL, NULL,
				json_pack("{s:s}", "CallbackToken", tokens[i]));
	h_flush();
	for (int i = 0; i < N; i++) {
		json_t *r = h_reply(ids[i], 1, 20000);
		const char *st;
		assert_non_null(r);
		/* The deadline fires if the success did not win: poll until the step has ended. */
		long long deadline = h_now_ms() + 20000;
		while (strcmp(st = hs_step_status(arns[i], "cb"), "Executing") == 0 && h_now_ms() < deadline)
			h_pump(20);
		if (is_ok(r)) {
			won++;
			assert_string_equal(st, "Succeeded");
		} else {
			assert_string_equal(code(r), "ResourceNotFound");
			assert_string_equal(st, "Failed");
		}
		assert_int_equal(hs_history_count(arns[i], "cb", "Succeeded") +
				     hs_history_count(arns[i], "cb", "Failed"),
				 1);
		free(arns[i]);
		free(tokens[i]);
	}
	printf("%d of %d results beat their deadline\n", won, N);
	fflush(stdout);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(stop_waits_for_callback_success),
	    cmocka_unit_test(stop_waits_for_callback_failure),
	    cmocka_unit_test(stop_waits_for_lambda_to_finish),
	    cmocka_unit_test(lambda_timeout_fails_the_stopped_execution),
	    cmocka_unit_test(two_callbacks_and_a_lambda),
	    cmocka_unit_test(stop_rules),
	    cmocka_unit_test(client_request_token_dedups),
	    cmocka_unit_test(history_pages_and_nil_fields),
	    cmocka_unit_test(late_or_forged_tokens),
	    cmocka_unit_test(callback_result_limits),
	    cmocka_unit_test(success_racing_stop),
	    cmocka_unit_test(result_racing_its_timeout),
	};
	return cmocka_run_group_tests(tests, h_group_setup_cmocka, h_group_teardown_cmocka);
}
