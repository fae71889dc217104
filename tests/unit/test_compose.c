/*
 * test_compose.c - the compose loader: every field it models, the merge
 * rules, extends, profiles, and each error message a user can meet.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/stat.h>

#include "compose.h"
#include "testutil.h"

static struct compose_project *load_ok(const char *text, const char *const *vars)
{
    struct compose_project *p = NULL;
    struct tt_err err = {0};
    int rc = tu_load(text, vars, &p, &err);
    cr_assert_eq(rc, 0, "load failed: %s", err.msg);
    return p;
}

/* Loads text expecting an error; returns the message after "compose.yml:" when present. */
static const char *load_err(const char *text, const char *const *vars)
{
    static struct tt_err err;
    struct compose_project *p = NULL;
    memset(&err, 0, sizeof(err));
    cr_assert_eq(tu_load(text, vars, &p, &err), -1, "expected an error for:\n%s", text);
    cr_assert_null(p);
    const char *at = strstr(err.msg, "compose.yml:");
    return at ? at : err.msg;
}

/* Loads the compose file at path, with no variables. */
static struct compose_project *load_path_ok(const char *path)
{
    struct compose_options o = {0};
    struct vars v = {0};
    struct compose_project *p = NULL;
    struct tt_err err = {0};
    strv_push(&o.files, path);
    o.environ = &v;
    cr_assert_eq(compose_load(&o, &p, &err), 0, "%s", err.msg);
    strv_clear(&o.files);
    return p;
}

static const char *env_of(const struct compose_service *s, const char *key)
{
    for (size_t i = 0; i < s->environment.n; i++)
        if (!strcmp(s->environment.v[i].key, key))
            return s->environment.v[i].value ? s->environment.v[i].value : "(null)";
    return NULL;
}

Test(compose, basic_fields)
{
    struct compose_project *p = load_ok("name: Demo_App\n"
                                        "services:\n"
                                        "  web:\n"
                                        "    image: nginx:1.25\n"
                                        "    container_name: web1\n"
                                        "    user: \"1000:1000\"\n"
                                        "    working_dir: /srv\n"
                                        "    restart: on-failure:3\n"
                                        "    stop_signal: SIGQUIT\n"
                                        "    stop_grace_period: 1m30s\n"
                                        "    labels: [a=1, b]\n"
                                        "    build: ./web\n",
                                        NULL);
    cr_assert_str_eq(p->name, "demo_app");
    cr_assert_eq(p->nservices, 1);
    struct compose_service *s = p->services[0];
    cr_assert_str_eq(s->image, "nginx:1.25");
    cr_assert_str_eq(s->container_name, "web1");
    cr_assert_str_eq(s->user, "1000:1000");
    cr_assert_str_eq(s->working_dir, "/srv");
    cr_assert_str_eq(s->restart, "on-failure:3");
    cr_assert_str_eq(s->stop_signal, "SIGQUIT");
    cr_assert_eq(s->stop_grace_period, 90000000000LL);
    cr_assert_eq(s->labels.n, 2);
    cr_assert_null(s->labels.v[1].value);
    cr_assert_not_null(s->build);
    cr_assert_str_eq(s->networks.v[0], "default");
    compose_project_free(p);
}

Test(compose, command_string_and_list)
{
    struct compose_project *p = load_ok("services:\n"
                                        "  a:\n"
                                        "    image: x\n"
                                        "    command: sh -c 'echo \"hi there\"' end\\ word\n"
                                        "    entrypoint: [\"/bin/tini\", \"--\"]\n",
                                        NULL);
    struct compose_service *s = p->services[0];
    cr_assert(s->has_command);
    cr_assert_eq(s->command.n, 4);
    cr_assert_str_eq(s->command.v[0], "sh");
    cr_assert_str_eq(s->command.v[2], "echo \"hi there\"");
    cr_assert_str_eq(s->command.v[3], "end word");
    cr_assert_eq(s->entrypoint.n, 2);
    cr_assert_str_eq(s->entrypoint.v[1], "--");
    compose_project_free(p);
}

Test(compose, environment_list_and_map)
{
    struct compose_project *p = load_ok("services:\n"
                                        "  a:\n"
                                        "    image: x\n"
                                        "    environment: [A=1, B=, C, D=x=y]\n"
                                        "  b:\n"
                                        "    image: x\n"
                                        "    environment: {A: 1, B: '', C: null, D: true}\n",
                                        NULL);
    for (size_t i = 0; i < 2; i++) {
        struct compose_service *s = p->services[i];
        cr_assert_str_eq(env_of(s, "A"), "1");
        cr_assert_str_eq(env_of(s, "B"), "");
        cr_assert_str_eq(env_of(s, "C"), "(null)");
    }
    cr_assert_str_eq(env_of(p->services[0], "D"), "x=y");
    cr_assert_str_eq(env_of(p->services[1], "D"), "true");
    compose_project_free(p);
}

