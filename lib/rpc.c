/* rpc: the tools' request/reply client over Kafka (rpc.h). */
#include "rpc.h"

#include "codec.h"
#include "json.h"
#include "log.h"
#include "sign.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

struct andon_rpc {
	rd_kafka_t *producer, *consumer;
	andon_creds_t creds; /* the operator's, from the environment or a credentials file */
	int sign;	     /* creds were found: every request is signed (security.auth = required) */
	char *requests, *replies;
	long long failed; /* delivery reports with an error */
	msgpack_zone zone;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
	andon_rpc_t *r = opaque;

	(void)rk;
	if (rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR)
		return;
	r->failed++;
	andon_err("delivery to %s failed: %s", rd_kafka_topic_name(rkm->rkt), rd_kafka_err2str(rkm->err));
}

int andon_rpc_assign_at_end(rd_kafka_t *rk, const char *topic, int timeout_ms, char *errstr,
			    size_t errstr_size)
{
	rd_kafka_topic_partition_list_t *parts;
	rd_kafka_resp_err_t err;
	int32_t *ids;
	int n, rc = -1;

	if ((n = andon_kafka_partitions(rk, topic, "reply topic", timeout_ms, &ids, errstr, errstr_size)) < 0)
		return -1;
	parts = rd_kafka_topic_partition_list_new(n);
	for (int i = 0; i < n; i++) {
		int64_t lo, hi;

		if (andon_kafka_watermarks(rk, topic, ids[i], timeout_ms, &lo, &hi, errstr, errstr_size) != 0)
			goto out;
		rd_kafka_topic_partition_list_add(parts, topic, ids[i])->offset = hi;
	}
	if ((err = rd_kafka_assign(rk, parts)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		andon_fail(errstr, errstr_size, "assign: %s", rd_kafka_err2str(err));
		goto out;
	}
	rc = 0;
out:
	rd_kafka_topic_partition_list_destroy(parts);
	free(ids);
	return rc;
}

andon_rpc_t *andon_rpc_new(const andon_kafka_arg_t *args, int nargs, const char *requests,
			   const char *replies, const char *client, int timeout_ms, char *errstr,
			   size_t errstr_size)
{
	const char *const reader_defaults[] = {
	    /* assign() needs a group handle, but nothing joins it and nothing is committed to it. */
	    "group.id", client, "enable.auto.commit", "false",
	    /* Only what the worker committed: an exactly-once worker's aborted outputs never show. */
	    "isolation.level", "read_committed", "fetch.wait.max.ms", "10", NULL};
	rd_kafka_conf_t *pconf = rd_kafka_conf_new(), *cconf = rd_kafka_conf_new();
	andon_rpc_t *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		andon_fail(errstr, errstr_size, "out of memory");
		goto err;
	}
	msgpack_zone_init(&r->zone, MSGPACK_ZONE_CHUNK_SIZE);
	if ((r->requests = strdup(requests)) == NULL || (r->replies = strdup(replies)) == NULL) {
		andon_fail(errstr, errstr_size, "out of memory");
		goto err;
	}
	/* Defaults first so -b, -X and -F, applied afterwards in command-line order, can override them. */
	rd_kafka_conf_set_log_cb(pconf, andon_kafka_log_cb);
	rd_kafka_conf_set_dr_msg_cb(pconf, on_delivery);
	rd_kafka_conf_set_opaque(pconf, r);
	rd_kafka_conf_set_log_cb(cconf, andon_kafka_log_cb);
	if (andon_kafka_conf_set_pairs(cconf, reader_defaults, errstr, errstr_size) != 0 ||
	    andon_kafka_conf_args(pconf, args, nargs, errstr, errstr_size) != 0 ||
	    andon_kafka_conf_args(cconf, args, nargs, errstr, errstr_size) != 0)
		goto err;
	if (!andon_kafka_conf_has_brokers(pconf)) {
		andon_fail(errstr, errstr_size, "-b brokers (or -X bootstrap.servers=...) is required");
		goto err;
	}
	if ((r->sign = andon_creds_load(&r->creds, errstr, errstr_size)) < 0)
		goto err;
	r->consumer = andon_kafka_new(RD_KAFKA_CONSUMER, cconf, errstr, errstr_size);
	cconf = NULL; /* now owned by the consumer (or gone) */
	if (r->consumer == NULL)
		goto err;
	r->producer = andon_kafka_new(RD_KAFKA_PRODUCER, pconf, errstr, errstr_size);
	pconf = NULL; /* now owned by the producer (or gone) */
	if (r->producer == NULL ||
	    andon_rpc_assign_at_end(r->consumer, replies, timeout_ms, errstr, errstr_size) != 0 ||
	    andon_kafka_warm_topic(r->producer, requests, "request topic", timeout_ms, errstr, errstr_size) !=
		0)
		goto err;
	return r;
err:
	if (pconf != NULL)
		rd_kafka_conf_destroy(pconf);
	if (cconf != NULL)
		rd_kafka_conf_destroy(cconf);
	andon_rpc_destroy(r);
	return NULL;
}

