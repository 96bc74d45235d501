/* harness: integration-test plumbing around a real redis-server, the dev broker and the real worker. */
#include "harness.h"

#include "codec.h"
#include "harness-kafka.h"
#include "json.h"
#include "kafka.h"
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct {
	char dir[256], bin[512], brokers[256];
	int redis_port;
	const char *appendfsync; /* NULL: everysec */
	pid_t redis;
	/* ANDON_REDIS=cluster: 3 primaries and 3 replicas instead of one Redis (ports[0..2] the primaries as
	 * created); h_redis follows MOVED and ASK. */
	int cluster;
	int cluster_nodes; /* 6 (ANDON_REDIS=cluster), or 3 primaries alone (ANDON_REDIS=cluster3) */
	int cluster_ports[H_CLUSTER_NODES];
	pid_t cluster_pids[H_CLUSTER_NODES];
	redisContext *cluster_rc[H_CLUSTER_NODES];
	/* h_sentinel_start(): a replica of the one Redis and three sentinels watching it. */
	int replica_port, sentinel_ports[3];
	pid_t replica, sentinels[3];
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

/* 1 when nothing listens on port (a bind succeeds). */
static int port_free(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	a.sin_port = htons((uint16_t)port);
	ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* A free port for a cluster node: at most 55535, its bus port (port + 10000) free too. */
static int cluster_port(void)
{
	for (int tries = 0; tries < 1000; tries++) {
		int port = free_port();

		if (port <= 55535 && port_free(port + 10000))
			return port;
	}
	DIE("no free port pair for a cluster node");
}

/* Index of the cluster node on port, or -1. */
static int cluster_node(int port)
{
	for (int i = 0; i < H_CLUSTER_NODES; i++)
		if (H.cluster_ports[i] == port)
			return i;
	return -1;
}

static redisContext *cluster_ctx(int i)
{
	struct timeval tv = {2, 0};

	if (H.cluster_rc[i] == NULL) {
		H.cluster_rc[i] = redisConnectWithTimeout("127.0.0.1", H.cluster_ports[i], tv);
		if (H.cluster_rc[i] != NULL && H.cluster_rc[i]->err) {
			redisFree(H.cluster_rc[i]);
			H.cluster_rc[i] = NULL;
		}
		if (H.cluster_rc[i] != NULL)
			redisSetTimeout(H.cluster_rc[i], tv);
	}
	return H.cluster_rc[i];
}

/* A command on cluster node i; a connection that failed is dropped (made again on next use). */
static redisReply *node_vcommand(int i, const char *fmt, va_list ap)
{
	redisContext *c = cluster_ctx(i);
	redisReply *r = c != NULL ? redisvCommand(c, fmt, ap) : NULL;

	if (r == NULL && c != NULL) {
		redisFree(c);
		H.cluster_rc[i] = NULL;
	}
	return r;
}

static redisReply *node_command(int i, const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = node_vcommand(i, fmt, ap);
	va_end(ap);
	return r;
}

/* 1 when every node of the cluster says cluster_state:ok and knows all 6 nodes. */
static int cluster_ok(void)
{
	char known[40];

	snprintf(known, sizeof(known), "cluster_known_nodes:%d\r", H.cluster_nodes);
	for (int i = 0; i < H.cluster_nodes; i++) {
		redisReply *r = node_command(i, "CLUSTER INFO");
		int ok = r != NULL && r->type == REDIS_REPLY_STRING &&
			 strstr(r->str, "cluster_state:ok") != NULL && strstr(r->str, known) != NULL;

		freeReplyObject(r);
		if (!ok)
			return 0;
	}
	return 1;
}

/* Starts cluster node i on its port, its folder and its nodes file (kept over a restart). */
static void node_spawn(int i)
{
	char port[16], dir[300], conf[32], log[300];

	snprintf(port, sizeof(port), "%d", H.cluster_ports[i]);
	snprintf(dir, sizeof(dir), "%s/redis-%d", H.dir, H.cluster_ports[i]);
	snprintf(conf, sizeof(conf), "nodes-%d.conf", H.cluster_ports[i]);
	snprintf(log, sizeof(log), "%s/redis-%d.log", H.dir, H.cluster_ports[i]);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		DIE("mkdir %s: %s", dir, strerror(errno));
	char *argv[] = {"/usr/bin/redis-server",
			"--port",
			port,
			"--bind",
			"127.0.0.1",
			"--dir",
			dir,
			"--save",
			"",
			"--appendonly",
			"yes",
			"--appendfsync",
			(char *)(H.appendfsync != NULL ? H.appendfsync : "everysec"),
			"--cluster-enabled",
			"yes",
			"--cluster-config-file",
			conf,
			"--cluster-node-timeout",
			"1000",
			NULL};
	H.cluster_pids[i] = spawn(argv, log, -1);
}

void h_redis_cluster_restart(int i)
{
	node_spawn(i);
}

/* Six redis-servers in cluster mode, then redis-cli --cluster create with one replica per primary. */
static void cluster_start(void)
{
	char log[300], addrs[H_CLUSTER_NODES][32], *argv[16 + H_CLUSTER_NODES];
	long long deadline;
	pid_t cli;
	int argc = 0, status;

	for (int i = 0; i < H.cluster_nodes; i++) {
		if (H.cluster_ports[i] == 0)
			H.cluster_ports[i] = cluster_port();
		node_spawn(i);
	}
	for (deadline = h_now_ms() + 30000;; h_sleep_ms(20)) {
		int up = 0;

		for (int i = 0; i < H.cluster_nodes; i++) {
			redisReply *r = node_command(i, "PING");

			up += r != NULL && r->type == REDIS_REPLY_STATUS;
			freeReplyObject(r);
		}
		if (up == H.cluster_nodes)
			break;
		if (h_now_ms() > deadline)
			DIE("cluster nodes did not start (see %s/redis-*.log)", H.dir);
	}
	argv[argc++] = "/usr/bin/redis-cli";
	argv[argc++] = "--cluster";
	argv[argc++] = "create";
	for (int i = 0; i < H.cluster_nodes; i++) {
		snprintf(addrs[i], sizeof(addrs[i]), "127.0.0.1:%d", H.cluster_ports[i]);
		argv[argc++] = addrs[i];
	}
	argv[argc++] = "--cluster-replicas";
	argv[argc++] = H.cluster_nodes == 6 ? "1" : "0";
	argv[argc++] = "--cluster-yes";
	argv[argc] = NULL;
	snprintf(log, sizeof(log), "%s/cluster-create.log", H.dir);
	cli = spawn(argv, log, -1);
	if ((status = reap(cli, 60000)) == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		DIE("redis-cli --cluster create failed (see %s)", log);
	for (deadline = h_now_ms() + 30000; !cluster_ok(); h_sleep_ms(50))
		if (h_now_ms() > deadline)
			DIE("cluster did not become ok (see %s)", log);
}

const char *h_sentinel_start(void)
{
	static char list[64];
	char port[16], primary[16], log[300], conf[300];
	long long deadline;

	H.replica_port = free_port();
	snprintf(port, sizeof(port), "%d", H.replica_port);
	snprintf(primary, sizeof(primary), "%d", H.redis_port);
	snprintf(log, sizeof(log), "%s/replica.log", H.dir);
	snprintf(conf, sizeof(conf), "%s/replica", H.dir);
	if (mkdir(conf, 0755) != 0 && errno != EEXIST)
		DIE("mkdir %s: %s", conf, strerror(errno));
	char *rargv[] = {"/usr/bin/redis-server",
			 "--port",
			 port,
			 "--bind",
			 "127.0.0.1",
			 "--dir",
			 conf,
			 "--save",
			 "",
			 "--appendonly",
			 "yes",
			 "--replicaof",
			 "127.0.0.1",
			 primary,
			 NULL};
	H.replica = spawn(rargv, log, -1);
	for (int i = 0; i < 3; i++) {
		FILE *fp;

		H.sentinel_ports[i] = free_port();
		snprintf(conf, sizeof(conf), "%s/sentinel-%d.conf", H.dir, i);
		snprintf(log, sizeof(log), "%s/sentinel-%d.log", H.dir, i);
		if ((fp = fopen(conf, "w")) == NULL)
			DIE("%s: %s", conf, strerror(errno));
		fprintf(fp,
			"port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor mymaster 127.0.0.1 %d 2\n"
			"sentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster "
			"5000\n",
			H.sentinel_ports[i], H.dir, H.redis_port);
		fclose(fp);
		char *sargv[] = {"/usr/bin/redis-server", conf, "--sentinel", NULL};
		H.sentinels[i] = spawn(sargv, log, -1);
	}
	/* Ready when the replica is in sync and every sentinel knows it. */
	for (deadline = h_now_ms() + 30000; h_now_ms() < deadline; h_sleep_ms(100)) {
		int ready = 0;

		for (int i = 0; i < 3; i++) {
			redisContext *c = redisConnect("127.0.0.1", H.sentinel_ports[i]);
			redisReply *r =
			    c != NULL && !c->err ? redisCommand(c, "SENTINEL REPLICAS mymaster") : NULL;

			ready += r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 1;
			freeReplyObject(r);
			if (c != NULL)
				redisFree(c);
		}
		if (ready == 3)
			break;
	}
	if (h_now_ms() >= deadline)
		DIE("sentinels did not see the replica (see %s/sentinel-*.log)", H.dir);
	snprintf(list, sizeof(list), "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", H.sentinel_ports[0],
		 H.sentinel_ports[1], H.sentinel_ports[2]);
	return list;
}

int h_sentinel_primary(void)
{
	for (int i = 0; i < 3; i++) {
		redisContext *c = redisConnect("127.0.0.1", H.sentinel_ports[i]);
		redisReply *r = c != NULL && !c->err
				    ? redisCommand(c, "SENTINEL get-master-addr-by-name mymaster")
				    : NULL;
		int port = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2
			       ? atoi(r->element[1]->str)
			       : -1;

		freeReplyObject(r);
		if (c != NULL)
			redisFree(c);
		if (port > 0)
			return port;
	}
	return -1;
}

int h_sentinel_replica_port(void)
{
	return H.replica_port;
}

void h_redis_use(int port)
{
	if (H.rc != NULL) {
		redisFree(H.rc);
		H.rc = NULL;
	}
	H.redis_port = port;
}

static void sentinel_stop(void)
{
	for (int i = 0; i < 3; i++)
		kill_reap(&H.sentinels[i], SIGTERM);
	kill_reap(&H.replica, SIGTERM);
}

int h_redis_cluster(void)
{
	return H.cluster;
}

const char *h_redis_cluster_seeds(void)
{
	static char seeds[H_CLUSTER_NODES * 24];
	size_t at = 0;

	seeds[0] = '\0';
	for (int i = 0; i < 3; i++)
		at += (size_t)snprintf(seeds + at, sizeof(seeds) - at, "%s127.0.0.1:%d", i > 0 ? "," : "",
				       H.cluster_ports[i]);
	return seeds;
}

redisReply *h_redis_node(int i, const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = node_vcommand(i, fmt, ap);
	va_end(ap);
	return r;
}

int h_redis_cluster_port(int i)
{
	return H.cluster_ports[i];
}

pid_t h_redis_cluster_pid(int i)
{
	return H.cluster_pids[i];
}

void h_redis_cluster_kill(int i)
{
	if (H.cluster_rc[i] != NULL) {
		redisFree(H.cluster_rc[i]);
		H.cluster_rc[i] = NULL;
	}
	kill_reap(&H.cluster_pids[i], SIGKILL);
}

void h_redis_start(void)
{
	if (H.cluster) {
		cluster_start();
		H.redis_port = H.cluster_ports[0];
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

	if (H.cluster) {
		for (int i = 0; i < H.cluster_nodes; i++) {
			if (H.cluster_rc[i] != NULL) {
				redisFree(H.cluster_rc[i]);
				H.cluster_rc[i] = NULL;
			}
			kill_reap(&H.cluster_pids[i], SIGTERM);
		}
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

/* In cluster mode: the command on the node that owns its key, found by following MOVED and ASK. */
static redisReply *cluster_command(const char *fmt, va_list ap)
{
	int at = 0, asking = 0;

	for (int hop = 0; hop < 8; hop++) {
		redisContext *c = cluster_ctx(at);
		redisReply *r;
		va_list aq;
		char *sp, *colon;

		if (c == NULL)
			return NULL;
		if (asking)
			freeReplyObject(redisCommand(c, "ASKING"));
		va_copy(aq, ap);
		r = node_vcommand(at, fmt, aq);
		va_end(aq);
		if (r == NULL)
			return NULL;
		if (r->type != REDIS_REPLY_ERROR ||
		    (strncmp(r->str, "MOVED ", 6) != 0 && strncmp(r->str, "ASK ", 4) != 0) ||
		    (sp = strrchr(r->str, ' ')) == NULL || (colon = strrchr(sp, ':')) == NULL ||
		    (at = cluster_node(atoi(colon + 1))) < 0)
			return r;
		asking = r->str[1] == 'S';
		freeReplyObject(r);
	}
	return NULL;
}

redisReply *h_redis(const char *fmt, ...)
{
	va_list ap;
	redisReply *r;

	if (H.cluster) {
		va_start(ap, fmt);
		r = cluster_command(fmt, ap);
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
	H.cluster = getenv("ANDON_REDIS") != NULL && strncmp(getenv("ANDON_REDIS"), "cluster", 7) == 0;
	H.cluster_nodes = H.cluster && strcmp(getenv("ANDON_REDIS"), "cluster3") == 0 ? 3 : 6;
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
	sentinel_stop();
	h_redis_stop();
	json_decref(H.replies);
	json_decref(H.events);
	json_decref(H.dlq);
	json_decref(H.watched);
	json_decref(H.unassigned);
	json_decref(H.ids);
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

static const char *send_req(const char *op, const char *id, const char *key, const char *account,
			    json_t *body)
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
	while ((e = rd_kafka_producev(H.producer, RD_KAFKA_V_TOPIC("andon.requests"),
				      RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(sb.data, sb.size),
				      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
	       RD_KAFKA_RESP_ERR__QUEUE_FULL)
		rd_kafka_poll(H.producer, 10);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
		DIE("produce: %s", rd_kafka_err2str(e));
	msgpack_sbuffer_destroy(&sb);
	json_array_append_new(H.ids, json_string(id));
	json_decref(req);
	return json_string_value(json_array_get(H.ids, json_array_size(H.ids) - 1));
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
	if (H.cluster)
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
