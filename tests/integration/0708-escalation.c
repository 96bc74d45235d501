/* 0708: escalation of graceful stops not honoured in time: an SWF cancel request turns into a terminate
 * (per request, or by the domain's default, firing once across a worker restart), a cancel the decider
 * honours does not; a SageMaker stop whose callback step never answers fails the step and completes. */
#include "harness.h"
#include "harness-sagemaker.h"
#include "harness-swf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The timer set's members (docs/REDIS.md section 7) that name run r. */
/* Deadlines naming rid, in every timer shard (worker.timer_shards, default 16: andon:{timers:0..15}). */
static long long timers_of(const char *rid)
{
	long long n = 0;

	for (int shard = 0; shard < 16; shard++) {
		redisReply *r = h_redis("ZRANGE andon:{timers:%d} 0 -1", shard);

		assert_int_equal(r->type, REDIS_REPLY_ARRAY);
		for (size_t i = 0; i < r->elements; i++)
			n += strstr(r->element[i]->str, rid) != NULL;
		freeReplyObject(r);
	}
	return n;
}

static json_t *terminated_entry(const hw_run_t *run)
{
	json_t *hist = hw_history(run), *last;

	assert_int_equal(hw_count(hist, "WorkflowExecutionTerminated"), 1);
	last = json_incref(hw_last(hist, "WorkflowExecutionTerminated"));
	json_decref(hist);
	return last;
}

static void swf_cancel_escalates_per_request(void **state)
{
	hw_run_t run = hw_start("escdom", "slow", "wf", "1", NULL);
	json_t *body = hw_exec(&run, 1), *entry, *attrs;
	long long t0 = h_now_ms(), took;

	(void)state;
	json_object_set_new(body, "escalateAfterSeconds", json_integer(2));
	assert_true(hw_ok(h_call("SWF.RequestCancelWorkflowExecution", body)));
	assert_string_equal(hw_status(&run), "OPEN");
	assert_int_equal(hw_wait_closed(&run, "TERMINATED", 30000), 0);
	took = h_now_ms() - t0;
	fprintf(stderr, "cancel escalated to terminate after %lld ms (escalateAfterSeconds 2)\n", took);
	assert_true(took >= 2000);
	entry = terminated_entry(&run);
	attrs = json_object_get(entry, "workflowExecutionTerminatedEventAttributes");
	assert_non_null(strstr(json_string_value(json_object_get(attrs, "reason")), "Andon escalation"));
	assert_string_equal(json_string_value(json_object_get(attrs, "childPolicy")), "ABANDON");
	json_decref(entry);
	assert_int_equal(timers_of(run.rid), 0);
	hw_run_free(&run);
}

static void swf_honoured_cancel_does_not_escalate(void **state)
{
	hw_run_t run = hw_start("escdom", "quick", "wf", "1", NULL);
	json_t *body = hw_exec(&run, 1);
	long long deadline;

	(void)state;
	json_object_set_new(body, "escalateAfterSeconds", json_integer(1));
	assert_true(hw_ok(h_call("SWF.RequestCancelWorkflowExecution", body)));
	assert_true(hw_ok(h_call("SWF.CancelWorkflowExecution", hw_exec(&run, 1))));
	/* The deadline fires as a no-op: wait until the timer is gone, then the run is still CANCELED. */
	deadline = h_now_ms() + 30000;
	while (timers_of(run.rid) > 0 && h_now_ms() < deadline)
		h_pump(100);
	assert_int_equal(timers_of(run.rid), 0);
	assert_string_equal(hw_status(&run), "CANCELED");
	hw_run_free(&run);
}

static void swf_domain_default_fires_once_across_a_restart(void **state)
{
	hw_run_t run = hw_start("escdef", "r1", "wf", "1", NULL);
	json_t *entry;

	(void)state;
	assert_true(hw_ok(h_call("SWF.RequestCancelWorkflowExecution", hw_exec(&run, 1))));
	assert_int_equal(timers_of(run.rid), 1);
	/* The deadline (3 s) passes while no worker runs; the next one fires it. */
	assert_int_equal(h_worker_stop(), 0);
	h_sleep_ms(3500);
	assert_int_equal(timers_of(run.rid), 1);
	h_worker_start(NULL);
	assert_int_equal(hw_wait_closed(&run, "TERMINATED", 30000), 0);
	entry = terminated_entry(&run);
	assert_non_null(
	    strstr(json_string_value(json_object_get(
		       json_object_get(entry, "workflowExecutionTerminatedEventAttributes"), "reason")),
		   "within 3 seconds"));
	json_decref(entry);
	assert_int_equal(timers_of(run.rid), 0);
	/* Once: a second firing (a replayed deadline) changes nothing. */
	h_pump(1000);
	entry = hw_history(&run);
	assert_int_equal(hw_count(entry, "WorkflowExecutionTerminated"), 1);
	json_decref(entry);
	hw_run_free(&run);
}

/* The failure reason of step in the execution's describe. */
static char *step_reason(const char *arn, const char *step)
{
	json_t *d = hs_describe(arn), *st;
	char *reason = NULL;
	size_t i;

	assert_non_null(d);
	json_array_foreach(json_object_get(d, "PipelineExecutionSteps"), i,
			   st) if (strcmp(json_string_value(json_object_get(st, "StepName")), step) == 0 &&
				   json_is_string(json_object_get(st, "FailureReason"))) reason =
	    strdup(json_string_value(json_object_get(st, "FailureReason")));
	json_decref(d);
	return reason;
}

