/* harness-eos: readers of every andon.* topic at one isolation level, counting distinct messages. */
#include "harness-eos.h"

#include "codec.h"
#include "harness.h"
#include "json.h"
#include "kafka.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SENTINEL_KEY "he-sentinel"

typedef struct seen {
	char *topic;
	int32_t partition;
	int64_t offset;
	char *text; /* the value as JSON text when it is msgpack, else NULL */
	char fp[17];
} seen_t;

struct he_reader {
	char isolation[32];
	rd_kafka_t *rk;
	pthread_t thread;
	volatile int running;
	pthread_mutex_t lock;
	json_t *counts;	   /* fingerprint -> reads */
	json_t *replies;   /* request id -> replies */
	json_t *next;	   /* "topic/partition" -> next offset to read (survives rebalances) */
	json_t *sentinels; /* "topic/partition/seq" -> true */
	seen_t *msgs;
	size_t n, cap, total_replies;
};

#define DIE(...)                                                                                             \
	do {                                                                                                 \
		fprintf(stderr, "harness-eos: " __VA_ARGS__);                                                \
		fprintf(stderr, "\n");                                                                       \
		h_stop();                                                                                    \
		abort();                                                                                     \
	} while (0)

static void fingerprint(const rd_kafka_message_t *m, char out[17])
{
	const char *topic = rd_kafka_topic_name(m->rkt);
	const unsigned char *parts[3] = {(const unsigned char *)topic, m->key, m->payload};
	size_t lens[3] = {strlen(topic) + 1, m->key_len, m->len};
	uint64_t h = 14695981039346656037ULL;

	for (int p = 0; p < 3; p++)
		for (size_t i = 0; i < lens[p]; i++)
			h = (h ^ parts[p][i]) * 1099511628211ULL;
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* A partition assigned again after a rebalance goes on where this reader left it: nothing is read twice. */
static void rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
		      void *opaque)
{
	he_reader_t *r = opaque;
	char tp[300];

	if (err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		rd_kafka_assign(rk, NULL);
		return;
	}
	pthread_mutex_lock(&r->lock);
	for (int i = 0; i < parts->cnt; i++) {
		json_t *o;

		snprintf(tp, sizeof(tp), "%s/%d", parts->elems[i].topic, (int)parts->elems[i].partition);
		if ((o = json_object_get(r->next, tp)) != NULL)
			parts->elems[i].offset = json_integer_value(o);
	}
	pthread_mutex_unlock(&r->lock);
	rd_kafka_assign(rk, parts);
}

static char *as_text(const rd_kafka_message_t *m)
{
	msgpack_zone zone;
	msgpack_object o;
	json_t *v = NULL;
	char err[64], *text = NULL;

	msgpack_zone_init(&zone, 4096);
	if (andon_codec_unpack(m->payload, m->len, 64, &zone, &o, err, sizeof(err)) == 0)
		v = andon_json_from_msgpack(&o);
	msgpack_zone_destroy(&zone);
	if (v != NULL)
		text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(v);
	return text;
}

static void record(he_reader_t *r, const rd_kafka_message_t *m)
{
	const char *topic = rd_kafka_topic_name(m->rkt);
	char tp[300], key[400];
	json_t *o;
	seen_t *s;

	snprintf(tp, sizeof(tp), "%s/%d", topic, (int)m->partition);
	pthread_mutex_lock(&r->lock);
	o = json_object_get(r->next, tp);
	if (o != NULL && m->offset < json_integer_value(o)) {
		pthread_mutex_unlock(&r->lock);
		return;
	}
	json_object_set_new(r->next, tp, json_integer(m->offset + 1));
	if (m->key_len == strlen(SENTINEL_KEY) && memcmp(m->key, SENTINEL_KEY, m->key_len) == 0) {
		snprintf(key, sizeof(key), "%s/%.*s", tp, (int)m->len, (const char *)m->payload);
		json_object_set_new(r->sentinels, key, json_true());
		pthread_mutex_unlock(&r->lock);
		return;
	}
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 4096;
		if ((r->msgs = realloc(r->msgs, r->cap * sizeof(*r->msgs))) == NULL)
			DIE("out of memory");
	}
	s = &r->msgs[r->n++];
	s->topic = strdup(topic);
	s->partition = m->partition;
	s->offset = m->offset;
	s->text = as_text(m);
	fingerprint(m, s->fp);
	o = json_object_get(r->counts, s->fp);
	json_object_set_new(r->counts, s->fp, json_integer(o != NULL ? json_integer_value(o) + 1 : 1));
	if (strcmp(topic, "andon.replies") == 0 && s->text != NULL) {
		json_t *v = json_loads(s->text, 0, NULL);
		const char *id = json_string_value(json_object_get(v, "id"));

		if (id != NULL) {
			o = json_object_get(r->replies, id);
			json_object_set_new(r->replies, id,
					    json_integer(o != NULL ? json_integer_value(o) + 1 : 1));
			r->total_replies++;
		}
		json_decref(v);
	}
	pthread_mutex_unlock(&r->lock);
}

