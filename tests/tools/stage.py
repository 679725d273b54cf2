#!/usr/bin/env python3
"""The deployed REST API stage, or HTTP API, on one machine: `make stage`.

What `sam local start-api` offers, without a container engine, and with the data
stores emulated: the package AWS receives, behind API Gateway as template.yaml
configures it.

- **The front** reads template.yaml: the REST API's stage name, the function's `Api`
  events (its resources and methods, the most specific one picked as API Gateway
  does), the API's DefinitionBody (which methods an authorizer guards),
  `BinaryMediaTypes`, the stage's throttling (`MethodSettings`), `GatewayResponses`;
  it serves `http://127.0.0.1:PORT/<stage>/…`,
  turns each request into the REST v1 proxy event API Gateway sends and the function's
  answer back into HTTP as API Gateway does (`headers` and `multiValueHeaders` merged,
  a base64 body decoded only when the request's first `Accept` type is a binary media
  type, `Content-Length` computed, a few headers remapped). Its own errors are API
  Gateway's, rendered from the template's gateway responses: a path outside the
  stage's resources or a method API Gateway does not route 403
  (MISSING_AUTHENTICATION_TOKEN), throttled 429 (THROTTLED), a body over 10 MB 413
  (REQUEST_TOO_LARGE), a function that fails, exits or answers malformed output 502
  (DEFAULT_5XX), no answer within the integration timeout (29 s) 504
  (INTEGRATION_TIMEOUT). A template that uses a `$context` variable API Gateway does
  not document for mapping templates is refused at start-up: on AWS it would not
  render.
- **An HTTP API** (template.yaml's `ApiType=Http`, STAGE_API_TYPE=http): the routes of
  its DefinitionBody (`ANY /`, `ANY /{proxy+}`, a `$default` route, a method's own
  route before `ANY`), its `$default` stage served at the root (a named stage is a
  path prefix that stays in `rawPath`), `DefaultRouteSettings` throttling; each
  request becomes the payload format 2.0 event (`rawPath`, `rawQueryString`,
  `cookies`, header names lower-cased and repeated values joined with commas,
  `requestContext.http`, a body base64-encoded unless its type is text) and the
  function's 2.0 answer HTTP (`headers`, `cookies` as Set-Cookie, base64 decoded
  whatever the Accept; without `statusCode`, the whole answer as a JSON body with 200).
  Its own answers are `{"message": ...}` JSON, no gateway responses: a path no route
  takes 404, throttled 429, a body over 10 MB 413, a function that fails or answers
  malformed output 500, no answer within 30 s 503. In Cognito mode its JWT
  authorizer: the token (alone or after `Bearer `) signed by the issuer, `iss`, `aud`
  (or `client_id` without `aud`) one of the audience, `exp`/`nbf`/`iat`, no look at
  `token_use`; refused, 401 `{"message":"Unauthorized"}` with `www-authenticate:
  Bearer scope="" error="invalid_token" error_description="..."` (the audience's
  wording is AWS's documented one, the others follow it; without a token, no error
  code, RFC 6750 section 3); accepted, the claims in
  `requestContext.authorizer.jwt.claims`, as strings.
  https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
  https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-troubleshooting-jwt.html
- **The function** runs under the Lambda Runtime API (tests/tools/runtime_api.py, the
  emulator the cold-start bench uses) with the template's environment, memory size and
  timeout: by default the arm64 `bootstrap` taken out of the package zip `make package`
  made with SAM's own zip function, run under qemu-user (Debian's qemu-user-static and
  libc6-arm64-cross); or any build (`--binary`, STAGE_BINARY). One execution
  environment, as one Lambda instance: concurrent requests queue (Lambda would start
  more instances). It is started on the first request and again after it exits, fails
  or overruns its timeout, as Lambda replaces a failed environment.
- **The Cognito authorizer** (a template whose API's DefinitionBody guards methods with a
  `cognito_user_pools` security scheme, template.yaml's `AuthMode=Cognito`): an OpenID
  Connect issuer on 127.0.0.1 stands in for the user pool (tests/tools/oidc_issuer.py,
  started by the stage, or `--issuer`), and the stage checks the `Authorization` header
  of each guarded method as API Gateway does: the JWT's signature with the issuer's
  keys, `iss`, `exp`; an ID token (`token_use` `id`, `aud` one of the pool's app clients)
  where the method names no scopes, else an access token (`token_use` `access`,
  `client_id` one of the app clients, one of the scopes). A missing or refused token is
  the template's UNAUTHORIZED gateway response; an accepted one's claims reach the
  function where API Gateway puts them (`requestContext.authorizer.claims`, every value
  a string). Public methods (no `security`) are not checked.
- **The stores** are the template's DynamoDB tables and Secrets Manager secrets, made
  from their definitions on moto behind TLS with a test CA made per run
  (tests/tools/aws_emulator.py); a secret's value is generated as its
  `GenerateSecretString` says, or given (`--token`, STAGE_TOKEN).

Resources whose `Condition` is false for the parameters given are not made.

Once the stage answers it prints `stage: URL` and `token: TOKEN` (with a secret), or
`issuer: URL` and `client: ID` (with the Cognito authorizer: POST {"claims": {...}} to
`issuer/mint` for a token, oidc_issuer.py); it stops on Ctrl-C
or SIGTERM and stops every process it started. Only 127.0.0.1 is used.

Routes come from the API's DefinitionBody (SAM adds nothing to a DefinitionBody of the
template's own): each path and method and the function its Lambda proxy integration
calls.

What it does not emulate: TLS on the front (plain HTTP on 127.0.0.1; the function is
told `X-Forwarded-Proto: http` so the links it makes work here), more than one
execution environment, CloudFront headers, Lambda authorizers, IAM authorization,
authorizer caching, usage plans, WAF, stage variables, caching, access logs and X-Ray.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import datetime
import json
import os
import platform
import re
import secrets
import shutil
import signal
import string
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from aws_emulator import ACCOUNT, REGION, Moto  # noqa: E402
from runtime_api import ExecutionEnvironment, Outcome  # noqa: E402

TEMPLATE = ROOT / "template.yaml"
PACKAGE = ROOT / "target" / "sam-build" / "items-api.zip"
QEMU_SYSROOT = Path("/usr/aarch64-linux-gnu")
API_ID = "localstage"
# API Gateway quotas for REST APIs
# (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html):
MAX_PAYLOAD = 10 * 1024 * 1024  # "Payload size": 10 MB
INTEGRATION_TIMEOUT_S = 29.0  # "Integration timeout": 50 ms to 29 s, 29 s by default
# HTTP APIs' quotas (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html):
# the same 10 MB payload, an integration timeout of 30 s at most.
HTTP_INTEGRATION_TIMEOUT_S = 30.0
# Lambda's quota for a synchronous invocation's request and response
# (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html): 6 MB.
MAX_INVOKE_PAYLOAD = 6 * 1024 * 1024
# The methods an `ANY` method stands for
# (https://docs.aws.amazon.com/apigateway/latest/api/API_PutMethod.html).
METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")

# "Gateway response types for API Gateway": each type's default status code and the
# message API Gateway answers with (`$context.error.message`). DEFAULT_4XX and
# DEFAULT_5XX have no status code of their own: a type without an entry of its own in
# GatewayResponses uses the DEFAULT entry of its class, with its own status code.
# https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html
GATEWAY_RESPONSE_TYPES: dict[str, int | None] = {
    "ACCESS_DENIED": 403,
    "API_CONFIGURATION_ERROR": 500,
    "AUTHORIZER_CONFIGURATION_ERROR": 500,
    "AUTHORIZER_FAILURE": 500,
    "BAD_REQUEST_PARAMETERS": 400,
    "BAD_REQUEST_BODY": 400,
    "DEFAULT_4XX": None,
    "DEFAULT_5XX": None,
    "EXPIRED_TOKEN": 403,
    "INTEGRATION_FAILURE": 504,
    "INTEGRATION_TIMEOUT": 504,
    "INVALID_API_KEY": 403,
    "INVALID_SIGNATURE": 403,
    "MISSING_AUTHENTICATION_TOKEN": 403,
    "QUOTA_EXCEEDED": 429,
    "REQUEST_TOO_LARGE": 413,
    "RESOURCE_NOT_FOUND": 404,
    "THROTTLED": 429,
    "UNAUTHORIZED": 401,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "WAF_FILTERED": 403,
}

# The `$context` variables API Gateway documents for REST API mapping templates, which
# gateway response templates are
# (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html,
# "Context variables for data transformations"). `*` stands for any name below.
DOCUMENTED_CONTEXT = {
    "accountId", "apiId", "authorizer.claims.*", "authorizer.principalId", "authorizer.*",
    "awsEndpointRequestId", "deploymentId", "domainName", "domainPrefix",
    "error.message", "error.messageString", "error.responseType", "error.validationErrorString",
    "extendedRequestId", "httpMethod",
    "identity.accountId", "identity.apiKey", "identity.apiKeyId", "identity.caller",
    "identity.clientCert.*", "identity.cognitoAuthenticationProvider",
    "identity.cognitoAuthenticationType", "identity.cognitoIdentityId",
    "identity.cognitoIdentityPoolId", "identity.principalOrgId", "identity.sourceIp",
    "identity.user", "identity.userAgent", "identity.userArn", "identity.vpcId", "identity.vpceId",
    "isCanaryRequest", "path", "protocol", "requestId", "requestOverride.*", "responseOverride.*",
    "requestTime", "requestTimeEpoch", "resourceId", "resourcePath", "stage",
    "wafResponseCode", "webaclArn", "xrayTraceId",
}
# x-amzn-ErrorType of API Gateway's own answers, where captured answers show it; the
# other types are sent without one rather than with a guess.
ERROR_TYPES = {
    "MISSING_AUTHENTICATION_TOKEN": "MissingAuthenticationTokenException",
    "DEFAULT_5XX": "InternalServerErrorException",
    "INTEGRATION_TIMEOUT": "InternalServerErrorException",
    "INTEGRATION_FAILURE": "InternalServerErrorException",
}
# How long the front waits for a client's next bytes before closing its connection.
CLIENT_TIMEOUT_S = 30.0
VARIABLE = re.compile(r"\$!?\{?(context|stageVariables|input|util|method)((?:\.[A-Za-z_][A-Za-z0-9_]*)*)\}?")

# Response headers API Gateway renames to x-amzn-Remapped-NAME, and those it drops
# ("Amazon API Gateway important notes" and "known issues": REST APIs, Lambda proxy
# integrations). WWW-Authenticate is among them, so a browser never pops up a login
# dialog: clients of a deployed stage find the service's challenge as
# x-amzn-Remapped-WWW-Authenticate.
# https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-known-issues.html
REMAPPED = {"authorization", "connection", "content-md5", "date", "server", "www-authenticate"}
DROPPED = {"content-length", "transfer-encoding", "trailer", "upgrade", "keep-alive"}


class StageError(Exception):
    """The template or the package cannot be served as API Gateway and Lambda would."""


# --- the template ---------------------------------------------------------------------

def load_template(path: Path) -> dict:
    """template.yaml as data; each CloudFormation tag becomes its long form
    (`!Ref X` → {"Ref": "X"}, `!Sub s` → {"Fn::Sub": s}, …)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def construct(loader: yaml.Loader, tag_suffix: str, node: yaml.Node) -> dict:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if tag_suffix == "Ref":
            return {"Ref": value}
        if tag_suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        if tag_suffix == "Condition":
            return {"Condition": value}
        return {f"Fn::{tag_suffix}": value}

    Loader.add_multi_constructor("!", construct)
    return yaml.load(path.read_text(), Loader=Loader)  # noqa: S506 (SafeLoader subclass)


