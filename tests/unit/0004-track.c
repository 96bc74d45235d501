/* 0004-track: unit tests for the in-flight tracker: which offsets become safe to store, and when. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "track.h"

/* Collects into a fresh list; returns the count and leaves the list in *out (caller destroys). */
static size_t collect(andon_track_t *t, rd_kafka_topic_partition_list_t **out)
{
	*out = rd_kafka_topic_partition_list_new(4);
	assert_non_null(*out);
	return andon_track_collect(t, *out);
}

/* The offset the list holds for topic/partition, or -1000 when it holds none. */
static int64_t offset_of(rd_kafka_topic_partition_list_t *l, const char *topic, int32_t partition)
{
	rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(l, topic, partition);

	return p != NULL ? p->offset : -1000;
}

/* Collect, and check the count and that the list holds exactly nparts partitions. */
static rd_kafka_topic_partition_list_t *collect_expect(andon_track_t *t, size_t n, int nparts)
{
	rd_kafka_topic_partition_list_t *l;

	assert_int_equal(collect(t, &l), n);
	assert_int_equal(l->cnt, nparts);
	return l;
}

static void test_new_destroy(void **state)
{
	andon_track_t *t;

	(void)state;
	assert_null(andon_track_new(0));
	andon_track_destroy(NULL);
	t = andon_track_new(3);
	assert_non_null(t);
	assert_int_equal(andon_track_count(t), 0);
	assert_false(andon_track_full(t));
	andon_track_destroy(t);
}

static void test_contiguous_prefix(void **state)
{
	andon_track_t *t = andon_track_new(8);
	rd_kafka_topic_partition_list_t *l;
	uint64_t s0, s1, s2;

	(void)state;
	s0 = andon_track_add(t, "req", 0, 10);
	s1 = andon_track_add(t, "req", 0, 11);
	s2 = andon_track_add(t, "req", 0, 12);
	assert_true(s0 != UINT64_MAX && s1 == s0 + 1 && s2 == s1 + 1);
	assert_int_equal(andon_track_count(t), 3);

	/* Nothing done yet: nothing to store. */
	l = collect_expect(t, 0, 0);
	rd_kafka_topic_partition_list_destroy(l);

	andon_track_release(t, s0);
	l = collect_expect(t, 1, 1);
	assert_int_equal(offset_of(l, "req", 0), 11);
	rd_kafka_topic_partition_list_destroy(l);
	assert_int_equal(andon_track_count(t), 2);

	andon_track_release(t, s1);
	andon_track_release(t, s2);
	l = collect_expect(t, 2, 1);
	assert_int_equal(offset_of(l, "req", 0), 13);
	rd_kafka_topic_partition_list_destroy(l);
	assert_int_equal(andon_track_count(t), 0);

	/* Collecting an empty tracker is a no-op. */
	l = collect_expect(t, 0, 0);
	rd_kafka_topic_partition_list_destroy(l);
	andon_track_destroy(t);
}

static void test_out_of_order(void **state)
{
	andon_track_t *t = andon_track_new(8);
	rd_kafka_topic_partition_list_t *l;
	uint64_t a, b, c;

	(void)state;
	a = andon_track_add(t, "req", 3, 100);
	b = andon_track_add(t, "req", 3, 101);
	c = andon_track_add(t, "req", 3, 102);

	/* The later messages finish first: the earlier one still blocks the offset. */
	andon_track_release(t, c);
	andon_track_release(t, b);
	for (int i = 0; i < 3; i++) {
		l = collect_expect(t, 0, 0);
		rd_kafka_topic_partition_list_destroy(l);
	}
	assert_int_equal(andon_track_count(t), 3);

	andon_track_release(t, a);
	l = collect_expect(t, 3, 1);
	assert_int_equal(offset_of(l, "req", 3), 103);
	rd_kafka_topic_partition_list_destroy(l);

	/* Two messages: second done first, then the first: both come out, offset is the second's + 1. */
	a = andon_track_add(t, "req", 3, 103);
	b = andon_track_add(t, "req", 3, 104);
	andon_track_release(t, b);
	l = collect_expect(t, 0, 0);
	rd_kafka_topic_partition_list_destroy(l);
	andon_track_release(t, a);
	l = collect_expect(t, 2, 1);
	assert_int_equal(offset_of(l, "req", 3), 105);
	rd_kafka_topic_partition_list_destroy(l);
	andon_track_destroy(t);
}

