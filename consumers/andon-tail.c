/* andon-tail: prints the messages of Andon topics as JSON lines, decoding the msgpack values. */
#include "codec.h"
#include "json.h"
#include "kafka.h"
#include "log.h"
#include "util.h"
#include "version.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METADATA_TIMEOUT_MS 10000

static volatile sig_atomic_t run = 1;

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: andon-tail -b brokers -t topic [-t topic ...] [flags]\n"
		"\n"
		"Prints each message of the topics as one JSON line on stdout:\n"
		"  {\"topic\",\"partition\",\"offset\",\"key\": string|null,\"value\": <decoded msgpack>}\n"
		"A value that is not valid msgpack prints \"value\": null, \"error\" and \"raw\": {\"$bin\": "
		"base64}.\n"
		"Reads every partition by assignment, without joining a consumer group; commits nothing.\n"
		"\n"
		"  -b BROKERS      bootstrap servers (or bootstrap.servers via -X / -F)\n"
		"  -t TOPIC        topic to read (repeatable, at least one)\n"
		"  -X KEY=VALUE    librdkafka property, e.g. -X fetch.wait.max.ms=500 (default here 10)\n"
		"  -F FILE         file of librdkafka properties, one key=value a line\n"
		"  -o OFFSET       where to start: beginning, end (default), N (absolute), -N (the last N "
		"messages\n"
		"                  of each partition)\n"
		"  -e              exit once every partition has reached its end\n"
		"  -c N            exit after N messages\n"
		"  -V              print only the decoded value, not the envelope\n"
		"  -q              only print warnings and errors on stderr\n"
		"  -h, --help      this text\n"
		"      --version   the version of the program and its libraries\n"
		"\n"
		"Exit status: 0 done (or interrupted), 1 on a Kafka or output error, 2 on bad usage.\n");
}

static int parse_offset(const char *s, int64_t *out)
{
	long long n;

	if (strcmp(s, "beginning") == 0)
		*out = RD_KAFKA_OFFSET_BEGINNING;
	else if (strcmp(s, "end") == 0)
		*out = RD_KAFKA_OFFSET_END;
	else if (s[0] == '-' && andon_parse_ll(s + 1, 1, INT64_MAX + RD_KAFKA_OFFSET_TAIL_BASE, &n) == 0)
		*out = RD_KAFKA_OFFSET_TAIL(n);
	else if (andon_parse_ll(s, 0, INT64_MAX, &n) == 0)
		*out = n;
	else
		return -1;
	return 0;
}

/*
 * Turns a logical start (beginning, end, N from the end) into an absolute offset. librdkafka 2.0.2 resolves
 * logical offsets itself only after the partition has joined its leader's thread; when it loses that race
 * it retries 500 ms later, and "end" then silently skips whatever arrived meanwhile. An absolute offset
 * also makes "end" mean the end when the tail started.
 */
static int resolve_offset(rd_kafka_t *rk, rd_kafka_topic_partition_t *tp, char *errstr, size_t errstr_size)
{
	int64_t lo, hi;

	if (tp->offset >= 0)
		return 0;
	if (andon_kafka_watermarks(rk, tp->topic, tp->partition, METADATA_TIMEOUT_MS, &lo, &hi, errstr,
				   errstr_size) != 0)
		return -1;
	if (tp->offset == RD_KAFKA_OFFSET_BEGINNING)
		tp->offset = lo;
	else if (tp->offset == RD_KAFKA_OFFSET_END)
		tp->offset = hi;
	else /* RD_KAFKA_OFFSET_TAIL(n): each message may be followed by the commit marker of its transaction
	      * (an exactly-once worker), which takes an offset too; main() prints the last n read. */
		tp->offset = hi - 2 * (RD_KAFKA_OFFSET_TAIL_BASE - tp->offset) > lo
				 ? hi - 2 * (RD_KAFKA_OFFSET_TAIL_BASE - tp->offset)
				 : lo;
	return 0;
}

/* With -o -N: what a partition read before its first end, of which the last N are printed there. */
typedef struct held {
	rd_kafka_message_t **m;
	size_t n, cap;
	int done; /* reached its end once: messages are printed as they come */
} held_t;

static int hold_message(held_t *h, rd_kafka_message_t *rkm)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 64;
		rd_kafka_message_t **m = realloc(h->m, cap * sizeof(*m));

		if (m == NULL)
			return -1;
		h->m = m;
		h->cap = cap;
	}
	h->m[h->n++] = rkm;
	return 0;
}

