/* 0105: the command-line tools run as real processes against the worker: flags, output and exit codes. */
#include "harness.h"

#include "codec.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define RUN_TIMEOUT_MS 30000 /* any one tool run; a tool that needs longer is hung */

/* A growing NUL-terminated byte buffer. */
struct buf {
	char *p;
	size_t len, cap;
};

/* One tool process and everything it wrote. */
struct proc {
	pid_t pid;	  /* 0 once reaped */
	int fd[2];	  /* read ends of its stdout and stderr; -1 after EOF */
	struct buf io[2]; /* what it wrote to stdout, stderr */
	int status;	  /* exit status; -1 when it was killed (deadline) or died of a signal */
	long long start;  /* h_now_ms() at spawn */
	long long ms;	  /* spawn to exit */
};

static const char *bin_dir;
static char tmp_dir[64];
static char *sm;
/* Processes between spawn and reap, so the teardown of a failed test can kill them. */
static pid_t live[4];

static void buf_add(struct buf *b, const char *data, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((p = realloc(b->p, cap)) == NULL)
			abort();
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/*
 * Starts BIN/argv[0] with argv, stdin from input (NULL: /dev/null), stdout and stderr into pipes.
 * Returns 0, or -1 when the process could not be created.
 */
static int proc_start(struct proc *p, const char *input, char *const argv[])
{
	int out[2], err[2], in[2] = {-1, -1};
	char path[600];

	memset(p, 0, sizeof(*p));
	p->fd[0] = p->fd[1] = -1;
	snprintf(path, sizeof(path), "%s/%s", bin_dir, argv[0]);
	buf_add(&p->io[0], "", 0);
	buf_add(&p->io[1], "", 0);
	/* Close-on-exec, so no child holds another's pipe open and every EOF comes when its writer exits. */
	if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 ||
	    (input != NULL && pipe2(in, O_CLOEXEC) != 0))
		return -1; /* out of descriptors: the test fails, the few leaked do not matter */
	p->start = h_now_ms();
	if ((p->pid = fork()) < 0)
		return -1;
	if (p->pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(input != NULL ? in[0] : null, 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		execv(path, argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	p->fd[0] = out[0];
	p->fd[1] = err[0];
	if (input != NULL) {
		/* Test inputs are far smaller than a pipe's buffer, so this never waits on the child. */
		close(in[0]);
		if (write(in[1], input, strlen(input)) != (ssize_t)strlen(input))
			fprintf(stderr, "writing stdin of %s: %s\n", argv[0], strerror(errno));
		close(in[1]);
	}
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
		if (live[i] == 0) {
			live[i] = p->pid;
			break;
		}
	return 0;
}

/* Reads stdout and stderr until stdout contains want (NULL: until both close) or the deadline; 0 or -1. */
static int proc_read(struct proc *p, long long deadline, const char *want)
{
	for (;;) {
		struct pollfd pfd[2];
		int which[2], n = 0, left = (int)(deadline - h_now_ms());

		if (want != NULL && strstr(p->io[0].p, want) != NULL)
			return 0;
		for (int i = 0; i < 2; i++)
			if (p->fd[i] >= 0) {
				pfd[n] = (struct pollfd){.fd = p->fd[i], .events = POLLIN};
				which[n++] = i;
			}
		if (n == 0)
			return want == NULL ? 0 : -1;
		if (left <= 0)
			return -1;
		if (poll(pfd, (nfds_t)n, left) < 0 && errno != EINTR)
			return -1;
		for (int j = 0; j < n; j++) {
			char chunk[65536];
			ssize_t got;

			if (pfd[j].revents == 0)
				continue;
			if ((got = read(pfd[j].fd, chunk, sizeof(chunk))) > 0) {
				buf_add(&p->io[which[j]], chunk, (size_t)got);
			} else if (got == 0 || errno != EINTR) {
				close(pfd[j].fd);
				p->fd[which[j]] = -1;
			}
		}
	}
}

static void live_forget(pid_t pid)
{
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
		if (live[i] == pid)
			live[i] = 0;
}

/* SIGKILL and reap. */
static void kill_pid(pid_t pid)
{
	live_forget(pid);
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

/* Kills the process when still running and closes its pipes. Safe to call twice. */
static void proc_kill(struct proc *p)
{
	if (p->pid > 0) {
		kill_pid(p->pid);
		p->pid = 0;
		p->status = -1;
	}
	for (int i = 0; i < 2; i++)
		if (p->fd[i] >= 0) {
			close(p->fd[i]);
			p->fd[i] = -1;
		}
}

/* Collects the output and reaps within timeout_ms; past it the process is killed. Returns p->status. */
static int proc_wait(struct proc *p, int timeout_ms)
{
	long long deadline = h_now_ms() + timeout_ms;
	int st;

	if (proc_read(p, deadline, NULL) == 0) {
		while (p->pid > 0 && h_now_ms() < deadline) {
			pid_t r = waitpid(p->pid, &st, WNOHANG);

			if (r == p->pid) {
				p->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
				live_forget(p->pid);
				p->pid = 0;
			} else if (r < 0) {
				break;
			} else {
				poll(NULL, 0, 5); /* the pipes are closed: it is exiting */
			}
		}
	}
	p->ms = h_now_ms() - p->start;
	if (p->pid > 0)
		fprintf(stderr, "tool still running after %d ms; killed. stderr:\n%s\n", timeout_ms,
			p->io[1].p);
	proc_kill(p);
	return p->status;
}

static void proc_free(struct proc *p)
{
	proc_kill(p);
	free(p->io[0].p);
	free(p->io[1].p);
	memset(p, 0, sizeof(*p));
}

/*
 * Runs a tool to completion, run(&p, want, input, "andon-send", "-b", ..., NULL), and asserts that it exits
 * with status want; when it does not, its stderr is shown first so the failure explains itself.
 */
static void run(struct proc *p, int want, const char *input, const char *tool, ...)
{
	char *argv[64];
	int argc = 0;
	va_list ap;

	argv[argc++] = (char *)tool;
	va_start(ap, tool);
	while (argc < 63 && (argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	if (proc_start(p, input, argv) != 0)
		fail_msg("cannot start %s: %s", tool, strerror(errno));
	if (proc_wait(p, RUN_TIMEOUT_MS) != want) {
		fprintf(stderr, "%s", tool);
		for (int i = 1; i < argc; i++)
			fprintf(stderr, " '%s'", argv[i]);
		fprintf(stderr, "\nexited %d after %lld ms, expected %d; stderr:\n%s\n", p->status, p->ms,
			want, p->io[1].p);
	}
	assert_int_equal(p->status, want);
}

/* The lines of text as JSON values; NULL when any line is not JSON or the text does not end in '\n'. */
static json_t *json_lines(const char *text)
{
	json_t *arr = json_array();
	const char *s = text;

	while (*s != '\0') {
		const char *nl = strchr(s, '\n');
		json_error_t jerr;
		json_t *v;

		if (nl == NULL || (v = json_loadb(s, (size_t)(nl - s), JSON_DECODE_ANY, &jerr)) == NULL) {
			fprintf(stderr, "not a JSON line: %.*s\n",
				nl != NULL ? (int)(nl - s) : (int)strlen(s), s);
			json_decref(arr);
			return NULL;
		}
		json_array_append_new(arr, v);
		s = nl + 1;
	}
	return arr;
}

/* The one JSON line a tool printed (the test fails otherwise); the caller decrefs. */
static json_t *one_line(const struct proc *p)
{
	json_t *lines = json_lines(p->io[0].p), *v;

	assert_non_null(lines);
	assert_int_equal(json_array_size(lines), 1);
	v = json_incref(json_array_get(lines, 0));
	json_decref(lines);
	return v;
}

static const char *str(json_t *o, const char *k1, const char *k2)
{
	json_t *v = json_object_get(o, k1);

	if (k2 != NULL)
		v = json_object_get(v, k2);
	return json_string_value(v);
}

/* Asserts what Redis holds at one of an execution's keys: fmt takes the ARN, integers compare as text. */
static void assert_redis(const char *fmt, const char *arn, const char *want)
{
	redisReply *r = h_redis(fmt, arn);
	char num[32];

	assert_non_null(r);
	if (r->type == REDIS_REPLY_INTEGER) {
		snprintf(num, sizeof(num), "%lld", r->integer);
		assert_string_equal(num, want);
	} else {
		assert_int_equal(r->type, REDIS_REPLY_STRING);
		assert_string_equal(r->str, want);
	}
	freeReplyObject(r);
}

static void assert_matches(const char *text, const char *pattern)
{
	regex_t re;
	int rc;

	assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB | REG_NEWLINE), 0);
	rc = regexec(&re, text, 0, NULL, 0);
	regfree(&re);
	if (rc != 0)
		fprintf(stderr, "\"%s\" does not match /%s/\n", text, pattern);
	assert_int_equal(rc, 0);
}

/* andon-send's "executionArn=ARN" argument; valid until the next call. */
static const char *arn_field(const char *arn)
{
	static char field[600];

	snprintf(field, sizeof(field), "executionArn=%s", arn);
	return field;
}

/* One message's place, as andon-replay's -p, -o and -E arguments that select just it. */
struct spot {
	char part[16], from[32], to[32];
	long long offset;
};

static void spot_set(struct spot *at, long long partition, long long offset)
{
	snprintf(at->part, sizeof(at->part), "%lld", partition);
	snprintf(at->from, sizeof(at->from), "%lld", offset);
	snprintf(at->to, sizeof(at->to), "%lld", offset + 1);
	at->offset = offset;
}

/* Where a request andon-send sent landed, from its log line "sent ID (key K) to TOPIC [P] @OFFSET". */
static void spot_of_sent(const struct proc *p, struct spot *at)
{
	const char *s = strstr(p->io[1].p, " to andon.requests [");
	long long offset;
	int partition;

	assert_non_null(s);
	assert_int_equal(sscanf(s, " to andon.requests [%d] @%lld", &partition, &offset), 2);
	spot_set(at, partition, offset);
}

/* A started execution that has been stopped, with both its events seen. Caller frees. */
static char *stopped_execution(const char *name)
{
	char *arn = h_sfn_start(sm, name);
	json_t *r = h_call("StepFunctions.StopExecution", json_pack("{s:s}", "executionArn", arn));

	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_int_equal(h_wait_events(arn, 2, 20000), 0);
	return arn;
}

static void send_stop_from_flags_prints_ok_reply(void **state)
{
	char *arn = h_sfn_start(sm, "tools-send");
	char want[600];
	struct proc p;
	json_t *reply;

	(void)state;
	run(&p, 0, NULL, "andon-send", "-b", h_brokers(), "StepFunctions.StopExecution", arn_field(arn),
	    "error=Halted", "cause=by andon-send", NULL);
	reply = one_line(&p);
	assert_true(json_is_true(json_object_get(reply, "ok")));
	assert_string_equal(str(reply, "op", NULL), "StepFunctions.StopExecution");
	assert_string_equal(str(reply, "body", "status"), "ABORTED");
	assert_true(json_is_number(json_object_get(json_object_get(reply, "body"), "stopDate")));
	assert_matches(str(reply, "id", NULL),
		       "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
	/* Keyed by the execution, so every request about it lands on one partition. */
	snprintf(want, sizeof(want), "(key %s) to andon.requests [", arn);
	assert_non_null(strstr(p.io[1].p, want));
	assert_redis("HGET andon:{%s}:x st", arn, "STOPPED");
	assert_redis("LLEN andon:{%s}:h", arn, "2");
	json_decref(reply);
	/* The error and cause came from the flags. */
	reply = h_call("StepFunctions.DescribeExecution", json_pack("{s:s}", "executionArn", arn));
	assert_string_equal(str(reply, "body", "error"), "Halted");
	assert_string_equal(str(reply, "body", "cause"), "by andon-send");
	proc_free(&p);
	free(arn);
}

static void send_error_reply_exits_1(void **state)
{
	struct proc p;
	json_t *reply;

	(void)state;
	run(&p, 1, NULL, "andon-send", "-q", "-b", h_brokers(), "-i", "tools-bad-arn",
	    "StepFunctions.StopExecution", "executionArn=not-an-arn", NULL);
	reply = one_line(&p);
	assert_true(json_is_false(json_object_get(reply, "ok")));
	assert_string_equal(str(reply, "id", NULL), "tools-bad-arn");
	assert_string_equal(str(reply, "error", "code"), "InvalidArn");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(reply, "error"), "status")), 400);
	assert_non_null(str(reply, "error", "message"));
	assert_string_equal(p.io[1].p, ""); /* -q: nothing on stderr when all went well */
	json_decref(reply);
	proc_free(&p);
}

static void send_json_envelope(void **state)
{
	char *arn = stopped_execution("tools-json");
	char env[1024], id[64], conf[128];
	struct proc p;
	json_t *reply;
	FILE *fp;

	(void)state;
	/* Brokers from a -F file this time, in the kcat format: comments, spaces around '='. */
	snprintf(conf, sizeof(conf), "%s/kafka.conf", tmp_dir);
	assert_non_null(fp = fopen(conf, "w"));
	fprintf(fp, "# dev broker\nbootstrap.servers = %s\n\nclient.id=andon-0105\n", h_brokers());
	assert_int_equal(fclose(fp), 0);

	snprintf(id, sizeof(id), "tools-j-%lld", h_now_ms());
	snprintf(
	    env, sizeof(env),
	    "{\"v\":1,\"op\":\"StepFunctions.DescribeExecution\",\"id\":\"%s\",\"replyTo\":\"andon.replies\","
	    "\"account\":\"" H_ACCOUNT "\",\"body\":{\"executionArn\":\"%s\"}}",
	    id, arn);
	run(&p, 0, NULL, "andon-send", "-F", conf, "-j", env, NULL);
	reply = one_line(&p);
	assert_string_equal(str(reply, "id", NULL), id);
	assert_string_equal(str(reply, "op", NULL), "StepFunctions.DescribeExecution");
	assert_string_equal(str(reply, "body", "executionArn"), arn);
	assert_string_equal(str(reply, "body", "status"), "ABORTED");
	json_decref(reply);
	proc_free(&p);

	/* The same envelope without an id, from stdin: -i fills it in. */
	snprintf(env, sizeof(env),
		 "{\"op\":\"StepFunctions.DescribeExecution\",\"body\":{\"executionArn\":\"%s\"}}", arn);
	snprintf(id, sizeof(id), "tools-stdin-%lld", h_now_ms());
	run(&p, 0, env, "andon-send", "-F", conf, "-i", id, NULL);
	reply = one_line(&p);
	assert_string_equal(str(reply, "id", NULL), id);
	assert_string_equal(str(reply, "body", "status"), "ABORTED");
	json_decref(reply);
	proc_free(&p);
	free(arn);
}

static void send_typed_fields(void **state)
{
	char *arn = stopped_execution("tools-typed");
	char brokers[300];
	struct proc p;
	json_t *reply, *events;

	(void)state;
	snprintf(brokers, sizeof(brokers), "bootstrap.servers=%s", h_brokers());
	run(&p, 0, NULL, "andon-send", "-X", brokers, "StepFunctions.GetExecutionHistory", arn_field(arn),
	    "maxResults:=1", NULL);
	reply = one_line(&p);
	events = json_object_get(json_object_get(reply, "body"), "events");
	assert_int_equal(json_array_size(events), 1);
	assert_string_equal(str(json_array_get(events, 0), "type", NULL), "ExecutionStarted");
	assert_non_null(str(reply, "body", "nextToken"));
	json_decref(reply);
	proc_free(&p);

	/* A JSON boolean, not the string "true". */
	run(&p, 0, NULL, "andon-send", "-X", brokers, "StepFunctions.GetExecutionHistory", arn_field(arn),
	    "reverseOrder:=true", "maxResults:=1", NULL);
	reply = one_line(&p);
	events = json_object_get(json_object_get(reply, "body"), "events");
	assert_int_equal(json_array_size(events), 1);
	assert_string_equal(str(json_array_get(events, 0), "type", NULL), "ExecutionAborted");
	json_decref(reply);
	proc_free(&p);

	/* As a string the number is rejected by the worker: the typing is what made it a number. */
	run(&p, 1, NULL, "andon-send", "-X", brokers, "StepFunctions.GetExecutionHistory", arn_field(arn),
	    "maxResults=1", NULL);
	reply = one_line(&p);
	assert_string_equal(str(reply, "error", "code"), "ValidationException");
	json_decref(reply);
	proc_free(&p);
	free(arn);
}

static void send_no_wait_prints_the_id(void **state)
{
	char *arn = h_sfn_start(sm, "tools-nowait");
	struct proc p;
	json_t *reply;

	(void)state;
	run(&p, 0, NULL, "andon-send", "-b", h_brokers(), "-n", "-i", "tools-nowait-id",
	    "StepFunctions.StopExecution", arn_field(arn), NULL);
	assert_string_equal(p.io[0].p, "tools-nowait-id\n");
	/* Sent all the same: the worker answers on the shared reply topic. */
	assert_non_null(reply = h_reply("tools-nowait-id", 1, 20000));
	assert_true(json_is_true(json_object_get(reply, "ok")));
	assert_redis("HGET andon:{%s}:x st", arn, "STOPPED");
	proc_free(&p);
	free(arn);
}

static void send_without_reply_exits_2_at_its_deadline(void **state)
{
	struct proc p;

	(void)state;
	/* A reply topic of its own, asked for in the request's replyTo; nobody reads the request topic, so
	 * the reply never comes. */
	h_topic_create("tools.replies", 4);
	h_topic_create("nobody.reads", 4);
	run(&p, 2, NULL, "andon-send", "-b", h_brokers(), "-T", "1500", "-t", "nobody.reads", "-r",
	    "tools.replies", "-i", "tools-unanswered", "StepFunctions.DescribeExecution", "executionArn=x",
	    NULL);
	assert_string_equal(p.io[0].p, "");
	assert_non_null(strstr(p.io[1].p, "no reply to tools-unanswered on tools.replies within 1500 ms"));
	assert_true(p.ms >= 1400);
	assert_true(p.ms < 6000);
	proc_free(&p);

	/* A reply topic that does not exist cannot be waited on: a Kafka error, found before sending. */
	run(&p, 3, NULL, "andon-send", "-b", h_brokers(), "-T", "5000", "-r", "no.such.replies",
	    "StepFunctions.DescribeExecution", "executionArn=x", NULL);
	assert_non_null(strstr(p.io[1].p, "reply topic no.such.replies: not found"));
	proc_free(&p);
}

static void bad_usage_exit_codes(void **state)
{
	static const struct {
		const char *tool;
		int status;
		const char *args[6];
		const char *says; /* on stderr */
	} cases[] = {
	    {"andon-send", 3, {"-T", "abc", "X.Y"}, "-T: expected milliseconds"},
	    {"andon-send", 3, {"-T", "0", "X.Y"}, "-T: expected milliseconds"},
	    {"andon-send", 3, {"--bogus", "X.Y"}, "Usage: andon-send"},
	    {"andon-send", 3, {"-j", "{}", "X.Y"}, "either OP and fields or -j"},
	    {"andon-send", 3, {"X.Y", "novalue"}, "expected field=value or field:=JSON"},
	    {"andon-send", 3, {"X.Y", "n:={bad"}, "n: bad JSON"},
	    {"andon-send", 3, {"-j", "[1]"}, "request JSON must be an object"},
	    {"andon-send", 3, {"-X", "nokv", "X.Y"}, "expected key=value, got \"nokv\""},
	    {"andon-send", 3, {"-X", "no.such.property=1", "X.Y"}, "No such configuration property"},
	    {"andon-send",
	     3,
	     {"-F", "/nonexistent/kafka.conf", "X.Y"},
	     "/nonexistent/kafka.conf: No such file"},
	    {"andon-tail", 2, {"-o", "sideways"}, "-o: expected beginning, end, N or -N"},
	    {"andon-tail", 2, {"-c", "0"}, "-c: expected a positive count"},
	    {"andon-tail", 2, {"-X", "nokv"}, "expected key=value"},
	    {"andon-replay", 2, {"-p", "-1"}, "-p: expected a partition number"},
	    {"andon-replay", 2, {"-X", "nokv"}, "expected key=value"},
	    {"andon-devkafka", 2, {"-t", "nocount"}, "expected NAME:PARTITIONS"},
	};
	struct proc p;

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const char *const *a = cases[c].args;

		/* Brokers and a topic are given, so only the bad flag is wrong; devkafka takes neither. */
		if (strcmp(cases[c].tool, "andon-devkafka") == 0)
			run(&p, cases[c].status, NULL, cases[c].tool, a[0], a[1], a[2], a[3], a[4], a[5],
			    NULL);
		else
			run(&p, cases[c].status, NULL, cases[c].tool, "-b", h_brokers(), "-t", "andon.events",
			    a[0], a[1], a[2], a[3], a[4], a[5], NULL);
		if (strstr(p.io[1].p, cases[c].says) == NULL)
			fprintf(stderr, "case %zu (%s %s): stderr lacks \"%s\":\n%s\n", c, cases[c].tool,
				a[0], cases[c].says, p.io[1].p);
		assert_non_null(strstr(p.io[1].p, cases[c].says));
		assert_string_equal(p.io[0].p, "");
		proc_free(&p);
	}
	/* No brokers at all. */
	run(&p, 3, NULL, "andon-send", "X.Y", NULL);
	assert_non_null(strstr(p.io[1].p, "-b brokers (or -X bootstrap.servers=...) is required"));
	proc_free(&p);
	/* Help is not an error, and goes to stdout. */
	run(&p, 0, NULL, "andon-send", "-h", NULL);
	assert_non_null(strstr(p.io[0].p, "Usage: andon-send"));
	assert_non_null(strstr(p.io[0].p, "Exit status: 0 reply ok:true"));
	proc_free(&p);
}

static void tail_prints_an_executions_events(void **state)
{
	char *arn = stopped_execution("tools-tail");
	const char *statuses[2] = {NULL, NULL};
	struct proc p;
	json_t *lines, *ev;
	size_t i, mine = 0;

	(void)state;
	run(&p, 0, NULL, "andon-tail", "-b", h_brokers(), "-t", "andon.events", "-o", "beginning", "-e", "-V",
	    NULL);
	assert_non_null(strstr(p.io[0].p, arn));
	assert_non_null(lines = json_lines(p.io[0].p));
	json_array_foreach(lines, i, ev)
	{
		/* -V: the decoded values only, no envelope. */
		assert_true(json_is_object(ev));
		assert_null(json_object_get(ev, "topic"));
		assert_int_equal(json_integer_value(json_object_get(ev, "v")), 1);
		assert_non_null(str(ev, "resource", NULL));
		if (strcmp(str(ev, "resource", NULL), arn) != 0)
			continue;
		/* One partition per resource, so its events come in order; a replay may repeat them. */
		if (mine < 2)
			statuses[mine] = str(ev, "status", NULL);
		mine++;
	}
	assert_true(mine >= 2);
	assert_string_equal(statuses[0], "RUNNING");
	assert_string_equal(statuses[1], "ABORTED");
	json_decref(lines);
	proc_free(&p);
	free(arn);
}

static void tail_stops_after_count(void **state)
{
	char *arn = stopped_execution("tools-count");
	struct proc p;
	json_t *lines, *line;
	size_t i;

	(void)state;
	run(&p, 0, NULL, "andon-tail", "-q", "-b", h_brokers(), "-t", "andon.events", "-o", "beginning", "-c",
	    "3", NULL);
	assert_non_null(lines = json_lines(p.io[0].p));
	assert_int_equal(json_array_size(lines), 3);
	json_array_foreach(lines, i, line)
	{
		/* The envelope: where the message was, its key and the decoded value. */
		assert_string_equal(str(line, "topic", NULL), "andon.events");
		assert_true(json_is_integer(json_object_get(line, "partition")));
		assert_true(json_is_integer(json_object_get(line, "offset")));
		assert_string_equal(str(line, "key", NULL), str(line, "value", "resource"));
	}
	json_decref(lines);
	proc_free(&p);

	/* -o -1: the last message of each partition only, then -e ends it. */
	run(&p, 0, NULL, "andon-tail", "-q", "-b", h_brokers(), "-t", "andon.events", "-o", "-1", "-e", NULL);
	assert_non_null(lines = json_lines(p.io[0].p));
	assert_true(json_array_size(lines) >= 1 && json_array_size(lines) <= 4);
	json_decref(lines);
	proc_free(&p);
	free(arn);
}

/* The DLQ record (value) whose original is the bytes of buf[0..len), or NULL. */
static json_t *dlq_find(const void *buf, size_t len, size_t skip)
{
	msgpack_object bin = {.type = MSGPACK_OBJECT_BIN, .via.bin = {.size = (uint32_t)len, .ptr = buf}};
	json_t *want = andon_json_from_msgpack(&bin), *rec, *found = NULL;
	size_t i;

	json_array_foreach(h_dlq(), i, rec)
	{
		json_t *v = json_object_get(rec, "value");

		if (json_equal(json_object_get(v, "original"), want) && skip-- == 0) {
			found = rec;
			break;
		}
	}
	json_decref(want);
	return found;
}

static void replay_dlq_record_dead_letters_it_again(void **state)
{
	unsigned char poison[40];
	char tag[32];
	struct spot at;
	json_t *first, *second;
	struct proc p;
	size_t before;
	long long deadline;
	int n;

	(void)state;
	/* A msgpack string, unique to this run: decodable but not a map, so dead-lettered without a reply. */
	n = snprintf(tag, sizeof(tag), "tools-poison-%lld", h_now_ms());
	poison[0] = (unsigned char)(0xa0 | n);
	memcpy(poison + 1, tag, (size_t)n);
	h_produce_raw("andon.requests", "tools-poison-key", poison, (size_t)n + 1);
	deadline = h_now_ms() + 20000;
	while ((first = dlq_find(poison, (size_t)n + 1, 0)) == NULL && h_now_ms() < deadline)
		h_pump(20);
	assert_non_null(first);
	before = json_array_size(h_dlq());
	spot_set(&at, json_integer_value(json_object_get(first, "partition")),
		 json_integer_value(json_object_get(first, "offset")));

	run(&p, 0, NULL, "andon-replay", "-b", h_brokers(), "-t", "andon.dlq", "-p", at.part, "-o", at.from,
	    "-E", at.to, NULL);
	assert_non_null(strstr(p.io[1].p, "replayed 1 of 1 message(s) from andon.dlq to andon.requests"));
	proc_free(&p);

	assert_int_equal(h_wait_dlq(before + 1, 20000), 0);
	h_pump(1000); /* anything more would have arrived by now */
	assert_int_equal(json_array_size(h_dlq()), before + 1);
	second = dlq_find(poison, (size_t)n + 1, 1);
	assert_non_null(second);
	first = json_object_get(first, "value");
	second = json_object_get(second, "value");
	/* The same message came back: same bytes, same key, same verdict; only where it was read differs. */
	assert_true(json_equal(json_object_get(first, "original"), json_object_get(second, "original")));
	assert_true(json_equal(json_object_get(first, "key"), json_object_get(second, "key")));
	assert_string_equal(str(second, "code", NULL), str(first, "code", NULL));
	assert_string_equal(str(second, "topic", NULL), "andon.requests");
	assert_true(json_integer_value(json_object_get(second, "offset")) >
			json_integer_value(json_object_get(first, "offset")) ||
		    json_integer_value(json_object_get(second, "partition")) !=
			json_integer_value(json_object_get(first, "partition")));
}

static void replay_of_answered_stop_gets_the_same_reply(void **state)
{
	char *arn = h_sfn_start(sm, "tools-replay");
	char id[64];
	struct spot at;
	struct proc p;
	json_t *printed, *again;

	(void)state;
	snprintf(id, sizeof(id), "tools-replay-%lld", h_now_ms());
	run(&p, 0, NULL, "andon-send", "-b", h_brokers(), "-i", id, "StepFunctions.StopExecution",
	    arn_field(arn), NULL);
	printed = one_line(&p);
	spot_of_sent(&p, &at);
	proc_free(&p);
	assert_redis("LLEN andon:{%s}:h", arn, "2");

	run(&p, 0, NULL, "andon-replay", "-b", h_brokers(), "-t", "andon.requests", "-p", at.part, "-o",
	    at.from, "-E", at.to, NULL);
	assert_non_null(
	    strstr(p.io[1].p, "replayed 1 of 1 message(s) from andon.requests to andon.requests"));
	proc_free(&p);

	again = h_reply(id, 2, 20000);
	assert_non_null(again);
	assert_string_equal(str(again, "id", NULL), id);
	assert_true(json_equal(again, h_reply(id, 1, 0)));
	assert_true(json_equal(again, printed));
	assert_redis("LLEN andon:{%s}:h", arn, "2"); /* applied once */
	assert_redis("HGET andon:{%s}:x st", arn, "STOPPED");
	json_decref(printed);
	free(arn);
}

static void replay_dry_run_prints_and_sends_nothing(void **state)
{
	char *arn = h_sfn_start(sm, "tools-dry");
	char id[64];
	struct spot at;
	struct proc p;
	json_t *line, *lines;

	(void)state;
	snprintf(id, sizeof(id), "tools-dry-%lld", h_now_ms());
	run(&p, 0, NULL, "andon-send", "-b", h_brokers(), "-i", id, "StepFunctions.DescribeExecution",
	    arn_field(arn), NULL);
	spot_of_sent(&p, &at);
	proc_free(&p);
	run(&p, 0, NULL, "andon-replay", "-n", "-b", h_brokers(), "-t", "andon.requests", "-p", at.part, "-o",
	    at.from, "-E", at.to, NULL);
	/* The message's line, then the summary's. */
	lines = json_lines(p.io[0].p);
	assert_non_null(lines);
	assert_int_equal(json_array_size(lines), 2);
	assert_int_equal(json_integer_value(json_object_get(
			     json_object_get(json_array_get(lines, 1), "summary"), "replayed")),
			 1);
	line = json_incref(json_array_get(lines, 0));
	json_decref(lines);
	assert_string_equal(str(line, "from", "topic"), "andon.requests");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(line, "from"), "offset")),
			 at.offset);
	assert_true(json_is_false(json_object_get(line, "dlq")));
	assert_string_equal(str(line, "key", NULL), arn);
	assert_string_equal(str(line, "value", "id"), id);
	json_decref(line);
	proc_free(&p);
	h_pump(500);
	assert_int_equal(h_reply_count(id), 1);
	free(arn);
}

