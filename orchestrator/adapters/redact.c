/*
 * redact.c - passwords out of URLs, connection strings and messages, by
 * parsing.
 *
 * A URL is parsed by the parser its user parses it with: a postgres://
 * URL by libpq's PQconninfoParse (which, unlike a generic URL parser,
 * takes a raw '?' or '#' in the password, and a ?password= option), any
 * other by libcurl's URL API.  The result is rebuilt from the parsed
 * parts with REDACTED for the password, so no byte of the password's
 * text is copied through, however it was written (%-encoded, quoted,
 * escaped).  Input that does not parse is not shown at all: a parser that
 * gave up cannot say where the password was.  Input whose parse has no
 * password is returned as it is (the parser found no secret in it).
 *
 * redact_text() is for messages that quote a password in some form (a
 * libpq error quoting its connection string, pg_dump's stderr): each
 * secret is matched byte by byte, every byte raw, %XX (either case),
 * backslash-escaped or (a space) '+'.  The match is a small dynamic
 * programme over the offsets the secret's prefix can end at, so mixed
 * forms ("p%40ss", "p\'ss") are found in one pass, in time linear in the
 * text for any ordinary secret.
 */
#include "redact.h"
#include "buf.h"
#include "sha256.h"

#include <curl/curl.h>
#include <libpq-fe.h>

#include <stdlib.h>
#include <string.h>

#define NOT_SHOWN_URL "<a url that does not parse: not shown>"
#define NOT_SHOWN_CONNINFO "<a connection string that does not parse: not shown>"

/* ---- matching a known secret in a text ----------------------------------- */

/*
 * The lengths at which text t (n bytes) can hold secret byte c at offset
 * o, by each form; each into add[] (at most 4), returned as a count.
 */
static int forms_at(const unsigned char *t, size_t n, size_t o, unsigned char c, size_t add[4])
{
    int k = 0;
    if (o < n && t[o] == c)
        add[k++] = 1;
    if (o < n && c == ' ' && t[o] == '+')
        add[k++] = 1;
    if (o + 2 < n && t[o] == '%' && hex_digit_value(t[o + 1]) >= 0 &&
        hex_digit_value(t[o + 2]) >= 0 &&
        hex_digit_value(t[o + 1]) * 16 + hex_digit_value(t[o + 2]) == c)
        add[k++] = 3;
    if (o + 1 < n && t[o] == '\\' && t[o + 1] == c)
        add[k++] = 2;
    return k;
}

/*
 * The length of the longest form of secret s (sn bytes) at the start of t
 * (n bytes), 0 when there is none.  reach[] (3 * sn + 2 bytes, zeroed by
 * the caller and left zeroed) marks the offsets the bytes matched so far
 * can end at.
 */
static size_t match_at(const unsigned char *t, size_t n, const unsigned char *s, size_t sn,
                       unsigned char *reach)
{
    size_t lo = 0, hi = 0, add[4];
    reach[0] = 1;
    for (size_t i = 0; i < sn; i++) {
        size_t nlo = (size_t)-1, nhi = 0;
        /* offsets only grow, so walking down lets reach[] be updated in place */
        for (size_t o = hi + 1; o-- > lo;) {
            if (!reach[o])
                continue;
            reach[o] = 0;
            int k = forms_at(t, n, o, s[i], add);
            for (int j = 0; j < k; j++) {
                reach[o + add[j]] = 2; /* 2: reached at this byte, not yet walked */
                nlo = o + add[j] < nlo ? o + add[j] : nlo;
                nhi = o + add[j] > nhi ? o + add[j] : nhi;
            }
        }
        if (nlo == (size_t)-1)
            return 0;
        lo = nlo;
        hi = nhi;
    }
    size_t longest = 0;
    for (size_t o = lo; o <= hi; o++) {
        if (reach[o])
            longest = o;
        reach[o] = 0;
    }
    return longest;
}

