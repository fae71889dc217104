"""test_preflight.py - `ttdeploy check` and apply's preflight phase on the
private dockerd: a good plan passes every check (text and --json) and
creates nothing on the daemon; a host port held by another process, or
published by another project's container, fails the check naming the port
and what to do, and apply fails in phase preflight with nothing created
and the deployment recorded failed; a missing image, a git tag that does
not exist and a lock held by another deployment each fail their check; a
good apply records one ok step per check; on the example stack the database
check reads the database (skipped before its first deployment), the backup
check its room, and a migration lock held in PostgreSQL fails it.
`apply --dry-run` runs the same checks after its preview: a held port or
lock exits 1 naming the check, a clean stack exits 0 listing all eight
(--json: one {"preflight": ...} line); it creates nothing, makes no store
and leaves an existing one byte for byte.  `check --state engine` looks at
the engine's state volume and lock holder (a live or stale holder fails
it) and creates nothing."""
import json
import os
import socket
import sqlite3
import subprocess
import tempfile
import time

from harness import (BUSYBOX, api, last_deployment, project_containers, purged, run,
                     ttdeploy)

PORT = 28931       # published by the scratch project
OTHER_PORT = 28932  # published by another project's container


def hold_port():
    """A listening socket of this process on 127.0.0.1:PORT (another process, to ttdeploy)."""
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", PORT))
    holder.listen()
    return holder


def lock_elsewhere(s):
    """Another deployment (deployment 7 of host "elsewhere") holds s's project lock in its store."""
    con = sqlite3.connect(s.db)
    con.execute("INSERT INTO lock (project, host, pid, started_at, heartbeat_at, "
                "deployment_id, token) VALUES (?, 'elsewhere', 4242, ?, ?, 7, 'x')",
                (s.project, time.time(), time.time()))
    con.commit()
    con.close()


def daemon_snapshot():
    """Every container (id, state) and every volume on the daemon."""
    _, cs = api("GET", "/containers/json?all=1")
    _, vs = api("GET", "/volumes")
    return ({c["Id"]: c["State"] for c in cs or []},
            sorted(v["Name"] for v in (vs or {}).get("Volumes") or []))


class Scratch:
    """A busybox project in a folder of its own: compose.yml (one service
    publishing PORT, its image given), plan.yml (extra plan text appended)."""

    def __init__(self, project, image=BUSYBOX, plan_extra="", port=PORT):
        self.project = project
        self.tmp = tempfile.TemporaryDirectory(prefix="ttdeploy-preflight-")
        self.dir = self.tmp.name
        with open(os.path.join(self.dir, "compose.yml"), "w") as f:
            f.write("services:\n  web:\n"
                    f"    image: {image}\n    init: true\n    command: [\"sleep\", \"300\"]\n"
                    f"    ports: [\"127.0.0.1:{port}:80\"]\n")
        self.plan = os.path.join(self.dir, "plan.yml")
        with open(self.plan, "w") as f:
            f.write(f"version: 1\nproject: {project}\ncompose: [compose.yml]\n"
                    "release: {version: v1}\n" + plan_extra)
        self.db = os.path.join(self.dir, ".ttdeploy", "state.db")

    def check(self, *args):
        return ttdeploy("check", *args, self.plan)

    def check_json(self):
        p = self.check("--json")
        return p, json.loads(p.stdout)

    def close(self):
        self.tmp.cleanup()


def by_name(result):
    return {c["name"]: c for c in result["checks"]}


