/* api_sfn: the AWS Step Functions adapter (validation, ARNs, error names); the engine side is lua/10-sfn.lua.
 */
#include "answer.h"
#include "codec.h"
#include "kms.h"
#include "ops.h"
#include "utf8.h"
#include "util.h"

#include <hiredis.h>
#include <stdio.h>
#include <string.h>

#define SFN_NAME_MAX	80
#define SFN_ARN_MAX	2048
#define SFN_ERROR_MAX	256
#define SFN_CAUSE_MAX	32768
#define SFN_PAYLOAD_MAX 262144 /* input and output, in characters */

/* A parsed Step Functions ARN: arn:PARTITION:states:REGION:ACCOUNT:RESOURCE:NAME[:NAME2[:UUID]]. */
typedef struct sfn_arn {
	const char *part[9];
	size_t len[9];
	int n;
} sfn_arn_t;

static int split_arn(const char *s, size_t len, sfn_arn_t *a)
{
	size_t start = 0;

	a->n = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != ':')
			continue;
		if (a->n == 9)
			return -1;
		a->part[a->n] = s + start;
		a->len[a->n] = i - start;
		if (a->len[a->n] == 0)
			return -1;
		a->n++;
		start = i + 1;
	}
	return 0;
}

static int part_is(const sfn_arn_t *a, int i, const char *s)
{
	return a->len[i] == strlen(s) && memcmp(a->part[i], s, a->len[i]) == 0;
}

/* Step Functions names: 1-80 characters, none of white space, brackets, wildcards or the listed punctuation.
 */
static int sfn_name_ok(const char *s, size_t len)
{
	size_t chars;

	if (andon_utf8_count(s, len, &chars, NULL) != 0 || chars < 1 || chars > SFN_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c == 0x7f || strchr("<>{}[]?*\"#%\\^|~`$&,;:/", c) != NULL)
			return 0;
	}
	return 1;
}

/*
 * Writes the execution's identity, the standard-form ARN of execution `name` of the state machine that
 * a (an execution or state machine ARN) names, into buf. Returns its length, or -1 with InvalidArn when it
 * does not fit (2048 characters of multibyte names can be longer than buf).
 */
static int execution_id(const sfn_arn_t *a, const char *name, size_t name_len, char *buf, size_t size,
			andon_apierr_t *err)
{
	int n = snprintf(buf, size, "arn:%.*s:states:%.*s:%.*s:execution:%.*s:%.*s", (int)a->len[1],
			 a->part[1], (int)a->len[3], a->part[3], (int)a->len[4], a->part[4], (int)a->len[6],
			 a->part[6], (int)name_len, name);

	if (n < 0 || (size_t)n >= size)
		return andon_apierr(err, "InvalidArn", 400, "Invalid Arn: too long");
	return n;
}

/*
 * Reads body.field as an execution ARN (either the standard "execution" form or the EXPRESS
 * "express:SM:NAME:UUID" form) and adds the execution's keys for each suffix. The execution's identity
 * (its hash tag) is always the standard form, so both spellings reach the same keys.
 */
static int exec_keys(const andon_ctx_t *ctx, const msgpack_object *body, andon_call_t *call,
		     const char *const *suffixes, andon_apierr_t *err, const char **arn, size_t *arn_len)
{
	char id[SFN_ARN_MAX * 4 + 32]; /* 2048 characters of up to 4 bytes */
	sfn_arn_t a;
	int n;

	if (andon_ops_required(body, "executionArn", 1, SFN_ARN_MAX, arn, arn_len, err) != 0)
		return -1;
	if (split_arn(*arn, *arn_len, &a) != 0 || a.n < 8 || !part_is(&a, 0, "arn") ||
	    !part_is(&a, 2, "states") ||
	    !((part_is(&a, 5, "execution") && a.n == 8) || (part_is(&a, 5, "express") && a.n == 9)) ||
	    !sfn_name_ok(a.part[6], a.len[6]) || !sfn_name_ok(a.part[7], a.len[7]))
		return andon_apierr(err, "InvalidArn", 400, "Invalid Arn: '%.*s'", (int)*arn_len, *arn);
	/* Another account's execution is reported as missing: a request never learns what others own. */
	if (!part_is(&a, 4, ctx->account))
		return andon_apierr_answer(err, "ExecutionDoesNotExist", 400,
					   "Execution Does Not Exist: '%.*s'", (int)*arn_len, *arn);
	if ((n = execution_id(&a, a.part[7], a.len[7], id, sizeof(id), err)) < 0)
		return -1;
	for (const char *const *s = suffixes; *s != NULL; s++)
		andon_call_key(call, ctx->arena, id, (size_t)n, *s);
	return 0;
}

