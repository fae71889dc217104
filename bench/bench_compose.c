/*
 * bench_compose.c - how long loading a large compose file and computing
 * its layers takes.
 *
 * Writes a synthetic project of N services (default 1000) to a scratch
 * file: each with environment, ports, a healthcheck, labels and up to
 * three depends_on entries on earlier services, plus a shared anchor
 * merged with "<<".  Then loads it and builds the DAG 21 times and prints
 * the median and worst time.  Target (issue 2): under 100 ms for 1,000
 * services.
 *
 *   make bench            or   build/bench/bench_compose 5000
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchutil.h"
#include "buf.h"
#include "compose.h"
#include "dag.h"

#define RUNS 21

static void synth(struct buf *b, int n)
{
    buf_adds(b, "name: bench\nx-common: &common\n  restart: unless-stopped\n"
                "  labels: {team: core, tier: app}\n"
                "  environment: &env {LOG_LEVEL: info, REGION: \"${REGION:-eu}\"}\n"
                "services:\n");
    for (int i = 0; i < n; i++) {
        buf_printf(b,
                   "  svc%04d:\n"
                   "    <<: *common\n"
                   "    image: registry.example/svc%04d:${TAG:-1.0}\n"
                   "    command: [\"/bin/app\", \"--port\", \"%d\"]\n"
                   "    environment:\n      <<: *env\n      SERVICE: svc%04d\n"
                   "    ports: [\"127.0.0.1:%d:8000\"]\n"
                   "    healthcheck:\n"
                   "      test: [\"CMD\", \"wget\", \"-q\", \"http://127.0.0.1:8000/health\"]\n"
                   "      interval: 10s\n      timeout: 3s\n      retries: 3\n",
                   i, i, 8000 + i, i, 20000 + i);
        if (i > 0) {
            buf_adds(b, "    depends_on:\n");
            for (int k = 1; k <= 3 && i - k * 7 >= 0; k++)
                buf_printf(b, "      svc%04d: {condition: service_healthy}\n", i - k * 7);
            if (i < 7)
                buf_printf(b, "      svc%04d: {condition: service_started}\n", i - 1);
        }
    }
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    char dir[] = "/tmp/ttdeploy-bench-XXXXXX";
    struct buf text = {0}, path = {0};
    double ms[RUNS];
    size_t layers = 0;

    if (n <= 0 || !mkdtemp(dir)) {
        fprintf(stderr, "usage: bench_compose [N_SERVICES]\n");
        return 2;
    }
    synth(&text, n);
    buf_printf(&path, "%s/compose.yml", dir);
    FILE *f = fopen(path.data, "w");
    if (!f)
        return 1;
    fwrite(text.data, 1, text.len, f);
    fclose(f);

    for (int r = 0; r < RUNS; r++) {
        struct compose_options o = {0};
        struct compose_project *p = NULL;
        struct dag *d = NULL;
        struct tt_err err = {0};
        strv_push(&o.files, path.data);
        double t0 = bench_now_ms();
        if (compose_load(&o, &p, &err) < 0 || dag_build(p, &d, &err) < 0) {
            fprintf(stderr, "bench: %s\n", err.msg);
            return 1;
        }
        ms[r] = bench_now_ms() - t0;
        layers = d->nlayers;
        dag_free(d);
        compose_project_free(p);
        strv_clear(&o.files);
    }
    bench_sort(ms, RUNS);
    printf("compose load + layers: %d services (%zu KiB, %zu layers): median %.1f ms, "
           "worst %.1f ms over %d runs (target < 100 ms)\n",
           n, text.len / 1024, layers, ms[RUNS / 2], ms[RUNS - 1], RUNS);
    unlink(path.data);
    rmdir(dir);
    buf_release(&text);
    buf_release(&path);
    return 0;
}
