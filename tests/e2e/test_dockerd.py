"""test_dockerd.py - the test environment itself: the private dockerd that
tests/infra.sh starts answers /_ping on its own socket, is not the system
daemon, and has the offline images, which do what later suites need."""
import json
import os
import subprocess

from harness import ROOT, SOCK, api, run

def test_private_socket():
    assert SOCK != "/var/run/docker.sock" and SOCK.startswith("/"), SOCK
    assert os.path.exists(SOCK)


def test_ping():
    status, body = api("GET", "/_ping")
    assert status == 200 and body == b"OK", (status, body)


def test_data_root_is_private():
    status, info = api("GET", "/info")
    assert info["DockerRootDir"].startswith("/var/tmp/") or \
        info["DockerRootDir"].startswith(os.environ.get("TTDEPLOY_TEST_ROOT", "/var/tmp/")), info["DockerRootDir"]


def test_offline_images_present():
    for image in ("ttdeploy-test/busybox:latest", "ttdeploy-test/postgres:15",
                  "ttdeploy-test/migrator:2"):
        status, _ = api("GET", f"/images/{image}/json")
        assert status == 200, image


def _run_container(cmd, image="ttdeploy-test/busybox:latest"):
    status, body = api("POST", "/containers/create", {"Image": image, "Cmd": cmd,
                                                       "Labels": {"ttdeploy.test": "1"}})
    assert status == 201, body
    cid = body["Id"]
    try:
        assert api("POST", f"/containers/{cid}/start")[0] == 204
        status, body = api("POST", f"/containers/{cid}/wait")
        return body["StatusCode"]
    finally:
        api("DELETE", f"/containers/{cid}?force=1")


def test_busybox_exits_with_chosen_code():
    assert _run_container(["sh", "-c", "exit 7"]) == 7


def test_busybox_serves_health_endpoint():
    code = _run_container(["sh", "-c", "httpd -p 8000 -h /www && sleep 0.2 && "
                                       "wget -q -O- http://127.0.0.1:8000/api/health | grep -q ok"])
    assert code == 0


def test_infra_up_reuses_running_daemon():
    p = subprocess.run([os.path.join(ROOT, "tests", "infra.sh"), "up"], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "reusing the daemon" in p.stderr
    assert "building" not in p.stderr


if __name__ == "__main__":
    run(globals())
