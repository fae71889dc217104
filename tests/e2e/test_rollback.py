"""test_rollback.py - rolling back on the private dockerd, each from a good
release N to a bad release N+1 of examples/tasktracker: an api image whose
health never passes (images rollback, N healthy again); a verify check with
a 50% HTTP error rate (the rule fires on the measured rate); a migration
that breaks data (migrations downgrade + restore, row counts as before); a
rule with `none` (N+1 stays, exit 1); a crash while the new api is waited
on, then `recover`, goes back to N whatever a catch-all says; `rollback
--to-tag` on a git repository with two tags; a crash while rolling back,
then `recover`."""
import hashlib
import json
import os
import signal
import subprocess
import time
import urllib.request

from harness import api, project_containers, run, ttdeploy
from test_apply import PORTS, Stack, wait_for_state

BASE = "ttdeploy-test/busybox:latest"
GOOD = "ttdeploy-test/rb-api:good"
BAD_HEALTH = "ttdeploy-test/rb-api:nohealth"
FLAKY = "ttdeploy-test/rb-api:flaky"

# A CGI health endpoint: always ok in the good image, every other request 500 in the flaky one.
CGI_OK = "printf 'Content-Type: text/plain\\r\\n\\r\\nok\\n'"
CGI_FLAKY = ("n=$(cat /tmp/n 2>/dev/null || echo 0); n=$((n+1)); echo $n >/tmp/n; "
             "if [ $((n % 2)) -eq 0 ]; then printf 'Status: 500 Broken\\r\\n\\r\\nfail\\n'; "
             "else printf 'Content-Type: text/plain\\r\\n\\r\\nok\\n'; fi")


def scratch_name(purpose, live, key):
    """The name ttdeploy gives a scratch database (pgdb_scratch_name in adapters/pgdb.c)."""
    return f"tt_{purpose}_" + hashlib.sha256(f"{live}\n{key}".encode()).hexdigest()[:16]


def build_image(ref, script):
    """Commits a variant of the busybox test image (script runs in it once); its ID."""
    repo, tag = ref.rsplit(":", 1)
    status, c = api("POST", "/containers/create", {"Image": BASE, "Cmd": ["sh", "-c", script]})
    assert status == 201, c
    try:
        assert api("POST", f"/containers/{c['Id']}/start")[0] == 204
        status, w = api("POST", f"/containers/{c['Id']}/wait")
        assert status == 200 and w["StatusCode"] == 0, w
        status, body = api("POST", f"/commit?container={c['Id']}&repo={repo}&tag={tag}",
                           {"Cmd": ["sh"], "Env": ["PATH=/bin"]})
        assert status == 201, body
        return body["Id"]
    finally:
        api("DELETE", f"/containers/{c['Id']}?force=1")


def cgi(body):
    """A script that installs body as /www/cgi-bin/health."""
    return ("mkdir -p /www/cgi-bin && cat >/www/cgi-bin/health <<'EOF'\n#!/bin/sh\n" + body +
            "\nEOF\nchmod +x /www/cgi-bin/health")


def images():
    build_image(GOOD, cgi(CGI_OK))
    build_image(BAD_HEALTH, cgi(CGI_OK) + " && rm /www/api/health")
    build_image(FLAKY, cgi(CGI_FLAKY))


FAST_API_HEALTH = lambda t: t.replace(
    "      interval: 5s\n      timeout: 3s\n      retries: 3\n      start_period: 2s",
    "      interval: 1s\n      timeout: 1s\n      retries: 2\n      start_period: 1s")

CGI_CHECK = lambda t: t.replace('/api/health", status: 200, body: ok}', '/cgi-bin/health", status: 200, body: ok}')


def matrix(rules):
    """Replaces the example plan's matrix with rules (YAML list items)."""
    def edit(t):
        head = t[:t.index("rollback:\n  matrix:\n")]
        return head + "rollback:\n  matrix:\n" + rules
    return edit


def both(*edits):
    def edit(t):
        for e in edits:
            t = e(t)
        return t
    return edit


def container_image(project, service):
    c = project_containers(project)[service]
    _, info = api("GET", f"/containers/{c['Id']}/json")
    return info["Config"]["Image"], info["State"]


def notes(s, dep_id):
    d = s.show(dep_id)
    return json.loads(d["notes"]) if d.get("notes") else {}


