/* kms: customer managed keys for Step Functions' encrypted error and cause (kms.h). */
#include "kms.h"

#include "codec.h"
#include "keystore.h"
#include "log.h"
#include "util.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 256

/* A state machine's customer key id ("" when it has none), as read from its hash. */
typedef struct sm_entry {
	char *arn;
	char key[64];
	int64_t fetched_us;
} sm_entry_t;

/* A customer key: andon:{kms}:key:<id> (docs/REDIS.md section 12). */
typedef struct key_entry {
	char id[64];
	int found;
	char account[65];
	char status[24];
	char *users; /* comma-separated access key ids, or "*" */
	unsigned char material[32];
	int64_t fetched_us;
} key_entry_t;

struct andon_kms {
	const andon_config_t *cfg;
	andon_engine_t *engine;
	const volatile sig_atomic_t *run;
	unsigned char mk[ANDON_MASTER_KEY_LEN];
	sm_entry_t sms[SLOTS];
	key_entry_t keys[SLOTS];
	double tokens; /* kms.rate's bucket */
	int64_t refilled_us;
};

andon_kms_t *andon_kms_new(const andon_config_t *cfg, andon_engine_t *engine,
			   const volatile sig_atomic_t *run, const unsigned char *mk)
{
	andon_kms_t *k = calloc(1, sizeof(*k));

	if (k == NULL)
		return NULL;
	k->cfg = cfg;
	k->engine = engine;
	k->run = run;
	if (mk != NULL)
		memcpy(k->mk, mk, sizeof(k->mk));
	k->refilled_us = andon_now_us();
	k->tokens = cfg->kms_rate;
	return k;
}

void andon_kms_destroy(andon_kms_t *k)
{
	if (k == NULL)
		return;
	for (int i = 0; i < SLOTS; i++) {
		free(k->sms[i].arn);
		free(k->keys[i].users);
	}
	OPENSSL_cleanse(k, sizeof(*k));
	free(k);
}

/* One Redis command through the engine: the reply, or NULL when Redis stayed away. */
static redisReply *command(andon_kms_t *k, andon_call_t *c)
{
	redisReply *r = NULL;

	if (k->engine == NULL ||
	    andon_engine_exec(k->engine, c, 1, &r, k->run,
			      andon_now_us() + (int64_t)k->cfg->shutdown_timeout_ms * 1000) != 0)
		return NULL;
	return r;
}

static int fresh(const andon_kms_t *k, int64_t fetched_us, int64_t now)
{
	return fetched_us != 0 && now - fetched_us < (int64_t)k->cfg->key_cache_ms * 1000;
}

/* The customer key id of sm_arn into *key ("" none): 0, or -1 when Redis could not be read. */
static int sm_key(andon_kms_t *k, const char *arn, size_t len, const char **key)
{
	sm_entry_t *e = &k->sms[andon_hash64(ANDON_HASH64_INIT, arn, len) % SLOTS];
	int64_t now = andon_now_us();
	char rkey[4200];
	andon_call_t c;
	redisReply *r;
	int n;

	if (e->arn != NULL && strlen(e->arn) == len && memcmp(e->arn, arn, len) == 0 &&
	    fresh(k, e->fetched_us, now)) {
		*key = e->key;
		return 0;
	}
	n = snprintf(rkey, sizeof(rkey), "andon:{%.*s}:sm", (int)len, arn);
	if (n < 0 || (size_t)n >= sizeof(rkey))
		return -1;
	andon_call_command(&c, "HGET");
	andon_call_arg(&c, rkey, (size_t)n);
	andon_call_arg(&c, "kms", 3);
	if ((r = command(k, &c)) == NULL)
		return -1;
	free(e->arn);
	e->arn = strndup(arn, len);
	e->key[0] = '\0';
	if (r->type == REDIS_REPLY_STRING && r->len < sizeof(e->key))
		memcpy(e->key, r->str, r->len + 1);
	freeReplyObject(r);
	e->fetched_us = e->arn != NULL ? now : 0;
	*key = e->key;
	return 0;
}

