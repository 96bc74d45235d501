/* 0005-call: unit tests for building FCALL argument vectors and the per-batch arena behind them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "call.h"

/* argv[i] is exactly s (argv entries are length-delimited, not necessarily NUL-terminated). */
static void assert_arg(const andon_call_t *c, int i, const char *s)
{
	assert_true(i < c->argc);
	if (c->argvlen[i] != strlen(s) || memcmp(c->argv[i], s, c->argvlen[i]) != 0)
		fail_msg("argv[%d] is \"%.*s\", expected \"%s\"", i, (int)c->argvlen[i], c->argv[i], s);
}

static int setup_arena(void **state)
{
	static andon_arena_t a;

	if (andon_arena_init(&a, 4096) != 0)
		return -1;
	*state = &a;
	return 0;
}

static int teardown_arena(void **state)
{
	andon_arena_free(*state);
	return 0;
}

static void test_begin(void **state)
{
	andon_call_t c;

	(void)state;
	memset(&c, 0x5a, sizeof(c)); /* begin must not depend on prior contents */
	andon_call_begin(&c, "sfn_stop");
	assert_int_equal(c.argc, 3);
	assert_int_equal(c.nkeys, 0);
	assert_int_equal(c.overflow, 0);
	assert_arg(&c, 0, "FCALL");
	assert_arg(&c, 1, "sfn_stop");
	assert_arg(&c, 2, "0");
}

static void test_key_format(void **state)
{
	andon_arena_t *a = *state;
	andon_call_t c;

	andon_call_begin(&c, "f");
	andon_call_key(&c, a, "exec-1", 6, "x");
	assert_int_equal(c.overflow, 0);
	assert_int_equal(c.argc, 4);
	assert_int_equal(c.nkeys, 1);
	assert_arg(&c, 3, "andon:{exec-1}:x");
	/* The key is NUL-terminated in the arena too, and lives there. */
	assert_string_equal(c.argv[3], "andon:{exec-1}:x");
	assert_true(c.argv[3] >= a->buf && c.argv[3] < a->buf + a->cap);
	assert_int_equal(a->used, strlen("andon:{exec-1}:x") + 1);

	/* Only id_len bytes of id are used: ids point into messages and are not NUL-terminated. */
	andon_call_key(&c, a, "arn:aws:states:TRAILING", 14, "hist");
	assert_arg(&c, 4, "andon:{arn:aws:states}:hist");
	/* An empty suffix and an id with colons and braces are copied as they are. */
	andon_call_key(&c, a, "a:{b}", 5, "");
	assert_arg(&c, 5, "andon:{a:{b}}:");
	assert_int_equal(c.overflow, 0);
}

static void test_numkeys(void **state)
{
	andon_arena_t *a = *state;
	andon_call_t c;
	char want[4];

	andon_call_begin(&c, "f");
	for (int k = 1; k <= 9; k++) {
		andon_call_key(&c, a, "id", 2, "k");
		assert_int_equal(c.overflow, 0);
		assert_int_equal(c.nkeys, k);
		assert_int_equal(c.argc, 3 + k);
		snprintf(want, sizeof(want), "%d", k);
		assert_arg(&c, 2, want);
	}
	/* numkeys is a single digit: a tenth key is refused, never written as a wrong count. */
	andon_call_key(&c, a, "id", 2, "k");
	assert_int_equal(c.overflow, 1);
	assert_int_equal(c.nkeys, 9);
	assert_int_equal(c.argc, 12);
	assert_arg(&c, 2, "9");
}

static void test_args_after_keys(void **state)
{
	andon_arena_t *a = *state;
	andon_call_t c;
	const char msg[] = "req-42StepFunctions.StopExecution";

	andon_call_begin(&c, "sfn_stop");
	andon_call_key(&c, a, "e", 1, "x");
	andon_call_key(&c, a, "e", 1, "h");
	andon_call_arg(&c, msg, 6);
	andon_call_arg(&c, msg + 6, sizeof(msg) - 1 - 6);
	andon_call_field(&c, "error", "Boom", 4);
	assert_int_equal(c.overflow, 0);
	assert_int_equal(c.argc, 9);
	assert_int_equal(c.nkeys, 2);
	assert_arg(&c, 2, "2");
	assert_arg(&c, 3, "andon:{e}:x");
	assert_arg(&c, 4, "andon:{e}:h");
	assert_arg(&c, 5, "req-42");
	assert_arg(&c, 6, "StepFunctions.StopExecution");
	assert_arg(&c, 7, "error");
	assert_arg(&c, 8, "Boom");
	/* Arguments are not copied: they point at the caller's bytes. */
	assert_ptr_equal(c.argv[5], msg);
	assert_ptr_equal(c.argv[6], msg + 6);

	/* A key after an argument would be read as an argument by Redis: refused. */
	andon_call_key(&c, a, "e", 1, "r");
	assert_int_equal(c.overflow, 1);
	assert_int_equal(c.argc, 9);
	assert_int_equal(c.nkeys, 2);
	assert_arg(&c, 2, "2");

	/* begin starts afresh, overflow cleared. */
	andon_call_begin(&c, "g");
	assert_int_equal(c.overflow, 0);
	assert_int_equal(c.argc, 3);
	assert_arg(&c, 2, "0");
}

