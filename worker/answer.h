/*
 * answer: compact engine answers, built into reply bodies and events by the worker.
 *
 * The hot engine functions (docs/REDIS.md §4) do not pack their reply or their events in Lua: they return
 * {dup, ok, {field...}}, a few numbers and short strings, and the op's adapter builds the reply body and
 * the events from them, the request and the keys it already knows. Redis is the one component every worker
 * shares, so work done here scales with the workers instead. The bytes are the ones the Lua functions
 * would have packed (docs/PROTOCOL.md): same fields, same types, dates packed as cmsgpack packs numbers.
 */
#ifndef ANDON_ANSWER_H
#define ANDON_ANSWER_H

#include "call.h"
#include "proto.h"

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

struct redisReply;

#define ANDON_BUILT_MAX_OUT 512 /* a SageMaker stop of 200 callback steps makes 402 */

/** One Kafka output of a built answer: to "" is the events topic. Its target, key and value are copies in
 * the buffer, at these offsets (the buffer may move as it grows: andon_built_at() once it is done). */
typedef struct andon_built_out {
	size_t to_off, to_len, key_off, key_len;
	size_t off, len; /* the value */
} andon_built_out_t;

/** What a builder makes: the reply body (sb->data[0..body_len)), then each output's value after it. */
typedef struct andon_built {
	msgpack_sbuffer *sb; /* cleared by andon_built_reset */
	msgpack_packer pk;
	size_t body_len;
	int nout;
	andon_built_out_t out[ANDON_BUILT_MAX_OUT];
} andon_built_t;

void andon_built_reset(andon_built_t *b, msgpack_sbuffer *sb);

/** Marks the end of the body: what is packed next is the first output's value. */
void andon_built_body_end(andon_built_t *b);

/** Where offset off of b's buffer is now. */
#define andon_built_at(b, off) ((b)->sb->data + (off))

/** Starts an output (to and key are copied) whose value is what is packed until andon_built_out_end. */
int andon_built_out_begin(andon_built_t *b, const char *to, size_t to_len, const char *key, size_t key_len);

/** Ends the last output's value (builders call it once, after the last output). */
void andon_built_out_end(andon_built_t *b);

/** Packs a date given in epoch ms as the APIs' epoch seconds, exactly as Redis's cmsgpack packs ms / 1000. */
void andon_answer_date(msgpack_packer *pk, int64_t ms);

/** Packs key s (a C string) then value v[0..len). */
void andon_answer_kv(msgpack_packer *pk, const char *key, const char *v, size_t len);

/** The common fields of an event about one change (00-core.lua, transition()), for andon_answer_event. */
typedef struct andon_event {
	const char *service, *resource, *status, *previous; /* previous NULL: no previousStatus */
	size_t resource_len;
	int64_t time_ms, history_id;
	const char *request_id, *account;
	size_t request_id_len;
	/* A step's change (SageMaker): step NULL for an execution's own change. */
	const char *step, *step_type, *step_status, *previous_step_status;
	size_t step_len;
} andon_event_t;

/** Adds the event ev as an output for the events topic, keyed by its resource. 0, or -1 when full. */
int andon_answer_event(andon_built_t *b, const andon_event_t *ev);

/** Packs key then the msgpack bytes v[0..len) as they are (a value packed earlier). */
void andon_answer_raw(andon_built_t *b, const char *key, const char *v, size_t len);

/** Reads field i of f as an integer (a Lua number) or a decimal string: 0, or -1. */
int andon_answer_int(const struct redisReply *f, size_t i, int64_t *v);

/** Field i of f as a string (NULL when absent, nil or not a string), its length in *len. */
const char *andon_answer_str(const struct redisReply *f, size_t i, size_t *len);

#endif
