/* 0001-codec: unit tests for the bounded msgpack checker, unpacking and typed map getters. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "codec.h"

/* A byte-string literal and its length. Payload letters avoid a-f, which a \x escape would swallow. */
#define B(s) s, sizeof(s) - 1

struct vec {
	const char *bytes;
	size_t len;
	msgpack_object_type type;
	uint64_t u;	  /* POSITIVE_INTEGER value, or the element/entry count of a container */
	int64_t i;	  /* NEGATIVE_INTEGER value, or the ext type */
	double f;	  /* float value */
	const char *data; /* str/bin/ext payload */
	size_t dlen;
};

/* One or more hand-encoded objects per msgpack format, non-minimal encodings included. */
static const struct vec vectors[] = {
    {B("\x00"), MSGPACK_OBJECT_POSITIVE_INTEGER, 0, 0, 0, NULL, 0},
    {B("\x7f"), MSGPACK_OBJECT_POSITIVE_INTEGER, 127, 0, 0, NULL, 0},
    {B("\xe0"), MSGPACK_OBJECT_NEGATIVE_INTEGER, 0, -32, 0, NULL, 0},
    {B("\xff"), MSGPACK_OBJECT_NEGATIVE_INTEGER, 0, -1, 0, NULL, 0},
    {B("\x80"), MSGPACK_OBJECT_MAP, 0, 0, 0, NULL, 0},
    {B("\x82\xa1k\x01\xa1m\xc0"), MSGPACK_OBJECT_MAP, 2, 0, 0, NULL, 0},
    {B("\x90"), MSGPACK_OBJECT_ARRAY, 0, 0, 0, NULL, 0},
    {B("\x93\x01\x02\x03"), MSGPACK_OBJECT_ARRAY, 3, 0, 0, NULL, 0},
    {B("\xa0"), MSGPACK_OBJECT_STR, 0, 0, 0, "", 0},
    {B("\xa3xyz"), MSGPACK_OBJECT_STR, 0, 0, 0, "xyz", 3},
    {B("\xbfz123456789012345678901234567890"), MSGPACK_OBJECT_STR, 0, 0, 0, "z123456789012345678901234567890",
     31},
    {B("\xc0"), MSGPACK_OBJECT_NIL, 0, 0, 0, NULL, 0},
    {B("\xc2"), MSGPACK_OBJECT_BOOLEAN, 0, 0, 0, NULL, 0},
    {B("\xc3"), MSGPACK_OBJECT_BOOLEAN, 1, 0, 0, NULL, 0},
    {B("\xc4\x02\x00\xff"), MSGPACK_OBJECT_BIN, 0, 0, 0, "\x00\xff", 2},
    {B("\xc5\x00\x02xy"), MSGPACK_OBJECT_BIN, 0, 0, 0, "xy", 2},
    {B("\xc6\x00\x00\x00\x00"), MSGPACK_OBJECT_BIN, 0, 0, 0, "", 0},
    {B("\xc7\x02\x05xy"), MSGPACK_OBJECT_EXT, 0, 5, 0, "xy", 2},
    {B("\xc8\x00\x01\xfez"), MSGPACK_OBJECT_EXT, 0, -2, 0, "z", 1},
    {B("\xc9\x00\x00\x00\x00\x07"), MSGPACK_OBJECT_EXT, 0, 7, 0, "", 0},
    {B("\xca\x3f\xc0\x00\x00"), MSGPACK_OBJECT_FLOAT32, 0, 0, 1.5, NULL, 0},
    {B("\xcb\x40\x09\x21\xfb\x54\x44\x2d\x18"), MSGPACK_OBJECT_FLOAT64, 0, 0, 3.141592653589793, NULL, 0},
    {B("\xcc\xff"), MSGPACK_OBJECT_POSITIVE_INTEGER, 255, 0, 0, NULL, 0},
    {B("\xcd\xff\xff"), MSGPACK_OBJECT_POSITIVE_INTEGER, 65535, 0, 0, NULL, 0},
    {B("\xce\xff\xff\xff\xff"), MSGPACK_OBJECT_POSITIVE_INTEGER, 4294967295u, 0, 0, NULL, 0},
    {B("\xcf\xff\xff\xff\xff\xff\xff\xff\xff"), MSGPACK_OBJECT_POSITIVE_INTEGER, UINT64_MAX, 0, 0, NULL, 0},
    {B("\xd0\x80"), MSGPACK_OBJECT_NEGATIVE_INTEGER, 0, -128, 0, NULL, 0},
    {B("\xd0\x05"), MSGPACK_OBJECT_POSITIVE_INTEGER, 5, 0, 0, NULL, 0},
    {B("\xd1\x80\x00"), MSGPACK_OBJECT_NEGATIVE_INTEGER, 0, INT16_MIN, 0, NULL, 0},
    {B("\xd2\x80\x00\x00\x00"), MSGPACK_OBJECT_NEGATIVE_INTEGER, 0, INT32_MIN, 0, NULL, 0},
    {B("\xd3\x80\x00\x00\x00\x00\x00\x00\x00"), MSGPACK_OBJECT_NEGATIVE_INTEGER, 0, INT64_MIN, 0, NULL, 0},
    {B("\xd4\x01z"), MSGPACK_OBJECT_EXT, 0, 1, 0, "z", 1},
    {B("\xd5\x02xy"), MSGPACK_OBJECT_EXT, 0, 2, 0, "xy", 2},
    {B("\xd6\xffwxyz"), MSGPACK_OBJECT_EXT, 0, -1, 0, "wxyz", 4},
    {B("\xd7\x04ghijklmn"), MSGPACK_OBJECT_EXT, 0, 4, 0, "ghijklmn", 8},
    {B("\xd8\x05ghijklmnopqrstuv"), MSGPACK_OBJECT_EXT, 0, 5, 0, "ghijklmnopqrstuv", 16},
    {B("\xd9\x03xyz"), MSGPACK_OBJECT_STR, 0, 0, 0, "xyz", 3},
    {B("\xda\x00\x03xyz"), MSGPACK_OBJECT_STR, 0, 0, 0, "xyz", 3},
    {B("\xdb\x00\x00\x00\x03xyz"), MSGPACK_OBJECT_STR, 0, 0, 0, "xyz", 3},
    {B("\xdc\x00\x02\x01\x02"), MSGPACK_OBJECT_ARRAY, 2, 0, 0, NULL, 0},
    {B("\xdd\x00\x00\x00\x02\x01\x90"), MSGPACK_OBJECT_ARRAY, 2, 0, 0, NULL, 0},
    {B("\xde\x00\x01\xa1k\x01"), MSGPACK_OBJECT_MAP, 1, 0, 0, NULL, 0},
    {B("\xdf\x00\x00\x00\x01\x01\x80"), MSGPACK_OBJECT_MAP, 1, 0, 0, NULL, 0},
};

