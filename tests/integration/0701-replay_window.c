/* 0701: andon-replay by time window and filters, at a rate, against a real broker: what reaches the
 * destination (keys, values, Kafka timestamps, headers), what the summary says, and bad usage. No worker:
 * the messages are written and read here. */
#include "harness.h"
#include "harness-tool.h"

#include "codec.h"
#include "util.h"
#include "when.h"

#include <librdkafka/rdkafka.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUN_TIMEOUT_MS 60000

static rd_kafka_t *producer;

/* Runs andon-replay -b BROKERS with the NULL-terminated arguments to completion. */
static void replay(ht_run_t *t, const char *first, ...)
{
	const char *argv[40];
	int argc = 0;
	va_list ap;

	argv[argc++] = "-b";
	argv[argc++] = h_brokers();
	argv[argc++] = first;
	va_start(ap, first);
	while (argc < 39 && (argv[argc] = va_arg(ap, const char *)) != NULL)
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	ht_start(t, "andon-replay", argv);
	ht_wait(t, RUN_TIMEOUT_MS);
}

static void expect_status(const ht_run_t *t, int want)
{
	if (t->status != want)
		fprintf(stderr, "andon-replay exited %d, expected %d; stderr:\n%s\nstdout:\n%s\n", t->status,
			want, t->stderr_text, t->stdout_text);
	assert_int_equal(t->status, want);
}

/* The last line of stdout, the summary, as {"summary": {...}}'s inner object (caller decrefs). */
static json_t *summary_of(const ht_run_t *t)
{
	const char *end = t->stdout_text + strlen(t->stdout_text), *line;
	json_error_t jerr;
	json_t *v, *s;

	if (getenv("ANDON_0701_VERBOSE") != NULL)
		fprintf(stderr, "stderr:\n%s\nstdout:\n%s\n", t->stderr_text, t->stdout_text);
	assert_true(end > t->stdout_text && end[-1] == '\n');
	for (line = end - 1; line > t->stdout_text && line[-1] != '\n'; line--)
		;
	v = json_loadb(line, (size_t)(end - 1 - line), 0, &jerr);
	assert_non_null(v);
	assert_non_null(s = json_object_get(v, "summary"));
	json_incref(s);
	json_decref(v);
	return s;
}

static long long num(json_t *o, const char *path1, const char *path2)
{
	json_t *v = json_object_get(o, path1);

	if (path2 != NULL)
		v = json_object_get(v, path2);
	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

/* A request envelope: {v, op, id, account?, body: {}}. */
static void envelope(msgpack_sbuffer *sb, const char *op, const char *id, const char *account)
{
	msgpack_packer pk;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, account != NULL ? 5 : 4);
	andon_codec_pack_cstr(&pk, "v");
	msgpack_pack_int(&pk, 1);
	andon_codec_pack_cstr(&pk, "op");
	andon_codec_pack_cstr(&pk, op);
	andon_codec_pack_cstr(&pk, "id");
	andon_codec_pack_cstr(&pk, id);
	if (account != NULL) {
		andon_codec_pack_cstr(&pk, "account");
		andon_codec_pack_cstr(&pk, account);
	}
	andon_codec_pack_cstr(&pk, "body");
	msgpack_pack_map(&pk, 0);
}

/* A DLQ record holding original (docs/PROTOCOL.md section 6). */
static void dlq_record(msgpack_sbuffer *sb, const char *code, const char *reason, const char *key,
		       const msgpack_sbuffer *original)
{
	msgpack_packer pk;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 6);
	andon_codec_pack_cstr(&pk, "v");
	msgpack_pack_int(&pk, 1);
	andon_codec_pack_cstr(&pk, "code");
	andon_codec_pack_cstr(&pk, code);
	andon_codec_pack_cstr(&pk, "reason");
	andon_codec_pack_cstr(&pk, reason);
	andon_codec_pack_cstr(&pk, "key");
	msgpack_pack_bin(&pk, strlen(key));
	msgpack_pack_bin_body(&pk, key, strlen(key));
	andon_codec_pack_cstr(&pk, "original");
	msgpack_pack_bin(&pk, original->size);
	msgpack_pack_bin_body(&pk, original->data, original->size);
	andon_codec_pack_cstr(&pk, "time");
	msgpack_pack_int64(&pk, andon_wall_ms());
}