static void test_partitions_and_topics(void **state)
{
	andon_track_t *t = andon_track_new(16);
	rd_kafka_topic_partition_list_t *l;
	uint64_t s[8];

	(void)state;
	s[0] = andon_track_add(t, "a", 0, 10);
	s[1] = andon_track_add(t, "a", 1, 50);
	s[2] = andon_track_add(t, "b", 0, 7);
	s[3] = andon_track_add(t, "a", 0, 11);
	s[4] = andon_track_add(t, "b", 0, 8);
	s[5] = andon_track_add(t, "a", 1, 51);
	s[6] = andon_track_add(t, "b", 1, 900);
	s[7] = andon_track_add(t, "a", 0, 12);

	/* Finish everything but s[4]: the prefix s[0..3] comes out. */
	for (int i = 0; i < 8; i++)
		if (i != 4)
			andon_track_release(t, s[i]);
	l = collect_expect(t, 4, 3);
	assert_int_equal(offset_of(l, "a", 0), 12); /* s[3] */
	assert_int_equal(offset_of(l, "a", 1), 51); /* s[1] */
	assert_int_equal(offset_of(l, "b", 0), 8);  /* s[2] */
	assert_int_equal(offset_of(l, "b", 1), -1000);
	rd_kafka_topic_partition_list_destroy(l);

	andon_track_release(t, s[4]);
	l = collect_expect(t, 4, 4);
	assert_int_equal(offset_of(l, "a", 0), 13);  /* s[7] */
	assert_int_equal(offset_of(l, "a", 1), 52);  /* s[5] */
	assert_int_equal(offset_of(l, "b", 0), 9);   /* s[4] */
	assert_int_equal(offset_of(l, "b", 1), 901); /* s[6] */
	rd_kafka_topic_partition_list_destroy(l);
	assert_int_equal(andon_track_count(t), 0);
	andon_track_destroy(t);
}

static void test_collect_into_existing_list(void **state)
{
	andon_track_t *t = andon_track_new(4);
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	uint64_t s;

	(void)state;
	s = andon_track_add(t, "a", 0, 5);
	andon_track_release(t, s);
	assert_int_equal(andon_track_collect(t, l), 1);
	s = andon_track_add(t, "a", 0, 6);
	andon_track_release(t, s);
	assert_int_equal(andon_track_collect(t, l), 1);
	/* The same partition is updated in place, not added twice. */
	assert_int_equal(l->cnt, 1);
	assert_int_equal(offset_of(l, "a", 0), 7);
	rd_kafka_topic_partition_list_destroy(l);
	andon_track_destroy(t);
}

static void test_hold_release(void **state)
{
	andon_track_t *t = andon_track_new(4);
	rd_kafka_topic_partition_list_t *l;
	uint64_t s;

	(void)state;
	s = andon_track_add(t, "req", 0, 40);
	andon_track_hold(t, s, 3); /* reply, event, DLQ record */

	/* Its own release plus two of three acknowledgements: still pending. */
	andon_track_release(t, s);
	andon_track_release(t, s);
	andon_track_release(t, s);
	l = collect_expect(t, 0, 0);
	rd_kafka_topic_partition_list_destroy(l);
	andon_track_release(t, s);
	l = collect_expect(t, 1, 1);
	assert_int_equal(offset_of(l, "req", 0), 41);
	rd_kafka_topic_partition_list_destroy(l);

	/* Holds added one at a time count the same. */
	s = andon_track_add(t, "req", 0, 41);
	andon_track_hold(t, s, 1);
	andon_track_hold(t, s, 1);
	andon_track_hold(t, s, 1);
	for (int i = 0; i < 3; i++) {
		andon_track_release(t, s);
		l = collect_expect(t, 0, 0);
		rd_kafka_topic_partition_list_destroy(l);
	}
	andon_track_release(t, s);
	l = collect_expect(t, 1, 1);
	rd_kafka_topic_partition_list_destroy(l);
	andon_track_destroy(t);
}

static void test_over_release(void **state)
{
	andon_track_t *t = andon_track_new(4);
	rd_kafka_topic_partition_list_t *l;
	uint64_t a, b;

	(void)state;
	a = andon_track_add(t, "req", 0, 1);
	b = andon_track_add(t, "req", 0, 2);
	/* A duplicate acknowledgement of a done message must not make it pending again (or negative). */
	andon_track_release(t, a);
	andon_track_release(t, a);
	andon_track_release(t, a);
	/* Nor may it borrow from its neighbour. */
	l = collect_expect(t, 1, 1);
	assert_int_equal(offset_of(l, "req", 0), 2);
	rd_kafka_topic_partition_list_destroy(l);
	assert_int_equal(andon_track_count(t), 1);
	andon_track_release(t, b);
	l = collect_expect(t, 1, 1);
	assert_int_equal(offset_of(l, "req", 0), 3);
	rd_kafka_topic_partition_list_destroy(l);
	andon_track_destroy(t);
}

