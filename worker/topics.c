/* topics: creates the topics the worker writes to when they are missing (Admin API, CreateTopics). */
#include "topics.h"

#include "kafka.h"
#include "log.h"
#include "util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKOFF_MIN_MS	   200
#define BACKOFF_MAX_MS	   5000
#define REQUEST_TIMEOUT_MS 10000 /* per CreateTopics request; the controller's own wait is the same */
#define ENSURE_WARN_MS	   5000	 /* a start waiting on an unreachable cluster says so this often */
#define TABLE_MIN	   64

typedef struct entry {
	char *name;
	uint32_t hash;
	enum andon_topic_state state;
	rd_kafka_resp_err_t err; /* FAILED: why; PENDING: the last attempt's error, if any */
	int in_flight;		 /* a CreateTopics for it is on its way */
	int backoff_ms;
	int64_t next_try_us;
} entry_t;

struct andon_topics {
	rd_kafka_t *rk;
	rd_kafka_queue_t *results;
	int create, partitions, replication_factor, min_insync;
	int strict; /* while ensuring at start: a replication factor the cluster cannot meet is an error */
	entry_t **slots;
	size_t cap, count;
	size_t pending; /* entries in state PENDING */
};

static uint32_t hash_name(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static entry_t *find(const andon_topics_t *t, const char *name, uint32_t h)
{
	for (size_t i = h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
		entry_t *e = t->slots[i];
		if (e == NULL)
			return NULL;
		if (e->hash == h && strcmp(e->name, name) == 0)
			return e;
	}
}

static void place(entry_t **slots, size_t cap, entry_t *e)
{
	size_t i = e->hash & (cap - 1);

	while (slots[i] != NULL)
		i = (i + 1) & (cap - 1);
	slots[i] = e;
}

/* Keeps the table at most half full, so every probe ends at an empty slot soon. */
static int grow(andon_topics_t *t)
{
	size_t cap = t->cap * 2;
	entry_t **slots;

	if ((t->count + 1) * 2 <= t->cap)
		return 0;
	if ((slots = calloc(cap, sizeof(*slots))) == NULL)
		return -1;
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i] != NULL)
			place(slots, cap, t->slots[i]);
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
	return 0;
}

andon_topics_t *andon_topics_new(rd_kafka_t *rk, const andon_config_t *cfg, char *errstr, size_t errstr_size)
{
	andon_topics_t *t;

	if (cfg->topics_partitions == 0 || cfg->topics_replication_factor == 0) {
		andon_fail(errstr, errstr_size, "topics.%s: 0 is not allowed (-1 means the broker's default)",
			   cfg->topics_partitions == 0 ? "partitions" : "replication_factor");
		return NULL;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->slots = calloc(TABLE_MIN, sizeof(*t->slots))) == NULL) {
		free(t);
		andon_fail(errstr, errstr_size, "out of memory");
		return NULL;
	}
	t->cap = TABLE_MIN;
	t->rk = rk;
	t->results = rd_kafka_queue_new(rk);
	t->create = cfg->topics_create;
	t->partitions = cfg->topics_partitions;
	t->replication_factor = cfg->topics_replication_factor;
	t->min_insync = cfg->topics_min_insync_replicas;
	return t;
}

void andon_topics_destroy(andon_topics_t *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->cap; i++) {
		if (t->slots[i] != NULL) {
			free(t->slots[i]->name);
			free(t->slots[i]);
		}
	}
	free(t->slots);
	if (t->results != NULL)
		rd_kafka_queue_destroy(t->results);
	free(t);
}

static void set_state(andon_topics_t *t, entry_t *e, enum andon_topic_state s)
{
	if (e->state == ANDON_TOPIC_PENDING)
		t->pending--;
	if (s == ANDON_TOPIC_PENDING)
		t->pending++;
	e->state = s;
}

