/*
 * bench-handshake: full SageMaker stop handshakes through Kafka. Each execution has one running callback
 * step; the bench sends StopPipelineExecution, plays the step handler (answers each Stopping message with
 * SendPipelineExecutionStepSuccess as soon as it sees it) and times stop request -> Stopped event.
 * A benchmark, not a test: it prints figures and fails only when a stop does not complete.
 * ANDON_BENCH_HANDSHAKES sets the number of executions per phase (default 2000); ANDON_BENCH_OPTS="key=value
 * ..." gives the worker extra settings (-o).
 */
#include "harness-auth.h"
#include "harness.h"

#include "codec.h"
#include "util.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PIPELINE "bench"
#define TOPIC	 "andon.pipeline." H_ACCOUNT "." PIPELINE ".callbacks"

typedef struct phase {
	const char *id, *name; /* id: prefix of request ids */
	int n;
	char **arns;
	json_t *index; /* arn -> i */
	long long *sent_us, *lat_us;
	long long first_us, last_us;
	int stopped;
} phase_t;

/* Starts n executions, each with a running callback step, through Kafka (setup, not measured). */
static void setup_phase(phase_t *ph)
{
	const char **ids = calloc((size_t)ph->n, sizeof(*ids));

	ph->arns = calloc((size_t)ph->n, sizeof(*ph->arns));
	ph->sent_us = calloc((size_t)ph->n, sizeof(long long));
	ph->lat_us = calloc((size_t)ph->n, sizeof(long long));
	ph->index = json_object();
	for (int i = 0; i < ph->n; i++)
		ids[i] = h_send("SageMaker.StartPipelineExecution", NULL, NULL,
				json_pack("{s:s}", "PipelineName", PIPELINE));
	h_flush();
	for (int i = 0; i < ph->n; i++) {
		json_t *r = h_reply(ids[i], 1, 60000);
		const char *arn =
		    json_string_value(json_object_get(json_object_get(r, "body"), "PipelineExecutionArn"));
		if (arn == NULL) {
			fprintf(stderr, "bench-handshake: start failed\n");
			exit(1);
		}
		ph->arns[i] = strdup(arn);
		json_object_set_new(ph->index, arn, json_integer(i));
		ids[i] = h_send("SageMaker.StartPipelineExecutionStep", NULL, NULL,
				json_pack("{s:s, s:s, s:s}", "PipelineExecutionArn", arn, "StepName", "work",
					  "StepType", "Callback"));
	}
	h_flush();
	for (int i = 0; i < ph->n; i++)
		if (!json_is_true(json_object_get(h_reply(ids[i], 1, 60000), "ok"))) {
			fprintf(stderr, "bench-handshake: step start failed\n");
			exit(1);
		}
	free(ids);
}

static rd_kafka_t *reader_at_end(void)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
	char err[256];
	rd_kafka_t *rk;

	rd_kafka_conf_set(conf, "bootstrap.servers", h_brokers(), err, sizeof(err));
	rd_kafka_conf_set(conf, "group.id", "andon-bench-handshake", err, sizeof(err));
	rd_kafka_conf_set(conf, "fetch.wait.max.ms", "2", err, sizeof(err));
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	for (int p = 0; p < 4; p++) {
		rd_kafka_topic_partition_list_add(l, TOPIC, p)->offset = RD_KAFKA_OFFSET_END;
		rd_kafka_topic_partition_list_add(l, "andon.events", p)->offset = RD_KAFKA_OFFSET_END;
	}
	rd_kafka_assign(rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_poll(rk, 500); /* let the END offsets resolve before anything is sent */
	return rk;
}

