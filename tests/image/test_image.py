"""The container image runs as Lambda runs it: `make image-test` (after `make package`).

deploy/image/build.sh builds the image from deploy/image/Dockerfile offline (hadolint,
buildah) into an OCI archive; the test reads the archive as a registry would hand it
to Lambda (index, one linux/arm64 manifest, its config and layers), unpacks the layers
into a root file system, and starts the config's Entrypoint + Cmd inside it
(tests/image/lambda_sandbox.py: chroot, WorkingDir, an unprivileged user; the arm64
binary under Debian's qemu-user-static, copied into the root file system) with the
config's Env under the Lambda Runtime API emulator (tests/tools/runtime_api.py). REST
v1 events for getHealth, createItem (with the bearer token) and getItem go through it.

A second build with a wrong ENTRYPOINT shows the run fails when the image is wrong.
Needs root (buildah without a daemon, chroot), as `make setup`'s Debian packages do.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "tools"))
from runtime_api import ExecutionEnvironment, Outcome  # noqa: E402

BUILD = ROOT / "deploy" / "image" / "build.sh"
DOCKERFILE = ROOT / "deploy" / "image" / "Dockerfile"
EVENTS = ROOT / "tests" / "events"
TOKEN = "fixture-token"  # the bearer token of tests/events/rest-v1-create-item.json
QEMU = "/.qemu-aarch64-static"
BUILD_TIMEOUT_S = 300


def build(out: Path, dockerfile: Path = DOCKERFILE) -> Path:
    """deploy/image/build.sh into `out`; the OCI archive it wrote."""
    done = subprocess.run([str(BUILD), "--out", str(out)], env={**os.environ, "DOCKERFILE": str(dockerfile)},
                          capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    if done.returncode != 0:
        raise AssertionError(f"build.sh failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return out / "items-api.oci.tar"


class Image:
    """An OCI archive as Lambda would take it from a registry: one manifest, its
    config, its root file system unpacked into `rootfs`."""

    def __init__(self, archive: Path, directory: Path) -> None:
        layout = directory / "layout"
        layout.mkdir(parents=True)
        with tarfile.open(archive) as tar:
            tar.extractall(layout, filter="tar")
        index = json.loads((layout / "index.json").read_text())
        self.manifests = index["manifests"]
        manifest = json.loads(self.blob(layout, self.manifests[0]["digest"]).read_text())
        self.manifest_media_type = manifest.get("mediaType", self.manifests[0].get("mediaType"))
        self.config = json.loads(self.blob(layout, manifest["config"]["digest"]).read_text())
        self.rootfs = directory / "rootfs"
        self.rootfs.mkdir()
        for layer in manifest["layers"]:
            self.apply(self.blob(layout, layer["digest"]))

    @staticmethod
    def blob(layout: Path, digest: str) -> Path:
        algorithm, value = digest.split(":", 1)
        return layout / "blobs" / algorithm / value

    def apply(self, layer: Path) -> None:
        """One layer onto the root file system, whiteouts (`.wh.NAME`) deleting NAME."""
        with tarfile.open(layer) as tar:
            members = []
            for member in tar.getmembers():
                name = Path(member.name)
                if name.name.startswith(".wh."):
                    target = self.rootfs / name.parent / name.name[len(".wh."):]
                    if target.is_dir() and not target.is_symlink():
                        shutil.rmtree(target)
                    elif target.exists() or target.is_symlink():
                        target.unlink()
                else:
                    members.append(member)
            # "tar": modes and owners kept as the image has them (the run is as an
            # unprivileged user, who must be able to read and execute them).
            tar.extractall(self.rootfs, members=members, filter="tar")

    @property
    def settings(self) -> dict:
        return self.config.get("config") or {}

    def command(self) -> list[str]:
        return list(self.settings.get("Entrypoint") or []) + list(self.settings.get("Cmd") or [])

    def env(self) -> dict[str, str]:
        return dict(item.split("=", 1) for item in self.settings.get("Env") or [])


def function_environment(image: Image, extra: dict[str, str]) -> dict[str, str]:
    """The image's Env, then what Lambda sets for a function (its reserved variables
    override the image's), then the function's own variables."""
    return {
        **image.env(),
        "AWS_LAMBDA_FUNCTION_NAME": "items-api-image", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_REGION": "eu-west-1",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/items-api-image",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/30/[$LATEST]image",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand", "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": "/var/task", "LAMBDA_RUNTIME_DIR": "/var/runtime",
        **extra,
    }


def start(image: Image, env: dict[str, str], log: Path) -> ExecutionEnvironment:
    """An execution environment running the image's own entrypoint in its root file
    system, with Lambda's writable /tmp, under qemu-user."""
    qemu = shutil.which("qemu-aarch64-static")
    if qemu is None:
        raise AssertionError("qemu-aarch64-static is not installed (make setup installs qemu-user-static)")
    (image.rootfs / "tmp").mkdir(mode=0o1777, exist_ok=True)
    os.chmod(image.rootfs / "tmp", 0o1777)
    shutil.copy(qemu, image.rootfs / QEMU.lstrip("/"))
    os.chmod(image.rootfs / QEMU.lstrip("/"), 0o755)
    command = [sys.executable, str(HERE / "lambda_sandbox.py"), str(image.rootfs),
               image.settings.get("WorkingDir") or "/", "--", QEMU, *image.command()]
    output = log.open("ab")
    environment = ExecutionEnvironment(command, env, cwd=image.rootfs, timeout_s=10, init_timeout_s=60,
                                       output=output)
    environment.log_file = output  # closed with the environment
    return environment


def event(name: str) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text())


