/* 0030-cflow_validate: unit tests for the CloudFlow adapter: field rules, error codes, keys and engine
 * fields of each call, and the cloudflow.* options. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "config.h"
#include "json.h"
#include "ops.h"
#include "proto.h"

#define ACCOUNT "123456789012"
#define OTHER	"210987654321"
#define REGION	"cn-hangzhou"
#define TAG	"andon:{cf:" ACCOUNT ":orders}:"

/* Everything one request needs; the test's state. */
typedef struct fx {
	msgpack_sbuffer sb;
	msgpack_zone zone;
	msgpack_object root;
	andon_req_t req;
	andon_apierr_t err;
	andon_arena_t arena;
	andon_config_t *cfg;
	andon_ctx_t ctx;
	andon_call_t call;
	char account[80];
} fx_t;

static int setup(void **state)
{
	fx_t *fx = calloc(1, sizeof(*fx));

	if (fx == NULL || (fx->cfg = andon_config_new()) == NULL)
		return -1;
	msgpack_sbuffer_init(&fx->sb);
	if (!msgpack_zone_init(&fx->zone, 4096) || andon_arena_init(&fx->arena, 256 * 1024) != 0)
		return -1;
	fx->cfg->cloudflow_rate = 100;
	fx->cfg->cloudflow_burst = 0;
	snprintf(fx->account, sizeof(fx->account), "%s", ACCOUNT);
	fx->ctx.cfg = fx->cfg;
	fx->ctx.region = REGION;
	fx->ctx.account = fx->account;
	fx->ctx.arena = &fx->arena;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	fx_t *fx = *state;

	msgpack_sbuffer_destroy(&fx->sb);
	msgpack_zone_destroy(&fx->zone);
	andon_arena_free(&fx->arena);
	andon_config_destroy(fx->cfg);
	free(fx);
	return 0;
}

/* Builds {v:1, op, id, body} from JSON (body is stolen), parses it and runs the op's prepare. */
static int run_id(fx_t *fx, const char *op_name, const char *id, json_t *body)
{
	json_t *req = json_pack("{s:i, s:s, s:s, s:o}", "v", 1, "op", op_name, "id", id, "body", body);
	msgpack_packer pk;
	char reason[256];
	const andon_op_t *op;

	msgpack_sbuffer_clear(&fx->sb);
	msgpack_zone_clear(&fx->zone);
	andon_arena_reset(&fx->arena);
	msgpack_packer_init(&pk, &fx->sb, msgpack_sbuffer_write);
	if (andon_json_to_msgpack(req, &pk, reason, sizeof(reason)) != 0)
		fail_msg("pack: %s", reason);
	json_decref(req);
	if (andon_codec_unpack(fx->sb.data, fx->sb.size, 32, &fx->zone, &fx->root, reason, sizeof(reason)) !=
	    0)
		fail_msg("unpack: %s", reason);
	memset(&fx->err, 0, sizeof(fx->err));
	if (andon_proto_parse(&fx->root, &fx->req, &fx->err) != 0)
		fail_msg("parse: %s", fx->err.message);
	op = andon_ops_find(fx->req.op, fx->req.op_len);
	assert_non_null(op);
	memset(&fx->call, 0, sizeof(fx->call));
	memset(&fx->err, 0, sizeof(fx->err));
	return op->prepare(&fx->ctx, &fx->req, &fx->call, &fx->err);
}

static int run(fx_t *fx, const char *op, json_t *body)
{
	return run_id(fx, op, "req-1", body);
}

static void expect_ok(fx_t *fx, const char *op, json_t *body)
{
	if (run(fx, op, body) != 0)
		fail_msg("%s rejected: %s: %s", op, fx->err.code, fx->err.message);
	assert_int_equal(fx->call.overflow, 0);
}

static void expect_err(fx_t *fx, const char *op, json_t *body, const char *code)
{
	if (run(fx, op, body) != -1)
		fail_msg("%s accepted, expected %s", op, code);
	assert_string_equal(fx->err.code, code);
	assert_int_equal(fx->err.status, 400);
	assert_int_equal(fx->err.bad_input, 1); /* every adapter error is bad input: reply and DLQ */
	assert_true(fx->err.message[0] != '\0');
}

