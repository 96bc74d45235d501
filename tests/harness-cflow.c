/* harness-cflow: CloudFlow helpers over the integration harness (flows, executions, their resources). */
#include "harness-cflow.h"

#include "harness.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HCF_DIE(...)                                                                                         \
	do {                                                                                                 \
		fprintf(stderr, "harness-cflow: " __VA_ARGS__);                                              \
		fprintf(stderr, "\n");                                                                       \
		h_stop();                                                                                    \
		abort();                                                                                     \
	} while (0)

json_t *hcf_body(const char *flow, const char *exec)
{
	json_t *b = json_pack("{s:s}", "FlowName", flow);

	if (exec != NULL)
		json_object_set_new(b, "ExecutionName", json_string(exec));
	return b;
}

static int ok(json_t *r)
{
	return json_is_true(json_object_get(r, "ok"));
}

static void die_unless_ok(json_t *r, const char *what, const char *name)
{
	char *dump;

	if (ok(r))
		return;
	dump = json_dumps(r, JSON_COMPACT);
	fprintf(stderr, "harness-cflow: %s %s: %s\n", what, name, dump != NULL ? dump : "(no reply)");
	free(dump);
	HCF_DIE("%s %s failed", what, name);
}

void hcf_flow(const char *account, const char *name, const char *definition)
{
	json_t *r = h_call_as(
	    "CloudFlow.CreateFlow", NULL, account,
	    json_pack("{s:s, s:s, s:s}", "Name", name, "Definition", definition, "Description", "test flow"));

	die_unless_ok(r, "CreateFlow", name);
}

void hcf_start(const char *account, const char *flow, const char *exec, int running)
{
	json_t *b = hcf_body(flow, exec);

	json_object_set_new(b, "Input", json_string("{\"k\":\"v\"}"));
	die_unless_ok(h_call_as("CloudFlow.StartExecution", NULL, account, b), "StartExecution", exec);
	if (running)
		die_unless_ok(
		    h_call_as("CloudFlow.ReportExecutionRunning", NULL, account, hcf_body(flow, exec)),
		    "ReportExecutionRunning", exec);
}

static void burst(const char *op, const char *account, const char *flow, const char *prefix, int n)
{
	const char **ids = calloc((size_t)n, sizeof(*ids));
	char name[160];

	if (ids == NULL)
		HCF_DIE("out of memory");
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s-%d", prefix, i);
		ids[i] = h_send(op, NULL, account, hcf_body(flow, name));
	}
	h_flush();
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s-%d", prefix, i);
		die_unless_ok(h_reply(ids[i], 1, 60000), op, name);
	}
	free(ids);
}

void hcf_start_many(const char *account, const char *flow, const char *prefix, int n, int running)
{
	burst("CloudFlow.StartExecution", account, flow, prefix, n);
	if (running)
		burst("CloudFlow.ReportExecutionRunning", account, flow, prefix, n);
}

char *hcf_resource(const char *account, const char *flow, const char *exec)
{
	char *s;

	if (asprintf(&s, "acs:fnf:%s:%s:flow/%s/execution/%s", H_REGION, account ? account : H_ACCOUNT, flow,
		     exec) < 0)
		HCF_DIE("out of memory");
	return s;
}

int hcf_is_time(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";

	if (s == NULL || strlen(s) != sizeof(shape) - 1)
		return 0;
	for (size_t i = 0; shape[i] != '\0'; i++)
		if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i])
			return 0;
	return 1;
}
