/* test_ops: ops that exist only in the test build (-DANDON_TEST_OPS, build/tests/andon-worker-test). */
#include "ops.h"
#include "proto.h"

#include "codec.h"

#include <signal.h>
#include <stdlib.h>
#include <time.h>
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

/* A stalled main loop on cue: the worker sleeps body.ms (at most 10 s) in the request's prepare, then
 * answers TestSlept (/healthz must see the stall, /metrics must still answer). */
static int sleep_prepare(const andon_ctx_t *ctx, const andon_req_t *req, andon_call_t *call,
			 andon_apierr_t *err)
{
	int64_t ms = 0;
	struct timespec ts;

	(void)ctx;
	(void)call;
	if (andon_codec_get_int(req->body, "ms", &ms) != 1 || ms < 0 || ms > 10000)
		return andon_apierr(err, "ValidationException", 400, "ms must be an integer from 0 to 10000");
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
	return andon_apierr_answer(err, "TestSlept", 400, "slept %lld ms", (long long)ms);
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
    {"Test.Sleep", sleep_prepare, 413},
    {"Test.Pause", pause_prepare, 413},
    {NULL, NULL, 0},
};
