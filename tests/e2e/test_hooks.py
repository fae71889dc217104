"""test_hooks.py - the plan's hooks: on the private dockerd, with a one-service
busybox project (no database, so each apply takes a second or two).

Host hooks before and after app_up get the deployment's facts in TTDEPLOY_*
and run in the order before -> the phase's steps -> after; a before hook that
exits 3 fails its phase, its output is recorded, and a rollback rule whose
check: names the hook fires; an after hook that fails is recorded and apply
still exits 0; a hook past its timeout is stopped within timeout + 3 s with
its whole process group (no marker process left); a hook with service: runs
in a one-off container that is removed afterwards; an on_failure hook runs
when verify fails, with the failed check's name; a secret printed by a hook
is neither in the store nor in ttdeploy's output.

Crashes (TTDEPLOY_CRASH_AT, then `recover`), with hooks that log "PHASE WHEN"
to a file, so the log says exactly which ran: with on_crash: resume, a crash
mid app_up runs app_up's before hook again but nothing of infra_up; a crash in
or after a phase's after hook does not redo the phase (only the cut after hook
runs again); with on_crash: rollback the interrupted phase's on_failure hooks
run once, those that had ended before the crash not again.  Each time every
hook that ran is an ok step, in the log's order, and `audit verify` passes.
"""
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time

from harness import BUSYBOX, TTDEPLOY, api, project_filter, purge_project, run, ttdeploy

COMPOSE = f"""services:
  web:
    image: {BUSYBOX}
    init: true
    command: ["sleep", "300"]
    environment:
      SERVICE_PASSWORD: svc-pass-0987
"""

PLAN = """version: 1
project: {project}
release:
  version: "${{RELEASE:-v1}}"
tiers: {{app: [web]}}
verify:
  - name: web-up
    exec: {{service: web, command: [{check}]}}
timeouts: {{healthy: 30s, verify: 30s}}
"""


class Project:
    """A scratch folder with compose.yml and plan.yml (PLAN plus more), removed after."""

    def __init__(self, name, more="", check="true"):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="ttdeploy-hooks-")
        with open(os.path.join(self.dir, "compose.yml"), "w") as f:
            f.write(COMPOSE)
        self.plan = os.path.join(self.dir, "plan.yml")
        with open(self.plan, "w") as f:
            f.write(PLAN.format(project=name, check=check) + more.replace("DIR", self.dir))
        self.db = os.path.join(self.dir, ".ttdeploy", "state.db")

    def apply(self, env=None):
        t0 = time.monotonic()
        p = ttdeploy("apply", "--progress", "plain", self.plan, env=env)
        p.seconds = time.monotonic() - t0
        return p

    def last(self):
        h = json.loads(ttdeploy("history", "--plan", self.plan, "--json", "--limit", "1",
                                check=0).stdout)
        return json.loads(ttdeploy("show", "--plan", self.plan, "--json", str(h[0]["id"]),
                                   check=0).stdout)

    def hooks(self, d):
        return [s for s in d["steps"] if s["action"] == "hook"]

    def read(self, name):
        with open(os.path.join(self.dir, name)) as f:
            return f.read()

    def env_file(self, name):
        return dict(line.split("=", 1) for line in self.read(name).splitlines() if "=" in line)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        purge_project(self.name)
        shutil.rmtree(self.dir, ignore_errors=True)


