#!/usr/bin/env python3
"""Deploy preflight: what would make `sam deploy` of template.yaml fail, found before it starts.

    deploy/preflight.sh [--region R] [--stack-name S] [--config-env ENV] [--parameter NAME=VALUE ...]
                        [--config-file samconfig.toml] [--template-file template.yaml]

Run by `make preflight` before the first deploy and by the delivery pipeline before each
one, with the deployer's own credentials. It reads samconfig.toml's environment ENV
(default `default`) as `sam deploy --config-env ENV` does: the region, the stack name and
the parameter overrides; `--parameter` wins over those, and a parameter set nowhere takes
the template's default. It only reads (sts GetCallerIdentity, lambda GetAccountSettings
and GetFunctionConcurrency, apigateway GetAccount, cloudformation DescribeStacks and
ListStackResources): nothing in the account changes.

One line per check, `preflight: ok ...` or `preflight: FAIL ...`; a failure goes on with
`  why:` (why AWS or the build refuses it) and `  fix:` (the command that fixes it; `or:`
for another way). Exit status 1 when a check fails, 0 when all pass, 2 on a usage error.

Each check is a function of boto3 clients (the tool checks: of a PATH) returning a
Finding, so tests/tools/test_preflight.py runs them against moto and botocore's Stubber. The AWS
endpoint can be redirected with AWS_ENDPOINT_URL, as for every boto3 client.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

ROOT = Path(__file__).resolve().parents[1]

# Lambda keeps this much of the account's concurrency for functions without a
# reservation and refuses a reservation that would leave less: "Specified
# ReservedConcurrentExecutions for function decreases account's
# UnreservedConcurrentExecution below its minimum value of [100]."
# https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html
MIN_UNRESERVED = 100
# The Service Quotas code of "Concurrent executions"; a new account's quota is 10.
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
CONCURRENCY_QUOTA_CODE = "L-B99A9384"
# What a parameter is when neither --parameter, samconfig.toml nor the template sets it.
FALLBACK_DEFAULTS = {"ReservedConcurrency": "0", "ApiGatewayAccountRole": "existing", "ApiType": "Rest"}
API_GATEWAY_ROLE_MODES = ("existing", "create")
# The AWS managed policy that lets API Gateway write logs to CloudWatch Logs.
# https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html
API_GATEWAY_LOGS_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
API_GATEWAY_LOGS_ROLE = "APIGatewayPushToCloudWatchLogs"


@dataclass(frozen=True)
class Finding:
    """The outcome of one check: what was seen and, when it fails, why and how to fix it."""

    check: str
    ok: bool
    summary: str
    why: str = ""
    # Alternatives; one alternative may be several commands, one per line.
    fixes: tuple[str, ...] = ()
    skipped: bool = False


def passed(check: str, summary: str) -> Finding:
    return Finding(check, True, summary)


def failed(check: str, summary: str, why: str, *fixes: str) -> Finding:
    return Finding(check, False, summary, why, fixes)


def skipped(check: str, summary: str) -> Finding:
    return Finding(check, False, summary, skipped=True)


class UsageError(Exception):
    """The command line names something that is not there (exit status 2)."""


@dataclass(frozen=True)
class DeploySettings:
    """What `sam deploy --config-env ENV` would deploy, from the command line and samconfig.toml."""

    config_env: str
    region: str | None
    region_source: str
    stack_name: str | None
    # samconfig.toml's parameter_overrides of ENV with --parameter applied: what the
    # deploy passes to CloudFormation.
    overrides: dict[str, str] = field(default_factory=dict)
    cli_parameters: frozenset[str] = frozenset()
    template_defaults: dict[str, str] = field(default_factory=dict)
    # The build was made elsewhere (the pipeline's deploy jobs): no builder needed.
    deploy_only: bool = False

    def parameter(self, name: str) -> tuple[str, str]:
        """The value the stack would get for `name`, and where it comes from."""
        if name in self.overrides:
            source = "--parameter" if name in self.cli_parameters else f"samconfig.toml [{self.config_env}]"
            return self.overrides[name], source
        if name in self.template_defaults:
            return self.template_defaults[name], "template default"
        return FALLBACK_DEFAULTS[name], "default"

    def sam_deploy_with(self, name: str, value: str) -> str:
        """The `sam deploy` command with `name=value` added to the overrides. On the command
        line --parameter-overrides replaces samconfig.toml's, so it repeats all of them."""
        overrides = " ".join(f'{key}="{val}"' for key, val in {**self.overrides, name: value}.items())
        # `sam build` first: without a build, sam deploy would upload the source tree.
        return (f"sam build && sam deploy --config-env {self.config_env} --stack-name {self.stack_name or 'STACK'}"
                f" --region {self.region} --parameter-overrides {shlex.quote(overrides)}")


