/* 0006-sfn_validate: unit tests for the request envelope and the Step Functions adapter's validation and
 * calls. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "ops.h"
#include "proto.h"
#include "utf8.h"
#include "util.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define ACCOUNT	     "123456789012"
#define REGION	     "us-east-1"
#define STD_ARN	     "arn:aws:states:us-east-1:123456789012:execution:sm:e1"
#define EXP_ARN	     "arn:aws:states:us-east-1:123456789012:express:sm:e1:0d7c3b9b-2a11-4c53-9f0e-6f1c2a4e1f0b"
#define SM_ARN	     "arn:aws:states:us-east-1:123456789012:stateMachine:sm"
#define KEY(id, sfx) "andon:{" id "}:" sfx

/* One entry of a msgpack map to build: a string, an integer, a boolean, nil, an empty array or a nested map.
 */
enum ftype { F_STR, F_INT, F_BOOL, F_NIL, F_ARR, F_MAP };

typedef struct field {
	const char *key;
	enum ftype type;
	const char *s;
	size_t len; /* F_STR: (size_t)-1 means strlen(s) */
	int64_t i;
	const struct field *sub;
	size_t nsub;
} field_t;

#define FSTR(k, v)                                                                                           \
	{                                                                                                    \
		(k), F_STR, (v), (size_t)-1, 0, NULL, 0                                                      \
	}
#define FSTRN(k, v, n)                                                                                       \
	{                                                                                                    \
		(k), F_STR, (v), (n), 0, NULL, 0                                                             \
	}
#define FINT(k, v)                                                                                           \
	{                                                                                                    \
		(k), F_INT, NULL, 0, (v), NULL, 0                                                            \
	}
#define FBOOL(k, v)                                                                                          \
	{                                                                                                    \
		(k), F_BOOL, NULL, 0, (v), NULL, 0                                                           \
	}
#define FNIL(k)                                                                                              \
	{                                                                                                    \
		(k), F_NIL, NULL, 0, 0, NULL, 0                                                              \
	}
#define FARR(k)                                                                                              \
	{                                                                                                    \
		(k), F_ARR, NULL, 0, 0, NULL, 0                                                              \
	}
#define FMAP(k, a, n)                                                                                        \
	{                                                                                                    \
		(k), F_MAP, NULL, 0, 0, (a), (n)                                                             \
	}

static void pack_fields(msgpack_packer *pk, const field_t *f, size_t n)
{
	msgpack_pack_map(pk, n);
	for (size_t i = 0; i < n; i++) {
		andon_codec_pack_cstr(pk, f[i].key);
		switch (f[i].type) {
		case F_STR:
			andon_codec_pack_strn(pk, f[i].s, f[i].len == (size_t)-1 ? strlen(f[i].s) : f[i].len);
			break;
		case F_INT:
			msgpack_pack_int64(pk, f[i].i);
			break;
		case F_BOOL:
			if (f[i].i)
				msgpack_pack_true(pk);
			else
				msgpack_pack_false(pk);
			break;
		case F_NIL:
			msgpack_pack_nil(pk);
			break;
		case F_ARR:
			msgpack_pack_array(pk, 0);
			break;
		case F_MAP:
			pack_fields(pk, f[i].sub, f[i].nsub);
			break;
		}
	}
}

/* Everything one request needs; the test's state. */
#define LOOKUP_VALUE "STANDARD\narn:aws:iam::123456789012:role/r"

typedef struct fx {
	msgpack_sbuffer sb;
	msgpack_zone zone;
	msgpack_object root;
	andon_req_t req;
	andon_apierr_t err;
	andon_arena_t arena;
	andon_ctx_t ctx;
	andon_call_t call;
	andon_call_t lookup; /* the first-round lookup of a call built in two steps (argc 0: none) */
} fx_t;

static int setup(void **state)
{
	fx_t *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	msgpack_sbuffer_init(&fx->sb);
	if (!msgpack_zone_init(&fx->zone, 4096) || andon_arena_init(&fx->arena, 256 * 1024) != 0)
		return -1;
	fx->ctx.region = REGION;
	fx->ctx.account = ACCOUNT;
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
	free(fx);
	return 0;
}

/* Packs a top-level map, unpacks it with the worker's decoder and runs andon_proto_parse; returns its result.
 */
static int parse_top(fx_t *fx, const field_t *top, size_t n)
{
	msgpack_packer pk;
	char reason[256];

	msgpack_sbuffer_clear(&fx->sb);
	msgpack_zone_clear(&fx->zone);
	andon_arena_reset(&fx->arena);
	msgpack_packer_init(&pk, &fx->sb, msgpack_sbuffer_write);
	pack_fields(&pk, top, n);
	if (andon_codec_unpack(fx->sb.data, fx->sb.size, 32, &fx->zone, &fx->root, reason, sizeof(reason)) !=
	    0)
		fail_msg("andon_codec_unpack: %s", reason);
	memset(&fx->err, 0, sizeof(fx->err));
	return andon_proto_parse(&fx->root, &fx->req, &fx->err);
}

/* Parses the full envelope {v:1, op, id, body} (which must succeed). */
static void parse_req(fx_t *fx, const char *op, const char *id, const field_t *body, size_t n)
{
	const field_t top[] = {FINT("v", 1), FSTR("op", op), FSTR("id", id), FMAP("body", body, n)};

	if (parse_top(fx, top, N(top)) != 0)
		fail_msg("andon_proto_parse: %s: %s", fx->err.code, fx->err.message);
}

/* Runs the op's prepare on the request already parsed into fx->req. */
static int prepare(fx_t *fx)
{
	const andon_op_t *op = andon_ops_find(fx->req.op, fx->req.op_len);

	assert_non_null(op);
	memset(&fx->call, 0, sizeof(fx->call));
	memset(&fx->lookup, 0, sizeof(fx->lookup));
	memset(&fx->err, 0, sizeof(fx->err));
	if (op->prepare(&fx->ctx, &fx->req, &fx->call, &fx->err) != 0)
		return -1;
	if (fx->call.resolve == NULL)
		return 0;
	/* The worker runs the lookup in the first round and builds the call from its answer (here: a start
	 * reads its state machine first (sfn_sm_get)). */
	fx->lookup = fx->call;
	return fx->call.resolve(&fx->ctx, &fx->req, LOOKUP_VALUE, strlen(LOOKUP_VALUE), &fx->call, &fx->err);
}

static int run(fx_t *fx, const char *op, const char *id, const field_t *body, size_t n)
{
	parse_req(fx, op, id, body, n);
	return prepare(fx);
}

static void expect_ok(fx_t *fx, const char *op, const field_t *body, size_t n)
{
	if (run(fx, op, "req-1", body, n) != 0)
		fail_msg("%s rejected: %s: %s", op, fx->err.code, fx->err.message);
	assert_int_equal(fx->call.overflow, 0);
}

static void expect_err(fx_t *fx, const char *op, const field_t *body, size_t n, const char *code,
		       int bad_input)
{
	if (run(fx, op, "req-1", body, n) != -1)
		fail_msg("%s accepted, expected %s", op, code);
	assert_non_null(fx->err.code);
	assert_string_equal(fx->err.code, code);
	assert_int_equal(fx->err.status, 400);
	assert_int_equal(fx->err.bad_input, bad_input);
	assert_true(fx->err.message[0] != '\0');
}

static int arg_is(const andon_call_t *c, int i, const char *s)
{
	return i < c->argc && c->argvlen[i] == strlen(s) && memcmp(c->argv[i], s, c->argvlen[i]) == 0;
}

static void assert_arg(const andon_call_t *c, int i, const char *s)
{
	size_t at = 0, len;

	if (arg_is(c, i, s))
		return;
	if (i >= c->argc)
		fail_msg("argc is %d, expected argv[%d] \"%.100s\"", c->argc, i, s);
	len = c->argvlen[i];
	while (at < len && s[at] != '\0' && c->argv[i][at] == s[at])
		at++;
	/* Long values (and any garbage in them) are cut short in the message. */
	fail_msg("argv[%d] (%zu bytes) is \"%.100s\"..., expected \"%.100s\"... (%zu bytes); first "
		 "difference at byte %zu",
		 i, len, c->argv[i], s, strlen(s), at);
}

/* The value after name among the name/value pairs that follow the request id and op, or NULL. sfn_stop's
 * arguments are positional (arn, error, cause after the id and op): named here by their position. */
static const char *field_value(const andon_call_t *c, const char *name, size_t *len)
{
	static const char *const stop_args[] = {"arn", "error", "cause", NULL};

	if (arg_is(c, 1, "sfn_stop")) {
		for (int k = 0; stop_args[k] != NULL; k++)
			if (strcmp(stop_args[k], name) == 0 && 3 + c->nkeys + 2 + k < c->argc) {
				*len = c->argvlen[3 + c->nkeys + 2 + k];
				/* An absent optional field is passed empty. */
				return c->argv[3 + c->nkeys + 2 + k];
			}
		return NULL;
	}
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
	const char *v = field_value(c, name, &len);

	if (v == NULL)
		fail_msg("no field %s", name);
	if (len != strlen(value) || memcmp(v, value, len) != 0)
		fail_msg("field %s is \"%.*s\", expected \"%s\"", name, (int)len, v, value);
}

