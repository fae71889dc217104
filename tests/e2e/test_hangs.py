"""test_hangs.py - no wait is unbounded (issue 13): a frozen or killed
PostgreSQL during backup, migrate and verify, and a frozen dockerd during
app_up, make `apply` fail within the plan's (short) timeouts with a message
naming what hung, and nothing is lost: every row is there after the server
resumes, the schema is the old one or the new one, older backups are kept.

PostgreSQL is frozen with SIGSTOP on every process of its container (the
server then enforces none of its own timeouts) and always resumed with
SIGCONT; the shared private dockerd is frozen the same way, only while the
e2e lock is held (run this suite under it, as every e2e suite), and always
resumed.  The moment to strike is found by watching the store for the
phase's running step.  Each test prints the longest wait: seconds from the
freeze (or kill) to ttdeploy's exit."""
import atexit
import glob
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time

from harness import DOCKER_HOST, ROOT, TTDEPLOY, api, last_deployment, purge_project, run, ttdeploy

EXAMPLE = os.path.join(ROOT, "examples", "tasktracker")
PROJECT = "tte2e-hangs"
PORTS = {"PG_PORT": "26532", "API_PORT": "26101", "HTTP_PORT": "26181"}
URL = "postgresql://postgres:tasktracker@127.0.0.1:26532/tasktracker"
# The private daemon's pid file sits beside its socket (tests/infra.sh), whatever root it has.
DOCKERD_PID = os.path.join(os.path.dirname(DOCKER_HOST.replace("unix://", "", 1)), "dockerd.pid")

# Short bounds, so a hang fails in seconds; the migration and the check sleep
# 2 s (under timeouts.statement) to give the freeze a window.
PLAN = """version: 1
project: {project}
release: {{version: {version}}}
tiers: {{infra: [postgres, nats], app: [api, worker, dashboard, nginx]}}
database:
  service: postgres
  url: {url}
backup: {{dir: backups, verify: list}}
migrate: {{kind: sql, dir: migrations}}
verify:
  - {{name: topics, sql: "SELECT count(*) FROM topics", expect: ">= before"}}
  - {{name: slow, sql: "SELECT count(*) FROM pg_sleep({sleep})", expect: "= 1"}}
timeouts: {{connect: 2s, statement: 3s, lock: 2s, request: 3s, stall: 3s, healthy: 20s, verify: 30s}}
rollback:
  matrix:
    - when: {{phase: verify}}
      severity: critical
      do: [images]
    - when: {{}}
      severity: low
      do: [images]
"""

# topics is counted; bulk makes pg_dump take long enough to be caught in the act
TOPICS = ("CREATE TABLE topics (id serial PRIMARY KEY, title text NOT NULL);\n"
          "INSERT INTO topics (title) SELECT 't' || g FROM generate_series(1, 1000) g;\n"
          "CREATE TABLE bulk AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) AS v "
          "FROM generate_series(1, 400000) g;\n")
WAITS = {}


class Stack:
    """The tasktracker stack, deployed once (v1, migration 0001) and shared by the tests."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ttdeploy-hangs-")
        with open(os.path.join(EXAMPLE, "compose.yml")) as f:
            self.compose = f.read().replace("name: tasktracker", f"name: {PROJECT}")
        self.write_compose("1")
        os.makedirs(os.path.join(self.dir, "migrations"))
        self.plan = os.path.join(self.dir, "plan.yml")
        self.version = 0
        self.migration("0001_topics.up.sql", TOPICS)
        self.migration("0001_topics.down.sql", "DROP TABLE topics;\n")
        self.write_plan(sleep=0)
        p = self.apply()
        assert p.returncode == 0, p.stdout + p.stderr

    def write_compose(self, release):
        # an environment value of the api that changes per release, so app_up recreates it
        text = self.compose.replace("    NATS_URL: nats://nats:4222\n",
                                    f"    NATS_URL: nats://nats:4222\n    RELEASE: \"{release}\"\n", 1)
        with open(os.path.join(self.dir, "compose.yml"), "w") as f:
            f.write(text)

    def write_plan(self, sleep=2, url=URL):
        self.version += 1
        with open(os.path.join(self.dir, "plan.yml"), "w") as f:
            f.write(PLAN.format(project=PROJECT, version=f"v{self.version}", url=url, sleep=sleep))

    def migration(self, name, sql):
        with open(os.path.join(self.dir, "migrations", name), "w") as f:
            f.write(sql)

    def apply(self):
        return ttdeploy("apply", "--progress", "plain", self.plan, env=PORTS)

    def start_apply(self):
        env = dict(os.environ)
        env.update(PORTS)
        return subprocess.Popen([TTDEPLOY, "apply", "--progress", "plain", self.plan], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def running_phase(self):
        """The phase of the newest deployment's running step, or None."""
        path = os.path.join(self.dir, ".ttdeploy", "state.db")
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.2)
            try:
                row = db.execute("SELECT phase FROM steps WHERE status = 'running' "
                                 "ORDER BY id DESC LIMIT 1").fetchone()
            finally:
                db.close()
        except sqlite3.Error:
            return None
        return row[0] if row else None

    def last(self):
        return last_deployment(self.plan)

    def backups(self):
        return sorted(glob.glob(os.path.join(self.dir, "backups", "*.dump")))

    def close(self):
        purge_project(PROJECT)
        shutil.rmtree(self.dir, ignore_errors=True)