/* Asks the cluster to create e's topic; the answer arrives on t->results with e as the opaque. */
static void request(andon_topics_t *t, entry_t *e)
{
	rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(t->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	rd_kafka_NewTopic_t *nt;
	char err[256], isr[16];

	nt = rd_kafka_NewTopic_new(e->name, t->partitions, t->replication_factor, err, sizeof(err));
	if (nt != NULL && t->min_insync > 0) {
		snprintf(isr, sizeof(isr), "%d", t->min_insync);
		rd_kafka_NewTopic_set_config(nt, "min.insync.replicas", isr);
	}
	if (nt == NULL || o == NULL) {
		/* librdkafka refuses the arguments themselves: no retry changes that. */
		andon_err("topic %s: cannot build the creation request: %s", e->name,
			  nt == NULL ? err : "out of memory");
		e->err = RD_KAFKA_RESP_ERR__INVALID_ARG;
		set_state(t, e, ANDON_TOPIC_FAILED);
		rd_kafka_NewTopic_destroy(nt);
		if (o != NULL)
			rd_kafka_AdminOptions_destroy(o);
		return;
	}
	rd_kafka_AdminOptions_set_request_timeout(o, REQUEST_TIMEOUT_MS, NULL, 0);
	rd_kafka_AdminOptions_set_operation_timeout(o, REQUEST_TIMEOUT_MS, NULL, 0);
	rd_kafka_AdminOptions_set_opaque(o, e);
	rd_kafka_CreateTopics(t->rk, &nt, 1, o, t->results);
	rd_kafka_NewTopic_destroy(nt);
	rd_kafka_AdminOptions_destroy(o);
	e->in_flight = 1;
}

/* What one answer means for e. */
static void settle(andon_topics_t *t, entry_t *e, rd_kafka_resp_err_t err, const char *why)
{
	e->in_flight = 0;
	if (e->state != ANDON_TOPIC_PENDING)
		return;
	switch (err) {
	case RD_KAFKA_RESP_ERR_NO_ERROR:
		andon_info("created topic %s (partitions %d, replication factor %d%s)", e->name,
			   t->partitions, t->replication_factor,
			   t->min_insync > 0 ? ", min.insync.replicas set" : "");
		/* fall through */
	case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
		e->err = RD_KAFKA_RESP_ERR_NO_ERROR;
		set_state(t, e, ANDON_TOPIC_READY);
		return;
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
	case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE:
		/* Not ours to create here (no CREATE permission, or a broker without the Admin API such as
		 * the development broker): the topic is provisioned or created on first use, or producing
		 * says why not. */
		andon_info("topic %s: not creating it (%s); leaving it to the cluster", e->name, why);
		e->err = RD_KAFKA_RESP_ERR_NO_ERROR;
		set_state(t, e, ANDON_TOPIC_READY);
		return;
	case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
		/* While brokers are down a cluster may have too few for the factor; at start it is more
		 * likely a setting that cannot work. */
		if (!t->strict)
			break;
		andon_err("topic %s cannot be created: %s", e->name, why);
		e->err = err;
		set_state(t, e, ANDON_TOPIC_FAILED);
		return;
	case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION: /* an invalid name */
	case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
	case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
	case RD_KAFKA_RESP_ERR_INVALID_REPLICA_ASSIGNMENT:
	case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
	case RD_KAFKA_RESP_ERR_INVALID_REQUEST:
	case RD_KAFKA_RESP_ERR__INVALID_ARG:
		andon_err("topic %s cannot be created: %s", e->name, why);
		e->err = err;
		set_state(t, e, ANDON_TOPIC_FAILED);
		return;
	default:
		break;
	}
	/* Unreachable, busy or moving controller: try again later. (A cluster with no controller at all,
	 * such as librdkafka's mock, times out here for good: run the worker with topics.create=0 there.) */
	if (e->backoff_ms == 0 || e->err != err)
		andon_warn("topic %s: creation failed (%s); retrying", e->name, why);
	e->err = err;
	e->backoff_ms = e->backoff_ms == 0 ? BACKOFF_MIN_MS : e->backoff_ms * 2;
	if (e->backoff_ms > BACKOFF_MAX_MS)
		e->backoff_ms = BACKOFF_MAX_MS;
	e->next_try_us = andon_now_us() + (int64_t)e->backoff_ms * 1000;
}

static void handle(andon_topics_t *t, rd_kafka_event_t *ev)
{
	const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
	entry_t *e = rd_kafka_event_opaque(ev);
	const rd_kafka_topic_result_t **tr;
	size_t n = 0;

	if (res == NULL || e == NULL)
		return;
	tr = rd_kafka_CreateTopics_result_topics(res, &n);
	if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR || n != 1)
		settle(t, e,
		       rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR ? rd_kafka_event_error(ev)
									      : RD_KAFKA_RESP_ERR__BAD_MSG,
		       rd_kafka_event_error_string(ev) != NULL ? rd_kafka_event_error_string(ev)
							       : "malformed result");
	else
		settle(t, e, rd_kafka_topic_result_error(tr[0]),
		       rd_kafka_topic_result_error_string(tr[0]) != NULL
			   ? rd_kafka_topic_result_error_string(tr[0])
			   : rd_kafka_err2str(rd_kafka_topic_result_error(tr[0])));
}

void andon_topics_poll(andon_topics_t *t)
{
	rd_kafka_event_t *ev;
	int64_t now;

	if (t->pending == 0)
		return;
	while ((ev = rd_kafka_queue_poll(t->results, 0)) != NULL) {
		handle(t, ev);
		rd_kafka_event_destroy(ev);
	}
	now = andon_now_us();
	for (size_t i = 0; i < t->cap && t->pending > 0; i++) {
		entry_t *e = t->slots[i];
		if (e != NULL && e->state == ANDON_TOPIC_PENDING && !e->in_flight && now >= e->next_try_us)
			request(t, e);
	}
}