static void *reader(void *arg)
{
	he_reader_t *r = arg;

	while (r->running) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, 50);

		if (m == NULL)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
			record(r, m);
		rd_kafka_message_destroy(m);
	}
	return NULL;
}

he_reader_t *he_reader_start(const char *isolation)
{
	static int seq;
	he_reader_t *r = calloc(1, sizeof(*r));
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *sub;
	char group[64], err[512];
	const char *props[] = {"bootstrap.servers",
			       h_brokers(),
			       "group.id",
			       group,
			       "isolation.level",
			       isolation,
			       "auto.offset.reset",
			       "earliest",
			       "enable.auto.commit",
			       "false",
			       "topic.metadata.refresh.interval.ms",
			       "500",
			       "fetch.wait.max.ms",
			       "100",
			       NULL};

	if (r == NULL)
		DIE("out of memory");
	snprintf(r->isolation, sizeof(r->isolation), "%s", isolation);
	snprintf(group, sizeof(group), "he-%s-%d-%d", isolation, (int)getpid(), ++seq);
	if (andon_kafka_conf_set_pairs(conf, props, err, sizeof(err)) != 0)
		DIE("%s", err);
	rd_kafka_conf_set_opaque(conf, r);
	rd_kafka_conf_set_rebalance_cb(conf, rebalance);
	if ((r->rk = andon_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err))) == NULL)
		DIE("%s", err);
	rd_kafka_poll_set_consumer(r->rk);
	sub = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(sub, "^andon\\..*", RD_KAFKA_PARTITION_UA);
	if (rd_kafka_subscribe(r->rk, sub) != RD_KAFKA_RESP_ERR_NO_ERROR)
		DIE("subscribe");
	rd_kafka_topic_partition_list_destroy(sub);
	pthread_mutex_init(&r->lock, NULL);
	r->counts = json_object();
	r->replies = json_object();
	r->next = json_object();
	r->sentinels = json_object();
	r->running = 1;
	if (pthread_create(&r->thread, NULL, reader, r) != 0)
		DIE("pthread_create");
	return r;
}

