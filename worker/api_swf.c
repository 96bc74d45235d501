/* api_swf: the Amazon SWF adapter (validation, keys, fault names); the engine side is lua/40-swf.lua. */
#include "codec.h"
#include "ops.h"
#include "utf8.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

#define SWF_NAME_MAX	256 /* domain, workflowId, type name, task list */
#define SWF_VERSION_MAX 64
#define SWF_RUNID_MAX	64
#define SWF_REASON_MAX	256
#define SWF_DETAILS_MAX 32768 /* details, input, result */
#define SWF_DESC_MAX	1024
#define SWF_TIMEOUT_MAX 31536000 /* executionStartToCloseTimeout: one year, in seconds */
/* A workflow tag "swfw:DOMAIN:WORKFLOWID:ACCOUNT": two names of up to 256 characters of up to 4 bytes. */
#define SWF_TAG_MAX (2 * SWF_NAME_MAX * 4 + ANDON_ID_MAX + 16)

static const char *const policies[] = {"TERMINATE", "REQUEST_CANCEL", "ABANDON", NULL};

/* A string field read from a map: s is NULL when it was absent. */
typedef struct swf_str {
	const char *s;
	size_t len;
} swf_str_t;

static int is(const swf_str_t *v, const char *s)
{
	return v->s != NULL && v->len == strlen(s) && memcmp(v->s, s, v->len) == 0;
}

/*
 * SWF's naming rule for domains, workflowIds, type names and versions, task lists: no white space at either
 * end, no ':', '/', '|', no control character (U+0000-U+001F, U+007F-U+009F), and not the string "arn".
 * It keeps the hash tags and resource names built from these names unambiguous.
 */
static int swf_name_ok(const char *s, size_t len)
{
	if (len == 0 || (len == 3 && memcmp(s, "arn", 3) == 0) || s[0] == ' ' || s[0] == '\t' ||
	    s[len - 1] == ' ' || s[len - 1] == '\t')
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || c == ':' || c == '/' || c == '|')
			return 0;
		/* U+0080-U+009F are 0xc2 0x80-0x9f in UTF-8. */
		if (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] <= 0x9f)
			return 0;
	}
	return 1;
}

/*
 * Reads map[field] as a string of min..max characters into v (v->s NULL when absent or nil). shown is the
 * field's path in messages ("workflowType.name"). Returns 0, or -1 with ValidationException in err, also
 * when a required field is absent.
 */
static int get_str(const msgpack_object *map, const char *field, const char *shown, size_t min, size_t max,
		   int required, swf_str_t *v, andon_apierr_t *err)
{
	size_t chars;
	int rc = andon_codec_get_str(map, field, &v->s, &v->len);

	if (rc < 0)
		return andon_apierr(err, "ValidationException", 400, "%s must be a string", shown);
	if (rc == 0) {
		v->s = NULL;
		v->len = 0;
		if (required)
			return andon_apierr(
			    err, "ValidationException", 400,
			    "1 validation error detected: Value null at '%s' failed to satisfy constraint: "
			    "Member must not be null",
			    shown);
		return 0;
	}
	if (andon_utf8_count(v->s, v->len, &chars, NULL) != 0)
		return andon_apierr(
		    err, "ValidationException", 400,
		    "1 validation error detected: Value at '%s' failed to satisfy constraint: "
		    "Member must be valid UTF-8 text",
		    shown);
	if (chars < min || chars > max)
		return andon_apierr(
		    err, "ValidationException", 400,
		    "1 validation error detected: Value at '%s' failed to satisfy constraint: "
		    "Member must have length between %zu and %zu",
		    shown, min, max);
	return 0;
}

/* map[field] as a map into *m (NULL when absent or nil). Returns 0, or -1 with ValidationException. */
static int get_map(const msgpack_object *map, const char *field, int required, const msgpack_object **m,
		   andon_apierr_t *err)
{
	const msgpack_object *v = andon_codec_map_get(map, field);

	*m = NULL;
	if (v == NULL || v->type == MSGPACK_OBJECT_NIL) {
		if (required)
			return andon_apierr(
			    err, "ValidationException", 400,
			    "1 validation error detected: Value null at '%s' failed to satisfy constraint: "
			    "Member must not be null",
			    field);
		return 0;
	}
	if (v->type != MSGPACK_OBJECT_MAP)
		return andon_apierr(err, "ValidationException", 400, "%s must be a map", field);
	*m = v;
	return 0;
}

/* An optional child policy: TERMINATE, REQUEST_CANCEL or ABANDON. */
static int get_policy(const msgpack_object *map, const char *field, const char *shown, swf_str_t *v,
		      andon_apierr_t *err)
{
	if (get_str(map, field, shown, 1, 32, 0, v, err) != 0)
		return -1;
	if (v->s == NULL)
		return 0;
	for (const char *const *p = policies; *p != NULL; p++)
		if (is(v, *p))
			return 0;
	return andon_apierr(err, "ValidationException", 400,
			    "1 validation error detected: Value '%.*s' at '%s' failed to satisfy constraint: "
			    "Member must satisfy enum value set: [TERMINATE, REQUEST_CANCEL, ABANDON]",
			    (int)v->len, v->s, shown);
}

/* A name that must follow SWF's naming rule because the request creates what it names. */
static int check_new_name(const swf_str_t *v, const char *shown, andon_apierr_t *err)
{
	if (v->s == NULL || swf_name_ok(v->s, v->len))
		return 0;
	return andon_apierr(err, "ValidationException", 400,
			    "Invalid %s: '%.*s' (no white space at either end; no ':', '/', '|' or control "
			    "characters; not 'arn')",
			    shown, (int)v->len, v->s);
}

