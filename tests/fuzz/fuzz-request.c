/* fuzz-request: libFuzzer target for one consumed message's path before Redis, and the answers it gets. */
#include "answer.h"
#include "codec.h"
#include "config.h"
#include "ops.h"
#include "proto.h"
#include "request.h"

#include <hiredis.h>
#include <msgpack.h>
#include <sanitizer/asan_interface.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Each input is one Kafka message value. It goes through andon_request_prepare(), the code worker.c
 * runs, then gets the answer worker.c's answer() would produce: an error reply and a DLQ record, or, for
 * a call, a reply around a stand-in engine answer. A lookup (call->resolve) is resolved as the worker
 * would after its GET, with no value, with a valid execution of the account, and with the input's own
 * top-level "fuzz.lookup" string when it has one (the envelope ignores unknown keys, so the mutator can
 * reach that value like any other).
 *
 * Besides the sanitizers, everything Andon writes is checked, and any violation aborts:
 *  - every msgpack str in a reply or DLQ record is UTF-8 (RFC 3629); consumers decode them as text.
 *    ANDON_FUZZ_UTF8=0 in the environment turns this check off (or -DANDON_FUZZ_UTF8_DEFAULT=0);
 *  - replies and DLQ records decode as one msgpack map with their documented fields;
 *  - a call's argv is consistent: no NULL, every string within the arena's used part or the message, or
 *    a NUL-terminated constant of exactly its length; FCALL numkeys right; id and op after the keys, then
 *    name/value pairs;
 *  - a key is "andon:{TAG}:SUFFIX" of at most KEY_MAX bytes, and all keys of one call are in one Redis
 *    Cluster slot (lookups included: GET key, or FCALL of a lookup function);
 *  - an error has a code, a status of 400, 413 or 500 and a NUL-terminated message; a call has no error.
 */

#ifndef ANDON_FUZZ_UTF8_DEFAULT
#define ANDON_FUZZ_UTF8_DEFAULT 1
#endif

/* The longest key any adapter builds: a Step Functions execution ARN of 2,048 characters of 4 bytes. */
#define KEY_MAX (7 + 2048 * 4 + 64 + 2 + 16)

#define LOOKUP_FIELD "fuzz.lookup"

static andon_config_t *cfg;
static int check_utf8 = ANDON_FUZZ_UTF8_DEFAULT;

/*
 * The arena's memory, kept between inputs: a fresh malloc of megabytes per input cost more than the
 * input's own work. The part past each input's arena is poisoned instead, so ASan still sees its end.
 */
static char *arena_mem;
static size_t arena_mem_size;

/* What one input runs with. */
typedef struct run {
	const char *msg;
	size_t len;
	andon_arena_t arena;
	msgpack_zone zone, check_zone;
	msgpack_sbuffer sb;
	andon_req_t req;
	char account[ANDON_REQUEST_ACCOUNT_SIZE];
} run_t;

static void violation(const char *what, const char *detail, size_t len)
{
	fprintf(stderr, "fuzz-request: invariant violated: %s: '%.*s'\n", what, (int)(len > 300 ? 300 : len),
		detail != NULL ? detail : "");
	abort();
}

/*
 * Strict RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF. Written apart from
 * lib/utf8.c on purpose: the oracle must not share a bug with the code whose output it judges.
 */
static int utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		uint32_t cp, min;
		size_t more;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			more = 1, min = 0x80;
		else if (c >= 0xe0 && c <= 0xef)
			more = 2, min = 0x800;
		else if (c >= 0xf0 && c <= 0xf4)
			more = 3, min = 0x10000;
		else
			return 0;
		if (n - i - 1 < more)
			return 0;
		cp = c & (0x3fu >> more);
		for (size_t k = 1; k <= more; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += 1 + more;
	}
	return 1;
}

