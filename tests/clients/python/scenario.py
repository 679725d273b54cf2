"""Drives a running Items API through the Python client generated from openapi.yaml.

Usage: python scenario.py BASE_URL TOKEN

Create, get, list across several pages, replace, delete, and the typed errors for
404, 401 and 422. Exits non-zero on the first broken expectation.
"""

import sys
import uuid
from http import HTTPStatus

from items_api_client import AuthenticatedClient, Client
from items_api_client.api.items import create_item, delete_item, get_item, list_items, replace_item
from items_api_client.api.service import get_health
from items_api_client.models import HealthStatus, Item, ItemPage, NewItem, Problem
from items_api_client.types import UNSET


def expect(condition, message):
    if not condition:
        raise SystemExit(f"python client scenario: {message}")


def expect_problem(response, status, what):
    expect(response.status_code == status, f"{what}: expected {status}, got {response.status_code}: {response.content!r}")
    problem = response.parsed
    expect(isinstance(problem, Problem), f"{what}: expected a typed Problem, got {type(problem).__name__}")
    expect(problem.status == status and problem.request_id, f"{what}: problem {problem}")
    return problem


def main(base_url: str, token: str) -> None:
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    client = AuthenticatedClient(base_url=base_url, token=token, raise_on_unexpected_status=True)

    health = get_health.sync(client=anonymous)
    expect(health is not None and health.status == HealthStatus.OK, f"health: {health}")

    # Create
    created = create_item.sync_detailed(client=client, body=NewItem(name="Test Item", description="AWS Lambda test"))
    expect(created.status_code == HTTPStatus.CREATED, f"create: {created.status_code}")
    item = created.parsed
    expect(isinstance(item, Item) and item.name == "Test Item", f"create: {item}")
    expect(created.headers["location"].endswith(f"/api/items/{item.id}"), f"location: {created.headers}")

    # Get
    fetched = get_item.sync(client=anonymous, item_id=item.id)
    expect(isinstance(fetched, Item) and fetched.id == item.id and fetched.description == "AWS Lambda test", f"get: {fetched}")

    # List across several pages
    ids = {item.id}
    for i in range(6):
        more = create_item.sync(client=client, body=NewItem(name=f"page item {i}"))
        expect(isinstance(more, Item), f"create {i}: {more}")
        ids.add(more.id)
    seen, cursor, pages = [], UNSET, 0
    while True:
        page = list_items.sync(client=anonymous, limit=3, cursor=cursor)
        expect(isinstance(page, ItemPage) and len(page.items) <= 3, f"list: {page}")
        seen.extend(entry.id for entry in page.items)
        pages += 1
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    expect(pages >= 3, f"list: {pages} pages for {len(seen)} items")
    expect(ids <= set(seen) and len(seen) == len(set(seen)), "list: every item exactly once")

    # Replace
    replaced = replace_item.sync(client=client, item_id=item.id, body=NewItem(name="Renamed"))
    expect(isinstance(replaced, Item) and replaced.name == "Renamed" and replaced.description is None, f"replace: {replaced}")
    expect(replaced.created_at == item.created_at and replaced.updated_at >= item.updated_at, "replace keeps created_at")

    # Typed errors: 401 without the token, 422 for an invalid name, 404 after delete
    unauthorized = create_item.sync_detailed(client=Client(base_url=base_url), body=NewItem(name="x"))
    expect_problem(unauthorized, 401, "create without token")
    # Behind API Gateway's REST API (a deployed stage) the challenge arrives renamed.
    challenge = unauthorized.headers.get("www-authenticate") or unauthorized.headers.get(
        "x-amzn-remapped-www-authenticate", "")
    expect(challenge.startswith("Bearer"), "401 carries the WWW-Authenticate challenge")

    invalid = expect_problem(create_item.sync_detailed(client=client, body=NewItem(name="")), 422, "empty name")
    expect(invalid.errors and invalid.errors[0].field == "/name", f"422 names the field: {invalid.errors}")

    # Safe writes: a retried create with its Idempotency-Key is replayed, never stored twice
    key = str(uuid.uuid4())
    first = create_item.sync_detailed(client=client, body=NewItem(name="Retried"), idempotency_key=key)
    retry = create_item.sync_detailed(client=client, body=NewItem(name="Retried"), idempotency_key=key)
    expect(first.status_code == HTTPStatus.CREATED and retry.status_code == HTTPStatus.CREATED, "idempotent create")
    expect(retry.headers.get("idempotent-replayed") == "true", f"replay marked: {retry.headers}")
    expect(retry.parsed.id == first.parsed.id, "the retry answers the first item, not a second one")
    reused = expect_problem(
        create_item.sync_detailed(client=client, body=NewItem(name="Another"), idempotency_key=key), 422, "key reuse"
    )
    expect("Idempotency-Key" in reused.detail, f"422 names the header: {reused.detail}")

    # Conditional requests: If-Match with the ETag wins once; the stale one is 412; 304 when unchanged
    etag = first.headers["etag"]
    updated = replace_item.sync_detailed(client=client, item_id=first.parsed.id, body=NewItem(name="v2"), if_match=etag)
    expect(updated.status_code == HTTPStatus.OK and updated.headers["etag"] != etag, f"if-match: {updated.status_code}")
    stale = replace_item.sync_detailed(client=client, item_id=first.parsed.id, body=NewItem(name="v3"), if_match=etag)
    expect_problem(stale, 412, "stale if-match")
    cached = get_item.sync_detailed(client=anonymous, item_id=first.parsed.id, if_none_match=updated.headers["etag"])
    expect(cached.status_code == HTTPStatus.NOT_MODIFIED, f"if-none-match: {cached.status_code}")

    deleted = delete_item.sync_detailed(client=client, item_id=item.id)
    expect(deleted.status_code == HTTPStatus.NO_CONTENT, f"delete: {deleted.status_code}")
    expect_problem(get_item.sync_detailed(client=anonymous, item_id=item.id), 404, "get after delete")
    expect_problem(delete_item.sync_detailed(client=client, item_id=uuid.uuid4()), 404, "delete of a missing item")

    print(f"python client scenario: ok ({len(seen)} items listed over {pages} pages)")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
