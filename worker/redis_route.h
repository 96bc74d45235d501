/*
 * redis_route: where the worker's Redis calls go: one Redis, the primary the sentinels name, or the primaries
 * of a Redis Cluster (slot map, one connection per primary, MOVED and ASK); runs one pipelined round.
 */
#ifndef ANDON_REDIS_ROUTE_H
#define ANDON_REDIS_ROUTE_H

#include "call.h"
#include "config.h"

#include <hiredis.h>
#include <stdint.h>

#define ANDON_ROUTE_SLOTS 16384
/* Nodes a cluster may name over the worker's life (primaries now, primaries that were, ASK targets). */
#define ANDON_ROUTE_MAX_NODES 64

typedef struct andon_route andon_route_t;

/** What one round found besides its replies. */
typedef struct andon_route_round {
	int broken; /* a connection failed or could not be made: back off, reconnect, resend */
	int wait;   /* a transient error (LOADING, TRYAGAIN, CLUSTERDOWN...) or a WAIT shortfall: back off */
	int redirected; /* MOVED or ASK, or a library reload: resend at once */
	char err[256];	/* why, for broken or wait */
} andon_route_round_t;

/** Statistics since start (counters). */
typedef struct andon_route_stats {
	unsigned long long moved;      /* MOVED replies followed */
	unsigned long long ask;	       /* ASK replies followed */
	unsigned long long refreshes;  /* slot map reads (CLUSTER SLOTS) */
	unsigned long long reconnects; /* connections made again after one was lost */
	unsigned long long wait_short; /* WAITs answered by fewer replicas than redis.wait_replicas */
} andon_route_stats_t;

/**
 * A router for cfg's mode (redis.cluster, redis.sentinels, else redis.host/port/unix); nothing is connected
 * yet. library is the function library loaded with FUNCTION LOAD REPLACE on every connection to a primary
 * (cfg and library must outlive the router). NULL when out of memory or when a node list does not parse.
 */
andon_route_t *andon_route_new(const andon_config_t *cfg, const char *library, char *errstr,
			       size_t errstr_size);
void andon_route_destroy(andon_route_t *r);

/**
 * Connects now: one Redis; or the primary the sentinels name; or, in cluster mode, reads the slot map
 * from a seed and connects every primary. Each connection authenticates (AUTH, and SELECT outside a
 * cluster) and loads the library. 0, or -1 with a reason.
 */
int andon_route_connect(andon_route_t *r, char *errstr, size_t errstr_size);

/**
 * One round: sends every call that has no reply yet (replies[i] NULL, neither skip nor overflow) to its
 * node, to all nodes before reading any reply, then reads them; follows ASK within the round (ASKING and
 * the call once on the target), records MOVED (the slot's new owner, and a map refresh before the next
 * round), and with redis.wait_replicas runs WAIT on every node written to, leaving unanswered the calls of a
 * node whose WAIT fell short. A call whose keys are in two slots (cluster mode) is never sent: its reply
 * is the error "CROSSSLOT andon: ...". Returns the number of calls answered by this round (their replies
 * set, the caller frees them); out says why the others were not.
 */
size_t andon_route_round(andon_route_t *r, const andon_call_t *calls, size_t n, redisReply **replies,
			 andon_route_round_t *out);

/** The hash slot of a key: CRC16 (XMODEM) of its hash tag (the text inside the first {...}, when not
 * empty) or of the whole key, modulo 16384. */
unsigned andon_route_slot(const char *key, size_t len);
uint16_t andon_route_crc16(const char *buf, size_t len);

/** 1 in cluster mode. */
int andon_route_cluster(const andon_route_t *r);

void andon_route_stats(const andon_route_t *r, andon_route_stats_t *s);

/**
 * Node i (0, 1, ... in the order the router met them): its "host:port" in addr and the calls sent to it.
 * Returns 1 for a primary of the current map (or the one Redis), 0 for another node, -1 past the last.
 */
int andon_route_node(const andon_route_t *r, size_t i, char *addr, size_t addr_size,
		     unsigned long long *calls);

#endif
