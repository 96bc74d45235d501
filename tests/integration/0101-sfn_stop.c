/* 0101: Step Functions StopExecution and the engine-side ops, driven only through Kafka. */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *sm, *express_sm;

static const char *str(json_t *o, const char *path1, const char *path2)
{
	json_t *v = json_object_get(o, path1);
	if (path2 != NULL)
		v = json_object_get(v, path2);
	return json_string_value(v);
}

static void assert_error(json_t *reply, const char *code, int status)
{
	assert_non_null(reply);
	assert_true(json_is_false(json_object_get(reply, "ok")));
	assert_string_equal(str(reply, "error", "code"), code);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(reply, "error"), "status")),
			 status);
}

static long long hist_len(const char *arn)
{
	redisReply *r = h_redis("LLEN andon:{%s}:h", arn);
	long long n;

	assert_non_null(r);
	n = r->integer;
	freeReplyObject(r);
	return n;
}

static char *hget(const char *arn, const char *field)
{
	redisReply *r = h_redis("HGET andon:{%s}:x %s", arn, field);
	char *s;

	assert_non_null(r);
	s = r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
	freeReplyObject(r);
	return s;
}

static void stop_running_execution(void **state)
{
	char *arn = h_sfn_start(sm, "stop-me");
	json_t *r, *evs, *ev, *hist, *last;
	char *st;

	(void)state;
	r = h_call("StepFunctions.StopExecution",
		   json_pack("{s:s, s:s, s:s}", "executionArn", arn, "error", "Halted", "cause", "operator"));
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_true(json_is_number(json_object_get(json_object_get(r, "body"), "stopDate")));
	assert_string_equal(str(r, "body", "status"), "ABORTED");

	/* State in Redis. */
	st = hget(arn, "st");
	assert_string_equal(st, "STOPPED");
	free(st);
	assert_int_equal(hist_len(arn), 2);

	/* The status change was published: RUNNING then ABORTED. */
	assert_int_equal(h_wait_events(arn, 2, 10000), 0);
	evs = h_events(arn);
	ev = json_array_get(evs, 1);
	assert_string_equal(str(ev, "status", NULL), "ABORTED");
	assert_string_equal(str(ev, "previousStatus", NULL), "RUNNING");
	assert_string_equal(str(ev, "service", NULL), "StepFunctions");
	json_decref(evs);

	/* Describe and history agree. */
	r = h_call("StepFunctions.DescribeExecution", json_pack("{s:s}", "executionArn", arn));
	assert_string_equal(str(r, "body", "status"), "ABORTED");
	assert_string_equal(str(r, "body", "error"), "Halted");
	assert_string_equal(str(r, "body", "cause"), "operator");
	assert_non_null(json_object_get(json_object_get(r, "body"), "stopDate"));
	r = h_call("StepFunctions.GetExecutionHistory", json_pack("{s:s}", "executionArn", arn));
	hist = json_object_get(json_object_get(r, "body"), "events");
	assert_int_equal(json_array_size(hist), 2);
	last = json_array_get(hist, 1);
	assert_string_equal(str(last, "type", NULL), "ExecutionAborted");
	assert_string_equal(str(last, "executionAbortedEventDetails", "error"), "Halted");
	assert_int_equal(json_integer_value(json_object_get(last, "previousEventId")), 1);
	free(arn);
}

static void replay_gets_same_answer_and_one_history_event(void **state)
{
	char *arn = h_sfn_start(sm, "replayed");
	json_t *body = json_pack("{s:s, s:s}", "executionArn", arn, "error", "Once");
	json_t *first, *second;
	char id[64];

	(void)state;
	snprintf(id, sizeof(id), "replay-%lld", h_now_ms());
	first = json_deep_copy(h_call_as("StepFunctions.StopExecution", id, NULL, json_deep_copy(body)));
	/* The same request twice more, as a replay or a duplicate delivery would bring it. */
	h_send("StepFunctions.StopExecution", id, NULL, json_deep_copy(body));
	h_send("StepFunctions.StopExecution", id, NULL, body);
	h_flush();
	second = h_reply(id, 3, 20000);
	assert_non_null(second);
	assert_true(json_equal(first, second));
	assert_true(json_equal(first, h_reply(id, 2, 0)));
	assert_int_equal(hist_len(arn), 2); /* started + aborted, once */
	json_decref(first);
	free(arn);
}

static long long answer_stored(const char *arn, const char *id)
{
	redisReply *r = h_redis("HEXISTS andon:{%s}:r %s", arn, id);
	long long n = r->integer;

	freeReplyObject(r);
	return n;
}

/*
 * StopExecution stores no answer: the stop that ended an execution is recorded in it, so its replay gets
 * the same reply and its event again; any other stop of an ended execution is answered from the final
 * state. A stop answered "does not exist" keeps that answer after the execution appears.
 */
