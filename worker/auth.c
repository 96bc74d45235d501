/* auth: the worker's side of signed requests: signature, key record, policy, account (auth.h). */
#include "auth.h"

#include "authz.h"
#include "keystore.h"
#include "log.h"
#include "request.h"
#include "sign.h"
#include "util.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_SLOTS 1024 /* direct-mapped by key id: a collision only costs a refetch */

typedef struct entry {
	char id[ANDON_SIGN_ID_MAX + 1];
	size_t id_len;
	int found; /* 0: no such key (cached too, so a flood of one unknown id costs one read per period) */
	andon_keyrec_t rec;
	andon_policy_t *policy;
	int64_t fetched_us; /* 0: empty slot */
} entry_t;

struct andon_auth {
	const andon_config_t *cfg;
	andon_engine_t *engine;
	const volatile sig_atomic_t *run;
	unsigned char mk[ANDON_MASTER_KEY_LEN];
	int have_mk;
	char last_id[ANDON_SIGN_ID_MAX + 1]; /* the key of the last request accepted */
	entry_t *cache;
	unsigned long fetches;
	andon_creds_t self; /* the workers' own key (ANDON_AUTH_WORKER_KEY_ID), from the master key */
};

andon_auth_t *andon_auth_new(const andon_config_t *cfg, andon_engine_t *engine,
			     const volatile sig_atomic_t *run, char *errstr, size_t errstr_size)
{
	andon_auth_t *a = calloc(1, sizeof(*a));

	if (a == NULL || (a->cache = calloc(CACHE_SLOTS, sizeof(*a->cache))) == NULL) {
		free(a);
		andon_fail(errstr, errstr_size, "out of memory");
		return NULL;
	}
	a->cfg = cfg;
	a->engine = engine;
	a->run = run;
	/* Required with signatures; without, read when named (customer keys, kms.h, need it too). */
	if ((cfg->auth == ANDON_AUTH_REQUIRED || cfg->master_key_file[0] != '\0') &&
	    andon_master_load(cfg->master_key_file, a->mk, errstr, errstr_size) != 0) {
		andon_auth_destroy(a);
		return NULL;
	}
	a->have_mk = cfg->master_key_file[0] != '\0';
	if (a->have_mk) {
		/* The workers' own secret: HMAC-SHA256(master key, label), so only holders of the master key
		 * sign as ANDON_AUTH_WORKER_KEY_ID, and it never needs storing. */
		static const char label[] = "andon-worker-requests";
		unsigned char d[32];
		unsigned int dl = 0;

		if (HMAC(EVP_sha256(), a->mk, ANDON_MASTER_KEY_LEN, (const unsigned char *)label,
			 sizeof(label) - 1, d, &dl) == NULL ||
		    dl != sizeof(d)) {
			andon_fail(errstr, errstr_size, "deriving the workers' own key failed");
			andon_auth_destroy(a);
			return NULL;
		}
		snprintf(a->self.key_id, sizeof(a->self.key_id), "%s", ANDON_AUTH_WORKER_KEY_ID);
		for (unsigned i = 0; i < dl; i++)
			snprintf(a->self.secret + 2 * i, 3, "%02x", d[i]);
		OPENSSL_cleanse(d, sizeof(d));
	}
	return a;
}

static void entry_clear(entry_t *e)
{
	andon_policy_destroy(e->policy);
	free(e->rec.policy);
	OPENSSL_cleanse(e, sizeof(*e));
}

void andon_auth_destroy(andon_auth_t *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; a->cache != NULL && i < CACHE_SLOTS; i++)
		entry_clear(&a->cache[i]);
	free(a->cache);
	OPENSSL_cleanse(a->mk, sizeof(a->mk));
	OPENSSL_cleanse(&a->self, sizeof(a->self));
	free(a);
}

const char *andon_auth_key_id(const andon_auth_t *a)
{
	return a->last_id;
}

const unsigned char *andon_auth_master(const andon_auth_t *a)
{
	return a->have_mk ? a->mk : NULL;
}

