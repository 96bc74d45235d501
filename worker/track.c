/* track: the messages in flight, in consumption order, and which offsets are safe to store. */
#include "track.h"

#include "metrics.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define TRACK_TOPICS 16

typedef struct entry {
	int64_t offset;
	int32_t partition;
	int topic;   /* index into topics[] */
	int pending; /* acknowledgements still to come, the worker's own hold included */
	int64_t ts;  /* Kafka timestamp, epoch ms; -1 unknown */
} entry_t;

struct andon_track {
	entry_t *ring;
	size_t cap;
	uint64_t head, tail; /* sequence numbers: [head, tail) are in flight; entry of s is ring[s % cap] */
	char *topics[TRACK_TOPICS];
	int ntopics;
	struct andon_series *age; /* histogram of ages at collect, or NULL */
};

andon_track_t *andon_track_new(size_t cap)
{
	andon_track_t *t = calloc(1, sizeof(*t));

	if (t == NULL || cap == 0 || (t->ring = calloc(cap, sizeof(*t->ring))) == NULL) {
		free(t);
		return NULL;
	}
	t->cap = cap;
	return t;
}

void andon_track_destroy(andon_track_t *t)
{
	if (t == NULL)
		return;
	for (int i = 0; i < t->ntopics; i++)
		free(t->topics[i]);
	free(t->ring);
	free(t);
}

/* The worker reads a handful of topics, so a short list beats a hash table. */
static int topic_index(andon_track_t *t, const char *topic)
{
	for (int i = 0; i < t->ntopics; i++)
		if (strcmp(t->topics[i], topic) == 0)
			return i;
	if (t->ntopics == TRACK_TOPICS || (t->topics[t->ntopics] = strdup(topic)) == NULL)
		return -1;
	return t->ntopics++;
}

uint64_t andon_track_add(andon_track_t *t, const char *topic, int32_t partition, int64_t offset)
{
	entry_t *e;
	int ti;

	if (andon_track_full(t) || (ti = topic_index(t, topic)) < 0)
		return UINT64_MAX;
	e = &t->ring[t->tail % t->cap];
	e->offset = offset;
	e->partition = partition;
	e->topic = ti;
	e->pending = 1;
	e->ts = -1;
	return t->tail++;
}

static entry_t *find(andon_track_t *t, uint64_t seq)
{
	if (seq < t->head || seq >= t->tail)
		return NULL; /* a stale acknowledgement: nothing to do */
	return &t->ring[seq % t->cap];
}

void andon_track_hold(andon_track_t *t, uint64_t seq, int n)
{
	entry_t *e = find(t, seq);

	if (e != NULL)
		e->pending += n;
}

void andon_track_release(andon_track_t *t, uint64_t seq)
{
	entry_t *e = find(t, seq);

	if (e != NULL && e->pending > 0)
		e->pending--;
}

void andon_track_stamp(andon_track_t *t, uint64_t seq, int64_t ts_ms)
{
	entry_t *e = find(t, seq);

	if (e != NULL)
		e->ts = ts_ms;
}

void andon_track_ages(andon_track_t *t, struct andon_series *age)
{
	t->age = age;
}

size_t andon_track_collect(andon_track_t *t, rd_kafka_topic_partition_list_t *list)
{
	size_t n = 0;
	int64_t now = 0;

	while (t->head < t->tail && t->ring[t->head % t->cap].pending == 0) {
		entry_t *e = &t->ring[t->head % t->cap];
		rd_kafka_topic_partition_t *p =
		    rd_kafka_topic_partition_list_find(list, t->topics[e->topic], e->partition);

		if (t->age != NULL && e->ts >= 0) {
			if (now == 0)
				now = andon_wall_ms(); /* one clock read per collect, not per message */
			/* A producer's clock ahead of ours is not a negative age. */
			andon_metrics_observe(t->age, now > e->ts ? (double)(now - e->ts) / 1000.0 : 0);
		}

		if (p == NULL)
			p = rd_kafka_topic_partition_list_add(list, t->topics[e->topic], e->partition);
		/* Consumption order is offset order within a partition, so the last one wins. */
		p->offset = e->offset + 1;
		t->head++;
		n++;
	}
	return n;
}

size_t andon_track_count(const andon_track_t *t)
{
	return (size_t)(t->tail - t->head);
}

int andon_track_full(const andon_track_t *t)
{
	return t->tail - t->head >= t->cap;
}
