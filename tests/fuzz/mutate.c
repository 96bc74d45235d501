/* mutate: a structure-aware libFuzzer mutator for msgpack requests (decode, change one node, re-encode). */
#include "mutate.h"

#include "codec.h"

#include <math.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define NODES_MAX 4096 /* nodes considered per input: a request has a few dozen */
#define DEPTH_MAX 32   /* msgpack-c unpacks no deeper, so deeper inputs can only be byte-mutated */
#define TRIES	  4    /* structured attempts before falling back to libFuzzer's own mutation */

/* Every length limit of the envelope and the adapters (characters or bytes), each tried at -1, 0 and +1. */
static const size_t limits[] = {1,   8,	  10,  12,   16,   32,	 64,	80,	128,   200,
				249, 256, 512, 1024, 2048, 4096, 32768, 131072, 262144};

/* Item counts around the adapters' list limits (50 outputs, 200 parameters) and a call's 64 arguments. */
static const size_t counts[] = {0,  1,	2,  9,	10,  31,  32,  33,  49,	  50,
				51, 63, 64, 65, 199, 200, 201, 999, 1000, 1001};

/* Integers at the adapters' bounds (counts, page sizes, timeouts, versions) and at the types' ends. */
static const int64_t small_ints[] = {0, 1, -1, 2, 7, 10, 50, 51, 60, 100, 101, 120, 200, 201, 1000, 1001};
static const int64_t timeouts[] = {900, 901, 3600, 2592000, 2592001, 31536000, 31536001};
static const int64_t extremes[] = {
    INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, INT64_C(9007199254740992), INT64_C(9007199254740993)};

/*
 * Field names, op names and values the worker looks for: the plain words of tests/fuzz/request.dict
 * (the Makefile turns them into this list), so libFuzzer's byte-level mutations and the mutator's whole
 * msgpack strings draw on one dictionary.
 */
static const char *const words[] = {
#include "dict-words.inc"
};

/* Byte sequences that are not UTF-8 (or are edge cases of it): each is inserted whole. */
static const struct {
	const char *s;
	size_t len;
} invalid[] = {{"\xc0", 1},
	       {"\xc1", 1},
	       {"\xc1\xbf", 2},
	       {"\xf5", 1},
	       {"\xf8", 1},
	       {"\xfe", 1},
	       {"\xff", 1},
	       {"\x80", 1},
	       {"\xbf", 1},
	       {"\xed\xa0\x80", 3},
	       {"\xed\xbf\xbf", 3},
	       {"\xc0\xaf", 2},
	       {"\xe0\x80\xaf", 3},
	       {"\xf0\x80\x80\xaf", 4},
	       {"\xf4\x90\x80\x80", 4},
	       {"\xe2\x82", 2},
	       {"\xf0\x9f\x98", 3},
	       {"\0", 1},
	       {"\x7f", 1},
	       {"\x1b[0m", 4},
	       {"\xc2\x85", 2},
	       {"\xef\xbb\xbf", 3},
	       {"%s%n", 4},
	       {"\n", 1}};

/* UTF-8 characters of 2, 3 and 4 bytes: strings whose byte length is a multiple of their length. */
static const char *const wide[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};

#define N(a) (sizeof(a) / sizeof((a)[0]))

enum op {
	OP_RESIZE_ASCII, /* a string of limit-1, limit, limit+1 (or random) ASCII characters */
	OP_RESIZE_WIDE,	 /* the same number of characters, each 2 to 4 bytes */
	OP_CONTINUATION, /* a run of 0x80..0xbf after a lead byte: many bytes, few characters */
	OP_INVALID,	 /* an invalid or edge-case UTF-8 sequence inserted */
	OP_TYPE,	 /* the value becomes another msgpack type */
	OP_MAP,		 /* a map entry duplicated, deleted, renamed or added */
	OP_WORD,	 /* a known field name or value put in */
	OP_SPLICE,	 /* a known word inserted inside a string (ARNs are built of them) */
	OP_NEST,	 /* the value wrapped in many levels of arrays or maps */
	OP_GROW,	 /* an array or map grown to a count limit */
	OP_INT,		 /* a boundary integer */
	OP_BYTES,	 /* libFuzzer's byte mutation of this one string */
	OP_COUNT
};