unsigned long andon_auth_fetches(const andon_auth_t *a)
{
	return a->fetches;
}

static entry_t *slot(andon_auth_t *a, const char *id, size_t len)
{
	return &a->cache[andon_hash64(ANDON_HASH64_INIT, id, len) % CACHE_SLOTS];
}

/* Compiles e's policy text; a policy that does not parse allows nothing, and says so in the log. */
static void entry_policy(entry_t *e)
{
	char why[256];

	e->policy = NULL;
	if (e->rec.policy != NULL &&
	    (e->policy = andon_policy_parse(e->rec.policy, strlen(e->rec.policy), why, sizeof(why))) == NULL)
		andon_warn("access key %s: policy ignored, nothing allowed: %s", e->id, why);
}

int andon_auth_preload(andon_auth_t *a, const char *id, const char *account, int active, const char *secret,
		       const char *policy)
{
	size_t n = strlen(id);
	entry_t *e = slot(a, id, n);
	andon_policy_t *check = NULL;
	char why[256];

	if (n > ANDON_SIGN_ID_MAX || strlen(secret) > ANDON_SIGN_SECRET_MAX || strlen(account) > 64)
		return -1;
	if (policy != NULL && (check = andon_policy_parse(policy, strlen(policy), why, sizeof(why))) == NULL)
		return -1;
	andon_policy_destroy(check);
	entry_clear(e);
	memcpy(e->id, id, n + 1);
	e->id_len = n;
	e->found = 1;
	snprintf(e->rec.account, sizeof(e->rec.account), "%s", account);
	e->rec.active = active;
	e->rec.secret_len = strlen(secret);
	memcpy(e->rec.secret, secret, e->rec.secret_len + 1);
	e->rec.policy = policy != NULL ? strdup(policy) : NULL;
	entry_policy(e);
	e->fetched_us = andon_now_us();
	return 0;
}

/* The key record of id, from the cache or Redis: the entry, or NULL when Redis could not be read. */
static entry_t *lookup(andon_auth_t *a, const char *id, size_t len)
{
	entry_t *e = slot(a, id, len);
	int64_t now = andon_now_us();
	char rkey[ANDON_SIGN_ID_MAX + 32], why[256];
	andon_call_t call;
	redisReply *r = NULL;
	int rc;

	if (e->fetched_us != 0 && e->id_len == len && memcmp(e->id, id, len) == 0 &&
	    now - e->fetched_us < (int64_t)a->cfg->key_cache_ms * 1000)
		return e;
	if (a->engine == NULL || andon_keystore_key(id, len, rkey, sizeof(rkey)) != 0)
		return NULL; /* no Redis (fuzzing): only preloaded keys exist */
	andon_call_command(&call, "HMGET");
	andon_call_arg(&call, rkey, strlen(rkey));
	for (int i = 0; i < ANDON_KEYSTORE_NFIELDS; i++)
		andon_call_arg(&call, andon_keystore_fields[i], strlen(andon_keystore_fields[i]));
	a->fetches++;
	if (andon_engine_exec(a->engine, &call, 1, &r, a->run,
			      andon_now_us() + (int64_t)a->cfg->shutdown_timeout_ms * 1000) != 0)
		return NULL;
	entry_clear(e);
	rc = andon_keystore_parse(r, a->mk, id, len, &e->rec, why, sizeof(why));
	freeReplyObject(r);
	if (rc < 0) {
		andon_err("access key %.*s: %s", (int)len, id, why);
		entry_clear(e);
		return NULL;
	}
	memcpy(e->id, id, len);
	e->id[len] = '\0';
	e->id_len = len;
	e->found = rc;
	entry_policy(e);
	e->fetched_us = now;
	return e;
}

int64_t andon_auth_max_age_s(const andon_config_t *cfg, const andon_op_t *op)
{
	/* The API's retention (a request older than it is refused anyway, RequestExpired), or
	 * security.max_request_age when that is shorter. */
	int64_t ret = andon_request_retention(cfg, op->name, strlen(op->name)), max = cfg->max_request_age_s;

	return max > 0 && (ret <= 0 || max < ret) ? max : ret;
}

