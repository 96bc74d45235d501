/* 0108: a hostile producer's requests: long names, bytes that are not UTF-8, foreign accounts, deep JSON. */
#include "harness-cflow.h"
#include "harness-sagemaker.h"
#include "harness-swf.h"
#include "harness.h"

#include <msgpack.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OTHER "999999999999" /* another account */

/* A string field of a raw request: any bytes. */
typedef struct rf {
	const char *name;
	const char *s;
	size_t len;
} rf_t;

#define RF(n, str)                                                                                           \
	{                                                                                                    \
		n, str, sizeof(str) - 1                                                                      \
	}

static int seq;

/*
 * Produces {v:1, id, op, account?, body:{fields}} built byte by byte (jansson cannot hold bytes that are not
 * UTF-8) and returns its id (the caller frees it).
 */
static char *send_raw(const char *op, size_t op_len, const char *account, const rf_t *f, size_t n)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char *id = malloc(32);

	assert_non_null(id);
	snprintf(id, 32, "hostile-%d", ++seq);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, account != NULL ? 5 : 4);
	msgpack_pack_str_with_body(&pk, "v", 1);
	msgpack_pack_int(&pk, 1);
	msgpack_pack_str_with_body(&pk, "id", 2);
	msgpack_pack_str_with_body(&pk, id, strlen(id));
	msgpack_pack_str_with_body(&pk, "op", 2);
	msgpack_pack_str_with_body(&pk, op, op_len);
	if (account != NULL) {
		msgpack_pack_str_with_body(&pk, "account", 7);
		msgpack_pack_str_with_body(&pk, account, strlen(account));
	}
	msgpack_pack_str_with_body(&pk, "body", 4);
	msgpack_pack_map(&pk, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		msgpack_pack_str_with_body(&pk, f[i].name, strlen(f[i].name));
		msgpack_pack_str_with_body(&pk, f[i].s, f[i].len);
	}
	h_produce_raw("andon.requests", id, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return id;
}

/* The reply to id (fails the test when none comes). Borrowed. */
static json_t *reply_of(const char *id)
{
	json_t *r = h_reply(id, 1, 30000);

	assert_non_null(r);
	return r;
}

static const char *error_code(json_t *r)
{
	return json_string_value(json_object_get(json_object_get(r, "error"), "code"));
}

static void assert_error(json_t *r, const char *code)
{
	if (json_is_true(json_object_get(r, "ok")) || error_code(r) == NULL ||
	    strcmp(error_code(r), code) != 0) {
		char *s = json_dumps(r, 0);
		fail_msg("expected %s, got %s", code, s);
		free(s);
	}
}

/* lead followed by n bytes of fill: "A" + 0x80... is one character by a count of non-continuation bytes. */
static char *filled(const char *lead, int fill, size_t n, size_t *len)
{
	size_t l = strlen(lead);
	char *s = malloc(l + n + 1);

	assert_non_null(s);
	memcpy(s, lead, l);
	memset(s + l, fill, n);
	s[l + n] = '\0';
	*len = l + n;
	return s;
}

/* n copies of the UTF-8 character c. */
static char *chars(const char *c, size_t n)
{
	size_t cl = strlen(c);
	char *s = malloc(cl * n + 1);

	assert_non_null(s);
	for (size_t i = 0; i < n; i++)
		memcpy(s + i * cl, c, cl);
	s[cl * n] = '\0';
	return s;
}

static void worker_still_answers(void)
{
	json_t *r = h_call(
	    "StepFunctions.DescribeExecution",
	    json_pack("{s:s}", "executionArn", "arn:aws:states:us-east-1:" H_ACCOUNT ":execution:none:none"));
	assert_error(r, "ExecutionDoesNotExist");
}

