#!/usr/bin/env python3
"""test_man.py - the man pages say what the program does, and install.

man/ttdeploy.1 and man/ttdeploy-plan.5 are written by hand (prose a
generator could not write), and checked here against what cannot drift:

- ttdeploy(1) against the built binary, the source of truth: every command
  of `ttdeploy help` has a `.SS NAME` under COMMANDS whose first line is
  the usage `ttdeploy NAME --help` prints, and one `.TP` tag per option of
  its option table (letter, long name, argument), in both directions: an
  option the binary has and the page lacks, and one the page documents and
  the binary lacks, are each named.  EXIT STATUS lists every EXIT_* code of
  cli/cmd.h; ENVIRONMENT every variable the source reads.
- ttdeploy-plan(5) against the plan loader: every key of every yread field
  table in plans/*.c (the tables whose unknown keys are errors) is a `.TP`
  tag under KEYS, as its path (`backup.keep.last`, `verify[].http.url`),
  and every tag there is a key the loader reads; every word of the
  loader's name tables (backup verify modes, phases, actions...) appears.
- both render with no warning (`man --warnings -l`, groff -ww) at 80
  columns, and `make install PREFIX=/usr/local DESTDIR=TMP` puts the
  binary and both pages where man finds them.
- a self-test: a fake option added to a copy of a command's --help, a
  fake key added to a copy of plan.c, and a tag added to a copy of each
  page are each caught, so the checks cannot pass by reading nothing.

The binary is $TTDEPLOY, else build/ttdeploy (make test builds it before
the static suites run).

    test_man.py            run the checks; ends "N passed, N failed"
    test_man.py --roff CMD print a page section for CMD from its --help
                           (to paste under COMMANDS when adding a command)
"""
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

from checklist import run_checks

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PAGE1 = "man/ttdeploy.1"
PAGE5 = "man/ttdeploy-plan.5"

# What the pages document ahead of the code: issue 15's parallel branches
# add these.  A difference listed here is reported as pending, not as a
# failure; an entry that no longer differs fails, so that it is deleted
# once its branch is merged.
PENDING = set()

# Variables the source reads that are not for users: test hooks (tests/FAULTS.md).
ENV_UNDOCUMENTED = {"TTDEPLOY_CRASH_AT", "TTDEPLOY_CRASH_AT_DB"}

# Where each function of plans/*.c that reads a field table reads it: the
# path its keys get.  A new function with a table must be added here.
PLAN_SECTIONS = {
    "parse_top": "",
    "parse_release": "release.",
    "parse_database": "database.",
    "parse_backup": "backup.",
    "parse_migrate": "migrate.",
    "parse_check": "verify[].",
    "parse_http": "verify[].http.",
    "parse_exec": "verify[].exec.",
    "parse_audit": "audit.",
    "parse_rollout": "rollout.SERVICE.",
    "plan_rollback_parse": "rollback.",
    "parse_rule": "rollback.matrix[].",
    "parse_when": "rollback.matrix[].when.",
    "plan_retention_parse": "retention.",
    "parse_phase": "hooks.PHASE.",
    "parse_hook": "hooks.PHASE.WHEN[].",
    "parse_webhook": "notify[].",
}
# Name tables of plans/*.c that are not plan values (the condition's operators, its help text).
PLAN_NAME_TABLES_SKIPPED = {"ops", "forms"}


# ---- roff ----------------------------------------------------------------


def roff_text(line):
    """The text of a roff line without its font escapes: what a reader sees."""
    line = re.sub(r"\\f[BIRP]|\\f\(..|\\f\[[A-Z]*\]|\\&|\\c$", "", line)
    line = line.replace(r"\-", "-").replace(r"\(bv", "|").replace(r"\e", "\\").replace(r"\ ", " ")
    return line


def sections(text):
    """{".SH name": [lines]} of a page."""
    out, cur = {}, None
    for line in text.split("\n"):
        m = re.match(r'^\.SH\s+"?([^"]*)"?\s*$', line)
        if m:
            cur = m.group(1).strip()
            out[cur] = []
        elif cur is not None:
            out[cur].append(line)
    return out