/* A nested message touching most formats, used by the truncation, trailing-byte and fuzz tests. */
static const char nested[] = "\x86"
			     "\xa2id\xd9\x24"
			     "6f1c2a4e-1f0b-4c53-9f0e-0d7c3b9b2a11"
			     "\xa3seq\xcf\x00\x00\x01\x00\x00\x00\x00\x00"
			     "\xa4tags\x93\xa1x\xc0\xc3"
			     "\xa4load\x82\xa1n\xd0\x80\xa1g\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00"
			     "\xa3raw\xc4\x03\x00\x01\x02"
			     "\xa3xtn\x92\xd6\x7f\x01\x02\x03\x04\x92\x91\x90\x80";

static char errstr[256];

static void expect_fail(const char *buf, size_t len, int max_depth, const char *reason)
{
	errstr[0] = '\0';
	assert_int_equal(andon_codec_check(buf, len, max_depth, errstr, sizeof(errstr)), -1);
	if (reason != NULL && strstr(errstr, reason) == NULL)
		fail_msg("errstr \"%s\" does not contain \"%s\"", errstr, reason);
}

/* A cut inside a length-prefixed payload fails on the length; anywhere else it is "truncated". */
static void expect_incomplete(const char *buf, size_t len)
{
	expect_fail(buf, len, ANDON_CODEC_DEFAULT_DEPTH, NULL);
	if (strstr(errstr, "truncated") == NULL && strstr(errstr, " bytes in ") == NULL &&
	    strstr(errstr, " elements in ") == NULL && strstr(errstr, " entries in ") == NULL)
		fail_msg("%zu-byte prefix: unexpected reason \"%s\"", len, errstr);
}

/* Container depth counting empty containers, the same definition andon_codec_check() uses. */
static int object_depth(const msgpack_object *o)
{
	int max = 0, d;

	if (o->type == MSGPACK_OBJECT_ARRAY) {
		for (uint32_t i = 0; i < o->via.array.size; i++)
			if ((d = object_depth(&o->via.array.ptr[i])) > max)
				max = d;
		return max + 1;
	}
	if (o->type == MSGPACK_OBJECT_MAP) {
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			if ((d = object_depth(&o->via.map.ptr[i].key)) > max)
				max = d;
			if ((d = object_depth(&o->via.map.ptr[i].val)) > max)
				max = d;
		}
		return max + 1;
	}
	return 0;
}

