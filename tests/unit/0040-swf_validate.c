/* 0040-swf_validate: unit tests for the SWF adapter: field limits, naming rules, which faults are bad input
 * and which are answers, and the keys and fields of the engine calls. */
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
#include "ops.h"
#include "proto.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define ACCOUNT "123456789012"
#define REGION	"us-east-1"

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
#define LOOKUP_VALUE "123456789012\ndecisions\n"

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
	andon_config_t *cfg;
} fx_t;

static int setup(void **state)
{
	fx_t *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	msgpack_sbuffer_init(&fx->sb);
	if (!msgpack_zone_init(&fx->zone, 4096) || andon_arena_init(&fx->arena, 256 * 1024) != 0 ||
	    (fx->cfg = andon_config_new()) == NULL)
		return -1;
	fx->ctx.cfg = fx->cfg;
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
	andon_config_destroy(fx->cfg);
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
	 * reads its domain and type first (swf_start_get)). */
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

/* bad_input 1: ValidationException (reply + DLQ); 0: an answer such as UnknownResourceFault (reply only). */
static void expect_err(fx_t *fx, const char *op, const field_t *body, size_t n, const char *code,
		       int bad_input)
{
	if (run(fx, op, "req-1", body, n) != -1)
		fail_msg("%s accepted, expected %s", op, code);
	assert_non_null(fx->err.code);
	if (strcmp(fx->err.code, code) != 0)
		fail_msg("%s: got %s (%s), expected %s", op, fx->err.code, fx->err.message, code);
	assert_int_equal(fx->err.status, 400);
	assert_int_equal(fx->err.bad_input, bad_input);
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

/* The value of field name among the pairs after the request id and op, or NULL. */
static const char *field_value(const andon_call_t *c, const char *name, size_t *len)
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
	const char *v = field_value(c, name, &len);

	if (v == NULL)
		fail_msg("no field %s", name);
	if (len != strlen(value) || memcmp(v, value, len) != 0)
		fail_msg("field %s is \"%.*s\", expected \"%s\"", name, (int)len, v, value);
}

