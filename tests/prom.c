/* prom: a strict parser of the Prometheus text exposition format 0.0.4, for tests (prom.h). */
#include "prom.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LABELS 16

typedef struct label {
	char *name, *value;
} label_t;

typedef struct sample {
	char *name;
	char *family;
	label_t labels[MAX_LABELS];
	size_t nlabels;
	double value;
} sample_t;

typedef struct family {
	char *name;
	char *type; /* NULL: untyped (no TYPE line) */
	int help;
	int closed; /* another family's lines came after it */
} family_t;

struct prom {
	sample_t *samples;
	size_t nsamples, cap;
	family_t *families;
	size_t nfamilies, fcap;
};

static int fail(char *err, size_t size, int line, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(err, size, "line %d: ", line);

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < size)
		vsnprintf(err + n, size - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static int metric_char(char c, int first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
	       (!first && c >= '0' && c <= '9');
}

static int label_char(char c, int first)
{
	return c != ':' && metric_char(c, first);
}

/* A name at *s (metric names allow ':'); returns a copy and advances, or NULL. */
static char *take_name(const char **s, const char *end, int metric)
{
	const char *p = *s;
	char *out;

	while (p < end && (metric ? metric_char(*p, p == *s) : label_char(*p, p == *s)))
		p++;
	if (p == *s || (out = strndup(*s, (size_t)(p - *s))) == NULL)
		return NULL;
	*s = p;
	return out;
}

/* Go's strconv.ParseFloat syntax as Prometheus accepts it: decimal or hex floats, Inf, NaN, a sign. */
static int parse_float(const char *s, size_t len, double *v)
{
	char buf[128], *end;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (strcmp(buf, "NaN") == 0) {
		*v = NAN;
		return 0;
	}
	if (strcmp(buf, "+Inf") == 0 || strcmp(buf, "Inf") == 0) {
		*v = INFINITY;
		return 0;
	}
	if (strcmp(buf, "-Inf") == 0) {
		*v = -INFINITY;
		return 0;
	}
	/* strtod also takes "infinity", "nan(...)" and leading space: none of them is allowed. */
	for (size_t i = 0; i < len; i++)
		if (!((buf[i] >= '0' && buf[i] <= '9') || buf[i] == '.' || buf[i] == 'e' || buf[i] == 'E' ||
		      buf[i] == '+' || buf[i] == '-' || buf[i] == 'x' || buf[i] == 'X' || buf[i] == 'p' ||
		      buf[i] == 'P' || (buf[i] >= 'a' && buf[i] <= 'f') || (buf[i] >= 'A' && buf[i] <= 'F')))
			return -1;
	errno = 0;
	*v = strtod(buf, &end);
	return end == buf + len && errno != ERANGE ? 0 : -1;
}

static family_t *find_family(prom_t *p, const char *name)
{
	for (size_t i = 0; i < p->nfamilies; i++)
		if (strcmp(p->families[i].name, name) == 0)
			return &p->families[i];
	return NULL;
}

/* Makes name the current family (index *cur, -1 before the first), adding it: its lines must be together. */
static int enter_family(prom_t *p, const char *name, int *cur, char *err, size_t size, int line)
{
	family_t *f = find_family(p, name);
	int i;

	if (f == NULL) {
		if (p->nfamilies == p->fcap) {
			size_t cap = p->fcap ? 2 * p->fcap : 32;
			family_t *n = realloc(p->families, cap * sizeof(*n));

			if (n == NULL)
				return fail(err, size, line, "out of memory");
			p->families = n;
			p->fcap = cap;
		}
		f = &p->families[p->nfamilies++];
		memset(f, 0, sizeof(*f));
		if ((f->name = strdup(name)) == NULL)
			return fail(err, size, line, "out of memory");
	}
	i = (int)(f - p->families);
	if (i == *cur)
		return 0;
	if (f->closed)
		return fail(err, size, line, "lines of family %s are not together", name);
	if (*cur >= 0)
		p->families[*cur].closed = 1;
	*cur = i;
	return 0;
}

/* The family a sample name belongs to, given the families declared so far. */
static const char *family_of(prom_t *p, const char *name, char *buf, size_t size)
{
	static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
	size_t len = strlen(name);

	for (size_t i = 0; i < 3; i++) {
		size_t sl = strlen(suffixes[i]);
		family_t *f;

		if (len <= sl || strcmp(name + len - sl, suffixes[i]) != 0 || len - sl >= size)
			continue;
		memcpy(buf, name, len - sl);
		buf[len - sl] = '\0';
		if ((f = find_family(p, buf)) != NULL && f->type != NULL &&
		    (strcmp(f->type, "histogram") == 0 || (strcmp(f->type, "summary") == 0 && i > 0)))
			return buf;
	}
	return name;
}

/* Reads a label value between quotes at *s (already past the opening quote) into a new string. */
static char *take_value(const char **s, const char *end)
{
	char *out = malloc((size_t)(end - *s) + 1);
	size_t n = 0;
	const char *p = *s;

	if (out == NULL)
		return NULL;
	while (p < end && *p != '"') {
		if (*p == '\\') {
			if (p + 1 >= end)
				goto bad;
			p++;
			if (*p == '\\' || *p == '"')
				out[n++] = *p;
			else if (*p == 'n')
				out[n++] = '\n';
			else
				goto bad;
			p++;
			continue;
		}
		out[n++] = *p++;
	}
	if (p >= end)
		goto bad;
	out[n] = '\0';
	*s = p + 1;
	return out;
bad:
	free(out);
	return NULL;
}

static void sample_clear(sample_t *s)
{
	free(s->name);
	free(s->family);
	for (size_t i = 0; i < s->nlabels; i++) {
		free(s->labels[i].name);
		free(s->labels[i].value);
	}
	memset(s, 0, sizeof(*s));
}

static const char *label_get(const sample_t *s, const char *name)
{
	for (size_t i = 0; i < s->nlabels; i++)
		if (strcmp(s->labels[i].name, name) == 0)
			return s->labels[i].value;
	return NULL;
}

/* Same name and the same label set (in any order). */
static int same_series(const sample_t *a, const sample_t *b)
{
	if (strcmp(a->name, b->name) != 0 || a->nlabels != b->nlabels)
		return 0;
	for (size_t i = 0; i < a->nlabels; i++) {
		const char *v = label_get(b, a->labels[i].name);
		if (v == NULL || strcmp(v, a->labels[i].value) != 0)
			return 0;
	}
	return 1;
}

static int parse_sample(prom_t *p, const char *s, const char *end, int *cur, char *err, size_t size, int line)
{
	sample_t smp = {0};
	char fam[256];
	const char *vstart;
	double ts;
	family_t *f;

	if ((smp.name = take_name(&s, end, 1)) == NULL)
		return fail(err, size, line, "bad metric name");
	if (s < end && *s == '{') {
		s++;
		while (s < end && *s != '}') {
			label_t *l;

			if (smp.nlabels == MAX_LABELS)
				goto bad_labels;
			l = &smp.labels[smp.nlabels];
			if ((l->name = take_name(&s, end, 0)) == NULL)
				goto bad_labels;
			smp.nlabels++;
			if (strncmp(l->name, "__", 2) == 0)
				goto bad_labels;
			if (s + 1 >= end || s[0] != '=' || s[1] != '"')
				goto bad_labels;
			s += 2;
			if ((l->value = take_value(&s, end)) == NULL)
				goto bad_labels;
			/* A duplicate label name: the first with this name must be this one. */
			for (size_t i = 0; i + 1 < smp.nlabels; i++)
				if (strcmp(smp.labels[i].name, l->name) == 0)
					goto bad_labels;
			if (s < end && *s == ',')
				s++;
			else if (s < end && *s != '}')
				goto bad_labels;
		}
		if (s >= end)
			goto bad_labels;
		s++;
	}
	if (s >= end || (*s != ' ' && *s != '\t')) {
		sample_clear(&smp);
		return fail(err, size, line, "expected white space before the value");
	}
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	vstart = s;
	while (s < end && *s != ' ' && *s != '\t')
		s++;
	if (parse_float(vstart, (size_t)(s - vstart), &smp.value) != 0) {
		sample_clear(&smp);
		return fail(err, size, line, "bad value \"%.*s\"", (int)(s - vstart), vstart);
	}
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if (s < end) {
		const char *t = s;

		if (*t == '-')
			t++;
		while (t < end && *t >= '0' && *t <= '9')
			t++;
		if (t != end || t == s || parse_float(s, (size_t)(end - s), &ts) != 0) {
			sample_clear(&smp);
			return fail(err, size, line, "bad timestamp \"%.*s\"", (int)(end - s), s);
		}
	}
	if ((smp.family = strdup(family_of(p, smp.name, fam, sizeof(fam)))) == NULL ||
	    enter_family(p, smp.family, cur, err, size, line) != 0) {
		sample_clear(&smp);
		return -1;
	}
	f = &p->families[*cur];
	if (f->type == NULL) {
		fail(err, size, line, "sample of %s before (or without) its TYPE line", smp.name);
		sample_clear(&smp);
		return -1;
	}
	if ((strcmp(f->type, "counter") == 0 || strcmp(f->type, "gauge") == 0) &&
	    strcmp(smp.name, f->name) != 0) {
		fail(err, size, line, "sample %s in %s family %s", smp.name, f->type, f->name);
		sample_clear(&smp);
		return -1;
	}
	if (strcmp(f->type, "histogram") == 0) {
		if (strcmp(smp.name, f->name) == 0) {
			sample_clear(&smp);
			return fail(err, size, line, "histogram %s has a bare sample", f->name);
		}
		if (strlen(smp.name) > 7 && strcmp(smp.name + strlen(smp.name) - 7, "_bucket") == 0) {
			const char *le = label_get(&smp, "le");
			double b;

			if (le == NULL || parse_float(le, strlen(le), &b) != 0) {
				sample_clear(&smp);
				return fail(err, size, line, "bucket without a numeric le label");
			}
		} else if (label_get(&smp, "le") != NULL) {
			sample_clear(&smp);
			return fail(err, size, line, "le label outside a bucket");
		}
	}
	for (size_t i = 0; i < p->nsamples; i++) {
		if (same_series(&p->samples[i], &smp)) {
			sample_clear(&smp);
			return fail(err, size, line, "series %s appears twice", p->samples[i].name);
		}
	}
	if (p->nsamples == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 64;
		sample_t *n = realloc(p->samples, cap * sizeof(*n));

		if (n == NULL) {
			sample_clear(&smp);
			return fail(err, size, line, "out of memory");
		}
		p->samples = n;
		p->cap = cap;
	}
	p->samples[p->nsamples++] = smp;
	return 0;
bad_labels:
	sample_clear(&smp);
	return fail(err, size, line, "bad label set");
}

static int parse_comment(prom_t *p, const char *s, const char *end, int *cur, char *err, size_t size,
			 int line)
{
	static const char *const types[] = {"counter", "gauge", "histogram", "summary", "untyped"};
	char *name;
	int help;
	family_t *f;

	if (end - s < 7 || (strncmp(s, "# HELP ", 7) != 0 && strncmp(s, "# TYPE ", 7) != 0))
		return 0; /* any other comment */
	help = s[2] == 'H';
	s += 7;
	if ((name = take_name(&s, end, 1)) == NULL)
		return fail(err, size, line, "bad name in %s line", help ? "HELP" : "TYPE");
	if (enter_family(p, name, cur, err, size, line) != 0) {
		free(name);
		return -1;
	}
	free(name);
	f = &p->families[*cur];
	if (help) {
		if (f->help)
			return fail(err, size, line, "second HELP line for %s", f->name);
		f->help = 1;
		if (s < end && *s != ' ')
			return fail(err, size, line, "expected a space after the HELP name");
		for (s += s < end; s < end; s++)
			if (*s == '\\' && (s + 1 >= end || (s[1] != '\\' && s[1] != 'n')))
				return fail(err, size, line, "bad escape in HELP");
			else if (*s == '\\')
				s++;
		return 0;
	}
	if (f->type != NULL)
		return fail(err, size, line, "second TYPE line for %s", f->name);
	for (size_t i = 0; i < p->nsamples; i++)
		if (strcmp(p->samples[i].family, f->name) == 0)
			return fail(err, size, line, "TYPE line for %s after its samples", f->name);
	if (s >= end || *s != ' ')
		return fail(err, size, line, "expected a type");
	s++;
	for (size_t i = 0; i < 5; i++)
		if ((size_t)(end - s) == strlen(types[i]) && strncmp(s, types[i], (size_t)(end - s)) == 0)
			return (f->type = (char *)types[i]) != NULL ? 0 : -1;
	return fail(err, size, line, "unknown type \"%.*s\"", (int)(end - s), s);
}

/* True when a and b have the same labels, "le" left out. */
static int same_but_le(const sample_t *a, const sample_t *b)
{
	size_t na = 0, nb = 0;

	for (size_t i = 0; i < a->nlabels; i++) {
		const char *v;

		if (strcmp(a->labels[i].name, "le") == 0)
			continue;
		na++;
		if ((v = label_get(b, a->labels[i].name)) == NULL || strcmp(v, a->labels[i].value) != 0)
			return 0;
	}
	for (size_t i = 0; i < b->nlabels; i++)
		nb += strcmp(b->labels[i].name, "le") != 0;
	return na == nb;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n > k && strcmp(s + n - k, suffix) == 0;
}

/* Checks each histogram series: le bounds increasing to +Inf, cumulative counts, +Inf == _count, _sum. */
static int check_histograms(prom_t *p, char *err, size_t size)
{
	for (size_t i = 0; i < p->nsamples; i++) {
		const sample_t *h = &p->samples[i];
		const family_t *f = find_family(p, h->family);
		double last_le = -INFINITY, last = 0, inf = -1, count = -1;
		int sum = 0, seen = 0;

		if (f == NULL || f->type == NULL || strcmp(f->type, "histogram") != 0)
			continue;
		/* Each series once: at its first sample. */
		for (size_t k = 0; k < i && !seen; k++)
			seen = strcmp(p->samples[k].family, h->family) == 0 && same_but_le(&p->samples[k], h);
		if (seen)
			continue;
		for (size_t k = i; k < p->nsamples; k++) {
			const sample_t *o = &p->samples[k];
			double le;

			if (strcmp(o->family, h->family) != 0 || !same_but_le(o, h))
				continue;
			if (ends_with(o->name, "_bucket")) {
				parse_float(label_get(o, "le"), strlen(label_get(o, "le")), &le);
				if (le <= last_le || o->value < last) {
					snprintf(err, size,
						 "histogram %s: buckets out of order or not cumulative",
						 f->name);
					return -1;
				}
				last_le = le;
				last = o->value;
				if (isinf(le))
					inf = o->value;
			} else if (ends_with(o->name, "_sum")) {
				sum = 1;
			} else {
				count = o->value;
			}
		}
		if (inf < 0 || count < 0 || !sum || inf != count) {
			snprintf(
			    err, size,
			    "histogram %s: a series lacks its +Inf bucket, _sum or _count, or they differ",
			    f->name);
			return -1;
		}
	}
	return 0;
}

void prom_free(prom_t *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nsamples; i++)
		sample_clear(&p->samples[i]);
	for (size_t i = 0; i < p->nfamilies; i++)
		free(p->families[i].name);
	free(p->samples);
	free(p->families);
	free(p);
}

