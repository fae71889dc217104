"""test_timeline.py - the pictures and CI reports of a real deployment: a
release of examples/tasktracker whose api answers every other request with
a 500 fails verify (error rate 50%) and is rolled back to the one before;
then `timeline` draws it as SVG (rendered by headless Chromium: the PNG
must show bars in the ok and the failed colours), Mermaid and text, and
`report` writes it as JUnit (parsed, its shape and counts checked as
Jenkins' and GitLab's readers expect them) and as an HTML page with the
SVG inline.

Chromium is required (Debian packages chromium and fonts-dejavu-core):
without it the render test FAILS, it is not skipped.  With
TTDEPLOY_TIMELINE_SVG set, the SVG is also copied there (how
docs/timeline-example.svg is made)."""
import atexit
import os
import re
import shutil
import struct
import subprocess
import tempfile
import xml.etree.ElementTree as ET
import zlib

from harness import run, ttdeploy
from test_apply import Stack
from test_rollback import CGI_CHECK, FLAKY, GOOD, images

SVG_NS = "{http://www.w3.org/2000/svg}"
OK_RGB = (0x2F, 0x9E, 0x44)      # timeline_svg.c: the ok colour
FAILED_RGB = (0xE0, 0x31, 0x31)  # the failed colour
ROLLBACK_RGB = (0x70, 0x48, 0xE8)

_deployment = {}


def deployment():
    """The rolled-back deployment (made once): (stack, its id as a string)."""
    if not _deployment:
        images()
        s = Stack("tte2e-timeline", plan_edit=CGI_CHECK)
        atexit.register(s.close)  # after the last test, whichever TEST_ONLY runs
        p = s.apply(env={"API_IMAGE": GOOD, "RELEASE": "v1"})
        assert p.returncode == 0, p.stdout + p.stderr
        p = s.apply(env={"API_IMAGE": FLAKY, "RELEASE": "v2<&\"rc\">"})
        assert p.returncode == 1, p.stdout + p.stderr
        h = s.history()
        assert h[0]["status"] == "rolled_back", h[0]
        _deployment.update(stack=s, id=str(h[0]["id"]))
    return _deployment["stack"], _deployment["id"]


