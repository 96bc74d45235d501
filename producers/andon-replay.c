/* andon-replay: copies messages of a topic (typically the DLQ) chosen by offsets, time and filters back into
 * the requests topic, at a chosen rate, keeping each message's timestamp and headers. */
#include "codec.h"
#include "json.h"
#include "kafka.h"
#include "log.h"
#include "sign.h"
#include "util.h"
#include "version.h"
#include "when.h"

#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define METADATA_TIMEOUT_MS 10000
#define FLUSH_TIMEOUT_MS    60000
#define PROGRESS_EVERY_US   500000 /* progress line refresh */

static volatile sig_atomic_t run = 1;

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: andon-replay -b brokers -t source_topic [flags]\n"
	    "\n"
	    "Copies the messages in [start, end) of each source partition to the destination topic, keeping\n"
	    "their keys, Kafka timestamps and headers. A DLQ record (a map with an \"original\" bin field) "
	    "is\n"
	    "replayed as the original message: its \"original\" bytes with its \"key\". Reads by "
	    "assignment;\n"
	    "commits nothing. Prints a JSON summary line on stdout at the end.\n"
	    "\n"
	    "  -b BROKERS      bootstrap servers (or bootstrap.servers via -X / -F)\n"
	    "  -X KEY=VALUE    librdkafka property, set on both the consumer and the producer\n"
	    "  -F FILE         file of librdkafka properties, one key=value a line\n"
	    "  -t TOPIC        source topic (required), e.g. andon.dlq\n"
	    "  -p PARTITION    only this source partition (default all)\n"
	    "  -o OFFSET       start offset in each partition: beginning (default) or N\n"
	    "  -E OFFSET       end offset, exclusive (default the high watermark when the replay starts)\n"
	    "      --since T   start at the first message stamped T or later (RFC 3339, or relative: -2h)\n"
	    "      --until T   end before the first message stamped T or later\n"
	    "      --op GLOB   only requests whose op matches (fnmatch: StepFunctions.*)\n"
	    "      --key GLOB  only messages whose (replayed) Kafka key matches\n"
	    "      --account GLOB  only requests whose account field matches (absent: never)\n"
	    "      --reason GLOB   only DLQ records whose reason matches\n"
	    "      --code GLOB     only DLQ records whose code matches (InternalFailure)\n"
	    "      --rate N    produce at most N messages per second (default unlimited)\n"
	    "  -P, --progress  show progress on stderr even when it is not a terminal\n"
	    "  -d TOPIC        destination topic (default andon.requests)\n"
	    "  -n, --dry-run   print what would be replayed as JSON lines on stdout; send nothing\n"
	    "  -q              only print warnings and errors on stderr (no progress)\n"
	    "      --re-sign   sign each copy afresh with the operator's credentials (ANDON_ACCESS_KEY_ID /\n"
	    "                  ANDON_SECRET_ACCESS_KEY, else ANDON_SHARED_CREDENTIALS_FILE, else\n"
	    "                  ~/.andon/credentials), dated at the copy's timestamp, the original's key id\n"
	    "                  in andon-original-key-id. Without it a copy keeps the original's headers "
	    "(its\n"
	    "                  signature), so the worker checks the original signature and signing window\n"
	    "  -h, --help      this text\n"
	    "      --version   the version of the program and its libraries\n"
	    "\n"
	    "Exit status: 0 every selected message replayed, 1 a delivery failed or a Kafka error (or\n"
	    "interrupted), 2 bad usage.\n");
}

/* What the command line decided. */
struct opts {
	const char *src, *dest;
	int32_t only;	     /* -1: every partition */
	int64_t start;	     /* -o; RD_KAFKA_OFFSET_BEGINNING */
	int64_t end;	     /* -E, exclusive; -1: the high watermark */
	int64_t since;	     /* --since, epoch ms; -1: none */
	int64_t until;	     /* --until, epoch ms, exclusive; -1: none */
	const char *glob[6]; /* per filter (enum filter), NULL: no filter; F_TIME unused */
	double rate;	     /* messages per second; 0: unlimited */
	int dry_run;
	int progress;		     /* 1: on a terminal, 2: forced (-P) */
	const andon_creds_t *resign; /* --re-sign: the operator's credentials; NULL: keep the signature */
};

/* Why a message was not replayed; the names are the summary's keys. */
enum filter { F_TIME, F_OP, F_KEY, F_ACCOUNT, F_REASON, F_CODE, F_COUNT };
static const char *const filter_name[F_COUNT] = {"time", "op", "key", "account", "reason", "code"};

