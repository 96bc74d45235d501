/* 0013-when: the times operators type (lib/when.c): RFC 3339 with offsets and fractions, relative times,
 * and everything else refused with a reason. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "when.h"

#define NOW 1764513720000LL /* 2025-11-30T14:42:00Z */

static int64_t when(const char *s)
{
	char errstr[256] = "";
	int64_t ms = -42;

	if (andon_when_parse(s, NOW, &ms, errstr, sizeof(errstr)) != 0)
		fail_msg("\"%s\" refused: %s", s, errstr);
	return ms;
}

static void rfc3339_matches_timegm(void **state)
{
	struct tm tm = {.tm_year = 2025 - 1900, .tm_mon = 10, .tm_mday = 30, .tm_hour = 14, .tm_min = 42};

	(void)state;
	assert_int_equal(when("2025-11-30T14:42:00Z"), (int64_t)timegm(&tm) * 1000);
	assert_int_equal(when("2025-11-30T14:42:00Z"), NOW);
	assert_int_equal(when("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(when("1969-12-31T23:59:59.5Z"), -500);
	assert_int_equal(when("2000-02-29t00:00:00z"), 951782400000LL);
	assert_int_equal(when("2025-11-30 14:42:00.123456Z"), NOW + 123);
	assert_int_equal(when("2025-11-30T14:42:00.1Z"), NOW + 100);
	assert_int_equal(when("2025-11-30T15:42:00+01:00"), NOW);
	assert_int_equal(when("2025-11-30T09:12:00-05:30"), NOW);
	assert_int_equal(when("2016-12-31T23:59:60Z"), 1483228800000LL);
	/* Every day of a few years round-trips through the formatter. */
	for (int64_t ms = -86400000LL * 800; ms < 86400000LL * 40000; ms += 86400000LL * 7 + 3723456) {
		char text[40];

		andon_when_format(ms, text, sizeof(text));
		assert_int_equal(when(text), ms);
	}
}

static void relative_is_from_now(void **state)
{
	(void)state;
	assert_int_equal(when("now"), NOW);
	assert_int_equal(when("-2h"), NOW - 7200000);
	assert_int_equal(when("-1h30m"), NOW - 5400000);
	assert_int_equal(when("+15m"), NOW + 900000);
	assert_int_equal(when("-90s"), NOW - 90000);
	assert_int_equal(when("-250ms"), NOW - 250);
	assert_int_equal(when("-1d2h"), NOW - 93600000);
}

static void bad_times_are_refused(void **state)
{
	static const char *const bad[] = {"",
					  "-",
					  "2h",
					  "-2",
					  "-2x",
					  "-h",
					  "- 2h",
					  "-99999999999d",
					  "2025-11-30T14:42:00",
					  "2025-11-30",
					  "2025-13-01T00:00:00Z",
					  "2025-02-29T00:00:00Z",
					  "2025-11-31T00:00:00Z",
					  "2025-11-30T24:00:00Z",
					  "2025-11-30T14:60:00Z",
					  "2025-11-30T14:42:61Z",
					  "2025-11-30T14:42:00.Z",
					  "2025-11-30T14:42:00+0100",
					  "2025-11-30T14:42:00Zjunk",
					  "25-11-30T14:42:00Z",
					  "yesterday"};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char errstr[256] = "";
		int64_t ms = -42;

		if (andon_when_parse(bad[i], NOW, &ms, errstr, sizeof(errstr)) == 0)
			fail_msg("\"%s\" accepted as %lld", bad[i], (long long)ms);
		assert_int_equal(ms, -42);
		assert_non_null(strstr(errstr, "expected an RFC 3339 time"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(rfc3339_matches_timegm),
	    cmocka_unit_test(relative_is_from_now),
	    cmocka_unit_test(bad_times_are_refused),
	};
	return cmocka_run_group_tests_name("0013-when", tests, NULL, NULL);
}
