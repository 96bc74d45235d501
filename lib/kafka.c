/* kafka: small helpers around librdkafka shared by the worker and the tools (configuration, metadata). */
#include "kafka.h"

#include "conf.h"
#include "log.h"
#include "util.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

void andon_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	/* Programs give their -X settings to both clients, so a producer ignoring consumer properties is
	 * expected, not a warning. */
	if (rd_kafka_type(rk) == RD_KAFKA_PRODUCER && strcmp(fac, "CONFWARN") == 0)
		level = 7;
	/* Syslog levels: 0-3 errors, 4 warnings, 5-6 info, 7 debug. Each andon_log_write call prints one
	 * whole line, even from librdkafka's threads. */
	andon_log(level <= 3   ? ANDON_LOG_ERROR
		  : level == 4 ? ANDON_LOG_WARN
		  : level <= 6 ? ANDON_LOG_INFO
			       : ANDON_LOG_DEBUG,
		  "rdkafka %s: %s", fac, buf);
}

int andon_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *errstr,
			 size_t errstr_size)
{
	return rd_kafka_conf_set(conf, key, value, errstr, errstr_size) == RD_KAFKA_CONF_OK ? 0 : -1;
}

int andon_kafka_conf_set_pairs(rd_kafka_conf_t *conf, const char *const *pairs, char *errstr,
			       size_t errstr_size)
{
	for (const char *const *p = pairs; p != NULL && p[0] != NULL; p += 2)
		if (andon_kafka_conf_set(conf, p[0], p[1], errstr, errstr_size) != 0)
			return -1;
	return 0;
}

int andon_kafka_conf_kv(rd_kafka_conf_t *conf, const char *kv, char *errstr, size_t errstr_size)
{
	char buf[4096], key[256];
	const char *value;

	if (strlen(kv) >= sizeof(buf))
		return andon_fail(errstr, errstr_size, "property too long");
	memcpy(buf, kv, strlen(kv) + 1);
	if (andon_conf_split(buf, key, sizeof(key), &value) != 0)
		return andon_fail(errstr, errstr_size, "expected key=value, got \"%s\"", kv);
	return andon_kafka_conf_set(conf, key, value, errstr, errstr_size);
}

int andon_kafka_conf_has_brokers(const rd_kafka_conf_t *conf)
{
	char brokers[1024];
	size_t size = sizeof(brokers);

	return rd_kafka_conf_get(conf, "bootstrap.servers", brokers, &size) == RD_KAFKA_CONF_OK &&
	       brokers[0] != '\0';
}

/* The -F file's lines go to librdkafka one by one; opaque is the rd_kafka_conf_t. */
static int conf_file_line(void *opaque, const char *key, const char *value, char *errstr, size_t errstr_size)
{
	return andon_kafka_conf_set(opaque, key, value, errstr, errstr_size);
}

int andon_kafka_conf_file(rd_kafka_conf_t *conf, const char *path, char *errstr, size_t errstr_size)
{
	return andon_conf_read_file(path, conf_file_line, conf, errstr, errstr_size);
}

int andon_kafka_conf_arg(rd_kafka_conf_t *conf, int flag, const char *arg, char *errstr, size_t errstr_size)
{
	switch (flag) {
	case 'b':
		return andon_kafka_conf_set(conf, "bootstrap.servers", arg, errstr, errstr_size);
	case 'X':
		return andon_kafka_conf_kv(conf, arg, errstr, errstr_size);
	case 'F':
		return andon_kafka_conf_file(conf, arg, errstr, errstr_size);
	default:
		assert(!"andon_kafka_conf_arg: flag is not b, X or F");
		return andon_fail(errstr, errstr_size, "unknown Kafka flag -%c", flag);
	}
}

int andon_kafka_conf_args(rd_kafka_conf_t *conf, const andon_kafka_arg_t *args, int nargs, char *errstr,
			  size_t errstr_size)
{
	for (int i = 0; i < nargs; i++)
		if (andon_kafka_conf_arg(conf, args[i].flag, args[i].arg, errstr, errstr_size) != 0)
			return -1;
	return 0;
}

rd_kafka_t *andon_kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *errstr, size_t errstr_size)
{
	rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, errstr_size);

	if (rk == NULL)
		rd_kafka_conf_destroy(conf); /* rd_kafka_new takes conf only when it succeeds */
	return rk;
}

void andon_kafka_consumer_close(rd_kafka_t *rk)
{
	if (rk == NULL)
		return;
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
}

void andon_kafka_producer_close(rd_kafka_t *rk, int timeout_ms, int level)
{
	if (rk == NULL)
		return;
	rd_kafka_flush(rk, timeout_ms);
	if (rd_kafka_outq_len(rk) > 0) {
		andon_log(level, "%d message(s) still queued; dropping them", rd_kafka_outq_len(rk));
		rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		rd_kafka_poll(rk, 0);
	}
	rd_kafka_destroy(rk);
}

int andon_kafka_partitions(rd_kafka_t *rk, const char *topic, const char *what, int timeout_ms, int32_t **ids,
			   char *errstr, size_t errstr_size)
{
	const struct rd_kafka_metadata *md;
	const struct rd_kafka_metadata_topic *mt = NULL;
	rd_kafka_resp_err_t err;
	int n = -1;

	if ((err = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms)) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return andon_fail(errstr, errstr_size, "metadata: %s", rd_kafka_err2str(err));
	for (int i = 0; i < md->topic_cnt && mt == NULL; i++)
		if (strcmp(md->topics[i].topic, topic) == 0)
			mt = &md->topics[i];
	if (mt == NULL || mt->err != RD_KAFKA_RESP_ERR_NO_ERROR || mt->partition_cnt == 0) {
		andon_fail(errstr, errstr_size, "%s %s: %s", what != NULL ? what : "topic", topic,
			   mt == NULL ? "not found" : rd_kafka_err2str(mt->err));
	} else if ((*ids = calloc((size_t)mt->partition_cnt, sizeof(**ids))) == NULL) {
		andon_fail(errstr, errstr_size, "out of memory");
	} else {
		for (n = 0; n < mt->partition_cnt; n++)
			(*ids)[n] = mt->partitions[n].id;
	}
	rd_kafka_metadata_destroy(md);
	return n;
}

int andon_kafka_watermarks(rd_kafka_t *rk, const char *topic, int32_t partition, int timeout_ms, int64_t *lo,
			   int64_t *hi, char *errstr, size_t errstr_size)
{
	rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, topic, partition, lo, hi, timeout_ms);

	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		return andon_fail(errstr, errstr_size, "watermarks of %s [%d]: %s", topic, (int)partition,
				  rd_kafka_err2str(err));
	return 0;
}

int andon_kafka_warm_topic(rd_kafka_t *rk, const char *topic, const char *what, int timeout_ms, char *errstr,
			   size_t errstr_size)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t err;
	int rc = 0;

	if (rkt == NULL)
		return andon_fail(errstr, errstr_size, "topic %s: %s", topic,
				  rd_kafka_err2str(rd_kafka_last_error()));
	/* Only this topic: a producer may create it, as producing to it would. */
	err = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		rc = andon_fail(errstr, errstr_size, "metadata for %s: %s", topic, rd_kafka_err2str(err));
	} else {
		if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR)
			rc = andon_fail(
			    errstr, errstr_size, "%s %s: %s", what != NULL ? what : "topic", topic,
			    rd_kafka_err2str(md->topic_cnt == 1 ? md->topics[0].err
								: RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART));
		rd_kafka_metadata_destroy(md);
	}
	rd_kafka_topic_destroy(rkt);
	return rc;
}
