/* test_ops: ops that exist only in the test build (-DANDON_TEST_OPS, build/tests/andon-worker-test). */
#include "ops.h"

#include <stdlib.h>

/* A deterministic poison pill: the worker dies in the middle of processing the request. */
static int crash_prepare(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
			 andon_apierr_t *err)
{
	(void)ctx;
	(void)req;
	(void)call;
	(void)err;
	abort();
}

const andon_op_t andon_test_ops[] = {
    {"Test.Crash", crash_prepare, 413},
    {NULL, NULL, 0},
};
