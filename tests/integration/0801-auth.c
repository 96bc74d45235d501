/*
 * 0801: signed requests and access key policies (security.auth = required), through Kafka only: every
 * refusal with its API's code and status and no state change, tampered value, key, topic and date,
 * captured requests replayed inside and outside the signing window, a policy matrix, and disable, enable
 * and rotation taking effect on a running worker.
 */
#include "harness-auth.h"
#include "harness-cflow.h"
#include "harness-http.h"
#include "harness-swf.h"
#include "harness.h"
#include "json.h"
#include "keystore.h"
#include "util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OTHER "210987654321"

static char *sm, *sm2;
static int http_port;

enum tamper { T_NONE, T_VALUE, T_KEY, T_TOPIC, T_DATE, T_UNSIGNED, T_TWICE };

/* One request as produced, kept to be produced again (a captured request). */
typedef struct sent {
	char id[37], key[64];
	char *buf;
	size_t len;
	rd_kafka_headers_t *hdrs;
} sent_t;

static void sent_free(sent_t *s)
{
	free(s->buf);
	if (s->hdrs != NULL)
		rd_kafka_headers_destroy(s->hdrs);
	memset(s, 0, sizeof(*s));
}

static char *pack(const char *op, const char *id, const char *account, json_t *body, size_t *len)
{
	json_t *env = json_pack("{s:i, s:s, s:s, s:O}", "v", 1, "op", op, "id", id, "body", body);
	char err[256], *buf;

	if (account != NULL)
		json_object_set_new(env, "account", json_string(account));
	assert_int_equal(andon_json_pack(env, &buf, len, err, sizeof(err)), 0);
	json_decref(env);
	return buf;
}

/*
 * Produces op with body (stolen) signed by c at signed_at (0: now) as tamper says, with Kafka timestamp
 * ts_ms (0: now); keeps what was produced in out (may be NULL). Returns the reply (borrowed).
 */
static json_t *send_as(const andon_creds_t *c, const char *op, const char *account, json_t *body,
		       enum tamper t, time_t signed_at, long long ts_ms, sent_t *out)
{
	sent_t s = {0};
	char err[256], *other = NULL;
	size_t other_len = 0;
	rd_kafka_headers_t *h = rd_kafka_headers_new(4);
	json_t *reply;

	andon_uuid4(s.id);
	snprintf(s.key, sizeof(s.key), "k-%s", s.id);
	s.buf = pack(op, s.id, account, body, &s.len);
	if (t == T_VALUE) { /* signed: the body with one more field; sent: the body as given */
		json_t *b2 = json_deep_copy(body);

		json_object_set_new(b2, "cause", json_string("tampered"));
		other = pack(op, s.id, account, b2, &other_len);
		json_decref(b2);
	}
	if (t != T_UNSIGNED)
		assert_int_equal(
		    andon_sign_headers(h, c, t == T_TOPIC ? "andon.other" : "andon.requests",
				       t == T_KEY ? "k-other" : s.key, t == T_KEY ? 7 : strlen(s.key),
				       other != NULL ? other : s.buf, other != NULL ? other_len : s.len,
				       signed_at != 0 ? signed_at : time(NULL), err, sizeof(err)),
		    0);
	if (t == T_DATE) {
		char date[ANDON_SIGN_DATE_LEN + 1];

		andon_sign_date((signed_at != 0 ? signed_at : time(NULL)) + 1, date);
		rd_kafka_header_remove(h, ANDON_SIGN_HDR_DATE);
		rd_kafka_header_add(h, ANDON_SIGN_HDR_DATE, -1, date, -1);
	}
	if (t == T_TWICE)
		rd_kafka_header_add(h, ANDON_SIGN_HDR_KEY_ID, -1, c->key_id, -1);
	free(other);
	s.hdrs = rd_kafka_headers_copy(h);
	h_produce_msg("andon.requests", s.key, strlen(s.key), s.buf, s.len, h, ts_ms);
	json_decref(body);
	reply = h_reply(s.id, 1, 20000);
	if (out != NULL)
		*out = s;
	else
		sent_free(&s);
	return reply;
}

static json_t *send_ok(const andon_creds_t *c, const char *op, json_t *body)
{
	return send_as(c, op, NULL, body, T_NONE, 0, 0, NULL);
}

