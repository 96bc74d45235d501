/* quarantine: in-flight records per partition in Redis, careful replays and quarantined poison pills. */
#include "quarantine.h"

#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEEN_MAX 1000000000LL

/* A call holds ANDON_CALL_MAX_ARGS arguments: the command, the key, then fields or field/value pairs. */
#define FIELDS_PER_CALL (ANDON_CALL_MAX_ARGS - 2)
#define PAIRS_PER_CALL	((ANDON_CALL_MAX_ARGS - 2) / 2)

typedef struct part {
	int assigned;
	int written;	/* a record of ours is in Redis (or on its way there) */
	int64_t w_hi;	/* its highest offset */
	int64_t stored; /* every offset before this one is stored; -1: nothing stored yet */

	/* The record the last owner left, until a batch past its range begins: one message per batch. */
	int found;
	int64_t f_lo, f_hi;
	int64_t f_next;	  /* first offset of the range no batch has begun yet */
	long long f_seen; /* starts that found the range in flight, this one included */

	/* Scratch of one command. */
	int64_t b_lo, b_hi;
	int in_batch;
	char field[16];
	char value[72];
} part_t;

struct andon_quar {
	andon_engine_t *engine;
	int after;
	char *topic;
	char *key;
	size_t key_len;
	part_t *parts; /* indexed by partition */
	size_t nparts;
	int32_t *list; /* partitions of the command being built, nparts long */
	andon_call_t *calls;
	redisReply **replies;
	size_t ncalls_max;
};

