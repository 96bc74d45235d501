/* codec: bounded msgpack decoding and typed map access (wire format: docs/PROTOCOL.md). */
#include "codec.h"

#include "utf8.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * The walker keeps one counter per open container on the C stack, so the depth it can follow is a
 * compile-time bound. 256 counters is 2 KiB; msgpack-c itself cannot unpack more than 32 open containers.
 */
#define CHECK_STACK_MAX 256

/* What a header byte announces. */
enum hdr_kind {
	HDR_FIXED, /* a scalar whose payload size is known from the type byte alone */
	HDR_STR,
	HDR_BIN,
	HDR_EXT, /* the length excludes the one type byte that follows it */
	HDR_ARRAY,
	HDR_MAP,
	HDR_INVALID
};

struct hdr {
	enum hdr_kind kind;
	size_t width; /* bytes of big-endian length or count after the type byte, 0 when inline */
	size_t fixed; /* payload bytes after the type byte for HDR_FIXED, or the inline length/count */
};

static void hdr_set(struct hdr *h, enum hdr_kind kind, size_t width, size_t fixed)
{
	h->kind = kind;
	h->width = width;
	h->fixed = fixed;
}

/* Classifies type byte b following the msgpack spec's format table. */
static void hdr_decode(uint8_t b, struct hdr *h)
{
	if (b <= 0x7f || b >= 0xe0) {
		hdr_set(h, HDR_FIXED, 0, 0); /* positive and negative fixint */
		return;
	}
	if (b <= 0x8f) {
		hdr_set(h, HDR_MAP, 0, b & 0x0f);
		return;
	}
	if (b <= 0x9f) {
		hdr_set(h, HDR_ARRAY, 0, b & 0x0f);
		return;
	}
	if (b <= 0xbf) {
		hdr_set(h, HDR_STR, 0, b & 0x1f);
		return;
	}
	switch (b) {
	case 0xc0: /* nil */
	case 0xc2: /* false */
	case 0xc3: /* true */
		hdr_set(h, HDR_FIXED, 0, 0);
		break;
	case 0xc4:
	case 0xc5:
	case 0xc6:
		hdr_set(h, HDR_BIN, (size_t)1 << (b - 0xc4), 0);
		break;
	case 0xc7:
	case 0xc8:
	case 0xc9:
		hdr_set(h, HDR_EXT, (size_t)1 << (b - 0xc7), 0);
		break;
	case 0xca: /* float32 */
		hdr_set(h, HDR_FIXED, 0, 4);
		break;
	case 0xcb: /* float64 */
		hdr_set(h, HDR_FIXED, 0, 8);
		break;
	case 0xcc: /* uint8..uint64 */
	case 0xcd:
	case 0xce:
	case 0xcf:
		hdr_set(h, HDR_FIXED, 0, (size_t)1 << (b - 0xcc));
		break;
	case 0xd0: /* int8..int64 */
	case 0xd1:
	case 0xd2:
	case 0xd3:
		hdr_set(h, HDR_FIXED, 0, (size_t)1 << (b - 0xd0));
		break;
	case 0xd4: /* fixext 1..16: one type byte, then the data */
	case 0xd5:
	case 0xd6:
	case 0xd7:
	case 0xd8:
		hdr_set(h, HDR_FIXED, 0, 1 + ((size_t)1 << (b - 0xd4)));
		break;
	case 0xd9:
	case 0xda:
	case 0xdb:
		hdr_set(h, HDR_STR, (size_t)1 << (b - 0xd9), 0);
		break;
	case 0xdc:
	case 0xdd:
		hdr_set(h, HDR_ARRAY, (size_t)2 << (b - 0xdc), 0);
		break;
	case 0xde:
	case 0xdf:
		hdr_set(h, HDR_MAP, (size_t)2 << (b - 0xde), 0);
		break;
	default: /* 0xc1 is reserved by the spec and never valid */
		hdr_set(h, HDR_INVALID, 0, 0);
		break;
	}
}

static uint64_t read_be(const unsigned char *p, size_t width)
{
	uint64_t v = 0;

	for (size_t i = 0; i < width; i++)
		v = (v << 8) | p[i];
	return v;
}

