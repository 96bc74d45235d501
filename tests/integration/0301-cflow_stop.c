/* 0301: CloudFlow StopExecution and the engine-side ops, accounts, versions and throttling, only through
 * Kafka. The worker runs with cloudflow.rate=100, cloudflow.burst=100 and a 16 KiB request limit. */
#include "harness-cflow.h"
#include "harness.h"

#include "json.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RATE	    100
#define BURST	    100
#define MAX_MESSAGE 16384
#define B	    HCF_ACCOUNT_B

static const char YAML[] = "version: v1\ntype: flow\nsteps:\n  - type: pass\n    name: p\n";

static const char *str(json_t *o, const char *k1, const char *k2)
{
	json_t *v = json_object_get(o, k1);

	if (k2 != NULL)
		v = json_object_get(v, k2);
	return json_string_value(v);
}

static json_t *body_of(json_t *r)
{
	return json_object_get(r, "body");
}

static void assert_ok(json_t *r)
{
	assert_non_null(r);
	if (!json_is_true(json_object_get(r, "ok"))) {
		json_dumpf(r, stderr, JSON_COMPACT);
		fprintf(stderr, "\n");
		fail_msg("expected ok");
	}
}

static void assert_error(json_t *r, const char *code, int status)
{
	assert_non_null(r);
	if (!json_is_false(json_object_get(r, "ok")) || str(r, "error", "code") == NULL ||
	    strcmp(str(r, "error", "code"), code) != 0) {
		json_dumpf(r, stderr, JSON_COMPACT);
		fprintf(stderr, "\n");
		fail_msg("expected %s", code);
	}
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "error"), "status")), status);
	assert_non_null(str(r, "error", "message"));
}

static int is_error(json_t *r, const char *code)
{
	const char *c = str(r, "error", "code");
	return json_is_false(json_object_get(r, "ok")) && c != NULL && strcmp(c, code) == 0;
}

/* HGET of the execution hash, or NULL (caller frees). */
static char *xget(const char *account, const char *flow, const char *exec, const char *field)
{
	redisReply *r =
	    h_redis("HGET andon:{cf:%s:%s}:x:%s %s", account ? account : H_ACCOUNT, flow, exec, field);
	char *s;

	assert_non_null(r);
	s = r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
	freeReplyObject(r);
	return s;
}

static void assert_engine_status(const char *account, const char *flow, const char *exec, const char *st)
{
	char *v = xget(account, flow, exec, "st");

	assert_non_null(v);
	assert_string_equal(v, st);
	free(v);
}

static long long hist_len(const char *account, const char *flow, const char *exec)
{
	redisReply *r = h_redis("LLEN andon:{cf:%s:%s}:h:%s", account ? account : H_ACCOUNT, flow, exec);
	long long n;

	assert_non_null(r);
	n = r->integer;
	freeReplyObject(r);
	return n;
}

static json_t *call(const char *op, const char *account, json_t *body)
{
	return h_call_as(op, NULL, account, body);
}

static json_t *stop(const char *account, const char *flow, const char *exec)
{
	return call("CloudFlow.StopExecution", account, hcf_body(flow, exec));
}

static json_t *describe(const char *account, const char *flow, const char *exec)
{
	return call("CloudFlow.DescribeExecution", account, hcf_body(flow, exec));
}

/* Events seen for an execution, waiting until there are n. */
static json_t *events(const char *account, const char *flow, const char *exec, size_t n)
{
	char *res = hcf_resource(account, flow, exec);
	json_t *evs;

	assert_int_equal(h_wait_events(res, n, 20000), 0);
	evs = h_events(res);
	free(res);
	return evs;
}

/* DLQ records seen so far with this error code. */
static size_t dlq_count(const char *code)
{
	json_t *all, *rec;
	size_t i, n = 0;

	h_pump(0);
	all = h_dlq();
	json_array_foreach(all, i, rec)
	{
		const char *c = str(json_object_get(rec, "value"), "code", NULL);
		if (c != NULL && strcmp(c, code) == 0)
			n++;
	}
	return n;
}

/* The code of the DLQ record of request id (producers key by id here), waiting up to 20 s; NULL if none. */
static const char *dlq_code_of(const char *id)
{
	msgpack_object o = {.type = MSGPACK_OBJECT_BIN, .via.bin = {.size = (uint32_t)strlen(id), .ptr = id}};
	json_t *want = andon_json_from_msgpack(&o), *rec;
	long long deadline = h_now_ms() + 20000;
	const char *code = NULL;
	size_t i;

	do {
		h_pump(20);
		json_array_foreach(h_dlq(), i, rec)
		{
			json_t *v = json_object_get(rec, "value");
			if (json_equal(json_object_get(v, "key"), want))
				code = str(v, "code", NULL);
		}
	} while (code == NULL && h_now_ms() < deadline);
	json_decref(want);
	return code;
}

/* An error reply that was also dead-lettered. */
static void assert_error_dlq(json_t *r, const char *code, int status)
{
	const char *dlq;

	assert_error(r, code, status);
	dlq = dlq_code_of(str(r, "id", NULL));
	assert_non_null(dlq);
	assert_string_equal(dlq, code);
}

static char *repeat(const char *ch, size_t n)
{
	size_t cl = strlen(ch);
	char *s = malloc(n * cl + 1);

	assert_non_null(s);
	for (size_t i = 0; i < n; i++)
		memcpy(s + i * cl, ch, cl);
	s[n * cl] = '\0';
	return s;
}

/* ---- the happy path and every status ---- */

