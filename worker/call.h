/* call: builds one Redis function call (FCALL) per request, its strings in a per-batch arena. */
#ifndef ANDON_CALL_H
#define ANDON_CALL_H

#include <stddef.h>

#define ANDON_CALL_MAX_ARGS 64

/** A bump allocator reset once per batch, so building keys costs no malloc per message. */
typedef struct andon_arena {
	char *buf;
	size_t cap, used;
} andon_arena_t;

int andon_arena_init(andon_arena_t *a, size_t cap);
void andon_arena_free(andon_arena_t *a);
void andon_arena_reset(andon_arena_t *a);

/**
 * FCALL fn numkeys key... arg...: argv entries point at the arena, at static strings or into the request
 * message, all of which outlive the pipelined send. Keys must all be added before any argument.
 */
struct andon_call;
struct andon_ctx;
struct andon_req;
struct andon_apierr;

/**
 * The second step of a call that starts with a lookup: the worker runs the lookup (a GET, or an FCALL of
 * a read-only function answering a string or nil), then hands its value (NULL for nil) to this function,
 * which builds the real call into call or sets err; returns 0 or -1. Lookups and their calls run as two
 * pipelines of the same chunk.
 */
typedef int(andon_resolve_fn)(const struct andon_ctx *ctx, const struct andon_req *req, const char *value,
			      size_t len, struct andon_call *call, struct andon_apierr *err);

/**
 * Builds a compact engine answer (worker/answer.h): f is the engine's field array (element 2 of its
 * reply), account the request's. Returns 0 with b filled (the body, then each output), or -1 when f does
 * not have the shape the op's function returns (an engine bug: answered InternalFailure).
 */
struct andon_built;
struct redisReply;
typedef int(andon_build_fn)(const struct andon_req *req, const char *account, const struct redisReply *f,
			    struct andon_built *b);

typedef struct andon_call {
	int argc, nkeys;
	andon_resolve_fn *resolve; /* set on a lookup call by the adapter; NULL for an ordinary call */
	andon_build_fn *build;	   /* set by the adapter of an op whose function answers compactly */
	int overflow; /* set when the arena or argv ran out: the caller answers InternalFailure */
	int skip;     /* set by the worker on a call that must not run (its request was answered already) */
	const char *argv[ANDON_CALL_MAX_ARGS];
	size_t argvlen[ANDON_CALL_MAX_ARGS];
} andon_call_t;

void andon_call_begin(andon_call_t *c, const char *fn);

/** Starts a plain command (ZADD, SET...) instead of an FCALL; arguments follow with andon_call_arg. */
void andon_call_command(andon_call_t *c, const char *name);

/** Adds the key "andon:{<id>}:<suffix>" (id is the execution's identity: one hash slot per execution). */
void andon_call_key(andon_call_t *c, andon_arena_t *a, const char *id, size_t id_len, const char *suffix);

/** Adds one argument, not copied. */
void andon_call_arg(andon_call_t *c, const char *s, size_t len);

/** Adds the pair name, value: the engine reads optional fields as name/value pairs after its fixed arguments.
 */
void andon_call_field(andon_call_t *c, const char *name, const char *s, size_t len);

/** len bytes of the arena, or NULL on overflow. */
void *andon_arena_alloc(andon_arena_t *a, size_t len);

/** A msgpack write callback (data: the arena): what is packed lands at the arena's end, back to back. 0, or
 * -1 when the arena is full. */
int andon_arena_write(void *data, const char *buf, size_t len);

/** Copies s into the arena (for values built by the adapter) and returns the copy, or NULL on overflow. */
const char *andon_arena_strndup(andon_arena_t *a, const char *s, size_t len);

/**
 * Formats into the arena (NUL-terminated) and returns the string with its length in *len, or NULL when the
 * arena has no room for all of it: a result is never truncated.
 */
const char *andon_arena_printf(andon_arena_t *a, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
