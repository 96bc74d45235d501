/* harness-sagemaker: SageMaker pipeline helpers over the harness (tests 02xx, bench). */
#ifndef ANDON_HARNESS_SAGEMAKER_H
#define ANDON_HARNESS_SAGEMAKER_H

#include <jansson.h>

/** Starts an execution of pipeline; returns its ARN (caller frees). Fails the test on an error reply. */
char *hs_start(const char *pipeline);

/** Reports that a step started: type "Callback" (topic NULL for the default) or "Lambda"; timeout 0 for
 * none (a Lambda step then gets the default). Returns the callback token (caller frees) or NULL. */
char *hs_step(const char *arn, const char *step, const char *type, const char *topic, int timeout);

/** The describe reply body (caller decrefs); NULL when the reply was an error. */
json_t *hs_describe(const char *arn);

/** The execution's status now (static buffer, overwritten by the next call). */
const char *hs_status(const char *arn);

/** The status of one step now (static buffer), or "" when it does not exist. */
const char *hs_step_status(const char *arn, const char *step);

/** Polls describe until the execution has status; 0, or -1 at the deadline. */
int hs_wait_status(const char *arn, const char *status, int timeout_ms);

/** Callback messages seen on topic for token with status ("Executing"/"Stopping"). */
size_t hs_messages(const char *topic, const char *token, const char *status);

/** Waits until at least one such message was seen; 0, or -1 at the deadline. */
int hs_wait_message(const char *topic, const char *token, const char *status, int timeout_ms);

/** The default callback topic of pipeline (static buffer). */
const char *hs_topic(const char *pipeline);
/** A StopPipelineExecution body for arn with a fresh ClientRequestToken (SageMaker requires one). */
json_t *hs_stop_body(const char *arn);

/** Sends a step result for token (ok: success, else failure with reason); returns the reply (borrowed). */
json_t *hs_result(const char *token, int ok, const char *reason);

/** Number of history entries of type (and, when step is not NULL, of that step with stepStatus status). */
int hs_history_count(const char *arn, const char *step, const char *status);

#endif
