/* keystore: access key records in Redis (docs/REDIS.md, section 11) and the master key that seals secrets. */
#ifndef ANDON_KEYSTORE_H
#define ANDON_KEYSTORE_H

#include "sign.h"

#include <hiredis.h>
#include <stddef.h>

#define ANDON_MASTER_KEY_LEN 32 /* AES-256 */

/*
 * Layout (one hash slot, {auth}, so a Redis Cluster router sends every call to one node):
 *   andon:{auth}:key:<id>  HASH  account, status ("active" | "inactive"), secret (sealed, hex), policy (JSON
 *                                text, absent: nothing allowed), created, updated (ms since the epoch)
 *   andon:{auth}:keys      SET   every key id, for listing
 * A sealed secret is hex(nonce[12] || AES-256-GCM(master key, secret, aad "andon-key:<id>") || tag[16]):
 * the id as associated data, so a sealed secret copied onto another key does not open.
 */
#define ANDON_KEYSTORE_PREFIX  "andon:{auth}:key:"
#define ANDON_KEYSTORE_INDEX   "andon:{auth}:keys"
#define ANDON_KMS_KEY_PREFIX   "andon:{kms}:key:" /* customer keys (docs/REDIS.md section 12) */
#define ANDON_KMS_INDEX	       "andon:{kms}:keys"
#define ANDON_KEYSTORE_NFIELDS 4 /* andon_keystore_fields[]: what the worker reads with HMGET */
extern const char *const andon_keystore_fields[ANDON_KEYSTORE_NFIELDS];

/** A key record as the worker uses it. */
typedef struct andon_keyrec {
	char account[65];
	int active;
	char secret[ANDON_SIGN_SECRET_MAX + 1];
	size_t secret_len;
	char *policy; /* JSON text (malloc'd, the caller frees), NULL when the record has none */
} andon_keyrec_t;

/**
 * Reads the master key from path: 64 hex digits, optionally followed by a newline. 0, or -1 with a reason
 * (unreadable, wrong shape, or readable by group or others).
 */
int andon_master_load(const char *path, unsigned char key[ANDON_MASTER_KEY_LEN], char *errstr,
		      size_t errstr_size);

/** Creates path (mode 0600, never overwriting) holding a new random master key. 0, or -1 with a reason. */
int andon_master_create(const char *path, char *errstr, size_t errstr_size);

/** The Redis key of key id id into out[size] (NUL-terminated). 0, or -1 when it does not fit. */
int andon_keystore_key(const char *id, size_t id_len, char *out, size_t size);

/** A new key id ("AKAN" and 16 characters of A-Z2-7) into out[21], from the system's CSPRNG. 0 or -1. */
int andon_keystore_new_id(char out[21]);
/** A new secret (40 characters of A-Za-z0-9) into out[41]. 0 or -1. */
int andon_keystore_new_secret(char out[41]);

/** Seals secret for key id into out[size] (hex, NUL-terminated). 0, or -1 with a reason. */
int andon_keystore_seal(const unsigned char mk[ANDON_MASTER_KEY_LEN], const char *id, const char *secret,
			size_t secret_len, char *out, size_t size, char *errstr, size_t errstr_size);

/** Opens a sealed secret of key id into out[size] (NUL-terminated), its length in *len. 0, or -1. */
int andon_keystore_open(const unsigned char mk[ANDON_MASTER_KEY_LEN], const char *id, size_t id_len,
			const char *sealed, size_t sealed_len, char *out, size_t size, size_t *len,
			char *errstr, size_t errstr_size);

/**
 * Reads the reply of "HMGET <key> account status secret policy" (andon_keystore_fields) for key id into
 * rec. Returns 1 found, 0 no such key (every field nil), -1 with a reason (a partial record, a secret that
 * does not open under mk).
 */
int andon_keystore_parse(const redisReply *r, const unsigned char mk[ANDON_MASTER_KEY_LEN], const char *id,
			 size_t id_len, andon_keyrec_t *rec, char *errstr, size_t errstr_size);

/*
 * Operator changes (andon-keys, tests), on a hiredis connection; each is one Redis call on one slot.
 * Return 0, 1 where a missing key is possible (1: done, 0: no such key), or -1 with a reason.
 */

/**
 * Creates a key for account (1-64 printable bytes) with policy (JSON text, may be NULL: nothing allowed
 * until one is set; the caller validated it) and a new id and secret, written to out.
 */
int andon_keystore_create(redisContext *c, const unsigned char mk[ANDON_MASTER_KEY_LEN], const char *account,
			  const char *policy, andon_creds_t *out, char *errstr, size_t errstr_size);

/** Sets field ("status", "policy") of key id to value: 1 done, 0 no such key, -1. */
int andon_keystore_set(redisContext *c, const char *id, const char *field, const char *value, char *errstr,
		       size_t errstr_size);

/** A new secret for key id (the old one stops working), into out: 1 done, 0 no such key, -1. */
int andon_keystore_rotate(redisContext *c, const unsigned char mk[ANDON_MASTER_KEY_LEN], const char *id,
			  andon_creds_t *out, char *errstr, size_t errstr_size);

/** Deletes key id: 1 done, 0 no such key, -1. */
int andon_keystore_delete(redisContext *c, const char *id, char *errstr, size_t errstr_size);

/*
 * Customer managed keys (docs/REDIS.md section 12): andon:{kms}:key:<id> HASH account, status ("Enabled",
 * "Disabled", "PendingDeletion"), users (access key ids allowed to use it, comma-separated, or "*": every
 * key of the account), material (32 random bytes as 64 hex digits, sealed like a secret under the key id
 * "kms:<id>"), created, updated, deletion (ms, while pending); andon:{kms}:keys SET of ids.
 */

/** Creates an enabled customer key for account usable by users; its id (a UUID) into id[37]. 0 or -1. */
int andon_kms_create(redisContext *c, const unsigned char mk[ANDON_MASTER_KEY_LEN], const char *account,
		     const char *users, char id[37], char *errstr, size_t errstr_size);

/**
 * Moves customer key id to status to ("Enabled", "Disabled", "PendingDeletion") when its status is one of
 * from (a comma-separated list): 1 done, 0 no such key, 2 in another status, -1.
 */
int andon_kms_status(redisContext *c, const char *id, const char *from, const char *to, char *errstr,
		     size_t errstr_size);

/** Sets the users of customer key id: 1 done, 0 no such key, -1. */
int andon_kms_users(redisContext *c, const char *id, const char *users, char *errstr, size_t errstr_size);

#endif
