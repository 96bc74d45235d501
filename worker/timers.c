/* timers: the durable-deadline sweep: claims due deadlines with a lease from every timer shard, fires them as
 * engine calls and removes them once what they caused is acknowledged, or with exactly-once committed
 * (docs/REDIS.md, durable timers). */
#include "worker_int.h"

#include "log.h"
#include "request.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Members one ZREM carries at most (a call holds ANDON_CALL_MAX_ARGS arguments, two are ZREM and the key). */
#define ZREM_MAX (ANDON_CALL_MAX_ARGS - 2)

int andon_timers_init(andon_worker_t *w)
{
	andon_timerset_t *t = &w->tset;
	size_t n = (size_t)w->cfg->timer_shards;

	t->nshards = n;
	t->nkeys = n + 1;
	t->keys = calloc(t->nkeys, sizeof(*t->keys));
	t->calls = calloc(2 * t->nkeys, sizeof(*t->calls));
	t->replies = calloc(2 * t->nkeys, sizeof(*t->replies));
	t->claimed = calloc(t->nkeys, sizeof(*t->claimed));
	/* Every key's members in ZREMs of ZREM_MAX: at most one short ZREM per key. */
	t->done_cap = t->nkeys + (size_t)w->cfg->timer_batch / ZREM_MAX + 1;
	t->done = calloc(t->done_cap, sizeof(*t->done));
	t->done_replies = calloc(t->done_cap, sizeof(*t->done_replies));
	if (t->keys == NULL || t->calls == NULL || t->replies == NULL || t->claimed == NULL ||
	    t->done == NULL || t->done_replies == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (asprintf(&t->keys[i], "andon:{timers:%zu}", i) < 0) {
			t->keys[i] = NULL;
			return -1;
		}
	/* The single set of earlier versions: drained, never written (docs/REDIS.md, durable timers). */
	return (t->keys[n] = strdup(TIMERS_LEGACY_KEY)) == NULL ? -1 : 0;
}

void andon_timers_free(andon_worker_t *w)
{
	andon_timerset_t *t = &w->tset;

	for (size_t i = 0; t->keys != NULL && i < t->nkeys; i++)
		free(t->keys[i]);
	for (size_t i = 0; t->claimed != NULL && i < t->nkeys; i++)
		freeReplyObject(t->claimed[i]);
	free(t->keys);
	free(t->calls);
	free(t->replies);
	free(t->claimed);
	free(t->done);
	free(t->done_replies);
	memset(t, 0, sizeof(*t));
}

const char *andon_timers_key(const andon_worker_t *w, const char *member, size_t len)
{
	/* FNV-1a: stable across workers and versions, so every worker puts a member in the same shard. */
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)member[i]) * 16777619u;
	return w->tset.keys[h % w->tset.nshards];
}

/* Forgets what the last sweep fired (its claims' replies hold the members). */
static void forget(andon_worker_t *w)
{
	andon_timerset_t *t = &w->tset;

	for (size_t i = 0; i < t->nkeys; i++) {
		freeReplyObject(t->claimed[i]);
		t->claimed[i] = NULL;
	}
	t->ndone = 0;
}

/* Adds member of key (index k) to the ZREMs of what was fired. */
static void done_add(andon_worker_t *w, size_t k, const char *member, size_t len)
{
	andon_timerset_t *t = &w->tset;
	andon_call_t *c = t->ndone > 0 ? &t->done[t->ndone - 1] : NULL;

	if (c == NULL || c->argv[1] != t->keys[k] || c->argc - 2 >= ZREM_MAX) {
		if (t->ndone == t->done_cap)
			return; /* cannot happen (done_cap); the member fires again after its lease */
		c = &t->done[t->ndone++];
		andon_call_command(c, "ZREM");
		andon_call_arg(c, t->keys[k], strlen(t->keys[k]));
	}
	andon_call_arg(c, member, len);
}

/*
 * Removes from the timer shards what the last sweep fired, once all it produced is acknowledged; a member
 * that another worker claimed again meanwhile (our lease ran out) fires there once more and is answered
 * from the engine's stored answer. Returns 1 while the last sweep is still unacknowledged.
 */
int andon_timers_settle(andon_worker_t *w)
{
	andon_timerset_t *t = &w->tset;

	if (w->timer_pending > 0)
		return 1;
	if (t->ndone > 0) {
		if (andon_engine_exec(w->engine, t->done, t->ndone, t->done_replies, w->run,
				      andon_now_us() + (int64_t)w->cfg->shutdown_timeout_ms * 1000) != 0)
			andon_warn(
			    "removing fired timers: redis unavailable; they fire again after their lease");
		for (size_t i = 0; i < t->ndone; i++) {
			if (t->done_replies[i] != NULL && t->done_replies[i]->type == REDIS_REPLY_ERROR)
				andon_warn("removing fired timers: %s; they fire again after their lease",
					   t->done_replies[i]->str);
			freeReplyObject(t->done_replies[i]);
			t->done_replies[i] = NULL;
		}
	}
	forget(w);
	return 0;
}

