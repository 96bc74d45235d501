/* 0002-json: unit tests for JSON <-> msgpack conversion. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "json.h"
#include "utf8.h"

static char errstr[256];

/* Packs j, then checks and unpacks it into zone the way a consumer of these bytes would. */
static void to_object(const json_t *j, msgpack_sbuffer *sb, msgpack_zone *zone, msgpack_object *o)
{
	msgpack_packer pk;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	if (andon_json_to_msgpack(j, &pk, errstr, sizeof(errstr)) != 0)
		fail_msg("andon_json_to_msgpack: %s", errstr);
	if (andon_codec_unpack(sb->data, sb->size, 64, zone, o, errstr, sizeof(errstr)) != 0)
		fail_msg("andon_codec_unpack: %s", errstr);
}

/* Fails with both documents printed, which says far more than "json_equal failed". */
static void assert_json_equal(const json_t *got, const json_t *want)
{
	char *g, *w;

	if (got != NULL && json_equal(got, want))
		return;
	g = got != NULL ? json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	w = json_dumps(want, JSON_ENCODE_ANY | JSON_COMPACT);
	print_error("got  %s\nwant %s\n", g != NULL ? g : "(NULL)", w != NULL ? w : "(NULL)");
	free(g);
	free(w);
	fail();
}

/* Converts one msgpack object given as packed bytes and compares it with the JSON text want. */
static void expect_json(const char *buf, size_t len, const char *want_text)
{
	msgpack_zone zone;
	msgpack_object o;
	json_error_t jerr;
	json_t *got, *want;

	want = json_loads(want_text, JSON_DECODE_ANY, &jerr);
	if (want == NULL)
		fail_msg("bad expectation %s: %s", want_text, jerr.text);
	msgpack_zone_init(&zone, 1024);
	if (andon_codec_unpack(buf, len, ANDON_CODEC_DEFAULT_DEPTH, &zone, &o, errstr, sizeof(errstr)) != 0)
		fail_msg("andon_codec_unpack: %s", errstr);
	got = andon_json_from_msgpack(&o);
	msgpack_zone_destroy(&zone);
	assert_json_equal(got, want);
	json_decref(got);
	json_decref(want);
}

