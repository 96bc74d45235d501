/* andon-replay: copies a range of messages from a topic (typically the DLQ) back into the requests topic. */
#include "codec.h"
#include "json.h"
#include "kafka.h"
#include "log.h"
#include "sign.h"
#include "util.h"
#include "version.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define METADATA_TIMEOUT_MS 10000
#define FLUSH_TIMEOUT_MS    60000

static volatile sig_atomic_t run = 1;

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: andon-replay -b brokers -t source_topic [flags]\n"
	    "\n"
	    "Copies the messages in [start, end) of each source partition to the destination topic, keeping\n"
	    "their keys. A DLQ record (a map with an \"original\" bin field) is replayed as the original\n"
	    "message: its \"original\" bytes with its \"key\". Reads by assignment; commits nothing.\n"
	    "\n"
	    "  -b BROKERS      bootstrap servers (or bootstrap.servers via -X / -F)\n"
	    "  -X KEY=VALUE    librdkafka property, set on both the consumer and the producer\n"
	    "  -F FILE         file of librdkafka properties, one key=value a line\n"
	    "  -t TOPIC        source topic (required), e.g. andon.dlq\n"
	    "  -p PARTITION    only this source partition (default all)\n"
	    "  -o OFFSET       start offset in each partition: beginning (default) or N\n"
	    "  -E OFFSET       end offset, exclusive (default the high watermark when the replay starts)\n"
	    "  -d TOPIC        destination topic (default andon.requests)\n"
	    "  -n              dry run: print what would be replayed as JSON lines on stdout\n"
	    "      --re-sign   sign each copy afresh with the operator's credentials (ANDON_ACCESS_KEY_ID /\n"
	    "                  ANDON_SECRET_ACCESS_KEY, else ANDON_SHARED_CREDENTIALS_FILE, else\n"
	    "                  ~/.andon/credentials), the original's key id in andon-original-key-id. "
	    "Without\n"
	    "                  it a copy keeps the original's headers (its signature) and Kafka timestamp,\n"
	    "                  so the worker checks the original signature and signing window\n"
	    "  -q              only print warnings and errors on stderr\n"
	    "  -h, --help      this text\n"
	    "      --version   the version of the program and its libraries\n"
	    "\n"
	    "Exit status: 0 all replayed, 1 a delivery failed or a Kafka error (or interrupted), 2 bad "
	    "usage.\n");
}

struct counts {
	long long delivered; /* delivery reports without error */
	long long failed;    /* delivery reports with an error */
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
	struct counts *c = opaque;

	(void)rk;
	if (rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		c->delivered++;
		return;
	}
	c->failed++;
	andon_err("delivery to %s failed: %s", rd_kafka_topic_name(rkm->rkt), rd_kafka_err2str(rkm->err));
}

/* One source partition's range; fixed when the replay starts so new arrivals are never chased. */
struct range {
	int32_t partition;
	int64_t start; /* first offset to copy */
	int64_t end;   /* first offset not to copy */
	int done;      /* reached end */
};

/*
 * Fills ranges (room for every partition) for the source topic; returns how many, or -1. A partition whose
 * range is empty is included with done set.
 */
static int ranges_build(rd_kafka_t *rk, const char *topic, int32_t only, int64_t start, int64_t end,
			struct range **out, char *errstr, size_t errstr_size)
{
	struct range *r = NULL;
	int32_t *ids;
	int nids, n = 0;

