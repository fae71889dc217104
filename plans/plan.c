/*
 * plan.c - loading and validating plan files: the file, its sections
 * (release, tiers, database, backup, migrate, verify, timeouts, audit) and the
 * checks against the compose project it deploys.  The rollback matrix is
 * plan_rules.c's.
 *
 * Each section reads its keys through a table (yread.h); an unknown key is
 * an error with a "did you mean" hint, because a misspelt key in a
 * deployment plan (say "verfy:") would otherwise silently skip a check.
 */
#include "plan_int.h"
#include "buf.h"
#include "sha256.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *plan_resolve(const struct plan *p, const char *rel)
{
    struct buf b = {0};
    if (rel[0] == '/')
        buf_adds(&b, rel);
    else
        buf_printf(&b, "%s/%s", p->dir, rel);
    return buf_detach(&b);
}

/* Makes every path of paths absolute against the plan's directory. */
static void resolve_all(const struct plan *p, struct strv *paths)
{
    for (size_t i = 0; i < paths->n; i++) {
        char *abs = plan_resolve(p, paths->v[i]);
        free(paths->v[i]);
        paths->v[i] = abs;
    }
}

/* ---- sections ----------------------------------------------------------- */

/* images: {service: image, ...}: the release's image for each service it changes. */
static int parse_images(struct ploader *l, const struct ynode *im)
{
    struct plan *p = l->p;
    if (yread_map(&l->r, im, "release images") < 0)
        return -1;
    for (size_t i = 0; i < im->n; i++) {
        char *ref = NULL;
        if (yread_string(&l->r, im->items[2 * i + 1], "an image", &ref) < 0)
            return -1;
        strv_push(&p->image_services, im->items[2 * i]->str);
        strv_push_owned(&p->image_refs, ref);
    }
    return 0;
}

static int parse_release(struct ploader *l, const struct ynode *n)
{
    struct plan *p = l->p;
    struct yfield git[] = {
        yfield_string("repo", &p->git_repo, "git repo"),
        yfield_string("tag", &p->git_tag, "git tag"),
        yfield_string("commit", &p->git_commit, "git commit"),
        yfield_end(),
    };
    struct yfield fields[] = {
        yfield_string("version", &p->release_version, "release version"),
        yfield_section("git", git, "release git"),
        yfield_skip("images"),
        yfield_end(),
    };
    const struct ynode *g = ynode_get(n, "git"), *im = ynode_get(n, "images");
    if (yread_fields(&l->r, n, "release", fields) < 0)
        return -1;
    if (g && !p->git_tag && !p->git_commit)
        return yread_error(&l->r, g, "release git needs tag: or commit:");
    return im ? parse_images(l, im) : 0;
}

static int parse_http(struct ploader *l, const struct ynode *n, struct plan_check *c)
{
    struct yfield fields[] = {
        yfield_string("url", &c->url, NULL),
        yfield_int("status", &c->status, NULL, 100),
        yfield_string("body", &c->body, NULL),
        yfield_string("from", &c->from, NULL),
        yfield_end(),
    };
    c->kind = PLAN_CHECK_HTTP;
    if (yread_fields(&l->r, n, "http", fields) < 0)
        return -1;
    if (!c->url)
        return yread_error(&l->r, n, "check \"%s\": http needs url:", c->name);
    if (strncmp(c->url, "http://", 7) && strncmp(c->url, "https://", 8))
        return yread_error(&l->r, ynode_get(n, "url"), /* not echoed: it may hold a password */
                           "check \"%s\": url must start with http:// or https://", c->name);
    return 0;
}

static int parse_exec(struct ploader *l, const struct ynode *n, struct plan_check *c)
{
    struct yfield fields[] = {
        yfield_string("service", &c->service, NULL),
        yfield_strings("command", &c->command, NULL),
        yfield_end(),
    };
    c->kind = PLAN_CHECK_EXEC;
    if (yread_fields(&l->r, n, "exec", fields) < 0)
        return -1;
    if (!c->service || !ynode_get(n, "command"))
        return yread_error(&l->r, n, "check \"%s\": exec needs service: and command:", c->name);
    return 0;
}

