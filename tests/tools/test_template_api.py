"""template.yaml's ApiType (a REST API or an HTTP API in front of the function) and its
custom domain (DomainName, CertificateArn, HostedZoneId, BasePath): what each choice
makes, how the HTTP API routes and guards, its throttling, logs, alarms, dashboard and
outputs.

The HTTP API's behaviour (its events, answers and JWT authorizer) is tested through the
local stage (tests/stage/test_http_api.py); the AWS rules Http mode relies on by
tests/template/deploy.guard (test_guard.py). Run by `make tools-self-test`.
"""

import json
import sys
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import stage  # noqa: E402
from test_template_auth import EXISTING_POOL, TEMPLATE, made, resolver, translated  # noqa: E402

RESOURCES = TEMPLATE["Resources"]
REST_ONLY = {"ItemsApi"}
HTTP_ONLY = {"ItemsHttpApi"}
DOMAIN = {"RestApiDomainName", "RestApiBasePathMapping", "HttpApiDomainName", "HttpApiMapping", "DomainRecord"}
CERTIFICATE = "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
# What the public can call without a token in every mode, and what Cognito mode guards.
PUBLIC = [("GET", "/"), ("GET", "/docs"), ("GET", "/docs/"), ("GET", "/docs/index.css"), ("GET", "/redoc"),
          ("GET", "/openapi.json"), ("GET", "/openapi.yaml"), ("GET", "/api/health"), ("GET", "/api/aws-info"),
          ("OPTIONS", "/api/items"), ("OPTIONS", "/api/items/abc"), ("GET", "/nowhere/at/all")]
GUARDED = [("GET", "/api/items"), ("POST", "/api/items"), ("GET", "/api/items/abc"), ("PUT", "/api/items/abc"),
           ("PATCH", "/api/items/abc"), ("DELETE", "/api/items/abc"), ("HEAD", "/api/items/abc")]


def resolved(found: stage.Resolver) -> stage.Resolver:
    """`found` with a physical id for everything the API parts refer to."""
    found.physical.update(ItemsApi="restapi01", ItemsHttpApi="httpapi01", ItemsFunction="items-api-fn",
                          ItemsTable="items-table", FunctionLogGroup="/aws/lambda/items-api",
                          UserPool="eu-west-1_New123", UserPoolClient="newclient",
                          RestApiDomainName="api.example.com", HttpApiDomainName="api.example.com",
                          AlarmTopic="arn:aws:sns:eu-west-1:123456789012:alarms",
                          **{"ItemsFunction.Alias": "arn:aws:lambda:eu-west-1:123456789012:function:items-api-fn:live"})
    found.attributes.update({
        ("ApiAccessLogGroup", "Arn"): "arn:aws:logs:eu-west-1:123456789012:log-group:access:*",
        ("RestApiDomainName", "RegionalDomainName"): "d-rest.execute-api.eu-west-1.amazonaws.com",
        ("RestApiDomainName", "RegionalHostedZoneId"): "ZREST",
        ("HttpApiDomainName", "RegionalDomainName"): "d-http.execute-api.eu-west-1.amazonaws.com",
        ("HttpApiDomainName", "RegionalHostedZoneId"): "ZHTTP",
    })
    return found


