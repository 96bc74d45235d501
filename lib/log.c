/* log: leveled logging to stderr with a UTC timestamp, one line per call, as text or as JSON (log.h). */
#include "log.h"

#include "utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

_Atomic int andon_log_level = ANDON_LOG_INFO;
_Atomic int andon_log_format = ANDON_LOG_TEXT;

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const format_names[] = {"text", "json"};

/*
 * Appends s[0..len) to out[*at..size) as the inside of a JSON string: quote, backslash and control
 * characters escaped, well-formed UTF-8 kept, any other byte as U+FFFD. Stops, never cutting an escape,
 * when out is full (the line is then shortened; size leaves room for what closes it).
 */
static void json_text(char *out, size_t size, size_t *at, const char *s, size_t len)
{
	while (len > 0) {
		size_t good = len;

		andon_utf8_count(s, len, NULL, &good);
		for (size_t i = 0; i < good; i++) {
			unsigned char c = (unsigned char)s[i];
			char esc[8];
			size_t n;

			if (c == '"' || c == '\\')
				n = (size_t)snprintf(esc, sizeof(esc), "\\%c", c);
			else if (c == '\n')
				n = (size_t)snprintf(esc, sizeof(esc), "\\n");
			else if (c == '\t')
				n = (size_t)snprintf(esc, sizeof(esc), "\\t");
			else if (c < 0x20 || c == 0x7f)
				n = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", c);
			else
				n = (size_t)snprintf(esc, sizeof(esc), "%c", c);
			if (*at + n >= size)
				return;
			memcpy(out + *at, esc, n);
			*at += n;
		}
		if (good == len)
			return;
		if (*at + 6 >= size)
			return;
		memcpy(out + *at, "\\ufffd", 6);
		*at += 6;
		s += good + 1;
		len -= good + 1;
	}
}

static void write_line(int level, const char *id, size_t id_len, const char *fmt, va_list ap)
{
	char msg[2048], line[8192], stamp[40];
	struct timeval tv;
	struct tm tm;
	size_t at = 0;
	int n;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		msg[0] = '\0';
	if (andon_log_format != ANDON_LOG_JSON) {
		char safe[257];

		/* A request id is printable ASCII (proto.c); anything else would forge a line, so it shows as
		 * '?'. */
		for (size_t i = 0; id != NULL && i < id_len; i++)
			safe[i] = id[i] > 0x20 && id[i] < 0x7f ? id[i] : '?';
		/* One fprintf per line so lines from librdkafka's threads do not interleave mid-line. */
		if (id != NULL)
			fprintf(stderr, "%s.%03dZ %s [%.*s] %s\n", stamp, (int)(tv.tv_usec / 1000),
				level_names[level], (int)id_len, safe, msg);
		else
			fprintf(stderr, "%s.%03dZ %s %s\n", stamp, (int)(tv.tv_usec / 1000),
				level_names[level], msg);
		return;
	}
	/* 64 bytes stay free for the fields' closing: a shortened message still makes a whole object. */
	at = (size_t)snprintf(line, sizeof(line), "{\"time\":\"%s.%03dZ\",\"level\":\"%s\",\"message\":\"",
			      stamp, (int)(tv.tv_usec / 1000), level_names[level]);
	json_text(line, sizeof(line) - 64 - (id != NULL ? 6 * id_len + 20 : 0), &at, msg, strlen(msg));
	if (id != NULL) {
		memcpy(line + at, "\",\"request_id\":\"", 16);
		at += 16;
		json_text(line, sizeof(line) - 8, &at, id, id_len);
	}
	memcpy(line + at, "\"}\n", 4);
	fputs(line, stderr);
}

void andon_log_write(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	write_line(level, NULL, 0, fmt, ap);
	va_end(ap);
}

void andon_log_write_req(int level, const char *id, size_t id_len, const char *fmt, ...)
{
	va_list ap;

	/* Request ids are at most 128 bytes (proto.h); a longer one here is cut, never overflows. */
	if (id_len > 256)
		id_len = 256;
	va_start(ap, fmt);
	write_line(level, id, id_len, fmt, ap);
	va_end(ap);
}

int andon_log_level_parse(const char *name)
{
	for (int i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0])); i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

int andon_log_format_parse(const char *name)
{
	for (int i = 0; i < (int)(sizeof(format_names) / sizeof(format_names[0])); i++)
		if (strcmp(name, format_names[i]) == 0)
			return i;
	return -1;
}

const char *andon_log_level_name(int level)
{
	return level >= 0 && level <= ANDON_LOG_DEBUG ? level_names[level] : "?";
}

const char *andon_log_format_name(int format)
{
	return format == ANDON_LOG_JSON ? "json" : "text";
}
