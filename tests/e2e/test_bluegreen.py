"""test_bluegreen.py - zero-downtime releases: blue-green slots behind nginx.

A stack of api (busybox httpd answering its VERSION at /api/version and
"ok" or "broken" at /api/health) behind nginx (ttdeploy-test/nginx:1, the
upstream FOLDER mounted, port 24180 on loopback).  A load loop (loadgen.py,
20 requests/s through nginx) runs during each case and counts failed
requests and which version answered:

  - a good release (v1 -> v2): zero failures, v1 then v2, never both after
    the switch;
  - a release whose new slot never gets healthy: zero failures, only v1,
    the deployment rolled back;
  - a release whose check fails against the new slot: zero failures, the
    bad version never answers through nginx;
  - `ttdeploy rollback` to the previous release while its slot is kept:
    zero failures, the first answer from it within 1 s of the command's
    start.

For contrast, the same good release with strategy recreate counts its
failures (printed, not asserted).  Plans with a single-file mount of the
upstream file are refused naming the file.
"""
import os
import shutil
import subprocess
import tempfile
import time

from harness import BUSYBOX, TTDEPLOY, api, purge_project, run
from loadgen import LoadLoop

PROJECT = "tte2e-bg"
PORT = 24180
URL = f"http://127.0.0.1:{PORT}/api/version"
NGINX = "ttdeploy-test/nginx:1"

IMAGE = "ttdeploy-test/bg-api"

COMPOSE = f"""name: {PROJECT}
services:
  api:
    image: {IMAGE}:v1
    init: true
    command:
      - sh
      - -c
      - >-
        mkdir -p /www/api && cp /VERSION /www/api/version && cp /HEALTH /www/api/health &&
        if [ ! -f /NOSTART ]; then touch /tmp/ready; fi &&
        exec httpd -f -p 8000 -h /www
    healthcheck:
      test: [CMD, test, -f, /tmp/ready]
      interval: 1s
      timeout: 2s
      retries: 2
  nginx:
    image: {NGINX}
    depends_on:
      api: {{condition: service_healthy}}
    ports: ["127.0.0.1:{PORT}:80"]
    volumes: ["./upstream:/etc/nginx/upstream"]
    healthcheck:
      test: [CMD, wget, -q, -O-, http://127.0.0.1/nginx-health]
      interval: 1s
      timeout: 2s
      retries: 5
"""

ROLLOUT = """rollout:
  api:
    strategy: blue-green
    proxy: nginx
    upstream: {file: upstream/api.conf, name: api_backend, port: 8000}
    reload: [nginx, -s, reload]
    drain: 1s
    keep_previous: 10m
"""

PLAN = f"""version: 1
project: {PROJECT}
compose: [compose.yml]
release:
  version: ${{VERSION:-v1}}
  images: {{api: "{IMAGE}:${{VERSION:-v1}}"}}
tiers: {{app: [api, nginx]}}
timeouts: {{healthy: 15s, verify: 20s}}
verify:
  - name: api-health
    http: {{url: "http://api:8000/api/health", from: nginx, body: good}}
  - name: through-nginx
    http: {{url: "http://127.0.0.1:{PORT}/api/version"}}
  - name: not-v5
    exec: {{service: nginx, command: [sh, -c, "! wget -q -O- http://127.0.0.1/api/version | grep v5"]}}
rollback:
  matrix:
    - when: {{}}
      severity: high
      do: [images]
ROLLOUT"""


