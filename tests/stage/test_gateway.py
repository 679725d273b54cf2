"""The local stage (tests/tools/stage.py) behaves as the deployed REST API stage.

Two kinds of function behind it:

- `FaultFunctionTest`: tests/stage/fault_function.py, a function that answers with the
  event it got, binary bodies, odd headers, or fails on request: what API Gateway does
  with each (the events it sends, 502, 504, 413, 429, 403, binary media types).
- `DeployedFunctionTest`: the service itself, by default the arm64 `bootstrap` of the
  package `make package` zipped (run under qemu-user), or STAGE_TEST_BINARY: health
  from DynamoDB over TLS, a write with the token from Secrets Manager, Swagger UI's PNG
  as browsers ask for it, and the gateway's answers around the function's own.

And the template itself: every gateway response renders to a problem document the
contract allows, and a template that uses an undocumented `$context` variable is
refused.

Run by `make stage-test` (after `make package`); only 127.0.0.1 is used.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request
from pathlib import Path

import jsonschema
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "tools"))
import stage  # noqa: E402
from service import free_port  # noqa: E402

FAULT = HERE / "fault_function.py"
CONTRACT = yaml.safe_load((ROOT / "openapi.yaml").read_text())
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# What Chromium sends for an <img> or a favicon.
BROWSER_IMAGE_ACCEPT = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"


def schema(name: str) -> dict:
    """A component schema of the contract, its references resolvable."""
    return {**CONTRACT["components"]["schemas"][name], "components": CONTRACT["components"]}


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def template_with(replace: str, by: str) -> Path:
    """A copy of template.yaml with one text replaced (which must be there)."""
    text = stage.TEMPLATE.read_text()
    assert replace in text, replace
    handle = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    handle.write(text.replace(replace, by))
    handle.close()
    return Path(handle.name)


class GatewayResponsesTest(unittest.TestCase):
    """The template's gateway responses, rendered as API Gateway renders them."""

    def setUp(self) -> None:
        template = stage.load_template(stage.TEMPLATE)
        self.config = stage.read_stage(template, stage.Resolver(template, "items-api-stage", {}))
        self.stage = stage.Stage(self.config, environment=None)  # type: ignore[arg-type]
        self.context = stage.request_context(self.stage, "/prod/api/items", "POST", "127.0.0.1:3000")

    def test_every_response_type_renders_a_problem_the_contract_allows(self) -> None:
        problem, gateway_problem = schema("Problem"), schema("GatewayProblem")
        for response_type, own_status in stage.GATEWAY_RESPONSE_TYPES.items():
            with self.subTest(response_type):
                status = own_status or (400 if response_type == "DEFAULT_4XX" else 502)
                answer = self.stage.gateway(response_type, self.context, "Some message", status=status)
                self.assertEqual(answer.status, status)
                self.assertIn(("Content-Type", "application/problem+json"), answer.headers)
                body = json.loads(answer.body)  # valid JSON, whatever the type
                self.assertEqual(body["instance"], "/prod/api/items")
                self.assertEqual(body["request_id"], self.context["requestId"])
                if "status" in body:
                    # Written by hand per type: it must be the status API Gateway sends.
                    self.assertEqual(body["status"], status)
                    jsonschema.validate(body, problem)
                else:
                    # Only the DEFAULT entries may leave it out (no variable holds it),
                    # and a type without an entry of its own falls back to them.
                    self.assertNotIn(response_type, set(self.config.responses) - {"DEFAULT_4XX", "DEFAULT_5XX"})
                    jsonschema.validate(body, gateway_problem)

    def test_every_type_the_stage_can_answer_has_its_own_entry_with_its_status(self) -> None:
        for response_type in ("THROTTLED", "QUOTA_EXCEEDED", "REQUEST_TOO_LARGE", "INTEGRATION_FAILURE",
                              "INTEGRATION_TIMEOUT", "MISSING_AUTHENTICATION_TOKEN", "ACCESS_DENIED",
                              "WAF_FILTERED", "UNAUTHORIZED", "BAD_REQUEST_BODY"):
            with self.subTest(response_type):
                entry = self.config.responses[response_type]
                self.assertIsNone(entry.status, "the type's own status code is API Gateway's")
                body = json.loads(stage.render(entry.templates["application/json"], self.context))
                self.assertEqual(body["status"], stage.GATEWAY_RESPONSE_TYPES[response_type])

    def test_the_default_entries_set_no_status_code(self) -> None:
        # A StatusCode on DEFAULT_4XX would turn every 4xx API Gateway answers into it.
        for response_type in ("DEFAULT_4XX", "DEFAULT_5XX"):
            self.assertIsNone(self.config.responses[response_type].status)

    def test_the_contract_lists_the_statuses_a_deployed_stage_adds(self) -> None:
        for path, item in CONTRACT["paths"].items():
            for method, operation in item.items():
                with self.subTest(f"{method} {path}"):
                    responses = operation["responses"]
                    self.assertEqual(responses["429"], {"$ref": "#/components/responses/TooManyRequests"})
                    self.assertEqual(responses["502"], {"$ref": "#/components/responses/BadGateway"})
                    self.assertEqual(responses["504"], {"$ref": "#/components/responses/GatewayTimeout"})

    def test_an_undocumented_context_variable_is_refused(self) -> None:
        # The template's first gateway responses wrote the status as this variable,
        # which API Gateway does not have: every body would have read `"status":,`.
        path = template_with('"status":429,"detail":"API Gateway answered THROTTLED.',
                             '"status":$context.error.statusCode,"detail":"API Gateway answered THROTTLED.')
        try:
            template = stage.load_template(path)
            with self.assertRaises(stage.StageError) as refused:
                stage.read_stage(template, stage.Resolver(template, "s", {}))
            self.assertIn("THROTTLED: $context.error.statusCode is not a $context variable", str(refused.exception))
        finally:
            path.unlink()

    def test_documented_variables_render_and_vtl_directives_are_refused(self) -> None:
        rendered = stage.render('{"a":$context.error.messageString,"b":"$context.stage $context.error.responseType"}',
                                {**self.context, "error.messageString": '"say \\"hi\\""',
                                 "error.responseType": "THROTTLED"})
        self.assertEqual(json.loads(rendered), {"a": 'say "hi"', "b": "prod THROTTLED"})
        with self.assertRaises(stage.StageError):
            stage.check_template_text("DEFAULT_4XX", '#if($context.stage == "prod"){}#end')
        with self.assertRaises(stage.StageError):
            stage.check_template_text("DEFAULT_4XX", '{"x":"$input.body"}')


