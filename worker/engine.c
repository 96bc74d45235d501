/* engine: the worker's Redis calls: runs pipelined batches through the router, retrying with backoff. */
#include "engine.h"

#include "log.h"
#include "metrics.h"
#include "redis_route.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

extern const char andon_lua_bundle[]; /* generated from worker/lua/ by scripts/embed.sh */

struct andon_engine {
	const andon_config_t *cfg;
	andon_route_t *route; /* where each call goes: one Redis, Sentinel's primary, a cluster */
	int backoff_ms;
	andon_engine_watch_fn *watch;
	void *watch_opaque;
	int down;		  /* the last attempt failed: the next success is news */
	struct andon_series *rtt; /* histogram of round trips, or NULL */
};

andon_engine_t *andon_engine_new(const andon_config_t *cfg)
{
	andon_engine_t *e = calloc(1, sizeof(*e));
	char err[256];

	if (e == NULL)
		return NULL;
	e->cfg = cfg;
	if ((e->route = andon_route_new(cfg, andon_lua_bundle, err, sizeof(err))) == NULL) {
		andon_err("redis: %s", err);
		free(e);
		return NULL;
	}
	return e;
}

void andon_engine_destroy(andon_engine_t *e)
{
	if (e == NULL)
		return;
	andon_route_destroy(e->route);
	free(e);
}

unsigned long andon_engine_reconnects(const andon_engine_t *e)
{
	andon_route_stats_t st;

	andon_route_stats(e->route, &st);
	return (unsigned long)st.reconnects;
}

const struct andon_route *andon_engine_route(const andon_engine_t *e)
{
	return e->route;
}

int andon_engine_connect(andon_engine_t *e, char *errstr, size_t errstr_size)
{
	return andon_route_connect(e->route, errstr, errstr_size);
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Doubles the wait up to 2 s; a success resets it. */
static void backoff(andon_engine_t *e)
{
	e->backoff_ms = e->backoff_ms == 0 ? 50 : (e->backoff_ms * 2 > 2000 ? 2000 : e->backoff_ms * 2);
	sleep_ms(e->backoff_ms);
}

void andon_engine_watch(andon_engine_t *e, andon_engine_watch_fn *fn, void *opaque)
{
	e->watch = fn;
	e->watch_opaque = opaque;
}

void andon_engine_timing(andon_engine_t *e, struct andon_series *rtt)
{
	e->rtt = rtt;
}

/* Tells the watcher, if any, that Redis failed (why) or answered again (why NULL, only after a failure). */
static void tell(andon_engine_t *e, const char *why)
{
	if (why == NULL && !e->down)
		return;
	e->down = why != NULL;
	if (e->watch != NULL)
		e->watch(e->watch_opaque, why == NULL, why);
}

static int give_up(const volatile sig_atomic_t *run, int64_t deadline_us)
{
	return run != NULL && !*run && andon_now_us() >= deadline_us;
}

int andon_engine_exec(andon_engine_t *e, const andon_call_t *calls, size_t n, redisReply **replies,
		      const volatile sig_atomic_t *run, int64_t deadline_us)
{
	size_t left = 0;
	int idle = 0; /* rounds in a row that were only redirected */

	for (size_t i = 0; i < n; i++) {
		replies[i] = NULL;
		left += !calls[i].overflow && !calls[i].skip;
	}
	while (left > 0) {
		andon_route_round_t o;
		int64_t t0 = e->rtt != NULL ? andon_now_us() : 0;
		size_t got = andon_route_round(e->route, calls, n, replies, &o);

		left -= got;
		/* MOVED and ASK are resent at once, but a map that keeps moving is waited out too. */
		idle = got == 0 && o.redirected ? idle + 1 : 0;
		if (left > 0 && (o.broken || o.wait || idle >= 3)) {
			tell(e, o.err[0] != '\0' ? o.err : "redirected again and again");
			if (give_up(run, deadline_us))
				return -1;
			backoff(e);
		} else if (!o.broken && !o.wait) {
			if (left == 0 && !o.redirected && e->rtt != NULL)
				andon_metrics_observe(e->rtt, (double)(andon_now_us() - t0) / 1e6);
			tell(e, NULL);
			e->backoff_ms = 0;
		}
	}
	return 0;
}

redisReply *andon_engine_command(andon_engine_t *e, int argc, const char **argv, const size_t *argvlen)
{
	andon_call_t call = {.argc = argc};
	redisReply *r = NULL;

	if (argc > ANDON_CALL_MAX_ARGS)
		return NULL;
	memcpy(call.argv, argv, sizeof(*argv) * (size_t)argc);
	memcpy(call.argvlen, argvlen, sizeof(*argvlen) * (size_t)argc);
	if (andon_engine_exec(e, &call, 1, &r, NULL, 0) != 0)
		return NULL;
	return r;
}
