/* harness-swf: Amazon SWF helpers for integration tests, over the harness (everything through Kafka). */
#include "harness-swf.h"

#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...)                                                                                            \
	do {                                                                                                 \
		fprintf(stderr, "harness-swf: " __VA_ARGS__);                                                \
		fprintf(stderr, "\n");                                                                       \
		abort();                                                                                     \
	} while (0)

int hw_ok(json_t *reply)
{
	return reply != NULL && json_is_true(json_object_get(reply, "ok"));
}

int hw_is_error(json_t *reply, const char *code)
{
	const char *c = json_string_value(json_object_get(json_object_get(reply, "error"), "code"));

	return reply != NULL && json_is_false(json_object_get(reply, "ok")) && c != NULL &&
	       strcmp(c, code) == 0;
}

static void must(json_t *reply, const char *what)
{
	if (!hw_ok(reply)) {
		char *s = reply != NULL ? json_dumps(reply, JSON_COMPACT) : NULL;
		fprintf(stderr, "harness-swf: %s failed: %s\n", what, s != NULL ? s : "no reply");
		abort();
	}
}

void hw_domain(const char *name, const char *decision_topic)
{
	json_t *body = json_pack("{s:s}", "name", name);

	if (decision_topic != NULL)
		json_object_set_new(body, "decisionTopic", json_string(decision_topic));
	must(h_call("SWF.RegisterDomain", body), "RegisterDomain");
}

void hw_type(const char *domain, const char *name, const char *version, const char *policy)
{
	json_t *body = json_pack("{s:s, s:s, s:s}", "domain", domain, "name", name, "version", version);

	if (policy != NULL)
		json_object_set_new(body, "defaultChildPolicy", json_string(policy));
	must(h_call("SWF.RegisterWorkflowType", body), "RegisterWorkflowType");
}

static char *body_str(json_t *reply, const char *field)
{
	const char *s = json_string_value(json_object_get(json_object_get(reply, "body"), field));

	if (s == NULL)
		FAIL("reply has no body.%s", field);
	return strdup(s);
}

hw_run_t hw_start(const char *domain, const char *wid, const char *type, const char *version,
		  const char *policy)
{
	json_t *body = json_pack("{s:s, s:s, s:{s:s, s:s}, s:s}", "domain", domain, "workflowId", wid,
				 "workflowType", "name", type, "version", version, "input", "{}");
	json_t *r;
	hw_run_t run;

	if (policy != NULL)
		json_object_set_new(body, "childPolicy", json_string(policy));
	r = h_call("SWF.StartWorkflowExecution", body);
	must(r, "StartWorkflowExecution");
	run.domain = strdup(domain);
	run.wid = strdup(wid);
	run.rid = body_str(r, "runId");
	return run;
}

static json_t *child_body(const hw_run_t *parent, const char *cwid, const char *policy)
{
	json_t *body = hw_exec(parent, 1);

	json_object_set_new(body, "child", json_pack("{s:s}", "workflowId", cwid));
	if (policy != NULL)
		json_object_set_new(json_object_get(body, "child"), "childPolicy", json_string(policy));
	return body;
}

/* The child run is started once its internal start request is answered. */
static void wait_child_started(const char *rid)
{
	char id[128];

	snprintf(id, sizeof(id), "swf-start-%s", rid);
	must(h_reply(id, 1, 60000), id);
}

hw_run_t hw_child(const hw_run_t *parent, const char *cwid, const char *policy)
{
	json_t *r = h_call("SWF.StartChildWorkflowExecution", child_body(parent, cwid, policy));
	hw_run_t run;

	must(r, "StartChildWorkflowExecution");
	run.domain = strdup(parent->domain);
	run.wid = strdup(cwid);
	run.rid = body_str(r, "runId");
	wait_child_started(run.rid);
	return run;
}

void hw_children(int n, hw_run_t *const *parents, char *const *cwids, hw_run_t *runs)
{
	const char **ids = calloc((size_t)n, sizeof(*ids));

	if (ids == NULL)
		FAIL("out of memory");
	for (int i = 0; i < n; i++)
		ids[i] = h_send("SWF.StartChildWorkflowExecution", NULL, NULL,
				child_body(parents[i], cwids[i], NULL));
	h_flush();
	for (int i = 0; i < n; i++) {
		json_t *r = h_reply(ids[i], 1, 60000);

		must(r, "StartChildWorkflowExecution");
		runs[i].domain = strdup(parents[i]->domain);
		runs[i].wid = strdup(cwids[i]);
		runs[i].rid = body_str(r, "runId");
	}
	for (int i = 0; i < n; i++)
		wait_child_started(runs[i].rid);
	free(ids);
}

