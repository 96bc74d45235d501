/* kafka: small helpers around librdkafka configuration shared by the worker and the tools. */
#ifndef ANDON_KAFKA_H
#define ANDON_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

/** Sets "key=value" (kcat's -X form) on conf. Returns 0, or -1 with librdkafka's reason in errstr. */
int andon_kafka_conf_kv(rd_kafka_conf_t *conf, const char *kv, char *errstr, size_t errstr_size);

/**
 * Reads a kcat -F style file (one key=value a line, '#' comments) into conf. Returns 0, or -1 with
 * "path:line: reason" in errstr.
 */
int andon_kafka_conf_file(rd_kafka_conf_t *conf, const char *path, char *errstr, size_t errstr_size);

#endif
