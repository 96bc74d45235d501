/* util: strict number parsing, clocks and small string helpers shared by every program. */
#ifndef ANDON_UTIL_H
#define ANDON_UTIL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/** Parses all of s as a base-10 integer in [min, max]; 0 on success, -1 otherwise (out untouched). */
int andon_parse_ll(const char *s, long long min, long long max, long long *out);

/** Parses "true/false/yes/no/1/0/on/off"; 0 on success, -1 otherwise. */
int andon_parse_bool(const char *s, int *out);

/** Monotonic clock in microseconds. */
int64_t andon_now_us(void);

/** Wall clock in milliseconds since the epoch. */
int64_t andon_wall_ms(void);

/** Writes a random RFC 4122 version-4 UUID (36 chars + NUL) into out[37]. */
void andon_uuid4(char out[37]);

/** Makes SIGINT and SIGTERM set *run to 0 (a program's "finish what is in hand, then exit"). */
/** Installs handler for sig with sigaction flags (e.g. SA_RESTART), an empty mask. */
void andon_catch_signal(int sig, void (*handler)(int), int flags);
void andon_catch_stop(volatile sig_atomic_t *run);

/** FNV-1a 64 of s[0..len), continuing from h (start with ANDON_HASH64_INIT): stable names derived from
 * request ids, not security. */
#define ANDON_HASH64_INIT 14695981039346656037ULL
uint64_t andon_hash64(uint64_t h, const void *s, size_t len);

/** snprintf into errstr, safe with errstr == NULL or errstr_size == 0; always returns -1. */
int andon_fail(char *errstr, size_t errstr_size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
