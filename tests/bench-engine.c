/*
 * bench-engine: Redis time per engine function. Each phase builds N requests of one op with the worker's own
 * code (andon_request_prepare, the lookups' resolve, the compact answers' build), sends their calls to a
 * redis-server of its own in pipelines of 1,000 like the worker's batches, and reports INFO commandstats'
 * usec_per_call of FCALL for that phase alone: the Redis CPU one request of that op costs, the figure that
 * bounds what one Redis serves. A benchmark, not a test: it prints figures and fails only when a call is
 * not answered the way the phase expects. ANDON_BENCH_ENGINE_N sets N (default 20000).
 *
 * ANDON_BENCH_RETENTION=N runs the retention soak instead (docs/REDIS.md, Lifetime): N Step Functions
 * executions started and stopped with retention.stepfunctions=60s, Redis's used_memory before, once they are
 * open, at the peak (all closed) and once they expired, and the bytes per open and per closed execution.
 */
#include "answer.h"
#include "call.h"
#include "codec.h"
#include "config.h"
#include "engine.h"
#include "json.h"
#include "request.h"
#include "util.h"

#include <hiredis.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ACCT	  "123456789012"
#define SFN_SM	  "arn:aws:states:us-east-1:" ACCT ":stateMachine:bench"
#define SFN_EXEC  "arn:aws:states:us-east-1:" ACCT ":execution:bench:e%1$d"
#define CHUNK	  1000
#define VALUE_MAX 160

static int n_req = 20000;
static andon_config_t *cfg;
static andon_engine_t *engine;
static andon_arena_t arena;
static msgpack_zone zone;
static pid_t redis_pid;

/* What phases keep of each answer for later phases: two strings per request (an ARN, a token). */
static char (*saved)[2][VALUE_MAX];

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "bench-engine: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	if (redis_pid > 0)
		kill(redis_pid, SIGKILL);
	exit(1);
}

static redisReply *command(const char *a0, const char *a1, const char *a2)
{
	const char *argv[] = {a0, a1, a2};
	size_t len[] = {strlen(a0), a1 ? strlen(a1) : 0, a2 ? strlen(a2) : 0};
	int argc = a2 ? 3 : a1 ? 2 : 1;
	redisReply *r = andon_engine_command(engine, argc, argv, len);

	if (r == NULL)
		die("%s: no reply", a0);
	return r;
}

/* usec_per_call of FCALL since the last CONFIG RESETSTAT. */
static double fcall_usec(void)
{
	redisReply *r = command("INFO", "commandstats", NULL);
	const char *p = strstr(r->str, "cmdstat_fcall:");
	double v = -1;

	if (p != NULL && (p = strstr(p, "usec_per_call=")) != NULL)
		v = strtod(p + 14, NULL);
	freeReplyObject(r);
	return v;
}

/* Starts redis-server on a free port in dir and returns the port. */
static int redis_start(const char *dir)
{
	char port[16], log[512];

	for (int p = 27100 + (int)(getpid() % 2000);; p++) {
		redisContext *c = redisConnect("127.0.0.1", p);
		int busy = c != NULL && c->err == 0;

		redisFree(c);
		if (busy)
			continue;
		snprintf(port, sizeof(port), "%d", p);
		snprintf(log, sizeof(log), "%s/redis.log", dir);
		if ((redis_pid = fork()) == 0) {
			execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--dir",
			       dir, "--save", "", "--appendonly", "no", "--logfile", log, (char *)NULL);
			_exit(127);
		}
		for (int i = 0; i < 100; i++) {
			c = redisConnect("127.0.0.1", p);
			busy = c != NULL && c->err == 0;
			redisFree(c);
			if (busy)
				return p;
			usleep(50000);
		}
		die("redis-server did not start on port %d", p);
	}
}

