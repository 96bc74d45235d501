/* health: what the worker tells about itself: liveness and readiness for /healthz and /readyz (http.h) and
 * the service manager (service.h). Conditions of readiness: Kafka (an assignment in force and a broker
 * reachable) and Redis (the last call answered). */
#include "worker_int.h"

#include "log.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

enum { COND_KAFKA = 0, COND_REDIS = 1 }; /* the worker's numbering of http.h's conditions */

/* Recomputes readiness and tells /readyz and, the first time it holds, the service manager. */
static void update(andon_worker_t *w)
{
	char status[300];

	andon_http_ready(w->http, COND_KAFKA,
			 !w->assigned	? "kafka: waiting for partition assignment"
			 : !w->kafka_up ? "kafka: no broker reachable"
					: NULL);
	andon_http_ready(w->http, COND_REDIS, w->redis_up ? NULL : w->redis_why);
	w->ready = w->assigned && w->kafka_up && w->redis_up;
	andon_stats_state(w); /* at once: the tick waits while Redis is away */
	/* READY=1 once the first assignment is in force: the worker consumes from then on (a later
	 * outage is /readyz's business, not the service manager's). */
	if (w->assigned && !w->notified_ready) {
		w->notified_ready = 1;
		snprintf(status, sizeof(status), "consuming %s", w->cfg->topic_requests);
		andon_service_ready(w->svc, status);
	}
}

void andon_health_start(andon_worker_t *w)
{
	w->kafka_up = 1; /* until librdkafka says otherwise */
	w->redis_up = 1; /* andon_worker_new() connected and loaded the library */
	update(w);
}

void andon_health_assigned(andon_worker_t *w, int partitions)
{
	(void)partitions;
	w->assigned = 1;
	update(w);
}

void andon_health_revoked(andon_worker_t *w)
{
	w->assigned = 0;
	update(w);
}

void andon_health_brokers(andon_worker_t *w, int up)
{
	if ((up > 0) == w->kafka_up)
		return;
	w->kafka_up = up > 0;
	if (!w->kafka_up)
		andon_warn("kafka: no broker reachable; not ready");
	else
		andon_info("kafka: brokers reachable again");
	update(w);
}

void andon_health_redis(void *opaque, int up, const char *why)
{
	andon_worker_t *w = opaque;

	/* Waiting for Redis is the loop doing its job: alive, not ready. */
	andon_health_beat(w, andon_now_us());
	if (up == w->redis_up && up)
		return;
	w->redis_up = up;
	if (!up && why != NULL && strncmp(why, "redis", 5) == 0)
		snprintf(w->redis_why, sizeof(w->redis_why), "%s", why);
	else if (!up)
		snprintf(w->redis_why, sizeof(w->redis_why), "redis: %s", why != NULL ? why : "unavailable");
	else
		andon_info("redis: answering again");
	update(w);
}

void andon_health_beat(andon_worker_t *w, int64_t now_us)
{
	andon_http_beat(w->http);
	andon_service_watchdog(w->svc, now_us);
}

void andon_health_stopping(andon_worker_t *w)
{
	andon_service_stopping(w->svc);
	andon_http_ready(w->http, COND_KAFKA, "stopping");
}
