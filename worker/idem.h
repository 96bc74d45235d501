/* idem: a request id is one request: the id's record (id -> fingerprint) checked before any change. */
#ifndef ANDON_IDEM_H
#define ANDON_IDEM_H

#include "call.h"
#include "proto.h"

#include <hiredis.h>

#define ANDON_IDEM_FP_LEN 32 /* hex characters of a fingerprint (128 bits) */

/**
 * The fingerprint of a request: its op, its account and its body, where a map's entries count in any
 * order (a client that re-encodes a retry with its fields in another order sends the same request), while
 * arrays keep their order and types stay apart (1 and 1.0 and "1" differ). Writes ANDON_IDEM_FP_LEN hex
 * characters (no NUL) into fp.
 */
void andon_idem_fingerprint(const andon_req_t *req, const char *account, char fp[ANDON_IDEM_FP_LEN]);

/**
 * Builds the record's command into c: SET andon:{rid:<account>:<id>} <fp> NX GET EX <ttl>, in the id's own
 * hash slot. fp must outlive the call (the arena). Sets c->overflow when the arena is full.
 */
void andon_idem_record(andon_call_t *c, andon_arena_t *a, const char *account, const andon_req_t *req,
		       const char *fp, int ttl_s);

/**
 * Reads the record command's reply: 1 when the request may go on (the id is new, or was recorded with this
 * same fingerprint: a replay, answered by the engine's stored answer), 0 when the id belongs to another
 * request, -1 when Redis answered an error (the caller answers InternalFailure).
 */
int andon_idem_check(const redisReply *r, const char *fp);

#endif