def test_a_good_plan_passes_and_creates_nothing():
    s = Scratch("pfgood")
    with purged(s.project):
        before = daemon_snapshot()
        p = s.check()
        assert p.returncode == 0, p.stdout + p.stderr
        for name in ("engine", "files", "images", "ports", "store"):
            assert any(line.startswith("ok") and f" {name} " in line
                       for line in p.stdout.splitlines()), (name, p.stdout)
        assert "all checks passed" in p.stdout, p.stdout
        p, r = s.check_json()
        assert p.returncode == 0 and r["ok"] is True, p.stdout
        names = [c["name"] for c in r["checks"]]
        assert names == ["engine", "files", "images", "ports", "database", "backup-dir",
                         "store", "git-tag"], names
        for c in r["checks"]:
            assert set(c) == {"name", "status", "detail", "fix"}, c
            assert c["status"] in ("ok", "skipped"), c
        checks = by_name(r)
        assert "sha256:" in checks["images"]["detail"], checks["images"]
        assert f"{PORT}/tcp free" in checks["ports"]["detail"], checks["ports"]
        assert "compose.yml sha256 " in checks["files"]["detail"], checks["files"]
        assert checks["database"]["status"] == "skipped", checks["database"]
        assert daemon_snapshot() == before, "check created, removed or stopped something"
        # a plan that does not load: file:line and exit 2, before any check
        with open(os.path.join(s.dir, "bad.yml"), "w") as f:
            f.write("version: 1\nproject: pfgood\ncompose: [compose.yml]\nrelease: {}\n"
                    "bogus_key: 1\n")
        p = ttdeploy("check", os.path.join(s.dir, "bad.yml"))
        assert p.returncode == 2 and "bad.yml:" in p.stderr, p.stdout + p.stderr
        assert p.stdout == "", p.stdout
        assert project_containers(s.project) == {}
        # the store keeps each check, and nothing else: no deployment
        con = sqlite3.connect(s.db)
        rows = con.execute("SELECT project, ok, result FROM preflights ORDER BY id").fetchall()
        deps = con.execute("SELECT count(*) FROM deployments").fetchone()[0]
        con.close()
        assert [(x[0], x[1]) for x in rows] == [(s.project, 1), (s.project, 1)], rows
        assert json.loads(rows[1][2])["checks"][0]["name"] == "engine", rows[1]
        assert deps == 0
    s.close()


def test_b_a_port_held_by_another_process_fails_check_and_apply():
    s = Scratch("pfport")
    holder = hold_port()
    with purged(s.project):
        try:
            before = daemon_snapshot()
            p = s.check()
            assert p.returncode == 1, p.stdout + p.stderr
            line = [x for x in p.stdout.splitlines() if x.startswith("FAILED")]
            assert line and f"port {PORT}/tcp" in line[0] and "in use on this host by another " \
                "process" in line[0], p.stdout
            assert "stop it, or change the published port of web in" in p.stdout, p.stdout
            _, r = s.check_json()
            assert r["ok"] is False and by_name(r)["ports"]["status"] == "failed", r
            assert "compose.yml" in by_name(r)["ports"]["fix"], r
            p = ttdeploy("apply", "--progress", "plain", s.plan)
            assert p.returncode == 1, p.stdout + p.stderr
            assert f"preflight check ports failed: port {PORT}/tcp" in p.stderr, p.stderr
            assert "nothing was changed" in p.stderr, p.stderr
            assert daemon_snapshot() == before, "apply created or stopped something"
            d = last_deployment(s.plan)
            assert d["status"] == "failed" and d["state"] == "failed", d
            pre = [x for x in d["steps"] if x["phase"] == "preflight"]
            assert [x["action"] for x in pre] == ["engine", "files", "images", "ports",
                                                  "database", "backup-dir", "store",
                                                  "git-tag"], pre
            assert [x["status"] for x in pre if x["action"] == "ports"] == ["failed"], pre
            phases = {x["phase"] for x in d["steps"]}
            assert not phases & {"backup", "migrate", "infra_up", "app_up", "verify",
                                 "rolling_back"}, phases
            decided = [x for x in d["steps"] if x["phase"] == "deciding"]
            assert decided and decided[0]["action"] == "abort", decided
        finally:
            holder.close()
    s.close()


def test_b2_a_port_published_by_another_projects_container():
    s = Scratch("pfport2", port=OTHER_PORT)
    name = "pfport2-squatter"
    api("DELETE", f"/containers/{name}?force=1")
    api("DELETE", f"/networks/{name}")
    # the private daemon has no default bridge: the container gets a network of its own
    st, net = api("POST", "/networks/create", {"Name": name, "Driver": "bridge"})
    assert st == 201, net
    st, c = api("POST", f"/containers/create?name={name}", {
        "Image": BUSYBOX, "Cmd": ["sleep", "60"],
        "Labels": {"com.docker.compose.project": "someoneelse"},
        "ExposedPorts": {"80/tcp": {}},
        "HostConfig": {"NetworkMode": name,
                       "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1",
                                                    "HostPort": str(OTHER_PORT)}]}}})
    assert st == 201, c
    try:
        st, _ = api("POST", f"/containers/{c['Id']}/start")
        assert st == 204
        with purged(s.project):
            p = s.check()
            assert p.returncode == 1, p.stdout + p.stderr
            assert f"port {OTHER_PORT}/tcp (service web) is published by container {name} of " \
                "project someoneelse" in p.stdout, p.stdout
            assert "stop that container, or change the published port" in p.stdout, p.stdout
    finally:
        api("DELETE", f"/containers/{c['Id']}?force=1")
        api("DELETE", f"/networks/{name}")
        s.close()


