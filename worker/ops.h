/* ops: the table of request ops ("Service.Action") and the adapter contract every API implements. */
#ifndef ANDON_OPS_H
#define ANDON_OPS_H

#include "call.h"
#include "config.h"
#include "proto.h"

/** What an adapter sees of the worker: settings it needs to turn a request into an engine call. */
typedef struct andon_ctx {
	const andon_config_t *cfg; /* the worker's settings (API-specific limits live there too) */
	const char *region;
	const char *account; /* the request's account, or the configured default; NUL-terminated */
	andon_arena_t *arena;
	/*
	 * An optional gate: a command the adapter may build here (andon_call_begin/andon_call_command) that
	 * the worker runs in the chunk's first round, before any change, in its own slot; its integer reply
	 * is appended to the request's call as the field '@gate'. NULL where no gate can be asked for.
	 */
	struct andon_call *gate;
	/* Customer managed keys (kms.h) for values a request stores encrypted; NULL: none. key_id is the
	 * access key that signed the request (NULL: unsigned, security.auth = off). */
	struct andon_kms *kms;
	const char *key_id;
} andon_ctx_t;

/**
 * An adapter validates req->body with the API's own limits and error names and builds the engine call.
 * Returns 0 with call ready, or -1 with err set (the request never reaches Redis). A request that names
 * its execution only indirectly (a callback token) builds a lookup instead: andon_call_command(call,
 * "GET") of the index key, with call->resolve set to the function that builds the real call from the
 * value (call.h, andon_resolve_fn). A call that needs data of another slot (a start needs its state
 * machine or SWF domain) does the same with a read-only lookup function (FCALL) answering a string or nil,
 * so that every call touches one slot (docs/REDIS.md, section 10).
 */
typedef int(andon_prepare_fn)(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
			      andon_apierr_t *err);

typedef struct andon_op {
	const char *name; /* "StepFunctions.StopExecution" */
	andon_prepare_fn *prepare;
	int too_large_status; /* status of EntityTooLarge for this op (413 for AWS APIs, 400 for CloudFlow) */
} andon_op_t;

/** The op named name[0..len), or NULL. */
const andon_op_t *andon_ops_find(const char *name, size_t len);

/** The API's code for a field that breaks its rules: InvalidArgument (CloudFlow), ValidationException (AWS).
 */
const char *andon_ops_invalid_code(const andon_op_t *op);

/* Per-API tables, each ending with {NULL, NULL, 0}. */
extern const andon_op_t andon_sfn_ops[];
extern const andon_op_t andon_sm_ops[];
extern const andon_op_t andon_cflow_ops[];
extern const andon_op_t andon_swf_ops[];
#ifdef ANDON_TEST_OPS
extern const andon_op_t andon_test_ops[]; /* test build only (worker/test_ops.c) */
/** map[field] (map may be NULL) as a date, epoch seconds as an int or a float, into *ms (epoch ms, rounded):
 * 1 found, 0 absent or nil, -1 not a date (negative, beyond 1e11 s, or another type). */
int andon_ops_epoch_ms(const msgpack_object *map, const char *field, int64_t *ms);

/**
 * An optional integer field of body in [min, max], passed to the engine under its own name (its text in
 * the arena). Returns 0 (given or not), or -1 with ValidationException in err.
 */
int andon_ops_int_field(const andon_ctx_t *ctx, const msgpack_object *body, andon_call_t *call,
			const char *field, int64_t min, int64_t max, andon_apierr_t *err);

#endif

/*
 * Helpers for adapters: read an optional string field of body with length bounds in characters of
 * well-formed UTF-8 (lib/utf8.h). Return 1 found, 0 absent, -1 with err set (wrong type, not valid UTF-8,
 * or length out of [min, max]).
 */
int andon_ops_str(const msgpack_object *body, const char *field, size_t min, size_t max, const char *errcode,
		  const char **s, size_t *len, andon_apierr_t *err);

/** Like andon_ops_str with ValidationException, but absence is an error too: 0, or -1 with err set. */
int andon_ops_required(const msgpack_object *body, const char *field, size_t min, size_t max, const char **s,
		       size_t *len, andon_apierr_t *err);

/**
 * Packs o (a part of the request) as msgpack into the arena, for the engine to unpack: 0 with *s, *len
 * set, or -1 when the arena is full.
 */
int andon_ops_pack(andon_arena_t *arena, const msgpack_object *o, const char **s, size_t *len);

/**
 * Checks that s[0..len) is JSON text (an object when object is 1). Returns 0, or -1 with what is wrong in
 * why: nested deeper than jansson's parser allows, not JSON (jansson's reason and position), or not an
 * object. why is plain text for an error message.
 */
int andon_ops_json(const char *s, size_t len, int object, char *why, size_t why_size);

/** map[field] (map may be NULL) as a date, epoch seconds as an int or a float, into *ms (epoch ms, rounded):
 * 1 found, 0 absent or nil, -1 not a date (negative, beyond 1e11 s, or another type). */
int andon_ops_epoch_ms(const msgpack_object *map, const char *field, int64_t *ms);

/**
 * An optional integer field of body in [min, max], passed to the engine under its own name (its text in
 * the arena). Returns 0 (given or not), or -1 with ValidationException in err.
 */
int andon_ops_int_field(const andon_ctx_t *ctx, const msgpack_object *body, andon_call_t *call,
			const char *field, int64_t min, int64_t max, andon_apierr_t *err);

#endif
