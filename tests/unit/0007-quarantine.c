/* 0007-quarantine: unit tests for the in-flight records and the quarantine decisions (no Redis, no Kafka). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "quarantine.h"

static andon_quar_t *quar(int after)
{
	andon_quar_t *q = andon_quar_new(NULL, after, "andon-worker", "andon.requests");

	assert_non_null(q);
	return q;
}

static void found(andon_quar_t *q, int32_t partition, const char *value)
{
	assert_int_equal(andon_quar_found(q, partition, value, value != NULL ? strlen(value) : 0), 0);
}

static void test_parse(void **state)
{
	static const char *const bad[] = {
	    "",
	    "1 2 3",
	    "1 2 3 4 5",
	    "2 1 0 1",
	    "-1 2 0 1",
	    "1  2 0 1",
	    " 1 2 0 1",
	    "1 2 0 1 ",
	    "1 2 x 1",
	    "1 2 0 0",
	    "+1 2 0 1",
	    "1 2 0 -1",
	    "1 2 -3 1",
	    "1\t2 0 1",
	    "1 2 0 1x",
	    "1 2 1000000001 1",
	    "99999999999999999999 99999999999999999999 0 1",
	};
	andon_quar_rec_t rec;

	(void)state;
	assert_int_equal(andon_quar_parse("10 20 3 5", 9, &rec), 0);
	assert_int_equal(rec.lo, 10);
	assert_int_equal(rec.hi, 20);
	assert_int_equal(rec.seen, 3);
	assert_int_equal(rec.batch, 5);
	assert_int_equal(andon_quar_parse("0 0 0 1", 7, &rec), 0);
	assert_int_equal(andon_quar_parse("10 20 3 55", 9, &rec), 0); /* the length given is what counts */
	assert_int_equal(rec.batch, 5);
	assert_int_equal(andon_quar_parse("10 20 3 5", 6, &rec), -1);
	assert_int_equal(andon_quar_parse(NULL, 0, &rec), -1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (andon_quar_parse(bad[i], strlen(bad[i]), &rec) != -1)
			fail_msg("\"%s\" accepted", bad[i]);
}

static void test_format(void **state)
{
	andon_quar_rec_t rec = {9007199254740993LL, 9007199254740999LL, 2, 1000}, back;
	char buf[96], small[8];
	int n;

	(void)state;
	n = andon_quar_format(&rec, buf, sizeof(buf));
	assert_int_equal(n, (int)strlen(buf));
	assert_string_equal(buf, "9007199254740993 9007199254740999 2 1000");
	assert_int_equal(andon_quar_parse(buf, (size_t)n, &back), 0);
	assert_memory_equal(&rec, &back, sizeof(rec));
	assert_int_equal(andon_quar_format(&rec, small, sizeof(small)), -1);
}

static void test_new_destroy(void **state)
{
	(void)state;
	andon_quar_destroy(NULL);
	andon_quar_destroy(quar(2));
}

/* No record: nothing is careful or quarantined; a batch's record starts at seen 0 and is deleted when done.
 */
static void test_no_record(void **state)
{
	andon_quar_t *q = quar(2);
	andon_quar_rec_t rec, put;
	char note[256];

	(void)state;
	found(q, 0, NULL);
	assert_false(andon_quar_alone(q, 0, 0));
	assert_false(andon_quar_poisoned(q, 0, 0, note, sizeof(note)));
	assert_false(andon_quar_careful(q, 0));
	assert_int_equal(andon_quar_done(q, 0, &put), 0); /* nothing written yet */
	assert_int_equal(andon_quar_range(q, 0, 5, 9, 12, &rec), 0);
	assert_int_equal(rec.lo, 5);
	assert_int_equal(rec.hi, 9);
	assert_int_equal(rec.seen, 0);
	assert_int_equal(rec.batch, 12);
	assert_int_equal(andon_quar_done(q, 0, &put), 1);
	assert_int_equal(andon_quar_done(q, 0, &put), 0); /* once */
	/* A partition the worker never heard of is not careful either. */
	assert_false(andon_quar_alone(q, 7, 0));
	assert_false(andon_quar_poisoned(q, -1, 0, note, sizeof(note)));
	andon_quar_destroy(q);
}

