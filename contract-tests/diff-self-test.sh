#!/usr/bin/env bash
# Proves the breaking-change gate (diff.sh) judges right: it must fail on breaking
# mutants of openapi.yaml, pass a compatible change, and pass a breaking change whose
# info.version raises the major part. Each mutant is a copy in a temporary folder.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
base="$root/openapi.yaml"

# mutate NAME EXPRESSION: a copy of openapi.yaml with a sed expression applied; fails
# if the expression no longer changes anything (the self-test would prove nothing).
mutate() {
  sed -e "$2" "$base" > "$work/$1.yaml"
  if cmp -s "$base" "$work/$1.yaml"; then
    echo "diff-self-test: mutant $1 no longer changes openapi.yaml; update diff-self-test.sh" >&2
    exit 1
  fi
}

# expect OUTCOME NAME [REASON]: run the gate on mutant NAME and check that it passes
# or fails, and that a failure names REASON (so a broken mutant cannot pass for one).
expect() {
  local outcome=$1 name=$2 reason=${3:-} status=0
  "$here/diff.sh" "$base" "$work/$name.yaml" > "$work/$name.log" 2>&1 || status=$?
  local wrong=false
  if [[ $outcome == fail && $status -eq 0 ]] || [[ $outcome == pass && $status -ne 0 ]]; then wrong=true; fi
  if [[ -n "$reason" ]] && ! grep -qF "$reason" "$work/$name.log"; then wrong=true; fi
  if $wrong; then
    echo "diff-self-test: FAILED: the gate should $outcome on $name${reason:+ ($reason)}; its output:" >&2
    cat "$work/$name.log" >&2
    exit 1
  fi
  if [[ $outcome == fail ]]; then
    echo "diff-self-test: $name: refused, as it must be (${reason})"
  else
    echo "diff-self-test: $name: let through, as it must be"
  fi
}

echo "== diff-self-test: breaking mutants (expected to be refused; the gate's output is in its log)"
# A required response property made optional (ItemPage.next_cursor).
mutate optional-next-cursor '/^    ItemPage:/,/^    [A-Z]/{/^      - next_cursor$/d}'
expect fail optional-next-cursor "cannot make required response property 'next_cursor' optional"
# An operation removed (deleteItem).
mutate removed-operation '/^    delete:/,/^      - bearerAuth: \[\]$/d'
expect fail removed-operation 'cannot remove an operation'
# A new required input (listItems' limit made required).
mutate required-limit '/^      - name: limit$/,/^        required: false$/{s/^        required: false$/        required: true/}'
expect fail required-limit "cannot make optional query parameter 'limit' required"

echo "== diff-self-test: compatible changes"
mutate new-description 's/^      summary: List items$/      summary: List the items/'
expect pass new-description
# The major part raised, whatever the version is (0.2.0 → 10.2.0, 1.4.0 → 11.4.0).
mutate breaking-with-major-bump '/^    ItemPage:/,/^    [A-Z]/{/^      - next_cursor$/d};/^info:/,/^[a-z]/{s/^  version: "\([0-9]*\)\./  version: "1\1./}'
expect pass breaking-with-major-bump
echo "diff-self-test: the gate refuses breaking changes and passes compatible ones"
