/*
 * redis_route: where the worker's Redis calls go: one Redis, the primary the sentinels name, or the primaries
 * of a Redis Cluster (slot map, one connection per primary, MOVED and ASK); runs one pipelined round.
 */
#include "redis_route.h"

#include "log.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum mode { MODE_SINGLE, MODE_SENTINEL, MODE_CLUSTER };

#define MAX_ADDRS 16
#define NO_NODE	  0xFFFF

typedef struct addr {
	char host[256];
	int port;
} addr_t;

typedef struct node {
	addr_t a;
	redisContext *c;
	int primary;		  /* a primary of the current map (always 1 outside a cluster) */
	int ever;		  /* was connected once: the next connect is a reconnect */
	unsigned long long calls; /* calls sent to it */
	size_t sent;		  /* calls sent to it in this round */
	int written;		  /* this round wrote to it (WAIT goes there) */
	int down;		  /* a connect failed in this round: not tried again before the next */
} node_t;

struct andon_route {
	const andon_config_t *cfg;
	const char *library;
	enum mode mode;
	addr_t seeds[MAX_ADDRS]; /* cluster seeds or sentinels */
	size_t nseeds;
	node_t nodes[ANDON_ROUTE_MAX_NODES];
	size_t nnodes;
	uint16_t slots[ANDON_ROUTE_SLOTS]; /* slot -> node index, NO_NODE when unknown */
	int stale;			   /* the map must be read again before the next round */
	andon_route_stats_t st;
	/* Per round scratch, grown to the largest batch: each call's node, and its ASK target. */
	uint16_t *dest, *ask;
	char *fresh; /* answered in this round (WAIT covers those) */
	size_t cap;
};

/* ---- CRC16 and slots ---------------------------------------------------------------------------------- */

uint16_t andon_route_crc16(const char *buf, size_t len)
{
	/* CRC-16/XMODEM: polynomial 0x1021, initial value 0, no reflection (the Redis Cluster key hash). */
	static uint16_t table[256];
	static int ready;
	uint16_t crc = 0;

	if (!ready) {
		for (unsigned i = 0; i < 256; i++) {
			uint16_t v = (uint16_t)(i << 8);

			for (int b = 0; b < 8; b++)
				v = (uint16_t)((v & 0x8000) ? (v << 1) ^ 0x1021 : v << 1);
			table[i] = v;
		}
		ready = 1;
	}
	for (size_t i = 0; i < len; i++)
		crc = (uint16_t)((crc << 8) ^ table[((crc >> 8) ^ (uint8_t)buf[i]) & 0xFF]);
	return crc;
}

unsigned andon_route_slot(const char *key, size_t len)
{
	const char *open = memchr(key, '{', len), *close;

	if (open != NULL && (close = memchr(open + 1, '}', len - (size_t)(open + 1 - key))) != NULL &&
	    close > open + 1)
		return andon_route_crc16(open + 1, (size_t)(close - open - 1)) & (ANDON_ROUTE_SLOTS - 1);
	return andon_route_crc16(key, len) & (ANDON_ROUTE_SLOTS - 1);
}

/* ---- setup -------------------------------------------------------------------------------------------- */

/* Parses "host:port, host:port" into a[]; returns the count, or -1. */
static int parse_addrs(const char *list, addr_t *a, size_t max)
{
	size_t n = 0;
	const char *p = list;

	while (*p != '\0') {
		const char *end, *colon;
		char port[8], *e;
		long v;

		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		for (end = p; *end != '\0' && *end != ',' && *end != ' '; end++)
			;
		colon = end;
		while (colon > p && colon[-1] != ':')
			colon--;
		if (n == max || colon <= p + 1 || (size_t)(colon - 1 - p) >= sizeof(a->host) ||
		    (size_t)(end - colon) >= sizeof(port) || end == colon)
			return -1;
		memcpy(port, colon, (size_t)(end - colon));
		port[end - colon] = '\0';
		v = strtol(port, &e, 10);
		if (*e != '\0' || v < 1 || v > 65535)
			return -1;
		memcpy(a[n].host, p, (size_t)(colon - 1 - p));
		a[n].host[colon - 1 - p] = '\0';
		a[n].port = (int)v;
		n++;
		p = end;
	}
	return (int)n;
}

