/*
 * bench: stop requests through Kafka -> worker -> Redis -> reply, beside the same broker's bare
 * produce-to-consume round trip (messages of the same size on a topic nobody processes) and the ceiling of
 * the same number of bare pipelined Redis function calls, so the worker's own share of throughput and
 * latency shows. Throughput is measured with a burst; latency paced at half the worker's measured maximum,
 * for the worker and for the bare broker alike. A benchmark, not a test: it prints figures and fails only
 * when something is not answered. The worker phases run twice, with worker.exactly_once false and true (one
 * Kafka transaction per batch), paced at the same rate (half the at-least-once maximum), so the cost of
 * exactly-once shows on the same broker in the same run. ANDON_BENCH_N sets the request count per phase
 * (default 20000);
 * ANDON_BENCH_OPTS="key=value ..." gives the worker extra settings (-o), for tuning experiments.
 * ANDON_REDIS=cluster (3 primaries, 3 replicas) or cluster3 (3 primaries) runs it on a Redis Cluster; the
 * burst then prints each primary's share of the FCALLs and its Redis CPU per request.
 * ANDON_BENCH_SOAK=M then replays the burst's requests until M more were answered (each a duplicate: the
 * whole path runs, and Redis does not grow), printing the worker's RSS every million: it must stay flat.
 */
#include "harness-auth.h"
#include "harness-kafka.h"
#include "harness.h"

#include "call.h"
#include "codec.h"
#include "config.h"
#include "engine.h"
#include "sign.h"
#include "util.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SM_NAME	   "bench"
#define ECHO_TOPIC "bench.echo"
#define SM_ARN	   "arn:aws:states:" H_REGION ":" H_ACCOUNT ":stateMachine:" SM_NAME

static int n_req = 20000;
static const andon_creds_t *creds; /* signs the requests when the worker requires it (harness-auth.h) */

static void exec_arn(char *buf, size_t size, const char *phase, int i)
{
	snprintf(buf, size, "arn:aws:states:" H_REGION ":" H_ACCOUNT ":execution:" SM_NAME ":%s-%d", phase,
		 i);
}

static void check_reply(redisReply *r, const char *what)
{
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 3 || r->element[1]->integer != 1) {
		fprintf(stderr, "bench: %s failed: %s (reply type %d, %zu elements)\n", what,
			r && r->type == REDIS_REPLY_ERROR ? r->str : "?", r != NULL ? r->type : -1,
			r != NULL ? r->elements : 0);
		exit(1);
	}
}

/*
 * Straight Redis calls of the benchmark go through the worker's own router (worker/redis_route.h), so that
 * on a cluster (ANDON_REDIS=cluster) they are split by node and pipelined as the worker's are.
 */
static andon_engine_t *engine;
static andon_config_t *ecfg;
static andon_arena_t arena;
static andon_call_t *calls;
static redisReply **replies;

static void engine_open(void)
{
	char err[256], port[16];

	snprintf(port, sizeof(port), "%d", h_redis_port());
	if ((ecfg = andon_config_new()) == NULL ||
	    (h_redis_cluster()
		 ? andon_config_set(ecfg, "redis.cluster", h_redis_cluster_seeds(), err, sizeof(err))
		 : andon_config_set(ecfg, "redis.port", port, err, sizeof(err))) != 0 ||
	    (engine = andon_engine_new(ecfg)) == NULL ||
	    andon_engine_connect(engine, err, sizeof(err)) != 0 || andon_arena_init(&arena, 8 << 20) != 0 ||
	    (calls = calloc(1000, sizeof(*calls))) == NULL ||
	    (replies = calloc(1000, sizeof(*replies))) == NULL) {
		fprintf(stderr, "bench: redis: %s\n", engine == NULL ? "setup failed" : err);
		exit(1);
	}
}

static void engine_close(void)
{
	andon_engine_destroy(engine);
	andon_config_destroy(ecfg);
	andon_arena_free(&arena);
	free(calls);
	free(replies);
}

