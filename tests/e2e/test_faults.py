"""test_faults.py - the fault-injection suite: ttdeploy killed (SIGKILL)
right after every step write of a deployment, then `ttdeploy recover`; the
private dockerd stopped and started while the app tier comes up; the
store made unwritable mid-run.  After each fault the same consistency
check runs: the store's final status agrees with the containers that run
(the recorded release, healthy), the database holds the old or the new
schema (its revision table agreeing) and every seeded row, no scratch
database (tt_%) and no one-off container is left, the lock is free, and
the next `apply` succeeds.  tests/FAULTS.md lists every fault and what is
asserted.

The stack: postgres (infra), api (the migrator image: busybox httpd,
psql, fake-alembic) and web (app), with a backup, a migration (SQL files
in one plan, fake-alembic in another), both tiers and verify; a third
plan's verify always fails and rolls back (images, migrations, restore).
The crash points are enumerated by a run with TTDEPLOY_CRASH_AT=list.
The database container is created once per plan and reused (infra
unchanged: not recreated), so a point costs about three short runs."""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse

from harness import ROOT, TTDEPLOY, api, project_containers, run, ttdeploy
from test_apply import Stack, wait_for_state
from test_database import psql

PG_PORT, API_PORT = 27432, 27001
URL = f"postgresql://postgres:secret@127.0.0.1:{PG_PORT}/app"
MAINT = URL.rsplit("/", 1)[0] + "/postgres"
MIGRATOR = "ttdeploy-test/migrator:2"
BUSYBOX = "ttdeploy-test/busybox:latest"
SEED_ROWS = 500
INFRA = os.path.join(ROOT, "tests", "infra.sh")
# Problems the lead expects other helpers' branches to fix (issue 13): a point
# failing only for one of these is reported under its name, not hidden.
KNOWN = {
    "scratch": "scratch databases left after a crash (recover drops the recorded ones: another helper)",
    "datallowconn": "the live database left refusing connections after a crash mid-restore (another helper)",
}

COMPOSE = """name: {project}
services:
  postgres:
    image: ttdeploy-test/postgres:15
    environment: {{POSTGRES_DB: app, POSTGRES_PASSWORD: secret}}
    volumes: [pgdata:/var/lib/postgresql/data]
    ports: ["127.0.0.1:{pg_port}:5432"]
    healthcheck:
      test: ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "postgres", "-d", "app"]
      interval: 1s
      timeout: 2s
      retries: 30
    restart: unless-stopped
  api:
    image: ${{API_IMAGE:-ttfault/api:a}}
    init: true
    command: {api_command}
    environment:
      DATABASE_URL: postgresql://postgres:secret@postgres:5432/app
    depends_on: {{postgres: {{condition: service_healthy}}}}
    ports: ["127.0.0.1:{api_port}:8000"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8000/api/health"]
      interval: 1s
      timeout: 1s
      retries: 3
      start_period: 20s
    stop_grace_period: 1s
    restart: unless-stopped
  web:
    image: ${{WEB_IMAGE:-ttfault/web:a}}
    init: true
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    depends_on: {{api: {{condition: service_healthy}}}}
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
      interval: 1s
      timeout: 1s
      retries: 3
    stop_grace_period: 1s
    restart: unless-stopped
volumes:
  pgdata:
"""

PLAN = """version: 1
project: {project}
compose: [compose.yml]
release:
  version: "${{RELEASE:-v0}}"
  images: {{api: "${{API_IMAGE:-ttfault/api:a}}", web: "${{WEB_IMAGE:-ttfault/web:a}}"}}
tiers: {{infra: [postgres], app: [api, web]}}
database: {{service: postgres, url: "{url}"}}
backup: {{dir: backups, verify: list, keep: {{last: 2}}}}
{migrate}
verify:
  - {{name: rows, sql: "SELECT count(*) FROM {table}", expect: ">= before"}}
  - {{name: web, http: {{url: "http://127.0.0.1:8080/", from: web}}}}
{extra_check}timeouts: {{healthy: 30s, verify: 20s}}
on_crash: rollback
{rules}"""

SQL_MIGRATE = "migrate: {kind: sql, dir: migrations}"
COMMAND_MIGRATE = """migrate:
  kind: command
  service: api
  up: [fake-alembic, upgrade, head]
  down: [fake-alembic, downgrade, "{revision_before}"]
  revision_query: SELECT version_num FROM alembic_version"""
# The failing variant: a check that never passes, and the runbook's answer to it.
CANARY = '  - {name: canary, sql: "SELECT 1", expect: "= 2"}\n'
CANARY_RULES = """rollback:
  matrix:
    - when: {phase: verify, check: canary}
      severity: critical
      do: [images, migrations, restore]
    - when: {phase: migrate}
      severity: critical
      do: [migrations]
"""


