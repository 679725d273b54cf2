"""`make doctor` names what is missing and the command that installs it.

Run by `make tools-self-test` (python3 -m unittest discover -s tests/tools).
"""

import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

DOCTOR = Path(__file__).resolve().parent / "doctor.sh"


def run(env_changes: dict, path: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **env_changes}
    if path is not None:
        env["PATH"] = path
    return subprocess.run(["bash", str(DOCTOR)], env=env, capture_output=True, text=True, timeout=60)


def path_without(*names: str) -> tuple[tempfile.TemporaryDirectory, str]:
    """A folder with every command of PATH linked in, except `names`."""
    folder = tempfile.TemporaryDirectory()
    for directory in reversed(os.environ["PATH"].split(os.pathsep)):
        if not os.path.isdir(directory):
            continue
        for entry in os.listdir(directory):
            source = os.path.join(directory, entry)
            if entry in names or not os.access(source, os.X_OK) or os.path.isdir(source):
                continue
            target = os.path.join(folder.name, entry)
            if os.path.lexists(target):
                os.remove(target)
            os.symlink(os.path.realpath(source), target)
    # pyenv's shims need pyenv; link the interpreter itself.
    python = os.path.join(folder.name, "python3")
    if os.path.lexists(python):
        os.remove(python)
    os.symlink(os.path.realpath(sys.executable), python)
    return folder, folder.name


def path_with(fakes: dict[str, str]) -> tuple[tempfile.TemporaryDirectory, str]:
    """path_without(the fakes' names), then each fake: a shell script body under its name."""
    folder, path = path_without(*fakes)
    for name, body in fakes.items():
        script = os.path.join(path, name)
        if os.path.lexists(script):
            os.remove(script)
        with open(script, "w") as f:
            f.write("#!/bin/sh\n" + body + "\n")
        os.chmod(script, 0o755)
    return folder, path


def python_reporting(version: str) -> str:
    """A python3 that says it is `version` when asked and is the real one otherwise."""
    return f'case "$*" in *version_info*) echo {version} ;; *) exec {sys.executable} "$@" ;; esac'


class DoctorTest(unittest.TestCase):
    def test_a_complete_machine_passes(self):
        done = run({})
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertIn("everything make test needs is here", done.stdout)

    def test_a_missing_browser_is_named_with_its_install_command(self):
        done = run({"CHROMIUM": "/nonexistent/chromium"})
        self.assertEqual(done.returncode, 1)
        self.assertIn("MISSING  chromium", done.stdout)
        self.assertIn("install: apt-get install -y chromium", done.stdout)
        self.assertIn("1 missing", done.stdout)

    def test_missing_node_and_npm_are_named(self):
        folder, path = path_without("node", "npm", "nodejs")
        with folder:
            done = run({}, path=path)
        self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
        self.assertIn("MISSING  node", done.stdout)
        self.assertIn("install: apt-get install -y nodejs npm", done.stdout)

    def test_too_little_disk_says_how_much_is_needed(self):
        done = run({"DOCTOR_MIN_FREE_GB": "100000000"})
        self.assertEqual(done.returncode, 1)
        self.assertIn("MISSING  disk", done.stdout)
        self.assertIn("100000000 GB", done.stdout)

    def test_python_3_10_is_refused_naming_what_needs_3_11(self):
        folder, path = path_with({"python3": python_reporting("3.10")})
        with folder:
            done = run({}, path=path)
        self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
        self.assertIn("MISSING  python3    python3 3.10 is older than 3.11: the pinned schemathesis and "
                      "openapi-python-client need 3.11+", done.stdout)

    def test_python_3_11_is_enough(self):
        folder, path = path_with({"python3": python_reporting("3.11")})
        with folder:
            done = run({}, path=path)
        self.assertIn("doctor: ok       python3    python3 3.11", done.stdout)

    def test_node_18_is_refused_naming_what_needs_20(self):
        folder, path = path_with({"node": "echo v18.19.1", "npm": "echo 9.2.0"})
        with folder:
            done = run({}, path=path)
        self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
        self.assertIn("MISSING  node       node 18.19.1 is older than 20: @redocly/cli and playwright-core need 20+",
                      done.stdout)

    def test_node_20_is_enough(self):
        folder, path = path_with({"node": "echo v20.0.0", "npm": "echo 10.0.0"})
        with folder:
            done = run({}, path=path)
        self.assertIn("doctor: ok       node       node 20.0.0, npm 10.0.0", done.stdout)



if __name__ == "__main__":
    unittest.main()
