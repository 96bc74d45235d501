/*
 * 0202: SageMaker callback steps with the reference handler (andon-callback) answering: its step and
 * cleanup commands, a worker killed between the stop and the step's result, and 1,000 concurrent stops.
 */
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

static pid_t handler(const char *pipeline, const char *step_cmd, const char *stop_cmd)
{
	const char *args[16];
	int n = 0;

	args[n++] = "-b";
	args[n++] = h_brokers();
	args[n++] = "-p";
	args[n++] = pipeline;
	args[n++] = "-X";
	args[n++] = "fetch.wait.max.ms=5";
	args[n++] = "-X";
	args[n++] = "session.timeout.ms=6000";
	if (step_cmd != NULL) {
		args[n++] = "-e";
		args[n++] = step_cmd;
	}
	if (stop_cmd != NULL) {
		args[n++] = "-s";
		args[n++] = stop_cmd;
	}
	args[n] = NULL;
	return h_tool_start("andon-callback", args);
}

static json_t *step_of(json_t *describe, int i)
{
	return json_array_get(json_object_get(describe, "PipelineExecutionSteps"), (size_t)i);
}

/* Waits until the first step of arn has ended; returns the describe body (caller decrefs). */
static json_t *wait_step_end(const char *arn, int timeout_ms)
{
	long long deadline = h_now_ms() + timeout_ms;

	for (;;) {
		json_t *d = hs_describe(arn);
		const char *st = json_string_value(json_object_get(step_of(d, 0), "StepStatus"));
		if (st != NULL && strcmp(st, "Executing") != 0 && strcmp(st, "Stopping") != 0)
			return d;
		json_decref(d);
		if (h_now_ms() >= deadline)
			return NULL;
		h_pump(50);
	}
}

/* Executing: the step command gets the arguments on stdin and its stdout becomes the outputs. */
static void handler_runs_the_step_command(void **state)
{
	pid_t h =
	    handler("cb-run", "printf '{\"echo\": %s, \"step\": \"%s\"}' \"$(cat)\" \"$ANDON_STEP\"", NULL);
	char *arn = hs_start("cb-run");
	json_t *d, *outs, *o;
	size_t i;
	int found = 0;

	(void)state;
	free(hs_step(arn, "prep", "Callback", NULL, 0));
	d = wait_step_end(arn, 30000);
	assert_non_null(d);
	assert_string_equal(json_string_value(json_object_get(step_of(d, 0), "StepStatus")), "Succeeded");
	outs = json_object_get(json_object_get(json_object_get(step_of(d, 0), "Metadata"), "Callback"),
			       "OutputParameters");
	json_array_foreach(outs, i, o)
	{
		const char *name = json_string_value(json_object_get(o, "Name"));
		const char *value = json_string_value(json_object_get(o, "Value"));
		if (strcmp(name, "step") == 0) {
			assert_string_equal(value, "prep");
			found++;
		} else if (strcmp(name, "echo") == 0) {
			assert_non_null(strstr(value, "\"n\":7"));
			found++;
		}
	}
	assert_int_equal(found, 2);
	json_decref(d);
	assert_int_equal(h_tool_stop(h), 0);
	free(arn);
}

/* A failing step command fails the step with its exit status and stderr. */
static void handler_reports_a_failing_command(void **state)
{
	pid_t h = handler("cb-fail", "echo disk full >&2; exit 3", NULL);
	char *arn = hs_start("cb-fail");
	json_t *d;

	(void)state;
	free(hs_step(arn, "prep", "Callback", NULL, 0));
	d = wait_step_end(arn, 30000);
	assert_non_null(d);
	assert_string_equal(json_string_value(json_object_get(step_of(d, 0), "StepStatus")), "Failed");
	assert_string_equal(json_string_value(json_object_get(step_of(d, 0), "FailureReason")),
			    "step command exited 3: disk full");
	json_decref(d);
	assert_int_equal(h_tool_stop(h), 0);
	free(arn);
}

/* Stopping: the cleanup command runs, then the report ends the step and the stop. */
static void handler_cleans_up_on_stop(void **state)
{
	pid_t h = handler("cb-stop", NULL, "cat > /dev/null; echo cleaned >&2");
	char *ok_arn = hs_start("cb-stop"), *bad_arn;
	json_t *d;

	(void)state;
	free(hs_step(ok_arn, "train", "Callback", NULL, 0));
	assert_true(json_is_true(
	    json_object_get(h_call("SageMaker.StopPipelineExecution", hs_stop_body(ok_arn)), "ok")));
	assert_int_equal(hs_wait_status(ok_arn, "Stopped", 30000), 0);
	assert_string_equal(hs_step_status(ok_arn, "train"), "Stopped");
	assert_int_equal(h_tool_stop(h), 0);

	/* A cleanup that fails: the step fails, the execution still stops. */
	h = handler("cb-stop2", NULL, "exit 4");
	bad_arn = hs_start("cb-stop2");
	free(hs_step(bad_arn, "train", "Callback", NULL, 0));
	h_call("SageMaker.StopPipelineExecution", hs_stop_body(bad_arn));
	assert_int_equal(hs_wait_status(bad_arn, "Stopped", 30000), 0);
	d = hs_describe(bad_arn);
	assert_string_equal(json_string_value(json_object_get(step_of(d, 0), "StepStatus")), "Failed");
	assert_string_equal(json_string_value(json_object_get(step_of(d, 0), "FailureReason")),
			    "cleanup exited 4:");
	json_decref(d);
	assert_int_equal(h_tool_stop(h), 0);
	free(ok_arn);
	free(bad_arn);
}

