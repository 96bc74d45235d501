/* 0009-metrics: the metrics registry (lib/metrics.c) and the strict exposition parser the tests read it with
 * (tests/prom.c): what is rendered parses, shows published values only, and the parser refuses what the
 * format does not allow. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "prom.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static prom_t *scrape(andon_metrics_t *m)
{
	char err[256];
	size_t len = 0;
	char *text = andon_metrics_render(m, &len);
	prom_t *p;

	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	p = prom_parse(text, len, err, sizeof(err));
	if (p == NULL)
		fail_msg("render does not parse: %s\n%s", err, text);
	free(text);
	return p;
}

static void test_counters_gauges(void **state)
{
	static const char *const op_code[] = {"op", "code", NULL};
	andon_metrics_t *m = andon_metrics_new();
	andon_metric_t *c, *g, *lab;
	andon_series_t *a, *b;
	const char *vals[2] = {"Svc.Stop", "ok"};
	size_t lens[2] = {4, 2};
	prom_t *p;

	(void)state;
	assert_non_null(m);
	c = andon_metrics_add(m, ANDON_METRIC_COUNTER, "t_requests_total", "Requests.\nSecond line \\ here.",
			      NULL, NULL, 0);
	g = andon_metrics_add(m, ANDON_METRIC_GAUGE, "t_inflight", "In flight.", NULL, NULL, 0);
	lab = andon_metrics_add(m, ANDON_METRIC_COUNTER, "t_answered_total", "By op and code.", op_code, NULL,
				0);
	assert_non_null(c);
	assert_non_null(g);
	assert_non_null(lab);

	/* Nothing published yet: every family shows, label-less ones with 0, labelled ones empty. */
	andon_metrics_inc(andon_metrics_single(c), 5);
	p = scrape(m);
	assert_int_equal(prom_families(p), 3);
	assert_string_equal(prom_type(p, "t_requests_total"), "counter");
	assert_string_equal(prom_type(p, "t_inflight"), "gauge");
	assert_true(prom_has(p, "t_requests_total", NULL));
	assert_true(prom_sum(p, "t_requests_total", NULL, NULL) == 0);
	assert_false(prom_has(p, "t_answered_total", NULL));
	prom_free(p);

	/* Lookups with explicit lengths find the series made from NUL-terminated values, and the reverse. */
	a = andon_metrics_series(lab, vals, lens, 2);
	vals[0] = "Svc.StopExecution";
	b = andon_metrics_series(lab, (const char *const[]){"Svc.", "ok"}, NULL, 2);
	assert_ptr_equal(a, b);
	assert_null(andon_metrics_series(lab, vals, NULL, 1)); /* wrong label count */
	andon_metrics_inc(a, 2);
	andon_metrics_inc(andon_metrics_series(lab, (const char *const[]){"We\"ird\\op\nx", "Bad"}, NULL, 2),
			  1);
	andon_metrics_set(andon_metrics_single(g), 2.5);
	andon_metrics_publish(m);
	p = scrape(m);
	assert_true(prom_sum(p, "t_requests_total", NULL, NULL) == 5);
	assert_true(prom_sum(p, "t_inflight", NULL, NULL) == 2.5);
	assert_true(prom_sum(p, "t_answered_total", "op=Svc.,code=ok", NULL) == 2);
	/* Escaped on the way out, unescaped by the parser: the value comes back as it went in. */
	assert_string_equal(prom_label(p, "t_answered_total", 1, "op"), "We\"ird\\op\nx");
	assert_true(prom_sum(p, "t_answered_total", NULL, NULL) == 3);
	prom_free(p);
	andon_metrics_destroy(m);
}

static void test_histogram(void **state)
{
	static const double bounds[] = {0.001, 0.01, 0.1, 1};
	static const char *const lbl[] = {"stage", NULL};
	andon_metrics_t *m = andon_metrics_new();
	andon_metric_t *h = andon_metrics_add(m, ANDON_METRIC_HISTOGRAM, "t_latency_seconds", "Latency.", lbl,
					      bounds, N(bounds));
	andon_series_t *s = andon_metrics_series(h, (const char *const[]){"one"}, NULL, 1);
	static const double obs[] = {0.0005, 0.001, 0.002, 0.5, 3, 7};
	prom_t *p;

	(void)state;
	assert_non_null(s);
	for (size_t i = 0; i < N(obs); i++)
		andon_metrics_observe(s, obs[i]);
	andon_metrics_observe(s, NAN); /* ignored */
	andon_metrics_publish(m);
	p = scrape(m);
	/* le is inclusive: 0.001 falls in the 0.001 bucket; counts are cumulative. */
	assert_true(prom_sum(p, "t_latency_seconds_bucket", "stage=one,le=0.001", NULL) == 2);
	assert_true(prom_sum(p, "t_latency_seconds_bucket", "stage=one,le=0.01", NULL) == 3);
	assert_true(prom_sum(p, "t_latency_seconds_bucket", "stage=one,le=0.1", NULL) == 3);
	assert_true(prom_sum(p, "t_latency_seconds_bucket", "stage=one,le=1", NULL) == 4);
	assert_true(prom_sum(p, "t_latency_seconds_bucket", "stage=one,le=+Inf", NULL) == 6);
	assert_true(prom_sum(p, "t_latency_seconds_count", NULL, NULL) == 6);
	assert_true(fabs(prom_sum(p, "t_latency_seconds_sum", NULL, NULL) - 10.5035) < 1e-9);
	assert_true(andon_metrics_value(s) == 6);
	prom_free(p);
	andon_metrics_destroy(m);
}