enum family { FAM_AWS, FAM_SWF, FAM_CLOUDFLOW };

static enum family family_of(const andon_op_t *op)
{
	if (strncmp(op->name, "CloudFlow.", 10) == 0)
		return FAM_CLOUDFLOW;
	return strncmp(op->name, "SWF.", 4) == 0 ? FAM_SWF : FAM_AWS;
}

static int refuse(andon_apierr_t *err, const char **reason, const char *why, const char *code, int status,
		  const char *message)
{
	*reason = why;
	return andon_apierr_answer(err, code, status, "%s", message);
}

/*
 * A request a worker handed on ('@requests': a child to terminate, an escalation): signed with the workers'
 * own key, it acts for the account its envelope names, with no policy (the change that made it was
 * allowed). Without the master key no worker signs, and none accepts such a signature.
 */
static int check_self(andon_auth_t *a, const andon_sign_hdrs_t *h, const andon_auth_msg_t *m,
		      const andon_op_t *op, const andon_req_t *req, char account[65], andon_apierr_t *err,
		      const char **reason)
{
	int cf = family_of(op) == FAM_CLOUDFLOW;
	int64_t date;

	if (a->self.secret[0] == '\0' ||
	    andon_sign_check(h, a->self.secret, strlen(a->self.secret), m->topic, strlen(m->topic), m->key,
			     m->key_len, m->value, m->value_len, m->ts_ms, &date) != ANDON_SIGN_OK)
		return refuse(
		    err, reason, "signature", cf ? "SignatureNotMatch" : "InvalidSignatureException",
		    cf ? 403 : 400,
		    "The request signature we calculated does not match the signature you provided");
	if (req->account == NULL || req->account_len == 0 || req->account_len > 64)
		return refuse(err, reason, "account", cf ? "AccessDenied" : "AccessDeniedException",
			      cf ? 403 : 400, "A request handed on by a worker names its account");
	memcpy(account, req->account, req->account_len);
	account[req->account_len] = '\0';
	memcpy(a->last_id, ANDON_AUTH_WORKER_KEY_ID, sizeof(ANDON_AUTH_WORKER_KEY_ID));
	return 0;
}

const andon_creds_t *andon_auth_self(const andon_auth_t *a)
{
	return a->self.secret[0] != '\0' ? &a->self : NULL;
}

