/*
 * worker_int: the worker's private state, shared by the files of the daemon's loop: worker.c (the loop,
 * batches, Redis rounds), output.c (what is produced to Kafka and held until acknowledged), timers.c
 * (the durable-deadline sweep), stats.c (its metrics) and health.c (liveness and readiness). Nothing
 * outside worker/worker*.c, output.c, timers.c, stats.c and health.c includes it.
 */
#ifndef ANDON_WORKER_INT_H
#define ANDON_WORKER_INT_H

#include "answer.h"
#include "auth.h"
#include "call.h"
#include "config.h"
#include "engine.h"
#include "kms.h"
#include "http.h"
#include "proto.h"
#include "quarantine.h"
#include "service.h"
#include "stats.h"
#include "topics.h"
#include "track.h"
#include "txn.h"
#include "worker.h"

#include <hiredis.h>
#include <librdkafka/rdkafka.h>
#include <msgpack.h>
#include <stdint.h>

/* What became of one consumed message. */
enum job_kind {
	JOB_CALL,  /* valid request: its answer comes from the engine */
	JOB_ERROR, /* rejected before Redis: error reply (+ DLQ when the input itself is bad) */
	JOB_DLQ,   /* nobody to answer (no id): DLQ record only */
};

typedef struct job {
	rd_kafka_message_t *msg;
	uint64_t seq; /* tracker sequence, the opaque of what is produced for it */
	enum job_kind kind;
	andon_req_t req;
	andon_apierr_t err;
	int call; /* index into w->calls for JOB_CALL */
	/* Round one (before any change): indexes into w->pre of its id record, its gate and its lookup (the
	 * last two -1 when it has none), and its fingerprint (in the arena). */
	int pre_id, pre_gate, pre_lookup;
	const char *fp;
	char account[65];
	char key_id[65];       /* the access key that signed it; "" unsigned (security.auth = off) */
	andon_stats_op_t *sop; /* its op's counters (stats.h) */
} job_t;

/* A message whose delivery failed for good, produced again from the main loop. */
typedef struct redo {
	struct redo *next;
	char *topic;
	void *key, *value;
	size_t key_len, value_len;
	uint64_t seq;
	rd_kafka_resp_err_t err; /* why it failed */
} redo_t;

/*
 * The durable deadlines (docs/REDIS.md, durable timers): worker.timer_shards sorted sets andon:{timers:N}
 * (each in its own slot), the member's shard chosen by a hash of the member, and the single set of earlier
 * versions, andon:timers, which is swept until empty and never written.
 */
typedef struct andon_timerset {
	char **keys;	       /* nkeys: the shards, then the legacy key */
	size_t nkeys, nshards; /* nkeys = nshards + 1 */
	size_t next;	       /* the key the next sweep claims from first */
	andon_call_t *calls;   /* 2 * nkeys: claims, or the gauges' ZCOUNT and ZCARD */
	redisReply **replies;  /* their replies */
	redisReply **claimed;  /* nkeys: the last sweep's claimed members per key, kept until settled */
	andon_call_t *done;    /* ZREM key member...: what the last sweep fired */
	redisReply **done_replies;
	size_t ndone, done_cap;
} andon_timerset_t;

struct andon_worker {
	const andon_config_t *cfg;
	const volatile sig_atomic_t *run;
	rd_kafka_t *consumer, *producer;
	rd_kafka_queue_t *queue;
	andon_engine_t *engine;
	andon_track_t *track;
	andon_topics_t *topics; /* topics the worker creates when missing (topics.h) */
	andon_quar_t *quar;	/* in-flight records and quarantined offsets (quarantine.h) */
	andon_auth_t *auth;	/* signed requests (auth.h); used with security.auth = required */
	andon_kms_t *kms;	/* customer keys for encrypted error and cause (kms.h) */
	/*
	 * Exactly-once (txn.h): every batch's outputs and offsets in one transaction; NULL: at least once,
	 * each output held on its request until acknowledged. Outputs the broker refused for good
	 * (fingerprints of topic, key and value) are dead-lettered when the aborted batch produces them
	 * again.
	 */
	andon_txn_t *txn;
	struct {
		uint64_t fp;
		rd_kafka_resp_err_t err;
	} refused[16];
	unsigned refused_next;