def test_explain_matrix_and_bad_input():
    s = Stack("tte2e-rb-explain", plan_edit=lambda t: t[:t.index("rollback:\n  matrix:\n")])
    try:
        p = ttdeploy("rollback", "--explain-matrix", s.plan, check=0)
        assert "built-in rollback matrix" in p.stdout, p.stdout
        assert "4. any failure -> images, migrations (critical)" in p.stdout, p.stdout
        p = ttdeploy("rollback", "--explain-matrix", "--phase", "migrate", s.plan, check=0)
        assert "rule 3 fires (failed in migrate): phase migrate -> migrations (critical)" in p.stdout
        p = ttdeploy("rollback", "--explain-matrix", "--phase", "preflight", s.plan, check=0)
        assert "rule 1 fires (failed in preflight): phase preflight -> abort (high)" in p.stdout
        p = ttdeploy("rollback", "--explain-matrix", "--measure", "latency=3", s.plan)
        assert p.returncode == 2 and "error_rate=50%" in p.stderr, p.stderr
        p = ttdeploy("rollback", "--to", "3", "--previous", s.plan)
        assert p.returncode == 2 and "one of --to, --to-tag and --previous" in p.stderr
        s.edit("plan.yml", lambda t: t + "rollback:\n  matrix:\n    - when: {condition: \"errors > 5%\"}\n"
               "      severity: high\n      do: [images]\n")
        p = ttdeploy("rollback", "--explain-matrix", s.plan)
        assert p.returncode == 2 and "plan.yml:" in p.stderr and "unknown measurement \"errors\"" in p.stderr, p.stderr
        p = ttdeploy("report", "--plan", s.plan, "42")
        assert p.returncode == 2, p.stderr
    finally:
        s.close()


def test_unhealthy_image_rolls_back_to_previous_images():
    images()
    s = Stack("tte2e-rb-images", compose_edit=FAST_API_HEALTH)
    try:
        p = s.apply(env={"API_IMAGE": GOOD, "RELEASE": "v1"})
        assert p.returncode == 0, p.stdout + p.stderr
        before = {n: c["Id"] for n, c in project_containers(s.project).items()}
        p = s.apply(env={"API_IMAGE": BAD_HEALTH, "RELEASE": "v2"})
        assert p.returncode == 1, p.stdout + p.stderr
        assert "rolled back: images done" in p.stderr, p.stderr
        h = s.history()
        assert [d["status"] for d in h] == ["rolled_back", "succeeded"], h
        d = s.show(h[0]["id"])
        assert d["state"] == "rolled_back"
        n = notes(s, h[0]["id"])
        dec = n["decision"]
        assert dec["failure"]["phase"] == "app_healthy" and dec["failure"]["service"] == "api", dec
        assert dec["failure"]["health"] == "unhealthy", dec
        assert dec["actions"] == ["images"] and dec["rule"] == 4, dec
        assert n["rolled_back_to"] == h[1]["id"]
        assert 0 < n["recovered_seconds"] < 30, n
        steps = [st for st in d["steps"] if st["phase"] == "rolling_back"]
        assert {st["service"] for st in steps if st["service"]} == {"api", "worker"}, steps
        assert all(st["status"] == "ok" for st in steps), steps
        for svc in ("api", "worker"):
            image, state = container_image(s.project, svc)
            assert image == GOOD, (svc, image)
            assert state["Running"], state
        _, state = container_image(s.project, "api")
        t0 = time.monotonic()
        while state.get("Health", {}).get("Status") != "healthy" and time.monotonic() - t0 < 10:
            time.sleep(0.2)
            _, state = container_image(s.project, "api")
        assert state["Health"]["Status"] == "healthy", state["Health"]
        after = {n: c["Id"] for n, c in project_containers(s.project).items()}
        assert after["postgres"] == before["postgres"] and after["nats"] == before["nats"]
        # the incident report answers the runbook's questions
        r = json.loads(ttdeploy("report", "--plan", s.plan, "--format", "json",
                                str(h[0]["id"]), check=0).stdout)
        assert r["trigger"]["rule"] == 4 and r["trigger"]["severity"] == "critical", r
        assert r["rolled_back"][0]["action"] == "images" and r["rolled_back"][0]["status"] == "ok"
        assert r["data"]["could_lose_data"].startswith("no"), r["data"]
        assert r["degraded"]["seconds"] > 0, r["degraded"]
        md = ttdeploy("report", "--plan", s.plan, str(h[0]["id"]), check=0).stdout
        assert "## What triggered it" in md and "## Could data have been lost?" in md, md
        # the next deployment's "previous" is N again: the store still says what runs
        st = json.loads(ttdeploy("status", "--plan", s.plan, "--json", check=0).stdout)
        assert not st["drift"], st
    finally:
        s.close()


