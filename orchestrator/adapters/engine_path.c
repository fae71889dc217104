/*
 * engine_path.c - Engine API paths made safe: each segment a caller puts
 * in (a container's name, an image reference) percent-encoded, so a name
 * can never add a segment, a query or a "..".  No I/O here.
 */
#include "engine.h"

#include <assert.h>
#include <stdarg.h>
#include <string.h>

/* Percent-encodes s; dots too when encode_dots (a path segment of only dots). */
static void percent_encode(const char *s, int encode_dots, struct buf *out)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || (*p == '.' && !encode_dots) || *p == '~') {
            buf_addc(out, (char)*p);
        } else {
            buf_addc(out, '%');
            buf_addc(out, hex[*p >> 4]);
            buf_addc(out, hex[*p & 15]);
        }
    }
}

void engine_urlencode(const char *s, struct buf *out)
{
    percent_encode(s, 0, out);
}

void engine_pathf(struct buf *out, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            buf_addc(out, *p);
            continue;
        }
        p++;
        assert(*p == 's' || *p == '%'); /* the only conversions a path needs */
        if (*p == '%') {
            buf_addc(out, '%');
            continue;
        }
        const char *seg = va_arg(ap, const char *);
        /* libcurl would resolve a "." or ".." segment; encoded, it stays a name */
        percent_encode(seg ? seg : "", seg && *seg && !seg[strspn(seg, ".")], out);
    }
    va_end(ap);
}