/* Bug 1: a state machine name past the limits never reaches the ARN; one at the limit gives the exact ARN. */
static void long_state_machine_names(void **state)
{
	static const char op[] = "StepFunctions.CreateStateMachine";
	size_t len;
	char *name = filled("A", 0x80, 2000, &len), *id, *big, *emoji, *arn;
	rf_t f[] = {{"name", name, len}};
	json_t *r;
	redisReply *keys;

	(void)state;
	/* 2,000 bytes that counted as one character: the reply once carried 1,541 bytes of the stack. */
	id = send_raw(op, sizeof(op) - 1, NULL, f, 1);
	r = reply_of(id);
	assert_error(r, "ValidationException");
	assert_null(json_object_get(r, "body"));
	free(id);
	free(name);

	/* About 520,000 bytes (under the 512 KiB message limit): the worker once died on every start. */
	big = filled("A", 0x80, 520000, &len);
	f[0].s = big;
	f[0].len = len;
	id = send_raw(op, sizeof(op) - 1, NULL, f, 1);
	assert_error(reply_of(id), "ValidationException");
	free(id);
	free(big);
	worker_still_answers();

	/* 81 two-byte characters: InvalidName; 80 four-byte characters: the ARN holds them all. */
	name = chars("\xc3\xa9", 81);
	assert_error(h_call("StepFunctions.CreateStateMachine", json_pack("{s:s}", "name", name)),
		     "InvalidName");
	free(name);
	emoji = chars("\xf0\x9f\x98\x80", 80);
	r = h_call("StepFunctions.CreateStateMachine", json_pack("{s:s}", "name", emoji));
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_int_not_equal(
	    asprintf(&arn, "arn:aws:states:%s:%s:stateMachine:%s", H_REGION, H_ACCOUNT, emoji), -1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "body"), "stateMachineArn")),
			    arn);
	free(arn);
	free(emoji);
	/* Nothing of the rejected ones was stored: only the one good state machine exists. */
	keys = h_redis("KEYS andon:{arn:aws:states:*:stateMachine:*}:sm");
	assert_non_null(keys);
	assert_int_equal(keys->elements, 1);
	freeReplyObject(keys);
	assert_true(h_wait_dlq(2, 10000) == 0);
}

/* Bug 2: long SWF names cannot make one account's request land on another's workflow. */
static void swf_long_names_stay_in_their_account(void **state)
{
	size_t dlen, wlen;
	char *dom = filled("d", 0x80, 1300, &dlen), *wid = filled("w", 0x80, 1300, &wlen), *id;
	char *udom = chars("\xf0\x9f\x8c\x8d", 256), *uwid = chars("\xf0\x9f\x8c\x8a", 256);
	rf_t reg[] = {{"name", dom, dlen}, RF("decisionTopic", "andon.swf.long.decisions")};
	rf_t term[] = {{"domain", dom, dlen}, {"workflowId", wid, wlen}};
	hw_run_t run;
	json_t *r;

	(void)state;
	/* Names whose bytes overflow the hash tag are refused at once, for the owner and for anyone else. */
	id = send_raw("SWF.RegisterDomain", 18, NULL, reg, 2);
	assert_error(reply_of(id), "ValidationException");
	free(id);
	id = send_raw("SWF.TerminateWorkflowExecution", 30, OTHER, term, 2);
	assert_error(reply_of(id), "ValidationException");
	free(id);

	/* The longest legal names (256 characters of 4 bytes each) keep both accounts apart. */
	hw_domain(udom, "andon.swf.hostile.decisions");
	hw_type(udom, "t", "1", "TERMINATE");
	run = hw_start(udom, uwid, "t", "1", NULL);
	r = h_call_as("SWF.TerminateWorkflowExecution", NULL, OTHER,
		      json_pack("{s:s, s:s}", "domain", udom, "workflowId", uwid));
	assert_error(r, "UnknownResourceFault");
	r = h_call_as("SWF.DescribeWorkflowExecution", NULL, OTHER,
		      json_pack("{s:s, s:{s:s, s:s}}", "domain", udom, "execution", "workflowId", uwid,
				"runId", run.rid));
	assert_error(r, "UnknownResourceFault");
	assert_string_equal(hw_status(&run), "OPEN");
	hw_run_free(&run);
	free(dom);
	free(wid);
	free(udom);
	free(uwid);
}

/* An engine call whose '@acct' is not the owner's: answered as missing, nothing changed, nothing stored. */
static void assert_foreign_call_refused(redisReply *a, const char *code, const char *rkey, const char *id)
{
	redisReply *stored;

	assert_non_null(a);
	assert_int_equal(a->type, REDIS_REPLY_ARRAY);
	assert_int_equal(a->element[1]->integer, 0);
	assert_non_null(strstr(a->element[2]->str, code));
	freeReplyObject(a);
	stored = h_redis("HEXISTS %s %s", rkey, id);
	assert_int_equal(stored->integer, 0);
	freeReplyObject(stored);
}

