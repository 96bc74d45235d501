/* stats: the worker's metric families (docs/OPERATIONS.md): the hot path's counters, librdkafka's statistics
 * (consumer lag), and what the tick reads and publishes, Redis gauges included. */
#include "worker_int.h"

#include "codec.h"
#include "log.h"
#include "ops.h"
#include "redis_route.h"
#include "txn.h"
#include "util.h"
#include "version.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OP_MAX	   128	/* ops with counters of their own; the op table has fewer */
#define OP_SLOTS   256	/* open-addressing table of them, by name */
#define OWED_SCAN  1000 /* members of the owed set read per scan (the oldest) */
#define OWED_CHECK 60	/* of which the oldest are checked, and removed when their stop is over */

struct andon_stats_op {
	const char *name; /* label value: the op table's own string, or "unknown" */
	size_t len;
	uint64_t hash;
	andon_series_t *consumed, *ok;
};

struct andon_stats {
	andon_metrics_t *m;
	andon_metric_t *answered, *dlq, *lag, *refused;
	andon_series_t *batch, *rtt, *age, *inflight, *events, *redelivered, *lost, *reconnects, *redis_up,
	    *kafka_up, *ready, *timers_due, *timers_pending, *timers_claimed, *timers_fired, *stop_execs,
	    *stop_steps, *stop_oldest, *txn_committed, *txn_aborted, *rss, *uptime;
	andon_metric_t *consumed;
	/* The router's (redis_route.h): redirects followed, slot map reads, WAIT shortfalls, calls per node.
	 */
	andon_series_t *moved, *ask, *map_reads, *wait_short;
	andon_metric_t *node_calls;
	andon_stats_op_t ops[OP_MAX], unknown, *last;
	size_t nops;
	andon_stats_op_t *table[OP_SLOTS];
	int64_t start_us, next_proc_us, next_scan_us;
	andon_call_t calls[4];
	redisReply *replies[4];
	andon_call_t check[OWED_CHECK + 1];
	redisReply *check_replies[OWED_CHECK + 1];
};

/* Buckets: batch sizes in messages, Redis round trips and request ages in seconds. */
static const double batch_bounds[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000};
static const double rtt_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
				    0.025,  0.05,    0.1,    0.25,  0.5,    1,	   2.5};
static const double age_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
				    0.5,   1,	   2.5,	  5,	10,    30,   60,  300};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static andon_series_t *single(andon_metrics_t *m, andon_metric_type_t type, const char *name,
			      const char *help)
{
	return andon_metrics_single(andon_metrics_add(m, type, name, help, NULL, NULL, 0));
}

static andon_series_t *histogram(andon_metrics_t *m, const char *name, const char *help, const double *bounds,
				 size_t n)
{
	return andon_metrics_single(
	    andon_metrics_add(m, ANDON_METRIC_HISTOGRAM, name, help, NULL, bounds, n));
}

static uint64_t op_hash(const char *s, size_t len)
{
	return andon_hash64(ANDON_HASH64_INIT, s, len);
}

