"""test_notify.py - the plan's webhooks (notify:) end to end on the private
dockerd, told through a local receiver (python http.server on 127.0.0.1, a
random port, in a thread) that records every request and answers as each
test scripts it.

A good apply sends started then succeeded, with the payload's fields, the
Slack `text`, and the header whose value came from the environment; a
receiver that answers 500 twice then 200 is told on the third attempt; one
that always answers 500, or a closed port, gets 4 attempts, recorded
failed, and the apply still exits 0; a deployment whose check fails sends
rolled_back with the failed phase, check and rule; `on:` filters; an unset
header variable is refused before anything runs; a crash while the end
event is sent leaves the deployment unfinished in its final state, and
`recover` records that end (not a rollback) and sends it again to the
webhooks not told yet: with two webhooks on one origin, a crash after the
first was told gets each exactly one end event, and `show` says why the
first was skipped.  No header
value nor the URL's path is in the output or the store (the sqlite files
are grepped), and show, report, timeline and `audit verify` still work."""
import glob
import http.server
import json
import os
import re
import shutil
import socket
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time

from harness import BUSYBOX, TTDEPLOY, healthcheck, purge_project, run, service, ttdeploy
from test_rollback import build_image

SECRET = "sekret-%d-value" % os.getpid()
V2_IMAGE = "ttdeploy-test/notify-api:v2"
TOKEN_PATH = "/services/T0KEN%d/xyz" % os.getpid()
# what a delivery's detail ends with: the webhook's place in notify: and its URL's keyed digest
WEBHOOK_1 = r"; webhook 1, url hmac-sha256:[0-9a-f]{16}"


class Receiver:
    """A webhook: records (path, headers, body) of each POST; answers statuses[i]
    to the i-th request (the last one after that)."""

    def __init__(self, statuses=(200,)):
        self.requests = []
        self.statuses = list(statuses)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                outer.requests.append((self.path, dict(self.headers), json.loads(body)))
                i = min(len(outer.requests) - 1, len(outer.statuses) - 1)
                self.send_response(outer.statuses[i])
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}{TOKEN_PATH}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self):
        return [r[2]["event"] for r in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Project:
    """A scratch busybox stack (db, api, one exec check) with a plan whose notify: is given."""

    def __init__(self, name):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="ttdeploy-e2e-notify-")
        self.plan = os.path.join(self.dir, "plan.yml")
        self.db = os.path.join(self.dir, ".ttdeploy", "state.db")

    def write(self, version, notify, check="true", image=BUSYBOX, api_more=""):
        with open(os.path.join(self.dir, "compose.yml"), "w") as f:
            f.write(f"name: {self.name}\nservices:\n" + service("db")
                    + service("api", image=image, more="    depends_on: [db]\n" + api_more))
        with open(self.plan, "w") as f:
            f.write(f"""version: 1
project: {self.name}
compose: [compose.yml]
release: {{version: {version}}}
tiers: {{infra: [db], app: [api]}}
verify:
  - name: api-alive
    exec: {{service: api, command: ["{check}"]}}
notify:
{notify}""")

    def apply(self, *args, env=None):
        e = {"TT_NOTIFY_SECRET": SECRET}
        e.update(env or {})
        p = ttdeploy("apply", "--progress", "plain", *args, self.plan, env=e)
        assert_no_secret(p.stdout + p.stderr, "apply's output")
        return p

    def notify_steps(self, dep_id=None):
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            dep_id = dep_id or con.execute("SELECT MAX(id) FROM deployments").fetchone()[0]
            return [dict(zip(("seq", "phase", "intent", "status", "detail", "error"), r))
                    for r in con.execute(
                        "SELECT seq, phase, intent, status, detail, error FROM steps WHERE "
                        "deployment_id = ? AND action = 'notify' ORDER BY seq", (dep_id,))]
        finally:
            con.close()

    def deployment(self, dep_id=None):
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            q = "SELECT id, status, state, error FROM deployments ORDER BY id DESC LIMIT 1"
            if dep_id:
                q = f"SELECT id, status, state, error FROM deployments WHERE id = {int(dep_id)}"
            return dict(zip(("id", "status", "state", "error"), con.execute(q).fetchone()))
        finally:
            con.close()

    def check_store(self):
        """No secret in the store's files; the read commands and audit verify work."""
        for path in glob.glob(self.db + "*"):
            with open(path, "rb") as f:
                data = f.read()
            assert SECRET.encode() not in data, f"the header value is in {path}"
            assert TOKEN_PATH.encode() not in data, f"the URL's path is in {path}"
        dep = str(self.deployment()["id"])
        for cmd in (["show", "--state", self.db, dep], ["show", "--json", "--state", self.db, dep],
                    ["report", "--state", self.db, dep], ["timeline", "--state", self.db, dep],
                    ["history", "--state", self.db]):
            p = ttdeploy(*cmd, check=0)
            assert_no_secret(p.stdout + p.stderr, " ".join(cmd[:2]))
        p = ttdeploy("audit", "verify", "--state", self.db)
        assert p.returncode == 0, p.stdout + p.stderr

    def close(self):
        purge_project(self.name)


