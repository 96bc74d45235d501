/* when: points in time typed by operators (RFC 3339, or relative to now such as "-2h"), as epoch ms. */
#ifndef ANDON_WHEN_H
#define ANDON_WHEN_H

#include <stddef.h>
#include <stdint.h>

/**
 * Parses s into *ms (milliseconds since the epoch). Accepted forms:
 *   - RFC 3339: "2026-11-30T14:02:00Z", "2026-11-30T14:02:00.250+01:00" (a space or 't' may replace the 'T',
 *     'z' the 'Z'; fractions beyond milliseconds are cut; a leap second 60 counts as the next second);
 *   - relative to now_ms: a sign and one or more NUMBER UNIT groups, units ms, s, m, h, d: "-2h",
 *     "-1h30m", "+15m";
 *   - "now".
 * Returns 0, or -1 with the reason in errstr (*ms untouched).
 */
int andon_when_parse(const char *s, int64_t now_ms, int64_t *ms, char *errstr, size_t errstr_size);

/** Writes ms as RFC 3339 UTC with milliseconds ("2026-11-30T14:02:00.250Z") into out (at least 25 bytes).
 */
void andon_when_format(int64_t ms, char *out, size_t size);

#endif