andon_stats_t *andon_stats_new(void)
{
	static const char *const op[] = {"op", NULL}, *const op_code[] = {"op", "code", NULL},
				 *const reason[] = {"reason", NULL},
				 *const partition[] = {"topic", "partition", NULL},
				 *const version[] = {"version", NULL}, *const node[] = {"node", NULL};
	andon_stats_t *s = calloc(1, sizeof(*s));
	andon_metrics_t *m;
	andon_metric_t *info;

	if (s == NULL || (s->m = m = andon_metrics_new()) == NULL)
		goto err;
	s->start_us = andon_now_us();
	/* Registration order is the order of the exposition; docs/OPERATIONS.md lists them the same way. */
	info = andon_metrics_add(m, ANDON_METRIC_GAUGE, "andon_build_info",
				 "The version of the worker (value 1).", version, NULL, 0);
	andon_metrics_set(andon_metrics_series(info, (const char *const[]){ANDON_VERSION}, NULL, 1), 1);
	s->consumed =
	    andon_metrics_add(m, ANDON_METRIC_COUNTER, "andon_requests_consumed_total",
			      "Messages consumed from the requests topic, by op (\"unknown\": an op that "
			      "is not in the op table, or a message that could not be read).",
			      op, NULL, 0);
	s->answered = andon_metrics_add(m, ANDON_METRIC_COUNTER, "andon_requests_answered_total",
					"Replies produced, by op and result code (\"ok\" or the error code).",
					op_code, NULL, 0);
	s->dlq = andon_metrics_add(m, ANDON_METRIC_COUNTER, "andon_dead_letters_total",
				   "Dead-letter records produced, by reason (the record's code).", reason,
				   NULL, 0);
	s->refused = andon_metrics_add(m, ANDON_METRIC_COUNTER, "andon_auth_refusals_total",
				       "Requests refused by the signature or policy check (security.auth = "
				       "required), by reason.",
				       reason, NULL, 0);
	s->events = single(m, ANDON_METRIC_COUNTER, "andon_events_total", "Events produced.");
	s->redelivered = single(m, ANDON_METRIC_COUNTER, "andon_produce_retries_total",
				"Messages produced again after a failed delivery.");
	s->lost = single(m, ANDON_METRIC_COUNTER, "andon_dead_letters_lost_total",
			 "Dead-letter records that could not be delivered and were given up.");
	s->batch = histogram(m, "andon_batch_messages", "Messages per batch (one Redis pipeline round each).",
			     batch_bounds, N(batch_bounds));
	s->rtt = histogram(m, "andon_redis_roundtrip_seconds",
			   "Time of one Redis pipeline round trip (send every call, read every reply).",
			   rtt_bounds, N(rtt_bounds));
	s->reconnects = single(m, ANDON_METRIC_COUNTER, "andon_redis_reconnects_total",
			       "Connections to Redis made again after one was lost.");
	s->redis_up = single(m, ANDON_METRIC_GAUGE, "andon_redis_up",
			     "1 when the last Redis call was answered, else 0.");
	s->moved = single(m, ANDON_METRIC_COUNTER, "andon_redis_moved_total",
			  "MOVED replies followed (Redis Cluster: a slot has a new owner).");
	s->ask = single(m, ANDON_METRIC_COUNTER, "andon_redis_ask_total",
			"ASK replies followed (Redis Cluster: a slot being migrated).");
	s->map_reads = single(m, ANDON_METRIC_COUNTER, "andon_redis_slot_map_reads_total",
			      "Reads of the cluster's slot map (CLUSTER SLOTS), the first one included.");
	s->wait_short = single(m, ANDON_METRIC_COUNTER, "andon_redis_wait_shortfalls_total",
			       "WAITs that fewer replicas than redis.wait_replicas acknowledged in time.");
	s->node_calls =
	    andon_metrics_add(m, ANDON_METRIC_COUNTER, "andon_redis_node_calls_total",
			      "Calls sent to each Redis node (host:port; a primary of the cluster, "
			      "or the one Redis).",
			      node, NULL, 0);
	s->age = histogram(m, "andon_request_age_seconds",
			   "Age of a request when everything it caused was acknowledged: from its Kafka "
			   "timestamp to the broker's acknowledgement of its reply (and events, DLQ record).",
			   age_bounds, N(age_bounds));
	s->lag = andon_metrics_add(
	    m, ANDON_METRIC_GAUGE, "andon_kafka_consumer_lag_messages",
	    "Messages of an assigned partition the worker has not taken yet (librdkafka's statistics: "
	    "last stable offset minus the worker's position).",
	    partition, NULL, 0);
	s->kafka_up = single(m, ANDON_METRIC_GAUGE, "andon_kafka_brokers_up",
			     "Brokers the consumer is connected to (librdkafka's statistics).");
	s->inflight = single(m, ANDON_METRIC_GAUGE, "andon_inflight_messages",
			     "Consumed messages (and timer firings) whose outputs await the broker's "
			     "acknowledgement.");
	s->ready = single(m, ANDON_METRIC_GAUGE, "andon_ready", "1 when /readyz answers 200, else 0.");
	s->timers_pending = single(m, ANDON_METRIC_GAUGE, "andon_timers_scheduled",
				   "Durable deadlines in the timer shards (andon:{timers:N}), due or not.");
	s->timers_due = single(m, ANDON_METRIC_GAUGE, "andon_timers_due",
			       "Durable deadlines that are due and not claimed by any worker.");
	s->timers_claimed = single(m, ANDON_METRIC_COUNTER, "andon_timers_claimed_total",
				   "Due deadlines this worker claimed (with a lease) to fire them.");
	s->timers_fired =
	    single(m, ANDON_METRIC_COUNTER, "andon_timers_fired_total", "Deadlines this worker fired.");
	s->stop_execs =
	    single(m, ANDON_METRIC_GAUGE, "andon_sagemaker_stopping_executions",
		   "SageMaker executions in Stopping with callback steps that were sent a Stopping "
		   "message and have not answered (among the 1000 oldest such steps).");
	s->stop_steps = single(m, ANDON_METRIC_GAUGE, "andon_sagemaker_stopping_steps",
			       "Callback steps that were sent a Stopping message and have not answered.");
	s->stop_oldest =
	    single(m, ANDON_METRIC_GAUGE, "andon_sagemaker_stopping_oldest_seconds",
		   "How long the oldest unanswered Stopping message has waited; 0 when none waits.");
	s->txn_committed = single(m, ANDON_METRIC_COUNTER, "andon_transactions_committed_total",
				  "Kafka transactions committed (exactly-once mode; 0 without it).");
	s->txn_aborted = single(m, ANDON_METRIC_COUNTER, "andon_transactions_aborted_total",
				"Kafka transactions aborted (exactly-once mode; 0 without it).");
	s->rss = single(m, ANDON_METRIC_GAUGE, "andon_process_resident_memory_bytes",
			"Resident memory of the worker process.");
	s->uptime = single(m, ANDON_METRIC_GAUGE, "andon_uptime_seconds", "Time since the worker started.");
	if (s->consumed == NULL || s->answered == NULL || s->dlq == NULL || s->lag == NULL ||
	    s->refused == NULL || s->batch == NULL || s->rtt == NULL || s->age == NULL || s->uptime == NULL)
		goto err;
	s->unknown.name = "unknown";
	s->unknown.len = 7;
	/* Its ok series stays NULL: a message of no known op is never answered with success. */
	if ((s->unknown.consumed =
		 andon_metrics_series(s->consumed, (const char *const[]){"unknown"}, NULL, 1)) == NULL)
		goto err;
	return s;
err:
	andon_stats_destroy(s);
	return NULL;
}

