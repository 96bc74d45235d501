/* 0010-log: log lines as text and as JSON (lib/log.c): every JSON line is one valid object with time, level,
 * message and, on a line about a request, its id; nothing a message holds can break a line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Runs fn with stderr going to a temporary file; returns what it wrote (caller frees). */
static char *capture(void (*fn)(void))
{
	FILE *tmp = tmpfile();
	int saved = dup(2);
	long size;
	char *text;

	assert_non_null(tmp);
	assert_true(saved >= 0);
	fflush(stderr);
	assert_true(dup2(fileno(tmp), 2) >= 0);
	fn();
	fflush(stderr);
	assert_true(dup2(saved, 2) >= 0);
	close(saved);
	size = ftell(tmp);
	assert_true(size >= 0);
	text = calloc(1, (size_t)size + 1);
	assert_non_null(text);
	rewind(tmp);
	assert_int_equal(fread(text, 1, (size_t)size, tmp), (size_t)size);
	fclose(tmp);
	return text;
}

static void write_json_lines(void)
{
	char big[5000];

	andon_log_format = ANDON_LOG_JSON;
	andon_log_level = ANDON_LOG_INFO;
	andon_info("plain %d", 42);
	andon_warn("quote \" backslash \\ newline \n tab \t bell \a bad \xff\xfe utf8 \xc3\xa9 end");
	andon_log_req(ANDON_LOG_ERROR, "req-\"1\"", 7, "about a request");
	andon_debug("not shown at info");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[10] = '"'; /* escapes make the line longer than the message */
	andon_info("%s%s", big, big);
	andon_log_format = ANDON_LOG_TEXT;
}

static void test_json_lines(void **state)
{
	char *text = capture(write_json_lines), *line, *save = NULL;
	json_t *objs[4];
	size_t n = 0;

	(void)state;
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		json_error_t e;
		json_t *o = json_loads(line, 0, &e);

		if (o == NULL)
			fail_msg("not JSON (%s): %s", e.text, line);
		assert_true(n < 4);
		objs[n++] = o;
	}
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++) {
		const char *t = json_string_value(json_object_get(objs[i], "time"));

		assert_non_null(t);
		assert_int_equal(strlen(t), 24); /* 2024-05-01T12:00:00.123Z */
		assert_int_equal(t[23], 'Z');
		assert_non_null(json_string_value(json_object_get(objs[i], "message")));
	}
	assert_string_equal(json_string_value(json_object_get(objs[0], "level")), "info");
	assert_string_equal(json_string_value(json_object_get(objs[0], "message")), "plain 42");
	assert_null(json_object_get(objs[0], "request_id"));
	assert_string_equal(json_string_value(json_object_get(objs[1], "level")), "warn");
	assert_string_equal(
	    json_string_value(json_object_get(objs[1], "message")),
	    "quote \" backslash \\ newline \n tab \t bell \a bad \xef\xbf\xbd\xef\xbf\xbd utf8 "
	    "\xc3\xa9 end");
	assert_string_equal(json_string_value(json_object_get(objs[2], "level")), "error");
	assert_string_equal(json_string_value(json_object_get(objs[2], "request_id")), "req-\"1\"");
	/* A message longer than a line is cut, but the line stays one whole object. */
	assert_true(strlen(json_string_value(json_object_get(objs[3], "message"))) > 1000);
	for (size_t i = 0; i < n; i++)
		json_decref(objs[i]);
	free(text);
}

static void write_text_lines(void)
{
	andon_log_format = ANDON_LOG_TEXT;
	andon_log_level = ANDON_LOG_WARN;
	andon_info("hidden");
	andon_warn("shown %s", "here");
	andon_log_req(ANDON_LOG_WARN, "id\nforged", 9, "about it");
	andon_log_level = ANDON_LOG_INFO;
}

static void test_text_lines(void **state)
{
	char *text = capture(write_text_lines);

	(void)state;
	assert_null(strstr(text, "hidden"));
	assert_non_null(strstr(text, "Z warn shown here\n"));
	/* A request id cannot start a line of its own. */
	assert_non_null(strstr(text, "Z warn [id?forged] about it\n"));
	free(text);
}

static void test_parse_names(void **state)
{
	(void)state;
	assert_int_equal(andon_log_format_parse("json"), ANDON_LOG_JSON);
	assert_int_equal(andon_log_format_parse("text"), ANDON_LOG_TEXT);
	assert_int_equal(andon_log_format_parse("JSON"), -1);
	assert_int_equal(andon_log_format_parse(""), -1);
	assert_string_equal(andon_log_format_name(ANDON_LOG_JSON), "json");
	assert_string_equal(andon_log_level_name(ANDON_LOG_DEBUG), "debug");
	assert_int_equal(andon_log_level_parse("warn"), ANDON_LOG_WARN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_lines),
	    cmocka_unit_test(test_text_lines),
	    cmocka_unit_test(test_parse_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
