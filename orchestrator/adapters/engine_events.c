/*
 * engine_events.c - the parser of the daemon's /events stream: bytes come
 * in pieces of any size, each event is one JSON object on one line.  A
 * line in progress is kept until its newline, but never more than
 * ENGINE_EVENT_LINE_MAX of it: a longer line (no real event is) is
 * skipped to its end without being kept, so a stream gone wrong costs a
 * bounded amount of memory.  Lines that are not a JSON object are
 * skipped too, and counted.
 */
#include "engine.h"

#include <stdlib.h>
#include <string.h>

struct event_node {
    json_t *ev;
    struct event_node *next;
};

struct engine_events {
    struct buf line; /* the line in progress */
    int skipping;    /* the line in progress is too long: dropped up to its newline */
    size_t skipped;  /* lines dropped */
    struct event_node *head, *tail;
};

struct engine_events *engine_events_new(void)
{
    return xcalloc(1, sizeof(struct engine_events));
}

void engine_events_free(struct engine_events *ev)
{
    if (!ev)
        return;
    json_t *j;
    while ((j = engine_events_pop(ev)))
        json_decref(j);
    buf_release(&ev->line);
    free(ev);
}

/* A whole line: queued when it is a JSON object, else counted as skipped. */
static void line_done(struct engine_events *ev, const char *text, size_t len)
{
    json_t *j = len ? json_loadb(text, len, 0, NULL) : NULL;

    if (!json_is_object(j)) {
        json_decref(j);
        ev->skipped += len > 0;
        return;
    }
    struct event_node *node = xcalloc(1, sizeof(*node));
    node->ev = j;
    if (ev->tail)
        ev->tail->next = node;
    else
        ev->head = node;
    ev->tail = node;
}

/* Adds a piece of the line in progress (no newline in it), dropping a line grown too long. */
static void line_add(struct engine_events *ev, const char *p, size_t n)
{
    if (ev->skipping)
        return;
    if (n > ENGINE_EVENT_LINE_MAX - ev->line.len) {
        ev->skipping = 1;
        buf_reset(&ev->line);
        return;
    }
    buf_add(&ev->line, p, n);
}

void engine_events_feed(struct engine_events *ev, const char *data, size_t len)
{
    const char *p = data, *end = data + len, *nl;

    while (p < end && (nl = memchr(p, '\n', (size_t)(end - p)))) {
        line_add(ev, p, (size_t)(nl - p));
        if (ev->skipping)
            ev->skipped++;
        else
            line_done(ev, ev->line.data ? ev->line.data : "", ev->line.len);
        ev->skipping = 0;
        buf_reset(&ev->line);
        p = nl + 1;
    }
    if (p < end)
        line_add(ev, p, (size_t)(end - p));
}

json_t *engine_events_pop(struct engine_events *ev)
{
    struct event_node *n = ev->head;
    if (!n)
        return NULL;
    ev->head = n->next;
    if (!ev->head)
        ev->tail = NULL;
    json_t *j = n->ev;
    free(n);
    return j;
}

size_t engine_events_skipped(const struct engine_events *ev)
{
    return ev->skipped;
}