/* text with every form of secret replaced by REDACTED, appended to out. */
static void redact_one(const char *text, const char *secret, struct buf *out)
{
    const unsigned char *t = (const unsigned char *)text, *s = (const unsigned char *)secret;
    size_t n = strlen(text), sn = strlen(secret), start = 0;
    unsigned char *reach = xcalloc(3 * sn + 2, 1);

    for (size_t i = 0; i < n;) {
        size_t add[4],
            len = forms_at(t, n, i, s[0], add) ? match_at(t + i, n - i, s, sn, reach) : 0;
        if (!len) {
            i++;
            continue;
        }
        buf_add(out, text + start, i - start);
        buf_adds(out, REDACTED);
        i += len;
        start = i;
    }
    buf_add(out, text + start, n - start);
    free(reach);
}

char *redact_text(const char *text, const char *const *secrets)
{
    char *cur = xstrdup(text ? text : "");
    for (size_t i = 0; secrets && secrets[i]; i++) {
        if (!secrets[i][0])
            continue;
        struct buf next = {0};
        redact_one(cur, secrets[i], &next);
        free(cur);
        cur = buf_detach(&next);
    }
    return cur;
}

/* ---- rebuilding from parsed parts ---------------------------------------- */

/* s %-encoded but for the unreserved characters and those of keep, appended to out. */
static void add_encoded(struct buf *out, const char *s, const char *keep)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p) || (keep && strchr(keep, *p)))
            buf_addc(out, (char)*p);
        else
            buf_printf(out, "%%%02X", *p);
    }
}

static int is_pg_uri(const char *s)
{
    return !strncmp(s, "postgresql://", 13) || !strncmp(s, "postgres://", 11);
}

static const char *opt(const PQconninfoOption *opts, const char *keyword)
{
    for (const PQconninfoOption *o = opts; o->keyword; o++)
        if (!strcmp(o->keyword, keyword))
            return o->val;
    return NULL;
}

/* host1:port1,host2:port2 of a libpq parse, appended to out (hosts that are socket paths: not). */
static void add_hosts(struct buf *out, const char *hosts, const char *ports)
{
    const char *h = hosts ? hosts : "", *p = ports ? ports : "";
    for (int first = 1; first || *h || *p; first = 0) {
        size_t hn = strcspn(h, ","), pn = strcspn(p, ",");
        char *host = xstrndup(h, hn), *port = xstrndup(p, pn);
        buf_adds(out, first ? "" : ",");
        if (strchr(host, ':')) {
            buf_adds(out, "[");
            add_encoded(out, host, ":");
            buf_adds(out, "]");
        } else {
            add_encoded(out, host, NULL);
        }
        if (*port) {
            buf_adds(out, ":");
            add_encoded(out, port, NULL);
        }
        free(host);
        free(port);
        h += hn + (h[hn] == ',');
        p += pn + (p[pn] == ',');
    }
}

/* Whether keyword's value is written before the URI's '?' (a socket directory host: after it). */
static int in_uri_body(const char *keyword, int socket_host)
{
    if (!strcmp(keyword, "host") || !strcmp(keyword, "port"))
        return !socket_host;
    return !strcmp(keyword, "user") || !strcmp(keyword, "password") || !strcmp(keyword, "dbname");
}

/* A postgres:// URI from libpq's parse of it, the password REDACTED. */
static void pg_uri(const char *uri, const PQconninfoOption *opts, struct buf *out)
{
    const char *user = opt(opts, "user"), *password = opt(opts, "password");
    const char *host = opt(opts, "host"), *dbname = opt(opts, "dbname");
    int socket_host = host && host[0] == '/';

    buf_adds(out, !strncmp(uri, "postgres://", 11) ? "postgres://" : "postgresql://");
    if (user)
        add_encoded(out, user, NULL);
    if (password)
        buf_adds(out, ":" REDACTED);
    if (user || password)
        buf_adds(out, "@");
    if (!socket_host)
        add_hosts(out, host, opt(opts, "port"));
    if (dbname) {
        buf_adds(out, "/");
        add_encoded(out, dbname, NULL);
    }
    char sep = '?';
    for (const PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || in_uri_body(o->keyword, socket_host))
            continue;
        buf_printf(out, "%c%s=", sep, o->keyword);
        add_encoded(out, o->val, NULL);
        sep = '&';
    }
}

