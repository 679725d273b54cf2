#!/usr/bin/env bash
# What users do with the contract, proven: lint openapi.yaml (Redocly `recommended`,
# Spectral `spectral:oas`), generate the Python and TypeScript clients from it and
# drive the running service through both, and browse /docs and /redoc in Chromium.
#
# Everything generated goes to tests/clients/generated/ (git-ignored): the Python
# package, the TypeScript types and build, and the screenshots of both pages.
# Needs Node and npm, Python 3, and Debian's chromium (/usr/bin/chromium, or CHROMIUM).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
generated="$here/generated"
venv="$root/target/clients/venv"
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
stamp="$venv/.requirements.sha256"
want=$(sha256sum python/requirements.txt | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r python/requirements.txt
  echo "$want" > "$stamp"
fi
"$venv/bin/openapi-python-client" generate --path "$root/openapi.yaml" \
  --output-path "$generated/python" --config python/generator.yaml --overwrite
"$venv/bin/pip" uninstall --quiet --yes items-api-client 2>/dev/null || true
"$venv/bin/pip" install --quiet --disable-pip-version-check "$generated/python"

step "generate the TypeScript types (openapi-typescript) and type-check the scenario (tsc --strict)"
npx --no-install openapi-typescript "$root/openapi.yaml" -o "$generated/typescript/schema.d.ts"
npx --no-install tsc -p typescript/tsconfig.json

step "start the service"
(cd "$root" && cargo build --quiet --bin items-api)
workdir=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
export API_TOKEN BASE_URL="http://127.0.0.1:$port"
API_TOKEN=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
DATABASE_PATH="$workdir/items.db" PORT=$port LOG_FORMAT=json LOG_LEVEL=warn \
  REDOC_BUNDLE_PATH="$here/node_modules/redoc/bundles/redoc.standalone.js" \
  "$root/target/debug/items-api" > "$generated/service.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$workdir"' EXIT
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "$BASE_URL/api/health" 2>/dev/null && break
  kill -0 $server 2>/dev/null || { cat "$generated/service.log" >&2; exit 1; }
  sleep 0.1
done

step "Python client scenario"
"$venv/bin/python" python/scenario.py "$BASE_URL" "$API_TOKEN"

step "TypeScript client scenario"
node "$generated/build/typescript/scenario.js" "$BASE_URL" "$API_TOKEN"

step "browser: /docs and /redoc in Chromium (screenshots in $generated/screenshots)"
SCREENSHOTS="$generated/screenshots" node --test browser/