def parse_overrides(value: str | list[str] | dict | None) -> dict[str, str]:
    """samconfig.toml's parameter_overrides (`A="x" B="y"`, a list of them, the
    `ParameterKey=A,ParameterValue=x` form, or the table `sam deploy --save-params`
    writes: `[ENV.deploy.parameters.parameter_overrides]` with `A = "x"`) as a dict."""
    if not value:
        return {}
    if isinstance(value, dict):
        return {str(name): str(val) for name, val in value.items()}
    tokens = [token for item in ([value] if isinstance(value, str) else value) for token in shlex.split(item)]
    overrides = {}
    for token in tokens:
        long_form = re.fullmatch(r"ParameterKey=([^,]+),ParameterValue=(.*)", token)
        if long_form:
            overrides[long_form[1]] = long_form[2]
        elif "=" in token:
            name, val = token.split("=", 1)
            overrides[name] = val
    return overrides


def read_template_defaults(template: Path) -> dict[str, str]:
    """The Default of each template parameter. Empty when the template cannot be read
    (or PyYAML, which the tools venv has, is missing): FALLBACK_DEFAULTS apply then."""
    try:
        import yaml
        text = template.read_text()
    except (ImportError, OSError):
        return {}

    class CloudFormationLoader(yaml.SafeLoader):
        """Reads !Ref, !Sub and the other short forms as plain values."""

    CloudFormationLoader.add_multi_constructor("!", lambda loader, suffix, node: None)
    document = yaml.load(text, Loader=CloudFormationLoader) or {}
    parameters = document.get("Parameters") or {}
    return {name: str(spec["Default"]) for name, spec in parameters.items()
            if isinstance(spec, dict) and "Default" in spec}


def load_settings(args: argparse.Namespace, environ: Mapping[str, str]) -> DeploySettings:
    """The settings of one deploy: the command line, then the environment, then samconfig.toml."""
    try:
        samconfig = tomllib.loads(Path(args.config_file).read_text())
    except FileNotFoundError:
        samconfig = {}
    if samconfig and args.config_env not in samconfig:
        environments = ", ".join(name for name, value in samconfig.items() if isinstance(value, dict))
        raise UsageError(f"{args.config_file} has no environment {args.config_env!r} (it has {environments})")
    env_section = samconfig.get(args.config_env, {})
    # As sam does: `deploy.parameters`, then `global.parameters` for what those lack.
    deploy = {**env_section.get("global", {}).get("parameters", {}),
              **env_section.get("deploy", {}).get("parameters", {})}
    region, source = resolve_region(args.region, environ, deploy.get("region"), args.config_env)
    cli = dict(item.split("=", 1) for item in args.parameter)
    return DeploySettings(
        config_env=args.config_env,
        region=region,
        region_source=source,
        stack_name=args.stack_name or deploy.get("stack_name"),
        overrides={**parse_overrides(deploy.get("parameter_overrides")), **cli},
        cli_parameters=frozenset(cli),
        template_defaults=read_template_defaults(Path(args.template_file)),
        deploy_only=args.deploy_only,
    )


def resolve_region(flag: str | None, environ: Mapping[str, str], samconfig_region: str | None,
                   config_env: str) -> tuple[str | None, str]:
    """The region and where it comes from: --region, AWS_REGION, AWS_DEFAULT_REGION,
    samconfig.toml, then the AWS profile's (what sam deploy would fall back to)."""
    if flag:
        return flag, "--region"
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if environ.get(name):
            return environ[name], name
    if samconfig_region:
        return samconfig_region, f"samconfig.toml [{config_env}.deploy.parameters]"
    try:
        profile_region = boto3.session.Session().region_name
    except BotoCoreError:  # AWS_PROFILE names no profile: the credentials check says so
        profile_region = None
    if profile_region:
        return profile_region, f"the AWS profile {environ.get('AWS_PROFILE', 'default')}"
    return None, ""