NO_VALUE = object()


class Resolver:
    """Evaluates the intrinsic functions template.yaml uses, for one emulated stack."""

    def __init__(self, template: dict, stack: str, overrides: dict[str, str]) -> None:
        self.template = template
        self.stack = stack
        self.parameters: dict[str, Any] = {}
        for name, spec in (template.get("Parameters") or {}).items():
            if name in overrides:
                value: Any = overrides[name]
            elif "Default" in spec:
                value = spec["Default"]
            else:
                raise StageError(f"parameter {name} has no default: give it with --parameter {name}=VALUE")
            if spec.get("Type") == "Number":
                value = float(value) if "." in str(value) else int(value)
            self.parameters[name] = value
        unknown = set(overrides) - set(self.parameters)
        if unknown:
            raise StageError(f"the template has no parameter {', '.join(sorted(unknown))}")
        self.physical: dict[str, str] = {}
        self.attributes: dict[tuple[str, str], str] = {}
        # Evaluated when first asked: a condition may name another (!Condition).
        self.conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            try:
                definition = (self.template.get("Conditions") or {})[name]
            except KeyError:
                raise StageError(f"the template has no condition {name}") from None
            self.conditions[name] = bool(self.value(definition))
        return self.conditions[name]

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.value(item) for item in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::If":
                name, then, otherwise = arg
                return self.value(then if self.condition(name) else otherwise)
            if key == "Fn::Equals":
                left, right = (self.value(a) for a in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.value(arg[0])
            if key == "Fn::And":
                return all(self.value(a) for a in arg)
            if key == "Fn::Or":
                return any(self.value(a) for a in arg)
            if key == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                values = {k: self.value(v) for k, v in extra.items()}
                return re.sub(r"\$\{([^}!]+)\}", lambda m: str(
                    values[m.group(1)] if m.group(1) in values else self.sub_name(m.group(1))), text)
            if key == "Fn::GetAtt":
                return self.get_att(*self.value(arg))
            if key == "Fn::Select":
                index, values = self.value(arg[0]), self.value(arg[1])
                return values[int(index)]
            if key == "Fn::Split":
                separator, text = arg
                return str(self.value(text)).split(separator)
            if key == "Fn::Join":
                separator, parts = arg
                return separator.join(str(p) for p in self.value(parts))
            if key.startswith("Fn::"):
                raise StageError(f"the stage does not evaluate {key}")
        return {k: v for k, v in ((k, self.value(v)) for k, v in node.items()) if v is not NO_VALUE}

    def sub_name(self, name: str) -> Any:
        if "." in name:
            return self.get_att(*name.split(".", 1))
        return self.ref(name)

    def ref(self, name: str) -> Any:
        pseudo = {"AWS::StackName": self.stack, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT,
                  "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": NO_VALUE}
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical:
            return self.physical[name]
        raise StageError(f"the stage cannot resolve Ref {name}")

    def get_att(self, name: str, attribute: str) -> str:
        try:
            return self.attributes[(name, attribute)]
        except KeyError:
            raise StageError(f"the stage cannot resolve GetAtt {name}.{attribute}") from None


def physical_name(stack: str, logical: str) -> str:
    """A name like CloudFormation's generated ones: STACK-LOGICAL-SUFFIX."""
    return f"{stack}-{logical}-{secrets.token_hex(6).upper()}"


# --- gateway responses ------------------------------------------------------------------

@dataclass
class GatewayResponse:
    status: int | None
    headers: dict[str, str]
    templates: dict[str, str]


def context_name_documented(name: str) -> bool:
    if name in DOCUMENTED_CONTEXT:
        return True
    return any(pattern.endswith(".*") and name.startswith(pattern[:-1]) for pattern in DOCUMENTED_CONTEXT)


def check_template_text(response_type: str, text: str) -> None:
    """Refuses what API Gateway would not render: an undocumented `$context` variable,
    or anything but variable references (the stage renders no VTL directives)."""
    for match in VARIABLE.finditer(text):
        root, name = match.group(1), match.group(2).lstrip(".")
        if root != "context":
            raise StageError(f"gateway response {response_type}: the stage renders $context variables only, "
                             f"not {match.group(0)}")
        if not context_name_documented(name):
            raise StageError(f"gateway response {response_type}: $context.{name} is not a $context variable "
                             "API Gateway documents for mapping templates; it would not render")
    if re.search(r"(^|[^\\])#(if|foreach|set|else|end|elseif|macro|include|parse|stop|break)\b", text):
        raise StageError(f"gateway response {response_type}: the stage renders variable references only, "
                         "not VTL directives")


def gateway_responses(properties: dict) -> dict[str, GatewayResponse]:
    found: dict[str, GatewayResponse] = {}
    for response_type, spec in (properties.get("GatewayResponses") or {}).items():
        if response_type not in GATEWAY_RESPONSE_TYPES:
            raise StageError(f"{response_type} is not a gateway response type")
        headers = {}
        for name, value in ((spec.get("ResponseParameters") or {}).get("Headers") or {}).items():
            if not (isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == "'"):
                raise StageError(f"gateway response {response_type}: header {name} must be a static 'value'")
            headers[name] = value[1:-1]
        templates = {k: v for k, v in (spec.get("ResponseTemplates") or {}).items()}
        for text in templates.values():
            check_template_text(response_type, text)
        status = spec.get("StatusCode")
        found[response_type] = GatewayResponse(int(status) if status is not None else None, headers, templates)
    return found


def render(text: str, context: dict[str, str]) -> str:
    def value(match: re.Match) -> str:
        return context.get(match.group(2).lstrip("."), "")
    return VARIABLE.sub(value, text)


# --- the stage's configuration -------------------------------------------------------

@dataclass
class Route:
    resource: str  # "/" or "/{proxy+}", as in the event's `resource`
    method: str  # "ANY" or one method
    pattern: re.Pattern
    names: list[str]
    # The authorizer's scopes for this method ([]: none asked), None: public.
    scopes: list[str] | None = None
    payload_format: str = "1.0"  # the integration's payloadFormatVersion (HTTP APIs)


@dataclass
class CognitoAuthorizer:
    """A REST API's `cognito_user_pools` security scheme (the pools, their ARNs, and
    the app clients whose tokens it accepts), or an HTTP API's `jwt` one (`jwt` True:
    the issuer in `provider_arns`, the audience in `client_ids`)."""
    scheme: str
    provider_arns: list[str]
    client_ids: list[str]
    jwt: bool = False


@dataclass
class StageConfig:
    stage: str
    routes: list[Route]
    binary_media_types: list[str]
    throttling: list[tuple[str, str, float, int]]  # (resource path, method, rate, burst)
    responses: dict[str, GatewayResponse]
    function_logical: str
    function_name: str
    timeout_s: float
    memory_mb: int
    architectures: list[str]
    log_group: str
    log_level: str
    tables: dict[str, dict]  # logical → resolved properties
    secrets_: dict[str, dict]
    resolver: Resolver = field(repr=False)
    authorizer: CognitoAuthorizer | None = None
    kind: str = "rest"  # "rest": a REST API (v1 events); "http": an HTTP API (2.0 events)


def route_for(path: str, method: str) -> Route:
    if path == "$default":  # an HTTP API's catch-all route: any path no other route matches
        return Route(path, "ANY", re.compile("^/.*$", re.DOTALL), [])
    names: list[str] = []
    parts = []
    for segment in path.strip("/").split("/") if path.strip("/") else []:
        greedy = re.fullmatch(r"\{([A-Za-z0-9_]+)\+\}", segment)
        single = re.fullmatch(r"\{([A-Za-z0-9_]+)\}", segment)
        if greedy:
            names.append(greedy.group(1))
            parts.append("(.+)")
        elif single:
            names.append(single.group(1))
            parts.append("([^/]+)")
        else:
            parts.append(re.escape(segment))
    pattern = re.compile("^/" + "/".join(parts) + "$", re.DOTALL)
    return Route(path, method.upper(), pattern, names)


API_KINDS = {"AWS::Serverless::Api": "rest", "AWS::Serverless::HttpApi": "http"}


def read_stage(template: dict, resolver: Resolver) -> StageConfig:
    resources: dict = template.get("Resources") or {}
    globals_function = (template.get("Globals") or {}).get("Function") or {}
    # What CloudFormation would not make for these parameters.
    resources = {name: r for name, r in resources.items()
                 if "Condition" not in r or resolver.condition(r["Condition"])}
    apis = [name for name, r in resources.items() if r.get("Type") in API_KINDS]
    if len(apis) != 1:
        raise StageError("the stage serves a template that makes one AWS::Serverless::Api or "
                         f"AWS::Serverless::HttpApi for these parameters; this one makes {len(apis)}")
    api_name = apis[0]
    kind = API_KINDS[resources[api_name]["Type"]]
    # Physical ids first: the environment refers to them.
    tables, secrets_found, clients = {}, {}, []
    for name, resource in resources.items():
        kind_of = resource.get("Type")
        if kind_of == "AWS::DynamoDB::Table":
            props = resource.get("Properties") or {}
            table = props.get("TableName") or physical_name(resolver.stack, name)
            resolver.physical[name] = table
            resolver.attributes[(name, "Arn")] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}"
            tables[name] = props
        elif kind_of == "AWS::SecretsManager::Secret":
            secrets_found[name] = resource.get("Properties") or {}
            resolver.physical[name] = ""  # the ARN, once moto made the secret
        elif kind_of == "AWS::Logs::LogGroup":
            group = resolver.value((resource.get("Properties") or {}).get("LogGroupName")) or name
            resolver.physical[name] = group
            resolver.attributes[(name, "Arn")] = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:*"
        elif kind_of == "AWS::Serverless::Function":
            props = resource.get("Properties") or {}
            function = resolver.value(props.get("FunctionName")) if "FunctionName" in props else \
                physical_name(resolver.stack, name)
            resolver.physical[name] = function
            resolver.attributes[(name, "Arn")] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}"
            if props.get("AutoPublishAlias"):  # SAM's `!Ref Function.Alias`
                resolver.physical[f"{name}.Alias"] = \
                    f"{resolver.attributes[(name, 'Arn')]}:{resolver.value(props['AutoPublishAlias'])}"
        elif kind_of == "AWS::Cognito::UserPool":
            pool = f"{REGION}_{secrets.token_hex(5)}"
            resolver.physical[name] = pool
            resolver.attributes[(name, "Arn")] = f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{pool}"
        elif kind_of == "AWS::Cognito::UserPoolClient":
            client = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(26))
            resolver.physical[name] = client
            clients.append(client)
        else:
            resolver.physical.setdefault(name, physical_name(resolver.stack, name))
    api_props = resources[api_name].get("Properties") or {}
    if api_props.get("Auth") or any(
            (e.get("Properties") or {}).get("Auth")
            for r in resources.values() if r.get("Type") == "AWS::Serverless::Function"
            for e in ((r.get("Properties") or {}).get("Events") or {}).values()):
        raise StageError(f"{api_name}: the stage reads authorization from the DefinitionBody, not from SAM's Auth")
    api = resolver.value(api_props)
    body = api.get("DefinitionBody") or {}
    functions = {name: resolver.attributes[(name, "Arn")] for name, r in resources.items()
                 if r.get("Type") == "AWS::Serverless::Function"}
    routes, called = body_routes(body, functions)
    if len(called) != 1:
        raise StageError(f"the stage serves one function behind {api_name}; its DefinitionBody calls "
                         f"{len(called)}")
    function_logical = called.pop()
    function = resources[function_logical]
    props = {**globals_function, **(function.get("Properties") or {})}
    clients += [str(resolver.parameters[p]) for p in ("ExistingUserPoolClientId",) if resolver.parameters.get(p)]
    authorizer = guard_routes(body, routes, clients)
    throttling = []
    if kind == "http":
        # DefaultRouteSettings: every route of the stage.
        settings = [dict(api.get("DefaultRouteSettings") or {}, ResourcePath="/*", HttpMethod="*")]
        stage_name = str(api.get("StageName") or "$default")
    else:
        settings = api.get("MethodSettings") or []
        stage_name = str(resolver.value(api.get("StageName")))
    for setting in settings:
        if "ThrottlingRateLimit" in setting or "ThrottlingBurstLimit" in setting:
            throttling.append((setting.get("ResourcePath", "/*"), setting.get("HttpMethod", "*"),
                               float(setting.get("ThrottlingRateLimit", 10000)),
                               int(setting.get("ThrottlingBurstLimit", 5000))))
    logging_config = resolver.value(props.get("LoggingConfig") or {})
    return StageConfig(
        stage=stage_name,
        routes=routes,
        binary_media_types=[t.replace("~1", "/") for t in api.get("BinaryMediaTypes") or []],
        throttling=throttling,
        responses=gateway_responses(api),
        function_logical=function_logical,
        function_name=resolver.physical[function_logical],
        timeout_s=float(resolver.value(props.get("Timeout", 3))),
        memory_mb=int(resolver.value(props.get("MemorySize", 128))),
        architectures=resolver.value(props.get("Architectures") or ["x86_64"]),
        log_group=str(logging_config.get("LogGroup") or f"/aws/lambda/{resolver.physical[function_logical]}"),
        log_level=str(logging_config.get("ApplicationLogLevel") or ""),
        tables=tables,
        secrets_=secrets_found,
        resolver=resolver,
        authorizer=authorizer,
        kind=kind,
    )


