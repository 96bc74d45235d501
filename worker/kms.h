/*
 * kms: customer managed keys for Step Functions' encrypted error and cause (docs/OPERATIONS.md section 8,
 * docs/REDIS.md section 12): which key a state machine uses, whether the caller may use it, and the
 * envelope encryption (AES-256-GCM, a fresh data key per stop wrapped by the customer key) that runs in
 * the worker before the Redis call, so that Redis never holds the plaintext.
 */
#ifndef ANDON_KMS_H
#define ANDON_KMS_H

#include "call.h"
#include "config.h"
#include "engine.h"
#include "proto.h"

#include <msgpack.h>

#include <signal.h>
#include <stddef.h>

typedef struct andon_kms andon_kms_t;

/* What a sealed value starts with; the rest is "<key id>:<hex wrapped data key>:<hex nonce|ct|tag>". */
#define ANDON_KMS_PREFIX "andon:kms:v1:"

/**
 * Customer keys are read through engine (NULL: none exist) and cached for security.key_cache_ms; mk is the
 * master key that seals their material in Redis (copied). NULL when out of memory.
 */
andon_kms_t *andon_kms_new(const andon_config_t *cfg, andon_engine_t *engine,
			   const volatile sig_atomic_t *run, const unsigned char *mk);
void andon_kms_destroy(andon_kms_t *k);

/**
 * Seals text[0..len) of execution exec (its identity, the associated data) of state machine sm_arn for a
 * caller in account signing with key_id (NULL: security.auth = off, a trusted producer). Returns 0 when
 * the state machine has no customer key (nothing to do), 1 with *out (in arena) and *out_len set, or -1
 * with err: KmsAccessDeniedException (no such key, another account's key, or the caller is not among its
 * users), KmsInvalidStateException (disabled or pending deletion), KmsThrottlingException (more than
 * kms.rate uses this second), InternalFailure (Redis away, arena full).
 */
int andon_kms_seal(andon_kms_t *k, const char *sm_arn, size_t sm_arn_len, const char *exec, size_t exec_len,
		   const char *account, const char *key_id, const char *text, size_t len,
		   andon_arena_t *arena, const char **out, size_t *out_len, andon_apierr_t *err);

/**
 * For a read (DescribeExecution, GetExecutionHistory) of execution exec_arn (either ARN form) by a caller
 * in account signing with key_id (NULL: unsigned): copies the msgpack body[0..len) into out (cleared first)
 * with every sealed string (ANDON_KMS_PREFIX...) replaced by its plaintext. Returns 0, or -1 with err: the
 * same refusals as andon_kms_seal() (the caller may not use a key that sealed one, it is disabled or
 * pending deletion, kms.rate), or InternalFailure for a value that does not open.
 */
int andon_kms_open_body(andon_kms_t *k, const char *exec_arn, size_t exec_arn_len, const char *account,
			const char *key_id, const char *body, size_t len, msgpack_sbuffer *out,
			andon_apierr_t *err);

/**
 * The reply body of a request req (in account, signed by key_id, NULL: unsigned): unchanged unless it is a
 * Step Functions read holding a sealed value, then opened with andon_kms_open_body() into sb and *body,
 * *len pointed at it. Returns 0, or -1 with err set (the caller may not read it).
 */
struct andon_req;
int andon_kms_reveal(andon_kms_t *k, const struct andon_req *req, const char *account, const char *key_id,
		     const char **body, size_t *len, msgpack_sbuffer *sb, andon_apierr_t *err);

#endif