def test_error_rate_rule_fires_on_the_measured_rate():
    images()
    rules = ("    - when: {phase: verify, check: api-health, condition: \"p95 > 10000x before\"}\n"
             "      severity: high\n      do: [images]\n"
             "    - when: {phase: verify, check: api-health, condition: \"error_rate > 5%\"}\n"
             "      severity: critical\n      do: [images]\n"
             "    - when: {}\n      severity: low\n      do: [none]\n")
    s = Stack("tte2e-rb-rate", plan_edit=both(CGI_CHECK, matrix(rules)))
    try:
        p = s.apply(env={"API_IMAGE": GOOD, "RELEASE": "v1"})
        assert p.returncode == 0, p.stdout + p.stderr
        p = s.apply(env={"API_IMAGE": FLAKY, "RELEASE": "v2"})
        assert p.returncode == 1, p.stdout + p.stderr
        h = s.history()
        assert h[0]["status"] == "rolled_back", h[0]
        dec = notes(s, h[0]["id"])["decision"]
        assert dec["rule"] == 2, dec
        assert abs(dec["failure"]["error_rate"] - 0.5) < 0.01, dec
        # p95 was measured before deploying, because a rule compares with it
        assert 0 < dec["failure"]["p95_before_ms"] < 1000, dec
        base = [st for st in s.show(h[0]["id"])["steps"] if st["action"] == "baseline"]
        assert base and base[0]["status"] == "ok" and "p95" in base[0]["detail"], base
        assert dec["measured"] == "error_rate 50.0% > 5.0%", dec
        assert container_image(s.project, "api")[0] == GOOD
        # explain says the same, without deploying
        p = ttdeploy("rollback", "--explain-matrix", "--phase", "verify", "--check", "api-health",
                     "--measure", "error_rate=50%", s.plan, check=0)
        assert "rule 2 fires (error_rate 50.0% > 5.0%)" in p.stdout, p.stdout
        p = ttdeploy("rollback", "--dry-run", "--phase", "verify", "--check", "api-health",
                     "--measure", "error_rate=2%", s.plan, check=0)
        assert "rule 3 fires (matches any failure): any failure -> none (low)" in p.stdout, p.stdout
    finally:
        s.close()


def test_none_rule_leaves_the_new_release_running():
    images()
    rules = "    - when: {phase: verify}\n      severity: low\n      do: [none]\n"
    s = Stack("tte2e-rb-none", plan_edit=both(CGI_CHECK, matrix(rules)))
    try:
        assert s.apply(env={"API_IMAGE": GOOD, "RELEASE": "v1"}).returncode == 0
        p = s.apply(env={"API_IMAGE": FLAKY, "RELEASE": "v2"})
        assert p.returncode == 1, p.stdout + p.stderr
        assert "fixed forward, the new release stays" in p.stderr, p.stderr
        h = s.history()
        assert h[0]["status"] == "failed" and h[0]["state"] == "failed", h[0]
        assert not any(st["phase"] == "rolling_back" for st in s.show(h[0]["id"])["steps"])
        for svc in ("api", "worker"):
            image, state = container_image(s.project, svc)
            assert image == FLAKY and state["Running"], (svc, image)
        r = json.loads(ttdeploy("report", "--plan", s.plan, "--format", "json", str(h[0]["id"]),
                                check=0).stdout)
        assert r["rolled_back"] == [] and "still degraded" in r["degraded"]["summary"], r
    finally:
        s.close()