static void stop_running_execution_replies_with_its_description(void **state)
{
	json_t *b, *r, *d, *evs;
	const char *id;

	(void)state;
	hcf_flow(NULL, "orders", YAML);
	hcf_start(NULL, "orders", "order-1", 1);
	b = hcf_body("orders", "order-1");
	json_object_set_new(b, "Error", json_string("Halted"));
	json_object_set_new(b, "Cause", json_string("operator request"));
	id = h_send("CloudFlow.StopExecution", NULL, NULL, b);
	h_flush();
	r = h_reply(id, 1, 20000);
	assert_ok(r);
	b = body_of(r);
	assert_string_equal(str(b, "Status", NULL), "Stopped");
	assert_string_equal(str(b, "FlowName", NULL), "orders");
	assert_string_equal(str(b, "Name", NULL), "order-1");
	assert_string_equal(str(b, "FlowDefinition", NULL), YAML);
	assert_string_equal(str(b, "Input", NULL), "{\"k\":\"v\"}");
	assert_string_equal(str(b, "Output", NULL), "");
	assert_string_equal(str(b, "RequestId", NULL), id);
	assert_true(hcf_is_time(str(b, "StartedTime", NULL)));
	assert_true(hcf_is_time(str(b, "StoppedTime", NULL)));
	assert_true(strcmp(str(b, "StartedTime", NULL), str(b, "StoppedTime", NULL)) <= 0);
	assert_int_equal(json_integer_value(json_object_get(b, "Version")), 3);

	/* Redis: stopped, with the error and cause, three history entries. */
	assert_engine_status(NULL, "orders", "order-1", "STOPPED");
	{
		char *e = xget(NULL, "orders", "order-1", "error"),
		     *c = xget(NULL, "orders", "order-1", "cause");
		assert_string_equal(e, "Halted");
		assert_string_equal(c, "operator request");
		free(e);
		free(c);
	}
	assert_int_equal(hist_len(NULL, "orders", "order-1"), 3);

	/* Events: Starting, Running, Stopped, each naming the one before. */
	evs = events(NULL, "orders", "order-1", 3);
	assert_int_equal(json_array_size(evs), 3);
	assert_string_equal(str(json_array_get(evs, 0), "status", NULL), "Starting");
	assert_null(json_object_get(json_array_get(evs, 0), "previousStatus"));
	assert_string_equal(str(json_array_get(evs, 1), "status", NULL), "Running");
	assert_string_equal(str(json_array_get(evs, 1), "previousStatus", NULL), "Starting");
	assert_string_equal(str(json_array_get(evs, 2), "status", NULL), "Stopped");
	assert_string_equal(str(json_array_get(evs, 2), "previousStatus", NULL), "Running");
	assert_string_equal(str(json_array_get(evs, 2), "service", NULL), "CloudFlow");
	assert_string_equal(str(json_array_get(evs, 2), "requestId", NULL), id);
	json_decref(evs);

	/* Describe agrees, and says the same times. */
	d = describe(NULL, "orders", "order-1");
	assert_ok(d);
	assert_string_equal(str(body_of(d), "Status", NULL), "Stopped");
	assert_string_equal(str(body_of(d), "StoppedTime", NULL), str(b, "StoppedTime", NULL));
	assert_string_equal(str(body_of(d), "StartedTime", NULL), str(b, "StartedTime", NULL));
	assert_int_equal(json_integer_value(json_object_get(body_of(d), "Version")), 3);
}

static void stop_starting_execution(void **state)
{
	json_t *r, *evs;

	(void)state;
	hcf_flow(NULL, "early", "{\"Type\": \"StateMachine\"}");
	hcf_start(NULL, "early", "e1", 0);
	r = describe(NULL, "early", "e1");
	assert_string_equal(str(body_of(r), "Status", NULL), "Starting");
	assert_null(json_object_get(body_of(r), "StoppedTime"));
	r = stop(NULL, "early", "e1");
	assert_ok(r);
	assert_string_equal(str(body_of(r), "Status", NULL), "Stopped");
	assert_int_equal(json_integer_value(json_object_get(body_of(r), "Version")), 2);
	evs = events(NULL, "early", "e1", 2);
	assert_string_equal(str(json_array_get(evs, 1), "previousStatus", NULL), "Starting");
	json_decref(evs);
	/* The engine's late report of Running is refused. */
	assert_error(call("CloudFlow.ReportExecutionRunning", NULL, hcf_body("early", "e1")),
		     "ExecutionAlreadyCompleted", 400);
}

static void every_status_and_already_completed(void **state)
{
	static const char *const ends[] = {"Succeeded", "Failed", "TimedOut"};
	static const char *const engine[] = {"SUCCEEDED", "FAILED", "TIMED_OUT"};
	json_t *r, *b;

	(void)state;
	hcf_flow(NULL, "lifecycle", YAML);

	/* Starting -> Running; a second report changes nothing. */
	{
		json_t *s = call("CloudFlow.StartExecution", NULL, hcf_body("lifecycle", "run"));
		assert_ok(s);
		assert_string_equal(str(body_of(s), "Status", NULL), "Starting");
		assert_string_equal(str(body_of(s), "Input", NULL), "{}");
		assert_int_equal(json_integer_value(json_object_get(body_of(s), "Version")), 1);
	}
	r = call("CloudFlow.ReportExecutionRunning", NULL, hcf_body("lifecycle", "run"));
	assert_ok(r);
	assert_string_equal(str(body_of(r), "Status", NULL), "Running");
	assert_int_equal(json_integer_value(json_object_get(body_of(r), "Version")), 2);
	r = call("CloudFlow.ReportExecutionRunning", NULL, hcf_body("lifecycle", "run"));
	assert_ok(r);
	assert_int_equal(json_integer_value(json_object_get(body_of(r), "Version")), 2);
	assert_int_equal(hist_len(NULL, "lifecycle", "run"), 2);
	assert_string_equal(str(body_of(describe(NULL, "lifecycle", "run")), "Status", NULL), "Running");

	for (int i = 0; i < 3; i++) {
		char name[32];

		snprintf(name, sizeof(name), "end-%d", i);
		hcf_start(NULL, "lifecycle", name, 1);
		b = hcf_body("lifecycle", name);
		json_object_set_new(b, "Status", json_string(ends[i]));
		json_object_set_new(b, "Output", json_string("{\"result\":42}"));
		if (i > 0) {
			json_object_set_new(b, "Error", json_string("E"));
			json_object_set_new(b, "Cause", json_string("C"));
		}
		r = call("CloudFlow.FinishExecution", NULL, b);
		assert_ok(r);
		assert_string_equal(str(body_of(r), "Status", NULL), ends[i]);
		assert_string_equal(str(body_of(r), "Output", NULL), "{\"result\":42}");
		assert_true(hcf_is_time(str(body_of(r), "StoppedTime", NULL)));
		assert_engine_status(NULL, "lifecycle", name, engine[i]);

		r = describe(NULL, "lifecycle", name);
		assert_string_equal(str(body_of(r), "Status", NULL), ends[i]);
		assert_string_equal(str(body_of(r), "Output", NULL), "{\"result\":42}");

		/* A stop of an ended execution: ExecutionAlreadyCompleted, nothing changes. */
		r = stop(NULL, "lifecycle", name);
		assert_error(r, "ExecutionAlreadyCompleted", 400);
		assert_non_null(strstr(str(r, "error", "message"), ends[i]));
		assert_engine_status(NULL, "lifecycle", name, engine[i]);
		assert_int_equal(hist_len(NULL, "lifecycle", name), 3);
		/* A second finish is refused the same way. */
		b = hcf_body("lifecycle", name);
		json_object_set_new(b, "Status", json_string("Failed"));
		assert_error(call("CloudFlow.FinishExecution", NULL, b), "ExecutionAlreadyCompleted", 400);
	}
	/* And a stop of a stopped one. */
	assert_ok(stop(NULL, "lifecycle", "run"));
	r = stop(NULL, "lifecycle", "run");
	assert_error(r, "ExecutionAlreadyCompleted", 400);
	assert_non_null(strstr(str(r, "error", "message"), "Stopped"));
	assert_int_equal(hist_len(NULL, "lifecycle", "run"), 3);
	assert_int_equal(dlq_count("ExecutionAlreadyCompleted"), 0); /* answers, not bad input */
}