def get_item_event(item_id: str) -> dict:
    """GET /api/items/{id} through the REST API's `/{proxy+}` resource, made from the
    getHealth fixture (same stage, host and headers)."""
    get = copy.deepcopy(event("rest-v1-get-health"))
    get["path"] = f"/api/items/{item_id}"
    get["pathParameters"] = {"proxy": f"api/items/{item_id}"}
    get["requestContext"]["path"] = f"/prod/api/items/{item_id}"
    return get


def answer(outcome: Outcome, log: Path) -> dict:
    if outcome.kind != "response":
        raise AssertionError(f"no response: {outcome.kind} {outcome.detail} {outcome.payload[:500]!r}\n"
                             f"function output:\n{log.read_text(errors='replace')[-3000:]}")
    return json.loads(outcome.payload)


def require_root(test: unittest.TestCase) -> None:
    if os.geteuid() != 0:
        # A failure, not a skip: make test must not pass without having run the image.
        test.fail("the image test needs root (buildah without a daemon, chroot); run it as root (CI does)")


class ImageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.TemporaryDirectory(prefix="items-api-image-")
        cls.folder = Path(cls.tmp.name)
        cls.log = cls.folder / "function.log"
        cls.build_error = None
        if os.geteuid() == 0:
            try:
                cls.image = Image(build(cls.folder / "build"), cls.folder / "image")
            except AssertionError as error:
                cls.build_error = error

    @classmethod
    def tearDownClass(cls) -> None:
        cls.tmp.cleanup()

    def setUp(self) -> None:
        require_root(self)
        if self.build_error is not None:
            raise self.build_error

    def test_the_archive_holds_one_linux_arm64_image_with_lambdas_layout(self) -> None:
        # Lambda takes single-architecture images only, of the function's architecture.
        self.assertEqual(len(self.image.manifests), 1)
        self.assertEqual(self.image.manifest_media_type, "application/vnd.oci.image.manifest.v1+json")
        self.assertEqual((self.image.config["os"], self.image.config["architecture"]), ("linux", "arm64"))
        self.assertEqual(self.image.settings.get("Entrypoint"), ["/var/runtime/bootstrap"])
        self.assertEqual(self.image.settings.get("WorkingDir"), "/var/task")
        self.assertEqual(self.image.env().get("LAMBDA_TASK_ROOT"), "/var/task")
        bootstrap = self.image.rootfs / "var" / "runtime" / "bootstrap"
        self.assertEqual(bootstrap.stat().st_mode & 0o777, 0o755)
        self.assertEqual(bootstrap.read_bytes()[:4], b"\x7fELF")
        self.assertTrue((self.image.rootfs / "lib" / "ld-linux-aarch64.so.1").is_file())

    def test_the_image_trusts_public_certificate_authorities(self) -> None:
        # The SDK's rustls reads the system's store (rustls-native-certs, which looks
        # at this path first on Debian-style systems): without it no TLS to AWS.
        bundle = self.image.rootfs / "etc" / "ssl" / "certs" / "ca-certificates.crt"
        self.assertGreater(bundle.read_text().count("BEGIN CERTIFICATE"), 100)
        self.assertEqual(bundle.stat().st_mode & 0o004, 0o004, "not readable by Lambda's user")

    def test_the_entrypoint_serves_health_create_and_get_through_the_runtime_api(self) -> None:
        env = function_environment(self.image, {"DATABASE_PATH": ":memory:", "API_TOKEN": TOKEN,
                                                "LOG_LEVEL": "warn"})
        function = start(self.image, env, self.log)
        try:
            health = answer(function.invoke(json.dumps(event("rest-v1-get-health")).encode()), self.log)
            self.assertEqual(health["statusCode"], 200, health)
            self.assertEqual(json.loads(health["body"]).get("status"), "ok", health)

            created = answer(function.invoke(json.dumps(event("rest-v1-create-item")).encode()), self.log)
            self.assertEqual(created["statusCode"], 201, created)
            item = json.loads(created["body"])
            self.assertEqual(item["name"], "Test Item")

            got = answer(function.invoke(json.dumps(get_item_event(item["id"])).encode()), self.log)
            self.assertEqual(got["statusCode"], 200, got)
            self.assertEqual(json.loads(got["body"]), item)
        finally:
            function.close()
            function.log_file.close()

    def test_an_image_whose_entrypoint_is_wrong_answers_nothing(self) -> None:
        # The check above must be able to fail: the same image with the binary's
        # old zip path as ENTRYPOINT (no such file in the image) gets no answer.
        wrong = self.folder / "Dockerfile.wrong-entrypoint"
        text = DOCKERFILE.read_text()
        self.assertTrue('ENTRYPOINT ["/var/runtime/bootstrap"]' in text,
                        "the Dockerfile's ENTRYPOINT is not /var/runtime/bootstrap; this mutant needs updating")
        wrong.write_text(text.replace('ENTRYPOINT ["/var/runtime/bootstrap"]', 'ENTRYPOINT ["/var/task/bootstrap"]'))
        image = Image(build(self.folder / "wrong-build", wrong), self.folder / "wrong-image")
        env = function_environment(image, {"DATABASE_PATH": ":memory:", "API_TOKEN": TOKEN})
        print("\n   (expected: the wrong entrypoint fails to start)", file=sys.stderr)
        function = start(image, env, self.log)
        try:
            outcome = function.invoke(json.dumps(event("rest-v1-get-health")).encode())
        finally:
            function.close()
            function.log_file.close()
        self.assertNotEqual(outcome.kind, "response", outcome)
        self.assertEqual(outcome.kind, "exit", outcome)


if __name__ == "__main__":
    unittest.main()
