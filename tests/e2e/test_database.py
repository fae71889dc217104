"""test_database.py - the database phases against a real PostgreSQL in a
container from the offline image: backups that restore to identical row
counts, SQL migrations recorded with their revisions, a broken migration
stopped at rehearsal with the real database unchanged, retention, changed
migrations, wrong passwords."""
import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

from harness import ROOT, api, last_deployment, project_containers, purge_project, run, ttdeploy

EXAMPLE = os.path.join(ROOT, "examples", "tasktracker")
PORTS = {"PG_PORT": "26432", "API_PORT": "26001", "HTTP_PORT": "26081"}
URL = "postgresql://postgres:tasktracker@127.0.0.1:26432/tasktracker"

PLAN = """version: 1
project: {project}
release: {{version: v1}}
tiers: {{infra: [postgres, nats], app: [api, worker, dashboard, nginx]}}
database:
  service: postgres
  url: postgresql://postgres:{password}@127.0.0.1:26432/tasktracker
backup: {{dir: backups, verify: restore, keep: {{last: 2}}}}
migrate: {{kind: sql, dir: migrations}}
verify:
  - {{name: topics, sql: "SELECT count(*) FROM topics", expect: ">= before"}}
"""

REHEARSAL_FAILED = re.compile(r"rehearsal on tt_rehearsal_[0-9a-f]{16} failed, the real database "
                              r"was not touched")
# 63 bytes, the most PostgreSQL keeps of a name: "<db>_ttverify" was cut back to it
LONG_DB = "tasktracker_orders_inventory_and_invoices_of_the_north_region_e"

TOPICS = ("CREATE TABLE topics (id serial PRIMARY KEY, title text NOT NULL);\n"
          "INSERT INTO topics (title) SELECT 't' || g FROM generate_series(1, 1000) g;\n")


class DbStack:
    def __init__(self, project, password="tasktracker"):
        self.project = project
        self.dir = tempfile.mkdtemp(prefix="ttdeploy-db-")
        with open(os.path.join(EXAMPLE, "compose.yml")) as f:
            text = f.read().replace("name: tasktracker", f"name: {project}")
        with open(os.path.join(self.dir, "compose.yml"), "w") as f:
            f.write(text)
        with open(os.path.join(self.dir, "plan.yml"), "w") as f:
            f.write(PLAN.format(project=project, password=password))
        os.makedirs(os.path.join(self.dir, "migrations"))
        self.plan = os.path.join(self.dir, "plan.yml")

    def migration(self, name, sql):
        with open(os.path.join(self.dir, "migrations", name), "w") as f:
            f.write(sql)

    def apply(self, *args):
        return ttdeploy("apply", "--progress", "plain", *args, self.plan, env=PORTS)

    def last(self):
        return last_deployment(self.plan)

    def backups(self):
        return sorted(glob.glob(os.path.join(self.dir, "backups", "*.dump")))

    def close(self):
        purge_project(self.project)
        shutil.rmtree(self.dir, ignore_errors=True)


