/*
 * harness-kafka: the broker under an integration test. By default a real Apache Kafka (scripts/kafka.sh):
 *   - the one shared by a whole `make test` run, when tests/run-integration.sh exported ANDON_BROKERS: each
 *     binary starts by deleting every topic the previous one left, and its workers get a consumer group of
 *     their own, so binaries never see each other's messages, offsets or members;
 *   - a private cluster of 1 or 3 nodes (hk_use_own()), for tests that kill brokers, or when the binary
 *     is run by hand without ANDON_BROKERS;
 *   - andon-devkafka (librdkafka's mock cluster) with ANDON_KAFKA=dev, or for a test that calls
 *     hk_use_dev() because the mock's fault injection is its point.
 * The broker is a real one unless hk_is_dev(). Real clusters never create topics on first use.
 */
#ifndef ANDON_HARNESS_KAFKA_H
#define ANDON_HARNESS_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

/** Before h_start(): this binary gets a private real cluster of nodes (1 or 3) that it may kill. Returns
 * 0, or -1 when the run is on the development broker (ANDON_KAFKA=dev): the test should skip. */
int hk_use_own(int nodes);
/** Before h_start(): this binary runs on andon-devkafka whatever the run's broker. */
void hk_use_dev(void);

/** 1 when the broker is andon-devkafka. */
int hk_is_dev(void);

/** Starts or attaches the broker for h_start(): dir is the test's temp dir, bin ANDON_BIN. Writes the
 * bootstrap list to brokers. Aborts the test on failure. */
void hk_start(const char *dir, const char *bin, char *brokers, size_t size);
/** Stops what hk_start() started (the shared broker stays up). */
void hk_stop(void);

/** Makes the broker ready for a new test binary: on the shared broker deletes every topic left behind;
 * then creates the Andon topics the harness reads (replies, events: 4 partitions; dlq: 1; requests: 4).
 * rk is the harness's producer. */
void hk_prepare(rd_kafka_t *rk);

/** Appends the broker-specific worker arguments ("-X k=v", "-o k=v" pairs) to argv at *argc (at most 8
 * entries). */
void hk_worker_args(char **argv, int *argc);
/** Properties for the harness's own consumer: NULL-terminated key, value pairs. */
const char *const *hk_consumer_props(void);

/** Creates topic with partitions (replication: the cluster's default) unless it exists; waits until the
 * metadata shows it (the mock: asks for its metadata, which creates it). Aborts the test on failure. */
void hk_create_topic(rd_kafka_t *rk, const char *topic, int partitions);

/** The partition ids of topic (a malloc'd array in *ids; returns the count), asking again for up to 30 s
 * while it is not found: on several nodes a new topic reaches each node's metadata at its own moment.
 * Aborts the test when it never shows. */
int hk_partitions(rd_kafka_t *rk, const char *topic, int32_t **ids);

/** 1 when topic exists (one metadata request); -1 when the metadata request failed. */
int hk_topic_exists(rd_kafka_t *rk, const char *topic);

/** Own cluster only: SIGKILL node n (1-based) and wait until it is gone. */
void hk_node_kill(int n);
/** Own cluster only: starts node n again (same config and data) and waits until it serves metadata. */
void hk_node_start(int n);
/** The node id that leads topic/partition, or -1 when none does (or the metadata request failed). */
int hk_leader(const char *topic, int partition);
/** How topic is laid out: its partition count, the fewest replicas of any partition, and its
 * min.insync.replicas setting (into min_isr). 0, or -1 when the topic is unknown. */
int hk_describe_topic(const char *topic, int *partitions, int *replicas, char *min_isr, size_t size);
/** Node count of the broker (1 for the shared and dev brokers). */
int hk_nodes(void);

#endif
