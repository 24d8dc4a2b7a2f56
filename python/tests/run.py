# SPDX-License-Identifier: MIT
"""Runs Python tests for CTest: `run.py MODULE[.Class[.test]] ...`, or an
example: `run.py --script FILE [ARG ...]` (it must exit 0).

Prints every test's outcome. Fails (exit 1) on any failure, error or
unexpected success, and on any skipped test: a skip is never counted as a
pass. Expected failures (ferry's deliberate differences, each with its
reason in the test module) are listed separately. Last, it checks that no
region whose name starts with $FERRY_PY_PREFIX (made unique to this run by
appending the pid) is left in /dev/shm.
"""

import gc
import os
import sys
import unittest


def leftovers():
    prefix = os.environ.get("FERRY_PY_PREFIX")
    if not prefix:
        return True
    import ferry._ferry as F
    left = F.names_with_prefix(prefix)
    if left:
        print("regions left behind: %s" % " ".join(sorted(left)))
        for n in left:
            try:
                F.unlink(n)
            except OSError:
                pass
    return not left


def script(argv):
    import subprocess
    rc = subprocess.call([sys.executable] + argv, timeout=600)
    print("exit status %d" % rc)
    return 0 if leftovers() and rc == 0 else 1


def main(names):
    # one prefix per run, so that only this run's regions are checked
    if os.environ.get("FERRY_PY_PREFIX"):
        os.environ["FERRY_PY_PREFIX"] += "%x-" % os.getpid()
    if names[:1] == ["--script"]:
        return script(names[1:])
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    suite = unittest.defaultTestLoader.loadTestsFromNames(names)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    ok = result.wasSuccessful()
    if result.skipped:
        print("\nSKIPPED (counted as failures):")
        for test, why in result.skipped:
            print("  %s: %s" % (test.id(), why))
        ok = False
    if result.expectedFailures:
        print("\nEXPECTED FAILURES (deliberate differences, not passes):")
        for test, _ in result.expectedFailures:
            print("  %s" % test.id())
    passed = (result.testsRun - len(result.failures) - len(result.errors) - len(result.skipped)
              - len(result.expectedFailures) - len(result.unexpectedSuccesses))
    print("\nsummary: %d run, %d passed, %d failed, %d errors, %d skipped, %d expected failures, "
          "%d unexpected successes" % (result.testsRun, passed, len(result.failures),
                                       len(result.errors), len(result.skipped),
                                       len(result.expectedFailures),
                                       len(result.unexpectedSuccesses)))
    del suite, result
    gc.collect()
    if os.environ.get("FERRY_PY_PREFIX"):
        # what this process still holds is removed at its exit (run that
        # now); anything else left belongs to a finished process: a leak
        import multiprocessing.util as mu
        mu._run_finalizers(-100)
        ok = leftovers() and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
