#!/usr/bin/env python3
"""start_floor.py - the engine's floor under the tasktracker stack's ready
time, measured on its own containers: readiness.sh runs it after
ttdeploy's rounds, so the figures stand next to ttdeploy's.

Each round stops the project's containers and starts them again as fast
as their dependencies allow, with no waiting for health: postgres and nats
at once, then api and worker at once, then dashboard, then nginx (each a
POST /containers/ID/start, timed from the request to the answer).  Then
it runs each service's healthcheck once, as an exec like ttdeploy's probe.
The floor is the four layers' start times plus one probe per layer: what
a run that spends no time of its own between requests would take.  A
second pass starts the six one after another, to show how little two
starts at once overlap in dockerd.

Usage: start_floor.py PROJECT [ROUNDS]"""
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
os.environ.setdefault("DOCKER_HOST", "unix:///var/tmp/ttdeploy-test/docker.sock")

from harness import api, project_containers  # noqa: E402

ORDER = ["postgres", "nats", "api", "worker", "dashboard", "nginx"]


def start(cid):
    status, body = api("POST", f"/containers/{cid}/start")
    if status not in (204, 304):
        sys.exit(f"start_floor: starting {cid[:12]} answered {status}: {body}")


def at_once(ids):
    """Starts ids together; seconds until the last answered."""
    t = time.perf_counter()
    threads = [threading.Thread(target=start, args=(cid,)) for cid in ids]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return time.perf_counter() - t


def probe(cid):
    """Seconds of one exec of the container's healthcheck, attached until it exits."""
    _, info = api("GET", f"/containers/{cid}/json")
    test = info["Config"]["Healthcheck"]["Test"]
    cmd = test[1:] if test[0] == "CMD" else ["/bin/sh", "-c", test[1]]
    t = time.perf_counter()
    _, ex = api("POST", f"/containers/{cid}/exec",
                {"Cmd": cmd, "AttachStdout": True, "AttachStderr": True})
    api("POST", f"/exec/{ex['Id']}/start", {"Detach": False})
    return time.perf_counter() - t


def stop_all(ids):
    for cid in reversed(ids):
        api("POST", f"/containers/{cid}/stop?t=2")
    time.sleep(0.5)  # as in readiness.sh's rounds, the previous containers just went


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: start_floor.py PROJECT [ROUNDS]")
    project = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    cs = project_containers(project)
    missing = [s for s in ORDER if s not in cs]
    if missing:
        sys.exit(f"start_floor: project {project} has no container for {', '.join(missing)}")
    ids = [cs[s]["Id"] for s in ORDER]
    layers = [ids[0:2], ids[2:4], ids[4:5], ids[5:6]]
    floors, starts, probes, serial, single = [], [], [], [], []
    for _ in range(rounds):
        stop_all(ids)
        times = [at_once(layer) for layer in layers]
        time.sleep(1)  # postgres answers pg_isready
        p = statistics.median(probe(cid) for cid in ids)
        starts.append(sum(times))
        probes.append(p)
        floors.append(sum(times) + len(layers) * p)
        stop_all(ids)
        one = [at_once([cid]) for cid in ids]
        serial.append(sum(one))
        single.extend(one)
    print(f"engine floor (median of {rounds}): {statistics.median(floors):.2f} s = the four "
          f"layers' starts {statistics.median(starts):.2f} s + 4 probes of "
          f"{statistics.median(probes) * 1000:.0f} ms; the six starts one after another "
          f"{statistics.median(serial):.2f} s ({statistics.median(single):.2f} s each)")


if __name__ == "__main__":
    main()
