/*
 * api_sagemaker: the SageMaker pipelines adapter (StopPipelineExecution, the callback-step handshake,
 * Lambda steps); the engine side is lua/20-sagemaker.lua, the contract docs/sagemaker.md.
 */
#include "answer.h"
#include "codec.h"
#include "ops.h"
#include "util.h"

#include <hiredis.h>
#include <stdio.h>
#include <string.h>

#define SM_ARN_MAX		2048
#define SM_PIPELINE_MAX		256
#define SM_STEP_MAX		64
#define SM_EXEC_ID_LEN		12
#define SM_TOKEN_LEN		10
#define SM_PARAMS_MAX		200 /* PipelineParameters */
#define SM_OUTPUTS_MAX		50  /* OutputParameters */
#define SM_ARGS_MAX		200 /* entries of a callback step's Arguments */
#define SM_PARAM_NAME_MAX	256
#define SM_PARAM_VALUE_MAX	1024
#define SM_REASON_MAX		256
#define SM_EXEC_REASON_MAX	1024
#define SM_LAMBDA_TIMEOUT_MAX	900	/* seconds (Lambda's own limit) */
#define SM_CALLBACK_TIMEOUT_MAX 2592000 /* 30 days */

static int is_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Pipeline names: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$ */
static int pipeline_name_ok(const char *s, size_t len)
{
	if (len < 1 || len > SM_PIPELINE_MAX || !is_alnum((unsigned char)s[0]) ||
	    !is_alnum((unsigned char)s[len - 1]))
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!is_alnum((unsigned char)s[i]) && s[i] != '-')
			return 0;
	return 1;
}

/* Step names: ^[A-Za-z0-9\-_]{1,64}$ */
static int step_name_ok(const char *s, size_t len)
{
	if (len < 1 || len > SM_STEP_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!is_alnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
			return 0;
	return 1;
}

static int is(const char *s, size_t len, const char *lit)
{
	return len == strlen(lit) && memcmp(s, lit, len) == 0;
}

static void args_head(andon_call_t *call, const andon_req_t *req)
{
	andon_call_arg(call, req->id, req->id_len);
	andon_call_arg(call, req->op, req->op_len);
}

static void add_keys(andon_call_t *call, const andon_ctx_t *ctx, const char *arn, size_t len)
{
	andon_call_key(call, ctx->arena, arn, len, "x");
	andon_call_key(call, ctx->arena, arn, len, "h");
	andon_call_key(call, ctx->arena, arn, len, "r");
}

/*
 * Checks that arn[0..len) is arn:aws:sagemaker:REGION:ACCOUNT:pipeline/NAME/execution/ID. Returns 0 when
 * it is one of the caller's, -1 with ValidationException when malformed, or with ResourceNotFound (an
 * answer: a request never learns what other accounts own) when it names another account's.
 */
static int check_arn(const andon_ctx_t *ctx, const char *arn, size_t len, andon_apierr_t *err)
{
	const char *p = arn, *end = arn + len, *field[6];
	size_t flen[6], alen = strlen(ctx->account);
	const char *name, *slash, *id;
	int n = 0;

	while (n < 6) {
		const char *c = n < 5 ? memchr(p, ':', (size_t)(end - p)) : end;
		if (c == NULL)
			break;
		field[n] = p;
		flen[n++] = (size_t)(c - p);
		p = c + 1;
	}
	if (n < 6 || !is(field[0], flen[0], "arn") || flen[1] == 0 || !is(field[2], flen[2], "sagemaker") ||
	    flen[3] == 0 || flen[4] == 0 || flen[5] < 9 || memcmp(field[5], "pipeline/", 9) != 0)
		goto bad;
	name = field[5] + 9;
	if ((slash = memchr(name, '/', (size_t)(end - name))) == NULL ||
	    !pipeline_name_ok(name, (size_t)(slash - name)) || (size_t)(end - slash) < 12 ||
	    memcmp(slash, "/execution/", 11) != 0)
		goto bad;
	id = slash + 11;
	if (id == end || end - id > 64)
		goto bad;
	for (const char *c = id; c < end; c++)
		if (!is_alnum((unsigned char)*c))
			goto bad;
	if (flen[4] != alen || memcmp(field[4], ctx->account, alen) != 0)
		return andon_apierr_answer(err, "ResourceNotFound", 400,
					   "Pipeline execution '%.*s' does not exist", (int)len, arn);
	return 0;
bad:
	return andon_apierr(err, "ValidationException", 400, "Invalid PipelineExecutionArn: '%.*s'", (int)len,
			    arn);
}

/* Reads PipelineExecutionArn and checks it. */
static int read_arn(const andon_ctx_t *ctx, const andon_req_t *req, const char **arn, size_t *len,
		    andon_apierr_t *err)
{
	if (andon_ops_required(req->body, "PipelineExecutionArn", 1, SM_ARN_MAX, arn, len, err) != 0)
		return -1;
	return check_arn(ctx, *arn, *len, err);
}

/* Begins call fn on the execution's keys x, h, r with its ARN as field arn. */
static int exec_call(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call, const char *fn,
		     andon_apierr_t *err)
{
	const char *arn;
	size_t len;

	if (read_arn(ctx, req, &arn, &len, err) != 0)
		return -1;
	andon_call_begin(call, fn);
	add_keys(call, ctx, arn, len);
	args_head(call, req);
	andon_call_field(call, "arn", arn, len);
	return 0;
}

/* An optional string field passed to the engine under its own name. */
static int opt_field(const andon_req_t *req, andon_call_t *call, const char *field, size_t min, size_t max,
		     andon_apierr_t *err)
{
	const char *s;
	size_t len;
	int rc = andon_ops_str(req->body, field, min, max, "ValidationException", &s, &len, err);

	if (rc > 0)
		andon_call_field(call, field, s, len);
	return rc < 0 ? -1 : 0;
}

static int client_token(const andon_req_t *req, andon_call_t *call, andon_apierr_t *err)
{
	return opt_field(req, call, "ClientRequestToken", 32, 128, err);
}

/* Checks body.field, when present, as a list of at most max {Name, Value} maps (Name 1-256 and Value up
 * to 1024 characters). 0 or -1 with err set. */
static int check_name_values(const andon_req_t *req, const char *field, size_t max, andon_apierr_t *err)
{
	const msgpack_object *o = andon_codec_get(req->body, field);

	if (o == NULL)
		return 0;
	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size > max)
		return andon_apierr(err, "ValidationException", 400, "%s must be a list of at most %zu items",
				    field, max);
	for (uint32_t i = 0; i < o->via.array.size; i++) {
		const msgpack_object *item = &o->via.array.ptr[i];
		const char *s;
		size_t l;

		if (item->type != MSGPACK_OBJECT_MAP || item->via.map.size != 2)
			return andon_apierr(err, "ValidationException", 400,
					    "%s[%u] must be a map of Name and Value", field, i);
		if (andon_ops_required(item, "Name", 1, SM_PARAM_NAME_MAX, &s, &l, err) != 0 ||
		    andon_ops_required(item, "Value", 0, SM_PARAM_VALUE_MAX, &s, &l, err) != 0)
			return -1;
	}
	return 0;
}