/* A string of n copies of the UTF-8 character ch, malloc'd. */
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

/* ---- ops table ---- */

static void test_ops_find(void **state)
{
	static const char *const names[] = {
	    "StepFunctions.CreateStateMachine", "StepFunctions.StartExecution",
	    "StepFunctions.StopExecution",	"StepFunctions.FinishExecution",
	    "StepFunctions.DescribeExecution",	"StepFunctions.GetExecutionHistory",
	    "StepFunctions.ListExecutions"};
	static const char *const unknown[] = {"",
					      "StepFunctions",
					      "StepFunctions.",
					      "StepFunctions.Stop",
					      "StepFunctions.StopExecutionX",
					      "stepfunctions.stopexecution",
					      "StepFunctions.ListStateMachines",
					      "SQS.SendMessage",
					      ".StopExecution"};
	const char *s = "StepFunctions.StopExecution, and more";

	(void)state;
	for (size_t i = 0; i < N(names); i++) {
		const andon_op_t *op = andon_ops_find(names[i], strlen(names[i]));

		assert_non_null(op);
		assert_string_equal(op->name, names[i]);
		assert_non_null(op->prepare);
	}
	for (size_t i = 0; i < N(unknown); i++)
		if (andon_ops_find(unknown[i], strlen(unknown[i])) != NULL)
			fail_msg("\"%s\" found", unknown[i]);
	/* The name is length-delimited (it points into a message). */
	assert_non_null(andon_ops_find(s, strlen("StepFunctions.StopExecution")));
	assert_string_equal(andon_ops_find(s, 27)->name, "StepFunctions.StopExecution");
	assert_null(andon_ops_find(s, 26));
	assert_null(andon_ops_find(s, 28));
}

static size_t chars_of(const char *s, size_t len)
{
	size_t n = (size_t)-1;

	assert_int_equal(andon_utf8_count(s, len, &n, NULL), 0);
	return n;
}

static void test_utf8_len(void **state)
{
	static const char *const bad[] = {
	    "\x80",		/* stray continuation */
	    "A\x80\x80\x80",	/* the "one character" of any length */
	    "\xc1\x81",		/* overlong 'A' */
	    "\xc0\xaf",		/* overlong '/' */
	    "\xe0\x80\xaf",	/* overlong, 3 bytes */
	    "\xed\xa0\x80",	/* surrogate U+D800 */
	    "\xf4\x90\x80\x80", /* above U+10FFFF */
	    "\xf5\x80\x80\x80", /* lead byte never used */
	    "\xe2\x82",		/* cut short */
	    "\xff",
	};
	size_t at = 99;

	(void)state;
	assert_int_equal(chars_of("", 0), 0);
	assert_int_equal(chars_of("abc", 3), 3);
	assert_int_equal(chars_of("\xc3\xa9", 2), 1);
	assert_int_equal(chars_of("a\xe2\x82\xac"
				  "b",
				  5),
			 3);
	assert_int_equal(chars_of("\xf0\x9f\x98\x80", 4), 1);
	assert_int_equal(chars_of("\xf4\x8f\xbf\xbf", 4), 1); /* U+10FFFF */
	for (size_t i = 0; i < N(bad); i++)
		assert_int_equal(andon_utf8_count(bad[i], strlen(bad[i]), NULL, NULL), -1);
	assert_int_equal(andon_utf8_count("ab\xc1", 3, NULL, &at), -1);
	assert_int_equal(at, 2);
	/* A cut message is cut back to a character boundary; a whole one is kept. */
	assert_int_equal(andon_utf8_boundary("ab\xe2\x82", 4), 2);
	assert_int_equal(andon_utf8_boundary("ab\xe2\x82\xac", 5), 5);
	assert_int_equal(andon_utf8_boundary("ab", 2), 2);
	/* Escaping keeps good sequences and writes bad bytes as \xNN. */
	{
		char out[64];
		size_t n = andon_utf8_escape("a\xc1\xc3\xa9", 4, out);
		assert_int_equal(n, 1 + 4 + 2);
		assert_memory_equal(out, "a\\xC1\xc3\xa9", n);
	}
}

/* ---- ARNs ---- */

static void test_invalid_arn(void **state)
{
	fx_t *fx = *state;
	static const char *const bad[] = {
	    "foo:aws:states:us-east-1:123456789012:execution:sm:e1", /* wrong prefix */
	    "ARN:aws:states:us-east-1:123456789012:execution:sm:e1", /* prefix is case-sensitive */
	    "arn:aws:lambda:us-east-1:123456789012:execution:sm:e1", /* wrong service */
	    "arn:aws:states:us-east-1:123456789012:stateMachine:sm", /* a state machine, not an execution */
	    "arn:aws:states:us-east-1:123456789012:stateMachine:sm:e1",	     /* ditto, with a name */
	    "arn:aws:states:us-east-1:123456789012:activity:sm:e1",	     /* other resource */
	    "arn:aws:states:us-east-1:123456789012:execution:sm",	     /* missing execution name */
	    "arn:aws:states:us-east-1:123456789012:execution",		     /* missing both names */
	    "arn:aws:states:us-east-1:123456789012:express:sm:e1",	     /* express without its uuid */
	    "arn:aws:states::123456789012:execution:sm:e1",		     /* empty region */
	    "arn::states:us-east-1:123456789012:execution:sm:e1",	     /* empty partition */
	    "arn:aws:states:us-east-1::execution:sm:e1",		     /* empty account */
	    "arn:aws:states:us-east-1:123456789012:execution::e1",	     /* empty state machine name */
	    "arn:aws:states:us-east-1:123456789012:execution:sm:",	     /* empty execution name */
	    ":arn:aws:states:us-east-1:123456789012:execution:sm:e1",	     /* leading colon */
	    "arn:aws:states:us-east-1:123456789012:execution:sm:e1:",	     /* trailing colon */
	    "arn:aws:states:us-east-1:123456789012:execution:sm:e1:extra",   /* too many parts */
	    "arn:aws:states:us-east-1:123456789012:execution:sm:e1:x:y:z:w", /* far too many */
	    "arn:aws:states:us-east-1:123456789012:express:sm:e1:uuid:more", /* express, too many */
	    "arn:aws:states:us-east-1:123456789012:execution:s m:e1",	     /* space in a name */
	    "arn:aws:states:us-east-1:123456789012:execution:sm:e\t1",	     /* control character */
	    "arn:aws:states:us-east-1:123456789012:execution:sm:e<1>",
	    "arn:aws:states:us-east-1:123456789012:execution:sm:e{1}",
	    "arn:aws:states:us-east-1:123456789012:execution:sm:e*",
	    "arn:aws:states:us-east-1:123456789012:execution:sm:e?",
	    "arn:aws:states:us-east-1:123456789012:execution:s/m:e1",
	    "arn:aws:states:us-east-1:123456789012:execution:sm:e#1",
	    "arn:aws:states:us-east-1:123456789012:execution:sm:e\x7f",
	    "arn:aws:states:us-east-1:123456789012:execution:sm:e\"1",
	    "not an arn",
	    "arn",
	};
	char name81[128], arn[512];

	for (size_t i = 0; i < N(bad); i++) {
		const field_t body[] = {FSTR("executionArn", bad[i])};

		if (run(fx, "StepFunctions.StopExecution", "req-1", body, N(body)) != -1)
			fail_msg("\"%s\" accepted", bad[i]);
		if (strcmp(fx->err.code, "InvalidArn") != 0)
			fail_msg("\"%s\": %s, expected InvalidArn", bad[i], fx->err.code);
		assert_int_equal(fx->err.status, 400);
		assert_int_equal(fx->err.bad_input, 1);
		assert_non_null(strstr(fx->err.message, bad[i]));
	}

	/* Names: 80 characters pass, 81 do not (the limit counts characters). */
	memset(name81, 'n', 81);
	name81[81] = '\0';
	snprintf(arn, sizeof(arn), "arn:aws:states:us-east-1:123456789012:execution:sm:%s", name81);
	{
		const field_t body[] = {FSTR("executionArn", arn)};
		expect_err(fx, "StepFunctions.DescribeExecution", body, N(body), "InvalidArn", 1);
	}
	snprintf(arn, sizeof(arn), "arn:aws:states:us-east-1:123456789012:execution:%.80s:%.80s", name81,
		 name81);
	{
		const field_t body[] = {FSTR("executionArn", arn)};
		expect_ok(fx, "StepFunctions.DescribeExecution", body, N(body));
	}
	/* Non-ASCII names are fine: 80 two-byte characters. */
	{
		char *n80 = repeat("\xc3\xa9", 80);
		snprintf(arn, sizeof(arn), "arn:aws:states:us-east-1:123456789012:execution:sm:%s", n80);
		const field_t body[] = {FSTR("executionArn", arn)};
		expect_ok(fx, "StepFunctions.DescribeExecution", body, N(body));
		free(n80);
	}
}

