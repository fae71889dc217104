/*
 * test_exec.c - a command run through the Engine API's exec counts only
 * when its output stream is whole and the daemon gives its exit code.
 * Against a fake daemon: a stream cut inside a frame or inside a header,
 * a frame of an unknown stream, the daemon's own error frame, an exec
 * still running or whose ExitCode is null, a daemon that answers nothing
 * and one that stops sending mid-stream (the stall limit, 1 s here).
 * Each is an error for engine_exec and engine_exec_to_fd, a failed
 * readiness probe, and a backup that leaves no file behind.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <string.h>

#include "backup.h"
#include "fake_dockerd.h"
#include "monotime.h"
#include "probe.h"

/* Frames: [stream, 0, 0, 0, size32be] payload, in hex. */
#define OUT_HELLO "01000000 00000006 68656c6c6f0a" /* stdout "hello\n" */
#define ERR_WARN "02000000 00000005 7761726e0a"    /* stderr "warn\n" */
#define OUT_PGDMP "01000000 00000005 5047444d50"   /* stdout "PGDMP" */
#define OUT_CUT "01000000 0000000a 5047444d50"     /* 10 bytes due, 5 sent */
#define HEADER_CUT "0100 0000"                     /* half a header */
#define UNKNOWN "07000000 00000002 6869"           /* stream 7 */
#define DAEMON_ERR "03000000 00000017 4f43492072756e74696d652065786563206661696c6564"

/* 100 MiB of 'x' in one frame, on stdout or stderr, and 10 MiB on stdout (FAKE_STREAM_FILL). */
#define OUT_100M "01000000 06400000|104857600"
#define ERR_100M OUT_PGDMP " 02000000 06400000|104857600"
#define OUT_10M "01000000 00a00000|10485760"
#define CUT_NOTE "output cut: kept the last 65536 of 104857600 bytes\n"

#define EXITED_0 "{\"Running\":false,\"ExitCode\":0}"
#define EXITED_2 "{\"Running\":false,\"ExitCode\":2}"
#define NO_CODE "{\"Running\":false,\"ExitCode\":null}"
#define RUNNING "{\"Running\":true,\"ExitCode\":null}"

/* The three requests of an exec in container NAME (whose exec id is NAME too). */
#define EXEC_ROUTES(name, start_status, stream, inspect)                                           \
    {"POST /v1.43/containers/" name "/exec ", 201, "{\"Id\":\"" name "\"}"},                       \
        {"POST /v1.43/exec/" name "/start ", start_status, stream},                                \
    {                                                                                              \
        "GET /v1.43/exec/" name "/json ", 200, inspect                                             \
    }

static const struct fake_route dockerd[] = {
    {"GET /version ", 200, "{\"ApiVersion\":\"1.43\"}"},
    EXEC_ROUTES("whole", FAKE_STREAM, OUT_HELLO " " ERR_WARN, EXITED_0),
    EXEC_ROUTES("exit2", FAKE_STREAM, OUT_HELLO, EXITED_2),
    EXEC_ROUTES("dump", FAKE_STREAM, OUT_PGDMP " " ERR_WARN, EXITED_0),
    EXEC_ROUTES("cut", FAKE_STREAM, OUT_PGDMP " " OUT_CUT, EXITED_0),
    EXEC_ROUTES("cuthead", FAKE_STREAM, OUT_PGDMP " " HEADER_CUT, EXITED_0),
    EXEC_ROUTES("unknown", FAKE_STREAM, OUT_PGDMP " " UNKNOWN, EXITED_0),
    EXEC_ROUTES("daemonerr", FAKE_STREAM, DAEMON_ERR, EXITED_0),
    EXEC_ROUTES("nocode", FAKE_STREAM, OUT_PGDMP, NO_CODE),
    EXEC_ROUTES("running", FAKE_STREAM, OUT_PGDMP, RUNNING),
    EXEC_ROUTES("silent", 0, NULL, EXITED_0),
    EXEC_ROUTES("stalls", FAKE_STREAM_STALL, OUT_PGDMP, EXITED_0),
    /* a container and an exec id that, sent as written, would name another endpoint */
    {"POST /v1.43/containers/..%2F..%2Fcontainers%2Fx%2Fkill%3Fsignal%3D9%23/exec ", 201,
     "{\"Id\":\"../x?y#\"}"},
    {"POST /v1.43/exec/..%2Fx%3Fy%23/start ", FAKE_STREAM, OUT_HELLO},
    {"GET /v1.43/exec/..%2Fx%3Fy%23/json ", 200, EXITED_0},
    EXEC_ROUTES("big", FAKE_STREAM_FILL, OUT_100M, EXITED_0),
    EXEC_ROUTES("bigerr", FAKE_STREAM_FILL, ERR_100M, EXITED_0),
    EXEC_ROUTES("bigdump", FAKE_STREAM_FILL, OUT_10M, EXITED_0),
    {NULL, 0, NULL},
};