/* expect: a comparison with the SQL check's value: ">= 10", "= ok", ">= before". */
static int check_expect(struct ploader *l, const struct ynode *n, const struct plan_check *c)
{
    const char *e = c->expect;
    if (c->kind != PLAN_CHECK_SQL)
        return yread_error(&l->r, n,
                           "expect: is for sql checks; http checks use status: and body:");
    if (strncmp(e, ">=", 2) && strncmp(e, "<=", 2) && strncmp(e, "!=", 2) && strncmp(e, "==", 2) &&
        e[0] != '=' && e[0] != '<' && e[0] != '>')
        return yread_error(&l->r, n,
                           "expect \"%s\" must be a comparison such as \">= 10\", \"= ok\" or "
                           "\">= before\"",
                           e);
    return 0;
}

static int check_error_rate(struct ploader *l, const struct ynode *rate, struct plan_check *c)
{
    char *end;
    c->max_error_rate = rate->kind == YNODE_SCALAR ? strtod(rate->str, &end) : -1;
    if (rate->kind != YNODE_SCALAR || *end || c->max_error_rate < 0 || c->max_error_rate > 1)
        return yread_error(&l->r, rate,
                           "max_error_rate must be a fraction between 0 and 1, such as 0.05");
    return 0;
}

static int parse_check(struct ploader *l, const struct ynode *n, struct plan_check *c)
{
    struct yfield fields[] = {
        yfield_required(yfield_string("name", &c->name, "check name"),
                        "a verify check needs name: so failures and rollback rules can name it"),
        yfield_skip("http"),
        yfield_skip("exec"),
        yfield_string("sql", &c->sql, NULL),
        yfield_string("expect", &c->expect, NULL),
        yfield_int("probes", &c->probes, NULL, 1),
        yfield_skip("max_error_rate"),
        yfield_int("expect_exit", &c->expect_exit, NULL, 0),
        yfield_end(),
    };
    const struct ynode *http = ynode_get(n, "http"), *ex = ynode_get(n, "exec"),
                       *rate = ynode_get(n, "max_error_rate");
    c->status = 200;
    c->probes = 1;
    c->kind = PLAN_CHECK_SQL;
    c->at = (struct plan_where){l->p->path, n->line, n->col}; /* the doc is freed after loading */
    if (yread_fields(&l->r, n, "a verify check", fields) < 0)
        return -1;
    if (!!http + !!ex + !!c->sql != 1)
        return yread_error(&l->r, n,
                           "check \"%s\" needs exactly one of http:, exec: or sql:", c->name);
    if (http && parse_http(l, http, c) < 0)
        return -1;
    if (ex && parse_exec(l, ex, c) < 0)
        return -1;
    if (c->expect && check_expect(l, ynode_get(n, "expect"), c) < 0)
        return -1;
    return rate ? check_error_rate(l, rate, c) : 0;
}

static int parse_verify(struct ploader *l, const struct ynode *n)
{
    struct plan *p = l->p;
    if (yread_list(&l->r, n, "verify") < 0)
        return -1;
    p->checks = xcalloc(n->n + 1, sizeof(*p->checks));
    for (size_t i = 0; i < n->n; i++) {
        p->nchecks++;
        if (parse_check(l, n->items[i], &p->checks[i]) < 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(p->checks[j].name, p->checks[i].name))
                return yread_error(&l->r, n->items[i],
                                   "two checks are named \"%s\": names must differ",
                                   p->checks[i].name);
    }
    return 0;
}

/*
 * Refuses a database url whose ?options name the database (dbname=) or a
 * service (service=, which can name one): ttdeploy makes its scratch
 * copies next to the database of the path, and an option naming another
 * would send them, and their DROPs, elsewhere.
 */