static void test_full(void **state)
{
	andon_track_t *t = andon_track_new(2);
	rd_kafka_topic_partition_list_t *l;
	uint64_t a, b;

	(void)state;
	a = andon_track_add(t, "req", 0, 1);
	assert_false(andon_track_full(t));
	b = andon_track_add(t, "req", 0, 2);
	assert_true(andon_track_full(t));
	assert_true(andon_track_add(t, "req", 0, 3) == UINT64_MAX);
	assert_true(andon_track_add(t, "other", 0, 3) == UINT64_MAX);
	assert_int_equal(andon_track_count(t), 2);

	/* Done but not collected still occupies the slot. */
	andon_track_release(t, b);
	assert_true(andon_track_add(t, "req", 0, 3) == UINT64_MAX);
	andon_track_release(t, a);
	l = collect_expect(t, 2, 1);
	assert_int_equal(offset_of(l, "req", 0), 3);
	rd_kafka_topic_partition_list_destroy(l);
	assert_false(andon_track_full(t));
	assert_true(andon_track_add(t, "req", 0, 3) == b + 1);
	andon_track_destroy(t);
}

static void test_topic_limit(void **state)
{
	andon_track_t *t = andon_track_new(64);
	char topic[16];
	int n = 0;

	(void)state;
	/* The tracker records a bounded number of distinct topics; beyond that add fails, it never crashes.
	 */
	for (; n < 64; n++) {
		snprintf(topic, sizeof(topic), "t%d", n);
		if (andon_track_add(t, topic, 0, 0) == UINT64_MAX)
			break;
	}
	assert_true(n >= 1 && n < 64);
	assert_int_equal(andon_track_count(t), (size_t)n);
	/* A topic already recorded still works. */
	assert_true(andon_track_add(t, "t0", 1, 0) != UINT64_MAX);
	andon_track_destroy(t);
}

static void test_stale_release(void **state)
{
	andon_track_t *t = andon_track_new(1); /* every sequence number shares slot 0 */
	rd_kafka_topic_partition_list_t *l;
	uint64_t a, b;

	(void)state;
	a = andon_track_add(t, "req", 0, 10);
	andon_track_release(t, a);
	l = collect_expect(t, 1, 1);
	rd_kafka_topic_partition_list_destroy(l);

	b = andon_track_add(t, "req", 0, 11);
	assert_true(b == a + 1);
	/* A late acknowledgement for a, and a hold on it, must not touch b, which now has a's slot. */
	andon_track_release(t, a);
	andon_track_hold(t, a, 5);
	l = collect_expect(t, 0, 0);
	rd_kafka_topic_partition_list_destroy(l);
	/* Nor a sequence number never handed out. */
	andon_track_release(t, b + 1);
	andon_track_release(t, UINT64_MAX);
	l = collect_expect(t, 0, 0);
	rd_kafka_topic_partition_list_destroy(l);

	andon_track_release(t, b);
	l = collect_expect(t, 1, 1);
	assert_int_equal(offset_of(l, "req", 0), 12);
	rd_kafka_topic_partition_list_destroy(l);
	andon_track_destroy(t);
}

static void test_wrap_around(void **state)
{
	andon_track_t *t = andon_track_new(4);
	rd_kafka_topic_partition_list_t *l;
	uint64_t seq[4];
	int64_t next = 0, stored = 0;
	/* Completion orders for a window of 4, cycled through. */
	static const int orders[][4] = {{0, 1, 2, 3}, {3, 2, 1, 0}, {1, 3, 0, 2}, {2, 0, 3, 1}};

	(void)state;
	for (int cycle = 0; cycle < 5000; cycle++) {
		const int *ord = orders[cycle % 4];

		for (int i = 0; i < 4; i++) {
			seq[i] = andon_track_add(t, "req", 0, next++);
			assert_true(seq[i] != UINT64_MAX);
		}
		assert_true(andon_track_full(t));
		for (int k = 0; k < 4; k++) {
			size_t n;

			andon_track_release(t, seq[ord[k]]);
			l = rd_kafka_topic_partition_list_new(1);
			n = andon_track_collect(t, l);
			if (n > 0) {
				int64_t off = offset_of(l, "req", 0);
				/* The stored offset only moves forward and covers exactly the collected
				 * messages. */
				assert_true(off > stored);
				assert_int_equal(off - stored, (int64_t)n);
				stored = off;
			} else {
				assert_int_equal(l->cnt, 0);
			}
			rd_kafka_topic_partition_list_destroy(l);
		}
		assert_int_equal(stored, next);
		assert_int_equal(andon_track_count(t), 0);
	}
	andon_track_destroy(t);
}