static void sagemaker_stop_timeout_fails_silent_steps(void **state)
{
	char *arn = hs_start("EscPipe"), *reason;
	json_t *stop = hs_stop_body(arn);
	long long t0;

	(void)state;
	free(hs_step(arn, "cb1", "Callback", hs_topic("EscPipe"), 0));
	free(hs_step(arn, "cb2", "Callback", hs_topic("EscPipe"), 0));
	json_object_set_new(stop, "StopTimeoutSeconds", json_integer(2));
	t0 = h_now_ms();
	assert_true(hw_ok(h_call("SageMaker.StopPipelineExecution", stop)));
	assert_string_equal(hs_status(arn), "Stopping");
	assert_int_equal(hs_wait_status(arn, "Stopped", 30000), 0);
	fprintf(stderr, "stop escalated after %lld ms (StopTimeoutSeconds 2)\n", h_now_ms() - t0);
	assert_true(h_now_ms() - t0 >= 2000);
	assert_string_equal(hs_step_status(arn, "cb1"), "Failed");
	assert_string_equal(hs_step_status(arn, "cb2"), "Failed");
	assert_non_null(reason = step_reason(arn, "cb1"));
	assert_non_null(strstr(reason, "StopTimeoutSeconds (2 s)"));
	free(reason);
	assert_int_equal(timers_of(arn), 0);
	free(arn);
}

/* StopTimeoutSeconds given at start is the default of the execution's stops; its deadline passes while no
 * worker runs, and fires once when one is back. */
static void sagemaker_start_default_fires_once_across_a_restart(void **state)
{
	json_t *r = h_call("SageMaker.StartPipelineExecution",
			   json_pack("{s:s, s:i}", "PipelineName", "EscPipe", "StopTimeoutSeconds", 2));
	char *arn;
	json_t *hist;
	size_t failed = 0, i;
	json_t *e;

	(void)state;
	assert_true(hw_ok(r));
	arn = strdup(json_string_value(json_object_get(json_object_get(r, "body"), "PipelineExecutionArn")));
	free(hs_step(arn, "cb", "Callback", hs_topic("EscPipe"), 0));
	assert_true(hw_ok(h_call("SageMaker.StopPipelineExecution", hs_stop_body(arn))));
	assert_int_equal(timers_of(arn), 1);
	assert_int_equal(h_worker_stop(), 0);
	h_sleep_ms(2500);
	h_worker_start(NULL);
	assert_int_equal(hs_wait_status(arn, "Stopped", 30000), 0);
	assert_string_equal(hs_step_status(arn, "cb"), "Failed");
	assert_int_equal(timers_of(arn), 0);
	h_pump(1000);
	r = h_call("SageMaker.ListPipelineExecutionHistory", json_pack("{s:s}", "PipelineExecutionArn", arn));
	hist = json_object_get(json_object_get(r, "body"), "PipelineExecutionHistory");
	json_array_foreach(hist, i, e) failed +=
	    json_is_string(json_object_get(e, "stepStatus")) &&
	    strcmp(json_string_value(json_object_get(e, "stepStatus")), "Failed") == 0;
	assert_int_equal(failed, 1);
	free(arn);
}

static void bad_escalation_values(void **state)
{
	hw_run_t run = hw_start("escdom", "bad", "wf", "1", NULL);
	json_t *body = hw_exec(&run, 1);

	(void)state;
	json_object_set_new(body, "escalateAfterSeconds", json_integer(0));
	assert_true(hw_is_error(h_call("SWF.RequestCancelWorkflowExecution", body), "ValidationException"));
	assert_true(hw_is_error(h_call("SWF.RegisterDomain", json_pack("{s:s, s:s}", "name", "escbad",
								       "escalateAfterSeconds", "3")),
				"ValidationException"));
	assert_string_equal(hw_status(&run), "OPEN");
	hw_run_free(&run);
	body =
	    hs_stop_body("arn:aws:sagemaker:us-east-1:123456789012:pipeline/escpipe/execution/abcdefabcdef");
	json_object_set_new(body, "StopTimeoutSeconds", json_integer(-1));
	assert_true(hw_is_error(h_call("SageMaker.StopPipelineExecution", body), "ValidationException"));
}

static int setup(void **state)
{
	(void)state;
	h_group_setup(NULL);
	hw_domain("escdom", NULL);
	hw_type("escdom", "wf", "1", "ABANDON");
	if (!hw_ok(h_call("SWF.RegisterDomain",
			  json_pack("{s:s, s:i}", "name", "escdef", "escalateAfterSeconds", 3))))
		return -1;
	hw_type("escdef", "wf", "1", "ABANDON");
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(swf_cancel_escalates_per_request),
	    cmocka_unit_test(swf_honoured_cancel_does_not_escalate),
	    cmocka_unit_test(swf_domain_default_fires_once_across_a_restart),
	    cmocka_unit_test(sagemaker_stop_timeout_fails_silent_steps),
	    cmocka_unit_test(sagemaker_start_default_fires_once_across_a_restart),
	    cmocka_unit_test(bad_escalation_values),
	};
	return cmocka_run_group_tests_name("0708-escalation", tests, setup, h_group_teardown_cmocka);
}