static void test_arn_validation_exception(void **state)
{
	fx_t *fx = *state;
	char *longarn;

	{
		const field_t body[] = {FSTR("error", "E")};
		expect_err(fx, "StepFunctions.StopExecution", body, N(body), "ValidationException", 1);
		assert_non_null(strstr(fx->err.message, "executionArn"));
	}
	{
		/* An empty body is still a map. */
		expect_err(fx, "StepFunctions.DescribeExecution", NULL, 0, "ValidationException", 1);
	}
	{
		const field_t body[] = {FNIL("executionArn")};
		expect_err(fx, "StepFunctions.StopExecution", body, N(body), "ValidationException", 1);
	}
	{
		const field_t body[] = {FINT("executionArn", 42)};
		expect_err(fx, "StepFunctions.StopExecution", body, N(body), "ValidationException", 1);
		assert_non_null(strstr(fx->err.message, "executionArn"));
	}
	{
		const field_t body[] = {FBOOL("executionArn", 1)};
		expect_err(fx, "StepFunctions.FinishExecution", body, N(body), "ValidationException", 1);
	}
	{
		const field_t body[] = {FARR("executionArn")};
		expect_err(fx, "StepFunctions.GetExecutionHistory", body, N(body), "ValidationException", 1);
	}
	{
		const field_t body[] = {FSTR("executionArn", "")};
		expect_err(fx, "StepFunctions.StopExecution", body, N(body), "ValidationException", 1);
	}
	/* Longer than 2048 characters: a length error, before any ARN parsing. */
	longarn = repeat("a", 2100);
	memcpy(longarn, STD_ARN, strlen(STD_ARN));
	{
		const field_t body[] = {FSTR("executionArn", longarn)};
		expect_err(fx, "StepFunctions.StopExecution", body, N(body), "ValidationException", 1);
	}
	free(longarn);
}

static void test_other_account(void **state)
{
	fx_t *fx = *state;
	static const char *const ops[] = {"StepFunctions.StopExecution", "StepFunctions.DescribeExecution",
					  "StepFunctions.GetExecutionHistory"};

	/* Another account's execution is an answer (it does not exist for this caller), not a bad request. */
	for (size_t i = 0; i < N(ops); i++) {
		const field_t body[] = {
		    FSTR("executionArn", "arn:aws:states:us-east-1:210987654321:execution:sm:e1")};
		expect_err(fx, ops[i], body, N(body), "ExecutionDoesNotExist", 0);
	}
	{
		const field_t body[] = {
		    FSTR("executionArn", "arn:aws:states:us-east-1:210987654321:express:sm:e1:u")};
		expect_err(fx, "StepFunctions.StopExecution", body, N(body), "ExecutionDoesNotExist", 0);
	}
	{
		const field_t body[] = {FSTR("executionArn", STD_ARN), FSTR("status", "SUCCEEDED")};
		fx->ctx.account = "999999999999";
		expect_err(fx, "StepFunctions.FinishExecution", body, N(body), "ExecutionDoesNotExist", 0);
		fx->ctx.account = ACCOUNT;
	}
	{
		const field_t body[] = {
		    FSTR("stateMachineArn", "arn:aws:states:us-east-1:210987654321:stateMachine:sm")};
		expect_err(fx, "StepFunctions.StartExecution", body, N(body), "StateMachineDoesNotExist", 0);
	}
}

/* Copies the key argv strings of the current call. */
static void copy_keys(const andon_call_t *c, char keys[][256], int *n)
{
	*n = c->nkeys;
	for (int i = 0; i < c->nkeys; i++) {
		assert_true(c->argvlen[3 + i] < 256);
		memcpy(keys[i], c->argv[3 + i], c->argvlen[3 + i]);
		keys[i][c->argvlen[3 + i]] = '\0';
	}
}

static void test_express_same_keys(void **state)
{
	fx_t *fx = *state;
	static const char *const ops[] = {"StepFunctions.StopExecution", "StepFunctions.DescribeExecution",
					  "StepFunctions.GetExecutionHistory"};
	char std[9][256], exp[9][256];
	int nstd, nexp;

	for (size_t k = 0; k < N(ops); k++) {
		const field_t b1[] = {FSTR("executionArn", STD_ARN)};
		const field_t b2[] = {FSTR("executionArn", EXP_ARN)};

		expect_ok(fx, ops[k], b1, N(b1));
		copy_keys(&fx->call, std, &nstd);
		expect_ok(fx, ops[k], b2, N(b2));
		copy_keys(&fx->call, exp, &nexp);
		assert_true(nstd >= 1);
		assert_int_equal(nstd, nexp);
		for (int i = 0; i < nstd; i++)
			assert_string_equal(std[i], exp[i]);
		assert_string_equal(std[0], KEY(STD_ARN, "x"));
		/* The ARN argument is passed as the caller spelled it. */
		assert_field(&fx->call, "arn", EXP_ARN);
	}
}

/* ---- call shapes ---- */

/* The string at key of map m, copied (valid until the next call), or "(none)". */
static const char *get_s(const msgpack_object *m, const char *key)
{
	static char buf[256];
	const char *s;
	size_t len;

	if (m == NULL || andon_codec_get_str(m, key, &s, &len) != 1 || len >= sizeof(buf))
		return "(none)";
	memcpy(buf, s, len);
	buf[len] = '\0';
	return buf;
}

static void test_stop_shape(void **state)
{
	fx_t *fx = *state;
	const field_t body[] = {FSTR("executionArn", STD_ARN), FSTR("error", "Oops"),
				FSTR("cause", "it broke")};

	parse_req(fx, "StepFunctions.StopExecution", "req-77", body, N(body));
	assert_int_equal(prepare(fx), 0);
	assert_int_equal(fx->call.overflow, 0);
	assert_int_equal(fx->call.argc, 13);
	assert_int_equal(fx->call.nkeys, 3);
	assert_arg(&fx->call, 0, "FCALL");
	assert_arg(&fx->call, 1, "sfn_stop");
	assert_arg(&fx->call, 2, "3");
	assert_arg(&fx->call, 3, KEY(STD_ARN, "x"));
	assert_arg(&fx->call, 4, KEY(STD_ARN, "h"));
	assert_arg(&fx->call, 5, KEY(STD_ARN, "r"));
	assert_arg(&fx->call, 6, "req-77");
	assert_arg(&fx->call, 7, "StepFunctions.StopExecution");
	/* Positional: arn, error, cause, then the history entry's map header and its own fields. */
	assert_arg(&fx->call, 8, STD_ARN);
	assert_arg(&fx->call, 9, "Oops");
	assert_arg(&fx->call, 10, "it broke");
	assert_arg(&fx->call, 11, "\x85"); /* id, previousEventId, timestamp (the engine's) + these 2 */
	{
		msgpack_object o;
		msgpack_zone z;
		char *map = malloc(fx->call.argvlen[12] + 1);

		/* The tail is map entries: made a map of 2 here, it reads back as the entry's own fields. */
		msgpack_zone_init(&z, 1024);
		map[0] = (char)0x82;
		memcpy(map + 1, fx->call.argv[12], fx->call.argvlen[12]);
		assert_int_equal(andon_codec_unpack(map, fx->call.argvlen[12] + 1, 8, &z, &o, NULL, 0), 0);
		assert_string_equal(get_s(&o, "type"), "ExecutionAborted");
		assert_string_equal(get_s(andon_codec_get(&o, "executionAbortedEventDetails"), "error"),
				    "Oops");
		assert_string_equal(get_s(andon_codec_get(&o, "executionAbortedEventDetails"), "cause"),
				    "it broke");
		msgpack_zone_destroy(&z);
		free(map);
	}
	assert_non_null(fx->call.build);

	/* Without the optional fields: empty error and cause, and an entry without details. */
	{
		const field_t b2[] = {FSTR("executionArn", STD_ARN)};
		expect_ok(fx, "StepFunctions.StopExecution", b2, N(b2));
		assert_int_equal(fx->call.argc, 13);
		assert_int_equal(fx->call.argvlen[9], 0);
		assert_int_equal(fx->call.argvlen[10], 0);
		assert_arg(&fx->call, 11, "\x84");
	}
}