class ApiTypeTest(unittest.TestCase):
    def test_each_api_type_makes_its_api_and_only_rest_the_logging_role(self) -> None:
        for parameters, api, other in (({}, REST_ONLY, HTTP_ONLY), ({"ApiType": "Http"}, HTTP_ONLY, REST_ONLY)):
            with self.subTest(**parameters):
                resources = made(resolver(ApiGatewayAccountRole="create", **parameters))
                self.assertLessEqual(api, resources)
                self.assertFalse(other & resources)
                # An HTTP API's access logs go through CloudWatch Logs' delivery, not the role.
                self.assertEqual("ApiGatewayAccount" in resources, api == REST_ONLY)
                self.assertIn("ApiInvokePermission", resources)

    def test_the_http_api_serves_its_default_stage_in_payload_format_2(self) -> None:
        template = translated(ApiType="Http")
        stages = [r for r in template["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Stage"]
        self.assertEqual([s["Properties"]["StageName"] for s in stages], ["$default"])
        self.assertTrue(stages[0]["Properties"]["AutoDeploy"])
        body = template["Resources"]["ItemsHttpApi"]["Properties"]["Body"]
        for path, methods in body["paths"].items():
            for method, operation in methods.items():
                with self.subTest(f"{method} {path}"):
                    integration = operation["x-amazon-apigateway-integration"]
                    self.assertEqual((integration["type"], integration["payloadFormatVersion"]), ("aws_proxy", "2.0"))
                    self.assertEqual(integration["uri"]["Fn::Sub"][1], {"Live": {"Ref": "ItemsFunctionAliaslive"}})
                    self.assertLessEqual(integration["timeoutInMillis"], 30000)

    def test_every_path_reaches_the_function_and_cognito_mode_guards_only_the_items(self) -> None:
        for auth_mode in ("Token", "Cognito"):
            for api_type in ("Rest", "Http"):
                with self.subTest(api_type=api_type, auth_mode=auth_mode):
                    config = stage.read_stage(TEMPLATE, stage.Resolver(TEMPLATE, "s", {
                        "ApiType": api_type, "AuthMode": auth_mode}))
                    front = stage.Stage(config, environment=None)  # type: ignore[arg-type]
                    for method, path in PUBLIC + GUARDED:
                        found = front.match(path, method)
                        self.assertIsNotNone(found, f"{method} {path}")
                        guarded = found[0].scopes is not None
                        self.assertEqual(guarded, auth_mode == "Cognito" and (method, path) in GUARDED,
                                         f"{method} {path}")

    def test_the_jwt_authorizer_names_the_pools_issuer_and_its_app_client(self) -> None:
        scheme = RESOURCES["ItemsHttpApi"]["Properties"]["DefinitionBody"]["components"]["securitySchemes"]
        for parameters, issuer, audience in (
                ({}, "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_New123", ["newclient"]),
                ({"ExistingUserPoolArn": EXISTING_POOL, "ExistingUserPoolClientId": "c0123"},
                 "https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_Abc123", ["c0123"])):
            with self.subTest(**parameters):
                found = resolved(resolver(ApiType="Http", AuthMode="Cognito", **parameters))
                authorizer = found.value(scheme)["CognitoJwt"]["x-amazon-apigateway-authorizer"]
                self.assertEqual(authorizer["type"], "jwt")
                self.assertEqual(authorizer["identitySource"], "$request.header.Authorization")
                self.assertEqual(authorizer["jwtConfiguration"], {"issuer": issuer, "audience": audience})
                # The same issuer the outputs give users (docs/users.md).
                self.assertEqual(found.value(TEMPLATE["Outputs"]["UserPoolIssuer"]["Value"]), issuer)
        self.assertIs(resolved(resolver(ApiType="Http")).value(scheme), stage.NO_VALUE, "Token mode: no authorizer")

    def test_both_apis_throttle_with_the_parameters_and_log_to_the_access_log_group(self) -> None:
        found = resolved(resolver(ThrottlingRateLimit="7", ThrottlingBurstLimit="9"))
        http = found.value(RESOURCES["ItemsHttpApi"]["Properties"])
        self.assertEqual(http["DefaultRouteSettings"], {"ThrottlingRateLimit": 7, "ThrottlingBurstLimit": 9})
        rest = found.value(RESOURCES["ItemsApi"]["Properties"])
        self.assertEqual([(s["ResourcePath"], s["HttpMethod"], s["ThrottlingRateLimit"], s["ThrottlingBurstLimit"])
                          for s in rest["MethodSettings"]], [("/*", "*", 7, 9)])
        access_logs = found.attributes[("ApiAccessLogGroup", "Arn")]
        self.assertEqual(http["AccessLogSettings"]["DestinationArn"], access_logs)
        self.assertEqual(rest["AccessLogSetting"]["DestinationArn"], access_logs)
        for name in ("requestId", "status", "routeKey", "authorizerError"):
            self.assertIn(f'"{name}":', http["AccessLogSettings"]["Format"])

    def test_cors_is_the_functions_in_both_api_types(self) -> None:
        # An HTTP API with CorsConfiguration answers preflight itself and drops the
        # function's CORS headers: there must be none, and OPTIONS must reach the function.
        self.assertNotIn("CorsConfiguration", RESOURCES["ItemsHttpApi"]["Properties"])
        self.assertNotIn("Cors", RESOURCES["ItemsApi"]["Properties"])
        variables = RESOURCES["ItemsFunction"]["Properties"]["Environment"]["Variables"]
        self.assertEqual(variables["CORS_ALLOW_ORIGINS"], {"Ref": "CorsAllowOrigins"})

    def test_the_function_checks_no_token_behind_the_jwt_authorizer(self) -> None:
        variables = RESOURCES["ItemsFunction"]["Properties"]["Environment"]["Variables"]
        found = resolved(resolver(ApiType="Http", AuthMode="Cognito"))
        self.assertEqual(found.value(variables["AUTH_MODE"]), "gateway")

    def test_the_api_alarms_watch_the_api_the_parameters_make(self) -> None:
        for api_type, errors, dimensions in (
                ("Rest", "5XXError", [{"Name": "ApiName", "Value": "items-api-items-api"},
                                      {"Name": "Stage", "Value": "prod"}]),
                ("Http", "5xx", [{"Name": "ApiId", "Value": "httpapi01"}])):
            with self.subTest(api_type):
                found = resolved(resolver(ApiType=api_type))
                alarm = found.value(RESOURCES["Api5xxAlarm"]["Properties"])
                stats = {m["Id"]: m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m}
                self.assertEqual(stats["errors"], {"Namespace": "AWS/ApiGateway", "MetricName": errors,
                                                   "Dimensions": dimensions})
                self.assertEqual(stats["requests"]["MetricName"], "Count")
                self.assertEqual(stats["requests"]["Dimensions"], dimensions)
                latency = found.value(RESOURCES["ApiLatencyAlarm"]["Properties"])
                self.assertEqual((latency["Namespace"], latency["MetricName"], latency["Dimensions"]),
                                 ("AWS/ApiGateway", "Latency", dimensions))

    def test_the_dashboard_shows_the_apis_own_metrics(self) -> None:
        for api_type, expected in (
                ("Rest", [["AWS/ApiGateway", "Count", "ApiName", "items-api-items-api", "Stage", "prod"],
                          ["AWS/ApiGateway", "4XXError", "ApiName", "items-api-items-api", "Stage", "prod"],
                          ["AWS/ApiGateway", "5XXError", "ApiName", "items-api-items-api", "Stage", "prod"]]),
                ("Http", [["AWS/ApiGateway", "Count", "ApiId", "httpapi01"],
                          ["AWS/ApiGateway", "4xx", "ApiId", "httpapi01"],
                          ["AWS/ApiGateway", "5xx", "ApiId", "httpapi01"]])):
            with self.subTest(api_type):
                found = resolved(resolver(ApiType=api_type))
                body = json.loads(found.value(RESOURCES["Dashboard"]["Properties"]["DashboardBody"]))
                widgets = {w["properties"]["title"]: w["properties"] for w in body["widgets"]}
                self.assertEqual(widgets["API requests and errors"]["metrics"], expected)
                latency = widgets["API latency (ms)"]["metrics"]
                self.assertEqual(latency[0][:2] + latency[0][2:-1], ["AWS/ApiGateway", "Latency", *expected[0][2:]])
                self.assertEqual(latency[2][:-1], ["AWS/ApiGateway", "IntegrationLatency", *expected[0][2:]])

    def test_the_api_url_is_the_stage_or_the_http_apis_root(self) -> None:
        value = TEMPLATE["Outputs"]["ApiUrl"]["Value"]
        self.assertEqual(resolved(resolver()).value(value), "https://restapi01.execute-api.eu-west-1.amazonaws.com/prod")
        self.assertEqual(resolved(resolver(ApiType="Http")).value(value),
                         "https://httpapi01.execute-api.eu-west-1.amazonaws.com")


class CustomDomainTest(unittest.TestCase):
    def test_nothing_of_a_domain_without_domain_name(self) -> None:
        for api_type in ("Rest", "Http"):
            found = resolver(ApiType=api_type)
            self.assertFalse(made(found) & DOMAIN, api_type)
            for output in ("DomainUrl", "DomainTarget"):
                self.assertFalse(found.condition(TEMPLATE["Outputs"][output]["Condition"]))

    def test_each_api_type_gets_its_domain_and_mapping(self) -> None:
        domain = {"DomainName": "api.example.com", "CertificateArn": CERTIFICATE}
        self.assertEqual(made(resolver(**domain)) & DOMAIN, {"RestApiDomainName", "RestApiBasePathMapping"})
        self.assertEqual(made(resolver(ApiType="Http", **domain)) & DOMAIN, {"HttpApiDomainName", "HttpApiMapping"})
        self.assertEqual(made(resolver(ApiType="Http", HostedZoneId="Z123ABC", **domain)) & DOMAIN,
                         {"HttpApiDomainName", "HttpApiMapping", "DomainRecord"})

    def test_the_domain_is_regional_with_the_certificate_and_maps_the_stage_under_the_base_path(self) -> None:
        domain = {"DomainName": "api.example.com", "CertificateArn": CERTIFICATE}
        rest = resolved(resolver(BasePath="v1", **domain))
        rest.physical["ItemsApi.Stage"] = "prod"
        properties = rest.value(RESOURCES["RestApiDomainName"]["Properties"])
        self.assertEqual((properties["RegionalCertificateArn"], properties["EndpointConfiguration"]["Types"]),
                         (CERTIFICATE, ["REGIONAL"]))
        mapping = rest.value(RESOURCES["RestApiBasePathMapping"]["Properties"])
        self.assertEqual(mapping, {"DomainName": "api.example.com", "RestApiId": "restapi01", "Stage": "prod",
                                   "BasePath": "v1"})
        http = resolved(resolver(ApiType="Http", **domain))
        http.physical["ItemsHttpApi.Stage"] = "$default"
        configuration = http.value(RESOURCES["HttpApiDomainName"]["Properties"])["DomainNameConfigurations"]
        self.assertEqual(configuration, [{"CertificateArn": CERTIFICATE, "EndpointType": "REGIONAL",
                                          "SecurityPolicy": "TLS_1_2"}])
        mapping = http.value(RESOURCES["HttpApiMapping"]["Properties"])
        self.assertEqual(mapping, {"DomainName": "api.example.com", "ApiId": "httpapi01", "Stage": "$default"},
                         "no BasePath: the domain's root, no ApiMappingKey")

    def test_the_mappings_wait_for_the_stage(self) -> None:
        # A mapping to a stage not made yet fails ("Invalid stage identifier specified").
        template = translated(ApiType="Http", DomainName="api.example.com", CertificateArn=CERTIFICATE)
        resources = template["Resources"]
        self.assertEqual(resources["HttpApiMapping"]["Properties"]["Stage"],
                         {"Ref": "ItemsHttpApiApiGatewayDefaultStage"})
        self.assertEqual(resources["RestApiBasePathMapping"]["Properties"]["Stage"], {"Ref": "ItemsApiStage"})

    def test_the_record_aliases_the_api_types_regional_domain(self) -> None:
        for api_type, target, zone in (("Rest", "d-rest.execute-api.eu-west-1.amazonaws.com", "ZREST"),
                                       ("Http", "d-http.execute-api.eu-west-1.amazonaws.com", "ZHTTP")):
            with self.subTest(api_type):
                found = resolved(resolver(ApiType=api_type, DomainName="api.example.com", CertificateArn=CERTIFICATE,
                                          HostedZoneId="Z123ABC"))
                record = found.value(RESOURCES["DomainRecord"]["Properties"])
                self.assertEqual((record["HostedZoneId"], record["Name"], record["Type"]),
                                 ("Z123ABC", "api.example.com", "A"))
                self.assertEqual(record["AliasTarget"], {"DNSName": target, "HostedZoneId": zone,
                                                         "EvaluateTargetHealth": False})
                self.assertEqual(found.value(TEMPLATE["Outputs"]["DomainTarget"]["Value"]), target)

    def test_the_domain_url_carries_the_base_path(self) -> None:
        value = TEMPLATE["Outputs"]["DomainUrl"]["Value"]
        domain = {"DomainName": "api.example.com", "CertificateArn": CERTIFICATE}
        self.assertEqual(resolver(BasePath="v1", **domain).value(value), "https://api.example.com/v1")
        self.assertEqual(resolver(**domain).value(value), "https://api.example.com")

    def test_teardown_removes_the_domain_its_mapping_and_record(self) -> None:
        for name in DOMAIN:
            with self.subTest(name):
                self.assertNotIn(RESOURCES[name].get("DeletionPolicy"), ("Retain", "RetainExceptOnCreate"))

    def test_a_domain_needs_its_certificate_and_its_parts_need_the_domain(self) -> None:
        rules = TEMPLATE["Rules"]
        for parameters, holds in (({}, True),
                                  ({"DomainName": "api.example.com", "CertificateArn": CERTIFICATE}, True),
                                  ({"DomainName": "api.example.com"}, False),
                                  ({"CertificateArn": CERTIFICATE}, False),
                                  ({"BasePath": "v1"}, False),
                                  ({"HostedZoneId": "Z123ABC"}, False)):
            with self.subTest(**parameters):
                found = resolver(**parameters)
                results = [found.value(a["Assert"]) for name in ("DomainNameNeedsItsCertificate",
                                                                 "DomainPartsNeedTheDomain")
                           for a in rules[name]["Assertions"] if found.value(rules[name]["RuleCondition"])]
                self.assertEqual(all(results), holds)

    def test_the_parameters_refuse_what_api_gateway_would(self) -> None:
        import re
        parameters = TEMPLATE["Parameters"]
        for name, good, bad in (("DomainName", ["api.example.com", ""], ["API.example.com", "localhost", "a..b"]),
                                ("CertificateArn", [CERTIFICATE, ""], ["arn:aws:iam::123456789012:role/x"]),
                                ("HostedZoneId", ["Z123ABC", ""], ["zone"]),
                                ("BasePath", ["v1", ""], ["/v1", "v1/items"])):
            pattern = parameters[name]["AllowedPattern"]
            for value in good:
                self.assertRegex(value, pattern, name)
            for value in bad:
                self.assertIsNone(re.fullmatch(pattern, value), f"{name}: {value}")


if __name__ == "__main__":
    unittest.main()
