"""deploy/preflight.py finds what would make `sam deploy` fail and prints the fix.

Against moto_server on 127.0.0.1 (started here, on a free port, with fake credentials)
for what moto serves: sts GetCallerIdentity, apigateway GetAccount and UpdateAccount,
iam (the printed fix commands run against it), cloudformation DescribeStacks and
ListStackResources for an absent stack and a CREATE_COMPLETE one. botocore's Stubber,
with the response shapes AWS documents, for the rest:
- lambda GetAccountSettings: moto 5.2.5 has no such route (it answers 404);
- stack states moto never reaches (it creates every stack CREATE_COMPLETE and has no
  rollback): ROLLBACK_COMPLETE, UPDATE_ROLLBACK_FAILED, *_IN_PROGRESS;
- a stack function's current reservation, and credentials AWS refuses.
The sam and cargo-lambda on PATH are small scripts that print a chosen version.
Run by `make tools-self-test`.
"""

import contextlib
import datetime
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest
import urllib.request
from pathlib import Path
from unittest import mock

import boto3
from botocore.stub import Stubber

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service import ROOT, VENV_BIN, Service  # noqa: E402

sys.path.insert(0, str(ROOT / "deploy"))
import preflight  # noqa: E402

PREFLIGHT = ROOT / "deploy" / "preflight.sh"
REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's account
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIAFAKEPREFLIGHT", "AWS_SECRET_ACCESS_KEY": "fake",
                    "AWS_EC2_METADATA_DISABLED": "true"}
# The template parameters as they will be added to template.yaml.
TEMPLATE = """\
Parameters:
  ReservedConcurrency:
    Type: Number
    Default: {reserved}
  ApiGatewayAccountRole:
    Type: String
    Default: existing
    AllowedValues: [existing, create]
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: !Ref StageName
"""
SAMCONFIG = """\
version = 0.1
[default.deploy.parameters]
stack_name = "items-api"
parameter_overrides = "StageName=\\"prod\\" LogRetentionDays=\\"30\\""
[withregion.deploy.parameters]
stack_name = "items-api-staging"
region = "eu-north-1"
"""


def account_settings(limit: int, unreserved: int) -> dict:
    """lambda GetAccountSettings' answer, as AWS documents it
    (https://docs.aws.amazon.com/lambda/latest/api/API_GetAccountSettings.html)."""
    return {"AccountLimit": {"TotalCodeSize": 80530636800, "CodeSizeUnzipped": 262144000,
                             "CodeSizeZipped": 52428800, "ConcurrentExecutions": limit,
                             "UnreservedConcurrentExecutions": unreserved},
            "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": 0}}


def stack_in(status: str) -> dict:
    """cloudformation DescribeStacks' answer for one stack in `status`."""
    return {"Stacks": [{
        "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/items-api/5f1e2a80-0000-11f0-9a3b-0a1b2c3d4e5f",
        "StackName": "items-api", "CreationTime": datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC),
        "StackStatus": status, "DisableRollback": False}]}


def settings(**changes) -> preflight.DeploySettings:
    values = {"config_env": "default", "region": REGION, "region_source": "--region", "stack_name": "items-api",
              "overrides": {"StageName": "prod"}, "template_defaults": {"ReservedConcurrency": "0",
                                                                       "ApiGatewayAccountRole": "existing"}}
    return preflight.DeploySettings(**{**values, **changes})


def fake_tools(folder: Path, sam: str | None = "1.170.0", cargo_lambda: str | None = "1.9.2") -> str:
    """A PATH holding only a `sam` and a `cargo` that print these versions (None: absent)."""
    folder.mkdir(parents=True, exist_ok=True)
    if sam is not None:
        (folder / "sam").write_text(f'#!/bin/sh\necho "SAM CLI, version {sam}"\n')
    lambda_answer = (f'echo "cargo-lambda {cargo_lambda} (67129fc 2026-08-21Z)"; exit 0' if cargo_lambda
                     else 'echo "error: no such command: \\`lambda\\`" >&2; exit 101')
    (folder / "cargo").write_text(f'#!/bin/sh\nif [ "$1" = lambda ]; then {lambda_answer}; fi\nexit 1\n')
    for script in folder.iterdir():
        script.chmod(0o755)
    return str(folder)


class PreflightAgainstMotoTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # The managed policy the printed fix attaches exists in moto only when loaded.
        cls.moto = Service(command=[str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", "{port}"],
                           env={"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}, health_path="/moto-api/", timeout=30)
        cls.moto.__enter__()
        cls.session = boto3.session.Session(region_name=REGION, aws_access_key_id="AKIAFAKEPREFLIGHT",
                                            aws_secret_access_key="fake")

    @classmethod
    def tearDownClass(cls):
        cls.moto.__exit__(None, None, None)

    def setUp(self):
        request = urllib.request.Request(self.moto.base_url + "/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        self.folder = Path(folder.name)
        (self.folder / "samconfig.toml").write_text(SAMCONFIG)
        self.template(reserved=0)
        self.tools = fake_tools(self.folder / "bin")

    def template(self, reserved: int) -> None:
        (self.folder / "template.yaml").write_text(TEMPLATE.format(reserved=reserved))

    def client(self, name: str):
        return self.session.client(name, endpoint_url=self.moto.base_url)

    def stubbed(self, name: str) -> tuple[object, Stubber]:
        client = self.client(name)
        stubber = Stubber(client)
        stubber.activate()
        self.addCleanup(stubber.deactivate)
        return client, stubber

    def clients(self, limit: int = 1000, unreserved: int = 1000) -> preflight.Clients:
        """moto's clients, but lambda's GetAccountSettings (not in moto) answers `limit`/`unreserved`."""
        lambda_, stubber = self.stubbed("lambda")
        stubber.add_response("get_account_settings", account_settings(limit, unreserved))
        self.addCleanup(stubber.assert_no_pending_responses)
        return preflight.Clients(sts=self.client("sts"), lambda_=lambda_, apigateway=self.client("apigateway"),
                                 cloudformation=self.client("cloudformation"), iam=self.client("iam"))

    def set_logs_role(self, make_role: bool = True) -> str:
        arn = f"arn:aws:iam::{ACCOUNT}:role/existing-apigateway-logs"
        if make_role:
            self.client("iam").create_role(RoleName="existing-apigateway-logs", AssumeRolePolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                        "Principal": {"Service": "apigateway.amazonaws.com"}}]}))
        self.client("apigateway").update_account(
            patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": arn}])
        return arn

    def preflight(self, *args: str, clients: preflight.Clients) -> tuple[int, str]:
        """deploy/preflight.py's main on these clients and fake tools: (exit status, output)."""
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            code = preflight.main(["--config-file", str(self.folder / "samconfig.toml"),
                                   "--template-file", str(self.folder / "template.yaml"), *args],
                                  environ={"PATH": self.tools}, clients_for=lambda region: clients, path=self.tools)
        return code, output.getvalue()

    def test_an_account_ready_for_the_first_deploy_passes_every_check(self):
        self.set_logs_role()
        code, output = self.preflight("--region", REGION, "--parameter", "ReservedConcurrency=100",
                                      clients=self.clients(limit=1000, unreserved=1000))
        self.assertEqual(code, 0, output)
        lines = output.splitlines()
        self.assertEqual([line.split()[1] for line in lines[:-1]], ["ok"] * 7, output)
        for check in ("region", "credentials", "concurrency", "api-logging", "sam", "cargo-lambda", "stack"):
            self.assertRegex(output, rf"preflight: ok +{check} ")
        self.assertIn(f"arn:aws:sts::{ACCOUNT}:user/moto", output)
        self.assertIn("leaves 900 of the account's 1000 unreserved", output)
        self.assertIn(f"no stack items-api in {REGION} yet: sam deploy creates it", output)
        self.assertIn("preflight: all 7 checks passed", lines[-1])

    def test_a_deploy_of_a_build_made_elsewhere_needs_no_cargo_lambda(self):
        # The pipeline's deploy jobs (deploy/deploy.sh): the package job built it.
        self.set_logs_role()
        self.tools = fake_tools(self.folder / "deploy-job", cargo_lambda=None)
        code, output = self.preflight("--region", REGION, "--deploy-only", clients=self.clients())
        self.assertEqual(code, 0, output)
        self.assertNotIn("cargo-lambda", output)
        code, output = self.preflight("--region", REGION, clients=self.clients())
        self.assertEqual(code, 1, output)
        self.assertRegex(output, r"preflight: FAIL cargo-lambda ")

    def test_a_reservation_against_a_new_accounts_quota_of_10_fails_with_the_fix(self):
        self.set_logs_role()
        code, output = self.preflight("--region", REGION, "--parameter", "ReservedConcurrency=100",
                                      clients=self.clients(limit=10, unreserved=10))
        self.assertEqual(code, 1, output)
        self.assertIn("preflight: FAIL concurrency  ReservedConcurrency=100 (--parameter) would leave -90 "
                      "unreserved of the account's limit of 10", output)
        self.assertIn("below its minimum value of [100]", output)
        # The reservation dropped, samconfig.toml's overrides kept (the command line replaces them).
        self.assertIn("  fix: sam build && sam deploy --config-env default --stack-name items-api --region eu-west-1 "
                      "--parameter-overrides 'StageName=\"prod\" LogRetentionDays=\"30\" ReservedConcurrency=\"0\"'",
                      output)
        self.assertIn("   or: aws service-quotas request-service-quota-increase --service-code lambda "
                      "--quota-code L-B99A9384 --desired-value 1000 --region eu-west-1", output)
        self.assertIn("preflight: 1 of 7 checks failed", output)

    def test_no_reservation_passes_on_a_quota_of_10(self):
        self.set_logs_role()
        code, output = self.preflight("--region", REGION, clients=self.clients(limit=10, unreserved=10))
        self.assertEqual(code, 0, output)
        self.assertIn("no reservation (ReservedConcurrency=0, template default); account limit 10", output)

    def test_the_templates_default_reservation_counts_when_nothing_overrides_it(self):
        self.set_logs_role()
        self.template(reserved=100)
        code, output = self.preflight("--region", REGION, clients=self.clients(limit=10, unreserved=10))
        self.assertEqual(code, 1, output)
        self.assertIn("FAIL concurrency  ReservedConcurrency=100 (template default)", output)

    def test_without_a_logs_role_existing_fails_with_the_commands_that_set_one(self):
        code, output = self.preflight("--region", REGION, clients=self.clients())
        self.assertEqual(code, 1, output)
        self.assertIn(f"preflight: FAIL api-logging  API Gateway in {REGION} has no CloudWatch Logs role "
                      "(cloudwatchRoleArn) and ApiGatewayAccountRole=existing (template default)", output)
        self.assertIn("CloudWatch Logs role ARN must be set in account settings", output)
        self.assertIn("--parameter-overrides 'StageName=\"prod\" LogRetentionDays=\"30\" "
                      "ApiGatewayAccountRole=\"create\"'", output)
        self.assertIn("--policy-arn arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
                      output)
        self.assertIn("aws apigateway update-account --patch-operations op=replace,path=/cloudwatchRoleArn,"
                      f"value=arn:aws:iam::{ACCOUNT}:role/APIGatewayPushToCloudWatchLogs --region {REGION}", output)

    def test_the_printed_role_commands_give_the_account_its_role(self):
        apigateway = self.client("apigateway")
        finding = preflight.check_api_gateway_logging(apigateway, settings(), ACCOUNT)
        self.assertFalse(finding.ok)
        commands = finding.fixes[1]
        env = {**os.environ, **FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": self.moto.base_url,
               "AWS_DEFAULT_REGION": REGION, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", commands], env=env, capture_output=True,
                              text=True, timeout=120, check=False)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        after = preflight.check_api_gateway_logging(apigateway, settings(), ACCOUNT)
        self.assertTrue(after.ok, after)
        self.assertIn(f"arn:aws:iam::{ACCOUNT}:role/APIGatewayPushToCloudWatchLogs", after.summary)

    def test_a_setting_that_names_a_deleted_role_fails_with_the_commands(self):
        # A stack with ApiGatewayAccountRole=create made the role, and it was deleted.
        arn = self.set_logs_role(make_role=False)
        finding = preflight.check_api_gateway_logging(self.client("apigateway"), settings(), ACCOUNT,
                                                      self.client("iam"))
        self.assertFalse(finding.ok)
        self.assertIn(f"names {arn} as its CloudWatch Logs role, which does not exist", finding.summary)
        self.assertIn("aws iam create-role", finding.fixes[1])
        self.set_logs_role()
        self.assertTrue(preflight.check_api_gateway_logging(self.client("apigateway"), settings(), ACCOUNT,
                                                            self.client("iam")).ok)

    def test_without_a_logs_role_create_passes(self):
        code, output = self.preflight("--region", REGION, "--parameter", "ApiGatewayAccountRole=create",
                                      clients=self.clients())
        self.assertEqual(code, 0, output)
        self.assertIn("preflight: ok   api-logging  ApiGatewayAccountRole=create (--parameter): the stack sets",
                      output)

    def test_an_http_api_needs_no_logs_role(self):
        # No role in the account: a REST API's stage would fail, an HTTP API's does not.
        self.assertFalse(preflight.check_api_gateway_logging(self.client("apigateway"), settings(), ACCOUNT).ok)
        finding = preflight.check_api_gateway_logging(
            self.client("apigateway"), settings(overrides={"ApiType": "Http"}), ACCOUNT)
        self.assertTrue(finding.ok, finding)
        self.assertIn("ApiType=Http", finding.summary)

    def test_an_unknown_role_mode_fails(self):
        finding = preflight.check_api_gateway_logging(
            self.client("apigateway"), settings(overrides={"ApiGatewayAccountRole": "Existing"}), ACCOUNT)
        self.assertFalse(finding.ok)
        self.assertIn("is neither existing nor create", finding.summary)

    def test_a_stack_moto_created_is_one_sam_deploy_updates(self):
        self.client("cloudformation").create_stack(
            StackName="items-api", TemplateBody='{"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}')
        finding = preflight.check_stack(self.client("cloudformation"), settings())
        self.assertTrue(finding.ok, finding)
        self.assertEqual(finding.summary, "stack items-api is CREATE_COMPLETE: sam deploy updates it")

    def test_a_stack_in_rollback_complete_fails_with_the_delete_command(self):
        cloudformation, stubber = self.stubbed("cloudformation")
        stubber.add_response("describe_stacks", stack_in("ROLLBACK_COMPLETE"), {"StackName": "items-api"})
        finding = preflight.check_stack(cloudformation, settings())
        self.assertFalse(finding.ok)
        self.assertEqual(finding.summary, "stack items-api is ROLLBACK_COMPLETE: sam deploy cannot update it")
        self.assertIn("cannot update such a stack, only delete it", finding.why)
        self.assertEqual(finding.fixes, (
            ("aws cloudformation delete-stack --stack-name items-api --region eu-west-1 && "
             "aws cloudformation wait stack-delete-complete --stack-name items-api --region eu-west-1"),))

    def test_each_state_sam_deploy_cannot_update_fails_with_its_fix(self):
        cases = {
            "ROLLBACK_FAILED": "aws cloudformation delete-stack --stack-name items-api",
            "DELETE_FAILED": "aws cloudformation delete-stack --stack-name items-api",
            "UPDATE_ROLLBACK_FAILED": ("aws cloudformation continue-update-rollback --stack-name items-api "
                                       "--region eu-west-1 && aws cloudformation wait stack-rollback-complete"),
            "UPDATE_IN_PROGRESS": "aws cloudformation wait stack-update-complete --stack-name items-api",
            "CREATE_IN_PROGRESS": "aws cloudformation wait stack-create-complete --stack-name items-api",
            "DELETE_IN_PROGRESS": "aws cloudformation wait stack-delete-complete --stack-name items-api",
            "ROLLBACK_IN_PROGRESS": "grep -q _IN_PROGRESS; do sleep 15; done",
        }
        for status, fix in cases.items():
            with self.subTest(status):
                cloudformation, stubber = self.stubbed("cloudformation")
                stubber.add_response("describe_stacks", stack_in(status))
                finding = preflight.check_stack(cloudformation, settings())
                self.assertFalse(finding.ok, finding)
                self.assertIn(fix, finding.fixes[0])

    def test_a_change_set_never_executed_is_a_first_deploy(self):
        cloudformation, stubber = self.stubbed("cloudformation")
        stubber.add_response("describe_stacks", stack_in("REVIEW_IN_PROGRESS"))
        self.assertTrue(preflight.check_stack(cloudformation, settings()).ok)

    def test_a_reservation_must_leave_100_unreserved(self):
        for unreserved, ok in ((200, True), (199, False)):
            with self.subTest(unreserved=unreserved):
                lambda_, stubber = self.stubbed("lambda")
                stubber.add_response("get_account_settings", account_settings(1000, unreserved))
                finding = preflight.check_concurrency(lambda_, settings(overrides={"ReservedConcurrency": "100"}))
                self.assertEqual(finding.ok, ok, finding)

    def test_the_reservation_this_stack_holds_counts_as_given_back(self):
        # Two stacks of 450 in an account of 1000: 100 left. Redeploying one asks its 450 again.
        cloudformation, cfn_stubber = self.stubbed("cloudformation")
        cfn_stubber.add_response("list_stack_resources", {"StackResourceSummaries": [
            {"LogicalResourceId": "ItemsFunction", "PhysicalResourceId": "items-api-ItemsFunction-AbC123",
             "ResourceType": "AWS::Lambda::Function", "ResourceStatus": "UPDATE_COMPLETE",
             "LastUpdatedTimestamp": datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC)}]})
        lambda_, lambda_stubber = self.stubbed("lambda")
        lambda_stubber.add_response("get_function_concurrency", {"ReservedConcurrentExecutions": 450},
                                    {"FunctionName": "items-api-ItemsFunction-AbC123"})
        lambda_stubber.add_response("get_account_settings", account_settings(1000, 100))
        held = preflight.reserved_by_stack(cloudformation, lambda_, "items-api")
        self.assertEqual(held, 450)
        finding = preflight.check_concurrency(lambda_, settings(overrides={"ReservedConcurrency": "450"}), held)
        self.assertTrue(finding.ok, finding)
        self.assertIn("counting the 450 this stack holds now", finding.summary)

    def test_a_read_the_credentials_may_not_make_fails_naming_the_permission(self):
        self.set_logs_role()
        lambda_, stubber = self.stubbed("lambda")
        stubber.add_client_error("get_account_settings", "AccessDeniedException",
                                 "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: "
                                 "lambda:GetAccountSettings", 403)
        clients = preflight.Clients(sts=self.client("sts"), lambda_=lambda_, apigateway=self.client("apigateway"),
                                    cloudformation=self.client("cloudformation"))
        code, output = self.preflight("--region", REGION, clients=clients)
        self.assertEqual(code, 1, output)
        self.assertIn("preflight: FAIL concurrency  lambda:GetAccountSettings", output)
        self.assertIn("refused: AccessDeniedException", output)
        self.assertIn("  fix: allow lambda:GetAccountSettings", output)

    def test_credentials_aws_refuses_fail_with_the_login_commands(self):
        sts, stubber = self.stubbed("sts")
        stubber.add_client_error("get_caller_identity", "InvalidClientTokenId",
                                 "The security token included in the request is invalid.", 403)
        finding, account = preflight.check_credentials(sts)
        self.assertIsNone(account)
        self.assertFalse(finding.ok)
        self.assertIn("InvalidClientTokenId", finding.summary)
        self.assertIn("aws configure", finding.fixes[0])