void andon_stats_destroy(andon_stats_t *s)
{
	if (s == NULL)
		return;
	andon_metrics_destroy(s->m);
	free(s);
}

andon_metrics_t *andon_stats_registry(andon_stats_t *s)
{
	return s->m;
}

andon_series_t *andon_stats_redis_rtt(andon_stats_t *s)
{
	return s->rtt;
}

andon_series_t *andon_stats_request_age(andon_stats_t *s)
{
	return s->age;
}

/* The counters of a known op, created on its first message; NULL for a name the op table does not have. */
static andon_stats_op_t *op_find(andon_stats_t *s, const char *name, size_t len)
{
	uint64_t h = op_hash(name, len);
	size_t k = h & (OP_SLOTS - 1);
	const andon_op_t *known;
	andon_stats_op_t *o;

	for (; s->table[k] != NULL; k = (k + 1) & (OP_SLOTS - 1))
		if (s->table[k]->hash == h && s->table[k]->len == len &&
		    memcmp(s->table[k]->name, name, len) == 0)
			return s->table[k];
	if (s->nops == OP_MAX || (known = andon_ops_find(name, len)) == NULL)
		return NULL;
	o = &s->ops[s->nops];
	o->name = known->name;
	o->len = len;
	o->hash = h;
	o->consumed = andon_metrics_series(s->consumed, &o->name, NULL, 1);
	o->ok = andon_metrics_series(s->answered, (const char *const[]){o->name, "ok"}, NULL, 2);
	if (o->consumed == NULL || o->ok == NULL)
		return NULL; /* out of memory: counted as unknown */
	s->nops++;
	s->table[k] = o;
	return o;
}

andon_stats_op_t *andon_stats_consumed(andon_stats_t *s, const char *op, size_t len)
{
	andon_stats_op_t *o = s->last;

	/* Messages of a batch often share their op: one compare, no hash. */
	if (op == NULL)
		o = &s->unknown;
	else if (o == NULL || o->len != len || memcmp(o->name, op, len) != 0)
		if ((o = op_find(s, op, len)) == NULL)
			o = &s->unknown;
	if (o != &s->unknown)
		s->last = o;
	andon_metrics_inc(o->consumed, 1);
	return o;
}

void andon_stats_answered(andon_stats_t *s, andon_stats_op_t *op, const char *code, size_t len)
{
	const char *values[2];
	size_t lens[2];

	if (op == NULL)
		op = &s->unknown;
	if (code == NULL && op->ok != NULL) {
		andon_metrics_inc(op->ok, 1);
		return;
	}
	values[0] = op->name;
	lens[0] = op->len;
	values[1] = code != NULL ? code : "ok";
	lens[1] = code != NULL ? len : 2;
	andon_metrics_inc(andon_metrics_series(s->answered, values, lens, 2), 1);
}

