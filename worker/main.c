/* andon-worker: consumes stop/cancel/terminate requests from Kafka and applies them in Redis. */
#include "config.h"
#include "log.h"
#include "service.h"
#include "util.h"
#include "version.h"
#include "worker.h"

#include <getopt.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t run = 1;
static volatile sig_atomic_t hup = 0;

/* The settings come from the command line, read once at start and again on every reload. */
typedef struct args {
	int argc;
	char **argv;
	andon_config_t *cfg; /* the settings in force */
} args_t;

enum { ARGS_OK, ARGS_BAD, ARGS_HELP, ARGS_VERSION };

static void usage(FILE *out, const char *argv0)
{
	fprintf(out,
		"Usage: %s [-c FILE] [-b BROKERS] [-X kafka.prop=value] [-o option=value] [-v|-q]\n"
		"  -c FILE     read settings from FILE (key=value; see andon.conf(5))\n"
		"  -b LIST     Kafka bootstrap servers (bootstrap.servers)\n"
		"  -X K=V      librdkafka property, passed through as is (repeatable)\n"
		"  -o K=V      any Andon setting, e.g. -o redis.port=6380 (repeatable, after -c)\n"
		"  -v, -q      more (debug) or less (warnings only) logging\n"
		"  -h, --help  this text\n"
		"  --version   the version of the worker and its libraries\n"
		"Settings apply in command-line order. SIGHUP reads them again and applies what can change\n"
		"while running (andon-worker(1)); SIGTERM or SIGINT finishes the batch in hand and exits.\n",
		argv0);
}

/* Applies the command line to cfg in order, so -o after -c overrides the file. */
static int parse_args(andon_config_t *cfg, int argc, char **argv, char *errstr, size_t errstr_size)
{
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
						 {"version", no_argument, NULL, ANDON_OPT_VERSION},
						 {NULL, 0, NULL, 0}};
	char kv[4096];
	int opt, rc;

	errstr[0] = '\0';
	optind = 0; /* a reload parses the same argv again from the start (GNU: full reinitialisation) */
	while ((opt = getopt_long(argc, argv, "c:b:X:o:vqh", longopts, NULL)) != -1) {
		const char *eq;

		errstr[0] = '\0';
		switch (opt) {
		case 'c':
			rc = andon_config_load(cfg, optarg, errstr, errstr_size);
			break;
		case 'b':
			if ((size_t)snprintf(kv, sizeof(kv), "bootstrap.servers=%s", optarg) >= sizeof(kv)) {
				rc = andon_fail(errstr, errstr_size, "-b: broker list too long");
				break;
			}
			rc = andon_config_kafka(cfg, kv, errstr, errstr_size);
			break;
		case 'X':
			rc = andon_config_kafka(cfg, optarg, errstr, errstr_size);
			break;
		case 'o':
			if ((eq = strchr(optarg, '=')) == NULL || eq == optarg) {
				rc = andon_fail(errstr, errstr_size, "-o expects option=value, got \"%s\"",
						optarg);
				break;
			}
			if ((size_t)(eq - optarg) >= sizeof(kv)) {
				rc = andon_fail(errstr, errstr_size, "-o: option name too long");
				break;
			}
			snprintf(kv, sizeof(kv), "%.*s", (int)(eq - optarg), optarg);
			rc = andon_config_set(cfg, kv, eq + 1, errstr, errstr_size);
			break;
		case 'v':
			rc = andon_config_set(cfg, "worker.log_level", "debug", errstr, errstr_size);
			break;
		case 'q':
			rc = andon_config_set(cfg, "worker.log_level", "warn", errstr, errstr_size);
			break;
		case 'h':
			return ARGS_HELP;
		case ANDON_OPT_VERSION:
			return ARGS_VERSION;
		default:
			return ARGS_BAD; /* getopt said why */
		}
		if (rc != 0)
			return ARGS_BAD;
	}
	if (optind != argc) {
		andon_fail(errstr, errstr_size, "unexpected argument \"%s\"", argv[optind]);
		return ARGS_BAD;
	}
	return ARGS_OK;
}

/* SIGHUP: the command line again, its files read anew; what can change is applied to the running worker. */
static int reload(void *opaque)
{
	args_t *a = opaque;
	andon_config_t *fresh = andon_config_new();
	char errstr[512], applied[2048], kept[1024];
	int n;

	if (fresh == NULL || parse_args(fresh, a->argc, a->argv, errstr, sizeof(errstr)) != ARGS_OK) {
		andon_err("reload failed, settings unchanged: %s", fresh == NULL ? "out of memory" : errstr);
		andon_config_destroy(fresh);
		return -1;
	}
	n = andon_config_reload(a->cfg, fresh, applied, sizeof(applied), kept, sizeof(kept));
	andon_log_level = a->cfg->log_level;
	andon_log_format = a->cfg->log_format;
	if (n > 0)
		andon_info("reload: applied %s", applied);
	else
		andon_info("reload: no setting that can change while running has changed");
	if (kept[0] != '\0')
		andon_warn("reload: not reloaded, they need a restart: %s", kept);
	andon_config_destroy(fresh);
	return 0;
}

int main(int argc, char **argv)
{
	char errstr[512];
	args_t a = {argc, argv, andon_config_new()};
	andon_worker_t *w;
	int rc;

	if (a.cfg == NULL) {
		fprintf(stderr, "andon-worker: out of memory\n");
		return 1;
	}
	switch (parse_args(a.cfg, argc, argv, errstr, sizeof(errstr))) {
	case ARGS_OK:
		break;
	case ARGS_HELP:
		usage(stdout, argv[0]);
		andon_config_destroy(a.cfg);
		return 0;
	case ARGS_VERSION:
		andon_version_print(stdout, "andon-worker");
		printf("libmicrohttpd %s\n", MHD_get_version());
		andon_config_destroy(a.cfg);
		return 0;
	default:
		/* A bad setting says why; a bad flag (getopt said so) gets the usage. */
		if (errstr[0] != '\0')
			fprintf(stderr, "andon-worker: %s\n", errstr);
		else
			usage(stderr, argv[0]);
		andon_config_destroy(a.cfg);
		return 2;
	}
	andon_log_level = a.cfg->log_level;
	andon_log_format = a.cfg->log_format;

	andon_catch_stop(&run);
	andon_service_catch_reload(&hup);
	signal(SIGPIPE, SIG_IGN);

	if ((w = andon_worker_new(a.cfg, &run, errstr, sizeof(errstr))) == NULL) {
		andon_err("cannot start: %s", errstr);
		andon_config_destroy(a.cfg);
		return 1;
	}
	andon_worker_on_reload(w, &hup, reload, &a);
	rc = andon_worker_run(w);
	andon_worker_destroy(w);
	andon_config_destroy(a.cfg);
	andon_info("exit %d", rc == 0 ? 0 : 1);
	return rc == 0 ? 0 : 1;
}
