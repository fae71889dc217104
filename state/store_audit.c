/*
 * store_audit.c - the audit chain: every final row of deployments and
 * steps sealed with a SHA-256 hash that covers the row and the hash of the
 * row sealed before it, and the check that recomputes it.
 *
 * A row is sealed once, when it is final: a step when its outcome is
 * written (store_step_end, store_steps_interrupt), a deployment when it
 * finishes (store_deployment_finish, which first seals any step of it
 * still unsealed).  Sealing runs inside the transaction of that write:
 *
 *   head      = hash of the row with the largest chain_seq over both
 *               tables (64 zeros on an empty chain)
 *   hash      = SHA-256(head in hex || canonical(row))
 *   chain_seq = that largest chain_seq + 1
 *
 * canonical(row) is read back from the file by one function, the same
 * when sealing and when verifying: "ttdeploy-audit-1", then as items
 * (decimal length, ':', bytes) the table name and the rowid, then every
 * column but hash and chain_seq in column-name order, NULLs skipped (so a
 * later migration that adds a nullable column changes no old hash): its
 * name, a type tag (i integer, r real, t text, b blob) and its value
 * (%lld, %.17g, the bytes).
 *
 * store_audit_verify walks the chain in chain_seq order and recomputes
 * each hash from the stored hash of the row before it, so one changed row
 * is one finding; a gap in chain_seq is a deleted row; a final row without
 * a seal, or a step sealed after its deployment, is an inserted row.
 * Unsealed rows of a deployment still running (or crashed, not yet
 * recovered) are open, not tampered.  Tamper-evident, not tamper-proof:
 * whoever can write the file can recompute the whole chain; the head
 * printed after each apply, kept in CI logs, is the copy that catches it.
 */
#include "store_db.h"
#include "buf.h"
#include "sha256.h"
#include "strv.h"

#include <ctype.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define CANON_MAGIC "ttdeploy-audit-1"
#define MAX_PROBLEMS 20 /* findings listed; the count goes on */

static const char zero_head[SHA256_HEX_LEN + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

/*
 * The statements every seal runs, prepared once per store and kept
 * (store_close finalizes them): parsing them again for each step cost
 * more than the rest of the seal.
 */
static const char *const cached_sql[STORE_AUDIT_NSTMTS] = {
    [STORE_AUDIT_HEAD] =
        "SELECT chain_seq, hash, 'deployments', id FROM deployments WHERE chain_seq = "
        "(SELECT MAX(chain_seq) FROM deployments) UNION ALL SELECT chain_seq, hash, 'steps', id "
        "FROM steps WHERE chain_seq = (SELECT MAX(chain_seq) FROM steps) ORDER BY 1 DESC LIMIT 1",
    [STORE_AUDIT_ROW_DEPLOYMENT] = "SELECT rowid, * FROM deployments WHERE rowid = ?",
    [STORE_AUDIT_ROW_STEP] = "SELECT rowid, * FROM steps WHERE rowid = ?",
    [STORE_AUDIT_SEAL_DEPLOYMENT] =
        "UPDATE deployments SET hash = ?, chain_seq = ? WHERE rowid = ? AND chain_seq IS NULL",
    [STORE_AUDIT_SEAL_STEP] =
        "UPDATE steps SET hash = ?, chain_seq = ? WHERE rowid = ? AND chain_seq IS NULL",
};

/* Statement which, reset and ready to bind; NULL with err when it cannot be prepared. */
static sqlite3_stmt *cached(struct store *s, enum store_audit_stmt which, struct tt_err *err)
{
    sqlite3_stmt *st = s->audit_stmt[which];
    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return st;
    }
    if (sqlite3_prepare_v3(s->db, cached_sql[which], -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) !=
        SQLITE_OK) {
        store_db_error(s, err, "prepare the audit chain's statements");
        return NULL;
    }
    return s->audit_stmt[which] = st;
}

/* Whether table is the steps table (else it is deployments: the chain has no other). */
static int is_steps(const char *table)
{
    return !strcmp(table, "steps");
}

/* Appends one item: its length in decimal, ':', its bytes. */
static void add_item(struct buf *out, const void *data, size_t len)
{
    buf_printf(out, "%zu:", len);
    buf_add(out, data, len);
}

