/*
 * log: leveled logging to stderr, one line per call; the level is checked before any formatting is done.
 *
 * Text lines: "<time> <level> <message>", or "<time> <level> [<request id>] <message>" for a line about
 * one request. JSON lines (andon_log_format = ANDON_LOG_JSON), one object a line, for log shippers:
 *   {"time":"2024-05-01T12:00:00.123Z","level":"info","message":"...","request_id":"..."}
 * time is UTC with milliseconds; request_id only on a line about one request; strings are JSON-escaped and
 * bytes that are not UTF-8 become U+FFFD. Level and format may change while librdkafka's threads log
 * (SIGHUP reload), so both are atomics.
 */
#ifndef ANDON_LOG_H
#define ANDON_LOG_H

#include <stddef.h>

enum { ANDON_LOG_ERROR = 0, ANDON_LOG_WARN = 1, ANDON_LOG_INFO = 2, ANDON_LOG_DEBUG = 3 };
enum { ANDON_LOG_TEXT = 0, ANDON_LOG_JSON = 1 };

extern _Atomic int andon_log_level;  /* messages above this level are skipped; default INFO */
extern _Atomic int andon_log_format; /* ANDON_LOG_TEXT (default) or ANDON_LOG_JSON */

void andon_log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** The same for a line about one request: id[0..id_len) is its request id (id may be NULL: none). */
void andon_log_write_req(int level, const char *id, size_t id_len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** Parses "error", "warn", "info" or "debug"; returns the level or -1. */
int andon_log_level_parse(const char *name);
/** Parses "text" or "json"; returns the format or -1. */
int andon_log_format_parse(const char *name);
/** The name of a level ("info") or of a format ("json"). */
const char *andon_log_level_name(int level);
const char *andon_log_format_name(int format);

#define andon_log(level, ...)                                                                                \
	do {                                                                                                 \
		if ((level) <= andon_log_level)                                                              \
			andon_log_write((level), __VA_ARGS__);                                               \
	} while (0)
#define andon_err(...)	 andon_log(ANDON_LOG_ERROR, __VA_ARGS__)
#define andon_warn(...)	 andon_log(ANDON_LOG_WARN, __VA_ARGS__)
#define andon_info(...)	 andon_log(ANDON_LOG_INFO, __VA_ARGS__)
#define andon_debug(...) andon_log(ANDON_LOG_DEBUG, __VA_ARGS__)

/** A line about request id[0..id_len) at level. */
#define andon_log_req(level, id, id_len, ...)                                                                \
	do {                                                                                                 \
		if ((level) <= andon_log_level)                                                              \
			andon_log_write_req((level), (id), (id_len), __VA_ARGS__);                           \
	} while (0)

#endif
