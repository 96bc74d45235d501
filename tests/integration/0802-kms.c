/*
 * 0802: Step Functions state machines encrypted with a customer managed key, through Kafka: error and
 * cause sealed by the worker (no plaintext anywhere in Redis), KmsAccessDeniedException for callers the key
 * does not name, KmsInvalidStateException for a disabled key or one pending deletion, KmsThrottlingException
 * past kms.rate, and a stop with neither error nor cause needing no key at all.
 */
#include "harness-auth.h"
#include "harness.h"
#include "keystore.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET_ERROR "plain-error-7f3a"
#define SECRET_CAUSE "plain-cause-9c1e"

static unsigned char mk[ANDON_MASTER_KEY_LEN];
static char k_ok[37], k_other[37], k_off[37];

static void assert_error(json_t *reply, const char *code)
{
	const char *got;

	assert_non_null(reply);
	got = json_string_value(json_object_get(json_object_get(reply, "error"), "code"));
	if (got == NULL || strcmp(got, code) != 0)
		fprintf(stderr, "expected %s: %s\n", code, json_dumps(reply, JSON_COMPACT));
	assert_non_null(got);
	assert_string_equal(got, code);
}

static void assert_ok(json_t *reply)
{
	assert_non_null(reply);
	if (!json_is_true(json_object_get(reply, "ok")))
		fprintf(stderr, "not ok: %s\n", json_dumps(reply, JSON_COMPACT));
	assert_true(json_is_true(json_object_get(reply, "ok")));
}

static char *machine(const char *name, const char *key)
{
	json_t *body = json_pack("{s:s}", "name", name), *r;

	if (key != NULL)
		json_object_set_new(
		    body, "encryptionConfiguration",
		    json_pack("{s:s, s:s}", "type", "CUSTOMER_MANAGED_KMS_KEY", "kmsKeyId", key));
	r = h_call("StepFunctions.CreateStateMachine", body);
	assert_ok(r);
	return strdup(json_string_value(json_object_get(json_object_get(r, "body"), "stateMachineArn")));
}

static json_t *stop(const char *arn, const char *error, const char *cause)
{
	json_t *b = json_pack("{s:s}", "executionArn", arn);

	if (error != NULL)
		json_object_set_new(b, "error", json_string(error));
	if (cause != NULL)
		json_object_set_new(b, "cause", json_string(cause));
	return h_call("StepFunctions.StopExecution", b);
}

static const char *status_of(const char *arn)
{
	json_t *r = h_call("StepFunctions.DescribeExecution", json_pack("{s:s}", "executionArn", arn));

	return json_string_value(json_object_get(json_object_get(r, "body"), "status"));
}

/* 1 when s occurs in any value Redis holds (strings, hashes, lists, sets, sorted sets). */
static int redis_holds(const char *s)
{
	redisReply *keys = h_redis("KEYS *");
	int found = 0;

	for (size_t i = 0; i < keys->elements && !found; i++) {
		const char *k = keys->element[i]->str;
		redisReply *t = h_redis("TYPE %s", k), *v = NULL;

		if (strcmp(t->str, "string") == 0)
			v = h_redis("GET %s", k);
		else if (strcmp(t->str, "hash") == 0)
			v = h_redis("HGETALL %s", k);
		else if (strcmp(t->str, "list") == 0)
			v = h_redis("LRANGE %s 0 -1", k);
		else if (strcmp(t->str, "set") == 0)
			v = h_redis("SMEMBERS %s", k);
		else if (strcmp(t->str, "zset") == 0)
			v = h_redis("ZRANGE %s 0 -1", k);
		if (v != NULL && v->type == REDIS_REPLY_STRING)
			found = memmem(v->str, v->len, s, strlen(s)) != NULL;
		for (size_t j = 0; v != NULL && v->type == REDIS_REPLY_ARRAY && j < v->elements; j++)
			if (v->element[j]->type == REDIS_REPLY_STRING &&
			    memmem(v->element[j]->str, v->element[j]->len, s, strlen(s)) != NULL)
				found = 1;
		freeReplyObject(v);
		freeReplyObject(t);
	}
	freeReplyObject(keys);
	return found;
}

static void encryption_configuration_is_checked(void **state)
{
	(void)state;
	assert_error(h_call("StepFunctions.CreateStateMachine",
			    json_pack("{s:s, s:{s:s}}", "name", "kms-bad-1", "encryptionConfiguration",
				      "type", "CUSTOMER_MANAGED_KMS_KEY")),
		     "ValidationException");
	assert_error(h_call("StepFunctions.CreateStateMachine",
			    json_pack("{s:s, s:{s:s}}", "name", "kms-bad-2", "encryptionConfiguration",
				      "type", "SOMEONE_ELSES_KEY")),
		     "ValidationException");
	assert_error(h_call("StepFunctions.CreateStateMachine",
			    json_pack("{s:s, s:{s:s, s:s}}", "name", "kms-bad-3", "encryptionConfiguration",
				      "type", "AWS_OWNED_KEY", "kmsKeyId", k_ok)),
		     "ValidationException");
	assert_ok(h_call("StepFunctions.CreateStateMachine",
			 json_pack("{s:s, s:{s:s}}", "name", "kms-owned", "encryptionConfiguration", "type",
				   "AWS_OWNED_KEY")));
}

