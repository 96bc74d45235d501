/*
 * andon-callback: the reference handler of SageMaker callback steps. It reads a pipeline's callback
 * topic in a consumer group and, for each message (docs/sagemaker.md, "Callback messages"):
 *   Executing  runs the step command (-e) with the message's arguments as JSON on stdin; exit 0 reports
 *              success with its stdout (a JSON object) as output parameters, anything else reports
 *              failure with the exit status and stderr as the reason. Without -e it leaves the step
 *              running (a handler that only cleans up).
 *   Stopping   runs the cleanup command (-s), then reports: success (the step ends Stopped) when it
 *              exits 0 or there is none, failure with its reason otherwise.
 * The report's request id is derived from the token and the status, so a message delivered twice sends
 * the same request twice and Andon answers it once. An offset is committed only after the report was
 * acknowledged by the broker: a crash makes the handler see the message again, never lose it.
 */
#include "codec.h"
#include "json.h"
#include "kafka.h"
#include "log.h"
#include "sign.h"
#include "util.h"
#include "version.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define OUTPUT_MAX	(1 << 20)      /* bytes of a command's stdout or stderr kept */
#define REASON_MAX	256	       /* SageMaker's FailureReason limit, in characters */
#define VALUE_MAX	1024	       /* an output parameter's value, in characters */
#define NAME_MAX_	256	       /* an output parameter's name, in characters */
#define OUTPUTS_MAX	50	       /* output parameters of one step */
#define DEFAULT_ACCOUNT "123456789012" /* the worker's worker.default_account default */

extern char **environ;

static volatile sig_atomic_t run = 1;

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: andon-callback -b brokers (-p pipeline | -t topic) [-e command] [-s command] [flags]\n"
	    "\n"
	    "Handles the callback steps of a pipeline: reads andon.pipeline.<account>.<pipeline>.callbacks\n"
	    "(or -t) and reports each step's result to Andon.\n"
	    "\n"
	    "  -b BROKERS     bootstrap servers (or bootstrap.servers via -X / -F)\n"
	    "  -p PIPELINE    pipeline name: reads andon.pipeline.ACCOUNT.PIPELINE.callbacks\n"
	    "  -t TOPIC       callback topic to read instead\n"
	    "  -e COMMAND     step command (sh -c), run for Executing: stdin the arguments as JSON, stdout "
	    "a\n"
	    "                 JSON object of output parameters; env ANDON_TOKEN, ANDON_STEP, "
	    "ANDON_EXECUTION\n"
	    "  -s COMMAND     cleanup command (sh -c), run for Stopping, with the same stdin and env\n"
	    "  -g GROUP       consumer group (default andon-callback.<topic>)\n"
	    "  -r TOPIC       Andon's request topic (default andon.requests)\n"
	    "  -a ACCOUNT     account the pipeline belongs to and the reports are sent as\n"
	    "                 (default 123456789012, the worker's default account)\n"
	    "  -c N           exit after handling N messages\n"
	    "  -X KEY=VALUE   librdkafka property;  -F FILE  file of them\n"
	    "  -q             only warnings and errors on stderr\n"
	    "  -h, --help     this text\n"
	    "      --version  the version of the program and its libraries\n"
	    "\n"
	    "Reports are signed with ANDON_ACCESS_KEY_ID / ANDON_SECRET_ACCESS_KEY, else the file\n"
	    "ANDON_SHARED_CREDENTIALS_FILE, else ~/.andon/credentials; without any they go unsigned.\n"
	    "\n"
	    "Exit status: 0 done or interrupted, 1 on a Kafka error, 2 on bad usage.\n");
}

/* What a command did: its exit status (or -1 when it could not run) and what it printed. */
typedef struct result {
	int status;
	char *out, *err;
	size_t out_len, err_len;
} result_t;

static void result_free(result_t *r)
{
	free(r->out);
	free(r->err);
}

/* Appends what is readable on fd to *buf (keeping at most OUTPUT_MAX bytes); 0 at end of file. */
static ssize_t drain_fd(int fd, char **buf, size_t *len)
{
	char chunk[4096];
	ssize_t n = read(fd, chunk, sizeof(chunk));
	char *p;

	if (n <= 0 || *len >= OUTPUT_MAX)
		return n;
	if ((p = realloc(*buf, *len + (size_t)n + 1)) == NULL)
		return n;
	memcpy(p + *len, chunk, (size_t)n);
	*len += (size_t)n;
	p[*len] = '\0';
	*buf = p;
	return n;
}

