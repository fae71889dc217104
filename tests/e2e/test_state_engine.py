"""test_state_engine.py - `--state engine`: the store kept in a named volume
of the engine, the lock as the existence of a holder container.

Each apply runs from a fresh working directory (as a hosted CI runner
does) with no store on its disk: the second apply's history shows the
first (the history lives with the engine), `show` and `audit verify` read
the engine's copy, and nothing is left beside the plan.  A live holder
(made here, as another runner would have it) refuses an apply that names
it, and `unlock --force --state engine` removes it; a stale one (its
heartbeat 2 minutes old) is removed by the next apply, which proceeds.  While an apply runs, its holder's heartbeat file is rewritten.
A kill -9 right after a step write leaves on the engine every step written
so far, and `recover --state engine` finishes the deployment.  A copy cut
short on the engine (one slot spoilt) is passed over for the previous one.
The plan's `state: engine` counts when neither --state PATH nor
$TTDEPLOY_STATE says otherwise."""
import atexit
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import urllib.parse

from harness import SOCK, api, purge_project, run, service, ttdeploy, _UnixHTTP

PROJECT = "tte2e-stateng"
VOLUME = HOLDER = f"ttdeploy-state-{PROJECT}"
IMAGE = "ttdeploy/holder:1"
COMPOSE = (f"name: {PROJECT}\nservices:\n" + service("db")
           + service("api", more="    depends_on: [db]\n    environment: {API_TOKEN: s3cret}\n"))
PLAN = f"""version: 1
project: {PROJECT}
compose: [compose.yml]
release: {{version: VERSION}}
on_crash: rollback
tiers: {{infra: [db], app: [api]}}
verify:
  - name: api-alive
    exec: {{service: api, command: CHECK}}
"""
SCRATCH = tempfile.mkdtemp(prefix="ttdeploy-e2e-stateng-")
atexit.register(shutil.rmtree, SCRATCH, True)
COST = re.compile(r"store kept on the engine at \S+: brought down in ([0-9.]+) ms, "
                  r"put back (\d+) times \(([0-9.]+) ms each")


def raw(method, path, body=b"", ctype="application/x-tar"):
    """An Engine API call with a byte body (a tar): (status, bytes)."""
    c = _UnixHTTP(SOCK)
    c.request(method, path, body=body, headers={"Content-Type": ctype})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def clean():
    """No holder, reader or volume of the project, and none of its containers."""
    _, cs = api("GET", "/containers/json?all=1&filters=" + urllib.parse.quote(json.dumps(
        {"label": ["dev.ttdeploy.state.project=" + PROJECT]})))
    for c in cs or []:
        api("DELETE", f"/containers/{c['Id']}?force=1")
    purge_project(PROJECT)
    api("DELETE", f"/volumes/{VOLUME}?force=1")


def runner_dir(version, check='["true"]', more=""):
    """A fresh working directory, as a CI runner checks out: compose.yml and plan.yml only."""
    d = tempfile.mkdtemp(dir=SCRATCH)
    with open(os.path.join(d, "compose.yml"), "w") as f:
        f.write(COMPOSE)
    with open(os.path.join(d, "plan.yml"), "w") as f:
        f.write(PLAN.replace("VERSION", version).replace("CHECK", check) + more)
    return os.path.join(d, "plan.yml")


def apply(plan, *more, env=None):
    return ttdeploy("apply", "--progress", "plain", "--state", "engine", *more, plan, env=env)


def history(plan):
    p = ttdeploy("history", "--state", "engine", "--plan", plan, "--json", check=0)
    return json.loads(p.stdout)


def holder_exists():
    return api("GET", f"/containers/{HOLDER}/json")[0] == 200


def make_holder(host, pid, started):
    """A holder as another runner's ttdeploy would have made it, its heartbeat never written."""
    st, _ = api("GET", f"/images/{IMAGE}/json")
    if st != 200:
        empty = b"\0" * 1024
        st, out = raw("POST", "/images/create?fromSrc=-&repo=ttdeploy%2Fholder&tag=1", empty)
        assert st == 200, out
    labels = {"dev.ttdeploy.state.project": PROJECT, "dev.ttdeploy.state.host": host,
              "dev.ttdeploy.state.pid": str(pid), "dev.ttdeploy.state.token": "f" * 32,
              "dev.ttdeploy.state.started": f"{started:.3f}"}
    st, out = api("POST", f"/containers/create?name={HOLDER}", {
        "Image": IMAGE, "Cmd": ["/nonexistent"], "Labels": labels,
        "HostConfig": {"Mounts": [{"Type": "volume", "Source": VOLUME, "Target": "/state"}]}})
    assert st == 201, out


