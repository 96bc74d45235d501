/* version: the release of Andon every program reports with --version, and the libraries it runs with. */
#ifndef ANDON_VERSION_H
#define ANDON_VERSION_H

#include <stdio.h>

/* Semantic version of this tree; the man pages' headers (docs/man/) name the same. */
#define ANDON_VERSION "0.1.0"

/* getopt_long value of --version in every program (beyond any character a short option uses). */
#define ANDON_OPT_VERSION 0x100

/**
 * Prints "<program> <version>" and, on a second line, the versions of the libraries every program links
 * (librdkafka as loaded at run time, hiredis, msgpack-c and jansson as built against) to out.
 */
void andon_version_print(FILE *out, const char *program);

#endif