static void test_arena_too_small(void **state)
{
	andon_arena_t a;
	andon_call_t c;
	/* "andon:{abc}:x" is 13 bytes, 14 with its NUL. */
	(void)state;
	assert_int_equal(andon_arena_init(&a, 14), 0);
	andon_call_begin(&c, "f");
	andon_call_key(&c, &a, "abc", 3, "x");
	assert_int_equal(c.overflow, 0);
	assert_int_equal(a.used, 14);
	assert_arg(&c, 3, "andon:{abc}:x");

	andon_call_key(&c, &a, "", 0, ""); /* needs 10 bytes, none left */
	assert_int_equal(c.overflow, 1);
	assert_int_equal(c.argc, 4);
	assert_int_equal(c.nkeys, 1);
	assert_arg(&c, 2, "1");
	assert_int_equal(a.used, 14);
	andon_arena_free(&a);

	assert_int_equal(andon_arena_init(&a, 13), 0); /* one byte short */
	andon_call_begin(&c, "f");
	andon_call_key(&c, &a, "abc", 3, "x");
	assert_int_equal(c.overflow, 1);
	assert_int_equal(c.argc, 3);
	assert_int_equal(c.nkeys, 0);
	assert_arg(&c, 2, "0");
	assert_int_equal(a.used, 0);
	andon_arena_free(&a);
}

static void test_argv_full(void **state)
{
	andon_call_t c;

	(void)state;
	andon_call_begin(&c, "f");
	while (c.argc < ANDON_CALL_MAX_ARGS) {
		andon_call_arg(&c, "v", 1);
		assert_int_equal(c.overflow, 0);
	}
	andon_call_arg(&c, "w", 1);
	assert_int_equal(c.overflow, 1);
	assert_int_equal(c.argc, ANDON_CALL_MAX_ARGS);
	assert_arg(&c, ANDON_CALL_MAX_ARGS - 1, "v");

	/* A field needs two slots: with one left, the call overflows. */
	andon_call_begin(&c, "f");
	while (c.argc < ANDON_CALL_MAX_ARGS - 1)
		andon_call_arg(&c, "v", 1);
	assert_int_equal(c.overflow, 0);
	andon_call_field(&c, "name", "value", 5);
	assert_int_equal(c.overflow, 1);
	assert_true(c.argc <= ANDON_CALL_MAX_ARGS);
}

static void test_null_arg(void **state)
{
	andon_call_t c;

	(void)state;
	/* A failed andon_arena_strndup passes NULL along: that must show as overflow, not a NULL argv entry.
	 */
	andon_call_begin(&c, "f");
	andon_call_arg(&c, NULL, 3);
	assert_int_equal(c.overflow, 1);
	assert_int_equal(c.argc, 3);
	andon_call_begin(&c, "f");
	andon_call_field(&c, "name", NULL, 0);
	assert_int_equal(c.overflow, 1);
	for (int i = 0; i < c.argc; i++)
		assert_non_null(c.argv[i]);
}

static void test_strndup(void **state)
{
	andon_arena_t a;
	const char *p, *q;

	(void)state;
	assert_int_equal(andon_arena_init(&a, 8), 0);
	p = andon_arena_strndup(&a, "hello world", 5);
	assert_non_null(p);
	assert_string_equal(p, "hello");
	assert_int_equal(a.used, 6);
	assert_null(andon_arena_strndup(&a, "abc", 2)); /* needs 3, 2 left */
	assert_int_equal(a.used, 6);
	q = andon_arena_strndup(&a, "a", 1); /* exactly fits */
	assert_non_null(q);
	assert_string_equal(q, "a");
	assert_string_equal(p, "hello"); /* earlier copies intact */
	assert_int_equal(a.used, 8);
	assert_null(andon_arena_strndup(&a, "", 0));
	andon_arena_free(&a);
	assert_null(a.buf);
	assert_int_equal(a.cap, 0);
	assert_int_equal(a.used, 0);
	/* A freed arena refuses everything instead of writing through NULL. */
	assert_null(andon_arena_strndup(&a, "", 0));
}

static void test_arena_reset(void **state)
{
	andon_arena_t *a = *state;
	andon_call_t c;
	const char *first;

	andon_call_begin(&c, "f");
	andon_call_key(&c, a, "one", 3, "x");
	first = c.argv[3];
	assert_ptr_equal(first, a->buf);
	assert_true(a->used > 0);
	andon_arena_reset(a);
	assert_int_equal(a->used, 0);
	assert_int_equal(a->cap, 4096);
	/* The next batch reuses the same bytes from the start. */
	andon_call_begin(&c, "f");
	andon_call_key(&c, a, "two", 3, "y");
	assert_ptr_equal(c.argv[3], a->buf);
	assert_arg(&c, 3, "andon:{two}:y");

	/* Filling the arena, resetting, and filling again works the same way each time. */
	for (int round = 0; round < 3; round++) {
		int n = 0;

		andon_arena_reset(a);
		while (andon_arena_strndup(a, "0123456789abcdef", 16) != NULL)
			n++;
		assert_int_equal(n, 4096 / 17);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_begin),
	    cmocka_unit_test_setup_teardown(test_key_format, setup_arena, teardown_arena),
	    cmocka_unit_test_setup_teardown(test_numkeys, setup_arena, teardown_arena),
	    cmocka_unit_test_setup_teardown(test_args_after_keys, setup_arena, teardown_arena),
	    cmocka_unit_test(test_arena_too_small),
	    cmocka_unit_test(test_argv_full),
	    cmocka_unit_test(test_null_arg),
	    cmocka_unit_test(test_strndup),
	    cmocka_unit_test_setup_teardown(test_arena_reset, setup_arena, teardown_arena),
	};

	return cmocka_run_group_tests_name("0005-call", tests, NULL, NULL);
}
