/* 0060-sign: unit tests for signed requests: the canonical string (with docs/PROTOCOL.md's worked
 * example), dates, the signature headers, sealed secrets, and the policy matcher (worker/authz.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "authz.h"
#include "config.h"
#include "ops.h"
#include "keystore.h"
#include "sign.h"

/* docs/PROTOCOL.md, section 11: the worked example. */
#define EX_ID	  "AKANEXAMPLE7EXAMPLE2"
#define EX_SECRET "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY00"
#define EX_DATE	  "20261130T102032Z"
#define EX_KEY	  "arn:aws:states:us-east-1:123456789012:execution:orders:run-1"
#define EX_VALUE_HEX                                                                                         \
	"84a17601a26f70bb5374657046756e6374696f6e732e53746f70457865637574696f6ea26964a57265712d31a4626f6479" \
	"82ac657865637574696f6e41726ed93c61726e3a6177733a7374617465733a75732d656173742d313a3132333435363738" \
	"393031323a657865637574696f6e3a6f72646572733a72756e2d31a56572726f72a648616c746564"
#define EX_CANONICAL                                                                                         \
	"ANDON1-HMAC-SHA256\n" EX_DATE "\n" EX_ID "\nandon.requests\n"                                       \
	"3d1dfdf92f1fbe5c8d1b6f86dd2fdecb7d20dd780aba70f3c8ce7f145fd188ba\n"                                 \
	"05afc607c0aeeef646dfa35b9b6475bf852db3a518ecc9447c169cda102e870f"
#define EX_SIG "fc5465009a15ed8008250ab80fb85c9a823ff84e7b691a294a33ccd1952a6b90"

static unsigned char value[256];
static size_t value_len;

static void load_value(void)
{
	const char *h = EX_VALUE_HEX;

	value_len = strlen(h) / 2;
	for (size_t i = 0; i < value_len; i++) {
		unsigned v;

		sscanf(h + 2 * i, "%2x", &v);
		value[i] = (unsigned char)v;
	}
}

static void canonical_string_is_the_documented_one(void **state)
{
	char out[512], small[100];
	int n;

	(void)state;
	load_value();
	n = andon_sign_canonical(EX_ID, strlen(EX_ID), EX_DATE, "andon.requests", 14, EX_KEY, strlen(EX_KEY),
				 value, value_len, out, sizeof(out));
	assert_int_equal(n, (int)strlen(EX_CANONICAL));
	assert_memory_equal(out, EX_CANONICAL, (size_t)n);
	/* Never past the buffer. */
	assert_int_equal(andon_sign_canonical(EX_ID, strlen(EX_ID), EX_DATE, "andon.requests", 14, EX_KEY,
					      strlen(EX_KEY), value, value_len, small, sizeof(small)),
			 -1);
}

static void signature_is_the_documented_one(void **state)
{
	char sig[ANDON_SIGN_SIG_LEN + 1], sig2[ANDON_SIGN_SIG_LEN + 1];
	char longkey[100];

	(void)state;
	load_value();
	assert_int_equal(andon_sign_compute(EX_SECRET, strlen(EX_SECRET), EX_ID, strlen(EX_ID), EX_DATE,
					    "andon.requests", 14, EX_KEY, strlen(EX_KEY), value, value_len,
					    sig),
			 0);
	assert_string_equal(sig, EX_SIG);
	/* Any change of value, key, topic, date or id changes it. */
	value[value_len - 1] ^= 1;
	andon_sign_compute(EX_SECRET, strlen(EX_SECRET), EX_ID, strlen(EX_ID), EX_DATE, "andon.requests", 14,
			   EX_KEY, strlen(EX_KEY), value, value_len, sig2);
	assert_string_not_equal(sig, sig2);
	value[value_len - 1] ^= 1;
	andon_sign_compute(EX_SECRET, strlen(EX_SECRET), EX_ID, strlen(EX_ID), EX_DATE, "andon.request", 13,
			   EX_KEY, strlen(EX_KEY), value, value_len, sig2);
	assert_string_not_equal(sig, sig2);
	/* RFC 4231 test case 6: a key longer than the block is hashed first. */
	memset(longkey, 0xaa, 131 > sizeof(longkey) ? sizeof(longkey) : 131);
	andon_sign_compute(longkey, sizeof(longkey), EX_ID, strlen(EX_ID), EX_DATE, "andon.requests", 14,
			   EX_KEY, strlen(EX_KEY), value, value_len, sig2);
	assert_string_not_equal(sig, sig2);
}