static void test_vectors(void **state)
{
	msgpack_zone zone;
	msgpack_object o;

	(void)state;
	msgpack_zone_init(&zone, 1024);
	for (size_t k = 0; k < sizeof(vectors) / sizeof(vectors[0]); k++) {
		const struct vec *v = &vectors[k];

		msgpack_zone_clear(&zone);
		if (andon_codec_unpack(v->bytes, v->len, ANDON_CODEC_DEFAULT_DEPTH, &zone, &o, errstr,
				       sizeof(errstr)) != 0)
			fail_msg("vector %zu (0x%02x): %s", k, (unsigned char)v->bytes[0], errstr);
		assert_int_equal(o.type, v->type);
		switch (v->type) {
		case MSGPACK_OBJECT_POSITIVE_INTEGER:
			assert_true(o.via.u64 == v->u);
			break;
		case MSGPACK_OBJECT_NEGATIVE_INTEGER:
			assert_true(o.via.i64 == v->i);
			break;
		case MSGPACK_OBJECT_BOOLEAN:
			assert_int_equal(o.via.boolean, v->u);
			break;
		case MSGPACK_OBJECT_FLOAT32:
		case MSGPACK_OBJECT_FLOAT64:
			assert_true(o.via.f64 == v->f);
			break;
		case MSGPACK_OBJECT_STR:
			assert_int_equal(o.via.str.size, v->dlen);
			assert_memory_equal(o.via.str.ptr, v->data, v->dlen);
			break;
		case MSGPACK_OBJECT_BIN:
			assert_int_equal(o.via.bin.size, v->dlen);
			assert_memory_equal(o.via.bin.ptr, v->data, v->dlen);
			break;
		case MSGPACK_OBJECT_EXT:
			assert_int_equal(o.via.ext.type, v->i);
			assert_int_equal(o.via.ext.size, v->dlen);
			assert_memory_equal(o.via.ext.ptr, v->data, v->dlen);
			break;
		case MSGPACK_OBJECT_ARRAY:
			assert_int_equal(o.via.array.size, v->u);
			break;
		case MSGPACK_OBJECT_MAP:
			assert_int_equal(o.via.map.size, v->u);
			break;
		default:
			break;
		}
		/* Every proper prefix of one object is incomplete, and one more byte is one too many. */
		expect_incomplete(v->bytes, v->len - 1);
	}
	msgpack_zone_destroy(&zone);
}

/* Cross-checks all 256 type bytes against msgpack-c: b followed by zeros is one object then padding. */
static void test_every_type_byte(void **state)
{
	char buf[64] = {0};
	msgpack_zone zone;
	msgpack_object o;
	msgpack_unpack_return ret;
	size_t off;

	(void)state;
	msgpack_zone_init(&zone, 1024);
	for (int b = 0; b < 256; b++) {
		buf[0] = (char)b;
		off = 0;
		msgpack_zone_clear(&zone);
		ret = msgpack_unpack(buf, sizeof(buf), &off, &zone, &o);
		if (b == 0xc1) {
			assert_int_equal(ret, MSGPACK_UNPACK_PARSE_ERROR);
			expect_fail(buf, sizeof(buf), ANDON_CODEC_DEFAULT_DEPTH, "invalid byte 0xc1 at 0");
			continue;
		}
		assert_int_equal(ret, MSGPACK_UNPACK_EXTRA_BYTES);
		if (andon_codec_check(buf, off, ANDON_CODEC_DEFAULT_DEPTH, errstr, sizeof(errstr)) != 0)
			fail_msg("type byte 0x%02x: %s", b, errstr);
		expect_incomplete(buf, off - 1);
		expect_fail(buf, off + 1, ANDON_CODEC_DEFAULT_DEPTH, "1 trailing byte");
	}
	msgpack_zone_destroy(&zone);
}

