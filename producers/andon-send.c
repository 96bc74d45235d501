/* andon-send: sends one stop/cancel request to Andon over Kafka and prints the reply as a JSON line. */
#include "codec.h"
#include "json.h"
#include "kafka.h"
#include "log.h"
#include "sign.h"
#include "rpc.h"
#include "util.h"
#include "version.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Exit statuses; scripts branch on them, so they are part of the interface (see usage()). */
enum { SEND_REPLY_OK = 0, SEND_REPLY_ERROR = 1, SEND_NO_REPLY = 2, SEND_FAILED = 3 };

#define MAX_TIMEOUT_MS (24LL * 3600 * 1000)

static volatile sig_atomic_t run = 1;

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: andon-send [flags] OP field=value field:=JSON ...\n"
	    "       andon-send [flags] -j REQUEST_JSON\n"
	    "       andon-send [flags] < request.json\n"
	    "\n"
	    "Sends one Andon request and prints the reply (the decoded msgpack map) as a JSON line on "
	    "stdout.\n"
	    "OP is Service.Action, e.g. StepFunctions.StopExecution. field=value puts a string in the body;\n"
	    "field:=JSON a number, boolean, null, array or object (e.g. force:=true).\n"
	    "Without OP the whole request envelope is read as JSON (from -j, else stdin); fields it lacks "
	    "are\n"
	    "filled in: v with 1, id with -i or a random UUID, replyTo with -r, account with -a.\n"
	    "\n"
	    "  -b BROKERS      bootstrap servers (or bootstrap.servers via -X / -F)\n"
	    "  -X KEY=VALUE    librdkafka property, set on both the producer and the reply consumer\n"
	    "  -F FILE         file of librdkafka properties, one key=value a line\n"
	    "  -t TOPIC        request topic (default andon.requests)\n"
	    "  -r TOPIC        reply topic (default andon.replies)\n"
	    "  -i ID           request id, the idempotency key (default a random UUID)\n"
	    "  -a ACCOUNT      account to act in\n"
	    "  -k KEY          Kafka key (default: the body's executionArn, PipelineExecutionArn or\n"
	    "                  CallbackToken, else FlowName/ExecutionName, else domain/workflowId, else the "
	    "id)\n"
	    "  -j JSON         the request envelope as JSON\n"
	    "  -T MS           how long to wait for delivery and reply (default 15000)\n"
	    "  -n              do not wait for a reply; print the request id\n"
	    "  -q              only print warnings and errors on stderr\n"
	    "  -h, --help      this text\n"
	    "      --version   the version of the program and its libraries\n"
	    "\n"
	    "Requests are signed (andon-key-id, andon-date, andon-signature headers) with the credentials\n"
	    "of ANDON_ACCESS_KEY_ID and ANDON_SECRET_ACCESS_KEY, else the file "
	    "ANDON_SHARED_CREDENTIALS_FILE,\n"
	    "else ~/.andon/credentials; without any they go unsigned (for a worker with security.auth=off).\n"
	    "\n"
	    "Exit status: 0 reply ok:true (or sent, with -n), 1 reply ok:false, 2 no reply within -T\n"
	    "(or interrupted), 3 usage, configuration or Kafka error (including a failed delivery).\n");
}

struct delivery {
	int done;		 /* set by the delivery report */
	rd_kafka_resp_err_t err; /* the report's error */
	int32_t partition;	 /* where the request landed */
	int64_t offset;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
	struct delivery *dr = rkm->_private;

	(void)rk;
	(void)opaque;
	dr->done = 1;
	dr->err = rkm->err;
	dr->partition = rkm->partition;
	dr->offset = rkm->offset;
}

