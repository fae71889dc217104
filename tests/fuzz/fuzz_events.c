/*
 * fuzz_events.c - libFuzzer target for the parser of the daemon's /events
 * stream (engine_events.c).  The first byte chooses the size of the pieces
 * the rest arrives in; every event handed out must be a JSON object, and
 * the same stream in other pieces (here: whole) must give the same events.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

/* Feeds data in pieces of piece bytes and returns the events, as one compact dump each line. */
static void parse(const uint8_t *data, size_t size, size_t piece, struct buf *out)
{
    struct engine_events *ev = engine_events_new();
    json_t *j;

    for (size_t off = 0; off < size; off += piece)
        engine_events_feed(ev, (const char *)data + off, size - off < piece ? size - off : piece);
    while ((j = engine_events_pop(ev))) {
        if (!json_is_object(j))
            abort();
        char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        buf_adds(out, s ? s : "(null)");
        buf_addc(out, '\n');
        free(s);
        json_decref(j);
    }
    engine_events_free(ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf a = {0}, b = {0};

    if (size < 1)
        return 0;
    parse(data + 1, size - 1, 1 + data[0], &a);
    parse(data + 1, size - 1, size, &b);
    if (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len)))
        abort(); /* the pieces changed the events */
    buf_release(&a);
    buf_release(&b);
    return 0;
}
