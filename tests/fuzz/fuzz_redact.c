/*
 * fuzz_redact.c - libFuzzer target for redaction (adapters/redact.h).
 *
 * The input is MODE PASSWORD '\n' SHAPE.  The password is written into a
 * URL or connection string the way MODE says (%-encoded fully or
 * minimally, in ?password=, quoted and backslash-escaped in a conninfo, in
 * an http URL), SHAPE (lowercased) filling the rest.  Whenever the parsers
 * read back exactly that password, and it holds a letter G-Z (which the
 * lowercase rest cannot produce, even as %XX), the redacted text must hold
 * no letter G-Z: no byte of the password is left.  Also, on the raw input,
 * redact_text() must leave no raw occurrence of the password outside its
 * REDACTED marks.  Nothing may crash, leak or overflow (ASan, UBSan).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "redact.h"

static void add_encoded(struct buf *b, const char *s, int all)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                   (*p >= '0' && *p <= '9') || strchr("-._~", *p) ||
                   (!all && strchr("!$&()*+,;=:", *p));
        if (keep)
            buf_addc(b, (char)*p);
        else
            buf_printf(b, "%%%02X", *p);
    }
}

static void add_escaped(struct buf *b, const char *s)
{
    for (const char *p = s; *p; p++) {
        if (*p == '\'' || *p == '\\')
            buf_addc(b, '\\');
        buf_addc(b, *p);
    }
}

static int has_gz(const char *s)
{
    for (; *s; s++)
        if (*s >= 'G' && *s <= 'Z')
            return 1;
    return 0;
}

/* The text written with mode; the caller frees. */
static char *compose(int mode, const char *pw, const char *shape)
{
    struct buf b = {0};
    switch (mode % 5) {
    case 0:
    case 1:
        buf_adds(&b, "postgresql://u:");
        add_encoded(&b, pw, mode % 5 == 0);
        buf_printf(&b, "@%s", shape);
        break;
    case 2:
        buf_adds(&b, "http://u:");
        add_encoded(&b, pw, 1);
        buf_printf(&b, "@%s", shape);
        break;
    case 3:
        buf_adds(&b, "user=u password='");
        add_escaped(&b, pw);
        buf_printf(&b, "' %s", shape);
        break;
    default:
        buf_printf(&b, "postgresql://u@h/%s?password=", shape);
        add_encoded(&b, pw, 1);
        break;
    }
    return buf_detach(&b);
}

/* Fails (abort) when out, its REDACTED marks taken out, still holds pw raw. */
static void no_raw(const char *out, const char *pw)
{
    struct buf b = {0};
    for (const char *p = out; *p;) {
        if (!strncmp(p, REDACTED, strlen(REDACTED))) {
            buf_addc(&b, '\x01');
            p += strlen(REDACTED);
        } else {
            buf_addc(&b, *p++);
        }
    }
    if (pw[0] && !strchr(pw, '\x01') && b.data && strstr(b.data, pw))
        abort();
    buf_release(&b);
}

static int hex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* s without letters G-Z, not even %-encoded ones (a parser decodes them back to G-Z). */
static void lowercase(char *s)
{
    for (char *p = s; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    for (char *p = s; *p; p++)
        if (p[0] == '%' && hex(p[1]) >= 0 && hex(p[2]) >= 0 && hex(p[1]) * 16 + hex(p[2]) >= 'G' &&
            hex(p[1]) * 16 + hex(p[2]) <= 'Z')
            p[0] = '_';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *all = xstrndup((const char *)data + 1, size - 1); /* cut at a NUL */
    char *nl = strchr(all, '\n');
    char *pw = xstrndup(all, nl ? (size_t)(nl - all) : strlen(all));
    char *shape = xstrdup(nl ? nl + 1 : "h/db");
    lowercase(shape);
    char *text = compose(data[0], pw, shape);
    char *got = redact_password_of(text);
    char *out = data[0] % 5 == 3 ? redact_conninfo(text) : redact_url(text);
    if (got && !strcmp(got, pw) && has_gz(pw) && has_gz(out))
        abort(); /* a byte of the password was left */
    free(out);
    free(got);

    const char *secrets[] = {pw, NULL};
    char *said = redact_text(all, secrets);
    no_raw(said, pw);
    free(said);
    free(text);
    free(shape);
    free(pw);
    free(all);
    return 0;
}