/* Walks every str of o, map keys included; path names o in the violation ("reply.error.message"). */
static void strs_utf8(const msgpack_object *o, const char *path)
{
	char sub[128];

	switch (o->type) {
	case MSGPACK_OBJECT_STR:
		if (check_utf8 && !utf8_ok((const unsigned char *)o->via.str.ptr, o->via.str.size)) {
			snprintf(sub, sizeof(sub), "%s is not UTF-8", path);
			violation(sub, o->via.str.ptr, o->via.str.size);
		}
		break;
	case MSGPACK_OBJECT_ARRAY:
		snprintf(sub, sizeof(sub), "%s[]", path);
		for (uint32_t i = 0; i < o->via.array.size; i++)
			strs_utf8(&o->via.array.ptr[i], sub);
		break;
	case MSGPACK_OBJECT_MAP:
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			const msgpack_object *k = &o->via.map.ptr[i].key;

			snprintf(sub, sizeof(sub), "%s key", path);
			strs_utf8(k, sub);
			if (k->type == MSGPACK_OBJECT_STR)
				snprintf(sub, sizeof(sub), "%s.%.*s", path, (int)k->via.str.size,
					 k->via.str.ptr);
			else
				snprintf(sub, sizeof(sub), "%s.?", path);
			strs_utf8(&o->via.map.ptr[i].val, sub);
		}
		break;
	default:
		break;
	}
}

/* Decodes what Andon produced in r->sb: one map of nfields with the named keys, its strs UTF-8. */
static void check_output(run_t *r, const char *what, uint32_t nfields, const char *const *keys)
{
	msgpack_object o;
	char reason[256];

	msgpack_zone_clear(&r->check_zone);
	if (andon_codec_unpack(r->sb.data, r->sb.size, ANDON_CODEC_DEFAULT_DEPTH, &r->check_zone, &o, reason,
			       sizeof(reason)) != 0)
		violation(what, reason, strlen(reason));
	if (o.type != MSGPACK_OBJECT_MAP || o.via.map.size != nfields)
		violation(what, "not a map of its fields", 24);
	for (const char *const *k = keys; *k != NULL; k++)
		if (andon_codec_map_get(&o, *k) == NULL)
			violation(what, *k, strlen(*k));
	strs_utf8(&o, what);
}

static void check_reply(run_t *r, int ok)
{
	static const char *const ok_keys[] = {"v", "id", "op", "ok", "body", NULL};
	static const char *const err_keys[] = {"v", "id", "op", "ok", "error", NULL};

	check_output(r, "reply", 5, ok ? ok_keys : err_keys);
}

/* The DLQ record worker.c's dead_letter() makes, with its cut of the original. */
static void dead_letter(run_t *r, const andon_apierr_t *err)
{
	static const char *const keys[] = {"v",	     "code", "reason",	 "topic", "partition",
					   "offset", "ts",   "original", "time",  NULL};
	size_t keep = r->len < (size_t)cfg->max_message_bytes ? r->len : (size_t)cfg->max_message_bytes;
	char reason[640];

	snprintf(reason, sizeof(reason), "%s%s", err->message, keep < r->len ? " (original truncated)" : "");
	andon_proto_dlq(&r->sb, err->code, reason, cfg->topic_requests, 3, 12345, -1, "key", 3, r->msg, keep);
	check_output(r, "DLQ record", 10, keys);
}

static void check_err(const andon_apierr_t *err)
{
	if (err->code == NULL || err->code[0] == '\0')
		violation("error without a code", err->message, strnlen(err->message, sizeof(err->message)));
	if (err->status != 400 && err->status != 413 && err->status != 500)
		violation("error status not 400, 413 or 500", err->code, strlen(err->code));
	if (memchr(err->message, '\0', sizeof(err->message)) == NULL)
		violation("error message not terminated", err->code, strlen(err->code));
}

/* worker.c's answer() for a request rejected before Redis: error reply, and DLQ when the input is bad. */
static void answer_error(run_t *r, const andon_apierr_t *err)
{
	check_err(err);
	andon_proto_reply_err(&r->sb, &r->req, err);
	check_reply(r, 0);
	if (err->bad_input || err->status >= 500)
		dead_letter(r, err);
}

static int within(const char *p, size_t len, const char *base, size_t size)
{
	return p >= base && p <= base + size && len <= (size_t)(base + size - p);
}

/* Redis Cluster's CRC16 (XMODEM), as keyHashSlot() in Redis's cluster.c computes it. */
static unsigned slot_of(const char *key, size_t len)
{
	size_t s, e;
	uint16_t crc = 0;

	for (s = 0; s < len && key[s] != '{'; s++)
		;
	if (s < len) {
		for (e = s + 1; e < len && key[e] != '}'; e++)
			;
		if (e < len && e > s + 1) {
			key += s + 1;
			len = e - s - 1;
		}
	}
	for (size_t i = 0; i < len; i++) {
		crc ^= (uint16_t)((unsigned char)key[i] << 8);
		for (int b = 0; b < 8; b++)
			crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
	}
	return crc & 16383;
}

