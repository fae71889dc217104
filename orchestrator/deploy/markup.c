/*
 * markup.c - XML escaping for the formats deploy/ writes (markup.h).
 *
 * The store's text is UTF-8 already (state/ sanitizes what it reads);
 * text from elsewhere is sanitized here first, so that no byte sequence
 * can make the document ill-formed.
 */
#include "markup.h"
#include "buf.h"
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

/* Writes valid UTF-8 s escaped; in an attribute, whitespace other than a space too. */
static void escape(FILE *out, const char *s, int attr)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '&')
            fputs("&amp;", out);
        else if (*p == '<')
            fputs("&lt;", out);
        else if (*p == '>')
            fputs("&gt;", out);
        else if (*p == '"')
            fputs("&quot;", out);
        else if (*p == '\'')
            fputs("&#39;", out);
        else if (attr && (*p == '\n' || *p == '\t' || *p == '\r'))
            fprintf(out, "&#%d;", *p);
        else if (*p < 0x20 && *p != '\n' && *p != '\t')
            fputs(UTF8_REPLACEMENT, out); /* not allowed in XML 1.0, nor as a reference */
        else if (p[0] == 0xEF && p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF)) {
            fputs(UTF8_REPLACEMENT, out); /* U+FFFE and U+FFFF: not characters */
            p += 2;
        } else
            fputc(*p, out);
    }
}

static void write_escaped(FILE *out, const char *s, int attr)
{
    if (!s)
        return;
    if (utf8_valid(s, strlen(s))) {
        escape(out, s, attr);
        return;
    }
    char *clean = utf8_sanitized(s);
    escape(out, clean, attr);
    free(clean);
}

void markup_text(FILE *out, const char *s)
{
    write_escaped(out, s, 0);
}

void markup_attr(FILE *out, const char *s)
{
    write_escaped(out, s, 1);
}
