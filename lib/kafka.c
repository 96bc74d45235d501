/* kafka: small helpers around librdkafka configuration shared by the worker and the tools. */
#include "kafka.h"

#include "conf.h"
#include "util.h"

#include <string.h>

static int set_one(rd_kafka_conf_t *conf, const char *key, const char *value, char *errstr, size_t errstr_size)
{
	if (rd_kafka_conf_set(conf, key, value, errstr, errstr_size) != RD_KAFKA_CONF_OK)
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
	return set_one(conf, key, value, errstr, errstr_size);
}

static int file_line(void *opaque, const char *key, const char *value, char *errstr, size_t errstr_size)
{
	return set_one(opaque, key, value, errstr, errstr_size);
}

int andon_kafka_conf_file(rd_kafka_conf_t *conf, const char *path, char *errstr, size_t errstr_size)
{
	return andon_conf_read_file(path, file_line, conf, errstr, errstr_size);
}