	if ((nids = andon_kafka_partitions(rk, topic, NULL, METADATA_TIMEOUT_MS, &ids, errstr, errstr_size)) <
	    0)
		return -1;
	if ((r = calloc((size_t)nids, sizeof(*r))) == NULL) {
		andon_fail(errstr, errstr_size, "out of memory");
		goto err;
	}
	for (int i = 0; i < nids; i++) {
		int64_t lo, hi;

		if (only >= 0 && ids[i] != only)
			continue;
		if (andon_kafka_watermarks(rk, topic, ids[i], METADATA_TIMEOUT_MS, &lo, &hi, errstr,
					   errstr_size) != 0)
			goto err;
		r[n].partition = ids[i];
		r[n].start = start == RD_KAFKA_OFFSET_BEGINNING ? lo : start;
		if (r[n].start < lo) {
			andon_warn("%s [%d]: offsets below %lld are gone (retention); starting there", topic,
				   (int)ids[i], (long long)lo);
			r[n].start = lo;
		}
		r[n].end = end >= 0 && end < hi ? end : hi;
		r[n].done = r[n].start >= r[n].end;
		n++;
	}
	if (n == 0) {
		andon_fail(errstr, errstr_size, "topic %s has no partition %d", topic, (int)only);
		goto err;
	}
	free(ids);
	*out = r;
	return n;
err:
	free(r);
	free(ids);
	return -1;
}

/* Bytes as {"$bin": base64}, json.h's rendering of msgpack BIN. */
static json_t *bin_json(const void *p, size_t len)
{
	msgpack_object bin;

	bin.type = MSGPACK_OBJECT_BIN;
	bin.via.bin.ptr = p != NULL ? p : "";
	bin.via.bin.size = (uint32_t)len;
	return andon_json_from_msgpack(&bin);
}

/* What one source message turns into. Pointers point into the message or the zone. */
struct replay {
	const char *key; /* NULL: no key */
	size_t key_len;
	const char *value;
	size_t value_len;
	int from_dlq; /* value is a DLQ record's original */
	int64_t ts;   /* the original's Kafka timestamp (epoch ms), kept by the copy; 0: none known */
};

/* A DLQ record stands for the message it quarantined: replay that, with that message's key. */
static void replay_of(const rd_kafka_message_t *rkm, msgpack_zone *zone, struct replay *out)
{
	msgpack_object obj;
	const msgpack_object *orig, *key, *ts;
	char reason[256];

	out->key = rkm->key;
	out->key_len = rkm->key_len;
	out->value = rkm->payload;
	out->value_len = rkm->len;
	out->from_dlq = 0;
	/* The copy keeps the original's timestamp: the worker refuses requests older than their API's
	 * retention (RequestExpired), so a replay never brings back what expired. */
	out->ts = rd_kafka_message_timestamp(rkm, NULL);
	if (out->ts < 0)
		out->ts = 0;
	if (andon_codec_unpack(rkm->payload, rkm->len, ANDON_CODEC_DEFAULT_DEPTH, zone, &obj, reason,
			       sizeof(reason)) != 0)
		return;
	if ((orig = andon_codec_map_get(&obj, "original")) == NULL || orig->type != MSGPACK_OBJECT_BIN)
		return;
	out->value = orig->via.bin.ptr;
	out->value_len = orig->via.bin.size;
	out->from_dlq = 1;
	/* A DLQ record's own timestamp is when it was dead-lettered; "ts" is its original's
	 * (docs/PROTOCOL.md). */
	if ((ts = andon_codec_map_get(&obj, "ts")) != NULL && ts->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
	    ts->via.u64 <= INT64_MAX)
		out->ts = (int64_t)ts->via.u64;
	key = andon_codec_map_get(&obj, "key");
	if (key != NULL && key->type == MSGPACK_OBJECT_BIN) {
		out->key = key->via.bin.ptr;
		out->key_len = key->via.bin.size;
	} else if (key != NULL && key->type == MSGPACK_OBJECT_STR) {
		out->key = key->via.str.ptr;
		out->key_len = key->via.str.size;
	} else {
		out->key = NULL;
		out->key_len = 0;
	}
}

