/*
 * 0110: on real Kafka, the worker is killed with SIGKILL at 20 random moments under a steady stream of
 * 1,000 requests/s and restarted at once with the same worker.instance_id (static group membership, so
 * it takes its partitions straight back). Every request answered, every change applied exactly once.
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
#include <unistd.h>

enum { KILLS = 20, RATE = 1000 };

static void worker_killed_20_times_under_load(void **state)
{
	unsigned seed = (unsigned)time(NULL);
	long long rec[KILLS];
	hf_report_t rep;
	hf_stream_t *s;
	pid_t pid;

	(void)state;
	srand(seed);
	pid = hf_worker_spawn("worker-1", NULL);
	s = hf_stream_start("k20", RATE, 1000000);
	/* Ready once the stream's first requests are answered. */
	assert_true(hf_stream_recovery(s, h_now_ms(), 60000) >= 0);
	for (int i = 0; i < KILLS; i++) {
		long long t;

		h_sleep_ms(300 + rand() % 2000); /* a random moment: mid-batch, mid-commit, mid-produce */
		t = h_now_ms();
		hf_worker_kill(pid);
		pid = hf_worker_spawn("worker-1", NULL);
		rec[i] = hf_stream_recovery(s, t, 60000);
		assert_true(rec[i] >= 0);
	}
	assert_int_equal(hf_stream_finish(s, 120000, &rep), 0);
	assert_int_equal(h_tool_stop(pid), 0);
	fprintf(stderr, "0110 (seed %u): requests %zu, kills %d, lost %zu, applied twice %zu\n", seed,
		rep.requests, KILLS, rep.lost, rep.applied_twice);
	hf_print_times("0110 recovery (kill to next answer on every partition)", rec, KILLS);
	hf_stream_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(worker_killed_20_times_under_load),
	};

	return hf_run("0110-fault_worker_kill", tests, sizeof(tests) / sizeof(tests[0]), NULL);
}
