/* authz: IAM-like access key policies (docs/OPERATIONS.md, "Access keys"): parse, and decide a request. */
#include "authz.h"

#include "utf8.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STATEMENTS 100
#define MAX_PATTERNS   100 /* per statement, actions and resources each */

typedef struct statement {
	int deny;
	char **actions, **resources;
	size_t nactions, nresources;
} statement_t;

struct andon_policy {
	statement_t *st;
	size_t n;
};

static void statement_free(statement_t *s)
{
	for (size_t i = 0; i < s->nactions; i++)
		free(s->actions[i]);
	for (size_t i = 0; i < s->nresources; i++)
		free(s->resources[i]);
	free(s->actions);
	free(s->resources);
}

void andon_policy_destroy(andon_policy_t *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++)
		statement_free(&p->st[i]);
	free(p->st);
	free(p);
}

/* A string or an array of strings, into *out (n of them). 0, or -1 with errstr. */
static int patterns(json_t *v, const char *what, size_t idx, char ***out, size_t *n, char *errstr,
		    size_t errstr_size)
{
	size_t count = json_is_array(v) ? json_array_size(v) : 1;

	*out = NULL;
	*n = 0;
	if (v == NULL)
		return andon_fail(errstr, errstr_size, "Statement %zu has no %s", idx, what);
	if (!json_is_string(v) && !json_is_array(v))
		return andon_fail(errstr, errstr_size, "Statement %zu: %s must be a string or a list", idx,
				  what);
	if (count == 0 || count > MAX_PATTERNS)
		return andon_fail(errstr, errstr_size, "Statement %zu: %s must hold 1 to %d patterns", idx,
				  what, MAX_PATTERNS);
	if ((*out = calloc(count, sizeof(**out))) == NULL)
		return andon_fail(errstr, errstr_size, "out of memory");
	for (size_t i = 0; i < count; i++) {
		json_t *e = json_is_array(v) ? json_array_get(v, i) : v;

		if (!json_is_string(e) || json_string_length(e) == 0 || json_string_length(e) > 2048)
			return andon_fail(errstr, errstr_size,
					  "Statement %zu: each %s must be a string of 1 to 2048 bytes", idx,
					  what);
		if (((*out)[i] = strdup(json_string_value(e))) == NULL)
			return andon_fail(errstr, errstr_size, "out of memory");
		(*n)++;
	}
	return 0;
}

static int statement(json_t *o, size_t idx, statement_t *s, char *errstr, size_t errstr_size)
{
	const char *k, *effect;
	json_t *v;

	if (!json_is_object(o))
		return andon_fail(errstr, errstr_size, "Statement %zu is not an object", idx);
	json_object_foreach(o, k, v)
	{
		if (strcmp(k, "Effect") != 0 && strcmp(k, "Action") != 0 && strcmp(k, "Resource") != 0 &&
		    strcmp(k, "Sid") != 0)
			return andon_fail(
			    errstr, errstr_size,
			    "Statement %zu: %s is not supported (Effect, Action, Resource, Sid)", idx, k);
	}
	effect = json_string_value(json_object_get(o, "Effect"));
	if (effect == NULL || (strcmp(effect, "Allow") != 0 && strcmp(effect, "Deny") != 0))
		return andon_fail(errstr, errstr_size, "Statement %zu: Effect must be Allow or Deny", idx);
	s->deny = effect[0] == 'D';
	if (patterns(json_object_get(o, "Action"), "Action", idx, &s->actions, &s->nactions, errstr,
		     errstr_size) != 0 ||
	    patterns(json_object_get(o, "Resource"), "Resource", idx, &s->resources, &s->nresources, errstr,
		     errstr_size) != 0)
		return -1;
	return 0;
}

