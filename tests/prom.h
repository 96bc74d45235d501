/*
 * prom: a strict parser of the Prometheus text exposition format, version 0.0.4, for tests: a scrape of
 * the worker is read with it, and anything the format does not allow fails the parse with the line and the
 * reason. Checked on top of the grammar (comments, HELP and TYPE lines, samples with labels and escapes,
 * values, optional timestamps, the final newline):
 *   - every family has one TYPE line (and at most one HELP line) before its first sample, and all its lines
 *     are together;
 *   - sample names fit their family's type: NAME for counters and gauges, NAME_bucket / NAME_sum /
 *     NAME_count for histograms (NAME_sum / NAME_count and NAME with quantile for summaries);
 *   - no series (name and label set) appears twice, no label name twice in one sample;
 *   - a histogram series has increasing "le" bounds ending with +Inf, cumulative counts that never go
 *     down, a +Inf bucket equal to its _count, and a _sum.
 */
#ifndef ANDON_PROM_H
#define ANDON_PROM_H

#include <stddef.h>

typedef struct prom prom_t;

/** Parses text[0..len). NULL with "line N: reason" in err when it breaks a rule (or out of memory). */
prom_t *prom_parse(const char *text, size_t len, char *err, size_t err_size);
void prom_free(prom_t *p);

/**
 * The sum of the values of the samples named name whose labels include every pair of match, a
 * comma-separated list of label=value (values unescaped, no commas in them; "" or NULL: any labels).
 * Sets *n (may be NULL) to the number of such samples.
 */
double prom_sum(const prom_t *p, const char *name, const char *match, size_t *n);

/** 1 when at least one sample named name matches (as prom_sum), else 0. */
int prom_has(const prom_t *p, const char *name, const char *match);

/** The TYPE of family name ("counter", ...) or NULL when it has none. */
const char *prom_type(const prom_t *p, const char *name);

/** Number of families and of samples. */
size_t prom_families(const prom_t *p);
size_t prom_samples(const prom_t *p);

/** The name of family i (0-based, in order), or NULL. */
const char *prom_family(const prom_t *p, size_t i);

/** The value of label of the i-th sample named name (0-based, in order), or NULL. */
const char *prom_label(const prom_t *p, const char *name, size_t i, const char *label);

#endif
