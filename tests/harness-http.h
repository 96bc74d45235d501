/* harness-http: the worker's HTTP endpoints from a test: GET over a loopback TCP connection, and a scrape of
 * /metrics read with the strict exposition parser (tests/prom.h). */
#ifndef ANDON_HARNESS_HTTP_H
#define ANDON_HARNESS_HTTP_H

#include "prom.h"

#include <stddef.h>
#include <sys/types.h>

/**
 * GET path from 127.0.0.1:port (HTTP/1.1, Connection: close), waiting up to 5 s. Returns the status code
 * and, when body is not NULL, the body in *body (malloc'd, NUL-terminated; the caller frees) and the
 * Content-Type header in ctype[ctype_size] (may be NULL); -1 when no answer came.
 */
int hh_get(int port, const char *path, char **body, char *ctype, size_t ctype_size);

/** The HTTP port of worker pid, from its log line "http: ... (port N)" (waits up to 30 s for it). */
int hh_port(pid_t pid);

/** GET /metrics: fails the test unless it answers 200 with the 0.0.4 content type and parses strictly. */
prom_t *hh_scrape(int port);

/** One value of a scrape (prom_sum over name and match); fails the test when no sample matches. */
double hh_value(const prom_t *p, const char *name, const char *match);

#endif