static int check_db_url_options(struct ploader *l, const struct ynode *at, const char *url)
{
    const char *q = strchr(url, '?');
    while (q && *q) {
        q++;
        size_t key = strcspn(q, "=&");
        if ((key == 6 && !strncmp(q, "dbname", 6)) || (key == 7 && !strncmp(q, "service", 7)))
            return yread_error(&l->r, at,
                               "database url sets %.*s= in its options: name the database only "
                               "in the path (postgresql://USER:PASSWORD@HOST:PORT/DB)",
                               (int)key, q);
        q = strchr(q, '&');
    }
    return 0;
}

static int parse_database(struct ploader *l, const struct ynode *n)
{
    struct plan *p = l->p;
    struct yfield fields[] = {
        yfield_string("service", &p->db_service, "database service"),
        yfield_required(yfield_string("url", &p->db_url, "database url"),
                        "database needs url: postgresql://USER:PASSWORD@HOST:PORT/DB"),
        yfield_end(),
    };
    if (yread_fields(&l->r, n, "database", fields) < 0)
        return -1;
    if (strncmp(p->db_url, "postgresql://", 13) && strncmp(p->db_url, "postgres://", 11))
        return yread_error(&l->r, ynode_get(n, "url"),
                           "database url must start with postgresql://");
    return check_db_url_options(l, ynode_get(n, "url"), p->db_url);
}

static int parse_backup(struct ploader *l, const struct ynode *n)
{
    static const char *const verifies[] = {"restore", "list", "none", NULL};
    static const char *const vias[] = {"container", "host", NULL};
    struct plan_backup *b = &l->p->backup;
    struct yfield keep[] = {
        yfield_int("last", &b->keep_last, "keep last", 2),
        yfield_end(),
    };
    struct yfield fields[] = {
        yfield_string("dir", &b->dir, "backup dir"),
        yfield_name("verify", &b->verify, "backup verify", verifies),
        yfield_section("keep", keep, "keep"),
        yfield_index("via", &b->via_host, "backup via", vias), /* 1: host */
        yfield_end(),
    };
    b->present = 1;
    if (yread_fields(&l->r, n, "backup", fields) < 0)
        return -1;
    if (!b->dir)
        b->dir = xstrdup("backups");
    return 0;
}

static int parse_migrate(struct ploader *l, const struct ynode *n)
{
    static const char *const kinds[] = {"command", "sql", NULL};
    struct plan_migrate *m = &l->p->migrate;
    struct yfield fields[] = {
        yfield_required(yfield_name("kind", &m->kind, "migrate kind", kinds),
                        "migrate needs kind: command or sql"),
        yfield_string("service", &m->service, "migrate service"),
        yfield_string("dir", &m->dir, "migrate dir"),
        yfield_strings("up", &m->up, "migrate up"),
        yfield_strings("down", &m->down, "migrate down"),
        yfield_string("revision_query", &m->revision_query, NULL),
        yfield_strings("stop_during", &m->stop_during, NULL),
        yfield_bool("rehearse", &m->rehearse, NULL),
        yfield_end(),
    };
    m->present = 1;
    m->rehearse = 1;
    if (yread_fields(&l->r, n, "migrate", fields) < 0)
        return -1;
    if (!strcmp(m->kind, "command") && (!m->service || !m->up.n))
        return yread_error(&l->r, n,
                           "a command migration needs service: and up: (the upgrade command)");
    if (!strcmp(m->kind, "sql") && !m->dir)
        return yread_error(&l->r, n, "an sql migration needs dir: (NNNN_name.up.sql files)");
    return 0;
}

/* Whether name is an environment variable's name: a letter or _, then letters, digits, _. */
static int is_env_name(const char *name)
{
    if (!((*name >= 'A' && *name <= 'Z') || (*name >= 'a' && *name <= 'z') || *name == '_'))
        return 0;
    for (const char *c = name + 1; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '_'))
            return 0;
    return 1;
}

