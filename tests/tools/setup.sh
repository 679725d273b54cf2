#!/usr/bin/env bash
# Installs the Python environment of the tests and benchmarks (tests/tools/
# requirements.txt) into target/py, once, and again whenever the requirements change.
# Every script that needs a Python tool calls this first and then uses target/py/bin.
# checkov alone lives in target/checkov (tests/tools/checkov/requirements.txt says why).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)

# install VENV REQUIREMENTS: the venv, unless it holds exactly these requirements.
install() {
  local venv=$1 requirements=$2
  local stamp="$venv/.requirements.sha256" want
  want=$(sha256sum "$requirements" | cut -d' ' -f1)
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return 0
  fi
  echo "== tools: installing the Python tools of ${requirements#"$root"/} into ${venv#"$root"/}"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  echo "$want" > "$stamp"
}

install "$root/target/py" "$root/tests/tools/requirements.txt"
install "$root/target/checkov" "$root/tests/tools/checkov/requirements.txt"
