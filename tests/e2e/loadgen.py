"""loadgen.py - a bounded HTTP load loop that tells who answered.

For zero-downtime tests: GET one URL at a steady rate (one request at a time,
each on a new connection, 2 s timeout), record for every request when it was
sent, its status or the connection error, and the body (an API slot answers
its version), then count failures and list the versions in the order they
answered.  Loopback targets only (127.0.0.0/8, ::1, localhost): this is a
test tool, never pointed at someone else's server.  Python stdlib only.

As a library:
    loop = LoadLoop("http://127.0.0.1:24080/api/version", rate=20, max_seconds=120)
    loop.start()
    ...                       # deploy, switch, roll back
    s = loop.stop()           # the summary (also loop.summary() at any time)
    s["failures"], [v["version"] for v in s["versions"]]
    loop.first_answer("v2", after=t)   # monotonic time of v2's first answer after t
    loop.last_answer("v1", after=t)    # ... and of v1's last (nginx's old worker may
                                       # still answer a request or two after a reload)
or `with LoadLoop(url) as loop: ...` (stopped on exit).

As a command (exit 1 when a request failed):
    python3 tests/e2e/loadgen.py URL [--rate 20] [--seconds 30] [--json]
It runs until --seconds pass or Ctrl-C, then prints the summary.
"""
import argparse
import http.client
import ipaddress
import json
import signal
import socket
import sys
import threading
import time
import urllib.parse

TIMEOUT = 2.0
BODY_LIMIT = 200  # characters of a body kept per request


def check_loopback(url):
    """Returns (host, port, path) of an http:// URL on a loopback address;
    raises ValueError for any other URL."""
    u = urllib.parse.urlsplit(url)
    if u.scheme != "http" or not u.hostname:
        raise ValueError(f"loadgen: {url!r}: only http://HOST[:PORT]/PATH URLs are supported")
    host = u.hostname
    loopback = host == "localhost"
    if not loopback:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
    if not loopback:
        raise ValueError(f"loadgen: {host!r} is not a loopback address: the load loop only "
                         "targets 127.0.0.0/8, ::1 or localhost (a port published on the host)")
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    return host, u.port or 80, path


def error_kind(exc):
    """A short word for a failed request: refused, reset, timeout, closed or the class name."""
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "closed"
    return type(exc).__name__


class LoadLoop:
    """GETs url at most `rate` times a second, in a thread, for at most
    max_seconds; records one dict per request: t (time.monotonic() when sent),
    seconds (how long it took), status (int or None), error (None or a word
    from error_kind), body (stripped text, the version for an API slot)."""

    def __init__(self, url, rate=20, max_seconds=120, timeout=TIMEOUT):
        if rate <= 0 or max_seconds <= 0:
            raise ValueError("loadgen: rate and max_seconds must be positive")
        self.url = url
        self.host, self.port, self.path = check_loopback(url)
        self.rate = rate
        self.max_seconds = max_seconds
        self.timeout = timeout
        self.records = []
        self.started = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        if self._thread is not None:
            raise RuntimeError("loadgen: a LoadLoop starts once")
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="loadgen", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stops the loop (waits for the request in flight) and returns summary()."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self.summary()

    def running(self):
        return self._thread is not None and self._thread.is_alive()

    def _run(self):
        interval = 1.0 / self.rate
        deadline = self.started + self.max_seconds
        next_at = self.started
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= deadline:
                break
            if now < next_at:
                self._stop.wait(next_at - now)
                continue
            record = self.request_once()
            with self._lock:
                self.records.append(record)
            next_at = max(next_at + interval, record["t"])  # never a burst to catch up

    def request_once(self):
        """One GET on a new connection: the record described in the class comment."""
        t = time.monotonic()
        status = error = None
        body = ""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request("GET", self.path, headers={"Connection": "close"})
            resp = conn.getresponse()
            body = resp.read().decode("utf-8", "replace").strip()[:BODY_LIMIT]
            status = resp.status
        except (OSError, http.client.HTTPException) as exc:
            error = error_kind(exc)
        finally:
            conn.close()
        return {"t": t, "seconds": time.monotonic() - t, "status": status, "error": error,
                "body": body}

    def snapshot(self):
        with self._lock:
            return list(self.records)

    @staticmethod
    def failed(record):
        return record["error"] is not None or not 200 <= record["status"] < 300

    def first_answer(self, version, after=0.0):
        """time.monotonic() of the first successful answer with body == version
        sent at or after `after`; None when there is none (yet)."""
        for r in self.snapshot():
            if r["t"] >= after and not self.failed(r) and r["body"] == version:
                return r["t"]
        return None

    def last_answer(self, version, after=0.0, before=float("inf")):
        """time.monotonic() of the last successful answer with body == version
        sent in [after, before); None when there is none."""
        found = None
        for r in self.snapshot():
            if after <= r["t"] < before and not self.failed(r) and r["body"] == version:
                found = r["t"]
        return found

    def summary(self):
        """total, ok, failures, errors {word: n}, statuses {code: n}, versions (runs of
        one version in answer order: version, first, last (seconds since start),
        count), max_seconds (slowest request) and duration."""
        records = self.snapshot()
        errors, statuses, versions = {}, {}, []
        failures = 0
        for r in records:
            if r["error"] is not None:
                errors[r["error"]] = errors.get(r["error"], 0) + 1
            else:
                statuses[r["status"]] = statuses.get(r["status"], 0) + 1
            if self.failed(r):
                failures += 1
                continue
            at = round(r["t"] - self.started, 3)
            if versions and versions[-1]["version"] == r["body"]:
                versions[-1]["last"] = at
                versions[-1]["count"] += 1
            else:
                versions.append({"version": r["body"], "first": at, "last": at, "count": 1})
        end = records[-1]["t"] + records[-1]["seconds"] if records else self.started or 0.0
        return {"url": self.url, "total": len(records), "ok": len(records) - failures,
                "failures": failures, "errors": errors, "statuses": statuses,
                "versions": versions,
                "max_seconds": round(max((r["seconds"] for r in records), default=0.0), 3),
                "duration": round(end - (self.started or end), 3)}


def format_summary(s):
    lines = [f"{s['url']}: {s['total']} requests in {s['duration']:.1f} s, "
             f"{s['failures']} failed, slowest {s['max_seconds']:.3f} s"]
    if s["errors"]:
        lines.append("  errors: " + ", ".join(f"{k} {v}" for k, v in sorted(s["errors"].items())))
    if s["statuses"]:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(s["statuses"].items()))
        lines.append(f"  statuses: {counts}")
    for v in s["versions"]:
        lines.append(f"  {v['version'] or '(empty)'}: {v['count']} answers, "
                     f"{v['first']:.3f} s .. {v['last']:.3f} s")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description="GET a loopback URL at a steady rate; "
                                 "count failures and the versions that answered")
    ap.add_argument("url")
    ap.add_argument("--rate", type=float, default=20, help="requests per second (20)")
    ap.add_argument("--seconds", type=float, default=30, help="how long at most (30)")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = ap.parse_args(argv)
    try:
        loop = LoadLoop(args.url, rate=args.rate, max_seconds=args.seconds)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    loop.start()
    while loop.running() and not done.wait(0.2):
        pass
    s = loop.stop()
    print(json.dumps(s, indent=2) if args.json else format_summary(s))
    return 1 if s["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