static const char *const exec_xhr[] = {"x", "h", "r", NULL};

/* Adds an optional string field with its length limit, under the same name for the engine. */
static int opt_field(const msgpack_object *body, andon_call_t *call, const char *field, size_t max,
		     andon_apierr_t *err)
{
	const char *s;
	size_t len;
	int rc = andon_ops_str(body, field, 0, max, "ValidationException", &s, &len, err);

	if (rc > 0)
		andon_call_field(call, field, s, len);
	return rc < 0 ? -1 : 0;
}

static void args_head(andon_call_t *call, const andon_req_t *req)
{
	andon_call_arg(call, req->id, req->id_len);
	andon_call_arg(call, req->op, req->op_len);
}

/*
 * encryptionConfiguration {type: AWS_OWNED_KEY | CUSTOMER_MANAGED_KMS_KEY, kmsKeyId,
 * kmsDataKeyReusePeriodSeconds} as Step Functions spells it: a customer key's id (a key ARN
 * "arn:aws:kms:REGION:ACCOUNT:key/ID" or the bare ID) goes to the engine as the field kmsKeyId; its use is
 * checked at each stop (kms.h).
 */
static int encryption(const msgpack_object *body, andon_call_t *call, andon_apierr_t *err)
{
	const msgpack_object *ec = andon_codec_map_get(body, "encryptionConfiguration");
	const char *type, *key, *slash;
	size_t type_len, key_len;
	int rc;

	if (ec == NULL)
		return 0;
	if (ec->type != MSGPACK_OBJECT_MAP)
		return andon_apierr(err, "ValidationException", 400,
				    "encryptionConfiguration must be an object");
	if (andon_ops_required(ec, "type", 1, 32, &type, &type_len, err) != 0)
		return -1;
	if ((rc = andon_ops_str(ec, "kmsKeyId", 1, 2048, "ValidationException", &key, &key_len, err)) < 0)
		return -1;
	if (type_len == 13 && memcmp(type, "AWS_OWNED_KEY", 13) == 0) {
		if (rc == 1)
			return andon_apierr(err, "ValidationException", 400,
					    "kmsKeyId is only for type CUSTOMER_MANAGED_KMS_KEY");
		return 0;
	}
	if (!(type_len == 24 && memcmp(type, "CUSTOMER_MANAGED_KMS_KEY", 24) == 0))
		return andon_apierr(
		    err, "ValidationException", 400,
		    "encryptionConfiguration.type must be AWS_OWNED_KEY or CUSTOMER_MANAGED_KMS_KEY");
	if (rc == 0)
		return andon_apierr(err, "ValidationException", 400,
				    "kmsKeyId is required for type CUSTOMER_MANAGED_KMS_KEY");
	/* An ARN names the key by its last part. */
	if (key_len > 8 && memcmp(key, "arn:", 4) == 0 && (slash = memchr(key, '/', key_len)) != NULL) {
		key_len -= (size_t)(slash + 1 - key);
		key = slash + 1;
	}
	if (key_len == 0 || key_len > 63 || !andon_proto_token_ok(key, key_len, 63))
		return andon_apierr(err, "InvalidEncryptionConfiguration", 400,
				    "kmsKeyId is not a key id or ARN");
	andon_call_field(call, "kmsKeyId", key, key_len);
	return 0;
}

