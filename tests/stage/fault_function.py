#!/usr/bin/env python3
"""A Lambda function that misbehaves on request, for the local stage's tests.

Speaks the Lambda Runtime API (AWS_LAMBDA_RUNTIME_API) as any custom runtime does and
answers REST v1 proxy events and HTTP API (payload format 2.0) events by their path
(after the stage; an HTTP API's `rawPath`):

- `/api/health`: 200, so the stage counts as answering;
- `/`, `/echo...` and `/api/items...`: 200 with the event it received as the JSON body
  (`/api/items` is what the Cognito authorizer guards in AuthMode Cognito);
- `/binary`: a PNG signature as a base64 body (`isBase64Encoded`);
- `/headers`: the same header in `headers` and `multiValueHeaders`, and headers API
  Gateway remaps (`Date`, `Server`);
- `/malformed`: an answer that is not a proxy response (no `statusCode`);
- `/cookies` (2.0): `cookies` and `headers`, as a 2.0 response carries them;
- `/inferred` (2.0): a JSON object without `statusCode`, which an HTTP API infers a
  response from;
- `/badstatus`: a `statusCode` that is not a number;
- `/error`: an error reported through `/invocation/{id}/error`;
- `/exit`: the process exits without answering;
- `/sleep/SECONDS`: answers after that many seconds.
"""

import base64
import json
import os
import sys
import time
import urllib.request

API = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


def post(path: str, payload: object) -> None:
    request = urllib.request.Request(f"{API}{path}", data=json.dumps(payload).encode(), method="POST")
    urllib.request.urlopen(request).read()


def path_of(event: dict) -> str:
    return (event.get("rawPath") if event.get("version") == "2.0" else event.get("path")) or ""


def answer(event: dict) -> dict:
    path = path_of(event)
    if path == "/cookies":
        return {"statusCode": 201, "headers": {"x-one": "a,b", "content-type": "text/plain"},
                "cookies": ["a=1; Path=/", "b=2; HttpOnly"], "body": "cookies"}
    if path == "/inferred":
        return {"message": "no statusCode", "items": [1, 2]}
    if path == "/badstatus":
        return {"statusCode": "two hundred", "body": "{}"}
    if path.startswith(("/echo", "/api/items")) or path == "/":
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(event)}
    if path == "/binary":
        return {"statusCode": 200, "headers": {"Content-Type": "image/png"},
                "body": base64.b64encode(PNG).decode(), "isBase64Encoded": True}
    if path == "/headers":
        return {"statusCode": 200, "headers": {"X-One": "single", "Date": "yesterday", "Server": "fault"},
                "multiValueHeaders": {"X-One": ["multi-a", "multi-b"], "X-Two": ["a", "b"]}, "body": "{}"}
    if path == "/malformed":
        return {"status": 200, "body": "not a proxy response"}
    if path.startswith("/sleep/"):
        time.sleep(float(path.rsplit("/", 1)[1]))
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": '{"status":"ok"}'}


def main() -> None:
    while True:
        with urllib.request.urlopen(f"{API}/invocation/next") as response:
            request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(response.read())
        path = path_of(event)
        if path == "/exit":
            sys.exit(3)
        if path == "/error":
            post(f"/invocation/{request_id}/error", {"errorType": "Fault", "errorMessage": "asked to fail"})
            continue
        post(f"/invocation/{request_id}/response", answer(event))


if __name__ == "__main__":
    main()
