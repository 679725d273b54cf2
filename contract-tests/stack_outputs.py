#!/usr/bin/env python3
"""Finds a deployed stage by its stack: prints the API's URL and the bearer token.

Reads the CloudFormation stack's outputs `ApiUrl` and `ApiTokenSecretArn` (template.yaml
defines both), then the secret's value, with boto3 and the usual AWS settings
(profile, region, AWS_ENDPOINT_URL for an emulator). Prints the URL on the first line
and the token on the second; `run.sh --stack NAME` reads them.

IAM permissions needed: cloudformation:DescribeStacks on the stack and
secretsmanager:GetSecretValue on its token secret.

Usage: stack_outputs.py STACK_NAME
"""

import sys

import boto3
from botocore.exceptions import BotoCoreError, ClientError


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    stack = sys.argv[1]
    try:
        described = boto3.client("cloudformation").describe_stacks(StackName=stack)
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0].get("Outputs", [])}
        if "ApiUrl" in outputs and "UserPoolId" in outputs and "ApiTokenSecretArn" not in outputs:
            # AuthMode=Cognito: no shared token to read; calls need a user's ID token.
            print(f"stack_outputs: stack {stack} is in Cognito mode (user pool {outputs['UserPoolId']}): it has "
                  "no token; sign a user in for an ID token (docs/users.md)", file=sys.stderr)
            return 2
        missing = [key for key in ("ApiUrl", "ApiTokenSecretArn") if key not in outputs]
        if missing:
            print(f"stack_outputs: stack {stack} has no output {', '.join(missing)}; is it an items-api stack?",
                  file=sys.stderr)
            return 2
        secret = boto3.client("secretsmanager").get_secret_value(SecretId=outputs["ApiTokenSecretArn"])
    except (BotoCoreError, ClientError) as error:
        print(f"stack_outputs: cannot read stack {stack}: {error}", file=sys.stderr)
        return 2
    token = secret.get("SecretString", "").strip()
    if not token:
        print(f"stack_outputs: the token secret of stack {stack} is empty", file=sys.stderr)
        return 2
    print(outputs["ApiUrl"].rstrip("/"))
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
