/* 0003-config: unit tests for the worker's option table, the key=value file reader and the strict parsers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "config.h"
#include "log.h"
#include "util.h"

#define FIELD_INT(cfg, off) (*(int *)((char *)(cfg) + (off)))
#define FIELD_STR(cfg, off) ((char *)(cfg) + (off))

/* The integer rows of the table in worker/config.c, restated here so that a change to either shows. */
struct int_opt {
	const char *name;
	size_t offset;
	long long min, max, def;
};

static const struct int_opt int_opts[] = {
    {"redis.port", offsetof(andon_config_t, redis_port), 1, 65535, 6379},
    {"redis.db", offsetof(andon_config_t, redis_db), 0, 1000000, 0},
    {"redis.timeout_ms", offsetof(andon_config_t, redis_timeout_ms), 10, 600000, 5000},
    {"redis.wait_replicas", offsetof(andon_config_t, redis_wait_replicas), 0, 100, 0},
    {"redis.wait_timeout_ms", offsetof(andon_config_t, redis_wait_timeout_ms), 1, 600000, 1000},
    {"worker.batch_size", offsetof(andon_config_t, batch_size), 1, 100000, 1000},
    {"worker.inflight_max", offsetof(andon_config_t, inflight_max), 1, 10000000, 20000},
    {"worker.max_message_bytes", offsetof(andon_config_t, max_message_bytes), 64, 64 * 1024 * 1024, 524288},
    {"worker.max_depth", offsetof(andon_config_t, max_depth), 2, 32, 32},
    {"worker.poll_ms", offsetof(andon_config_t, poll_ms), 1, 10000, 100},
    {"worker.tick_ms", offsetof(andon_config_t, tick_ms), 1, 10000, 100},
    {"worker.shutdown_timeout_ms", offsetof(andon_config_t, shutdown_timeout_ms), 0, 3600000, 30000},
    {"worker.stats_interval_ms", offsetof(andon_config_t, stats_interval_ms), 0, 86400000, 10000},
    {"worker.quarantine_after", offsetof(andon_config_t, quarantine_after), 0, 1000, 2},
    {"worker.transaction_ms", offsetof(andon_config_t, transaction_ms), 0, 60000, 10},
    {"topics.create", offsetof(andon_config_t, topics_create), 0, 1, 1},
    {"topics.partitions", offsetof(andon_config_t, topics_partitions), -1, 100000, 4},
    {"topics.replication_factor", offsetof(andon_config_t, topics_replication_factor), -1, 1000, -1},
    {"topics.min_insync_replicas", offsetof(andon_config_t, topics_min_insync_replicas), 0, 1000, 0},
    {"worker.health_stall_ms", offsetof(andon_config_t, health_stall_ms), 100, 3600000, 60000},
    {"worker.metrics_scan_ms", offsetof(andon_config_t, metrics_scan_ms), 100, 3600000, 5000},
    {"worker.timer_shards", offsetof(andon_config_t, timer_shards), 1, 1024, 16},
};

struct str_opt {
	const char *name;
	size_t offset, size;
	const char *def;
};

#define STR_ROW(name, field, def)                                                                            \
	{                                                                                                    \
		name, offsetof(andon_config_t, field), sizeof(((andon_config_t *)0)->field), def             \
	}