static void engine_op_rules(void **state)
{
	json_t *b, *r;

	(void)state;
	hcf_flow(NULL, "engine", YAML);
	assert_error(call("CloudFlow.CreateFlow", NULL,
			  json_pack("{s:s, s:s}", "Name", "engine", "Definition", "other: 1")),
		     "FlowAlreadyExists", 409);
	assert_error(call("CloudFlow.CreateFlow", NULL, json_pack("{s:s}", "Name", "nodef")),
		     "MissingRequiredParams", 400);
	assert_error(
	    call("CloudFlow.CreateFlow", NULL, json_pack("{s:s, s:s}", "Name", "nodef", "Definition", "")),
	    "InvalidArgument", 400);
	hcf_start(NULL, "engine", "once", 0);
	assert_error(call("CloudFlow.StartExecution", NULL, hcf_body("engine", "once")),
		     "ExecutionAlreadyExists", 409);
	b = hcf_body("engine", "bad-input");
	json_object_set_new(b, "Input", json_string("[1, 2]"));
	assert_error(call("CloudFlow.StartExecution", NULL, b), "InvalidArgument", 400);
	b = hcf_body("engine", "once");
	json_object_set_new(b, "Status", json_string("Done"));
	assert_error(call("CloudFlow.FinishExecution", NULL, b), "InvalidArgument", 400);
	assert_error(call("CloudFlow.FinishExecution", NULL, hcf_body("engine", "once")),
		     "MissingRequiredParams", 400);

	/* Without ExecutionName the name comes from the request id: a replayed start names the same one. */
	r = h_call_as("CloudFlow.StartExecution", "Named_by_id", NULL, hcf_body("engine", NULL));
	assert_ok(r);
	assert_string_equal(str(body_of(r), "Name", NULL), "Named_by_id");
	r = h_call_as("CloudFlow.StartExecution", "9-not-a-name", NULL, hcf_body("engine", NULL));
	assert_ok(r);
	assert_true(strncmp(str(body_of(r), "Name", NULL), "exec-", 5) == 0);
}

/* ---- errors ---- */

static void missing_and_invalid_params(void **state)
{
	char *s129 = repeat("e", 129), *s128 = repeat("\xc3\xa9", 128), *c4097 = repeat("c", 4097),
	     *c4096 = repeat("\xe2\x82\xac", 4096), *n129 = repeat("n", 129);
	json_t *b, *r;

	(void)state;
	hcf_flow(NULL, "params", YAML);
	hcf_start(NULL, "params", "p1", 1);

	/* Bad input is answered and dead-lettered. */
	assert_error_dlq(call("CloudFlow.StopExecution", NULL, json_pack("{s:s}", "ExecutionName", "p1")),
			 "MissingRequiredParams", 400);
	assert_error_dlq(call("CloudFlow.StopExecution", NULL, json_pack("{s:s}", "FlowName", "params")),
			 "MissingRequiredParams", 400);
	assert_error_dlq(call("CloudFlow.StopExecution", NULL, json_pack("{}")), "MissingRequiredParams",
			 400);

#define BAD(body) assert_error_dlq(call("CloudFlow.StopExecution", NULL, (body)), "InvalidArgument", 400)
	BAD(json_pack("{s:i, s:s}", "FlowName", 7, "ExecutionName", "p1"));
	BAD(json_pack("{s:s, s:s}", "FlowName", "1params", "ExecutionName", "p1"));
	BAD(json_pack("{s:s, s:s}", "FlowName", "params", "ExecutionName", "p 1"));
	BAD(json_pack("{s:s, s:s}", "FlowName", "params", "ExecutionName", n129));
	BAD(json_pack("{s:s, s:s, s:s}", "FlowName", "params", "ExecutionName", "p1", "Error", ""));
	BAD(json_pack("{s:s, s:s, s:s}", "FlowName", "params", "ExecutionName", "p1", "Error", s129));
	BAD(json_pack("{s:s, s:s, s:s}", "FlowName", "params", "ExecutionName", "p1", "Cause", ""));
	BAD(json_pack("{s:s, s:s, s:s}", "FlowName", "params", "ExecutionName", "p1", "Cause", c4097));
	BAD(json_pack("{s:s, s:s, s:i}", "FlowName", "params", "ExecutionName", "p1", "Error", 5));
	BAD(json_pack("{s:s, s:s, s:s}", "FlowName", "params", "ExecutionName", "p1", "ExpectedVersion",
		      "2"));
	BAD(json_pack("{s:s, s:s, s:i}", "FlowName", "params", "ExecutionName", "p1", "ExpectedVersion", 0));
	BAD(json_pack("{s:s, s:s, s:f}", "FlowName", "params", "ExecutionName", "p1", "ExpectedVersion",
		      2.0));
	BAD(json_pack("{s:s, s:s, s:s}", "FlowName", "params", "ExecutionName", "p1", "FlowOwner", "a{b}"));
	BAD(json_pack("{s:s, s:s, s:s}", "FlowName", "params", "ExecutionName", "p1", "FlowOwner", ""));
#undef BAD
	/* An account that would break the Redis hash tag. */
	assert_error_dlq(h_call_as("CloudFlow.StopExecution", NULL, "acct}x", hcf_body("params", "p1")),
			 "InvalidArgument", 400);
	assert_engine_status(NULL, "params", "p1", "RUNNING");
	assert_int_equal(hist_len(NULL, "params", "p1"), 2);

	/* At the limits exactly (in characters: 128 two-byte, 4096 three-byte) the stop is accepted. */
	b = hcf_body("params", "p1");
	json_object_set_new(b, "Error", json_string(s128));
	json_object_set_new(b, "Cause", json_string(c4096));
	r = call("CloudFlow.StopExecution", NULL, b);
	assert_ok(r);
	{
		char *e = xget(NULL, "params", "p1", "error");
		assert_string_equal(e, s128);
		free(e);
	}
	free(s129);
	free(s128);
	free(c4097);
	free(c4096);
	free(n129);
}

