/* when: points in time typed by operators, RFC 3339 or relative to now, as epoch ms (when.h). */
#include "when.h"

#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define MS_PER_DAY 86400000LL

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (counting in 400-year eras). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* Exactly n digits at *p into *out, advancing *p; 0 or -1. */
static int digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int parse_rfc3339(const char *s, int64_t *ms)
{
	const char *p = s;
	int y, mo, d, h, mi, sec, frac = 0, off = 0;

	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' || digits(&p, 2, &d))
		return -1;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -1;
	p++;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' || digits(&p, 2, &sec))
		return -1;
	if (*p == '.') {
		int n = 0;

		if (!isdigit((unsigned char)*++p))
			return -1;
		for (; isdigit((unsigned char)*p); p++, n++)
			if (n < 3)
				frac = frac * 10 + (*p - '0');
		for (; n < 3; n++)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;

		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
			return -1;
		off = sign * (oh * 60 + om);
	} else {
		return -1; /* RFC 3339 requires the offset: a local time would depend on the machine */
	}
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
	    sec > 60)
		return -1;
	*ms = days_from_civil(y, mo, d) * MS_PER_DAY + ((int64_t)h * 3600 + mi * 60 + sec) * 1000 + frac -
	      (int64_t)off * 60000;
	return 0;
}

static int parse_relative(const char *s, int64_t now_ms, int64_t *ms)
{
	static const struct {
		const char *name;
		int64_t ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", MS_PER_DAY}};
	const char *p = s + 1;
	int64_t total = 0;

	if ((s[0] != '-' && s[0] != '+') || *p == '\0')
		return -1;
	while (*p != '\0') {
		int64_t n = 0;
		size_t i, len;

		if (!isdigit((unsigned char)*p))
			return -1;
		for (; isdigit((unsigned char)*p); p++) {
			if (n > 1000000000LL) /* beyond 30,000 years in any unit */
				return -1;
			n = n * 10 + (*p - '0');
		}
		for (len = 0; isalpha((unsigned char)p[len]); len++)
			;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strlen(units[i].name) == len && strncmp(p, units[i].name, len) == 0)
				break;
		if (i == sizeof(units) / sizeof(units[0]))
			return -1;
		total += n * units[i].ms;
		if (total > 1000000000000000LL) /* ~31,000 years: also keeps the sum far from overflow */
			return -1;
		p += len;
	}
	*ms = s[0] == '-' ? now_ms - total : now_ms + total;
	return 0;
}

int andon_when_parse(const char *s, int64_t now_ms, int64_t *ms, char *errstr, size_t errstr_size)
{
	if (s == NULL)
		return andon_fail(errstr, errstr_size, "no time given");
	if (strcmp(s, "now") == 0) {
		*ms = now_ms;
		return 0;
	}
	if (parse_relative(s, now_ms, ms) == 0 || parse_rfc3339(s, ms) == 0)
		return 0;
	return andon_fail(errstr, errstr_size,
			  "expected an RFC 3339 time (2026-11-30T14:02:00Z), \"now\" or a relative time "
			  "(-2h, -1h30m, -90s), got \"%s\"",
			  s);
}

void andon_when_format(int64_t ms, char *out, size_t size)
{
	int64_t days = (ms >= 0 ? ms : ms - (MS_PER_DAY - 1)) / MS_PER_DAY, rem = ms - days * MS_PER_DAY;
	/* civil_from_days, the inverse of days_from_civil */
	int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097, doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365, y = yoe + era * 400;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
	int d = (int)(doy - (153 * mp + 2) / 5 + 1), m = (int)(mp < 10 ? mp + 3 : mp - 9);

	y += m <= 2;
	snprintf(out, size, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)y, m, d, (int)(rem / 3600000),
		 (int)(rem / 60000 % 60), (int)(rem / 1000 % 60), (int)(rem % 1000));
}
