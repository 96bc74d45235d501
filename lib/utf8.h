/* utf8: strict UTF-8 validation and character counting for text fields (RFC 3629). */
#ifndef ANDON_UTF8_H
#define ANDON_UTF8_H

#include <stddef.h>

/**
 * Checks that s[0..len) is well-formed UTF-8: no stray continuation byte, no overlong form, no surrogate
 * (U+D800-U+DFFF), nothing above U+10FFFF, no sequence cut short. Returns 0 with the number of characters
 * in *chars (may be NULL), or -1 with the offset of the first bad byte in *bad (may be NULL).
 */
int andon_utf8_count(const char *s, size_t len, size_t *chars, size_t *bad);

/** True when s[0..len) is well-formed UTF-8. */
int andon_utf8_valid(const char *s, size_t len);

/**
 * The length of the longest prefix of s[0..len) that does not end inside a sequence: a text cut at a byte
 * limit (a formatted message) is cut back to a character boundary with this.
 */
size_t andon_utf8_boundary(const char *s, size_t len);

/**
 * Writes s[0..len) as valid UTF-8 into out: well-formed sequences as they are, every other byte as the four
 * characters \xNN. Returns the length written; out may be NULL to measure. At most 4 * len bytes.
 */
size_t andon_utf8_escape(const char *s, size_t len, char *out);

#endif
