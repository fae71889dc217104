/*
 * engine_int.h - what engine.c, engine_exec.c and engine_events.c share,
 * private to adapters/: the bounded keeping of a stream's last bytes.
 * Only .c files of this folder include it.
 */
#ifndef ENGINE_INT_H
#define ENGINE_INT_H

#include "buf.h"

/*
 * The last ENGINE_OUTPUT_KEEP bytes offered, appended to b after what it
 * held (base), and how many were offered in all.  Memory stays within
 * twice the bound however long the stream: the buffer is shifted down
 * whenever it holds two bounds' worth.
 */
struct engine_tail {
    struct buf *b;
    size_t base;     /* b's length when keeping began: what was there is not ours */
    long long total; /* bytes offered */
};

void engine_tail_init(struct engine_tail *t, struct buf *b);
void engine_tail_add(struct engine_tail *t, const char *p, size_t n);
/*
 * Trims b to the last ENGINE_OUTPUT_KEEP bytes; when some were dropped,
 * "output cut: kept the last 65536 of N bytes\n" goes before them, so
 * whoever shows the output says it was cut.
 */
void engine_tail_end(struct engine_tail *t);

#endif
