/*
 * harness-eos: what subscribers see, for the exactly-once tests (0115, 0116). A reader is a consumer of its
 * own group subscribed to every andon.* topic (replies, events, DLQ, requests with the SWF hand-offs, and
 * the callback and decision topics the worker creates on the way) from the beginning, at one isolation
 * level, on a thread of its own. It counts each distinct message (topic, key and value) and keeps every
 * message it read, so a test can ask how often a message was seen and find the ones it is after.
 * he_settle() proves that readers saw everything written so far: it appends a sentinel to every partition
 * of every andon.* topic and waits until each reader has read them all.
 */
#ifndef ANDON_HARNESS_EOS_H
#define ANDON_HARNESS_EOS_H

#include <stddef.h>
#include <stdint.h>

typedef struct he_reader he_reader_t;

/** A reader at isolation level "read_committed" or "read_uncommitted", started on h_brokers(). */
he_reader_t *he_reader_start(const char *isolation);
/** Stops the reader's thread and frees it. r may be NULL. */
void he_reader_free(he_reader_t *r);

/** Messages read so far (sentinels aside), and how many of them were distinct. */
size_t he_messages(he_reader_t *r);
size_t he_distinct(he_reader_t *r);
/** Distinct messages read more than once, and the surplus reads of them (messages - distinct). */
size_t he_repeated(he_reader_t *r);

/** Replies (on andon.replies) read so far whose id is id. */
size_t he_replies(he_reader_t *r, const char *id);
/** Replies read so far, all ids together. */
size_t he_reply_total(he_reader_t *r);

/** Distinct messages sub read that super never read; up to 3 of them are described on stderr. */
size_t he_missing(he_reader_t *sub, he_reader_t *super);

/**
 * Messages read on topic whose value (decoded to JSON, as text) contains needle; the partition and offset
 * of the last one go to *partition and *offset (either may be NULL).
 */
size_t he_find(he_reader_t *r, const char *topic, const char *needle, int32_t *partition, int64_t *offset);

/**
 * Appends a sentinel message to every partition of every andon.* topic, then waits until every reader of
 * readers[0..n) has read all of them: afterwards each has read all that was committed (or, for
 * read_uncommitted, written) before. 0, or -1 when that took more than timeout_ms.
 */
int he_settle(he_reader_t *const *readers, size_t n, int timeout_ms);

#endif
