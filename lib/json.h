/* json: JSON <-> msgpack conversion for the command-line tools (jansson on one side, msgpack-c on the other).
 */
#ifndef ANDON_JSON_H
#define ANDON_JSON_H

#include <jansson.h>
#include <msgpack.h>
#include <stddef.h>

/**
 * Packs JSON value j into pk: object -> map (str keys), array -> array, string -> str, integer -> int,
 * real -> float64, true/false -> bool, null -> nil. Returns 0, or -1 with a reason in errstr.
 */
int andon_json_to_msgpack(const json_t *j, msgpack_packer *pk, char *errstr, size_t errstr_size);

/**
 * Returns a new JSON value (caller owns it: json_decref) for msgpack object o: str -> string (invalid
 * UTF-8 is shown as {"$bin": base64}), bin -> {"$bin": base64}, ext -> {"$ext": type, "$bin": base64},
 * integers -> integer (uint64 above INT64_MAX -> real), float -> real, map keys that are not strings are
 * rendered as their JSON text. Returns NULL only when out of memory.
 */
json_t *andon_json_from_msgpack(const msgpack_object *o);

/** Serializes j as msgpack into *buf (malloc'd, the caller frees it) of *len bytes. 0, or -1 with a reason.
 */
int andon_json_pack(const json_t *j, char **buf, size_t *len, char *errstr, size_t errstr_size);

#endif
