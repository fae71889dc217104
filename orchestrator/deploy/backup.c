/*
 * backup.c - taking and checking database backups.
 *
 * pg_dump runs in the database's own container (its pg_dump matches its
 * server) and its output streams over the exec connection straight into
 * the file.  The checks run the host's pg_restore against the published
 * database URL, as an argv (no shell).  No password is ever in an argv
 * (anyone may read it in ps, on the host or in the container): the tools
 * get a connection string without it, rebuilt from the URL's parsed (so
 * %-decoded) parts, and the password in PGPASSWORD, in the environment of
 * that child alone; what they print is cleared of it before it is kept.
 */
#include "backup.h"
#include "dbclean.h"
#include "interrupt.h"
#include "monotime.h"
#include "pgdb.h"
#include "redact.h"
#include "sha256.h"
#include "strv.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

void backup_result_clear(struct backup_result *b)
{
    free(b->path);
    free(b->verified);
    buf_release(&b->detail);
    memset(b, 0, sizeof(*b));
}

static int mkdirs(const char *dir, struct tt_err *err)
{
    char *p = xstrdup(dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        mkdir(p, 0700);
        *s = '/';
    }
    int rc = mkdir(p, 0700) < 0 && errno != EEXIST
                 ? tt_error(err, "cannot create the backup directory %s: %s", dir, strerror(errno))
                 : 0;
    free(p);
    return rc;
}

/* DIR/PROJECT_DEPLOYMENT_TIMESTAMP.dump, and its .partial twin; makes DIR (0700). */
static int backup_paths(const char *dir, const char *project, long long deployment,
                        struct buf *path, struct buf *partial, struct tt_err *err)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;

    if (mkdirs(dir, err) < 0)
        return -1;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    buf_printf(path, "%s/%s_%lld_%s.dump", dir, project, deployment, stamp);
    buf_printf(partial, "%s.partial", path->data);
    return 0;
}

/*
 * The partial file, created new (O_EXCL: never a file that is there, and
 * O_NOFOLLOW: never through a symlink) and 0600.  -1 when it cannot be:
 * whatever is at that name is left alone.
 */
static int open_partial(const char *partial, struct tt_err *err)
{
    int fd = open(partial, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        tt_error(err,
                 "cannot create the backup file %s: %s (a file or link already at that name is "
                 "left alone: remove it if it is not yours to keep, then run again)",
                 partial, strerror(errno));
    return fd;
}

/* Says why writing fd (the partial file) failed: the file, the errno, and what to do. */
static int write_failed(int fd, const char *partial, const char *why, struct tt_err *err)
{
    struct statvfs vfs;
    int full = fstatvfs(fd, &vfs) == 0 && vfs.f_bavail == 0;
    return tt_error(err,
                    "cannot write the backup %s: %s%s; the partial file was removed and the "
                    "deployment stopped before any migration: %s",
                    partial, why, full ? " (ENOSPC: its filesystem is full)" : "",
                    full ? "free space there or point backup.dir at a larger filesystem, then "
                           "run again"
                         : "fix the cause, then run again");
}

/*
 * Makes the partial file the backup, as pg_basebackup and git's lockfile
 * do: the file's data on disk (fsync), then renamed to its final name
 * (never over a file already there), then the directory's entry on disk.
 * Closes fd.  On failure the partial file is removed.
 */
static int commit_partial(int fd, const char *partial, const char *path, struct tt_err *err)
{
    int rc = 0;
    if (fsync(fd) < 0)
        rc = write_failed(fd, partial, strerror(errno), err);
    close(fd);
    if (rc == 0 && renameat2(AT_FDCWD, partial, AT_FDCWD, path, RENAME_NOREPLACE) < 0)
        rc = tt_error(err,
                      "cannot rename %s to %s: %s (a file already at the final name is "
                      "left alone)",
                      partial, path, strerror(errno));
    if (rc < 0) {
        unlink(partial); /* never leave half a backup that looks whole */
        return -1;
    }
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0)
        rc = tt_error(err, "cannot sync the backup directory %s: %s", dir, strerror(errno));
    if (dfd >= 0)
        close(dfd);
    free(dir);
    return rc;
}

/* Runs argv with stdout to out_fd (-1: captured in output with stderr); returns its exit code. */
/* A host pg_dump silent this long, its file not growing, is stopped (timeouts.stall). */
static double host_stall_s = 60;
static int run_host(char *const *argv, const char *password, int out_fd, struct buf *output,
                    struct tt_err *err);

