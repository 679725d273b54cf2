"""`contract-tests/run.sh --stack NAME` finds its stage by itself, against moto.

moto (its CloudFormation and Secrets Manager, on 127.0.0.1) holds a stack with the
outputs template.yaml defines, ApiUrl pointing at a service started here. The tests
read them with stack_outputs.py, then run the bounded contract suite through
`run.sh --stack` against that service. Run by `make tools-self-test`.
"""

import json
import os
import subprocess
import sys
import unittest
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service import ROOT, Service  # noqa: E402

TOKEN = "stack-token-0123456789"


class StackTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.moto = Service(command=[sys.executable, str(ROOT / "tests/tools/moto_serial.py"), "-p", "{port}"],
                           health_path="/moto-api/", timeout=30)
        cls.moto.__enter__()
        cls.env = {**os.environ, "AWS_ENDPOINT_URL": cls.moto.base_url, "AWS_REGION": "eu-west-1",
                   "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIAFAKE",
                   "AWS_SECRET_ACCESS_KEY": "fake"}
        cls.service = Service(env={"API_TOKEN": TOKEN})
        cls.service.__enter__()
        session = boto3.session.Session(region_name="eu-west-1", aws_access_key_id="AKIAFAKE",
                                        aws_secret_access_key="fake")
        # moto's CloudFormation cannot create the secret itself: it is made first and
        # named in the outputs, as template.yaml's stack names its own.
        secret = session.client("secretsmanager", endpoint_url=cls.moto.base_url).create_secret(
            Name="items-api-test-token", SecretString=TOKEN)
        template = {
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {"ApiUrl": {"Value": cls.service.base_url},
                        "ApiTokenSecretArn": {"Value": secret["ARN"]}},
        }
        session.client("cloudformation", endpoint_url=cls.moto.base_url).create_stack(
            StackName="items-api-test", TemplateBody=json.dumps(template))
        cognito = {
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {"ApiUrl": {"Value": cls.service.base_url}, "UserPoolId": {"Value": "eu-west-1_Abc123"},
                        "UserPoolClientId": {"Value": "client0123"}},
        }
        session.client("cloudformation", endpoint_url=cls.moto.base_url).create_stack(
            StackName="items-api-cognito", TemplateBody=json.dumps(cognito))

    @classmethod
    def tearDownClass(cls):
        cls.service.__exit__(None, None, None)
        cls.moto.__exit__(None, None, None)

    def outputs(self, stack):
        return subprocess.run([sys.executable, str(ROOT / "contract-tests/stack_outputs.py"), stack],
                              env=self.env, capture_output=True, text=True, timeout=60)

    def test_the_url_and_the_token_come_from_the_stack(self):
        done = self.outputs("items-api-test")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout.splitlines(), [self.service.base_url, TOKEN])

    def test_a_cognito_stack_is_a_clear_error_not_a_missing_output(self):
        done = self.outputs("items-api-cognito")
        self.assertEqual(done.returncode, 2)
        self.assertIn("stack items-api-cognito is in Cognito mode (user pool eu-west-1_Abc123)", done.stderr)
        self.assertIn("docs/users.md", done.stderr)

    def test_a_missing_stack_is_a_clear_error(self):
        done = self.outputs("no-such-stack")
        self.assertEqual(done.returncode, 2)
        self.assertIn("cannot read stack no-such-stack", done.stderr)

    def test_run_sh_with_the_stack_runs_the_bounded_suite_against_its_stage(self):
        done = subprocess.run(
            [str(ROOT / "contract-tests/run.sh"), "--stack", "items-api-test", "--max-examples", "3",
             "--rate-limit", "200/s", "--max-time", "30", "--seed", "1"],
            env=self.env, capture_output=True, text=True, timeout=300)
        self.assertEqual(done.returncode, 0, done.stdout[-3000:] + done.stderr[-2000:])
        self.assertIn(f"stack items-api-test serves {self.service.base_url}", done.stdout)
        self.assertIn(" 0 failed", done.stdout.splitlines()[-1])


if __name__ == "__main__":
    unittest.main()