/* The request i of a phase: fmt is its JSON with %1$d for i, %2$s and %3$s for the values saved for i. */
static void encode(msgpack_sbuffer *sb, const char *fmt, int i)
{
	char text[2048], err[256];
	json_error_t jerr;
	msgpack_packer pk;
	json_t *j;

	snprintf(text, sizeof(text), fmt, i, saved[i][0], saved[i][1]);
	if ((j = json_loads(text, 0, &jerr)) == NULL)
		die("bad template %s: %s", text, jerr.text);
	msgpack_sbuffer_clear(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	if (andon_json_to_msgpack(j, &pk, err, sizeof(err)) != 0)
		die("template %s: %s", text, err);
	json_decref(j);
}

/* The reply body of answer r to call c, unpacked into zone, or NULL for an error answer. */
static const msgpack_object *body_of(const andon_call_t *c, const andon_req_t *req, const redisReply *r,
				     msgpack_sbuffer *sb)
{
	static msgpack_object o;
	const char *p;
	size_t len;
	andon_built_t b;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 3 || r->element[1]->integer != 1)
		return NULL;
	if (r->element[2]->type == REDIS_REPLY_ARRAY) {
		andon_built_reset(&b, sb);
		if (c->build == NULL || c->build(req, ACCT, r->element[2], &b) != 0)
			die("a compact answer did not build");
		p = sb->data;
		len = b.body_len;
	} else {
		p = r->element[2]->str;
		len = r->element[2]->len;
	}
	if (andon_codec_unpack(p, len, 16, &zone, &o, NULL, 0) != 0)
		die("an answer is not msgpack");
	return &o;
}

/* What the worker does after the calls (andon_worker_post_write): SET the '@index' outputs, ZADD the
 * '@timer' ones. Not timed: they are plain commands, not engine functions. */
static void post_write(redisReply **replies, int n)
{
	for (int k = 0; k < n; k++) {
		const redisReply *r = replies[k];

		if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 6)
			continue;
		for (size_t i = 3; i + 2 < r->elements; i += 3) {
			const redisReply *to = r->element[i], *key = r->element[i + 1],
					 *val = r->element[i + 2];
			const char *argv[5];
			size_t len[5];
			redisReply *x;
			int argc;

			if (to->len == 6 && memcmp(to->str, "@index", 6) == 0) {
				argv[0] = "SET", len[0] = 3;
				argv[1] = key->str, len[1] = key->len;
				argv[2] = val->str, len[2] = val->len;
				argc = 3;
			} else if (to->len == 6 && memcmp(to->str, "@timer", 6) == 0) {
				argv[0] = "ZADD", len[0] = 4;
				argv[1] = "andon:{timers:0}", len[1] = 16;
				argv[2] = val->str, len[2] = val->len;
				argv[3] = key->str, len[3] = key->len;
				argc = 4;
			} else {
				continue;
			}
			if ((x = andon_engine_command(engine, argc, argv, len)) == NULL)
				die("post-write failed");
			freeReplyObject(x);
		}
	}
}

/*
 * Runs phase name: n_req requests from template fmt. Lookups run first (a GET is not timed; a lookup
 * function's FCALLs are, and printed on a line of their own), then
 * every call; keep (may be NULL) names the body field saved into slot (0 or 1). Prints FCALL usec.
 */
