/* engine: the worker's Redis connection; loads the function library and runs pipelined batches of calls. */
#include "engine.h"

#include "log.h"
#include "metrics.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

extern const char andon_lua_bundle[]; /* generated from worker/lua/ by scripts/embed.sh */

struct andon_engine {
	const andon_config_t *cfg;
	redisContext *c;
	int backoff_ms;
	unsigned long reconnects;
	andon_engine_watch_fn *watch;
	void *watch_opaque;
	int down;		  /* the last attempt failed: the next success is news */
	struct andon_series *rtt; /* histogram of round trips, or NULL */
};

andon_engine_t *andon_engine_new(const andon_config_t *cfg)
{
	andon_engine_t *e = calloc(1, sizeof(*e));

	if (e != NULL)
		e->cfg = cfg;
	return e;
}

static void drop(andon_engine_t *e)
{
	if (e->c != NULL)
		redisFree(e->c);
	e->c = NULL;
}

void andon_engine_destroy(andon_engine_t *e)
{
	if (e == NULL)
		return;
	drop(e);
	free(e);
}

unsigned long andon_engine_reconnects(const andon_engine_t *e)
{
	return e->reconnects;
}

/* Runs a setup command on a fresh connection; any failure fails the connect. */
static int setup(redisContext *c, const char *what, redisReply *r, char *errstr, size_t errstr_size)
{
	int rc = 0;

	if (r == NULL)
		rc = andon_fail(errstr, errstr_size, "%s: %s", what, c->errstr);
	else if (r->type == REDIS_REPLY_ERROR)
		rc = andon_fail(errstr, errstr_size, "%s: %s", what, r->str);
	freeReplyObject(r);
	return rc;
}

int andon_engine_connect(andon_engine_t *e, char *errstr, size_t errstr_size)
{
	const andon_config_t *cfg = e->cfg;
	struct timeval tv = {cfg->redis_timeout_ms / 1000, (cfg->redis_timeout_ms % 1000) * 1000};
	redisContext *c;

	drop(e);
	if (cfg->redis_unix[0] != '\0')
		c = redisConnectUnixWithTimeout(cfg->redis_unix, tv);
	else
		c = redisConnectWithTimeout(cfg->redis_host, cfg->redis_port, tv);
	if (c == NULL)
		return andon_fail(errstr, errstr_size, "redis: out of memory");
	if (c->err) {
		andon_fail(errstr, errstr_size, "redis connect: %s", c->errstr);
		redisFree(c);
		return -1;
	}
	redisSetTimeout(c, tv);
	if ((cfg->redis_password[0] != '\0' &&
	     setup(c, "AUTH",
		   cfg->redis_username[0] != '\0'
		       ? redisCommand(c, "AUTH %s %s", cfg->redis_username, cfg->redis_password)
		       : redisCommand(c, "AUTH %s", cfg->redis_password),
		   errstr, errstr_size) != 0) ||
	    (cfg->redis_db != 0 &&
	     setup(c, "SELECT", redisCommand(c, "SELECT %d", cfg->redis_db), errstr, errstr_size) != 0) ||
	    setup(c, "FUNCTION LOAD", redisCommand(c, "FUNCTION LOAD REPLACE %s", andon_lua_bundle), errstr,
		  errstr_size) != 0) {
		redisFree(c);
		return -1;
	}
	e->c = c;
	return 0;
}

/* Errors worth waiting out: the same call will succeed once Redis is back to normal. */
static int transient(const redisReply *r)
{
	static const char *const prefixes[] = {"LOADING",     "BUSY",	    "OOM",
					       "TRYAGAIN",    "MASTERDOWN", "READONLY",
					       "CLUSTERDOWN", "NOREPLICAS", NULL};

	for (const char *const *p = prefixes; *p != NULL; p++)
		if (strncmp(r->str, *p, strlen(*p)) == 0)
			return 1;
	return 0;
}

static int missing_library(const redisReply *r)
{
	return strstr(r->str, "Function not found") != NULL;
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
	char err[256];
	size_t left = 0;

	for (size_t i = 0; i < n; i++) {
		replies[i] = NULL;
		left += !calls[i].overflow && !calls[i].skip;
	}
	while (left > 0) {
		int broken = 0, reload = 0, wait = 0;
		int64_t t0;

		if (e->c == NULL) {
			if (andon_engine_connect(e, err, sizeof(err)) != 0) {
				andon_warn("redis unavailable (%s); retrying", err);
				tell(e, err);
				if (give_up(run, deadline_us))
					return -1;
				backoff(e);
				continue;
			}
			e->reconnects++;
		}
		/* Send every unanswered call in order, then read their replies in the same order. */
		t0 = e->rtt != NULL ? andon_now_us() : 0;
		for (size_t i = 0; i < n; i++)
			if (replies[i] == NULL && !calls[i].overflow && !calls[i].skip)
				redisAppendCommandArgv(e->c, calls[i].argc, (const char **)calls[i].argv,
						       calls[i].argvlen);
		for (size_t i = 0; i < n && !broken; i++) {
			redisReply *r;

			if (replies[i] != NULL || calls[i].overflow || calls[i].skip)
				continue;
			if (redisGetReply(e->c, (void **)&r) != REDIS_OK) {
				andon_warn("redis connection lost: %s", e->c->errstr);
				snprintf(err, sizeof(err), "connection lost: %s", e->c->errstr);
				broken = 1;
				break;
			}
			if (r->type == REDIS_REPLY_ERROR && (transient(r) || missing_library(r))) {
				reload |= missing_library(r);
				wait |= transient(r);
				if (transient(r))
					snprintf(err, sizeof(err), "%s", r->str);
				andon_debug("redis: %s; will retry", r->str);
				freeReplyObject(r);
				continue;
			}
			replies[i] = r;
			left--;
		}
		if (broken || reload)
			drop(e); /* reconnecting reloads the library */
		if (left > 0 && (broken || wait)) {
			tell(e, err);
			if (give_up(run, deadline_us))
				return -1;
			backoff(e);
		} else {
			if (!broken && !wait && e->rtt != NULL)
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