_stack = []


def stack():
    if not _stack:
        _stack.append(Stack())
        atexit.register(_stack[0].close)
    return _stack[0]


def postgres_pids():
    """Host pids of every process in the postgres container (the private dockerd shares our pid namespace)."""
    cid = next(c["Id"] for c in api("GET", "/containers/json")[1]
               if c["Labels"].get("com.docker.compose.project") == PROJECT
               and c["Labels"].get("com.docker.compose.service") == "postgres")
    st, top = api("GET", f"/containers/{cid}/top?ps_args=-o%20pid")
    assert st == 200, top
    return [int(p[0]) for p in top["Processes"]]


def psql(sql, timeout=60):
    p = subprocess.run(["psql", URL, "-At", "-c", sql], capture_output=True, text=True,
                       timeout=timeout)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def wait_for_postgres(limit=90):
    end = time.monotonic() + limit
    while True:
        p = subprocess.run(["psql", URL, "-At", "-c", "SELECT 1"], capture_output=True, text=True,
                           timeout=30)
        if p.returncode == 0:
            return
        assert time.monotonic() < end, p.stderr
        time.sleep(0.5)


def strike(s, phase, act, undo=None, delay=0.3, hold=None, line=None):
    """Runs apply; when a step of phase runs (or it prints line), act() (returns what undo
    needs); undo after exit.

    Returns (process result, seconds from the strike to ttdeploy's exit)."""
    proc = s.start_apply()
    struck = None
    handle = None
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")),
                              daemon=True)
    reader.start()
    try:
        end = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < end:
            if (any(line in t for t in lines) if line else s.running_phase() == phase):
                time.sleep(delay)
                handle = act()
                struck = time.monotonic()
                break
            time.sleep(0.02)
        if struck is None:
            err = proc.communicate(timeout=120)[1]
            reader.join()
            raise AssertionError(f"apply never ran a {phase} step:\n{''.join(lines)}\n{err}")
        try:
            err = proc.communicate(timeout=hold or 120)[1]
        except subprocess.TimeoutExpired:
            if undo:
                undo(handle)
                handle = None
            err = proc.communicate(timeout=120)[1]
            reader.join()
            out = "".join(lines)
            raise AssertionError(f"ttdeploy did not exit within {hold or 120} s of the {phase} "
                                 f"fault:\n{out}\n{err}")
        waited = time.monotonic() - struck
        reader.join()
        out = "".join(lines)
    finally:
        if undo and handle is not None:
            undo(handle)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    proc.stdout_text, proc.stderr_text = out, err
    return proc, waited


def freeze_postgres():
    pids = postgres_pids()
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    return pids


