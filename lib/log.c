/* log: leveled logging to stderr with a UTC timestamp, one line per call. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

int andon_log_level = ANDON_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void andon_log_write(int level, const char *fmt, ...)
{
	char line[2048], stamp[32];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	int n;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03dZ %s ", stamp, (int)(tv.tv_usec / 1000), level_names[level]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One fprintf per line so lines from librdkafka's threads do not interleave mid-line. */
	fprintf(stderr, "%s\n", line);
}

int andon_log_level_parse(const char *name)
{
	for (int i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0])); i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}
