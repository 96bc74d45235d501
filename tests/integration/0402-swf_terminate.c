/* 0402: SWF TerminateWorkflowExecution: child policies on a 3-level tree, policy precedence, limits, replays,
 * terminate racing the decider, decider closes that leave children running, timeouts; driven only through
 * Kafka. */
#include "harness.h"
#include "harness-swf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOM   "ship"
#define TOPIC "andon.swf." H_ACCOUNT ".ship.decisions"

static const char *str(json_t *o, const char *k1, const char *k2)
{
	json_t *v = json_object_get(o, k1);
	if (k2 != NULL)
		v = json_object_get(v, k2);
	return json_string_value(v);
}

static void assert_error(json_t *reply, const char *code)
{
	if (!hw_is_error(reply, code)) {
		char *s = json_dumps(reply, JSON_COMPACT);
		fprintf(stderr, "expected %s, got %s\n", code, s);
		free(s);
	}
	assert_true(hw_is_error(reply, code));
}

static json_t *info(const hw_run_t *r)
{
	return json_object_get(json_object_get(hw_describe(r), "body"), "executionInfo");
}

static json_t *terminate_body(const hw_run_t *r, const char *policy)
{
	json_t *b = hw_exec(r, 1);

	if (policy != NULL)
		json_object_set_new(b, "childPolicy", json_string(policy));
	return b;
}

/* A 3-level tree: n[0] the root, n[1] and n[2] its children, n[3], n[4] children of n[1], n[5], n[6] of n[2].
 * All of type flow (default TERMINATE); the root has childPolicy root_policy, the others none of their own.
 */
typedef struct tree {
	hw_run_t n[7];
} tree_t;

static void tree(const char *prefix, const char *type, const char *root_policy, tree_t *t)
{
	char wid[64];

	snprintf(wid, sizeof(wid), "%s-root", prefix);
	t->n[0] = hw_start(DOM, wid, type, "1", root_policy);
	for (int i = 1; i <= 6; i++) {
		snprintf(wid, sizeof(wid), "%s-%d", prefix, i);
		t->n[i] = hw_child(&t->n[i <= 2 ? 0 : (i + 1) / 2 - 1], wid, NULL);
	}
}

static void tree_free(tree_t *t)
{
	for (int i = 0; i < 7; i++)
		hw_run_free(&t->n[i]);
}

/* Exactly one distinct event for r whose status is status (replays may repeat an event: same eventId). */
static size_t distinct_events(const hw_run_t *r, const char *status)
{
	char *arn = hw_arn(r);
	json_t *evs = h_events(arn), *seen = json_object(), *e;
	size_t i, n;

	json_array_foreach(evs, i, e)
	{
		const char *st = str(e, "status", NULL), *id = str(e, "eventId", NULL);
		if (st != NULL && id != NULL && strcmp(st, status) == 0)
			json_object_set_new(seen, id, json_true());
	}
	n = json_object_size(seen);
	json_decref(seen);
	json_decref(evs);
	free(arn);
	return n;
}