def test_a_host_hooks_get_the_facts_in_order():
    more = """hooks:
  app_up:
    before:
      - {name: pre, run: "env | grep ^TTDEPLOY_ > DIR/before.env; echo before-ran"}
    after:
      - run: [sh, -c, "env | grep ^TTDEPLOY_ > DIR/after.env"]
"""
    with Project("tthooks-a", more) as p:
        dry = ttdeploy("apply", "--dry-run", p.plan)
        assert dry.returncode == 0, dry.stdout + dry.stderr
        assert "app_up before: would run pre (before): env | grep" in dry.stdout, dry.stdout
        assert not os.path.exists(os.path.join(p.dir, "before.env")), "a dry run runs no hook"
        r = p.apply(env={"RELEASE": "v1"})
        assert r.returncode == 0, r.stdout + r.stderr
        r = p.apply(env={"RELEASE": "v2", "TTDEPLOY_ACTOR": "alice"})
        assert r.returncode == 0, r.stdout + r.stderr
        assert "app_up: hook pre ok: exit 0" in r.stdout, r.stdout
        d = p.last()
        before, after = p.env_file("before.env"), p.env_file("after.env")
        assert before["TTDEPLOY_PROJECT"] == "tthooks-a", before
        assert before["TTDEPLOY_DEPLOYMENT"] == str(d["id"]), before
        assert before["TTDEPLOY_RELEASE"] == "v2" and before["TTDEPLOY_PREVIOUS_RELEASE"] == "v1"
        assert before["TTDEPLOY_PHASE"] == "app_up" and before["TTDEPLOY_HOOK"] == "before"
        assert after["TTDEPLOY_HOOK"] == "after" and after["TTDEPLOY_PHASE"] == "app_up"
        assert before["TTDEPLOY_ACTOR"] == "alice" == d["actor"], (before, d["actor"])
        assert "TTDEPLOY_FAILED_CHECK" not in after
        # order: the before hook, then the phase's own steps, then the after hook
        seqs = [(s["seq"], s["phase"], s["action"]) for s in d["steps"]]
        pre = next(s for s in d["steps"] if s["action"] == "hook" and "run pre" in s["intent"])
        post = next(s for s in d["steps"] if s["action"] == "hook" and "app_up.after.1" in
                    s["intent"])
        web = [s["seq"] for s in d["steps"] if s["service"] == "web" and
               s["phase"] in ("app_up", "app_healthy")]
        assert web and pre["seq"] < min(web) and max(web) < post["seq"], seqs
        assert pre["phase"] == "app_up" and pre["status"] == "ok", pre
        assert "before-ran" in pre["detail"] and pre["detail"].startswith("exit 0"), pre


def test_b_failing_before_hook_fails_its_phase_and_a_rule_names_it():
    more = """hooks:
  app_up:
    before:
      - {name: gate, run: "echo gate says no; echo second line >&2; exit 3"}
      - {name: never, run: "touch DIR/never"}
    on_failure:
      - {run: "env | grep ^TTDEPLOY_ > DIR/failure.env"}
rollback:
  matrix:
    - when: {phase: app_up, check: gate}
      severity: high
      do: [abort]
    - when: {}
      severity: low
      do: [images]
"""
    with Project("tthooks-b", more) as p:
        r = p.apply()
        assert r.returncode == 1, r.stdout + r.stderr
        assert "hook gate FAILED: exit 3" in r.stdout and "gate says no" in r.stdout, r.stdout
        d = p.last()
        assert d["status"] == "failed", d["status"]
        gate = [s for s in p.hooks(d) if "run gate" in s["intent"]][0]
        assert gate["status"] == "failed" and "exit 3" in gate["error"], gate
        assert "gate says no" in gate["detail"] and "second line" in gate["detail"], gate
        assert not os.path.exists(os.path.join(p.dir, "never")), "a later before hook ran"
        notes = json.loads(d["notes"])
        assert notes["decision"]["rule"] == 1, notes["decision"]
        assert notes["decision"]["failure"]["check"] == "gate", notes["decision"]
        assert "web" not in {s["service"] for s in d["steps"] if s["phase"] == "app_up"
                             and s["action"] != "hook"}, "the phase itself did not run"
        failure = p.env_file("failure.env")
        assert failure["TTDEPLOY_FAILED_CHECK"] == "gate", failure
        assert "exit 3" in failure["TTDEPLOY_ERROR"], failure


def test_c_failing_after_hook_is_recorded_only():
    more = """hooks:
  verify:
    after:
      - {name: flaky, run: "echo oops; exit 7"}
      - {name: next, run: "touch DIR/next"}
"""
    with Project("tthooks-c", more) as p:
        r = p.apply()
        assert r.returncode == 0, r.stdout + r.stderr
        assert "hook flaky FAILED: exit 7" in r.stdout, r.stdout
        d = p.last()
        assert d["status"] == "succeeded", d
        flaky = [s for s in p.hooks(d) if "run flaky" in s["intent"]][0]
        assert flaky["status"] == "failed" and "oops" in flaky["detail"], flaky
        assert os.path.exists(os.path.join(p.dir, "next")), "the hook after a failed one ran"


def leftover(marker):
    return subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout.split()


