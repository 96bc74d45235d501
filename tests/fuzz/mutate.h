/* mutate: a structure-aware libFuzzer mutator for msgpack requests; linking mutate.o into a target enables
 * it. */
#ifndef ANDON_FUZZ_MUTATE_H
#define ANDON_FUZZ_MUTATE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Why a mutator of its own: the request path's bugs hide behind consistent structure. A string must grow
 * past a limit while its msgpack length header stays right, and a name of 2,000 bytes must still count
 * as 80 characters (UTF-8 continuation bytes); byte flipping almost never produces either.
 *
 * Each call decodes data (falling back to libFuzzer's own mutation when it does not decode), picks one
 * node of the msgpack tree and applies one change: resize a string around one of the API limits
 * (ASCII, multibyte or continuation-byte fill), a run of continuation bytes after a lead byte, an
 * invalid UTF-8 sequence, a type swap, a map key duplicated, deleted or renamed to a known field name,
 * a known name or value put in, a deep nesting, an array or map grown to a count limit, a boundary
 * integer, or libFuzzer's byte mutation of that one string. The result is re-encoded within max_size.
 */

/** libFuzzer's hook: mutates data[0..size) in place (at most max_size bytes); returns the new size. */
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

/** libFuzzer's hook: one node of data1 replaced by a node of data2, written to out; returns its size. */
size_t LLVMFuzzerCustomCrossOver(const uint8_t *data1, size_t size1, const uint8_t *data2, size_t size2,
				 uint8_t *out, size_t max_out_size, unsigned int seed);

/** libFuzzer's own mutator, which the hooks fall back on (defined by libFuzzer). */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

#endif
