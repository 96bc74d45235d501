/* 0109: contract fidelity across APIs: payloads kept byte for byte, one request per id, SageMaker stop
 * rules, accounts on shared topics and events, CloudFlow's account-wide throttle. */
#include "harness-cflow.h"
#include "harness-sagemaker.h"
#include "harness-swf.h"
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OTHER "999999999999"

static int is_ok(json_t *r)
{
	return json_is_true(json_object_get(r, "ok"));
}

static const char *code(json_t *r)
{
	const char *c = json_string_value(json_object_get(json_object_get(r, "error"), "code"));
	return c != NULL ? c : "(none)";
}

static const char *body_str(json_t *r, const char *field)
{
	return json_string_value(json_object_get(json_object_get(r, "body"), field));
}

/* The callback message for token on topic (waiting for it), or NULL. Borrowed. */
static json_t *callback_msg(const char *topic, const char *token)
{
	long long deadline = h_now_ms() + 20000;

	for (;;) {
		json_t *all = h_topic(topic), *m;
		size_t i;

		json_array_foreach(all, i, m)
		{
			json_t *v = json_object_get(m, "value");
			if (strcmp(json_string_value(json_object_get(v, "token")), token) == 0)
				return v;
		}
		if (h_now_ms() >= deadline)
			return NULL;
		h_pump(20);
	}
}

static char *step_with(const char *arn, const char *step, json_t *args)
{
	json_t *body = json_pack("{s:s, s:s, s:s}", "PipelineExecutionArn", arn, "StepName", step, "StepType",
				 "Callback");
	json_t *r;

	if (args != NULL)
		json_object_set_new(body, "Arguments", args);
	r = h_call("SageMaker.StartPipelineExecutionStep", body);
	assert_true(is_ok(r));
	return strdup(body_str(r, "CallbackToken"));
}

/* Arguments reach the handler as they were sent: empty maps stay maps, nulls stay, 1.0 stays a float. */
static void payloads_keep_their_form(void **state)
{
	char *arn = hs_start("payload"), *t1, *t2;
	json_t *args = json_pack("{s:o, s:o, s:s, s:i, s:f, s:o, s:{s:[i, f, o]}}", "emptyObj", json_object(),
				 "nothing", json_null(), "s", "x", "i", 1, "f", 1.0, "arr", json_array(),
				 "deep", "list", 2, 2.0, json_null());
	json_t *m, *a, *sent = json_deep_copy(args);

	(void)state;
	h_watch(hs_topic("payload"));
	t1 = step_with(arn, "with-args", args);
	t2 = step_with(arn, "no-args", NULL);
	m = callback_msg(hs_topic("payload"), t1);
	assert_non_null(m);
	a = json_object_get(m, "arguments");
	assert_true(json_equal(a, sent));
	assert_true(json_is_object(json_object_get(a, "emptyObj")));
	assert_true(json_is_null(json_object_get(a, "nothing")));
	assert_true(json_is_real(json_object_get(a, "f")));
	assert_true(json_is_integer(json_object_get(a, "i")));
	assert_true(json_is_array(json_object_get(a, "arr")));
	assert_string_equal(json_string_value(json_object_get(m, "account")), H_ACCOUNT);
	/* Without Arguments the message still has them: an empty map. */
	m = callback_msg(hs_topic("payload"), t2);
	assert_non_null(m);
	assert_true(json_is_object(json_object_get(m, "arguments")));
	assert_int_equal(json_object_size(json_object_get(m, "arguments")), 0);
	/* The Stopping messages carry the same bytes. */
	assert_true(is_ok(h_call("SageMaker.StopPipelineExecution", hs_stop_body(arn))));
	assert_int_equal(hs_wait_message(hs_topic("payload"), t1, "Stopping", 20000), 0);
	json_decref(sent);
	free(t1);
	free(t2);
	free(arn);
}