/* Column indexes of st in the order of their names (hash and chain_seq left out); count in *n. */
static int *sorted_columns(sqlite3_stmt *st, int *n)
{
    int all = sqlite3_column_count(st), *idx = xcalloc((size_t)all + 1, sizeof(int));
    *n = 0;
    for (int c = 1; c < all; c++) { /* column 0 is the rowid */
        const char *name = sqlite3_column_name(st, c);
        if (!strcmp(name, "hash") || !strcmp(name, "chain_seq"))
            continue;
        int k = (*n)++;
        while (k > 0 && strcmp(sqlite3_column_name(st, idx[k - 1]), name) > 0) {
            idx[k] = idx[k - 1];
            k--;
        }
        idx[k] = c;
    }
    return idx;
}

/*
 * The canonical form of row rowid of table (see the top of this file)
 * into out; 1 when there is no such row, -1 on error.
 */
static int canonical_row(struct store *s, const char *table, long long rowid, struct buf *out,
                         struct tt_err *err)
{
    sqlite3_stmt *st =
        cached(s, is_steps(table) ? STORE_AUDIT_ROW_STEP : STORE_AUDIT_ROW_DEPLOYMENT, err);
    int n, rc;

    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, rowid);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? 1 : store_db_error(s, err, "read the canonical row");
    }
    int *cols = sorted_columns(st, &n);
    char num[64];
    buf_reset(out);
    buf_adds(out, CANON_MAGIC);
    add_item(out, table, strlen(table));
    snprintf(num, sizeof(num), "%lld", (long long)sqlite3_column_int64(st, 0));
    add_item(out, num, strlen(num));
    for (int i = 0; i < n; i++) {
        int c = cols[i], type = sqlite3_column_type(st, c);
        const char *name = sqlite3_column_name(st, c);
        if (type == SQLITE_NULL)
            continue;
        add_item(out, name, strlen(name));
        if (type == SQLITE_INTEGER) {
            snprintf(num, sizeof(num), "%lld", (long long)sqlite3_column_int64(st, c));
            buf_addc(out, 'i');
            add_item(out, num, strlen(num));
        } else if (type == SQLITE_FLOAT) {
            snprintf(num, sizeof(num), "%.17g", sqlite3_column_double(st, c));
            buf_addc(out, 'r');
            add_item(out, num, strlen(num));
        } else if (type == SQLITE_TEXT) {
            const unsigned char *t = sqlite3_column_text(st, c);
            buf_addc(out, 't');
            add_item(out, t, (size_t)sqlite3_column_bytes(st, c));
        } else {
            const void *b = sqlite3_column_blob(st, c);
            buf_addc(out, 'b');
            add_item(out, b, (size_t)sqlite3_column_bytes(st, c));
        }
    }
    free(cols);
    sqlite3_reset(st);
    return 0;
}

/* SHA-256(head || canonical row) of row rowid of table into hex; 1: no such row; -1: error. */
static int row_hash(struct store *s, const char *table, long long rowid, const char *head,
                    char hex[SHA256_HEX_LEN + 1], struct tt_err *err)
{
    struct buf canon = {0};
    int rc = canonical_row(s, table, rowid, &canon, err);
    if (rc == 0) {
        struct sha256_ctx *c = sha256_new();
        sha256_update(c, head, SHA256_HEX_LEN);
        sha256_update(c, canon.data, canon.len);
        sha256_finish(c, hex);
    }
    buf_release(&canon);
    return rc;
}

/*
 * The head of the chain: the hash of the row with the largest chain_seq
 * (zeros, position 0, on an empty chain).  A head whose hash is not 64
 * characters (a hand-edited file) is read as it is: verify says so.
 */
static int chain_head(struct store *s, char hex[SHA256_HEX_LEN + 1], long long *seq, char **table,
                      long long *rowid, struct tt_err *err)
{
    sqlite3_stmt *st = cached(s, STORE_AUDIT_HEAD, err);
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    memcpy(hex, zero_head, sizeof(zero_head));
    *seq = 0;
    if (table)
        *table = NULL;
    if (rc == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(st, 1);
        snprintf(hex, SHA256_HEX_LEN + 1, "%s", h ? h : "");
        *seq = sqlite3_column_int64(st, 0);
        if (table)
            *table = xstrdup((const char *)sqlite3_column_text(st, 2));
        if (rowid)
            *rowid = sqlite3_column_int64(st, 3);
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
                                                 : store_db_error(s, err, "read the audit head");
}

int store_audit_seal(struct store *s, const char *table, long long rowid, struct tt_err *err)
{
    char head[SHA256_HEX_LEN + 1], hex[SHA256_HEX_LEN + 1];
    long long seq;

    if (chain_head(s, head, &seq, NULL, NULL, err) < 0)
        return -1;
    int rc = row_hash(s, table, rowid, head, hex, err);
    if (rc == 1)
        return tt_error(err, "state store %s: cannot seal %s row %lld: there is no such row",
                        s->path, table, rowid);
    if (rc < 0)
        return -1;
    sqlite3_stmt *st =
        cached(s, is_steps(table) ? STORE_AUDIT_SEAL_STEP : STORE_AUDIT_SEAL_DEPLOYMENT, err);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, hex, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, seq + 1);
    sqlite3_bind_int64(st, 3, rowid);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_db_error(s, err, "seal");
    if (sqlite3_changes(s->db) != 1)
        return tt_error(err,
                        "state store %s: %s row %lld is already sealed in the audit chain: a "
                        "final row is never written again (a bug in ttdeploy: report it)",
                        s->path, table, rowid);
    return 0;
}

