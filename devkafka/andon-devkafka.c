/* andon-devkafka: librdkafka's mock Kafka cluster, for development and tests only; nothing depends on it. */
#include "kafka.h"
#include "log.h"
#include "util.h"
#include "version.h"

#include <librdkafka/rdkafka_mock.h>

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_BROKERS    64
#define MAX_PARTITIONS 10000

struct topic_spec {
	const char *name; /* points into argv or a string literal */
	int partitions;	  /* count, >= 1 */
};

static const struct topic_spec default_topics[] = {
    {"andon.requests", 4},
    {"andon.replies", 4},
    {"andon.events", 4},
    {"andon.dlq", 1},
};

static volatile sig_atomic_t run = 1;

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: andon-devkafka [-n brokers] [-t topic:partitions ...] [-f FILE] [-q]\n"
		"\n"
		"Runs librdkafka's mock Kafka cluster for development and tests. Prints the bootstrap\n"
		"address (127.0.0.1:PORT[,...]) as the first line on stdout, then serves until SIGINT or\n"
		"SIGTERM.\n"
		"\n"
		"  -n N            number of brokers (default 1; more only to test broker faults)\n"
		"  -t NAME:COUNT   create topic NAME with COUNT partitions (repeatable); default set:\n"
		"                  andon.requests:4 andon.replies:4 andon.events:4 andon.dlq:1\n"
		"  -f FILE         also write the bootstrap address to FILE (atomically, by rename);\n"
		"                  FILE is removed again on a clean exit\n"
		"  -q              only print warnings and errors on stderr\n"
		"  -h, --help      this text\n"
		"      --version   the version of the program and its libraries\n"
		"\n"
		"Exit status: 0 after a signal, 1 on a runtime error, 2 on bad usage.\n");
}

static void on_rdkafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	/* This handle only hosts the mock, so its complaint about having no bootstrap.servers is expected. */
	if (strcmp(fac, "CONFWARN") == 0 && strstr(buf, "bootstrap.servers") != NULL)
		return;
	andon_kafka_log_cb(rk, level, fac, buf);
}

static int parse_topic(char *arg, struct topic_spec *t, char *errstr, size_t errstr_size)
{
	char *colon = strrchr(arg, ':');
	long long n;

	if (colon == NULL || colon == arg)
		return andon_fail(errstr, errstr_size, "expected NAME:PARTITIONS, got \"%s\"", arg);
	if (andon_parse_ll(colon + 1, 1, MAX_PARTITIONS, &n) != 0)
		return andon_fail(errstr, errstr_size, "bad partition count in \"%s\" (1..%d)", arg,
				  MAX_PARTITIONS);
	*colon = '\0';
	t->name = arg;
	t->partitions = (int)n;
	return 0;
}

/* Collects the listening ports from "host:port,host:port"; returns how many, or -1 on a malformed list. */
static int bootstrap_ports(const char *bootstraps, int *ports, int max)
{
	char buf[4096], *save = NULL, *tok;
	int n = 0;

	if (strlen(bootstraps) >= sizeof(buf))
		return -1;
	memcpy(buf, bootstraps, strlen(bootstraps) + 1);
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		char *colon = strrchr(tok, ':');
		long long port;

		if (colon == NULL || n == max || andon_parse_ll(colon + 1, 1, 65535, &port) != 0)
			return -1;
		ports[n++] = (int)port;
	}
	return n;
}

static int socket_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -1;
}

/*
 * The mock never sets TCP_NODELAY, and with several requests in flight on one connection Nagle holds the
 * last response for a delayed ACK (~40 ms a flush). librdkafka offers no hook to reach the sockets, so find
 * the listeners among our own fds; Linux copies TCP_NODELAY from a listener onto each accepted socket.
 * Returns how many listeners were changed.
 */
static int set_nodelay_on_listeners(const int *ports, int nports)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int changed = 0;

	if (d == NULL) {
		andon_warn("cannot list /proc/self/fd: %s", strerror(errno));
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		long long fdnum;
		struct stat st;
		int fd, port, listening = 0, one = 1;
		socklen_t len = sizeof(listening);

		if (andon_parse_ll(de->d_name, 0, INT_MAX, &fdnum) != 0 || (int)fdnum == dirfd(d))
			continue;
		fd = (int)fdnum;
		if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
			continue;
		if ((port = socket_port(fd)) < 0)
			continue;
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening)
			continue;
		for (int i = 0; i < nports; i++) {
			if (ports[i] != port)
				continue;
			if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
				andon_warn("TCP_NODELAY on port %d: %s", port, strerror(errno));
			else
				changed++;
			break;
		}
	}
	closedir(d);
	return changed;
}