typedef struct node {
	msgpack_object *o;
	msgpack_object *parent; /* the MAP or ARRAY holding o; NULL for the root */
	int is_key;		/* o is a map key */
} node_t;

/* One mutation's state; static because libFuzzer runs the hooks on one thread and nodes[] is large. */
static struct mut {
	uint64_t rng;
	msgpack_zone zone;
	int zone_ok;
	node_t nodes[NODES_MAX];
	size_t n;
	size_t room; /* bytes the encoding may still grow by */
} M;

/* splitmix64: a fast generator seeded by libFuzzer, so a run is reproducible from its seed. */
static uint64_t rnd(void)
{
	uint64_t z = (M.rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static size_t below(size_t n)
{
	return n == 0 ? 0 : (size_t)(rnd() % n);
}

static void collect(msgpack_object *o, msgpack_object *parent, int is_key, int depth)
{
	if (M.n == NODES_MAX)
		return;
	M.nodes[M.n].o = o;
	M.nodes[M.n].parent = parent;
	M.nodes[M.n++].is_key = is_key;
	if (depth >= DEPTH_MAX)
		return;
	if (o->type == MSGPACK_OBJECT_ARRAY)
		for (uint32_t i = 0; i < o->via.array.size; i++)
			collect(&o->via.array.ptr[i], o, 0, depth + 1);
	else if (o->type == MSGPACK_OBJECT_MAP)
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			collect(&o->via.map.ptr[i].key, o, 1, depth + 1);
			collect(&o->via.map.ptr[i].val, o, 0, depth + 1);
		}
}

static void *zalloc(size_t n)
{
	return msgpack_zone_malloc(&M.zone, n > 0 ? n : 1);
}

static void set_str(msgpack_object *o, const char *p, size_t n)
{
	o->type = MSGPACK_OBJECT_STR;
	o->via.str.ptr = p;
	o->via.str.size = (uint32_t)n;
}

static int64_t some_int(void)
{
	switch (below(3)) {
	case 0:
		return small_ints[below(N(small_ints))];
	case 1:
		return timeouts[below(N(timeouts))];
	default:
		return extremes[below(N(extremes))];
	}
}

static void set_int(msgpack_object *o, int64_t v)
{
	if (v < 0) {
		o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
		o->via.i64 = v;
	} else {
		o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
		o->via.u64 = (uint64_t)v;
	}
}

/* The bytes of a string or bin node; nothing for other types. */
static void bytes_of(const msgpack_object *o, const char **p, size_t *n)
{
	*p = "";
	*n = 0;
	if (o->type == MSGPACK_OBJECT_STR && o->via.str.size > 0) {
		*p = o->via.str.ptr;
		*n = o->via.str.size;
	} else if (o->type == MSGPACK_OBJECT_BIN && o->via.bin.size > 0) {
		*p = o->via.bin.ptr;
		*n = o->via.bin.size;
	}
}

/* One of the limits, the large ones less often: they make slow inputs, and few fields have them. */
static size_t some_limit(void)
{
	size_t small = 0;

	while (small < N(limits) && limits[small] <= 4096)
		small++;
	return limits[below(below(4) == 0 ? N(limits) : small)];
}

/* A target length around a limit: just below, at, just above, or anywhere up to twice it. */
static size_t around_limit(void)
{
	size_t lim = some_limit();

	switch (below(4)) {
	case 0:
		return lim - 1;
	case 1:
		return lim;
	case 2:
		return lim + 1;
	default:
		return below(2 * lim + 2);
	}
}

/* The most bytes a string that replaces one of old_len bytes may have and still fit the input's limit. */
static size_t cap_for(size_t old_len)
{
	return old_len + M.room;
}

/* OP_RESIZE_ASCII / OP_RESIZE_WIDE: keeps the string's start (an ARN keeps its prefix) and pads it. */
static int resize(msgpack_object *o, int wide_fill)
{
	const char *old, *pad;
	size_t old_len, chars = around_limit(), keep, padlen, bytes, cap;
	char *p;

	bytes_of(o, &old, &old_len);
	if (wide_fill) {
		pad = wide[below(N(wide))];
		padlen = strlen(pad);
	} else {
		/* The last character repeated keeps a name's alphabet: "run-1" grows "run-11111". */
		pad = old_len > 0 && (unsigned char)old[old_len - 1] < 0x80 ? &old[old_len - 1] : "a";
		padlen = 1;
	}
	keep = old_len < chars ? old_len : chars;
	if (wide_fill && keep > 0)
		keep = below(keep + 1); /* some ASCII start, the rest wide */
	bytes = keep + (chars - keep) * padlen;
	cap = cap_for(old_len);
	if (bytes > cap)
		bytes = cap; /* still a long string, just not the exact limit */
	if ((p = zalloc(bytes)) == NULL)
		return -1;
	if (keep > bytes)
		keep = bytes;
	memcpy(p, old, keep);
	for (size_t i = keep; i < bytes; i++)
		p[i] = pad[(i - keep) % padlen];
	set_str(o, p, bytes);
	return 0;
}

/* OP_CONTINUATION: the string's start, an optional lead byte, then continuation bytes. A length check that
 * counts characters sees only the start; anything that copies bytes sees all of them. */
static int continuation(msgpack_object *o)
{
	static const unsigned char leads[] = {'A', 0xc2, 0xdf, 0xe0, 0xef, 0xf0, 0xf4};
	const char *old;
	size_t old_len, keep, run, bytes, cap;
	int fixed = below(2) == 0;
	char *p;

	bytes_of(o, &old, &old_len);
	/* All of the start (an ARN's last part is a name), some of it, or none. */
	switch (below(3)) {
	case 0:
		keep = old_len;
		break;
	case 1:
		keep = below(old_len + 1);
		break;
	default:
		keep = 0;
		break;
	}
	/* Runs around a limit, or a limit times 2 to 25: 80 characters of budget can hide 2,000 bytes. */
	run = below(3) != 0 ? around_limit() : some_limit() * (2 + below(24));
	bytes = keep + 1 + run;
	cap = cap_for(old_len);
	if (bytes > cap)
		bytes = cap;
	if (keep > bytes)
		keep = bytes;
	if ((p = zalloc(bytes)) == NULL)
		return -1;
	memcpy(p, old, keep);
	if (keep < bytes)
		p[keep] = (char)leads[below(N(leads))];
	for (size_t i = keep + 1; i < bytes; i++)
		p[i] = (char)(fixed ? 0x80 : 0x80 + below(0x40));
	set_str(o, p, bytes);
	return 0;
}

/* Inserts ins[0..len) at a random place of the string o (made a string first), or replaces it all. */
static int insert(msgpack_object *o, const char *ins, size_t len)
{
	const char *old;
	size_t old_len, at;
	char *p;

	bytes_of(o, &old, &old_len);
	if (below(8) == 0)
		old_len = 0; /* the sequence alone */
	if (len > M.room)
		return -1;
	at = below(old_len + 1);
	if ((p = zalloc(old_len + len)) == NULL)
		return -1;
	memcpy(p, old, at);
	memcpy(p + at, ins, len);
	memcpy(p + at + len, old + at, old_len - at);
	set_str(o, p, old_len + len);
	return 0;
}

static int invalid_utf8(msgpack_object *o)
{
	size_t i = below(N(invalid));

	return insert(o, invalid[i].s, invalid[i].len);
}

static int splice(msgpack_object *o)
{
	const char *w = words[below(N(words))];

	return insert(o, w, strlen(w));
}

static void set_word(msgpack_object *o)
{
	const char *w = words[below(N(words))];

	set_str(o, w, strlen(w));
}

/* OP_TYPE: the same value as another type where there is an obvious one ("42" <-> 42), else a fresh one. */
static int retype(msgpack_object *o)
{
	const char *s;
	size_t n;
	msgpack_object *box;
	char *text;

	bytes_of(o, &s, &n);
	switch (below(10)) {
	case 0: /* str */
		if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
			if ((text = zalloc(24)) == NULL)
				return -1;
			n = (size_t)snprintf(
			    text, 24, "%lld",
			    o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER
				? (long long)o->via.i64
				: (long long)(o->via.u64 > INT64_MAX ? INT64_MAX : o->via.u64));
			set_str(o, text, n);
		} else if (o->type == MSGPACK_OBJECT_BIN) {
			set_str(o, s, n);
		} else {
			set_word(o);
		}
		return 0;
	case 1: /* bin: the same bytes; every string field accepts bin */
		o->type = MSGPACK_OBJECT_BIN;
		o->via.bin.ptr = s;
		o->via.bin.size = (uint32_t)n;
		return 0;
	case 2: { /* int: the string's number when it is one */
		int64_t v = 0;
		int neg = n > 0 && s[0] == '-', digits = 0;

		/* 18 digits at most: every such number fits in int64_t. */
		for (size_t i = neg; i < n && digits < 18 && s[i] >= '0' && s[i] <= '9'; i++, digits++)
			v = v * 10 + (s[i] - '0');
		set_int(o, digits > 0 ? (neg ? -v : v) : some_int());
		return 0;
	}
	case 3: {
		static const double reals[] = {0.0, -0.0, 1.0, 0.5, 1e300, -1e300, 9007199254740993.0};
		size_t k = below(N(reals) + 2);

		o->type = below(2) ? MSGPACK_OBJECT_FLOAT64 : MSGPACK_OBJECT_FLOAT32;
		o->via.f64 = k < N(reals) ? reals[k] : k == N(reals) ? NAN : INFINITY;
		return 0;
	}
	case 4:
		o->type = MSGPACK_OBJECT_NIL;
		return 0;
	case 5:
		o->type = MSGPACK_OBJECT_BOOLEAN;
		o->via.boolean = below(2);
		return 0;
	case 6: /* array: empty, or holding the old value */
	case 7: /* map: empty, or the old value under a known key */
		if ((box = zalloc(2 * sizeof(*box))) == NULL)
			return -1;
		box[0] = *o;
		if (below(3) == 0) {
			n = 0;
		} else {
			n = 1;
			if (o->type != MSGPACK_OBJECT_ARRAY) {
				box[1] = box[0];
				set_word(&box[0]);
			}
		}
		if (o->type == MSGPACK_OBJECT_ARRAY || below(2)) {
			o->type = MSGPACK_OBJECT_ARRAY;
			o->via.array.size = (uint32_t)n;
			o->via.array.ptr = box;
		} else {
			o->type = MSGPACK_OBJECT_MAP;
			o->via.map.size = (uint32_t)n;
			o->via.map.ptr = (msgpack_object_kv *)box;
		}
		return 0;
	case 8:
		o->type = MSGPACK_OBJECT_EXT;
		o->via.ext.type = (int8_t)below(256);
		o->via.ext.ptr = s;
		o->via.ext.size = (uint32_t)n;
		return 0;
	default:
		set_word(o);
		return 0;
	}
}

