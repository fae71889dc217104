/*
 * yamltree.c - libyaml events to a struct ynode tree.
 *
 * The parser keeps a stack of open collections.  Each finished node is
 * appended to the collection on top of the stack.  Anchors live in a small
 * table (a later anchor of the same name replaces the earlier, as YAML
 * says).  When a mapping closes, its "<<" key is replaced by the pairs of
 * the merged mappings that it does not define itself.
 */
#include "yamltree.h"
#include "buf.h"
#include "strindex.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/stat.h>
#include <yaml.h>

/* Mappings with more pairs than this keep their key index; smaller ones are scanned. */
#define YMAP_INDEX_FROM 16

struct anchor {
    char *name;
    struct ynode *node;
};

struct builder {
    struct ydoc *doc;
    struct ynode **stack;
    size_t depth, stack_cap;
    struct anchor *anchors;
    size_t nanchors, anchors_cap;
    struct strindex anchor_index;
    size_t max_weight;
    size_t total_weight;
    size_t total_bytes; /* bytes the aliases add */
    struct tt_err *err;
};

/* A growable list of child pointers, kept beside the node while it is open. */
struct open_list {
    struct ynode **items;
    size_t n, cap;
};

static struct ynode *node_new(struct builder *b, enum ynode_kind kind, const yaml_mark_t *mark)
{
    struct ynode *n = arena_alloc(&b->doc->arena, sizeof(*n));
    n->kind = kind;
    n->file = b->doc->file;
    n->line = (int)mark->line + 1;
    n->col = (int)mark->column + 1;
    n->weight = 1;
    return n;
}

struct ynode *ynode_new_scalar(struct arena *a, const struct ynode *where, const char *s)
{
    struct ynode *n = arena_alloc(a, sizeof(*n));
    n->kind = YNODE_SCALAR;
    n->file = where ? where->file : "";
    n->line = where ? where->line : 0;
    n->col = where ? where->col : 0;
    n->str = arena_strdup(a, s);
    n->len = strlen(s);
    n->bytes = n->len;
    n->quoted = 1;
    n->interpolated = 1;
    n->weight = 1;
    return n;
}

int ynode_is_null(const struct ynode *n)
{
    if (!n)
        return 1;
    if (n->kind != YNODE_SCALAR || n->quoted)
        return 0;
    return n->len == 0 || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
           strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0;
}

static const char *pair_key(const void *ctx, size_t pos)
{
    return ((struct ynode *const *)ctx)[2 * pos]->str;
}

struct ynode *ynode_get(const struct ynode *map, const char *key)
{
    if (!map || map->kind != YNODE_MAP)
        return NULL;
    if (map->nkey_slots) {
        const struct strindex x = {map->key_slots, map->nkey_slots};
        size_t pos = strindex_find(&x, key, pair_key, map->items);
        return pos ? map->items[2 * pos - 1] : NULL;
    }
    for (size_t i = 0; i < map->n; i++) {
        const struct ynode *k = map->items[2 * i];
        if (k->kind == YNODE_SCALAR && strcmp(k->str, key) == 0)
            return map->items[2 * i + 1];
    }
    return NULL;
}

const char *ynode_kind_name(const struct ynode *n)
{
    if (!n || ynode_is_null(n))
        return "null";
    switch (n->kind) {
    case YNODE_SCALAR:
        return "a scalar";
    case YNODE_SEQ:
        return "a list";
    case YNODE_MAP:
        return "a mapping";
    }
    return "?";
}

static const char *anchor_name(const void *ctx, size_t pos)
{
    return ((const struct builder *)ctx)->anchors[pos].name;
}

static void anchor_set(struct builder *b, const char *name, struct ynode *node)
{
    strindex_reserve(&b->anchor_index, b->nanchors, 1, anchor_name, b);
    size_t *slot = strindex_slot(&b->anchor_index, name, anchor_name, b);
    if (*slot) {
        b->anchors[*slot - 1].node = node;
        return;
    }
    if (b->nanchors == b->anchors_cap) {
        b->anchors_cap = b->anchors_cap ? 2 * b->anchors_cap : 16;
        b->anchors = xrealloc(b->anchors, b->anchors_cap * sizeof(*b->anchors));
    }
    b->anchors[b->nanchors].name = arena_strdup(&b->doc->arena, name);
    b->anchors[b->nanchors].node = node;
    *slot = ++b->nanchors;
}

static struct ynode *anchor_get(struct builder *b, const char *name)
{
    size_t slot = strindex_find(&b->anchor_index, name, anchor_name, b);
    return slot ? b->anchors[slot - 1].node : NULL;
}

