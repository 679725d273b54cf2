#!/usr/bin/env python3
"""The guided deploy of docs/deployment.md gets through, with the pinned SAM CLI.

Reads the prompts and answers between `<!-- guided -->` and `<!-- /guided -->`, feeds
the answers to `sam deploy --guided` in a copy of the template and samconfig.toml, with
fake credentials and every AWS endpoint pointed at 127.0.0.1:1, and checks that SAM
asked exactly the documented prompts, in order, and reached "Looking for resources
needed for deployment" (the first step that needs AWS, which then fails on the
closed port) instead of stopping on an answer. Also checks that plain `sam deploy`
with the repository's samconfig.toml asks nothing before that step.

Usage: guided_deploy.py docs/deployment.md (SAM CLI from the tools venv on PATH)
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from docblocks import fenced_block

ROOT = Path(__file__).resolve().parents[2]
REACHED = "Looking for resources needed for deployment"


def sam(args: list[str], answers: str, cwd: str) -> str:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIAFAKE", "AWS_SECRET_ACCESS_KEY": "fake",
           "AWS_ENDPOINT_URL": "http://127.0.0.1:1", "SAM_CLI_TELEMETRY": "0", "AWS_REGION": "eu-west-1"}
    done = subprocess.run(["sam", *args], input=answers, capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=180)
    return done.stdout + done.stderr


def main() -> int:
    doc = Path(sys.argv[1]).read_text()
    block = fenced_block(doc, "guided")
    if block is None:
        print("guided: no <!-- guided --> block", file=sys.stderr)
        return 1
    prompts, answers = [], []
    for line in block.splitlines():
        if match := re.match(r"#   (.*?\]): ?(.*)$", line):
            prompts.append(match.group(1))
            answers.append(match.group(2).strip())
    failures = []
    with tempfile.TemporaryDirectory() as work:
        shutil.copy(ROOT / "template.yaml", work)
        shutil.copy(ROOT / "samconfig.toml", work)
        output = sam(["deploy", "--guided", "--template-file", "template.yaml"], "\n".join(answers) + "\n", work)
        asked = re.findall(r"\t([^\t#][^\t]*?\]): ", output)
        if asked != prompts:
            failures.append(f"SAM asked {asked}\n  the doc says {prompts}")
        if REACHED not in output or "Security Constraints Not Satisfied" in output:
            failures.append(f"the guided deploy stopped before AWS:\n{output[-1500:]}")
        quiet = sam(["deploy", "--template-file", "template.yaml", "--no-execute-changeset"], "", work)
        if "[y/N]" in quiet or "[Y/n]" in quiet:
            failures.append(f"plain `sam deploy` with samconfig.toml prompted:\n{quiet[-1500:]}")
    for failure in failures:
        print(f"guided: FAIL {failure}", file=sys.stderr)
    print(f"guided: {len(prompts)} documented prompts, "
          f"{'all asked in order and answered through' if not failures else 'FAILED'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