Test(compose, env_file_below_environment)
{
    char *dir = tu_tmpdir();
    char *envp = tu_write(dir, "app.env", "FROM_FILE=1\nBOTH=file\n");
    char *path = tu_write(dir, "compose.yml",
                          "services:\n  a:\n    image: x\n    env_file: app.env\n"
                          "    environment: {BOTH: inline}\n");
    struct compose_project *p = load_path_ok(path);
    cr_assert_str_eq(env_of(p->services[0], "FROM_FILE"), "1");
    cr_assert_str_eq(env_of(p->services[0], "BOTH"), "inline");
    compose_project_free(p);
    unlink(envp);
    unlink(path);
    cr_assert(strstr(load_err("services:\n  a:\n    image: x\n    env_file: gone.env\n", NULL),
                     "gone.env: cannot open env file") != NULL);
    rmdir(dir);
    free(envp);
    free(path);
    free(dir);
}

Test(compose, ports_short_and_long)
{
    struct compose_project *p = load_ok("services:\n"
                                        "  a:\n"
                                        "    image: x\n"
                                        "    ports:\n"
                                        "      - 80\n"
                                        "      - \"8080:80\"\n"
                                        "      - 127.0.0.1:5432:5432/udp\n"
                                        "      - \"9090-9091:8080-8081\"\n"
                                        "      - \"[::1]:53:53\"\n"
                                        "      - target: 443\n"
                                        "        published: \"8443\"\n"
                                        "        host_ip: 0.0.0.0\n"
                                        "        mode: host\n",
                                        NULL);
    struct compose_service *s = p->services[0];
    cr_assert_eq(s->nports, 6);
    cr_assert_str_eq(s->ports[0].target, "80");
    cr_assert_null(s->ports[0].published);
    cr_assert_str_eq(s->ports[0].protocol, "tcp");
    cr_assert_str_eq(s->ports[1].published, "8080");
    cr_assert_str_eq(s->ports[2].host_ip, "127.0.0.1");
    cr_assert_str_eq(s->ports[2].protocol, "udp");
    cr_assert_str_eq(s->ports[3].published, "9090-9091");
    cr_assert_str_eq(s->ports[4].host_ip, "::1");
    cr_assert_str_eq(s->ports[5].target, "443");
    cr_assert_str_eq(s->ports[5].mode, "host");
    compose_project_free(p);
}

Test(compose, bad_port)
{
    const char *m = load_err("services:\n  a:\n    image: x\n    ports: [\"80:http\"]\n", NULL);
    cr_assert(strstr(m, "compose.yml:4:13: invalid port \"80:http\"") != NULL, "%s", m);
}

Test(compose, volumes_forms)
{
    struct compose_project *p = load_ok("services:\n"
                                        "  a:\n"
                                        "    image: x\n"
                                        "    volumes:\n"
                                        "      - data:/var/lib/data\n"
                                        "      - ./conf:/etc/app:ro\n"
                                        "      - /abs:/abs:rw,z\n"
                                        "      - /anon\n"
                                        "      - type: tmpfs\n"
                                        "        target: /run\n"
                                        "      - type: bind\n"
                                        "        source: ./src\n"
                                        "        target: /src\n"
                                        "        read_only: true\n"
                                        "volumes:\n  data:\n",
                                        NULL);
    struct compose_service *s = p->services[0];
    cr_assert_eq(s->nvolumes, 6);
    cr_assert_str_eq(s->volumes[0].type, "volume");
    cr_assert_str_eq(s->volumes[0].source, "data");
    cr_assert_str_eq(s->volumes[1].type, "bind");
    cr_assert(s->volumes[1].source[0] == '/', "bind sources are made absolute");
    cr_assert(strstr(s->volumes[1].source, "/conf") != NULL);
    cr_assert(s->volumes[1].read_only);
    cr_assert_str_eq(s->volumes[2].options, "z");
    cr_assert_not(s->volumes[2].read_only);
    cr_assert_null(s->volumes[3].source);
    cr_assert_str_eq(s->volumes[4].type, "tmpfs");
    cr_assert(s->volumes[5].read_only);
    cr_assert_eq(p->volumes.n, 1);
    compose_project_free(p);
}

Test(compose, undeclared_volume_and_network)
{
    const char *m = load_err("services:\n  a:\n    image: x\n    volumes: [data:/d]\n", NULL);
    cr_assert(strstr(m, "compose.yml:3:5: service \"a\" uses volume \"data\", which is not "
                        "declared") != NULL,
              "%s", m);
    m = load_err("services:\n  a:\n    image: x\n    networks: [front]\n", NULL);
    cr_assert(strstr(m, "uses network \"front\", which is not declared") != NULL, "%s", m);
}

Test(compose, networks_list_and_map)
{
    struct compose_project *p = load_ok("services:\n"
                                        "  a: {image: x, networks: [front, back]}\n"
                                        "  b:\n    image: x\n    networks:\n      back:\n"
                                        "        aliases: [db]\n"
                                        "  c: {image: x, network_mode: host}\n"
                                        "networks: {front: {}, back: {}}\n",
                                        NULL);
    cr_assert_eq(p->services[0]->networks.n, 2);
    cr_assert_str_eq(p->services[1]->networks.v[0], "back");
    cr_assert_eq(p->services[2]->networks.n, 0);
    cr_assert_str_eq(p->services[2]->network_mode, "host");
    compose_project_free(p);
}

