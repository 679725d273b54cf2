#!/usr/bin/env python3
"""An independent witness of the contract: Stoplight Prism as a validating proxy.

Starts `prism proxy openapi.yaml BASE_URL` on a free 127.0.0.1 port and sends a
workload through it that covers every operation and every documented error the
service produces on its own (400 is answered by Prism itself for malformed JSON, so
it is sent to the service directly; 429 and 503 come from API Gateway and a failing
store, and are covered by the Rust suite). Prism checks each request and response
against openapi.yaml and logs every violation.

The operations come from openapi.yaml: each public operation that needs no input is
sent as it is, and each case takes its operation's token and media type from the
contract unless it says otherwise.

The run fails when
- an operation of the contract has no valid case answered with its success status (a
  new operation is never left out silently), or a case names no operation;
- Prism reports a violation of a request meant to be valid, or of any response;
- a request Prism calls invalid is accepted by the service (any 2xx), or answered
  with another status than the documented one;
- a request meant to be invalid is not called invalid by Prism (the case would not
  test what it claims).

Usage (under tests/tools/service.py, which sets BASE_URL and API_TOKEN):
    workload.py OPENAPI_YAML PRISM_BIN
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from service import Service  # noqa: E402  (the shared start/wait/stop helper)

from contract import Operation, operations  # noqa: E402  (the contract's operations, read once)

MISSING = "0193a6f0-7c2e-7d3a-9b1e-4f5a6b7c8d9e"
# A case's token and content type by default: what its operation in the contract takes.
FROM_CONTRACT = "from the contract"
@dataclass
class Case:
    name: str
    method: str
    path: str
    status: int
    body: bytes | None = None
    # Without a value of its own, a case sends its operation's media type when it has a
    # body, and the token when its operation needs one (Prism refuses credentials on
    # public operations).
    content_type: str | None = FROM_CONTRACT
    token: str | None = FROM_CONTRACT
    valid: bool = True
    capture: str | None = None
    # Prism's own view may be laxer than the contract (it takes any +json type as
    # JSON): then only the service's answer is checked.
    prism_flags: bool = True
    # Sent to the service directly: Prism re-serializes JSON bodies (padding and
    # non-object bodies do not survive it) and answers malformed JSON itself.
    direct: bool = False
    # More request headers; values may name earlier answers ({etag}).
    headers: dict | None = None


def operation_of(case: Case, contract: list[Operation]) -> Operation:
    """The operation of the contract a case is a request of."""
    matches = [(filled, operation) for operation in contract
               if (filled := operation.matches(case.method, case.path)) is not None]
    if not matches:
        raise ValueError(f"case {case.name!r}: {case.method} {case.path} is no operation of the contract")
    return min(matches, key=lambda match: match[0])[1]


def body(value) -> bytes:
    return json.dumps(value).encode()


def cases(contract: list[Operation]) -> list[Case]:
    """The workload, in order: every operation of the contract that needs no input, as
    it is, then the scenario; `{id}` and `{cursor}` are filled from earlier answers."""
    plain = [Case(operation.id, operation.method, operation.path, operation.success)
             for operation in contract if not operation.needs_input()]
    return plain + [
        Case("create", "POST", "/api/items", 201, body({"name": "Prism item", "description": "through the proxy"}),
             capture="id"),
        Case("create another", "POST", "/api/items", 201, body({"name": "Second", "description": None})),
        Case("get", "GET", "/api/items/{id}", 200),
        Case("list page 1", "GET", "/api/items?limit=1", 200, capture="cursor"),
        Case("list page 2", "GET", "/api/items?limit=1&cursor={cursor}", 200),
        Case("replace", "PUT", "/api/items/{id}", 200, body({"name": "Renamed"}), capture="etag"),
        # Behind API Gateway (the local stage) an answer without a Content-Type gets
        # application/json, and Prism then parses the empty 304 body as JSON: sent
        # past it there.
        Case("get unchanged: 304", "GET", "/api/items/{id}", 304,
             headers={"If-None-Match": "{etag}"}, direct=os.environ.get("SERVICE_KIND") == "stage"),
        Case("stale If-Match: 412", "PUT", "/api/items/{id}", 412, body({"name": "Lost update"}),
             headers={"If-Match": '"1"'}),
        Case("current If-Match", "PUT", "/api/items/{id}", 200, body({"name": "Renamed again"}),
             headers={"If-Match": "{etag}"}),
        Case("create with a key", "POST", "/api/items", 201, body({"name": "Once"}),
             headers={"Idempotency-Key": "prism-workload-key"}),
        Case("the same create again: replayed", "POST", "/api/items", 201, body({"name": "Once"}),
             headers={"Idempotency-Key": "prism-workload-key"}),
        Case("the key with another body: 422", "POST", "/api/items", 422, body({"name": "Twice"}),
             headers={"Idempotency-Key": "prism-workload-key"}),
        Case("delete", "DELETE", "/api/items/{id}", 204),
        Case("get deleted: 404", "GET", "/api/items/{id}", 404),
        Case("replace missing: 404", "PUT", f"/api/items/{MISSING}", 404, body({"name": "n"})),
        Case("delete missing: 404", "DELETE", f"/api/items/{MISSING}", 404),
        Case("wrong token: 401", "POST", "/api/items", 401, body({"name": "n"}), token="wrong"),
        # Valid JSON of a valid shape, padded past the 64 KiB body limit.
        Case("body over the limit: 413", "POST", "/api/items", 413, b'{"name": "n"}' + b" " * 70_000,
             direct=True),
        Case("not JSON: 400", "POST", "/api/items", 400, b'{"name": ', direct=True),
        # Requests the contract rejects: Prism must say so, and the service must refuse.
        Case("no token: 401", "POST", "/api/items", 401, body({"name": "n"}), token=None, valid=False),
        Case("array body: 422", "POST", "/api/items", 422, body(["Array item", None]), valid=False),
        Case("array replace: 422", "PUT", f"/api/items/{MISSING}", 422, body(["Renamed", "desc"]), valid=False),
        Case("number body: 422", "POST", "/api/items", 422, body(7), valid=False),
        Case("string body: 422", "POST", "/api/items", 422, body("name"), valid=False, direct=True),
        Case("null body: 422", "POST", "/api/items", 422, body(None), valid=False, direct=True),
        Case("empty name: 422", "POST", "/api/items", 422, body({"name": ""}), valid=False),
        Case("blank name: 422", "POST", "/api/items", 422, body({"name": " \t"}), valid=False),
        Case("long name: 422", "POST", "/api/items", 422, body({"name": "n" * 201}), valid=False),
        Case("unknown property: 422", "POST", "/api/items", 422, body({"name": "n", "colour": "red"}), valid=False),
        Case("name not a string: 422", "POST", "/api/items", 422, body({"name": 7}), valid=False),
        Case("text/plain: 415", "POST", "/api/items", 415, body({"name": "n"}), content_type="text/plain",
             valid=False),
        Case("merge-patch+json: 415", "POST", "/api/items", 415, body({"name": "n"}),
             content_type="application/merge-patch+json", valid=False, prism_flags=False),
        Case("problem+json: 415", "POST", "/api/items", 415, body({"name": "n"}),
             content_type="application/problem+json", valid=False, prism_flags=False),
        Case("limit 0: 422", "GET", "/api/items?limit=0", 422, valid=False),
        Case("limit 101: 422", "GET", "/api/items?limit=101", 422, valid=False),
        Case("limit 2.5: 422", "GET", "/api/items?limit=2.5", 422, valid=False),
        Case("limit abc: 422", "GET", "/api/items?limit=abc", 422, valid=False),
        Case("bad cursor: 422", "GET", "/api/items?cursor=short", 422, valid=False),
        Case("id not a uuid: 422", "GET", "/api/items/not-a-uuid", 422, valid=False),
    ]


def uncovered(contract: list[Operation], workload: list[Case]) -> list[Operation]:
    """The operations of the contract that no valid case expects the success of."""
    covered = set()
    for case in workload:
        operation = operation_of(case, contract)
        if case.valid and case.status == operation.success:
            covered.add(operation.id)
    return [operation for operation in contract if operation.id not in covered]


def send(base: str, case: Case, operation: Operation, token: str, captured: dict) -> tuple[int, bytes, str]:
    path = case.path.format(**captured)
    headers = {}
    content_type = operation.body_type if case.content_type == FROM_CONTRACT else case.content_type
    if content_type:
        headers["Content-Type"] = content_type
    for name, value in (case.headers or {}).items():
        headers[name] = value.format(**captured)
    credentials = ("valid" if operation.needs_token else None) if case.token == FROM_CONTRACT else case.token
    if credentials == "valid":
        headers["Authorization"] = f"Bearer {token}"
    elif credentials == "wrong":
        headers["Authorization"] = "Bearer not-the-token"
    request = urllib.request.Request(base + path, data=case.body, method=case.method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), response.headers.get("ETag", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("ETag", "")


REQUEST_RECEIVED = re.compile(r"\[HTTP SERVER\] (\w+) (\S+) .*Request received")
VIOLATION = re.compile(r"(?:error|warning)\s+Violation: (\S+) (.*)$")


def violations_per_request(log: str) -> list[list[tuple[str, str]]]:
    """Prism's log split at each received request: the violations it reported for it."""
    blocks: list[list[tuple[str, str]]] = []
    for line in log.splitlines():
        if REQUEST_RECEIVED.search(line):
            blocks.append([])
        elif (match := VIOLATION.search(line)) and blocks:
            blocks[-1].append((match.group(1), match.group(2).strip()))
    return blocks