/* The ids of sql's rows (one integer column, no parameters but ?1 = arg), in order. */
static int ids_of(struct store *s, const char *sql, long long arg, long long **ids, size_t *n,
                  struct tt_err *err)
{
    sqlite3_stmt *st = store_db_prepare(s, err, sql, "i", arg);
    size_t cap = 0;
    int rc;
    *ids = NULL;
    *n = 0;
    if (!st)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap)
            *ids = xrealloc(*ids, (cap = cap ? cap * 2 : 16) * sizeof(**ids));
        (*ids)[(*n)++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : store_db_error(s, err, "read the rows to seal");
}

/* Seals, in order, the rows of table whose ids sql selects (?1 = arg). */
static int seal_all(struct store *s, const char *table, const char *sql, long long arg,
                    struct tt_err *err)
{
    long long *ids;
    size_t n;
    int rc = ids_of(s, sql, arg, &ids, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = store_audit_seal(s, table, ids[i], err);
    free(ids);
    return rc;
}

int store_audit_seal_steps(struct store *s, long long deployment, int only_ended,
                           struct tt_err *err)
{
    return seal_all(s, "steps",
                    only_ended ? "SELECT id FROM steps WHERE deployment_id = ?1 AND chain_seq IS "
                                 "NULL AND status <> 'running' ORDER BY seq"
                               : "SELECT id FROM steps WHERE deployment_id = ?1 AND chain_seq IS "
                                 "NULL ORDER BY seq",
                    deployment, err);
}

int store_audit_seal_deployment(struct store *s, long long deployment, struct tt_err *err)
{
    if (store_audit_seal_steps(s, deployment, 0, err) < 0)
        return -1;
    return store_audit_seal(s, "deployments", deployment, err);
}

int store_audit_seal_existing(struct store *s, struct tt_err *err)
{
    long long *ids;
    size_t n;
    int rc = ids_of(s, "SELECT id FROM deployments WHERE id > ?1 ORDER BY id", 0, &ids, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        sqlite3_stmt *st =
            store_db_prepare(s, err, "SELECT status FROM deployments WHERE id = ?", "i", ids[i]);
        int finished = st && sqlite3_step(st) == SQLITE_ROW &&
                       strcmp((const char *)sqlite3_column_text(st, 0), "running") != 0;
        sqlite3_finalize(st);
        if (!st)
            rc = -1;
        else if (finished)
            rc = store_audit_seal_deployment(s, ids[i], err);
        else /* still running: its ended steps are final, the rest stays open */
            rc = store_audit_seal_steps(s, ids[i], 1, err);
    }
    free(ids);
    return rc;
}

int store_audit_head(struct store *s, struct store_audit_head *h, struct tt_err *err)
{
    char *table = NULL;
    long long rowid = 0;
    memset(h, 0, sizeof(*h));
    if (chain_head(s, h->hash, &h->seq, &table, &rowid, err) < 0)
        return -1;
    h->is_step = table && !strcmp(table, "steps");
    h->id = rowid;
    free(table);
    return 0;
}

/* ---- verify ---------------------------------------------------------------- */

/* "step 12 (deployment 3, seq 4: app_up create of api, ok)" or "deployment 3 (...)". */
static void describe(struct store *s, const char *table, long long id, struct buf *out)
{
    int step = is_steps(table);
    sqlite3_stmt *st = store_db_prepare(
        s, NULL,
        step ? "SELECT deployment_id, seq, phase, action, service, status FROM steps WHERE id = ?"
             : "SELECT project, version, status, kind FROM deployments WHERE id = ?",
        "i", id);
    buf_printf(out, "%s %lld", step ? "step" : "deployment", id);
    if (st && sqlite3_step(st) == SQLITE_ROW) {
        const char *t[6];
        for (int i = 0; i < 6; i++)
            t[i] = (const char *)sqlite3_column_text(st, i);
        if (step)
            buf_printf(out, " (deployment %s, seq %s: %s %s%s%s, %s)", t[0] ? t[0] : "?",
                       t[1] ? t[1] : "?", t[2] ? t[2] : "?", t[3] ? t[3] : "?", t[4] ? " of " : "",
                       t[4] ? t[4] : "", t[5] ? t[5] : "?");
        else
            buf_printf(out, " (project %s, version %s, %s, %s)", t[0] ? t[0] : "?",
                       t[1] ? t[1] : "-", t[3] ? t[3] : "?", t[2] ? t[2] : "?");
    }
    sqlite3_finalize(st);
}

/* Adds one finding (a sentence) to r. */
static void problem(struct store_audit_report *r, struct buf *b)
{
    r->nproblems++;
    if (r->problems.n < MAX_PROBLEMS)
        strv_push(&r->problems, b->data);
    buf_reset(b);
}

/* Whether given (12 to 64 hex digits) is a prefix of hash. */
static int head_matches(const char *given, const char *hash)
{
    size_t n = strlen(given);
    return hash && strlen(hash) == SHA256_HEX_LEN && strncasecmp(given, hash, n) == 0;
}

/* Walks the sealed rows in chain order, recomputing each hash; findings into r. */
static int walk_chain(struct store *s, const char *given, struct store_audit_report *r,
                      struct tt_err *err)
{
    sqlite3_stmt *st = store_db_prepare(
        s, err,
        "SELECT chain_seq, hash, 'deployments', id FROM deployments WHERE chain_seq IS NOT NULL "
        "OR hash IS NOT NULL UNION ALL SELECT chain_seq, hash, 'steps', id FROM steps WHERE "
        "chain_seq IS NOT NULL OR hash IS NOT NULL ORDER BY 1",
        "");
    char prev[SHA256_HEX_LEN + 1], hex[SHA256_HEX_LEN + 1];
    char prev_table[16] = "", table[16];
    long long expect = 1, prev_id = 0;
    struct buf b = {0};
    int rc;

