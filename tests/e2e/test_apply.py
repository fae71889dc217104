"""test_apply.py - `ttdeploy apply` end to end on the private dockerd: the
example plan succeeds and the audit lists every phase and service step; a
new api image recreates only api and worker; a failing check fails the
deployment with its output; --dry-run changes nothing; concurrent applies
take turns; kill -9 mid-deployment, then recover, leaves a consistent
record and stack; a store that cannot record stops the deployment before
anything is touched."""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time

from harness import (BUSYBOX, ROOT, TTDEPLOY, api, project_containers, purge_project, run,
                     ttdeploy)

EXAMPLE = os.path.join(ROOT, "examples", "tasktracker")
PORTS = {"PG_PORT": "25432", "API_PORT": "28001", "HTTP_PORT": "28081"}


class Stack:
    """A copy of the example stack (its compose file, tests/e2e/plan-base.yml as
    the plan) under its own project name and ports."""

    def __init__(self, project, plan_edit=None, compose_edit=None):
        self.project = project
        self.dir = tempfile.mkdtemp(prefix="ttdeploy-e2e-")
        shutil.copy(os.path.join(EXAMPLE, "compose.yml"), self.dir)
        shutil.copy(os.path.join(os.path.dirname(__file__), "plan-base.yml"),
                    os.path.join(self.dir, "plan.yml"))
        self.edit("compose.yml", lambda s: s.replace("name: tasktracker", f"name: {project}"))
        self.edit("plan.yml", lambda s: s.replace("project: tasktracker", f"project: {project}"))
        if plan_edit:
            self.edit("plan.yml", plan_edit)
        if compose_edit:
            self.edit("compose.yml", compose_edit)
        self.plan = os.path.join(self.dir, "plan.yml")
        self.db = os.path.join(self.dir, ".ttdeploy", "state.db")

    def edit(self, name, fn):
        path = os.path.join(self.dir, name)
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(fn(text))

    def apply(self, *args, env=None):
        e = dict(PORTS)
        e.update(env or {})
        return ttdeploy("apply", "--progress", "plain", *args, self.plan, env=e)

    def popen(self, *args, env=None):
        e = dict(os.environ)
        e.update(PORTS)
        e.update(env or {})
        return subprocess.Popen([TTDEPLOY, *args, "--progress", "plain", self.plan], env=e,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def history(self):
        return json.loads(ttdeploy("history", "--plan", self.plan, "--json", check=0).stdout)

    def show(self, dep_id):
        return json.loads(ttdeploy("show", "--plan", self.plan, "--json", str(dep_id),
                                   check=0).stdout)

    def sql(self, query):
        con = sqlite3.connect(self.db, timeout=10)
        try:
            return con.execute(query).fetchall()
        finally:
            con.close()

    def sql_write(self, statement):
        con = sqlite3.connect(self.db, timeout=10)
        try:
            con.execute(statement)
            con.commit()
        finally:
            con.close()

    def close(self):
        purge_project(self.project)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def tag_api_images():
    """ttdeploy-test/api:v1 and :v2, both the busybox test image: two api releases."""
    for version in ("v1", "v2"):
        status, body = api("POST", f"/images/{BUSYBOX}/tag?repo=ttdeploy-test/api&tag={version}")
        assert status == 201, body


def test_apply_example_and_audit():
    with Stack("tte2e-apply") as s:
        p = s.apply()
        assert p.returncode == 0, p.stdout + p.stderr
        h = s.history()
        assert len(h) == 1 and h[0]["status"] == "succeeded" and h[0]["state"] == "succeeded"
        d = s.show(h[0]["id"])
        phases = [st["phase"] for st in d["steps"]]
        for phase in ("backup", "migrate", "infra_up", "infra_healthy", "app_up", "app_healthy",
                      "verify"):
            assert phase in phases, (phase, phases)
        by = {(st["phase"], st["service"]): st for st in d["steps"]}
        for svc in ("postgres", "nats"):
            assert by[("infra_up", svc)]["status"] == "ok"
            assert by[("infra_healthy", svc)]["status"] == "ok"
        for svc in ("api", "worker", "dashboard", "nginx"):
            assert by[("app_up", svc)]["action"] == "create"
            assert by[("app_healthy", svc)]["detail"].startswith("healthy")
        assert all(st["status"] in ("ok", "skipped") for st in d["steps"]), d["steps"]
        assert all(st["finished_at"] for st in d["steps"]), "every intent has an outcome"
        assert sorted(r["service"] for r in d["releases"]) == [
            "api", "dashboard", "nats", "nginx", "postgres", "worker"]
        kinds = {(e["detail"], e["kind"]) for e in d["events"]}
        assert ("postgres", "start") in kinds and ("api", "start") in kinds, d["events"]
        env = json.loads(next(r for r in d["releases"] if r["service"] == "postgres")["environment"])
        assert env["POSTGRES_PASSWORD"].startswith("hmac-sha256:"), env
        assert env["POSTGRES_DB"].startswith("hmac-sha256:"), "not public in the plan: a digest"
        api_env = json.loads(next(r for r in d["releases"] if r["service"] == "api")["environment"])
        assert api_env["DATABASE_URL"].startswith("hmac-sha256:"), api_env
        for suffix in ("", "-wal"):
            if os.path.exists(s.db + suffix):
                with open(s.db + suffix, "rb") as f:
                    assert b"tasktracker@" not in f.read(), "no password in the store, even in URLs"
        assert oct(os.stat(s.db).st_mode & 0o777) == "0o600"
        text = ttdeploy("show", "--plan", s.plan, str(h[0]["id"]), check=0).stdout
        assert "app_healthy    nginx" in text and "verify" in text
        st = json.loads(ttdeploy("status", "--plan", s.plan, "--json", check=0).stdout)
        assert {x["daemon"] for x in st["services"]} == {"ok"} and not st["drift"]


def test_new_api_image_recreates_only_api_and_worker():
    tag_api_images()
    with Stack("tte2e-release") as s:
        p = s.apply(env={"API_IMAGE": "ttdeploy-test/api:v1", "RELEASE": "v1"})
        assert p.returncode == 0, p.stderr
        before = {n: c["Id"] for n, c in project_containers(s.project).items()}
        p = s.apply(env={"API_IMAGE": "ttdeploy-test/api:v2", "RELEASE": "v2"})
        assert p.returncode == 0, p.stderr
        after = {n: c["Id"] for n, c in project_containers(s.project).items()}
        changed = sorted(n for n in after if after[n] != before[n])
        assert changed == ["api", "worker"], changed
        d = s.show(s.history()[0]["id"])
        api_step = next(st for st in d["steps"] if st["phase"] == "app_up" and st["service"] == "api")
        assert api_step["action"] == "recreate"
        assert api_step["intent"] == ("recreate api: image ttdeploy-test/api:v2 "
                                      "(was ttdeploy-test/api:v1)"), api_step
        nginx_step = next(st for st in d["steps"] if st["phase"] == "app_up" and st["service"] == "nginx")
        assert nginx_step["action"] == "unchanged"
        rel = {r["service"]: r["image"] for r in d["releases"]}
        assert rel["api"] == rel["worker"] == "ttdeploy-test/api:v2"
        # history filters
        h = json.loads(ttdeploy("history", "--plan", s.plan, "--json", "--limit", "1", check=0).stdout)
        assert len(h) == 1 and h[0]["version"] == "v2"


def test_failing_verify_check_fails_the_deployment():
    with Stack("tte2e-verify", plan_edit=lambda t: t.replace(
            "/api/health\", status: 200, body: ok}", "/api/missing\", status: 200}")) as s:
        p = s.apply()
        assert p.returncode == 1, p.stdout + p.stderr
        assert 'check "api-health"' in p.stderr and "HTTP 404" in p.stderr, p.stderr
        h = s.history()
        assert h[0]["status"] == "failed" and h[0]["state"] == "failed"
        assert "HTTP 404" in h[0]["error"]
        d = s.show(h[0]["id"])
        check = next(st for st in d["steps"] if st["action"] == "api-health")
        assert check["status"] == "failed" and "20 of 20 requests failed" in check["detail"]
        assert "HTTP 404" in check["error"]
        assert any(st["phase"] == "deciding" for st in d["steps"])
        assert d["releases"] == [], "a failed deployment records no release"
        assert s.sql("SELECT count(*) FROM lock") == [(0,)], "the lock is released"


def test_dry_run_changes_nothing():
    tag_api_images()
    with Stack("tte2e-dry") as s:
        p = s.apply("--dry-run")
        assert p.returncode == 0, p.stderr
        assert not os.path.exists(s.db), "a dry run does not even create the store"
        assert project_containers(s.project) == {}
        assert "postgres     create" in p.stdout
        assert s.apply(env={"API_IMAGE": "ttdeploy-test/api:v1"}).returncode == 0
        containers = {n: (c["Id"], c["State"]) for n, c in project_containers(s.project).items()}
        rows = s.sql("SELECT count(*) FROM steps") + s.sql("SELECT count(*) FROM deployments")
        p = s.apply("--dry-run", env={"API_IMAGE": "ttdeploy-test/api:v2"})
        assert p.returncode == 0, p.stderr
        assert "api          recreate         ttdeploy-test/api:v2  (was ttdeploy-test/api:v1)" in p.stdout, p.stdout
        assert "nginx        unchanged" in p.stdout
        assert "nothing was changed" in p.stdout
        assert {n: (c["Id"], c["State"]) for n, c in project_containers(s.project).items()} == containers
        assert s.sql("SELECT count(*) FROM steps") + s.sql("SELECT count(*) FROM deployments") == rows


def test_concurrent_applies_take_turns():
    slow = lambda t: t.replace(
        "  - name: worker-ready\n    exec: {service: worker, command: [test, -f, /tmp/worker.ready]}",
        "  - name: worker-ready\n    exec: {service: worker, command: [sh, -c, 'sleep 3']}")
    with Stack("tte2e-lock", plan_edit=slow) as s:
        first = s.popen("apply")
        time.sleep(1.0)
        second = s.popen("apply")
        out1, err1 = first.communicate(timeout=120)
        out2, err2 = second.communicate(timeout=120)
        assert first.returncode == 0, out1 + err1
        assert second.returncode == 0, out2 + err2
        assert "waiting up to 300 s for the lock on tte2e-lock, held by" in out2, out2
        h = sorted(s.history(), key=lambda d: d["id"])
        assert [d["status"] for d in h] == ["succeeded", "succeeded"]
        assert h[1]["started_at"] >= h[0]["finished_at"], "the second ran after the first"
        # a short --lock-timeout gives up, naming the holder
        third = s.popen("apply")
        time.sleep(1.0)
        p = s.apply("--lock-timeout", "1s")
        third.communicate(timeout=120)
        assert p.returncode == 4, p.stderr
        assert "is locked by" in p.stderr and "ttdeploy unlock --force" in p.stderr, p.stderr


def wait_for_state(s, states, timeout=60):
    """Waits until the newest deployment is in one of states with a step of that
    phase begun (its intent written, its outcome not yet): the middle of a phase."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if os.path.exists(s.db):
            try:
                rows = s.sql("SELECT d.state FROM deployments d JOIN steps t ON t.deployment_id = d.id "
                             "WHERE t.status = 'running' AND t.phase = d.state "
                             "ORDER BY d.id DESC LIMIT 1")
                if rows and rows[0][0] in states:
                    return rows[0][0]
            except sqlite3.Error:
                pass
        time.sleep(0.05)
    raise AssertionError(f"never reached {states}")


SLOW_NGINX = lambda t: t.replace(
    'command: ["httpd", "-f", "-p", "8080", "-h", "/www"]',
    'command: ["sh", "-c", "sleep 4; exec httpd -f -p 8080 -h /www"]')


def test_kill_during_app_up_then_recover_rolls_back_the_record():
    with Stack("tte2e-crash", compose_edit=SLOW_NGINX) as s:
        proc = s.popen("apply")
        state = wait_for_state(s, {"app_up", "app_healthy"})
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        h = s.history()
        assert h[0]["status"] == "running", "the record says where it stopped"
        p = s.apply()
        assert p.returncode == 4 and "was interrupted in state" in p.stderr and "recover" in p.stderr, p.stderr
        p = ttdeploy("recover", "--progress", "plain", s.plan, env=PORTS)
        assert p.returncode == 1, p.stdout + p.stderr
        d = s.show(h[0]["id"])
        assert d["status"] == "failed" and d["state"] == "failed", (d["status"], d["state"])
        assert f"interrupted in state {state}" in d["error"]
        assert not [st for st in d["steps"] if st["status"] == "running"], "nothing left running"
        assert any(st["status"] == "interrupted" for st in d["steps"])
        assert any(st["phase"] == "recover" for st in d["steps"])
        assert s.sql("SELECT count(*) FROM lock") == [(0,)]
        # the stack is consistent: a new apply converges it
        p = s.apply()
        assert p.returncode == 0, p.stdout + p.stderr
        for n, c in project_containers(s.project).items():
            assert c["State"] == "running", (n, c["State"])


def test_kill_then_recover_resumes_when_the_plan_says_so():
    with Stack("tte2e-resume", compose_edit=SLOW_NGINX,
               plan_edit=lambda t: t.replace("on_crash: rollback", "on_crash: resume")) as s:
        proc = s.popen("apply")
        wait_for_state(s, {"app_up"})
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        p = ttdeploy("recover", "--progress", "plain", s.plan, env=PORTS)
        assert p.returncode == 0, p.stdout + p.stderr
        h = s.history()
        assert len(h) == 1 and h[0]["status"] == "succeeded", h
        d = s.show(h[0]["id"])
        assert not [st for st in d["steps"] if st["status"] == "running"]
        assert sorted(r["service"] for r in d["releases"]) == [
            "api", "dashboard", "nats", "nginx", "postgres", "worker"]
        for n, c in project_containers(s.project).items():
            assert c["State"] == "running", (n, c["State"])
        p = ttdeploy("recover", "--progress", "plain", s.plan, env=PORTS)
        assert p.returncode == 0 and "nothing to recover" in p.stdout


def test_unlock_force():
    with Stack("tte2e-unlock") as s:
        os.makedirs(os.path.dirname(s.db), exist_ok=True)
        assert s.apply("--dry-run").returncode == 0
        # a lock left by a runner on another host: only --force removes it
        p = s.apply()
        assert p.returncode == 0
        con = sqlite3.connect(s.db)
        con.execute("INSERT INTO lock (project, host, pid, started_at, heartbeat_at, deployment_id) "
                    "VALUES ('tte2e-unlock', 'other-host', 1, 0, strftime('%s','now'), 7)")
        con.commit()
        con.close()
        p = s.apply("--lock-timeout", "1s")
        assert p.returncode == 4 and "locked by other-host pid 1 (deployment 7)" in p.stderr, p.stderr
        p = ttdeploy("unlock", "--plan", s.plan)
        assert p.returncode == 4 and "--force" in p.stderr
        p = ttdeploy("unlock", "--plan", s.plan, "--force", check=0)
        assert "removed the lock on tte2e-unlock held by other-host pid 1" in p.stdout
        assert s.apply().returncode == 0


def test_a_store_that_cannot_record_stops_before_touching_anything():
    tag_api_images()
    with Stack("tte2e-store") as s:
        assert s.apply(env={"API_IMAGE": "ttdeploy-test/api:v1"}).returncode == 0
        containers = {n: c["Id"] for n, c in project_containers(s.project).items()}
        s.sql_write("CREATE TRIGGER refuse BEFORE INSERT ON steps BEGIN "
                    "SELECT RAISE(ABORT, 'disk full (simulated)'); END")
        p = s.apply(env={"API_IMAGE": "ttdeploy-test/api:v2"})
        assert p.returncode == 1, p.stdout + p.stderr
        assert "disk full (simulated)" in p.stderr, p.stderr
        assert "stopped before changing anything else" in p.stderr, p.stderr
        assert "ttdeploy recover" in p.stderr, p.stderr
        now = {n: c["Id"] for n, c in project_containers(s.project).items()}
        assert now == containers, "no container was touched"
        failed = s.history()[0]
        assert failed["status"] == "failed", failed
        assert s.sql(f"SELECT count(*) FROM steps WHERE deployment_id = {failed['id']}") == [(0,)]
        assert s.sql("SELECT count(*) FROM lock") == [(0,)], "the lock is released"
        s.sql_write("DROP TRIGGER refuse")
        p = s.apply(env={"API_IMAGE": "ttdeploy-test/api:v2"})
        assert p.returncode == 0, p.stdout + p.stderr

def test_a_closed_output_pipe_does_not_stop_a_deployment():
    """`ttdeploy apply ... | head -1` whose reader is gone: the deployment still
    finishes and is recorded; only the exit code and stderr say the output failed."""
    with Stack("tte2e-pipe") as s:
        r, w = os.pipe()
        os.close(r)
        e = dict(os.environ)
        e.update(PORTS)
        try:
            p = subprocess.run([TTDEPLOY, "apply", "--progress", "plain", s.plan], stdout=w,
                               stderr=subprocess.PIPE, text=True, env=e, timeout=300)
        finally:
            os.close(w)
        assert p.returncode == 1 and "writing the output failed" in p.stderr, (p.returncode,
                                                                              p.stderr)
        h = s.history()
        assert h[0]["status"] == "succeeded", h[0]
        assert s.sql("SELECT count(*) FROM lock") == [(0,)]


if __name__ == "__main__":
    run(globals())