void he_reader_free(he_reader_t *r)
{
	if (r == NULL)
		return;
	r->running = 0;
	pthread_join(r->thread, NULL);
	andon_kafka_consumer_close(r->rk);
	for (size_t i = 0; i < r->n; i++) {
		free(r->msgs[i].topic);
		free(r->msgs[i].text);
	}
	free(r->msgs);
	json_decref(r->counts);
	json_decref(r->replies);
	json_decref(r->next);
	json_decref(r->sentinels);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

size_t he_messages(he_reader_t *r)
{
	size_t n;

	pthread_mutex_lock(&r->lock);
	n = r->n;
	pthread_mutex_unlock(&r->lock);
	return n;
}

size_t he_distinct(he_reader_t *r)
{
	size_t n;

	pthread_mutex_lock(&r->lock);
	n = json_object_size(r->counts);
	pthread_mutex_unlock(&r->lock);
	return n;
}

size_t he_repeated(he_reader_t *r)
{
	const char *fp;
	json_t *c;
	size_t n = 0;

	pthread_mutex_lock(&r->lock);
	json_object_foreach(r->counts, fp, c) n += json_integer_value(c) > 1;
	pthread_mutex_unlock(&r->lock);
	return n;
}

size_t he_replies(he_reader_t *r, const char *id)
{
	size_t n;

	pthread_mutex_lock(&r->lock);
	n = (size_t)json_integer_value(json_object_get(r->replies, id));
	pthread_mutex_unlock(&r->lock);
	return n;
}

size_t he_reply_total(he_reader_t *r)
{
	size_t n;

	pthread_mutex_lock(&r->lock);
	n = r->total_replies;
	pthread_mutex_unlock(&r->lock);
	return n;
}

size_t he_missing(he_reader_t *sub, he_reader_t *super)
{
	json_t *told = json_object(); /* each distinct message counts once */
	size_t missing = 0;

	pthread_mutex_lock(&sub->lock);
	pthread_mutex_lock(&super->lock);
	for (size_t i = 0; i < sub->n; i++) {
		const seen_t *s = &sub->msgs[i];

		if (json_object_get(super->counts, s->fp) != NULL || json_object_get(told, s->fp) != NULL)
			continue;
		json_object_set_new(told, s->fp, json_true());
		if (missing++ < 3)
			fprintf(stderr, "harness-eos: %s read %s [%d] @%lld, %s never did: %.300s\n",
				sub->isolation, s->topic, (int)s->partition, (long long)s->offset,
				super->isolation, s->text != NULL ? s->text : "(not msgpack)");
	}
	pthread_mutex_unlock(&super->lock);
	pthread_mutex_unlock(&sub->lock);
	json_decref(told);
	return missing;
}

size_t he_find(he_reader_t *r, const char *topic, const char *needle, int32_t *partition, int64_t *offset)
{
	size_t n = 0;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n; i++) {
		const seen_t *s = &r->msgs[i];

		if (strcmp(s->topic, topic) != 0 || s->text == NULL || strstr(s->text, needle) == NULL)
			continue;
		n++;
		if (partition != NULL)
			*partition = s->partition;
		if (offset != NULL)
			*offset = s->offset;
	}
	pthread_mutex_unlock(&r->lock);
	return n;
}

static int has_all(he_reader_t *r, json_t *want)
{
	const char *k;
	json_t *v;
	int all = 1;

	pthread_mutex_lock(&r->lock);
	json_object_foreach(want, k, v) all &= json_object_get(r->sentinels, k) != NULL;
	pthread_mutex_unlock(&r->lock);
	return all;
}

int he_settle(he_reader_t *const *readers, size_t n, int timeout_ms)
{
	static int seq;
	const struct rd_kafka_metadata *md;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	long long deadline = h_now_ms() + timeout_ms;
	json_t *want = json_object();
	char err[512], value[32], key[400];
	rd_kafka_t *p;
	int rc = 0;

	snprintf(value, sizeof(value), "%d", ++seq);
	if (andon_kafka_conf_set(conf, "bootstrap.servers", h_brokers(), err, sizeof(err)) != 0 ||
	    (p = andon_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err))) == NULL)
		DIE("%s", err);
	if (rd_kafka_metadata(p, 1, NULL, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		DIE("metadata");
	for (int t = 0; t < md->topic_cnt; t++) {
		const char *topic = md->topics[t].topic;

		if (strncmp(topic, "andon.", 6) != 0)
			continue;
		for (int i = 0; i < md->topics[t].partition_cnt; i++) {
			int32_t part = md->topics[t].partitions[i].id;

			if (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
					      RD_KAFKA_V_KEY(SENTINEL_KEY, strlen(SENTINEL_KEY)),
					      RD_KAFKA_V_VALUE(value, strlen(value)),
					      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					      RD_KAFKA_V_END) != RD_KAFKA_RESP_ERR_NO_ERROR)
				DIE("produce a sentinel to %s", topic);
			snprintf(key, sizeof(key), "%s/%d/%s", topic, (int)part, value);
			json_object_set_new(want, key, json_true());
		}
	}
	rd_kafka_metadata_destroy(md);
	if (rd_kafka_flush(p, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		DIE("sentinels not delivered");
	rd_kafka_destroy(p);
	for (size_t i = 0; i < n; i++) {
		while (!has_all(readers[i], want)) {
			if (h_now_ms() >= deadline) {
				fprintf(stderr, "harness-eos: the %s reader did not read every sentinel\n",
					readers[i]->isolation);
				rc = -1;
				break;
			}
			h_sleep_ms(20);
		}
	}
	json_decref(want);
	return rc;
}