	/* Per-batch state, allocated once. */
	rd_kafka_message_t **msgs;
	job_t *jobs;
	andon_call_t *calls;
	redisReply **replies;
	/*
	 * First round of a chunk, before any change (at most 3 per request): request id records (idem.h),
	 * gates an adapter asked for (ops.h), and the lookups of requests that name their execution only
	 * indirectly (andon_resolve_fn). The calls of the second round may point into the lookups' replies,
	 * so those are freed with the chunk.
	 */
	andon_call_t *pre;
	redisReply **pre_replies;
	size_t npre;
	andon_arena_t arena;
	msgpack_zone zone;
	msgpack_sbuffer sb;	  /* the reply or DLQ record being produced */
	msgpack_sbuffer sb_dead;  /* DLQ records (built while sb may hold the message being dead-lettered) */
	msgpack_sbuffer sb_built; /* a compact answer's body and events, built by its adapter (answer.h) */
	msgpack_sbuffer sb_kms;	  /* a read's body with its sealed error and cause opened (kms.h) */
	andon_built_t built;
	rd_kafka_topic_partition_list_t *offsets;

	redo_t *redo, *redo_tail; /* first in, first produced again */

	/* Post-writes: the '@timer' and '@index' outputs of a chunk's calls, applied before producing. */
	andon_call_t *post;
	redisReply **post_replies;
	size_t post_cap;

	/* Timer sweep (timers.c): the shards, and what the last sweep fired, removed from its shards once
	 * all of it is acknowledged. */
	andon_timerset_t tset;
	size_t *timer_key;	     /* per call of a sweep: the index of the shard its member came from */
	unsigned long timer_pending; /* messages produced by the sweep, not yet acknowledged */

	int fatal;
	int zone_ok;
	size_t stuck; /* messages of a batch Redis never answered at shutdown: never acknowledged */
	size_t
	    dlq_original_max; /* bytes of an original a DLQ record keeps, so the record fits the producer */

	/* Statistics since start. */
	unsigned long long consumed, answered, dlq, events, redelivered, lost, batches, timers;
	unsigned long long timers_claimed; /* members the sweeps claimed */
	int64_t next_stats_us, next_tick_us;

	/* Observability and service life: metrics (stats.c), endpoints and systemd (health.c). */
	andon_stats_t *stats;
	andon_http_t *http; /* NULL when worker.http_listen is empty */
	andon_service_t *svc;
	volatile sig_atomic_t *hup; /* set by SIGHUP: reload between batches (NULL: no reloads) */
	andon_worker_reload_fn *reload;
	void *reload_opaque;
	int assigned;	    /* a partition assignment is in force (even one of no partition) */
	int kafka_up;	    /* a broker is reachable, as far as librdkafka says */
	int redis_up;	    /* the last Redis call was answered */
	int ready;	    /* all three: what /readyz answers */
	int notified_ready; /* READY=1 was sent */
	char redis_why[256];
};

/* The opaque of what the timer sweep produces: it belongs to no consumed message. (UINT64_MAX is the
 * tracker's "full".) */
#define TIMER_SEQ (UINT64_MAX - 1)

#define TIMERS_LEGACY_KEY "andon:timers"
/* Callback steps that were sent a Stopping message and owe an answer (docs/REDIS.md, section 9). */
#define OWED_KEY "andon:owed"

/* output.c: everything produced is held on its consumed message (or the sweep) until acknowledged. */

/** Produces a copy of value for consumed message seq (TIMER_SEQ: the sweep); waits for queue space. */
void andon_out_produce(andon_worker_t *w, const char *topic, const void *key, size_t key_len,
		       const void *value, size_t len, uint64_t seq);
/** Produces a DLQ record for value (the original, cut to dlq_original_max, its Kafka timestamp ts or -1)
 * with code and why. */
void andon_out_dead_letter(andon_worker_t *w, const char *code, const char *why, const char *topic,
			   int32_t partition, int64_t offset, int64_t ts, const void *key, size_t key_len,
			   const void *value, size_t len, uint64_t seq);
/** Frees the messages waiting to be produced again. */
void andon_out_redo_clear(andon_worker_t *w);
/** Drops one hold of seq (the worker's own, or an acknowledgement). */
void andon_out_release(andon_worker_t *w, uint64_t seq);
/** The producer's delivery-report callback. */
void andon_out_delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);
/** Serves delivery reports, produces failed deliveries again and stores finished offsets in order. */
void andon_out_settle(andon_worker_t *w, int timeout_ms);
/**
 * Exactly-once: begins the transaction of a batch (msgs[0..n), consumed into it) or of a timer sweep (n 0).
 * 0, or -1 when the producer failed for good (w->fatal is set). Nothing without exactly-once.
 */
