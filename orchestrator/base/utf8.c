/*
 * utf8.c - validating, sanitizing and cutting UTF-8 (see utf8.h).
 *
 * One decoder step, unit(), reads either one valid character or one
 * maximal invalid subpart (the longest start of a well-formed sequence,
 * at least one byte); validating, sanitizing and cutting all walk the
 * text unit by unit, so they agree on where characters begin.
 */
#include "utf8.h"
#include "buf.h"

#include <string.h>

/*
 * The length of the unit at s (n > 0 bytes left): *valid says whether it
 * is a well-formed character (1..4 bytes) or an invalid subpart.
 */
static size_t unit(const unsigned char *s, size_t n, int *valid)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t need;

    *valid = 1;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80; /* E0 80..9F would be overlong */
        hi = c == 0xED ? 0x9F : 0xBF; /* ED A0..BF would be a surrogate */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        lo = c == 0xF0 ? 0x90 : 0x80; /* F0 80..8F would be overlong */
        hi = c == 0xF4 ? 0x8F : 0xBF; /* F4 90.. would be above U+10FFFF */
    } else {
        *valid = 0; /* a continuation byte, C0, C1 or F5..FF */
        return 1;
    }
    for (size_t i = 1; i < need; i++) {
        unsigned char b = i < n ? s[i] : 0;
        if (i >= n || b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xBF)) {
            *valid = 0;
            return i;
        }
    }
    return need;
}

int utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    int valid = 1;
    for (size_t i = 0; i < len && valid; i += unit(p + i, len - i, &valid))
        ;
    return valid;
}

void utf8_sanitize(struct buf *out, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0; /* run: the start of the valid bytes not yet copied */
    int valid;

    buf_grow(out, len);
    while (i < len) {
        size_t n = unit(p + i, len - i, &valid);
        if (!valid) {
            buf_add(out, s + run, i - run);
            buf_adds(out, UTF8_REPLACEMENT);
            run = i + n;
        }
        i += n;
    }
    buf_add(out, s + run, len - run);
}

char *utf8_sanitized(const char *s)
{
    struct buf b = {0};
    if (!s)
        return NULL;
    utf8_sanitize(&b, s, strlen(s));
    return buf_detach(&b); /* "" for an empty string */
}

size_t utf8_cut_len(const char *s, size_t len, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    int valid;

    if (len <= max)
        return len;
    while (i < max) {
        size_t n = unit(p + i, len - i, &valid);
        if (i + n > max)
            break;
        i += n;
    }
    return i;
}

void utf8_cut(struct buf *b, size_t max, const char *ellipsis)
{
    size_t extra = ellipsis ? strlen(ellipsis) : 0;
    if (b->len <= max)
        return;
    if (extra > max)
        extra = 0;
    b->len = utf8_cut_len(b->data, b->len, max - extra);
    b->data[b->len] = '\0';
    if (extra)
        buf_adds(b, ellipsis);
}
