/*
 * auth: the worker's side of signed requests (docs/PROTOCOL.md section 11): who signed a message, whether
 * the signature holds, whether the key's policy allows the request, and which account it acts for. All of
 * it before anything reaches Redis, apart from the key records themselves, read from Redis through a cache.
 */
#ifndef ANDON_AUTH_H
#define ANDON_AUTH_H

#include "config.h"
#include "engine.h"
#include "ops.h"
#include "proto.h"
#include "sign.h"

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdint.h>

typedef struct andon_auth andon_auth_t;

/** What the check needs of the consumed message. */
typedef struct andon_auth_msg {
	const rd_kafka_headers_t *hdrs; /* may be NULL: no headers */
	const char *topic;
	const void *key, *value;
	size_t key_len, value_len;
	int64_t ts_ms; /* the message's Kafka timestamp; <= 0 unknown */
} andon_auth_msg_t;

/**
 * The checker. With cfg->auth == ANDON_AUTH_REQUIRED it reads the master key (security.master_key_file) now
 * and fails without it; key records are read through engine (NULL: none, only andon_auth_preload's keys)
 * (*run and the shutdown deadline bound a wait for Redis). Returns NULL with a reason. cfg, engine and run
 * must outlive it.
 */
andon_auth_t *andon_auth_new(const andon_config_t *cfg, andon_engine_t *engine,
			     const volatile sig_atomic_t *run, char *errstr, size_t errstr_size);
void andon_auth_destroy(andon_auth_t *a);

/**
 * Checks one request (its envelope req, its op) as signed in m. Returns 0 with account set to the key's
 * account (NUL-terminated, account[65]); or -1 with err set to the API's own refusal and *reason to a
 * static label for andon_auth_refusals_total: "unsigned", "malformed", "unknown_key", "inactive_key",
 * "signature", "skewed", "expired", "account", "denied", "keystore" (the key record could not be read:
 * InternalFailure 500, the request is consumed again by nobody: answered, not applied).
 *
 * Keys are cached for security.key_cache_ms: a disabled, deleted or rotated key stops working within that
 * time on every worker (and at once on a key the worker never saw). Refusals never change state.
 */
int andon_auth_check(andon_auth_t *a, const andon_auth_msg_t *m, const andon_op_t *op, const andon_req_t *req,
		     char account[65], andon_apierr_t *err, const char **reason);

/** andon_auth_check() of a consumed message: its headers, topic, key, value and Kafka timestamp. */
int andon_auth_check_message(andon_auth_t *a, const rd_kafka_message_t *m, const andon_op_t *op,
			     const andon_req_t *req, char account[65], andon_apierr_t *err,
			     const char **reason);

/** The id of the key andon_auth_check() accepted last (NUL-terminated, valid until its next call). */
const char *andon_auth_key_id(const andon_auth_t *a);

/* The key id the workers sign their own '@requests' outputs with (docs/PROTOCOL.md section 12). */
#define ANDON_AUTH_WORKER_KEY_ID "andon-worker"

/** The workers' own credentials (derived from the master key), or NULL when no master key was read. */
const andon_creds_t *andon_auth_self(const andon_auth_t *a);

/** The master key read at start (security.master_key_file), or NULL when none was read. */
const unsigned char *andon_auth_master(const andon_auth_t *a);

/**
 * The longest a request may wait between its signing and its processing for op's API, in seconds (0: no
 * limit): the API's retention (retention.*), or security.max_request_age when that is shorter.
 */
int64_t andon_auth_max_age_s(const andon_config_t *cfg, const andon_op_t *op);

/** Keys looked up in Redis so far (cache misses and refreshes), for tests and statistics. */
unsigned long andon_auth_fetches(const andon_auth_t *a);

/**
 * For tests and fuzzing: puts a key record into the cache as if read from Redis now (policy: JSON text, may
 * be NULL). 0, or -1 when the policy does not parse.
 */
int andon_auth_preload(andon_auth_t *a, const char *id, const char *account, int active, const char *secret,
		       const char *policy);

#endif
