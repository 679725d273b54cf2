"""A faithful reference of the Python service items-api replaces, for benchmarks.

FastAPI + pydantic, served by uvicorn locally and by Mangum on Lambda, with the same
endpoints as the Rust service: welcome, /docs, /redoc, /openapi.json, health,
aws-info and item CRUD with cursor pages, bearer-token writes, CORS, problem+json
errors and one log line per request, as the original's helpers did. Items live in
memory (a dict), so the store costs nothing: what remains is the framework.

Deployed as `template.yaml` deploys the Rust service, it reads its token and keeps its
items the way a FastAPI + Mangum service on Lambda would, with boto3: ITEMS_TABLE names
a DynamoDB table (partition key `id`), API_TOKEN_SECRET_ARN a Secrets Manager secret
read once at import (Lambda's Init). boto3 takes its endpoints, region, credentials and
CA bundle from the environment (AWS_ENDPOINT_URL_*, AWS_CA_BUNDLE), as on Lambda.
"""

import base64
import logging
import os
import secrets
import time
import uuid
from datetime import datetime, timezone
from typing import Optional

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from mangum import Mangum
from pydantic import BaseModel, ConfigDict, Field, field_validator

VERSION = "0.1.0"
API_TOKEN = os.environ.get("API_TOKEN")
ITEMS_TABLE = os.environ.get("ITEMS_TABLE")
if ITEMS_TABLE or os.environ.get("API_TOKEN_SECRET_ARN"):
    import boto3

    if os.environ.get("API_TOKEN_SECRET_ARN"):
        API_TOKEN = boto3.client("secretsmanager").get_secret_value(
            SecretId=os.environ["API_TOKEN_SECRET_ARN"])["SecretString"].strip()
    TABLE = boto3.resource("dynamodb").Table(ITEMS_TABLE) if ITEMS_TABLE else None
logger = logging.getLogger("items_api")
logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING").upper(), format="%(message)s")

app = FastAPI(title="Items API", version=VERSION, description="Python reference of the Items API.")
origins = [o for o in os.environ.get("CORS_ALLOW_ORIGINS", "").split(",") if o]
if origins:
    app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["*"], allow_headers=["*"])


class NewItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    description: Optional[str] = Field(default=None, max_length=2000)

    @field_validator("name")
    @classmethod
    def not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must contain a character that is not whitespace")
        return value


class Item(BaseModel):
    id: str
    name: str
    description: Optional[str]
    created_at: str
    updated_at: str


class ItemPage(BaseModel):
    items: list[Item]
    next_cursor: Optional[str]


class MemoryItems:
    """The original's dict."""

    def __init__(self) -> None:
        self.items: dict[str, Item] = {}

    def get(self, item_id: str) -> Optional[Item]:
        return self.items.get(item_id)

    def put(self, item: Item) -> None:
        self.items[item.id] = item

    def pop(self, item_id: str) -> Optional[Item]:
        return self.items.pop(item_id, None)

    def ids(self) -> list[str]:
        return sorted(self.items)


class DynamoItems:
    """The same, in a DynamoDB table (boto3's resource API, as such services use it)."""

    def get(self, item_id: str) -> Optional[Item]:
        found = TABLE.get_item(Key={"id": item_id}).get("Item")
        return Item(**{"description": None, **found}) if found else None

    def put(self, item: Item) -> None:
        TABLE.put_item(Item={k: v for k, v in item.model_dump().items() if v is not None})

    def pop(self, item_id: str) -> Optional[Item]:
        old = TABLE.delete_item(Key={"id": item_id}, ReturnValues="ALL_OLD").get("Attributes")
        return Item(**{"description": None, **old}) if old else None

    def ids(self) -> list[str]:
        return sorted(i["id"] for i in TABLE.scan(ProjectionExpression="id")["Items"])


ITEMS = DynamoItems() if ITEMS_TABLE else MemoryItems()


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def problem(request: Request, status: int, title: str, detail: str, errors=None, headers=None) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": request.state.request_id,
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


@app.middleware("http")
async def request_log(request: Request, call_next):
    request.state.request_id = request.headers.get("x-request-id") or str(uuid.uuid4())
    started = time.perf_counter()
    response = await call_next(request)
    response.headers["x-request-id"] = request.state.request_id
    logger.info(
        '{"message":"request completed","method":"%s","path":"%s","status":%d,"latency_ms":%.3f,"request_id":"%s"}',
        request.method, request.url.path, response.status_code, (time.perf_counter() - started) * 1000,
        request.state.request_id,
    )
    return response