/* The optional {name} map of a task list, into v. */
static int get_task_list(const msgpack_object *map, const char *field, swf_str_t *v, andon_apierr_t *err)
{
	const msgpack_object *tl;
	char shown[48];

	v->s = NULL;
	if (get_map(map, field, 0, &tl, err) != 0)
		return -1;
	if (tl == NULL)
		return 0;
	snprintf(shown, sizeof(shown), "%s.name", field);
	if (get_str(tl, "name", shown, 1, SWF_NAME_MAX, 1, v, err) != 0)
		return -1;
	return check_new_name(v, shown, err);
}

/* executionStartToCloseTimeout: seconds as a decimal string, 1 to one year. */
static int get_timeout(const msgpack_object *map, swf_str_t *v, andon_apierr_t *err)
{
	long long n = 0;

	if (get_str(map, "executionStartToCloseTimeout", "executionStartToCloseTimeout", 1, 8, 0, v, err) !=
	    0)
		return -1;
	if (v->s == NULL)
		return 0;
	for (size_t i = 0; i < v->len; i++) {
		if (v->s[i] < '0' || v->s[i] > '9')
			goto bad;
		n = n * 10 + (v->s[i] - '0');
	}
	if (n >= 1 && n <= SWF_TIMEOUT_MAX)
		return 0;
bad:
	return andon_apierr(err, "ValidationException", 400,
			    "executionStartToCloseTimeout must be a number of seconds from 1 to %d",
			    SWF_TIMEOUT_MAX);
}

/* An optional runId of up to 64 characters into v; an empty one counts as absent ("the current run"). */
static int get_run_id(const msgpack_object *map, const char *shown, int required, swf_str_t *v,
		      andon_apierr_t *err)
{
	if (get_str(map, "runId", shown, required ? 1 : 0, SWF_RUNID_MAX, required, v, err) != 0)
		return -1;
	if (v->s != NULL && v->len == 0)
		v->s = NULL;
	return 0;
}

/*
 * The execution a request names: domain and workflowId (1-256 characters, ValidationException), runId
 * (up to 64). A domain or workflowId that breaks SWF's naming rule cannot exist: UnknownResourceFault,
 * answered by the adapter (not stored, not dead-lettered); check_names() does that once every field passed
 * its own checks, so a bad field always answers ValidationException first.
 */
typedef struct swf_exec {
	swf_str_t domain, wid, rid;
} swf_exec_t;

static int check_names(const swf_exec_t *x, andon_apierr_t *err)
{
	if (!swf_name_ok(x->domain.s, x->domain.len))
		return andon_apierr_answer(err, "UnknownResourceFault", 400, "Unknown domain: %.*s",
					   (int)x->domain.len, x->domain.s);
	if (!swf_name_ok(x->wid.s, x->wid.len))
		return andon_apierr_answer(err, "UnknownResourceFault", 400,
					   "Unknown execution: WorkflowExecution=[workflowId=%.*s]",
					   (int)x->wid.len, x->wid.s);
	return 0;
}

enum { RUN_NONE, RUN_OPTIONAL, RUN_REQUIRED };

/* domain at the top of body, workflowId and (per run) runId in src (body itself, or its execution map). */
static int get_exec(const msgpack_object *body, const msgpack_object *src, const char *prefix, int run,
		    swf_exec_t *x, andon_apierr_t *err)
{
	char wid[48], rid[48];

	snprintf(wid, sizeof(wid), "%sworkflowId", prefix);
	snprintf(rid, sizeof(rid), "%srunId", prefix);
	x->rid.s = NULL;
	x->rid.len = 0;
	if (get_str(body, "domain", "domain", 1, SWF_NAME_MAX, 1, &x->domain, err) != 0 ||
	    get_str(src, "workflowId", wid, 1, SWF_NAME_MAX, 1, &x->wid, err) != 0 ||
	    (run != RUN_NONE && get_run_id(src, rid, run == RUN_REQUIRED, &x->rid, err) != 0))
		return -1;
	return 0;
}

/*
 * Writes the hash tag "swf<kind>:DOMAIN[:WORKFLOWID]:ACCOUNT" into buf. Returns its length, or -1 with
 * ValidationException when it does not fit: a cut tag would drop the account and land on another
 * account's keys.
 */
static int swf_tag(char *buf, size_t size, const andon_ctx_t *ctx, const swf_str_t *domain,
		   const swf_str_t *wid, size_t *len, andon_apierr_t *err)
{
	int n;

	if (wid != NULL)
		n = snprintf(buf, size, "swfw:%.*s:%.*s:%s", (int)domain->len, domain->s, (int)wid->len,
			     wid->s, ctx->account);
	else
		n = snprintf(buf, size, "swfd:%.*s:%s", (int)domain->len, domain->s, ctx->account);
	if (n < 0 || (size_t)n >= size)
		return andon_apierr(err, "ValidationException", 400,
				    "domain and workflowId are too long together (%d bytes)", n);
	*len = (size_t)n;
	return 0;
}

static void args_head(andon_call_t *call, const andon_req_t *req)
{
	andon_call_arg(call, req->id, req->id_len);
	andon_call_arg(call, req->op, req->op_len);
}

