/*
 * harness: integration-test plumbing. Starts a throwaway redis-server (AOF on) on a free loopback port in
 * a temp dir and the dev broker, spawns the real andon-worker, and talks to it only through Kafka.
 * Every wait polls a condition with a deadline; every child dies with the test process.
 */
#ifndef ANDON_HARNESS_H
#define ANDON_HARNESS_H

#include <hiredis.h>
#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#define H_ACCOUNT "123456789012"
#define H_REGION  "us-east-1"

#define H_MAX_WORKERS 4
#define H_MAX_TOOLS   8

/*
 * ANDON_REDIS=cluster: the harness starts a Redis Cluster of 3 primaries and 3 replicas (cluster-node-timeout
 * 1000 ms; ANDON_REDIS=cluster3: the 3 primaries alone) instead of one Redis, workers get redis.cluster, and
 * h_redis() follows MOVED and ASK (commands of one key; h_redis_ctx() is one node's connection and serves
 * single-Redis tests only).
 */
#define H_CLUSTER_NODES 6
/** 1 in cluster mode. */
int h_redis_cluster(void);
/** The seed list workers get: "127.0.0.1:P,..." of the three nodes created as primaries. */
const char *h_redis_cluster_seeds(void);
/** The port and pid of cluster node i (0..5; 0-2 were created as primaries). */
int h_redis_cluster_port(int i);
pid_t h_redis_cluster_pid(int i);
/** A command on cluster node i itself (no redirection); NULL when it cannot be reached. */
redisReply *h_redis_node(int i, const char *fmt, ...);
/** SIGKILLs cluster node i. */
void h_redis_cluster_kill(int i);
/** Starts cluster node i again on its data and nodes file (a killed primary comes back as a replica). */
void h_redis_cluster_restart(int i);

/**
 * Sentinel: starts a replica of the harness's Redis and three sentinels that watch it as "mymaster"
 * (down-after 1000 ms, quorum 2); returns the sentinel list for redis.sentinels. Stopped by h_stop().
 */
const char *h_sentinel_start(void);
/** The port the sentinels name as mymaster's primary now, or -1. */
int h_sentinel_primary(void);
int h_sentinel_replica_port(void);
/** Points h_redis() and h_redis_ctx() at the Redis on port (the new primary after a failover);
 * h_redis_start() then starts a Redis there. */
void h_redis_use(int port);

/** Starts redis-server and andon-devkafka and the harness's own Kafka clients. Aborts on failure. */
void h_start(void);
/** Stops the worker (if running), the broker and Redis and removes the temp dir. */
void h_stop(void);

const char *h_brokers(void);
int h_redis_port(void);

/** A test group's setup: h_start() then h_worker_start(opts). Returns 0 (cmocka group setup shape). */
int h_group_setup(const char *const *opts);
/** A test group's teardown: stops the worker, requiring exit status 0, then h_stop(). 0 or -1. */
int h_group_teardown(void);

/** The same two with cmocka's group signature, for tests that need nothing more. */
int h_group_setup_cmocka(void **state);
int h_group_teardown_cmocka(void **state);

/** Spawns a worker (up to H_MAX_WORKERS, one consumer group) with extra "-o key=value" settings
 * (NULL-terminated, may be NULL), waits until it owns partitions and a probe request is answered.
 * Returns its pid. */
pid_t h_worker_start(const char *const *opts);
/** Starts a worker for a benchmark: first (may be NULL), then the settings ANDON_BENCH_OPTS="k=v ..." names.
 */
pid_t h_worker_start_bench(const char *first);
/** The same without waiting for anything: returns the new worker's pid at once. */
pid_t h_worker_spawn(const char *const *opts);
/** Waits up to timeout_ms for worker pid to exit and frees its slot: its wait status, or -1 while it runs. */
int h_worker_wait(pid_t pid, int timeout_ms);
/** The program the next workers run: path, or NULL for ANDON_BIN/andon-worker (the default). */
void h_worker_program(const char *path);
/** A settings file the next workers read first (-c path, before every other setting); NULL: none. */
void h_worker_config(const char *path);
/** The test's temp dir (removed by h_stop), for files of its own. */
const char *h_dir(void);
/** The test build of the worker, with test-only ops such as Test.Crash (ANDON_TEST_WORKER). */
const char *h_test_worker(void);
/** The log file of worker pid (its output), or NULL. */
const char *h_worker_log(pid_t pid);
/** SIGTERM to every worker, then waits (deadline 60 s each); 0 when all exited with status 0. */
int h_worker_stop(void);
/** SIGKILL every worker, or one, and reap. */
void h_worker_kill(void);
void h_worker_kill_pid(pid_t pid);

/** Spawns the project's program name (from ANDON_BIN) with args (NULL-terminated), its output in the temp
 * dir's <name>-<n>.log; killed by h_stop. Returns its pid. */
