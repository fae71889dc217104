/*
 * test_redact.c - redaction by parsing: 1,000 generated URLs and libpq
 * connection strings (a seeded PRNG, so a failure repeats) whose passwords
 * hold every reserved character, quotes, backslash, space and non-ASCII
 * bytes, written in each way they are written (fully or minimally
 * %-encoded, in ?password=, quoted and backslash-escaped): no form of the
 * password is left, and user, host, port and database are kept.  Then the
 * messages: known secrets out of a libpq-style error in any form, libpq's
 * own parse error on a bad database.url, and a host tool run with the
 * password in its environment only.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup.h"
#include "buf.h"
#include "pgdb.h"
#include "redact.h"

static unsigned long long prng = 0x7ddeb10cULL;

static unsigned rnd(unsigned n)
{
    prng ^= prng << 13;
    prng ^= prng >> 7;
    prng ^= prng << 17;
    return (unsigned)(prng % n);
}

/* n lowercase letters: user, host and database names hold nothing a password does. */
static void add_word(struct buf *b, int n)
{
    for (int i = 0; i < n; i++)
        buf_addc(b, (char)('a' + rnd(26)));
}

/* A password: uppercase letters (nothing else output has any) mixed with hostile bytes. */
static char *gen_password(void)
{
    static const char *const hostile[] = {
        ":",   "/", "?", "#", "[", "]", "@", "!", "$",  "&",  "'",        "(",
        ")",   "*", "+", ",", ";", "=", "%", " ", "\"", "\\", "\xc3\xa9", "\xe2\x82\xac",
        "%40", "%2"};
    struct buf b = {0};
    int n = 6 + (int)rnd(12);
    buf_addc(&b, (char)('A' + rnd(26)));
    for (int i = 0; i < n; i++) {
        if (rnd(2))
            buf_addc(&b, (char)('A' + rnd(26)));
        else
            buf_adds(&b, hostile[rnd(sizeof(hostile) / sizeof(hostile[0]))]);
    }
    buf_adds(&b, hostile[rnd(8)]); /* always one of : / ? # [ ] @ ! */
    return buf_detach(&b);
}

/* s %-encoded: every byte but the unreserved (all), or only those a URL cannot hold raw. */
static char *encode(const char *s, int all, int lower)
{
    struct buf b = {0};
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                   (*p >= '0' && *p <= '9') || strchr("-._~", *p) ||
                   (!all && strchr("!$&()*+,;=:", *p));
        if (keep)
            buf_addc(&b, (char)*p);
        else
            buf_printf(&b, lower ? "%%%02x" : "%%%02X", *p);
    }
    return buf_detach(&b);
}

/* s as a quoted libpq conninfo value's inside: ' and \ escaped by a backslash. */
static char *escape(const char *s)
{
    struct buf b = {0};
    for (const char *p = s; *p; p++) {
        if (*p == '\'' || *p == '\\')
            buf_addc(&b, '\\');
        buf_addc(&b, *p);
    }
    return buf_detach(&b);
}

/* Fails when out holds password in any form, or lost one of the parts it must keep. */
static void check(const char *in, const char *out, const char *password, const char *const keep[4])
{
    char *forms[] = {xstrdup(password),      encode(password, 1, 0), encode(password, 1, 1),
                     encode(password, 0, 0), encode(password, 0, 1), escape(password)};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        cr_assert_null(strstr(out, forms[i]),
                       "form %zu of the password is left:\n  in:  %s\n  out: %s", i, in, out);
        free(forms[i]);
    }
    for (const char *p = out; *p; p++)
        cr_assert(!(*p >= 'A' && *p <= 'Z'),
                  "a byte of the password is left:\n  in:  %s\n  out: %s", in, out);
    cr_assert(strstr(out, REDACTED), "in: %s\nout: %s", in, out);
    for (int i = 0; i < 4; i++)
        cr_assert(strstr(out, keep[i]), "\"%s\" was lost:\n  in:  %s\n  out: %s", keep[i], in, out);
}

/* One generated URL (kind 0..3) or conninfo (kind 4) with its password; redacted and checked. */
static void one_case(int kind)
{
    struct buf user = {0}, host = {0}, db = {0}, port = {0}, in = {0};
    char *password = gen_password();
    add_word(&user, 3 + (int)rnd(6));
    add_word(&host, 3 + (int)rnd(8));
    buf_adds(&host, rnd(2) ? ".internal" : "");
    add_word(&db, 3 + (int)rnd(8));
    buf_printf(&port, "%u", 1 + rnd(65535));
    const char *keep[4] = {user.data, host.data, port.data, db.data};
    char *enc = encode(password, kind != 1, (int)rnd(2));
    char *out;

    if (kind <= 1) { /* postgresql://user:ENC@host:port/db, fully or minimally encoded */
        buf_printf(&in, "%s://%s:%s@%s:%s/%s%s", rnd(2) ? "postgresql" : "postgres", user.data, enc,
                   host.data, port.data, db.data, rnd(2) ? "?sslmode=disable" : "");
        out = redact_url(in.data);
    } else if (kind == 2) { /* the password as ?password= */
        buf_printf(&in, "postgresql://%s@%s:%s/%s?connect_timeout=5&password=%s", user.data,
                   host.data, port.data, db.data, enc);
        out = redact_conninfo(in.data);
    } else if (kind == 3) { /* a verify check's http(s) URL */
        buf_printf(&in, "http%s://%s:%s@%s:%s/%s/health?x=1#top", rnd(2) ? "s" : "", user.data, enc,
                   host.data, port.data, db.data);
        out = redact_url(in.data);
    } else { /* key='value' conninfo */
        char *esc = escape(password);
        buf_printf(&in, "user=%s password='%s' host=%s port=%s dbname='%s'", user.data, esc,
                   host.data, port.data, db.data);
        free(esc);
        out = redact_conninfo(in.data);
    }
    check(in.data, out, password, keep);
    free(out);
    free(enc);
    free(password);
    buf_release(&user);
    buf_release(&host);
    buf_release(&db);
    buf_release(&port);
    buf_release(&in);
}

