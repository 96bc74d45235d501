/* andon-worker: consumes stop/cancel/terminate requests from Kafka and applies them in Redis. */
#include "config.h"
#include "log.h"
#include "util.h"
#include "worker.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t run = 1;

static void usage(const char *argv0)
{
	fprintf(stderr,
		"Usage: %s [-c FILE] [-b BROKERS] [-X kafka.prop=value] [-o option=value] [-v|-q]\n"
		"  -c FILE   read settings from FILE (key=value; see config/andon.conf)\n"
		"  -b LIST   Kafka bootstrap servers (bootstrap.servers)\n"
		"  -X K=V    librdkafka property, passed through as is (repeatable)\n"
		"  -o K=V    any Andon setting, e.g. -o redis.port=6380 (repeatable, after -c)\n"
		"  -v, -q    more (debug) or less (warnings only) logging\n",
		argv0);
}

int main(int argc, char **argv)
{
	char errstr[512], kv[4096];
	andon_config_t *cfg = andon_config_new();
	andon_worker_t *w;
	int opt, rc;

	if (cfg == NULL) {
		fprintf(stderr, "andon-worker: out of memory\n");
		return 1;
	}
	/* Settings apply in command-line order, so -o after -c overrides the file. */
	while ((opt = getopt(argc, argv, "c:b:X:o:vqh")) != -1) {
		const char *eq;

		errstr[0] = '\0';
		switch (opt) {
		case 'c':
			rc = andon_config_load(cfg, optarg, errstr, sizeof(errstr));
			break;
		case 'b':
			if ((size_t)snprintf(kv, sizeof(kv), "bootstrap.servers=%s", optarg) >= sizeof(kv)) {
				snprintf(errstr, sizeof(errstr), "-b: broker list too long");
				rc = -1;
				break;
			}
			rc = andon_config_kafka(cfg, kv, errstr, sizeof(errstr));
			break;
		case 'X':
			rc = andon_config_kafka(cfg, optarg, errstr, sizeof(errstr));
			break;
		case 'o':
			if ((eq = strchr(optarg, '=')) == NULL || eq == optarg) {
				snprintf(errstr, sizeof(errstr), "-o expects option=value, got \"%s\"",
					 optarg);
				rc = -1;
				break;
			}
			if ((size_t)(eq - optarg) >= sizeof(kv)) {
				snprintf(errstr, sizeof(errstr), "-o: option name too long");
				rc = -1;
				break;
			}
			snprintf(kv, sizeof(kv), "%.*s", (int)(eq - optarg), optarg);
			rc = andon_config_set(cfg, kv, eq + 1, errstr, sizeof(errstr));
			break;
		case 'v':
			rc = andon_config_set(cfg, "worker.log_level", "debug", errstr, sizeof(errstr));
			break;
		case 'q':
			rc = andon_config_set(cfg, "worker.log_level", "warn", errstr, sizeof(errstr));
			break;
		default:
			usage(argv[0]);
			andon_config_destroy(cfg);
			return opt == 'h' ? 0 : 2;
		}
		if (rc != 0) {
			fprintf(stderr, "andon-worker: %s\n", errstr);
			andon_config_destroy(cfg);
			return 2;
		}
	}
	if (optind != argc) {
		usage(argv[0]);
		andon_config_destroy(cfg);
		return 2;
	}
	andon_log_level = cfg->log_level;

	andon_catch_stop(&run);
	signal(SIGPIPE, SIG_IGN);

	if ((w = andon_worker_new(cfg, &run, errstr, sizeof(errstr))) == NULL) {
		andon_err("cannot start: %s", errstr);
		andon_config_destroy(cfg);
		return 1;
	}
	rc = andon_worker_run(w);
	andon_worker_destroy(w);
	andon_config_destroy(cfg);
	andon_info("exit %d", rc == 0 ? 0 : 1);
	return rc == 0 ? 0 : 1;
}
