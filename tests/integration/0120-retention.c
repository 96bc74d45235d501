/* 0120: retention (docs/REDIS.md, Lifetime): closed executions of every API expire with their history,
 * answers and lookup keys after their API's retention; running ones never do; a request older than the
 * retention is refused with RequestExpired before Redis, and so is its replay by andon-replay. The worker
 * runs with retentions of a few seconds. */
#include "harness-cflow.h"
#include "harness-http.h"
#include "harness-sagemaker.h"
#include "harness-swf.h"
#include "harness.h"

#include "json.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define RET_S 3 /* every API's retention in this test, seconds */

static const char *const opts[] = {"retention.stepfunctions=3s",     "retention.sagemaker=3s",
				   "retention.cloudflow=3s",	     "retention.swf=3s",
				   "worker.http_listen=127.0.0.1:0", NULL};

static char *machine;
static int port; /* the worker's metrics */

static int setup(void **state)
{
	(void)state;
	h_start();
	port = hh_port(h_worker_start(opts));
	machine = h_sfn_machine("retention", "STANDARD");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(machine);
	return h_group_teardown();
}

static long long wall_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static long long ttl(const char *key)
{
	redisReply *r = h_redis("TTL %s", key);
	long long t = r->integer;

	freeReplyObject(r);
	return t;
}

/* Keys matching pattern, as a count. */
static size_t count_keys(const char *pattern)
{
	redisReply *r = h_redis("KEYS %s", pattern);
	size_t n = r->elements;

	freeReplyObject(r);
	return n;
}

/* Waits (deadline: the retention and 15 s more) until no key matches pattern. */
static void wait_gone(const char *pattern)
{
	long long deadline = h_now_ms() + (RET_S + 15) * 1000;

	while (count_keys(pattern) > 0) {
		if (h_now_ms() > deadline)
			fail_msg("keys %s still there after %d s", pattern, RET_S + 15);
		h_sleep_ms(100);
	}
}

/* The reply's error code; "" when it has none (printed, for the failure at hand). */
static const char *error_code(json_t *r)
{
	const char *code = json_string_value(json_object_get(json_object_get(r, "error"), "code"));

	if (code == NULL) {
		fprintf(stderr, "reply without an error: ");
		json_dumpf(r, stderr, JSON_COMPACT);
		fprintf(stderr, "\n");
	}
	return code != NULL ? code : "";
}

static int is_ok(json_t *r)
{
	if (r != NULL && json_is_true(json_object_get(r, "ok")))
		return 1;
	fprintf(stderr, "not ok: ");
	json_dumpf(r, stderr, JSON_COMPACT);
	fprintf(stderr, "\n");
	return 0;
}

/* A stopped Step Functions execution expires with its history and answers; a running one never does. */
static void sfn_closed_execution_expires(void **state)
{
	char *done = h_sfn_start(machine, "closed"), *open = h_sfn_start(machine, "open");
	char x[600], h[600], r[600], ox[600];
	json_t *rep;

	(void)state;
	snprintf(x, sizeof(x), "andon:{%s}:x", done);
	snprintf(h, sizeof(h), "andon:{%s}:h", done);
	snprintf(r, sizeof(r), "andon:{%s}:r", done);
	snprintf(ox, sizeof(ox), "andon:{%s}:x", open);
	assert_true(is_ok(h_call("StepFunctions.StopExecution", json_pack("{s:s}", "executionArn", done))));
	/* Closed: every key of it counts down from the retention; the open one has no expiry. */
	for (const char *k = x; k != NULL; k = k == x ? h : k == h ? r : NULL) {
		long long t = ttl(k);

		if (t <= 0 || t > RET_S)
			fail_msg("%s: TTL %lld, expected 1..%d", k, t, RET_S);
	}
	assert_int_equal(ttl(ox), -1);
	/* A request about it after the close writes an answer that expires with it, never one that stays. */
	rep = h_call("StepFunctions.FinishExecution",
		     json_pack("{s:s, s:s}", "executionArn", done, "status", "SUCCEEDED"));
	assert_string_equal(error_code(rep), "ExecutionNotRunning");
	assert_true(ttl(r) > 0);
	wait_gone(x);
	assert_int_equal(count_keys(h), 0);
	assert_int_equal(count_keys(r), 0);
	rep = h_call("StepFunctions.DescribeExecution", json_pack("{s:s}", "executionArn", done));
	assert_string_equal(error_code(rep), "ExecutionDoesNotExist");
	/* The running one is still there, and still running. */
	rep = h_call("StepFunctions.DescribeExecution", json_pack("{s:s}", "executionArn", open));
	assert_true(is_ok(rep));
	assert_string_equal(json_string_value(json_object_get(json_object_get(rep, "body"), "status")),
			    "RUNNING");
	assert_int_equal(ttl(ox), -1);
	free(done);
	free(open);
}

