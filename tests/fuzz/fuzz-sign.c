/* fuzz-sign: libFuzzer target for signed requests: the signature headers and the worker's check
 * (lib/sign.h, worker/auth.h, worker/authz.h) on the path of andon_request_prepare_auth(). */
#include "auth.h"
#include "authz.h"
#include "call.h"
#include "config.h"
#include "request.h"
#include "sign.h"
#include "utf8.h"

#include <librdkafka/rdkafka.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * An input without a 0xff byte is a message value (the request seeds), signed correctly by key A: the
 * check then goes all the way to the policy and the account. Otherwise it is split at 0xff bytes into
 * key id, date, signature, topic, Kafka key, value and a mode byte; the mode says which headers go in
 * (each may be repeated), whether the signature is the fuzzed bytes or the right one for key A or B over
 * the parts (with the fuzzed date or now), and how far the Kafka timestamp is from now.
 *
 * Invariants, besides the sanitizers: a request accepted has a signature andon_sign_check accepts with
 * key A's or B's secret, a date within 15 minutes of its timestamp, acts in that key's account and its
 * key is active; a refusal has one of the documented codes with its status and a UTF-8 message.
 */

#define KEY_A "AKANFUZZAAAAAAAAAAAA"
#define KEY_B "AKANFUZZBBBBBBBBBBBB"
#define KEY_C "AKANFUZZCCCCCCCCCCCC" /* inactive */
#define SEC_A "secret-a-0123456789012345678901234567890"
#define SEC_B "secret-b-0123456789012345678901234567890"

static andon_config_t *cfg;
static andon_auth_t *auth;

static void violation(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz-sign: invariant violated: %s: %s\n", what, detail != NULL ? detail : "");
	abort();
}

typedef struct ctx {
	andon_auth_msg_t m;
	const char *reason;
} ctx_t;

static int check(void *opaque, const andon_op_t *op, const andon_req_t *req,
		 char account[ANDON_REQUEST_ACCOUNT_SIZE], const char **key_id, andon_apierr_t *err)
{
	ctx_t *c = opaque;

	*key_id = andon_auth_key_id(auth);
	return andon_auth_check(auth, &c->m, op, req, account, err, &c->reason);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];

	(void)argc;
	(void)argv;
	if ((cfg = andon_config_new()) == NULL ||
	    andon_config_set(cfg, "security.key_cache_ms", "60000", err, sizeof(err)) != 0 ||
	    andon_config_set(cfg, "security.max_request_age", "86400", err, sizeof(err)) != 0 ||
	    (auth = andon_auth_new(cfg, NULL, NULL, err, sizeof(err))) == NULL)
		abort();
	return 0;
}

