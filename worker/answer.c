/* answer: compact engine answers, built into reply bodies and events by the worker. */
#include "answer.h"

#include "codec.h"
#include "util.h"

#include <hiredis.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void andon_built_reset(andon_built_t *b, msgpack_sbuffer *sb)
{
	msgpack_sbuffer_clear(sb);
	b->sb = sb;
	msgpack_packer_init(&b->pk, sb, msgpack_sbuffer_write);
	b->body_len = 0;
	b->nout = 0;
}

void andon_built_body_end(andon_built_t *b)
{
	b->body_len = b->sb->size;
}

int andon_built_out_begin(andon_built_t *b, const char *to, size_t to_len, const char *key, size_t key_len)
{
	andon_built_out_t *o;

	if (b->nout == ANDON_BUILT_MAX_OUT)
		return -1;
	andon_built_out_end(b);
	o = &b->out[b->nout++];
	o->to_off = b->sb->size;
	o->to_len = to_len;
	msgpack_sbuffer_write(b->sb, to, to_len);
	o->key_off = b->sb->size;
	o->key_len = key_len;
	msgpack_sbuffer_write(b->sb, key, key_len);
	o->off = b->sb->size;
	o->len = 0;
	return 0;
}

void andon_built_out_end(andon_built_t *b)
{
	if (b->nout > 0) {
		andon_built_out_t *o = &b->out[b->nout - 1];
		o->len = b->sb->size - o->off;
	}
}

void andon_answer_date(msgpack_packer *pk, int64_t ms)
{
	double d = (double)ms / 1000.0;
	float f = (float)d;

	/* cmsgpack: an integral number is an integer, else a float32 when that is exact, else a float64. */
	if (ms % 1000 == 0)
		msgpack_pack_int64(pk, ms / 1000);
	else if ((double)f == d)
		msgpack_pack_float(pk, f);
	else
		msgpack_pack_double(pk, d);
}

void andon_answer_kv(msgpack_packer *pk, const char *key, const char *v, size_t len)
{
	andon_codec_pack_cstr(pk, key);
	msgpack_pack_str(pk, len);
	msgpack_pack_str_body(pk, v, len);
}

int andon_answer_event(andon_built_t *b, const andon_event_t *ev)
{
	msgpack_packer *pk = &b->pk;
	char num[24];
	int n;

	if (andon_built_out_begin(b, "", 0, ev->resource, ev->resource_len) != 0)
		return -1;
	n = snprintf(num, sizeof(num), "#%lld", (long long)ev->history_id);
	msgpack_pack_map(pk, (ev->previous != NULL ? 10 : 9) + (ev->step != NULL ? 4 : 0));
	andon_codec_pack_cstr(pk, "v");
	msgpack_pack_int(pk, 1);
	andon_codec_pack_cstr(pk, "eventId");
	msgpack_pack_str(pk, ev->resource_len + (size_t)n);
	msgpack_pack_str_body(pk, ev->resource, ev->resource_len);
	msgpack_pack_str_body(pk, num, (size_t)n);
	andon_answer_kv(pk, "service", ev->service, strlen(ev->service));
	andon_answer_kv(pk, "resource", ev->resource, ev->resource_len);
	andon_answer_kv(pk, "status", ev->status, strlen(ev->status));
	if (ev->previous != NULL)
		andon_answer_kv(pk, "previousStatus", ev->previous, strlen(ev->previous));
	andon_codec_pack_cstr(pk, "time");
	msgpack_pack_int64(pk, ev->time_ms);
	andon_answer_kv(pk, "requestId", ev->request_id, ev->request_id_len);
	andon_codec_pack_cstr(pk, "historyEventId");
	msgpack_pack_int64(pk, ev->history_id);
	andon_answer_kv(pk, "account", ev->account, strlen(ev->account));
	if (ev->step != NULL) {
		andon_answer_kv(pk, "step", ev->step, ev->step_len);
		andon_answer_kv(pk, "stepType", ev->step_type, strlen(ev->step_type));
		andon_answer_kv(pk, "stepStatus", ev->step_status, strlen(ev->step_status));
		andon_answer_kv(pk, "previousStepStatus", ev->previous_step_status,
				strlen(ev->previous_step_status));
	}
	andon_built_out_end(b);
	return 0;
}

void andon_answer_raw(andon_built_t *b, const char *key, const char *v, size_t len)
{
	andon_codec_pack_cstr(&b->pk, key);
	msgpack_sbuffer_write(b->sb, v, len);
}

int andon_answer_int(const redisReply *f, size_t i, int64_t *v)
{
	const redisReply *e;
	long long n;

	if (f == NULL || f->type != REDIS_REPLY_ARRAY || i >= f->elements)
		return -1;
	e = f->element[i];
	if (e->type == REDIS_REPLY_INTEGER) {
		*v = e->integer;
		return 0;
	}
	/* A field Lua read from a hash comes as a decimal string (hiredis NUL-terminates it). */
	if (e->type != REDIS_REPLY_STRING || andon_parse_ll(e->str, LLONG_MIN, LLONG_MAX, &n) != 0)
		return -1;
	*v = n;
	return 0;
}

const char *andon_answer_str(const redisReply *f, size_t i, size_t *len)
{
	const redisReply *e;

	if (f == NULL || f->type != REDIS_REPLY_ARRAY || i >= f->elements)
		return NULL;
	e = f->element[i];
	if (e->type != REDIS_REPLY_STRING && e->type != REDIS_REPLY_STATUS)
		return NULL;
	*len = e->len;
	return e->str;
}