/*
 * audit: {public_env: [NAME, ...]}: the environment variables whose values
 * the audit store keeps in clear (all others: keyed digests).
 */
static int parse_audit(struct ploader *l, const struct ynode *n)
{
    struct plan *p = l->p;
    struct yfield fields[] = {
        yfield_strings("public_env", &p->public_env, "audit public_env"),
        yfield_end(),
    };
    const struct ynode *list;
    if (yread_fields(&l->r, n, "audit", fields) < 0)
        return -1;
    list = ynode_get(n, "public_env");
    for (size_t i = 0; i < p->public_env.n; i++) {
        const struct ynode *at =
            list && list->kind == YNODE_SEQ && i < list->n ? list->items[i] : list;
        const char *name = p->public_env.v[i];
        if (!is_env_name(name))
            return yread_error(&l->r, at,
                               "audit public_env: \"%s\" is not an environment variable name "
                               "(a letter or _, then letters, digits or _, such as LOG_LEVEL)",
                               name);
    }
    return 0;
}

/* An empty string is as if the key were absent. */
static void drop_empty(char **s)
{
    if (*s && !**s) {
        free(*s);
        *s = NULL;
    }
}

/*
 * What engine: says beyond its values: host and context exclude each
 * other (as the docker CLI's -H and --context), and the mode and the
 * store's place default to local.
 */
static int parse_engine(struct ploader *l, const struct ynode *root)
{
    struct plan *p = l->p;
    const struct ynode *n = ynode_get(root, "engine");

    drop_empty(&p->engine_host); /* host: ${DEPLOY_HOST:-} left empty: the default engine */
    drop_empty(&p->engine_context);
    if (p->engine_host && p->engine_context)
        return yread_error(&l->r, ynode_get(n, "context"),
                           "engine: give host or context, not both (a context names its host)");
    if (!p->engine_mode)
        p->engine_mode = xstrdup("local");
    p->state_engine = p->state_where && !strcmp(p->state_where, "engine");
    return 0;
}

/* The root's values and the sections that are only values; the others are read above. */
static int parse_top(struct ploader *l, const struct ynode *root)
{
    static const char *const crash[] = {"rollback", "resume", NULL};
    static const char *const modes[] = {"local", "swarm", NULL};
    static const char *const stores[] = {"local", "engine", NULL};
    struct plan *p = l->p;
    struct yfield tiers[] = {
        yfield_strings("infra", &p->infra, "tiers infra"),
        yfield_strings("app", &p->app, "tiers app"),
        yfield_end(),
    };
    struct yfield timeouts[] = {
        yfield_millis("healthy", &p->healthy_timeout_ms, "timeouts healthy"),
        yfield_millis("verify", &p->verify_timeout_ms, "timeouts verify"),
        yfield_millis("connect", &p->timeouts.connect_ms, "timeouts connect"),
        yfield_millis("statement", &p->timeouts.statement_ms, "timeouts statement"),
        yfield_millis("lock", &p->timeouts.lock_ms, "timeouts lock"),
        yfield_millis("request", &p->timeouts.request_ms, "timeouts request"),
        yfield_millis("stall", &p->timeouts.stall_ms, "timeouts stall"),
        yfield_end(),
    };
    struct yfield engine[] = {
        yfield_string("host", &p->engine_host, "engine host"),
        yfield_string("context", &p->engine_context, "engine context"),
        yfield_name("mode", &p->engine_mode, "engine mode", modes),
        yfield_end(),
    };
    struct yfield fields[] = {
        yfield_int("version", &p->version, NULL, 1),
        yfield_string("project", &p->project, NULL),
        yfield_strings("compose", &p->compose, NULL),
        yfield_strings("env_files", &p->env_files, NULL),
        yfield_strings("profiles", &p->profiles, NULL),
        yfield_skip("release"),
        yfield_section("tiers", tiers, "tiers"),
        yfield_skip("database"),
        yfield_skip("backup"),
        yfield_skip("migrate"),
        yfield_skip("verify"),
        yfield_section("timeouts", timeouts, "timeouts"),
        yfield_name("on_crash", &p->on_crash, NULL, crash),
        yfield_section("engine", engine, "engine"),
        yfield_name("state", &p->state_where, NULL, stores),
        yfield_skip("rollback"),
        yfield_skip("audit"),
        yfield_skip("rollout"),
        yfield_skip("retention"),
        yfield_skip("hooks"),
        yfield_skip("notify"),
        yfield_end(),
    };
    p->healthy_timeout_ms = 120000;
    p->verify_timeout_ms = 60000;
    p->timeouts = (struct plan_timeouts){PLAN_CONNECT_DEFAULT_MS, PLAN_STATEMENT_DEFAULT_MS,
                                         PLAN_LOCK_DEFAULT_MS, PLAN_REQUEST_DEFAULT_MS,
                                         PLAN_STALL_DEFAULT_MS};
    if (yread_fields(&l->r, root, "the plan", fields) < 0)
        return -1;
    const struct ynode *v = ynode_get(root, "version");
    if (!v)
        return yread_error(&l->r, root, "the plan needs version: %d", PLAN_VERSION);
    if (p->version != PLAN_VERSION)
        return yread_error(&l->r, v,
                           "plan version %d is not supported: this ttdeploy reads version %d",
                           p->version, PLAN_VERSION);
    p->tiers_given = ynode_get(root, "tiers") != NULL;
    if (!p->compose.n)
        strv_push(&p->compose, "compose.yml");
    resolve_all(p, &p->compose);
    resolve_all(p, &p->env_files);
    if (!p->on_crash)
        p->on_crash = xstrdup("rollback");
    return parse_engine(l, root);
}