/* A map to work on: o itself, the map holding it, or any map of the tree. */
static msgpack_object *some_map(const node_t *nd)
{
	if (nd->o->type == MSGPACK_OBJECT_MAP)
		return nd->o;
	if (nd->parent != NULL && nd->parent->type == MSGPACK_OBJECT_MAP)
		return nd->parent;
	for (size_t tries = 0; tries < 8; tries++) {
		msgpack_object *o = M.nodes[below(M.n)].o;
		if (o->type == MSGPACK_OBJECT_MAP)
			return o;
	}
	return NULL;
}

/* OP_MAP: duplicates an entry, deletes one, renames a key, or adds a known key. */
static int map_edit(const node_t *nd)
{
	msgpack_object *m = some_map(nd);
	msgpack_object_kv *kv;
	uint32_t size, i;

	if (m == NULL)
		return -1;
	size = m->via.map.size;
	i = (uint32_t)below(size);
	switch (size == 0 ? 3 : below(4)) {
	case 0: /* duplicate, first (where it wins) or last (where the original wins), maybe another type */
		if ((kv = zalloc((size + 1) * sizeof(*kv))) == NULL)
			return -1;
		if (below(2)) {
			kv[0] = m->via.map.ptr[i];
			memcpy(kv + 1, m->via.map.ptr, size * sizeof(*kv));
			i = 0;
		} else {
			memcpy(kv, m->via.map.ptr, size * sizeof(*kv));
			kv[size] = m->via.map.ptr[i];
			i = size;
		}
		if (below(2))
			retype(&kv[i].val);
		m->via.map.ptr = kv;
		m->via.map.size = size + 1;
		return 0;
	case 1: /* delete */
		memmove(&m->via.map.ptr[i], &m->via.map.ptr[i + 1], (size - i - 1) * sizeof(*kv));
		m->via.map.size = size - 1;
		return 0;
	case 2: /* rename */
		set_word(&m->via.map.ptr[i].key);
		return 0;
	default: /* add */
		if ((kv = zalloc((size + 1) * sizeof(*kv))) == NULL)
			return -1;
		if (size > 0)
			memcpy(kv, m->via.map.ptr, size * sizeof(*kv));
		set_word(&kv[size].key);
		set_word(&kv[size].val);
		if (below(2))
			retype(&kv[size].val);
		m->via.map.ptr = kv;
		m->via.map.size = size + 1;
		return 0;
	}
}