static void produce(rd_kafka_t *producer, const char *key, msgpack_sbuffer *sb)
{
	/* Signed when the run asks for it (ANDON_TEST_AUTH=required, harness-auth.h). */
	while (andon_sign_produce(producer, h_auth_creds(NULL), "andon.requests", RD_KAFKA_PARTITION_UA, key,
				  strlen(key), sb->data, sb->size, NULL,
				  NULL) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
		rd_kafka_poll(producer, 1);
	rd_kafka_poll(producer, 0);
}

/* A request {v, id, op, body: {field: value}}. */
/* A request with one or two string fields (field2 may be NULL). */
static void encode(msgpack_sbuffer *sb, const char *id, const char *op, const char *field, const char *value,
		   const char *field2, const char *value2)
{
	msgpack_packer pk;

	msgpack_sbuffer_clear(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	andon_codec_pack_cstr(&pk, "v");
	msgpack_pack_int(&pk, 1);
	andon_codec_pack_cstr(&pk, "id");
	andon_codec_pack_cstr(&pk, id);
	andon_codec_pack_cstr(&pk, "op");
	andon_codec_pack_cstr(&pk, op);
	andon_codec_pack_cstr(&pk, "body");
	msgpack_pack_map(&pk, field2 != NULL ? 2 : 1);
	andon_codec_pack_cstr(&pk, field);
	andon_codec_pack_cstr(&pk, value);
	if (field2 != NULL) {
		andon_codec_pack_cstr(&pk, field2);
		andon_codec_pack_cstr(&pk, value2);
	}
}

/* Plays the handler and the subscriber: answers Stopping messages, times Stopped events. */
static void serve(rd_kafka_t *reader, rd_kafka_t *producer, msgpack_sbuffer *sb, phase_t *ph, int timeout_ms)
{
	long long deadline = andon_now_us() + (long long)timeout_ms * 1000;
	rd_kafka_message_t *m;

	while (andon_now_us() < deadline &&
	       (m = rd_kafka_consumer_poll(reader, timeout_ms > 0 ? 1 : 0)) != NULL) {
		msgpack_zone zone;
		msgpack_object o;
		const char *s, *st;
		size_t len, st_len;
		char err[64], buf[2100], id[64];

		msgpack_zone_init(&zone, 1024);
		if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR &&
		    andon_codec_unpack(m->payload, m->len, 8, &zone, &o, err, sizeof(err)) == 0 &&
		    andon_codec_get_str(&o, "status", &st, &st_len) == 1) {
			if (strcmp(rd_kafka_topic_name(m->rkt), TOPIC) == 0) {
				if (st_len == 8 && memcmp(st, "Stopping", 8) == 0 &&
				    andon_codec_get_str(&o, "token", &s, &len) == 1 && len < 32) {
					snprintf(buf, sizeof(buf), "%.*s", (int)len, s);
					snprintf(id, sizeof(id), "hs-%.*s", (int)len, s);
					encode(sb, id, "SageMaker.SendPipelineExecutionStepSuccess",
					       "CallbackToken", buf, NULL, NULL);
					produce(producer, buf, sb);
				}
			} else if (st_len == 7 && memcmp(st, "Stopped", 7) == 0 &&
				   andon_codec_map_get(&o, "step") == NULL &&
				   andon_codec_get_str(&o, "resource", &s, &len) == 1 && len < sizeof(buf)) {
				json_t *i;
				snprintf(buf, sizeof(buf), "%.*s", (int)len, s);
				if ((i = json_object_get(ph->index, buf)) != NULL &&
				    ph->lat_us[json_integer_value(i)] == 0) {
					long long t = andon_now_us();
					ph->lat_us[json_integer_value(i)] =
					    t - ph->sent_us[json_integer_value(i)];
					ph->stopped++;
					ph->last_us = t;
				}
			}
		}
		msgpack_zone_destroy(&zone);
		rd_kafka_message_destroy(m);
	}
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return (x > y) - (x < y);
}

/* Sends the stops at rate per second (0: all at once) and serves until every execution is Stopped. */
static void run(rd_kafka_t *reader, rd_kafka_t *producer, phase_t *ph, int rate)
{
	msgpack_sbuffer sb;
	char id[64], token[160];
	double secs;

	msgpack_sbuffer_init(&sb);
	ph->first_us = andon_now_us();
	for (int i = 0; i < ph->n; i++) {
		if (rate > 0)
			while (andon_now_us() < ph->first_us + (long long)i * 1000000 / rate)
				serve(reader, producer, &sb, ph, 1);
		snprintf(id, sizeof(id), "%s-stop-%d", ph->id, i);
		/* SageMaker requires a 32-128 character ClientRequestToken on a stop. */
		snprintf(token, sizeof(token), "%s-0123456789abcdef0123456789abcdef", id);
		encode(&sb, id, "SageMaker.StopPipelineExecution", "PipelineExecutionArn", ph->arns[i],
		       "ClientRequestToken", token);
		ph->sent_us[i] = andon_now_us();
		produce(producer, ph->arns[i], &sb);
		if (i % 128 == 0)
			serve(reader, producer, &sb, ph, 0);
	}
	for (long long deadline = andon_now_us() + 120000000LL;
	     ph->stopped < ph->n && andon_now_us() < deadline;)
		serve(reader, producer, &sb, ph, 20);
	msgpack_sbuffer_destroy(&sb);
	if (ph->stopped < ph->n) {
		fprintf(stderr, "bench-handshake: only %d of %d %s stops completed\n", ph->stopped, ph->n,
			ph->name);
		exit(1);
	}
	qsort(ph->lat_us, (size_t)ph->n, sizeof(long long), cmp_ll);
	secs = (double)(ph->last_us - ph->first_us) / 1e6;
	printf("%-30s %6d handshakes in %6.3f s = %7.0f /s   stop -> Stopped p50 %7.2f ms  p99 %7.2f ms\n",
	       ph->name, ph->n, secs, ph->n / secs, ph->lat_us[ph->n / 2] / 1000.0,
	       ph->lat_us[(size_t)ph->n * 99 / 100] / 1000.0);
}

static void phase_free(phase_t *ph)
{
	for (int i = 0; i < ph->n; i++)
		free(ph->arns[i]);
	free(ph->arns);
	free(ph->sent_us);
	free(ph->lat_us);
	json_decref(ph->index);
}

int main(void)
{
	const char *env = getenv("ANDON_BENCH_HANDSHAKES");
	long long n = 2000;
	phase_t burst = {.id = "burst", .name = "burst (throughput)"};
	phase_t paced = {.id = "paced", .name = "paced at 500 stops/s"};
	rd_kafka_conf_t *conf;
	rd_kafka_t *producer, *reader;
	char err[256];

	if (env != NULL && andon_parse_ll(env, 1, 1000000, &n) != 0) {
		fprintf(stderr,
			"bench-handshake: ANDON_BENCH_HANDSHAKES must be an integer from 1 to 1000000\n");
		return 2;
	}
	burst.n = paced.n = (int)n;
	h_start();
	h_worker_start_bench(NULL);
	h_watch(TOPIC);
	setup_phase(&burst);
	setup_phase(&paced);
	conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "bootstrap.servers", h_brokers(), err, sizeof(err));
	rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof(err));
	producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	reader = reader_at_end();

	printf(
	    "andon bench-handshake: SageMaker stops with one callback step each, the bench answering as the "
	    "handler; 1 worker, 4 partitions\n");
	run(reader, producer, &burst, 0);
	run(reader, producer, &paced, 500);

	rd_kafka_consumer_close(reader);
	rd_kafka_destroy(reader);
	rd_kafka_flush(producer, 5000);
	rd_kafka_destroy(producer);
	phase_free(&burst);
	phase_free(&paced);
	if (h_worker_stop() != 0) {
		h_stop();
		return 1;
	}
	h_stop();
	return 0;
}
