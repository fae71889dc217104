/*
 * engine_int.h - what engine.c, engine_exec.c, engine_events.c,
 * engine_target.c and engine_ssh.c share, private to adapters/: the
 * bounded keeping of a stream's last bytes, and the ssh transport.  Only
 * .c files of this folder include it.
 */
#ifndef ENGINE_INT_H
#define ENGINE_INT_H

#include "buf.h"
#include "tterr.h"

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

/*
 * The ssh:// transport (engine_ssh.c): each connection libcurl opens is
 * one `ssh [-l user] [-p port] -- host docker system dial-stdio` found on
 * PATH, speaking HTTP over its stdin and stdout (a unix socket whose
 * other end libcurl holds), as the docker CLI does.  ssh's
 * own configuration, agent and known_hosts apply; BatchMode=yes, so it
 * never prompts.  Each child is reaped when libcurl closes its
 * connection, and at engine_ssh_free() at the latest.
 */
struct engine_ssh;
/* -1 when no ssh is on PATH.  port 0: ssh's own (its config, else 22). */
struct engine_ssh *engine_ssh_new(const char *user, const char *host, int port, long connect_ms,
                                  struct tt_err *err);
/* Makes libcurl easy handle curl (a CURL *) open its connections through s. */
void engine_ssh_setup(struct engine_ssh *s, void *curl);
/*
 * What the last ssh that ended in failure said on stderr (its last lines)
 * and how it ended, or NULL.  Called after a request failed: waits up to
 * half a second for the ssh behind it to exit.  s may be NULL.
 */
const char *engine_ssh_said(struct engine_ssh *s);
/* Ends and reaps every ssh still running (its stdin closed, then signals), frees s. */
void engine_ssh_free(struct engine_ssh *s);

#endif