int andon_codec_check(const char *buf, size_t len, int max_depth, char *errstr, size_t errstr_size)
{
	/* Items still expected by each open container; a map entry counts as two items (key and value). */
	uint64_t remaining[CHECK_STACK_MAX];
	const unsigned char *p = (const unsigned char *)buf;
	size_t pos = 0, rest, depth = 0;
	struct hdr h;
	uint64_t n;

	if (max_depth < 0 || max_depth > CHECK_STACK_MAX)
		return andon_fail(errstr, errstr_size, "max_depth %d outside 0..%d", max_depth,
				  CHECK_STACK_MAX);

	for (;;) {
		if (pos >= len)
			return andon_fail(errstr, errstr_size, "truncated at byte %zu", pos);
		hdr_decode(p[pos], &h);
		if (h.kind == HDR_INVALID)
			return andon_fail(errstr, errstr_size, "invalid byte 0x%02x at %zu", p[pos], pos);
		if (len - pos - 1 < h.width)
			return andon_fail(errstr, errstr_size, "truncated at byte %zu", pos);
		n = h.width > 0 ? read_be(p + pos + 1, h.width) : h.fixed;
		pos += 1 + h.width;
		rest = len - pos;

		switch (h.kind) {
		case HDR_FIXED:
			if (rest < n)
				return andon_fail(errstr, errstr_size, "truncated at byte %zu", pos - 1);
			pos += (size_t)n;
			break;
		case HDR_STR:
		case HDR_BIN:
			if (rest < n)
				return andon_fail(errstr, errstr_size, "%s of %llu bytes in %zu bytes",
						  h.kind == HDR_STR ? "str" : "bin", (unsigned long long)n,
						  rest);
			pos += (size_t)n;
			break;
		case HDR_EXT:
			if (rest < n || rest - n < 1)
				return andon_fail(errstr, errstr_size, "ext of %llu+1 bytes in %zu bytes",
						  (unsigned long long)n, rest);
			pos += (size_t)n + 1;
			break;
		case HDR_ARRAY:
		case HDR_MAP:
			/* Empty containers count as a level too: depth does not depend on contents. */
			if (depth >= (size_t)max_depth)
				return andon_fail(errstr, errstr_size, "nesting deeper than %d", max_depth);
			if (h.kind == HDR_ARRAY && n > rest)
				return andon_fail(errstr, errstr_size, "array of %llu elements in %zu bytes",
						  (unsigned long long)n, rest);
			if (h.kind == HDR_MAP && n * 2 > rest)
				return andon_fail(errstr, errstr_size, "map of %llu entries in %zu bytes",
						  (unsigned long long)n, rest);
			if (n > 0) {
				remaining[depth++] = h.kind == HDR_MAP ? n * 2 : n;
				continue; /* the container is complete only when its last item is */
			}
			break;
		case HDR_INVALID:
			break; /* handled above */
		}

		/* One item is complete: close every container it was the last item of. */
		while (depth > 0 && --remaining[depth - 1] == 0)
			depth--;
		if (depth == 0)
			break;
	}

	if (pos != len)
		return andon_fail(errstr, errstr_size, "%zu trailing byte%s", len - pos,
				  len - pos == 1 ? "" : "s");
	return 0;
}

int andon_codec_unpack(const char *buf, size_t len, int max_depth, msgpack_zone *zone, msgpack_object *out,
		       char *errstr, size_t errstr_size)
{
	msgpack_unpack_return ret;
	size_t off = 0;

	if (andon_codec_check(buf, len, max_depth, errstr, errstr_size) == -1)
		return -1;
	ret = msgpack_unpack(buf, len, &off, zone, out);
	if (ret == MSGPACK_UNPACK_NOMEM_ERROR)
		/* msgpack-c also reports more open containers than its stack (32 by default) this way. */
		return andon_fail(errstr, errstr_size, "msgpack_unpack: out of memory or nesting too deep");
	if (ret != MSGPACK_UNPACK_SUCCESS || off != len)
		return andon_fail(errstr, errstr_size, "msgpack_unpack failed (%d) at byte %zu", (int)ret,
				  off);
	return 0;
}

const msgpack_object *andon_codec_map_get(const msgpack_object *map, const char *key)
{
	size_t klen;

	if (map == NULL || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	klen = strlen(key);
	/* Messages carry a handful of keys, so a scan beats building an index; the first duplicate wins. */
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;

		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
		    (klen == 0 || memcmp(k->via.str.ptr, key, klen) == 0))
			return &map->via.map.ptr[i].val;
	}
	return NULL;
}