void andon_stats_answered_raw(andon_stats_t *s, andon_stats_op_t *op, int ok, const char *answer, size_t len,
			      msgpack_zone *zone)
{
	msgpack_object o;
	const char *code;
	size_t code_len;
	char err[64];

	if (ok) {
		andon_stats_answered(s, op, NULL, 0);
		return;
	}
	/* Errors only: the engine's error map {code, status, message} (00-core.lua, fail()). */
	if (andon_codec_unpack(answer, len, 4, zone, &o, err, sizeof(err)) != 0 ||
	    andon_codec_get_str(&o, "code", &code, &code_len) != 1 || code_len == 0 || code_len > 64) {
		code = "unknown";
		code_len = 7;
	}
	andon_stats_answered(s, op, code, code_len);
}

void andon_stats_dead_letter(andon_stats_t *s, const char *reason)
{
	andon_metrics_inc(andon_metrics_series(s->dlq, &reason, NULL, 1), 1);
}

void andon_stats_auth_refused(andon_stats_t *s, const char *reason)
{
	andon_metrics_inc(andon_metrics_series(s->refused, &reason, NULL, 1), 1);
}

void andon_stats_batch(andon_stats_t *s, size_t n)
{
	andon_metrics_observe(s->batch, (double)n);
}

int andon_stats_kafka(andon_stats_t *s, const char *json, size_t len)
{
	json_error_t e;
	json_t *root = json_loadb(json, len, 0, &e), *topic, *part, *broker;
	const char *tname, *pkey, *bname;
	int up = 0;

	if (root == NULL)
		return -1;
	/* {"topics": {"<topic>": {"partitions": {"<id>": {"partition": id, "ls_offset": n, "app_offset": n,
	 * ...}}}}}; app_offset is -1001 until the worker took a message of the partition, and partition -1
	 * is librdkafka's internal "unassigned" one. */
	json_object_foreach(json_object_get(root, "topics"), tname, topic)
	{
		json_object_foreach(json_object_get(topic, "partitions"), pkey, part)
		{
			/* The worker reads read_committed: its end is the last stable offset. Its position is
			 * what it took (app_offset): with exactly-once the group's offsets are committed by
			 * the transactional producer, which the consumer's committed_offset never sees. */
			json_int_t ls = json_integer_value(json_object_get(part, "ls_offset")),
				   hi = json_integer_value(json_object_get(part, "hi_offset")),
				   pos = json_integer_value(json_object_get(part, "app_offset")),
				   end = ls >= 0 ? ls : hi;

			if (json_integer_value(json_object_get(part, "partition")) < 0 || end < 0 || pos < 0)
				continue;
			andon_metrics_set(
			    andon_metrics_series(s->lag, (const char *const[]){tname, pkey}, NULL, 2),
			    (double)(end > pos ? end - pos : 0));
		}
	}
	andon_metrics_prune(s->lag);
	/* {"brokers": {"<name>": {"source": "learned"|"configured"|"logical"|"internal", "state": "UP"...}}}
	 */
	json_object_foreach(json_object_get(root, "brokers"), bname, broker)
	{
		const char *src = json_string_value(json_object_get(broker, "source"));
		const char *state = json_string_value(json_object_get(broker, "state"));

		if (src != NULL && state != NULL && strcmp(state, "UP") == 0 &&
		    (strcmp(src, "learned") == 0 || strcmp(src, "configured") == 0))
			up++;
	}
	andon_metrics_set(s->kafka_up, up);
	json_decref(root);
	return up;
}

/* Resident memory from /proc/self/statm (pages), or -1. */
static double rss_bytes(void)
{
	unsigned long long size, resident;
	FILE *fp = fopen("/proc/self/statm", "r");
	int n;

	if (fp == NULL)
		return -1;
	n = fscanf(fp, "%llu %llu", &size, &resident);
	fclose(fp);
	return n == 2 ? (double)resident * (double)sysconf(_SC_PAGESIZE) : -1;
}

static long long reply_int(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
}

/* Orders owed members ("<arn>\n<step>") by their execution. */
static int by_execution(const void *a, const void *b)
{
	const redisReply *x = *(redisReply *const *)a, *y = *(redisReply *const *)b;
	const char *xe = memchr(x->str, '\n', x->len), *ye = memchr(y->str, '\n', y->len);
	size_t xl = xe != NULL ? (size_t)(xe - x->str) : x->len,
	       yl = ye != NULL ? (size_t)(ye - y->str) : y->len;
	int c = memcmp(x->str, y->str, xl < yl ? xl : yl);

	return c != 0 ? c : (xl > yl) - (xl < yl);
}

