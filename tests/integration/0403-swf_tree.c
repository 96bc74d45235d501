/* 0403: terminating a tree of 1,000 SWF executions, depth 10, with the worker killed (SIGKILL) halfway
 * through the fan-out and restarted: every node ends TERMINATED with exactly one terminated event. */
#include "harness.h"
#include "harness-swf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOM "tree"
#define N   1000

/* Nodes per level: 11 levels, so the deepest nodes are 10 generations below the root. */
static const int level_size[] = {1, 2, 4, 8, 16, 32, 64, 128, 200, 245, 300};
#define LEVELS ((int)(sizeof(level_size) / sizeof(level_size[0])))

/* So that the kill lands mid fan-out: small batches (the deep levels take several rounds) and a producer
 * that lingers, so each generation of child requests reaches the worker 20 ms after its parents'. */
static const char *const worker_opts[] = {"worker.batch_size=50", "kafka.linger.ms=20", NULL};

static hw_run_t nodes[N];

static void build_tree(void)
{
	hw_run_t *parents[300];
	char *wids[300];
	int first = 1, prev = 0;

	nodes[0] = hw_start(DOM, "n0", "flow", "1", NULL);
	for (int l = 1; l < LEVELS; l++) {
		int n = level_size[l];

		for (int j = 0; j < n; j++) {
			parents[j] = &nodes[prev + j % level_size[l - 1]];
			if (asprintf(&wids[j], "n%d", first + j) < 0)
				abort();
		}
		hw_children(n, parents, wids, &nodes[first]);
		for (int j = 0; j < n; j++)
			free(wids[j]);
		prev = first;
		first += n;
	}
	assert_int_equal(first, N);
}

/* Number of nodes whose run is TERMINATED, read straight from Redis in one pipeline. */
static int count_terminated(void)
{
	redisContext *c;
	int n = 0;

	if (h_redis_cluster()) {
		/* Nodes spread over the cluster's slots: one command each, routed by the harness. */
		for (int i = 0; i < N; i++) {
			redisReply *r = h_redis("HGET andon:{swfw:" DOM ":%s:" H_ACCOUNT "}:x:%s st",
						nodes[i].wid, nodes[i].rid);

			assert_non_null(r);
			n += r->type == REDIS_REPLY_STRING && strcmp(r->str, "TERMINATED") == 0;
			freeReplyObject(r);
		}
		return n;
	}
	c = h_redis_ctx();
	for (int i = 0; i < N; i++)
		redisAppendCommand(c, "HGET andon:{swfw:" DOM ":%s:" H_ACCOUNT "}:x:%s st", nodes[i].wid,
				   nodes[i].rid);
	for (int i = 0; i < N; i++) {
		redisReply *r = NULL;

		assert_int_equal(redisGetReply(c, (void **)&r), REDIS_OK);
		n += r->type == REDIS_REPLY_STRING && strcmp(r->str, "TERMINATED") == 0;
		freeReplyObject(r);
	}
	return n;
}

/* Every node's history, read through Kafka in one burst: exactly one WorkflowExecutionTerminated entry. */
static void check_histories(size_t *lens)
{
	const char **ids = calloc(N, sizeof(*ids));

	for (int i = 0; i < N; i++)
		ids[i] = h_send("SWF.GetWorkflowExecutionHistory", NULL, NULL,
				json_pack("{s:s, s:{s:s, s:s}}", "domain", DOM, "execution", "workflowId",
					  nodes[i].wid, "runId", nodes[i].rid));
	h_flush();
	for (int i = 0; i < N; i++) {
		json_t *r = h_reply(ids[i], 1, 60000), *events, *ev;

		assert_true(hw_ok(r));
		events = json_object_get(json_object_get(r, "body"), "events");
		assert_int_equal(hw_count(events, "WorkflowExecutionTerminated"), 1);
		ev = json_object_get(hw_last(events, "WorkflowExecutionTerminated"),
				     "workflowExecutionTerminatedEventAttributes");
		if (i > 0)
			assert_string_equal(json_string_value(json_object_get(ev, "cause")),
					    "CHILD_POLICY_APPLIED");
		lens[i] = json_array_size(events);
	}
	free(ids);
}

/* Every node's events: one per history entry, and exactly one distinct TERMINATED eventId. */
static void check_events(const size_t *lens)
{
	int repeated = 0;

	for (int i = 0; i < N; i++) {
		char *arn = hw_arn(&nodes[i]);
		json_t *evs, *seen = json_object(), *e;
		size_t k;

		assert_int_equal(h_wait_events(arn, lens[i], 30000), 0);
		evs = h_events(arn);
		json_array_foreach(evs, k, e)
		{
			const char *st = json_string_value(json_object_get(e, "status"));
			if (st != NULL && strcmp(st, "TERMINATED") == 0) {
				repeated +=
				    json_object_get(seen, json_string_value(json_object_get(e, "eventId"))) !=
				    NULL;
				json_object_set_new(seen, json_string_value(json_object_get(e, "eventId")),
						    json_true());
			}
		}
		assert_int_equal(json_object_size(seen), 1);
		json_decref(seen);
		json_decref(evs);
		free(arn);
	}
	fprintf(stderr, "%d terminated event(s) were delivered again (same eventId) after the restart\n",
		repeated);
}

static void terminate_1000_nodes_with_worker_killed_midway(void **state)
{
	long long t0 = h_now_ms(), t1, t2;
	int at_kill = 0, seen = 0;
	size_t *lens = calloc(N, sizeof(*lens));
	json_t *body;

	(void)state;
	build_tree();
	t1 = h_now_ms();
	fprintf(stderr, "built %d nodes in %lld ms\n", N, t1 - t0);

	body = hw_exec(&nodes[0], 1);
	json_object_set_new(body, "childPolicy", json_string("TERMINATE"));
	h_send("SWF.TerminateWorkflowExecution", NULL, NULL, body);
	h_flush();
	/* Kill once the fan-out is well under way but not done. */
	for (long long deadline = h_now_ms() + 30000; h_now_ms() < deadline;) {
		seen = count_terminated();
		if (seen >= N / 2 || seen == N)
			break;
	}
	assert_true(seen > 0);
	assert_true(seen < N);
	h_worker_kill();
	at_kill = count_terminated();
	fprintf(stderr, "killed the worker with %d of %d nodes terminated (%d when seen)\n", at_kill, N,
		seen);
	assert_true(at_kill < N);

	h_worker_start(worker_opts);
	for (long long deadline = h_now_ms() + 60000; count_terminated() < N && h_now_ms() < deadline;)
		h_pump(50);
	t2 = h_now_ms();
	assert_int_equal(count_terminated(), N);
	fprintf(stderr, "all %d terminated %lld ms after the terminate (restart included)\n", N, t2 - t1);

	check_histories(lens);
	check_events(lens);
	free(lens);
}

static int setup(void **state)
{
	(void)state;
	h_group_setup(worker_opts);
	hw_domain(DOM, NULL);
	hw_type(DOM, "flow", "1", NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < N; i++)
		hw_run_free(&nodes[i]);
	return h_group_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(terminate_1000_nodes_with_worker_killed_midway),
	};
	return cmocka_run_group_tests_name("0403-swf_tree", tests, setup, teardown);
}
