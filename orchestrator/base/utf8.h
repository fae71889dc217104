/*
 * utf8.h - text that goes to JSON or the audit store is valid UTF-8.
 *
 * Container output, health-check output, HTTP bodies and error messages
 * are foreign bytes: jansson refuses a string that is not UTF-8 (the
 * field comes out null, or the whole object is dropped), so every such
 * text is sanitized before it is stored, and every cut of it is made on a
 * character boundary.  "Valid" is RFC 3629: no overlong forms, no
 * surrogates (U+D800..U+DFFF), nothing above U+10FFFF; the same rule as
 * jansson's.
 */
#ifndef UTF8_H
#define UTF8_H

#include <stddef.h>

struct buf;

/* The replacement character U+FFFD, as UTF-8. */
#define UTF8_REPLACEMENT "\xEF\xBF\xBD"

/* Whether s[0..len) is valid UTF-8. */
int utf8_valid(const char *s, size_t len);
/*
 * Appends s[0..len) to out with each invalid sequence (a stray byte, a
 * truncated character, an overlong form, a surrogate, a code point above
 * U+10FFFF) replaced by one U+FFFD per maximal invalid subpart (as the
 * Unicode standard recommends); valid text is copied unchanged.
 */
void utf8_sanitize(struct buf *out, const char *s, size_t len);
/* s sanitized as a new C string (the caller frees); NULL stays NULL. */
char *utf8_sanitized(const char *s);
/*
 * The length of the longest prefix of s[0..len) of at most max bytes that
 * does not end inside a character: a cut there leaves no half character
 * (for "%.*s" and buf truncation).  Invalid bytes count as one character each.
 */
size_t utf8_cut_len(const char *s, size_t len, size_t max);
/*
 * Cuts b to at most max bytes on a character boundary, appending
 * ellipsis (may be NULL) when something was cut and there is room.
 */
void utf8_cut(struct buf *b, size_t max, const char *ellipsis);

#endif