static void field(andon_call_t *call, const char *name, const swf_str_t *v)
{
	if (v->s != NULL)
		andon_call_field(call, name, v->s, v->len);
}

/* Begins call fn on the workflow slot of x (keys w and, for writes, r) with domain, workflowId, runId?. */
static int exec_call(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call, const char *fn,
		     const swf_exec_t *x, int write, andon_apierr_t *err)
{
	char tag[SWF_TAG_MAX];
	size_t n = 0;

	if (swf_tag(tag, sizeof(tag), ctx, &x->domain, &x->wid, &n, err) != 0)
		return -1;
	andon_call_begin(call, fn);
	andon_call_key(call, ctx->arena, tag, n, "w");
	if (write)
		andon_call_key(call, ctx->arena, tag, n, "r");
	args_head(call, req);
	field(call, "domain", &x->domain);
	field(call, "workflowId", &x->wid);
	field(call, "runId", &x->rid);
	return 0;
}

/* The Andon extension escalateAfterSeconds (1 second to a year; 2.1), passed to the engine when given. */
static int escalation_field(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
			    andon_apierr_t *err)
{
	return andon_ops_int_field(ctx, req->body, call, "escalateAfterSeconds", 1, SWF_TIMEOUT_MAX, err);
}

static int swf_register_domain(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
			       andon_apierr_t *err)
{
	swf_str_t name, desc, topic, days;
	char tag[SWF_TAG_MAX], deftopic[512];
	const char *ret;
	size_t ret_len;
	size_t n = 0;
	long long d = -1;

	if (get_str(req->body, "name", "name", 1, SWF_NAME_MAX, 1, &name, err) != 0 ||
	    get_str(req->body, "workflowExecutionRetentionPeriodInDays",
		    "workflowExecutionRetentionPeriodInDays", 1, 8, 0, &days, err) != 0 ||
	    get_str(req->body, "description", "description", 0, SWF_DESC_MAX, 0, &desc, err) != 0 ||
	    get_str(req->body, "decisionTopic", "decisionTopic", 1, 249, 0, &topic, err) != 0 ||
	    check_new_name(&name, "name", err) != 0)
		return -1;
	/* SWF's rule: "0" to "90" days, or "NONE" (0: a closed run is not kept; Andon keeps it one second).
	 * Absent: retention.swf applies (docs/swf.md). */
	if (days.s != NULL) {
		char text[9];

		snprintf(text, sizeof(text), "%.*s", (int)days.len, days.s);
		if (strcmp(text, "NONE") == 0)
			d = 0;
		else if (andon_parse_ll(text, 0, 90, &d) != 0)
			return andon_apierr(
			    err, "ValidationException", 400,
			    "workflowExecutionRetentionPeriodInDays must be NONE or a whole number "
			    "of days from 0 to 90");
	}
	if (topic.s != NULL && !andon_proto_topic_ok(topic.s, topic.len))
		return andon_apierr(err, "ValidationException", 400,
				    "decisionTopic must be a Kafka topic name: 1-249 of [a-zA-Z0-9._-]");
	if (topic.s == NULL) {
		/*
		 * The default topic names the account: two accounts may each have a domain of this name, and
		 * one's decider must never read the other's tasks. worker.legacy_topic_names keeps the old
		 * name without it. The name must be legal, else the decider could never be told anything.
		 */
		int legacy = ctx->cfg->legacy_topic_names;
		int k = legacy ? snprintf(deftopic, sizeof(deftopic), "andon.swf.%.*s.decisions",
					  (int)name.len, name.s)
			       : snprintf(deftopic, sizeof(deftopic), "andon.swf.%s.%.*s.decisions",
					  ctx->account, (int)name.len, name.s);
		if (k < 0 || (size_t)k >= sizeof(deftopic) || !andon_proto_topic_ok(deftopic, (size_t)k))
			return andon_apierr(
			    err, "ValidationException", 400,
			    "account '%s' and domain '%.*s' make no legal decision topic name "
			    "(%s: 1-249 of [a-zA-Z0-9._-]); give decisionTopic",
			    ctx->account, (int)name.len, name.s,
			    legacy ? "andon.swf.<domain>.decisions"
				   : "andon.swf.<account>.<domain>.decisions");
		topic.s = andon_arena_strndup(ctx->arena, deftopic, (size_t)k);
		topic.len = (size_t)k;
	}
	if (swf_tag(tag, sizeof(tag), ctx, &name, NULL, &n, err) != 0)
		return -1;
	andon_call_begin(call, "swf_register_domain");
	andon_call_key(call, ctx->arena, tag, n, "d");
	andon_call_key(call, ctx->arena, tag, n, "r");
	args_head(call, req);
	field(call, "name", &name);
	andon_call_field(call, "account", ctx->account, strlen(ctx->account));
	field(call, "decisionTopic", &topic);
	field(call, "description", &desc);
	if (d >= 0) {
		ret = andon_arena_printf(ctx->arena, &ret_len, "%lld", d == 0 ? 1 : d * 86400);
		if (ret == NULL)
			call->overflow = 1;
		else
			andon_call_field(call, "retention", ret, ret_len);
	}
	return escalation_field(ctx, req, call, err);
}

