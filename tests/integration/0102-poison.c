/* 0102: bad input never crashes the worker or loses a message: error replies, DLQ records, good traffic
 * flows. */
#include "harness.h"

#include "codec.h"
#include "json.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *sm;

/* The DLQ record whose original bytes equal buf[0..len), or NULL. */
static json_t *dlq_for(const void *buf, size_t len)
{
	json_t *all = h_dlq(), *rec;
	size_t i;

	json_array_foreach(all, i, rec)
	{
		json_t *v = json_object_get(rec, "value");
		const char *b64 = json_string_value(json_object_get(json_object_get(v, "original"), "$bin"));
		msgpack_object o = {.type = MSGPACK_OBJECT_BIN,
				    .via.bin = {.size = (uint32_t)len, .ptr = buf}};
		json_t *enc = andon_json_from_msgpack(&o);
		int same = b64 != NULL && strcmp(b64, json_string_value(json_object_get(enc, "$bin"))) == 0;
		json_decref(enc);
		if (same)
			return v;
	}
	return NULL;
}

static json_t *wait_dlq_for(const void *buf, size_t len)
{
	long long deadline = h_now_ms() + 20000;
	json_t *v;

	while ((v = dlq_for(buf, len)) == NULL && h_now_ms() < deadline)
		h_pump(20);
	return v;
}

/* A good stop must still work after each poison message. */
static void good_request_flows(const char *name)
{
	char *arn = h_sfn_start(sm, name);
	json_t *r = h_call("StepFunctions.StopExecution", json_pack("{s:s}", "executionArn", arn));

	assert_true(json_is_true(json_object_get(r, "ok")));
	free(arn);
}

static void undecodable_bytes_go_to_dlq(void **state)
{
	static const unsigned char giant_array[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
	static const unsigned char giant_map[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0x01};
	static const unsigned char giant_str[] = {0xdb, 0xff, 0xff, 0xff, 0xf0, 'a'};
	static const unsigned char giant_bin[] = {0xc6, 0x7f, 0xff, 0xff, 0xff};
	static const unsigned char truncated[] = {0x83, 0xa1, 'v', 0x01, 0xa2, 'o', 'p', 0xbb, 'S', 't'};
	static const unsigned char reserved[] = {0xc1};
	unsigned char noise[300];
	struct {
		const void *buf;
		size_t len;
	} cases[] = {{giant_array, sizeof(giant_array)},
		     {giant_map, sizeof(giant_map)},
		     {giant_str, sizeof(giant_str)},
		     {giant_bin, sizeof(giant_bin)},
		     {truncated, sizeof(truncated)},
		     {reserved, sizeof(reserved)},
		     {noise, sizeof(noise)},
		     {"", 0}};
	unsigned int seed = 12345;
	char name[32];

	(void)state;
	for (size_t i = 0; i < sizeof(noise); i++)
		noise[i] = (unsigned char)(rand_r(&seed) & 0xff);
	noise[0] = 0x93; /* an array header, so the noise is not accidentally a complete small object */
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		json_t *rec;

		h_produce_raw("andon.requests", "poison", cases[c].buf, cases[c].len);
		rec = wait_dlq_for(cases[c].buf, cases[c].len);
		assert_non_null(rec);
		assert_string_equal(json_string_value(json_object_get(rec, "code")),
				    "SerializationException");
		assert_non_null(json_string_value(json_object_get(rec, "reason")));
		assert_string_equal(json_string_value(json_object_get(rec, "topic")), "andon.requests");
		assert_true(json_is_integer(json_object_get(rec, "offset")));
		snprintf(name, sizeof(name), "after-poison-%zu", c);
		good_request_flows(name);
	}
}