static void dates_parse_strictly(void **state)
{
	int64_t t;
	char buf[ANDON_SIGN_DATE_LEN + 1];

	(void)state;
	assert_int_equal(andon_sign_parse_date(EX_DATE, 16, &t), 0);
	assert_int_equal(t, 1796034032);
	andon_sign_date((time_t)t, buf);
	assert_string_equal(buf, EX_DATE);
	assert_int_equal(andon_sign_parse_date("20240229T000000Z", 16, &t), 0);
	assert_int_equal(t, 1709164800);
	assert_int_equal(andon_sign_parse_date("20230229T000000Z", 16, &t), -1);
	assert_int_equal(andon_sign_parse_date("20261130T246000Z", 16, &t), -1);
	assert_int_equal(andon_sign_parse_date("20261130 102032Z", 16, &t), -1);
	assert_int_equal(andon_sign_parse_date("20261130T102032", 15, &t), -1);
	assert_int_equal(andon_sign_parse_date("2026113OT102032Z", 16, &t), -1);
	assert_int_equal(andon_sign_parse_date("19691231T235959Z", 16, &t), -1);
	assert_int_equal(andon_sign_parse_date(NULL, 0, &t), -1);
}

static void headers_are_read_and_checked(void **state)
{
	andon_creds_t c = {EX_ID, EX_SECRET};
	rd_kafka_headers_t *h = rd_kafka_headers_new(4);
	andon_sign_hdrs_t sh;
	int64_t date;

	(void)state;
	load_value();
	assert_int_equal(andon_sign_read(NULL, &sh), ANDON_SIGN_UNSIGNED);
	assert_int_equal(andon_sign_read(h, &sh), ANDON_SIGN_UNSIGNED);
	assert_int_equal(andon_sign_headers(h, &c, "andon.requests", EX_KEY, strlen(EX_KEY), value, value_len,
					    1796034032, NULL, 0),
			 0);
	assert_int_equal(andon_sign_read(h, &sh), ANDON_SIGN_OK);
	assert_memory_equal(sh.sig, EX_SIG, 64);
	assert_int_equal(andon_sign_check(&sh, EX_SECRET, strlen(EX_SECRET), "andon.requests", 14, EX_KEY,
					  strlen(EX_KEY), value, value_len, 1796034032000LL, &date),
			 ANDON_SIGN_OK);
	/* 15 minutes either way is inside, a second more is not. */
	assert_int_equal(andon_sign_check(&sh, EX_SECRET, strlen(EX_SECRET), "andon.requests", 14, EX_KEY,
					  strlen(EX_KEY), value, value_len, (1796034032LL + 900) * 1000,
					  &date),
			 ANDON_SIGN_OK);
	assert_int_equal(andon_sign_check(&sh, EX_SECRET, strlen(EX_SECRET), "andon.requests", 14, EX_KEY,
					  strlen(EX_KEY), value, value_len, (1796034032LL + 901) * 1000,
					  &date),
			 ANDON_SIGN_SKEWED);
	assert_int_equal(andon_sign_check(&sh, EX_SECRET, strlen(EX_SECRET), "andon.requests", 14, EX_KEY,
					  strlen(EX_KEY), value, value_len, (1796034032LL - 901) * 1000,
					  &date),
			 ANDON_SIGN_SKEWED);
	assert_int_equal(andon_sign_check(&sh, "other", 5, "andon.requests", 14, EX_KEY, strlen(EX_KEY),
					  value, value_len, 0, &date),
			 ANDON_SIGN_MISMATCH);
	/* Signing again replaces the headers; a second copy of one is malformed. */
	assert_int_equal(andon_sign_headers(h, &c, "andon.requests", EX_KEY, strlen(EX_KEY), value, value_len,
					    1796034032, NULL, 0),
			 0);
	assert_int_equal(andon_sign_read(h, &sh), ANDON_SIGN_OK);
	rd_kafka_header_add(h, ANDON_SIGN_HDR_SIG, -1, EX_SIG, -1);
	assert_int_equal(andon_sign_read(h, &sh), ANDON_SIGN_MALFORMED);
	rd_kafka_header_remove(h, ANDON_SIGN_HDR_SIG);
	assert_int_equal(andon_sign_read(h, &sh), ANDON_SIGN_MALFORMED);
	rd_kafka_header_add(h, ANDON_SIGN_HDR_SIG, -1, "abc", -1);
	assert_int_equal(andon_sign_read(h, &sh), ANDON_SIGN_MALFORMED);
	rd_kafka_headers_destroy(h);
	/* Only the key id: malformed, not unsigned. */
	h = rd_kafka_headers_new(1);
	rd_kafka_header_add(h, ANDON_SIGN_HDR_KEY_ID, -1, EX_ID, -1);
	assert_int_equal(andon_sign_read(h, &sh), ANDON_SIGN_MALFORMED);
	rd_kafka_headers_destroy(h);
}

