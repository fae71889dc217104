/*
 * test_engine_target.c - which engine ttdeploy talks to, and how: the
 * docker CLI's precedence (flags, then DOCKER_HOST/DOCKER_CONTEXT, then
 * the plan's engine block, then the default socket), contexts read from a
 * scratch $DOCKER_CONFIG, TLS files from DOCKER_CERT_PATH, host parsing,
 * what engine_describe() says, and ssh's own words in the error when the
 * ssh on PATH fails (a fake ssh; no child left behind).  The transports
 * against real engines are tests/e2e/test_remote.py's.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine.h"
#include "engine_target.h"
#include "sha256.h"
#include "testutil.h"

static void clean_env(void)
{
    unsetenv("DOCKER_HOST");
    unsetenv("DOCKER_CONTEXT");
    unsetenv("DOCKER_TLS_VERIFY");
    unsetenv("DOCKER_TLS");
    unsetenv("DOCKER_CERT_PATH");
    unsetenv("DOCKER_CONFIG");
}

TestSuite(engine_target, .init = clean_env);

/* Resolves c; asserts success, and that engine_describe would say want. */
static void expect_describe(const struct engine_choice *c, const char *want)
{
    struct engine_target t;
    struct tt_err err = {0};
    struct buf b = {0};
    int rc = engine_target_resolve(c, &t, &err);
    cr_assert_eq(rc, 0, "%s", err.msg);
    engine_target_describe(&t, &b);
    cr_assert_str_eq(b.data, want);
    engine_target_release(&t);
    buf_release(&b);
}

/* Resolves c; asserts failure and returns the message (static). */
static const char *failure(const struct engine_choice *c)
{
    static struct tt_err err;
    struct engine_target t;
    memset(&err, 0, sizeof(err));
    cr_assert_eq(engine_target_resolve(c, &t, &err), -1);
    engine_target_release(&t);
    return err.msg;
}

Test(engine_target, default_socket)
{
    struct engine_choice c = {0};
    expect_describe(&c, "unix:///var/run/docker.sock (default)");
}

Test(engine_target, precedence_is_the_docker_clis)
{
    struct engine_choice c = {.host = "unix:///flag.sock", .plan_host = "unix:///plan.sock"};
    setenv("DOCKER_HOST", "unix:///env.sock", 1);
    expect_describe(&c, "unix:///flag.sock (from --host)");
    c.host = NULL;
    /* the environment beats the plan */
    expect_describe(&c, "unix:///env.sock (from DOCKER_HOST)");
    setenv("DOCKER_CONTEXT", "default", 1);
    /* DOCKER_HOST beats DOCKER_CONTEXT */
    expect_describe(&c, "unix:///env.sock (from DOCKER_HOST)");
    unsetenv("DOCKER_HOST");
    expect_describe(&c, "unix:///var/run/docker.sock (context default, from DOCKER_CONTEXT)");
    unsetenv("DOCKER_CONTEXT");
    expect_describe(&c, "unix:///plan.sock (from the plan's engine.host)");
}

Test(engine_target, host_and_context_together_are_an_error)
{
    struct engine_choice c = {.host = "unix:///a.sock", .context = "ci"};
    cr_assert_str_eq(failure(&c), "--host and --context both given: use one of them");
    struct engine_choice p = {.plan_host = "unix:///a.sock", .plan_context = "ci"};
    cr_assert(strstr(failure(&p), "the plan's engine block gives both host and context") != NULL);
}

Test(engine_target, unsupported_and_malformed_hosts)
{
    struct engine_choice c = {.host = "npipe:////./pipe/docker_engine"};
    cr_assert_str_eq(failure(&c), "Docker host \"npipe:////./pipe/docker_engine\" (from --host) "
                                  "is not supported: use unix:///path, tcp://host:port (TLS) or "
                                  "ssh://[user@]host[:port]");
    c.host = "ssh://me:secret@example.org";
    const char *m = failure(&c);
    cr_assert(strstr(m, "a password in an ssh:// URL is not supported") != NULL, "%s", m);
    cr_assert(strstr(m, "secret") == NULL, "never the password itself: %s", m);
    c.host = "ssh://example.org:99999";
    cr_assert(strstr(failure(&c), "the port \"99999\" is not a number from 1 to 65535") != NULL);
    c.host = "ssh://example.org/path";
    cr_assert(strstr(failure(&c), "a path after the host is not supported") != NULL);
    c.host = "unix://";
    cr_assert(strstr(failure(&c), "names no socket") != NULL);
}

Test(engine_target, ssh_user_and_port)
{
    struct engine_choice c = {.host = "ssh://tt@127.0.0.1:22220/"};
    struct engine_target t;
    struct tt_err err = {0};
    cr_assert_eq(engine_target_resolve(&c, &t, &err), 0, "%s", err.msg);
    cr_assert_eq(t.transport, ENGINE_SSH);
    cr_assert_str_eq(t.user, "tt");
    cr_assert_str_eq(t.hostname, "127.0.0.1");
    cr_assert_eq(t.port, 22220);
    engine_target_release(&t);
    expect_describe(&c, "ssh://tt@127.0.0.1:22220 (from --host)");
    c.host = "ssh://build-host";
    /* no port: ssh's config decides */
    expect_describe(&c, "ssh://build-host (from --host)");
}

