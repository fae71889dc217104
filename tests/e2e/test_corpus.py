"""test_corpus.py - ttdeploy's compose loader against docker-compose's own output.

shared/corpus/compose holds real compose files and what Debian's
docker-compose 1.29.2 `config` printed for each.  Every file the reference
loaded must load here, and agree on services, images, dependencies with
their conditions, and healthchecks.  One test per file, generated below.
"""
import json
import os
import re
import shutil
import tempfile

import yaml

from harness import SHARED, run, ttdeploy

CORPUS = os.path.join(SHARED, "corpus", "compose")
UNITS = {"ns": 1, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}


def duration_ns(s):
    """Go duration string → ns, independent of the C parser."""
    if s is None:
        return None
    total = 0.0
    for num, unit in re.findall(r"([0-9.]+)(ns|us|µs|ms|s|m|h)", str(s)):
        total += float(num) * UNITS[unit]
    return round(total)


def healthcheck_view(h):
    if not h:
        return None
    test = h.get("test")
    if isinstance(test, str):
        test = ["NONE"] if test == "NONE" else ["CMD-SHELL", test]
    return {
        "test": test,
        "interval": duration_ns(h.get("interval")),
        "timeout": duration_ns(h.get("timeout")),
        "start_period": duration_ns(h.get("start_period")),
        "retries": h.get("retries"),
        "disable": bool(h.get("disable")) or (test == ["NONE"]),
    }


def deps_view(d):
    if not d:
        return {}
    if isinstance(d, list):
        return {name: "service_started" for name in d}
    return {name: (v or {}).get("condition", "service_started") for name, v in d.items()}


def view(config):
    return {
        name: {
            "image": s.get("image"),
            "depends_on": deps_view(s.get("depends_on")),
            "healthcheck": healthcheck_view(s.get("healthcheck")),
        }
        for name, s in (config.get("services") or {}).items()
    }


def expected_for(name):
    for suffix in (".yml", ".noname.yml"):
        path = os.path.join(CORPUS, "expected", name + suffix)
        if os.path.exists(path):
            with open(path) as f:
                return yaml.safe_load(f)
    return None


def check_file(name):
    expected = expected_for(name)
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(os.path.join(CORPUS, name + ".yml"), os.path.join(d, "compose.yml"))
        env_file = os.path.join(CORPUS, name + ".env")
        if os.path.exists(env_file):
            shutil.copy(env_file, os.path.join(d, ".env"))
        p = ttdeploy("config", "--format", "json", cwd=d)
    if expected is None:
        return  # the reference rejected it; nothing to agree with
    assert p.returncode == 0, f"{name}: reference loads it, ttdeploy says: {p.stderr}"
    got = view(json.loads(p.stdout))
    want = view(expected)
    assert got == want, f"{name}:\n got  {got}\n want {want}"


def _make(name):
    return lambda: check_file(name)


# Without the corpus no file test is generated, and test_corpus_count fails saying where it looked.
for _f in sorted(os.listdir(CORPUS)) if os.path.isdir(CORPUS) else []:
    if _f.endswith(".yml"):
        globals()["test_corpus_" + _f[:-4].replace("-", "_")] = _make(_f[:-4])


def test_corpus_count():
    """Every file with a reference output is covered (guards against an empty corpus)."""
    assert os.path.isdir(CORPUS), (f"no compose corpus at {CORPUS}: put shared/ beside the "
                                   "clone, or set TTDEPLOY_SHARED to it")
    names = [f[:-4] for f in os.listdir(CORPUS) if f.endswith(".yml")]
    loaded = [n for n in names if expected_for(n) is not None]
    assert len(names) >= 39 and len(loaded) >= 39, (len(names), len(loaded))


if __name__ == "__main__":
    run(globals())