def assert_no_secret(text, where):
    assert SECRET not in text, f"the header value is in {where}: {text}"
    assert TOKEN_PATH not in text and "T0KEN" not in text, f"the URL's path is in {where}: {text}"


def hook(url, on=None, timeout="1s", headers=True):
    text = f"  - url: {url}\n    timeout: {timeout}\n"
    if on:
        text += f"    on: [{', '.join(on)}]\n"
    if headers:
        text += ("    headers: {Authorization: 'Bearer ${TT_NOTIFY_SECRET}', "
                 "X-Team: ops}\n")
    return text


def test_good_apply_sends_started_and_succeeded():
    r, p = Receiver(), Project("tte2e-notify-good")
    try:
        p.write("v1", hook(r.url))
        res = p.apply()
        assert res.returncode == 0, res.stdout + res.stderr
        assert r.events() == ["started", "succeeded"], r.events()
        for path, headers, _ in r.requests:
            assert path == TOKEN_PATH, path
            assert headers.get("Authorization") == f"Bearer {SECRET}", headers
            assert headers.get("X-Team") == "ops", headers
            assert headers.get("Content-Type") == "application/json", headers
        started, done = r.requests[0][2], r.requests[1][2]
        dep = p.deployment()
        assert dep["status"] == "succeeded", dep
        for body in (started, done):
            assert body["project"] == "tte2e-notify-good", body
            assert body["deployment"] == dep["id"], body
            assert body["release"] == "v1", body
            assert body["actor"], body
            assert body["started_at"].endswith("Z"), body
            assert "tte2e-notify-good v1" in body["summary"], body
            assert body["text"].startswith(":") and "tte2e-notify-good" in body["text"], body
            assert body["report"].endswith(f" {dep['id']}"), body
        assert started["status"] == "locked" and "finished_at" not in started, started
        assert done["status"] == "succeeded" and done["duration_s"] >= 0, done
        assert "failed_phase" not in done and "rule" not in done, done
        steps = p.notify_steps()
        intent = f"POST http://127.0.0.1:{r.port} (%s)"
        assert [(s["phase"], s["intent"], s["status"]) for s in steps] == [
            ("locked", intent % "started", "ok"), ("succeeded", intent % "succeeded", "ok")], steps
        assert re.fullmatch("delivered: HTTP 200, attempts: 1" + WEBHOOK_1,
                            steps[1]["detail"]), steps
        assert "notify: POST http://127.0.0.1" in res.stdout, res.stdout
        p.check_store()
        dry = p.apply("--dry-run")
        assert dry.returncode == 0, dry.stdout + dry.stderr
        assert (f"would POST to http://127.0.0.1:{r.port} on started succeeded failed "
                "rolled_back rollback_failed (timeout 1.0 s, 2 headers)") in dry.stdout, dry.stdout
        assert len(r.requests) == 2, "a dry run tells no one"
    finally:
        r.close()
        p.close()


def test_retried_until_delivered():
    r, p = Receiver([500, 500, 200]), Project("tte2e-notify-retry")
    try:
        p.write("v1", hook(r.url, on=["succeeded"]))
        t0 = time.monotonic()
        res = p.apply()
        assert res.returncode == 0, res.stdout + res.stderr
        assert r.events() == ["succeeded"] * 3, r.events()
        steps = p.notify_steps()
        assert len(steps) == 1 and steps[0]["status"] == "ok", steps
        assert re.fullmatch("delivered: HTTP 200, attempts: 3" + WEBHOOK_1,
                            steps[0]["detail"]), steps
        assert time.monotonic() - t0 >= 1.5, "the backoff waits 0.5 s then 1 s"
        p.check_store()
    finally:
        r.close()
        p.close()