/* OP_NEST: up to 40 levels around the value, past the decoder's depth limit of 32. */
static int nest(msgpack_object *o)
{
	size_t levels = 1 + below(40);
	int as_map = below(2);

	for (size_t k = 0; k < levels; k++) {
		msgpack_object *box = zalloc(2 * sizeof(*box));

		if (box == NULL)
			return -1;
		if (as_map) {
			set_word(&box[0]);
			box[1] = *o;
			o->type = MSGPACK_OBJECT_MAP;
			o->via.map.size = 1;
			o->via.map.ptr = (msgpack_object_kv *)box;
		} else {
			box[0] = *o;
			o->type = MSGPACK_OBJECT_ARRAY;
			o->via.array.size = 1;
			o->via.array.ptr = box;
		}
	}
	return 0;
}

/* OP_GROW: an array (or map) of a count around a limit (50 outputs, 200 parameters or arguments), its
 * items repeated; a scalar becomes an array of copies of itself. */
static int grow(msgpack_object *o)
{
	size_t count = counts[below(N(counts))], have, item;

	if (o->type == MSGPACK_OBJECT_MAP && o->via.map.size > 0) {
		msgpack_object_kv *kv;

		have = o->via.map.size;
		item = 16; /* at least a key and a value byte each */
		if (count * item > M.room + have * item || (kv = zalloc(count * sizeof(*kv))) == NULL)
			return -1;
		for (size_t i = 0; i < count; i++) {
			char *k = zalloc(8);

			if (k == NULL)
				return -1;
			kv[i] = o->via.map.ptr[i % have];
			/* Distinct keys, or the map would shrink back to its first entries when read. */
			set_str(&kv[i].key, k, (size_t)snprintf(k, 8, "k%zu", i));
		}
		o->via.map.ptr = kv;
		o->via.map.size = (uint32_t)count;
		return 0;
	}
	if (o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size > 0) {
		msgpack_object *a;
		msgpack_sbuffer sb;
		msgpack_packer pk;

		have = o->via.array.size;
		/* The items' encoded size bounds how many fit. */
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_object(&pk, o->via.array.ptr[0]);
		item = sb.size + 1;
		msgpack_sbuffer_destroy(&sb);
		if (count * item > M.room + have * item || (a = zalloc(count * sizeof(*a))) == NULL)
			return -1;
		for (size_t i = 0; i < count; i++)
			a[i] = o->via.array.ptr[i % have];
		o->via.array.ptr = a;
		o->via.array.size = (uint32_t)count;
		return 0;
	}
	return retype(o);
}

