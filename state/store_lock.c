/*
 * store_lock.c - the deployment lock: one row per project, held by a live
 * deployment, not by a pid.
 *
 * The holder writes who it is: a random token (the only thing the holder
 * ever matches its row by), the host, the pid, the process's start time
 * (field 22 of /proc/self/stat) and boot (/proc/sys/kernel/random/boot_id),
 * its PID namespace (/proc/self/ns/pid), when it took the lock and its
 * heartbeat.  Pids alone lie: two PID namespaces (containers, `unshare
 * --pid`) sharing one store have pids that mean nothing to each other, and
 * a pid is reused.  So:
 *
 *   - heartbeat, set-deployment and release act on WHERE token = ours:
 *     a process never deletes a lock it does not hold;
 *   - a holder is stale when its heartbeat is older than
 *     STORE_LOCK_STALE_S, or (the fast path, so that `recover` right after
 *     a kill -9 need not wait) when it is on this host, in this boot and
 *     this PID namespace, and its pid is gone or runs another process (a
 *     different start time).  A holder in another PID namespace is judged
 *     by its heartbeat only.
 *
 * While the lock is held, a heartbeat thread refreshes heartbeat_at every
 * STORE_LOCK_HEARTBEAT_S, with its own SQLite connection (WAL: it never
 * waits for the deployment's readers), also while the deployment blocks
 * in a long wait (pg_dump, a health wait).  When its UPDATE finds the row
 * gone or someone else's (`ttdeploy unlock --force`, a takeover), it
 * records that the lock is lost; store_lock_check() says so, and the
 * deployment stops before its next step.
 *
 * Taking the lock is one BEGIN IMMEDIATE transaction on the store's own
 * connection (read the holder, judge it, replace it), retried every
 * 200 ms up to the caller's timeout (or a stop signal): SQLite has no
 * notification to wait on.
 */
#include "store_db.h"
#include "buf.h"
#include "interrupt.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Who this process is, as a lock row says it. */
struct identity {
    char host[256];
    long pid;
    long long start_ticks; /* 0: unknown */
    char boot_id[64];      /* "" unknown */
    char pid_ns[64];       /* "pid:[4026531836]"; "": unknown, no fast path */
};

struct store_lock {
    sqlite3 *db; /* the lock's own connection: the heartbeat thread's and release's */
    char *path;
    char *project;
    char token[33];
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;    /* guards stop, why, last_beat and the condition */
    pthread_mutex_t db_mu; /* one heartbeat at a time: its UPDATE, then sqlite3_changes() */
    pthread_cond_t wake;
    int stop;
    atomic_int lost;  /* 1: the row is no longer ours */
    char why[512];    /* why it is lost */
    double last_beat; /* wall time of the last heartbeat that worked */
};

static double wall_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

/* ---- who a process is ------------------------------------------------------ */

/* Reads the first line of path into out (without its newline); -1 when unreadable. */
static int read_line(const char *path, char *out, size_t n)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    int ok = fgets(out, (int)n, f) != NULL;
    fclose(f);
    if (!ok)
        return -1;
    out[strcspn(out, "\n")] = '\0';
    return 0;
}

/*
 * The pid (field 1) and start time in clock ticks since boot (field 22)
 * that /proc/PID/stat gives (pid 0: /proc/self).  -1 when there is no such
 * process in this /proc.
 */
static int proc_stat(long pid, long *pid_out, long long *start_ticks)
{
    char path[64], line[1024];
    if (pid > 0)
        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    else
        snprintf(path, sizeof(path), "/proc/self/stat");
    if (read_line(path, line, sizeof(line)) < 0)
        return -1;
    *pid_out = strtol(line, NULL, 10);
    /* The command name (field 2) is in parentheses and may hold anything: count after the last ')'.
     */
    const char *p = strrchr(line, ')');
    if (!p)
        return -1;
    p++;
    for (int field = 2; field < 22 && *p; p++)
        if (*p == ' ')
            field++;
    *start_ticks = strtoll(p, NULL, 10);
    return 0;
}

/*
 * Whether /proc is the /proc of this process's PID namespace: /proc/self
 * is this pid.  Without that (`unshare --pid` without a new /proc), the
 * pids in /proc are another namespace's and the fast path must not look.
 */
static int proc_is_ours(void)
{
    long pid = 0;
    long long ticks = 0;
    return proc_stat(0, &pid, &ticks) == 0 && pid == (long)getpid();
}

