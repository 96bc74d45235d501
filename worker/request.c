/* request: the path one consumed message takes before Redis, from its bytes to an engine call or an error. */
#include "request.h"

#include "codec.h"

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

void andon_request_stamp(andon_call_t *call, const char *account)
{
	if (call->argc > 0 && call->argvlen[0] == 5 && memcmp(call->argv[0], "FCALL", 5) == 0)
		andon_call_field(call, "@acct", account, strlen(account));
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
	andon_request_stamp(call, account);
	if (call->overflow || (gate != NULL && gate->overflow)) {
		andon_apierr(err, "InternalFailure", 500, "request has too many fields or too long names");
		return ANDON_REQUEST_ERROR;
	}
	return ANDON_REQUEST_CALL;
}