/* Dry run: one JSON line describing what would be produced. Returns 0, or -1 when stdout failed. */
static int print_replay(const rd_kafka_message_t *rkm, const struct replay *rp, const char *dest)
{
	msgpack_zone zone;
	msgpack_object obj;
	json_t *line = json_object(), *from = json_object(), *key;
	char reason[256];
	int rc = -1;

	msgpack_zone_init(&zone, MSGPACK_ZONE_CHUNK_SIZE);
	if (line == NULL || from == NULL) {
		json_decref(from);
		goto out;
	}
	json_object_set_new(from, "topic", json_string(rd_kafka_topic_name(rkm->rkt)));
	json_object_set_new(from, "partition", json_integer(rkm->partition));
	json_object_set_new(from, "offset", json_integer(rkm->offset));
	json_object_set_new(line, "from", from);
	json_object_set_new(line, "dlq", json_boolean(rp->from_dlq));
	json_object_set_new(line, "topic", json_string(dest));
	key = rp->key == NULL ? json_null() : json_stringn(rp->key, rp->key_len);
	json_object_set_new(line, "key", key != NULL ? key : bin_json(rp->key, rp->key_len));
	if (andon_codec_unpack(rp->value, rp->value_len, ANDON_CODEC_DEFAULT_DEPTH, &zone, &obj, reason,
			       sizeof(reason)) == 0) {
		json_object_set_new(line, "value", andon_json_from_msgpack(&obj));
	} else {
		json_object_set_new(line, "value", json_null());
		json_object_set_new(line, "error", json_string(reason));
		json_object_set_new(line, "raw", bin_json(rp->value, rp->value_len));
	}
	if (json_dumpf(line, stdout, JSON_COMPACT) == 0 && fputc('\n', stdout) != EOF && fflush(stdout) == 0)
		rc = 0;
out:
	json_decref(line);
	msgpack_zone_destroy(&zone);
	return rc;
}

/* Produces one copy, waiting out a full local queue. Returns 0, or -1 (counted as a failure by the caller).
 */
/*
 * The headers of a copy of rkm: its own (the signature and anything else), or with creds (--re-sign) the
 * same without the signature, plus andon-original-key-id when it was signed; NULL when it has none.
 */
static rd_kafka_headers_t *copy_headers(const rd_kafka_message_t *rkm, const andon_creds_t *creds)
{
	rd_kafka_headers_t *h = NULL, *src = NULL;
	const void *orig = NULL;
	size_t orig_len = 0;

	if (rd_kafka_message_headers(rkm, &src) == RD_KAFKA_RESP_ERR_NO_ERROR)
		h = rd_kafka_headers_copy(src);
	if (creds == NULL || h == NULL)
		return h;
	if (rd_kafka_header_get_last(h, ANDON_SIGN_HDR_KEY_ID, &orig, &orig_len) ==
		RD_KAFKA_RESP_ERR_NO_ERROR &&
	    orig != NULL) {
		rd_kafka_header_remove(h, ANDON_SIGN_HDR_ORIG_KEY);
		rd_kafka_header_add(h, ANDON_SIGN_HDR_ORIG_KEY, -1, orig, (ssize_t)orig_len);
	}
	rd_kafka_header_remove(h, ANDON_SIGN_HDR_KEY_ID);
	rd_kafka_header_remove(h, ANDON_SIGN_HDR_DATE);
	rd_kafka_header_remove(h, ANDON_SIGN_HDR_SIG);
	return h;
}

/* One copy of rp to dest with the original's timestamp and headers; with creds (--re-sign) signed anew,
 * dated at that timestamp (the worker wants the signing date within 15 minutes of it). */
