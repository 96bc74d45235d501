/* authz: IAM-like access key policies (docs/OPERATIONS.md, "Access keys"): parse, and decide a request. */
#ifndef ANDON_AUTHZ_H
#define ANDON_AUTHZ_H

#include <msgpack.h>
#include <stddef.h>

/*
 * A policy is JSON in the shape IAM uses:
 *   {"Version": "2012-10-17", "Statement": [{"Effect": "Allow" | "Deny", "Action": "states:Stop*" | [...],
 *    "Resource": "arn:aws:states:*:123456789012:execution:orders:*" | [...]}, ...]}
 * ("Statement" may be one object; "Sid" is allowed and ignored). Patterns take '*' (any run, also empty)
 * and '?' (one byte); actions compare without regard to case, resources exactly. A request is allowed when
 * an Allow statement matches it and no Deny statement does: deny wins, nothing is allowed by default.
 */
typedef struct andon_policy andon_policy_t;

#define ANDON_POLICY_MAX_BYTES                                                                               \
	10240 /* the largest policy text accepted (IAM's managed policy limit is 6144) */

/** Parses policy text. Returns the policy, or NULL with the reason in errstr (the first thing wrong). */
andon_policy_t *andon_policy_parse(const char *text, size_t len, char *errstr, size_t errstr_size);
void andon_policy_destroy(andon_policy_t *p);

/** 1 when p (NULL: no policy, nothing allowed) allows action on resource, else 0. */
int andon_policy_allows(const andon_policy_t *p, const char *action, const char *resource);

/** 1 when s[0..slen) matches pat[0..plen) ('*' and '?'), ASCII case ignored when nocase. */
int andon_glob(const char *pat, size_t plen, const char *s, size_t slen, int nocase);

/**
 * The IAM action of op ("StepFunctions.StopExecution" -> "states:StopExecution"; SageMaker: "sagemaker:",
 * SWF: "swf:", CloudFlow: "fnf:") into out[size]. 0, or -1 for an op of no known service.
 */
int andon_authz_action(const char *op, size_t op_len, char *out, size_t size);

/**
 * The resource a request of op with body acts on, as an ARN of region and account, into out[size]: the
 * execution or state machine ARN (Step Functions), the pipeline execution ARN or the pipeline (SageMaker),
 * the domain "arn:aws:swf:REGION:ACCOUNT:/domain/NAME" (SWF), the flow
 * "acs:fnf:REGION:ACCOUNT:flow/NAME" (CloudFlow). "*" when the body names none the worker can read before
 * Redis (a callback token): only a statement with Resource "*" covers such a request.
 */
void andon_authz_resource(const char *op, size_t op_len, const msgpack_object *body, const char *region,
			  const char *account, char *out, size_t size);

#endif
