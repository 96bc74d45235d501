/* json: JSON <-> msgpack conversion for the command-line tools (jansson one side, msgpack-c the other). */
#include "json.h"

#include "utf8.h"
#include "util.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * jansson parses up to 2048 levels, but nothing that deep is a sensible message, and a bound here keeps
 * the recursion in pack_value() shallow.
 */
#define PACK_MAX_DEPTH 64

/* A map key that is not a string shows as its own JSON text, cut to this many bytes (then "..."): each level
 * of keys nested in keys escapes the text inside it again, which would double it per level. */
#define KEY_TEXT_MAX 256

static int pack_value(const json_t *j, msgpack_packer *pk, int depth, char *errstr, size_t errstr_size);

/* msgpack lengths are 32-bit and msgpack-c would silently truncate a larger size_t. */
static int fits_u32(size_t n, const char *what, char *errstr, size_t errstr_size)
{
	if (n > UINT32_MAX)
		return andon_fail(errstr, errstr_size, "%s of %zu is too large for msgpack", what, n);
	return 0;
}

static int pack_object(const json_t *j, msgpack_packer *pk, int depth, char *errstr, size_t errstr_size)
{
	/* jansson's iterator API takes a non-const object even though iterating does not change it. */
	json_t *obj = (json_t *)j;
	size_t n = json_object_size(obj);

	if (fits_u32(n, "object size", errstr, errstr_size) == -1)
		return -1;
	if (msgpack_pack_map(pk, n) != 0)
		return andon_fail(errstr, errstr_size, "msgpack write failed");
	for (void *it = json_object_iter(obj); it != NULL; it = json_object_iter_next(obj, it)) {
		const char *key = json_object_iter_key(it);
		size_t klen = json_object_iter_key_len(it);

		if (msgpack_pack_str(pk, klen) != 0 || msgpack_pack_str_body(pk, key, klen) != 0)
			return andon_fail(errstr, errstr_size, "msgpack write failed");
		if (pack_value(json_object_iter_value(it), pk, depth + 1, errstr, errstr_size) == -1)
			return -1;
	}
	return 0;
}

static int pack_array(const json_t *j, msgpack_packer *pk, int depth, char *errstr, size_t errstr_size)
{
	size_t n = json_array_size(j);

	if (fits_u32(n, "array size", errstr, errstr_size) == -1)
		return -1;
	if (msgpack_pack_array(pk, n) != 0)
		return andon_fail(errstr, errstr_size, "msgpack write failed");
	for (size_t i = 0; i < n; i++)
		if (pack_value(json_array_get(j, i), pk, depth + 1, errstr, errstr_size) == -1)
			return -1;
	return 0;
}

static int pack_value(const json_t *j, msgpack_packer *pk, int depth, char *errstr, size_t errstr_size)
{
	int rc;

	if (j == NULL)
		return andon_fail(errstr, errstr_size, "no JSON value");
	switch (json_typeof(j)) {
	case JSON_OBJECT:
	case JSON_ARRAY:
		if (depth >= PACK_MAX_DEPTH)
			return andon_fail(errstr, errstr_size, "nesting deeper than %d", PACK_MAX_DEPTH);
		return json_is_object(j) ? pack_object(j, pk, depth, errstr, errstr_size)
					 : pack_array(j, pk, depth, errstr, errstr_size);
	case JSON_STRING:
		if (fits_u32(json_string_length(j), "string length", errstr, errstr_size) == -1)
			return -1;
		rc = msgpack_pack_str(pk, json_string_length(j));
		if (rc == 0)
			rc = msgpack_pack_str_body(pk, json_string_value(j), json_string_length(j));
		break;
	case JSON_INTEGER:
		rc = msgpack_pack_int64(pk, (int64_t)json_integer_value(j));
		break;
	case JSON_REAL:
		rc = msgpack_pack_double(pk, json_real_value(j));
		break;
	case JSON_TRUE:
		rc = msgpack_pack_true(pk);
		break;
	case JSON_FALSE:
		rc = msgpack_pack_false(pk);
		break;
	case JSON_NULL:
		rc = msgpack_pack_nil(pk);
		break;
	default:
		return andon_fail(errstr, errstr_size, "unknown JSON type %d", (int)json_typeof(j));
	}
	if (rc != 0)
		return andon_fail(errstr, errstr_size, "msgpack write failed");
	return 0;
}

int andon_json_to_msgpack(const json_t *j, msgpack_packer *pk, char *errstr, size_t errstr_size)
{
	return pack_value(j, pk, 0, errstr, errstr_size);
}

/* RFC 4648 base64 with padding, as a new JSON string. */
static json_t *base64_string(const unsigned char *p, size_t n)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t groups = n / 3 + (n % 3 != 0), i, o = 0;
	uint32_t v;
	json_t *s;
	char *out;

	if (groups > SIZE_MAX / 4)
		return NULL;
	out = malloc(groups * 4 + 1); /* + 1 so that an empty input is not a malloc(0) */
	if (out == NULL)
		return NULL;
	for (i = 0; n - i >= 3; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = alphabet[v >> 6 & 63];
		out[o++] = alphabet[v & 63];
	}
	if (n - i > 0) {
		v = (uint32_t)p[i] << 16 | (n - i == 2 ? (uint32_t)p[i + 1] << 8 : 0);
		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = n - i == 2 ? alphabet[v >> 6 & 63] : '=';
		out[o++] = '=';
	}
	s = json_stringn_nocheck(out, o);
	free(out);
	return s;
}