def body_routes(body: dict, functions: dict[str, str]) -> tuple[list[Route], set[str]]:
    """The routes of an API's DefinitionBody (each path and method, `ANY` for
    `x-amazon-apigateway-any-method`, an HTTP API's `$default` route) and the functions
    (logical ids) their Lambda proxy integrations call. SAM adds nothing to a
    DefinitionBody of the template's own, so this is what API Gateway routes."""
    routes: list[Route] = []
    called: set[str] = set()
    for path, methods in (body.get("paths") or {}).items():
        for key, operation in (methods or {}).items():
            if key == "x-amazon-apigateway-any-method":
                method = "ANY"
            elif key.upper() in METHODS:
                method = key.upper()
            else:
                continue
            integration = (operation or {}).get("x-amazon-apigateway-integration") or {}
            if integration.get("type") != "aws_proxy":
                raise StageError(f"{method} {path}: the stage emulates Lambda proxy integrations (aws_proxy) only")
            uri = str(integration.get("uri") or "")
            names = [name for name, arn in functions.items() if f"{arn}:" in uri or uri.endswith(arn)
                     or f"{arn}/" in uri]
            if len(names) != 1:
                raise StageError(f"{method} {path}: its integration calls no function of the template ({uri})")
            called.add(names[0])
            route = route_for(path, method)
            route.payload_format = str(integration.get("payloadFormatVersion") or "1.0")
            routes.append(route)
    if not routes:
        raise StageError("the API's DefinitionBody has no routes with a Lambda proxy integration")
    return routes, called