static void assert_error(json_t *reply, const char *code, int status)
{
	json_t *e;

	assert_non_null(reply);
	assert_true(json_is_false(json_object_get(reply, "ok")));
	e = json_object_get(reply, "error");
	if (strcmp(json_string_value(json_object_get(e, "code")), code) != 0)
		fprintf(stderr, "expected %s, got %s: %s\n", code,
			json_string_value(json_object_get(e, "code")),
			json_string_value(json_object_get(e, "message")));
	assert_string_equal(json_string_value(json_object_get(e, "code")), code);
	assert_int_equal(json_integer_value(json_object_get(e, "status")), status);
}

static void assert_ok(json_t *reply)
{
	assert_non_null(reply);
	if (!json_is_true(json_object_get(reply, "ok")))
		fprintf(stderr, "not ok: %s\n", json_dumps(reply, JSON_COMPACT));
	assert_true(json_is_true(json_object_get(reply, "ok")));
}

/* Every key and its serialized value, but the worker's in-flight records (written before decoding). */
static char *snapshot(void)
{
	redisReply *keys = h_redis("KEYS *");
	size_t cap = 1 << 16, n = 0;
	char *out = malloc(cap);

	assert_non_null(keys);
	/* KEYS has no order: a sorted copy. */
	for (size_t i = 1; i < keys->elements; i++)
		for (size_t k = i; k > 0 && strcmp(keys->element[k - 1]->str, keys->element[k]->str) > 0;
		     k--) {
			redisReply *t = keys->element[k];

			keys->element[k] = keys->element[k - 1];
			keys->element[k - 1] = t;
		}
	for (size_t i = 0; i < keys->elements; i++) {
		const char *k = keys->element[i]->str;
		redisReply *d;

		if (strncmp(k, "andon:{inflight:", 16) == 0)
			continue;
		d = h_redis("DUMP %s", k);
		while (n + strlen(k) + (d->type == REDIS_REPLY_STRING ? d->len : 0) + 2 > cap)
			out = realloc(out, cap *= 2);
		memcpy(out + n, k, strlen(k));
		n += strlen(k);
		out[n++] = '=';
		if (d->type == REDIS_REPLY_STRING) {
			memcpy(out + n, d->str, d->len);
			n += d->len;
		}
		out[n++] = ';';
		freeReplyObject(d);
	}
	freeReplyObject(keys);
	out[n] = '\0';
	return out;
}

static void assert_same(const char *before, size_t before_len)
{
	char *now = snapshot();

	(void)before_len;
	assert_memory_equal(before, now,
			    strlen(before) + 1 < strlen(now) + 1 ? strlen(before) + 1 : strlen(now) + 1);
	assert_int_equal(strlen(before), strlen(now));
	free(now);
}

static json_t *stop_body(const char *arn)
{
	return json_pack("{s:s, s:s}", "executionArn", arn, "error", "Halted");
}

