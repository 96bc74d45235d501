/* keystore: access key records in Redis (docs/REDIS.md, section 11) and the master key that seals secrets. */
#include "keystore.h"

#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const andon_keystore_fields[ANDON_KEYSTORE_NFIELDS] = {"account", "status", "secret", "policy"};

#define NONCE 12
#define TAG   16

static int unhex(const char *s, size_t n, unsigned char *out)
{
	for (size_t i = 0; i < n / 2; i++) {
		int v = 0;

		for (int k = 0; k < 2; k++) {
			char c = s[2 * i + k];

			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= c - '0';
			else if (c >= 'a' && c <= 'f')
				v |= c - 'a' + 10;
			else if (c >= 'A' && c <= 'F')
				v |= c - 'A' + 10;
			else
				return -1;
		}
		out[i] = (unsigned char)v;
	}
	return n % 2 == 0 ? 0 : -1;
}

static void tohex(const unsigned char *in, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int andon_master_load(const char *path, unsigned char key[ANDON_MASTER_KEY_LEN], char *errstr,
		      size_t errstr_size)
{
	char buf[130];
	struct stat st;
	size_t n;
	FILE *fp;

	if (path == NULL || *path == '\0')
		return andon_fail(errstr, errstr_size, "security.master_key_file is not set");
	if ((fp = fopen(path, "r")) == NULL)
		return andon_fail(errstr, errstr_size, "%s: %s", path, strerror(errno));
	if (fstat(fileno(fp), &st) == 0 && (st.st_mode & 077) != 0) {
		fclose(fp);
		return andon_fail(errstr, errstr_size, "%s: readable by group or others (chmod 600 it)",
				  path);
	}
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (n != 2 * ANDON_MASTER_KEY_LEN || unhex(buf, n, key) != 0) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return andon_fail(errstr, errstr_size, "%s: not a master key (64 hex digits)", path);
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

int andon_master_create(const char *path, char *errstr, size_t errstr_size)
{
	unsigned char key[ANDON_MASTER_KEY_LEN];
	char text[2 * ANDON_MASTER_KEY_LEN + 2];
	int fd, ok;

	if (RAND_bytes(key, sizeof(key)) != 1)
		return andon_fail(errstr, errstr_size, "no randomness for a master key");
	tohex(key, sizeof(key), text);
	OPENSSL_cleanse(key, sizeof(key));
	strcat(text, "\n");
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0)
		return andon_fail(errstr, errstr_size, "%s: %s", path, strerror(errno));
	ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	OPENSSL_cleanse(text, sizeof(text));
	if (close(fd) != 0 || !ok) {
		unlink(path);
		return andon_fail(errstr, errstr_size, "%s: write failed", path);
	}
	return 0;
}

int andon_keystore_key(const char *id, size_t id_len, char *out, size_t size)
{
	int n = snprintf(out, size, ANDON_KEYSTORE_PREFIX "%.*s", (int)id_len, id);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* n characters of alphabet[0..m) from the CSPRNG, without modulo bias. */
static int random_chars(char *out, size_t n, const char *alphabet, unsigned m)
{
	unsigned char b[64];
	size_t got = 0;

	while (got < n) {
		if (RAND_bytes(b, sizeof(b)) != 1)
			return -1;
		for (size_t i = 0; i < sizeof(b) && got < n; i++)
			if (b[i] < 256 - 256 % m)
				out[got++] = alphabet[b[i] % m];
	}
	out[n] = '\0';
	return 0;
}

int andon_keystore_new_id(char out[21])
{
	memcpy(out, "AKAN", 4);
	return random_chars(out + 4, 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 32);
}

int andon_keystore_new_secret(char out[41])
{
	return random_chars(out, 40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 62);
}

/* The associated data of key id's sealed secret. */
static int aad_of(const char *id, size_t id_len, char *aad, size_t size)
{
	int n = snprintf(aad, size, "andon-key:%.*s", (int)id_len, id);

	return n < 0 || (size_t)n >= size ? -1 : n;
}

int andon_keystore_seal(const unsigned char mk[ANDON_MASTER_KEY_LEN], const char *id, const char *secret,
			size_t secret_len, char *out, size_t size, char *errstr, size_t errstr_size)
{
	unsigned char buf[NONCE + ANDON_SIGN_SECRET_MAX + TAG];
	char aad[ANDON_SIGN_ID_MAX + 16];
	EVP_CIPHER_CTX *ctx;
	int n, alen, ok;

	if (secret_len > ANDON_SIGN_SECRET_MAX || size < 2 * (NONCE + secret_len + TAG) + 1 ||
	    (alen = aad_of(id, strlen(id), aad, sizeof(aad))) < 0)
		return andon_fail(errstr, errstr_size, "secret too long to seal");
	if (RAND_bytes(buf, NONCE) != 1 || (ctx = EVP_CIPHER_CTX_new()) == NULL)
		return andon_fail(errstr, errstr_size, "no randomness or memory to seal a secret");
	ok = EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, mk, buf) == 1 &&
	     EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)aad, alen) == 1 &&
	     EVP_EncryptUpdate(ctx, buf + NONCE, &n, (const unsigned char *)secret, (int)secret_len) == 1 &&
	     EVP_EncryptFinal_ex(ctx, buf + NONCE + n, &n) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG, buf + NONCE + secret_len) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		return andon_fail(errstr, errstr_size, "AES-256-GCM failed");
	tohex(buf, NONCE + secret_len + TAG, out);
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

