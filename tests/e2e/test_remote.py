"""test_remote.py - ttdeploy on remote engines, as the docker CLI reaches
them: tcp:// with TLS (a second private dockerd, certificates made by
openssl) and ssh:// (an sshd in front of the shared private daemon; ssh's
own configuration through a wrapper first on PATH), both from
tests/remote.sh.  Over each: `up` (twice: the second reads back what
runs) and `down` of a small stack (parallel creates, health probes
through exec), and `apply` of a plan with a pg_dump backup (an exec
stream) and a failing verify that rolls back, then `status`.  Then the failures a user meets, each exit 5 with what to check
(wrong CA, missing certificate file, unknown ssh host key, plain tcp://
without --insecure), Docker contexts in a scratch DOCKER_CONFIG, and the
precedence: --host over DOCKER_HOST over the plan's engine.host."""
import glob
import hashlib
import http.client
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import urllib.parse

from harness import BUSYBOX, ROOT, api, request, run, ttdeploy

PG_IMAGE = "ttdeploy-test/postgres:15"


def remote_env():
    subprocess.run([os.path.join(ROOT, "tests", "remote.sh"), "up"], check=True)
    out = subprocess.run([os.path.join(ROOT, "tests", "remote.sh"), "env"], check=True,
                         capture_output=True, text=True).stdout
    return dict(line.split("=", 1) for line in out.split())


R = remote_env()
TLS_HOST, CERTS, WRONG_CA = R["REMOTE_TLS_HOST"], R["REMOTE_TLS_CERTS"], R["REMOTE_TLS_WRONG_CA"]
SSH_HOST, SSH_DIR = R["REMOTE_SSH_HOST"], R["REMOTE_SSH_DIR"]
PATH = os.environ.get("PATH", "/usr/bin:/bin")
# No variable of the caller's may choose the engine behind a test's back.
CLEAN = {"DOCKER_HOST": "", "DOCKER_CONTEXT": "", "DOCKER_TLS_VERIFY": "", "DOCKER_TLS": "",
         "DOCKER_CERT_PATH": "", "DOCKER_CONFIG": ""}
TLS = dict(CLEAN, DOCKER_HOST=TLS_HOST, DOCKER_TLS_VERIFY="1", DOCKER_CERT_PATH=CERTS)
SSH = dict(CLEAN, DOCKER_HOST=SSH_HOST, PATH=os.path.join(SSH_DIR, "bin") + ":" + PATH)


def tls_api(method, path, body=None):
    """One Engine API call on the TLS daemon: (status, parsed JSON or bytes)."""
    ctx = ssl.create_default_context(cafile=os.path.join(CERTS, "ca.pem"))
    ctx.load_cert_chain(os.path.join(CERTS, "cert.pem"), os.path.join(CERTS, "key.pem"))
    u = urllib.parse.urlparse(TLS_HOST.replace("tcp://", "https://"))
    c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=60)
    return request(c, method, path, body)


def containers(call, project):
    f = urllib.parse.quote(json.dumps({"label": [f"com.docker.compose.project={project}"]}))
    _, items = call("GET", f"/containers/json?all=1&filters={f}")
    return {c["Labels"]["com.docker.compose.service"]: c for c in items or []}


def purge(call, project):
    f = urllib.parse.quote(json.dumps({"label": [f"com.docker.compose.project={project}"]}))
    for c in call("GET", f"/containers/json?all=1&filters={f}")[1] or []:
        call("DELETE", f"/containers/{c['Id']}?force=1&v=1")
    for n in call("GET", f"/networks?filters={f}")[1] or []:
        call("DELETE", f"/networks/{n['Id']}")
    for v in (call("GET", f"/volumes?filters={f}")[1] or {}).get("Volumes") or []:
        call("DELETE", f"/volumes/{v['Name']}")


SMALL = """name: {project}
services:
  web:
    image: ttdeploy-test/busybox:latest
    init: true
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O-", "http://127.0.0.1:8080/healthz"]
      interval: 1s
      timeout: 2s
      retries: 10
  worker:
    image: ttdeploy-test/busybox:latest
    init: true
    command: ["sleep", "300"]
    depends_on: {{web: {{condition: service_healthy}}}}
"""