def test_b3_a_catch_all_rule_does_not_roll_back_a_preflight_failure():
    s = Scratch("pfcatch", plan_extra="rollback:\n  matrix:\n    - when: {}\n"
                "      severity: critical\n      do: [images, migrations]\n")
    holder = hold_port()
    with purged(s.project):
        try:
            p = ttdeploy("apply", "--progress", "plain", s.plan)
            assert p.returncode == 1, p.stdout + p.stderr
            assert "rule 1 of the built-in matrix: failed in preflight -> abort" in p.stdout, \
                p.stdout
            d = last_deployment(s.plan)
            assert d["status"] == "failed", d
            assert not [x for x in d["steps"] if x["phase"] == "rolling_back"], d["steps"]
            assert json.loads(d["notes"])["decision"]["builtin"] is True, d["notes"]
        finally:
            holder.close()
    s.close()


def test_c_a_missing_image_is_named():
    missing = "127.0.0.1:1/ttdeploy-missing:nope"
    s = Scratch("pfimage", image=missing)
    with purged(s.project):
        t0 = time.monotonic()
        p, r = s.check_json()
        assert p.returncode == 1, p.stdout + p.stderr
        img = by_name(r)["images"]
        assert img["status"] == "failed", img
        assert f"image {missing} (service web) is neither on the engine nor pullable" in \
            img["detail"], img
        assert img["fix"].startswith("build it or push it"), img
        assert time.monotonic() - t0 < 30
        assert project_containers(s.project) == {}
    s.close()


def git(d, *args):
    subprocess.run(["git", "-C", d, *args], check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})


def test_d_a_git_tag_that_does_not_exist():
    s = Scratch("pfgit", plan_extra="")
    git(s.dir, "init", "-q")
    git(s.dir, "add", "compose.yml")
    git(s.dir, "commit", "-qm", "one")
    git(s.dir, "tag", "v1")
    for tag, want in (("v1", "ok"), ("v9.9.9", "failed")):
        with open(s.plan, "w") as f:
            f.write(f"version: 1\nproject: {s.project}\ncompose: [compose.yml]\n"
                    f"release: {{version: v1, git: {{repo: ., tag: {tag}}}}}\n")
        p, r = s.check_json()
        g = by_name(r)["git-tag"]
        assert g["status"] == want, (tag, g)
        assert p.returncode == (0 if want == "ok" else 1), p.stdout + p.stderr
    assert "v9.9.9" in g["detail"], g
    assert g["fix"].startswith("create and push tag v9.9.9"), g
    s.close()


def test_e_a_lock_held_by_another_deployment():
    s = Scratch("pflock")
    with purged(s.project):
        assert s.check().returncode == 0  # makes the store
        lock_elsewhere(s)
        p, r = s.check_json()
        assert p.returncode == 1, p.stdout
        st = by_name(r)["store"]
        assert st["status"] == "failed", st
        assert "locked by elsewhere pid 4242 (deployment 7)" in st["detail"], st
        assert "ttdeploy unlock --force" in st["fix"], st
    s.close()


def test_f_a_good_apply_records_each_check_ok():
    s = Scratch("pfapply")
    with purged(s.project):
        p = ttdeploy("apply", "--progress", "plain", s.plan)
        assert p.returncode == 0, p.stdout + p.stderr
        d = last_deployment(s.plan)
        assert d["status"] == "succeeded", d
        pre = [x for x in d["steps"] if x["phase"] == "preflight"]
        got = {x["action"]: x["status"] for x in pre}
        assert got == {"engine": "ok", "files": "ok", "images": "ok", "ports": "ok",
                       "database": "skipped", "backup-dir": "skipped", "store": "ok",
                       "git-tag": "skipped"}, got
        assert "held by this deployment" in [x for x in pre if x["action"] == "store"][0]["detail"]
        # preflight comes before every phase that changes something
        seqs = {x["phase"]: x["seq"] for x in reversed(d["steps"])}
        assert max(x["seq"] for x in pre) < min(v for k, v in seqs.items()
                                                if k not in ("locked", "preflight")), d["steps"]
        # a second check: the port is held by this project's own container, which is fine
        p, r = s.check_json()
        assert p.returncode == 0, p.stdout
        assert f"{PORT}/tcp held by this project's web" in by_name(r)["ports"]["detail"], r
        p = ttdeploy("audit", "verify", "--plan", s.plan)
        assert p.returncode == 0, p.stdout + p.stderr
    s.close()