static void request_over_the_size_limit_is_entity_too_large(void **state)
{
	/* 4096 four-byte characters: a Cause of legal length, in a message over the 16 KiB limit. */
	char *cause = repeat("\xf0\x9f\x98\x80", 4096);
	json_t *b, *r;

	(void)state;
	hcf_flow(NULL, "big", YAML);
	hcf_start(NULL, "big", "b1", 1);
	b = hcf_body("big", "b1");
	json_object_set_new(b, "Cause", json_string(cause));
	r = call("CloudFlow.StopExecution", NULL, b);
	assert_error_dlq(r, "EntityTooLarge", 400);
	assert_engine_status(NULL, "big", "b1", "RUNNING");
	free(cause);
}

static void missing_flow_and_execution(void **state)
{
	json_t *b;
	redisReply *ttl;

	(void)state;
	assert_error(stop(NULL, "nowhere", "e1"), "FlowNotExists", 404);
	assert_error(describe(NULL, "nowhere", "e1"), "FlowNotExists", 404);
	assert_error(call("CloudFlow.StartExecution", NULL, hcf_body("nowhere", "e1")), "FlowNotExists", 404);
	hcf_flow(NULL, "somewhere", YAML);
	assert_error(stop(NULL, "somewhere", "ghost"), "ExecutionNotExists", 404);
	assert_error(describe(NULL, "somewhere", "ghost"), "ExecutionNotExists", 404);
	assert_error(call("CloudFlow.ReportExecutionRunning", NULL, hcf_body("somewhere", "ghost")),
		     "ExecutionNotExists", 404);
	b = hcf_body("somewhere", "ghost");
	json_object_set_new(b, "Status", json_string("Succeeded"));
	assert_error(call("CloudFlow.FinishExecution", NULL, b), "ExecutionNotExists", 404);
	/* Answers about a missing execution are kept for 7 days, not for good. */
	ttl = h_redis("TTL andon:{cf:" H_ACCOUNT ":somewhere}:r:ghost");
	assert_true(ttl->integer > 6 * 86400 && ttl->integer <= 7 * 86400);
	freeReplyObject(ttl);
	assert_int_equal(dlq_count("FlowNotExists") + dlq_count("ExecutionNotExists"), 0);
}

/* ---- accounts ---- */

static void accounts_own_flows_of_the_same_name(void **state)
{
	json_t *r;

	(void)state;
	hcf_flow(NULL, "shared", "owner: a\n");
	hcf_flow(B, "shared", "owner: b\n");
	hcf_start(NULL, "shared", "e1", 1);
	hcf_start(B, "shared", "e1", 1);

	assert_ok(stop(NULL, "shared", "e1"));
	assert_engine_status(NULL, "shared", "e1", "STOPPED");
	assert_engine_status(B, "shared", "e1", "RUNNING");
	r = describe(B, "shared", "e1");
	assert_string_equal(str(body_of(r), "Status", NULL), "Running");
	assert_string_equal(str(body_of(r), "FlowDefinition", NULL), "owner: b\n");
	r = stop(B, "shared", "e1");
	assert_ok(r);
	assert_string_equal(str(body_of(r), "FlowDefinition", NULL), "owner: b\n");
	/* Each account's execution has its own resource and events. */
	json_decref(events(B, "shared", "e1", 3));
	json_decref(events(NULL, "shared", "e1", 3));
	/* A flow B does not have is not A's. */
	hcf_flow(NULL, "a_only", YAML);
	assert_error(stop(B, "a_only", "e1"), "FlowNotExists", 404);
}

static void another_accounts_flow_is_access_denied(void **state)
{
	json_t *b, *r, *mine;
	char id[64];

	(void)state;
	hcf_flow(NULL, "private", YAML);
	hcf_start(NULL, "private", "p1", 1);

	/* B names A's flow explicitly: AccessDenied, whether the execution or even the flow exists or not. */
	b = hcf_body("private", "p1");
	json_object_set_new(b, "FlowOwner", json_string(H_ACCOUNT));
	assert_error(call("CloudFlow.StopExecution", B, json_deep_copy(b)), "AccessDenied", 403);
	assert_error(call("CloudFlow.DescribeExecution", B, json_deep_copy(b)), "AccessDenied", 403);
	assert_error(call("CloudFlow.ReportExecutionRunning", B, json_deep_copy(b)), "AccessDenied", 403);
	assert_error(call("CloudFlow.StartExecution", B, json_deep_copy(b)), "AccessDenied", 403);
	json_object_set_new(b, "FlowName", json_string("no_such_flow"));
	assert_error(call("CloudFlow.StopExecution", B, b), "AccessDenied", 403);
	assert_engine_status(NULL, "private", "p1", "RUNNING");
	assert_int_equal(hist_len(NULL, "private", "p1"), 2);

	/* A's own stop, naming itself as owner, works; B reusing its request id still learns nothing. */
	snprintf(id, sizeof(id), "mine-%lld", h_now_ms());
	b = hcf_body("private", "p1");
	json_object_set_new(b, "FlowOwner", json_string(H_ACCOUNT));
	mine = h_call_as("CloudFlow.StopExecution", id, NULL, json_deep_copy(b));
	assert_ok(mine);
	h_send("CloudFlow.StopExecution", id, B, b);
	h_flush();
	r = h_reply(id, 2, 20000);
	assert_error(r, "AccessDenied", 403);
	assert_int_equal(dlq_count("AccessDenied"), 0); /* an answer, not bad input */
}