class Stack:
    def __init__(self, rollout=ROLLOUT):
        self.dir = tempfile.mkdtemp(prefix="ttdeploy-e2e-bg-")
        os.mkdir(os.path.join(self.dir, "upstream"))
        with open(os.path.join(self.dir, "compose.yml"), "w") as f:
            f.write(COMPOSE)
        self.plan = os.path.join(self.dir, "plan.yml")
        with open(self.plan, "w") as f:
            f.write(PLAN.replace("ROLLOUT", rollout))
        # a plan without blue-green routes nginx to the service itself
        if not rollout:
            with open(os.path.join(self.dir, "upstream", "api.conf"), "w") as f:
                f.write("upstream api_backend { server api:8000; }\n")

    def __enter__(self):
        purge_project(PROJECT)
        return self

    def __exit__(self, *exc):
        purge_project(PROJECT)
        shutil.rmtree(self.dir, ignore_errors=True)

    def tt(self, *args, env=None):
        full = dict(os.environ, **(env or {}))
        return subprocess.run([TTDEPLOY, *args], env=full, capture_output=True, text=True,
                              timeout=300)

    def apply(self, version, want=0):
        p = self.tt("apply", "--progress", "plain", self.plan, env={"VERSION": version})
        assert p.returncode == want, f"apply {version}: exit {p.returncode}\n{p.stdout}{p.stderr}"
        return p

    def slot_id(self, slot):
        st, ins = api("GET", f"/containers/{PROJECT}-api-{slot}-1/json")
        return ins["Id"] if st == 200 else None

    def slots(self):
        """{slot: (state, VERSION)} of the api's containers."""
        _, cs = api("GET", "/containers/json?all=1&filters="
                    '{"label":["com.docker.compose.project=%s",'
                    '"com.docker.compose.service=api"]}' % PROJECT)
        out = {}
        for c in cs or []:
            slot = c["Labels"].get("dev.ttdeploy.slot", "-")
            _, ins = api("GET", f"/containers/{c['Id']}/json")
            out[slot] = (c["State"], ins["Config"]["Image"].rsplit(":", 1)[1])
        return out


def make_image(version, health="good", start=True):
    """ttdeploy-test/bg-api:VERSION: busybox with /VERSION, /HEALTH and maybe /NOSTART,
    committed from a container (no registry, no build)."""
    tag = f"{IMAGE}:{version}"
    st, _ = api("GET", f"/images/{tag}/json")
    if st == 200:
        return
    script = f"echo {version} > /VERSION && echo {health} > /HEALTH"
    if not start:
        script += " && touch /NOSTART"
    st, c = api("POST", "/containers/create", {"Image": BUSYBOX, "Cmd": ["sh", "-c", script]})
    assert st == 201, c
    api("POST", f"/containers/{c['Id']}/start")
    api("POST", f"/containers/{c['Id']}/wait")
    st, out = api("POST", f"/commit?container={c['Id']}&repo={IMAGE}&tag={version}",
                  {"Cmd": ["sh"]})
    api("DELETE", f"/containers/{c['Id']}?force=1")
    assert st == 201, out


def setup_images():
    make_image("v1")
    make_image("v2")
    make_image("v3-unhealthy", start=False)
    make_image("v4-broken", health="sick")
    make_image("v5-bad-after")


def said(summary):
    """Prints what the load loop saw, for the record."""
    runs = ", ".join(v["version"] for v in summary["versions"])
    print(f"    {summary['total']} requests, {summary['failures']} failed; answered: {runs}")


def assert_switched(loop, summary, old, new, after):
    """old answered first, new last, and nothing else; old and new alternate only while
    nginx's old workers finish after the reload (well under 0.5 s), never after."""
    seen = [v["version"] for v in summary["versions"]]
    assert seen[0] == old and seen[-1] == new and set(seen) == {old, new}, seen
    overlap = loop.last_answer(old, after=after) - loop.first_answer(new, after=after)
    assert overlap < 0.5, (overlap, seen)


def first(loop, version, after):
    t = loop.first_answer(version, after=after)
    return None if t is None else t - after


def test_good_release_has_no_failed_request():
    with Stack() as s:
        s.apply("v1")
        assert s.slots() == {"blue": ("running", "v1")}, s.slots()
        with LoadLoop(URL, rate=20, max_seconds=120) as loop:
            time.sleep(1)
            s.apply("v2")
            time.sleep(1.5)
            summary = loop.stop()
        said(summary)
        assert summary["failures"] == 0, summary
        assert_switched(loop, summary, "v1", "v2", 0)
        assert s.slots() == {"blue": ("running", "v1"), "green": ("running", "v2")}, s.slots()
        status = s.tt("status", "--plan", s.plan).stdout
        api_line = next(x for x in status.splitlines() if x.startswith("api "))
        assert " green " in api_line and api_line.endswith(" ok"), status
        show = s.tt("show", "--plan", s.plan, "2").stdout
        assert " switch " in show and "blue slot" not in show.split(" switch ")[1][:0], show


