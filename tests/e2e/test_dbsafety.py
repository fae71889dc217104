"""test_dbsafety.py - what ttdeploy does to databases and backup files when
things go wrong, against a real PostgreSQL on the private dockerd:

- a database named like a scratch copy that this deployment did not record
  (made by hand) is neither replaced nor dropped;
- a crash (TTDEPLOY_CRASH_AT_DB: SIGKILL right after the N-th database
  action) with a scratch database left: `recover` drops it;
- a crash in the middle of a restore's swap (live refusing connections, or
  live renamed away): `recover` puts the live database back (its name, its
  connections) and finishes the rollback, every row there;
- backup files: 0600 in a 0700 directory, never written through a symlink
  or over a file at the partial or the final name;
- a backup.dir without room (a tmpfs filled but for 256 KiB): the
  deployment stops in preflight, before the backup writes anything and
  before migrate; older backups keep their sha256, and the message says
  how much room a backup needs; and a disk that fills while the backup
  runs (a hook before the backup leaves 256 KiB): the partial file is
  removed, older backups keep their sha256, the message names the file
  and ENOSPC, and migrate never starts."""
import glob
import hashlib
import os
import sqlite3
import stat
import subprocess
import time

from harness import run, ttdeploy
from test_database import PORTS, TOPICS, URL, DbStack, psql
from test_apply import PORTS as RB_PORTS
from test_rollback import Stack, db_plan, scratch_name

MAINT = URL.replace("/tasktracker", "/postgres")


def store_rows(plan, sql):
    con = sqlite3.connect(os.path.join(os.path.dirname(plan), ".ttdeploy", "state.db"), timeout=10)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def next_id(s):
    rows = store_rows(s.plan, "SELECT coalesce(max(id), 0) + 1 FROM deployments")
    return rows[0][0]


def scratch_dbs(maint=MAINT):
    return psql("SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database WHERE "
                "datname ~ '^tt_(rehearsal|verify|restore)_'", maint)


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_a_scratch_name_ttdeploy_did_not_record_is_never_dropped():
    s = DbStack("tte2e-dbs-foreign")
    mine = None
    try:
        s.migration("0001_topics.up.sql", TOPICS)
        assert s.apply().returncode == 0
        s.migration("0002_more.up.sql", "ALTER TABLE topics ADD COLUMN body text;\n")
        # The name the next deployment's rehearsal would take, made by hand and holding data.
        mine = scratch_name("rehearsal", "tasktracker", next_id(s))
        psql(f"CREATE DATABASE {mine}", MAINT)
        psql("CREATE TABLE mine (v text); INSERT INTO mine VALUES ('precious')",
             URL.replace("/tasktracker", "/" + mine))
        p = s.apply()
        assert p.returncode == 1, p.stdout + p.stderr
        assert f"database {mine} already exists" in p.stderr, p.stderr
        assert "did not create it" in p.stderr and "neither replaces nor drops it" in p.stderr, p.stderr
        assert psql("SELECT v FROM mine", URL.replace("/tasktracker", "/" + mine)) == "precious"
        assert psql("SELECT max(version) FROM ttdeploy_schema_migrations") == "1"
        assert psql("SELECT count(*) FROM topics") == "1000"
        # and what this deployment did make is recorded, and dropped
        rows = store_rows(s.plan, "SELECT purpose, dropped_at IS NOT NULL FROM scratch_databases "
                          "ORDER BY id")
        assert rows and all(r[1] for r in rows), rows
        assert mine not in [r[0] for r in rows]
    finally:
        if mine:
            psql(f"DROP DATABASE IF EXISTS {mine}", MAINT)
        s.close()


def test_recover_drops_the_scratch_database_a_crash_left():
    s = DbStack("tte2e-dbs-crash")
    try:
        s.migration("0001_topics.up.sql", TOPICS)
        assert s.apply().returncode == 0
        s.migration("0002_more.up.sql", "ALTER TABLE topics ADD COLUMN body text;\n")
        # database actions of this apply: 1 the backup's restore check, 2 the rehearsal copy
        p = ttdeploy("apply", "--progress", "plain", s.plan,
                     env=dict(PORTS, TTDEPLOY_CRASH_AT_DB="2"))
        assert p.returncode == -9, p.stdout + p.stderr
        left = scratch_dbs()
        assert left.startswith("tt_rehearsal_"), left
        pending = store_rows(s.plan, "SELECT name FROM scratch_databases WHERE dropped_at IS NULL")
        assert [r[0] for r in pending] == [left], pending
        p = ttdeploy("recover", "--progress", "plain", s.plan, env=PORTS)
        assert "drop 1 scratch database(s)" in p.stdout, p.stdout + p.stderr
        assert f"dropped {left} (rehearsal)" in p.stdout, p.stdout
        assert scratch_dbs() == "", scratch_dbs()
        assert store_rows(s.plan, "SELECT count(*) FROM scratch_databases WHERE dropped_at IS NULL") == [(0,)]
        assert psql("SELECT count(*) FROM topics") == "1000"
        assert psql("SELECT max(version) FROM ttdeploy_schema_migrations") == "1"
        assert store_rows(s.plan, "SELECT count(*) FROM deployments WHERE status = 'running'") == [(0,)]
    finally:
        s.close()


