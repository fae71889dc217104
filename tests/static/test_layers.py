#!/usr/bin/env python3
"""test_layers.py - checks that the source tree keeps its rooms.

The program lives in one folder per layer.  Includes point down only:

    cli -> deploy -> {docker, plans, state} -> {compose, adapters} -> base

(docker may also use compose and adapters; plans may use compose.)  Each
library header is included in one folder only, and only from .c files, so
its types do not leak through a header.  From deploy/, cli/ includes only
the door, deploy.h.  No source file is over 800 lines.  Each folder has a
README.md that says what lives there and what it may include.

The Makefile compiles each folder with the include paths of its own layer
and those below only, so most wrong includes do not even compile; this
script names the rule a file breaks, and checks what the compiler cannot.

    test_layers.py            run the checks; ends "N passed, N failed"
    test_layers.py --dot      print the include graph between folders (Graphviz)
    test_layers.py --root DIR check another tree (the self-test uses this)
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

from checklist import run_checks

# Folder of each layer, relative to the root, and what it may include.
FOLDERS = {
    "base": "orchestrator/base",
    "compose": "orchestrator/compose",
    "adapters": "orchestrator/adapters",
    "docker": "orchestrator/docker",
    "plans": "plans",
    "state": "state",
    "deploy": "orchestrator/deploy",
    "cli": "orchestrator/cli",
}
MAY_INCLUDE = {
    "base": {"base"},
    "compose": {"compose", "base"},
    "adapters": {"adapters", "base"},
    "docker": {"docker", "compose", "adapters", "base"},
    "plans": {"plans", "compose", "base"},
    "state": {"state", "base"},
    "deploy": {"deploy", "docker", "plans", "state", "compose", "adapters", "base"},
    "cli": {"cli", "deploy", "docker", "plans", "state", "compose", "adapters", "base"},
}
# The door of a layer: the only header of it that a higher layer includes.
DOORS = {"deploy": "deploy.h"}
# Library headers and the one folder that may include them (from .c files only).
LIBRARIES = {
    "yaml.h": "compose",
    "curl/curl.h": "adapters",
    "libpq-fe.h": "adapters",
    "git2.h": "adapters",
    "sqlite3.h": "state",
    "openssl/evp.h": "base",
}
MAX_LINES = 800

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def sources(root):
    """(layer, path relative to root) of every .c and .h file."""
    out = []
    for layer, folder in FOLDERS.items():
        d = os.path.join(root, folder)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if name.endswith((".c", ".h")):
                out.append((layer, os.path.join(folder, name)))
    return out


def includes(root, path):
    """(line number, kind '<' or '"', name) of each #include in path."""
    out = []
    with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            m = INCLUDE_RE.match(line)
            if m:
                out.append((n, m.group(1), m.group(2)))
    return out


def header_owners(root, srcs):
    """Header name -> layers holding a header of that name."""
    owners = {}
    for layer, path in srcs:
        if path.endswith(".h"):
            owners.setdefault(os.path.basename(path), []).append(layer)
    return owners


def check_unique_headers(root, srcs):
    errs = []
    for name, layers in sorted(header_owners(root, srcs).items()):
        if len(layers) > 1:
            errs.append("%s: a header of this name is in %s; the include paths would pick one "
                        "silently: rename one" % (name, " and ".join(layers)))
    return errs


def folder_edges(root, srcs):
    """{(from layer, to layer): first 'path:line' that makes the edge}."""
    owners = header_owners(root, srcs)
    edges = {}
    for layer, path in srcs:
        for n, kind, name in includes(root, path):
            if kind != '"' or name not in owners:
                continue
            to = owners[name][0]
            if to != layer:
                edges.setdefault((layer, to), "%s:%d" % (path, n))
    return edges


def check_down_only(root, srcs):
    errs = []
    owners = header_owners(root, srcs)
    for layer, path in srcs:
        for n, kind, name in includes(root, path):
            if kind != '"':
                continue
            if name not in owners:
                errs.append('%s:%d: includes "%s", which is in no layer folder: move it into '
                            "one" % (path, n, name))
                continue
            to = owners[name][0]
            if to not in MAY_INCLUDE[layer]:
                errs.append('%s:%d: includes "%s" from %s/, but %s/ may include only %s: move '
                            "the code down a layer, or pass what it needs in from above"
                            % (path, n, name, to, layer, ", ".join(sorted(MAY_INCLUDE[layer]))))
            elif to != layer and to in DOORS and name != DOORS[to]:
                errs.append('%s:%d: includes "%s" from %s/, whose only door is %s: declare what '
                            "%s/ needs in %s" % (path, n, name, to, DOORS[to], layer, DOORS[to]))
    return errs


