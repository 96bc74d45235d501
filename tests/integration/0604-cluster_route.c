/*
 * 0604: the router's own rules on a Redis Cluster, through the engine the worker uses: a call whose keys are
 * in two slots is refused before it is sent (an error reply, never Redis's CROSSSLOT); a primary that lost
 * the function library (FUNCTION FLUSH) gets it back and the call is answered; calls spread over the
 * primaries and are answered in order; keyless commands go to a primary.
 */
#include "harness.h"

#include "call.h"
#include "config.h"
#include "engine.h"
#include "redis_route.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static andon_config_t *cfg;
static andon_engine_t *engine;

static int setup(void **state)
{
	char err[256];

	(void)state;
	setenv("ANDON_REDIS", "cluster", 1);
	h_start();
	if ((cfg = andon_config_new()) == NULL ||
	    andon_config_set(cfg, "redis.cluster", h_redis_cluster_seeds(), err, sizeof(err)) != 0 ||
	    (engine = andon_engine_new(cfg)) == NULL || andon_engine_connect(engine, err, sizeof(err)) != 0) {
		fprintf(stderr, "0604: engine: %s\n", err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	andon_engine_destroy(engine);
	andon_config_destroy(cfg);
	h_stop();
	return 0;
}

static redisReply *command(int argc, const char **argv)
{
	size_t len[16];

	for (int i = 0; i < argc; i++)
		len[i] = strlen(argv[i]);
	return andon_engine_command(engine, argc, argv, len);
}

/* FCALLs served by cluster node i so far (INFO commandstats). */
static long long fcalls(int i)
{
	redisReply *r = h_redis_node(i, "INFO commandstats");
	const char *p;
	long long n = 0;

	if (r != NULL && r->type == REDIS_REPLY_STRING &&
	    (p = strstr(r->str, "cmdstat_fcall:calls=")) != NULL)
		n = atoll(p + 20);
	freeReplyObject(r);
	return n;
}

static void cross_slot_call_is_never_sent(void **state)
{
	/* Two executions' keys: two slots (0011-route checks the slot function itself). */
	const char *argv[] = {"FCALL", "sfn_describe", "2", "andon:{a}:x", "andon:{b}:h", "id", "op"};
	long long before = 0, after = 0;
	redisReply *r;

	(void)state;
	for (int i = 0; i < H_CLUSTER_NODES; i++)
		before += fcalls(i);
	r = command(7, argv);
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_ERROR);
	assert_non_null(strstr(r->str, "CROSSSLOT andon:"));
	freeReplyObject(r);
	for (int i = 0; i < H_CLUSTER_NODES; i++)
		after += fcalls(i);
	assert_int_equal(after, before); /* no node saw it */
}

static void a_primary_without_the_library_gets_it_back(void **state)
{
	const char *argv[] = {"FCALL", "sfn_describe", "2",	"andon:{a}:x", "andon:{a}:h", "id",
			      "op",    "arn",	       "arn:x", "@acct",       "123456789012"};
	redisReply *r;

	(void)state;
	/* Every node the cluster was created with: the primaries flush, the replicas refuse (READONLY). */
	for (int i = 0; i < H_CLUSTER_NODES; i++)
		freeReplyObject(h_redis_node(i, "FUNCTION FLUSH"));
	r = command(11, argv);
	assert_non_null(r);
	if (r->type == REDIS_REPLY_ERROR && strstr(r->str, "Function not found") != NULL)
		fail_msg("the library was not loaded again: %s", r->str);
	freeReplyObject(r);
}

static void pipelines_split_by_node_answer_in_order(void **state)
{
	enum { N = 300 };
	andon_call_t *calls = calloc(N, sizeof(*calls));
	redisReply **replies = calloc(N, sizeof(*replies));
	andon_arena_t arena;
	char val[N][16];

	(void)state;
	assert_int_equal(andon_arena_init(&arena, 1 << 16), 0);
	for (int i = 0; i < N; i++) {
		size_t len;
		const char *key = andon_arena_printf(&arena, &len, "andon:{k%d}:v", i);

		snprintf(val[i], sizeof(val[i]), "v%d", i);
		andon_call_command(&calls[i], "SET");
		andon_call_arg(&calls[i], key, len);
		andon_call_arg(&calls[i], val[i], strlen(val[i]));
	}
	assert_int_equal(andon_engine_exec(engine, calls, N, replies, NULL, 0), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(replies[i]->type, REDIS_REPLY_STATUS);
		freeReplyObject(replies[i]);
		andon_call_command(&calls[i], "GET");
		andon_call_arg(&calls[i], calls[i].argv[1], strlen(calls[i].argv[1]));
	}
	assert_int_equal(andon_engine_exec(engine, calls, N, replies, NULL, 0), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(replies[i]->type, REDIS_REPLY_STRING);
		assert_string_equal(replies[i]->str, val[i]);
		freeReplyObject(replies[i]);
	}
	/* Spread: every primary of the map served some of them. */
	{
		unsigned long long n;
		char addr[64];
		int serving = 0;

		for (size_t i = 0;
		     andon_route_node(andon_engine_route(engine), i, addr, sizeof(addr), &n) >= 0; i++)
			serving +=
			    andon_route_node(andon_engine_route(engine), i, addr, sizeof(addr), &n) == 1 &&
			    n > 0;
		assert_int_equal(serving, 3);
	}
	andon_arena_free(&arena);
	free(calls);
	free(replies);
}

static void keyless_commands_reach_a_primary(void **state)
{
	const char *argv[] = {"PING"};
	redisReply *r = command(1, argv);

	(void)state;
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_STATUS);
	assert_string_equal(r->str, "PONG");
	freeReplyObject(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(cross_slot_call_is_never_sent),
	    cmocka_unit_test(a_primary_without_the_library_gets_it_back),
	    cmocka_unit_test(pipelines_split_by_node_answer_in_order),
	    cmocka_unit_test(keyless_commands_reach_a_primary),
	};
	return cmocka_run_group_tests_name("0604-cluster_route", tests, setup, teardown);
}