static void phase(const char *name, const char *fmt, const char *keep, int slot)
{
	andon_call_t *calls = calloc(CHUNK, sizeof(*calls)), *look = calloc(CHUNK, sizeof(*look));
	andon_req_t *reqs = calloc(CHUNK, sizeof(*reqs));
	redisReply **replies = calloc(CHUNK, sizeof(*replies)), **lr = calloc(CHUNK, sizeof(*lr));
	char(*msgs)[2048] = malloc((size_t)CHUNK * 2048);
	size_t *mlen = calloc(CHUNK, sizeof(*mlen));
	msgpack_sbuffer sb, sb2;
	double total = 0, look_total = 0;
	long long calls_made = 0, looks_made = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_sbuffer_init(&sb2);
	for (int base = 0; base < n_req; base += CHUNK) {
		int n = base + CHUNK < n_req ? CHUNK : n_req - base, nlook = 0;
		char account[ANDON_REQUEST_ACCOUNT_SIZE];
		andon_call_t gate;
		andon_apierr_t err;

		for (int k = 0; k < n; k++) {
			encode(&sb, fmt, base + k);
			memcpy(msgs[k], sb.data, sb.size);
			mlen[k] = sb.size;
			gate.argc = 0;
			if (andon_request_prepare(cfg, &arena, &zone, msgs[k], mlen[k], &reqs[k], account,
						  &calls[k], &gate, &err) != ANDON_REQUEST_CALL)
				die("%s: request %d refused: %s %s", name, base + k, err.code, err.message);
			if (calls[k].resolve != NULL)
				look[nlook++] = calls[k];
		}
		/* Lookups (a GET each), then their calls are built from what they found. */
		if (nlook > 0) {
			command("CONFIG", "RESETSTAT", NULL);
			if (andon_engine_exec(engine, look, (size_t)nlook, lr, NULL, 0) != 0)
				die("%s: lookups failed", name);
			/* A lookup function (the starts' first round) is an FCALL too: its time, apart. */
			look_total += fcall_usec() * nlook;
			looks_made += nlook;
			for (int k = 0, l = 0; k < n; k++) {
				andon_ctx_t ctx;

				if (calls[k].resolve == NULL)
					continue;
				andon_request_ctx(cfg, &arena, ACCT, &ctx);
				if (lr[l]->type != REDIS_REPLY_STRING ||
				    calls[k].resolve(&ctx, &reqs[k], lr[l]->str, lr[l]->len, &calls[k],
						     &err) != 0)
					die("%s: lookup %d did not resolve", name, base + k);
				andon_request_stamp(cfg, &arena, &calls[k], ACCT);
				l++;
			}
		}
		command("CONFIG", "RESETSTAT", NULL);
		if (andon_engine_exec(engine, calls, (size_t)n, replies, NULL, 0) != 0)
			die("%s: calls failed", name);
		total += fcall_usec() * n;
		calls_made += n;
		post_write(replies, n);
		for (int k = 0; k < n; k++) {
			const msgpack_object *b = body_of(&calls[k], &reqs[k], replies[k], &sb2);
			const char *s;
			size_t len;

			if (b == NULL)
				die("%s: request %d failed: %s", name, base + k,
				    replies[k] && replies[k]->type == REDIS_REPLY_ERROR ? replies[k]->str
											: "an error answer");
			if (keep != NULL) {
				if (andon_codec_get_str(b, keep, &s, &len) != 1 || len >= VALUE_MAX)
					die("%s: no %s in answer %d", name, keep, base + k);
				memcpy(saved[base + k][slot], s, len);
				saved[base + k][slot][len] = '\0';
			}
			freeReplyObject(replies[k]);
		}
		for (int l = 0; l < nlook; l++)
			freeReplyObject(lr[l]);
		andon_arena_reset(&arena);
		msgpack_zone_clear(&zone);
	}
	printf("  %-44s %7.2f us per call\n", name, total / (double)calls_made);
	if (look_total > 0)
		printf("  %-44s %7.2f us per call\n", "  its first-round lookup (FCALL)",
		       look_total / (double)looks_made);
	msgpack_sbuffer_destroy(&sb);
	msgpack_sbuffer_destroy(&sb2);
	free(calls);
	free(look);
	free(reqs);
	free(replies);
	free(lr);
	free(msgs);
	free(mlen);
}

static long long used_memory(void)
{
	redisReply *r = command("INFO", "memory", NULL);
	const char *p = strstr(r->str, "used_memory:");
	long long v = p != NULL ? atoll(p + 12) : -1;

	freeReplyObject(r);
	return v;
}

static long long dbsize(void)
{
	redisReply *r = command("DBSIZE", NULL, NULL);
	long long v = r->integer;

	freeReplyObject(r);
	return v;
}

/* The retention soak (ANDON_BENCH_RETENTION): returns 0 when used_memory came back within 10% of its start.
 */
