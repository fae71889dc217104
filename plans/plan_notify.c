/*
 * plan_notify.c - the notify: section of a plan: the webhooks told when a
 * deployment starts and how it ends (deploy/notify.c sends them).
 *
 *   notify:
 *     - url: ${SLACK_WEBHOOK_URL}
 *       on: [failed, rolled_back, rollback_failed]   # default: every event
 *       headers: {Authorization: "Bearer ${NOTIFY_TOKEN}"}
 *       timeout: 5s                                  # one attempt's bound
 *
 * A webhook's url and header values usually hold a token, so no message
 * here echoes them.  They come from the environment through the plan's
 * ${VAR} interpolation; a variable they use without a default must be set:
 * an unset one would send an empty Authorization and be told only by a
 * 401 at the end of a deployment.  plan_notify_check_env() checks that on
 * the document as written, before it is interpolated.
 */
#include "plan_int.h"
#include "buf.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define URL_MAX 4096          /* bytes of a webhook's url */
#define HEADER_VALUE_MAX 8192 /* bytes of one header value */

static const char *const event_names[] = {"started",     "succeeded",       "failed",
                                          "rolled_back", "rollback_failed", NULL};

const char *plan_notify_event_name(enum plan_notify_event e)
{
    return e < PLAN_NOTIFY_NEVENTS ? event_names[e] : "?";
}

/* Whether c may be in a header's name (RFC 9110's tchar). */
static int is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/*
 * http:// or https://, a host, and no space or control byte anywhere.
 * Only the form: deploy/notify.c parses it with libcurl before sending.
 * The message never shows the url (it may hold a token).
 */
static int check_url(struct ploader *l, const struct ynode *n, const char *url)
{
    size_t skip = !strncmp(url, "https://", 8) ? 8 : !strncmp(url, "http://", 7) ? 7 : 0;
    if (!*url)
        return yread_error(&l->r, n,
                           "notify: url is empty: give the webhook's http:// or https:// URL "
                           "(from the environment: url: ${WEBHOOK_URL})");
    if (!skip)
        return yread_error(&l->r, n,
                           "notify: url must start with http:// or https:// (the URL is not "
                           "shown: it may hold a token)");
    if (strlen(url) > URL_MAX)
        return yread_error(&l->r, n, "notify: url is longer than %d bytes", URL_MAX);
    if (!url[skip] || strchr("/?#", url[skip]))
        return yread_error(&l->r, n, "notify: url has no host after %.*s", (int)skip, url);
    for (const char *c = url; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return yread_error(&l->r, n,
                               "notify: url holds a space or a control character at byte %zu: "
                               "write spaces as %%20",
                               (size_t)(c - url) + 1);
    return 0;
}

/* on: an event or a list of them; none given: every event. */
static int parse_on(struct ploader *l, const struct ynode *n, struct plan_notify *w)
{
    int idx;
    if (n->kind == YNODE_SCALAR) {
        if (yread_choice(&l->r, n, "notify on", event_names, &idx) < 0)
            return -1;
        w->events = 1u << idx;
        return 0;
    }
    if (yread_list(&l->r, n, "notify on") < 0)
        return -1;
    if (!n->n)
        return yread_error(&l->r, n,
                           "notify on: names no event: leave on: out to send every event, or "
                           "name some of started, succeeded, failed, rolled_back, "
                           "rollback_failed");
    w->events = 0;
    for (size_t i = 0; i < n->n; i++) {
        if (yread_choice(&l->r, n->items[i], "notify on", event_names, &idx) < 0)
            return -1;
        w->events |= 1u << idx;
    }
    return 0;
}

/* headers: {Name: value}; ttdeploy sets the headers that frame the JSON body itself. */
static int parse_headers(struct ploader *l, const struct ynode *n, struct plan_notify *w)
{
    static const char *const own[] = {"Content-Type",      "Content-Length", "Host",
                                      "Transfer-Encoding", "Expect",         NULL};
    if (yread_map(&l->r, n, "notify headers") < 0)
        return -1;
    if (n->n > PLAN_NOTIFY_MAX_HEADERS)
        return yread_error(&l->r, n, "notify headers: %zu headers, more than the %d allowed", n->n,
                           PLAN_NOTIFY_MAX_HEADERS);
    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *k = n->items[2 * i], *v = n->items[2 * i + 1];
        const char *name = k->str ? k->str : "", *value;
        if (!*name)
            return yread_error(&l->r, k, "notify headers: a header needs a name");
        for (const char *c = name; *c; c++)
            if (!is_tchar(*c))
                return yread_error(&l->r, k,
                                   "notify headers: \"%s\" is not a header name (letters, digits "
                                   "and !#$%%&'*+-.^_`|~ only, such as Authorization)",
                                   name);
        for (size_t j = 0; own[j]; j++)
            if (!strcasecmp(name, own[j]))
                return yread_error(&l->r, k,
                                   "notify headers: %s is set by ttdeploy (the body is JSON): "
                                   "leave it out",
                                   own[j]);
        for (size_t j = 0; j < w->header_names.n; j++)
            if (!strcasecmp(name, w->header_names.v[j]))
                return yread_error(&l->r, k,
                                   "notify headers: %s is given twice (header names ignore case): "
                                   "keep one",
                                   name);
        /* Values are secrets: no message below shows one. */
        if (v->kind != YNODE_SCALAR || ynode_is_null(v))
            return yread_error(&l->r, v,
                               "notify header %s needs a value (a string, such as \"Bearer "
                               "${TOKEN}\")",
                               name);
        value = v->str ? v->str : "";
        if (!*value)
            return yread_error(&l->r, v,
                               "notify header %s is empty (is its variable set to \"\"?): give it "
                               "a value or leave the header out",
                               name);
        if (strlen(value) > HEADER_VALUE_MAX)
            return yread_error(&l->r, v, "notify header %s is longer than %d bytes", name,
                               HEADER_VALUE_MAX);
        for (const char *c = value; *c; c++)
            if ((unsigned char)*c < ' ' && *c != '\t')
                return yread_error(&l->r, v,
                                   "notify header %s holds a line break or control character "
                                   "(its value is not shown): a header value is one line",
                                   name);
        strv_push(&w->header_names, name);
        strv_push(&w->header_values, value);
    }
    return 0;
}

