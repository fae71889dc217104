"""test_signals.py - stop signals and the deployment lock on the private dockerd.

SIGINT while the app tier's health is waited on ends the wait at once (not
at the health timeout), records the step "interrupted", leaves the
deployment unfinished with the lock free, exits 130, and `recover` rolls it
back as the plan says; SIGTERM exits 143; a second SIGINT exits at once and
`recover` takes the lock without waiting; so does kill -9.  An apply in
another PID namespace (`unshare --pid`) sharing the store is refused while
the first runs, naming the holder, and does not delete its lock.
"""
import os
import signal
import socket
import subprocess
import time

from harness import TTDEPLOY, project_containers, run, ttdeploy
from test_apply import PORTS, SLOW_NGINX, Stack, wait_for_state
from test_rollback import BAD_HEALTH, GOOD, container_image, images


def stop(proc, sig, within):
    """Sends sig to proc; returns (exit code, stdout, stderr, seconds it took to exit)."""
    t0 = time.monotonic()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=within + 60)
    took = time.monotonic() - t0
    assert took < within, f"exit took {took:.1f} s\n{out}\n{err}"
    return proc.returncode, out, err, took


def unfinished(s):
    """The newest deployment as show gives it; asserts it is unfinished with the lock free."""
    h = s.history()
    d = s.show(h[0]["id"])
    assert d["status"] == "running", (d["status"], d["error"])
    assert s.sql("SELECT count(*) FROM lock") == [(0,)], "the lock is released"
    return d


def recover_quickly(s, want):
    t0 = time.monotonic()
    p = ttdeploy("recover", "--progress", "plain", s.plan, env=PORTS)
    took = time.monotonic() - t0
    assert p.returncode == want, p.stdout + p.stderr
    assert "waiting up to" not in p.stdout, "recover took the lock at once: " + p.stdout
    return p, took


def test_sigint_during_the_health_wait_stops_and_recover_rolls_back():
    images()
    s = Stack("tte2e-sig-int")
    try:
        assert s.apply(env={"API_IMAGE": GOOD, "RELEASE": "v1"}).returncode == 0
        proc = s.popen("apply", env={"API_IMAGE": BAD_HEALTH, "RELEASE": "v2"})
        wait_for_state(s, {"app_healthy"})
        time.sleep(1.0)
        code, out, err, took = stop(proc, signal.SIGINT, within=15)
        assert code == 130, out + err
        assert "interrupted by SIGINT during app_healthy, step" in err, err
        assert "ttdeploy recover" in err, err
        d = unfinished(s)
        assert d["state"] == "app_healthy", d["state"]
        assert d["error"].startswith("interrupted by SIGINT during app_healthy"), d["error"]
        cut = [st for st in d["steps"] if st["status"] == "interrupted"
               and "interrupted by SIGINT" in (st["error"] or "")]
        assert cut and cut[-1]["phase"] == "app_healthy", d["steps"]
        assert f"step {cut[-1]['seq']} wait of {cut[-1]['service']}" in d["error"], d["error"]
        assert not [st for st in d["steps"] if st["status"] == "running"]
        assert not [st for st in d["steps"] if st["phase"] in ("deciding", "rolling_back")], \
            "it did not roll back by itself"
        p = s.apply(env={"API_IMAGE": GOOD, "RELEASE": "v3"})
        assert p.returncode == 4 and "recover" in p.stderr, p.stderr
        recover_quickly(s, 1)
        d = s.show(d["id"])
        assert d["status"] == "rolled_back", (d["status"], d["error"])
        image, state = container_image(s.project, "api")
        assert image == GOOD and state["Running"], (image, state)
        p = s.apply(env={"API_IMAGE": GOOD, "RELEASE": "v3"})
        assert p.returncode == 0, p.stdout + p.stderr
        print(f"    SIGINT to exit: {took:.2f} s (health timeout 120 s)")
    finally:
        s.close()


