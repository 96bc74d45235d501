/*
 * 0602: on a Redis Cluster (3 primaries, 3 replicas, cluster-node-timeout 1000 ms), a primary is killed
 * with SIGKILL mid-stream. The cluster promotes its replica; the worker, with redis.wait_replicas=1, keeps
 * retrying the calls the dead primary owed, finds the new primary from the slot map, and goes on once the
 * killed node is back as a replica (WAIT 1 needs one). Every request answered ok before the kill is still
 * applied after it (WAIT: its change reached the replica that took over): nothing lost, nothing twice.
 */
#include "harness-http.h"
#include "harness-stream.h"
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { RATE = 400 };

static void primary_killed_mid_stream(void **state)
{
	static const char *const opts[] = {"worker.http_listen=127.0.0.1:0", "redis.wait_replicas=1",
					   "redis.wait_timeout_ms=500", NULL};
	hf_report_t rep;
	hf_stream_t *s;
	prom_t *p;
	long long t, rec;
	pid_t pid;
	int port;

	(void)state;
	pid = h_worker_start(opts);
	port = hh_port(pid);
	s = hf_stream_start("kill", RATE, 1000000);
	assert_true(hf_stream_recovery(s, h_now_ms(), 60000) >= 0);
	h_sleep_ms(2000);
	t = h_now_ms();
	h_redis_cluster_kill(0);    /* a primary as created */
	h_sleep_ms(3000);	    /* its replica is promoted after cluster-node-timeout */
	h_redis_cluster_restart(0); /* back as a replica of the new primary: WAIT 1 can be met again */
	rec = hf_stream_recovery(s, t, 90000);
	assert_true(rec >= 0);
	h_sleep_ms(2000);
	assert_int_equal(hf_stream_finish(s, 120000, &rep), 0);
	p = hh_scrape(port);
	fprintf(stderr,
		"0602: requests %zu, lost %zu, applied twice %zu; recovery %lld ms; slot map reads %.0f, "
		"WAIT shortfalls %.0f\n",
		rep.requests, rep.lost, rep.applied_twice, rec,
		hh_value(p, "andon_redis_slot_map_reads_total", NULL),
		hh_value(p, "andon_redis_wait_shortfalls_total", NULL));
	assert_true(hh_value(p, "andon_redis_slot_map_reads_total", NULL) >= 2);
	prom_free(p);
	hf_stream_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(primary_killed_mid_stream),
	};

	setenv("ANDON_REDIS", "cluster", 1);
	return hf_run("0602-cluster_kill", tests, sizeof(tests) / sizeof(tests[0]), NULL);
}
