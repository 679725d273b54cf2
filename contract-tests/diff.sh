#!/usr/bin/env bash
# The breaking-change gate: fails when openapi.yaml breaks a client of the latest
# released contract (contract-tests/released/items-api-X.Y.Z.yaml) unless
# info.version's major part was raised. Optic (npm @useoptic/optic, pinned in
# tests/clients/package.json) judges what breaks a client: a removed operation or
# property, a new required input, a narrowed type or enum, a changed status.
#
#   contract-tests/diff.sh              openapi.yaml against the latest released version
#   contract-tests/diff.sh BASE.yaml    openapi.yaml against any file (make contract-diff BASE=...)
#   contract-tests/diff.sh BASE NEW     NEW instead of openapi.yaml (the self-test uses it)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
clients="$root/tests/clients"

base=${1:-}
new=${2:-$root/openapi.yaml}
if [[ -z "$base" ]]; then
  base=$(find "$here/released" -name 'items-api-*.yaml' | sort -V | tail -n 1)
  [[ -n "$base" ]] || { echo "contract-diff: no released contract in $here/released" >&2; exit 2; }
fi

if [[ ! -x "$clients/node_modules/.bin/optic" ]]; then
  (cd "$clients" && npm ci --no-audit --no-fund --loglevel=error)
fi

version() { # info.version of a contract, from its `info:` block
  awk '/^info:/ {in_info=1; next} /^[^ ]/ {in_info=0} in_info && /^  version:/ {gsub(/["'"'"']/, "", $2); print $2; exit}' "$1"
}
base=$(realpath "$base")
new=$(realpath "$new")
base_version=$(version "$base")
new_version=$(version "$new")
echo "== contract-diff: $(basename "$new") $new_version against $(basename "$base") $base_version"

status=0
# From a scratch folder: with CI set, optic writes ci-run-details.json into its cwd.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
(cd "$scratch" && "$clients/node_modules/.bin/optic" diff "$base" "$new" --check) || status=$?
if [[ $status -eq 0 ]]; then
  echo "contract-diff: no breaking change"
  exit 0
fi
if [[ "${new_version%%.*}" -gt "${base_version%%.*}" ]]; then
  echo "contract-diff: breaking changes above are allowed: the major version went from ${base_version%%.*} to ${new_version%%.*}"
  exit 0
fi
echo "contract-diff: FAILED: openapi.yaml breaks clients of $base_version (see above); keep the change compatible, or raise info.version's major part (docs/contract-testing.md)" >&2
exit 1