/* Headers claiming up to 4 GiB must be refused from the header alone, before msgpack-c sizes anything. */
static void test_giant_headers(void **state)
{
	static const struct {
		const char *bytes;
		size_t len;
		const char *reason;
	} cases[] = {
	    {B("\xdd\xff\xff\xff\xff"), "array of 4294967295 elements in 0 bytes"},
	    {B("\xdf\xff\xff\xff\xff"), "map of 4294967295 entries in 0 bytes"},
	    {B("\xdb\xff\xff\xff\xff"), "str of 4294967295 bytes in 0 bytes"},
	    {B("\xc6\xff\xff\xff\xff"), "bin of 4294967295 bytes in 0 bytes"},
	    {B("\xc9\xff\xff\xff\xff\x01"), "ext of 4294967295+1 bytes in 1 bytes"},
	    {B("\xdc\xff\xff\x01\x02"), "array of 65535 elements in 2 bytes"},
	    /* 2 entries need at least 4 bytes although the count alone would fit in 3. */
	    {B("\xde\x00\x02\x01\x02\x03"), "map of 2 entries in 3 bytes"},
	    {B("\x92\x01\xdd\x00\x01\x00\x00\xc0"), "array of 65536 elements in 1 bytes"},
	    {B("\xc9\x00\x00\x00\x02\x01\x02"), "ext of 2+1 bytes in 2 bytes"},
	};
	char big[4096];
	msgpack_zone zone;
	msgpack_object o;
	size_t free_before;
	char *ptr_before;

	(void)state;
	msgpack_zone_init(&zone, 1024);
	free_before = zone.chunk_list.free;
	ptr_before = zone.chunk_list.ptr;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		expect_fail(cases[k].bytes, cases[k].len, ANDON_CODEC_DEFAULT_DEPTH, cases[k].reason);
		assert_int_equal(andon_codec_unpack(cases[k].bytes, cases[k].len, ANDON_CODEC_DEFAULT_DEPTH,
						    &zone, &o, errstr, sizeof(errstr)),
				 -1);
		/* Nothing was taken from the zone: msgpack_unpack() was never reached. */
		assert_int_equal(zone.chunk_list.free, free_before);
		assert_ptr_equal(zone.chunk_list.ptr, ptr_before);
	}

	/* With plenty of plausible bytes after it, the header is still what fails, not a walk of the rest. */
	memset(big, 0, sizeof(big));
	memcpy(big, "\xdd\xff\xff\xff\xff", 5);
	expect_fail(big, sizeof(big), ANDON_CODEC_DEFAULT_DEPTH,
		    "array of 4294967295 elements in 4091 bytes");
	memcpy(big, "\xdf\x80\x00\x00\x00", 5);
	expect_fail(big, sizeof(big), ANDON_CODEC_DEFAULT_DEPTH, "map of 2147483648 entries in 4091 bytes");
	msgpack_zone_destroy(&zone);
}

static void test_truncation_every_prefix(void **state)
{
	msgpack_zone zone;
	msgpack_object o;

	(void)state;
	msgpack_zone_init(&zone, 1024);
	assert_int_equal(andon_codec_unpack(nested, sizeof(nested) - 1, ANDON_CODEC_DEFAULT_DEPTH, &zone, &o,
					    errstr, sizeof(errstr)),
			 0);
	assert_int_equal(o.type, MSGPACK_OBJECT_MAP);
	assert_int_equal(o.via.map.size, 6);
	for (size_t n = 0; n < sizeof(nested) - 1; n++) {
		msgpack_zone_clear(&zone);
		expect_incomplete(nested, n);
		assert_int_equal(andon_codec_unpack(nested, n, ANDON_CODEC_DEFAULT_DEPTH, &zone, &o, errstr,
						    sizeof(errstr)),
				 -1);
	}
	expect_fail(NULL, 0, ANDON_CODEC_DEFAULT_DEPTH, "truncated at byte 0");
	expect_fail(B("\x92\xa1k"), ANDON_CODEC_DEFAULT_DEPTH, "truncated at byte 3");
	expect_fail(B("\xcd\x01"), ANDON_CODEC_DEFAULT_DEPTH, "truncated at byte 0");
	expect_fail(B("\x91\xcb\x00\x00"), ANDON_CODEC_DEFAULT_DEPTH, "truncated at byte 1");
	msgpack_zone_destroy(&zone);
}

static void test_trailing_bytes(void **state)
{
	char buf[sizeof(nested) + 2];
	msgpack_zone zone;
	msgpack_object o;

	(void)state;
	memcpy(buf, nested, sizeof(nested) - 1);
	buf[sizeof(nested) - 1] = '\x01';
	buf[sizeof(nested)] = '\xc0';
	expect_fail(buf, sizeof(nested), ANDON_CODEC_DEFAULT_DEPTH, "1 trailing byte");
	expect_fail(buf, sizeof(nested) + 1, ANDON_CODEC_DEFAULT_DEPTH, "2 trailing bytes");
	expect_fail(B("\x01\x02"), ANDON_CODEC_DEFAULT_DEPTH, "1 trailing byte");
	expect_fail(B("\x90\x90\x90"), ANDON_CODEC_DEFAULT_DEPTH, "2 trailing bytes");
	msgpack_zone_init(&zone, 1024);
	assert_int_equal(andon_codec_unpack(buf, sizeof(nested) + 1, ANDON_CODEC_DEFAULT_DEPTH, &zone, &o,
					    errstr, sizeof(errstr)),
			 -1);
	assert_non_null(strstr(errstr, "2 trailing bytes"));
	msgpack_zone_destroy(&zone);
}

/* n nested containers: arrays [[...[1]...]], maps {"k":{"k":...1}}, or arrays ending in an empty one. */
static size_t build_nested(char *buf, int n, int kind)
{
	size_t len = 0;

	for (int i = 0; i < n; i++) {
		if (kind == 1) {
			memcpy(buf + len, "\x81\xa1k", 3);
			len += 3;
		} else if (kind == 2 && i == n - 1) {
			buf[len++] = '\x90';
			return len;
		} else {
			buf[len++] = '\x91';
		}
	}
	buf[len++] = '\x01';
	return len;
}

