/*
 * 0112: on a real 3-node Kafka cluster (replication 3, min.insync.replicas=2, acks=all):
 *   - the worker creates its missing topics with the topics.* settings (partitions, replication factor,
 *     min.insync.replicas);
 *   - the node leading the request partition 0 (and whatever reply partitions it leads) is killed with
 *     SIGKILL mid-stream: the stream goes on through the new leaders; then the node comes back.
 * Every request answered, every change applied exactly once.
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

enum { RATE = 1000 };

/* A static member's session outlasts a node's failover (see 0111). */
static const char *const session[] = {"kafka.session.timeout.ms=30000", NULL};

/* The worker creates a missing topic with its topics.* settings, at start. */
static void worker_creates_topics_with_settings(void **state)
{
	const char *opts[] = {"worker.topic.events=cluster.events", "topics.partitions=6",
			      "topics.replication_factor=3", "topics.min_insync_replicas=2", NULL};
	int partitions = 0, replicas = 0;
	char isr[16];

	(void)state;
	assert_int_equal(hk_describe_topic("cluster.events", &partitions, &replicas, isr, sizeof(isr)), -1);
	h_worker_start(opts);
	assert_int_equal(hk_describe_topic("cluster.events", &partitions, &replicas, isr, sizeof(isr)), 0);
	assert_int_equal(partitions, 6);
	assert_int_equal(replicas, 3);
	assert_string_equal(isr, "2");
	assert_int_equal(h_worker_stop(), 0);
}

static void leader_killed_mid_stream_and_back(void **state)
{
	long long t, rec_kill, rec_back;
	int leader, led = 0, parts = 0, replicas = 0;
	hf_report_t rep;
	hf_stream_t *s;
	char isr[16];
	pid_t pid;

	(void)state;
	assert_int_equal(hk_describe_topic("andon.requests", &parts, &replicas, isr, sizeof(isr)), 0);
	assert_int_equal(replicas, 3);
	pid = hf_worker_spawn("worker-1", session);
	s = hf_stream_start("lead", RATE, 1000000);
	assert_true(hf_stream_recovery(s, h_now_ms(), 60000) >= 0);
	h_sleep_ms(3000);

	leader = hk_leader("andon.requests", 0);
	assert_true(leader >= 1 && leader <= 3);
	for (int p = 0; p < 4; p++)
		led += hk_leader("andon.replies", p) == leader;
	t = h_now_ms();
	hk_node_kill(leader);
	rec_kill = hf_stream_recovery(s, t, 120000);
	fprintf(stderr,
		"0112: node %d (leader of andon.requests [0] and of %d of 4 reply partitions) killed; "
		"every partition answered again after %lld ms; andon.requests [0] now led by node %d\n",
		leader, led, rec_kill, hk_leader("andon.requests", 0));
	assert_true(rec_kill >= 0);
	assert_true(hk_leader("andon.requests", 0) != leader);
	h_sleep_ms(5000); /* the stream runs on two nodes: min.insync.replicas=2 still met */

	t = h_now_ms();
	hk_node_start(leader);
	rec_back = hf_stream_recovery(s, t, 120000);
	fprintf(stderr, "0112: node %d back after %lld ms; every partition answered after %lld ms\n", leader,
		h_now_ms() - t, rec_back);
	assert_true(rec_back >= 0);
	h_sleep_ms(3000);

	assert_int_equal(hf_stream_finish(s, 120000, &rep), 0);
	assert_int_equal(h_tool_stop(pid), 0);
	fprintf(stderr, "0112: requests %zu, leader kills 1, recovery %lld ms, lost %zu, applied twice %zu\n",
		rep.requests, rec_kill, rep.lost, rep.applied_twice);
	hf_stream_free(s);
}

static void own_cluster(void)
{
	hk_use_own(3); /* scripts/kafka.sh: replication 3, min.insync.replicas=2 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(worker_creates_topics_with_settings),
	    cmocka_unit_test(leader_killed_mid_stream_and_back),
	};

	return hf_run("0112-fault_cluster", tests, sizeof(tests) / sizeof(tests[0]), own_cluster);
}