static rd_kafka_resp_err_t produce_one(rd_kafka_t *rk, const char *dest, const struct replay *rp,
				       const rd_kafka_message_t *rkm, const andon_creds_t *creds)
{
	rd_kafka_headers_t *h = copy_headers(rkm, creds);
	rd_kafka_resp_err_t err;
	int64_t ts = rp->ts > 0 ? rp->ts : 0;
	char why[256];

	if (creds != NULL) {
		if (h == NULL)
			h = rd_kafka_headers_new(3);
		if (andon_sign_headers(h, creds, dest, rp->key, rp->key_len, rp->value, rp->value_len,
				       ts > 0 ? (time_t)(ts / 1000) : time(NULL), why, sizeof(why)) != 0) {
			andon_err("re-sign: %s", why);
			rd_kafka_headers_destroy(h);
			return RD_KAFKA_RESP_ERR__INVALID_ARG;
		}
	}
	err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(dest), RD_KAFKA_V_KEY(rp->key, rp->key_len),
				RD_KAFKA_V_VALUE((void *)rp->value, rp->value_len),
				RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(ts),
				RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR && h != NULL)
		rd_kafka_headers_destroy(h); /* owned by the message only once produced */
	return err;
}

static int produce(rd_kafka_t *rk, const char *dest, const struct replay *rp, const rd_kafka_message_t *rkm,
		   const andon_creds_t *creds)
{
	rd_kafka_resp_err_t err;

	for (;;) {
		err = produce_one(rk, dest, rp, rkm, creds);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || !run)
			break;
		/* Serving delivery reports is what frees room in the queue. */
		rd_kafka_poll(rk, 100);
	}
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		andon_err("produce to %s: %s", dest, rd_kafka_err2str(err));
		return -1;
	}
	rd_kafka_poll(rk, 0);
	return 0;
}