/* OP_BYTES: libFuzzer's own mutation (with its -dict words) on the bytes of one string, whose header the
 * re-encoding then gets right. */
static int byte_mutate(msgpack_object *o)
{
	const char *old;
	size_t old_len, cap, n;
	char *p;

	bytes_of(o, &old, &old_len);
	cap = old_len + (M.room < 4096 ? M.room : 4096);
	if (cap == 0 || (p = zalloc(cap)) == NULL)
		return -1;
	memcpy(p, old, old_len);
	if (old_len == 0)
		p[old_len++] = 'a'; /* libFuzzer mutates something, not nothing */
	n = LLVMFuzzerMutate((uint8_t *)p, old_len, cap);
	if (o->type == MSGPACK_OBJECT_BIN) {
		o->via.bin.ptr = p;
		o->via.bin.size = (uint32_t)n;
	} else {
		set_str(o, p, n);
	}
	return 0;
}

/*
 * A node for op: the string ops mostly take a string value (that is where the limits are), the others any
 * node. Fields are few and most of a request's nodes are keys, so a uniform pick would waste most tries.
 */
static const node_t *pick(enum op op)
{
	int string_op = op == OP_RESIZE_ASCII || op == OP_RESIZE_WIDE || op == OP_CONTINUATION ||
			op == OP_INVALID || op == OP_SPLICE || op == OP_BYTES;

	if (string_op && below(8) != 0)
		for (int tries = 0; tries < 16; tries++) {
			const node_t *nd = &M.nodes[below(M.n)];

			if (!nd->is_key &&
			    (nd->o->type == MSGPACK_OBJECT_STR || nd->o->type == MSGPACK_OBJECT_BIN))
				return nd;
		}
	return &M.nodes[below(M.n)];
}

