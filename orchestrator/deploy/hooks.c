/*
 * hooks.c - the plan's hooks: commands run before an apply phase, after
 * it worked, or once it failed, on the host (adapters/hostcmd.c) or in a
 * one-off container of a service (run_oneoff: removed afterwards, killed
 * and removed at the deadline).
 *
 * Each hook is a step of its phase, action "hook": the intent says what
 * it runs, the outcome its exit, how long it took and the end of what it
 * printed.  Every hook gets the deployment's facts in TTDEPLOY_*
 * variables; a host hook inherits ttdeploy's environment besides.
 *
 * Secrets: what a hook prints, its command line and the error handed to
 * on_failure hooks are stored and said only after redact_text() took out
 * the values of every variable whose name looks secret
 * (store_is_secret_name) and that audit.public_env does not list - from
 * ttdeploy's environment, the hook's env: and its service's environment -
 * and the database URL's password.
 */
#include "hooks.h"
#include "hostcmd.h"
#include "interrupt.h"
#include "monotime.h"
#include "redact.h"
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

extern char **environ;

#define HOOK_DETAIL_MAX 8192 /* bytes of a hook's output kept in its step */
#define HOOK_SAY_LINES 3     /* lines of a failed hook's output said to the user */
#define HOOK_SECRET_MIN 4    /* shorter values are not looked for: they would garble the text */

/* What the hooks of one call share: the facts and the values to redact. */
struct hook_env {
    const char *phase;
    enum plan_hook_when when;
    struct strv facts;   /* TTDEPLOY_NAME=value */
    struct strv secrets; /* values never stored or said in clear */
};

/* ---- secrets ------------------------------------------------------------ */

static void add_secret(struct strv *s, const char *name, const char *value, const struct plan *p)
{
    /* p NULL: no audit.public_env to exempt a name (every secret name counts) */
    /* PWD holds "PWD" (as a password might) but is the working directory */
    if (name && (!strcmp(name, "PWD") || !strcmp(name, "OLDPWD")))
        return;
    if (value && strlen(value) >= HOOK_SECRET_MIN && (!name || store_is_secret_name(name)) &&
        (!name || !p || !plan_env_is_public(p, name)) && !strv_contains(s, value))
        strv_push(s, value);
}

/* A NAME=VALUE list's secret values into s. */
static void add_secret_entries(struct strv *s, char *const *entries, const struct plan *p)
{
    for (size_t i = 0; entries && entries[i]; i++) {
        const char *eq = strchr(entries[i], '=');
        if (!eq)
            continue;
        char *name = xstrndup(entries[i], (size_t)(eq - entries[i]));
        add_secret(s, name, eq + 1, p);
        free(name);
    }
}

void run_service_secrets(const struct compose_service *svc, const struct plan *p, struct strv *s)
{
    for (size_t i = 0; svc && i < svc->environment.n; i++)
        add_secret(s, svc->environment.v[i].key, svc->environment.v[i].value, p);
}

static void collect_secrets(struct run *a, const struct plan_hook *h, struct strv *s)
{
    char *pw = a->plan->db_url ? redact_password_of(a->plan->db_url) : NULL;
    add_secret(s, NULL, pw, a->plan);
    free(pw);
    add_secret_entries(s, environ, a->plan);
    add_secret_entries(s, h->env.v, a->plan);
    const struct compose_service *svc =
        h->service ? compose_find_service(a->project, h->service) : NULL;
    run_service_secrets(svc, a->plan, s);
}

/* text with the secrets taken out, as valid UTF-8 (caller frees). */
static char *redacted(const struct strv *secrets, const char *text)
{
    static const char *const none[] = {NULL};
    char *r = redact_text(text ? text : "", secrets->n ? (const char *const *)secrets->v : none);
    char *clean = utf8_sanitized(r);
    free(r);
    return clean;
}

/* ---- the facts ------------------------------------------------------------ */

static void fact(struct strv *f, const char *name, const char *value)
{
    struct buf b = {0};
    if (!value)
        return;
    buf_printf(&b, "TTDEPLOY_%s=%s", name, value);
    strv_push_owned(f, buf_detach(&b));
}

