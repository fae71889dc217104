/*
 * state_volume.h - the store kept on the engine (`--state engine`): a
 * named volume ttdeploy-state-PROJECT, reached only through the Engine
 * API's archive endpoints of a container that is created and never
 * started, so it works over every transport and on a Swarm manager.
 *
 * The holder container ttdeploy-state-PROJECT is the project's lock:
 * creating it is taking the lock (the daemon refuses a second container
 * of one name, atomically: 409), removing it releases it.  Its labels say
 * who holds it; containers' labels are immutable, so its heartbeat is a
 * file of the volume (/state/heartbeat: "UNIX-TIME TOKEN"), rewritten
 * every STATE_VOLUME_HEARTBEAT_S by a thread of its own; a holder whose
 * heartbeat is older than STATE_VOLUME_STALE_S is removed by the next run.
 *
 * The store is kept in two slots, state-a.db and state-b.db, each with a
 * .sum file written after it in the same upload (generation, size,
 * SHA-256).  An upload writes the slot that does not hold the newest
 * whole copy; a download takes the whole copy (sum matches) of the highest
 * generation.  The daemon extracts an upload by removing each file and
 * writing it again, so an upload cut short (a crash, the connection lost)
 * spoils only the slot it wrote, and the previous upload is still whole.
 */
#ifndef STATE_VOLUME_H
#define STATE_VOLUME_H

#include "buf.h"
#include "engine.h"
#include "tterr.h"

/* A holder whose heartbeat is older than this is gone (as the store's own lock). */
#define STATE_VOLUME_STALE_S 30
/* How often the holder's heartbeat file is rewritten. */
#define STATE_VOLUME_HEARTBEAT_S 5
/* The image of holders and readers: made from an empty tar when missing. */
#define STATE_VOLUME_IMAGE "ttdeploy/holder:1"
/* The largest store file a download accepts (a tar answer is bounded by the engine too). */
#define STATE_VOLUME_MAX_BYTES (48L * 1024 * 1024)

/* The project's lock, held: its holder container and heartbeat. */
struct state_holder;

/* What a holder's labels and heartbeat say, for messages. */
struct state_holder_info {
    char id[80];
    char host[128], token[40];
    char boot[64], pidns[64]; /* its host's boot id, its PID namespace: "" unknown */
    long pid;
    double started, heartbeat; /* unix time; heartbeat: its file's time, else started */
};

/* "ttdeploy-state-PROJECT": the volume's and the holder's name. */
void state_volume_name(const char *project, struct buf *out);

/*
 * Takes project's lock on e by creating its holder, waiting up to
 * timeout_s while a live holder exists; a stale one is removed first.
 * Returns 0 (*out held, its heartbeat running), 1 when still held
 * (*who describes the holder), -1 on error.
 */
int state_volume_lock(struct engine *e, const char *project, double timeout_s,
                      struct state_holder **out, struct buf *who, struct tt_err *err);
/* Whether the heartbeat found the holder gone (removed by someone else: the lock is lost). */
int state_volume_lost(struct state_holder *h);
/*
 * Downloads the newest whole store copy the volume holds into dir/state.db
 * (and the audit key into dir/state.key), files created 0600.  *found is 0
 * when the volume holds no store yet.
 */
int state_volume_download(struct state_holder *h, const char *dir, int *found, struct tt_err *err);
/*
 * Uploads the file db (a consistent copy of the store) as the next
 * generation, into the slot that does not hold the newest; key (may be
 * NULL) is uploaded too when the volume has no key yet.
 */
int state_volume_upload(struct state_holder *h, const char *db, const char *key,
                        struct tt_err *err);
/* Stops the heartbeat and removes the holder (the lock); the volume stays.  NULL: no-op. */
int state_volume_unlock(struct state_holder *h, struct tt_err *err);

/*
 * Read commands: downloads the newest whole copy into dir/state.db (and
 * state.key) through a short-lived reader container, without the lock.
 * A project with no volume, or a volume with no store, is an error.
 */
int state_volume_read(struct engine *e, const char *project, const char *dir, struct tt_err *err);
/*
 * `unlock --force`: removes project's holder whoever holds it; *had says
 * whether there was one, who describes it.
 */
int state_volume_force_unlock(struct engine *e, const char *project, int *had, struct buf *who,
                              struct tt_err *err);
/* What state_volume_peek() saw of a project's store on the engine. */
struct state_volume_peek {
    int volume; /* the volume ttdeploy-state-PROJECT exists */
    int held;   /* a holder exists: the lock is taken (holder describes it) */
    int stale;  /* that holder is gone (its heartbeat stale): the next run removes it */
    struct state_holder_info holder;
};

/*
 * `check --state engine`, `apply --dry-run`: whether project's volume
 * exists and who holds its lock, asked with GET requests only (nothing is
 * created, not even a reader: the store itself is not read).
 */
int state_volume_peek(struct engine *e, const char *project, struct state_volume_peek *out,
                      struct tt_err *err);
/* Appends "HOST pid PID since TIME UTC, heartbeat N s ago (container NAME)". */
void state_volume_describe(const struct state_holder_info *i, const char *project, struct buf *out);

/* A new private directory (0700) for a downloaded store, into dir; -1 with err. */
int state_volume_tempdir(char dir[4096], struct tt_err *err);
/* Removes dir and the store files in it (state.db, its -wal and -shm, state.key, upload.db). */
void state_volume_tempdir_remove(const char *dir);

/* ---- the tar the archive endpoints speak (state_tar.c) ------------------ */

/* Appends a regular file entry (mode 0600) and its content to tar. */
void state_tar_add(struct buf *tar, const char *name, const void *data, size_t len, double mtime);
/* Appends the two zero blocks that end a tar. */
void state_tar_end(struct buf *tar);
/*
 * Calls fn for each regular file of tar (name as stored, its content);
 * fn returning -1 stops.  A tar cut short or with a bad header is an
 * error naming the entry.
 */
int state_tar_each(const struct buf *tar,
                   int (*fn)(void *ctx, const char *name, const char *data, size_t len), void *ctx,
                   struct tt_err *err);

#endif
