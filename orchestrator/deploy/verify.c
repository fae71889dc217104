/*
 * verify.c - running verify checks.  A check's url may carry user:pass@:
 * what is said about a failed request is cleared of that password
 * (redact.h), as the intent shows the url redacted (phase_verify.c).
 */
#include "verify.h"
#include "monotime.h"
#include "http.h"
#include "pgdb.h"
#include "redact.h"
#include "stack.h"
#include "swarm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void verify_measure_init(struct verify_measure *m)
{
    m->error_rate = NAN;
    m->p95_ms = NAN;
    m->value = NULL;
}

void verify_measure_clear(struct verify_measure *m)
{
    free(m->value);
    verify_measure_init(m);
}

int verify_needs_before(const struct plan_check *c)
{
    return c->kind == PLAN_CHECK_SQL && c->expect && strstr(c->expect, "before");
}

static int parse_number(const char *s, double *out)
{
    char *end;
    while (*s == ' ')
        s++;
    if (!*s)
        return 0;
    *out = strtod(s, &end);
    while (*end == ' ')
        end++;
    return *end == '\0';
}

int verify_compare(const char *actual, const char *expect, const char *before)
{
    const char *ops[] = {">=", "<=", "!=", "==", "=", ">", "<"};
    const char *op = NULL, *rest = expect;
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (!strncmp(expect, ops[i], strlen(ops[i]))) {
            op = ops[i];
            rest = expect + strlen(ops[i]);
            break;
        }
    }
    if (!op)
        return 0;
    while (*rest == ' ')
        rest++;
    char want[1024];
    snprintf(want, sizeof(want), "%s", !strcmp(rest, "before") ? (before ? before : "") : rest);
    double a, b;
    int numeric = parse_number(actual, &a) && parse_number(want, &b);
    int cmp = numeric ? (a > b) - (a < b) : strcmp(actual, want);
    if (!strcmp(op, ">="))
        return cmp >= 0;
    if (!strcmp(op, "<="))
        return cmp <= 0;
    if (!strcmp(op, ">"))
        return cmp > 0;
    if (!strcmp(op, "<"))
        return cmp < 0;
    if (!strcmp(op, "!="))
        return cmp != 0;
    return cmp == 0;
}

int verify_sql_value(const char *url, const char *sql, double deadline, char **value,
                     struct tt_err *err)
{
    struct pgdb *c = pgdb_connect(url, deadline, err);
    if (!c)
        return -1;
    int rc = pgdb_value(c, sql, value, err);
    pgdb_close(c);
    return rc;
}

/* Whether body contains what the check expects in it (anything, when it expects nothing). */
static int body_matches(const struct plan_check *c, const struct buf *body)
{
    return !c->body || (body->data && strstr(body->data, c->body));
}

/* One request by wget inside container; 1 when it met the expectation, else why says why. */
static int probe_in_container(const struct verify_context *v, const struct plan_check *c,
                              const char *container, long budget, struct buf *body, struct buf *why)
{
    json_t *argv = json_pack("[s,s,s,s,s]", "wget", "-q", "-O", "-", c->url);
    int code = -1;
    struct tt_err err = {0};

    if (engine_exec(v->e, container, argv, budget, &code, body, &err) < 0) {
        buf_printf(why, "%s", err.msg);
        code = -1;
    }
    json_decref(argv);
    int ok = code == 0 && (c->status < 300) && body_matches(c, body); /* wget: 0 on 2xx only */
    if (!ok && code >= 0)
        buf_printf(why, "wget in %s's container exited %d: %.200s", c->from, code,
                   body->data ? body->data : "");
    return ok;
}

/* One request from this host; 1 when it met the expectation, else why says why. */
static int probe_from_host(const struct plan_check *c, long budget, struct buf *body,
                           struct buf *why)
{
    long status = 0;
    struct tt_err err = {0};

    if (http_get(c->url, budget, &status, body, &err) < 0) {
        char *password = redact_password_of(c->url);
        const char *secrets[] = {password, NULL};
        char *said = redact_text(err.msg, secrets); /* libcurl may quote the url */
        buf_adds(why, said);
        free(said);
        free(password);
        return 0;
    }
    if (status != c->status) {
        buf_printf(why, "HTTP %ld, expected %d: %.200s", status, c->status,
                   body->data ? body->data : "");
        return 0;
    }
    if (!body_matches(c, body)) {
        buf_printf(why, "the body does not contain \"%s\": %.200s", c->body,
                   body->data ? body->data : "");
        return 0;
    }
    return 1;
}