static void refusals_have_the_apis_codes_and_change_nothing(void **state)
{
	const andon_creds_t *c = h_auth_creds(NULL);
	andon_creds_t unknown = {"AKANUNKNOWNUNKNOWN00", "x"}, inactive;
	char *arn = h_sfn_start(sm, "refusals"), *before;
	const char *cf_body_flow = "cf-refusals";
	time_t now = time(NULL);

	(void)state;
	hcf_flow(NULL, cf_body_flow, "{\"Type\": \"StateMachine\"}");
	hcf_start(NULL, cf_body_flow, "e-1", 1);
	h_auth_key(H_ACCOUNT, H_POLICY_ALL, &inactive);
	assert_int_equal(andon_keystore_set(h_redis_ctx(), inactive.key_id, "status", "inactive", NULL, 0),
			 1);
	h_pump(500);
	before = snapshot();

	/* Step Functions. */
	assert_error(send_as(c, "StepFunctions.StopExecution", NULL, stop_body(arn), T_UNSIGNED, 0, 0, NULL),
		     "MissingAuthenticationTokenException", 403);
	assert_error(
	    send_as(&unknown, "StepFunctions.StopExecution", NULL, stop_body(arn), T_NONE, 0, 0, NULL),
	    "UnrecognizedClientException", 400);
	assert_error(
	    send_as(&inactive, "StepFunctions.StopExecution", NULL, stop_body(arn), T_NONE, 0, 0, NULL),
	    "UnrecognizedClientException", 400);
	assert_error(send_as(c, "StepFunctions.StopExecution", NULL, stop_body(arn), T_VALUE, 0, 0, NULL),
		     "InvalidSignatureException", 400);
	assert_error(send_as(c, "StepFunctions.StopExecution", NULL, stop_body(arn), T_KEY, 0, 0, NULL),
		     "InvalidSignatureException", 400);
	assert_error(send_as(c, "StepFunctions.StopExecution", NULL, stop_body(arn), T_TOPIC, 0, 0, NULL),
		     "InvalidSignatureException", 400);
	assert_error(send_as(c, "StepFunctions.StopExecution", NULL, stop_body(arn), T_DATE, 0, 0, NULL),
		     "InvalidSignatureException", 400);
	assert_error(send_as(c, "StepFunctions.StopExecution", NULL, stop_body(arn), T_TWICE, 0, 0, NULL),
		     "InvalidSignatureException", 400);
	/* Signed 16 minutes before its Kafka timestamp, and 16 minutes after. */
	assert_error(
	    send_as(c, "StepFunctions.StopExecution", NULL, stop_body(arn), T_NONE, now - 960, 0, NULL),
	    "InvalidSignatureException", 400);
	assert_error(
	    send_as(c, "StepFunctions.StopExecution", NULL, stop_body(arn), T_NONE, now + 960, 0, NULL),
	    "InvalidSignatureException", 400);
	/* The envelope names another account than the key's. */
	assert_error(send_as(c, "StepFunctions.StopExecution", OTHER, stop_body(arn), T_NONE, 0, 0, NULL),
		     "AccessDeniedException", 400);

	/* CloudFlow spells them its own way, all 403. */
	assert_error(send_as(c, "CloudFlow.StopExecution", NULL, hcf_body(cf_body_flow, "e-1"), T_UNSIGNED, 0,
			     0, NULL),
		     "InvalidAccessKeyID", 403);
	assert_error(send_as(&unknown, "CloudFlow.StopExecution", NULL, hcf_body(cf_body_flow, "e-1"), T_NONE,
			     0, 0, NULL),
		     "InvalidAccessKeyID", 403);
	assert_error(
	    send_as(c, "CloudFlow.StopExecution", NULL, hcf_body(cf_body_flow, "e-1"), T_VALUE, 0, 0, NULL),
	    "SignatureNotMatch", 403);
	assert_error(send_as(c, "CloudFlow.StopExecution", NULL, hcf_body(cf_body_flow, "e-1"), T_NONE,
			     now - 960, 0, NULL),
		     "RequestTimeTooSkewed", 403);
	assert_error(
	    send_as(c, "CloudFlow.StopExecution", OTHER, hcf_body(cf_body_flow, "e-1"), T_NONE, 0, 0, NULL),
	    "AccessDenied", 403);

	/* Counted by reason (published on the worker's tick: polled). */
	{
		static const struct {
			const char *reason;
			double n;
		} want[] = {{"reason=unsigned", 2},  {"reason=unknown_key", 2}, {"reason=inactive_key", 1},
			    {"reason=signature", 5}, {"reason=malformed", 1},	{"reason=skewed", 3},
			    {"reason=account", 2}};
		int all = 0;

		for (long long deadline = h_now_ms() + 10000; !all && h_now_ms() < deadline;) {
			prom_t *p = hh_scrape(http_port);

			all = 1;
			for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
				if (prom_sum(p, "andon_auth_refusals_total", want[i].reason, NULL) !=
				    want[i].n)
					all = 0;
			prom_free(p);
			if (!all)
				h_sleep_ms(100);
		}
		assert_true(all);
	}
	/* Nothing of any of them reached Redis; the same stop, signed, does. */
	assert_same(before, 0);
	free(before);
	assert_ok(send_ok(c, "StepFunctions.StopExecution", stop_body(arn)));
	free(arn);
}

