/* log: leveled logging to stderr; the level is checked before any formatting is done. */
#ifndef ANDON_LOG_H
#define ANDON_LOG_H

enum { ANDON_LOG_ERROR = 0, ANDON_LOG_WARN = 1, ANDON_LOG_INFO = 2, ANDON_LOG_DEBUG = 3 };

extern int andon_log_level; /* messages above this level are skipped; default INFO */

void andon_log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Parses "error", "warn", "info" or "debug"; returns the level or -1. */
int andon_log_level_parse(const char *name);

#define andon_log(level, ...)                                                                                \
	do {                                                                                                 \
		if ((level) <= andon_log_level)                                                              \
			andon_log_write((level), __VA_ARGS__);                                               \
	} while (0)
#define andon_err(...)	 andon_log(ANDON_LOG_ERROR, __VA_ARGS__)
#define andon_warn(...)	 andon_log(ANDON_LOG_WARN, __VA_ARGS__)
#define andon_info(...)	 andon_log(ANDON_LOG_INFO, __VA_ARGS__)
#define andon_debug(...) andon_log(ANDON_LOG_DEBUG, __VA_ARGS__)

#endif
