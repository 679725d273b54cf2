#!/usr/bin/env bash
# Installs AWS CloudFormation Guard (crates.io `cfn-guard`, pinned) into target/cfn-guard,
# once: `make guard` checks template.yaml against tests/template/deploy.guard with it.
# A build from source (a few minutes on 2 cores): the project's machines reach crates.io
# but not the GitHub releases that hold its prebuilt binaries.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
version=3.2.0
bin="$root/target/cfn-guard/bin/cfn-guard"
if [[ -x "$bin" ]] && [[ "$("$bin" --version 2> /dev/null)" == *"$version"* ]]; then
  exit 0
fi
echo "== tools: building cfn-guard $version from crates.io into target/cfn-guard (a few minutes)"
cargo install --quiet --locked --version "$version" --root "$root/target/cfn-guard" cfn-guard
