#!/usr/bin/env python3
"""rollback.py - the images rollback of the app tier on the example stack,
as shipped (api healthcheck: interval 5 s, retries 3, start_period 2 s):
release N (a good api image), then release N+1 whose api health never
passes, RUNS times (default 3).  Prints, per run and as the median:

  detect     from app_up starting to Docker calling the new api unhealthy
             (Docker's start_period + retries x interval: the health checks)
  recovered  from the failure detected to N's containers ready again
             (the deployment's recorded recovered_seconds)
  docker     from the failure detected to Docker itself calling N's api
             healthy again (its next health-check tick after the probe passed)
  apply      the whole failed `ttdeploy apply`, wall clock

Target (issue 6): recovered under 10 s.  Then the same with a new api that
also ignores SIGTERM (its httpd started with TERM ignored, so a stop
waits for the grace and SIGKILL), and that one replaced by hand with the
docker CLI from the moment of failure: `docker rm -f` the failed
container, `docker run` the previous image on the project's network,
until its /api/health answers.  Target (issue 18): recovered < 3.0 s.
"""
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
os.environ.setdefault("TTDEPLOY", os.path.join(ROOT, "ttdeploy"))
os.environ.setdefault("DOCKER_HOST", "unix:///var/tmp/ttdeploy-test/docker.sock")
subprocess.run([os.path.join(ROOT, "tests", "infra.sh"), "up"], check=True,
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

from harness import api, project_containers  # noqa: E402
from test_apply import PORTS  # noqa: E402
from test_apply import Stack  # noqa: E402
from test_rollback import BAD_HEALTH, CGI_OK, GOOD, build_image, cgi, images, notes  # noqa: E402

NOTERM = "ttdeploy-test/rb-api:nohealth-noterm"
# httpd as a script that ignores SIGTERM and execs the real one: the ignored
# disposition survives the exec, so the server ignores docker stop's SIGTERM.
IGNORE_TERM = ("rm /bin/httpd && cat >/bin/httpd <<'EOS'\n#!/bin/sh\ntrap '' TERM\n"
               "exec /bin/busybox httpd \"$@\"\nEOS\nchmod +x /bin/httpd")


def docker_healthy_at(project, service, timeout=60):
    """Unix time at which Docker reports service's container healthy (polled every 50 ms)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        cid = project_containers(project)[service]["Id"]
        _, info = api("GET", f"/containers/{cid}/json")
        if info["State"].get("Health", {}).get("Status") == "healthy":
            return time.time()
        time.sleep(0.05)
    raise AssertionError(f"{service} never healthy")

RUNS = int(os.environ.get("RUNS", "3"))


def by_hand(project):
    """The failed api replaced with the docker CLI (rm -f, run), until it answers: seconds."""
    c = project_containers(project)["api"]
    net = next(iter(c["NetworkSettings"]["Networks"]))
    name = f"{project}-api-by-hand"
    t0 = time.monotonic()
    subprocess.run(["docker", "rm", "-f", c["Id"]], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["docker", "run", "-d", "--init", "--name", name, "--network", net,
                    "--network-alias", "api", GOOD, "httpd", "-f", "-p", "8000", "-h", "/www"],
                   check=True, stdout=subprocess.DEVNULL)
    try:
        while subprocess.run(["docker", "exec", name, "wget", "-q", "-O", "/dev/null",
                              "http://127.0.0.1:8000/api/health"],
                             stderr=subprocess.DEVNULL).returncode != 0:
            assert time.monotonic() - t0 < 30, "the api run by hand never answered"
            time.sleep(0.02)
        return time.monotonic() - t0
    finally:
        subprocess.run(["docker", "rm", "-f", name], stdout=subprocess.DEVNULL)


def main():
    images()
    build_image(NOTERM, cgi(CGI_OK) + " && rm /www/api/health && " + IGNORE_TERM)
    for bad, what in ((BAD_HEALTH, "stops on SIGTERM"), (NOTERM, "ignores SIGTERM")):
        print(f"-- the new api {what}", flush=True)
        run_all(bad, what == "ignores SIGTERM")


def run_all(bad, compare_by_hand):
    s = Stack("ttbench-rollback")
    rows = []
    hand = []
    try:
        p = s.apply(env={"API_IMAGE": GOOD, "RELEASE": "v1"})
        assert p.returncode == 0, p.stdout + p.stderr
        for i in range(RUNS):
            t0 = time.monotonic()
            p = s.apply(env={"API_IMAGE": bad, "RELEASE": f"v2.{i}"})
            wall = time.monotonic() - t0
            healthy_at = docker_healthy_at(s.project, "api")
            assert p.returncode == 1, p.stdout + p.stderr
            dep = s.history()[0]
            assert dep["status"] == "rolled_back", dep
            d = s.show(dep["id"])
            app_up = min(st["started_at"] for st in d["steps"] if st["phase"] == "app_up")
            decided = next(st["started_at"] for st in d["steps"] if st["phase"] == "deciding")
            rec = notes(s, dep["id"])["recovered_seconds"]
            rows.append((decided - app_up, rec, healthy_at - decided, wall))
            print(f"run {i + 1}: detect {decided - app_up:.2f} s, recovered {rec:.2f} s, "
                  f"docker {healthy_at - decided:.2f} s, apply {wall:.2f} s", flush=True)
        for i in range(RUNS if compare_by_hand else 0):
            # the failed release left running, as at the moment of failure
            env = dict(os.environ, **PORTS, API_IMAGE=bad)
            up = subprocess.run([os.environ["TTDEPLOY"], "up", "-f",
                                 os.path.join(s.dir, "compose.yml"), "--progress", "quiet",
                                 "--timeout", "30s", "api"], env=env, capture_output=True,
                                text=True)
            assert up.returncode != 0, up.stdout + up.stderr
            hand.append(by_hand(s.project))
            print(f"by hand {i + 1}: {hand[-1]:.2f} s", flush=True)
    finally:
        s.close()
    med = [statistics.median(c) for c in zip(*rows)]
    print(f"rollback (images, app tier), median of {RUNS}: detect {med[0]:.2f} s, "
          f"recovered {med[1]:.2f} s (target < 10 s; < 3.0 s), docker {med[2]:.2f} s, "
          f"apply {med[3]:.2f} s" + (f"; by hand with the docker CLI (rm -f, run, until it "
                                     f"answers) {statistics.median(hand):.2f} s" if hand else ""))


if __name__ == "__main__":
    main()
