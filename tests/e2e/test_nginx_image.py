"""test_nginx_image.py - the test environment of blue-green releases (issue 16):
ttdeploy-test/nginx:1 (tests/infra.sh) in front of two busybox API slots that
answer their VERSION, brought up with `ttdeploy up`.  `nginx -t`, `nginx -s
reload` and the health check work through exec; switching the upstream by a
rename in the bind-mounted FOLDER plus a reload drops no request of a 20/s
load loop (tests/e2e/loadgen.py); with the upstream FILE mounted alone, the
same rename is never seen by nginx (the mount keeps the old inode), the fact
that makes ttdeploy refuse such a mount.  Ports 24080-24089 are this suite's."""
import contextlib
import os
import struct
import time

from harness import api, compose_project, healthcheck, project_containers, run, service, ttdeploy
from loadgen import LoadLoop

NGINX = "ttdeploy-test/nginx:1"
PORT_FOLDER, PORT_FILE = 24080, 24081
UPSTREAM = "api_backend.conf"


def slot(name, version):
    """A busybox API slot: httpd on 8000 serving /api/version = its VERSION."""
    return service(name, init=False, command=(
        '["sh", "-c", "mkdir -p /www/api && echo $$VERSION > /www/api/version'
        ' && exec httpd -f -p 8000 -h /www"]'),
        more=f"    environment: {{VERSION: {version}}}\n" + healthcheck(
            '["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8000/api/version"]',
            interval="1s", timeout="2s", retries=3))


def proxy(port, volume):
    """The nginx service: port published on the host's loopback, volume as given."""
    return service("nginx", command=None, init=False, image=NGINX, more=(
        f'    ports: ["127.0.0.1:{port}:80"]\n'
        f'    volumes: ["{volume}"]\n'
        "    depends_on:\n"
        "      slot1: {condition: service_healthy}\n"
        "      slot2: {condition: service_healthy}\n") + healthcheck(
            '["CMD", "wget", "-q", "-O-", "http://127.0.0.1/nginx-health"]',
            interval="1s", timeout="2s", retries=3))


def upstream_text(server):
    return f"upstream api_backend {{\n    server {server};\n}}\n"