static void test_publish_and_prune(void **state)
{
	static const char *const lbl[] = {"partition", NULL};
	andon_metrics_t *m = andon_metrics_new();
	andon_metric_t *lag = andon_metrics_add(m, ANDON_METRIC_GAUGE, "t_lag", "Lag.", lbl, NULL, 0);
	prom_t *p;

	(void)state;
	andon_metrics_set(andon_metrics_series(lag, (const char *const[]){"0"}, NULL, 1), 3);
	andon_metrics_set(andon_metrics_series(lag, (const char *const[]){"1"}, NULL, 1), 4);
	andon_metrics_publish(m);
	andon_metrics_set(andon_metrics_series(lag, (const char *const[]){"1"}, NULL, 1), 40);
	/* Not published: the reader still sees 4. */
	p = scrape(m);
	assert_true(prom_sum(p, "t_lag", "partition=1", NULL) == 4);
	prom_free(p);
	/* Prune keeps what was written since the last prune (both, they were created), then drops 0 when only
	 * 1 is written again. */
	andon_metrics_prune(lag);
	andon_metrics_set(andon_metrics_series(lag, (const char *const[]){"1"}, NULL, 1), 41);
	andon_metrics_prune(lag);
	andon_metrics_publish(m);
	p = scrape(m);
	assert_false(prom_has(p, "t_lag", "partition=0"));
	assert_true(prom_sum(p, "t_lag", "partition=1", NULL) == 41);
	prom_free(p);
	/* A pruned series comes back as new when asked for again. */
	andon_metrics_set(andon_metrics_series(lag, (const char *const[]){"0"}, NULL, 1), 7);
	andon_metrics_publish(m);
	p = scrape(m);
	assert_true(prom_sum(p, "t_lag", "partition=0", NULL) == 7);
	prom_free(p);
	andon_metrics_destroy(m);
}

static void test_bad_definitions(void **state)
{
	static const double down[] = {1, 0.5}, inf[] = {1, INFINITY};
	andon_metrics_t *m = andon_metrics_new();

	(void)state;
	assert_null(andon_metrics_add(m, ANDON_METRIC_COUNTER, "1bad", "x", NULL, NULL, 0));
	assert_null(andon_metrics_add(m, ANDON_METRIC_COUNTER, "bad-name", "x", NULL, NULL, 0));
	assert_null(andon_metrics_add(m, ANDON_METRIC_COUNTER, "ok", "x", (const char *const[]){"le", NULL},
				      NULL, 0));
	assert_null(andon_metrics_add(m, ANDON_METRIC_COUNTER, "ok", "x", (const char *const[]){"a:b", NULL},
				      NULL, 0));
	assert_null(andon_metrics_add(m, ANDON_METRIC_HISTOGRAM, "h", "x", NULL, NULL, 0));
	assert_null(andon_metrics_add(m, ANDON_METRIC_HISTOGRAM, "h", "x", NULL, down, 2));
	assert_null(andon_metrics_add(m, ANDON_METRIC_HISTOGRAM, "h", "x", NULL, inf, 2));
	assert_null(andon_metrics_add(m, ANDON_METRIC_GAUGE, "g", "x", NULL, down, 1));
	andon_metrics_destroy(m);
	andon_metrics_destroy(NULL);
}

/* Writer and reader threads at once (run under ASan/TSan-like scrutiny by SANITIZE=1): no torn state. */
static void *reader(void *arg)
{
	andon_metrics_t *m = arg;
	char err[256];

	for (int i = 0; i < 300; i++) {
		size_t len;
		char *text = andon_metrics_render(m, &len);
		prom_t *p = prom_parse(text, len, err, sizeof(err));

		if (p == NULL) {
			free(text);
			return (void *)1;
		}
		prom_free(p);
		free(text);
	}
	return NULL;
}