/* Runs calls[0..n) in one pipeline (split by node on a cluster); each must answer ok. */
static void run_calls(size_t n, const char *what)
{
	if (andon_engine_exec(engine, calls, n, replies, NULL, 0) != 0)
		exit(1);
	for (size_t i = 0; i < n; i++) {
		check_reply(replies[i], what);
		freeReplyObject(replies[i]);
	}
	andon_arena_reset(&arena);
}

static void key(andon_call_t *c, const char *arn, const char *suffix)
{
	andon_call_key(c, &arena, arn, strlen(arn), suffix);
}

static void arg(andon_call_t *c, const char *s)
{
	andon_call_arg(c, andon_arena_strndup(&arena, s, strlen(s)), strlen(s));
}

/* Creates n running executions "<phase>-i" straight in Redis, pipelined (setup, not measured). */
static void create_executions(const char *phase, int n)
{
	char arn[256], id[64], name[64];

	for (int base = 0; base < n; base += 1000) {
		size_t k = 0;

		for (int i = base; i < n && i < base + 1000; i++, k++) {
			andon_call_t *c = &calls[k];

			exec_arn(arn, sizeof(arn), phase, i);
			snprintf(id, sizeof(id), "start-%s-%d", phase, i);
			snprintf(name, sizeof(name), "%s-%d", phase, i);
			/* As api_sfn.c builds it, with what sfn_sm_get answered of the state machine. */
			andon_call_begin(c, "sfn_start");
			key(c, arn, "x");
			key(c, arn, "h");
			key(c, arn, "r");
			arg(c, id);
			arg(c, "StepFunctions.StartExecution");
			andon_call_field(c, "arn", andon_arena_strndup(&arena, arn, strlen(arn)),
					 strlen(arn));
			andon_call_field(c, "smArn", SM_ARN, strlen(SM_ARN));
			andon_call_field(c, "name", andon_arena_strndup(&arena, name, strlen(name)),
					 strlen(name));
			andon_call_field(c, "account", H_ACCOUNT, strlen(H_ACCOUNT));
			andon_call_field(c, "sm", "STANDARD\n", 9);
		}
		run_calls(k, "sfn_start");
	}
}

static void pack_str(msgpack_packer *pk, const char *s)
{
	andon_codec_pack_cstr(pk, s);
}

/* The encoded StopExecution request for execution i of phase, with request id "<phase>-<i>". */
static void encode_stop(msgpack_sbuffer *sb, const char *phase, int i, char *arn, size_t arn_size)
{
	msgpack_packer pk;
	char id[64];

	exec_arn(arn, arn_size, phase, i);
	snprintf(id, sizeof(id), "%s-%d", phase, i);
	msgpack_sbuffer_clear(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	pack_str(&pk, "v");
	msgpack_pack_int(&pk, 1);
	pack_str(&pk, "op");
	pack_str(&pk, "StepFunctions.StopExecution");
	pack_str(&pk, "id");
	pack_str(&pk, id);
	pack_str(&pk, "body");
	msgpack_pack_map(&pk, 2);
	pack_str(&pk, "executionArn");
	pack_str(&pk, arn);
	pack_str(&pk, "error");
	pack_str(&pk, "bench");
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return (x > y) - (x < y);
}

static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

typedef struct phase {
	const char *name;
	long long *sent_us, *lat_us;
	int answered;
	long long first_us, last_us;
} phase_t;

/* Reads replies of this phase ("<phase>-<i>" ids) and records their latency. */
static void read_replies(rd_kafka_t *rk, phase_t *ph, int timeout_ms)
{
	rd_kafka_message_t *m;
	size_t plen = strlen(ph->name);
	long long deadline = now_us() + (long long)timeout_ms * 1000;

	while (now_us() < deadline && (m = rd_kafka_consumer_poll(rk, timeout_ms > 0 ? 1 : 0)) != NULL) {
		msgpack_zone zone;
		msgpack_object o;
		const char *id;
		size_t len;
		char err[64];

		if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
			msgpack_zone_init(&zone, 512);
			if (andon_codec_unpack(m->payload, m->len, 8, &zone, &o, err, sizeof(err)) == 0 &&
			    andon_codec_get_str(&o, "id", &id, &len) == 1 && len > plen + 1 &&
			    memcmp(id, ph->name, plen) == 0 && id[plen] == '-') {
				int i = atoi(id + plen + 1); /* the bench wrote these ids itself */
				if (i >= 0 && i < n_req && ph->lat_us[i] == 0) {
					long long t = now_us();
					ph->lat_us[i] = t - ph->sent_us[i];
					ph->answered++;
					ph->last_us = t;
				}
			}
			msgpack_zone_destroy(&zone);
		}
		rd_kafka_message_destroy(m);
	}
}

