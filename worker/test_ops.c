/* test_ops: ops that exist only in the test build (-DANDON_TEST_OPS, build/tests/andon-worker-test). */
#include "ops.h"
#include "proto.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

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

/*
 * A zombie on cue: the first worker to take the file named by ANDON_TEST_PAUSE_FILE away stops itself
 * (SIGSTOP) in the middle of its batch, before anything of the batch is produced, and carries on after
 * SIGCONT. The answer is an error reply that says which worker answered and whether it paused.
 */
static int pause_prepare(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
			 andon_apierr_t *err)
{
	const char *path = getenv("ANDON_TEST_PAUSE_FILE");
	int paused = path != NULL && unlink(path) == 0;

	(void)ctx;
	(void)req;
	(void)call;
	if (paused)
		raise(SIGSTOP);
	return andon_apierr_answer(err, "TestPause", 400, "Test.Pause: %s, pid %d",
				   paused ? "paused" : "no pause", (int)getpid());
}

const andon_op_t andon_test_ops[] = {
    {"Test.Crash", crash_prepare, 413},
    {"Test.Pause", pause_prepare, 413},
    {NULL, NULL, 0},
};