/*
 * Runs sh -c command with input on its stdin and env, collecting stdout and stderr. Feeding stdin and
 * reading both outputs in one poll loop keeps a chatty command from blocking on a full pipe.
 */
static void run_command(const char *command, const char *input, result_t *r)
{
	int in[2], out[2], err[2], wstatus;
	size_t input_len = strlen(input), written = 0;
	posix_spawn_file_actions_t fa;
	char *argv[] = {"sh", "-c", (char *)command, NULL};
	pid_t pid;

	memset(r, 0, sizeof(*r));
	r->status = -1;
	if (pipe(in) != 0 || pipe(out) != 0 || pipe(err) != 0) {
		andon_err("pipe: %s", strerror(errno));
		return;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, err[1], 2);
	for (int i = 0; i < 2; i++) {
		posix_spawn_file_actions_addclose(&fa, in[i]);
		posix_spawn_file_actions_addclose(&fa, out[i]);
		posix_spawn_file_actions_addclose(&fa, err[i]);
	}
	if (posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ) != 0)
		pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(out[1]);
	close(err[1]);
	if (pid < 0) {
		andon_err("cannot run %s", command);
		close(in[1]);
		close(out[0]);
		close(err[0]);
		return;
	}
	struct pollfd fds[3] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}, {in[1], POLLOUT, 0}};
	if (input_len == 0) {
		close(in[1]);
		fds[2].fd = -1;
	}
	while (fds[0].fd >= 0 || fds[1].fd >= 0) {
		if (poll(fds, 3, -1) < 0 && errno != EINTR)
			break;
		if (fds[0].revents && drain_fd(out[0], &r->out, &r->out_len) <= 0)
			fds[0].fd = -1;
		if (fds[1].revents && drain_fd(err[0], &r->err, &r->err_len) <= 0)
			fds[1].fd = -1;
		if (fds[2].fd >= 0 && fds[2].revents) {
			ssize_t n = write(in[1], input + written, input_len - written);
			if (n > 0)
				written += (size_t)n;
			if (n <= 0 || written == input_len) {
				close(in[1]); /* end of input; a command that ignores stdin gets EPIPE, not us
					       */
				fds[2].fd = -1;
			}
		}
	}
	if (fds[2].fd >= 0)
		close(in[1]);
	close(out[0]);
	close(err[0]);
	while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
		;
	r->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
}

/* A FailureReason of at most REASON_MAX characters: "<what> exited N: <stderr>". */
static json_t *reason_of(const char *what, const result_t *r)
{
	char buf[REASON_MAX * 4 + 1];
	size_t n;

	if (r->status < 0)
		snprintf(buf, sizeof(buf), "%s could not run", what);
	else
		snprintf(buf, sizeof(buf), "%s exited %d: %s", what, r->status, r->err ? r->err : "");
	/* Cut at REASON_MAX characters, never inside a UTF-8 sequence. */
	n = 0;
	for (size_t i = 0, chars = 0; buf[i]; i++) {
		if (((unsigned char)buf[i] & 0xc0) != 0x80 && chars++ == REASON_MAX)
			break;
		n = i + 1;
	}
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	json_t *j = json_string(buf);

	return j != NULL ? j : json_string("command failed (its stderr is not UTF-8)");
}

static size_t chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/*
 * stdout's JSON object as OutputParameters [{Name, Value}]; strings as they are, other values as compact
 * JSON. What SageMaker's limits would refuse (more than 50, names over 256 or values over 1024
 * characters) is left out with a warning, so the report is always accepted.
 */