static void test_round_trip(void **state)
{
	static const char doc[] =
	    "{\"name\": \"andon\", \"unicode\": \"h\\u00e9llo \\u20ac \\ud83d\\ude00\","
	    " \"nul\": \"a\\u0000b\", \"empty\": \"\", \"int\": 42, \"neg\": -7, \"max\": "
	    "9223372036854775807,"
	    " \"min\": -9223372036854775808, \"real\": 1.5, \"tiny\": 1e-300, \"whole\": 2.0, \"t\": true,"
	    " \"f\": false, \"n\": null, \"arr\": [1, \"two\", 3.25, [], {}, [null, [true, -0.5]]],"
	    " \"obj\": {\"a\": {\"b\": {\"c\": [1, 2, 3]}}}, \"\": \"empty key\"}";
	msgpack_sbuffer sb;
	msgpack_zone zone;
	msgpack_object o;
	json_error_t jerr;
	json_t *j, *back;

	(void)state;
	j = json_loads(doc, JSON_ALLOW_NUL, &jerr);
	if (j == NULL)
		fail_msg("json_loads: %s", jerr.text);
	/* jansson's parser refuses NUL in keys, but its objects hold them and the key length must survive. */
	assert_int_equal(json_object_setn_new(j, "a\0key", 5, json_integer(1)), 0);

	msgpack_zone_init(&zone, 1024);
	to_object(j, &sb, &zone, &o);
	assert_int_equal(o.type, MSGPACK_OBJECT_MAP);
	assert_int_equal(o.via.map.size, json_object_size(j));
	assert_int_equal(andon_codec_map_get(&o, "int")->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
	assert_int_equal(andon_codec_map_get(&o, "neg")->type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
	assert_int_equal(andon_codec_map_get(&o, "whole")->type, MSGPACK_OBJECT_FLOAT64);
	assert_int_equal(andon_codec_map_get(&o, "n")->type, MSGPACK_OBJECT_NIL);
	assert_int_equal(andon_codec_map_get(&o, "t")->type, MSGPACK_OBJECT_BOOLEAN);
	assert_int_equal(andon_codec_map_get(&o, "nul")->via.str.size, 3);

	back = andon_json_from_msgpack(&o);
	assert_non_null(back);
	assert_true(json_integer_value(json_object_getn(back, "a\0key", 5)) == 1);
	/* jansson 2.14's json_equal() looks keys up by strlen, so compare the rest without the NUL key. */
	assert_int_equal(json_object_deln(back, "a\0key", 5), 0);
	assert_int_equal(json_object_deln(j, "a\0key", 5), 0);
	assert_json_equal(back, j);

	json_decref(back);
	json_decref(j);
	msgpack_sbuffer_destroy(&sb);
	msgpack_zone_destroy(&zone);
}

/* Top-level scalars round trip too, not only values inside containers. */
static void test_round_trip_scalars(void **state)
{
	static const char *const texts[] = {"0",	  "-1",	   "127",    "128",  "-33",
					    "4294967296", "0.1",   "-1e300", "\"\"", "\"x\"",
					    "true",	  "false", "null",   "[]",   "{}"};
	msgpack_sbuffer sb;
	msgpack_zone zone;
	msgpack_object o;
	json_t *j, *back;

	(void)state;
	msgpack_zone_init(&zone, 1024);
	for (size_t k = 0; k < sizeof(texts) / sizeof(texts[0]); k++) {
		j = json_loads(texts[k], JSON_DECODE_ANY, NULL);
		assert_non_null(j);
		msgpack_zone_clear(&zone);
		to_object(j, &sb, &zone, &o);
		back = andon_json_from_msgpack(&o);
		assert_json_equal(back, j);
		json_decref(back);
		json_decref(j);
		msgpack_sbuffer_destroy(&sb);
	}
	msgpack_zone_destroy(&zone);
}

/* The exact bytes: the wire format is a contract, not just "whatever round trips". */
static void test_to_msgpack_bytes(void **state)
{
	static const char want[] = "\x81\xa1"
				   "a"
				   "\x97\x01\xff\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00\xc3\xc2\xc0\xa1x";
	msgpack_sbuffer sb;
	msgpack_packer pk;
	json_t *j;

	(void)state;
	j = json_loads("{\"a\": [1, -1, 1.5, true, false, null, \"x\"]}", 0, NULL);
	assert_non_null(j);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	assert_int_equal(andon_json_to_msgpack(j, &pk, errstr, sizeof(errstr)), 0);
	assert_int_equal(sb.size, sizeof(want) - 1);
	assert_memory_equal(sb.data, want, sizeof(want) - 1);
	msgpack_sbuffer_destroy(&sb);
	json_decref(j);

	msgpack_sbuffer_init(&sb);
	assert_int_equal(andon_json_to_msgpack(NULL, &pk, errstr, sizeof(errstr)), -1);
	assert_non_null(strstr(errstr, "no JSON value"));
	assert_int_equal(sb.size, 0);
	msgpack_sbuffer_destroy(&sb);
}

static void pack_bytes(msgpack_sbuffer *sb, int kind, const void *p, size_t n, int8_t ext_type)
{
	msgpack_packer pk;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	if (kind == 's') {
		msgpack_pack_str(&pk, n);
		msgpack_pack_str_body(&pk, p, n);
	} else if (kind == 'b') {
		msgpack_pack_bin(&pk, n);
		msgpack_pack_bin_body(&pk, p, n);
	} else {
		msgpack_pack_ext(&pk, n, ext_type);
		msgpack_pack_ext_body(&pk, p, n);
	}
}

/* An independent decoder, so the encoder is checked on every byte value and padding length. */
static size_t b64_decode(const char *s, size_t n, unsigned char *out)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t acc = 0;
	size_t bits = 0, o = 0;

	for (size_t i = 0; i < n && s[i] != '='; i++) {
		const char *c = strchr(alphabet, s[i]);

		assert_non_null(c);
		acc = acc << 6 | (uint32_t)(c - alphabet);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	return o;
}

static void test_bin_base64(void **state)
{
	/* RFC 4648 section 10, plus the two alphabet characters that are not letters or digits. */
	static const struct {
		const char *in, *out;
	} rfc[] = {{"", ""},
		   {"f", "Zg=="},
		   {"fo", "Zm8="},
		   {"foo", "Zm9v"},
		   {"foob", "Zm9vYg=="},
		   {"fooba", "Zm9vYmE="},
		   {"foobar", "Zm9vYmFy"},
		   {"\xfb\xff", "+/8="}};
	unsigned char all[256], back[256];
	msgpack_sbuffer sb;
	msgpack_zone zone;
	msgpack_object o;
	char want[64];
	json_t *j, *b64;

	(void)state;
	for (size_t k = 0; k < sizeof(rfc) / sizeof(rfc[0]); k++) {
		pack_bytes(&sb, 'b', rfc[k].in, strlen(rfc[k].in), 0);
		snprintf(want, sizeof(want), "{\"$bin\": \"%s\"}", rfc[k].out);
		expect_json(sb.data, sb.size, want);
		msgpack_sbuffer_destroy(&sb);
	}

	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	msgpack_zone_init(&zone, 1024);
	for (size_t n = 0; n <= sizeof(all); n++) {
		pack_bytes(&sb, 'b', all + 256 - n, n, 0);
		msgpack_zone_clear(&zone);
		assert_int_equal(andon_codec_unpack(sb.data, sb.size, 1, &zone, &o, errstr, sizeof(errstr)),
				 0);
		j = andon_json_from_msgpack(&o);
		assert_non_null(j);
		assert_int_equal(json_object_size(j), 1);
		b64 = json_object_get(j, "$bin");
		assert_true(json_is_string(b64));
		assert_int_equal(json_string_length(b64), (n + 2) / 3 * 4);
		assert_int_equal(b64_decode(json_string_value(b64), json_string_length(b64), back), n);
		assert_memory_equal(back, all + 256 - n, n);
		json_decref(j);
		msgpack_sbuffer_destroy(&sb);
	}
	msgpack_zone_destroy(&zone);
}

static void test_ext(void **state)
{
	msgpack_sbuffer sb;

	(void)state;
	pack_bytes(&sb, 'e', "z", 1, 5); /* fixext1 */
	expect_json(sb.data, sb.size, "{\"$ext\": 5, \"$bin\": \"eg==\"}");
	msgpack_sbuffer_destroy(&sb);
	pack_bytes(&sb, 'e', "abc", 3, -1); /* ext8 */
	expect_json(sb.data, sb.size, "{\"$ext\": -1, \"$bin\": \"YWJj\"}");
	msgpack_sbuffer_destroy(&sb);
	pack_bytes(&sb, 'e', "", 0, 127);
	expect_json(sb.data, sb.size, "{\"$ext\": 127, \"$bin\": \"\"}");
	msgpack_sbuffer_destroy(&sb);
	pack_bytes(&sb, 'e', "0123456789abcdef", 16, -128); /* fixext16 */
	expect_json(sb.data, sb.size, "{\"$ext\": -128, \"$bin\": \"MDEyMzQ1Njc4OWFiY2RlZg==\"}");
	msgpack_sbuffer_destroy(&sb);
}

static void test_utf8(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"plain", "\"plain\""},
	    {"\xe2\x82\xac", "\"\\u20ac\""},		      /* 3 bytes */
	    {"\xf0\x9f\x98\x80", "\"\\ud83d\\ude00\""},	      /* 4 bytes */
	    {"\xf4\x8f\xbf\xbf", "\"\\udbff\\udfff\""},	      /* U+10FFFF, the last code point */
	    {"\xff", "{\"$bin\": \"/w==\"}"},		      /* never valid */
	    {"\x80", "{\"$bin\": \"gA==\"}"},		      /* lone continuation byte */
	    {"\xc0\x80", "{\"$bin\": \"wIA=\"}"},	      /* overlong NUL */
	    {"\xe0\x80\xaf", "{\"$bin\": \"4ICv\"}"},	      /* overlong '/' */
	    {"\xed\xa0\x80", "{\"$bin\": \"7aCA\"}"},	      /* UTF-16 surrogate */
	    {"\xf4\x90\x80\x80", "{\"$bin\": \"9JCAgA==\"}"}, /* above U+10FFFF */
	    {"\xe2\x82", "{\"$bin\": \"4oI=\"}"},	      /* cut short */
	    {"ok\xe2\x82(", "{\"$bin\": \"b2vigig=\"}"},      /* continuation byte missing */
	};
	unsigned char buf[8];
	msgpack_sbuffer sb;
	msgpack_zone zone;
	msgpack_object o;
	uint64_t seed = 42;
	json_t *got, *ref;

	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		pack_bytes(&sb, 's', cases[k].in, strlen(cases[k].in), 0);
		expect_json(sb.data, sb.size, cases[k].want);
		msgpack_sbuffer_destroy(&sb);
	}

	/* The validator must agree with jansson's own on every input: random short strings of high bytes. */
	msgpack_zone_init(&zone, 1024);
	for (int iter = 0; iter < 50000; iter++) {
		size_t n = (size_t)(seed >> 60) % sizeof(buf);

		for (size_t i = 0; i < n; i++) {
			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			buf[i] = (unsigned char)(seed >> 56) | (seed & 0x100 ? 0x80 : 0);
		}
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		pack_bytes(&sb, 's', buf, n, 0);
		msgpack_zone_clear(&zone);
		assert_int_equal(andon_codec_unpack(sb.data, sb.size, 1, &zone, &o, errstr, sizeof(errstr)),
				 0);
		got = andon_json_from_msgpack(&o);
		ref = json_stringn((const char *)buf, n);
		assert_non_null(got);
		if (ref != NULL)
			assert_json_equal(got, ref);
		else
			assert_non_null(json_object_get(got, "$bin"));
		json_decref(ref);
		json_decref(got);
		msgpack_sbuffer_destroy(&sb);
	}
	msgpack_zone_destroy(&zone);
}

