/* harness-http: GET from the worker's HTTP endpoints and strict scrapes of /metrics (harness-http.h). */
#include "harness-http.h"

#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Reads until the server closes the connection or the deadline; returns the bytes (NUL-terminated). */
static char *read_all(int fd, long long deadline, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap + 1);

	while (buf != NULL) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t got;
		long long left = deadline - h_now_ms();

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		if ((got = read(fd, buf + n, cap - n)) <= 0)
			break;
		n += (size_t)got;
		if (n == cap) {
			char *bigger = realloc(buf, 2 * cap + 1);

			if (bigger == NULL)
				break;
			buf = bigger;
			cap *= 2;
		}
	}
	if (buf != NULL)
		buf[n] = '\0';
	*len = n;
	return buf;
}

int hh_get(int port, const char *path, char **body, char *ctype, size_t ctype_size)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	long long deadline = h_now_ms() + 5000;
	char req[256], *resp, *sep, *h;
	size_t len;
	int fd = socket(AF_INET, SOCK_STREAM, 0), status = -1;

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n", path,
		 port);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		close(fd);
		return -1;
	}
	resp = read_all(fd, deadline, &len);
	close(fd);
	if (resp == NULL || sscanf(resp, "HTTP/1.1 %d ", &status) != 1 ||
	    (sep = strstr(resp, "\r\n\r\n")) == NULL) {
		free(resp);
		return -1;
	}
	*sep = '\0';
	if (ctype != NULL) {
		ctype[0] = '\0';
		if ((h = strcasestr(resp, "\r\nContent-Type: ")) != NULL)
			snprintf(ctype, ctype_size, "%.*s", (int)strcspn(h + 16, "\r\n"), h + 16);
	}
	if (body != NULL) {
		/* Connection: close, so the body is what follows the headers (no chunking for a known
		 * length). */
		memmove(resp, sep + 4, len - (size_t)(sep + 4 - resp) + 1);
		*body = resp;
	} else {
		free(resp);
	}
	return status;
}

int hh_port(pid_t pid)
{
	long long deadline = h_now_ms() + 30000;
	const char *log = h_worker_log(pid);

	while (h_now_ms() < deadline) {
		char line[1024];
		FILE *fp = log != NULL ? fopen(log, "r") : NULL;
		int port = -1;

		while (fp != NULL && fgets(line, sizeof(line), fp) != NULL) {
			const char *p = strstr(line, "(port ");

			if (strstr(line, "http: ") != NULL && p != NULL)
				port = atoi(p + 6);
		}
		if (fp != NULL)
			fclose(fp);
		if (port > 0)
			return port;
		h_sleep_ms(20);
	}
	fail_msg("worker %d never said which HTTP port it serves (see %s)", (int)pid, log ? log : "?");
	return -1;
}

prom_t *hh_scrape(int port)
{
	char ctype[128], err[256], *body = NULL;
	int status = hh_get(port, "/metrics", &body, ctype, sizeof(ctype));
	prom_t *p;

	if (status != 200)
		fail_msg("GET /metrics: status %d", status);
	if (strcmp(ctype, "text/plain; version=0.0.4; charset=utf-8") != 0)
		fail_msg("GET /metrics: Content-Type \"%s\"", ctype);
	if ((p = prom_parse(body, strlen(body), err, sizeof(err))) == NULL)
		fail_msg("GET /metrics does not parse: %s\n%s", err, body);
	free(body);
	return p;
}

double hh_value(const prom_t *p, const char *name, const char *match)
{
	size_t n;
	double v = prom_sum(p, name, match, &n);

	if (n == 0)
		fail_msg("no sample %s{%s}", name, match != NULL ? match : "");
	return v;
}
