"""test_ci.py - a deployment run from CI on a tag records who and what ran it.

A one-service stack whose plan omits release.version, applied with the
variables GitHub Actions sets on a tag push (then GitLab CI's, then a plain
git checkout with a tag at HEAD): the deployment records the tag as version
and git_tag, the commit, the triggering actor (GitHub's re-run case: not
GITHUB_ACTOR), and the run URL; history and show print them, `history
--actor/--tag` filter; the report is appended to $GITHUB_STEP_SUMMARY; a
store inside the checkout is warned about, TTDEPLOY_STATE puts it elsewhere;
--actor/--release override; an explicit release.version wins over the tag;
no version and no tag is exit 2 naming the plan; a plan error under GitHub
Actions is also a `::error file=...,line=...::` annotation."""
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile

from harness import BUSYBOX, TTDEPLOY, purge_project, run

PROJECT = "tte2e-ci"
COMPOSE = f"""name: {PROJECT}
services:
  app:
    image: {BUSYBOX}
    init: true
    command: ["sleep", "300"]
"""
PLAN = f"""version: 1
project: {PROJECT}
compose: [compose.yml]
RELEASE
tiers: {{app: [app]}}
verify:
  - name: app-alive
    exec: {{service: app, command: ["true"]}}
rollback:
  matrix:
    - when: {{}}
      severity: low
      do: [none]
"""
SHA = "0123456789abcdef0123456789abcdef01234567"
GITHUB = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_REF_TYPE": "tag",
    "GITHUB_REF_NAME": "v2.7.1",
    "GITHUB_REF": "refs/tags/v2.7.1",
    "GITHUB_SHA": SHA,
    "GITHUB_ACTOR": "alice",
    "GITHUB_TRIGGERING_ACTOR": "bob",
    "GITHUB_RUN_ID": "987654",
    "GITHUB_SERVER_URL": "https://github.example.com",
    "GITHUB_REPOSITORY": "acme/tasktracker",
}
GITLAB = {
    "GITLAB_CI": "true",
    "CI_COMMIT_TAG": "v3.0.0",
    "CI_COMMIT_SHA": SHA,
    "GITLAB_USER_LOGIN": "carol",
    "CI_PIPELINE_ID": "555",
    "CI_PIPELINE_URL": "https://gitlab.example.com/acme/tasktracker/-/pipelines/555",
}