static void error_and_cause_never_reach_redis_in_plaintext(void **state)
{
	char *sm = machine("kms-enc", k_ok), *arn, *plain = machine("kms-plain", NULL), *parn;
	char key_arn[128];

	(void)state;
	arn = h_sfn_start(sm, "run-1");
	assert_ok(stop(arn, SECRET_ERROR, SECRET_CAUSE));
	assert_string_equal(status_of(arn), "ABORTED");
	assert_false(redis_holds(SECRET_ERROR));
	assert_false(redis_holds(SECRET_CAUSE));
	assert_true(redis_holds("andon:kms:v1:"));
	/* The key may be named by its ARN too. */
	snprintf(key_arn, sizeof(key_arn), "arn:aws:kms:us-east-1:" H_ACCOUNT ":key/%s", k_ok);
	free(sm);
	sm = machine("kms-enc-arn", key_arn);
	free(arn);
	arn = h_sfn_start(sm, "run-1");
	assert_ok(stop(arn, SECRET_ERROR "-2", NULL));
	assert_false(redis_holds(SECRET_ERROR "-2"));
	/* Without a customer key they are stored as given (the check above can see them). */
	parn = h_sfn_start(plain, "run-1");
	assert_ok(stop(parn, SECRET_ERROR "-plain", NULL));
	assert_true(redis_holds(SECRET_ERROR "-plain"));
	free(sm);
	free(plain);
	free(arn);
	free(parn);
}

/* Describe of arn until it answers code (NULL: ok) or 10 s pass; the last reply. */
static json_t *describe_until(const char *arn, const char *code)
{
	json_t *r = NULL;

	for (long long deadline = h_now_ms() + 10000; h_now_ms() < deadline; h_sleep_ms(100)) {
		const char *got;

		r = h_call("StepFunctions.DescribeExecution", json_pack("{s:s}", "executionArn", arn));
		got = json_string_value(json_object_get(json_object_get(r, "error"), "code"));
		if (code == NULL ? json_is_true(json_object_get(r, "ok"))
				 : got != NULL && strcmp(got, code) == 0)
			break;
	}
	return r;
}

static void reads_open_them_for_callers_the_key_allows(void **state)
{
	char *sm = machine("kms-read", k_ok), *arn = h_sfn_start(sm, "run-1");
	json_t *r, *events, *last;

	(void)state;
	assert_ok(stop(arn, SECRET_ERROR "-r", SECRET_CAUSE "-r"));
	assert_false(redis_holds(SECRET_ERROR "-r"));
	r = describe_until(arn, NULL);
	assert_ok(r);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "body"), "error")),
			    SECRET_ERROR "-r");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "body"), "cause")),
			    SECRET_CAUSE "-r");
	r = h_call("StepFunctions.GetExecutionHistory",
		   json_pack("{s:s, s:b}", "executionArn", arn, "reverseOrder", 1));
	assert_ok(r);
	events = json_object_get(json_object_get(r, "body"), "events");
	last = json_object_get(json_array_get(events, 0), "executionAbortedEventDetails");
	assert_string_equal(json_string_value(json_object_get(last, "error")), SECRET_ERROR "-r");
	assert_string_equal(json_string_value(json_object_get(last, "cause")), SECRET_CAUSE "-r");
	/* A caller the key does not name gets the refusal, not the ciphertext. */
	assert_int_equal(andon_kms_users(h_redis_ctx(), k_ok, "AKANNOBODYNOBODY0000", NULL, 0), 1);
	assert_error(describe_until(arn, "KmsAccessDeniedException"), "KmsAccessDeniedException");
	assert_error(h_call("StepFunctions.GetExecutionHistory", json_pack("{s:s}", "executionArn", arn)),
		     "KmsAccessDeniedException");
	assert_int_equal(andon_kms_users(h_redis_ctx(), k_ok, h_auth_creds(NULL)->key_id, NULL, 0), 1);
	assert_ok(describe_until(arn, NULL));
	free(sm);
	free(arn);
}