    if (!st)
        return -1;
    memcpy(prev, zero_head, sizeof(prev));
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int has_seq = sqlite3_column_type(st, 0) != SQLITE_NULL;
        long long seq = sqlite3_column_int64(st, 0), id = sqlite3_column_int64(st, 3);
        const char *stored = (const char *)sqlite3_column_text(st, 1);
        snprintf(table, sizeof(table), "%s", (const char *)sqlite3_column_text(st, 2));
        r->sealed++;
        if (!has_seq || !stored) {
            describe(s, table, id, &b);
            buf_printf(&b, " has %s but no %s: its seal was edited",
                       has_seq ? "a position" : "a hash",
                       has_seq ? "hash" : "position on the chain");
            problem(r, &b);
            continue;
        }
        if (seq != expect) {
            if (seq > expect) {
                if (seq - expect == 1)
                    buf_printf(&b, "chain position %lld is missing", expect);
                else
                    buf_printf(&b, "chain positions %lld to %lld are missing", expect, seq - 1);
                buf_adds(&b, " (a sealed row was deleted: a DELETE), between ");
                if (prev_id)
                    describe(s, prev_table, prev_id, &b);
                else
                    buf_adds(&b, "the start of the chain");
                buf_adds(&b, " and ");
                describe(s, table, id, &b);
            } else {
                buf_printf(&b,
                           "chain position %lld appears twice (a row was added with a "
                           "position already taken: an INSERT): ",
                           seq);
                describe(s, table, id, &b);
            }
            problem(r, &b);
        }
        if (row_hash(s, table, id, prev, hex, err) < 0) {
            sqlite3_finalize(st);
            buf_release(&b);
            return -1;
        }
        if (strcmp(hex, stored) != 0 && seq == expect) { /* after a gap the link is gone anyway */
            describe(s, table, id, &b);
            buf_printf(&b,
                       " at chain position %lld differs from its seal: its content was changed "
                       "after it was sealed (an UPDATE), or the row before it on the chain was "
                       "replaced",
                       seq);
            problem(r, &b);
        }
        if (given && !r->given_found && head_matches(given, stored)) {
            r->given_found = 1;
            r->given_seq = seq;
        }
        snprintf(prev, sizeof(prev), "%s", stored);
        snprintf(prev_table, sizeof(prev_table), "%s", table);
        prev_id = id;
        expect = seq + 1;
    }
    sqlite3_finalize(st);
    buf_release(&b);
    return rc == SQLITE_DONE ? 0 : store_db_error(s, err, "read the audit chain");
}

