/* kafka: small helpers around librdkafka shared by the worker and the tools (configuration, metadata). */
#ifndef ANDON_KAFKA_H
#define ANDON_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

/**
 * A log callback for rd_kafka_conf_set_log_cb() that forwards librdkafka's lines to andon_log as
 * "rdkafka FACILITY: message". Syslog levels 0-3 become errors, 4 warnings, anything else info:
 * librdkafka logs at debug level only for the contexts asked for with -X debug=..., so those are shown.
 */
void andon_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

/** Sets one property on conf. Returns 0, or -1 with librdkafka's reason in errstr. */
int andon_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *errstr,
			 size_t errstr_size);

/**
 * Sets the properties of pairs, a NULL-terminated list of key, value, key, value... (may be NULL: nothing
 * to set), in order. Returns 0, or -1 at the first one librdkafka refuses, with its reason in errstr.
 */
int andon_kafka_conf_set_pairs(rd_kafka_conf_t *conf, const char *const *pairs, char *errstr,
			       size_t errstr_size);

/** Sets "key=value" (kcat's -X form) on conf. Returns 0, or -1 with librdkafka's reason in errstr. */
int andon_kafka_conf_kv(rd_kafka_conf_t *conf, const char *kv, char *errstr, size_t errstr_size);

/**
 * Reads a kcat -F style file (one key=value a line, '#' comments) into conf. Returns 0, or -1 with
 * "path:line: reason" in errstr.
 */
int andon_kafka_conf_file(rd_kafka_conf_t *conf, const char *path, char *errstr, size_t errstr_size);

/** One of the tools' Kafka command-line arguments, kept so several handles get them in the same order. */
typedef struct andon_kafka_arg {
	int flag;	 /* 'b' (bootstrap servers), 'X' (key=value) or 'F' (file of key=value lines) */
	const char *arg; /* the argument as given; borrowed (usually from argv) */
} andon_kafka_arg_t;

/**
 * Applies one -b BROKERS, -X KEY=VALUE or -F FILE argument (flag 'b', 'X' or 'F'; any other flag is a
 * bug) to conf. Returns 0, or -1 with the reason in errstr.
 */
int andon_kafka_conf_arg(rd_kafka_conf_t *conf, int flag, const char *arg, char *errstr, size_t errstr_size);

/**
 * Applies args[0..nargs) with andon_kafka_conf_arg() in order, so a later argument overrides an earlier
 * one. args may be NULL when nargs is 0. Returns 0, or -1 at the first failure with its reason in errstr.
 */
int andon_kafka_conf_args(rd_kafka_conf_t *conf, const andon_kafka_arg_t *args, int nargs, char *errstr,
			  size_t errstr_size);

/** 1 when conf has a non-empty bootstrap.servers (of at most 1023 bytes), else 0. */
int andon_kafka_conf_has_brokers(const rd_kafka_conf_t *conf);

/**
 * rd_kafka_new() that always takes conf: on success it is owned by the handle, on failure it is destroyed.
 * Returns the handle, or NULL with librdkafka's reason in errstr.
 */
rd_kafka_t *andon_kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *errstr, size_t errstr_size);

/** Closes a consumer (leaving its group, if it joined one), then destroys it. rk may be NULL. */
void andon_kafka_consumer_close(rd_kafka_t *rk);

/**
 * Shuts a producer down: waits up to timeout_ms for its queue to drain; if messages are still queued,
 * logs how many at the andon_log level given and purges them, serving their delivery reports so the
 * application sees them fail; then destroys rk. rk may be NULL.
 */
void andon_kafka_producer_close(rd_kafka_t *rk, int timeout_ms, int level);

/**
 * The partition ids of topic, from one metadata request for all topics (asking for one topic by name
 * could auto-create it on some clusters) that may take up to timeout_ms. On success *ids is set to a
 * malloc'd array the caller frees and the count (>= 1) is returned. Returns -1 with "metadata: reason"
 * or "WHAT TOPIC: not found|reason" in errstr, where what names the topic's role in the message ("reply
 * topic"; NULL means "topic"); a topic with no partitions is an error.
 */
int andon_kafka_partitions(rd_kafka_t *rk, const char *topic, const char *what, int timeout_ms, int32_t **ids,
			   char *errstr, size_t errstr_size);

/**
 * Asks the partition's leader for its low watermark (*lo, the oldest offset still stored) and high
 * watermark (*hi, the offset the next message will get), waiting up to timeout_ms. Returns 0, or -1 with
 * "watermarks of TOPIC [PARTITION]: reason" in errstr (*lo and *hi are then undefined).
 */
int andon_kafka_watermarks(rd_kafka_t *rk, const char *topic, int32_t partition, int timeout_ms, int64_t *lo,
			   int64_t *hi, char *errstr, size_t errstr_size);

/**
 * The pre-produce step: fetches the metadata of the topic a producer is about to write, waiting up to
 * timeout_ms. A fresh producer otherwise learns a new topic's partitions only from librdkafka's 1 s topic
 * scan, so the first message would wait about a second; this also fails early on a topic that cannot be
 * written. Returns 0, or -1 with "topic T: reason", "metadata for T: reason" or "WHAT T: reason" in
 * errstr, where what names the topic's role ("destination"; NULL means "topic").
 */
int andon_kafka_warm_topic(rd_kafka_t *rk, const char *topic, const char *what, int timeout_ms, char *errstr,
			   size_t errstr_size);

#endif