static void devkafka_prints_address_and_exits_0_on_sigterm(void **state)
{
	char *argv[] = {"andon-devkafka", "-t", "tools.only:2", "-f", NULL, NULL};
	char file[128], addr[128], from_file[128] = "";
	struct proc dk, tail;
	struct stat st;
	FILE *fp;

	(void)state;
	snprintf(file, sizeof(file), "%s/bootstrap", tmp_dir);
	argv[4] = file;
	/* A test that fails from here on leaves the broker to reap_leftover. */
	assert_int_equal(proc_start(&dk, NULL, argv), 0);
	assert_int_equal(proc_read(&dk, h_now_ms() + 10000, "\n"), 0);
	snprintf(addr, sizeof(addr), "%.*s", (int)strcspn(dk.io[0].p, "\n"), dk.io[0].p);
	assert_matches(addr, "^127\\.0\\.0\\.1:[0-9]+$");
	/* -f: the same address in a file, written before the line is printed. */
	assert_non_null(fp = fopen(file, "r"));
	assert_non_null(fgets(from_file, sizeof(from_file), fp));
	fclose(fp);
	from_file[strcspn(from_file, "\n")] = '\0';
	assert_string_equal(from_file, addr);

	/* The address serves, and its one topic has the two partitions asked for. */
	run(&tail, 0, NULL, "andon-tail", "-b", addr, "-t", "tools.only", "-o", "beginning", "-e", NULL);
	assert_string_equal(tail.io[0].p, "");
	assert_non_null(strstr(tail.io[1].p, "reading 2 partition(s) of 1 topic(s)"));
	proc_free(&tail);

	assert_int_equal(kill(dk.pid, SIGTERM), 0);
	assert_int_equal(proc_wait(&dk, 10000), 0);
	assert_true(stat(file, &st) != 0 && errno == ENOENT); /* removed on a clean exit */
	proc_free(&dk);
}