def test_g_database_and_backup_checks_on_the_example_stack():
    from test_apply import PORTS, Stack
    s = Stack("pfdb", plan_edit=lambda t: t + "\nbackup: {dir: backups, verify: none}\n")
    env = dict(PORTS)
    with purged(s.project):
        p = ttdeploy("check", "--json", s.plan, env=env)
        r = json.loads(p.stdout)
        assert by_name(r)["database"]["status"] == "skipped", r
        assert "will run after infra up" in by_name(r)["database"]["detail"], r
        assert by_name(r)["backup-dir"]["status"] == "ok", r
        assert "room not estimated" in by_name(r)["backup-dir"]["detail"], r
        p = s.apply()
        assert p.returncode == 0, p.stdout + p.stderr
        p = ttdeploy("check", "--json", s.plan, env=env)
        r = json.loads(p.stdout)
        assert p.returncode == 0, p.stdout + p.stderr
        db = by_name(r)["database"]
        assert db["status"] == "ok" and "migration lock free" in db["detail"], db
        bd = by_name(r)["backup-dir"]
        assert bd["status"] == "ok" and "needs" in bd["detail"] and "MiB" in bd["detail"], bd
        # the first deployment had no database to back up: the directory is still to be made,
        # and check made nothing
        assert "(to be made)" in bd["detail"], bd
        assert not os.path.exists(os.path.join(s.dir, "backups")), "check made the directory"
        os.mkdir(os.path.join(s.dir, "backups"))
        p = ttdeploy("check", "--json", s.plan, env=env)
        bd = by_name(json.loads(p.stdout))["backup-dir"]
        assert bd["status"] == "ok" and "(to be made)" not in bd["detail"], bd
        assert os.listdir(os.path.join(s.dir, "backups")) == [], "the probe file was left"
        # a session holding the migration lock (the advisory lock migrations take)
        pg = project_containers(s.project)["postgres"]["Id"]
        st, ex = api("POST", f"/containers/{pg}/exec", {
            "Cmd": ["psql", "-U", "postgres", "-d", "tasktracker", "-c",
                    "SELECT pg_advisory_lock(7331000), pg_sleep(20)"]})
        assert st == 201, ex
        api("POST", f"/exec/{ex['Id']}/start", {"Detach": True})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            p = ttdeploy("check", "--json", s.plan, env=env)
            db = by_name(json.loads(p.stdout))["database"]
            if db["status"] == "failed":
                break
            time.sleep(0.3)
        assert p.returncode == 1 and db["status"] == "failed", db
        assert "the migration lock on database tasktracker is held by pid" in db["detail"], db
        assert db["fix"].startswith("wait for the other migration"), db


def test_h_dry_run_fails_as_preflight_would_and_changes_nothing():
    """apply --dry-run runs the checks as check does: a port held by another
    process exits 1 naming the ports check; nothing is created on the
    daemon, no store is made and no deployment recorded."""
    s = Scratch("pfdry")
    holder = hold_port()
    with purged(s.project):
        try:
            before = daemon_snapshot()
            p = ttdeploy("apply", "--dry-run", s.plan)
            assert p.returncode == 1, p.stdout + p.stderr
            assert "web          create" in p.stdout, "the preview comes first: " + p.stdout
            lines = p.stdout.splitlines()
            pre = lines[lines.index("preflight:") + 1:]
            failed = [x for x in pre if x.startswith("FAILED")]
            assert len(failed) == 1 and failed[0].split()[1] == "ports", p.stdout
            assert f"port {PORT}/tcp (service web) is in use on this host by another process" \
                in failed[0], p.stdout
            assert "-> stop it, or change the published port of web in" in p.stdout, p.stdout
            assert "some checks failed: apply would stop in its preflight phase" in p.stdout
            assert p.stdout.rstrip().endswith("nothing was changed (dry run)"), p.stdout
            assert f"preflight check ports failed: port {PORT}/tcp" in p.stderr, p.stderr
            assert "apply would stop in its preflight phase" in p.stderr, p.stderr
            # --json: the checks as one line, as `check --json` gives them
            p = ttdeploy("apply", "--dry-run", "--json", s.plan)
            assert p.returncode == 1, p.stdout + p.stderr
            js = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
            assert len(js) == 1 and js[0]["preflight"]["ok"] is False, p.stdout
            assert by_name(js[0]["preflight"])["ports"]["status"] == "failed", js
            assert "compose.yml" in by_name(js[0]["preflight"])["ports"]["fix"], js
            assert daemon_snapshot() == before, "a dry run created, removed or stopped something"
            assert not os.path.exists(s.db), "a dry run makes no store"
        finally:
            holder.close()
        # an existing store: read for its lock, and left as it was (no row, no deployment)
        assert s.check().returncode == 0  # makes the store, records one preflights row
        with open(s.db, "rb") as f:
            digest = f.read()
        p = ttdeploy("apply", "--dry-run", s.plan)
        assert p.returncode == 0, p.stdout + p.stderr
        con = sqlite3.connect(s.db)
        counts = (con.execute("SELECT count(*) FROM preflights").fetchone()[0],
                  con.execute("SELECT count(*) FROM deployments").fetchone()[0],
                  con.execute("SELECT count(*) FROM steps").fetchone()[0])
        con.close()
        assert counts == (1, 0, 0), counts
        with open(s.db, "rb") as f:
            assert f.read() == digest, "a dry run wrote the store"
        assert project_containers(s.project) == {}
    s.close()


