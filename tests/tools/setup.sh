#!/usr/bin/env bash
# Installs the one Python environment of the tests and benchmarks (tests/tools/
# requirements.txt) into target/py, once, and again whenever the requirements change.
# Every script that needs a Python tool calls this first and then uses target/py/bin.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv="$root/target/py"
requirements="$root/tests/tools/requirements.txt"
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
echo "== tools: installing the Python tools into $venv (tests/tools/requirements.txt)"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
echo "$want" > "$stamp"