pid_t h_tool_start(const char *name, const char *const *args);
/** SIGTERM to a tool and reap it: its exit status, or -1 when it had to be killed. */
int h_tool_stop(pid_t pid);

/** Shuts Redis down (AOF flushed) and starts it again on the same port and directory. */
void h_redis_stop(void);
void h_redis_start(void);
/** SIGKILL Redis (no AOF flush beyond what its appendfsync policy already did) and reap it. */
void h_redis_kill(void);
/** The appendfsync policy of Redis (default "everysec"); set it before h_start() or h_redis_start(). */
void h_redis_appendfsync(const char *policy);

/** The harness's own Redis connection (for pipelining in benchmarks). */
redisContext *h_redis_ctx(void);

/** A synchronous command on the harness's own Redis connection; the caller frees the reply. */
redisReply *h_redis(const char *fmt, ...);

/** Produces raw bytes to topic (key may be NULL) and waits for the broker's acknowledgement. */
void h_produce_raw(const char *topic, const char *key, const void *buf, size_t len);

/**
 * Produces value buf[0..len) with key[0..key_len) and the headers hdrs (NULL: none; owned by the message
 * once produced) and Kafka timestamp ts_ms (0: now), and waits for the acknowledgement.
 */
struct rd_kafka_headers_s;
void h_produce_msg(const char *topic, const void *key, size_t key_len, const void *buf, size_t len,
		   struct rd_kafka_headers_s *hdrs, long long ts_ms);

/** Produces a request {v:1, op, id, account?, body} (body is stolen) without waiting; id may be NULL for a
 * fresh one. Returns the request id (owned by the harness until h_stop). */
const char *h_send(const char *op, const char *id, const char *account, json_t *body);
/** h_send (default account) with the Kafka timestamp ts_ms (epoch ms; 0: now), as an old request or a replay
 * keeping its original's timestamp would carry. */
const char *h_send_at(const char *op, const char *id, json_t *body, long long ts_ms);
/** h_send with the given Kafka key (NULL: as h_send chooses). */
const char *h_send_key(const char *op, const char *id, const char *key, json_t *body);
/** Produces many requests at once; flushes once at the end. */
void h_flush(void);

/** The n-th (1-based) reply with this id, waiting up to timeout_ms; NULL on timeout. Borrowed. */
json_t *h_reply(const char *id, int n, int timeout_ms);
/** h_send + h_reply(id, 1, 20 s); fails the test when no reply comes. Borrowed. */
json_t *h_call(const char *op, json_t *body);
/** The same with a given id and account. */
json_t *h_call_as(const char *op, const char *id, const char *account, json_t *body);

/** Number of replies seen so far with this id (after pumping what is waiting). */
size_t h_reply_count(const char *id);

/** Events seen so far whose resource is res, as a new array the caller decrefs. */
json_t *h_events(const char *resource);
/** Waits until at least n events for resource were seen. Returns 0, or -1 on timeout. */
int h_wait_events(const char *resource, size_t n, int timeout_ms);

/** DLQ records seen so far (borrowed array of {topic, partition, offset, key, value}). */
json_t *h_dlq(void);
/** Waits until at least n DLQ records were seen. Returns 0, or -1 on timeout. */
int h_wait_dlq(size_t n, int timeout_ms);

/** Reads topic from its beginning, from the moment it exists (on the dev broker: creates it with 4
 * partitions, as a first produce would; a real cluster creates no topic on first use). */
void h_watch(const char *topic);
/** Creates topic with partitions (the broker's default replication) unless it exists. */
void h_topic_create(const char *topic, int partitions);
/** Messages seen so far on a watched topic: borrowed array of {key, value}. */
json_t *h_topic(const char *topic);
/** Waits until at least n messages were seen on a watched topic. Returns 0, or -1 on timeout. */
int h_wait_topic(const char *topic, size_t n, int timeout_ms);

/** Messages read so far (any topic) holding a str that is not valid UTF-8; h_group_teardown fails on any. */
size_t h_bad_text(void);

/** Consumes what is waiting on the reply, event and DLQ topics for up to timeout_ms. */
void h_pump(int timeout_ms);

/* Step Functions helpers over the harness. */
char *h_sfn_machine(const char *name, const char *type); /* creates; returns the ARN (caller frees) */
/** Starts execution name; returns its ARN (caller frees). */
char *h_sfn_start(const char *sm_arn, const char *name);
/** Starts n executions "<prefix>-<i>" in one burst; returns their ARNs (caller frees each and the array). */
char **h_sfn_start_many(const char *sm_arn, const char *prefix, int n);

/** Monotonic milliseconds. */
long long h_now_ms(void);

/** Sleeps ms milliseconds: for pacing load and spacing faults, never for waiting on a result. */
void h_sleep_ms(int ms);

#endif
