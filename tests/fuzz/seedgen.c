/* seedgen: turns the JSON seed requests (tests/fuzz/seeds/NAME.jsonl) into the fuzzers' starting corpora. */
#include "config.h"
#include "json.h"
#include "ops.h"
#include "request.h"

#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/*
 * seedgen OUTDIR FILE.jsonl...: every line is one request envelope as JSON. Each is written as msgpack to
 * OUTDIR/request/<file>-<line>.mp (fuzz-request's seeds) and as its JSON line to
 * OUTDIR/json/<file>-<line>.json (fuzz-json's, beside the msgpack ones). Every seed must be accepted by
 * the worker's own request path, and every op of the four tables must have a seed: a seed that the
 * adapters reject, or an op nobody seeds, fails the build rather than quietly leaving that op to chance.
 */

static const andon_op_t *const tables[] = {andon_sfn_ops, andon_sm_ops, andon_cflow_ops, andon_swf_ops};

#define OPS_MAX 128

static int write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (f == NULL) {
		fprintf(stderr, "seedgen: %s: %s\n", path, strerror(errno));
		return -1;
	}
	ok = fwrite(buf, 1, len, f) == len;
	ok &= fclose(f) == 0;
	if (!ok)
		fprintf(stderr, "seedgen: writing %s failed\n", path);
	return ok ? 0 : -1;
}

/* Runs the request through andon_request_prepare(): its op's table entry when the worker would send it to
 * Redis, else NULL. */
static const andon_op_t *accepted(const andon_config_t *cfg, const char *buf, size_t len)
{
	char account[ANDON_REQUEST_ACCOUNT_SIZE];
	const andon_op_t *op = NULL;
	andon_arena_t arena;
	msgpack_zone zone;
	andon_req_t req;
	andon_call_t call;
	andon_apierr_t err;

	if (andon_arena_init(&arena, 4 * len + 4096) != 0 || !msgpack_zone_init(&zone, 4096))
		abort();
	memset(&call, 0, sizeof(call));
	if (andon_request_prepare(cfg, &arena, &zone, buf, len, &req, account, &call, NULL, &err) ==
	    ANDON_REQUEST_CALL)
		op = andon_ops_find(req.op, req.op_len);
	else
		fprintf(stderr, "seedgen: rejected: %s: %s\n", err.code, err.message);
	msgpack_zone_destroy(&zone);
	andon_arena_free(&arena);
	return op;
}

int main(int argc, char **argv)
{
	const andon_op_t *seen[OPS_MAX];
	size_t nseen = 0, nseeds = 0;
	andon_config_t *cfg = andon_config_new();
	char path[4096], line[1 << 16];
	int failed = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: seedgen OUTDIR FILE.jsonl...\n");
		return 2;
	}
	if (cfg == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/request", argv[1]);
	mkdir(argv[1], 0777);
	mkdir(path, 0777);
	snprintf(path, sizeof(path), "%s/json", argv[1]);
	mkdir(path, 0777);

	for (int a = 2; a < argc; a++) {
		char name[256], *dot, *base;
		FILE *f = fopen(argv[a], "r");
		int lineno = 0;

		if (f == NULL) {
			fprintf(stderr, "seedgen: %s: %s\n", argv[a], strerror(errno));
			return 1;
		}
		snprintf(path, sizeof(path), "%s", argv[a]);
		base = basename(path);
		snprintf(name, sizeof(name), "%s", base);
		if ((dot = strrchr(name, '.')) != NULL)
			*dot = '\0';
		while (fgets(line, sizeof(line), f) != NULL) {
			json_error_t jerr;
			json_t *j;
			char errstr[256], *buf;
			const andon_op_t *op;
			size_t len;

			lineno++;
			if (strspn(line, " \t\r\n") == strlen(line))
				continue;
			if ((j = json_loads(line, 0, &jerr)) == NULL) {
				fprintf(stderr, "%s:%d: %s\n", argv[a], lineno, jerr.text);
				failed = 1;
				continue;
			}
			if (andon_json_pack(j, &buf, &len, errstr, sizeof(errstr)) != 0) {
				fprintf(stderr, "%s:%d: %s\n", argv[a], lineno, errstr);
				json_decref(j);
				failed = 1;
				continue;
			}
			json_decref(j);
			if ((op = accepted(cfg, buf, len)) == NULL) {
				fprintf(stderr, "%s:%d: the worker rejects this seed\n", argv[a], lineno);
				failed = 1;
			} else if (nseen < OPS_MAX) {
				seen[nseen++] = op;
			}
			snprintf(path, sizeof(path), "%s/request/%s-%02d.mp", argv[1], name, lineno);
			failed |= write_file(path, buf, len) != 0;
			snprintf(path, sizeof(path), "%s/json/%s-%02d.json", argv[1], name, lineno);
			failed |= write_file(path, line, strlen(line)) != 0;
			free(buf);
			nseeds++;
		}
		fclose(f);
	}

	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (const andon_op_t *op = tables[t]; op->name != NULL; op++) {
			size_t i;

			for (i = 0; i < nseen && seen[i] != op; i++)
				;
			if (i == nseen) {
				fprintf(stderr, "seedgen: no seed for %s\n", op->name);
				failed = 1;
			}
		}
	andon_config_destroy(cfg);
	if (!failed)
		printf("seedgen: %zu seeds into %s\n", nseeds, argv[1]);
	return failed;
}