def test_never_delivered_is_recorded_and_changes_nothing():
    r, p = Receiver([500]), Project("tte2e-notify-down")
    try:
        port = closed_port()
        p.write("v1", hook(r.url, on=["succeeded"]) +
                hook(f"http://127.0.0.1:{port}{TOKEN_PATH}", on=["started"]))
        res = p.apply()
        assert res.returncode == 0, res.stdout + res.stderr
        assert r.events() == ["succeeded"] * 4, r.events()
        assert p.deployment()["status"] == "succeeded", p.deployment()
        started, done = p.notify_steps()
        assert started["status"] == "failed" and started["intent"] == \
            f"POST http://127.0.0.1:{port} (started)", started
        assert started["detail"].startswith("not delivered: attempts: 4, last: no answer"), started
        assert done["status"] == "failed", done
        assert re.fullmatch("not delivered: attempts: 4, last: HTTP 500" + WEBHOOK_1,
                            done["detail"]), done
        assert "not told after 4 attempts" in done["error"], done
        assert "not delivered" in res.stdout, res.stdout
        p.check_store()
    finally:
        r.close()
        p.close()


def test_failing_deployment_sends_rolled_back_and_on_filters():
    r, p = Receiver(), Project("tte2e-notify-fail")
    try:
        p.write("v1", hook(r.url, on=["failed", "rolled_back", "rollback_failed"]))
        res = p.apply()
        assert res.returncode == 0, res.stdout + res.stderr
        assert r.events() == [], "on: leaves out started and succeeded"
        assert p.notify_steps() == [], "nothing sent, nothing recorded"
        build_image(V2_IMAGE, "true")  # another image ID: images has something to go back from
        p.write("v2", hook(r.url, on=["failed", "rolled_back", "rollback_failed"]), check="false",
                image=V2_IMAGE)
        res = p.apply()
        assert res.returncode == 1, res.stdout + res.stderr
        dep = p.deployment()
        assert dep["status"] == "rolled_back", dep
        assert r.events() == ["rolled_back"], r.events()
        body = r.requests[0][2]
        assert body["status"] == "rolled_back" and body["release"] == "v2", body
        assert body["failed_phase"] == "verify" and body["failed_check"] == "api-alive", body
        assert body["rule"]["number"] >= 1 and "images" in body["rule"]["actions"], body
        assert body["previous_release"]["release"] == "v1", body
        assert body["error"] and "api-alive" in body["error"], body
        assert "after verify failed (check api-alive)" in body["summary"], body
        assert "back to v1" in body["summary"], body
        steps = p.notify_steps()
        assert [(s["phase"], s["status"]) for s in steps] == [("rolled_back", "ok")], steps
        p.check_store()
    finally:
        r.close()
        p.close()


def test_unset_header_variable_is_refused():
    p = Project("tte2e-notify-unset")
    try:
        p.write("v1", "  - url: http://127.0.0.1:9/x\n"
                "    headers: {Authorization: 'Bearer ${TT_NOTIFY_UNSET_VAR}'}\n")
        res = ttdeploy("apply", p.plan)
        assert res.returncode == 2, res.stdout + res.stderr
        assert re.search(r"plan\.yml:\d+:\d+: notify header Authorization uses "
                         r"\$\{TT_NOTIFY_UNSET_VAR\}, which is not set", res.stderr), res.stderr
        assert not os.path.exists(p.db), "nothing recorded"
        # the commands that are not a new deployment go on, without the webhooks
        res = ttdeploy("check", p.plan)  # names what apply would refuse
        assert res.returncode == 1, res.stdout + res.stderr
        assert re.search(r"FAILED +files .*TT_NOTIFY_UNSET_VAR", res.stdout), res.stdout
        res = ttdeploy("diff", p.plan)
        assert res.returncode == 1, res.stdout + res.stderr  # never deployed: it differs
        res = ttdeploy("recover", p.plan)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "the webhooks are not told in this run" in res.stdout + res.stderr
    finally:
        p.close()


