/*
 * image_prune.c - the engine's side of image retention: one scan of the
 * images and of the images containers use, then removals that never
 * force (image_prune.h says the rules).
 *
 * Why tags one by one: DELETE /images/ID refuses (409) an image several
 * repositories reference unless forced, and forcing would take tags the
 * project never made.  DELETE /images/REPO:TAG only untags while other
 * tags remain, and removes the image with its last tag, so deleting only
 * the tags the project recorded can never take another's.
 */
#include "image_prune.h"
#include "buf.h"

#include <stdlib.h>
#include <string.h>

#define SCAN_TIMEOUT_MS 30000L   /* a list of every image or container */
#define REMOVE_TIMEOUT_MS 60000L /* one removal: the daemon deletes its layers first */

int image_prune_scan(struct engine *e, struct image_prune_scan *s, struct tt_err *err)
{
    json_t *containers = NULL, *c;
    size_t i;

    memset(s, 0, sizeof(*s));
    if (engine_call_ok(e, "GET", "/images/json", NULL, SCAN_TIMEOUT_MS, &s->images, err) < 0 ||
        engine_call_ok(e, "GET", "/containers/json?all=1", NULL, SCAN_TIMEOUT_MS, &containers,
                       err) < 0) {
        image_prune_scan_clear(s);
        return -1;
    }
    json_array_foreach(containers, i, c)
    {
        const char *id = json_string_value(json_object_get(c, "ImageID"));
        const char *name = json_string_value(json_array_get(json_object_get(c, "Names"), 0));
        if (!id || strv_contains(&s->in_use, id))
            continue;
        strv_push(&s->in_use, id);
        strv_push(&s->in_use_by, name ? (name[0] == '/' ? name + 1 : name) : "?");
    }
    json_decref(containers);
    return 0;
}

void image_prune_scan_clear(struct image_prune_scan *s)
{
    json_decref(s->images);
    strv_clear(&s->in_use);
    strv_clear(&s->in_use_by);
    s->images = NULL;
}

/* The scan's object for image id, or NULL. */
static json_t *find_image(const struct image_prune_scan *s, const char *id)
{
    json_t *img;
    size_t i;
    json_array_foreach(s->images, i, img)
    {
        const char *have = json_string_value(json_object_get(img, "Id"));
        if (have && !strcmp(have, id))
            return img;
    }
    return NULL;
}

void image_prune_info(const struct image_prune_scan *s, const char *id,
                      struct image_prune_info *out)
{
    json_t *img = find_image(s, id);
    json_t *labels = json_object_get(img, "Labels");

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < s->in_use.n; i++)
        if (!strcmp(s->in_use.v[i], id))
            out->used_by = s->in_use_by.v[i];
    if (!img)
        return;
    out->found = 1;
    out->size = json_integer_value(json_object_get(img, "Size"));
    out->project = json_string_value(json_object_get(labels, "com.docker.compose.project"));
    if (!out->project)
        out->project = json_string_value(json_object_get(labels, "ttdeploy.project"));
}

/* Whether the answer to a DELETE /images/... lists id among what it deleted. */
static int answer_deleted(json_t *answer, const char *id)
{
    json_t *item;
    size_t i;
    json_array_foreach(answer, i, item)
    {
        const char *d = json_string_value(json_object_get(item, "Deleted"));
        if (d && !strcmp(d, id))
            return 1;
    }
    return 0;
}

/*
 * DELETE /images/NAME (a tag or the ID id), not forced: 1 when the image
 * id is gone after it (the daemon said it deleted it, or knows the ID no
 * more), 0 when it stays, 2 when the daemon refused (r->why says why), 3
 * when the tag was gone already (moved or removed since the scan), -1
 * with err on any other answer.
 */
static int delete_name(struct engine *e, const char *name, const char *id,
                       struct image_prune_result *r, struct tt_err *err)
{
    struct buf path = {0};
    json_t *answer = NULL;
    int rc;

    engine_pathf(&path, "/images/%s", name);
    long status = engine_call(e, "DELETE", path.data, NULL, REMOVE_TIMEOUT_MS, &answer, NULL, err);
    if (status == 404) {
        rc = strcmp(name, id) ? 3 : 1;
    } else if (status == 409) {
        const char *msg = json_string_value(json_object_get(answer, "message"));
        snprintf(r->why, sizeof(r->why), "%s", msg ? msg : "the daemon refused (409 Conflict)");
        rc = 2;
    } else if (status >= 200 && status < 300) {
        rc = answer_deleted(answer, id);
    } else {
        const char *msg = json_string_value(json_object_get(answer, "message"));
        if (status >= 0 || !err->msg[0])
            tt_error(err, "DELETE %s: HTTP %ld: %s", path.data, status, msg ? msg : "no message");
        rc = -1;
    }
    json_decref(answer);
    buf_release(&path);
    return rc;
}

/* Splits the tags image id holds into ours (held) and the others. */
static void split_tags(const struct image_prune_scan *s, const char *id, const struct strv *ours,
                       struct strv *held, struct strv *others)
{
    json_t *tag;
    size_t i;
    json_array_foreach(json_object_get(find_image(s, id), "RepoTags"), i, tag)
    {
        const char *t = json_string_value(tag);
        if (!t || !strcmp(t, "<none>:<none>"))
            continue;
        strv_push(strv_contains(ours, t) ? held : others, t);
    }
}

size_t image_prune_other_tags(const struct image_prune_scan *s, const char *id,
                              const struct strv *ours, struct strv *out)
{
    struct strv held = {0};
    strv_clear(out);
    split_tags(s, id, ours, &held, out);
    size_t n = held.n;
    strv_clear(&held);
    return n;
}

int image_prune_remove(struct engine *e, const struct image_prune_scan *s, const char *id,
                       const struct strv *ours, struct image_prune_result *r, struct tt_err *err)
{
    struct strv held = {0};
    size_t i;
    int gone = 0;

    memset(r, 0, sizeof(*r));
    split_tags(s, id, ours, &held, &r->other_tags);
    /* Ours first; the image goes with the last tag when no other holds it. */
    for (i = 0; i < held.n && !gone; i++) {
        int rc = delete_name(e, held.v[i], id, r, err);
        if (rc < 0 || rc == 2) {
            strv_clear(&held);
            r->outcome = IMAGE_PRUNE_KEPT;
            return rc < 0 ? -1 : 0;
        }
        if (rc != 3)
            strv_push(&r->untagged, held.v[i]);
        gone = rc == 1;
    }
    strv_clear(&held);
    if (r->other_tags.n && !gone) {
        r->outcome = IMAGE_PRUNE_UNTAGGED;
        return 0;
    }
    if (!gone) { /* no tag at all, or a child image kept it after its last tag went */
        int rc = delete_name(e, id, id, r, err);
        if (rc < 0)
            return -1;
        if (rc == 2 || rc == 0) {
            if (!r->why[0])
                snprintf(r->why, sizeof(r->why), "the daemon kept it");
            r->outcome = IMAGE_PRUNE_KEPT;
            return 0;
        }
    }
    r->outcome = IMAGE_PRUNE_REMOVED;
    return 0;
}

void image_prune_result_clear(struct image_prune_result *r)
{
    strv_clear(&r->untagged);
    strv_clear(&r->other_tags);
}
