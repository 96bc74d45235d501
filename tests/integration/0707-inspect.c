/* 0707: andon-inspect on one execution of each API through the worker: status, times, history, a
 * SageMaker step owed a callback answer since its stop, a 3-level SWF tree, a missing execution, usage. */
#include "harness.h"
#include "harness-cflow.h"
#include "harness-sagemaker.h"
#include "harness-swf.h"
#include "harness-tool.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* andon-inspect -b BROKERS ARGS... expecting status want; with -j, its JSON (new), else NULL. */
static json_t *inspect(ht_run_t *t, int want, const char *a1, const char *a2, const char *a3)
{
	const char *argv[] = {"-b", h_brokers(), a1, a2, a3, NULL};
	json_error_t jerr;
	json_t *v = NULL;

	ht_run(t, want, "andon-inspect", argv);
	if (strcmp(a1, "-j") == 0 || (a2 != NULL && strcmp(a2, "-j") == 0)) {
		v = json_loads(t->stdout_text, 0, &jerr);
		if (v == NULL)
			fprintf(stderr, "not JSON: %s\n", t->stdout_text);
		assert_non_null(v);
	}
	return v;
}

static const char *s(json_t *o, const char *k1, const char *k2)
{
	json_t *v = json_object_get(o, k1);

	return json_string_value(k2 != NULL ? json_object_get(v, k2) : v);
}

static void step_functions_execution(void **state)
{
	char *sm = h_sfn_machine("inspect", "STANDARD"), *arn = h_sfn_start(sm, "one");
	json_t *v, *hist;
	ht_run_t t;

	(void)state;
	assert_true(hw_ok(h_call("StepFunctions.StopExecution", json_pack("{s:s}", "executionArn", arn))));
	v = inspect(&t, 0, "-j", arn, NULL);
	assert_string_equal(s(v, "api", NULL), "StepFunctions");
	assert_string_equal(s(v, "execution", "status"), "ABORTED");
	assert_true(json_is_number(json_object_get(json_object_get(v, "execution"), "stopDate")));
	hist = json_object_get(v, "history");
	assert_int_equal(json_array_size(hist), 2);
	assert_string_equal(s(json_array_get(hist, 0), "type", NULL), "ExecutionStarted");
	assert_string_equal(s(json_array_get(hist, 1), "type", NULL), "ExecutionAborted");
	json_decref(v);
	ht_free(&t);
	/* For people: labelled lines and the history table. */
	inspect(&t, 0, arn, NULL, NULL);
	assert_non_null(strstr(t.stdout_text, "Status     ABORTED"));
	assert_non_null(strstr(t.stdout_text, "ExecutionAborted"));
	ht_free(&t);
	free(arn);
	free(sm);
}

static void sagemaker_step_owed_since_its_stop(void **state)
{
	char *arn = hs_start("InspectPipe"),
	     *token = hs_step(arn, "cb1", "Callback", hs_topic("InspectPipe"), 0);
	json_t *v, *owed;
	ht_run_t t;

	(void)state;
	free(token);
	assert_true(hw_ok(h_call("SageMaker.StopPipelineExecution", hs_stop_body(arn))));
	v = inspect(&t, 0, "-j", arn, NULL);
	assert_string_equal(s(v, "execution", "PipelineExecutionStatus"), "Stopping");
	owed = json_object_get(v, "owed");
	assert_int_equal(json_array_size(owed), 1);
	assert_string_equal(s(json_array_get(owed, 0), "step", NULL), "cb1");
	assert_true(json_is_number(json_object_get(json_array_get(owed, 0), "since")));
	json_decref(v);
	ht_free(&t);
	inspect(&t, 0, arn, NULL, NULL);
	assert_non_null(strstr(t.stdout_text, "Owed a callback answer:"));
	assert_non_null(strstr(t.stdout_text, "cb1"));
	ht_free(&t);
	free(arn);
}

static void cloudflow_execution(void **state)
{
	char *res;
	json_t *v;
	ht_run_t t;

	(void)state;
	hcf_flow(NULL, "inspectflow", "version: v1\ntype: flow\nsteps: []\n");
	hcf_start(NULL, "inspectflow", "e1", 1);
	res = hcf_resource(NULL, "inspectflow", "e1");
	v = inspect(&t, 0, "-j", res, NULL);
	assert_string_equal(s(v, "api", NULL), "CloudFlow");
	assert_string_equal(s(v, "execution", "Status"), "Running");
	assert_int_equal(json_array_size(json_object_get(v, "history")), 2);
	json_decref(v);
	ht_free(&t);
	free(res);
}