andon_route_t *andon_route_new(const andon_config_t *cfg, const char *library, char *errstr,
			       size_t errstr_size)
{
	andon_route_t *r = calloc(1, sizeof(*r));
	int n = 0;

	if (r == NULL) {
		andon_fail(errstr, errstr_size, "out of memory");
		return NULL;
	}
	r->cfg = cfg;
	r->library = library;
	memset(r->slots, 0xFF, sizeof(r->slots));
	if (cfg->redis_cluster[0] != '\0' && cfg->redis_sentinels[0] != '\0') {
		andon_fail(errstr, errstr_size, "redis.cluster and redis.sentinels exclude each other");
		goto err;
	}
	if (cfg->redis_cluster[0] != '\0') {
		r->mode = MODE_CLUSTER;
		n = parse_addrs(cfg->redis_cluster, r->seeds, MAX_ADDRS);
	} else if (cfg->redis_sentinels[0] != '\0') {
		r->mode = MODE_SENTINEL;
		n = parse_addrs(cfg->redis_sentinels, r->seeds, MAX_ADDRS);
	} else {
		r->mode = MODE_SINGLE;
		snprintf(r->nodes[0].a.host, sizeof(r->nodes[0].a.host), "%s", cfg->redis_host);
		r->nodes[0].a.port = cfg->redis_port;
		r->nodes[0].primary = 1;
		r->nnodes = 1;
		n = 1;
	}
	if (n <= 0) {
		andon_fail(errstr, errstr_size, "%s: expected host:port,... (at most %d)",
			   r->mode == MODE_CLUSTER ? "redis.cluster" : "redis.sentinels", MAX_ADDRS);
		goto err;
	}
	r->nseeds = (size_t)n;
	if (r->mode == MODE_SENTINEL) {
		r->nodes[0].primary = 1;
		r->nnodes = 1;
	}
	r->stale = r->mode == MODE_CLUSTER;
	return r;
err:
	free(r);
	return NULL;
}

static void drop(node_t *nd)
{
	if (nd->c != NULL)
		redisFree(nd->c);
	nd->c = NULL;
}

void andon_route_destroy(andon_route_t *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nnodes; i++)
		drop(&r->nodes[i]);
	free(r->dest);
	free(r->ask);
	free(r->fresh);
	free(r);
}

int andon_route_cluster(const andon_route_t *r)
{
	return r->mode == MODE_CLUSTER;
}

void andon_route_stats(const andon_route_t *r, andon_route_stats_t *s)
{
	*s = r->st;
}

int andon_route_node(const andon_route_t *r, size_t i, char *addr, size_t addr_size,
		     unsigned long long *calls)
{
	const node_t *nd = &r->nodes[i];

	if (i >= r->nnodes)
		return -1;
	if (r->mode == MODE_SINGLE && r->cfg->redis_unix[0] != '\0')
		snprintf(addr, addr_size, "%s", r->cfg->redis_unix);
	else
		snprintf(addr, addr_size, "%s:%d", nd->a.host, nd->a.port);
	*calls = nd->calls;
	return nd->primary;
}

/* Runs a setup command; any failure fails the connect. */
static int setup(redisContext *c, const char *what, redisReply *rep, char *errstr, size_t errstr_size)
{
	int rc = 0;

	if (rep == NULL)
		rc = andon_fail(errstr, errstr_size, "%s: %s", what, c->errstr);
	else if (rep->type == REDIS_REPLY_ERROR)
		rc = andon_fail(errstr, errstr_size, "%s: %s", what, rep->str);
	freeReplyObject(rep);
	return rc;
}