static int apply(enum op op)
{
	const node_t *nd = pick(op);
	msgpack_object *o = nd->o;

	switch (op) {
	case OP_RESIZE_ASCII:
		return resize(o, 0);
	case OP_RESIZE_WIDE:
		return resize(o, 1);
	case OP_CONTINUATION:
		return continuation(o);
	case OP_INVALID:
		return invalid_utf8(o);
	case OP_TYPE:
		return retype(o);
	case OP_MAP:
		return map_edit(nd);
	case OP_WORD:
		set_word(o);
		return 0;
	case OP_SPLICE:
		return splice(o);
	case OP_NEST:
		return nest(o);
	case OP_GROW:
		return grow(o);
	case OP_INT:
		set_int(o, some_int());
		return 0;
	case OP_BYTES:
		return byte_mutate(o);
	case OP_COUNT:
		break;
	}
	return -1;
}

/* Packs root into out if it fits in max; returns the size, or 0. */
static size_t encode(const msgpack_object *root, uint8_t *out, size_t max)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t n = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (msgpack_pack_object(&pk, *root) == 0 && sb.size > 0 && sb.size <= max) {
		memcpy(out, sb.data, sb.size);
		n = sb.size;
	}
	msgpack_sbuffer_destroy(&sb);
	return n;
}

/* Decodes data into M.zone and lists its nodes; -1 when it is not one msgpack object. */
static int decode(const uint8_t *data, size_t size, msgpack_object *root)
{
	char reason[128];

	if (!M.zone_ok)
		M.zone_ok = msgpack_zone_init(&M.zone, 64 * 1024);
	else
		msgpack_zone_clear(&M.zone);
	if (!M.zone_ok || size == 0 ||
	    andon_codec_unpack((const char *)data, size, DEPTH_MAX, &M.zone, root, reason, sizeof(reason)) !=
		0)
		return -1;
	M.n = 0;
	collect(root, NULL, 0, 1);
	return 0;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	msgpack_object root;
	size_t n;

	M.rng = seed;
	/* Some byte-level mutation keeps what structure cannot reach: broken headers, trailing bytes. */
	if (below(8) == 0 || decode(data, size, &root) != 0)
		return LLVMFuzzerMutate(data, size, max_size);
	M.room = max_size > size + 16 ? max_size - size - 16 : 0;
	for (int t = 0; t < TRIES; t++) {
		/* A second change now and then: a long name and a duplicate key at once. */
		int changes = below(4) == 0 ? 2 : 1;

		if (t > 0 && decode(data, size, &root) != 0) /* a fresh tree for each attempt */
			break;
		for (int c = 0; c < changes; c++)
			if (apply((enum op)below(OP_COUNT)) != 0)
				break;
		if ((n = encode(&root, data, max_size)) > 0)
			return n;
	}
	return LLVMFuzzerMutate(data, size, max_size);
}

size_t LLVMFuzzerCustomCrossOver(const uint8_t *data1, size_t size1, const uint8_t *data2, size_t size2,
				 uint8_t *out, size_t max_out_size, unsigned int seed)
{
	msgpack_object root1, root2, donor;
	char reason[128];

	M.rng = seed;
	/* Both trees live in the zone until encoded: the second is decoded first, then its node copied. */
	if (decode(data2, size2, &root2) != 0)
		return 0;
	donor = *M.nodes[below(M.n)].o;
	M.n = 0;
	if (andon_codec_unpack((const char *)data1, size1, DEPTH_MAX, &M.zone, &root1, reason,
			       sizeof(reason)) != 0)
		return 0;
	collect(&root1, NULL, 0, 1);
	*M.nodes[below(M.n)].o = donor;
	return encode(&root1, out, max_out_size);
}
