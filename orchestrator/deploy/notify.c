/*
 * notify.c - the plan's webhooks (notify:) told that a deployment started
 * and how it ended: a JSON payload POSTed to each webhook that asks for
 * the event, one recorded step per webhook.
 *
 * When: "started" once the deployment is recorded and locked
 * (run_begin); the end event (succeeded, failed, rolled_back,
 * rollback_failed) once its final state is recorded and before the
 * deployment row is sealed (run_finish): the steps of the deliveries are
 * sealed on the audit chain before the deployment that holds them, as
 * every other step, and a crash while they are sent leaves the
 * deployment unfinished in its final state, which `recover` records as
 * it was (telling the end event to the webhooks not told yet: "once per
 * webhook" below) instead of rolling anything back.
 * A stop signal that leaves the deployment unfinished sends no end
 * event: `recover` decides how it ends and sends that one.
 *
 * Delivery: 2xx is delivered; any other status or no answer is tried
 * again, NOTIFY_ATTEMPTS in all, after 0.5 s, 1 s, 2 s.  Each attempt is
 * bounded by the webhook's timeout; a stop signal ends the attempt in
 * flight and the waits.  A webhook that is not told is recorded (step
 * failed) and said, and changes nothing else: not the deployment's
 * state, not its exit code.
 *
 * Secrets: a webhook's URL often carries its token in the path (Slack)
 * and its headers hold credentials.  The intent of a step names the
 * scheme, host and port only; header values are sent, never recorded
 * nor printed, and are redacted from any error text that is.
 */
#include "run.h"
#include "http.h"
#include "interrupt.h"
#include "monotime.h"
#include "redact.h"
#include "utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOTIFY_ATTEMPTS 4
#define NOTIFY_ERROR_MAX 2000 /* bytes of the deployment's error in a payload */

/* The wait before attempt i + 2 (after attempt i + 1 failed), in ms. */
static const long backoff_ms[NOTIFY_ATTEMPTS - 1] = {500, 1000, 2000};

int notify_take(struct run *a, struct tt_err *err)
{
    const struct plan *p = a->plan;
    for (size_t i = 0; i < p->nnotify; i++) {
        char *origin = http_url_origin(p->notify[i].url);
        if (!origin)
            return tt_error_at(err, p->notify[i].url_at.file, p->notify[i].url_at.line,
                               p->notify[i].url_at.col,
                               "notify: url is not a URL libcurl can parse (it is not shown: it "
                               "may hold a token): check its host and port");
        free(origin);
    }
    if (p->notify_unset) { /* apply_run() refuses; the other commands go on without them */
        run_say(a, "warning: %s; the webhooks are not told in this run", p->notify_unset);
        return 0;
    }
    a->notify = a->plan->notify;
    a->nnotify = a->plan->nnotify;
    a->plan->notify = NULL;
    a->plan->nnotify = 0;
    return 0;
}

void notify_describe(const struct run *a, FILE *out)
{
    if (!a->nnotify)
        return;
    fprintf(out, "notify:\n");
    for (size_t i = 0; i < a->nnotify; i++) {
        char *origin = http_url_origin(a->notify[i].url);
        fprintf(out, "  would POST to %s on", origin ? origin : "?");
        for (int e = 0; e < PLAN_NOTIFY_NEVENTS; e++)
            if (a->notify[i].events & (1u << e))
                fprintf(out, " %s", plan_notify_event_name((enum plan_notify_event)e));
        fprintf(out, " (timeout %.1f s, %zu header%s)\n", a->notify[i].timeout_ms / 1000.0,
                a->notify[i].header_names.n, a->notify[i].header_names.n == 1 ? "" : "s");
        free(origin);
    }
}

/* The event of a final state. */
static enum plan_notify_event event_of(enum deploy_state s)
{
    switch (s) {
    case DEPLOY_SUCCEEDED:
        return PLAN_NOTIFY_SUCCEEDED;
    case DEPLOY_ROLLED_BACK:
        return PLAN_NOTIFY_ROLLED_BACK;
    case DEPLOY_ROLLBACK_FAILED:
        return PLAN_NOTIFY_ROLLBACK_FAILED;
    default:
        return PLAN_NOTIFY_FAILED;
    }
}