static void held_clear(held_t *h)
{
	for (size_t i = 0; i < h->n; i++)
		rd_kafka_message_destroy(h->m[i]);
	h->n = 0;
}

/*
 * Builds the assignment: every partition of every topic, starting at offset. Assigning instead of
 * subscribing avoids the group join, which is slow on the mock cluster and can stick there for good.
 */
static rd_kafka_topic_partition_list_t *assignment_new(rd_kafka_t *rk, char **topics, int ntopics,
						       int64_t offset, char *errstr, size_t errstr_size)
{
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(16);

	for (int i = 0; i < ntopics; i++) {
		int32_t *ids;
		int n = andon_kafka_partitions(rk, topics[i], NULL, METADATA_TIMEOUT_MS, &ids, errstr,
					       errstr_size);

		if (n < 0)
			goto err;
		for (int p = 0; p < n; p++) {
			/* A topic given twice is read once. */
			if (rd_kafka_topic_partition_list_find(parts, topics[i], ids[p]) != NULL)
				continue;
			rd_kafka_topic_partition_list_add(parts, topics[i], ids[p])->offset = offset;
			if (resolve_offset(rk, &parts->elems[parts->cnt - 1], errstr, errstr_size) != 0) {
				free(ids);
				goto err;
			}
		}
		free(ids);
	}
	return parts;
err:
	rd_kafka_topic_partition_list_destroy(parts);
	return NULL;
}

/* Bytes as {"$bin": base64}, json.h's rendering of msgpack BIN, so every tool shows raw bytes alike. */
static json_t *bytes_to_json_bin(const void *p, size_t len)
{
	msgpack_object bin;

	bin.type = MSGPACK_OBJECT_BIN;
	bin.via.bin.ptr = p != NULL ? p : "";
	bin.via.bin.size = (uint32_t)len;
	return andon_json_from_msgpack(&bin);
}

/* The key is usually an ARN or a request id; bytes that are not UTF-8 fall back to {"$bin": base64}. */
static json_t *bytes_to_json(const void *p, size_t len)
{
	json_t *j;

	if (p == NULL)
		return json_null();
	if ((j = json_stringn(p, len)) != NULL)
		return j;
	return bytes_to_json_bin(p, len);
}