static void stop_answers_follow_from_final_state(void **state)
{
	char *arn = h_sfn_start(sm, "lean"), *late;
	json_t *first, *again, *other, *evs, *r;
	char a[64], b[64], c[64];
	long long t = h_now_ms();

	(void)state;
	snprintf(a, sizeof(a), "lean-a-%lld", t);
	snprintf(b, sizeof(b), "lean-b-%lld", t);
	snprintf(c, sizeof(c), "lean-c-%lld", t);
	first = json_deep_copy(h_call_as("StepFunctions.StopExecution", a, NULL,
					 json_pack("{s:s, s:s}", "executionArn", arn, "error", "E")));
	assert_true(json_is_true(json_object_get(first, "ok")));
	assert_int_equal(h_wait_events(arn, 2, 10000), 0);
	/* The replay: the same reply, and the same event again (its first sending may have been lost). */
	h_send("StepFunctions.StopExecution", a, NULL,
	       json_pack("{s:s, s:s}", "executionArn", arn, "error", "E"));
	h_flush();
	again = h_reply(a, 2, 20000);
	assert_non_null(again);
	assert_true(json_equal(first, again));
	assert_int_equal(h_wait_events(arn, 3, 10000), 0);
	evs = h_events(arn);
	assert_string_equal(str(json_array_get(evs, 2), "eventId", NULL),
			    str(json_array_get(evs, 1), "eventId", NULL));
	assert_string_equal(str(json_array_get(evs, 2), "requestId", NULL), a);
	assert_string_equal(str(json_array_get(evs, 2), "status", NULL), "ABORTED");
	json_decref(evs);
	/* Another stop: success with how it ended, and the same dates. */
	other = h_call_as("StepFunctions.StopExecution", b, NULL, json_pack("{s:s}", "executionArn", arn));
	assert_true(json_equal(json_object_get(first, "body"), json_object_get(other, "body")));
	assert_int_equal(hist_len(arn), 2);
	assert_int_equal(answer_stored(arn, a), 0); /* no stored answer for either stop */
	assert_int_equal(answer_stored(arn, b), 0);
	json_decref(first);

	/* Missing, then started: the stop's replay still does not find it; a new stop does. */
	late = strdup(arn);
	late[strlen(late) - 4] = '\0';
	strcat(late, "late");
	r = h_call_as("StepFunctions.StopExecution", c, NULL, json_pack("{s:s}", "executionArn", late));
	assert_error(r, "ExecutionDoesNotExist", 400);
	free(h_sfn_start(sm, "late"));
	h_send("StepFunctions.StopExecution", c, NULL, json_pack("{s:s}", "executionArn", late));
	h_flush();
	assert_error(h_reply(c, 2, 20000), "ExecutionDoesNotExist", 400);
	r = h_call("StepFunctions.StopExecution", json_pack("{s:s}", "executionArn", late));
	assert_string_equal(str(r, "body", "status"), "ABORTED");
	free(late);
	free(arn);
}

static void stop_ended_execution_is_success_with_existing_dates(void **state)
{
	char *arn = h_sfn_start(sm, "ended");
	json_t *fin, *r;

	(void)state;
	fin =
	    h_call("StepFunctions.FinishExecution", json_pack("{s:s, s:s, s:s}", "executionArn", arn,
							      "status", "SUCCEEDED", "output", "{\"x\":1}"));
	assert_true(json_is_true(json_object_get(fin, "ok")));
	r = h_call("StepFunctions.StopExecution", json_pack("{s:s}", "executionArn", arn));
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(str(r, "body", "status"), "SUCCEEDED");
	assert_true(json_equal(json_object_get(json_object_get(r, "body"), "stopDate"),
			       json_object_get(json_object_get(fin, "body"), "stopDate")));
	assert_int_equal(hist_len(arn), 2); /* no ExecutionAborted added */
	free(arn);
}