static int parse_root(struct ploader *l, const struct ynode *root)
{
    const struct ynode *n;

    if (parse_top(l, root) < 0)
        return -1;
    if ((n = ynode_get(root, "release")) && parse_release(l, n) < 0)
        return -1; /* none: the version is the git tag deployed (apply says when there is none) */
    if ((n = ynode_get(root, "database")) && parse_database(l, n) < 0)
        return -1;
    if ((n = ynode_get(root, "backup")) && parse_backup(l, n) < 0)
        return -1;
    if ((n = ynode_get(root, "migrate")) && parse_migrate(l, n) < 0)
        return -1;
    if ((n = ynode_get(root, "verify")) && parse_verify(l, n) < 0)
        return -1;
    if ((n = ynode_get(root, "hooks")) && plan_hooks_parse(l, n) < 0)
        return -1; /* before rollback: a rule's check: may name a hook */
    if ((n = ynode_get(root, "rollback")) && plan_rollback_parse(l, n) < 0)
        return -1;
    if ((n = ynode_get(root, "audit")) && parse_audit(l, n) < 0)
        return -1;
    if ((n = ynode_get(root, "rollout")) && plan_rollout_parse(l, n) < 0)
        return -1;
    if ((n = ynode_get(root, "retention")) && plan_retention_parse(l, n) < 0)
        return -1;
    if ((n = ynode_get(root, "notify")) && !l->p->notify_unset && plan_notify_parse(l, n) < 0)
        return -1;
    return 0;
}

int plan_parse(const char *path, const char *data, size_t len, const struct vars *env,
               struct plan **out, struct tt_err *err)
{
    struct ploader l = {0};
    struct plan *p = xcalloc(1, sizeof(*p));
    struct vars own = {0};
    char real[PATH_MAX];
    struct ydoc *doc;