/* One offset, alone in its batch, in flight at two deaths in a row: quarantined with a note. */
static void test_quarantine_after_two(void **state)
{
	andon_quar_t *q = quar(2);
	andon_quar_rec_t rec, put;
	char note[256];

	(void)state;
	/* First start after the first death: seen 0 + 1 < 2: processed alone, the count carried on. */
	found(q, 3, "7 7 0 1");
	assert_true(andon_quar_alone(q, 3, 7));
	assert_false(andon_quar_alone(q, 3, 8));
	assert_false(andon_quar_poisoned(q, 3, 7, note, sizeof(note)));
	assert_int_equal(andon_quar_range(q, 3, 7, 7, 1, &rec), 0);
	assert_int_equal(rec.seen, 1);
	assert_int_equal(andon_quar_format(&rec, note, sizeof(note)), 7);
	assert_string_equal(note, "7 7 1 1");
	andon_quar_destroy(q);

	/* It died again: the next start finds "7 7 1 1" and quarantines offset 7, nothing else. */
	q = quar(2);
	found(q, 3, "7 7 1 1");
	assert_true(andon_quar_alone(q, 3, 7));
	assert_true(andon_quar_poisoned(q, 3, 7, note, sizeof(note)));
	assert_non_null(strstr(note, "offset 7 of andon.requests [3]"));
	assert_non_null(strstr(note, "2 times in a row; not processed"));
	assert_false(andon_quar_poisoned(q, 3, 8, note, sizeof(note)));
	assert_false(andon_quar_poisoned(q, 2, 7, note, sizeof(note)));
	/* Its own batch keeps the count (a death while dead-lettering it counts too), then it is passed. */
	assert_int_equal(andon_quar_range(q, 3, 7, 7, 1, &rec), 0);
	assert_int_equal(rec.seen, 2);
	assert_int_equal(andon_quar_done(q, 3, &put), 1);
	assert_int_equal(andon_quar_range(q, 3, 8, 30, 23, &rec), 0);
	assert_int_equal(rec.seen, 0);
	assert_false(andon_quar_careful(q, 3));
	assert_false(andon_quar_poisoned(q, 3, 7, note, sizeof(note)));
	andon_quar_destroy(q);
}

/* A message that shared the fatal batch with others may be a bystander: it goes alone first. */
static void test_bystander_not_quarantined(void **state)
{
	andon_quar_t *q = quar(1);
	andon_quar_rec_t rec;
	char note[256];

	(void)state;
	found(q, 0, "4 4 5 2");
	assert_true(andon_quar_alone(q, 0, 4));
	assert_false(andon_quar_poisoned(q, 0, 4, note, sizeof(note)));
	andon_quar_range(q, 0, 4, 4, 1, &rec);
	assert_int_equal(rec.seen, 6);
	andon_quar_destroy(q);

	/* quarantine_after 1: one death with the offset alone is enough. */
	q = quar(1);
	found(q, 0, "4 4 0 1");
	assert_true(andon_quar_poisoned(q, 0, 4, note, sizeof(note)));
	andon_quar_destroy(q);
}

