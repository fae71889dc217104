"""checklist.py - how the static suites report: one line per check and a total.

Each check is a (name, function) pair; the function returns a list of
messages, empty when the check holds.  A check prints "  ok NAME", or
"FAIL NAME" and its messages indented; the closing line "N passed, N
failed" is the one tests/run-all.sh counts.
"""


def run_checks(checks, footer=None):
    """Runs checks in order and prints their results; footer() prints before the total.

    Returns the exit code: 0 when every check held, else 1.
    """
    passed = failed = 0
    for name, check in checks:
        errs = check()
        if errs:
            failed += 1
            print("FAIL %s" % name)
            for e in errs:
                print("  " + e)
        else:
            passed += 1
            print("  ok %s" % name)
    if footer:
        footer()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0
