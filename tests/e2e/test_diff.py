"""test_diff.py - `ttdeploy diff PLAN` on the private dockerd, and `status`
judging drift alike.

A two-service busybox stack (db, api with a published port and an
environment) is applied, then changed behind ttdeploy's back through the
Engine API: diff's exit code is diff(1)'s (0 same, 1 differences, 2 bad
input, 5 engine unreachable), its text names the service and the
difference, --json says the same, status shows the same verdict, and diff
writes nothing (the store file is byte for byte the same afterwards)."""
import hashlib
import json
import os
import re
import shutil
import tempfile
import time

from harness import BUSYBOX, api, project_containers, purge_project, run, ttdeploy

PROJECT = "tte2e-diff"
COMPOSE = f"""name: {PROJECT}
services:
  db:
    image: {BUSYBOX}
    init: true
    command: ["sleep", "300"]
    environment:
      DB_PASS: hunter2-secret
  api:
    image: ${{API_IMAGE:-{BUSYBOX}}}
    init: true
    command: ["sleep", "300"]
    depends_on: [db]
    restart: unless-stopped
    ports: ["18097:80"]
    environment:
      API_TOKEN: tok-1-secret
"""
PLAN = f"""version: 1
project: {PROJECT}
compose: [compose.yml]
release: {{version: v1}}
tiers: {{infra: [db], app: [api]}}
"""