/* Registers name as PENDING (or READY when creation is off); NULL when out of memory. */
static entry_t *add(andon_topics_t *t, const char *name, uint32_t h)
{
	entry_t *e;

	if (grow(t) != 0 || (e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	if ((e->name = strdup(name)) == NULL) {
		free(e);
		return NULL;
	}
	e->hash = h;
	e->state = ANDON_TOPIC_READY;
	place(t->slots, t->cap, e);
	t->count++;
	if (t->create)
		set_state(t, e, ANDON_TOPIC_PENDING);
	return e;
}

void andon_topics_want(andon_topics_t *t, const char *topic)
{
	uint32_t h = hash_name(topic);

	if (find(t, topic, h) == NULL && add(t, topic, h) == NULL)
		andon_err("out of memory registering topic %s", topic);
}

enum andon_topic_state andon_topics_state(const andon_topics_t *t, const char *topic,
					  rd_kafka_resp_err_t *err)
{
	const entry_t *e;

	if (t->count == 0 || (e = find(t, topic, hash_name(topic))) == NULL)
		return ANDON_TOPIC_READY;
	if (err != NULL)
		*err = e->err;
	return e->state;
}

int andon_topics_forget(andon_topics_t *t, const char *topic)
{
	entry_t *e = find(t, topic, hash_name(topic));

	if (e == NULL || !t->create)
		return 0;
	if (e->state == ANDON_TOPIC_READY) {
		andon_warn("topic %s is gone or not yet known to its leader; checking it again", topic);
		e->backoff_ms = 0;
		e->next_try_us = 0;
		set_state(t, e, ANDON_TOPIC_PENDING);
	}
	return e->state == ANDON_TOPIC_PENDING;
}

size_t andon_topics_pending(const andon_topics_t *t)
{
	return t->pending;
}

/* Marks READY the registered topics that the cluster's metadata already lists: provisioned topics need
 * no CreateTopics (nor the permission for it). Best effort: on any error creation decides. */
static void known_from_metadata(andon_topics_t *t)
{
	const struct rd_kafka_metadata *md;

	if (rd_kafka_metadata(t->rk, 1, NULL, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return;
	for (int i = 0; i < md->topic_cnt; i++) {
		entry_t *e = find(t, md->topics[i].topic, hash_name(md->topics[i].topic));
		if (e != NULL && e->state == ANDON_TOPIC_PENDING && !e->in_flight &&
		    md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topics[i].partition_cnt > 0)
			set_state(t, e, ANDON_TOPIC_READY);
	}
	rd_kafka_metadata_destroy(md);
}

int andon_topics_ensure(andon_topics_t *t, const char *const *names, size_t n,
			const volatile sig_atomic_t *run, char *errstr, size_t errstr_size)
{
	int64_t warn_us = andon_now_us() + (int64_t)ENSURE_WARN_MS * 1000;
	int rc = -1;

	for (size_t i = 0; i < n; i++)
		andon_topics_want(t, names[i]);
	if (t->pending > 0)
		known_from_metadata(t);
	t->strict = 1;
	for (;;) {
		size_t ready = 0;
		rd_kafka_event_t *ev;

		andon_topics_poll(t);
		for (size_t i = 0; i < n; i++) {
			rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
			enum andon_topic_state s = andon_topics_state(t, names[i], &err);

			if (s == ANDON_TOPIC_FAILED) {
				andon_fail(errstr, errstr_size, "topic %s cannot be created: %s", names[i],
					   rd_kafka_err2str(err));
				goto out;
			}
			ready += s == ANDON_TOPIC_READY;
		}
		if (ready == n) {
			/* A fresh producer learns a topic's partitions from its 1 s topic scan; asking now
			 * spares the first answers that second (and a restarted worker its recovery). */
			for (size_t i = 0; i < n; i++)
				if (andon_kafka_warm_topic(t->rk, names[i], NULL, 5000, errstr,
							   errstr_size) != 0)
					andon_debug("%s", errstr);
			rc = 0;
			goto out;
		}
		if (!*run) {
			andon_fail(errstr, errstr_size, "stopped while waiting for the topics to exist");
			goto out;
		}
		if (andon_now_us() >= warn_us) {
			andon_warn("still waiting for Kafka to create or confirm %zu topic(s)", n - ready);
			warn_us = andon_now_us() + (int64_t)ENSURE_WARN_MS * 1000;
		}
		if ((ev = rd_kafka_queue_poll(t->results, 100)) != NULL) {
			handle(t, ev);
			rd_kafka_event_destroy(ev);
		}
	}
out:
	t->strict = 0;
	return rc;
}