int backup_take_host(const char *url, const char *dir, const char *project, long long deployment,
                     struct backup_result *out, struct tt_err *err)
{
    struct buf path = {0}, partial = {0}, output = {0};
    struct stat st;
    int rc, fd = -1;

    char *password = NULL, *conninfo = pgdb_conninfo_with_db(url, NULL, &password, err);

    memset(out, 0, sizeof(*out));
    if ((rc = conninfo ? 0 : -1) == 0 &&
        (rc = backup_paths(dir, project, deployment, &path, &partial, err)) == 0 &&
        (fd = open_partial(partial.data, err)) < 0)
        rc = -1;
    if (rc == 0) {
        char *argv[] = {"pg_dump", "--format=custom", "--dbname", conninfo, NULL};
        int code = run_host(argv, password, fd, &output, err);
        if (code != 0 && strstr(output.data ? output.data : "", "could not write"))
            rc = write_failed(fd, partial.data, output.data, err);
        else if (code != 0)
            rc = code < 0 ? -1
                          : tt_error(err, "pg_dump exited %d: %.500s", code,
                                     output.data ? output.data : "");
        if (rc == 0)
            rc = commit_partial(fd, partial.data, path.data, err);
        else {
            close(fd);
            unlink(partial.data);
        }
    }
    if (rc == 0 && stat(path.data, &st) == 0)
        out->bytes = (long long)st.st_size;
    if (rc == 0)
        rc = backup_file_sha256(path.data, out->sha256, err);
    if (rc == 0)
        out->path = buf_detach(&path);
    free(conninfo);
    free(password);
    buf_release(&path);
    buf_release(&partial);
    buf_release(&output);
    return rc;
}

int backup_take(struct engine *e, const char *container, const char *url, const char *dir,
                const char *project, long long deployment, long timeout_ms,
                struct backup_result *out, struct tt_err *err)
{
    char *user = NULL, *password = NULL, *db = pgdb_url_db(url);
    struct buf path = {0}, partial = {0}, errout = {0};
    int fd, code = -1, rc = -1;

    memset(out, 0, sizeof(*out));
    if (pgdb_url_check(url, err) < 0) {
        free(db);
        return -1;
    }
    if (backup_paths(dir, project, deployment, &path, &partial, err) < 0) {
        free(db);
        return -1;
    }
    pgdb_url_credentials(url, &user, &password);
    json_t *argv = json_pack("[s,s,s,s,s,s,s,s]", "pg_dump", "--format=custom", "-h", "127.0.0.1",
                             "-U", user ? user : "postgres", "-d", db);
    json_t *env = json_array();
    if (password) {
        struct buf pw = {0};
        buf_printf(&pw, "PGPASSWORD=%s", password);
        json_array_append_new(env, json_string(pw.data));
        buf_release(&pw);
    }
    if ((fd = open_partial(partial.data, err)) >= 0) {
        rc = engine_exec_to_fd(e, container, argv, env, fd, timeout_ms, &code, &out->bytes, &errout,
                               err);
        if (rc < 0) {
            char why[sizeof(err->msg)];
            snprintf(why, sizeof(why), "%s", err->msg);
            write_failed(fd, partial.data, why, err);
        } else if (code != 0) {
            const char *secrets[] = {password, NULL};
            char *said = redact_text(errout.data, secrets);
            rc = tt_error(err, "pg_dump exited %d: %.500s", code, said);
            free(said);
        }
        if (rc == 0)
            rc = commit_partial(fd, partial.data, path.data, err);
        else {
            close(fd);
            unlink(partial.data); /* never leave half a backup that looks whole */
        }
    }
    if (rc == 0)
        rc = backup_file_sha256(path.data, out->sha256, err);
    if (rc == 0)
        out->path = buf_detach(&path);
    json_decref(argv);
    json_decref(env);
    free(user);
    free(password);
    free(db);
    buf_release(&path);
    buf_release(&partial);
    buf_release(&errout);
    return rc;
}

void backup_set_stall(long ms)
{
    host_stall_s = ms > 0 ? ms / 1000.0 : 60;
}

int backup_run_host(char *const *argv, const char *password, struct buf *output, struct tt_err *err)
{
    return run_host(argv, password, -1, output, err);
}