static int arg_is(const andon_call_t *c, int i, const char *s)
{
	return i < c->argc && c->argvlen[i] == strlen(s) && memcmp(c->argv[i], s, c->argvlen[i]) == 0;
}

static void assert_arg(const andon_call_t *c, int i, const char *s)
{
	if (!arg_is(c, i, s))
		fail_msg("argv[%d] is \"%.*s\", expected \"%s\"", i, i < c->argc ? (int)c->argvlen[i] : 0,
			 i < c->argc ? c->argv[i] : "", s);
}

/* The value of engine field name, or NULL. */
static const char *field(const andon_call_t *c, const char *name, size_t *len)
{
	for (int i = 3 + c->nkeys + 2; i + 1 < c->argc; i += 2)
		if (arg_is(c, i, name)) {
			*len = c->argvlen[i + 1];
			return c->argv[i + 1];
		}
	return NULL;
}

static void assert_field(const andon_call_t *c, const char *name, const char *value)
{
	size_t len;
	const char *v = field(c, name, &len);

	if (v == NULL)
		fail_msg("no field %s", name);
	if (len != strlen(value) || memcmp(v, value, len) != 0)
		fail_msg("field %s is \"%.*s\", expected \"%s\"", name, (int)len, v, value);
}

static void assert_no_field(const andon_call_t *c, const char *name)
{
	size_t len;

	if (field(c, name, &len) != NULL)
		fail_msg("unexpected field %s", name);
}

static json_t *target(const char *flow, const char *exec)
{
	return json_pack("{s:s, s:s}", "FlowName", flow, "ExecutionName", exec);
}

static char *repeat(char ch, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, ch, n);
	s[n] = '\0';
	return s;
}

/* ---- the ops ---- */

static void test_ops_table(void **state)
{
	static const char *const names[] = {
	    "CloudFlow.CreateFlow",	    "CloudFlow.StartExecution",	 "CloudFlow.ReportExecutionRunning",
	    "CloudFlow.StopExecution",	    "CloudFlow.FinishExecution", "CloudFlow.DescribeExecution",
	    "CloudFlow.GetExecutionHistory"};

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const andon_op_t *op = andon_ops_find(names[i], strlen(names[i]));
		assert_non_null(op);
		assert_int_equal(op->too_large_status, 400); /* CloudFlow's EntityTooLarge */
	}
	assert_null(andon_ops_find("CloudFlow.ListFlows", 19));
}

static void test_stop_call(void **state)
{
	fx_t *fx = *state;
	json_t *b = target("orders", "order-1");

	json_object_set_new(b, "Error", json_string("Halted"));
	json_object_set_new(b, "Cause", json_string("operator"));
	json_object_set_new(b, "ExpectedVersion", json_integer(3));
	expect_ok(fx, "CloudFlow.StopExecution", b);
	assert_arg(&fx->call, 0, "FCALL");
	assert_arg(&fx->call, 1, "cf_stop");
	assert_arg(&fx->call, 2, "5");
	assert_arg(&fx->call, 3, TAG "flow");
	assert_arg(&fx->call, 4, TAG "x:order-1");
	assert_arg(&fx->call, 5, TAG "h:order-1");
	assert_arg(&fx->call, 6, TAG "r:order-1");
	assert_arg(&fx->call, 7, TAG "tb:" ACCOUNT);
	assert_arg(&fx->call, 8, "req-1");
	assert_arg(&fx->call, 9, "CloudFlow.StopExecution");
	assert_field(&fx->call, "account", ACCOUNT);
	assert_field(&fx->call, "owner", ACCOUNT);
	assert_field(&fx->call, "flow", "orders");
	assert_field(&fx->call, "name", "order-1");
	assert_field(&fx->call, "rate", "100");
	assert_field(&fx->call, "burst", "100"); /* burst 0 means one second's worth */
	assert_field(&fx->call, "error", "Halted");
	assert_field(&fx->call, "cause", "operator");
	assert_field(&fx->call, "expectedVersion", "3");

	fx->cfg->cloudflow_rate = 0;
	fx->cfg->cloudflow_burst = 7;
	expect_ok(fx, "CloudFlow.StopExecution", target("orders", "order-1"));
	assert_field(&fx->call, "rate", "0");
	assert_field(&fx->call, "burst", "7");
	assert_no_field(&fx->call, "error");
	assert_no_field(&fx->call, "expectedVersion");
	fx->cfg->cloudflow_rate = 100;
	fx->cfg->cloudflow_burst = 0;
}