static int sfn_create_state_machine(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
				    andon_apierr_t *err)
{
	const char *name, *type = "STANDARD", *arn;
	size_t name_len, type_len = 8, n;
	int rc;

	if (andon_ops_required(req->body, "name", 0, 4096, &name, &name_len, err) != 0)
		return -1;
	if (!sfn_name_ok(name, name_len))
		return andon_apierr(err, "InvalidName", 400, "Invalid Name: '%.*s'", (int)name_len, name);
	rc = andon_ops_str(req->body, "type", 0, 16, "ValidationException", &type, &type_len, err);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		type = "STANDARD";
		type_len = 8;
	}
	if (!((type_len == 8 && memcmp(type, "STANDARD", 8) == 0) ||
	      (type_len == 7 && memcmp(type, "EXPRESS", 7) == 0)))
		return andon_apierr(err, "ValidationException", 400, "type must be STANDARD or EXPRESS");
	if ((arn = andon_arena_printf(ctx->arena, &n, "arn:aws:states:%s:%s:stateMachine:%.*s", ctx->region,
				      ctx->account, (int)name_len, name)) == NULL)
		return andon_apierr(err, "InternalFailure", 500, "request too large for the batch arena");
	andon_call_begin(call, "sfn_create");
	andon_call_key(call, ctx->arena, arn, n, "sm");
	andon_call_key(call, ctx->arena, arn, n, "r");
	args_head(call, req);
	andon_call_field(call, "arn", arn, n);
	andon_call_field(call, "name", name, name_len);
	andon_call_field(call, "type", type, type_len);
	andon_call_field(call, "account", ctx->account, strlen(ctx->account));
	if (opt_field(req->body, call, "definition", 1048576, err) != 0 ||
	    opt_field(req->body, call, "roleArn", 256, err) != 0 || encryption(req->body, call, err) != 0)
		return -1;
	return 0;
}

/*
 * StartExecution in two steps, so that each call touches one slot (docs/REDIS.md, section 1): the first
 * round reads what a start needs of the state machine (sfn_sm_get on its 'sm', "type\nrole", NULL when it
 * does not exist); start_call() then builds sfn_start on the execution's keys with that as the field 'sm'.
 */
static int start_call(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call, const char *smv,
		      size_t smv_len, int lookup, andon_apierr_t *err);

static int sfn_start_resolve(const andon_ctx_t *ctx, const andon_req_t *req, const char *value, size_t len,
			     andon_call_t *call, andon_apierr_t *err)
{
	return start_call(ctx, req, call, value, len, 0, err);
}

static int sfn_start_execution(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
			       andon_apierr_t *err)
{
	return start_call(ctx, req, call, NULL, 0, 1, err);
}

static int start_call(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call, const char *smv,
		      size_t smv_len, int lookup, andon_apierr_t *err)
{
	const char *sm, *name, *input;
	size_t sm_len, name_len, input_len;
	char id[SFN_ARN_MAX * 4 + 4 * SFN_NAME_MAX + 32], gen[SFN_NAME_MAX + 1], why[256];
	sfn_arn_t a;
	int rc, n;

	if (andon_ops_required(req->body, "stateMachineArn", 1, SFN_ARN_MAX, &sm, &sm_len, err) != 0)
		return -1;
	if (split_arn(sm, sm_len, &a) != 0 || a.n != 7 || !part_is(&a, 0, "arn") ||
	    !part_is(&a, 2, "states") || !part_is(&a, 5, "stateMachine") || !sfn_name_ok(a.part[6], a.len[6]))
		return andon_apierr(err, "InvalidArn", 400, "Invalid Arn: '%.*s'", (int)sm_len, sm);
	if (!part_is(&a, 4, ctx->account))
		return andon_apierr_answer(err, "StateMachineDoesNotExist", 400,
					   "State Machine Does Not Exist: '%.*s'", (int)sm_len, sm);
	rc = andon_ops_str(req->body, "name", 0, 4096, "ValidationException", &name, &name_len, err);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		/* No name: derive it from the request id, so a replayed start names the same execution. */
		if (sfn_name_ok(req->id, req->id_len)) {
			name = req->id;
			name_len = req->id_len;
		} else {
			uint64_t h = andon_hash64(ANDON_HASH64_INIT, req->id, req->id_len);
			name_len = (size_t)snprintf(gen, sizeof(gen), "exec-%016llx", (unsigned long long)h);
			name = gen;
		}
	} else if (!sfn_name_ok(name, name_len)) {
		return andon_apierr(err, "InvalidName", 400, "Invalid Name: '%.*s'", (int)name_len, name);
	}
	rc = andon_ops_str(req->body, "input", 0, SFN_PAYLOAD_MAX, "InvalidExecutionInput", &input,
			   &input_len, err);
	if (rc < 0)
		return -1;
	if (rc == 1 && andon_ops_json(input, input_len, 0, why, sizeof(why)) != 0)
		return andon_apierr(err, "InvalidExecutionInput", 400,
				    "Invalid State Machine Execution Input: %s", why);
	if ((n = execution_id(&a, name, name_len, id, sizeof(id), err)) < 0)
		return -1;
	if (lookup) {
		andon_call_begin(call, "sfn_sm_get");
		andon_call_key(call, ctx->arena, sm, sm_len, "sm");
		call->resolve = sfn_start_resolve;
		return 0;
	}
	andon_call_begin(call, "sfn_start");
	andon_call_key(call, ctx->arena, id, (size_t)n, "x");
	andon_call_key(call, ctx->arena, id, (size_t)n, "h");
	andon_call_key(call, ctx->arena, id, (size_t)n, "r");
	args_head(call, req);
	andon_call_field(call, "arn", andon_arena_strndup(ctx->arena, id, (size_t)n), (size_t)n);
	andon_call_field(call, "smArn", sm, sm_len);
	andon_call_field(call, "name", andon_arena_strndup(ctx->arena, name, name_len), name_len);
	andon_call_field(call, "account", ctx->account, strlen(ctx->account));
	if (rc == 1)
		andon_call_field(call, "input", input, input_len);
	if (smv != NULL)
		andon_call_field(call, "sm", smv, smv_len);
	return 0;
}