static void secrets_seal_under_the_master_key_and_their_id(void **state)
{
	unsigned char mk[ANDON_MASTER_KEY_LEN] = {1, 2, 3}, other[ANDON_MASTER_KEY_LEN] = {9};
	char sealed[512], out[ANDON_SIGN_SECRET_MAX + 1], id[21], secret[41];
	size_t len;

	(void)state;
	assert_int_equal(andon_keystore_new_id(id), 0);
	assert_int_equal(strlen(id), 20);
	assert_memory_equal(id, "AKAN", 4);
	assert_int_equal(andon_keystore_new_secret(secret), 0);
	assert_int_equal(strlen(secret), 40);
	assert_int_equal(andon_keystore_seal(mk, id, secret, 40, sealed, sizeof(sealed), NULL, 0), 0);
	assert_null(strstr(sealed, secret));
	assert_int_equal(
	    andon_keystore_open(mk, id, 20, sealed, strlen(sealed), out, sizeof(out), &len, NULL, 0), 0);
	assert_int_equal(len, 40);
	assert_string_equal(out, secret);
	/* Another master key, another key id, a flipped bit: it does not open. */
	assert_int_equal(
	    andon_keystore_open(other, id, 20, sealed, strlen(sealed), out, sizeof(out), &len, NULL, 0), -1);
	assert_int_equal(
	    andon_keystore_open(mk, "AKANOTHER", 9, sealed, strlen(sealed), out, sizeof(out), &len, NULL, 0),
	    -1);
	sealed[30] = sealed[30] == '0' ? '1' : '0';
	assert_int_equal(
	    andon_keystore_open(mk, id, 20, sealed, strlen(sealed), out, sizeof(out), &len, NULL, 0), -1);
	assert_int_equal(andon_keystore_open(mk, id, 20, "zz", 2, out, sizeof(out), &len, NULL, 0), -1);
}

static void globs(void **state)
{
	(void)state;
#define G(p, s, nc) andon_glob(p, strlen(p), s, strlen(s), nc)
	assert_true(G("*", "", 0));
	assert_true(G("*", "anything", 0));
	assert_true(G("a*c", "abbbc", 0));
	assert_true(G("a*c", "ac", 0));
	assert_false(G("a*c", "acb", 0));
	assert_true(G("a?c", "abc", 0));
	assert_false(G("a?c", "ac", 0));
	assert_true(G("*:execution:orders:*", "arn:aws:states:us-east-1:1:execution:orders:run-1", 0));
	assert_false(G("*:execution:orders:*", "arn:aws:states:us-east-1:1:execution:order:run-1", 0));
	assert_true(G("a*b*c", "aXbYbZc", 0));
	assert_false(G("ABC", "abc", 0));
	assert_true(G("states:stop*", "States:StopExecution", 1));
	assert_true(G("**?", "x", 0));
	assert_false(G("", "x", 0));
#undef G
}

static const char *const P_MATRIX =
    "{\"Version\":\"2012-10-17\",\"Statement\":["
    "{\"Sid\":\"all\",\"Effect\":\"Allow\",\"Action\":[\"states:*\",\"swf:TerminateWorkflowExecution\"],"
    "\"Resource\":\"*\"},"
    "{\"Effect\":\"Deny\",\"Action\":\"states:StopExecution\",\"Resource\":\"arn:aws:states:*:*:execution:"
    "prod:*\"},"
    "{\"Effect\":\"Deny\",\"Action\":\"swf:*\",\"Resource\":[\"arn:aws:swf:*:*:/domain/prod\"]}]}";

static void policies_decide_deny_wins_default_deny(void **state)
{
	char err[256];
	andon_policy_t *p = andon_policy_parse(P_MATRIX, strlen(P_MATRIX), err, sizeof(err));

	(void)state;
	assert_non_null(p);
	assert_true(
	    andon_policy_allows(p, "states:StopExecution", "arn:aws:states:us-east-1:1:execution:dev:r"));
	assert_false(
	    andon_policy_allows(p, "states:StopExecution", "arn:aws:states:us-east-1:1:execution:prod:r"));
	assert_true(andon_policy_allows(p, "states:DescribeExecution",
					"arn:aws:states:us-east-1:1:execution:prod:r"));
	assert_true(
	    andon_policy_allows(p, "swf:TerminateWorkflowExecution", "arn:aws:swf:us-east-1:1:/domain/dev"));
	assert_false(
	    andon_policy_allows(p, "swf:TerminateWorkflowExecution", "arn:aws:swf:us-east-1:1:/domain/prod"));
	assert_false(andon_policy_allows(p, "swf:RequestCancelWorkflowExecution",
					 "arn:aws:swf:us-east-1:1:/domain/dev"));
	assert_false(andon_policy_allows(p, "sagemaker:StopPipelineExecution", "*"));
	andon_policy_destroy(p);
	assert_false(andon_policy_allows(NULL, "states:StopExecution", "*"));
}