static void test_depth(void **state)
{
	static const int maxes[] = {0, 1, 2, 5, 16, ANDON_CODEC_DEFAULT_DEPTH};
	char buf[3 * 40 + 1], reason[64];
	msgpack_zone zone;
	msgpack_object o;
	size_t len;

	(void)state;
	msgpack_zone_init(&zone, 1024);
	for (size_t m = 0; m < sizeof(maxes) / sizeof(maxes[0]); m++) {
		for (int kind = 0; kind < 3; kind++) {
			if (kind == 2 && maxes[m] == 0)
				continue; /* the empty-container form needs at least one level */
			len = build_nested(buf, maxes[m], kind);
			msgpack_zone_clear(&zone);
			if (andon_codec_unpack(buf, len, maxes[m], &zone, &o, errstr, sizeof(errstr)) != 0)
				fail_msg("depth %d kind %d: %s", maxes[m], kind, errstr);
			assert_int_equal(object_depth(&o), maxes[m]);

			len = build_nested(buf, maxes[m] + 1, kind);
			snprintf(reason, sizeof(reason), "nesting deeper than %d", maxes[m]);
			expect_fail(buf, len, maxes[m], reason);
		}
	}
	/* Siblings close correctly: [[1],[2]] and {"a":[[1]],"b":2} are depth 2 and 3. */
	assert_int_equal(andon_codec_check(B("\x92\x91\x01\x91\x02"), 2, errstr, sizeof(errstr)), 0);
	expect_fail(B("\x92\x91\x01\x91\x02"), 1, "nesting deeper than 1");
	assert_int_equal(andon_codec_check(B("\x82\xa1k\x91\x91\x01\xa1m\x02"), 3, errstr, sizeof(errstr)),
			 0);
	expect_fail(B("\x82\xa1k\x91\x91\x01\xa1m\x02"), 2, "nesting deeper than 2");
	/* A map used as a key nests too. */
	expect_fail(B("\x81\x81\x01\x02\x03"), 1, "nesting deeper than 1");
	expect_fail(B("\x01"), -1, "max_depth");
	expect_fail(B("\x01"), 100000, "max_depth");
	msgpack_zone_destroy(&zone);
}

static void test_invalid_c1(void **state)
{
	msgpack_zone zone;
	msgpack_object o;

	(void)state;
	expect_fail(B("\xc1"), ANDON_CODEC_DEFAULT_DEPTH, "invalid byte 0xc1 at 0");
	expect_fail(B("\x93\x01\x02\xc1"), ANDON_CODEC_DEFAULT_DEPTH, "invalid byte 0xc1 at 3");
	expect_fail(B("\x81\xc1\x01"), ANDON_CODEC_DEFAULT_DEPTH, "invalid byte 0xc1 at 1");
	/* Inside a payload 0xc1 is just data. */
	assert_int_equal(andon_codec_check(B("\xa1\xc1"), ANDON_CODEC_DEFAULT_DEPTH, errstr, sizeof(errstr)),
			 0);
	msgpack_zone_init(&zone, 1024);
	assert_int_equal(
	    andon_codec_unpack(B("\x91\xc1"), ANDON_CODEC_DEFAULT_DEPTH, &zone, &o, errstr, sizeof(errstr)),
	    -1);
	assert_non_null(strstr(errstr, "0xc1 at 1"));
	msgpack_zone_destroy(&zone);
}

/* xorshift64*: a fixed seed makes every run walk the same buffers, so a failure reproduces. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/* Packs a random object; nesting stops at depth_left levels so every object is valid at that depth. */
static void gen_object(msgpack_packer *pk, int depth_left)
{
	static const size_t sizes[] = {0, 1, 2, 3, 4, 8, 16, 31, 32, 255, 256, 300};
	static const char blob[300] = "random payload bytes";
	uint64_t r = rng();
	size_t n = sizes[(r >> 8) % (sizeof(sizes) / sizeof(sizes[0]))];

	switch (r % (depth_left > 0 ? 12 : 10)) {
	case 0:
		msgpack_pack_nil(pk);
		break;
	case 1:
		if ((r >> 20) & 1)
			msgpack_pack_true(pk);
		else
			msgpack_pack_false(pk);
		break;
	case 2:
		msgpack_pack_uint64(pk, rng() >> (rng() % 64));
		break;
	case 3:
		msgpack_pack_int64(pk, -(int64_t)(rng() >> (1 + rng() % 63)) - 1);
		break;
	case 4:
		msgpack_pack_float(pk, (float)(r % 1000) / 8);
		break;
	case 5:
		msgpack_pack_double(pk, (double)(r % 100000) / 3);
		break;
	case 6:
		msgpack_pack_str(pk, n);
		msgpack_pack_str_body(pk, blob, n);
		break;
	case 7:
		msgpack_pack_bin(pk, n);
		msgpack_pack_bin_body(pk, blob, n);
		break;
	case 8:
	case 9:
		msgpack_pack_ext(pk, n, (int8_t)(r >> 40));
		msgpack_pack_ext_body(pk, blob, n);
		break;
	case 10:
		n = rng() % 5;
		msgpack_pack_array(pk, n);
		for (size_t i = 0; i < n; i++)
			gen_object(pk, depth_left - 1);
		break;
	default:
		n = rng() % 4;
		msgpack_pack_map(pk, n);
		for (size_t i = 0; i < n; i++) {
			gen_object(pk, depth_left - 1);
			gen_object(pk, depth_left - 1);
		}
		break;
	}
}