static void set_text(json_t *o, const char *key, const char *value)
{
    if (value && *value)
        json_object_set_new(o, key, json_string(value));
}

/* Unix time t as 2026-12-02T05:16:45Z. */
static void set_time(json_t *o, const char *key, double t)
{
    char ts[32];
    struct tm tm;
    time_t sec = (time_t)t;
    if (isnan(t))
        return;
    gmtime_r(&sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_object_set_new(o, key, json_string(ts));
}

/* Every secret a webhook of the run holds: its URL and header values (NULL-terminated). */
static const char **run_secrets(const struct run *a)
{
    size_t n = 0;
    for (size_t i = 0; i < a->nnotify; i++)
        n += 1 + a->notify[i].header_values.n;
    const char **v = xcalloc(n + 1, sizeof(*v));
    n = 0;
    for (size_t i = 0; i < a->nnotify; i++) {
        v[n++] = a->notify[i].url;
        for (size_t j = 0; j < a->notify[i].header_values.n; j++)
            v[n++] = a->notify[i].header_values.v[j];
    }
    return v;
}

/* The CI run's page the deployment recorded (or this run's), or NULL (borrowed from ci). */
static const char *run_url(const struct run *a, json_t *ci)
{
    const char *u = json_string_value(json_object_get(ci, "run_url"));
    return u ? u : a->ci.run_url;
}

/* What failed and what the matrix decided, from the record (or the state it failed in). */
static void add_failure(json_t *o, const struct store_record *r, enum deploy_state failed_at)
{
    const struct store_decision *d = r ? r->decision : NULL;
    if (!d) {
        if (failed_at >= DEPLOY_LOCKED && failed_at <= DEPLOY_VERIFY)
            set_text(o, "failed_phase", deploy_state_name(failed_at));
        return;
    }
    set_text(o, "failed_phase", d->failure.phase);
    set_text(o, "failed_check", d->failure.check);
    set_text(o, "failed_service", d->failure.service);
    set_text(o, "failed_health", d->failure.health);
    if (d->rule <= 0)
        return;
    json_t *rule = json_object(), *actions = json_array();
    json_object_set_new(rule, "number", json_integer(d->rule));
    set_text(rule, "text", d->rule_text);
    set_text(rule, "severity", d->severity);
    json_object_set_new(rule, "builtin", json_boolean(d->builtin));
    if (d->at_file) {
        char at[512];
        snprintf(at, sizeof(at), "%s:%d", d->at_file, d->at_line);
        set_text(rule, "at", at);
    }
    for (size_t i = 0; i < d->nactions; i++)
        json_array_append_new(actions, json_string(d->actions[i]));
    json_object_set_new(rule, "actions", actions);
    json_object_set_new(o, "rule", rule);
}

/* Slack's mrkdwn escapes: &, < and > are its markup. */
static void add_escaped(struct buf *b, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '&')
            buf_adds(b, "&amp;");
        else if (*s == '<')
            buf_adds(b, "&lt;");
        else if (*s == '>')
            buf_adds(b, "&gt;");
        else
            buf_addc(b, *s);
    }
}

