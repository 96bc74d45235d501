/* metrics: counters, gauges and histograms written by one thread, rendered for another as Prometheus text. */
#include "metrics.h"

#include "utf8.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct andon_series {
	andon_series_t *next; /* creation order, for render */
	andon_metric_t *f;
	char *key; /* the raw label values, each followed by a NUL: the lookup key */
	size_t key_len;
	char *labels; /* rendered 'name="value",...' (escaped), "" without labels */
	uint64_t hash;
	int touched;	    /* written since the last prune */
	double value;	    /* writer: counter or gauge value; histogram sum */
	double pub_value;   /* published copy */
	uint64_t count;	    /* writer: histogram observations */
	uint64_t pub_count; /* published copy */
	uint64_t *buckets;  /* histograms: nbounds + 1 writer counts (the last: above every bound), then
			       as many published; per bucket, not cumulative */
};

struct andon_metric {
	andon_metric_t *next;
	andon_metrics_t *m;
	andon_metric_type_t type;
	char *name, *help;
	char *labels[ANDON_METRICS_MAX_LABELS];
	size_t nlabels;
	double bounds[ANDON_METRICS_MAX_BOUNDS];
	char le[ANDON_METRICS_MAX_BOUNDS][32]; /* each bound as its "le" label value */
	size_t nbounds;
	andon_series_t *head, *tail;
	andon_series_t **table; /* open addressing by key hash; writer thread only */
	size_t table_size, count;
};

struct andon_metrics {
	pthread_mutex_t lock;
	andon_metric_t *head, *tail;
};

andon_metrics_t *andon_metrics_new(void)
{
	andon_metrics_t *m = calloc(1, sizeof(*m));

	if (m != NULL && pthread_mutex_init(&m->lock, NULL) != 0) {
		free(m);
		return NULL;
	}
	return m;
}

static void series_free(andon_series_t *s)
{
	if (s == NULL)
		return;
	free(s->key);
	free(s->labels);
	free(s->buckets);
	free(s);
}

static void family_free(andon_metric_t *f)
{
	andon_series_t *s = f->head;

	while (s != NULL) {
		andon_series_t *next = s->next;
		series_free(s);
		s = next;
	}
	for (size_t i = 0; i < f->nlabels; i++)
		free(f->labels[i]);
	free(f->table);
	free(f->name);
	free(f->help);
	free(f);
}

void andon_metrics_destroy(andon_metrics_t *m)
{
	andon_metric_t *f;

	if (m == NULL)
		return;
	f = m->head;
	while (f != NULL) {
		andon_metric_t *next = f->next;
		family_free(f);
		f = next;
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static int name_ok(const char *s, int colon)
{
	if (s == NULL || *s == '\0' || (*s >= '0' && *s <= '9'))
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || (colon && *s == ':')))
			return 0;
	return 1;
}

/* The shortest decimal text that reads back as v (a bound is printed once, so it may take a few tries):
 * "10", "0.005", "2.5". */