static int is(const char *s, size_t len, const char *lit)
{
	return len == strlen(lit) && memcmp(s, lit, len) == 0;
}

static void check_key(const char *k, size_t len)
{
	const char *close;

	if (len > KEY_MAX)
		violation("key longer than KEY_MAX", k, len);
	if (len < 10 || memcmp(k, "andon:{", 7) != 0 || (close = memchr(k + 7, '}', len - 7)) == NULL ||
	    close == k + 7)
		violation("key not andon:{TAG}:SUFFIX", k, len);
}

static void check_call(const run_t *r, const andon_call_t *c)
{
	volatile unsigned sum = 0;
	unsigned slot;

	if (c->overflow)
		violation("call overflowed yet accepted", NULL, 0);
	if (c->argc < 2 || c->argc > ANDON_CALL_MAX_ARGS)
		violation("argc out of range", NULL, 0);
	for (int i = 0; i < c->argc; i++) {
		const char *a = c->argv[i];
		size_t n = c->argvlen[i];

		if (a == NULL)
			violation("NULL argument", NULL, 0);
		/* Reading every byte lets ASan check where each argument points. */
		for (size_t k = 0; k < n; k++)
			sum += (unsigned char)a[k];
		if (within(a, 0, r->arena.buf, r->arena.cap)) {
			if (!within(a, n, r->arena.buf, r->arena.used))
				violation("argument past the arena's used part", a, n);
		} else if (within(a, 0, r->msg, r->len)) {
			if (!within(a, n, r->msg, r->len))
				violation("argument past the message", a, n);
		} else if (strnlen(a, n + 1) != n) {
			violation("argument is neither in the arena, the message nor a constant", a, n);
		}
	}
	(void)sum;
	if (c->resolve != NULL && is(c->argv[0], c->argvlen[0], "GET")) {
		if (c->argc != 2)
			violation("lookup is not GET key", c->argv[0], c->argvlen[0]);
		check_key(c->argv[1], c->argvlen[1]);
		return;
	}
	if (!is(c->argv[0], c->argvlen[0], "FCALL") || c->argc < 3 + c->nkeys || c->nkeys < 1 || c->nkeys > 9)
		violation("not FCALL fn numkeys key...", c->argv[0], c->argvlen[0]);
	if (c->argvlen[2] != 1 || c->argv[2][0] != '0' + c->nkeys)
		violation("numkeys differs from the keys", c->argv[2], c->argvlen[2]);
	slot = slot_of(c->argv[3], c->argvlen[3]);
	for (int i = 3; i < 3 + c->nkeys; i++) {
		check_key(c->argv[i], c->argvlen[i]);
		if (slot_of(c->argv[i], c->argvlen[i]) != slot)
			violation("keys of one call in two Redis Cluster slots", c->argv[i], c->argvlen[i]);
	}
	/* A lookup function (sfn_sm_get, swf_start_get): its keys, then arguments of its own. */
	if (c->resolve != NULL)
		return;
	if (c->argc < 5 + c->nkeys)
		violation("not FCALL fn numkeys key... id op", c->argv[0], c->argvlen[0]);
	if (c->argvlen[3 + c->nkeys] != r->req.id_len ||
	    memcmp(c->argv[3 + c->nkeys], r->req.id, r->req.id_len) != 0)
		violation("first argument is not the request id", c->argv[3 + c->nkeys],
			  c->argvlen[3 + c->nkeys]);
	if (c->argvlen[4 + c->nkeys] != r->req.op_len ||
	    memcmp(c->argv[4 + c->nkeys], r->req.op, r->req.op_len) != 0)
		violation("second argument is not the op", c->argv[4 + c->nkeys], c->argvlen[4 + c->nkeys]);
	if (is(c->argv[1], c->argvlen[1], "sfn_stop")) {
		/* Positional (api_sfn.c): arn, error, cause, the entry's map header and tail, @acct account,
		 * @ret retention (10-sfn.lua reads them by position). */
		if (c->argc != 14 + c->nkeys ||
		    !is(c->argv[10 + c->nkeys], c->argvlen[10 + c->nkeys], "@acct") ||
		    !is(c->argv[12 + c->nkeys], c->argvlen[12 + c->nkeys], "@ret") ||
		    c->argvlen[8 + c->nkeys] != 1 ||
		    ((unsigned char)c->argv[8 + c->nkeys][0] != 0x84 &&
		     (unsigned char)c->argv[8 + c->nkeys][0] != 0x85))
			violation("sfn_stop's arguments are not positional as api_sfn.c documents",
				  c->argv[1], c->argvlen[1]);
		return;
	}
	if ((c->argc - 5 - c->nkeys) % 2 != 0)
		violation("fields are not name/value pairs", c->argv[1], c->argvlen[1]);
	for (int i = 5 + c->nkeys; i < c->argc; i += 2)
		if (c->argvlen[i] == 0 || strnlen(c->argv[i], c->argvlen[i] + 1) != c->argvlen[i])
			violation("field name is not a constant", c->argv[i], c->argvlen[i]);
}