/* Requests on the request topic reporting a result for token. */
static size_t reports_for(const char *token)
{
	json_t *msgs = h_topic("andon.requests"), *m;
	size_t i, n = 0;

	json_array_foreach(msgs, i, m)
	{
		const char *t = json_string_value(
		    json_object_get(json_object_get(json_object_get(m, "value"), "body"), "CallbackToken"));
		if (t != NULL && strcmp(t, token) == 0)
			n++;
	}
	return n;
}

/*
 * The worker dies between the stop and the step's result. After a restart the stop completes: the
 * Stopping message went out (at least once), the handler's result is applied, and the execution ends
 * Stopped once.
 */
static void worker_killed_between_stop_and_result(void **state)
{
	pid_t h = handler("cb-kill", NULL, "sleep 1");
	char *arn = hs_start("cb-kill"), *token;
	long long deadline;

	(void)state;
	h_watch(hs_topic("cb-kill"));
	h_watch("andon.requests");
	token = hs_step(arn, "train", "Callback", NULL, 0);
	h_call("SageMaker.StopPipelineExecution", hs_stop_body(arn));
	h_worker_kill();
	/* The Stopping message may or may not have left before the kill; either way the handler's result
	 * (sent during its 1 s cleanup, or after the replayed stop re-sent the message) lands after it. */
	deadline = h_now_ms() + 1500;
	while (reports_for(token) == 0 && h_now_ms() < deadline)
		h_pump(50);
	printf("Stopping message %s the kill; %zu report(s) sent while the worker was down\n",
	       hs_messages(hs_topic("cb-kill"), token, "Stopping") ? "left before" : "had not left at",
	       reports_for(token));
	fflush(stdout);
	h_worker_start(NULL);
	assert_int_equal(hs_wait_status(arn, "Stopped", 30000), 0);
	assert_true(hs_messages(hs_topic("cb-kill"), token, "Stopping") >= 1);
	assert_string_equal(hs_step_status(arn, "train"), "Stopped");
	assert_int_equal(hs_history_count(arn, NULL, "Stopping"), 1);
	assert_int_equal(hs_history_count(arn, NULL, "Stopped"), 1);
	assert_int_equal(hs_history_count(arn, "train", "Stopped"), 1);
	assert_int_equal(h_tool_stop(h), 0);
	free(token);
	free(arn);
}

/* 1,000 pipelines with a callback step each, stopped at once, two handlers answering: all end Stopped. */
static void thousand_concurrent_stops(void **state)
{
	enum { N = 1000 };
	pid_t h1 = handler("bulk", NULL, "true"), h2 = handler("bulk", NULL, NULL);
	const char *ids[N];
	char *arns[N];
	long long t0, deadline;
	int stopped = 0;

	(void)state;
	for (int i = 0; i < N; i++)
		ids[i] = h_send("SageMaker.StartPipelineExecution", NULL, NULL,
				json_pack("{s:s}", "PipelineName", "bulk"));
	h_flush();
	for (int i = 0; i < N; i++) {
		json_t *r = h_reply(ids[i], 1, 30000);
		assert_non_null(r);
		arns[i] = strdup(
		    json_string_value(json_object_get(json_object_get(r, "body"), "PipelineExecutionArn")));
		ids[i] = h_send("SageMaker.StartPipelineExecutionStep", NULL, NULL,
				json_pack("{s:s, s:s, s:s}", "PipelineExecutionArn", arns[i], "StepName",
					  "work", "StepType", "Callback"));
	}
	h_flush();
	for (int i = 0; i < N; i++)
		assert_true(json_is_true(json_object_get(h_reply(ids[i], 1, 30000), "ok")));

	t0 = h_now_ms();
	for (int i = 0; i < N; i++)
		ids[i] = h_send("SageMaker.StopPipelineExecution", NULL, NULL, hs_stop_body(arns[i]));
	h_flush();
	deadline = h_now_ms() + 120000;
	for (int i = 0; i < N; i++) {
		redisReply *r;
		for (;;) {
			r = h_redis("HGET andon:{%s}:x st", arns[i]);
			if (r->type == REDIS_REPLY_STRING && strcmp(r->str, "STOPPED") == 0)
				break;
			freeReplyObject(r);
			assert_true(h_now_ms() < deadline);
			h_pump(20);
		}
		freeReplyObject(r);
		stopped++;
	}
	printf("%d of %d pipelines stopped through the handshake in %lld ms\n", stopped, N, h_now_ms() - t0);
	fflush(stdout);
	for (int i = 0; i < N; i += 97) {
		assert_string_equal(hs_step_status(arns[i], "work"), "Stopped");
		assert_int_equal(hs_history_count(arns[i], NULL, "Stopped"), 1);
	}
	for (int i = 0; i < N; i++)
		free(arns[i]);
	assert_int_equal(h_tool_stop(h1), 0);
	assert_int_equal(h_tool_stop(h2), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(handler_runs_the_step_command),
	    cmocka_unit_test(handler_reports_a_failing_command),
	    cmocka_unit_test(handler_cleans_up_on_stop),
	    cmocka_unit_test(worker_killed_between_stop_and_result),
	    cmocka_unit_test(thousand_concurrent_stops),
	};
	return cmocka_run_group_tests(tests, h_group_setup_cmocka, h_group_teardown_cmocka);
}