def tags(lines):
    """The tag line of every .TP paragraph in lines."""
    return [lines[i + 1] for i in range(len(lines) - 1) if lines[i].strip() == ".TP"]


def option_of_tag(tag):
    """(letter, long name, argument) of a tag such as \\fB\\-f\\fR, \\fB\\-\\-file\\fR \\fIFILE\\fR."""
    m = re.match(r"^(?:-([A-Za-z]), )?--([a-z0-9-]+)(?: (\S+))?$", roff_text(tag).strip())
    return (m.group(1) or "", m.group(2), m.group(3) or "") if m else None


def page_commands(text):
    """{name: (usage, {long: (letter, long, arg)})} of the COMMANDS section of ttdeploy(1)."""
    out, name, lines = {}, None, []

    def close():
        if name is None:
            return
        body = [line for line in lines if line.strip()]
        usage = roff_text(body[0]) if body and not body[0].startswith(".") else ""
        rows = {}
        for tag in tags(lines):
            if tag.startswith(r"\fB\-"):
                o = option_of_tag(tag)
                rows[o[1] if o else tag] = o or ("?", tag, "?")
        out[name] = (re.sub(r"\s+", " ", usage).strip(), rows)

    for line in sections(text).get("COMMANDS", []):
        m = re.match(r'^\.SS\s+"?([a-z-]+)"?\s*$', line)
        if m:
            close()
            name, lines = m.group(1), []
        elif name is not None:
            lines.append(line)
    close()
    return out


# ---- the binary ----------------------------------------------------------


def binary():
    return os.environ.get("TTDEPLOY") or os.path.join(ROOT, "build", "ttdeploy")


def run(argv):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def binary_help(exe):
    """{command: its --help text}, for every command `ttdeploy help` lists."""
    rc, out, err = run([exe, "help"])
    if rc != 0:
        raise RuntimeError("%s help exited %d: %s" % (exe, rc, err.strip()))
    names = re.findall(r"^  ([a-z][a-z-]*) ", out.split("commands:", 1)[-1], re.M)
    helps = {}
    for name in names:
        rc, text, err = run([exe, name, "--help"])
        if rc != 0:
            raise RuntimeError("%s %s --help exited %d: %s" % (exe, name, rc, err.strip()))
        helps[name] = text
    return helps


def help_usage_and_rows(name, text):
    """(usage, {long: (letter, long, arg)}) from one command's --help (without -h, --help)."""
    m = re.match(r"usage: (.*)", text)
    usage = m.group(1).strip() if m else ""
    rows, in_options = {}, False
    for line in text.split("\n"):
        if line == "options:":
            in_options = True
        elif in_options and not line.strip():
            break
        elif in_options:
            o = re.match(r"^  (?:-([A-Za-z]), )?\s*--([a-z0-9-]+)(?: (\S+))?", line)
            if o and o.group(2) != "help":
                rows[o.group(2)] = (o.group(1) or "", o.group(2), o.group(3) or "")
    return usage, rows


def show_row(r):
    return ("-%s, " % r[0] if r[0] else "") + "--" + r[1] + (" " + r[2] if r[2] else "")


# ---- the checks: a list of (key, message); key is what PENDING may name ----


