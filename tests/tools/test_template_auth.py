"""template.yaml's AuthMode: what each mode makes, runs and outputs, and the REST API
SAM turns the DefinitionBody and the function's events into.

The routes the Cognito authorizer guards, its refusals and the claims it hands on are
tested through the local stage (tests/stage/test_gateway.py, CognitoAuthorizerTest);
the AWS rules the mode relies on by tests/template/deploy.guard (test_guard.py). Run by
`make tools-self-test`.
"""

import copy
import os
import sys
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import stage  # noqa: E402

TEMPLATE = stage.load_template(stage.TEMPLATE)
EXISTING_POOL = "arn:aws:cognito-idp:eu-central-1:123456789012:userpool/eu-central-1_Abc123"


def resolver(**parameters: str) -> stage.Resolver:
    return stage.Resolver(TEMPLATE, "items-api", parameters)


def made(found: stage.Resolver) -> set[str]:
    """The resources CloudFormation makes for these parameters."""
    return {name for name, resource in TEMPLATE["Resources"].items()
            if "Condition" not in resource or found.condition(resource["Condition"])}


def translated(**parameters: str) -> dict:
    """template.yaml as the AWS::Serverless transform hands it to CloudFormation."""
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        def load(self) -> dict:
            return {}

    template = copy.deepcopy(TEMPLATE)
    template["Resources"]["ItemsFunction"]["Properties"]["CodeUri"] = "s3://bucket/items-api.zip"
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    return transform(template, parameters, NoManagedPolicies())


class AuthModeTest(unittest.TestCase):
    def test_each_mode_makes_what_it_uses(self) -> None:
        cognito = {"UserPool", "UserPoolClient"}
        self.assertEqual(made(resolver()) & (cognito | {"ApiTokenSecret"}), {"ApiTokenSecret"}, "Token, the default")
        self.assertEqual(made(resolver(AuthMode="Cognito")) & (cognito | {"ApiTokenSecret"}), cognito)
        existing = resolver(AuthMode="Cognito", ExistingUserPoolArn=EXISTING_POOL, ExistingUserPoolClientId="c0123")
        self.assertEqual(made(existing) & (cognito | {"ApiTokenSecret"}), set(), "the existing pool is used")

    def test_the_function_runs_in_the_modes_auth_mode(self) -> None:
        function = TEMPLATE["Resources"]["ItemsFunction"]["Properties"]
        for mode, auth_mode, has_secret in (("Token", "token", True), ("Cognito", "gateway", False)):
            with self.subTest(mode):
                found = resolver(AuthMode=mode)
                found.physical.update(ItemsTable="t", ApiTokenSecret="arn:secret")
                variables = found.value(function["Environment"]["Variables"])
                self.assertEqual(variables["AUTH_MODE"], auth_mode)
                self.assertEqual("API_TOKEN_SECRET_ARN" in variables, has_secret)
                found.attributes[("ItemsTable", "Arn")] = "arn:table"
                statements = found.value(function["Policies"])[0]["Statement"]
                actions: set[str] = set()
                for statement in statements:
                    action = statement["Action"]
                    actions.update([action] if isinstance(action, str) else action)
                self.assertEqual("secretsmanager:GetSecretValue" in actions, has_secret)

    def test_the_outputs_name_the_pool_its_client_and_the_issuer(self) -> None:
        outputs = TEMPLATE["Outputs"]
        created = resolver(AuthMode="Cognito")
        created.physical.update(UserPool="eu-west-1_New123", UserPoolClient="newclient")
        existing = resolver(AuthMode="Cognito", ExistingUserPoolArn=EXISTING_POOL, ExistingUserPoolClientId="c0123")
        for found, pool, client, issuer in (
                (created, "eu-west-1_New123", "newclient", "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_New123"),
                (existing, "eu-central-1_Abc123", "c0123",
                 "https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_Abc123")):
            with self.subTest(pool):
                self.assertEqual([found.value(outputs[name]["Value"]) for name in
                                  ("UserPoolId", "UserPoolClientId", "UserPoolIssuer")], [pool, client, issuer])
        for name in ("UserPoolId", "UserPoolClientId", "UserPoolIssuer"):
            self.assertFalse(resolver().condition(outputs[name]["Condition"]), f"{name} in Token mode")
        self.assertFalse(created.condition(outputs["ApiTokenSecretArn"]["Condition"]))

    def test_an_existing_pool_needs_its_client_and_cognito_mode(self) -> None:
        rule = TEMPLATE["Rules"]["ExistingUserPoolNeedsItsClient"]
        for parameters, holds in (({}, True),
                                  ({"AuthMode": "Cognito", "ExistingUserPoolArn": EXISTING_POOL,
                                    "ExistingUserPoolClientId": "c0123"}, True),
                                  ({"AuthMode": "Cognito", "ExistingUserPoolArn": EXISTING_POOL}, False),
                                  ({"ExistingUserPoolArn": EXISTING_POOL, "ExistingUserPoolClientId": "c0123"}, False)):
            with self.subTest(**parameters):
                found = resolver(**parameters)
                applies = found.value(rule["RuleCondition"])
                self.assertEqual(not applies or all(found.value(a["Assert"]) for a in rule["Assertions"]), holds)


