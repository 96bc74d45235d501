/*
 * 0503: /readyz follows a Kafka outage. On a broker of its own, killed with SIGKILL and started again: the
 * worker says 503 with the reason while no broker is reachable (librdkafka's "all brokers down", and its
 * statistics: andon_kafka_brokers_up 0), 200 again once it is back, and /healthz stays 200 throughout (the
 * loop keeps turning). Skipped on the development broker.
 */
#include "harness-http.h"
#include "harness-kafka.h"
#include "harness-stream.h"
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int port;

/* Polls path until it answers want; returns the last body (caller frees); fails after timeout_ms. */
static char *wait_status(const char *path, int want, int timeout_ms)
{
	long long deadline = h_now_ms() + timeout_ms;
	char *body = NULL;
	int status;

	while ((status = hh_get(port, path, &body, NULL, 0)) != want) {
		free(body);
		body = NULL;
		if (h_now_ms() >= deadline)
			fail_msg("%s answered %d for %d ms, expected %d", path, status, timeout_ms, want);
		h_sleep_ms(50);
	}
	return body;
}

static double brokers_up(void)
{
	prom_t *p = hh_scrape(port);
	double v = hh_value(p, "andon_kafka_brokers_up", NULL);

	prom_free(p);
	return v;
}

static void readyz_follows_kafka(void **state)
{
	static const char *const opts[] = {
	    "worker.http_listen=127.0.0.1:0", "kafka.statistics.interval.ms=250",
	    /* the group outlives the broker's restart: no rebalance on return */
	    "kafka.session.timeout.ms=30000", NULL};
	long long t0, down_ms, up_ms, deadline;
	char *body;

	(void)state;
	port = hh_port(h_worker_start(opts));
	free(wait_status("/readyz", 200, 10000));
	for (deadline = h_now_ms() + 10000; brokers_up() < 1; h_sleep_ms(50))
		if (h_now_ms() >= deadline)
			fail_msg("andon_kafka_brokers_up never reached 1");

	t0 = h_now_ms();
	hk_node_kill(1);
	body = wait_status("/readyz", 503, 30000);
	down_ms = h_now_ms() - t0;
	assert_non_null(strstr(body, "kafka"));
	free(body);
	for (deadline = h_now_ms() + 10000; brokers_up() != 0; h_sleep_ms(50))
		if (h_now_ms() >= deadline)
			fail_msg("andon_kafka_brokers_up still above 0 with the broker dead");
	free(wait_status("/healthz", 200, 1000));

	t0 = h_now_ms();
	hk_node_start(1);
	free(wait_status("/readyz", 200, 60000));
	up_ms = h_now_ms() - t0;
	fprintf(stderr, "0503: /readyz 503 %lld ms after the kill, 200 %lld ms after the restart began\n",
		down_ms, up_ms);
	assert_true(brokers_up() >= 1);
	free(h_sfn_machine("after-kafka", "STANDARD")); /* and it works */
	assert_int_equal(h_worker_stop(), 0);
}

static void own_broker(void)
{
	hk_use_own(1); /* a broker of its own to kill */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(readyz_follows_kafka),
	};

	return hf_run("0503-health_kafka", tests, sizeof(tests) / sizeof(tests[0]), own_broker);
}