/* Parses "field=value" (a string) or "field:=JSON" into body. */
static int body_add_item(json_t *body, const char *item, char *errstr, size_t errstr_size)
{
	const char *eq = strchr(item, '=');
	char name[256];
	size_t nlen;
	json_t *v;
	json_error_t jerr;
	int raw_json;

	if (eq == NULL || eq == item)
		return andon_fail(errstr, errstr_size, "expected field=value or field:=JSON, got \"%s\"",
				  item);
	raw_json = eq[-1] == ':';
	nlen = (size_t)(eq - item) - (raw_json ? 1 : 0);
	if (nlen == 0 || nlen >= sizeof(name))
		return andon_fail(errstr, errstr_size, "bad field name in \"%s\"", item);
	memcpy(name, item, nlen);
	name[nlen] = '\0';
	if (raw_json) {
		if ((v = json_loads(eq + 1, JSON_DECODE_ANY, &jerr)) == NULL)
			return andon_fail(errstr, errstr_size, "%s: bad JSON: %s", name, jerr.text);
	} else if ((v = json_string(eq + 1)) == NULL) {
		return andon_fail(errstr, errstr_size, "%s: value is not valid UTF-8", name);
	}
	if (json_object_set_new(body, name, v) != 0)
		return andon_fail(errstr, errstr_size, "%s: cannot set field", name);
	return 0;
}

/* Sets key to value in obj unless obj already has it; value may be NULL (then nothing is set). */
static int fill_missing(json_t *obj, const char *key, json_t *value)
{
	if (value == NULL)
		return 0;
	if (json_object_get(obj, key) != NULL) {
		json_decref(value);
		return 0;
	}
	return json_object_set_new(obj, key, value);
}

/* The string body field name, or NULL. */
static const char *body_str(const json_t *body, const char *name)
{
	const json_t *v = json_object_get(body, name);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/*
 * The default Kafka key is the execution's identity, so every request about one execution lands on one
 * partition and the worker sees them in order. Returns a malloc'd string.
 */
static char *default_key(const json_t *env, const char *id)
{
	static const char *const single[] = {"executionArn", "PipelineExecutionArn", "CallbackToken"};
	static const char *const pairs[][2] = {{"FlowName", "ExecutionName"}, {"domain", "workflowId"}};
	const json_t *body = json_object_get(env, "body");
	char *key;

	for (size_t i = 0; i < sizeof(single) / sizeof(single[0]); i++)
		if (body_str(body, single[i]) != NULL)
			return strdup(body_str(body, single[i]));
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		const char *a = body_str(body, pairs[i][0]), *b = body_str(body, pairs[i][1]);

		if (a != NULL && b != NULL)
			return asprintf(&key, "%s/%s", a, b) < 0 ? NULL : key;
	}
	return strdup(id);
}

static int64_t remaining_ms(int64_t deadline_us)
{
	int64_t left = (deadline_us - andon_now_us()) / 1000;

	return left > 0 ? left : 0;
}

/*
 * Waits for the reply whose id is id. Returns SEND_REPLY_OK / SEND_REPLY_ERROR after printing it,
 * SEND_NO_REPLY on timeout or signal, SEND_FAILED on a Kafka or output error.
 */
