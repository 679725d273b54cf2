#!/usr/bin/env bash
# Proves the contract tests can fail: builds a copy of the service whose createItem
# answers 200 instead of the contract's 201, runs the local suite against it, and
# succeeds only if the suite fails on createItem's status code. First it runs the
# tests of the Lambda-mode hook, which prove its resend never hides a service error.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT

echo "== self-test: the Lambda-mode hook resends only the emulator's own faults"
"$root/tests/tools/setup.sh"
(cd "$here" && "$root/target/py/bin/python" -m unittest discover -s hooks)

(cd "$root" && git ls-files -z | xargs -0 cp --parents -t "$copy")
sed -i 's/StatusCode::CREATED,/StatusCode::OK,/' "$copy/src/api/items/mod.rs"
if ! grep -q 'StatusCode::OK,' "$copy/src/api/items/mod.rs"; then
  echo "self-test: the mutation no longer applies to src/api/items/mod.rs; update self-test.sh" >&2
  exit 1
fi
echo "== self-test: building the mutant (createItem answers 200)"
# Its own target dir: the mutant must never replace the real binary.
(cd "$copy" && CARGO_TARGET_DIR="$root/target/mutant" cargo build --quiet --bin items-api)

status=0
ITEMS_API_BIN="$root/target/mutant/debug/items-api" "$here/run.sh" --max-examples 20 > "$here/reports/self-test.log" 2>&1 || status=$?
grep "^contract tests (" "$here/reports/self-test.log" || true
if [[ $status -eq 0 ]]; then
  echo "self-test: FAILED: the suite passed against a createItem that answers 200" >&2
  exit 1
fi
if ! grep -q 'Undocumented status code' "$here/reports/self-test.log" \
   || ! grep -q 'POST /api/items' "$here/reports/self-test.log"; then
  echo "self-test: FAILED: the suite failed, but not on createItem's status code:" >&2
  tail -n 60 "$here/reports/self-test.log" >&2
  exit 1
fi
echo "self-test: the suite caught the broken createItem (200 instead of 201)"
