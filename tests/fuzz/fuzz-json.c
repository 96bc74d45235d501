/* fuzz-json: libFuzzer target for the tools' JSON <-> msgpack conversions (lib/json.h). */
#include "codec.h"
#include "json.h"

#include <jansson.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Every input is tried both ways, so one corpus of JSON texts and msgpack messages serves both:
 *  - as JSON text (what andon-send and andon-callback read): json_loadb, andon_json_pack, which must
 *    succeed up to its nesting limit and give well-formed msgpack; decoded again and turned back into JSON
 *    it must equal the text's value, and its dump must load back equal;
 *  - as msgpack (what andon-tail, andon-replay and andon-send print): andon_codec_unpack like the tools,
 *    andon_json_from_msgpack (NULL only when out of memory, so never here), a dump that loads back equal,
 *    and a second trip through andon_json_pack and back that changes nothing more: the JSON form of any
 *    message is a fixed point.
 * Any violation aborts; leaks are LeakSanitizer's.
 */

#define PACK_DEPTH   64 /* json.c's PACK_MAX_DEPTH: deeper JSON is refused, not packed */
#define UNPACK_DEPTH ANDON_CODEC_DEFAULT_DEPTH

static void violation(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz-json: invariant violated: %s%s%s\n", what, detail != NULL ? ": " : "",
		detail != NULL ? detail : "");
	abort();
}

/* Containers nested in j, j itself counted: the depth both json.c and codec.c limit. */
static int depth_of(json_t *j)
{
	int d = 0, sub;
	const char *key;
	json_t *v;
	size_t i;

	if (json_is_object(j)) {
		json_object_foreach(j, key, v)
		{
			if ((sub = depth_of(v)) > d)
				d = sub;
		}
		return d + 1;
	}
	if (json_is_array(j)) {
		json_array_foreach(j, i, v)
		{
			if ((sub = depth_of(v)) > d)
				d = sub;
		}
		return d + 1;
	}
	return 0;
}

/*
 * Equality as canonical text (sorted keys). Not json_equal(): jansson looks keys up by C string there,
 * so two equal objects with a "\u0000" in a key (which msgpack keys may hold) compare unequal.
 */
static int same(const json_t *a, const json_t *b)
{
	const size_t flags = JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS;
	char *ta = json_dumps(a, flags), *tb = json_dumps(b, flags);
	int eq;

	if (ta == NULL || tb == NULL)
		violation("json_dumps failed", NULL);
	eq = strcmp(ta, tb) == 0;
	free(ta);
	free(tb);
	return eq;
}

/* Dumps j and loads the text back: it must be the same value. */
static void dump_round_trip(const json_t *j, const char *what)
{
	char *text = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
	json_error_t jerr;
	json_t *back;

	if (text == NULL)
		violation(what, "json_dumps failed");
	back = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	/* jansson writes "\u0000" in a key (valid JSON) but cannot read it back: its limit, not ours. */
	if (back == NULL && json_error_code(&jerr) == json_error_null_byte_in_key) {
		free(text);
		return;
	}
	if (back == NULL)
		violation(what, jerr.text);
	if (!same(j, back))
		violation(what, "the dump loads back as another value");
	json_decref(back);
	free(text);
}

/* Packs j, decodes the msgpack like the tools and returns its JSON form, or NULL when too deep to decode. */
static json_t *through_msgpack(const json_t *j, msgpack_zone *zone, const char *what)
{
	char errstr[256], reason[256];
	msgpack_object o;
	char *buf = NULL;
	size_t len = 0;
	json_t *back;

	if (andon_json_pack(j, &buf, &len, errstr, sizeof(errstr)) != 0) {
		if (depth_of((json_t *)j) <= PACK_DEPTH)
			violation(what, errstr);
		return NULL;
	}
	if (andon_codec_check(buf, len, 256, reason, sizeof(reason)) != 0)
		violation("andon_json_pack wrote malformed msgpack", reason);
	if (andon_codec_unpack(buf, len, UNPACK_DEPTH, zone, &o, reason, sizeof(reason)) != 0) {
		if (depth_of((json_t *)j) <= UNPACK_DEPTH)
			violation("packed JSON does not decode", reason);
		free(buf);
		return NULL;
	}
	if ((back = andon_json_from_msgpack(&o)) == NULL)
		violation("andon_json_from_msgpack returned NULL", what);
	free(buf);
	return back;
}

static void from_text(const uint8_t *data, size_t size, msgpack_zone *zone)
{
	json_error_t jerr;
	json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr), *back;

	if (j == NULL)
		return;
	if ((back = through_msgpack(j, zone, "JSON text")) != NULL) {
		if (!same(j, back))
			violation("JSON -> msgpack -> JSON changed the value", NULL);
		dump_round_trip(back, "JSON text");
		json_decref(back);
	}
	json_decref(j);
}

static void from_msgpack(const uint8_t *data, size_t size, msgpack_zone *zone)
{
	msgpack_object o;
	char reason[256];
	json_t *j, *again;

	if (andon_codec_unpack((const char *)data, size, UNPACK_DEPTH, zone, &o, reason, sizeof(reason)) != 0)
		return;
	if ((j = andon_json_from_msgpack(&o)) == NULL)
		violation("andon_json_from_msgpack returned NULL", "message");
	dump_round_trip(j, "msgpack message");
	/* NULL only when {"$bin": ...} took the JSON one level past what decodes (through_msgpack checks). */
	if ((again = through_msgpack(j, zone, "JSON of a message")) != NULL) {
		if (!same(j, again))
			violation("the JSON of a message is not a fixed point of msgpack -> JSON", NULL);
		json_decref(again);
	}
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	msgpack_zone zone;

	if (!msgpack_zone_init(&zone, 4096))
		abort();
	from_text(data, size, &zone);
	msgpack_zone_clear(&zone);
	from_msgpack(data, size, &zone);
	msgpack_zone_destroy(&zone);
	return 0;
}