# --- 1. region and credentials ---------------------------------------------------------

def check_region(settings: DeploySettings) -> Finding:
    """A region is set: every AWS API call goes to one region's endpoint."""
    if settings.region:
        return passed("region", f"{settings.region} (from {settings.region_source})")
    # https://docs.aws.amazon.com/sdkref/latest/guide/feature-region.html
    return failed(
        "region",
        "no region: neither --region, AWS_REGION, AWS_DEFAULT_REGION, samconfig.toml "
        f"[{settings.config_env}.deploy.parameters] region nor the AWS profile sets one",
        "every AWS API call (and sam deploy's stack) goes to one region; without one the SDK refuses to call",
        "export AWS_REGION=eu-west-1   (your region; or: deploy/preflight.sh --region eu-west-1)",
        "aws configure set region eu-west-1   (the AWS profile's region, which sam deploy reads too)",
    )


def check_credentials(sts: Any) -> tuple[Finding, str | None]:
    """The credentials work: sts GetCallerIdentity answers. Returns the account id too."""
    # https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-files.html
    why = "every AWS API call must be signed with valid credentials (Signature Version 4)"
    fixes = ("aws configure   (an access key)", "aws sso login --profile NAME && export AWS_PROFILE=NAME")
    try:
        identity = sts.get_caller_identity()
    except NoCredentialsError:
        return failed("credentials", "no AWS credentials found (environment, ~/.aws, SSO or instance role)",
                      why, *fixes), None
    except BotoCoreError as error:  # an expired SSO session, an unknown profile, no network
        return failed("credentials", f"sts GetCallerIdentity failed: {error}", why, *fixes), None
    except ClientError as error:
        code = error.response["Error"].get("Code", "")
        return failed("credentials", f"sts GetCallerIdentity refused the credentials: {code}: "
                      f"{error.response['Error'].get('Message', '')}", why, *fixes), None
    return passed("credentials", f"{identity['Arn']} (account {identity['Account']})"), identity["Account"]


# --- 2. Lambda concurrency -------------------------------------------------------------

def reserved_by_stack(cloudformation: Any, lambda_: Any, stack_name: str | None) -> int:
    """The concurrency the stack's functions reserve now: an update gives it back before
    reserving again, and UnreservedConcurrentExecutions already excludes it."""
    if not stack_name:
        return 0
    reserved = 0
    try:
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
            for resource in page["StackResourceSummaries"]:
                if resource["ResourceType"] == "AWS::Lambda::Function" and resource.get("PhysicalResourceId"):
                    concurrency = lambda_.get_function_concurrency(FunctionName=resource["PhysicalResourceId"])
                    reserved += concurrency.get("ReservedConcurrentExecutions", 0)
    except ClientError as error:
        if _stack_is_missing(error):
            return 0
        raise
    return reserved


def check_concurrency(lambda_: Any, settings: DeploySettings, reserved_now: int = 0) -> Finding:
    """The ReservedConcurrency asked for leaves the account the 100 unreserved that Lambda keeps."""
    text, source = settings.parameter("ReservedConcurrency")
    try:
        asked = int(text)
    except ValueError:
        return failed("concurrency", f"ReservedConcurrency={text} ({source}) is not a whole number",
                      "the template's parameter is a Number; CloudFormation refuses the value",
                      settings.sam_deploy_with("ReservedConcurrency", "0"))
    limits = lambda_.get_account_settings()["AccountLimit"]
    limit, unreserved = limits["ConcurrentExecutions"], limits["UnreservedConcurrentExecutions"]
    if asked <= 0:
        return passed("concurrency", f"no reservation (ReservedConcurrency={asked}, {source}); "
                      f"account limit {limit}, {unreserved} unreserved")
    left = unreserved + reserved_now - asked
    held = f", counting the {reserved_now} this stack holds now" if reserved_now else ""
    if left >= MIN_UNRESERVED:
        return passed("concurrency", f"ReservedConcurrency={asked} ({source}) leaves {left} of the account's "
                      f"{limit} unreserved{held} (Lambda keeps at least {MIN_UNRESERVED})")
    desired = max(1000, limit + MIN_UNRESERVED - left)
    return failed(
        "concurrency",
        f"ReservedConcurrency={asked} ({source}) would leave {left} unreserved of the account's limit of "
        f"{limit} ({unreserved} unreserved now{held}); Lambda keeps at least {MIN_UNRESERVED}",
        "Lambda refuses the function's reservation (\"decreases account's UnreservedConcurrentExecution below "
        f"its minimum value of [{MIN_UNRESERVED}]\") and the stack rolls back; a new account's limit is 10, "
        "so any reservation fails there",
        settings.sam_deploy_with("ReservedConcurrency", "0") + "   (no reservation)",
        (f"aws service-quotas request-service-quota-increase --service-code lambda "
         f"--quota-code {CONCURRENCY_QUOTA_CODE} --desired-value {desired} --region {settings.region}"
         "   (then wait for the increase before deploying)"),
    )