/* A range: each of its messages alone, each inheriting the count; what is left goes back on a revoke. */
static void test_range_narrows(void **state)
{
	andon_quar_t *q = quar(2);
	andon_quar_rec_t rec, put;
	char note[256];

	(void)state;
	found(q, 1, "10 20 0 40");
	assert_true(andon_quar_careful(q, 1));
	assert_false(andon_quar_alone(q, 1, 9));
	assert_true(andon_quar_alone(q, 1, 10));
	assert_true(andon_quar_alone(q, 1, 20));
	assert_false(andon_quar_alone(q, 1, 21));
	for (int64_t o = 10; o <= 20; o++)
		assert_false(andon_quar_poisoned(q, 1, o, note, sizeof(note)));
	/* Redelivered messages before the range: an ordinary batch, no count. */
	assert_int_equal(andon_quar_range(q, 1, 5, 9, 7, &rec), 0);
	assert_int_equal(rec.seen, 0);
	assert_int_equal(andon_quar_done(q, 1, &put), 2);
	assert_int_equal(put.lo, 10);
	assert_int_equal(put.hi, 20);
	assert_int_equal(put.seen, 0);
	assert_int_equal(put.batch, 40);
	/* Offset 10 alone: it was in flight at that death, so it carries its count. */
	assert_int_equal(andon_quar_range(q, 1, 10, 10, 1, &rec), 0);
	assert_int_equal(rec.seen, 1);
	assert_int_equal(rec.batch, 1);
	/* Done with it: the rest of the range goes back as it was read, so a death elsewhere is not its. */
	assert_int_equal(andon_quar_done(q, 1, &put), 2);
	assert_int_equal(put.lo, 11);
	assert_int_equal(put.hi, 20);
	assert_int_equal(put.seen, 0);
	/* When the last one has begun, nothing is left to put back. */
	for (int64_t o = 11; o <= 20; o++)
		assert_int_equal(andon_quar_range(q, 1, o, o, 1, &rec), 0);
	assert_int_equal(rec.seen, 1);
	assert_int_equal(andon_quar_done(q, 1, &put), 1);
	assert_true(andon_quar_careful(q, 1)); /* until a batch past the range begins */
	assert_int_equal(andon_quar_range(q, 1, 21, 60, 40, &rec), 0);
	assert_int_equal(rec.seen, 0);
	assert_false(andon_quar_careful(q, 1));
	assert_false(andon_quar_alone(q, 1, 15));
	andon_quar_destroy(q);

	/* The poison in the middle of a range: its alone record after the second death names it. */
	q = quar(2);
	found(q, 1, "15 15 1 1");
	assert_true(andon_quar_poisoned(q, 1, 15, note, sizeof(note)));
	andon_quar_destroy(q);
}

/* Off, or a record that does not parse: nothing is careful or quarantined. */
static void test_off_and_malformed(void **state)
{
	andon_quar_t *q = quar(0);
	char note[256];

	(void)state;
	found(q, 0, "7 7 9 1");
	assert_false(andon_quar_alone(q, 0, 7));
	assert_false(andon_quar_poisoned(q, 0, 7, note, sizeof(note)));
	andon_quar_destroy(q);

	q = quar(2);
	found(q, 0, "7 7 9");
	found(q, 1, "garbage");
	found(q, 2, "9 7 9 1");
	for (int32_t p = 0; p < 3; p++) {
		assert_false(andon_quar_alone(q, p, 7));
		assert_false(andon_quar_poisoned(q, p, 7, note, sizeof(note)));
	}
	/* A new assignment forgets what an old one found. */
	found(q, 3, "7 7 9 1");
	assert_true(andon_quar_poisoned(q, 3, 7, note, sizeof(note)));
	found(q, 3, NULL);
	assert_false(andon_quar_poisoned(q, 3, 7, note, sizeof(note)));
	/* Partitions far apart grow the table. */
	found(q, 1000, "1 1 1 1");
	assert_true(andon_quar_poisoned(q, 1000, 1, note, sizeof(note)));
	andon_quar_destroy(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_format),
	    cmocka_unit_test(test_new_destroy),
	    cmocka_unit_test(test_no_record),
	    cmocka_unit_test(test_quarantine_after_two),
	    cmocka_unit_test(test_bystander_not_quarantined),
	    cmocka_unit_test(test_range_narrows),
	    cmocka_unit_test(test_off_and_malformed),
	};

	andon_log_level = ANDON_LOG_ERROR; /* the decisions' warnings are expected here */
	return cmocka_run_group_tests_name("0007-quarantine", tests, NULL, NULL);
}