static void test_numbers(void **state)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_zone zone;
	msgpack_object o;
	json_t *j;

	(void)state;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 9);
	msgpack_pack_uint64(&pk, UINT64_MAX);
	msgpack_pack_uint64(&pk, (uint64_t)INT64_MAX + 1);
	msgpack_pack_uint64(&pk, (uint64_t)INT64_MAX);
	msgpack_pack_int64(&pk, INT64_MIN);
	msgpack_pack_float(&pk, 1.5f);
	msgpack_pack_double(&pk, -0.25);
	msgpack_pack_double(&pk, NAN);
	msgpack_pack_double(&pk, INFINITY);
	msgpack_pack_float(&pk, -INFINITY);
	msgpack_zone_init(&zone, 1024);
	assert_int_equal(andon_codec_unpack(sb.data, sb.size, 1, &zone, &o, errstr, sizeof(errstr)), 0);
	j = andon_json_from_msgpack(&o);
	assert_non_null(j);

	assert_true(json_is_real(json_array_get(j, 0)));
	assert_true(json_real_value(json_array_get(j, 0)) == 18446744073709551615.0);
	assert_true(json_is_real(json_array_get(j, 1)));
	assert_true(json_real_value(json_array_get(j, 1)) == 9223372036854775808.0);
	assert_true(json_is_integer(json_array_get(j, 2)));
	assert_true(json_integer_value(json_array_get(j, 2)) == INT64_MAX);
	assert_true(json_is_integer(json_array_get(j, 3)));
	assert_true(json_integer_value(json_array_get(j, 3)) == INT64_MIN);
	assert_true(json_is_real(json_array_get(j, 4)));
	assert_true(json_real_value(json_array_get(j, 4)) == 1.5);
	assert_true(json_real_value(json_array_get(j, 5)) == -0.25);
	/* JSON cannot say NaN or infinity; these must not be mistaken for out-of-memory NULLs. */
	assert_true(json_is_null(json_array_get(j, 6)));
	assert_true(json_is_null(json_array_get(j, 7)));
	assert_true(json_is_null(json_array_get(j, 8)));

	json_decref(j);
	msgpack_zone_destroy(&zone);
	msgpack_sbuffer_destroy(&sb);
}

