"""test_readme_engines.py - the README's engine sections are commands that
work.  run_readme_block(NAME) takes the ```sh block between the README's
<!-- NAME:begin --> and <!-- NAME:end --> comments and runs it with
`sh -e` from the repository root, `./ttdeploy` being $TTDEPLOY, with no
DOCKER_* or plan variable of the caller's; a command that fails fails the
test with the block's output.  A README without the block fails with
"README has no NAME block yet" (the swarm section's test calls
run_readme_block("swarm")).

The two-machines block (tests/remote.sh's engines: the private daemon
behind sshd, a TLS dockerd) deploys the example over ssh:// then over
tcp:// with TLS; then, through the Engine API: the example's six services
run on each engine, the api on v1.4.0; the last deployment succeeded and
`show` names the TLS engine.  Afterwards both engines are cleared (`down
-v` over each) and the example's store and backups removed."""
import json
import os
import re
import shlex
import shutil
import subprocess
import urllib.parse

from harness import ROOT, TTDEPLOY, api, last_deployment, run, ttdeploy

README = os.path.join(ROOT, "README.md")
EXAMPLE = os.path.join(ROOT, "examples", "tasktracker")
SIX = ["api", "dashboard", "nats", "nginx", "postgres", "worker"]
# Variables that would choose the engine, the ports or the release behind the block's back.
CALLERS = ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_TLS", "DOCKER_CERT_PATH",
           "DOCKER_CONFIG", "TTDEPLOY_STATE", "PG_PORT", "API_PORT", "HTTP_PORT", "RELEASE",
           "API_IMAGE", "PGPASSWORD", "BACKUP_DIR")


def readme_block(name, text=None):
    """The commands of README's ```sh block between <!-- name:begin --> and <!-- name:end -->."""
    if text is None:
        with open(README) as f:
            text = f.read()
    n = re.escape(name)
    m = re.search(rf"<!-- {n}:begin -->\s*```sh\n(.*?)```\s*<!-- {n}:end -->", text, re.S)
    assert m, (f"README has no {name} block yet: a ```sh block between <!-- {name}:begin --> "
               f"and <!-- {name}:end --> in {README}")
    return m.group(1)


def run_readme_block(name, text=None, timeout=300):
    """Runs the block with sh -e from the repository root (./ttdeploy is $TTDEPLOY); its output."""
    script = re.sub(r"(?<![\w./-])\./ttdeploy\b", shlex.quote(os.path.abspath(TTDEPLOY)),
                    readme_block(name, text))
    env = {k: v for k, v in os.environ.items() if k not in CALLERS}
    p = subprocess.run(["sh", "-ex"], input=script, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=timeout)
    out = p.stdout
    assert p.returncode == 0, f"README's {name} block: exit {p.returncode}; its output ends:\n" \
                              + out[-4000:]
    return out


def test_a_failing_command_or_a_missing_block_fails():
    text = "<!-- x:begin -->\n```sh\ntrue\nfalse\necho not reached\n```\n<!-- x:end -->\n"
    try:
        run_readme_block("x", text)
        raise RuntimeError("a block with a failing command passed")
    except AssertionError as e:
        assert "exit 1" in str(e) and "not reached" not in str(e), e
    try:
        readme_block("nosuch", text)
        raise RuntimeError("a missing block was found")
    except AssertionError as e:
        assert str(e).startswith("README has no nosuch block yet"), e


def running(call):
    """The example's running containers on an engine: service -> image."""
    f = json.dumps({"label": ["com.docker.compose.project=tasktracker"], "status": ["running"]})
    _, items = call("GET", "/containers/json?filters=" + urllib.parse.quote(f))
    return {c["Labels"]["com.docker.compose.service"]: c["Image"] for c in items or []}


def clean_up(remote):
    """down -v of the example over each engine, then its store and backups."""
    compose = os.path.join(EXAMPLE, "compose.yml")
    for env in (remote.SSH, remote.TLS):
        ttdeploy("down", "-v", "--progress", "quiet", "-f", compose, env=env, check=0)
    for d in (".ttdeploy", "backups"):
        shutil.rmtree(os.path.join(EXAMPLE, d), ignore_errors=True)


def test_two_machines_block_deploys_the_example_over_ssh_and_tls():
    try:
        out = run_readme_block("two-machines")
        import test_remote as remote  # after the block: its engines are up, reused here

        want = dict.fromkeys(SIX, "ttdeploy-test/busybox:latest")
        want.update(postgres="ttdeploy-test/postgres:15", api="tasktracker/api:v1.4.0",
                    worker="tasktracker/api:v1.4.0")
        assert running(remote.tls_api) == want, running(remote.tls_api)
        assert running(api) == want, "machine 1 (over ssh) keeps running: " + str(running(api))
        d = last_deployment(os.path.join(EXAMPLE, "plan.yml"))
        assert d["status"] == "succeeded" and d["version"] == "v1.4.0", d
        assert f"{remote.TLS_HOST} (TLS, from DOCKER_HOST)" in json.dumps(d), d
        assert "engine    ssh://root@127.0.0.1:22220 (from --host)" in out, out
    finally:
        import test_remote as remote

        clean_up(remote)
    assert running(remote.tls_api) == {} and running(api) == {}


if __name__ == "__main__":
    run(globals())