def main() -> int:
    spec, prism = sys.argv[1], sys.argv[2]
    upstream, token = os.environ["BASE_URL"], os.environ["API_TOKEN"]
    log_path = Path(__file__).resolve().parents[1] / "generated" / "prism.log"
    contract = operations(spec)
    workload = cases(contract)
    try:
        operation = {id(case): operation_of(case, contract) for case in workload}
    except ValueError as error:
        print(f"prism: FAIL {error}", file=sys.stderr)
        return 1
    failures: list[tuple[str, str]] = [
        ("coverage", f"{missing} has no valid case that expects its {missing.success}: add one to cases()")
        for missing in uncovered(contract, workload)]
    answers = []
    with Service(command=[prism, "proxy", spec, upstream, "-h", "127.0.0.1", "-p", "{port}"],
                 log=log_path, timeout=60) as proxy:
        captured: dict = {}
        for case in workload:
            status, payload, etag = send(upstream if case.direct else proxy.base_url, case, operation[id(case)],
                                         token, captured)
            answers.append((status, payload))
            if case.capture == "id" and status == 201:
                captured["id"] = json.loads(payload)["id"]
            if case.capture == "cursor" and status == 200:
                captured["cursor"] = json.loads(payload)["next_cursor"]
            if case.capture == "etag" and status == 200:
                captured["etag"] = etag
            # Prism logs a request's violations after answering it: let it finish.
            if not case.direct:
                time.sleep(0.05)
        time.sleep(0.5)
    proxied = [case for case in workload if not case.direct]
    blocks = violations_per_request(log_path.read_text(errors="replace"))
    # Before the workload, Prism saw the health probes of the start-up wait.
    blocks = blocks[len(blocks) - len(proxied):] if len(blocks) >= len(proxied) else blocks
    if len(blocks) != len(proxied):
        failures.append(("log", f"Prism logged {len(blocks)} requests for {len(proxied)} proxied ones"))
    found_by_case = dict(zip((id(case) for case in proxied), blocks))
    for case, (status, payload) in zip(workload, answers):
        found = found_by_case.get(id(case), [])
        responses = [v for v in found if v[0].startswith("response")]
        requests_ = [v for v in found if not v[0].startswith("response")]
        if responses:
            failures.append((case.name, f"response violations {responses}"))
        if case.valid and requests_:
            failures.append((case.name, f"a valid request, but Prism reports {requests_}"))
        if not case.valid and case.prism_flags and not case.direct and not requests_:
            failures.append((case.name, "meant to be invalid, but Prism finds nothing wrong with it"))
        if status != case.status:
            failures.append((case.name, f"{case.method} {case.path} answered {status}, expected {case.status}: "
                                        f"{payload[:200]!r}"))
    invalid = sum(1 for case in workload if not case.valid)
    print(f"prism: {len(workload)} requests for the {len(contract)} operations of {spec}, "
          f"{len(proxied)} through the validating proxy "
          f"({len(workload) - invalid} valid, {invalid} the contract rejects); Prism's log: {log_path}")
    for name, message in failures:
        print(f"prism: FAIL {name}: {message}", file=sys.stderr)
    failed = len({name for name, _ in failures})
    print(f"prism: {len(workload) - failed} passed, {failed} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
