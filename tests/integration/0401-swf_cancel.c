/* 0401: SWF RequestCancelWorkflowExecution, the decider's closing decisions, domains, types and starts,
 * driven only through Kafka. */
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

#define DOM    "orders"
#define TOPIC  "andon.swf." H_ACCOUNT ".orders.decisions"
#define CUSTOM "custom.decider"
#define DOM_SP "sales team" /* legal SWF name, but no legal topic name */

static const char *str(json_t *o, const char *k1, const char *k2)
{
	json_t *v = json_object_get(o, k1);
	if (k2 != NULL)
		v = json_object_get(v, k2);
	return json_string_value(v);
}

static json_t *info(const hw_run_t *r)
{
	return json_object_get(json_object_get(hw_describe(r), "body"), "executionInfo");
}

static void assert_error(json_t *reply, const char *code)
{
	if (!hw_is_error(reply, code)) {
		char *s = json_dumps(reply, JSON_COMPACT);
		fprintf(stderr, "expected %s, got %s\n", code, s);
		free(s);
	}
	assert_true(hw_is_error(reply, code));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(reply, "error"), "status")), 400);
}

/* Success with an empty body: SWF's HTTP 200 with nothing in it. */
static void assert_empty_ok(json_t *reply)
{
	assert_true(hw_ok(reply));
	assert_true(json_is_object(json_object_get(reply, "body")));
	assert_int_equal(json_object_size(json_object_get(reply, "body")), 0);
}

static json_t *wait_decisions(const char *topic, const hw_run_t *r, size_t n)
{
	long long deadline = h_now_ms() + 20000;
	json_t *d;

	for (;;) {
		d = hw_decisions(topic, r);
		if (json_array_size(d) >= n || h_now_ms() >= deadline)
			return d;
		json_decref(d);
		h_pump(20);
	}
}

static void cancel_with_run_id_then_decider_cancels(void **state)
{
	hw_run_t r = hw_start(DOM, "c-with-run", "flow", "1", NULL);
	json_t *reply, *hist, *d, *ev;
	char *arn = hw_arn(&r);

	(void)state;
	reply = h_call("SWF.RequestCancelWorkflowExecution", hw_exec(&r, 1));
	assert_empty_ok(reply);

	/* The run stays open, marked cancel-requested, with the request in its history. */
	assert_string_equal(str(info(&r), "executionStatus", NULL), "OPEN");
	assert_true(json_is_true(json_object_get(info(&r), "cancelRequested")));
	hist = hw_history(&r);
	assert_int_equal(json_array_size(hist), 2);
	assert_string_equal(str(json_array_get(hist, 1), "eventType", NULL),
			    "WorkflowExecutionCancelRequested");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(hist, 1), "eventId")), 2);
	json_decref(hist);

	/* A decision task reached the domain's decision topic, keyed by the workflow. */
	d = wait_decisions(TOPIC, &r, 1);
	assert_int_equal(json_array_size(d), 1);
	ev = json_array_get(d, 0);
	assert_string_equal(str(ev, "domain", NULL), DOM);
	assert_non_null(str(ev, "account", NULL));
	assert_string_equal(str(ev, "account", NULL), H_ACCOUNT);
	assert_string_equal(str(ev, "reason", NULL), "WorkflowExecutionCancelRequested");
	assert_string_equal(str(ev, "workflowExecution", "workflowId"), r.wid);
	assert_string_equal(str(ev, "workflowType", "name"), "flow");
	assert_int_equal(json_integer_value(json_object_get(ev, "eventId")), 2);
	assert_non_null(str(ev, "decisionTaskId", NULL));
	json_decref(d);

	/* Subscribers saw it too: OPEN -> OPEN, typed. */
	assert_int_equal(h_wait_events(arn, 2, 20000), 0);
	d = h_events(arn);
	ev = json_array_get(d, 1);
	assert_string_equal(str(ev, "status", NULL), "OPEN");
	assert_string_equal(str(ev, "previousStatus", NULL), "OPEN");
	assert_string_equal(str(ev, "eventType", NULL), "WorkflowExecutionCancelRequested");
	assert_string_equal(str(ev, "service", NULL), "SWF");
	json_decref(d);

	/* The decider closes it gracefully. */
	{
		json_t *body = hw_exec(&r, 1);
		json_object_set_new(body, "details", json_string("cleaned up"));
		assert_empty_ok(h_call("SWF.CancelWorkflowExecution", body));
	}
	assert_string_equal(hw_status(&r), "CANCELED");
	assert_non_null(json_object_get(info(&r), "closeTimestamp"));
	hist = hw_history(&r);
	assert_int_equal(json_array_size(hist), 3);
	ev = hw_last(hist, "WorkflowExecutionCanceled");
	assert_non_null(ev);
	assert_string_equal(str(ev, "workflowExecutionCanceledEventAttributes", "details"), "cleaned up");
	json_decref(hist);
	assert_int_equal(h_wait_events(arn, 3, 20000), 0);
	d = h_events(arn);
	assert_string_equal(str(json_array_get(d, 2), "status", NULL), "CANCELED");
	json_decref(d);

	/* Closed: another cancel request is about an unknown (closed) run. */
	assert_error(h_call("SWF.RequestCancelWorkflowExecution", hw_exec(&r, 1)), "UnknownResourceFault");
	free(arn);
	hw_run_free(&r);
}

