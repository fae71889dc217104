#!/usr/bin/env python3
"""startup.py - how long a command takes from exec to exit, next to git's:
`ttdeploy --version` (the light binary), the full binary's --version and
`git --version` (bench_store times `history --limit 50` on a
100,000-step store as a command).  Each figure is the median of 5 rounds, each round the
median of 100 runs (a fork and exec from Python, the same for both).
Target (issue 18): ttdeploy --version <= 1.5 x git --version."""
import os
import statistics
import subprocess
import sys
import time

TTDEPLOY = os.environ.get("TTDEPLOY", os.path.join(os.path.dirname(__file__), "..", "build",
                                                   "ttdeploy"))


def once(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t


def median_ms(cmd, rounds=5, runs=100):
    return statistics.median(statistics.median(once(cmd) for _ in range(runs))
                             for _ in range(rounds)) * 1000


def main():
    git = median_ms(["git", "--version"])
    version = median_ms([TTDEPLOY, "--version"])
    full = median_ms([TTDEPLOY + "-full", "--version"])
    print(f"startup: git --version {git:.2f} ms; ttdeploy --version {version:.2f} ms "
          f"({version / git:.2f} x git; target <= 1.5 x); the full binary's --version "
          f"{full:.2f} ms (libcurl, libpq, libgit2 loaded)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