/* Scripts poll for FILE; the rename makes sure they never read a half-written address. */
static int write_file_atomic(const char *path, const char *text, char *errstr, size_t errstr_size)
{
	char tmp[PATH_MAX];
	FILE *fp;
	int failed;

	if (snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= (int)sizeof(tmp))
		return andon_fail(errstr, errstr_size, "%s: path too long", path);
	if ((fp = fopen(tmp, "w")) == NULL)
		return andon_fail(errstr, errstr_size, "%s: %s", tmp, strerror(errno));
	failed = fprintf(fp, "%s\n", text) < 0;
	failed |= fclose(fp) != 0;
	if (failed || rename(tmp, path) != 0) {
		andon_fail(errstr, errstr_size, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
						 {"version", no_argument, NULL, ANDON_OPT_VERSION},
						 {NULL, 0, NULL, 0}};
	struct topic_spec *topics;
	const struct topic_spec *create;
	size_t ntopics = 0, ncreate;
	long long nbrokers = 1;
	const char *file = NULL, *bootstraps;
	char errstr[512];
	int ports[MAX_BROKERS], nports, opt, status = 1;
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk = NULL;
	rd_kafka_mock_cluster_t *mcluster = NULL;

	/* At most one topic per argument, so argc bounds the list. */
	if ((topics = calloc((size_t)argc, sizeof(*topics))) == NULL) {
		fprintf(stderr, "andon-devkafka: out of memory\n");
		return 1;
	}
	while ((opt = getopt_long(argc, argv, "n:t:f:qh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			if (andon_parse_ll(optarg, 1, MAX_BROKERS, &nbrokers) != 0) {
				fprintf(stderr, "andon-devkafka: -n: expected 1..%d, got \"%s\"\n",
					MAX_BROKERS, optarg);
				goto usage;
			}
			break;
		case 't':
			if (parse_topic(optarg, &topics[ntopics], errstr, sizeof(errstr)) != 0) {
				fprintf(stderr, "andon-devkafka: -t: %s\n", errstr);
				goto usage;
			}
			ntopics++;
			break;
		case 'f':
			file = optarg;
			break;
		case 'q':
			andon_log_level = ANDON_LOG_WARN;
			break;
		case 'h':
			usage(stdout);
			free(topics);
			return 0;
		case ANDON_OPT_VERSION:
			andon_version_print(stdout, "andon-devkafka");
			free(topics);
			return 0;
		default:
			goto usage;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "andon-devkafka: unexpected argument \"%s\"\n", argv[optind]);
		goto usage;
	}
	create = ntopics > 0 ? topics : default_topics;
	ncreate = ntopics > 0 ? ntopics : sizeof(default_topics) / sizeof(default_topics[0]);

	andon_catch_stop(&run);

	/* The mock cluster needs a client handle to hang off; this producer never connects anywhere. */
	conf = rd_kafka_conf_new();
	rd_kafka_conf_set_log_cb(conf, on_rdkafka_log);
	rk = andon_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	conf = NULL; /* now owned by rk (or gone) */
	if (rk == NULL) {
		andon_err("rd_kafka_new: %s", errstr);
		goto out;
	}

	if ((mcluster = rd_kafka_mock_cluster_new(rk, (int)nbrokers)) == NULL) {
		andon_err("cannot create the mock cluster");
		goto out;
	}
	bootstraps = rd_kafka_mock_cluster_bootstraps(mcluster);

	for (size_t i = 0; i < ncreate; i++) {
		/* A replica per broker (up to Kafka's usual 3) so broker-down tests see a realistic topology.
		 */
		int replicas = nbrokers < 3 ? (int)nbrokers : 3;
		rd_kafka_resp_err_t err =
		    rd_kafka_mock_topic_create(mcluster, create[i].name, create[i].partitions, replicas);

		if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			andon_err("creating topic %s: %s", create[i].name, rd_kafka_err2str(err));
			goto out;
		}
	}

	nports = bootstrap_ports(bootstraps, ports, MAX_BROKERS);
	if (nports < 0) {
		andon_err("cannot parse the mock's bootstrap list \"%s\"", bootstraps);
		goto out;
	}
	if (set_nodelay_on_listeners(ports, nports) != nports)
		andon_warn("TCP_NODELAY set on fewer than %d listener(s): expect ~40 ms per flush", nports);

	if (file != NULL && write_file_atomic(file, bootstraps, errstr, sizeof(errstr)) != 0) {
		andon_err("-f: %s", errstr);
		goto out;
	}
	printf("%s\n", bootstraps);
	fflush(stdout);
	andon_info("mock cluster up: %d broker(s) at %s, %zu topic(s)", (int)nbrokers, bootstraps, ncreate);

	while (run) {
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	andon_info("shutting down");
	if (file != NULL)
		unlink(file);
	status = 0;

out:
	if (mcluster != NULL)
		rd_kafka_mock_cluster_destroy(mcluster);
	if (rk != NULL)
		rd_kafka_destroy(rk);
	free(topics);
	return status;

usage:
	usage(stderr);
	free(topics);
	return 2;
}