def guard_routes(body: dict, routes: list[Route], client_ids: list[str]) -> CognitoAuthorizer | None:
    """Marks each route that the API's DefinitionBody guards with a Cognito user pool
    authorizer (its `security`), and returns that authorizer. A method's own entry wins
    over `x-amazon-apigateway-any-method`, as in API Gateway."""
    schemes = (body.get("components") or {}).get("securitySchemes") or body.get("securityDefinitions") or {}
    paths = body.get("paths") or {}
    found: CognitoAuthorizer | None = None
    for route in routes:
        methods = paths.get(route.resource) or {}
        key = "x-amazon-apigateway-any-method" if route.method == "ANY" else route.method.lower()
        security = (methods.get(key) or {}).get("security") or []
        if not security:
            continue
        if len(security) != 1 or len(security[0]) != 1:
            raise StageError(f"{route.method} {route.resource}: the stage emulates one authorizer a method")
        (scheme_name, scopes), = security[0].items()
        scheme = schemes.get(scheme_name) or {}
        config = scheme.get("x-amazon-apigateway-authorizer") or {}
        if config.get("type") not in ("cognito_user_pools", "jwt"):
            raise StageError(f"{route.method} {route.resource}: security scheme {scheme_name} is not a Cognito "
                             "user pool or JWT authorizer (the stage emulates no other)")
        if found is not None and found.scheme != scheme_name:
            raise StageError("the stage emulates one authorizer an API")
        if config["type"] == "jwt":
            # An HTTP API's JWT authorizer: the audience is what it names, not the pool's clients.
            jwt_config = config.get("jwtConfiguration") or {}
            if config.get("identitySource") != "$request.header.Authorization":
                raise StageError(f"{scheme_name}: the stage reads JWTs from $request.header.Authorization only")
            found = CognitoAuthorizer(scheme_name, [str(jwt_config.get("issuer") or "")],
                                      [str(a) for a in jwt_config.get("audience") or []], jwt=True)
        else:
            found = CognitoAuthorizer(scheme_name, list(config.get("providerARNs") or []), client_ids)
        route.scopes = list(scopes or [])
    return found


# --- throttling ---------------------------------------------------------------------------

