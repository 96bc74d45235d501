/*
 * 0116: a zombie's outputs never become visible. Worker Z stops itself (SIGSTOP, the test op Test.Pause)
 * in the middle of a batch, before producing any of it; worker B joins the group, and once Z's session has
 * timed out B takes Z's partitions and answers the whole batch. Then Z is resumed (SIGCONT): it finishes its
 * batch and produces its late outputs, but its offsets carry the group generation it consumed them in, so
 * its transaction cannot commit (KIP-447): Z says so in its log as it aborts. A read_committed subscriber
 * never sees Z's late answer, and sees every answer of the batch exactly once. (Whether Z's late outputs
 * reach the log before the abort purges them is a race; the read_uncommitted subscriber reports it. With
 * worker.exactly_once=false the zombie's answer is visible to read_committed readers and the test fails.)
 */
#include "harness-eos.h"
#include "harness-stream.h"
#include "harness.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { BEFORE = 20, AFTER = 20 };

/* What a worker logs when the group refuses the offsets of its transaction (txn.c). */
#define REFUSED "aborting a transaction (sending offsets to the transaction"

/* 1 when the file at path contains needle (a worker's log: small). */
static int log_has(const char *path, const char *needle)
{
	FILE *fp = path != NULL ? fopen(path, "r") : NULL;
	char *buf;
	long n;
	int found = 0;

	if (fp == NULL)
		return 0;
	if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) != NULL) {
		buf[fread(buf, 1, (size_t)n, fp)] = '\0';
		found = strstr(buf, needle) != NULL;
		free(buf);
	}
	fclose(fp);
	return found;
}

/* 1 when process pid is stopped (state T in /proc/pid/stat). */
static int stopped(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	/* "pid (comm) S ...": the state follows the last ')'. */
	return (p = strrchr(buf, ')')) != NULL && p[1] == ' ' && p[2] == 'T';
}

static void zombie_outputs_never_visible(void **state)
{
	char pause_file[300], needle[64], *sm, name[32], zlog[300];
	const char *ids[BEFORE + 1 + AFTER];
	he_reader_t *rc, *ru, *both[2];
	long long deadline;
	pid_t z, b;
	int32_t part = -1;
	int64_t off = -1;
	int fd, status;

	(void)state;
	snprintf(pause_file, sizeof(pause_file), "/tmp/andon-0116-pause-%d", (int)getpid());
	assert_int_equal(setenv("ANDON_TEST_PAUSE_FILE", pause_file, 1), 0);
	h_worker_program(h_test_worker());
	z = h_worker_start(NULL);
	snprintf(zlog, sizeof(zlog), "%s", h_worker_log(z));
	sm = h_sfn_machine("zombie", "STANDARD");
	rc = he_reader_start("read_committed");
	ru = he_reader_start("read_uncommitted");

	/* One partition (one key): Z consumes the pause in a batch with the starts around it. */
	assert_true((fd = open(pause_file, O_WRONLY | O_CREAT, 0600)) >= 0);
	close(fd);
	for (int i = 0; i < BEFORE + 1 + AFTER; i++) {
		snprintf(name, sizeof(name), "z-%d", i);
		ids[i] = i == BEFORE
			     ? h_send_key("Test.Pause", NULL, "zombie", json_object())
			     : h_send_key("StepFunctions.StartExecution", NULL, "zombie",
					  json_pack("{s:s, s:s}", "stateMachineArn", sm, "name", name));
	}
	h_flush();
	for (deadline = h_now_ms() + 30000; !stopped(z); h_sleep_ms(10))
		assert_true(h_now_ms() < deadline);

	/* B takes over once Z's session (6 s) has timed out, and answers the batch Z was stuck in. */
	b = h_worker_spawn(NULL);
	for (int i = 0; i < BEFORE + 1 + AFTER; i++)
		for (deadline = h_now_ms() + 60000; he_replies(rc, ids[i]) == 0; h_sleep_ms(20))
			assert_true(h_now_ms() < deadline);
	snprintf(needle, sizeof(needle), "no pause, pid %d", (int)b);
	assert_int_equal(he_find(rc, "andon.replies", needle, NULL, NULL), 1);

	/* Z comes back and finishes its batch: into a transaction whose offsets the group refuses, so Z
	 * aborts it (or, at least once, straight into the topics). */
	snprintf(needle, sizeof(needle), "paused, pid %d", (int)z);
	assert_false(log_has(zlog, REFUSED));
	assert_int_equal(kill(z, SIGCONT), 0);
	for (deadline = h_now_ms() + 30000;
	     !log_has(zlog, REFUSED) && he_find(rc, "andon.replies", needle, NULL, NULL) == 0; h_sleep_ms(20))
		assert_true(h_now_ms() < deadline);

	/* Both stop (Z may have exited already when fenced); then every committed message is read. */
	assert_int_equal(h_worker_wait(b, 0), -1); /* B is still running */
	kill(b, SIGTERM);
	assert_true((status = h_worker_wait(b, 60000)) != -1);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	kill(z, SIGTERM);
	status = h_worker_wait(z, 60000);
	fprintf(stderr, "0116: zombie %d exited with status %d\n", (int)z,
		WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	both[0] = rc;
	both[1] = ru;
	assert_int_equal(he_settle(both, 2, 60000), 0);
	if (he_find(ru, "andon.replies", needle, &part, &off) > 0)
		fprintf(stderr, "0116: zombie %d's late reply was written (andon.replies [%d] @%lld)\n",
			(int)z, (int)part, (long long)off);
	else
		fprintf(stderr, "0116: zombie %d's late outputs were purged before they left it\n", (int)z);

	fprintf(stderr, "0116: read_committed: %zu messages, %zu distinct, %zu read more than once\n",
		he_messages(rc), he_distinct(rc), he_repeated(rc));
	fprintf(stderr, "0116: read_uncommitted: %zu messages, %zu distinct, %zu read more than once\n",
		he_messages(ru), he_distinct(ru), he_repeated(ru));
	assert_int_equal(he_find(rc, "andon.replies", needle, NULL, NULL), 0); /* never visible */
	for (int i = 0; i < BEFORE + 1 + AFTER; i++)
		assert_int_equal(he_replies(rc, ids[i]), 1);
	assert_int_equal(he_repeated(rc), 0);

	he_reader_free(rc);
	he_reader_free(ru);
	free(sm);
	unlink(pause_file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(zombie_outputs_never_visible),
	};

	return hf_run("0116-eos_zombie", tests, sizeof(tests) / sizeof(tests[0]), NULL);
}