static void test_map_keys(void **state)
{
	static const char want[] =
	    "{\"1\": \"a\", \"-2\": \"b\", \"[1,2]\": \"c\", \"null\": \"d\", \"true\": \"e\","
	    " \"1.5\": \"f\", \"{\\\"$bin\\\":\\\"AQ==\\\"}\": \"g\","
	    " \"{\\\"$bin\\\":\\\"/w==\\\"}\": \"h\", \"{\\\"x\\\":1}\": \"i\", \"s\": \"j\"}";
	msgpack_sbuffer sb;
	msgpack_packer pk;

	(void)state;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 10);
	msgpack_pack_int64(&pk, 1);
	andon_codec_pack_cstr(&pk, "a");
	msgpack_pack_int64(&pk, -2);
	andon_codec_pack_cstr(&pk, "b");
	msgpack_pack_array(&pk, 2);
	msgpack_pack_int64(&pk, 1);
	msgpack_pack_int64(&pk, 2);
	andon_codec_pack_cstr(&pk, "c");
	msgpack_pack_nil(&pk);
	andon_codec_pack_cstr(&pk, "d");
	msgpack_pack_true(&pk);
	andon_codec_pack_cstr(&pk, "e");
	msgpack_pack_double(&pk, 1.5);
	andon_codec_pack_cstr(&pk, "f");
	msgpack_pack_bin(&pk, 1);
	msgpack_pack_bin_body(&pk, "\x01", 1);
	andon_codec_pack_cstr(&pk, "g");
	andon_codec_pack_strn(&pk, "\xff", 1); /* a string key that is not UTF-8 */
	andon_codec_pack_cstr(&pk, "h");
	msgpack_pack_map(&pk, 1);
	andon_codec_pack_cstr(&pk, "x");
	msgpack_pack_int64(&pk, 1);
	andon_codec_pack_cstr(&pk, "i");
	andon_codec_pack_cstr(&pk, "s");
	andon_codec_pack_cstr(&pk, "j");
	expect_json(sb.data, sb.size, want);
	msgpack_sbuffer_destroy(&sb);
}