class TokenBucket:
    """API Gateway's throttling: `burst` requests at once, refilled at `rate` a second
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.capacity = rate, float(burst)
        self.tokens = float(burst)
        self.updated = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


# --- the stage ------------------------------------------------------------------------

@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def is_binary(content_type: str, binary_types: list[str]) -> bool:
    """Whether `content_type` matches one of the API's binary media types (`*` matches
    any type or subtype, as in `*/*` and `image/*`)."""
    if not content_type:
        return False
    kind, _, sub = content_type.partition("/")
    for binary in binary_types:
        b_kind, _, b_sub = binary.lower().partition("/")
        if b_kind in ("*", kind) and b_sub in ("*", sub):
            return True
    return False


class Stage:
    """The REST API stage: requests in, REST v1 events to the function, answers out."""

    def __init__(self, config: StageConfig, environment: ExecutionEnvironment,
                 integration_timeout_s: float = INTEGRATION_TIMEOUT_S, issuer: str | None = None) -> None:
        self.config = config
        # The OpenID Connect issuer standing in for the authorizer's user pool.
        self.issuer = issuer
        self.keys: Any = None  # jwt.PyJWKClient, made on the first guarded request
        self.function = environment
        self.integration_timeout_s = integration_timeout_s
        self.buckets = [(path, method, TokenBucket(rate, burst))
                        for path, method, rate, burst in config.throttling]
        # An HTTP API's $default stage is served at the root.
        self.prefix = "" if config.stage == "$default" else f"/{config.stage}"
        self.busy = 0  # requests handed to the function and not yet answered
        self.idle = threading.Condition()

    @contextlib.contextmanager
    def in_flight(self):
        """Counts a request from its invocation to its answer, for a clean stop."""
        with self.idle:
            self.busy += 1
        try:
            yield
        finally:
            with self.idle:
                self.busy -= 1
                self.idle.notify_all()

    def drain(self, timeout: float) -> None:
        """Waits until every request in flight has its answer (at most `timeout`)."""
        with self.idle:
            self.idle.wait_for(lambda: self.busy == 0, timeout)

    # The request: what API Gateway would send the function.

    def match(self, path: str, method: str) -> tuple[Route, dict[str, str]] | None:
        """The route API Gateway picks: walking the resource tree, a literal segment
        before a {variable} before a {greedy+} one; on that resource a method of its own
        before ANY. One trailing slash is ignored for a resource's own path (/api/items/
        is /api/items), as API Gateway's resource paths have none."""
        decoded = urllib.parse.unquote(path)
        candidates = [decoded] + ([decoded[:-1]] if len(decoded) > 1 and decoded.endswith("/") else [])
        best = None
        for route in self.config.routes:
            if route.method not in ("ANY", method):
                continue
            for candidate in candidates:
                found = route.pattern.match(candidate)
                if found:
                    segments = [s for s in route.resource.split("/") if s]
                    rank = (tuple(2 if s.endswith("+}") else 1 if s.startswith("{") else 0 for s in segments),
                            route.method == "ANY")
                    if route.resource == "$default":  # only where no other route matches
                        rank = ((3,), True)
                    if best is None or rank < best[0]:
                        best = (rank, route, dict(zip(route.names, found.groups())))
                    break
        return (best[1], best[2]) if best else None

    def refill(self) -> None:
        """Full buckets, as a stage that has had no requests (after the stage's own check)."""
        self.buckets = [(path, method, TokenBucket(bucket.rate, int(bucket.capacity)))
                        for path, method, bucket in self.buckets]

    def throttled(self, resource: str, method: str) -> bool:
        chosen = None
        for path, setting_method, bucket in self.buckets:
            resource_path = path.replace("~1", "/")
            if resource_path in ("/*", resource) and setting_method in ("*", method):
                specific = (resource_path != "/*") * 2 + (setting_method != "*")
                if chosen is None or specific > chosen[0]:
                    chosen = (specific, bucket)
        return chosen is not None and not chosen[1].take()

    # The Cognito authorizer.

    def authorize(self, route: Route, authorization: str | None) -> tuple[dict[str, Any] | None, str | None]:
        """What API Gateway's Cognito user pool authorizer decides for a guarded method:
        the token's claims, or the message of its UNAUTHORIZED answer.
        https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-integrate-with-cognito.html
        https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-tokens-verifying-a-jwt.html"""
        import jwt

        if self.issuer is None or self.config.authorizer is None:
            raise StageError("a guarded method needs the authorizer's issuer")
        token = (authorization or "").strip()
        # The header's value is the token, with or without the Bearer scheme.
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        if not token:
            return None, "Unauthorized"
        if self.keys is None:
            with urllib.request.urlopen(f"{self.issuer}/.well-known/openid-configuration", timeout=10) as answer:
                self.keys = jwt.PyJWKClient(json.loads(answer.read())["jwks_uri"], cache_keys=True)
        try:
            key = self.keys.get_signing_key_from_jwt(token)
            # User pools sign with RS256 only.
            claims = jwt.decode(token, key.key, algorithms=["RS256"], issuer=self.issuer,
                                options={"require": ["exp", "iss", "token_use"], "verify_aud": False})
        except jwt.ExpiredSignatureError:
            return None, "The incoming token has expired"
        except (jwt.PyJWTError, ValueError):
            return None, "Unauthorized"
        clients = self.config.authorizer.client_ids
        if route.scopes:
            # Scopes on the method: an access token of an app client, with one of them.
            granted = str(claims.get("scope") or "").split()
            if (claims.get("token_use") != "access" or claims.get("client_id") not in clients
                    or not set(granted) & set(route.scopes)):
                return None, "Unauthorized"
        elif claims.get("token_use") != "id" or claims.get("aud") not in clients:
            # No scopes: an ID token, issued to one of the pool's app clients.
            return None, "Unauthorized"
        return claims, None

    def event(self, request: "Request", route: Route, parameters: dict[str, str], context: dict,
              claims: dict[str, Any] | None = None) -> dict:
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        for name, value in request.headers:
            headers[name] = value
            multi_headers.setdefault(name, []).append(value)
        query_single: dict[str, str] = {}
        query_multi: dict[str, list[str]] = {}
        for part in filter(None, request.query.split("&")):
            key, _, value = part.partition("=")
            key, value = urllib.parse.unquote(key), urllib.parse.unquote(value)
            query_single[key] = value
            query_multi.setdefault(key, []).append(value)
        body = request.body
        content_type = media_type(dict((k.lower(), v) for k, v in request.headers).get("content-type"))
        binary = is_binary(content_type, self.config.binary_media_types)
        if body and binary:
            body_text: str | None = base64.b64encode(body).decode()
        elif body:
            body_text = body.decode("utf-8", errors="replace")
        else:
            body_text = None
        return {
            "resource": route.resource,
            "path": request.path,
            "httpMethod": request.method,
            "headers": headers or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": query_single or None,
            "multiValueQueryStringParameters": query_multi or None,
            "pathParameters": parameters or None,
            "stageVariables": None,
            "requestContext": {
                "resourceId": context["resourceId"],
                "resourcePath": route.resource,
                "httpMethod": request.method,
                "extendedRequestId": context["extendedRequestId"],
                "requestTime": context["requestTime"],
                "path": context["path"],
                "accountId": ACCOUNT,
                "protocol": "HTTP/1.1",
                "stage": self.config.stage,
                "domainPrefix": context["domainPrefix"],
                "requestTimeEpoch": int(context["requestTimeEpoch"]),
                "requestId": context["requestId"],
                "identity": {
                    "cognitoIdentityPoolId": None, "accountId": None, "cognitoIdentityId": None,
                    "caller": None, "apiKey": None, "sourceIp": request.client_ip,
                    "principalOrgId": None, "accessKey": None, "cognitoAuthenticationType": None,
                    "cognitoAuthenticationProvider": None, "userArn": None,
                    "userAgent": headers.get("User-Agent") or headers.get("user-agent"), "user": None,
                },
                "domainName": context["domainName"],
                "deploymentId": context["deploymentId"],
                "apiId": API_ID,
                **({"authorizer": {"claims": rest_claims(claims)}} if claims is not None else {}),
            },
            "body": body_text,
            "isBase64Encoded": bool(body_text is not None and binary),
        }

    # The answer: a gateway response, or the function's.

    def gateway(self, response_type: str, context: dict, message: str, status: int | None = None) -> Answer:
        own = GATEWAY_RESPONSE_TYPES[response_type]
        status = status or own
        if status is None:
            raise ValueError(f"{response_type} needs a status")
        entry = self.config.responses.get(response_type)
        if entry is None:
            entry = self.config.responses.get("DEFAULT_4XX" if status < 500 else "DEFAULT_5XX")
        if entry is not None and entry.status is not None:
            status = entry.status
        values = {**context, "error.message": message, "error.messageString": json.dumps(message),
                  "error.responseType": response_type, "error.validationErrorString": ""}
        headers = [("Content-Type", "application/json")]
        body = json.dumps({"message": message}).encode()
        if entry is not None:
            if entry.templates:
                # API Gateway picks the template for the Accept type, else application/json.
                template = entry.templates.get("application/json") or next(iter(entry.templates.values()))
                body = render(template, values).encode()
            for name, value in entry.headers.items():
                headers = [(n, v) for n, v in headers if n.lower() != name.lower()] + [(name, value)]
        headers += [("x-amzn-RequestId", context["requestId"]), ("x-amz-apigw-id", context["extendedRequestId"])]
        if response_type in ERROR_TYPES:
            headers.append(("x-amzn-ErrorType", ERROR_TYPES[response_type]))
        return Answer(status, headers, body)

    def answer_from(self, outcome: Outcome, accept: str | None, context: dict) -> Answer:
        failed = "Internal server error"
        if outcome.kind == "caller-timeout":
            return self.gateway("INTEGRATION_TIMEOUT", context, "Endpoint request timed out")
        if outcome.kind != "response":
            # Lambda reports the failure to API Gateway, which answers 502 itself.
            sys.stderr.write(f"stage: {context['requestId']}: the function failed: {outcome.kind} "
                             f"{outcome.detail or outcome.payload[:300].decode(errors='replace')}\n")
            return self.gateway("DEFAULT_5XX", context, failed, status=502)
        if len(outcome.payload) > MAX_INVOKE_PAYLOAD:
            sys.stderr.write(f"stage: {context['requestId']}: the function's answer is over Lambda's 6 MB\n")
            return self.gateway("DEFAULT_5XX", context, failed, status=502)
        try:
            answer = self.proxy_response(json.loads(outcome.payload), accept)
        except (ValueError, TypeError) as error:
            sys.stderr.write(f"stage: {context['requestId']}: Malformed Lambda proxy response: {error}\n")
            return self.gateway("DEFAULT_5XX", context, failed, status=502)
        answer.headers += [("x-amzn-RequestId", context["requestId"]),
                           ("x-amz-apigw-id", context["extendedRequestId"]),
                           ("X-Amzn-Trace-Id", context["xrayTraceId"])]
        return answer

    def proxy_response(self, payload: Any, accept: str | None) -> Answer:
        """The function's REST v1 proxy response as API Gateway sends it on
        (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html,
        "Output format of a Lambda function for proxy integration")."""
        if not isinstance(payload, dict):
            raise ValueError("the answer is not a JSON object")
        status = payload.get("statusCode")
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError(f"statusCode {status!r} is not an HTTP status code")
        single = payload.get("headers") or {}
        multi = payload.get("multiValueHeaders") or {}
        if not isinstance(single, dict) or not isinstance(multi, dict):
            raise ValueError("headers and multiValueHeaders must be objects")
        merged: dict[str, list[str]] = {}
        for name, value in single.items():
            if isinstance(value, (dict, list)):
                raise ValueError(f"header {name} is not a string")
            merged[name] = [str(value)]
        for name, values in multi.items():
            if not isinstance(values, list):
                raise ValueError(f"multiValueHeaders {name} is not a list")
            # A header in both: only multiValueHeaders' values are sent.
            merged[name] = [str(v) for v in values]
        body = payload.get("body")
        if body is not None and not isinstance(body, str):
            raise ValueError("body is not a string")
        encoded = payload.get("isBase64Encoded", False)
        if not isinstance(encoded, bool):
            raise ValueError("isBase64Encoded is not a boolean")
        data = (body or "").encode()
        # The request's first Accept type decides whether a base64 body is decoded.
        first_accept = media_type((accept or "").split(",", 1)[0])
        if encoded and body and is_binary(first_accept, self.config.binary_media_types):
            try:
                data = base64.b64decode(body, validate=True)
            except ValueError:
                raise ValueError("the body is marked base64 but is not") from None
        headers: list[tuple[str, str]] = []
        for name, values in merged.items():
            lower = name.lower()
            if lower in DROPPED:
                continue
            target = f"x-amzn-Remapped-{name}" if lower in REMAPPED else name
            headers += [(target, v) for v in values]
        if not any(n.lower() == "content-type" for n, _ in headers):
            headers.append(("Content-Type", "application/json"))
        return Answer(status, headers, data)

    # An HTTP API (ApiType Http): payload format 2.0 and the HTTP API's own answers.
    # https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html

    def authorize_jwt(self, route: Route, authorization: str | None) -> tuple[dict[str, Any] | None, str | None]:
        """What an HTTP API's JWT authorizer decides: the token's claims, or why it is
        refused (None and None: no token at all). The token alone or after `Bearer `;
        its signature with the issuer's keys; `iss` the issuer; `aud`, or `client_id`
        when there is no `aud`, one of the audience; `exp`, `nbf`, `iat`; one of the
        route's scopes if it names any. It does not look at `token_use`: ID and access
        tokens alike pass.
        https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html
        https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-troubleshooting-jwt.html"""
        import jwt

        if self.issuer is None or self.config.authorizer is None:
            raise StageError("a guarded route needs the authorizer's issuer")
        token = (authorization or "").strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        if not token:
            return None, None
        if self.keys is None:
            with urllib.request.urlopen(f"{self.issuer}/.well-known/openid-configuration", timeout=10) as answer:
                self.keys = jwt.PyJWKClient(json.loads(answer.read())["jwks_uri"], cache_keys=True)
        try:
            key = self.keys.get_signing_key_from_jwt(token)
            claims = jwt.decode(token, key.key, algorithms=["RS256"], issuer=self.issuer,
                                options={"require": ["exp", "iss"], "verify_aud": False})
        except jwt.ExpiredSignatureError:
            return None, "the token has expired"
        except jwt.InvalidIssuerError:
            return None, "the token does not have a valid issuer"
        except (jwt.PyJWTError, ValueError):
            return None, "the token is not valid"
        audience = set(self.config.authorizer.client_ids)
        if "aud" in claims:
            aud = claims["aud"]
            valid = bool(audience & set([aud] if isinstance(aud, str) else aud or []))
        else:
            valid = claims.get("client_id") in audience
        if not valid:
            return None, "the token does not have a valid audience"
        if route.scopes:
            granted = str(claims.get("scope") or "").split()
            if not set(granted) & set(route.scopes):
                return None, "the token does not have the required scope"
        return claims, None

    def http_event(self, request: "Request", raw_path: str, route: Route, parameters: dict[str, str],
                   context: dict, claims: dict[str, Any] | None = None) -> dict:
        """The payload format 2.0 event: header names lower-cased and repeated values
        joined with commas, `Cookie` headers as `cookies`, the query as sent
        (`rawQueryString`) and parsed (repeated values joined with commas), `rawPath`
        the client's whole path (a named stage stays in it, aws-lambda-rust-runtime#919),
        a body base64-encoded unless its type is text."""
        headers: dict[str, str] = {}
        cookies: list[str] = []
        for name, value in request.headers:
            lower = name.lower()
            if lower == "cookie":
                cookies += [c.strip() for c in value.split(";") if c.strip()]
                continue
            headers[lower] = f"{headers[lower]},{value}" if lower in headers else value
        query: dict[str, str] = {}
        for part in filter(None, request.query.split("&")):
            key, _, value = part.partition("=")
            key, value = urllib.parse.unquote_plus(key), urllib.parse.unquote_plus(value)
            query[key] = f"{query[key]},{value}" if key in query else value
        body = request.body
        content_type = media_type(headers.get("content-type"))
        text = content_type.startswith("text/") or content_type.endswith(("/json", "+json", "/xml", "+xml")) \
            or content_type in ("application/javascript", "application/x-www-form-urlencoded")
        if not body:
            body_text, encoded = None, False
        elif text:
            body_text, encoded = body.decode("utf-8", errors="replace"), False
        else:
            body_text, encoded = base64.b64encode(body).decode(), True
        route_key = "$default" if route.resource == "$default" else f"{route.method} {route.resource}"
        now = int(context["requestTimeEpoch"])
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": raw_path,
            "rawQueryString": request.query,
            "headers": headers,
            "requestContext": {
                "accountId": ACCOUNT,
                "apiId": API_ID,
                "domainName": context["domainName"],
                "domainPrefix": context["domainPrefix"],
                "http": {"method": request.method, "path": raw_path, "protocol": "HTTP/1.1",
                         "sourceIp": request.client_ip, "userAgent": headers.get("user-agent", "")},
                "requestId": context["extendedRequestId"],
                "routeKey": route_key,
                "stage": self.config.stage,
                "time": context["requestTime"],
                "timeEpoch": now,
            },
            "isBase64Encoded": encoded,
        }
        if cookies:
            event["cookies"] = cookies
        if query:
            event["queryStringParameters"] = query
        if parameters:
            event["pathParameters"] = parameters
        if body_text is not None:
            event["body"] = body_text
        if claims is not None:
            event["requestContext"]["authorizer"] = {"jwt": {"claims": http_claims(claims), "scopes": None}}
        return event

    def http_gateway(self, status: int, message: str, context: dict,
                     headers: list[tuple[str, str]] | None = None) -> Answer:
        """An HTTP API's own answer: `{"message": ...}`, no gateway responses to change it."""
        return Answer(status, [("Content-Type", "application/json"), *(headers or []),
                               ("apigw-requestid", context["extendedRequestId"])],
                      json.dumps({"message": message}, separators=(",", ":")).encode())

    def http_answer_from(self, outcome: Outcome, context: dict) -> Answer:
        if outcome.kind == "caller-timeout":
            return self.http_gateway(503, "Service Unavailable", context)
        if outcome.kind != "response" or len(outcome.payload) > MAX_INVOKE_PAYLOAD:
            sys.stderr.write(f"stage: {context['requestId']}: the function failed: {outcome.kind} "
                             f"{outcome.detail or outcome.payload[:300].decode(errors='replace')}\n")
            return self.http_gateway(500, "Internal Server Error", context)
        try:
            answer = self.http_response(json.loads(outcome.payload))
        except (ValueError, TypeError) as error:
            sys.stderr.write(f"stage: {context['requestId']}: malformed Lambda response: {error}\n")
            return self.http_gateway(500, "Internal Server Error", context)
        answer.headers.append(("apigw-requestid", context["extendedRequestId"]))
        return answer

    def http_response(self, payload: Any) -> Answer:
        """The function's 2.0 answer as an HTTP API sends it on: `statusCode`, `headers`,
        `cookies` (each a Set-Cookie), `body`, decoded when `isBase64Encoded`; without a
        `statusCode`, the whole answer is a JSON body with status 200 (the inferred
        format). `multiValueHeaders` means nothing in format 2.0."""
        if not isinstance(payload, dict) or "statusCode" not in payload:
            return Answer(200, [("Content-Type", "application/json")], json.dumps(payload).encode())
        status = payload.get("statusCode")
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError(f"statusCode {status!r} is not an HTTP status code")
        headers_in = payload.get("headers") or {}
        cookies = payload.get("cookies") or []
        if not isinstance(headers_in, dict) or not isinstance(cookies, list):
            raise ValueError("headers must be an object and cookies a list")
        headers: list[tuple[str, str]] = []
        for name, value in headers_in.items():
            if isinstance(value, (dict, list)):
                raise ValueError(f"header {name} is not a string")
            if name.lower() not in DROPPED:
                headers.append((name, str(value)))
        headers += [("Set-Cookie", str(cookie)) for cookie in cookies]
        body = payload.get("body")
        if body is not None and not isinstance(body, str):
            raise ValueError("body is not a string")
        data = (body or "").encode()
        if payload.get("isBase64Encoded") and body:
            try:
                data = base64.b64decode(body, validate=True)
            except ValueError:
                raise ValueError("the body is marked base64 but is not") from None
        return Answer(status, headers, data)