static void captured_request_replays_inside_the_window_only(void **state)
{
	const andon_creds_t *c = h_auth_creds(NULL);
	char *arn = h_sfn_start(sm, "captured");
	sent_t s;
	json_t *first;
	rd_kafka_headers_t *h;
	size_t n;

	(void)state;
	first = send_as(c, "StepFunctions.StopExecution", NULL, stop_body(arn), T_NONE, 0, 0, &s);
	assert_ok(first);
	/* The same bytes and headers again within 15 minutes: the same answer, nothing applied twice. */
	h = rd_kafka_headers_copy(s.hdrs);
	h_produce_msg("andon.requests", s.key, strlen(s.key), s.buf, s.len, h, 0);
	assert_ok(h_reply(s.id, 2, 20000));
	/* Replayed 20 minutes after its signing (its Kafka timestamp says so): refused. */
	h = rd_kafka_headers_copy(s.hdrs);
	h_produce_msg("andon.requests", s.key, strlen(s.key), s.buf, s.len, h, andon_wall_ms() + 1200000);
	assert_error(h_reply(s.id, 3, 20000), "InvalidSignatureException", 400);
	n = h_reply_count(s.id);
	assert_int_equal(n, 3);
	sent_free(&s);
	free(arn);
}

static void signed_long_ago_is_past_the_retention(void **state)
{
	const andon_creds_t *c = h_auth_creds(NULL);
	char *arn = h_sfn_start(sm, "old");
	time_t then = time(NULL) - 7200;
	json_t *r;

	(void)state;
	/* Signed and timestamped two hours ago (a replay keeping its original timestamp): inside the
	 * 15-minute window, past security.max_request_age (1 hour here). */
	r = send_as(c, "StepFunctions.StopExecution", NULL, stop_body(arn), T_NONE, then,
		    (long long)then * 1000, NULL);
	assert_error(r, "InvalidSignatureException", 400);
	assert_non_null(
	    strstr(json_string_value(json_object_get(json_object_get(r, "error"), "message")), "retention"));
	hcf_flow(NULL, "cf-old", "{\"Type\": \"StateMachine\"}");
	hcf_start(NULL, "cf-old", "e-1", 1);
	assert_error(send_as(c, "CloudFlow.StopExecution", NULL, hcf_body("cf-old", "e-1"), T_NONE, then,
			     (long long)then * 1000, NULL),
		     "RequestTimeTooSkewed", 403);
	assert_ok(send_ok(c, "StepFunctions.StopExecution", stop_body(arn)));
	free(arn);
}

/* A key of the default account with policy. */
static andon_creds_t key_with(const char *policy)
{
	andon_creds_t k;

	h_auth_key(H_ACCOUNT, policy, &k);
	return k;
}

static void policy_matrix(void **state)
{
	char *a1 = h_sfn_start(sm, "keep-1"), *a2 = h_sfn_start(sm, "drop-1"), *a3 = h_sfn_start(sm2, "x-1");
	char *a4 = h_sfn_start(sm, "drop-2"), *desc;
	andon_creds_t none = key_with(NULL);
	andon_creds_t stop_orders =
	    key_with("{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"states:StopExecution\","
		     "\"Resource\":\"arn:aws:states:us-east-1:" H_ACCOUNT ":execution:auth-orders:*\"}}");
	andon_creds_t all_but_keep =
	    key_with("{\"Version\":\"2012-10-17\",\"Statement\":["
		     "{\"Effect\":\"Allow\",\"Action\":\"states:*\",\"Resource\":\"*\"},"
		     "{\"Effect\":\"Deny\",\"Action\":\"STATES:stop*\",\"Resource\":\"arn:aws:states:*:*:"
		     "execution:*:keep-?\"}]}");
	andon_creds_t describe_only = key_with("{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"states:"
					       "Describe*\",\"states:GetExecutionHistory\"],"
					       "\"Resource\":[\"*\"]}]}");

	(void)state;
	/* No policy: nothing. */
	assert_error(
	    send_ok(&none, "StepFunctions.DescribeExecution", json_pack("{s:s}", "executionArn", a1)),
	    "AccessDeniedException", 400);
	/* Allowed action and resource; the same action elsewhere, and another action, denied. */
	assert_error(send_ok(&stop_orders, "StepFunctions.StopExecution", stop_body(a3)),
		     "AccessDeniedException", 400);
	assert_error(
	    send_ok(&stop_orders, "StepFunctions.DescribeExecution", json_pack("{s:s}", "executionArn", a2)),
	    "AccessDeniedException", 400);
	assert_ok(send_ok(&stop_orders, "StepFunctions.StopExecution", stop_body(a2)));
	/* Deny wins over Allow; '?' matches one character; actions ignore case. */
	assert_error(send_ok(&all_but_keep, "StepFunctions.StopExecution", stop_body(a1)),
		     "AccessDeniedException", 400);
	assert_ok(send_ok(&all_but_keep, "StepFunctions.DescribeExecution",
			  json_pack("{s:s}", "executionArn", a1)));
	assert_ok(send_ok(&all_but_keep, "StepFunctions.StopExecution", stop_body(a4)));
	/* A list of actions; the wildcard resource. */
	assert_ok(send_ok(&describe_only, "StepFunctions.GetExecutionHistory",
			  json_pack("{s:s}", "executionArn", a1)));
	assert_error(send_ok(&describe_only, "StepFunctions.StopExecution", stop_body(a1)),
		     "AccessDeniedException", 400);
	/* keep-1 is still running: every stop of it was refused. */
	desc = NULL;
	{
		json_t *r = send_ok(h_auth_creds(NULL), "StepFunctions.DescribeExecution",
				    json_pack("{s:s}", "executionArn", a1));

		assert_ok(r);
		assert_string_equal(json_string_value(json_object_get(json_object_get(r, "body"), "status")),
				    "RUNNING");
	}
	free(desc);
	free(a1);
	free(a2);
	free(a3);
	free(a4);
}