Test(engine_target, plain_tcp_needs_insecure_and_is_warned_about)
{
    struct engine_choice c = {.host = "tcp://10.0.0.5"};
    const char *m = failure(&c);
    cr_assert(strstr(m, "Docker host tcp://10.0.0.5:2375 (from --host) is plain TCP without "
                        "TLS") != NULL,
              "%s", m);
    cr_assert(strstr(m, "pass --insecure to accept it") != NULL, "%s", m);
    c.insecure = 1;
    struct engine_target t;
    struct tt_err err = {0};
    struct buf w = {0};
    cr_assert_eq(engine_target_resolve(&c, &t, &err), 0, "%s", err.msg);
    cr_assert_eq(engine_target_warning(&t, &w), 1);
    cr_assert(strstr(w.data, "plain TCP without TLS (--insecure)") != NULL, "%s", w.data);
    engine_target_release(&t);
    buf_release(&w);
    expect_describe(&c, "tcp://10.0.0.5:2375 (plain TCP, from --host)");
}

/* Writes the three TLS files into dir (their contents do not matter to resolution). */
static void tls_files(const char *dir)
{
    free(tu_write(dir, "ca.pem", "x"));
    free(tu_write(dir, "cert.pem", "x"));
    free(tu_write(dir, "key.pem", "x"));
}

Test(engine_target, tls_from_the_environment)
{
    char *dir = tu_tmpdir();
    tls_files(dir);
    setenv("DOCKER_TLS_VERIFY", "1", 1);
    setenv("DOCKER_CERT_PATH", dir, 1);
    setenv("DOCKER_HOST", "tcp://127.0.0.1", 1);
    struct engine_choice c = {0};
    struct engine_target t;
    struct tt_err err = {0};
    cr_assert_eq(engine_target_resolve(&c, &t, &err), 0, "%s", err.msg);
    cr_assert(t.tls && !t.tls_skip_verify);
    cr_assert_eq(t.port, 2376, "TLS's default port");
    cr_assert(strstr(t.ca, "/ca.pem") && strstr(t.cert, "/cert.pem") && strstr(t.key, "/key.pem"));
    struct buf w = {0}, url = {0};
    cr_assert_eq(engine_target_warning(&t, &w), 0);
    engine_target_base_url(&t, &url);
    cr_assert_str_eq(url.data, "https://127.0.0.1:2376");
    engine_target_release(&t);
    buf_release(&url);
    expect_describe(&c, "tcp://127.0.0.1:2376 (TLS, from DOCKER_HOST)");
    struct buf key = {0};
    buf_printf(&key, "%s/key.pem", dir);
    unlink(key.data);
    const char *m = failure(&c);
    cr_assert(strstr(m, key.data) != NULL && strstr(m, "No such file or directory"), "%s", m);
    cr_assert(strstr(m, "set DOCKER_CERT_PATH") != NULL, "%s", m);
    buf_release(&key);
    tu_rmtree(dir);
    free(dir);
}

/* Writes context name's meta.json (and, with tls, its three TLS files) under config/contexts. */
static void make_context(const char *config, const char *name, const char *meta, int tls)
{
    char sha[SHA256_HEX_LEN + 1];
    struct buf d = {0}, cmd = {0};
    sha256_hex(name, strlen(name), sha);
    buf_printf(&d, "%s/contexts/meta/%s", config, sha);
    buf_printf(&cmd, "mkdir -p '%s' '%s/contexts/tls/%s/docker'", d.data, config, sha);
    cr_assert_eq(system(cmd.data), 0);
    free(tu_write(d.data, "meta.json", meta));
    if (tls) {
        buf_reset(&d);
        buf_printf(&d, "%s/contexts/tls/%s/docker", config, sha);
        tls_files(d.data);
    }
    buf_release(&d);
    buf_release(&cmd);
}