def http_claims(claims: dict[str, Any]) -> dict[str, str]:
    """The token's claims as an HTTP API's JWT authorizer hands them on
    (`requestContext.authorizer.jwt.claims`): strings, numbers as digits, a list as
    `[a b]`."""
    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        if isinstance(value, list):
            return "[" + " ".join(text(v) for v in value) + "]"
        if isinstance(value, dict):
            return json.dumps(value, separators=(",", ":"))
        return str(value)
    return {name: text(value) for name, value in claims.items()}


def rest_claims(claims: dict[str, Any]) -> dict[str, str]:
    """The token's claims as a REST API's Cognito authorizer hands them on: every value
    a string; `exp` and `iat` as dates (`Sun Dec 17 07:28:12 UTC 2017`), other numbers
    as digits, booleans as `true`/`false`, a list such as `cognito:groups` as `[a b]`."""
    def text(name: str, value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if name in ("exp", "iat") and isinstance(value, (int, float)):
            return time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(value))
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        if isinstance(value, list):
            return "[" + " ".join(text(name, v) for v in value) + "]"
        if isinstance(value, dict):
            return json.dumps(value, separators=(",", ":"))
        return str(value)
    return {name: text(name, value) for name, value in claims.items()}


@dataclass
class Request:
    method: str
    path: str  # after the stage, still percent-encoded; "/" at least
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    client_ip: str


def request_context(stage: Stage, full_path: str, method: str, host: str) -> dict[str, str]:
    now = datetime.datetime.now(datetime.timezone.utc)
    request_id = str(uuid.uuid4())
    return {
        "requestId": request_id,
        "extendedRequestId": base64.b64encode(secrets.token_bytes(12)).decode()[:16],
        "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "requestTimeEpoch": str(int(now.timestamp() * 1000)),
        "path": full_path,
        "stage": stage.config.stage,
        "httpMethod": method,
        "domainName": host.split(":", 1)[0] if host else "127.0.0.1",
        "domainPrefix": (host.split(".", 1)[0] if host else "127").split(":", 1)[0],
        "apiId": API_ID,
        "accountId": ACCOUNT,
        "resourceId": "localres",
        "deploymentId": "localdep",
        "protocol": "HTTP/1.1",
        "xrayTraceId": f"Root=1-{int(now.timestamp()):08x}-{secrets.token_hex(12)}",
        "identity.sourceIp": "127.0.0.1",
    }


