/* conf: the key=value file format shared by the worker's config and the tools' -F files. */
#include "conf.h"

#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Trims white space at both ends in place and returns the new start. */
static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

int andon_conf_split(char *kv, char *key, size_t keysz, const char **value)
{
	char *eq = strchr(kv, '=');
	char *k;

	if (eq == NULL)
		return -1;
	*eq = '\0';
	k = trim(kv);
	if (*k == '\0' || strlen(k) >= keysz) {
		*eq = '=';
		return -1;
	}
	memcpy(key, k, strlen(k) + 1);
	*value = trim(eq + 1);
	return 0;
}

int andon_conf_read_file(const char *path, andon_conf_line_cb *cb, void *opaque, char *errstr,
			 size_t errstr_size)
{
	char line[4096], key[256], reason[512];
	const char *value;
	int lineno = 0, rc = 0;
	FILE *fp = fopen(path, "r");

	if (fp == NULL)
		return andon_fail(errstr, errstr_size, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *s;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(fp)) {
			rc = andon_fail(errstr, errstr_size, "%s:%d: line longer than %zu bytes", path,
					lineno, sizeof(line) - 2);
			break;
		}
		s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		if (andon_conf_split(s, key, sizeof(key), &value) != 0) {
			rc = andon_fail(errstr, errstr_size, "%s:%d: expected key=value", path, lineno);
			break;
		}
		reason[0] = '\0';
		if (cb(opaque, key, value, reason, sizeof(reason)) != 0) {
			rc = andon_fail(errstr, errstr_size, "%s:%d: %s", path, lineno, reason);
			break;
		}
	}
	fclose(fp);
	return rc;
}
