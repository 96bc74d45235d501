/* rpc: the tools' request/reply client over Kafka: requests go to the request topic, replies are matched by
 * id on the reply topic, read from where it ended when the client started. */
#ifndef ANDON_RPC_H
#define ANDON_RPC_H

#include "kafka.h"

#include <jansson.h>
#include <signal.h>
#include <stddef.h>

typedef struct andon_rpc andon_rpc_t;

/**
 * Creates the producer and the reply reader (client names the consumer group handle; nothing is joined or
 * committed) with the tool's -b/-X/-F arguments, and assigns every partition of replies at its high
 * watermark, so no reply to a request sent afterwards is missed. Waits up to timeout_ms for metadata.
 * Requests are signed when credentials are found as andon-send finds them (sign.h, andon_creds_load).
 * Returns the client, or NULL with the reason in errstr.
 */
andon_rpc_t *andon_rpc_new(const andon_kafka_arg_t *args, int nargs, const char *requests,
			   const char *replies, const char *client, int timeout_ms, char *errstr,
			   size_t errstr_size);

/** Closes the reader, flushes the producer (up to 10 s) and destroys everything. r may be NULL. */
void andon_rpc_destroy(andon_rpc_t *r);

/**
 * Queues the request {v: 1, op, id, replyTo, account?, body} with Kafka key key (NULL: the id); body is
 * borrowed. Waits while the local queue is full. Returns 0, or -1 with the reason in errstr.
 */
int andon_rpc_send(andon_rpc_t *r, const char *op, const char *id, const char *account, const char *key,
		   const json_t *body, char *errstr, size_t errstr_size);

/** Called with each reply read (decoded to JSON; borrowed, valid during the call). */
typedef void(andon_rpc_reply_fn)(json_t *reply, void *opaque);

/**
 * Serves delivery reports and reads replies for up to timeout_ms (returning as soon as at least one was
 * read), handing each to cb. Returns the number read, or -1 when the reader failed for good.
 */
int andon_rpc_poll(andon_rpc_t *r, int timeout_ms, andon_rpc_reply_fn *cb, void *opaque);

/**
 * Sends one request with a fresh id and waits up to timeout_ms for its reply, skipping other replies.
 * Returns 0 with *reply (a new reference), or -1 with the reason in errstr (no reply in time, a Kafka
 * error, or interrupted: *run became 0; run may be NULL).
 */
int andon_rpc_call(andon_rpc_t *r, const char *op, const char *account, const char *key, const json_t *body,
		   int timeout_ms, volatile sig_atomic_t *run, json_t **reply, char *errstr,
		   size_t errstr_size);

/** Requests whose delivery failed so far. */
long long andon_rpc_failed(const andon_rpc_t *r);

/**
 * Assigns every partition of topic to consumer rk at its current high watermark (asked now, not "end"
 * resolved later, after a reply may already have been written). Returns 0, or -1 with errstr.
 */
int andon_rpc_assign_at_end(rd_kafka_t *rk, const char *topic, int timeout_ms, char *errstr,
			    size_t errstr_size);

#endif