/* Defence in depth: every API's engine refuses an execution that belongs to another account. */
static void engine_checks_the_owner(void **state)
{
	char *sm = h_sfn_machine("owned", "STANDARD"), *sfn = h_sfn_start(sm, "owned-1"),
	     *pipe = hs_start("owned");
	char x[512], h[512], rk[512], tag[128], fl[160], tb[160];
	hw_run_t run;
	redisReply *st;

	(void)state;
	/* Step Functions: stop, describe and history. */
	snprintf(x, sizeof(x), "andon:{%s}:x", sfn);
	snprintf(h, sizeof(h), "andon:{%s}:h", sfn);
	snprintf(rk, sizeof(rk), "andon:{%s}:r", sfn);
	assert_foreign_call_refused(
	    h_redis("FCALL sfn_stop 3 %s %s %s f-1 StepFunctions.StopExecution %s %b %b %b %b @acct %s", x, h,
		    rk, sfn, "", (size_t)0, "", (size_t)0, "\x84", (size_t)1,
		    "\xa4"
		    "type\xb0"
		    "ExecutionAborted",
		    (size_t)22, OTHER),
	    "ExecutionDoesNotExist", rk, "f-1");
	assert_foreign_call_refused(
	    h_redis("FCALL sfn_describe 2 %s %s f-2 StepFunctions.DescribeExecution arn %s @acct %s", x, h,
		    sfn, OTHER),
	    "ExecutionDoesNotExist", rk, "f-2");
	assert_foreign_call_refused(
	    h_redis("FCALL sfn_history 2 %s %s f-3 StepFunctions.GetExecutionHistory arn %s "
		    "maxResults 0 reverseOrder 0 @acct %s",
		    x, h, sfn, OTHER),
	    "ExecutionDoesNotExist", rk, "f-3");
	st = h_redis("HGET %s st", x);
	assert_string_equal(st->str, "RUNNING");
	freeReplyObject(st);

	/* SageMaker: stop. */
	snprintf(x, sizeof(x), "andon:{%s}:x", pipe);
	snprintf(h, sizeof(h), "andon:{%s}:h", pipe);
	snprintf(rk, sizeof(rk), "andon:{%s}:r", pipe);
	assert_foreign_call_refused(
	    h_redis("FCALL sm_stop 3 %s %s %s f-4 SageMaker.StopPipelineExecution arn %s @acct %s", x, h, rk,
		    pipe, OTHER),
	    "ResourceNotFound", rk, "f-4");
	assert_string_equal(hs_status(pipe), "Executing");

	/* CloudFlow: stop (the owner and flow fields say the owner's; only '@acct' is the other account). */
	hcf_flow(H_ACCOUNT, "owned", "{}");
	hcf_start(H_ACCOUNT, "owned", "e1", 1);
	snprintf(tag, sizeof(tag), "cf:%s:owned", H_ACCOUNT);
	snprintf(fl, sizeof(fl), "andon:{%s}:flow", tag);
	snprintf(x, sizeof(x), "andon:{%s}:x:e1", tag);
	snprintf(h, sizeof(h), "andon:{%s}:h:e1", tag);
	snprintf(rk, sizeof(rk), "andon:{%s}:r:e1", tag);
	snprintf(tb, sizeof(tb), "andon:{%s}:tb:%s", tag, H_ACCOUNT);
	assert_foreign_call_refused(
	    h_redis("FCALL cf_stop 5 %s %s %s %s %s f-5 CloudFlow.StopExecution account %s "
		    "owner %s flow owned name e1 rate 0 burst 0 @acct %s",
		    fl, x, h, rk, tb, H_ACCOUNT, H_ACCOUNT, OTHER),
	    "ExecutionNotExists", rk, "f-5");
	st = h_redis("HGET %s st", x);
	assert_string_equal(st->str, "RUNNING");
	freeReplyObject(st);

	/* SWF: terminate. */
	hw_domain("owned", NULL);
	hw_type("owned", "t", "1", "TERMINATE");
	run = hw_start("owned", "w1", "t", "1", NULL);
	snprintf(tag, sizeof(tag), "swfw:owned:w1:%s", H_ACCOUNT);
	snprintf(x, sizeof(x), "andon:{%s}:w", tag);
	snprintf(rk, sizeof(rk), "andon:{%s}:r", tag);
	assert_foreign_call_refused(
	    h_redis("FCALL swf_terminate 2 %s %s f-6 SWF.TerminateWorkflowExecution domain owned "
		    "workflowId w1 @acct %s",
		    x, rk, OTHER),
	    "UnknownResourceFault", rk, "f-6");
	assert_string_equal(hw_status(&run), "OPEN");
	hw_run_free(&run);
	free(sm);
	free(sfn);
	free(pipe);
}