/* Engine statuses as Step Functions names them (lua/10-sfn.lua, SFN). */
static const char *sfn_status(const char *st, size_t len)
{
	static const char *const names[][2] = {{"RUNNING", "RUNNING"},	   {"STOPPED", "ABORTED"},
					       {"SUCCEEDED", "SUCCEEDED"}, {"FAILED", "FAILED"},
					       {"TIMED_OUT", "TIMED_OUT"}, {NULL, NULL}};

	for (int i = 0; names[i][0] != NULL; i++)
		if (strlen(names[i][0]) == len && memcmp(names[i][0], st, len) == 0)
			return names[i][1];
	return NULL;
}

/*
 * StopExecution's answer from sfn_stop's {status, t0, t1, hid}: {stopDate, startDate, status} (startDate and
 * status are Andon extensions, so that a stop of an ended execution says how and when it ended), and with
 * hid > 0 the ExecutionAborted event of that change.
 */
static int sfn_stop_build(const andon_req_t *req, const char *account, const redisReply *f, andon_built_t *b)
{
	char id[SFN_ARN_MAX * 4 + 32];
	const char *st, *name, *arn;
	size_t st_len, arn_len;
	int64_t t0, t1, hid;
	andon_apierr_t err;
	sfn_arn_t a;
	int n;

	if ((st = andon_answer_str(f, 0, &st_len)) == NULL || (name = sfn_status(st, st_len)) == NULL ||
	    andon_answer_int(f, 1, &t0) != 0 || andon_answer_int(f, 2, &t1) != 0 ||
	    andon_answer_int(f, 3, &hid) != 0)
		return -1;
	msgpack_pack_map(&b->pk, 3);
	andon_codec_pack_cstr(&b->pk, "stopDate");
	andon_answer_date(&b->pk, t1);
	andon_codec_pack_cstr(&b->pk, "startDate");
	andon_answer_date(&b->pk, t0);
	andon_answer_kv(&b->pk, "status", name, strlen(name));
	andon_built_body_end(b);
	if (hid == 0)
		return 0;
	/* The event names the execution by its identity: the standard form of the ARN the request gave. */
	if (andon_codec_get_str(req->body, "executionArn", &arn, &arn_len) != 1 ||
	    split_arn(arn, arn_len, &a) != 0 || a.n < 8 ||
	    (n = execution_id(&a, a.part[7], a.len[7], id, sizeof(id), &err)) < 0)
		return -1;
	return andon_answer_event(b, &(andon_event_t){.service = "StepFunctions",
						      .resource = id,
						      .resource_len = (size_t)n,
						      .status = name,
						      .previous = "RUNNING",
						      .time_ms = t1,
						      .history_id = hid,
						      .request_id = req->id,
						      .request_id_len = req->id_len,
						      .account = account});
}

