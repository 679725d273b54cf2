#!/usr/bin/env python3
"""Runs the README's examples as a user would paste them, against a running server.

The block between `<!-- examples -->` and `<!-- /examples -->` runs with bash
(`set -euo pipefail`, so a failing `curl -f` or a missing variable stops it), with the
README's `http://127.0.0.1:8000` replaced by BASE_URL (tests/tools/service.py starts a
server on a free port with API_TOKEN=change-me, as the quick start does). It checks
that each call succeeded as the comments say: the created item is read back, renamed
and deleted, and the last call is the promised 401 problem.

Usage (what `make readme` runs):
    tests/tools/service.py --env API_TOKEN=change-me -- python3 tests/tools/readme_examples.py README.md
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from docblocks import fenced_block


def main() -> int:
    readme = Path(sys.argv[1]).read_text()
    block = fenced_block(readme, "examples")
    if block is None:
        print("readme: no <!-- examples --> block in the README", file=sys.stderr)
        return 1
    script = block.replace("http://127.0.0.1:8000", os.environ["BASE_URL"])
    if os.environ.get("API_TOKEN") != "change-me":
        print("readme: the examples assume the quick start's API_TOKEN=change-me", file=sys.stderr)
        return 1
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True,
                          timeout=60)
    if done.returncode != 0:
        print(f"readme: the examples failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}",
              file=sys.stderr)
        return 1
    lines = done.stdout.splitlines()
    created = next((line for line in lines if line.startswith("created ")), "")
    item_id = created.removeprefix("created ")
    problems = []
    if not re.fullmatch(r"[0-9a-f-]{36}", item_id):
        problems.append(f"no created id in the output: {created!r}")
    if not any('"name":"Renamed"' in line for line in lines):
        problems.append("the replace did not answer the renamed item")
    try:
        last = json.loads(lines[-1])
    except (IndexError, ValueError):
        last = {}
    if last.get("status") != 401:
        problems.append(f"the last call is not the 401 problem: {lines[-1:]}")
    for problem in problems:
        print(f"readme: FAIL {problem}", file=sys.stderr)
    print(f"readme: the examples ran against {os.environ['BASE_URL']}: "
          f"{'ok' if not problems else 'failed'} ({len(lines)} lines of output)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
