"""What schemathesis' object_level_authorization check does not cover, checked against
the running service in users mode: user B replays user A's writes, deletes and lists
on A's ids and sees 404 or nothing, and A's item stays as A made it.

    BASE_URL=... API_TOKEN=<alice's token> PEER_TOKEN=<bob's token> python cross_user.py

(contract-tests/run.sh --users runs it after schemathesis). Exits 1 with the first
difference.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request

BASE = os.environ["BASE_URL"].rstrip("/")
ALICE = os.environ["API_TOKEN"]
BOB = os.environ["PEER_TOKEN"]


def call(method: str, path: str, token: str, body: dict | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict | None]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{BASE}{path}", data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as error:
        text = error.read()
        return error.code, json.loads(text) if text else None


def expect(condition: bool, what: str) -> None:
    if not condition:
        print(f"cross-user: FAILED: {what}", file=sys.stderr)
        sys.exit(1)


def main() -> int:
    status, item = call("POST", "/api/items", ALICE, {"name": "alice's own", "description": "private"},
                        {"Idempotency-Key": "cross-user-check"})
    expect(status == 201, f"alice creates her item (got {status})")
    path = f"/api/items/{item['id']}"
    replays = [
        ("GET", None, {}),
        ("PUT", {"name": "bob was here"}, {}),
        ("PUT", {"name": "bob was here"}, {"If-Match": '"1"'}),
        ("DELETE", None, {}),
        ("DELETE", None, {"If-Match": '"1"'}),
        ("DELETE", None, {"If-Match": "*"}),
    ]
    for method, body, headers in replays:
        status, problem = call(method, path, BOB, body, headers)
        expect(status == 404, f"bob's {method} {path} {headers} answers 404, not {status} {problem}")
    status, page = call("GET", "/api/items?limit=100", BOB)
    expect(status == 200 and all(listed["id"] != item["id"] for listed in page["items"]),
           "bob's list does not hold alice's item")
    # Bob's create with alice's Idempotency-Key is his own new item, not her answer.
    status, bobs = call("POST", "/api/items", BOB, {"name": "alice's own", "description": "private"},
                        {"Idempotency-Key": "cross-user-check"})
    expect(status == 201 and bobs["id"] != item["id"], f"bob's create with alice's key is his own ({status})")
    status, again = call("GET", path, ALICE)
    expect(status == 200 and again == item, f"alice's item is as she made it ({status}: {again})")
    print(f"cross-user: {len(replays)} replays of alice's writes and reads by bob: all 404; "
          "his list and his idempotency key are his own; her item unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