static int soak(void)
{
	char err[256];
	long long m0, m_open, m_peak, m_end, keys0;
	int64_t t0, deadline;

	if (andon_config_set(cfg, "retention.stepfunctions", "60s", err, sizeof(err)) != 0)
		die("%s", err);
	printf("andon bench-engine soak: %d Step Functions executions started and stopped, retention 60 s\n",
	       n_req);
	{
		int n = n_req;

		n_req = 1;
		phase("sfn_create",
		      "{\"v\":1,\"id\":\"c%1$d\",\"op\":\"StepFunctions.CreateStateMachine\",\"body\":{"
		      "\"name\":\"bench\"}}",
		      NULL, 0);
		n_req = n;
	}
	keys0 = dbsize();
	m0 = used_memory();
	t0 = andon_now_us();
	phase("sfn_start (StartExecution)",
	      "{\"v\":1,\"id\":\"s%1$d\",\"op\":\"StepFunctions.StartExecution\",\"body\":{"
	      "\"stateMachineArn\":\"" SFN_SM "\",\"name\":\"e%1$d\"}}",
	      NULL, 0);
	m_open = used_memory();
	phase("sfn_stop (StopExecution, RUNNING -> ABORTED)",
	      "{\"v\":1,\"id\":\"t%1$d\",\"op\":\"StepFunctions.StopExecution\",\"body\":{"
	      "\"executionArn\":\"" SFN_EXEC "\",\"error\":\"Halted\",\"cause\":\"operator request\"}}",
	      NULL, 0);
	m_peak = used_memory();
	printf("  started and stopped in %.1f s; %lld keys at the peak\n",
	       (double)(andon_now_us() - t0) / 1e6, dbsize());
	/* Every key of a closed execution expires 60 s after its stop; Redis's active expiry then removes
	 * them at its own pace (the default active-expire-effort). */
	deadline = andon_now_us() + 20LL * 60 * 1000000;
	while (dbsize() > keys0) {
		if (andon_now_us() > deadline)
			die("keys still there 20 minutes after the stops: %lld", dbsize());
		usleep(1000000);
	}
	printf("  all expired %.1f s after the first stop\n", (double)(andon_now_us() - t0) / 1e6);
	usleep(2000000); /* a cron turn or two: the keyspace tables shrink back */
	m_end = used_memory();
	printf("  used_memory: %lld before, %lld with all open, %lld at the peak (all closed), %lld after "
	       "expiry "
	       "(%+.1f%% of the start)\n",
	       m0, m_open, m_peak, m_end, 100.0 * (double)(m_end - m0) / (double)m0);
	printf("  bytes per open execution %lld, per closed execution %lld\n", (m_open - m0) / n_req,
	       (m_peak - m0) / n_req);
	return m_end <= m0 + m0 / 10 ? 0 : 1;
}