def cognito_config(**parameters: str) -> stage.StageConfig:
    """The stage's reading of template.yaml in Cognito mode (or as `parameters` say)."""
    template = stage.load_template(stage.TEMPLATE)
    return stage.read_stage(template, stage.Resolver(template, "items-api-stage",
                                                     {"AuthMode": "Cognito", **parameters}))


class CognitoAuthorizerTest(unittest.TestCase):
    """template.yaml's AuthMode=Cognito as the stage reads it, and API Gateway's Cognito
    authorizer as the stage plays it, against the test issuer standing in for the pool."""

    @classmethod
    def setUpClass(cls) -> None:
        from oidc_issuer import Issuer
        cls.issuer = Issuer().__enter__()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.issuer.__exit__(None, None, None)

    def setUp(self) -> None:
        self.config = cognito_config()
        self.stage = stage.Stage(self.config, environment=None, issuer=self.issuer.url)  # type: ignore[arg-type]
        self.client = self.config.authorizer.client_ids[0]
        self.items = self.route("/api/items", "GET")

    def route(self, path: str, method: str) -> stage.Route:
        found = self.stage.match(path, method)
        assert found is not None, (method, path)
        return found[0]

    def id_token(self, **claims) -> str:
        return self.issuer.mint({"sub": "user-a", "iss": self.issuer.url, "aud": self.client,
                                 "token_use": "id", **claims})

    def test_only_the_items_are_guarded(self) -> None:
        for method, path in (("GET", "/api/items"), ("POST", "/api/items"), ("POST", "/api/items/"),
                             ("GET", "/api/items/abc"), ("PUT", "/api/items/abc"), ("DELETE", "/api/items/abc"),
                             ("HEAD", "/api/items/abc/more")):
            with self.subTest(f"{method} {path}"):
                self.assertEqual(self.route(path, method).scopes, [], "an ID token, no scopes")
        for method, path in (("GET", "/"), ("GET", "/docs"), ("GET", "/docs/"), ("GET", "/docs/index.css"),
                             ("GET", "/redoc"), ("GET", "/redoc/redoc.standalone.js"), ("GET", "/openapi.json"),
                             ("GET", "/openapi.yaml"), ("GET", "/api/health"), ("GET", "/api/health/"),
                             ("GET", "/api/aws-info"), ("GET", "/api"), ("GET", "/api/itemsx"),
                             ("OPTIONS", "/api/items"), ("OPTIONS", "/api/items/abc"), ("GET", "/favicon.ico")):
            with self.subTest(f"{method} {path}"):
                self.assertIsNone(self.route(path, method).scopes, "public")

    def test_token_mode_guards_nothing_and_keeps_the_secret(self) -> None:
        config = cognito_config(AuthMode="Token")
        self.assertIsNone(config.authorizer)
        self.assertEqual([r for r in config.routes if r.scopes is not None], [])
        self.assertEqual(list(config.secrets_), ["ApiTokenSecret"])
        self.assertEqual(list(self.config.secrets_), [], "no token secret in Cognito mode")

    def test_the_authorizer_names_the_pool_and_its_app_client(self) -> None:
        authorizer = self.config.authorizer
        self.assertEqual(len(authorizer.provider_arns), 1)
        self.assertRegex(authorizer.provider_arns[0], r"^arn:aws:cognito-idp:[a-z0-9-]+:\d{12}:userpool/")
        existing = "arn:aws:cognito-idp:eu-central-1:123456789012:userpool/eu-central-1_Abc123"
        config = cognito_config(ExistingUserPoolArn=existing, ExistingUserPoolClientId="client0123")
        self.assertEqual((config.authorizer.provider_arns, config.authorizer.client_ids), ([existing], ["client0123"]))

    def test_a_valid_id_token_is_accepted_with_or_without_the_bearer_scheme(self) -> None:
        token = self.id_token()
        for header in (f"Bearer {token}", f"bearer {token}", token):
            with self.subTest(header[:8]):
                claims, refused = self.stage.authorize(self.items, header)
                self.assertIsNone(refused)
                self.assertEqual(claims["sub"], "user-a")

    def test_refused_tokens(self) -> None:
        now = int(time.time())
        other = "s" * 26
        cases = {
            "no header": (None, "Unauthorized"),
            "empty": ("Bearer ", "Unauthorized"),
            "not a JWT": ("Bearer abc", "Unauthorized"),
            "expired": (self.id_token(exp=now - 10, iat=now - 3600), "The incoming token has expired"),
            "another issuer": (self.id_token(iss="https://cognito-idp.eu-west-1.amazonaws.com/x"), "Unauthorized"),
            "another app client": (self.id_token(aud=other), "Unauthorized"),
            "an access token": (self.issuer.mint({"sub": "user-a", "iss": self.issuer.url, "client_id": self.client,
                                                  "token_use": "access", "scope": "aws.cognito.signin.user.admin"}),
                                "Unauthorized"),
            "no token_use": (self.issuer.mint({"sub": "user-a", "iss": self.issuer.url, "aud": self.client}),
                             "Unauthorized"),
            "alg none": (self.issuer.mint({"sub": "a", "iss": self.issuer.url, "aud": self.client, "token_use": "id"},
                                          alg="none"), "Unauthorized"),
            "HS256 with the public key": (self.issuer.mint({"sub": "a", "iss": self.issuer.url, "aud": self.client,
                                                            "token_use": "id"}, alg="HS256-public-key"),
                                          "Unauthorized"),
            "an unpublished key": (self.issuer.mint({"sub": "a", "iss": self.issuer.url, "aud": self.client,
                                                     "token_use": "id"}, kid="rsa-unpublished"), "Unauthorized"),
        }
        head, payload, signature = self.id_token().split(".")
        forged = base64.urlsafe_b64encode(json.dumps({"sub": "user-b", "iss": self.issuer.url, "aud": self.client,
                                                      "token_use": "id", "exp": now + 600}).encode()).rstrip(b"=")
        cases["a tampered payload"] = (f"{head}.{forged.decode()}.{signature}", "Unauthorized")
        for name, (header, message) in cases.items():
            with self.subTest(name):
                self.assertEqual(self.stage.authorize(self.items, header), (None, message))

    def test_the_claims_reach_the_function_as_api_gateway_puts_them(self) -> None:
        claims, _ = self.stage.authorize(self.items, f"Bearer {self.id_token(**{'cognito:groups': ['a', 'b'], 'email_verified': True, 'auth_time': 1513492092})}")
        context = stage.request_context(self.stage, "/prod/api/items", "GET", "127.0.0.1:3000")
        request = stage.Request("GET", "/api/items", "", [("Authorization", "Bearer x")], b"", "127.0.0.1")
        event = self.stage.event(request, self.items, {}, context, claims)
        given = event["requestContext"]["authorizer"]["claims"]
        self.assertTrue(all(isinstance(v, str) for v in given.values()), given)
        self.assertEqual((given["sub"], given["token_use"], given["aud"]), ("user-a", "id", self.client))
        self.assertEqual(given["cognito:groups"], "[a b]")
        self.assertEqual((given["email_verified"], given["auth_time"]), ("true", "1513492092"))
        self.assertRegex(given["exp"], r"^[A-Z][a-z]{2} [A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} UTC \d{4}$")
        self.assertEqual(time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(claims["exp"])), given["exp"])
        public = self.stage.event(request, self.route("/api/health", "GET"), {}, context)
        self.assertNotIn("authorizer", public["requestContext"])

    def test_unauthorized_is_a_problem_with_a_bearer_challenge(self) -> None:
        context = stage.request_context(self.stage, "/prod/api/items", "GET", "127.0.0.1:3000")
        answer = self.stage.gateway("UNAUTHORIZED", context, "Unauthorized")
        headers = dict(answer.headers)
        self.assertEqual((answer.status, headers["Content-Type"]), (401, "application/problem+json"))
        self.assertEqual(headers["WWW-Authenticate"], 'Bearer realm="items-api", error="invalid_token"')
        problem = json.loads(answer.body)
        self.assertEqual((problem["status"], problem["title"]), (401, "Unauthorized"))
        jsonschema.validate(problem, schema("Problem"))
        denied = dict(self.stage.gateway("ACCESS_DENIED", context, "Forbidden").headers)
        self.assertEqual(denied["WWW-Authenticate"], 'Bearer realm="items-api", error="insufficient_scope"')