def test_unhealthy_release_is_never_served():
    with Stack() as s:
        s.apply("v1")
        with LoadLoop(URL, rate=20, max_seconds=120) as loop:
            time.sleep(1)
            s.apply("v3-unhealthy", want=1)
            time.sleep(1)
            summary = loop.stop()
        said(summary)
        assert summary["failures"] == 0, summary
        assert [v["version"] for v in summary["versions"]] == ["v1"], summary["versions"]


def test_release_failing_its_check_is_never_served():
    with Stack() as s:
        s.apply("v1")
        with LoadLoop(URL, rate=20, max_seconds=120) as loop:
            time.sleep(1)
            p = s.apply("v4-broken", want=1)
            time.sleep(1)
            summary = loop.stop()
        assert "green slot" in p.stdout + p.stderr, p.stdout + p.stderr
        assert summary["failures"] == 0, summary
        assert [v["version"] for v in summary["versions"]] == ["v1"], summary["versions"]


def test_failure_after_the_switch_switches_back():
    with Stack() as s:
        s.apply("v1")
        with LoadLoop(URL, rate=20, max_seconds=120) as loop:
            time.sleep(1)
            p = s.apply("v5-bad-after", want=1)
            time.sleep(1)
            summary = loop.stop()
        assert "rolled_back" in p.stdout + p.stderr, p.stdout + p.stderr
        assert summary["failures"] == 0, summary
        seen = [v["version"] for v in summary["versions"]]
        assert seen[0] == "v1" and seen[-1] == "v1", seen
        live = open(os.path.join(s.dir, "upstream", "api.conf")).read()
        assert "api-blue-1" in live, live


def test_idle_slot_expires_after_keep_previous():
    with Stack(rollout=ROLLOUT.replace("keep_previous: 10m", "keep_previous: 1s")) as s:
        s.apply("v1")
        s.apply("v2")
        blue_before = s.slot_id("blue")
        time.sleep(2)
        p = s.tt("rollback", "--progress", "plain", s.plan, env={"VERSION": "v2"})
        assert p.returncode == 0, p.stdout + p.stderr
        out = s.tt("show", "--plan", s.plan, "3").stdout
        assert "remove-slot" in out and "keep_previous 1 s" in out, out
        # the previous release started again in the idle slot, health-gated, then switched
        assert s.slots() == {"blue": ("running", "v1"), "green": ("running", "v2")}, s.slots()
        assert s.slot_id("blue") != blue_before
        assert "api-blue-1" in open(os.path.join(s.dir, "upstream", "api.conf")).read()


def test_failed_reload_puts_the_old_upstream_file_back():
    with Stack(rollout=ROLLOUT.replace("[nginx, -s, reload]", "[sh, -c, 'echo no; exit 3']")) as s:
        s.apply("v1")  # the first slot: the proxy reads the file when it starts
        conf = os.path.join(s.dir, "upstream", "api.conf")
        before = open(conf).read()
        with LoadLoop(URL, rate=20, max_seconds=120) as loop:
            time.sleep(1)
            p = s.apply("v2", want=1)
            time.sleep(1)
            summary = loop.stop()
        assert "exited 3" in p.stdout + p.stderr, p.stdout + p.stderr
        assert open(conf).read() == before, "the old upstream file is not back"
        assert summary["failures"] == 0, summary
        assert [v["version"] for v in summary["versions"]] == ["v1"], summary["versions"]
        assert not [f for f in os.listdir(os.path.dirname(conf)) if "ttdeploy-" in f]


def test_dry_run_shows_the_slot_and_the_switch():
    with Stack() as s:
        s.apply("v1")
        p = s.tt("apply", "--dry-run", s.plan, env={"VERSION": "v2"})
        assert p.returncode == 0, p.stdout + p.stderr
        assert "in its green slot, then switch the proxy to it" in p.stdout, p.stdout