static void test_other_shapes(void **state)
{
	fx_t *fx = *state;

	{
		const field_t body[] = {FSTR("executionArn", STD_ARN)};
		expect_ok(fx, "StepFunctions.DescribeExecution", body, N(body));
		assert_arg(&fx->call, 1, "sfn_describe");
		assert_arg(&fx->call, 2, "2");
		assert_arg(&fx->call, 3, KEY(STD_ARN, "x"));
		assert_arg(&fx->call, 4, KEY(STD_ARN, "h"));
		assert_arg(&fx->call, 5, "req-1");
		assert_arg(&fx->call, 6, "StepFunctions.DescribeExecution");
		assert_arg(&fx->call, 7, "arn");
		assert_arg(&fx->call, 8, STD_ARN);
		assert_int_equal(fx->call.argc, 9);
	}
	{
		const field_t body[] = {FSTR("executionArn", STD_ARN), FSTR("status", "FAILED"),
					FSTR("error", "E"), FSTR("cause", "C")};
		expect_ok(fx, "StepFunctions.FinishExecution", body, N(body));
		assert_arg(&fx->call, 1, "sfn_finish");
		assert_arg(&fx->call, 2, "3");
		assert_arg(&fx->call, 5, KEY(STD_ARN, "r"));
		assert_arg(&fx->call, 6, "req-1");
		assert_arg(&fx->call, 7, "StepFunctions.FinishExecution");
		assert_field(&fx->call, "arn", STD_ARN);
		assert_field(&fx->call, "status", "FAILED");
		assert_field(&fx->call, "error", "E");
		assert_field(&fx->call, "cause", "C");
		assert_int_equal((fx->call.argc - 8) % 2, 0);
	}
	{
		const field_t body[] = {FSTR("executionArn", STD_ARN), FSTR("status", "SUCCEEDED"),
					FSTR("output", "{\"a\":[1,2]}")};
		expect_ok(fx, "StepFunctions.FinishExecution", body, N(body));
		assert_field(&fx->call, "output", "{\"a\":[1,2]}");
	}
	{
		/* Output belongs to SUCCEEDED only; error and cause to FAILED and TIMED_OUT only. */
		const field_t out_failed[] = {FSTR("executionArn", STD_ARN), FSTR("status", "TIMED_OUT"),
					      FSTR("output", "{}")};
		const field_t cause_ok[] = {FSTR("executionArn", STD_ARN), FSTR("status", "SUCCEEDED"),
					    FSTR("cause", "C")};
		expect_err(fx, "StepFunctions.FinishExecution", out_failed, N(out_failed),
			   "ValidationException", 1);
		expect_err(fx, "StepFunctions.FinishExecution", cause_ok, N(cause_ok), "ValidationException",
			   1);
	}
	{
		const field_t body[] = {FSTR("executionArn", STD_ARN), FINT("maxResults", 25),
					FBOOL("reverseOrder", 1), FSTR("nextToken", "tok")};
		expect_ok(fx, "StepFunctions.GetExecutionHistory", body, N(body));
		assert_arg(&fx->call, 1, "sfn_history");
		assert_arg(&fx->call, 2, "2");
		assert_arg(&fx->call, 3, KEY(STD_ARN, "x"));
		assert_arg(&fx->call, 4, KEY(STD_ARN, "h"));
		assert_field(&fx->call, "maxResults", "25");
		assert_field(&fx->call, "reverseOrder", "1");
		assert_field(&fx->call, "nextToken", "tok");
	}
	{
		/* ListExecutions: the state machine's keys only (one slot), the API's status name mapped. */
		const char *smarn = "arn:aws:states:us-east-1:123456789012:stateMachine:sm1";
		const field_t body[] = {FSTR("stateMachineArn", smarn), FINT("maxResults", 7),
					FSTR("statusFilter", "ABORTED"), FSTR("nextToken", "abcd")};
		const field_t bad_status[] = {FSTR("stateMachineArn", smarn),
					      FSTR("statusFilter", "STOPPED")};
		const field_t bad_max[] = {FSTR("stateMachineArn", smarn), FINT("maxResults", 1001)};
		const field_t bad_arn[] = {FSTR("stateMachineArn", STD_ARN)};

		expect_ok(fx, "StepFunctions.ListExecutions", body, N(body));
		assert_arg(&fx->call, 1, "sfn_list");
		assert_arg(&fx->call, 2, "3");
		assert_arg(&fx->call, 3, KEY("arn:aws:states:us-east-1:123456789012:stateMachine:sm1", "sm"));
		assert_arg(&fx->call, 4, KEY("arn:aws:states:us-east-1:123456789012:stateMachine:sm1", "ix"));
		assert_arg(&fx->call, 5,
			   KEY("arn:aws:states:us-east-1:123456789012:stateMachine:sm1", "ixs"));
		assert_field(&fx->call, "maxResults", "7");
		assert_field(&fx->call, "statusFilter", "STOPPED");
		assert_field(&fx->call, "nextToken", "abcd");
		expect_err(fx, "StepFunctions.ListExecutions", bad_status, N(bad_status),
			   "ValidationException", 1);
		expect_err(fx, "StepFunctions.ListExecutions", bad_max, N(bad_max), "ValidationException", 1);
		expect_err(fx, "StepFunctions.ListExecutions", bad_arn, N(bad_arn), "InvalidArn", 1);
	}
	{
		const field_t body[] = {FSTR("name", "my-sm"), FSTR("definition", "{}"),
					FSTR("type", "EXPRESS")};
		expect_ok(fx, "StepFunctions.CreateStateMachine", body, N(body));
		assert_arg(&fx->call, 1, "sfn_create");
		assert_arg(&fx->call, 2, "2");
		assert_arg(&fx->call, 3,
			   KEY("arn:aws:states:us-east-1:123456789012:stateMachine:my-sm", "sm"));
		assert_arg(&fx->call, 4,
			   KEY("arn:aws:states:us-east-1:123456789012:stateMachine:my-sm", "r"));
		assert_field(&fx->call, "arn", "arn:aws:states:us-east-1:123456789012:stateMachine:my-sm");
		assert_field(&fx->call, "name", "my-sm");
		assert_field(&fx->call, "type", "EXPRESS");
		assert_field(&fx->call, "account", ACCOUNT);
		assert_field(&fx->call, "definition", "{}");
	}
	{
		const field_t body[] = {FSTR("name", "my-sm"), FSTR("type", "express")};
		expect_err(fx, "StepFunctions.CreateStateMachine", body, N(body), "ValidationException", 1);
	}
	{
		const field_t body[] = {FSTR("name", "my sm")};
		expect_err(fx, "StepFunctions.CreateStateMachine", body, N(body), "InvalidName", 1);
	}
}

/* ---- length limits in characters ---- */

static void test_error_cause_limits(void **state)
{
	fx_t *fx = *state;
	struct {
		const char *field, *ch;
		size_t n;
		int ok;
	} cases[] = {
	    {"error", "e", 256, 1},
	    {"error", "e", 257, 0},
	    {"error", "\xc3\xa9", 256, 1},
	    {"error", "\xc3\xa9", 257, 0},
	    {"error", "\xf0\x9f\x98\x80", 256, 1},
	    {"error", "", 0, 1},
	    {"cause", "c", 32768, 1},
	    {"cause", "c", 32769, 0},
	    {"cause", "\xe2\x82\xac", 32768, 1},
	    {"cause", "\xe2\x82\xac", 32769, 0},
	};
	static const char *const ops[] = {"StepFunctions.StopExecution", "StepFunctions.FinishExecution"};

	for (size_t o = 0; o < N(ops); o++)
		for (size_t i = 0; i < N(cases); i++) {
			char *s = repeat(cases[i].ch, cases[i].n);
			const field_t body[] = {FSTR("executionArn", STD_ARN), FSTR("status", "FAILED"),
						FSTR(cases[i].field, s)};
			int rc = run(fx, ops[o], "req-1", body, N(body));

			if (cases[i].ok) {
				if (rc != 0)
					fail_msg("%s %s of %zu x \"%s\" rejected: %s", ops[o], cases[i].field,
						 cases[i].n, cases[i].ch, fx->err.message);
				assert_field(&fx->call, cases[i].field, s);
			} else {
				if (rc != -1)
					fail_msg("%s %s of %zu x \"%s\" accepted", ops[o], cases[i].field,
						 cases[i].n, cases[i].ch);
				assert_string_equal(fx->err.code, "ValidationException");
				assert_int_equal(fx->err.bad_input, 1);
				assert_non_null(strstr(fx->err.message, cases[i].field));
			}
			free(s);
		}
	/* Wrong type. */
	{
		const field_t body[] = {FSTR("executionArn", STD_ARN), FINT("error", 5)};
		expect_err(fx, "StepFunctions.StopExecution", body, N(body), "ValidationException", 1);
	}
}

/* ---- StartExecution ---- */