# --- 3. API Gateway's CloudWatch Logs role ---------------------------------------------

def role_commands(settings: DeploySettings, account: str | None) -> str:
    """The AWS CLI commands that make a CloudWatch Logs role for API Gateway and set it."""
    role_arn = f"arn:aws:iam::{account or 'ACCOUNT'}:role/{API_GATEWAY_LOGS_ROLE}"
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
        separators=(",", ":"))
    return "\n".join([
        f"aws iam create-role --role-name {API_GATEWAY_LOGS_ROLE} --assume-role-policy-document {shlex.quote(trust)}",
        f"aws iam attach-role-policy --role-name {API_GATEWAY_LOGS_ROLE} --policy-arn {API_GATEWAY_LOGS_POLICY}",
        (f"aws apigateway update-account --patch-operations op=replace,path=/cloudwatchRoleArn,value={role_arn}"
         f" --region {settings.region}"),
    ])


def check_api_gateway_logging(apigateway: Any, settings: DeploySettings, account: str | None,
                              iam: Any = None) -> Finding:
    """The stage's access logging has the account's CloudWatch Logs role, or the stack sets it;
    with `iam`, the role the setting names must still exist. An HTTP API (ApiType=Http)
    needs none: CloudWatch Logs delivers its access logs
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-logging.html)."""
    api_type, api_source = settings.parameter("ApiType")
    if api_type == "Http":
        return passed("api-logging", f"ApiType=Http ({api_source}): an HTTP API's access logs need no "
                      "API Gateway CloudWatch Logs role")
    mode, source = settings.parameter("ApiGatewayAccountRole")
    if mode not in API_GATEWAY_ROLE_MODES:
        return failed("api-logging", f"ApiGatewayAccountRole={mode} ({source}) is neither existing nor create",
                      "the template allows only those (AllowedValues); CloudFormation refuses the parameter",
                      settings.sam_deploy_with("ApiGatewayAccountRole", "create"))
    role = apigateway.get_account().get("cloudwatchRoleArn")
    if mode == "create":
        replaces = f", replacing {role}" if role else ""
        return passed("api-logging", f"ApiGatewayAccountRole=create ({source}): the stack sets the account's "
                      f"CloudWatch Logs role in {settings.region}{replaces}")
    if role and iam is not None:
        # The setting outlives a deleted role (a stack that made it and was deleted):
        # API Gateway then cannot write the stage's logs.
        try:
            iam.get_role(RoleName=role.rsplit("/", 1)[-1])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "NoSuchEntity":
                raise
            return failed(
                "api-logging",
                f"API Gateway in {settings.region} names {role} as its CloudWatch Logs role, which does not exist",
                "the account setting still points at a deleted role, so API Gateway cannot write access logs",
                settings.sam_deploy_with("ApiGatewayAccountRole", "create") + "   (the stack sets a new role)",
                role_commands(settings, account),
            )
    if role:
        return passed("api-logging", f"the account's CloudWatch Logs role in {settings.region} is {role}")
    # API Gateway answers "CloudWatch Logs role ARN must be set in account settings to
    # enable logging" to a stage with access logging when the account, in that region,
    # has no role. https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html
    create_role = role_commands(settings, account)
    return failed(
        "api-logging",
        f"API Gateway in {settings.region} has no CloudWatch Logs role (cloudwatchRoleArn) and "
        f"ApiGatewayAccountRole=existing ({source})",
        "the stage writes access logs, and API Gateway refuses it (\"CloudWatch Logs role ARN must be set in "
        "account settings to enable logging\") until the account has that role in the region",
        settings.sam_deploy_with("ApiGatewayAccountRole", "create") + "   (the stack sets the role)",
        create_role,
    )


