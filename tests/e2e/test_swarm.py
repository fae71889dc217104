"""test_swarm.py - swarm mode on a one-node Docker Swarm (tests/swarm.sh: a
private dockerd in its own network namespace): the example-shaped stack of
six services deployed as Swarm services in DAG order and listed by `docker
stack ps`; a command migration run as a replicated-job service and a
pg_dump backup through an exec into the database task's container; a
failing release rolled back by the recorded releases, and a manual
rollback two releases back (not Swarm's single PreviousSpec); an update
that Swarm itself rolls back is a failure of the phase.

The tests run in name order on one project, each building on the last."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse

from swarmenv import NS_IP  # first: it sets DOCKER_HOST, which harness reads

from harness import api, last_deployment, run, ttdeploy  # noqa: E402

PROJECT = "ttswarm"
ENV = {}
SERVICES = ["postgres", "nats", "api", "worker", "dashboard", "nginx"]

# The example's stack (examples/tasktracker/compose.yml) as Swarm runs it
# here: published ports in host mode and DNS round robin (this kernel has
# no IPVS for the routing mesh and virtual IPs), quick healthchecks.
COMPOSE = """name: ttswarm
x-hc: &hc {{interval: 1s, timeout: 3s, retries: 3}}
x-api-base: &api-base
  image: ${{API_IMAGE:-ttdeploy-test/busybox:latest}}
  init: true
  environment:
    DATABASE_URL: postgresql://postgres:tasktracker@postgres:5432/tasktracker
    NATS_URL: nats://nats:4222
    API_TOKEN: s3cr3t-swarm-token
  depends_on:
    postgres: {{condition: service_healthy}}
    nats: {{condition: service_healthy}}