static void test_start_shape_and_name(void **state)
{
	fx_t *fx = *state;
	const field_t body[] = {FSTR("stateMachineArn", SM_ARN), FSTR("input", "{\"k\":1}")};

	/* A valid request id is the execution name. */
	parse_req(fx, "StepFunctions.StartExecution", "req-1", body, N(body));
	assert_int_equal(prepare(fx), 0);
	assert_int_equal(fx->call.overflow, 0);
	assert_arg(&fx->call, 0, "FCALL");
	/* Two steps, one slot each: the state machine's lookup, then the start on the execution's keys. */
	assert_arg(&fx->lookup, 1, "sfn_sm_get");
	assert_arg(&fx->lookup, 2, "1");
	assert_arg(&fx->lookup, 3, KEY(SM_ARN, "sm"));
	assert_arg(&fx->call, 1, "sfn_start");
	assert_arg(&fx->call, 2, "3");
	assert_arg(&fx->call, 3, KEY("arn:aws:states:us-east-1:123456789012:execution:sm:req-1", "x"));
	assert_arg(&fx->call, 4, KEY("arn:aws:states:us-east-1:123456789012:execution:sm:req-1", "h"));
	assert_arg(&fx->call, 5, KEY("arn:aws:states:us-east-1:123456789012:execution:sm:req-1", "r"));
	assert_arg(&fx->call, 6, "req-1");
	assert_arg(&fx->call, 7, "StepFunctions.StartExecution");
	assert_field(&fx->call, "sm", LOOKUP_VALUE);
	assert_field(&fx->call, "arn", "arn:aws:states:us-east-1:123456789012:execution:sm:req-1");
	assert_field(&fx->call, "smArn", SM_ARN);
	assert_field(&fx->call, "name", "req-1");
	assert_field(&fx->call, "account", ACCOUNT);
	assert_field(&fx->call, "input", "{\"k\":1}");

	/* An explicit name wins over the id. */
	{
		const field_t b2[] = {FSTR("stateMachineArn", SM_ARN), FSTR("name", "given")};
		expect_ok(fx, "StepFunctions.StartExecution", b2, N(b2));
		assert_field(&fx->call, "name", "given");
		assert_arg(&fx->call, 3,
			   KEY("arn:aws:states:us-east-1:123456789012:execution:sm:given", "x"));
		assert_null(field_value(&fx->call, "input", &(size_t){0}));
	}
}

/* The derived name of a StartExecution without a name, for request id (set directly after parsing). */
static void derived_name(fx_t *fx, const char *id, char out[128])
{
	const field_t body[] = {FSTR("stateMachineArn", SM_ARN)};
	const char *v;
	size_t len;
	char key[256];

	parse_req(fx, "StepFunctions.StartExecution", "placeholder", body, N(body));
	fx->req.id = id;
	fx->req.id_len = strlen(id);
	assert_int_equal(prepare(fx), 0);
	assert_int_equal(fx->call.overflow, 0);
	v = field_value(&fx->call, "name", &len);
	assert_non_null(v);
	assert_true(len < 128);
	memcpy(out, v, len);
	out[len] = '\0';
	/* The execution's keys carry the derived name. */
	snprintf(key, sizeof(key), "andon:{arn:aws:states:us-east-1:123456789012:execution:sm:%s}:x", out);
	assert_arg(&fx->call, 3, key);
}