static int await_reply(rd_kafka_t *rk, const char *id, int64_t deadline_us)
{
	size_t idlen = strlen(id);
	msgpack_zone zone;
	int status = SEND_NO_REPLY;

	msgpack_zone_init(&zone, MSGPACK_ZONE_CHUNK_SIZE);
	while (run && status == SEND_NO_REPLY) {
		int64_t left = remaining_ms(deadline_us);
		rd_kafka_message_t *rkm;
		msgpack_object obj;
		const char *rid;
		size_t rlen;
		char reason[256];
		json_t *j;
		int ok = 0;

		if (left == 0)
			break;
		if ((rkm = rd_kafka_consumer_poll(rk, left < 100 ? (int)left : 100)) == NULL)
			continue;
		if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			andon_warn("reply consumer: %s", rd_kafka_message_errstr(rkm));
			if (rkm->err == RD_KAFKA_RESP_ERR__FATAL ||
			    rkm->err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
			    rkm->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
				status = SEND_FAILED;
			rd_kafka_message_destroy(rkm);
			continue;
		}
		/* Other clients' replies share the topic: skip anything that is not ours, quietly. */
		if (andon_codec_unpack(rkm->payload, rkm->len, ANDON_CODEC_DEFAULT_DEPTH, &zone, &obj, reason,
				       sizeof(reason)) != 0) {
			andon_debug("skipping undecodable reply at [%d] @%lld: %s", (int)rkm->partition,
				    (long long)rkm->offset, reason);
		} else if (andon_codec_get_str(&obj, "id", &rid, &rlen) == 1 && rlen == idlen &&
			   memcmp(rid, id, idlen) == 0) {
			if ((j = andon_json_from_msgpack(&obj)) == NULL ||
			    json_dumpf(j, stdout, JSON_COMPACT) != 0 || fputc('\n', stdout) == EOF ||
			    fflush(stdout) != 0) {
				andon_err("writing the reply to stdout failed");
				status = SEND_FAILED;
			} else {
				status = andon_codec_get_bool(&obj, "ok", &ok) == 1 && ok ? SEND_REPLY_OK
											  : SEND_REPLY_ERROR;
			}
			json_decref(j);
		}
		msgpack_zone_clear(&zone);
		rd_kafka_message_destroy(rkm);
	}
	msgpack_zone_destroy(&zone);
	return status;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
						 {"version", no_argument, NULL, ANDON_OPT_VERSION},
						 {NULL, 0, NULL, 0}};
	static const char *const reader_defaults[] = {
	    /* assign() needs a group handle, but nothing joins it and nothing is committed to it. */
	    "group.id", "andon-send", "enable.auto.commit", "false",
	    /* Only what the worker committed: an exactly-once worker's aborted outputs never show. */
	    "isolation.level", "read_committed",
	    /* The mock holds an empty fetch for the whole wait: a low wait is most of the round trip. */
	    "fetch.wait.max.ms", "10", NULL};
	andon_kafka_arg_t *cargs;
	int ncargs = 0, opt, no_wait = 0, status = SEND_FAILED;
	const char *req_topic = "andon.requests", *reply_topic = "andon.replies", *id_arg = NULL;
	const char *account = NULL, *key_arg = NULL, *json_arg = NULL, *id, *wait_topic;
	long long timeout_ms = 15000;
	char errstr[512], uuid[37], *key = NULL, *buf = NULL;
	size_t len = 0;
	json_t *env = NULL, *op_body = NULL;
	json_error_t jerr;
	rd_kafka_conf_t *pconf = NULL, *cconf = NULL;
	rd_kafka_t *producer = NULL, *consumer = NULL;
	rd_kafka_resp_err_t err;
	struct delivery dr = {0, RD_KAFKA_RESP_ERR_NO_ERROR, -1, -1};
	int64_t start_us, deadline_us;
	andon_creds_t creds;
	int signed_ = 0;

	if ((cargs = calloc((size_t)argc, sizeof(*cargs))) == NULL) {
		fprintf(stderr, "andon-send: out of memory\n");
		return SEND_FAILED;
	}
	while ((opt = getopt_long(argc, argv, "b:X:F:t:r:i:a:k:j:T:nqh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'b':
		case 'X':
		case 'F':
			cargs[ncargs].flag = opt;
			cargs[ncargs++].arg = optarg;
			break;
		case 't':
			req_topic = optarg;
			break;
		case 'r':
			reply_topic = optarg;
			break;
		case 'i':
			id_arg = optarg;
			break;
		case 'a':
			account = optarg;
			break;
		case 'k':
			key_arg = optarg;
			break;
		case 'j':
			json_arg = optarg;
			break;
		case 'T':
			if (andon_parse_ll(optarg, 1, MAX_TIMEOUT_MS, &timeout_ms) != 0) {
				fprintf(stderr,
					"andon-send: -T: expected milliseconds (1..%lld), got \"%s\"\n",
					MAX_TIMEOUT_MS, optarg);
				goto usage;
			}
			break;
		case 'n':
			no_wait = 1;
			break;
		case 'q':
			andon_log_level = ANDON_LOG_WARN;
			break;
		case 'h':
			usage(stdout);
			status = SEND_REPLY_OK;
			goto out;
		case ANDON_OPT_VERSION:
			andon_version_print(stdout, "andon-send");
			status = SEND_REPLY_OK;
			goto out;
		default:
			goto usage;
		}
	}

	/* The request: from OP and fields, or a whole JSON envelope. */
	if (optind < argc) {
		json_t *body = json_object();

		if (json_arg != NULL) {
			fprintf(stderr, "andon-send: give either OP and fields or -j, not both\n");
			json_decref(body);
			goto usage;
		}
		for (int i = optind + 1; i < argc; i++) {
			if (body_add_item(body, argv[i], errstr, sizeof(errstr)) != 0) {
				fprintf(stderr, "andon-send: %s\n", errstr);
				json_decref(body);
				goto usage;
			}
		}
		env = json_object();
		json_object_set_new(env, "v", json_integer(1));
		if (json_object_set_new(env, "op", json_string(argv[optind])) != 0) {
			fprintf(stderr, "andon-send: OP is not valid UTF-8\n");
			json_decref(body);
			goto usage;
		}
		op_body = body; /* added after the id fields, so the envelope reads in protocol order */
	} else {
		if (json_arg != NULL) {
			env = json_loads(json_arg, 0, &jerr);
		} else if (isatty(STDIN_FILENO)) {
			fprintf(stderr, "andon-send: no OP, no -j and stdin is a terminal\n");
			goto usage;
		} else {
			env = json_loadf(stdin, 0, &jerr);
		}
		if (env == NULL) {
			fprintf(stderr, "andon-send: request JSON: line %d: %s\n", jerr.line, jerr.text);
			goto out;
		}
		if (!json_is_object(env)) {
			fprintf(stderr, "andon-send: request JSON must be an object\n");
			goto out;
		}
		fill_missing(env, "v", json_integer(1));
	}
	if (id_arg == NULL)
		andon_uuid4(uuid);
	fill_missing(env, "id", json_string(id_arg != NULL ? id_arg : uuid));
	fill_missing(env, "replyTo", json_string(reply_topic));
	fill_missing(env, "account", account != NULL ? json_string(account) : NULL);
	if (op_body != NULL)
		json_object_set_new(env, "body", op_body); /* now owned by env */
	if ((id = json_string_value(json_object_get(env, "id"))) == NULL) {
		fprintf(stderr, "andon-send: request id must be a string\n");
		goto out;
	}
	/* Replies go where the request asks for them, which a JSON envelope may set. */
	wait_topic = json_is_string(json_object_get(env, "replyTo"))
			 ? json_string_value(json_object_get(env, "replyTo"))
			 : reply_topic;
	if ((key = key_arg != NULL ? strdup(key_arg) : default_key(env, id)) == NULL) {
		fprintf(stderr, "andon-send: out of memory\n");
		goto out;
	}
	if ((signed_ = andon_creds_load(&creds, errstr, sizeof(errstr))) < 0) {
		fprintf(stderr, "andon-send: credentials: %s\n", errstr);
		goto out;
	}
	if (andon_json_pack(env, &buf, &len, errstr, sizeof(errstr)) != 0) {
		fprintf(stderr, "andon-send: encoding the request: %s\n", errstr);
		goto out;
	}

	/* Defaults first so -b, -X and -F, applied afterwards in command-line order, can override them. */
	pconf = rd_kafka_conf_new();
	rd_kafka_conf_set_log_cb(pconf, andon_kafka_log_cb);
	rd_kafka_conf_set_dr_msg_cb(pconf, on_delivery);
	cconf = rd_kafka_conf_new();
	rd_kafka_conf_set_log_cb(cconf, andon_kafka_log_cb);
	if (andon_kafka_conf_set_pairs(cconf, reader_defaults, errstr, sizeof(errstr)) != 0 ||
	    andon_kafka_conf_args(pconf, cargs, ncargs, errstr, sizeof(errstr)) != 0 ||
	    andon_kafka_conf_args(cconf, cargs, ncargs, errstr, sizeof(errstr)) != 0) {
		fprintf(stderr, "andon-send: %s\n", errstr);
		goto out;
	}
	if (!andon_kafka_conf_has_brokers(pconf)) {
		fprintf(stderr, "andon-send: -b brokers (or -X bootstrap.servers=...) is required\n");
		goto usage;
	}

	andon_catch_stop(&run);

	start_us = andon_now_us();
	deadline_us = start_us + timeout_ms * 1000;
	if (!no_wait) {
		consumer = andon_kafka_new(RD_KAFKA_CONSUMER, cconf, errstr, sizeof(errstr));
		cconf = NULL; /* now owned by consumer (or gone) */
		if (consumer == NULL) {
			andon_err("rd_kafka_new: %s", errstr);
			goto out;
		}
		if (andon_rpc_assign_at_end(consumer, wait_topic, (int)remaining_ms(deadline_us), errstr,
					    sizeof(errstr)) != 0) {
			andon_err("%s", errstr);
			goto out;
		}
	}
	producer = andon_kafka_new(RD_KAFKA_PRODUCER, pconf, errstr, sizeof(errstr));
	pconf = NULL; /* now owned by producer (or gone) */
	if (producer == NULL) {
		andon_err("rd_kafka_new: %s", errstr);
		goto out;
	}

	/* Without this a fresh producer sometimes learned the topic's partitions only from librdkafka's 1 s
	 * topic scan (about 1 send in 40 on the mock took 1002 ms). */
	if (andon_kafka_warm_topic(producer, req_topic, "request topic", (int)remaining_ms(deadline_us),
				   errstr, sizeof(errstr)) != 0) {
		andon_err("%s", errstr);
		goto out;
	}
	err = andon_sign_produce(producer, signed_ ? &creds : NULL, req_topic, RD_KAFKA_PARTITION_UA, key,
				 strlen(key), buf, len, NULL, &dr);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		andon_err("produce to %s: %s", req_topic, rd_kafka_err2str(err));
		goto out;
	}
	rd_kafka_flush(producer, (int)remaining_ms(deadline_us));
	if (!dr.done || dr.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		andon_err("delivery to %s failed: %s", req_topic,
			  dr.done ? rd_kafka_err2str(dr.err) : "timed out");
		goto out;
	}
	andon_info("sent %s (key %s) to %s [%d] @%lld in %.1f ms", id, key, req_topic, (int)dr.partition,
		   (long long)dr.offset, (double)(andon_now_us() - start_us) / 1000.0);

	if (no_wait) {
		printf("%s\n", id);
		status = fflush(stdout) == 0 ? SEND_REPLY_OK : SEND_FAILED;
		goto out;
	}
	status = await_reply(consumer, id, deadline_us);
	if (status == SEND_NO_REPLY)
		andon_err("no reply to %s on %s within %lld ms%s", id, wait_topic, timeout_ms,
			  run ? "" : " (interrupted)");
	else if (status != SEND_FAILED)
		andon_info("reply after %.1f ms", (double)(andon_now_us() - start_us) / 1000.0);

out:
	/* librdkafka's shutdown order: close the consumer, flush the producer, report leftovers, destroy. */
	andon_kafka_consumer_close(consumer);
	andon_kafka_producer_close(producer, 1000, ANDON_LOG_WARN);
	if (pconf != NULL)
		rd_kafka_conf_destroy(pconf);
	if (cconf != NULL)
		rd_kafka_conf_destroy(cconf);
	json_decref(env);
	free(buf);
	free(key);
	free(cargs);
	return status;

usage:
	usage(stderr);
	status = SEND_FAILED;
	goto out;
}
