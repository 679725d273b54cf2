"""The package check (tests/tools/lambda_package.py) refuses what Lambda cannot run:
a bootstrap without its execute bit, one built for another machine, one not at the
zip's root; and it zips with SAM's own function, which keeps a file's mode.

Run by `make tools-self-test`; needs no build (it makes small ELF headers itself).
"""

import os
import sys
import tempfile
import unittest
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lambda_package  # noqa: E402


def elf(machine: int, kind: int = 3) -> bytes:
    """The first bytes of a 64-bit little-endian ELF file of `machine` and `kind`."""
    header = bytearray(64)
    header[:4] = b"\x7fELF"
    header[4], header[5], header[6] = 2, 1, 1  # 64-bit, little-endian, version 1
    header[16:18] = kind.to_bytes(2, "little")
    header[18:20] = machine.to_bytes(2, "little")
    return bytes(header) + b"\0" * 1024


class PackageTest(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.build = Path(self.tmp.name) / "ItemsFunction"
        self.build.mkdir()
        self.zip = Path(self.tmp.name) / "items-api.zip"

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def package(self, content: bytes, mode: int, name: str = "bootstrap") -> list[str]:
        path = self.build / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        os.chmod(path, mode)
        return lambda_package.problems(lambda_package.make_zip(self.build, self.zip))

    def test_an_executable_arm64_bootstrap_at_the_root_passes(self) -> None:
        self.assertEqual(self.package(elf(0xB7), 0o755), [])
        with zipfile.ZipFile(self.zip) as archive:
            self.assertEqual(archive.getinfo("bootstrap").external_attr >> 16 & 0o777, 0o755)

    def test_a_bootstrap_without_its_execute_bit_is_refused(self) -> None:
        # What actions/upload-artifact hands the next job: SAM's zip adds read bits only.
        found = self.package(elf(0xB7), 0o644)
        self.assertEqual(len(found), 1, found)
        self.assertIn("mode 0644, not 0755", found[0])

    def test_an_x86_64_bootstrap_is_refused(self) -> None:
        found = self.package(elf(0x3E), 0o755)
        self.assertTrue(any("not aarch64" in p for p in found), found)

    def test_a_file_that_is_not_elf_is_refused(self) -> None:
        found = self.package(b"#!/bin/sh\nexit 0\n", 0o755)
        self.assertTrue(any("not an ELF executable" in p for p in found), found)

    def test_a_bootstrap_in_a_folder_is_refused(self) -> None:
        found = self.package(elf(0xB7), 0o755, name="target/bootstrap")
        self.assertTrue(any("no bootstrap at the zip's root" in p for p in found), found)

    def test_sizes_over_lambdas_quotas_are_refused(self) -> None:
        self.package(elf(0xB7), 0o755)
        original = lambda_package.MAX_ZIPPED, lambda_package.MAX_UNZIPPED
        try:
            lambda_package.MAX_ZIPPED, lambda_package.MAX_UNZIPPED = 10, 10
            found = lambda_package.problems(self.zip)
        finally:
            lambda_package.MAX_ZIPPED, lambda_package.MAX_UNZIPPED = original
        self.assertTrue(any("over Lambda's 10 for a direct upload" in p for p in found), found)
        self.assertTrue(any("unzipped it is" in p for p in found), found)


if __name__ == "__main__":
    unittest.main()