static json_t *outputs_of(const result_t *r)
{
	json_t *obj, *list, *v;
	const char *k;

	if (r->out_len == 0)
		return json_array();
	if ((obj = json_loads(r->out, 0, NULL)) == NULL || !json_is_object(obj)) {
		json_decref(obj);
		return NULL;
	}
	list = json_array();
	json_object_foreach(obj, k, v)
	{
		char *text = json_is_string(v) ? strdup(json_string_value(v))
					       : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (text != NULL && json_array_size(list) < OUTPUTS_MAX && chars(k) >= 1 &&
		    chars(k) <= NAME_MAX_ && chars(text) <= VALUE_MAX)
			json_array_append_new(list, json_pack("{s:s, s:s}", "Name", k, "Value", text));
		else
			andon_warn("output parameter \"%.64s\" left out: over SageMaker's limits", k);
		free(text);
	}
	json_decref(obj);
	return list;
}

typedef struct handler {
	const char *step_cmd, *stop_cmd, *request_topic, *account;
	const andon_creds_t *creds; /* signs the reports; NULL: unsigned (security.auth = off) */
	rd_kafka_t *producer;
	int delivered, failed;
} handler_t;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	handler_t *h = opaque;

	(void)rk;
	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		andon_err("report not delivered: %s", rd_kafka_err2str(m->err));
		h->failed = 1;
	}
	h->delivered = 1;
}

/* Sends the report for token and waits for the broker's acknowledgement. 0, or -1. */
static int report(handler_t *h, const char *token, const char *status, int success, json_t *detail)
{
	char id[64], errstr[256], *buf;
	size_t len;
	json_t *body = json_pack("{s:s, s:o}", "CallbackToken", token,
				 success ? "OutputParameters" : "FailureReason", detail);
	json_t *req;
	int rc, n;

	n = snprintf(id, sizeof(id), "callback-%s-%s", token, status);
	if (n < 0 || (size_t)n >= sizeof(id)) {
		/* A cut id could make two reports one; tokens are 10 characters, so this one is not real. */
		andon_err("token of %zu bytes is too long to report on; ignoring it", strlen(token));
		json_decref(body);
		return -1;
	}
	req = json_pack("{s:i, s:s, s:s, s:o}", "v", 1, "id", id, "op",
			success ? "SageMaker.SendPipelineExecutionStepSuccess"
				: "SageMaker.SendPipelineExecutionStepFailure",
			"body", body);
	if (h->account != NULL)
		json_object_set_new(req, "account", json_string(h->account));
	rc = andon_json_pack(req, &buf, &len, errstr, sizeof(errstr));
	json_decref(req);
	if (rc != 0) {
		andon_err("encoding the report: %s", errstr);
		return -1;
	}
	h->delivered = h->failed = 0;
	rc = andon_sign_produce(h->producer, h->creds, h->request_topic, RD_KAFKA_PARTITION_UA, token,
				strlen(token), buf, len, NULL, NULL);
	free(buf); /* copied */
	if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
		andon_err("producing the report: %s", rd_kafka_err2str(rc));
		return -1;
	}
	while (!h->delivered)
		rd_kafka_poll(h->producer, 100);
	andon_info("%s %s: reported %s", token, status, success ? "success" : "failure");
	return h->failed ? -1 : 0;
}

