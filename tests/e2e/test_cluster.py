"""test_cluster.py - swarm mode on a three-node swarm: tests/cluster.sh makes
(or reuses) three private dockerds in network namespaces ttd-n1..3, joined
with `swarm join`, node 2 labelled role=api.  First the swarm itself: three
Ready nodes, and a plain service constrained to role==api runs on node 2.
Then ttdeploy, with the plan's `engine: {host: node 1's socket, mode:
swarm}` and no DOCKER_HOST: v1 of a small stack (db -> api -> worker,
busybox with healthchecks) puts the api on node 2 and the worker on node
1, which reaches the api over the overlay network (the test asks from the
worker's container); v2's api fails its healthcheck on node 2, and
ttdeploy rolls back to v1: the api service's spec names v1 again and its
task on node 2 runs v1.

This kernel has no IPVS, so a service's virtual IP does not answer: the
check talks to the api by `tasks.api` (the tasks' own addresses)."""
import json
import os
import subprocess
import tempfile
import time
import urllib.parse

from harness import _UnixHTTP, request, run, ttdeploy

ROOT = os.environ.get("TTDEPLOY_TEST_ROOT", "/var/tmp/ttdeploy-test")
CLUSTER_SH = os.path.join(os.path.dirname(__file__), "..", "cluster.sh")
BASE = "ttdeploy-test/busybox:latest"
V1 = "ttdeploy-test/cl-api:v1"
V2 = "ttdeploy-test/cl-api:v2"
PROJECT = "ttclu"

# ttdeploy must find the engine through the plan, not the shared daemon's DOCKER_HOST.
os.environ.pop("DOCKER_HOST", None)
os.environ.pop("DOCKER_CONTEXT", None)


def sock(n):
    return f"{ROOT}/cluster/n{n}/docker.sock"


def node_api(n, method, path, body=None):
    """One Engine API call on node n's dockerd: (status, parsed JSON or bytes)."""
    return request(_UnixHTTP(sock(n)), method, path, body)


_up = []


def cluster_up():
    """tests/cluster.sh up, once per run: the nodes, the swarm, busybox on each node."""
    if not _up:
        p = subprocess.run(["sh", CLUSTER_SH, "up"], capture_output=True, text=True, timeout=240)
        assert p.returncode == 0, f"tests/cluster.sh up failed:\n{p.stderr}"
        _up.append(True)


def node_id(n):
    _, info = node_api(n, "GET", "/info")
    return info["Swarm"]["NodeID"]


def build_image(n, ref, script):
    """Commits, on node n, a variant of busybox in which script ran once (kept if there)."""
    repo, tag = ref.rsplit(":", 1)
    if node_api(n, "GET", f"/images/{ref}/json")[0] == 200:
        return
    status, c = node_api(n, "POST", "/containers/create", {"Image": BASE, "Cmd": ["sh", "-c", script]})
    assert status == 201, c
    try:
        assert node_api(n, "POST", f"/containers/{c['Id']}/start")[0] == 204
        status, w = node_api(n, "POST", f"/containers/{c['Id']}/wait")
        assert status == 200 and w["StatusCode"] == 0, w
        status, body = node_api(n, "POST", f"/commit?container={c['Id']}&repo={repo}&tag={tag}",
                                {"Cmd": ["sh"], "Env": ["PATH=/bin"]})
        assert status == 201, body
    finally:
        node_api(n, "DELETE", f"/containers/{c['Id']}?force=1")


def images():
    """The releases on every node: v1 answers /api/health; v2 lacks it."""
    for n in (1, 2, 3):
        build_image(n, V1, "echo v1 >/version")
        build_image(n, V2, "echo v2 >/version && rm /www/api/health")


def tasks(service, state=None):
    """The tasks of a Swarm service; only those whose desired state is state, when given."""
    f = {"service": [service]}
    if state:
        f["desired-state"] = [state]
    _, ts = node_api(1, "GET", "/tasks?filters=" + urllib.parse.quote(json.dumps(f)))
    return ts or []


def wait_running_task(service, timeout=30):
    """The one running task of service, waited for."""
    deadline = time.monotonic() + timeout
    while True:
        running = [t for t in tasks(service, "running") if t["Status"]["State"] == "running"]
        if running:
            return running[0]
        assert time.monotonic() < deadline, f"{service}: no running task after {timeout} s: {tasks(service)}"
        time.sleep(0.25)


