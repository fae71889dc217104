"""harness.py - a tiny test runner for the e2e suites.

Each suite module defines test_* functions; run(globals()) calls them in
name order, prints one line per test and a closing "N passed, N failed".
A test fails by raising (assert).  tests/run-all.sh sums the closing lines.
"""
import os
import subprocess
import sys
import time
import traceback

TTDEPLOY = os.environ.get("TTDEPLOY") or os.path.join(
    os.path.dirname(__file__), "..", "..", "ttdeploy")
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARED = os.path.abspath(os.path.join(ROOT, "..", "shared"))


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
