"""test_secrets.py - nothing secret reaches the audit store or an output in
clear, and foreign bytes never break the JSON outputs.

A small stack whose services carry secrets under names that do not look
secret (DB_PASS, PW, PGPASS, API_JWT, SESSION_COOKIE) and one public name
(LOG_LEVEL, listed in the plan's audit.public_env): after apply, neither
the store file, its WAL, nor history/show/status/report (text and JSON)
holds a secret value; LOG_LEVEL is stored as written; every other value
is an HMAC-SHA256 digest under the store's key (.ttdeploy/state.key, mode
0600, not in the store), equal values give equal digests in one store and
different ones in another; `status` finds no drift after apply and names
the variable (not its value) after the container runs another secret.
Then a check whose output is invalid UTF-8 and a 300-byte cut inside a
multi-byte character: show --json, history --json and report --format
json still parse, with the fields present."""
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile

from harness import BUSYBOX, TTDEPLOY, purge_project, run, ttdeploy

PROJECT = "tte2e-secrets"
SECRETS = {
    "DB_PASS": "hunter2-secret",
    "PW": "pw-Zq81-secret",
    "PGPASS": "pgpass-Ab3-secret",
    "API_JWT": "jwt-Kk9-secret",
    "SESSION_COOKIE": "cookie-Xy7-secret",
}
CHANGED = "hunter3-changed-secret"

COMPOSE = f"""name: {PROJECT}
services:
  db:
    image: {BUSYBOX}
    init: true
    command: ["sleep", "300"]
    environment:
      DB_PASS: ${{DB_PASS:-{SECRETS["DB_PASS"]}}}
      PW: {SECRETS["PW"]}
      PGPASS: {SECRETS["PGPASS"]}
      API_JWT: {SECRETS["API_JWT"]}
      SESSION_COOKIE: {SECRETS["SESSION_COOKIE"]}
      LOG_LEVEL: debug
  api:
    image: {BUSYBOX}
    init: true
    command: ["sleep", "300"]
    depends_on: [db]
    environment:
      DB_PASS: {SECRETS["DB_PASS"]}
      LOG_LEVEL: debug
"""

PLAN = f"""version: 1
project: {PROJECT}
compose: [compose.yml]
release: {{version: v1}}
tiers: {{infra: [db], app: [api]}}
audit: {{public_env: [LOG_LEVEL]}}
verify:
CHECK
rollback:
  matrix:
    - when: {{}}
      severity: low
      do: [none]
"""

ALIVE = "  - name: api-alive\n    exec: {service: api, command: [\"true\"]}\n"
# invalid bytes, then 'é' (2 bytes) after 3 bytes: verify's 300-byte cut falls inside one
# ($$: a literal $ in a plan)
WEIRD = ("  - name: weird-output\n    exec: {service: api, command: [sh, -c, "
         "\"printf '\\\\377\\\\376 '; i=0; while [ $$i -lt 400 ]; do printf 'é'; i=$$((i+1)); "
         "done; exit 1\"]}\n")


class Secrets:
    """The stack in a scratch folder; removed, with its containers, afterwards."""

    def __init__(self, check=ALIVE):
        self.dir = tempfile.mkdtemp(prefix="ttdeploy-e2e-secrets-")
        with open(os.path.join(self.dir, "compose.yml"), "w") as f:
            f.write(COMPOSE)
        self.plan = os.path.join(self.dir, "plan.yml")
        with open(self.plan, "w") as f:
            f.write(PLAN.replace("CHECK\n", check))
        self.db = os.path.join(self.dir, ".ttdeploy", "state.db")
        self.key = os.path.join(self.dir, ".ttdeploy", "state.key")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        purge_project(PROJECT)
        shutil.rmtree(self.dir, ignore_errors=True)

    def apply(self, *args):
        return ttdeploy("apply", "--progress", "plain", *args, self.plan)

    def cmd(self, *args, check=None):
        """A read command (history, show, status, report) on the plan's store."""
        return ttdeploy(args[0], "--plan", self.plan, *args[1:], check=check)

    def store_bytes(self):
        """The store file and its WAL, as bytes."""
        data = b""
        for suffix in ("", "-wal"):
            if os.path.exists(self.db + suffix):
                with open(self.db + suffix, "rb") as f:
                    data += f.read()
        return data


def outputs(s, dep_id):
    """Every read command's output about the deployment, text and JSON."""
    texts = []
    for args in (("history",), ("history", "--json"), ("show", str(dep_id)),
                 ("show", "--json", str(dep_id)), ("status",), ("status", "--json"),
                 ("report", str(dep_id)), ("report", "--format", "json", str(dep_id))):
        p = s.cmd(*args)
        texts.append((args, p.stdout + p.stderr))
    return texts


def releases_env(show):
    return {r["service"]: json.loads(r["environment"]) for r in show["releases"]}