static void stop_errors(void **state)
{
	char *arn = h_sfn_start(sm, "limits"), *big;
	char *xarn = h_sfn_start(express_sm, "fast");

	(void)state;
	assert_error(h_call("StepFunctions.StopExecution", json_pack("{s:s}", "executionArn", "not-an-arn")),
		     "InvalidArn", 400);
	assert_error(h_call("StepFunctions.StopExecution",
			    json_pack("{s:s}", "executionArn",
				      "arn:aws:states:us-east-1:123456789012:stateMachine:m")),
		     "InvalidArn", 400);
	assert_error(h_call("StepFunctions.StopExecution",
			    json_pack("{s:s}", "executionArn",
				      "arn:aws:states:us-east-1:123456789012:execution:machine:nobody")),
		     "ExecutionDoesNotExist", 400);
	assert_error(h_call("StepFunctions.StopExecution", json_pack("{}")), "ValidationException", 400);
	assert_error(h_call("StepFunctions.StopExecution", json_pack("{s:i}", "executionArn", 7)),
		     "ValidationException", 400);

	big = malloc(40000);
	memset(big, 'e', 40000);
	big[257] = '\0'; /* 257 characters: one over the limit */
	assert_error(
	    h_call("StepFunctions.StopExecution", json_pack("{s:s, s:s}", "executionArn", arn, "error", big)),
	    "ValidationException", 400);
	big[257] = 'e';
	big[32769] = '\0';
	assert_error(
	    h_call("StepFunctions.StopExecution", json_pack("{s:s, s:s}", "executionArn", arn, "cause", big)),
	    "ValidationException", 400);
	/* At the limits exactly it is accepted. */
	big[32768] = '\0';
	{
		char err256[257];
		memset(err256, 'x', 256);
		err256[256] = '\0';
		json_t *r =
		    h_call("StepFunctions.StopExecution",
			   json_pack("{s:s, s:s, s:s}", "executionArn", arn, "error", err256, "cause", big));
		assert_true(json_is_true(json_object_get(r, "ok")));
	}
	free(big);

	{
		json_t *r = h_call("StepFunctions.StopExecution", json_pack("{s:s}", "executionArn", xarn));
		assert_error(r, "ValidationException", 400);
		assert_non_null(strstr(str(r, "error", "message"), "EXPRESS"));
	}
	free(arn);
	free(xarn);
}

static void other_accounts_executions_are_invisible(void **state)
{
	char *arn = h_sfn_start(sm, "mine");
	json_t *r;
	char *st;

	(void)state;
	r = h_call_as("StepFunctions.StopExecution", NULL, "999999999999",
		      json_pack("{s:s}", "executionArn", arn));
	assert_error(r, "ExecutionDoesNotExist", 400);
	st = hget(arn, "st");
	assert_string_equal(st, "RUNNING");
	free(st);
	free(arn);
}

static void engine_op_errors(void **state)
{
	(void)state;
	assert_error(h_call("StepFunctions.StartExecution",
			    json_pack("{s:s}", "stateMachineArn",
				      "arn:aws:states:us-east-1:123456789012:stateMachine:absent")),
		     "StateMachineDoesNotExist", 400);
	assert_error(h_call("StepFunctions.StartExecution",
			    json_pack("{s:s, s:s}", "stateMachineArn", sm, "name", "bad name")),
		     "InvalidName", 400);
	assert_error(h_call("StepFunctions.StartExecution", json_pack("{s:s, s:s, s:s}", "stateMachineArn",
								      sm, "name", "x", "input", "{nope")),
		     "InvalidExecutionInput", 400);
	free(h_sfn_start(sm, "twice"));
	assert_error(
	    h_call("StepFunctions.StartExecution", json_pack("{s:s, s:s, s:s}", "stateMachineArn", sm, "name",
							     "twice", "input", "{\"other\":1}")),
	    "ExecutionAlreadyExists", 400);
	{
		char *arn = h_sfn_start(sm, "finish-shape");
		assert_error(
		    h_call("StepFunctions.FinishExecution", json_pack("{s:s, s:s, s:s}", "executionArn", arn,
								      "status", "FAILED", "output", "{}")),
		    "ValidationException", 400);
		assert_error(
		    h_call("StepFunctions.FinishExecution", json_pack("{s:s, s:s, s:s}", "executionArn", arn,
								      "status", "SUCCEEDED", "error", "E")),
		    "ValidationException", 400);
		assert_error(h_call("StepFunctions.FinishExecution",
				    json_pack("{s:s, s:s}", "executionArn", arn, "status", "DONE")),
			     "ValidationException", 400);
		/* Succeeded without output: history and describe agree on "{}". */
		json_t *fin = h_call("StepFunctions.FinishExecution",
				     json_pack("{s:s, s:s}", "executionArn", arn, "status", "SUCCEEDED"));
		if (!json_is_true(json_object_get(fin, "ok")))
			json_dumpf(fin, stderr, 0);
		assert_true(json_is_true(json_object_get(fin, "ok")));
		assert_string_equal(
		    str(h_call("StepFunctions.DescribeExecution", json_pack("{s:s}", "executionArn", arn)),
			"body", "output"),
		    "{}");
		free(arn);
	}
	assert_error(
	    h_call("StepFunctions.CreateStateMachine", json_pack("{s:s, s:s}", "name", "m", "type", "FAST")),
	    "ValidationException", 400);
}