def volume_files():
    """The files of the volume (name -> bytes), read through a reader container made here."""
    st, out = api("POST", "/containers/create", {
        "Image": IMAGE, "Cmd": ["/nonexistent"],
        "Labels": {"dev.ttdeploy.state.project": PROJECT},
        "HostConfig": {"Mounts": [{"Type": "volume", "Source": VOLUME, "Target": "/state"}]}})
    assert st == 201, out
    try:
        st, data = raw("GET", f"/containers/{out['Id']}/archive?path=%2Fstate")
        assert st == 200, data
        with tarfile.open(fileobj=io.BytesIO(data)) as t:
            return {os.path.basename(m.name): t.extractfile(m).read()
                    for m in t.getmembers() if m.isfile()}
    finally:
        api("DELETE", f"/containers/{out['Id']}?force=1")


def test_1_history_lives_with_the_engine():
    clean()
    first, second = runner_dir("v1"), runner_dir("v2", more="state: engine\n")
    p = apply(first)
    assert p.returncode == 0, p.stdout + p.stderr
    m = COST.search(p.stdout)
    assert m, p.stdout
    print(f"    apply v1: download {m.group(1)} ms, {m.group(2)} uploads, {m.group(3)} ms each")
    assert not holder_exists(), "the holder (the lock) is removed at the end"
    assert api("GET", f"/volumes/{VOLUME}")[0] == 200, "the volume stays"
    head1 = re.search(r"audit head: ([0-9a-f]{64}) \(keep it: ttdeploy audit verify --state "
                      r"engine --plan (\S+) --head", p.stderr)
    assert head1 and head1.group(2) == first, p.stderr
    # the second runner: the plan says state: engine, no --state on the command line
    p = ttdeploy("apply", "--progress", "plain", second)
    assert p.returncode == 0, p.stdout + p.stderr
    assert COST.search(p.stdout), p.stdout
    for plan in (first, second):
        assert not os.path.exists(os.path.join(os.path.dirname(plan), ".ttdeploy")), \
            "nothing is kept beside the plan"
    h = json.loads(ttdeploy("history", "--plan", second, "--json", check=0).stdout)
    assert [d["version"] for d in h] == ["v2", "v1"], h
    assert all(d["status"] == "succeeded" for d in h), h
    p = ttdeploy("show", "--state", "engine", "--plan", second, "--json", str(h[1]["id"]), check=0)
    d = json.loads(p.stdout)
    assert d["version"] == "v1" and len(d["steps"]) > 5, d
    assert all(s["status"] in ("ok", "skipped") for s in d["steps"]), d["steps"]
    p = ttdeploy("audit", "verify", "--state", "engine", "--plan", second, "--head",
                 head1.group(1))
    assert p.returncode == 0, p.stdout + p.stderr
    # the audit key lives with the store: the second runner's digest of API_TOKEN is the first's
    tokens = [json.loads(ttdeploy("show", "--state", "engine", "--plan", second, "--json",
                                  str(d["id"]), check=0).stdout) for d in h]
    env = [r["environment"] for t in tokens for r in t["releases"] if r["service"] == "api"]
    env = [json.loads(e) if isinstance(e, str) else e for e in env]
    assert len(env) == 2, tokens
    digests = {e["API_TOKEN"] for e in env}
    assert len(digests) == 1 and digests.pop().startswith("hmac-sha256:"), tokens
    files = volume_files()
    assert "state.key" in files
    assert {"state-a.db", "state-b.db", "state-a.sum", "state-b.sum"} <= set(files), files.keys()


def test_2_read_commands_without_a_store_say_so():
    clean()
    p = ttdeploy("history", "--state", "engine", "-p", PROJECT)
    assert p.returncode == 2, p.stdout + p.stderr
    assert f"no store for project {PROJECT} (no volume {VOLUME})" in p.stderr, p.stderr
    p = ttdeploy("history", "--state", "engine")
    assert p.returncode == 2 and "name the project with -p NAME or --plan FILE" in p.stderr, \
        p.stderr


def test_3_a_live_holder_refuses_a_stale_one_is_removed():
    clean()
    make_holder("runner-elsewhere", 4242, time.time())
    p = apply(runner_dir("v1"), "--lock-timeout", "1s")
    assert p.returncode == 4, p.stdout + p.stderr
    assert f"project {PROJECT} is locked on the engine" in p.stderr, p.stderr
    assert "runner-elsewhere pid 4242" in p.stderr and HOLDER in p.stderr, p.stderr
    assert "unlock --force --state engine" in p.stderr, p.stderr
    p = ttdeploy("unlock", "--force", "--state", "engine", "-p", PROJECT, check=0)
    assert "removed the lock on tte2e-stateng held by runner-elsewhere pid 4242" in p.stdout
    assert not holder_exists()
    make_holder("runner-elsewhere", 4242, time.time() - 120)  # its heartbeat 2 minutes old
    p = apply(runner_dir("v1"))
    assert p.returncode == 0, p.stdout + p.stderr
    assert [d["version"] for d in history(runner_dir("v1"))] == ["v1"]
    assert not holder_exists()


