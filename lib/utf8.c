/* utf8: strict UTF-8 validation and character counting for text fields (RFC 3629). */
#include "utf8.h"

#include <stdint.h>

/*
 * The length of the well-formed sequence starting at s[i], or 0 when none starts there. The second byte's
 * range depends on the lead byte (RFC 3629 section 4): that is what rules out overlong forms, surrogates
 * and code points above U+10FFFF.
 */
static size_t seq_len(const unsigned char *s, size_t i, size_t len)
{
	unsigned char c = s[i], lo = 0x80, hi = 0xbf;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (len - i < n || s[i + 1] < lo || s[i + 1] > hi)
		return 0;
	for (size_t k = 2; k < n; k++)
		if ((s[i + k] & 0xc0) != 0x80)
			return 0;
	return n;
}

int andon_utf8_count(const char *s, size_t len, size_t *chars, size_t *bad)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0, i = 0, k;

	while (i < len) {
		/* ASCII runs are the common case: no table lookups for them. */
		if (p[i] < 0x80) {
			i++;
			n++;
			continue;
		}
		if ((k = seq_len(p, i, len)) == 0) {
			if (bad != NULL)
				*bad = i;
			return -1;
		}
		i += k;
		n++;
	}
	if (chars != NULL)
		*chars = n;
	return 0;
}

int andon_utf8_valid(const char *s, size_t len)
{
	return andon_utf8_count(s, len, NULL, NULL) == 0;
}

size_t andon_utf8_boundary(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = len, back = 0;

	/* Step back over at most 3 continuation bytes to the lead byte of the last sequence. */
	while (i > 0 && back < 4 && (p[i - 1] & 0xc0) == 0x80) {
		i--;
		back++;
	}
	if (i == 0 || p[i - 1] < 0x80)
		return len;
	return seq_len(p, i - 1, len) == back + 1 ? len : i - 1;
}

size_t andon_utf8_escape(const char *s, size_t len, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0, k;

	while (i < len) {
		if ((k = seq_len(p, i, len)) > 0) {
			if (out != NULL)
				for (size_t j = 0; j < k; j++)
					out[o + j] = (char)p[i + j];
			o += k;
			i += k;
			continue;
		}
		if (out != NULL) {
			out[o] = '\\';
			out[o + 1] = 'x';
			out[o + 2] = hex[p[i] >> 4];
			out[o + 3] = hex[p[i] & 15];
		}
		o += 4;
		i++;
	}
	return o;
}
