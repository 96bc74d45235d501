/* service: sd_notify (READY, STOPPING, RELOADING, WATCHDOG, STATUS) and SIGHUP (service.h). */
#include "service.h"

#include "log.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

struct andon_service {
	uint64_t watchdog_us; /* 0: no watchdog */
	int64_t next_ping_us;
	int ready; /* READY=1 was sent and no reload is in progress */
};

andon_service_t *andon_service_new(void)
{
	andon_service_t *s = calloc(1, sizeof(*s));
	uint64_t usec = 0;

	if (s == NULL)
		return NULL;
	/* > 0 only when WATCHDOG_USEC is set (and WATCHDOG_PID, if set, is this process). */
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		s->watchdog_us = usec;
		andon_info("systemd watchdog: pinging every %llu ms", (unsigned long long)(usec / 2000));
	}
	return s;
}

void andon_service_destroy(andon_service_t *s)
{
	free(s);
}

static void notify(const char *state)
{
	int rc = sd_notify(0, state);

	if (rc < 0)
		andon_warn("sd_notify(%s): %s", state, strerror(-rc));
}

void andon_service_ready(andon_service_t *s, const char *status)
{
	if (!s->ready) {
		s->ready = 1;
		if (status != NULL)
			sd_notifyf(0, "READY=1\nSTATUS=%s", status);
		else
			notify("READY=1");
	} else if (status != NULL) {
		sd_notifyf(0, "STATUS=%s", status);
	}
}

void andon_service_stopping(andon_service_t *s)
{
	(void)s;
	notify("STOPPING=1\nSTATUS=shutting down");
}

void andon_service_reloading(andon_service_t *s)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	s->ready = 0;
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
		   (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL);
}

void andon_service_watchdog(andon_service_t *s, int64_t now_us)
{
	if (s == NULL || s->watchdog_us == 0 || now_us < s->next_ping_us)
		return;
	s->next_ping_us = now_us + (int64_t)(s->watchdog_us / 2);
	notify("WATCHDOG=1");
}

static volatile sig_atomic_t *reload_flag;

static void on_hup(int sig)
{
	(void)sig;
	*reload_flag = 1;
}

void andon_service_catch_reload(volatile sig_atomic_t *flag)
{
	reload_flag = flag;
	andon_catch_signal(SIGHUP, on_hup, SA_RESTART);
}
