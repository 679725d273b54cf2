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
echo "== self-test: building the mutant (createItem answers 200) in target/mutant; the first build takes a few minutes on 2 cores, cargo shows its progress"
# Its own target dir: the mutant must never replace the real binary.
progress='/Compiling/ { n++; if (n % 40 == 0) { print "self-test: ... " n " crates compiled"; fflush() } }
          /^(error|warning: unused)/ { print; fflush() }
          /Finished/ { print "self-test: mutant built (" n " crates compiled)"; fflush() }'
if ! (cd "$copy" && CARGO_TARGET_DIR="$root/target/mutant" cargo build --bin items-api 2>&1) | awk "$progress"; then
  echo "self-test: the mutant did not build" >&2
  exit 1
fi

echo "== self-test: running the contract suite against the mutant; it is EXPECTED TO FAIL on createItem's status (its summary follows)"
status=0
ITEMS_API_BIN="$root/target/mutant/debug/items-api" "$here/run.sh" --max-examples 20 > "$here/reports/self-test.log" 2>&1 || status=$?
sed -n 's/^contract tests (/self-test: (expected failure) contract tests (/p' "$here/reports/self-test.log" || true
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