int andon_out_begin(andon_worker_t *w, rd_kafka_message_t *const *msgs, size_t n);
/**
 * Exactly-once: commits the open transaction when it is due: idle (nothing more was polled), open for
 * worker.transaction_ms, or the tracker full. Returns as andon_out_commit(); 0 when nothing is due.
 */
int andon_out_commit_due(andon_worker_t *w, int idle);
/** 1 while an exactly-once transaction is open. */
int andon_out_txn_open(const andon_worker_t *w);
/**
 * Exactly-once: ends what andon_out_begin() began. With ok, waits for the outputs' topics being created,
 * then commits the outputs with the offsets of every finished request; without ok (Redis gave up during a
 * shutdown), or when something cannot be delivered, aborts, and the consumer reads the batch again.
 * Returns 0 (committed, or nothing to do without exactly-once), 1 (aborted) or -1 (the producer failed
 * for good: w->fatal is set).
 */
int andon_out_commit(andon_worker_t *w, int ok);
/** Waits until everything in flight is acknowledged: 0, or -1 when deadline_us passed. */
int andon_out_drain(andon_worker_t *w, int64_t deadline_us);
/** True when r has the engine's {dup, ok, answer, [to, key, value]...} shape. */
int andon_out_answer_ok(const redisReply *r);
/** True when r (shape checked) is a compact answer, for its call's build function (answer.h); outputs may
 * follow its fields as triples, as in any answer. */
int andon_out_compact(const redisReply *r);
/** True when the output target to is s. */
int andon_out_is(const redisReply *to, const char *s);
/** Produces the Kafka outputs (events, '@requests', topics) of an engine answer for seq. */
void andon_out_emit(andon_worker_t *w, const redisReply *r, uint64_t seq);
/** Produces the outputs of a built compact answer for seq. */
void andon_out_emit_built(andon_worker_t *w, const andon_built_t *b, uint64_t seq);

/* worker.c */

/** Applies the '@timer' and '@index' outputs of answers[0..n) in Redis: 0, or -1 when Redis stayed away. */
int andon_worker_post_write(andon_worker_t *w, redisReply **answers, size_t n);

/* timers.c: the durable-deadline sweep, run from the worker's cron. */

/** The shard keys and the sweep's buffers (worker.timer_shards): 0, or -1 when out of memory. */
int andon_timers_init(andon_worker_t *w);
/** Frees what andon_timers_init() made (also after it failed half-way). */
void andon_timers_free(andon_worker_t *w);
/** The shard (a key of w->tset) that holds member[0..len): FNV-1a of the member, mod the shard count. */
const char *andon_timers_key(const andon_worker_t *w, const char *member, size_t len);
/** The gauges' reads: due and scheduled deadlines over every shard (one pipeline). 0, or -1. */
int andon_timers_count(andon_worker_t *w, long long *due, long long *scheduled);
/** Removes what the last sweep fired once all of it is acknowledged; 1 while it is still in flight. */
int andon_timers_settle(andon_worker_t *w);
/** Claims and fires the due deadlines (at most timer_batch per tick). */
void andon_timers_sweep(andon_worker_t *w);

/* stats.c */

/** Copies the worker's totals and gauges into the metrics, scans Redis when due, publishes (the tick). */
void andon_stats_tick(andon_worker_t *w, int64_t now_us);
/** Sets the readiness gauges (Redis up, ready) and publishes them now. */
void andon_stats_state(andon_worker_t *w);

/* health.c: readiness (/readyz, READY=1) and liveness (/healthz, WATCHDOG=1). */

/** Initial state after andon_worker_new() connected: Redis up, waiting for an assignment. */
void andon_health_start(andon_worker_t *w);
/** A partition assignment is in force (partitions may be 0: a group with more workers than partitions). */
void andon_health_assigned(andon_worker_t *w, int partitions);
/** The assignment was revoked (eager rebalance): not ready until the next one. */
void andon_health_revoked(andon_worker_t *w);
/** How many brokers are reachable (librdkafka's statistics; 0 after "all brokers down"). */
void andon_health_brokers(andon_worker_t *w, int up);
/** The engine's watch (engine.h): Redis failed (up 0, why) or answers again (up 1). opaque is the worker. */
void andon_health_redis(void *opaque, int up, const char *why);
/** The loop turned: /healthz's beat and, when systemd asked for one, WATCHDOG=1. */
void andon_health_beat(andon_worker_t *w, int64_t now_us);
/** STOPPING=1, and /readyz answers 503 from now on. */
void andon_health_stopping(andon_worker_t *w);

#endif