class Scratch:
    """A folder with a compose file (and a plan), removed with the project afterwards."""

    def __init__(self, project, call, compose=SMALL, plan=None):
        self.project, self.call = project, call
        self.dir = tempfile.mkdtemp(prefix="ttdeploy-remote-")
        self.compose = self.write("compose.yml", compose.format(project=project))
        self.plan = self.write("plan.yml", plan.format(project=project)) if plan else None

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        purge(self.call, self.project)
        shutil.rmtree(self.dir, ignore_errors=True)


def ssh_dirs():
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "ttdeploy-ssh-*")))


def dial_stdio_processes():
    p = subprocess.run(["pgrep", "-f", "docker system dial-stdio"], capture_output=True, text=True)
    return p.stdout.split()


def up_status_down(env, call, project):
    with Scratch(project, call) as s:
        p = ttdeploy("up", "--progress", "plain", "-f", s.compose, env=env)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "web     healthy (probe" in p.stdout, "the health probe ran through exec: " + p.stdout
        cs = containers(call, project)
        assert sorted(cs) == ["web", "worker"] and all(c["State"] == "running" for c in cs.values())
        p = ttdeploy("up", "--progress", "plain", "-f", s.compose, env=env, check=0)
        assert "worker  unchanged" in p.stdout, "what runs was read back: " + p.stdout
        ttdeploy("down", "-f", s.compose, env=env, check=0)
        assert containers(call, project) == {}


def test_tls_up_status_down():
    up_status_down(TLS, tls_api, "tte2e-remote-tls")
    assert containers(api, "tte2e-remote-tls") == {}, "not on the shared daemon"


def test_ssh_up_status_down_leaves_no_process_nor_socket():
    before = ssh_dirs()
    up_status_down(SSH, api, "tte2e-remote-ssh")
    assert ssh_dirs() == before, "the private socket folder is removed"
    assert dial_stdio_processes() == [], "every ssh ended with its connection"


APPLY_COMPOSE = """name: {project}
services:
  postgres:
    image: ttdeploy-test/postgres:15
    environment: {{POSTGRES_PASSWORD: remote, POSTGRES_DB: app}}
    ports: ["127.0.0.1:${{PG_PORT}}:5432"]
    healthcheck:
      test: ["CMD", "pg_isready", "-U", "postgres", "-h", "127.0.0.1"]
      interval: 1s
      timeout: 2s
      retries: 30
  api:
    image: ${{API_IMAGE:-ttdeploy-test/remote-api:v1}}
    init: true
    command: ["sleep", "300"]
    depends_on: {{postgres: {{condition: service_healthy}}}}
"""

APPLY_PLAN = """version: 1
project: {project}
compose: [compose.yml]
release:
  version: ${{RELEASE:-v1}}
  images: {{api: "${{API_IMAGE:-ttdeploy-test/remote-api:v1}}"}}
tiers: {{infra: [postgres], app: [api]}}
database:
  service: postgres
  url: postgresql://postgres:remote@127.0.0.1:${{PG_PORT}}/app
backup: {{dir: backups, verify: list}}
verify:
  - name: release-ok
    exec: {{service: api, command: [test, "${{VERIFY:-ok}}", "=", "ok"]}}
rollback:
  matrix:
    - when: {{phase: verify}}
      severity: critical
      do: [images]
"""


