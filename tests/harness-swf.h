/* harness-swf: Amazon SWF helpers for integration tests, over the harness (everything through Kafka). */
#ifndef ANDON_HARNESS_SWF_H
#define ANDON_HARNESS_SWF_H

#include <jansson.h>
#include <stddef.h>

/** One workflow execution: domain, workflowId and runId (owned strings). */
typedef struct hs_run {
	char *domain, *wid, *rid;
} hs_run_t;

/** Registers a domain (decision_topic may be NULL for the default); aborts the test on failure. */
void hs_domain(const char *name, const char *decision_topic);
/** Registers workflow type name/version with defaultChildPolicy policy (NULL: none). */
void hs_type(const char *domain, const char *name, const char *version, const char *policy);

/** Starts workflowId wid of type name/version with childPolicy policy (NULL: none). */
hs_run_t hs_start(const char *domain, const char *wid, const char *type, const char *version,
		  const char *policy);
/** Starts child cwid of parent (its type, childPolicy policy or none) and waits until the child run is
 * started (the reply to its internal start "swf-start-<runId>"). */
hs_run_t hs_child(const hs_run_t *parent, const char *cwid, const char *policy);
/** Starts child i (cwids[i], no policy of its own) of parents[i] for every i in one burst, then waits for
 * all of them; fills runs[i]. */
void hs_children(int n, hs_run_t *const *parents, char *const *cwids, hs_run_t *runs);
void hs_run_free(hs_run_t *r);

/** The request body {domain, workflowId, runId} naming run (runId left out when with_rid is 0). */
json_t *hs_exec(const hs_run_t *r, int with_rid);

/** DescribeWorkflowExecution of r: the reply (borrowed). */
json_t *hs_describe(const hs_run_t *r);
/** "OPEN", or the closeStatus of r once closed (owned by the last reply; copy it). */
const char *hs_status(const hs_run_t *r);
/** Polls until r is closed with close_status; 0, or -1 on timeout. */
int hs_wait_closed(const hs_run_t *r, const char *close_status, int timeout_ms);
/** The whole history of r (every page), as a new array. */
json_t *hs_history(const hs_run_t *r);
/** Number of history entries of type in events. */
size_t hs_count(json_t *events, const char *type);
/** The last history entry of type in events, or NULL (borrowed). */
json_t *hs_last(json_t *events, const char *type);

/** The resource name of r's events: arn:aws:swf:REGION:ACCOUNT:/domain/D/workflowId/W/runId/R (caller frees).
 */
char *hs_arn(const hs_run_t *r);

/** Messages on topic whose value names run r (workflowExecution.runId), as a new array. */
json_t *hs_decisions(const char *topic, const hs_run_t *r);

/** True when reply is ok:false with error code. */
int hs_is_error(json_t *reply, const char *code);
/** True when reply is ok:true. */
int hs_ok(json_t *reply);

#endif