class FaultStack(Stack):
    """The postgres + api + web stack in a scratch folder; kind is "sql" or "command"."""

    def __init__(self, project, kind, api_command='["httpd", "-f", "-p", "8000", "-h", "/www"]'):
        self.project = project
        self.kind = kind
        self.dir = tempfile.mkdtemp(prefix="ttdeploy-faults-")
        self.plan = os.path.join(self.dir, "plan.yml")
        self.db = os.path.join(self.dir, ".ttdeploy", "state.db")
        self.revision = 1  # the SQL variant's newest migration (0001 makes the table)
        with open(os.path.join(self.dir, "compose.yml"), "w") as f:
            f.write(COMPOSE.format(project=project, pg_port=PG_PORT, api_port=API_PORT,
                                   api_command=api_command))
        os.makedirs(os.path.join(self.dir, "migrations"))
        self.write_plan(failing=False)

    def write_plan(self, failing):
        with open(self.plan, "w") as f:
            f.write(PLAN.format(project=self.project, url=URL, table=self.items_table(),
                                migrate=SQL_MIGRATE if self.kind == "sql" else COMMAND_MIGRATE,
                                extra_check=CANARY if failing else "",
                                rules=CANARY_RULES if failing else ""))

    def run(self, *args, env=None, timeout=240):
        """ttdeploy ARGS... --progress plain PLAN; returns CompletedProcess."""
        e = dict(os.environ)
        e.pop("TTDEPLOY_CRASH_AT", None)
        e.update(env or {})
        return subprocess.run([TTDEPLOY, *args, "--progress",
                               "plain", self.plan], env=e, capture_output=True, text=True,
                              timeout=timeout)

    def next_migration(self):
        """SQL: one more migration file (a column c<N>); command: the schema back to r1."""
        if self.kind == "sql":
            self.revision += 1
            n = self.revision
            with open(os.path.join(self.dir, "migrations", f"{n:04d}_c{n}.up.sql"), "w") as f:
                f.write(f"ALTER TABLE items ADD COLUMN c{n} int DEFAULT {n};\n")
            with open(os.path.join(self.dir, "migrations", f"{n:04d}_c{n}.down.sql"), "w") as f:
                f.write(f"ALTER TABLE items DROP COLUMN c{n};\n")
        else:  # fake-alembic knows r1 and r2 only: each release upgrades r1 -> r2 again
            psql("BEGIN; ALTER TABLE topics DROP COLUMN IF EXISTS body; "
                 "UPDATE alembic_version SET version_num = 'r1'; COMMIT", URL)

    def schemas(self):
        """The (old, new) revisions a deployment of the newest migration moves between."""
        return (str(self.revision - 1), str(self.revision)) if self.kind == "sql" else ("r1", "r2")

    def items_table(self):
        return "items" if self.kind == "sql" else "topics"


def tag_images():
    """ttfault/api:a and :b (the migrator image), ttfault/web:a and :b (busybox): two
    releases of each app service, so a rollback by images has something to go back to."""
    for repo, image in (("ttfault/api", MIGRATOR), ("ttfault/web", BUSYBOX)):
        for tag in ("a", "b"):
            status, body = api("POST", f"/images/{image}/tag?repo={repo}&tag={tag}")
            assert status == 201, body


def release(n):
    """The environment of release n: version vN on the images of tag a (n even) or b."""
    tag = "ab"[n % 2]
    return {"RELEASE": f"v{n}", "API_IMAGE": f"ttfault/api:{tag}", "WEB_IMAGE": f"ttfault/web:{tag}"}


def fresh_database(s):
    """A first release (v0) of s, with the rows every later check counts."""
    if s.kind == "sql":
        with open(os.path.join(s.dir, "migrations", "0001_items.up.sql"), "w") as f:
            f.write("CREATE TABLE items (id int PRIMARY KEY, title text NOT NULL);\n")
        with open(os.path.join(s.dir, "migrations", "0001_items.down.sql"), "w") as f:
            f.write("DROP TABLE items;\n")
    tag_images()
    s.release = 0
    p = s.run("apply", env=release(0))
    assert p.returncode == 0, p.stdout + p.stderr
    table = s.items_table()
    psql(f"INSERT INTO {table} (id, title) SELECT g, 'row ' || g FROM generate_series(1, {SEED_ROWS}) g",
         URL)