static int swf_register_workflow_type(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
				      andon_apierr_t *err)
{
	swf_str_t domain, name, version, policy, tl, desc;
	char tag[SWF_TAG_MAX];
	size_t n = 0;

	if (get_str(req->body, "domain", "domain", 1, SWF_NAME_MAX, 1, &domain, err) != 0 ||
	    get_str(req->body, "name", "name", 1, SWF_NAME_MAX, 1, &name, err) != 0 ||
	    get_str(req->body, "version", "version", 1, SWF_VERSION_MAX, 1, &version, err) != 0 ||
	    get_policy(req->body, "defaultChildPolicy", "defaultChildPolicy", &policy, err) != 0 ||
	    get_task_list(req->body, "defaultTaskList", &tl, err) != 0 ||
	    get_str(req->body, "description", "description", 0, SWF_DESC_MAX, 0, &desc, err) != 0 ||
	    check_new_name(&name, "name", err) != 0 || check_new_name(&version, "version", err) != 0)
		return -1;
	if (!swf_name_ok(domain.s, domain.len))
		return andon_apierr_answer(err, "UnknownResourceFault", 400, "Unknown domain: %.*s",
					   (int)domain.len, domain.s);
	if (swf_tag(tag, sizeof(tag), ctx, &domain, NULL, &n, err) != 0)
		return -1;
	andon_call_begin(call, "swf_register_type");
	andon_call_key(call, ctx->arena, tag, n, "d");
	andon_call_key(call, ctx->arena, tag, n, "t");
	andon_call_key(call, ctx->arena, tag, n, "r");
	args_head(call, req);
	field(call, "domain", &domain);
	field(call, "name", &name);
	field(call, "version", &version);
	field(call, "defaultChildPolicy", &policy);
	field(call, "defaultTaskList", &tl);
	field(call, "description", &desc);
	return 0;
}

/* What a start carries besides the execution: the type and the run's settings. */
typedef struct swf_start {
	swf_str_t type_name, type_version, policy, input, tl, timeout;
} swf_start_t;

/* The start settings in src; the workflowType map is required when type_required. */
static int get_start(const msgpack_object *src, const char *prefix, int type_required, swf_start_t *s,
		     andon_apierr_t *err)
{
	const msgpack_object *wt;
	char shown[3][48];

	snprintf(shown[0], sizeof(shown[0]), "%sworkflowType.name", prefix);
	snprintf(shown[1], sizeof(shown[1]), "%sworkflowType.version", prefix);
	snprintf(shown[2], sizeof(shown[2]), "%schildPolicy", prefix);
	memset(s, 0, sizeof(*s));
	if (get_map(src, "workflowType", type_required, &wt, err) != 0 ||
	    (wt != NULL &&
	     (get_str(wt, "name", shown[0], 1, SWF_NAME_MAX, 1, &s->type_name, err) != 0 ||
	      get_str(wt, "version", shown[1], 1, SWF_VERSION_MAX, 1, &s->type_version, err) != 0)) ||
	    get_policy(src, "childPolicy", shown[2], &s->policy, err) != 0 ||
	    get_str(src, "input", "input", 0, SWF_DETAILS_MAX, 0, &s->input, err) != 0 ||
	    get_task_list(src, "taskList", &s->tl, err) != 0 || get_timeout(src, &s->timeout, err) != 0)
		return -1;
	return 0;
}

/* A type that breaks the naming rule cannot have been registered. */
static int check_type(const swf_start_t *s, andon_apierr_t *err)
{
	if (s->type_name.s == NULL || (swf_name_ok(s->type_name.s, s->type_name.len) &&
				       swf_name_ok(s->type_version.s, s->type_version.len)))
		return 0;
	return andon_apierr_answer(
	    err, "UnknownResourceFault", 400, "Unknown type: WorkflowType=[name=%.*s, version=%.*s]",
	    (int)s->type_name.len, s->type_name.s, (int)s->type_version.len, s->type_version.s);
}

/* The run's resource name without its runId: arn:aws:swf:REGION:ACCOUNT:/domain/D/workflowId/W/runId/. */
static int arn_prefix(const andon_ctx_t *ctx, const swf_exec_t *x, andon_call_t *call, andon_apierr_t *err)
{
	char buf[SWF_TAG_MAX + 128];
	int n =
	    snprintf(buf, sizeof(buf), "arn:aws:swf:%s:%s:/domain/%.*s/workflowId/%.*s/runId/", ctx->region,
		     ctx->account, (int)x->domain.len, x->domain.s, (int)x->wid.len, x->wid.s);
	const char *s;

	if (n < 0 || (size_t)n >= sizeof(buf) ||
	    (s = andon_arena_strndup(ctx->arena, buf, (size_t)n)) == NULL)
		return andon_apierr(err, "InternalFailure", 500, "request too large for the batch arena");
	andon_call_field(call, "arn", s, (size_t)n);
	return 0;
}

/* A run's start, by a client (StartWorkflowExecution) or handed on by a parent (StartChildRun, child). */
/*
 * A start in two steps, so that each call touches one slot (docs/swf.md, 7.1): the first round reads what
 * a start needs of its domain and type (swf_start_get on the domain's d and t); the second builds swf_start
 * on the workflow's keys with that as the field 'dom' (absent: no such domain).
 */
static int start_call(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call, int child,
		      const char *dom, size_t dom_len, int lookup, andon_apierr_t *err);

static int start_resolve(const andon_ctx_t *ctx, const andon_req_t *req, const char *value, size_t len,
			 andon_call_t *call, andon_apierr_t *err)
{
	return start_call(ctx, req, call, 0, value, len, 0, err);
}

static int child_resolve(const andon_ctx_t *ctx, const andon_req_t *req, const char *value, size_t len,
			 andon_call_t *call, andon_apierr_t *err)
{
	return start_call(ctx, req, call, 1, value, len, 0, err);
}