/* ---- versions ---- */

static void expected_version_guards_the_stop(void **state)
{
	json_t *b, *r;

	(void)state;
	hcf_flow(NULL, "versions", YAML);
	hcf_start(NULL, "versions", "v1", 1);
	r = describe(NULL, "versions", "v1");
	assert_int_equal(json_integer_value(json_object_get(body_of(r), "Version")), 2);

	b = hcf_body("versions", "v1");
	json_object_set_new(b, "ExpectedVersion", json_integer(1));
	assert_error(call("CloudFlow.StopExecution", NULL, b), "ConcurrentUpdateError", 409);
	assert_engine_status(NULL, "versions", "v1", "RUNNING");
	assert_int_equal(dlq_count("ConcurrentUpdateError"), 0);

	b = hcf_body("versions", "v1");
	json_object_set_new(b, "ExpectedVersion", json_integer(2));
	r = call("CloudFlow.StopExecution", NULL, b);
	assert_ok(r);
	assert_int_equal(json_integer_value(json_object_get(body_of(r), "Version")), 3);

	/* Finish honours it as well. */
	hcf_start(NULL, "versions", "v2", 1);
	b = hcf_body("versions", "v2");
	json_object_set_new(b, "Status", json_string("Succeeded"));
	json_object_set_new(b, "ExpectedVersion", json_integer(7));
	assert_error(call("CloudFlow.FinishExecution", NULL, b), "ConcurrentUpdateError", 409);
}

/* A stop decided on version 1 (Starting) races the engine's report of Running: one of them wins. */
static void expected_version_detects_a_change_meanwhile(void **state)
{
	enum { N = 30 };
	const char *stops[N], *runs[N];
	char name[32];
	int conflicts = 0;

	(void)state;
	hcf_flow(NULL, "meanwhile", YAML);
	hcf_start_many(NULL, "meanwhile", "m", N, 0);
	for (int i = 0; i < N; i++) {
		json_t *b;

		snprintf(name, sizeof(name), "m-%d", i);
		b = hcf_body("meanwhile", name);
		json_object_set_new(b, "ExpectedVersion", json_integer(1));
		if (i % 2) {
			runs[i] = h_send("CloudFlow.ReportExecutionRunning", NULL, NULL,
					 hcf_body("meanwhile", name));
			stops[i] = h_send("CloudFlow.StopExecution", NULL, NULL, b);
		} else {
			stops[i] = h_send("CloudFlow.StopExecution", NULL, NULL, b);
			runs[i] = h_send("CloudFlow.ReportExecutionRunning", NULL, NULL,
					 hcf_body("meanwhile", name));
		}
	}
	h_flush();
	for (int i = 0; i < N; i++) {
		json_t *s = h_reply(stops[i], 1, 30000), *r = h_reply(runs[i], 1, 30000);

		assert_non_null(s);
		assert_non_null(r);
		snprintf(name, sizeof(name), "m-%d", i);
		if (json_is_true(json_object_get(s, "ok"))) {
			assert_error(r, "ExecutionAlreadyCompleted", 400);
			assert_engine_status(NULL, "meanwhile", name, "STOPPED");
		} else {
			assert_error(s, "ConcurrentUpdateError", 409);
			assert_ok(r);
			assert_engine_status(NULL, "meanwhile", name, "RUNNING");
			conflicts++;
		}
		assert_int_equal(hist_len(NULL, "meanwhile", name), 2);
	}
	fprintf(stderr, "meanwhile: %d of %d stops found the execution changed\n", conflicts, N);
}

/* ---- replays, races ---- */

static void replay_returns_the_stored_answer(void **state)
{
	json_t *first, *again;
	char id[64];

	(void)state;
	hcf_flow(NULL, "replays", YAML);
	hcf_start(NULL, "replays", "r1", 1);
	snprintf(id, sizeof(id), "replay-%lld", h_now_ms());
	first = json_deep_copy(h_call_as("CloudFlow.StopExecution", id, NULL, hcf_body("replays", "r1")));
	assert_ok(first);
	h_send("CloudFlow.StopExecution", id, NULL, hcf_body("replays", "r1"));
	h_send("CloudFlow.StopExecution", id, NULL, hcf_body("replays", "r1"));
	h_flush();
	again = h_reply(id, 3, 20000);
	assert_non_null(again);
	assert_true(json_equal(first, again));
	assert_true(json_equal(first, h_reply(id, 2, 0)));
	assert_int_equal(hist_len(NULL, "replays", "r1"), 3);
	json_decref(first);
}

/* Stop and finish sent together for many executions: exactly one wins each. */
static void stop_racing_finish_has_one_winner(void **state)
{
	enum { N = 40 };
	const char *stops[N], *fins[N];
	char name[32];
	int stop_won = 0;

	(void)state;
	hcf_flow(NULL, "race", YAML);
	hcf_start_many(NULL, "race", "r", N, 1);
	for (int i = 0; i < N; i++) {
		json_t *fin;

		snprintf(name, sizeof(name), "r-%d", i);
		fin = hcf_body("race", name);
		json_object_set_new(fin, "Status", json_string(i % 4 < 2 ? "Succeeded" : "Failed"));
		if (i % 2) {
			stops[i] = h_send("CloudFlow.StopExecution", NULL, NULL, hcf_body("race", name));
			fins[i] = h_send("CloudFlow.FinishExecution", NULL, NULL, fin);
		} else {
			fins[i] = h_send("CloudFlow.FinishExecution", NULL, NULL, fin);
			stops[i] = h_send("CloudFlow.StopExecution", NULL, NULL, hcf_body("race", name));
		}
	}
	h_flush();
	for (int i = 0; i < N; i++) {
		json_t *s = h_reply(stops[i], 1, 30000), *f = h_reply(fins[i], 1, 30000), *evs, *last;
		const char *want_end = i % 4 < 2 ? "Succeeded" : "Failed";
		int stopped;

		assert_non_null(s);
		assert_non_null(f);
		snprintf(name, sizeof(name), "r-%d", i);
		stopped = json_is_true(json_object_get(s, "ok"));
		if (stopped) {
			assert_string_equal(str(body_of(s), "Status", NULL), "Stopped");
			assert_error(f, "ExecutionAlreadyCompleted", 400);
			assert_engine_status(NULL, "race", name, "STOPPED");
			stop_won++;
		} else {
			assert_error(s, "ExecutionAlreadyCompleted", 400);
			assert_ok(f);
			assert_string_equal(str(body_of(f), "Status", NULL), want_end);
		}
		/* History and events: started, running, one terminal entry, agreeing with the winner. */
		assert_int_equal(hist_len(NULL, "race", name), 3);
		evs = events(NULL, "race", name, 3);
		h_pump(0);
		assert_int_equal(json_array_size(evs), 3);
		last = json_array_get(evs, 2);
		assert_string_equal(str(last, "status", NULL), stopped ? "Stopped" : want_end);
		assert_string_equal(str(last, "requestId", NULL), stopped ? stops[i] : fins[i]);
		json_decref(evs);
	}
	fprintf(stderr, "race: stop won %d of %d\n", stop_won, N);
}