# --- 4. tools ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Tool:
    """A command the deploy runs, the oldest version that works and how to install it."""

    check: str
    argv: tuple[str, ...]
    minimum: tuple[int, int]
    purpose: str
    install: str


SETUP = 'tests/tools/setup.sh && export PATH="$PWD/target/py/bin:$PATH"   (the pinned versions)'
TOOLS = (
    # https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/install-sam-cli.html
    Tool("sam", ("sam", "--version"), (1, 170),
         "sam build and sam deploy; the template and samconfig.toml are tested with 1.170",
         "pip install --upgrade 'aws-sam-cli>=1.170'"),
    # sam build builds the Rust function with cargo lambda (BuildMethod: rust-cargolambda).
    # https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/building-rust.html
    Tool("cargo-lambda", ("cargo", "lambda", "--version"), (1, 9),
         "sam build compiles the arm64 function with it (and needs cargo)",
         "pip install --upgrade 'cargo-lambda>=1.9'"),
)


def check_tool(tool: Tool, path: str) -> Finding:
    """`tool` is on `path` (a PATH value) and at least its minimum version."""
    wanted = ".".join(map(str, tool.minimum))
    if tool.argv[0] == "cargo" and not _which("cargo", path):
        return failed(tool.check, "cargo is not on PATH", tool.purpose,
                      "curl https://sh.rustup.rs -sSf | sh   (https://rustup.rs)")
    try:
        done = subprocess.run(list(tool.argv), capture_output=True, text=True, timeout=120, check=False,
                              env={**os.environ, "PATH": path})
        output = done.stdout + done.stderr if done.returncode == 0 else ""
    except (FileNotFoundError, PermissionError, subprocess.TimeoutExpired):
        output = ""
    found = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", output)
    if not found:
        return failed(tool.check, f"`{' '.join(tool.argv)}` did not run: {tool.check} {wanted}+ is not on PATH",
                      tool.purpose, SETUP, tool.install)
    version = tuple(int(part) for part in found.groups() if part is not None)
    shown = ".".join(map(str, version))
    if version[:2] < tool.minimum:
        return failed(tool.check, f"{tool.check} {shown} is older than {wanted}", tool.purpose, SETUP, tool.install)
    return passed(tool.check, f"{tool.check} {shown} (needs {wanted}+)")


def _which(command: str, path: str) -> bool:
    return any(os.access(os.path.join(folder, command), os.X_OK) for folder in path.split(os.pathsep) if folder)


# --- 5. the stack's state -----------------------------------------------------------------

# What each status means and allows:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/view-stack-events.html
MUST_DELETE = {
    "ROLLBACK_COMPLETE": "its creation failed and was rolled back; CloudFormation cannot update such a "
                         "stack, only delete it",
    "ROLLBACK_FAILED": "its creation failed and so did the rollback; CloudFormation can only delete it",
    "DELETE_FAILED": "a deletion failed half-way; CloudFormation can only delete it again",
}
# The `aws cloudformation wait` command that returns when an operation ends.
WAITERS = {
    "CREATE_IN_PROGRESS": "stack-create-complete",
    "UPDATE_IN_PROGRESS": "stack-update-complete",
    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS": "stack-update-complete",
    "UPDATE_ROLLBACK_IN_PROGRESS": "stack-rollback-complete",
    "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS": "stack-rollback-complete",
    "DELETE_IN_PROGRESS": "stack-delete-complete",
    "IMPORT_IN_PROGRESS": "stack-import-complete",
}


def _stack_is_missing(error: ClientError) -> bool:
    return (error.response["Error"].get("Code") == "ValidationError"
            and "does not exist" in error.response["Error"].get("Message", ""))