/* The customer key id, from the cache or Redis: the entry, or NULL when Redis could not be read. */
static key_entry_t *key_of(andon_kms_t *k, const char *id)
{
	key_entry_t *e = &k->keys[andon_hash64(ANDON_HASH64_INIT, id, strlen(id)) % SLOTS];
	int64_t now = andon_now_us();
	char rkey[128], material[80], sealed_id[80], why[256];
	andon_call_t c;
	redisReply *r;
	size_t len;

	if (strcmp(e->id, id) == 0 && fresh(k, e->fetched_us, now))
		return e;
	snprintf(rkey, sizeof(rkey), ANDON_KMS_KEY_PREFIX "%s", id);
	andon_call_command(&c, "HMGET");
	andon_call_arg(&c, rkey, strlen(rkey));
	andon_call_arg(&c, "account", 7);
	andon_call_arg(&c, "status", 6);
	andon_call_arg(&c, "users", 5);
	andon_call_arg(&c, "material", 8);
	if ((r = command(k, &c)) == NULL)
		return NULL;
	free(e->users);
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", id);
	snprintf(sealed_id, sizeof(sealed_id), "kms:%s", id);
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 4 && r->element[0]->type == REDIS_REPLY_STRING &&
	    r->element[1]->type == REDIS_REPLY_STRING && r->element[3]->type == REDIS_REPLY_STRING &&
	    andon_keystore_open(k->mk, sealed_id, strlen(sealed_id), r->element[3]->str, r->element[3]->len,
				material, sizeof(material), &len, why, sizeof(why)) == 0 &&
	    len == 64) {
		for (int i = 0; i < 32; i++) {
			unsigned v;

			sscanf(material + 2 * i, "%2x", &v);
			e->material[i] = (unsigned char)v;
		}
		OPENSSL_cleanse(material, sizeof(material));
		snprintf(e->account, sizeof(e->account), "%s", r->element[0]->str);
		snprintf(e->status, sizeof(e->status), "%s", r->element[1]->str);
		e->users = r->element[2]->type == REDIS_REPLY_STRING ? strdup(r->element[2]->str) : NULL;
		e->found = 1;
	}
	freeReplyObject(r);
	e->fetched_us = now;
	return e;
}

/* 1 when key_id is among users ("a,b,c", or "*": any key of the account). */
static int user_ok(const char *users, const char *key_id)
{
	size_t n = strlen(key_id);

	if (users == NULL)
		return 0;
	if (strcmp(users, "*") == 0)
		return 1;
	for (const char *p = users; *p != '\0';) {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		if (len == n && memcmp(p, key_id, n) == 0)
			return 1;
		if (end == NULL)
			break;
		p = end + 1;
	}
	return 0;
}

/* AES-256-GCM of in under key with aad: nonce (12) || ct || tag (16) into out. 0 or -1. */
static int gcm(const unsigned char *key, const void *aad, size_t aad_len, const void *in, size_t len,
	       unsigned char *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n, ok;

	ok = ctx != NULL && RAND_bytes(out, 12) == 1 &&
	     EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, out) == 1 &&
	     EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len) == 1 &&
	     (len == 0 || EVP_EncryptUpdate(ctx, out + 12, &n, in, (int)len) == 1) &&
	     EVP_EncryptFinal_ex(ctx, out + 12 + len, &n) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, out + 12 + len) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -1;
}

static char *hex_into(char *p, const unsigned char *in, size_t n)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		*p++ = d[in[i] >> 4];
		*p++ = d[in[i] & 15];
	}
	return p;
}

/* Takes one use from kms.rate's bucket (per worker): 1, or 0 when it is empty. */
static int take(andon_kms_t *k)
{
	int64_t now = andon_now_us();

	if (k->cfg->kms_rate <= 0)
		return 1;
	k->tokens += (double)(now - k->refilled_us) / 1e6 * k->cfg->kms_rate;
	if (k->tokens > k->cfg->kms_rate)
		k->tokens = k->cfg->kms_rate;
	k->refilled_us = now;
	if (k->tokens < 1)
		return 0;
	k->tokens -= 1;
	return 1;
}