static void cancel_without_run_id_reaches_current_run(void **state)
{
	hw_run_t first = hw_start(DOM, "c-current", "flow", "1", NULL), second;
	json_t *body, *hist;

	(void)state;
	/* One open run per workflowId: a second start is refused while the first is open. */
	assert_error(h_call("SWF.StartWorkflowExecution",
			    json_pack("{s:s, s:s, s:{s:s, s:s}}", "domain", DOM, "workflowId", "c-current",
				      "workflowType", "name", "flow", "version", "1")),
		     "WorkflowExecutionAlreadyStartedFault");
	body = hw_exec(&first, 1);
	json_object_set_new(body, "childPolicy", json_string("ABANDON"));
	assert_empty_ok(h_call("SWF.TerminateWorkflowExecution", body));
	second = hw_start(DOM, "c-current", "flow", "1", NULL);
	assert_string_not_equal(first.rid, second.rid);

	/* Without runId: the current open run, not the older closed one. An empty runId counts as absent. */
	body = hw_exec(&second, 0);
	json_object_set_new(body, "runId", json_string(""));
	assert_empty_ok(h_call("SWF.RequestCancelWorkflowExecution", body));
	assert_true(json_is_true(json_object_get(info(&second), "cancelRequested")));
	assert_true(json_is_false(json_object_get(info(&first), "cancelRequested")));
	hist = hw_history(&first);
	assert_int_equal(hw_count(hist, "WorkflowExecutionCancelRequested"), 0);
	json_decref(hist);
	hist = wait_decisions(TOPIC, &second, 1);
	assert_int_equal(json_array_size(hist), 1);
	json_decref(hist);

	assert_empty_ok(h_call("SWF.CancelWorkflowExecution", hw_exec(&second, 1)));
	assert_string_equal(hw_status(&second), "CANCELED");
	/* No open run left: without runId there is nothing to cancel. */
	assert_error(h_call("SWF.RequestCancelWorkflowExecution", hw_exec(&second, 0)),
		     "UnknownResourceFault");
	hw_run_free(&first);
	hw_run_free(&second);
}

