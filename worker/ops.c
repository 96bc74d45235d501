/* ops: the table of request ops ("Service.Action") and helpers shared by the API adapters. */
#include "ops.h"

#include "codec.h"
#include "utf8.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* clang-format off */
static const andon_op_t *const tables[] = {
	andon_sfn_ops, andon_sm_ops, andon_cflow_ops, andon_swf_ops,
#ifdef ANDON_TEST_OPS
	andon_test_ops, /* the test build's (worker/test_ops.c) */
#endif
};
/* clang-format on */

const andon_op_t *andon_ops_find(const char *name, size_t len)
{
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (const andon_op_t *op = tables[t]; op->name != NULL; op++)
			if (strlen(op->name) == len && memcmp(op->name, name, len) == 0)
				return op;
	return NULL;
}

const char *andon_ops_invalid_code(const andon_op_t *op)
{
	return strncmp(op->name, "CloudFlow.", 10) == 0 ? "InvalidArgument" : "ValidationException";
}

int andon_ops_str(const msgpack_object *body, const char *field, size_t min, size_t max, const char *errcode,
		  const char **s, size_t *len, andon_apierr_t *err)
{
	size_t chars;
	int rc = andon_codec_get_str(body, field, s, len);

	if (rc < 0)
		return andon_apierr(err, errcode, 400, "%s must be a string", field);
	if (rc == 0)
		return 0;
	if (andon_utf8_count(*s, *len, &chars, NULL) != 0)
		return andon_apierr(
		    err, errcode, 400,
		    "1 validation error detected: Value at '%s' failed to satisfy constraint: "
		    "Member must be valid UTF-8 text",
		    field);
	if (chars < min || chars > max)
		return andon_apierr(
		    err, errcode, 400,
		    "1 validation error detected: Value at '%s' failed to satisfy constraint: "
		    "Member must have length between %zu and %zu",
		    field, min, max);
	return 1;
}

int andon_ops_required(const msgpack_object *body, const char *field, size_t min, size_t max, const char **s,
		       size_t *len, andon_apierr_t *err)
{
	int rc = andon_ops_str(body, field, min, max, "ValidationException", s, len, err);

	if (rc == 0)
		return andon_apierr(
		    err, "ValidationException", 400,
		    "1 validation error detected: Value null at '%s' failed to satisfy constraint: "
		    "Member must not be null",
		    field);
	return rc < 0 ? -1 : 0;
}

/* msgpack-c write callback: appends to the arena, so successive writes stay contiguous. */
static int arena_write(void *data, const char *buf, size_t len)
{
	char *p = andon_arena_alloc(data, len);

	if (p == NULL)
		return -1;
	memcpy(p, buf, len);
	return 0;
}

int andon_ops_pack(andon_arena_t *arena, const msgpack_object *o, const char **s, size_t *len)
{
	msgpack_packer pk;
	size_t start = arena->used;

	msgpack_packer_init(&pk, arena, arena_write);
	if (msgpack_pack_object(&pk, *o) != 0)
		return -1;
	*s = arena->buf + start;
	*len = arena->used - start;
	return 0;
}

int andon_ops_json(const char *s, size_t len, int object, char *why, size_t why_size)
{
	json_error_t jerr;
	json_t *j = json_loadb(s, len, JSON_DECODE_ANY, &jerr);
	int is_object = json_is_object(j);

	json_decref(j);
	if (j == NULL) {
		if (json_error_code(&jerr) == json_error_stack_overflow)
			snprintf(why, why_size, "JSON nested deeper than %d levels", JSON_PARSER_MAX_DEPTH);
		else
			snprintf(why, why_size, "not JSON: %s at line %d, column %d", jerr.text, jerr.line,
				 jerr.column);
		return -1;
	}
	if (object && !is_object) {
		snprintf(why, why_size, "not a JSON object");
		return -1;
	}
	return 0;
}

int andon_ops_epoch_ms(const msgpack_object *map, const char *field, int64_t *ms)
{
	const msgpack_object *v = map != NULL ? andon_codec_map_get(map, field) : NULL;
	double d = -1;

	if (v == NULL || v->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		d = (double)v->via.u64;
	else if (v->type == MSGPACK_OBJECT_FLOAT64 || v->type == MSGPACK_OBJECT_FLOAT32)
		d = v->via.f64;
	if (!(d >= 0 && d < 1e11))
		return -1;
	*ms = (int64_t)llround(d * 1000.0); /* 1764513720.123 is 1764513720122.99... */
	return 1;
}

int andon_ops_int_field(const andon_ctx_t *ctx, const msgpack_object *body, andon_call_t *call,
			const char *field, int64_t min, int64_t max, andon_apierr_t *err)
{
	int64_t v = 0;
	int rc = andon_codec_get_int(body, field, &v);
	const char *num;
	size_t n;

	if (rc < 0 || (rc == 1 && (v < min || v > max)))
		return andon_apierr(err, "ValidationException", 400,
				    "%s must be an integer from %lld to %lld", field, (long long)min,
				    (long long)max);
	if (rc == 0)
		return 0;
	if ((num = andon_arena_printf(ctx->arena, &n, "%lld", (long long)v)) == NULL)
		return andon_apierr(err, "InternalFailure", 500, "request too large for the batch arena");
	andon_call_field(call, field, num, n);
	return 0;
}