/* The one-line summary: "tasktracker v2 (deployment 7): rolled_back after verify failed ...". */
static void summary_of(json_t *o, struct buf *b)
{
    const char *ev = json_string_value(json_object_get(o, "event"));
    const char *phase = json_string_value(json_object_get(o, "failed_phase"));
    const char *check = json_string_value(json_object_get(o, "failed_check"));
    const char *service = json_string_value(json_object_get(o, "failed_service"));
    json_t *rule = json_object_get(o, "rule"), *prev = json_object_get(o, "previous_release");

    buf_printf(b, "%s %s (deployment %" JSON_INTEGER_FORMAT "): %s",
               json_string_value(json_object_get(o, "project")),
               json_string_value(json_object_get(o, "release")),
               json_integer_value(json_object_get(o, "deployment")), ev);
    if (!strcmp(ev, "started")) {
        buf_printf(b, " by %s", json_string_value(json_object_get(o, "actor")));
        if (prev)
            buf_printf(b, ", replacing %s", json_string_value(json_object_get(prev, "release")));
        return;
    }
    if (json_object_get(o, "duration_s"))
        buf_printf(b, " in %.1f s", json_real_value(json_object_get(o, "duration_s")));
    if (phase)
        buf_printf(b, " after %s failed", phase);
    if (check)
        buf_printf(b, " (check %s)", check);
    else if (service)
        buf_printf(b, " (service %s)", service);
    if (rule)
        buf_printf(b, "; rule %" JSON_INTEGER_FORMAT ": %s",
                   json_integer_value(json_object_get(rule, "number")),
                   json_string_value(json_object_get(rule, "text")));
    if (!strcmp(ev, "rolled_back") && prev)
        buf_printf(b, "; back to %s", json_string_value(json_object_get(prev, "release")));
}

/* The Slack-compatible text: the summary, marked up, with a link to the CI run. */
static void text_of(json_t *o, const char *summary, struct buf *b)
{
    const char *ev = json_string_value(json_object_get(o, "event"));
    const char *url = json_string_value(json_object_get(o, "ci_run_url"));
    const char *mark = !strcmp(ev, "started")       ? ":rocket:"
                       : !strcmp(ev, "succeeded")   ? ":white_check_mark:"
                       : !strcmp(ev, "rolled_back") ? ":leftwards_arrow_with_hook:"
                                                    : ":x:";
    buf_printf(b, "%s ", mark);
    add_escaped(b, summary);
    if (url) {
        buf_adds(b, " (<");
        add_escaped(b, url);
        buf_adds(b, "|CI run>)");
    }
}

/* The JSON body of event ev (status: the deployment's state then). */
static char *payload(struct run *a, enum plan_notify_event ev, enum deploy_state status,
                     enum deploy_state failed_at, const char *error)
{
    struct store_record *r = NULL;
    struct tt_err e = {0};
    json_t *o = json_object(), *ci = NULL;
    struct buf summary = {0}, text = {0}, report = {0};

    if (store_record_load(a->store, a->id, &r, &e) < 0)
        r = NULL; /* told with what the run knows */
    if (r && r->d.ci)
        ci = json_loads(r->d.ci, 0, NULL);
    set_text(o, "project", a->project->name);
    json_object_set_new(o, "deployment", json_integer(a->id));
    set_text(o, "kind", r && r->d.kind ? r->d.kind : "apply");
    set_text(o, "release", r ? r->d.version : a->plan->release_version);
    json_t *prev = store_succeeded_before(a->store, a->project->name, a->id, &e);
    if (prev)
        json_object_set_new(o, "previous_release",
                            json_pack("{s:O, s:s?}", "deployment", json_object_get(prev, "id"),
                                      "release", store_text(prev, "version", NULL)));
    json_decref(prev);
    set_text(o, "actor", r ? r->d.actor : a->ci.actor);
    set_text(o, "tag", r ? r->d.git_tag : a->ci.tag);
    set_text(o, "commit", r ? r->d.git_commit : a->ci.commit);
    set_text(o, "ci_run_url", run_url(a, ci));
    set_text(o, "event", plan_notify_event_name(ev));
    set_text(o, "status", deploy_state_name(status));
    if (ev != PLAN_NOTIFY_STARTED && ev != PLAN_NOTIFY_SUCCEEDED)
        add_failure(o, r, failed_at);
    if (r && r->rolled_back_to)
        json_object_set_new(o, "rolled_back_to", json_integer(r->rolled_back_to));
    if (error && *error) {
        const char **secrets = run_secrets(a);
        char *redacted = redact_text(error, secrets);
        struct buf clean = {0};
        utf8_sanitize(&clean, redacted, strlen(redacted));
        utf8_cut(&clean, NOTIFY_ERROR_MAX, "..."); /* on a character's boundary */
        set_text(o, "error", clean.data);
        buf_release(&clean);
        free(redacted);
        free(secrets);
    }
    if (r) {
        set_time(o, "started_at", r->started_at);
        if (ev != PLAN_NOTIFY_STARTED) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts); /* the store's clock: unix time with a fraction */
            double now = (double)ts.tv_sec + ts.tv_nsec / 1e9;
            set_time(o, "finished_at", now);
            json_object_set_new(o, "duration_s", json_real(round((now - r->started_at) * 10) / 10));
        }
    }
    buf_printf(&report, "ttdeploy report --plan %s %lld", a->o->plan_path, a->id);
    set_text(o, "report", report.data);
    summary_of(o, &summary);
    set_text(o, "summary", summary.data);
    text_of(o, summary.data, &text);
    set_text(o, "text", text.data);
    char *body = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    json_decref(ci);
    buf_release(&summary);
    buf_release(&text);
    buf_release(&report);
    store_record_free(r);
    return body;
}