RESTORE_RULES = ("    - when: {phase: verify, check: topics}\n      severity: critical\n"
                 "      do: [migrations, restore]\n")


def test_a_crash_in_the_middle_of_a_restore_is_undone_by_recover():
    s = Stack("tte2e-dbs-restore", plan_edit=db_plan(RESTORE_RULES))
    mig = os.path.join(s.dir, "migrations")
    os.makedirs(mig)
    with open(os.path.join(mig, "0001_topics.up.sql"), "w") as f:
        f.write(TOPICS)
    with open(os.path.join(mig, "0001_topics.down.sql"), "w") as f:
        f.write("DROP TABLE topics;\n")
    count = "SELECT count(*), sum(length(title)) FROM topics"
    live = URL.replace("26432", RB_PORTS["PG_PORT"])  # Stack: test_apply's ports
    maint = live.replace("/tasktracker", "/postgres")
    try:
        p = s.apply(env={"RELEASE": "v1"})
        assert p.returncode == 0, p.stdout + p.stderr
        psql("INSERT INTO topics (title) VALUES ('user data')", live)
        before = psql(count, live)
        with open(os.path.join(mig, "0002_cleanup.up.sql"), "w") as f:
            f.write("DELETE FROM topics WHERE id % 2 = 0;\n")
        with open(os.path.join(mig, "0002_cleanup.down.sql"), "w") as f:
            f.write("SELECT 1;\n")
        # database actions: 1 rehearsal copy, 2 the restored copy, 3 live refuses connections,
        # 4 live renamed away (the restored copy not yet in its place)
        for crash_at, left in (("3", "refusing connections"), ("4", "renamed away")):
            dep = s.history()[0]["id"] + 1
            p = s.apply(env={"RELEASE": "v2", "TTDEPLOY_CRASH_AT_DB": crash_at})
            assert p.returncode == -9, p.stdout + p.stderr
            allow = psql("SELECT datallowconn FROM pg_database WHERE datname = 'tasktracker'", maint)
            assert allow == ("f" if crash_at == "3" else ""), (left, allow)
            pending = store_rows(s.plan, "SELECT change FROM database_changes WHERE undo_done_at "
                                 f"IS NULL AND kept_at IS NULL AND deployment_id = {dep} ORDER BY id")
            want = ["deny_connections"] + (["renamed_to"] if crash_at == "4" else [])
            assert [r[0] for r in pending] == want, (left, pending)
            p = ttdeploy("recover", "--progress", "plain", s.plan, env=RB_PORTS)
            assert p.returncode == 1, p.stdout + p.stderr
            assert "tasktracker accepts connections again" in p.stdout, p.stdout
            if crash_at == "4":
                assert "tasktracker renamed back from tt_pre_restore_" in p.stdout, p.stdout
            d = s.show(dep)
            assert d["status"] == "rolled_back", d["error"]
            assert psql("SELECT datallowconn FROM pg_database WHERE datname = 'tasktracker'",
                        maint) == "t"
            assert psql(count, live) == before, (left, before)
            kept = scratch_name(f"pre_restore_{dep}", "tasktracker", dep)
            assert psql("SELECT count(*) FROM topics", live.replace("/tasktracker", "/" + kept)) == "501"
            assert scratch_dbs(maint) == "", scratch_dbs(maint)
            assert store_rows(s.plan, "SELECT count(*) FROM database_changes WHERE undo_done_at IS "
                              "NULL AND kept_at IS NULL") == [(0,)]
            psql(f"DROP DATABASE {kept}", maint)
    finally:
        s.close()