/* Random valid objects pass at their depth, unpack, and repack to the very same bytes. */
static void test_generated_round_trip(void **state)
{
	msgpack_sbuffer sb, again;
	msgpack_packer pk;
	msgpack_zone zone;
	msgpack_object o;

	(void)state;
	msgpack_zone_init(&zone, 4096);
	for (int iter = 0; iter < 3000; iter++) {
		int max_depth = (int)(rng() % 6);

		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		gen_object(&pk, max_depth);
		msgpack_zone_clear(&zone);
		if (andon_codec_unpack(sb.data, sb.size, max_depth, &zone, &o, errstr, sizeof(errstr)) != 0)
			fail_msg("iteration %d: %s", iter, errstr);
		assert_true(object_depth(&o) <= max_depth);
		msgpack_sbuffer_init(&again);
		msgpack_packer_init(&pk, &again, msgpack_sbuffer_write);
		assert_int_equal(msgpack_pack_object(&pk, o), 0);
		assert_int_equal(again.size, sb.size);
		assert_memory_equal(again.data, sb.data, sb.size);
		msgpack_sbuffer_destroy(&again);
		msgpack_sbuffer_destroy(&sb);
	}
	msgpack_zone_destroy(&zone);
}

/* Bytes that steer mutations toward the interesting headers. */
static const unsigned char magic[] = {0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc4, 0xc6,
				      0xc7, 0xc9, 0xcf, 0xd8, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff};

static size_t mutate(char *buf, size_t len, size_t cap)
{
	int rounds = 1 + (int)(rng() % 2);

	for (int k = 0; k < rounds; k++) {
		size_t at = len > 0 ? rng() % len : 0;

		switch (rng() % 6) {
		case 0:
			if (len > 0)
				buf[at] = (char)rng();
			break;
		case 1:
			if (len > 0)
				buf[at] ^= (char)(1 << (rng() % 8));
			break;
		case 2:
			if (len > 0)
				buf[at] = (char)magic[rng() % sizeof(magic)];
			break;
		case 3:
			len = at; /* truncate */
			break;
		case 4:
			if (len < cap) { /* insert */
				memmove(buf + at + 1, buf + at, len - at);
				buf[at] = (char)magic[rng() % sizeof(magic)];
				len++;
			}
			break;
		default:
			if (len > at + 1) { /* delete */
				memmove(buf + at, buf + at + 1, len - at - 1);
				len--;
			}
			break;
		}
	}
	return len;
}

/*
 * Random and mutated buffers never crash the checker, and whatever it accepts msgpack-c unpacks
 * completely; msgpack_unpack() is only ever called on accepted bytes since on the rest it may try
 * gigabyte allocations, which is exactly what the checker is for.
 */
static void test_fuzz(void **state)
{
	static const int depths[] = {0, 1, 3, 8, ANDON_CODEC_DEFAULT_DEPTH};
	char buf[sizeof(nested) + 64];
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_zone zone;
	msgpack_object o;
	size_t len, off, accepted = 0, rejected = 0;
	int max_depth;

	(void)state;
	msgpack_zone_init(&zone, 4096);
	for (int iter = 0; iter < 200000; iter++) {
		max_depth = depths[rng() % (sizeof(depths) / sizeof(depths[0]))];
		switch (iter % 3) {
		case 0: /* random bytes, short so that some are whole objects */
			len = rng() % 12;
			for (size_t i = 0; i < len; i++)
				buf[i] = (char)(rng() % 3 == 0 ? magic[rng() % sizeof(magic)] : rng());
			break;
		case 1: /* the nested message, mutated */
			memcpy(buf, nested, sizeof(nested) - 1);
			len = mutate(buf, sizeof(nested) - 1, sizeof(buf));
			break;
		default: /* a generated object, mutated */
			msgpack_sbuffer_init(&sb);
			msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
			gen_object(&pk, 3);
			len = sb.size < sizeof(buf) ? sb.size : sizeof(buf);
			memcpy(buf, sb.data, len);
			msgpack_sbuffer_destroy(&sb);
			len = mutate(buf, len, sizeof(buf));
			break;
		}
		if (andon_codec_check(buf, len, max_depth, errstr, sizeof(errstr)) != 0) {
			assert_true(errstr[0] != '\0');
			rejected++;
			continue;
		}
		accepted++;
		off = 0;
		msgpack_zone_clear(&zone);
		if (msgpack_unpack(buf, len, &off, &zone, &o) != MSGPACK_UNPACK_SUCCESS || off != len)
			fail_msg("iteration %d: accepted %zu bytes that msgpack-c cannot unpack", iter, len);
		assert_true(object_depth(&o) <= max_depth);
	}
	/* Both outcomes must be common (about 30k and 170k today), or the loop tests less than it claims. */
	if (accepted < 15000 || rejected < 15000)
		fail_msg("fuzz accepted %zu and rejected %zu buffers", accepted, rejected);
	msgpack_zone_destroy(&zone);
}

