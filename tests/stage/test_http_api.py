"""The local stage (tests/tools/stage.py) behaves as the deployed HTTP API
(template.yaml's `ApiType=Http`, `make stage STAGE_API_TYPE=http`).

- `HttpApiFaultTest`: tests/stage/fault_function.py behind it: the payload format 2.0
  events the HTTP API sends, what it makes of the function's 2.0 answers (`cookies`, the
  inferred format, base64), and its own `{"message": ...}` answers (500, 413, 404).
- `ExplicitRoutesTest`, `DefaultRouteTest`: an HTTP API without a catch-all route
  answers 404 itself; with a `$default` route everything reaches the function.
- `HttpTimeoutTest`, `HttpThrottlingTest`: 503 after the integration timeout, 429
  over the route throttling.
- `JwtAuthorizerTest`: AuthMode=Cognito: the JWT authorizer's 401 with its
  `www-authenticate`, ID and access tokens of the app client, the claims where the HTTP
  API puts them.
- `HttpDeployedFunctionTest`: the service itself (the arm64 package under qemu, or
  STAGE_TEST_BINARY) at the stage's root, in token and in gateway mode.

Run by `make stage-test` (after `make package`); only 127.0.0.1 is used.
"""

from __future__ import annotations

import json
import os
import sys
import time
import unittest
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "tests" / "tools"))
import stage  # noqa: E402
from test_gateway import FAULT, PNG_SIGNATURE, StageProcess, request, template_with  # noqa: E402

HTTP = ("--parameter", "ApiType=Http")
HIGH_LIMITS = ("--parameter", "ThrottlingRateLimit=1000", "--parameter", "ThrottlingBurstLimit=1000")
# The HTTP API's catch-all route in template.yaml (the one with payload format 2.0).
CATCH_ALL = '''          /{proxy+}:
            x-amazon-apigateway-any-method:
              x-amazon-apigateway-integration:
                type: aws_proxy
                httpMethod: POST
                uri: !Sub ["arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Live}/invocations", {Live: !Ref ItemsFunction.Alias}]
                payloadFormatVersion: "2.0"
'''


def message(test: unittest.TestCase, answer: tuple, status: int, text: str) -> None:
    """Asserts an HTTP API's own answer: `status`, `{"message": text}` as JSON."""
    got, headers, body = answer
    test.assertEqual(got, status, body)
    test.assertEqual(headers["Content-Type"], "application/json")
    test.assertEqual(json.loads(body), {"message": text})
    test.assertTrue(headers["apigw-requestid"])


class HttpApiFaultTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.stage = StageProcess("--binary", str(FAULT), *HTTP, *HIGH_LIMITS)
        cls.port = cls.stage.port

    @classmethod
    def tearDownClass(cls) -> None:
        cls.stage.close()

    def echo(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> dict:
        status, _, data = request(self.port, method, path, body, headers)
        self.assertEqual(status, 200, data)
        return json.loads(data)

    def test_the_default_stage_is_served_at_the_root(self) -> None:
        self.assertIn(f"stage: http://127.0.0.1:{self.port}", self.stage.output().splitlines())
        # No stage segment: /prod/... is a path like any other, for the catch-all route.
        event = self.echo("GET", "/echo/prod")
        self.assertEqual((event["rawPath"], event["requestContext"]["stage"]), ("/echo/prod", "$default"))

    def test_a_request_becomes_the_2_0_event_an_http_api_sends(self) -> None:
        connection_headers = {"Cookie": "a=1; b=2", "X-Rep": "1", "Accept": "text/plain"}
        import http.client
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.putrequest("GET", "/echo/a%20b?x=1&x=2&y=%2F")
            for name, value in connection_headers.items():
                connection.putheader(name, value)
            connection.putheader("X-Rep", "2")
            connection.endheaders()
            answer = connection.getresponse()
            self.assertEqual(answer.status, 200)
            event = json.loads(answer.read())
        finally:
            connection.close()
        self.assertEqual(event["version"], "2.0")
        self.assertEqual(event["routeKey"], "ANY /{proxy+}")
        self.assertEqual(event["rawPath"], "/echo/a%20b")
        self.assertEqual(event["rawQueryString"], "x=1&x=2&y=%2F")
        self.assertEqual(event["queryStringParameters"], {"x": "1,2", "y": "/"})
        self.assertEqual(event["cookies"], ["a=1", "b=2"])
        self.assertNotIn("cookie", event["headers"])
        self.assertEqual(event["headers"]["x-rep"], "1,2")
        self.assertTrue(all(name == name.lower() for name in event["headers"]))
        self.assertEqual(event["headers"]["x-forwarded-proto"], "http")
        self.assertEqual(event["pathParameters"], {"proxy": "echo/a b"})
        context = event["requestContext"]
        self.assertEqual((context["http"]["method"], context["http"]["path"], context["routeKey"]),
                         ("GET", "/echo/a%20b", "ANY /{proxy+}"))
        self.assertIsInstance(context["timeEpoch"], int)
        self.assertFalse(event["isBase64Encoded"])
        for v1 in ("multiValueHeaders", "multiValueQueryStringParameters", "resource", "path", "httpMethod"):
            self.assertNotIn(v1, event)

    def test_the_root_is_its_own_route(self) -> None:
        event = self.echo("GET", "/")
        self.assertEqual((event["routeKey"], event["rawPath"]), ("ANY /", "/"))
        self.assertNotIn("pathParameters", event)

    def test_text_bodies_arrive_as_they_are_and_others_base64(self) -> None:
        text = self.echo("POST", "/echo", b'{"a": 1}', {"Content-Type": "application/json"})
        self.assertEqual((text["body"], text["isBase64Encoded"]), ('{"a": 1}', False))
        binary = self.echo("POST", "/echo", b"\x00\xff", {"Content-Type": "application/octet-stream"})
        self.assertEqual((binary["body"], binary["isBase64Encoded"]), ("AP8=", True))

    def test_a_base64_answer_is_decoded_for_every_accept(self) -> None:
        # No binary media types on an HTTP API: isBase64Encoded alone decides.
        for accept in ("text/html", "*/*", "image/png"):
            with self.subTest(accept):
                status, _, body = request(self.port, "GET", "/binary", headers={"Accept": accept})
                self.assertEqual(status, 200)
                self.assertTrue(body.startswith(PNG_SIGNATURE), body[:20])

    def test_cookies_and_headers_of_a_2_0_answer(self) -> None:
        status, headers, body = request(self.port, "GET", "/cookies")
        self.assertEqual((status, body), (201, b"cookies"))
        self.assertEqual(headers.get_all("Set-Cookie"), ["a=1; Path=/", "b=2; HttpOnly"])
        self.assertEqual(headers["x-one"], "a,b")

    def test_an_answer_without_status_code_is_inferred(self) -> None:
        status, headers, body = request(self.port, "GET", "/inferred")
        self.assertEqual((status, headers["Content-Type"]), (200, "application/json"))
        self.assertEqual(json.loads(body), {"message": "no statusCode", "items": [1, 2]})
        # What a REST API answers 502 for is a body here.
        status, _, body = request(self.port, "GET", "/malformed")
        self.assertEqual(json.loads(body), {"status": 200, "body": "not a proxy response"})

    def test_a_failing_function_is_the_gateways_500(self) -> None:
        for path in ("/error", "/badstatus", "/exit"):
            with self.subTest(path):
                message(self, request(self.port, "GET", path), 500, "Internal Server Error")
        self.assertEqual(request(self.port, "GET", "/api/health")[0], 200, "a new environment serves on")

    def test_a_body_over_10_mb_is_the_gateways_413(self) -> None:
        message(self, request(self.port, "POST", "/echo", b"x" * (10 * 1024 * 1024 + 1),
                              {"Content-Type": "text/plain"}), 413, "Request Entity Too Large")

    def test_a_method_no_route_takes_is_the_gateways_404(self) -> None:
        message(self, request(self.port, "TRACE", "/echo"), 404, "Not Found")


class ExplicitRoutesTest(unittest.TestCase):
    """Without the catch-all route, a path no route takes is the HTTP API's 404."""

    def test_a_path_no_route_takes_is_the_gateways_404(self) -> None:
        # /api/health keeps a route of its own: the stage waits for it to answer.
        path = template_with(CATCH_ALL, CATCH_ALL.replace("/{proxy+}:", "/api/health:"))
        process = StageProcess("--template", str(path), "--binary", str(FAULT), *HTTP, *HIGH_LIMITS)
        try:
            message(self, request(process.port, "GET", "/docs"), 404, "Not Found")
            self.assertEqual(request(process.port, "GET", "/api/items/abc")[0], 200, "its own route")
        finally:
            process.close()
            path.unlink()


class DefaultRouteTest(unittest.TestCase):
    """A `$default` route takes every path no other route takes."""

    def test_every_path_reaches_the_function(self) -> None:
        path = template_with(CATCH_ALL, CATCH_ALL.replace("/{proxy+}:", "$default:"))
        process = StageProcess("--template", str(path), "--binary", str(FAULT), *HTTP, *HIGH_LIMITS)
        try:
            status, _, body = request(process.port, "GET", "/echo/deep/path")
            self.assertEqual(status, 200, body)
            event = json.loads(body)
            self.assertEqual((event["routeKey"], event["rawPath"]), ("$default", "/echo/deep/path"))
            self.assertEqual(json.loads(request(process.port, "GET", "/api/items")[2])["routeKey"], "ANY /api/items")
        finally:
            process.close()
            path.unlink()


class HttpTimeoutTest(unittest.TestCase):
    def test_no_answer_within_the_integration_timeout_is_the_gateways_503(self) -> None:
        process = StageProcess("--binary", str(FAULT), *HTTP, *HIGH_LIMITS, "--integration-timeout", "1")
        try:
            started = time.monotonic()
            message(self, request(process.port, "GET", "/sleep/3"), 503, "Service Unavailable")
            self.assertLess(time.monotonic() - started, 2.5)
        finally:
            process.close()

    def test_the_default_integration_timeout_is_an_http_apis_30_s(self) -> None:
        self.assertEqual(stage.HTTP_INTEGRATION_TIMEOUT_S, 30.0)
        with stage.LocalStage(binary=FAULT, overrides={"ApiType": "Http"}) as local:
            self.assertEqual(local.integration_timeout_s, 30.0)
            self.assertEqual(local.stage.integration_timeout_s, 30.0)


class HttpThrottlingTest(unittest.TestCase):
    def test_over_the_route_throttling_is_the_gateways_429(self) -> None:
        process = StageProcess("--binary", str(FAULT), *HTTP, "--parameter", "ThrottlingRateLimit=1",
                               "--parameter", "ThrottlingBurstLimit=2")
        try:
            answers = [request(process.port, "GET", "/echo") for _ in range(4)]
            throttled = [a for a in answers if a[0] == 429]
            self.assertTrue(throttled, [a[0] for a in answers])
            message(self, throttled[0], 429, "Too Many Requests")
        finally:
            process.close()


class JwtAuthorizerTest(unittest.TestCase):
    """AuthMode=Cognito on an HTTP API: the JWT authorizer on /api/items and below."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.stage = StageProcess("--binary", str(FAULT), *HTTP, *HIGH_LIMITS, "--parameter", "AuthMode=Cognito")
        lines = dict(line.split(": ", 1) for line in cls.stage.output().splitlines() if ": " in line)
        cls.issuer, cls.client = lines["issuer"], lines["client"]
        cls.port = cls.stage.port

    @classmethod
    def tearDownClass(cls) -> None:
        cls.stage.close()

    def mint(self, **claims) -> str:
        claims = {"sub": "user-a", "iss": self.issuer, **claims}
        answer = urllib.request.urlopen(urllib.request.Request(
            f"{self.issuer}/mint", data=json.dumps({"claims": claims}).encode(), method="POST"), timeout=10)
        return json.loads(answer.read())["token"]

    def refused(self, headers: dict, description: str | None) -> None:
        answer = request(self.port, "GET", "/api/items", headers=headers)
        message(self, answer, 401, "Unauthorized")
        challenge = answer[1]["www-authenticate"]
        if description is None:
            self.assertEqual(challenge, 'Bearer scope=""')
        else:
            self.assertEqual(challenge, f'Bearer scope="" error="invalid_token" error_description="{description}"')

    def test_no_token_is_the_authorizers_401(self) -> None:
        for method, path in (("GET", "/api/items"), ("POST", "/api/items"), ("DELETE", "/api/items/x")):
            with self.subTest(f"{method} {path}"):
                message(self, request(self.port, method, path), 401, "Unauthorized")
        self.refused({}, None)

    def test_refused_tokens_say_why_in_www_authenticate(self) -> None:
        self.refused({"Authorization": f"Bearer {self.mint(aud='another-client', token_use='id')}"},
                     "the token does not have a valid audience")
        self.refused({"Authorization": f"Bearer {self.mint(aud=self.client, exp=int(time.time()) - 60)}"},
                     "the token has expired")
        self.refused({"Authorization": f"Bearer {self.mint(aud=self.client, iss='https://elsewhere')}"},
                     "the token does not have a valid issuer")
        self.refused({"Authorization": "Bearer not-a-jwt"}, "the token is not valid")

    def test_id_and_access_tokens_of_the_app_client_reach_the_function_with_their_claims(self) -> None:
        for name, token in (("ID token", self.mint(aud=self.client, token_use="id", email="a@example.com")),
                            ("access token", self.mint(client_id=self.client, token_use="access",
                                                       scope="aws.cognito.signin.user.admin")),
                            ("without Bearer", self.mint(aud=self.client, token_use="id"))):
            with self.subTest(name):
                authorization = token if name == "without Bearer" else f"Bearer {token}"
                status, _, body = request(self.port, "GET", "/api/items/abc", headers={"Authorization": authorization})
                self.assertEqual(status, 200, body)
                event = json.loads(body)
                self.assertEqual(event["routeKey"], "ANY /api/items/{proxy+}")
                claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
                self.assertEqual(claims["sub"], "user-a")
                self.assertTrue(all(isinstance(v, str) for v in claims.values()), claims)

    def test_public_routes_and_preflight_need_no_token(self) -> None:
        for path in ("/", "/docs/", "/redoc", "/openapi.json", "/openapi.yaml", "/api/health", "/api/aws-info"):
            with self.subTest(path):
                self.assertEqual(request(self.port, "GET", path)[0], 200)
        status, _, body = request(self.port, "OPTIONS", "/api/items", headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
        self.assertEqual(status, 200, body)
        event = json.loads(body)
        self.assertEqual(event["routeKey"], "OPTIONS /api/items")
        self.assertNotIn("authorizer", event["requestContext"])


class HttpDeployedFunctionTest(unittest.TestCase):
    """The service itself behind the HTTP API stage (the arm64 package under qemu, or
    STAGE_TEST_BINARY)."""

    @classmethod
    def setUpClass(cls) -> None:
        binary = os.environ.get("STAGE_TEST_BINARY")
        cls.stage = StageProcess(*(["--binary", binary] if binary else []), *HTTP, *HIGH_LIMITS)
        cls.port = cls.stage.port
        cls.token = dict(line.split(": ", 1) for line in cls.stage.output().splitlines() if ": " in line)["token"]

    @classmethod
    def tearDownClass(cls) -> None:
        cls.stage.close()

    def test_the_docs_and_the_contract_are_served_at_the_root(self) -> None:
        status, _, body = request(self.port, "GET", "/openapi.json")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["servers"], [{"url": f"http://127.0.0.1:{self.port}"}])
        status, _, body = request(self.port, "GET", "/docs/")
        self.assertEqual(status, 200)
        self.assertIn(b"swagger-ui", body)
        status, _, body = request(self.port, "GET", "/")
        self.assertEqual(json.loads(body)["docs_url"], "/docs/")

    def test_a_write_with_the_token_and_the_services_challenge_as_it_is(self) -> None:
        item = json.dumps({"name": "through the HTTP API"}).encode()
        status, headers, body = request(self.port, "POST", "/api/items", item, {"Content-Type": "application/json"})
        self.assertEqual(status, 401, body)
        # An HTTP API passes WWW-Authenticate on; a REST API renames it x-amzn-Remapped-….
        self.assertEqual(headers["WWW-Authenticate"], 'Bearer realm="items-api"')
        status, headers, body = request(self.port, "POST", "/api/items", item, {
            "Content-Type": "application/json", "Authorization": f"Bearer {self.token}"})
        self.assertEqual(status, 201, body)
        self.assertRegex(headers["Location"], r"^/api/items/[^/]+$")
        self.assertEqual(request(self.port, "GET", headers["Location"])[0], 200)

    def test_cors_preflight_is_the_functions(self) -> None:
        status, headers, _ = request(self.port, "OPTIONS", "/api/items", headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
        # CorsAllowOrigins is empty by default: the function allows no origin, and the
        # HTTP API adds nothing of its own.
        self.assertNotIn("Access-Control-Allow-Origin", headers)
        self.assertLess(status, 500)


class HttpDeployedFunctionGatewayModeTest(unittest.TestCase):
    """The service in AUTH_MODE=gateway behind the HTTP API's JWT authorizer: it reads
    `requestContext.authorizer.jwt.claims.sub`."""

    @classmethod
    def setUpClass(cls) -> None:
        binary = os.environ.get("STAGE_TEST_BINARY")
        cls.stage = StageProcess(*(["--binary", binary] if binary else []), *HTTP, *HIGH_LIMITS,
                                 "--parameter", "AuthMode=Cognito")
        lines = dict(line.split(": ", 1) for line in cls.stage.output().splitlines() if ": " in line)
        cls.issuer, cls.client = lines["issuer"], lines["client"]

    @classmethod
    def tearDownClass(cls) -> None:
        cls.stage.close()

    def bearer(self, sub: str, **claims) -> dict[str, str]:
        answer = urllib.request.urlopen(urllib.request.Request(
            f"{self.issuer}/mint", data=json.dumps({"claims": {"sub": sub, "iss": self.issuer, **claims}}).encode(),
            method="POST"), timeout=10)
        return {"Authorization": f"Bearer {json.loads(answer.read())['token']}", "Content-Type": "application/json"}

    def test_each_user_sees_only_their_own_items(self) -> None:
        port = self.stage.port
        alice = self.bearer("user-alice", aud=self.client, token_use="id")
        bob = self.bearer("user-bob", client_id=self.client, token_use="access")  # an access token passes too
        status, headers, body = request(port, "POST", "/api/items", json.dumps({"name": "alice's"}).encode(), alice)
        self.assertEqual(status, 201, body)
        location = headers["Location"]
        self.assertEqual(request(port, "GET", location, headers=alice)[0], 200)
        self.assertEqual(request(port, "GET", location, headers=bob)[0], 404)
        listed = json.loads(request(port, "GET", "/api/items", headers=bob)[2])
        self.assertNotIn("alice's", json.dumps(listed))
        message(self, request(port, "GET", "/api/items"), 401, "Unauthorized")


if __name__ == "__main__":
    unittest.main()
