/*
 * 0113: on real Kafka, three workers in one consumer group under a steady 1,000 requests/s: members leave
 * (SIGTERM: a clean leave, at once; SIGKILL: noticed after session.timeout.ms, 6 s here) and join again.
 * After every change each partition of the request topic is served again (recovery is measured on every
 * partition); at the end every request is answered and every change applied exactly once. Dynamic
 * membership here: a static member (worker.instance_id) that stops for good keeps its partitions until
 * its session times out, so a join-and-leave test is about dynamic members.
 */
#include "harness-stream.h"
#include "harness.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { RATE = 1000 };

static hf_stream_t *s;
static long long rec[16];
static const char *what[16];
static int events;

static void measured(const char *name, long long t)
{
	long long r = hf_stream_recovery(s, t, 90000);

	fprintf(stderr, "0113: %s: every partition answered again after %lld ms\n", name, r);
	assert_true(r >= 0);
	what[events] = name;
	rec[events++] = r;
	h_sleep_ms(2000); /* steady state before the next change */
}

static void members_join_and_leave_under_load(void **state)
{
	pid_t w[3];
	hf_report_t rep;
	long long t;

	(void)state;
	for (int i = 0; i < 3; i++)
		w[i] = hf_worker_spawn(NULL, NULL);
	s = hf_stream_start("grp", RATE, 1000000);
	assert_true(hf_stream_recovery(s, h_now_ms(), 60000) >= 0);
	h_sleep_ms(2000);

	t = h_now_ms();
	assert_int_equal(h_tool_stop(w[2]), 0); /* SIGTERM: leaves the group, exit 0 */
	measured("SIGTERM one of three", t);

	t = h_now_ms();
	w[2] = hf_worker_spawn(NULL, NULL);
	measured("a third joins", t);

	t = h_now_ms();
	hf_worker_kill(w[1]);
	measured("SIGKILL one of three", t);

	t = h_now_ms();
	w[1] = hf_worker_spawn(NULL, NULL);
	measured("it joins again", t);

	t = h_now_ms();
	hf_worker_kill(w[0]);
	assert_int_equal(h_tool_stop(w[2]), 0);
	measured("SIGKILL one and SIGTERM another at once", t);

	t = h_now_ms();
	w[0] = hf_worker_spawn(NULL, NULL);
	w[2] = hf_worker_spawn(NULL, NULL);
	measured("two join at once", t);

	assert_int_equal(hf_stream_finish(s, 120000, &rep), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(h_tool_stop(w[i]), 0);
	fprintf(stderr,
		"0113: requests %zu, membership changes %d (kills 2, clean leaves 2), lost %zu, applied "
		"twice %zu\n",
		rep.requests, events, rep.lost, rep.applied_twice);
	hf_print_times("0113 recovery (change to next answer on every partition)", rec, (size_t)events);
	hf_stream_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(members_join_and_leave_under_load),
	};

	return hf_run("0113-fault_group", tests, sizeof(tests) / sizeof(tests[0]), NULL);
}