def check_no_cycles(root, srcs):
    graph = {}
    for (a, b) in folder_edges(root, srcs):
        graph.setdefault(a, set()).add(b)
    errs = []
    state = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                errs.append("folders include each other in a circle: %s" % " -> ".join(cycle))
            elif not state.get(nxt):
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if not state.get(node):
            visit(node, [node])
    return errs


def check_libraries(root, srcs):
    errs = []
    for layer, path in srcs:
        for n, kind, name in includes(root, path):
            if kind != "<" or name not in LIBRARIES:
                continue
            owner = LIBRARIES[name]
            if layer != owner:
                errs.append("%s:%d: includes <%s>, which only %s/ may use: call %s/ instead"
                            % (path, n, name, owner, owner))
            elif path.endswith(".h"):
                errs.append("%s:%d: includes <%s> in a header, so its types leak to every "
                            "includer: include it in the .c file and keep the type opaque"
                            % (path, n, name))
    return errs


def check_sizes(root, srcs):
    errs = []
    for layer, path in srcs:
        with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
            n = sum(1 for _ in f)
        if n > MAX_LINES:
            errs.append("%s: %d lines, over %d: it holds two subjects; split it by subject"
                        % (path, n, MAX_LINES))
    return errs


def check_readmes(root, srcs):
    errs = []
    for layer, folder in FOLDERS.items():
        readme = os.path.join(root, folder, "README.md")
        if not os.path.isfile(readme):
            errs.append("%s/: no README.md saying what lives there and what it may include"
                        % folder)
            continue
        with open(readme, encoding="utf-8") as f:
            text = f.read()
        if "May include:" not in text:
            errs.append("%s/README.md: no 'May include:' line" % folder)
    return errs


def check_self_test(root, srcs):
    """A deliberate wrong include, in a copy of the tree, must be caught."""
    errs = []
    with tempfile.TemporaryDirectory() as tmp:
        for folder in FOLDERS.values():
            src = os.path.join(root, folder)
            if os.path.isdir(src):
                shutil.copytree(src, os.path.join(tmp, folder))
        victim = os.path.join(tmp, FOLDERS["base"], "buf.c")
        with open(victim, "a") as f:
            f.write('\n#include "store.h"\n#include <sqlite3.h>\n')
        r = subprocess.run([sys.executable, os.path.abspath(__file__), "--root", tmp],
                           capture_output=True, text=True)
        if r.returncode == 0 or "may include only" not in r.stdout \
                or "which only state/ may use" not in r.stdout:
            errs.append("a deliberate include of store.h and <sqlite3.h> in base/buf.c was "
                        "not reported:\n" + r.stdout)
    return errs


CHECKS = [
    ("header names are unique across folders", check_unique_headers),
    ("includes point down only", check_down_only),
    ("no circle between folders", check_no_cycles),
    ("each library header in its one folder", check_libraries),
    ("no source file over %d lines" % MAX_LINES, check_sizes),
    ("each folder has a README with what it may include", check_readmes),
    ("a wrong include is caught", check_self_test),
]


def dot(root):
    srcs = sources(root)
    edges = folder_edges(root, srcs)
    lines = ["// The include graph between ttdeploy's folders (make layers-graph).",
             "digraph layers {", "    rankdir=TB;", "    node [shape=box];"]
    for layer in FOLDERS:
        lines.append('    %s [label="%s/"];' % (layer, FOLDERS[layer]))
    for (a, b) in sorted(edges):
        lines.append("    %s -> %s;" % (a, b))
    for lib, owner in sorted(LIBRARIES.items()):
        node = "lib_" + re.sub(r"\W", "_", lib)
        lines.append('    %s [label="<%s>", shape=ellipse];' % (node, lib))
        lines.append("    %s -> %s [style=dashed];" % (owner, node))
    lines.append("}")
    return "\n".join(lines)


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    args = sys.argv[1:]
    if "--root" in args:
        root = args[args.index("--root") + 1]
        checks = [c for c in CHECKS if c[1] is not check_self_test and c[1] is not check_readmes]
    else:
        checks = CHECKS
    if "--dot" in args:
        print(dot(root))
        return 0
    srcs = sources(root)
    return run_checks([(name, lambda fn=fn: fn(root, srcs)) for name, fn in checks])


if __name__ == "__main__":
    sys.exit(main())