/* Naming another account's flow: the call goes to the owner's slot, with the caller's bucket. */
static void test_flow_owner(void **state)
{
	fx_t *fx = *state;
	json_t *b = target("orders", "order-1");

	json_object_set_new(b, "FlowOwner", json_string(OTHER));
	expect_ok(fx, "CloudFlow.StopExecution", b);
	assert_arg(&fx->call, 3, "andon:{cf:" OTHER ":orders}:flow");
	assert_arg(&fx->call, 7, "andon:{cf:" OTHER ":orders}:tb:" ACCOUNT);
	assert_field(&fx->call, "account", ACCOUNT);
	assert_field(&fx->call, "owner", OTHER);

	b = target("orders", "order-1");
	json_object_set_new(b, "FlowOwner", json_string("a}b"));
	expect_err(fx, "CloudFlow.StopExecution", b, "InvalidArgument");
	b = target("orders", "order-1");
	json_object_set_new(b, "FlowOwner", json_integer(5));
	expect_err(fx, "CloudFlow.StopExecution", b, "InvalidArgument");
	{
		char *long_owner = repeat('1', 65);
		b = target("orders", "order-1");
		json_object_set_new(b, "FlowOwner", json_string(long_owner));
		expect_err(fx, "CloudFlow.StopExecution", b, "InvalidArgument");
		free(long_owner);
	}

	/* A caller's account with a brace would move the hash tag. */
	snprintf(fx->account, sizeof(fx->account), "12{3");
	expect_err(fx, "CloudFlow.StopExecution", target("orders", "order-1"), "InvalidArgument");
	expect_err(fx, "CloudFlow.CreateFlow", json_pack("{s:s, s:s}", "Name", "f", "Definition", "d"),
		   "InvalidArgument");
	snprintf(fx->account, sizeof(fx->account), "%s", ACCOUNT);
}

static void test_names(void **state)
{
	fx_t *fx = *state;
	static const char *const good[] = {"a", "_", "Z9", "a-b_c", "_-_"};
	static const char *const bad[] = {"1a", "-a", "a b", "a.b", "a:b", "a{b}", "\xc3\xa9t\xc3\xa9", ""};
	char *n128 = repeat('n', 128), *n129 = repeat('n', 129);

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		expect_ok(fx, "CloudFlow.StopExecution", target(good[i], "e"));
		expect_ok(fx, "CloudFlow.StopExecution", target("f", good[i]));
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		expect_err(fx, "CloudFlow.StopExecution", target(bad[i], "e"), "InvalidArgument");
		expect_err(fx, "CloudFlow.StopExecution", target("f", bad[i]), "InvalidArgument");
	}
	expect_ok(fx, "CloudFlow.StopExecution", target(n128, n128));
	expect_err(fx, "CloudFlow.StopExecution", target(n129, "e"), "InvalidArgument");
	expect_err(fx, "CloudFlow.StopExecution", target("f", n129), "InvalidArgument");
	free(n128);
	free(n129);
}

