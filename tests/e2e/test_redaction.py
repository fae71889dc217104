"""test_redaction.py - no database or check password reaches ps, the output,
the store or the JSON outputs.  A real PostgreSQL whose password holds
every kind of reserved character (set with ALTER ROLE), named %-encoded in
database.url; backups inside the container and on the host (with
verify-by-restore), SQL migrations with rehearsal, a verify SQL check and an
HTTP check whose URL carries user:pass@, a wrong-password URL (so libpq's
error is printed), and a restore by rollback.  Meanwhile every process's
/proc/PID/cmdline (the host's and, through the shared kernel, the
containers') is read over and over: no password may appear in any argv."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse

from harness import ROOT, purge_project, run, ttdeploy

EXAMPLE = os.path.join(ROOT, "examples", "tasktracker")
PROJECT = "tte2e-redact"
PORTS = {"PG_PORT": "29432", "API_PORT": "29001", "HTTP_PORT": "29081"}
FIRST = "postgresql://postgres:tasktracker@127.0.0.1:29432/tasktracker"
SECRET = "p@ss:w/rd?#%&=+ ;'\"\\"  # what ALTER ROLE sets
WRONG = "Wr0ng@pw#Zq/x"  # a wrong password: libpq's error is printed
HTTP_SECRET = "hTTp:S3cr@t/Vq"  # in the verify check's URL

PLAN = """version: 1
project: {project}
release: {{version: {version}}}
tiers: {{infra: [postgres, nats], app: [api, worker, dashboard, nginx]}}
database:
  service: postgres
  url: '{url}'
backup: {{dir: backups, verify: restore{via}}}
migrate: {{kind: sql, dir: migrations}}
verify:
  - {{name: topics, sql: "SELECT count(*) FROM topics", expect: ">= 1"}}
  - {{name: health, http: {{url: '{http}', status: 200}}, probes: 2}}
"""

TOPICS = ("CREATE TABLE topics (id serial PRIMARY KEY, title text NOT NULL);\n"
          "INSERT INTO topics (title) SELECT repeat('t', 40) || g FROM generate_series(1, 300000) g;\n")


def enc(s):
    return urllib.parse.quote(s, safe="")


def forms(secret):
    """Every way the secret may be written: raw, %-encoded (both cases, all or
    the least), escaped for a conninfo, escaped for JSON."""
    out = {secret, enc(secret), enc(secret).lower(),
           urllib.parse.quote(secret, safe="!$&()*+,;=:"),
           secret.replace("\\", "\\\\").replace("'", "\\'"),
           json.dumps(secret)[1:-1]}
    return [f.encode() for f in out]


SECRETS = forms(SECRET) + forms(WRONG) + forms(HTTP_SECRET)
LEAK_WORDS = [b"w/rd", b"w%2Frd", b"w%2frd", b"Wr0ng", b"S3cr@t", b"S3cr%40t"]


def leaks(data):
    """The secret forms found in data (bytes)."""
    return [f for f in SECRETS + LEAK_WORDS if f in data]


class Watch(threading.Thread):
    """Reads every process's argv until stopped: the leaks, and which
    PostgreSQL tools were seen running (so the watch is known to have looked)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop = False
        self.found, self.tools = [], set()

    def run(self):
        while not self.stop:
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        argv = f.read()
                except OSError:
                    continue
                name = os.path.basename(argv.split(b"\0")[0])
                if name in (b"pg_dump", b"pg_restore", b"psql"):
                    self.tools.add(name.decode())
                hit = leaks(argv.replace(b"\0", b" "))
                if hit:
                    self.found.append((pid, argv, hit))
            time.sleep(0.002)