def diff_commands(helps, page_text):
    """Every difference between the binary's commands and the page's, both ways."""
    page = page_commands(page_text)
    out = []
    for name in helps:
        if name not in page:
            out.append(("command " + name,
                        "command %s: the binary has it (`ttdeploy help`) but %s has no `.SS %s` "
                        "under COMMANDS (`tests/static/test_man.py --roff %s` prints one)"
                        % (name, PAGE1, name, name)))
    for name in page:
        if name not in helps:
            out.append(("command " + name,
                        "command %s: %s documents it, but the binary has no such command"
                        % (name, PAGE1)))
    for name in helps:
        if name not in page:
            continue
        usage, rows = help_usage_and_rows(name, helps[name])
        pusage, prows = page[name]
        if usage != pusage:
            out.append(("usage " + name,
                        "command %s: the usage differs:\n      binary: %s\n      %s: %s"
                        % (name, usage, PAGE1, pusage)))
        for long in rows:
            if long not in prows:
                out.append(("option %s --%s" % (name, long),
                            "%s: option %s is in the binary (`ttdeploy %s --help`) but not in %s"
                            % (name, show_row(rows[long]), name, PAGE1)))
            elif rows[long] != prows[long]:
                out.append(("option %s --%s" % (name, long),
                            "%s: option --%s differs: the binary says `%s`, %s says `%s`"
                            % (name, long, show_row(rows[long]), PAGE1, show_row(prows[long]))))
        for long in prows:
            if long not in rows:
                out.append(("option %s --%s" % (name, long),
                            "%s: %s documents option %s, which the binary "
                            "(`ttdeploy %s --help`) does not have"
                            % (name, PAGE1, show_row(prows[long]), name)))
    return out


def exit_codes(root):
    with open(os.path.join(root, "orchestrator/cli/cmd.h")) as f:
        return re.findall(r"\bEXIT_[A-Z_]+ = (\d+)", f.read())


def diff_exit_codes(root, page_text):
    documented = set()
    for tag in tags(sections(page_text).get("EXIT STATUS", [])):
        documented.update(re.findall(r"\d+", roff_text(tag)))
    codes = exit_codes(root)
    out = [("exit %s" % c, "exit code %s (orchestrator/cli/cmd.h) is not under EXIT STATUS in %s"
            % (c, PAGE1)) for c in codes if c not in documented]
    out += [("exit %s" % c, "%s documents exit code %s, which orchestrator/cli/cmd.h does not define"
             % (PAGE1, c)) for c in sorted(documented - set(codes))]
    return out


ENV_PREFIX = r"(?:GITHUB|GITLAB|CI|TTDEPLOY|DOCKER|BUILD|COMPOSE)_[A-Z0-9_]+"


def source_env(root):
    """The environment variables the program reads: getenv("X"), CI names and their tables."""
    names = set()
    for folder in ("orchestrator", "plans", "state"):
        for dirpath, _, files in os.walk(os.path.join(root, folder)):
            for fn in files:
                if not fn.endswith(".c"):
                    continue
                with open(os.path.join(dirpath, fn)) as f:
                    src = f.read()
                names.update(re.findall(r'\b(?:getenv|env|env_dup)\("([A-Za-z_][A-Za-z0-9_]*)"\)', src))
                names.update(re.findall(r'"(%s)"' % ENV_PREFIX, src))
                # A table of variable names (the actor's, the CI's): all its words are variables.
                for body in re.findall(r"\[\]\s*=\s*\{([^}]*)\}", src):
                    words = re.findall(r'"([A-Za-z0-9_]+)"', body)
                    if any(re.fullmatch(ENV_PREFIX, w) for w in words):
                        names.update(words)
    return names - ENV_UNDOCUMENTED


def diff_env(root, page_text):
    documented = set()
    for tag in tags(sections(page_text).get("ENVIRONMENT", [])):
        documented.update(re.findall(r"\b[A-Z][A-Z0-9_]{2,}\b", roff_text(tag)))
    read = source_env(root)
    out = [("env " + v, "the program reads $%s, but %s has no ENVIRONMENT entry for it"
            % (v, PAGE1)) for v in sorted(read - documented)]
    out += [("env " + v, "%s documents $%s under ENVIRONMENT, but no source file reads it"
             % (PAGE1, v)) for v in sorted(documented - read)]
    return out


def c_functions(src):
    """{name: body} of the top-level functions of a C file."""
    out = {}
    for m in re.finditer(r"^(?:static )?[a-z][\w ]*?\**\b(\w+)\([^;{]*\)\n\{\n(.*?)^\}", src,
                         re.M | re.S):
        out[m.group(1)] = m.group(2)
    return out