/* Stop and finish sent together for many executions: each ends in exactly one terminal state. */
static void stop_racing_finish_has_one_winner(void **state)
{
	enum { N = 40 };
	char *arns[N];
	const char *stop_ids[N], *fin_ids[N];
	char name[32];

	(void)state;
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "race-%d", i);
		arns[i] = h_sfn_start(sm, name);
	}
	for (int i = 0; i < N; i++) {
		/* Alternate which one is produced first. */
		json_t *stop = json_pack("{s:s}", "executionArn", arns[i]);
		json_t *fin = json_pack("{s:s, s:s}", "executionArn", arns[i], "status", "FAILED");
		if (i % 2) {
			stop_ids[i] = h_send("StepFunctions.StopExecution", NULL, NULL, stop);
			fin_ids[i] = h_send("StepFunctions.FinishExecution", NULL, NULL, fin);
		} else {
			fin_ids[i] = h_send("StepFunctions.FinishExecution", NULL, NULL, fin);
			stop_ids[i] = h_send("StepFunctions.StopExecution", NULL, NULL, stop);
		}
	}
	h_flush();
	for (int i = 0; i < N; i++) {
		json_t *s = h_reply(stop_ids[i], 1, 20000), *f = h_reply(fin_ids[i], 1, 20000);
		char *st = hget(arns[i], "st");
		int fin_won;

		assert_non_null(s);
		assert_non_null(f);
		fin_won = json_is_true(json_object_get(f, "ok"));
		/* The stop always succeeds; it says ABORTED only when it won. */
		assert_true(json_is_true(json_object_get(s, "ok")));
		assert_string_equal(str(s, "body", "status"), fin_won ? "FAILED" : "ABORTED");
		if (!fin_won)
			assert_string_equal(str(f, "error", "code"), "ExecutionNotRunning");
		assert_string_equal(st, fin_won ? "FAILED" : "STOPPED");
		assert_int_equal(hist_len(arns[i]), 2); /* one terminal event only */
		free(st);
		free(arns[i]);
	}
}

static void history_pages(void **state)
{
	char *arn = h_sfn_start(sm, "paged");
	json_t *r, *page;
	const char *tok;

	(void)state;
	h_call("StepFunctions.StopExecution", json_pack("{s:s}", "executionArn", arn));
	r = h_call("StepFunctions.GetExecutionHistory",
		   json_pack("{s:s, s:i}", "executionArn", arn, "maxResults", 1));
	page = json_object_get(r, "body");
	assert_int_equal(json_array_size(json_object_get(page, "events")), 1);
	assert_string_equal(str(json_array_get(json_object_get(page, "events"), 0), "type", NULL),
			    "ExecutionStarted");
	tok = str(page, "nextToken", NULL);
	assert_non_null(tok);
	r = h_call("StepFunctions.GetExecutionHistory",
		   json_pack("{s:s, s:i, s:s}", "executionArn", arn, "maxResults", 1, "nextToken", tok));
	page = json_object_get(r, "body");
	assert_string_equal(str(json_array_get(json_object_get(page, "events"), 0), "type", NULL),
			    "ExecutionAborted");
	assert_null(json_object_get(page, "nextToken"));
	r = h_call("StepFunctions.GetExecutionHistory",
		   json_pack("{s:s, s:b}", "executionArn", arn, "reverseOrder", 1));
	assert_string_equal(
	    str(json_array_get(json_object_get(json_object_get(r, "body"), "events"), 0), "type", NULL),
	    "ExecutionAborted");
	/* Tokens Lua's tonumber would take but this engine never hands out. */
	static const char *const bad_tokens[] = {"bogus", "1e20", "inf", "-1", "0x10", "99999999999", NULL};
	for (const char *const *t = bad_tokens; *t != NULL; t++)
		assert_error(h_call("StepFunctions.GetExecutionHistory",
				    json_pack("{s:s, s:s}", "executionArn", arn, "nextToken", *t)),
			     "InvalidToken", 400);
	free(arn);
}

static int setup(void **state)
{
	(void)state;
	h_group_setup(NULL);
	sm = h_sfn_machine("orders", "STANDARD");
	express_sm = h_sfn_machine("quick", "EXPRESS");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(sm);
	free(express_sm);
	return h_group_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(stop_running_execution),
	    cmocka_unit_test(replay_gets_same_answer_and_one_history_event),
	    cmocka_unit_test(stop_ended_execution_is_success_with_existing_dates),
	    cmocka_unit_test(stop_answers_follow_from_final_state),
	    cmocka_unit_test(stop_errors),
	    cmocka_unit_test(other_accounts_executions_are_invisible),
	    cmocka_unit_test(engine_op_errors),
	    cmocka_unit_test(stop_racing_finish_has_one_winner),
	    cmocka_unit_test(history_pages),
	};
	return cmocka_run_group_tests_name("0101-sfn_stop", tests, setup, teardown);
}
