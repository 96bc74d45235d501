/* harness-kafka: the broker under an integration test: shared real Kafka, a private cluster, or the mock. */
#include "harness-kafka.h"

#include "harness.h"
#include "kafka.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct {
	int want_own; /* nodes asked for with hk_use_own(); 0: none */
	int want_dev;
	int dev, own, shared;
	int nodes;
	char dir[600]; /* own cluster's folder */
	char sh[512];  /* scripts/kafka.sh */
	pid_t dev_pid;
	char group[64];	      /* the workers' consumer group on a real broker */
	char group_arg[80];   /* "group.id=<group>" */
	const char *props[8]; /* hk_consumer_props() */
	rd_kafka_t *admin;    /* hk_leader(), hk_describe_topic(): created on first use */
} K;

#define DIE(...)                                                                                             \
	do {                                                                                                 \
		fprintf(stderr, "harness-kafka: " __VA_ARGS__);                                              \
		fprintf(stderr, "\n");                                                                       \
		h_stop();                                                                                    \
		abort();                                                                                     \
	} while (0)

int hk_use_own(int nodes)
{
	const char *kind = getenv("ANDON_KAFKA");

	if (kind != NULL && strcmp(kind, "dev") == 0)
		return -1;
	K.want_own = nodes;
	return 0;
}

void hk_use_dev(void)
{
	K.want_dev = 1;
}

int hk_is_dev(void)
{
	return K.dev;
}

int hk_nodes(void)
{
	return K.nodes;
}

