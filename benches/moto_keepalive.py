#!/usr/bin/env python3
"""moto_server's application under waitress: HTTP/1.1 keep-alive, as AWS keeps it.

moto_server runs on werkzeug's development server, which closes the connection after
every response (`Connection: close`), so each SDK call would open a new TCP connection
and, behind the bench's TLS endpoint, a new TLS session; DynamoDB and Secrets Manager
keep connections open, and a cold start's cost depends on exactly that. waitress (a
well-kept pure-Python WSGI server) keeps them open. Requests are applied one at a time,
as in tests/tools/moto_serial.py.

Usage: moto_keepalive.py PORT   (listens on 127.0.0.1 only)
"""

import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from waitress import serve


class Serialized:
    """A WSGI application that lets one request at a time into `app`."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            return list(self.app(environ, start_response))


if __name__ == "__main__":
    application = DomainDispatcherApplication(create_backend_app)
    serve(Serialized(application), host="127.0.0.1", port=int(sys.argv[1]), threads=4, _quiet=True)