def check_stack(cloudformation: Any, settings: DeploySettings) -> Finding:
    """The stack is absent (a first deploy) or in a state `sam deploy` can update."""
    name, region = settings.stack_name, settings.region
    if not name:
        return failed("stack", f"no stack name: samconfig.toml [{settings.config_env}.deploy.parameters] "
                      "has no stack_name", "sam deploy needs the stack's name",
                      f"deploy/preflight.sh --stack-name items-api --config-env {settings.config_env}")
    try:
        stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as error:
        if _stack_is_missing(error):
            return passed("stack", f"no stack {name} in {region} yet: sam deploy creates it")
        raise
    status = stack["StackStatus"]
    target = f"--stack-name {name} --region {region}"
    if status in MUST_DELETE:
        retained = " (the items table is kept: DeletionPolicy Retain)" if status == "ROLLBACK_COMPLETE" else ""
        return failed("stack", f"stack {name} is {status}: sam deploy cannot update it",
                      MUST_DELETE[status] + retained,
                      f"aws cloudformation delete-stack {target} && aws cloudformation wait stack-delete-complete "
                      f"{target}")
    if status == "UPDATE_ROLLBACK_FAILED":
        return failed("stack", f"stack {name} is UPDATE_ROLLBACK_FAILED: sam deploy cannot update it",
                      "an update failed and so did its rollback; CloudFormation refuses updates until the "
                      "rollback is continued (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/"
                      "troubleshooting.html#troubleshooting-errors-update-rollback-failed)",
                      f"aws cloudformation continue-update-rollback {target} && aws cloudformation wait "
                      f"stack-rollback-complete {target}")
    if status == "REVIEW_IN_PROGRESS":
        # A change set that was never executed: sam deploy treats the stack as new.
        return passed("stack", f"stack {name} is REVIEW_IN_PROGRESS (no resources yet): sam deploy creates it")
    if status.endswith("_IN_PROGRESS"):
        wait = (f"aws cloudformation wait {WAITERS[status]} {target}" if status in WAITERS else
                f"while aws cloudformation describe-stacks {target} --query 'Stacks[0].StackStatus' "
                "--output text | grep -q _IN_PROGRESS; do sleep 15; done")
        return failed("stack", f"stack {name} is {status}: another operation is running",
                      "CloudFormation runs one operation on a stack at a time and refuses a deploy meanwhile",
                      f"{wait}   (then run the preflight again)")
    return passed("stack", f"stack {name} is {status}: sam deploy updates it")


# --- running them ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Clients:
    """The boto3 clients the checks use, for one region."""

    sts: Any
    lambda_: Any
    apigateway: Any
    cloudformation: Any
    iam: Any = None  # the logging role's existence (IAM is global)

    @classmethod
    def for_region(cls, region: str) -> Clients:
        session = boto3.session.Session(region_name=region)
        # Fail in seconds, not minutes, when AWS (or AWS_ENDPOINT_URL) cannot be reached.
        config = botocore.config.Config(connect_timeout=5, read_timeout=20,
                                        retries={"max_attempts": 3, "mode": "standard"})
        return cls(*(session.client(name, config=config)
                     for name in ("sts", "lambda", "apigateway", "cloudformation", "iam")))


def guarded(check: str, action: str, run: Callable[[], Finding]) -> Finding:
    """`run()`, with a refused or failed AWS call turned into the check's failure."""
    try:
        return run()
    except ClientError as error:
        code = error.response["Error"].get("Code", "")
        message = " ".join(error.response["Error"].get("Message", "").split())[:200]
        if "AccessDenied" in code or code == "UnauthorizedOperation":
            return failed(check, f"{action}: refused: {code}: {message}",
                          "sam deploy reads and changes these resources with the same credentials",
                          f"allow {action} (read-only) for the deploying identity")
        return failed(check, f"{action}: AWS answered {code}: {message}",
                      "the check could not read what it needs", "run the preflight again; if it persists, "
                      "the answer above says what AWS objects to")
    except BotoCoreError as error:
        return failed(check, f"{action} failed: {error}", "AWS could not be reached",
                      "check the network and the region name, then run the preflight again")


