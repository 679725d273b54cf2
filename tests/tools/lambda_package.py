#!/usr/bin/env python3
"""The Lambda package as AWS receives it: zipped by SAM's own function, then checked.

`make package` runs `sam build` into target/sam-build, then this: it zips
target/sam-build/ItemsFunction with `make_zip_with_lambda_permissions`, the function
`sam deploy` and `sam package` zip a function's code with (aws-sam-cli,
samcli/lib/package/utils.py: each file keeps its own mode, with read bits added; a
file without its execute bit stays without it), into target/sam-build/items-api.zip,
and checks what Lambda needs of a `provided.al2023` function:

- `bootstrap` at the zip's root (the runtime runs /var/task/bootstrap);
- its mode 0755: executable by the function's user, or every invocation fails with
  Runtime.InvalidEntrypoint (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-custom.html);
- an aarch64 ELF executable, as `Architectures: [arm64]` in template.yaml runs;
- within Lambda's deployment package quotas: 50 MB zipped for a direct upload, 250 MB
  unzipped (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).

The local stage (tests/tools/stage.py) runs the bootstrap taken out of this zip.

    lambda_package.py [--build-dir DIR] [--zip FILE]     zip and check (make package)
    lambda_package.py --check FILE                       check a zip only
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = ROOT / "target" / "sam-build" / "ItemsFunction"
ZIP = ROOT / "target" / "sam-build" / "items-api.zip"
ELF_MAGIC = b"\x7fELF"
EM_AARCH64 = 0xB7  # e_machine, ELF specification
ET_EXEC, ET_DYN = 2, 3
# Lambda quotas (gettingstarted-limits.html): deployment package size.
MAX_ZIPPED = 50 * 1024 * 1024
MAX_UNZIPPED = 250 * 1024 * 1024


def make_zip(build_dir: Path, zip_path: Path) -> Path:
    """Zips `build_dir` exactly as `sam deploy` does; returns the zip's path."""
    from samcli.lib.package.utils import make_zip_with_lambda_permissions

    zip_path.unlink(missing_ok=True)
    made = make_zip_with_lambda_permissions(str(zip_path.with_suffix("")), str(build_dir))
    return Path(made)


def problems(zip_path: Path) -> list[str]:
    """What keeps Lambda from running this package; empty when nothing does."""
    found: list[str] = []
    size = zip_path.stat().st_size
    if size > MAX_ZIPPED:
        found.append(f"the zip is {size:,} bytes, over Lambda's {MAX_ZIPPED:,} for a direct upload")
    with zipfile.ZipFile(zip_path) as archive:
        unzipped = sum(info.file_size for info in archive.infolist())
        if unzipped > MAX_UNZIPPED:
            found.append(f"unzipped it is {unzipped:,} bytes, over Lambda's {MAX_UNZIPPED:,}")
        try:
            info = archive.getinfo("bootstrap")
        except KeyError:
            names = ", ".join(sorted(archive.namelist())[:5]) or "nothing"
            return found + [f"no bootstrap at the zip's root (it holds {names})"]
        mode = info.external_attr >> 16
        if not stat.S_ISREG(mode):
            found.append(f"bootstrap is not a regular file (mode {mode:o})")
        if stat.S_IMODE(mode) != 0o755:
            found.append(f"bootstrap has mode {stat.S_IMODE(mode):04o}, not 0755: Lambda cannot execute it "
                         "(Runtime.InvalidEntrypoint)")
        with archive.open(info) as file:
            head = file.read(20)
    if head[:4] != ELF_MAGIC:
        found.append("bootstrap is not an ELF executable")
    else:
        kind = int.from_bytes(head[16:18], "little")
        machine = int.from_bytes(head[18:20], "little")
        if machine != EM_AARCH64:
            found.append(f"bootstrap is built for ELF machine {machine:#x}, not aarch64 (arm64)")
        if kind not in (ET_EXEC, ET_DYN):
            found.append(f"bootstrap is an ELF file of type {kind}, not an executable")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, default=BUILD_DIR)
    parser.add_argument("--zip", type=Path, default=ZIP)
    parser.add_argument("--check", type=Path, metavar="FILE", help="only check this zip")
    args = parser.parse_args()
    zip_path = args.check or make_zip(args.build_dir, args.zip)
    found = problems(zip_path)
    if found:
        for problem in found:
            print(f"package: {zip_path}: {problem}", file=sys.stderr)
        return 1
    with zipfile.ZipFile(zip_path) as archive:
        bootstrap = archive.getinfo("bootstrap").file_size
    print(f"package: bootstrap {bootstrap:,} bytes, zip {os.path.getsize(zip_path):,} bytes"
          " (arm64, mode 0755, zipped as sam deploy zips it: what Lambda receives)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