def apply_backup_and_rollback(env, call, project, pg_port):
    for tag in ("v1", "v2"):
        status, body = call("POST", f"/images/{BUSYBOX}/tag?repo=ttdeploy-test/remote-api&tag={tag}")
        assert status == 201, body
    with Scratch(project, call, APPLY_COMPOSE, APPLY_PLAN) as s:
        e = dict(env, PG_PORT=str(pg_port))
        p = ttdeploy("apply", "--progress", "plain", s.plan, env=e)
        assert p.returncode == 0, p.stdout + p.stderr
        p = ttdeploy("apply", "--progress", "plain", s.plan,
                     env=dict(e, API_IMAGE="ttdeploy-test/remote-api:v2", RELEASE="v2",
                              VERIFY="broken"))
        assert p.returncode == 1, p.stdout + p.stderr
        assert "rolled back: images done" in p.stderr, p.stderr
        dumps = glob.glob(os.path.join(s.dir, "backups", "*.dump"))
        assert len(dumps) == 1 and os.path.getsize(dumps[0]) > 0, dumps
        with open(dumps[0], "rb") as f:
            assert f.read(5) == b"PGDMP", "pg_dump's custom format came through the exec stream"
        api_c = containers(call, project)["api"]
        assert api_c["Image"] == "ttdeploy-test/remote-api:v1", api_c["Image"]
        # A good v2, then the rollback and recover commands through the same transport.
        p = ttdeploy("apply", "--progress", "plain", s.plan,
                     env=dict(e, API_IMAGE="ttdeploy-test/remote-api:v2", RELEASE="v2"))
        assert p.returncode == 0, p.stdout + p.stderr
        assert containers(call, project)["api"]["Image"] == "ttdeploy-test/remote-api:v2"
        p = ttdeploy("rollback", "--previous", "--progress", "plain", s.plan, env=e)
        assert p.returncode == 0, p.stdout + p.stderr
        assert containers(call, project)["api"]["Image"] == "ttdeploy-test/remote-api:v1"
        p = ttdeploy("recover", "--progress", "plain", s.plan, env=e)
        assert p.returncode == 0 and "nothing to recover" in p.stdout + p.stderr, p.stdout + p.stderr
        st = json.loads(ttdeploy("status", "--plan", s.plan, "--json", env=e, check=0).stdout)
        assert {x["service"]: x["daemon"] for x in st["services"]} == {
            "postgres": "ok", "api": "ok"}, st
        h = json.loads(ttdeploy("history", "--plan", s.plan, "--json", check=0).stdout)
        assert [d["status"] for d in h][1:] == ["succeeded", "rolled_back", "succeeded"], h
        assert len(h) == 4, h
        return json.loads(ttdeploy("show", "--plan", s.plan, "--json", str(h[0]["id"]),
                                   check=0).stdout)


def test_tls_apply_backup_and_rollback():
    d = apply_backup_and_rollback(TLS, tls_api, "tte2e-remote-tls-apply", 25471)
    assert TLS_HOST in json.dumps(d), "show names the engine the deployment used"


def test_ssh_apply_backup_and_rollback():
    apply_backup_and_rollback(SSH, api, "tte2e-remote-ssh-apply", 25472)
    assert dial_stdio_processes() == []


def fails_unreachable(env, *args):
    with Scratch("tte2e-remote-fail", api) as s:
        p = ttdeploy("up", "-f", s.compose, *args, env=env)
        assert p.returncode == 5, p.stdout + p.stderr
        return p.stderr


def test_wrong_ca_is_named():
    err = fails_unreachable(dict(TLS, DOCKER_CERT_PATH=WRONG_CA))
    assert "tcp://127.0.0.1:23760 (TLS, from DOCKER_HOST)" in err, err
    assert f"is it signed by the CA in {WRONG_CA}/ca.pem" in err, err


def test_missing_cert_file_is_named():
    d = tempfile.mkdtemp()
    try:
        shutil.copy(os.path.join(CERTS, "ca.pem"), d)
        shutil.copy(os.path.join(CERTS, "key.pem"), d)
        err = fails_unreachable(dict(TLS, DOCKER_CERT_PATH=d))
        assert f"cannot read {d}/cert.pem: No such file or directory" in err, err
    finally:
        shutil.rmtree(d)


def test_unknown_ssh_host_key_says_what_ssh_said():
    d = tempfile.mkdtemp()
    try:
        with open(os.path.join(SSH_DIR, "ssh_config")) as f:
            config = f.read().replace(os.path.join(SSH_DIR, "known_hosts"),
                                      os.path.join(d, "known_hosts"))
        open(os.path.join(d, "known_hosts"), "w").close()
        with open(os.path.join(d, "ssh_config"), "w") as f:
            f.write(config)
        os.mkdir(os.path.join(d, "bin"))
        with open(os.path.join(d, "bin", "ssh"), "w") as f:
            f.write(f'#!/bin/sh\nexec /usr/bin/ssh -F {d}/ssh_config "$@"\n')
        os.chmod(os.path.join(d, "bin", "ssh"), 0o755)
        err = fails_unreachable(dict(SSH, PATH=os.path.join(d, "bin") + ":" + PATH))
        assert "ssh said: " in err and "Host key verification failed." in err, err
        assert "the host key in known_hosts" in err, err
    finally:
        shutil.rmtree(d)