/* Counts for the summary. Delivery reports add to it through the producer's opaque. */
struct summary {
	long long read;		     /* messages read inside the ranges */
	long long selected;	     /* passed every filter: sent (or printed in a dry run) */
	long long filtered[F_COUNT]; /* rejected, by the first filter that rejected them */
	long long delivered;	     /* delivery reports without error */
	long long failed;	     /* produce refusals and delivery reports with an error */
	json_t *failures;	     /* error text -> count */
	json_t *codes;		     /* DLQ record code -> selected count */
};

static void count(json_t *obj, const char *name, size_t len)
{
	char key[128];
	json_t *v;

	snprintf(key, sizeof(key), "%.*s", (int)(len < sizeof(key) ? len : sizeof(key) - 1), name);
	if ((v = json_object_get(obj, key)) != NULL)
		json_integer_set(v, json_integer_value(v) + 1);
	else
		json_object_set_new(obj, key, json_integer(1));
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
	struct summary *s = opaque;
	const char *why;

	(void)rk;
	if (rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		s->delivered++;
		return;
	}
	s->failed++;
	why = rd_kafka_err2str(rkm->err);
	count(s->failures, why, strlen(why));
	andon_err("delivery to %s failed: %s", rd_kafka_topic_name(rkm->rkt), why);
}

/* One source partition's range; fixed when the replay starts so new arrivals are never chased. */
struct range {
	int32_t partition;
	int64_t start; /* first offset to copy */
	int64_t end;   /* first offset not to copy */
	int64_t hi;    /* high watermark when the replay started */
	int64_t next;  /* next offset expected: progress */
	int done;      /* reached end */
};

/*
 * Fills ranges (room for every partition) for the source topic from -p, -o and -E; returns how many, or -1.
 */
