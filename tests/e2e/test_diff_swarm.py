"""test_diff_swarm.py - `ttdeploy diff` in swarm mode (tests/swarm.sh's
one-node swarm): after apply no difference (exit 0); a `docker service
update --env-add` by hand is an environment difference named by variable
(never by value), exit 1, while the plan, which compares the spec hash
label the update kept, would leave the service unchanged; the
service removed by hand is missing and the plan would create it."""
import json
import os
import shutil
import subprocess
import tempfile
import time

from swarmenv import NS_IP  # noqa: F401  first: it sets DOCKER_HOST, which harness reads

from harness import run, ttdeploy  # noqa: E402

PROJECT = "ttdiffswarm"
COMPOSE = f"""name: {PROJECT}
services:
  web:
    image: ttdeploy-test/busybox:latest
    init: true
    command: ["sleep", "2147483647"]
    environment:
      API_TOKEN: s3cr3t-diff-token
"""
PLAN = f"""version: 1
project: {PROJECT}
engine: {{mode: swarm}}
compose: [compose.yml]
release: {{version: v1}}
tiers: {{infra: [], app: [web]}}
"""


def docker(*args):
    p = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"docker {' '.join(args)}: {p.stderr}"
    return p.stdout


def diff_until(plan, ok, timeout=30):
    """`diff --json` once ok(rc, doc) holds, or the last one after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        p = ttdeploy("diff", "--json", plan)
        assert p.returncode in (0, 1), p.stdout + p.stderr
        doc = json.loads(p.stdout)
        if ok(p.returncode, doc) or time.monotonic() > deadline:
            return p.returncode, doc
        time.sleep(0.5)


def test_swarm_diff():
    d = tempfile.mkdtemp(prefix="ttdeploy-e2e-diffswarm-")
    plan = os.path.join(d, "plan.yml")
    with open(os.path.join(d, "compose.yml"), "w") as f:
        f.write(COMPOSE)
    with open(plan, "w") as f:
        f.write(PLAN)
    try:
        p = ttdeploy("apply", "--progress", "plain", plan)
        assert p.returncode == 0, p.stdout + p.stderr
        rc, doc = diff_until(plan, lambda rc, doc: rc == 0)
        assert rc == 0 and doc["mode"] == "swarm" and not doc["differs"], doc
        docker("service", "update", "--detach", "--quiet", "--env-add",
               "API_TOKEN=changed-by-hand", f"{PROJECT}_web")
        rc, doc = diff_until(plan, lambda rc, doc: rc == 1)
        web = doc["live_vs_recorded"][0]
        assert rc == 1 and web["service"] == "web" and web["state"] == "changed", doc
        assert web["differences"][0] == {"what": "environment", "recorded": "recorded values",
                                         "live": {"variables": ["API_TOKEN"]}}, web
        # apply compares the spec hash label, which the update by hand kept: it would leave
        # the service as it is (diff says so rather than promise a fix)
        assert doc["live_vs_plan"][0]["action"] == "unchanged", doc["live_vs_plan"]
        text = ttdeploy("diff", plan).stdout
        assert "~ web: environment: API_TOKEN differ from the recorded values" in text, text
        assert "changed-by-hand" not in text and "s3cr3t" not in text, text
        docker("service", "rm", f"{PROJECT}_web")
        p = ttdeploy("diff", plan)
        assert p.returncode == 1 and "- web: missing (no service)" in p.stdout, p.stdout
        assert "plan would: create web" in p.stdout, p.stdout
    finally:
        subprocess.run(["docker", "service", "rm", f"{PROJECT}_web"], capture_output=True)
        subprocess.run(["docker", "network", "rm", f"{PROJECT}_default"], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    run(globals())