/* Maps used as keys of maps 24 deep, around a quoted key: each level's key text escapes the one inside it,
 * which doubled it per level (the fuzzer's out-of-memory); cut to 256 bytes and "...", it stays small. */
static void test_nested_map_keys_stay_small(void **state)
{
	enum { LEVELS = 24 };
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_zone zone;
	msgpack_object obj;
	char reason[128];
	const char *key;
	json_t *j, *v;
	int levels = 0;

	(void)state;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	for (int i = 0; i < LEVELS; i++)
		msgpack_pack_map(&pk, 1); /* the key of each map is the next map */
	andon_codec_pack_cstr(&pk, "\"quoted\" \u20ac");
	for (int i = 0; i < LEVELS; i++)
		msgpack_pack_int64(&pk, i);
	msgpack_zone_init(&zone, 4096);
	assert_int_equal(andon_codec_unpack(sb.data, sb.size, 64, &zone, &obj, reason, sizeof(reason)), 0);
	j = andon_json_from_msgpack(&obj);
	assert_non_null(j);
	/* One key at the top, at most 256 bytes and "...", valid UTF-8 (jansson checks it on dump). */
	json_object_foreach(j, key, v)
	{
		(void)v;
		assert_true(strlen(key) <= 256 + 3);
		assert_true(andon_utf8_valid(key, strlen(key)));
		levels++;
	}
	assert_int_equal(levels, 1);
	json_decref(j);
	msgpack_zone_destroy(&zone);
	msgpack_sbuffer_destroy(&sb);

	/* Key texts of 250 to 265 bytes (["xx...x"]), around the cut: whole up to 259, cut after that (ASan
	 * builds see any write past the text). */
	for (size_t n = 246; n <= 261; n++) {
		char body[300];

		memset(body, 'x', n);
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_map(&pk, 1);
		msgpack_pack_array(&pk, 1);
		andon_codec_pack_strn(&pk, body, n);
		msgpack_pack_int64(&pk, 1);
		msgpack_zone_init(&zone, 4096);
		assert_int_equal(
		    andon_codec_unpack(sb.data, sb.size, 64, &zone, &obj, reason, sizeof(reason)), 0);
		j = andon_json_from_msgpack(&obj);
		assert_non_null(j);
		json_object_foreach(j, key, v)
		{
			(void)v;
			assert_int_equal(strlen(key), n + 4 <= 259 ? n + 4 : 259);
		}
		json_decref(j);
		msgpack_zone_destroy(&zone);
		msgpack_sbuffer_destroy(&sb);
	}
}

