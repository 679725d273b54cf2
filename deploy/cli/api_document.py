#!/usr/bin/env python3
"""The OpenAPI document deploy/cli/deploy.sh imports into API Gateway (REST API).

    api_document.py FUNCTION_ARN REGION > api.json

Made from openapi.yaml (title, version, description) and template.yaml's REST API
(its gateway responses and binary media types), so the API the AWS CLI path creates
answers as the SAM stack's does:

- a proxy integration (`aws_proxy`, Lambda's REST v1 event) on the root `/` and on the
  greedy `/{proxy+}` for every method API Gateway's `ANY` stands for, as template.yaml's
  `Root` and `Proxy` events. The service routes every path itself (its 404 and 405
  are problem documents in the contract, and /docs, /redoc and their assets are not in
  openapi.yaml), so an integration per contract operation would add nothing but drift.
  The methods are listed one by one rather than as `x-amazon-apigateway-any-method`:
  the same API on AWS, and moto (the test's emulator) imports them;
- `x-amazon-apigateway-gateway-responses`: the template's, so API Gateway's own errors
  (403, 413, 429, 502, 504) are problem documents as openapi.yaml's GatewayProblem says;
- `x-amazon-apigateway-binary-media-types`: the template's (`*/*`, template.yaml says why).

Needs PyYAML (the AWS CLI from PyPI depends on it; target/py has it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
# The methods `ANY` stands for (https://docs.aws.amazon.com/apigateway/latest/api/API_PutMethod.html).
METHODS = ("delete", "get", "head", "options", "patch", "post", "put")
# API Gateway's integration timeout for REST APIs, its default and maximum: 29 s.
INTEGRATION_TIMEOUT_MS = 29000


def template_api(path: Path) -> dict:
    """template.yaml's AWS::Serverless::Api properties; CloudFormation tags kept as
    plain values (the properties used here have none)."""
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load(path.read_text(), Loader=Loader)  # noqa: S506 (SafeLoader subclass)
    apis = [r for r in template["Resources"].values() if r.get("Type") == "AWS::Serverless::Api"]
    if len(apis) != 1:
        raise SystemExit(f"api_document: template.yaml has {len(apis)} AWS::Serverless::Api, not one")
    return apis[0]["Properties"]


def gateway_responses(properties: dict) -> dict:
    """SAM's GatewayResponses as the OpenAPI extension writes them."""
    responses = {}
    for kind, spec in (properties.get("GatewayResponses") or {}).items():
        response: dict = {}
        if spec.get("StatusCode") is not None:
            response["statusCode"] = str(spec["StatusCode"])
        headers = (spec.get("ResponseParameters") or {}).get("Headers") or {}
        if headers:
            response["responseParameters"] = {f"gatewayresponse.header.{name}": value
                                              for name, value in headers.items()}
        if spec.get("ResponseTemplates"):
            response["responseTemplates"] = dict(spec["ResponseTemplates"])
        responses[kind] = response
    return responses


def document(function_arn: str, region: str, openapi: Path = ROOT / "openapi.yaml",
             template: Path = ROOT / "template.yaml") -> dict:
    info = yaml.safe_load(openapi.read_text())["info"]
    properties = template_api(template)
    integration = {
        "type": "aws_proxy",
        "httpMethod": "POST",  # Lambda's Invoke, whatever the client's method
        "uri": f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{function_arn}/invocations",
        "passthroughBehavior": "when_no_match",
        "timeoutInMillis": INTEGRATION_TIMEOUT_MS,
    }
    proxy_parameter = {"name": "proxy", "in": "path", "required": True, "schema": {"type": "string"}}

    def operation(parameters: list) -> dict:
        op = {"responses": {"default": {"description": "The function's answer"}},
              "x-amazon-apigateway-integration": dict(integration)}
        if parameters:
            op["parameters"] = parameters
        return op

    return {
        "openapi": "3.0.1",
        "info": {"title": info["title"], "version": str(info["version"]),
                 "description": "Imported by deploy/cli/deploy.sh: every path goes to the function."},
        "paths": {
            "/": {method: operation([]) for method in METHODS},
            "/{proxy+}": {method: operation([proxy_parameter]) for method in METHODS},
        },
        # SAM's BinaryMediaTypes escape "/" as "~1"; the extension takes the type itself.
        "x-amazon-apigateway-binary-media-types": [t.replace("~1", "/")
                                                   for t in properties.get("BinaryMediaTypes") or []],
        "x-amazon-apigateway-gateway-responses": gateway_responses(properties),
    }


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit("usage: api_document.py FUNCTION_ARN REGION")
    json.dump(document(sys.argv[1], sys.argv[2]), sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