/* Requests that decode but are wrong: an error reply to the caller and a DLQ record with the reason. */
static void wrong_shapes_get_error_replies(void **state)
{
	struct {
		json_t *req;
		const char *code;
	} cases[] = {
	    {json_pack("{s:i, s:s, s:s, s:{}}", "v", 2, "op", "StepFunctions.StopExecution", "id", "p-v2",
		       "body"),
	     "APIVersionNotSupported"},
	    {json_pack("{s:i, s:s, s:s, s:{}}", "v", 1, "op", "Nope.Nothing", "id", "p-op", "body"),
	     "ActionNotSupported"},
	    {json_pack("{s:i, s:s, s:s, s:i}", "v", 1, "op", "StepFunctions.StopExecution", "id", "p-body",
		       "body", 3),
	     "ValidationException"},
	    {json_pack("{s:s, s:s, s:s, s:{}}", "v", "one", "op", "StepFunctions.StopExecution", "id",
		       "p-vstr", "body"),
	     "ValidationException"},
	    {json_pack("{s:i, s:i, s:s, s:{}}", "v", 1, "op", 12, "id", "p-opint", "body"),
	     "ValidationException"},
	    {json_pack("{s:i, s:s, s:s, s:s, s:{}}", "v", 1, "op", "StepFunctions.StopExecution", "id",
		       "p-badtopic", "replyTo", "no/such topic", "body"),
	     "ValidationException"},
	    {json_pack("{s:i, s:s, s:s, s:{s:[i]}}", "v", 1, "op", "StepFunctions.StopExecution", "id",
		       "p-arnarr", "body", "executionArn", 1),
	     "ValidationException"},
	};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const char *id = json_string_value(json_object_get(cases[c].req, "id"));
		msgpack_sbuffer sb;
		msgpack_packer pk;
		char err[128];
		json_t *reply, *rec;

		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		assert_int_equal(andon_json_to_msgpack(cases[c].req, &pk, err, sizeof(err)), 0);
		h_produce_raw("andon.requests", id, sb.data, sb.size);
		reply = h_reply(id, 1, 20000);
		assert_non_null(reply);
		assert_true(json_is_false(json_object_get(reply, "ok")));
		assert_string_equal(
		    json_string_value(json_object_get(json_object_get(reply, "error"), "code")),
		    cases[c].code);
		rec = wait_dlq_for(sb.data, sb.size);
		assert_non_null(rec);
		assert_string_equal(json_string_value(json_object_get(rec, "code")), cases[c].code);
		msgpack_sbuffer_destroy(&sb);
		json_decref(cases[c].req);
	}
	good_request_flows("after-shapes");
}

/* A request with no id cannot be answered: DLQ only. */
static void no_id_goes_to_dlq_only(void **state)
{
	json_t *req = json_pack("{s:i, s:s, s:{}}", "v", 1, "op", "StepFunctions.StopExecution", "body");
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char err[128];
	json_t *rec;

	(void)state;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	assert_int_equal(andon_json_to_msgpack(req, &pk, err, sizeof(err)), 0);
	h_produce_raw("andon.requests", NULL, sb.data, sb.size);
	rec = wait_dlq_for(sb.data, sb.size);
	assert_non_null(rec);
	assert_string_equal(json_string_value(json_object_get(rec, "code")), "ValidationException");
	msgpack_sbuffer_destroy(&sb);
	json_decref(req);
	good_request_flows("after-no-id");
}

/* Over worker.max_message_bytes (set to 4096 for this test binary): EntityTooLarge, reply and DLQ. */
static void oversized_request_is_entity_too_large(void **state)
{
	char *pad = malloc(6000);
	json_t *r;

	(void)state;
	memset(pad, 'p', 5999);
	pad[5999] = '\0';
	r = h_call("StepFunctions.StopExecution", json_pack("{s:s, s:s}", "executionArn", "x", "cause", pad));
	assert_true(json_is_false(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
			    "EntityTooLarge");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "error"), "status")), 413);
	free(pad);
	good_request_flows("after-large");
}