    *out = NULL;
    l.p = p;
    l.r.err = err;
    p->path = xstrdup(path);
    l.r.file = p->path;
    p->dir = xstrdup(realpath(path, real) ? real : path);
    if (strrchr(p->dir, '/'))
        *strrchr(p->dir, '/') = '\0';
    else
        strcpy(p->dir, ".");
    sha256_hex(data, len, p->sha256); /* the file as written, for the audit */
    doc = ydoc_parse(path, data, len, 0, err);
    if (!doc) {
        plan_free(p);
        return -1;
    }
    if (!env) {
        vars_add_environ(&own);
        env = &own;
    }
    int rc = doc->root ? 0 : tt_error_at(err, path, 1, 1, "the plan is empty: see plans/README.md");
    struct tt_err unset = {0}; /* before interpolation: a webhook's variable that is not set */
    if (rc == 0 && plan_notify_check_env(doc->root, env, &unset) < 0)
        p->notify_unset = xstrdup(unset.msg);
    if (rc == 0)
        rc = vars_interpolate_doc(env, doc, &p->warnings, err);
    if (rc == 0)
        rc = parse_root(&l, doc->root);
    vars_clear(&own);
    ydoc_free(doc);
    if (rc < 0) {
        plan_free(p);
        return -1;
    }
    *out = p;
    return 0;
}

int plan_load(const char *path, const struct vars *env, struct plan **out, struct tt_err *err)
{
    struct buf data = {0};

    *out = NULL;
    if (yfile_read(path, "plan", &data, err) < 0) { /* bounded: /dev/zero is refused, not read */
        buf_release(&data);                         /* what was read before the refusal */
        return -1;
    }
    int rc = plan_parse(path, data.data ? data.data : "", data.len, env, out, err);
    buf_release(&data);
    return rc;
}

static int need_service(const struct plan *p, const struct compose_project *proj, const char *what,
                        const char *name, struct tt_err *err)
{
    if (!name || compose_find_service(proj, name))
        return 0;
    const char *hint = compose_closest_service(proj, name);
    if (hint)
        return tt_error_at(err, p->path, 0, 0,
                           "%s names service \"%s\", which the compose project does not define "
                           "(did you mean \"%s\"?)",
                           what, name, hint);
    return tt_error_at(err, p->path, 0, 0,
                       "%s names service \"%s\", which the compose project does not define", what,
                       name);
}

int plan_check_project(struct plan *p, const struct compose_project *proj, const struct dag *d,
                       struct tt_err *err)
{
    if (p->project && strcmp(p->project, proj->name))
        return tt_error_at(err, p->path, 0, 0,
                           "the plan is for project \"%s\" but the compose files define \"%s\": "
                           "fix project: or the compose name:",
                           p->project, proj->name);
    for (size_t i = 0; i < p->image_services.n; i++)
        if (need_service(p, proj, "release images", p->image_services.v[i], err) < 0)
            return -1;
    for (size_t i = 0; i < p->infra.n; i++)
        if (need_service(p, proj, "tiers infra", p->infra.v[i], err) < 0)
            return -1;
    for (size_t i = 0; i < p->app.n; i++) {
        if (need_service(p, proj, "tiers app", p->app.v[i], err) < 0)
            return -1;
        if (strv_contains(&p->infra, p->app.v[i]))
            return tt_error_at(err, p->path, 0, 0,
                               "service \"%s\" is in both tiers: put it in infra or app",
                               p->app.v[i]);
    }
    if (need_service(p, proj, "database", p->db_service, err) < 0 ||
        need_service(p, proj, "migrate", p->migrate.service, err) < 0)
        return -1;
    for (size_t i = 0; i < p->migrate.stop_during.n; i++)
        if (need_service(p, proj, "migrate stop_during", p->migrate.stop_during.v[i], err) < 0)
            return -1;
    for (size_t i = 0; i < p->nchecks; i++) {
        if (need_service(p, proj, "check", p->checks[i].from, err) < 0 ||
            need_service(p, proj, "check", p->checks[i].service, err) < 0)
            return -1;
        if (p->checks[i].kind == PLAN_CHECK_SQL && !p->db_url)
            return tt_error_at(err, p->checks[i].at.file, p->checks[i].at.line, p->checks[i].at.col,
                               "check \"%s\" runs SQL but the plan has no database: url",
                               p->checks[i].name);
    }
    /* Default tiers: infra is what the first layer holds and others depend on. */
    if (p->infra.n == 0) {
        for (size_t k = d->layer_start[0]; d->nlayers && k < d->layer_start[1]; k++) {
            size_t i = d->order[k];
            int depended = 0;
            for (size_t e = 0; e < d->nedges; e++)
                depended |= d->edges[e].to == i;
            if (depended && !strv_contains(&p->app, dag_name(d, i)))
                strv_push(&p->infra, dag_name(d, i));
        }
    }
    if (p->app.n == 0 || !p->tiers_given) {
        for (size_t k = 0; k < d->n; k++) {
            const char *name = dag_name(d, d->order[k]);
            if (!strv_contains(&p->infra, name) && !strv_contains(&p->app, name))
                strv_push(&p->app, name);
        }
    }
    /* A service listed nowhere would never be deployed: refuse. */
    for (size_t i = 0; i < proj->nservices; i++) {
        const char *name = proj->services[i]->name;
        if (!strv_contains(&p->infra, name) && !strv_contains(&p->app, name))
            return tt_error_at(
                err, p->path, 0, 0,
                "service \"%s\" is in no tier: add it to tiers infra: or app:", name);
    }
    if (plan_hooks_check(p, proj, err) < 0)
        return -1;
    return plan_rollout_check(p, proj, err);
}