static void assert_no_field(const andon_call_t *c, const char *name)
{
	size_t len;

	if (field_value(c, name, &len) != NULL)
		fail_msg("unexpected field %s", name);
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

#define WTAG(d, w) "andon:{swfw:" d ":" w ":" ACCOUNT "}:"
#define DTAG(d)	   "andon:{swfd:" d ":" ACCOUNT "}:"
#define OP_TERM	   "SWF.TerminateWorkflowExecution"
#define OP_CANCEL  "SWF.RequestCancelWorkflowExecution"

static void terminate_call_is_one_slot(void **state)
{
	fx_t *fx = *state;
	const field_t body[] = {FSTR("domain", "d"), FSTR("workflowId", "w"), FSTR("runId", "r1"),
				FSTR("reason", "why"), FSTR("childPolicy", "REQUEST_CANCEL")};
	const field_t no_run[] = {FSTR("domain", "d"), FSTR("workflowId", "w"), FSTR("runId", "")};

	expect_ok(fx, OP_TERM, body, N(body));
	assert_arg(&fx->call, 0, "FCALL");
	assert_arg(&fx->call, 1, "swf_terminate");
	assert_arg(&fx->call, 2, "2");
	assert_arg(&fx->call, 3, WTAG("d", "w") "w");
	assert_arg(&fx->call, 4, WTAG("d", "w") "r");
	assert_arg(&fx->call, 5, "req-1");
	assert_arg(&fx->call, 6, OP_TERM);
	assert_field(&fx->call, "runId", "r1");
	assert_field(&fx->call, "reason", "why");
	assert_field(&fx->call, "childPolicy", "REQUEST_CANCEL");
	assert_no_field(&fx->call, "details");
	/* An empty runId means the current run. */
	expect_ok(fx, OP_CANCEL, no_run, N(no_run));
	assert_arg(&fx->call, 1, "swf_request_cancel");
	assert_no_field(&fx->call, "runId");
}

static void start_reads_the_domain_slot(void **state)
{
	fx_t *fx = *state;
	const field_t wt[] = {FSTR("name", "flow"), FSTR("version", "1")};
	const field_t tl[] = {FSTR("name", "q")};
	const field_t body[] = {FSTR("domain", "d"),
				FSTR("workflowId", "w"),
				FMAP("workflowType", wt, 2),
				FMAP("taskList", tl, 1),
				FSTR("childPolicy", "ABANDON"),
				FSTR("executionStartToCloseTimeout", "31536000")};

	expect_ok(fx, "SWF.StartWorkflowExecution", body, N(body));
	/* Two steps, one slot each: the domain's lookup, then the start on the workflow's keys. */
	assert_arg(&fx->lookup, 1, "swf_start_get");
	assert_arg(&fx->lookup, 2, "2");
	assert_arg(&fx->lookup, 3, DTAG("d") "d");
	assert_arg(&fx->lookup, 4, DTAG("d") "t");
	assert_arg(&fx->call, 1, "swf_start");
	assert_arg(&fx->call, 2, "2");
	assert_arg(&fx->call, 3, WTAG("d", "w") "w");
	assert_arg(&fx->call, 4, WTAG("d", "w") "r");
	assert_field(&fx->call, "dom", LOOKUP_VALUE);
	assert_field(&fx->call, "arn", "arn:aws:swf:" REGION ":" ACCOUNT ":/domain/d/workflowId/w/runId/");
	assert_field(&fx->call, "typeName", "flow");
	assert_field(&fx->call, "taskList", "q");
	assert_field(&fx->call, "timeout", "31536000");
	assert_no_field(&fx->call, "runId");
}

static void limits(void **state)
{
	fx_t *fx = *state;
	char *s256 = repeat("\xc3\xa9", 256), *s257 = repeat("d", 257), *r64 = repeat("r", 64),
	     *r65 = repeat("r", 65), *d32768 = repeat("d", 32768), *d32769 = repeat("d", 32769);
	const field_t ok[] = {FSTR("domain", s256), FSTR("workflowId", s256), FSTR("runId", r64),
			      FSTR("reason", s256), FSTR("details", d32768)};
	const field_t long_dom[] = {FSTR("domain", s257), FSTR("workflowId", "w")};
	const field_t long_wid[] = {FSTR("domain", "d"), FSTR("workflowId", s257)};
	const field_t long_run[] = {FSTR("domain", "d"), FSTR("workflowId", "w"), FSTR("runId", r65)};
	const field_t long_reason[] = {FSTR("domain", "d"), FSTR("workflowId", "w"), FSTR("reason", s257)};
	const field_t long_details[] = {FSTR("domain", "d"), FSTR("workflowId", "w"),
					FSTR("details", d32769)};
	const field_t empty_dom[] = {FSTR("domain", ""), FSTR("workflowId", "w")};
	const field_t no_wid[] = {FSTR("domain", "d")};
	const field_t int_wid[] = {FSTR("domain", "d"), FINT("workflowId", 3)};
	const field_t bad_policy[] = {FSTR("domain", "d"), FSTR("workflowId", "w"),
				      FSTR("childPolicy", "KILL")};

	/* 256 two-byte characters are within the limit: lengths count characters. */
	expect_ok(fx, OP_TERM, ok, N(ok));
	expect_err(fx, OP_TERM, long_dom, N(long_dom), "ValidationException", 1);
	expect_err(fx, OP_CANCEL, long_dom, N(long_dom), "ValidationException", 1);
	expect_err(fx, OP_TERM, long_wid, N(long_wid), "ValidationException", 1);
	expect_err(fx, OP_CANCEL, long_run, N(long_run), "ValidationException", 1);
	expect_err(fx, OP_TERM, long_reason, N(long_reason), "ValidationException", 1);
	expect_err(fx, OP_TERM, long_details, N(long_details), "ValidationException", 1);
	expect_err(fx, OP_CANCEL, empty_dom, N(empty_dom), "ValidationException", 1);
	expect_err(fx, OP_CANCEL, no_wid, N(no_wid), "ValidationException", 1);
	expect_err(fx, OP_CANCEL, int_wid, N(int_wid), "ValidationException", 1);
	expect_err(fx, OP_TERM, bad_policy, N(bad_policy), "ValidationException", 1);
	free(s256);
	free(s257);
	free(r64);
	free(r65);
	free(d32768);
	free(d32769);
}

static void names_that_cannot_exist_are_unknown(void **state)
{
	fx_t *fx = *state;
	static const char *const bad[] = {"a:b", "a/b",	  "a|b",   " a",       "a ",
					  "arn", "a\x01", "a\x7f", "a\xc2\x85"};
	char *s257 = repeat("r", 257);

	for (size_t i = 0; i < N(bad); i++) {
		const field_t dom[] = {FSTR("domain", bad[i]), FSTR("workflowId", "w")};
		const field_t wid[] = {FSTR("domain", "d"), FSTR("workflowId", bad[i])};
		const field_t reg[] = {FSTR("name", bad[i]), FSTR("decisionTopic", "t")};
		const field_t both[] = {FSTR("domain", bad[i]), FSTR("workflowId", "w"),
					FSTR("reason", s257)};

		/* Well-formed, about nothing that can exist: an answer, not bad input. */
		expect_err(fx, OP_TERM, dom, N(dom), "UnknownResourceFault", 0);
		expect_err(fx, OP_CANCEL, wid, N(wid), "UnknownResourceFault", 0);
		/* Creating it: bad input. */
		expect_err(fx, "SWF.RegisterDomain", reg, N(reg), "ValidationException", 1);
		/* A field out of its limits is reported first. */
		expect_err(fx, OP_TERM, both, N(both), "ValidationException", 1);
	}
	free(s257);
}

/* workflowExecutionRetentionPeriodInDays: "0".."90" or "NONE", passed on in seconds (NONE and 0: one). */
static void domain_retention(void **state)
{
	fx_t *fx = *state;
	static const struct {
		const char *days, *secs;
	} good[] = {{"0", "1"}, {"NONE", "1"}, {"1", "86400"}, {"90", "7776000"}, {"007", "604800"}};
	static const char *const bad[] = {"91", "-1", "+1", " 1", "1.5", "none", "", "100000000", "1d"};
	const field_t none[] = {FSTR("name", "d")};

	for (size_t i = 0; i < N(good); i++) {
		const field_t f[] = {FSTR("name", "d"),
				     FSTR("workflowExecutionRetentionPeriodInDays", good[i].days)};

		expect_ok(fx, "SWF.RegisterDomain", f, N(f));
		assert_field(&fx->call, "retention", good[i].secs);
	}
	for (size_t i = 0; i < N(bad); i++) {
		const field_t f[] = {FSTR("name", "d"),
				     FSTR("workflowExecutionRetentionPeriodInDays", bad[i])};

		expect_err(fx, "SWF.RegisterDomain", f, N(f), "ValidationException", 1);
	}
	/* Absent: no field; the runs take retention.swf. */
	expect_ok(fx, "SWF.RegisterDomain", none, N(none));
	assert_no_field(&fx->call, "retention");
}

static void domains_and_decision_topics(void **state)
{
	fx_t *fx = *state;
	const field_t plain[] = {FSTR("name", "orders-2.eu_west")};
	const field_t accent[] = {FSTR("name", "caf\xc3\xa9")};
	const field_t accent_topic[] = {FSTR("name", "caf\xc3\xa9"), FSTR("decisionTopic", "cafe.decisions")};
	const field_t bad_topic[] = {FSTR("name", "x"), FSTR("decisionTopic", "..")};
	char *long_name = repeat("n", 217), *ok_name = repeat("n", 216);
	char *legacy_long = repeat("n", 230), *legacy_ok = repeat("n", 229);
	const field_t too_long_for_topic[] = {FSTR("name", long_name)};
	const field_t fits[] = {FSTR("name", ok_name)};
	const field_t legacy_too_long[] = {FSTR("name", legacy_long)};
	const field_t legacy_fits[] = {FSTR("name", legacy_ok)};

	/* The default topic names the account: andon.swf.<account>.<domain>.decisions. */
	expect_ok(fx, "SWF.RegisterDomain", plain, N(plain));
	assert_arg(&fx->call, 3, DTAG("orders-2.eu_west") "d");
	assert_field(&fx->call, "decisionTopic", "andon.swf." ACCOUNT ".orders-2.eu_west.decisions");
	fx->ctx.account = "acme-eu";
	expect_ok(fx, "SWF.RegisterDomain", plain, N(plain));
	assert_field(&fx->call, "decisionTopic", "andon.swf.acme-eu.orders-2.eu_west.decisions");
	/* An account that has no place in a topic name: the domain needs a topic of its own. */
	fx->ctx.account = "acme:eu";
	expect_err(fx, "SWF.RegisterDomain", plain, N(plain), "ValidationException", 1);
	expect_ok(fx, "SWF.RegisterDomain", accent_topic, N(accent_topic));
	fx->ctx.account = ACCOUNT;
	expect_err(fx, "SWF.RegisterDomain", accent, N(accent), "ValidationException", 1);
	expect_ok(fx, "SWF.RegisterDomain", accent_topic, N(accent_topic));
	assert_field(&fx->call, "decisionTopic", "cafe.decisions");
	expect_err(fx, "SWF.RegisterDomain", bad_topic, N(bad_topic), "ValidationException", 1);
	/* At most 249 characters: with a 12-character account, a domain of 216. */
	expect_err(fx, "SWF.RegisterDomain", too_long_for_topic, N(too_long_for_topic), "ValidationException",
		   1);
	expect_ok(fx, "SWF.RegisterDomain", fits, N(fits));

	/* worker.legacy_topic_names = 1: the old andon.swf.<domain>.decisions (a domain of 229 fits). */
	fx->cfg->legacy_topic_names = 1;
	expect_ok(fx, "SWF.RegisterDomain", plain, N(plain));
	assert_field(&fx->call, "decisionTopic", "andon.swf.orders-2.eu_west.decisions");
	fx->ctx.account = "acme:eu";
	expect_ok(fx, "SWF.RegisterDomain", plain, N(plain));
	assert_field(&fx->call, "decisionTopic", "andon.swf.orders-2.eu_west.decisions");
	fx->ctx.account = ACCOUNT;
	expect_ok(fx, "SWF.RegisterDomain", legacy_fits, N(legacy_fits));
	expect_err(fx, "SWF.RegisterDomain", legacy_too_long, N(legacy_too_long), "ValidationException", 1);
	fx->cfg->legacy_topic_names = 0;
	free(long_name);
	free(ok_name);
	free(legacy_long);
	free(legacy_ok);
}

static void internal_ops(void **state)
{
	fx_t *fx = *state;
	const field_t parent[] = {FSTR("workflowId", "p"), FSTR("runId", "pr")};
	const field_t apply[] = {FSTR("domain", "d"),
				 FSTR("workflowId", "w"),
				 FSTR("runId", "r1"),
				 FSTR("childPolicy", "TERMINATE"),
				 FMAP("parentWorkflowExecution", parent, 2),
				 FINT("parentEventId", 7)};
	const field_t abandon[] = {FSTR("domain", "d"),
				   FSTR("workflowId", "w"),
				   FSTR("runId", "r1"),
				   FSTR("childPolicy", "ABANDON"),
				   FMAP("parentWorkflowExecution", parent, 2),
				   FINT("parentEventId", 7)};
	const field_t wt[] = {FSTR("name", "flow"), FSTR("version", "1")};
	const field_t child_run[] = {FSTR("domain", "d"),
				     FSTR("workflowId", "c"),
				     FSTR("runId", "0123abcd"),
				     FMAP("workflowType", wt, 2),
				     FMAP("parentWorkflowExecution", parent, 2),
				     FINT("parentInitiatedEventId", 2)};
	const field_t child_run_space[] = {FSTR("domain", "d"),
					   FSTR("workflowId", "c"),
					   FSTR("runId", "a b"),
					   FMAP("workflowType", wt, 2),
					   FMAP("parentWorkflowExecution", parent, 2),
					   FINT("parentInitiatedEventId", 2)};
	const field_t child[] = {FSTR("workflowId", "c"), FSTR("childPolicy", "TERMINATE")};
	const field_t start_child[] = {FSTR("domain", "d"), FSTR("workflowId", "p"), FMAP("child", child, 2)};
	const field_t bad_child[] = {FSTR("workflowId", "c:1")};
	const field_t start_bad_child[] = {FSTR("domain", "d"), FSTR("workflowId", "p"),
					   FMAP("child", bad_child, 1)};

	expect_ok(fx, "SWF.ApplyChildPolicy", apply, N(apply));
	assert_arg(&fx->call, 1, "swf_apply");
	assert_field(&fx->call, "parentEventId", "7");
	assert_field(&fx->call, "parentRunId", "pr");
	expect_err(fx, "SWF.ApplyChildPolicy", abandon, N(abandon), "ValidationException", 1);
	expect_ok(fx, "SWF.StartChildRun", child_run, N(child_run));
	assert_arg(&fx->call, 1, "swf_start");
	assert_field(&fx->call, "runId", "0123abcd");
	assert_field(&fx->call, "parentInitiatedEventId", "2");
	expect_err(fx, "SWF.StartChildRun", child_run_space, N(child_run_space), "ValidationException", 1);
	expect_ok(fx, "SWF.StartChildWorkflowExecution", start_child, N(start_child));
	assert_arg(&fx->call, 1, "swf_start_child");
	assert_arg(&fx->call, 3, WTAG("d", "p") "w");
	assert_field(&fx->call, "childWorkflowId", "c");
	assert_no_field(&fx->call, "childTypeName");
	expect_err(fx, "SWF.StartChildWorkflowExecution", start_bad_child, N(start_bad_child),
		   "ValidationException", 1);
}

static void timeouts_and_reads(void **state)
{
	fx_t *fx = *state;
	static const char *const bad[] = {"0", "-1", "1.5", "31536001", "NONE", "123456789"};
	const field_t wt[] = {FSTR("name", "flow"), FSTR("version", "1")};
	const field_t ex[] = {FSTR("workflowId", "w"), FSTR("runId", "r")};
	const field_t ex_no_run[] = {FSTR("workflowId", "w")};
	const field_t hist[] = {FSTR("domain", "d"), FMAP("execution", ex, 2), FINT("maximumPageSize", 5),
				FBOOL("reverseOrder", 1)};
	const field_t hist_big[] = {FSTR("domain", "d"), FMAP("execution", ex, 2),
				    FINT("maximumPageSize", 1001)};
	const field_t desc_no_run[] = {FSTR("domain", "d"), FMAP("execution", ex_no_run, 1)};

	for (size_t i = 0; i < N(bad); i++) {
		const field_t body[] = {FSTR("domain", "d"), FSTR("workflowId", "w"),
					FMAP("workflowType", wt, 2),
					FSTR("executionStartToCloseTimeout", bad[i])};
		expect_err(fx, "SWF.StartWorkflowExecution", body, N(body), "ValidationException", 1);
	}
	expect_ok(fx, "SWF.GetWorkflowExecutionHistory", hist, N(hist));
	assert_arg(&fx->call, 2, "1"); /* a read: the w key only */
	assert_field(&fx->call, "maxPageSize", "5");
	assert_field(&fx->call, "reverseOrder", "1");
	expect_err(fx, "SWF.GetWorkflowExecutionHistory", hist_big, N(hist_big), "ValidationException", 1);
	expect_err(fx, "SWF.DescribeWorkflowExecution", desc_no_run, N(desc_no_run), "ValidationException",
		   1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(terminate_call_is_one_slot, setup, teardown),
	    cmocka_unit_test_setup_teardown(start_reads_the_domain_slot, setup, teardown),
	    cmocka_unit_test_setup_teardown(limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(names_that_cannot_exist_are_unknown, setup, teardown),
	    cmocka_unit_test_setup_teardown(domains_and_decision_topics, setup, teardown),
	    cmocka_unit_test_setup_teardown(domain_retention, setup, teardown),
	    cmocka_unit_test_setup_teardown(internal_ops, setup, teardown),
	    cmocka_unit_test_setup_teardown(timeouts_and_reads, setup, teardown),
	};
	return cmocka_run_group_tests_name("0040-swf_validate", tests, NULL, NULL);
}