static void swf_domain_scope_and_cloudflow_flows(void **state)
{
	andon_creds_t prod_only =
	    key_with("{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"swf:*\","
		     "\"Resource\":\"arn:aws:swf:us-east-1:" H_ACCOUNT ":/domain/auth-prod\"}}");
	andon_creds_t flow_a = key_with("{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"fnf:*\","
					"\"Resource\":\"acs:fnf:*:" H_ACCOUNT ":flow/auth-a\"}}");
	hw_run_t prod, dev;

	(void)state;
	hw_domain("auth-prod", NULL);
	hw_domain("auth-dev", NULL);
	hw_type("auth-prod", "t", "1", "TERMINATE");
	hw_type("auth-dev", "t", "1", "TERMINATE");
	prod = hw_start("auth-prod", "w-1", "t", "1", NULL);
	dev = hw_start("auth-dev", "w-1", "t", "1", NULL);
	assert_error(send_ok(&prod_only, "SWF.TerminateWorkflowExecution", hw_exec(&dev, 1)),
		     "OperationNotPermittedFault", 400);
	assert_error(send_ok(&prod_only, "SWF.RequestCancelWorkflowExecution", hw_exec(&dev, 1)),
		     "OperationNotPermittedFault", 400);
	assert_ok(send_ok(&prod_only, "SWF.TerminateWorkflowExecution", hw_exec(&prod, 1)));
	assert_string_equal(hw_status(&dev), "OPEN");

	hcf_flow(NULL, "auth-a", "{\"Type\": \"StateMachine\"}");
	hcf_flow(NULL, "auth-b", "{\"Type\": \"StateMachine\"}");
	hcf_start(NULL, "auth-a", "e-1", 1);
	hcf_start(NULL, "auth-b", "e-1", 1);
	assert_error(send_ok(&flow_a, "CloudFlow.StopExecution", hcf_body("auth-b", "e-1")), "AccessDenied",
		     403);
	assert_ok(send_ok(&flow_a, "CloudFlow.StopExecution", hcf_body("auth-a", "e-1")));
	hw_run_free(&prod);
	hw_run_free(&dev);
}

/* Sends describes signed by k until one is answered with code (NULL: ok) or 10 s pass. */
static int until(const andon_creds_t *k, const char *arn, const char *code)
{
	for (long long deadline = h_now_ms() + 10000; h_now_ms() < deadline;) {
		json_t *r =
		    send_ok(k, "StepFunctions.DescribeExecution", json_pack("{s:s}", "executionArn", arn));
		const char *got = json_string_value(json_object_get(json_object_get(r, "error"), "code"));

		if (code == NULL ? json_is_true(json_object_get(r, "ok"))
				 : got != NULL && strcmp(got, code) == 0)
			return 0;
		h_sleep_ms(100);
	}
	return -1;
}

