"""test_stack.py - `ttdeploy up` and `ttdeploy down` against the private
dockerd with the offline images: health-gated start order, failures that
stop dependants, idempotence, recreate-on-change, clean removal, and the
error for a daemon that is not there."""
import datetime
import hashlib
import http.server
import io
import json
import os
import socket
import tarfile
import tempfile
import threading
import time
import urllib.parse
import urllib.request

from harness import (BUSYBOX, ROOT, api, compose_project, healthcheck, project_containers,
                     project_leftovers, purged, run, service, ttdeploy)

EXAMPLE = os.path.join(ROOT, "examples", "tasktracker", "compose.yml")


def up(path, project, *args, env=None):
    return ttdeploy("up", "-f", path, "-p", project, "--progress", "plain", *args, env=env)


def wait_docker_healthy(cs, intervals, slack=3.0):
    """Polls Docker's own health status; returns {service: seconds until healthy}."""
    t0 = time.monotonic()
    seen = {}
    while len(seen) < len(cs) and time.monotonic() - t0 < max(intervals.values()) + slack:
        for name, c in cs.items():
            if name not in seen:
                _, info = api("GET", f"/containers/{c['Id']}/json")
                if info["State"]["Health"]["Status"] == "healthy":
                    seen[name] = time.monotonic() - t0
        time.sleep(0.2)
    return seen


def test_example_stack_comes_up_healthy_and_down_removes_it():
    project = "tte2e-example"
    env = {"PG_PORT": "15555", "API_PORT": "18000", "HTTP_PORT": "18080"}
    intervals = {"postgres": 10, "nats": 10, "api": 5, "dashboard": 5, "worker": 30, "nginx": 30}
    with purged(project):
        t0 = time.monotonic()
        p = up(EXAMPLE, project, "--timeout", "150s", env=env)
        took = time.monotonic() - t0
        assert p.returncode == 0, p.stdout + p.stderr
        assert took < 20, f"probes make the stack ready long before Docker's ticks ({took:.1f} s)"
        assert p.stdout.count("(probe, ") == 6, p.stdout
        cs = project_containers(project)
        assert sorted(cs) == ["api", "dashboard", "nats", "nginx", "postgres", "worker"]
        for name, c in cs.items():
            assert c["Labels"]["com.docker.compose.project"] == project
            assert c["Labels"]["com.docker.compose.oneoff"] == "False"
            assert len(c["Labels"]["com.docker.compose.config-hash"]) == 64
        body = urllib.request.urlopen("http://127.0.0.1:18000/api/health", timeout=5).read()
        assert b"ok" in body
        # dependants started only after their dependencies were ready
        started = {n: api("GET", f"/containers/{c['Id']}/json")[1]["State"]["StartedAt"]
                   for n, c in cs.items()}
        assert started["api"] > started["postgres"] and started["nginx"] > started["dashboard"]
        # the probe never calls ready what Docker will not: Docker agrees within each interval
        healthy = wait_docker_healthy(cs, intervals)
        for name, secs in intervals.items():
            assert name in healthy, f"Docker never reported {name} healthy"
            assert healthy[name] <= secs + 3, (name, healthy[name])
        p = ttdeploy("down", "-f", EXAMPLE, "-p", project, "-v", "--progress", "plain", env=env)
        assert p.returncode == 0, p.stderr
        assert project_leftovers(project) == {"containers": [], "networks": [], "volumes": []}


def test_unhealthy_service_fails_before_dependants_start():
    project = "tte2e-unhealthy"
    db = service("db", more=healthcheck('["CMD-SHELL", "echo db is not accepting connections; exit 1"]',
                                        interval="1s", timeout="2s", retries=2))
    app = service("app", init=False, more="    depends_on:\n      db: {condition: service_healthy}\n")
    with compose_project(project, db, app) as path:
        t0 = time.monotonic()
        p = up(path, project, "--timeout", "60s")
        assert p.returncode == 1, (p.returncode, p.stderr)
        assert 'service "db" is unhealthy' in p.stderr, p.stderr
        assert "db is not accepting connections" in p.stderr, p.stderr
        assert time.monotonic() - t0 < 30, "unhealthy ends the wait before the deadline"
        assert "app" not in project_containers(project), "the dependant's container is gone"
        assert "skipped" in p.stdout
        # it had been created ahead, while db came up, and was removed when db failed
        f = urllib.parse.quote(json.dumps({"label": [f"com.docker.compose.project={project}"],
                                           "type": ["container"]}))
        _, body = api("GET", f"/events?since={int(time.time()) - 60}&until={int(time.time()) + 1}"
                             f"&filters={f}")
        text = body.decode() if isinstance(body, bytes) else json.dumps(body)
        evs = [json.loads(x) for x in text.splitlines() if x.strip()]
        app = [e["Action"] for e in evs
               if e["Actor"]["Attributes"].get("com.docker.compose.service") == "app"]
        assert app == ["create", "destroy"], app


