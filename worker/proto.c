/* proto: the request envelope, replies and dead-letter records on the wire (docs/PROTOCOL.md). */
#include "proto.h"

#include "codec.h"
#include "utf8.h"
#include "util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void apierr_set(andon_apierr_t *err, const char *code, int status, int bad_input, const char *fmt,
		       va_list ap)
{
	err->code = code;
	err->status = status;
	err->bad_input = bad_input;
	int n = vsnprintf(err->message, sizeof(err->message), fmt, ap);

	/* A message cut at the buffer's end must not end inside a character. */
	if (n >= (int)sizeof(err->message))
		err->message[andon_utf8_boundary(err->message, strlen(err->message))] = '\0';
}

int andon_apierr(andon_apierr_t *err, const char *code, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	apierr_set(err, code, status, 1, fmt, ap);
	va_end(ap);
	return -1;
}

int andon_apierr_answer(andon_apierr_t *err, const char *code, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	apierr_set(err, code, status, 0, fmt, ap);
	va_end(ap);
	return -1;
}

int andon_proto_token_ok(const char *s, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

int andon_proto_topic_ok(const char *s, size_t len)
{
	/* Kafka's own rule: 1-249 of [a-zA-Z0-9._-], and not "." or "..". */
	if (len == 0 || len > 249 || (s[0] == '.' && (len == 1 || (len == 2 && s[1] == '.'))))
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return 0;
	return 1;
}

int andon_proto_parse(const msgpack_object *root, andon_req_t *req, andon_apierr_t *err)
{
	const msgpack_object *body;

	memset(req, 0, sizeof(*req));
	if (root->type != MSGPACK_OBJECT_MAP)
		return andon_apierr(err, "ValidationException", 400, "request is not a msgpack map");
	/* The id comes first: without it there is nobody to answer. */
	if (andon_codec_get_str(root, "id", &req->id, &req->id_len) != 1 ||
	    !andon_proto_token_ok(req->id, req->id_len, ANDON_ID_MAX)) {
		req->id = NULL;
		return andon_apierr(err, "ValidationException", 400,
				    "id must be a string of 1 to %d printable ASCII characters",
				    ANDON_ID_MAX);
	}
	if (andon_codec_get_str(root, "op", &req->op, &req->op_len) != 1 || req->op_len == 0 ||
	    req->op_len > 128) {
		req->op = "";
		req->op_len = 0;
		return andon_apierr(err, "ValidationException", 400,
				    "op must be a string like Service.Action");
	}
	if (andon_codec_get_str(root, "replyTo", &req->reply_to, &req->reply_to_len) < 0 ||
	    (req->reply_to != NULL && !andon_proto_topic_ok(req->reply_to, req->reply_to_len))) {
		req->reply_to = NULL;
		req->reply_to_len = 0;
		return andon_apierr(err, "ValidationException", 400, "replyTo must be a Kafka topic name");
	}
	if (andon_codec_get_int(root, "v", &req->v) != 1)
		return andon_apierr(err, "ValidationException", 400,
				    "v (protocol version) must be an integer");
	if (req->v != ANDON_PROTO_VERSION)
		return andon_apierr(err, "APIVersionNotSupported", 400,
				    "protocol version %lld is not supported", (long long)req->v);
	if (andon_codec_get_str(root, "account", &req->account, &req->account_len) < 0 ||
	    (req->account != NULL && !andon_proto_token_ok(req->account, req->account_len, 64)))
		return andon_apierr(err, "ValidationException", 400,
				    "account must be a string of 1 to 64 printable characters");
	body = andon_codec_map_get(root, "body");
	if (body == NULL || body->type != MSGPACK_OBJECT_MAP)
		return andon_apierr(err, "ValidationException", 400, "body must be a map");
	req->body = body;
	return 0;
}

/* Writes the four fields every reply starts with; the caller adds the fifth. */
static void reply_head(msgpack_packer *pk, const andon_req_t *req, int ok)
{
	msgpack_pack_map(pk, 5);
	andon_codec_pack_cstr(pk, "v");
	msgpack_pack_int(pk, ANDON_PROTO_VERSION);
	andon_codec_pack_cstr(pk, "id");
	andon_codec_pack_strn(pk, req->id, req->id_len);
	andon_codec_pack_cstr(pk, "op");
	/* An unknown op is echoed as the caller sent it, made valid UTF-8: strict decoders refuse bad str. */
	andon_codec_pack_text(pk, req->op, req->op_len);
	andon_codec_pack_cstr(pk, "ok");
	if (ok)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
}

void andon_proto_reply_raw(msgpack_sbuffer *sb, const andon_req_t *req, int ok, const char *payload,
			   size_t len)
{
	msgpack_packer pk;

	msgpack_sbuffer_clear(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	reply_head(&pk, req, ok);
	andon_codec_pack_cstr(&pk, ok ? "body" : "error");
	/* payload is one complete msgpack object from the engine; splicing it keeps the reply valid. */
	msgpack_sbuffer_write(sb, payload, len);
}

void andon_proto_reply_err(msgpack_sbuffer *sb, const andon_req_t *req, const andon_apierr_t *err)
{
	msgpack_packer pk;

	msgpack_sbuffer_clear(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	reply_head(&pk, req, 0);
	andon_codec_pack_cstr(&pk, "error");
	msgpack_pack_map(&pk, 3);
	andon_codec_pack_cstr(&pk, "code");
	andon_codec_pack_cstr(&pk, err->code);
	andon_codec_pack_cstr(&pk, "message");
	andon_codec_pack_text(&pk, err->message, strlen(err->message));
	andon_codec_pack_cstr(&pk, "status");
	msgpack_pack_int(&pk, err->status);
}

void andon_proto_dlq(msgpack_sbuffer *sb, const char *code, const char *reason, const char *topic,
		     int32_t partition, int64_t offset, int64_t ts, const void *key, size_t key_len,
		     const void *original, size_t original_len)
{
	msgpack_packer pk;

	msgpack_sbuffer_clear(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 10);
	andon_codec_pack_cstr(&pk, "v");
	msgpack_pack_int(&pk, ANDON_PROTO_VERSION);
	andon_codec_pack_cstr(&pk, "code");
	andon_codec_pack_cstr(&pk, code);
	andon_codec_pack_cstr(&pk, "reason");
	andon_codec_pack_text(&pk, reason, strlen(reason));
	andon_codec_pack_cstr(&pk, "topic");
	andon_codec_pack_cstr(&pk, topic);
	andon_codec_pack_cstr(&pk, "partition");
	msgpack_pack_int32(&pk, partition);
	andon_codec_pack_cstr(&pk, "offset");
	msgpack_pack_int64(&pk, offset);
	andon_codec_pack_cstr(&pk, "ts");
	msgpack_pack_int64(&pk, ts);
	andon_codec_pack_cstr(&pk, "key");
	if (key != NULL) {
		msgpack_pack_bin(&pk, key_len);
		msgpack_pack_bin_body(&pk, key, key_len);
	} else {
		msgpack_pack_nil(&pk);
	}
	andon_codec_pack_cstr(&pk, "original");
	msgpack_pack_bin(&pk, original_len);
	msgpack_pack_bin_body(&pk, original, original_len);
	andon_codec_pack_cstr(&pk, "time");
	msgpack_pack_int64(&pk, andon_wall_ms());
}
