/* harness-redis: the Redis setups beside the one Redis of harness.c: a Redis Cluster (ANDON_REDIS=cluster: 3
 * primaries and 3 replicas; cluster3: the primaries alone) and Sentinel (a replica and three sentinels). */
#include "harness-int.h"
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DIE(...)                                                                                             \
	do {                                                                                                 \
		fprintf(stderr, "harness-redis: " __VA_ARGS__);                                              \
		fprintf(stderr, "\n");                                                                       \
		h_stop();                                                                                    \
		abort();                                                                                     \
	} while (0)

static struct {
	int cluster;	   /* ANDON_REDIS=cluster or cluster3 */
	int cluster_nodes; /* 6 (cluster: 3 primaries, 3 replicas), or 3 primaries alone (cluster3) */
	int cluster_ports[H_CLUSTER_NODES];
	pid_t cluster_pids[H_CLUSTER_NODES];
	redisContext *cluster_rc[H_CLUSTER_NODES]; /* the harness's own connections, one per node */
	/* h_sentinel_start(): a replica of the one Redis and three sentinels watching it. */
	int replica_port, sentinel_ports[3];
	pid_t replica, sentinels[3];
} R;

void hr_init(void)
{
	const char *mode = getenv("ANDON_REDIS");

	R.cluster = mode != NULL && strncmp(mode, "cluster", 7) == 0;
	R.cluster_nodes = R.cluster && strcmp(mode, "cluster3") == 0 ? 3 : 6;
}

void hr_cluster_stop(void)
{
	for (int i = 0; i < R.cluster_nodes; i++) {
		if (R.cluster_rc[i] != NULL) {
			redisFree(R.cluster_rc[i]);
			R.cluster_rc[i] = NULL;
		}
		h_kill_reap(&R.cluster_pids[i], SIGTERM);
	}
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
		int port = h_free_port();

		if (port <= 55535 && port_free(port + 10000))
			return port;
	}
	DIE("no free port pair for a cluster node");
}

/* Index of the cluster node on port, or -1. */
static int cluster_node(int port)
{
	for (int i = 0; i < H_CLUSTER_NODES; i++)
		if (R.cluster_ports[i] == port)
			return i;
	return -1;
}

static redisContext *cluster_ctx(int i)
{
	struct timeval tv = {2, 0};

	if (R.cluster_rc[i] == NULL) {
		R.cluster_rc[i] = redisConnectWithTimeout("127.0.0.1", R.cluster_ports[i], tv);
		if (R.cluster_rc[i] != NULL && R.cluster_rc[i]->err) {
			redisFree(R.cluster_rc[i]);
			R.cluster_rc[i] = NULL;
		}
		if (R.cluster_rc[i] != NULL)
			redisSetTimeout(R.cluster_rc[i], tv);
	}
	return R.cluster_rc[i];
}

