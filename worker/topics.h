/*
 * topics: makes sure the topics the worker writes to exist, creating the missing ones through librdkafka's
 * Admin API (CreateTopics) with the partitions, replication factor and min.insync.replicas of the
 * topics.* settings. Production clusters do not create topics on first use (auto.create.topics.enable=false);
 * without this a message to a missing topic would wait out librdkafka's metadata propagation time and
 * then fail for good.
 *
 * The configured topics are ensured at start, synchronously. Topics named by the engine at run time (a
 * pipeline's callback topic, a domain's decision topic) are registered with andon_topics_want() and
 * created in the background; until a topic is ready, what the worker produces to it waits (its request's
 * offset too), so nothing fails because a topic is new.
 *
 * Each topic has one state: READY (exists, or cannot be created here and is left to the cluster),
 * PENDING (a CreateTopics is in flight or waits for its retry) or FAILED (the cluster refused the name or
 * the settings for good: messages to it are dead-lettered). A topic never registered is treated as READY:
 * reply topics named by callers are theirs to create.
 */
#ifndef ANDON_TOPICS_H
#define ANDON_TOPICS_H

#include "config.h"

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stddef.h>

typedef struct andon_topics andon_topics_t;

/** A topic's state as andon_topics_state() reports it. */
enum andon_topic_state {
	ANDON_TOPIC_READY = 0,
	ANDON_TOPIC_PENDING,
	ANDON_TOPIC_FAILED,
};

/**
 * A topic registry creating topics through rk (a producer; borrowed, must outlive the registry) with the
 * topics.* settings of cfg (borrowed). Returns NULL with a reason in errstr.
 */
andon_topics_t *andon_topics_new(rd_kafka_t *rk, const andon_config_t *cfg, char *errstr, size_t errstr_size);

/** Frees the registry; CreateTopics requests still in flight are abandoned. t may be NULL. */
void andon_topics_destroy(andon_topics_t *t);

/**
 * Makes sure names[0..n) exist, creating the missing ones, and waits for it: retries while the cluster is
 * unreachable or busy, for as long as *run stays set (a warning every few seconds). Returns 0 when every
 * topic is READY, or -1 with the reason in errstr when the cluster refused a name or the settings (a wrong
 * replication factor, say) or *run was cleared meanwhile.
 */
int andon_topics_ensure(andon_topics_t *t, const char *const *names, size_t n,
			const volatile sig_atomic_t *run, char *errstr, size_t errstr_size);

/**
 * Registers topic as one the worker writes to: a topic seen for the first time is created in the background
 * (andon_topics_poll() completes it). Cheap for a known topic. Out of memory leaves the topic unregistered,
 * that is READY: producing then fails the old way (dead letter) rather than waiting forever.
 */
void andon_topics_want(andon_topics_t *t, const char *topic);

/**
 * The state of topic. For ANDON_TOPIC_FAILED, *err (may be NULL) is set to the cluster's reason, a
 * permanent error code. A topic never registered is READY.
 */
enum andon_topic_state andon_topics_state(const andon_topics_t *t, const char *topic,
					  rd_kafka_resp_err_t *err);

/**
 * A delivery to topic failed because the topic does not exist (deleted since, or its creation was not yet
 * visible to the partition's leader). A registered topic is checked and created again: returns 1, and
 * the message should be produced again once the topic is READY. Returns 0 for a topic never registered.
 */
int andon_topics_forget(andon_topics_t *t, const char *topic);

/** Serves creation results and starts due retries, without blocking. Call it from the main loop. */
void andon_topics_poll(andon_topics_t *t);

/** Number of topics PENDING: the main loop has messages waiting for them. */
size_t andon_topics_pending(const andon_topics_t *t);

#endif