def docker_time(text):
    """Seconds since the epoch of a Docker timestamp (nanoseconds cut to micro)."""
    head, _, frac = text.rstrip("Z").partition(".")
    t = datetime.datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    return t + float("0." + (frac or "0")[:6])


def test_a_dependant_is_created_ahead_and_started_when_its_dependency_is_ready():
    project = "tte2e-ahead"
    db = service("db", command='["sh", "-c", "sleep 2; touch /tmp/ready; exec sleep 300"]',
                 more=healthcheck('["CMD", "test", "-f", "/tmp/ready"]', interval="1s",
                                  timeout="1s", retries=30))
    app = service("app", more="    depends_on:\n      db: {condition: service_healthy}\n")
    with compose_project(project, db, app) as path:
        p = up(path, project, "--timeout", "60s")
        assert p.returncode == 0, p.stdout + p.stderr
        info = {n: api("GET", f"/containers/{c['Id']}/json")[1]
                for n, c in project_containers(project).items()}
        db_started = docker_time(info["db"]["State"]["StartedAt"])
        app_created = docker_time(info["app"]["Created"])
        app_started = docker_time(info["app"]["State"]["StartedAt"])
        assert app_created < db_started + 1.0, ("app created ahead", app_created - db_started)
        assert app_started > db_started + 1.9, ("app started once db was ready",
                                                app_started - db_started)


def stop_grace_seen(container_id, since):
    """Seconds between the SIGTERM and the SIGKILL Docker sent container_id (None: no SIGKILL)."""
    f = urllib.parse.quote(json.dumps({"container": [container_id], "event": ["kill"]}))
    _, body = api("GET", f"/events?since={since}&until={int(time.time()) + 1}&filters={f}")
    if isinstance(body, bytes):
        kills = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
    else:
        kills = [body] if body else []
    at = {k["Actor"]["Attributes"]["signal"]: k["timeNano"] / 1e9 for k in kills if k}
    return at["9"] - at["15"] if "9" in at and "15" in at else None


def test_a_never_healthy_container_is_stopped_with_a_short_grace():
    """Replacing a container that never became healthy waits 2 s (or its own
    stop_grace_period) for it to stop, not Docker's default 10 s.  Its PID 1
    is a bare `sleep`, which ignores SIGTERM, so the grace is all used."""
    project = "tte2e-grace"
    hc = healthcheck('["CMD-SHELL", "exit 1"]', interval="1s", timeout="1s", retries=1)
    a = service("a", init=False, more='    environment: ["VERSION=${A_VERSION:-1}"]\n' + hc)
    b = service("b", init=False, more='    environment: ["VERSION=${A_VERSION:-1}"]\n'
                "    stop_grace_period: 4s\n" + hc)
    with compose_project(project, a, b) as path:
        assert up(path, project, "--timeout", "20s").returncode == 1
        first = {n: c["Id"] for n, c in project_containers(project).items()}
        since = int(time.time()) - 1
        up(path, project, "--timeout", "20s", env={"A_VERSION": "2"})
        assert project_containers(project)["a"]["Id"] != first["a"], "a was recreated"
        grace_a, grace_b = stop_grace_seen(first["a"], since), stop_grace_seen(first["b"], since)
        assert grace_a is not None and 1.5 < grace_a < 5, grace_a
        assert grace_b is not None and 3.5 < grace_b < 7, grace_b


def test_nonzero_exit_fails_service_completed_successfully():
    project = "tte2e-completed"
    migrate = service("migrate", init=False,
                      command='["sh", "-c", "echo applying migration 42; exit ${CODE:-3}"]')
    app = service("app", more="    depends_on:\n      migrate: {condition: service_completed_successfully}\n")
    with compose_project(project, migrate, app) as path:
        p = up(path, project, env={"CODE": "3"})
        assert p.returncode == 1, p.stderr
        assert 'service "migrate" exited with code 3' in p.stderr, p.stderr
        assert "applying migration 42" in p.stderr, "the last log lines are in the error"
        assert "app" not in project_containers(project)
        p = up(path, project, env={"CODE": "0"})
        assert p.returncode == 0, p.stderr
        cs = project_containers(project)
        assert cs["app"]["State"] == "running"
        assert cs["migrate"]["State"] == "exited"


def test_second_up_touches_nothing_and_change_recreates_only_that_service():
    project = "tte2e-idem"
    a = service("a", more='    environment: ["VERSION=${A_VERSION:-1}"]\n')
    b = service("b", more="    depends_on: [a]\n")
    with compose_project(project, a, b) as path:
        assert up(path, project).returncode == 0
        first = {n: c["Id"] for n, c in project_containers(project).items()}
        started = {n: api("GET", f"/containers/{i}/json")[1]["State"]["StartedAt"]
                   for n, i in first.items()}
        p = up(path, project)
        assert p.returncode == 0, p.stderr
        assert p.stdout.count("unchanged") == 2, p.stdout
        again = {n: c["Id"] for n, c in project_containers(project).items()}
        assert again == first
        for n, i in again.items():
            assert api("GET", f"/containers/{i}/json")[1]["State"]["StartedAt"] == started[n]
        p = up(path, project, env={"A_VERSION": "2"})
        assert p.returncode == 0, p.stderr
        changed = {n: c["Id"] for n, c in project_containers(project).items()}
        assert changed["a"] != first["a"], "a changed: recreated"
        assert changed["b"] == first["b"], "b did not change: kept"
        _, info = api("GET", f"/containers/{changed['a']}/json")
        assert "VERSION=2" in info["Config"]["Env"]