def loader_keys(sources):
    """(keys, errors): the paths of every key the plan loader's field tables accept."""
    keys, errors = set(), []
    for fname, src in sources.items():
        for func, body in c_functions(src).items():
            tables = {}
            for m in re.finditer(r"struct yfield (\w+)\[\]\s*=\s*\{(.*?)\};", body, re.S):
                tables[m.group(1)] = m.group(2)
            if not tables:
                continue
            if func not in PLAN_SECTIONS:
                errors.append("%s: %s() reads a field table (%s): add where its keys live to "
                              "PLAN_SECTIONS in tests/static/test_man.py, and document them in %s"
                              % (fname, func, ", ".join(tables), PAGE5))
                continue
            linked = {t: k for body_ in tables.values()
                      for k, t in re.findall(r'yfield_section\("(\w+)",\s*(\w+)', body_)}

            def walk(table, prefix):
                for key in re.findall(r'yfield_\w+\("(\w+)"', tables[table]):
                    keys.add(prefix + key)
                for k, t in re.findall(r'yfield_section\("(\w+)",\s*(\w+)', tables[table]):
                    if t in tables:
                        walk(t, prefix + k + ".")

            for t in tables:
                if t not in linked:
                    walk(t, PLAN_SECTIONS[func])
    return keys, errors


def loader_names(sources):
    """{table: [words]}: the values of the loader's name tables (modes, phases, actions)."""
    out = {}
    for src in sources.values():
        for name, body in re.findall(r"static const char \*const (\w+)\[\]\s*=\s*\{([^}]*)\}", src):
            if name not in PLAN_NAME_TABLES_SKIPPED:
                out[name] = re.findall(r'"([^"]+)"', body)
    return out


def plan_sources(root):
    out = {}
    for fn in sorted(os.listdir(os.path.join(root, "plans"))):
        if fn.endswith(".c"):
            with open(os.path.join(root, "plans", fn)) as f:
                out["plans/" + fn] = f.read()
    return out


def diff_plan_keys(sources, page_text):
    keys, out = loader_keys(sources)
    out = [("plan-table", e) for e in out]
    documented = set()
    for tag in tags(sections(page_text).get("KEYS", [])):
        m = re.match(r"^\.B\s+(\S+)", tag)
        if m:
            documented.add(m.group(1).replace(r"\&", ""))
    out += [("key " + k, "plan key %s is read by the loader (plans/) but %s has no `.TP` "
             "`.B %s` under KEYS" % (k, PAGE5, k)) for k in sorted(keys - documented)]
    out += [("key " + k, "%s documents plan key %s, which the loader (plans/) does not read"
             % (PAGE5, k)) for k in sorted(documented - keys)]
    visible = roff_text(page_text)
    for table, words in sorted(loader_names(sources).items()):
        for w in words:
            if not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(w), visible):
                out.append(("name " + w, "%s: the loader accepts \"%s\" (plans/ %s[]), "
                            "which the page never mentions" % (PAGE5, w, table)))
    return out


def failures(diffs, pending_seen):
    """The messages of diffs that are not pending; the pending keys go to pending_seen."""
    out = []
    for key, msg in diffs:
        if key in PENDING:
            pending_seen.add(key)
        else:
            out.append(msg)
    return out


# ---- rendering and install -------------------------------------------------