def run_checks(settings: DeploySettings, clients_for: Callable[[str], Clients], path: str) -> list[Finding]:
    """Every check, in order; the AWS ones only once the region and credentials work."""
    findings = [check_region(settings)]
    account = None
    if settings.region:
        try:
            clients = clients_for(settings.region)
        except BotoCoreError as error:  # AWS_PROFILE names no profile
            credentials, account = failed("credentials", f"the AWS configuration cannot be used: {error}",
                                          "the SDK finds no usable credentials",
                                          "aws configure list-profiles   (then export AWS_PROFILE=one of them)"), None
        else:
            credentials, account = check_credentials(clients.sts)
        findings.append(credentials)
    else:
        findings.append(skipped("credentials", "not checked: needs a region"))
    aws_checks = ("concurrency", "api-logging")
    if account is None:
        findings += [skipped(check, "not checked: needs a region and working credentials") for check in aws_checks]
    else:
        findings.append(guarded("concurrency", "lambda:GetAccountSettings, cloudformation:ListStackResources, "
                                "lambda:GetFunctionConcurrency", lambda: check_concurrency(
                                    clients.lambda_, settings,
                                    reserved_by_stack(clients.cloudformation, clients.lambda_, settings.stack_name))))
        findings.append(guarded("api-logging", "apigateway:GET on /account",
                                lambda: check_api_gateway_logging(clients.apigateway, settings, account,
                                                                  clients.iam)))
    # A deploy of a build made elsewhere (the pipeline's deploy jobs) needs no builder.
    findings += [check_tool(tool, path) for tool in TOOLS if not (settings.deploy_only and tool.check == "cargo-lambda")]
    if account is None:
        findings.append(skipped("stack", "not checked: needs a region and working credentials"))
    else:
        findings.append(guarded("stack", "cloudformation:DescribeStacks",
                                lambda: check_stack(clients.cloudformation, settings)))
    return findings


def report(findings: list[Finding], settings: DeploySettings) -> int:
    """Prints the findings; the exit status: 1 when any check did not pass."""
    for finding in findings:
        status = "ok" if finding.ok else "skip" if finding.skipped else "FAIL"
        print(f"preflight: {status:<4} {finding.check:<12} {finding.summary}")
        if finding.ok or finding.skipped:
            continue
        print(f"  why: {finding.why}")
        for number, fix in enumerate(finding.fixes):
            lines = fix.splitlines()
            print(("  fix: " if number == 0 else "   or: ") + lines[0])
            for line in lines[1:]:
                print("       " + line)
    failures = [finding for finding in findings if not finding.ok and not finding.skipped]
    not_run = [finding for finding in findings if finding.skipped]
    if failures or not_run:
        print(f"preflight: {len(failures)} of {len(findings)} checks failed"
              + (f", {len(not_run)} not run" if not_run else "")
              + "; fix them and run the preflight again")
        return 1
    print(f"preflight: all {len(findings)} checks passed: sam deploy --config-env {settings.config_env} "
          f"can deploy {settings.stack_name} to {settings.region}")
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    def assignment(text: str) -> str:
        if "=" not in text or text.startswith("="):
            raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
        return text

    parser = argparse.ArgumentParser(prog="deploy/preflight.sh", description=__doc__.split("\n\n")[0])
    parser.add_argument("--region", help="the region to deploy to (default: AWS_REGION, "
                        "AWS_DEFAULT_REGION, samconfig.toml, the AWS profile)")
    parser.add_argument("--stack-name", help="the stack (default: samconfig.toml's stack_name)")
    parser.add_argument("--config-env", default="default", help="samconfig.toml's environment (default: default)")
    parser.add_argument("--parameter", action="append", default=[], type=assignment, metavar="NAME=VALUE",
                        help="a template parameter as the deploy will set it (repeatable)")
    parser.add_argument("--config-file", default=str(ROOT / "samconfig.toml"),
                        help="the SAM config (default: samconfig.toml)")
    parser.add_argument("--template-file", default=str(ROOT / "template.yaml"),
                        help="where parameter defaults come from (default: template.yaml)")
    parser.add_argument("--deploy-only", action="store_true",
                        help="the build was made elsewhere (the pipeline's deploy jobs): cargo-lambda is not needed")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, *, environ: Mapping[str, str] = os.environ,
         clients_for: Callable[[str], Clients] = Clients.for_region, path: str | None = None) -> int:
    """Runs the preflight; tests pass their own clients and PATH."""
    args = parse_args(argv)
    try:
        settings = load_settings(args, environ)
    except UsageError as error:
        print(f"preflight: {error}", file=sys.stderr)
        return 2
    findings = run_checks(settings, clients_for, environ.get("PATH", os.defpath) if path is None else path)
    return report(findings, settings)


if __name__ == "__main__":
    sys.exit(main())
