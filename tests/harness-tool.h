/*
 * harness-tool: runs an Andon command-line tool (ANDON_BIN/NAME) as a real process with its stdout and
 * stderr in files of the test's temp dir, to completion or in the background, for tests of the tools.
 */
#ifndef ANDON_HARNESS_TOOL_H
#define ANDON_HARNESS_TOOL_H

#include <sys/types.h>

/** One tool run. */
typedef struct ht_run {
	pid_t pid;     /* 0 once reaped */
	int status;    /* exit status; -1 killed (deadline or signal) */
	char out[300]; /* paths of its stdout and stderr */
	char err[300];
	char *stdout_text, *stderr_text; /* read when it ended (ht_wait) */
	long long start, ms;		 /* h_now_ms() at start; start to exit */
} ht_run_t;

/** Starts the tool name with the NULL-terminated argv (without argv[0]). Aborts the test on failure. */
void ht_start(ht_run_t *t, const char *name, const char *const *argv);
/** Waits up to timeout_ms (then kills it), reads what it wrote; returns t->status. */
int ht_wait(ht_run_t *t, int timeout_ms);
/** Sends sig and reaps. */
void ht_kill(ht_run_t *t, int sig);
/** ht_start + ht_wait; asserts the exit status is want, showing stderr and stdout when it is not. */
void ht_run(ht_run_t *t, int want, const char *name, const char *const *argv);
/** Frees what ht_wait read. */
void ht_free(ht_run_t *t);

#endif