/* One msgpack map in buf[0..len), or a violation. */
static void check_map(run_t *r, const char *what, const char *buf, size_t len)
{
	msgpack_object o;
	char reason[128];

	msgpack_zone_clear(&r->check_zone);
	if (andon_codec_unpack(buf, len, ANDON_CODEC_DEFAULT_DEPTH, &r->check_zone, &o, reason,
			       sizeof(reason)) != 0 ||
	    o.type != MSGPACK_OBJECT_MAP)
		violation(what, buf, len);
}

/*
 * A compact answer's build (answer.h) on fields of the shape its engine function returns: the body and
 * every output must be one msgpack map, with no bytes the request did not bring or the build made.
 */
static void build_call(run_t *r, const andon_call_t *c)
{
	static const char *const sfn_stop[] = {"s:STOPPED", "s:1700000000123", "i:1700000000456", "i:2"};
	static const char *const sm_stop[] = {
	    "s:arn:aws:sagemaker:us-east-1:123456789012:pipeline/p/execution/x",
	    "i:1700000000456",
	    "i:3",
	    "s:Stopped",
	    "i:5",
	    "s:Train",
	    "i:4",
	    "s:AbCdEfGhIj",
	    "s:andon.pipeline.p.callbacks",
	    "s:\x81\xa1k\xa1v"};
	static const char *const sm_callback[] = {
	    "s:arn:aws:sagemaker:us-east-1:123456789012:pipeline/p/execution/x",
	    "i:1700000000456",
	    "s:Train",
	    "i:4",
	    "s:Callback",
	    "s:Stopped",
	    "s:Stopping",
	    "s:Stopping",
	    "s:Stopped",
	    "i:5"};
	const char *const *fields = is(c->argv[1], c->argvlen[1], "sfn_stop")	   ? sfn_stop
				    : is(c->argv[1], c->argvlen[1], "sm_stop")	   ? sm_stop
				    : is(c->argv[1], c->argvlen[1], "sm_callback") ? sm_callback
										   : NULL;
	size_t n = fields == sfn_stop ? 4 : 10;
	redisReply e[10], *ptr[10], f = {.type = REDIS_REPLY_ARRAY, .elements = n, .element = ptr};
	msgpack_sbuffer sb;
	andon_built_t b;

	if (c->build == NULL)
		return;
	if (fields == NULL)
		violation("a build for a function the fuzzer does not know", c->argv[1], c->argvlen[1]);
	memset(e, 0, sizeof(e));
	for (size_t i = 0; i < n; i++) {
		ptr[i] = &e[i];
		if (fields[i][0] == 'i') {
			e[i].type = REDIS_REPLY_INTEGER;
			e[i].integer = strtoll(fields[i] + 2, NULL, 10);
		} else {
			e[i].type = REDIS_REPLY_STRING;
			e[i].str = (char *)fields[i] + 2;
			e[i].len = strlen(fields[i] + 2);
		}
	}
	msgpack_sbuffer_init(&sb);
	andon_built_reset(&b, &sb);
	if (c->build(&r->req, r->account, &f, &b) != 0)
		violation("a build refused well-formed fields", c->argv[1], c->argvlen[1]);
	check_map(r, "a built body is not one msgpack map", sb.data, b.body_len);
	for (int i = 0; i < b.nout; i++)
		check_map(r, "a built output is not one msgpack map", andon_built_at(&b, b.out[i].off),
			  b.out[i].len);
	msgpack_sbuffer_destroy(&sb);
}

/* What the engine's stored answer looks like to answer(): one msgpack map, spliced into the reply. */
static void answer_call(run_t *r)
{
	static const char body[] = "\x81\xa6status\xa7"
				   "ABORTED";

	andon_proto_reply_raw(&r->sb, &r->req, 1, body, sizeof(body) - 1);
	check_reply(r, 1);
}