static const char *sfn_status(const char *arn)
{
	static char buf[32];
	redisReply *r = h_redis("HGET andon:{%s}:x st", arn);

	snprintf(buf, sizeof(buf), "%s", r != NULL && r->str != NULL ? r->str : "(none)");
	freeReplyObject(r);
	return buf;
}

/* Sends a request under id and returns its answer: the reply after the ones that id already got. */
static json_t *call_id(const char *op, const char *id, const char *account, json_t *body)
{
	size_t before = h_reply_count(id);
	json_t *r;

	h_send(op, id, account, body);
	h_flush();
	r = h_reply(id, (int)before + 1, 20000);
	assert_non_null(r);
	return r;
}

/* An id reused for another target changes nothing and is answered IdempotentParameterMismatch. */
static void one_request_per_id(void **state)
{
	enum { N = 20 };
	char *sm = h_sfn_machine("ids", "STANDARD"), *a = h_sfn_start(sm, "a"), *b = h_sfn_start(sm, "b");
	json_t *r1, *r2, *r3;
	hw_run_t ra, rb;
	char **xs = h_sfn_start_many(sm, "race-x", N), **ys = h_sfn_start_many(sm, "race-y", N);
	const char *ix[N], *iy[N];
	redisReply *mem;
	int applied = 0;

	(void)state;
	r1 = call_id("StepFunctions.StopExecution", "id-1", NULL, json_pack("{s:s}", "executionArn", a));
	assert_true(is_ok(r1));
	r2 = call_id("StepFunctions.StopExecution", "id-1", NULL, json_pack("{s:s}", "executionArn", b));
	assert_string_equal(code(r2), "IdempotentParameterMismatch");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r2, "error"), "status")), 400);
	assert_string_equal(sfn_status(b), "RUNNING");
	/* Other fields count too; the same request again keeps its answer. */
	r2 = call_id("StepFunctions.StopExecution", "id-1", NULL,
		     json_pack("{s:s, s:s}", "executionArn", a, "error", "other"));
	assert_string_equal(code(r2), "IdempotentParameterMismatch");
	r3 = call_id("StepFunctions.StopExecution", "id-1", NULL, json_pack("{s:s}", "executionArn", a));
	assert_true(json_equal(json_object_get(r1, "body"), json_object_get(r3, "body")));
	/* Another account may use the same id for its own request. */
	r2 = call_id("StepFunctions.StopExecution", "id-1", OTHER, json_pack("{s:s}", "executionArn", a));
	assert_string_equal(code(r2), "ExecutionDoesNotExist");

	/* SWF: a terminate's id reused for another workflow. */
	hw_domain("ids", NULL);
	hw_type("ids", "t", "1", "TERMINATE");
	ra = hw_start("ids", "wa", "t", "1", NULL);
	rb = hw_start("ids", "wb", "t", "1", NULL);
	assert_true(hw_ok(call_id("SWF.TerminateWorkflowExecution", "id-2", NULL,
				  json_pack("{s:s, s:s}", "domain", "ids", "workflowId", "wa"))));
	r2 = call_id("SWF.TerminateWorkflowExecution", "id-2", NULL,
		     json_pack("{s:s, s:s}", "domain", "ids", "workflowId", "wb"));
	assert_true(hw_is_error(r2, "IdempotentParameterMismatch"));
	assert_string_equal(hw_status(&rb), "OPEN");
	assert_string_equal(hw_status(&ra), "TERMINATED");

	/* Two different requests racing with one id: exactly one applies. */
	for (int i = 0; i < N; i++) {
		char id[32];
		snprintf(id, sizeof(id), "race-%d", i);
		ix[i] = h_send("StepFunctions.StopExecution", id, NULL,
			       json_pack("{s:s}", "executionArn", xs[i]));
		iy[i] = h_send("StepFunctions.StopExecution", id, NULL,
			       json_pack("{s:s}", "executionArn", ys[i]));
		(void)iy[i];
	}
	h_flush();
	for (int i = 0; i < N; i++) {
		json_t *first = h_reply(ix[i], 2, 30000);
		int x = strcmp(sfn_status(xs[i]), "STOPPED") == 0,
		    y = strcmp(sfn_status(ys[i]), "STOPPED") == 0;

		assert_non_null(first);
		assert_true(x + y == 1);
		applied += x + y;
		free(xs[i]);
		free(ys[i]);
	}
	assert_int_equal(applied, N);
	mem = h_redis("MEMORY USAGE andon:{rid:%s:id-1}", H_ACCOUNT);
	fprintf(stderr, "one request id record: %lld bytes of Redis memory\n", mem->integer);
	freeReplyObject(mem);
	hw_run_free(&ra);
	hw_run_free(&rb);
	free(xs);
	free(ys);
	free(sm);
	free(a);
	free(b);
}

