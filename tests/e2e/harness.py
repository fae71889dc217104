"""harness.py - a tiny test runner for the e2e suites.

Each suite module defines test_* functions; run(globals()) calls them in
name order, prints one line per test and a closing "N passed, N failed".
A test fails by raising (assert).  tests/run-all.sh sums the closing lines.
Below the runner's helpers: the ttdeploy binary, the Engine API of the
private daemon, and scratch compose projects that are removed afterwards.
"""
import contextlib
import http.client
import json
import os
import socket
import subprocess
import urllib.parse
import sys
import tempfile
import time
import traceback

TTDEPLOY = os.environ.get("TTDEPLOY") or os.path.join(
    os.path.dirname(__file__), "..", "..", "ttdeploy")
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARED = os.path.abspath(os.environ.get("TTDEPLOY_SHARED") or os.path.join(ROOT, "..", "shared"))
BUSYBOX = "ttdeploy-test/busybox:latest"


def ttdeploy(*args, cwd=None, env=None, check=None):
    """Runs the built binary; returns CompletedProcess with text output."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    p = subprocess.run([TTDEPLOY, *args], cwd=cwd, env=full_env, capture_output=True,
                       text=True, timeout=300)
    if check is not None and p.returncode != check:
        raise AssertionError(f"ttdeploy {' '.join(args)}: exit {p.returncode}, want {check}\n"
                             f"stdout: {p.stdout}\nstderr: {p.stderr}")
    return p


DOCKER_HOST = os.environ.get("DOCKER_HOST", "unix:///var/tmp/ttdeploy-test/docker.sock")
SOCK = DOCKER_HOST[len("unix://"):]


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=60)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def api(method, path, body=None):
    """One Docker Engine API call on the private daemon: (status, parsed JSON or bytes)."""
    return request(_UnixHTTP(SOCK), method, path, body)


def request(c, method, path, body=None):
    """One Engine API call on connection c, closed after: (status, parsed JSON or bytes)."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    try:
        return r.status, json.loads(data) if data else None
    except ValueError:
        return r.status, data


def last_deployment(plan):
    """`show --json` of the newest deployment in plan's store."""
    h = json.loads(ttdeploy("history", "--plan", plan, "--json", "--limit", "1", check=0).stdout)
    return json.loads(ttdeploy("show", "--plan", plan, "--json", str(h[0]["id"]), check=0).stdout)


def project_filter(project):
    return urllib.parse.quote(json.dumps(
        {"label": [f"com.docker.compose.project={project}"]}))


def project_containers(project):
    """The project's containers (all states), by service name."""
    _, items = api("GET", f"/containers/json?all=1&filters={project_filter(project)}")
    return {c["Labels"].get("com.docker.compose.service"): c for c in items or []}


def project_leftovers(project):
    """Everything of the project on the daemon: containers, networks, volumes."""
    f = project_filter(project)
    _, cs = api("GET", f"/containers/json?all=1&filters={f}")
    _, ns = api("GET", f"/networks?filters={f}")
    _, vs = api("GET", f"/volumes?filters={f}")
    return {"containers": [c["Names"][0] for c in cs or []],
            "networks": [n["Name"] for n in ns or []],
            "volumes": [v["Name"] for v in (vs or {}).get("Volumes") or []]}


def purge_project(project):
    """Removes what a test created, even when ttdeploy failed half-way."""
    f = project_filter(project)
    _, cs = api("GET", f"/containers/json?all=1&filters={f}")
    for c in cs or []:
        api("DELETE", f"/containers/{c['Id']}?force=1&v=1")
    _, ns = api("GET", f"/networks?filters={f}")
    for n in ns or []:
        api("DELETE", f"/networks/{n['Id']}")
    _, vs = api("GET", f"/volumes?filters={f}")
    for v in (vs or {}).get("Volumes") or []:
        api("DELETE", f"/volumes/{v['Name']}")


@contextlib.contextmanager
def purged(project):
    """Runs the with-block, then removes the project from the daemon, whatever happened."""
    try:
        yield
    finally:
        purge_project(project)


def service(name, command='["sleep", "300"]', init=True, image=BUSYBOX, more=""):
    """One compose service as YAML text (under `services:`): image, `init: true`
    unless init is False, command unless it is None, then the lines in more."""
    text = f"  {name}:\n    image: {image}\n"
    if init:
        text += "    init: true\n"
    if command is not None:
        text += f"    command: {command}\n"
    return text + more


def healthcheck(test, **timing):
    """A service's healthcheck block as YAML text: test (a YAML list), then the
    timing keys (interval, timeout, retries, start_period) in the order given."""
    text = f"    healthcheck:\n      test: {test}\n"
    return text + "".join(f"      {key}: {value}\n" for key, value in timing.items())


@contextlib.contextmanager
def compose_project(project, *services):
    """A scratch folder holding compose.yml with the services given (YAML text
    from service()); yields the file's path, then removes the folder and the
    project from the daemon, whatever happened."""
    with tempfile.TemporaryDirectory() as d, purged(project):
        path = os.path.join(d, "compose.yml")
        with open(path, "w") as f:
            f.write("services:\n" + "".join(services))
        yield path


def run(namespace):
    tests = sorted((n, f) for n, f in namespace.items()
                   if n.startswith("test_") and callable(f))
    only = os.environ.get("TEST_ONLY")
    passed = failed = 0
    for name, fn in tests:
        if only and only not in name:
            continue
        t0 = time.monotonic()
        try:
            fn()
            passed += 1
            print(f"  ok   {name} ({time.monotonic() - t0:.2f}s)", flush=True)
        except Exception:
            failed += 1
            print(f"  FAIL {name}", flush=True)
            traceback.print_exc(file=sys.stdout)
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)