const msgpack_object *andon_codec_get(const msgpack_object *map, const char *key)
{
	const msgpack_object *v = andon_codec_map_get(map, key);

	return v == NULL || v->type == MSGPACK_OBJECT_NIL ? NULL : v;
}

int andon_codec_get_str(const msgpack_object *map, const char *key, const char **s, size_t *len)
{
	const msgpack_object *v = andon_codec_get(map, key);

	if (v == NULL)
		return 0;
	if (v->type == MSGPACK_OBJECT_STR) {
		/* msgpack-c may leave ptr NULL for an empty string; "" spares callers a NULL check. */
		*s = v->via.str.size > 0 ? v->via.str.ptr : "";
		*len = v->via.str.size;
		return 1;
	}
	if (v->type == MSGPACK_OBJECT_BIN) {
		*s = v->via.bin.size > 0 ? v->via.bin.ptr : "";
		*len = v->via.bin.size;
		return 1;
	}
	return -1;
}

int andon_codec_get_int(const msgpack_object *map, const char *key, int64_t *v)
{
	const msgpack_object *o = andon_codec_get(map, key);

	if (o == NULL)
		return 0;
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= (uint64_t)INT64_MAX) {
		*v = (int64_t)o->via.u64;
		return 1;
	}
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*v = o->via.i64;
		return 1;
	}
	return -1;
}

int andon_codec_get_bool(const msgpack_object *map, const char *key, int *v)
{
	const msgpack_object *o = andon_codec_get(map, key);

	if (o == NULL)
		return 0;
	if (o->type != MSGPACK_OBJECT_BOOLEAN)
		return -1;
	*v = o->via.boolean ? 1 : 0;
	return 1;
}

void andon_codec_pack_cstr(msgpack_packer *pk, const char *s)
{
	andon_codec_pack_strn(pk, s, strlen(s));
}

void andon_codec_pack_strn(msgpack_packer *pk, const char *s, size_t len)
{
	msgpack_pack_str(pk, len);
	msgpack_pack_str_body(pk, s, len);
}

void andon_codec_pack_text(msgpack_packer *pk, const char *s, size_t len)
{
	char stack[2048], *buf;
	size_t n;

	if (andon_utf8_valid(s, len)) {
		andon_codec_pack_strn(pk, s, len);
		return;
	}
	n = andon_utf8_escape(s, len, NULL);
	/* Only error echoes of bad input come here; they are short, so the heap is the rare case. */
	buf = n <= sizeof(stack) ? stack : malloc(n);
	if (buf == NULL) {
		andon_codec_pack_cstr(pk, "(text not shown: out of memory)");
		return;
	}
	andon_utf8_escape(s, len, buf);
	andon_codec_pack_strn(pk, buf, n);
	if (buf != stack)
		free(buf);
}

/* 1 when o or anything inside it is a str (or a map key) that is not well-formed UTF-8. */
static int has_bad_text(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_STR:
		return !andon_utf8_valid(o->via.str.ptr, o->via.str.size);
	case MSGPACK_OBJECT_ARRAY:
		for (uint32_t i = 0; i < o->via.array.size; i++)
			if (has_bad_text(&o->via.array.ptr[i]))
				return 1;
		return 0;
	case MSGPACK_OBJECT_MAP:
		for (uint32_t i = 0; i < o->via.map.size; i++)
			if (has_bad_text(&o->via.map.ptr[i].key) || has_bad_text(&o->via.map.ptr[i].val))
				return 1;
		return 0;
	default:
		return 0;
	}
}

int andon_codec_check_text(const msgpack_object *map, const char **field, size_t *field_len)
{
	*field = NULL;
	*field_len = 0;
	if (map->type != MSGPACK_OBJECT_MAP)
		return has_bad_text(map) ? -1 : 0;
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object_kv *kv = &map->via.map.ptr[i];

		if (!has_bad_text(&kv->key) && !has_bad_text(&kv->val))
			continue;
		if (kv->key.type == MSGPACK_OBJECT_STR) {
			*field = kv->key.via.str.ptr;
			*field_len = kv->key.via.str.size;
		}
		return -1;
	}
	return 0;
}