/*
 * One probe of an http check, from container (NULL: from this host),
 * bounded by what is left before the verify deadline (0.1 to 10 s).
 * Returns 1 when it met the expectation, filling why otherwise; *ms is how
 * long it took.
 */
static int http_probe(const struct verify_context *v, const struct plan_check *c,
                      const char *container, struct buf *why, double *ms)
{
    struct buf body = {0};
    double t0 = monotime_now();
    long budget = (long)((v->deadline - t0) * 1000);

    if (budget < 100)
        budget = 100;
    if (budget > 10000)
        budget = 10000;
    int ok = container ? probe_in_container(v, c, container, budget, &body, why)
                       : probe_from_host(c, budget, &body, why);
    *ms = (monotime_now() - t0) * 1000;
    buf_release(&body);
    return ok;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/*
 * The container check c runs in for service: the slot being checked, else
 * the one that runs (in swarm mode, the service's running task's on the
 * engine's node).  NULL with err set saying why when there is none.
 */
static char *check_container(const struct verify_context *v, const struct plan_check *c,
                             const char *service, struct tt_err *err)
{
    struct tt_err why = {0};
    char *id = NULL;
    for (size_t i = 0; v->slots && i + 1 < v->slots->n; i += 2)
        if (!strcmp(service, v->slots->v[i]))
            return xstrdup(v->slots->v[i + 1]);
    id = v->swarm ? swarm_container_id(v->e, v->project->name, service, &why)
                  : stack_container_id(v->e, v->project->name, service);
    if (id)
        return id;
    if (why.msg[0])
        tt_error(err, "check \"%s\": %s", c->name, why.msg);
    else
        tt_error(err, "check \"%s\": service \"%s\" has no running %s", c->name, service,
                 v->swarm ? "task" : "container");
    return NULL;
}

int verify_targets(const struct plan_check *c, const char *service)
{
    if (c->kind == PLAN_CHECK_EXEC)
        return c->service && !strcmp(c->service, service);
    if (c->kind != PLAN_CHECK_HTTP)
        return 0;
    if (c->from && !strcmp(c->from, service))
        return 1;
    char *host = http_url_host(c->url);
    int hit = host && !strcmp(host, service);
    free(host);
    return hit;
}

/*
 * c aimed at the slot of its URL's host when that host is a blue-green
 * service (whose own name no container answers to): *copy with the URL's
 * host replaced by the slot's container, and *url owning it; else c.
 */
static const struct plan_check *aim_at_slot(const struct verify_context *v,
                                            const struct plan_check *c, struct plan_check *copy,
                                            char **url)
{
    char *host = http_url_host(c->url);
    *url = NULL;
    for (size_t i = 0; host && v->slots && i + 1 < v->slots->n; i += 2)
        if (!strcmp(host, v->slots->v[i]))
            *url = http_url_with_host(c->url, v->slots->v[i + 1]);
    free(host);
    if (!*url)
        return c;
    *copy = *c;
    copy->url = *url;
    return copy;
}

static int run_http(const struct verify_context *v, const struct plan_check *given,
                    struct buf *detail, struct verify_measure *m, struct tt_err *err)
{
    struct plan_check copy;
    char *aimed_url;
    const struct plan_check *c = aim_at_slot(v, given, &copy, &aimed_url);
    char *container = NULL;
    double *ms = xcalloc((size_t)c->probes + 1, sizeof(double));
    struct buf why = {0}, first = {0};
    int failed = 0, n = 0;

    if (c->from && !(container = check_container(v, c, c->from, err))) {
        free(ms);
        free(aimed_url);
        return -1;
    }
    for (n = 0; n < c->probes && (n == 0 || monotime_now() < v->deadline); n++) {
        buf_reset(&why);
        if (!http_probe(v, c, container, &why, &ms[n])) {
            failed++;
            if (!first.len)
                buf_adds(&first, why.data ? why.data : "failed");
        }
    }
    qsort(ms, (size_t)n, sizeof(double), cmp_double);
    double rate = n ? (double)failed / n : 1;
    double p95 = ms[n ? (n * 95 + 99) / 100 - 1 : 0];
    buf_printf(detail,
               "%d of %d requests failed (%.1f%%, allowed %.1f%%); p50 %.1f ms, p95 %.1f ms",
               failed, n, rate * 100, c->max_error_rate * 100, ms[n / 2], p95);
    m->error_rate = rate;
    m->p95_ms = p95;
    int rc = 0;
    if (n < c->probes)
        rc = tt_error(err, "check \"%s\": only %d of %d requests ran before the verify timeout",
                      c->name, n, c->probes);
    else if (rate > c->max_error_rate)
        rc =
            tt_error(err, "check \"%s\": %s; first failure: %s", c->name, detail->data, first.data);
    free(container);
    free(ms);
    free(aimed_url);
    buf_release(&why);
    buf_release(&first);
    return rc < 0 ? 1 : 0;
}

static int run_exec(const struct verify_context *v, const struct plan_check *c, struct buf *detail,
                    struct verify_measure *m, struct tt_err *err)
{
    char *container = check_container(v, c, c->service, err);
    struct buf out = {0};
    int code = -1, rc;

    if (!container)
        return -1;
    json_t *argv = json_array();
    for (size_t i = 0; i < c->command.n; i++)
        json_array_append_new(argv, json_string(c->command.v[i]));
    long budget = (long)((v->deadline - monotime_now()) * 1000);
    rc = engine_exec(v->e, container, argv, budget > 1000 ? budget : 1000, &code, &out, err);
    json_decref(argv);
    free(container);
    if (rc < 0) { /* no exit code to trust (the stream cut, ExitCode null): the check fails */
        struct tt_err why = *err;
        tt_error(err, "check \"%s\": %s", c->name, why.msg);
        buf_release(&out);
        return 1;
    }
    buf_printf(detail, "exit %d", code);
    struct buf exit_text = {0};
    buf_printf(&exit_text, "%d", code);
    m->value = buf_detach(&exit_text);
    if (out.len)
        buf_printf(detail, ": %.300s", out.data);
    rc = code == c->expect_exit ? 0 : 1;
    if (rc)
        tt_error(err, "check \"%s\": command exited %d, expected %d: %.300s", c->name, code,
                 c->expect_exit, out.data ? out.data : "");
    buf_release(&out);
    return rc;
}

static int run_sql(const struct verify_context *v, const struct plan_check *c, const char *before,
                   struct buf *detail, struct verify_measure *m, struct tt_err *err)
{
    char *value = NULL;
    if (verify_sql_value(v->db_url, c->sql, v->deadline, &value, err) < 0) {
        char msg[2048];
        snprintf(msg, sizeof(msg), "%s", err->msg);
        tt_error(err, "check \"%s\": %s", c->name, msg);
        return 1;
    }
    buf_printf(detail, "%s returned %s", c->sql, value ? value : "no row");
    if (before)
        buf_printf(detail, " (before: %s)", before);
    int ok = c->expect ? value && verify_compare(value, c->expect, before) : value != NULL;
    if (!ok)
        tt_error(err, "check \"%s\": %s returned %s, expected %s%s%s", c->name, c->sql,
                 value ? value : "no row", c->expect ? c->expect : "a row",
                 before ? " with before = " : "", before ? before : "");
    m->value = value;
    return ok ? 0 : 1;
}

int verify_run(const struct verify_context *v, const struct plan_check *c, const char *before,
               struct buf *detail, struct verify_measure *m, struct tt_err *err)
{
    struct verify_measure scratch;
    int rc = -1;

    verify_measure_init(&scratch);
    if (!m)
        m = &scratch;
    switch (c->kind) {
    case PLAN_CHECK_HTTP:
        rc = run_http(v, c, detail, m, err);
        break;
    case PLAN_CHECK_EXEC:
        rc = run_exec(v, c, detail, m, err);
        break;
    case PLAN_CHECK_SQL:
        rc = run_sql(v, c, before, detail, m, err);
        break;
    }
    verify_measure_clear(&scratch);
    return rc;
}
