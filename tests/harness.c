/* harness: integration-test plumbing around a real redis-server, the dev broker and the real worker. */
#include "harness.h"
#include "harness-int.h"

#include "codec.h"
#include "harness-auth.h"
#include "harness-kafka.h"
#include "json.h"
#include "kafka.h"
#include "sign.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct {
	char dir[256], bin[512], brokers[256];
	int redis_port;
	const char *appendfsync; /* NULL: everysec */
	pid_t redis;
	pid_t workers[H_MAX_WORKERS]; /* 0: free slot */
	char worker_logs[H_MAX_WORKERS][300];
	char worker_program[512]; /* "" : ANDON_BIN/andon-worker */
	char worker_config[512];  /* "" : no -c FILE */
	pid_t tools[H_MAX_TOOLS]; /* h_tool_start; 0: free slot */
	int tool_seq;
	int worker_seq;
	redisContext *rc;
	rd_kafka_t *producer, *consumer;
	json_t *replies; /* id -> [reply...] */
	size_t
	    bad_text; /* messages read holding a str that is not valid UTF-8 (strict decoders refuse them) */
	json_t *events;	    /* [event...] */
	json_t *dlq;	    /* [{topic, partition, offset, key, value}...] */
	json_t *watched;    /* topic -> [{key, value}...] for topics added with h_watch */
	json_t *unassigned; /* watched topics that do not exist yet: [topic...] */
	json_t *ids;	    /* keeps request ids alive */
	int started;
} H;

#define DIE(...)                                                                                             \
	do {                                                                                                 \
		fprintf(stderr, "harness: " __VA_ARGS__);                                                    \
		fprintf(stderr, "\n");                                                                       \
		h_stop();                                                                                    \
		abort();                                                                                     \
	} while (0)

long long h_now_ms(void)
{
	return (long long)(andon_now_us() / 1000);
}

