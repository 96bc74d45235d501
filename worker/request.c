/* request: the path one consumed message takes before Redis, from its bytes to an engine call or an error. */
#include "request.h"

#include "codec.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

void andon_request_ctx(const andon_config_t *cfg, andon_arena_t *arena, const char *account, andon_ctx_t *ctx)
{
	ctx->cfg = cfg;
	ctx->region = cfg->region;
	ctx->account = account;
	ctx->arena = arena;
	ctx->gate = NULL;
	ctx->kms = NULL;
	ctx->key_id = NULL;
}

int andon_request_retention(const andon_config_t *cfg, const char *name, size_t len)
{
	/* An op's API prefix, and the prefix of the API's engine functions (worker/lua/NN-*.lua). */
	static const struct {
		const char *op, *fn;
		size_t off;
	} apis[] = {
	    {"StepFunctions.", "sfn_", offsetof(andon_config_t, retention_sfn)},
	    {"SageMaker.", "sm_", offsetof(andon_config_t, retention_sagemaker)},
	    {"CloudFlow.", "cf_", offsetof(andon_config_t, retention_cloudflow)},
	    {"SWF.", "swf_", offsetof(andon_config_t, retention_swf)},
	};

	for (size_t i = 0; i < sizeof(apis) / sizeof(apis[0]); i++) {
		size_t no = strlen(apis[i].op), nf = strlen(apis[i].fn);

		if ((len > no && memcmp(name, apis[i].op, no) == 0) ||
		    (len > nf && memcmp(name, apis[i].fn, nf) == 0))
			return *(const int *)(const void *)((const char *)cfg + apis[i].off);
	}
	return 0;
}

void andon_request_stamp(const andon_config_t *cfg, andon_arena_t *arena, andon_call_t *call,
			 const char *account)
{
	const char *ret;
	size_t len;
	int secs;

	if (call->argc < 2 || call->argvlen[0] != 5 || memcmp(call->argv[0], "FCALL", 5) != 0)
		return;
	andon_call_field(call, "@acct", account, strlen(account));
	if ((secs = andon_request_retention(cfg, call->argv[1], call->argvlen[1])) <= 0)
		return;
	if ((ret = andon_arena_printf(arena, &len, "%d", secs)) == NULL)
		call->overflow = 1; /* answered InternalFailure, as any call that does not fit */
	else
		andon_call_field(call, "@ret", ret, len);
}

int andon_request_expired(const andon_config_t *cfg, const andon_req_t *req, int64_t ts_ms, int64_t now_ms,
			  andon_apierr_t *err)
{
	int secs = andon_request_retention(cfg, req->op, req->op_len);

	if (secs <= 0 || ts_ms <= 0 || now_ms - ts_ms <= (int64_t)secs * 1000)
		return 0;
	andon_apierr(err, "RequestExpired", 400,
		     "request made %lld s ago is older than the %d s this API keeps closed executions",
		     (long long)((now_ms - ts_ms) / 1000), secs);
	return -1;
}

andon_request_kind_t andon_request_prepare(const andon_config_t *cfg, andon_arena_t *arena,
					   msgpack_zone *zone, const char *buf, size_t len, andon_req_t *req,
					   char account[ANDON_REQUEST_ACCOUNT_SIZE], andon_call_t *call,
					   andon_call_t *gate, andon_apierr_t *err)
{
	return andon_request_prepare_auth(cfg, arena, zone, buf, len, req, account, call, gate, err, NULL,
					  NULL, NULL);
}

andon_request_kind_t andon_request_prepare_auth(const andon_config_t *cfg, andon_arena_t *arena,
						msgpack_zone *zone, const char *buf, size_t len,
						andon_req_t *req, char account[ANDON_REQUEST_ACCOUNT_SIZE],
						andon_call_t *call, andon_call_t *gate, andon_apierr_t *err,
						andon_request_auth_fn *auth, void *opaque,
						struct andon_kms *kms)
{
	const char *key_id = NULL;
	const andon_op_t *op;
	msgpack_object root;
	andon_ctx_t ctx;
	char reason[256];
	const char *bad;
	size_t bad_len;

	memset(req, 0, sizeof(*req));
	memset(err, 0, sizeof(*err));
	if (andon_codec_unpack(buf, len, cfg->max_depth, zone, &root, reason, sizeof(reason)) != 0) {
		andon_apierr(err, "SerializationException", 400, "undecodable msgpack: %s", reason);
		return ANDON_REQUEST_DLQ;
	}
	if (andon_proto_parse(&root, req, err) != 0)
		return req->id == NULL ? ANDON_REQUEST_DLQ : ANDON_REQUEST_ERROR;
	if ((op = andon_ops_find(req->op, req->op_len)) == NULL) {
		andon_apierr(err, "ActionNotSupported", 400, "the action %.*s is not valid for this endpoint",
			     (int)req->op_len, req->op);
		return ANDON_REQUEST_ERROR;
	}
	/* Signed requests: who signed it comes first, as with the APIs themselves; the request acts as the
	 * key's account, and only as far as the key's policy allows. */
	if (auth != NULL && auth(opaque, op, req, account, &key_id, err) != 0)
		return ANDON_REQUEST_ERROR;
	/* Checked only now: the decoder is bounded by len, and the answer names the op's own status. */
	if (len > (size_t)cfg->max_message_bytes) {
		andon_apierr(err, "EntityTooLarge", op->too_large_status,
			     "request of %zu bytes exceeds the limit of %d bytes", len,
			     cfg->max_message_bytes);
		return ANDON_REQUEST_ERROR;
	}
	if (andon_codec_check_text(req->body, &bad, &bad_len) != 0) {
		/* Text that is not UTF-8 never reaches Redis, nor anything Andon writes (a callback message
		 * echoes its step's Arguments). */
		if (bad != NULL)
			andon_apierr(
			    err, andon_ops_invalid_code(op), 400,
			    "1 validation error detected: Value at '%.*s' failed to satisfy constraint: "
			    "Member must be valid UTF-8 text",
			    (int)(bad_len > 128 ? 128 : bad_len), bad);
		else
			andon_apierr(err, andon_ops_invalid_code(op), 400,
				     "body holds a key or text that is not valid UTF-8");
		return ANDON_REQUEST_ERROR;
	}
	if (auth != NULL) {
		/* account was set by auth */
	} else if (req->account != NULL) {
		/* proto.c allows at most 64 bytes, so the copy always fits. */
		memcpy(account, req->account, req->account_len);
		account[req->account_len] = '\0';
	} else {
		snprintf(account, ANDON_REQUEST_ACCOUNT_SIZE, "%s", cfg->default_account);
	}
	andon_request_ctx(cfg, arena, account, &ctx);
	ctx.kms = kms;
	ctx.key_id = key_id;
	if (gate != NULL) {
		gate->argc = 0;
		gate->overflow = 0;
		ctx.gate = gate;
	}
	if (op->prepare(&ctx, req, call, err) != 0)
		return ANDON_REQUEST_ERROR;
	andon_request_stamp(cfg, arena, call, account);
	if (call->overflow || (gate != NULL && gate->overflow)) {
		andon_apierr(err, "InternalFailure", 500, "request has too many fields or too long names");
		return ANDON_REQUEST_ERROR;
	}
	return ANDON_REQUEST_CALL;
}