def test_json_progress_events():
    project = "tte2e-json"
    with compose_project(project, service("a", command="[sleep, '300']")) as path:
        p = ttdeploy("up", "-f", path, "-p", project, "--json")
        assert p.returncode == 0, p.stderr
        events = [json.loads(line) for line in p.stdout.splitlines()]
        states = [e.get("state") for e in events if e.get("service") == "a"]
        assert states[-1] == "running", events
        assert all("time" in e for e in events)


def serve_registry(image):
    """A read-only registry (HTTP API v2) on 127.0.0.1, which dockerd reaches
    without TLS, holding image (saved from the private daemon) as tt/busybox;
    returns (server, port, manifest digest).  The caller shuts it down."""
    _, saved = api("GET", "/images/" + urllib.parse.quote(image, safe="") + "/get")
    tar = tarfile.open(fileobj=io.BytesIO(saved))
    entry = json.loads(tar.extractfile("manifest.json").read())[0]
    blobs = {}

    def blob(data, media):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"mediaType": media, "size": len(data), "digest": digest}

    config = blob(tar.extractfile(entry["Config"]).read(),
                  "application/vnd.docker.container.image.v1+json")
    layers = [blob(tar.extractfile(name).read(), "application/vnd.docker.image.rootfs.diff.tar")
              for name in entry["Layers"]]
    manifest = json.dumps({"schemaVersion": 2, "config": config, "layers": layers,
                           "mediaType": "application/vnd.docker.distribution.manifest.v2+json"}
                          ).encode()
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()

    class Registry(http.server.BaseHTTPRequestHandler):
        def answer(self, body):
            parts = self.path.split("/")
            if self.path == "/v2/":
                data, media = b"{}", "application/json"
            elif "manifests" in parts:
                data, media = manifest, "application/vnd.docker.distribution.manifest.v2+json"
            elif "blobs" in parts and parts[-1] in blobs:
                data, media = blobs[parts[-1]], "application/octet-stream"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", media)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Docker-Content-Digest",
                             digest if "manifests" in parts else parts[-1])
            self.end_headers()
            if body:
                self.wfile.write(data)

        def do_GET(self):
            self.answer(True)

        def do_HEAD(self):
            self.answer(False)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1], digest


def test_an_image_reference_with_port_tag_and_digest_goes_through_encoded():
    """registry:port/repo:tag@sha256:... holds every character a path segment
    must encode (: / @): ttdeploy inspects it (404), pulls it and inspects it
    again, each time as one encoded segment the daemon decodes."""
    project = "tte2e-digest"
    server, port, digest = serve_registry(BUSYBOX)
    ref = f"127.0.0.1:{port}/tt/busybox:1@{digest}"
    try:
        with compose_project(project, service("a", image=ref)) as path:
            p = up(path, project, "--timeout", "60s")
            assert p.returncode == 0, p.stdout + p.stderr
            c = project_containers(project)["a"]
            assert c["Image"] == ref, c["Image"]
            _, img = api("GET", "/images/" + urllib.parse.quote(ref, safe="") + "/json")
            assert f"127.0.0.1:{port}/tt/busybox@{digest}" in img["RepoDigests"], img
    finally:
        server.shutdown()
        api("DELETE", "/images/" + urllib.parse.quote(f"127.0.0.1:{port}/tt/busybox@{digest}",
                                                     safe="") + "?force=1")


def test_missing_image_is_a_clear_error():
    project = "tte2e-noimage"
    nope = service("a", image="ttdeploy-test/nope:1", init=False, command=None)
    with compose_project(project, nope) as path:
        p = up(path, project)
        assert p.returncode == 1
        assert 'image "ttdeploy-test/nope:1" is not on the engine and cannot be pulled' in p.stderr, p.stderr
        assert project_containers(project) == {}


def test_daemon_not_running_gives_exit_5():
    with tempfile.TemporaryDirectory() as d:
        missing = os.path.join(d, "gone.sock")
        p = ttdeploy("up", "-f", EXAMPLE, "--host", "unix://" + missing)
        assert p.returncode == 5
        assert "does not exist: is dockerd running?" in p.stderr, p.stderr
        # a socket file with no daemon behind it: what a stopped dockerd leaves
        dead = os.path.join(d, "dead.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(dead)
        s.close()
        p = ttdeploy("down", "-f", EXAMPLE, env={"DOCKER_HOST": "unix://" + dead})
        assert p.returncode == 5
        assert "Connection refused: is dockerd running?" in p.stderr, p.stderr


if __name__ == "__main__":
    run(globals())
