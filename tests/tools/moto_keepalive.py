#!/usr/bin/env python3
"""moto_server's application under waitress: HTTP/1.1 keep-alive, as AWS keeps it.

moto_server runs on werkzeug's development server, which closes the connection after
every response (`Connection: close`), so each SDK call would open a new TCP connection
and, behind the bench's TLS endpoint, a new TLS session; DynamoDB and Secrets Manager
keep connections open, and a cold start's cost depends on exactly that. waitress (a
well-kept pure-Python WSGI server) keeps them open. Requests are applied one at a time
by moto_serial.py's `Serialized`, as in the tests. Used behind the TLS endpoint of
aws_emulator.py (the cold-start bench and the local stage).

Usage: moto_keepalive.py PORT   (listens on 127.0.0.1 only)
"""

import sys
from pathlib import Path

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from waitress import serve

sys.path.insert(0, str(Path(__file__).resolve().parent))
from moto_serial import Serialized  # noqa: E402

if __name__ == "__main__":
    application = DomainDispatcherApplication(create_backend_app)
    serve(Serialized(application), host="127.0.0.1", port=int(sys.argv[1]), threads=4, _quiet=True)
