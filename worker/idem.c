/* idem: a request id is one request: the id's record (id -> fingerprint) checked before any change. */
#include "idem.h"

#include "util.h"

#include <stdio.h>
#include <string.h>

/* splitmix64's finalizer: spreads every input bit over the output, so sums of mixed values stay apart. */
static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t tagged(uint64_t seed, char tag, const void *s, size_t len)
{
	return mix(andon_hash64(andon_hash64(seed, &tag, 1), s, len));
}

/* Recursion depth is bounded by the decoder's max_depth (lib/codec.h). */
static uint64_t hash_obj(const msgpack_object *o, uint64_t seed)
{
	uint64_t h, acc = 0;

	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return tagged(seed, 'n', "", 0);
	case MSGPACK_OBJECT_BOOLEAN:
		return tagged(seed, o->via.boolean ? 't' : 'f', "", 0);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return tagged(seed, 'u', &o->via.u64, sizeof(o->via.u64));
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return tagged(seed, 'i', &o->via.i64, sizeof(o->via.i64));
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return tagged(seed, 'd', &o->via.f64, sizeof(o->via.f64));
	case MSGPACK_OBJECT_STR:
		/* str and bin are one kind: every adapter reads a string field from either. */
		return tagged(seed, 's', o->via.str.ptr, o->via.str.size);
	case MSGPACK_OBJECT_BIN:
		return tagged(seed, 's', o->via.bin.ptr, o->via.bin.size);
	case MSGPACK_OBJECT_EXT:
		h = tagged(seed, 'x', &o->via.ext.type, 1);
		return tagged(h, 'x', o->via.ext.ptr, o->via.ext.size);
	case MSGPACK_OBJECT_ARRAY:
		h = tagged(seed, 'a', &o->via.array.size, sizeof(o->via.array.size));
		for (uint32_t i = 0; i < o->via.array.size; i++)
			h = mix(h ^ hash_obj(&o->via.array.ptr[i], seed));
		return h;
	case MSGPACK_OBJECT_MAP:
		/* A sum of the entries' hashes does not depend on their order. */
		for (uint32_t i = 0; i < o->via.map.size; i++)
			acc += mix(hash_obj(&o->via.map.ptr[i].key, seed) * 31 ^
				   hash_obj(&o->via.map.ptr[i].val, seed + 1));
		return tagged(seed, 'm', &acc, sizeof(acc));
	}
	return tagged(seed, '?', "", 0);
}

void andon_idem_fingerprint(const andon_req_t *req, const char *account, char fp[ANDON_IDEM_FP_LEN])
{
	static const char hex[] = "0123456789abcdef";
	uint64_t h[2];

	for (int k = 0; k < 2; k++) {
		uint64_t seed = k == 0 ? ANDON_HASH64_INIT : 0x9e3779b97f4a7c15ULL;

		seed = tagged(seed, 'o', req->op, req->op_len);
		seed = tagged(seed, 'c', account, strlen(account));
		h[k] = hash_obj(req->body, seed);
	}
	for (int i = 0; i < ANDON_IDEM_FP_LEN; i++)
		fp[i] = hex[(h[i / 16] >> (60 - 4 * (i % 16))) & 15];
}

void andon_idem_record(andon_call_t *c, andon_arena_t *a, const char *account, const andon_req_t *req,
		       const char *fp, int ttl_s)
{
	size_t klen = 0, tlen = 0;
	const char *key =
	    andon_arena_printf(a, &klen, "andon:{rid:%s:%.*s}", account, (int)req->id_len, req->id);
	const char *ttl = andon_arena_printf(a, &tlen, "%d", ttl_s);

	andon_call_command(c, "SET");
	andon_call_arg(c, key, klen); /* NULL (arena full) marks the call overflowed */
	andon_call_arg(c, fp, ANDON_IDEM_FP_LEN);
	andon_call_arg(c, "NX", 2);
	andon_call_arg(c, "GET", 3);
	andon_call_arg(c, "EX", 2);
	andon_call_arg(c, ttl, tlen);
}

int andon_idem_check(const redisReply *r, const char *fp)
{
	if (r == NULL || r->type == REDIS_REPLY_ERROR)
		return -1;
	if (r->type == REDIS_REPLY_NIL)
		return 1;
	return r->type == REDIS_REPLY_STRING && r->len == ANDON_IDEM_FP_LEN &&
	       memcmp(r->str, fp, ANDON_IDEM_FP_LEN) == 0;
}