static void terminate_policy_terminate_closes_whole_tree(void **state)
{
	tree_t t;
	json_t *body, *hist, *ev;

	(void)state;
	tree("tt", "flow", NULL, &t);
	body = terminate_body(&t.n[0], NULL); /* the type's default: TERMINATE */
	json_object_set_new(body, "reason", json_string("operator"));
	json_object_set_new(body, "details", json_string("shutting down"));
	json_t *reply = h_call("SWF.TerminateWorkflowExecution", body);
	assert_true(hw_ok(reply));
	assert_int_equal(json_object_size(json_object_get(reply, "body")), 0);
	/* The root is closed at once. */
	assert_string_equal(hw_status(&t.n[0]), "TERMINATED");
	for (int i = 1; i < 7; i++)
		assert_int_equal(hw_wait_closed(&t.n[i], "TERMINATED", 30000), 0);
	for (int i = 0; i < 7; i++) {
		hist = hw_history(&t.n[i]);
		assert_int_equal(hw_count(hist, "WorkflowExecutionTerminated"), 1);
		ev = json_object_get(hw_last(hist, "WorkflowExecutionTerminated"),
				     "workflowExecutionTerminatedEventAttributes");
		assert_string_equal(str(ev, "childPolicy", NULL), "TERMINATE");
		if (i == 0) {
			assert_string_equal(str(ev, "reason", NULL), "operator");
			assert_string_equal(str(ev, "details", NULL), "shutting down");
			assert_non_null(str(ev, "cause", NULL));
			assert_string_equal(str(ev, "cause", NULL), "OPERATOR_INITIATED");
		} else {
			assert_string_equal(str(ev, "cause", NULL), "CHILD_POLICY_APPLIED");
		}
		/* One event per history entry; exactly one distinct TERMINATED event. */
		{
			char *arn = hw_arn(&t.n[i]);
			assert_int_equal(h_wait_events(arn, json_array_size(hist), 20000), 0);
			free(arn);
		}
		assert_int_equal(distinct_events(&t.n[i], "TERMINATED"), 1);
		json_decref(hist);
	}
	/* Children record their parent. */
	assert_string_equal(str(json_object_get(info(&t.n[3]), "parent"), "runId", NULL), t.n[1].rid);
	tree_free(&t);
}

static json_t *wait_decisions(const hw_run_t *r, size_t n)
{
	long long deadline = h_now_ms() + 20000;
	json_t *d;

	for (;;) {
		d = hw_decisions(TOPIC, r);
		if (json_array_size(d) >= n || h_now_ms() >= deadline)
			return d;
		json_decref(d);
		h_pump(20);
	}
}

static void terminate_policy_request_cancel_asks_children(void **state)
{
	tree_t t;
	json_t *hist, *ev, *d;

	(void)state;
	tree("tc", "flow", NULL, &t);
	assert_true(
	    hw_ok(h_call("SWF.TerminateWorkflowExecution", terminate_body(&t.n[0], "REQUEST_CANCEL"))));
	assert_string_equal(hw_status(&t.n[0]), "TERMINATED");
	for (int i = 1; i <= 2; i++) {
		d = wait_decisions(&t.n[i], 1);
		assert_int_equal(json_array_size(d), 1);
		assert_string_equal(str(json_array_get(d, 0), "cause", NULL), "CHILD_POLICY_APPLIED");
		json_decref(d);
		assert_string_equal(str(info(&t.n[i]), "executionStatus", NULL), "OPEN");
		assert_true(json_is_true(json_object_get(info(&t.n[i]), "cancelRequested")));
		hist = hw_history(&t.n[i]);
		assert_int_equal(hw_count(hist, "WorkflowExecutionCancelRequested"), 1);
		ev = json_object_get(hw_last(hist, "WorkflowExecutionCancelRequested"),
				     "workflowExecutionCancelRequestedEventAttributes");
		assert_string_equal(str(ev, "cause", NULL), "CHILD_POLICY_APPLIED");
		assert_string_equal(str(ev, "externalWorkflowExecution", "runId"), t.n[0].rid);
		json_decref(hist);
	}
	/* The grandchildren are the children's business. */
	for (int i = 3; i < 7; i++) {
		assert_string_equal(hw_status(&t.n[i]), "OPEN");
		assert_true(json_is_false(json_object_get(info(&t.n[i]), "cancelRequested")));
		hist = hw_history(&t.n[i]);
		assert_int_equal(json_array_size(hist), 1);
		json_decref(hist);
	}
	/* A child's decider cancels it: no policy reaches its children (SWF applies one only when a run is
	 * terminated or times out), though its type's default is TERMINATE. */
	assert_true(hw_ok(h_call("SWF.CancelWorkflowExecution", hw_exec(&t.n[1], 1))));
	assert_string_equal(hw_status(&t.n[1]), "CANCELED");
	h_pump(500);
	assert_string_equal(hw_status(&t.n[3]), "OPEN");
	assert_string_equal(hw_status(&t.n[4]), "OPEN");
	assert_string_equal(hw_status(&t.n[5]), "OPEN");
	assert_string_equal(hw_status(&t.n[6]), "OPEN");
	assert_string_equal(hw_status(&t.n[2]), "OPEN");
	tree_free(&t);
}