static size_t exec_len(const redisReply *m)
{
	const char *nl = memchr(m->str, '\n', m->len);

	return nl != NULL ? (size_t)(nl - m->str) : m->len;
}

/*
 * The oldest owed members are checked against their execution: a member whose execution is not Stopping any
 * more (a replayed stop wrote it again after its stop ended: docs/REDIS.md, section 9) is removed. Marks
 * the stale ones in stale[0..n). Returns how many were removed.
 */
static size_t owed_check(andon_worker_t *w, redisReply **members, size_t n, int *stale)
{
	andon_stats_t *s = w->stats;
	size_t nc = 0, removed = 0;
	andon_call_t *zrem = &s->check[OWED_CHECK];
	int64_t deadline = andon_now_us() + (int64_t)w->cfg->shutdown_timeout_ms * 1000;

	if (n > OWED_CHECK)
		n = OWED_CHECK;
	for (size_t i = 0; i < n; i++) {
		size_t len;
		const char *key = andon_arena_printf(&w->arena, &len, "andon:{%.*s}:x",
						     (int)exec_len(members[i]), members[i]->str);
		andon_call_t *c = &s->check[nc++];

		/* The same key as andon_call_key() builds for the execution's hash. */
		andon_call_command(c, "HGET");
		andon_call_arg(c, key, len);
		andon_call_arg(c, "st", 2);
	}
	if (nc == 0 || andon_engine_exec(w->engine, s->check, nc, s->check_replies, w->run, deadline) != 0) {
		andon_arena_reset(&w->arena);
		return 0;
	}
	andon_call_command(zrem, "ZREM");
	andon_call_arg(zrem, OWED_KEY, strlen(OWED_KEY));
	for (size_t i = 0; i < nc; i++) {
		redisReply *r = s->check_replies[i];

		/* Only a definite answer counts: an error leaves the member for the next scan. */
		if (r != NULL && (r->type == REDIS_REPLY_NIL ||
				  (r->type == REDIS_REPLY_STRING && strcmp(r->str, "STOPPING") != 0))) {
			stale[i] = 1;
			andon_call_arg(zrem, members[i]->str, members[i]->len);
			removed++;
		}
		freeReplyObject(r);
		s->check_replies[i] = NULL;
	}
	if (removed > 0 &&
	    andon_engine_exec(w->engine, zrem, 1, &s->check_replies[OWED_CHECK], w->run, deadline) == 0) {
		andon_debug("metrics: removed %zu owed Stopping answer(s) whose stop is over", removed);
		freeReplyObject(s->check_replies[OWED_CHECK]);
		s->check_replies[OWED_CHECK] = NULL;
	}
	andon_arena_reset(&w->arena);
	return removed;
}

/*
 * The gauges that need Redis, read every worker.metrics_scan_ms: the timer shards (ZCOUNT of the due, ZCARD,
 * one pipeline over every shard: andon_timers_count) and the owed Stopping answers (ZCARD, the 1000 oldest
 * with their scores: two commands in one pipeline),
 * plus, when callback steps owe answers, one pipeline of HGETs for the oldest 60.
 */
