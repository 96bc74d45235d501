/* config: the worker's settings, one table row per option (config/andon.conf documents each). */
#include "config.h"

#include "conf.h"
#include "log.h"
#include "util.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum opt_type { OPT_INT, OPT_STR, OPT_LOGLEVEL, OPT_LOGFORMAT, OPT_EOS, OPT_DURATION, OPT_AUTH };

typedef struct opt {
	const char *name;
	enum opt_type type;
	size_t offset;
	size_t size;	    /* OPT_STR: buffer size */
	long long min, max; /* OPT_INT bounds */
	const char *def;
	int reload; /* 1: a reload (SIGHUP) applies a new value; 0: it needs a restart */
} opt_t;

#define INT_OPT(name, field, min, max, def)                                                                  \
	{                                                                                                    \
		name, OPT_INT, offsetof(andon_config_t, field), 0, min, max, def, 0                          \
	}
/* An integer option that a reload changes. */
#define INT_HOT(name, field, min, max, def)                                                                  \
	{                                                                                                    \
		name, OPT_INT, offsetof(andon_config_t, field), 0, min, max, def, 1                          \
	}
#define STR_OPT(name, field, def)                                                                            \
	{                                                                                                    \
		name, OPT_STR, offsetof(andon_config_t, field), sizeof(((andon_config_t *)0)->field), 0, 0,  \
		    def, 0                                                                                   \
	}

/* A duration option (andon_config_duration), stored in seconds; min and max in seconds. A reload applies it.
 */
#define DUR_HOT(name, field, min, max, def)                                                                  \
	{                                                                                                    \
		name, OPT_DURATION, offsetof(andon_config_t, field), 0, min, max, def, 1                     \
	}

#define DAY 86400LL

static const opt_t opts[] = {
    STR_OPT("redis.host", redis_host, "127.0.0.1"),
    INT_OPT("redis.port", redis_port, 1, 65535, "6379"),
    STR_OPT("redis.unix", redis_unix, ""),
    STR_OPT("redis.username", redis_username, ""),
    STR_OPT("redis.password", redis_password, ""),
    INT_OPT("redis.db", redis_db, 0, 1000000, "0"),
    INT_OPT("redis.timeout_ms", redis_timeout_ms, 10, 600000, "5000"),
    STR_OPT("redis.cluster", redis_cluster, ""),
    STR_OPT("redis.sentinels", redis_sentinels, ""),
    STR_OPT("redis.sentinel_master", redis_sentinel_master, "mymaster"),
    INT_OPT("redis.wait_replicas", redis_wait_replicas, 0, 100, "0"),
    INT_OPT("redis.wait_timeout_ms", redis_wait_timeout_ms, 1, 600000, "1000"),
    STR_OPT("worker.topic.requests", topic_requests, "andon.requests"),
    STR_OPT("worker.topic.replies", topic_replies, "andon.replies"),
    STR_OPT("worker.topic.events", topic_events, "andon.events"),
    STR_OPT("worker.topic.dlq", topic_dlq, "andon.dlq"),
    INT_OPT("worker.batch_size", batch_size, 1, 100000, "1000"),
    INT_OPT("worker.inflight_max", inflight_max, 1, 10000000, "20000"),
    /* Below librdkafka's message.max.bytes (1000000), so a DLQ record holding the request still fits. */
    INT_HOT("worker.max_message_bytes", max_message_bytes, 64, 64 * 1024 * 1024, "524288"),
    INT_HOT("worker.max_depth", max_depth, 2, 32, "32"), /* msgpack-c nests 32 deep at most */
    INT_HOT("worker.poll_ms", poll_ms, 1, 10000, "100"),
    INT_HOT("worker.tick_ms", tick_ms, 1, 10000, "100"),
    INT_OPT("worker.timer_batch", timer_batch, 1, 10000, "200"),
    INT_HOT("worker.timer_lease_ms", timer_lease_ms, 1000, 3600000, "30000"),
    INT_HOT("worker.shutdown_timeout_ms", shutdown_timeout_ms, 0, 3600000, "30000"),
    {"worker.log_level", OPT_LOGLEVEL, offsetof(andon_config_t, log_level), 0, 0, 0, "info", 1},
    {"worker.log_format", OPT_LOGFORMAT, offsetof(andon_config_t, log_format), 0, 0, 0, "text", 1},
    INT_HOT("worker.stats_interval_ms", stats_interval_ms, 0, 86400000, "10000"),
    INT_OPT("worker.quarantine_after", quarantine_after, 0, 1000, "2"),
    STR_OPT("worker.region", region, "us-east-1"),
    STR_OPT("worker.default_account", default_account, "123456789012"),
    INT_OPT("worker.legacy_topic_names", legacy_topic_names, 0, 1, "0"),
    INT_HOT("worker.request_id_ttl", request_id_ttl, 60, 31536000, "604800"),
    STR_OPT("worker.instance_id", instance_id, ""),
    STR_OPT("worker.http_listen", http_listen, ""),
    INT_HOT("worker.health_stall_ms", health_stall_ms, 100, 3600000, "60000"),
    INT_HOT("worker.metrics_scan_ms", metrics_scan_ms, 100, 3600000, "5000"),
    {"worker.exactly_once", OPT_EOS, offsetof(andon_config_t, exactly_once), 0, 0, 0, "auto", 0},
    STR_OPT("worker.transactional_id", transactional_id, ""),
    INT_OPT("worker.transaction_ms", transaction_ms, 0, 60000, "10"),
    INT_OPT("topics.create", topics_create, 0, 1, "1"),
    INT_OPT("topics.partitions", topics_partitions, -1, 100000, "4"),
    INT_OPT("topics.replication_factor", topics_replication_factor, -1, 1000, "-1"),
    INT_OPT("topics.min_insync_replicas", topics_min_insync_replicas, 0, 1000, "0"),
    /* Deadlines spread over this many keys; a restart-only setting (docs/REDIS.md, durable timers). */
    INT_OPT("worker.timer_shards", timer_shards, 1, 1024, "16"),
    /* Closed executions expire after these (docs/REDIS.md, Lifetime); requests older are RequestExpired. */
    DUR_HOT("retention.stepfunctions", retention_sfn, 1, 3650 * DAY, "90d"),
    DUR_HOT("retention.sagemaker", retention_sagemaker, 1, 3650 * DAY, "30d"),
    DUR_HOT("retention.cloudflow", retention_cloudflow, 1, 3650 * DAY, "90d"),
    DUR_HOT("retention.swf", retention_swf, 1, 3650 * DAY, "90d"),
    INT_HOT("cloudflow.rate", cloudflow_rate, 0, 1000000, "0"),
    INT_HOT("cloudflow.burst", cloudflow_burst, 0, 1000000, "0"),
    INT_HOT("cloudflow.account_rate", cloudflow_account_rate, 0, 1000000, "0"),
    INT_HOT("cloudflow.account_burst", cloudflow_account_burst, 0, 1000000, "0"),
    {"security.auth", OPT_AUTH, offsetof(andon_config_t, auth), 0, 0, 0, "off", 0},
    STR_OPT("security.master_key_file", master_key_file, ""),
    INT_HOT("security.key_cache_ms", key_cache_ms, 0, 60000, "1000"),
    INT_HOT("security.max_request_age", max_request_age_s, 0, 315360000, "0"),
    INT_HOT("kms.rate", kms_rate, 0, 1000000, "0"),
};