static void test_missing_and_invalid(void **state)
{
	fx_t *fx = *state;
	static const char *const ops[] = {"CloudFlow.StopExecution", "CloudFlow.DescribeExecution",
					  "CloudFlow.ReportExecutionRunning", "CloudFlow.FinishExecution",
					  "CloudFlow.GetExecutionHistory"};
	char *e128 = repeat('e', 128), *e129 = repeat('e', 129), *c4096 = repeat('c', 4096),
	     *c4097 = repeat('c', 4097);
	json_t *b;

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		expect_err(fx, ops[i], json_pack("{s:s}", "ExecutionName", "e"), "MissingRequiredParams");
		assert_non_null(strstr(fx->err.message, "FlowName"));
		expect_err(fx, ops[i], json_pack("{s:s}", "FlowName", "f"), "MissingRequiredParams");
		assert_non_null(strstr(fx->err.message, "ExecutionName"));
		expect_err(fx, ops[i], json_pack("{s:n, s:s}", "FlowName", "ExecutionName", "e"),
			   "MissingRequiredParams"); /* nil is absent */
		expect_err(fx, ops[i], json_pack("{s:b, s:s}", "FlowName", 1, "ExecutionName", "e"),
			   "InvalidArgument");
	}
	/* Error 1..128 and Cause 1..4096 characters. */
	{
		const char *const fields[] = {"Error", "Cause"};
		const char *ok[] = {e128, c4096}, *toolong[] = {e129, c4097};
		for (int k = 0; k < 2; k++) {
			b = target("f", "e");
			json_object_set_new(b, fields[k], json_string(ok[k]));
			expect_ok(fx, "CloudFlow.StopExecution", b);
			b = target("f", "e");
			json_object_set_new(b, fields[k], json_string(toolong[k]));
			expect_err(fx, "CloudFlow.StopExecution", b, "InvalidArgument");
			b = target("f", "e");
			json_object_set_new(b, fields[k], json_string(""));
			expect_err(fx, "CloudFlow.StopExecution", b, "InvalidArgument");
			b = target("f", "e");
			json_object_set_new(b, fields[k], json_integer(1));
			expect_err(fx, "CloudFlow.StopExecution", b, "InvalidArgument");
		}
	}
	/* ExpectedVersion: an integer 1..2^53. */
	{
		json_t *bad[] = {json_integer(0), json_integer(-1), json_integer(9007199254740993LL),
				 json_real(1.0),  json_string("1"), json_true()};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			b = target("f", "e");
			json_object_set_new(b, "ExpectedVersion", bad[i]);
			expect_err(fx, "CloudFlow.StopExecution", b, "InvalidArgument");
		}
		b = target("f", "e");
		json_object_set_new(b, "ExpectedVersion", json_integer(9007199254740992LL));
		expect_ok(fx, "CloudFlow.StopExecution", b);
		assert_field(&fx->call, "expectedVersion", "9007199254740992");
	}
	free(e128);
	free(e129);
	free(c4096);
	free(c4097);
}

static void test_create_flow(void **state)
{
	fx_t *fx = *state;
	char *def = repeat('d', 131072), *longdef = repeat('d', 131073), *desc = repeat('x', 257);

	expect_ok(fx, "CloudFlow.CreateFlow",
		  json_pack("{s:s, s:s, s:s}", "Name", "orders", "Definition", "version: v1\n", "Description",
			    "d"));
	assert_arg(&fx->call, 1, "cf_create");
	assert_arg(&fx->call, 2, "2");
	assert_arg(&fx->call, 3, TAG "flow");
	assert_arg(&fx->call, 4, TAG "fr");
	assert_field(&fx->call, "flow", "orders");
	assert_field(&fx->call, "definition", "version: v1\n");
	assert_field(&fx->call, "description", "d");
	expect_ok(fx, "CloudFlow.CreateFlow", json_pack("{s:s, s:s}", "Name", "orders", "Definition", def));
	expect_err(fx, "CloudFlow.CreateFlow",
		   json_pack("{s:s, s:s}", "Name", "orders", "Definition", longdef), "InvalidArgument");
	expect_err(fx, "CloudFlow.CreateFlow", json_pack("{s:s, s:s}", "Name", "orders", "Definition", ""),
		   "InvalidArgument");
	expect_err(fx, "CloudFlow.CreateFlow", json_pack("{s:s}", "Name", "orders"), "MissingRequiredParams");
	expect_err(fx, "CloudFlow.CreateFlow", json_pack("{s:s}", "Definition", "d"),
		   "MissingRequiredParams");
	expect_err(fx, "CloudFlow.CreateFlow", json_pack("{s:s, s:s}", "Name", "9", "Definition", "d"),
		   "InvalidArgument");
	expect_err(fx, "CloudFlow.CreateFlow",
		   json_pack("{s:s, s:s, s:s}", "Name", "orders", "Definition", "d", "Description", desc),
		   "InvalidArgument");
	free(def);
	free(longdef);
	free(desc);
}