void h_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* fork+exec with stdout to out_fd (or the log file) and stderr to the log file; dies with us. */
static pid_t spawn(char *const argv[], const char *log, int out_fd)
{
	pid_t pid = fork();

	if (pid < 0)
		DIE("fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(out_fd >= 0 ? out_fd : fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

/* Reaps pid within timeout_ms; returns the wait status, or -1 when it is still running. */
static int reap(pid_t pid, int timeout_ms)
{
	long long deadline = h_now_ms() + timeout_ms;
	int status;

	do {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return status;
		if (r < 0)
			return -1;
		h_sleep_ms(10);
	} while (h_now_ms() < deadline);
	return -1;
}

static void kill_reap(pid_t *pid, int sig)
{
	if (*pid <= 0)
		return;
	kill(*pid, sig);
	if (reap(*pid, 20000) == -1) {
		kill(*pid, SIGKILL);
		reap(*pid, 5000);
	}
	*pid = 0;
}

/* A port the kernel just gave out and took back: free for a moment, good enough on a test box. */
static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		DIE("free port: %s", strerror(errno));
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* What harness-redis.c shares of the process plumbing (harness-int.h). */
pid_t h_spawn(char *const argv[], const char *log, int out_fd)
{
	return spawn(argv, log, out_fd);
}

int h_reap(pid_t pid, int timeout_ms)
{
	return reap(pid, timeout_ms);
}

void h_kill_reap(pid_t *pid, int sig)
{
	kill_reap(pid, sig);
}

int h_free_port(void)
{
	return free_port();
}

const char *h_appendfsync(void)
{
	return H.appendfsync != NULL ? H.appendfsync : "everysec";
}

static int redis_connect(void)
{
	struct timeval tv = {2, 0};

	if (H.rc != NULL)
		redisFree(H.rc);
	H.rc = redisConnectWithTimeout("127.0.0.1", H.redis_port, tv);
	if (H.rc == NULL || H.rc->err) {
		if (H.rc != NULL)
			redisFree(H.rc);
		H.rc = NULL;
		return -1;
	}
	redisSetTimeout(H.rc, tv);
	return 0;
}

void h_redis_use(int port)
{
	if (H.rc != NULL) {
		redisFree(H.rc);
		H.rc = NULL;
	}
	H.redis_port = port;
}

void h_redis_start(void)
{
	if (h_redis_cluster()) {
		hr_cluster_start();
		H.redis_port = h_redis_cluster_port(0);
		return;
	}
	{
		char port[16], log[300];
		long long deadline;

		snprintf(port, sizeof(port), "%d", H.redis_port);
		snprintf(log, sizeof(log), "%s/redis.log", H.dir);
		char *argv[] = {"/usr/bin/redis-server",
				"--port",
				port,
				"--bind",
				"127.0.0.1",
				"--dir",
				H.dir,
				"--save",
				"",
				"--appendonly",
				"yes",
				"--appendfsync",
				(char *)(H.appendfsync != NULL ? H.appendfsync : "everysec"),
				NULL};
		H.redis = spawn(argv, log, -1);
		for (deadline = h_now_ms() + 10000; h_now_ms() < deadline; h_sleep_ms(20)) {
			redisReply *r;
			if (redis_connect() != 0)
				continue;
			r = redisCommand(H.rc, "PING");
			if (r != NULL && r->type == REDIS_REPLY_STATUS) {
				freeReplyObject(r);
				return;
			}
			freeReplyObject(r);
		}
		DIE("redis-server did not start on port %d (see %s)", H.redis_port, log);
	}
}

void h_redis_stop(void)
{
	redisReply *r;

	if (h_redis_cluster()) {
		hr_cluster_stop();
		return;
	}

	if (H.redis <= 0)
		return;
	if (H.rc != NULL) {
		/* SHUTDOWN never answers on success; the connection just closes. */
		r = redisCommand(H.rc, "SHUTDOWN");
		freeReplyObject(r);
		redisFree(H.rc);
		H.rc = NULL;
	}
	if (reap(H.redis, 10000) == -1)
		kill_reap(&H.redis, SIGKILL);
	H.redis = 0;
}

void h_redis_kill(void)
{
	if (H.rc != NULL) {
		redisFree(H.rc);
		H.rc = NULL;
	}
	kill_reap(&H.redis, SIGKILL);
}

void h_redis_appendfsync(const char *policy)
{
	H.appendfsync = policy;
}

redisContext *h_redis_ctx(void)
{
	if (H.rc == NULL && redis_connect() != 0)
		DIE("cannot connect to redis on port %d", H.redis_port);
	return H.rc;
}

redisReply *h_redis(const char *fmt, ...)
{
	va_list ap;
	redisReply *r;

	if (h_redis_cluster()) {
		va_start(ap, fmt);
		r = hr_cluster_vcommand(fmt, ap);
		va_end(ap);
		return r;
	}

	if (H.rc == NULL && redis_connect() != 0)
		return NULL;
	va_start(ap, fmt);
	r = redisvCommand(H.rc, fmt, ap);
	va_end(ap);
	if (r == NULL) {
		redisFree(H.rc);
		H.rc = NULL;
	}
	return r;
}

/* The broker (harness-kafka.c): the run's shared Kafka, a cluster of the test's own, or the mock. */
static void start_broker(void)
{
	hk_start(H.dir, H.bin, H.brokers, sizeof(H.brokers));
}

static rd_kafka_t *kafka_new(rd_kafka_type_t type, const char *const *props)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char err[512];
	rd_kafka_t *rk;

	if (rd_kafka_conf_set(conf, "bootstrap.servers", H.brokers, err, sizeof(err)) != RD_KAFKA_CONF_OK)
		DIE("%s", err);
	for (const char *const *p = props; *p != NULL; p += 2)
		if (rd_kafka_conf_set(conf, p[0], p[1], err, sizeof(err)) != RD_KAFKA_CONF_OK)
			DIE("%s", err);
	if ((rk = rd_kafka_new(type, conf, err, sizeof(err))) == NULL)
		DIE("rd_kafka_new: %s", err);
	return rk;
}

static void assign_all(void)
{
	static const char *const topics[] = {"andon.replies", "andon.events", "andon.dlq"};
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(9);

	for (size_t t = 0; t < 3; t++) {
		int32_t *ids = NULL;
		int n = hk_partitions(H.producer, topics[t], &ids);

		for (int p = 0; p < n; p++)
			rd_kafka_topic_partition_list_add(l, topics[t], ids[p])->offset =
			    RD_KAFKA_OFFSET_BEGINNING;
		free(ids);
	}
	if (rd_kafka_assign(H.consumer, l) != RD_KAFKA_RESP_ERR_NO_ERROR)
		DIE("assign failed");
	rd_kafka_topic_partition_list_destroy(l);
}

void h_start(void)
{
	static const char *const pprops[] = {"linger.ms", "1", NULL};
	const char *bin = getenv("ANDON_BIN");
	char tmpl[] = "/tmp/andon-test-XXXXXX";

	if (mkdtemp(tmpl) == NULL)
		DIE("mkdtemp: %s", strerror(errno));
	snprintf(H.dir, sizeof(H.dir), "%s", tmpl);
	snprintf(H.bin, sizeof(H.bin), "%s", bin != NULL ? bin : "build/bin");
	hr_init();
	signal(SIGPIPE, SIG_IGN);
	H.redis_port = free_port();
	h_redis_start();
	start_broker();
	H.producer = kafka_new(RD_KAFKA_PRODUCER, pprops);
	hk_prepare(H.producer);
	H.consumer = kafka_new(RD_KAFKA_CONSUMER, hk_consumer_props());
	assign_all();
	H.replies = json_object();
	H.events = json_array();
	H.dlq = json_array();
	H.watched = json_object();
	H.unassigned = json_array();
	H.ids = json_array();
	H.started = 1;
	h_auth_reset();
	if (getenv("ANDON_TEST_AUTH") != NULL && strcmp(getenv("ANDON_TEST_AUTH"), "required") == 0)
		h_auth_on();
}

void h_stop(void)
{
	char cmd[300];

	if (!H.started)
		return;
	H.started = 0;
	for (int i = 0; i < H_MAX_WORKERS; i++)
		kill_reap(&H.workers[i], SIGTERM);
	for (int i = 0; i < H_MAX_TOOLS; i++)
		kill_reap(&H.tools[i], SIGKILL);
	if (H.consumer != NULL) {
		rd_kafka_consumer_close(H.consumer);
		rd_kafka_destroy(H.consumer);
	}
	if (H.producer != NULL) {
		rd_kafka_flush(H.producer, 5000);
		rd_kafka_destroy(H.producer);
	}
	H.consumer = H.producer = NULL;
	hk_stop();
	hr_sentinel_stop();
	h_redis_stop();
	json_decref(H.replies);
	json_decref(H.events);
	json_decref(H.dlq);
	json_decref(H.watched);
	json_decref(H.unassigned);
	json_decref(H.ids);
	h_auth_reset();
	if (getenv("ANDON_KEEP_TMP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", H.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "harness: could not remove %s\n", H.dir);
	} else {
		fprintf(stderr, "harness: kept %s\n", H.dir);
	}
}

/* Reads a watched topic from its beginning once it exists; 0 when assigned, -1 while it does not exist. */
static int watch_assign(const char *topic)
{
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_error_t *e;
	int32_t *ids = NULL;
	char err[512];
	int n;

	/* On the mock the metadata request creates the topic (4 partitions) as the worker's first produce
	 * would; a real cluster creates none on first use: the worker creates its topics, the test waits. */
	if (hk_is_dev() && andon_kafka_warm_topic(H.producer, topic, NULL, 10000, err, sizeof(err)) != 0)
		DIE("watch %s: %s", topic, err);
	if ((n = andon_kafka_partitions(H.producer, topic, NULL, 10000, &ids, err, sizeof(err))) <= 0) {
		if (!hk_is_dev() && strstr(err, "not found") != NULL)
			return -1;
		DIE("watch %s: %s", topic, err);
	}
	l = rd_kafka_topic_partition_list_new(n);
	for (int i = 0; i < n; i++)
		rd_kafka_topic_partition_list_add(l, topic, ids[i])->offset = RD_KAFKA_OFFSET_BEGINNING;
	free(ids);
	if ((e = rd_kafka_incremental_assign(H.consumer, l)) != NULL)
		DIE("watch %s: %s", topic, rd_kafka_error_string(e));
	rd_kafka_topic_partition_list_destroy(l);
	return 0;
}

/* Assigns the watched topics that exist by now (checked every 100 ms at most). */
static void watch_pending(void)
{
	static long long next_ms;

	if (json_array_size(H.unassigned) == 0 || h_now_ms() < next_ms)
		return;
	next_ms = h_now_ms() + 100;
	for (size_t i = 0; i < json_array_size(H.unassigned);) {
		if (watch_assign(json_string_value(json_array_get(H.unassigned, i))) == 0)
			json_array_remove(H.unassigned, i);
		else
			i++;
	}
}

void h_watch(const char *topic)
{
	if (json_object_get(H.watched, topic) != NULL)
		return;
	json_object_set_new(H.watched, topic, json_array());
	if (watch_assign(topic) != 0)
		json_array_append_new(H.unassigned, json_string(topic));
}

void h_topic_create(const char *topic, int partitions)
{
	hk_create_topic(H.producer, topic, partitions);
}

json_t *h_topic(const char *topic)
{
	h_pump(0);
	return json_object_get(H.watched, topic);
}

int h_wait_topic(const char *topic, size_t n, int timeout_ms)
{
	long long deadline = h_now_ms() + timeout_ms;

	while (json_array_size(json_object_get(H.watched, topic)) < n) {
		if (h_now_ms() >= deadline)
			return -1;
		h_pump(20);
	}
	return 0;
}

pid_t h_tool_start(const char *name, const char *const *args)
{
	char path[600], log[400];
	char *argv[32];
	int n = 0, slot = 0;

	while (slot < H_MAX_TOOLS && H.tools[slot] != 0)
		slot++;
	if (slot == H_MAX_TOOLS)
		DIE("more than %d tools at once", H_MAX_TOOLS);
	snprintf(path, sizeof(path), "%s/%s", H.bin, name);
	snprintf(log, sizeof(log), "%s/%s-%d.log", H.dir, name, ++H.tool_seq);
	argv[n++] = path;
	for (; args != NULL && *args != NULL && n < 31; args++)
		argv[n++] = (char *)*args;
	argv[n] = NULL;
	return H.tools[slot] = spawn(argv, log, -1);
}

int h_tool_stop(pid_t pid)
{
	int status;

	for (int i = 0; i < H_MAX_TOOLS; i++) {
		if (H.tools[i] != pid)
			continue;
		kill(pid, SIGTERM);
		status = reap(pid, 20000);
		if (status == -1) {
			kill(pid, SIGKILL);
			reap(pid, 5000);
		}
		H.tools[i] = 0;
		return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	}
	return -1;
}

const char *h_brokers(void)
{
	return H.brokers;
}

int h_redis_port(void)
{
	return H.redis_port;
}

void h_produce_msg(const char *topic, const void *key, size_t key_len, const void *buf, size_t len,
		   struct rd_kafka_headers_s *hdrs, long long ts_ms)
{
	rd_kafka_resp_err_t err;

	err = rd_kafka_producev(H.producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
				RD_KAFKA_V_VALUE((void *)buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				RD_KAFKA_V_TIMESTAMP(ts_ms), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		DIE("produce: %s", rd_kafka_err2str(err));
	h_flush();
}

void h_produce_raw(const char *topic, const char *key, const void *buf, size_t len)
{
	rd_kafka_resp_err_t err;

	err = rd_kafka_producev(
	    H.producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
	    RD_KAFKA_V_VALUE((void *)buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		DIE("produce: %s", rd_kafka_err2str(err));
	h_flush();
}

void h_flush(void)
{
	if (rd_kafka_flush(H.producer, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		DIE("flush timed out");
}

static const char *send_req_at(const char *op, const char *id, const char *key, const char *account,
			       json_t *body, long long ts_ms)
{
	char uuid[37], err[256];
	json_t *req = json_object();
	msgpack_sbuffer sb;
	msgpack_packer pk;
	rd_kafka_resp_err_t e;

	if (id == NULL) {
		andon_uuid4(uuid);
		id = uuid;
	}
	json_object_set_new(req, "v", json_integer(1));
	json_object_set_new(req, "op", json_string(op));
	json_object_set_new(req, "id", json_string(id));
	if (account != NULL)
		json_object_set_new(req, "account", json_string(account));
	json_object_set_new(req, "body", body);
	/* Keyed by the execution, as producers should; tests must pass whatever the key. */
	if (key == NULL)
		key = json_string_value(json_object_get(body, "executionArn"));
	if (key == NULL)
		key = id;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (andon_json_to_msgpack(req, &pk, err, sizeof(err)) != 0)
		DIE("encode: %s", err);
	/* Signed by the key of its account when signing is on (harness-auth.h); a message stamped with a
	 * time of its own (ts_ms, h_send_at) is signed at that time, as its producer would have. */
	if (ts_ms == 0) {
		while ((e = andon_sign_produce(H.producer, h_auth_creds(account), "andon.requests",
					       RD_KAFKA_PARTITION_UA, key, strlen(key), sb.data, sb.size,
					       NULL, NULL)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(H.producer, 10);
	} else {
		const andon_creds_t *c = h_auth_creds(account);
		rd_kafka_headers_t *hdrs = rd_kafka_headers_new(3);

		if (c != NULL && andon_sign_headers(hdrs, c, "andon.requests", key, strlen(key), sb.data,
						    sb.size, (time_t)(ts_ms / 1000), err, sizeof(err)) != 0)
			DIE("sign: %s", err);
		/* The message owns the headers once produced. */
		while ((e = rd_kafka_producev(
			    H.producer, RD_KAFKA_V_TOPIC("andon.requests"), RD_KAFKA_V_KEY(key, strlen(key)),
			    RD_KAFKA_V_VALUE(sb.data, sb.size), RD_KAFKA_V_TIMESTAMP(ts_ms),
			    RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			    RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(H.producer, 10);
		if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
			rd_kafka_headers_destroy(hdrs);
	}
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
		DIE("produce: %s", rd_kafka_err2str(e));
	msgpack_sbuffer_destroy(&sb);
	json_array_append_new(H.ids, json_string(id));
	json_decref(req);
	return json_string_value(json_array_get(H.ids, json_array_size(H.ids) - 1));
}

static const char *send_req(const char *op, const char *id, const char *key, const char *account,
			    json_t *body)
{
	return send_req_at(op, id, key, account, body, 0);
}

const char *h_send_at(const char *op, const char *id, json_t *body, long long ts_ms)
{
	return send_req_at(op, id, NULL, NULL, body, ts_ms);
}

const char *h_send(const char *op, const char *id, const char *account, json_t *body)
{
	return send_req(op, id, NULL, account, body);
}

const char *h_send_key(const char *op, const char *id, const char *key, json_t *body)
{
	return send_req(op, id, key, NULL, body);
}

static json_t *decode(const rd_kafka_message_t *m)
{
	msgpack_zone zone;
	msgpack_object o;
	json_t *j = NULL;
	char err[128];

	const char *field;
	size_t field_len;

	msgpack_zone_init(&zone, 4096);
	if (andon_codec_unpack(m->payload, m->len, 64, &zone, &o, err, sizeof(err)) == 0) {
		j = andon_json_from_msgpack(&o);
		/* Everything Andon writes as a str must be UTF-8: count what a strict decoder would refuse.
		 */
		if (andon_codec_check_text(&o, &field, &field_len) != 0) {
			H.bad_text++;
			fprintf(stderr,
				"harness: a message on %s holds a str that is not valid UTF-8 (in %.*s)\n",
				rd_kafka_topic_name(m->rkt), field != NULL ? (int)field_len : 1,
				field != NULL ? field : "?");
		}
	}
	msgpack_zone_destroy(&zone);
	return j;
}

void h_pump(int timeout_ms)
{
	long long deadline = h_now_ms() + timeout_ms;
	rd_kafka_message_t *m;

	rd_kafka_poll(H.producer, 0);
	watch_pending();
	do {
		const char *topic;
		json_t *v;

		if ((m = rd_kafka_consumer_poll(H.consumer, 5)) == NULL)
			continue;
		if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			rd_kafka_message_destroy(m);
			continue;
		}
		topic = rd_kafka_topic_name(m->rkt);
		if ((v = decode(m)) == NULL) {
			fprintf(stderr, "harness: undecodable message on %s\n", topic);
		} else if (strcmp(topic, "andon.replies") == 0) {
			const char *id = json_string_value(json_object_get(v, "id"));
			json_t *list = json_object_get(H.replies, id ? id : "");
			if (list == NULL)
				json_object_set_new(H.replies, id ? id : "", list = json_array());
			json_array_append(list, v);
		} else if (strcmp(topic, "andon.events") == 0) {
			json_array_append(H.events, v);
		} else if (json_object_get(H.watched, topic) != NULL) {
			json_array_append_new(json_object_get(H.watched, topic),
					      json_pack("{s:s%, s:O}", "key", m->key ? (char *)m->key : "",
							m->key ? m->key_len : 0, "value", v));
		} else {
			json_array_append_new(H.dlq, json_pack("{s:s, s:i, s:I, s:O}", "topic", topic,
							       "partition", (int)m->partition, "offset",
							       (json_int_t)m->offset, "value", v));
		}
		json_decref(v);
		rd_kafka_message_destroy(m);
		/* Keep draining while messages come; return once the deadline has passed. */
	} while (h_now_ms() < deadline);
}

json_t *h_reply(const char *id, int n, int timeout_ms)
{
	long long deadline = h_now_ms() + timeout_ms;

	for (;;) {
		json_t *list = json_object_get(H.replies, id);
		if (list != NULL && json_array_size(list) >= (size_t)n)
			return json_array_get(list, (size_t)n - 1);
		if (h_now_ms() >= deadline)
			return NULL;
		h_pump(20);
	}
}

size_t h_reply_count(const char *id)
{
	h_pump(0);
	return json_array_size(json_object_get(H.replies, id));
}

json_t *h_call_as(const char *op, const char *id, const char *account, json_t *body)
{
	const char *rid = h_send(op, id, account, body);
	json_t *r;

	h_flush();
	r = h_reply(rid, 1, 20000);
	if (r == NULL)
		DIE("no reply to %s %s within 20 s", op, rid);
	return r;
}

json_t *h_call(const char *op, json_t *body)
{
	return h_call_as(op, NULL, NULL, body);
}

json_t *h_events(const char *resource)
{
	json_t *out = json_array(), *e;
	size_t i;

	h_pump(0);
	json_array_foreach(H.events, i, e)
	{
		const char *r = json_string_value(json_object_get(e, "resource"));
		if (r != NULL && strcmp(r, resource) == 0)
			json_array_append(out, e);
	}
	return out;
}

int h_wait_events(const char *resource, size_t n, int timeout_ms)
{
	long long deadline = h_now_ms() + timeout_ms;

	for (;;) {
		json_t *evs = h_events(resource);
		size_t have = json_array_size(evs);
		json_decref(evs);
		if (have >= n)
			return 0;
		if (h_now_ms() >= deadline)
			return -1;
		h_pump(20);
	}
}

json_t *h_dlq(void)
{
	h_pump(0);
	return H.dlq;
}

int h_wait_dlq(size_t n, int timeout_ms)
{
	long long deadline = h_now_ms() + timeout_ms;

	while (json_array_size(H.dlq) < n) {
		if (h_now_ms() >= deadline)
			return -1;
		h_pump(20);
	}
	return 0;
}

/* True once the file at path contains needle. */
static int file_has(const char *path, const char *needle)
{
	char buf[4096];
	size_t have = 0, n, keep = strlen(needle) - 1;
	FILE *fp = fopen(path, "r");
	int found = 0;

	if (fp == NULL)
		return 0;
	/* Windows overlap by strlen(needle) - 1 bytes so a needle across a boundary is still found. */
	while (!found && (n = fread(buf + have, 1, sizeof(buf) - have - 1, fp)) > 0) {
		have += n;
		buf[have] = '\0';
		found = strstr(buf, needle) != NULL;
		if (have > keep) {
			memmove(buf, buf + have - keep, keep);
			have = keep;
		}
	}
	fclose(fp);
	return found;
}

pid_t h_worker_spawn(const char *const *opts)
{
	char path[600], port[H_CLUSTER_NODES * 24 + 32], log[sizeof(H.worker_logs[0])];
	char *argv[64];
	int argc = 0, slot = -1;

	for (int i = 0; i < H_MAX_WORKERS && slot < 0; i++)
		if (H.workers[i] == 0)
			slot = i;
	if (slot < 0)
		DIE("more than %d workers", H_MAX_WORKERS);
	if (H.worker_program[0] != '\0')
		snprintf(path, sizeof(path), "%s", H.worker_program);
	else
		snprintf(path, sizeof(path), "%s/andon-worker", H.bin);
	snprintf(log, sizeof(log), "%s/worker-%d.log", H.dir, ++H.worker_seq);
	memcpy(H.worker_logs[slot], log, sizeof(log));
	if (h_redis_cluster())
		snprintf(port, sizeof(port), "redis.cluster=%s", h_redis_cluster_seeds());
	else
		snprintf(port, sizeof(port), "redis.port=%d", H.redis_port);
	argv[argc++] = path;
	if (H.worker_config[0] != '\0') {
		/* First, so that what the harness and the test give on the command line wins. */
		argv[argc++] = "-c";
		argv[argc++] = H.worker_config;
	}
	argv[argc++] = "-b";
	argv[argc++] = H.brokers;
	argv[argc++] = "-o";
	argv[argc++] = port;
	hk_worker_args(argv, &argc);
	h_auth_worker_args(argv, &argc);
	argv[argc++] = "-X";
	argv[argc++] = "session.timeout.ms=6000";
	argv[argc++] = "-X";
	argv[argc++] = "heartbeat.interval.ms=500";
	argv[argc++] = "-o";
	argv[argc++] = "worker.shutdown_timeout_ms=15000";
	for (const char *const *o = opts; o != NULL && *o != NULL && argc < 60; o++) {
		argv[argc++] = "-o";
		argv[argc++] = (char *)*o;
	}
	argv[argc] = NULL;
	return H.workers[slot] = spawn(argv, H.worker_logs[slot], -1);
}

const char *h_worker_log(pid_t pid)
{
	for (int i = 0; i < H_MAX_WORKERS; i++)
		if (H.workers[i] == pid && pid > 0)
			return H.worker_logs[i];
	return NULL;
}

int h_worker_wait(pid_t pid, int timeout_ms)
{
	int status;

	for (int i = 0; i < H_MAX_WORKERS; i++) {
		if (H.workers[i] != pid || pid <= 0)
			continue;
		if ((status = reap(pid, timeout_ms)) != -1)
			H.workers[i] = 0;
		return status;
	}
	return -1;
}

void h_worker_config(const char *path)
{
	snprintf(H.worker_config, sizeof(H.worker_config), "%s", path != NULL ? path : "");
}

const char *h_dir(void)
{
	return H.dir;
}

void h_worker_program(const char *path)
{
	snprintf(H.worker_program, sizeof(H.worker_program), "%s", path != NULL ? path : "");
}

const char *h_test_worker(void)
{
	static char path[600];
	const char *env = getenv("ANDON_TEST_WORKER");

	if (env != NULL && *env != '\0')
		return env;
	snprintf(path, sizeof(path), "%s/../tests/andon-worker-test", H.bin);
	return path;
}

pid_t h_worker_start(const char *const *opts)
{
	pid_t pid = h_worker_spawn(opts);
	const char *log = h_worker_log(pid);
	long long deadline;

	/* Ready once it owns partitions and the group answers: a describe of nothing changes no state. */
	for (deadline = h_now_ms() + 60000; h_now_ms() < deadline;) {
		const char *id;

		if (waitpid(pid, NULL, WNOHANG) == pid)
			DIE("worker exited at start (see %s)", log);
		if (!file_has(log, "assigned ")) {
			h_pump(50);
			continue;
		}
		id = h_send("StepFunctions.DescribeExecution", NULL, NULL,
			    json_pack("{s:s}", "executionArn",
				      "arn:aws:states:" H_REGION ":" H_ACCOUNT ":execution:probe:probe"));
		h_flush();
		if (h_reply(id, 1, 3000) != NULL)
			return pid;
	}
	DIE("worker not ready within 60 s (see %s)", log);
}

pid_t h_worker_start_bench(const char *first)
{
	const char *opts[18] = {first};
	char *copy = getenv("ANDON_BENCH_OPTS") != NULL ? strdup(getenv("ANDON_BENCH_OPTS")) : NULL;
	char *save = NULL;
	int k = first != NULL;
	pid_t pid;

	for (char *o = copy != NULL ? strtok_r(copy, " ", &save) : NULL; o != NULL && k < 17;
	     o = strtok_r(NULL, " ", &save))
		opts[k++] = o;
	pid = h_worker_start(opts);
	free(copy);
	return pid;
}

int h_worker_stop(void)
{
	int worst = 0, any = 0;

	/* Signal all first so a group shuts down together, then reap each. */
	for (int i = 0; i < H_MAX_WORKERS; i++)
		if (H.workers[i] > 0)
			kill(H.workers[i], SIGTERM);
	for (int i = 0; i < H_MAX_WORKERS; i++) {
		int status;

		if (H.workers[i] <= 0)
			continue;
		any = 1;
		status = reap(H.workers[i], 60000);
		if (status == -1) {
			kill_reap(&H.workers[i], SIGKILL);
			worst = -1;
			continue;
		}
		H.workers[i] = 0;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			worst = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	}
	return any ? worst : -1;
}

void h_worker_kill_pid(pid_t pid)
{
	for (int i = 0; i < H_MAX_WORKERS; i++)
		if (H.workers[i] == pid)
			kill_reap(&H.workers[i], SIGKILL);
}

void h_worker_kill(void)
{
	for (int i = 0; i < H_MAX_WORKERS; i++)
		kill_reap(&H.workers[i], SIGKILL);
}

char *h_sfn_machine(const char *name, const char *type)
{
	json_t *r =
	    h_call("StepFunctions.CreateStateMachine", json_pack("{s:s, s:s}", "name", name, "type", type));
	const char *arn = json_string_value(json_object_get(json_object_get(r, "body"), "stateMachineArn"));

	if (arn == NULL)
		DIE("CreateStateMachine %s failed", name);
	return strdup(arn);
}

char *h_sfn_start(const char *sm_arn, const char *name)
{
	json_t *r = h_call("StepFunctions.StartExecution", json_pack("{s:s, s:s, s:s}", "stateMachineArn",
								     sm_arn, "name", name, "input", "{}"));
	const char *arn = json_string_value(json_object_get(json_object_get(r, "body"), "executionArn"));

	if (arn == NULL)
		DIE("StartExecution %s failed", name);
	return strdup(arn);
}

int h_group_setup(const char *const *opts)
{
	h_start();
	h_worker_start(opts);
	return 0;
}

size_t h_bad_text(void)
{
	return H.bad_text;
}

int h_group_teardown(void)
{
	int rc = h_worker_stop();

	size_t bad = H.bad_text;

	h_stop();
	if (rc != 0)
		fprintf(stderr, "harness: worker exit status %d, expected 0\n", rc);
	if (bad != 0)
		fprintf(stderr, "harness: %zu message(s) held text that is not valid UTF-8\n", bad);
	return rc == 0 && bad == 0 ? 0 : -1;
}

int h_group_setup_cmocka(void **state)
{
	(void)state;
	return h_group_setup(NULL);
}

int h_group_teardown_cmocka(void **state)
{
	(void)state;
	return h_group_teardown();
}

char **h_sfn_start_many(const char *sm_arn, const char *prefix, int n)
{
	char **arns = calloc((size_t)n, sizeof(*arns));
	const char **ids = calloc((size_t)n, sizeof(*ids));
	char name[64];

	if (arns == NULL || ids == NULL)
		DIE("out of memory");
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s-%d", prefix, i);
		ids[i] = h_send("StepFunctions.StartExecution", NULL, NULL,
				json_pack("{s:s, s:s}", "stateMachineArn", sm_arn, "name", name));
	}
	h_flush();
	for (int i = 0; i < n; i++) {
		json_t *r = h_reply(ids[i], 1, 60000);
		const char *arn =
		    json_string_value(json_object_get(json_object_get(r, "body"), "executionArn"));

		if (arn == NULL)
			DIE("StartExecution %s-%d was not answered with an executionArn", prefix, i);
		arns[i] = strdup(arn);
	}
	free(ids);
	return arns;
}