static struct range *range_find(struct range *r, int n, int32_t partition)
{
	for (int i = 0; i < n; i++)
		if (r[i].partition == partition)
			return &r[i];
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
						 {"version", no_argument, NULL, ANDON_OPT_VERSION},
						 {"re-sign", no_argument, NULL, ANDON_OPT_VERSION + 1},
						 {NULL, 0, NULL, 0}};
	static const char *const reader_defaults[] = {
	    /* assign() needs a group handle, but nothing joins it and nothing is committed to it. */
	    "group.id", "andon-replay", "enable.auto.commit", "false",
	    /* Only what the worker committed: an exactly-once worker's aborted outputs never show. */
	    "isolation.level", "read_committed",
	    /* An end event tells us a partition with gaps (compaction, transaction markers) is finished. */
	    "enable.partition.eof", "true", "fetch.wait.max.ms", "10",
	    /* If retention removes the range under us, fail loudly rather than skip to the end in silence. */
	    "auto.offset.reset", "error", NULL};
	andon_kafka_arg_t *cargs;
	int ncargs = 0, opt, dry_run = 0, status = 1, nranges = 0, ndone = 0;
	const char *src = NULL, *dest = "andon.requests";
	long long only = -1, start = RD_KAFKA_OFFSET_BEGINNING, end = -1, produced = 0, failed = 0;
	char errstr[512] = "";
	rd_kafka_conf_t *pconf = NULL, *cconf = NULL;
	rd_kafka_t *producer = NULL, *consumer = NULL;
	rd_kafka_topic_partition_list_t *parts = NULL;
	rd_kafka_resp_err_t err;
	struct range *ranges = NULL;
	struct counts counts = {0, 0};
	msgpack_zone zone;
	andon_creds_t creds;
	int resign = 0;

	if ((cargs = calloc((size_t)argc, sizeof(*cargs))) == NULL) {
		fprintf(stderr, "andon-replay: out of memory\n");
		return 1;
	}
	while ((opt = getopt_long(argc, argv, "b:X:F:t:p:o:E:d:nqh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'b':
		case 'X':
		case 'F':
			cargs[ncargs].flag = opt;
			cargs[ncargs++].arg = optarg;
			break;
		case 't':
			src = optarg;
			break;
		case ANDON_OPT_VERSION + 1:
			resign = 1;
			break;
		case 'p':
			if (andon_parse_ll(optarg, 0, INT32_MAX, &only) != 0) {
				fprintf(stderr, "andon-replay: -p: expected a partition number, got \"%s\"\n",
					optarg);
				goto usage;
			}
			break;
		case 'o':
			if (strcmp(optarg, "beginning") == 0) {
				start = RD_KAFKA_OFFSET_BEGINNING;
			} else if (andon_parse_ll(optarg, 0, INT64_MAX, &start) != 0) {
				fprintf(stderr,
					"andon-replay: -o: expected beginning or an offset, got \"%s\"\n",
					optarg);
				goto usage;
			}
			break;
		case 'E':
			if (andon_parse_ll(optarg, 0, INT64_MAX, &end) != 0) {
				fprintf(stderr, "andon-replay: -E: expected an offset, got \"%s\"\n", optarg);
				goto usage;
			}
			break;
		case 'd':
			dest = optarg;
			break;
		case 'n':
			dry_run = 1;
			break;
		case 'q':
			andon_log_level = ANDON_LOG_WARN;
			break;
		case 'h':
			usage(stdout);
			status = 0;
			goto out;
		case ANDON_OPT_VERSION:
			andon_version_print(stdout, "andon-replay");
			status = 0;
			goto out;
		default:
			goto usage;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "andon-replay: unexpected argument \"%s\"\n", argv[optind]);
		goto usage;
	}
	if (src == NULL) {
		fprintf(stderr, "andon-replay: -t source topic is required\n");
		goto usage;
	}
	if (resign && andon_creds_load(&creds, errstr, sizeof(errstr)) != 1) {
		fprintf(stderr, "andon-replay: --re-sign: %s\n",
			errstr[0] != '\0' ? errstr : "no credentials (ANDON_ACCESS_KEY_ID, ...)");
		goto usage;
	}

	/* Defaults first so -b, -X and -F, applied afterwards in command-line order, can override them. */
	pconf = rd_kafka_conf_new();
	rd_kafka_conf_set_log_cb(pconf, andon_kafka_log_cb);
	rd_kafka_conf_set_dr_msg_cb(pconf, on_delivery);
	rd_kafka_conf_set_opaque(pconf, &counts);
	cconf = rd_kafka_conf_new();
	rd_kafka_conf_set_log_cb(cconf, andon_kafka_log_cb);
	if (andon_kafka_conf_set_pairs(cconf, reader_defaults, errstr, sizeof(errstr)) != 0 ||
	    andon_kafka_conf_args(pconf, cargs, ncargs, errstr, sizeof(errstr)) != 0 ||
	    andon_kafka_conf_args(cconf, cargs, ncargs, errstr, sizeof(errstr)) != 0) {
		fprintf(stderr, "andon-replay: %s\n", errstr);
		status = 2;
		goto out;
	}
	if (!andon_kafka_conf_has_brokers(cconf)) {
		fprintf(stderr, "andon-replay: -b brokers (or -X bootstrap.servers=...) is required\n");
		goto usage;
	}

	andon_catch_stop(&run);

	consumer = andon_kafka_new(RD_KAFKA_CONSUMER, cconf, errstr, sizeof(errstr));
	cconf = NULL; /* now owned by consumer (or gone) */
	if (consumer == NULL) {
		andon_err("rd_kafka_new: %s", errstr);
		goto out;
	}
	if (!dry_run) {
		producer = andon_kafka_new(RD_KAFKA_PRODUCER, pconf, errstr, sizeof(errstr));
		pconf = NULL; /* now owned by producer (or gone) */
		if (producer == NULL) {
			andon_err("rd_kafka_new: %s", errstr);
			goto out;
		}
		/* An idle producer otherwise learns a new topic's partitions only from its 1 s topic scan, so
		 * every replay would take a second longer than it needs to. */
		if (andon_kafka_warm_topic(producer, dest, "destination", METADATA_TIMEOUT_MS, errstr,
					   sizeof(errstr)) != 0) {
			andon_err("%s", errstr);
			goto out;
		}
	}

	if ((nranges = ranges_build(consumer, src, (int32_t)only, start, end, &ranges, errstr,
				    sizeof(errstr))) < 0) {
		andon_err("%s", errstr);
		goto out;
	}
	parts = rd_kafka_topic_partition_list_new(nranges);
	for (int i = 0; i < nranges; i++) {
		if (ranges[i].done) {
			andon_info("%s [%d]: nothing to replay in [%lld, %lld)", src,
				   (int)ranges[i].partition, (long long)ranges[i].start,
				   (long long)ranges[i].end);
			ndone++;
			continue;
		}
		andon_info("%s [%d]: replaying offsets [%lld, %lld)", src, (int)ranges[i].partition,
			   (long long)ranges[i].start, (long long)ranges[i].end);
		rd_kafka_topic_partition_list_add(parts, src, ranges[i].partition)->offset = ranges[i].start;
	}
	if ((err = rd_kafka_assign(consumer, parts)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		andon_err("assign: %s", rd_kafka_err2str(err));
		goto out;
	}

	msgpack_zone_init(&zone, MSGPACK_ZONE_CHUNK_SIZE);
	while (run && ndone < nranges) {
		rd_kafka_message_t *rkm = rd_kafka_consumer_poll(consumer, 100);
		struct range *r;

		if (producer != NULL)
			rd_kafka_poll(producer, 0);
		if (rkm == NULL)
			continue;
		r = range_find(ranges, nranges, rkm->partition);
		if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			if (r != NULL && !r->done && rkm->offset >= r->end) {
				r->done = 1;
				ndone++;
			}
		} else if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			andon_err("%s: %s", src, rd_kafka_message_errstr(rkm));
			/* A vanished partition never comes back to an assignment; anything else librdkafka
			 * retries. */
			if (rkm->err == RD_KAFKA_RESP_ERR__FATAL ||
			    rkm->err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
			    rkm->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
			    rkm->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) {
				failed++;
				run = 0;
			}
		} else if (r != NULL && !r->done && rkm->offset < r->end) {
			struct replay rp;

			replay_of(rkm, &zone, &rp);
			if (dry_run) {
				if (print_replay(rkm, &rp, dest) != 0) {
					andon_err("writing stdout: %s", strerror(errno));
					failed++;
					run = 0;
				}
			} else if (produce(producer, dest, &rp, rkm, resign ? &creds : NULL) != 0) {
				failed++;
			}
			produced++;
			msgpack_zone_clear(&zone);
			if (rkm->offset + 1 >= r->end) {
				r->done = 1;
				ndone++;
			}
		}
		rd_kafka_message_destroy(rkm);
	}
	msgpack_zone_destroy(&zone);
	status = ndone == nranges && failed == 0 ? 0 : 1;
	if (ndone < nranges)
		andon_err("stopped before the end of the range");

out:
	/* librdkafka's shutdown order: close the consumer, flush the producer, report leftovers, destroy. */
	andon_kafka_consumer_close(consumer);
	if (producer != NULL) {
		/* Purged messages' reports are served, so they are counted as failures. */
		andon_kafka_producer_close(producer, FLUSH_TIMEOUT_MS, ANDON_LOG_ERROR);
		if (counts.failed > 0 || counts.delivered + failed < produced)
			status = 1;
		if (ranges != NULL)
			andon_info("replayed %lld of %lld message(s) from %s to %s", counts.delivered,
				   produced, src, dest);
		if (counts.failed > 0)
			andon_err("%lld message(s) failed delivery", counts.failed);
	} else if (dry_run && status != 2 && ranges != NULL) {
		andon_info("dry run: would replay %lld message(s) from %s to %s", produced, src, dest);
	}
	if (pconf != NULL)
		rd_kafka_conf_destroy(pconf);
	if (cconf != NULL)
		rd_kafka_conf_destroy(cconf);
	if (parts != NULL)
		rd_kafka_topic_partition_list_destroy(parts);
	free(ranges);
	free(cargs);
	return status;

usage:
	usage(stderr);
	status = 2;
	goto out;
}
