/* codec: bounded msgpack decoding and typed map access (wire format: docs/PROTOCOL.md). */
#ifndef ANDON_CODEC_H
#define ANDON_CODEC_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#define ANDON_CODEC_DEFAULT_DEPTH 32

/**
 * Walks buf without allocating and checks that it holds exactly one msgpack object and nothing after it,
 * that no container nests deeper than max_depth, and that every length or count in a header fits in the
 * bytes that remain (each array element needs at least 1 byte, each map entry 2). After a 0 from here,
 * msgpack_unpack() on the same bytes allocates O(len) at most.
 * Returns 0, or -1 with a reason in errstr ("truncated", "nesting deeper than 32", ...).
 */
int andon_codec_check(const char *buf, size_t len, int max_depth, char *errstr, size_t errstr_size);

/**
 * andon_codec_check() then msgpack_unpack() into zone (which the caller owns, clears and destroys; *out
 * points into it). Returns 0, or -1 with a reason in errstr.
 */
int andon_codec_unpack(const char *buf, size_t len, int max_depth, msgpack_zone *zone, msgpack_object *out,
		       char *errstr, size_t errstr_size);

/** Value of key in map (a MAP object with STR keys), or NULL when map is not a map or has no such key. */
const msgpack_object *andon_codec_map_get(const msgpack_object *map, const char *key);

/*
 * Typed getters. Each returns 1 when key is present with the right type (the value is written to the
 * out arguments), 0 when the key is absent or nil (outs untouched), -1 when present with another type.
 * Strings are not NUL-terminated: they point into the unpacked object. BIN is accepted as a string.
 */
/** The value of key, or NULL when absent or nil: both mean "not given" to every getter. */
const msgpack_object *andon_codec_get(const msgpack_object *map, const char *key);

int andon_codec_get_str(const msgpack_object *map, const char *key, const char **s, size_t *len);
int andon_codec_get_int(const msgpack_object *map, const char *key, int64_t *v);
int andon_codec_get_bool(const msgpack_object *map, const char *key, int *v);

/** Packs a NUL-terminated string (msgpack_pack_str + body). */
void andon_codec_pack_cstr(msgpack_packer *pk, const char *s);

/** Packs len bytes of s as a msgpack string. */
void andon_codec_pack_strn(msgpack_packer *pk, const char *s, size_t len);

/** Packs s[0..len) as a msgpack string that is always valid UTF-8: bytes that are not part of a
 * well-formed sequence are written as \xNN. For echoing untrusted bytes (an unknown op, a message). */
void andon_codec_pack_text(msgpack_packer *pk, const char *s, size_t len);

/**
 * Checks that every str inside map (values at any depth, and map keys) is well-formed UTF-8. Returns 0, or
 * -1 with *field, *field_len naming the top-level key under which the first bad text was found (NULL when
 * that key is not a str). Recursion is bounded by the depth andon_codec_check() allowed.
 */
int andon_codec_check_text(const msgpack_object *map, const char **field, size_t *field_len);

#endif