/* True when the stored answer of request id on workflow wid handed anything to the request topic. */
static int handed_on(const char *wid, const char *id)
{
	redisReply *r = h_redis("HGET andon:{swfw:" DOM ":%s:" H_ACCOUNT "}:r %s", wid, id);
	int found;

	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_STRING);
	found = memmem(r->str, r->len, "@requests", 9) != NULL;
	freeReplyObject(r);
	return found;
}

static void terminate_policy_abandon_leaves_children(void **state)
{
	tree_t t;
	json_t *hist;
	char id[64];

	(void)state;
	tree("ta", "flow", NULL, &t);
	snprintf(id, sizeof(id), "abandon-%lld", h_now_ms());
	assert_true(
	    hw_ok(h_call_as("SWF.TerminateWorkflowExecution", id, NULL, terminate_body(&t.n[0], "ABANDON"))));
	assert_string_equal(hw_status(&t.n[0]), "TERMINATED");
	assert_false(handed_on(t.n[0].wid, id));
	for (int i = 1; i < 7; i++) {
		assert_string_equal(hw_status(&t.n[i]), "OPEN");
		assert_true(json_is_false(json_object_get(info(&t.n[i]), "cancelRequested")));
		hist = hw_history(&t.n[i]);
		assert_int_equal(json_array_size(hist),
				 i <= 2 ? 3 : 1); /* started (+ two children initiated) */
		json_decref(hist);
	}
	hist = hw_history(&t.n[0]);
	assert_string_equal(str(json_object_get(hw_last(hist, "WorkflowExecutionTerminated"),
						"workflowExecutionTerminatedEventAttributes"),
				"childPolicy", NULL),
			    "ABANDON");
	json_decref(hist);
	tree_free(&t);
}

/* The decider's closes (complete, fail, cancel) hand no policy on, whatever the run's own or its type's:
 * SWF applies the child policy only when a run is terminated or times out. */
static void decider_close_leaves_children_running(void **state)
{
	static const char *const ops[] = {"SWF.CompleteWorkflowExecution", "SWF.FailWorkflowExecution",
					  "SWF.CancelWorkflowExecution"};
	static const char *const closed[] = {"COMPLETED", "FAILED", "CANCELED"};
	hw_run_t p[3], c[3], g[3];
	char wid[64], id[64];
	json_t *hist;

	(void)state;
	for (int i = 0; i < 3; i++) {
		/* Type default TERMINATE; the middle one also sets TERMINATE at start. */
		snprintf(wid, sizeof(wid), "dc-%d", i);
		p[i] = hw_start(DOM, wid, "flow", "1", i == 1 ? "TERMINATE" : NULL);
		snprintf(wid, sizeof(wid), "dc-%d-c", i);
		c[i] = hw_child(&p[i], wid, NULL);
		snprintf(wid, sizeof(wid), "dc-%d-g", i);
		g[i] = hw_child(&c[i], wid, NULL);
	}
	assert_true(hw_ok(h_call("SWF.RequestCancelWorkflowExecution", hw_exec(&p[2], 1))));
	for (int i = 0; i < 3; i++) {
		snprintf(id, sizeof(id), "dc-close-%d-%lld", i, h_now_ms());
		assert_true(hw_ok(h_call_as(ops[i], id, NULL, hw_exec(&p[i], 1))));
		assert_string_equal(hw_status(&p[i]), closed[i]);
		assert_false(handed_on(p[i].wid, id));
	}
	/* Give a policy request, had there been one, time to be applied: the children run on. */
	h_pump(500);
	for (int i = 0; i < 3; i++) {
		assert_string_equal(hw_status(&c[i]), "OPEN");
		assert_true(json_is_false(json_object_get(info(&c[i]), "cancelRequested")));
		assert_string_equal(hw_status(&g[i]), "OPEN");
		hist = hw_history(&c[i]);
		assert_int_equal(json_array_size(hist), 2); /* started, its child initiated */
		json_decref(hist);
		/* Terminating the child now applies its policy (its type's TERMINATE) to the grandchild. */
		assert_true(hw_ok(h_call("SWF.TerminateWorkflowExecution", hw_exec(&c[i], 1))));
		assert_int_equal(hw_wait_closed(&g[i], "TERMINATED", 30000), 0);
		hw_run_free(&p[i]);
		hw_run_free(&c[i]);
		hw_run_free(&g[i]);
	}
}

