/*
 * image_prune.h - removing images a project no longer needs, for image
 * retention (orchestrator/deploy/retention.c decides which; this module
 * only speaks to the engine).
 *
 * A scan reads, once, the images the engine holds and the image every
 * container uses (GET /containers/json?all=1: running or stopped, of any
 * project).  A removal never forces: it deletes the tags the project
 * recorded, one by one, and the image goes with its last tag (or is
 * deleted by ID when it has none).  A tag the project did not record
 * stays, and then so does the image; a daemon that refuses (409: a
 * container, a child image) keeps it and says why.
 */
#ifndef IMAGE_PRUNE_H
#define IMAGE_PRUNE_H

#include "engine.h"
#include "strv.h"

struct image_prune_scan {
    json_t *images;        /* GET /images/json: one object per image */
    struct strv in_use;    /* image IDs containers use ... */
    struct strv in_use_by; /* ... and the name of the first such container */
};

/* Reads the engine's images and its containers' images (-1 with err when it cannot). */
int image_prune_scan(struct engine *e, struct image_prune_scan *s, struct tt_err *err);
void image_prune_scan_clear(struct image_prune_scan *s);

/* What the scan knows of image id ("sha256:..."): found 0 when the engine no longer has it. */
struct image_prune_info {
    int found;
    long long size;      /* bytes, shared layers included */
    const char *project; /* its com.docker.compose.project or ttdeploy.project label, or NULL */
    const char *used_by; /* the name of a container that uses it, or NULL */
};
void image_prune_info(const struct image_prune_scan *s, const char *id,
                      struct image_prune_info *out);

/*
 * The tags image id holds (per the scan) that are not in ours, into out
 * (cleared first); returns how many of ours it holds.
 */
size_t image_prune_other_tags(const struct image_prune_scan *s, const char *id,
                              const struct strv *ours, struct strv *out);

enum image_prune_outcome {
    IMAGE_PRUNE_REMOVED,  /* the image is gone */
    IMAGE_PRUNE_UNTAGGED, /* ours untagged; it stays for the tags in other_tags */
    IMAGE_PRUNE_KEPT,     /* the daemon refused (why says its message); nothing removed */
};

struct image_prune_result {
    enum image_prune_outcome outcome;
    struct strv untagged;   /* the tags of ours the daemon removed */
    struct strv other_tags; /* its tags the project did not record: they stay */
    char why[512]; /* IMAGE_PRUNE_KEPT, or REMOVED left to a child image: the daemon's word */
};

/*
 * Removes image id (never forced), whose tags the project recorded are
 * ours: each of ours it still holds is deleted; with no tag left (or none
 * to begin with) the image is deleted by ID.  -1 with err when the daemon
 * cannot be reached or answers other than 2xx, 404 (already gone) or 409.
 */
int image_prune_remove(struct engine *e, const struct image_prune_scan *s, const char *id,
                       const struct strv *ours, struct image_prune_result *r, struct tt_err *err);
void image_prune_result_clear(struct image_prune_result *r);

#endif