/* What the sweep fired was aborted: the timers stay in their shards and fire again after their lease. */
static void abandon(andon_worker_t *w)
{
	andon_warn("timer sweep aborted; its timer(s) fire again after their lease");
	forget(w);
}

/*
 * Claims due members from keys [first, first + k) (mod nkeys), q from each, in one pipeline: the replies
 * land in tset.claimed. 0, or -1 when Redis stayed away.
 */
static int claim(andon_worker_t *w, size_t first, size_t k, size_t q)
{
	andon_timerset_t *t = &w->tset;
	char lease[16], max[16];
	int rc;

	snprintf(lease, sizeof(lease), "%d", w->cfg->timer_lease_ms);
	snprintf(max, sizeof(max), "%zu", q);
	for (size_t i = 0; i < k; i++) {
		andon_call_t *c = &t->calls[i];
		const char *key = t->keys[(first + i) % t->nkeys];

		andon_call_command(c, "FCALL");
		andon_call_arg(c, "andon_timers_claim", 18);
		andon_call_arg(c, "1", 1);
		andon_call_arg(c, key, strlen(key));
		andon_call_arg(c, lease, strlen(lease));
		andon_call_arg(c, max, strlen(max));
	}
	rc = andon_engine_exec(w->engine, t->calls, k, t->replies, w->run,
			       andon_now_us() + (int64_t)w->cfg->shutdown_timeout_ms * 1000);
	for (size_t i = 0; i < k; i++) {
		redisReply *r = t->replies[i];

		t->replies[i] = NULL;
		if (rc == 0 && r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
			t->claimed[(first + i) % t->nkeys] = r;
			continue;
		}
		if (r != NULL && r->type == REDIS_REPLY_ERROR)
			andon_warn("timer sweep: %s", r->str);
		freeReplyObject(r);
	}
	return rc;
}

/* Builds the call firing member m into c: 0, or -1 (malformed or too long: left in its shard). */
static int fire_call(andon_worker_t *w, andon_call_t *c, const redisReply *m)
{
	const char *fn_end, *tag_end;
	char fn[64], *id;
	const char *ret;
	size_t ret_len;
	int secs;

	if (m->type != REDIS_REPLY_STRING || (fn_end = memchr(m->str, '\n', m->len)) == NULL ||
	    (tag_end = memchr(fn_end + 1, '\n', m->len - (size_t)(fn_end + 1 - m->str))) == NULL ||
	    (size_t)(fn_end - m->str) >= sizeof(fn)) {
		andon_err("timer set holds a malformed member; leaving it");
		return -1;
	}
	snprintf(fn, sizeof(fn), "%.*s", (int)(fn_end - m->str), m->str);
	andon_call_begin(c, fn);
	c->argv[1] = andon_arena_strndup(&w->arena, fn, strlen(fn)); /* fn[] is gone after this turn */
	c->overflow |= c->argv[1] == NULL;
	for (const char *suffix = "x\0h\0r\0"; *suffix; suffix += 2)
		andon_call_key(c, &w->arena, fn_end + 1, (size_t)(tag_end - fn_end - 1), suffix);
	if ((id = andon_arena_alloc(&w->arena, 6 + m->len)) != NULL) {
		memcpy(id, "timer\n", 6);
		memcpy(id + 6, m->str, m->len);
	}
	andon_call_arg(c, id, 6 + m->len);
	andon_call_arg(c, "Andon.Timer", 11);
	/* A deadline may close its execution: the API's retention then applies (request.h). */
	if ((secs = andon_request_retention(w->cfg, fn, strlen(fn))) > 0) {
		ret = andon_arena_printf(&w->arena, &ret_len, "%d", secs);
		if (ret == NULL)
			c->overflow = 1;
		else
			andon_call_field(c, "@ret", ret, ret_len);
	}
	/* The member is the call's last argument: what is removed once it fired. */
	andon_call_field(c, "timer", m->str, m->len);
	if (c->overflow) {
		andon_err("timer member of %zu bytes does not fit a call; leaving it", m->len);
		return -1;
	}
	return 0;
}

