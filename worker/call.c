/* call: builds one Redis function call (FCALL) per request, its strings in a per-batch arena. */
#include "call.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int andon_arena_init(andon_arena_t *a, size_t cap)
{
	a->buf = malloc(cap);
	a->cap = a->buf != NULL ? cap : 0;
	a->used = 0;
	return a->buf != NULL ? 0 : -1;
}

void andon_arena_free(andon_arena_t *a)
{
	free(a->buf);
	a->buf = NULL;
	a->cap = a->used = 0;
}

void andon_arena_reset(andon_arena_t *a)
{
	a->used = 0;
}

void *andon_arena_alloc(andon_arena_t *a, size_t len)
{
	char *p;

	if (a->cap - a->used < len)
		return NULL;
	p = a->buf + a->used;
	a->used += len;
	return p;
}

int andon_arena_write(void *data, const char *buf, size_t len)
{
	char *p = andon_arena_alloc(data, len);

	if (p == NULL)
		return -1;
	memcpy(p, buf, len);
	return 0;
}

const char *andon_arena_strndup(andon_arena_t *a, const char *s, size_t len)
{
	char *p = andon_arena_alloc(a, len + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

const char *andon_arena_printf(andon_arena_t *a, size_t *len, const char *fmt, ...)
{
	va_list ap;
	char *p = a->buf + a->used;
	size_t room = a->cap - a->used;
	int n;

	/* Formats straight into the arena: no fixed buffer to outgrow, and a result that does not fit is
	 * an overflow (NULL), never a cut string. */
	va_start(ap, fmt);
	n = vsnprintf(p, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room)
		return NULL;
	a->used += (size_t)n + 1;
	*len = (size_t)n;
	return p;
}

static void push(andon_call_t *c, const char *s, size_t len)
{
	if (s == NULL || c->argc == ANDON_CALL_MAX_ARGS) {
		c->overflow = 1;
		return;
	}
	c->argv[c->argc] = s;
	c->argvlen[c->argc] = len;
	c->argc++;
}

void andon_call_begin(andon_call_t *c, const char *fn)
{
	c->argc = 0;
	c->nkeys = 0;
	c->overflow = 0;
	c->skip = 0;
	c->resolve = NULL;
	c->build = NULL;
	push(c, "FCALL", 5);
	push(c, fn, strlen(fn));
	push(c, "0", 1); /* numkeys, fixed up as keys are added */
}

void andon_call_command(andon_call_t *c, const char *name)
{
	c->argc = 0;
	c->nkeys = 0;
	c->overflow = 0;
	c->skip = 0;
	c->resolve = NULL;
	c->build = NULL;
	push(c, name, strlen(name));
}

void andon_call_key(andon_call_t *c, andon_arena_t *a, const char *id, size_t id_len, const char *suffix)
{
	static const char *const counts[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
	size_t slen = strlen(suffix), len = 7 + id_len + 2 + slen;
	char *p;

	if (c->argc != 3 + c->nkeys || c->nkeys == 9 || a->cap - a->used < len + 1) {
		c->overflow = 1;
		return;
	}
	p = a->buf + a->used;
	memcpy(p, "andon:{", 7);
	memcpy(p + 7, id, id_len);
	memcpy(p + 7 + id_len, "}:", 2);
	memcpy(p + 9 + id_len, suffix, slen + 1);
	a->used += len + 1;
	push(c, p, len);
	c->nkeys++;
	c->argv[2] = counts[c->nkeys];
}

void andon_call_arg(andon_call_t *c, const char *s, size_t len)
{
	push(c, s, len);
}

void andon_call_field(andon_call_t *c, const char *name, const char *s, size_t len)
{
	push(c, name, strlen(name));
	push(c, s, len);
}
