/*
 * metrics: a registry of counters, gauges and histograms with labels, written by one thread and rendered
 * for another in the Prometheus text exposition format, version 0.0.4.
 *
 * Two copies of every value: the writer's, which it changes without any lock (one thread owns a registry's
 * writes), and the published one, which andon_metrics_publish() copies from it under the registry's mutex
 * (once per tick, never per message) and andon_metrics_render() reads under the same mutex. Adding or
 * pruning a series takes the mutex too, so the reader never sees a list being changed.
 *
 * Text format written (https://prometheus.io/docs/instrumenting/exposition_formats/, "text-based format"):
 *   # HELP <name> <help, with \ and newline escaped as \\ and \n>
 *   # TYPE <name> counter|gauge|histogram
 *   <name>{<label>="<value, with \, " and newline escaped>",...} <value>
 * one family after another, in registration order, series in creation order; a family without labels has
 * its one series from the start (value 0); a histogram has <name>_bucket{...,le="<bound>"} for each bound
 * and le="+Inf" (cumulative), then <name>_sum and <name>_count. Counters print as integers, gauges and
 * sums with up to 17 significant digits (NaN, +Inf, -Inf as such). No timestamps.
 */
#ifndef ANDON_METRICS_H
#define ANDON_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define ANDON_METRICS_MAX_LABELS 4
#define ANDON_METRICS_MAX_BOUNDS 32

typedef struct andon_metrics andon_metrics_t; /* the registry */
typedef struct andon_metric andon_metric_t;   /* one family: name, help, type, label names */
typedef struct andon_series andon_series_t;   /* one series of a family: its label values and value */

typedef enum andon_metric_type {
	ANDON_METRIC_COUNTER,
	ANDON_METRIC_GAUGE,
	ANDON_METRIC_HISTOGRAM,
} andon_metric_type_t;

/** An empty registry. NULL when out of memory. */
andon_metrics_t *andon_metrics_new(void);
/** Frees the registry, its families and series. m may be NULL. */
void andon_metrics_destroy(andon_metrics_t *m);

/**
 * Adds a family. name must be a legal metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), labels a NULL-terminated
 * list of at most ANDON_METRICS_MAX_LABELS legal label names (may be NULL: no labels; "le" is reserved),
 * bounds (histograms only, else NULL and 0) strictly increasing finite upper bounds, at most
 * ANDON_METRICS_MAX_BOUNDS. name, help and labels are copied. Returns the family, owned by the registry;
 * NULL when an argument breaks these rules or out of memory.
 */
andon_metric_t *andon_metrics_add(andon_metrics_t *m, andon_metric_type_t type, const char *name,
				  const char *help, const char *const *labels, const double *bounds,
				  size_t nbounds);

/**
 * The series of family f with label values values[0..n) (n = the family's label count; each values[i]
 * is lens[i] bytes, any bytes but NUL; lens may be NULL for NUL-terminated values), created with value 0
 * on first use. The pointer stays valid until the series is pruned or the registry destroyed. NULL when
 * out of memory or when the count does not match. Writer thread only.
 */
andon_series_t *andon_metrics_series(andon_metric_t *f, const char *const *values, const size_t *lens,
				     size_t n);
/** The series of a family without labels (created with it). */
andon_series_t *andon_metrics_single(andon_metric_t *f);

/* Writer thread only; no lock: the change shows at the next andon_metrics_publish(). s may be NULL (no-op).
 */
/** Adds n to a counter. */
void andon_metrics_inc(andon_series_t *s, uint64_t n);
/** Sets a counter whose total is kept elsewhere (it must never go down), or a gauge. */
void andon_metrics_set(andon_series_t *s, double v);
/** Records one observation v in a histogram. */
void andon_metrics_observe(andon_series_t *s, double v);
/** The writer's current value of a counter or gauge (histograms: the count). */
double andon_metrics_value(const andon_series_t *s);

/**
 * Removes the series of f that were not written (inc, set, observe) since the previous prune of f, for
 * families whose series come and go (a partition no longer assigned). Pointers to removed series become
 * invalid. Writer thread only; takes the mutex.
 */
void andon_metrics_prune(andon_metric_t *f);

/** Makes the writer's values visible to render: one copy under the mutex. Writer thread only. */
void andon_metrics_publish(andon_metrics_t *m);

/**
 * Renders the published values as the text format above into a malloc'd, NUL-terminated buffer that the
 * caller frees; its length in *len. NULL when out of memory. Any thread.
 */
char *andon_metrics_render(andon_metrics_t *m, size_t *len);

#endif