/* The checks of one use of customer key id by a caller: the key, or NULL with err set. */
static key_entry_t *use(andon_kms_t *k, const char *id, const char *account, const char *key_id,
			andon_apierr_t *err)
{
	key_entry_t *e;

	if ((e = key_of(k, id)) == NULL) {
		andon_apierr_answer(err, "InternalFailure", 500, "KMS key %s could not be read", id);
		return NULL;
	}
	if (!e->found || strcmp(e->account, account) != 0 || (key_id != NULL && !user_ok(e->users, key_id))) {
		andon_apierr_answer(err, "KmsAccessDeniedException", 400,
				    "The caller may not use the KMS key %s of the state machine", id);
		return NULL;
	}
	if (strcmp(e->status, "Enabled") != 0) {
		andon_apierr_answer(err, "KmsInvalidStateException", 400, "The KMS key %s is %s", id,
				    strcmp(e->status, "PendingDeletion") == 0 ? "pending deletion"
									      : "disabled");
		return NULL;
	}
	if (!take(k)) {
		andon_apierr_answer(err, "KmsThrottlingException", 400,
				    "More than kms.rate (%d) uses of KMS keys a second", k->cfg->kms_rate);
		return NULL;
	}
	return e;
}

int andon_kms_seal(andon_kms_t *k, const char *sm_arn, size_t sm_arn_len, const char *exec, size_t exec_len,
		   const char *account, const char *key_id, const char *text, size_t len,
		   andon_arena_t *arena, const char **out, size_t *out_len, andon_apierr_t *err)
{
	const char *id;
	key_entry_t *e;
	unsigned char dk[32], wrapped[12 + 32 + 16], *ct;
	char *s, *p;
	size_t need;

	if (sm_key(k, sm_arn, sm_arn_len, &id) != 0)
		return andon_apierr_answer(err, "InternalFailure", 500, "state machine could not be read");
	if (id[0] == '\0')
		return 0;
	if ((e = key_of(k, id)) == NULL)
		return andon_apierr_answer(err, "InternalFailure", 500, "KMS key %s could not be read", id);
	if (!e->found || strcmp(e->account, account) != 0 || (key_id != NULL && !user_ok(e->users, key_id)))
		return andon_apierr_answer(err, "KmsAccessDeniedException", 400,
					   "The caller may not use the KMS key %s of the state machine", id);
	if (strcmp(e->status, "Enabled") != 0)
		return andon_apierr_answer(err, "KmsInvalidStateException", 400, "The KMS key %s is %s", id,
					   strcmp(e->status, "PendingDeletion") == 0 ? "pending deletion"
										     : "disabled");
	if (!take(k))
		return andon_apierr_answer(err, "KmsThrottlingException", 400,
					   "More than kms.rate (%d) uses of KMS keys a second",
					   k->cfg->kms_rate);
	need = strlen(ANDON_KMS_PREFIX) + strlen(id) + 1 + 2 * sizeof(wrapped) + 1 + 2 * (12 + len + 16);
	if ((s = andon_arena_alloc(arena, need)) == NULL || (ct = malloc(12 + len + 16)) == NULL)
		return andon_apierr(err, "InternalFailure", 500, "request too large for the batch arena");
	/* A fresh data key, wrapped by the customer key (the key id its associated data); the value under
	 * the data key with the execution as associated data, so it opens only where it was written. */
	if (RAND_bytes(dk, sizeof(dk)) != 1 ||
	    gcm(e->material, id, strlen(id), dk, sizeof(dk), wrapped) != 0 ||
	    gcm(dk, exec, exec_len, text, len, ct) != 0) {
		OPENSSL_cleanse(dk, sizeof(dk));
		free(ct);
		return andon_apierr(err, "InternalFailure", 500, "encryption failed");
	}
	OPENSSL_cleanse(dk, sizeof(dk));
	p = s;
	memcpy(p, ANDON_KMS_PREFIX, strlen(ANDON_KMS_PREFIX));
	p += strlen(ANDON_KMS_PREFIX);
	memcpy(p, id, strlen(id));
	p += strlen(id);
	*p++ = ':';
	p = hex_into(p, wrapped, sizeof(wrapped));
	*p++ = ':';
	p = hex_into(p, ct, 12 + len + 16);
	free(ct);
	*out = s;
	*out_len = (size_t)(p - s);
	return 1;
}

