"""Proves the Lambda-mode resend is as narrow as its docstring says.

Run by contract-tests/self-test.sh (`target/py/bin/python -m unittest discover -s hooks`).
A server on 127.0.0.1 answers each path with a scripted sequence of responses; the
tests count how many requests reached it.
"""

import http.server
import json
import tempfile
import threading
import unittest
from pathlib import Path

import requests
from schemathesis.transport.requests import ManagedCookiesSession

import lambda_transport

EMULATOR_500 = (500, {}, {"type": "https://httpstatuses.com/500", "status": 500, "title": "Internal Server Error"})
SERVICE_500 = (500, {"x-request-id": "r-1"}, {"type": "about:blank", "status": 500, "title": "Internal Server Error"})
# Only the service sets x-request-id: such an answer is the service's whatever its body.
SERVICE_500_LIKE_EMULATOR = (500, {"x-request-id": "r-3"}, EMULATOR_500[2])
OK = (200, {"x-request-id": "r-2"}, {"items": [], "next_cursor": None})


class Scripted(http.server.BaseHTTPRequestHandler):
    script: dict[str, list] = {}
    hits: dict[str, int] = {}

    def _answer(self):
        self.hits[self.path] = self.hits.get(self.path, 0) + 1
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        status, headers, body = self.script[self.path].pop(0)
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


class ResendTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.base = f"http://127.0.0.1:{cls.server.server_address[1]}"

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()

    def setUp(self):
        Scripted.hits.clear()
        self.log = Path(tempfile.mkdtemp()) / "resends.log"
        lambda_transport._LOG = self.log

    def call(self, method, path, script, session_class=ManagedCookiesSession):
        """Sends through the kind of session schemathesis makes, unless told otherwise."""
        Scripted.script[path] = list(script)
        with session_class() as session:
            return session.request(method, self.base + path)

    def test_a_read_cut_off_by_the_emulator_is_sent_once_more_and_logged(self):
        response = self.call("GET", "/read", [EMULATOR_500, OK])
        self.assertEqual(response.status_code, 200)
        self.assertEqual(Scripted.hits["/read"], 2)
        self.assertEqual(self.log.read_text(), f"GET {self.base}/read\n")

    def test_a_second_emulator_fault_is_reported_not_resent_again(self):
        response = self.call("GET", "/twice", [EMULATOR_500, EMULATOR_500, OK])
        self.assertEqual(response.status_code, 500)
        self.assertEqual(Scripted.hits["/twice"], 2)

    def test_a_500_of_the_service_is_never_resent(self):
        response = self.call("GET", "/service", [SERVICE_500, OK])
        self.assertEqual(response.status_code, 500)
        self.assertEqual(Scripted.hits["/service"], 1)
        self.assertFalse(self.log.exists())

    def test_an_answer_with_a_request_id_is_the_services_and_never_resent(self):
        response = self.call("GET", "/with-id", [SERVICE_500_LIKE_EMULATOR, OK])
        self.assertEqual(response.status_code, 500)
        self.assertEqual(Scripted.hits["/with-id"], 1)
        self.assertFalse(self.log.exists())

    def test_a_write_is_never_resent(self):
        response = self.call("POST", "/write", [EMULATOR_500, OK])
        self.assertEqual(response.status_code, 500)
        self.assertEqual(Scripted.hits["/write"], 1)
        self.assertFalse(self.log.exists())

    def test_sessions_other_than_schemathesis_are_left_alone(self):
        response = self.call("GET", "/plain", [EMULATOR_500, OK], session_class=requests.Session)
        self.assertEqual(response.status_code, 500)
        self.assertEqual(Scripted.hits["/plain"], 1)
        self.assertFalse(self.log.exists())


if __name__ == "__main__":
    unittest.main()
