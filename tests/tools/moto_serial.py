#!/usr/bin/env python3
"""moto_server with its requests applied one at a time, as DynamoDB applies writes.

DynamoDB evaluates a conditional write and applies it atomically, so of concurrent
writers whose condition names one version exactly one succeeds. moto's server
handles requests on parallel threads without a lock around its backends, so two
conditional writes can both pass their check: an emulator race, not the service's.
This wraps moto's WSGI application in a lock (the sockets stay concurrent), so the
store conformance suite's concurrency tests test our conditions, not moto's threads.

Usage: moto_serial.py -H 127.0.0.1 -p PORT   (the arguments of moto_server)
"""

import argparse
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


class Serialized:
    """A WSGI application that lets one request at a time into `app`."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            # moto answers with complete bodies; reading them inside the lock keeps
            # a response's side effects and its answer together.
            return list(self.app(environ, start_response))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, Serialized(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