/* {"$ext": type, "$bin": base64} when is_ext, else {"$bin": base64}. */
static json_t *bytes_object(const char *p, size_t n, int is_ext, int8_t type)
{
	json_t *obj = json_object(), *v;

	if (obj == NULL)
		return NULL;
	if (is_ext) {
		v = json_integer(type);
		/* The _new setters take the reference even when they fail, so v needs no cleanup here. */
		if (v == NULL || json_object_set_new_nocheck(obj, "$ext", v) == -1)
			goto oom;
	}
	v = base64_string((const unsigned char *)p, n);
	if (v == NULL || json_object_set_new_nocheck(obj, "$bin", v) == -1)
		goto oom;
	return obj;
oom:
	json_decref(obj);
	return NULL;
}

/* msgpack-c leaves ptr NULL for some empty strings, and jansson takes a NULL string or key for an error. */
static const char *str_ptr(const msgpack_object_str *s)
{
	return s->size == 0 ? "" : s->ptr;
}

static json_t *map_to_json(const msgpack_object_map *m)
{
	json_t *obj = json_object(), *key, *val;
	char *text;
	int rc;

	if (obj == NULL)
		return NULL;
	for (uint32_t i = 0; i < m->size; i++) {
		const msgpack_object *k = &m->ptr[i].key;

		val = andon_json_from_msgpack(&m->ptr[i].val);
		if (val == NULL)
			goto oom;
		if (k->type == MSGPACK_OBJECT_STR && andon_utf8_valid(k->via.str.ptr, k->via.str.size)) {
			rc = json_object_setn_new_nocheck(obj, str_ptr(&k->via.str), k->via.str.size, val);
		} else {
			/* JSON keys are strings; the key's own JSON text keeps it readable. */
			key = andon_json_from_msgpack(k);
			text = key != NULL ? json_dumps(key, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
			json_decref(key);
			if (text == NULL) {
				json_decref(val);
				goto oom;
			}
			/* Cut only when the buffer holds KEY_TEXT_MAX bytes and "...\0" after them. */
			if (strlen(text) > KEY_TEXT_MAX + 3) {
				size_t cut = KEY_TEXT_MAX;

				while (cut > 0 && ((unsigned char)text[cut] & 0xC0) == 0x80)
					cut--; /* not inside a UTF-8 sequence */
				memcpy(text + cut, "...", 4);
			}
			rc = json_object_set_new_nocheck(obj, text, val);
			free(text);
		}
		if (rc == -1)
			goto oom;
	}
	return obj;
oom:
	json_decref(obj);
	return NULL;
}

json_t *andon_json_from_msgpack(const msgpack_object *o)
{
	json_t *arr, *v;

	/* Recursion follows o's depth, which msgpack_unpack() caps at its fixed stack (32 by default). */
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return json_null();
	case MSGPACK_OBJECT_BOOLEAN:
		return json_boolean(o->via.boolean);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 > (uint64_t)INT64_MAX)
			return json_real((double)o->via.u64);
		return json_integer((json_int_t)o->via.u64);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return json_integer((json_int_t)o->via.i64);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		/* JSON has no NaN or infinity and json_real() refuses them; null is the closest JSON. */
		if (!isfinite(o->via.f64))
			return json_null();
		return json_real(o->via.f64);
	case MSGPACK_OBJECT_STR:
		/* lib/utf8.c is at least as strict as jansson's own check: json_stringn_nocheck() is safe. */
		if (andon_utf8_valid(o->via.str.ptr, o->via.str.size))
			return json_stringn_nocheck(str_ptr(&o->via.str), o->via.str.size);
		return bytes_object(o->via.str.ptr, o->via.str.size, 0, 0);
	case MSGPACK_OBJECT_BIN:
		return bytes_object(o->via.bin.ptr, o->via.bin.size, 0, 0);
	case MSGPACK_OBJECT_EXT:
		return bytes_object(o->via.ext.ptr, o->via.ext.size, 1, o->via.ext.type);
	case MSGPACK_OBJECT_ARRAY:
		arr = json_array();
		if (arr == NULL)
			return NULL;
		for (uint32_t i = 0; i < o->via.array.size; i++) {
			v = andon_json_from_msgpack(&o->via.array.ptr[i]);
			if (v == NULL || json_array_append_new(arr, v) == -1) {
				json_decref(arr);
				return NULL;
			}
		}
		return arr;
	case MSGPACK_OBJECT_MAP:
		return map_to_json(&o->via.map);
	}
	/* Not reachable with msgpack-c 4.0's types; null keeps "NULL means out of memory" true regardless. */
	return json_null();
}

int andon_json_pack(const json_t *j, char **buf, size_t *len, char *errstr, size_t errstr_size)
{
	msgpack_sbuffer sbuf;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sbuf);
	msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
	if (andon_json_to_msgpack(j, &pk, errstr, errstr_size) != 0) {
		msgpack_sbuffer_destroy(&sbuf);
		return -1;
	}
	*len = sbuf.size;
	*buf = msgpack_sbuffer_release(&sbuf); /* now owned by the caller */
	return 0;
}