/* Adds w to a weight without overflowing: anything past the cap is "too big". */
static size_t weight_add(size_t a, size_t w)
{
    return (a > SIZE_MAX / 2 || w > SIZE_MAX / 2) ? SIZE_MAX / 2 : a + w;
}

size_t ydoc_bytes_add(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static void list_push(struct ynode *parent, struct ynode *child)
{
    struct open_list *l = (struct open_list *)parent->str; /* scratch while open */
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        l->items = xrealloc(l->items, l->cap * sizeof(*l->items));
    }
    l->items[l->n++] = child;
}

/*
 * Adds w to *weight; past the cap, fails saying what grew too big (grown:
 * "aliases expand to") and whether aliases are surely the cause (hedge).
 */
static int add_weight(struct builder *b, const struct ynode *n, size_t *weight, size_t w,
                      const char *grown, const char *hedge)
{
    *weight = weight_add(*weight, w);
    if (*weight <= b->max_weight)
        return 0;
    return tt_error_at(b->err, n->file, n->line, n->col,
                       "%s more than %zu nodes; %sthis looks like a \"billion laughs\" document: "
                       "flatten the aliases",
                       grown, b->max_weight, hedge);
}

/*
 * Adds w to *bytes; past YDOC_MAX_BYTES, fails: aliases that repeat a long
 * string would make the document (and `config`'s output) gigabytes while
 * staying under the node cap.
 */
static int add_bytes(struct builder *b, const struct ynode *n, size_t *bytes, size_t w)
{
    *bytes = ydoc_bytes_add(*bytes, w);
    if (*bytes <= YDOC_MAX_BYTES)
        return 0;
    return tt_error_at(b->err, n->file, n->line, n->col,
                       "aliases expand to more than %u bytes (64 MB) of text; this looks like a "
                       "\"billion laughs\" document: flatten the aliases",
                       YDOC_MAX_BYTES);
}

static int attach(struct builder *b, struct ynode *n, int is_alias)
{
    if (is_alias && add_weight(b, n, &b->total_weight, n->weight, "aliases expand to", "") < 0)
        return -1;
    if (is_alias && add_bytes(b, n, &b->total_bytes, n->bytes) < 0)
        return -1;
    if (b->depth == 0) {
        if (!b->doc->root)
            b->doc->root = n;
        return 0;
    }
    struct ynode *parent = b->stack[b->depth - 1];
    if (add_weight(b, n, &parent->weight, n->weight, "document expands to",
                   "if it uses aliases, ") < 0)
        return -1;
    if (add_bytes(b, n, &parent->bytes, n->bytes) < 0)
        return -1;
    list_push(parent, n);
    return 0;
}

static void push(struct builder *b, struct ynode *n)
{
    if (b->depth == b->stack_cap) {
        b->stack_cap = b->stack_cap ? 2 * b->stack_cap : 16;
        b->stack = xrealloc(b->stack, b->stack_cap * sizeof(*b->stack));
    }
    n->str = (char *)xcalloc(1, sizeof(struct open_list));
    b->stack[b->depth++] = n;
}

static int is_merge_key(const struct ynode *k)
{
    return k->kind == YNODE_SCALAR && !k->quoted && strcmp(k->str, "<<") == 0;
}

/* Adds the pair at items[2*i] to out (indexed by keys) unless out has its key; 1 if added. */
static int pair_add(struct ynode **out, size_t *npairs, struct strindex *keys,
                    struct ynode *const *items, size_t i)
{
    size_t *slot = strindex_slot(keys, items[2 * i]->str, pair_key, out);
    if (*slot)
        return 0;
    out[2 * *npairs] = items[2 * i];
    out[2 * *npairs + 1] = items[2 * i + 1];
    *slot = ++*npairs;
    return 1;
}

/* Checks the "<<" value v and adds the mappings it merges to merges; room grows by their pairs. */
static int merge_sources(struct builder *b, const struct ynode *v, const struct ynode **merges,
                         size_t *nmerges, size_t *room)
{
    const struct ynode *const *list = (const struct ynode *const *)&v;
    size_t n = 1;
    if (v->kind == YNODE_SEQ) {
        list = (const struct ynode *const *)v->items;
        n = v->n;
    } else if (v->kind != YNODE_MAP) {
        return tt_error_at(b->err, v->file, v->line, v->col,
                           "\"<<\" must be followed by an alias of a mapping (<<: *name) "
                           "or a list of them, not %s",
                           ynode_kind_name(v));
    }
    for (size_t j = 0; j < n; j++) {
        if (list[j]->kind != YNODE_MAP)
            return tt_error_at(b->err, v->file, list[j]->line, list[j]->col,
                               "a \"<<\" merge list may hold only mappings (aliases "
                               "of mappings), not %s",
                               ynode_kind_name(list[j]));
        if (*nmerges == 64)
            return tt_error_at(b->err, v->file, v->line, v->col,
                               "more than 64 \"<<\" merges in one mapping: split it");
        merges[(*nmerges)++] = list[j];
        *room += list[j]->n;
    }
    return 0;
}