/* Runs andon-replay with args (NULL-terminated) to completion: its exit status. */
static int replay(const char *const *args)
{
	char path[4096], *argv[32];
	int argc = 0, status;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/andon-replay",
		 getenv("ANDON_BIN") ? getenv("ANDON_BIN") : "build/bin");
	argv[argc++] = path;
	while (*args != NULL && argc < 31)
		argv[argc++] = (char *)*args++;
	argv[argc] = NULL;
	if ((pid = fork()) == 0) {
		execv(path, argv);
		_exit(127);
	}
	assert_true(pid > 0);
	while (waitpid(pid, &status, 0) < 0)
		assert_int_equal(errno, EINTR);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * A StartExecution whose Kafka timestamp is older than the retention is refused before Redis: an error
 * reply RequestExpired (400), a DLQ record that keeps the original's timestamp, and no execution. Replayed
 * from the DLQ by andon-replay, which keeps that timestamp, it is refused again: nothing comes back.
 */
static void old_start_is_refused_and_so_is_its_replay(void **state)
{
	char arn[600], x[640], part[16], from[32], to[32];
	long long old = wall_ms() - (RET_S + 5) * 1000;
	const char *id;
	json_t *rep, *rec, *v;
	size_t before;

	prom_t *m;
	double answered, dead;

	(void)state;
	m = hh_scrape(port);
	answered = prom_sum(m, "andon_requests_answered_total", "code=RequestExpired", NULL);
	dead = prom_sum(m, "andon_dead_letters_total", "reason=RequestExpired", NULL);
	prom_free(m);
	snprintf(arn, sizeof(arn), "%s", machine);
	/* The execution ARN the start would make: stateMachine -> execution, plus the name. */
	{
		char *p = strstr(arn, ":stateMachine:");

		assert_non_null(p);
		snprintf(x, sizeof(x), "andon:{%.*s:execution:%s:old}:x", (int)(p - arn), arn,
			 p + strlen(":stateMachine:"));
	}
	before = json_array_size(h_dlq());
	id = h_send_at("StepFunctions.StartExecution", "old-start-1",
		       json_pack("{s:s, s:s}", "stateMachineArn", machine, "name", "old"), old);
	h_flush();
	rep = h_reply(id, 1, 20000);
	assert_non_null(rep);
	assert_string_equal(error_code(rep), "RequestExpired");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(rep, "error"), "status")), 400);
	assert_int_equal(h_wait_dlq(before + 1, 20000), 0);
	rec = json_array_get(h_dlq(), json_array_size(h_dlq()) - 1);
	v = json_object_get(rec, "value");
	assert_string_equal(json_string_value(json_object_get(v, "code")), "RequestExpired");
	assert_int_equal(json_integer_value(json_object_get(v, "ts")), old);
	assert_int_equal(count_keys(x), 0);

	/* Replayed from the DLQ: refused again, with the same timestamp; still nothing in Redis. */
	snprintf(part, sizeof(part), "%lld",
		 (long long)json_integer_value(json_object_get(rec, "partition")));
	snprintf(from, sizeof(from), "%lld", (long long)json_integer_value(json_object_get(rec, "offset")));
	snprintf(to, sizeof(to), "%lld", (long long)json_integer_value(json_object_get(rec, "offset")) + 1);
	{
		const char *args[] = {"-b", h_brokers(), "-t", "andon.dlq", "-p", part,
				      "-o", from,	 "-E", to,	    NULL};

		assert_int_equal(replay(args), 0);
	}
	rep = h_reply(id, 2, 20000);
	assert_non_null(rep);
	assert_string_equal(error_code(rep), "RequestExpired");
	assert_int_equal(h_wait_dlq(before + 2, 20000), 0);
	v = json_object_get(json_array_get(h_dlq(), json_array_size(h_dlq()) - 1), "value");
	assert_string_equal(json_string_value(json_object_get(v, "code")), "RequestExpired");
	assert_int_equal(json_integer_value(json_object_get(v, "ts")), old);
	assert_int_equal(count_keys(x), 0);

	/* Both refusals counted, as answers and as dead letters. */
	m = hh_scrape(port);
	assert_true(prom_sum(m, "andon_requests_answered_total", "code=RequestExpired", NULL) ==
		    answered + 2);
	assert_true(prom_sum(m, "andon_dead_letters_total", "reason=RequestExpired", NULL) == dead + 2);
	prom_free(m);

	/* The same request made now is served: only the age decided. */
	rep = h_call("StepFunctions.StartExecution",
		     json_pack("{s:s, s:s}", "stateMachineArn", machine, "name", "old"));
	assert_true(is_ok(rep));
	assert_int_equal(count_keys(x), 1);
}