andon_policy_t *andon_policy_parse(const char *text, size_t len, char *errstr, size_t errstr_size)
{
	andon_policy_t *p = NULL;
	json_error_t jerr;
	json_t *root, *st;
	const char *k;
	json_t *v;
	size_t n;

	if (len > ANDON_POLICY_MAX_BYTES) {
		andon_fail(errstr, errstr_size, "policy longer than %d bytes", ANDON_POLICY_MAX_BYTES);
		return NULL;
	}
	if ((root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		andon_fail(errstr, errstr_size, "policy is not JSON: %s (line %d)", jerr.text, jerr.line);
		return NULL;
	}
	if (!json_is_object(root)) {
		andon_fail(errstr, errstr_size, "policy must be a JSON object");
		goto err;
	}
	json_object_foreach(root, k, v)
	{
		if (strcmp(k, "Version") != 0 && strcmp(k, "Statement") != 0 && strcmp(k, "Id") != 0) {
			andon_fail(errstr, errstr_size, "policy: %s is not supported (Version, Statement)",
				   k);
			goto err;
		}
	}
	st = json_object_get(root, "Statement");
	n = json_is_array(st) ? json_array_size(st) : st != NULL ? 1 : 0;
	if (n == 0 || n > MAX_STATEMENTS) {
		andon_fail(errstr, errstr_size, "policy needs 1 to %d statements", MAX_STATEMENTS);
		goto err;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL || (p->st = calloc(n, sizeof(*p->st))) == NULL) {
		andon_fail(errstr, errstr_size, "out of memory");
		goto err;
	}
	for (size_t i = 0; i < n; i++) {
		p->n++;
		if (statement(json_is_array(st) ? json_array_get(st, i) : st, i, &p->st[i], errstr,
			      errstr_size) != 0)
			goto err;
	}
	json_decref(root);
	return p;
err:
	andon_policy_destroy(p);
	json_decref(root);
	return NULL;
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

int andon_glob(const char *pat, size_t plen, const char *s, size_t slen, int nocase)
{
	size_t p = 0, i = 0, star = (size_t)-1, mark = 0;

	/* Greedy with one backtrack point: the last '*' seen, linear in practice, never recursive. */
	while (i < slen) {
		if (p < plen &&
		    (pat[p] == '?' || (nocase ? lower((unsigned char)pat[p]) == lower((unsigned char)s[i])
					      : pat[p] == s[i]))) {
			p++;
			i++;
		} else if (p < plen && pat[p] == '*') {
			star = p++;
			mark = i;
		} else if (star != (size_t)-1) {
			p = star + 1;
			i = ++mark;
		} else {
			return 0;
		}
	}
	while (p < plen && pat[p] == '*')
		p++;
	return p == plen;
}

static int any(char *const *pats, size_t n, const char *s, int nocase)
{
	size_t len = strlen(s);

	for (size_t i = 0; i < n; i++)
		if (andon_glob(pats[i], strlen(pats[i]), s, len, nocase))
			return 1;
	return 0;
}

int andon_policy_allows(const andon_policy_t *p, const char *action, const char *resource)
{
	int allow = 0;

	if (p == NULL)
		return 0;
	for (size_t i = 0; i < p->n; i++) {
		const statement_t *s = &p->st[i];

		if (!any(s->actions, s->nactions, action, 1) ||
		    !any(s->resources, s->nresources, resource, 0))
			continue;
		if (s->deny)
			return 0;
		allow = 1;
	}
	return allow;
}

static const struct service {
	const char *prefix; /* of the op */
	const char *iam;    /* IAM service prefix */
} services[] = {
    {"StepFunctions.", "states"}, {"SageMaker.", "sagemaker"}, {"SWF.", "swf"},
    {"CloudFlow.", "fnf"},	  {"Test.", "test"},
};

int andon_authz_action(const char *op, size_t op_len, char *out, size_t size)
{
	for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
		size_t n = strlen(services[i].prefix);
		int w;

		if (op_len <= n || memcmp(op, services[i].prefix, n) != 0)
			continue;
		w = snprintf(out, size, "%s:%.*s", services[i].iam, (int)(op_len - n), op + n);
		return w < 0 || (size_t)w >= size ? -1 : 0;
	}
	return -1;
}

/* The string field name of body (a map), or NULL. */
static const char *field(const msgpack_object *body, const char *name, size_t *len)
{
	size_t n = strlen(name);

	if (body == NULL || body->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < body->via.map.size; i++) {
		const msgpack_object *k = &body->via.map.ptr[i].key, *v = &body->via.map.ptr[i].val;

		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
		    memcmp(k->via.str.ptr, name, n) == 0 && v->type == MSGPACK_OBJECT_STR &&
		    andon_utf8_valid(v->via.str.ptr, v->via.str.size)) {
			*len = v->via.str.size;
			return v->via.str.ptr;
		}
	}
	return NULL;
}

void andon_authz_resource(const char *op, size_t op_len, const msgpack_object *body, const char *region,
			  const char *account, char *out, size_t size)
{
	const char *s;
	size_t n;
	int w = -1;

#define OP_IS(p) (op_len >= sizeof(p) - 1 && memcmp(op, p, sizeof(p) - 1) == 0)
	if (OP_IS("StepFunctions.")) {
		if ((s = field(body, "executionArn", &n)) != NULL ||
		    (s = field(body, "stateMachineArn", &n)) != NULL)
			w = snprintf(out, size, "%.*s", (int)n, s);
		else if ((s = field(body, "name", &n)) != NULL)
			w = snprintf(out, size, "arn:aws:states:%s:%s:stateMachine:%.*s", region, account,
				     (int)n, s);
	} else if (OP_IS("SageMaker.")) {
		if ((s = field(body, "PipelineExecutionArn", &n)) != NULL)
			w = snprintf(out, size, "%.*s", (int)n, s);
		else if ((s = field(body, "PipelineName", &n)) != NULL)
			w = snprintf(out, size, "arn:aws:sagemaker:%s:%s:pipeline/%.*s", region, account,
				     (int)n, s);
	} else if (OP_IS("SWF.")) {
		if ((s = field(body, "domain", &n)) != NULL || (s = field(body, "name", &n)) != NULL)
			w = snprintf(out, size, "arn:aws:swf:%s:%s:/domain/%.*s", region, account, (int)n, s);
	} else if (OP_IS("CloudFlow.")) {
		if ((s = field(body, "FlowName", &n)) != NULL || (s = field(body, "Name", &n)) != NULL)
			w = snprintf(out, size, "acs:fnf:%s:%s:flow/%.*s", region, account, (int)n, s);
	}
#undef OP_IS
	/* Not found, or an ARN too long for out (the adapter refuses such a request anyway): the wildcard. */
	if (w < 0 || (size_t)w >= size)
		snprintf(out, size, "*");
}