/* A connection to a, authenticated (and SELECTed outside a cluster), or NULL with a reason. */
static redisContext *open_ctx(const andon_route_t *r, const addr_t *a, int auth, char *errstr,
			      size_t errstr_size)
{
	const andon_config_t *cfg = r->cfg;
	struct timeval tv = {cfg->redis_timeout_ms / 1000, (cfg->redis_timeout_ms % 1000) * 1000};
	redisContext *c;

	if (r->mode == MODE_SINGLE && cfg->redis_unix[0] != '\0')
		c = redisConnectUnixWithTimeout(cfg->redis_unix, tv);
	else
		c = redisConnectWithTimeout(a->host, a->port, tv);
	if (c == NULL) {
		andon_fail(errstr, errstr_size, "redis: out of memory");
		return NULL;
	}
	if (c->err) {
		andon_fail(errstr, errstr_size, "redis connect %s:%d: %s", a->host, a->port, c->errstr);
		redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	if (auth &&
	    ((cfg->redis_password[0] != '\0' &&
	      setup(c, "AUTH",
		    cfg->redis_username[0] != '\0'
			? redisCommand(c, "AUTH %s %s", cfg->redis_username, cfg->redis_password)
			: redisCommand(c, "AUTH %s", cfg->redis_password),
		    errstr, errstr_size) != 0) ||
	     (r->mode != MODE_CLUSTER && cfg->redis_db != 0 &&
	      setup(c, "SELECT", redisCommand(c, "SELECT %d", cfg->redis_db), errstr, errstr_size) != 0))) {
		redisFree(c);
		return NULL;
	}
	return c;
}

/* Asks the sentinels, in order, for the primary's address: node 0's. 0, or -1 when none knew. */
static int ask_sentinels(andon_route_t *r, char *errstr, size_t errstr_size)
{
	andon_fail(errstr, errstr_size, "no sentinel answered");
	for (size_t i = 0; i < r->nseeds; i++) {
		redisContext *c = open_ctx(r, &r->seeds[i], 0, errstr, errstr_size);
		redisReply *rep;
		node_t *nd = &r->nodes[0];

		if (c == NULL)
			continue;
		rep = redisCommand(c, "SENTINEL get-master-addr-by-name %s", r->cfg->redis_sentinel_master);
		if (rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
		    rep->element[0]->type == REDIS_REPLY_STRING &&
		    rep->element[1]->type == REDIS_REPLY_STRING &&
		    rep->element[0]->len < sizeof(nd->a.host)) {
			int port = atoi(rep->element[1]->str);

			if (strcmp(nd->a.host, rep->element[0]->str) != 0 || nd->a.port != port) {
				andon_info("sentinel %s:%d: primary %s is at %s:%s", r->seeds[i].host,
					   r->seeds[i].port, r->cfg->redis_sentinel_master,
					   rep->element[0]->str, rep->element[1]->str);
				drop(nd);
				snprintf(nd->a.host, sizeof(nd->a.host), "%s", rep->element[0]->str);
				nd->a.port = port;
			}
			freeReplyObject(rep);
			redisFree(c);
			return 0;
		}
		andon_fail(errstr, errstr_size, "sentinel %s:%d does not know %s", r->seeds[i].host,
			   r->seeds[i].port, r->cfg->redis_sentinel_master);
		freeReplyObject(rep);
		redisFree(c);
	}
	return -1;
}

/* Connects node nd (asking the sentinels first in that mode) and loads the library. */
static int connect_node(andon_route_t *r, node_t *nd, char *errstr, size_t errstr_size)
{
	redisContext *c;

	drop(nd);
	if (r->mode == MODE_SENTINEL && ask_sentinels(r, errstr, errstr_size) != 0)
		return -1;
	if ((c = open_ctx(r, &nd->a, 1, errstr, errstr_size)) == NULL)
		return -1;
	if (setup(c, "FUNCTION LOAD", redisCommand(c, "FUNCTION LOAD REPLACE %s", r->library), errstr,
		  errstr_size) != 0) {
		redisFree(c);
		return -1;
	}
	nd->c = c;
	if (nd->ever)
		r->st.reconnects++;
	nd->ever = 1;
	return 0;
}

/* The index of the node at host:port, added when new; NO_NODE when the table is full. */
static uint16_t node_at(andon_route_t *r, const char *host, size_t host_len, int port)
{
	for (size_t i = 0; i < r->nnodes; i++)
		if (r->nodes[i].a.port == port && strlen(r->nodes[i].a.host) == host_len &&
		    memcmp(r->nodes[i].a.host, host, host_len) == 0)
			return (uint16_t)i;
	if (r->nnodes == ANDON_ROUTE_MAX_NODES || host_len >= sizeof(r->nodes[0].a.host))
		return NO_NODE;
	memset(&r->nodes[r->nnodes], 0, sizeof(node_t));
	memcpy(r->nodes[r->nnodes].a.host, host, host_len);
	r->nodes[r->nnodes].a.host[host_len] = '\0';
	r->nodes[r->nnodes].a.port = port;
	return (uint16_t)r->nnodes++;
}

/* Reads the slot map from c (queried at a, for nodes it names by an empty host): 0, or -1. */
static int read_map(andon_route_t *r, redisContext *c, const addr_t *a, char *errstr, size_t errstr_size)
{
	redisReply *rep = redisCommand(c, "CLUSTER SLOTS");
	uint16_t slots[ANDON_ROUTE_SLOTS];
	int primary[ANDON_ROUTE_MAX_NODES] = {0};
	size_t covered = 0;

	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY) {
		andon_fail(errstr, errstr_size, "CLUSTER SLOTS at %s:%d: %s", a->host, a->port,
			   rep == NULL			    ? c->errstr
			   : rep->type == REDIS_REPLY_ERROR ? rep->str
							    : "bad reply");
		freeReplyObject(rep);
		return -1;
	}
	memset(slots, 0xFF, sizeof(slots));
	for (size_t i = 0; i < rep->elements; i++) {
		const redisReply *e = rep->element[i], *m;
		const char *host;
		size_t host_len;
		uint16_t k;

		if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
		    e->element[0]->type != REDIS_REPLY_INTEGER ||
		    e->element[1]->type != REDIS_REPLY_INTEGER ||
		    (m = e->element[2])->type != REDIS_REPLY_ARRAY || m->elements < 2 ||
		    m->element[0]->type != REDIS_REPLY_STRING || m->element[1]->type != REDIS_REPLY_INTEGER ||
		    e->element[0]->integer < 0 || e->element[1]->integer >= ANDON_ROUTE_SLOTS ||
		    e->element[0]->integer > e->element[1]->integer)
			continue;
		host = m->element[0]->str;
		host_len = m->element[0]->len;
		if (host_len == 0 || strcmp(host, "?") == 0) {
			host = a->host;
			host_len = strlen(a->host);
		}
		if ((k = node_at(r, host, host_len, (int)m->element[1]->integer)) == NO_NODE)
			continue;
		primary[k] = 1;
		for (long long s = e->element[0]->integer; s <= e->element[1]->integer; s++)
			slots[s] = k;
		covered += (size_t)(e->element[1]->integer - e->element[0]->integer + 1);
	}
	freeReplyObject(rep);
	if (covered == 0)
		return andon_fail(errstr, errstr_size, "CLUSTER SLOTS at %s:%d: no slot is served", a->host,
				  a->port);
	memcpy(r->slots, slots, sizeof(slots));
	for (size_t i = 0; i < r->nnodes; i++) {
		if (r->nodes[i].primary && !primary[i]) {
			andon_info("redis cluster: %s:%d no longer serves slots", r->nodes[i].a.host,
				   r->nodes[i].a.port);
			drop(&r->nodes[i]);
		}
		r->nodes[i].primary = primary[i];
	}
	if (covered < ANDON_ROUTE_SLOTS)
		andon_warn("redis cluster: %zu of %d slots are served", covered, ANDON_ROUTE_SLOTS);
	return 0;
}

