#!/usr/bin/env python3
"""Checks the Lambda package `sam build` made and prints its sizes (`make package`).

Fails unless target/sam-build/ItemsFunction/bootstrap is an arm64 ELF binary; then
zips it the way Lambda receives it (deflate, level 9) into target/sam-build/items-api.zip.
"""

import os
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP = ROOT / "target" / "sam-build" / "ItemsFunction" / "bootstrap"
ZIP = ROOT / "target" / "sam-build" / "items-api.zip"
ELF_MAGIC = b"\x7fELF"
EM_AARCH64 = b"\xb7\x00"  # e_machine at offset 18, little-endian


def main() -> int:
    head = BOOTSTRAP.read_bytes()[:20]
    if head[:4] != ELF_MAGIC or head[18:20] != EM_AARCH64:
        print(f"package: {BOOTSTRAP} is not an arm64 ELF binary", file=sys.stderr)
        return 1
    with zipfile.ZipFile(ZIP, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.write(BOOTSTRAP, "bootstrap")
    print(f"package: bootstrap {os.path.getsize(BOOTSTRAP):,} bytes, zip {os.path.getsize(ZIP):,} bytes"
          " (arm64, what Lambda receives)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