/* key='value' ... from libpq's parse, the password REDACTED. */
static void pg_keywords(const PQconninfoOption *opts, struct buf *out)
{
    for (const PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val)
            continue;
        buf_printf(out, "%s%s=", out->len ? " " : "", o->keyword);
        if (!strcmp(o->keyword, "password")) {
            buf_adds(out, REDACTED);
            continue;
        }
        buf_addc(out, '\'');
        for (const char *p = o->val; *p; p++) {
            if (*p == '\\' || *p == '\'')
                buf_addc(out, '\\');
            buf_addc(out, *p);
        }
        buf_addc(out, '\'');
    }
}

/* url rebuilt from libcurl's parse, the password REDACTED; NULL when it does not parse. */
static char *curl_redacted(const char *url)
{
    static const struct {
        CURLUPart part;
        const char *before;
    } parts[] = {{CURLUPART_HOST, ""},
                 {CURLUPART_PORT, ":"},
                 {CURLUPART_PATH, ""},
                 {CURLUPART_QUERY, "?"},
                 {CURLUPART_FRAGMENT, "#"}};
    CURLU *h = curl_url();
    char *scheme = NULL, *user = NULL, *raw = NULL;
    struct buf out = {0};

    if (!h ||
        curl_url_set(h, CURLUPART_URL, url,
                     CURLU_NON_SUPPORT_SCHEME | CURLU_PATH_AS_IS | CURLU_ALLOW_SPACE) ||
        curl_url_get(h, CURLUPART_SCHEME, &scheme, 0)) {
        curl_url_cleanup(h);
        return NULL;
    }
    curl_url_get(h, CURLUPART_USER, &user, 0);
    if (curl_url_get(h, CURLUPART_PASSWORD, &raw, 0) != CURLUE_OK) {
        curl_free(scheme);
        curl_free(user);
        curl_url_cleanup(h);
        return xstrdup(url); /* no password in it */
    }
    buf_printf(&out, "%s://%s:" REDACTED "@", scheme, user ? user : "");
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        char *v = NULL;
        if (curl_url_get(h, parts[i].part, &v, 0) == CURLUE_OK && v)
            buf_printf(&out, "%s%s", parts[i].before, v);
        curl_free(v);
    }
    curl_free(scheme);
    curl_free(user);
    curl_free(raw);
    curl_url_cleanup(h);
    return buf_detach(&out);
}

/* s rebuilt from libpq's parse (NULL: it does not parse). */
static char *pg_redacted(const char *s)
{
    PQconninfoOption *opts = PQconninfoParse(s, NULL);
    struct buf out = {0};
    if (!opts)
        return NULL;
    if (!opt(opts, "password"))
        buf_adds(&out, s); /* no password in it */
    else if (is_pg_uri(s))
        pg_uri(s, opts, &out);
    else
        pg_keywords(opts, &out);
    PQconninfoFree(opts);
    return buf_detach(&out);
}

char *redact_url(const char *url)
{
    char *r = NULL;
    if (!url)
        return xstrdup("");
    if (is_pg_uri(url))
        r = pg_redacted(url);
    if (!r && !is_pg_uri(url))
        r = curl_redacted(url);
    return r ? r : xstrdup(NOT_SHOWN_URL);
}

char *redact_conninfo(const char *conninfo)
{
    if (!conninfo)
        return xstrdup("");
    char *r = pg_redacted(conninfo);
    if (!r && strstr(conninfo, "://") && !is_pg_uri(conninfo))
        r = curl_redacted(conninfo);
    return r ? r : xstrdup(NOT_SHOWN_CONNINFO);
}

char *redact_password_of(const char *s)
{
    PQconninfoOption *opts = s ? PQconninfoParse(s, NULL) : NULL;
    char *password = NULL;
    if (opts) {
        const char *v = opt(opts, "password");
        password = v ? xstrdup(v) : NULL;
        PQconninfoFree(opts);
        return password;
    }
    CURLU *h = s ? curl_url() : NULL;
    char *v = NULL;
    if (h &&
        !curl_url_set(h, CURLUPART_URL, s,
                      CURLU_NON_SUPPORT_SCHEME | CURLU_PATH_AS_IS | CURLU_ALLOW_SPACE) &&
        !curl_url_get(h, CURLUPART_PASSWORD, &v, CURLU_URLDECODE))
        password = xstrdup(v);
    curl_free(v);
    curl_url_cleanup(h);
    return password;
}
