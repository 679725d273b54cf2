"""The image stack (deploy/image/template.py) is template.yaml with the function as a
container image, and nothing else changed; it passes the linters template.yaml passes.
Run by `make image-test`."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = ROOT / "target" / "py" / "bin"
sys.path.insert(0, str(ROOT / "deploy" / "image"))
import template as image_stack  # noqa: E402
from cfnlint.decode import decode_str  # noqa: E402  (cfn-lint's own YAML reader: CloudFormation tags)


def parsed(text: str) -> dict:
    document, problems = decode_str(text)
    assert not problems, problems
    return document


class ImageTemplateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.zip = parsed((ROOT / "template.yaml").read_text())
        cls.text = image_stack.image_template((ROOT / "template.yaml").read_text())
        cls.image = parsed(cls.text)

    def test_the_function_is_an_image_from_the_imageuri_parameter(self) -> None:
        function = self.image["Resources"]["ItemsFunction"]
        self.assertEqual(function["Properties"]["PackageType"], "Image")
        self.assertEqual(function["Properties"]["ImageUri"], {"Ref": "ImageUri"})
        for zip_only in ("CodeUri", "Handler", "Runtime"):
            self.assertNotIn(zip_only, function["Properties"])
        self.assertNotIn("BuildMethod", function.get("Metadata", {}))
        self.assertEqual(function["Properties"]["Architectures"], ["arm64"], "the image is linux/arm64")
        self.assertEqual(self.image["Parameters"]["ImageUri"]["Type"], "String")

    def test_everything_else_is_template_yamls(self) -> None:
        zip_function = self.zip["Resources"]["ItemsFunction"]
        image_function = self.image["Resources"]["ItemsFunction"]
        for key in set(zip_function["Properties"]) | set(image_function["Properties"]):
            if key in ("CodeUri", "Handler", "Runtime", "PackageType", "ImageUri"):
                continue
            self.assertEqual(zip_function["Properties"].get(key), image_function["Properties"].get(key), key)
        others = lambda document: {name: value for name, value in document["Resources"].items() if name != "ItemsFunction"}
        self.assertEqual(others(self.zip), others(self.image))
        self.assertEqual({k: v for k, v in self.image["Parameters"].items() if k != "ImageUri"},
                         self.zip["Parameters"])
        self.assertEqual(self.zip["Outputs"], self.image["Outputs"])

    def test_it_passes_cfn_lint_and_sam_validate(self) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "template.yaml"
            path.write_text(self.text)
            for command in ([str(PY / "cfn-lint"), str(path)],
                            [str(PY / "sam"), "validate", "--lint", "-t", str(path), "--region", "eu-west-1"]):
                done = subprocess.run(command, capture_output=True, text=True, timeout=300)
                self.assertEqual(done.returncode, 0, f"{command[0]}:\n{done.stdout}\n{done.stderr}")

    def test_a_changed_template_yaml_is_refused_not_half_converted(self) -> None:
        text = (ROOT / "template.yaml").read_text().replace("      Handler: bootstrap\n", "      Handler: main\n")
        with self.assertRaises(SystemExit) as refused:
            image_stack.image_template(text)
        self.assertIn("not exactly one", str(refused.exception))


if __name__ == "__main__":
    unittest.main()