def revision():
    """The revision the database's own table records ('' when none)."""
    if psql("SELECT to_regclass('alembic_version') IS NOT NULL", URL) == "t":
        return psql("SELECT coalesce(max(version_num), '') FROM alembic_version", URL)
    return psql("SELECT coalesce(max(version), 0) FROM ttdeploy_schema_migrations", URL)


def schema_of(s):
    """The revision the tables themselves show: the c<N> columns, or topics.body."""
    if s.kind == "command":
        body = psql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'topics' "
                    "AND column_name = 'body'", URL)
        return "r2" if body == "1" else "r1"
    cols = psql("SELECT string_agg(column_name, ',') FROM information_schema.columns "
                "WHERE table_name = 'items' AND column_name ~ '^c[0-9]+$'", URL)
    nums = sorted(int(c[1:]) for c in cols.split(",") if c)
    assert nums == list(range(2, len(nums) + 2)), f"columns out of order: {nums}"
    return str(len(nums) + 1)


def wait_healthy(s, services, timeout=30):
    """{service: container info} once each runs and is healthy; AssertionError naming the laggard."""
    t0 = time.monotonic()
    while True:
        infos, bad = {}, []
        cs = project_containers(s.project)
        for svc in services:
            c = cs.get(svc)
            info = api("GET", f"/containers/{c['Id']}/json")[1] if c else None
            infos[svc] = info
            health = ((info or {}).get("State") or {}).get("Health", {}).get("Status")
            if not info or not info["State"]["Running"] or health != "healthy":
                bad.append(f"{svc}: {'no container' if not info else health}")
        if not bad:
            return infos
        if time.monotonic() - t0 > timeout:
            raise AssertionError("not running healthy: " + "; ".join(bad))
        time.sleep(0.3)


def leftovers():
    """Scratch databases (tt_% but the kept pre-restore copies) and one-off containers."""
    dbs = psql("SELECT string_agg(datname, ',') FROM pg_database WHERE datname LIKE 'tt\\_%' "
               "AND datname NOT LIKE 'tt\\_pre\\_restore\\_%'", MAINT)
    _, cs = api("GET", "/containers/json?all=1&filters=" +
                urllib.parse.quote(json.dumps({"label": ["com.docker.compose.oneoff=True"]})))
    return [d for d in dbs.split(",") if d], [c["Names"][0] for c in cs or []]


def check_consistent(s, new, old):
    """The store, the containers and the database agree after a fault and recover,
    new and old being the releases (numbers) deployed and before.  Returns a list of
    (category, message): empty when all is consistent."""
    problems = []
    d = s.show(s.history()[0]["id"])
    status = d["status"]
    if status not in ("succeeded", "rolled_back", "failed"):
        problems.append(("status", f"deployment {d['id']} ended {status}: {d.get('error')}"))
    if s.sql("SELECT count(*) FROM lock") != [(0,)]:
        problems.append(("lock", "the lock is still held"))
    notes = json.loads(d["notes"]) if d.get("notes") else {}
    actions = (notes.get("decision") or {}).get("actions") or []
    want = release(new if status == "succeeded" else old)
    try:
        infos = wait_healthy(s, ("postgres", "api", "web"))
        for svc in ("api", "web"):
            image = infos[svc]["Config"]["Image"]
            if image != want[f"{svc.upper()}_IMAGE"]:
                problems.append(("containers", f"{svc} runs {image}, the store says {status}: "
                                 f"{want['RELEASE']} ({want[svc.upper() + '_IMAGE']})"))
    except AssertionError as e:
        problems.append(("containers", str(e)))
    allow = psql("SELECT datallowconn FROM pg_database WHERE datname = 'app'", MAINT)
    if allow != "t":
        problems.append(("datallowconn", f"database app has datallowconn={allow!r}"))
        psql("ALTER DATABASE app ALLOW_CONNECTIONS true", MAINT)  # so the rest can be checked
    old, new = s.schemas()
    rev, shape = revision(), schema_of(s)
    if rev != shape:
        problems.append(("schema", f"revision table says {rev}, the tables say {shape}"))
    if rev not in (old, new):
        problems.append(("schema", f"revision {rev}: neither the old ({old}) nor the new ({new})"))
    elif status == "succeeded" and rev != new:
        problems.append(("schema", f"succeeded with revision {rev}, not {new}"))
    elif status != "succeeded" and "migrations" in actions and rev != old:
        problems.append(("schema", f"{status} by {actions} but revision {rev}, not {old}"))
    count = psql(f"SELECT count(*) || ':' || coalesce(sum(id), 0) FROM {s.items_table()}", URL)
    if count != f"{SEED_ROWS}:{SEED_ROWS * (SEED_ROWS + 1) // 2}":
        problems.append(("rows", f"seeded rows: {count}"))
    dbs, oneoffs = leftovers()
    if dbs:
        problems.append(("scratch", f"scratch databases left: {dbs}"))
        for name in dbs:  # the next point starts clean
            psql(f'DROP DATABASE IF EXISTS "{name}"', MAINT)
    if oneoffs:
        problems.append(("oneoff", f"one-off containers left: {oneoffs}"))
    st = json.loads(ttdeploy("status", "--plan", s.plan, "--json").stdout or "{}")
    if st.get("drift"):
        problems.append(("containers", f"status reports drift: {st}"))
    drop_kept_copies()
    return problems