/* Produces value with key, the Kafka timestamp ts (epoch ms) and two headers naming message n. */
static void put(const char *topic, const char *key, const msgpack_sbuffer *value, int64_t ts, int n)
{
	rd_kafka_headers_t *hdrs = rd_kafka_headers_new(2);
	char trace[32];
	unsigned char sig[4] = {0x00, 0xff, (unsigned char)n, 0x80};
	rd_kafka_resp_err_t err;

	snprintf(trace, sizeof(trace), "trace-%d", n);
	rd_kafka_header_add(hdrs, "traceparent", -1, trace, -1);
	rd_kafka_header_add(hdrs, "andon-sig", -1, sig, sizeof(sig));
	err = rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
				RD_KAFKA_V_VALUE(value->data, value->size),
				RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(ts),
				RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
	assert_int_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR);
}

static void flush(void)
{
	assert_int_equal(rd_kafka_flush(producer, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* A message read back. */
struct got {
	char key[64];
	char trace[32];
	unsigned char sig[4];
	int64_t ts;
	msgpack_sbuffer value;
};

/* Every message of topic (all partitions, from the beginning), at most max; returns the count. */
static int read_all(const char *topic, struct got *got, int max)
{
	static const char *const props[] = {
	    "group.id", "andon-0701", "enable.partition.eof", "true", "enable.auto.commit", "false", NULL};
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *parts;
	const rd_kafka_metadata_t *md;
	rd_kafka_topic_t *rkt;
	rd_kafka_t *rk;
	char errstr[256];
	int n = 0, eofs = 0, nparts;
	long long deadline = h_now_ms() + 30000;

	assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", h_brokers(), errstr, sizeof(errstr)),
			 RD_KAFKA_CONF_OK);
	for (int i = 0; props[i] != NULL; i += 2)
		assert_int_equal(rd_kafka_conf_set(conf, props[i], props[i + 1], errstr, sizeof(errstr)),
				 RD_KAFKA_CONF_OK);
	assert_non_null(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr)));
	rkt = rd_kafka_topic_new(rk, topic, NULL);
	assert_int_equal(rd_kafka_metadata(rk, 0, rkt, &md, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
	nparts = md->topics[0].partition_cnt;
	parts = rd_kafka_topic_partition_list_new(nparts);
	for (int i = 0; i < nparts; i++)
		rd_kafka_topic_partition_list_add(parts, topic, md->topics[0].partitions[i].id)->offset =
		    RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	assert_int_equal(rd_kafka_assign(rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_topic_partition_list_destroy(parts);
	while (eofs < nparts && h_now_ms() < deadline) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		rd_kafka_headers_t *hdrs;
		const void *v;
		size_t size;

		if (m == NULL)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			eofs++;
		} else if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && n < max) {
			struct got *g = &got[n++];

			memset(g, 0, sizeof(*g));
			snprintf(g->key, sizeof(g->key), "%.*s", (int)m->key_len, (const char *)m->key);
			g->ts = rd_kafka_message_timestamp(m, NULL);
			msgpack_sbuffer_init(&g->value);
			msgpack_sbuffer_write(&g->value, m->payload, m->len);
			if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
				if (rd_kafka_header_get_last(hdrs, "traceparent", &v, &size) == 0)
					snprintf(g->trace, sizeof(g->trace), "%.*s", (int)size,
						 (const char *)v);
				if (rd_kafka_header_get_last(hdrs, "andon-sig", &v, &size) == 0 && size == 4)
					memcpy(g->sig, v, 4);
			}
		}
		rd_kafka_message_destroy(m);
	}
	assert_int_equal(eofs, nparts);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return n;
}

static void got_free(struct got *got, int n)
{
	for (int i = 0; i < n; i++)
		msgpack_sbuffer_destroy(&got[i].value);
}

static const struct got *got_find(const struct got *got, int n, const char *key)
{
	for (int i = 0; i < n; i++)
		if (strcmp(got[i].key, key) == 0)
			return &got[i];
	return NULL;
}

/* Asserts the copy is message i as put() wrote it: same value, timestamp and headers. */
static void assert_copy(const struct got *g, const msgpack_sbuffer *value, int64_t ts, int i)
{
	char trace[32];
	unsigned char sig[4] = {0x00, 0xff, (unsigned char)i, 0x80};

	assert_non_null(g);
	snprintf(trace, sizeof(trace), "trace-%d", i);
	assert_int_equal(g->ts, ts);
	assert_string_equal(g->trace, trace);
	assert_memory_equal(g->sig, sig, 4);
	assert_int_equal(g->value.size, value->size);
	assert_memory_equal(g->value.data, value->data, value->size);
}

/* Twelve requests half an hour apart over the last six hours, in two partitions; the window keeps five
 * and the op filter three: only those arrive, each with its timestamp and headers. */