prom_t *prom_parse(const char *text, size_t len, char *err, size_t err_size)
{
	prom_t *p = calloc(1, sizeof(*p));
	const char *s = text, *end = text + len;
	int cur = -1, line = 0;

	if (p == NULL) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	if (len == 0 || text[len - 1] != '\n') {
		fail(err, err_size, 0, "the text does not end with a newline");
		goto bad;
	}
	while (s < end) {
		const char *eol = memchr(s, '\n', (size_t)(end - s));

		line++;
		if (memchr(s, '\0', (size_t)(eol - s)) != NULL ||
		    memchr(s, '\r', (size_t)(eol - s)) != NULL) {
			fail(err, err_size, line, "NUL or carriage return");
			goto bad;
		}
		if (eol == s) {
			/* an empty line is ignored */
		} else if (*s == '#') {
			if (parse_comment(p, s, eol, &cur, err, err_size, line) != 0)
				goto bad;
		} else if (*s == ' ' || *s == '\t') {
			fail(err, err_size, line, "leading white space");
			goto bad;
		} else if (parse_sample(p, s, eol, &cur, err, err_size, line) != 0) {
			goto bad;
		}
		s = eol + 1;
	}
	if (check_histograms(p, err, err_size) != 0)
		goto bad;
	return p;
bad:
	prom_free(p);
	return NULL;
}