static void test_getters(void **state)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_zone zone;
	msgpack_object o;
	const char *s = "untouched";
	size_t slen = 99;
	int64_t i = 77;
	int b = 7;

	(void)state;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 14);
	andon_codec_pack_cstr(&pk, "estr");
	andon_codec_pack_cstr(&pk, "");
	andon_codec_pack_cstr(&pk, "ebin");
	msgpack_pack_bin(&pk, 0);
	andon_codec_pack_cstr(&pk, "s");
	andon_codec_pack_cstr(&pk, "hello");
	andon_codec_pack_cstr(&pk, "bin");
	msgpack_pack_bin(&pk, 2);
	msgpack_pack_bin_body(&pk, "\x00\x01", 2);
	andon_codec_pack_cstr(&pk, "pos");
	msgpack_pack_uint64(&pk, 42);
	andon_codec_pack_cstr(&pk, "neg");
	msgpack_pack_int64(&pk, INT64_MIN);
	andon_codec_pack_cstr(&pk, "i64max");
	msgpack_pack_uint64(&pk, (uint64_t)INT64_MAX);
	andon_codec_pack_cstr(&pk, "huge");
	msgpack_pack_uint64(&pk, (uint64_t)INT64_MAX + 1);
	andon_codec_pack_cstr(&pk, "t");
	msgpack_pack_true(&pk);
	andon_codec_pack_cstr(&pk, "f");
	msgpack_pack_false(&pk);
	andon_codec_pack_cstr(&pk, "nil");
	msgpack_pack_nil(&pk);
	andon_codec_pack_cstr(&pk, "real");
	msgpack_pack_double(&pk, 1.0);
	msgpack_pack_int64(&pk, 5); /* a non-string key is skipped by lookups */
	andon_codec_pack_cstr(&pk, "five");
	andon_codec_pack_cstr(&pk, "");
	andon_codec_pack_cstr(&pk, "empty key");
	msgpack_zone_init(&zone, 1024);
	assert_int_equal(andon_codec_unpack(sb.data, sb.size, ANDON_CODEC_DEFAULT_DEPTH, &zone, &o, errstr,
					    sizeof(errstr)),
			 0);

	/* Absent and nil leave the outputs alone. */
	assert_int_equal(andon_codec_get_str(&o, "missing", &s, &slen), 0);
	assert_int_equal(andon_codec_get_str(&o, "nil", &s, &slen), 0);
	assert_int_equal(andon_codec_get_int(&o, "nil", &i), 0);
	assert_int_equal(andon_codec_get_bool(&o, "missing", &b), 0);
	assert_string_equal(s, "untouched");
	assert_int_equal(slen, 99);
	assert_int_equal(i, 77);
	assert_int_equal(b, 7);
	/* Lookups compare whole keys, not prefixes. */
	assert_int_equal(andon_codec_get_str(&o, "ss", &s, &slen), 0);
	assert_int_equal(andon_codec_get_str(&o, "", &s, &slen), 1);
	assert_int_equal(slen, 9);
	assert_memory_equal(s, "empty key", 9);

	/* Empty strings come back as "", never NULL, so callers can pass them to memcpy and friends. */
	assert_int_equal(andon_codec_get_str(&o, "estr", &s, &slen), 1);
	assert_non_null(s);
	assert_int_equal(slen, 0);
	s = NULL;
	assert_int_equal(andon_codec_get_str(&o, "ebin", &s, &slen), 1);
	assert_non_null(s);
	assert_int_equal(slen, 0);

	assert_int_equal(andon_codec_get_str(&o, "s", &s, &slen), 1);
	assert_int_equal(slen, 5);
	assert_memory_equal(s, "hello", 5);
	assert_int_equal(andon_codec_get_str(&o, "bin", &s, &slen), 1);
	assert_int_equal(slen, 2);
	assert_memory_equal(s, "\x00\x01", 2);
	assert_int_equal(andon_codec_get_str(&o, "pos", &s, &slen), -1);

	assert_int_equal(andon_codec_get_int(&o, "pos", &i), 1);
	assert_true(i == 42);
	assert_int_equal(andon_codec_get_int(&o, "neg", &i), 1);
	assert_true(i == INT64_MIN);
	assert_int_equal(andon_codec_get_int(&o, "i64max", &i), 1);
	assert_true(i == INT64_MAX);
	i = 77;
	assert_int_equal(andon_codec_get_int(&o, "huge", &i), -1);
	assert_int_equal(andon_codec_get_int(&o, "real", &i), -1);
	assert_int_equal(andon_codec_get_int(&o, "s", &i), -1);
	assert_int_equal(andon_codec_get_int(&o, "t", &i), -1);
	assert_int_equal(i, 77);

	assert_int_equal(andon_codec_get_bool(&o, "t", &b), 1);
	assert_int_equal(b, 1);
	assert_int_equal(andon_codec_get_bool(&o, "f", &b), 1);
	assert_int_equal(b, 0);
	assert_int_equal(andon_codec_get_bool(&o, "pos", &b), -1);

	assert_null(andon_codec_map_get(&o, "five"));
	assert_non_null(andon_codec_map_get(&o, "nil"));
	assert_null(andon_codec_map_get(NULL, "s"));
	/* Not a map: the "hello" string value. */
	assert_null(andon_codec_map_get(&o.via.map.ptr[2].val, "s"));
	assert_int_equal(andon_codec_get_str(&o.via.map.ptr[2].val, "s", &s, &slen), 0);

	/* {"": ""} as the first bytes is where msgpack-c leaves both pointers NULL. */
	msgpack_zone_clear(&zone);
	assert_int_equal(andon_codec_unpack(B("\x81\xa0\xa0"), 1, &zone, &o, errstr, sizeof(errstr)), 0);
	s = NULL;
	assert_int_equal(andon_codec_get_str(&o, "", &s, &slen), 1);
	assert_non_null(s);
	assert_int_equal(slen, 0);

	msgpack_zone_destroy(&zone);
	msgpack_sbuffer_destroy(&sb);
}