static rd_kafka_t *reply_reader(void)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
	char err[256];
	rd_kafka_t *rk;

	rd_kafka_conf_set(conf, "bootstrap.servers", h_brokers(), err, sizeof(err));
	rd_kafka_conf_set(conf, "group.id", "andon-bench-reader", err, sizeof(err));
	rd_kafka_conf_set(conf, "fetch.wait.max.ms", "2", err, sizeof(err));
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	for (int p = 0; p < 4; p++) {
		rd_kafka_topic_partition_list_add(l, "andon.replies", p)->offset = RD_KAFKA_OFFSET_END;
		rd_kafka_topic_partition_list_add(l, ECHO_TOPIC, p)->offset = RD_KAFKA_OFFSET_END;
	}
	rd_kafka_assign(rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_poll(rk, 500); /* let the END offsets resolve before anything is sent */
	return rk;
}

/* Sends n_req stops to topic at rate per second (0: as fast as possible) and waits for every reply (on
 * andon.replies, or the messages themselves when topic is the echo topic). */
static void run_phase(rd_kafka_t *producer, rd_kafka_t *reader, phase_t *ph, const char *topic, int rate)
{
	msgpack_sbuffer sb;
	char arn[256];

	ph->sent_us = calloc((size_t)n_req, sizeof(long long));
	ph->lat_us = calloc((size_t)n_req, sizeof(long long));
	msgpack_sbuffer_init(&sb);
	ph->first_us = now_us();
	for (int i = 0; i < n_req; i++) {
		if (rate > 0) {
			long long due = ph->first_us + (long long)i * 1000000 / rate;
			while (now_us() < due)
				read_replies(reader, ph, 1);
		}
		encode_stop(&sb, ph->name, i, arn, sizeof(arn));
		ph->sent_us[i] = now_us();
		while (andon_sign_produce(producer, creds, topic, RD_KAFKA_PARTITION_UA, arn, strlen(arn),
					  sb.data, sb.size, NULL, NULL) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(producer, 1);
		rd_kafka_poll(producer, 0);
		if (i % 256 == 0)
			read_replies(reader, ph, 0);
	}
	rd_kafka_flush(producer, 10000);
	for (long long deadline = now_us() + 120000000LL; ph->answered < n_req && now_us() < deadline;)
		read_replies(reader, ph, 50);
	msgpack_sbuffer_destroy(&sb);
	if (ph->answered < n_req) {
		fprintf(stderr, "bench: only %d of %d %s requests answered\n", ph->answered, n_req, ph->name);
		exit(1);
	}
}

static void report(const phase_t *ph, const char *label, double *rate_out, double *p99_out)
{
	long long *lat = malloc(sizeof(long long) * (size_t)n_req);
	double secs = (double)(ph->last_us - ph->first_us) / 1e6;

	memcpy(lat, ph->lat_us, sizeof(long long) * (size_t)n_req);
	qsort(lat, (size_t)n_req, sizeof(long long), cmp_ll);
	printf("%-38s %8d requests in %6.3f s = %8.0f req/s   latency p50 %7.2f ms  p99 %7.2f ms\n", label,
	       n_req, secs, n_req / secs, lat[n_req / 2] / 1000.0, lat[(size_t)n_req * 99 / 100] / 1000.0);
	if (rate_out != NULL)
		*rate_out = n_req / secs;
	if (p99_out != NULL)
		*p99_out = lat[(size_t)n_req * 99 / 100] / 1000.0;
	free(lat);
}

/* {type: ExecutionAborted, executionAbortedEventDetails: {error: bench}}, the entry's own fields. */
#define ENTRY_TAIL                                                                                           \
	"\xa4type\xb0"                                                                                       \
	"ExecutionAborted\xbc"                                                                               \
	"executionAbortedEventDetails\x81\xa5"                                                               \
	"error\xa5"                                                                                          \
	"bench"

/* The ceiling: the same stops as bare FCALLs, pipelined 1,000 at a time like the worker's batches. */
static double ceiling(void)
{
	char arn[256], id[64];
	long long t0 = now_us();

	for (int base = 0; base < n_req; base += 1000) {
		size_t k = 0;

		for (int i = base; i < n_req && i < base + 1000; i++, k++) {
			andon_call_t *c = &calls[k];

			exec_arn(arn, sizeof(arn), "ceiling", i);
			snprintf(id, sizeof(id), "ceiling-%d", i);
			/* As api_sfn.c builds it: positional, with the history entry's head and tail. */
			andon_call_begin(c, "sfn_stop");
			key(c, arn, "x");
			key(c, arn, "h");
			key(c, arn, "r");
			arg(c, id);
			arg(c, "StepFunctions.StopExecution");
			arg(c, arn);
			andon_call_arg(c, "bench", 5);
			andon_call_arg(c, "", 0);
			andon_call_arg(c, "\x85", 1);
			andon_call_arg(c, ENTRY_TAIL, sizeof(ENTRY_TAIL) - 1);
			andon_call_field(c, "@acct", H_ACCOUNT, strlen(H_ACCOUNT));
		}
		run_calls(k, "sfn_stop");
	}
	return n_req / ((double)(now_us() - t0) / 1e6);
}

/* Redis CPU (used_cpu_sys + used_cpu_user, seconds) and FCALLs so far of node i, or of the one Redis (-1). */
static void node_usage(int i, double *cpu, long long *fcalls)
{
	redisReply *r = i < 0 ? h_redis("INFO all") : h_redis_node(i, "INFO all");
	const char *p;

	*cpu = 0;
	*fcalls = 0;
	if (r == NULL || r->type != REDIS_REPLY_STRING) {
		freeReplyObject(r);
		return;
	}
	if ((p = strstr(r->str, "used_cpu_sys:")) != NULL)
		*cpu += atof(p + 13);
	if ((p = strstr(r->str, "used_cpu_user:")) != NULL)
		*cpu += atof(p + 14);
	if ((p = strstr(r->str, "cmdstat_fcall:calls=")) != NULL)
		*fcalls = atoll(p + 20);
	freeReplyObject(r);
}

/* Which nodes serve calls: the one Redis (-1), or the cluster's primaries now. */
static int primaries(int *nodes)
{
	int n = 0;

	if (!h_redis_cluster()) {
		nodes[0] = -1;
		return 1;
	}
	for (int i = 0; i < H_CLUSTER_NODES; i++) {
		redisReply *r = h_redis_node(i, "ROLE");

		if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
		    strcmp(r->element[0]->str, "master") == 0)
			nodes[n++] = i;
		freeReplyObject(r);
	}
	return n;
}