def remove_services(prefix, timeout=30):
    """Removes the services and networks whose names start with prefix, and
    waits until the manager lists none (a network goes once its services'
    tasks are gone)."""
    deadline = time.monotonic() + timeout
    while True:
        _, svcs = node_api(1, "GET", "/services")
        _, nets = node_api(1, "GET", "/networks")
        svcs = [x for x in svcs or [] if x["Spec"]["Name"].startswith(prefix)]
        nets = [x for x in nets or [] if x["Name"].startswith(prefix)]
        if not svcs and not nets:
            return
        assert time.monotonic() < deadline, f"still there after {timeout} s: {svcs} {nets}"
        for x in svcs:
            node_api(1, "DELETE", f"/services/{x['ID']}")
        for x in nets:
            node_api(1, "DELETE", f"/networks/{x['Id']}")
        time.sleep(0.25)


def test_swarm_of_three_nodes_places_by_label():
    cluster_up()
    _, nodes = node_api(1, "GET", "/nodes")
    assert sorted((x["Description"]["Hostname"], x["Status"]["State"]) for x in nodes) == [
        ("ttd-n1", "ready"), ("ttd-n2", "ready"), ("ttd-n3", "ready")], nodes
    by_id = {x["ID"]: x for x in nodes}
    assert by_id[node_id(2)]["Spec"]["Labels"].get("role") == "api", by_id[node_id(2)]
    assert by_id[node_id(1)]["Spec"].get("Role") == "manager"
    name = "ttclu-probe"
    remove_services(name)
    try:
        status, body = node_api(1, "POST", "/services/create", {
            "Name": name,
            "TaskTemplate": {"ContainerSpec": {"Image": BASE, "Command": ["sleep", "300"]},
                             "Placement": {"Constraints": ["node.labels.role==api"]}},
            "Mode": {"Replicated": {"Replicas": 1}}})
        assert status == 201, body
        t = wait_running_task(name)
        assert t["NodeID"] == node_id(2), (t["NodeID"], node_id(2))
        cid = t["Status"]["ContainerStatus"]["ContainerID"]
        assert node_api(2, "GET", f"/containers/{cid}/json")[0] == 200
        assert node_api(1, "GET", f"/containers/{cid}/json")[0] == 404
    finally:
        remove_services(name)


COMPOSE = """services:
  db:
    image: ttdeploy-test/busybox:latest
    init: true
    command: ["sleep", "3600"]
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
      timeout: 1s
      retries: 2
  api:
    image: ttdeploy-test/cl-api:v1
    init: true
    command: ["httpd", "-f", "-p", "8000", "-h", "/www"]
    depends_on:
      db: {condition: service_healthy}
    healthcheck:
      test: ["CMD", "test", "-f", "/www/api/health"]
      interval: 1s
      timeout: 1s
      retries: 2
      start_period: 1s
    deploy:
      placement:
        constraints: ["node.labels.role==api"]
  worker:
    image: ttdeploy-test/busybox:latest
    init: true
    command: ["sleep", "3600"]
    depends_on:
      api: {condition: service_healthy}
    deploy:
      placement:
        constraints: ["node.role==manager"]
"""

PLAN = """version: 1
project: ttclu
compose: [compose.yml]
engine:
  host: unix://{sock}
  mode: swarm
release:
  version: ${{RELEASE}}
  images:
    api: ${{API_IMAGE}}
tiers:
  infra: [db]
  app: [api, worker]
timeouts: {{healthy: 40s}}
rollback:
  matrix:
    - when: {{phase: app_healthy}}
      severity: critical
      do: [images]
    - when: {{}}
      severity: low
      do: [none]
"""


def service_image(service):
    _, s = node_api(1, "GET", f"/services/{PROJECT}_{service}")
    return s["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"], s


def container_image_on(n, task):
    """The image (as configured) of task's container, read on node n's own daemon."""
    cid = task["Status"]["ContainerStatus"]["ContainerID"]
    status, c = node_api(n, "GET", f"/containers/{cid}/json")
    assert status == 200, f"task {task['ID']}'s container {cid} is not on node {n}"
    return c["Config"]["Image"]