/*
 * Fires the due deadlines, at most timer_batch per tick: claims them from the shards (00-core.lua,
 * timers_claim; k shards per tick, starting where the last tick stopped, an equal share each), calls each
 * one's engine function in one pipeline, applies and produces what they caused. A member is
 * "fn\ntag\nrest"; fn runs on the keys x, h, r of andon:{tag}, with request id "timer\n<member>".
 */
void andon_timers_sweep(andon_worker_t *w)
{
	andon_timerset_t *t = &w->tset;
	size_t batch =
	    (size_t)(w->cfg->timer_batch < w->cfg->batch_size ? w->cfg->timer_batch : w->cfg->batch_size);
	size_t k = t->nkeys < batch ? t->nkeys : batch, first = t->next, ncalls = 0;
	int stop = 0;

	if (andon_timers_settle(w))
		return;
	t->next = (t->next + k) % t->nkeys;
	if (claim(w, first, k, batch / k) != 0) {
		forget(w);
		return;
	}
	for (size_t s = 0; s < k; s++) {
		size_t key = (first + s) % t->nkeys;
		const redisReply *r = t->claimed[key];

		for (size_t i = 0; r != NULL && i < r->elements && ncalls < batch; i++) {
			w->timers_claimed++;
			if (fire_call(w, &w->calls[ncalls], r->element[i]) == 0)
				w->timer_key[ncalls++] = key;
		}
	}
	if (ncalls == 0) {
		forget(w);
		andon_arena_reset(&w->arena);
		return;
	}
	if (andon_engine_exec(w->engine, w->calls, ncalls, w->replies, w->run,
			      andon_now_us() + (int64_t)w->cfg->shutdown_timeout_ms * 1000) != 0 ||
	    andon_worker_post_write(w, w->replies, ncalls) != 0) {
		andon_warn("timer sweep: redis unavailable; the claimed timers fire again after their lease");
		for (size_t i = 0; i < ncalls; i++) {
			freeReplyObject(w->replies[i]);
			w->replies[i] = NULL;
		}
		forget(w);
		andon_arena_reset(&w->arena);
		return;
	}
	/* Exactly-once: what the sweep fires is one transaction, and fired timers are removed after its
	 * commit. */
	if (andon_out_begin(w, NULL, 0) != 0)
		stop = 1; /* the producer failed for good: the timers fire again after their lease */
	for (size_t i = 0; i < ncalls; i++) {
		redisReply *a = w->replies[i];
		const andon_call_t *c = &w->calls[i];

		if (stop) {
			/* nothing is produced */
		} else if (andon_out_answer_ok(a)) {
			andon_out_emit(w, a, TIMER_SEQ);
			/* The member points into its claim's reply, kept until settled. */
			done_add(w, w->timer_key[i], c->argv[c->argc - 1], c->argvlen[c->argc - 1]);
			w->timers++;
		} else {
			andon_err("timer %.*s failed: %s", (int)c->argvlen[c->argc - 1], c->argv[c->argc - 1],
				  a != NULL && a->type == REDIS_REPLY_ERROR ? a->str : "malformed reply");
		}
		freeReplyObject(a);
		w->replies[i] = NULL;
	}
	if (w->txn != NULL && !stop) {
		if (andon_out_commit(w, 1) == 0)
			andon_timers_settle(w);
		else
			abandon(w);
	}
	andon_arena_reset(&w->arena);
}

int andon_timers_count(andon_worker_t *w, long long *due, long long *scheduled)
{
	andon_timerset_t *t = &w->tset;
	char now[24];
	int rc;

	snprintf(now, sizeof(now), "%lld", (long long)andon_wall_ms());
	for (size_t i = 0; i < t->nkeys; i++) {
		andon_call_command(&t->calls[2 * i], "ZCOUNT");
		andon_call_arg(&t->calls[2 * i], t->keys[i], strlen(t->keys[i]));
		andon_call_arg(&t->calls[2 * i], "-inf", 4);
		andon_call_arg(&t->calls[2 * i], now, strlen(now));
		andon_call_command(&t->calls[2 * i + 1], "ZCARD");
		andon_call_arg(&t->calls[2 * i + 1], t->keys[i], strlen(t->keys[i]));
	}
	rc = andon_engine_exec(w->engine, t->calls, 2 * t->nkeys, t->replies, w->run,
			       andon_now_us() + (int64_t)w->cfg->shutdown_timeout_ms * 1000);
	*due = *scheduled = 0;
	for (size_t i = 0; i < 2 * t->nkeys; i++) {
		redisReply *r = t->replies[i];

		if (rc == 0 && r != NULL && r->type == REDIS_REPLY_INTEGER)
			*(i % 2 == 0 ? due : scheduled) += r->integer;
		freeReplyObject(r);
		t->replies[i] = NULL;
	}
	return rc;
}