/*
 * Reads the slot map from the first node that answers (connected primaries first, then the seeds) and
 * connects every primary, loading the library on each: a primary that appears (a failover, a new shard)
 * has it before any call reaches it. 0, or -1 when no node answered.
 */
static int refresh(andon_route_t *r, char *errstr, size_t errstr_size)
{
	int ok = -1;

	r->st.refreshes++;
	for (size_t i = 0; i < r->nnodes && ok != 0; i++)
		if (r->nodes[i].c != NULL && r->nodes[i].primary)
			ok = read_map(r, r->nodes[i].c, &r->nodes[i].a, errstr, errstr_size);
	for (size_t i = 0; i < r->nseeds && ok != 0; i++) {
		redisContext *c = open_ctx(r, &r->seeds[i], 1, errstr, errstr_size);

		if (c == NULL)
			continue;
		ok = read_map(r, c, &r->seeds[i], errstr, errstr_size);
		redisFree(c);
	}
	/* Known nodes that are not seeds (the seeds may all be gone since). */
	for (size_t i = 0; i < r->nnodes && ok != 0; i++) {
		redisContext *c = open_ctx(r, &r->nodes[i].a, 1, errstr, errstr_size);

		if (c == NULL)
			continue;
		ok = read_map(r, c, &r->nodes[i].a, errstr, errstr_size);
		redisFree(c);
	}
	if (ok != 0)
		return -1;
	r->stale = 0;
	for (size_t i = 0; i < r->nnodes; i++) {
		char err[256];

		/* A node that cannot be reached is not tried again in this round (need()). */
		if (r->nodes[i].primary && r->nodes[i].c == NULL && !r->nodes[i].down &&
		    connect_node(r, &r->nodes[i], err, sizeof(err)) != 0) {
			andon_warn("redis cluster: %s", err);
			r->nodes[i].down = 1;
		}
	}
	return 0;
}

