"""Schemathesis hooks loaded only by `run.sh --lambda`.

cargo lambda watch, the local Lambda emulator, answers 500 by itself, without invoking
the function, when a JSON request body is not valid UTF-8: it cannot put such a body
into the Lambda event. The service answers those bodies 400 (the local mode and
tests/api/errors.rs prove it); only the emulator's transport cannot carry them, so this
mode does not generate them. Every other case, and every check, runs as in local mode.
"""

import schemathesis


@schemathesis.hook
def filter_body(context, body):
    if isinstance(body, (bytes, bytearray)):
        try:
            bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True
