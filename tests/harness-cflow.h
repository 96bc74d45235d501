/* harness-cflow: CloudFlow helpers over the integration harness (flows, executions, their resources). */
#ifndef ANDON_HARNESS_CFLOW_H
#define ANDON_HARNESS_CFLOW_H

#include <jansson.h>

/* A second account, for the account-scoping tests (H_ACCOUNT is the first). */
#define HCF_ACCOUNT_B "210987654321"

/** {"FlowName": flow, "ExecutionName": exec}, a new object (exec may be NULL). */
json_t *hcf_body(const char *flow, const char *exec);

/** CreateFlow in account (NULL: the worker's default); dies unless it succeeds. */
void hcf_flow(const char *account, const char *name, const char *definition);

/** Starts execution exec of flow and, when running, reports it Running; dies unless both succeed. */
void hcf_start(const char *account, const char *flow, const char *exec, int running);

/** Starts executions "<prefix>-<i>", i < n, in one burst (then reports them Running, when running). */
void hcf_start_many(const char *account, const char *flow, const char *prefix, int n, int running);

/** The execution's resource as events carry it (caller frees); account NULL means H_ACCOUNT. */
char *hcf_resource(const char *account, const char *flow, const char *exec);

/** True when s has the form 2019-01-01T01:01:01.001Z. */
int hcf_is_time(const char *s);

#endif