/* The documented refusals (docs/PROTOCOL.md section 12.4). */
static int documented(const andon_apierr_t *e)
{
	static const struct {
		const char *code;
		int status;
	} ok[] = {{"MissingAuthenticationTokenException", 403},
		  {"InvalidSignatureException", 400},
		  {"UnrecognizedClientException", 400},
		  {"AccessDeniedException", 400},
		  {"OperationNotPermittedFault", 400},
		  {"InvalidAccessKeyID", 403},
		  {"SignatureNotMatch", 403},
		  {"RequestTimeTooSkewed", 403},
		  {"AccessDenied", 403},
		  {"InternalFailure", 500}};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(e->code, ok[i].code) == 0 && e->status == ok[i].status)
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *part[7] = {0};
	size_t plen[7] = {0}, np = 0, start = 0;
	unsigned mode;
	char date[ANDON_SIGN_DATE_LEN + 1], sig[ANDON_SIGN_SIG_LEN + 1], topic[256];
	char account[ANDON_REQUEST_ACCOUNT_SIZE];
	rd_kafka_headers_t *h = rd_kafka_headers_new(8);
	andon_arena_t arena;
	msgpack_zone zone;
	andon_req_t req;
	andon_call_t call, gate;
	andon_apierr_t err;
	ctx_t c;
	time_t now = time(NULL);
	andon_request_kind_t kind;

	/* Preloaded each time: a run longer than the cache period must not go looking for Redis. */
	andon_auth_preload(
	    auth, KEY_A, "123456789012", 1, SEC_A,
	    "{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"},"
	    "{\"Effect\":\"Deny\",\"Action\":\"states:Stop*\",\"Resource\":\"*:execution:deny*\"}]}");
	andon_auth_preload(auth, KEY_B, "210987654321", 1, SEC_B,
			   "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"swf:*\","
			   "\"Resource\":\"arn:aws:swf:*:210987654321:/domain/d?\"}}");
	andon_auth_preload(auth, KEY_C, "123456789012", 0, SEC_A, NULL);

	for (size_t i = 0; i <= size && np < 7; i++) {
		if (i == size || data[i] == 0xff) {
			part[np] = (const char *)data + start;
			plen[np++] = i - start;
			start = i + 1;
		}
	}
	memset(&c, 0, sizeof(c));
	if (np == 1) { /* a plain value: signed right by A */
		part[5] = part[0];
		plen[5] = plen[0];
		part[0] = KEY_A;
		plen[0] = strlen(KEY_A);
		part[3] = "andon.requests";
		plen[3] = 14;
		part[4] = "k";
		plen[4] = 1;
		mode = 0x15;
	} else {
		mode = np == 7 && plen[6] > 0 ? (unsigned char)part[6][0] : 0;
	}
	snprintf(topic, sizeof(topic), "%.*s", (int)(plen[3] > 249 ? 249 : plen[3]), part[3] ? part[3] : "");
	/* The date: fuzzed bytes, or now. */
	if (mode & 0x10 || plen[1] != ANDON_SIGN_DATE_LEN) {
		andon_sign_date(now, date);
	} else {
		memcpy(date, part[1], ANDON_SIGN_DATE_LEN);
		date[ANDON_SIGN_DATE_LEN] = '\0';
	}
	/* The signature: fuzzed, or right for A or B. */
	if (mode & 0x04) {
		const char *secret = mode & 0x08 ? SEC_B : SEC_A;

		andon_sign_compute(secret, strlen(secret), part[0] ? part[0] : "", plen[0], date, topic,
				   strlen(topic), part[4], plen[4], part[5], plen[5], sig);
		part[2] = sig;
		plen[2] = ANDON_SIGN_SIG_LEN;
	}
	if (mode & 0x01 || np > 1) {
		if (!(mode & 0x20))
			rd_kafka_header_add(h, ANDON_SIGN_HDR_KEY_ID, -1, part[0], (ssize_t)plen[0]);
		if (!(mode & 0x40))
			rd_kafka_header_add(h, ANDON_SIGN_HDR_DATE, -1, date, -1);
		rd_kafka_header_add(h, ANDON_SIGN_HDR_SIG, -1, part[2], (ssize_t)plen[2]);
		if (mode & 0x80) /* a second copy of one */
			rd_kafka_header_add(h, mode & 0x02 ? ANDON_SIGN_HDR_SIG : ANDON_SIGN_HDR_KEY_ID, -1,
					    part[2], (ssize_t)plen[2]);
	}
	c.m.hdrs = h;
	c.m.topic = topic;
	c.m.key = part[4];
	c.m.key_len = plen[4];
	c.m.value = part[5];
	c.m.value_len = plen[5];
	c.m.ts_ms = ((int64_t)now + (mode & 0x02 ? 1000 : 0)) * 1000;

	if (andon_arena_init(&arena, 4 * plen[5] + 65536) != 0 || !msgpack_zone_init(&zone, 4096))
		abort();
	memset(&call, 0, sizeof(call));
	kind = andon_request_prepare_auth(cfg, &arena, &zone, part[5] != NULL ? part[5] : "", plen[5], &req,
					  account, &call, &gate, &err, check, &c, NULL);
	if (kind == ANDON_REQUEST_CALL) {
		andon_sign_hdrs_t sh;
		int64_t d;
		int a = part[0] != NULL && plen[0] == strlen(KEY_A) && memcmp(part[0], KEY_A, plen[0]) == 0;
		int b = part[0] != NULL && plen[0] == strlen(KEY_B) && memcmp(part[0], KEY_B, plen[0]) == 0;

		if ((!a && !b) || andon_sign_read(h, &sh) != ANDON_SIGN_OK)
			violation("accepted without a known key's headers", account);
		if (andon_sign_check(&sh, a ? SEC_A : SEC_B, strlen(SEC_A), topic, strlen(topic), part[4],
				     plen[4], part[5], plen[5], c.m.ts_ms, &d) != ANDON_SIGN_OK)
			violation("accepted with a signature or date the check refuses", account);
		if (strcmp(account, a ? "123456789012" : "210987654321") != 0)
			violation("accepted in another account than the key's", account);
	} else if (kind == ANDON_REQUEST_ERROR && c.reason != NULL) {
		if (!documented(&err))
			violation("refusal with an undocumented code or status", err.code);
		if (!andon_utf8_valid(err.message, strlen(err.message)))
			violation("refusal message is not UTF-8", err.message);
	}
	andon_arena_free(&arena);
	msgpack_zone_destroy(&zone);
	rd_kafka_headers_destroy(h);
	return 0;
}