/* AES-256-GCM open of nonce (12) || ct || tag (16) in[0..len) under key with aad into out. 0 or -1. */
static int gcm_open(const unsigned char *key, const void *aad, size_t aad_len, const unsigned char *in,
		    size_t len, unsigned char *out)
{
	EVP_CIPHER_CTX *ctx;
	int n, ok;

	if (len < 28 || (ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -1;
	ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, in) == 1 &&
	     EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len) == 1 &&
	     (len == 28 || EVP_DecryptUpdate(ctx, out, &n, in + 12, (int)(len - 28)) == 1) &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, (void *)(in + len - 16)) == 1 &&
	     EVP_DecryptFinal_ex(ctx, out + (len - 28), &n) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -1;
}

static int unhex(const char *s, size_t n, unsigned char *out)
{
	for (size_t i = 0; i + 1 < n; i += 2) {
		int v = 0;

		for (int j = 0; j < 2; j++) {
			char c = s[i + j];

			v = v * 16 + (c >= '0' && c <= '9'   ? c - '0'
				      : c >= 'a' && c <= 'f' ? c - 'a' + 10
							     : -256);
		}
		if (v < 0)
			return -1;
		out[i / 2] = (unsigned char)v;
	}
	return n % 2 == 0 ? 0 : -1;
}

typedef struct opener {
	andon_kms_t *k;
	const char *account, *key_id, *exec;
	size_t exec_len;
	andon_apierr_t *err;
} opener_t;

/* Packs the plaintext of sealed s[0..len) into pk. 0, or -1 with o->err set. */
static int open_value(opener_t *o, msgpack_packer *pk, const char *s, size_t len)
{
	const char *p = s + strlen(ANDON_KMS_PREFIX), *end = s + len, *c1, *c2;
	unsigned char wrapped[60], dk[32], *raw, *plain;
	char id[64];
	key_entry_t *e;
	size_t rlen;
	int rc;

	if ((c1 = memchr(p, ':', (size_t)(end - p))) == NULL || (size_t)(c1 - p) >= sizeof(id) ||
	    (c2 = memchr(c1 + 1, ':', (size_t)(end - c1 - 1))) == NULL || c2 - c1 - 1 != 120)
		return andon_apierr_answer(o->err, "InternalFailure", 500, "a sealed value is malformed");
	memcpy(id, p, (size_t)(c1 - p));
	id[c1 - p] = '\0';
	if ((e = use(o->k, id, o->account, o->key_id, o->err)) == NULL)
		return -1;
	rlen = (size_t)(end - c2 - 1) / 2;
	if ((raw = malloc(rlen + 1)) == NULL || (plain = malloc(rlen + 1)) == NULL) {
		free(raw);
		return andon_apierr_answer(o->err, "InternalFailure", 500, "out of memory");
	}
	rc = unhex(c1 + 1, 120, wrapped) == 0 && unhex(c2 + 1, (size_t)(end - c2 - 1), raw) == 0 &&
	     gcm_open(e->material, id, strlen(id), wrapped, sizeof(wrapped), dk) == 0 &&
	     gcm_open(dk, o->exec, o->exec_len, raw, rlen, plain) == 0;
	OPENSSL_cleanse(dk, sizeof(dk));
	if (rc)
		andon_codec_pack_strn(pk, (const char *)plain, rlen - 28);
	OPENSSL_cleanse(plain, rlen);
	free(raw);
	free(plain);
	return rc ? 0 : andon_apierr_answer(o->err, "InternalFailure", 500, "a sealed value does not open");
}

/* 1 when o (a map key) is "error" or "cause": the only values a stop seals. */
static int sealed_field(const msgpack_object *o)
{
	return o->type == MSGPACK_OBJECT_STR &&
	       ((o->via.str.size == 5 && memcmp(o->via.str.ptr, "error", 5) == 0) ||
		(o->via.str.size == 5 && memcmp(o->via.str.ptr, "cause", 5) == 0));
}