/* ---- times ---- */

static void times_are_iso_utc_with_milliseconds(void **state)
{
	static const struct {
		long long ms;
		const char *iso;
	} cases[] = {
	    {0, "1970-01-01T00:00:00.000Z"},
	    {1546304461001LL, "2019-01-01T01:01:01.001Z"},
	    {951782400000LL, "2000-02-29T00:00:00.000Z"},
	    {951868799999LL, "2000-02-29T23:59:59.999Z"},
	    {1709251199999LL, "2024-02-29T23:59:59.999Z"},
	    {4102444799999LL, "2099-12-31T23:59:59.999Z"},
	    {4107542400000LL, "2100-03-01T00:00:00.000Z"},
	    {253402300799999LL, "9999-12-31T23:59:59.999Z"},
	};

	(void)state;
	hcf_flow(NULL, "clock", YAML);
	hcf_start(NULL, "clock", "c1", 1);
	assert_ok(stop(NULL, "clock", "c1"));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *r;

		freeReplyObject(h_redis("HSET andon:{cf:" H_ACCOUNT ":clock}:x:c1 t0 %lld t1 %lld",
					cases[i].ms, cases[i].ms));
		r = describe(NULL, "clock", "c1");
		assert_string_equal(str(body_of(r), "StartedTime", NULL), cases[i].iso);
		assert_string_equal(str(body_of(r), "StoppedTime", NULL), cases[i].iso);
	}
}

/* ---- history ---- */

static json_t *history(const char *account, json_t *body)
{
	return call("CloudFlow.GetExecutionHistory", account, body);
}

/* A page of h1's history from token (NULL: the first) with limit (0: none given). */
static json_t *history_page(const char *flow, const char *exec, int limit, const char *token)
{
	json_t *b = hcf_body(flow, exec), *r;

	if (limit > 0)
		json_object_set_new(b, "Limit", json_integer(limit));
	if (token != NULL)
		json_object_set_new(b, "NextToken", json_string(token));
	r = history(NULL, b);
	assert_ok(r);
	return body_of(r);
}

/* EventDetail of event ev, parsed: it is JSON object text (a new object). */
static json_t *detail(json_t *ev)
{
	const char *s = str(ev, "EventDetail", NULL);
	json_t *d;

	assert_non_null(s);
	d = json_loads(s, 0, NULL);
	assert_non_null(d);
	assert_true(json_is_object(d));
	return d;
}

static void history_pages_and_carries_the_stops_error_and_cause(void **state)
{
	static const char *const types[] = {"ExecutionStarted", "ExecutionRunning", "ExecutionStopped"};
	static const char cause[] = "operator said \"stop\"\n\tnow \\ caf\xc3\xa9 / \x01";
	json_t *b, *r, *page, *evs, *ev, *d, *all;
	const char *id, *tok;
	char token[32];
	redisReply *rr;

	(void)state;
	hcf_flow(NULL, "hist", YAML);
	hcf_start(NULL, "hist", "h1", 1);
	b = hcf_body("hist", "h1");
	json_object_set_new(b, "Error", json_string("Halted"));
	json_object_set_new(b, "Cause", json_string(cause));
	assert_ok(call("CloudFlow.StopExecution", NULL, b));

	/* One page with everything (the default Limit is 60), in CloudFlow's shape. */
	r = history(NULL, hcf_body("hist", "h1"));
	assert_ok(r);
	id = str(r, "id", NULL);
	page = body_of(r);
	assert_string_equal(str(page, "RequestId", NULL), id);
	assert_null(json_object_get(page, "NextToken"));
	evs = json_object_get(page, "Events");
	assert_true(json_is_array(evs));
	assert_int_equal(json_array_size(evs), 3);
	for (size_t i = 0; i < 3; i++) {
		ev = json_array_get(evs, i);
		assert_int_equal(json_integer_value(json_object_get(ev, "EventId")), (json_int_t)i + 1);
		assert_int_equal(json_integer_value(json_object_get(ev, "ScheduleEventId")), (json_int_t)i);
		assert_string_equal(str(ev, "Type", NULL), types[i]);
		assert_string_equal(str(ev, "StepName", NULL), "");
		assert_true(hcf_is_time(str(ev, "Time", NULL)));
		assert_true(json_is_string(json_object_get(ev, "EventDetail")));
	}
	/* The start's Input, nothing for Running, and the stop's Error and Cause, byte for byte. */
	d = detail(json_array_get(evs, 0));
	assert_string_equal(str(d, "Input", NULL), "{\"k\":\"v\"}");
	json_decref(d);
	assert_string_equal(str(json_array_get(evs, 1), "EventDetail", NULL), "{}");
	d = detail(json_array_get(evs, 2));
	assert_string_equal(str(d, "Error", NULL), "Halted");
	assert_string_equal(str(d, "Cause", NULL), cause);
	assert_int_equal(json_object_size(d), 2);
	json_decref(d);
	/* The stop's event time is the execution's StoppedTime. */
	assert_string_equal(str(json_array_get(evs, 2), "Time", NULL),
			    str(body_of(describe(NULL, "hist", "h1")), "StoppedTime", NULL));
	all = json_deep_copy(evs);

	/* Paging: Limit 1 three times, each NextToken from the page before; the last page has none. */
	tok = NULL;
	for (size_t i = 0; i < 3; i++) {
		page = history_page("hist", "h1", 1, tok);
		evs = json_object_get(page, "Events");
		assert_int_equal(json_array_size(evs), 1);
		assert_true(json_equal(json_array_get(evs, 0), json_array_get(all, i)));
		tok = str(page, "NextToken", NULL);
		if (i < 2) {
			assert_non_null(tok);
			snprintf(token, sizeof(token), "%s", tok);
			tok = token;
		} else {
			assert_null(tok);
		}
	}
	page = history_page("hist", "h1", 2, NULL);
	assert_int_equal(json_array_size(json_object_get(page, "Events")), 2);
	assert_non_null(str(page, "NextToken", NULL));
	snprintf(token, sizeof(token), "%s", str(page, "NextToken", NULL));
	page = history_page("hist", "h1", 1000, token);
	assert_int_equal(json_array_size(json_object_get(page, "Events")), 1);
	assert_true(json_equal(json_array_get(json_object_get(page, "Events"), 0), json_array_get(all, 2)));
	assert_null(json_object_get(page, "NextToken"));
	/* An empty NextToken is the first page. */
	page = history_page("hist", "h1", 0, "");
	assert_true(json_equal(json_object_get(page, "Events"), all));
	json_decref(all);

	/* A finish carries Output, Error and Cause the same way. */
	hcf_start(NULL, "hist", "h2", 1);
	b = hcf_body("hist", "h2");
	json_object_set_new(b, "Status", json_string("Failed"));
	json_object_set_new(b, "Output", json_string("{\"n\": [1, 2.5, null]}"));
	json_object_set_new(b, "Error", json_string("E"));
	json_object_set_new(b, "Cause", json_string("C"));
	assert_ok(call("CloudFlow.FinishExecution", NULL, b));
	page = history_page("hist", "h2", 0, NULL);
	ev = json_array_get(json_object_get(page, "Events"), 2);
	assert_string_equal(str(ev, "Type", NULL), "ExecutionFailed");
	assert_string_equal(str(ev, "EventDetail", NULL),
			    "{\"Output\":\"{\\\"n\\\": [1, 2.5, null]}\",\"Error\":\"E\",\"Cause\":\"C\"}");

	/* A read: nothing stored under its id. */
	rr = h_redis("HEXISTS andon:{cf:" H_ACCOUNT ":hist}:r:h1 %s", id);
	assert_int_equal(rr->integer, 0);
	freeReplyObject(rr);
}