int andon_auth_check(andon_auth_t *a, const andon_auth_msg_t *m, const andon_op_t *op, const andon_req_t *req,
		     char account[65], andon_apierr_t *err, const char **reason)
{
	enum family fam = family_of(op);
	int cf = fam == FAM_CLOUDFLOW;
	andon_sign_hdrs_t h;
	andon_sign_result_t res;
	char action[128], resource[1024];
	const entry_t *e;
	int64_t date, max_age;

	res = andon_sign_read(m->hdrs, &h);
	if (res == ANDON_SIGN_UNSIGNED)
		return refuse(err, reason, "unsigned",
			      cf ? "InvalidAccessKeyID" : "MissingAuthenticationTokenException", 403,
			      "Request is missing an access key id and signature (security.auth = required)");
	if (res != ANDON_SIGN_OK)
		return refuse(err, reason, "malformed",
			      cf ? "SignatureNotMatch" : "InvalidSignatureException", cf ? 403 : 400,
			      "The signature headers are malformed: each of andon-key-id, andon-date and "
			      "andon-signature once, a date yyyymmddThhmmssZ and 64 hex digits");
	if (h.key_id_len == sizeof(ANDON_AUTH_WORKER_KEY_ID) - 1 &&
	    memcmp(h.key_id, ANDON_AUTH_WORKER_KEY_ID, h.key_id_len) == 0)
		return check_self(a, &h, m, op, req, account, err, reason);
	if ((e = lookup(a, h.key_id, h.key_id_len)) == NULL) {
		*reason = "keystore";
		return andon_apierr_answer(err, "InternalFailure", 500, "access key %.*s could not be read",
					   (int)h.key_id_len, h.key_id);
	}
	if (!e->found)
		return refuse(err, reason, "unknown_key",
			      cf ? "InvalidAccessKeyID" : "UnrecognizedClientException", cf ? 403 : 400,
			      "The security token included in the request is invalid");
	if (!e->rec.active)
		return refuse(err, reason, "inactive_key",
			      cf ? "InvalidAccessKeyID" : "UnrecognizedClientException", cf ? 403 : 400,
			      "The access key included in the request is inactive");
	res = andon_sign_check(&h, e->rec.secret, e->rec.secret_len, m->topic, strlen(m->topic), m->key,
			       m->key_len, m->value, m->value_len, m->ts_ms, &date);
	if (res == ANDON_SIGN_MALFORMED)
		return refuse(err, reason, "malformed",
			      cf ? "SignatureNotMatch" : "InvalidSignatureException", cf ? 403 : 400,
			      "The andon-date header is not a date yyyymmddThhmmssZ");
	if (res == ANDON_SIGN_MISMATCH)
		return refuse(
		    err, reason, "signature", cf ? "SignatureNotMatch" : "InvalidSignatureException",
		    cf ? 403 : 400,
		    "The request signature we calculated does not match the signature you provided");
	if (res == ANDON_SIGN_SKEWED)
		return refuse(
		    err, reason, "skewed", cf ? "RequestTimeTooSkewed" : "InvalidSignatureException",
		    cf ? 403 : 400,
		    "Signature expired: the signing date is more than 15 minutes from the message's "
		    "Kafka timestamp");
	if ((max_age = andon_auth_max_age_s(a->cfg, op)) > 0 && date < andon_wall_ms() / 1000 - max_age)
		return refuse(err, reason, "expired",
			      cf ? "RequestTimeTooSkewed" : "InvalidSignatureException", cf ? 403 : 400,
			      "Signature expired: the signing date is older than the API's retention");
	if (req->account != NULL && (req->account_len != strlen(e->rec.account) ||
				     memcmp(req->account, e->rec.account, req->account_len) != 0))
		return refuse(err, reason, "account",
			      fam == FAM_CLOUDFLOW ? "AccessDenied"
			      : fam == FAM_SWF	   ? "OperationNotPermittedFault"
						   : "AccessDeniedException",
			      cf ? 403 : 400, "The envelope's account is not the access key's account");
	if (andon_authz_action(op->name, strlen(op->name), action, sizeof(action)) != 0)
		action[0] = '\0';
	andon_authz_resource(req->op, req->op_len, req->body, a->cfg->region, e->rec.account, resource,
			     sizeof(resource));
	if (action[0] == '\0' || !andon_policy_allows(e->policy, action, resource)) {
		*reason = "denied";
		return andon_apierr_answer(err,
					   fam == FAM_CLOUDFLOW ? "AccessDenied"
					   : fam == FAM_SWF	? "OperationNotPermittedFault"
								: "AccessDeniedException",
					   cf ? 403 : 400,
					   "User %s is not authorized to perform: %s on resource: %s", e->id,
					   action, resource);
	}
	memcpy(account, e->rec.account, strlen(e->rec.account) + 1);
	memcpy(a->last_id, e->id, e->id_len + 1);
	return 0;
}

int andon_auth_check_message(andon_auth_t *a, const rd_kafka_message_t *m, const andon_op_t *op,
			     const andon_req_t *req, char account[65], andon_apierr_t *err,
			     const char **reason)
{
	rd_kafka_headers_t *hdrs = NULL;
	andon_auth_msg_t am;

	/* Borrowed: the headers belong to the message. */
	if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
		hdrs = NULL;
	am.hdrs = hdrs;
	am.topic = rd_kafka_topic_name(m->rkt);
	am.key = m->key;
	am.key_len = m->key_len;
	am.value = m->payload;
	am.value_len = m->len;
	am.ts_ms = rd_kafka_message_timestamp(m, NULL);
	return andon_auth_check(a, &am, op, req, account, err, reason);
}