static void test_start_execution(void **state)
{
	fx_t *fx = *state;
	json_t *b = target("orders", "order-1");

	json_object_set_new(b, "Input", json_string("{\"a\": 1}"));
	expect_ok(fx, "CloudFlow.StartExecution", b);
	assert_arg(&fx->call, 1, "cf_start");
	assert_arg(&fx->call, 2, "4");
	assert_arg(&fx->call, 4, TAG "x:order-1");
	assert_field(&fx->call, "arn", "acs:fnf:" REGION ":" ACCOUNT ":flow/orders/execution/order-1");
	assert_field(&fx->call, "input", "{\"a\": 1}");

	/* Input must be a JSON object. */
	static const char *const bad[] = {"[1]", "1", "\"s\"", "{", "", "null"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b = target("orders", "order-1");
		json_object_set_new(b, "Input", json_string(bad[i]));
		expect_err(fx, "CloudFlow.StartExecution", b, "InvalidArgument");
	}

	/* No ExecutionName: the request id when it is a valid name, else a hash of it. */
	if (run_id(fx, "CloudFlow.StartExecution", "Run_1", json_pack("{s:s}", "FlowName", "orders")) != 0)
		fail_msg("%s", fx->err.message);
	assert_field(&fx->call, "name", "Run_1");
	assert_arg(&fx->call, 4, TAG "x:Run_1");
	if (run_id(fx, "CloudFlow.StartExecution", "0f8fad5b-d9cb-469f-a165-70867728950e",
		   json_pack("{s:s}", "FlowName", "orders")) != 0)
		fail_msg("%s", fx->err.message);
	{
		size_t len;
		const char *n = field(&fx->call, "name", &len);
		assert_non_null(n);
		assert_int_equal(len, 21);
		assert_memory_equal(n, "exec-", 5);
	}
	/* A present but invalid name is not replaced. */
	expect_err(fx, "CloudFlow.StartExecution", target("orders", "1bad"), "InvalidArgument");
}

static void test_finish_execution(void **state)
{
	fx_t *fx = *state;
	static const char *const cf[] = {"Succeeded", "Failed", "TimedOut"};
	static const char *const engine[] = {"SUCCEEDED", "FAILED", "TIMED_OUT"};
	json_t *b;

	for (int i = 0; i < 3; i++) {
		b = target("orders", "order-1");
		json_object_set_new(b, "Status", json_string(cf[i]));
		json_object_set_new(b, "Output", json_string("{}"));
		expect_ok(fx, "CloudFlow.FinishExecution", b);
		assert_arg(&fx->call, 1, "cf_finish");
		assert_field(&fx->call, "status", engine[i]);
		assert_field(&fx->call, "output", "{}");
	}
	static const char *const bad[] = {"Running", "Stopped", "SUCCEEDED", "succeeded", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b = target("orders", "order-1");
		json_object_set_new(b, "Status", json_string(bad[i]));
		expect_err(fx, "CloudFlow.FinishExecution", b, "InvalidArgument");
	}
	expect_err(fx, "CloudFlow.FinishExecution", target("orders", "order-1"), "MissingRequiredParams");
	b = target("orders", "order-1");
	json_object_set_new(b, "Status", json_string("Succeeded"));
	json_object_set_new(b, "Output", json_string("not json"));
	expect_err(fx, "CloudFlow.FinishExecution", b, "InvalidArgument");
}

static void test_describe_call(void **state)
{
	fx_t *fx = *state;

	expect_ok(fx, "CloudFlow.DescribeExecution", target("orders", "order-1"));
	assert_arg(&fx->call, 1, "cf_describe");
	assert_arg(&fx->call, 2, "2");
	assert_arg(&fx->call, 3, TAG "flow");
	assert_arg(&fx->call, 4, TAG "x:order-1");
	expect_ok(fx, "CloudFlow.ReportExecutionRunning", target("orders", "order-1"));
	assert_arg(&fx->call, 1, "cf_running");
	assert_arg(&fx->call, 2, "4");
}