/*
 * Rows the chain should hold and does not, or holds out of order: a
 * finished deployment without a seal; a step without one that has ended,
 * or whose deployment has finished; a step sealed after its deployment;
 * a step whose deployment is gone; a hole in a deployment's step numbers.
 * Each query gives a table, an id and what is wrong.
 */
static const char *const misplaced_sql =
    "SELECT 'deployments', id, 'is finished (' || status || ') but has no seal: a row inserted "
    "(an INSERT), or its seal removed' FROM deployments WHERE chain_seq IS NULL AND hash IS NULL "
    "AND status <> 'running' "
    "UNION ALL SELECT 'steps', s.id, CASE WHEN d.id IS NULL THEN 'belongs to deployment ' || "
    "s.deployment_id || ', which is not in the store (deleted: a DELETE)' WHEN s.chain_seq IS "
    "NULL THEN 'has ended or its deployment has, but it has no seal: a row inserted (an "
    "INSERT), or its seal removed' ELSE 'was sealed after its deployment (chain position ' || "
    "s.chain_seq || ' > ' || d.chain_seq || '): a row added afterwards (an INSERT)' END "
    "FROM steps s LEFT JOIN deployments d ON d.id = s.deployment_id WHERE d.id IS NULL "
    "OR (s.chain_seq IS NULL AND s.hash IS NULL AND (s.status <> 'running' OR d.status <> "
    "'running')) OR (s.chain_seq > d.chain_seq) "
    "UNION ALL SELECT 'steps', s.id, 'follows a hole: deployment ' || s.deployment_id || ' has "
    "no step seq ' || (s.seq - 1) || ' (deleted: a DELETE)' FROM steps s WHERE s.seq > 1 AND "
    "NOT EXISTS (SELECT 1 FROM steps p WHERE p.deployment_id = s.deployment_id AND p.seq = "
    "s.seq - 1) ORDER BY 2";

static int find_misplaced(struct store *s, struct store_audit_report *r, struct tt_err *err)
{
    sqlite3_stmt *st = store_db_prepare(s, err, misplaced_sql, "");
    struct buf b = {0};
    int rc;
    if (!st)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        describe(s, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1), &b);
        buf_printf(&b, " %s", (const char *)sqlite3_column_text(st, 2));
        problem(r, &b);
    }
    sqlite3_finalize(st);
    buf_release(&b);
    return rc == SQLITE_DONE ? 0 : store_db_error(s, err, "read the unsealed rows");
}

/* Counts the open rows: running deployments and their unsealed running steps. */
static int count_open(struct store *s, struct store_audit_report *r, struct tt_err *err)
{
    sqlite3_stmt *st = store_db_prepare(
        s, err,
        "SELECT (SELECT COUNT(*) FROM deployments WHERE chain_seq IS NULL AND status = "
        "'running'), (SELECT COUNT(*) FROM steps s JOIN deployments d ON d.id = s.deployment_id "
        "WHERE s.chain_seq IS NULL AND s.status = 'running' AND d.status = 'running')",
        "");
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    r->open_deployments = sqlite3_column_int64(st, 0);
    r->open_steps = sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : store_db_error(s, err, "count the open rows");
}

int store_audit_head_well_formed(const char *h)
{
    size_t n = strlen(h);
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)h[i]))
            return 0;
    return n >= 12 && n <= SHA256_HEX_LEN;
}

int store_audit_verify(struct store *s, const char *given, struct store_audit_report *r,
                       struct tt_err *err)
{
    struct buf b = {0};
    memset(r, 0, sizeof(*r));
    if (given && !store_audit_head_well_formed(given))
        return tt_error(err,
                        "--head \"%s\": a head is 64 hex digits as `ttdeploy apply` or `ttdeploy "
                        "audit head` printed it (a prefix of at least 12 will do)",
                        given);
    /* One read transaction: the chain, the open rows and the head are one snapshot. */
    if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return store_db_error(s, err, "begin reading the audit chain");
    int rc = walk_chain(s, given, r, err);
    if (rc == 0)
        rc = find_misplaced(s, r, err);
    if (rc == 0)
        rc = count_open(s, r, err);
    if (rc == 0)
        rc = store_audit_head(s, &r->head, err);
    sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc == 0 && given && !r->given_found) {
        buf_printf(&b,
                   "head %s is not on the chain: a row sealed before it was printed has been "
                   "changed or deleted and the chain recomputed, or it is another store's head",
                   given);
        problem(r, &b);
    }
    buf_release(&b);
    return rc;
}

void store_audit_report_clear(struct store_audit_report *r)
{
    strv_clear(&r->problems);
    memset(r, 0, sizeof(*r));
}
