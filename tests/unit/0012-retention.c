/* 0012-retention: each API's retention found from an op or an engine function, the '@ret' field every engine
 * call carries, and the RequestExpired verdict on a request's age (docs/REDIS.md, Lifetime). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "request.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static andon_config_t *cfg;

static int setup(void **state)
{
	char err[256];

	(void)state;
	if ((cfg = andon_config_new()) == NULL ||
	    andon_config_set(cfg, "retention.stepfunctions", "60s", err, sizeof(err)) != 0 ||
	    andon_config_set(cfg, "retention.sagemaker", "2m", err, sizeof(err)) != 0 ||
	    andon_config_set(cfg, "retention.cloudflow", "3h", err, sizeof(err)) != 0 ||
	    andon_config_set(cfg, "retention.swf", "4d", err, sizeof(err)) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	andon_config_destroy(cfg);
	return 0;
}

static void retention_by_api(void **state)
{
	static const struct {
		const char *name;
		int secs;
	} cases[] = {
	    {"StepFunctions.StartExecution", 60},
	    {"sfn_stop", 60},
	    {"SageMaker.StopPipelineExecution", 120},
	    {"sm_timer", 120},
	    {"CloudFlow.StopExecution", 10800},
	    {"cf_finish", 10800},
	    {"SWF.StartWorkflowExecution", 345600},
	    {"swf_timeout", 345600},
	    /* Not an API's: no retention. */
	    {"Test.Crash", 0},
	    {"andon_timers_claim", 0},
	    {"StepFunctions.", 0},
	    {"sfn_", 0},
	    {"SWF", 0},
	    {"", 0},
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		int got = andon_request_retention(cfg, cases[i].name, strlen(cases[i].name));

		if (got != cases[i].secs)
			fail_msg("%s: retention %d, expected %d", cases[i].name, got, cases[i].secs);
	}
}

/* The value of field name of an FCALL, or NULL. */
static const char *field(const andon_call_t *c, const char *name, size_t *len)
{
	for (int i = 3 + c->nkeys; i + 1 < c->argc; i++)
		if (c->argvlen[i] == strlen(name) && memcmp(c->argv[i], name, c->argvlen[i]) == 0) {
			*len = c->argvlen[i + 1];
			return c->argv[i + 1];
		}
	return NULL;
}

/* '@acct' then '@ret' on engine calls; the value lives in the arena, so it outlives the stamping. */
static void stamp(void **state)
{
	andon_arena_t arena;
	andon_call_t c;
	const char *v;
	size_t len;

	(void)state;
	assert_int_equal(andon_arena_init(&arena, 4096), 0);
	andon_call_begin(&c, "swf_terminate");
	andon_call_key(&c, &arena, "swfw:d:w:1", 10, "w");
	andon_call_arg(&c, "id", 2);
	andon_call_arg(&c, "SWF.TerminateWorkflowExecution", 30);
	andon_request_stamp(cfg, &arena, &c, "123456789012");
	assert_int_equal(c.overflow, 0);
	assert_non_null(v = field(&c, "@acct", &len));
	assert_int_equal(len, 12);
	assert_non_null(v = field(&c, "@ret", &len));
	assert_int_equal(len, 6);
	assert_memory_equal(v, "345600", 6);
	assert_true(v >= arena.buf && v < arena.buf + arena.cap);
	/* A function of no API gets the account only; a plain command nothing. */
	andon_call_begin(&c, "andon_timers_claim");
	andon_request_stamp(cfg, &arena, &c, "123456789012");
	assert_non_null(field(&c, "@acct", &len));
	assert_null(field(&c, "@ret", &len));
	andon_call_command(&c, "GET");
	andon_call_arg(&c, "k", 1);
	andon_request_stamp(cfg, &arena, &c, "123456789012");
	assert_int_equal(c.argc, 2);
	/* No room for the value: the call overflows (answered InternalFailure), never a field without it. */
	arena.used = arena.cap;
	andon_call_begin(&c, "sfn_stop");
	andon_request_stamp(cfg, &arena, &c, "123456789012");
	assert_int_equal(c.overflow, 1);
	assert_null(field(&c, "@ret", &len));
	andon_arena_free(&arena);
}

static void expired(void **state)
{
	andon_req_t req;
	andon_apierr_t err;
	const int64_t now = 1800000000000LL;

	(void)state;
	memset(&req, 0, sizeof(req));
	req.op = "StepFunctions.StartExecution";
	req.op_len = strlen(req.op);
	/* 60 s: a request exactly that old is served, a millisecond older is refused. */
	assert_int_equal(andon_request_expired(cfg, &req, now - 60000, now, &err), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(andon_request_expired(cfg, &req, now - 60001, now, &err), -1);
	assert_string_equal(err.code, "RequestExpired");
	assert_int_equal(err.status, 400);
	assert_int_equal(err.bad_input, 1); /* dead-lettered too */
	assert_non_null(strstr(err.message, "60 s"));
	/* Unknown timestamps (no timestamp, -1) and a clock ahead of ours are never refused. */
	assert_int_equal(andon_request_expired(cfg, &req, -1, now, &err), 0);
	assert_int_equal(andon_request_expired(cfg, &req, 0, now, &err), 0);
	assert_int_equal(andon_request_expired(cfg, &req, now + 5000, now, &err), 0);
	/* Each API its own: SWF keeps 4 days. */
	req.op = "SWF.StartWorkflowExecution";
	req.op_len = strlen(req.op);
	assert_int_equal(andon_request_expired(cfg, &req, now - 3 * 86400000LL, now, &err), 0);
	assert_int_equal(andon_request_expired(cfg, &req, now - 5 * 86400000LL, now, &err), -1);
	/* An op of no API (a test op): no retention, never refused. */
	req.op = "Test.Crash";
	req.op_len = strlen(req.op);
	assert_int_equal(andon_request_expired(cfg, &req, 1, now, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(retention_by_api),
	    cmocka_unit_test(stamp),
	    cmocka_unit_test(expired),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