def psql(sql, url=URL):
    p = subprocess.run(["psql", url, "-At", "-c", sql], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_migrations_backup_restore_and_rehearsal():
    s = DbStack("tte2e-db")
    try:
        s.migration("0001_topics.up.sql", TOPICS)
        s.migration("0001_topics.down.sql", "DROP TABLE topics;\n")
        p = s.apply()
        assert p.returncode == 0, p.stdout + p.stderr
        d = s.last()
        assert d["migrations"][0]["revision_before"] == "0"
        assert d["migrations"][0]["revision_after"] == "1"
        assert d["migrations"][0]["rehearsed"] == "0001_topics by template copy"
        backup_step = next(st for st in d["steps"] if st["phase"] == "backup")
        assert backup_step["status"] == "skipped", "first deployment: no database to back up yet"
        assert psql("SELECT count(*) FROM topics") == "1000"

        # second release: a backup that restores to identical row counts, then a new migration
        s.migration("0002_index.up.sql", "CREATE INDEX topics_title ON topics(title);\n")
        p = s.apply("--dry-run")
        assert "current revision 1, target 2" in p.stdout and "would apply 0002_index" in p.stdout, p.stdout
        p = s.apply()
        assert p.returncode == 0, p.stdout + p.stderr
        d = s.last()
        b = d["backups"][0]
        assert b["verified"] == "restore" and b["bytes"] > 0 and len(b["sha256"]) == 64
        step = next(st for st in d["steps"] if st["phase"] == "backup")
        assert "equal row counts (public.topics=1000" in step["detail"], step["detail"]
        # restore it ourselves, with the host's pg_restore, and count
        psql("DROP DATABASE IF EXISTS tt_check", URL.replace("/tasktracker", "/postgres"))
        psql("CREATE DATABASE tt_check", URL.replace("/tasktracker", "/postgres"))
        r = subprocess.run(["pg_restore", "--no-owner", "-d", URL.replace("/tasktracker", "/tt_check"),
                            b["path"]], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert psql("SELECT count(*) FROM topics", URL.replace("/tasktracker", "/tt_check")) == "1000"
        assert d["migrations"][0]["revision_before"] == "1" and d["migrations"][0]["revision_after"] == "2"

        # a broken migration fails at rehearsal; the real database is unchanged
        s.migration("0003_broken.up.sql", "CREATE TABLE half (id int);\nINSERT INTO nope VALUES (1);\n")
        p = s.apply()
        assert p.returncode == 1, p.stdout + p.stderr
        assert REHEARSAL_FAILED.search(p.stderr), p.stderr
        assert 'relation "nope" does not exist' in p.stderr
        assert psql("SELECT to_regclass('half') IS NULL") == "t", "the real database is unchanged"
        assert psql("SELECT max(version) FROM ttdeploy_schema_migrations") == "2"
        assert psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'tt_rehearsal_%'") == "0"
        d = s.last()
        assert d["status"] == "failed" and d["state"] == "failed"
        assert next(st for st in d["steps"] if st["phase"] == "migrate")["status"] == "failed"
        os.unlink(os.path.join(s.dir, "migrations", "0003_broken.up.sql"))

        # an applied migration that changed is refused
        s.migration("0001_topics.up.sql", TOPICS + "-- edited\n")
        p = s.apply()
        assert p.returncode == 1 and "migration 0001_topics was changed after it was applied" in p.stderr, p.stderr
        s.migration("0001_topics.up.sql", TOPICS)

        # retention: keep the last 2, never this deployment's or the previous one's
        for _ in range(2):
            assert s.apply().returncode == 0
        files = s.backups()
        assert len(files) == 2, files
        d = s.last()
        assert os.path.exists(d["backups"][0]["path"])
    finally:
        s.close()


def test_rehearsal_restores_the_backup_when_sessions_are_open():
    s = DbStack("tte2e-db2")
    try:
        with open(s.plan) as f:  # this one backs up with the host's pg_dump
            text = f.read().replace("verify: restore,", "verify: restore, via: host,")
        with open(s.plan, "w") as f:
            f.write(text)
        s.migration("0001_topics.up.sql", TOPICS)
        assert s.apply().returncode == 0
        s.migration("0002_more.up.sql", "ALTER TABLE topics ADD COLUMN body text;\n")
        holder = subprocess.Popen(["psql", URL, "-c", "SELECT pg_sleep(60)"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        try:
            p = s.apply()
        finally:
            holder.kill()
            holder.wait()
        assert p.returncode == 0, p.stdout + p.stderr
        assert "restore of this deployment's backup (the database has open sessions)" in p.stdout
        d = s.last()
        m = d["migrations"][0]
        assert m["revision_after"] == "2" and "restore of this deployment's backup" in m["rehearsed"]
        step = next(st for st in d["steps"] if st["phase"] == "backup")
        assert step["intent"].startswith("pg_dump on the host against the database url"), step
        assert "equal row counts (public.topics=1000" in step["detail"], step["detail"]
    finally:
        s.close()


def test_a_long_database_name_survives_rehearsal_and_verify_by_restore():
    s = DbStack("tte2e-dblong")
    try:
        assert len(LONG_DB.encode()) == 63
        s.migration("0001_topics.up.sql", TOPICS)
        p = s.apply()
        assert p.returncode == 0, p.stdout + p.stderr
        # the same data under a 63-byte name, and the plan pointed at it
        maint = URL.replace("/tasktracker", "/postgres")
        long_url = URL.replace("/tasktracker", "/" + LONG_DB)
        psql(f"DROP DATABASE IF EXISTS {LONG_DB}", maint)
        psql(f"CREATE DATABASE {LONG_DB}", maint)
        dump = subprocess.run(["pg_dump", "--format=custom", URL], capture_output=True, timeout=120)
        assert dump.returncode == 0, dump.stderr
        r = subprocess.run(["pg_restore", "--no-owner", "-d", long_url], input=dump.stdout,
                           capture_output=True, timeout=120)
        assert r.returncode == 0, r.stderr
        with open(s.plan) as f:
            text = f.read().replace("/tasktracker\n", f"/{LONG_DB}\n")
        with open(s.plan, "w") as f:
            f.write(text)
        s.migration("0002_index.up.sql", "CREATE INDEX topics_title ON topics(title);\n")
        p = s.apply()
        assert p.returncode == 0, p.stdout + p.stderr
        assert psql("SELECT count(*) FROM topics", long_url) == "1000", "the live rows are all there"
        assert psql("SELECT max(version) FROM ttdeploy_schema_migrations", long_url) == "2"
        d = s.last()
        step = next(st for st in d["steps"] if st["phase"] == "backup")
        assert re.search(r"restored into tt_verify_[0-9a-f]{16} with equal row counts", step["detail"]), \
            step["detail"]
        assert re.match(r"0002_index by template copy", d["migrations"][0]["rehearsed"]), d["migrations"]
        assert psql("SELECT count(*) FROM pg_database WHERE datname ~ '^tt_(rehearsal|verify)_'",
                    maint) == "0", "no scratch database is left"
        psql(f"DROP DATABASE {LONG_DB}", maint)
    finally:
        s.close()


def test_a_url_that_names_the_database_in_its_options_is_refused():
    s = DbStack("tte2e-dbopt")
    try:
        with open(s.plan) as f:
            text = f.read().replace("/tasktracker\n", "/tasktracker?dbname=postgres\n")
        with open(s.plan, "w") as f:
            f.write(text)
        p = s.apply()
        assert p.returncode != 0, p.stdout + p.stderr
        assert "database url sets dbname= in its options" in p.stderr, p.stderr
    finally:
        s.close()


def test_wrong_password_is_a_clear_error_without_waiting():
    s = DbStack("tte2e-db3", password="wrong")
    try:
        s.migration("0001_topics.up.sql", TOPICS)
        t0 = time.monotonic()
        p = s.apply()
        took = time.monotonic() - t0
        assert p.returncode == 1
        assert 'password authentication failed for user "postgres"' in p.stderr, p.stderr
        assert took < 30, f"a wrong password is not retried until the deadline ({took:.1f} s)"
    finally:
        s.close()



def test_unreachable_database_is_retried_until_the_deadline():
    s = DbStack("tte2e-db4")
    try:
        s.migration("0001_topics.up.sql", TOPICS)
        assert s.apply().returncode == 0, "the database is up and initialised"
        with open(s.plan) as f:
            text = f.read().replace("127.0.0.1:26432", "127.0.0.1:26439")  # nothing listens there
        with open(s.plan, "w") as f:
            f.write(text + "timeouts: {healthy: 3s}\n")
        t0 = time.monotonic()
        p = s.apply()
        took = time.monotonic() - t0
        assert p.returncode == 1
        assert "cannot connect to the database" in p.stderr and "Connection refused" in p.stderr, p.stderr
        assert took >= 2.5, f"a refused connection is retried within the deadline ({took:.1f} s)"
        assert s.last()["state"] == "failed"
    finally:
        s.close()


COMMAND_PLAN = """version: 1
project: {project}
release:
  version: v1
  images: {{api: ttdeploy-test/migrator:2, worker: ttdeploy-test/migrator:2}}
tiers: {{infra: [postgres, nats], app: [api, worker, dashboard, nginx]}}
database:
  service: postgres
  url: postgresql://postgres:tasktracker@127.0.0.1:26432/tasktracker
backup: {{dir: backups, verify: list}}
migrate:
  kind: command
  service: api
  up: [fake-alembic, upgrade, head]
  down: [fake-alembic, downgrade, "{{revision_before}}"]
  revision_query: SELECT version_num FROM alembic_version
  stop_during: [worker]
"""


def command_stack(project, fail=None):
    s = DbStack(project)
    with open(s.plan, "w") as f:
        f.write(COMMAND_PLAN.format(project=project))
    if fail:
        s_compose = os.path.join(s.dir, "compose.yml")
        with open(s_compose) as f:
            text = f.read()
        text = text.replace("    NATS_URL: nats://nats:4222\n",
                            f"    NATS_URL: nats://nats:4222\n    FAKE_ALEMBIC_FAIL: {fail}\n")
        with open(s_compose, "w") as f:
            f.write(text)
    return s


def test_command_migration_upgrades_and_its_downgrade_is_rehearsed():
    s = command_stack("tte2e-alembic")
    try:
        p = s.apply()
        assert p.returncode == 0, p.stdout + p.stderr
        m = s.last()["migrations"][0]
        assert m["kind"] == "command" and m["revision_before"] == "" and m["revision_after"] == "r2", m
        assert m["rehearsed"] == "up base -> r2, down -> base by template copy", m
        assert psql("SELECT version_num FROM alembic_version") == "r2"
        assert psql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'topics' "
                    "AND column_name = 'body'") == "1"
        assert psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'tt_rehearsal_%'") == "0"
        # the second release has nothing to migrate; the worker is stopped during it and back after
        before = api("GET", f"/containers/{project_containers(s.project)['worker']['Id']}/json")[1]
        p = s.apply()
        assert p.returncode == 0, p.stdout + p.stderr
        d = s.last()
        assert d["migrations"][0]["revision_before"] == "r2" == d["migrations"][0]["revision_after"]
        after = api("GET", f"/containers/{project_containers(s.project)['worker']['Id']}/json")[1]
        assert after["State"]["Running"] and after["State"]["StartedAt"] > before["State"]["StartedAt"], \
            "the worker was stopped during the migration and started after"
        assert d["backups"][0]["verified"] == "list"
        oneoffs = [c for c in api("GET", "/containers/json?all=1")[1]
                   if c["Labels"].get("com.docker.compose.oneoff") == "True"
                   and c["Labels"].get("com.docker.compose.project") == s.project]
        assert oneoffs == [], "one-off migration containers are removed"
    finally:
        s.close()


def test_broken_command_migration_fails_at_rehearsal():
    s = command_stack("tte2e-alembic2", fail="r2")
    try:
        p = s.apply()
        assert p.returncode == 1, p.stdout + p.stderr
        assert REHEARSAL_FAILED.search(p.stderr), p.stderr
        assert "simulated failure" in p.stderr, "the migration's own output is in the error"
        assert psql("SELECT to_regclass('topics') IS NULL AND to_regclass('alembic_version') IS NULL") == "t"
        assert s.last()["status"] == "failed"
    finally:
        s.close()


if __name__ == "__main__":
    run(globals())
