"""Schemathesis hook loaded in every mode: fresh `Idempotency-Key` values.

Hypothesis draws small strings again and again ("0", "00"), so two generated creates
would share a key by chance. With another body the second is refused with 422, with the
same body it replays the first answer, even after that item was deleted, and then the
`ensure_resource_availability` check reads a 404. Both answers are right by the
contract (tests/api/safe_writes.rs and the store conformance suite test them), but
they are not what a check that knows nothing of idempotency expects. So every key that
is valid by the contract's pattern becomes a fresh UUID; keys drawn to be invalid (the
negative cases) are left as they are and must still be refused with 400.
"""

import re
import uuid

import schemathesis

_HEADER = "Idempotency-Key"
_VALID = re.compile(r"^[\x21-\x7E]{1,255}$")


@schemathesis.hook
def before_call(context, case, kwargs):
    # Every phase, right before the request leaves (the coverage phase's fixed values
    # included, which generation hooks do not see).
    headers = case.headers
    if not headers:
        return
    for name in list(headers):
        if name.lower() == _HEADER.lower():
            value = headers[name]
            if isinstance(value, str) and _VALID.fullmatch(value):
                headers[name] = str(uuid.uuid4())
