/* worker: the daemon's main loop: poll a batch, pipeline it to Redis, answer on Kafka, store offsets. */
#ifndef ANDON_WORKER_H
#define ANDON_WORKER_H

#include "config.h"

#include <signal.h>
#include <stddef.h>

typedef struct andon_worker andon_worker_t;

/**
 * Creates the Kafka consumer and producer and connects to Redis (loading the function library).
 * run is the flag the signal handler clears; cfg must outlive the worker. NULL with a reason on failure.
 */
andon_worker_t *andon_worker_new(const andon_config_t *cfg, const volatile sig_atomic_t *run, char *errstr,
				 size_t errstr_size);

/**
 * Runs until *run becomes 0, then finishes the batch in hand, waits for every acknowledgement, stores
 * and commits offsets and closes the consumer. Returns 0 after a clean shutdown, -1 when the shutdown could
 * not drain in time (what was not committed is consumed again later) or on a fatal Kafka error.
 */
int andon_worker_run(andon_worker_t *w);

/**
 * What a reload does in the program that owns the settings: reads them again and applies to cfg what can
 * change while running (andon_config_reload()). Returns 0, or -1 when they could not be read (cfg is then
 * unchanged).
 */
typedef int(andon_worker_reload_fn)(void *opaque);

/**
 * Reloads between batches whenever *flag becomes 1 (SIGHUP, service.h), which the worker sets back to 0:
 * calls fn(opaque), then adapts what it sized from the settings at start (the batch arena may grow for a
 * larger worker.max_message_bytes) and tells systemd (RELOADING=1, READY=1).
 */
void andon_worker_on_reload(andon_worker_t *w, volatile sig_atomic_t *flag, andon_worker_reload_fn *fn,
			    void *opaque);

void andon_worker_destroy(andon_worker_t *w);

#endif