/* worker.c's round_one() for one lookup value, then the answer that follows. */
static void resolve(run_t *r, const andon_call_t *lookup, const char *value, size_t len)
{
	andon_call_t call;
	andon_apierr_t err;
	andon_ctx_t ctx;

	memset(&call, 0, sizeof(call));
	memset(&err, 0, sizeof(err));
	andon_request_ctx(cfg, &r->arena, r->account, &ctx);
	if (lookup->resolve(&ctx, &r->req, value, len, &call, &err) != 0 || call.overflow) {
		if (call.overflow)
			andon_apierr(&err, "InternalFailure", 500,
				     "request has too many fields or too long names");
		answer_error(r, &err);
		return;
	}
	if (err.code != NULL)
		violation("resolve succeeded with an error set", err.code, strlen(err.code));
	if (call.resolve != NULL)
		violation("a resolved call is another lookup", NULL, 0);
	check_call(r, &call);
	build_call(r, &call);
	answer_call(r);
}

static void resolve_all(run_t *r, const andon_call_t *lookup, const msgpack_object *root)
{
	char arn[256];
	const char *v;
	size_t len;
	int n;

	resolve(r, lookup, NULL, 0); /* the token is unknown */
	n = snprintf(arn, sizeof(arn), "arn:aws:sagemaker:%s:%s:pipeline/orders/execution/abc123def456",
		     cfg->region, r->account);
	resolve(r, lookup, arn, (size_t)n);
	if (andon_codec_get_str(root, LOOKUP_FIELD, &v, &len) == 1)
		resolve(r, lookup, v, len);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *utf8 = getenv("ANDON_FUZZ_UTF8");

	(void)argc;
	(void)argv;
	if (utf8 != NULL)
		check_utf8 = strcmp(utf8, "0") != 0;
	if ((cfg = andon_config_new()) == NULL)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run_t r;
	andon_call_t call, gate;
	andon_apierr_t err;
	msgpack_object root;
	char reason[64];

	memset(&r, 0, sizeof(r));
	memset(&call, 0, sizeof(call));
	r.msg = (const char *)data;
	r.len = size;
	/* What the worker guarantees a request that is not first in its chunk: 4 keys of its length. */
	r.arena.cap = 4 * size + 4096;
	if (r.arena.cap > arena_mem_size) {
		free(arena_mem);
		if ((arena_mem = malloc(r.arena.cap)) == NULL)
			abort();
		arena_mem_size = r.arena.cap;
	}
	r.arena.buf = arena_mem;
	ASAN_POISON_MEMORY_REGION(arena_mem + r.arena.cap, arena_mem_size - r.arena.cap);
	if (!msgpack_zone_init(&r.zone, 4096) || !msgpack_zone_init(&r.check_zone, 4096))
		abort();
	msgpack_sbuffer_init(&r.sb);

	switch (andon_request_prepare(cfg, &r.arena, &r.zone, r.msg, r.len, &r.req, r.account, &call, &gate,
				      &err)) {
	case ANDON_REQUEST_CALL:
		if (err.code != NULL)
			violation("call accepted with an error set", err.code, strlen(err.code));
		check_call(&r, &call);
		if (gate.argc > 0)
			check_call(&r, &gate);
		if (call.resolve == NULL) {
			build_call(&r, &call);
			answer_call(&r);
			break;
		}
		/* The decoded envelope again, for the lookup value: prepare's own root is not returned. */
		if (andon_codec_unpack(r.msg, r.len, cfg->max_depth, &r.zone, &root, reason,
				       sizeof(reason)) != 0)
			violation("accepted message does not decode twice", reason, strlen(reason));
		resolve_all(&r, &call, &root);
		break;
	case ANDON_REQUEST_ERROR:
		if (r.req.id == NULL)
			violation("error reply without a request id", err.code,
				  err.code ? strlen(err.code) : 0);
		answer_error(&r, &err);
		break;
	case ANDON_REQUEST_DLQ:
		check_err(&err);
		dead_letter(&r, &err);
		break;
	}

	msgpack_sbuffer_destroy(&r.sb);
	msgpack_zone_destroy(&r.zone);
	msgpack_zone_destroy(&r.check_zone);
	ASAN_UNPOISON_MEMORY_REGION(arena_mem, arena_mem_size);
	return 0;
}