/* StopPipelineExecution needs ClientRequestToken; a stop-ended execution always answers ok. */
static void sagemaker_stop_rules(void **state)
{
	char *arn = hs_start("rules"), *lam = hs_start("rules"), *done = hs_start("rules");
	json_t *r;

	(void)state;
	r = h_call("SageMaker.StopPipelineExecution", json_pack("{s:s}", "PipelineExecutionArn", arn));
	assert_string_equal(code(r), "ValidationException");
	r = h_call("SageMaker.StopPipelineExecution",
		   json_pack("{s:s, s:s}", "PipelineExecutionArn", arn, "ClientRequestToken", "short"));
	assert_string_equal(code(r), "ValidationException");
	assert_string_equal(hs_status(arn), "Executing");
	assert_true(is_ok(h_call("SageMaker.StopPipelineExecution", hs_stop_body(arn))));
	assert_string_equal(hs_status(arn), "Stopped");
	r = h_call("SageMaker.StopPipelineExecution", hs_stop_body(arn));
	assert_true(is_ok(r));
	assert_string_equal(body_str(r, "PipelineExecutionArn"), arn);

	/* A Lambda step that times out during the stop ends it Failed; another stop still answers ok. */
	free(hs_step(lam, "fn", "Lambda", NULL, 1));
	assert_true(is_ok(h_call("SageMaker.StopPipelineExecution", hs_stop_body(lam))));
	assert_int_equal(hs_wait_status(lam, "Failed", 20000), 0);
	r = h_call("SageMaker.StopPipelineExecution", hs_stop_body(lam));
	assert_true(is_ok(r));
	assert_string_equal(body_str(r, "PipelineExecutionArn"), lam);
	assert_int_equal(hs_history_count(lam, NULL, "Failed"), 1);

	/* An execution that ended with no stop refuses one. */
	assert_true(is_ok(
	    h_call("SageMaker.FinishPipelineExecution", json_pack("{s:s, s:s}", "PipelineExecutionArn", done,
								  "PipelineExecutionStatus", "Succeeded"))));
	assert_string_equal(code(h_call("SageMaker.StopPipelineExecution", hs_stop_body(done))),
			    "ConflictException");
	free(arn);
	free(lam);
	free(done);
}

/* Two accounts with a pipeline of one name: each default topic names its account; events name theirs. */
static void accounts_on_shared_topics(void **state)
{
	char topic_b[128], *tb, *ta, *arn_a = hs_start("shared"), *arn_b;
	json_t *r, *m, *evs;

	(void)state;
	snprintf(topic_b, sizeof(topic_b), "andon.pipeline.%s.shared.callbacks", OTHER);
	h_watch(hs_topic("shared"));
	h_watch(topic_b);
	r = h_call_as("SageMaker.StartPipelineExecution", NULL, OTHER,
		      json_pack("{s:s}", "PipelineName", "shared"));
	assert_true(is_ok(r));
	arn_b = strdup(body_str(r, "PipelineExecutionArn"));
	ta = step_with(arn_a, "cb", NULL);
	r = h_call_as("SageMaker.StartPipelineExecutionStep", NULL, OTHER,
		      json_pack("{s:s, s:s, s:s}", "PipelineExecutionArn", arn_b, "StepName", "cb",
				"StepType", "Callback"));
	assert_true(is_ok(r));
	tb = strdup(body_str(r, "CallbackToken"));
	m = callback_msg(topic_b, tb);
	assert_non_null(m);
	assert_string_equal(json_string_value(json_object_get(m, "account")), OTHER);
	m = callback_msg(hs_topic("shared"), ta);
	assert_non_null(m);
	assert_string_equal(json_string_value(json_object_get(m, "account")), H_ACCOUNT);
	/* Neither topic holds the other account's message. */
	h_pump(100);
	assert_int_equal(json_array_size(h_topic(topic_b)), 1);
	assert_int_equal(json_array_size(h_topic(hs_topic("shared"))), 1);
	assert_int_equal(h_wait_events(arn_b, 2, 10000), 0);
	evs = h_events(arn_b);
	for (size_t i = 0; i < json_array_size(evs); i++)
		assert_string_equal(json_string_value(json_object_get(json_array_get(evs, i), "account")),
				    OTHER);
	json_decref(evs);
	free(ta);
	free(tb);
	free(arn_a);
	free(arn_b);
}

