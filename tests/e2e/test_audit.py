"""test_audit.py - the store's tamper-evident audit chain, end to end.

Two real applies of a small stack (busybox db and api, one check), then:
each apply prints the audit head; `audit head` and `audit verify` agree
with it and the untouched chain verifies (exit 0), and an independent
recomputation here (the canonical form as state/README.md describes it)
gives every stored hash.  On copies of the store, the sqlite3 shell makes
an UPDATE of a step's detail, a DELETE of a step, an INSERT of a step:
each makes `audit verify` exit 1 naming the row.  `--head` of the first
apply passes, a made-up head fails.  Recomputing the whole chain after
tampering passes plain verify - tamper-evident, not tamper-proof - but
fails `--head` with the head the CI log kept, while a head from before
the tampered row still passes.  A crash (kill -9 mid-apply) leaves open
rows, not findings; `recover` seals them and the chain verifies."""
import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile

from harness import purge_project, run, service, ttdeploy

PROJECT = "tte2e-audit"
COMPOSE = (f"name: {PROJECT}\nservices:\n" + service("db")
           + service("api", more="    depends_on: [db]\n"))
PLAN = f"""version: 1
project: {PROJECT}
compose: [compose.yml]
release: {{version: VERSION}}
tiers: {{infra: [db], app: [api]}}
verify:
  - name: api-alive
    exec: {{service: api, command: ["true"]}}
"""
HEAD = re.compile(r"audit head: ([0-9a-f]{64}) \(keep it: ttdeploy audit verify")
DIR = tempfile.mkdtemp(prefix="ttdeploy-e2e-audit-")
PLAN_PATH = os.path.join(DIR, "plan.yml")
STORE = os.path.join(DIR, ".ttdeploy", "state.db")
heads = []  # the head each apply printed, in order


def applied():
    """Two applies of the stack (v1, then v2), once; the heads they printed."""
    if heads:
        return heads
    with open(os.path.join(DIR, "compose.yml"), "w") as f:
        f.write(COMPOSE)
    for version in ("v1", "v2"):
        with open(PLAN_PATH, "w") as f:
            f.write(PLAN.replace("VERSION", version))
        p = ttdeploy("apply", "--progress", "plain", PLAN_PATH, check=0)
        m = HEAD.search(p.stderr)
        assert m, f"apply prints the audit head: {p.stderr}"
        heads.append(m.group(1))
    return heads


def copy_store():
    """A copy of the store (as `.backup` of the sqlite3 shell makes it) to tamper with."""
    applied()
    dst = os.path.join(tempfile.mkdtemp(dir=DIR), "state.db")
    subprocess.run(["sqlite3", STORE, f".backup '{dst}'"], check=True)
    return dst


def shell(db, sql):
    """Runs sql with the sqlite3 shell, as someone with write access to the file would."""
    subprocess.run(["sqlite3", db, sql], check=True, capture_output=True, text=True)


def verify(db, *args):
    return ttdeploy("audit", "verify", "--state", db, *args)


def item(data):
    return str(len(data)).encode() + b":" + data


def canonical(con, table, rowid):
    """The canonical form of a row, written from state/README.md, not from the C code."""
    cur = con.execute(f"SELECT rowid, * FROM {table} WHERE rowid = ?", (rowid,))
    row = cur.fetchone()
    cols = sorted((cur.description[i][0], row[i]) for i in range(1, len(row))
                  if cur.description[i][0] not in ("hash", "chain_seq") and row[i] is not None)
    out = b"ttdeploy-audit-1" + item(table.encode()) + item(str(row[0]).encode())
    for name, value in cols:
        if isinstance(value, int):
            tag, data = b"i", str(value).encode()
        elif isinstance(value, float):
            tag, data = b"r", ("%.17g" % value).encode()
        elif isinstance(value, str):
            tag, data = b"t", value.encode()
        else:
            tag, data = b"b", bytes(value)
        out += item(name.encode()) + tag + item(data)
    return out


def chain(con):
    return con.execute("SELECT 'deployments', id, hash, chain_seq FROM deployments WHERE "
                       "chain_seq IS NOT NULL UNION ALL SELECT 'steps', id, hash, chain_seq "
                       "FROM steps WHERE chain_seq IS NOT NULL ORDER BY 4").fetchall()


def recompute(db, write):
    """Recomputes every hash in chain order; writes them when write (an attacker's rewrite)."""
    con = sqlite3.connect(db)
    prev, same = "0" * 64, True
    for table, rowid, stored, _ in chain(con):
        h = hashlib.sha256(prev.encode() + canonical(con, table, rowid)).hexdigest()
        same &= h == stored
        if write:
            con.execute(f"UPDATE {table} SET hash = ? WHERE id = ?", (h, rowid))
        prev = h
    con.commit()
    con.close()
    return same, prev


def step_id(db, deployment, seq):
    con = sqlite3.connect(db)
    (sid,), = con.execute("SELECT id FROM steps WHERE deployment_id = ? AND seq = ?",
                          (deployment, seq)).fetchall()
    con.close()
    return sid