def make_handler(stage: Stage):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "items-api-stage"
        # Headers and body leave at once: with Nagle's algorithm the body waited for the
        # client's delayed ACK, 40 ms a request (make bench-stage).
        disable_nagle_algorithm = True
        timeout = CLIENT_TIMEOUT_S  # a client that stops sending does not hold a thread

        def log_message(self, format: str, *args) -> None:  # noqa: A002
            if os.environ.get("STAGE_ACCESS_LOG"):
                super().log_message(format, *args)

        def send_response(self, code: int, message: str | None = None) -> None:
            # API Gateway sends Date, not a Server header of its own.
            self.log_request(code)
            self.send_response_only(code, message)
            self.send_header("Date", self.date_time_string())

        def __getattr__(self, name: str):
            if name.startswith("do_"):
                return self.dispatch
            raise AttributeError(name)

        def send(self, answer: Answer, head_only: bool = False) -> None:
            self.send_response(answer.status)
            for name, value in answer.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if not head_only:
                self.wfile.write(answer.body)

        def read_body(self) -> bytes | None:
            """The body, or None when it is over API Gateway's payload limit; raises
            ValueError when its framing is not HTTP."""
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                chunks, size = [], 0
                while True:
                    line = self.rfile.readline(1024)
                    size_field = line.split(b";", 1)[0].strip()
                    if not re.fullmatch(rb"[0-9A-Fa-f]{1,8}", size_field):
                        raise ValueError(f"chunk size {size_field[:20]!r}")
                    length = int(size_field, 16)
                    if length == 0:
                        while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                            pass
                        break
                    size += length
                    data = self.rfile.read(length)
                    self.rfile.readline(1024)
                    if size <= MAX_PAYLOAD:
                        chunks.append(data)
                return b"".join(chunks) if size <= MAX_PAYLOAD else None
            declared = (self.headers.get("Content-Length") or "0").strip()
            if not declared.isdigit():
                raise ValueError(f"Content-Length {declared[:20]!r}")
            length = int(declared)
            if length > MAX_PAYLOAD:
                # Read what is sent (so the client gets the answer, not a reset), up to
                # 16 MB more; past that the connection is closed.
                remaining = length
                while remaining > 0 and remaining <= length and length - remaining < MAX_PAYLOAD + (16 << 20):
                    chunk = self.rfile.read(min(remaining, 1 << 20))
                    if not chunk:
                        break
                    remaining -= len(chunk)
                if remaining > 0:
                    self.close_connection = True
                return None
            return self.rfile.read(length) if length else b""

        def forwarded_headers(self, context: dict) -> list[tuple[str, str]]:
            """The request's headers with what API Gateway sets itself: the client's
            address appended to any X-Forwarded-For, the port and protocol it was
            reached on (this front speaks HTTP), and the request's trace header."""
            forwarded_for = ", ".join(self.headers.get_all("X-Forwarded-For") or [])
            own = {"x-forwarded-for", "x-forwarded-port", "x-forwarded-proto", "x-amzn-trace-id"}
            headers = [(n, v) for n, v in self.headers.items() if n.lower() not in own]
            return headers + [
                ("X-Forwarded-For", f"{forwarded_for}, {self.client_address[0]}" if forwarded_for
                 else self.client_address[0]),
                ("X-Forwarded-Port", str(self.server.server_address[1])),
                ("X-Forwarded-Proto", "http"),
                ("X-Amzn-Trace-Id", context["xrayTraceId"]),
            ]

        def dispatch_http(self, raw_path: str, query: str, method: str, context: dict,
                          body: bytes | None, head_only: bool) -> None:
            """An HTTP API's stage: no route is 404, over the route's throttling 429, a
            body over 10 MB 413, a refused token 401 from the JWT authorizer, a function
            that fails 500, no answer within 30 s 503; each `{"message": ...}`."""
            prefix = stage.prefix
            if prefix and raw_path != prefix and not raw_path.startswith(prefix + "/"):
                return self.send(stage.http_gateway(404, "Not Found", context), head_only)
            path = raw_path[len(prefix):] or "/"
            found = stage.match(path, method) if method in METHODS else None
            if found is None:
                return self.send(stage.http_gateway(404, "Not Found", context), head_only)
            route, parameters = found
            if stage.throttled(route.resource, method):
                return self.send(stage.http_gateway(429, "Too Many Requests", context), head_only)
            if body is None:
                return self.send(stage.http_gateway(413, "Request Entity Too Large", context), head_only)
            claims = None
            if route.scopes is not None:
                claims, refused = stage.authorize_jwt(route, self.headers.get("Authorization"))
                if claims is None:
                    challenge = 'Bearer scope=""' if refused is None else \
                        f'Bearer scope="" error="invalid_token" error_description="{refused}"'
                    return self.send(stage.http_gateway(401, "Unauthorized", context,
                                                        [("www-authenticate", challenge)]), head_only)
            request = Request(method, path, query, self.forwarded_headers(context), body, self.client_address[0])
            event = json.dumps(stage.http_event(request, raw_path, route, parameters, context, claims)).encode()
            if len(event) > MAX_INVOKE_PAYLOAD:
                sys.stderr.write(f"stage: {context['requestId']}: the event is over Lambda's 6 MB\n")
                return self.send(stage.http_gateway(500, "Internal Server Error", context), head_only)
            with stage.in_flight():
                outcome = stage.function.invoke(event, wait_limit_s=stage.integration_timeout_s,
                                                trace_id=f"{context['xrayTraceId']};Sampled=1")
                self.send(stage.http_answer_from(outcome, context), head_only)

        def dispatch(self) -> None:
            target = urllib.parse.urlsplit(self.path)
            raw_path, query = target.path or "/", target.query
            method = self.command
            host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
            context = request_context(stage, raw_path, method, host)
            head_only = method == "HEAD"
            try:
                body = self.read_body()
            except ValueError as error:
                # Unreadable framing: API Gateway's front answers before any stage.
                sys.stderr.write(f"stage: {context['requestId']}: a request with a malformed body: {error}\n")
                self.close_connection = True
                return self.send(Answer(400, [("Content-Type", "application/json"),
                                              ("x-amzn-RequestId", context["requestId"])],
                                        b'{"message":"Bad Request"}'), head_only)
            if stage.config.kind == "http":
                return self.dispatch_http(raw_path, query, method, context, body, head_only)
            if raw_path != stage.prefix and not raw_path.startswith(stage.prefix + "/"):
                # No stage of that name: API Gateway answers before any stage's settings.
                return self.send(Answer(403, [("Content-Type", "application/json"),
                                              ("x-amzn-RequestId", context["requestId"]),
                                              ("x-amzn-ErrorType", "ForbiddenException")],
                                        b'{"message":"Forbidden"}'), head_only)
            path = raw_path[len(stage.prefix):] or "/"
            found = stage.match(path, method) if method in METHODS else None
            if found is None:
                return self.send(stage.gateway("MISSING_AUTHENTICATION_TOKEN", context,
                                               "Missing Authentication Token"), head_only)
            route, parameters = found
            context["resourcePath"] = route.resource
            if stage.throttled(route.resource, method):
                return self.send(stage.gateway("THROTTLED", context, "Too Many Requests"), head_only)
            if body is None:
                return self.send(stage.gateway("REQUEST_TOO_LARGE", context, "Request Too Long"), head_only)
            claims = None
            if route.scopes is not None:
                claims, refused = stage.authorize(route, self.headers.get("Authorization"))
                if refused is not None:
                    return self.send(stage.gateway("UNAUTHORIZED", context, refused), head_only)
            # What API Gateway sets itself: the client's address appended to any
            # X-Forwarded-For, the port and protocol it was reached on (this front speaks
            # HTTP), and the request's trace header.
            forwarded_for = ", ".join(self.headers.get_all("X-Forwarded-For") or [])
            own = {"x-forwarded-for", "x-forwarded-port", "x-forwarded-proto", "x-amzn-trace-id"}
            headers = [(n, v) for n, v in self.headers.items() if n.lower() not in own]
            headers += [
                ("X-Forwarded-For", f"{forwarded_for}, {self.client_address[0]}" if forwarded_for
                 else self.client_address[0]),
                ("X-Forwarded-Port", str(self.server.server_address[1])),
                ("X-Forwarded-Proto", "http"),
                ("X-Amzn-Trace-Id", context["xrayTraceId"]),
            ]
            request = Request(method, path, query, headers, body, self.client_address[0])
            event = json.dumps(stage.event(request, route, parameters, context, claims)).encode()
            if len(event) > MAX_INVOKE_PAYLOAD:
                sys.stderr.write(f"stage: {context['requestId']}: the event is over Lambda's 6 MB\n")
                return self.send(stage.gateway("DEFAULT_5XX", context, "Internal server error", status=502),
                                 head_only)
            with stage.in_flight():
                outcome = stage.function.invoke(event, wait_limit_s=stage.integration_timeout_s,
                                                trace_id=f"{context['xrayTraceId']};Sampled=1")
                self.send(stage.answer_from(outcome, self.headers.get("Accept"), context), head_only)

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


# --- the function --------------------------------------------------------------------------

def bootstrap_from(package: Path, directory: Path) -> Path:
    """Takes `bootstrap` out of the package zip into `directory` (as /var/task), with
    the mode the zip gives it."""
    with zipfile.ZipFile(package) as archive:
        for info in archive.infolist():
            extracted = Path(archive.extract(info, directory))
            mode = info.external_attr >> 16 & 0o777
            if mode:
                extracted.chmod(mode)
    bootstrap = directory / "bootstrap"
    if not bootstrap.exists():
        raise StageError(f"{package} has no bootstrap at its root")
    return bootstrap


def function_command(binary: Path) -> list[str]:
    """How to run `binary` here: directly, or under qemu-user when it is an aarch64
    ELF on another machine. A file Lambda could not execute is not run."""
    if not os.access(binary, os.X_OK):
        return [str(binary)]  # fails to start, as Lambda's Runtime.InvalidEntrypoint
    head = binary.read_bytes()[:20]
    machine = int.from_bytes(head[18:20], "little") if head[:4] == b"\x7fELF" else None
    if machine == 0xB7 and platform.machine() not in ("aarch64", "arm64"):
        qemu = shutil.which("qemu-aarch64-static") or shutil.which("qemu-aarch64")
        if qemu is None or not QEMU_SYSROOT.is_dir():
            raise StageError("running the arm64 package needs qemu-user: apt-get install qemu-user-static "
                             "libc6-arm64-cross (make setup does)")
        return [qemu, "-L", str(QEMU_SYSROOT), str(binary)]
    return [str(binary)]


def generated_secret(spec: dict) -> str:
    """A value as GenerateSecretString makes one (length, punctuation excluded or not)."""
    generate = spec.get("GenerateSecretString") or {}
    alphabet = string.ascii_letters + string.digits
    if not generate.get("ExcludePunctuation"):
        alphabet += "!#$%&()*+,-./:;<=>?@[]^_{|}~"
    return "".join(secrets.choice(alphabet) for _ in range(int(generate.get("PasswordLength", 32))))


