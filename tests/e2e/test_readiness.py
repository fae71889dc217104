"""test_readiness.py - readiness probes (issue 7): ready as soon as the
service's own healthcheck passes, never declared unhealthy before Docker's
rules allow, hung checks cut at their timeout, and --readiness docker."""
import json
import time

from harness import api, compose_project, healthcheck, project_containers, run, service, ttdeploy


def up_json(path, project, *args):
    t0 = time.monotonic()
    p = ttdeploy("up", "-f", path, "-p", project, "--json", *args)
    took = time.monotonic() - t0
    events = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    return p, took, events


def ready_event(events, service):
    for e in events:
        if e.get("service") == service and e.get("state") == "healthy":
            return e
    return None


SLOW_START = service("slow", command='["sh", "-c", "sleep 2; touch /tmp/ready; exec sleep 300"]',
                     more=healthcheck('["CMD", "test", "-f", "/tmp/ready"]',
                                      interval="30s", timeout="3s", retries=3))


def test_ready_shortly_after_check_passes_not_at_a_tick():
    project = "tte2e-ready-slow"
    with compose_project(project, SLOW_START) as path:
        p, took, events = up_json(path, project)
        assert p.returncode == 0, p.stderr
        e = ready_event(events, "slow")
        assert e and e["readiness"] == "probe", events
        # the check starts passing 2 s after start; Docker would say so at 30 s
        assert 2.0 <= e["elapsed"] < 3.5, e
        assert took < 6, took


def test_readiness_docker_waits_for_docker_status():
    project = "tte2e-ready-docker"
    with compose_project(project, SLOW_START.replace("interval: 30s", "interval: 3s")) as path:
        p, took, events = up_json(path, project, "--readiness", "docker")
        assert p.returncode == 0, p.stderr
        e = ready_event(events, "slow")
        assert e and e["readiness"] == "docker", events
        assert e["elapsed"] >= 2.9, "Docker's first check runs one interval after start"
        _, info = api("GET", f"/containers/{project_containers(project)['slow']['Id']}/json")
        assert info["State"]["Health"]["Status"] == "healthy"


def test_never_passing_check_is_unhealthy_no_sooner_than_docker_says():
    project = "tte2e-ready-never"
    bad = service("bad", more=healthcheck(
        '["CMD-SHELL", "echo connection refused on 5432; exit 1"]',
        interval="1s", timeout="2s", retries=3, start_period="2s"))
    with compose_project(project, bad) as path:
        p, took, events = up_json(path, project, "--timeout", "60s")
        assert p.returncode == 1, p.stderr
        assert 'service "bad" is unhealthy' in p.stderr, p.stderr
        assert "connection refused on 5432" in p.stderr, p.stderr
        # Docker: failures inside start_period do not count; then 3 failures 1 s apart
        assert took >= 3.0, f"declared unhealthy after {took:.2f} s, before Docker's rules allow"
        assert took < 15, took
        cid = project_containers(project)["bad"]["Id"]
        _, info = api("GET", f"/containers/{cid}/json")
        assert info["State"]["Health"]["Status"] == "unhealthy", "Docker agrees"


def test_hanging_check_is_cut_at_its_timeout():
    project = "tte2e-ready-hang"
    hang = service("hang", more=healthcheck('["CMD", "sleep", "60"]',
                                            interval="1s", timeout="1s", retries=2))
    with compose_project(project, hang) as path:
        p, took, events = up_json(path, project, "--timeout", "60s")
        assert p.returncode == 1, p.stderr
        assert 'service "hang" is unhealthy' in p.stderr, p.stderr
        assert "timeout" in p.stderr.lower(), p.stderr
        assert took < 15, f"a hung check must not hold up for {took:.1f} s"


def test_service_without_healthcheck_is_ready_when_running():
    project = "tte2e-ready-nohc"
    after = service("after", more="    depends_on: [plain]\n")
    with compose_project(project, service("plain"), after) as path:
        p, took, events = up_json(path, project)
        assert p.returncode == 0, p.stderr
        states = {e["service"]: e["state"] for e in events if "service" in e}
        assert states == {"plain": "running", "after": "running"}, events
        notes = [e["note"] for e in events if "note" in e]
        assert any(n.startswith("ready in ") and "(0 health-check execs)" in n for n in notes), notes


if __name__ == "__main__":
    run(globals())
