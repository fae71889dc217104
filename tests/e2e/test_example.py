"""test_example.py - the bundled example as `make example` and `make demo`
run it, on a copy under its own project name and ports: v1.3.0 then
v1.4.0 (the second shows all six phases, a verified backup and an
Alembic-style migration in a one-off container, and the users and tasks
tables are there); then the broken v1.5.0, whose migration loses the done
tasks, is rolled back (images, the schema, the backup restored) and the
data is as before.  And the CI pipelines in examples/ci parse, trigger on a
tag and keep the store on the deploy host."""
import json
import os
import shutil
import subprocess
import tempfile

import yaml

from harness import ROOT, api, last_deployment, project_containers, purge_project, run, ttdeploy
from test_database import psql

EXAMPLE = os.path.join(ROOT, "examples", "tasktracker")
CI = os.path.join(ROOT, "examples", "ci")
PROJECT = "tte2e-tasktracker"
PORTS = {"PG_PORT": "24432", "API_PORT": "24001", "HTTP_PORT": "24081"}
URL = f"postgresql://postgres:tasktracker@127.0.0.1:{PORTS['PG_PORT']}/tasktracker"
SIX_PHASES = ("backup", "migrate", "infra_up", "infra_healthy", "app_up", "app_healthy")


def copy_example(d):
    """The example (plan, compose file, Dockerfiles, migrations) in d, as project PROJECT."""
    shutil.copytree(EXAMPLE, d, ignore=shutil.ignore_patterns(".ttdeploy", "backups"),
                    dirs_exist_ok=True)
    for name, old in (("compose.yml", "name: tasktracker"), ("plan.yml", "project: tasktracker")):
        path = os.path.join(d, name)
        with open(path) as f:
            text = f.read()
        assert old in text, (name, old)
        with open(path, "w") as f:
            f.write(text.replace(old, old.split(":")[0] + ": " + PROJECT))
    return os.path.join(d, "plan.yml")


def apply(plan, release):
    """`apply` of the example's release as the Makefile runs it."""
    return ttdeploy("apply", "--progress", "plain", plan,
                    env=dict(PORTS, RELEASE=release, API_IMAGE=f"tasktracker/api:{release}"))


def step(d, phase):
    return next(st for st in d["steps"] if st["phase"] == phase and st["action"] != "baseline")


def data():
    """What the rollback must bring back: revision, row counts and sums, tables."""
    return psql("SELECT (SELECT version_num FROM alembic_version), (SELECT count(*) FROM users), "
                "(SELECT count(*) || '/' || sum(id) || '/' || count(*) FILTER (WHERE done) "
                "FROM tasks), to_regclass('tasks_archive')", URL)


