/*
 * bench_store.c - the audit store at scale: record 100,000 steps (5,000
 * deployments of 20 steps, each step an intent and an outcome, each its
 * own transaction as in a real deployment), then time `history --limit
 * 50` and `show ID` (and the typed record show is built from), both
 * in-process and as the ttdeploy command a person runs.  Targets (issue 4): recording a step under
 * 1 ms; history and show under 20 ms.
 *
 *   make bench     or    build/bench/bench_store [TTDEPLOY_BINARY]
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchutil.h"
#include "buf.h"
#include "store.h"

#define DEPLOYMENTS 5000
#define STEPS 20
#define RUNS 21

extern char **environ;

/* Runs argv with stdout to /dev/null; returns wall milliseconds. */
static double time_command(char *const *argv)
{
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int status;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    double t0 = bench_now_ms();
    if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0)
        return -1;
    waitpid(pid, &status, 0);
    double t = bench_now_ms() - t0;
    posix_spawn_file_actions_destroy(&fa);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? t : -1;
}

int main(int argc, char **argv)
{
    const char *bin = argc > 1 ? argv[1] : "./ttdeploy";
    char dir[] = "/tmp/ttdeploy-bench-store-XXXXXX";
    struct buf path = {0}, idbuf = {0};
    struct store *st = NULL;
    struct tt_err err = {0};
    static const enum deploy_state phases[] = {DEPLOY_INFRA_UP, DEPLOY_INFRA_HEALTHY, DEPLOY_APP_UP,
                                               DEPLOY_APP_HEALTHY};
    static const char *const services[] = {"postgres", "nats", "api", "worker", "dashboard"};
    long long last = 0, step;

    if (!mkdtemp(dir))
        return 1;
    buf_printf(&path, "%s/.ttdeploy/state.db", dir);
    if (store_open(path.data, &st, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double *each = calloc(DEPLOYMENTS * STEPS, sizeof(double));
    int nstep = 0;
    double t0 = bench_now_ms(), worst = 0;
    for (int d = 0; d < DEPLOYMENTS; d++) {
        struct store_deployment dep = {.project = "bench", .version = "v1", .actor = "bench"};
        store_deployment_begin(st, &dep, &last, &err);
        for (int k = 0; k < STEPS; k++) {
            double s0 = bench_now_ms();
            store_step_begin(st, last, phases[k % 4], services[k % 5], "create",
                             "create api: image local/api:v1.4.0", &step, &err);
            store_step_end(st, step, STEP_OK, "healthy (probe, 0.31 s)", NULL, &err);
            double s1 = bench_now_ms() - s0;
            each[nstep++] = s1;
            if (s1 > worst)
                worst = s1;
        }
        store_deployment_finish(st, last, d % 10 ? DEPLOY_SUCCEEDED : DEPLOY_FAILED, NULL, &err);
    }
    double total = bench_now_ms() - t0;
    bench_sort(each, (size_t)nstep);
    printf("store: %d steps recorded in %.0f ms: %.3f ms per step (intent + outcome), p99 %.3f ms, "
           "worst %.2f ms (a WAL checkpoint) (target < 1 ms)\n",
           DEPLOYMENTS * STEPS, total, total / (DEPLOYMENTS * STEPS), each[nstep * 99 / 100],
           worst);
    free(each);

    double hist[RUNS], show[RUNS], record[RUNS], hist_cli[RUNS], show_cli[RUNS];
    struct store_history_filter f = {.limit = 50};
    for (int r = 0; r < RUNS; r++) {
        double a = bench_now_ms();
        json_t *h = store_history(st, &f, &err);
        hist[r] = bench_now_ms() - a;
        json_decref(h);
        a = bench_now_ms();
        json_t *s = store_show(st, last / 2, &err);
        show[r] = bench_now_ms() - a;
        json_decref(s);
        struct store_record *rec = NULL;
        a = bench_now_ms();
        store_record_load(st, last / 2, &rec, &err);
        record[r] = bench_now_ms() - a;
        store_record_free(rec);
    }
    buf_printf(&idbuf, "%lld", last / 2);
    char *hargv[] = {(char *)bin, "history", "--state", path.data, "--limit", "50", NULL};
    char *sargv[] = {(char *)bin, "show", "--state", path.data, idbuf.data, NULL};
    for (int r = 0; r < RUNS; r++) {
        hist_cli[r] = time_command(hargv);
        show_cli[r] = time_command(sargv);
    }
    printf("store: history --limit 50: %.2f ms in-process, %.2f ms as a command; show: %.2f ms "
           "in-process (%.2f ms of it the typed record), %.2f ms as a command (medians of %d; "
           "target < 20 ms)\n",
           bench_median(hist, RUNS), bench_median(hist_cli, RUNS), bench_median(show, RUNS),
           bench_median(record, RUNS), bench_median(show_cli, RUNS), RUNS);
    store_close(st);
    struct buf cmd = {0};
    buf_printf(&cmd, "rm -rf '%s'", dir);
    if (system(cmd.data) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    buf_release(&cmd);
    buf_release(&path);
    buf_release(&idbuf);
    return 0;
}
