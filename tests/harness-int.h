/* harness-int: what the harness's own files share of its process plumbing (harness.c) and of its Redis
 * setups (harness-redis.c). Tests include harness.h, not this. */
#ifndef ANDON_HARNESS_INT_H
#define ANDON_HARNESS_INT_H

#include <hiredis.h>
#include <stdarg.h>
#include <sys/types.h>

/* harness.c */

/** Forks and execs argv[0] with stderr (and stdout, unless out_fd >= 0) appended to log; its pid. */
pid_t h_spawn(char *const argv[], const char *log, int out_fd);
/** Reaps pid within timeout_ms: its wait status, or -1 when it is still running. */
int h_reap(pid_t pid, int timeout_ms);
/** Sends sig to *pid, reaps it (SIGKILL after 20 s) and sets *pid to 0; nothing when *pid is 0. */
void h_kill_reap(pid_t *pid, int sig);
/** A loopback port the kernel just gave out and took back. */
int h_free_port(void);
/** Redis's appendfsync policy for the servers the harness starts. */
const char *h_appendfsync(void);

/* harness-redis.c: Redis Cluster and Sentinel setups. */

/** Reads ANDON_REDIS (cluster, cluster3, or anything else: one Redis); before anything is started. */
void hr_init(void);
/** Starts the cluster's nodes and creates the cluster; aborts the test on failure. */
void hr_cluster_start(void);
/** Stops every cluster node. */
void hr_cluster_stop(void);
/** A command on the node that owns its key (follows MOVED and ASK); NULL when no node answered. */
redisReply *hr_cluster_vcommand(const char *fmt, va_list ap);
/** Stops the sentinels and the replica of h_sentinel_start(), if any. */
void hr_sentinel_stop(void);

#endif
