/*
 * yamltree.h - a YAML document as a tree of positioned nodes.
 *
 * Built from libyaml's event stream.  Anchors and aliases are resolved by
 * sharing: an alias points at the anchored node, so a node can have several
 * parents.  "<<" merge keys are applied while loading.  Every node keeps the
 * file, line and column it came from, for error messages.
 *
 * A "billion laughs" document is refused: the size the tree would have with
 * every alias expanded is counted as it is built and capped, in nodes and
 * in bytes.  A file bigger than YFILE_MAX_BYTES is refused before it is read.
 */
#ifndef YAMLTREE_H
#define YAMLTREE_H

#include <stddef.h>

#include "arena.h"
#include "buf.h"
#include "tterr.h"

enum ynode_kind { YNODE_SCALAR, YNODE_SEQ, YNODE_MAP };

struct ynode {
    enum ynode_kind kind;
    const char *file; /* borrowed from the document */
    int line, col;    /* 1-based */
    /* scalars */
    char *str;
    size_t len;
    int quoted;       /* written in quotes or as a block: never null/bool/number */
    int interpolated; /* interpolation already applied (shared nodes) */
    /* sequences: items[i]; mappings: items[2i] key, items[2i+1] value */
    struct ynode **items;
    size_t n;      /* number of items, or of pairs for a mapping */
    size_t weight; /* node count with every alias expanded */
    size_t bytes;  /* bytes of scalars with every alias expanded */
    /* big mappings: a hash index of the keys (strindex.h slots), for ynode_get */
    size_t *key_slots;
    size_t nkey_slots;
};

struct ydoc {
    struct arena arena;
    char *file;
    struct ynode *root; /* NULL for an empty document */
};

/* Default cap on the expanded size of a document, in nodes. */
#define YDOC_MAX_WEIGHT 250000 /* about 60 MB once loaded: fits 256 MB with the output */
/* Cap on the bytes of a document's scalars with every alias expanded. */
#define YDOC_MAX_BYTES (64u << 20)
/* Cap on the size of a file read: a compose file, an env file, a plan. */
#define YFILE_MAX_BYTES (16u << 20)

/* Parses data (not necessarily NUL-terminated) named file.  Returns NULL and fills err on error. */
struct ydoc *ydoc_parse(const char *file, const char *data, size_t len, size_t max_weight,
                        struct tt_err *err);
struct ydoc *ydoc_load_file(const char *path, struct tt_err *err);
/*
 * Reads the file at path (what: "compose file", "env file"... for the
 * message) into out, refusing one over YFILE_MAX_BYTES: the error names the
 * file, its size and the limit.  Reads at most the limit plus one byte, so
 * a pipe or /dev/zero is refused too.
 */
int yfile_read(const char *path, const char *what, struct buf *out, struct tt_err *err);
/* a + b, stuck at SIZE_MAX instead of wrapping around. */
size_t ydoc_bytes_add(size_t a, size_t b);
void ydoc_free(struct ydoc *doc);

/* A scalar that YAML reads as null: ~, null, Null, NULL or nothing, unquoted. */
int ynode_is_null(const struct ynode *n);
/* Looks key up in a mapping; NULL when absent or when map is not a mapping. */
struct ynode *ynode_get(const struct ynode *map, const char *key);
const char *ynode_kind_name(const struct ynode *n);
/* Allocates a new scalar node in doc's arena (for values made while loading). */
struct ynode *ynode_new_scalar(struct arena *a, const struct ynode *where, const char *s);

#endif