class Stack:
    """The stack in a scratch folder; removed, with its containers, afterwards."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ttdeploy-e2e-diff-")
        with open(os.path.join(self.dir, "compose.yml"), "w") as f:
            f.write(COMPOSE)
        self.plan = os.path.join(self.dir, "plan.yml")
        with open(self.plan, "w") as f:
            f.write(PLAN)
        self.db = os.path.join(self.dir, ".ttdeploy", "state.db")

    def __enter__(self):
        purge_project(PROJECT)
        return self

    def __exit__(self, *exc):
        purge_project(PROJECT)
        shutil.rmtree(self.dir, ignore_errors=True)

    def apply(self, env=None):
        p = ttdeploy("apply", "--progress", "plain", self.plan, env=env)
        assert p.returncode == 0, p.stdout + p.stderr

    def diff(self, *args, env=None):
        return ttdeploy("diff", *args, self.plan, env=env)

    def diff_json(self, env=None):
        p = self.diff("--json", env=env)
        assert p.returncode in (0, 1), p.stdout + p.stderr
        return p.returncode, json.loads(p.stdout)

    def status(self):
        p = ttdeploy("status", "--plan", self.plan, "--json", check=0)
        return {r["service"]: r["daemon"] for r in json.loads(p.stdout)["services"]}

    def store_digest(self):
        h = hashlib.sha256()
        for suffix in ("", "-wal"):
            if os.path.exists(self.db + suffix):
                with open(self.db + suffix, "rb") as f:
                    h.update(f.read())
        return h.hexdigest()


def by_service(doc, key):
    return {x["service"]: x for x in doc[key]}


def test_a_clean_after_apply_and_writes_nothing():
    with Stack() as s:
        p = s.diff()
        assert p.returncode == 1, p.stdout + p.stderr  # never deployed: the plan would create
        assert "no succeeded release of tte2e-diff is recorded" in p.stdout, p.stdout
        assert "plan would: create db" in p.stdout and "plan would: create api" in p.stdout
        s.apply()
        before = s.store_digest()
        p = s.diff()
        assert p.returncode == 0, p.stdout + p.stderr
        assert "live vs recorded (deployment 1, release v1):\n  no difference" in p.stdout, p.stdout
        assert "the plan would change nothing" in p.stdout, p.stdout
        rc, doc = s.diff_json()
        assert rc == 0 and doc["differs"] is False, doc
        assert doc["recorded"] == {"deployment": 1, "release": "v1"}, doc["recorded"]
        assert {x["state"] for x in doc["live_vs_recorded"]} == {"same"}, doc
        assert {x["action"] for x in doc["live_vs_plan"]} == {"unchanged"}, doc
        assert s.status() == {"api": "ok", "db": "ok"}
        assert s.store_digest() == before, "diff and status wrote to the store"
        # restarted by hand: the same container, started after the deployment ended
        time.sleep(0.5)  # clear of the margin diff allows the clocks (0.25 s)
        db = project_containers(PROJECT)["db"]["Id"]
        status, body = api("POST", f"/containers/{db}/restart?t=0")
        assert status == 204, body
        p = s.diff()
        assert p.returncode == 1 and "~ db: restarted at " in p.stdout, p.stdout
        assert s.status()["db"] == "drift: restarted since deployed"
        assert s.store_digest() == before, "diff wrote to the store"


def test_a2_restart_policy_is_a_note_and_a_restart_by_hand_drift():
    with Stack() as s:
        s.apply()
        time.sleep(0.5)  # clear of the margin diff allows the clocks (0.25 s)
        api_id = project_containers(PROJECT)["api"]["Id"]
        # the app exits on its own: Docker starts it again by its restart policy
        status, ex = api("POST", f"/containers/{api_id}/exec",
                         {"Cmd": ["sh", "-c", "kill $(pidof sleep)"]})
        assert status == 201, ex
        api("POST", f"/exec/{ex['Id']}/start", {"Detach": False})
        deadline = time.monotonic() + 20
        while True:
            _, info = api("GET", f"/containers/{api_id}/json")
            if (info["RestartCount"] >= 1 and info["State"]["Running"]
                    and not info["State"]["Restarting"]):
                break
            assert time.monotonic() < deadline, info["State"]
            time.sleep(0.1)
        p = s.diff()
        assert p.returncode == 0, p.stdout + p.stderr
        assert "  api: restarted 1 time by its restart policy (last at " in p.stdout, p.stdout
        assert "no difference" in p.stdout, p.stdout
        rc, doc = s.diff_json()
        assert rc == 0 and doc["differs"] is False, doc
        assert s.status()["api"].startswith("ok (restarted 1 time by its restart policy"), \
            s.status()
        # a restart by hand (Docker zeroes RestartCount) is drift again
        status, body = api("POST", f"/containers/{api_id}/restart?t=0")
        assert status == 204, body
        p = s.diff()
        assert p.returncode == 1 and "~ api: restarted at " in p.stdout, p.stdout
        assert s.status()["api"] == "drift: restarted since deployed"


def test_b_changed_by_hand_and_c_extra_container():
    with Stack() as s:
        s.apply()
        time.sleep(0.5)  # clear of the margin diff allows the clocks (0.25 s)
        cs = project_containers(PROJECT)
        # api replaced by hand: ttdeploy's labels (config hash too) copied, another env and command
        _, info = api("GET", f"/containers/{cs['api']['Id']}/json")
        api("DELETE", f"/containers/{cs['api']['Id']}?force=1")
        env = [e if not e.startswith("API_TOKEN=") else "API_TOKEN=tok-2-by-hand"
               for e in info["Config"]["Env"]]
        # its command carries the service's secret (API_TOKEN's value): diff never prints it
        body = {"Image": info["Config"]["Image"], "Cmd": ["sh", "-c", "sleep 301 # tok-1-secret"],
                "Env": env,
                "Labels": info["Config"]["Labels"], "HostConfig": {"Init": True}}
        status, made = api("POST", f"/containers/create?name={PROJECT}-api-1", body)
        assert status == 201, made
        assert api("POST", f"/containers/{made['Id']}/start")[0] == 204
        # db stopped by hand
        assert api("POST", f"/containers/{cs['db']['Id']}/stop?t=0")[0] == 204
        # an extra container with the project's label
        body = {"Image": BUSYBOX, "Cmd": ["sleep", "300"],
                "Labels": {"com.docker.compose.project": PROJECT,
                           "com.docker.compose.service": "debug"}}
        status, extra = api("POST", f"/containers/create?name={PROJECT}-debug-1", body)
        assert status == 201, extra
        assert api("POST", f"/containers/{extra['Id']}/start")[0] == 204

        p = s.diff()
        assert p.returncode == 1, p.stdout + p.stderr
        out = p.stdout
        assert "~ api: environment: API_TOKEN differ from the recorded values" in out, out
        assert "~ api: command [sleep 300] (recorded) → [sh -c sleep 301 # " in out, out
        assert "tok-1-secret" not in out, out
        assert "~ api: ports [18097->80/tcp] (recorded) → [] (running)" in out, out
        assert "~ db: stopped: container tte2e-diff-db-1 is exited" in out, out
        assert "+ debug: extra container tte2e-diff-debug-1 (running" in out, out
        assert "plan would: start db (its container is exited)" in out, out
        assert "tok-2-by-hand" not in out and "hunter2" not in out, "no value in the output"
        rc, doc = s.diff_json()
        assert rc == 1 and doc["differs"] is True
        assert "tok-1-secret" not in json.dumps(doc)
        lvr = by_service(doc, "live_vs_recorded")
        assert lvr["api"]["state"] == "changed" and lvr["db"]["state"] == "stopped", lvr
        assert lvr["debug"]["state"] == "extra", lvr
        whats = [d["what"] for d in lvr["api"]["differences"]]
        assert whats[0] == "environment" and "command" in whats and "ports" in whats, whats
        assert "container" in whats, whats  # made after the deployment ended
        assert lvr["api"]["differences"][0]["live"] == {"variables": ["API_TOKEN"]}
        assert s.status() == {"api": "drift: another environment (API_TOKEN)",
                              "db": "drift: not running", "debug": "drift: extra container"}
        # the container removed: missing
        api("DELETE", f"/containers/{made['Id']}?force=1")
        p = s.diff()
        assert p.returncode == 1 and "- api: missing (no container)" in p.stdout, p.stdout
        assert "plan would: create api (no container)" in p.stdout, p.stdout
        assert s.status()["api"] == "drift: no container"


def test_d_plan_changed_recreates_with_reason():
    with Stack() as s:
        s.apply()
        # another image for api: a commit of its container has another image ID
        api_id = project_containers(PROJECT)["api"]["Id"]
        status, body = api("POST", f"/commit?container={api_id}&repo=ttdeploy-test/diff-api"
                                   "&tag=v2&changes=LABEL%20diff%3Dv2")
        assert status == 201, body
        try:
            env = {"API_IMAGE": "ttdeploy-test/diff-api:v2"}
            p = s.diff(env=env)
            assert p.returncode == 1, p.stdout + p.stderr
            assert "live vs recorded (deployment 1, release v1):\n  no difference" in p.stdout
            line = next(x for x in p.stdout.splitlines() if x.startswith("plan would:"))
            assert line.startswith("plan would: recreate api (image ttdeploy-test/busybox:latest"
                                   " (sha256:"), line
            assert "→ ttdeploy-test/diff-api:v2 (sha256:" in line and ", config " in line, line
            assert not re.search(r"\bdb\b", line) and len([x for x in p.stdout.splitlines()
                                             if x.startswith("plan would:")]) == 1, p.stdout
            rc, doc = s.diff_json(env=env)
            plan = by_service(doc, "live_vs_plan")
            assert plan["api"]["action"] == "recreate" and plan["db"]["action"] == "unchanged"
            assert [r["what"] for r in plan["api"]["reasons"]] == ["image", "config"], plan
        finally:
            api("DELETE", "/images/ttdeploy-test/diff-api:v2?force=1")


def test_e_bad_plan_and_f_unreachable_engine():
    with Stack() as s:
        with open(s.plan, "a") as f:
            f.write("tires: {}\n")
        p = s.diff()
        assert p.returncode == 2, p.stdout + p.stderr
        assert "plan.yml:6" in p.stderr and "tires" in p.stderr, p.stderr
        p = ttdeploy("diff")
        assert p.returncode == 2, p.stderr
    with Stack() as s:
        p = s.diff(env={"DOCKER_HOST": "unix:///nonexistent.sock"})
        assert p.returncode == 5, p.stdout + p.stderr
        assert "nonexistent.sock" in p.stderr, p.stderr


if __name__ == "__main__":
    run(globals())