static void bad_policies_are_refused_with_a_reason(void **state)
{
	static const char *const bad[] = {
	    "",
	    "[]",
	    "{}",
	    "{\"Statement\":[]}",
	    "{\"Statement\":{\"Effect\":\"Maybe\",\"Action\":\"*\",\"Resource\":\"*\"}}",
	    "{\"Statement\":{\"Effect\":\"Allow\",\"Resource\":\"*\"}}",
	    "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":[],\"Resource\":\"*\"}}",
	    "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":[1],\"Resource\":\"*\"}}",
	    "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":{}}}",
	    "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\",\"NotResource\":\"*\"}}",
	    "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"\",\"Resource\":\"*\"}}",
	    "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"},\"Statement\":{}}",
	    "{\"Principal\":\"*\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}}",
	    NULL};
	char err[256];

	(void)state;
	for (int i = 0; bad[i] != NULL; i++) {
		err[0] = '\0';
		if (andon_policy_parse(bad[i], strlen(bad[i]), err, sizeof(err)) != NULL)
			fail_msg("accepted: %s", bad[i]);
		assert_true(err[0] != '\0');
	}
}

static void actions_and_resources_of_requests(void **state)
{
	char out[256];

	(void)state;
	assert_int_equal(andon_authz_action("StepFunctions.StopExecution", 27, out, sizeof(out)), 0);
	assert_string_equal(out, "states:StopExecution");
	assert_int_equal(andon_authz_action("SWF.TerminateWorkflowExecution", 30, out, sizeof(out)), 0);
	assert_string_equal(out, "swf:TerminateWorkflowExecution");
	assert_int_equal(andon_authz_action("CloudFlow.StopExecution", 23, out, sizeof(out)), 0);
	assert_string_equal(out, "fnf:StopExecution");
	assert_int_equal(andon_authz_action("SageMaker.StopPipelineExecution", 31, out, sizeof(out)), 0);
	assert_string_equal(out, "sagemaker:StopPipelineExecution");
	assert_int_equal(andon_authz_action("Nope.X", 6, out, sizeof(out)), -1);
	assert_int_equal(andon_authz_action("StepFunctions.", 14, out, sizeof(out)), -1);
	{
		msgpack_object_kv kv[2];
		msgpack_object body = {.type = MSGPACK_OBJECT_MAP, .via.map = {2, kv}};

		kv[0].key = (msgpack_object){.type = MSGPACK_OBJECT_STR, .via.str = {6, "domain"}};
		kv[0].val = (msgpack_object){.type = MSGPACK_OBJECT_STR, .via.str = {4, "prod"}};
		kv[1].key = (msgpack_object){.type = MSGPACK_OBJECT_STR, .via.str = {10, "workflowId"}};
		kv[1].val = (msgpack_object){.type = MSGPACK_OBJECT_STR, .via.str = {1, "w"}};
		andon_authz_resource("SWF.TerminateWorkflowExecution", 30, &body, "eu-west-1", "111", out,
				     sizeof(out));
		assert_string_equal(out, "arn:aws:swf:eu-west-1:111:/domain/prod");
		kv[0].key = (msgpack_object){.type = MSGPACK_OBJECT_STR, .via.str = {8, "FlowName"}};
		andon_authz_resource("CloudFlow.StopExecution", 23, &body, "cn-hangzhou", "111", out,
				     sizeof(out));
		assert_string_equal(out, "acs:fnf:cn-hangzhou:111:flow/prod");
		/* Invalid UTF-8 or nothing to read: the wildcard resource. */
		kv[0].val = (msgpack_object){.type = MSGPACK_OBJECT_STR, .via.str = {2, "\xc3\x28"}};
		andon_authz_resource("CloudFlow.StopExecution", 23, &body, "cn-hangzhou", "111", out,
				     sizeof(out));
		assert_string_equal(out, "*");
		andon_authz_resource("SageMaker.SendPipelineExecutionStepSuccess", 42, &body, "r", "1", out,
				     sizeof(out));
		assert_string_equal(out, "*");
	}
}

/* The worker's check without Redis (keys preloaded): the signing date older than
 * security.max_request_age, the account, and which code each API gets. */