/* The history entry's own part, {type, executionAbortedEventDetails?}, after its map header: sfn_stop adds
 * id, previousEventId and timestamp between the two. */
static int aborted_entry(andon_arena_t *arena, const char *error, size_t error_len, const char *cause,
			 size_t cause_len, andon_call_t *call)
{
	int details = (error != NULL) + (cause != NULL);
	char *head = andon_arena_alloc(arena, 1), *tail;
	msgpack_packer pk;

	if (head == NULL || arena->cap - arena->used < error_len + cause_len + 96)
		return -1;
	*head = (char)(0x80 + 4 + (details > 0));
	andon_call_arg(call, head, 1);
	tail = arena->buf + arena->used;
	msgpack_packer_init(&pk, arena, andon_arena_write);
	andon_answer_kv(&pk, "type", "ExecutionAborted", 16);
	if (details > 0) {
		andon_codec_pack_cstr(&pk, "executionAbortedEventDetails");
		msgpack_pack_map(&pk, (size_t)details);
		if (error != NULL)
			andon_answer_kv(&pk, "error", error, error_len);
		if (cause != NULL)
			andon_answer_kv(&pk, "cause", cause, cause_len);
	}
	andon_call_arg(call, tail, (size_t)(arena->buf + arena->used - tail));
	return 0;
}

static int sfn_stop_execution(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
			      andon_apierr_t *err)
{
	const char *arn, *error = NULL, *cause = NULL;
	size_t arn_len, error_len = 0, cause_len = 0;

	andon_call_begin(call, "sfn_stop");
	if (exec_keys(ctx, req->body, call, exec_xhr, err, &arn, &arn_len) != 0 ||
	    andon_ops_str(req->body, "error", 0, SFN_ERROR_MAX, "ValidationException", &error, &error_len,
			  err) < 0 ||
	    andon_ops_str(req->body, "cause", 0, SFN_CAUSE_MAX, "ValidationException", &cause, &cause_len,
			  err) < 0)
		return -1;
	/* A state machine with a customer key: both sealed here, so Redis never sees them (kms.h). */
	if (ctx->kms != NULL && (error != NULL || cause != NULL)) {
		char sm[SFN_ARN_MAX * 4 + 32], id[SFN_ARN_MAX * 4 + 32];
		sfn_arn_t a;
		int n, sm_len;

		if (split_arn(arn, arn_len, &a) != 0 || a.n < 8 ||
		    (n = execution_id(&a, a.part[7], a.len[7], id, sizeof(id), err)) < 0)
			return andon_apierr(err, "InvalidArn", 400, "Invalid Arn: '%.*s'", (int)arn_len, arn);
		sm_len = snprintf(sm, sizeof(sm), "arn:%.*s:states:%.*s:%.*s:stateMachine:%.*s",
				  (int)a.len[1], a.part[1], (int)a.len[3], a.part[3], (int)a.len[4],
				  a.part[4], (int)a.len[6], a.part[6]);
		if (sm_len < 0 || (size_t)sm_len >= sizeof(sm))
			return andon_apierr(err, "InvalidArn", 400, "Invalid Arn: too long");
		if (error != NULL &&
		    andon_kms_seal(ctx->kms, sm, (size_t)sm_len, id, (size_t)n, ctx->account, ctx->key_id,
				   error, error_len, ctx->arena, &error, &error_len, err) < 0)
			return -1;
		if (cause != NULL &&
		    andon_kms_seal(ctx->kms, sm, (size_t)sm_len, id, (size_t)n, ctx->account, ctx->key_id,
				   cause, cause_len, ctx->arena, &cause, &cause_len, err) < 0)
			return -1;
	}
	/* Positional, for the hot path: id, op, arn, error, cause, the history entry's head and tail; the
	 * worker then appends '@acct' account and '@ret' retention (andon_request_stamp), read by position.
	 */
	args_head(call, req);
	andon_call_arg(call, arn, arn_len);
	andon_call_arg(call, error != NULL ? error : "", error_len);
	andon_call_arg(call, cause != NULL ? cause : "", cause_len);
	if (aborted_entry(ctx->arena, error, error_len, cause, cause_len, call) != 0)
		call->overflow =
		    1; /* the arena is full: answered InternalFailure, like a key that did not fit */
	call->build = sfn_stop_build;
	return 0;
}

