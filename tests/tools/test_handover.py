"""The pipeline hands its package from job to job with bootstrap still executable.

actions/upload-artifact does not keep file permissions: a downloaded artifact's files
are written with the runner's default mode (0644). This replays the hand-over of
.github/workflows/delivery.yml with that loss: the steps the workflow runs between
`sam build` and `sam deploy`, with the artifact's files copied at 0644 in between, and
then the zip SAM would upload (SAM's own zip function) is checked as Lambda needs it.

Run by `make tools-self-test`.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "tools"))
import lambda_package  # noqa: E402
from test_lambda_package import elf  # noqa: E402

WORKFLOW = yaml.safe_load((ROOT / ".github" / "workflows" / "delivery.yml").read_text())


def through_an_artifact(source: Path, target: Path) -> None:
    """What upload-artifact and download-artifact do to a path: same bytes, every file
    at mode 0644."""
    if source.is_dir():
        for path in source.rglob("*"):
            if path.is_file():
                copy = target / path.relative_to(source)
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, copy)
                copy.chmod(0o644)
    else:
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target / source.name)
        (target / source.name).chmod(0o644)


def step(job: str, uses: str) -> dict:
    found = [s for s in WORKFLOW["jobs"][job]["steps"] if s.get("uses", "").startswith(uses)]
    assert len(found) == 1, f"{job}: {len(found)} steps use {uses}"
    return found[0]


def runs(job: str) -> str:
    return "\n".join(s.get("run", "") for s in WORKFLOW["jobs"][job]["steps"])


class HandoverTest(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.package_job = Path(self.tmp.name) / "package"
        self.deploy_job = Path(self.tmp.name) / "deploy"
        function = self.package_job / ".aws-sam" / "build" / "ItemsFunction"
        function.mkdir(parents=True)
        (function / "bootstrap").write_bytes(elf(0xB7))
        (function / "bootstrap").chmod(0o755)
        (self.package_job / ".aws-sam" / "build" / "template.yaml").write_text("Resources: {}\n")

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def zip_problems(self) -> list[str]:
        built = self.deploy_job / ".aws-sam" / "build" / "ItemsFunction"
        return lambda_package.problems(lambda_package.make_zip(built, Path(self.tmp.name) / "upload.zip"))

    def test_the_workflows_hand_over_keeps_bootstrap_executable(self) -> None:
        upload, download = step("package", "actions/upload-artifact"), step("staging", "actions/download-artifact")
        self.assertIn("deploy/handover.sh pack", runs("package"))
        for job in ("staging", "production"):
            self.assertIn("deploy/handover.sh unpack", runs(job), job)
            self.assertEqual(step(job, "actions/download-artifact")["with"]["name"], upload["with"]["name"])
        artifact = upload["with"]["path"]
        subprocess.run([str(ROOT / "deploy" / "handover.sh"), "pack"], cwd=self.package_job, check=True,
                       capture_output=True)
        through_an_artifact(self.package_job / artifact, self.deploy_job / download["with"].get("path", "."))
        done = subprocess.run([str(ROOT / "deploy" / "handover.sh"), "unpack"], cwd=self.deploy_job,
                              capture_output=True, text=True)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(self.zip_problems(), [])

    def test_a_folder_handed_over_as_an_artifact_loses_the_execute_bit(self) -> None:
        # The pipeline as it was: .aws-sam/build uploaded as a folder.
        through_an_artifact(self.package_job / ".aws-sam" / "build", self.deploy_job / ".aws-sam" / "build")
        found = self.zip_problems()
        self.assertEqual(len(found), 1, found)
        self.assertIn("mode 0644, not 0755", found[0])

    def test_unpack_refuses_a_bootstrap_that_lost_its_execute_bit(self) -> None:
        (self.package_job / ".aws-sam" / "build" / "ItemsFunction" / "bootstrap").chmod(0o644)
        subprocess.run([str(ROOT / "deploy" / "handover.sh"), "pack"], cwd=self.package_job, check=True,
                       capture_output=True)
        os.replace(self.package_job / "sam-build.tar", Path(self.tmp.name) / "sam-build.tar")
        self.deploy_job.mkdir()
        done = subprocess.run([str(ROOT / "deploy" / "handover.sh"), "unpack", ".aws-sam/build",
                               str(Path(self.tmp.name) / "sam-build.tar")], cwd=self.deploy_job,
                              capture_output=True, text=True)
        self.assertEqual(done.returncode, 1)
        self.assertIn("mode 644, not 755", done.stderr)


if __name__ == "__main__":
    unittest.main()
