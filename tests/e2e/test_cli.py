"""test_cli.py - the ttdeploy binary as a user runs it: config, graph,
help, exit codes and the messages of bad input; a closed output pipe is an
error, never a SIGPIPE death."""
import json
import os
import signal
import subprocess
import tempfile

import yaml

from harness import ROOT, TTDEPLOY, run, ttdeploy

EXAMPLE = os.path.join(ROOT, "examples", "tasktracker", "compose.yml")


def write(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def test_graph_example_four_layers():
    p = ttdeploy("graph", "-f", EXAMPLE, check=0)
    lines = p.stdout.splitlines()
    assert lines[:4] == ["layer 0: nats postgres", "layer 1: api worker",
                         "layer 2: dashboard", "layer 3: nginx"], p.stdout
    assert "  nginx -> dashboard (service_healthy)" in lines


def test_graph_json_and_dot():
    g = json.loads(ttdeploy("graph", "-f", EXAMPLE, "--format", "json", check=0).stdout)
    assert g["layers"] == [["nats", "postgres"], ["api", "worker"], ["dashboard"], ["nginx"]]
    assert {"from": "api", "to": "postgres", "condition": "service_healthy",
            "required": True} in g["edges"]
    dot = ttdeploy("graph", "-f", EXAMPLE, "--format", "dot", check=0).stdout
    assert dot.startswith('digraph "tasktracker" {')
    assert '"dashboard" -> "api" [label="service_healthy"];' in dot


def test_config_example_normalized():
    c = yaml.safe_load(ttdeploy("config", "-f", EXAMPLE, check=0).stdout)
    assert c["name"] == "tasktracker"
    api = c["services"]["api"]
    assert api["image"] == "ttdeploy-test/busybox:latest"  # from the <<: *api-base merge
    assert api["depends_on"]["postgres"] == {"condition": "service_healthy", "required": True,
                                             "restart": False}
    assert api["healthcheck"]["interval"] == "5s"
    assert api["ports"] == [{"target": 8000, "published": "8000", "host_ip": "127.0.0.1",
                             "protocol": "tcp", "mode": "host"}]  # long form: swarm mode needs host
    assert c["services"]["worker"]["command"] == [
        "sh", "-c", "touch /tmp/worker.ready && exec sleep 2147483647"]


def test_config_interpolates_from_environment():
    c = json.loads(ttdeploy("config", "-f", EXAMPLE, "--format", "json",
                            env={"API_IMAGE": "registry/api:v1.4.0", "PG_PORT": "6543"},
                            check=0).stdout)
    assert c["services"]["api"]["image"] == "registry/api:v1.4.0"
    assert c["services"]["worker"]["image"] == "registry/api:v1.4.0"
    assert c["services"]["postgres"]["ports"][0]["published"] == "6543"


def test_config_output_loads_back_the_same():
    with tempfile.TemporaryDirectory() as d:
        first = ttdeploy("config", "-f", EXAMPLE, check=0).stdout
        path = write(d, "compose.yml", first)
        second = ttdeploy("config", "-f", path, "-p", "tasktracker", check=0).stdout
    assert yaml.safe_load(first) == yaml.safe_load(second)


def test_config_dollar_round_trip():
    with tempfile.TemporaryDirectory() as d:
        write(d, "compose.yml", "services:\n  a:\n    image: x\n    command: echo $$HOME\n")
        out = ttdeploy("config", cwd=d, check=0).stdout
        assert "$$HOME" in out
        write(d, "compose.yml", out)
        again = json.loads(ttdeploy("config", "--format", "json", cwd=d, check=0).stdout)
    assert again["services"]["a"]["command"] == ["echo", "$$HOME"]


def test_several_files_and_profiles():
    with tempfile.TemporaryDirectory() as d:
        write(d, "compose.yml", "services:\n  api: {image: api:1}\n"
                                "  debug: {image: busybox, profiles: [debug]}\n")
        write(d, "prod.yml", "services:\n  api: {image: api:2}\n")
        c = json.loads(ttdeploy("config", "-f", "compose.yml", "-f", "prod.yml", "--format",
                                "json", cwd=d, check=0).stdout)
        assert c["services"]["api"]["image"] == "api:2"
        assert "debug" not in c["services"]
        c = json.loads(ttdeploy("config", "--profile", "debug", "--format", "json", cwd=d,
                                check=0).stdout)
        assert "debug" in c["services"]


def test_default_file_and_missing_file():
    with tempfile.TemporaryDirectory() as d:
        p = ttdeploy("config", cwd=d, check=2)
        assert "no compose file here" in p.stderr and "-f FILE" in p.stderr
        p = ttdeploy("config", "-f", "nope.yml", cwd=d, check=2)
        assert "nope.yml: cannot open" in p.stderr


def test_bad_input_messages_and_exit_code():
    cases = [
        ("services:\n  api:\n    image: x\n    depends_on: [postgress]\n  postgres: {image: pg}\n",
         'compose.yml:4:18: service "api" depends on "postgress", which is not defined '
         '(did you mean "postgres"?)'),
        ("services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n",
         "dependency cycle: a -> b -> a"),
        ("services:\n  a:\n    image: x\n    healthcheck: {interval: 5 seconds}\n",
         'invalid duration "5 seconds"'),
        ("services:\n  a:\n    image: ${IMG:?set IMG}\n", "required variable IMG is empty: set IMG"),
        ("services:\n  a:\n    image: x\n   bad: indent\n", "compose.yml:4:4: invalid YAML"),
    ]
    for text, want in cases:
        with tempfile.TemporaryDirectory() as d:
            write(d, "compose.yml", text)
            p = ttdeploy("config", cwd=d, env={"IMG": ""})
            assert p.returncode == 2, (text, p.returncode, p.stderr)
            assert want in p.stderr, (want, p.stderr)
            assert p.stdout == "", "nothing is printed on stdout for bad input"


def test_warnings_go_to_stderr():
    with tempfile.TemporaryDirectory() as d:
        write(d, "compose.yml", "services:\n  a:\n    image: x\n    bogus: 1\n")
        p = ttdeploy("config", cwd=d, check=0)
    assert 'warning: ' in p.stderr and 'unknown key "bogus"' in p.stderr
    assert "bogus" in p.stdout  # kept


def test_billion_laughs_refused():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    with tempfile.TemporaryDirectory() as d:
        write(d, "compose.yml", "\n".join(lines) + "\nservices: {}\n")
        p = ttdeploy("config", cwd=d, check=2)
    assert "billion laughs" in p.stderr


def test_help_and_version():
    p = ttdeploy("--help", check=0)
    assert "config" in p.stdout and "graph" in p.stdout
    p = ttdeploy("graph", "--help", check=0)
    assert p.stdout.startswith("usage: ttdeploy graph ")
    assert "--format FMT" in p.stdout
    assert ttdeploy("--version", check=0).stdout.startswith("ttdeploy ")
    p = ttdeploy("frobnicate", check=2)
    assert 'unknown command "frobnicate"' in p.stderr
    p = ttdeploy("graph", "--format", "png", "-f", EXAMPLE, check=2)
    assert 'unknown format "png"' in p.stderr


def test_a_closed_pipe_is_an_error_not_a_kill():
    """SIGPIPE never kills ttdeploy: `ttdeploy config | head -0` fails with a message."""
    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.run([TTDEPLOY, "config", "-f", EXAMPLE], stdout=w, stderr=subprocess.PIPE,
                           text=True, timeout=30)
    finally:
        os.close(w)
    assert p.returncode != -signal.SIGPIPE, "killed by SIGPIPE"
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert "writing the output failed" in p.stderr, p.stderr


def hostile_files(d):
    """The crafted inputs of issue 14, each as (file, text or size, what its message names)."""
    deep = "${A:-" * 60000 + "x" + "}" * 60000
    long = "x" * 100000
    laughs = [f'x-a: &a "{long}"', "x-b: &b [" + ",".join(["*a"] * 100) + "]",
              "x-c: &c [" + ",".join(["*b"] * 100) + "]", "x-d: &d [*c, *c, *c]"]
    svc = "services:\n  a:\n    image: x\n"
    return [
        ("nested.yml", f'{svc}    command: "{deep}"\n', 'nested more than 64 deep'),
        ("laughs.yml", "\n".join(laughs) + f"\n{svc}    dns: *d\n", "bytes (64 MB)"),
        ("cpus.yml", svc + "    cpus: nan\n", "above 0 and at most"),
        ("inf.yml", svc + "    deploy: {resources: {limits: {cpus: inf}}}\n", "above 0 and at most"),
        ("huge.yml", svc + "    cpus: 1e300\n", "out of range"),
        ("mem.yml", svc + "    mem_limit: 99999999999999999999g\n", "from 0 to 8000000t"),
        ("grace.yml", svc + "    stop_grace_period: 9999999999h\n", "from 0 to 2500000h"),
        ("health.yml", svc + "    healthcheck: {interval: 9999999999h}\n", "from 0 to 2500000h"),
        ("big.yml", 16 * 1024 * 1024 + 1, "16777217 bytes, more than the 16777216 (16 MB)"),
        ("envbig.yml", svc + "    env_file: big.env\n", "16777217 bytes, more than the 16777216"),
        ("envmany.yml", svc + "    env_file: many.env\n", "more than 100000 variables"),
        ("keys.yml", svc + "    labels:\n" + "".join(f"      k{i}: v\n" for i in range(400000)),
         "more than 250000 nodes"),
        ("services.yml", "services:\n" + "".join(f"  s{i}: {{image: x}}\n" for i in range(10001)),
         "more than 10000 services"),
    ]


def limit_memory():
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (256 << 20, 256 << 20))


