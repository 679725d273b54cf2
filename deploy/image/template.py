#!/usr/bin/env python3
"""template.yaml with the function packaged as a container image (`PackageType: Image`).

    deploy/image/template.py [--out target/image/template.yaml]

SAM decides a function's package type when it transforms the template, before any
condition is evaluated, so `PackageType` cannot be a parameter of template.yaml itself.
This writes the same stack with one difference: the function is `PackageType: Image`
with `ImageUri` a new parameter (an image in ECR, pushed from `make image`), instead of
the zip `sam build` makes (`CodeUri`, `Handler`, `Runtime`, the cargo-lambda build
method). Everything else (API, table, users, alarms, the `live` alias and canary
deploys) is template.yaml's, so the two cannot drift: each change to template.yaml is
in the image stack the next time this runs. Deploy it with

    sam deploy --template-file target/image/template.yaml --stack-name items-api-image \\
      --capabilities CAPABILITY_IAM --resolve-s3 --image-repository <registry>/items-api \\
      --parameter-overrides ImageUri=<registry>/items-api:v1

(`--resolve-s3`: the generated template is over CloudFormation's 51,200-byte limit for
an inline template; `--image-repository`: SAM asks for one for every image function.)

Each replaced line must be in template.yaml exactly once; if template.yaml changes them,
this fails and says which (tests/image/test_image.py runs it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# (what template.yaml has, what the image stack has instead)
CHANGES = [
    ("\nParameters:\n",
     "\nParameters:\n"
     "  ImageUri:\n"
     "    Type: String\n"
     "    AllowedPattern: '^[0-9]{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/.+$'\n"
     "    ConstraintDescription: an image in ECR, <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag> or @<digest>\n"
     "    Description: >-\n"
     "      The function's container image in ECR, single-architecture linux/arm64\n"
     "      (make image, then skopeo copy; docs/deployment.md, \"Container image\").\n"),
    ("      BuildMethod: rust-cargolambda\n", ""),
    ("      CodeUri: .\n      Handler: bootstrap\n      Runtime: provided.al2023\n",
     "      PackageType: Image\n      ImageUri: !Ref ImageUri\n"),
]


def image_template(text: str) -> str:
    for old, new in CHANGES:
        count = text.count(old)
        if count != 1:
            raise SystemExit(f"template.py: template.yaml has {count} of {old!r}, not exactly one; update CHANGES")
        text = text.replace(old, new)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "target" / "image" / "template.yaml")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(image_template((ROOT / "template.yaml").read_text()))
    print(f"image stack template: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
