/* proto: the request envelope, replies and dead-letter records on the wire (docs/PROTOCOL.md). */
#ifndef ANDON_PROTO_H
#define ANDON_PROTO_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#define ANDON_PROTO_VERSION 1
#define ANDON_ID_MAX	    128 /* request id length limit */

/** An API error as it goes into a reply: the API's own code, its HTTP-like status and a message. */
typedef struct andon_apierr {
	const char *code; /* static string, e.g. "ValidationException" */
	int status;
	int bad_input; /* 1: the request itself is wrong, so it also goes to the DLQ */
	char message[512];
} andon_apierr_t;

/** Fills err for a request that is wrong in itself and returns -1: `return andon_apierr(err, ...)`. */
int andon_apierr(andon_apierr_t *err, const char *code, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** The same for a well-formed request that gets an error answer (e.g. another account's execution). */
int andon_apierr_answer(andon_apierr_t *err, const char *code, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** A decoded request; every pointer points into the unpacked message (not NUL-terminated). */
typedef struct andon_req {
	int64_t v;
	const char *op, *id, *reply_to, *account;
	size_t op_len, id_len, reply_to_len, account_len; /* reply_to/account: NULL and 0 when absent */
	const msgpack_object *body;			  /* a MAP */
} andon_req_t;

/**
 * Reads the envelope of root into req. Returns 0; or -1 with err set. When the request id and op could be
 * read (req->id != NULL) the caller can still answer; otherwise the message can only go to the DLQ.
 */
int andon_proto_parse(const msgpack_object *root, andon_req_t *req, andon_apierr_t *err);

/**
 * Encodes a reply into sb (cleared first): {v, id, op, ok, body} with body's msgpack bytes spliced in as they
 * are, or {v, id, op, ok:false, error} where error is either given as msgpack bytes or built from err.
 */
void andon_proto_reply_raw(msgpack_sbuffer *sb, const andon_req_t *req, int ok, const char *payload,
			   size_t len);
void andon_proto_reply_err(msgpack_sbuffer *sb, const andon_req_t *req, const andon_apierr_t *err);

/** Encodes a DLQ record into sb (cleared first): {v, code, reason, topic, partition, offset, ts, key,
 * original, time}; ts is the original's Kafka timestamp (epoch ms, -1 unknown), which andon-replay gives
 * the copy it produces, so that a replay is judged by its age (RequestExpired, docs/PROTOCOL.md). */
void andon_proto_dlq(msgpack_sbuffer *sb, const char *code, const char *reason, const char *topic,
		     int32_t partition, int64_t offset, int64_t ts, const void *key, size_t key_len,
		     const void *original, size_t original_len);

/** True when s[0..len) is a legal Kafka topic name. */
int andon_proto_topic_ok(const char *s, size_t len);

/** True when s[0..len) is non-empty, at most max bytes, and printable ASCII (0x21-0x7e) only. */
int andon_proto_token_ok(const char *s, size_t len, size_t max);

#endif