/* Poison and good requests interleaved in one burst: every good one is answered. */
static void poison_interleaved_with_good_traffic(void **state)
{
	enum { N = 50 };
	const char *ids[N];
	char *arns[N], name[32];
	unsigned char junk[] = {0xdd, 0x00, 0x01, 0x00, 0x00};

	(void)state;
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "mix-%d", i);
		arns[i] = h_sfn_start(sm, name);
	}
	for (int i = 0; i < N; i++) {
		ids[i] = h_send("StepFunctions.StopExecution", NULL, NULL,
				json_pack("{s:s}", "executionArn", arns[i]));
		junk[4] = (unsigned char)i;
		h_produce_raw("andon.requests", arns[i], junk, sizeof(junk));
	}
	h_flush();
	for (int i = 0; i < N; i++) {
		json_t *r = h_reply(ids[i], 1, 20000);
		assert_non_null(r);
		assert_true(json_is_true(json_object_get(r, "ok")));
		free(arns[i]);
	}
}

/* A reply the producer cannot carry (over message.max.bytes, 6000 here) is dead-lettered, and nothing
 * stalls behind it. */
static void undeliverable_reply_goes_to_dlq_and_traffic_flows(void **state)
{
	char *arn, *blob = malloc(3802);
	const char *id;
	size_t before = json_array_size(h_dlq());
	json_t *rec = NULL, *all;
	long long deadline;

	(void)state;
	/* Input and output of 3.8 KB each fit the 4 KiB request limit; a describe carrying both does not fit.
	 */
	blob[0] = '"';
	memset(blob + 1, 'b', 3799);
	blob[3800] = '"';
	blob[3801] = '\0';
	assert_true(json_is_true(json_object_get(
	    h_call("StepFunctions.StartExecution",
		   json_pack("{s:s, s:s, s:s}", "stateMachineArn", sm, "name", "big-io", "input", blob)),
	    "ok")));
	arn = strdup("arn:aws:states:" H_REGION ":" H_ACCOUNT ":execution:poison:big-io");
	{
		json_t *fin =
		    h_call("StepFunctions.FinishExecution", json_pack("{s:s, s:s, s:s}", "executionArn", arn,
								      "status", "SUCCEEDED", "output", blob));
		if (!json_is_true(json_object_get(fin, "ok")))
			json_dumpf(fin, stderr, 0);
		assert_true(json_is_true(json_object_get(fin, "ok")));
	}
	id = h_send("StepFunctions.DescribeExecution", NULL, NULL, json_pack("{s:s}", "executionArn", arn));
	h_flush();
	for (deadline = h_now_ms() + 20000; rec == NULL && h_now_ms() < deadline; h_pump(20)) {
		all = h_dlq();
		for (size_t i = before; i < json_array_size(all); i++) {
			json_t *v = json_object_get(json_array_get(all, i), "value");
			if (strcmp(json_string_value(json_object_get(v, "code")), "UndeliverableMessage") ==
			    0)
				rec = v;
		}
	}
	assert_non_null(rec);
	assert_string_equal(json_string_value(json_object_get(rec, "topic")), "andon.replies");
	assert_non_null(strstr(json_string_value(json_object_get(rec, "reason")), "andon.replies"));
	assert_int_equal(h_reply_count(id), 0);
	good_request_flows("after-undeliverable");
	free(arn);
	free(blob);
}

static int setup(void **state)
{
	static const char *const opts[] = {"worker.max_message_bytes=4096", "kafka.message.max.bytes=6000",
					   NULL};

	(void)state;
	h_group_setup(opts);
	sm = h_sfn_machine("poison", "STANDARD");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(sm);
	return h_group_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(undecodable_bytes_go_to_dlq),
	    cmocka_unit_test(wrong_shapes_get_error_replies),
	    cmocka_unit_test(no_id_goes_to_dlq_only),
	    cmocka_unit_test(oversized_request_is_entity_too_large),
	    cmocka_unit_test(poison_interleaved_with_good_traffic),
	    cmocka_unit_test(undeliverable_reply_goes_to_dlq_and_traffic_flows),
	};
	return cmocka_run_group_tests_name("0102-poison", tests, setup, teardown);
}
