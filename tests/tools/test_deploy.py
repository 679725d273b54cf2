"""The pipeline's deploy step, locally: deploy/deploy.sh and samconfig.toml's stages.

Run by `make tools-self-test`. deploy.sh runs against a recording stand-in for sam
(SAM=...), so its arguments are checked without AWS; the stage settings are checked
against template.yaml's parameters.
"""

import os
import re
import subprocess
import sys
import tempfile
import tomllib
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def template_parameters() -> dict[str, list[str] | None]:
    """The template's parameters and their AllowedValues (None when unrestricted)."""
    text = (ROOT / "template.yaml").read_text()
    block = text.split("\nParameters:\n", 1)[1].split("\nConditions:\n", 1)[0]
    parameters = {}
    for name, body in re.findall(r"^  (\w+):\n((?:    .*\n)+)", block, re.M):
        allowed = re.search(r"AllowedValues: \[(.*)\]", body)
        parameters[name] = [v.strip() for v in allowed.group(1).split(",")] if allowed else None
    return parameters


def stand_in(folder: Path, name: str, script: str) -> Path:
    """An executable `name` in `folder` that runs `script` (sh)."""
    path = Path(folder) / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)
    return path


class DeployTest(unittest.TestCase):
    def test_deploy_sh_deploys_the_built_package_with_the_stage_settings(self):
        with tempfile.TemporaryDirectory() as folder:
            record = Path(folder) / "args"
            checked = Path(folder) / "preflight-args"
            sam = stand_in(folder, "sam", f'printf "%s\\n" "$@" > {record}')
            preflight = stand_in(folder, "preflight", f'printf "%s\\n" "$@" > {checked}')
            done = subprocess.run([str(ROOT / "deploy/deploy.sh"), "staging"],
                                  env={**os.environ, "SAM": str(sam), "PREFLIGHT": str(preflight)},
                                  capture_output=True, text=True)
            self.assertEqual(done.returncode, 0, done.stderr)
            args = record.read_text().splitlines()
            # The preflight runs first, for the same stage (access logs need the
            # account's logging role unless the template makes it: deploy.guard).
            self.assertEqual(checked.read_text().splitlines(), ["--config-env", "staging", "--deploy-only"])
        self.assertEqual(args[0], "deploy")
        self.assertIn("--no-confirm-changeset", args)
        self.assertEqual(args[args.index("--config-env") + 1], "staging")
        self.assertEqual(args[args.index("--template-file") + 1], str(ROOT / ".aws-sam/build/template.yaml"))

    def test_a_failing_preflight_stops_the_deploy(self):
        with tempfile.TemporaryDirectory() as folder:
            record = Path(folder) / "args"
            sam = stand_in(folder, "sam", f"touch {record}")
            preflight = stand_in(folder, "preflight", 'echo "preflight: FAIL something" >&2\nexit 1')
            done = subprocess.run([str(ROOT / "deploy/deploy.sh"), "production"],
                                  env={**os.environ, "SAM": str(sam), "PREFLIGHT": str(preflight)},
                                  capture_output=True, text=True)
            self.assertEqual(done.returncode, 1)
            self.assertFalse(record.exists(), "sam deploy ran after a failed preflight")

    def test_an_unknown_stage_is_refused(self):
        done = subprocess.run([str(ROOT / "deploy/deploy.sh"), "qa"], capture_output=True, text=True)
        self.assertEqual(done.returncode, 2)
        self.assertIn("usage", done.stderr)

    def test_each_stage_names_its_stack_and_only_parameters_the_template_has(self):
        config = tomllib.loads((ROOT / "samconfig.toml").read_text())
        parameters = template_parameters()
        self.assertIn("DeploymentType", parameters)
        for stage, stack in (("staging", "items-api-staging"), ("production", "items-api-production")):
            settings = config[stage]["deploy"]["parameters"]
            self.assertEqual(settings["stack_name"], stack)
            self.assertEqual(settings["capabilities"], "CAPABILITY_IAM")
            overrides = dict(re.findall(r'(\w+)="([^"]*)"', settings["parameter_overrides"]))
            for name, value in overrides.items():
                self.assertIn(name, parameters, f"{stage}: {name} is no template parameter")
                allowed = parameters[name]
                self.assertTrue(allowed is None or value in allowed, f"{stage}: {name}={value} not in {allowed}")
        self.assertEqual(
            dict(re.findall(r'(\w+)="([^"]*)"', config["production"]["deploy"]["parameters"]["parameter_overrides"]))
            ["DeploymentType"], "Canary10Percent5Minutes")


if __name__ == "__main__":
    unittest.main()
