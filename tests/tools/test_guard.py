"""The AWS rules of tests/template/deploy.guard hold for template.yaml, and each fails
on a template that breaks it (as template.yaml did before they were written).

Run by `make tools-self-test`; needs cfn-guard (`make setup` builds it into
target/cfn-guard with tests/tools/install-cfn-guard.sh) and fails, not skips, without it.
"""

import subprocess
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUARD = ROOT / "target" / "cfn-guard" / "bin" / "cfn-guard"
RULES = ROOT / "tests" / "template" / "deploy.guard"
TEMPLATE = (ROOT / "template.yaml").read_text()

# rule → what each rule was written against: the template's text as it was, or a
# break of the same kind.
BREAKS = {
    "no_reserved_concurrency_by_default": [
        ("    Default: 0\n    MinValue: 0\n    Description: Concurrent executions reserved",
         "    Default: 100\n    MinValue: 0\n    Description: Concurrent executions reserved"),
    ],
    "access_logs_have_the_accounts_logging_role": [
        ("    Type: AWS::ApiGateway::Account\n", "    Type: AWS::CloudFormation::WaitConditionHandle\n"),
    ],
    "alarm_topics_are_publishable_by_cloudwatch": [
        ("      KmsMasterKeyId: !If [HasKmsKey, !Ref KmsKeyArn, !Ref AWS::NoValue]",
         "      KmsMasterKeyId: alias/aws/sns"),
        ("      KmsMasterKeyId: !If [HasKmsKey, !Ref KmsKeyArn, !Ref AWS::NoValue]",
         "      KmsMasterKeyId: !If [HasKmsKey, !Ref KmsKeyArn, alias/aws/sns]"),
    ],
    "customer_managed_keys_are_usable_by_the_function": [
        ("                  - kms:Decrypt\n", ""),
    ],
    "protected_user_pools_are_retained": [
        ("    Condition: CreateUserPool\n    DeletionPolicy: Retain\n", "    Condition: CreateUserPool\n"),
        ("    DeletionPolicy: Retain\n    UpdateReplacePolicy: Retain\n    Properties:\n      UserPoolName:",
         "    DeletionPolicy: Retain\n    Properties:\n      UserPoolName:"),
    ],
    "password_sign_in_clients_have_no_secret": [
        ("      GenerateSecret: false\n", "      GenerateSecret: true\n"),
    ],
    "http_api_cors_is_the_functions": [
        ("      DefaultRouteSettings:\n", "      CorsConfiguration:\n        AllowOrigins: ['*']\n      DefaultRouteSettings:\n"),
    ],
    "http_api_integrations_are_payload_format_2": [
        ('                payloadFormatVersion: "2.0"\n                timeoutInMillis: 30000\n          /{proxy+}:',
         '                timeoutInMillis: 30000\n          /{proxy+}:'),
        ('                timeoutInMillis: 30000\n          /{proxy+}:', '                timeoutInMillis: 31000\n          /{proxy+}:'),
    ],
    "http_api_serves_the_default_stage": [
        ("      Description: !Sub Items API of ${AWS::StackName} (HTTP API)\n",
         "      Description: !Sub Items API of ${AWS::StackName} (HTTP API)\n      StageName: !Ref StageName\n"),
    ],
    "http_api_jwt_authorizers_name_issuer_and_audience": [
        ("                    audience:\n                      - !If [HasExistingUserPool, !Ref ExistingUserPoolClientId, !Ref UserPoolClient]\n", ""),
        ("                  identitySource: $request.header.Authorization\n", ""),
    ],
    "custom_domains_are_regional_with_a_regional_certificate": [
        ("      RegionalCertificateArn: !Ref CertificateArn\n", "      CertificateArn: !Ref CertificateArn\n"),
        ("          EndpointType: REGIONAL\n", "          EndpointType: EDGE\n"),
    ],
    "api_mappings_wait_for_their_stage": [
        ("      Stage: !Ref ItemsHttpApi.Stage\n", "      Stage: $default\n"),
        ("      Stage: !Ref ItemsApi.Stage\n", "      Stage: !Ref StageName\n"),
    ],
    "gateway_response_headers_are_static_values": [
        ("""              WWW-Authenticate: "'Bearer realm=\\"items-api\\", error=\\"invalid_token\\"'"\n""",
         """              WWW-Authenticate: 'Bearer realm="items-api", error="invalid_token"'\n"""),
    ],
}


def guard(template: str) -> subprocess.CompletedProcess:
    if not GUARD.exists():
        raise AssertionError(f"no cfn-guard at {GUARD}: run make setup (tests/tools/install-cfn-guard.sh)")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as data:
        data.write(template)
        data.flush()
        return subprocess.run([str(GUARD), "validate", "--rules", str(RULES), "--data", data.name,
                               "--show-summary", "all"], capture_output=True, text=True)


class GuardRulesTest(unittest.TestCase):
    def test_the_template_passes_every_rule(self) -> None:
        done = guard(TEMPLATE)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        for rule in BREAKS:
            self.assertRegex(done.stdout, rf"{rule}\s+PASS", done.stdout)

    def test_each_rule_fails_on_a_template_that_breaks_it(self) -> None:
        for rule, breaks in BREAKS.items():
            for old, new in breaks:
                with self.subTest(rule=rule, change=new.strip()[:50]):
                    self.assertIn(old, TEMPLATE)
                    done = guard(TEMPLATE.replace(old, new))
                    self.assertNotEqual(done.returncode, 0, done.stdout)
                    self.assertRegex(done.stdout, rf"{rule}\s+FAIL", done.stdout)
                    for other in set(BREAKS) - {rule}:
                        self.assertRegex(done.stdout, rf"{other}\s+PASS", f"{other} broke too:\n{done.stdout}")


if __name__ == "__main__":
    unittest.main()
