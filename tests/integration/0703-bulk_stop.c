/* 0703: andon-bulk stop of 10,000 executions selected through ListExecutions: a dry run, a run killed
 * half way, and its rerun with the same name and checkpoint; nothing is stopped twice and every stop is
 * the run's own request. */
#include "harness.h"
#include "harness-cflow.h"
#include "harness-swf.h"
#include "harness-tool.h"

#include "util.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 10000

static char *sm, **arns, checkpoint[300];

/* A SageMaker start (its ARN, caller frees). */
static char *hs_start_quiet(const char *pipeline)
{
	json_t *r = h_call("SageMaker.StartPipelineExecution", json_pack("{s:s}", "PipelineName", pipeline));

	assert_true(hw_ok(r));
	return strdup(json_string_value(json_object_get(json_object_get(r, "body"), "PipelineExecutionArn")));
}

static json_t *last_line(const ht_run_t *t)
{
	const char *s = t->stdout_text, *end = s + strlen(s), *line;
	json_error_t jerr;
	json_t *v;

	assert_true(end > s && end[-1] == '\n');
	for (line = end - 1; line > s && line[-1] != '\n'; line--)
		;
	v = json_loadb(line, (size_t)(end - 1 - line), 0, &jerr);
	assert_non_null(v);
	return v;
}

static long long num(json_t *o, const char *k)
{
	assert_true(json_is_integer(json_object_get(o, k)));
	return json_integer_value(json_object_get(o, k));
}

/* Executions the checkpoint file records (lines after its header with a tab, a last line cut by the kill
 * included: andon-bulk counts those as answered too). */
static int checkpoint_lines(void)
{
	FILE *fp = fopen(checkpoint, "r");
	char line[1024];
	int n = 0;

	if (fp == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL)
		n += line[0] != '#' && strchr(line, '\t') != NULL;
	fclose(fp);
	return n;
}

/* The id andon-bulk derives for a stop of arn in run name (producers/andon-bulk.c, request_id()). */
static void derived_id(const char *name, const char *arn, char *out, size_t size)
{
	const char *op = "StepFunctions.StopExecution";
	uint64_t h = andon_hash64(ANDON_HASH64_INIT, op, strlen(op));

	h = andon_hash64(h, "\n", 1);
	h = andon_hash64(h, arn, strlen(arn));
	snprintf(out, size, "bulk-%s-%016llx", name, (unsigned long long)h);
}

static void dry_run_counts_and_samples(void **state)
{
	const char *argv[] = {"-b", h_brokers(), "stop",     "--name", "dry", "--state-machine",
			      sm,   "-n",	 "--sample", "5",      NULL};
	ht_run_t t;
	json_t *v;

	(void)state;
	ht_run(&t, 0, "andon-bulk", argv);
	v = last_line(&t);
	assert_int_equal(num(v, "selected"), N);
	assert_int_equal(num(v, "toSend"), N);
	assert_int_equal(json_array_size(json_object_get(v, "sample")), 5);
	/* Newest first: the sample is among the last started. */
	assert_non_null(strstr(json_string_value(json_array_get(json_object_get(v, "sample"), 0)), ":bulk-"));
	json_decref(v);
	ht_free(&t);
	/* Nothing was sent. */
	v = h_call("StepFunctions.ListExecutions",
		   json_pack("{s:s, s:s}", "stateMachineArn", sm, "statusFilter", "ABORTED"));
	assert_int_equal(json_array_size(json_object_get(json_object_get(v, "body"), "executions")), 0);
}

static void killed_run_resumes_without_stopping_twice(void **state)
{
	const char *argv[] = {"-b",   h_brokers(), "stop", "--name",	   "night",    "--state-machine",
			      sm,     "--status",  "any",  "--checkpoint", checkpoint, "--rate",
			      "4000", "--cause",   "bulk", "-P",	   NULL};
	ht_run_t t;
	json_t *v;
	long long deadline, first;
	int stopped = 0, running = 0;

	(void)state;
	ht_start(&t, "andon-bulk", argv);
	deadline = h_now_ms() + 60000;
	while (checkpoint_lines() < 3000 && h_now_ms() < deadline && t.pid > 0)
		h_sleep_ms(5);
	ht_kill(&t, SIGKILL);
	ht_wait(&t, 1000);
	first = checkpoint_lines();
	fprintf(stderr, "killed after %lld answered; stderr so far:\n%s", first, t.stderr_text);
	assert_true(first >= 3000 && first < N);
	ht_free(&t);

	/* Part done, part not. */
	for (int i = 0; i < N; i++) {
		redisReply *r = h_redis("HGET andon:{%s}:x st", arns[i]);

		stopped += strcmp(r->str, "STOPPED") == 0;
		running += strcmp(r->str, "RUNNING") == 0;
		freeReplyObject(r);
	}
	fprintf(stderr, "after the kill: %d stopped, %d running\n", stopped, running);
	assert_true(stopped >= first && running > 0 && stopped + running == N);

	/* The rerun: the same name and checkpoint; everything listed, the checkpoint's skipped. */
	ht_run(&t, 0, "andon-bulk", argv);
	v = last_line(&t);
	fprintf(stderr, "rerun: %s\n", t.stdout_text);
	assert_int_equal(num(v, "selected"), N);
	assert_int_equal(num(v, "skipped"), first);
	assert_int_equal(num(v, "sent"), N - first);
	assert_int_equal(num(v, "ok"), N - first);
	assert_int_equal(num(v, "failed"), 0);
	assert_int_equal(num(v, "unanswered"), 0);
	assert_true(json_is_true(json_object_get(v, "complete")));
	json_decref(v);
	ht_free(&t);
	assert_int_equal(checkpoint_lines(), N);

	/* Every execution stopped exactly once (one history entry after its start), by the run's own id. */
	for (int i = 0; i < N; i++) {
		redisReply *r = h_redis("HMGET andon:{%s}:x st hseq end", arns[i]);
		char id[128];

		derived_id("night", arns[i], id, sizeof(id));
		assert_string_equal(r->element[0]->str, "STOPPED");
		assert_string_equal(r->element[1]->str, "2");
		assert_string_equal(r->element[2]->str, id);
		freeReplyObject(r);
	}

	/* A third run has nothing left to send. */
	ht_run(&t, 0, "andon-bulk", argv);
	v = last_line(&t);
	assert_int_equal(num(v, "skipped"), N);
	assert_int_equal(num(v, "sent"), 0);
	json_decref(v);
	ht_free(&t);
}