services:
  postgres:
    image: ttdeploy-test/postgres:15
    environment: {{POSTGRES_DB: tasktracker, POSTGRES_PASSWORD: tasktracker}}
    volumes: [pgdata:/var/lib/postgresql/data]
    ports: [{{target: 5432, published: 25432, mode: host}}]
    healthcheck:
      test: ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "postgres", "-d", "tasktracker"]
      <<: *hc
    deploy: {{endpoint_mode: dnsrr}}
  nats:
    image: ttdeploy-test/busybox:latest
    init: true
    command: ["httpd", "-f", "-p", "8222", "-h", "/www"]
    healthcheck: {{test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8222/healthz"], <<: *hc}}
    deploy: {{endpoint_mode: dnsrr}}
  api:
    <<: *api-base
    command: ["httpd", "-f", "-p", "8000", "-h", "/www"]
    ports: [{{target: 8000, published: 25800, mode: host}}]
    healthcheck: {{test: {api_health}, <<: *hc}}
    deploy:
      endpoint_mode: dnsrr
      update_config: {{failure_action: rollback, monitor: 3s}}
  worker:
    <<: *api-base
    command: sh -c "touch /tmp/worker.ready && exec sleep 2147483647"
    healthcheck: {{test: ["CMD-SHELL", "test -f /tmp/worker.ready"], <<: *hc}}
    stop_grace_period: 2s
    deploy: {{endpoint_mode: dnsrr}}
  dashboard:
    image: ttdeploy-test/busybox:latest
    init: true
    command: ["httpd", "-f", "-p", "3000", "-h", "/www"]
    depends_on: {{api: {{condition: service_healthy}}}}
    healthcheck: {{test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:3000/"], <<: *hc}}
    deploy: {{endpoint_mode: dnsrr}}
  nginx:
    image: ttdeploy-test/busybox:latest
    init: true
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    depends_on:
      dashboard: {{condition: service_healthy}}
      api: {{condition: service_healthy}}
    healthcheck: {{test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"], <<: *hc}}
    deploy:
      endpoint_mode: dnsrr
      resources: {{limits: {{cpus: "0.5", memory: {nginx_memory}}}}}
volumes:
  pgdata:
"""
GOOD_HEALTH = '["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8000/api/health"]'

PLAN = """version: 1
project: ttswarm
engine: {{mode: swarm}}
release:
  version: ${{RELEASE:-v1}}
  images: {{api: "ttdeploy-test/api:${{API_TAG:-1}}", worker: "ttdeploy-test/api:${{API_TAG:-1}}"}}
tiers: {{infra: [postgres, nats], app: [api, worker, dashboard, nginx]}}
database:
  service: postgres
  url: postgresql://postgres:tasktracker@{ip}:25432/tasktracker
backup: {{dir: backups, verify: list}}
migrate:
  kind: command
  service: api
  up: [fake-alembic, upgrade, head]
  down: [fake-alembic, downgrade, "{{revision_before}}"]
  revision_query: SELECT version_num FROM alembic_version
rollback:
  matrix:
    - {{when: {{}}, severity: high, do: ["${{ROLLBACK_DO:-images}}"]}}
verify:
  - {{name: api-health, http: {{url: "http://{ip}:25800/api/health", status: 200}}}}
  - {{name: release-check, sql: "SELECT ${{CHECK_VALUE:-1}}", expect: "= 1"}}
timeouts: {{healthy: 60s}}
"""

DIR = tempfile.mkdtemp(prefix="ttdeploy-swarm-")
PLAN_PATH = os.path.join(DIR, "plan.yml")


def write_stack(api_health=GOOD_HEALTH, nginx_memory="64M"):
    with open(os.path.join(DIR, "compose.yml"), "w") as f:
        f.write(COMPOSE.format(api_health=api_health, nginx_memory=nginx_memory))
    with open(PLAN_PATH, "w") as f:
        f.write(PLAN.format(ip=NS_IP))


def apply(tag, **more):
    env = dict(ENV, API_TAG=str(tag), RELEASE=f"v{tag}", **more)
    return ttdeploy("apply", "--progress", "plain", PLAN_PATH, env=env)


def docker(*args):
    p = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"docker {' '.join(args)}: {p.stderr}"
    return p.stdout


def swarm_service(name):
    status, s = api("GET", f"/services/{PROJECT}_{name}")
    assert status == 200, (name, s)
    return s


def tasks(name):
    f = urllib.parse.quote(json.dumps({"service": [f"{PROJECT}_{name}"]}))
    return api("GET", f"/tasks?filters={f}")[1]


def running_task(name):
    # "starting": Swarm has yet to see the first healthy check (one interval
    # after the start); ttdeploy ran the check itself, through exec, and it passed.
    ts = [t for t in tasks(name)
          if t["DesiredState"] == "running" and t["Status"]["State"] in ("running", "starting")]
    assert len(ts) == 1, (name, [(t["DesiredState"], t["Status"]) for t in tasks(name)])
    return ts[0]


def purge():
    names = [s["Spec"]["Name"] for s in api("GET", "/services")[1]]
    for n in names:
        if n.startswith(PROJECT + "_"):
            api("DELETE", f"/services/{n}")
    f = urllib.parse.quote(json.dumps({"label": [f"com.docker.stack.namespace={PROJECT}"]}))
    deadline = time.monotonic() + 30
    while api("GET", f"/containers/json?all=1&filters={f}")[1] and time.monotonic() < deadline:
        time.sleep(0.2)
    for c in api("GET", f"/containers/json?all=1&filters={f}")[1]:
        api("DELETE", f"/containers/{c['Id']}?force=1")
    api("DELETE", f"/volumes/{PROJECT}_pgdata")


def setup():
    purge()
    for tag in (1, 2, 3):  # three releases of the api, told apart by their tags
        docker("tag", "ttdeploy-test/migrator:2", f"ttdeploy-test/api:{tag}")
    write_stack()


def test_1_six_services_deploy_in_dag_order_and_stack_ps_lists_them():
    setup()
    p = apply(1)
    assert p.returncode == 0, p.stdout + p.stderr
    # a dependant's task was created only after its dependencies' tasks ran (and were healthy)
    created = {n: running_task(n)["CreatedAt"] for n in SERVICES}
    started = {}
    for n in SERVICES:
        cid = running_task(n)["Status"]["ContainerStatus"]["ContainerID"]
        started[n] = api("GET", f"/containers/{cid}/json")[1]["State"]["StartedAt"]
    edges = [("api", "postgres"), ("api", "nats"), ("worker", "postgres"), ("worker", "nats"),
             ("dashboard", "api"), ("nginx", "dashboard"), ("nginx", "api")]
    for dependant, dependency in edges:
        assert created[dependant] > started[dependency], (dependant, dependency, created, started)
    ps = docker("stack", "ps", PROJECT, "--format", "{{.Name}} {{.CurrentState}}")
    for n in SERVICES:
        assert f"{PROJECT}_{n}.1 Running" in ps or f"{PROJECT}_{n}.1 Starting" in ps, ps
    s = swarm_service("nginx")["Spec"]
    assert s["Labels"]["com.docker.stack.namespace"] == PROJECT
    assert s["TaskTemplate"]["Resources"]["Limits"] == {"NanoCPUs": 500000000,
                                                        "MemoryBytes": 64 << 20}
    assert [n["Aliases"] for n in s["TaskTemplate"]["Networks"]] == [["nginx"]]
    d = last_deployment(PLAN_PATH)
    assert d["status"] == "succeeded", d


def test_2_migration_runs_as_a_replicated_job_and_backup_execs_pg_dump():
    d = last_deployment(PLAN_PATH)
    m = d["migrations"][0]
    assert m["kind"] == "command" and m["revision_after"] == "r2", m
    # the job services are gone, and their containers; the second deployment backs up
    # through an exec
    assert not [s for s in api("GET", "/services")[1] if "-job-" in s["Spec"]["Name"]]
    assert not [c for c in api("GET", "/containers/json?all=1")[1] if "-job-" in c["Names"][0]]
    # what the store keeps of each service: its whole spec but the environment's values
    for r in d["releases"]:
        assert r["service_version"] and r["service_version"] > 0, r
        spec = json.loads(r["spec"])
        assert spec["Name"] == f"{PROJECT}_{r['service']}", spec
        assert "Env" not in spec["TaskTemplate"]["ContainerSpec"], spec
        assert "s3cr3t-swarm-token" not in r["spec"] and "s3cr3t" not in json.dumps(r), r
    nginx = json.loads([r for r in d["releases"] if r["service"] == "nginx"][0]["spec"])
    assert nginx["TaskTemplate"]["Resources"]["Limits"]["MemoryBytes"] == 64 << 20, nginx
    write_stack(nginx_memory="96M")  # release 2 changes more than the image
    p = apply(2)
    assert p.returncode == 0, p.stdout + p.stderr
    d = last_deployment(PLAN_PATH)
    assert d["backups"] and d["backups"][0]["verified"] == "list", d["backups"]
    assert os.path.getsize(d["backups"][0]["path"]) > 0
    assert swarm_service("api")["Spec"]["Labels"]["com.docker.stack.image"] == \
        "ttdeploy-test/api:2"


def test_3_failing_verify_rolls_back_and_a_manual_rollback_goes_two_releases_back():
    p = apply(3, CHECK_VALUE="2")
    assert p.returncode != 0, p.stdout + p.stderr
    assert "release-check" in p.stdout + p.stderr
    d = last_deployment(PLAN_PATH)
    assert d["status"] == "rolled_back", d["status"]
    assert swarm_service("api")["Spec"]["Labels"]["com.docker.stack.image"] == \
        "ttdeploy-test/api:2"
    h = json.loads(ttdeploy("history", "--plan", PLAN_PATH, "--json", check=0).stdout)
    first = min(x["id"] for x in h)
    assert swarm_service("nginx")["Spec"]["TaskTemplate"]["Resources"]["Limits"][
        "MemoryBytes"] == 96 << 20
    p = ttdeploy("rollback", "--to", str(first), "--progress", "plain", PLAN_PATH,
                 env=dict(ENV, API_TAG="3"))
    assert p.returncode == 0, p.stdout + p.stderr
    for n in ("api", "worker"):
        s = swarm_service(n)
        assert s["Spec"]["Labels"]["com.docker.stack.image"] == "ttdeploy-test/api:1", n
        # Swarm's own PreviousSpec is the release before: ttdeploy did not use it
        assert s["PreviousSpec"]["Labels"]["com.docker.stack.image"] == "ttdeploy-test/api:2", n
        # the environment is this run's compose file's (values are not in the store)
        assert "API_TOKEN=s3cr3t-swarm-token" in s["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"]
    # release 1's whole spec came back, not only its image: the compose file says 96M now
    s = swarm_service("nginx")["Spec"]
    assert s["TaskTemplate"]["Resources"]["Limits"]["MemoryBytes"] == 64 << 20, s
    running_task("api")


def status():
    p = ttdeploy("status", "--plan", PLAN_PATH, "--json", check=0)
    assert p.returncode == 0, p.stdout + p.stderr
    doc = json.loads(p.stdout)
    return doc, {x["service"]: x for x in doc["services"]}


def service_update(*args):
    """`docker service update --detach ARGS`, again while Swarm's own update of the
    service's status makes it "out of sequence" (bounded: 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        p = subprocess.run(["docker", "service", "update", "--detach", "--quiet", *args],
                           capture_output=True, text=True, timeout=60)
        if p.returncode == 0:
            return
        assert "out of sequence" in p.stderr and time.monotonic() < deadline, p.stderr
        time.sleep(0.2)


def status_until(ok, timeout=30):
    """status() once ok(doc, by) holds, or the last one after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        doc, by = status()
        if ok(doc, by) or time.monotonic() > deadline:
            return doc, by
        time.sleep(0.5)


def test_3b_status_reads_the_services_and_names_changes_by_hand():
    # the rolled-back tasks may still be starting
    doc, by = status_until(lambda doc, by: not doc["drift"])
    assert not doc["drift"], doc
    assert sorted(by) == sorted(SERVICES), by
    assert by["api"]["container_state"] == "running 1/1", by["api"]
    assert by["api"]["image"] == "ttdeploy-test/api:1", by["api"]
    docker("tag", "ttdeploy-test/busybox:latest", "ttdeploy-test/busybox:by-hand")
    service_update("--env-add", "API_TOKEN=changed-by-hand", f"{PROJECT}_worker")
    service_update("--replicas", "0", f"{PROJECT}_dashboard")
    service_update("--no-resolve-image", "--image", "ttdeploy-test/busybox:by-hand",
                   f"{PROJECT}_nats")
    doc, by = status_until(lambda doc, by: by["dashboard"]["daemon"] != "ok")
    assert doc["drift"], doc
    assert by["worker"]["daemon"] == "drift: another environment (API_TOKEN)", by["worker"]
    assert by["dashboard"]["daemon"] == "drift: 0 of 1 tasks running", by["dashboard"]
    assert by["nats"]["daemon"] == "drift: another image", by["nats"]
    assert by["api"]["daemon"] == "ok", by["api"]
    out = ttdeploy("status", "--plan", PLAN_PATH, check=0).stdout
    assert "changed-by-hand" not in out and "s3cr3t" not in out, out
    docker("service", "rm", f"{PROJECT}_nginx")
    assert status()[1]["nginx"]["daemon"] == "drift: no service"
    # back as the release was, for the next test
    service_update("--no-resolve-image", "--image", "ttdeploy-test/busybox:latest",
                   f"{PROJECT}_nats")
    service_update("--env-add", "API_TOKEN=s3cr3t-swarm-token", f"{PROJECT}_worker")
    service_update("--replicas", "1", f"{PROJECT}_dashboard")
    doc, by = status_until(lambda doc, by: all(
        x["daemon"] == "ok" for n, x in by.items() if n != "nginx"))
    assert [n for n, x in by.items() if x["daemon"] != "ok"] == ["nginx"], by


def test_4_an_update_swarm_rolls_back_fails_the_phase():
    write_stack(api_health='["CMD", "false"]')
    try:
        p = apply(1, ROLLBACK_DO="none")
        out = p.stdout + p.stderr
        assert p.returncode != 0, out
        assert "service ttswarm_api: Swarm did not complete the update (UpdateStatus rollback_" \
            in out, out
        assert "app_healthy" in out or "app_up" in out, out
    finally:
        write_stack()
        purge()
        shutil.rmtree(DIR, ignore_errors=True)


if __name__ == "__main__":
    run(globals())