int andon_config_duration(const char *s, long long *secs)
{
	static const struct {
		char unit;
		long long secs;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', DAY}};
	char num[24];
	size_t n = strlen(s);
	long long v;

	if (n < 2 || n - 1 >= sizeof(num))
		return -1;
	memcpy(num, s, n - 1);
	num[n - 1] = '\0';
	/* andon_parse_ll refuses signs, spaces and trailing text; the bound keeps v * unit in range. */
	if (andon_parse_ll(num, 0, 100LL * 365 * DAY, &v) != 0)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (s[n - 1] == units[i].unit) {
			*secs = v * units[i].secs;
			return 0;
		}
	}
	return -1;
}

static const opt_t *find(const char *name)
{
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (strcmp(opts[i].name, name) == 0)
			return &opts[i];
	return NULL;
}

static int set_opt(andon_config_t *cfg, const opt_t *o, const char *value, char *errstr, size_t errstr_size)
{
	char *field = (char *)cfg + o->offset;
	long long v;
	int level;

	switch (o->type) {
	case OPT_DURATION:
		if (andon_config_duration(value, &v) != 0 || v < o->min || v > o->max)
			return andon_fail(
			    errstr, errstr_size,
			    "%s: \"%s\" is not a duration (60s, 15m, 12h, 90d) in [%llds, %llds]", o->name,
			    value, o->min, o->max);
		*(int *)field = (int)v;
		return 0;
	case OPT_INT:
		if (andon_parse_ll(value, o->min, o->max, &v) != 0)
			return andon_fail(errstr, errstr_size, "%s: \"%s\" is not an integer in [%lld, %lld]",
					  o->name, value, o->min, o->max);
		*(int *)field = (int)v;
		return 0;
	case OPT_STR:
		if (strlen(value) >= o->size)
			return andon_fail(errstr, errstr_size, "%s: value longer than %zu bytes", o->name,
					  o->size - 1);
		memcpy(field, value, strlen(value) + 1);
		return 0;
	case OPT_LOGLEVEL:
		if ((level = andon_log_level_parse(value)) < 0)
			return andon_fail(errstr, errstr_size,
					  "%s: \"%s\" is not one of error, warn, info, debug", o->name,
					  value);
		*(int *)field = level;
		return 0;
	case OPT_LOGFORMAT:
		if ((level = andon_log_format_parse(value)) < 0)
			return andon_fail(errstr, errstr_size, "%s: \"%s\" is not one of text, json", o->name,
					  value);
		*(int *)field = level;
		return 0;
	case OPT_EOS:
		if (strcmp(value, "false") == 0)
			*(int *)field = ANDON_EOS_OFF;
		else if (strcmp(value, "true") == 0)
			*(int *)field = ANDON_EOS_ON;
		else if (strcmp(value, "auto") == 0)
			*(int *)field = ANDON_EOS_AUTO;
		else
			return andon_fail(errstr, errstr_size, "%s: \"%s\" is not one of false, true, auto",
					  o->name, value);
		return 0;
	case OPT_AUTH:
		if (strcmp(value, "off") == 0)
			*(int *)field = ANDON_AUTH_OFF;
		else if (strcmp(value, "required") == 0)
			*(int *)field = ANDON_AUTH_REQUIRED;
		else
			return andon_fail(errstr, errstr_size, "%s: \"%s\" is not one of off, required",
					  o->name, value);
		return 0;
	}
	return andon_fail(errstr, errstr_size, "%s: bad option type", o->name);
}

