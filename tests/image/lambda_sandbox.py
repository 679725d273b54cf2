#!/usr/bin/env python3
"""Runs a command inside an image's root file system as Lambda runs a container image.

    lambda_sandbox.py ROOTFS WORKDIR -- COMMAND [ARG ...]

chroot into ROOTFS, change to the image's WorkingDir, drop to an unprivileged user
(Lambda runs images as its own least-privileged user, so every file the function needs
must be readable by others, and nothing outside /tmp is writable), then exec COMMAND
with this process's environment. The function sees only the image's files: a library or
certificate the image lacks is missing here too, where `qemu-aarch64-static -L` would
quietly take the host's. Needs root (chroot); used by tests/image/test_image.py.
"""

import os
import sys

NOBODY = 65534


def main() -> None:
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        raise SystemExit(__doc__.split("\n\n")[1])
    rootfs, workdir, command = sys.argv[1], sys.argv[2], sys.argv[4:]
    os.chroot(rootfs)
    os.chdir(workdir or "/")
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
