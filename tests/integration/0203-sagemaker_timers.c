/*
 * 0203: durable step deadlines: with two workers each fires once, they survive a stop of every worker,
 * and a deadline claimed by a worker that died fires again once its lease ends.
 */
#include "harness-sagemaker.h"
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const opts[] = {"worker.timer_lease_ms=1000", NULL};

static long long timers_left(void)
{
	redisReply *r = h_redis("ZCARD andon:timers");
	long long n = r->integer;

	freeReplyObject(r);
	return n;
}

static int setup(void **state)
{
	(void)state;
	h_group_setup(opts);
	h_worker_start(opts); /* two workers in one group: both sweep the same timer set */
	return 0;
}

/* 20 Lambda steps time out under two sweeping workers: each step fails once, each stop ends Failed. */
static void each_deadline_fires_once(void **state)
{
	enum { N = 20 };
	char *arns[N];

	(void)state;
	for (int i = 0; i < N; i++) {
		arns[i] = hs_start("timers");
		free(hs_step(arns[i], "fn", "Lambda", NULL, 1));
		h_call("SageMaker.StopPipelineExecution", hs_stop_body(arns[i]));
	}
	for (int i = 0; i < N; i++) {
		assert_int_equal(hs_wait_status(arns[i], "Failed", 30000), 0);
		assert_int_equal(hs_history_count(arns[i], "fn", "Failed"), 1);
		assert_int_equal(hs_history_count(arns[i], NULL, "Failed"), 1);
	}
	/* Every fired deadline is removed once what it caused was acknowledged. */
	for (long long deadline = h_now_ms() + 20000; timers_left() > 0 && h_now_ms() < deadline;)
		h_pump(50);
	assert_int_equal(timers_left(), 0);
	for (int i = 0; i < N; i++)
		free(arns[i]);
}

/* Redis's clock, epoch ms: deadlines are scored by it. */
static long long redis_now_ms(void)
{
	redisReply *t = h_redis("TIME");
	long long now = atoll(t->element[0]->str) * 1000 + atoll(t->element[1]->str) / 1000;

	freeReplyObject(t);
	return now;
}

/* Waits until the earliest deadline in the timer set is due. */
static void wait_due(void)
{
	for (;;) {
		redisReply *r = h_redis("ZRANGE andon:timers 0 0 WITHSCORES");
		long long due = r->elements == 2 ? atoll(r->element[1]->str) : 0;
		freeReplyObject(r);
		assert_true(due > 0);
		if (redis_now_ms() > due)
			return;
		h_pump(50);
	}
}

/* A deadline that passes while no worker runs fires when one comes back. */
static void deadline_survives_a_stop_of_every_worker(void **state)
{
	char *arn = hs_start("timers");
	redisReply *r;

	(void)state;
	free(hs_step(arn, "fn", "Lambda", NULL, 2));
	h_call("SageMaker.StopPipelineExecution", hs_stop_body(arn));
	assert_int_equal(h_worker_stop(), 0);
	assert_int_equal(timers_left(), 1);
	wait_due();
	r = h_redis("HGET andon:{%s}:x st", arn);
	assert_string_equal(r->str, "STOPPING");
	freeReplyObject(r);
	h_worker_start(opts);
	assert_int_equal(hs_wait_status(arn, "Failed", 30000), 0);
	assert_string_equal(hs_step_status(arn, "fn"), "Failed");
	free(arn);
}

/* A worker that claimed a deadline and died before acting on it: another worker fires it once the
 * lease ends. The claim is made by hand, as the dead worker's sweep would have made it. */
static void claimed_deadline_fires_after_its_lease(void **state)
{
	char *arn = hs_start("timers");
	redisReply *r;
	long long claimed_at;

	(void)state;
	free(hs_step(arn, "cb", "Callback", NULL, 2));
	assert_int_equal(h_worker_stop(), 0);
	wait_due();
	r = h_redis("FCALL andon_timers_claim 1 andon:timers 8000 10");
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_int_equal(r->elements, 1);
	freeReplyObject(r);
	claimed_at = h_now_ms();
	h_worker_start(opts);
	/* Nobody fires it before the lease ends, somebody does after. */
	assert_string_equal(hs_step_status(arn, "cb"), "Executing");
	for (long long deadline = h_now_ms() + 30000; strcmp(hs_step_status(arn, "cb"), "Failed") != 0;) {
		assert_true(h_now_ms() < deadline);
		h_pump(50);
	}
	assert_true(h_now_ms() - claimed_at >= 7500);
	assert_int_equal(hs_history_count(arn, "cb", "Failed"), 1);
	free(arn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(each_deadline_fires_once),
	    cmocka_unit_test(deadline_survives_a_stop_of_every_worker),
	    cmocka_unit_test(claimed_deadline_fires_after_its_lease),
	};
	return cmocka_run_group_tests(tests, setup, h_group_teardown_cmocka);
}