def drop_kept_copies():
    """The live database a restore kept (by design) goes, so each point starts alike."""
    for name in psql("SELECT string_agg(datname, ',') FROM pg_database "
                     "WHERE datname LIKE 'tt\\_pre\\_restore\\_%'", MAINT).split(","):
        if name:
            psql(f'DROP DATABASE "{name}"', MAINT)


def crash_points(s, env):
    """Runs one apply with TTDEPLOY_CRASH_AT=list: [(number, what)] of each step write."""
    p = s.run("apply", env={**env, "TTDEPLOY_CRASH_AT": "list"})
    pts, intents = [], {}
    for m in re.finditer(r"^ttdeploy: crash point (\d+): (.*)$", p.stderr, re.M):
        what = m.group(2)
        i = re.match(r"intent of step (\d+): (.*)", what)
        o = re.match(r"outcome of step (\d+) (\w+)", what)
        if i:
            intents[i.group(1)] = i.group(2)
            what = "intent " + i.group(2)
        elif o:
            what = f"outcome {intents.get(o.group(1), '?')}: {o.group(2)}"
        pts.append((int(m.group(1)), what))
    assert pts and [n for n, _ in pts] == list(range(1, len(pts) + 1)), p.stderr
    return p, pts


def crash_every_point(s, failing, label, results, covered=()):
    """The crash sweep of one variant: for each point, crash there, recover, check, apply.
    The points of a first run that writes what covered (an earlier sweep's points) wrote,
    in the same order, were crashed at already: they are counted, not crashed again.
    Returns what each point writes."""
    s.next_migration()
    s.write_plan(failing)
    s.release += 1
    p, pts = crash_points(s, release(s.release))
    assert p.returncode == (1 if failing else 0), p.stdout + p.stderr
    if failing:  # that run rolled back; the good plan deploys the same release
        s.write_plan(False)
        p = s.run("apply", env=release(s.release))
        assert p.returncode == 0, p.stdout + p.stderr
    same = 0
    while same < min(len(pts), len(covered)) and pts[same][1] == covered[same]:
        same += 1
    if same:
        print(f"    {label}: points 1-{same} write what an earlier sweep's did: not crashed again",
              flush=True)
    for n, what in pts[same:]:
        s.next_migration()
        s.write_plan(failing)
        previous, new = s.release, s.release + 1
        s.release = new
        p = s.run("apply", env={**release(new), "TTDEPLOY_CRASH_AT": str(n)})
        problems = []
        if p.returncode != -signal.SIGKILL:
            problems.append(("crash", f"did not die at point {n}: exit {p.returncode}\n{p.stderr}"))
        r = s.run("recover")
        if r.returncode not in (0, 1):
            problems.append(("recover", f"recover exit {r.returncode}: {r.stderr.strip()}"))
        problems += check_consistent(s, new, previous)
        status = s.history()[0]["status"]
        s.write_plan(False)
        a = s.run("apply", env=release(new))
        if a.returncode != 0:
            problems.append(("next", f"the next apply: exit {a.returncode}: {a.stderr.strip()}"))
            s.run("recover")
        results.append((f"{label}#{n}", what, status, problems))
        print(f"    point {label}#{n:<3} {what:<44} -> {status:<12} "
              f"{'ok' if not problems else '; '.join(c for c, _ in problems)}", flush=True)
    return [what for _, what in pts]


def report(results, t0):
    """Prints the count and time, and the points that failed (by category); asserts none did."""
    bad = [(name, what, problems) for name, what, _, problems in results if problems]
    outcomes = {}
    for _, _, status, _ in results:
        outcomes[status] = outcomes.get(status, 0) + 1
    print(f"    {len(results)} crash points in {time.monotonic() - t0:.0f} s; outcomes {outcomes}; "
          f"{len(bad)} inconsistent", flush=True)
    for name, what, problems in bad:
        for cat, msg in problems:
            tag = f" [known: {KNOWN[cat]}]" if cat in KNOWN else ""
            print(f"    FAILED {name} ({what}): {cat}: {msg}{tag}", flush=True)
    assert not bad, f"{len(bad)} of {len(results)} crash points left an inconsistent state"