/* A command on cluster node i; a connection that failed is dropped (made again on next use). */
static redisReply *node_vcommand(int i, const char *fmt, va_list ap)
{
	redisContext *c = cluster_ctx(i);
	redisReply *r = c != NULL ? redisvCommand(c, fmt, ap) : NULL;

	if (r == NULL && c != NULL) {
		redisFree(c);
		R.cluster_rc[i] = NULL;
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

	snprintf(known, sizeof(known), "cluster_known_nodes:%d\r", R.cluster_nodes);
	for (int i = 0; i < R.cluster_nodes; i++) {
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

	snprintf(port, sizeof(port), "%d", R.cluster_ports[i]);
	snprintf(dir, sizeof(dir), "%s/redis-%d", h_dir(), R.cluster_ports[i]);
	snprintf(conf, sizeof(conf), "nodes-%d.conf", R.cluster_ports[i]);
	snprintf(log, sizeof(log), "%s/redis-%d.log", h_dir(), R.cluster_ports[i]);
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
			(char *)h_appendfsync(),
			"--cluster-enabled",
			"yes",
			"--cluster-config-file",
			conf,
			"--cluster-node-timeout",
			"1000",
			NULL};
	R.cluster_pids[i] = h_spawn(argv, log, -1);
}

void h_redis_cluster_restart(int i)
{
	node_spawn(i);
}

/* Six redis-servers in cluster mode, then redis-cli --cluster create with one replica per primary. */
void hr_cluster_start(void)
{
	char log[300], addrs[H_CLUSTER_NODES][32], *argv[16 + H_CLUSTER_NODES];
	long long deadline;
	pid_t cli;
	int argc = 0, status;

	for (int i = 0; i < R.cluster_nodes; i++) {
		if (R.cluster_ports[i] == 0)
			R.cluster_ports[i] = cluster_port();
		node_spawn(i);
	}
	for (deadline = h_now_ms() + 30000;; h_sleep_ms(20)) {
		int up = 0;

		for (int i = 0; i < R.cluster_nodes; i++) {
			redisReply *r = node_command(i, "PING");

			up += r != NULL && r->type == REDIS_REPLY_STATUS;
			freeReplyObject(r);
		}
		if (up == R.cluster_nodes)
			break;
		if (h_now_ms() > deadline)
			DIE("cluster nodes did not start (see %s/redis-*.log)", h_dir());
	}
	argv[argc++] = "/usr/bin/redis-cli";
	argv[argc++] = "--cluster";
	argv[argc++] = "create";
	for (int i = 0; i < R.cluster_nodes; i++) {
		snprintf(addrs[i], sizeof(addrs[i]), "127.0.0.1:%d", R.cluster_ports[i]);
		argv[argc++] = addrs[i];
	}
	argv[argc++] = "--cluster-replicas";
	argv[argc++] = R.cluster_nodes == 6 ? "1" : "0";
	argv[argc++] = "--cluster-yes";
	argv[argc] = NULL;
	snprintf(log, sizeof(log), "%s/cluster-create.log", h_dir());
	cli = h_spawn(argv, log, -1);
	if ((status = h_reap(cli, 60000)) == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
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

	R.replica_port = h_free_port();
	snprintf(port, sizeof(port), "%d", R.replica_port);
	snprintf(primary, sizeof(primary), "%d", h_redis_port());
	snprintf(log, sizeof(log), "%s/replica.log", h_dir());
	snprintf(conf, sizeof(conf), "%s/replica", h_dir());
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
	R.replica = h_spawn(rargv, log, -1);
	for (int i = 0; i < 3; i++) {
		FILE *fp;

		R.sentinel_ports[i] = h_free_port();
		snprintf(conf, sizeof(conf), "%s/sentinel-%d.conf", h_dir(), i);
		snprintf(log, sizeof(log), "%s/sentinel-%d.log", h_dir(), i);
		if ((fp = fopen(conf, "w")) == NULL)
			DIE("%s: %s", conf, strerror(errno));
		fprintf(fp,
			"port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor mymaster 127.0.0.1 %d 2\n"
			"sentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster "
			"5000\n",
			R.sentinel_ports[i], h_dir(), h_redis_port());
		fclose(fp);
		char *sargv[] = {"/usr/bin/redis-server", conf, "--sentinel", NULL};
		R.sentinels[i] = h_spawn(sargv, log, -1);
	}
	/* Ready when the replica is in sync and every sentinel knows it. */
	for (deadline = h_now_ms() + 30000; h_now_ms() < deadline; h_sleep_ms(100)) {
		int ready = 0;

		for (int i = 0; i < 3; i++) {
			redisContext *c = redisConnect("127.0.0.1", R.sentinel_ports[i]);
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
		DIE("sentinels did not see the replica (see %s/sentinel-*.log)", h_dir());
	snprintf(list, sizeof(list), "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", R.sentinel_ports[0],
		 R.sentinel_ports[1], R.sentinel_ports[2]);
	return list;
}

int h_sentinel_primary(void)
{
	for (int i = 0; i < 3; i++) {
		redisContext *c = redisConnect("127.0.0.1", R.sentinel_ports[i]);
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
	return R.replica_port;
}

void hr_sentinel_stop(void)
{
	for (int i = 0; i < 3; i++)
		h_kill_reap(&R.sentinels[i], SIGTERM);
	h_kill_reap(&R.replica, SIGTERM);
}

int h_redis_cluster(void)
{
	return R.cluster;
}

const char *h_redis_cluster_seeds(void)
{
	static char seeds[H_CLUSTER_NODES * 24];
	size_t at = 0;

	seeds[0] = '\0';
	for (int i = 0; i < 3; i++)
		at += (size_t)snprintf(seeds + at, sizeof(seeds) - at, "%s127.0.0.1:%d", i > 0 ? "," : "",
				       R.cluster_ports[i]);
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
	return R.cluster_ports[i];
}

pid_t h_redis_cluster_pid(int i)
{
	return R.cluster_pids[i];
}

void h_redis_cluster_kill(int i)
{
	if (R.cluster_rc[i] != NULL) {
		redisFree(R.cluster_rc[i]);
		R.cluster_rc[i] = NULL;
	}
	h_kill_reap(&R.cluster_pids[i], SIGKILL);
}

/* In cluster mode: the command on the node that owns its key, found by following MOVED and ASK. */
redisReply *hr_cluster_vcommand(const char *fmt, va_list ap)
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
