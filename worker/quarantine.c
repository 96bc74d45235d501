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
	int written; /* a batch record of ours is in Redis: to be removed (or put back) once it is done */

	/* The record the last owner left, until a batch past its range begins: one message per batch. */
	int found;
	int64_t f_lo, f_hi;
	int64_t f_next;	   /* first offset of the range no batch has begun yet */
	long long f_seen;  /* starts that found the range in flight, this one included */
	long long f_batch; /* messages in the batch its last owner died with */

	/* Scratch of one command. */
	int64_t b_lo, b_hi;
	int in_batch;
	char field[16];
	char value[96];
} part_t;

struct andon_quar {
	andon_engine_t *engine;
	int after;
	char *topic;
	char *key;
	size_t key_len;
	part_t *parts; /* indexed by partition */
	size_t nparts;
	int32_t *list, *list2; /* partitions of the commands being built, nparts long each */
	andon_call_t *calls;
	redisReply **replies;
	size_t ncalls_max;
};

int andon_quar_parse(const char *s, size_t len, andon_quar_rec_t *rec)
{
	char buf[96], *f[4], *save = NULL;
	long long v[4];
	int n = 0;

	if (s == NULL || len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	/* Single spaces only: strtok_r would accept runs of them. */
	if (buf[0] == ' ' || buf[len - 1] == ' ' || strstr(buf, "  ") != NULL)
		return -1;
	for (char *t = strtok_r(buf, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save)) {
		if (n == 4)
			return -1;
		f[n++] = t;
	}
	if (n != 4 || andon_parse_ll(f[0], 0, INT64_MAX, &v[0]) != 0 ||
	    andon_parse_ll(f[1], v[0], INT64_MAX, &v[1]) != 0 ||
	    andon_parse_ll(f[2], 0, SEEN_MAX, &v[2]) != 0 || andon_parse_ll(f[3], 1, SEEN_MAX, &v[3]) != 0)
		return -1;
	rec->lo = v[0];
	rec->hi = v[1];
	rec->seen = v[2];
	rec->batch = v[3];
	return 0;
}

int andon_quar_format(const andon_quar_rec_t *rec, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%lld %lld %lld %lld", (long long)rec->lo, (long long)rec->hi, rec->seen,
			 rec->batch);

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
	free(q->list2);
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
	int32_t *list, *list2;
	andon_call_t *c;
	redisReply **r;

	if (p < 0)
		return NULL;
	if ((size_t)p < n)
		return &q->parts[p];
	while (n <= (size_t)p)
		n = n ? n * 2 : 16;
	calls = 2 * (n / PAIRS_PER_CALL + 1); /* an HSET and an HDEL over every partition at most */
	if ((parts = realloc(q->parts, n * sizeof(*parts))) != NULL)
		q->parts = parts;
	if ((list = realloc(q->list, n * sizeof(*list))) != NULL)
		q->list = list;
	if ((list2 = realloc(q->list2, n * sizeof(*list2))) != NULL)
		q->list2 = list2;
	if ((c = realloc(q->calls, calls * sizeof(*c))) != NULL)
		q->calls = c;
	if ((r = realloc(q->replies, calls * sizeof(*r))) != NULL)
		q->replies = r;
	if (parts == NULL || list == NULL || list2 == NULL || c == NULL || r == NULL)
		return NULL;
	memset(&q->parts[q->nparts], 0, (n - q->nparts) * sizeof(*q->parts));
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

/* The state of partition p when the table has it (never grows it). */
static part_t *get(andon_quar_t *q, int32_t p)
{
	return p >= 0 && (size_t)p < q->nparts ? &q->parts[p] : NULL;
}

/*
 * A found record names its offset as the killer when that offset was the whole batch at the death, and was
 * in flight at after consecutive deaths. Any other record only makes its range go one message per batch.
 */
static int quarantine(const andon_quar_t *q, const part_t *s)
{
	return s->found && s->f_lo == s->f_hi && s->f_batch == 1 && s->f_seen >= q->after;
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
	s->found = 0;
	s->written = 0;
	if (q->after == 0 || value == NULL || len == 0)
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
	s->f_batch = rec.batch;
	if (quarantine(q, s))
		andon_warn(
		    "%s [%d]: offset %lld was in flight when the worker died, %lld time(s) in a row; it "
		    "will be dead-lettered unprocessed (Quarantined)",
		    q->topic, (int)partition, (long long)rec.lo, s->f_seen);
	else
		andon_warn(
		    "%s [%d]: offsets %lld..%lld were in flight when the worker died (%lld time(s) in a "
		    "row); processing them one message per batch",
		    q->topic, (int)partition, (long long)rec.lo, (long long)rec.hi, s->f_seen);
	return 0;
}

int andon_quar_range(andon_quar_t *q, int32_t partition, int64_t lo, int64_t hi, size_t batch,
		     andon_quar_rec_t *rec)
{
	part_t *s = part(q, partition);

	if (s == NULL)
		return -1;
	rec->lo = lo;
	rec->hi = hi;
	rec->seen = 0;
	rec->batch = batch < (size_t)SEEN_MAX ? (long long)batch : SEEN_MAX;
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

	if (q->after == 0 || s == NULL || !quarantine(q, s) || offset != s->f_lo)
		return 0;
	snprintf(
	    note, size,
	    "offset %lld of %s [%d] was in flight when the worker died, %lld times in a row; not processed",
	    (long long)offset, q->topic, (int)partition, s->f_seen);
	return 1;
}

int andon_quar_careful(const andon_quar_t *q, int32_t partition)
{
	const part_t *s = peek(q, partition);

	return s != NULL && s->found;
}

int andon_quar_done(andon_quar_t *q, int32_t partition, andon_quar_rec_t *put_back)
{
	part_t *s = get(q, partition);

	if (s == NULL || !s->written)
		return 0;
	s->written = 0;
	if (!pending(s))
		return 1;
	/* The range left to do, with the count it was read with: this worker's death would not be its. */
	put_back->lo = s->f_next;
	put_back->hi = s->f_hi;
	put_back->seen = s->f_seen - 1;
	put_back->batch = s->f_batch;
	return 2;
}

/*
 * Builds "cmd key field [value]..." over partitions list[0..n) into q->calls from index at (fields from
 * each part's field[], values from value[]); returns the number of calls.
 */
static size_t build(andon_quar_t *q, size_t at, const char *cmd, const int32_t *list, size_t n,
		    int with_value)
{
	size_t per = with_value ? PAIRS_PER_CALL : FIELDS_PER_CALL, ncalls = 0;

	for (size_t i = 0; i < n; i++) {
		part_t *s = &q->parts[list[i]];
		andon_call_t *c = &q->calls[at + i / per];

		if (i % per == 0) {
			andon_call_command(c, cmd);
			andon_call_arg(c, q->key, q->key_len);
			ncalls++;
		}
		snprintf(s->field, sizeof(s->field), "%d", (int)list[i]);
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
		if (strcmp(parts->elems[i].topic, q->topic) == 0 &&
		    part(q, parts->elems[i].partition) == NULL)
			return -1;
	for (int i = 0; i < parts->cnt; i++)
		if (strcmp(parts->elems[i].topic, q->topic) == 0)
			q->list[n++] = parts->elems[i].partition;
	ncalls = build(q, 0, "HMGET", q->list, n, 0);
	if (run_calls(q, ncalls, "reading in-flight records", run, deadline_us) != 0)
		rc = -1;
	for (size_t i = 0; i < n; i++) {
		const redisReply *r = rc == 0 ? q->replies[i / FIELDS_PER_CALL] : NULL, *v = NULL;

		if (r != NULL && r->type == REDIS_REPLY_ARRAY && i % FIELDS_PER_CALL < r->elements)
			v = r->element[i % FIELDS_PER_CALL];
		if (andon_quar_found(q, q->list[i],
				     v != NULL && v->type == REDIS_REPLY_STRING ? v->str : NULL,
				     v != NULL && v->type == REDIS_REPLY_STRING ? v->len : 0) != 0)
			rc = -1;
	}
	release(q, ncalls);
	return rc;
}

/* Partition p's batch record is done: queues its HDEL (list2), or its put-back HSET (list). */
static void queue_done(andon_quar_t *q, int32_t p, size_t *nset, size_t *ndel)
{
	andon_quar_rec_t rec;

	switch (andon_quar_done(q, p, &rec)) {
	case 1:
		q->list2[(*ndel)++] = p;
		break;
	case 2:
		andon_quar_format(&rec, q->parts[p].value, sizeof(q->parts[p].value));
		q->list[(*nset)++] = p;
		break;
	}
}

/* One round trip: HSET of the partitions list[0..nset), HDEL of list2[0..ndel). */
static int flush(andon_quar_t *q, size_t nset, size_t ndel, const char *what,
		 const volatile sig_atomic_t *run, int64_t deadline_us)
{
	size_t ncalls = build(q, 0, "HSET", q->list, nset, 1);
	int rc;

	ncalls += build(q, ncalls, "HDEL", q->list2, ndel, 0);
	rc = run_calls(q, ncalls, what, run, deadline_us);
	release(q, ncalls);
	return rc;
}

int andon_quar_revoke(andon_quar_t *q, const rd_kafka_topic_partition_list_t *parts, int lost,
		      const volatile sig_atomic_t *run, int64_t deadline_us)
{
	size_t nset = 0, ndel = 0;
	int rc;

	if (q->after == 0)
		return 0;
	for (int i = 0; i < parts->cnt && !lost; i++)
		if (strcmp(parts->elems[i].topic, q->topic) == 0)
			queue_done(q, parts->elems[i].partition, &nset, &ndel);
	rc = flush(q, nset, ndel, "removing in-flight records", run, deadline_us);
	for (int i = 0; i < parts->cnt; i++) {
		part_t *s;

		if (strcmp(parts->elems[i].topic, q->topic) == 0 &&
		    (s = get(q, parts->elems[i].partition)) != NULL)
			memset(s, 0, sizeof(*s));
	}
	return rc;
}

int andon_quar_begin(andon_quar_t *q, rd_kafka_message_t *const *msgs, size_t n,
		     const volatile sig_atomic_t *run, int64_t deadline_us)
{
	size_t nb = 0, nmsgs = 0, nset, ndel = 0;

	if (q->after == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const rd_kafka_message_t *m = msgs[i];
		part_t *s;

		if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
			continue;
		nmsgs++;
		if ((s = part(q, m->partition)) == NULL)
			continue; /* out of memory: this partition goes unprotected for this batch */
		if (!s->in_batch) {
			s->in_batch = 1;
			s->b_lo = s->b_hi = m->offset;
			q->list2[nb++] = m->partition; /* borrowed until the batch's records are built */
		}
		s->b_lo = m->offset < s->b_lo ? m->offset : s->b_lo;
		s->b_hi = m->offset > s->b_hi ? m->offset : s->b_hi;
	}
	/* This batch's records go to list; the partitions of the batches before are done with. */
	for (size_t i = 0; i < nb; i++) {
		part_t *s = &q->parts[q->list2[i]];
		andon_quar_rec_t rec;

		andon_quar_range(q, q->list2[i], s->b_lo, s->b_hi, nmsgs, &rec);
		andon_quar_format(&rec, s->value, sizeof(s->value));
		q->list[i] = q->list2[i];
	}
	nset = nb;
	for (size_t p = 0; p < q->nparts; p++)
		if (!q->parts[p].in_batch)
			queue_done(q, (int32_t)p, &nset, &ndel);
	for (size_t i = 0; i < nb; i++)
		q->parts[q->list[i]].in_batch = 0;
	return flush(q, nset, ndel, "recording offsets in flight", run, deadline_us);
}

void andon_quar_clear(andon_quar_t *q, const volatile sig_atomic_t *run, int64_t deadline_us)
{
	size_t nset = 0, ndel = 0;

	if (q->after == 0)
		return;
	for (size_t p = 0; p < q->nparts; p++)
		queue_done(q, (int32_t)p, &nset, &ndel);
	if (nset + ndel > 0)
		flush(q, nset, ndel, "removing in-flight records", run, deadline_us);
}