def test_crash_at_every_step_sql_migrations():
    """kill -9 after each step write of a SQL-migration deployment, and of one whose verify
    fails and rolls back (images, migrations, restore); recover; consistent; apply works."""
    s = FaultStack("ttfault-sql", "sql")
    results, t0 = [], time.monotonic()
    try:
        fresh_database(s)
        covered = crash_every_point(s, False, "sql-v", results)
        crash_every_point(s, True, "sqlfail-v", results, covered)
    finally:
        s.close()
    report(results, t0)


def test_crash_at_every_step_command_migration():
    """The same with the plan's migration command (fake-alembic upgrade r1 -> r2)."""
    s = FaultStack("ttfault-cmd", "command")
    results, t0 = [], time.monotonic()
    try:
        fresh_database(s)
        crash_every_point(s, False, "cmd-v", results)
    finally:
        s.close()
    report(results, t0)


def infra(cmd):
    p = subprocess.run([INFRA, cmd], capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr


def start_apply(s, n):
    """apply of release n, in the background: the Popen."""
    return subprocess.Popen([TTDEPLOY, "apply", "--progress", "plain", s.plan],
                            env={**os.environ, **release(n)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def recover_check_and_apply(s, new, old):
    """After a fault: recover (when the newest deployment is unfinished), the consistency
    check, then an apply of release new that must succeed."""
    if s.history()[0]["status"] == "running":
        r = s.run("recover")
        assert r.returncode in (0, 1), r.stdout + r.stderr
    problems = check_consistent(s, new, old)
    assert not problems, problems
    a = s.run("apply", env=release(new))
    assert a.returncode == 0, a.stdout + a.stderr


def test_dockerd_restarted_while_the_app_tier_comes_up():
    """The private daemon stopped during app_up (the api takes 4 s to start) and started
    again: a clear failure naming the daemon, then the rollback (or recover) completes."""
    s = FaultStack("ttfault-dockerd", "sql",
                   api_command='["sh", "-c", "sleep 4; exec httpd -f -p 8000 -h /www"]')
    try:
        fresh_database(s)
        s.next_migration()
        proc = start_apply(s, 1)
        try:
            wait_for_state(s, {"app_up"}, timeout=60)
            infra("down")
        finally:
            infra("up")  # whatever happened, the shared daemon is back before the lock is released
        out, err = proc.communicate(timeout=240)
        assert proc.returncode != 0, out + err
        assert re.search(r"daemon|docker\.sock|dockerd", err), f"the failure names the daemon: {err}"
        recover_check_and_apply(s, 1, 0)  # recover only if ttdeploy could not finish
        print(f"    dockerd fault: the apply said: {err.strip().splitlines()[-1]}", flush=True)
    finally:
        s.close()


def test_store_unwritable_mid_run():
    """The store's files made immutable (chattr +i: root ignores file modes, not this) while
    the app tier comes up: the tier in flight ends, then ttdeploy stops before the next action
    (no verify, no rollback it could not record) and says so; recover finishes the job."""
    if not shutil.which("chattr"):
        raise AssertionError("chattr not found (e2fsprogs)")
    s = FaultStack("ttfault-store", "sql",
                   api_command='["sh", "-c", "sleep 3; exec httpd -f -p 8000 -h /www"]')
    files = []
    try:
        fresh_database(s)
        s.next_migration()
        proc = start_apply(s, 1)
        wait_for_state(s, {"app_up"}, timeout=60)
        files = [f for f in (s.db, s.db + "-wal", os.path.dirname(s.db)) if os.path.exists(f)]
        subprocess.run(["chattr", "+i", *files], check=True)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode != 0, out + err
        assert "the store could not record" in err, err
        assert not re.search(r"==> (verify|deciding|rolling back)", out), \
            f"nothing acts once the store cannot record: {out}"
        for svc in ("api", "web"):  # the new release, as the tier in flight left it
            image = api("GET", f"/containers/{project_containers(s.project)[svc]['Id']}/json")[1]
            assert image["Config"]["Image"] == release(1)[f"{svc.upper()}_IMAGE"], (svc, image)
        subprocess.run(["chattr", "-i", *files], check=True)
        files = []
        assert s.history()[0]["status"] == "running", "the store says where it stopped"
        recover_check_and_apply(s, 1, 0)
    finally:
        if files:
            subprocess.run(["chattr", "-i", *files])
        s.close()


if __name__ == "__main__":
    run(globals())
