#!/usr/bin/env python3
"""bluegreen.py - zero-downtime releases measured (issue 16): the blue-green
stack of tests/e2e/test_bluegreen.py (busybox httpd slots behind nginx),
a load loop of 20 requests/s through nginx's published port, RUNS times
(default 3).  Prints per run and as the median:

  good       requests served and failed while v1 -> v2 deploys blue-green;
             switch: the switch step's own time (upstream file written and
             nginx reloaded through exec, as ttdeploy records it)
  rollback   requests and failures while `ttdeploy rollback` goes back to
             the kept v1 slot; back: from the command's start to the first
             answer from v1 through nginx
  recreate   the same v1 -> v2 with strategy recreate, for contrast

Target (issue 16): zero failed requests in blue-green, back under 1 s.
"""
import os
import re
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

from loadgen import LoadLoop  # noqa: E402
from test_bluegreen import URL, Stack, setup_images  # noqa: E402


def switch_ms(stack, deployment):
    """The reload time the switch step of deployment recorded, in ms."""
    show = stack.tt("show", "--plan", stack.plan, str(deployment)).stdout
    m = re.search(r"reloaded: (\d+) ms", show)
    return float(m.group(1)) if m else float("nan")


def one_run():
    out = {}
    with Stack() as s:
        s.apply("v1")
        with LoadLoop(URL, rate=20, max_seconds=120) as loop:
            time.sleep(1)
            s.apply("v2")
            time.sleep(1)
            g = loop.stop()
        out["good"] = (g["total"], g["failures"], switch_ms(s, 2))
        with LoadLoop(URL, rate=20, max_seconds=120) as loop:
            time.sleep(1)
            t0 = time.monotonic()
            p = s.tt("rollback", "--progress", "quiet", s.plan, env={"VERSION": "v2"})
            time.sleep(1)
            r = loop.stop()
            first = loop.first_answer("v1", after=t0)
        assert p.returncode == 0, p.stdout + p.stderr
        out["rollback"] = (r["total"], r["failures"], (first - t0) if first else float("nan"))
    with Stack(rollout="") as s:
        s.apply("v1")
        with LoadLoop(URL, rate=20, max_seconds=120) as loop:
            time.sleep(1)
            s.apply("v2")
            time.sleep(1)
            c = loop.stop()
        out["recreate"] = (c["total"], c["failures"])
    return out


def main():
    runs = int(os.environ.get("RUNS", "3"))
    setup_images()
    results = []
    for i in range(runs):
        r = one_run()
        results.append(r)
        print(f"bluegreen run {i + 1}: good {r['good'][0]} requests, {r['good'][1]} failed, "
              f"switch {r['good'][2]:.0f} ms; rollback {r['rollback'][0]} requests, "
              f"{r['rollback'][1]} failed, back in {r['rollback'][2]:.2f} s; "
              f"recreate {r['recreate'][0]} requests, {r['recreate'][1]} failed", flush=True)
    med = statistics.median
    print(f"bluegreen median of {runs}: failed requests {med(x['good'][1] for x in results):.0f} "
          f"(good) / {med(x['rollback'][1] for x in results):.0f} (rollback) / "
          f"{med(x['recreate'][1] for x in results):.0f} (recreate, for contrast); switch "
          f"{med(x['good'][2] for x in results):.0f} ms; back to the kept slot "
          f"{med(x['rollback'][2] for x in results):.2f} s (target: 0 failed, back < 1 s)")


if __name__ == "__main__":
    main()