/* Waits ms, or less when a stop signal arrives; 0 when the whole wait passed. */
static int backoff(long ms)
{
    double until = monotime_now() + ms / 1000.0;
    while (!interrupt_signal() && monotime_now() < until) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return interrupt_signal() ? -1 : 0;
}

/* POSTs body to w, tried again as the file's comment says; fills detail and, when not told, why. */
static int post(const struct plan_notify *w, const char *body, struct buf *detail, struct buf *why)
{
    struct strv headers = {0};
    struct buf line = {0};
    struct tt_err e = {0};
    long status = 0;
    int attempt, told = 0;

    for (size_t i = 0; i < w->header_names.n; i++) {
        buf_reset(&line);
        buf_printf(&line, "%s: %s", w->header_names.v[i], w->header_values.v[i]);
        strv_push(&headers, line.data);
    }
    for (attempt = 1; attempt <= NOTIFY_ATTEMPTS; attempt++) {
        memset(&e, 0, sizeof(e));
        int rc = http_post(w->url, &headers, body, w->timeout_ms, &status, &e);
        if (rc == 0 && status >= 200 && status < 300) {
            told = 1;
            break;
        }
        if (attempt == NOTIFY_ATTEMPTS || backoff(backoff_ms[attempt - 1]) < 0)
            break;
    }
    if (attempt > NOTIFY_ATTEMPTS)
        attempt = NOTIFY_ATTEMPTS;
    if (told) {
        buf_printf(detail, "delivered: HTTP %ld, attempts: %d", status, attempt);
    } else {
        buf_reset(&line);
        if (status)
            buf_printf(&line, "HTTP %ld", status);
        else
            buf_printf(&line, "no answer (%s)", e.msg);
        buf_printf(detail, "not delivered: attempts: %d, last: %s", attempt, line.data);
        buf_printf(why, "the webhook was not told after %d attempt%s, the last: %s%s", attempt,
                   attempt == 1 ? "" : "s", line.data,
                   interrupt_signal() ? " (a stop signal ended the attempts)" : "");
    }
    strv_clear(&headers);
    buf_release(&line);
    return told ? 0 : -1;
}

/*
 * ---- once per webhook: what an earlier run of this deployment told ----
 *
 * A crash while the end is told (or after, before the deployment is
 * sealed) leaves some webhooks told and some not; `recover` finishes the
 * deployment and tells again only those with no step that ended ok for
 * the same event in this deployment.  A step begun and never ended (a
 * crash mid-POST) is no proof the webhook got it: it is told again (at
 * least once, never "at most once").
 *
 * Which webhook a step told: a delivery's detail ends with its identity,
 * "; webhook N, url hmac-sha256:0123456789abcdef": N its position in the
 * plan's notify: list (from 1), then the first NOTIFY_DIGEST_HEX hex
 * digits of the store's keyed digest of its whole URL (store_hmac: the
 * path that tells two Slack webhooks on one host apart, never the token
 * in clear).  A step's intent names origin and event, so a recorded
 * delivery is webhook i's when its intent is i's and its digest is i's
 * URL's; the position is compared too only when the plan names that URL
 * twice, so a webhook added, removed or moved before `recover` is still
 * recognised.  Without a digest (no audit key) the position decides; a
 * step recorded before identities were (no "; webhook") counts for the
 * one webhook of the plan with that origin and event, if only one has.
 */

