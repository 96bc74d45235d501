/*
 * 0111: on real Kafka, the single broker is killed with SIGKILL mid-stream and restarted on the same data
 * directory, twice. Clients and worker reconnect by themselves; the group comes back with its committed
 * offsets. Every request answered, every change applied exactly once.
 */
#include "harness-kafka.h"
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

/* A static member's session must outlast a broker restart: one that times out rejoins while its old
 * membership's commits are in flight, is fenced by itself, and librdkafka 2.0.2 makes that fatal. */
static const char *const session[] = {"kafka.session.timeout.ms=30000", NULL};

static void broker_killed_twice_mid_stream(void **state)
{
	long long rec[KILLS], down[KILLS];
	hf_report_t rep;
	hf_stream_t *s;
	pid_t pid;

	(void)state;
	pid = hf_worker_spawn("worker-1", session);
	s = hf_stream_start("bk", RATE, 1000000);
	assert_true(hf_stream_recovery(s, h_now_ms(), 60000) >= 0);
	for (int i = 0; i < KILLS; i++) {
		long long t;

		h_sleep_ms(3000);
		t = h_now_ms();
		hk_node_kill(1);
		hk_node_start(1); /* same config and data directory; returns once it serves metadata */
		down[i] = h_now_ms() - t;
		rec[i] = hf_stream_recovery(s, t, 120000);
		assert_true(rec[i] >= 0);
	}
	h_sleep_ms(2000);
	assert_int_equal(hf_stream_finish(s, 120000, &rep), 0);
	assert_int_equal(h_tool_stop(pid), 0);
	fprintf(stderr, "0111: requests %zu, broker kills %d, lost %zu, applied twice %zu\n", rep.requests,
		KILLS, rep.lost, rep.applied_twice);
	hf_print_times("0111 broker kill to serving again", down, KILLS);
	hf_print_times("0111 recovery (kill to next answer on every partition)", rec, KILLS);
	hf_stream_free(s);
}

static void own_broker(void)
{
	hk_use_own(1); /* a broker of its own to kill */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(broker_killed_twice_mid_stream),
	};

	return hf_run("0111-fault_broker_kill", tests, sizeof(tests) / sizeof(tests[0]), own_broker);
}