andon_config_t *andon_config_new(void)
{
	andon_config_t *cfg = calloc(1, sizeof(*cfg));
	char err[256];

	if (cfg == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		if (set_opt(cfg, &opts[i], opts[i].def, err, sizeof(err)) != 0) {
			/* A default that does not parse is a bug in the table above. */
			andon_err("config default: %s", err);
			abort();
		}
	}
	return cfg;
}

void andon_config_destroy(andon_config_t *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->kafka_count; i++)
		free(cfg->kafka[i]);
	free(cfg);
}

int andon_config_kafka(andon_config_t *cfg, const char *kv, char *errstr, size_t errstr_size)
{
	if (strchr(kv, '=') == NULL || kv[0] == '=')
		return andon_fail(errstr, errstr_size, "expected key=value, got \"%s\"", kv);
	if (cfg->kafka_count == ANDON_CONFIG_MAX_KAFKA)
		return andon_fail(errstr, errstr_size, "more than %d kafka settings", ANDON_CONFIG_MAX_KAFKA);
	if ((cfg->kafka[cfg->kafka_count] = strdup(kv)) == NULL)
		return andon_fail(errstr, errstr_size, "out of memory");
	cfg->kafka_count++;
	return 0;
}

int andon_config_set(andon_config_t *cfg, const char *key, const char *value, char *errstr,
		     size_t errstr_size)
{
	const opt_t *o;
	char kv[4096];

	if (strncmp(key, "kafka.", 6) == 0) {
		if ((size_t)snprintf(kv, sizeof(kv), "%s=%s", key + 6, value) >= sizeof(kv))
			return andon_fail(errstr, errstr_size, "%s: value too long", key);
		return andon_config_kafka(cfg, kv, errstr, errstr_size);
	}
	if ((o = find(key)) == NULL)
		return andon_fail(errstr, errstr_size, "unknown option \"%s\"", key);
	return set_opt(cfg, o, value, errstr, errstr_size);
}

static int load_line(void *opaque, const char *key, const char *value, char *errstr, size_t errstr_size)
{
	return andon_config_set(opaque, key, value, errstr, errstr_size);
}

int andon_config_load(andon_config_t *cfg, const char *path, char *errstr, size_t errstr_size)
{
	return andon_conf_read_file(path, load_line, cfg, errstr, errstr_size);
}

/* Appends "sep text" to buf[0..size), never past its end. */
static void list_add(char *buf, size_t size, const char *text)
{
	size_t at = strlen(buf);

	if (at < size)
		snprintf(buf + at, size - at, "%s%s", at > 0 ? ", " : "", text);
}

static int kafka_same(const andon_config_t *a, const andon_config_t *b)
{
	if (a->kafka_count != b->kafka_count)
		return 0;
	for (size_t i = 0; i < a->kafka_count; i++)
		if (strcmp(a->kafka[i], b->kafka[i]) != 0)
			return 0;
	return 1;
}

int andon_config_reload(andon_config_t *live, const andon_config_t *fresh, char *applied, size_t applied_size,
			char *kept, size_t kept_size)
{
	int n = 0;

	applied[0] = kept[0] = '\0';
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		const opt_t *o = &opts[i];
		size_t size = o->type == OPT_STR ? o->size : sizeof(int);
		char *to = (char *)live + o->offset, item[320];
		const char *from = (const char *)fresh + o->offset;
		int v;

		if (o->type == OPT_STR ? strcmp(to, from) == 0 : memcmp(to, from, size) == 0)
			continue;
		if (!o->reload) {
			list_add(kept, kept_size, o->name);
			continue;
		}
		memcpy(to, from, size);
		memcpy(&v, from, sizeof(v));
		/* Every reloadable option is a number or a name: none is a secret. */
		if (o->type == OPT_LOGLEVEL)
			snprintf(item, sizeof(item), "%s=%s", o->name, andon_log_level_name(v));
		else if (o->type == OPT_LOGFORMAT)
			snprintf(item, sizeof(item), "%s=%s", o->name, andon_log_format_name(v));
		else if (o->type == OPT_STR)
			snprintf(item, sizeof(item), "%s", o->name);
		else
			snprintf(item, sizeof(item), "%s=%d", o->name, v);
		list_add(applied, applied_size, item);
		n++;
	}
	if (!kafka_same(live, fresh))
		list_add(kept, kept_size, "kafka.*");
	return n;
}