def thaw(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def kill_postgres():
    for pid in postgres_pids():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def assert_nothing_lost(s, versions, backups_before):
    wait_for_postgres()
    assert psql("SELECT count(*) FROM topics") == "1000", "every row is still there"
    v = psql("SELECT max(version) FROM ttdeploy_schema_migrations")
    assert v in versions, f"schema at {v}, want one of {versions}"
    for b in backups_before:
        assert os.path.exists(b), f"older backup {b} was removed"
    assert psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 7331000") == "0"


def report(name, p, waited):
    WAITS[name] = waited
    print(f"       {name}: ttdeploy exited {p.returncode} {waited:.1f} s after the fault", flush=True)
    for text in p.stderr_text.strip().splitlines()[-2:]:
        print(f"         | {text[:300]}", flush=True)


def test_frozen_postgres_during_backup():
    s = stack()
    before = s.backups()
    s.migration("0002_a.up.sql", "SELECT pg_sleep(2);\nCREATE TABLE a (id int);\n")
    s.write_plan()
    p, waited = strike(s, "backup", freeze_postgres, thaw, delay=0.1)
    report("postgres frozen during backup", p, waited)
    assert p.returncode != 0, p.stdout_text + p.stderr_text
    assert ("sent nothing for 3 s" in p.stderr_text or "did not answer" in p.stderr_text), \
        p.stderr_text
    assert waited < 30, f"{waited:.1f} s"
    assert_nothing_lost(s, {"1"}, before)
    d = s.last()
    assert next(st for st in d["steps"] if st["phase"] == "backup")["status"] == "failed"
    assert not any(st["phase"] == "migrate" and st["status"] == "ok" for st in d["steps"])


def test_frozen_postgres_during_migrate():
    s = stack()
    before = s.backups()
    s.migration("0002_a.up.sql", "SELECT pg_sleep(2);\nCREATE TABLE a (id int);\n")
    s.write_plan()
    p, waited = strike(s, "migrate", freeze_postgres, thaw, delay=0.5)
    report("postgres frozen during migrate", p, waited)
    assert p.returncode != 0, p.stdout_text + p.stderr_text
    assert "did not answer" in p.stderr_text and "is it frozen or overloaded?" in p.stderr_text, \
        p.stderr_text
    assert "127.0.0.1:26532" in p.stderr_text, p.stderr_text
    assert waited < 30, f"{waited:.1f} s"
    assert_nothing_lost(s, {"1", "2"}, before)


def test_frozen_postgres_during_verify():
    s = stack()
    before = s.backups()
    s.write_plan()
    p, waited = strike(s, "verify", freeze_postgres, thaw, delay=0.5)
    report("postgres frozen during verify", p, waited)
    assert p.returncode != 0, p.stdout_text + p.stderr_text
    assert "did not answer" in p.stderr_text + p.stdout_text, p.stderr_text
    assert waited < 40, f"{waited:.1f} s"
    assert_nothing_lost(s, {"2"}, before)
    d = s.last()
    assert d["state"] in ("rolled_back", "rollback_failed", "failed"), d["state"]


def test_killed_postgres_during_backup():
    s = stack()
    before = s.backups()
    s.write_plan()
    p, waited = strike(s, "backup", kill_postgres, delay=0.1)
    report("postgres killed during backup", p, waited)
    assert p.returncode != 0, p.stdout_text + p.stderr_text
    assert waited < 40, f"{waited:.1f} s"
    assert_nothing_lost(s, {"1", "2"}, before)


def test_killed_postgres_during_migrate():
    s = stack()
    wait_for_postgres()
    s.migration("0003_b.up.sql", "SELECT pg_sleep(2);\nCREATE TABLE b (id int);\n")
    before = s.backups()
    s.write_plan()
    p, waited = strike(s, "migrate", kill_postgres, delay=0.5)
    report("postgres killed during migrate", p, waited)
    assert p.returncode != 0, p.stdout_text + p.stderr_text
    assert waited < 40, f"{waited:.1f} s"
    assert_nothing_lost(s, {"2", "3"}, before)


def test_zz_frozen_dockerd_during_app_up():
    s = stack()
    wait_for_postgres()
    s.write_compose("2")
    s.write_plan(sleep=0)
    with open(DOCKERD_PID) as f:
        dockerd = int(f.read().strip())

    def freeze():
        os.kill(dockerd, signal.SIGSTOP)
        return dockerd

    def resume(pid):
        os.kill(pid, signal.SIGCONT)

    p, waited = strike(s, "app_up", freeze, resume, delay=0.05, hold=150, line="==> app_up:")
    report("dockerd frozen during app_up", p, waited)
    assert p.returncode != 0, p.stdout_text + p.stderr_text
    assert "the Docker daemon at unix://" in p.stderr_text + p.stdout_text, p.stderr_text
    assert "is it frozen?" in p.stderr_text + p.stdout_text, p.stderr_text
    # the phase's own error names the daemon: a health probe it does not
    # answer fails the wait at once (not at timeouts.healthy), a stop it does
    # not answer fails after the stop's grace plus timeouts.request (not the
    # tier's 120 s); the rollback then waits for the daemon up to
    # timeouts.healthy (20 s) and leaves the deployment to `recover`
    first = p.stderr_text.split("; ")[0]
    assert "the Docker daemon at unix://" in first, p.stderr_text
    assert waited < 60, f"{waited:.1f} s\n{p.stdout_text}\n{p.stderr_text}"


def test_zzz_longest_waits():
    for name, w in sorted(WAITS.items(), key=lambda kv: -kv[1]):
        print(f"       longest wait: {w:5.1f} s  {name}", flush=True)


run(globals())
