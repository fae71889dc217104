/*
 * retention.c - image retention: after a deployment succeeds, the images
 * of the project's releases older than its newest N succeeded ones go
 * (the plan's retention: {images: {keep: N}}; plans/README.md).
 *
 * The newest N succeeded releases, the one just deployed first, are the
 * rollback targets: every image ID they recorded stays, so `ttdeploy
 * rollback --previous` (and --to any of them) still finds its images.
 * The candidates are the image IDs recorded by the project's older
 * releases and by none of those N: an image this project never recorded
 * is never one.  Of the candidates, one stays when a container uses it
 * (running or stopped, of any project: the scan lists them all), when its
 * labels name another project, or when the daemon refuses (409).  Only
 * the tags the project recorded are removed; an image that still has
 * others stays for them (docker/image_prune.c).
 *
 * It runs in state succeeded, before the deployment's record is final
 * (a step after that would read as inserted to `ttdeploy audit verify`),
 * one step per image acted on and one summary step.  Nothing here fails
 * the deployment: a removal that fails is a failed step, said to the
 * user.  A stop signal ends it between images; a crash during it leaves
 * a deployment in state succeeded that `recover` finishes succeeded.
 */
#include "run.h"
#include "image_prune.h"
#include "interrupt.h"
#include "state_remote.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* An image the older releases recorded and the kept ones did not. */
struct candidate {
    const char *id;       /* borrowed from the rows */
    const char *version;  /* the newest release that recorded it */
    struct strv services; /* its services in that release */
    struct strv tags;     /* every tag the project's releases recorded with it */
};

struct retention {
    struct run *a;
    json_t *rows;         /* store_project_releases() */
    struct strv kept;     /* "v1.3.0" per kept release, newest first */
    struct strv kept_ids; /* the image IDs they recorded */
    struct candidate *c;
    size_t nc;
    size_t removed, untagged, in_use, foreign, refused, failed;
    long long bytes;
    struct strv removed_names; /* "api v1.1.0" per image removed */
};

/* A step over as soon as written, recorded with its own error (never the deployment's). */
static void note(struct retention *r, enum step_status status, const char *intent,
                 const char *detail)
{
    struct tt_err e = {0}, *saved = r->a->err;
    r->a->err = &e;
    step_note(r->a, DEPLOY_SUCCEEDED, NULL, "retention", intent, status, detail);
    r->a->err = saved;
}

static const char *text(json_t *row, const char *key)
{
    return json_string_value(json_object_get(row, key));
}

static long long deployment_of(json_t *row)
{
    return json_integer_value(json_object_get(row, "deployment_id"));
}

/* The version deployment id recorded, from its rows; fallback when it has none. */
static const char *version_of(struct retention *r, long long id, const char *fallback)
{
    json_t *row;
    size_t i;
    json_array_foreach(r->rows, i, row)
    {
        if (deployment_of(row) == id && text(row, "version"))
            return text(row, "version");
    }
    return fallback ? fallback : "?";
}

/* Which deployments are kept (this one, then the newest succeeded), by id. */
static void choose_kept(struct retention *r, long long *ids, size_t keep)
{
    json_t *row;
    size_t i, n = 1;

    ids[0] = r->a->id;
    strv_push(&r->kept, version_of(r, r->a->id, r->a->plan->release_version));
    json_array_foreach(r->rows, i, row)
    {
        long long d = deployment_of(row);
        const char *status = text(row, "status");
        int seen = 0;
        for (size_t k = 0; k < n; k++)
            seen |= ids[k] == d;
        if (seen || n >= keep || !status || strcmp(status, "succeeded"))
            continue;
        ids[n++] = d;
        strv_push(&r->kept, version_of(r, d, NULL));
    }
    json_array_foreach(r->rows, i, row)
    {
        const char *id = text(row, "image_id");
        for (size_t k = 0; id && k < n; k++)
            if (ids[k] == deployment_of(row) && !strv_contains(&r->kept_ids, id))
                strv_push(&r->kept_ids, id);
    }
}