Test(redact, a_thousand_generated_urls_and_conninfo_keep_no_password)
{
    for (int i = 0; i < 1000; i++)
        one_case(i % 5);
}

Test(redact, what_has_no_password_is_left_as_it_is)
{
    const char *same[] = {"nats://nats:4222", "http://127.0.0.1:8000/api/health",
                          "postgresql://u@h:5432/db?sslmode=disable", "host=h dbname=x"};
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        char *u = strstr(same[i], "://") ? redact_url(same[i]) : redact_conninfo(same[i]);
        cr_assert_str_eq(u, same[i]);
        free(u);
    }
    char *u = redact_url("postgresql://postgres:tasktracker@postgres:5432/tasktracker");
    cr_assert_str_eq(u, "postgresql://postgres:" REDACTED "@postgres:5432/tasktracker",
                     "a database named like the password is kept");
    free(u);
}

Test(redact, what_does_not_parse_is_not_shown)
{
    /* libpq cannot parse these, so it cannot say where the password is */
    const char *bad[] = {"postgresql://u:p%zzSECRET@h/db", "postgresql://u:SECRET@[::1/db",
                         "user=u password='SECRET"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *u = i < 2 ? redact_url(bad[i]) : redact_conninfo(bad[i]);
        cr_assert_null(strstr(u, "SECRET"), "%s -> %s", bad[i], u);
        free(u);
    }
    /* a raw '#' or '?' in a database password: libpq takes it, so it is its parse that counts */
    char *u = redact_url("postgresql://u:pa#SE?CRET@h/db");
    cr_assert_str_eq(u, "postgresql://u:" REDACTED "@h/db");
    free(u);
}

Test(redact, known_secrets_leave_a_message_in_every_form)
{
    const char *secrets[] = {"P@SS:W/RD?#%&=+ ;'\"\\", NULL};
    const char *msgs[] = {
        "invalid URI: \"postgresql://u:P%40SS%3AW%2FRD%3F%23%25%26%3D%2B%20%3B%27%22%5C@h/db\"",
        "password='P@SS:W/RD?#%&=+ ;\\'\"\\\\' host=h",
        "mixed P%40SS:W%2fRD?%23%25&=+%20;'\"\\ end",
        "plus P%40SS%3aW%2FRD%3F%23%25%26%3D%2B+%3B%27%22%5C end",
    };
    for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
        char *t = redact_text(msgs[i], secrets);
        cr_assert(strstr(t, REDACTED), "%s -> %s", msgs[i], t);
        cr_assert(!strstr(t, "SS") && !strstr(t, "RD"), "%s -> %s", msgs[i], t);
        free(t);
    }
    char *t = redact_text("nothing here", secrets);
    cr_assert_str_eq(t, "nothing here");
    free(t);
}

Test(redact, a_database_url_that_does_not_parse_is_not_echoed)
{
    struct tt_err err = {0};
    /* libpq's own message quotes the whole string, its %-encoded password with it */
    cr_assert_eq(pgdb_url_check("postgresql+x://u:p%40SECRET@h/db", &err), -1);
    cr_assert_null(strstr(err.msg, "SECRET"), "%s", err.msg);
    cr_assert(strstr(err.msg, "database.url does not parse") && strstr(err.msg, "%-encoded"), "%s",
              err.msg);
    cr_assert_eq(pgdb_url_check("postgresql://u:p%zzSECRET@h/db", &err), -1);
    cr_assert_null(strstr(err.msg, "SECRET"), "%s", err.msg);
}

Test(redact, a_host_tool_gets_the_password_in_its_environment_only)
{
    struct buf out = {0};
    struct tt_err err = {0};
    char *password = NULL;
    char *ci = pgdb_conninfo_with_db("postgresql://u:p%40ss%20w@h:1/db", "tt_x", &password, &err);
    cr_assert_not_null(ci, "%s", err.msg);
    cr_assert_str_eq(password, "p@ss w", "decoded once, by the parse");
    cr_assert_null(strstr(ci, "password"), "%s", ci);
    cr_assert(strstr(ci, "dbname='tt_x'") && strstr(ci, "host='h'"), "%s", ci);
    char *argv[] = {"sh", "-c", "test \"$PGPASSWORD\" = 'p@ss w' && echo \"ok $PGPASSWORD\"", NULL};
    cr_assert_eq(backup_run_host(argv, password, &out, &err), 0, "%s %s", err.msg, out.data);
    cr_assert_str_eq(out.data, "ok " REDACTED "\n", "what it says is cleared of the password");
    cr_assert_null(getenv("PGPASSWORD"), "ttdeploy's own environment is untouched");
    free(ci);
    free(password);
    buf_release(&out);
}