/* A checkpoint whose last line a crash cut after the tab: that execution counts as answered, and the lines
 * appended next start on a line of their own. */
static void torn_checkpoint_line(void **state)
{
	const char *argv[] = {"-b", h_brokers(), "stop", "--name",	 "torn", "--state-machine",
			      sm,   "--status",	 "any",	 "--checkpoint", NULL,	 NULL};
	char file[300], line[1024];
	ht_run_t t;
	json_t *v;
	FILE *fp;
	int n = 0, glued = 0;

	(void)state;
	snprintf(file, sizeof(file), "%s/torn.checkpoint", h_dir());
	argv[10] = file;
	assert_non_null(fp = fopen(file, "w"));
	fprintf(fp, "# andon-bulk torn stop\n%s\tOK\n%s\tO", arns[0], arns[1]);
	fclose(fp);
	ht_run(&t, 0, "andon-bulk", argv);
	v = last_line(&t);
	assert_int_equal(num(v, "skipped"), 2);
	assert_int_equal(num(v, "sent"), N - 2);
	json_decref(v);
	ht_free(&t);
	assert_non_null(fp = fopen(file, "r"));
	while (fgets(line, sizeof(line), fp) != NULL) {
		n++;
		glued += strstr(line + 1, "arn:") != NULL; /* two records on one line */
	}
	fclose(fp);
	assert_int_equal(n, 1 + N);
	assert_int_equal(glued, 0);
}

static void bad_usage(void **state)
{
	static const char *const cases[][8] = {
	    {"stop", "--state-machine", "x", NULL},
	    {"stop", "--name", "a b", "--state-machine", "x", NULL},
	    {"halt", "--name", "n", "--state-machine", "x", NULL},
	    {"stop", "--name", "n", NULL},
	    {"stop", "--name", "n", "--state-machine", "x", "--rate", "0", NULL},
	};
	const char *argv[12];
	ht_run_t t;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = 0;

		argv[n++] = "-b";
		argv[n++] = h_brokers();
		for (int k = 0; cases[i][k] != NULL; k++)
			argv[n++] = cases[i][k];
		argv[n] = NULL;
		ht_run(&t, 2, "andon-bulk", argv);
		ht_free(&t);
	}
	/* Another run's checkpoint is refused. */
	{
		const char *other[] = {"-b", h_brokers(),    "stop",	 "--name", "other", "--state-machine",
				       sm,   "--checkpoint", checkpoint, NULL};

		ht_run(&t, 2, "andon-bulk", other);
		assert_non_null(strstr(t.stderr_text, "is the checkpoint of another run"));
		ht_free(&t);
	}
}

/* Every item of a List op's pages (op, body with the token field named token_field; array under items). */
static json_t *list_all(const char *op, json_t *body, const char *token_field, const char *items)
{
	json_t *all = json_array(), *token = NULL;

	do {
		json_t *q = json_deep_copy(body), *r;

		if (token != NULL)
			json_object_set(q, token_field, token);
		r = h_call(op, q);
		assert_true(hw_ok(r));
		json_array_extend(all, json_object_get(json_object_get(r, "body"), items));
		json_decref(token);
		token = json_incref(json_object_get(json_object_get(r, "body"), token_field));
	} while (token != NULL);
	json_decref(body);
	return all;
}