/* Handles one callback message. 0 when it was handled (or is not ours to handle), -1 to retry it. */
static int handle(handler_t *h, const rd_kafka_message_t *m)
{
	const char *token, *status, *step, *arn, *cmd;
	char why[128], *input;
	json_t *msg = NULL, *detail, *args;
	int stopping, rc = 0, success;
	msgpack_zone zone;
	msgpack_object o;
	result_t r;

	msgpack_zone_init(&zone, 4096);
	if (andon_codec_unpack(m->payload, m->len, 32, &zone, &o, why, sizeof(why)) == 0)
		msg = andon_json_from_msgpack(&o);
	msgpack_zone_destroy(&zone);
	token = json_string_value(json_object_get(msg, "token"));
	status = json_string_value(json_object_get(msg, "status"));
	step = json_string_value(json_object_get(msg, "stepName"));
	arn = json_string_value(json_object_get(msg, "pipelineExecutionArn"));
	if (token == NULL || status == NULL || step == NULL || arn == NULL) {
		andon_warn("offset %lld: not a callback message; skipped", (long long)m->offset);
		goto out;
	}
	stopping = strcmp(status, "Stopping") == 0;
	cmd = stopping ? h->stop_cmd : h->step_cmd;
	if (!stopping && cmd == NULL) {
		andon_info("%s %s: no step command; the step keeps running", token, step);
		goto out;
	}
	success = 1;
	detail = json_array();
	if (cmd != NULL) {
		/* What the command may need besides its arguments: who it works for. */
		setenv("ANDON_TOKEN", token, 1);
		setenv("ANDON_STEP", step, 1);
		setenv("ANDON_EXECUTION", arn, 1);
		args = json_object_get(msg, "arguments");
		input = args != NULL ? json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
		run_command(cmd, input ? input : "{}", &r);
		free(input);
		json_decref(detail);
		/* A cleanup reports no outputs: only whether it worked. */
		if (r.status == 0 && (detail = stopping ? json_array() : outputs_of(&r)) != NULL) {
			success = 1;
		} else {
			success = 0;
			detail = r.status == 0 ? json_string("step command printed no JSON object")
					       : reason_of(stopping ? "cleanup" : "step command", &r);
		}
		result_free(&r);
	}
	rc = report(h, token, status, success, detail);
out:
	json_decref(msg);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
						 {"version", no_argument, NULL, ANDON_OPT_VERSION},
						 {NULL, 0, NULL, 0}};
	/* Only what the worker committed: an exactly-once worker's aborted Stopping messages never show. */
	static const char *const consumer_defaults[] = {
	    "enable.auto.offset.store", "false", "auto.offset.reset", "earliest", "isolation.level",
	    "read_committed",		NULL};
	/* Each report is awaited before the next message: batching would only add its linger to each. */
	static const char *const producer_defaults[] = {"linger.ms", "0", NULL};
	handler_t h = {NULL, NULL, "andon.requests", NULL, NULL, NULL, 0, 0};
	andon_creds_t creds;
	int have_creds;
	const char *pipeline = NULL, *topic_arg = NULL, *group = NULL;
	char topic[300], group_buf[400], errstr[512];
	long long count = -1, handled = 0;
	andon_kafka_arg_t *kargs = calloc((size_t)argc, sizeof(*kargs));
	int nkargs = 0, opt, status = 1, n;
	rd_kafka_conf_t *pconf = NULL, *cconf = NULL;
	rd_kafka_t *consumer = NULL;
	rd_kafka_topic_partition_list_t *topics;

	while (kargs != NULL &&
	       (opt = getopt_long(argc, argv, "b:X:F:p:t:e:s:g:r:a:c:qh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'b':
		case 'X':
		case 'F':
			kargs[nkargs].flag = opt;
			kargs[nkargs++].arg = optarg;
			break;
		case 'p':
			pipeline = optarg;
			break;
		case 't':
			topic_arg = optarg;
			break;
		case 'e':
			h.step_cmd = optarg;
			break;
		case 's':
			h.stop_cmd = optarg;
			break;
		case 'g':
			group = optarg;
			break;
		case 'r':
			h.request_topic = optarg;
			break;
		case 'a':
			h.account = optarg;
			break;
		case 'c':
			if (andon_parse_ll(optarg, 1, 1LL << 62, &count) != 0)
				goto usage;
			break;
		case 'q':
			andon_log_level = ANDON_LOG_WARN;
			break;
		case 'h':
			usage(stdout);
			free(kargs);
			return 0;
		case ANDON_OPT_VERSION:
			andon_version_print(stdout, "andon-callback");
			free(kargs);
			return 0;
		default:
			goto usage;
		}
	}
	if (kargs == NULL || optind != argc || (pipeline == NULL) == (topic_arg == NULL))
		goto usage;
	/* The engine's default topic names the account (docs/sagemaker.md): the worker's default account
	 * when the requests carry none. */
	if (pipeline != NULL)
		n = snprintf(topic, sizeof(topic), "andon.pipeline.%s.%s.callbacks",
			     h.account != NULL ? h.account : DEFAULT_ACCOUNT, pipeline);
	else
		n = snprintf(topic, sizeof(topic), "%s", topic_arg);
	if (n < 0 || (size_t)n >= sizeof(topic)) {
		fprintf(stderr, "andon-callback: the topic name is too long\n");
		free(kargs);
		return 2;
	}
	snprintf(group_buf, sizeof(group_buf), "andon-callback.%s", topic);

	pconf = rd_kafka_conf_new();
	cconf = rd_kafka_conf_new();
	rd_kafka_conf_set_log_cb(pconf, andon_kafka_log_cb);
	rd_kafka_conf_set_log_cb(cconf, andon_kafka_log_cb);
	rd_kafka_conf_set_dr_msg_cb(pconf, on_delivery);
	rd_kafka_conf_set_opaque(pconf, &h);
	if (andon_kafka_conf_set_pairs(cconf, consumer_defaults, errstr, sizeof(errstr)) != 0 ||
	    andon_kafka_conf_set_pairs(pconf, producer_defaults, errstr, sizeof(errstr)) != 0 ||
	    andon_kafka_conf_set(cconf, "group.id", group ? group : group_buf, errstr, sizeof(errstr)) != 0 ||
	    andon_kafka_conf_args(pconf, kargs, nkargs, errstr, sizeof(errstr)) != 0 ||
	    andon_kafka_conf_args(cconf, kargs, nkargs, errstr, sizeof(errstr)) != 0) {
		fprintf(stderr, "andon-callback: %s\n", errstr);
		goto usage;
	}
	if (!andon_kafka_conf_has_brokers(pconf)) {
		fprintf(stderr, "andon-callback: -b brokers (or -X bootstrap.servers=...) is required\n");
		goto usage;
	}
	if ((have_creds = andon_creds_load(&creds, errstr, sizeof(errstr))) < 0) {
		fprintf(stderr, "andon-callback: credentials: %s\n", errstr);
		goto usage;
	}
	h.creds = have_creds ? &creds : NULL;
	andon_catch_stop(&run);
	signal(SIGPIPE, SIG_IGN);

	h.producer = andon_kafka_new(RD_KAFKA_PRODUCER, pconf, errstr, sizeof(errstr));
	consumer = andon_kafka_new(RD_KAFKA_CONSUMER, cconf, errstr, sizeof(errstr));
	pconf = cconf = NULL; /* owned by the handles (or gone) */
	if (h.producer == NULL || consumer == NULL) {
		andon_err("rd_kafka_new: %s", errstr);
		goto out;
	}
	/* The topic must exist before the group join (DEV-BROKER.md: a join racing topic creation can stick;
	 * librdkafka looks for a missing subscribed topic only every few minutes). The producer's metadata
	 * request creates it where the cluster allows; elsewhere the worker creates it with the pipeline's
	 * first callback step, so wait for it. */
	for (int waited = 0;
	     andon_kafka_warm_topic(h.producer, topic, "callback topic", 10000, errstr, sizeof(errstr)) != 0;
	     waited = 1) {
		if (!waited)
			andon_info("%s; waiting for it to be created", errstr);
		for (int i = 0; i < 10 && run; i++)
			usleep(50000);
		if (!run) {
			status = 0; /* stopped before there was anything to handle */
			goto out;
		}
	}
	rd_kafka_poll_set_consumer(consumer);
	topics = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
	if (rd_kafka_subscribe(consumer, topics) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		rd_kafka_topic_partition_list_destroy(topics);
		andon_err("subscribe %s failed", topic);
		goto out;
	}
	rd_kafka_topic_partition_list_destroy(topics);
	andon_info("handling %s", topic);

	status = 0;
	while (run && (count < 0 || handled < count)) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 200);

		if (m == NULL)
			continue;
		if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			andon_warn("consume: %s", rd_kafka_message_errstr(m));
		} else if (handle(&h, m) == 0) {
			rd_kafka_offset_store(m->rkt, m->partition, m->offset); /* commits offset + 1 */
			handled++;
		} else {
			/* Not reported: exit uncommitted, so the message is handled again on restart. */
			andon_err("offset %lld not handled; stopping", (long long)m->offset);
			status = 1;
			run = 0;
		}
		rd_kafka_message_destroy(m);
	}
	rd_kafka_commit(consumer, NULL, 0);
out:
	andon_kafka_consumer_close(consumer);
	andon_kafka_producer_close(h.producer, 5000, ANDON_LOG_WARN);
	free(kargs);
	return status;
usage:
	if (pconf != NULL)
		rd_kafka_conf_destroy(pconf);
	if (cconf != NULL)
		rd_kafka_conf_destroy(cconf);
	usage(stderr);
	free(kargs);
	return 2;
}