def test_crash_while_telling_the_end_then_recover():
    r, p = Receiver(), Project("tte2e-notify-crash")
    try:
        p.write("v1", hook(r.url, on=["succeeded"], headers=False))
        listing = p.apply(env={"TTDEPLOY_CRASH_AT": "list"})
        assert listing.returncode == 0, listing.stderr
        points = re.findall(r"crash point (\d+): intent of step \d+: succeeded notify",
                            listing.stderr)
        assert len(points) == 1, listing.stderr
        purge_project(p.name)
        shutil.rmtree(os.path.dirname(p.db))
        r.requests.clear()
        p.apply(env={"TTDEPLOY_CRASH_AT": points[0]})
        dep = p.deployment()
        assert dep["status"] == "running" and dep["state"] == "succeeded", dep
        res = ttdeploy("recover", "--progress", "plain", p.plan)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "had ended succeeded: recording its end" in res.stdout, res.stdout
        dep = p.deployment()
        assert dep["status"] == "succeeded", dep
        assert r.events() == ["succeeded"], "the end event sent again by recover"
        steps = p.notify_steps()
        assert [s["status"] for s in steps] == ["interrupted", "ok"], steps
        p.check_store()
    finally:
        r.close()
        p.close()


def test_recover_tells_each_webhook_its_end_once():
    """Two webhooks on one origin (their paths differ): a crash once the first was told
    (its step ended ok) and before the second was, then recover: each got the end event
    exactly once; a crash once both were told, before the seal: recover tells nobody."""
    r, p = Receiver(), Project("tte2e-notify-once")
    second = f"http://127.0.0.1:{r.port}{TOKEN_PATH}/b"
    try:
        p.write("v1", hook(r.url, on=["succeeded"], headers=False)
                + hook(second, on=["succeeded"], headers=False))
        listing = p.apply(env={"TTDEPLOY_CRASH_AT": "list"})
        assert listing.returncode == 0, listing.stderr
        steps = re.findall(r"crash point \d+: intent of step (\d+): succeeded notify",
                           listing.stderr)
        assert len(steps) == 2, listing.stderr
        ends = [re.search(r"crash point (\d+): outcome of step %s ok" % s, listing.stderr)
                for s in steps]
        assert all(ends), listing.stderr
        for at, told_before in ((ends[0].group(1), 1), (ends[1].group(1), 2)):
            purge_project(p.name)
            shutil.rmtree(os.path.dirname(p.db))
            r.requests.clear()
            p.apply(env={"TTDEPLOY_CRASH_AT": at})
            dep = p.deployment()
            assert dep["status"] == "running" and dep["state"] == "succeeded", dep
            assert len(r.requests) == told_before, r.requests
            res = ttdeploy("recover", "--progress", "plain", p.plan)
            assert res.returncode == 0, res.stdout + res.stderr
            assert p.deployment()["status"] == "succeeded", p.deployment()
            paths = sorted(q[0] for q in r.requests)
            assert paths == sorted([TOKEN_PATH, TOKEN_PATH + "/b"]), (at, paths)
            assert all(e == "succeeded" for e in r.events()), r.events()
            assert res.stdout.count("already delivered before the crash") == told_before, \
                res.stdout
            steps = p.notify_steps()
            assert [s["status"] for s in steps] == \
                ["ok"] * told_before + ["skipped"] * told_before + ["ok"] * (2 - told_before), steps
            assert "; webhook 1, url hmac-sha256:" in steps[0]["detail"], steps[0]
            assert "; webhook 2, url hmac-sha256:" in steps[-1]["detail"], steps[-1]
            show = ttdeploy("show", "--state", p.db, str(dep["id"]))
            assert "already delivered before the crash" in show.stdout, show.stdout
            p.check_store()
    finally:
        r.close()
        p.close()


def test_interrupted_sends_no_end_event_until_recover():
    r, p = Receiver(), Project("tte2e-notify-sigint")
    try:
        p.write("v1", hook(r.url), api_more=healthcheck('["CMD", "false"]', interval="1s",
                                                        timeout="1s", retries=1000))
        env = dict(os.environ, TT_NOTIFY_SECRET=SECRET)
        proc = subprocess.Popen([TTDEPLOY, "apply", "--progress", "plain", p.plan], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while "app_up" not in proc.stdout.readline() and time.monotonic() < deadline:
            pass  # until api is being brought up (and never gets healthy)
        time.sleep(1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, out + err
        assert r.events() == ["started"], "a stop signal sends no end event"
        assert p.deployment()["status"] == "running", p.deployment()
        res = ttdeploy("recover", "--progress", "plain", p.plan, env={"TT_NOTIFY_SECRET": SECRET})
        assert res.returncode == 1, res.stdout + res.stderr
        assert r.events() == ["started", "failed"], "recover decides the end and sends it"
        assert r.requests[1][2]["status"] == "failed", r.requests[1][2]
        p.check_store()
    finally:
        r.close()
        p.close()


if __name__ == "__main__":
    run(globals())