def clean_env(extra):
    """The test's environment without any CI's variables, plus extra."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "GITLAB_", "CI_", "TTDEPLOY_STATE", "TTDEPLOY_ACTOR"))
           and k not in ("CI", "RUNNER_TEMP")}
    env.update(extra)
    return env


class Stack:
    def __init__(self, release="", git=False):
        self.dir = tempfile.mkdtemp(prefix="ttdeploy-e2e-ci-")
        with open(os.path.join(self.dir, "compose.yml"), "w") as f:
            f.write(COMPOSE)
        self.plan = os.path.join(self.dir, "plan.yml")
        with open(self.plan, "w") as f:
            f.write(PLAN.replace("RELEASE\n", release))
        self.db = os.path.join(self.dir, ".ttdeploy", "state.db")
        if git:
            g = ["git", "-C", self.dir, "-c", "user.name=t", "-c", "user.email=t@t"]
            subprocess.run(["git", "init", "-q", self.dir], check=True)
            subprocess.run(g + ["add", "compose.yml", "plan.yml"], check=True)
            subprocess.run(g + ["commit", "-q", "-m", "r"], check=True)
            subprocess.run(g + ["tag", "v1.9.0"], check=True)
            subprocess.run(g + ["tag", "v1.10.0"], check=True)
            self.head = subprocess.run(["git", "-C", self.dir, "rev-parse", "HEAD"], check=True,
                                       capture_output=True, text=True).stdout.strip()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        purge_project(PROJECT)
        shutil.rmtree(self.dir, ignore_errors=True)

    def tt(self, *args, env=None, want=None):
        p = subprocess.run([TTDEPLOY, *args], env=clean_env(env or {}), capture_output=True,
                           text=True, timeout=300)
        if want is not None and p.returncode != want:
            raise AssertionError(f"ttdeploy {' '.join(args)}: exit {p.returncode}, want {want}\n"
                                 f"stdout: {p.stdout}\nstderr: {p.stderr}")
        return p

    def apply(self, *args, env=None, want=0):
        return self.tt("apply", "--progress", "plain", *args, self.plan, env=env, want=want)

    def row(self, db=None):
        con = sqlite3.connect(db or self.db)
        con.row_factory = sqlite3.Row
        r = con.execute("SELECT * FROM deployments ORDER BY id DESC LIMIT 1").fetchone()
        con.close()
        return r


def test_github_tag_push_records_identity_and_writes_summary():
    with Stack() as s:
        summary = os.path.join(s.dir, "summary.md")
        env = dict(GITHUB, GITHUB_STEP_SUMMARY=summary, GITHUB_WORKSPACE=s.dir)
        p = s.apply(env=env)
        assert "inside the CI checkout" in p.stderr, p.stderr
        assert "TTDEPLOY_STATE" in p.stderr
        r = s.row()
        assert (r["version"], r["git_tag"], r["git_commit"], r["actor"]) == \
            ("v2.7.1", "v2.7.1", SHA, "bob"), dict(r)
        ci = json.loads(r["ci"])
        assert ci["provider"] == "github-actions" and ci["ci_actor"] == "alice", ci
        url = "https://github.example.com/acme/tasktracker/actions/runs/987654"
        assert ci["run_url"] == url, ci
        with open(summary) as f:
            text = f.read()
        assert PROJECT in text and "v2.7.1" in text and "succeeded" in text, text
        assert "```mermaid\ngantt" in text, text
        hist = s.tt("history", "--plan", s.plan, want=0).stdout
        for want in ("bob", "v2.7.1", SHA[:8], url):
            assert want in hist, (want, hist)
        show = s.tt("show", "--plan", s.plan, str(r["id"]), want=0).stdout
        for want in ("bob", "workflow of alice", "v2.7.1", SHA, url, "github-actions"):
            assert want in show, (want, show)
        rows = json.loads(s.tt("history", "--plan", s.plan, "--json", "--actor", "bob").stdout)
        assert [x["id"] for x in rows] == [r["id"]], rows
        assert json.loads(s.tt("history", "--plan", s.plan, "--json", "--actor", "alice").stdout) \
            == []
        rows = json.loads(s.tt("history", "--plan", s.plan, "--json", "--tag", "v2.7.1").stdout)
        assert len(rows) == 1, rows
        assert json.loads(s.tt("history", "--plan", s.plan, "--json", "--tag", "v0").stdout) == []


def test_gitlab_pipeline_and_ttdeploy_state():
    with Stack(release="release: {version: \"\"}\n") as s:
        state = os.path.join(s.dir, "..", os.path.basename(s.dir) + "-elsewhere.db")
        try:
            p = s.apply(env=dict(GITLAB, CI_PROJECT_DIR=s.dir, TTDEPLOY_STATE=state))
            assert "inside the CI checkout" not in p.stderr, p.stderr
            assert not os.path.exists(s.db), "TTDEPLOY_STATE was not used"
            r = s.row(state)
            assert (r["version"], r["git_tag"], r["actor"]) == ("v3.0.0", "v3.0.0", "carol")
            assert json.loads(r["ci"])["run_url"] == GITLAB["CI_PIPELINE_URL"]
            # read commands find the same store through the variable
            hist = s.tt("history", env={"TTDEPLOY_STATE": state}, want=0).stdout
            assert "carol" in hist and GITLAB["CI_PIPELINE_URL"] in hist, hist
        finally:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(state + suffix):
                    os.unlink(state + suffix)
            key = os.path.join(os.path.dirname(state), ".ttdeploy")
            if os.path.isdir(key) and os.path.dirname(os.path.abspath(state)) != "/tmp":
                pass


def test_plain_git_tag_at_head_and_overrides():
    with Stack(git=True) as s:
        s.apply(env={"USER": "dave"})
        r = s.row()
        assert (r["version"], r["git_tag"], r["git_commit"], r["actor"]) == \
            ("v1.10.0", "v1.10.0", s.head, "dave"), dict(r)
        ci = json.loads(r["ci"])
        assert "provider" not in ci and "run_url" not in ci, ci  # no CI: only the engine
        assert ci["engine"].startswith("unix://") and ci["mode"] == "local", ci
        s.apply("--actor", "erin", "--release", "hotfix-7", env={"USER": "dave"})
        r = s.row()
        assert (r["version"], r["actor"]) == ("hotfix-7", "erin"), dict(r)


def test_explicit_version_wins_over_the_tag():
    with Stack(release="release: {version: v5-explicit}\n") as s:
        s.apply(env=GITHUB)
        r = s.row()
        assert (r["version"], r["git_tag"]) == ("v5-explicit", "v2.7.1"), dict(r)


def test_no_version_and_no_tag_is_bad_input():
    with Stack() as s:
        p = s.apply(env={"USER": "dave"}, want=2)
        assert "release.version is empty" in p.stderr and s.plan in p.stderr, p.stderr
        assert not os.path.exists(s.db) or s.row() is None


def test_plan_error_is_a_github_annotation():
    with Stack(release="release: {version: v1}\n") as s:
        with open(s.plan, "a") as f:
            f.write("timeouts: {healthy: soon}\n")
        p = s.apply(env=dict(GITHUB, GITHUB_WORKSPACE=s.dir), want=2)
        lines = [x for x in p.stdout.splitlines() if x.startswith("::error ")]
        assert lines, p.stdout + p.stderr
        assert lines[0].startswith("::error file=plan.yml,line=14,"), lines
        s.apply(env={"USER": "dave"}, want=2)  # outside CI: no annotation
        assert "::error" not in s.apply(env={"USER": "dave"}, want=2).stdout


def test_compose_error_is_a_github_annotation():
    with Stack(release="release: {version: v1}\n") as s:
        with open(os.path.join(s.dir, "compose.yml"), "a") as f:
            f.write("    depends_on: [db]\n")
        p = s.tt("config", "-f", os.path.join(s.dir, "compose.yml"),
                 env=dict(GITHUB, GITHUB_WORKSPACE=s.dir), want=2)
        assert p.stdout.startswith("::error file=compose.yml,line=7,"), p.stdout
        assert "depends on" in p.stdout and "depends on" in p.stderr, p.stderr


if __name__ == "__main__":
    run(globals())