def test_backup_files_are_private_and_never_written_through_what_is_there():
    s = DbStack("tte2e-dbs-files")
    victim = os.path.join(s.dir, "victim")
    try:
        s.migration("0001_topics.up.sql", TOPICS)
        assert s.apply().returncode == 0
        assert s.apply().returncode == 0
        backups = os.path.join(s.dir, "backups")
        [b] = s.backups()
        assert stat.S_IMODE(os.stat(backups).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(b).st_mode) == 0o600
        assert not glob.glob(os.path.join(backups, "*.partial"))
        with open(victim, "w") as f:
            f.write("victim\n")
        s.migration("0002_more.up.sql", "ALTER TABLE topics ADD COLUMN body text;\n")
        for where in ("partial", "final"):
            dep = next_id(s)
            now = int(time.time())
            planted = []
            for t in range(now - 2, now + 60):  # every name the backup could take
                stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))
                final = os.path.join(backups, f"{s.project}_{dep}_{stamp}.dump")
                if where == "partial":
                    os.symlink(victim, final + ".partial")
                    planted.append(final + ".partial")
                else:
                    with open(final, "w") as f:
                        f.write("someone else's\n")
                    planted.append(final)
            p = s.apply()
            assert p.returncode == 1, p.stdout + p.stderr
            if where == "partial":
                assert "cannot create the backup file" in p.stderr and "File exists" in p.stderr, p.stderr
            else:
                assert "File exists" in p.stderr and "left alone" in p.stderr, p.stderr
            with open(victim) as f:
                assert f.read() == "victim\n", "written through a symlink"
            for path in planted:
                if where == "partial":
                    assert os.readlink(path) == victim
                else:
                    with open(path) as f:
                        assert f.read() == "someone else's\n", path
                os.unlink(path)
            assert not glob.glob(os.path.join(backups, "*.partial")), os.listdir(backups)
            assert psql("SELECT max(version) FROM ttdeploy_schema_migrations") == "1"
    finally:
        s.close()


def nothing_lost(backups, older):
    """Only the older backups are there, each with its sha256; the schema is still at 2."""
    assert os.listdir(backups) == [os.path.basename(b) for b in older], os.listdir(backups)
    for b, digest in older.items():
        assert sha(b) == digest, b
    assert psql("SELECT max(version) FROM ttdeploy_schema_migrations") == "2"
    assert psql("SELECT to_regclass('after_backup') IS NULL") == "t"


def test_disk_full_for_a_backup_stops_before_migrate():
    """A backup directory without room for the backup: since the preflight phase, apply
    stops there (1.5 x pg_database_size + 64 MiB is the estimate), before the backup
    writes anything; before it, the dump itself failed with ENOSPC.  Older backups,
    schema and rows are untouched."""
    s = DbStack("tte2e-dbs-full")
    backups = os.path.join(s.dir, "backups")
    os.makedirs(backups, mode=0o700)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=120m,mode=0700", "tmpfs", backups],
                   check=True)
    try:
        s.migration("0001_topics.up.sql", TOPICS)
        assert s.apply().returncode == 0
        s.migration("0002_more.up.sql", "ALTER TABLE topics ADD COLUMN body text;\n")
        assert s.apply().returncode == 0
        older = {b: sha(b) for b in s.backups()}
        assert len(older) == 1, older
        # the database grows, and the file system fills up but for 256 KiB
        psql("INSERT INTO topics (title) SELECT md5(g::text) || md5((g * 7)::text) "
             "FROM generate_series(1, 20000) g")
        rows = psql("SELECT count(*) FROM topics")
        st = os.statvfs(backups)
        filler = os.path.join(backups, "filler")
        with open(filler, "wb") as f:
            f.write(b"\0" * (st.f_bavail * st.f_frsize - 256 * 1024))
        s.migration("0003_big.up.sql", "CREATE TABLE after_backup (id int);\n")
        p = s.apply()
        assert p.returncode == 1, p.stdout + p.stderr
        assert "preflight check backup-dir failed: backup directory " + backups in p.stderr, \
            p.stderr
        assert "a backup needs about" in p.stderr, p.stderr
        assert "free space there, or point backup.dir" in p.stderr, p.stderr
        os.unlink(filler)
        nothing_lost(backups, older)
        assert psql("SELECT count(*) FROM topics") == rows
        d = s.last()
        assert not [st for st in d["steps"] if st["phase"] in ("backup", "migrate")], d["steps"]

        # The disk fills while the backup runs (after preflight measured room): a hook
        # before the backup leaves 256 KiB, so pg_dump's output hits ENOSPC.
        st = os.statvfs(backups)
        with open(s.plan, "a") as f:
            f.write("hooks:\n  backup:\n    before:\n      - name: fill-disk\n"
                    f"        run: head -c {st.f_bavail * st.f_frsize - 256 * 1024} /dev/zero"
                    f" > {filler}\n")
        p = s.apply()
        assert p.returncode == 1, p.stdout + p.stderr
        assert "cannot write the backup " + backups in p.stderr, p.stderr
        assert ".partial" in p.stderr and "ENOSPC" in p.stderr, p.stderr
        assert "free space there or point backup.dir at a larger filesystem" in p.stderr, p.stderr
        os.unlink(filler)
        nothing_lost(backups, older)
        d = s.last()
        assert [st for st in d["steps"] if st["phase"] == "preflight" and st["status"] == "ok"]
        assert not [st for st in d["steps"] if st["phase"] == "migrate"], d["steps"]
    finally:
        subprocess.run(["umount", backups], check=False)
        s.close()


if __name__ == "__main__":
    run(globals())
