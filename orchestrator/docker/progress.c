/*
 * progress.c - terminal, plain and JSON progress lines.
 */
#include "progress.h"
#include "monotime.h"
#include "buf.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct progress_line {
    char state[48];
    char detail[512];
    double since; /* when the service entered its first non-waiting state */
    double elapsed_final;
    int done;
    char how[16]; /* what decided readiness, shown with the time */
};

struct progress {
    enum progress_mode mode;
    FILE *out;
    const char *const *names;
    size_t n;
    struct progress_line *lines;
    int drawn;
    size_t width;
    double last_tick;
};

static void timestamp(char *b, size_t n)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t k = strftime(b, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(b + k, n - k, ".%03ldZ", (long)(tv.tv_usec / 1000));
}

struct progress *progress_new(enum progress_mode mode, FILE *out, const char *const *names,
                              size_t n)
{
    struct progress *p = xcalloc(1, sizeof(*p));
    if (mode == PROGRESS_AUTO)
        mode = isatty(fileno(out)) ? PROGRESS_TTY : PROGRESS_PLAIN;
    p->mode = mode;
    p->out = out;
    p->names = names;
    p->n = n;
    p->lines = xcalloc(n + 1, sizeof(*p->lines));
    for (size_t i = 0; i < n; i++) {
        snprintf(p->lines[i].state, sizeof(p->lines[i].state), "waiting");
        if (strlen(names[i]) > p->width)
            p->width = strlen(names[i]);
    }
    return p;
}

static void draw(struct progress *p)
{
    double now = monotime_now();
    if (p->drawn)
        fprintf(p->out, "\033[%zuA", p->n);
    for (size_t i = 0; i < p->n; i++) {
        struct progress_line *l = &p->lines[i];
        fprintf(p->out, "\033[2K %-*s  %-10s", (int)p->width, p->names[i], l->state);
        if (l->since > 0 && l->how[0])
            fprintf(p->out, " (%s, %.2f s)", l->how, l->elapsed_final);
        else if (l->since > 0)
            fprintf(p->out, " %6.2f s", l->done ? l->elapsed_final : now - l->since);
        if (l->detail[0])
            fprintf(p->out, "  %s", l->detail);
        fputc('\n', p->out);
    }
    p->drawn = 1;
    fflush(p->out);
}

void progress_set(struct progress *p, size_t idx, const char *state, const char *detail)
{
    struct progress_line *l;
    double now = monotime_now();

    if (!p || idx >= p->n)
        return;
    l = &p->lines[idx];
    if (!strcmp(l->state, state) && !strcmp(l->detail, detail ? detail : ""))
        return;
    if (l->since == 0)
        l->since = now;
    snprintf(l->state, sizeof(l->state), "%s", state);
    snprintf(l->detail, sizeof(l->detail), "%s", detail ? detail : "");
    l->done = !strcmp(state, "healthy") || !strcmp(state, "running") ||
              !strcmp(state, "exited 0") || !strcmp(state, "failed") ||
              !strcmp(state, "unchanged") || !strcmp(state, "removed") ||
              !strcmp(state, "stopped") || !strcmp(state, "skipped");
    if (l->done)
        l->elapsed_final = now - l->since;
    switch (p->mode) {
    case PROGRESS_TTY:
        draw(p);
        break;
    case PROGRESS_PLAIN: {
        char ts[64];
        timestamp(ts, sizeof(ts));
        fprintf(p->out, "%s %-*s  %s", ts, (int)p->width, p->names[idx], state);
        if (l->done && l->how[0])
            fprintf(p->out, " (%s, %.2f s)", l->how, l->elapsed_final);
        else if (l->done)
            fprintf(p->out, " (%.2f s)", l->elapsed_final);
        if (detail && *detail)
            fprintf(p->out, "  %s", detail);
        fputc('\n', p->out);
        fflush(p->out);
        break;
    }
    case PROGRESS_JSON: {
        char ts[64];
        timestamp(ts, sizeof(ts));
        json_t *o = json_pack("{s:s, s:s, s:s, s:f}", "time", ts, "service", p->names[idx], "state",
                              state, "elapsed", now - l->since);
        if (detail && *detail)
            json_object_set_new(o, "detail", json_string(detail));
        if (l->how[0])
            json_object_set_new(o, "readiness", json_string(l->how));
        char *s = json_dumps(o, JSON_COMPACT);
        fprintf(p->out, "%s\n", s);
        fflush(p->out);
        free(s);
        json_decref(o);
        break;
    }
    default:
        break;
    }
}

void progress_ready(struct progress *p, size_t idx, const char *state, const char *how)
{
    if (!p || idx >= p->n)
        return;
    snprintf(p->lines[idx].how, sizeof(p->lines[idx].how), "%s", how ? how : "");
    progress_set(p, idx, state, NULL);
}

void progress_tick(struct progress *p)
{
    double now = monotime_now();
    if (!p || p->mode != PROGRESS_TTY || now - p->last_tick < 0.1)
        return;
    p->last_tick = now;
    draw(p);
}

void progress_note(struct progress *p, const char *text)
{
    if (!p || p->mode == PROGRESS_QUIET)
        return;
    if (p->mode == PROGRESS_JSON) {
        char ts[64];
        timestamp(ts, sizeof(ts));
        json_t *o = json_pack("{s:s, s:s}", "time", ts, "note", text);
        char *s = json_dumps(o, JSON_COMPACT);
        fprintf(p->out, "%s\n", s);
        free(s);
        json_decref(o);
    } else if (p->mode == PROGRESS_PLAIN) {
        char ts[64];
        timestamp(ts, sizeof(ts));
        fprintf(p->out, "%s %s\n", ts, text);
    } else {
        if (p->drawn)
            fprintf(p->out, "\033[%zuA\033[J", p->n);
        fprintf(p->out, "%s\n", text);
        p->drawn = 0;
        draw(p);
    }
    fflush(p->out);
}

void progress_free(struct progress *p)
{
    if (!p)
        return;
    free(p->lines);
    free(p);
}