/* A stopped SageMaker execution expires with its callback token's index key (another slot). */
static void sagemaker_expires_with_its_token_key(void **state)
{
	char *arn = hs_start("retention"), *token, tok[128], x[600];
	json_t *rep;

	(void)state;
	rep = h_call_as("SageMaker.StartPipelineExecutionStep", "ret-step-1", NULL,
			json_pack("{s:s, s:s, s:s}", "PipelineExecutionArn", arn, "StepName", "cb",
				  "StepType", "Callback"));
	assert_true(is_ok(rep));
	token = strdup(json_string_value(json_object_get(json_object_get(rep, "body"), "CallbackToken")));
	snprintf(tok, sizeof(tok), "andon:{sm-token:%s}:exec", token);
	snprintf(x, sizeof(x), "andon:{%s}:*", arn);
	assert_int_equal(ttl(tok), -1);
	h_call("SageMaker.StopPipelineExecution", hs_stop_body(arn));
	assert_string_equal(hs_status(arn), "Stopping");
	/* Still running (Stopping): nothing expires. */
	assert_int_equal(ttl(tok), -1);
	assert_true(is_ok(hs_result(token, 1, NULL)));
	assert_int_equal(hs_wait_status(arn, "Stopped", 20000), 0);
	assert_true(ttl(tok) > 0 && ttl(tok) <= RET_S);
	/* A replay of the step's start re-applies its index output: the key keeps its expiry. */
	rep = h_call_as("SageMaker.StartPipelineExecutionStep", "ret-step-1", NULL,
			json_pack("{s:s, s:s, s:s}", "PipelineExecutionArn", arn, "StepName", "cb",
				  "StepType", "Callback"));
	assert_true(is_ok(rep));
	assert_true(ttl(tok) > 0 && ttl(tok) <= RET_S);
	wait_gone(x);
	wait_gone(tok);
	assert_null(hs_describe(arn));
	free(token);
	free(arn);
}

/* Deadlines in every timer shard. */
static long long timers_left(void)
{
	long long n = 0;

	for (int i = 0; i < 16; i++) {
		redisReply *r = h_redis("ZCARD andon:{timers:%d}", i);

		n += r->integer;
		freeReplyObject(r);
	}
	return n;
}

/* A step's deadline that outlives its execution (a 6 s timeout, a 3 s retention) fires once the execution
 * expired, and writes nothing: nothing of the execution comes back. */
static void deadline_after_expiry_writes_nothing(void **state)
{
	char *arn = hs_start("retention-late"), pat[600];
	long long deadline;

	(void)state;
	snprintf(pat, sizeof(pat), "andon:{%s}:*", arn);
	free(hs_step(arn, "fn", "Lambda", NULL, 6));
	assert_int_equal(timers_left(), 1);
	assert_true(is_ok(h_call("SageMaker.FinishPipelineExecutionStep",
				 json_pack("{s:s, s:s, s:s}", "PipelineExecutionArn", arn, "StepName", "fn",
					   "StepStatus", "Succeeded"))));
	assert_true(is_ok(
	    h_call("SageMaker.FinishPipelineExecution", json_pack("{s:s, s:s}", "PipelineExecutionArn", arn,
								  "PipelineExecutionStatus", "Succeeded"))));
	wait_gone(pat);
	/* The deadline is still to come; once it fired (and was removed), the execution is still gone. */
	assert_int_equal(timers_left(), 1);
	for (deadline = h_now_ms() + 30000; timers_left() > 0;) {
		assert_true(h_now_ms() < deadline);
		h_sleep_ms(100);
	}
	assert_int_equal(count_keys(pat), 0);
	free(arn);
}

/* A stopped CloudFlow execution expires; the flow itself stays. */
static void cloudflow_expires(void **state)
{
	(void)state;
	hcf_flow(H_ACCOUNT, "retention", "version: v1\ntype: flow\nsteps:\n  - type: pass\n    name: p\n");
	hcf_start(H_ACCOUNT, "retention", "e1", 1);
	assert_int_equal(count_keys("andon:{cf:*:retention}:x:e1"), 1);
	assert_true(is_ok(h_call("CloudFlow.StopExecution", hcf_body("retention", "e1"))));
	wait_gone("andon:{cf:*:retention}:?:e1");
	assert_int_equal(count_keys("andon:{cf:*:retention}:flow"), 1);
	assert_string_equal(error_code(h_call("CloudFlow.DescribeExecution", hcf_body("retention", "e1"))),
			    "ExecutionNotExists");
}

/*
 * SWF: a domain's workflowExecutionRetentionPeriodInDays decides ("NONE": gone at once, kept one second);
 * without one, retention.swf. A workflowId whose run closed keeps its keys while a new run is open.
 */
