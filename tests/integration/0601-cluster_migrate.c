/*
 * 0601: on a Redis Cluster (3 primaries, 3 replicas), slots move between primaries while a steady stream
 * flows (redis-cli --cluster reshard: MIGRATING/IMPORTING, MIGRATE of each key, then the new owner). The
 * worker follows ASK while a slot moves and MOVED after: every request answered, every change applied
 * exactly once, and its metrics count the MOVED and ASK it handled.
 */
#include "harness-http.h"
#include "harness-stream.h"
#include "harness.h"

#include <hiredis.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { RATE = 400, SLOTS = 3000 };

/* The node id of cluster node i (CLUSTER MYID), in id[41]. */
static void node_id(int i, char id[41])
{
	char cmd[128];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "redis-cli -p %d CLUSTER MYID", h_redis_cluster_port(i));
	assert_non_null(p = popen(cmd, "r"));
	assert_non_null(fgets(id, 41, p));
	pclose(p);
	assert_int_equal(strlen(id), 40);
}

/* Moves SLOTS slots from node from to node to with redis-cli --cluster reshard; 0 on success. */
static int reshard(int from, int to)
{
	char a[41], b[41], cmd[512];

	node_id(from, a);
	node_id(to, b);
	snprintf(
	    cmd, sizeof(cmd),
	    "redis-cli --cluster reshard 127.0.0.1:%d --cluster-from %s --cluster-to %s --cluster-slots %d "
	    "--cluster-yes --cluster-pipeline 10 >/dev/null 2>&1",
	    h_redis_cluster_port(0), a, b, SLOTS);
	return system(cmd);
}

static redisContext *node_ctx(int i)
{
	static redisContext *c[H_CLUSTER_NODES];

	if (c[i] == NULL) {
		c[i] = redisConnect("127.0.0.1", h_redis_cluster_port(i));
		assert_non_null(c[i]);
		assert_int_equal(c[i]->err, 0);
	}
	return c[i];
}

/* A command on cluster node i itself (no redirection); fails the test without a reply. */
static redisReply *on_node(int i, const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = redisvCommand(node_ctx(i), fmt, ap);
	va_end(ap);
	assert_non_null(r);
	return r;
}

static void ok(redisReply *r)
{
	assert_non_null(r);
	if (r->type == REDIS_REPLY_ERROR)
		fail_msg("redis: %s", r->str);
	freeReplyObject(r);
}

/*
 * Moves slots [lo, hi) from node a to node b by hand, holding them MIGRATING/IMPORTING for hold_ms while
 * the stream creates executions there (the source answers ASK for every key it does not have), then
 * MIGRATEs what the source still holds and gives the slots to b.
 */
static void migrate_slowly(int a, int b, int lo, int hi, int hold_ms)
{
	char ida[41], idb[41], port[16];

	node_id(a, ida);
	node_id(b, idb);
	snprintf(port, sizeof(port), "%d", h_redis_cluster_port(b));
	for (int slot = lo; slot < hi; slot++) {
		ok(on_node(b, "CLUSTER SETSLOT %d IMPORTING %s", slot, ida));
		ok(on_node(a, "CLUSTER SETSLOT %d MIGRATING %s", slot, idb));
	}
	h_sleep_ms(hold_ms);
	for (int slot = lo; slot < hi; slot++) {
		for (;;) {
			redisReply *keys = on_node(a, "CLUSTER GETKEYSINSLOT %d 100", slot);
			const char *argv[107] = {"MIGRATE", "127.0.0.1", port, "", "0", "5000", "KEYS"};
			size_t lens[107];
			int n = 7;

			assert_int_equal(keys->type, REDIS_REPLY_ARRAY);
			if (keys->elements == 0) {
				freeReplyObject(keys);
				break;
			}
			for (int k = 0; k < n; k++)
				lens[k] = strlen(argv[k]);
			for (size_t k = 0; k < keys->elements; k++) {
				argv[n] = keys->element[k]->str;
				lens[n++] = keys->element[k]->len;
			}
			ok(redisCommandArgv(node_ctx(a), n, argv, lens));
			freeReplyObject(keys);
		}
		for (int i = 0; i < 3; i++)
			ok(on_node(i, "CLUSTER SETSLOT %d NODE %s", slot, idb));
	}
}

static void slots_move_mid_stream(void **state)
{
	static const char *const opts[] = {"worker.http_listen=127.0.0.1:0", NULL};
	hf_report_t rep;
	hf_stream_t *s;
	prom_t *p;
	double moved, ask;
	pid_t pid;
	int port;

	(void)state;
	pid = h_worker_start(opts);
	port = hh_port(pid);
	s = hf_stream_start("mig", RATE, 1000000);
	assert_true(hf_stream_recovery(s, h_now_ms(), 60000) >= 0);
	h_sleep_ms(1000);
	/* By hand, slowly: ASK while the slots move, MOVED after. Then redis-cli's reshard, twice. */
	migrate_slowly(0, 1, 0, 400, 2000);
	h_sleep_ms(500);
	assert_int_equal(reshard(0, 1), 0);
	h_sleep_ms(500);
	assert_int_equal(reshard(1, 2), 0);
	h_sleep_ms(1000);
	assert_int_equal(hf_stream_finish(s, 120000, &rep), 0);
	assert_true(rep.executions > 0);
	h_sleep_ms(1500); /* the worker's tick publishes its counters */
	p = hh_scrape(port);
	moved = hh_value(p, "andon_redis_moved_total", NULL);
	ask = hh_value(p, "andon_redis_ask_total", NULL);
	prom_free(p);
	fprintf(stderr, "0601: requests %zu, lost %zu, applied twice %zu; MOVED %.0f, ASK %.0f\n",
		rep.requests, rep.lost, rep.applied_twice, moved, ask);
	assert_true(moved > 0);
	assert_true(ask > 0);
	hf_stream_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(slots_move_mid_stream),
	};

	setenv("ANDON_REDIS", "cluster", 1);
	return hf_run("0601-cluster_migrate", tests, sizeof(tests) / sizeof(tests[0]), NULL);
}
