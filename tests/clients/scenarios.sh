#!/usr/bin/env bash
# The clients' scenarios and the browser test against a running service; run by
# run.sh under tests/tools/service.py, which sets BASE_URL and API_TOKEN.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
generated="$here/generated"
cd "$here"

echo "== clients: Python client scenario"
"$root/target/py/bin/python" python/scenario.py "$BASE_URL" "$API_TOKEN"

echo "== clients: the served /openapi.yaml under a YAML 1.1 parser (PyYAML)"
"$root/target/py/bin/python" python/served_yaml.py "$BASE_URL" "$root/openapi.yaml"

echo "== clients: TypeScript client scenario"
node "$generated/build/typescript/scenario.js" "$BASE_URL" "$API_TOKEN"

echo "== clients: Prism validating proxy: every operation and documented error, judged by a validator we did not write"
"$root/target/py/bin/python" prism/workload.py "$root/openapi.yaml" "$here/node_modules/.bin/prism"

echo "== clients: Prism mock server (make mock) answers every operation from the contract's examples"
"$root/target/py/bin/python" prism/mock.py "$root/openapi.yaml" "$here/node_modules/.bin/prism"

echo "== clients: browser: /docs and /redoc in Chromium (screenshots in $generated/screenshots)"
SCREENSHOTS="$generated/screenshots" node --test browser/
