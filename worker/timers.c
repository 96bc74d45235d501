/* timers: the durable-deadline sweep: claims due deadlines with a lease, fires them as engine calls and
 * removes them once what they caused is acknowledged, or with exactly-once committed (docs/REDIS.md,
 * durable timers). */
#include "worker_int.h"

#include "log.h"
#include "request.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

/*
 * Removes from the timer set what the last sweep fired, once all it produced is acknowledged; a member
 * that another worker claimed again meanwhile (our lease ran out) fires there once more and is answered
 * from the engine's stored answer. Returns 1 while the last sweep is still unacknowledged.
 */
int andon_timers_settle(andon_worker_t *w)
{
	redisReply *r;

	if (w->timer_pending > 0)
		return 1;
	if (w->done_argc > 2) {
		r = andon_engine_command(w->engine, (int)w->done_argc, w->done_argv, w->done_len);
		if (r == NULL || r->type == REDIS_REPLY_ERROR)
			andon_warn("removing fired timers: %s; they fire again after their lease",
				   r != NULL ? r->str : "redis unavailable");
		freeReplyObject(r);
	}
	w->done_argc = 2;
	freeReplyObject(w->fired);
	w->fired = NULL;
	return 0;
}

/* What the sweep fired was aborted: the timers stay in the set and fire again after their lease. */
static void abandon(andon_worker_t *w)
{
	andon_warn("timer sweep aborted; %zu timer(s) fire again after their lease", w->done_argc - 2);
	w->done_argc = 2;
	freeReplyObject(w->fired);
	w->fired = NULL;
}

/*
 * Fires the due deadlines, at most timer_batch per tick: claims them (00-core.lua, timers_claim), calls
 * each one's engine function in one pipeline, applies and produces what they caused. A member is
 * "fn\ntag\nrest"; fn runs on the keys x, h, r of andon:{tag}, with request id "timer\n<member>".
 */
void andon_timers_sweep(andon_worker_t *w)
{
	char lease[16], max[16];
	const char *argv[] = {"FCALL", "andon_timers_claim", "1", TIMERS_KEY, lease, max};
	size_t argvlen[6], n, ncalls = 0;
	size_t batch =
	    (size_t)(w->cfg->timer_batch < w->cfg->batch_size ? w->cfg->timer_batch : w->cfg->batch_size);
	redisReply *r;
	int stop = 0;

	if (andon_timers_settle(w))
		return;
	snprintf(lease, sizeof(lease), "%d", w->cfg->timer_lease_ms);
	snprintf(max, sizeof(max), "%zu", batch);
	for (int i = 0; i < 6; i++)
		argvlen[i] = strlen(argv[i]);
	r = andon_engine_command(w->engine, 6, argv, argvlen);
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
		if (r != NULL && r->type == REDIS_REPLY_ERROR)
			andon_warn("timer sweep: %s", r->str);
		freeReplyObject(r);
		return;
	}
	w->fired = r;
	n = r->elements;
	w->timers_claimed += n;
	for (size_t i = 0; i < n; i++) {
		const redisReply *m = r->element[i];
		const char *fn_end, *tag_end;
		char *id;
		andon_call_t *c = &w->calls[ncalls];
		char fn[64], ret[16];
		int secs;

		if (m->type != REDIS_REPLY_STRING || (fn_end = memchr(m->str, '\n', m->len)) == NULL ||
		    (tag_end = memchr(fn_end + 1, '\n', m->len - (size_t)(fn_end + 1 - m->str))) == NULL ||
		    (size_t)(fn_end - m->str) >= sizeof(fn)) {
			andon_err("timer set holds a malformed member; leaving it");
			continue;
		}
		snprintf(fn, sizeof(fn), "%.*s", (int)(fn_end - m->str), m->str);
		andon_call_begin(c, fn);
		c->argv[1] =
		    andon_arena_strndup(&w->arena, fn, strlen(fn)); /* fn[] is gone after this turn */
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
		if ((secs = andon_request_retention(w->cfg, fn, strlen(fn))) > 0)
			andon_call_field(c, "@ret", ret, (size_t)snprintf(ret, sizeof(ret), "%d", secs));
		andon_call_field(c, "timer", m->str, m->len);
		if (c->overflow) {
			andon_err("timer member of %zu bytes does not fit a call; leaving it", m->len);
			continue;
		}
		ncalls++;
	}
	if (ncalls > 0 &&
	    (andon_engine_exec(w->engine, w->calls, ncalls, w->replies, w->run,
			       andon_now_us() + (int64_t)w->cfg->shutdown_timeout_ms * 1000) != 0 ||
	     andon_worker_post_write(w, w->replies, ncalls) != 0)) {
		andon_warn("timer sweep: redis unavailable; the claimed timers fire again after their lease");
		for (size_t i = 0; i < ncalls; i++) {
			freeReplyObject(w->replies[i]);
			w->replies[i] = NULL;
		}
		ncalls = 0;
	}
	/* Exactly-once: what the sweep fires is one transaction, and fired timers are removed after its
	 * commit. */
	if (ncalls > 0 && andon_out_begin(w, NULL, 0) != 0)
		stop = 1; /* the producer failed for good: the timers fire again after their lease */
	for (size_t i = 0; i < ncalls; i++) {
		redisReply *a = w->replies[i];

		if (stop) {
			/* nothing is produced */
		} else if (andon_out_answer_ok(a)) {
			andon_out_emit(w, a, TIMER_SEQ);
			/* The member is the call's "timer" field, the last argument. */
			w->done_argv[w->done_argc] = w->calls[i].argv[w->calls[i].argc - 1];
			w->done_len[w->done_argc++] = w->calls[i].argvlen[w->calls[i].argc - 1];
			w->timers++;
		} else {
			andon_err("timer %.*s failed: %s", (int)w->calls[i].argvlen[w->calls[i].argc - 1],
				  w->calls[i].argv[w->calls[i].argc - 1],
				  a != NULL && a->type == REDIS_REPLY_ERROR ? a->str : "malformed reply");
		}
		freeReplyObject(a);
		w->replies[i] = NULL;
	}
	if (w->txn != NULL && ncalls > 0 && !stop) {
		if (andon_out_commit(w, 1) == 0)
			andon_timers_settle(w);
		else
			abandon(w);
	}
	andon_arena_reset(&w->arena);
}