static void test_pack_strings(void **state)
{
	char long_str[300];
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_zone zone;
	msgpack_object o;

	(void)state;
	memset(long_str, 'x', sizeof(long_str));
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 4);
	andon_codec_pack_cstr(&pk, "h\xc3\xa9llo");
	andon_codec_pack_strn(&pk, "a\0b", 3);
	andon_codec_pack_strn(&pk, long_str, sizeof(long_str));
	andon_codec_pack_cstr(&pk, "");
	/* str16 header for 300 bytes (0xda 0x01 0x2c) right after fixarray, fixstr(6) and fixstr(3). */
	assert_memory_equal(sb.data + 1 + 7 + 4, "\xda\x01\x2c", 3);
	msgpack_zone_init(&zone, 1024);
	assert_int_equal(andon_codec_unpack(sb.data, sb.size, ANDON_CODEC_DEFAULT_DEPTH, &zone, &o, errstr,
					    sizeof(errstr)),
			 0);
	assert_int_equal(o.via.array.ptr[0].type, MSGPACK_OBJECT_STR);
	assert_int_equal(o.via.array.ptr[0].via.str.size, 6);
	assert_memory_equal(o.via.array.ptr[0].via.str.ptr, "h\xc3\xa9llo", 6);
	assert_int_equal(o.via.array.ptr[1].via.str.size, 3);
	assert_memory_equal(o.via.array.ptr[1].via.str.ptr, "a\0b", 3);
	assert_int_equal(o.via.array.ptr[2].via.str.size, sizeof(long_str));
	assert_int_equal(o.via.array.ptr[3].type, MSGPACK_OBJECT_STR);
	assert_int_equal(o.via.array.ptr[3].via.str.size, 0);
	msgpack_zone_destroy(&zone);
	msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors),	   cmocka_unit_test(test_every_type_byte),
	    cmocka_unit_test(test_giant_headers),  cmocka_unit_test(test_truncation_every_prefix),
	    cmocka_unit_test(test_trailing_bytes), cmocka_unit_test(test_depth),
	    cmocka_unit_test(test_invalid_c1),	   cmocka_unit_test(test_generated_round_trip),
	    cmocka_unit_test(test_fuzz),	   cmocka_unit_test(test_getters),
	    cmocka_unit_test(test_pack_strings),
	};

	return cmocka_run_group_tests_name("0001-codec", tests, NULL, NULL);
}