static void replays_and_duplicates_add_nothing(void **state)
{
	hw_run_t r = hw_start(DOM, "c-replay", "flow", "1", NULL);
	json_t *first, *hist, *d;
	char id[64];

	(void)state;
	snprintf(id, sizeof(id), "cancel-replay-%lld", h_now_ms());
	first = json_deep_copy(h_call_as("SWF.RequestCancelWorkflowExecution", id, NULL, hw_exec(&r, 1)));
	h_send("SWF.RequestCancelWorkflowExecution", id, NULL, hw_exec(&r, 1));
	h_send("SWF.RequestCancelWorkflowExecution", id, NULL, hw_exec(&r, 0));
	h_flush();
	assert_non_null(h_reply(id, 3, 20000));
	assert_true(json_equal(first, h_reply(id, 2, 0)));
	/* The same id with other fields (no runId) is another request: refused, nothing changes. */
	assert_true(hw_is_error(h_reply(id, 3, 0), "IdempotentParameterMismatch"));
	/* A second request with its own id: absorbed, same empty success, no second event or task. */
	assert_empty_ok(h_call("SWF.RequestCancelWorkflowExecution", hw_exec(&r, 0)));
	hist = hw_history(&r);
	assert_int_equal(json_array_size(hist), 2);
	assert_int_equal(hw_count(hist, "WorkflowExecutionCancelRequested"), 1);
	json_decref(hist);
	/* The replays re-sent the first attempt's decision task (it may not have been delivered); deciders
	 * deduplicate by decisionTaskId: there is one task. */
	h_pump(300);
	d = hw_decisions(TOPIC, &r);
	assert_true(json_array_size(d) >= 1);
	for (size_t i = 1; i < json_array_size(d); i++)
		assert_true(json_equal(json_array_get(d, 0), json_array_get(d, i)));
	json_decref(d);
	json_decref(first);
	hw_run_free(&r);
}

static void decider_decisions(void **state)
{
	hw_run_t a = hw_start(DOM, "d-complete", "flow", "1", NULL);
	hw_run_t b = hw_start(DOM, "d-fail", "flow", "1", NULL);
	json_t *body, *hist, *ev;

	(void)state;
	/* Cancel is a decision only after a cancel request. */
	assert_error(h_call("SWF.CancelWorkflowExecution", hw_exec(&a, 1)), "OperationNotPermittedFault");
	assert_string_equal(hw_status(&a), "OPEN");
	body = hw_exec(&a, 1);
	json_object_set_new(body, "result", json_string("{\"done\":true}"));
	assert_empty_ok(h_call("SWF.CompleteWorkflowExecution", body));
	assert_string_equal(hw_status(&a), "COMPLETED");
	hist = hw_history(&a);
	ev = hw_last(hist, "WorkflowExecutionCompleted");
	assert_non_null(ev);
	assert_string_equal(str(ev, "workflowExecutionCompletedEventAttributes", "result"),
			    "{\"done\":true}");
	json_decref(hist);
	assert_error(h_call("SWF.FailWorkflowExecution", hw_exec(&a, 1)), "UnknownResourceFault");
	assert_error(h_call("SWF.RequestCancelWorkflowExecution", hw_exec(&a, 1)), "UnknownResourceFault");

	body = hw_exec(&b, 1);
	json_object_set_new(body, "reason", json_string("broken"));
	json_object_set_new(body, "details", json_string("disk full"));
	assert_empty_ok(h_call("SWF.FailWorkflowExecution", body));
	assert_string_equal(hw_status(&b), "FAILED");
	hist = hw_history(&b);
	ev = hw_last(hist, "WorkflowExecutionFailed");
	assert_string_equal(str(ev, "workflowExecutionFailedEventAttributes", "reason"), "broken");
	json_decref(hist);
	/* The decider names the run: runId is required (bad input: answered and dead-lettered). */
	{
		size_t dlq0 = json_array_size(h_dlq());
		assert_error(h_call("SWF.CompleteWorkflowExecution", hw_exec(&b, 0)), "ValidationException");
		assert_int_equal(h_wait_dlq(dlq0 + 1, 20000), 0);
	}
	hw_run_free(&a);
	hw_run_free(&b);
}