/* The deployment's facts, as recorded (the version, tag and commit of a rollback are its own). */
static void facts_build(struct run *a, struct hook_env *he, const struct strv *secrets)
{
    struct tt_err e = {0};
    json_t *d = store_show(a->store, a->id, &e);
    json_t *prev = store_succeeded_before(a->store, a->project->name, a->id, &e);
    char id[32];

    snprintf(id, sizeof(id), "%lld", a->id);
    fact(&he->facts, "PROJECT", a->project->name);
    fact(&he->facts, "DEPLOYMENT", id);
    fact(&he->facts, "RELEASE",
         d ? json_string_value(json_object_get(d, "version")) : a->plan->release_version);
    fact(&he->facts, "PREVIOUS_RELEASE", json_string_value(json_object_get(prev, "version")));
    fact(&he->facts, "PHASE", he->phase);
    fact(&he->facts, "HOOK", plan_hook_when_name(he->when));
    fact(&he->facts, "TAG", json_string_value(json_object_get(d, "git_tag")));
    fact(&he->facts, "COMMIT", json_string_value(json_object_get(d, "git_commit")));
    fact(&he->facts, "ACTOR", a->ci.actor ? a->ci.actor : "unknown");
    fact(&he->facts, "BACKUP", a->backup_path);
    if (he->when == PLAN_HOOK_ON_FAILURE) {
        char *error = redacted(secrets, a->err->msg);
        fact(&he->facts, "FAILED_CHECK", a->fail_check);
        fact(&he->facts, "FAILED_SERVICE", a->fail_service);
        fact(&he->facts, "ERROR", error);
        free(error);
    }
    json_decref(d);
    json_decref(prev);
}

/* ---- one hook ------------------------------------------------------------- */

struct hook_run {
    const struct plan_hook *h;
    struct hook_env *he;
    struct strv secrets; /* he's facts' and this hook's */
    struct buf said;     /* the end of its output, for the user (redacted) */
};

/* The last max bytes of text, starting on a character (caller frees). */
static char *tail_of(const char *text, size_t max)
{
    size_t len = strlen(text), start = len > max ? len - max : 0;
    while (start < len && ((unsigned char)text[start] & 0xC0) == 0x80)
        start++;
    return xstrdup(text + start);
}

/* The last n lines of text that are not empty, each indented, into out. */
static void last_lines(const char *text, int n, struct buf *out)
{
    const char *end = text + strlen(text), *p = end;
    int found = 0;
    while (p > text && found < n) {
        const char *e = p;
        while (e > text && (e[-1] == '\n' || e[-1] == '\r'))
            e--;
        const char *s = e;
        while (s > text && s[-1] != '\n')
            s--;
        if (s == e)
            break;
        found++;
        p = s;
    }
    for (const char *l = p; l < end && *l;) {
        size_t len = strcspn(l, "\n");
        if (len && !(len == 1 && l[0] == '\r'))
            buf_printf(out, "\n    | %.*s", (int)len, l);
        l += len + (l[len] == '\n');
    }
}

/* Output (already redacted) into the step's detail and the words said. */
static void keep_output(struct hook_run *hr, const char *output, size_t total, struct buf *detail)
{
    char *tail = tail_of(output, HOOK_DETAIL_MAX);
    if (*tail) {
        buf_printf(detail, "; output%s:\n%s", total > strlen(tail) ? " (the end of it)" : "", tail);
        last_lines(tail, HOOK_SAY_LINES, &hr->said);
    }
    free(tail);
}

/* The hook on the host: hostcmd with the facts and env: over ttdeploy's environment. */
static enum action_result run_host(struct hook_run *hr, struct buf *detail, struct tt_err *err)
{
    const struct plan_hook *h = hr->h;
    struct strv env = {0};
    struct hostcmd_result res;
    strv_copy(&env, &h->env);
    for (size_t i = 0; i < hr->he->facts.n; i++)
        strv_push(&env, hr->he->facts.v[i]);
    struct hostcmd c = {(const char *const *)h->argv.v, (const char *const *)env.v, h->timeout_ms,
                        0};
    int rc = hostcmd_run(&c, &res, err);
    strv_clear(&env);
    if (rc < 0)
        return ACTION_FAILED;
    struct buf how = {0};
    hostcmd_describe(&res, h->timeout_ms, &how);
    buf_adds(detail, how.data);
    char *out = redacted(&hr->secrets, res.output.data);
    keep_output(hr, out, res.output_total, detail);
    free(out);
    int ok = res.code == 0 && !res.signal && !res.timed_out && !res.interrupted;
    if (!ok)
        tt_error(err, "hook %s (%s %s) failed: %s", h->name, plan_hook_when_name(h->when), h->phase,
                 how.data);
    buf_release(&how);
    hostcmd_result_clear(&res);
    return ok ? ACTION_DONE : ACTION_FAILED;
}

/* The hook in a one-off container of its service, on the release's image, removed after. */
static enum action_result run_container(struct run *a, struct hook_run *hr, struct buf *detail,
                                        struct tt_err *err)
{
    const struct plan_hook *h = hr->h;
    const struct compose_service *s = compose_find_service(a->project, h->service);
    struct strv env = {0};
    struct buf logs = {0};
    struct tt_err e = {0};
    int code = -1;
    double t0 = monotime_now();