def api_health_from(task, timeout=45):
    """What GET /api/health answers, asked from task's container on node 1
    (the worker's) of the api's tasks on the overlay network (`tasks.api`).
    Swarm spreads a new task's address to the other nodes by gossip, which
    can lag the task's own health by a few seconds: ask again until the
    answer is ok or the deadline passes, and return the last answer."""
    cid = task["Status"]["ContainerStatus"]["ContainerID"]
    deadline = time.monotonic() + timeout
    while True:
        p = subprocess.run(["docker", "-H", f"unix://{sock(1)}", "exec", cid, "sh", "-c",
                            "printf 'GET /api/health HTTP/1.0\\r\\n\\r\\n' | nc -w 3 tasks.api 8000"],
                           capture_output=True, text=True, timeout=30)
        out = p.stdout + p.stderr
        if '{"status":"ok"}' in out:
            return out
        if time.monotonic() > deadline:
            return out + "\n" + overlay_facts(cid)
        time.sleep(0.5)


def overlay_facts(cid):
    """What the nodes know of the overlay network, for a failure's message."""
    facts = []
    for cmd in ("nslookup tasks.api", "ip addr show eth0", "ip route"):
        p = subprocess.run(["docker", "-H", f"unix://{sock(1)}", "exec", cid, "sh", "-c", cmd],
                           capture_output=True, text=True, timeout=30)
        facts.append(f"$ {cmd}\n{p.stdout}{p.stderr}")
    for n in (1, 2):
        _, nets = node_api(n, "GET", "/networks")
        for net in nets or []:
            if net.get("Driver") == "overlay" and net["Name"].startswith(PROJECT):
                _, full = node_api(n, "GET", f"/networks/{net['Id']}?verbose=true")
                facts.append(f"node {n} {net['Name']} peers: {full.get('Peers')}")
    return "\n".join(facts)


def apply(d, release, image):
    return ttdeploy("apply", "--progress", "plain", os.path.join(d, "plan.yml"),
                    env={"RELEASE": release, "API_IMAGE": image})


def history(d):
    return json.loads(ttdeploy("history", "--plan", os.path.join(d, "plan.yml"), "--json",
                               check=0).stdout)


def test_failing_api_on_node_2_rolls_back_to_v1():
    cluster_up()
    images()
    remove_services(PROJECT + "_")
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "compose.yml"), "w") as f:
            f.write(COMPOSE)
        with open(os.path.join(d, "plan.yml"), "w") as f:
            f.write(PLAN.format(sock=sock(1)))
        try:
            p = apply(d, "v1", V1)
            assert p.returncode == 0, p.stdout + p.stderr
            image, spec = service_image("api")
            assert image.startswith(V1), image
            assert spec["Spec"]["Labels"].get("com.docker.stack.namespace") == PROJECT, spec["Spec"]
            t1 = wait_running_task(f"{PROJECT}_api")
            assert t1["NodeID"] == node_id(2), (t1["NodeID"], node_id(2))
            assert container_image_on(2, t1).startswith(V1)
            w = wait_running_task(f"{PROJECT}_worker")
            assert w["NodeID"] == node_id(1), w["NodeID"]
            answer = api_health_from(w)
            assert '{"status":"ok"}' in answer, answer
            h = history(d)
            assert h[0]["status"] == "succeeded", h
            show = ttdeploy("show", "--plan", os.path.join(d, "plan.yml"), str(h[0]["id"]), check=0).stdout
            engine = [x for x in show.splitlines() if x.strip().startswith("engine")]
            assert engine and f"unix://{sock(1)}" in engine[0], show
            assert "the plan's engine.host" in engine[0] and "swarm mode" in engine[0], show

            p = apply(d, "v2", V2)
            assert p.returncode == 1, p.stdout + p.stderr
            assert "rolled back: images done" in p.stderr, p.stderr
            h = history(d)
            assert [x["status"] for x in h] == ["rolled_back", "succeeded"], h
            image, _ = service_image("api")
            assert image.startswith(V1), image
            t2 = wait_running_task(f"{PROJECT}_api")
            assert t2["NodeID"] == node_id(2), (t2["NodeID"], node_id(2))
            assert container_image_on(2, t2).startswith(V1)
            v2_tasks = [t for t in tasks(f"{PROJECT}_api")
                        if t["Spec"]["ContainerSpec"]["Image"].startswith(V2)]
            assert v2_tasks and all(t["NodeID"] == node_id(2) for t in v2_tasks), v2_tasks
            assert all(t["Status"]["State"] != "running" for t in v2_tasks), v2_tasks
        finally:
            remove_services(PROJECT + "_")


if __name__ == "__main__":
    run(globals())