static void start_replay_returns_same_run(void **state)
{
	json_t *body = json_pack("{s:s, s:s, s:{s:s, s:s}}", "domain", DOM, "workflowId", "s-replay",
				 "workflowType", "name", "flow", "version", "1");
	json_t *a, *b;
	char id[64];

	(void)state;
	snprintf(id, sizeof(id), "start-replay-%lld", h_now_ms());
	a = json_deep_copy(h_call_as("SWF.StartWorkflowExecution", id, NULL, json_deep_copy(body)));
	h_send("SWF.StartWorkflowExecution", id, NULL, body);
	h_flush();
	b = h_reply(id, 2, 20000);
	assert_true(hw_ok(a));
	assert_true(json_equal(a, b));
	json_decref(a);
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static json_t *cancel_body(const char *domain, const char *wid, const char *rid)
{
	json_t *b = json_object();

	if (domain != NULL)
		json_object_set_new(b, "domain", json_string(domain));
	if (wid != NULL)
		json_object_set_new(b, "workflowId", json_string(wid));
	if (rid != NULL)
		json_object_set_new(b, "runId", json_string(rid));
	return b;
}

static void cancel_limits_and_unknown_resources(void **state)
{
	hw_run_t r = hw_start(DOM, "c-limits", "flow", "1", NULL);
	char *s256 = repeat('d', 256), *s257 = repeat('d', 257), *r64 = repeat('r', 64),
	     *r65 = repeat('r', 65);
	size_t dlq0;
	json_t *hist;
	const char *op = "SWF.RequestCancelWorkflowExecution";

	(void)state;
	dlq0 = json_array_size(h_dlq());
	/* Lengths: ValidationException (bad input, dead-lettered). */
	assert_error(h_call(op, cancel_body(NULL, "w", NULL)), "ValidationException");
	assert_error(h_call(op, cancel_body(DOM, NULL, NULL)), "ValidationException");
	assert_error(h_call(op, cancel_body("", "w", NULL)), "ValidationException");
	assert_error(h_call(op, cancel_body(s257, "w", NULL)), "ValidationException");
	assert_error(h_call(op, cancel_body(DOM, "", NULL)), "ValidationException");
	assert_error(h_call(op, cancel_body(DOM, s257, NULL)), "ValidationException");
	assert_error(h_call(op, cancel_body(DOM, r.wid, r65)), "ValidationException");
	assert_error(h_call(op, json_pack("{s:s, s:i}", "domain", DOM, "workflowId", 7)),
		     "ValidationException");
	assert_int_equal(h_wait_dlq(dlq0 + 8, 20000), 0);
	/* At the limits: well-formed, about nothing that exists (answers, not dead-lettered). */
	assert_error(h_call(op, cancel_body(s256, "w", NULL)), "UnknownResourceFault");
	assert_error(h_call(op, cancel_body(DOM, s256, NULL)), "UnknownResourceFault");
	assert_error(h_call(op, cancel_body(DOM, r.wid, r64)), "UnknownResourceFault");
	assert_error(h_call(op, cancel_body("nowhere", r.wid, NULL)), "UnknownResourceFault");
	assert_error(h_call(op, cancel_body(DOM, "nobody", NULL)), "UnknownResourceFault");
	assert_error(h_call(op, cancel_body("a:b", r.wid, NULL)), "UnknownResourceFault");
	assert_error(h_call(op, cancel_body(DOM, "x|y", NULL)), "UnknownResourceFault");
	/* Another account sees nothing of this one's runs. */
	assert_error(h_call_as(op, NULL, "999999999999", hw_exec(&r, 1)), "UnknownResourceFault");
	h_pump(300);
	assert_int_equal(json_array_size(h_dlq()), dlq0 + 8);
	hist = hw_history(&r);
	assert_int_equal(json_array_size(hist), 1);
	json_decref(hist);
	free(s256);
	free(s257);
	free(r64);
	free(r65);
	hw_run_free(&r);
}

static void domains_types_and_starts(void **state)
{
	hw_run_t r;
	json_t *d;

	(void)state;
	assert_error(h_call("SWF.RegisterDomain", json_pack("{s:s}", "name", DOM)),
		     "DomainAlreadyExistsFault");
	/* A domain whose default decision topic would be illegal needs a topic of its own. */
	assert_error(h_call("SWF.RegisterDomain", json_pack("{s:s}", "name", DOM_SP)), "ValidationException");
	assert_error(
	    h_call("SWF.RegisterDomain", json_pack("{s:s, s:s}", "name", "x", "decisionTopic", "a b")),
	    "ValidationException");
	assert_error(h_call("SWF.RegisterDomain", json_pack("{s:s}", "name", "bad:name")),
		     "ValidationException");
	assert_error(h_call("SWF.RegisterDomain", json_pack("{s:s}", "name", "arn")), "ValidationException");
	assert_error(h_call("SWF.RegisterDomain", json_pack("{s:s}", "name", " lead")),
		     "ValidationException");
	hw_domain(DOM_SP, CUSTOM);
	hw_type(DOM_SP, "flow", "1", NULL);
	assert_error(h_call("SWF.RegisterWorkflowType",
			    json_pack("{s:s, s:s, s:s}", "domain", DOM_SP, "name", "flow", "version", "1")),
		     "TypeAlreadyExistsFault");
	assert_error(h_call("SWF.RegisterWorkflowType", json_pack("{s:s, s:s, s:s}", "domain", "nowhere",
								  "name", "flow", "version", "1")),
		     "UnknownResourceFault");
	assert_error(
	    h_call("SWF.RegisterWorkflowType", json_pack("{s:s, s:s, s:s, s:s}", "domain", DOM_SP, "name",
							 "t2", "version", "1", "defaultChildPolicy", "KILL")),
	    "ValidationException");
	/* Starts of unknown domains and types. */
	assert_error(h_call("SWF.StartWorkflowExecution",
			    json_pack("{s:s, s:s, s:{s:s, s:s}}", "domain", "nowhere", "workflowId", "w",
				      "workflowType", "name", "flow", "version", "1")),
		     "UnknownResourceFault");
	assert_error(h_call("SWF.StartWorkflowExecution",
			    json_pack("{s:s, s:s, s:{s:s, s:s}}", "domain", DOM_SP, "workflowId", "w",
				      "workflowType", "name", "flow", "version", "2")),
		     "UnknownResourceFault");
	assert_error(h_call("SWF.StartWorkflowExecution",
			    json_pack("{s:s, s:s, s:{s:s, s:s}}", "domain", DOM_SP, "workflowId", "bad/id",
				      "workflowType", "name", "flow", "version", "1")),
		     "ValidationException");
	assert_error(h_call("SWF.StartWorkflowExecution",
			    json_pack("{s:s, s:s}", "domain", DOM_SP, "workflowId", "w")),
		     "ValidationException");

	/* The domain's own decision topic is used. */
	h_watch(CUSTOM);
	r = hw_start(DOM_SP, "custom-topic", "flow", "1", NULL);
	assert_empty_ok(h_call("SWF.RequestCancelWorkflowExecution", hw_exec(&r, 0)));
	d = wait_decisions(CUSTOM, &r, 1);
	assert_int_equal(json_array_size(d), 1);
	assert_string_equal(str(json_array_get(d, 0), "domain", NULL), DOM_SP);
	json_decref(d);
	hw_run_free(&r);
}

/* Two accounts, one domain name: each account's domain gets its own default decision topic, and every task
 * names its account, so one account's decider never reads the other's workflowIds and runIds. */
#define ACCT_A	   "111111111111"
#define ACCT_B	   "222222222222"
#define SHARED	   "shared"
#define SHARED_OLD "andon.swf." SHARED ".decisions" /* the name before accounts were in it */

static hw_run_t tenant_start(const char *account)
{
	json_t *r;
	hw_run_t run;

	assert_empty_ok(h_call_as("SWF.RegisterDomain", NULL, account, json_pack("{s:s}", "name", SHARED)));
	assert_empty_ok(
	    h_call_as("SWF.RegisterWorkflowType", NULL, account,
		      json_pack("{s:s, s:s, s:s}", "domain", SHARED, "name", "flow", "version", "1")));
	r = h_call_as("SWF.StartWorkflowExecution", NULL, account,
		      json_pack("{s:s, s:s, s:{s:s, s:s}}", "domain", SHARED, "workflowId", "tenant-wf",
				"workflowType", "name", "flow", "version", "1"));
	assert_true(hw_ok(r));
	run.domain = strdup(SHARED);
	run.wid = strdup("tenant-wf");
	run.rid = strdup(str(r, "body", "runId"));
	return run;
}

/* Every message on topic is a task for run r of account. */
static void assert_only(const char *topic, const char *account, const hw_run_t *r)
{
	json_t *all = h_topic(topic), *m;
	size_t i;

	assert_true(json_array_size(all) >= 1);
	json_array_foreach(all, i, m)
	{
		json_t *v = json_object_get(m, "value");
		assert_string_equal(str(v, "account", NULL), account);
		assert_string_equal(str(v, "domain", NULL), SHARED);
		assert_string_equal(str(v, "workflowExecution", "runId"), r->rid);
		assert_string_equal(str(v, "reason", NULL), "WorkflowExecutionCancelRequested");
	}
}

static void two_accounts_one_domain_name(void **state)
{
	const char *topic_a = "andon.swf." ACCT_A "." SHARED ".decisions";
	const char *topic_b = "andon.swf." ACCT_B "." SHARED ".decisions";
	hw_run_t a, b;
	json_t *d;

	(void)state;
	h_watch(topic_a);
	h_watch(topic_b);
	h_watch(SHARED_OLD);
	a = tenant_start(ACCT_A);
	b = tenant_start(ACCT_B);
	assert_string_not_equal(a.rid, b.rid);
	assert_empty_ok(h_call_as("SWF.RequestCancelWorkflowExecution", NULL, ACCT_A, hw_exec(&a, 0)));
	assert_empty_ok(h_call_as("SWF.RequestCancelWorkflowExecution", NULL, ACCT_B, hw_exec(&b, 0)));
	d = wait_decisions(topic_a, &a, 1);
	assert_int_equal(json_array_size(d), 1);
	json_decref(d);
	d = wait_decisions(topic_b, &b, 1);
	assert_int_equal(json_array_size(d), 1);
	json_decref(d);
	/* Anything misrouted would have arrived by now. */
	h_pump(500);
	assert_only(topic_a, ACCT_A, &a);
	assert_only(topic_b, ACCT_B, &b);
	assert_int_equal(json_array_size(h_topic(SHARED_OLD)), 0);
	/* The tasks of the default account's domain name it too. */
	d = h_topic(TOPIC);
	assert_true(json_array_size(d) >= 1);
	assert_string_equal(str(json_object_get(json_array_get(d, 0), "value"), "account", NULL), H_ACCOUNT);
	hw_run_free(&a);
	hw_run_free(&b);
}

static int setup(void **state)
{
	(void)state;
	h_group_setup(NULL);
	hw_domain(DOM, NULL);
	hw_type(DOM, "flow", "1", "TERMINATE");
	h_watch(TOPIC);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(cancel_with_run_id_then_decider_cancels),
	    cmocka_unit_test(cancel_without_run_id_reaches_current_run),
	    cmocka_unit_test(replays_and_duplicates_add_nothing),
	    cmocka_unit_test(decider_decisions),
	    cmocka_unit_test(start_replay_returns_same_run),
	    cmocka_unit_test(cancel_limits_and_unknown_resources),
	    cmocka_unit_test(domains_types_and_starts),
	    cmocka_unit_test(two_accounts_one_domain_name),
	};
	return cmocka_run_group_tests_name("0401-swf_cancel", tests, setup, h_group_teardown_cmocka);
}