class CognitoStageTest(unittest.TestCase):
    """AuthMode=Cognito end to end through the stage, with a function that echoes its
    event (tests/stage/fault_function.py): what reaches the function, and what not."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.stage = StageProcess("--binary", str(FAULT), "--parameter", "AuthMode=Cognito",
                                 "--parameter", "ThrottlingRateLimit=1000", "--parameter", "ThrottlingBurstLimit=1000")
        lines = dict(line.split(": ", 1) for line in cls.stage.output().splitlines() if ": " in line)
        cls.issuer, cls.client = lines["issuer"], lines["client"]

    @classmethod
    def tearDownClass(cls) -> None:
        cls.stage.close()

    def mint(self, claims: dict) -> str:
        answer = urllib.request.urlopen(urllib.request.Request(
            f"{self.issuer}/mint", data=json.dumps({"claims": claims}).encode(), method="POST"), timeout=10)
        return json.loads(answer.read())["token"]

    def test_it_prints_the_issuer_and_the_app_client_instead_of_a_token(self) -> None:
        output = self.stage.output()
        self.assertNotIn("token: ", output)
        self.assertRegex(self.issuer, r"^http://127\.0\.0\.1:\d+$")
        self.assertRegex(self.client, r"^[a-z0-9]{26}$")

    def test_no_token_is_the_gateways_401_and_the_function_never_sees_it(self) -> None:
        for method, path in (("GET", "/prod/api/items"), ("POST", "/prod/api/items"), ("DELETE", "/prod/api/items/x")):
            with self.subTest(f"{method} {path}"):
                status, headers, body = request(self.port(), method, path)
                self.assertEqual((status, headers["Content-Type"]), (401, "application/problem+json"), body)
                self.assertEqual(headers["WWW-Authenticate"], 'Bearer realm="items-api", error="invalid_token"')
                problem = json.loads(body)
                self.assertEqual(problem["detail"], "API Gateway answered UNAUTHORIZED.")
                self.assertNotIn("requestContext", problem)

    def test_a_refused_token_is_a_401(self) -> None:
        for name, token in (("another app client", self.mint({"sub": "a", "iss": self.issuer, "aud": "x" * 26,
                                                                "token_use": "id"})),
                            ("garbage", "not-a-jwt")):
            with self.subTest(name):
                status, headers, _ = request(self.port(), "GET", "/prod/api/items",
                                             headers={"Authorization": f"Bearer {token}"})
                self.assertEqual(status, 401)
                self.assertIn("invalid_token", headers["WWW-Authenticate"])

    def test_a_valid_id_token_reaches_the_function_with_its_claims(self) -> None:
        token = self.mint({"sub": "user-a", "iss": self.issuer, "aud": self.client, "token_use": "id",
                           "cognito:groups": ["admins"]})
        status, _, body = request(self.port(), "GET", "/prod/api/items/abc",
                                  headers={"Authorization": f"Bearer {token}"})
        self.assertEqual(status, 200, body)
        event = json.loads(body)
        self.assertEqual(event["resource"], "/api/items/{proxy+}")
        claims = event["requestContext"]["authorizer"]["claims"]
        self.assertEqual((claims["sub"], claims["cognito:groups"]), ("user-a", "[admins]"))

    def test_public_routes_and_preflight_need_no_token(self) -> None:
        self.assertEqual(request(self.port(), "GET", "/prod/api/health")[0], 200)
        status, _, body = request(self.port(), "OPTIONS", "/prod/api/items", headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
        self.assertEqual(status, 200, body)
        event = json.loads(body)
        self.assertEqual((event["httpMethod"], event["resource"]), ("OPTIONS", "/api/items"))
        self.assertNotIn("authorizer", event["requestContext"])
        status, _, body = request(self.port(), "GET", "/prod/echo")
        self.assertEqual(status, 200, body)

    def port(self) -> int:
        return self.stage.port


class DeployedFunctionGatewayModeTest(unittest.TestCase):
    """The service itself in AUTH_MODE=gateway behind the stage's Cognito authorizer:
    the arm64 package (or STAGE_TEST_BINARY), the deployed auth path end to end."""

    stage: StageProcess
    issuer: str
    client: str

    @classmethod
    def setUpClass(cls) -> None:
        binary = os.environ.get("STAGE_TEST_BINARY")
        cls.stage = StageProcess(*(["--binary", binary] if binary else []), "--parameter", "AuthMode=Cognito")
        lines = dict(line.split(": ", 1) for line in cls.stage.output().splitlines() if ": " in line)
        cls.issuer, cls.client = lines["issuer"], lines["client"]

    @classmethod
    def tearDownClass(cls) -> None:
        cls.stage.close()

    def bearer(self, sub: str) -> dict[str, str]:
        answer = urllib.request.urlopen(urllib.request.Request(
            f"{self.issuer}/mint", data=json.dumps({"claims": {
                "sub": sub, "iss": self.issuer, "aud": self.client, "token_use": "id"}}).encode(), method="POST"),
            timeout=10)
        return {"Authorization": f"Bearer {json.loads(answer.read())['token']}", "Content-Type": "application/json"}

    def test_each_user_sees_only_their_own_items(self) -> None:
        port = self.stage.port
        alice, bob = self.bearer("user-alice"), self.bearer("user-bob")
        status, headers, body = request(port, "POST", "/prod/api/items", json.dumps({"name": "alice's"}).encode(), alice)
        self.assertEqual(status, 201, body)
        location = headers["Location"]
        self.assertEqual(request(port, "GET", location, headers=alice)[0], 200)
        self.assertEqual(request(port, "GET", location, headers=bob)[0], 404)
        self.assertEqual(request(port, "DELETE", location, headers=bob)[0], 404)
        listed = json.loads(request(port, "GET", "/prod/api/items", headers=bob)[2])
        self.assertNotIn("alice's", json.dumps(listed))
        self.assertEqual(request(port, "GET", location, headers=alice)[0], 200, "bob's delete changed nothing")

    def test_without_a_token_the_gateway_answers_and_public_routes_stay_open(self) -> None:
        port = self.stage.port
        status, headers, _ = request(port, "GET", "/prod/api/items")
        self.assertEqual((status, headers["WWW-Authenticate"]), (401, 'Bearer realm="items-api", error="invalid_token"'))
        self.assertEqual(request(port, "GET", "/prod/api/health")[0], 200)
        self.assertEqual(request(port, "GET", "/prod/openapi.json")[0], 200)
        self.assertEqual(request(port, "GET", "/prod/docs/")[0], 200)


class StageProcess:
    """The stage as `make stage` runs it, in a process of its own."""

    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="stage-", suffix=".log", delete=False)
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "tools" / "stage.py"), "--port", str(self.port), *args],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 180
        # The last line it prints: the token, or the app client with a Cognito authorizer.
        while "token: " not in self.output() and "\nclient: " not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the stage did not start:\n{self.output()[-3000:]}")
            time.sleep(0.1)

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode

    def close(self) -> None:
        self.stop()
        Path(self.log.name).unlink(missing_ok=True)


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class FaultFunctionTest(unittest.TestCase):
    """API Gateway's side of each thing a function can do."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.stage = StageProcess("--binary", str(FAULT), "--parameter", "ThrottlingRateLimit=1000",
                                 "--parameter", "ThrottlingBurstLimit=1000")
        cls.port = cls.stage.port

    @classmethod
    def tearDownClass(cls) -> None:
        cls.stage.close()

    def echo(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> dict:
        status, _, data = request(self.port, method, path, body, headers)
        self.assertEqual(status, 200, data)
        return json.loads(data)

    def assert_gateway_problem(self, status: int, headers, body: bytes, expected: int, response_type: str) -> dict:
        self.assertEqual(status, expected, body)
        self.assertEqual(headers["Content-Type"], "application/problem+json")
        self.assertEqual(headers["x-amzn-ErrorType"], stage.ERROR_TYPES.get(response_type))
        problem = json.loads(body)
        self.assertEqual(problem["detail"], f"API Gateway answered {response_type}.")
        jsonschema.validate(problem, schema("GatewayProblem"))
        return problem

    def test_it_prints_its_url_and_token(self) -> None:
        lines = self.stage.output().splitlines()
        self.assertIn(f"stage: http://127.0.0.1:{self.port}/prod", lines)
        self.assertTrue(any(line.startswith("token: ") and len(line) == len("token: ") + 48 for line in lines))

    def test_a_request_becomes_the_rest_v1_event_api_gateway_sends(self) -> None:
        event = self.echo("GET", "/prod/echo/a%20b%2Fc?x=1&x=2&y=%2B&flag",
                          headers={"X-Multi": "one", "Accept": "application/json"})
        self.assertEqual(event["resource"], "/{proxy+}")
        self.assertEqual(event["path"], "/echo/a%20b%2Fc")  # REST APIs keep the encoding
        self.assertEqual(event["pathParameters"], {"proxy": "echo/a b/c"})  # and decode parameters
        self.assertEqual(event["httpMethod"], "GET")
        self.assertEqual(event["queryStringParameters"], {"x": "2", "y": "+", "flag": ""})
        self.assertEqual(event["multiValueQueryStringParameters"], {"x": ["1", "2"], "y": ["+"], "flag": [""]})
        self.assertEqual(event["multiValueHeaders"]["X-Multi"], ["one"])
        self.assertEqual(event["headers"]["X-Forwarded-Proto"], "http")
        context = event["requestContext"]
        self.assertEqual((context["stage"], context["path"], context["resourcePath"]),
                         ("prod", "/prod/echo/a%20b%2Fc", "/{proxy+}"))
        self.assertIsNone(event["body"])
        self.assertFalse(event["isBase64Encoded"])

    def test_any_character_a_path_can_encode_reaches_the_function(self) -> None:
        # A greedy path variable takes an encoded line feed too (schemathesis sent one).
        event = self.echo("GET", "/prod/echo/%0A%C2%A1")
        self.assertEqual((event["path"], event["pathParameters"]), ("/echo/%0A%C2%A1", {"proxy": "echo/\n\u00a1"}))

    def test_the_gateway_sets_the_forwarded_headers_itself(self) -> None:
        event = self.echo("GET", "/prod/echo", headers={"X-Forwarded-For": "198.51.100.7",
                                                        "X-Forwarded-Proto": "https", "X-Forwarded-Port": "1"})
        headers = event["headers"]
        self.assertEqual(headers["X-Forwarded-For"], "198.51.100.7, 127.0.0.1")  # appended
        self.assertEqual((headers["X-Forwarded-Proto"], headers["X-Forwarded-Port"]), ("http", str(self.port)))
        self.assertEqual(event["multiValueHeaders"]["X-Forwarded-Proto"], ["http"])

    def test_a_request_whose_body_framing_is_not_http_is_a_400_and_the_stage_serves_on(self) -> None:
        for framing in (b"Content-Length: abc\r\n", b"Content-Length: -1\r\n",
                        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"):
            with self.subTest(framing):
                with socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw:
                    head, _, rest = framing.partition(b"\r\n\r\n")
                    raw.sendall(b"POST /prod/echo HTTP/1.1\r\nHost: x\r\n" + head.rstrip(b"\r\n")
                                + b"\r\n\r\n" + rest)
                    answer = raw.recv(4096)
                self.assertTrue(answer.startswith(b"HTTP/1.1 400"), answer[:80])
        self.assertEqual(request(self.port, "GET", "/prod/api/health")[0], 200)

    def test_the_stage_root_is_the_root_resource(self) -> None:
        for path in ("/prod", "/prod/"):
            with self.subTest(path):
                event = self.echo("GET", path)
                self.assertEqual((event["resource"], event["path"], event["pathParameters"]), ("/", "/", None))

    def test_repeated_headers_reach_the_function_as_multi_value_headers(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.putrequest("GET", "/prod/echo")
        connection.putheader("X-Twice", "a")
        connection.putheader("X-Twice", "b")
        connection.endheaders()
        event = json.loads(connection.getresponse().read())
        connection.close()
        self.assertEqual(event["multiValueHeaders"]["X-Twice"], ["a", "b"])
        self.assertEqual(event["headers"]["X-Twice"], "b")  # the last one, as API Gateway

    def test_every_body_reaches_the_function_base64_under_the_templates_binary_types(self) -> None:
        # template.yaml lists */*: every body is binary to API Gateway.
        self.assertEqual(self.stage_config().binary_media_types, ["*/*"])
        event = self.echo("POST", "/prod/echo", b'{"name":"x"}', {"Content-Type": "application/json"})
        self.assertEqual((base64.b64decode(event["body"]), event["isBase64Encoded"]), (b'{"name":"x"}', True))
        event = self.echo("POST", "/prod/echo", PNG_SIGNATURE, {"Content-Type": "image/png"})
        self.assertEqual((event["body"], event["isBase64Encoded"]), ("iVBORw0KGgo=", True))

    def test_binary_media_types_match_as_api_gateway_matches_them(self) -> None:
        self.assertTrue(stage.is_binary("image/png", ["image/png"]))
        self.assertTrue(stage.is_binary("image/png", ["image/*"]))
        self.assertTrue(stage.is_binary("text/html", ["*/*"]))
        self.assertFalse(stage.is_binary("*/*", ["image/png"]))  # curl's Accept
        self.assertFalse(stage.is_binary("image/avif", ["image/png"]))  # a browser's first type
        self.assertFalse(stage.is_binary("application/json", ["image/png", "image/x-icon"]))
        self.assertFalse(stage.is_binary("", ["*/*"]))

    def test_a_base64_answer_is_decoded_for_every_accept_under_the_templates_binary_types(self) -> None:
        for accept in ("image/png", BROWSER_IMAGE_ACCEPT, "*/*", "text/html, image/png"):
            with self.subTest(accept):
                status, _, body = request(self.port, "GET", "/prod/binary", headers={"Accept": accept})
                self.assertEqual(status, 200)
                self.assertTrue(body.startswith(PNG_SIGNATURE), body[:20])

    def stage_config(self) -> stage.StageConfig:
        template = stage.load_template(stage.TEMPLATE)
        return stage.read_stage(template, stage.Resolver(template, "s", {}))

    def test_headers_and_multi_value_headers_merge_and_some_are_remapped(self) -> None:
        status, headers, _ = request(self.port, "GET", "/prod/headers")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get_all("X-One"), ["multi-a", "multi-b"])  # multiValueHeaders wins
        self.assertEqual(headers.get_all("X-Two"), ["a", "b"])
        self.assertEqual(headers["x-amzn-Remapped-Date"], "yesterday")
        self.assertEqual(headers["x-amzn-Remapped-Server"], "fault")
        self.assertIsNone(headers["Server"])
        self.assertTrue(headers["x-amzn-RequestId"])

    def test_a_malformed_answer_is_a_502(self) -> None:
        problem = self.assert_gateway_problem(*request(self.port, "GET", "/prod/malformed"), 502, "DEFAULT_5XX")
        self.assertEqual(problem["title"], "Internal server error")
        self.assertNotIn("status", problem)

    def test_a_reported_error_is_a_502_and_the_function_serves_on(self) -> None:
        self.assert_gateway_problem(*request(self.port, "GET", "/prod/error"), 502, "DEFAULT_5XX")
        self.assertEqual(request(self.port, "GET", "/prod/api/health")[0], 200)

    def test_a_function_that_exits_is_a_502_and_the_next_request_starts_a_new_one(self) -> None:
        self.assert_gateway_problem(*request(self.port, "GET", "/prod/exit"), 502, "DEFAULT_5XX")
        self.assertEqual(request(self.port, "GET", "/prod/api/health")[0], 200)

    def test_a_body_over_10_mb_is_refused_by_the_gateway(self) -> None:
        status, headers, body = request(self.port, "POST", "/prod/echo", b"x" * (stage.MAX_PAYLOAD + 1),
                                        {"Content-Type": "application/json"})
        problem = self.assert_gateway_problem(status, headers, body, 413, "REQUEST_TOO_LARGE")
        self.assertEqual(problem["status"], 413)
        jsonschema.validate(problem, schema("Problem"))

    def test_an_event_over_lambdas_6_mb_is_a_502(self) -> None:
        status, headers, body = request(self.port, "POST", "/prod/echo", b"x" * (7 * 1024 * 1024),
                                        {"Content-Type": "application/json"})
        self.assert_gateway_problem(status, headers, body, 502, "DEFAULT_5XX")

    def test_a_method_api_gateway_does_not_route_is_a_403(self) -> None:
        status, headers, body = request(self.port, "TRACE", "/prod/")
        problem = self.assert_gateway_problem(status, headers, body, 403, "MISSING_AUTHENTICATION_TOKEN")
        self.assertEqual(problem["instance"], "/prod/")

    def test_a_path_outside_the_stage_is_forbidden(self) -> None:
        for path in ("/", "/staging/api/health", "/production"):
            with self.subTest(path):
                status, _, body = request(self.port, "GET", path)
                self.assertEqual((status, json.loads(body)), (403, {"message": "Forbidden"}))

    def test_requests_in_flight_when_it_stops_get_an_answer(self) -> None:
        own = StageProcess("--binary", str(FAULT))
        try:
            statuses: list[int] = []

            def one() -> None:
                try:
                    statuses.append(request(own.port, "GET", "/prod/sleep/1", timeout=20)[0])
                except OSError as error:
                    statuses.append(-1)
                    print(error)

            threads = [threading.Thread(target=one) for _ in range(3)]
            for thread in threads:
                thread.start()
            time.sleep(0.4)
            self.assertEqual(own.stop(), 0)
            for thread in threads:
                thread.join()
            self.assertEqual(len(statuses), 3)
            self.assertTrue(all(status in (200, 502) for status in statuses), statuses)
            self.assertNotIn("Traceback", own.output())
        finally:
            own.close()

    def test_killed_it_leaves_no_emulator_behind(self) -> None:
        own = StageProcess("--binary", str(FAULT))
        try:
            self.assertEqual(request(own.port, "GET", "/prod/api/health")[0], 200)
            started = descendants(own.process.pid)
            own.process.kill()
            own.process.wait()
            deadline = time.monotonic() + 10
            while any(alive(pid) for pid in started) and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertEqual([pid for pid in started if alive(pid)], [])
        finally:
            for pid in descendants(own.process.pid):
                os.kill(pid, signal.SIGKILL)
            own.close()

    def test_a_port_in_use_is_said_before_anything_starts(self) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            done = subprocess.run([sys.executable, str(ROOT / "tests" / "tools" / "stage.py"), "--port", str(port),
                                   "--binary", str(FAULT)], capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertIn(f"cannot listen on 127.0.0.1:{port}", done.stderr)
        self.assertNotIn("Traceback", done.stderr)

    def test_it_stops_on_sigterm_and_leaves_no_process(self) -> None:
        own = StageProcess("--binary", str(FAULT))
        try:
            self.assertEqual(request(own.port, "GET", "/prod/api/health")[0], 200)
            started = descendants(own.process.pid)
            self.assertGreaterEqual(len(started), 3, "moto, stunnel and the function")
            self.assertEqual(own.stop(), 0)
            time.sleep(0.5)
            self.assertEqual([pid for pid in started if alive(pid)], [])
        finally:
            own.close()


class NarrowBinaryTypesTest(unittest.TestCase):
    """With `image/png` as the only binary media type (the template before the stage
    found it out), API Gateway decodes a base64 answer only for a request whose first
    Accept type is image/png: browsers and curl got base64 text."""

    def test_only_a_first_accept_of_a_binary_type_gets_the_bytes(self) -> None:
        template = template_with('        - "*~1*"\n', "        - image~1png\n")
        own = StageProcess("--binary", str(FAULT), "--template", str(template))
        try:
            for accept, decoded in (("image/png", True), ("image/png, text/html", True),
                                    (BROWSER_IMAGE_ACCEPT, False), ("*/*", False), ("text/html, image/png", False)):
                with self.subTest(accept):
                    status, _, body = request(own.port, "GET", "/prod/binary", headers={"Accept": accept})
                    self.assertEqual(status, 200)
                    if decoded:
                        self.assertTrue(body.startswith(PNG_SIGNATURE), body[:20])
                    else:
                        self.assertEqual(body, b"iVBORw0KGgoAAAANSUhEUg==")  # as API Gateway sends it on
            event = json.loads(request(own.port, "POST", "/prod/echo", b'{"a":1}',
                                       {"Content-Type": "application/json"})[2])
            self.assertEqual((event["body"], event["isBase64Encoded"]), ('{"a":1}', False))
        finally:
            own.close()
            template.unlink()


class TimeoutTest(unittest.TestCase):
    """The function's timeout and API Gateway's integration timeout."""

    def test_no_answer_within_the_integration_timeout_is_a_504(self) -> None:
        own = StageProcess("--binary", str(FAULT), "--integration-timeout", "1")
        try:
            status, headers, body = request(own.port, "GET", "/prod/sleep/3")
            problem = json.loads(body)
            self.assertEqual((status, problem["detail"]), (504, "API Gateway answered INTEGRATION_TIMEOUT."))
            jsonschema.validate(problem, schema("Problem"))
            self.assertEqual(problem["status"], 504)
            self.assertEqual(request(own.port, "GET", "/prod/api/health")[0], 200)
        finally:
            own.close()

    def test_time_queued_behind_other_requests_counts_toward_the_integration_timeout(self) -> None:
        # One execution environment answers one request at a time: of three 2-second
        # requests, the second would answer after 4 s and the third after 6 s, both past
        # API Gateway's limit (here 3 s), which counts from when each request arrived.
        own = StageProcess("--binary", str(FAULT), "--integration-timeout", "3")
        try:
            answers: list[tuple[int, float]] = []
            started = time.monotonic()

            def one() -> None:
                status = request(own.port, "GET", "/prod/sleep/2")[0]
                answers.append((status, time.monotonic() - started))

            threads = [threading.Thread(target=one) for _ in range(3)]
            for thread in threads:
                thread.start()
                time.sleep(0.1)
            for thread in threads:
                thread.join()
            self.assertEqual(sorted(status for status, _ in answers), [200, 504, 504], answers)
            self.assertLess(max(elapsed for _, elapsed in answers), 4.5, answers)
        finally:
            own.close()

    def test_a_function_over_its_timeout_is_a_502_and_replaced(self) -> None:
        template = template_with("      Timeout: 10\n", "      Timeout: 1\n")
        own = StageProcess("--binary", str(FAULT), "--template", str(template))
        try:
            started = time.monotonic()
            status, _, body = request(own.port, "GET", "/prod/sleep/5")
            self.assertEqual((status, json.loads(body)["detail"]), (502, "API Gateway answered DEFAULT_5XX."))
            self.assertLess(time.monotonic() - started, 4, "Lambda stops the function at its timeout")
            self.assertEqual(request(own.port, "GET", "/prod/api/health")[0], 200)
        finally:
            own.close()
            template.unlink()


class ThrottlingTest(unittest.TestCase):
    def test_over_the_stages_rate_and_burst_is_a_429_problem(self) -> None:
        own = StageProcess("--binary", str(FAULT), "--parameter", "ThrottlingRateLimit=1",
                           "--parameter", "ThrottlingBurstLimit=2")
        try:
            statuses = []
            for _ in range(4):
                status, headers, body = request(own.port, "GET", "/prod/api/health")
                statuses.append(status)
            self.assertEqual(statuses[:2], [200, 200], "the burst")
            self.assertEqual(statuses[2:], [429, 429])
            problem = json.loads(body)
            self.assertEqual(problem["detail"], "API Gateway answered THROTTLED.")
            self.assertEqual(problem["status"], 429)
            jsonschema.validate(problem, schema("Problem"))
            time.sleep(1.1)  # one token a second
            self.assertEqual(request(own.port, "GET", "/prod/api/health")[0], 200)
        finally:
            own.close()


class DeployedFunctionTest(unittest.TestCase):
    """The service as deployed: the arm64 package (or STAGE_TEST_BINARY) behind the stage."""

    @classmethod
    def setUpClass(cls) -> None:
        binary = os.environ.get("STAGE_TEST_BINARY")
        cls.stage = StageProcess(*(["--binary", binary] if binary else []), "--token", "stage-test-token")
        cls.port = cls.stage.port

    @classmethod
    def tearDownClass(cls) -> None:
        cls.stage.close()

    def test_health_comes_from_dynamodb_over_tls(self) -> None:
        status, headers, body = request(self.port, "GET", "/prod/api/health")
        self.assertEqual(status, 200, body)
        health = json.loads(body)
        self.assertEqual((health["status"], health["store"]["backend"], health["store"]["status"]),
                         ("ok", "dynamodb", "ok"))
        self.assertTrue(headers["x-amzn-RequestId"])

    def test_a_write_needs_the_token_from_secrets_manager(self) -> None:
        item = json.dumps({"name": "through the stage"}).encode()
        status, headers, _ = request(self.port, "POST", "/prod/api/items", item, {"Content-Type": "application/json"})
        self.assertEqual(status, 401)
        # API Gateway renames the service's challenge (api-gateway-known-issues).
        self.assertIsNone(headers["WWW-Authenticate"])
        self.assertEqual(headers["x-amzn-Remapped-WWW-Authenticate"], 'Bearer realm="items-api"')
        status, headers, body = request(self.port, "POST", "/prod/api/items", item, {
            "Content-Type": "application/json", "Authorization": "Bearer stage-test-token"})
        self.assertEqual(status, 201, body)
        self.assertTrue(headers["Location"].startswith("/prod/api/items/"), headers["Location"])
        status, _, body = request(self.port, "GET", headers["Location"])
        self.assertEqual((status, json.loads(body)["name"]), (200, "through the stage"))

    def test_swagger_uis_png_reaches_browsers_as_png(self) -> None:
        for accept in ("image/png", BROWSER_IMAGE_ACCEPT, "*/*"):
            with self.subTest(accept):
                status, headers, body = request(self.port, "GET", "/prod/docs/favicon-32x32.png",
                                                headers={"Accept": accept})
                self.assertEqual((status, headers["Content-Type"]), (200, "image/png"))
                self.assertTrue(body.startswith(PNG_SIGNATURE), body[:24])

    def test_the_docs_and_the_contract_are_served_under_the_stage(self) -> None:
        status, headers, _ = request(self.port, "GET", "/prod/docs")
        self.assertIn(status, (301, 308), headers)
        # Relative, so that it stays under the stage.
        self.assertEqual(urllib.parse.urljoin("/prod/docs", headers["Location"]), "/prod/docs/")
        status, _, body = request(self.port, "GET", "/prod/openapi.json")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["servers"][0]["url"], f"http://127.0.0.1:{self.port}/prod")

    def test_a_body_over_10_mb_is_the_gateways_413(self) -> None:
        status, headers, body = request(self.port, "POST", "/prod/api/items", b"x" * (stage.MAX_PAYLOAD + 1),
                                        {"Content-Type": "application/json"})
        problem = json.loads(body)
        self.assertEqual((status, problem["detail"]), (413, "API Gateway answered REQUEST_TOO_LARGE."))
        jsonschema.validate(problem, schema("Problem"))

    def test_an_unsupported_method_under_the_root_is_the_services_405(self) -> None:
        status, headers, body = request(self.port, "PATCH", "/prod/")
        self.assertEqual(status, 405, body)
        self.assertEqual(headers["Content-Type"], "application/problem+json")
        self.assertIn("GET", headers["Allow"])
        self.assertEqual(json.loads(body)["instance"], "/")  # the path the service routes

    def test_a_method_api_gateway_does_not_route_is_its_403(self) -> None:
        status, headers, _ = request(self.port, "TRACE", "/prod/api/items")
        self.assertEqual((status, headers["x-amzn-ErrorType"]), (403, "MissingAuthenticationTokenException"))

    def test_a_trailing_slash_and_encoded_characters_reach_the_service_as_sent(self) -> None:
        status, _, body = request(self.port, "GET", "/prod/api/health/")
        self.assertEqual((status, json.loads(body)["status"]), (200, "ok"), body)  # as locally
        status, headers, body = request(self.port, "GET", "/prod/api/items/not%20an%2Fid")
        self.assertEqual((status, headers["Content-Type"]), (422, "application/problem+json"), body)
        self.assertEqual(json.loads(body)["instance"], "/api/items/not%20an%2Fid")


if __name__ == "__main__":
    unittest.main()