def test_no_secret_in_the_store_or_any_output():
    with Secrets() as s:
        p = s.apply()
        assert p.returncode == 0, p.stdout + p.stderr
        dep = json.loads(s.cmd("history", "--json", check=0).stdout)[0]["id"]
        data = s.store_bytes()
        for name, value in SECRETS.items():
            assert value.encode() not in data, f"{name}'s value is in the store or its WAL"
            assert value not in p.stdout + p.stderr, f"{name}'s value in apply's output"
        for args, text in outputs(s, dep):
            for name, value in SECRETS.items():
                assert value not in text, f"{name}'s value in `{' '.join(args)}`: {text}"
        env = releases_env(json.loads(s.cmd("show", "--json", str(dep), check=0).stdout))
        assert env["db"]["LOG_LEVEL"] == "debug", "a public name is stored as written"
        for name in SECRETS:
            assert re.fullmatch(r"hmac-sha256:[0-9a-f]{64}", env["db"][name]), env["db"]
        assert len({env["db"][n] for n in SECRETS}) == len(SECRETS), "other values, other digests"
        assert env["api"]["DB_PASS"] == env["db"]["DB_PASS"], "equal values compare equal"
        # the key: beside the store, 0600, 64 hex digits, not in the store
        st = os.lstat(s.key)
        assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
        with open(s.key) as f:
            key = f.read().strip()
        assert re.fullmatch(r"[0-9a-f]{64}", key), key
        assert key.encode() not in data and bytes.fromhex(key) not in data
        # another store: the same value gets another digest (no oracle across stores)
        other = os.path.join(s.dir, "other", "audit.db")
        p = s.apply("--state", other)
        assert p.returncode == 0, p.stdout + p.stderr
        h = json.loads(ttdeploy("history", "--state", other, "--json", check=0).stdout)
        env2 = releases_env(json.loads(ttdeploy("show", "--state", other, "--json",
                                                str(h[0]["id"]), check=0).stdout))
        assert env2["db"]["DB_PASS"] != env["db"]["DB_PASS"], "a digest is no oracle across stores"
        assert env2["db"]["LOG_LEVEL"] == "debug"
        assert os.path.exists(os.path.join(s.dir, "other", "audit.key"))


def test_status_compares_digests_and_names_the_changed_variable():
    with Secrets() as s:
        s.apply()
        st = json.loads(s.cmd("status", "--json", check=0).stdout)
        assert not st["drift"] and {x["daemon"] for x in st["services"]} == {"ok"}, st
        # the db container now runs another DB_PASS, not through ttdeploy apply
        p = ttdeploy("up", "-f", os.path.join(s.dir, "compose.yml"), env={"DB_PASS": CHANGED})
        assert p.returncode == 0, p.stdout + p.stderr
        p = s.cmd("status", "--json")
        st = json.loads(p.stdout)
        verdicts = {x["service"]: x["daemon"] for x in st["services"]}
        assert st["drift"] and verdicts["db"] == "drift: another environment (DB_PASS)", verdicts
        assert verdicts["api"] == "ok", verdicts
        text = s.cmd("status").stdout
        assert "drift: another environment (DB_PASS)" in text, text
        for value in list(SECRETS.values()) + [CHANGED]:
            assert value not in p.stdout + p.stderr + text, value


def test_invalid_utf8_output_keeps_the_json_outputs_whole():
    with Secrets(check=WEIRD) as s:
        # apply prints the check's bytes as they are (a terminal's business): read them as bytes
        p = subprocess.run([TTDEPLOY, "apply", "--progress", "plain", s.plan],
                           capture_output=True, timeout=300)
        assert p.returncode == 1, p.stdout + p.stderr
        h = json.loads(s.cmd("history", "--json", check=0).stdout)
        assert h[0]["status"] == "failed" and isinstance(h[0]["error"], str), h[0]
        d = json.loads(s.cmd("show", "--json", str(h[0]["id"]), check=0).stdout)
        check = [st for st in d["steps"] if st["action"] == "weird-output"]
        assert len(check) == 1, [st["action"] for st in d["steps"]]
        check = check[0]
        assert check["status"] == "failed"
        for field in ("detail", "error"):
            assert isinstance(check[field], str), (field, check)
        assert "\ufffd\ufffd" in check["error"], "the invalid bytes are replaced, one each"
        assert "éé" in check["error"]
        assert isinstance(d["error"], str) and "weird-output" in d["error"], d["error"]
        r = json.loads(s.cmd("report", "--format", "json", str(h[0]["id"]), check=0).stdout)
        assert r["deployment"]["status"] == "failed", r
        text = json.dumps(r)
        assert "weird-output" in text and "(null)" not in text
        md = s.cmd("report", str(h[0]["id"]), check=0).stdout
        md.encode("utf-8")  # text, whole


if __name__ == "__main__":
    run(globals())
