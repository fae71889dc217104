/*
 * compose_values.c - the small languages inside Compose values: durations
 * ("1m30s", as Go writes them), byte sizes ("512m", "2G") and the shell
 * words of a command given as one string.
 */
#include "compose.h"
#include "buf.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int compose_parse_duration(const char *s, compose_ns *out)
{
    static const struct {
        const char *unit;
        double ns;
    } units[] = {{"ns", 1},  {"us", 1e3}, {"µs", 1e3},   {"ms", 1e6},
                 {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}, {"d", 86400e9}};
    double total = 0;
    const char *p = s;

    if (!s || !*s)
        return -1;
    while (*p) {
        char *end;
        if (!isdigit((unsigned char)*p) && *p != '.')
            return -1;
        if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
            return -1; /* strtod would read hexadecimal */
        errno = 0;
        double v = strtod(p, &end);
        if (end == p)
            return -1;
        if (errno)
            return -2;
        p = end;
        size_t best = 0, bestlen = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t l = strlen(units[i].unit);
            if (strncmp(p, units[i].unit, l) == 0 && l > bestlen) {
                best = i;
                bestlen = l;
            }
        }
        if (bestlen == 0)
            return -1;
        total += v * units[best].ns;
        p += bestlen;
    }
    if (!(total <= (double)COMPOSE_MAX_DURATION_NS))
        return -2; /* llround of more would not fit */
    *out = (compose_ns)llround(total);
    return 0;
}

void compose_format_duration(compose_ns ns, char *buf, size_t n)
{
    struct buf b = {0};
    if (ns == 0) {
        snprintf(buf, n, "0s");
        return;
    }
    if (ns < 1000000000LL) {
        if (ns % 1000000 == 0)
            snprintf(buf, n, "%lldms", ns / 1000000);
        else if (ns % 1000 == 0)
            snprintf(buf, n, "%lldus", ns / 1000);
        else
            snprintf(buf, n, "%lldns", ns);
        return;
    }
    long long h = ns / 3600000000000LL, rest = ns % 3600000000000LL;
    long long m = rest / 60000000000LL;
    rest %= 60000000000LL;
    if (h)
        buf_printf(&b, "%lldh", h);
    if (h || m)
        buf_printf(&b, "%lldm", m);
    if (rest % 1000000000LL == 0) {
        buf_printf(&b, "%llds", rest / 1000000000LL);
    } else {
        char frac[16];
        snprintf(frac, sizeof(frac), "%09lld", rest % 1000000000LL);
        size_t l = strlen(frac);
        while (l && frac[l - 1] == '0')
            frac[--l] = '\0';
        buf_printf(&b, "%lld.%ss", rest / 1000000000LL, frac);
    }
    snprintf(buf, n, "%s", b.data);
    buf_release(&b);
}

int compose_parse_bytes(const char *s, long long *out)
{
    char *end;
    double v;

    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (end == s || (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')))
        return -1;
    if (errno)
        return -2;
    double mult = 1;
    char u = (char)tolower((unsigned char)*end);
    if (u == 'b' && end[1] == '\0') {
        end++;
    } else if (u == 'k' || u == 'm' || u == 'g' || u == 't') {
        mult = u == 'k' ? 1024.0 : u == 'm' ? 1048576.0 : u == 'g' ? 1073741824.0 : 1099511627776.0;
        end++;
        if (tolower((unsigned char)*end) == 'i' && tolower((unsigned char)end[1]) == 'b')
            end += 2;
        else if (tolower((unsigned char)*end) == 'b')
            end++;
    }
    if (*end != '\0')
        return -1;
    if (!isfinite(v) || !(v * mult <= (double)COMPOSE_MAX_BYTES))
        return -2; /* llround of more would not fit */
    *out = (long long)llround(v * mult);
    return 0;
}

int compose_parse_cpus(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || (!isdigit((unsigned char)*s) && *s != '.') ||
        (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')))
        return -1; /* "nan", "inf", "-1", "0x1p4": not the decimal number Compose means */
    if (errno || !isfinite(v) || v <= 0 || v > COMPOSE_MAX_CPUS)
        return -2;
    *out = v;
    return 0;
}

int compose_split_words(const char *s, struct strv *out)
{
    struct buf w = {0};
    int in_word = 0;

    for (const char *p = s; *p; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n') {
            if (in_word)
                strv_push_owned(out, buf_detach(&w));
            in_word = 0;
            continue;
        }
        in_word = 1;
        if (*p == '\'') {
            const char *q = strchr(p + 1, '\'');
            if (!q) {
                buf_release(&w);
                return -1;
            }
            buf_add(&w, p + 1, (size_t)(q - p - 1));
            p = q;
        } else if (*p == '"') {
            for (p++; *p && *p != '"'; p++) {
                if (*p == '\\' && (p[1] == '"' || p[1] == '\\' || p[1] == '$' || p[1] == '`'))
                    p++;
                buf_addc(&w, *p);
            }
            if (!*p) {
                buf_release(&w);
                return -1;
            }
        } else if (*p == '\\' && p[1]) {
            buf_addc(&w, *++p);
        } else {
            buf_addc(&w, *p);
        }
    }
    if (in_word)
        strv_push_owned(out, buf_detach(&w));
    buf_release(&w);
    return 0;
}