static int start_call(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call, int child,
		      const char *dom, size_t dom_len, int lookup, andon_apierr_t *err)
{
	const msgpack_object *parent = NULL;
	swf_exec_t x, px;
	swf_start_t s;
	char dtag[SWF_TAG_MAX], wtag[SWF_TAG_MAX], num[24];
	int64_t initiated = 0;
	size_t dn = 0, wn = 0;

	if (get_exec(req->body, req->body, "", child ? RUN_REQUIRED : RUN_NONE, &x, err) != 0 ||
	    get_start(req->body, "", 1, &s, err) != 0)
		return -1;
	if (child) {
		/* Internal: the runId the parent chose, the parent and its initiating event. */
		if (!andon_proto_token_ok(x.rid.s, x.rid.len, SWF_RUNID_MAX))
			return andon_apierr(err, "ValidationException", 400,
					    "runId must be 1-64 printable ASCII characters");
		if (get_map(req->body, "parentWorkflowExecution", 1, &parent, err) != 0 ||
		    get_str(parent, "workflowId", "parentWorkflowExecution.workflowId", 1, SWF_NAME_MAX, 1,
			    &px.wid, err) != 0 ||
		    get_str(parent, "runId", "parentWorkflowExecution.runId", 1, SWF_RUNID_MAX, 1, &px.rid,
			    err) != 0)
			return -1;
		if (andon_codec_get_int(req->body, "parentInitiatedEventId", &initiated) < 0 || initiated < 0)
			return andon_apierr(err, "ValidationException", 400,
					    "parentInitiatedEventId must be a non-negative integer");
	}
	if (check_new_name(&x.wid, "workflowId", err) != 0)
		return -1;
	if (!swf_name_ok(x.domain.s, x.domain.len))
		return andon_apierr_answer(err, "UnknownResourceFault", 400, "Unknown domain: %.*s",
					   (int)x.domain.len, x.domain.s);
	if (check_type(&s, err) != 0)
		return -1;
	if (swf_tag(dtag, sizeof(dtag), ctx, &x.domain, NULL, &dn, err) != 0 ||
	    swf_tag(wtag, sizeof(wtag), ctx, &x.domain, &x.wid, &wn, err) != 0)
		return -1;
	if (lookup) {
		andon_call_begin(call, "swf_start_get");
		andon_call_key(call, ctx->arena, dtag, dn, "d");
		andon_call_key(call, ctx->arena, dtag, dn, "t");
		field(call, "typeName", &s.type_name);
		field(call, "typeVersion", &s.type_version);
		call->resolve = child ? child_resolve : start_resolve;
		return 0;
	}
	andon_call_begin(call, "swf_start");
	andon_call_key(call, ctx->arena, wtag, wn, "w");
	andon_call_key(call, ctx->arena, wtag, wn, "r");
	args_head(call, req);
	field(call, "domain", &x.domain);
	field(call, "workflowId", &x.wid);
	andon_call_field(call, "account", ctx->account, strlen(ctx->account));
	if (arn_prefix(ctx, &x, call, err) != 0)
		return -1;
	field(call, "typeName", &s.type_name);
	field(call, "typeVersion", &s.type_version);
	field(call, "childPolicy", &s.policy);
	field(call, "input", &s.input);
	field(call, "taskList", &s.tl);
	field(call, "timeout", &s.timeout);
	if (child) {
		field(call, "runId", &x.rid);
		field(call, "parentWorkflowId", &px.wid);
		field(call, "parentRunId", &px.rid);
		snprintf(num, sizeof(num), "%lld", (long long)initiated);
		andon_call_field(call, "parentInitiatedEventId",
				 andon_arena_strndup(ctx->arena, num, strlen(num)), strlen(num));
	}
	if (dom != NULL)
		andon_call_field(call, "dom", dom, dom_len);
	return 0;
}

static int swf_start_workflow_execution(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
					andon_apierr_t *err)
{
	return start_call(ctx, req, call, 0, NULL, 0, 1, err);
}

static int swf_start_child_run(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
			       andon_apierr_t *err)
{
	return start_call(ctx, req, call, 1, NULL, 0, 1, err);
}

static int swf_start_child_workflow_execution(const andon_ctx_t *ctx, const andon_req_t *req,
					      andon_call_t *call, andon_apierr_t *err)
{
	const msgpack_object *child;
	swf_exec_t x;
	swf_str_t cwid;
	swf_start_t s;

	if (get_exec(req->body, req->body, "", RUN_OPTIONAL, &x, err) != 0 ||
	    get_map(req->body, "child", 1, &child, err) != 0 ||
	    get_str(child, "workflowId", "child.workflowId", 1, SWF_NAME_MAX, 1, &cwid, err) != 0 ||
	    get_start(child, "child.", 0, &s, err) != 0 ||
	    check_new_name(&cwid, "child.workflowId", err) != 0 || check_names(&x, err) != 0 ||
	    check_type(&s, err) != 0)
		return -1;
	if (exec_call(ctx, req, call, "swf_start_child", &x, 1, err) != 0)
		return -1;
	field(call, "childWorkflowId", &cwid);
	field(call, "childTypeName", &s.type_name);
	field(call, "childTypeVersion", &s.type_version);
	field(call, "childPolicy", &s.policy);
	field(call, "input", &s.input);
	field(call, "taskList", &s.tl);
	field(call, "timeout", &s.timeout);
	return 0;
}

