/*
 * 0114: on real Kafka, Redis (AOF with appendfsync always) is killed with SIGKILL mid-stream and started
 * again on the same data, twice. The worker waits and retries; what Redis acknowledged is on disk, what it
 * did not is consumed again. Every request answered, every change applied exactly once.
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
#include <time.h>

enum { KILLS = 2, RATE = 1000 };

static void redis_killed_twice_mid_stream(void **state)
{
	long long rec[KILLS];
	hf_report_t rep;
	hf_stream_t *s;
	pid_t pid;

	(void)state;
	pid = hf_worker_spawn("worker-1", NULL);
	s = hf_stream_start("rk", RATE, 1000000);
	assert_true(hf_stream_recovery(s, h_now_ms(), 60000) >= 0);
	for (int i = 0; i < KILLS; i++) {
		long long t;

		h_sleep_ms(3000);
		t = h_now_ms();
		h_redis_kill();
		h_sleep_ms(1000); /* down for a second: the worker's calls fail and are retried */
		h_redis_start();
		rec[i] = hf_stream_recovery(s, t, 60000);
		assert_true(rec[i] >= 0);
	}
	h_sleep_ms(2000);
	assert_int_equal(hf_stream_finish(s, 120000, &rep), 0);
	assert_int_equal(h_tool_stop(pid), 0);
	fprintf(stderr, "0114: requests %zu, Redis kills %d, lost %zu, applied twice %zu\n", rep.requests,
		KILLS, rep.lost, rep.applied_twice);
	hf_print_times("0114 recovery (kill to next answer on every partition; Redis down 1 s)", rec, KILLS);
	hf_stream_free(s);
}

static void fsync_always(void)
{
	h_redis_appendfsync("always"); /* what Redis acknowledged survives its SIGKILL */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(redis_killed_twice_mid_stream),
	};

	return hf_run("0114-fault_redis_kill", tests, sizeof(tests) / sizeof(tests[0]), fsync_always);
}