static void history_errors_as_describe(void **state)
{
	size_t dlq0;
	json_t *b;

	(void)state;
	hcf_flow(NULL, "hist_err", YAML);
	hcf_start(NULL, "hist_err", "e1", 0);
	/* Missing flow and execution: answers, not dead-lettered, not stored. */
	assert_error(history(NULL, hcf_body("nowhere", "e1")), "FlowNotExists", 404);
	assert_error(history(NULL, hcf_body("hist_err", "ghost")), "ExecutionNotExists", 404);
	/* Another account: its own namespace (no such flow), or AccessDenied when naming the owner. */
	assert_error(history(B, hcf_body("hist_err", "e1")), "FlowNotExists", 404);
	b = hcf_body("hist_err", "e1");
	json_object_set_new(b, "FlowOwner", json_string(H_ACCOUNT));
	assert_error(history(B, json_deep_copy(b)), "AccessDenied", 403);
	json_object_set_new(b, "FlowName", json_string("no_such_flow"));
	assert_error(history(B, b), "AccessDenied", 403);
	/* The owner naming itself is fine. */
	b = hcf_body("hist_err", "e1");
	json_object_set_new(b, "FlowOwner", json_string(H_ACCOUNT));
	assert_ok(history(NULL, b));
	/* A NextToken the engine did not hand out: InvalidArgument, an answer. */
	b = hcf_body("hist_err", "e1");
	json_object_set_new(b, "NextToken", json_string("abc"));
	assert_error(history(NULL, b), "InvalidArgument", 400);
	b = hcf_body("hist_err", "e1");
	json_object_set_new(b, "NextToken", json_string("1e3"));
	assert_error(history(NULL, b), "InvalidArgument", 400);
	/* Past the end: an empty page. */
	b = hcf_body("hist_err", "e1");
	json_object_set_new(b, "NextToken", json_string("5"));
	b = history(NULL, b);
	assert_ok(b);
	assert_int_equal(json_array_size(json_object_get(body_of(b), "Events")), 0);
	assert_true(json_is_array(json_object_get(body_of(b), "Events")));
	assert_null(json_object_get(body_of(b), "NextToken"));
	h_pump(200);
	dlq0 = json_array_size(h_dlq());
	assert_int_equal(
	    dlq_count("FlowNotExists") + dlq_count("ExecutionNotExists") + dlq_count("AccessDenied"), 0);
	/* Bad input: answered and dead-lettered. */
	assert_error_dlq(history(NULL, json_pack("{s:s}", "FlowName", "hist_err")), "MissingRequiredParams",
			 400);
	b = hcf_body("hist_err", "e1");
	json_object_set_new(b, "Limit", json_integer(0));
	assert_error_dlq(history(NULL, b), "InvalidArgument", 400);
	b = hcf_body("hist_err", "e1");
	json_object_set_new(b, "Limit", json_integer(1001));
	assert_error_dlq(history(NULL, b), "InvalidArgument", 400);
	b = hcf_body("hist_err", "e1");
	json_object_set_new(b, "Limit", json_string("5"));
	assert_error_dlq(history(NULL, b), "InvalidArgument", 400);
	assert_int_equal(json_array_size(h_dlq()), dlq0 + 4);
	/* Nothing changed the execution. */
	assert_engine_status(NULL, "hist_err", "e1", "STARTING");
	assert_int_equal(hist_len(NULL, "hist_err", "e1"), 1);
}

/* ---- throttling ---- */