/* Runs "bash kafka.sh ARGS"; the first line it prints goes to out (may be NULL). 0 when it exits 0. */
static int kafka_sh(const char *args, char *out, size_t size)
{
	char cmd[1600], line[512];
	FILE *fp;
	int status;

	snprintf(cmd, sizeof(cmd), "bash '%s' %s", K.sh, args);
	if ((fp = popen(cmd, "r")) == NULL)
		return -1;
	if (fgets(line, sizeof(line), fp) != NULL && out != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		snprintf(out, size, "%s", line);
	}
	while (fgets(line, sizeof(line), fp) != NULL)
		;
	status = pclose(fp);
	return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void start_dev(const char *dir, const char *bin, char *brokers, size_t size)
{
	char path[600], log[700], line[256];
	int fds[2];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/andon-devkafka", bin);
	snprintf(log, sizeof(log), "%s/devkafka.log", dir);
	if (pipe(fds) != 0)
		DIE("pipe: %s", strerror(errno));
	if ((K.dev_pid = fork()) < 0)
		DIE("fork: %s", strerror(errno));
	if (K.dev_pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fds[1], 1);
		if (fd >= 0)
			dup2(fd, 2);
		close(fds[0]);
		execl(path, path, "-q", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	fp = fdopen(fds[0], "r");
	if (fp == NULL || fgets(line, sizeof(line), fp) == NULL)
		DIE("andon-devkafka printed no bootstrap address (see %s)", log);
	fclose(fp);
	line[strcspn(line, "\r\n")] = '\0';
	snprintf(brokers, size, "%s", line);
	K.dev = 1;
	K.nodes = 1;
}

void hk_start(const char *dir, const char *bin, char *brokers, size_t size)
{
	const char *kind = getenv("ANDON_KAFKA"), *shared = getenv("ANDON_BROKERS");
	const char *sh = getenv("ANDON_KAFKA_SH"), *root = getenv("ANDON_KAFKA_ROOT");
	char args[800];

	snprintf(K.sh, sizeof(K.sh), "%s", sh != NULL ? sh : "scripts/kafka.sh");
	snprintf(K.group, sizeof(K.group), "andon-worker.%d", (int)getpid());
	snprintf(K.group_arg, sizeof(K.group_arg), "group.id=%s", K.group);
	if (K.want_dev || (kind != NULL && strcmp(kind, "dev") == 0 && !K.want_own)) {
		start_dev(dir, bin, brokers, size);
		return;
	}
	if (!K.want_own && shared != NULL && *shared != '\0') {
		snprintf(brokers, size, "%s", shared);
		K.shared = 1;
		K.nodes = 1;
		return;
	}
	/* A folder the test driver cleans up even if this process is killed; else the test's own. */
	K.nodes = K.want_own > 0 ? K.want_own : 1;
	snprintf(K.dir, sizeof(K.dir), "%s/kafka-%d", root != NULL && *root != '\0' ? root : dir,
		 (int)getpid());
	snprintf(args, sizeof(args), "start -n %d '%s'", K.nodes, K.dir);
	{
		long long t0 = h_now_ms();
		if (kafka_sh(args, brokers, size) != 0 || *brokers == '\0')
			DIE("scripts/kafka.sh could not start %d node(s) in %s (see node-*/server.log there)",
			    K.nodes, K.dir);
		fprintf(stderr, "harness: Kafka (%d node(s)) at %s started in %lld ms\n", K.nodes, brokers,
			h_now_ms() - t0);
	}
	K.own = 1;
}

void hk_stop(void)
{
	char args[800];

	if (K.admin != NULL) {
		rd_kafka_destroy(K.admin);
		K.admin = NULL;
	}
	if (K.dev && K.dev_pid > 0) {
		kill(K.dev_pid, SIGTERM);
		waitpid(K.dev_pid, NULL, 0);
		K.dev_pid = 0;
	}
	if (K.own) {
		snprintf(args, sizeof(args), "stop '%s'", K.dir);
		if (kafka_sh(args, NULL, 0) != 0)
			fprintf(stderr, "harness-kafka: stopping the cluster in %s failed\n", K.dir);
		if (getenv("ANDON_KEEP_TMP") == NULL) {
			snprintf(args, sizeof(args), "rm -rf '%s'", K.dir);
			if (system(args) != 0)
				fprintf(stderr, "harness-kafka: could not remove %s\n", K.dir);
		}
		K.own = 0;
	}
	K.dev = K.shared = 0;
}

int hk_topic_exists(rd_kafka_t *rk, const char *topic)
{
	const struct rd_kafka_metadata *md;
	int found = 0;

	/* All topics: asking for one by name may create it where the cluster allows. */
	if (rd_kafka_metadata(rk, 1, NULL, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return -1;
	for (int i = 0; i < md->topic_cnt && !found; i++)
		found = strcmp(md->topics[i].topic, topic) == 0 &&
			md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topics[i].partition_cnt > 0;
	rd_kafka_metadata_destroy(md);
	return found;
}

int hk_partitions(rd_kafka_t *rk, const char *topic, int32_t **ids)
{
	long long deadline = h_now_ms() + 30000;
	char err[512];
	int n;

	while ((n = andon_kafka_partitions(rk, topic, NULL, 10000, ids, err, sizeof(err))) <= 0) {
		if (h_now_ms() >= deadline)
			DIE("%s", err);
		h_sleep_ms(50);
	}
	return n;
}

/* Waits for one admin result on q; returns the event (the caller destroys it). */
static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *q, const char *what)
{
	rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);

	if (ev == NULL)
		DIE("%s: no answer within 30 s", what);
	if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR)
		DIE("%s: %s", what, rd_kafka_event_error_string(ev));
	return ev;
}

void hk_create_topic(rd_kafka_t *rk, const char *topic, int partitions)
{
	rd_kafka_queue_t *q;
	rd_kafka_NewTopic_t *nt;
	rd_kafka_event_t *ev;
	const rd_kafka_topic_result_t **res;
	long long deadline;
	size_t n;
	char err[256];

	if (K.dev) {
		/* The mock has no CreateTopics: it creates a topic the first time metadata asks for it. */
		if (andon_kafka_warm_topic(rk, topic, NULL, 10000, err, sizeof(err)) != 0)
			DIE("create %s: %s", topic, err);
		return;
	}
	if (hk_topic_exists(rk, topic) == 1)
		return;
	q = rd_kafka_queue_new(rk);
	if ((nt = rd_kafka_NewTopic_new(topic, partitions, -1, err, sizeof(err))) == NULL)
		DIE("create %s: %s", topic, err);
	rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
	rd_kafka_NewTopic_destroy(nt);
	ev = admin_wait(q, "CreateTopics");
	res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
	if (n != 1 || (rd_kafka_topic_result_error(res[0]) != RD_KAFKA_RESP_ERR_NO_ERROR &&
		       rd_kafka_topic_result_error(res[0]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS))
		DIE("create %s: %s", topic,
		    n == 1 ? rd_kafka_err2str(rd_kafka_topic_result_error(res[0])) : "?");
	rd_kafka_event_destroy(ev);
	rd_kafka_queue_destroy(q);
	for (deadline = h_now_ms() + 30000; hk_topic_exists(rk, topic) != 1; h_sleep_ms(20))
		if (h_now_ms() >= deadline)
			DIE("topic %s created but not in the metadata after 30 s", topic);
}

/* Deletes every topic but Kafka's own and waits until the metadata no longer lists any of them. */
static void clean(rd_kafka_t *rk)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_DeleteTopic_t *del[256];
	rd_kafka_queue_t *q;
	rd_kafka_event_t *ev;
	long long deadline = h_now_ms() + 30000;
	size_t n = 0;

	if (rd_kafka_metadata(rk, 1, NULL, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		DIE("metadata of the shared broker");
	for (int i = 0; i < md->topic_cnt && n < 256; i++)
		if (strncmp(md->topics[i].topic, "__", 2) != 0)
			del[n++] = rd_kafka_DeleteTopic_new(md->topics[i].topic);
	rd_kafka_metadata_destroy(md);
	if (n == 0)
		return;
	q = rd_kafka_queue_new(rk);
	rd_kafka_DeleteTopics(rk, del, n, NULL, q);
	rd_kafka_DeleteTopic_destroy_array(del, n);
	ev = admin_wait(q, "DeleteTopics");
	rd_kafka_event_destroy(ev);
	rd_kafka_queue_destroy(q);
	for (;;) {
		size_t left = 0;

		if (rd_kafka_metadata(rk, 1, NULL, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
			DIE("metadata of the shared broker");
		for (int i = 0; i < md->topic_cnt; i++)
			left += strncmp(md->topics[i].topic, "__", 2) != 0;
		rd_kafka_metadata_destroy(md);
		if (left == 0)
			return;
		if (h_now_ms() >= deadline)
			DIE("%zu topic(s) still listed 30 s after their deletion", left);
		h_sleep_ms(20);
	}
}

void hk_prepare(rd_kafka_t *rk)
{
	if (K.dev)
		return;
	if (K.shared)
		clean(rk);
	hk_create_topic(rk, "andon.requests", 4);
	hk_create_topic(rk, "andon.replies", 4);
	hk_create_topic(rk, "andon.events", 4);
	hk_create_topic(rk, "andon.dlq", 1);
}

void hk_worker_args(char **argv, int *argc)
{
	if (K.dev) {
		/* The mock holds an empty fetch for all of fetch.wait.max.ms (DEV-BROKER.md), and has no
		 * controller to create topics: it creates them on first use itself. */
		argv[(*argc)++] = "-X";
		argv[(*argc)++] = "fetch.wait.max.ms=5";
		argv[(*argc)++] = "-o";
		argv[(*argc)++] = "topics.create=0";
		return;
	}
	/* A group of this binary's own: a previous binary's killed or static members are not its members. */
	argv[(*argc)++] = "-X";
	argv[(*argc)++] = K.group_arg;
}

const char *const *hk_consumer_props(void)
{
	int n = 0;

	K.props[n++] = "group.id";
	K.props[n++] = "andon-test-reader";
	K.props[n++] = "enable.auto.commit";
	K.props[n++] = "false";
	K.props[n++] = "fetch.wait.max.ms";
	/* A real broker answers a waiting fetch as soon as data arrives; the mock holds it to the end. */
	K.props[n++] = K.dev ? "5" : "100";
	K.props[n] = NULL;
	return K.props;
}

static void node_cmd(const char *verb, int n)
{
	char args[800];

	if (!K.own || n < 1 || n > K.nodes)
		DIE("%s %d: no such node of an own cluster", verb, n);
	snprintf(args, sizeof(args), "%s '%s' %d", verb, K.dir, n);
	if (kafka_sh(args, NULL, 0) != 0)
		DIE("kafka.sh %s", args);
}

void hk_node_kill(int n)
{
	node_cmd("node-kill", n);
}

void hk_node_start(int n)
{
	node_cmd("node-start", n);
}

static rd_kafka_t *admin(void)
{
	rd_kafka_conf_t *conf;
	char err[512];

	if (K.admin != NULL)
		return K.admin;
	conf = rd_kafka_conf_new();
	if (andon_kafka_conf_set(conf, "bootstrap.servers", h_brokers(), err, sizeof(err)) != 0 ||
	    (K.admin = andon_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err))) == NULL)
		DIE("admin client: %s", err);
	return K.admin;
}

int hk_describe_topic(const char *topic, int *partitions, int *replicas, char *min_isr, size_t size)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
	const rd_kafka_ConfigResource_t **rs;
	const rd_kafka_ConfigEntry_t **entries;
	rd_kafka_queue_t *q;
	rd_kafka_event_t *ev;
	size_t n = 0, ne = 0;
	int found = -1;

	if (rd_kafka_metadata(admin(), 1, NULL, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		DIE("metadata");
	for (int i = 0; i < md->topic_cnt; i++) {
		if (strcmp(md->topics[i].topic, topic) != 0 ||
		    md->topics[i].err != RD_KAFKA_RESP_ERR_NO_ERROR)
			continue;
		found = 0;
		*partitions = md->topics[i].partition_cnt;
		*replicas = 1 << 30;
		for (int p = 0; p < md->topics[i].partition_cnt; p++)
			if (md->topics[i].partitions[p].replica_cnt < *replicas)
				*replicas = md->topics[i].partitions[p].replica_cnt;
	}
	rd_kafka_metadata_destroy(md);
	if (found != 0) {
		rd_kafka_ConfigResource_destroy(res);
		return -1;
	}
	q = rd_kafka_queue_new(admin());
	rd_kafka_DescribeConfigs(admin(), &res, 1, NULL, q);
	rd_kafka_ConfigResource_destroy(res);
	ev = admin_wait(q, "DescribeConfigs");
	rs = rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &n);
	snprintf(min_isr, size, "?");
	if (n == 1) {
		entries = rd_kafka_ConfigResource_configs(rs[0], &ne);
		for (size_t i = 0; i < ne; i++)
			if (strcmp(rd_kafka_ConfigEntry_name(entries[i]), "min.insync.replicas") == 0)
				snprintf(min_isr, size, "%s", rd_kafka_ConfigEntry_value(entries[i]));
	}
	rd_kafka_event_destroy(ev);
	rd_kafka_queue_destroy(q);
	return 0;
}

int hk_leader(const char *topic, int partition)
{
	const struct rd_kafka_metadata *md;
	int leader = -1;

	if (rd_kafka_metadata(admin(), 1, NULL, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return -1;
	for (int i = 0; i < md->topic_cnt; i++) {
		if (strcmp(md->topics[i].topic, topic) != 0)
			continue;
		for (int p = 0; p < md->topics[i].partition_cnt; p++)
			if (md->topics[i].partitions[p].id == partition &&
			    md->topics[i].partitions[p].err == RD_KAFKA_RESP_ERR_NO_ERROR)
				leader = md->topics[i].partitions[p].leader;
	}
	rd_kafka_metadata_destroy(md);
	return leader;
}