def test_d_hook_past_its_timeout_is_stopped_with_its_group():
    marker = "987.6%d" % (os.getpid() % 100)
    more = f"""hooks:
  verify:
    after:
      - {{name: slow, run: "sleep {marker}1 & trap '' TERM; sleep {marker}2; true", timeout: 1s}}
"""
    with Project("tthooks-d", more) as p:
        r = p.apply()
        assert r.returncode == 0, r.stdout + r.stderr
        d = p.last()
        slow = [s for s in p.hooks(d) if "run slow" in s["intent"]][0]
        took = slow["finished_at"] - slow["started_at"]
        assert slow["status"] == "failed" and "timed out" in slow["detail"], slow
        assert 1.0 <= took < 4.0, took
        time.sleep(0.3)
        assert not leftover(f"sleep {marker}"), leftover(f"sleep {marker}")


def test_e_service_hook_runs_in_a_removed_one_off_container():
    more = """hooks:
  app_up:
    after:
      - {name: inside, service: web, run: "echo inside $$TTDEPLOY_PHASE; cat /etc/hostname",
         env: {GREETING: hi}}
"""
    with Project("tthooks-e", more) as p:
        r = p.apply()
        assert r.returncode == 0, r.stdout + r.stderr
        d = p.last()
        inside = [s for s in p.hooks(d) if "run inside" in s["intent"]][0]
        assert inside["status"] == "ok" and inside["service"] == "web", inside
        assert "inside app_up" in inside["detail"], inside
        assert "one-off container of web" in inside["detail"], inside
        _, cs = api("GET", f"/containers/json?all=1&filters={project_filter('tthooks-e')}")
        oneoff = [c["Names"] for c in cs if c["Labels"].get("com.docker.compose.oneoff") ==
                  "True"]
        assert not oneoff, oneoff
        assert len(cs) == 1, [c["Names"] for c in cs]


def test_e2_service_hook_past_its_timeout_is_killed_and_removed():
    more = """hooks:
  verify:
    after:
      - {name: stuck, service: web, run: [sleep, "30"], timeout: 1s}
"""
    with Project("tthooks-e2", more) as p:
        r = p.apply()
        assert r.returncode == 0, r.stdout + r.stderr
        d = p.last()
        stuck = [s for s in p.hooks(d) if "run stuck" in s["intent"]][0]
        took = stuck["finished_at"] - stuck["started_at"]
        assert stuck["status"] == "failed" and "did not finish within 1 s" in stuck["error"], stuck
        assert took < 1 + 3, took
        _, cs = api("GET", f"/containers/json?all=1&filters={project_filter('tthooks-e2')}")
        assert len(cs) == 1, [c["Names"] for c in cs]


def test_f_on_failure_hook_runs_when_verify_fails():
    more = """hooks:
  verify:
    on_failure:
      - {name: tell, run: "env | grep ^TTDEPLOY_ > DIR/verify-failed.env"}
    after:
      - {run: "touch DIR/after-verify"}
"""
    with Project("tthooks-f", more, check="\"false\"") as p:
        r = p.apply()
        assert r.returncode == 1, r.stdout + r.stderr
        env = p.env_file("verify-failed.env")
        assert env["TTDEPLOY_HOOK"] == "on_failure" and env["TTDEPLOY_PHASE"] == "verify", env
        assert env["TTDEPLOY_FAILED_CHECK"] == "web-up", env
        assert not os.path.exists(os.path.join(p.dir, "after-verify"))
        d = p.last()
        tell = [s for s in p.hooks(d) if "run tell" in s["intent"]][0]
        assert tell["phase"] == "verify" and tell["status"] == "ok", tell
        decided = [s for s in d["steps"] if s["phase"] == "deciding"]
        assert decided and tell["seq"] < decided[0]["seq"], "on_failure runs before the decision"