/* The resident set of process pid, in KiB (0 when unknown). */
static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			kib = atol(line + 6);
	fclose(f);
	return kib;
}

/* Replays the burst phase's requests until total more were answered, printing the worker's RSS. */
static void soak(rd_kafka_t *producer, rd_kafka_t *reader, pid_t worker, long long total)
{
	long rss0 = rss_kib(worker), rss = rss0, peak = rss0, warm = 0;
	long long done = 0, next = 1000000, t0 = now_us();

	printf("soak: replaying %d requests until %lld more are answered; worker RSS %ld KiB\n", n_req, total,
	       rss0);
	while (done < total) {
		phase_t ph = {.name = "burst"};

		run_phase(producer, reader, &ph, "andon.requests", 0);
		free(ph.sent_us);
		free(ph.lat_us);
		done += n_req;
		rss = rss_kib(worker);
		if (warm == 0 && done >= 1000000)
			peak = warm = rss;
		peak = rss > peak ? rss : peak;
		if (done >= next || done >= total) {
			printf("soak: %9lld answered in %6.1f s, worker RSS %ld KiB\n", done,
			       (double)(now_us() - t0) / 1e6, rss);
			fflush(stdout);
			next += 1000000;
		}
	}
	/* Buffers grow to their working size during the first million (librdkafka's queues, the batch
	 * buffers): flat means no growth after that. */
	printf("soak: worker RSS %ld KiB at the start, %ld KiB after the first million, %ld KiB at the end "
	       "(peak "
	       "%ld KiB): %+.1f%% after warm-up\n",
	       rss0, warm, rss, peak, warm > 0 ? 100.0 * (double)(peak - warm) / (double)warm : 0.0);
}