/* The candidates: image IDs of the other rows that no kept release recorded. */
static void choose_candidates(struct retention *r, const long long *ids, size_t nids)
{
    json_t *row;
    size_t i;

    r->c = xcalloc(json_array_size(r->rows) + 1, sizeof(*r->c));
    json_array_foreach(r->rows, i, row)
    {
        const char *id = text(row, "image_id"), *tag = text(row, "image");
        int kept = 0;
        for (size_t k = 0; k < nids; k++)
            kept |= ids[k] == deployment_of(row);
        if (kept || !id || !*id || strv_contains(&r->kept_ids, id))
            continue;
        struct candidate *c = NULL;
        for (size_t k = 0; k < r->nc && !c; k++)
            if (!strcmp(r->c[k].id, id))
                c = &r->c[k];
        if (!c) { /* rows come newest first: its first row is its newest release */
            c = &r->c[r->nc++];
            c->id = id;
            c->version = text(row, "version") ? text(row, "version") : "?";
        }
        if (!strcmp(c->version, text(row, "version") ? text(row, "version") : "?") &&
            !strv_contains(&c->services, text(row, "service")))
            strv_push(&c->services, text(row, "service"));
        if (tag && !strv_contains(&c->tags, tag))
            strv_push(&c->tags, tag);
    }
}

/* "sha256:… (release v1.1.0: api, worker)" */
static void describe(const struct candidate *c, struct buf *b)
{
    char *services = strv_join(&c->services, ", ");
    buf_printf(b, "%s (release %s: %s)", c->id, c->version, services);
    free(services);
}

/* Removes candidate c, one step; the counts of r say how it went. */
static void remove_one(struct retention *r, struct image_prune_scan *scan,
                       const struct candidate *c, const struct image_prune_info *info)
{
    struct buf intent = {0}, detail = {0};
    struct image_prune_result res = {0};
    struct tt_err e = {0}, *saved = r->a->err;
    long long step;
    enum step_status status;

    buf_adds(&intent, "remove image ");
    describe(c, &intent);
    r->a->err = &e;
    if (step_begin(r->a, DEPLOY_SUCCEEDED, NULL, "retention", intent.data, &step) < 0) {
        r->a->err = saved;
        r->failed++;
        buf_release(&intent);
        return;
    }
    struct tt_err re = {0};
    int rc = image_prune_remove(r->a->engine, scan, c->id, &c->tags, &res, &re);
    char *untagged = strv_join(&res.untagged, ", ");
    char *others = strv_join(&res.other_tags, ", ");
    if (rc < 0) {
        status = STEP_FAILED;
        r->failed++;
        if (res.untagged.n)
            buf_printf(&detail, "untagged %s before the error", untagged);
    } else if (res.outcome == IMAGE_PRUNE_REMOVED) {
        status = STEP_OK;
        r->removed++;
        r->bytes += info->size;
        buf_printf(&detail,
                   "removed%s%s%s; %.1f MB (its size: layers it shares with other images "
                   "stay)",
                   res.untagged.n ? " (untagged " : "", res.untagged.n ? untagged : "",
                   res.untagged.n ? ")" : "", info->size / 1e6);
        char *services = strv_join(&c->services, "+");
        struct buf name = {0};
        buf_printf(&name, "%s %s", services, c->version);
        strv_push(&r->removed_names, name.data);
        buf_release(&name);
        free(services);
    } else if (res.outcome == IMAGE_PRUNE_UNTAGGED) {
        status = STEP_OK;
        r->untagged++;
        buf_printf(&detail,
                   "%s%s; the image stays: still tagged %s, which this project did not "
                   "record",
                   res.untagged.n ? "untagged " : "nothing of ours to untag",
                   res.untagged.n ? untagged : "", others);
    } else {
        status = STEP_SKIPPED;
        r->refused++;
        buf_printf(&detail, "%s%s%sthe image stays: %s", res.untagged.n ? "untagged " : "",
                   res.untagged.n ? untagged : "", res.untagged.n ? "; " : "", res.why);
    }
    step_end(r->a, step, status, detail.len ? detail.data : NULL, rc < 0 ? re.msg : NULL);
    r->a->err = saved;
    if (rc < 0)
        run_say(r->a, "retention: could not remove image %s: %s", c->id, re.msg);
    free(untagged);
    free(others);
    image_prune_result_clear(&res);
    buf_release(&intent);
    buf_release(&detail);
}

/*
 * Whether the image of c is no longer the project's business: none of
 * its tags left (an earlier retention untagged them) and others there.
 */