def psql(url, sql):
    p = subprocess.run(["psql", url, "-At", "-c", sql], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_no_password_reaches_ps_output_or_store():
    d = tempfile.mkdtemp(prefix="ttdeploy-redact-")
    plan = os.path.join(d, "plan.yml")
    outputs = []
    db_url = f"postgresql://postgres:{enc(SECRET)}@127.0.0.1:29432/tasktracker"
    http = f"http://ops:{enc(HTTP_SECRET)}@127.0.0.1:29001/api/health"

    def write_plan(url, version, via=""):
        with open(plan, "w") as f:
            f.write(PLAN.format(project=PROJECT, version=version, url=url, via=via, http=http))

    def migration(name, sql):
        with open(os.path.join(d, "migrations", name), "w") as f:
            f.write(sql)

    def tt(*args, watch=None):
        w = Watch() if watch else None
        if w:
            w.start()
        p = ttdeploy(*args, env=PORTS)
        if w:
            w.stop = True
            w.join()
            watch.found += w.found
            watch.tools |= w.tools
        outputs.append((" ".join(args), p.stdout.encode() + p.stderr.encode()))
        return p

    try:
        with open(os.path.join(EXAMPLE, "compose.yml")) as f:
            text = f.read().replace("name: tasktracker", f"name: {PROJECT}")
        with open(os.path.join(d, "compose.yml"), "w") as f:
            f.write(text)
        os.makedirs(os.path.join(d, "migrations"))
        migration("0001_topics.up.sql", TOPICS)
        migration("0001_topics.down.sql", "DROP TABLE topics;\n")
        write_plan(FIRST, "v1")
        p = tt("apply", "--progress", "plain", plan)
        assert p.returncode == 0, p.stdout + p.stderr
        quoted = SECRET.replace("'", "''")
        psql(FIRST, f"ALTER ROLE postgres PASSWORD '{quoted}'")

        # backup in the container (verified by a restore), a rehearsed migration, verify
        seen = Watch()
        migration("0002_index.up.sql", "CREATE INDEX topics_title ON topics(title);\n")
        migration("0002_index.down.sql", "DROP INDEX topics_title;\n")
        write_plan(db_url, "v2")
        p = tt("apply", "--progress", "plain", plan, watch=seen)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "rehearsing on tt_rehearsal_" in p.stdout, p.stdout
        v2 = json.loads(tt("history", "--plan", plan, "--json", "--limit", "1").stdout)[0]["id"]

        # the same with the host's pg_dump
        migration("0003_more.up.sql", "ALTER TABLE topics ADD COLUMN body text;\n")
        migration("0003_more.down.sql", "ALTER TABLE topics DROP COLUMN body;\n")
        write_plan(db_url, "v3", via=", via: host")
        p = tt("apply", "--progress", "plain", plan, watch=seen)
        assert p.returncode == 0, p.stdout + p.stderr
        v3 = json.loads(tt("history", "--plan", plan, "--json", "--limit", "1").stdout)[0]["id"]
        assert {"pg_dump", "pg_restore"} <= seen.tools, f"the watch saw no dump: {seen.tools}"

        # back to v2: migrations down and this deployment's backup restored
        p = tt("rollback", "--progress", "plain", "--to", str(v2), "--with-migrations",
               "--restore-backup", plan, watch=seen)
        assert p.returncode == 0, p.stdout + p.stderr
        assert psql(db_url, "SELECT count(*) FROM topics") == "300000"
        assert seen.found == [], f"a password in an argv: {seen.found[:3]}"

        # a wrong password: libpq's error is printed, not the password
        write_plan(f"postgresql://postgres:{enc(WRONG)}@127.0.0.1:29432/tasktracker", "v4")
        p = tt("apply", "--progress", "plain", plan)
        assert p.returncode != 0 and "password authentication failed" in p.stderr, \
            p.stdout + p.stderr
        write_plan(db_url, "v4")

        history = json.loads(tt("history", "--plan", plan, "--json").stdout)
        for h in history:
            tt("show", "--plan", plan, "--json", str(h["id"]))
            tt("report", "--plan", plan, "--format", "json", str(h["id"]))
        shown = tt("show", "--plan", plan, "--json", str(v3)).stdout
        assert ":<redacted>@127.0.0.1:29001/api/health" in shown, "the check's URL is shown, redacted"
        for what, data in outputs:
            assert not leaks(data), f"{what}: {leaks(data)}\n{data.decode(errors='replace')[:3000]}"
        store = os.path.join(d, ".ttdeploy")
        for name in os.listdir(store):
            if name.startswith("state.db"):
                with open(os.path.join(store, name), "rb") as f:
                    data = f.read()
                assert not leaks(data), f"{name}: {leaks(data)}"
    finally:
        purge_project(PROJECT)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    run(globals())
