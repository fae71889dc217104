"""test_example_swarm.py - the README's "Swarm mode" block, run as written
(sh -e from the repository's root): the bundled example deployed in swarm
mode on tests/swarm.sh's one-node swarm (run_readme_block of
test_readme_engines.py), v1.3.0 then v1.4.0.  Checked
through the swarm daemon's Engine API: the six services run, every phase
of the last deployment is ok (backup, the migration 0001 -> 0002 as a
replicated job, infra, app, verify with its exec and from: checks in the
tasks' containers), and the worker was scaled to 0 during the migration
and back (migrate.stop_during).  Then the broken v1.5.0 is rolled back:
the api runs v1.4.0 again and the data is as before.  Last, `down -v`
removes the services and the database's volume, and the backups beside
the plan go."""
import datetime
import json
import os
import shutil
import urllib.parse

from swarmenv import NS_IP  # first: it sets DOCKER_HOST, which harness reads

from harness import ROOT, api, run, ttdeploy  # noqa: E402
from test_database import psql  # noqa: E402
from test_readme_engines import run_readme_block  # noqa: E402

EXAMPLE = os.path.join(ROOT, "examples", "tasktracker")
PLAN = os.path.join(EXAMPLE, "plan.yml")
SERVICES = ["api", "dashboard", "nats", "nginx", "postgres", "worker"]
ENV = {"ENGINE_MODE": "swarm", "DB_HOST": NS_IP, "API_HOST": NS_IP}
URL = f"postgresql://postgres:tasktracker@{NS_IP}:5555/tasktracker"
PHASES = ("backup", "migrate", "infra_up", "infra_healthy", "app_up", "app_healthy", "verify")


def release_env(version):
    return dict(ENV, RELEASE=version, API_IMAGE=f"tasktracker/api:{version}")


def last_deployment():
    env = release_env("v1.4.0")
    h = json.loads(ttdeploy("history", "--state", "engine", "--plan", PLAN, "--json", "--limit",
                            "1", env=env, check=0).stdout)
    return json.loads(ttdeploy("show", "--state", "engine", "--plan", PLAN, "--json",
                               str(h[0]["id"]), env=env, check=0).stdout)


def services():
    f = urllib.parse.quote(json.dumps({"label": ["com.docker.stack.namespace=tasktracker"]}))
    return {s["Spec"]["Name"]: s for s in api("GET", f"/services?filters={f}")[1]}


def tasks(service):
    f = urllib.parse.quote(json.dumps({"service": [f"tasktracker_{service}"]}))
    return api("GET", f"/tasks?filters={f}")[1]


def running(service):
    """Its tasks whose container runs ("starting": Swarm awaits its first healthy tick, which
    ttdeploy's own run of the check may have beaten)."""
    return [t for t in tasks(service)
            if t["DesiredState"] == "running" and t["Status"]["State"] in ("running", "starting")]


def test_1_the_readme_block_deploys_the_example_in_swarm_mode():
    out = run_readme_block("swarm")
    got = services()
    assert sorted(got) == [f"tasktracker_{n}" for n in SERVICES], sorted(got)
    for n in SERVICES:
        assert len(running(n)) == 1, (n, [(t["DesiredState"], t["Status"]) for t in tasks(n)])
        assert f"tasktracker_{n}.1 " in out, out  # docker stack ps, in the block
    assert got["tasktracker_api"]["Spec"]["Labels"]["com.docker.stack.image"] == \
        "tasktracker/api:v1.4.0"

    d = last_deployment()
    assert d["status"] == "succeeded" and d["version"] == "v1.4.0", d
    for phase in PHASES:
        steps = [st for st in d["steps"] if st["phase"] == phase and st["action"] != "baseline"]
        assert steps and all(st["status"] == "ok" for st in steps), (phase, steps)
    checks = {st["service"] or st["action"]: st for st in d["steps"] if st["phase"] == "verify"}
    assert "worker-ready" in json.dumps(checks) and "dashboard-from-nginx" in json.dumps(checks)
    m = d["migrations"][0]
    assert m["kind"] == "command" and m["revision_after"] == "0002", m
    assert psql("SELECT version_num FROM alembic_version", URL) == "0002"

    # stop_during: the worker of v1.3.0 was scaled to 0 for v1.4.0's migration and back (Swarm
    # forgets the tasks a scale-down removes), so its v1.3.0 task was created during that
    # deployment, before v1.4.0's replaced it; and nothing marks the service stopped
    old = [t for t in tasks("worker")
           if t["Spec"]["ContainerSpec"]["Image"].startswith("tasktracker/api:v1.3.0")]
    assert len(old) == 1 and old[0]["DesiredState"] == "shutdown", old
    created = datetime.datetime.fromisoformat(old[0]["CreatedAt"][:26].rstrip("Z") + "+00:00")
    assert created.timestamp() > d["started_at"], (old[0]["CreatedAt"], d["started_at"])
    w = got["tasktracker_worker"]["Spec"]
    assert w["Mode"]["Replicated"]["Replicas"] == 1, w["Mode"]
    assert "dev.ttdeploy.stopped-replicas" not in w["Labels"], w["Labels"]
    assert not w["Labels"]["dev.ttdeploy.spec-hash"].startswith("stopped:"), w["Labels"]


def test_2_the_broken_release_rolls_back_to_v1_4_0():
    before = psql("SELECT count(*) || '/' || count(*) FILTER (WHERE done) FROM tasks", URL)
    p = ttdeploy("apply", "--state", "engine", "--progress", "plain", PLAN,
                 env=release_env("v1.5.0"))
    out = p.stdout + p.stderr
    assert p.returncode == 1, out
    assert 'check "tasks-kept"' in out, out
    d = last_deployment()
    assert d["status"] == "rolled_back" and d["version"] == "v1.5.0", d["status"]
    for n in ("api", "worker"):
        s = services()[f"tasktracker_{n}"]["Spec"]
        assert s["Labels"]["com.docker.stack.image"] == "tasktracker/api:v1.4.0", (n, s["Labels"])
        assert len(running(n)) == 1, n
    assert psql("SELECT version_num FROM alembic_version", URL) == "0002"
    assert psql("SELECT count(*) || '/' || count(*) FILTER (WHERE done) FROM tasks", URL) == before


def test_3_down_removes_the_services_and_the_volume():
    """The swarm's daemon is shared by the swarm suites: the example does not stay up."""
    p = ttdeploy("down", "--mode", "swarm", "-v", "-f", os.path.join(EXAMPLE, "compose.yml"),
                 "-f", os.path.join(EXAMPLE, "compose.swarm.yml"), "--progress", "quiet")
    assert p.returncode == 0, p.stdout + p.stderr
    assert not services()
    assert api("GET", "/volumes/tasktracker_pgdata")[0] == 404
    shutil.rmtree(os.path.join(EXAMPLE, "backups"), ignore_errors=True)


if __name__ == "__main__":
    run(globals())