static struct fake_http server;
static struct engine *engine;

static void start(void)
{
    fake_dockerd_start(&server, dockerd, &engine);
    engine_set_stall(engine, 1000);
}

static void stop(void)
{
    fake_dockerd_stop(&server, &engine);
}

TestSuite(exec, .init = start, .fini = stop, .timeout = 20);

/* engine_exec of `sh` in container; returns its result, code and output through the pointers. */
static int run(const char *container, int *code, struct buf *out, struct tt_err *err)
{
    json_t *argv = json_pack("[s,s]", "sh", "-c");
    *code = -1;
    int rc = engine_exec(engine, container, argv, 15000, code, out, err);
    json_decref(argv);
    return rc;
}

/* Asserts engine_exec in container fails with a message containing want. */
static void exec_fails(const char *container, const char *want)
{
    struct buf out = {0};
    struct tt_err err = {0};
    int code;
    cr_assert_eq(run(container, &code, &out, &err), -1, "%s: counted as exit %d", container, code);
    cr_assert(strstr(err.msg, want) != NULL, "%s: %s", container, err.msg);
    cr_assert(strstr(err.msg, "sh in container ") != NULL, "names the command: %s", err.msg);
    buf_release(&out);
}

Test(exec, whole_stream_and_exit_code)
{
    struct buf out = {0};
    struct tt_err err = {0};
    int code;
    cr_assert_eq(run("whole", &code, &out, &err), 0, "%s", err.msg);
    cr_assert_eq(code, 0);
    cr_assert_str_eq(out.data, "hello\nwarn\n");
    buf_reset(&out);
    cr_assert_eq(run("exit2", &code, &out, &err), 0, "%s", err.msg);
    cr_assert_eq(code, 2);
    buf_release(&out);
}

Test(exec, stream_cut_inside_a_frame)
{
    exec_fails("cut", "ended inside a frame after 26 bytes (5 more were due)");
    exec_fails("cuthead", "ended inside a frame after 17 bytes (4 more were due)");
}

Test(exec, unknown_stream_type)
{
    exec_fails("unknown", "unknown frame at byte 13 (stream type 7");
}

Test(exec, daemon_error_in_the_stream)
{
    exec_fails("daemonerr", "the Docker engine reported an error: OCI runtime exec failed");
}

Test(exec, exit_code_null)
{
    exec_fails("nocode", "gave no exit code (ExitCode null)");
    exec_fails("running", "still runs after its output stream ended");
}

/* Asserts container's exec fails by the stall limit (1 s), well before its 15 s timeout. */
static void stalls(const char *container)
{
    double t0 = monotime_now();
    exec_fails(container, "sent nothing for 1 s (the stall limit, timeouts.stall)");
    double took = monotime_now() - t0;
    cr_assert(took >= 0.9 && took < 4, "%s: failed after %.2f s", container, took);
}

Test(exec, daemon_answers_nothing)
{
    stalls("silent");
}

Test(exec, stream_stalls_midway)
{
    stalls("stalls");
}

/* engine_exec_to_fd of pg_dump in container into a scratch file read back into file; its stderr
 * goes to errout (NULL: it must be "warn\n"). */
static int run_to_fd(const char *container, struct buf *file, struct buf *errout,
                     struct tt_err *err)
{
    char *dir = tu_tmpdir();
    struct buf path = {0}, warn = {0};
    json_t *argv = json_pack("[s]", "pg_dump");
    long long bytes = -1;
    int code = -1;