def test_untouched_chain_verifies_and_apply_prints_its_head():
    h1, h2 = applied()
    assert h1 != h2
    p = ttdeploy("audit", "head", "--plan", PLAN_PATH, check=0)
    assert p.stdout.startswith(h2), p.stdout
    p = ttdeploy("audit", "verify", "--plan", PLAN_PATH, check=0)
    assert "audit chain intact" in p.stdout and h2 in p.stdout, p.stdout
    same, head = recompute(STORE, write=False)
    assert same and head == h2, "the canonical form is the documented one: hashes recompute"


def test_earlier_head_passes_a_made_up_one_fails():
    h1, h2 = applied()
    for given in (h1, h1[:12], h2):
        p = verify(STORE, "--head", given)
        assert p.returncode == 0 and "is on the chain at position" in p.stdout, p.stdout
    p = verify(STORE, "--head", "ab" * 32)
    assert p.returncode == 1 and "is not on the chain" in p.stdout, p.stdout
    p = verify(STORE, "--head", "not-a-head")
    assert p.returncode == 2 and "64 hex digits" in p.stderr, p.stderr


def test_update_of_a_step_detail_is_caught():
    db = copy_store()
    sid = step_id(db, 1, 2)
    shell(db, f"UPDATE steps SET detail = 'all fine' WHERE id = {sid}")
    p = verify(db)
    assert p.returncode == 1, p.stdout + p.stderr
    assert f"step {sid} (deployment 1, seq 2" in p.stdout and "an UPDATE" in p.stdout, p.stdout


def test_update_of_a_deployment_is_caught():
    db = copy_store()
    shell(db, "UPDATE deployments SET actor = 'someone-else' WHERE id = 2")
    p = verify(db)
    assert p.returncode == 1 and "deployment 2 (project" in p.stdout, p.stdout
    assert "an UPDATE" in p.stdout, p.stdout


def test_crash_leaves_open_rows_and_recover_seals_them():
    applied()
    crash_store = os.path.join(DIR, "crash", "state.db")
    # killed like kill -9 right after the 6th step write: a step in flight, the deployment open
    p = ttdeploy("apply", "--progress", "plain", "--state", crash_store, PLAN_PATH,
                 env={"TTDEPLOY_CRASH_AT": "6"})
    assert p.returncode == -9, p.stdout + p.stderr
    p = verify(crash_store)
    assert p.returncode == 0, p.stdout
    assert "open (not sealed yet, not tampering): 1 deployment" in p.stdout, p.stdout
    p = ttdeploy("recover", "--progress", "plain", "--state", crash_store, PLAN_PATH)
    assert "audit head: " in p.stderr, p.stdout + p.stderr
    p = verify(crash_store)
    assert p.returncode == 0 and "open" not in p.stdout, p.stdout
    same, _ = recompute(crash_store, write=False)
    assert same


def test_delete_of_a_step_is_caught():
    db = copy_store()
    sid = step_id(db, 1, 3)
    shell(db, f"DELETE FROM steps WHERE id = {sid}")
    p = verify(db)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "is missing (a sealed row was deleted: a DELETE)" in p.stdout, p.stdout
    assert "deployment 1 has no step seq 3" in p.stdout, p.stdout


def test_insert_of_a_step_is_caught():
    db = copy_store()
    shell(db, "INSERT INTO steps (deployment_id, seq, phase, action, status, started_at, detail) "
              "SELECT 1, MAX(seq) + 1, 'verify', 'exec', 'ok', 1e9, 'signed off' FROM steps "
              "WHERE deployment_id = 1")
    con = sqlite3.connect(db)
    (sid,), = con.execute("SELECT MAX(id) FROM steps").fetchall()
    con.close()
    p = verify(db)
    assert p.returncode == 1, p.stdout + p.stderr
    assert f"step {sid} (deployment 1," in p.stdout and "an INSERT" in p.stdout, p.stdout


def test_recomputed_chain_passes_verify_but_not_the_head_kept_before():
    h1, h2 = applied()
    db = copy_store()
    # The first deployment's step rewritten and the chain recomputed: every later hash moves.
    shell(db, f"UPDATE steps SET detail = 'rewritten' WHERE id = {step_id(db, 1, 2)}")
    assert verify(db).returncode == 1
    recompute(db, write=True)
    p = verify(db)
    assert p.returncode == 0, "a recomputed chain is consistent: tamper-evident, not -proof"
    for kept in (h1, h2):
        p = verify(db, "--head", kept)
        assert p.returncode == 1 and "is not on the chain" in p.stdout, p.stdout
    # Only the second deployment rewritten: the first apply's head still proves its rows.
    db = copy_store()
    shell(db, f"UPDATE steps SET detail = 'rewritten' WHERE id = {step_id(db, 2, 2)}")
    recompute(db, write=True)
    assert verify(db, "--head", h1).returncode == 0
    p = verify(db, "--head", h2)
    assert p.returncode == 1 and "is not on the chain" in p.stdout, p.stdout


if __name__ == "__main__":
    try:
        run(globals())
    finally:
        purge_project(PROJECT)
        shutil.rmtree(DIR, ignore_errors=True)