static void shortest(double v, char *out, size_t size)
{
	if (v == floor(v) && fabs(v) < 1e15) {
		snprintf(out, size, "%.0f", v);
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(out, size, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			return;
	}
}

static andon_series_t *series_new(andon_metric_t *f, const char *const *values, const size_t *lens);

andon_metric_t *andon_metrics_add(andon_metrics_t *m, andon_metric_type_t type, const char *name,
				  const char *help, const char *const *labels, const double *bounds,
				  size_t nbounds)
{
	andon_metric_t *f;
	size_t nlabels = 0;

	if (!name_ok(name, 1) || help == NULL || (type == ANDON_METRIC_HISTOGRAM) != (nbounds > 0) ||
	    nbounds > ANDON_METRICS_MAX_BOUNDS)
		return NULL;
	for (; labels != NULL && labels[nlabels] != NULL; nlabels++)
		if (nlabels == ANDON_METRICS_MAX_LABELS || !name_ok(labels[nlabels], 0) ||
		    strncmp(labels[nlabels], "__", 2) == 0 || strcmp(labels[nlabels], "le") == 0)
			return NULL;
	for (size_t i = 0; i < nbounds; i++)
		if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
			return NULL;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	f->m = m;
	f->type = type;
	f->nbounds = nbounds;
	if ((f->name = strdup(name)) == NULL || (f->help = strdup(help)) == NULL)
		goto err;
	for (size_t i = 0; i < nlabels; i++, f->nlabels++)
		if ((f->labels[i] = strdup(labels[i])) == NULL)
			goto err;
	for (size_t i = 0; i < nbounds; i++) {
		f->bounds[i] = bounds[i];
		shortest(bounds[i], f->le[i], sizeof(f->le[i]));
	}
	if (nlabels == 0 && series_new(f, NULL, NULL) == NULL)
		goto err;
	pthread_mutex_lock(&m->lock);
	if (m->tail != NULL)
		m->tail->next = f;
	else
		m->head = f;
	m->tail = f;
	pthread_mutex_unlock(&m->lock);
	return f;
err:
	family_free(f);
	return NULL;
}

/* FNV-1a 64 over the key. */
static uint64_t key_hash(const char *key, size_t len)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static int table_put(andon_metric_t *f, andon_series_t *s)
{
	if (2 * (f->count + 1) > f->table_size) {
		size_t size = f->table_size ? 2 * f->table_size : 16;
		andon_series_t **t = calloc(size, sizeof(*t));

		if (t == NULL)
			return -1;
		for (size_t i = 0; i < f->table_size; i++) {
			andon_series_t *o = f->table[i];
			size_t k;

			if (o == NULL)
				continue;
			for (k = o->hash & (size - 1); t[k] != NULL; k = (k + 1) & (size - 1))
				;
			t[k] = o;
		}
		free(f->table);
		f->table = t;
		f->table_size = size;
	}
	{
		size_t k = s->hash & (f->table_size - 1);

		while (f->table[k] != NULL)
			k = (k + 1) & (f->table_size - 1);
		f->table[k] = s;
		f->count++;
	}
	return 0;
}

/* Appends s to out as a label value: \, " and newline escaped, bytes that are not UTF-8 as U+FFFD. */
static void escape_value(FILE *out, const char *s, size_t len)
{
	while (len > 0) {
		size_t bad = len;

		andon_utf8_count(s, len, NULL, &bad);
		for (size_t i = 0; i < bad; i++) {
			if (s[i] == '\\')
				fputs("\\\\", out);
			else if (s[i] == '"')
				fputs("\\\"", out);
			else if (s[i] == '\n')
				fputs("\\n", out);
			else
				fputc(s[i], out);
		}
		if (bad == len)
			break;
		fputs("\xef\xbf\xbd", out);
		s += bad + 1;
		len -= bad + 1;
	}
}

static andon_series_t *series_new(andon_metric_t *f, const char *const *values, const size_t *lens)
{
	andon_series_t *s = calloc(1, sizeof(*s));
	size_t at = 0, lsize = 0;
	FILE *out;

	if (s == NULL)
		return NULL;
	s->f = f;
	s->touched = 1;
	for (size_t i = 0; i < f->nlabels; i++)
		s->key_len += (lens != NULL ? lens[i] : strlen(values[i])) + 1;
	if ((s->key = malloc(s->key_len + 1)) == NULL)
		goto err;
	for (size_t i = 0; i < f->nlabels; i++) {
		size_t n = lens != NULL ? lens[i] : strlen(values[i]);

		memcpy(s->key + at, values[i], n);
		s->key[at + n] = '\0';
		at += n + 1;
	}
	s->hash = key_hash(s->key, s->key_len);
	if ((out = open_memstream(&s->labels, &lsize)) == NULL)
		goto err;
	for (size_t i = 0; i < f->nlabels; i++) {
		fprintf(out, "%s%s=\"", i > 0 ? "," : "", f->labels[i]);
		escape_value(out, values[i], lens != NULL ? lens[i] : strlen(values[i]));
		fputc('"', out);
	}
	if (fclose(out) != 0 || s->labels == NULL)
		goto err;
	if (f->type == ANDON_METRIC_HISTOGRAM &&
	    (s->buckets = calloc(2 * (f->nbounds + 1), sizeof(*s->buckets))) == NULL)
		goto err;
	if (table_put(f, s) != 0)
		goto err;
	pthread_mutex_lock(&f->m->lock);
	if (f->tail != NULL)
		f->tail->next = s;
	else
		f->head = s;
	f->tail = s;
	pthread_mutex_unlock(&f->m->lock);
	return s;
err:
	series_free(s);
	return NULL;
}

andon_series_t *andon_metrics_series(andon_metric_t *f, const char *const *values, const size_t *lens,
				     size_t n)
{
	char stack[512], *key = stack;
	size_t len = 0, at = 0;
	andon_series_t *found = NULL;
	uint64_t h;

	if (f == NULL || n != f->nlabels)
		return NULL;
	for (size_t i = 0; i < n; i++)
		len += (lens != NULL ? lens[i] : strlen(values[i])) + 1;
	if (len > sizeof(stack) && (key = malloc(len)) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		size_t l = lens != NULL ? lens[i] : strlen(values[i]);

		if (memchr(values[i], '\0', l) != NULL)
			goto out; /* a NUL would make two label sets one key */
		memcpy(key + at, values[i], l);
		key[at + l] = '\0';
		at += l + 1;
	}
	h = key_hash(key, len);
	for (size_t k = f->table_size ? h & (f->table_size - 1) : 0; f->table_size && f->table[k] != NULL;
	     k = (k + 1) & (f->table_size - 1)) {
		andon_series_t *s = f->table[k];

		if (s->hash == h && s->key_len == len && memcmp(s->key, key, len) == 0) {
			found = s;
			goto out;
		}
	}
	found = series_new(f, values, lens);
out:
	if (key != stack)
		free(key);
	return found;
}

andon_series_t *andon_metrics_single(andon_metric_t *f)
{
	return f != NULL && f->nlabels == 0 ? f->head : NULL;
}

void andon_metrics_inc(andon_series_t *s, uint64_t n)
{
	if (s == NULL)
		return;
	s->value += (double)n;
	s->touched = 1;
}

void andon_metrics_set(andon_series_t *s, double v)
{
	if (s == NULL)
		return;
	s->value = v;
	s->touched = 1;
}

void andon_metrics_observe(andon_series_t *s, double v)
{
	const andon_metric_t *f;
	size_t i = 0;

	if (s == NULL || isnan(v) || s->buckets == NULL)
		return;
	f = s->f;
	while (i < f->nbounds && v > f->bounds[i])
		i++;
	s->buckets[i]++;
	s->count++;
	s->value += v;
	s->touched = 1;
}

double andon_metrics_value(const andon_series_t *s)
{
	if (s == NULL)
		return 0;
	return s->buckets != NULL ? (double)s->count : s->value;
}

void andon_metrics_prune(andon_metric_t *f)
{
	andon_series_t **p, *dead = NULL;

	if (f == NULL)
		return;
	pthread_mutex_lock(&f->m->lock);
	f->tail = NULL;
	for (p = &f->head; *p != NULL;) {
		andon_series_t *s = *p;

		if (s->touched || f->nlabels == 0) {
			s->touched = 0;
			f->tail = s;
			p = &s->next;
			continue;
		}
		*p = s->next;
		s->next = dead;
		dead = s;
	}
	pthread_mutex_unlock(&f->m->lock);
	if (dead == NULL)
		return;
	/* Rebuild the lookup table from what is left (open addressing has no cheap delete). */
	memset(f->table, 0, f->table_size * sizeof(*f->table));
	f->count = 0;
	for (andon_series_t *s = f->head; s != NULL; s = s->next)
		table_put(f, s); /* cannot grow: fewer than before */
	while (dead != NULL) {
		andon_series_t *next = dead->next;
		series_free(dead);
		dead = next;
	}
}

void andon_metrics_publish(andon_metrics_t *m)
{
	pthread_mutex_lock(&m->lock);
	for (andon_metric_t *f = m->head; f != NULL; f = f->next) {
		for (andon_series_t *s = f->head; s != NULL; s = s->next) {
			s->pub_value = s->value;
			s->pub_count = s->count;
			if (s->buckets != NULL)
				memcpy(s->buckets + f->nbounds + 1, s->buckets,
				       (f->nbounds + 1) * sizeof(*s->buckets));
		}
	}
	pthread_mutex_unlock(&m->lock);
}

static void put_value(FILE *out, double v)
{
	if (isnan(v))
		fputs("NaN", out);
	else if (isinf(v))
		fputs(v > 0 ? "+Inf" : "-Inf", out);
	else if (v == floor(v) && fabs(v) < 1e15)
		fprintf(out, "%.0f", v);
	else
		fprintf(out, "%.17g", v);
}

static void put_help(FILE *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\\\", out);
		else if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

static const char *const type_names[] = {"counter", "gauge", "histogram"};

static void render_family(FILE *out, const andon_metric_t *f)
{
	fprintf(out, "# HELP %s ", f->name);
	put_help(out, f->help);
	fprintf(out, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
	for (const andon_series_t *s = f->head; s != NULL; s = s->next) {
		const char *sep = s->labels[0] != '\0' ? "," : "";
		const uint64_t *b = s->buckets + f->nbounds + 1;
		uint64_t cum = 0;

		if (f->type != ANDON_METRIC_HISTOGRAM) {
			fprintf(out, s->labels[0] != '\0' ? "%s{%s} " : "%s%s ", f->name, s->labels);
			put_value(out, s->pub_value);
			fputc('\n', out);
			continue;
		}
		for (size_t i = 0; i <= f->nbounds; i++) {
			cum += b[i];
			fprintf(out, "%s_bucket{%s%sle=\"%s\"} %llu\n", f->name, s->labels, sep,
				i < f->nbounds ? f->le[i] : "+Inf", (unsigned long long)cum);
		}
		fprintf(out, s->labels[0] != '\0' ? "%s_sum{%s} " : "%s_sum%s ", f->name, s->labels);
		put_value(out, s->pub_value);
		fprintf(out, s->labels[0] != '\0' ? "\n%s_count{%s} %llu\n" : "\n%s_count%s %llu\n", f->name,
			s->labels, (unsigned long long)s->pub_count);
	}
}

char *andon_metrics_render(andon_metrics_t *m, size_t *len)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&buf, &size);

	if (out == NULL)
		return NULL;
	pthread_mutex_lock(&m->lock);
	for (const andon_metric_t *f = m->head; f != NULL; f = f->next)
		render_family(out, f);
	pthread_mutex_unlock(&m->lock);
	if (fclose(out) != 0) {
		free(buf);
		return NULL;
	}
	*len = size;
	return buf;
}