def test_sigterm_exits_143_and_leaves_it_for_recover():
    with Stack("tte2e-sig-term", compose_edit=SLOW_NGINX) as s:
        proc = s.popen("apply")
        wait_for_state(s, {"app_up", "app_healthy"})
        code, out, err, took = stop(proc, signal.SIGTERM, within=15)
        assert code == 143, out + err
        assert "interrupted by SIGTERM during" in err, err
        d = unfinished(s)
        assert any(st["status"] == "interrupted" for st in d["steps"]), d["steps"]
        recover_quickly(s, 1)
        assert s.history()[0]["status"] in ("failed", "rolled_back")
        assert s.sql("SELECT count(*) FROM lock") == [(0,)]
        assert s.apply().returncode == 0


def test_second_sigint_exits_at_once_and_recover_takes_the_lock():
    with Stack("tte2e-sig-twice", compose_edit=SLOW_NGINX) as s:
        proc = s.popen("apply")
        wait_for_state(s, {"app_up", "app_healthy"})
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
        assert proc.returncode == 130, proc.returncode
        assert time.monotonic() - t0 < 2, "the second SIGINT exits at once"
        assert s.history()[0]["status"] == "running"
        recover_quickly(s, 1)
        assert s.sql("SELECT count(*) FROM lock") == [(0,)]
        assert s.apply().returncode == 0


def test_kill_9_then_recover_takes_the_lock_at_once():
    with Stack("tte2e-sig-kill", compose_edit=SLOW_NGINX) as s:
        proc = s.popen("apply")
        wait_for_state(s, {"app_up", "app_healthy"})
        proc.kill()
        proc.communicate()
        assert s.sql("SELECT pid FROM lock") == [(proc.pid,)], "kill -9 leaves the lock"
        _, took = recover_quickly(s, 1)
        assert took < 25, f"recover took {took:.1f} s: it waited for the heartbeat to go stale"
        assert s.sql("SELECT count(*) FROM lock") == [(0,)]


def unshare_works():
    p = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"],
                       capture_output=True)
    return p.returncode == 0


def test_apply_in_another_pid_namespace_is_refused_and_keeps_the_first_lock():
    assert unshare_works(), "unshare --pid --fork --mount-proc does not work here"
    slow = lambda t: t.replace(
        "  - name: worker-ready\n    exec: {service: worker, command: [test, -f, /tmp/worker.ready]}",
        "  - name: worker-ready\n    exec: {service: worker, command: [sh, -c, 'sleep 8']}")
    with Stack("tte2e-sig-ns", plan_edit=slow) as s:
        first = s.popen("apply")
        wait_for_state(s, {"verify"}, timeout=120)
        env = dict(os.environ)
        env.update(PORTS)
        second = subprocess.run(
            ["unshare", "--pid", "--fork", "--mount-proc", TTDEPLOY, "apply", "--progress",
             "plain", "--lock-timeout", "1s", s.plan],
            env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 4, second.stdout + second.stderr
        host = socket.gethostname()
        dep = s.history()[0]["id"]
        assert f"is locked by {host} pid {first.pid} (deployment {dep}) since" in second.stderr, \
            second.stderr
        assert "pid namespace pid:[" in second.stderr and "heartbeat" in second.stderr, \
            second.stderr
        assert s.sql("SELECT pid, deployment_id FROM lock") == [(first.pid, dep)], \
            "the first deployment still holds its lock"
        st = ttdeploy("status", "--plan", s.plan, env=PORTS)
        assert f"locked by {host} pid {first.pid} (deployment {dep})" in st.stdout, st.stdout
        out, err = first.communicate(timeout=180)
        assert first.returncode == 0, out + err
        h = s.history()
        assert len(h) == 1 and h[0]["status"] == "succeeded", h
        assert s.sql("SELECT count(*) FROM lock") == [(0,)]
        for n, c in project_containers(s.project).items():
            assert c["State"] == "running", (n, c["State"])


if __name__ == "__main__":
    run(globals())