static void burst_is_throttled_per_account_and_flow(void **state)
{
	enum { NA = 1000, NB = 60, EA = 20, EB = 10 };
	static const char *ids_a[NA], *ids_b[NB];
	int ok_a = 0, done_a = 0, throttled_a = 0, stopped[EA] = {0}, stopped_b[EB] = {0};
	long long t0, t1;
	double bound;
	char name[32];
	int throttled_i = -1, answered_i = -1;
	size_t dlq0 = json_array_size(h_dlq());

	(void)state;
	hcf_flow(NULL, "busy", YAML);
	hcf_flow(B, "busy", YAML);
	hcf_start_many(NULL, "busy", "a", EA, 1);
	hcf_start_many(B, "busy", "b", EB, 1);

	t0 = h_now_ms();
	for (int i = 0, j = 0; i < NA; i++) {
		snprintf(name, sizeof(name), "a-%d", i % EA);
		ids_a[i] = h_send("CloudFlow.StopExecution", NULL, NULL, hcf_body("busy", name));
		/* B's requests are spread through A's burst. */
		if (i % (NA / NB) == 0 && j < NB) {
			snprintf(name, sizeof(name), "b-%d", j % EB);
			ids_b[j++] = h_send("CloudFlow.StopExecution", NULL, B, hcf_body("busy", name));
		}
	}
	h_flush();
	for (int i = 0; i < NA; i++)
		assert_non_null(h_reply(ids_a[i], 1, 60000));
	for (int j = 0; j < NB; j++)
		assert_non_null(h_reply(ids_b[j], 1, 60000));
	t1 = h_now_ms();

	for (int i = 0; i < NA; i++) {
		json_t *r = h_reply(ids_a[i], 1, 0);

		if (json_is_true(json_object_get(r, "ok"))) {
			assert_string_equal(str(body_of(r), "Status", NULL), "Stopped");
			assert_int_equal(stopped[i % EA]++, 0); /* one winner per execution */
			ok_a++;
			answered_i = i;
		} else if (is_error(r, "ExecutionAlreadyCompleted")) {
			assert_int_equal(
			    json_integer_value(json_object_get(json_object_get(r, "error"), "status")), 400);
			done_a++;
		} else {
			assert_error(r, "ResourceThrottled", 429);
			throttled_a++;
			throttled_i = i;
		}
	}
	for (int j = 0; j < NB; j++) {
		json_t *r = h_reply(ids_b[j], 1, 0);

		if (json_is_true(json_object_get(r, "ok")))
			assert_int_equal(stopped_b[j % EB]++, 0);
		else
			assert_error(r, "ExecutionAlreadyCompleted", 400); /* never throttled */
	}
	for (int k = 0; k < EB; k++)
		assert_int_equal(stopped_b[k], 1);

	/* The bucket lets through its burst, then the rate for as long as the burst lasted; no more. */
	bound = BURST + RATE * (double)(t1 - t0) / 1000.0 + 1;
	fprintf(stderr,
		"burst: %d requests in %lld ms: %d stopped, %d already completed, %d throttled "
		"(bound on non-throttled: %.0f)\n",
		NA, t1 - t0, ok_a, done_a, throttled_a, bound);
	assert_int_equal(ok_a + done_a + throttled_a, NA);
	assert_true(ok_a + done_a >= BURST);
	assert_true((double)(ok_a + done_a) <= bound);
	assert_true(throttled_a > 0);

	/* Redis agrees with the replies; every stopped execution has its three events. */
	for (int k = 0; k < EA; k++) {
		snprintf(name, sizeof(name), "a-%d", k);
		assert_engine_status(NULL, "busy", name, stopped[k] ? "STOPPED" : "RUNNING");
		assert_int_equal(hist_len(NULL, "busy", name), stopped[k] ? 3 : 2);
	}

	/* Nothing lost, nothing doubled, nothing dead-lettered. */
	h_pump(500);
	for (int i = 0; i < NA; i++)
		assert_int_equal(h_reply_count(ids_a[i]), 1);
	assert_int_equal(json_array_size(h_dlq()), dlq0);

	/*
	 * A throttled request stored nothing: once the bucket has refilled (rate 100/s: 1.1 s refills it all)
	 * its replay is decided afresh. An answered one replays its stored answer.
	 */
	{
		struct timespec ts = {1, 100000000};
		json_t *again;

		assert_true(throttled_i >= 0);
		assert_true(answered_i >= 0);
		nanosleep(&ts, NULL);
		snprintf(name, sizeof(name), "a-%d", throttled_i % EA);
		h_send("CloudFlow.StopExecution", ids_a[throttled_i], NULL, hcf_body("busy", name));
		snprintf(name, sizeof(name), "a-%d", answered_i % EA);
		h_send("CloudFlow.StopExecution", ids_a[answered_i], NULL, hcf_body("busy", name));
		h_flush();
		again = h_reply(ids_a[throttled_i], 2, 20000);
		assert_non_null(again);
		assert_false(is_error(again, "ResourceThrottled"));
		again = h_reply(ids_a[answered_i], 2, 20000);
		assert_non_null(again);
		assert_true(json_equal(again, h_reply(ids_a[answered_i], 1, 0)));
	}
}

static int setup(void **state)
{
	static char size_opt[64];
	static const char *opts[4];

	(void)state;
	snprintf(size_opt, sizeof(size_opt), "worker.max_message_bytes=%d", MAX_MESSAGE);
	opts[0] = "cloudflow.rate=100";
	opts[1] = "cloudflow.burst=100";
	opts[2] = size_opt;
	opts[3] = NULL;
	return h_group_setup(opts);
}

static int teardown(void **state)
{
	(void)state;
	return h_group_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(stop_running_execution_replies_with_its_description),
	    cmocka_unit_test(stop_starting_execution),
	    cmocka_unit_test(every_status_and_already_completed),
	    cmocka_unit_test(engine_op_rules),
	    cmocka_unit_test(missing_and_invalid_params),
	    cmocka_unit_test(request_over_the_size_limit_is_entity_too_large),
	    cmocka_unit_test(missing_flow_and_execution),
	    cmocka_unit_test(accounts_own_flows_of_the_same_name),
	    cmocka_unit_test(another_accounts_flow_is_access_denied),
	    cmocka_unit_test(expected_version_guards_the_stop),
	    cmocka_unit_test(expected_version_detects_a_change_meanwhile),
	    cmocka_unit_test(replay_returns_the_stored_answer),
	    cmocka_unit_test(stop_racing_finish_has_one_winner),
	    cmocka_unit_test(times_are_iso_utc_with_milliseconds),
	    cmocka_unit_test(history_pages_and_carries_the_stops_error_and_cause),
	    cmocka_unit_test(history_errors_as_describe),
	    cmocka_unit_test(burst_is_throttled_per_account_and_flow),
	};
	return cmocka_run_group_tests_name("0301-cflow_stop", tests, setup, teardown);
}