#define NOTIFY_DIGEST_HEX 16
#define NOTIFY_ID_MARK "; webhook "

/* Webhook i's intent for ev: "POST scheme://host[:port] (event)". */
static void intent_of(const struct plan_notify *w, enum plan_notify_event ev, struct buf *b)
{
    char *origin = http_url_origin(w->url);
    buf_printf(b, "POST %s (%s)", origin ? origin : "<a URL that does not parse>",
               plan_notify_event_name(ev));
    free(origin);
}

/* The shortened keyed digest of webhook i's URL into d ("" when the key cannot be had). */
static void digest_of(struct run *a, size_t i, char d[STORE_HMAC_TEXT_LEN + 1])
{
    struct tt_err e = {0};
    if (a->store && store_hmac(a->store, a->notify[i].url, d, &e) == 0)
        d[strlen(STORE_HMAC_PREFIX) + NOTIFY_DIGEST_HEX] = 0;
    else
        d[0] = 0;
}

/* Webhook i's identity, as its delivery's detail ends. */
static void identity_of(struct run *a, size_t i, struct buf *b)
{
    char d[STORE_HMAC_TEXT_LEN + 1];
    digest_of(a, i, d);
    buf_printf(b, NOTIFY_ID_MARK "%zu", i + 1);
    if (d[0])
        buf_printf(b, ", url %s", d);
}

/* Whether another webhook of the plan has webhook i's URL. */
static int url_twice(const struct run *a, size_t i)
{
    for (size_t j = 0; j < a->nnotify; j++)
        if (j != i && !strcmp(a->notify[j].url, a->notify[i].url))
            return 1;
    return 0;
}

/* How many webhooks of the plan that ask for ev have intent (origin and event). */
static size_t same_intent(const struct run *a, enum plan_notify_event ev, const char *intent)
{
    size_t n = 0;
    for (size_t j = 0; j < a->nnotify; j++) {
        struct buf b = {0};
        if (a->notify[j].events & (1u << ev)) {
            intent_of(&a->notify[j], ev, &b);
            n += !strcmp(b.data, intent);
        }
        buf_release(&b);
    }
    return n;
}

/* Whether detail (an ok delivery's) names webhook i (its URL's digest d, "" when none). */
static int identity_matches(const struct run *a, size_t i, const char *d, const char *detail)
{
    const char *id = strstr(detail, NOTIFY_ID_MARK);
    char *end;
    long n = strtol(id + strlen(NOTIFY_ID_MARK), &end, 10);
    const char *url = strncmp(end, ", url ", 6) ? NULL : end + 6;
    if (url && d[0] && strncmp(url, d, strlen(d)) == 0 &&
        (url[strlen(d)] == 0 || url[strlen(d)] == ' '))
        return !url_twice(a, i) || n == (long)i + 1;
    if (url && d[0])
        return 0; /* another URL */
    return n == (long)i + 1;
}

/*
 * The step of this deployment that delivered ev to webhook i (steps: its
 * store_show() steps), or NULL (borrowed).
 */
static json_t *told_before(struct run *a, json_t *steps, size_t i, enum plan_notify_event ev)
{
    struct buf intent = {0};
    char d[STORE_HMAC_TEXT_LEN + 1];
    json_t *s, *found = NULL;
    size_t k;

    intent_of(&a->notify[i], ev, &intent);
    digest_of(a, i, d);
    json_array_foreach(steps, k, s)
    {
        const char *detail = store_text(s, "detail", "");
        if (strcmp(store_text(s, "action", ""), "notify") ||
            strcmp(store_text(s, "status", ""), step_status_name(STEP_OK)) ||
            strcmp(store_text(s, "intent", ""), intent.data))
            continue;
        if (strstr(detail, NOTIFY_ID_MARK) ? identity_matches(a, i, d, detail)
                                           : same_intent(a, ev, intent.data) == 1) {
            found = s;
            break;
        }
    }
    buf_release(&intent);
    return found;
}