static void worker_check_expiry_account_and_codes(void **state)
{
	andon_config_t *cfg = andon_config_new();
	andon_auth_t *a;
	const andon_op_t *sfn = andon_ops_find("StepFunctions.DescribeExecution", 31);
	const andon_op_t *cf = andon_ops_find("CloudFlow.DescribeExecution", 27);
	andon_creds_t c = {EX_ID, EX_SECRET};
	rd_kafka_headers_t *h = rd_kafka_headers_new(4);
	andon_req_t req = {0};
	andon_apierr_t err;
	andon_auth_msg_t m;
	char account[65], err_s[128];
	const char *reason;
	time_t now = time(NULL);

	(void)state;
	load_value();
	assert_non_null(cfg);
	assert_non_null(sfn);
	assert_non_null(cf);
	assert_int_equal(andon_config_set(cfg, "security.max_request_age", "3600", err_s, sizeof(err_s)), 0);
	assert_non_null(a = andon_auth_new(cfg, NULL, NULL, err_s, sizeof(err_s)));
	assert_int_equal(
	    andon_auth_preload(a, EX_ID, "123456789012", 1, EX_SECRET,
			       "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}}"),
	    0);
	assert_int_equal(andon_auth_preload(a, "bad", "1", 1, "s", "{\"Statement\":[]}"), -1);
	m = (andon_auth_msg_t){h, "andon.requests", EX_KEY, value, strlen(EX_KEY), value_len, 0};
	req.op = sfn->name;
	req.op_len = strlen(sfn->name);

	/* Signed now, timestamped now: accepted, in the key's account. */
	andon_sign_headers(h, &c, "andon.requests", EX_KEY, strlen(EX_KEY), value, value_len, now, NULL, 0);
	m.ts_ms = (int64_t)now * 1000;
	assert_int_equal(andon_auth_check(a, &m, sfn, &req, account, &err, &reason), 0);
	assert_string_equal(account, "123456789012");
	/* Signed two hours ago and timestamped then too (a replay with its original timestamp): expired. */
	andon_sign_headers(h, &c, "andon.requests", EX_KEY, strlen(EX_KEY), value, value_len, now - 7200,
			   NULL, 0);
	m.ts_ms = ((int64_t)now - 7200) * 1000;
	assert_int_equal(andon_auth_check(a, &m, sfn, &req, account, &err, &reason), -1);
	assert_string_equal(reason, "expired");
	assert_string_equal(err.code, "InvalidSignatureException");
	assert_int_equal(andon_auth_check(a, &m, cf, &req, account, &err, &reason), -1);
	assert_string_equal(err.code, "RequestTimeTooSkewed");
	assert_int_equal(err.status, 403);
	/* Another account in the envelope. */
	andon_sign_headers(h, &c, "andon.requests", EX_KEY, strlen(EX_KEY), value, value_len, now, NULL, 0);
	m.ts_ms = (int64_t)now * 1000;
	req.account = "210987654321";
	req.account_len = 12;
	assert_int_equal(andon_auth_check(a, &m, sfn, &req, account, &err, &reason), -1);
	assert_string_equal(reason, "account");
	assert_string_equal(err.code, "AccessDeniedException");
	/* The same account is fine. */
	req.account = "123456789012";
	assert_int_equal(andon_auth_check(a, &m, sfn, &req, account, &err, &reason), 0);
	/* A key the cache does not hold and no Redis to ask: InternalFailure, never accepted. */
	c = (andon_creds_t){"AKANNOTPRELOADED0000", EX_SECRET};
	andon_sign_headers(h, &c, "andon.requests", EX_KEY, strlen(EX_KEY), value, value_len, now, NULL, 0);
	assert_int_equal(andon_auth_check(a, &m, sfn, &req, account, &err, &reason), -1);
	assert_string_equal(reason, "keystore");
	assert_int_equal(err.status, 500);
	rd_kafka_headers_destroy(h);
	andon_auth_destroy(a);
	andon_config_destroy(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(canonical_string_is_the_documented_one),
	    cmocka_unit_test(signature_is_the_documented_one),
	    cmocka_unit_test(dates_parse_strictly),
	    cmocka_unit_test(headers_are_read_and_checked),
	    cmocka_unit_test(secrets_seal_under_the_master_key_and_their_id),
	    cmocka_unit_test(globs),
	    cmocka_unit_test(policies_decide_deny_wins_default_deny),
	    cmocka_unit_test(bad_policies_are_refused_with_a_reason),
	    cmocka_unit_test(actions_and_resources_of_requests),
	    cmocka_unit_test(worker_check_expiry_account_and_codes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
