"""The AWS CLI path (deploy/cli/deploy.sh, teardown.sh) end to end against moto.

moto_server on 127.0.0.1 (started here, fake credentials, AWS managed policies
loaded so the role's attachments resolve); the scripts' `aws` reaches it through
AWS_ENDPOINT_URL. deploy.sh runs once with a small stand-in package (moto stores a
function's zip but never runs it, so the arm64 package is not needed); the test then
reads back, with boto3, the table, the secret, the role and its policies, the function,
the REST API with its integrations, the stage and the permission. teardown.sh runs
twice: without --delete-table it keeps the table and removes the rest; with it, the
table goes too, and what is already gone is skipped.

What moto cannot check is in docs/deployment.md ("The AWS CLI by hand"): the
function is not run, IAM is not enforced, and moto ignores the imported document's
gateway responses, binary media types and endpoint type; those are checked in the
document deploy.sh imports instead. Run by `make tools-self-test`.
"""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
import tempfile
import unittest
import zipfile
from pathlib import Path

import boto3
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service import ROOT, VENV_BIN, Service  # noqa: E402

sys.path.insert(0, str(ROOT / "deploy" / "cli"))
import api_document  # noqa: E402

DEPLOY = ROOT / "deploy" / "cli" / "deploy.sh"
TEARDOWN = ROOT / "deploy" / "cli" / "teardown.sh"
REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's account
NAME = "items-cli-test"
STAGE = "v1"
SCRIPT_TIMEOUT_S = 300
PROXY_METHODS = {"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"}


def stand_in_package(folder: Path) -> Path:
    """A zip with an arm64 ELF header as `bootstrap` (mode 0755), enough for moto."""
    header = bytearray(64)
    header[:7] = b"\x7fELF\x02\x01\x01"
    header[16:20] = (2).to_bytes(2, "little") + (0xB7).to_bytes(2, "little")
    path = folder / "items-api.zip"
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o100755 << 16
        archive.writestr(info, bytes(header))
    return path



def template_table_actions() -> list[str]:
    """The DynamoDB actions template.yaml grants the function (its `ItemsTable` statement)."""
    text = (ROOT / "template.yaml").read_text()
    block = text[text.index("- Sid: ItemsTable"):]
    block = block[:block.index("Resource:")]
    return re.findall(r"- (dynamodb:[A-Za-z]+)", block)