static int swf_request_cancel_workflow_execution(const andon_ctx_t *ctx, const andon_req_t *req,
						 andon_call_t *call, andon_apierr_t *err)
{
	swf_exec_t x;

	if (get_exec(req->body, req->body, "", RUN_OPTIONAL, &x, err) != 0 || check_names(&x, err) != 0)
		return -1;
	if (exec_call(ctx, req, call, "swf_request_cancel", &x, 1, err) != 0)
		return -1;
	return escalation_field(ctx, req, call, err);
}

static int swf_terminate_workflow_execution(const andon_ctx_t *ctx, const andon_req_t *req,
					    andon_call_t *call, andon_apierr_t *err)
{
	swf_exec_t x;
	swf_str_t reason, details, policy;

	if (get_exec(req->body, req->body, "", RUN_OPTIONAL, &x, err) != 0 ||
	    get_str(req->body, "reason", "reason", 0, SWF_REASON_MAX, 0, &reason, err) != 0 ||
	    get_str(req->body, "details", "details", 0, SWF_DETAILS_MAX, 0, &details, err) != 0 ||
	    get_policy(req->body, "childPolicy", "childPolicy", &policy, err) != 0 ||
	    check_names(&x, err) != 0)
		return -1;
	if (exec_call(ctx, req, call, "swf_terminate", &x, 1, err) != 0)
		return -1;
	field(call, "reason", &reason);
	field(call, "details", &details);
	field(call, "childPolicy", &policy);
	return 0;
}

static int swf_apply_child_policy(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
				  andon_apierr_t *err)
{
	const msgpack_object *parent;
	swf_exec_t x;
	swf_str_t policy, pwid, prid;
	int64_t eid = 0;
	char num[24];

	if (get_exec(req->body, req->body, "", RUN_REQUIRED, &x, err) != 0 ||
	    get_policy(req->body, "childPolicy", "childPolicy", &policy, err) != 0 ||
	    get_map(req->body, "parentWorkflowExecution", 1, &parent, err) != 0 ||
	    get_str(parent, "workflowId", "parentWorkflowExecution.workflowId", 1, SWF_NAME_MAX, 1, &pwid,
		    err) != 0 ||
	    get_str(parent, "runId", "parentWorkflowExecution.runId", 1, SWF_RUNID_MAX, 1, &prid, err) != 0)
		return -1;
	if (!is(&policy, "TERMINATE") && !is(&policy, "REQUEST_CANCEL"))
		return andon_apierr(err, "ValidationException", 400,
				    "childPolicy must be TERMINATE or REQUEST_CANCEL");
	if (andon_codec_get_int(req->body, "parentEventId", &eid) < 0 || eid < 0)
		return andon_apierr(err, "ValidationException", 400,
				    "parentEventId must be a non-negative integer");
	if (check_names(&x, err) != 0)
		return -1;
	if (exec_call(ctx, req, call, "swf_apply", &x, 1, err) != 0)
		return -1;
	field(call, "childPolicy", &policy);
	field(call, "parentWorkflowId", &pwid);
	field(call, "parentRunId", &prid);
	snprintf(num, sizeof(num), "%lld", (long long)eid);
	andon_call_field(call, "parentEventId", andon_arena_strndup(ctx->arena, num, strlen(num)),
			 strlen(num));
	return 0;
}

/* The decider's closing decisions: Complete (result?), Fail (reason?, details?), Cancel (details?). */
static int close_call(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
		      const char *decision, andon_apierr_t *err)
{
	swf_exec_t x;
	swf_str_t result = {NULL, 0}, reason = {NULL, 0}, details = {NULL, 0};
	int complete = strcmp(decision, "COMPLETE") == 0, fail = strcmp(decision, "FAIL") == 0;

	if (get_exec(req->body, req->body, "", RUN_REQUIRED, &x, err) != 0 ||
	    (complete && get_str(req->body, "result", "result", 0, SWF_DETAILS_MAX, 0, &result, err) != 0) ||
	    (fail && get_str(req->body, "reason", "reason", 0, SWF_REASON_MAX, 0, &reason, err) != 0) ||
	    (!complete &&
	     get_str(req->body, "details", "details", 0, SWF_DETAILS_MAX, 0, &details, err) != 0) ||
	    check_names(&x, err) != 0)
		return -1;
	if (exec_call(ctx, req, call, "swf_close", &x, 1, err) != 0)
		return -1;
	andon_call_field(call, "decision", decision, strlen(decision));
	field(call, "result", &result);
	field(call, "reason", &reason);
	field(call, "details", &details);
	return 0;
}

static int swf_complete_workflow_execution(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
					   andon_apierr_t *err)
{
	return close_call(ctx, req, call, "COMPLETE", err);
}

static int swf_fail_workflow_execution(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
				       andon_apierr_t *err)
{
	return close_call(ctx, req, call, "FAIL", err);
}

static int swf_cancel_workflow_execution(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
					 andon_apierr_t *err)
{
	return close_call(ctx, req, call, "CANCEL", err);
}

/* Reads name the run in an execution map: {domain, execution: {workflowId, runId}}. */
static int read_exec(const andon_req_t *req, swf_exec_t *x, andon_apierr_t *err)
{
	const msgpack_object *ex;

	if (get_str(req->body, "domain", "domain", 1, SWF_NAME_MAX, 1, &x->domain, err) != 0 ||
	    get_map(req->body, "execution", 1, &ex, err) != 0 ||
	    get_exec(req->body, ex, "execution.", RUN_REQUIRED, x, err) != 0)
		return -1;
	return 0;
}