def test_4_the_heartbeat_is_rewritten_while_an_apply_runs():
    clean()
    plan = runner_dir("v1", check='["sleep", "7"]')
    proc = subprocess.Popen([os.environ.get("TTDEPLOY", "ttdeploy"), "apply", "--progress",
                             "plain", "--state", "engine", plan], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen = []
    deadline = time.time() + 60
    while proc.poll() is None and time.time() < deadline:
        st, data = raw("GET", f"/containers/{HOLDER}/archive?path=%2Fstate%2Fheartbeat")
        if st == 200:
            with tarfile.open(fileobj=io.BytesIO(data)) as t:
                beat = t.extractfile(t.getmembers()[0]).read().decode()
            if beat not in seen:
                seen.append(beat)
        time.sleep(0.5)
    out = proc.communicate()[0]
    assert proc.returncode == 0, out
    assert len(seen) >= 2, f"heartbeats seen: {seen}"
    times = [float(b.split()[0]) for b in seen]
    assert times == sorted(times) and abs(times[-1] - time.time()) < 30, seen


def test_5_kill_9_leaves_every_step_written_and_recover_finishes():
    clean()
    plan = runner_dir("v1")
    assert apply(plan).returncode == 0
    plan2 = runner_dir("v2")
    p = apply(plan2, env={"TTDEPLOY_CRASH_AT": "list"})
    assert p.returncode == 0, p.stderr
    writes = [line for line in p.stderr.splitlines() if "ttdeploy: crash point" in line]
    assert len(writes) > 8, p.stderr
    # killed right after the 7th step write of v3: it must be on the engine
    # TMPDIR: the private copy a kill -9 leaves behind stays in the scratch folder
    p = apply(runner_dir("v3"), env={"TTDEPLOY_CRASH_AT": "7", "TMPDIR": SCRATCH})
    assert p.returncode == -9, p.stdout + p.stderr
    h = history(plan)
    assert h[0]["version"] == "v3" and h[0]["status"] == "running", h
    d = json.loads(ttdeploy("show", "--state", "engine", "--plan", plan, "--json",
                            str(h[0]["id"]), check=0).stdout)
    ended = [s for s in d["steps"] if s["status"] != "running"]
    running = [s for s in d["steps"] if s["status"] == "running"]
    assert len(ended) * 2 + len(running) == 7, d["steps"]
    p = ttdeploy("recover", "--progress", "plain", "--state", "engine", runner_dir("v3"))
    assert p.returncode in (0, 1), p.stdout + p.stderr
    h = history(plan)
    assert h[0]["status"] != "running", h  # finished per on_crash: rolled back, or failed
    assert not holder_exists()
    p = ttdeploy("audit", "verify", "--state", "engine", "--plan", plan)
    assert p.returncode == 0, p.stdout + p.stderr


def test_6_a_copy_cut_short_is_passed_over():
    clean()
    plan = runner_dir("v1")
    assert apply(plan).returncode == 0
    files = volume_files()
    sums = {k: v.decode() for k, v in files.items() if k.endswith(".sum")}
    newest = max(sums, key=lambda k: int(re.search(r"generation (\d+)", sums[k]).group(1)))
    # the newest copy cut in half, as an upload killed half way leaves it
    make_holder("x", 1, 0)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        cut = files[newest.replace(".sum", ".db")][:4096]
        info = tarfile.TarInfo(newest.replace(".sum", ".db"))
        info.size = len(cut)
        t.addfile(info, io.BytesIO(cut))
    st, out = raw("PUT", f"/containers/{HOLDER}/archive?path=%2Fstate", buf.getvalue())
    assert st == 200, out
    api("DELETE", f"/containers/{HOLDER}?force=1")
    h = history(plan)  # the other slot: the upload before the last, whole
    assert [d["version"] for d in h] == ["v1"], h
    assert h[0]["status"] == "running", "the last upload ended the deployment; the one before not"
    clean()


def test_7_state_path_and_ttdeploy_state_win_over_the_plans_state_engine():
    clean()
    plan = runner_dir("v1", more="state: engine\n")
    local = os.path.join(os.path.dirname(plan), "local", "state.db")
    p = ttdeploy("apply", "--progress", "plain", "--state", local, plan)
    assert p.returncode == 0, p.stdout + p.stderr
    assert os.path.exists(local) and not COST.search(p.stdout), p.stdout
    assert api("GET", f"/volumes/{VOLUME}")[0] == 404, "the command line's --state PATH won"
    env = {"TTDEPLOY_STATE": local}
    assert ttdeploy("history", "--plan", plan, env=env, check=0).stdout.count("v1") == 1
    p = ttdeploy("history", "--plan", plan)  # the plan's state: engine: no store there yet
    assert p.returncode == 2 and f"no volume {VOLUME}" in p.stderr, p.stderr
    clean()


if __name__ == "__main__":
    run(globals())