class CliDeployTest(unittest.TestCase):
    """One deploy and two teardowns; each test reads one of the three snapshots."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.moto = Service(command=[str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", "{port}"],
                           env={"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}, health_path="/moto-api/", timeout=60)
        cls.moto.__enter__()
        cls.folder = tempfile.TemporaryDirectory(prefix="items-api-cli-")
        try:
            cls.env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
                "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
                "AWS_ENDPOINT_URL": cls.moto.base_url, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
                "AWS_ACCESS_KEY_ID": "AKIAFAKECLIDEPLOY", "AWS_SECRET_ACCESS_KEY": "fake",
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            }
            session = boto3.session.Session(region_name=REGION, aws_access_key_id="AKIAFAKECLIDEPLOY",
                                            aws_secret_access_key="fake")
            cls.clients = {name: session.client(name, endpoint_url=cls.moto.base_url)
                           for name in ("dynamodb", "secretsmanager", "iam", "lambda", "apigateway", "logs")}
            package = stand_in_package(Path(cls.folder.name))
            cls.deployed = cls.run_script(DEPLOY, "--name", NAME, "--stage", STAGE, "--package", str(package))
            cls.after_deploy = cls.snapshot()
            cls.kept = cls.run_script(TEARDOWN, "--name", NAME)
            cls.after_teardown = cls.snapshot()
            cls.deleted = cls.run_script(TEARDOWN, "--name", NAME, "--delete-table")
            cls.after_delete = cls.snapshot()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls) -> None:
        cls.folder.cleanup()
        cls.moto.__exit__(None, None, None)

    @classmethod
    def run_script(cls, script: Path, *args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([str(script), *args], env=cls.env, capture_output=True, text=True,
                              timeout=SCRIPT_TIMEOUT_S)
        if done.returncode != 0:
            raise AssertionError(f"{script.name} {' '.join(args)} failed ({done.returncode}):\n"
                                 f"{done.stdout}\n{done.stderr}")
        return done

    @classmethod
    def snapshot(cls) -> dict:
        """Everything deploy.sh makes, as moto reports it (None: absent)."""
        c = cls.clients
        found: dict = {}
        try:
            found["table"] = c["dynamodb"].describe_table(TableName=f"{NAME}-items")["Table"]
            found["ttl"] = c["dynamodb"].describe_time_to_live(TableName=f"{NAME}-items")["TimeToLiveDescription"]
            found["backups"] = c["dynamodb"].describe_continuous_backups(
                TableName=f"{NAME}-items")["ContinuousBackupsDescription"]
        except c["dynamodb"].exceptions.ResourceNotFoundException:
            found["table"] = None
        secrets = c["secretsmanager"].list_secrets(IncludePlannedDeletion=True)["SecretList"]
        found["secret"] = next((s for s in secrets if s["Name"] == f"{NAME}-api-token"), None)
        if found["secret"] is not None:
            found["secret_value"] = c["secretsmanager"].get_secret_value(SecretId=found["secret"]["ARN"])["SecretString"]
        try:
            found["role"] = c["iam"].get_role(RoleName=f"{NAME}-function")["Role"]
            found["role_policy"] = c["iam"].get_role_policy(RoleName=f"{NAME}-function",
                                                            PolicyName="items-api")["PolicyDocument"]
            found["attached"] = {p["PolicyArn"] for p in c["iam"].list_attached_role_policies(
                RoleName=f"{NAME}-function")["AttachedPolicies"]}
        except c["iam"].exceptions.NoSuchEntityException:
            found["role"] = None
        try:
            found["function"] = c["lambda"].get_function(FunctionName=NAME)["Configuration"]
        except c["lambda"].exceptions.ResourceNotFoundException:
            found["function"] = None
        try:
            found["policy"] = json.loads(c["lambda"].get_policy(FunctionName=NAME)["Policy"])
        except c["lambda"].exceptions.ResourceNotFoundException:  # no function, or no permission
            found["policy"] = None
        groups = c["logs"].describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{NAME}")["logGroups"]
        found["log_group"] = next((g for g in groups if g["logGroupName"] == f"/aws/lambda/{NAME}"), None)
        apis = [a for a in c["apigateway"].get_rest_apis()["items"] if a["name"] == NAME]
        found["apis"] = apis
        if len(apis) == 1:
            api_id = apis[0]["id"]
            found["resources"] = {}
            for resource in c["apigateway"].get_resources(restApiId=api_id)["items"]:
                integrations = {}
                for method in resource.get("resourceMethods") or {}:
                    integrations[method] = c["apigateway"].get_integration(
                        restApiId=api_id, resourceId=resource["id"], httpMethod=method)
                found["resources"][resource["path"]] = integrations
            found["stage"] = c["apigateway"].get_stage(restApiId=api_id, stageName=STAGE)
        return found

    # --- after the deploy ---------------------------------------------------------------

    def test_the_table_has_the_templates_key_schema_ttl_and_recovery(self) -> None:
        table = self.after_deploy["table"]
        self.assertIsNotNone(table)
        expected = template_table()
        self.assertEqual(sorted((k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]),
                         sorted((k["AttributeName"], k["KeyType"]) for k in expected["KeySchema"]))
        self.assertEqual(sorted((a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]),
                         sorted((a["AttributeName"], a["AttributeType"]) for a in expected["AttributeDefinitions"]))
        self.assertEqual(table["BillingModeSummary"]["BillingMode"], expected["BillingMode"])
        self.assertTrue(table.get("DeletionProtectionEnabled"))
        self.assertEqual(self.after_deploy["ttl"].get("AttributeName"),
                         expected["TimeToLiveSpecification"]["AttributeName"])
        self.assertEqual(self.after_deploy["backups"]["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"],
                         "ENABLED")

    def test_the_secret_holds_a_generated_token_of_the_templates_shape(self) -> None:
        self.assertIsNotNone(self.after_deploy["secret"])
        token = self.after_deploy["secret_value"]
        self.assertEqual(len(token), 48)
        self.assertTrue(token.isalnum(), "the template's GenerateSecretString excludes punctuation")
        self.assertNotIn(token, self.deployed.stdout + self.deployed.stderr, "the token was printed")

    def test_the_role_lets_lambda_assume_it_with_the_templates_statements(self) -> None:
        role = self.after_deploy["role"]
        self.assertIsNotNone(role)
        trust = role["AssumeRolePolicyDocument"]
        self.assertEqual(trust["Statement"][0]["Principal"], {"Service": "lambda.amazonaws.com"})
        statements = {s["Sid"]: s for s in self.after_deploy["role_policy"]["Statement"]}
        self.assertEqual(set(statements), {"ItemsTable", "ApiToken"})
        self.assertEqual(statements["ItemsTable"]["Resource"], self.after_deploy["table"]["TableArn"])
        self.assertEqual(sorted(statements["ItemsTable"]["Action"]),
                         sorted(template_table_actions()), "the template's actions, no more, no less")
        self.assertEqual(statements["ApiToken"]["Action"], "secretsmanager:GetSecretValue")
        self.assertEqual(statements["ApiToken"]["Resource"], self.after_deploy["secret"]["ARN"])
        self.assertEqual(self.after_deploy["attached"], {
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"})

    def test_the_function_is_the_templates_arm64_custom_runtime_with_its_environment(self) -> None:
        function = self.after_deploy["function"]
        self.assertIsNotNone(function)
        self.assertEqual(function["Runtime"], "provided.al2023")
        self.assertEqual(function["Architectures"], ["arm64"])
        self.assertEqual(function["Handler"], "bootstrap")
        self.assertEqual((function["MemorySize"], function["Timeout"]), (256, 10))
        self.assertEqual(function["TracingConfig"]["Mode"], "Active")
        self.assertEqual(function["Role"], self.after_deploy["role"]["Arn"])
        variables = function["Environment"]["Variables"]
        self.assertEqual(set(variables), set(template_function()["Environment"]["Variables"]))
        self.assertEqual(variables["ITEMS_TABLE"], f"{NAME}-items")
        self.assertEqual(variables["API_TOKEN_SECRET_ARN"], self.after_deploy["secret"]["ARN"])
        self.assertEqual(variables["STORE_TIMEOUT_MS"], "3000")
        self.assertEqual(self.after_deploy["log_group"]["retentionInDays"], 30)

    def test_the_rest_api_sends_every_method_of_root_and_proxy_to_the_function(self) -> None:
        self.assertEqual(len(self.after_deploy["apis"]), 1)
        resources = self.after_deploy["resources"]
        self.assertEqual(set(resources), {"/", "/{proxy+}"})
        function_arn = self.after_deploy["function"]["FunctionArn"]
        for path, integrations in resources.items():
            self.assertEqual(set(integrations), PROXY_METHODS, path)
            for method, integration in integrations.items():
                # AWS answers AWS_PROXY; moto repeats the document's aws_proxy.
                self.assertEqual(integration["type"].upper(), "AWS_PROXY", (path, method))
                self.assertEqual(integration["httpMethod"], "POST", (path, method))
                self.assertEqual(integration["uri"], f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/"
                                                     f"functions/{function_arn}/invocations", (path, method))

    def test_the_stage_is_deployed_with_the_templates_throttling(self) -> None:
        stage = self.after_deploy["stage"]
        self.assertEqual(stage["stageName"], STAGE)
        self.assertTrue(stage["deploymentId"])
        self.assertTrue(stage["tracingEnabled"])
        settings = stage["methodSettings"]["*/*"]
        self.assertEqual((settings["throttlingRateLimit"], settings["throttlingBurstLimit"]), (100.0, 200))
        api_id = self.after_deploy["apis"][0]["id"]
        self.assertIn(f"https://{api_id}.execute-api.{REGION}.amazonaws.com/{STAGE}", self.deployed.stdout)

    def test_api_gateway_may_invoke_the_function_from_this_api_only(self) -> None:
        self.assertIsNotNone(self.after_deploy["policy"], "the function has no resource policy")
        statements = self.after_deploy["policy"]["Statement"]
        self.assertEqual(len(statements), 1)
        statement = statements[0]
        self.assertEqual(statement["Action"], "lambda:InvokeFunction")
        self.assertEqual(statement["Principal"], {"Service": "apigateway.amazonaws.com"})
        api_id = self.after_deploy["apis"][0]["id"]
        self.assertEqual(statement["Condition"]["ArnLike"]["AWS:SourceArn"],
                         f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/*/*/*")

    def test_the_imported_document_carries_the_templates_gateway_responses_and_media_types(self) -> None:
        # moto ignores these extensions; the document deploy.sh imports is checked instead.
        document = api_document.document(f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{NAME}", REGION)
        api = template_resource("AWS::Serverless::Api")
        responses = document["x-amazon-apigateway-gateway-responses"]
        self.assertEqual(set(responses), set(api["GatewayResponses"]))
        for kind, response in responses.items():
            self.assertEqual(response["responseParameters"]["gatewayresponse.header.Content-Type"],
                             "'application/problem+json'", kind)
            self.assertIn('"request_id":"$context.requestId"', response["responseTemplates"]["application/json"])
        self.assertEqual(document["x-amazon-apigateway-binary-media-types"], ["*/*"])

    # --- after the teardowns --------------------------------------------------------------

    def test_teardown_removes_everything_but_the_table_by_default(self) -> None:
        after = self.after_teardown
        self.assertEqual(after["apis"], [])
        self.assertIsNone(after["function"])
        self.assertIsNone(after["log_group"])
        self.assertIsNone(after["role"])
        self.assertIsNone(after["secret"])
        self.assertIsNotNone(after["table"], "the table (and the items) must survive a plain teardown")
        self.assertIn("kept the table", self.kept.stdout)

    def test_teardown_with_delete_table_removes_the_table_and_skips_what_is_gone(self) -> None:
        after = self.after_delete
        self.assertIsNone(after["table"])
        self.assertEqual(after["apis"], [])
        self.assertIsNone(after["function"])
        self.assertIsNone(after["role"])
        self.assertIsNone(after["secret"])
        self.assertNotIn("== teardown: function", self.deleted.stdout)


def template_resource(kind: str) -> dict:
    """The properties of template.yaml's one resource of type `kind`."""
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)  # noqa: S506
    found = [r["Properties"] for r in template["Resources"].values() if r.get("Type") == kind]
    assert len(found) == 1, f"template.yaml has {len(found)} {kind}"
    return found[0]


def template_table() -> dict:
    return template_resource("AWS::DynamoDB::Table")


def template_function() -> dict:
    return template_resource("AWS::Serverless::Function")


if __name__ == "__main__":
    unittest.main()