static void callers_and_states_the_key_refuses(void **state)
{
	char *sm_other = machine("kms-other", k_other), *sm_off = machine("kms-off", k_off);
	char *sm_gone = machine("kms-gone", "3b0a6a4e-0000-4000-8000-000000000000");
	char *a1 = h_sfn_start(sm_other, "run-1"), *a2 = h_sfn_start(sm_off, "run-1"),
	     *a3 = h_sfn_start(sm_gone, "run-1"), *a4 = h_sfn_start(sm_off, "run-2");

	(void)state;
	assert_error(stop(a1, "x", NULL), "KmsAccessDeniedException");
	assert_error(stop(a1, NULL, "y"), "KmsAccessDeniedException");
	assert_error(stop(a3, "x", "y"), "KmsAccessDeniedException");
	assert_error(stop(a2, NULL, "y"), "KmsInvalidStateException");
	assert_string_equal(status_of(a1), "RUNNING");
	assert_string_equal(status_of(a2), "RUNNING");
	/* No error and no cause: nothing to encrypt, no key needed. */
	assert_ok(stop(a1, NULL, NULL));
	assert_ok(stop(a2, NULL, NULL));
	assert_string_equal(status_of(a1), "ABORTED");
	/* Enabled again: usable (within security.key_cache_ms). */
	assert_int_equal(andon_kms_status(h_redis_ctx(), k_off, "Disabled", "Enabled", NULL, 0), 1);
	for (long long deadline = h_now_ms() + 10000; h_now_ms() < deadline;) {
		json_t *r = stop(a4, "x", NULL);

		if (json_is_true(json_object_get(r, "ok")))
			break;
		assert_error(r, "KmsInvalidStateException");
		h_sleep_ms(200);
	}
	assert_string_equal(status_of(a4), "ABORTED");
	free(sm_other);
	free(sm_off);
	free(sm_gone);
	free(a1);
	free(a2);
	free(a3);
	free(a4);
}

static void pending_deletion_and_throttling(void **state)
{
	char *sm = machine("kms-burst", k_ok), **arns = h_sfn_start_many(sm, "b", 30), *late;
	const char *ids[30];
	int ok = 0, throttled = 0;
	long long t0;

	(void)state;
	/* kms.rate = 10: a burst of 30 stops with an error gets some throttled, and they change nothing. The
	 * bucket (10 a second, 10 at most) is full after a second of no use: pacing, not waiting for a
	 * result. */
	h_sleep_ms(1100);
	t0 = h_now_ms();
	for (int i = 0; i < 30; i++)
		ids[i] = h_send("StepFunctions.StopExecution", NULL, NULL,
				json_pack("{s:s, s:s}", "executionArn", arns[i], "error", "burst"));
	h_flush();
	for (int i = 0; i < 30; i++) {
		json_t *r = h_reply(ids[i], 1, 20000);

		assert_non_null(r);
		if (json_is_true(json_object_get(r, "ok"))) {
			ok++;
		} else {
			assert_error(r, "KmsThrottlingException");
			assert_string_equal(status_of(arns[i]), "RUNNING");
			throttled++;
		}
	}
	/* At most the bucket plus what refilled while the burst was answered; at least the bucket, unless
	 * the answers took so long that nothing was throttled (then the next line fails loudly). */
	assert_true(ok >= 1);
	assert_true(ok <= 10 + (int)((h_now_ms() - t0) * 10 / 1000) + 1);
	assert_true(throttled >= 1);
	/* Pending deletion: refused within the cache bound. */
	h_sleep_ms(1100); /* the bucket refills (pacing, not waiting for a result) */
	assert_int_equal(
	    andon_kms_status(h_redis_ctx(), k_ok, "Enabled,Disabled", "PendingDeletion", NULL, 0), 1);
	late = h_sfn_start(sm, "late");
	for (long long deadline = h_now_ms() + 10000; h_now_ms() < deadline;) {
		json_t *r = stop(late, "x", NULL);

		assert_false(json_is_true(json_object_get(r, "ok")) && h_now_ms() > deadline);
		if (!json_is_true(json_object_get(r, "ok"))) {
			assert_error(r, "KmsInvalidStateException");
			break;
		}
		free(late);
		late = h_sfn_start(sm, "late-again");
	}
	assert_string_equal(status_of(late), "RUNNING");
	for (int i = 0; i < 30; i++)
		free(arns[i]);
	free(arns);
	free(late);
	free(sm);
}

static int setup(void **state)
{
	char err[256], path[600];

	(void)state;
	h_start();
	h_auth_on();
	snprintf(path, sizeof(path), "%s/master.key", h_dir());
	assert_int_equal(andon_master_load(path, mk, err, sizeof(err)), 0);
	assert_int_equal(andon_kms_create(h_redis_ctx(), mk, H_ACCOUNT, h_auth_creds(NULL)->key_id, k_ok, err,
					  sizeof(err)),
			 0);
	assert_int_equal(
	    andon_kms_create(h_redis_ctx(), mk, H_ACCOUNT, "AKANSOMEBODYELSE0000", k_other, err, sizeof(err)),
	    0);
	assert_int_equal(andon_kms_create(h_redis_ctx(), mk, H_ACCOUNT, "*", k_off, err, sizeof(err)), 0);
	assert_int_equal(andon_kms_status(h_redis_ctx(), k_off, "Enabled", "Disabled", err, sizeof(err)), 1);
	h_worker_start((const char *const[]){"kms.rate=10", NULL});
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(encryption_configuration_is_checked),
	    cmocka_unit_test(error_and_cause_never_reach_redis_in_plaintext),
	    cmocka_unit_test(reads_open_them_for_callers_the_key_allows),
	    cmocka_unit_test(callers_and_states_the_key_refuses),
	    cmocka_unit_test(pending_deletion_and_throttling),
	};

	return cmocka_run_group_tests(tests, setup, h_group_teardown_cmocka);
}
