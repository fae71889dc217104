/*
 * state_tar.c - the little of the tar format the archive endpoints need:
 * writing regular files (POSIX ustar headers) and reading the regular
 * files of the daemon's answer (ustar or GNU; pax extended headers are
 * skipped: the daemon writes them only for long names or huge sizes,
 * which the state files never have).
 */
#include "state_volume.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAR_BLOCK 512

/* Writes value as an octal field of width bytes (width - 1 digits and a NUL). */
static void tar_octal(char *field, size_t width, unsigned long long value)
{
    snprintf(field, width, "%0*llo", (int)(width - 1), value);
}

void state_tar_add(struct buf *tar, const char *name, const void *data, size_t len, double mtime)
{
    char h[TAR_BLOCK] = {0};
    unsigned sum = 0;

    snprintf(h, 100, "%s", name);
    tar_octal(h + 100, 8, 0600);
    tar_octal(h + 108, 8, 0);
    tar_octal(h + 116, 8, 0);
    tar_octal(h + 124, 12, len);
    tar_octal(h + 136, 12, mtime > 0 ? (unsigned long long)mtime : 0);
    memset(h + 148, ' ', 8);
    h[156] = '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    for (size_t i = 0; i < TAR_BLOCK; i++)
        sum += (unsigned char)h[i];
    snprintf(h + 148, 8, "%06o", sum);
    buf_add(tar, h, TAR_BLOCK);
    buf_add(tar, data, len);
    size_t pad = (TAR_BLOCK - len % TAR_BLOCK) % TAR_BLOCK;
    static const char zeros[TAR_BLOCK];
    buf_add(tar, zeros, pad);
}

void state_tar_end(struct buf *tar)
{
    static const char zeros[2 * TAR_BLOCK];
    buf_add(tar, zeros, sizeof(zeros));
}

/* The value of an octal field; -1 when it holds something else. */
static long long tar_field(const char *f, size_t width)
{
    long long v = 0;
    size_t i = 0;
    while (i < width && f[i] == ' ')
        i++;
    for (; i < width && f[i] >= '0' && f[i] <= '7'; i++)
        v = v * 8 + (f[i] - '0');
    if (i < width && f[i] != ' ' && f[i] != '\0')
        return -1;
    return v;
}

int state_tar_each(const struct buf *tar,
                   int (*fn)(void *ctx, const char *name, const char *data, size_t len), void *ctx,
                   struct tt_err *err)
{
    size_t off = 0;
    while (off + TAR_BLOCK <= tar->len) {
        const char *h = tar->data + off;
        char name[260];
        if (!h[0]) /* the end: a zero block */
            return 0;
        long long size = tar_field(h + 124, 12);
        if (size < 0 || (unsigned long long)size > tar->len - off - TAR_BLOCK)
            return tt_error(err,
                            "the engine's archive is cut or damaged at offset %zu (entry "
                            "\"%.100s\")",
                            off, h);
        if (h[345] && !memcmp(h + 257, "ustar", 5))
            snprintf(name, sizeof(name), "%.155s/%.100s", h + 345, h);
        else
            snprintf(name, sizeof(name), "%.100s", h);
        char type = h[156];
        if ((type == '0' || type == '\0') && fn(ctx, name, h + TAR_BLOCK, (size_t)size) < 0)
            return -1;
        off += TAR_BLOCK + ((size_t)size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
    }
    return 0;
}