static const char *terminated_policy(const hw_run_t *r)
{
	static char buf[32];
	json_t *hist = hw_history(r);
	const char *p = str(json_object_get(hw_last(hist, "WorkflowExecutionTerminated"),
					    "workflowExecutionTerminatedEventAttributes"),
			    "childPolicy", NULL);

	snprintf(buf, sizeof(buf), "%s", p != NULL ? p : "");
	json_decref(hist);
	return buf;
}

static void policy_precedence_and_no_policy_fault(void **state)
{
	hw_run_t a, ac, b, bc, c, cc, d, dc;
	json_t *hist;
	char id[64];

	(void)state;
	/* Set at start (ABANDON) beats the type's default (TERMINATE). */
	a = hw_start(DOM, "p-start", "flow", "1", "ABANDON");
	ac = hw_child(&a, "p-start-c", NULL);
	assert_true(hw_ok(h_call("SWF.TerminateWorkflowExecution", terminate_body(&a, NULL))));
	assert_string_equal(terminated_policy(&a), "ABANDON");
	/* The type's default when nothing else is set. */
	b = hw_start(DOM, "p-type", "flow", "1", NULL);
	bc = hw_child(&b, "p-type-c", NULL);
	assert_true(hw_ok(h_call("SWF.TerminateWorkflowExecution", terminate_body(&b, NULL))));
	assert_string_equal(terminated_policy(&b), "TERMINATE");
	assert_int_equal(hw_wait_closed(&bc, "TERMINATED", 30000), 0);
	/* Given with the terminate (REQUEST_CANCEL) beats the one set at start (ABANDON). */
	c = hw_start(DOM, "p-given", "flow", "1", "ABANDON");
	cc = hw_child(&c, "p-given-c", NULL);
	assert_true(hw_ok(h_call("SWF.TerminateWorkflowExecution", terminate_body(&c, "REQUEST_CANCEL"))));
	assert_string_equal(terminated_policy(&c), "REQUEST_CANCEL");
	hist = wait_decisions(&cc, 1);
	assert_int_equal(json_array_size(hist), 1);
	json_decref(hist);
	assert_true(json_is_true(json_object_get(info(&cc), "cancelRequested")));
	/* ABANDON did leave its child alone (checked after the others had time to act). */
	assert_string_equal(hw_status(&ac), "OPEN");
	assert_true(json_is_false(json_object_get(info(&ac), "cancelRequested")));

	/* None of the three: a fault, and nothing changed. */
	d = hw_start(DOM, "p-none", "bare", "1", NULL);
	dc = hw_child(&d, "p-none-c", NULL);
	snprintf(id, sizeof(id), "no-policy-%lld", h_now_ms());
	assert_error(h_call_as("SWF.TerminateWorkflowExecution", id, NULL, terminate_body(&d, NULL)),
		     "DefaultUndefinedFault");
	assert_string_equal(hw_status(&d), "OPEN");
	hist = hw_history(&d);
	assert_int_equal(json_array_size(hist), 2);
	json_decref(hist);
	assert_false(handed_on(d.wid, id));
	assert_string_equal(hw_status(&dc), "OPEN");
	/* Given now: the child, with no policy of its own, is terminated and passes TERMINATE on. */
	assert_true(hw_ok(h_call("SWF.TerminateWorkflowExecution", terminate_body(&d, "TERMINATE"))));
	assert_int_equal(hw_wait_closed(&dc, "TERMINATED", 30000), 0);
	assert_string_equal(terminated_policy(&dc), "TERMINATE");

	hw_run_free(&a);
	hw_run_free(&ac);
	hw_run_free(&b);
	hw_run_free(&bc);
	hw_run_free(&c);
	hw_run_free(&cc);
	hw_run_free(&d);
	hw_run_free(&dc);
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void terminate_limits_unknown_and_replays(void **state)
{
	hw_run_t r = hw_start(DOM, "t-limits", "flow", "1", NULL);
	char *r257 = repeat('r', 257), *d32769 = repeat('d', 32769), *w257 = repeat('w', 257);
	const char *op = "SWF.TerminateWorkflowExecution";
	json_t *b, *first, *hist;
	char id[64];

	(void)state;
	b = terminate_body(&r, NULL);
	json_object_set_new(b, "reason", json_string(r257));
	assert_error(h_call(op, b), "ValidationException");
	b = terminate_body(&r, NULL);
	json_object_set_new(b, "details", json_string(d32769));
	assert_error(h_call(op, b), "ValidationException");
	assert_error(h_call(op, terminate_body(&r, "KILL")), "ValidationException");
	b = terminate_body(&r, NULL);
	json_object_set_new(b, "childPolicy", json_integer(1));
	assert_error(h_call(op, b), "ValidationException");
	assert_error(h_call(op, json_pack("{s:s, s:s}", "domain", DOM, "workflowId", w257)),
		     "ValidationException");
	assert_error(h_call(op, json_pack("{s:s, s:s}", "domain", w257, "workflowId", "w")),
		     "ValidationException");
	assert_error(
	    h_call(op, json_pack("{s:s, s:s, s:s}", "domain", DOM, "workflowId", r.wid, "runId",
				 "0123456789012345678901234567890123456789012345678901234567890123X")),
	    "ValidationException");
	/* Unknown domain, workflowId, run. */
	assert_error(h_call(op, json_pack("{s:s, s:s}", "domain", "nowhere", "workflowId", r.wid)),
		     "UnknownResourceFault");
	assert_error(h_call(op, json_pack("{s:s, s:s}", "domain", DOM, "workflowId", "nobody")),
		     "UnknownResourceFault");
	assert_error(
	    h_call(op, json_pack("{s:s, s:s, s:s}", "domain", DOM, "workflowId", r.wid, "runId", "nope")),
	    "UnknownResourceFault");
	assert_string_equal(hw_status(&r), "OPEN");

	/* At the limits: accepted. Then the same request three times: one answer, one history entry. */
	r257[256] = '\0';
	d32769[32768] = '\0';
	b = terminate_body(&r, NULL);
	json_object_set_new(b, "reason", json_string(r257));
	json_object_set_new(b, "details", json_string(d32769));
	snprintf(id, sizeof(id), "term-replay-%lld", h_now_ms());
	first = json_deep_copy(h_call_as(op, id, NULL, json_deep_copy(b)));
	assert_true(hw_ok(first));
	h_send(op, id, NULL, json_deep_copy(b));
	h_send(op, id, NULL, b);
	h_flush();
	assert_non_null(h_reply(id, 3, 20000));
	assert_true(json_equal(first, h_reply(id, 2, 0)));
	assert_true(json_equal(first, h_reply(id, 3, 0)));
	hist = hw_history(&r);
	assert_int_equal(json_array_size(hist), 2);
	assert_int_equal(hw_count(hist, "WorkflowExecutionTerminated"), 1);
	json_decref(hist);
	/* A closed run: unknown, with or without runId; a new request changes nothing. */
	assert_error(h_call(op, terminate_body(&r, NULL)), "UnknownResourceFault");
	assert_error(h_call(op, hw_exec(&r, 0)), "UnknownResourceFault");
	hist = hw_history(&r);
	assert_int_equal(json_array_size(hist), 2);
	json_decref(hist);
	json_decref(first);
	free(r257);
	free(d32769);
	free(w257);
	hw_run_free(&r);
}

/* Terminate and the decider's completion sent together for many runs: each closes exactly once. */
static void terminate_racing_completion_has_one_winner(void **state)
{
	enum { N = 40 };
	hw_run_t runs[N];
	const char *tids[N], *cids[N];
	int term_wins = 0;
	char wid[32];

	(void)state;
	for (int i = 0; i < N; i++) {
		snprintf(wid, sizeof(wid), "race-%d", i);
		runs[i] = hw_start(DOM, wid, "flow", "1", NULL);
	}
	for (int i = 0; i < N; i++) {
		json_t *t = terminate_body(&runs[i], NULL), *c = hw_exec(&runs[i], 1);
		if (i % 2) {
			tids[i] = h_send("SWF.TerminateWorkflowExecution", NULL, NULL, t);
			cids[i] = h_send("SWF.CompleteWorkflowExecution", NULL, NULL, c);
		} else {
			cids[i] = h_send("SWF.CompleteWorkflowExecution", NULL, NULL, c);
			tids[i] = h_send("SWF.TerminateWorkflowExecution", NULL, NULL, t);
		}
	}
	h_flush();
	for (int i = 0; i < N; i++) {
		json_t *t = h_reply(tids[i], 1, 20000), *c = h_reply(cids[i], 1, 20000), *hist;
		int tw;

		assert_non_null(t);
		assert_non_null(c);
		tw = hw_ok(t);
		assert_true(tw != hw_ok(c)); /* exactly one winner */
		assert_error(tw ? c : t, "UnknownResourceFault");
		assert_string_equal(hw_status(&runs[i]), tw ? "TERMINATED" : "COMPLETED");
		hist = hw_history(&runs[i]);
		assert_int_equal(json_array_size(hist), 2);
		json_decref(hist);
		term_wins += tw;
		hw_run_free(&runs[i]);
	}
	fprintf(stderr, "terminate won %d of %d races\n", term_wins, N);
}

static void timeout_closes_timed_out_and_applies_policy(void **state)
{
	json_t *r = h_call("SWF.StartWorkflowExecution",
			   json_pack("{s:s, s:s, s:{s:s, s:s}, s:s}", "domain", DOM, "workflowId", "t-out",
				     "workflowType", "name", "flow", "version", "1",
				     "executionStartToCloseTimeout", "1"));
	hw_run_t run, child;
	json_t *hist, *ev;

	(void)state;
	assert_true(hw_ok(r));
	run.domain = strdup(DOM);
	run.wid = strdup("t-out");
	run.rid = strdup(str(r, "body", "runId"));
	child = hw_child(&run, "t-out-c", NULL);
	assert_int_equal(hw_wait_closed(&run, "TIMED_OUT", 30000), 0);
	hist = hw_history(&run);
	ev = json_object_get(hw_last(hist, "WorkflowExecutionTimedOut"),
			     "workflowExecutionTimedOutEventAttributes");
	assert_string_equal(str(ev, "timeoutType", NULL), "START_TO_CLOSE");
	assert_string_equal(str(ev, "childPolicy", NULL), "TERMINATE");
	json_decref(hist);
	assert_int_equal(hw_wait_closed(&child, "TERMINATED", 30000), 0);
	assert_error(h_call("SWF.TerminateWorkflowExecution", hw_exec(&run, 1)), "UnknownResourceFault");
	assert_error(h_call("SWF.StartWorkflowExecution",
			    json_pack("{s:s, s:s, s:{s:s, s:s}, s:s}", "domain", DOM, "workflowId", "t-bad",
				      "workflowType", "name", "flow", "version", "1",
				      "executionStartToCloseTimeout", "0")),
		     "ValidationException");
	hw_run_free(&run);
	hw_run_free(&child);
}

static int setup(void **state)
{
	(void)state;
	h_group_setup(NULL);
	hw_domain(DOM, NULL);
	hw_type(DOM, "flow", "1", "TERMINATE");
	hw_type(DOM, "bare", "1", NULL);
	h_watch(TOPIC);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(terminate_policy_terminate_closes_whole_tree),
	    cmocka_unit_test(terminate_policy_request_cancel_asks_children),
	    cmocka_unit_test(terminate_policy_abandon_leaves_children),
	    cmocka_unit_test(decider_close_leaves_children_running),
	    cmocka_unit_test(policy_precedence_and_no_policy_fault),
	    cmocka_unit_test(terminate_limits_unknown_and_replays),
	    cmocka_unit_test(terminate_racing_completion_has_one_winner),
	    cmocka_unit_test(timeout_closes_timed_out_and_applies_policy),
	};
	return cmocka_run_group_tests_name("0402-swf_terminate", tests, setup, h_group_teardown_cmocka);
}