def test_g_secrets_printed_by_hooks_are_redacted():
    secret = "s3cr3t-token-%d" % os.getpid()
    more = """hooks:
  app_up:
    before:
      - {name: leak, run: "echo token=$$MY_TOKEN; echo api=$$API_TOKEN; echo plain=${API_TOKEN}",
         env: {MY_TOKEN: "${API_TOKEN}"}}
    after:
      - {name: svc, service: web, run: "echo svc=$$SERVICE_PASSWORD"}
"""
    with Project("tthooks-g", more) as p:
        r = p.apply(env={"API_TOKEN": secret})
        assert r.returncode == 0, r.stdout + r.stderr
        assert secret not in r.stdout + r.stderr, r.stdout + r.stderr
        d = p.last()
        leak = [s for s in p.hooks(d) if "run leak" in s["intent"]][0]
        assert "token=<redacted>" in leak["detail"] and "api=<redacted>" in leak["detail"], leak
        assert secret not in json.dumps(d)
        svc = [s for s in p.hooks(d) if "run svc" in s["intent"]][0]
        assert "svc=<redacted>" in svc["detail"], svc
        con = sqlite3.connect(p.db)
        dump = "\n".join(con.iterdump())
        con.close()
        assert secret not in dump and "svc-pass-0987" not in dump
        for name in os.listdir(os.path.dirname(p.db)):
            with open(os.path.join(os.path.dirname(p.db), name), "rb") as f:
                data = f.read()
            assert secret.encode() not in data, name