static void disable_enable_and_rotate_on_a_running_worker(void **state)
{
	andon_creds_t k = key_with(H_POLICY_ALL), rotated;
	char *arn = h_sfn_start(sm, "rotation");
	long long t0;

	(void)state;
	assert_int_equal(until(&k, arn, NULL), 0);
	t0 = h_now_ms();
	assert_int_equal(andon_keystore_set(h_redis_ctx(), k.key_id, "status", "inactive", NULL, 0), 1);
	assert_int_equal(until(&k, arn, "UnrecognizedClientException"), 0);
	/* security.key_cache_ms (1 s) bounds it, with the round trips of the probes. */
	assert_true(h_now_ms() - t0 < 5000);
	assert_int_equal(andon_keystore_set(h_redis_ctx(), k.key_id, "status", "active", NULL, 0), 1);
	assert_int_equal(until(&k, arn, NULL), 0);
	{
		char err[256];
		unsigned char mk[ANDON_MASTER_KEY_LEN];
		char path[600];

		snprintf(path, sizeof(path), "%s/master.key", h_dir());
		assert_int_equal(andon_master_load(path, mk, err, sizeof(err)), 0);
		assert_int_equal(
		    andon_keystore_rotate(h_redis_ctx(), mk, k.key_id, &rotated, err, sizeof(err)), 1);
	}
	assert_int_equal(until(&k, arn, "InvalidSignatureException"), 0);
	assert_int_equal(until(&rotated, arn, NULL), 0);
	/* Deleted: unknown. */
	assert_int_equal(andon_keystore_delete(h_redis_ctx(), k.key_id, NULL, 0), 1);
	assert_int_equal(until(&rotated, arn, "UnrecognizedClientException"), 0);
	free(arn);
}

/* Produces value and headers (hdrs owned) to topic, as a capture of a request bound for andon.requests. */
static void capture(const char *topic, const sent_t *s, int with_headers)
{
	h_produce_msg(topic, s->key, strlen(s->key), s->buf, s->len,
		      with_headers ? rd_kafka_headers_copy(s->hdrs) : NULL, 0);
}

/* andon-replay of topic into andon.requests, waiting for id's n-th reply; returns it. */
static json_t *replay(const char *topic, int resign, const char *id, int n)
{
	const char *args[] = {"-b", h_brokers(), "-t", topic, "-q", resign ? "--re-sign" : NULL, NULL};
	pid_t pid = h_tool_start("andon-replay", args);
	json_t *r = h_reply(id, n, 30000);

	h_tool_stop(pid);
	return r;
}

static void andon_replay_keeps_the_signature_or_signs_again(void **state)
{
	const andon_creds_t *c = h_auth_creds(NULL);
	char *arn = h_sfn_start(sm, "replayed"), *arn2 = h_sfn_start(sm, "replayed-2");
	sent_t s, u;

	(void)state;
	/* A signed stop, answered; captured on a topic of its own and replayed as it was: its signature,
	 * date and Kafka timestamp hold, and its request id answers it again. */
	assert_ok(send_as(c, "StepFunctions.StopExecution", NULL, stop_body(arn), T_NONE, 0, 0, &s));
	h_topic_create("auth.capture", 1);
	capture("auth.capture", &s, 1);
	assert_ok(replay("auth.capture", 0, s.id, 2));
	/* The same request unsigned: refused as it is, applied once re-signed by the operator. */
	assert_error(send_as(c, "StepFunctions.StopExecution", NULL, stop_body(arn2), T_UNSIGNED, 0, 0, &u),
		     "MissingAuthenticationTokenException", 403);
	h_topic_create("auth.unsigned", 1);
	capture("auth.unsigned", &u, 0);
	assert_error(replay("auth.unsigned", 0, u.id, 2), "MissingAuthenticationTokenException", 403);
	assert_ok(replay("auth.unsigned", 1, u.id, 3));
	sent_free(&s);
	sent_free(&u);
	free(arn);
	free(arn2);
}

static int setup(void **state)
{
	(void)state;
	h_start();
	h_auth_on();
	http_port = hh_port(h_worker_start(
	    (const char *const[]){"worker.http_listen=127.0.0.1:0", "security.max_request_age=3600", NULL}));
	sm = h_sfn_machine("auth-orders", "STANDARD");
	sm2 = h_sfn_machine("auth-other", "STANDARD");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(sm);
	free(sm2);
	return h_group_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(refusals_have_the_apis_codes_and_change_nothing),
	    cmocka_unit_test(captured_request_replays_inside_the_window_only),
	    cmocka_unit_test(signed_long_ago_is_past_the_retention),
	    cmocka_unit_test(policy_matrix),
	    cmocka_unit_test(swf_domain_scope_and_cloudflow_flows),
	    cmocka_unit_test(andon_replay_keeps_the_signature_or_signs_again),
	    cmocka_unit_test(disable_enable_and_rotate_on_a_running_worker),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