Test(compose, depends_on_forms)
{
    struct compose_project *p =
        load_ok("services:\n"
                "  db: {image: pg}\n"
                "  cache: {image: redis}\n"
                "  job: {image: x}\n"
                "  a:\n    image: x\n    depends_on: [db, cache]\n"
                "  b:\n"
                "    image: x\n"
                "    depends_on:\n"
                "      db: {condition: service_healthy, restart: true}\n"
                "      job: {condition: service_completed_successfully}\n"
                "      gone: {condition: service_started, required: false}\n",
                NULL);
    struct compose_service *a = compose_find_service(p, "a");
    struct compose_service *b = compose_find_service(p, "b");
    cr_assert_eq(a->ndeps, 2);
    cr_assert_eq(a->deps[0].condition, COMPOSE_COND_STARTED);
    cr_assert(a->deps[0].required);
    cr_assert_eq(b->ndeps, 2, "an optional dependency on an absent service is dropped");
    cr_assert_eq(b->deps[0].condition, COMPOSE_COND_HEALTHY);
    cr_assert(b->deps[0].restart);
    cr_assert_eq(b->deps[1].condition, COMPOSE_COND_COMPLETED);
    compose_project_free(p);
}

Test(compose, unknown_dependency_suggests)
{
    const char *m = load_err("services:\n"
                             "  postgres: {image: pg}\n"
                             "  api:\n"
                             "    image: x\n"
                             "    depends_on:\n"
                             "      - postgress\n",
                             NULL);
    cr_assert_str_eq(m, "compose.yml:6:9: service \"api\" depends on \"postgress\", which is not "
                        "defined (did you mean \"postgres\"?)");
    m = load_err("services:\n  api:\n    image: x\n    depends_on: [zzz]\n", NULL);
    cr_assert(strstr(m, "which is not defined: define it or remove the dependency") != NULL, "%s",
              m);
}

Test(compose, bad_condition)
{
    const char *m = load_err("services:\n  db: {image: x}\n  a:\n    image: x\n    depends_on:\n"
                             "      db: {condition: healthy}\n",
                             NULL);
    cr_assert(strstr(m, "compose.yml:6:23: unknown condition \"healthy\"") != NULL, "%s", m);
}

Test(compose, entries_that_need_a_key)
{
    const char *m = load_err("services:\n  a:\n    image: x\n    extends: {file: b.yml}\n", NULL);
    cr_assert_str_eq(m, "compose.yml:4:14: extends needs service: the name of the service to "
                        "extend");
    m = load_err("services:\n  a:\n    image: x\n    env_file: [{required: false}]\n", NULL);
    cr_assert_str_eq(m, "compose.yml:4:16: an env_file entry needs path: the file to read");
}

Test(compose, unknown_keys_in_long_forms_warn)
{
    struct compose_project *p =
        load_ok("services:\n  a:\n    image: x\n    healthcheck: {test: [CMD, t], intervall: 5s}\n"
                "    ports: [{target: 80, nmae: web}]\n",
                NULL);
    char *all = strv_join(&p->warnings, "\n");
    cr_assert(strstr(all, "compose.yml:4:35: unknown healthcheck key \"intervall\" ignored"), "%s",
              all);
    cr_assert(strstr(all, "compose.yml:5:26: unknown port key \"nmae\" ignored"), "%s", all);
    free(all);
    compose_project_free(p);
}

Test(compose, self_dependency)
{
    const char *m = load_err("services:\n  a:\n    image: x\n    depends_on: [a]\n", NULL);
    cr_assert(strstr(m, "depends on itself") != NULL, "%s", m);
}

Test(compose, healthcheck_forms)
{
    struct compose_project *p =
        load_ok("services:\n"
                "  a:\n    image: x\n    healthcheck:\n"
                "      test: [\"CMD\", \"pg_isready\"]\n      interval: 1m30s\n"
                "      timeout: 500ms\n      retries: 5\n      start_period: 1.5s\n"
                "      start_interval: 1s\n"
                "  b:\n    image: x\n    healthcheck:\n      test: curl -f http://x/\n"
                "  c:\n    image: x\n    healthcheck:\n      test: [\"NONE\"]\n"
                "  d:\n    image: x\n    healthcheck:\n      disable: true\n",
                NULL);
    struct compose_healthcheck *h = &compose_find_service(p, "a")->healthcheck;
    cr_assert(h->present);
    cr_assert_str_eq(h->test.v[0], "CMD");
    cr_assert_eq(h->interval, 90000000000LL);
    cr_assert_eq(h->timeout, 500000000LL);
    cr_assert_eq(h->retries, 5);
    cr_assert_eq(h->start_period, 1500000000LL);
    cr_assert_eq(h->start_interval, 1000000000LL);
    h = &compose_find_service(p, "b")->healthcheck;
    cr_assert_str_eq(h->test.v[0], "CMD-SHELL");
    cr_assert_str_eq(h->test.v[1], "curl -f http://x/");
    cr_assert_eq(h->interval, -1, "an interval not given stays unset");
    cr_assert(compose_find_service(p, "c")->healthcheck.disable);
    cr_assert(compose_find_service(p, "d")->healthcheck.disable);
    compose_project_free(p);
}