void hw_run_free(hw_run_t *r)
{
	free(r->domain);
	free(r->wid);
	free(r->rid);
	r->domain = r->wid = r->rid = NULL;
}

json_t *hw_exec(const hw_run_t *r, int with_rid)
{
	json_t *body = json_pack("{s:s, s:s}", "domain", r->domain, "workflowId", r->wid);

	if (with_rid)
		json_object_set_new(body, "runId", json_string(r->rid));
	return body;
}

static json_t *exec_map(const hw_run_t *r)
{
	return json_pack("{s:s, s:{s:s, s:s}}", "domain", r->domain, "execution", "workflowId", r->wid,
			 "runId", r->rid);
}

json_t *hw_describe(const hw_run_t *r)
{
	json_t *reply = h_call("SWF.DescribeWorkflowExecution", exec_map(r));

	must(reply, "DescribeWorkflowExecution");
	return reply;
}

const char *hw_status(const hw_run_t *r)
{
	json_t *info = json_object_get(json_object_get(hw_describe(r), "body"), "executionInfo");
	const char *st = json_string_value(json_object_get(info, "executionStatus"));

	if (st != NULL && strcmp(st, "CLOSED") == 0)
		return json_string_value(json_object_get(info, "closeStatus"));
	return st;
}

int hw_wait_closed(const hw_run_t *r, const char *close_status, int timeout_ms)
{
	long long deadline = h_now_ms() + timeout_ms;

	for (;;) {
		const char *st = hw_status(r);

		if (st != NULL && strcmp(st, close_status) == 0)
			return 0;
		if (h_now_ms() >= deadline)
			return -1;
		h_pump(20);
	}
}

json_t *hw_history(const hw_run_t *r)
{
	json_t *all = json_array();
	const char *token = NULL;
	char tok[64];

	do {
		json_t *body = exec_map(r), *reply, *page;

		json_object_set_new(body, "maximumPageSize", json_integer(100));
		if (token != NULL)
			json_object_set_new(body, "nextPageToken", json_string(token));
		reply = h_call("SWF.GetWorkflowExecutionHistory", body);
		must(reply, "GetWorkflowExecutionHistory");
		page = json_object_get(reply, "body");
		json_array_extend(all, json_object_get(page, "events"));
		token = json_string_value(json_object_get(page, "nextPageToken"));
		if (token != NULL) {
			snprintf(tok, sizeof(tok), "%s", token);
			token = tok;
		}
	} while (token != NULL);
	return all;
}

size_t hw_count(json_t *events, const char *type)
{
	size_t i, n = 0;
	json_t *e;

	json_array_foreach(events, i, e)
	{
		const char *t = json_string_value(json_object_get(e, "eventType"));
		n += t != NULL && strcmp(t, type) == 0;
	}
	return n;
}

json_t *hw_last(json_t *events, const char *type)
{
	json_t *found = NULL, *e;
	size_t i;

	json_array_foreach(events, i, e)
	{
		const char *t = json_string_value(json_object_get(e, "eventType"));
		if (t != NULL && strcmp(t, type) == 0)
			found = e;
	}
	return found;
}

char *hw_arn(const hw_run_t *r)
{
	char *s;

	if (asprintf(&s, "arn:aws:swf:%s:%s:/domain/%s/workflowId/%s/runId/%s", H_REGION, H_ACCOUNT,
		     r->domain, r->wid, r->rid) < 0)
		FAIL("out of memory");
	return s;
}

json_t *hw_decisions(const char *topic, const hw_run_t *r)
{
	json_t *out = json_array(), *m;
	size_t i;

	json_array_foreach(h_topic(topic), i, m)
	{
		const char *rid = json_string_value(json_object_get(
		    json_object_get(json_object_get(m, "value"), "workflowExecution"), "runId"));
		if (rid != NULL && strcmp(rid, r->rid) == 0)
			json_array_append(out, json_object_get(m, "value"));
	}
	return out;
}
