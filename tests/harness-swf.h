/* harness-swf: Amazon SWF helpers for integration tests, over the harness (everything through Kafka). */
#ifndef ANDON_HARNESS_SWF_H
#define ANDON_HARNESS_SWF_H

#include <jansson.h>
#include <stddef.h>

/** One workflow execution: domain, workflowId and runId (owned strings). */
typedef struct hw_run {
	char *domain, *wid, *rid;
} hw_run_t;

/** Registers a domain (decision_topic may be NULL for the default); aborts the test on failure. */
void hw_domain(const char *name, const char *decision_topic);
/** Registers workflow type name/version with defaultChildPolicy policy (NULL: none). */
void hw_type(const char *domain, const char *name, const char *version, const char *policy);

/** Starts workflowId wid of type name/version with childPolicy policy (NULL: none). */
hw_run_t hw_start(const char *domain, const char *wid, const char *type, const char *version,
		  const char *policy);
/** Starts child cwid of parent (its type, childPolicy policy or none) and waits until the child run is
 * started (the reply to its internal start "swf-start-<runId>"). */
hw_run_t hw_child(const hw_run_t *parent, const char *cwid, const char *policy);
/** Starts child i (cwids[i], no policy of its own) of parents[i] for every i in one burst, then waits for
 * all of them; fills runs[i]. */
void hw_children(int n, hw_run_t *const *parents, char *const *cwids, hw_run_t *runs);
void hw_run_free(hw_run_t *r);

/** The request body {domain, workflowId, runId} naming run (runId left out when with_rid is 0). */
json_t *hw_exec(const hw_run_t *r, int with_rid);

/** DescribeWorkflowExecution of r: the reply (borrowed). */
json_t *hw_describe(const hw_run_t *r);
/** "OPEN", or the closeStatus of r once closed (owned by the last reply; copy it). */
const char *hw_status(const hw_run_t *r);
/** Polls until r is closed with close_status; 0, or -1 on timeout. */
int hw_wait_closed(const hw_run_t *r, const char *close_status, int timeout_ms);
/** The whole history of r (every page), as a new array. */
json_t *hw_history(const hw_run_t *r);
/** Number of history entries of type in events. */
size_t hw_count(json_t *events, const char *type);
/** The last history entry of type in events, or NULL (borrowed). */
json_t *hw_last(json_t *events, const char *type);

/** The resource name of r's events: arn:aws:swf:REGION:ACCOUNT:/domain/D/workflowId/W/runId/R (caller frees).
 */
char *hw_arn(const hw_run_t *r);

/** Messages on topic whose value names run r (workflowExecution.runId), as a new array. */
json_t *hw_decisions(const char *topic, const hw_run_t *r);

/** True when reply is ok:false with error code. */
int hw_is_error(json_t *reply, const char *code);
/** True when reply is ok:true. */
int hw_ok(json_t *reply);

#endif