int andon_keystore_open(const unsigned char mk[ANDON_MASTER_KEY_LEN], const char *id, size_t id_len,
			const char *sealed, size_t sealed_len, char *out, size_t size, size_t *len,
			char *errstr, size_t errstr_size)
{
	unsigned char buf[NONCE + ANDON_SIGN_SECRET_MAX + TAG];
	char aad[ANDON_SIGN_ID_MAX + 16];
	size_t raw = sealed_len / 2, plain;
	EVP_CIPHER_CTX *ctx;
	int n, alen, ok;

	if (sealed_len % 2 != 0 || raw < NONCE + 1 + TAG || raw > sizeof(buf) || raw - NONCE - TAG >= size ||
	    unhex(sealed, sealed_len, buf) != 0 || (alen = aad_of(id, id_len, aad, sizeof(aad))) < 0)
		return andon_fail(errstr, errstr_size, "sealed secret of %.*s is malformed", (int)id_len, id);
	plain = raw - NONCE - TAG;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return andon_fail(errstr, errstr_size, "out of memory");
	ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, mk, buf) == 1 &&
	     EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)aad, alen) == 1 &&
	     EVP_DecryptUpdate(ctx, (unsigned char *)out, &n, buf + NONCE, (int)plain) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG, buf + NONCE + plain) == 1 &&
	     EVP_DecryptFinal_ex(ctx, (unsigned char *)out + n, &n) == 1;
	EVP_CIPHER_CTX_free(ctx);
	OPENSSL_cleanse(buf, sizeof(buf));
	if (!ok) {
		OPENSSL_cleanse(out, size);
		return andon_fail(errstr, errstr_size, "secret of %.*s does not open under this master key",
				  (int)id_len, id);
	}
	out[plain] = '\0';
	*len = plain;
	return 0;
}