static int ranges_build(rd_kafka_t *rk, const struct opts *o, struct range **out, char *errstr,
			size_t errstr_size)
{
	struct range *r = NULL;
	int32_t *ids;
	int nids, n = 0;

	if ((nids = andon_kafka_partitions(rk, o->src, NULL, METADATA_TIMEOUT_MS, &ids, errstr,
					   errstr_size)) < 0)
		return -1;
	if ((r = calloc((size_t)nids, sizeof(*r))) == NULL) {
		andon_fail(errstr, errstr_size, "out of memory");
		goto err;
	}
	for (int i = 0; i < nids; i++) {
		int64_t lo, hi;

		if (o->only >= 0 && ids[i] != o->only)
			continue;
		if (andon_kafka_watermarks(rk, o->src, ids[i], METADATA_TIMEOUT_MS, &lo, &hi, errstr,
					   errstr_size) != 0)
			goto err;
		r[n].partition = ids[i];
		r[n].hi = hi;
		r[n].start = o->start == RD_KAFKA_OFFSET_BEGINNING ? lo : o->start;
		if (r[n].start < lo) {
			andon_warn("%s [%d]: offsets below %lld are gone (retention); starting there", o->src,
				   (int)ids[i], (long long)lo);
			r[n].start = lo;
		}
		r[n].end = o->end >= 0 && o->end < hi ? o->end : hi;
		n++;
	}
	if (n == 0) {
		andon_fail(errstr, errstr_size, "topic %s has no partition %d", o->src, (int)o->only);
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

/*
 * Per range, the first offset stamped at ms or later (the high watermark when there is none), from the
 * brokers' time indexes (rd_kafka_offsets_for_times). Writes off[i] for ranges[i]; 0 or -1.
 */
static int offsets_at(rd_kafka_t *rk, const char *topic, const struct range *r, int n, int64_t ms,
		      int64_t *off, char *errstr, size_t errstr_size)
{
	rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(n);
	rd_kafka_resp_err_t err;
	int rc = -1;

	for (int i = 0; i < n; i++)
		rd_kafka_topic_partition_list_add(list, topic, r[i].partition)->offset = ms;
	if ((err = rd_kafka_offsets_for_times(rk, list, METADATA_TIMEOUT_MS)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		andon_fail(errstr, errstr_size, "offsets for times in %s: %s", topic, rd_kafka_err2str(err));
		goto out;
	}
	for (int i = 0; i < n; i++) {
		const rd_kafka_topic_partition_t *p =
		    rd_kafka_topic_partition_list_find(list, topic, r[i].partition);

		if (p == NULL || p->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			andon_fail(errstr, errstr_size, "offsets for times in %s [%d]: %s", topic,
				   (int)r[i].partition,
				   p != NULL ? rd_kafka_err2str(p->err)
					     : "partition missing from the answer");
			goto out;
		}
		/* -1: no message that late; the range ends (or is empty) at the high watermark. */
		off[i] = p->offset >= 0 ? p->offset : r[i].hi;
	}
	rc = 0;
out:
	rd_kafka_topic_partition_list_destroy(list);
	return rc;
}

/* Narrows each range to [--since, --until) by the time indexes. Messages inside the range whose own
 * timestamps fall outside (CreateTime need not grow with the offset) are filtered out one by one later. */
static int ranges_by_time(rd_kafka_t *rk, const struct opts *o, struct range *r, int n, char *errstr,
			  size_t errstr_size)
{
	int64_t *off = calloc((size_t)n, sizeof(*off));
	int rc = -1;

	if (off == NULL)
		return andon_fail(errstr, errstr_size, "out of memory");
	if (o->since >= 0) {
		if (offsets_at(rk, o->src, r, n, o->since, off, errstr, errstr_size) != 0)
			goto out;
		for (int i = 0; i < n; i++)
			if (off[i] > r[i].start)
				r[i].start = off[i];
	}
	if (o->until >= 0) {
		if (offsets_at(rk, o->src, r, n, o->until, off, errstr, errstr_size) != 0)
			goto out;
		for (int i = 0; i < n; i++)
			if (off[i] < r[i].end)
				r[i].end = off[i];
	}
	rc = 0;
out:
	free(off);
	return rc;
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

/* Text as a JSON string, or {"$bin": base64} when it is not UTF-8. */
static json_t *text_json(const void *p, size_t len)
{
	json_t *s = json_stringn(p != NULL ? p : "", len);

	return s != NULL ? s : bin_json(p, len);
}

/* A string field of a msgpack map (str or bin) as pointer and length; 0, or -1 when absent or not text. */
static int field(const msgpack_object *map, const char *name, const char **p, size_t *len)
{
	const msgpack_object *v = map != NULL ? andon_codec_map_get(map, name) : NULL;

	if (v != NULL && v->type == MSGPACK_OBJECT_STR) {
		*p = v->via.str.ptr;
		*len = v->via.str.size;
		return 0;
	}
	if (v != NULL && v->type == MSGPACK_OBJECT_BIN) {
		*p = v->via.bin.ptr;
		*len = v->via.bin.size;
		return 0;
	}
	return -1;
}

/* What one source message turns into. Pointers point into the message or the zone. */
struct replay {
	const char *key; /* NULL: no key */
	size_t key_len;
	const char *value;
	size_t value_len;
	int from_dlq;		   /* value is a DLQ record's original */
	const msgpack_object *dlq; /* the DLQ record when from_dlq */
	int64_t timestamp;	   /* the source message's Kafka timestamp; -1 unknown */
	int64_t copy_ts;	   /* the copy's: the original's (a DLQ record's "ts"), else timestamp */
};

/* A DLQ record stands for the message it quarantined: replay that, with that message's key. */
static void replay_of(const rd_kafka_message_t *rkm, msgpack_zone *zone, msgpack_object *obj,
		      struct replay *out)
{
	const msgpack_object *orig, *ts;
	char reason[256];

	out->key = rkm->key;
	out->key_len = rkm->key_len;
	out->value = rkm->payload;
	out->value_len = rkm->len;
	out->from_dlq = 0;
	out->dlq = NULL;
	out->timestamp = rd_kafka_message_timestamp(rkm, NULL);
	out->copy_ts = out->timestamp;
	if (andon_codec_unpack(rkm->payload, rkm->len, ANDON_CODEC_DEFAULT_DEPTH, zone, obj, reason,
			       sizeof(reason)) != 0)
		return;
	if ((orig = andon_codec_map_get(obj, "original")) == NULL || orig->type != MSGPACK_OBJECT_BIN)
		return;
	out->value = orig->via.bin.ptr;
	out->value_len = orig->via.bin.size;
	out->from_dlq = 1;
	out->dlq = obj;
	/* A DLQ record's own timestamp is when it was dead-lettered; "ts" is its original's
	 * (docs/PROTOCOL.md): the copy keeps that, so the worker's RequestExpired check sees the request's
	 * real age. */
	if ((ts = andon_codec_map_get(obj, "ts")) != NULL && ts->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
	    ts->via.u64 <= INT64_MAX)
		out->copy_ts = (int64_t)ts->via.u64;
	if (field(obj, "key", &out->key, &out->key_len) != 0) {
		out->key = NULL;
		out->key_len = 0;
	}
}

/* 1 when the bytes match the fnmatch(3) pattern. Bytes holding a NUL never match. */
static int glob_match(const char *pattern, const char *p, size_t len)
{
	char small[512], *s = small;
	int rc;

	if (p == NULL || memchr(p, '\0', len) != NULL)
		return 0;
	if (len >= sizeof(small) && (s = malloc(len + 1)) == NULL)
		return 0;
	memcpy(s, p, len);
	s[len] = '\0';
	rc = fnmatch(pattern, s, 0) == 0;
	if (s != small)
		free(s);
	return rc;
}

/* The filter that rejects the message (enum filter), or -1 when it is selected. The request's envelope is
 * decoded only when a filter needs its fields. */
static int rejected_by(const struct opts *o, const struct replay *rp, msgpack_zone *zone)
{
	msgpack_object env, *envp = NULL;
	const char *p = NULL;
	size_t len = 0;
	char reason[256];

	if ((o->since >= 0 && rp->timestamp < o->since) || (o->until >= 0 && rp->timestamp >= o->until))
		return F_TIME;
	if (o->glob[F_KEY] != NULL && !glob_match(o->glob[F_KEY], rp->key, rp->key_len))
		return F_KEY;
	if (o->glob[F_CODE] != NULL &&
	    (field(rp->dlq, "code", &p, &len) != 0 || !glob_match(o->glob[F_CODE], p, len)))
		return F_CODE;
	if (o->glob[F_REASON] != NULL &&
	    (field(rp->dlq, "reason", &p, &len) != 0 || !glob_match(o->glob[F_REASON], p, len)))
		return F_REASON;
	if ((o->glob[F_OP] != NULL || o->glob[F_ACCOUNT] != NULL) &&
	    andon_codec_unpack(rp->value, rp->value_len, ANDON_CODEC_DEFAULT_DEPTH, zone, &env, reason,
			       sizeof(reason)) == 0 &&
	    env.type == MSGPACK_OBJECT_MAP)
		envp = &env;
	if (o->glob[F_OP] != NULL && (field(envp, "op", &p, &len) != 0 || !glob_match(o->glob[F_OP], p, len)))
		return F_OP;
	if (o->glob[F_ACCOUNT] != NULL &&
	    (field(envp, "account", &p, &len) != 0 || !glob_match(o->glob[F_ACCOUNT], p, len)))
		return F_ACCOUNT;
	return -1;
}

/* The message's headers as [[name, value], ...]; value null when the header has none. */
static json_t *headers_json(const rd_kafka_headers_t *hdrs)
{
	json_t *arr = json_array();
	const char *name;
	const void *val;
	size_t size;

	for (size_t i = 0; hdrs != NULL &&
			   rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
	     i++)
		json_array_append_new(
		    arr, json_pack("[s,o]", name, val != NULL ? text_json(val, size) : json_null()));
	return arr;
}

/* Dry run: one JSON line describing what would be produced. Returns 0, or -1 when stdout failed. */
static int print_replay(const rd_kafka_message_t *rkm, const struct replay *rp,
			const rd_kafka_headers_t *hdrs, const char *dest)
{
	msgpack_zone zone;
	msgpack_object obj;
	json_t *line = json_object(), *from = json_object();
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
	json_object_set_new(line, "key", rp->key == NULL ? json_null() : text_json(rp->key, rp->key_len));
	json_object_set_new(line, "timestamp", json_integer(rp->timestamp));
	json_object_set_new(line, "headers", headers_json(hdrs));
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

/*
 * Produces one copy with the source's timestamp and headers, waiting out a full local queue. *hdrs is
 * owned by the producer once this succeeds (set to NULL). Returns 0, or -1 with the reason counted.
 */
static int produce(rd_kafka_t *rk, const char *dest, const struct replay *rp, rd_kafka_headers_t **hdrs,
		   struct summary *s)
{
	rd_kafka_vu_t vu[6];
	rd_kafka_error_t *error;
	size_t n = 0;
	const char *why;

	vu[n].vtype = RD_KAFKA_VTYPE_TOPIC;
	vu[n++].u.cstr = dest;
	vu[n].vtype = RD_KAFKA_VTYPE_KEY;
	vu[n].u.mem.ptr = (void *)rp->key;
	vu[n++].u.mem.size = rp->key_len;
	vu[n].vtype = RD_KAFKA_VTYPE_VALUE;
	vu[n].u.mem.ptr = (void *)rp->value;
	vu[n++].u.mem.size = rp->value_len;
	vu[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
	vu[n++].u.i = RD_KAFKA_MSG_F_COPY;
	/* Kept, so topic retention and signature freshness count from when the message was first sent. */
	vu[n].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
	vu[n++].u.i64 = rp->copy_ts > 0 ? rp->copy_ts : 0;
	if (*hdrs != NULL) {
		vu[n].vtype = RD_KAFKA_VTYPE_HEADERS;
		vu[n++].u.headers = *hdrs;
	}
	for (;;) {
		if ((error = rd_kafka_produceva(rk, vu, n)) == NULL)
			break;
		if (rd_kafka_error_code(error) != RD_KAFKA_RESP_ERR__QUEUE_FULL || !run)
			break;
		rd_kafka_error_destroy(error);
		/* Serving delivery reports is what frees room in the queue. */
		rd_kafka_poll(rk, 100);
	}
	if (error != NULL) {
		why = rd_kafka_error_string(error);
		andon_err("produce to %s: %s", dest, why);
		s->failed++;
		count(s->failures, why, strlen(why));
		rd_kafka_error_destroy(error);
		return -1;
	}
	*hdrs = NULL; /* now owned by the message */
	rd_kafka_poll(rk, 0);
	return 0;
}

/* Waits until the n-th message (from 0) is due at rate messages per second since t0_us, serving delivery
 * reports meanwhile. */
static void pace(rd_kafka_t *rk, double rate, int64_t t0_us, long long n)
{
	int64_t due = t0_us + (int64_t)((double)n * 1e6 / rate), left;

	while (run && (left = due - andon_now_us()) > 0)
		rd_kafka_poll(rk, (int)(left / 1000 < 100 ? left / 1000 + 1 : 100));
}

static struct range *range_find(struct range *r, int n, int32_t partition)
{
	for (int i = 0; i < n; i++)
		if (r[i].partition == partition)
			return &r[i];
	return NULL;
}

/* Offsets passed over in every range, and the total to pass. */
static void offsets_progress(const struct range *r, int n, long long *done, long long *total)
{
	*done = *total = 0;
	for (int i = 0; i < n; i++) {
		*total += r[i].end - r[i].start;
		*done += (r[i].done ? r[i].end : r[i].next) - r[i].start;
	}
}

/* One progress line on stderr: offsets done/total, the rate of selected messages and the time left. On a
 * terminal the line is rewritten in place; forced (-P) elsewhere it is one line per refresh. */
static void progress_show(const struct opts *o, const struct summary *s, const struct range *r, int n,
			  int64_t t0_us, int last)
{
	long long done, total;
	double secs = (double)(andon_now_us() - t0_us) / 1e6, rate, eta;

	offsets_progress(r, n, &done, &total);
	rate = secs > 0 ? (double)s->selected / secs : 0;
	eta = done > 0 && secs > 0 ? (double)(total - done) * secs / (double)done : -1;
	fprintf(stderr, "%s%lld/%lld offsets (%.0f%%), %lld %s, %lld filtered out, %.1f msg/s, ETA %s%.0fs%s",
		o->progress == 1 ? "\r\033[K" : "", done, total,
		total > 0 ? 100.0 * (double)done / (double)total : 100.0, s->selected,
		o->dry_run ? "selected" : "sent", s->read - s->selected, rate, eta < 0 ? "~" : "",
		eta < 0 ? 0 : eta, o->progress == 1 && !last ? "" : "\n");
}

/* The summary line on stdout. */
static void summary_print(const struct opts *o, const struct summary *s, int complete, int64_t t0_us)
{
	json_t *filtered = json_object(), *sum;
	long long out = 0;

	for (int i = 0; i < F_COUNT; i++)
		if (s->filtered[i] > 0) {
			json_object_set_new(filtered, filter_name[i], json_integer(s->filtered[i]));
			out += s->filtered[i];
		}
	sum = json_pack("{s:{s:s,s:s,s:b,s:b,s:I,s:I,s:I,s:o,s:I,s:O,s:O,s:f}}", "summary", "from", o->src,
			"to", o->dest, "dryRun", o->dry_run, "complete", complete, "read",
			(json_int_t)s->read, "replayed",
			(json_int_t)(o->dry_run ? s->selected : s->delivered), "filteredOut", (json_int_t)out,
			"filtered", filtered, "failed", (json_int_t)s->failed, "failures", s->failures,
			"dlqCodes", s->codes, "seconds", (double)((andon_now_us() - t0_us) / 1000) / 1e3);
	if (sum == NULL || json_dumpf(sum, stdout, JSON_COMPACT | JSON_REAL_PRECISION(9)) != 0 ||
	    fputc('\n', stdout) == EOF || fflush(stdout) != 0)
		andon_err("writing the summary to stdout failed");
	json_decref(sum);
}

enum {
	OPT_SINCE = ANDON_OPT_VERSION + 1,
	OPT_UNTIL,
	OPT_OP,
	OPT_KEY,
	OPT_ACCOUNT,
	OPT_REASON,
	OPT_CODE,
	OPT_RATE,
	OPT_RESIGN
};

/*
 * --re-sign: hdrs (the copy's, *hdrs may be NULL) lose the original signature, gain andon-original-key-id
 * when there was one, and carry a new signature by creds dated at the copy's timestamp (the worker wants
 * the signing date within 15 minutes of it). Returns 0, or -1 with the reason counted.
 */
static int resign(const andon_creds_t *creds, const char *dest, const struct replay *rp,
		  rd_kafka_headers_t **hdrs, struct summary *s)
{
	const void *orig = NULL;
	size_t orig_len = 0;
	char why[256];

	if (*hdrs == NULL && (*hdrs = rd_kafka_headers_new(3)) == NULL)
		return -1;
	if (rd_kafka_header_get_last(*hdrs, ANDON_SIGN_HDR_KEY_ID, &orig, &orig_len) ==
		RD_KAFKA_RESP_ERR_NO_ERROR &&
	    orig != NULL) {
		rd_kafka_header_remove(*hdrs, ANDON_SIGN_HDR_ORIG_KEY);
		rd_kafka_header_add(*hdrs, ANDON_SIGN_HDR_ORIG_KEY, -1, orig, (ssize_t)orig_len);
	}
	if (andon_sign_headers(*hdrs, creds, dest, rp->key, rp->key_len, rp->value, rp->value_len,
			       rp->copy_ts > 0 ? (time_t)(rp->copy_ts / 1000) : time(NULL), why,
			       sizeof(why)) == 0)
		return 0;
	andon_err("re-sign: %s", why);
	s->failed++;
	count(s->failures, why, strlen(why));
	return -1;
}

/* One message inside its range: filtered, printed or sent. Returns 0, or -1 when the replay must stop. */
static int replay_one(const struct opts *o, rd_kafka_t *producer, rd_kafka_message_t *rkm, msgpack_zone *zone,
		      struct summary *s, int64_t t0_us)
{
	msgpack_object record;
	struct replay rp;
	rd_kafka_headers_t *hdrs = NULL;
	const char *code;
	size_t code_len;
	int why, rc = 0;

	s->read++;
	replay_of(rkm, zone, &record, &rp);
	if ((why = rejected_by(o, &rp, zone)) >= 0) {
		s->filtered[why]++;
		return 0;
	}
	if (rp.from_dlq && field(rp.dlq, "code", &code, &code_len) == 0)
		count(s->codes, code, code_len);
	/* The headers travel with the copy: detached from the source message, owned by the copy once sent. */
	if (rd_kafka_message_detach_headers(rkm, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
		hdrs = NULL;
	if (o->dry_run) {
		if (print_replay(rkm, &rp, hdrs, o->dest) != 0) {
			andon_err("writing stdout: %s", strerror(errno));
			s->failed++;
			rc = -1;
		}
	} else {
		if (o->rate > 0)
			pace(producer, o->rate, t0_us, s->selected);
		if (o->resign == NULL || resign(o->resign, o->dest, &rp, &hdrs, s) == 0)
			produce(producer, o->dest, &rp, &hdrs, s);
	}
	s->selected++;
	if (hdrs != NULL)
		rd_kafka_headers_destroy(hdrs);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
						 {"version", no_argument, NULL, ANDON_OPT_VERSION},
						 {"dry-run", no_argument, NULL, 'n'},
						 {"progress", no_argument, NULL, 'P'},
						 {"since", required_argument, NULL, OPT_SINCE},
						 {"until", required_argument, NULL, OPT_UNTIL},
						 {"op", required_argument, NULL, OPT_OP},
						 {"key", required_argument, NULL, OPT_KEY},
						 {"account", required_argument, NULL, OPT_ACCOUNT},
						 {"reason", required_argument, NULL, OPT_REASON},
						 {"code", required_argument, NULL, OPT_CODE},
						 {"rate", required_argument, NULL, OPT_RATE},
						 {"re-sign", no_argument, NULL, OPT_RESIGN},
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
	struct opts o = {.dest = "andon.requests",
			 .only = -1,
			 .start = RD_KAFKA_OFFSET_BEGINNING,
			 .end = -1,
			 .since = -1,
			 .until = -1};
	andon_kafka_arg_t *cargs;
	andon_creds_t creds;
	int want_resign = 0;
	int ncargs = 0, opt, status = 1, nranges = 0, ndone = 0, quiet = 0, force_progress = 0;
	long long num, failed = 0;
	int64_t now_ms = andon_wall_ms(), t0_us = andon_now_us(), shown_us = 0;
	char errstr[512], *end;
	rd_kafka_conf_t *pconf = NULL, *cconf = NULL;
	rd_kafka_t *producer = NULL, *consumer = NULL;
	rd_kafka_topic_partition_list_t *parts = NULL;
	rd_kafka_resp_err_t err;
	struct range *ranges = NULL;
	struct summary s = {.failures = json_object(), .codes = json_object()};
	msgpack_zone zone;

	if ((cargs = calloc((size_t)argc, sizeof(*cargs))) == NULL || s.failures == NULL || s.codes == NULL) {
		fprintf(stderr, "andon-replay: out of memory\n");
		return 1;
	}
	while ((opt = getopt_long(argc, argv, "b:X:F:t:p:o:E:d:nPqh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'b':
		case 'X':
		case 'F':
			cargs[ncargs].flag = opt;
			cargs[ncargs++].arg = optarg;
			break;
		case 't':
			o.src = optarg;
			break;
		case 'p':
			if (andon_parse_ll(optarg, 0, INT32_MAX, &num) != 0) {
				fprintf(stderr, "andon-replay: -p: expected a partition number, got \"%s\"\n",
					optarg);
				goto usage;
			}
			o.only = (int32_t)num;
			break;
		case 'o':
			if (strcmp(optarg, "beginning") == 0) {
				o.start = RD_KAFKA_OFFSET_BEGINNING;
			} else if (andon_parse_ll(optarg, 0, INT64_MAX, &num) != 0) {
				fprintf(stderr,
					"andon-replay: -o: expected beginning or an offset, got \"%s\"\n",
					optarg);
				goto usage;
			} else {
				o.start = num;
			}
			break;
		case 'E':
			if (andon_parse_ll(optarg, 0, INT64_MAX, &num) != 0) {
				fprintf(stderr, "andon-replay: -E: expected an offset, got \"%s\"\n", optarg);
				goto usage;
			}
			o.end = num;
			break;
		case OPT_SINCE:
		case OPT_UNTIL:
			if (andon_when_parse(optarg, now_ms, opt == OPT_SINCE ? &o.since : &o.until, errstr,
					     sizeof(errstr)) != 0) {
				fprintf(stderr, "andon-replay: --%s: %s\n",
					opt == OPT_SINCE ? "since" : "until", errstr);
				goto usage;
			}
			break;
		case OPT_OP:
			o.glob[F_OP] = optarg;
			break;
		case OPT_KEY:
			o.glob[F_KEY] = optarg;
			break;
		case OPT_ACCOUNT:
			o.glob[F_ACCOUNT] = optarg;
			break;
		case OPT_REASON:
			o.glob[F_REASON] = optarg;
			break;
		case OPT_CODE:
			o.glob[F_CODE] = optarg;
			break;
		case OPT_RATE:
			errno = 0;
			o.rate = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' || !(o.rate > 0) || o.rate > 1e7) {
				fprintf(
				    stderr,
				    "andon-replay: --rate: expected messages per second (0 < N <= 1e7), got "
				    "\"%s\"\n",
				    optarg);
				goto usage;
			}
			break;
		case 'd':
			o.dest = optarg;
			break;
		case 'n':
			o.dry_run = 1;
			break;
		case 'P':
			force_progress = 1;
			break;
		case OPT_RESIGN:
			want_resign = 1;
			break;
		case 'q':
			andon_log_level = ANDON_LOG_WARN;
			quiet = 1;
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
	if (o.src == NULL) {
		fprintf(stderr, "andon-replay: -t source topic is required\n");
		goto usage;
	}
	if (o.since >= 0 && o.until >= 0 && o.until <= o.since) {
		fprintf(stderr, "andon-replay: --until must be later than --since\n");
		goto usage;
	}
	o.progress = quiet ? 0 : isatty(2) ? 1 : force_progress ? 2 : 0;
	if (want_resign) {
		errstr[0] = '\0';
		if (andon_creds_load(&creds, errstr, sizeof(errstr)) != 1) {
			fprintf(stderr, "andon-replay: --re-sign: %s\n",
				errstr[0] != '\0' ? errstr : "no credentials (ANDON_ACCESS_KEY_ID, ...)");
			goto usage;
		}
		o.resign = &creds;
	}

	/* Defaults first so -b, -X and -F, applied afterwards in command-line order, can override them. */
	pconf = rd_kafka_conf_new();
	rd_kafka_conf_set_log_cb(pconf, andon_kafka_log_cb);
	rd_kafka_conf_set_dr_msg_cb(pconf, on_delivery);
	rd_kafka_conf_set_opaque(pconf, &s);
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
	if (!o.dry_run) {
		producer = andon_kafka_new(RD_KAFKA_PRODUCER, pconf, errstr, sizeof(errstr));
		pconf = NULL; /* now owned by producer (or gone) */
		if (producer == NULL) {
			andon_err("rd_kafka_new: %s", errstr);
			goto out;
		}
		/* An idle producer otherwise learns a new topic's partitions only from its 1 s topic scan, so
		 * every replay would take a second longer than it needs to. */
		if (andon_kafka_warm_topic(producer, o.dest, "destination", METADATA_TIMEOUT_MS, errstr,
					   sizeof(errstr)) != 0) {
			andon_err("%s", errstr);
			goto out;
		}
	}

	if ((nranges = ranges_build(consumer, &o, &ranges, errstr, sizeof(errstr))) < 0 ||
	    ranges_by_time(consumer, &o, ranges, nranges, errstr, sizeof(errstr)) != 0) {
		andon_err("%s", errstr);
		goto out;
	}
	parts = rd_kafka_topic_partition_list_new(nranges);
	for (int i = 0; i < nranges; i++) {
		ranges[i].next = ranges[i].start;
		if (ranges[i].start >= ranges[i].end) {
			andon_info("%s [%d]: nothing to replay in [%lld, %lld)", o.src,
				   (int)ranges[i].partition, (long long)ranges[i].start,
				   (long long)ranges[i].end);
			ranges[i].end = ranges[i].start; /* an empty range counts nothing in the progress */
			ranges[i].done = 1;
			ndone++;
			continue;
		}
		andon_info("%s [%d]: replaying offsets [%lld, %lld)", o.src, (int)ranges[i].partition,
			   (long long)ranges[i].start, (long long)ranges[i].end);
		rd_kafka_topic_partition_list_add(parts, o.src, ranges[i].partition)->offset =
		    ranges[i].start;
	}
	if ((err = rd_kafka_assign(consumer, parts)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		andon_err("assign: %s", rd_kafka_err2str(err));
		goto out;
	}

	t0_us = andon_now_us();
	msgpack_zone_init(&zone, MSGPACK_ZONE_CHUNK_SIZE);
	while (run && ndone < nranges) {
		rd_kafka_message_t *rkm = rd_kafka_consumer_poll(consumer, 100);
		struct range *r;

		if (producer != NULL)
			rd_kafka_poll(producer, 0);
		if (o.progress && andon_now_us() - shown_us >= PROGRESS_EVERY_US) {
			progress_show(&o, &s, ranges, nranges, t0_us, 0);
			shown_us = andon_now_us();
		}
		if (rkm == NULL)
			continue;
		r = range_find(ranges, nranges, rkm->partition);
		if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			if (r != NULL && !r->done && rkm->offset >= r->end) {
				r->done = 1;
				ndone++;
			}
		} else if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			andon_err("%s: %s", o.src, rd_kafka_message_errstr(rkm));
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
			if (replay_one(&o, producer, rkm, &zone, &s, t0_us) != 0)
				run = 0;
			msgpack_zone_clear(&zone);
			r->next = rkm->offset + 1;
			if (r->next >= r->end) {
				r->done = 1;
				ndone++;
			}
		}
		rd_kafka_message_destroy(rkm);
	}
	msgpack_zone_destroy(&zone);
	status = ndone == nranges && failed == 0 && s.failed == 0 ? 0 : 1;
	if (ndone < nranges)
		andon_err("stopped before the end of the range");

out:
	/* librdkafka's shutdown order: close the consumer, flush the producer, report leftovers, destroy. */
	andon_kafka_consumer_close(consumer);
	if (producer != NULL) {
		/* Purged messages' reports are served, so they are counted as failures. */
		andon_kafka_producer_close(producer, FLUSH_TIMEOUT_MS, ANDON_LOG_ERROR);
		if (s.failed > 0 || s.delivered < s.selected)
			status = 1;
		if (ranges != NULL)
			andon_info("replayed %lld of %lld message(s) from %s to %s (%lld filtered out)",
				   s.delivered, s.selected, o.src, o.dest, s.read - s.selected);
		if (s.failed > 0)
			andon_err("%lld message(s) failed", s.failed);
	} else if (o.dry_run && status != 2 && ranges != NULL) {
		andon_info("dry run: would replay %lld message(s) from %s to %s (%lld filtered out)",
			   s.selected, o.src, o.dest, s.read - s.selected);
	}
	if (ranges != NULL) {
		if (o.progress)
			progress_show(&o, &s, ranges, nranges, t0_us, 1);
		summary_print(&o, &s, ndone == nranges, t0_us);
	}
	if (pconf != NULL)
		rd_kafka_conf_destroy(pconf);
	if (cconf != NULL)
		rd_kafka_conf_destroy(cconf);
	if (parts != NULL)
		rd_kafka_topic_partition_list_destroy(parts);
	json_decref(s.failures);
	json_decref(s.codes);
	free(ranges);
	free(cargs);
	return status;

usage:
	usage(stderr);
	status = 2;
	goto out;
}
