/*
 * harness-stream: a steady request stream for fault tests, run beside the test's own thread so the test
 * can kill workers, brokers or Redis while requests keep coming. Each execution i of the stream gets a
 * StartExecution and then a StopExecution, both keyed by the execution's ARN (one partition, in order),
 * through Kafka only. A reader thread records every reply. hf_stream_finish() then checks the outcome:
 * every request answered, duplicates identical and ok, every execution ABORTED in Redis with exactly two
 * history events (started, aborted): nothing lost, nothing applied twice, nothing contradicting.
 */
#ifndef ANDON_HARNESS_STREAM_H
#define ANDON_HARNESS_STREAM_H

#include <stddef.h>
#include <sys/types.h>

typedef struct hf_stream hf_stream_t;

/** What a stream's outcome was (hf_stream_finish()). */
typedef struct hf_report {
	size_t executions;     /* executions the stream started */
	size_t requests;       /* requests sent (two per execution) */
	size_t answered;       /* requests with at least one reply */
	size_t answered_twice; /* requests with more than one reply (replays: allowed) */
	size_t lost;	       /* requests never answered, or executions whose change is missing */
	size_t applied_twice;  /* executions with more than two history events */
	size_t contradictions; /* error replies, differing duplicates, wrong final state */
} hf_report_t;

/**
 * Creates state machine name (through the harness), then starts sending rate requests per second (pairs:
 * a start and a stop of a new execution) until hf_stream_stop() or max_requests were sent. The stream's
 * own producer and consumer connect to h_brokers(). Aborts the test on failure.
 */
hf_stream_t *hf_stream_start(const char *name, int rate, size_t max_requests);

/** Stops sending (what was sent is still answered and checked). */
void hf_stream_stop(hf_stream_t *s);

/** Requests sent so far; requests answered so far. */
size_t hf_stream_sent(hf_stream_t *s);
size_t hf_stream_answered(hf_stream_t *s);

/**
 * Recovery after a fault at t_ms (h_now_ms() time): for every partition of the request topic, the first
 * request sent to it at or after t_ms (within 2 s) must be answered; returns how long after t_ms the last
 * of those answers came (kill to next answer, on every partition), or -1 when that took over timeout_ms.
 */
long long hf_stream_recovery(hf_stream_t *s, long long t_ms, int timeout_ms);

/**
 * Stops sending, waits up to timeout_ms for every request to be answered, lets late duplicates arrive,
 * checks every execution in Redis and fills rep. Prints "name: requests N, answered ..., lost L, applied
 * twice A, contradictions C". Returns 0 when lost, applied_twice and contradictions are all 0.
 */
int hf_stream_finish(hf_stream_t *s, int timeout_ms, hf_report_t *rep);

/** Frees the stream (stops its threads first). s may be NULL. */
void hf_stream_free(hf_stream_t *s);

/** Prints "label: n, min/median/max ms" for the recovery times in ms[0..n). */
void hf_print_times(const char *label, const long long *ms, size_t n);

/**
 * Spawns a worker without waiting for it (a harness tool: h_tool_stop() stops it, h_stop() kills it),
 * with the settings h_worker_start() gives, worker.instance_id=instance_id unless that is NULL, then the
 * "-o key=value" settings of opts (NULL-terminated, may be NULL). Returns its pid.
 */
pid_t hf_worker_spawn(const char *instance_id, const char *const *opts);
/** SIGKILL a worker spawned by hf_worker_spawn() and reap it. */
void hf_worker_kill(pid_t pid);

struct CMUnitTest;

/**
 * A fault test's main: on the development broker (ANDON_KAFKA=dev) it only says it skips and returns 0;
 * else it runs tests[0..n) as one cmocka group named name, with before() (may be NULL: the run's shared
 * broker) then h_start() as its setup and h_stop() as its teardown. Returns cmocka's count of failures.
 */
int hf_run(const char *name, const struct CMUnitTest *tests, size_t n, void (*before)(void));

#endif