Test(compose, healthcheck_errors)
{
    const char *m = load_err("services:\n  a:\n    image: x\n    healthcheck:\n"
                             "      test: [\"curl\", \"x\"]\n",
                             NULL);
    cr_assert(strstr(m, "compose.yml:5:13: healthcheck test list must start with \"CMD\"") != NULL,
              "%s", m);
    m = load_err("services:\n  a:\n    image: x\n    healthcheck:\n      interval: 10x\n", NULL);
    cr_assert_str_eq(m, "compose.yml:5:17: invalid duration \"10x\" for healthcheck interval: "
                        "write a number with a unit, such as 500ms, 10s or 1m30s");
    m = load_err("services:\n  a:\n    image: x\n    healthcheck:\n      retries: many\n", NULL);
    cr_assert(strstr(m, "healthcheck retries must be a whole number") != NULL, "%s", m);
}

Test(compose, deploy_resources)
{
    struct compose_project *p = load_ok("services:\n  a:\n    image: x\n    deploy:\n"
                                        "      resources:\n"
                                        "        limits: {cpus: '0.5', memory: 2G}\n"
                                        "        reservations: {memory: 512m}\n",
                                        NULL);
    struct compose_service *s = p->services[0];
    cr_assert_float_eq(s->limits.cpus, 0.5, 1e-9);
    cr_assert_eq(s->limits.memory, 2LL << 30);
    cr_assert_eq(s->reservations.memory, 512LL << 20);
    compose_project_free(p);
    const char *m = load_err("services:\n  a:\n    image: x\n    deploy:\n      resources:\n"
                             "        limits: {memory: lots}\n",
                             NULL);
    cr_assert(strstr(m, "compose.yml:6:26: invalid memory size \"lots\"") != NULL, "%s", m);
}

Test(compose, deploy_swarm_keys)
{
    struct compose_project *p =
        load_ok("services:\n  a:\n    image: x\n    deploy:\n"
                "      replicas: 3\n      endpoint_mode: dnsrr\n"
                "      placement: {constraints: [node.role == manager]}\n"
                "      update_config: {parallelism: 2, delay: 5s, order: start-first,\n"
                "                      failure_action: rollback, max_failure_ratio: 0.25}\n"
                "      rollback_config: {parallelism: 0, order: stop-first}\n"
                "      restart_policy: {condition: on-failure, delay: 2s, max_attempts: 4}\n"
                "  b:\n    image: y\n",
                NULL);
    const struct compose_deploy *d = &p->services[0]->deploy;
    cr_assert_eq(d->replicas, 3);
    cr_assert_str_eq(d->endpoint_mode, "dnsrr");
    cr_assert_str_eq(d->constraints.v[0], "node.role == manager");
    cr_assert_eq(d->update.parallelism, 2);
    cr_assert_eq(d->update.delay, 5000000000LL);
    cr_assert_str_eq(d->update.order, "start-first");
    cr_assert_str_eq(d->update.failure_action, "rollback");
    cr_assert_float_eq(d->update.max_failure_ratio, 0.25, 1e-9);
    cr_assert_eq(d->rollback.parallelism, 0);
    cr_assert_str_eq(d->rollback.order, "stop-first");
    cr_assert_str_eq(d->restart_condition, "on-failure");
    cr_assert_eq(d->restart_delay, 2000000000LL);
    cr_assert_eq(d->restart_max_attempts, 4);
    cr_assert_eq(p->services[1]->deploy.replicas, -1);
    cr_assert_null(p->services[1]->deploy.update.failure_action);
    compose_project_free(p);
    const char *m = load_err("services:\n  a:\n    image: x\n    deploy:\n"
                             "      update_config: {failure_action: explode}\n",
                             NULL);
    cr_assert(strstr(m, "failure_action") && strstr(m, "explode"), "%s", m);
    m = load_err("services:\n  a:\n    image: x\n    deploy:\n"
                 "      rollback_config: {max_failure_ratio: 2}\n",
                 NULL);
    cr_assert(strstr(m, "max_failure_ratio must be a number from 0 to 1"), "%s", m);
    m = load_err("services:\n  a:\n    image: x\n    deploy:\n      replicas: -1\n", NULL);
    cr_assert(strstr(m, "replicas"), "%s", m);
}

Test(compose, units)
{
    compose_ns ns;
    long long b;
    char buf[64];
    cr_assert_eq(compose_parse_duration("1h2m3s", &ns), 0);
    cr_assert_eq(ns, 3723000000000LL);
    cr_assert_eq(compose_parse_duration("10us", &ns), 0);
    cr_assert_eq(ns, 10000);
    cr_assert_eq(compose_parse_duration("10", &ns), -1);
    cr_assert_eq(compose_parse_duration("s", &ns), -1);
    cr_assert_eq(compose_parse_duration("", &ns), -1);
    compose_format_duration(90000000000LL, buf, sizeof(buf));
    cr_assert_str_eq(buf, "1m30s");
    compose_format_duration(1500000000LL, buf, sizeof(buf));
    cr_assert_str_eq(buf, "1.5s");
    compose_format_duration(250000000LL, buf, sizeof(buf));
    cr_assert_str_eq(buf, "250ms");
    compose_format_duration(3600000000000LL, buf, sizeof(buf));
    cr_assert_str_eq(buf, "1h0m0s");
    cr_assert_eq(compose_parse_bytes("1024", &b), 0);
    cr_assert_eq(b, 1024);
    cr_assert_eq(compose_parse_bytes("1kb", &b), 0);
    cr_assert_eq(b, 1024);
    cr_assert_eq(compose_parse_bytes("1.5g", &b), 0);
    cr_assert_eq(b, 1610612736LL);
    cr_assert_eq(compose_parse_bytes("3x", &b), -1);
    cr_assert_eq(compose_parse_bytes("-3m", &b), -1);
}