/* Records that webhook i is not told ev again: step s of this deployment told it. */
static void skip_told(struct run *a, size_t i, enum plan_notify_event ev, enum deploy_state phase,
                      json_t *s)
{
    struct tt_err local = {0}, *saved = a->err;
    struct buf intent = {0}, detail = {0};

    intent_of(&a->notify[i], ev, &intent);
    buf_printf(&detail, "already delivered before the crash (step %" JSON_INTEGER_FORMAT ": %s)",
               json_integer_value(json_object_get(s, "seq")), store_text(s, "detail", ""));
    a->err = &local;
    if (step_note(a, phase, NULL, "notify", intent.data, STEP_SKIPPED, detail.data) == 0)
        run_say(a, "notify: %s: %s", intent.data, detail.data);
    else
        run_say(a, "notify: %s: %s (not recorded: %s)", intent.data, detail.data, local.msg);
    a->err = saved;
    buf_release(&intent);
    buf_release(&detail);
}

/* Tells one webhook (the i-th), as a recorded step; never touches a->err. */
static void tell(struct run *a, size_t i, enum plan_notify_event ev, enum deploy_state phase,
                 const char *body, const char *const *secrets)
{
    struct tt_err local = {0}, *saved = a->err;
    struct buf intent = {0}, detail = {0}, why = {0};
    long long step;

    intent_of(&a->notify[i], ev, &intent);
    a->err = &local;
    /* A store that cannot record does not keep the webhook from being told (a failure). */
    int recorded = step_begin(a, phase, NULL, "notify", intent.data, &step) == 0;
    int rc = post(&a->notify[i], body, &detail, &why);
    char *d = redact_text(detail.data, secrets),
         *y = rc < 0 ? redact_text(why.data, secrets) : NULL;
    buf_reset(&detail);
    buf_adds(&detail, d);
    identity_of(a, i, &detail); /* after redact_text: no secret in it, nothing to mangle */
    if (recorded)
        step_end(a, step, rc < 0 ? STEP_FAILED : STEP_OK, detail.data, y);
    if (recorded)
        run_say(a, "notify: %s: %s", intent.data, detail.data);
    else
        run_say(a, "notify: %s: %s (not recorded: %s)", intent.data, detail.data, local.msg);
    free(d);
    free(y);
    a->err = saved;
    buf_release(&intent);
    buf_release(&detail);
    buf_release(&why);
}

/*
 * Tells every webhook that asks for ev and that this deployment has not
 * told it yet (an earlier run cut short by a crash: `recover`).
 */
static void send_event(struct run *a, enum plan_notify_event ev, enum deploy_state status,
                       enum deploy_state failed_at, const char *error)
{
    char *body = NULL;
    const char **secrets = NULL;
    json_t *d = NULL, *told;
    struct tt_err e = {0};

    for (size_t i = 0; a->store && i < a->nnotify; i++) {
        if (!(a->notify[i].events & (1u << ev)))
            continue;
        if (!d) /* a store that cannot be read: every webhook is told (at least once) */
            d = store_show(a->store, a->id, &e);
        if ((told = told_before(a, json_object_get(d, "steps"), i, ev))) {
            skip_told(a, i, ev, status, told);
            continue;
        }
        if (!body) {
            body = payload(a, ev, status, failed_at, error);
            secrets = run_secrets(a);
        }
        tell(a, i, ev, status, body, secrets);
    }
    json_decref(d);
    free(body);
    free(secrets);
}

void notify_started(struct run *a)
{
    send_event(a, PLAN_NOTIFY_STARTED, a->state, a->state, NULL);
}

void notify_end(struct run *a, enum deploy_state final, enum deploy_state failed_at,
                const char *error)
{
    send_event(a, event_of(final), final, failed_at, error);
}