int andon_route_connect(andon_route_t *r, char *errstr, size_t errstr_size)
{
	if (r->mode != MODE_CLUSTER)
		return connect_node(r, &r->nodes[0], errstr, errstr_size);
	if (refresh(r, errstr, errstr_size) != 0)
		return -1;
	for (size_t i = 0; i < r->nnodes; i++)
		if (r->nodes[i].primary && r->nodes[i].c == NULL)
			return connect_node(r, &r->nodes[i], errstr, errstr_size);
	return 0;
}

/* ---- one round ---------------------------------------------------------------------------------------- */

/* Commands the worker or its tools may send that name no key: any primary serves them. */
static int keyless(const char *name, size_t len)
{
	static const char *const names[] = {"PING",   "INFO",	 "FUNCTION", "FLUSHALL", "FLUSHDB",
					    "DBSIZE", "CONFIG",	 "TIME",     "SCAN",	 "KEYS",
					    "WAIT",   "CLUSTER", "SCRIPT",   "MEMORY",	 "LASTSAVE",
					    "ROLE",   "SAVE",	 "BGSAVE",   "SLOWLOG",	 NULL};

	for (const char *const *p = names; *p != NULL; p++)
		if (strlen(*p) == len && strncasecmp(*p, name, len) == 0)
			return 1;
	return 0;
}

/*
 * The slot a call touches, or -1 when it names no key (any primary), or -2 when its keys are in different
 * slots. FCALL's keys follow its numkeys; every other command the worker sends has one key, its first
 * argument.
 */
static int call_slot(const andon_call_t *c)
{
	unsigned slot;
	long nk;

	if (c->argc < 2)
		return -1;
	if ((c->argvlen[0] == 5 && strncasecmp(c->argv[0], "FCALL", 5) == 0) ||
	    (c->argvlen[0] == 8 && strncasecmp(c->argv[0], "FCALL_RO", 8) == 0)) {
		char num[8];

		if (c->argc < 3 || c->argvlen[2] >= sizeof(num))
			return -1;
		memcpy(num, c->argv[2], c->argvlen[2]);
		num[c->argvlen[2]] = '\0';
		nk = strtol(num, NULL, 10);
		if (nk <= 0 || 3 + nk > c->argc)
			return -1;
		slot = andon_route_slot(c->argv[3], c->argvlen[3]);
		for (long k = 1; k < nk; k++)
			if (andon_route_slot(c->argv[3 + k], c->argvlen[3 + k]) != slot)
				return -2;
		return (int)slot;
	}
	if (keyless(c->argv[0], c->argvlen[0]))
		return -1;
	return (int)andon_route_slot(c->argv[1], c->argvlen[1]);
}