static int only_others(const struct image_prune_scan *scan, const struct candidate *c)
{
    struct strv others = {0};
    int yes = image_prune_other_tags(scan, c->id, &c->tags, &others) == 0 && others.n;
    strv_clear(&others);
    return yes;
}

/* Why an image stays whatever its age ("" when it may go), counted in r. */
static void why_kept(struct retention *r, const struct image_prune_info *info, struct buf *why)
{
    buf_reset(why);
    if (info->used_by) {
        buf_printf(why, "container %s uses it (running or stopped)", info->used_by);
        r->in_use++;
    } else if (info->project && strcmp(info->project, r->a->project->name)) {
        buf_printf(why, "its label names project %s", info->project);
        r->foreign++;
    }
}

/* Weighs each candidate against the scan: stays (a skipped step), or goes. */
static void prune(struct retention *r, struct image_prune_scan *scan)
{
    struct buf why = {0}, intent = {0};

    for (size_t i = 0; i < r->nc; i++) {
        const struct candidate *c = &r->c[i];
        struct image_prune_info info;
        if (interrupt_signal() || (r->a->lock && store_lock_lost(r->a->lock))) {
            run_say(r->a, "retention: stopped: %zu image%s left for the next deployment", r->nc - i,
                    r->nc - i == 1 ? "" : "s");
            break;
        }
        image_prune_info(scan, c->id, &info);
        if (!info.found || only_others(scan, c))
            continue; /* removed before, or untagged before and kept for others' tags */
        why_kept(r, &info, &why);
        if (!why.len) {
            remove_one(r, scan, c, &info);
            continue;
        }
        buf_reset(&intent);
        buf_adds(&intent, "keep image ");
        describe(c, &intent);
        note(r, STEP_SKIPPED, intent.data, why.data);
    }
    buf_release(&why);
    buf_release(&intent);
}

static void retention_clear(struct retention *r)
{
    for (size_t i = 0; i < r->nc; i++) {
        strv_clear(&r->c[i].services);
        strv_clear(&r->c[i].tags);
    }
    free(r->c);
    json_decref(r->rows);
    strv_clear(&r->kept);
    strv_clear(&r->kept_ids);
    strv_clear(&r->removed_names);
}

void retention_after_success(struct run *a)
{
    struct retention r = {.a = a};
    struct image_prune_scan scan = {0};
    struct tt_err e = {0};
    struct buf summary = {0}, said = {0};
    size_t keep = (size_t)a->plan->retention_keep;

    if (!keep)
        return;
    if (run_swarm_mode(a)) {
        note(&r, STEP_SKIPPED, "image retention",
             "swarm mode: the images live on each node, out of this engine's reach");
        run_say(a, "retention: skipped (swarm mode: the images live on each node)");
        return;
    }
    r.rows = store_project_releases(a->store, a->project->name, &e);
    if (!r.rows || image_prune_scan(a->engine, &scan, &e) < 0) {
        note(&r, STEP_FAILED, "image retention", e.msg);
        run_say(a, "retention: nothing removed: %s", e.msg);
        retention_clear(&r);
        return;
    }
    long long *ids = xcalloc(keep + 1, sizeof(*ids));
    choose_kept(&r, ids, keep);
    size_t nids = r.kept.n;
    choose_candidates(&r, ids, nids);
    free(ids);
    prune(&r, &scan);

    char *kept = strv_join(&r.kept, ", ");
    buf_printf(&summary, "kept %zu release%s: %s", r.kept.n, r.kept.n == 1 ? "" : "s", kept);
    buf_printf(&said, "retention: removed %zu image%s", r.removed, r.removed == 1 ? "" : "s");
    if (r.removed) {
        char *names = strv_join(&r.removed_names, ", ");
        buf_printf(&said, " (%s), %.1f MB", names, r.bytes / 1e6);
        free(names);
    }
    if (r.untagged)
        buf_printf(&said, "; untagged %zu kept for other tags", r.untagged);
    if (r.in_use)
        buf_printf(&said, "; %zu in use by a container, kept", r.in_use);
    if (r.foreign)
        buf_printf(&said, "; %zu labelled for another project, kept", r.foreign);
    if (r.refused)
        buf_printf(&said, "; %zu kept by the daemon (409)", r.refused);
    if (r.failed)
        buf_printf(&said, "; %zu failed", r.failed);
    buf_printf(&said, "; kept release%s %s", r.kept.n == 1 ? "" : "s", kept);
    note(&r, STEP_OK, summary.data, said.data + strlen("retention: "));
    run_say(a, "%s", said.data);
    free(kept);
    buf_release(&summary);
    buf_release(&said);
    image_prune_scan_clear(&scan);
    retention_clear(&r);
}

