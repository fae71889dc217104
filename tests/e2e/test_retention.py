"""test_retention.py - image retention (retention: {images: {keep: 2}}) on the
private dockerd: a project deployed v1, v2, v3 (v1's image removed, v2 v3
kept), v4 (v2 removed), rolled back with `rollback --previous` to v3 (its
images were kept: it works), then v5 and v6 with a stopped container of
another project on v4's image (never removed) and a second, unrecorded tag
on v3's image (only the project's tag goes, the image stays); an image the
project never recorded stays; a failed deployment removes nothing; every
removal is a step (show --json) and the audit chain still verifies; a
crash during retention is finished "succeeded" by `recover`; `apply
--dry-run` says what would go; keep: 0 is refused saying why."""
import json
import os
import shutil
import tempfile
import urllib.parse

from harness import BUSYBOX, api, purge_project, run, service, ttdeploy
from test_rollback import build_image

PROJECT = "tte2e-ret"
OTHER = "tte2e-ret-other"
REPO = "ttdeploy-test/ret-api"
UNRECORDED = "ttdeploy-test/ret-unrecorded:x"
SECOND_TAG = "ttdeploy-test/ret-other:v3"
COMPOSE = (f"name: {PROJECT}\nservices:\n" + service("db")
           + service("api", image="${API_IMAGE}", more="    depends_on: [db]\n"))
PLAN = f"""version: 1
project: {PROJECT}
compose: [compose.yml]
release:
  version: ${{RELEASE}}
tiers: {{infra: [db], app: [api]}}
verify:
  - name: api-good
    exec: {{service: api, command: [sh, -c, "test ! -f /bad"]}}
timeouts: {{healthy: 30s, verify: 20s}}
rollback:
  matrix:
    - when: {{}}
      severity: high
      do: [images]
retention:
  images: {{keep: 2}}
"""
DIR = tempfile.mkdtemp(prefix="ttdeploy-e2e-retention-")
PLAN_PATH = os.path.join(DIR, "plan.yml")
ids = {}  # version -> image ID
state = {}


def image(ref_or_id):
    """The engine's inspection of an image, or None when it has none."""
    status, body = api("GET", f"/images/{ref_or_id}/json")
    return body if status == 200 else None


def apply(version, env=None, check=0):
    return ttdeploy("apply", "--progress", "plain", PLAN_PATH,
                    env={"API_IMAGE": f"{REPO}:{version}", "RELEASE": version, **(env or {})},
                    check=check)


def history():
    return json.loads(ttdeploy("history", "--plan", PLAN_PATH, "--json", "--limit", "50",
                               check=0).stdout)


def show(dep_id):
    return json.loads(ttdeploy("show", "--plan", PLAN_PATH, "--json", str(dep_id), check=0).stdout)


def retention_steps(dep_id):
    return [s for s in show(dep_id)["steps"] if s["action"] == "retention"]


def cleanup():
    purge_project(PROJECT)
    purge_project(OTHER)
    for v in ("v1", "v2", "v3", "v4", "v5", "v6", "bad", "v7"):
        api("DELETE", f"/images/{REPO}:{v}")
    for ref in (UNRECORDED, SECOND_TAG):
        api("DELETE", f"/images/{ref}")


def setup():
    if state:
        return
    cleanup()
    for v in ("v1", "v2", "v3", "v4", "v5", "v6", "v7"):
        ids[v] = build_image(f"{REPO}:{v}", f"echo {v} >/release")
    ids["bad"] = build_image(f"{REPO}:bad", "touch /bad")
    ids["unrecorded"] = build_image(UNRECORDED, "echo never deployed >/release")
    with open(os.path.join(DIR, "compose.yml"), "w") as f:
        f.write(COMPOSE)
    with open(PLAN_PATH, "w") as f:
        f.write(PLAN)
    state["ready"] = True


def test_1_keep_zero_refused_saying_why():
    setup()
    bad = os.path.join(DIR, "bad.yml")
    with open(bad, "w") as f:
        f.write(PLAN.replace("keep: 2", "keep: 0"))
    p = ttdeploy("apply", bad, env={"API_IMAGE": f"{REPO}:v1", "RELEASE": "v1"})
    assert p.returncode == 2, p.stdout + p.stderr
    assert "bad.yml:17:" in p.stderr and "keep must be at least 1, not 0" in p.stderr, p.stderr
    assert "the one running" in p.stderr, p.stderr


def test_2_older_than_the_newest_two_removed():
    setup()
    for v in ("v1", "v2"):
        p = apply(v)
        assert "retention: removed 0 images" in p.stdout, p.stdout
    p = apply("v3")
    assert image(ids["v1"]) is None, "v1's image is older than the two kept: removed"
    assert image(ids["v2"]) and image(ids["v3"]), "v2 and v3 are the kept releases"
    assert image(BUSYBOX), "db's image, in every release, stays"
    assert (f"retention: removed 1 image (api v1), " in p.stdout
            and "kept releases v3, v2" in p.stdout), p.stdout
    dep = history()[0]
    steps = retention_steps(dep["id"])
    removal = [s for s in steps if s["intent"].startswith("remove image")]
    assert len(removal) == 1, steps
    assert removal[0]["intent"] == f"remove image {ids['v1']} (release v1: api)", removal
    assert removal[0]["status"] == "ok" and f"untagged {REPO}:v1" in removal[0]["detail"], removal
    assert "MB" in removal[0]["detail"], removal
    assert steps[-1]["intent"] == "kept 2 releases: v3, v2" and steps[-1]["status"] == "ok", steps
    assert show(dep["id"])["status"] == "succeeded"

    p = apply("v4")
    assert image(ids["v2"]) is None and image(ids["v3"]) and image(ids["v4"])
    assert "retention: removed 1 image (api v2)" in p.stdout, p.stdout
    assert "kept releases v4, v3" in p.stdout, p.stdout


