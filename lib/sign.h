/* sign: signed requests (docs/PROTOCOL.md, section 11): canonical string, HMAC-SHA256, credentials. */
#ifndef ANDON_SIGN_H
#define ANDON_SIGN_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The Kafka headers of a signed request. */
#define ANDON_SIGN_HDR_KEY_ID	"andon-key-id"
#define ANDON_SIGN_HDR_DATE	"andon-date"
#define ANDON_SIGN_HDR_SIG	"andon-signature"
#define ANDON_SIGN_HDR_ORIG_KEY "andon-original-key-id" /* set by andon-replay --re-sign */

#define ANDON_SIGN_ALGORITHM  "ANDON1-HMAC-SHA256"
#define ANDON_SIGN_DATE_LEN   16  /* 20261130T102032Z: UTC, ISO 8601 basic */
#define ANDON_SIGN_SIG_LEN    64  /* lowercase hex of 32 bytes */
#define ANDON_SIGN_ID_MAX     64  /* access key id: printable ASCII, at most this many bytes */
#define ANDON_SIGN_SECRET_MAX 128 /* secret access key: printable ASCII */
#define ANDON_SIGN_SKEW_S     900 /* a signing date this far from the Kafka timestamp is refused */

/** Credentials a producer signs with. */
typedef struct andon_creds {
	char key_id[ANDON_SIGN_ID_MAX + 1];
	char secret[ANDON_SIGN_SECRET_MAX + 1];
} andon_creds_t;

/** The signature headers as read from a message; pointers into the message, NULL when absent. */
typedef struct andon_sign_hdrs {
	const char *key_id, *date, *sig;
	size_t key_id_len, date_len, sig_len;
} andon_sign_hdrs_t;

/** Why a signature check failed. */
typedef enum andon_sign_result {
	ANDON_SIGN_OK = 0,
	ANDON_SIGN_UNSIGNED,  /* no andon-key-id header */
	ANDON_SIGN_MALFORMED, /* a header present twice, empty, too long, or a date or signature badly formed
			       */
	ANDON_SIGN_MISMATCH,  /* the signature is not the one the secret gives */
	ANDON_SIGN_SKEWED,    /* the date is more than ANDON_SIGN_SKEW_S from the Kafka timestamp */
} andon_sign_result_t;

/** Formats t (seconds since the epoch, UTC) as a signing date into out[ANDON_SIGN_DATE_LEN + 1]. */
void andon_sign_date(time_t t, char out[ANDON_SIGN_DATE_LEN + 1]);

/** Parses a signing date (exactly ANDON_SIGN_DATE_LEN bytes, a real UTC time). 0 with *t set, or -1. */
int andon_sign_parse_date(const char *s, size_t len, int64_t *t);

/**
 * The canonical string of a request (docs/PROTOCOL.md section 11), written into out[0..size) without a NUL:
 * "ANDON1-HMAC-SHA256\n" date "\n" key_id "\n" topic "\n" hex(SHA-256(key)) "\n" hex(SHA-256(value)).
 * A NULL key or value is hashed as empty. Returns its length, or -1 when out is too small (the string is
 * 19 + 17 + key_id_len + 1 + topic_len + 1 + 64 + 1 + 64 bytes; 512 is always enough for a legal topic).
 */
int andon_sign_canonical(const char *key_id, size_t key_id_len, const char *date, const char *topic,
			 size_t topic_len, const void *key, size_t key_len, const void *value,
			 size_t value_len, char *out, size_t size);

/** hex(HMAC-SHA256(secret, canonical string of the request)) into sig[ANDON_SIGN_SIG_LEN + 1]. 0, or -1. */
int andon_sign_compute(const char *secret, size_t secret_len, const char *key_id, size_t key_id_len,
		       const char *date, const char *topic, size_t topic_len, const void *key, size_t key_len,
		       const void *value, size_t value_len, char sig[ANDON_SIGN_SIG_LEN + 1]);

/**
 * Reads the signature headers of hdrs (may be NULL: unsigned) into out. Returns ANDON_SIGN_OK,
 * ANDON_SIGN_UNSIGNED (no key id) or ANDON_SIGN_MALFORMED (a header twice, empty or too long, a missing
 * date or signature, or a date or signature of the wrong shape).
 */
andon_sign_result_t andon_sign_read(const rd_kafka_headers_t *hdrs, andon_sign_hdrs_t *out);

/**
 * Checks h (from andon_sign_read) against the request and the secret: the date within ANDON_SIGN_SKEW_S
 * of ts_ms (the message's Kafka timestamp, ms; <= 0: not checked) and the signature, compared in constant
 * time. Returns ANDON_SIGN_OK, ANDON_SIGN_SKEWED or ANDON_SIGN_MISMATCH; *date gets the parsed date.
 */
andon_sign_result_t andon_sign_check(const andon_sign_hdrs_t *h, const char *secret, size_t secret_len,
				     const char *topic, size_t topic_len, const void *key, size_t key_len,
				     const void *value, size_t value_len, int64_t ts_ms, int64_t *date);

/**
 * Adds the three signature headers for a message of topic, key and value, signed at now (seconds), to
 * hdrs (replacing any there). Returns 0, or -1 with a reason.
 */
int andon_sign_headers(rd_kafka_headers_t *hdrs, const andon_creds_t *c, const char *topic, const void *key,
		       size_t key_len, const void *value, size_t value_len, time_t now, char *errstr,
		       size_t errstr_size);

/**
 * rd_kafka_producev() of one message (RD_KAFKA_MSG_F_COPY), signed with c at the wall clock's now when c is
 * not NULL (NULL: unsigned, the trusted-producer mode). partition may be RD_KAFKA_PARTITION_UA. extra
 * (may be NULL) are headers the message carries besides the signature (copied). Returns librdkafka's
 * result (RD_KAFKA_RESP_ERR__QUEUE_FULL: poll and call again).
 */
rd_kafka_resp_err_t andon_sign_produce(rd_kafka_t *rk, const andon_creds_t *c, const char *topic,
				       int32_t partition, const void *key, size_t key_len, const void *value,
				       size_t value_len, const rd_kafka_headers_t *extra, void *opaque);

/**
 * Finds credentials as AWS tools do: ANDON_ACCESS_KEY_ID and ANDON_SECRET_ACCESS_KEY, else the file
 * ANDON_SHARED_CREDENTIALS_FILE, else ~/.andon/credentials ("access_key_id = ..." and
 * "secret_access_key = ..." lines, the andon.conf syntax). Returns 1 found, 0 none anywhere (unsigned
 * mode), or -1 with a reason (half a pair, a bad value, an unreadable file that was named).
 */
int andon_creds_load(andon_creds_t *c, char *errstr, size_t errstr_size);

/** Reads credentials from path. 0, or -1 with a reason. */
int andon_creds_file(andon_creds_t *c, const char *path, char *errstr, size_t errstr_size);

#endif