static int swf_describe_workflow_execution(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
					   andon_apierr_t *err)
{
	swf_exec_t x;

	if (read_exec(req, &x, err) != 0 || check_names(&x, err) != 0)
		return -1;
	if (exec_call(ctx, req, call, "swf_describe", &x, 0, err) != 0)
		return -1;
	return 0;
}

static int swf_get_workflow_execution_history(const andon_ctx_t *ctx, const andon_req_t *req,
					      andon_call_t *call, andon_apierr_t *err)
{
	swf_exec_t x;
	swf_str_t token;
	int64_t max = 0;
	int reverse = 0;
	char num[24];

	if (read_exec(req, &x, err) != 0 ||
	    get_str(req->body, "nextPageToken", "nextPageToken", 1, 2048, 0, &token, err) != 0)
		return -1;
	if (andon_codec_get_int(req->body, "maximumPageSize", &max) < 0 || max < 0 || max > 1000)
		return andon_apierr(err, "ValidationException", 400,
				    "maximumPageSize must be an integer from 0 to 1000");
	if (andon_codec_get_bool(req->body, "reverseOrder", &reverse) < 0)
		return andon_apierr(err, "ValidationException", 400, "reverseOrder must be a boolean");
	if (check_names(&x, err) != 0)
		return -1;
	if (exec_call(ctx, req, call, "swf_history", &x, 0, err) != 0)
		return -1;
	snprintf(num, sizeof(num), "%lld", (long long)max);
	andon_call_field(call, "maxPageSize", andon_arena_strndup(ctx->arena, num, strlen(num)), strlen(num));
	andon_call_field(call, "reverseOrder", reverse ? "1" : "0", 1);
	field(call, "nextPageToken", &token);
	return 0;
}

/* A date of map (epoch seconds) as epoch ms into *ms: 1 found, 0 absent, -1 with err. */
static int get_date(const msgpack_object *map, const char *field, const char *shown, int64_t *ms,
		    andon_apierr_t *err)
{
	int rc = andon_ops_epoch_ms(map, field, ms);

	if (rc < 0)
		return andon_apierr(err, "ValidationException", 400, "%s must be a date (epoch seconds)",
				    shown);
	return rc;
}

/* A {oldestDate, latestDate?} filter as the fields from/to (or cfrom/cto): 1 given, 0 absent, -1 with err. */
static int time_filter(const andon_ctx_t *ctx, const msgpack_object *body, const char *field, const char *lo,
		       const char *hi, andon_call_t *call, andon_apierr_t *err)
{
	const msgpack_object *m;
	int64_t oldest = 0, latest = 0;
	char shown[64];
	const char *num;
	size_t n;
	int has_latest, rc;

	if (get_map(body, field, 0, &m, err) != 0)
		return -1;
	if (m == NULL)
		return 0;
	snprintf(shown, sizeof(shown), "%s.oldestDate", field);
	if ((rc = get_date(m, "oldestDate", shown, &oldest, err)) < 0)
		return -1;
	if (rc == 0)
		return andon_apierr(
		    err, "ValidationException", 400,
		    "1 validation error detected: Value null at '%s' failed to satisfy constraint: "
		    "Member must not be null",
		    shown);
	snprintf(shown, sizeof(shown), "%s.latestDate", field);
	if ((has_latest = get_date(m, "latestDate", shown, &latest, err)) < 0)
		return -1;
	num = andon_arena_printf(ctx->arena, &n, "%lld", (long long)oldest);
	andon_call_field(call, lo, num, n);
	if (has_latest) {
		num = andon_arena_printf(ctx->arena, &n, "%lld", (long long)latest);
		andon_call_field(call, hi, num, n);
	}
	return 1;
}

/*
 * ListOpenWorkflowExecutions and ListClosedWorkflowExecutions: one page of the domain's List index
 * (docs/REDIS.md section 13), in the domain's slot. At most one of executionFilter, typeFilter, tagFilter
 * (and for closed runs closeStatusFilter), as SWF requires.
 */
