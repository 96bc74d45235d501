/*
 * 0603: one primary, one replica, three sentinels. The worker (redis.sentinels) asks the sentinels for the
 * primary. The primary is SIGKILLed mid-stream; the sentinels promote the replica; the worker's calls fail,
 * it asks the sentinels again and follows. With redis.wait_replicas=1 what it answered before the kill
 * reached the replica: once the old primary is back (the sentinels make it a replica of the new one),
 * every request is answered, every change applied exactly once.
 */
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
	static char sentinels[128];
	const char *opts[] = {sentinels, "redis.sentinel_master=mymaster", "redis.wait_replicas=1",
			      "redis.wait_timeout_ms=500", NULL};
	int old = h_redis_port(), replica;
	long long t, rec, deadline;
	hf_report_t rep;
	hf_stream_t *s;
	pid_t pid;

	(void)state;
	snprintf(sentinels, sizeof(sentinels), "redis.sentinels=%s", h_sentinel_start());
	replica = h_sentinel_replica_port();
	assert_int_equal(h_sentinel_primary(), old);
	pid = h_worker_start(opts);
	s = hf_stream_start("sent", RATE, 1000000);
	assert_true(hf_stream_recovery(s, h_now_ms(), 60000) >= 0);
	h_sleep_ms(2000);
	t = h_now_ms();
	h_redis_kill();
	for (deadline = h_now_ms() + 60000; h_sentinel_primary() != replica; h_sleep_ms(100))
		assert_true(h_now_ms() < deadline);
	fprintf(stderr, "0603: the sentinels promoted the replica %lld ms after the kill\n", h_now_ms() - t);
	h_redis_start(); /* the old primary, on its data; the sentinels turn it into a replica */
	rec = hf_stream_recovery(s, t, 90000);
	assert_true(rec >= 0);
	h_sleep_ms(2000);
	h_redis_use(replica); /* the stream's checks read the new primary */
	assert_int_equal(hf_stream_finish(s, 120000, &rep), 0);
	fprintf(stderr, "0603: requests %zu, lost %zu, applied twice %zu; recovery %lld ms\n", rep.requests,
		rep.lost, rep.applied_twice, rec);
	(void)pid;
	h_redis_use(old);
	hf_stream_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(primary_killed_mid_stream),
	};

	return hf_run("0603-sentinel_failover", tests, sizeof(tests) / sizeof(tests[0]), NULL);
}