void andon_rpc_destroy(andon_rpc_t *r)
{
	if (r == NULL)
		return;
	andon_kafka_consumer_close(r->consumer);
	andon_kafka_producer_close(r->producer, 10000, ANDON_LOG_ERROR);
	msgpack_zone_destroy(&r->zone);
	free(r->requests);
	free(r->replies);
	free(r);
}

int andon_rpc_send(andon_rpc_t *r, const char *op, const char *id, const char *account, const char *key,
		   const json_t *body, char *errstr, size_t errstr_size)
{
	json_t *env = json_pack("{s:i, s:s, s:s, s:s, s:O}", "v", 1, "op", op, "id", id, "replyTo",
				r->replies, "body", body);
	rd_kafka_resp_err_t err;
	char *buf = NULL;
	size_t len;
	int rc = -1;

	if (env == NULL) {
		andon_fail(errstr, errstr_size, "request %s: not valid UTF-8", id);
		goto out;
	}
	if (account != NULL)
		json_object_set_new(env, "account", json_string(account));
	if (andon_json_pack(env, &buf, &len, errstr, errstr_size) != 0)
		goto out;
	if (key == NULL)
		key = id;
	for (;;) {
		err = andon_sign_produce(r->producer, r->sign ? &r->creds : NULL, r->requests,
					 RD_KAFKA_PARTITION_UA, key, strlen(key), buf, len, NULL, NULL);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		rd_kafka_poll(r->producer, 100); /* delivery reports free room */
	}
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		andon_fail(errstr, errstr_size, "produce to %s: %s", r->requests, rd_kafka_err2str(err));
		goto out;
	}
	rc = 0;
out:
	free(buf);
	json_decref(env);
	return rc;
}

int andon_rpc_poll(andon_rpc_t *r, int timeout_ms, andon_rpc_reply_fn *cb, void *opaque)
{
	int64_t deadline = andon_now_us() + (int64_t)timeout_ms * 1000;
	int n = 0;

	rd_kafka_poll(r->producer, 0);
	for (;;) {
		int64_t left = (deadline - andon_now_us()) / 1000;
		rd_kafka_message_t *rkm = rd_kafka_consumer_poll(r->consumer, n > 0 || left <= 0 ? 0
									      : left < 100	 ? (int)left
												 : 100);
		msgpack_object obj;
		char reason[256];
		json_t *j;

		if (rkm == NULL) {
			if (n > 0 || andon_now_us() >= deadline)
				break;
			rd_kafka_poll(r->producer, 0);
			continue;
		}
		if (rkm->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			andon_warn("reply reader: %s", rd_kafka_message_errstr(rkm));
			if (rkm->err == RD_KAFKA_RESP_ERR__FATAL ||
			    rkm->err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
			    rkm->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
				rd_kafka_message_destroy(rkm);
				return -1;
			}
		} else if (andon_codec_unpack(rkm->payload, rkm->len, ANDON_CODEC_DEFAULT_DEPTH, &r->zone,
					      &obj, reason, sizeof(reason)) == 0 &&
			   (j = andon_json_from_msgpack(&obj)) != NULL) {
			n++;
			cb(j, opaque);
			json_decref(j);
		}
		msgpack_zone_clear(&r->zone);
		rd_kafka_message_destroy(rkm);
	}
	return n;
}

struct wait_one {
	const char *id;
	json_t *reply;
};

static void match_one(json_t *reply, void *opaque)
{
	struct wait_one *w = opaque;
	const char *id = json_string_value(json_object_get(reply, "id"));

	if (w->reply == NULL && id != NULL && strcmp(id, w->id) == 0)
		w->reply = json_incref(reply);
}

int andon_rpc_call(andon_rpc_t *r, const char *op, const char *account, const char *key, const json_t *body,
		   int timeout_ms, volatile sig_atomic_t *run, json_t **reply, char *errstr,
		   size_t errstr_size)
{
	int64_t deadline = andon_now_us() + (int64_t)timeout_ms * 1000;
	char id[37];
	struct wait_one w = {id, NULL};

	andon_uuid4(id);
	if (andon_rpc_send(r, op, id, account, key, body, errstr, errstr_size) != 0)
		return -1;
	while (w.reply == NULL && (run == NULL || *run) && andon_now_us() < deadline)
		if (andon_rpc_poll(r, 100, match_one, &w) < 0)
			return andon_fail(errstr, errstr_size, "reading replies from %s failed", r->replies);
	if (w.reply == NULL)
		return andon_fail(errstr, errstr_size, "%s %s: %s", op, id,
				  run != NULL && !*run ? "interrupted" : "no reply in time");
	*reply = w.reply;
	return 0;
}

long long andon_rpc_failed(const andon_rpc_t *r)
{
	return r->failed;
}
