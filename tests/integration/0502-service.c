/*
 * 0502: the worker under a service manager, with a NOTIFY_SOCKET of the test's own: READY=1 once it has
 * its partitions, WATCHDOG=1 while the loop turns and none while it is stuck (and /healthz says 503 then,
 * while /metrics still answers), RELOADING=1 and READY=1 around a SIGHUP that applies the new limits,
 * throttle rates and log format and names what needs a restart, STOPPING=1 on SIGTERM. Runs the test build
 * of the worker, whose Test.Sleep op stalls the loop on cue.
 */
#include "harness-cflow.h"
#include "harness-http.h"
#include "harness-sagemaker.h"
#include "harness.h"

#include <jansson.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define WATCHDOG_USEC "300000" /* a ping every 150 ms */

static int sock = -1, port;
static pid_t pid;
static char conf[600];

/* The next datagram on the notify socket, waiting up to timeout_ms; 0, or -1 when none came. */
static int next_notice(char *buf, size_t size, int timeout_ms)
{
	struct pollfd p = {sock, POLLIN, 0};
	ssize_t n;

	if (poll(&p, 1, timeout_ms) <= 0 || (n = recv(sock, buf, size - 1, 0)) < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* Waits for a datagram holding line (e.g. "READY=1"); counts the WATCHDOG=1 ones seen on the way. */
static int wait_notice(const char *line, int timeout_ms, int *watchdogs)
{
	long long deadline = h_now_ms() + timeout_ms;
	char buf[1024];

	while (h_now_ms() < deadline) {
		if (next_notice(buf, sizeof(buf), (int)(deadline - h_now_ms())) != 0)
			break;
		if (watchdogs != NULL && strstr(buf, "WATCHDOG=1") != NULL)
			(*watchdogs)++;
		/* A line of its own in the datagram: "READY=1" is not "RELOADING=1". */
		if (strncmp(buf, line, strlen(line)) == 0 ||
		    (strstr(buf, line) != NULL && strstr(buf, line)[-1] == '\n'))
			return 0;
	}
	return -1;
}

/* Drops every datagram waiting; returns how many held WATCHDOG=1. */
static int drain(void)
{
	char buf[1024];
	int w = 0;

	while (next_notice(buf, sizeof(buf), 0) == 0)
		w += strstr(buf, "WATCHDOG=1") != NULL;
	return w;
}

static void write_conf(const char *text)
{
	FILE *fp = fopen(conf, "w");

	assert_non_null(fp);
	assert_true(fputs(text, fp) >= 0);
	assert_int_equal(fclose(fp), 0);
}

static int log_has(const char *needle)
{
	FILE *fp = fopen(h_worker_log(pid), "r");
	char line[8192];
	int found = 0;

	while (fp != NULL && !found && fgets(line, sizeof(line), fp) != NULL)
		found = strstr(line, needle) != NULL;
	if (fp != NULL)
		fclose(fp);
	return found;
}

/* The first log line holding needle, parsed as a JSON object (fails the test when it is not one). */
static json_t *json_line(const char *needle, int timeout_ms)
{
	long long deadline = h_now_ms() + timeout_ms;

	for (;;) {
		FILE *fp = fopen(h_worker_log(pid), "r");
		char line[8192];
		json_t *o = NULL;

		while (fp != NULL && o == NULL && fgets(line, sizeof(line), fp) != NULL) {
			json_error_t e;

			if (strstr(line, needle) == NULL)
				continue;
			if ((o = json_loads(line, 0, &e)) == NULL)
				fail_msg("log line is not JSON (%s): %s", e.text, line);
		}
		if (fp != NULL)
			fclose(fp);
		if (o != NULL)
			return o;
		if (h_now_ms() >= deadline)
			fail_msg("no log line with \"%s\" within %d ms", needle, timeout_ms);
		h_sleep_ms(20);
	}
}

static const char *code(json_t *reply)
{
	return json_string_value(json_object_get(json_object_get(reply, "error"), "code"));
}

/* A DescribeExecution of size bytes or so: the body pads itself with an extra field. */
static json_t *sized_describe(size_t size)
{
	char *pad = malloc(size + 1);
	json_t *r;

	memset(pad, 'p', size);
	pad[size] = '\0';
	r = h_call("StepFunctions.DescribeExecution",
		   json_pack("{s:s, s:s}", "executionArn",
			     "arn:aws:states:" H_REGION ":" H_ACCOUNT ":execution:sized:one", "pad", pad));
	free(pad);
	return r;
}

static void ready_after_assignment(void **state)
{
	int watchdogs = 0;

	(void)state;
	assert_int_equal(wait_notice("READY=1", 60000, &watchdogs), 0);
	/* READY=1 is sent from the rebalance callback, after the assignment it logs. */
	assert_true(log_has("assigned "));
	assert_non_null(h_call("StepFunctions.DescribeExecution",
			       json_pack("{s:s}", "executionArn",
					 "arn:aws:states:" H_REGION ":" H_ACCOUNT ":execution:probe:probe")));
	port = hh_port(pid);
	assert_int_equal(hh_get(port, "/readyz", NULL, NULL, 0), 200);
}

static void watchdog_pings_while_the_loop_turns(void **state)
{
	long long end;
	int n;

	(void)state;
	drain();
	for (n = 0, end = h_now_ms() + 1000; h_now_ms() < end;) {
		char buf[256];

		if (next_notice(buf, sizeof(buf), (int)(end - h_now_ms())) == 0)
			n += strstr(buf, "WATCHDOG=1") != NULL;
	}
	fprintf(stderr, "0502: %d WATCHDOG=1 in 1 s (WATCHDOG_USEC=%s)\n", n, WATCHDOG_USEC);
	assert_true(n >= 3);
	assert_true(n <= 12);
}

/* Test.Sleep holds the main loop 2.5 s: /healthz 503 (limit 1 s), no WATCHDOG=1, /metrics still served. */
static void a_stalled_loop_is_unhealthy(void **state)
{
	const char *id = h_send("Test.Sleep", NULL, NULL, json_pack("{s:i}", "ms", 2500));
	char *body = NULL;
	long long deadline;
	int status;
	prom_t *p;

	(void)state;
	h_flush();
	for (deadline = h_now_ms() + 5000; (status = hh_get(port, "/healthz", &body, NULL, 0)) != 503;
	     free(body)) {
		if (h_now_ms() >= deadline)
			fail_msg("/healthz still %d during the stall", status);
		h_sleep_ms(20);
	}
	assert_non_null(strstr(body, "main loop stalled for"));
	free(body);
	drain();
	p = hh_scrape(port); /* the HTTP thread does not wait for the loop */
	assert_true(prom_has(p, "andon_uptime_seconds", NULL));
	prom_free(p);
	h_sleep_ms(500);
	assert_int_equal(drain(), 0); /* stuck: no ping */
	assert_string_equal(code(h_reply(id, 1, 10000)), "TestSlept");
	assert_int_equal(wait_notice("WATCHDOG=1", 2000, NULL), 0);
	assert_int_equal(hh_get(port, "/healthz", NULL, NULL, 0), 200);
}

static void sighup_reloads_what_can_change(void **state)
{
	static const char *const stops[] = {"a-0", "a-1", "a-2"};
	const char *ids[3], *bad;
	int throttled = 0;
	json_t *line, *r;
	const char *msg;

	(void)state;
	/* Before: 2 KiB requests at most, no throttle. */
	assert_string_equal(code(sized_describe(3000)), "EntityTooLarge");
	hcf_flow(NULL, "reload", "{\"Type\": \"StateMachine\"}");
	hcf_start_many(NULL, "reload", "a", 3, 1);
	for (int i = 0; i < 3; i++)
		ids[i] = h_send("CloudFlow.StopExecution", NULL, NULL, hcf_body("reload", stops[i]));
	h_flush();
	for (int i = 0; i < 3; i++)
		assert_true(json_is_true(json_object_get(h_reply(ids[i], 1, 20000), "ok")));

	write_conf("worker.http_listen = 127.0.0.1:0\n"
		   "worker.health_stall_ms = 1000\n"
		   "worker.max_message_bytes = 400000\n"
		   "worker.batch_size = 8\n"
		   "worker.log_format = json\n"
		   "cloudflow.rate = 1\n"
		   "cloudflow.burst = 1\n"
		   "redis.timeout_ms = 1234\n");
	drain();
	assert_int_equal(kill(pid, SIGHUP), 0);
	assert_int_equal(wait_notice("RELOADING=1", 10000, NULL), 0);
	assert_int_equal(wait_notice("READY=1", 10000, NULL), 0);

	/* Logged as JSON lines from now on: what was applied, and what needs a restart. */
	line = json_line("reload: applied", 10000);
	msg = json_string_value(json_object_get(line, "message"));
	assert_string_equal(json_string_value(json_object_get(line, "level")), "info");
	assert_non_null(strstr(msg, "worker.max_message_bytes=400000"));
	assert_non_null(strstr(msg, "worker.log_format=json"));
	assert_non_null(strstr(msg, "cloudflow.rate=1"));
	assert_non_null(strstr(msg, "cloudflow.burst=1"));
	assert_null(strstr(msg, "batch_size"));
	json_decref(line);
	line = json_line("need a restart", 10000);
	assert_string_equal(json_string_value(json_object_get(line, "level")), "warn");
	assert_non_null(strstr(json_string_value(json_object_get(line, "message")),
			       "redis.timeout_ms, worker.batch_size"));
	json_decref(line);

	/* The new limit: a 3000-byte request is read (an answer about the execution, not its size); and a
	 * callback step with 300 KB of Arguments, which the adapter packs into the batch arena, starts: the
	 * arena sized at start (73 KB for 2 KiB requests) grew with the limit. */
	assert_string_equal(code(sized_describe(3000)), "ExecutionDoesNotExist");
	{
		char *pad = malloc(300001), *arn = hs_start("reloaded");

		memset(pad, 'a', 300000);
		pad[300000] = '\0';
		r = h_call("SageMaker.StartPipelineExecutionStep",
			   json_pack("{s:s, s:s, s:s, s:{s:s}}", "PipelineExecutionArn", arn, "StepName",
				     "big", "StepType", "Callback", "Arguments", "payload", pad));
		if (!json_is_true(json_object_get(r, "ok")))
			fail_msg("a 300 KB step start was answered %s", code(r));
		free(pad);
		free(arn);
	}

	/* The new throttle: one stop a second for the flow, so a burst of three is not all let through. */
	hcf_start_many(NULL, "reload", "b", 3, 1);
	for (int i = 0; i < 3; i++) {
		char name[8];

		snprintf(name, sizeof(name), "b-%d", i);
		ids[i] = h_send("CloudFlow.StopExecution", NULL, NULL, hcf_body("reload", name));
	}
	h_flush();
	for (int i = 0; i < 3; i++) {
		const char *c = code(h_reply(ids[i], 1, 20000));

		throttled += c != NULL && strcmp(c, "ResourceThrottled") == 0;
	}
	assert_true(throttled >= 1);

	/* A line about one request carries its id. */
	bad = h_send("StepFunctions.Bogus", NULL, NULL, json_object());
	h_flush();
	assert_non_null(h_reply(bad, 1, 20000));
	line = json_line(bad, 10000);
	assert_string_equal(json_string_value(json_object_get(line, "request_id")), bad);
	assert_non_null(strstr(json_string_value(json_object_get(line, "message")), "dead-lettered"));
	json_decref(line);
}

static void stopping_on_sigterm(void **state)
{
	(void)state;
	drain();
	assert_int_equal(h_worker_stop(), 0); /* SIGTERM; exit status 0 */
	/* The datagrams wait in the socket: STOPPING=1 came before the exit. */
	assert_int_equal(wait_notice("STOPPING=1", 1000, NULL), 0);
}

static int setup(void **state)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};

	(void)state;
	h_start();
	snprintf(a.sun_path, sizeof(a.sun_path), "%s/notify", h_dir());
	snprintf(conf, sizeof(conf), "%s/andon.conf", h_dir());
	if ((sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(sock, (struct sockaddr *)&a, sizeof(a)) != 0)
		return -1;
	write_conf("worker.http_listen = 127.0.0.1:0\n"
		   "worker.health_stall_ms = 1000\n"
		   "worker.max_message_bytes = 2048\n"
		   "worker.batch_size = 4\n");
	/* The worker inherits the environment it is spawned with: only it gets these. */
	setenv("NOTIFY_SOCKET", a.sun_path, 1);
	setenv("WATCHDOG_USEC", WATCHDOG_USEC, 1);
	h_worker_program(h_test_worker());
	h_worker_config(conf);
	pid = h_worker_spawn(NULL);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	h_stop();
	if (sock >= 0)
		close(sock);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(ready_after_assignment),
	    cmocka_unit_test(watchdog_pings_while_the_loop_turns),
	    cmocka_unit_test(a_stalled_loop_is_unhealthy),
	    cmocka_unit_test(sighup_reloads_what_can_change),
	    cmocka_unit_test(stopping_on_sigterm),
	};

	return cmocka_run_group_tests_name("0502-service", tests, setup, teardown);
}