/* An error reply the router makes itself (freed by freeReplyObject like any other), or NULL. */
static redisReply *own_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static redisReply *own_error(const char *fmt, ...)
{
	redisReply *e = calloc(1, sizeof(*e));
	char buf[300];
	va_list ap;

	if (e == NULL)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	e->type = REDIS_REPLY_ERROR;
	e->len = strlen(buf);
	if ((e->str = strdup(buf)) == NULL) {
		free(e);
		return NULL;
	}
	return e;
}

static int starts(const redisReply *rep, const char *prefix)
{
	return strncmp(rep->str, prefix, strlen(prefix)) == 0;
}

/* Errors worth waiting out: the same call succeeds once Redis is back to normal. */
static int transient(const redisReply *rep)
{
	static const char *const prefixes[] = {"LOADING",    "BUSY",	    "OOM",	  "TRYAGAIN",
					       "MASTERDOWN", "CLUSTERDOWN", "NOREPLICAS", NULL};

	for (const char *const *p = prefixes; *p != NULL; p++)
		if (starts(rep, *p))
			return 1;
	return 0;
}

/* "MOVED 3999 127.0.0.1:6381" / "ASK ...": the slot's node (added when new), or NO_NODE. */
static uint16_t redirect(andon_route_t *r, const redisReply *rep, unsigned *slot)
{
	const char *sp = strchr(rep->str, ' '), *at, *colon;
	char *end;
	long s, port;

	if (sp == NULL || (at = strchr(sp + 1, ' ')) == NULL || (colon = strrchr(at + 1, ':')) == NULL)
		return NO_NODE;
	s = strtol(sp + 1, &end, 10);
	if (end != at || s < 0 || s >= ANDON_ROUTE_SLOTS)
		return NO_NODE;
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535)
		return NO_NODE;
	*slot = (unsigned)s;
	return node_at(r, at + 1, (size_t)(colon - at - 1), (int)port);
}

static void why(andon_route_round_t *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void why(andon_route_round_t *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->err, sizeof(out->err), fmt, ap);
	va_end(ap);
}

/* The node's connection failed: it is closed, the map read again, the calls it owed resent. */
static void broken(andon_route_t *r, node_t *nd, andon_route_round_t *out)
{
	andon_warn("redis connection to %s:%d lost: %s", nd->a.host, nd->a.port,
		   nd->c != NULL ? nd->c->errstr : "not connected");
	why(out, "connection to %s:%d lost: %s", nd->a.host, nd->a.port,
	    nd->c != NULL ? nd->c->errstr : "not connected");
	drop(nd);
	out->broken = 1;
	r->stale = r->mode == MODE_CLUSTER;
}

/*
 * Classifies reply rep of call i read from node k: kept as the call's reply (1), or dropped for a resend
 * (0) with out telling why. An ASK sets ask[i] to its target for this round's second pass.
 */
static int classify(andon_route_t *r, size_t i, uint16_t k, redisReply *rep, andon_route_round_t *out)
{
	node_t *nd = &r->nodes[k];
	unsigned slot;
	uint16_t to;

	if (rep->type != REDIS_REPLY_ERROR)
		return 1;
	if (r->mode == MODE_CLUSTER && starts(rep, "MOVED ")) {
		if ((to = redirect(r, rep, &slot)) != NO_NODE)
			r->slots[slot] = to;
		r->st.moved++;
		r->stale = 1;
		out->redirected = 1;
	} else if (r->mode == MODE_CLUSTER && starts(rep, "ASK ") && r->ask != NULL && r->ask[i] == NO_NODE) {
		r->ask[i] = redirect(r, rep, &slot);
		r->st.ask++;
		out->redirected = 1;
	} else if (starts(rep, "READONLY")) {
		/* A replica now (a failover): find the primary again. */
		why(out, "%s:%d: %s", nd->a.host, nd->a.port, rep->str);
		drop(nd);
		r->stale = r->mode == MODE_CLUSTER;
		out->broken = 1;
	} else if (strstr(rep->str, "Function not found") != NULL) {
		drop(nd); /* reconnecting reloads the library */
		out->redirected = 1;
	} else if (transient(rep)) {
		why(out, "%s", rep->str);
		r->stale |=
		    r->mode == MODE_CLUSTER && (starts(rep, "TRYAGAIN") || starts(rep, "CLUSTERDOWN"));
		out->wait = 1;
	} else {
		return 1; /* a script's error: the caller reports it */
	}
	andon_debug("redis %s:%d: %s; will retry", nd->a.host, nd->a.port, rep->str);
	freeReplyObject(rep);
	return 0;
}

