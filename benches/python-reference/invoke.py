"""Cold start of the Python reference: a fresh process imports the app and handles one
API Gateway REST event through Mangum, as a Lambda cold start would.

Usage: python invoke.py EVENT.json            (prints the status code)
       python invoke.py EVENT.json --warm N    (handles the event N times, prints p50/p99 µs as JSON)
       python invoke.py CREATE.json --warm N --get-created
                                              (creates an item with the event, then times GETs of it)
"""

import json
import sys
import time


class Context:
    function_name = "items-api-python"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    aws_request_id = "invoke"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:items-api-python"

    @staticmethod
    def get_remaining_time_in_millis():
        return 10_000


def main() -> None:
    event = json.load(open(sys.argv[1]))
    from app import lambda_handler

    if "--warm" not in sys.argv:
        response = lambda_handler(event, Context())
        print(response["statusCode"])
        return
    count = int(sys.argv[sys.argv.index("--warm") + 1])
    if "--get-created" in sys.argv:
        item = json.loads(lambda_handler(event, Context())["body"])
        path = f"/api/items/{item['id']}"
        event = {**event, "httpMethod": "GET", "path": path, "body": None,
                 "pathParameters": {"proxy": path.lstrip("/")},
                 "requestContext": {**event["requestContext"], "httpMethod": "GET", "path": "/prod" + path}}
    for _ in range(min(200, count)):
        lambda_handler(event, Context())
    samples = []
    for _ in range(count):
        started = time.perf_counter_ns()
        lambda_handler(event, Context())
        samples.append((time.perf_counter_ns() - started) / 1000)
    samples.sort()
    print(json.dumps({"p50_us": samples[len(samples) // 2], "p99_us": samples[int(len(samples) * 0.99)]}))


if __name__ == "__main__":
    main()