Test(engine_target, contexts_from_docker_config)
{
    char *config = tu_tmpdir();
    setenv("DOCKER_CONFIG", config, 1);
    make_context(config, "ci",
                 "{\"Name\":\"ci\",\"Metadata\":{},\"Endpoints\":{\"docker\":{\"Host\":"
                 "\"tcp://10.1.2.3:2376\",\"SkipTLSVerify\":false}}}",
                 1);
    make_context(config, "lab",
                 "{\"Name\":\"lab\",\"Endpoints\":{\"docker\":{\"Host\":\"ssh://ops@lab\"}}}", 0);
    make_context(config, "loose",
                 "{\"Name\":\"loose\",\"Endpoints\":{\"docker\":{\"Host\":\"tcp://10.9.9.9:2376\","
                 "\"SkipTLSVerify\":true}}}",
                 0);
    make_context(config, "broken", "{\"Name\":\"broken\",\"Endpoints\":{}}", 0);
    struct engine_choice c = {.context = "ci"};
    struct engine_target t;
    struct tt_err err = {0};
    cr_assert_eq(engine_target_resolve(&c, &t, &err), 0, "%s", err.msg);
    cr_assert(t.tls && t.ca && t.cert && t.key, "the context's TLS files are used");
    cr_assert(strstr(t.ca, "/contexts/tls/") != NULL, "%s", t.ca);
    engine_target_release(&t);
    expect_describe(&c, "tcp://10.1.2.3:2376 (TLS, context ci, from --context)");
    setenv("DOCKER_CONTEXT", "lab", 1);
    struct engine_choice env = {.plan_context = "ci"};
    expect_describe(&env, "ssh://ops@lab (context lab, from DOCKER_CONTEXT)");
    unsetenv("DOCKER_CONTEXT");
    expect_describe(&env, "tcp://10.1.2.3:2376 (TLS, context ci, from the plan's engine.context)");
    struct engine_choice loose = {.context = "loose"};
    cr_assert_eq(engine_target_resolve(&loose, &t, &err), 0, "%s", err.msg);
    struct buf w = {0};
    cr_assert_eq(engine_target_warning(&t, &w), 1);
    cr_assert(strstr(w.data, "is not verified (context loose has SkipTLSVerify)") != NULL, "%s",
              w.data);
    engine_target_release(&t);
    buf_release(&w);
    struct engine_choice broken = {.context = "broken"};
    cr_assert(strstr(failure(&broken), "has no Endpoints.docker.Host") != NULL);
    tu_rmtree(config);
    free(config);
}

Test(engine_target, missing_context_names_it_and_the_folder)
{
    char *config = tu_tmpdir();
    setenv("DOCKER_CONFIG", config, 1);
    struct engine_choice c = {.context = "nope"};
    const char *m = failure(&c);
    struct buf want = {0};
    buf_printf(&want, "Docker context \"nope\" (from --context) not found: no %s/contexts/meta/",
               config);
    cr_assert(strstr(m, want.data) != NULL, "%s", m);
    cr_assert(strstr(m, "contexts are read from") != NULL, "%s", m);
    buf_release(&want);
    tu_rmtree(config);
    free(config);
}

Test(engine_target, unreadable_context_json)
{
    char *config = tu_tmpdir();
    setenv("DOCKER_CONFIG", config, 1);
    make_context(config, "bad", "{\"Name\": \"bad\",\n oops}", 0);
    struct engine_choice c = {.context = "bad"};
    const char *m = failure(&c);
    cr_assert(strstr(m, "meta.json:2: Docker context \"bad\":") != NULL, "%s", m);
    tu_rmtree(config);
    free(config);
}

/* Puts a fake ssh first on PATH: it says text on stderr and exits 255, as a refused ssh does. */
static char *fake_ssh(const char *text)
{
    char *dir = tu_tmpdir();
    struct buf script = {0}, path = {0};
    buf_printf(&script, "#!/bin/sh\necho '%s' >&2\nexit 255\n", text);
    char *f = tu_write(dir, "ssh", script.data);
    chmod(f, 0755);
    free(f);
    buf_printf(&path, "%s:/usr/bin:/bin", dir);
    setenv("PATH", path.data, 1);
    buf_release(&script);
    buf_release(&path);
    return dir;
}

Test(engine_target, ssh_failure_says_what_ssh_said)
{
    char *dir = fake_ssh("Host key verification failed.");
    struct engine *e = NULL;
    struct tt_err err = {0};
    struct engine_choice c = {.host = "ssh://tt@127.0.0.1:22220"};
    cr_assert_eq(engine_open_choice(&c, &e, &err), -1);
    cr_assert_null(e);
    cr_assert(strstr(err.msg, "cannot talk to the Docker engine at ssh://tt@127.0.0.1:22220 "
                              "(from --host) (GET /version)") != NULL,
              "%s", err.msg);
    cr_assert(strstr(err.msg, "ssh said: Host key verification failed. (ssh exit status 255)") !=
                  NULL,
              "%s", err.msg);
    cr_assert(strstr(err.msg, "`ssh -l tt -p 22220 127.0.0.1 docker system dial-stdio`") != NULL,
              "%s", err.msg);
    cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1, "no child left, not even a zombie");
    cr_assert_eq(errno, ECHILD);
    tu_rmtree(dir);
    free(dir);
}

Test(engine_target, ssh_missing_from_path)
{
    char *dir = tu_tmpdir();
    setenv("PATH", dir, 1);
    struct engine *e = NULL;
    struct tt_err err = {0};
    cr_assert_eq(engine_open("ssh://host", &e, &err), -1);
    cr_assert_str_eq(err.msg, "ssh://host needs the ssh command, and there is none on PATH: "
                              "install openssh-client");
    rmdir(dir);
    free(dir);
}
