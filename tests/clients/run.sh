#!/usr/bin/env bash
# What users do with the contract, proven: lint openapi.yaml (Redocly `recommended`,
# Spectral `spectral:oas`), generate the Python and TypeScript clients from it and
# drive the running service through both, send a workload through Stoplight Prism as
# a validating proxy (prism/workload.py), and browse /docs and /redoc in Chromium.
#
# Everything generated goes to tests/clients/generated/ (git-ignored): the Python
# package, the TypeScript types and build, and the screenshots of both pages.
# Needs Node and npm, Python 3, and Debian's chromium (/usr/bin/chromium, or CHROMIUM).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
generated="$here/generated"
venv="$root/target/py"
cd "$here"

step() { echo "== clients: $*"; }

step "npm packages"
npm ci --no-audit --no-fund --loglevel=error

step "lint openapi.yaml (Redocly recommended, Spectral oas)"
npx --no-install redocly lint "$root/openapi.yaml" --config redocly.yaml --format stylish
npx --no-install spectral lint "$root/openapi.yaml" --ruleset .spectral.yaml --fail-severity=hint

rm -rf "$generated"
mkdir -p "$generated"

step "generate the Python client (openapi-python-client)"
"$root/tests/tools/setup.sh"
"$venv/bin/openapi-python-client" generate --path "$root/openapi.yaml" \
  --output-path "$generated/python" --config python/generator.yaml --overwrite
"$venv/bin/pip" uninstall --quiet --yes items-api-client 2>/dev/null || true
"$venv/bin/pip" install --quiet --disable-pip-version-check "$generated/python"

step "generate the TypeScript types (openapi-typescript) and type-check the scenario (tsc --strict)"
npx --no-install openapi-typescript "$root/openapi.yaml" -o "$generated/typescript/schema.d.ts"
npx --no-install tsc -p typescript/tsconfig.json

step "start the service; drive it with both clients and Chromium"
python3 "$root/tests/tools/service.py" --log "$generated/service.log" \
  --env "REDOC_BUNDLE_PATH=$here/node_modules/redoc/bundles/redoc.standalone.js" \
  -- "$here/scenarios.sh"