static int swf_list(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call, int open,
		    andon_apierr_t *err)
{
	static const char *const closes[][2] = {{"COMPLETED", "SUCCEEDED"},
						{"FAILED", "FAILED"},
						{"CANCELED", "CANCELED"},
						{"TERMINATED", "TERMINATED"},
						{"TIMED_OUT", "TIMED_OUT"},
						{"CONTINUED_AS_NEW", "CONTINUED_AS_NEW"},
						{NULL, NULL}};
	const msgpack_object *type, *exec, *tags, *status;
	swf_str_t domain, token, name, version, wid, st;
	char tag[SWF_TAG_MAX], num[24];
	int64_t max = 0;
	int reverse = 0, by_start, by_close, filters, i = 0;
	size_t n = 0;

	if (get_str(req->body, "domain", "domain", 1, SWF_NAME_MAX, 1, &domain, err) != 0 ||
	    get_str(req->body, "nextPageToken", "nextPageToken", 1, 32768, 0, &token, err) != 0 ||
	    get_map(req->body, "typeFilter", 0, &type, err) != 0 ||
	    get_map(req->body, "executionFilter", 0, &exec, err) != 0 ||
	    get_map(req->body, "tagFilter", 0, &tags, err) != 0 ||
	    get_map(req->body, "closeStatusFilter", 0, &status, err) != 0)
		return -1;
	if (andon_codec_get_int(req->body, "maximumPageSize", &max) < 0 || max < 0 || max > 1000)
		return andon_apierr(err, "ValidationException", 400,
				    "maximumPageSize must be an integer from 0 to 1000");
	if (andon_codec_get_bool(req->body, "reverseOrder", &reverse) < 0)
		return andon_apierr(err, "ValidationException", 400, "reverseOrder must be a boolean");
	if (!swf_name_ok(domain.s, domain.len))
		return andon_apierr(err, "ValidationException", 400, "domain is not a valid name");
	filters = (type != NULL) + (exec != NULL) + (tags != NULL) + (!open && status != NULL);
	if (filters > 1)
		return andon_apierr(
		    err, "ValidationException", 400,
		    "executionFilter, typeFilter, tagFilter%s are mutually exclusive: give at most one",
		    open ? "" : " and closeStatusFilter");
	if (open && status != NULL)
		return andon_apierr(err, "ValidationException", 400,
				    "closeStatusFilter is for closed executions");
	if (swf_tag(tag, sizeof(tag), ctx, &domain, NULL, &n, err) != 0)
		return -1;
	andon_call_begin(call, "swf_list");
	andon_call_key(call, ctx->arena, tag, n, "d");
	andon_call_key(call, ctx->arena, tag, n, "ix");
	andon_call_key(call, ctx->arena, tag, n, "ixs");
	args_head(call, req);
	field(call, "domain", &domain);
	andon_call_field(call, "open", open ? "1" : "0", 1);
	snprintf(num, sizeof(num), "%lld", (long long)(max == 0 ? 1000 : max));
	andon_call_field(call, "max", andon_arena_strndup(ctx->arena, num, strlen(num)), strlen(num));
	andon_call_field(call, "reverse", reverse ? "1" : "0", 1);
	if ((by_start = time_filter(ctx, req->body, "startTimeFilter", "from", "to", call, err)) < 0 ||
	    (by_close =
		 open ? 0 : time_filter(ctx, req->body, "closeTimeFilter", "cfrom", "cto", call, err)) < 0)
		return -1;
	if (open ? !by_start : by_start + by_close != 1)
		return andon_apierr(err, "ValidationException", 400,
				    open ? "startTimeFilter is required"
					 : "give exactly one of startTimeFilter and closeTimeFilter");
	if (type != NULL) {
		if (get_str(type, "name", "typeFilter.name", 1, SWF_NAME_MAX, 1, &name, err) != 0 ||
		    get_str(type, "version", "typeFilter.version", 1, SWF_VERSION_MAX, 0, &version, err) != 0)
			return -1;
		field(call, "typeName", &name);
		field(call, "typeVersion", &version);
	}
	if (exec != NULL) {
		if (get_str(exec, "workflowId", "executionFilter.workflowId", 1, SWF_NAME_MAX, 1, &wid,
			    err) != 0)
			return -1;
		field(call, "workflowId", &wid);
	}
	/* Andon keeps no tagList: a tag filter matches nothing (said, not silently ignored). */
	if (tags != NULL)
		andon_call_field(call, "noTags", "1", 1);
	if (status != NULL) {
		if (get_str(status, "status", "closeStatusFilter.status", 1, 32, 1, &st, err) != 0)
			return -1;
		for (i = 0; closes[i][0] != NULL && !is(&st, closes[i][0]); i++)
			;
		if (closes[i][0] == NULL)
			return andon_apierr(
			    err, "ValidationException", 400,
			    "closeStatusFilter.status must be COMPLETED, FAILED, CANCELED, TERMINATED, "
			    "CONTINUED_AS_NEW or TIMED_OUT");
		andon_call_field(call, "closeStatus", closes[i][1], strlen(closes[i][1]));
	}
	field(call, "nextPageToken", &token);
	return 0;
}

static int swf_list_open(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
			 andon_apierr_t *err)
{
	return swf_list(ctx, req, call, 1, err);
}

static int swf_list_closed(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
			   andon_apierr_t *err)
{
	return swf_list(ctx, req, call, 0, err);
}

const andon_op_t andon_swf_ops[] = {
    {"SWF.RegisterDomain", swf_register_domain, 413},
    {"SWF.RegisterWorkflowType", swf_register_workflow_type, 413},
    {"SWF.StartWorkflowExecution", swf_start_workflow_execution, 413},
    {"SWF.StartChildWorkflowExecution", swf_start_child_workflow_execution, 413},
    {"SWF.StartChildRun", swf_start_child_run, 413},
    {"SWF.RequestCancelWorkflowExecution", swf_request_cancel_workflow_execution, 413},
    {"SWF.TerminateWorkflowExecution", swf_terminate_workflow_execution, 413},
    {"SWF.ApplyChildPolicy", swf_apply_child_policy, 413},
    {"SWF.CompleteWorkflowExecution", swf_complete_workflow_execution, 413},
    {"SWF.FailWorkflowExecution", swf_fail_workflow_execution, 413},
    {"SWF.CancelWorkflowExecution", swf_cancel_workflow_execution, 413},
    {"SWF.DescribeWorkflowExecution", swf_describe_workflow_execution, 413},
    {"SWF.GetWorkflowExecutionHistory", swf_get_workflow_execution_history, 413},
    {"SWF.ListOpenWorkflowExecutions", swf_list_open, 413},
    {"SWF.ListClosedWorkflowExecutions", swf_list_closed, 413},
    {NULL, NULL, 0},
};