static void test_threads(void **state)
{
	static const char *const lbl[] = {"k", NULL};
	andon_metrics_t *m = andon_metrics_new();
	andon_metric_t *f = andon_metrics_add(m, ANDON_METRIC_COUNTER, "t_total", "x", lbl, NULL, 0);
	pthread_t t;
	void *rc;
	char k[16];

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, reader, m), 0);
	for (int i = 0; i < 3000; i++) {
		snprintf(k, sizeof(k), "%d", i % 50);
		andon_metrics_inc(andon_metrics_series(f, (const char *const[]){k}, NULL, 1), 1);
		if (i % 10 == 0)
			andon_metrics_publish(m);
		if (i % 500 == 0)
			andon_metrics_prune(f);
	}
	assert_int_equal(pthread_join(t, &rc), 0);
	assert_null(rc);
	andon_metrics_destroy(m);
}

/* The parser must refuse each of these (a parser that accepts anything would make every scrape test
 * pass). */
static void test_parser_refuses(void **state)
{
	static const char *const bad[] = {
	    "",
	    "# TYPE a counter\na 1",					  /* no final newline */
	    "a 1\n",							  /* no TYPE */
	    "# TYPE a counter\na{b=\"x} 1\n",				  /* unterminated value */
	    "# TYPE a counter\na{b=\"\\t\"} 1\n",			  /* bad escape */
	    "# TYPE a counter\na{b=\"x\",b=\"y\"} 1\n",			  /* label twice */
	    "# TYPE a counter\na{1b=\"x\"} 1\n",			  /* bad label name */
	    "# TYPE a counter\na{__b=\"x\"} 1\n",			  /* reserved label name */
	    "# TYPE a counter\na one\n",				  /* bad value */
	    "# TYPE a counter\na 1 1.5\n",				  /* bad timestamp */
	    "# TYPE a counter\na 1\na 2\n",				  /* series twice */
	    "# TYPE a counter\n# TYPE a counter\na 1\n",		  /* TYPE twice */
	    "# HELP a x\n# HELP a y\n# TYPE a counter\na 1\n",		  /* HELP twice */
	    "# TYPE a counter\na 1\n# TYPE b gauge\nb 1\na{x=\"1\"} 2\n", /* family split */
	    "# TYPE a counter\nb 1\n",					  /* sample without TYPE */
	    "# TYPE a gauge\na_total 1\n",				  /* name not of its family */
	    "# TYPE a counters\na 1\n",					  /* unknown type */
	    "# TYPE a counter\na 1\r\n",				  /* carriage return */
	    "# TYPE a counter\n a 1\n",					  /* leading space */
	    "# TYPE a counter\na1\n",					  /* no space before value */
	    "# TYPE a counter\na infinity\n",				  /* strtod-only spelling */
	    "# TYPE h histogram\nh 1\n",				  /* bare histogram sample */
	    "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\n", /* no count */
	    "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
	    "# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum "
	    "1\nh_count 1\n",
	    "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", /* no +Inf */
	    "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
	    "# TYPE h histogram\nh_bucket 1\nh_sum 1\nh_count 1\n", /* bucket without le */
	};
	static const char *const good[] = {
	    "# HELP a Some \\\\ help\\n.\n# TYPE a counter\na{b=\"x\\\"\\n\",c=\"\"} 1e3 1700000000000\n\n# "
	    "x\n",
	    "# TYPE a gauge\na NaN\n# TYPE b gauge\nb -Inf\n# TYPE c untyped\nc +Inf\n",
	    "# TYPE h histogram\nh_bucket{k=\"a\",le=\"0.5\"} 1\nh_bucket{k=\"a\",le=\"+Inf\"} "
	    "2\nh_sum{k=\"a\"} "
	    "3\nh_count{k=\"a\"} 2\nh_bucket{k=\"b\",le=\"0.5\"} 0\nh_bucket{k=\"b\",le=\"+Inf\"} "
	    "0\nh_sum{k=\"b\"} "
	    "0\nh_count{k=\"b\"} 0\n",
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < N(bad); i++) {
		prom_t *p = prom_parse(bad[i], strlen(bad[i]), err, sizeof(err));

		if (p != NULL)
			fail_msg("accepted bad text %zu:\n%s", i, bad[i]);
		if (getenv("PROM_DEBUG"))
			fprintf(stderr, "%zu: %s\n", i, err);
	}
	for (size_t i = 0; i < N(good); i++) {
		prom_t *p = prom_parse(good[i], strlen(good[i]), err, sizeof(err));

		if (p == NULL)
			fail_msg("refused good text %zu (%s):\n%s", i, err, good[i]);
		prom_free(p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_counters_gauges),   cmocka_unit_test(test_histogram),
	    cmocka_unit_test(test_publish_and_prune), cmocka_unit_test(test_bad_definitions),
	    cmocka_unit_test(test_threads),	      cmocka_unit_test(test_parser_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