/* root -> a, b; a -> a1: the tree with each run's status. */
static void swf_tree_of_three_levels(void **state)
{
	hw_run_t root, a, b, a1;
	char *arn, *wid_only;
	json_t *v, *tree, *kids, *ka = NULL;
	ht_run_t t;
	size_t i;
	json_t *k;

	(void)state;
	hw_domain("inspectdom", NULL);
	hw_type("inspectdom", "wf", "1", "ABANDON");
	root = hw_start("inspectdom", "root", "wf", "1", NULL);
	a = hw_child(&root, "a", NULL);
	b = hw_child(&root, "b", NULL);
	a1 = hw_child(&a, "a1", NULL);
	assert_true(hw_ok(h_call("SWF.TerminateWorkflowExecution", hw_exec(&a1, 1))));
	assert_true(hw_ok(h_call("SWF.RequestCancelWorkflowExecution", hw_exec(&b, 1))));
	arn = hw_arn(&root);
	v = inspect(&t, 0, "-j", "--tree", arn);
	tree = json_object_get(v, "tree");
	assert_string_equal(s(json_object_get(tree, "run"), "execution", "workflowId"), "root");
	kids = json_object_get(tree, "children");
	assert_int_equal(json_array_size(kids), 2);
	json_array_foreach(kids, i, k)
	{
		const char *w = s(json_object_get(k, "run"), "execution", "workflowId");

		if (strcmp(w, "a") == 0)
			ka = k;
		else
			assert_true(
			    json_is_true(json_object_get(json_object_get(k, "run"), "cancelRequested")));
	}
	assert_non_null(ka);
	assert_int_equal(json_array_size(json_object_get(ka, "children")), 1);
	k = json_array_get(json_object_get(ka, "children"), 0);
	assert_string_equal(s(json_object_get(k, "run"), "execution", "workflowId"), "a1");
	assert_string_equal(s(json_object_get(k, "run"), "closeStatus", NULL), "TERMINATED");
	assert_int_equal(json_array_size(json_object_get(k, "children")), 0);
	json_decref(v);
	ht_free(&t);
	/* For people: one indented line per run. */
	inspect(&t, 0, "--tree", arn, NULL);
	assert_non_null(strstr(t.stdout_text, "\n      a1/")); /* root at 2, a at 4, a1 at 6 */
	assert_non_null(strstr(t.stdout_text, "TERMINATED"));
	assert_non_null(strstr(t.stdout_text, "(cancel requested)"));
	ht_free(&t);
	/* Without a runId: the latest run of the workflowId. */
	wid_only = strdup(arn);
	*strstr(wid_only, "/runId/") = '\0';
	v = inspect(&t, 0, "-j", wid_only, NULL);
	assert_string_equal(
	    s(json_object_get(json_object_get(v, "execution"), "executionInfo"), "execution", "runId"),
	    root.rid);
	json_decref(v);
	ht_free(&t);
	free(wid_only);
	free(arn);
	hw_run_free(&root);
	hw_run_free(&a);
	hw_run_free(&b);
	hw_run_free(&a1);
}

static void missing_and_bad_usage(void **state)
{
	char arn[200];
	json_t *v;
	ht_run_t t;

	(void)state;
	snprintf(arn, sizeof(arn), "arn:aws:states:%s:%s:execution:inspect:nobody", H_REGION, H_ACCOUNT);
	v = inspect(&t, 1, "-j", arn, NULL);
	assert_string_equal(s(v, "error", "code"), "ExecutionDoesNotExist");
	json_decref(v);
	ht_free(&t);
	inspect(&t, 2, "not-an-arn", NULL, NULL);
	assert_non_null(strstr(t.stderr_text, "not an execution this tool knows"));
	ht_free(&t);
	inspect(&t, 2, "--tree", arn, NULL);
	assert_non_null(strstr(t.stderr_text, "--tree is for SWF runs"));
	ht_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(step_functions_execution), cmocka_unit_test(sagemaker_step_owed_since_its_stop),
	    cmocka_unit_test(cloudflow_execution),	cmocka_unit_test(swf_tree_of_three_levels),
	    cmocka_unit_test(missing_and_bad_usage),
	};
	return cmocka_run_group_tests_name("0707-inspect", tests, h_group_setup_cmocka,
					   h_group_teardown_cmocka);
}