static void window_and_op_filter(void **state)
{
	static const char *const ops[] = {"StepFunctions.StopExecution", "SWF.TerminateWorkflowExecution"};
	int64_t base = (andon_wall_ms() / 1000 - 6 * 3600) * 1000;
	msgpack_sbuffer values[12];
	char since[40], until[40], key[32], id[32];
	struct got got[16];
	ht_run_t t;
	json_t *s;
	int n;

	(void)state;
	h_topic_create("replay.src", 2);
	h_topic_create("replay.dst", 2);
	for (int i = 0; i < 12; i++) {
		snprintf(key, sizeof(key), "k-%d", i);
		snprintf(id, sizeof(id), "window-%d", i);
		envelope(&values[i], ops[i % 2], id, "111111111111");
		put("replay.src", key, &values[i], base + i * 1800000LL, i);
	}
	flush();
	/* [base + 2h, base + 4h30m): messages 4..8. */
	andon_when_format(base + 2 * 3600000LL, since, sizeof(since));
	andon_when_format(base + 9 * 1800000LL, until, sizeof(until));
	replay(&t, "-t", "replay.src", "-d", "replay.dst", "--since", since, "--until", until, "--op",
	       "StepFunctions.*", NULL);
	expect_status(&t, 0);
	s = summary_of(&t);
	assert_int_equal(num(s, "read", NULL), 5);
	assert_int_equal(num(s, "replayed", NULL), 3);
	assert_int_equal(num(s, "filteredOut", NULL), 2);
	assert_int_equal(num(s, "filtered", "op"), 2);
	assert_int_equal(num(s, "failed", NULL), 0);
	assert_true(json_is_true(json_object_get(s, "complete")));
	json_decref(s);
	assert_non_null(strstr(t.stderr_text,
			       "replayed 3 of 3 message(s) from replay.src to replay.dst (2 filtered out)"));
	ht_free(&t);

	n = read_all("replay.dst", got, 16);
	assert_int_equal(n, 3);
	for (int i = 4; i <= 8; i += 2) {
		snprintf(key, sizeof(key), "k-%d", i);
		assert_copy(got_find(got, n, key), &values[i], base + i * 1800000LL, i);
	}
	got_free(got, n);

	/* Relative times and an account filter: the last 2 h 45 min hold messages 7..11 (relative to the
	 * tool's own clock: 7 is 3 h old less a few seconds, so the window leaves 15 min on either side). */
	replay(&t, "-t", "replay.src", "-d", "replay.dst", "-n", "--since", "-2h45m", "--account", "1111*",
	       "--key", "k-1?", NULL);
	expect_status(&t, 0);
	s = summary_of(&t);
	assert_int_equal(num(s, "read", NULL), 5);
	assert_int_equal(num(s, "replayed", NULL), 2); /* k-10, k-11 */
	assert_int_equal(num(s, "filtered", "key"), 3);
	assert_true(json_is_true(json_object_get(s, "dryRun")));
	json_decref(s);
	assert_non_null(strstr(t.stdout_text, "\"key\":\"k-10\""));
	assert_non_null(strstr(t.stdout_text, "[\"traceparent\",\"trace-11\"]"));
	ht_free(&t);
	/* The dry run sent nothing. */
	n = read_all("replay.dst", got, 16);
	assert_int_equal(n, 3);
	got_free(got, n);
	for (int i = 0; i < 12; i++)
		msgpack_sbuffer_destroy(&values[i]);
}

