/*
 * cmd_audit.c - `ttdeploy audit verify [--head H]` and `ttdeploy audit
 * head`: the tamper-evident audit chain of the store (state/store_audit.c).
 *
 * verify recomputes the chain and names the first row that differs: a
 * changed row (an UPDATE), a missing one (a DELETE), one that should be
 * sealed and is not or is sealed out of order (an INSERT); it exits 0 when
 * the chain is intact, 1 when it is not.  Whoever can write the store can
 * also recompute the whole chain, so `apply` prints the head for CI logs
 * to keep; `verify --head H` then proves that H is still on the chain and
 * that nothing up to it changed.  Tamper-evident, not tamper-proof.
 */
#include "cmd.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "deployment 3" or "step 12" for the row at a head. */
static void head_row(const struct store_audit_head *h, char *out, size_t n)
{
    if (h->seq == 0)
        snprintf(out, n, "the chain is empty");
    else
        snprintf(out, n, "position %lld: %s %lld", h->seq, h->is_step ? "step" : "deployment",
                 h->id);
}

static int audit_verify(const struct cli_args *a, struct store *st)
{
    struct store_audit_report r;
    struct tt_err err = {0};
    const char *given = cli_arg(a, CLI_OPT_HEAD);
    char where[96];

    if (store_audit_verify(st, given, &r, &err) < 0) { /* a chain that cannot be read is no proof */
        fprintf(stderr, "ttdeploy audit verify: %s\n", err.msg);
        return EXIT_FAILED;
    }
    head_row(&r.head, where, sizeof(where));
    if (r.nproblems) {
        printf("audit chain TAMPERED: %lld finding%s, in chain order (the first is where it "
               "starts):\n",
               r.nproblems, r.nproblems > 1 ? "s" : "");
        for (size_t i = 0; i < r.problems.n; i++)
            printf("  %s\n", r.problems.v[i]);
        if ((long long)r.problems.n < r.nproblems)
            printf("  ... and %lld more\n", r.nproblems - (long long)r.problems.n);
        printf("head now: %s (%s)\n", r.head.hash, where);
    } else {
        printf("audit chain intact: %lld sealed row%s, head %s (%s)\n", r.sealed,
               r.sealed == 1 ? "" : "s", r.head.hash, where);
        if (given)
            printf("head %s is on the chain at position %lld: nothing up to it has changed, and "
                   "the chain from it to today's head is intact\n",
                   given, r.given_seq);
    }
    if (r.open_deployments || r.open_steps)
        printf("open (not sealed yet, not tampering): %lld deployment%s running or not yet "
               "recovered, %lld step%s in flight\n",
               r.open_deployments, r.open_deployments == 1 ? "" : "s", r.open_steps,
               r.open_steps == 1 ? "" : "s");
    int rc = r.nproblems ? EXIT_FAILED : EXIT_OK;
    store_audit_report_clear(&r);
    return rc;
}

static int audit_head(struct store *st)
{
    struct store_audit_head h;
    struct tt_err err = {0};
    char where[96];

    if (store_audit_head(st, &h, &err) < 0) {
        fprintf(stderr, "ttdeploy audit head: %s\n", err.msg);
        return EXIT_FAILED;
    }
    head_row(&h, where, sizeof(where));
    printf("%s (%s)\n", h.hash, where);
    return EXIT_OK;
}

static int cmd_audit_exec(const struct cli_args *a)
{
    const char *what = a->argv[0];
    struct store *st = NULL;
    int rc;

    if (strcmp(what, "verify") != 0 && strcmp(what, "head") != 0) {
        fprintf(stderr, "ttdeploy audit: \"%s\": say `verify` or `head`\n", what);
        return EXIT_BAD_INPUT;
    }
    if (!strcmp(what, "head") && cli_arg(a, CLI_OPT_HEAD)) {
        fprintf(stderr, "ttdeploy audit head: --head is an option of `audit verify`\n");
        return EXIT_BAD_INPUT;
    }
    if (cli_arg(a, CLI_OPT_HEAD) && !store_audit_head_well_formed(cli_arg(a, CLI_OPT_HEAD))) {
        fprintf(stderr,
                "ttdeploy audit verify: --head \"%s\": a head is 64 hex digits as `apply` or "
                "`audit head` printed it (a prefix of 12 or more will do)\n",
                cli_arg(a, CLI_OPT_HEAD));
        return EXIT_BAD_INPUT;
    }
    if ((rc = cli_open_store(a, &st)) != EXIT_OK)
        return rc;
    rc = !strcmp(what, "verify") ? audit_verify(a, st) : audit_head(st);
    store_close(st);
    return rc;
}

void cli_print_audit_head(const struct apply_options *o)
{
    struct store_audit_head h;
    struct store *st = NULL;
    struct tt_err err = {0};

    if (o->dry_run)
        return;
    struct buf where = {0};
    int on_engine = cli_open_engine_copy(o, &st);
    if (on_engine)
        buf_printf(&where, "engine --plan %s", o->plan_path);
    char *path = on_engine       ? buf_detach(&where)
                 : o->state_path ? xstrdup(o->state_path)
                                 : apply_default_state_path(o->plan_path);
    if ((on_engine || store_open_existing(path, &st, &err) == 0) && st &&
        store_audit_head(st, &h, &err) == 0)
        fprintf(stderr, "audit head: %s (keep it: ttdeploy audit verify --state %s --head %s)\n",
                h.hash, path, h.hash);
    store_close(st);
    free(path);
}

static const struct cmd_option audit_options[] = {
    {"head", 0, "H",
     "verify: H, a head printed earlier (64 hex digits, or a prefix of 12 or more),\n"
     "must be on the chain, and the chain from it to today's head intact",
     CLI_OPT_HEAD},
    {NULL, 0, NULL, NULL, CLI_OPT_NONE},
};

const struct cmd_entry cmd_audit_entry = {
    .name = "audit",
    .usage = "[--state PATH | --plan FILE] [--head H] verify|head",
    .summary = "check the store's tamper-evident chain of deployments and steps, or print its head",
    .options = {cli_store_options, audit_options},
    .min_args = 1,
    .max_args = 1,
    .notes = "verify: exit 0 when the chain is intact, 1 when a row was changed, deleted or\n"
             "inserted (each finding named), 2 bad input.  Tamper-evident, not tamper-proof:\n"
             "whoever can write the store can recompute the chain; keep the head `apply` prints\n"
             "(CI logs) and check with --head.\n",
    .exec = cmd_audit_exec,
};