def png_pixels(path):
    """The RGB(A) rows of an 8-bit, non-interlaced PNG (what Chromium writes): (width, rows)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, head = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            head = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    width, height, depth, colour, _, _, interlace = head
    assert depth == 8 and colour in (2, 6) and interlace == 0, head
    bpp = 3 if colour == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return width, bpp, rows


def count_colour(width, bpp, rows, rgb, tolerance=8):
    n = 0
    for line in rows:
        for x in range(width):
            px = line[x * bpp:x * bpp + 3]
            if all(abs(px[k] - rgb[k]) <= tolerance for k in range(3)):
                n += 1
    return n


def test_svg_renders_in_headless_chromium():
    s, dep = deployment()
    svg = ttdeploy("timeline", "--plan", s.plan, "--format", "svg", dep, check=0).stdout
    root = ET.fromstring(svg)
    assert root.tag == SVG_NS + "svg", root.tag
    texts = [t.text for t in root.iter(SVG_NS + "text")]
    assert any(t and t.startswith("failed at ") and "verify api-health" in t for t in texts), texts
    assert "Deployment %s of tte2e-timeline (v2<&\"rc\">): rolled_back" % dep in texts[0], texts[0]
    bars = [r for r in root.iter(SVG_NS + "rect") if "bar" in (r.get("class") or "")]
    assert len(bars) > 10 and all(float(r.get("width")) >= 3 for r in bars), len(bars)
    # the rollback's bars start after the failure marker
    marker = float(root.find(f"{SVG_NS}g[@class='failure']/{SVG_NS}line").get("x1"))
    rollback = [r for r in bars if r.get("fill") == "#7048e8" and "step" in r.get("class")]
    assert rollback and all(float(r.get("x")) >= marker for r in rollback), marker
    chromium = shutil.which("chromium")
    assert chromium, "chromium is not installed: apt-get install -y chromium fonts-dejavu-core"
    with tempfile.TemporaryDirectory() as d:
        path, png = os.path.join(d, "timeline.svg"), os.path.join(d, "timeline.png")
        with open(path, "w") as f:
            f.write(svg)
        if os.environ.get("TTDEPLOY_TIMELINE_SVG"):
            shutil.copy(path, os.environ["TTDEPLOY_TIMELINE_SVG"])
        p = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                            f"--user-data-dir={d}/profile", f"--screenshot={png}",
                            # the whole picture in the window: preflight adds 9 rows to it
                            f"--window-size=1200,{max(800, int(float(root.get('height'))) + 40)}",
                            path],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0 and os.path.exists(png), p.stdout + p.stderr
        width, bpp, rows = png_pixels(png)
        ok, failed = (count_colour(width, bpp, rows, c) for c in (OK_RGB, FAILED_RGB))
        rolled = count_colour(width, bpp, rows, ROLLBACK_RGB)
        # a step bar is 14 px high: dozens of pixels each, hundreds in all
        assert ok > 200 and failed > 100 and rolled > 100, (ok, failed, rolled)


def test_mermaid_and_text():
    s, dep = deployment()
    m = ttdeploy("timeline", "--plan", s.plan, "--format", "mermaid", dep, check=0).stdout
    lines = m.splitlines()
    assert lines[0] == "gantt" and "    dateFormat x" in lines, m
    assert "#60;" not in m and "v2<&\"rc\">" in lines[1], lines[1]  # Mermaid escapes only :;#%
    sections = [l.split()[1] for l in lines if l.startswith("    section ")]
    assert sections[:3] == ["locked", "preflight", "backup"] and "verify" in sections, sections
    assert sections.index("failure") < sections.index("rolling_back"), sections
    check = [l for l in lines if " api-health :" in l]
    assert check and ":crit, " in check[0], check
    for l in lines[2:]:
        if l.startswith("    ") and not l.startswith("    section") and " :" in l:
            name = l.split(" :")[0]
            bare = re.sub(r"#[0-9]+;", "", name)
            assert ":" not in bare and ";" not in bare and "#" not in bare, l
    t = ttdeploy("timeline", "--plan", s.plan, dep, check=0).stdout
    assert t.startswith(f"Deployment {dep} of tte2e-timeline"), t
    assert "| failure at " in t and "\nverify " in t and "\n  api-health " in t, t
    row = [l for l in t.splitlines() if l.startswith("  api-health ")][0]
    assert "X" in row and row.rstrip().endswith("s") and " failed " in row, row
    p = ttdeploy("timeline", "--plan", s.plan, "--format", "png", dep)
    assert p.returncode == 2 and "text, svg or mermaid" in p.stderr, p.stderr


def test_junit_has_a_case_per_phase_and_check_with_the_measurement():
    s, dep = deployment()
    x = ttdeploy("report", "--plan", s.plan, "--format", "junit", dep, check=0).stdout
    assert x.startswith('<?xml version="1.0" encoding="UTF-8"?>'), x[:80]
    root = ET.fromstring(x)
    # the shape Jenkins' junit schema and GitLab's parser read
    assert root.tag == "testsuites" and [c.tag for c in root] == ["testsuite"], root
    suite = root[0]
    for attr in ("name", "tests", "failures", "errors"):
        assert suite.get(attr) is not None, (attr, suite.attrib)
    assert [c.tag for c in suite][0] == "properties", [c.tag for c in suite]
    cases = suite.findall("testcase")
    assert {c.tag for c in suite} == {"properties", "testcase"}, [c.tag for c in suite]
    for c in cases:
        assert c.get("name") and c.get("classname") and float(c.get("time")) >= 0, c.attrib
        assert all(k.tag in ("failure", "error", "skipped") for k in c), c
        for k in c:
            assert k.get("message") is not None, k.attrib
    has = lambda tag: sum(1 for c in cases if c.find(tag) is not None)
    for e in (root, suite):
        assert int(e.get("tests")) == len(cases), e.attrib
        assert int(e.get("failures")) == has("failure") and int(e.get("errors")) == has("error")
        assert int(e.get("skipped")) == has("skipped"), e.attrib
    phases = [c.get("name") for c in cases if c.get("classname") == c.get("name")]
    assert phases[:8] == ["locked", "preflight", "backup", "migrate", "infra_up",
                          "infra_healthy", "app_up", "app_healthy"], phases
    assert "rolling_back" in phases, phases
    checks = {c.get("name"): c for c in cases if c.get("classname") == "verify"
              and c.get("name") != "verify"}
    failure = checks["api-health"].find("failure")
    assert failure is not None and "requests failed (50.0%" in failure.get("message"), failure.attrib
    assert "\n" not in failure.get("message"), "the message is the error's first line"
    assert "error rate: 50.0%" in failure.text and "p95: " in failure.text, failure.text
    assert "rule 2" in failure.text, failure.text
    assert float(checks["api-health"].get("time")) > 0
    verify = [c for c in cases if c.get("name") == "verify"][0]
    assert verify.find("failure") is not None
    rb = [c for c in cases if c.get("name") == "rolling_back"][0]
    assert len(rb) == 0, "the rollback worked: its testcase passes"
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["status"] == "rolled_back" and props["version"] == "v2<&\"rc\">", props


def test_html_is_the_report_with_the_svg_inline():
    s, dep = deployment()
    h = ttdeploy("report", "--plan", s.plan, "--format", "html", dep, check=0).stdout
    assert h.startswith("<!DOCTYPE html>") and h.rstrip().endswith("</html>"), h[:80]
    assert "<h2>What triggered it</h2>" in h and "<h2>Timeline</h2>" in h, h
    assert "v2&lt;&amp;&quot;rc&quot;&gt;" in h and "v2<&" not in h, h
    body = h[h.index("<body>"):h.index("</body>") + 7]
    root = ET.fromstring(body)
    assert root.find(SVG_NS + "svg") is not None, [c.tag for c in root]
    md = ttdeploy("report", "--plan", s.plan, dep, check=0).stdout
    assert "## What triggered it" in md and "- **Status**: rolled_back" in md, md


if __name__ == "__main__":
    run(globals())