    strv_copy(&env, &h->env);
    for (size_t i = 0; i < hr->he->facts.n; i++)
        strv_push(&env, hr->he->facts.v[i]);
    int rc = run_oneoff(a, s, s->image, &h->argv, &env, h->timeout_ms, &code, &logs, &e);
    strv_clear(&env);
    if (rc < 0) {
        char *why = redacted(&hr->secrets, e.msg);
        buf_printf(detail, "in a one-off container of %s: %s", h->service, why);
        tt_error(err, "hook %s (%s %s) in service %s failed: %s", h->name,
                 plan_hook_when_name(h->when), h->phase, h->service, why);
        free(why);
        buf_release(&logs);
        return ACTION_FAILED;
    }
    buf_printf(detail, "exit %d after %.1f s in a one-off container of %s (removed)", code,
               monotime_now() - t0, h->service);
    char *out = redacted(&hr->secrets, logs.data);
    keep_output(hr, out, logs.len, detail);
    free(out);
    buf_release(&logs);
    if (code != 0)
        tt_error(err, "hook %s (%s %s) failed: exit %d in a one-off container of %s", h->name,
                 plan_hook_when_name(h->when), h->phase, code, h->service);
    return code == 0 ? ACTION_DONE : ACTION_FAILED;
}

static enum action_result run_hook(struct run *a, void *ctx, struct buf *detail, struct tt_err *err)
{
    struct hook_run *hr = ctx;
    return hr->h->service ? run_container(a, hr, detail, err) : run_host(hr, detail, err);
}

/* "run NAME (before): COMMAND [in service S]", redacted. */
static char *hook_intent(const struct hook_run *hr)
{
    const struct plan_hook *h = hr->h;
    struct buf b = {0};
    char *cmd = h->shell ? xstrdup(h->argv.v[2]) : strv_join(&h->argv, " ");
    buf_printf(&b, "run %s (%s): %s", h->name, plan_hook_when_name(h->when), cmd);
    if (h->service)
        buf_printf(&b, " in a one-off container of %s", h->service);
    char *out = redacted(&hr->secrets, b.data);
    free(cmd);
    buf_release(&b);
    return out;
}

/* Runs one hook as a step; says how it went.  Its error is left in err. */
static enum action_result hook_step(struct run *a, enum deploy_state phase, struct hook_env *he,
                                    const struct plan_hook *h, struct tt_err *err)
{
    struct hook_run hr = {h, he, {0}, {0}};
    struct buf detail = {0};

    strv_copy(&hr.secrets, &he->secrets);
    collect_secrets(a, h, &hr.secrets);
    char *intent = hook_intent(&hr);
    struct step_desc d = {phase, h->service, "hook", intent};
    run_say(a, "%s: hook %s (%s)%s%s", he->phase, h->name, plan_hook_when_name(h->when),
            h->service ? " in " : "", h->service ? h->service : "");
    enum action_result r = step_run(a, &d, run_hook, &hr, &detail, err);
    char *said = redacted(&hr.secrets, detail.len ? detail.data : err->msg);
    *strchrnul(said, '\n') = '\0'; /* the first line; the output follows below */
    if (strstr(said, "; output"))
        *strstr(said, "; output") = '\0';
    run_say(a, "%s: hook %s %s: %s%s", he->phase, h->name, r == ACTION_DONE ? "ok" : "FAILED", said,
            r == ACTION_DONE ? ""
            : hr.said.data   ? hr.said.data
                             : "");
    free(said);
    free(intent);
    buf_release(&detail);
    buf_release(&hr.said);
    strv_clear(&hr.secrets);
    return r;
}

/* ---- the hooks of a phase ------------------------------------------------- */

/* The failure's facts for the matrix: the hook is the check that failed. */
static void fail_phase(struct run *a, const struct plan_hook *h, const struct tt_err *why)
{
    free(a->fail_check);
    free(a->fail_service);
    a->fail_check = xstrdup(h->name);
    a->fail_service = h->service ? xstrdup(h->service) : NULL;
    if (!a->err->msg[0])
        tt_error(a->err, "%s", why->msg[0] ? why->msg : "a before hook failed");
}

/* ---- after a crash: what the deployment's steps say ran --------------------- */

enum hook_record {
    HOOK_NOT_BEGUN, /* no step of it */
    HOOK_CUT,       /* begun but not ended: running when the crash came (now interrupted) */
    HOOK_ENDED,     /* its outcome is recorded: ok or failed */
};

/* How far hook h of phase got in steps (a deployment's, as store_show() lists them). */
static enum hook_record hook_recorded(json_t *steps, const char *phase, const struct plan_hook *h)
{
    enum hook_record got = HOOK_NOT_BEGUN;
    struct buf prefix = {0}; /* hook_intent()'s beginning: names are unique in a plan */
    size_t i;
    json_t *step;