/* Re-packs o into pk, opening it when sealed is set and it is a sealed string. 0 or -1. */
static int copy(opener_t *op, msgpack_packer *pk, const msgpack_object *o, int sealed)
{
	switch (o->type) {
	case MSGPACK_OBJECT_STR:
		if (sealed && o->via.str.size > strlen(ANDON_KMS_PREFIX) &&
		    memcmp(o->via.str.ptr, ANDON_KMS_PREFIX, strlen(ANDON_KMS_PREFIX)) == 0)
			return open_value(op, pk, o->via.str.ptr, o->via.str.size);
		andon_codec_pack_strn(pk, o->via.str.ptr, o->via.str.size);
		return 0;
	case MSGPACK_OBJECT_ARRAY:
		msgpack_pack_array(pk, o->via.array.size);
		for (uint32_t i = 0; i < o->via.array.size; i++)
			if (copy(op, pk, &o->via.array.ptr[i], 0) != 0)
				return -1;
		return 0;
	case MSGPACK_OBJECT_MAP:
		msgpack_pack_map(pk, o->via.map.size);
		for (uint32_t i = 0; i < o->via.map.size; i++)
			if (copy(op, pk, &o->via.map.ptr[i].key, 0) != 0 ||
			    copy(op, pk, &o->via.map.ptr[i].val, sealed_field(&o->via.map.ptr[i].key)) != 0)
				return -1;
		return 0;
	default:
		msgpack_pack_object(pk, *o);
		return 0;
	}
}

int andon_kms_open_body(andon_kms_t *k, const char *exec_arn, size_t exec_arn_len, const char *account,
			const char *key_id, const char *body, size_t len, msgpack_sbuffer *out,
			andon_apierr_t *err)
{
	char exec[8300];
	const char *part[9];
	size_t plen[9], n = 0, start = 0;
	msgpack_zone zone;
	msgpack_object root;
	msgpack_packer pk;
	opener_t op;
	char why[128];
	int w, rc;

	/* The execution's identity, as the stop sealed with it: the standard form of either ARN form. */
	for (size_t i = 0; i <= exec_arn_len && n < 9; i++) {
		if (i < exec_arn_len && exec_arn[i] != ':')
			continue;
		part[n] = exec_arn + start;
		plen[n++] = i - start;
		start = i + 1;
	}
	if (n < 8)
		return andon_apierr_answer(err, "InternalFailure", 500, "execution ARN unreadable");
	w = snprintf(exec, sizeof(exec), "arn:%.*s:states:%.*s:%.*s:execution:%.*s:%.*s", (int)plen[1],
		     part[1], (int)plen[3], part[3], (int)plen[4], part[4], (int)plen[6], part[6],
		     (int)plen[7], part[7]);
	if (w < 0 || (size_t)w >= sizeof(exec) || !msgpack_zone_init(&zone, 4096))
		return andon_apierr_answer(err, "InternalFailure", 500, "execution ARN too long");
	op = (opener_t){k, account, key_id, exec, (size_t)w, err};
	msgpack_sbuffer_clear(out);
	msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
	rc = andon_codec_unpack(body, len, ANDON_CODEC_DEFAULT_DEPTH, &zone, &root, why, sizeof(why)) == 0
		 ? copy(&op, &pk, &root, 0)
		 : andon_apierr_answer(err, "InternalFailure", 500, "engine answer unreadable: %s", why);
	msgpack_zone_destroy(&zone);
	return rc;
}

int andon_kms_reveal(andon_kms_t *k, const andon_req_t *req, const char *account, const char *key_id,
		     const char **body, size_t *len, msgpack_sbuffer *sb, andon_apierr_t *err)
{
	const char *arn;
	size_t arn_len;

	/* Most bodies hold nothing sealed: one memmem, and back. */
	if (*len < sizeof(ANDON_KMS_PREFIX) ||
	    memmem(*body, *len, ANDON_KMS_PREFIX, strlen(ANDON_KMS_PREFIX)) == NULL || req->op_len < 14 ||
	    memcmp(req->op, "StepFunctions.", 14) != 0 ||
	    andon_codec_get_str(req->body, "executionArn", &arn, &arn_len) != 1)
		return 0;
	if (andon_kms_open_body(k, arn, arn_len, account, key_id, *body, *len, sb, err) != 0)
		return -1;
	*body = sb->data;
	*len = sb->size;
	return 0;
}
