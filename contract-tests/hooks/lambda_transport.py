"""Schemathesis hooks loaded only by `run.sh --lambda`.

Two faults of the emulator (cargo lambda watch 1.9) itself, not of the service, are
kept out of this mode; every case and every check otherwise runs as in local mode.

1. It answers 500 by itself, without invoking the function, when a JSON request body
   is not valid UTF-8, or a header value is not visible ASCII (`If-Match: J\x8b`): it
   cannot put such a body or header into the Lambda event. The service answers those
   requests itself in local mode (400 for such bodies, tests/api/errors.rs; any
   If-Match it cannot read names no version, 412), so this mode does not generate them.

2. Its runtime API acknowledges a function's response before it has read the response
   body, so a large body (tens of kilobytes, such as a full page of long items) is now
   and then cut off in transit and the emulator answers its own 500
   (`{"type":"https://httpstatuses.com/500",...}`) although the function answered 200.
   Measured: 2 in 1,000 list calls of about 50 KB, none in 2,000 small ones. A read
   (GET or HEAD) that gets exactly that answer is sent once more. The service's own
   answers always carry `x-request-id` and are never resent, so a 500 of the service
   still fails the run. Each resend is logged to reports/emulator-resends.log, and
   run.sh prints the count.

Only the sessions schemathesis makes are changed (its own `requests.Session`
subclass); any other `requests` user in the process sends as usual.
"""

import json
from pathlib import Path

import idempotency  # noqa: F401  (its hook applies in this mode too)
import requests
import schemathesis
from schemathesis.transport.requests import SameHostRedirectsSession

_LOG = Path(__file__).resolve().parent.parent / "reports" / "emulator-resends.log"
_READS = {"GET", "HEAD"}
_send = SameHostRedirectsSession.send


def _is_emulator_fault(response: requests.Response) -> bool:
    if response.status_code != 500 or "x-request-id" in response.headers:
        return False
    try:
        problem = json.loads(response.content)
    except ValueError:
        return False
    return isinstance(problem, dict) and problem.get("type") == "https://httpstatuses.com/500"


def _send_resending_emulator_faults(session, request, **kwargs):
    response = _send(session, request, **kwargs)
    if request.method in _READS and _is_emulator_fault(response):
        with _LOG.open("a", encoding="utf-8") as log:
            log.write(f"{request.method} {request.url}\n")
        response = _send(session, request, **kwargs)
    return response


# schemathesis' sessions (ManagedCookiesSession) derive from this class; plain
# `requests.Session` objects keep their own `send`.
SameHostRedirectsSession.send = _send_resending_emulator_faults


def _visible_ascii(value) -> bool:
    return not isinstance(value, str) or all(0x20 <= ord(c) < 0x7F or c == "\t" for c in value)


@schemathesis.hook
def filter_headers(context, headers):
    return not headers or all(_visible_ascii(value) for value in headers.values())


@schemathesis.hook
def filter_body(context, body):
    if isinstance(body, (bytes, bytearray)):
        try:
            bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True