static int sfn_finish_execution(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
				andon_apierr_t *err)
{
	static const char *const statuses[] = {"SUCCEEDED", "FAILED", "TIMED_OUT", NULL};
	const char *arn, *status, *output;
	size_t arn_len, status_len, output_len;
	int rc, known = 0, succeeded;
	char why[256];

	andon_call_begin(call, "sfn_finish");
	if (exec_keys(ctx, req->body, call, exec_xhr, err, &arn, &arn_len) != 0)
		return -1;
	if (andon_ops_required(req->body, "status", 1, 16, &status, &status_len, err) != 0)
		return -1;
	for (const char *const *s = statuses; *s != NULL; s++)
		known |= strlen(*s) == status_len && memcmp(*s, status, status_len) == 0;
	if (!known)
		return andon_apierr(err, "ValidationException", 400,
				    "status must be SUCCEEDED, FAILED or TIMED_OUT");
	args_head(call, req);
	andon_call_field(call, "arn", arn, arn_len);
	andon_call_field(call, "status", status, status_len);
	rc = andon_ops_str(req->body, "output", 0, SFN_PAYLOAD_MAX, "ValidationException", &output,
			   &output_len, err);
	if (rc < 0)
		return -1;
	/* SUCCEEDED carries an output; FAILED and TIMED_OUT carry an error and a cause, as their events do.
	 */
	succeeded = status_len == 9 && memcmp(status, "SUCCEEDED", 9) == 0;
	if (rc == 1 && !succeeded)
		return andon_apierr(err, "ValidationException", 400,
				    "output is only valid with status SUCCEEDED");
	if (succeeded && (andon_codec_map_get(req->body, "error") != NULL ||
			  andon_codec_map_get(req->body, "cause") != NULL))
		return andon_apierr(err, "ValidationException", 400,
				    "error and cause are not valid with status SUCCEEDED");
	if (rc == 1) {
		if (andon_ops_json(output, output_len, 0, why, sizeof(why)) != 0)
			return andon_apierr(err, "ValidationException", 400, "output must be JSON text: %s",
					    why);
		andon_call_field(call, "output", output, output_len);
	}
	if (opt_field(req->body, call, "error", SFN_ERROR_MAX, err) != 0 ||
	    opt_field(req->body, call, "cause", SFN_CAUSE_MAX, err) != 0)
		return -1;
	return 0;
}

static int sfn_describe_execution(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
				  andon_apierr_t *err)
{
	static const char *const xh[] = {"x", "h", NULL}; /* h: the ending entry's error and cause */
	const char *arn;
	size_t arn_len;

	andon_call_begin(call, "sfn_describe");
	if (exec_keys(ctx, req->body, call, xh, err, &arn, &arn_len) != 0)
		return -1;
	args_head(call, req);
	andon_call_field(call, "arn", arn, arn_len);
	return 0;
}

static int sfn_get_execution_history(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
				     andon_apierr_t *err)
{
	static const char *const xh[] = {"x", "h", NULL};
	const char *arn, *token;
	size_t arn_len, token_len;
	int64_t max = 0;
	int reverse = 0, rc;
	char num[24];

	andon_call_begin(call, "sfn_history");
	if (exec_keys(ctx, req->body, call, xh, err, &arn, &arn_len) != 0)
		return -1;
	if ((rc = andon_codec_get_int(req->body, "maxResults", &max)) < 0 || max < 0 || max > 1000)
		return andon_apierr(err, "ValidationException", 400,
				    "maxResults must be an integer from 0 to 1000");
	if (andon_codec_get_bool(req->body, "reverseOrder", &reverse) < 0)
		return andon_apierr(err, "ValidationException", 400, "reverseOrder must be a boolean");
	args_head(call, req);
	andon_call_field(call, "arn", arn, arn_len);
	snprintf(num, sizeof(num), "%lld", (long long)max);
	andon_call_field(call, "maxResults", andon_arena_strndup(ctx->arena, num, strlen(num)), strlen(num));
	andon_call_field(call, "reverseOrder", reverse ? "1" : "0", 1);
	rc = andon_ops_str(req->body, "nextToken", 1, 1024, "ValidationException", &token, &token_len, err);
	if (rc < 0)
		return -1;
	if (rc == 1)
		andon_call_field(call, "nextToken", token, token_len);
	return 0;
}