const char *plan_image_for(const struct plan *p, const char *service)
{
    for (size_t i = 0; i < p->image_services.n; i++)
        if (!strcmp(p->image_services.v[i], service))
            return p->image_refs.v[i];
    return NULL;
}

int plan_is_infra(const struct plan *p, const char *service)
{
    return strv_contains(&p->infra, service);
}

int plan_env_is_public(const struct plan *p, const char *name)
{
    return strv_contains(&p->public_env, name);
}

static void check_clear(struct plan_check *c)
{
    free(c->name);
    free(c->url);
    free(c->body);
    free(c->from);
    free(c->service);
    strv_clear(&c->command);
    free(c->sql);
    free(c->expect);
}

static void migrate_clear(struct plan_migrate *m)
{
    free(m->kind);
    free(m->service);
    free(m->dir);
    strv_clear(&m->up);
    strv_clear(&m->down);
    free(m->revision_query);
    strv_clear(&m->stop_during);
}

void plan_free(struct plan *p)
{
    if (!p)
        return;
    free(p->path);
    free(p->dir);
    free(p->project);
    strv_clear(&p->compose);
    strv_clear(&p->env_files);
    strv_clear(&p->profiles);
    free(p->release_version);
    free(p->git_repo);
    free(p->git_tag);
    free(p->git_commit);
    strv_clear(&p->image_services);
    strv_clear(&p->image_refs);
    strv_clear(&p->infra);
    strv_clear(&p->app);
    free(p->db_service);
    free(p->db_url);
    free(p->backup.dir);
    free(p->backup.verify);
    migrate_clear(&p->migrate);
    for (size_t i = 0; i < p->nchecks; i++)
        check_clear(&p->checks[i]);
    free(p->checks);
    free(p->on_crash);
    free(p->engine_host);
    free(p->engine_context);
    free(p->engine_mode);
    free(p->state_where);
    for (size_t i = 0; i < p->nrules; i++)
        plan_rule_clear(&p->rules[i]);
    free(p->rules);
    strv_clear(&p->public_env);
    for (size_t i = 0; i < p->nrollouts; i++)
        plan_rollout_clear(&p->rollouts[i]);
    free(p->rollouts);
    strv_clear(&p->warnings);
    plan_hooks_free(p);
    plan_notify_free(p->notify, p->nnotify);
    free(p->notify_unset);
    free(p);
}