/* Connects node k when it is not; 0, or -1 (out says why). */
static int need(andon_route_t *r, uint16_t k, andon_route_round_t *out)
{
	char err[256];

	if (r->nodes[k].c != NULL)
		return 0;
	if (r->nodes[k].down)
		return -1;
	if (connect_node(r, &r->nodes[k], err, sizeof(err)) == 0)
		return 0;
	r->nodes[k].down = 1;
	andon_warn("redis unavailable (%s); retrying", err);
	why(out, "%s", err);
	out->broken = 1;
	r->stale = r->mode == MODE_CLUSTER;
	return -1;
}

/* Reads node k's replies of this round's calls (dest k, or ask k in the ASK pass) in order. */
static size_t read_node(andon_route_t *r, uint16_t k, const andon_call_t *calls, size_t n,
			redisReply **replies, int asked, andon_route_round_t *out)
{
	node_t *nd = &r->nodes[k];
	size_t got = 0;

	for (size_t i = 0; i < n && nd->c != NULL; i++) {
		redisReply *rep;

		if ((asked ? r->ask[i] : r->dest[i]) != k || replies[i] != NULL || calls[i].overflow ||
		    calls[i].skip)
			continue;
		if (asked) {
			if (redisGetReply(nd->c, (void **)&rep) != REDIS_OK) {
				broken(r, nd, out);
				break;
			}
			freeReplyObject(rep); /* ASKING's +OK */
		}
		if (redisGetReply(nd->c, (void **)&rep) != REDIS_OK) {
			broken(r, nd, out);
			break;
		}
		if (asked && rep->type == REDIS_REPLY_ERROR && starts(rep, "ASK ")) {
			freeReplyObject(rep); /* asked once: the next round starts from the map again */
			out->redirected = 1;
			continue;
		}
		if (classify(r, i, k, rep, out)) {
			replies[i] = rep;
			got++;
		}
	}
	return got;
}

/* WAIT on every node written to; a node that fell short has this round's replies dropped. */
static size_t wait_replicas(andon_route_t *r, size_t n, redisReply **replies, andon_route_round_t *out)
{
	const andon_config_t *cfg = r->cfg;
	size_t lost = 0;

	for (size_t k = 0; k < r->nnodes; k++)
		if (r->nodes[k].written && r->nodes[k].c != NULL)
			redisAppendCommand(r->nodes[k].c, "WAIT %d %d", cfg->redis_wait_replicas,
					   cfg->redis_wait_timeout_ms);
	for (uint16_t k = 0; k < r->nnodes; k++) {
		node_t *nd = &r->nodes[k];
		redisReply *rep = NULL;
		int short_of = 0;

		if (!nd->written)
			continue;
		if (nd->c == NULL || redisGetReply(nd->c, (void **)&rep) != REDIS_OK) {
			if (nd->c != NULL)
				broken(r, nd, out);
			short_of = 1;
		} else if (rep->type != REDIS_REPLY_INTEGER || rep->integer < cfg->redis_wait_replicas) {
			r->st.wait_short++;
			why(out, "WAIT on %s:%d: %lld of %d replicas acknowledged", nd->a.host, nd->a.port,
			    rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1LL, cfg->redis_wait_replicas);
			andon_warn("redis %s", out->err);
			out->wait = 1;
			short_of = 1;
		}
		freeReplyObject(rep);
		if (!short_of)
			continue;
		/* Their offsets must not be stored: resent (idempotent), they are answered again. */
		for (size_t i = 0; i < n; i++)
			if (r->fresh[i] && replies[i] != NULL &&
			    (r->ask[i] != NO_NODE ? r->ask[i] : r->dest[i]) == k) {
				freeReplyObject(replies[i]);
				replies[i] = NULL;
				lost++;
			}
	}
	return lost;
}