/* cloudflow.account_rate limits an account across all its flows; another account is not touched. */
static void cloudflow_account_bucket(void **state)
{
	static const char *const opts[] = {"cloudflow.account_rate=2", "cloudflow.account_burst=10", NULL};
	enum { FLOWS = 5, EACH = 8 };
	const char *ids[FLOWS * EACH], *others[4];
	char flow[16], exec[16];
	int ok = 0, throttled = 0;
	long long t0;

	(void)state;
	assert_int_equal(h_worker_stop(), 0);
	h_worker_start(opts);
	for (int f = 0; f < FLOWS; f++) {
		snprintf(flow, sizeof(flow), "acct-%d", f);
		hcf_flow(H_ACCOUNT, flow, "{}");
		hcf_start_many(H_ACCOUNT, flow, "e", EACH, 1);
	}
	hcf_flow(OTHER, "acct-0", "{}");
	hcf_start_many(OTHER, "acct-0", "e", 4, 1);
	t0 = h_now_ms();
	for (int f = 0; f < FLOWS; f++)
		for (int i = 0; i < EACH; i++) {
			snprintf(flow, sizeof(flow), "acct-%d", f);
			snprintf(exec, sizeof(exec), "e-%d", i);
			ids[f * EACH + i] =
			    h_send("CloudFlow.StopExecution", NULL, NULL, hcf_body(flow, exec));
		}
	for (int i = 0; i < 4; i++) {
		snprintf(exec, sizeof(exec), "e-%d", i);
		others[i] = h_send("CloudFlow.StopExecution", NULL, OTHER, hcf_body("acct-0", exec));
	}
	h_flush();
	for (int i = 0; i < FLOWS * EACH; i++) {
		json_t *r = h_reply(ids[i], 1, 30000);
		assert_non_null(r);
		if (is_ok(r))
			ok++;
		else if (strcmp(code(r), "ResourceThrottled") == 0)
			throttled++;
	}
	for (int i = 0; i < 4; i++)
		assert_true(is_ok(h_reply(others[i], 1, 30000)));
	fprintf(stderr,
		"account bucket: %d of %d stops over %d flows went through, %d throttled in %lld ms\n", ok,
		FLOWS * EACH, FLOWS, throttled, h_now_ms() - t0);
	assert_int_equal(ok + throttled, FLOWS * EACH);
	assert_true(ok >= 10);
	assert_true(ok <= 10 + 2 * (h_now_ms() - t0) / 1000 + 1);
	assert_int_equal(h_worker_stop(), 0);
	h_worker_start(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(payloads_keep_their_form), cmocka_unit_test(one_request_per_id),
	    cmocka_unit_test(sagemaker_stop_rules),	cmocka_unit_test(accounts_on_shared_topics),
	    cmocka_unit_test(cloudflow_account_bucket),
	};

	return cmocka_run_group_tests(tests, h_group_setup_cmocka, h_group_teardown_cmocka);
}
