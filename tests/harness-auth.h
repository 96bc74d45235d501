/*
 * harness-auth: signed requests in the integration tests. With ANDON_TEST_AUTH=required (or after
 * h_auth_on()) the workers run with security.auth = required, every request the harness sends is signed
 * by a key of its account, and the tools it starts find the default account's key in their environment.
 */
#ifndef ANDON_HARNESS_AUTH_H
#define ANDON_HARNESS_AUTH_H

#include "sign.h"

#include <librdkafka/rdkafka.h>

/** An allow-everything policy. */
#define H_POLICY_ALL "{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}"

/**
 * Turns signing on (after h_start(), before the workers start): a master key in the temp dir, the default
 * account's key in ANDON_ACCESS_KEY_ID / ANDON_SECRET_ACCESS_KEY. h_start() calls it when the environment
 * says ANDON_TEST_AUTH=required.
 */
void h_auth_on(void);
/** 1 when signing is on. */
int h_auth_enabled(void);
/** The key the harness signs account's requests with (NULL account: the default), created allowing
 * everything on first use; NULL when signing is off. */
const andon_creds_t *h_auth_creds(const char *account);
/** Creates a key for account with policy (JSON, NULL: none) in the test's Redis; aborts on failure. */
void h_auth_key(const char *account, const char *policy, andon_creds_t *out);
/** The worker's settings for signing (none when it is off), added to a worker's argv. */
void h_auth_worker_args(char **argv, int *argc);
/** Whether the next workers require signatures (1, the default once on) or run with security.auth = off. */
void h_auth_workers(int required);
/** Forgets the keys (h_stop). */
void h_auth_reset(void);

#endif