/* levels nested containers, alternating arrays and objects, around a 1. */
static json_t *nested_json(int levels)
{
	json_t *j = json_integer(1), *c;

	for (int i = 0; i < levels; i++) {
		if (i % 2 == 0) {
			c = json_array();
			json_array_append_new(c, j);
		} else {
			c = json_object();
			json_object_set_new(c, "k", j);
		}
		j = c;
	}
	return j;
}

static void test_depth_limit(void **state)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	json_t *j;

	(void)state;
	j = nested_json(64);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (andon_json_to_msgpack(j, &pk, errstr, sizeof(errstr)) != 0)
		fail_msg("64 levels: %s", errstr);
	/* 64 container headers: 32 fixarrays of one and 32 fixmaps with key "k", then the 1. */
	assert_int_equal(andon_codec_check(sb.data, sb.size, 64, errstr, sizeof(errstr)), 0);
	assert_int_equal(andon_codec_check(sb.data, sb.size, 63, errstr, sizeof(errstr)), -1);
	msgpack_sbuffer_destroy(&sb);
	json_decref(j);

	j = nested_json(65);
	msgpack_sbuffer_init(&sb);
	errstr[0] = '\0';
	assert_int_equal(andon_json_to_msgpack(j, &pk, errstr, sizeof(errstr)), -1);
	assert_string_equal(errstr, "nesting deeper than 64");
	msgpack_sbuffer_destroy(&sb);
	json_decref(j);

	/* Far deeper than the limit still fails cleanly rather than recursing all the way down. */
	j = nested_json(5000);
	msgpack_sbuffer_init(&sb);
	assert_int_equal(andon_json_to_msgpack(j, &pk, errstr, sizeof(errstr)), -1);
	assert_string_equal(errstr, "nesting deeper than 64");
	msgpack_sbuffer_destroy(&sb);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_round_trip_scalars),
	    cmocka_unit_test(test_to_msgpack_bytes),
	    cmocka_unit_test(test_bin_base64),
	    cmocka_unit_test(test_ext),
	    cmocka_unit_test(test_utf8),
	    cmocka_unit_test(test_numbers),
	    cmocka_unit_test(test_map_keys),
	    cmocka_unit_test(test_nested_map_keys_stay_small),
	    cmocka_unit_test(test_depth_limit),
	};

	return cmocka_run_group_tests_name("0002-json", tests, NULL, NULL);
}