/* Randomised: a simple model (an array of pending counts) against the tracker, with a fixed seed. */
#define MODEL_CAP 32
#define MODEL_OPS 200000

struct model_msg {
	int topic, partition, pending;
	int64_t offset;
};

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

static void test_random_model(void **state)
{
	static const char *const topics[] = {"alpha", "beta", "gamma"};
	struct model_msg *msgs = calloc(MODEL_OPS, sizeof(*msgs));
	int64_t next_offset[3][4] = {{0}}, stored[3][4];
	uint64_t head = 0, tail = 0, first = UINT64_MAX;
	andon_track_t *t = andon_track_new(MODEL_CAP);

	(void)state;
	assert_non_null(msgs);
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 4; j++)
			stored[i][j] = -1;
	for (int op = 0; op < MODEL_OPS; op++) {
		uint32_t r = rnd(100);

		if (r < 25) {
			int tp = (int)rnd(3), pa = (int)rnd(4);
			uint64_t s = andon_track_add(t, topics[tp], pa, next_offset[tp][pa]);

			if (tail - head == MODEL_CAP) {
				assert_true(s == UINT64_MAX);
				continue;
			}
			if (first == UINT64_MAX)
				first = s;
			assert_true(s == first + tail); /* sequence numbers are consecutive */
			msgs[tail] = (struct model_msg){tp, pa, 1, next_offset[tp][pa]++};
			tail++;
		} else if (r < 30 && tail > head) {
			uint64_t i = head + rnd((uint32_t)(tail - head));
			int n = 1 + (int)rnd(2);

			andon_track_hold(t, first + i, n);
			msgs[i].pending += n;
		} else if (r < 85 && tail > 0) {
			/* Mostly in-flight messages, sometimes a stale one already collected. */
			uint64_t i =
			    rnd(5) == 0 ? rnd((uint32_t)tail) : head + rnd((uint32_t)(tail - head + 1));

			if (i >= tail)
				continue;
			andon_track_release(t, first + i);
			if (i >= head && msgs[i].pending > 0)
				msgs[i].pending--;
		} else {
			rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
			int64_t want[3][4];
			size_t n = 0;

			memcpy(want, stored, sizeof(want));
			while (head + n < tail && msgs[head + n].pending == 0) {
				want[msgs[head + n].topic][msgs[head + n].partition] =
				    msgs[head + n].offset + 1;
				n++;
			}
			assert_int_equal(andon_track_collect(t, l), n);
			for (int i = 0; i < 3; i++)
				for (int j = 0; j < 4; j++) {
					int64_t got = offset_of(l, topics[i], j);

					if (want[i][j] != stored[i][j])
						assert_int_equal(got, want[i][j]);
					else
						assert_int_equal(
						    got, -1000); /* untouched partitions are not listed */
				}
			memcpy(stored, want, sizeof(want));
			head += n;
			rd_kafka_topic_partition_list_destroy(l);
		}
		assert_int_equal(andon_track_count(t), tail - head);
		assert_int_equal(andon_track_full(t), tail - head == MODEL_CAP);
		if (tail == MODEL_OPS - 1)
			break;
	}
	print_message("random model: %llu messages collected\n", (unsigned long long)head);
	assert_true(head > 1000); /* the run did real work */
	free(msgs);
	andon_track_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new_destroy),
	    cmocka_unit_test(test_contiguous_prefix),
	    cmocka_unit_test(test_out_of_order),
	    cmocka_unit_test(test_partitions_and_topics),
	    cmocka_unit_test(test_collect_into_existing_list),
	    cmocka_unit_test(test_hold_release),
	    cmocka_unit_test(test_over_release),
	    cmocka_unit_test(test_full),
	    cmocka_unit_test(test_topic_limit),
	    cmocka_unit_test(test_stale_release),
	    cmocka_unit_test(test_wrap_around),
	    cmocka_unit_test(test_random_model),
	};

	return cmocka_run_group_tests_name("0004-track", tests, NULL, NULL);
}