class RestApiTest(unittest.TestCase):
    """What SAM makes of the DefinitionBody and the events: it adds no integration to a
    DefinitionBody of its own (that takes MergeDefinitions, which names an ANY method
    `any`, a method API Gateway does not know), so the body carries them."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.template = translated(AuthMode="Cognito")
        cls.body = cls.template["Resources"]["ItemsApi"]["Properties"]["Body"]

    def test_every_method_calls_the_functions_live_alias(self) -> None:
        for path, methods in self.body["paths"].items():
            self.assertLessEqual(set(methods), {"x-amazon-apigateway-any-method", "options"}, path)
            for method, operation in methods.items():
                with self.subTest(f"{method} {path}"):
                    integration = operation["x-amazon-apigateway-integration"]
                    self.assertEqual((integration["type"], integration["httpMethod"]), ("aws_proxy", "POST"))
                    self.assertEqual(integration["uri"]["Fn::Sub"][1], {"Live": {"Ref": "ItemsFunctionAliaslive"}})

    def test_one_permission_lets_this_api_call_the_live_alias(self) -> None:
        # No events (SAM cannot make one depend on ApiType): one permission, for the
        # API the parameters make.
        self.assertNotIn("Events", TEMPLATE["Resources"]["ItemsFunction"]["Properties"])
        permissions = {name: r for name, r in self.template["Resources"].items()
                       if r["Type"] == "AWS::Lambda::Permission"}
        self.assertEqual(set(permissions), {"ApiInvokePermission"})
        permission = permissions["ApiInvokePermission"]["Properties"]
        self.assertEqual(permission["FunctionName"], {"Ref": "ItemsFunctionAliaslive"})
        self.assertEqual(permission["Principal"], "apigateway.amazonaws.com")
        for api_type, api in (("Rest", "ItemsApi"), ("Http", "ItemsHttpApi")):
            with self.subTest(api_type):
                found = resolver(ApiType=api_type)
                found.physical[api] = "a1b2c3"
                self.assertEqual(found.value(permission["SourceArn"]),
                                 "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3/*")

    def test_the_guard_is_the_cognito_scheme_in_cognito_mode_only(self) -> None:
        guarded = {path for path, operations in self.body["paths"].items()
                   if "security" in operations["x-amazon-apigateway-any-method"]}
        self.assertEqual(guarded, {"/api/items", "/api/items/{proxy+}"})
        for path in guarded:
            security = self.body["paths"][path]["x-amazon-apigateway-any-method"]["security"]
            self.assertEqual(security, {"Fn::If": ["UseCognito", [{"CognitoUserPool": []}], {"Ref": "AWS::NoValue"}]})
            self.assertNotIn("security", self.body["paths"][path]["options"], "CORS preflight stays public")
        scheme = self.body["components"]["securitySchemes"]["Fn::If"]
        self.assertEqual((scheme[0], scheme[2]), ("UseCognito", {"Ref": "AWS::NoValue"}))
        authorizer = scheme[1]["CognitoUserPool"]
        self.assertEqual((authorizer["in"], authorizer["name"]), ("header", "Authorization"))
        self.assertEqual(authorizer["x-amazon-apigateway-authorizer"]["type"], "cognito_user_pools")


if __name__ == "__main__":
    unittest.main()