class PreflightWithoutAwsTest(unittest.TestCase):
    def setUp(self):
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        self.folder = Path(folder.name)
        (self.folder / "samconfig.toml").write_text(SAMCONFIG)

    def test_a_missing_region_fails_clearly_and_nothing_calls_aws(self):
        tools = fake_tools(self.folder / "bin")
        env = {"PATH": f"{tools}{os.pathsep}/usr/bin{os.pathsep}/bin", "HOME": str(self.folder),
               "AWS_CONFIG_FILE": str(self.folder / "no-config"),
               "AWS_SHARED_CREDENTIALS_FILE": str(self.folder / "no-credentials"), **FAKE_CREDENTIALS}
        done = subprocess.run(["bash", str(PREFLIGHT), "--config-file", str(self.folder / "samconfig.toml")],
                              env=env, capture_output=True, text=True, timeout=120, check=False)
        self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
        self.assertIn("preflight: FAIL region       no region: neither --region, AWS_REGION, AWS_DEFAULT_REGION, "
                      "samconfig.toml [default.deploy.parameters] region nor the AWS profile sets one", done.stdout)
        self.assertIn("  fix: export AWS_REGION=eu-west-1", done.stdout)
        for check in ("credentials", "concurrency", "api-logging", "stack"):
            self.assertRegex(done.stdout, rf"preflight: skip {check} +not checked")
        self.assertIn("preflight: ok   sam ", done.stdout)

    def test_the_region_comes_from_the_flag_then_the_environment_then_samconfig_then_the_profile(self):
        profile = self.folder / "config"
        profile.write_text("[default]\nregion = ap-south-1\n")
        env = {"AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "us-east-2"}
        with mock.patch.dict(os.environ, {"AWS_CONFIG_FILE": str(profile)}):
            os.environ.pop("AWS_DEFAULT_REGION", None)
            os.environ.pop("AWS_REGION", None)
            os.environ.pop("AWS_PROFILE", None)
            resolve = preflight.resolve_region
            self.assertEqual(resolve("eu-west-3", env, "eu-north-1", "default"), ("eu-west-3", "--region"))
            self.assertEqual(resolve(None, env, "eu-north-1", "default"), ("us-west-2", "AWS_REGION"))
            self.assertEqual(resolve(None, {"AWS_DEFAULT_REGION": "us-east-2"}, "eu-north-1", "default"),
                             ("us-east-2", "AWS_DEFAULT_REGION"))
            self.assertEqual(resolve(None, {}, "eu-north-1", "staging"),
                             ("eu-north-1", "samconfig.toml [staging.deploy.parameters]"))
            self.assertEqual(resolve(None, {}, None, "default"), ("ap-south-1", "the AWS profile default"))
            profile.write_text("[default]\n")
            self.assertEqual(resolve(None, {}, None, "default"), (None, ""))

    def test_samconfig_gives_the_stack_region_and_overrides_and_parameter_wins(self):
        args = preflight.parse_args(["--config-env", "withregion", "--config-file", str(self.folder / "samconfig.toml"),
                                     "--parameter", "ReservedConcurrency=5"])
        loaded = preflight.load_settings(args, {})
        self.assertEqual((loaded.region, loaded.stack_name), ("eu-north-1", "items-api-staging"))
        self.assertEqual(loaded.parameter("ReservedConcurrency"), ("5", "--parameter"))

    def test_an_unknown_config_env_is_a_usage_error(self):
        done = subprocess.run(["bash", str(PREFLIGHT), "--config-env", "prod", "--config-file",
                               str(self.folder / "samconfig.toml")], capture_output=True, text=True, timeout=60,
                              check=False)
        self.assertEqual(done.returncode, 2, done.stdout + done.stderr)
        self.assertIn("has no environment 'prod' (it has default, withregion)", done.stderr)

    def test_the_repositorys_samconfig_and_template_are_read(self):
        loaded = preflight.load_settings(preflight.parse_args(["--region", REGION]), {})
        self.assertTrue(loaded.stack_name)
        self.assertIn("StageName", loaded.overrides)
        self.assertIn("StageName", loaded.template_defaults)

    def test_parameter_overrides_in_each_form_sam_accepts(self):
        self.assertEqual(preflight.parse_overrides('StageName="prod" Empty="" Plain=1'),
                         {"StageName": "prod", "Empty": "", "Plain": "1"})
        self.assertEqual(preflight.parse_overrides(["A=1", 'ParameterKey=B,ParameterValue="two words"']),
                         {"A": "1", "B": "two words"})

    def test_what_sam_deploy_save_params_writes_is_read(self):
        # sam 1.170's --save-params rewrites parameter_overrides as a table and puts the
        # region under global.parameters (what `sam deploy --region R --save-params
        # --parameter-overrides ...` left in samconfig.toml).
        config = self.folder / "saved.toml"
        config.write_text('version = 0.1\n\n[default.global.parameters]\nregion = "eu-south-1"\n\n'
                          '[default.deploy.parameters]\nstack_name = "items-api"\n\n'
                          '[default.deploy.parameters.parameter_overrides]\n'
                          'ReservedConcurrency = "200"\nApiGatewayAccountRole = "create"\n')
        loaded = preflight.load_settings(preflight.parse_args(["--config-file", str(config)]), {})
        self.assertEqual(loaded.region, "eu-south-1")
        self.assertEqual(loaded.parameter("ReservedConcurrency"), ("200", "samconfig.toml [default]"))
        self.assertEqual(loaded.parameter("ApiGatewayAccountRole")[0], "create")

    def test_the_printed_deploy_builds_first(self):
        settings = preflight.load_settings(preflight.parse_args(
            ["--config-file", str(self.folder / "samconfig.toml"), "--region", REGION]), {})
        self.assertTrue(settings.sam_deploy_with("ReservedConcurrency", "0").startswith("sam build && sam deploy "))

    def test_an_old_sam_fails_with_the_install_command(self):
        path = fake_tools(self.folder / "old", sam="1.100.0")
        finding = preflight.check_tool(preflight.TOOLS[0], path)
        self.assertFalse(finding.ok)
        self.assertEqual(finding.summary, "sam 1.100.0 is older than 1.170")
        self.assertIn("tests/tools/setup.sh", finding.fixes[0])
        self.assertEqual(finding.fixes[1], "pip install --upgrade 'aws-sam-cli>=1.170'")

    def test_versions_compare_as_numbers(self):
        path = fake_tools(self.folder / "new", sam="2.0.0", cargo_lambda="1.10.0")
        self.assertTrue(preflight.check_tool(preflight.TOOLS[0], path).ok)
        self.assertTrue(preflight.check_tool(preflight.TOOLS[1], path).ok)

    def test_missing_tools_are_named_with_their_install_commands(self):
        path = fake_tools(self.folder / "none", sam=None, cargo_lambda=None)
        sam, cargo_lambda = (preflight.check_tool(tool, path) for tool in preflight.TOOLS)
        self.assertFalse(sam.ok)
        self.assertIn("`sam --version` did not run", sam.summary)
        self.assertFalse(cargo_lambda.ok)
        self.assertIn("`cargo lambda --version` did not run", cargo_lambda.summary)
        self.assertEqual(cargo_lambda.fixes[1], "pip install --upgrade 'cargo-lambda>=1.9'")


if __name__ == "__main__":
    unittest.main()