/*
 * Closes a mapping: checks its keys (single values, none twice), then
 * applies "<<" merges: the merged pairs whose keys it lacks are appended.
 * The keys are indexed as they are added, so this is linear in the pairs.
 */
static int finish_map(struct builder *b, struct ynode *m, struct ynode **items, size_t count)
{
    size_t npairs = count / 2, room = npairs, n = 0;
    const struct ynode *merges[64];
    size_t nmerges = 0;
    int rc = 0;

    for (size_t i = 0; i < npairs; i++) {
        struct ynode *k = items[2 * i], *v = items[2 * i + 1];
        if (is_merge_key(k)) {
            if (merge_sources(b, v, merges, &nmerges, &room) < 0)
                return -1;
        } else if (k->kind != YNODE_SCALAR) {
            return tt_error_at(b->err, k->file, k->line, k->col,
                               "a mapping key must be a single value, not %s: write the key "
                               "as plain text",
                               ynode_kind_name(k));
        }
    }
    struct ynode **out = arena_alloc(&b->doc->arena, (2 * room + 1) * sizeof(*out));
    struct strindex keys = {0};
    strindex_reserve(&keys, 0, room, pair_key, out);
    for (size_t i = 0; rc == 0 && i < npairs; i++) {
        if (is_merge_key(items[2 * i]) || pair_add(out, &n, &keys, items, i))
            continue;
        const struct ynode *k = items[2 * i];
        const struct ynode *first = out[2 * (strindex_find(&keys, k->str, pair_key, out) - 1)];
        rc = tt_error_at(b->err, k->file, k->line, k->col,
                         "key \"%s\" is defined twice in this mapping (first at line %d): "
                         "remove one",
                         k->str, first->line);
    }
    for (size_t i = 0; rc == 0 && i < nmerges; i++)
        for (size_t j = 0; j < merges[i]->n; j++)
            pair_add(out, &n, &keys, merges[i]->items, j);
    if (n > YMAP_INDEX_FROM) { /* kept for ynode_get: a 10,000-service file stays linear */
        m->key_slots = arena_alloc(&b->doc->arena, keys.nslots * sizeof(*keys.slots));
        memcpy(m->key_slots, keys.slots, keys.nslots * sizeof(*keys.slots));
        m->nkey_slots = keys.nslots;
    }
    strindex_clear(&keys);
    m->items = out;
    m->n = n;
    return rc;
}

static int pop(struct builder *b)
{
    struct ynode *n = b->stack[--b->depth];
    struct open_list *l = (struct open_list *)n->str;
    int rc = 0;

    n->str = NULL;
    if (n->kind == YNODE_MAP) {
        rc = finish_map(b, n, l->items, l->n);
    } else {
        n->items = arena_alloc(&b->doc->arena, (l->n + 1) * sizeof(*n->items));
        if (l->n)
            memcpy(n->items, l->items, l->n * sizeof(*n->items));
        n->n = l->n;
    }
    free(l->items);
    free(l);
    if (rc == 0)
        rc = attach(b, n, 0);
    return rc;
}

static int yaml_error(struct builder *b, const yaml_parser_t *p)
{
    const yaml_mark_t *m = p->problem ? &p->problem_mark : &p->mark;
    const char *what = p->problem ? p->problem : "invalid YAML";
    if (p->context)
        return tt_error_at(b->err, b->doc->file, (int)m->line + 1, (int)m->column + 1,
                           "invalid YAML: %s %s (line %d): check indentation and quoting", what,
                           p->context, (int)p->context_mark.line + 1);
    return tt_error_at(b->err, b->doc->file, (int)m->line + 1, (int)m->column + 1,
                       "invalid YAML: %s: check indentation and quoting", what);
}