/* True when s has every label=value pair of match. */
static int matches(const sample_t *s, const char *match)
{
	char buf[1024], *save = NULL, *pair;

	if (match == NULL || *match == '\0')
		return 1;
	snprintf(buf, sizeof(buf), "%s", match);
	for (pair = strtok_r(buf, ",", &save); pair != NULL; pair = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(pair, '=');
		const char *v;

		if (eq == NULL)
			return 0;
		*eq = '\0';
		if ((v = label_get(s, pair)) == NULL || strcmp(v, eq + 1) != 0)
			return 0;
	}
	return 1;
}

double prom_sum(const prom_t *p, const char *name, const char *match, size_t *n)
{
	double sum = 0;
	size_t count = 0;

	for (size_t i = 0; i < p->nsamples; i++) {
		if (strcmp(p->samples[i].name, name) != 0 || !matches(&p->samples[i], match))
			continue;
		sum += p->samples[i].value;
		count++;
	}
	if (n != NULL)
		*n = count;
	return sum;
}

int prom_has(const prom_t *p, const char *name, const char *match)
{
	size_t n;

	prom_sum(p, name, match, &n);
	return n > 0;
}

const char *prom_type(const prom_t *p, const char *name)
{
	for (size_t i = 0; i < p->nfamilies; i++)
		if (strcmp(p->families[i].name, name) == 0)
			return p->families[i].type;
	return NULL;
}

size_t prom_families(const prom_t *p)
{
	return p->nfamilies;
}

size_t prom_samples(const prom_t *p)
{
	return p->nsamples;
}

const char *prom_family(const prom_t *p, size_t i)
{
	return i < p->nfamilies ? p->families[i].name : NULL;
}

const char *prom_label(const prom_t *p, const char *name, size_t i, const char *label)
{
	for (size_t k = 0; k < p->nsamples; k++)
		if (strcmp(p->samples[k].name, name) == 0 && i-- == 0)
			return label_get(&p->samples[k], label);
	return NULL;
}
