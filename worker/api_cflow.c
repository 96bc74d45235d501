/* api_cflow: the Alibaba Cloud CloudFlow adapter (names, limits, error codes); the engine side is
 * lua/30-cflow.lua. */
#include "codec.h"
#include "ops.h"
#include "utf8.h"
#include "when.h"

#include <stdio.h>
#include <string.h>

#define CF_NAME_MAX	   128		      /* flow and execution names */
#define CF_ACCOUNT_MAX	   64		      /* FlowOwner, as the envelope's account */
#define CF_ERROR_MAX	   128		      /* StopExecution/FinishExecution Error */
#define CF_CAUSE_MAX	   4096		      /* StopExecution/FinishExecution Cause */
#define CF_DEFINITION_MAX  131072	      /* CreateFlow Definition, characters */
#define CF_DESCRIPTION_MAX 256		      /* CreateFlow Description, characters */
#define CF_PAYLOAD_MAX	   32768	      /* Input and Output, characters */
#define CF_VERSION_MAX	   9007199254740992LL /* 2^53: versions the engine's Lua numbers hold exactly */
#define CF_LIMIT_MAX	   1000		      /* GetExecutionHistory Limit: CloudFlow's 1-1000 */
#define CF_LIMIT_DEFAULT   60		      /* ... when absent, as CloudFlow documents */
#define CF_TOKEN_MAX	   128		      /* GetExecutionHistory NextToken, characters */

/* Where a request points: the flow's owner and name, the execution's name, and the hash tag of all three. */
typedef struct cf_target {
	const char *owner, *flow, *exec;
	size_t owner_len, flow_len, exec_len;
	char tag[3 + CF_ACCOUNT_MAX + 1 + CF_NAME_MAX + 1]; /* "cf:" OWNER ":" FLOW */
	size_t tag_len;
	char gen[CF_NAME_MAX + 1]; /* an execution name derived from the request id */
} cf_target_t;