int andon_keystore_parse(const redisReply *r, const unsigned char mk[ANDON_MASTER_KEY_LEN], const char *id,
			 size_t id_len, andon_keyrec_t *rec, char *errstr, size_t errstr_size)
{
	const redisReply *acct, *status, *secret, *policy;

	memset(rec, 0, sizeof(*rec));
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != ANDON_KEYSTORE_NFIELDS)
		return andon_fail(errstr, errstr_size, "key record: %s",
				  r != NULL && r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
	acct = r->element[0];
	status = r->element[1];
	secret = r->element[2];
	policy = r->element[3];
	if (acct->type == REDIS_REPLY_NIL && status->type == REDIS_REPLY_NIL &&
	    secret->type == REDIS_REPLY_NIL)
		return 0;
	if (acct->type != REDIS_REPLY_STRING || status->type != REDIS_REPLY_STRING ||
	    secret->type != REDIS_REPLY_STRING || acct->len == 0 || acct->len >= sizeof(rec->account))
		return andon_fail(errstr, errstr_size, "key record of %.*s is incomplete", (int)id_len, id);
	memcpy(rec->account, acct->str, acct->len);
	rec->active = status->len == 6 && memcmp(status->str, "active", 6) == 0;
	if (andon_keystore_open(mk, id, id_len, secret->str, secret->len, rec->secret, sizeof(rec->secret),
				&rec->secret_len, errstr, errstr_size) != 0)
		return -1;
	if (policy->type == REDIS_REPLY_STRING && (rec->policy = strndup(policy->str, policy->len)) == NULL) {
		OPENSSL_cleanse(rec->secret, sizeof(rec->secret));
		return andon_fail(errstr, errstr_size, "out of memory");
	}
	return 1;
}

/* Writes fields of an existing key only, and stamps "updated": KEYS[1] the key, ARGV field/value pairs. */
static const char set_script[] = "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end "
				 "redis.call('HSET', KEYS[1], unpack(ARGV)) return 1";