static void identity_of_self(struct identity *me)
{
    memset(me, 0, sizeof(*me));
    if (gethostname(me->host, sizeof(me->host)) < 0)
        snprintf(me->host, sizeof(me->host), "unknown");
    me->host[sizeof(me->host) - 1] = '\0';
    me->pid = (long)getpid();
    if (!proc_is_ours())
        return; /* start time and namespace unknown: judged by the heartbeat only */
    long pid;
    if (proc_stat(0, &pid, &me->start_ticks) < 0)
        me->start_ticks = 0;
    if (read_line("/proc/sys/kernel/random/boot_id", me->boot_id, sizeof(me->boot_id)) < 0)
        me->boot_id[0] = '\0';
    ssize_t n = readlink("/proc/self/ns/pid", me->pid_ns, sizeof(me->pid_ns) - 1);
    me->pid_ns[n > 0 ? n : 0] = '\0';
}

/* A token no other holder has: 16 random bytes, in hex. */
static int new_token(char out[33], struct tt_err *err)
{
    unsigned char raw[16];
    size_t got = 0;
    while (got < sizeof(raw)) {
        ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return tt_error(err, "cannot draw a random lock token (getrandom: %s)",
                            strerror(errno));
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

/* ---- the row ---------------------------------------------------------------- */

/* One statement with parameters bound per types (store_db_bind); SQLite's result code. */
static int lock_run(sqlite3 *db, const char *sql, const char *types, ...)
{
    sqlite3_stmt *st;
    va_list ap;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return sqlite3_errcode(db);
    va_start(ap, types);
    store_db_bind(st, types, ap);
    va_end(ap);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

static void column_text(sqlite3_stmt *st, int i, char *out, size_t n)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(out, n, "%s", t ? (const char *)t : "");
}

/* The holder's row into h (and its start time, boot and token): 1 found, 0 none, -1 error. */
static int read_holder(sqlite3 *db, const char *project, struct store_lock_owner *h,
                       struct identity *who, char token[33])
{
    sqlite3_stmt *st;
    int found = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT host, pid, started_at, heartbeat_at, deployment_id, pid_ns, "
                           "start_ticks, boot_id, token FROM lock WHERE project = ?",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, project, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        found = 1;
        memset(h, 0, sizeof(*h));
        column_text(st, 0, h->host, sizeof(h->host));
        h->pid = (long)sqlite3_column_int64(st, 1);
        h->started_at = sqlite3_column_double(st, 2);
        h->heartbeat_at = sqlite3_column_double(st, 3);
        h->deployment_id = sqlite3_column_int64(st, 4);
        column_text(st, 5, h->pid_ns, sizeof(h->pid_ns));
        if (who) {
            memset(who, 0, sizeof(*who));
            snprintf(who->host, sizeof(who->host), "%s", h->host);
            who->pid = h->pid;
            snprintf(who->pid_ns, sizeof(who->pid_ns), "%s", h->pid_ns);
            who->start_ticks = sqlite3_column_int64(st, 6);
            column_text(st, 7, who->boot_id, sizeof(who->boot_id));
        }
        if (token)
            column_text(st, 8, token, 33);
    } else if (rc != SQLITE_DONE) {
        found = -1;
    }
    sqlite3_finalize(st);
    return found;
}

int store_lock_holder(struct store *s, const char *project, struct store_lock_owner *holder,
                      struct tt_err *err)
{
    int found = read_holder(s->db, project, holder, NULL, NULL);
    if (found < 0)
        return store_db_error(s, err, "read lock");
    return found;
}

/*
 * Whether the holder who (its row; heartbeat at heartbeat_at) is gone.
 * By the heartbeat always; by its pid only when it is in this host, boot
 * and PID namespace, and this /proc shows that namespace.
 */
static int holder_is_stale(const struct identity *who, double heartbeat_at,
                           const struct identity *me)
{
    if (wall_now() - heartbeat_at > STORE_LOCK_STALE_S)
        return 1;
    if (!who->pid_ns[0] || !me->pid_ns[0] || strcmp(who->pid_ns, me->pid_ns) ||
        strcmp(who->host, me->host) || !who->boot_id[0] || strcmp(who->boot_id, me->boot_id) ||
        who->pid <= 0)
        return 0;
    long pid;
    long long ticks;
    if (proc_stat(who->pid, &pid, &ticks) < 0)
        return 1;                                             /* no such process */
    return who->start_ticks > 0 && ticks != who->start_ticks; /* the pid runs another process */
}

/* One attempt: 0 taken (the row written with token), 1 held by someone else, -1 error. */
static int lock_try(struct store *s, const char *project, const char *token,
                    struct store_lock_owner *holder, struct tt_err *err)
{
    struct identity me, who;
    identity_of_self(&me);
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return store_db_error(s, err, "lock");
    int found = read_holder(s->db, project, holder, &who, NULL);
    if (found < 0) {
        store_db_error(s, err, "read lock");
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    if (found && !holder_is_stale(&who, holder->heartbeat_at, &me)) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return 1;
    }
    double now = wall_now();
    int rc =
        lock_run(s->db,
                 "INSERT OR REPLACE INTO lock (project, host, pid, started_at, heartbeat_at, "
                 "deployment_id, token, start_ticks, boot_id, pid_ns) "
                 "VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?)",
                 "ttiddtitt", project, me.host, (long long)me.pid, now, now, token, me.start_ticks,
                 me.boot_id[0] ? me.boot_id : NULL, me.pid_ns[0] ? me.pid_ns : NULL);
    if (rc != SQLITE_DONE || sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        store_db_error(s, err, "take the lock");
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

/* ---- the heartbeat ---------------------------------------------------------- */

static void lock_mark_lost(struct store_lock *l, const char *fmt, const char *detail)
{
    pthread_mutex_lock(&l->mu);
    if (!atomic_load(&l->lost))
        snprintf(l->why, sizeof(l->why), fmt, detail);
    atomic_store(&l->lost, 1);
    pthread_mutex_unlock(&l->mu);
}

/* Refreshes the heartbeat once; notes a lost lock (the row gone, or too long without a beat). */
static void lock_beat(struct store_lock *l)
{
    pthread_mutex_lock(&l->db_mu);
    int rc = lock_run(l->db, "UPDATE lock SET heartbeat_at = ? WHERE project = ? AND token = ?",
                      "dtt", wall_now(), l->project, l->token);
    int changed = rc == SQLITE_DONE ? sqlite3_changes(l->db) : 0;
    pthread_mutex_unlock(&l->db_mu);
    if (rc == SQLITE_DONE && changed == 0) {
        lock_mark_lost(l, "%s",
                       "its row is gone or belongs to another deployment (removed by "
                       "`ttdeploy unlock --force`?)");
    } else if (rc == SQLITE_DONE) {
        pthread_mutex_lock(&l->mu);
        l->last_beat = wall_now();
        pthread_mutex_unlock(&l->mu);
    } else {
        pthread_mutex_lock(&l->mu);
        double since = wall_now() - l->last_beat;
        pthread_mutex_unlock(&l->mu);
        if (since > STORE_LOCK_STALE_S / 2.0)
            lock_mark_lost(l,
                           "its heartbeat could not be written for 15 s (%s): another "
                           "deployment may take it as stale",
                           sqlite3_errmsg(l->db));
    }
}

static void *heartbeat_main(void *arg)
{
    struct store_lock *l = arg;
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += STORE_LOCK_HEARTBEAT_S;
        while (!l->stop && pthread_cond_timedwait(&l->wake, &l->mu, &until) != ETIMEDOUT)
            ;
        if (l->stop)
            break;
        pthread_mutex_unlock(&l->mu);
        lock_beat(l);
        pthread_mutex_lock(&l->mu);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static void lock_free(struct store_lock *l)
{
    if (!l)
        return;
    if (l->thread_started) {
        pthread_mutex_lock(&l->mu);
        l->stop = 1;
        pthread_cond_signal(&l->wake);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thread, NULL);
    }
    pthread_cond_destroy(&l->wake);
    pthread_mutex_destroy(&l->mu);
    pthread_mutex_destroy(&l->db_mu);
    sqlite3_close(l->db);
    free(l->path);
    free(l->project);
    free(l);
}

/* The lock object for a row just written with token: its connection and heartbeat thread. */
static int lock_start(struct store *s, const char *project, const char *token,
                      struct store_lock **out, struct tt_err *err)
{
    struct store_lock *l = xcalloc(1, sizeof(*l));
    pthread_condattr_t ca;

    l->path = xstrdup(s->path);
    l->project = xstrdup(project);
    snprintf(l->token, sizeof(l->token), "%s", token);
    l->last_beat = wall_now();
    pthread_mutex_init(&l->mu, NULL);
    pthread_mutex_init(&l->db_mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (sqlite3_open_v2(l->path, &l->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) !=
        SQLITE_OK) {
        tt_error(err, "state store %s: open the lock's connection: %s", l->path,
                 l->db ? sqlite3_errmsg(l->db) : "out of memory");
        lock_free(l);
        return -1;
    }
    sqlite3_busy_timeout(l->db, 5000);
    int rc = pthread_create(&l->thread, NULL, heartbeat_main, l);
    if (rc != 0) {
        tt_error(err, "cannot start the lock's heartbeat thread: %s", strerror(rc));
        lock_free(l);
        return -1;
    }
    l->thread_started = 1;
    *out = l;
    return 0;
}

void store_lock_owner_describe(const struct store_lock_owner *h, struct buf *out)
{
    char since[32];
    time_t t = (time_t)h->started_at;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(since, sizeof(since), "%Y-%m-%d %H:%M:%S", &tm);
    buf_printf(out, "%s pid %ld (", h->host, h->pid);
    if (h->deployment_id > 0)
        buf_printf(out, "deployment %lld", h->deployment_id);
    else
        buf_adds(out, "no deployment yet");
    buf_printf(out, ") since %s UTC, pid namespace %s, heartbeat %.0f s ago", since,
               h->pid_ns[0] ? h->pid_ns : "unknown", wall_now() - h->heartbeat_at);
}

/* ---- the contract ---------------------------------------------------------- */

int store_lock_acquire(struct store *s, const char *project, double timeout_s,
                       struct store_lock **out, struct store_lock_owner *holder, struct tt_err *err)
{
    struct timespec pause = {0, 200 * 1000 * 1000};
    double deadline = wall_now() + timeout_s;
    char token[33];

    *out = NULL;
    if (new_token(token, err) < 0)
        return -1;
    for (;;) {
        int rc = lock_try(s, project, token, holder, err);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            if (lock_start(s, project, token, out, err) == 0)
                return 0;
            lock_run(s->db, "DELETE FROM lock WHERE project = ? AND token = ?", "tt", project,
                     token);
            return -1;
        }
        if (wall_now() >= deadline || interrupt_signal())
            return 1;
        nanosleep(&pause, NULL); /* another process holds it: SQLite has no notification */
    }
}

int store_lock_set_deployment(struct store_lock *l, long long deployment, struct tt_err *err)
{
    pthread_mutex_lock(&l->db_mu);
    int rc = lock_run(l->db, "UPDATE lock SET deployment_id = ? WHERE project = ? AND token = ?",
                      "itt", deployment, l->project, l->token);
    int changed = rc == SQLITE_DONE ? sqlite3_changes(l->db) : 0;
    if (rc != SQLITE_DONE)
        tt_error(err, "state store %s: record the lock's deployment: %s", l->path,
                 sqlite3_errmsg(l->db));
    pthread_mutex_unlock(&l->db_mu);
    if (rc != SQLITE_DONE)
        return -1;
    if (changed == 0)
        lock_mark_lost(l, "%s", "its row is gone or belongs to another deployment");
    return store_lock_check(l, err);
}

int store_lock_check(struct store_lock *l, struct tt_err *err)
{
    if (!atomic_load(&l->lost))
        lock_beat(l);
    if (!atomic_load(&l->lost))
        return 0;
    pthread_mutex_lock(&l->mu);
    tt_error(err, "the lock on %s is no longer held by this deployment: %s", l->project, l->why);
    pthread_mutex_unlock(&l->mu);
    return -1;
}

int store_lock_lost(struct store_lock *l)
{
    return l && atomic_load(&l->lost);
}

int store_lock_release(struct store_lock *l, struct tt_err *err)
{
    if (!l)
        return 0;
    int rc = 0;
    /* Join the heartbeat first: no beat may follow the release. */
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->mu);
    if (l->thread_started)
        pthread_join(l->thread, NULL);
    l->thread_started = 0;
    if (lock_run(l->db, "DELETE FROM lock WHERE project = ? AND token = ?", "tt", l->project,
                 l->token) != SQLITE_DONE)
        rc = tt_error(err, "state store %s: release the lock on %s: %s", l->path, l->project,
                      sqlite3_errmsg(l->db));
    lock_free(l);
    return rc;
}

int store_lock_force(struct store *s, const char *project, int *had, struct tt_err *err)
{
    int rc = lock_run(s->db, "DELETE FROM lock WHERE project = ?", "t", project);
    if (rc != SQLITE_DONE)
        return store_db_error(s, err, "remove the lock");
    *had = sqlite3_changes(s->db) > 0;
    return 0;
}