static int parse_webhook(struct ploader *l, const struct ynode *n, struct plan_notify *w)
{
    struct yfield fields[] = {
        yfield_required(yfield_string("url", &w->url, "notify url"),
                        "notify: a webhook needs url: (http:// or https://)"),
        yfield_skip("on"),
        yfield_skip("headers"),
        yfield_millis("timeout", &w->timeout_ms, "notify timeout"),
        yfield_end(),
    };
    const struct ynode *u = ynode_get(n, "url"), *on = ynode_get(n, "on"),
                       *h = ynode_get(n, "headers");

    w->at = (struct plan_where){l->p->path, n->line, n->col};
    w->events = (1u << PLAN_NOTIFY_NEVENTS) - 1;
    w->timeout_ms = PLAN_NOTIFY_TIMEOUT_MS;
    if (yread_map(&l->r, n, "a webhook under notify") < 0 ||
        yread_fields(&l->r, n, "notify", fields) < 0)
        return -1;
    w->url_at = (struct plan_where){l->p->path, u->line, u->col};
    if (check_url(l, u, w->url) < 0)
        return -1;
    if (w->timeout_ms > PLAN_NOTIFY_TIMEOUT_MAX)
        return yread_error(&l->r, ynode_get(n, "timeout"),
                           "notify timeout: at most %lds (each of the 4 attempts waits this long)",
                           PLAN_NOTIFY_TIMEOUT_MAX / 1000);
    if (on && parse_on(l, on, w) < 0)
        return -1;
    return h ? parse_headers(l, h, w) : 0;
}

int plan_notify_parse(struct ploader *l, const struct ynode *n)
{
    struct plan *p = l->p;
    if (yread_list(&l->r, n, "notify") < 0)
        return -1;
    if (n->n > PLAN_NOTIFY_MAX)
        return yread_error(&l->r, n, "notify: %zu webhooks, more than the %d allowed", n->n,
                           PLAN_NOTIFY_MAX);
    p->notify = xcalloc(n->n + 1, sizeof(*p->notify));
    for (size_t i = 0; i < n->n; i++) {
        p->nnotify = i + 1;
        if (parse_webhook(l, n->items[i], &p->notify[i]) < 0)
            return -1;
    }
    return 0;
}

/* An error at n when text uses a variable that is unset (what: "url", "header X"). */
static int need_set(const struct ynode *n, const struct vars *env, const char *what,
                    struct tt_err *err)
{
    struct strv unset = {0};
    int rc = 0;
    if (n->kind != YNODE_SCALAR || !n->str || !memchr(n->str, '$', n->len))
        return 0;
    if (vars_unset_in(env, n->str, n->file, n->line, n->col, &unset, err) < 0)
        rc = -1;
    else if (unset.n)
        rc = tt_error_at(err, n->file, n->line, n->col,
                         "notify %s uses ${%s}, which is not set: export %s before running "
                         "ttdeploy, or write ${%s:-default}",
                         what, unset.v[0], unset.v[0], unset.v[0]);
    strv_clear(&unset);
    return rc;
}

int plan_notify_check_env(const struct ynode *root, const struct vars *env, struct tt_err *err)
{
    const struct ynode *list = ynode_get(root, "notify");
    struct buf what = {0};
    int rc = 0;

    if (!list || list->kind != YNODE_SEQ) /* the shape is plan_notify_parse()'s to check */
        return 0;
    for (size_t i = 0; rc == 0 && i < list->n; i++) {
        const struct ynode *w = list->items[i], *h = ynode_get(w, "headers"),
                           *u = ynode_get(w, "url");
        if (u && need_set(u, env, "url", err) < 0)
            rc = -1;
        for (size_t j = 0; rc == 0 && h && h->kind == YNODE_MAP && j < h->n; j++) {
            buf_reset(&what);
            buf_printf(&what, "header %s", h->items[2 * j]->str ? h->items[2 * j]->str : "");
            rc = need_set(h->items[2 * j + 1], env, what.data, err);
        }
    }
    buf_release(&what);
    return rc;
}

void plan_notify_clear(struct plan_notify *w)
{
    free(w->url);
    strv_clear(&w->header_names);
    strv_clear(&w->header_values);
}

void plan_notify_free(struct plan_notify *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        plan_notify_clear(&v[i]);
    free(v);
}