int andon_quar_parse(const char *s, size_t len, andon_quar_rec_t *rec)
{
	char buf[72], *f[3], *save = NULL;
	long long v[3];
	int n = 0;

	if (s == NULL || len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	/* Single spaces only: strtok_r would accept runs of them. */
	if (buf[0] == ' ' || buf[len - 1] == ' ' || strstr(buf, "  ") != NULL)
		return -1;
	for (char *t = strtok_r(buf, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save)) {
		if (n == 3)
			return -1;
		f[n++] = t;
	}
	if (n != 3 || andon_parse_ll(f[0], 0, INT64_MAX, &v[0]) != 0 ||
	    andon_parse_ll(f[1], v[0], INT64_MAX, &v[1]) != 0 || andon_parse_ll(f[2], 0, SEEN_MAX, &v[2]) != 0)
		return -1;
	rec->lo = v[0];
	rec->hi = v[1];
	rec->seen = v[2];
	return 0;
}

int andon_quar_format(const andon_quar_rec_t *rec, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%lld %lld %lld", (long long)rec->lo, (long long)rec->hi, rec->seen);

	return n < 0 || (size_t)n >= size ? -1 : n;
}

andon_quar_t *andon_quar_new(andon_engine_t *engine, int after, const char *group, const char *topic)
{
	andon_quar_t *q = calloc(1, sizeof(*q));
	size_t len = strlen("andon:{inflight:") + strlen(group) + strlen("}:") + strlen(topic);

	if (q == NULL || (q->topic = strdup(topic)) == NULL || (q->key = malloc(len + 1)) == NULL) {
		andon_quar_destroy(q);
		return NULL;
	}
	snprintf(q->key, len + 1, "andon:{inflight:%s}:%s", group, topic);
	q->key_len = len;
	q->engine = engine;
	q->after = after;
	return q;
}

void andon_quar_destroy(andon_quar_t *q)
{
	if (q == NULL)
		return;
	for (size_t i = 0; i < q->ncalls_max; i++)
		freeReplyObject(q->replies[i]);
	free(q->replies);
	free(q->calls);
	free(q->list);
	free(q->parts);
	free(q->key);
	free(q->topic);
	free(q);
}

/* The state of partition p, the table grown to hold it; NULL when out of memory or p is negative. */
static part_t *part(andon_quar_t *q, int32_t p)
{
	size_t n = q->nparts, calls;
	part_t *parts;
	int32_t *list;
	andon_call_t *c;
	redisReply **r;

	if (p < 0)
		return NULL;
	if ((size_t)p < n)
		return &q->parts[p];
	while (n <= (size_t)p)
		n = n ? n * 2 : 16;
	calls = n / PAIRS_PER_CALL + 1;
	if ((parts = realloc(q->parts, n * sizeof(*parts))) != NULL)
		q->parts = parts;
	if ((list = realloc(q->list, n * sizeof(*list))) != NULL)
		q->list = list;
	if ((c = realloc(q->calls, calls * sizeof(*c))) != NULL)
		q->calls = c;
	if ((r = realloc(q->replies, calls * sizeof(*r))) != NULL)
		q->replies = r;
	if (parts == NULL || list == NULL || c == NULL || r == NULL)
		return NULL;
	for (size_t i = q->nparts; i < n; i++) {
		memset(&q->parts[i], 0, sizeof(q->parts[i]));
		q->parts[i].stored = -1;
	}
	for (size_t i = q->ncalls_max; i < calls; i++)
		q->replies[i] = NULL;
	q->nparts = n;
	q->ncalls_max = calls;
	return &q->parts[p];
}

static const part_t *peek(const andon_quar_t *q, int32_t p)
{
	return p >= 0 && (size_t)p < q->nparts ? &q->parts[p] : NULL;
}

/* A found range with offsets no batch has begun yet. */
static int pending(const part_t *s)
{
	return s->found && s->f_next <= s->f_hi;
}

int andon_quar_found(andon_quar_t *q, int32_t partition, const char *value, size_t len)
{
	part_t *s = part(q, partition);
	andon_quar_rec_t rec;

	if (s == NULL)
		return -1;
	s->assigned = 1;
	s->found = 0;
	s->written = 0;
	s->stored = -1;
	if (value == NULL || len == 0)
		return 0;
	if (andon_quar_parse(value, len, &rec) != 0) {
		andon_warn("%s [%d]: malformed in-flight record \"%.*s\" ignored", q->topic, (int)partition,
			   (int)(len < 64 ? len : 64), value);
		return 0;
	}
	/* Its last owner died with these offsets in flight: that is one more start finding them so. */
	s->found = 1;
	s->f_lo = s->f_next = rec.lo;
	s->f_hi = rec.hi;
	s->f_seen = rec.seen < SEEN_MAX ? rec.seen + 1 : SEEN_MAX;
	if (rec.lo == rec.hi && s->f_seen >= q->after)
		andon_warn("%s [%d]: offset %lld was in flight at the last %lld worker start(s); it will be "
			   "dead-lettered unprocessed (Quarantined)",
			   q->topic, (int)partition, (long long)rec.lo, s->f_seen);
	else
		andon_warn("%s [%d]: offsets %lld..%lld were in flight at the last %lld worker start(s); "
			   "processing them one message per batch",
			   q->topic, (int)partition, (long long)rec.lo, (long long)rec.hi, s->f_seen);
	return 0;
}

int andon_quar_range(andon_quar_t *q, int32_t partition, int64_t lo, int64_t hi, andon_quar_rec_t *rec)
{
	part_t *s = part(q, partition);

	if (s == NULL)
		return -1;
	rec->lo = lo;
	rec->hi = hi;
	rec->seen = 0;
	if (s->found && lo > s->f_hi)
		s->found = 0; /* passed: from now on this partition is like any other */
	if (s->found) {
		/* Every offset of a found range was in flight at each death it counts. */
		if (lo >= s->f_lo && hi <= s->f_hi)
			rec->seen = s->f_seen;
		if (hi >= s->f_next)
			s->f_next = hi + 1;
	}
	s->written = 1;
	s->w_hi = hi;
	return 0;
}

int andon_quar_alone(const andon_quar_t *q, int32_t partition, int64_t offset)
{
	const part_t *s = peek(q, partition);

	return q->after > 0 && s != NULL && s->found && offset >= s->f_lo && offset <= s->f_hi;
}

int andon_quar_poisoned(const andon_quar_t *q, int32_t partition, int64_t offset, char *note, size_t size)
{
	const part_t *s = peek(q, partition);

	if (q->after == 0 || s == NULL || !s->found || s->f_lo != s->f_hi || offset != s->f_lo ||
	    s->f_seen < q->after)
		return 0;
	snprintf(note, size, "offset %lld of %s [%d] was in flight at %lld consecutive worker starts; not processed",
		 (long long)offset, q->topic, (int)partition, s->f_seen);
	return 1;
}

int andon_quar_careful(const andon_quar_t *q, int32_t partition)
{
	const part_t *s = peek(q, partition);

	return s != NULL && s->found;
}

int andon_quar_clearable(const andon_quar_t *q, int32_t partition)
{
	const part_t *s = peek(q, partition);

	/* A found range still to come keeps its record: it counts deaths this worker has not undone. */
	return s != NULL && s->assigned && s->written && !pending(s) && s->stored > s->w_hi;
}

/*
 * Builds "cmd key field [value]..." over partitions list[0..n) into q->calls (fields from each part's
 * field[], values from value[]); returns the number of calls.
 */
static size_t build(andon_quar_t *q, const char *cmd, size_t n, int with_value)
{
	size_t per = with_value ? PAIRS_PER_CALL : FIELDS_PER_CALL, ncalls = 0;

	for (size_t i = 0; i < n; i++) {
		part_t *s = &q->parts[q->list[i]];
		andon_call_t *c = &q->calls[i / per];

		if (i % per == 0) {
			andon_call_command(c, cmd);
			andon_call_arg(c, q->key, q->key_len);
			ncalls++;
		}
		snprintf(s->field, sizeof(s->field), "%d", (int)q->list[i]);
		andon_call_arg(c, s->field, strlen(s->field));
		if (with_value)
			andon_call_arg(c, s->value, strlen(s->value));
	}
	return ncalls;
}

/* Runs q->calls[0..n) in one pipeline; replies stay in q->replies for the caller, freed by release(). */
static int run_calls(andon_quar_t *q, size_t n, const char *what, const volatile sig_atomic_t *run,
		     int64_t deadline_us)
{
	if (n == 0)
		return 0;
	if (andon_engine_exec(q->engine, q->calls, n, q->replies, run, deadline_us) != 0) {
		andon_warn("%s: redis unavailable", what);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (q->replies[i]->type == REDIS_REPLY_ERROR)
			andon_warn("%s: %s", what, q->replies[i]->str);
	return 0;
}

static void release(andon_quar_t *q, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		freeReplyObject(q->replies[i]);
		q->replies[i] = NULL;
	}
}

int andon_quar_assign(andon_quar_t *q, const rd_kafka_topic_partition_list_t *parts,
		      const volatile sig_atomic_t *run, int64_t deadline_us)
{
	size_t n = 0, ncalls;
	int rc = 0;

	if (q->after == 0)
		return 0;
	/* Grow the table first: the calls point into it. */
	for (int i = 0; i < parts->cnt; i++)
		if (strcmp(parts->elems[i].topic, q->topic) == 0 && part(q, parts->elems[i].partition) == NULL)
			return -1;
	for (int i = 0; i < parts->cnt; i++)
		if (strcmp(parts->elems[i].topic, q->topic) == 0)
			q->list[n++] = parts->elems[i].partition;
	ncalls = build(q, "HMGET", n, 0);
	if (run_calls(q, ncalls, "reading in-flight records", run, deadline_us) != 0)
		rc = -1;
	for (size_t i = 0; i < n; i++) {
		const redisReply *r = rc == 0 ? q->replies[i / FIELDS_PER_CALL] : NULL, *v = NULL;

		if (r != NULL && r->type == REDIS_REPLY_ARRAY && i % FIELDS_PER_CALL < r->elements)
			v = r->element[i % FIELDS_PER_CALL];
		if (andon_quar_found(q, q->list[i], v != NULL && v->type == REDIS_REPLY_STRING ? v->str : NULL,
				     v != NULL && v->type == REDIS_REPLY_STRING ? v->len : 0) != 0)
			rc = -1;
	}
	release(q, ncalls);
	return rc;
}

int andon_quar_revoke(andon_quar_t *q, const rd_kafka_topic_partition_list_t *parts, int lost,
		      const volatile sig_atomic_t *run, int64_t deadline_us)
{
	size_t ndel = 0, nput = 0, ncalls;
	int rc = 0;

	if (q->after == 0)
		return 0;
	/* Deletions fill the list from the front, puts from the back. */
	for (int i = 0; i < parts->cnt && !lost; i++) {
		part_t *s;

		if (strcmp(parts->elems[i].topic, q->topic) != 0 ||
		    (s = (part_t *)peek(q, parts->elems[i].partition)) == NULL || !s->assigned)
			continue;
		if (pending(s)) {
			/* Not reached yet: the range left to do goes back with the deaths it counted. */
			andon_quar_rec_t rec = {s->f_next, s->f_hi, s->f_seen - 1};

			andon_quar_format(&rec, s->value, sizeof(s->value));
			q->list[q->nparts - 1 - nput++] = parts->elems[i].partition;
		} else if (s->written) {
			q->list[ndel++] = parts->elems[i].partition;
		}
	}
	ncalls = build(q, "HDEL", ndel, 0);
	rc |= run_calls(q, ncalls, "deleting in-flight records", run, deadline_us);
	release(q, ncalls);
	if (nput > 0)
		memmove(q->list, q->list + q->nparts - nput, nput * sizeof(*q->list));
	ncalls = build(q, "HSET", nput, 1);
	rc |= run_calls(q, ncalls, "putting back in-flight records", run, deadline_us);
	release(q, ncalls);
	for (int i = 0; i < parts->cnt; i++) {
		part_t *s;

		if (strcmp(parts->elems[i].topic, q->topic) == 0 &&
		    (s = (part_t *)peek(q, parts->elems[i].partition)) != NULL) {
			memset(s, 0, sizeof(*s));
			s->stored = -1;
		}
	}
	return rc;
}

int andon_quar_begin(andon_quar_t *q, rd_kafka_message_t *const *msgs, size_t n,
		     const volatile sig_atomic_t *run, int64_t deadline_us)
{
	size_t np = 0, ncalls;
	int rc;

	if (q->after == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const rd_kafka_message_t *m = msgs[i];
		part_t *s;

		if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR || (s = part(q, m->partition)) == NULL)
			continue; /* out of memory: this partition goes unprotected for this batch */
		if (!s->in_batch) {
			s->in_batch = 1;
			s->b_lo = s->b_hi = m->offset;
			q->list[np++] = m->partition;
		}
		s->b_lo = m->offset < s->b_lo ? m->offset : s->b_lo;
		s->b_hi = m->offset > s->b_hi ? m->offset : s->b_hi;
	}
	for (size_t i = 0; i < np; i++) {
		part_t *s = &q->parts[q->list[i]];
		andon_quar_rec_t rec;

		s->in_batch = 0;
		andon_quar_range(q, q->list[i], s->b_lo, s->b_hi, &rec);
		andon_quar_format(&rec, s->value, sizeof(s->value));
	}
	ncalls = build(q, "HSET", np, 1);
	rc = run_calls(q, ncalls, "recording offsets in flight", run, deadline_us);
	release(q, ncalls);
	return rc;
}

void andon_quar_stored(andon_quar_t *q, const rd_kafka_topic_partition_list_t *offsets)
{
	if (q->after == 0)
		return;
	for (int i = 0; i < offsets->cnt; i++) {
		const rd_kafka_topic_partition_t *o = &offsets->elems[i];
		part_t *s;

		if (strcmp(o->topic, q->topic) == 0 && (s = (part_t *)peek(q, o->partition)) != NULL &&
		    o->offset > s->stored)
			s->stored = o->offset;
	}
}

void andon_quar_clear(andon_quar_t *q, const volatile sig_atomic_t *run, int64_t deadline_us)
{
	size_t n = 0, ncalls;

	if (q->after == 0)
		return;
	for (size_t p = 0; p < q->nparts; p++)
		if (andon_quar_clearable(q, (int32_t)p))
			q->list[n++] = (int32_t)p;
	if (n == 0)
		return;
	ncalls = build(q, "HDEL", n, 0);
	if (run_calls(q, ncalls, "deleting in-flight records", run, deadline_us) == 0)
		for (size_t i = 0; i < n; i++)
			q->parts[q->list[i]].written = 0;
	release(q, ncalls);
}