/* Bug 3: limits count characters of valid UTF-8; text that is not UTF-8 is refused with the API's error. */
static void limits_count_characters(void **state)
{
	char *sm = h_sfn_machine("limits", "STANDARD"), *arn = h_sfn_start(sm, "l-1"), *id, *cause, *ok;
	size_t len;
	rf_t f[2] = {{"executionArn", arn, strlen(arn)}, {"cause", NULL, 0}};
	json_t *r;
	redisReply *st;

	(void)state;
	/* A 400,001-byte cause that counted as one character against the 32,768 limit. */
	cause = filled("A", 0x80, 400000, &len);
	f[1].s = cause;
	f[1].len = len;
	id = send_raw("StepFunctions.StopExecution", 27, NULL, f, 2);
	assert_error(reply_of(id), "ValidationException");
	free(id);
	free(cause);
	st = h_redis("HGET andon:{%s}:x st", arn);
	assert_string_equal(st->str, "RUNNING");
	freeReplyObject(st);

	/* 32,769 two-byte characters are one too many; 32,768 are accepted and stored as sent. */
	cause = chars("\xc3\xa9", 32769);
	assert_error(h_call("StepFunctions.StopExecution",
			    json_pack("{s:s, s:s}", "executionArn", arn, "cause", cause)),
		     "ValidationException");
	cause[2 * 32768] = '\0';
	r = h_call("StepFunctions.StopExecution",
		   json_pack("{s:s, s:s}", "executionArn", arn, "cause", cause));
	assert_true(json_is_true(json_object_get(r, "ok")));
	r = h_call("StepFunctions.DescribeExecution", json_pack("{s:s}", "executionArn", arn));
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "body"), "cause")), cause);
	free(cause);

	/* Other APIs, other codes: CloudFlow's InvalidArgument, SWF's ValidationException. */
	hcf_flow(H_ACCOUNT, "limits", "{}");
	ok = filled("bad", 0xc1, 1, &len);
	{
		rf_t cf[] = {RF("FlowName", "limits"), RF("ExecutionName", "e1"), {"Cause", ok, len}};
		id = send_raw("CloudFlow.StopExecution", 23, NULL, cf, 3);
		assert_error(reply_of(id), "InvalidArgument");
		free(id);
	}
	{
		rf_t sw[] = {RF("domain", "limits"), RF("workflowId", "w"), {"reason", ok, len}};
		id = send_raw("SWF.TerminateWorkflowExecution", 30, NULL, sw, 3);
		assert_error(reply_of(id), "ValidationException");
		free(id);
	}
	free(ok);
	free(sm);
	free(arn);
}

/* Bug 4: bytes that are not UTF-8 are never echoed in a str; deep JSON is named as such. */
static void nothing_written_is_bad_text(void **state)
{
	static const char op[] = "Step\xc1"
				 "Functions.StopExecution";
	char *sm = h_sfn_machine("echo", "STANDARD"), *id, *deep;
	rf_t none[] = {RF("executionArn", "x")};
	json_t *r, *rec;
	size_t i, before = json_array_size(h_dlq());

	(void)state;
	id = send_raw(op, sizeof(op) - 1, NULL, none, 1);
	r = reply_of(id);
	assert_error(r, "ActionNotSupported");
	assert_true(json_is_string(json_object_get(r, "op")));
	assert_string_equal(json_string_value(json_object_get(r, "op")), "Step\\xC1Functions.StopExecution");
	assert_true(json_is_string(json_object_get(json_object_get(r, "error"), "message")));
	assert_non_null(strstr(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
			       "Step\\xC1Functions"));
	free(id);
	assert_true(h_wait_dlq(before + 1, 10000) == 0);
	json_array_foreach(h_dlq(), i, rec)
	{
		assert_true(json_is_string(json_object_get(json_object_get(rec, "value"), "reason")));
	}

	/* A body key that is not UTF-8. */
	{
		rf_t badkey[] = {{"cause\xff", "x", 1}};
		id = send_raw("StepFunctions.StopExecution", 27, NULL, badkey, 1);
		assert_error(reply_of(id), "ValidationException");
		free(id);
	}

	/* JSON nested deeper than the parser allows is refused as what it is. */
	deep = malloc(3000 * 2 + 1);
	assert_non_null(deep);
	memset(deep, '[', 3000);
	memset(deep + 3000, ']', 3000);
	deep[6000] = '\0';
	r = h_call("StepFunctions.StartExecution",
		   json_pack("{s:s, s:s, s:s}", "stateMachineArn", sm, "name", "deep", "input", deep));
	assert_error(r, "InvalidExecutionInput");
	assert_non_null(strstr(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
			       "nested deeper than 2048"));
	free(deep);
	free(sm);
	h_pump(200);
	assert_int_equal(h_bad_text(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(long_state_machine_names),
	    cmocka_unit_test(swf_long_names_stay_in_their_account),
	    cmocka_unit_test(engine_checks_the_owner),
	    cmocka_unit_test(limits_count_characters),
	    cmocka_unit_test(nothing_written_is_bad_text),
	};

	return cmocka_run_group_tests(tests, h_group_setup_cmocka, h_group_teardown_cmocka);
}