Test(compose, interpolation_in_files)
{
    const char *vars[] = {"TAG=1.4", "EMPTY=", NULL};
    struct compose_project *p = load_ok("services:\n"
                                        "  a:\n"
                                        "    image: \"app:${TAG}\"\n"
                                        "    environment:\n"
                                        "      - PORT=${PORT:-8000}\n"
                                        "      - LITERAL=$$HOME\n"
                                        "      - ALT=${TAG:+set}\n",
                                        vars);
    struct compose_service *s = p->services[0];
    cr_assert_str_eq(s->image, "app:1.4");
    cr_assert_str_eq(env_of(s, "PORT"), "8000");
    cr_assert_str_eq(env_of(s, "LITERAL"), "$HOME");
    cr_assert_str_eq(env_of(s, "ALT"), "set");
    compose_project_free(p);
}

Test(compose, missing_required_variable)
{
    const char *m =
        load_err("services:\n  a:\n    image: \"app:${TAG:?set TAG to the release}\"\n", NULL);
    cr_assert_str_eq(m, "compose.yml:3:12: required variable TAG is missing: set TAG to the "
                        "release (set it in the environment or in .env)");
}

Test(compose, dotenv_beside_first_file_and_environment_wins)
{
    char *dir = tu_tmpdir();
    char *envp = tu_write(dir, ".env", "TAG=from-dotenv\nOTHER=dotenv\n");
    char *path = tu_write(dir, "compose.yml",
                          "services:\n  a:\n    image: app:${TAG}\n"
                          "    environment:\n      - O=${OTHER}\n");
    struct compose_options o = {0};
    struct vars v = {0};
    struct compose_project *p = NULL;
    struct tt_err err = {0};
    vars_set(&v, "TAG", "from-env");
    strv_push(&o.files, path);
    o.environ = &v;
    cr_assert_eq(compose_load(&o, &p, &err), 0, "%s", err.msg);
    cr_assert_str_eq(p->services[0]->image, "app:from-env");
    cr_assert_str_eq(env_of(p->services[0], "O"), "dotenv");
    compose_project_free(p);
    /* --env-file replaces .env */
    char *alt = tu_write(dir, "alt.env", "OTHER=alt\n");
    strv_push(&o.env_files, alt);
    cr_assert_eq(compose_load(&o, &p, &err), 0, "%s", err.msg);
    cr_assert_str_eq(env_of(p->services[0], "O"), "alt");
    compose_project_free(p);
    unlink(alt);
    unlink(envp);
    unlink(path);
    rmdir(dir);
    free(alt);
    free(envp);
    free(path);
    free(dir);
    strv_clear(&o.files);
    strv_clear(&o.env_files);
    vars_clear(&v);
}

Test(compose, anchors_and_merge_keys)
{
    struct compose_project *p = load_ok("x-base: &base\n"
                                        "  image: api:1\n"
                                        "  restart: always\n"
                                        "  environment: &env {A: 1}\n"
                                        "services:\n"
                                        "  api:\n    <<: *base\n    command: serve\n"
                                        "  worker:\n    <<: *base\n    image: api:2\n"
                                        "    environment:\n      <<: *env\n      B: 2\n",
                                        NULL);
    struct compose_service *api = compose_find_service(p, "api");
    struct compose_service *w = compose_find_service(p, "worker");
    cr_assert_str_eq(api->image, "api:1");
    cr_assert_str_eq(api->restart, "always");
    cr_assert_str_eq(w->image, "api:2");
    cr_assert_str_eq(env_of(w, "A"), "1");
    cr_assert_str_eq(env_of(w, "B"), "2");
    cr_assert_eq(p->warnings.n, 0, "x- extensions are not warned about");
    compose_project_free(p);
}