static int reply_int(redisContext *c, redisReply *r, char *errstr, size_t errstr_size)
{
	long long v;

	if (r == NULL)
		return andon_fail(errstr, errstr_size, "redis: %s", c->errstr);
	if (r->type != REDIS_REPLY_INTEGER) {
		andon_fail(errstr, errstr_size, "redis: %s",
			   r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
		freeReplyObject(r);
		return -1;
	}
	v = r->integer;
	freeReplyObject(r);
	return v != 0 ? 1 : 0;
}

static int set_fields(redisContext *c, const char *id, int n, const char **fv, char *errstr,
		      size_t errstr_size)
{
	const char *argv[16];
	size_t lens[16];
	char key[ANDON_SIGN_ID_MAX + 32], now[32];
	int argc = 0;

	if (andon_keystore_key(id, strlen(id), key, sizeof(key)) != 0 || n > 10)
		return andon_fail(errstr, errstr_size, "key id too long");
	snprintf(now, sizeof(now), "%lld", (long long)andon_wall_ms());
	argv[argc++] = "EVAL";
	argv[argc++] = set_script;
	argv[argc++] = "1";
	argv[argc++] = key;
	for (int i = 0; i < n; i++)
		argv[argc++] = fv[i];
	argv[argc++] = "updated";
	argv[argc++] = now;
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	return reply_int(c, redisCommandArgv(c, argc, argv, lens), errstr, errstr_size);
}

int andon_keystore_set(redisContext *c, const char *id, const char *field, const char *value, char *errstr,
		       size_t errstr_size)
{
	const char *fv[2] = {field, value};

	return set_fields(c, id, 2, fv, errstr, errstr_size);
}

int andon_keystore_create(redisContext *c, const unsigned char mk[ANDON_MASTER_KEY_LEN], const char *account,
			  const char *policy, andon_creds_t *out, char *errstr, size_t errstr_size)
{
	char sealed[2 * (12 + ANDON_SIGN_SECRET_MAX + 16) + 1], key[ANDON_SIGN_ID_MAX + 32], now[32];
	const char *argv[20];
	size_t lens[20];
	redisReply *r;
	int argc = 0, rc;

	if (strlen(account) == 0 || strlen(account) > 64)
		return andon_fail(errstr, errstr_size, "account must be 1 to 64 bytes");
	if (andon_keystore_new_id(out->key_id) != 0 || andon_keystore_new_secret(out->secret) != 0)
		return andon_fail(errstr, errstr_size, "no randomness for a new key");
	if (andon_keystore_seal(mk, out->key_id, out->secret, strlen(out->secret), sealed, sizeof(sealed),
				errstr, errstr_size) != 0)
		return -1;
	andon_keystore_key(out->key_id, strlen(out->key_id), key, sizeof(key));
	snprintf(now, sizeof(now), "%lld", (long long)andon_wall_ms());
	/* One script: the record and the index entry together, and never over an existing id. */
	argv[argc++] = "EVAL";
	argv[argc++] =
	    "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end "
	    "redis.call('HSET', KEYS[1], unpack(ARGV, 2)) redis.call('SADD', KEYS[2], ARGV[1]) return 1";
	argv[argc++] = "2";
	argv[argc++] = key;
	argv[argc++] = ANDON_KEYSTORE_INDEX;
	argv[argc++] = out->key_id;
	argv[argc++] = "account";
	argv[argc++] = account;
	argv[argc++] = "status";
	argv[argc++] = "active";
	argv[argc++] = "secret";
	argv[argc++] = sealed;
	argv[argc++] = "created";
	argv[argc++] = now;
	argv[argc++] = "updated";
	argv[argc++] = now;
	if (policy != NULL) {
		argv[argc++] = "policy";
		argv[argc++] = policy;
	}
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	r = redisCommandArgv(c, argc, argv, lens);
	if ((rc = reply_int(c, r, errstr, errstr_size)) == 0)
		return andon_fail(errstr, errstr_size, "key id %s exists already", out->key_id);
	return rc < 0 ? -1 : 0;
}

int andon_keystore_rotate(redisContext *c, const unsigned char mk[ANDON_MASTER_KEY_LEN], const char *id,
			  andon_creds_t *out, char *errstr, size_t errstr_size)
{
	char sealed[2 * (12 + ANDON_SIGN_SECRET_MAX + 16) + 1];
	const char *fv[2];

	if (strlen(id) > ANDON_SIGN_ID_MAX)
		return andon_fail(errstr, errstr_size, "key id too long");
	snprintf(out->key_id, sizeof(out->key_id), "%s", id);
	if (andon_keystore_new_secret(out->secret) != 0)
		return andon_fail(errstr, errstr_size, "no randomness for a new secret");
	if (andon_keystore_seal(mk, id, out->secret, strlen(out->secret), sealed, sizeof(sealed), errstr,
				errstr_size) != 0)
		return -1;
	fv[0] = "secret";
	fv[1] = sealed;
	return set_fields(c, id, 2, fv, errstr, errstr_size);
}

int andon_keystore_delete(redisContext *c, const char *id, char *errstr, size_t errstr_size)
{
	char key[ANDON_SIGN_ID_MAX + 32];
	const char *argv[6];
	size_t lens[6];

	if (andon_keystore_key(id, strlen(id), key, sizeof(key)) != 0)
		return andon_fail(errstr, errstr_size, "key id too long");
	argv[0] = "EVAL";
	argv[1] = "local n = redis.call('DEL', KEYS[1]) redis.call('SREM', KEYS[2], ARGV[1]) return n";
	argv[2] = "2";
	argv[3] = key;
	argv[4] = ANDON_KEYSTORE_INDEX;
	argv[5] = id;
	for (int i = 0; i < 6; i++)
		lens[i] = strlen(argv[i]);
	return reply_int(c, redisCommandArgv(c, 6, argv, lens), errstr, errstr_size);
}

int andon_kms_create(redisContext *c, const unsigned char mk[ANDON_MASTER_KEY_LEN], const char *account,
		     const char *users, char id[37], char *errstr, size_t errstr_size)
{
	unsigned char material[32];
	char text[65], sealed[2 * (12 + 64 + 16) + 1], sealed_id[48], key[96], now[32];
	const char *argv[20];
	size_t lens[20];
	int argc = 0, rc;

	if (strlen(account) == 0 || strlen(account) > 64)
		return andon_fail(errstr, errstr_size, "account must be 1 to 64 bytes");
	andon_uuid4(id);
	if (RAND_bytes(material, sizeof(material)) != 1)
		return andon_fail(errstr, errstr_size, "no randomness for a new key");
	tohex(material, sizeof(material), text);
	OPENSSL_cleanse(material, sizeof(material));
	snprintf(sealed_id, sizeof(sealed_id), "kms:%s", id);
	rc = andon_keystore_seal(mk, sealed_id, text, 64, sealed, sizeof(sealed), errstr, errstr_size);
	OPENSSL_cleanse(text, sizeof(text));
	if (rc != 0)
		return -1;
	snprintf(key, sizeof(key), ANDON_KMS_KEY_PREFIX "%s", id);
	snprintf(now, sizeof(now), "%lld", (long long)andon_wall_ms());
	argv[argc++] = "EVAL";
	argv[argc++] =
	    "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end "
	    "redis.call('HSET', KEYS[1], unpack(ARGV, 2)) redis.call('SADD', KEYS[2], ARGV[1]) return 1";
	argv[argc++] = "2";
	argv[argc++] = key;
	argv[argc++] = ANDON_KMS_INDEX;
	argv[argc++] = id;
	argv[argc++] = "account";
	argv[argc++] = account;
	argv[argc++] = "status";
	argv[argc++] = "Enabled";
	argv[argc++] = "users";
	argv[argc++] = users != NULL ? users : "";
	argv[argc++] = "material";
	argv[argc++] = sealed;
	argv[argc++] = "created";
	argv[argc++] = now;
	argv[argc++] = "updated";
	argv[argc++] = now;
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	if ((rc = reply_int(c, redisCommandArgv(c, argc, argv, lens), errstr, errstr_size)) == 0)
		return andon_fail(errstr, errstr_size, "key id %s exists already", id);
	return rc < 0 ? -1 : 0;
}

int andon_kms_status(redisContext *c, const char *id, const char *from, const char *to, char *errstr,
		     size_t errstr_size)
{
	char key[96], now[32], deletion[32];
	const char *argv[9];
	size_t lens[9];
	redisReply *r;
	long long v;

	snprintf(key, sizeof(key), ANDON_KMS_KEY_PREFIX "%s", id);
	snprintf(now, sizeof(now), "%lld", (long long)andon_wall_ms());
	/* Pending deletion: seven days, Step Functions' and KMS's shortest waiting period. */
	snprintf(deletion, sizeof(deletion), "%lld",
		 strcmp(to, "PendingDeletion") == 0 ? (long long)andon_wall_ms() + 7LL * 86400000 : 0LL);
	argv[0] = "EVAL";
	argv[1] = "local st = redis.call('HGET', KEYS[1], 'status') if not st then return 0 end "
		  "if not string.find(',' .. ARGV[1] .. ',', ',' .. st .. ',', 1, true) then return 2 end "
		  "redis.call('HSET', KEYS[1], 'status', ARGV[2], 'updated', ARGV[3], 'deletion', ARGV[4]) "
		  "return 1";
	argv[2] = "1";
	argv[3] = key;
	argv[4] = from;
	argv[5] = to;
	argv[6] = now;
	argv[7] = deletion;
	for (int i = 0; i < 8; i++)
		lens[i] = strlen(argv[i]);
	r = redisCommandArgv(c, 8, argv, lens);
	if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
		andon_fail(errstr, errstr_size, "redis: %s",
			   r == NULL			  ? c->errstr
			   : r->type == REDIS_REPLY_ERROR ? r->str
							  : "unexpected reply");
		freeReplyObject(r);
		return -1;
	}
	v = r->integer;
	freeReplyObject(r);
	return (int)v;
}

int andon_kms_users(redisContext *c, const char *id, const char *users, char *errstr, size_t errstr_size)
{
	char key[96], now[32];
	const char *argv[8];
	size_t lens[8];

	snprintf(key, sizeof(key), ANDON_KMS_KEY_PREFIX "%s", id);
	snprintf(now, sizeof(now), "%lld", (long long)andon_wall_ms());
	argv[0] = "EVAL";
	argv[1] = set_script;
	argv[2] = "1";
	argv[3] = key;
	argv[4] = "users";
	argv[5] = users;
	argv[6] = "updated";
	argv[7] = now;
	for (int i = 0; i < 8; i++)
		lens[i] = strlen(argv[i]);
	return reply_int(c, redisCommandArgv(c, 8, argv, lens), errstr, errstr_size);
}