def test_3_rollback_previous_finds_the_kept_images():
    setup()
    p = ttdeploy("rollback", "--previous", "--progress", "plain", PLAN_PATH, check=0)
    _, c = api("GET", "/containers/json?filters=" + urllib.parse.quote(json.dumps(
        {"label": [f"com.docker.compose.project={PROJECT}", "com.docker.compose.service=api"]})))
    assert c and c[0]["ImageID"] == ids["v3"], c
    assert history()[0]["kind"] == "rollback" and history()[0]["status"] == "succeeded"
    assert "retention: removed 0 images" in p.stdout and "kept releases v3, v4" in p.stdout, p.stdout
    assert image(ids["v4"]) and image(ids["v3"])


def test_4_in_use_and_other_tags_stay():
    setup()
    # A stopped container of another project on v4's image; a second tag on v3's image.
    status, c = api("POST", f"/containers/create?name={OTHER}-old", {
        "Image": ids["v4"], "Cmd": ["true"],
        "Labels": {"com.docker.compose.project": OTHER}})
    assert status == 201, c
    repo, tag = SECOND_TAG.rsplit(":", 1)
    assert api("POST", f"/images/{ids['v3']}/tag?repo={repo}&tag={tag}")[0] == 201
    apply("v5")  # kept: v5, the rollback to v3; v4 is a candidate, in use
    p = apply("v6")  # kept: v6, v5; v4 in use, v3 tagged by another name
    assert image(ids["v4"]), "a stopped container of another project uses v4's image"
    v3 = image(ids["v3"])
    assert v3 and v3["RepoTags"] == [SECOND_TAG], v3 and v3["RepoTags"]
    assert image(UNRECORDED), "an image the project never recorded is no candidate"
    steps = retention_steps(history()[0]["id"])
    kept = [s for s in steps if s["intent"].startswith(f"keep image {ids['v4']}")]
    assert kept and kept[0]["status"] == "skipped", steps
    assert f"container {OTHER}-old uses it" in kept[0]["detail"], kept
    untag = [s for s in steps if s["intent"].startswith(f"remove image {ids['v3']}")]
    assert untag and untag[0]["status"] == "ok", steps
    assert f"untagged {REPO}:v3" in untag[0]["detail"] and SECOND_TAG in untag[0]["detail"], untag
    assert "untagged 1 kept for other tags" in p.stdout, p.stdout
    assert "1 in use by a container, kept" in p.stdout, p.stdout
    # The dry run of v7 says what would go, and changes nothing.
    p = ttdeploy("apply", "--dry-run", PLAN_PATH, env={"API_IMAGE": f"{REPO}:v7", "RELEASE": "v7"},
                 check=0)
    assert "retention (images, keep 2):" in p.stdout, p.stdout
    assert "would keep releases v7, v6 (this one first)" in p.stdout, p.stdout
    assert (f"would keep image {ids['v4']} (release v4: api): container {OTHER}-old uses it"
            in p.stdout), p.stdout
    assert f"would remove image {ids['v5']} (release v5: api)" in p.stdout, p.stdout
    assert ids["v3"] not in p.stdout, "untagged before, kept for another's tag: not ours now"
    assert image(ids["v5"]), "a dry run removes nothing"
    api("DELETE", f"/containers/{OTHER}-old?force=1")


def test_5_a_failed_deployment_removes_nothing():
    setup()
    before = {v: bool(image(ids[v])) for v in ids}
    p = apply("bad", check=1)
    d = history()[0]
    assert d["status"] == "rolled_back", d
    assert "retention:" not in p.stdout, p.stdout
    assert retention_steps(d["id"]) == []
    assert {v: bool(image(ids[v])) for v in ids} == before


def test_6_crash_during_retention_recover_finishes_succeeded():
    setup()
    p = apply("v7", env={"TTDEPLOY_CRASH_AT": "list"})
    writes = [l for l in p.stderr.splitlines() if "retention" in l]
    assert writes, p.stderr
    first = writes[0].split("crash point ")[1].split(":")[0]
    assert image(ids["v5"]) is None, "v5 left the newest two (v7, v6)"
    # Again, killed at the first retention write: the record says succeeded state, running.
    ids["v8"] = build_image(f"{REPO}:v8", "echo v8 >/release")
    try:
        p = ttdeploy("apply", "--progress", "plain", PLAN_PATH,
                     env={"API_IMAGE": f"{REPO}:v8", "RELEASE": "v8", "TTDEPLOY_CRASH_AT": first})
        assert p.returncode != 0, p.stdout + p.stderr
        d = history()[0]
        assert d["status"] == "running" and d["state"] == "succeeded", d
        p = ttdeploy("recover", "--progress", "plain", PLAN_PATH, check=0)
        d = show(d["id"])
        assert d["status"] == "succeeded", d
        assert ttdeploy("audit", "verify", "--plan", PLAN_PATH).returncode == 0
    finally:
        api("DELETE", f"/images/{REPO}:v8")


def test_7_audit_chain_verifies():
    setup()
    p = ttdeploy("audit", "verify", "--plan", PLAN_PATH)
    assert p.returncode == 0, p.stdout + p.stderr


def test_9_cleanup():
    cleanup()
    shutil.rmtree(DIR, ignore_errors=True)


if __name__ == "__main__":
    run(globals())