def write_atomically(folder, text):
    """Replaces folder/UPSTREAM by a rename of a temp file of the same folder;
    returns time.monotonic() right after the rename."""
    tmp = os.path.join(folder, f".{UPSTREAM}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, os.path.join(folder, UPSTREAM))
    return time.monotonic()


def exec_in(container_id, *cmd):
    """Runs cmd in the container through the Engine API: (exit code, stdout+stderr)."""
    status, created = api("POST", f"/containers/{container_id}/exec",
                          {"AttachStdout": True, "AttachStderr": True, "Cmd": list(cmd)})
    assert status == 201, (status, created)
    _, raw = api("POST", f"/exec/{created['Id']}/start", {"Detach": False, "Tty": False})
    out, raw = b"", raw if isinstance(raw, bytes) else b""
    while len(raw) >= 8:  # the stream's frames: stream byte, 3 zero bytes, size, data
        size = struct.unpack(">I", raw[4:8])[0]
        out, raw = out + raw[8:8 + size], raw[8 + size:]
    _, info = api("GET", f"/exec/{created['Id']}/json")
    return info["ExitCode"], out.decode(errors="replace")


@contextlib.contextmanager
def nginx_stack(project, port, volume):
    """Slots v1 and v2 behind nginx (port on 127.0.0.1, the upstream mounted
    by volume, relative to a scratch folder holding ./upstream/UPSTREAM that
    points at slot1), brought up by `ttdeploy up`; yields (the nginx
    container's id, the upstream folder), then removes everything."""
    with compose_project(project, slot("slot1", "v1"), slot("slot2", "v2"),
                         proxy(port, volume)) as path:
        folder = os.path.join(os.path.dirname(path), "upstream")
        os.mkdir(folder)
        write_atomically(folder, upstream_text("slot1:8000"))
        p = ttdeploy("up", "-f", path, "-p", project, "--progress", "plain", "--timeout", "60s")
        assert p.returncode == 0, p.stdout + p.stderr
        yield project_containers(project)["nginx"]["Id"], folder


def get(port):
    loop = LoadLoop(f"http://127.0.0.1:{port}/api/version")
    return loop.request_once()


def answers(port, n=10):
    """The bodies of n requests in a row (None for a failed one)."""
    return [r["body"] if not LoadLoop.failed(r) else None for r in (get(port) for _ in range(n))]


def wait_for(port, version, seconds=5):
    """True once a request answers version (within seconds)."""
    deadline = time.monotonic() + seconds
    while get(port)["body"] != version:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_image_checks_reloads_and_refuses_a_bad_upstream():
    project = "tte2e-nginx-image"
    with nginx_stack(project, PORT_FOLDER, "./upstream:/etc/nginx/upstream:ro") as (nginx, folder):
        _, info = api("GET", f"/containers/{nginx}/json")
        assert info["State"]["Health"]["Status"] in ("starting", "healthy"), info["State"]
        assert exec_in(nginx, "wget", "-q", "-O-", "http://127.0.0.1/nginx-health") == (0, "ok\n")
        code, out = exec_in(nginx, "nginx", "-t")
        assert code == 0 and "test is successful" in out, out
        assert answers(PORT_FOLDER) == ["v1"] * 10
        write_atomically(folder, upstream_text("slot2:8000"))
        code, out = exec_in(nginx, "nginx", "-s", "reload")
        assert code == 0, out
        assert wait_for(PORT_FOLDER, "v2")
        time.sleep(0.5)  # the old worker may take a request or two right after the reload
        assert answers(PORT_FOLDER) == ["v2"] * 10
        # a bad upstream: -t and -s reload both fail (nginx parses the file first), nothing changes
        write_atomically(folder, upstream_text("no-such-slot:8000"))
        code, out = exec_in(nginx, "nginx", "-t")
        assert code != 0 and "host not found in upstream" in out, out
        code, out = exec_in(nginx, "nginx", "-s", "reload")
        assert code != 0 and "no-such-slot" in out, out
        time.sleep(0.5)
        assert answers(PORT_FOLDER) == ["v2"] * 10, "the running config is kept"


def switch(loop, nginx, folder, server, version):
    """Rename-switches the upstream to server and reloads; returns the time of
    the rename once version has answered (within 5 s)."""
    renamed = write_atomically(folder, upstream_text(server))
    code, out = exec_in(nginx, "nginx", "-s", "reload")
    assert code == 0, out
    while loop.first_answer(version, after=renamed) is None:
        assert time.monotonic() < renamed + 5, f"{version} never answered within 5 s"
        time.sleep(0.01)
    return renamed


def test_rename_switches_with_the_folder_mounted_drop_no_request():
    """Six switches under a 20/s load.  After `nginx -s reload` the old worker
    may still take a connection or two while the new one starts (both accept
    on the same socket): the old version's last answer, not only the new
    one's first, bounds a switch."""
    project = "tte2e-nginx-folder"
    with nginx_stack(project, PORT_FOLDER, "./upstream:/etc/nginx/upstream:ro") as (nginx, folder):
        plan = [("slot2:8000", "v2", "v1"), ("slot1:8000", "v1", "v2")] * 3
        renames = []
        with LoadLoop(f"http://127.0.0.1:{PORT_FOLDER}/api/version", rate=20,
                      max_seconds=60) as loop:
            time.sleep(1)
            for server, new, _ in plan:
                renames.append(switch(loop, nginx, folder, server, new))
                time.sleep(1.5)
        s = loop.summary()
        ends = renames[1:] + [float("inf")]
        first = [loop.first_answer(new, after=t) - t for t, (_, new, _) in zip(renames, plan)]
        last_old = [(loop.last_answer(old, after=t, before=end) or t) - t
                    for t, end, (_, _, old) in zip(renames, ends, plan)]
        print(f"    {s['total']} requests, {s['failures']} failed; rename to first new answer "
              f"max {max(first):.3f} s mean {sum(first) / len(first):.3f} s; to last old answer "
              f"max {max(last_old):.3f} s; slowest request {s['max_seconds']:.3f} s")
        assert s["failures"] == 0, s
        assert {v["version"] for v in s["versions"]} == {"v1", "v2"}, s
        assert s["total"] >= 20 * 10 * 0.8, s
        assert max(first) < 1.0 and max(last_old) < 1.0, (first, last_old)
        for t, end, (_, new, old) in zip(renames, ends, plan):
            assert loop.last_answer(new, after=t, before=end) > t + 1.0, "the new version stays"


def test_a_single_file_mount_never_sees_a_rename_switch():
    """The pitfall ttdeploy refuses: the container's mount holds the inode the
    file had when the container started.  A rewrite of that inode in place is
    seen; after a rename the host path names a new inode, and nginx, reloaded,
    still routes to the old slot."""
    project = "tte2e-nginx-file"
    target = f"/etc/nginx/upstream/{UPSTREAM}"
    with nginx_stack(project, PORT_FILE, f"./upstream/{UPSTREAM}:{target}:ro") as (nginx, folder):
        assert answers(PORT_FILE) == ["v1"] * 10
        with open(os.path.join(folder, UPSTREAM), "r+") as f:  # same inode, new bytes
            f.write(upstream_text("slot2:8000"))
            f.truncate()
        code, out = exec_in(nginx, "nginx", "-s", "reload")
        assert code == 0, out
        assert wait_for(PORT_FILE, "v2"), "an in-place rewrite is seen through the file mount"
        time.sleep(0.5)
        write_atomically(folder, upstream_text("slot1:8000"))
        code, out = exec_in(nginx, "nginx", "-s", "reload")
        assert code == 0, out
        time.sleep(1)
        assert answers(PORT_FILE) == ["v2"] * 10, "the rename-switch back to v1 is not seen"
        assert "slot2:8000" in exec_in(nginx, "cat", target)[1], "the mount holds the old inode"


if __name__ == "__main__":
    run(globals())