def render_warnings(path):
    """What man and groff say about a page at 80 columns (nothing, when it is clean)."""
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MANPAGER="cat", PAGER="cat")
    said = []
    if shutil.which("man"):
        p = subprocess.run(["man", "--warnings", "-l", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=env, timeout=60)
        if p.returncode != 0 or p.stderr.strip() or not p.stdout.strip():
            said.append("man --warnings -l %s (exit %d): %s" % (path, p.returncode,
                                                              p.stderr.strip() or "no output"))
        for n, line in enumerate(re.sub(r".\x08", "", p.stdout).split("\n"), 1):
            if len(line) > 80:
                said.append("%s: line %d of the output is %d columns wide (at most 80): %s"
                            % (path, n, len(line), line.strip()))
    p = subprocess.run(["groff", "-man", "-ww", "-z", "-rLL=80n", "-Tutf8", path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    if p.returncode != 0 or p.stderr.strip():
        said.append("groff -man -ww %s (exit %d): %s" % (path, p.returncode, p.stderr.strip()))
    return said


def install_into(root, destdir):
    """Runs `make install PREFIX=/usr/local DESTDIR=destdir`; returns its errors."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    argv = ["make", "-s", "--no-print-directory", "-C", root, "install", "PREFIX=/usr/local",
            "DESTDIR=" + destdir]
    if os.environ.get("SAN"):
        argv.append("SAN=" + os.environ["SAN"])
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                       timeout=900)
    if p.returncode != 0:
        return ["%s exited %d:\n%s" % (" ".join(argv), p.returncode, p.stdout[-2000:])]
    errs = []
    for rel, src, mode in (("bin/ttdeploy", None, 0o755),
                           ("share/man/man1/ttdeploy.1", PAGE1, 0o644),
                           ("share/man/man5/ttdeploy-plan.5", PAGE5, 0o644)):
        path = os.path.join(destdir, "usr/local", rel)
        if not os.path.isfile(path):
            errs.append("make install did not install %s" % path)
            continue
        got = stat.S_IMODE(os.stat(path).st_mode)
        if got != mode:
            errs.append("%s has mode %o, not %o" % (path, got, mode))
        if src:
            with open(path, "rb") as a, open(os.path.join(root, src), "rb") as b:
                if a.read() != b.read():
                    errs.append("%s is not a copy of %s" % (path, src))
    exe = os.path.join(destdir, "usr/local/bin/ttdeploy")
    if os.path.isfile(exe) and run([exe, "--version"])[0] != 0:
        errs.append("the installed %s --version fails" % exe)
    return errs


# ---- main ----------------------------------------------------------------


def read(root, rel):
    with open(os.path.join(root, rel)) as f:
        return f.read()


def self_test(helps, page1, page5, sources):
    """The checks see a change made on either side; returns what they missed."""
    missed = []
    name = sorted(helps)[0]
    fake = dict(helps)
    fake[name] = helps[name].replace("options:\n", "options:\n      --fake-opt X       fake\n", 1)
    if not any("--fake-opt X" in m and "in the binary" in m for _, m in diff_commands(fake, page1)):
        missed.append("an option added to `%s --help` was not reported" % name)
    marker = "\n.SS %s\n" % name
    head, _, tail = page1.partition(marker)
    body, nl, rest = tail.partition("\n.SS ")
    grown = head + marker + body + "\n.TP\n\\fB\\-\\-page\\-only\\fR\nfake\n" + nl + rest
    if not any("--page-only" in m and "does not have" in m for _, m in diff_commands(helps, grown)):
        missed.append("an option added to %s under %s was not reported" % (PAGE1, name))
    src = dict(sources)
    src["plans/plan.c"] = src["plans/plan.c"].replace(
        'yfield_string("project"', 'yfield_int("fake_key", NULL, NULL, 0),\n        '
        'yfield_string("project"', 1)
    if not any("plan key fake_key is read" in m for _, m in diff_plan_keys(src, page5)):
        missed.append("a key added to a copy of plans/plan.c was not reported")
    grown5 = page5.replace("\n.SH KEYS\n", "\n.SH KEYS\n.TP\n.B release.fake\nfake\n", 1)
    if not any("release.fake" in m for _, m in diff_plan_keys(sources, grown5)):
        missed.append("a key added to %s was not reported" % PAGE5)
    return missed


def roff_for(exe, name):
    """A COMMANDS section for name, from its --help: the usage, the summary, one .TP per option."""
    text = run([exe, name, "--help"])[1]
    usage, _ = help_usage_and_rows(name, text)

    def word(w):
        if w.startswith("-") or w in ("ttdeploy", name):
            return "\\fB%s\\fR" % w.replace("-", "\\-")
        return re.sub(r"([A-Z][A-Z_]*)", r"\\fI\1\\fR", w) if re.search(r"[A-Z]", w) else w

    lines = [".SS " + name, " ".join(re.sub(r"[^\[\]|]+", lambda m: word(m.group(0)), w)
                                     for w in usage.split(" ")),
             ".PP", text.split("\n\n")[1].strip() + "."]
    for line in text.split("options:\n", 1)[1].split("\n\n")[0].split("\n"):
        o = re.match(r"^  (?:-([A-Za-z]), )?\s*--([a-z0-9-]+)(?: (\S+))?\s+(.*)", line)
        if o and o.group(2) != "help":
            tag = ("\\fB\\-%s\\fR, " % o.group(1) if o.group(1) else "") + \
                "\\fB\\-\\-%s\\fR" % o.group(2).replace("-", "\\-") + \
                (" \\fI%s\\fR" % o.group(3) if o.group(3) else "")
            lines += [".TP", tag, o.group(4)]
        elif o is None and line.strip():
            lines.append(line.strip())
    return "\n".join(lines)


def main():
    if sys.argv[1:2] == ["--roff"] and len(sys.argv) == 3:
        print(roff_for(binary(), sys.argv[2]))
        return 0
    exe = binary()
    checks = []
    pending_seen = set()
    page1 = read(ROOT, PAGE1) if os.path.isfile(os.path.join(ROOT, PAGE1)) else ""
    page5 = read(ROOT, PAGE5) if os.path.isfile(os.path.join(ROOT, PAGE5)) else ""
    sources = plan_sources(ROOT)
    helps = None
    if not os.access(exe, os.X_OK):
        checks.append(("ttdeploy(1) matches the binary",
                       lambda: ["no binary at %s: build it first (make), or set TTDEPLOY" % exe]))
    else:
        helps = binary_help(exe)
        checks.append(("ttdeploy(1) commands, usages and options match the binary",
                       lambda: failures(diff_commands(helps, page1), pending_seen)))
    checks += [
        ("ttdeploy(1) EXIT STATUS lists every exit code of cli/cmd.h",
         lambda: failures(diff_exit_codes(ROOT, page1), pending_seen)),
        ("ttdeploy(1) ENVIRONMENT lists every variable the source reads",
         lambda: failures(diff_env(ROOT, page1), pending_seen)),
        ("ttdeploy-plan(5) KEYS match the plan loader's field tables",
         lambda: failures(diff_plan_keys(sources, page5), pending_seen)),
    ]
    for page in (PAGE1, PAGE5):
        checks.append(("%s renders without warnings at 80 columns" % page,
                       lambda page=page: render_warnings(os.path.join(ROOT, page))
                       if os.path.isfile(os.path.join(ROOT, page)) else ["%s is missing" % page]))

    def install():
        tmp = tempfile.mkdtemp(prefix="ttdeploy-install-")
        try:
            return install_into(ROOT, tmp)
        finally:
            shutil.rmtree(tmp)

    checks.append(("make install PREFIX=/usr/local DESTDIR=TMP installs binary and pages",
                   install))
    if helps is not None and page1 and page5:
        checks.append(("self-test: an option or key added on either side is reported",
                       lambda: self_test(helps, page1, page5, sources)))
        # Last: which PENDING entries differ no more (their branch is merged).
        checks.append(("PENDING lists only what still differs",
                       lambda: ["PENDING in tests/static/test_man.py lists \"%s\", but the page "
                                "and the code agree on it now: delete that entry" % k
                                for k in sorted(PENDING - pending_seen)]))

    def footer():
        if pending_seen:
            print("pending (documented ahead of its branch): " + ", ".join(sorted(pending_seen)))

    return run_checks(checks, footer)


if __name__ == "__main__":
    sys.exit(main())