Test(compose, several_files_merge)
{
    char *dir = tu_tmpdir();
    char *a = tu_write(dir, "compose.yml",
                       "services:\n"
                       "  api:\n"
                       "    image: api:1\n"
                       "    command: [serve, --old]\n"
                       "    environment: {A: base, B: base}\n"
                       "    ports: [\"8000:8000\"]\n"
                       "    volumes: [\"./a:/data\", \"./logs:/logs\"]\n"
                       "    healthcheck: {test: [CMD, old], interval: 10s, retries: 3}\n");
    char *b = tu_write(dir, "override.yml",
                       "services:\n"
                       "  api:\n"
                       "    image: api:2\n"
                       "    command: [serve, --new]\n"
                       "    environment: [B=over, C=new]\n"
                       "    ports: [\"9000:9000\"]\n"
                       "    volumes: [\"./b:/data\"]\n"
                       "    healthcheck: {interval: 2s}\n"
                       "  extra: {image: x}\n");
    struct compose_options o = {0};
    struct vars v = {0};
    struct compose_project *p = NULL;
    struct tt_err err = {0};
    strv_push(&o.files, a);
    strv_push(&o.files, b);
    o.environ = &v;
    cr_assert_eq(compose_load(&o, &p, &err), 0, "%s", err.msg);
    struct compose_service *s = compose_find_service(p, "api");
    cr_assert_eq(p->nservices, 2);
    cr_assert_str_eq(s->image, "api:2");
    cr_assert_eq(s->command.n, 2);
    cr_assert_str_eq(s->command.v[1], "--new", "command replaces");
    cr_assert_str_eq(env_of(s, "A"), "base", "environment merges");
    cr_assert_str_eq(env_of(s, "B"), "over");
    cr_assert_str_eq(env_of(s, "C"), "new");
    cr_assert_eq(s->nports, 2, "ports append");
    cr_assert_eq(s->nvolumes, 2, "volumes merge by target");
    cr_assert(strstr(s->volumes[0].source, "/b") != NULL);
    cr_assert_eq(s->healthcheck.interval, 2000000000LL);
    cr_assert_eq(s->healthcheck.retries, 3, "healthcheck merges by key");
    cr_assert_str_eq(s->healthcheck.test.v[1], "old");
    compose_project_free(p);
    unlink(a);
    unlink(b);
    rmdir(dir);
    free(a);
    free(b);
    free(dir);
    strv_clear(&o.files);
}

Test(compose, extends_same_and_other_file)
{
    char *dir = tu_tmpdir();
    char *common = tu_write(dir, "common.yml",
                            "services:\n"
                            "  base:\n"
                            "    image: base:1\n"
                            "    environment: {LEVEL: base, KEEP: yes}\n"
                            "    healthcheck: {test: [CMD, ok], interval: 5s}\n");
    char *main = tu_write(dir, "compose.yml",
                          "services:\n"
                          "  web:\n"
                          "    extends: {file: common.yml, service: base}\n"
                          "    environment: {LEVEL: web}\n"
                          "  web2:\n"
                          "    extends: web\n"
                          "    image: web2:1\n");
    struct compose_project *p = load_path_ok(main);
    struct compose_service *w = compose_find_service(p, "web");
    struct compose_service *w2 = compose_find_service(p, "web2");
    cr_assert_str_eq(w->image, "base:1");
    cr_assert_str_eq(env_of(w, "LEVEL"), "web");
    cr_assert_str_eq(env_of(w, "KEEP"), "yes");
    cr_assert_eq(w->healthcheck.interval, 5000000000LL);
    cr_assert_str_eq(w2->image, "web2:1");
    cr_assert_str_eq(env_of(w2, "LEVEL"), "web");
    cr_assert_null(compose_find_service(p, "base"), "the other file's services are not added");
    compose_project_free(p);
    unlink(common);
    unlink(main);
    rmdir(dir);
    free(common);
    free(main);
    free(dir);
}

Test(compose, extends_cycle)
{
    const char *m =
        load_err("services:\n  a: {image: x, extends: b}\n  b: {image: x, extends: a}\n", NULL);
    cr_assert(strstr(m, "extends cycle: a -> b -> a") != NULL, "%s", m);
}

Test(compose, extends_unknown_service)
{
    const char *m = load_err("services:\n  a: {image: x, extends: nope}\n", NULL);
    cr_assert(strstr(m, "extends refers to service \"nope\"") != NULL, "%s", m);
}

Test(compose, profiles)
{
    const char *text = "services:\n"
                       "  api: {image: x}\n"
                       "  debug: {image: x, profiles: [debug]}\n"
                       "  tool: {image: x, profiles: [ops, debug], depends_on: [api]}\n";
    struct compose_project *p = load_ok(text, NULL);
    cr_assert_eq(p->nservices, 1);
    cr_assert_eq(p->ndisabled, 2);
    compose_project_free(p);
    const char *vars[] = {"COMPOSE_PROFILES=ops", NULL};
    p = load_ok(text, vars);
    cr_assert_eq(p->nservices, 2);
    cr_assert_not_null(compose_find_service(p, "tool"));
    compose_project_free(p);
}

Test(compose, dependency_on_disabled_profile)
{
    const char *m = load_err("services:\n"
                             "  api: {image: x, depends_on: [debug]}\n"
                             "  debug: {image: x, profiles: [debug]}\n",
                             NULL);
    cr_assert(strstr(m, "which is only enabled with profile \"debug\": add --profile debug") !=
                  NULL,
              "%s", m);
}

Test(compose, unknown_keys_warn_not_fail)
{
    struct compose_project *p =
        load_ok("services:\n  a:\n    image: x\n    bogus: 1\n    cap_add: [NET_ADMIN]\n"
                "    x-mine: ok\nwhatever: 1\n",
                NULL);
    cr_assert_eq(p->warnings.n, 2);
    char *all = strv_join(&p->warnings, "\n");
    cr_assert(strstr(all, "compose.yml:4:5: service \"a\": unknown key \"bogus\" kept") != NULL,
              "%s", all);
    cr_assert(strstr(all, "compose.yml:7:1: unknown top-level key \"whatever\" ignored") != NULL,
              "%s", all);
    free(all);
    compose_project_free(p);
}