/* CloudFlow names: 1-128 of letters, digits, '_' and '-', starting with a letter or '_'. */
static int cf_name_ok(const char *s, size_t len)
{
	if (len < 1 || len > CF_NAME_MAX)
		return 0;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
		return 0;
	for (size_t i = 1; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/*
 * Accounts become part of a Redis hash tag: besides the envelope's rules (1-64 bytes of printable ASCII),
 * they must not hold a brace, which would end or move the tag.
 */
static int cf_account_ok(const char *s, size_t len)
{
	if (len < 1 || len > CF_ACCOUNT_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x21 || s[i] > 0x7e || s[i] == '{' || s[i] == '}')
			return 0;
	return 1;
}

/* An optional string field with CloudFlow's InvalidArgument: 1 found, 0 absent, -1 with err set. */
static int cf_str(const msgpack_object *body, const char *field, size_t min, size_t max, const char **s,
		  size_t *len, andon_apierr_t *err)
{
	size_t chars;
	int rc = andon_codec_get_str(body, field, s, len);

	if (rc < 0)
		return andon_apierr(err, "InvalidArgument", 400, "%s must be a string", field);
	if (rc == 0)
		return 0;
	if (andon_utf8_count(*s, *len, &chars, NULL) != 0)
		return andon_apierr(err, "InvalidArgument", 400, "%s must be valid UTF-8 text", field);
	if (chars < min || chars > max)
		return andon_apierr(err, "InvalidArgument", 400,
				    "%s must be %zu to %zu characters long, not %zu", field, min, max, chars);
	return 1;
}

/* A required name field: MissingRequiredParams when absent, InvalidArgument when not a valid name. */
static int cf_name(const msgpack_object *body, const char *field, const char **s, size_t *len,
		   andon_apierr_t *err)
{
	int rc = andon_codec_get_str(body, field, s, len);

	if (rc == 0)
		return andon_apierr(err, "MissingRequiredParams", 400, "%s is mandatory for this action",
				    field);
	if (rc < 0)
		return andon_apierr(err, "InvalidArgument", 400, "%s must be a string", field);
	if (!cf_name_ok(*s, *len))
		return andon_apierr(
		    err, "InvalidArgument", 400,
		    "%s '%.*s' is invalid: 1 to 128 letters, digits, '_' or '-', starting with "
		    "a letter or '_'",
		    field, (int)(*len > CF_NAME_MAX ? CF_NAME_MAX : *len), *s);
	return 0;
}

/* Writes t's hash tag "cf:OWNER:FLOW"; one that does not fit is an error, never a cut tag. */
static int cf_tag(cf_target_t *t, andon_apierr_t *err)
{
	int n = snprintf(t->tag, sizeof(t->tag), "cf:%.*s:%.*s", (int)t->owner_len, t->owner,
			 (int)t->flow_len, t->flow);

	if (n < 0 || (size_t)n >= sizeof(t->tag))
		return andon_apierr(err, "InvalidArgument", 400, "FlowOwner and FlowName are too long");
	t->tag_len = (size_t)n;
	return 0;
}

/*
 * Resolves FlowOwner (default: the caller's account), FlowName and, when exec_field is not NULL, the
 * execution name. Start passes derive = 1: without ExecutionName, the name comes from the request id, so
 * that a replayed start names the same execution.
 */
static int cf_resolve(const andon_ctx_t *ctx, const andon_req_t *req, const char *exec_field, int derive,
		      cf_target_t *t, andon_apierr_t *err)
{
	const msgpack_object *body = req->body;
	int rc;

	memset(t, 0, sizeof(*t));
	if (!cf_account_ok(ctx->account, strlen(ctx->account)))
		return andon_apierr(err, "InvalidArgument", 400, "account must not contain '{' or '}'");
	if (cf_name(body, "FlowName", &t->flow, &t->flow_len, err) != 0)
		return -1;
	rc = andon_codec_get_str(body, "FlowOwner", &t->owner, &t->owner_len);
	if (rc < 0 || (rc == 1 && !cf_account_ok(t->owner, t->owner_len)))
		return andon_apierr(
		    err, "InvalidArgument", 400,
		    "FlowOwner must be an account: 1 to 64 printable ASCII characters, no braces");
	if (rc == 0) {
		t->owner = ctx->account;
		t->owner_len = strlen(ctx->account);
	}
	if (exec_field != NULL) {
		rc = andon_codec_get_str(body, exec_field, &t->exec, &t->exec_len);
		if (rc == 0 && derive) {
			if (cf_name_ok(req->id, req->id_len)) {
				t->exec = req->id;
				t->exec_len = req->id_len;
			} else {
				uint64_t h = 14695981039346656037ULL; /* FNV-1a 64 */
				for (size_t i = 0; i < req->id_len; i++)
					h = (h ^ (unsigned char)req->id[i]) * 1099511628211ULL;
				t->exec_len = (size_t)snprintf(t->gen, sizeof(t->gen), "exec-%016llx",
							       (unsigned long long)h);
				t->exec = t->gen;
			}
		} else if (cf_name(body, exec_field, &t->exec, &t->exec_len, err) != 0) {
			return -1;
		}
	}
	return cf_tag(t, err);
}

/* Adds the key andon:{TAG}:<kind>[:<name>]. */
static void cf_key(const andon_ctx_t *ctx, andon_call_t *call, const cf_target_t *t, const char *kind,
		   const char *name, size_t name_len)
{
	char suffix[8 + CF_NAME_MAX + 1];
	int n = snprintf(suffix, sizeof(suffix), "%s:%.*s", kind, (int)name_len, name != NULL ? name : "");

	if (n < 0 || (size_t)n >= sizeof(suffix)) {
		call->overflow = 1; /* answered InternalFailure; never a key cut short */
		return;
	}
	if (name == NULL)
		suffix[strlen(kind)] = '\0';
	andon_call_key(call, ctx->arena, t->tag, t->tag_len, suffix);
}

/* The execution keys a call takes after the flow: reads x (and h for history), changes x, h and r. */
enum cf_keys { CF_KEYS_X = 1, CF_KEYS_XH = 2, CF_KEYS_XHR = 3 };

/* KEYS flow and the execution's keys (then the caller's bucket); request id, op and the target's fields. */
static void cf_exec_call(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
			 const cf_target_t *t, const char *fn, enum cf_keys keys, int with_bucket)
{
	static const char *const kinds[] = {"x", "h", "r"};

	andon_call_begin(call, fn);
	cf_key(ctx, call, t, "flow", NULL, 0);
	for (int i = 0; i < (int)keys; i++)
		cf_key(ctx, call, t, kinds[i], t->exec, t->exec_len);
	if (with_bucket)
		cf_key(ctx, call, t, "tb", ctx->account, strlen(ctx->account));
	andon_call_arg(call, req->id, req->id_len);
	andon_call_arg(call, req->op, req->op_len);
	andon_call_field(call, "account", ctx->account, strlen(ctx->account));
	andon_call_field(call, "owner", t->owner, t->owner_len);
	andon_call_field(call, "flow", t->flow, t->flow_len);
	andon_call_field(call, "name", andon_arena_strndup(ctx->arena, t->exec, t->exec_len), t->exec_len);
}

/* Adds an integer field, its text in the arena. */
static void cf_int_field(const andon_ctx_t *ctx, andon_call_t *call, const char *name, long long v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%lld", v);

	andon_call_field(call, name, andon_arena_strndup(ctx->arena, num, (size_t)n), (size_t)n);
}

/* Adds an integer argument, its text in the arena. */
static void cf_int_arg(const andon_ctx_t *ctx, andon_call_t *call, long long v)
{
	size_t n = 0;
	const char *s = andon_arena_printf(ctx->arena, &n, "%lld", v);

	andon_call_arg(call, s, n);
}

/* An optional string field with its limits, passed under the engine's name. */
static int cf_opt(const msgpack_object *body, andon_call_t *call, const char *field, const char *as,
		  size_t min, size_t max, andon_apierr_t *err)
{
	const char *s;
	size_t len;
	int rc = cf_str(body, field, min, max, &s, &len, err);

	if (rc > 0)
		andon_call_field(call, as, s, len);
	return rc < 0 ? -1 : 0;
}

/* Input and Output: JSON objects of at most CF_PAYLOAD_MAX characters. */
static int cf_json(const msgpack_object *body, andon_call_t *call, const char *field, const char *as,
		   andon_apierr_t *err)
{
	const char *s;
	size_t len;
	char why[256];
	int rc = cf_str(body, field, 0, CF_PAYLOAD_MAX, &s, &len, err);

	if (rc <= 0)
		return rc;
	if (andon_ops_json(s, len, 1, why, sizeof(why)) != 0)
		return andon_apierr(err, "InvalidArgument", 400, "%s must be a JSON object: %s", field, why);
	andon_call_field(call, as, s, len);
	return 0;
}

/* ExpectedVersion (Andon extension): the execution's Version the change was decided on. */
static int cf_expected_version(const andon_ctx_t *ctx, const msgpack_object *body, andon_call_t *call,
			       andon_apierr_t *err)
{
	int64_t v;
	int rc = andon_codec_get_int(body, "ExpectedVersion", &v);

	if (rc < 0 || (rc == 1 && (v < 1 || v > CF_VERSION_MAX)))
		return andon_apierr(err, "InvalidArgument", 400,
				    "ExpectedVersion must be an integer from 1 to 2^53");
	if (rc == 1)
		cf_int_field(ctx, call, "expectedVersion", (long long)v);
	return 0;
}

static int cf_create_flow(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
			  andon_apierr_t *err)
{
	const char *def;
	size_t def_len;
	cf_target_t t;
	int rc;

	memset(&t, 0, sizeof(t));
	if (!cf_account_ok(ctx->account, strlen(ctx->account)))
		return andon_apierr(err, "InvalidArgument", 400, "account must not contain '{' or '}'");
	if (cf_name(req->body, "Name", &t.flow, &t.flow_len, err) != 0)
		return -1;
	rc = cf_str(req->body, "Definition", 1, CF_DEFINITION_MAX, &def, &def_len, err);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return andon_apierr(err, "MissingRequiredParams", 400,
				    "Definition is mandatory for this action");
	t.owner = ctx->account;
	t.owner_len = strlen(ctx->account);
	if (cf_tag(&t, err) != 0)
		return -1;
	andon_call_begin(call, "cf_create");
	cf_key(ctx, call, &t, "flow", NULL, 0);
	cf_key(ctx, call, &t, "fr", NULL, 0);
	andon_call_arg(call, req->id, req->id_len);
	andon_call_arg(call, req->op, req->op_len);
	andon_call_field(call, "account", ctx->account, strlen(ctx->account));
	andon_call_field(call, "flow", t.flow, t.flow_len);
	andon_call_field(call, "definition", def, def_len);
	return cf_opt(req->body, call, "Description", "description", 0, CF_DESCRIPTION_MAX, err);
}

static int cf_start_execution(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
			      andon_apierr_t *err)
{
	const char *arn;
	cf_target_t t;
	size_t n = 0;

	if (cf_resolve(ctx, req, "ExecutionName", 1, &t, err) != 0)
		return -1;
	cf_exec_call(ctx, req, call, &t, "cf_start", CF_KEYS_XHR, 0);
	/* The execution's public identity: events carry it as their resource. */
	arn = andon_arena_printf(ctx->arena, &n, "acs:fnf:%s:%.*s:flow/%.*s/execution/%.*s", ctx->region,
				 (int)t.owner_len, t.owner, (int)t.flow_len, t.flow, (int)t.exec_len, t.exec);
	andon_call_field(call, "arn", arn, n); /* NULL (arena full) marks the call overflowed */
	return cf_json(req->body, call, "Input", "input", err) < 0 ? -1 : 0;
}

static int cf_report_running(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
			     andon_apierr_t *err)
{
	cf_target_t t;

	if (cf_resolve(ctx, req, "ExecutionName", 0, &t, err) != 0)
		return -1;
	cf_exec_call(ctx, req, call, &t, "cf_running", CF_KEYS_XHR, 0);
	return cf_expected_version(ctx, req->body, call, err);
}

static int cf_stop_execution(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
			     andon_apierr_t *err)
{
	int rate = ctx->cfg->cloudflow_rate, burst = ctx->cfg->cloudflow_burst;
	int arate = ctx->cfg->cloudflow_account_rate, aburst = ctx->cfg->cloudflow_account_burst;
	cf_target_t t;

	if (cf_resolve(ctx, req, "ExecutionName", 0, &t, err) != 0)
		return -1;
	cf_exec_call(ctx, req, call, &t, "cf_stop", CF_KEYS_XHR, 1);
	cf_int_field(ctx, call, "rate", rate);
	cf_int_field(ctx, call, "burst", burst > 0 ? burst : rate);
	if (arate > 0 && ctx->gate != NULL) {
		/* The account-wide bucket lives in the account's own slot: the worker takes its token in the
		 * first round and hands the answer to cf_stop as '@gate'. */
		size_t tl = 0;
		const char *tag = andon_arena_printf(ctx->arena, &tl, "cfa:%s", ctx->account);

		andon_call_begin(ctx->gate, "cf_take_account");
		if (tag == NULL)
			return andon_apierr(err, "InternalFailure", 500,
					    "request too large for the batch arena");
		andon_call_key(ctx->gate, ctx->arena, tag, tl, "tb");
		cf_int_arg(ctx, ctx->gate, arate);
		cf_int_arg(ctx, ctx->gate, aburst > 0 ? aburst : arate);
		cf_int_field(ctx, call, "accountRate", arate);
	}
	if (cf_opt(req->body, call, "Error", "error", 1, CF_ERROR_MAX, err) != 0 ||
	    cf_opt(req->body, call, "Cause", "cause", 1, CF_CAUSE_MAX, err) != 0)
		return -1;
	return cf_expected_version(ctx, req->body, call, err);
}

static int cf_finish_execution(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
			       andon_apierr_t *err)
{
	/* CloudFlow's names of the statuses an engine may report, and the engine's. */
	static const char *const statuses[][2] = {
	    {"Succeeded", "SUCCEEDED"}, {"Failed", "FAILED"}, {"TimedOut", "TIMED_OUT"}};
	const char *status, *engine = NULL;
	size_t status_len;
	cf_target_t t;
	int rc;

	if (cf_resolve(ctx, req, "ExecutionName", 0, &t, err) != 0)
		return -1;
	rc = andon_codec_get_str(req->body, "Status", &status, &status_len);
	if (rc == 0)
		return andon_apierr(err, "MissingRequiredParams", 400, "Status is mandatory for this action");
	for (size_t i = 0; rc > 0 && i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (strlen(statuses[i][0]) == status_len && memcmp(statuses[i][0], status, status_len) == 0)
			engine = statuses[i][1];
	if (engine == NULL)
		return andon_apierr(err, "InvalidArgument", 400,
				    "Status must be Succeeded, Failed or TimedOut");
	cf_exec_call(ctx, req, call, &t, "cf_finish", CF_KEYS_XHR, 0);
	andon_call_field(call, "status", engine, strlen(engine));
	if (cf_json(req->body, call, "Output", "output", err) < 0 ||
	    cf_opt(req->body, call, "Error", "error", 1, CF_ERROR_MAX, err) != 0 ||
	    cf_opt(req->body, call, "Cause", "cause", 1, CF_CAUSE_MAX, err) != 0)
		return -1;
	return cf_expected_version(ctx, req->body, call, err);
}

static int cf_describe_execution(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
				 andon_apierr_t *err)
{
	cf_target_t t;

	if (cf_resolve(ctx, req, "ExecutionName", 0, &t, err) != 0)
		return -1;
	cf_exec_call(ctx, req, call, &t, "cf_describe", CF_KEYS_X, 0);
	return 0;
}

/* A read like DescribeExecution (keys flow, x and h; nothing stored): a page of the execution's events. */
static int cf_get_execution_history(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
				    andon_apierr_t *err)
{
	const char *token;
	size_t token_len;
	int64_t limit = CF_LIMIT_DEFAULT;
	cf_target_t t;
	int rc;

	if (cf_resolve(ctx, req, "ExecutionName", 0, &t, err) != 0)
		return -1;
	rc = andon_codec_get_int(req->body, "Limit", &limit);
	if (rc < 0 || limit < 1 || limit > CF_LIMIT_MAX)
		return andon_apierr(err, "InvalidArgument", 400, "Limit must be an integer from 1 to %d",
				    CF_LIMIT_MAX);
	rc = cf_str(req->body, "NextToken", 0, CF_TOKEN_MAX, &token, &token_len, err);
	if (rc < 0)
		return -1;
	cf_exec_call(ctx, req, call, &t, "cf_history", CF_KEYS_XH, 0);
	cf_int_field(ctx, call, "limit", (long long)limit);
	/* An empty NextToken asks for the first page, as an absent one. */
	if (rc > 0 && token_len > 0)
		andon_call_field(call, "nextToken", token, token_len);
	return 0;
}

/* CloudFlow answers EntityTooLarge with 400. */
/* A time field (RFC 3339, as CloudFlow writes them) as epoch ms: 1 found, 0 absent, -1 with err set. */
static int cf_time_field(const msgpack_object *body, const char *field, int64_t *ms, andon_apierr_t *err)
{
	char text[64], why[256];
	const char *s;
	size_t len;
	int rc = cf_str(body, field, 1, sizeof(text) - 1, &s, &len, err);

	if (rc <= 0)
		return rc;
	if (len >= sizeof(text)) /* characters were counted, bytes matter here */
		return andon_apierr(err, "InvalidArgument", 400, "%s must be an RFC 3339 time", field);
	memcpy(text, s, len);
	text[len] = '\0';
	/* Only absolute times: a relative one would depend on when the worker reads the request. */
	if (text[0] == '-' || text[0] == '+' || strcmp(text, "now") == 0 ||
	    andon_when_parse(text, 0, ms, why, sizeof(why)) != 0)
		return andon_apierr(err, "InvalidArgument", 400, "%s must be an RFC 3339 time, got '%s'",
				    field, text);
	return 1;
}

/*
 * ListExecutions: one page of the flow's List index (docs/REDIS.md, section 13), newest first, in the
 * flow's slot. Status takes CloudFlow's names; StartedTimeBegin and StartedTimeEnd are inclusive.
 */
static int cf_list_executions(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
			      andon_apierr_t *err)
{
	static const char *const statuses[][2] = {{"Starting", "STARTING"},
						  {"Running", "RUNNING"},
						  {"Stopped", "STOPPED"},
						  {"Succeeded", "SUCCEEDED"},
						  {"Failed", "FAILED"},
						  {"TimedOut", "TIMED_OUT"},
						  {NULL, NULL}};
	const char *token, *status, *prefix;
	size_t token_len, status_len, prefix_len;
	int64_t limit = 100, from = 0, to = 0;
	int rc, has_from, has_to, i = 0;
	cf_target_t t;

	if (cf_resolve(ctx, req, NULL, 0, &t, err) != 0)
		return -1;
	rc = andon_codec_get_int(req->body, "Limit", &limit);
	if (rc < 0 || limit < 1 || limit > 100)
		return andon_apierr(err, "InvalidArgument", 400, "Limit must be an integer from 1 to 100");
	if ((has_from = cf_time_field(req->body, "StartedTimeBegin", &from, err)) < 0 ||
	    (has_to = cf_time_field(req->body, "StartedTimeEnd", &to, err)) < 0)
		return -1;
	if ((rc = cf_str(req->body, "Status", 1, 16, &status, &status_len, err)) < 0)
		return -1;
	if (rc > 0) {
		for (i = 0; statuses[i][0] != NULL; i++)
			if (strlen(statuses[i][0]) == status_len &&
			    memcmp(statuses[i][0], status, status_len) == 0)
				break;
		if (statuses[i][0] == NULL)
			return andon_apierr(
			    err, "InvalidArgument", 400,
			    "Status must be one of Starting, Running, Stopped, Succeeded, Failed, "
			    "TimedOut");
	}
	andon_call_begin(call, "cf_list");
	cf_key(ctx, call, &t, "flow", NULL, 0);
	cf_key(ctx, call, &t, "ix", NULL, 0);
	cf_key(ctx, call, &t, "ixs", NULL, 0);
	andon_call_arg(call, req->id, req->id_len);
	andon_call_arg(call, req->op, req->op_len);
	andon_call_field(call, "account", ctx->account, strlen(ctx->account));
	andon_call_field(call, "owner", t.owner, t.owner_len);
	andon_call_field(call, "flow", t.flow, t.flow_len);
	cf_int_field(ctx, call, "limit", (long long)limit);
	if (rc > 0)
		andon_call_field(call, "status", statuses[i][1], strlen(statuses[i][1]));
	if (has_from)
		cf_int_field(ctx, call, "from", (long long)from);
	if (has_to)
		cf_int_field(ctx, call, "to", (long long)to);
	if ((rc = cf_str(req->body, "ExecutionNamePrefix", 1, CF_NAME_MAX, &prefix, &prefix_len, err)) < 0)
		return -1;
	if (rc > 0)
		andon_call_field(call, "prefix", prefix, prefix_len);
	if ((rc = cf_str(req->body, "NextToken", 0, 32768, &token, &token_len, err)) < 0)
		return -1;
	if (rc > 0 && token_len > 0)
		andon_call_field(call, "nextToken", token, token_len);
	return 0;
}

const andon_op_t andon_cflow_ops[] = {
    {"CloudFlow.CreateFlow", cf_create_flow, 400},
    {"CloudFlow.StartExecution", cf_start_execution, 400},
    {"CloudFlow.ReportExecutionRunning", cf_report_running, 400},
    {"CloudFlow.StopExecution", cf_stop_execution, 400},
    {"CloudFlow.FinishExecution", cf_finish_execution, 400},
    {"CloudFlow.DescribeExecution", cf_describe_execution, 400},
    {"CloudFlow.GetExecutionHistory", cf_get_execution_history, 400},
    {"CloudFlow.ListExecutions", cf_list_executions, 400},
    {NULL, NULL, 0},
};