static int handle_event(struct builder *b, yaml_event_t *ev, int *done)
{
    struct ynode *n;
    const char *anchor = NULL;

    switch (ev->type) {
    case YAML_STREAM_END_EVENT:
    case YAML_DOCUMENT_END_EVENT:
        *done = ev->type == YAML_STREAM_END_EVENT || b->doc->root != NULL;
        return 0;
    case YAML_SCALAR_EVENT:
        n = node_new(b, YNODE_SCALAR, &ev->start_mark);
        n->str = arena_strndup(&b->doc->arena, (const char *)ev->data.scalar.value,
                               ev->data.scalar.length);
        n->len = ev->data.scalar.length;
        n->bytes = n->len;
        n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
        anchor = (const char *)ev->data.scalar.anchor;
        if (anchor)
            anchor_set(b, anchor, n);
        return attach(b, n, 0);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (b->depth >= 512)
            return tt_error_at(b->err, b->doc->file, (int)ev->start_mark.line + 1,
                               (int)ev->start_mark.column + 1,
                               "nesting deeper than 512 levels: simplify the document");
        n = node_new(b, ev->type == YAML_SEQUENCE_START_EVENT ? YNODE_SEQ : YNODE_MAP,
                     &ev->start_mark);
        anchor =
            (const char *)(ev->type == YAML_SEQUENCE_START_EVENT ? ev->data.sequence_start.anchor
                                                                 : ev->data.mapping_start.anchor);
        if (anchor)
            anchor_set(b, anchor, n); /* usable only once closed: recursion is refused below */
        push(b, n);
        return 0;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return pop(b);
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        n = anchor_get(b, name);
        if (!n)
            return tt_error_at(b->err, b->doc->file, (int)ev->start_mark.line + 1,
                               (int)ev->start_mark.column + 1,
                               "alias *%s refers to no anchor defined before it: define &%s "
                               "first",
                               name, name);
        for (size_t i = 0; i < b->depth; i++)
            if (b->stack[i] == n)
                return tt_error_at(b->err, b->doc->file, (int)ev->start_mark.line + 1,
                                   (int)ev->start_mark.column + 1,
                                   "alias *%s is used inside its own anchor: a node cannot "
                                   "contain itself",
                                   name);
        return attach(b, n, 1);
    }
    default:
        return 0;
    }
}

struct ydoc *ydoc_parse(const char *file, const char *data, size_t len, size_t max_weight,
                        struct tt_err *err)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    struct builder b = {0};
    int done = 0, rc = 0;

    if (len > YFILE_MAX_BYTES) {
        tt_error_at(err, file, 0, 0,
                    "the file is %zu bytes, more than the %u (16 MB) a YAML file may have: "
                    "split it",
                    len, YFILE_MAX_BYTES);
        return NULL;
    }
    b.doc = xcalloc(1, sizeof(*b.doc));
    b.doc->file = xstrdup(file);
    b.max_weight = max_weight ? max_weight : YDOC_MAX_WEIGHT;
    b.err = err;
    if (!yaml_parser_initialize(&parser)) {
        ydoc_free(b.doc);
        tt_error(err, "cannot initialise the YAML parser");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    while (!done && rc == 0) {
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = yaml_error(&b, &parser);
            break;
        }
        rc = handle_event(&b, &ev, &done);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    while (b.depth > 0) { /* free scratch lists left open by an error */
        struct open_list *l = (struct open_list *)b.stack[--b.depth]->str;
        free(l->items);
        free(l);
    }
    free(b.stack);
    free(b.anchors);
    strindex_clear(&b.anchor_index);
    if (rc != 0) {
        ydoc_free(b.doc);
        return NULL;
    }
    return b.doc;
}

int yfile_read(const char *path, const char *what, struct buf *out, struct tt_err *err)
{
    FILE *f = fopen(path, "rb");
    char chunk[65536];
    size_t n;

    if (!f)
        return tt_error_at(err, path, 0, 0, "cannot open %s: %s", what, strerror(errno));
    while (out->len <= YFILE_MAX_BYTES && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_add(out, chunk, n);
    if (ferror(f)) {
        int e = errno;
        fclose(f);
        return tt_error_at(err, path, 0, 0, "cannot read %s: %s", what, strerror(e));
    }
    if (out->len > YFILE_MAX_BYTES) {
        struct stat st;
        long long size =
            fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) ? (long long)st.st_size : -1;
        fclose(f);
        if (size < 0)
            return tt_error_at(err, path, 0, 0,
                               "the %s is more than %u bytes (16 MB), the most a file read "
                               "here may have",
                               what, YFILE_MAX_BYTES);
        return tt_error_at(err, path, 0, 0,
                           "the %s is %lld bytes, more than the %u (16 MB) a file read here may "
                           "have: split it",
                           what, size, YFILE_MAX_BYTES);
    }
    fclose(f);
    buf_add(out, "", 0); /* a NUL-terminated "" for an empty file */
    return 0;
}

struct ydoc *ydoc_load_file(const char *path, struct tt_err *err)
{
    struct buf data = {0};

    if (yfile_read(path, "file", &data, err) < 0) {
        buf_release(&data);
        return NULL;
    }
    struct ydoc *doc = ydoc_parse(path, data.data, data.len, 0, err);
    buf_release(&data);
    return doc;
}

void ydoc_free(struct ydoc *doc)
{
    if (!doc)
        return;
    arena_free(&doc->arena);
    free(doc->file);
    free(doc);
}
