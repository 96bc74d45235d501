/* config: the worker's settings, one table row per option (config/andon.conf documents each). */
#ifndef ANDON_CONFIG_H
#define ANDON_CONFIG_H

#include <stddef.h>

#define ANDON_CONFIG_MAX_KAFKA 128

/* worker.exactly_once: false, true, auto. */
enum { ANDON_EOS_OFF = 0, ANDON_EOS_ON = 1, ANDON_EOS_AUTO = 2 };

/* security.auth: off, required. */
enum { ANDON_AUTH_OFF = 0, ANDON_AUTH_REQUIRED = 1 };

typedef struct andon_config {
	/* Redis: TCP host/port unless unix is set. */
	char redis_host[256];
	int redis_port;
	char redis_unix[256];
	char redis_username[128];
	char redis_password[256];
	int redis_db;
	int redis_timeout_ms; /* connect and per-read timeout */
	/* Cluster and failover (worker/redis_route.h): at most one of cluster and sentinels is set. */
	char redis_cluster[1024];	 /* seed nodes "host:port,...": Redis Cluster mode */
	char redis_sentinels[1024];	 /* sentinels "host:port,...": the primary is asked of them */
	char redis_sentinel_master[128]; /* the primary's name known to the sentinels */
	int redis_wait_replicas;	 /* WAIT for this many replicas after each pipeline; 0: no WAIT */
	int redis_wait_timeout_ms;	 /* WAIT's timeout */

	/* Topics. */
	char topic_requests[256];
	char topic_replies[256]; /* used when a request has no replyTo */
	char topic_events[256];
	char topic_dlq[256];

	/* Worker behaviour. */
	int batch_size;		 /* messages per poll, all pipelined to Redis in one go */
	int inflight_max;	 /* messages whose replies are not yet acknowledged before polling pauses */
	int max_message_bytes;	 /* larger requests are answered EntityTooLarge */
	int max_depth;		 /* msgpack nesting limit */
	int poll_ms;		 /* how long one poll waits for a batch */
	int tick_ms;		 /* period of the worker's cron */
	int timer_batch;	 /* durable deadlines fired per tick at most */
	int timer_lease_ms;	 /* a claimed deadline is due again after this, unless acknowledged */
	int shutdown_timeout_ms; /* how long a shutdown waits for Redis/Kafka before giving up */
	int log_level;
	int stats_interval_ms; /* 0 disables the periodic stats line */
	int quarantine_after;  /* starts finding one offset in flight before it is dead-lettered; 0 = off */
	char region[64];
	char default_account[64]; /* account of requests that carry none */
	int legacy_topic_names;	  /* 1: default per-domain/per-pipeline topics without the account */
	int request_id_ttl;	  /* seconds a request id's record (id -> fingerprint) is kept */

	/* CloudFlow: token bucket per (caller account, flow) for StopExecution (docs/cloudflow.md). */
	int cloudflow_rate;  /* requests per second refilled; 0 = unlimited */
	int cloudflow_burst; /* bucket size in requests; 0 = cloudflow_rate (one second's worth) */
	/* ... and one per caller account across all its flows, checked beside it. */
	int cloudflow_account_rate;  /* requests per second; 0 = unlimited */
	int cloudflow_account_burst; /* 0 = cloudflow_account_rate */

	/* Topics the worker creates when they are missing (topics.h). */
	int topics_create;		/* 0: never; missing topics are the cluster's business */
	int topics_partitions;		/* partitions of a created topic; -1: the broker's num.partitions */
	int topics_replication_factor;	/* -1: the broker's default.replication.factor */
	int topics_min_insync_replicas; /* 0: the broker's min.insync.replicas */

	/* Static consumer-group membership: librdkafka's group.instance.id; empty: dynamic membership. */
	char instance_id[250];

	/* Observability (docs/OPERATIONS.md). */
	char http_listen[256]; /* host:port serving /metrics, /healthz and /readyz; empty: no HTTP server */
	int health_stall_ms;   /* /healthz answers 503 once the main loop has not turned for this long */
	int metrics_scan_ms;   /* period of the Redis queries behind the timer and Stopping gauges */
	int log_format;	       /* ANDON_LOG_TEXT or ANDON_LOG_JSON (log.h) */
	/* Exactly-once outputs (txn.h): Kafka transactions around every batch. */
	int exactly_once; /* ANDON_EOS_OFF, ANDON_EOS_ON, or ANDON_EOS_AUTO: on unless the broker lacks them
			   */
	char transactional_id[250]; /* empty: derived from group.id and instance_id (txn.h) */
	int transaction_ms;	    /* longest a transaction stays open while requests keep coming */

	/* Durable timers: deadlines are spread over this many sorted sets (docs/REDIS.md, durable timers). */
	int timer_shards;
	/* Retention, seconds: a closed execution of each API expires this long after it closed, and a request
	 * whose Kafka timestamp is older is refused with RequestExpired (docs/REDIS.md, Lifetime). SWF: the
	 * domain's workflowExecutionRetentionPeriodInDays when it gave one, else retention_swf. */
	int retention_sfn;
	int retention_sagemaker;
	int retention_cloudflow;
	int retention_swf;
	/* Identity and access (docs/OPERATIONS.md, "Access keys"; worker/auth.h). */
	int auth; /* ANDON_AUTH_OFF: trusted producers; ANDON_AUTH_REQUIRED: signed requests only */
	char master_key_file[1024]; /* the master key that seals access key secrets in Redis */
	int key_cache_ms;      /* a key record is read from Redis again after this (disable/rotate bound) */
	int max_request_age_s; /* a signing date older than this is refused; 0: no limit (see auth.h) */
	int kms_rate;	       /* uses of customer keys a second per worker (kms.h); 0: unlimited */

	/* kafka.* settings, "key=value" each, applied in order to the consumer and the producer. */
	char *kafka[ANDON_CONFIG_MAX_KAFKA];
	size_t kafka_count;
} andon_config_t;

/** A config holding every default. NULL when out of memory. */
andon_config_t *andon_config_new(void);
void andon_config_destroy(andon_config_t *cfg);

/** Sets one option ("redis.port", "kafka.linger.ms", ...). 0, or -1 with a reason. */
int andon_config_set(andon_config_t *cfg, const char *key, const char *value, char *errstr,
		     size_t errstr_size);

/**
 * Parses a duration: a decimal count and one unit, s, m, h or d ("60s", "90d"), into seconds. 0, or -1
 * when s is anything else (no sign, no space, no fraction, no missing unit).
 */
int andon_config_duration(const char *s, long long *secs);

/** Reads a key=value file. 0, or -1 with "file:line: reason". */
int andon_config_load(andon_config_t *cfg, const char *path, char *errstr, size_t errstr_size);

/** Adds a librdkafka property ("key=value") given without the kafka. prefix (-X). */
int andon_config_kafka(andon_config_t *cfg, const char *kv, char *errstr, size_t errstr_size);

/**
 * A reload (SIGHUP): copies into live the options that fresh (the same settings read again) changes and
 * that can change while the worker runs (log level and format, limits, throttle rates, periods: the
 * "reload" column of the table in config.c). Writes "name=value, ..." of what it applied to applied, and
 * the names of the options that differ but need a restart to kept ("kafka.*" for any librdkafka
 * property); both are "" when there is nothing to say. Returns the number of options applied.
 */
int andon_config_reload(andon_config_t *live, const andon_config_t *fresh, char *applied, size_t applied_size,
			char *kept, size_t kept_size);

#endif
