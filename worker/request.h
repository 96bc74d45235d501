/* request: the path one consumed message takes before Redis, from its bytes to an engine call or an error. */
#ifndef ANDON_REQUEST_H
#define ANDON_REQUEST_H

#include "call.h"
#include "config.h"
#include "ops.h"
#include "proto.h"

#include <msgpack.h>
#include <stddef.h>

#include <stdint.h>

/* Bytes of the account buffer: the envelope's 64-byte limit (proto.c) and a NUL. */
#define ANDON_REQUEST_ACCOUNT_SIZE 65

/** What becomes of one message. */
typedef enum andon_request_kind {
	ANDON_REQUEST_CALL,  /* valid: the call is ready for the engine (or is a lookup, call->resolve) */
	ANDON_REQUEST_ERROR, /* rejected before Redis: error reply, and a DLQ record when err says so */
	ANDON_REQUEST_DLQ,   /* no request id to answer: a DLQ record only */
} andon_request_kind_t;

/**
 * Takes the message value buf[0..len) through decoding (into zone, which the caller clears), the envelope
 * (req points into zone and buf), the op lookup, cfg's size limit and the account (the envelope's, else
 * cfg's default, NUL-terminated into account), then has the op's adapter build call with its strings in
 * arena. Every str of the body must be UTF-8 (lib/utf8.h). gate (may be NULL) is where the adapter may
 * build a first-round command (ops.h, andon_ctx_t.gate); its argc is 0 when it asked for none. Returns
 * ANDON_REQUEST_CALL with call ready, or ANDON_REQUEST_ERROR / ANDON_REQUEST_DLQ with err set (err is
 * cleared first). req is always set, empty when the message did not decode.
 */
andon_request_kind_t andon_request_prepare(const andon_config_t *cfg, andon_arena_t *arena,
					   msgpack_zone *zone, const char *buf, size_t len, andon_req_t *req,
					   char account[ANDON_REQUEST_ACCOUNT_SIZE], andon_call_t *call,
					   andon_call_t *gate, andon_apierr_t *err);

/**
 * Decides who a request acts as (worker/auth.h): 0 with account[ANDON_REQUEST_ACCOUNT_SIZE] set (the
 * access key's account) and *key_id the signing key's id (NUL-terminated, valid until the next message),
 * or -1 with err set (the request is refused before Redis).
 */
typedef int(andon_request_auth_fn)(void *opaque, const andon_op_t *op, const andon_req_t *req,
				   char account[ANDON_REQUEST_ACCOUNT_SIZE], const char **key_id,
				   andon_apierr_t *err);

/**
 * andon_request_prepare() with signed requests: after the op lookup, the size limit and the UTF-8 check,
 * auth (NULL: the envelope's account is trusted, as andon_request_prepare() does) decides the account.
 * kms (may be NULL) is what the adapter seals customer-encrypted values with (kms.h).
 */
andon_request_kind_t andon_request_prepare_auth(const andon_config_t *cfg, andon_arena_t *arena,
						msgpack_zone *zone, const char *buf, size_t len,
						andon_req_t *req, char account[ANDON_REQUEST_ACCOUNT_SIZE],
						andon_call_t *call, andon_call_t *gate, andon_apierr_t *err,
						andon_request_auth_fn *auth, void *opaque,
						struct andon_kms *kms);

/**
 * Every engine function checks that what it loads belongs to the request's account (00-core.lua,
 * owned()): an FCALL built for a request carries the account as its last field, '@acct'. Plain commands
 * (a lookup's GET) get nothing. andon_request_prepare() stamps the calls it builds; a lookup's resolved
 * call is stamped by whoever resolves it.
 */
void andon_request_stamp(const andon_config_t *cfg, andon_arena_t *arena, andon_call_t *call,
			 const char *account);

/**
 * Retention (docs/REDIS.md, Lifetime): the seconds cfg keeps closed executions of the API that op name
 * name[0..len) ("SWF.StartWorkflowExecution") or engine function name ("swf_start") belongs to; 0 when it
 * is none of them. andon_request_stamp() appends it to an FCALL as the field '@ret' (after '@acct').
 */
int andon_request_retention(const andon_config_t *cfg, const char *name, size_t len);

/**
 * RequestExpired: 0 when req (its Kafka timestamp ts_ms, epoch ms; <= 0 unknown) is younger than its API's
 * retention at now_ms; else -1 with err set (400, also dead-lettered): what it was about may have expired,
 * and running it could create again what expired (a replayed start).
 */
int andon_request_expired(const andon_config_t *cfg, const andon_req_t *req, int64_t ts_ms, int64_t now_ms,
			  andon_apierr_t *err);

/** The adapter context of a request acting in account: what prepare and a lookup's resolve are given. */
void andon_request_ctx(const andon_config_t *cfg, andon_arena_t *arena, const char *account,
		       andon_ctx_t *ctx);

#endif