/* The image IDs the plan's release would run (per a preview), added to kept. */
static void add_previewed(struct run *a, struct strv *kept, struct tt_err *err)
{
    struct stack_options so = {0};
    struct stack_report rep = {0};
    so.progress = PROGRESS_QUIET;
    bluegreen_options(a, &so);
    if (run_stack_preview(a, a->project, a->dag, &so, &rep, err) == 0)
        for (size_t i = 0; i < rep.n; i++)
            if (rep.v[i].image_id && !strv_contains(kept, rep.v[i].image_id))
                strv_push(kept, rep.v[i].image_id);
    stack_report_clear(&rep);
    strv_clear(&so.services);
}

/* The candidates the dry run names, and why each would stay or go. */
static void preview_candidates(struct retention *r, struct image_prune_scan *scan, FILE *out)
{
    struct buf why = {0}, what = {0};
    size_t would = 0;
    for (size_t i = 0; i < r->nc; i++) {
        struct image_prune_info info;
        image_prune_info(scan, r->c[i].id, &info);
        if (!info.found || only_others(scan, &r->c[i]))
            continue;
        why_kept(r, &info, &why);
        buf_reset(&what);
        describe(&r->c[i], &what);
        if (why.len) {
            fprintf(out, "  would keep image %s: %s\n", what.data, why.data);
            continue;
        }
        struct strv others = {0};
        image_prune_other_tags(scan, r->c[i].id, &r->c[i].tags, &others);
        char *tags = strv_join(&r->c[i].tags, ", "), *other = strv_join(&others, ", ");
        if (others.n)
            fprintf(out, "  would untag image %s (%s); it stays, still tagged %s\n", what.data,
                    tags, other);
        else
            fprintf(out, "  would remove image %s, %.1f MB\n", what.data, info.size / 1e6);
        free(tags);
        free(other);
        strv_clear(&others);
        would++;
    }
    if (!would)
        fprintf(out, "  nothing to remove\n");
    buf_release(&why);
    buf_release(&what);
}

void retention_preview(struct run *a, FILE *out)
{
    struct retention r = {.a = a};
    struct image_prune_scan scan = {0};
    struct store *s = NULL;
    struct tt_err e = {0};
    size_t keep = (size_t)a->plan->retention_keep;

    if (!keep)
        return;
    fprintf(out, "retention (images, keep %zu):\n", keep);
    if (run_swarm_mode(a) || state_remote_wanted(a)) {
        fprintf(out, "  not previewed (%s)\n",
                run_swarm_mode(a) ? "swarm mode: skipped, the images live on each node"
                                  : "the store is on the engine");
        return;
    }
    char *path =
        a->o->state_path ? xstrdup(a->o->state_path) : apply_default_state_path(a->o->plan_path);
    if (access(path, F_OK) != 0) {
        fprintf(out, "  nothing to remove: no release recorded yet\n");
    } else if (store_open_existing(path, &s, &e) < 0 ||
               !(r.rows = store_project_releases(s, a->project->name, &e)) ||
               image_prune_scan(a->engine, &scan, &e) < 0) {
        fprintf(out, "  cannot tell: %s\n", e.msg);
    } else {
        long long *ids = xcalloc(keep + 1, sizeof(*ids));
        choose_kept(&r, ids, keep); /* ids[0] is 0: this release has no row yet */
        add_previewed(a, &r.kept_ids, &e);
        choose_candidates(&r, ids, r.kept.n);
        free(ids);
        char *kept = strv_join(&r.kept, ", ");
        fprintf(out, "  would keep releases %s (this one first)\n", kept);
        free(kept);
        preview_candidates(&r, &scan, out);
    }
    free(path);
    store_close(s);
    image_prune_scan_clear(&scan);
    retention_clear(&r);
}