def test_rollback_to_the_kept_slot_is_instant():
    with Stack() as s:
        s.apply("v1")
        s.apply("v2")
        with LoadLoop(URL, rate=20, max_seconds=120) as loop:
            time.sleep(1)
            t0 = time.monotonic()
            p = s.tt("rollback", "--progress", "plain", s.plan, env={"VERSION": "v2"})
            took = time.monotonic() - t0
            time.sleep(1)
            summary = loop.stop()
        assert p.returncode == 0, p.stdout + p.stderr
        assert summary["failures"] == 0, summary
        assert_switched(loop, summary, "v2", "v1", t0)
        back = first(loop, "v1", t0)
        print(f"    rollback command {took:.2f} s; first v1 answer {back:.2f} s after its start")
        assert back is not None and back < 1.0, back


def test_recreate_for_contrast():
    with Stack(rollout="") as s:
        s.apply("v1")
        with LoadLoop(URL, rate=20, max_seconds=120) as loop:
            time.sleep(1)
            s.apply("v2")
            time.sleep(1.5)
            summary = loop.stop()
        print(f"    recreate: {summary['failures']} of {summary['total']} requests failed")


def test_single_file_mount_is_refused():
    with Stack() as s:
        with open(os.path.join(s.dir, "compose.yml")) as f:
            text = f.read()
        with open(os.path.join(s.dir, "compose.yml"), "w") as f:
            f.write(text.replace("./upstream:/etc/nginx/upstream",
                                 "./upstream/api.conf:/etc/nginx/upstream/api.conf"))
        p = s.tt("apply", s.plan, env={"VERSION": "v1"})
        assert p.returncode == 2, p.stdout + p.stderr
        assert "mounts the upstream file" in p.stderr and "plan.yml:" in p.stderr, p.stderr


SF_COMPOSE = f"""name: {PROJECT}
services:
  worker:
    image: {IMAGE}:${{VERSION:-v1}}
    init: true
    command: [sh, -c, "sleep 1; touch /tmp/ready; exec sleep 300"]
    healthcheck: {{test: [CMD, test, -f, /tmp/ready], interval: 1s, timeout: 2s, retries: 5}}
    deploy:
      update_config: {{order: start-first}}
"""
SF_PLAN = f"""version: 1
project: {PROJECT}
release: {{version: "${{VERSION:-v1}}"}}
tiers: {{app: [worker]}}
"""


def test_start_first_starts_the_new_container_before_stopping_the_old():
    with Stack() as s:
        with open(os.path.join(s.dir, "compose.yml"), "w") as f:
            f.write(SF_COMPOSE)
        with open(s.plan, "w") as f:
            f.write(SF_PLAN)
        s.apply("v1")
        _, old = api("GET", f"/containers/{PROJECT}-worker-blue-1/json")
        assert old["State"]["Running"], old["State"]
        s.apply("v2")
        _, new = api("GET", f"/containers/{PROJECT}-worker-green-1/json")
        st, gone = api("GET", f"/containers/{PROJECT}-worker-blue-1/json")
        assert st == 404, "the old slot was not removed"
        assert new["State"]["Health"]["Status"] == "healthy", new["State"]
        show = s.tt("show", "--plan", s.plan, "2").stdout
        lines = show.splitlines()
        wait = next(i for i, x in enumerate(lines) if "app_healthy" in x and " wait " in x)
        retire = next(i for i, x in enumerate(lines) if " retire " in x)
        assert wait < retire and " ok " in lines[retire], show
        # a published port cannot be held by two containers: refused before anything starts
        with open(os.path.join(s.dir, "compose.yml"), "w") as f:
            f.write(SF_COMPOSE.replace("    init: true\n", "    init: true\n    ports: ['8999:80']\n"))
        p = s.tt("apply", s.plan, env={"VERSION": "v1"})
        assert p.returncode == 2 and "start-first" in p.stderr and "compose.yml:" in p.stderr, \
            p.stderr


if __name__ == "__main__":
    setup_images()
    run(globals())