/* GetExecutionHistory: a read (flow, x, h; no answers hash), Limit 1-1000 (default 60), NextToken. */
static void test_history_call(void **state)
{
	fx_t *fx = *state;
	json_t *b;
	char *t128 = repeat('7', 128), *t129 = repeat('7', 129);

	expect_ok(fx, "CloudFlow.GetExecutionHistory", target("orders", "order-1"));
	assert_arg(&fx->call, 1, "cf_history");
	assert_arg(&fx->call, 2, "3");
	assert_arg(&fx->call, 3, TAG "flow");
	assert_arg(&fx->call, 4, TAG "x:order-1");
	assert_arg(&fx->call, 5, TAG "h:order-1");
	assert_arg(&fx->call, 6, "req-1");
	assert_arg(&fx->call, 7, "CloudFlow.GetExecutionHistory");
	assert_field(&fx->call, "account", ACCOUNT);
	assert_field(&fx->call, "owner", ACCOUNT);
	assert_field(&fx->call, "flow", "orders");
	assert_field(&fx->call, "name", "order-1");
	assert_field(&fx->call, "limit", "60");
	assert_no_field(&fx->call, "nextToken");

	b = target("orders", "order-1");
	json_object_set_new(b, "Limit", json_integer(1000));
	json_object_set_new(b, "NextToken", json_string("3"));
	json_object_set_new(b, "FlowOwner", json_string(OTHER));
	expect_ok(fx, "CloudFlow.GetExecutionHistory", b);
	assert_arg(&fx->call, 3, "andon:{cf:" OTHER ":orders}:flow");
	assert_field(&fx->call, "owner", OTHER);
	assert_field(&fx->call, "limit", "1000");
	assert_field(&fx->call, "nextToken", "3");
	b = target("orders", "order-1");
	json_object_set_new(b, "Limit", json_integer(1));
	json_object_set_new(b, "NextToken", json_string(""));
	expect_ok(fx, "CloudFlow.GetExecutionHistory", b);
	assert_field(&fx->call, "limit", "1");
	assert_no_field(&fx->call, "nextToken"); /* empty: the first page */
	b = target("orders", "order-1");
	json_object_set_new(b, "NextToken", json_string(t128));
	expect_ok(fx, "CloudFlow.GetExecutionHistory", b);

	{
		json_t *bad[] = {json_integer(0), json_integer(-1),  json_integer(1001),
				 json_real(10.0), json_string("10"), json_true()};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			b = target("orders", "order-1");
			json_object_set_new(b, "Limit", bad[i]);
			expect_err(fx, "CloudFlow.GetExecutionHistory", b, "InvalidArgument");
			assert_non_null(strstr(fx->err.message, "Limit"));
		}
	}
	b = target("orders", "order-1");
	json_object_set_new(b, "NextToken", json_integer(3));
	expect_err(fx, "CloudFlow.GetExecutionHistory", b, "InvalidArgument");
	b = target("orders", "order-1");
	json_object_set_new(b, "NextToken", json_string(t129));
	expect_err(fx, "CloudFlow.GetExecutionHistory", b, "InvalidArgument");
	expect_err(fx, "CloudFlow.GetExecutionHistory", target("orders", "1bad"), "InvalidArgument");
	free(t128);
	free(t129);
}

/* ---- options ---- */

static void test_options(void **state)
{
	andon_config_t *cfg = andon_config_new();
	char err[256];

	(void)state;
	assert_non_null(cfg);
	assert_int_equal(cfg->cloudflow_rate, 0);
	assert_int_equal(cfg->cloudflow_burst, 0);
	assert_int_equal(andon_config_set(cfg, "cloudflow.rate", "100", err, sizeof(err)), 0);
	assert_int_equal(andon_config_set(cfg, "cloudflow.burst", "1000000", err, sizeof(err)), 0);
	assert_int_equal(cfg->cloudflow_rate, 100);
	assert_int_equal(cfg->cloudflow_burst, 1000000);
	assert_int_equal(andon_config_set(cfg, "cloudflow.rate", "-1", err, sizeof(err)), -1);
	assert_int_equal(andon_config_set(cfg, "cloudflow.rate", "1000001", err, sizeof(err)), -1);
	assert_int_equal(andon_config_set(cfg, "cloudflow.burst", "1.5", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cloudflow.burst"));
	andon_config_destroy(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ops_table),
	    cmocka_unit_test(test_stop_call),
	    cmocka_unit_test(test_flow_owner),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_missing_and_invalid),
	    cmocka_unit_test(test_create_flow),
	    cmocka_unit_test(test_start_execution),
	    cmocka_unit_test(test_finish_execution),
	    cmocka_unit_test(test_describe_call),
	    cmocka_unit_test(test_history_call),
	    cmocka_unit_test(test_options),
	};
	return cmocka_run_group_tests_name("0030-cflow_validate", tests, setup, teardown);
}
