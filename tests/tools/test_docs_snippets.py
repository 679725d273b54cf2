"""The deployment guide's commands run as written: every shell block of
docs/deployment.md (and every inline `aws …` command) names tools, make targets,
scripts and variables that exist, and every AWS CLI call of a regional service names
its region, so nothing goes to a profile's default region by surprise.

Run by `make tools-self-test`. It reads the text; it runs nothing against AWS.
"""

import re
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "deployment.md"
# IAM and STS are global: no region.
GLOBAL_SERVICES = {"iam", "sts", "configure"}
TOOLS = {"sam", "aws", "make", "curl", "cargo", "rustup", "python3", "pip", "xdg-open", "open", "openssl",
         "export", "output", "echo", "date", "npm", "npx", "git", "rustc", "cd", "skopeo"}
KNOWN_VARIABLES = {"PATH", "PWD", "HOME"}


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, re.S)


def commands(block: str) -> list[str]:
    """Each command of a block, continuation lines joined, comments dropped, and
    single-quoted text (a JSON document over several lines) left out."""
    block = "\n".join(line for line in block.splitlines() if not line.lstrip().startswith("#"))
    joined = re.sub(r"'[^']*'", "''", re.sub(r"\\\n\s*", " ", block))
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line.startswith("}"):
            continue
        found.append(re.sub(r"\s+#.*$", "", line))
    return found


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z0-9-]*):", (ROOT / "Makefile").read_text(), re.M))


def aws_calls(text: str) -> list[str]:
    """Every `aws SERVICE …` call in the guide: in shell blocks and inline code."""
    calls = []
    for block in shell_blocks(text):
        for command in commands(block):
            calls += re.findall(r"\baws [a-z0-9-]+ [^|;&)]*", command)
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    for span in re.findall(r"`([^`]+)`", re.sub(r"\n", " ", prose)):
        calls += re.findall(r"\baws [a-z0-9-]+ [^|;&)]*", span)
    return calls


class DeploymentGuideTest(unittest.TestCase):
    text = GUIDE.read_text()

    def test_every_aws_call_of_a_regional_service_names_the_region(self) -> None:
        calls = aws_calls(self.text)
        self.assertGreater(len(calls), 5)
        for call in calls:
            service = call.split()[1]
            if service in GLOBAL_SERVICES:
                continue
            with self.subTest(call[:70]):
                self.assertIn('--region "$AWS_REGION"', call)

    def test_the_first_deploy_saves_the_region(self) -> None:
        deploys = [c for b in shell_blocks(self.text) for c in commands(b) if "sam deploy" in c]
        first = next(c for c in deploys if "--guided" not in c)
        self.assertIn('--region "$AWS_REGION"', first)
        self.assertIn("--save-params", first)

    def test_overrides_on_the_command_line_repeat_samconfigs(self) -> None:
        # On the command line --parameter-overrides replaces samconfig.toml's list.
        import tomllib
        saved = tomllib.loads((ROOT / "samconfig.toml").read_text())["default"]["deploy"]["parameters"]
        wanted = set(re.findall(r"(\w+)=", saved["parameter_overrides"]))
        given = re.findall(r"--parameter-overrides '([^']*)'", self.text)
        self.assertTrue(given)
        for overrides in given:
            self.assertLessEqual(wanted, set(re.findall(r"(\w+)=", overrides)), overrides)

    def test_make_targets_scripts_and_tools_exist(self) -> None:
        targets = make_targets()
        for block in shell_blocks(self.text):
            for command in commands(block):
                for target in re.findall(r"\bmake ([a-z][a-z0-9-]*)", command):
                    self.assertIn(target, targets, command)
                for script in re.findall(r"(?:^|\s)((?:deploy|contract-tests|tests)/[\w./-]+)", command):
                    self.assertTrue((ROOT / script).exists(), f"{script} in: {command}")
                first = re.split(r"[\s=(]", command.lstrip("$( "), maxsplit=1)[0]
                if re.fullmatch(r"[A-Z_]+", first) or first.endswith("()") or first.startswith("-"):
                    continue  # an assignment, a function definition, a continued option
                if "/" in first:
                    self.assertTrue((ROOT / first).exists(), command)
                else:
                    self.assertIn(first, TOOLS, command)

    def test_every_variable_is_set_before_it_is_used(self) -> None:
        defined = set(KNOWN_VARIABLES)
        for block in shell_blocks(self.text):
            for command in commands(block):
                if command.startswith("output()"):
                    defined.add("1")  # the function's argument
                for name in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", command):
                    with self.subTest(command[:60]):
                        self.assertIn(name, defined, f"${name} used before it is set")
                for names in re.findall(r"(?:^|export |\s)((?:[A-Z_][A-Z0-9_]*=\S+\s*)+)", command):
                    defined.update(re.findall(r"([A-Z_][A-Z0-9_]*)=", names))


if __name__ == "__main__":
    unittest.main()


class DocsMatchTheTemplateTest(unittest.TestCase):
    """What the guides say about the template is what the template has."""

    def test_the_alarms_the_guides_name_are_the_templates(self) -> None:
        template = (ROOT / "template.yaml").read_text()
        alarms = re.findall(r"^  (\w+):\n    Type: AWS::CloudWatch::Alarm$", template, re.M)
        self.assertGreater(len(alarms), 0)
        operations = (ROOT / "docs" / "operations.md").read_text()
        rows = re.findall(r"^\| `(\w+Alarm)` \|", operations, re.M)
        self.assertEqual(sorted(rows), sorted(alarms), "docs/operations.md's alarm table")
        words = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight",
                 9: "nine", 10: "ten"}
        for doc in (GUIDE, ROOT / "docs" / "operations.md"):
            with self.subTest(doc.name):
                counts = re.findall(r"\b(\w+) alarms\b", doc.read_text())
                said = [c for c in counts if c in words.values() or c.isdigit()]
                self.assertTrue(said, f"{doc.name} says how many alarms")
                for count in said:
                    self.assertEqual(count, words.get(len(alarms), str(len(alarms))), doc.name)