static void assert_exec_hex(const char *name)
{
	assert_int_equal(strlen(name), 21);
	assert_memory_equal(name, "exec-", 5);
	for (int i = 5; i < 21; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			fail_msg("derived name %s is not exec- and 16 hex digits", name);
}

static void test_start_derived_name(void **state)
{
	fx_t *fx = *state;
	char a[128], b[128], c[128], d[128];
	char id1[] = "req 1", id2[] = "req 1"; /* equal ids at different addresses */
	char *long_id = repeat("a", 128);

	derived_name(fx, "ok-id", a);
	assert_string_equal(a, "ok-id");

	derived_name(fx, id1, a);
	assert_exec_hex(a);
	derived_name(fx, id2, b);
	assert_string_equal(a, b); /* deterministic: a replayed start names the same execution */
	derived_name(fx, "req 2", c);
	assert_exec_hex(c);
	assert_string_not_equal(a, c);

	/* Ids that pass the envelope check but are not valid names: ':' '#' and longer than 80. */
	{
		const field_t body[] = {FSTR("stateMachineArn", SM_ARN)};
		const char *v;
		size_t len;

		parse_req(fx, "StepFunctions.StartExecution", "tenant:42#7", body, N(body));
		assert_int_equal(prepare(fx), 0);
		v = field_value(&fx->call, "name", &len);
		assert_non_null(v);
		assert_true(len == 21 && memcmp(v, "exec-", 5) == 0);
	}
	derived_name(fx, long_id, d);
	assert_exec_hex(d);
	long_id[80] = '\0';
	derived_name(fx, long_id, d);
	assert_string_equal(d, long_id); /* exactly 80 is a valid name */
	free(long_id);
}

/* 64-bit FNV-1a with the standard parameters (offset basis 0xcbf29ce484222325, prime 0x100000001b3). */
static uint64_t fnv1a64(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

/*
 * Regression: docs/PROTOCOL.md section 9.3 says the derived name is "exec-" + the 64-bit FNV-1a hash of the
 * id, and clients key StartExecution requests by that name (section 2). worker/api_sfn.c:192 at 2862a6a
 * seeded the hash with 1469598103934665603, a digit short of the offset basis 0xcbf29ce484222325.
 */
static void test_derived_name_is_fnv1a(void **state)
{
	fx_t *fx = *state;
	static const char *const ids[] = {"req 1", "tenant:42#7", "a/b"};
	char got[128], want[32];

	/* The reference function against published FNV-1a 64 test vectors. */
	assert_true(fnv1a64("") == 0xcbf29ce484222325ULL);
	assert_true(fnv1a64("a") == 0xaf63dc4c8601ec8cULL);
	assert_true(fnv1a64("foobar") == 0x85944171f73967e8ULL);
	for (size_t i = 0; i < N(ids); i++) {
		derived_name(fx, ids[i], got);
		snprintf(want, sizeof(want), "exec-%016llx", (unsigned long long)fnv1a64(ids[i]));
		assert_string_equal(got, want);
	}
}

static void test_start_invalid(void **state)
{
	fx_t *fx = *state;
	static const char *const bad_names[] = {"",
						"a b",
						"a:b",
						"a/b",
						"a{b",
						"a*",
						"a\x01"
						"b",
						"a~b"};
	char *n81 = repeat("\xc3\xa9", 81), *n80 = repeat("\xc3\xa9", 80);

	for (size_t i = 0; i < N(bad_names); i++) {
		const field_t body[] = {FSTR("stateMachineArn", SM_ARN), FSTR("name", bad_names[i])};
		expect_err(fx, "StepFunctions.StartExecution", body, N(body), "InvalidName", 1);
	}
	{
		const field_t body[] = {FSTR("stateMachineArn", SM_ARN), FSTR("name", n81)};
		expect_err(fx, "StepFunctions.StartExecution", body, N(body), "InvalidName", 1);
	}
	{
		const field_t body[] = {FSTR("stateMachineArn", SM_ARN), FSTR("name", n80)};
		expect_ok(fx, "StepFunctions.StartExecution", body, N(body));
	}
	{
		const field_t body[] = {FSTR("stateMachineArn", SM_ARN), FINT("name", 1)};
		expect_err(fx, "StepFunctions.StartExecution", body, N(body), "ValidationException", 1);
	}
	free(n81);
	free(n80);

	/* stateMachineArn: required, and a state machine's ARN. */
	expect_err(fx, "StepFunctions.StartExecution", NULL, 0, "ValidationException", 1);
	{
		const field_t body[] = {FSTR("stateMachineArn", STD_ARN)};
		expect_err(fx, "StepFunctions.StartExecution", body, N(body), "InvalidArn", 1);
	}
	{
		const field_t body[] = {
		    FSTR("stateMachineArn", "arn:aws:states:us-east-1:123456789012:stateMachine:")};
		expect_err(fx, "StepFunctions.StartExecution", body, N(body), "InvalidArn", 1);
	}
	{
		const field_t body[] = {
		    FSTR("stateMachineArn", "arn:aws:sqs:us-east-1:123456789012:stateMachine:sm")};
		expect_err(fx, "StepFunctions.StartExecution", body, N(body), "InvalidArn", 1);
	}

	/* input: JSON text or nothing. */
	{
		static const char *const bad_input[] = {"{not json", "", "{\"a\":1", "undefined", "{'a':1}"};
		for (size_t i = 0; i < N(bad_input); i++) {
			const field_t body[] = {FSTR("stateMachineArn", SM_ARN), FSTR("input", bad_input[i])};
			expect_err(fx, "StepFunctions.StartExecution", body, N(body), "InvalidExecutionInput",
				   1);
		}
	}
	{
		const field_t body[] = {FSTR("stateMachineArn", SM_ARN), FINT("input", 3)};
		expect_err(fx, "StepFunctions.StartExecution", body, N(body), "InvalidExecutionInput", 1);
	}
	{
		static const char *const good_input[] = {"{}",	  "[1,2]", "42",
							 "\"s\"", "null",  " {\"a\": {\"b\": true}} "};
		for (size_t i = 0; i < N(good_input); i++) {
			const field_t body[] = {FSTR("stateMachineArn", SM_ARN),
						FSTR("input", good_input[i])};
			expect_ok(fx, "StepFunctions.StartExecution", body, N(body));
			assert_field(&fx->call, "input", good_input[i]);
		}
	}
}

/* ---- FinishExecution and GetExecutionHistory ---- */

static void test_finish_status(void **state)
{
	fx_t *fx = *state;
	static const char *const good[] = {"SUCCEEDED", "FAILED", "TIMED_OUT"};
	static const char *const bad[] = {"RUNNING", "ABORTED", "succeeded", "SUCCEEDEDX",
					  "SUCCEED", "FAILED ", ""};

	for (size_t i = 0; i < N(good); i++) {
		const field_t body[] = {FSTR("executionArn", STD_ARN), FSTR("status", good[i])};
		expect_ok(fx, "StepFunctions.FinishExecution", body, N(body));
		assert_field(&fx->call, "status", good[i]);
	}
	for (size_t i = 0; i < N(bad); i++) {
		const field_t body[] = {FSTR("executionArn", STD_ARN), FSTR("status", bad[i])};
		expect_err(fx, "StepFunctions.FinishExecution", body, N(body), "ValidationException", 1);
	}
	{
		const field_t body[] = {FSTR("executionArn", STD_ARN)};
		expect_err(fx, "StepFunctions.FinishExecution", body, N(body), "ValidationException", 1);
		assert_non_null(strstr(fx->err.message, "status"));
	}
	{
		const field_t body[] = {FSTR("executionArn", STD_ARN), FINT("status", 1)};
		expect_err(fx, "StepFunctions.FinishExecution", body, N(body), "ValidationException", 1);
	}
	{
		const field_t body[] = {FSTR("executionArn", STD_ARN), FSTR("status", "SUCCEEDED"),
					FSTR("output", "{oops")};
		expect_err(fx, "StepFunctions.FinishExecution", body, N(body), "ValidationException", 1);
	}
}

static void test_history_max_results(void **state)
{
	fx_t *fx = *state;
	static const int64_t good[] = {0, 1, 999, 1000};
	static const int64_t bad[] = {-1, 1001, -1000000, INT64_MAX};
	char num[24];

	for (size_t i = 0; i < N(good); i++) {
		const field_t body[] = {FSTR("executionArn", STD_ARN), FINT("maxResults", good[i])};
		expect_ok(fx, "StepFunctions.GetExecutionHistory", body, N(body));
		snprintf(num, sizeof(num), "%lld", (long long)good[i]);
		assert_field(&fx->call, "maxResults", num);
	}
	for (size_t i = 0; i < N(bad); i++) {
		const field_t body[] = {FSTR("executionArn", STD_ARN), FINT("maxResults", bad[i])};
		expect_err(fx, "StepFunctions.GetExecutionHistory", body, N(body), "ValidationException", 1);
		assert_non_null(strstr(fx->err.message, "maxResults"));
	}
	{
		const field_t body[] = {FSTR("executionArn", STD_ARN), FSTR("maxResults", "10")};
		expect_err(fx, "StepFunctions.GetExecutionHistory", body, N(body), "ValidationException", 1);
	}
	{
		/* Absent: 0 (the engine's default page), not in reverse. */
		const field_t body[] = {FSTR("executionArn", STD_ARN)};
		expect_ok(fx, "StepFunctions.GetExecutionHistory", body, N(body));
		assert_field(&fx->call, "maxResults", "0");
		assert_field(&fx->call, "reverseOrder", "0");
		assert_null(field_value(&fx->call, "nextToken", &(size_t){0}));
	}
	{
		const field_t body[] = {FSTR("executionArn", STD_ARN), FSTR("reverseOrder", "true")};
		expect_err(fx, "StepFunctions.GetExecutionHistory", body, N(body), "ValidationException", 1);
	}
	{
		const field_t body[] = {FSTR("executionArn", STD_ARN), FSTR("nextToken", "")};
		expect_err(fx, "StepFunctions.GetExecutionHistory", body, N(body), "ValidationException", 1);
	}
}

static void test_arena_overflow(void **state)
{
	fx_t *fx = *state;
	andon_arena_t small;
	andon_arena_t *saved = fx->ctx.arena;
	const field_t body[] = {FSTR("executionArn", STD_ARN)};

	/* Room for one key but not three: prepare succeeds and flags the call, the worker answers
	 * InternalFailure. */
	assert_int_equal(andon_arena_init(&small, strlen(KEY(STD_ARN, "x")) + 1), 0);
	fx->ctx.arena = &small;
	assert_int_equal(run(fx, "StepFunctions.StopExecution", "req-1", body, N(body)), 0);
	assert_int_equal(fx->call.overflow, 1);
	fx->ctx.arena = saved;
	andon_arena_free(&small);
}

/*
 * Regression: the standard-form ARN is rebuilt with snprintf into a stack buffer and its return value (the
 * untruncated length) used as the key length. The ARN limit counts characters, not bytes, and PARTITION and
 * REGION are not checked, so ~1150 characters of two-byte letters exceeded id[SFN_ARN_MAX + 32]
 * (worker/api_sfn.c:89 and :206 at 2862a6a): andon_call_key over-read the stack and the key held garbage.
 * The request must be rejected (InvalidArn) or get exact keys.
 */
static void test_long_multibyte_arn(void **state)
{
	fx_t *fx = *state;
	char *part = repeat("\xc3\xa9", 1100), *arn, *key;
	size_t cap = 8192;

	arn = malloc(cap);
	key = malloc(cap);
	assert_non_null(arn);
	assert_non_null(key);
	snprintf(arn, cap, "arn:%s:states:us-east-1:123456789012:execution:sm:e1", part);
	assert_true(chars_of(arn, strlen(arn)) <= 2048);
	{
		const field_t body[] = {FSTR("executionArn", arn)};
		int rc = run(fx, "StepFunctions.DescribeExecution", "req-1", body, N(body));

		if (rc == 0) {
			snprintf(key, cap, "andon:{%s}:x", arn);
			assert_int_equal(fx->call.overflow, 0);
			assert_arg(&fx->call, 3, key);
		} else {
			assert_string_equal(fx->err.code, "InvalidArn");
		}
	}
	snprintf(arn, cap, "arn:%s:states:us-east-1:123456789012:stateMachine:sm", part);
	{
		const field_t body[] = {FSTR("stateMachineArn", arn), FSTR("name", "e1")};
		int rc = run(fx, "StepFunctions.StartExecution", "req-1", body, N(body));

		if (rc == 0) {
			snprintf(key, cap, "andon:{arn:%s:states:us-east-1:123456789012:execution:sm:e1}:x",
				 part);
			assert_int_equal(fx->call.overflow, 0);
			assert_arg(&fx->call, 3, key);
		} else {
			assert_string_equal(fx->err.code, "InvalidArn");
		}
	}
	free(part);
	free(arn);
	free(key);
}

/* ---- envelope ---- */

static void assert_span(const char *p, size_t len, const char *s)
{
	if (p == NULL || len != strlen(s) || memcmp(p, s, len) != 0)
		fail_msg("got \"%.*s\", expected \"%s\"", p != NULL ? (int)len : 4, p != NULL ? p : "NULL",
			 s);
}

static void test_proto_ok(void **state)
{
	fx_t *fx = *state;
	const field_t body[] = {FSTR("executionArn", STD_ARN)};
	const field_t top[] = {FSTR("id", "req-9"),
			       FINT("v", 1),
			       FSTR("op", "StepFunctions.StopExecution"),
			       FSTR("replyTo", "my.replies"),
			       FSTR("account", "210987654321"),
			       FMAP("body", body, N(body))};

	assert_int_equal(parse_top(fx, top, N(top)), 0);
	assert_int_equal(fx->req.v, 1);
	assert_span(fx->req.id, fx->req.id_len, "req-9");
	assert_span(fx->req.op, fx->req.op_len, "StepFunctions.StopExecution");
	assert_span(fx->req.reply_to, fx->req.reply_to_len, "my.replies");
	assert_span(fx->req.account, fx->req.account_len, "210987654321");
	assert_non_null(fx->req.body);
	assert_int_equal(fx->req.body->type, MSGPACK_OBJECT_MAP);
	assert_int_equal(fx->req.body->via.map.size, 1);

	/* Optional fields absent: NULL and 0. Nil counts as absent. */
	{
		const field_t t2[] = {FINT("v", 1), FSTR("op", "X.Y"), FSTR("id", "i"), FNIL("replyTo"),
				      FMAP("body", NULL, 0)};
		assert_int_equal(parse_top(fx, t2, N(t2)), 0);
		assert_null(fx->req.reply_to);
		assert_int_equal(fx->req.reply_to_len, 0);
		assert_null(fx->req.account);
		assert_int_equal(fx->req.account_len, 0);
		assert_int_equal(fx->req.body->via.map.size, 0);
	}
}

static void test_proto_id(void **state)
{
	fx_t *fx = *state;
	char *id128 = repeat("i", 128), *id129 = repeat("i", 129);

	{
		const field_t top[] = {FINT("v", 1), FSTR("op", "StepFunctions.StopExecution"),
				       FMAP("body", NULL, 0)};
		assert_int_equal(parse_top(fx, top, N(top)), -1);
		assert_null(fx->req.id);
		assert_string_equal(fx->err.code, "ValidationException");
		assert_int_equal(fx->err.bad_input, 1);
	}
	{
		const field_t bad[][4] = {
		    {FINT("v", 1), FSTR("op", "A.B"), FINT("id", 7), FMAP("body", NULL, 0)},
		    {FINT("v", 1), FSTR("op", "A.B"), FSTR("id", ""), FMAP("body", NULL, 0)},
		    {FINT("v", 1), FSTR("op", "A.B"), FSTR("id", "has space"), FMAP("body", NULL, 0)},
		    {FINT("v", 1), FSTR("op", "A.B"), FSTR("id", "tab\t"), FMAP("body", NULL, 0)},
		    {FINT("v", 1), FSTR("op", "A.B"), FSTR("id", "caf\xc3\xa9"), FMAP("body", NULL, 0)},
		    {FINT("v", 1), FSTR("op", "A.B"), FSTR("id", id129), FMAP("body", NULL, 0)},
		    {FINT("v", 1), FSTR("op", "A.B"), FNIL("id"), FMAP("body", NULL, 0)},
		};
		for (size_t i = 0; i < N(bad); i++) {
			assert_int_equal(parse_top(fx, bad[i], 4), -1);
			assert_null(fx->req.id);
			assert_string_equal(fx->err.code, "ValidationException");
		}
	}
	{
		const field_t top[] = {FINT("v", 1), FSTR("op", "A.B"), FSTR("id", id128),
				       FMAP("body", NULL, 0)};
		assert_int_equal(parse_top(fx, top, N(top)), 0);
		assert_int_equal(fx->req.id_len, 128);
	}
	free(id128);
	free(id129);
}

static void test_proto_version(void **state)
{
	fx_t *fx = *state;

	{
		const field_t top[] = {FINT("v", 2), FSTR("op", "StepFunctions.StopExecution"),
				       FSTR("id", "req-2"), FMAP("body", NULL, 0)};
		assert_int_equal(parse_top(fx, top, N(top)), -1);
		assert_string_equal(fx->err.code, "APIVersionNotSupported");
		assert_int_equal(fx->err.status, 400);
		/* The id and op are still readable, so the request can be answered. */
		assert_span(fx->req.id, fx->req.id_len, "req-2");
		assert_span(fx->req.op, fx->req.op_len, "StepFunctions.StopExecution");
		assert_non_null(strstr(fx->err.message, "2"));
	}
	{
		const field_t top[] = {FINT("v", 0), FSTR("op", "A.B"), FSTR("id", "r"),
				       FMAP("body", NULL, 0)};
		assert_int_equal(parse_top(fx, top, N(top)), -1);
		assert_string_equal(fx->err.code, "APIVersionNotSupported");
		assert_non_null(fx->req.id);
	}
	{
		const field_t top[] = {FSTR("v", "1"), FSTR("op", "A.B"), FSTR("id", "r"),
				       FMAP("body", NULL, 0)};
		assert_int_equal(parse_top(fx, top, N(top)), -1);
		assert_string_equal(fx->err.code, "ValidationException");
		assert_non_null(fx->req.id);
	}
	{
		const field_t top[] = {FSTR("op", "A.B"), FSTR("id", "r"), FMAP("body", NULL, 0)};
		assert_int_equal(parse_top(fx, top, N(top)), -1);
		assert_string_equal(fx->err.code, "ValidationException");
		assert_non_null(fx->req.id);
	}
}

static void test_proto_op_body(void **state)
{
	fx_t *fx = *state;

	{
		const field_t top[] = {FINT("v", 1), FSTR("id", "r"), FMAP("body", NULL, 0)};
		assert_int_equal(parse_top(fx, top, N(top)), -1);
		assert_string_equal(fx->err.code, "ValidationException");
		assert_non_null(fx->req.id);
		assert_int_equal(fx->req.op_len, 0);
		assert_non_null(fx->req.op); /* "" so a reply can be written */
	}
	{
		const field_t top[] = {FINT("v", 1), FSTR("id", "r"), FSTR("op", ""), FMAP("body", NULL, 0)};
		assert_int_equal(parse_top(fx, top, N(top)), -1);
		assert_int_equal(fx->req.op_len, 0);
	}
	{
		char *op128 = repeat("o", 128), *op129 = repeat("o", 129);
		const field_t ok[] = {FINT("v", 1), FSTR("id", "r"), FSTR("op", op128),
				      FMAP("body", NULL, 0)};
		const field_t bad[] = {FINT("v", 1), FSTR("id", "r"), FSTR("op", op129),
				       FMAP("body", NULL, 0)};
		const field_t num[] = {FINT("v", 1), FSTR("id", "r"), FINT("op", 1), FMAP("body", NULL, 0)};

		assert_int_equal(parse_top(fx, ok, N(ok)), 0);
		assert_int_equal(fx->req.op_len, 128);
		assert_int_equal(parse_top(fx, bad, N(bad)), -1);
		assert_int_equal(fx->req.op_len, 0);
		assert_non_null(fx->req.id);
		assert_int_equal(parse_top(fx, num, N(num)), -1);
		assert_int_equal(fx->req.op_len, 0);
		free(op128);
		free(op129);
	}
	{
		const field_t top[] = {FINT("v", 1), FSTR("id", "r"), FSTR("op", "A.B")};
		assert_int_equal(parse_top(fx, top, N(top)), -1);
		assert_string_equal(fx->err.code, "ValidationException");
		assert_non_null(strstr(fx->err.message, "body"));
		assert_non_null(fx->req.id);
	}
	{
		const field_t top[] = {FINT("v", 1), FSTR("id", "r"), FSTR("op", "A.B"), FARR("body")};
		assert_int_equal(parse_top(fx, top, N(top)), -1);
		assert_non_null(strstr(fx->err.message, "body"));
		assert_null(fx->req.body);
	}
	{
		const field_t top[] = {FINT("v", 1), FSTR("id", "r"), FSTR("op", "A.B"), FSTR("body", "{}")};
		assert_int_equal(parse_top(fx, top, N(top)), -1);
		assert_non_null(strstr(fx->err.message, "body"));
	}
	{
		const field_t top[] = {FINT("v", 1), FSTR("id", "r"), FSTR("op", "A.B"), FNIL("body")};
		assert_int_equal(parse_top(fx, top, N(top)), -1);
	}
}

static void test_proto_not_map(void **state)
{
	fx_t *fx = *state;
	msgpack_object o;

	memset(&o, 0, sizeof(o));
	o.type = MSGPACK_OBJECT_ARRAY;
	memset(&fx->req, 0x5a, sizeof(fx->req));
	assert_int_equal(andon_proto_parse(&o, &fx->req, &fx->err), -1);
	assert_null(fx->req.id);
	assert_string_equal(fx->err.code, "ValidationException");
	o.type = MSGPACK_OBJECT_NIL;
	assert_int_equal(andon_proto_parse(&o, &fx->req, &fx->err), -1);
	assert_null(fx->req.id);
}

static void test_proto_reply_to_account(void **state)
{
	fx_t *fx = *state;
	char *t249 = repeat("t", 249), *t250 = repeat("t", 250), *a64 = repeat("1", 64),
	     *a65 = repeat("1", 65);
	struct {
		field_t f;
		int ok;
	} cases[] = {
	    {FSTR("replyTo", "replies.v1_x-y"), 1},
	    {FSTR("replyTo", t249), 1},
	    {FSTR("replyTo", t250), 0},
	    {FSTR("replyTo", ""), 0},
	    {FSTR("replyTo", "two words"), 0},
	    {FINT("replyTo", 5), 0},
	    {FARR("replyTo"), 0},
	    {FSTR("account", "123"), 1},
	    {FSTR("account", a64), 1},
	    {FSTR("account", a65), 0},
	    {FSTR("account", ""), 0},
	    {FSTR("account", "1 2"), 0},
	    {FINT("account", 123456789012), 0},
	};

	for (size_t i = 0; i < N(cases); i++) {
		const field_t top[] = {FINT("v", 1), FSTR("op", "A.B"), FSTR("id", "rid"), cases[i].f,
				       FMAP("body", NULL, 0)};
		int rc = parse_top(fx, top, N(top));

		if (cases[i].ok) {
			if (rc != 0)
				fail_msg("case %zu (%s) rejected: %s", i, cases[i].f.key, fx->err.message);
			continue;
		}
		if (rc != -1)
			fail_msg("case %zu (%s) accepted", i, cases[i].f.key);
		assert_string_equal(fx->err.code, "ValidationException");
		assert_non_null(strstr(fx->err.message, cases[i].f.key));
		/* Still answerable; a bad replyTo is never used as the reply topic. */
		assert_span(fx->req.id, fx->req.id_len, "rid");
		if (strcmp(cases[i].f.key, "replyTo") == 0)
			assert_null(fx->req.reply_to);
	}
	free(t249);
	free(t250);
	free(a64);
	free(a65);
}

/* ---- replies and DLQ records ---- */

typedef struct decoded {
	msgpack_zone zone;
	msgpack_object root;
} decoded_t;

static void decode(const msgpack_sbuffer *sb, decoded_t *d)
{
	char reason[256];

	assert_true(msgpack_zone_init(&d->zone, 1024));
	if (andon_codec_unpack(sb->data, sb->size, 32, &d->zone, &d->root, reason, sizeof(reason)) != 0)
		fail_msg("reply does not decode: %s", reason);
	assert_int_equal(d->root.type, MSGPACK_OBJECT_MAP);
}

static void assert_str_field(const msgpack_object *m, const char *key, const char *want)
{
	const char *s;
	size_t len;

	if (andon_codec_get_str(m, key, &s, &len) != 1)
		fail_msg("field %s missing or not a string", key);
	assert_span(s, len, want);
}

static void assert_int_field(const msgpack_object *m, const char *key, int64_t want)
{
	int64_t v;

	if (andon_codec_get_int(m, key, &v) != 1)
		fail_msg("field %s missing or not an integer", key);
	assert_int_equal(v, want);
}

static void assert_bool_field(const msgpack_object *m, const char *key, int want)
{
	int v;

	if (andon_codec_get_bool(m, key, &v) != 1)
		fail_msg("field %s missing or not a boolean", key);
	assert_int_equal(v, want);
}

static void test_reply_raw(void **state)
{
	fx_t *fx = *state;
	const field_t body[] = {FSTR("executionArn", STD_ARN)};
	const field_t payload_fields[] = {FSTR("stopDate", "2024-01-01"), FINT("n", 3)};
	msgpack_sbuffer payload, out;
	msgpack_packer pk;
	decoded_t d;
	const msgpack_object *b;

	parse_req(fx, "StepFunctions.StopExecution", "req-5", body, N(body));
	msgpack_sbuffer_init(&payload);
	msgpack_sbuffer_init(&out);
	msgpack_packer_init(&pk, &payload, msgpack_sbuffer_write);
	pack_fields(&pk, payload_fields, N(payload_fields));

	msgpack_sbuffer_write(&out, "junk", 4); /* cleared first */
	andon_proto_reply_raw(&out, &fx->req, 1, payload.data, payload.size);
	decode(&out, &d);
	assert_int_equal(d.root.via.map.size, 5);
	assert_int_field(&d.root, "v", 1);
	assert_str_field(&d.root, "id", "req-5");
	assert_str_field(&d.root, "op", "StepFunctions.StopExecution");
	assert_bool_field(&d.root, "ok", 1);
	b = andon_codec_map_get(&d.root, "body");
	assert_non_null(b);
	assert_int_equal(b->type, MSGPACK_OBJECT_MAP);
	assert_str_field(b, "stopDate", "2024-01-01");
	assert_int_field(b, "n", 3);
	assert_null(andon_codec_map_get(&d.root, "error"));
	msgpack_zone_destroy(&d.zone);

	/* ok = false: the payload is the error object. */
	andon_proto_reply_raw(&out, &fx->req, 0, payload.data, payload.size);
	decode(&out, &d);
	assert_int_equal(d.root.via.map.size, 5);
	assert_bool_field(&d.root, "ok", 0);
	assert_null(andon_codec_map_get(&d.root, "body"));
	b = andon_codec_map_get(&d.root, "error");
	assert_non_null(b);
	assert_int_field(b, "n", 3);
	msgpack_zone_destroy(&d.zone);

	msgpack_sbuffer_destroy(&payload);
	msgpack_sbuffer_destroy(&out);
}

static void test_reply_err(void **state)
{
	fx_t *fx = *state;
	const field_t body[] = {FSTR("executionArn", "arn:bad")};
	msgpack_sbuffer out;
	decoded_t d;
	const msgpack_object *e;

	assert_int_equal(run(fx, "StepFunctions.StopExecution", "req-6", body, N(body)), -1);
	msgpack_sbuffer_init(&out);
	msgpack_sbuffer_write(&out, "\xc1", 1); /* cleared first */
	andon_proto_reply_err(&out, &fx->req, &fx->err);
	decode(&out, &d);
	assert_int_equal(d.root.via.map.size, 5);
	assert_int_field(&d.root, "v", 1);
	assert_str_field(&d.root, "id", "req-6");
	assert_str_field(&d.root, "op", "StepFunctions.StopExecution");
	assert_bool_field(&d.root, "ok", 0);
	e = andon_codec_map_get(&d.root, "error");
	assert_non_null(e);
	assert_int_equal(e->type, MSGPACK_OBJECT_MAP);
	assert_int_equal(e->via.map.size, 3);
	assert_str_field(e, "code", "InvalidArn");
	assert_str_field(e, "message", fx->err.message);
	assert_int_field(e, "status", 400);
	msgpack_zone_destroy(&d.zone);

	/* A reply for an envelope error that left op empty (missing op). */
	{
		const field_t top[] = {FINT("v", 1), FSTR("id", "req-7"), FMAP("body", NULL, 0)};
		assert_int_equal(parse_top(fx, top, N(top)), -1);
		andon_proto_reply_err(&out, &fx->req, &fx->err);
		decode(&out, &d);
		assert_str_field(&d.root, "id", "req-7");
		assert_str_field(&d.root, "op", "");
		e = andon_codec_map_get(&d.root, "error");
		assert_str_field(e, "code", "ValidationException");
		msgpack_zone_destroy(&d.zone);
	}
	msgpack_sbuffer_destroy(&out);
}

static void test_dlq(void **state)
{
	msgpack_sbuffer out;
	decoded_t d;
	const msgpack_object *o;
	const char original[] = "\x93\x01\xc1\x00"; /* not valid msgpack: carried as bytes */
	int64_t before = andon_wall_ms(), t;

	(void)state;
	msgpack_sbuffer_init(&out);
	msgpack_sbuffer_write(&out, "xx", 2);
	andon_proto_dlq(&out, "SerializationException", "undecodable msgpack: truncated", "andon.requests", 7,
			123456789012LL, 1700000000123LL, "k\0y", 3, original, sizeof(original) - 1);
	decode(&out, &d);
	assert_int_equal(d.root.via.map.size, 10);
	assert_int_field(&d.root, "v", 1);
	assert_int_field(&d.root, "ts", 1700000000123LL);
	assert_str_field(&d.root, "code", "SerializationException");
	assert_str_field(&d.root, "reason", "undecodable msgpack: truncated");
	assert_str_field(&d.root, "topic", "andon.requests");
	assert_int_field(&d.root, "partition", 7);
	assert_int_field(&d.root, "offset", 123456789012LL);
	o = andon_codec_map_get(&d.root, "key");
	assert_non_null(o);
	assert_int_equal(o->type, MSGPACK_OBJECT_BIN);
	assert_int_equal(o->via.bin.size, 3);
	assert_memory_equal(o->via.bin.ptr, "k\0y", 3);
	o = andon_codec_map_get(&d.root, "original");
	assert_non_null(o);
	assert_int_equal(o->type, MSGPACK_OBJECT_BIN);
	assert_int_equal(o->via.bin.size, sizeof(original) - 1);
	assert_memory_equal(o->via.bin.ptr, original, sizeof(original) - 1);
	assert_int_equal(andon_codec_get_int(&d.root, "time", &t), 1);
	assert_true(t >= before && t <= andon_wall_ms());
	msgpack_zone_destroy(&d.zone);

	/* No key: nil. Empty original: an empty bin. */
	andon_proto_dlq(&out, "ValidationException", "id missing", "t", 0, 0, -1, NULL, 0, "", 0);
	decode(&out, &d);
	assert_int_equal(d.root.via.map.size, 10);
	assert_int_field(&d.root, "ts", -1);
	o = andon_codec_map_get(&d.root, "key");
	assert_non_null(o);
	assert_int_equal(o->type, MSGPACK_OBJECT_NIL);
	o = andon_codec_map_get(&d.root, "original");
	assert_non_null(o);
	assert_int_equal(o->type, MSGPACK_OBJECT_BIN);
	assert_int_equal(o->via.bin.size, 0);
	msgpack_zone_destroy(&d.zone);
	msgpack_sbuffer_destroy(&out);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ops_find),
	    cmocka_unit_test(test_utf8_len),
	    T(test_invalid_arn),
	    T(test_arn_validation_exception),
	    T(test_other_account),
	    T(test_express_same_keys),
	    T(test_stop_shape),
	    T(test_other_shapes),
	    T(test_error_cause_limits),
	    T(test_start_shape_and_name),
	    T(test_start_derived_name),
	    T(test_start_invalid),
	    T(test_finish_status),
	    T(test_history_max_results),
	    T(test_arena_overflow),
	    T(test_proto_ok),
	    T(test_proto_id),
	    T(test_proto_version),
	    T(test_proto_op_body),
	    T(test_proto_not_map),
	    T(test_proto_reply_to_account),
	    T(test_reply_raw),
	    T(test_reply_err),
	    T(test_dlq),
	    T(test_derived_name_is_fnv1a),
	    T(test_long_multibyte_arn), /* last: an over-read aborts the binary under ASan */
	};
#undef T

	return cmocka_run_group_tests_name("0006-sfn_validate", tests, NULL, NULL);
}
