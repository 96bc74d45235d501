/*
 * service: the worker's life under a service manager. systemd's notification protocol through libsystemd's
 * sd_notify() (a no-op when NOTIFY_SOCKET is not set): READY=1 once the worker can work, STOPPING=1 when
 * it starts shutting down, RELOADING=1 then READY=1 around a reload, WATCHDOG=1 every half of
 * WATCHDOG_USEC when the unit sets WatchdogSec=, and STATUS= lines. SIGHUP asks for a reload.
 */
#ifndef ANDON_SERVICE_H
#define ANDON_SERVICE_H

#include <signal.h>
#include <stdint.h>

typedef struct andon_service andon_service_t;

/** Reads the watchdog interval the manager asked for (WATCHDOG_USEC). NULL when out of memory. */
andon_service_t *andon_service_new(void);
void andon_service_destroy(andon_service_t *s);

/** READY=1 with STATUS=status (may be NULL); after the first time, and outside a reload, STATUS only. */
void andon_service_ready(andon_service_t *s, const char *status);
/** STOPPING=1: the worker finishes what it holds and exits. */
void andon_service_stopping(andon_service_t *s);
/** RELOADING=1 (with MONOTONIC_USEC); the next andon_service_ready() says READY=1 again. */
void andon_service_reloading(andon_service_t *s);
/** WATCHDOG=1 when half of the watchdog interval has passed since the last one (now: andon_now_us()). */
void andon_service_watchdog(andon_service_t *s, int64_t now_us);

/** Makes SIGHUP set *flag to 1 (the main loop reloads and clears it). */
void andon_service_catch_reload(volatile sig_atomic_t *flag);

#endif