static int reap_leftover(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
		if (live[i] != 0) {
			fprintf(stderr, "killing tool process %d left by a failed test\n", (int)live[i]);
			kill_pid(live[i]);
		}
	return 0;
}

static int setup(void **state)
{
	const char *bin = getenv("ANDON_BIN");

	(void)state;
	bin_dir = bin != NULL ? bin : "build/bin";
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/andon-0105-XXXXXX");
	if (mkdtemp(tmp_dir) == NULL)
		return -1;
	h_group_setup(NULL);
	sm = h_sfn_machine("tools", "STANDARD");
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	reap_leftover(NULL);
	free(sm);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmp_dir);
	return h_group_teardown();
}

/* Every case reaps what a failure left running. */
#define CASE(f) cmocka_unit_test_teardown(f, reap_leftover)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    CASE(send_stop_from_flags_prints_ok_reply),
	    CASE(send_error_reply_exits_1),
	    CASE(send_json_envelope),
	    CASE(send_typed_fields),
	    CASE(send_no_wait_prints_the_id),
	    CASE(send_without_reply_exits_2_at_its_deadline),
	    CASE(bad_usage_exit_codes),
	    CASE(tail_prints_an_executions_events),
	    CASE(tail_stops_after_count),
	    CASE(replay_dlq_record_dead_letters_it_again),
	    CASE(replay_of_answered_stop_gets_the_same_reply),
	    CASE(replay_dry_run_prints_and_sends_nothing),
	    CASE(devkafka_prints_address_and_exits_0_on_sigterm),
	};
	return cmocka_run_group_tests_name("0105-tools", tests, setup, teardown);
}