    buf_printf(&path, "%s/out", dir);
    int fd = open(path.data, O_WRONLY | O_CREAT | O_EXCL, 0600);
    int rc = engine_exec_to_fd(engine, container, argv, NULL, fd, 15000, &code, &bytes,
                               errout ? errout : &warn, err);
    close(fd);
    FILE *f = fopen(path.data, "r");
    char chunk[256];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_add(file, chunk, n);
    fclose(f);
    if (rc == 0) {
        cr_assert_eq(bytes, (long long)file->len);
        cr_assert_eq(code, 0);
        if (!errout)
            cr_assert_str_eq(warn.data, "warn\n");
    }
    unlink(path.data);
    rmdir(dir);
    free(dir);
    json_decref(argv);
    buf_release(&path);
    buf_release(&warn);
    return rc;
}

Test(exec, to_fd_whole_and_cut)
{
    struct buf file = {0};
    struct tt_err err = {0};
    cr_assert_eq(run_to_fd("dump", &file, NULL, &err), 0, "%s", err.msg);
    cr_assert_str_eq(file.data, "PGDMP");
    const char *bad[] = {"cut", "cuthead", "unknown", "daemonerr", "nocode", "running", "stalls"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        buf_reset(&file);
        cr_assert_eq(run_to_fd(bad[i], &file, NULL, &err), -1, "%s counted as a whole dump",
                     bad[i]);
        cr_assert(strstr(err.msg, "pg_dump in container ") != NULL, "%s", err.msg);
    }
    buf_release(&file);
}

/* The names in dir, sorted, joined by spaces ("" when empty). */
static char *listing(const char *dir)
{
    struct strv names = {0};
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.')
            strv_push(&names, e->d_name);
    if (d)
        closedir(d);
    char *s = strv_join(&names, " ");
    strv_clear(&names);
    return s;
}

/* backup_take through container into a scratch dir; *files receives what is left in it. */
static int take(const char *container, char **files, struct tt_err *err)
{
    char *dir = tu_tmpdir();
    struct backup_result b = {0};
    int rc = backup_take(engine, container, "postgresql://app:secret@db:5432/shop", dir, "shop", 7,
                         15000, &b, err);
    *files = listing(dir);
    if (rc == 0) {
        cr_assert_eq(b.bytes, 5);
        cr_assert(strstr(b.path, "/shop_7_") && strstr(b.path, ".dump"), "%s", b.path);
        unlink(b.path);
    }
    rmdir(dir);
    free(dir);
    backup_result_clear(&b);
    return rc;
}

Test(exec, backup_keeps_only_a_whole_dump)
{
    struct tt_err err = {0};
    char *files = NULL;
    cr_assert_eq(take("dump", &files, &err), 0, "%s", err.msg);
    cr_assert(strstr(files, ".dump") && !strstr(files, ".partial"), "left: %s", files);
    free(files);
    const char *bad[] = {"cut", "unknown", "nocode", "running", "stalls"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        cr_assert_eq(take(bad[i], &files, &err), -1, "%s: a backup was kept", bad[i]);
        cr_assert_str_eq(files, "", "%s left files behind: %s", bad[i], files);
        cr_assert(strstr(err.msg, "pg_dump in container ") != NULL, "%s", err.msg);
        free(files);
    }
}

/* Runs one attempt of a probe of container to its end; returns its result (output: a copy of
 * its output, may be NULL). */
static enum probe_result probe_output(const char *container, struct buf *output)
{
    json_t *test = json_pack("[s,s]", "CMD", "true");
    struct probe *p = probe_new(container, test, 5000, 1000);
    enum probe_result res = PROBE_RUNNING;
    struct tt_err err = {0};
    double deadline = monotime_now() + 10;

    probe_start(p, engine, NULL);
    while (res == PROBE_RUNNING && monotime_now() < deadline) {
        cr_assert_eq(engine_pump(engine, 100, &err), 0, "%s", err.msg);
        struct engine_req *r;
        while (res == PROBE_RUNNING && (r = engine_next_done(engine))) {
            res = probe_on_done(p, engine, r, monotime_now());
            engine_req_free(r);
        }
    }
    if (output)
        buf_adds(output, probe_last_output(p));
    probe_free(p);
    json_decref(test);
    return res;
}

static enum probe_result probe_once(const char *container)
{
    return probe_output(container, NULL);
}

