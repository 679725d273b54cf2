#!/usr/bin/env python3
"""`make mock` works: Prism's mock server answers every operation from the contract.

Starts `prism mock openapi.yaml` on a free 127.0.0.1 port and checks that each
operation answers its documented success status with the contract's example (the
front-end team's stand-in before a stage exists; docs/clients.md).
Usage: mock.py OPENAPI_YAML PRISM_BIN
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from service import Service  # noqa: E402  (the shared start/wait/stop helper)

ID = "0193a6f0-7c2e-7d3a-9b1e-4f5a6b7c8d9e"
CALLS = [
    ("GET", "/", None, 200, "Welcome"),
    ("GET", "/api/health", None, 200, "Health"),
    ("GET", "/api/aws-info", None, 200, "AwsInfo"),
    ("GET", "/api/items", None, 200, "ItemPage"),
    ("POST", "/api/items", {"name": "Test Item"}, 201, "Item"),
    ("GET", f"/api/items/{ID}", None, 200, "Item"),
    ("PUT", f"/api/items/{ID}", {"name": "Test Item"}, 200, "Item"),
    ("DELETE", f"/api/items/{ID}", None, 204, None),
]


def main() -> int:
    spec, prism = sys.argv[1], sys.argv[2]
    schemas = yaml.safe_load(Path(spec).read_text())["components"]["schemas"]
    log = Path(__file__).resolve().parents[1] / "generated" / "prism-mock.log"
    failures = []
    with Service(command=[prism, "mock", spec, "-h", "127.0.0.1", "-p", "{port}"], log=log,
                 timeout=60) as mock:
        for method, path, body, status, schema in CALLS:
            data = json.dumps(body).encode() if body is not None else None
            # Only writes carry a token: Prism refuses credentials on public operations.
            headers = {"Content-Type": "application/json"}
            if method != "GET":
                headers["Authorization"] = "Bearer any-token"
            request = urllib.request.Request(mock.base_url + path, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    got, payload = response.status, response.read()
            except urllib.error.HTTPError as error:
                got, payload = error.code, error.read()
            if got != status:
                failures.append(f"{method} {path}: {got}, expected {status}: {payload[:200]!r}")
            elif schema:
                answer, example = json.loads(payload), schemas[schema].get("example")
                if example is not None:
                    ok = answer == example
                else:
                    # A schema without an example of its own (ItemPage) is built by
                    # Prism from its properties' examples: all required ones are there.
                    ok = all(key in answer for key in schemas[schema].get("required", []))
                if not ok:
                    failures.append(f"{method} {path}: not the {schema} example: {payload[:200]!r}")
    for failure in failures:
        print(f"mock: FAIL {failure}", file=sys.stderr)
    print(f"mock: {len(CALLS) - len(failures)} passed, {len(failures)} failed (prism mock {spec})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