def test_hostile_inputs_exit_2_fast_and_small():
    """Each crafted file fails with exit 2 and a message naming the file (and line where there
    is one), within 2 s and 256 MB of address space.  Under SAN=1 the address-space limit is
    left out (ASan reserves terabytes of shadow memory) and the time bound is 10 times longer."""
    import re
    import time
    sanitized = os.environ.get("SAN") == "1"
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "big.env"), "w") as f:
            f.truncate(16 * 1024 * 1024 + 1)
        with open(os.path.join(d, "many.env"), "w") as f:
            f.write("".join(f"V{i}=x\n" for i in range(100001)))
        for name, text, want in hostile_files(d):
            path = os.path.join(d, name)
            with open(path, "w") as f:
                if isinstance(text, int):
                    f.truncate(text)
                else:
                    f.write(text)
            start = time.monotonic()
            p = subprocess.run([TTDEPLOY, "config", "-f", path], capture_output=True, text=True,
                               timeout=30, preexec_fn=None if sanitized else limit_memory)
            took = time.monotonic() - start
            assert p.returncode == 2, (name, p.returncode, p.stderr[:300])
            assert want in p.stderr, (name, p.stderr[:300])
            where = {"envbig.yml": "big.env", "envmany.yml": "many.env"}.get(name, name)
            located = re.search(re.escape(where) + r"(:\d+:\d+)?: ", p.stderr)
            assert located, (name, p.stderr[:300])
            if not isinstance(text, int) and name != "envbig.yml":
                assert located.group(1), ("no line", name, p.stderr[:300])
            assert took < (20.0 if sanitized else 2.0), (name, took)


if __name__ == "__main__":
    run(globals())