def test_plain_tcp_needs_insecure():
    plain = dict(CLEAN, DOCKER_HOST=TLS_HOST)
    err = fails_unreachable(plain)
    assert "is plain TCP without TLS" in err and "--insecure" in err, err
    err = fails_unreachable(plain, "--insecure")
    assert "tcp://127.0.0.1:23760 (plain TCP, from DOCKER_HOST) answered /version with HTTP 400: " \
        "Client sent an HTTP request to an HTTPS server." in err, "tried, named as plain: " + err
    assert "does it expect TLS? Then set DOCKER_TLS_VERIFY=1" in err, err


def make_context(config, name, host, tls_from=None):
    sha = hashlib.sha256(name.encode()).hexdigest()
    meta = os.path.join(config, "contexts", "meta", sha)
    os.makedirs(meta)
    with open(os.path.join(meta, "meta.json"), "w") as f:
        json.dump({"Name": name, "Metadata": {}, "Endpoints": {"docker": {
            "Host": host, "SkipTLSVerify": False}}}, f)
    if tls_from:
        tls = os.path.join(config, "contexts", "tls", sha, "docker")
        os.makedirs(tls)
        for n in ("ca.pem", "cert.pem", "key.pem"):
            shutil.copy(os.path.join(tls_from, n), tls)


def test_contexts_from_a_docker_config():
    config = tempfile.mkdtemp()
    try:
        make_context(config, "remote-tls", TLS_HOST, tls_from=CERTS)
        make_context(config, "remote-ssh", SSH_HOST)
        env = dict(CLEAN, DOCKER_CONFIG=config, DOCKER_CONTEXT="remote-tls")
        with Scratch("tte2e-remote-ctx", tls_api) as s:
            ttdeploy("up", "--progress", "quiet", "-f", s.compose, env=env, check=0)
            assert sorted(containers(tls_api, s.project)) == ["web", "worker"]
        env = dict(CLEAN, DOCKER_CONFIG=config, PATH=SSH["PATH"])
        with Scratch("tte2e-remote-ctx", api) as s:
            ttdeploy("up", "--progress", "quiet", "--context", "remote-ssh", "-f", s.compose,
                     env=env, check=0)
            assert sorted(containers(api, s.project)) == ["web", "worker"]
        err = fails_unreachable(dict(env, DOCKER_CONTEXT="nowhere"))
        assert 'Docker context "nowhere" (from DOCKER_CONTEXT) not found' in err, err
        assert f"contexts are read from {config}/contexts" in err, err
    finally:
        shutil.rmtree(config)


def test_precedence_flag_then_environment_then_plan():
    with Scratch("tte2e-remote-prec", tls_api) as s:
        env = dict(SSH, DOCKER_TLS_VERIFY="1", DOCKER_CERT_PATH=CERTS)
        ttdeploy("up", "--progress", "quiet", "--host", TLS_HOST, "-f", s.compose, env=env, check=0)
        assert sorted(containers(tls_api, s.project)) == ["web", "worker"], "--host beats DOCKER_HOST"
        assert containers(api, s.project) == {}
    plan = ("version: 1\nproject: {project}\ncompose: [compose.yml]\nrelease: {{version: v1}}\n"
            "tiers: {{app: [web, worker]}}\nengine: {{host: \"${{PLAN_HOST}}\"}}\n")
    with Scratch("tte2e-remote-prec", api, plan=plan) as s:
        p = ttdeploy("apply", "--progress", "quiet", s.plan,
                     env=dict(SSH, PLAN_HOST="tcp://127.0.0.1:1"))
        assert p.returncode == 0, "DOCKER_HOST beats the plan's engine.host: " + p.stderr
        assert sorted(containers(api, s.project)) == ["web", "worker"]
    with Scratch("tte2e-remote-prec", tls_api, plan=plan) as s:
        p = ttdeploy("apply", "--progress", "quiet", s.plan,
                     env=dict(TLS, DOCKER_HOST="", PLAN_HOST=TLS_HOST))
        assert p.returncode == 0, "the plan's engine.host without DOCKER_HOST: " + p.stderr
        assert sorted(containers(tls_api, s.project)) == ["web", "worker"]


if __name__ == "__main__":
    run(globals())