def test_h2_dry_run_of_a_clean_stack_lists_every_check():
    s = Scratch("pfdryok")
    with purged(s.project):
        before = daemon_snapshot()
        p = ttdeploy("apply", "--dry-run", s.plan)
        assert p.returncode == 0, p.stdout + p.stderr
        lines = p.stdout.splitlines()
        pre = lines[lines.index("preflight:") + 1:]
        names = [x.split()[1] for x in pre if x.split()[0] in ("ok", "skipped", "FAILED")]
        assert names == ["engine", "files", "images", "ports", "database", "backup-dir",
                         "store", "git-tag"], p.stdout
        assert not [x for x in pre if x.startswith("FAILED")], p.stdout
        assert any(x.startswith("ok") and f"{PORT}/tcp free" in x for x in pre), p.stdout
        assert any(x.startswith("ok") and "no store yet at" in x for x in pre), p.stdout
        assert "all checks passed: apply may begin" in p.stdout, p.stdout
        assert daemon_snapshot() == before
        assert not os.path.exists(s.db), "a dry run makes no store"
        # a lock held by another deployment: the dry run fails as apply would wait and fail
        assert s.check().returncode == 0
        lock_elsewhere(s)
        p = ttdeploy("apply", "--dry-run", s.plan)
        assert p.returncode == 1, p.stdout + p.stderr
        assert "preflight check store failed: project pfdryok is locked by elsewhere" in \
            p.stderr, p.stderr
    s.close()


def holder_container(project, started):
    """A state holder of project on the engine, as another run's (never started)."""
    name = f"ttdeploy-state-{project}"
    st, c = api("POST", f"/containers/create?name={name}", {
        "Image": BUSYBOX, "Cmd": ["true"],
        "Labels": {"dev.ttdeploy.state.host": "elsewhere", "dev.ttdeploy.state.pid": "4242",
                   "dev.ttdeploy.state.started": str(started),
                   "dev.ttdeploy.state.token": "x"}})
    assert st == 201, c
    return c["Id"]


def test_i_check_state_engine_looks_at_the_volume_and_the_lock():
    s = Scratch("pfengine")
    with purged(s.project):
        api("DELETE", f"/containers/ttdeploy-state-{s.project}?force=1")
        before = daemon_snapshot()
        for args in (("check", "--json", "--state", "engine"),
                     ("apply", "--dry-run", "--json", "--state", "engine")):
            p = ttdeploy(*args, s.plan)
            assert p.returncode == 0, p.stdout + p.stderr
            line = [x for x in p.stdout.splitlines() if x.startswith("{")]
            r = json.loads(p.stdout) if args[0] == "check" else json.loads(line[0])["preflight"]
            st = by_name(r)["store"]
            assert st["status"] == "ok", st
            assert f"volume ttdeploy-state-{s.project} not there yet" in st["detail"], st
            assert "lock on pfengine is free" in st["detail"], st
        assert daemon_snapshot() == before, "check --state engine created something"
        assert not os.path.exists(s.db), "check --state engine made a local store"
        for started, word in ((time.time(), "wait for that deployment"),
                              (time.time() - 3600, "ttdeploy recover --state engine")):
            cid = holder_container(s.project, started)
            try:
                p = ttdeploy("check", "--json", "--state", "engine", s.plan)
                assert p.returncode == 1, p.stdout + p.stderr
                st = by_name(json.loads(p.stdout))["store"]
                assert st["status"] == "failed", st
                assert "project pfengine is locked on the engine by elsewhere pid 4242" in \
                    st["detail"], st
                assert ("stale" in st["detail"]) == (word.startswith("ttdeploy")), st
                assert word in st["fix"], st
                p = ttdeploy("apply", "--dry-run", "--state", "engine", s.plan)
                assert p.returncode == 1 and "preflight check store failed" in p.stderr, \
                    p.stdout + p.stderr
            finally:
                api("DELETE", f"/containers/{cid}?force=1")
    s.close()


if __name__ == "__main__":
    run(globals())