static int room(andon_route_t *r, size_t n)
{
	uint16_t *d, *a;
	char *f;

	if (n <= r->cap)
		return 0;
	if ((d = realloc(r->dest, n * sizeof(*d))) == NULL)
		return -1;
	r->dest = d;
	if ((a = realloc(r->ask, n * sizeof(*a))) == NULL)
		return -1;
	r->ask = a;
	if ((f = realloc(r->fresh, n)) == NULL)
		return -1;
	r->fresh = f;
	r->cap = n;
	return 0;
}

size_t andon_route_round(andon_route_t *r, const andon_call_t *calls, size_t n, redisReply **replies,
			 andon_route_round_t *out)
{
	size_t got = 0, asks = 0;

	memset(out, 0, sizeof(*out));
	if (room(r, n) != 0) {
		why(out, "out of memory");
		out->wait = 1;
		return 0;
	}
	for (size_t k = 0; k < r->nnodes; k++) {
		r->nodes[k].sent = 0;
		r->nodes[k].written = 0;
		r->nodes[k].down = 0;
	}
	if (r->mode == MODE_CLUSTER && r->stale && refresh(r, out->err, sizeof(out->err)) != 0) {
		out->broken = 1;
		return 0;
	}
	/* Send: each call to its slot's primary (the one Redis outside a cluster). */
	for (size_t i = 0; i < n; i++) {
		const andon_call_t *c = &calls[i];
		uint16_t k = 0;

		r->dest[i] = r->ask[i] = NO_NODE;
		if (replies[i] != NULL || c->overflow || c->skip)
			continue;
		if (r->mode == MODE_CLUSTER) {
			int slot = call_slot(c);

			if (slot == -2) {
				/* A bug in how the call was built: never sent (docs/REDIS.md, Cluster). */
				replies[i] = own_error("CROSSSLOT andon: %.*s names keys of different slots",
						       (int)c->argvlen[c->argc > 1 ? 1 : 0],
						       c->argv[c->argc > 1 ? 1 : 0]);
				if (replies[i] != NULL) {
					andon_err("%s", replies[i]->str);
					got++;
				}
				continue;
			}
			k = slot >= 0 ? r->slots[slot] : NO_NODE;
			for (size_t j = 0; k == NO_NODE && slot == -1 && j < r->nnodes; j++)
				if (r->nodes[j].primary)
					k = (uint16_t)j;
			if (k == NO_NODE) {
				why(out, "no node serves slot %d", slot);
				out->wait = 1;
				r->stale = 1;
				continue;
			}
		}
		if (need(r, k, out) != 0)
			continue;
		r->dest[i] = k;
		redisAppendCommandArgv(r->nodes[k].c, c->argc, (const char **)c->argv, c->argvlen);
		r->nodes[k].sent++;
	}
	/* Read: node after node; each has worked on its share meanwhile. */
	for (uint16_t k = 0; k < r->nnodes; k++) {
		node_t *nd = &r->nodes[k];

		if (nd->sent == 0)
			continue;
		nd->calls += nd->sent;
		nd->written = 1;
		got += read_node(r, k, calls, n, replies, 0, out);
	}
	/* ASK: the slot is moving; ASKING and the call, once, on the target. */
	for (size_t i = 0; i < n; i++) {
		uint16_t k = r->ask[i];

		if (k == NO_NODE)
			continue;
		if (need(r, k, out) != 0) {
			r->ask[i] = NO_NODE;
			continue;
		}
		redisAppendCommand(r->nodes[k].c, "ASKING");
		redisAppendCommandArgv(r->nodes[k].c, calls[i].argc, (const char **)calls[i].argv,
				       calls[i].argvlen);
		r->nodes[k].calls++;
		r->nodes[k].written = 1;
		asks++;
	}
	for (uint16_t k = 0; asks > 0 && k < r->nnodes; k++)
		got += read_node(r, k, calls, n, replies, 1, out);
	if (r->cfg->redis_wait_replicas > 0 && got > 0) {
		for (size_t i = 0; i < n; i++)
			r->fresh[i] = replies[i] != NULL && (r->dest[i] != NO_NODE || r->ask[i] != NO_NODE);
		got -= wait_replicas(r, n, replies, out);
	}
	return got;
}