static void scan(andon_worker_t *w)
{
	andon_stats_t *s = w->stats;
	char last[16];
	long long due, scheduled;
	int64_t wall = andon_wall_ms();
	redisReply *range, **members = NULL;
	size_t n = 0, execs = 0, removed = 0;
	int *stale = NULL, found = 0;
	double oldest = 0;

	snprintf(last, sizeof(last), "%d", OWED_SCAN - 1);
	if (andon_timers_count(w, &due, &scheduled) != 0)
		return;
	andon_metrics_set(s->timers_due, (double)due);
	andon_metrics_set(s->timers_pending, (double)scheduled);
	andon_call_command(&s->calls[2], "ZCARD");
	andon_call_arg(&s->calls[2], OWED_KEY, strlen(OWED_KEY));
	andon_call_command(&s->calls[3], "ZRANGE");
	andon_call_arg(&s->calls[3], OWED_KEY, strlen(OWED_KEY));
	andon_call_arg(&s->calls[3], "0", 1);
	andon_call_arg(&s->calls[3], last, strlen(last));
	andon_call_arg(&s->calls[3], "WITHSCORES", 10);
	if (andon_engine_exec(w->engine, s->calls + 2, 2, s->replies + 2, w->run,
			      andon_now_us() + (int64_t)w->cfg->shutdown_timeout_ms * 1000) != 0)
		return;
	range = s->replies[3];
	if (range != NULL && range->type == REDIS_REPLY_ARRAY && range->elements >= 2 &&
	    (members = calloc(range->elements / 2, sizeof(*members))) != NULL &&
	    (stale = calloc(range->elements / 2, sizeof(*stale))) != NULL) {
		for (size_t i = 0; i + 1 < range->elements; i += 2)
			if (range->element[i]->type == REDIS_REPLY_STRING)
				members[n++] = range->element[i];
		removed = owed_check(w, members, n, stale);
		/* The oldest that still waits (members come oldest first, scores are epoch ms). */
		for (size_t i = 0, k = 0; i + 1 < range->elements && !found; i += 2) {
			if (range->element[i]->type != REDIS_REPLY_STRING || stale[k++])
				continue;
			oldest = ((double)wall - strtod(range->element[i + 1]->str, NULL)) / 1000.0;
			found = 1;
		}
		/* Executions: distinct ARNs among the members still waiting. */
		for (size_t i = 0, k = 0; i < n; i++)
			if (!stale[i])
				members[k++] = members[i];
		n -= removed;
		qsort(members, n, sizeof(*members), by_execution);
		for (size_t i = 0; i < n; i++)
			execs += i == 0 || by_execution(&members[i - 1], &members[i]) != 0;
	}
	andon_metrics_set(s->stop_steps, (double)(reply_int(s->replies[2]) - (long long)removed));
	andon_metrics_set(s->stop_execs, (double)execs);
	andon_metrics_set(s->stop_oldest, oldest > 0 ? oldest : 0);
	free(members);
	free(stale);
	for (size_t i = 0; i < 4; i++) {
		freeReplyObject(s->replies[i]);
		s->replies[i] = NULL;
	}
}

static void route_stats(andon_stats_t *s, const andon_route_t *r)
{
	andon_route_stats_t st;
	unsigned long long calls;
	char addr[300];

	andon_route_stats(r, &st);
	andon_metrics_set(s->moved, (double)st.moved);
	andon_metrics_set(s->ask, (double)st.ask);
	andon_metrics_set(s->map_reads, (double)st.refreshes);
	andon_metrics_set(s->wait_short, (double)st.wait_short);
	for (size_t i = 0; andon_route_node(r, i, addr, sizeof(addr), &calls) >= 0; i++)
		if (calls > 0)
			andon_metrics_set(
			    andon_metrics_series(s->node_calls, (const char *const[]){addr}, NULL, 1),
			    (double)calls);
}

void andon_stats_tick(andon_worker_t *w, int64_t now_us)
{
	andon_stats_t *s = w->stats;

	/* Totals kept by the worker itself are copied here, once per tick, not counted twice per message. */
	andon_metrics_set(s->events, (double)w->events);
	andon_metrics_set(s->redelivered, (double)w->redelivered);
	andon_metrics_set(s->lost, (double)w->lost);
	andon_metrics_set(s->reconnects, (double)andon_engine_reconnects(w->engine));
	route_stats(s, andon_engine_route(w->engine));
	andon_metrics_set(s->inflight, (double)(andon_track_count(w->track) + w->timer_pending));
	andon_metrics_set(s->timers_claimed, (double)w->timers_claimed);
	andon_metrics_set(s->timers_fired, (double)w->timers);
	andon_metrics_set(s->txn_committed, (double)andon_txn_commits(w->txn));
	andon_metrics_set(s->txn_aborted, (double)andon_txn_aborts(w->txn));
	if (now_us >= s->next_proc_us) {
		s->next_proc_us = now_us + 1000000;
		andon_metrics_set(s->rss, rss_bytes());
		andon_metrics_set(s->uptime, (double)(now_us - s->start_us) / 1e6);
	}
	/* Nobody reads what is not served: no Redis scan and no publish without the HTTP server. */
	if (w->http == NULL)
		return;
	if (now_us >= s->next_scan_us) {
		s->next_scan_us = now_us + (int64_t)w->cfg->metrics_scan_ms * 1000;
		scan(w);
	}
	andon_metrics_publish(s->m);
}

void andon_stats_state(andon_worker_t *w)
{
	andon_metrics_set(w->stats->redis_up, w->redis_up);
	andon_metrics_set(w->stats->ready, w->ready);
	if (w->http != NULL)
		andon_metrics_publish(w->stats->m);
}
