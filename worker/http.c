/* http: /metrics, /healthz and /readyz on libmicrohttpd's own thread (http.h). */
#include "http.h"

#include "log.h"
#include "util.h"

#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct andon_http {
	struct MHD_Daemon *d;
	andon_metrics_t *metrics;
	_Atomic int64_t beat_us; /* monotonic time of the main loop's last beat */
	_Atomic int stall_ms;
	pthread_mutex_t lock; /* guards why[] */
	char why[ANDON_HTTP_CONDITIONS][256];
	int port;
};

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	andon_warn("http: %s", line);
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned int status, const char *text)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result metrics(andon_http_t *h, struct MHD_Connection *c)
{
	struct MHD_Response *r;
	enum MHD_Result rc;
	size_t len;
	char *text = andon_metrics_render(h->metrics, &len);

	if (text == NULL)
		return send_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	/* The response frees the text once it is sent. */
	if ((r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE)) == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
	rc = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result healthz(andon_http_t *h, struct MHD_Connection *c)
{
	int64_t idle_ms = (andon_now_us() - atomic_load(&h->beat_us)) / 1000;
	char text[128];

	if (idle_ms <= atomic_load(&h->stall_ms))
		return send_text(c, MHD_HTTP_OK, "ok\n");
	snprintf(text, sizeof(text), "main loop stalled for %lld ms\n", (long long)idle_ms);
	return send_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, text);
}

static enum MHD_Result readyz(andon_http_t *h, struct MHD_Connection *c)
{
	char text[ANDON_HTTP_CONDITIONS * 260] = "";
	size_t at = 0;

	pthread_mutex_lock(&h->lock);
	for (int i = 0; i < ANDON_HTTP_CONDITIONS; i++)
		if (h->why[i][0] != '\0')
			at += (size_t)snprintf(text + at, sizeof(text) - at, "%s\n", h->why[i]);
	pthread_mutex_unlock(&h->lock);
	if (at == 0)
		return send_text(c, MHD_HTTP_OK, "ready\n");
	return send_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, text);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			      const char *version, const char *upload_data, size_t *upload_data_size,
			      void **req_cls)
{
	andon_http_t *h = cls;

	(void)version;
	(void)upload_data;
	(void)req_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return send_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	*upload_data_size = 0; /* a GET's body, if any, is ignored */
	if (strcmp(url, "/metrics") == 0)
		return metrics(h, c);
	if (strcmp(url, "/healthz") == 0)
		return healthz(h, c);
	if (strcmp(url, "/readyz") == 0)
		return readyz(h, c);
	return send_text(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics, /healthz or /readyz\n");
}

/* Splits "host:port" or "[v6]:port" into host (empty: any address) and a port of 0-65535. */
static int split_listen(const char *listen, char *host, size_t host_size, char *port, size_t port_size,
			char *errstr, size_t errstr_size)
{
	const char *colon = strrchr(listen, ':'), *h = listen;
	size_t hlen;
	long long p;

	if (colon == NULL || andon_parse_ll(colon + 1, 0, 65535, &p) != 0)
		return andon_fail(errstr, errstr_size, "worker.http_listen: \"%s\" is not host:port", listen);
	hlen = (size_t)(colon - listen);
	if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
		h++;
		hlen -= 2;
	}
	if (hlen >= host_size)
		return andon_fail(errstr, errstr_size, "worker.http_listen: host name too long");
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	snprintf(port, port_size, "%lld", p);
	return 0;
}

andon_http_t *andon_http_start(const char *listen, andon_metrics_t *metrics, int stall_ms, char *errstr,
			       size_t errstr_size)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
			*ai = NULL;
	char host[256], port[8];
	const union MHD_DaemonInfo *info;
	andon_http_t *h;
	int rc;

	if (split_listen(listen, host, sizeof(host), port, sizeof(port), errstr, errstr_size) != 0)
		return NULL;
	if ((rc = getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints, &ai)) != 0) {
		andon_fail(errstr, errstr_size, "worker.http_listen: %s: %s", listen, gai_strerror(rc));
		return NULL;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL || pthread_mutex_init(&h->lock, NULL) != 0) {
		free(h);
		freeaddrinfo(ai);
		andon_fail(errstr, errstr_size, "out of memory");
		return NULL;
	}
	h->metrics = metrics;
	atomic_store(&h->stall_ms, stall_ms);
	atomic_store(&h->beat_us, andon_now_us());
	/* One thread of its own: a scrape never waits for the main loop, nor the loop for a scrape. */
	h->d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG |
				    (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0),
				0, NULL, NULL, handle, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT, 64U,
				MHD_OPTION_CONNECTION_TIMEOUT, 10U, MHD_OPTION_END);
	freeaddrinfo(ai);
	if (h->d == NULL) {
		andon_fail(errstr, errstr_size, "worker.http_listen: cannot listen on %s", listen);
		andon_http_stop(h);
		return NULL;
	}
	info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info != NULL ? info->port : 0;
	return h;
}

void andon_http_stop(andon_http_t *h)
{
	if (h == NULL)
		return;
	if (h->d != NULL)
		MHD_stop_daemon(h->d);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

int andon_http_port(const andon_http_t *h)
{
	return h->port;
}

void andon_http_beat(andon_http_t *h)
{
	if (h != NULL)
		atomic_store_explicit(&h->beat_us, andon_now_us(), memory_order_relaxed);
}

void andon_http_stall_ms(andon_http_t *h, int ms)
{
	if (h != NULL)
		atomic_store(&h->stall_ms, ms);
}

void andon_http_ready(andon_http_t *h, int i, const char *why)
{
	if (h == NULL || i < 0 || i >= ANDON_HTTP_CONDITIONS)
		return;
	pthread_mutex_lock(&h->lock);
	snprintf(h->why[i], sizeof(h->why[i]), "%s", why != NULL ? why : "");
	pthread_mutex_unlock(&h->lock);
}