int main(void)
{
	const char *env = getenv("ANDON_BENCH_ENGINE_N"), *retention_n = getenv("ANDON_BENCH_RETENTION");
	char dir[] = "/tmp/andon-bench-engine-XXXXXX", port[16], err[256] = "out of memory";
	long long n, m0, m1, m2;
	int rc = 0;

	if (env != NULL) {
		if (andon_parse_ll(env, 1, 1000000, &n) != 0) {
			fprintf(stderr,
				"bench-engine: ANDON_BENCH_ENGINE_N must be an integer from 1 to 1000000\n");
			return 2;
		}
		n_req = (int)n;
	}
	if (mkdtemp(dir) == NULL)
		die("mkdtemp: %m");
	snprintf(port, sizeof(port), "%d", redis_start(dir));
	if ((cfg = andon_config_new()) == NULL ||
	    andon_config_set(cfg, "redis.port", port, err, sizeof(err)) != 0 ||
	    (engine = andon_engine_new(cfg)) == NULL || andon_engine_connect(engine, err, sizeof(err)) != 0 ||
	    andon_arena_init(&arena, 8 << 20) != 0 || !msgpack_zone_init(&zone, 1 << 20) ||
	    (saved = calloc((size_t)n_req, sizeof(*saved))) == NULL)
		die("setup: %s", err);
	if (retention_n != NULL) {
		if (andon_parse_ll(retention_n, 1, 10000000, &n) != 0)
			die("ANDON_BENCH_RETENTION must be an integer from 1 to 10000000");
		free(saved);
		n_req = (int)n;
		if ((saved = calloc((size_t)n_req, sizeof(*saved))) == NULL)
			die("out of memory");
		rc = soak();
		goto out;
	}
	printf("andon bench-engine: Redis CPU per engine call (INFO commandstats, FCALL usec_per_call), %d "
	       "calls per function, pipelined %d at a time\n",
	       n_req, CHUNK);

	/* Step Functions. */
	n_req = 1;
	phase("sfn_create",
	      "{\"v\":1,\"id\":\"c%1$d\",\"op\":\"StepFunctions.CreateStateMachine\",\"body\":{\"name\":"
	      "\"bench\"}}",
	      NULL, 0);
	n_req = (int)(env != NULL ? n : 20000);
	m0 = used_memory();
	phase("sfn_start (StartExecution)",
	      "{\"v\":1,\"id\":\"s%1$d\",\"op\":\"StepFunctions.StartExecution\",\"body\":{"
	      "\"stateMachineArn\":\"" SFN_SM "\",\"name\":\"e%1$d\"}}",
	      NULL, 0);
	m1 = used_memory();
	phase("sfn_stop (StopExecution, RUNNING -> ABORTED)",
	      "{\"v\":1,\"id\":\"t%1$d\",\"op\":\"StepFunctions.StopExecution\",\"body\":{\"executionArn\":"
	      "\"" SFN_EXEC "\",\"error\":\"Halted\",\"cause\":\"operator request\"}}",
	      NULL, 0);
	m2 = used_memory();
	phase("sfn_stop (StopExecution of an ended one)",
	      "{\"v\":1,\"id\":\"u%1$d\",\"op\":\"StepFunctions.StopExecution\",\"body\":{\"executionArn\":"
	      "\"" SFN_EXEC "\"}}",
	      NULL, 0);
	printf("  %-44s %7lld bytes per running execution, %lld more once stopped; ended-stop adds %lld\n",
	       "Redis memory", (m1 - m0) / n_req, (m2 - m1) / n_req, (used_memory() - m2) / n_req);
	phase("sfn_describe (DescribeExecution)",
	      "{\"v\":1,\"id\":\"d%1$d\",\"op\":\"StepFunctions.DescribeExecution\",\"body\":{"
	      "\"executionArn\":\"" SFN_EXEC "\"}}",
	      NULL, 0);

	/* SageMaker: the stop handshake's three changes (stop, the step's answer) after its two starts. */
	phase("sm_start (StartPipelineExecution)",
	      "{\"v\":1,\"id\":\"ms%1$d\",\"op\":\"SageMaker.StartPipelineExecution\",\"body\":{"
	      "\"PipelineName\":\"bench\"}}",
	      "PipelineExecutionArn", 0);
	phase("sm_step_start (a Callback step)",
	      "{\"v\":1,\"id\":\"mt%1$d\",\"op\":\"SageMaker.StartPipelineExecutionStep\",\"body\":{"
	      "\"PipelineExecutionArn\":\"%2$s\","
	      "\"StepName\":\"Train\",\"StepType\":\"Callback\",\"Arguments\":{\"epochs\":\"3\"}}}",
	      "CallbackToken", 1);
	phase("sm_stop (StopPipelineExecution, 1 callback step)",
	      "{\"v\":1,\"id\":\"mp%1$d\",\"op\":\"SageMaker.StopPipelineExecution\",\"body\":{"
	      "\"PipelineExecutionArn\":\"%2$s\","
	      "\"ClientRequestToken\":\"stop-%1$d-0123456789abcdef0123456789abcdef\"}}",
	      NULL, 0);
	phase("sm_callback (SendPipelineExecutionStepSuccess)",
	      "{\"v\":1,\"id\":\"mc%1$d\",\"op\":\"SageMaker.SendPipelineExecutionStepSuccess\",\"body\":{"
	      "\"CallbackToken\":\"%3$s\"}}",
	      NULL, 0);

	phase("sm_describe (DescribePipelineExecution)",
	      "{\"v\":1,\"id\":\"md%1$d\",\"op\":\"SageMaker.DescribePipelineExecution\",\"body\":{"
	      "\"PipelineExecutionArn\":\"%2$s\"}}",
	      NULL, 0);
	phase("sm_history (ListPipelineExecutionHistory)",
	      "{\"v\":1,\"id\":\"mh%1$d\",\"op\":\"SageMaker.ListPipelineExecutionHistory\",\"body\":{"
	      "\"PipelineExecutionArn\":\"%2$s\"}}",
	      NULL, 0);
	phase("sm_start (another set)",
	      "{\"v\":1,\"id\":\"ns%1$d\",\"op\":\"SageMaker.StartPipelineExecution\",\"body\":{"
	      "\"PipelineName\":\"bench\"}}",
	      "PipelineExecutionArn", 0);
	phase("sm_step_start (a Lambda step)",
	      "{\"v\":1,\"id\":\"nt%1$d\",\"op\":\"SageMaker.StartPipelineExecutionStep\",\"body\":{"
	      "\"PipelineExecutionArn\":\"%2$s\","
	      "\"StepName\":\"Notify\",\"StepType\":\"Lambda\",\"TimeoutSeconds\":60}}",
	      NULL, 0);
	phase("sm_step_finish (FinishPipelineExecutionStep)",
	      "{\"v\":1,\"id\":\"nf%1$d\",\"op\":\"SageMaker.FinishPipelineExecutionStep\",\"body\":{"
	      "\"PipelineExecutionArn\":\"%2$s\","
	      "\"StepName\":\"Notify\",\"StepStatus\":\"Succeeded\"}}",
	      NULL, 0);
	phase("sm_finish (FinishPipelineExecution)",
	      "{\"v\":1,\"id\":\"ne%1$d\",\"op\":\"SageMaker.FinishPipelineExecution\",\"body\":{"
	      "\"PipelineExecutionArn\":\"%2$s\","
	      "\"PipelineExecutionStatus\":\"Succeeded\"}}",
	      NULL, 0);

	/* Step Functions, the rest. */
	phase("sfn_history (GetExecutionHistory)",
	      "{\"v\":1,\"id\":\"h%1$d\",\"op\":\"StepFunctions.GetExecutionHistory\",\"body\":{"
	      "\"executionArn\":\"" SFN_EXEC "\"}}",
	      NULL, 0);
	phase("sfn_start (another set)",
	      "{\"v\":1,\"id\":\"fs%1$d\",\"op\":\"StepFunctions.StartExecution\",\"body\":{"
	      "\"stateMachineArn\":\"" SFN_SM "\",\"name\":\"f%1$d\"}}",
	      NULL, 0);
	phase(
	    "sfn_finish (FinishExecution)",
	    "{\"v\":1,\"id\":\"ff%1$d\",\"op\":\"StepFunctions.FinishExecution\",\"body\":{\"executionArn\":"
	    "\"arn:aws:states:us-east-1:" ACCT
	    ":execution:bench:f%1$d\",\"status\":\"SUCCEEDED\",\"output\":\"{}\"}}",
	    NULL, 0);

	/* CloudFlow. */
	n_req = 1;
	phase("cf_create (CreateFlow)",
	      "{\"v\":1,\"id\":\"cc%1$d\",\"op\":\"CloudFlow.CreateFlow\",\"body\":{\"Name\":\"bench\","
	      "\"Definition\":"
	      "\"version: v1\\ntype: flow\\nsteps:\\n  - type: pass\\n    name: ship\\n\"}}",
	      NULL, 0);
	n_req = (int)(env != NULL ? n : 20000);
	phase("cf_start (StartExecution)",
	      "{\"v\":1,\"id\":\"cs%1$d\",\"op\":\"CloudFlow.StartExecution\",\"body\":{\"FlowName\":"
	      "\"bench\",\"ExecutionName\":\"r%1$d\"}}",
	      NULL, 0);
	phase("cf_running (ReportExecutionRunning)",
	      "{\"v\":1,\"id\":\"cr%1$d\",\"op\":\"CloudFlow.ReportExecutionRunning\",\"body\":{\"FlowName\":"
	      "\"bench\",\"ExecutionName\":\"r%1$d\"}}",
	      NULL, 0);
	phase("cf_stop (StopExecution)",
	      "{\"v\":1,\"id\":\"ct%1$d\",\"op\":\"CloudFlow.StopExecution\",\"body\":{\"FlowName\":"
	      "\"bench\",\"ExecutionName\":\"r%1$d\","
	      "\"Error\":\"Halted\",\"Cause\":\"operator request\"}}",
	      NULL, 0);
	phase("cf_describe (DescribeExecution)",
	      "{\"v\":1,\"id\":\"cd%1$d\",\"op\":\"CloudFlow.DescribeExecution\",\"body\":{\"FlowName\":"
	      "\"bench\",\"ExecutionName\":\"r%1$d\"}}",
	      NULL, 0);
	phase("cf_history (GetExecutionHistory)",
	      "{\"v\":1,\"id\":\"ch%1$d\",\"op\":\"CloudFlow.GetExecutionHistory\",\"body\":{\"FlowName\":"
	      "\"bench\",\"ExecutionName\":\"r%1$d\"}}",
	      NULL, 0);
	phase("cf_start (another set)",
	      "{\"v\":1,\"id\":\"ds%1$d\",\"op\":\"CloudFlow.StartExecution\",\"body\":{\"FlowName\":"
	      "\"bench\",\"ExecutionName\":\"q%1$d\"}}",
	      NULL, 0);
	phase("cf_finish (FinishExecution)",
	      "{\"v\":1,\"id\":\"df%1$d\",\"op\":\"CloudFlow.FinishExecution\",\"body\":{\"FlowName\":"
	      "\"bench\",\"ExecutionName\":\"q%1$d\","
	      "\"Status\":\"Succeeded\",\"Output\":\"{}\"}}",
	      NULL, 0);

	/* SWF. */
	n_req = 1;
	phase("swf_register_domain (RegisterDomain)",
	      "{\"v\":1,\"id\":\"wd%1$d\",\"op\":\"SWF.RegisterDomain\",\"body\":{\"name\":\"bench\"}}", NULL,
	      0);
	phase("swf_register_type (RegisterWorkflowType)",
	      "{\"v\":1,\"id\":\"wt%1$d\",\"op\":\"SWF.RegisterWorkflowType\",\"body\":{\"domain\":\"bench\","
	      "\"name\":\"Ship\","
	      "\"version\":\"1\",\"defaultChildPolicy\":\"TERMINATE\"}}",
	      NULL, 0);
	n_req = (int)(env != NULL ? n : 20000);
	phase("swf_start (StartWorkflowExecution)",
	      "{\"v\":1,\"id\":\"ws%1$d\",\"op\":\"SWF.StartWorkflowExecution\",\"body\":{\"domain\":"
	      "\"bench\",\"workflowId\":\"w%1$d\","
	      "\"workflowType\":{\"name\":\"Ship\",\"version\":\"1\"}}}",
	      "runId", 0);
	phase("swf_request_cancel (RequestCancelWorkflowExecution)",
	      "{\"v\":1,\"id\":\"wc%1$d\",\"op\":\"SWF.RequestCancelWorkflowExecution\",\"body\":{\"domain\":"
	      "\"bench\",\"workflowId\":\"w%1$d\"}}",
	      NULL, 0);
	phase("swf_describe (DescribeWorkflowExecution)",
	      "{\"v\":1,\"id\":\"wx%1$d\",\"op\":\"SWF.DescribeWorkflowExecution\",\"body\":{\"domain\":"
	      "\"bench\",\"execution\":"
	      "{\"workflowId\":\"w%1$d\",\"runId\":\"%2$s\"}}}",
	      NULL, 0);
	phase("swf_history (GetWorkflowExecutionHistory)",
	      "{\"v\":1,\"id\":\"wh%1$d\",\"op\":\"SWF.GetWorkflowExecutionHistory\",\"body\":{\"domain\":"
	      "\"bench\",\"execution\":"
	      "{\"workflowId\":\"w%1$d\",\"runId\":\"%2$s\"}}}",
	      NULL, 0);
	phase("swf_close (CancelWorkflowExecution)",
	      "{\"v\":1,\"id\":\"wz%1$d\",\"op\":\"SWF.CancelWorkflowExecution\",\"body\":{\"domain\":"
	      "\"bench\",\"workflowId\":\"w%1$d\","
	      "\"runId\":\"%2$s\"}}",
	      NULL, 0);
	phase("swf_start (another set)",
	      "{\"v\":1,\"id\":\"vs%1$d\",\"op\":\"SWF.StartWorkflowExecution\",\"body\":{\"domain\":"
	      "\"bench\",\"workflowId\":\"v%1$d\","
	      "\"workflowType\":{\"name\":\"Ship\",\"version\":\"1\"}}}",
	      NULL, 0);
	phase("swf_terminate (TerminateWorkflowExecution)",
	      "{\"v\":1,\"id\":\"vt%1$d\",\"op\":\"SWF.TerminateWorkflowExecution\",\"body\":{\"domain\":"
	      "\"bench\",\"workflowId\":\"v%1$d\","
	      "\"reason\":\"operator\"}}",
	      NULL, 0);

out:
	andon_engine_destroy(engine);
	andon_arena_free(&arena);
	msgpack_zone_destroy(&zone);
	free(saved);
	andon_config_destroy(cfg);
	kill(redis_pid, SIGTERM);
	waitpid(redis_pid, NULL, 0);
	{
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench-engine: could not remove %s\n", dir);
	}
	return rc;
}
