/*
 * state_remote.c - `--state engine`: the run's store lives in a named
 * volume of the engine it deploys to (docker/state_volume.c), so a fresh
 * CI runner still sees the history and the lock.
 *
 * The run works on a private copy (0600 in a 0700 temporary directory)
 * opened as an ordinary store; the copy on the engine is brought up to
 * date after every intent and outcome of a step, and at the end, from a
 * consistent snapshot (store_snapshot: VACUUM INTO), so a kill -9 at any
 * point leaves on the engine every write up to the last step that began
 * or ended.  The lock is the holder container on the engine; the copy's
 * own lock row (a run killed while holding it left it there) is cleared
 * when the holder is taken: whoever holds the holder is the only writer.
 */
#include "state_remote.h"
#include "interrupt.h"
#include "monotime.h"
#include "run.h"
#include "state_volume.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct state_remote {
    struct engine *e; /* a connection of its own: the run opens its engine later (recover) */
    struct state_holder *holder;
    char dir[4096];
    char db[4200], key[4200], snap[4200];
    int settled;                   /* the last write is on the engine (run_outcome) */
    double down_ms, up_ms, up_max; /* what it cost: the download, the uploads */
    long ups;
};

int state_remote_wanted(const struct run *a)
{
    /* As the docker CLI: the command line (--state), then the environment, then the plan. */
    const char *env = getenv("TTDEPLOY_STATE");
    if (a->o->state_engine || a->o->state_path)
        return a->o->state_engine;
    return a->plan && a->plan->state_engine && !(env && *env);
}

/* A connection of r's own to the engine the run deploys to (run_open_engine's choice). */
static int remote_engine(struct run *a, struct state_remote *r)
{
    struct engine *theirs = a->engine;
    a->engine = NULL;
    int rc = run_open_engine(a);
    r->e = a->engine;
    a->engine = theirs;
    return rc;
}

static void remote_free(struct state_remote *r)
{
    struct tt_err ignored = {0}; /* a holder that cannot be removed goes stale in 30 s */
    if (!r)
        return;
    state_volume_unlock(r->holder, &ignored);
    state_volume_tempdir_remove(r->dir);
    engine_close(r->e);
    free(r);
}

/* Takes the lock on the engine: at once, or after saying whom it waits for. */
static enum apply_outcome remote_lock(struct run *a, struct state_remote *r)
{
    struct buf who = {0};
    const char *project = a->project->name;
    int rc = state_volume_lock(r->e, project, 0, &r->holder, &who, a->err);
    if (rc == 1) {
        run_say(a, "waiting up to %.0f s for the lock on %s, held by %s", a->o->lock_timeout_s,
                project, who.data);
        buf_reset(&who);
        rc = state_volume_lock(r->e, project, a->o->lock_timeout_s, &r->holder, &who, a->err);
    }
    if (rc == 1 && interrupt_signal())
        tt_error(a->err, "interrupted while waiting for the lock on %s, held by %s", project,
                 who.data);
    else if (rc == 1)
        tt_error(a->err,
                 "project %s is locked on the engine at %s by %s: wait for it, or if it is gone, "
                 "run `ttdeploy unlock --force --state engine -p %s`",
                 project, engine_host(r->e), who.data, project);
    buf_release(&who);
    if (rc == 1)
        return interrupt_signal() ? APPLY_INTERRUPTED : APPLY_LOCK_HELD;
    return rc == 0 ? APPLY_OK : APPLY_UNREACHABLE;
}

enum apply_outcome state_remote_open(struct run *a)
{
    struct state_remote *r = xcalloc(1, sizeof(*r));
    struct tt_err e = {0};
    int found = 0, had = 0;
    enum apply_outcome res = APPLY_OK;

    if (remote_engine(a, r) < 0)
        res = APPLY_UNREACHABLE;
    if (res == APPLY_OK)
        res = remote_lock(a, r);
    double t0 = monotime_now();
    if (res == APPLY_OK && (state_volume_tempdir(r->dir, a->err) < 0 ||
                            state_volume_download(r->holder, r->dir, &found, a->err) < 0))
        res = APPLY_UNREACHABLE;
    r->down_ms = (monotime_now() - t0) * 1000;
    snprintf(r->db, sizeof(r->db), "%s/state.db", r->dir);
    snprintf(r->key, sizeof(r->key), "%s/state.key", r->dir);
    snprintf(r->snap, sizeof(r->snap), "%s/upload.db", r->dir);
    if (res == APPLY_OK && store_open(r->db, &a->store, a->err) < 0)
        res = APPLY_BAD_INPUT;
    if (res == APPLY_OK && store_lock_force(a->store, a->project->name, &had, &e) < 0) {
        tt_error(a->err, "%s", e.msg);
        res = APPLY_BAD_INPUT;
    }
    if (res != APPLY_OK) {
        store_close(a->store);
        a->store = NULL;
        remote_free(r);
        return res;
    }
    a->remote = r;
    return APPLY_OK;
}

int state_remote_sync(struct run *a, struct tt_err *err)
{
    struct state_remote *r = a->remote;
    if (!r || !a->store)
        return 0;
    double t0 = monotime_now();
    unlink(r->snap);
    int rc = store_snapshot(a->store, r->snap, err);
    if (rc == 0)
        rc = state_volume_upload(r->holder, r->snap, r->key, err);
    unlink(r->snap);
    double ms = (monotime_now() - t0) * 1000;
    r->up_ms += ms;
    r->up_max = ms > r->up_max ? ms : r->up_max;
    r->ups++;
    return rc;
}

int state_remote_settle(struct run *a, struct tt_err *err)
{
    if (!a->remote || state_remote_sync(a, err) < 0)
        return a->remote ? -1 : 0;
    a->remote->settled = 1;
    return 0;
}

void state_remote_close(struct run *a)
{
    struct state_remote *r = a->remote;
    struct tt_err e = {0};
    if (!r)
        return;
    if (!r->settled && state_remote_sync(a, &e) < 0)
        run_say(a, "warning: the store on the engine misses the last writes: %s", e.msg);
    if (r->ups)
        run_say(a,
                "store kept on the engine at %s: brought down in %.1f ms, put back %ld times "
                "(%.1f ms each, at most %.1f ms)",
                engine_host(r->e), r->down_ms, r->ups, r->up_ms / r->ups, r->up_max);
    store_close(a->store);
    a->store = NULL;
    a->remote = NULL;
    remote_free(r);
}