/* DLQ records: --code and --reason pick the Redis failures; --rate paces them; -P shows progress. */
static void dlq_filters_at_a_rate(void **state)
{
	int64_t now = andon_wall_ms() / 1000 * 1000;
	msgpack_sbuffer originals[40], rec;
	char key[32], id[32];
	struct got got[48];
	ht_run_t t;
	json_t *s;
	int n;

	(void)state;
	h_topic_create("replay.dlq", 1);
	h_topic_create("replay.again", 3);
	for (int i = 0; i < 40; i++) {
		snprintf(key, sizeof(key), "arn-%d", i);
		snprintf(id, sizeof(id), "dlq-%d", i);
		envelope(&originals[i], "SageMaker.StopPipelineExecution", id, NULL);
		dlq_record(&rec, i % 2 == 0 ? "InternalFailure" : "ValidationException",
			   i % 4 == 0 ? "redis: connection refused" : "bad field", key, &originals[i]);
		put("replay.dlq", key, &rec, now - 600000 + i * 1000, i);
		msgpack_sbuffer_destroy(&rec);
	}
	flush();
	/* i % 4 == 0: 10 records; at 8 per second they take at least 9/8 s. */
	replay(&t, "-t", "replay.dlq", "-d", "replay.again", "--since", "-1h", "--code", "Internal*",
	       "--reason", "redis:*", "--rate", "8", "-P", NULL);
	expect_status(&t, 0);
	s = summary_of(&t);
	assert_int_equal(num(s, "read", NULL), 40);
	assert_int_equal(num(s, "replayed", NULL), 10);
	assert_int_equal(num(s, "filtered", "code"), 20);
	assert_int_equal(num(s, "filtered", "reason"), 10);
	assert_int_equal(num(s, "dlqCodes", "InternalFailure"), 10);
	/* From the first message to the end, paced: the tenth is due 9/8 s after the first. */
	assert_true(json_real_value(json_object_get(s, "seconds")) >= 1.125);
	assert_true(json_real_value(json_object_get(s, "seconds")) < 10);
	fprintf(stderr, "10 messages at --rate 8 took %.3f s (run: %lld ms)\n",
		json_real_value(json_object_get(s, "seconds")), t.ms);
	json_decref(s);
	assert_non_null(strstr(t.stderr_text, "40/40 offsets (100%), 10 sent, 30 filtered out"));
	ht_free(&t);

	n = read_all("replay.again", got, 48);
	assert_int_equal(n, 10);
	for (int i = 0; i < 40; i += 4) {
		snprintf(key, sizeof(key), "arn-%d", i);
		/* The original request with its key, and the record's timestamp and headers. */
		assert_copy(got_find(got, n, key), &originals[i], now - 600000 + i * 1000, i);
	}
	got_free(got, n);
	for (int i = 0; i < 40; i++)
		msgpack_sbuffer_destroy(&originals[i]);
}

/* 20,000 requests replayed at full speed: all of them arrive; the figure goes to docs (KAFKA.md). */
static void unlimited_replay_throughput(void **state)
{
	enum { M = 20000 };
	int64_t now = andon_wall_ms();
	msgpack_sbuffer value;
	char key[32], id[32];
	ht_run_t t;
	json_t *s;
	double secs;

	(void)state;
	h_topic_create("replay.perf", 4);
	h_topic_create("replay.perf.out", 4);
	for (int i = 0; i < M; i++) {
		snprintf(key, sizeof(key), "k-%d", i);
		snprintf(id, sizeof(id), "perf-%d", i);
		envelope(&value, "StepFunctions.StopExecution", id, "111111111111");
		put("replay.perf", key, &value, now - 60000 + i, i);
		msgpack_sbuffer_destroy(&value);
	}
	flush();
	replay(&t, "-t", "replay.perf", "-d", "replay.perf.out", "-q", NULL);
	expect_status(&t, 0);
	s = summary_of(&t);
	assert_int_equal(num(s, "replayed", NULL), M);
	secs = json_real_value(json_object_get(s, "seconds"));
	fprintf(stderr, "%d messages replayed in %.3f s: %.0f msg/s\n", M, secs, secs > 0 ? M / secs : 0);
	json_decref(s);
	ht_free(&t);
}

static void bad_usage_exits_2(void **state)
{
	static const char *const cases[][3] = {
	    {"--since", "yesterday", "--since: expected an RFC 3339 time"},
	    {"--until", "2026-11-30T14:02:00", "--until: expected an RFC 3339 time"},
	    {"--rate", "0", "--rate: expected messages per second"},
	    {"--rate", "fast", "--rate: expected messages per second"},
	};
	ht_run_t t;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		replay(&t, "-t", "replay.src", cases[i][0], cases[i][1], NULL);
		expect_status(&t, 2);
		assert_non_null(strstr(t.stderr_text, cases[i][2]));
		ht_free(&t);
	}
	replay(&t, "-t", "replay.src", "--since", "-1h", "--until", "-2h", NULL);
	expect_status(&t, 2);
	assert_non_null(strstr(t.stderr_text, "--until must be later than --since"));
	ht_free(&t);
}

static int setup(void **state)
{
	char errstr[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	(void)state;
	h_start();
	if (rd_kafka_conf_set(conf, "bootstrap.servers", h_brokers(), errstr, sizeof(errstr)) !=
	    RD_KAFKA_CONF_OK)
		return -1;
	producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	return producer != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	rd_kafka_destroy(producer);
	h_stop();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(window_and_op_filter),
	    cmocka_unit_test(dlq_filters_at_a_rate),
	    cmocka_unit_test(unlimited_replay_throughput),
	    cmocka_unit_test(bad_usage_exits_2),
	};
	return cmocka_run_group_tests_name("0701-replay_window", tests, setup, teardown);
}
