/*
 * test_dag.c - dependency layers, their order, edge conditions and cycles.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "dag.h"
#include "testutil.h"

static struct compose_project *proj;
static struct dag *dag;

static void teardown(void)
{
    dag_free(dag);
    compose_project_free(proj);
    dag = NULL;
    proj = NULL;
}

TestSuite(dag, .fini = teardown);

static void build(const char *text)
{
    struct tt_err err = {0};
    cr_assert_eq(tu_load(text, NULL, &proj, &err), 0, "%s", err.msg);
    cr_assert_eq(dag_build(proj, &dag, &err), 0, "%s", err.msg);
}

/* "a b | c | d": the layers as one string. */
static const char *layers(void)
{
    static char out[4096];
    struct buf b = {0};
    for (size_t k = 0; k < dag->nlayers; k++) {
        if (k)
            buf_adds(&b, " | ");
        for (size_t i = dag->layer_start[k]; i < dag->layer_start[k + 1]; i++) {
            if (i > dag->layer_start[k])
                buf_addc(&b, ' ');
            buf_adds(&b, dag_name(dag, dag->order[i]));
        }
    }
    snprintf(out, sizeof(out), "%s", b.data ? b.data : "");
    buf_release(&b);
    return out;
}

Test(dag, tasktracker_has_four_layers)
{
    struct compose_options o = {0};
    struct tt_err err = {0};
    strv_push(&o.files, "examples/tasktracker/compose.yml");
    cr_assert_eq(compose_load(&o, &proj, &err), 0, "%s", err.msg);
    cr_assert_eq(dag_build(proj, &dag, &err), 0, "%s", err.msg);
    cr_assert_str_eq(layers(), "nats postgres | api worker | dashboard | nginx");
    strv_clear(&o.files);
}

Test(dag, independent_services_share_layer_zero)
{
    build("services:\n  c: {image: x}\n  a: {image: x}\n  b: {image: x}\n");
    cr_assert_str_eq(layers(), "a b c");
    cr_assert_eq(dag->nedges, 0);
}

Test(dag, service_sits_past_its_deepest_dependency)
{
    build("services:\n"
          "  db: {image: x}\n"
          "  cache: {image: x}\n"
          "  api: {image: x, depends_on: [db]}\n"
          "  web: {image: x, depends_on: [api, cache]}\n"
          "  cron: {image: x, depends_on: [db]}\n");
    cr_assert_str_eq(layers(), "cache db | api cron | web");
}

Test(dag, edges_carry_conditions)
{
    build("services:\n"
          "  db: {image: x}\n"
          "  migrate: {image: x, depends_on: {db: {condition: service_healthy}}}\n"
          "  api:\n    image: x\n    depends_on:\n"
          "      migrate: {condition: service_completed_successfully}\n"
          "      db: {condition: service_healthy, required: false}\n");
    cr_assert_eq(dag->nedges, 3);
    /* sorted by dependant, then dependency: api->db, api->migrate, migrate->db */
    cr_assert_str_eq(dag_name(dag, dag->edges[0].from), "api");
    cr_assert_str_eq(dag_name(dag, dag->edges[0].to), "db");
    cr_assert_eq(dag->edges[0].condition, COMPOSE_COND_HEALTHY);
    cr_assert_not(dag->edges[0].required);
    cr_assert_eq(dag->edges[1].condition, COMPOSE_COND_COMPLETED);
    cr_assert_str_eq(dag_name(dag, dag->edges[2].from), "migrate");
    cr_assert_str_eq(layers(), "db | migrate | api");
}

Test(dag, layers_do_not_depend_on_file_order)
{
    build("services:\n  z: {image: x, depends_on: [m]}\n  m: {image: x}\n  a: {image: x, "
          "depends_on: [m]}\n");
    char first[256];
    snprintf(first, sizeof(first), "%s", layers());
    teardown();
    build("services:\n  a: {image: x, depends_on: [m]}\n  m: {image: x}\n  z: {image: x, "
          "depends_on: [m]}\n");
    cr_assert_str_eq(layers(), first);
    cr_assert_str_eq(first, "m | a z");
}

Test(dag, cycle_names_its_path)
{
    struct tt_err err = {0};
    cr_assert_eq(tu_load("services:\n"
                         "  api: {image: x, depends_on: [worker]}\n"
                         "  db: {image: x}\n"
                         "  worker:\n    image: x\n    depends_on: [db, queue]\n"
                         "  queue:\n    image: x\n    depends_on:\n      - api\n",
                         NULL, &proj, &err),
                 0, "%s", err.msg);
    cr_assert_eq(dag_build(proj, &dag, &err), -1);
    cr_assert_null(dag);
    cr_assert(strstr(err.msg,
                     "compose.yml:10:9: dependency cycle: api -> worker -> queue -> api") != NULL,
              "%s", err.msg);
}

Test(dag, two_node_cycle)
{
    struct tt_err err = {0};
    cr_assert_eq(tu_load("services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: "
                         "[a]}\n",
                         NULL, &proj, &err),
                 0);
    cr_assert_eq(dag_build(proj, &dag, &err), -1);
    cr_assert(strstr(err.msg, "dependency cycle: a -> b -> a") != NULL, "%s", err.msg);
}

Test(dag, long_chain_does_not_recurse)
{
    struct buf b = {0};
    buf_adds(&b, "services:\n  s00000: {image: x}\n");
    for (int i = 1; i < 5000; i++)
        buf_printf(&b, "  s%05d: {image: x, depends_on: [s%05d]}\n", i, i - 1);
    build(b.data);
    cr_assert_eq(dag->nlayers, 5000);
    cr_assert_str_eq(dag_name(dag, dag->order[4999]), "s04999");
    buf_release(&b);
}