def test_crash_while_the_new_api_waits_then_recover_goes_back():
    """kill -9 while the never-healthy v2 api is waited on, then recover with
    on_crash: rollback: the catch-all `none` must not leave v2 running."""
    images()
    rules = ("    - when: {phase: verify}\n      severity: high\n      do: [images]\n"
             "    - when: {}\n      severity: low\n      do: [none]\n")
    s = Stack("tte2e-rb-crash-wait", plan_edit=matrix(rules))
    try:
        assert s.apply(env={"API_IMAGE": GOOD, "RELEASE": "v1"}).returncode == 0
        proc = s.popen("apply", env={"API_IMAGE": BAD_HEALTH, "RELEASE": "v2"})
        state = wait_for_state(s, {"app_healthy"})
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        assert state == "app_healthy", "the wait for health is recorded as app_healthy"
        p = ttdeploy("recover", "--progress", "plain", s.plan, env=PORTS)
        assert p.returncode == 1, p.stdout + p.stderr
        h = s.history()
        assert h[0]["status"] == "rolled_back", h[0]
        dec = notes(s, h[0]["id"])["decision"]
        assert dec["crash"] and dec["actions"] == ["images"], dec
        assert dec["failure"]["phase"] == "app_healthy", dec
        for svc in ("api", "worker"):
            image, st = container_image(s.project, svc)
            assert image == GOOD and st["Running"], (svc, image)
    finally:
        s.close()


DB_PLAN_EXTRA = """backup: {dir: backups, verify: list}
migrate: {kind: sql, dir: migrations}
"""

TOPICS_CHECK = """  - name: topics
    sql: SELECT count(*) FROM topics
    expect: ">= before"
"""


def db_plan(rules):
    """The example plan with a backup, SQL migrations, the topics check and rules."""
    def edit(t):
        t = t.replace("timeouts:", DB_PLAN_EXTRA + "timeouts:")
        t = t.replace("verify:\n", "verify:\n" + TOPICS_CHECK, 1)
        return matrix(rules)(t)
    return edit


