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

/* worker.timer_shards' default: deadlines are spread over andon:{timers:0..15}; andon:timers is the legacy
 * single set, swept but never written. */
#define SHARDS 16

/* Deadlines in shard i (SHARDS: the legacy set). */
static long long shard_card(int i)
{
	redisReply *r = i < SHARDS ? h_redis("ZCARD andon:{timers:%d}", i) : h_redis("ZCARD andon:timers");
	long long n = r->integer;

	freeReplyObject(r);
	return n;
}

static long long timers_left(void)
{
	long long n = 0;

	for (int i = 0; i <= SHARDS; i++)
		n += shard_card(i);
	return n;
}

/* The key of the one shard holding deadlines (the tests that call it schedule one). */
static char *the_shard(char *buf, size_t size)
{
	for (int i = 0; i < SHARDS; i++)
		if (shard_card(i) > 0) {
			snprintf(buf, size, "andon:{timers:%d}", i);
			return buf;
		}
	fail_msg("no timer shard holds a deadline");
	return NULL;
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
		char key[32];
		redisReply *r = h_redis("ZRANGE %s 0 0 WITHSCORES", the_shard(key, sizeof(key)));
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
	char *arn = hs_start("timers"), key[32];
	redisReply *r;
	long long claimed_at;

	(void)state;
	free(hs_step(arn, "cb", "Callback", NULL, 2));
	assert_int_equal(h_worker_stop(), 0);
	wait_due();
	r = h_redis("FCALL andon_timers_claim 1 %s 8000 10", the_shard(key, sizeof(key)));
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

/* Deadlines spread over the shards by their member, and each fires once when the workers, all stopped
 * while they came due, start again. */
static void deadlines_spread_over_shards_and_fire_once_across_a_restart(void **state)
{
	enum { N = 40 };
	char *arns[N];
	int used = 0;

	(void)state;
	for (int i = 0; i < N; i++) {
		arns[i] = hs_start("shards");
		/* Long enough that none is due before every worker stopped. */
		free(hs_step(arns[i], "fn", "Lambda", NULL, 15));
		h_call("SageMaker.StopPipelineExecution", hs_stop_body(arns[i]));
	}
	assert_int_equal(h_worker_stop(), 0);
	assert_int_equal(timers_left(), N);
	assert_int_equal(shard_card(SHARDS), 0); /* the legacy set is never written */
	for (int i = 0; i < SHARDS; i++)
		used += shard_card(i) > 0;
	/* 40 members hashed over 16 shards: fewer than 6 shards used would mean they are not spread. */
	assert_true(used >= 6);
	wait_due();
	h_worker_start(opts);
	h_worker_start(opts);
	/* Due one after another within the 15 s the starts took at most, so the wait below covers them. */
	for (int i = 0; i < N; i++) {
		assert_int_equal(hs_wait_status(arns[i], "Failed", 30000), 0);
		assert_int_equal(hs_history_count(arns[i], "fn", "Failed"), 1);
	}
	for (long long deadline = h_now_ms() + 20000; timers_left() > 0 && h_now_ms() < deadline;)
		h_pump(50);
	assert_int_equal(timers_left(), 0);
	for (int i = 0; i < N; i++)
		free(arns[i]);
}

/* A deadline an earlier version left in the single set andon:timers still fires, and leaves it. */
static void legacy_timer_set_is_drained(void **state)
{
	char *arn = hs_start("legacy"), key[32];
	redisReply *r;

	(void)state;
	free(hs_step(arn, "fn", "Lambda", NULL, 2));
	h_call("SageMaker.StopPipelineExecution", hs_stop_body(arn));
	assert_int_equal(h_worker_stop(), 0);
	/* Moved where an earlier version would have put it. */
	r = h_redis("ZRANGE %s 0 0 WITHSCORES", the_shard(key, sizeof(key)));
	assert_int_equal(r->elements, 2);
	freeReplyObject(
	    h_redis("ZADD andon:timers %s %b", r->element[1]->str, r->element[0]->str, r->element[0]->len));
	freeReplyObject(h_redis("ZREM %s %b", key, r->element[0]->str, r->element[0]->len));
	freeReplyObject(r);
	assert_int_equal(shard_card(SHARDS), 1);
	h_worker_start(opts);
	assert_int_equal(hs_wait_status(arn, "Failed", 30000), 0);
	assert_int_equal(hs_history_count(arn, "fn", "Failed"), 1);
	for (long long deadline = h_now_ms() + 20000; timers_left() > 0 && h_now_ms() < deadline;)
		h_pump(50);
	assert_int_equal(timers_left(), 0);
	free(arn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(each_deadline_fires_once),
	    cmocka_unit_test(deadline_survives_a_stop_of_every_worker),
	    cmocka_unit_test(claimed_deadline_fires_after_its_lease),
	    cmocka_unit_test(deadlines_spread_over_shards_and_fire_once_across_a_restart),
	    cmocka_unit_test(legacy_timer_set_is_drained),
	};
	return cmocka_run_group_tests(tests, setup, h_group_teardown_cmocka);
}