static void phase_free(phase_t *ph)
{
	free(ph->sent_us);
	free(ph->lat_us);
}

#define AUTH_ROUNDS 3 /* bursts with security.auth off, then required, alternating */

/* CPU time (user + system) process pid has used so far, in microseconds (/proc/PID/stat). */
static double cpu_us(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields 14 and 15, counted after the command name's closing parenthesis. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

/* Microseconds of one signature (canonical string and HMAC-SHA256) over a stop request of this bench. */
static double sign_cost_us(void)
{
	static const andon_creds_t c = {"AKANBENCHBENCHBENCH0", "0123456789012345678901234567890123456789"};
	char arn[256], sig[ANDON_SIGN_SIG_LEN + 1];
	msgpack_sbuffer sb;
	int64_t t0;
	const int n = 100000;

	msgpack_sbuffer_init(&sb);
	encode_stop(&sb, "cost", 1, arn, sizeof(arn));
	t0 = andon_now_us();
	for (int i = 0; i < n; i++)
		andon_sign_compute(c.secret, strlen(c.secret), c.key_id, strlen(c.key_id), "20261130T102032Z",
				   "andon.requests", 14, arn, strlen(arn), sb.data, sb.size, sig);
	msgpack_sbuffer_destroy(&sb);
	return (double)(andon_now_us() - t0) / n;
}

int main(void)
{
	const char *env = getenv("ANDON_BENCH_N");
	rd_kafka_conf_t *conf;
	rd_kafka_t *producer, *reader;
	phase_t burst = {.name = "burst"}, paced = {.name = "paced"};
	phase_t eburst = {.name = "eburst"}, epaced = {.name = "epaced"};
	phase_t echo_burst = {.name = "echo"}, echo_paced = {.name = "echopaced"};
	phase_t auth_phases[2 * AUTH_ROUNDS] = {{.name = "off0"},  {.name = "auth0"}, {.name = "off1"},
						{.name = "auth1"}, {.name = "off2"},  {.name = "auth2"}};
	double off_rate = 0, auth_rate = 0, off_cpu = 0, auth_cpu = 0;
	double worker_rate, eos_rate, echo_rate, ceiling_rate, p99, eos_p99;
	char label[64];
	int half;
	char err[256];
	redisReply *r;

	long long n, soak_n = 0, calls0[H_CLUSTER_NODES];
	double cpu0[H_CLUSTER_NODES];
	int prim[H_CLUSTER_NODES], nprim;
	pid_t worker;

	if (getenv("ANDON_BENCH_SOAK") != NULL &&
	    andon_parse_ll(getenv("ANDON_BENCH_SOAK"), 1, 1000000000LL, &soak_n) != 0) {
		fprintf(stderr, "bench: ANDON_BENCH_SOAK must be an integer from 1 to 1000000000\n");
		return 2;
	}
	if (env != NULL) {
		if (andon_parse_ll(env, 1, 10000000, &n) != 0) {
			fprintf(stderr, "bench: ANDON_BENCH_N must be an integer from 1 to 10000000\n");
			return 2;
		}
		n_req = (int)n;
	}
	h_start();
	worker = h_worker_start_bench("worker.exactly_once=false");
	h_topic_create(ECHO_TOPIC, 4);
	engine_open();
	r = h_redis(
	    "FCALL sfn_create 2 andon:{%s}:sm andon:{%s}:r bench-sm StepFunctions.CreateStateMachine arn %s "
	    "name " SM_NAME " type STANDARD account " H_ACCOUNT,
	    SM_ARN, SM_ARN, SM_ARN);
	check_reply(r, "sfn_create");
	freeReplyObject(r);
	create_executions("burst", n_req);
	create_executions("paced", n_req);
	create_executions("eburst", n_req);
	create_executions("epaced", n_req);
	create_executions("ceiling", n_req);
	for (int i = 0; i < 2 * AUTH_ROUNDS; i++)
		create_executions(auth_phases[i].name, n_req);

	conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "bootstrap.servers", h_brokers(), err, sizeof(err));
	rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof(err)); /* batch, as DEV-BROKER.md advises */
	producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	reader = reply_reader();

	printf(
	    "andon bench: %d StepFunctions.StopExecution requests per phase, 1 worker, 4 partitions, on %s, "
	    "%s\n",
	    n_req, hk_is_dev() ? "andon-devkafka (librdkafka's mock)" : "Apache Kafka (one node)",
	    h_redis_cluster() ? "Redis Cluster (3 primaries, 3 replicas)" : "one Redis");
	nprim = primaries(prim);
	for (int k = 0; k < nprim; k++)
		node_usage(prim[k], &cpu0[k], &calls0[k]);
	run_phase(producer, reader, &burst, "andon.requests", 0);
	report(&burst, "worker, burst (throughput)", &worker_rate, NULL);
	/* Each primary's share of the burst's FCALLs and its Redis CPU per request of the burst. */
	{
		double cpu1[H_CLUSTER_NODES], all = 0;
		long long calls1[H_CLUSTER_NODES], total = 0;

		for (int k = 0; k < nprim; k++) {
			node_usage(prim[k], &cpu1[k], &calls1[k]);
			total += calls1[k] - calls0[k];
			all += cpu1[k] - cpu0[k];
		}
		for (int k = 0; k < nprim; k++) {
			if (prim[k] < 0)
				snprintf(label, sizeof(label), "127.0.0.1:%d", h_redis_port());
			else
				snprintf(label, sizeof(label), "127.0.0.1:%d", h_redis_cluster_port(prim[k]));
			printf("  redis %-16s FCALL share %5.1f%%, Redis CPU %6.2f us per request\n", label,
			       total > 0 ? 100.0 * (double)(calls1[k] - calls0[k]) / (double)total : 0,
			       1e6 * (cpu1[k] - cpu0[k]) / n_req);
		}
		printf("  redis, all primaries: Redis CPU %.2f us per request\n", 1e6 * all / n_req);
	}
	run_phase(producer, reader, &echo_burst, ECHO_TOPIC, 0);
	report(&echo_burst, "broker alone, burst", &echo_rate, NULL);
	half = (int)(worker_rate / 2);
	run_phase(producer, reader, &paced, "andon.requests", half);
	snprintf(label, sizeof(label), "worker, paced at %d req/s", half);
	report(&paced, label, NULL, &p99);
	run_phase(producer, reader, &echo_paced, ECHO_TOPIC, half);
	snprintf(label, sizeof(label), "broker alone, paced at %d msg/s", half);
	report(&echo_paced, label, NULL, NULL);

	/* The same worker phases with a Kafka transaction around every batch. */
	if (h_worker_stop() != 0) {
		h_stop();
		return 1;
	}
	worker = h_worker_start_bench("worker.exactly_once=true");
	run_phase(producer, reader, &eburst, "andon.requests", 0);
	report(&eburst, "exactly-once worker, burst", &eos_rate, NULL);
	run_phase(producer, reader, &epaced, "andon.requests", half);
	snprintf(label, sizeof(label), "exactly-once worker, paced at %d req/s", half);
	report(&epaced, label, NULL, &eos_p99);

	ceiling_rate = ceiling();
	printf("%-38s %8d calls    %25.0f calls/s\n", "ceiling: bare pipelined FCALL", n_req, ceiling_rate);
	printf("worker / ceiling = %.0f%%; worker / broker alone = %.0f%%\n",
	       100.0 * worker_rate / ceiling_rate, 100.0 * worker_rate / echo_rate);
	printf("exactly-once / at-least-once: throughput %.0f%%, paced p99 %.2fx\n",
	       100.0 * eos_rate / worker_rate, eos_p99 / p99);

	/*
	 * Signed requests: the same burst with security.auth off (unsigned) and required (signed), on fresh
	 * workers, alternating AUTH_ROUNDS times; the better of each, so a neighbour's load on a shared
	 * machine does not decide the ratio. The worker's own CPU per request, from /proc, is the steadier
	 * figure on such a machine.
	 */
	h_auth_on();
	for (int round = 0; round < AUTH_ROUNDS; round++) {
		for (int required = 0; required < 2; required++) {
			phase_t *ph = &auth_phases[round * 2 + required];
			double rate, cpu;

			if (h_worker_stop() != 0) {
				h_stop();
				return 1;
			}
			h_auth_workers(required);
			creds = required ? h_auth_creds(NULL) : NULL;
			worker = h_worker_start_bench("worker.exactly_once=false");
			cpu = cpu_us(worker);
			run_phase(producer, reader, ph, "andon.requests", 0);
			cpu = (cpu_us(worker) - cpu) / n_req;
			report(ph,
			       required ? "worker, burst, security.auth=required"
					: "worker, burst, security.auth=off",
			       &rate, NULL);
			printf("  worker CPU per request: %.1f us\n", cpu);
			if (required && rate > auth_rate)
				auth_rate = rate;
			if (!required && rate > off_rate)
				off_rate = rate;
			if (required && (auth_cpu == 0 || cpu < auth_cpu))
				auth_cpu = cpu;
			if (!required && (off_cpu == 0 || cpu < off_cpu))
				off_cpu = cpu;
		}
	}
	creds = NULL;
	printf("auth required / off (best of %d each): throughput %.0f%%; worker CPU per request %.1f us vs "
	       "%.1f us (+%.1f us); HMAC-SHA256 signature of one request: %.2f us (signed by the producer, "
	       "once more by the worker to verify)\n",
	       AUTH_ROUNDS, 100.0 * auth_rate / off_rate, auth_cpu, off_cpu, auth_cpu - off_cpu,
	       sign_cost_us());

	if (soak_n > 0)
		soak(producer, reader, worker, soak_n);

	rd_kafka_consumer_close(reader);
	rd_kafka_destroy(reader);
	rd_kafka_flush(producer, 5000);
	rd_kafka_destroy(producer);
	phase_free(&burst);
	phase_free(&paced);
	phase_free(&eburst);
	phase_free(&epaced);
	phase_free(&echo_burst);
	phase_free(&echo_paced);
	for (int i = 0; i < 2 * AUTH_ROUNDS; i++)
		phase_free(&auth_phases[i]);
	if (h_worker_stop() != 0) {
		h_stop();
		return 1;
	}
	engine_close();
	h_stop();
	return 0;
}
