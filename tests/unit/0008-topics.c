/* 0008-topics: unit tests for the topic registry's states (no broker: nothing here sends a request). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "topics.h"

/* A producer with no bootstrap servers: it never connects, and an admin request would only queue. */
static rd_kafka_t *offline_producer(void)
{
	char err[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;

	rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	assert_non_null(rk);
	return rk;
}

static void unregistered_topics_are_ready(void **state)
{
	andon_config_t *cfg = andon_config_new();
	rd_kafka_t *rk = offline_producer();
	char err[256];
	andon_topics_t *t = andon_topics_new(rk, cfg, err, sizeof(err));

	(void)state;
	assert_non_null(t);
	assert_int_equal(andon_topics_state(t, "caller.replies", NULL), ANDON_TOPIC_READY);
	assert_int_equal(andon_topics_forget(t, "caller.replies"), 0);
	assert_int_equal(andon_topics_pending(t), 0);
	andon_topics_destroy(t);
	andon_topics_destroy(NULL);
	rd_kafka_destroy(rk);
	andon_config_destroy(cfg);
}

static void wanted_topics_wait_for_creation(void **state)
{
	andon_config_t *cfg = andon_config_new();
	rd_kafka_t *rk = offline_producer();
	char err[256], name[64];
	andon_topics_t *t = andon_topics_new(rk, cfg, err, sizeof(err));

	(void)state;
	andon_topics_want(t, "andon.pipeline.a.callbacks");
	andon_topics_want(t, "andon.pipeline.a.callbacks"); /* once */
	assert_int_equal(andon_topics_pending(t), 1);
	assert_int_equal(andon_topics_state(t, "andon.pipeline.a.callbacks", NULL), ANDON_TOPIC_PENDING);
	/* Forgetting a topic already waiting keeps it waiting: produce again once it exists. */
	assert_int_equal(andon_topics_forget(t, "andon.pipeline.a.callbacks"), 1);
	assert_int_equal(andon_topics_pending(t), 1);
	/* Many topics: the table grows and finds every one. */
	for (int i = 0; i < 500; i++) {
		snprintf(name, sizeof(name), "andon.swf.d%d.decisions", i);
		andon_topics_want(t, name);
	}
	assert_int_equal(andon_topics_pending(t), 501);
	for (int i = 0; i < 500; i++) {
		snprintf(name, sizeof(name), "andon.swf.d%d.decisions", i);
		assert_int_equal(andon_topics_state(t, name, NULL), ANDON_TOPIC_PENDING);
	}
	assert_int_equal(andon_topics_state(t, "andon.swf.d500.decisions", NULL), ANDON_TOPIC_READY);
	andon_topics_destroy(t);
	rd_kafka_destroy(rk);
	andon_config_destroy(cfg);
}

static void creation_off_leaves_topics_to_the_cluster(void **state)
{
	andon_config_t *cfg = andon_config_new();
	rd_kafka_t *rk = offline_producer();
	char err[256];
	andon_topics_t *t;

	(void)state;
	assert_int_equal(andon_config_set(cfg, "topics.create", "0", err, sizeof(err)), 0);
	t = andon_topics_new(rk, cfg, err, sizeof(err));
	andon_topics_want(t, "andon.pipeline.b.callbacks");
	assert_int_equal(andon_topics_state(t, "andon.pipeline.b.callbacks", NULL), ANDON_TOPIC_READY);
	assert_int_equal(andon_topics_forget(t, "andon.pipeline.b.callbacks"), 0);
	assert_int_equal(andon_topics_pending(t), 0);
	andon_topics_destroy(t);
	rd_kafka_destroy(rk);
	andon_config_destroy(cfg);
}

static void zero_counts_are_refused(void **state)
{
	andon_config_t *cfg = andon_config_new();
	rd_kafka_t *rk = offline_producer();
	char err[256];

	(void)state;
	assert_int_equal(andon_config_set(cfg, "topics.partitions", "0", err, sizeof(err)), 0);
	assert_null(andon_topics_new(rk, cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "topics.partitions"));
	assert_int_equal(andon_config_set(cfg, "topics.partitions", "-1", err, sizeof(err)), 0);
	assert_int_equal(andon_config_set(cfg, "topics.replication_factor", "0", err, sizeof(err)), 0);
	assert_null(andon_topics_new(rk, cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "topics.replication_factor"));
	rd_kafka_destroy(rk);
	andon_config_destroy(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(unregistered_topics_are_ready),
	    cmocka_unit_test(wanted_topics_wait_for_creation),
	    cmocka_unit_test(creation_off_leaves_topics_to_the_cluster),
	    cmocka_unit_test(zero_counts_are_refused),
	};
	return cmocka_run_group_tests_name("0008-topics", tests, NULL, NULL);
}