def test_migration_that_breaks_data_is_downgraded_and_restored():
    rules = ("    - when: {phase: verify, check: topics}\n      severity: critical\n"
             "      do: [images, migrations, restore]\n"
             "    - when: {}\n      severity: low\n      do: [none]\n")
    s = Stack("tte2e-rb-data", plan_edit=db_plan(rules))
    mig = os.path.join(s.dir, "migrations")
    os.makedirs(mig)
    with open(os.path.join(mig, "0001_topics.up.sql"), "w") as f:
        f.write("CREATE TABLE topics (id serial PRIMARY KEY, title text NOT NULL);\n"
                "INSERT INTO topics (title) SELECT 't' || g FROM generate_series(1, 1000) g;\n")
    with open(os.path.join(mig, "0001_topics.down.sql"), "w") as f:
        f.write("DROP TABLE topics;\n")
    psql = ["psql", "-tA", f"postgresql://postgres:tasktracker@127.0.0.1:{PORTS['PG_PORT']}/tasktracker"]
    try:
        p = s.apply(env={"RELEASE": "v1"})
        assert p.returncode == 0, p.stdout + p.stderr
        # some rows written by the app between releases
        subprocess.run(psql + ["-c", "INSERT INTO topics (title) VALUES ('user data')"], check=True,
                       capture_output=True)
        counts_before = subprocess.run(psql + ["-c", "SELECT count(*), sum(length(title)) FROM topics"],
                                       capture_output=True, text=True, check=True).stdout
        with open(os.path.join(mig, "0002_cleanup.up.sql"), "w") as f:
            f.write("DELETE FROM topics WHERE id % 2 = 0;\nALTER TABLE topics ADD COLUMN archived bool;\n")
        with open(os.path.join(mig, "0002_cleanup.down.sql"), "w") as f:
            f.write("ALTER TABLE topics DROP COLUMN archived;\n")
        p = s.apply(env={"RELEASE": "v2"})
        assert p.returncode == 1, p.stdout + p.stderr
        h = s.history()
        assert h[0]["status"] == "rolled_back", h[0]
        d = s.show(h[0]["id"])
        acts = {st["action"]: st for st in d["steps"] if st["phase"] == "rolling_back" and not st["service"]}
        assert acts["migrations"]["status"] == "ok" and "reverted: 0002_cleanup" in acts["migrations"]["detail"], acts
        assert acts["restore"]["status"] == "ok", acts["restore"]
        assert acts["images"]["status"] == "skipped", acts["images"]  # same images in both
        counts_after = subprocess.run(psql + ["-c", "SELECT count(*), sum(length(title)) FROM topics"],
                                      capture_output=True, text=True, check=True).stdout
        assert counts_after == counts_before, (counts_before, counts_after)
        version = subprocess.run(psql + ["-c", "SELECT max(version) FROM ttdeploy_schema_migrations"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        assert version == "1", version
        # the database as the failed release left it is kept, not dropped
        kept = scratch_name(f"pre_restore_{h[0]['id']}", "tasktracker", h[0]["id"])
        half = subprocess.run(psql[:2] + [psql[2].rsplit("/", 1)[0] + "/" + kept, "-c",
                                          "SELECT count(*) FROM topics"],
                              capture_output=True, text=True, check=True).stdout.strip()
        assert half == "501", half  # 1001 rows, the even ids deleted
        r = json.loads(ttdeploy("report", "--plan", s.plan, "--format", "json", str(h[0]["id"]),
                                check=0).stdout)
        assert r["data"]["restored"] and r["data"]["kept_as"] == kept, r["data"]
        assert r["data"]["writes_since_backup"] >= 500, r["data"]
        assert r["data"]["could_lose_data"].startswith("possibly"), r["data"]
        # A crash between the restore's two renames: the live name is gone and the
        # restored copy waits for it.  recover finishes the swap and only that.
        maint = psql[:2] + [psql[2].rsplit("/", 1)[0] + "/postgres"]
        dep = h[0]["id"]
        subprocess.run(maint + ["-c", "ALTER DATABASE tasktracker RENAME TO "
                                + scratch_name("restore", "tasktracker", dep)],
                       check=True, capture_output=True)
        s.sql_write(f"UPDATE deployments SET status = 'running', state = 'rolling_back', "
                    f"finished_at = NULL, hash = NULL, chain_seq = NULL WHERE id = {dep}")
        s.sql_write(f"UPDATE steps SET status = 'running', hash = NULL, chain_seq = NULL "
                    f"WHERE deployment_id = {dep} AND "
                    f"phase = 'rolling_back' AND action = 'restore' AND service IS NULL")
        p = ttdeploy("recover", "--progress", "plain", s.plan, env=PORTS)
        assert p.returncode == 1, p.stdout + p.stderr
        d = s.show(dep)
        assert d["status"] == "rolled_back" and "rollback finished by recover" in d["error"], d["error"]
        restores = [st for st in d["steps"] if st["action"] == "restore" and st["phase"] == "rolling_back"]
        assert [st["status"] for st in restores] == ["interrupted", "ok"], restores
        assert [st["status"] for st in d["steps"] if st["action"] == "migrations"] == ["ok"], \
            "the downgrade, done before the crash, is not run again"
        counts_again = subprocess.run(psql + ["-c", "SELECT count(*), sum(length(title)) FROM topics"],
                                      capture_output=True, text=True, check=True).stdout
        assert counts_again == counts_before, (counts_before, counts_again)
        assert half == subprocess.run(psql[:2] + [psql[2].rsplit("/", 1)[0] + "/" + kept, "-c",
                                                  "SELECT count(*) FROM topics"],
                                      capture_output=True, text=True, check=True).stdout.strip()
    finally:
        s.close()


def test_failed_rollback_action_ends_rollback_failed():
    rules = ("    - when: {phase: verify, check: topics}\n      severity: critical\n"
             "      do: [migrations, images]\n")
    s = Stack("tte2e-rb-broke", plan_edit=db_plan(rules))
    mig = os.path.join(s.dir, "migrations")
    os.makedirs(mig)
    with open(os.path.join(mig, "0001_topics.up.sql"), "w") as f:
        f.write("CREATE TABLE topics (id serial PRIMARY KEY);\nINSERT INTO topics DEFAULT VALUES;\n")
    try:
        assert s.apply(env={"RELEASE": "v1"}).returncode == 0
        with open(os.path.join(mig, "0002_purge.up.sql"), "w") as f:
            f.write("DELETE FROM topics;\n")  # and no 0002_purge.down.sql
        p = s.apply(env={"RELEASE": "v2"})
        assert p.returncode == 3, p.stdout + p.stderr
        assert "ROLLBACK FAILED" in p.stderr and "0002_purge" in p.stderr, p.stderr
        h = s.history()
        assert h[0]["status"] == "rollback_failed" and h[0]["state"] == "rollback_failed", h[0]
        acts = [st for st in s.show(h[0]["id"])["steps"] if st["phase"] == "rolling_back"]
        assert [(st["action"], st["status"]) for st in acts] == [("migrations", "failed")], acts
        r = json.loads(ttdeploy("report", "--plan", s.plan, "--format", "json", str(h[0]["id"]),
                                check=0).stdout)
        assert r["rolled_back"][0]["status"] == "failed" and "down.sql" in r["rolled_back"][0]["error"]
        assert s.sql("SELECT count(*) FROM lock") == [(0,)]
    finally:
        s.close()


def test_manual_rollback_with_migrations_and_backup():
    def plan(t):
        t = t.replace("timeouts:", DB_PLAN_EXTRA + "timeouts:")
        return t
    s = Stack("tte2e-rb-mdb", plan_edit=plan)
    mig = os.path.join(s.dir, "migrations")
    os.makedirs(mig)
    with open(os.path.join(mig, "0001_topics.up.sql"), "w") as f:
        f.write("CREATE TABLE topics (id serial PRIMARY KEY, title text);\n"
                "INSERT INTO topics (title) SELECT 't' || g FROM generate_series(1, 100) g;\n")
    psql = ["psql", "-tA", f"postgresql://postgres:tasktracker@127.0.0.1:{PORTS['PG_PORT']}/tasktracker", "-c"]
    q = lambda sql: subprocess.run(psql + [sql], capture_output=True, text=True, check=True).stdout.strip()
    try:
        assert s.apply(env={"RELEASE": "v1"}).returncode == 0
        with open(os.path.join(mig, "0002_tags.up.sql"), "w") as f:
            f.write("CREATE TABLE tags (id int);\nUPDATE topics SET title = upper(title);\n")
        with open(os.path.join(mig, "0002_tags.down.sql"), "w") as f:
            f.write("DROP TABLE tags;\n")
        assert s.apply(env={"RELEASE": "v2"}).returncode == 0
        assert q("SELECT max(version) FROM ttdeploy_schema_migrations") == "2"
        p = ttdeploy("rollback", "--dry-run", s.plan, env=PORTS)
        assert "downgrade" not in p.stdout and "left as it is" in p.stdout, p.stdout
        p = ttdeploy("rollback", "--progress", "plain", s.plan, env=PORTS)
        assert p.returncode == 0, p.stdout + p.stderr
        d = s.show(s.history()[0]["id"])
        skip = next(st for st in d["steps"] if st["phase"] == "migrate")
        assert skip["status"] == "skipped" and "--with-migrations" in skip["detail"], skip
        p = ttdeploy("rollback", "--progress", "plain", "--to", str(s.history()[1]["id"]), s.plan,
                     env=PORTS)  # forward again to v2, by id
        assert p.returncode == 0, p.stdout + p.stderr
        v1 = next(h for h in s.history() if h["version"] == "v1" and h["kind"] == "apply")
        p = ttdeploy("rollback", "--progress", "plain", "--to", str(v1["id"]), "--with-migrations",
                     "--restore-backup", s.plan, env=PORTS)
        assert p.returncode == 0, p.stdout + p.stderr
        assert q("SELECT max(version) FROM ttdeploy_schema_migrations") == "1"
        assert q("SELECT to_regclass('tags') IS NULL") == "t"
        assert q("SELECT count(*) FROM topics WHERE title = lower(title)") == "100", \
            "the backup taken before 0002 ran: titles as v1 left them"
        d = s.show(s.history()[0]["id"])
        acts = {st["action"]: st for st in d["steps"] if st["phase"] == "migrate"}
        assert acts["downgrade"]["status"] == "ok" and "reverted: 0002_tags" in acts["downgrade"]["detail"], acts
        assert acts["restore"]["status"] == "ok", acts["restore"]
        # without keep: in the plan no backup is ever deleted (four: the first
        # deployment had no database to back up yet)
        assert s.sql("SELECT count(*) FROM backups WHERE deleted_at IS NULL") == [(4,)]
    finally:
        s.close()


def git(cwd, *args):
    subprocess.run(["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
                   cwd=cwd, check=True, capture_output=True)


def test_rollback_to_tag_reads_the_files_of_the_tag():
    images()
    git_plan = lambda t: t.replace("release:\n  version: ${RELEASE:-v1.4.0}\n",
                                   "release:\n  version: ${RELEASE:-v1.4.0}\n"
                                   "  git: {repo: ., tag: \"${RELEASE:-v1}\"}\n")
    feature = lambda v: (lambda t: t.replace("    NATS_URL: nats://nats:4222\n",
                                             f"    NATS_URL: nats://nats:4222\n    FEATURE: \"{v}\"\n"))
    # a file bind-mounted by a relative path: after a rollback it must be the tag's
    port = '      - {target: 8000, published: "${API_PORT:-8000}", host_ip: 127.0.0.1, mode: host}\n'

    def mount(t):
        assert port in t, "the example's api port line changed: update this test's edit"
        return t.replace(port, port + '    volumes:\n      - ./version.txt:/www/version.txt:ro\n')
    s = Stack("tte2e-rb-git", plan_edit=git_plan,
              compose_edit=lambda t: mount(FAST_API_HEALTH(feature("one")(t))))
    served = lambda: urllib.request.urlopen(
        f"http://127.0.0.1:{PORTS['API_PORT']}/version.txt", timeout=5).read().decode().strip()
    try:
        with open(os.path.join(s.dir, ".gitignore"), "w") as f:
            f.write(".ttdeploy/\nbackups/\n")
        with open(os.path.join(s.dir, "version.txt"), "w") as f:
            f.write("one\n")
        git(s.dir, "init", "-q")
        git(s.dir, "add", ".")
        git(s.dir, "commit", "-qm", "v1")
        git(s.dir, "tag", "-a", "v1", "-m", "v1")  # annotated
        p = s.apply(env={"API_IMAGE": GOOD, "RELEASE": "v1"})
        assert p.returncode == 0, p.stdout + p.stderr
        assert served() == "one"
        s.edit("compose.yml", lambda t: t.replace('FEATURE: "one"', 'FEATURE: "two"'))
        s.edit("version.txt", lambda t: "two\n")
        git(s.dir, "commit", "-qam", "v2")
        git(s.dir, "tag", "v2")  # lightweight
        p = s.apply(env={"API_IMAGE": FLAKY, "RELEASE": "v2"})
        assert p.returncode == 0, p.stdout + p.stderr
        _, info = api("GET", f"/containers/{project_containers(s.project)['api']['Id']}/json")
        assert "FEATURE=two" in info["Config"]["Env"]
        p = ttdeploy("rollback", "--dry-run", "--to-tag", "previous", s.plan, env=PORTS, check=0)
        assert p.returncode == 0 and "to v1" in p.stdout and "nothing was changed" in p.stdout, p.stdout + p.stderr
        p = ttdeploy("rollback", "--progress", "plain", "--to-tag", "previous", s.plan,
                     env={**PORTS, "RELEASE": "v2", "API_IMAGE": FLAKY})
        assert p.returncode == 0, p.stdout + p.stderr
        h = s.history()
        assert h[0]["kind"] == "rollback" and h[0]["status"] == "succeeded", h[0]
        assert h[0]["rolled_back_from"] == h[1]["id"] and h[0]["git_tag"] == "v1", h[0]
        _, info = api("GET", f"/containers/{project_containers(s.project)['api']['Id']}/json")
        assert "FEATURE=one" in info["Config"]["Env"], info["Config"]["Env"]
        assert info["Config"]["Image"] == GOOD, "the images v1 ran, not the environment's"
        assert served() == "one", "the bind-mounted file of the tag, not of the work tree"
        status = subprocess.run(["git", "status", "--porcelain"], cwd=s.dir, capture_output=True,
                                text=True, check=True).stdout
        head = subprocess.run(["git", "describe", "--tags"], cwd=s.dir, capture_output=True,
                              text=True, check=True).stdout.strip()
        assert status == "" and head == "v2", (status, head)
        p = ttdeploy("rollback", "--to-tag", "v9", s.plan, env=PORTS)
        assert p.returncode == 2 and "v9" in p.stderr, p.stderr
        # v3 fails to become healthy and its rule says git: back to the files of the
        # previous succeeded deployment's commit (v1, the manual rollback) and its images
        s.edit("compose.yml", lambda t: t.replace('FEATURE: "two"', 'FEATURE: "three"'))
        s.edit("plan.yml", lambda t: t.replace(
            "    - when: {phase: app_healthy}\n      severity: critical\n      do: [images]",
            "    - when: {phase: app_healthy}\n      severity: critical\n      do: [git]"))
        git(s.dir, "commit", "-qam", "v3")
        git(s.dir, "tag", "v3")
        p = s.apply(env={"API_IMAGE": BAD_HEALTH, "RELEASE": "v3"})
        assert p.returncode == 1, p.stdout + p.stderr
        h = s.history()
        assert h[0]["status"] == "rolled_back", h[0]
        step = next(st for st in s.show(h[0]["id"])["steps"]
                    if st["phase"] == "rolling_back" and st["action"] == "git" and not st["service"])
        assert step["status"] == "ok" and "v1" in step["detail"], step
        _, info = api("GET", f"/containers/{project_containers(s.project)['api']['Id']}/json")
        assert "FEATURE=one" in info["Config"]["Env"], info["Config"]["Env"]
        assert info["Config"]["Image"] == GOOD
        assert served() == "one"
    finally:
        s.close()


def test_manual_rollback_previous_and_to_id():
    images()
    s = Stack("tte2e-rb-manual")
    try:
        assert s.apply(env={"API_IMAGE": GOOD, "RELEASE": "v1"}).returncode == 0
        p = ttdeploy("rollback", s.plan, env=PORTS)
        assert p.returncode == 2 and "only succeeded deployment" in p.stderr, p.stderr
        assert s.apply(env={"API_IMAGE": FLAKY, "RELEASE": "v2"}).returncode == 0
        p = ttdeploy("rollback", "--progress", "plain", "--previous", s.plan, env=PORTS)
        assert p.returncode == 0, p.stdout + p.stderr
        h = s.history()
        assert h[0]["kind"] == "rollback" and h[0]["version"] == "v1", h[0]
        assert h[0]["rolled_back_from"] == h[1]["id"]
        assert container_image(s.project, "api")[0] == GOOD
        phases = [st["phase"] for st in s.show(h[0]["id"])["steps"]]
        assert "verify" in phases and "app_up" in phases, phases
        p = ttdeploy("rollback", "--progress", "plain", "--to", str(h[1]["id"]), s.plan, env=PORTS)
        assert p.returncode == 0, p.stdout + p.stderr
        assert container_image(s.project, "api")[0] == FLAKY
        p = ttdeploy("rollback", "--to", "999", s.plan, env=PORTS)
        assert p.returncode == 2 and "no deployment 999" in p.stderr, p.stderr
    finally:
        s.close()


def test_crash_during_rollback_then_recover():
    images()
    # the api takes 3 s to start, so the rollback's wait for it can be interrupted
    slow_api = lambda t: FAST_API_HEALTH(t).replace(
        'command: ["httpd", "-f", "-p", "8000", "-h", "/www"]',
        'command: ["sh", "-c", "sleep 3; exec httpd -f -p 8000 -h /www"]').replace(
        "start_period: 1s", "start_period: 6s")
    s = Stack("tte2e-rb-crash", compose_edit=slow_api)
    try:
        assert s.apply(env={"API_IMAGE": GOOD, "RELEASE": "v1"}).returncode == 0
        proc = s.popen("apply", env={"API_IMAGE": BAD_HEALTH, "RELEASE": "v2"})
        wait_for_state(s, {"rolling_back"}, timeout=90)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        h = s.history()
        assert h[0]["status"] == "running" and h[0]["state"] == "rolling_back", h[0]
        p = s.apply(env={"API_IMAGE": BAD_HEALTH, "RELEASE": "v2"})
        assert p.returncode == 4 and "recover" in p.stderr, p.stderr
        p = ttdeploy("recover", "--progress", "plain", s.plan, env=PORTS)
        assert p.returncode == 1, p.stdout + p.stderr
        d = s.show(h[0]["id"])
        assert d["status"] == "rolled_back" and d["state"] == "rolled_back", (d["status"], d["error"])
        assert "rollback finished by recover" in d["error"], d["error"]
        assert not [st for st in d["steps"] if st["status"] == "running"]
        assert any(st["status"] == "interrupted" for st in d["steps"])
        assert s.sql("SELECT count(*) FROM lock") == [(0,)]
        for svc in ("api", "worker"):
            image, state = container_image(s.project, svc)
            assert image == GOOD and state["Running"], (svc, image, state)
        assert ttdeploy("recover", s.plan, env=PORTS).returncode == 0
    finally:
        s.close()


if __name__ == "__main__":
    run(globals())
