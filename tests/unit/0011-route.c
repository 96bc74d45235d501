/* 0011-route: Redis Cluster key slots (CRC16 of the hash tag) and the router's setup checks. */
#include "config.h"
#include "redis_route.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

/* CRC-16/XMODEM's check value, and slots as CLUSTER KEYSLOT of redis-server 7.0 answered them. */
static void slots_match_redis(void **state)
{
	static const struct {
		const char *key;
		unsigned slot;
	} known[] = {
	    {"123456789", 12739},
	    {"foo", 12182},
	    {"bar", 5061},
	    {"hello", 866},
	    {"somekey", 11058},
	    {"{user1000}.following", 3443},
	    {"andon:{arn:aws:states:us-east-1:123456789012:execution:sm:e1}:x", 7445},
	    {"a{}b", 13694}, /* an empty tag: the whole key */
	    {"{}{x}", 3257}, /* the first '{' decides, and its tag is empty */
	    {"x{y", 2740},   /* no closing brace */
	    {"andon:timers", 12516},
	};

	(void)state;
	assert_int_equal(andon_route_crc16("123456789", 9), 0x31C3);
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (andon_route_slot(known[i].key, strlen(known[i].key)) != known[i].slot)
			fail_msg("slot of %s is %u, Redis says %u", known[i].key,
				 andon_route_slot(known[i].key, strlen(known[i].key)), known[i].slot);
}

/* Every key of an execution shares its slot: what the engine's calls rely on. */
static void execution_keys_share_a_slot(void **state)
{
	const char *x = "andon:{arn:aws:states:us-east-1:123456789012:execution:sm:e1}:x",
		   *h = "andon:{arn:aws:states:us-east-1:123456789012:execution:sm:e1}:h",
		   *sm = "andon:{arn:aws:states:us-east-1:123456789012:stateMachine:sm}:sm";

	(void)state;
	assert_int_equal(andon_route_slot(x, strlen(x)), andon_route_slot(h, strlen(h)));
	assert_int_not_equal(andon_route_slot(x, strlen(x)), andon_route_slot(sm, strlen(sm)));
}

static void node_lists(void **state)
{
	andon_config_t *cfg = andon_config_new();
	char err[256];
	andon_route_t *r;

	(void)state;
	assert_non_null(cfg);
	/* One Redis: nothing to parse. */
	assert_non_null(r = andon_route_new(cfg, "", err, sizeof(err)));
	assert_int_equal(andon_route_cluster(r), 0);
	andon_route_destroy(r);
	assert_int_equal(
	    andon_config_set(cfg, "redis.cluster", "127.0.0.1:7000, 127.0.0.1:7001", err, sizeof(err)), 0);
	assert_non_null(r = andon_route_new(cfg, "", err, sizeof(err)));
	assert_int_equal(andon_route_cluster(r), 1);
	andon_route_destroy(r);
	static const char *const bad[] = {"127.0.0.1", "127.0.0.1:", ":7000", "h:0", "h:65536", "h:7x", NULL};
	for (const char *const *b = bad; *b != NULL; b++) {
		assert_int_equal(andon_config_set(cfg, "redis.cluster", *b, err, sizeof(err)), 0);
		if ((r = andon_route_new(cfg, "", err, sizeof(err))) != NULL)
			fail_msg("redis.cluster=%s accepted", *b);
		assert_non_null(strstr(err, "redis.cluster"));
	}
	/* Cluster and Sentinel exclude each other. */
	assert_int_equal(andon_config_set(cfg, "redis.cluster", "h:1", err, sizeof(err)), 0);
	assert_int_equal(andon_config_set(cfg, "redis.sentinels", "h:2", err, sizeof(err)), 0);
	assert_null(andon_route_new(cfg, "", err, sizeof(err)));
	assert_int_equal(andon_config_set(cfg, "redis.cluster", "", err, sizeof(err)), 0);
	assert_non_null(r = andon_route_new(cfg, "", err, sizeof(err)));
	assert_int_equal(andon_route_cluster(r), 0);
	andon_route_destroy(r);
	/* WAIT's settings are bounded. */
	assert_int_equal(andon_config_set(cfg, "redis.wait_replicas", "-1", err, sizeof(err)), -1);
	assert_int_equal(andon_config_set(cfg, "redis.wait_replicas", "2", err, sizeof(err)), 0);
	assert_int_equal(cfg->redis_wait_replicas, 2);
	assert_int_equal(andon_config_set(cfg, "redis.wait_timeout_ms", "0", err, sizeof(err)), -1);
	andon_config_destroy(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(slots_match_redis),
	    cmocka_unit_test(execution_keys_share_a_slot),
	    cmocka_unit_test(node_lists),
	};
	return cmocka_run_group_tests_name("0011-route", tests, NULL, NULL);
}