/* check_name_values, then passes the list to the engine as msgpack under name. */
static int name_values(const andon_ctx_t *ctx, const andon_req_t *req, const char *field, size_t max,
		       andon_call_t *call, const char *name, andon_apierr_t *err)
{
	const msgpack_object *o = andon_codec_get(req->body, field);
	const char *packed;
	size_t len;

	if (check_name_values(req, field, max, err) != 0)
		return -1;
	if (o == NULL)
		return 0;
	if (andon_ops_pack(ctx->arena, o, &packed, &len) != 0)
		return andon_apierr(err, "InternalFailure", 500, "request too large for the batch arena");
	andon_call_field(call, name, packed, len);
	return 0;
}

/* The Andon extension StopTimeoutSeconds (1 second to a year): the escalation of a stop (docs/sagemaker.md
 * 3.5), passed to the engine when given. */
static int stop_timeout_field(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
			      andon_apierr_t *err)
{
	return andon_ops_int_field(ctx, req->body, call, "StopTimeoutSeconds", 1, 31536000, err);
}

static int sm_start_pipeline_execution(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
				       andon_apierr_t *err)
{
	static const char base36[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	const char *name, *token;
	size_t name_len, token_len;
	char lower[SM_PIPELINE_MAX + 1], id[SM_EXEC_ID_LEN + 1];
	const char *arn, *parr;
	size_t n, parr_len;
	uint64_t h;
	int rc;

	if (andon_ops_required(req->body, "PipelineName", 1, SM_PIPELINE_MAX, &name, &name_len, err) != 0)
		return -1;
	if (!pipeline_name_ok(name, name_len))
		return andon_apierr(err, "ValidationException", 400,
				    "PipelineName must match ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$");
	rc = andon_ops_str(req->body, "ClientRequestToken", 32, 128, "ValidationException", &token,
			   &token_len, err);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		token = req->id;
		token_len = req->id_len;
	}
	/* The execution id comes from the idempotency token (or the request id), so a retried start names
	 * the same execution: 12 base-36 characters of a 64-bit hash of account, pipeline and token. */
	for (size_t i = 0; i < name_len; i++)
		lower[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
	h = andon_hash64(ANDON_HASH64_INIT, ctx->account, strlen(ctx->account));
	h = andon_hash64(h, "\n", 1);
	h = andon_hash64(h, lower, name_len);
	h = andon_hash64(h, "\n", 1);
	h = andon_hash64(h, token, token_len);
	for (int i = SM_EXEC_ID_LEN - 1; i >= 0; i--, h /= 36)
		id[i] = base36[h % 36];
	id[SM_EXEC_ID_LEN] = '\0';
	if ((parr = andon_arena_printf(ctx->arena, &parr_len, "arn:aws:sagemaker:%s:%s:pipeline/%.*s",
				       ctx->region, ctx->account, (int)name_len, lower)) == NULL ||
	    (arn = andon_arena_printf(ctx->arena, &n, "%s/execution/%s", parr, id)) == NULL)
		return andon_apierr(err, "InternalFailure", 500, "request too large for the batch arena");
	andon_call_begin(call, "sm_start");
	add_keys(call, ctx, arn, n);
	args_head(call, req);
	andon_call_field(call, "arn", arn, n);
	andon_call_field(call, "pipeline", name, name_len);
	andon_call_field(call, "pipelineArn", parr, parr_len);
	andon_call_field(call, "account", ctx->account, strlen(ctx->account));
	if (rc == 1)
		andon_call_field(call, "ClientRequestToken", token, token_len);
	if (stop_timeout_field(ctx, req, call, err) != 0)
		return -1;
	return name_values(ctx, req, "PipelineParameters", SM_PARAMS_MAX, call, "params", err);
}

/* The engine reports that a step started: a Callback step (handler topic, Arguments, optional timeout)
 * or a Lambda step (TimeoutSeconds, default 120). */
static int sm_start_step(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
			 andon_apierr_t *err)
{
	const char *step, *type, *topic, *packed;
	size_t step_len, type_len, topic_len, len;
	const msgpack_object *args;
	int64_t timeout = 0;
	int callback, rc, has_timeout;
	char num[24];

	if (exec_call(ctx, req, call, "sm_step_start", err) != 0 ||
	    andon_ops_required(req->body, "StepName", 1, SM_STEP_MAX, &step, &step_len, err) != 0 ||
	    andon_ops_required(req->body, "StepType", 1, 16, &type, &type_len, err) != 0)
		return -1;
	if (!step_name_ok(step, step_len))
		return andon_apierr(err, "ValidationException", 400,
				    "StepName must match ^[A-Za-z0-9\\-_]{1,64}$");
	callback = is(type, type_len, "Callback");
	if (!callback && !is(type, type_len, "Lambda"))
		return andon_apierr(err, "ValidationException", 400, "StepType must be Callback or Lambda");
	has_timeout = andon_codec_get_int(req->body, "TimeoutSeconds", &timeout);
	if (has_timeout < 0 ||
	    (has_timeout == 1 &&
	     (timeout < 1 || timeout > (callback ? SM_CALLBACK_TIMEOUT_MAX : SM_LAMBDA_TIMEOUT_MAX))))
		return andon_apierr(err, "ValidationException", 400,
				    "TimeoutSeconds must be an integer from 1 to %d",
				    callback ? SM_CALLBACK_TIMEOUT_MAX : SM_LAMBDA_TIMEOUT_MAX);
	if (!callback && has_timeout == 0) {
		timeout = 120; /* SageMaker's default for a Lambda step */
		has_timeout = 1;
	}
	andon_call_field(call, "step", step, step_len);
	andon_call_field(call, "type", type, type_len);
	if (has_timeout == 1) {
		snprintf(num, sizeof(num), "%lld", (long long)timeout);
		andon_call_field(call, "timeout", andon_arena_strndup(ctx->arena, num, strlen(num)),
				 strlen(num));
	}
	rc = andon_ops_str(req->body, "Topic", 1, 249, "ValidationException", &topic, &topic_len, err);
	if (rc < 0)
		return -1;
	args = andon_codec_get(req->body, "Arguments");
	if (!callback && (rc == 1 || args != NULL))
		return andon_apierr(err, "ValidationException", 400,
				    "Topic and Arguments are for Callback steps");
	if (rc == 1) {
		if (!andon_proto_topic_ok(topic, topic_len))
			return andon_apierr(err, "ValidationException", 400,
					    "Topic is not a legal Kafka topic name");
		andon_call_field(call, "topic", topic, topic_len);
	} else if (callback && ctx->cfg->legacy_topic_names) {
		andon_call_field(call, "legacyTopics", "1", 1);
	}
	if (args != NULL) {
		if (args->type != MSGPACK_OBJECT_MAP || args->via.map.size > SM_ARGS_MAX)
			return andon_apierr(err, "ValidationException", 400,
					    "Arguments must be a map of at most %d entries", SM_ARGS_MAX);
		for (uint32_t i = 0; i < args->via.map.size; i++)
			if (args->via.map.ptr[i].key.type != MSGPACK_OBJECT_STR)
				return andon_apierr(err, "ValidationException", 400,
						    "Arguments must have string keys");
		if (andon_ops_pack(ctx->arena, args, &packed, &len) != 0)
			return andon_apierr(err, "InternalFailure", 500,
					    "request too large for the batch arena");
		andon_call_field(call, "args", packed, len);
	}
	return 0;
}

/* The engine reports that a Lambda step's function finished. */
static int sm_finish_step(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
			  andon_apierr_t *err)
{
	const char *step, *status;
	size_t step_len, status_len;
	int ok;

	if (exec_call(ctx, req, call, "sm_step_finish", err) != 0 ||
	    andon_ops_required(req->body, "StepName", 1, SM_STEP_MAX, &step, &step_len, err) != 0 ||
	    andon_ops_required(req->body, "StepStatus", 1, 16, &status, &status_len, err) != 0)
		return -1;
	if (!step_name_ok(step, step_len))
		return andon_apierr(err, "ValidationException", 400,
				    "StepName must match ^[A-Za-z0-9\\-_]{1,64}$");
	ok = is(status, status_len, "Succeeded");
	if (!ok && !is(status, status_len, "Failed"))
		return andon_apierr(err, "ValidationException", 400,
				    "StepStatus must be Succeeded or Failed");
	if (ok && andon_codec_get(req->body, "FailureReason") != NULL)
		return andon_apierr(err, "ValidationException", 400,
				    "FailureReason is for StepStatus Failed");
	if (!ok && andon_codec_get(req->body, "OutputParameters") != NULL)
		return andon_apierr(err, "ValidationException", 400,
				    "OutputParameters are for StepStatus Succeeded");
	andon_call_field(call, "step", step, step_len);
	andon_call_field(call, "status", status, status_len);
	if (opt_field(req, call, "FailureReason", 0, SM_REASON_MAX, err) != 0)
		return -1;
	return name_values(ctx, req, "OutputParameters", SM_OUTPUTS_MAX, call, "outputs", err);
}

/* A SageMaker event of a compact answer: the execution's change, or with st set, a step's. */
static int sm_event(andon_built_t *b, const andon_req_t *req, const char *account, const char *arn,
		    size_t arn_len, const char *status, const char *previous, int64_t ms, int64_t hid,
		    const andon_event_t *step)
{
	andon_event_t ev = {.service = "SageMaker",
			    .resource = arn,
			    .resource_len = arn_len,
			    .status = status,
			    .previous = previous,
			    .time_ms = ms,
			    .history_id = hid,
			    .request_id = req->id,
			    .request_id_len = req->id_len,
			    .account = account};

	if (step != NULL) {
		ev.step = step->step;
		ev.step_len = step->step_len;
		ev.step_type = step->step_type;
		ev.step_status = step->step_status;
		ev.previous_step_status = step->previous_step_status;
	}
	return andon_answer_event(b, &ev);
}

/* The message a callback step's handler gets on its topic, keyed by the execution (docs/sagemaker.md). */
static int callback_message(andon_built_t *b, const char *topic, size_t topic_len, const char *arn,
			    size_t arn_len, const char *token, size_t token_len, const char *name,
			    size_t name_len, const char *args, size_t args_len, const char *status,
			    const char *account)
{
	if (andon_built_out_begin(b, topic, topic_len, arn, arn_len) != 0)
		return -1;
	msgpack_pack_map(&b->pk, 6);
	andon_answer_kv(&b->pk, "token", token, token_len);
	andon_answer_kv(&b->pk, "pipelineExecutionArn", arn, arn_len);
	andon_answer_kv(&b->pk, "stepName", name, name_len);
	andon_answer_raw(b, "arguments", args, args_len);
	andon_answer_kv(&b->pk, "status", status, strlen(status));
	andon_answer_kv(&b->pk, "account", account, strlen(account));
	andon_built_out_end(b);
	return 0;
}

/* The reply body every stop and callback result gets: {PipelineExecutionArn}. */
static void arn_body(andon_built_t *b, const char *arn, size_t len)
{
	msgpack_pack_map(&b->pk, 1);
	andon_answer_kv(&b->pk, "PipelineExecutionArn", arn, len);
	andon_built_body_end(b);
}

/*
 * StopPipelineExecution from sm_stop's {arn, ms, hid, final status, final hid, [step, hid, token, topic,
 * arguments]...}: the reply, then in the engine's order the Stopping event, each callback step's Stopping
 * event and message, and the final event when no step was running.
 */
static int sm_stop_build(const andon_req_t *req, const char *account, const redisReply *f, andon_built_t *b)
{
	const char *arn, *fin;
	size_t arn_len, fin_len;
	int64_t ms, hid, fhid;

	if ((arn = andon_answer_str(f, 0, &arn_len)) == NULL || andon_answer_int(f, 1, &ms) != 0 ||
	    andon_answer_int(f, 2, &hid) != 0 || (fin = andon_answer_str(f, 3, &fin_len)) == NULL ||
	    andon_answer_int(f, 4, &fhid) != 0 || (f->elements - 5) % 5 != 0)
		return -1;
	arn_body(b, arn, arn_len);
	if (hid == 0)
		return 0;
	if (sm_event(b, req, account, arn, arn_len, "Stopping", "Executing", ms, hid, NULL) != 0)
		return -1;
	for (size_t i = 5; i < f->elements; i += 5) {
		const char *name, *token, *topic, *args;
		size_t name_len, token_len, topic_len, args_len;
		int64_t shid;

		if ((name = andon_answer_str(f, i, &name_len)) == NULL ||
		    andon_answer_int(f, i + 1, &shid) != 0 ||
		    (token = andon_answer_str(f, i + 2, &token_len)) == NULL ||
		    (topic = andon_answer_str(f, i + 3, &topic_len)) == NULL ||
		    (args = andon_answer_str(f, i + 4, &args_len)) == NULL || args_len == 0 ||
		    sm_event(b, req, account, arn, arn_len, "Stopping", NULL, ms, shid,
			     &(andon_event_t){.step = name,
					      .step_len = name_len,
					      .step_type = "Callback",
					      .step_status = "Stopping",
					      .previous_step_status = "Executing"}) != 0 ||
		    callback_message(b, topic, topic_len, arn, arn_len, token, token_len, name, name_len,
				     args, args_len, "Stopping", account) != 0)
			return -1;
	}
	if (fin_len > 0 && sm_event(b, req, account, arn, arn_len, fin, "Stopping", ms, fhid, NULL) != 0)
		return -1;
	return 0;
}

/*
 * A callback step's result from sm_callback's {arn, ms, step, hid, step type, step status, previous step
 * status, execution status, final status, final hid}: the reply, the step's event, and the execution's
 * final event when this was the last step a stop waited for.
 */
static int sm_callback_build(const andon_req_t *req, const char *account, const redisReply *f,
			     andon_built_t *b)
{
	const char *arn, *name, *type, *st, *prev, *exec, *fin;
	size_t arn_len, name_len, len, fin_len;
	int64_t ms, hid, fhid;

	if (f->elements != 10 || (arn = andon_answer_str(f, 0, &arn_len)) == NULL ||
	    andon_answer_int(f, 1, &ms) != 0 || (name = andon_answer_str(f, 2, &name_len)) == NULL ||
	    andon_answer_int(f, 3, &hid) != 0 || (type = andon_answer_str(f, 4, &len)) == NULL ||
	    (st = andon_answer_str(f, 5, &len)) == NULL || (prev = andon_answer_str(f, 6, &len)) == NULL ||
	    (exec = andon_answer_str(f, 7, &len)) == NULL ||
	    (fin = andon_answer_str(f, 8, &fin_len)) == NULL || andon_answer_int(f, 9, &fhid) != 0)
		return -1;
	arn_body(b, arn, arn_len);
	if (sm_event(b, req, account, arn, arn_len, exec, NULL, ms, hid,
		     &(andon_event_t){.step = name,
				      .step_len = name_len,
				      .step_type = type,
				      .step_status = st,
				      .previous_step_status = prev}) != 0)
		return -1;
	if (fin_len > 0 && sm_event(b, req, account, arn, arn_len, fin, exec, ms, fhid, NULL) != 0)
		return -1;
	return 0;
}

static int sm_stop_pipeline_execution(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
				      andon_apierr_t *err)
{
	const char *crt;
	size_t len;

	/* SageMaker's API requires the idempotency token of a stop (the SDKs fill it in). */
	if (exec_call(ctx, req, call, "sm_stop", err) != 0 ||
	    andon_ops_required(req->body, "ClientRequestToken", 32, 128, &crt, &len, err) != 0)
		return -1;
	andon_call_field(call, "ClientRequestToken", crt, len);
	call->build = sm_stop_build;
	return stop_timeout_field(ctx, req, call, err);
}

/* The engine reports that the execution ended. */
static int sm_finish_pipeline_execution(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
					andon_apierr_t *err)
{
	const char *status;
	size_t len;

	if (exec_call(ctx, req, call, "sm_finish", err) != 0 ||
	    andon_ops_required(req->body, "PipelineExecutionStatus", 1, 16, &status, &len, err) != 0)
		return -1;
	if (!is(status, len, "Succeeded") && !is(status, len, "Failed"))
		return andon_apierr(err, "ValidationException", 400,
				    "PipelineExecutionStatus must be Succeeded or Failed");
	if (is(status, len, "Succeeded") && andon_codec_get(req->body, "FailureReason") != NULL)
		return andon_apierr(err, "ValidationException", 400,
				    "FailureReason is for PipelineExecutionStatus Failed");
	andon_call_field(call, "status", status, len);
	return opt_field(req, call, "FailureReason", 0, SM_EXEC_REASON_MAX, err);
}

static int sm_describe_pipeline_execution(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
					  andon_apierr_t *err)
{
	const char *arn;
	size_t len;

	if (read_arn(ctx, req, &arn, &len, err) != 0)
		return -1;
	andon_call_begin(call, "sm_describe");
	andon_call_key(call, ctx->arena, arn, len, "x");
	args_head(call, req);
	andon_call_field(call, "arn", arn, len);
	return 0;
}

static int sm_list_history(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
			   andon_apierr_t *err)
{
	const char *arn;
	size_t len;
	int64_t max = 100;
	char num[24];

	if (read_arn(ctx, req, &arn, &len, err) != 0)
		return -1;
	if (andon_codec_get_int(req->body, "MaxResults", &max) < 0 || max < 1 || max > 100)
		return andon_apierr(err, "ValidationException", 400,
				    "MaxResults must be an integer from 1 to 100");
	andon_call_begin(call, "sm_history");
	andon_call_key(call, ctx->arena, arn, len, "x");
	andon_call_key(call, ctx->arena, arn, len, "h");
	args_head(call, req);
	andon_call_field(call, "arn", arn, len);
	snprintf(num, sizeof(num), "%lld", (long long)max);
	andon_call_field(call, "max", andon_arena_strndup(ctx->arena, num, strlen(num)), strlen(num));
	return opt_field(req, call, "NextToken", 1, 1024, err);
}

/* Callback results name their execution only by token: a lookup first (ops.h), then sm_callback. */
static int token_ok(const andon_req_t *req, const char **token, andon_apierr_t *err)
{
	size_t len;

	if (andon_ops_required(req->body, "CallbackToken", 1, 64, token, &len, err) != 0)
		return -1;
	if (len != SM_TOKEN_LEN)
		goto bad;
	for (size_t i = 0; i < len; i++)
		if (!is_alnum((unsigned char)(*token)[i]))
			goto bad;
	return 0;
bad:
	return andon_apierr(err, "ValidationException", 400,
			    "CallbackToken must be 10 characters of [a-zA-Z0-9]");
}

static int callback_lookup(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
			   andon_resolve_fn *resolve, andon_apierr_t *err)
{
	const char *token, *key, *crt;
	size_t crt_len, n;

	if (token_ok(req, &token, err) != 0 || andon_ops_str(req->body, "ClientRequestToken", 32, 128,
							     "ValidationException", &crt, &crt_len, err) < 0)
		return -1;
	if ((key = andon_arena_printf(ctx->arena, &n, "andon:{sm-token:%.*s}:exec", SM_TOKEN_LEN, token)) ==
	    NULL)
		return andon_apierr(err, "InternalFailure", 500, "request too large for the batch arena");
	andon_call_command(call, "GET");
	andon_call_arg(call, key, n);
	call->resolve = resolve;
	return 0;
}

/* Builds sm_callback on the execution the token's index names (arn), or answers ResourceNotFound. */
static int callback_call(const andon_ctx_t *ctx, const andon_req_t *req, const char *arn, size_t len,
			 andon_call_t *call, const char *result, andon_apierr_t *err)
{
	const char *token;

	token_ok(req, &token, err);
	if (arn == NULL || check_arn(ctx, arn, len, err) != 0)
		return andon_apierr_answer(err, "ResourceNotFound", 400,
					   "Callback token '%.*s' is unknown or was already used",
					   SM_TOKEN_LEN, token);
	andon_call_begin(call, "sm_callback");
	add_keys(call, ctx, arn, len);
	args_head(call, req);
	andon_call_field(call, "arn", arn, len);
	andon_call_field(call, "token", token, SM_TOKEN_LEN);
	andon_call_field(call, "result", result, strlen(result));
	if (client_token(req, call, err) != 0 ||
	    opt_field(req, call, "FailureReason", 0, SM_REASON_MAX, err) != 0)
		return -1;
	call->build = sm_callback_build;
	return name_values(ctx, req, "OutputParameters", SM_OUTPUTS_MAX, call, "outputs", err);
}

static int success_call(const andon_ctx_t *ctx, const andon_req_t *req, const char *arn, size_t len,
			andon_call_t *call, andon_apierr_t *err)
{
	return callback_call(ctx, req, arn, len, call, "Success", err);
}

static int failure_call(const andon_ctx_t *ctx, const andon_req_t *req, const char *arn, size_t len,
			andon_call_t *call, andon_apierr_t *err)
{
	return callback_call(ctx, req, arn, len, call, "Failure", err);
}

static int sm_send_step_success(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
				andon_apierr_t *err)
{
	if (andon_codec_get(req->body, "FailureReason") != NULL)
		return andon_apierr(err, "ValidationException", 400,
				    "FailureReason is not a field of this action");
	/* Validate the outputs now, so bad input never waits for the lookup. */
	if (check_name_values(req, "OutputParameters", SM_OUTPUTS_MAX, err) != 0)
		return -1;
	return callback_lookup(ctx, req, call, success_call, err);
}

static int sm_send_step_failure(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
				andon_apierr_t *err)
{
	const char *s;
	size_t len;

	if (andon_codec_get(req->body, "OutputParameters") != NULL)
		return andon_apierr(err, "ValidationException", 400,
				    "OutputParameters is not a field of this action");
	if (andon_ops_str(req->body, "FailureReason", 0, SM_REASON_MAX, "ValidationException", &s, &len,
			  err) < 0)
		return -1;
	return callback_lookup(ctx, req, call, failure_call, err);
}

/* A date field (epoch seconds) as epoch ms: 1 found, 0 absent, -1 with err set. */
static int date_ms(const andon_req_t *req, const char *field, int64_t *ms, andon_apierr_t *err)
{
	int rc = andon_ops_epoch_ms(req->body, field, ms);

	if (rc < 0)
		return andon_apierr(err, "ValidationException", 400, "%s must be a date (epoch seconds)",
				    field);
	return rc;
}

/*
 * ListPipelineExecutions: one page of the pipeline's List index (docs/REDIS.md, section 13), in the
 * pipeline's slot. PipelineName is a name or the pipeline's ARN; CreatedAfter and CreatedBefore are
 * exclusive; SortBy CreationTime only.
 */
static int sm_list_executions(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
			      andon_apierr_t *err)
{
	const char *name, *sort = NULL, *by = NULL, *parr;
	size_t name_len, sort_len = 0, by_len = 0, parr_len, prefix_len;
	char lower[SM_PIPELINE_MAX + 1], num[3][24], prefix[160];
	int64_t max = 50, after = -1, before = -1;
	int rc;

	if (andon_ops_required(req->body, "PipelineName", 1, 2048, &name, &name_len, err) != 0)
		return -1;
	/* The caller's own pipeline ARN names the pipeline too; any other ARN names none of theirs. */
	prefix_len = (size_t)snprintf(prefix, sizeof(prefix), "arn:aws:sagemaker:%s:%s:pipeline/",
				      ctx->region, ctx->account);
	if (name_len > 4 && memcmp(name, "arn:", 4) == 0) {
		if (name_len <= prefix_len || memcmp(name, prefix, prefix_len) != 0)
			return andon_apierr_answer(err, "ResourceNotFound", 400,
						   "Pipeline '%.*s' does not exist", (int)name_len, name);
		name += prefix_len;
		name_len -= prefix_len;
	}
	if (!pipeline_name_ok(name, name_len))
		return andon_apierr(err, "ValidationException", 400,
				    "PipelineName must match ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$");
	for (size_t i = 0; i < name_len; i++)
		lower[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
	if ((parr = andon_arena_printf(ctx->arena, &parr_len, "%s%.*s", prefix, (int)name_len, lower)) ==
	    NULL)
		return andon_apierr(err, "InternalFailure", 500, "request too large for the batch arena");
	if (andon_codec_get_int(req->body, "MaxResults", &max) < 0 || max < 1 || max > 100)
		return andon_apierr(err, "ValidationException", 400,
				    "MaxResults must be an integer from 1 to 100");
	if (date_ms(req, "CreatedAfter", &after, err) < 0 || date_ms(req, "CreatedBefore", &before, err) < 0)
		return -1;
	if ((rc = andon_ops_str(req->body, "SortOrder", 1, 16, "ValidationException", &sort, &sort_len,
				err)) < 0)
		return -1;
	if (rc == 1 && !(sort_len == 9 && memcmp(sort, "Ascending", 9) == 0) &&
	    !(sort_len == 10 && memcmp(sort, "Descending", 10) == 0))
		return andon_apierr(err, "ValidationException", 400,
				    "SortOrder must be Ascending or Descending");
	if ((rc = andon_ops_str(req->body, "SortBy", 1, 32, "ValidationException", &by, &by_len, err)) < 0)
		return -1;
	if (rc == 1 && !(by_len == 12 && memcmp(by, "CreationTime", 12) == 0))
		return andon_apierr(
		    err, "ValidationException", 400,
		    "SortBy must be CreationTime (PipelineExecutionArn is not supported by Andon)");
	andon_call_begin(call, "sm_list");
	andon_call_key(call, ctx->arena, parr, parr_len, "ix");
	andon_call_key(call, ctx->arena, parr, parr_len, "ixs");
	args_head(call, req);
	snprintf(num[0], sizeof(num[0]), "%lld", (long long)max);
	andon_call_field(call, "max", andon_arena_strndup(ctx->arena, num[0], strlen(num[0])),
			 strlen(num[0]));
	andon_call_field(call, "asc", sort_len == 9 ? "1" : "0", 1);
	if (after >= 0) {
		snprintf(num[1], sizeof(num[1]), "%lld", (long long)after + 1);
		andon_call_field(call, "from", andon_arena_strndup(ctx->arena, num[1], strlen(num[1])),
				 strlen(num[1]));
	}
	if (before >= 0) {
		snprintf(num[2], sizeof(num[2]), "%lld", (long long)before - 1);
		andon_call_field(call, "to", andon_arena_strndup(ctx->arena, num[2], strlen(num[2])),
				 strlen(num[2]));
	}
	return opt_field(req, call, "NextToken", 1, 32768, err);
}

const andon_op_t andon_sm_ops[] = {
    {"SageMaker.StartPipelineExecution", sm_start_pipeline_execution, 413},
    {"SageMaker.StartPipelineExecutionStep", sm_start_step, 413},
    {"SageMaker.FinishPipelineExecutionStep", sm_finish_step, 413},
    {"SageMaker.FinishPipelineExecution", sm_finish_pipeline_execution, 413},
    {"SageMaker.StopPipelineExecution", sm_stop_pipeline_execution, 413},
    {"SageMaker.DescribePipelineExecution", sm_describe_pipeline_execution, 413},
    {"SageMaker.ListPipelineExecutionHistory", sm_list_history, 413},
    {"SageMaker.ListPipelineExecutions", sm_list_executions, 413},
    {"SageMaker.SendPipelineExecutionStepSuccess", sm_send_step_success, 413},
    {"SageMaker.SendPipelineExecutionStepFailure", sm_send_step_failure, 413},
    {NULL, NULL, 0},
};
