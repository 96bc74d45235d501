/* harness-tool: the tools under test as real processes, output in files (harness-tool.h). */
#include "harness-tool.h"

#include "harness.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *text;
	long size;

	if (fp == NULL)
		return strdup("");
	fseek(fp, 0, SEEK_END);
	size = ftell(fp);
	rewind(fp);
	if ((text = calloc(1, (size_t)size + 1)) == NULL || fread(text, 1, (size_t)size, fp) != (size_t)size)
		abort();
	fclose(fp);
	return text;
}

void ht_start(ht_run_t *t, const char *name, const char *const *argv)
{
	static int seq;
	const char *bin = getenv("ANDON_BIN");
	char *args[64], path[600];
	posix_spawn_file_actions_t fa;
	int n = 0;

	memset(t, 0, sizeof(*t));
	snprintf(path, sizeof(path), "%s/%s", bin != NULL ? bin : "build/bin", name);
	snprintf(t->out, sizeof(t->out), "%s/%s-%d.out", h_dir(), name, ++seq);
	snprintf(t->err, sizeof(t->err), "%s/%s-%d.err", h_dir(), name, seq);
	args[n++] = path;
	for (; argv != NULL && *argv != NULL && n < 63; argv++)
		args[n++] = (char *)*argv;
	args[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, t->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, 2, t->err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	t->start = h_now_ms();
	assert_int_equal(posix_spawn(&t->pid, path, &fa, NULL, args, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	t->status = -1;
}

int ht_wait(ht_run_t *t, int timeout_ms)
{
	long long deadline = h_now_ms() + timeout_ms;
	int st;

	while (t->pid > 0) {
		pid_t r = waitpid(t->pid, &st, WNOHANG);

		if (r == t->pid) {
			t->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
			t->pid = 0;
		} else if (h_now_ms() >= deadline) {
			fprintf(stderr, "tool still running after %d ms: killed\n", timeout_ms);
			ht_kill(t, SIGKILL);
		} else {
			h_sleep_ms(10);
		}
	}
	t->ms = h_now_ms() - t->start;
	free(t->stdout_text);
	free(t->stderr_text);
	t->stdout_text = slurp(t->out);
	t->stderr_text = slurp(t->err);
	return t->status;
}

void ht_kill(ht_run_t *t, int sig)
{
	if (t->pid <= 0)
		return;
	kill(t->pid, sig);
	waitpid(t->pid, NULL, 0);
	t->pid = 0;
	t->status = -1;
}

void ht_run(ht_run_t *t, int want, const char *name, const char *const *argv)
{
	ht_start(t, name, argv);
	if (ht_wait(t, 120000) != want)
		fprintf(stderr, "%s exited %d after %lld ms, expected %d; stderr:\n%s\nstdout:\n%s\n", name,
			t->status, t->ms, want, t->stderr_text, t->stdout_text);
	assert_int_equal(t->status, want);
}

void ht_free(ht_run_t *t)
{
	if (t->pid > 0)
		ht_kill(t, SIGKILL);
	free(t->stdout_text);
	free(t->stderr_text);
	t->stdout_text = t->stderr_text = NULL;
}