static const struct str_opt str_opts[] = {
    STR_ROW("redis.host", redis_host, "127.0.0.1"),
    STR_ROW("redis.unix", redis_unix, ""),
    STR_ROW("redis.username", redis_username, ""),
    STR_ROW("redis.password", redis_password, ""),
    STR_ROW("redis.cluster", redis_cluster, ""),
    STR_ROW("redis.sentinels", redis_sentinels, ""),
    STR_ROW("redis.sentinel_master", redis_sentinel_master, "mymaster"),
    STR_ROW("worker.topic.requests", topic_requests, "andon.requests"),
    STR_ROW("worker.topic.replies", topic_replies, "andon.replies"),
    STR_ROW("worker.topic.events", topic_events, "andon.events"),
    STR_ROW("worker.topic.dlq", topic_dlq, "andon.dlq"),
    STR_ROW("worker.region", region, "us-east-1"),
    STR_ROW("worker.default_account", default_account, "123456789012"),
    STR_ROW("worker.instance_id", instance_id, ""),
    STR_ROW("worker.http_listen", http_listen, ""),
    STR_ROW("worker.transactional_id", transactional_id, ""),
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int setup_cfg(void **state)
{
	andon_config_t *cfg = andon_config_new();

	if (cfg == NULL)
		return -1;
	*state = cfg;
	return 0;
}

static int teardown_cfg(void **state)
{
	andon_config_destroy(*state);
	return 0;
}

/* Writes text to a new temporary file and returns its path in path[]. */
static void write_temp(char *path, size_t size, const char *text)
{
	const char *dir = getenv("TMPDIR");
	int fd;
	size_t len = strlen(text);

	snprintf(path, size, "%s/andon-0003-XXXXXX", dir != NULL && *dir != '\0' ? dir : "/tmp");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void test_defaults(void **state)
{
	andon_config_t *cfg = *state;

	for (size_t i = 0; i < N(int_opts); i++) {
		if (FIELD_INT(cfg, int_opts[i].offset) != int_opts[i].def)
			fail_msg("%s default is %d, expected %lld", int_opts[i].name,
				 FIELD_INT(cfg, int_opts[i].offset), int_opts[i].def);
	}
	for (size_t i = 0; i < N(str_opts); i++)
		assert_string_equal(FIELD_STR(cfg, str_opts[i].offset), str_opts[i].def);
	assert_int_equal(cfg->log_level, ANDON_LOG_INFO);
	assert_int_equal(cfg->kafka_count, 0);
	/* Spot checks by field name, in case an offset in the tables above is wrong. */
	assert_string_equal(cfg->redis_host, "127.0.0.1");
	assert_int_equal(cfg->redis_port, 6379);
	assert_int_equal(cfg->batch_size, 1000);
	assert_int_equal(cfg->quarantine_after, 2);
	assert_string_equal(cfg->topic_dlq, "andon.dlq");
	assert_string_equal(cfg->default_account, "123456789012");
}

static void test_destroy_null(void **state)
{
	(void)state;
	andon_config_destroy(NULL); /* must not crash */
	assert_true(1);
}

static void test_int_bounds(void **state)
{
	andon_config_t *cfg = *state;
	char err[256], v[32];

	for (size_t i = 0; i < N(int_opts); i++) {
		const struct int_opt *o = &int_opts[i];
		long long ok[] = {o->min, o->max}, bad[] = {o->min - 1, o->max + 1};

		for (size_t k = 0; k < 2; k++) {
			snprintf(v, sizeof(v), "%lld", ok[k]);
			if (andon_config_set(cfg, o->name, v, err, sizeof(err)) != 0)
				fail_msg("%s=%s rejected: %s", o->name, v, err);
			assert_int_equal(FIELD_INT(cfg, o->offset), ok[k]);
		}
		for (size_t k = 0; k < 2; k++) {
			int before = FIELD_INT(cfg, o->offset);

			snprintf(v, sizeof(v), "%lld", bad[k]);
			err[0] = '\0';
			if (andon_config_set(cfg, o->name, v, err, sizeof(err)) != -1)
				fail_msg("%s=%s accepted", o->name, v);
			assert_int_equal(FIELD_INT(cfg, o->offset), before);
			assert_non_null(strstr(err, o->name));
			assert_non_null(strstr(err, v));
		}
	}
}

static void test_int_strict(void **state)
{
	andon_config_t *cfg = *state;
	static const char *const bad[] = {"12x",
					  "",
					  "1e3",
					  "0x10",
					  "12 ",
					  "1.0",
					  "-",
					  "+",
					  "5\n",
					  "99999999999999999999",
					  "-99999999999999999999",
					  "2147483648",
					  "65536"};
	char err[256];

	for (size_t i = 0; i < N(bad); i++) {
		if (andon_config_set(cfg, "redis.port", bad[i], err, sizeof(err)) != -1)
			fail_msg("redis.port=\"%s\" accepted", bad[i]);
		assert_int_equal(cfg->redis_port, 6379);
	}
	assert_int_equal(andon_config_set(cfg, "redis.port", "6380", err, sizeof(err)), 0);
	assert_int_equal(cfg->redis_port, 6380);
}

/*
 * Leading white space: strtoll skips it, so this needs its own check (lib/util.c accepted " 5" until commit
 * 2862a6a). STYLE.md rule 8 and util.h ("parses all of s") call for strict parsing.
 */
static void test_int_leading_space_or_plus(void **state)
{
	andon_config_t *cfg = *state;
	long long v = -7;
	char err[256];

	assert_int_equal(andon_config_set(cfg, "redis.port", " 5", err, sizeof(err)), -1);
	assert_int_equal(cfg->redis_port, 6379);
	assert_int_equal(andon_parse_ll("\t5", 0, 10, &v), -1);
	assert_int_equal(andon_parse_ll("+5", 0, 10, &v), -1);
	assert_int_equal(andon_parse_ll(" -5", -10, 10, &v), -1);
	assert_int_equal(andon_parse_ll("- 5", -10, 10, &v), -1);
	assert_int_equal(v, -7);
	assert_int_equal(andon_config_set(cfg, "redis.port", "+5", err, sizeof(err)), -1);
	assert_int_equal(cfg->redis_port, 6379);
}

static void test_str_too_long(void **state)
{
	andon_config_t *cfg = *state;
	char err[256];

	for (size_t i = 0; i < N(str_opts); i++) {
		const struct str_opt *o = &str_opts[i];
		char *v = malloc(o->size + 1);

		assert_non_null(v);
		memset(v, 'h', o->size);
		v[o->size - 1] = '\0'; /* size - 1 characters: fits with its NUL */
		assert_int_equal(andon_config_set(cfg, o->name, v, err, sizeof(err)), 0);
		assert_string_equal(FIELD_STR(cfg, o->offset), v);
		v[o->size - 1] = 'h';
		v[o->size] = '\0'; /* one more: rejected, old value kept */
		err[0] = '\0';
		assert_int_equal(andon_config_set(cfg, o->name, v, err, sizeof(err)), -1);
		assert_int_equal(strlen(FIELD_STR(cfg, o->offset)), o->size - 1);
		assert_non_null(strstr(err, o->name));
		free(v);
		/* An empty value is allowed for every string. */
		assert_int_equal(andon_config_set(cfg, o->name, "", err, sizeof(err)), 0);
		assert_string_equal(FIELD_STR(cfg, o->offset), "");
	}
}

static void test_log_level(void **state)
{
	andon_config_t *cfg = *state;
	static const char *const names[] = {"error", "warn", "info", "debug"};
	static const int levels[] = {ANDON_LOG_ERROR, ANDON_LOG_WARN, ANDON_LOG_INFO, ANDON_LOG_DEBUG};
	static const char *const bad[] = {"", "INFO", "verbose", "warning", "3", "info "};
	char err[256];

	for (size_t i = 0; i < N(names); i++) {
		assert_int_equal(andon_config_set(cfg, "worker.log_level", names[i], err, sizeof(err)), 0);
		assert_int_equal(cfg->log_level, levels[i]);
	}
	for (size_t i = 0; i < N(bad); i++) {
		err[0] = '\0';
		if (andon_config_set(cfg, "worker.log_level", bad[i], err, sizeof(err)) != -1)
			fail_msg("log level \"%s\" accepted", bad[i]);
		assert_int_equal(cfg->log_level, ANDON_LOG_DEBUG);
		assert_non_null(strstr(err, "worker.log_level"));
	}
}

static void test_unknown_option(void **state)
{
	andon_config_t *cfg = *state;
	char err[256];

	assert_int_equal(andon_config_set(cfg, "redis.hostt", "x", err, sizeof(err)), -1);
	assert_string_equal(err, "unknown option \"redis.hostt\"");
	assert_int_equal(andon_config_set(cfg, "", "x", err, sizeof(err)), -1);
	assert_int_equal(andon_config_set(cfg, "redis", "x", err, sizeof(err)), -1);
	assert_int_equal(andon_config_set(cfg, "Redis.Host", "x", err, sizeof(err)), -1);
	assert_string_equal(cfg->redis_host, "127.0.0.1");
	/* NULL errstr is allowed. */
	assert_int_equal(andon_config_set(cfg, "nope", "x", NULL, 0), -1);
}

static void test_kafka_passthrough(void **state)
{
	andon_config_t *cfg = *state;
	char err[256], key[64], *big;

	assert_int_equal(andon_config_set(cfg, "kafka.linger.ms", "5", err, sizeof(err)), 0);
	assert_int_equal(andon_config_kafka(cfg, "acks=all", err, sizeof(err)), 0);
	assert_int_equal(andon_config_set(cfg, "kafka.bootstrap.servers", "a:9092,b:9092", err, sizeof(err)),
			 0);
	assert_int_equal(andon_config_set(cfg, "kafka.sasl.password", "p=q", err, sizeof(err)), 0);
	assert_int_equal(andon_config_set(cfg, "kafka.client.id", "", err, sizeof(err)), 0);
	assert_int_equal(cfg->kafka_count, 5);
	assert_string_equal(cfg->kafka[0], "linger.ms=5");
	assert_string_equal(cfg->kafka[1], "acks=all");
	assert_string_equal(cfg->kafka[2], "bootstrap.servers=a:9092,b:9092");
	assert_string_equal(cfg->kafka[3], "sasl.password=p=q");
	assert_string_equal(cfg->kafka[4], "client.id=");

	/* Malformed: no key, no '='. Nothing recorded. */
	assert_int_equal(andon_config_set(cfg, "kafka.", "x", err, sizeof(err)), -1);
	assert_int_equal(andon_config_kafka(cfg, "noequals", err, sizeof(err)), -1);
	assert_int_equal(andon_config_kafka(cfg, "=x", err, sizeof(err)), -1);
	assert_int_equal(cfg->kafka_count, 5);

	/* A value that does not fit the 4096-byte key=value buffer. */
	big = malloc(5000);
	assert_non_null(big);
	memset(big, 'v', 4999);
	big[4999] = '\0';
	err[0] = '\0';
	assert_int_equal(andon_config_set(cfg, "kafka.x", big, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "kafka.x"));
	free(big);
	assert_int_equal(cfg->kafka_count, 5);

	/* At most ANDON_CONFIG_MAX_KAFKA settings. */
	while (cfg->kafka_count < ANDON_CONFIG_MAX_KAFKA) {
		snprintf(key, sizeof(key), "kafka.k%zu", cfg->kafka_count);
		assert_int_equal(andon_config_set(cfg, key, "1", err, sizeof(err)), 0);
	}
	assert_int_equal(andon_config_set(cfg, "kafka.one.more", "1", err, sizeof(err)), -1);
	assert_int_equal(cfg->kafka_count, ANDON_CONFIG_MAX_KAFKA);
	assert_string_equal(cfg->kafka[ANDON_CONFIG_MAX_KAFKA - 1], "k127=1");
}

static void test_load_good(void **state)
{
	andon_config_t *cfg = *state;
	char path[256], err[512];

	write_temp(path, sizeof(path),
		   "# Andon test config\n"
		   "\n"
		   "   # an indented comment\n"
		   "redis.host = redis.example\n"
		   "\tredis.port\t=\t6390   \n"
		   "redis.password =\n"
		   "worker.log_level=debug\r\n"
		   "kafka.bootstrap.servers = k1:9092\n"
		   "   \t  \n"
		   "kafka.sasl.jaas = a=b c\n"
		   "worker.region = eu-west-1"); /* no newline at the end */
	err[0] = '\0';
	if (andon_config_load(cfg, path, err, sizeof(err)) != 0)
		fail_msg("load failed: %s", err);
	unlink(path);
	assert_string_equal(cfg->redis_host, "redis.example");
	assert_int_equal(cfg->redis_port, 6390);
	assert_string_equal(cfg->redis_password, "");
	assert_int_equal(cfg->log_level, ANDON_LOG_DEBUG);
	assert_string_equal(cfg->region, "eu-west-1");
	assert_int_equal(cfg->kafka_count, 2);
	assert_string_equal(cfg->kafka[0], "bootstrap.servers=k1:9092");
	assert_string_equal(cfg->kafka[1], "sasl.jaas=a=b c");
	/* Options the file does not name keep their defaults. */
	assert_int_equal(cfg->batch_size, 1000);
}

static void check_bad_file(andon_config_t *cfg, const char *text, int line, const char *reason)
{
	char path[256], err[512], want[1024];

	write_temp(path, sizeof(path), text);
	err[0] = '\0';
	assert_int_equal(andon_config_load(cfg, path, err, sizeof(err)), -1);
	unlink(path);
	snprintf(want, sizeof(want), "%s:%d: %s", path, line, reason);
	assert_string_equal(err, want);
}

static void test_load_bad_line(void **state)
{
	andon_config_t *cfg = *state;
	char reason[256], *longline;

	/* The reason is what andon_config_set says, prefixed with the path and the 1-based line number. */
	assert_int_equal(andon_config_set(cfg, "worker.batch_size", "0", reason, sizeof(reason)), -1);
	check_bad_file(cfg,
		       "# comment\n"
		       "\n"
		       "redis.port = 7000\n"
		       "   \n"
		       "worker.batch_size = 0\n"
		       "redis.db = 3\n",
		       5, reason);
	/* Lines before the bad one were applied, lines after it were not. */
	assert_int_equal(cfg->redis_port, 7000);
	assert_int_equal(cfg->redis_db, 0);

	check_bad_file(cfg, "redis.port = 1\n\n\n# x\nnot a setting\n", 5, "expected key=value");
	check_bad_file(cfg, "= value\n", 1, "expected key=value");
	check_bad_file(cfg, "\n\nredis.portt = 1\n", 3, "unknown option \"redis.portt\"");
	assert_int_equal(andon_config_set(cfg, "redis.port", "12x", reason, sizeof(reason)), -1);
	check_bad_file(cfg, "redis.port = 12x\n", 1, reason);
	assert_int_equal(andon_config_set(cfg, "worker.log_level", "loud", reason, sizeof(reason)), -1);
	check_bad_file(cfg, "#\n#\n#\n#\n#\n#\n#\n#\n#\nworker.log_level = loud\n", 10, reason);

	/* A line longer than the reader's buffer is an error on that line, not two settings. */
	longline = malloc(6000);
	assert_non_null(longline);
	strcpy(longline, "redis.host = x\nredis.unix = ");
	memset(longline + strlen(longline), 'u', 5000);
	strcpy(longline + strlen("redis.host = x\nredis.unix = ") + 5000, "\n");
	check_bad_file(cfg, longline, 2, "line longer than 4094 bytes");
	free(longline);
}

static void test_load_missing(void **state)
{
	andon_config_t *cfg = *state;
	char err[512];
	const char *path = "/nonexistent-andon-dir/andon.conf";

	err[0] = '\0';
	assert_int_equal(andon_config_load(cfg, path, err, sizeof(err)), -1);
	assert_int_equal(strncmp(err, path, strlen(path)), 0);
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(cfg->redis_port, 6379);
}

static void test_conf_split(void **state)
{
	char kv[64], key[8];
	const char *value;

	(void)state;
	strcpy(kv, "a=b");
	assert_int_equal(andon_conf_split(kv, key, sizeof(key), &value), 0);
	assert_string_equal(key, "a");
	assert_string_equal(value, "b");

	strcpy(kv, "  key \t=  some value \t");
	assert_int_equal(andon_conf_split(kv, key, sizeof(key), &value), 0);
	assert_string_equal(key, "key");
	assert_string_equal(value, "some value");
	assert_true(value >= kv && value < kv + sizeof(kv)); /* points inside kv */

	strcpy(kv, "k=");
	assert_int_equal(andon_conf_split(kv, key, sizeof(key), &value), 0);
	assert_string_equal(value, "");

	strcpy(kv, "k=  ");
	assert_int_equal(andon_conf_split(kv, key, sizeof(key), &value), 0);
	assert_string_equal(value, "");

	strcpy(kv, "k==v=w");
	assert_int_equal(andon_conf_split(kv, key, sizeof(key), &value), 0);
	assert_string_equal(key, "k");
	assert_string_equal(value, "=v=w");

	strcpy(kv, "a b=c");
	assert_int_equal(andon_conf_split(kv, key, sizeof(key), &value), 0);
	assert_string_equal(key, "a b");

	/* Key of keysz - 1 characters fits; keysz does not. */
	strcpy(kv, "1234567=v");
	assert_int_equal(andon_conf_split(kv, key, sizeof(key), &value), 0);
	assert_string_equal(key, "1234567");
	strcpy(key, "unset");
	strcpy(kv, "12345678=v");
	assert_int_equal(andon_conf_split(kv, key, sizeof(key), &value), -1);
	assert_string_equal(kv, "12345678=v"); /* the '=' is put back */
	assert_string_equal(key, "unset");

	strcpy(kv, "no equals");
	assert_int_equal(andon_conf_split(kv, key, sizeof(key), &value), -1);
	assert_string_equal(kv, "no equals");
	strcpy(kv, "=v");
	assert_int_equal(andon_conf_split(kv, key, sizeof(key), &value), -1);
	assert_string_equal(kv, "=v");
	strcpy(kv, " \t =v");
	assert_int_equal(andon_conf_split(kv, key, sizeof(key), &value), -1);
	strcpy(kv, "");
	assert_int_equal(andon_conf_split(kv, key, sizeof(key), &value), -1);
}

static void test_parse_ll(void **state)
{
	long long v = 42;
	static const char *const bad[] = {"",	 "x",	 "1x",	"x1",  "1 ",   "1.5",
					  "1e3", "0x1f", "--1", "+-1", "1,000"};

	(void)state;
	assert_int_equal(andon_parse_ll("0", 0, 0, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(andon_parse_ll("-17", -17, 17, &v), 0);
	assert_int_equal(v, -17);
	assert_int_equal(andon_parse_ll("17", -17, 17, &v), 0);
	assert_int_equal(v, 17);
	assert_int_equal(andon_parse_ll("9223372036854775807", LLONG_MIN, LLONG_MAX, &v), 0);
	assert_true(v == LLONG_MAX);
	assert_int_equal(andon_parse_ll("-9223372036854775808", LLONG_MIN, LLONG_MAX, &v), 0);
	assert_true(v == LLONG_MIN);

	v = 42;
	assert_int_equal(andon_parse_ll("18", -17, 17, &v), -1);
	assert_int_equal(andon_parse_ll("-18", -17, 17, &v), -1);
	assert_int_equal(andon_parse_ll("9223372036854775808", LLONG_MIN, LLONG_MAX, &v), -1);
	assert_int_equal(andon_parse_ll("-9223372036854775809", LLONG_MIN, LLONG_MAX, &v), -1);
	assert_int_equal(andon_parse_ll(NULL, 0, 10, &v), -1);
	for (size_t i = 0; i < N(bad); i++)
		if (andon_parse_ll(bad[i], LLONG_MIN, LLONG_MAX, &v) != -1)
			fail_msg("andon_parse_ll(\"%s\") accepted", bad[i]);
	assert_int_equal(v, 42); /* out untouched on every failure */
}

static void test_parse_bool(void **state)
{
	static const char *const yes[] = {"true", "yes", "1", "on", "TRUE", "Yes", "ON"};
	static const char *const no[] = {"false", "no", "0", "off", "FALSE", "No", "Off"};
	static const char *const bad[] = {"", "y", "n", "2", "truee", " true", "true ", "enabled", "-1"};
	int b;

	(void)state;
	for (size_t i = 0; i < N(yes); i++) {
		b = 0;
		assert_int_equal(andon_parse_bool(yes[i], &b), 0);
		assert_int_equal(b, 1);
	}
	for (size_t i = 0; i < N(no); i++) {
		b = 1;
		assert_int_equal(andon_parse_bool(no[i], &b), 0);
		assert_int_equal(b, 0);
	}
	for (size_t i = 0; i < N(bad); i++) {
		b = 7;
		if (andon_parse_bool(bad[i], &b) != -1)
			fail_msg("andon_parse_bool(\"%s\") accepted", bad[i]);
		assert_int_equal(b, 7);
	}
}

static void test_uuid4(void **state)
{
	char u[37], prev[37] = "";

	(void)state;
	for (int n = 0; n < 1000; n++) {
		memset(u, 'Z', sizeof(u));
		andon_uuid4(u);
		assert_int_equal(strlen(u), 36);
		for (int i = 0; i < 36; i++) {
			if (i == 8 || i == 13 || i == 18 || i == 23) {
				assert_int_equal(u[i], '-');
				continue;
			}
			if (!((u[i] >= '0' && u[i] <= '9') || (u[i] >= 'a' && u[i] <= 'f')))
				fail_msg("uuid %s: character %d is not lower-case hex", u, i);
		}
		assert_int_equal(u[14], '4');
		assert_non_null(strchr("89ab", u[19]));
		assert_string_not_equal(u, prev);
		memcpy(prev, u, sizeof(u));
	}
}

static void test_log_format(void **state)
{
	andon_config_t *cfg = *state;
	char err[256];

	assert_int_equal(cfg->log_format, ANDON_LOG_TEXT);
	assert_int_equal(andon_config_set(cfg, "worker.log_format", "json", err, sizeof(err)), 0);
	assert_int_equal(cfg->log_format, ANDON_LOG_JSON);
	assert_int_equal(andon_config_set(cfg, "worker.log_format", "yaml", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "worker.log_format"));
	assert_int_equal(cfg->log_format, ANDON_LOG_JSON);
}

/* A reload applies what may change while running and names, without applying, what needs a restart. */
/* Durations: a count and one unit; nothing else is one. */
static void test_duration(void **state)
{
	static const struct {
		const char *text;
		long long secs;
	} good[] = {{"0s", 0}, {"60s", 60}, {"15m", 900}, {"12h", 43200}, {"90d", 7776000}, {"007s", 7}};
	static const char *const bad[] = {"",	 "s",	"60",	"-1s", "+1s",
					  " 1s", "1s ", "1.5h", "1 d", "1w",
					  "1ms", "1D",	"d1",	"1sd", "99999999999999999999d"};
	long long v;

	(void)state;
	for (size_t i = 0; i < N(good); i++) {
		if (andon_config_duration(good[i].text, &v) != 0)
			fail_msg("\"%s\" refused", good[i].text);
		assert_int_equal(v, good[i].secs);
	}
	for (size_t i = 0; i < N(bad); i++)
		if (andon_config_duration(bad[i], &v) == 0)
			fail_msg("\"%s\" accepted as %lld", bad[i], v);
}

/* Retention settings: durations with units, bounded, applied by a reload. */
static void test_retention(void **state)
{
	andon_config_t *cfg = *state, *fresh = andon_config_new();
	char err[256], applied[512], kept[512];

	assert_non_null(fresh);
	assert_int_equal(cfg->retention_sfn, 90 * 86400);
	assert_int_equal(cfg->retention_sagemaker, 30 * 86400);
	assert_int_equal(cfg->retention_cloudflow, 90 * 86400);
	assert_int_equal(cfg->retention_swf, 90 * 86400);
	assert_int_equal(andon_config_set(cfg, "retention.stepfunctions", "60s", err, sizeof(err)), 0);
	assert_int_equal(cfg->retention_sfn, 60);
	assert_int_equal(andon_config_set(cfg, "retention.sagemaker", "2h", err, sizeof(err)), 0);
	assert_int_equal(cfg->retention_sagemaker, 7200);
	/* Zero (nothing kept at all) and more than ten years are refused, and the value stays. */
	assert_int_equal(andon_config_set(cfg, "retention.cloudflow", "0s", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "retention.cloudflow"));
	assert_int_equal(andon_config_set(cfg, "retention.cloudflow", "3651d", err, sizeof(err)), -1);
	assert_int_equal(andon_config_set(cfg, "retention.swf", "7", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "\"7\""));
	assert_int_equal(cfg->retention_cloudflow, 90 * 86400);
	assert_int_equal(cfg->retention_swf, 90 * 86400);
	/* A reload applies a new retention; the shard count needs a restart. */
	assert_int_equal(andon_config_set(fresh, "retention.swf", "1d", err, sizeof(err)), 0);
	assert_int_equal(andon_config_set(fresh, "worker.timer_shards", "4", err, sizeof(err)), 0);
	assert_int_equal(andon_config_set(fresh, "retention.stepfunctions", "60s", err, sizeof(err)), 0);
	assert_int_equal(andon_config_set(fresh, "retention.sagemaker", "2h", err, sizeof(err)), 0);
	assert_int_equal(andon_config_reload(cfg, fresh, applied, sizeof(applied), kept, sizeof(kept)), 1);
	assert_string_equal(applied, "retention.swf=86400");
	assert_string_equal(kept, "worker.timer_shards");
	assert_int_equal(cfg->retention_swf, 86400);
	assert_int_equal(cfg->timer_shards, 16);
	andon_config_destroy(fresh);
}

static void test_security(void **state)
{
	andon_config_t *cfg = *state;
	char err[256];

	/* Compiled default: trusted producers (the example config says required). */
	assert_int_equal(cfg->auth, ANDON_AUTH_OFF);
	assert_string_equal(cfg->master_key_file, "");
	assert_int_equal(cfg->key_cache_ms, 1000);
	assert_int_equal(cfg->max_request_age_s, 0);
	assert_int_equal(andon_config_set(cfg, "security.auth", "required", err, sizeof(err)), 0);
	assert_int_equal(cfg->auth, ANDON_AUTH_REQUIRED);
	assert_int_equal(andon_config_set(cfg, "security.auth", "on", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "off, required"));
	assert_int_equal(cfg->auth, ANDON_AUTH_REQUIRED);
	assert_int_equal(andon_config_set(cfg, "security.key_cache_ms", "60001", err, sizeof(err)), -1);
	assert_int_equal(andon_config_set(cfg, "security.key_cache_ms", "0", err, sizeof(err)), 0);
	assert_int_equal(andon_config_set(cfg, "security.max_request_age", "86400", err, sizeof(err)), 0);
	assert_int_equal(cfg->max_request_age_s, 86400);
	assert_int_equal(
	    andon_config_set(cfg, "security.master_key_file", "/etc/andon/master.key", err, sizeof(err)), 0);
	assert_string_equal(cfg->master_key_file, "/etc/andon/master.key");
	assert_int_equal(cfg->kms_rate, 0);
	assert_int_equal(andon_config_set(cfg, "kms.rate", "-1", err, sizeof(err)), -1);
	assert_int_equal(andon_config_set(cfg, "kms.rate", "50", err, sizeof(err)), 0);
	assert_int_equal(cfg->kms_rate, 50);
}

static void test_reload(void **state)
{
	andon_config_t *live = *state, *fresh = andon_config_new();
	char applied[1024], kept[1024], err[256];

	assert_non_null(fresh);
	/* Nothing differs: nothing to say. */
	assert_int_equal(andon_config_reload(live, fresh, applied, sizeof(applied), kept, sizeof(kept)), 0);
	assert_string_equal(applied, "");
	assert_string_equal(kept, "");

	assert_int_equal(andon_config_set(fresh, "worker.log_level", "debug", err, sizeof(err)), 0);
	assert_int_equal(andon_config_set(fresh, "worker.log_format", "json", err, sizeof(err)), 0);
	assert_int_equal(andon_config_set(fresh, "worker.max_message_bytes", "1000", err, sizeof(err)), 0);
	assert_int_equal(andon_config_set(fresh, "cloudflow.rate", "5", err, sizeof(err)), 0);
	assert_int_equal(andon_config_set(fresh, "redis.port", "7000", err, sizeof(err)), 0);
	assert_int_equal(andon_config_set(fresh, "redis.password", "secret", err, sizeof(err)), 0);
	assert_int_equal(andon_config_set(fresh, "worker.batch_size", "10", err, sizeof(err)), 0);
	assert_int_equal(andon_config_set(fresh, "kafka.linger.ms", "9", err, sizeof(err)), 0);
	assert_int_equal(andon_config_reload(live, fresh, applied, sizeof(applied), kept, sizeof(kept)), 4);
	assert_int_equal(live->log_level, ANDON_LOG_DEBUG);
	assert_int_equal(live->log_format, ANDON_LOG_JSON);
	assert_int_equal(live->max_message_bytes, 1000);
	assert_int_equal(live->cloudflow_rate, 5);
	assert_non_null(strstr(applied, "worker.log_level=debug"));
	assert_non_null(strstr(applied, "worker.max_message_bytes=1000"));
	assert_non_null(strstr(applied, "cloudflow.rate=5"));
	/* Kept as they were, and named; a secret is named, never shown. */
	assert_int_equal(live->redis_port, 6379);
	assert_string_equal(live->redis_password, "");
	assert_int_equal(live->batch_size, 1000);
	assert_int_equal(live->kafka_count, 0);
	assert_string_equal(kept, "redis.port, redis.password, worker.batch_size, kafka.*");
	assert_null(strstr(kept, "secret"));
	/* Applied once: a second reload of the same settings only names what still needs a restart. */
	assert_int_equal(andon_config_reload(live, fresh, applied, sizeof(applied), kept, sizeof(kept)), 0);
	assert_string_equal(applied, "");
	assert_string_equal(kept, "redis.port, redis.password, worker.batch_size, kafka.*");
	/* A short buffer cuts the list, never overflows it. */
	assert_int_equal(andon_config_reload(live, fresh, applied, sizeof(applied), kept, 12), 0);
	assert_string_equal(kept, "redis.port,");
	andon_config_destroy(fresh);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_log_format, setup_cfg, teardown_cfg),
	    cmocka_unit_test_setup_teardown(test_reload, setup_cfg, teardown_cfg),
	    cmocka_unit_test(test_duration),
	    cmocka_unit_test_setup_teardown(test_retention, setup_cfg, teardown_cfg),
	    cmocka_unit_test_setup_teardown(test_security, setup_cfg, teardown_cfg),
	    cmocka_unit_test_setup_teardown(test_defaults, setup_cfg, teardown_cfg),
	    cmocka_unit_test(test_destroy_null),
	    cmocka_unit_test_setup_teardown(test_int_bounds, setup_cfg, teardown_cfg),
	    cmocka_unit_test_setup_teardown(test_int_strict, setup_cfg, teardown_cfg),
	    cmocka_unit_test_setup_teardown(test_str_too_long, setup_cfg, teardown_cfg),
	    cmocka_unit_test_setup_teardown(test_log_level, setup_cfg, teardown_cfg),
	    cmocka_unit_test_setup_teardown(test_unknown_option, setup_cfg, teardown_cfg),
	    cmocka_unit_test_setup_teardown(test_kafka_passthrough, setup_cfg, teardown_cfg),
	    cmocka_unit_test_setup_teardown(test_load_good, setup_cfg, teardown_cfg),
	    cmocka_unit_test_setup_teardown(test_load_bad_line, setup_cfg, teardown_cfg),
	    cmocka_unit_test_setup_teardown(test_load_missing, setup_cfg, teardown_cfg),
	    cmocka_unit_test(test_conf_split),
	    cmocka_unit_test(test_parse_ll),
	    cmocka_unit_test(test_parse_bool),
	    cmocka_unit_test(test_uuid4),
	    cmocka_unit_test_setup_teardown(test_int_leading_space_or_plus, setup_cfg, teardown_cfg),
	};

	return cmocka_run_group_tests_name("0003-config", tests, NULL, NULL);
}