/*
 * ListExecutions: one page of the state machine's List index (docs/REDIS.md, section 13), all in the state
 * machine's slot. statusFilter takes the API's names; the engine compares engine statuses.
 */
static int sfn_list_executions(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
			       andon_apierr_t *err)
{
	static const char *const filters[][2] = {{"RUNNING", "RUNNING"},
						 {"SUCCEEDED", "SUCCEEDED"},
						 {"FAILED", "FAILED"},
						 {"TIMED_OUT", "TIMED_OUT"},
						 {"ABORTED", "STOPPED"},
						 {"PENDING_REDRIVE", "PENDING_REDRIVE"},
						 {NULL, NULL}};
	const char *sm, *status = NULL, *token;
	size_t sm_len, status_len = 0, token_len;
	int64_t max = 0;
	char num[24];
	sfn_arn_t a;
	int rc, i = 0;

	if (andon_ops_required(req->body, "stateMachineArn", 1, SFN_ARN_MAX, &sm, &sm_len, err) != 0)
		return -1;
	if (split_arn(sm, sm_len, &a) != 0 || a.n != 7 || !part_is(&a, 0, "arn") ||
	    !part_is(&a, 2, "states") || !part_is(&a, 5, "stateMachine") || !sfn_name_ok(a.part[6], a.len[6]))
		return andon_apierr(err, "InvalidArn", 400, "Invalid Arn: '%.*s'", (int)sm_len, sm);
	if (!part_is(&a, 4, ctx->account))
		return andon_apierr_answer(err, "StateMachineDoesNotExist", 400,
					   "State Machine Does Not Exist: '%.*s'", (int)sm_len, sm);
	if (andon_codec_get_int(req->body, "maxResults", &max) < 0 || max < 0 || max > 1000)
		return andon_apierr(err, "ValidationException", 400,
				    "maxResults must be an integer from 0 to 1000");
	if ((rc = andon_ops_str(req->body, "statusFilter", 1, 32, "ValidationException", &status, &status_len,
				err)) < 0)
		return -1;
	if (rc == 1) {
		for (i = 0; filters[i][0] != NULL; i++)
			if (strlen(filters[i][0]) == status_len &&
			    memcmp(filters[i][0], status, status_len) == 0)
				break;
		if (filters[i][0] == NULL)
			return andon_apierr(
			    err, "ValidationException", 400,
			    "statusFilter must be one of RUNNING, SUCCEEDED, FAILED, TIMED_OUT, "
			    "ABORTED, PENDING_REDRIVE");
	}
	andon_call_begin(call, "sfn_list");
	andon_call_key(call, ctx->arena, sm, sm_len, "sm");
	andon_call_key(call, ctx->arena, sm, sm_len, "ix");
	andon_call_key(call, ctx->arena, sm, sm_len, "ixs");
	args_head(call, req);
	andon_call_field(call, "arn", sm, sm_len);
	snprintf(num, sizeof(num), "%lld", (long long)max);
	andon_call_field(call, "maxResults", andon_arena_strndup(ctx->arena, num, strlen(num)), strlen(num));
	if (rc == 1)
		andon_call_field(call, "statusFilter", filters[i][1], strlen(filters[i][1]));
	rc = andon_ops_str(req->body, "nextToken", 1, 32768, "ValidationException", &token, &token_len, err);
	if (rc < 0)
		return -1;
	if (rc == 1)
		andon_call_field(call, "nextToken", token, token_len);
	return 0;
}

const andon_op_t andon_sfn_ops[] = {
    {"StepFunctions.CreateStateMachine", sfn_create_state_machine, 413},
    {"StepFunctions.StartExecution", sfn_start_execution, 413},
    {"StepFunctions.StopExecution", sfn_stop_execution, 413},
    {"StepFunctions.FinishExecution", sfn_finish_execution, 413},
    {"StepFunctions.DescribeExecution", sfn_describe_execution, 413},
    {"StepFunctions.GetExecutionHistory", sfn_get_execution_history, 413},
    {"StepFunctions.ListExecutions", sfn_list_executions, 413},
    {NULL, NULL, 0},
};