def test_example_backs_up_migrates_and_rolls_back_the_broken_release():
    d = tempfile.mkdtemp(prefix="ttdeploy-example-")
    try:
        plan = copy_example(d)
        build = subprocess.run([os.path.join(d, "demo", "build-images.sh")], capture_output=True,
                               text=True, timeout=120)
        assert build.returncode == 0, build.stdout + build.stderr

        p = apply(plan, "v1.3.0")
        assert p.returncode == 0, p.stdout + p.stderr
        first = last_deployment(plan)
        assert step(first, "backup")["status"] == "skipped", "nothing to back up yet"
        assert first["migrations"][0]["revision_after"] == "0001", first["migrations"]

        p = apply(plan, "v1.4.0")
        assert p.returncode == 0, p.stdout + p.stderr
        dep = last_deployment(plan)
        assert dep["status"] == "succeeded" and dep["version"] == "v1.4.0", dep
        phases = {st["phase"] for st in dep["steps"]}
        assert all(ph in phases for ph in SIX_PHASES), phases
        backup, migrate = step(dep, "backup"), step(dep, "migrate")
        assert backup["status"] == "ok" and "equal row counts" in backup["detail"], backup
        assert "public.tasks=500" in backup["detail"] and "public.users=20" in backup["detail"], backup
        assert migrate["status"] == "ok" and migrate["detail"] == "revision 0001 -> 0002", migrate
        m = dep["migrations"][0]
        assert m["kind"] == "command" and m["rehearsed"].startswith("up 0001 -> 0002, down -> 0001"), m
        assert dep["backups"][0]["verified"] == "restore", dep["backups"]
        # what `make example` checks in `ttdeploy show`
        text = ttdeploy("show", "--plan", plan, str(dep["id"]), check=0).stdout
        rows = [line.split() for line in text.splitlines()]
        assert any(r[1:2] == ["backup"] and r[4:5] == ["ok"] for r in rows), text
        assert any(r[1:2] == ["migrate"] and r[4:5] == ["ok"] for r in rows), text
        # the migration's tables, the column of 0002, and no one-off container left
        assert psql("SELECT to_regclass('users') IS NOT NULL AND to_regclass('tasks') IS NOT NULL",
                    URL) == "t"
        assert psql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'tasks' "
                    "AND column_name = 'priority'", URL) == "1"
        assert [c for c in project_containers(PROJECT)] and not [
            c for c in api("GET", "/containers/json?all=1")[1]
            if c["Labels"].get("com.docker.compose.project") == PROJECT
            and c["Labels"].get("com.docker.compose.oneoff") == "True"]
        before = data()
        assert before.startswith("0002|20|500/"), before

        # make demo: the broken v1.5.0 is caught by tasks-kept and rolled back
        p = apply(plan, "v1.5.0")
        assert p.returncode == 1, p.stdout + p.stderr
        assert 'check "tasks-kept": SELECT count(*) FROM tasks returned 334' in p.stderr, p.stderr
        bad = last_deployment(plan)
        assert bad["status"] == "rolled_back" and bad["version"] == "v1.5.0", bad
        acts = [(st["action"], st["status"]) for st in bad["steps"] if st["phase"] == "rolling_back"
                and st["service"] in (None, "", "-")]
        assert [a for a, _ in acts][-3:] == ["images", "migrations", "restore"], bad["steps"]
        assert all(s == "ok" for _, s in acts), acts
        assert data() == before, "the schema and the data are as before v1.5.0"
        _, info = api("GET", f"/containers/{project_containers(PROJECT)['api']['Id']}/json")
        assert info["Config"]["Image"] == "tasktracker/api:v1.4.0", info["Config"]["Image"]
        h = json.loads(ttdeploy("history", "--plan", plan, "--json", check=0).stdout)
        assert [(x["version"], x["status"]) for x in h] == [
            ("v1.5.0", "rolled_back"), ("v1.4.0", "succeeded"), ("v1.3.0", "succeeded")], h
        report = ttdeploy("report", "--plan", plan, str(bad["id"]), check=0).stdout
        assert "**restore** ok" in report and "**migrations** ok: revision 0003 -> 0002" in report, report
    finally:
        purge_project(PROJECT)
        shutil.rmtree(d, ignore_errors=True)


def load(name):
    """A pipeline of examples/ci: its text and what YAML makes of it."""
    with open(os.path.join(CI, name)) as f:
        text = f.read()
    return text, yaml.safe_load(text)


def test_github_workflow_deploys_on_a_tag_and_keeps_the_report():
    text, wf = load("github-deploy.yml")
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads the key `on` as true
    assert on == {"push": {"tags": ["v*"]}}, on
    assert wf["env"]["TTDEPLOY_STATE"] == "/var/lib/ttdeploy/tasktracker.db", wf["env"]
    [job] = wf["jobs"].values()
    assert "self-hosted" in job["runs-on"], job["runs-on"]
    steps = job["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert 'ttdeploy apply --progress plain "$PLAN"' in runs and "docker build" in runs, runs
    for out in ("report --format md", "report --format junit", "timeline --format svg", "audit head"):
        assert out in runs, out
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "ttdeploy-out/", upload
    assert "checkout" in text and "fresh" in text, "says why the store is not in the checkout"


def test_gitlab_pipeline_deploys_on_a_tag_and_reports_junit():
    text, ci = load(".gitlab-ci.yml")
    job = ci["deploy"]
    assert job["rules"] == [{"if": "$CI_COMMIT_TAG"}], job["rules"]
    assert ci["variables"]["TTDEPLOY_STATE"] == "/var/lib/ttdeploy/tasktracker.db", ci["variables"]
    assert any("ttdeploy apply" in line for line in job["script"]), job["script"]
    after = "\n".join(job["after_script"])
    for out in ("report --format md", "report --format junit", "timeline --format svg", "audit head"):
        assert out in after, out
    assert job["artifacts"]["when"] == "always", job["artifacts"]
    assert job["artifacts"]["reports"]["junit"] == "ttdeploy-out/report.xml", job["artifacts"]
    assert "checkout" in text and "fresh" in text, "says why the store is not in the checkout"


if __name__ == "__main__":
    run(globals())
