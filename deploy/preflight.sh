#!/usr/bin/env bash
# `make preflight`: before `sam deploy`, checks with your credentials and region what
# would make the deploy fail, and prints the command that fixes each problem
# (deploy/preflight.py says what it checks). The delivery pipeline runs it too.
#
#   deploy/preflight.sh [--region R] [--stack-name S] [--config-env ENV] [--parameter NAME=VALUE ...]
#
# Runs with the tools venv's python (tests/tools/setup.sh, target/py) when there is one,
# else with python3, which then needs boto3 (pip install boto3).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python="$root/target/py/bin/python"
if [[ ! -x "$python" ]]; then
  python=python3
  if ! python3 -c 'import boto3, tomllib' 2> /dev/null; then
    echo "preflight: needs Python 3.11+ with boto3: run tests/tools/setup.sh (the tools venv), or pip install boto3" >&2
    exit 2
  fi
fi
exec "$python" "$root/deploy/preflight.py" "$@"