static void swf_domain_retention(void **state)
{
	json_t *rep;
	hw_run_t a, b, c;
	char pat[256];

	(void)state;
	rep = h_call("SWF.RegisterDomain", json_pack("{s:s, s:s}", "name", "ret-none",
						     "workflowExecutionRetentionPeriodInDays", "91"));
	assert_string_equal(error_code(rep), "ValidationException");
	assert_true(
	    is_ok(h_call("SWF.RegisterDomain", json_pack("{s:s, s:s}", "name", "ret-none",
							 "workflowExecutionRetentionPeriodInDays", "NONE"))));
	hw_type("ret-none", "t", "1", NULL);
	hw_domain("ret-default", NULL);
	hw_type("ret-default", "t", "1", NULL);

	a = hw_start("ret-none", "w", "t", "1", "TERMINATE");
	assert_true(is_ok(h_call("SWF.TerminateWorkflowExecution", hw_exec(&a, 1))));
	snprintf(pat, sizeof(pat), "andon:{swfw:ret-none:w:*");
	/* One second, then nothing of the workflowId is left. */
	wait_gone(pat);

	b = hw_start("ret-default", "w", "t", "1", "TERMINATE");
	assert_true(is_ok(h_call("SWF.TerminateWorkflowExecution", hw_exec(&b, 1))));
	snprintf(pat, sizeof(pat), "andon:{swfw:ret-default:w:%s}:x:%s", H_ACCOUNT, b.rid);
	assert_true(ttl(pat) > 0 && ttl(pat) <= RET_S);
	/* A new run of the workflowId: its keys w and r no longer expire; the closed run's still do. */
	c = hw_start("ret-default", "w", "t", "1", "TERMINATE");
	snprintf(pat, sizeof(pat), "andon:{swfw:ret-default:w:%s}:w", H_ACCOUNT);
	assert_int_equal(ttl(pat), -1);
	snprintf(pat, sizeof(pat), "andon:{swfw:ret-default:w:%s}:r", H_ACCOUNT);
	assert_int_equal(ttl(pat), -1);
	/* An answer about the closed run does not give the workflow's answers its expiry. */
	rep = h_call("SWF.TerminateWorkflowExecution", hw_exec(&b, 1));
	assert_string_equal(error_code(rep), "UnknownResourceFault");
	assert_int_equal(ttl(pat), -1);
	snprintf(pat, sizeof(pat), "andon:{swfw:ret-default:w:%s}:?:%s", H_ACCOUNT, b.rid);
	wait_gone(pat);
	assert_string_equal(hw_status(&c), "OPEN");
	snprintf(pat, sizeof(pat), "andon:{swfw:ret-default:w:%s}:x:%s", H_ACCOUNT, c.rid);
	assert_int_equal(ttl(pat), -1);
	hw_run_free(&a);
	hw_run_free(&b);
	hw_run_free(&c);
}

/* Many executions started and stopped: once expired, nothing of them is left in Redis but the request id
 * records (worker.request_id_ttl), and the state machine. */
static void memory_returns(void **state)
{
	enum { N = 300 };
	char **arns = h_sfn_start_many(machine, "mem", N);
	const char **ids = calloc(N, sizeof(*ids));
	redisReply *r;

	(void)state;
	assert_non_null(ids);
	for (int i = 0; i < N; i++)
		ids[i] = h_send("StepFunctions.StopExecution", NULL, NULL,
				json_pack("{s:s}", "executionArn", arns[i]));
	h_flush();
	for (int i = 0; i < N; i++)
		assert_true(is_ok(h_reply(ids[i], 1, 30000)));
	assert_true(count_keys("andon:{*:execution:*:mem-*}:*") >= 2 * N);
	wait_gone("andon:{*:execution:*:mem-*}:*");
	r = h_redis("KEYS andon:*");
	for (size_t i = 0; i < r->elements; i++) {
		const char *k = r->element[i]->str;

		/* What may remain: id records, state machines, flows, domains, running executions,
		 * quarantine. */
		if (strstr(k, ":mem-") != NULL)
			fail_msg("key %s of an expired execution remains", k);
	}
	freeReplyObject(r);
	for (int i = 0; i < N; i++)
		free(arns[i]);
	free(arns);
	free(ids);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(sfn_closed_execution_expires),
	    cmocka_unit_test(old_start_is_refused_and_so_is_its_replay),
	    cmocka_unit_test(sagemaker_expires_with_its_token_key),
	    cmocka_unit_test(deadline_after_expiry_writes_nothing),
	    cmocka_unit_test(cloudflow_expires),
	    cmocka_unit_test(swf_domain_retention),
	    cmocka_unit_test(memory_returns),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
