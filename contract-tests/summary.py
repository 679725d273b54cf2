#!/usr/bin/env python3
"""Prints the closing line of a contract-test run from schemathesis' JUnit report.

Usage: summary.py JUNIT_XML MODE SEED EXIT_STATUS
The last line is `contract: N passed, N failed` (one JUnit case per operation plus
the stateful run), or says that there was no report.
"""

import sys
import xml.etree.ElementTree as ET


def main() -> None:
    path, mode, seed, status = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as error:
        print(f"contract tests ({mode}, seed {seed}): no JUnit report ({error}); exit {status}")
        return
    total = failed = 0
    for case in root.iter("testcase"):
        total += 1
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
    print(f"contract tests ({mode}, seed {seed}, exit {status}): one JUnit case per operation plus the stateful run")
    print(f"contract: {total - failed} passed, {failed} failed")


if __name__ == "__main__":
    main()
