/* conf: the key=value file format shared by the worker's config and the tools' -F files. */
#ifndef ANDON_CONF_H
#define ANDON_CONF_H

#include <stddef.h>

/** Called once per setting; returns 0, or -1 with a reason (no file or line: the reader adds them). */
typedef int(andon_conf_line_cb)(void *opaque, const char *key, const char *value, char *errstr,
				size_t errstr_size);

/**
 * Reads path: one "key = value" a line, blank lines and lines starting with '#' skipped, white space
 * around key and value trimmed, value may be empty. Calls cb for each setting in file order.
 * Returns 0, or -1 at the first bad line with "path:line: reason" in errstr.
 */
int andon_conf_read_file(const char *path, andon_conf_line_cb *cb, void *opaque, char *errstr,
			 size_t errstr_size);

/**
 * Splits "key=value" (the -X / -o command-line form): copies the trimmed key into key[keysz] and points
 * *value at the trimmed value inside kv. Returns 0, or -1 when there is no '=' or the key is empty or too
 * long.
 */
int andon_conf_split(char *kv, char *key, size_t keysz, const char **value);

#endif
