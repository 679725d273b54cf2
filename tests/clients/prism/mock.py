#!/usr/bin/env python3
"""`make mock` works: Prism's mock server answers every operation from the contract.

Starts `prism mock openapi.yaml` on a free 127.0.0.1 port and checks that each
operation of the contract answers its documented success status with the contract's
example (the front-end team's stand-in before a stage exists; docs/clients.md). The
operations, their path parameters and request bodies are the contract's own examples,
read from openapi.yaml: a new operation is checked as soon as it is there.
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
from contract import Operation, operations  # noqa: E402  (the contract's operations, read once)


def calls(spec: str) -> list[tuple[Operation, str, object]]:
    """Each operation of the contract with its request target and body: the path
    parameters and the body are the contract's examples."""
    made = []
    for operation in operations(spec):
        path = operation.path
        for parameter in operation.parameters:
            if parameter["in"] == "path":
                example = parameter.get("example", parameter["schema"].get("example"))
                if example is None:
                    raise ValueError(f"{operation}: no example for its path parameter {parameter['name']}")
                path = path.replace("{" + parameter["name"] + "}", str(example))
        made.append((operation, path, operation.body_example))
    return made


def main() -> int:
    spec, prism = sys.argv[1], sys.argv[2]
    schemas = yaml.safe_load(Path(spec).read_text())["components"]["schemas"]
    log = Path(__file__).resolve().parents[1] / "generated" / "prism-mock.log"
    failures = []
    made = calls(spec)
    with Service(command=[prism, "mock", spec, "-h", "127.0.0.1", "-p", "{port}"], log=log,
                 timeout=60) as mock:
        for operation, path, body in made:
            method, status, schema = operation.method, operation.success, operation.success_schema
            data = json.dumps(body).encode() if operation.body_type is not None else None
            # Only operations that need the token carry one: Prism refuses credentials on
            # public operations.
            headers = {"Content-Type": operation.body_type or "application/json"}
            if operation.needs_token:
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
    print(f"mock: {len(made) - len(failures)} passed, {len(failures)} failed (prism mock {spec})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