/* Writes one line; returns 0, or -1 when stdout failed (errno says why). */
static int print_line(json_t *j)
{
	if (j == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if (json_dumpf(j, stdout, JSON_COMPACT) != 0 || fputc('\n', stdout) == EOF)
		return -1;
	/* Flushed per line so a pipe reader (a test waiting for an event) sees it at once. */
	return fflush(stdout) == 0 ? 0 : -1;
}

/* Prints one message; returns 0, or -1 on an output error. */
static int print_message(const rd_kafka_message_t *rkm, int value_only, msgpack_zone *zone)
{
	msgpack_object obj;
	json_t *line, *value = NULL;
	char reason[256];
	int rc;

	if (andon_codec_unpack(rkm->payload, rkm->len, ANDON_CODEC_DEFAULT_DEPTH, zone, &obj, reason,
			       sizeof(reason)) == 0 &&
	    (value = andon_json_from_msgpack(&obj)) == NULL)
		snprintf(reason, sizeof(reason), "out of memory");

	if (value_only) {
		if (value == NULL) {
			andon_warn("%s [%d] @%lld: undecodable value: %s", rd_kafka_topic_name(rkm->rkt),
				   (int)rkm->partition, (long long)rkm->offset, reason);
			msgpack_zone_clear(zone);
			return 0;
		}
		rc = print_line(value);
		json_decref(value);
		msgpack_zone_clear(zone);
		return rc;
	}

	line = json_object();
	if (line != NULL) {
		json_object_set_new(line, "topic", json_string(rd_kafka_topic_name(rkm->rkt)));
		json_object_set_new(line, "partition", json_integer(rkm->partition));
		json_object_set_new(line, "offset", json_integer(rkm->offset));
		json_object_set_new(line, "key", bytes_to_json(rkm->key, rkm->key_len));
		if (value != NULL) {
			json_object_set_new(line, "value", value);
		} else {
			json_object_set_new(line, "value", json_null());
			json_object_set_new(line, "error", json_string(reason));
			json_object_set_new(line, "raw", bytes_to_json_bin(rkm->payload, rkm->len));
		}
	} else {
		json_decref(value);
	}
	rc = print_line(line);
	json_decref(line);
	msgpack_zone_clear(zone);
	return rc;
}

/* Prints rkm and counts it against -c: 0 to go on, 1 when done (the count reached, or the reader went away:
 * a normal way for a tail to end, | head), -1 on an output error. */
static int show(const rd_kafka_message_t *rkm, int value_only, msgpack_zone *zone, long long max_msgs,
		long long *msg_cnt)
{
	if (print_message(rkm, value_only, zone) != 0) {
		if (errno != EPIPE) {
			andon_err("writing stdout: %s", strerror(errno));
			return -1;
		}
		return 1;
	}
	return max_msgs > 0 && ++*msg_cnt >= max_msgs;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
						 {"version", no_argument, NULL, ANDON_OPT_VERSION},
						 {NULL, 0, NULL, 0}};
	static const char *const reader_defaults[] = {
	    /* assign() needs a group handle, but nothing joins it and nothing is committed to it. */
	    "group.id", "andon-tail", "enable.auto.commit", "false", "enable.auto.offset.store", "false",
	    "enable.partition.eof", "true",
	    /* Only what the worker committed: an exactly-once worker's aborted outputs never show. */
	    "isolation.level", "read_committed",
	    /* The mock holds an empty fetch for the whole wait, which would delay every line by up to it. */
	    "fetch.wait.max.ms", "10", NULL};
	char **topics, errstr[512];
	int ntopics = 0, opt, exit_eof = 0, value_only = 0, status = 1, eof_cnt = 0;
	int64_t offset = RD_KAFKA_OFFSET_END;
	long long max_msgs = 0, msg_cnt = 0;
	char *eof_seen = NULL;
	held_t *held = NULL; /* -o -N: per partition */
	size_t tail = 0;
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk = NULL;
	rd_kafka_topic_partition_list_t *parts = NULL;
	rd_kafka_resp_err_t err;
	msgpack_zone zone;

	if ((topics = calloc((size_t)argc, sizeof(*topics))) == NULL) {
		fprintf(stderr, "andon-tail: out of memory\n");
		return 1;
	}
	/* Defaults first so -X and -F, applied in command-line order, can override every one of them. */
	conf = rd_kafka_conf_new();
	rd_kafka_conf_set_log_cb(conf, andon_kafka_log_cb);
	if (andon_kafka_conf_set_pairs(conf, reader_defaults, errstr, sizeof(errstr)) != 0) {
		fprintf(stderr, "andon-tail: %s\n", errstr);
		goto out;
	}

	while ((opt = getopt_long(argc, argv, "b:t:X:F:o:ec:Vqh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'b':
		case 'X':
		case 'F':
			if (andon_kafka_conf_arg(conf, opt, optarg, errstr, sizeof(errstr)) != 0)
				goto bad_conf;
			break;
		case 't':
			topics[ntopics++] = optarg;
			break;
		case 'o':
			if (parse_offset(optarg, &offset) != 0) {
				fprintf(stderr,
					"andon-tail: -o: expected beginning, end, N or -N, got \"%s\"\n",
					optarg);
				goto usage;
			}
			break;
		case 'e':
			exit_eof = 1;
			break;
		case 'c':
			if (andon_parse_ll(optarg, 1, LLONG_MAX, &max_msgs) != 0) {
				fprintf(stderr, "andon-tail: -c: expected a positive count, got \"%s\"\n",
					optarg);
				goto usage;
			}
			break;
		case 'V':
			value_only = 1;
			break;
		case 'q':
			andon_log_level = ANDON_LOG_WARN;
			break;
		case 'h':
			usage(stdout);
			status = 0;
			goto out;
		case ANDON_OPT_VERSION:
			andon_version_print(stdout, "andon-tail");
			status = 0;
			goto out;
		default:
			goto usage;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "andon-tail: unexpected argument \"%s\"\n", argv[optind]);
		goto usage;
	}
	if (ntopics == 0) {
		fprintf(stderr, "andon-tail: at least one -t topic is required\n");
		goto usage;
	}
	if (!andon_kafka_conf_has_brokers(conf)) {
		fprintf(stderr, "andon-tail: -b brokers (or -X bootstrap.servers=...) is required\n");
		goto usage;
	}

	andon_catch_stop(&run);
	/* A closed pipe (| head) shows up as a write error, so the handles are still shut down in order. */
	signal(SIGPIPE, SIG_IGN);

	rk = andon_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	conf = NULL; /* now owned by rk (or gone) */
	if (rk == NULL) {
		andon_err("rd_kafka_new: %s", errstr);
		goto out;
	}

	if ((parts = assignment_new(rk, topics, ntopics, offset, errstr, sizeof(errstr))) == NULL) {
		andon_err("%s", errstr);
		goto out;
	}
	if (offset <= RD_KAFKA_OFFSET_TAIL_BASE)
		tail = (size_t)(RD_KAFKA_OFFSET_TAIL_BASE - offset);
	if ((eof_seen = calloc((size_t)parts->cnt, 1)) == NULL ||
	    (tail > 0 && (held = calloc((size_t)parts->cnt, sizeof(*held))) == NULL)) {
		andon_err("out of memory");
		goto out;
	}
	if ((err = rd_kafka_assign(rk, parts)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		andon_err("assign: %s", rd_kafka_err2str(err));
		goto out;
	}
	andon_info("reading %d partition(s) of %d topic(s)", parts->cnt, ntopics);

	msgpack_zone_init(&zone, MSGPACK_ZONE_CHUNK_SIZE);
	status = 0;
	while (run) {
		rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 100);
		int idx;

		if (rkm == NULL)
			continue;
		if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(
			    parts, rd_kafka_topic_name(rkm->rkt), rkm->partition);

			idx = tp != NULL ? (int)(tp - parts->elems) : -1;
			if (idx >= 0 && !eof_seen[idx]) {
				eof_seen[idx] = 1;
				eof_cnt++;
			}
			/* -o -N: the partition's last N messages, now that its end is known. */
			if (idx >= 0 && held != NULL && !held[idx].done) {
				held_t *h = &held[idx];
				int done = 0;

				for (size_t i = h->n > tail ? h->n - tail : 0; i < h->n && !done; i++)
					done = show(h->m[i], value_only, &zone, max_msgs, &msg_cnt);
				held_clear(h);
				h->done = 1;
				if (done != 0) {
					status = done < 0;
					run = 0;
				}
			}
			if (exit_eof && eof_cnt == parts->cnt)
				run = 0;
		} else if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			andon_warn("%s: %s", rkm->rkt != NULL ? rd_kafka_topic_name(rkm->rkt) : "consumer",
				   rd_kafka_message_errstr(rkm));
			/* A vanished partition never comes back to an assignment; anything else librdkafka
			 * retries. */
			if (rkm->err == RD_KAFKA_RESP_ERR__FATAL ||
			    rkm->err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
			    rkm->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
				status = 1;
				run = 0;
			}
		} else {
			rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(
			    parts, rd_kafka_topic_name(rkm->rkt), rkm->partition);

			/* New data after an end: the partition has to reach its end again before -e exits. */
			idx = tp != NULL ? (int)(tp - parts->elems) : -1;
			if (idx >= 0 && eof_seen[idx]) {
				eof_seen[idx] = 0;
				eof_cnt--;
			}
			if (idx >= 0 && held != NULL && !held[idx].done) {
				if (hold_message(&held[idx], rkm) == 0)
					continue; /* printed at the partition's end */
				andon_err("out of memory");
				status = 1;
				run = 0;
			} else if ((opt = show(rkm, value_only, &zone, max_msgs, &msg_cnt)) != 0) {
				status = opt < 0;
				run = 0;
			}
		}
		rd_kafka_message_destroy(rkm);
	}
	msgpack_zone_destroy(&zone);
	for (int i = 0; held != NULL && i < parts->cnt; i++) {
		held_clear(&held[i]);
		free(held[i].m);
	}

out:
	andon_kafka_consumer_close(rk);
	if (conf != NULL)
		rd_kafka_conf_destroy(conf);
	if (parts != NULL)
		rd_kafka_topic_partition_list_destroy(parts);
	free(eof_seen);
	free(held);
	free(topics);
	return status;

bad_conf:
	fprintf(stderr, "andon-tail: %s\n", errstr);
	status = 2;
	goto out;
usage:
	usage(stderr);
	status = 2;
	goto out;
}
