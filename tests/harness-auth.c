/* harness-auth: signed requests in the integration tests (harness-auth.h). */
#include "harness-auth.h"

#include "harness.h"
#include "keystore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ACCOUNTS 16

static struct {
	int on;
	int workers_off; /* h_auth_workers(0): the next workers run with security.auth = off */
	char master_file[512], master_arg[600];
	unsigned char mk[ANDON_MASTER_KEY_LEN];
	struct {
		char account[65];
		andon_creds_t creds;
	} keys[MAX_ACCOUNTS];
	int nkeys;
} A;

#define DIE(...)                                                                                             \
	do {                                                                                                 \
		fprintf(stderr, "harness-auth: " __VA_ARGS__);                                               \
		fprintf(stderr, "\n");                                                                       \
		h_stop();                                                                                    \
		abort();                                                                                     \
	} while (0)

void h_auth_reset(void)
{
	memset(&A, 0, sizeof(A));
	unsetenv("ANDON_ACCESS_KEY_ID");
	unsetenv("ANDON_SECRET_ACCESS_KEY");
}

int h_auth_enabled(void)
{
	return A.on;
}

void h_auth_key(const char *account, const char *policy, andon_creds_t *out)
{
	char err[256];

	if (andon_keystore_create(h_redis_ctx(), A.mk, account, policy, out, err, sizeof(err)) != 0)
		DIE("create key: %s", err);
}

void h_auth_on(void)
{
	char err[256];
	const andon_creds_t *c;

	if (A.on)
		return;
	snprintf(A.master_file, sizeof(A.master_file), "%s/master.key", h_dir());
	snprintf(A.master_arg, sizeof(A.master_arg), "security.master_key_file=%s", A.master_file);
	if (andon_master_create(A.master_file, err, sizeof(err)) != 0 ||
	    andon_master_load(A.master_file, A.mk, err, sizeof(err)) != 0)
		DIE("master key: %s", err);
	A.on = 1;
	c = h_auth_creds(NULL);
	setenv("ANDON_ACCESS_KEY_ID", c->key_id, 1);
	setenv("ANDON_SECRET_ACCESS_KEY", c->secret, 1);
}

const andon_creds_t *h_auth_creds(const char *account)
{
	if (!A.on)
		return NULL;
	if (account == NULL)
		account = H_ACCOUNT;
	for (int i = 0; i < A.nkeys; i++)
		if (strcmp(A.keys[i].account, account) == 0)
			return &A.keys[i].creds;
	if (A.nkeys == MAX_ACCOUNTS || strlen(account) > 64)
		DIE("too many accounts, or an account too long, to sign for");
	snprintf(A.keys[A.nkeys].account, sizeof(A.keys[0].account), "%s", account);
	h_auth_key(account, H_POLICY_ALL, &A.keys[A.nkeys].creds);
	return &A.keys[A.nkeys++].creds;
}

void h_auth_workers(int required)
{
	A.workers_off = !required;
}

void h_auth_worker_args(char **argv, int *argc)
{
	if (!A.on || A.workers_off)
		return;
	argv[(*argc)++] = "-o";
	argv[(*argc)++] = "security.auth=required";
	argv[(*argc)++] = "-o";
	argv[(*argc)++] = A.master_arg;
}