    buf_printf(&prefix, "run %s (%s): ", h->name, plan_hook_when_name(h->when));
    json_array_foreach(steps, i, step)
    {
        const char *ph = json_string_value(json_object_get(step, "phase"));
        const char *action = json_string_value(json_object_get(step, "action"));
        const char *intent = json_string_value(json_object_get(step, "intent"));
        if (!ph || !action || !intent || strcmp(ph, phase) || strcmp(action, "hook") ||
            strncmp(intent, prefix.data, prefix.len))
            continue;
        int st = step_status_from_name(json_string_value(json_object_get(step, "status")));
        enum hook_record r = st == STEP_OK || st == STEP_FAILED ? HOOK_ENDED : HOOK_CUT;
        if (r > got)
            got = r;
    }
    buf_release(&prefix);
    return got;
}

/*
 * Runs the hooks of phase for when; ran NULL: all of them.  ran a
 * deployment's steps (recover): a hook whose outcome they record is said
 * and not run again; one they show cut by the crash runs again.
 */
static int run_hooks(struct run *a, enum deploy_state phase, enum plan_hook_when when, json_t *ran)
{
    const struct plan *p = a->plan;
    struct hook_env he = {deploy_state_name(phase), when, {0}, {0}};
    int rc = 0, any = 0;

    for (size_t i = 0; i < p->nhooks && !any; i++)
        any = p->hooks[i].when == when && !strcmp(p->hooks[i].phase, he.phase);
    if (!any)
        return 0;
    if (interrupt_signal()) /* nothing may act: a before hook fails its phase, saying why */
        return when == PLAN_HOOK_BEFORE ? run_may_act(a, phase, NULL, "hook") : 0;
    char *pw = p->db_url ? redact_password_of(p->db_url) : NULL;
    add_secret(&he.secrets, NULL, pw, p);
    add_secret_entries(&he.secrets, environ, p);
    free(pw);
    facts_build(a, &he, &he.secrets);
    for (size_t i = 0; i < p->nhooks; i++) {
        const struct plan_hook *h = &p->hooks[i];
        struct tt_err herr = {0};
        if (h->when != when || strcmp(h->phase, he.phase))
            continue;
        if (ran && hook_recorded(ran, he.phase, h) == HOOK_ENDED) {
            run_say(a, "%s: hook %s (%s) ended before the crash: not run again", he.phase, h->name,
                    plan_hook_when_name(when));
            continue;
        }
        if (hook_step(a, phase, &he, h, &herr) == ACTION_DONE)
            continue;
        if (when == PLAN_HOOK_BEFORE) {
            fail_phase(a, h, &herr);
            rc = -1;
            break;
        }
        if (a->store_err.msg[0] || interrupt_signal())
            break; /* the store cannot follow, or the user asked to stop: no more hooks */
    }
    strv_clear(&he.facts);
    strv_clear(&he.secrets);
    return rc;
}

int hooks_run(struct run *a, enum deploy_state phase, enum plan_hook_when when)
{
    return run_hooks(a, phase, when, NULL);
}

int hooks_run_after_crash(struct run *a, enum deploy_state phase, enum plan_hook_when when)
{
    struct tt_err e = {0};
    json_t *d = store_show(a->store, a->id, &e); /* NULL: nothing known, so all run */
    int rc = run_hooks(a, phase, when, json_object_get(d, "steps"));
    json_decref(d);
    return rc;
}

int hooks_begun(struct run *a, enum deploy_state phase, enum plan_hook_when when)
{
    const struct plan *p = a->plan;
    const char *name = deploy_state_name(phase);
    struct tt_err e = {0};
    json_t *d = store_show(a->store, a->id, &e);
    int begun = 0;

    for (size_t i = 0; d && i < p->nhooks && !begun; i++)
        begun = p->hooks[i].when == when && !strcmp(p->hooks[i].phase, name) &&
                hook_recorded(json_object_get(d, "steps"), name, &p->hooks[i]) != HOOK_NOT_BEGUN;
    json_decref(d);
    return begun;
}

void hooks_dry_run(struct run *a, FILE *out)
{
    const struct plan *p = a->plan;
    if (!p->nhooks)
        return;
    fprintf(out, "hooks:\n");
    for (size_t i = 0; i < p->nhooks; i++) {
        struct hook_run hr = {&p->hooks[i], NULL, {0}, {0}};
        collect_secrets(a, hr.h, &hr.secrets);
        char *intent = hook_intent(&hr);
        fprintf(out, "  %s %s: would %s (timeout %.0f s)\n", hr.h->phase,
                plan_hook_when_name(hr.h->when), intent, hr.h->timeout_ms / 1000.0);
        free(intent);
        strv_clear(&hr.secrets);
    }
}