@app.exception_handler(HTTPException)
async def http_error(request: Request, exc: HTTPException):
    return problem(request, exc.status_code, {401: "Unauthorized", 404: "Not Found"}.get(exc.status_code, "Error"),
                   str(exc.detail), headers=exc.headers)


@app.exception_handler(RequestValidationError)
async def validation_error(request: Request, exc: RequestValidationError):
    errors = [{"location": str(e["loc"][0]), "field": "/".join(map(str, e["loc"][1:])), "message": e["msg"]}
              for e in exc.errors()]
    return problem(request, 422, "Unprocessable Entity", "The request has invalid input.", errors)


def require_token(authorization: Optional[str] = Header(default=None)) -> None:
    if API_TOKEN is None:
        return
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip(), API_TOKEN):
        raise HTTPException(401, "This operation needs a valid bearer token.",
                            headers={"WWW-Authenticate": 'Bearer realm="items-api"'})


@app.get("/")
def welcome():
    return {"name": "Items API", "version": VERSION, "docs_url": "/docs", "redoc_url": "/redoc",
            "openapi_url": "/openapi.json"}


@app.get("/api/health")
def health():
    return {"status": "ok", "version": VERSION, "store": {"backend": "memory", "status": "ok", "latency_ms": 0.0}}


@app.get("/api/aws-info")
def aws_info(request: Request):
    event = request.scope.get("aws.event") or {}
    context = request.scope.get("aws.context")
    info = {"in_lambda": context is not None, "region": os.environ.get("AWS_REGION")}
    if context is not None:
        info.update(function_name=context.function_name, lambda_request_id=context.aws_request_id,
                    stage=event.get("requestContext", {}).get("stage"))
    return {k: v for k, v in info.items() if v is not None}


@app.get("/api/items", response_model=ItemPage)
def list_items(limit: int = Query(20, ge=1, le=100), cursor: Optional[str] = Query(None)):
    ids = ITEMS.ids()
    if cursor is not None:
        try:
            after = str(uuid.UUID(bytes=base64.urlsafe_b64decode(cursor + "==")))
        except (ValueError, TypeError):
            raise RequestValidationError([{"loc": ("query", "cursor"), "msg": "is not a cursor", "type": "value_error"}])
        ids = [i for i in ids if i > after]
    page = [ITEMS.get(i) for i in ids[: limit + 1]]
    next_cursor = None
    if len(page) > limit:
        page = page[:limit]
        next_cursor = base64.urlsafe_b64encode(uuid.UUID(page[-1].id).bytes).decode().rstrip("=")
    return ItemPage(items=page, next_cursor=next_cursor)


@app.post("/api/items", status_code=201, response_model=Item, dependencies=[Depends(require_token)])
@app.post("/api/items/", status_code=201, response_model=Item, include_in_schema=False,
          dependencies=[Depends(require_token)])
def create_item(body: NewItem, response: Response):
    stamp = now()
    # uuid7 arrives in Python 3.14; a time-prefixed uuid4 keeps ids in creation order.
    item_id = str(uuid.UUID(int=(time.time_ns() // 1_000_000) << 80 | uuid.uuid4().int & ((1 << 80) - 1)))
    item = Item(id=item_id, name=body.name, description=body.description, created_at=stamp, updated_at=stamp)
    ITEMS.put(item)
    response.headers["Location"] = f"/api/items/{item.id}"
    return item


@app.get("/api/items/{item_id}", response_model=Item)
def get_item(item_id: uuid.UUID):
    item = ITEMS.get(str(item_id))
    if item is None:
        raise HTTPException(404, f"No item has the id {item_id}.")
    return item


@app.put("/api/items/{item_id}", response_model=Item, dependencies=[Depends(require_token)])
def replace_item(item_id: uuid.UUID, body: NewItem):
    item = ITEMS.get(str(item_id))
    if item is None:
        raise HTTPException(404, f"No item has the id {item_id}.")
    item = item.model_copy(update={"name": body.name, "description": body.description, "updated_at": now()})
    ITEMS.put(item)
    return item


@app.delete("/api/items/{item_id}", status_code=204, dependencies=[Depends(require_token)])
def delete_item(item_id: uuid.UUID):
    if ITEMS.pop(str(item_id)) is None:
        raise HTTPException(404, f"No item has the id {item_id}.")
    return Response(status_code=204)


# On Lambda, as the original: `lambda_handler = Mangum(app)`.
lambda_handler = Mangum(app, lifespan="off")