def test_i_sigint_during_a_hook_ends_it_and_the_run_is_interrupted():
    marker = "988.7%d" % (os.getpid() % 100)
    more = f"""hooks:
  app_up:
    before:
      - {{name: long, run: "touch DIR/started; sleep {marker}", timeout: 60s}}
    on_failure:
      - {{run: "touch DIR/on-failure"}}
"""
    with Project("tthooks-i", more) as p:
        proc = subprocess.Popen([TTDEPLOY, "apply", "--progress",
                                 "plain", p.plan], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        while not os.path.exists(os.path.join(p.dir, "started")):
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - t0
        assert proc.returncode == 130, out + err
        assert took < 3, took
        assert not leftover(f"sleep {marker}"), "the hook's process is left"
        assert not os.path.exists(os.path.join(p.dir, "on-failure")), "no hook after a stop"
        d = p.last()
        assert d["status"] == "running", d["status"]  # unfinished: `recover` decides
        long = [s for s in p.hooks(d) if "run long" in s["intent"]][0]
        assert long["status"] == "interrupted", long


def test_j_backup_path_reaches_the_hooks_after_the_backup():
    from test_apply import PORTS, Stack  # the example stack: postgres, so a real backup
    more = """backup: {dir: backups, verify: list}
hooks:
  backup:
    before:
      - {run: 'echo "[$$TTDEPLOY_BACKUP]" > DIR/before-backup.txt'}
    after:
      - {run: "echo $$TTDEPLOY_BACKUP > DIR/after-backup.txt"}
  migrate:
    before:
      - {name: show-url, run: "echo $$TTDEPLOY_BACKUP > DIR/migrate.txt; echo url=${DBURL}"}
"""
    with Stack("tthooks-j") as s:
        s.edit("plan.yml", lambda t: t + more.replace("DIR", s.dir))
        url = "postgresql://postgres:tasktracker@127.0.0.1:%s/tasktracker" % PORTS["PG_PORT"]
        r = s.apply(env={"DBURL": url})  # the first: no database to back up yet
        assert r.returncode == 0, r.stdout + r.stderr
        r = s.apply(env={"DBURL": url, "RELEASE": "v2"})
        assert r.returncode == 0, r.stdout + r.stderr
        with open(os.path.join(s.dir, "before-backup.txt")) as f:
            assert f.read().strip() == "[]", "no backup yet before the backup phase"
        with open(os.path.join(s.dir, "after-backup.txt")) as f:
            path = f.read().strip()
        with open(os.path.join(s.dir, "migrate.txt")) as f:
            assert f.read().strip() == path
        d = s.show(s.history()[0]["id"])
        assert path and os.path.isfile(path), path
        assert path in [b["path"] for b in d["backups"]], (path, d["backups"])
        show = [st for st in d["steps"] if st["action"] == "hook" and "show-url" in st["intent"]][0]
        assert "postgres:<redacted>@" in show["detail"], show  # the database password
        assert ":tasktracker@" not in show["intent"] + show["detail"], show


# ---- a crash, then `recover` ------------------------------------------------

def logging_hooks(on_crash, phases=("infra_up", "app_up", "verify"),
                  whens=("before", "after", "on_failure")):
    """on_crash: and a hook for each phase and when that logs "PHASE WHEN" to DIR/log."""
    more = f"on_crash: {on_crash}\nhooks:\n"
    for ph in phases:
        more += f"  {ph}:\n"
        for w in whens:
            more += (f'    {w}:\n      - {{run: "echo $$TTDEPLOY_PHASE $$TTDEPLOY_HOOK >> DIR/log; '
                     'echo $$TTDEPLOY_ERROR > DIR/error"}\n')
    return more


class Crashed:
    """A project's run with its crash points listed, then crashed at one and recovered."""

    def __init__(self, p):
        self.p = p
        r = p.apply(env={"TTDEPLOY_CRASH_AT": "list"})
        self.points = re.findall(r"crash point (\d+): (.*)", r.stderr)
        assert self.points, r.stdout + r.stderr

    def intent(self, what, nth=0):
        """The crash point right after the nth intent whose "PHASE ACTION SERVICE" matches."""
        return [n for n, w in self.points if re.fullmatch(r"intent of step \d+: " + what, w)][nth]

    def outcome(self, what, nth=0):
        """The crash point right after the outcome of that step."""
        at = self.intent(what, nth)
        step = re.match(r"intent of step (\d+)", dict(self.points)[at]).group(1)
        return [n for n, w in self.points if w.startswith(f"outcome of step {step} ")][0]

    def crash_and_recover(self, point):
        """A first deployment (store and containers cleared) killed at point, then recover:
        (the hooks logged before the crash, those logged by recover, recover's result)."""
        purge_project(self.p.name)
        shutil.rmtree(os.path.dirname(self.p.db), ignore_errors=True)
        log = os.path.join(self.p.dir, "log")
        if os.path.exists(log):
            os.unlink(log)
        r = self.p.apply(env={"TTDEPLOY_CRASH_AT": point})
        assert r.returncode == -signal.SIGKILL, r.stdout + r.stderr
        before = self.p.read("log").splitlines() if os.path.exists(log) else []
        res = ttdeploy("recover", "--progress", "plain", self.p.plan)
        after = self.p.read("log").splitlines()
        assert after[:len(before)] == before, (before, after)
        return before, after[len(before):], res

    def check_recorded(self):
        """Every hook that ran is an ok step, in the order of the log; the audit chain holds."""
        d = self.p.last()
        when = re.compile(r"run \S+ \((\w+)\)")
        ran = [s["phase"] + " " + when.match(s["intent"]).group(1)
               for s in sorted(self.p.hooks(d), key=lambda s: s["seq"]) if s["status"] == "ok"]
        assert ran == self.p.read("log").splitlines(), (ran, self.p.read("log"))
        assert not [s for s in d["steps"] if s["status"] == "running"], d["steps"]
        v = ttdeploy("audit", "verify", "--state", self.p.db)
        assert v.returncode == 0, v.stdout + v.stderr
        return d


def test_k_crash_mid_app_up_resume_runs_its_before_hooks_again_not_the_earlier_ones():
    with Project("tthooks-k", logging_hooks("resume")) as p:
        c = Crashed(p)
        before, by_recover, res = c.crash_and_recover(c.intent("app_up create web"))
        assert res.returncode == 0, res.stdout + res.stderr
        assert before == ["infra_up before", "infra_up after", "app_up before"], before
        # app_up is done again, its before hook with it (at-least-once); infra_up is not
        assert by_recover == ["app_up before", "app_up after", "verify before", "verify after"], \
            by_recover
        d = c.check_recorded()
        assert d["status"] == "succeeded", d["status"]


def test_l_crash_in_or_after_an_after_hook_resume_does_not_redo_the_phase():
    with Project("tthooks-l", logging_hooks("resume")) as p:
        c = Crashed(p)
        # infra_up ended, its after hook too, app_up not yet entered (state infra_healthy)
        before, by_recover, res = c.crash_and_recover(c.outcome("infra_up hook -", 1))
        assert res.returncode == 0, res.stdout + res.stderr
        assert before == ["infra_up before", "infra_up after"], before
        assert by_recover == ["app_up before", "app_up after", "verify before", "verify after"], \
            by_recover
        c.check_recorded()
        # app_up's work ended and its after hook was cut by the crash: only that hook again
        before, by_recover, res = c.crash_and_recover(c.intent("app_up hook -", 1))
        assert res.returncode == 0, res.stdout + res.stderr
        assert before == ["infra_up before", "infra_up after", "app_up before"], before
        assert by_recover == ["app_up after", "verify before", "verify after"], by_recover
        d = c.check_recorded()
        cut = [s for s in p.hooks(d) if s["status"] == "interrupted"]
        assert len(cut) == 1 and "(after)" in cut[0]["intent"], cut
        recovered = next(s["seq"] for s in d["steps"] if s["phase"] == "recover")
        assert not [s for s in d["steps"] if s["seq"] > recovered and s["service"] == "web"
                    and s["phase"] in ("app_up", "app_healthy")], "app_up was done again"
        # verify's after hook ended: nothing runs again, the deployment just ends
        before, by_recover, res = c.crash_and_recover(c.outcome("verify hook -", 1))
        assert res.returncode == 0, res.stdout + res.stderr
        assert len(before) == 6 and by_recover == [], (before, by_recover)
        assert "hook verify.after.1 (after) ended before the crash" in res.stdout, res.stdout
        assert c.check_recorded()["status"] == "succeeded"


def test_m_crash_then_recover_rolls_back_runs_on_failure_once():
    with Project("tthooks-m", logging_hooks("rollback")) as p:
        c = Crashed(p)
        before, by_recover, res = c.crash_and_recover(c.intent("app_up create web"))
        assert res.returncode == 1, res.stdout + res.stderr  # a first deployment: failed
        assert before == ["infra_up before", "infra_up after", "app_up before"], before
        assert by_recover == ["app_up on_failure"], by_recover
        assert re.fullmatch(r"deployment \d+ was interrupted in state app_(up|healthy)\n",
                            p.read("error")), p.read("error")
        d = c.check_recorded()
        assert d["status"] == "failed", d["status"]
        tell = [s for s in p.hooks(d) if "(on_failure)" in s["intent"]][0]
        decided = [s for s in d["steps"] if s["phase"] == "deciding"]
        assert decided and tell["seq"] < decided[0]["seq"], "on_failure runs before the decision"


def test_n_crash_in_on_failure_hooks_recover_runs_only_those_that_had_not_ended():
    more = """on_crash: rollback
hooks:
  verify:
    on_failure:
      - {name: one, run: "echo verify one >> DIR/log"}
      - {name: two, run: "echo verify two $$TTDEPLOY_HOOK >> DIR/log"}
"""
    with Project("tthooks-n", more, check="\"false\"") as p:
        c = Crashed(p)
        # one ended, two was cut: two runs again, one does not
        before, by_recover, res = c.crash_and_recover(c.intent("verify hook -", 1))
        assert res.returncode == 1, res.stdout + res.stderr
        assert before == ["verify one"] and by_recover == ["verify two on_failure"], \
            (before, by_recover)
        assert "hook one (on_failure) ended before the crash: not run again" in res.stdout
        d = p.last()
        assert [s["status"] for s in p.hooks(d)] == ["ok", "interrupted", "ok"], p.hooks(d)
        assert ttdeploy("audit", "verify", "--state", p.db).returncode == 0
        # both ended, the crash came while deciding: none runs again
        before, by_recover, res = c.crash_and_recover(c.intent("deciding .*"))
        assert res.returncode == 1, res.stdout + res.stderr
        assert len(before) == 2 and by_recover == [], (before, by_recover)
        d = p.last()
        assert [s["status"] for s in p.hooks(d)] == ["ok", "ok"], p.hooks(d)
        assert ttdeploy("audit", "verify", "--state", p.db).returncode == 0


def test_h_bad_hooks_are_refused_with_where_and_what_to_do():
    cases = [
        ("hooks:\n  deploy: {before: [{run: x}]}\n", "unknown hooks phase \"deploy\""),
        ("hooks:\n  app_up: {before: [{run: x, service: nope}]}\n",
         "runs in service \"nope\", which the compose project does not define"),
        ("hooks:\n  app_up: {before: [{name: web-up, run: x}]}\n", "name of a verify check"),
    ]
    for more, want in cases:
        with Project("tthooks-h", more) as p:
            r = p.apply()
            assert r.returncode == 2 and want in r.stderr and "plan.yml" in r.stderr, r.stderr


run(globals())