/*
 * The environment for a host tool: ttdeploy's own, less any PGPASSWORD,
 * plus PGPASSWORD=password when there is one.  The strings are borrowed
 * from environ but for the last, *owned (the caller frees both).
 */
static char **child_environ(const char *password, char **owned)
{
    size_t n = 0, k = 0;
    while (environ[n])
        n++;
    char **env = xcalloc(n + 2, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "PGPASSWORD=", 11))
            env[k++] = environ[i];
    *owned = NULL;
    if (password) {
        struct buf b = {0};
        buf_printf(&b, "PGPASSWORD=%s", password);
        env[k++] = *owned = buf_detach(&b);
    }
    return env;
}

/* The size of fd's file, or -1 (a pipe, or none). */
static off_t fd_size(int fd)
{
    struct stat sb;
    return fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? sb.st_size : -1;
}

/* Stops the child: SIGTERM, then SIGKILL after 2 s; reaps it. */
static void stop_child(pid_t pid)
{
    int status;
    kill(pid, SIGTERM);
    for (int i = 0; i < 20; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return;
        usleep(100000);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
}

/*
 * Runs argv on the host: stdout to out_fd (or, with stderr, into output),
 * keeping the first 64 KiB of what it says, cleared of password (given in
 * the child's environment only: never in an argv).  A stop signal stops the
 * child; so do, when it writes a file (pg_dump), host_stall_s seconds in
 * which it neither speaks nor grows the file (a frozen server).  A
 * restore or psql may be silent for long (an index build): those are
 * bounded by the server's statement_timeout.
 */
static int run_host(char *const *argv, const char *password, int out_fd, struct buf *output,
                    struct tt_err *err)
{
    char *owned = NULL;
    posix_spawn_file_actions_t fa;
    int pipefd[2], status;
    pid_t pid;
    char chunk[4096];
    ssize_t n = 1;

    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return tt_error(err, "pipe: %s", strerror(errno));
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out_fd >= 0 ? out_fd : pipefd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    char **env = child_environ(password, &owned);
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    free(owned);
    close(pipefd[1]);
    if (rc != 0) {
        close(pipefd[0]);
        return tt_error(err, "cannot run %s: %s (install postgresql-client)", argv[0],
                        strerror(rc));
    }
    off_t size = fd_size(out_fd);
    double last_progress = monotime_now();
    while (n != 0) {
        struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
        int ready = poll(&p, 1, 500);
        int stalled = out_fd >= 0 && monotime_now() - last_progress > host_stall_s;
        if (interrupt_signal() || stalled) {
            close(pipefd[0]);
            stop_child(pid);
            if (interrupt_signal())
                return tt_error(err, "%s was stopped: interrupted by %s", argv[0],
                                interrupt_signal() == SIGTERM ? "SIGTERM" : "SIGINT");
            return tt_error(err,
                            "%s made no progress for %.0f s (timeouts.stall) and was stopped: "
                            "is the database server frozen or unreachable?",
                            argv[0], host_stall_s);
        }
        if (fd_size(out_fd) != size) {
            size = fd_size(out_fd);
            last_progress = monotime_now();
        }
        if (ready <= 0)
            continue;
        n = read(pipefd[0], chunk, sizeof(chunk));
        if (n < 0 && errno != EINTR && errno != EAGAIN)
            break;
        if (n > 0) {
            last_progress = monotime_now();
            if (output->len < 65536)
                buf_add(output, chunk, (size_t)n);
        }
    }
    close(pipefd[0]);
    if (password && output->len) {
        const char *secrets[] = {password, NULL};
        char *said = redact_text(output->data, secrets);
        buf_reset(output);
        buf_adds(output, said);
        free(said);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return tt_error(err, "waiting for %s: %s", argv[0], strerror(errno));
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The whole text of the file at path, appended to out. */
static int read_text(const char *path, struct buf *out, struct tt_err *err)
{
    FILE *f = fopen(path, "r");
    char chunk[8192];
    size_t n;

    if (!f)
        return tt_error(err, "cannot read %s: %s", path, strerror(errno));
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_add(out, chunk, n);
    fclose(f);
    return 0;
}

/* Whether the pg_restore --list text toc has a TABLE DATA entry for schema.name. */
static int toc_has_data(const char *toc, const char *schema, const char *name)
{
    struct buf want = {0};
    int found = 0;

    /* "3345; 0 16385 TABLE DATA public users owner" */
    buf_printf(&want, " TABLE DATA %s %s ", schema, name);
    for (const char *line = toc; line && *line && !found;) {
        const char *nl = strchr(line, '\n');
        const char *hit = line[0] == ';' ? NULL : strstr(line, want.data);
        found = hit && (!nl || hit < nl);
        line = nl ? nl + 1 : NULL;
    }
    buf_release(&want);
    return found;
}

/* The tables of url's database that the archive's TOC toc has no data for, into missing. */
static int toc_missing_tables(const char *toc, const char *url, double deadline,
                              struct strv *missing, size_t *tables, struct tt_err *err)
{
    struct strv schemas = {0}, names = {0};
    struct pgdb *live = pgdb_connect(url, deadline, err);
    int rc = live ? pgdb_user_tables(live, &schemas, &names, err) : -1;

    for (size_t i = 0; rc == 0 && i < names.n; i++) {
        if (toc_has_data(toc, schemas.v[i], names.v[i]))
            continue;
        struct buf t = {0};
        buf_printf(&t, "%s.%s", schemas.v[i], names.v[i]);
        strv_push_owned(missing, buf_detach(&t));
    }
    *tables = names.n;
    pgdb_close(live);
    strv_clear(&schemas);
    strv_clear(&names);
    return rc;
}

/* Runs pg_restore option [more] path (more may be NULL); 1 when it exited non-zero (the archive
 * is bad), -1 when it could not run. */
static int pg_restore_refuses(const char *option, const char *more, const char *path,
                              struct buf *out, struct tt_err *err)
{
    char *argv[] = {"pg_restore", (char *)option, (char *)(more ? more : path),
                    more ? (char *)path : NULL, NULL};
    int code = backup_run_host(argv, NULL, out, err);
    if (code > 0)
        tt_error(err, "pg_restore %s exited %d: %.300s", option, code, out->data ? out->data : "");
    return code < 0 ? -1 : code > 0;
}

/*
 * "list": the archive reads back whole and holds what the database holds.
 * pg_restore --list writes its TOC to a file beside the backup (a TOC can
 * be large); every table of the live database must have a TABLE DATA
 * entry; then pg_restore reads every data block (to /dev/null), which a
 * dump cut short fails.  An archive shown bad is removed: it is never kept
 * looking like a backup.
 */
static int verify_list(struct backup_result *b, const char *url, double deadline,
                       struct tt_err *err)
{
    struct buf toc_path = {0}, toc_opt = {0}, toc = {0}, out = {0};
    struct strv missing = {0};
    size_t tables = 0;
    int bad;

    buf_printf(&toc_path, "%s.toc", b->path);
    buf_printf(&toc_opt, "--file=%s", toc_path.data);
    bad = pg_restore_refuses("--list", toc_opt.data, b->path, &out, err);
    if (bad == 0 && read_text(toc_path.data, &toc, err) < 0)
        bad = -1;
    unlink(toc_path.data);
    if (bad == 0 &&
        toc_missing_tables(toc.data ? toc.data : "", url, deadline, &missing, &tables, err) < 0)
        bad = -1;
    if (bad == 0 && missing.n) {
        char *names = strv_join(&missing, ", ");
        tt_error(err,
                 "its TOC (pg_restore --list) has no data for %zu of the %zu tables the "
                 "database holds: %.500s; was a table created during the dump, or can the "
                 "dump's user not read it?",
                 missing.n, tables, names);
        free(names);
        bad = 1;
    }
    buf_reset(&out);
    if (bad == 0)
        bad = pg_restore_refuses("--file=/dev/null", NULL, b->path, &out, err);
    if (bad == 0)
        buf_printf(&b->detail, "pg_restore --list read it back with data for all %zu tables",
                   tables);
    if (bad > 0) {
        struct tt_err why = *err;
        unlink(b->path);
        tt_error(err, "the backup %s is not whole, so it was removed: %s", b->path, why.msg);
    }
    strv_clear(&missing);
    buf_release(&toc_path);
    buf_release(&toc_opt);
    buf_release(&toc);
    buf_release(&out);
    return bad ? -1 : 0;
}

int backup_verify(struct backup_result *b, const char *mode, const char *url, double deadline,
                  struct tt_err *err)
{
    free(b->verified);
    b->verified = xstrdup(mode);
    if (!strcmp(mode, "none"))
        return 0;
    if (!strcmp(mode, "list"))
        return verify_list(b, url, deadline, err);
    return tt_error(err, "backup verify: %s is not list or none (restore: backup_verify_restore)",
                    mode);
}

int backup_verify_restore(struct backup_result *b, const struct dbscratch *s, double deadline,
                          struct tt_err *err)
{
    struct buf out = {0};
    const char *url = s->url;
    int rc = 0;

    free(b->verified);
    b->verified = xstrdup("restore");
    /* Into a scratch database, then compare row counts with the live one. */
    char *db = pgdb_url_db(url);
    char *scratch = pgdb_scratch_name("verify", db, b->path);
    char *scratch_url = NULL, *password = NULL, *live_counts = NULL, *copy_counts = NULL;
    struct pgdb *live = NULL, *copy = NULL;
    rc = dbscratch_create(s, "verify", scratch, 0, deadline, err);
    if (rc == 0 && !(scratch_url = pgdb_conninfo_with_db(url, scratch, &password, err)))
        rc = -1;
    if (rc == 0) {
        char *argv[] = {"pg_restore", "--no-owner", "--exit-on-error", "-d", scratch_url,
                        b->path,      NULL};
        int code = backup_run_host(argv, password, &out, err);
        if (code != 0)
            rc = code < 0 ? -1
                          : tt_error(err, "restoring the backup into %s failed (exit %d): %.300s",
                                     scratch, code, out.data ? out.data : "");
    }
    if (rc == 0 && (live = pgdb_connect(url, deadline, err)) &&
        (copy = pgdb_connect_db(url, scratch, deadline, err)) &&
        pgdb_row_counts(live, &live_counts, err) == 0 &&
        pgdb_row_counts(copy, &copy_counts, err) == 0) {
        if (strcmp(live_counts, copy_counts))
            rc = tt_error(err, "the restored backup differs: live %s; restored %s", live_counts,
                          copy_counts);
        else
            buf_printf(&b->detail, "restored into %s with equal row counts (%s)", scratch,
                       live_counts[0] ? live_counts : "no tables");
    } else if (rc == 0) {
        rc = -1;
    }
    if (copy)
        pgdb_close(copy);
    if (live)
        pgdb_close(live);
    if (rc == 0 && dbscratch_drop(s, scratch, deadline, err) < 0)
        rc = -1;
    else if (rc < 0) {
        struct tt_err e2 = {0};
        dbscratch_drop(s, scratch, deadline, &e2);
    }
    free(live_counts);
    free(copy_counts);
    free(scratch_url);
    free(password);
    free(scratch);
    free(db);
    buf_release(&out);
    return rc;
}

int backup_file_sha256(const char *path, char hex[65], struct tt_err *err)
{
    struct sha256_ctx *c = sha256_new();
    int rc = sha256_update_file(c, path, err);
    sha256_finish(c, hex);
    return rc;
}

int backup_restore_into(const char *path, const char *sha256, const struct dbscratch *s,
                        const char *db, double deadline, struct tt_err *err)
{
    const char *url = s->url;
    char hex[65];
    struct buf out = {0};
    int rc;

    if (backup_file_sha256(path, hex, err) < 0)
        return -1;
    if (sha256 && strcmp(hex, sha256))
        return tt_error(err,
                        "the backup %s has changed since it was taken (sha256 %.16s, recorded "
                        "%.16s): not restoring it",
                        path, hex, sha256);
    rc = dbscratch_create(s, "restore", db, 0, deadline, err);
    char *password = NULL,
         *target = rc == 0 ? pgdb_conninfo_with_db(url, db, &password, err) : NULL;
    if (rc == 0 && !target)
        rc = -1;
    if (rc == 0) {
        char *argv[] = {"pg_restore", "--no-owner", "--exit-on-error", "-d", target,
                        (char *)path, NULL};
        int code = backup_run_host(argv, password, &out, err);
        if (code != 0)
            rc = code < 0 ? -1
                          : tt_error(err, "pg_restore of %s into %s exited %d: %.300s", path, db,
                                     code, out.data ? out.data : "");
    }
    free(target);
    free(password);
    if (rc < 0) {
        struct tt_err e2 = {0};
        dbscratch_drop(s, db, deadline, &e2);
    }
    buf_release(&out);
    return rc;
}