/* The same tool on the other APIs: SWF terminate and cancel, SageMaker and CloudFlow stops. */
static void other_apis(void **state)
{
	const char *swf[] = {"-b",	h_brokers(), "terminate", "--name",  "swf",  "--domain",
			     "bulkdom", "--type",    "wfA",	  "--cause", "bulk", NULL};
	const char *swfc[] = {"-b", h_brokers(), "cancel", "--name", "swfc", "--domain", "bulkdom", NULL};
	const char *smp[] = {"-b", h_brokers(), "stop", "--name", "sm", "--pipeline", "BulkPipe", NULL};
	const char *cf[] = {"-b",     h_brokers(), "stop",    "--name", "cf",
			    "--flow", "bulkflow",  "--error", "E",	NULL};
	const char *bad[] = {"-b", h_brokers(), "stop", "--name", "x", "--domain", "bulkdom", NULL};
	json_t *all, *e, *v;
	ht_run_t t;
	size_t i;

	(void)state;
	hw_domain("bulkdom", NULL);
	hw_type("bulkdom", "wfA", "1", "ABANDON");
	hw_type("bulkdom", "wfB", "1", "ABANDON");
	for (int k = 0; k < 200; k++) {
		char wid[32];

		snprintf(wid, sizeof(wid), "b-%d", k);
		hw_run_t r = hw_start("bulkdom", wid, k % 2 == 0 ? "wfA" : "wfB", "1", NULL);
		hw_run_free(&r);
	}
	ht_run(&t, 0, "andon-bulk", swf);
	v = last_line(&t);
	assert_int_equal(num(v, "ok"), 100);
	json_decref(v);
	ht_free(&t);
	all = list_all("SWF.ListClosedWorkflowExecutions",
		       json_pack("{s:s, s:{s:i}}", "domain", "bulkdom", "startTimeFilter", "oldestDate", 0),
		       "nextPageToken", "executionInfos");
	assert_int_equal(json_array_size(all), 100);
	json_array_foreach(all, i, e)
	{
		assert_string_equal(json_string_value(json_object_get(e, "closeStatus")), "TERMINATED");
		assert_string_equal(
		    json_string_value(json_object_get(json_object_get(e, "workflowType"), "name")), "wfA");
	}
	json_decref(all);
	/* Cancel the rest: each open run is asked once. */
	ht_run(&t, 0, "andon-bulk", swfc);
	v = last_line(&t);
	assert_int_equal(num(v, "ok"), 100);
	json_decref(v);
	ht_free(&t);
	all = list_all("SWF.ListOpenWorkflowExecutions",
		       json_pack("{s:s, s:{s:i}}", "domain", "bulkdom", "startTimeFilter", "oldestDate", 0),
		       "nextPageToken", "executionInfos");
	assert_int_equal(json_array_size(all), 100);
	json_array_foreach(all, i, e) assert_true(json_is_true(json_object_get(e, "cancelRequested")));
	json_decref(all);

	for (int k = 0; k < 100; k++)
		free(hs_start_quiet("BulkPipe"));
	ht_run(&t, 0, "andon-bulk", smp);
	v = last_line(&t);
	assert_int_equal(num(v, "ok"), 100);
	json_decref(v);
	ht_free(&t);
	all = list_all("SageMaker.ListPipelineExecutions", json_pack("{s:s}", "PipelineName", "BulkPipe"),
		       "NextToken", "PipelineExecutionSummaries");
	assert_int_equal(json_array_size(all), 100);
	json_array_foreach(all, i, e)
	    assert_string_equal(json_string_value(json_object_get(e, "PipelineExecutionStatus")), "Stopped");
	json_decref(all);

	hcf_flow(NULL, "bulkflow", "version: v1\ntype: flow\nsteps: []\n");
	hcf_start_many(NULL, "bulkflow", "c", 100, 1);
	ht_run(&t, 0, "andon-bulk", cf);
	v = last_line(&t);
	assert_int_equal(num(v, "ok"), 100);
	json_decref(v);
	ht_free(&t);
	all = list_all("CloudFlow.ListExecutions", json_pack("{s:s}", "FlowName", "bulkflow"), "NextToken",
		       "Executions");
	assert_int_equal(json_array_size(all), 100);
	json_array_foreach(all, i, e)
	    assert_string_equal(json_string_value(json_object_get(e, "Status")), "Stopped");
	json_decref(all);

	/* SWF has no stop. */
	ht_run(&t, 2, "andon-bulk", bad);
	assert_non_null(strstr(t.stderr_text, "ACTION must be cancel or terminate"));
	ht_free(&t);
}

static int setup(void **state)
{
	long long t0;

	(void)state;
	h_group_setup(NULL);
	snprintf(checkpoint, sizeof(checkpoint), "%s/night.checkpoint", h_dir());
	sm = h_sfn_machine("bulk", "STANDARD");
	t0 = h_now_ms();
	arns = h_sfn_start_many(sm, "bulk", N);
	fprintf(stderr, "%d executions started in %lld ms\n", N, h_now_ms() - t0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < N; i++)
		free(arns[i]);
	free(arns);
	free(sm);
	return h_group_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(dry_run_counts_and_samples),
	    cmocka_unit_test(killed_run_resumes_without_stopping_twice),
	    cmocka_unit_test(torn_checkpoint_line),
	    cmocka_unit_test(bad_usage),
	    cmocka_unit_test(other_apis),
	};
	return cmocka_run_group_tests_name("0703-bulk_stop", tests, setup, teardown);
}