Test(compose, service_needs_image_or_build)
{
    const char *m = load_err("services:\n  a:\n    restart: always\n", NULL);
    cr_assert_str_eq(m, "compose.yml:3:5: service \"a\" has neither image nor build: add image: "
                        "NAME[:TAG]");
}

Test(compose, type_errors)
{
    const char *m = load_err("services:\n  a:\n    image: [x]\n", NULL);
    cr_assert_str_eq(m, "compose.yml:3:12: image must be a single value, not a list");
    m = load_err("services: [a]\n", NULL);
    cr_assert(strstr(m, "services must be a mapping") != NULL, "%s", m);
    m = load_err("- a\n", NULL);
    cr_assert(strstr(m, "a compose file must be a mapping") != NULL, "%s", m);
    m = load_err("services:\n  a:\n    image: x\n    restart: sometimes\n", NULL);
    cr_assert(strstr(m, "restart \"sometimes\" is not a policy") != NULL, "%s", m);
}

Test(compose, project_name_from_directory)
{
    struct compose_project *p = load_ok("services:\n  a: {image: x}\n", NULL);
    cr_assert(strncmp(p->name, "ttdeploy-unit-", 14) == 0, "%s", p->name);
    compose_project_free(p);
}

Test(compose, split_words)
{
    struct strv w = {0};
    cr_assert_eq(compose_split_words("a  'b c' \"d\\\"e\" f\\ g", &w), 0);
    cr_assert_eq(w.n, 4);
    cr_assert_str_eq(w.v[1], "b c");
    cr_assert_str_eq(w.v[2], "d\"e");
    cr_assert_str_eq(w.v[3], "f g");
    strv_clear(&w);
    cr_assert_eq(compose_split_words("a 'open", &w), -1);
    strv_clear(&w);
}

Test(compose, project_name_without_letters)
{
    const char *m = load_err("name: \"!!\"\nservices:\n  a: {image: x}\n", NULL);
    cr_assert_str_eq(m, "project name \"!!\" has no letters or digits: pass -p NAME");
}

Test(compose, error_after_dropping_an_optional_dependency)
{
    /* The optional dependency is dropped and the self-dependency is an error: the
       service must stay whole for the loader to free it (found by fuzzing). */
    const char *m = load_err("services:\n  a:\n    image: x\n    depends_on:\n"
                             "      gone: {condition: service_started, required: false}\n"
                             "      a: {condition: service_started}\n",
                             NULL);
    cr_assert(strstr(m, "service \"a\" depends on itself") != NULL, "%s", m);
}

/* Numbers out of range or not numbers at all: an error at the value's line naming the range. */
Test(compose, numbers_are_checked)
{
    static const struct {
        const char *line, *want;
    } cases[] = {
        {"cpus: nan", "compose.yml:4:11: cpus must be a number above 0 and at most 1000000"},
        {"cpus: inf", "compose.yml:4:11: cpus must be a number above 0 and at most 1000000"},
        {"cpus: -1", "compose.yml:4:11: cpus must be a number above 0 and at most 1000000"},
        {"cpus: 1e300", "compose.yml:4:11: cpus \"1e300\" is out of range"},
        {"mem_limit: 99999999999999999999g",
         "compose.yml:4:16: mem_limit \"99999999999999999999g\" is out of range: it must be from 0 "
         "to 8000000t"},
        {"shm_size: 1e400", "compose.yml:4:15: shm_size \"1e400\" is out of range"},
        {"memswap_limit: -2",
         "compose.yml:4:20: invalid memswap_limit \"-2\": write a number from 0"},
        {"stop_grace_period: 9999999999h",
         "compose.yml:4:24: duration \"9999999999h\" for stop_grace_period is out of range: it "
         "must be from 0 to 2500000h"},
        {"healthcheck: {interval: 1e400s}", "compose.yml:4:29: duration \"1e400s\" for healthcheck "
                                            "interval is out of range"},
        {"healthcheck: {timeout: 0x10s}", "compose.yml:4:28: invalid duration \"0x10s\""},
        {"deploy: {resources: {limits: {cpus: nan}}}",
         "compose.yml:4:41: cpus must be a number above 0"},
        {"deploy: {resources: {limits: {memory: 1e300}}}",
         "compose.yml:4:43: memory size \"1e300\" is out of range"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "services:\n  a:\n    image: x\n    %s\n", cases[i].line);
        const char *m = load_err(text, NULL);
        cr_assert(strncmp(m, cases[i].want, strlen(cases[i].want)) == 0, "%s\ngave %s",
                  cases[i].line, m);
    }
    struct compose_project *p = load_ok("services:\n  a:\n    image: x\n    cpus: 0.5\n"
                                        "    memswap_limit: -1\n    mem_limit: 8000000t\n",
                                        NULL);
    compose_project_free(p);
}

/*
 * Relative paths of a service reached through extends: file: resolve
 * against that file's folder (env_file, bind sources, build context);
 * the extending file's own stay against the project folder.
 */