Test(exec, probe_passes_only_on_a_whole_stream_and_exit_0)
{
    cr_assert_eq(probe_once("whole"), PROBE_PASSED);
    const char *bad[] = {"exit2", "cut", "unknown", "daemonerr", "nocode", "running"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        cr_assert_eq(probe_once(bad[i]), PROBE_FAILED, "%s counted as healthy", bad[i]);
}

/* ---- verify: list against a throwaway PostgreSQL ---------------------------- */

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include "pgdb.h"

static char *pg_dir;
static pid_t pg_pid;
static char pg_url[128];

/* Runs argv as the postgres user (initdb and postgres refuse root); returns the child's pid. */
static pid_t as_postgres(char *const argv[], const struct passwd *pw)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
            _exit(126);
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* after setuid, which clears it */
        if (!getenv("PG_DEBUG")) {
            int null = open("/dev/null", O_WRONLY);
            dup2(null, 1);
            dup2(null, 2);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* A PostgreSQL of its own on a free-ish loopback port, or the test is skipped. */
static void pg_start(void)
{
    struct passwd *pw = getpwnam("postgres");
    struct buf data = {0}, port = {0};
    int status;

    if (!pw || geteuid() != 0 ||
        system(
            "command -v initdb >/dev/null && command -v postgres >/dev/null && command -v createdb "
            ">/dev/null && command -v pg_dump >/dev/null") != 0)
        cr_skip_test("needs root, a postgres user, initdb, postgres and pg_dump");
    pg_dir = tu_tmpdir();
    cr_assert_eq(chown(pg_dir, pw->pw_uid, pw->pw_gid), 0);
    buf_printf(&data, "%s/data", pg_dir);
    char *initdb[] = {"initdb", "-D", data.data, "-U", "postgres", "-A", "trust", "-N", NULL};
    waitpid(as_postgres(initdb, pw), &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "initdb failed");
    buf_printf(&port, "%d", 20000 + getpid() % 20000);
    char *postgres[] = {"postgres", "-D",        data.data,
                        "-p",       port.data,   "-k",
                        pg_dir,     "-c",        "listen_addresses=127.0.0.1",
                        "-c",       "fsync=off", NULL};
    pg_pid = as_postgres(postgres, pw);
    snprintf(pg_url, sizeof(pg_url), "postgresql://postgres@127.0.0.1:%s/shop", port.data);
    /* The live database the tests dump (ttdeploy itself creates only tt_ scratch ones). */
    char *createdb[] = {"createdb", "-h", pg_dir, "-p", port.data, "-U", "postgres", "shop", NULL};
    double deadline = monotime_now() + 20;
    do {
        waitpid(as_postgres(createdb, pw), &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            break;
        usleep(100000); /* the server is still starting */
    } while (monotime_now() < deadline);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "createdb shop failed");
    buf_release(&data);
    buf_release(&port);
}

static void pg_stop(void)
{
    if (pg_pid > 0) {
        kill(pg_pid, SIGQUIT);
        waitpid(pg_pid, NULL, 0);
    }
    if (pg_dir) {
        struct buf rm = {0};
        buf_printf(&rm, "rm -rf %s", pg_dir);
        if (system(rm.data) != 0)
            perror(rm.data);
        buf_release(&rm);
        free(pg_dir);
    }
}

TestSuite(backup_list, .init = pg_start, .fini = pg_stop, .timeout = 60);

static void sql(const char *text)
{
    struct tt_err err = {0};
    struct pgdb *c = pgdb_connect(pg_url, monotime_now() + 10, &err);
    cr_assert_not_null(c, "%s", err.msg);
    cr_assert_eq(pgdb_exec(c, text, &err), 0, "%s", err.msg);
    pgdb_close(c);
}

/* A dump of the database taken with the host's pg_dump into pg_dir. */
static void dump(struct backup_result *b)
{
    struct tt_err err = {0};
    cr_assert_eq(backup_take_host(pg_url, pg_dir, "shop", 1, b, &err), 0, "%s", err.msg);
}

/* Asserts verify: list refuses b with a message containing want, and removed the file. */
static void list_refuses(struct backup_result *b, const char *want)
{
    struct tt_err err = {0};
    struct stat st;
    cr_assert_eq(backup_verify(b, "list", pg_url, monotime_now() + 10, &err), -1, "list passed: %s",
                 b->detail.data);
    cr_assert(strstr(err.msg, want) != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "is not whole, so it was removed") != NULL, "%s", err.msg);
    cr_assert(stat(b->path, &st) < 0, "%s was kept", b->path);
}

Test(backup_list, toc_must_hold_every_table)
{
    struct backup_result b = {0};
    struct tt_err err = {0};
    sql("CREATE TABLE orders (id int); INSERT INTO orders VALUES (1); CREATE SCHEMA billing; "
        "CREATE TABLE billing.\"Invoices\" (id int)");
    dump(&b);
    cr_assert_eq(backup_verify(&b, "list", pg_url, monotime_now() + 10, &err), 0, "%s", err.msg);
    cr_assert(strstr(b.detail.data, "pg_restore --list read it back") != NULL, "%s", b.detail.data);
    sql("CREATE TABLE late (id int)"); /* the dump no longer holds what the database holds */
    list_refuses(&b, "no data for 1 of the 3 tables the database holds: public.late");
    backup_result_clear(&b);
}

Test(backup_list, a_dump_cut_short_is_refused)
{
    struct backup_result b = {0};
    struct stat st;
    sql("CREATE TABLE rows AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g");
    dump(&b);
    cr_assert_eq(stat(b.path, &st), 0);
    cr_assert_eq(truncate(b.path, st.st_size / 2), 0); /* its TOC is whole, its data is not */
    list_refuses(&b, "pg_restore --file=/dev/null exited 1");
    backup_result_clear(&b);
}

/* ---- output kept within its bound --------------------------------------------- */

/* Asserts out holds the note and then the last 64 KiB of 100 MiB of 'x'. */
static void kept_the_tail(const struct buf *out)
{
    cr_assert_eq(out->len, strlen(CUT_NOTE) + ENGINE_OUTPUT_KEEP, "kept %zu bytes", out->len);
    cr_assert(!strncmp(out->data, CUT_NOTE, strlen(CUT_NOTE)), "%.80s", out->data);
    cr_assert_eq(strspn(out->data + strlen(CUT_NOTE), "x"), (size_t)ENGINE_OUTPUT_KEEP);
}

Test(exec, a_100_mb_output_keeps_its_last_64_kib_and_says_so)
{
    struct buf out = {0};
    struct tt_err err = {0};
    int code;
    long before = fake_http_peak_rss_mb();
    cr_assert_eq(run("big", &code, &out, &err), 0, "%s", err.msg);
    cr_assert_eq(code, 0);
    kept_the_tail(&out);
    long grew = fake_http_peak_rss_mb() - before;
    cr_assert(grew < 16, "reading 100 MiB of output raised the peak memory by %ld MiB", grew);
    buf_release(&out);
}

Test(exec, a_100_mb_health_check_output_keeps_its_last_64_kib)
{
    struct buf out = {0};
    long before = fake_http_peak_rss_mb();
    cr_assert_eq(probe_output("big", &out), PROBE_PASSED);
    kept_the_tail(&out);
    long grew = fake_http_peak_rss_mb() - before;
    cr_assert(grew < 16, "a 100 MiB check output raised the peak memory by %ld MiB", grew);
    buf_release(&out);
}

Test(exec, to_fd_keeps_all_of_stdout_and_the_last_64_kib_of_stderr)
{
    struct buf file = {0}, errout = {0};
    struct tt_err err = {0};
    cr_assert_eq(run_to_fd("bigdump", &file, &errout, &err), 0, "%s", err.msg);
    cr_assert_eq(file.len, 10485760, "stdout to a file is never cut: %zu bytes", file.len);
    buf_reset(&file);
    cr_assert_eq(run_to_fd("bigerr", &file, &errout, &err), 0, "%s", err.msg);
    cr_assert_str_eq(file.data, "PGDMP");
    kept_the_tail(&errout);
    buf_release(&file);
    buf_release(&errout);
}

Test(exec, hostile_container_and_exec_ids_reach_only_the_exec_endpoints)
{
    struct buf out = {0}, sent = {0};
    struct tt_err err = {0};
    int code;
    cr_assert_eq(run("../../containers/x/kill?signal=9#", &code, &out, &err), 0, "%s", err.msg);
    cr_assert_str_eq(out.data, "hello\n");
    fake_http_requests(&server, &sent);
    cr_assert_str_eq(sent.data,
                     "GET /version HTTP/1.1\n"
                     "POST /v1.43/containers/..%2F..%2Fcontainers%2Fx%2Fkill%3Fsignal%3D9%23/exec "
                     "HTTP/1.1\n"
                     "POST /v1.43/exec/..%2Fx%3Fy%23/start HTTP/1.1\n"
                     "GET /v1.43/exec/..%2Fx%3Fy%23/json HTTP/1.1\n");
    buf_release(&out);
    buf_release(&sent);
}