def create_stores(config: StageConfig, moto: Moto, token: str | None) -> str:
    """The template's tables and secrets on moto; returns the token (the value of the
    secret, the one secret this template has)."""
    dynamodb = moto.client("dynamodb")
    resolver = config.resolver
    for logical, props in config.tables.items():
        props = resolver.value(copy.deepcopy(props))
        table = resolver.physical[logical]
        arguments: dict[str, Any] = {
            "TableName": table,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if arguments["BillingMode"] == "PROVISIONED":
            arguments["ProvisionedThroughput"] = props["ProvisionedThroughput"]
        for index in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if props.get(index):
                arguments[index] = props[index]
        dynamodb.create_table(**arguments)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(TableName=table, TimeToLiveSpecification=ttl)
    manager = moto.client("secretsmanager")
    value = token
    for logical, props in config.secrets_.items():
        value = token or generated_secret(props)
        created = manager.create_secret(Name=f"{logical}-{secrets.token_hex(6)}", SecretString=value)
        resolver.physical[logical] = created["ARN"]
    return value or ""


def function_environment(config: StageConfig, moto: Moto, task_root: Path, extra: dict[str, str]) -> dict:
    """The template's variables (resolved now the stores exist), what Lambda sets for a
    provided.al2023 function, and what reaches the emulated AWS."""
    variables = config.resolver.value(copy.deepcopy(
        config.resolver.template["Resources"][config.function_logical].get("Properties", {})
        .get("Environment", {}).get("Variables", {})))
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    lambda_env = {
        "AWS_LAMBDA_FUNCTION_NAME": config.function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": config.log_group,
        "AWS_LAMBDA_LOG_STREAM_NAME": f"{datetime.date.today():%Y/%m/%d}/[1]{secrets.token_hex(16)}",
        "AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "LAMBDA_TASK_ROOT": str(task_root), "LAMBDA_RUNTIME_DIR": str(task_root),
        "_HANDLER": "bootstrap", "TZ": ":UTC",
    }
    if config.log_level:  # LoggingConfig: Lambda's advanced logging controls
        lambda_env.update(AWS_LAMBDA_LOG_FORMAT="JSON", AWS_LAMBDA_LOG_LEVEL=config.log_level)
    return {**keep, **lambda_env, **moto.client_env(), **{k: str(v) for k, v in variables.items()}, **extra}


# --- the command ---------------------------------------------------------------------------

class LocalStage:
    """Everything `make stage` runs, started and stopped together (a context manager)."""

    def __init__(self, *, template: Path = TEMPLATE, package: Path = PACKAGE, binary: Path | None = None,
                 port: int = 0, overrides: dict[str, str] | None = None, token: str | None = None,
                 function_env: dict[str, str] | None = None, function_log=None,
                 integration_timeout_s: float | None = None, stack: str = "items-api-stage",
                 issuer: str | None = None) -> None:
        self.template, self.package, self.binary = template, package, binary
        # The user pool's stand-in: given, or started here when the API has a Cognito
        # authorizer (self.own_issuer).
        self.issuer, self.own_issuer = issuer, None
        self.port, self.token = port, token
        self.overrides = overrides or {}
        self.function_env = function_env or {}
        self.function_log = function_log
        self.integration_timeout_s = integration_timeout_s
        self.stack = stack
        self.moto: Moto | None = None
        self.stage: Stage | None = None
        self.environment: ExecutionEnvironment | None = None
        self.server: Server | None = None
        self.tmp = tempfile.TemporaryDirectory(prefix="items-api-stage-")

    def __enter__(self) -> "LocalStage":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def start(self) -> None:
        tmp = Path(self.tmp.name)
        template = load_template(self.template)
        config = read_stage(template, Resolver(template, self.stack, self.overrides))
        task_root = tmp / "task"
        task_root.mkdir()
        if self.binary is not None:
            bootstrap = self.binary.resolve()
        else:
            if not self.package.exists():
                raise StageError(f"no package at {self.package}: run make package (or give --binary)")
            bootstrap = bootstrap_from(self.package, task_root)
        command = function_command(bootstrap)
        # The port first: a port in use is said before anything is started.
        try:
            self.server = Server(("127.0.0.1", self.port), make_handler(None))
        except OSError as error:
            raise StageError(f"cannot listen on 127.0.0.1:{self.port}: {error.strerror} "
                             "(STAGE_PORT or --port chooses another)") from None
        (tmp / "moto").mkdir()
        self.moto = Moto(tmp / "moto")
        self.token = create_stores(config, self.moto, self.token)
        env = function_environment(config, self.moto, task_root, self.function_env)
        self.config = config
        if self.integration_timeout_s is None:  # API Gateway's own
            self.integration_timeout_s = HTTP_INTEGRATION_TIMEOUT_S if config.kind == "http" else INTEGRATION_TIMEOUT_S
        if config.authorizer is not None and self.issuer is None:
            from oidc_issuer import Issuer
            self.own_issuer = Issuer().__enter__()
            self.issuer = self.own_issuer.url
        self.environment = ExecutionEnvironment(
            command, env, task_root, timeout_s=config.timeout_s, output=self.function_log,
            function_arn=config.resolver.attributes[(config.function_logical, "Arn")] + ":live")
        stage = Stage(config, self.environment, self.integration_timeout_s,
                      issuer=self.issuer if config.authorizer is not None else None)
        self.stage = stage
        self.server.RequestHandlerClass = make_handler(stage)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}{stage.prefix}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stops taking requests, ends the function (requests in flight get their 502),
        waits for their answers, then stops the stores."""
        if self.server is not None:
            if self.stage is not None:
                self.server.shutdown()
        if self.environment is not None:
            self.environment.close()
            self.environment = None
        if self.stage is not None:
            self.stage.drain(timeout=5)
        if self.server is not None:
            self.server.server_close()
            self.server = None
        if self.moto is not None:
            self.moto.close()
            self.moto = None
        if self.own_issuer is not None:
            self.own_issuer.__exit__(None, None, None)
            self.own_issuer = None
        self.tmp.cleanup()


def wait_answering(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                if response.status == 200:
                    return
        except OSError as error:  # an HTTPError is one too
            last = error
        time.sleep(0.2)
    raise StageError(f"the stage did not answer 200 at {url} within {timeout:.0f} s: {last}")


def api_type(value: str) -> str:
    """The template's ApiType for `rest` or `http` (any case)."""
    found = {"rest": "Rest", "http": "Http"}.get(value.strip().lower())
    if found is None:
        raise SystemExit(f"stage: STAGE_API_TYPE={value!r}: rest or http")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Environment: STAGE_PORT, STAGE_BINARY, STAGE_TOKEN, STAGE_ISSUER, STAGE_INTEGRATION_TIMEOUT_S "
               "(the options' defaults), STAGE_AUTH_MODE (the template's AuthMode, as --parameter AuthMode=...), "
               "STAGE_API_TYPE (rest or http: the template's ApiType, as --parameter ApiType=...), "
               "STAGE_ACCESS_LOG=1 (log each request).")
    parser.add_argument("--port", type=int, default=int(os.environ.get("STAGE_PORT", "3000")),
                        help="port on 127.0.0.1 (STAGE_PORT, default 3000; 0 for any free port)")
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    parser.add_argument("--package", type=Path, default=PACKAGE,
                        help="the package zip whose bootstrap runs (default: make package's)")
    parser.add_argument("--binary", type=Path, default=os.environ.get("STAGE_BINARY") or None,
                        help="run this build instead of the package's bootstrap (STAGE_BINARY)")
    parser.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE",
                        help="a template parameter, as sam deploy --parameter-overrides (repeatable)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an extra variable for the function, as sam local --env-vars (repeatable)")
    parser.add_argument("--token", default=os.environ.get("STAGE_TOKEN") or None,
                        help="the token's value in Secrets Manager (STAGE_TOKEN; default: generated)")
    parser.add_argument("--issuer", default=os.environ.get("STAGE_ISSUER") or None,
                        help="the OpenID Connect issuer standing in for the Cognito user pool, with "
                             "--parameter AuthMode=Cognito (STAGE_ISSUER; default: tests/tools/oidc_issuer.py, "
                             "started here)")
    parser.add_argument("--integration-timeout", type=float,
                        default=float(os.environ["STAGE_INTEGRATION_TIMEOUT_S"])
                        if os.environ.get("STAGE_INTEGRATION_TIMEOUT_S") else None,
                        help="seconds API Gateway waits for the function (STAGE_INTEGRATION_TIMEOUT_S, "
                             "default API Gateway's: 29 for a REST API, 30 for an HTTP API)")
    parser.add_argument("--function-log", type=Path, help="the function's output (default: this terminal)")
    args = parser.parse_args()
    overrides = dict(p.split("=", 1) for p in args.parameter)
    if os.environ.get("STAGE_AUTH_MODE"):  # make stage STAGE_AUTH_MODE=Cognito
        overrides.setdefault("AuthMode", os.environ["STAGE_AUTH_MODE"])
    # make stage STAGE_API_TYPE=http (not API_TYPE: make exports its command-line
    # variables to the stage, and a name the service or its tools read could clash).
    if os.environ.get("STAGE_API_TYPE"):
        overrides.setdefault("ApiType", api_type(os.environ["STAGE_API_TYPE"]))
    extra_env = dict(p.split("=", 1) for p in args.env)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    log = args.function_log.open("ab") if args.function_log else None
    try:
        with LocalStage(template=args.template, package=args.package, binary=args.binary, port=args.port,
                        overrides=overrides, token=args.token, function_env=extra_env, function_log=log,
                        integration_timeout_s=args.integration_timeout, issuer=args.issuer) as stage:
            what = f"{args.binary}" if args.binary else f"the arm64 bootstrap of {args.package.name}"
            print(f"== stage: {what} behind stage {stage.config.stage} of {args.template.name}; "
                  "one execution environment (requests queue)", flush=True)
            wait_answering(f"{stage.url}/api/health")
            stage.stage.refill()
            print(f"stage: {stage.url}", flush=True)
            if stage.config.authorizer is not None:
                print(f"issuer: {stage.issuer}", flush=True)
                print(f"client: {' '.join(stage.config.authorizer.client_ids)}", flush=True)
            else:
                print(f"token: {stage.token}", flush=True)
            while not stopping.wait(0.5):
                pass
            print("== stage: stopping", flush=True)
    except StageError as error:
        print(f"stage: {error}", file=sys.stderr)
        return 1
    finally:
        if log is not None:
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