Test(compose, extends_file_paths_resolve_in_its_folder)
{
    char *dir = tu_tmpdir(), sub[512];
    snprintf(sub, sizeof(sub), "%s/sub", dir);
    cr_assert_eq(mkdir(sub, 0700), 0);
    char *env = tu_write(sub, "base.env", "FROM_BASE=1\n");
    char *base = tu_write(sub, "base.yml",
                          "services:\n"
                          "  b:\n"
                          "    image: x\n"
                          "    env_file: base.env\n"
                          "    volumes: [./data:/data, {type: bind, source: conf, target: /c}]\n"
                          "    build: {context: ./app}\n");
    char *main = tu_write(dir, "compose.yml",
                          "services:\n"
                          "  a:\n"
                          "    extends: {file: sub/base.yml, service: b}\n"
                          "    volumes: [./mine:/mine]\n");
    struct compose_project *p = load_path_ok(main);
    struct compose_service *a = compose_find_service(p, "a");
    cr_assert_str_eq(env_of(a, "FROM_BASE"), "1");
    cr_assert_eq(a->nvolumes, 3);
    cr_assert(strstr(a->volumes[0].source, "/sub/data") != NULL, "%s", a->volumes[0].source);
    cr_assert(strstr(a->volumes[1].source, "/sub/conf") != NULL, "%s", a->volumes[1].source);
    cr_assert(strstr(a->volumes[2].source, "/sub/") == NULL, "%s", a->volumes[2].source);
    const struct ynode *ctx = ynode_get(a->build, "context");
    cr_assert(ctx && strstr(ctx->str, "/sub/app") != NULL && ctx->str[0] == '/', "%s",
              ctx ? ctx->str : "(none)");
    compose_project_free(p);
    unlink(env);
    unlink(base);
    unlink(main);
    rmdir(sub);
    rmdir(dir);
    free(env);
    free(base);
    free(main);
    free(dir);
}

/* 10,000 services load quickly (lookups were linear: quadratic in all); one more is refused. */
Test(compose, services_are_bounded, .timeout = 5 * TU_SAN_SLOWDOWN)
{
    struct buf b = {0};
    buf_adds(&b, "services:\n  s00000: {image: x}\n");
    for (int i = 1; i < COMPOSE_MAX_SERVICES; i++)
        buf_printf(&b, "  s%05d: {image: x, depends_on: [s%05d]}\n", i, i - 1);
    struct compose_project *p = load_ok(b.data, NULL);
    cr_assert_eq(p->nservices, COMPOSE_MAX_SERVICES);
    cr_assert_str_eq(compose_find_service(p, "s09999")->deps[0].service, "s09998");
    cr_assert_null(compose_find_service(p, "s10000"));
    compose_project_free(p);
    buf_adds(&b, "  extra: {image: x}\n");
    cr_assert_str_eq(load_err(b.data, NULL), "compose.yml:2:3: more than 10000 services in one "
                                             "project: split it into several projects");
    buf_release(&b);
}

/* extends can lay one service's long aliased values under many: the kept bytes are capped. */
Test(compose, extends_cannot_multiply_bytes)
{
    struct buf b = {0};
    buf_adds(&b, "x-l: &l \"");
    for (int i = 0; i < 1000000; i++)
        buf_addc(&b, 'y');
    buf_adds(&b, "\"\nservices:\n  base: {image: x, dns: [*l, *l, *l, *l, *l, *l, *l, *l, *l, "
                 "*l]}\n");
    for (int i = 0; i < 5; i++)
        buf_printf(&b, "  s%d: {extends: base}\n", i);
    compose_project_free(load_ok(b.data, NULL)); /* 6 x 10 MB */
    buf_adds(&b, "  s5: {extends: base}\n");
    const char *m = load_err(b.data, NULL);
    cr_assert(strstr(m, "compose.yml:") == m && strstr(m, "brings the project's keys to more than "
                                                          "67108864 bytes (64 MB)") != NULL,
              "%s", m);
    buf_release(&b);
}

/* Names go into container names and Engine API paths: only the Compose Specification's. */
Test(compose, hostile_names_are_refused_with_their_line)
{
    cr_assert_str_eq(load_err("services:\n  '../x?y#':\n    image: x\n", NULL),
                     "compose.yml:2:3: service name \"../x?y#\" may hold only letters, digits, "
                     "'.', '_' and '-' (and not only dots): rename it");
    cr_assert_str_eq(load_err("services:\n  a: {image: x}\nnetworks:\n  '..': {}\n", NULL),
                     "compose.yml:4:3: network name \"..\" may hold only letters, digits, "
                     "'.', '_' and '-' (and not only dots): rename it");
    cr_assert_str_eq(load_err("services:\n  a: {image: x}\nvolumes:\n  'd/b': {}\n", NULL),
                     "compose.yml:4:3: volume name \"d/b\" may hold only letters, digits, "
                     "'.', '_' and '-' (and not only dots): rename it");
    struct compose_project *p = NULL;
    struct tt_err err = {0};
    cr_assert_eq(tu_load("services:\n  web.v2_a-1: {image: x}\n", NULL, &p, &err), 0, "%s",
                 err.msg);
    compose_project_free(p);
}
