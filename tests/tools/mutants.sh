#!/usr/bin/env bash
# Mutation testing: `make mutants` (all of it) or `make mutants SHARD=k/n` (one n-th of
# the mutants, so a shard takes minutes). cargo-mutants, pinned, mutates each function of
# the modules docs/testing.md scores and runs the tests against every mutant: a mutant the
# tests let through (MISSED) is a behaviour no test pins. Not part of `make test`.
#
# It works on a copy of the working tree (target/mutants/tree, tracked and untracked
# files, so uncommitted changes are tested too), in place, with its own target dir kept
# between runs. Results: target/mutants/out/{general,dynamodb}/mutants.out
# (missed.txt, caught.txt, outcomes.json); `tests/tools/mutants_score.py` prints the
# per-module score.
#
# The tests each mutant runs: the unit tests and tests/api, without the AWS-emulator
# tests (minutes per mutant) except for src/store/dynamodb/, whose mutants run only
# the DynamoDB tests (on moto, from target/py: run `make setup` first).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
version=27.1.0
tools=$root/target/tools
work=$root/target/mutants
shard=${1:-}

if ! "$tools/bin/cargo-mutants" mutants --version 2>/dev/null | grep -q " $version$"; then
    echo "mutants: installing cargo-mutants $version into $tools (once, ~7 min)"
    cargo install --locked --quiet cargo-mutants --version "$version" --root "$tools"
fi

mkdir -p "$work/tree" "$work/out/general" "$work/out/dynamodb"
# A fresh copy of the sources (the tree's target/ stays, so dependencies build once).
find "$work/tree" -mindepth 1 -maxdepth 1 ! -name target -exec rm -rf {} +
(cd "$root" && git ls-files -z --cached --others --exclude-standard) \
    | (cd "$root" && tar --null -T - -cf -) | tar -xf - -C "$work/tree"

export PATH=$root/target/py/bin:$PATH
args=(--in-place --profile mutants --baseline skip --timeout 120 --test-tool nextest)
[ -n "$shard" ] && args+=(--shard "$shard")

general=(--file 'src/domain/**' --file src/auth.rs --file src/error.rs --file src/extract.rs
         --file 'src/api/**' --file src/middleware.rs --file src/lambda.rs --file src/store/mod.rs
         --file src/store/layer.rs --file src/store/sqlite.rs)
no_aws='not (test(/^store::dynamodb/) | test(/^rotation::/) | test(/^invoke::the_token_comes_from_secrets/) | test(/^resilience::sigterm/))'

status=0
cd "$work/tree"
"$tools/bin/cargo-mutants" mutants "${args[@]}" -o "$work/out/general" "${general[@]}" \
    -- --lib --test api -E "$no_aws" || status=$?
"$tools/bin/cargo-mutants" mutants "${args[@]}" -o "$work/out/dynamodb" \
    --file 'src/store/dynamodb/**' -- --lib --test api -E 'test(/dynamodb|layout::|users::two_users_are_apart_on_dynamodb/)' || status=$?
"$root/target/py/bin/python" "$root/tests/tools/mutants_score.py" "$work/out/general" "$work/out/dynamodb"
# cargo-mutants exits 2 when a mutant is missed, 3 on a timeout: both are findings.
exit "$status"
