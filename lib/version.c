/* version: what --version prints. */
#include "version.h"

#include <hiredis.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <msgpack.h>

void andon_version_print(FILE *out, const char *program)
{
	fprintf(out, "%s %s\n", program, ANDON_VERSION);
	fprintf(out, "librdkafka %s, hiredis %d.%d.%d, msgpack-c %s, jansson %s\n", rd_kafka_version_str(),
		HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH, msgpack_version(), JANSSON_VERSION);
}
