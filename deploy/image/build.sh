#!/usr/bin/env bash
# Builds the Lambda container image of the Items API offline (`make image`): no
# registry, no daemon, nothing pulled.
#
#   deploy/image/build.sh [--out DIR]
#
# 1. assembles the build context in DIR/context: the arm64 `bootstrap` of
#    `make package` (BOOTSTRAP, default target/sam-build/ItemsFunction/bootstrap), its
#    dynamic loader and the libraries it needs from Debian's libc6-arm64-cross
#    (SYSROOT, default /usr/aarch64-linux-gnu), and the CA bundle (CA_BUNDLE, default
#    Debian's /etc/ssl/certs/ca-certificates.crt);
# 2. lints deploy/image/Dockerfile (DOCKERFILE) with hadolint from target/py;
# 3. builds it with buildah (Debian's `buildah`, run as root: chroot isolation, vfs
#    storage in DIR/storage, so it needs no daemon, no overlay mount and no pull) for
#    linux/arm64;
# 4. writes the image as an OCI archive, DIR/items-api.oci.tar (tag items-api:latest),
#    which `skopeo copy oci-archive:... docker://<ECR repository>:<tag>` pushes
#    (docs/deployment.md, "Container image").
#
# DIR defaults to target/image.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/target/image"
if [[ ${1:-} == --out ]]; then
  out=$(mkdir -p "$2" && cd "$2" && pwd)
  shift 2
fi
[[ $# -eq 0 ]] || { echo "usage: deploy/image/build.sh [--out DIR]" >&2; exit 2; }

bootstrap=${BOOTSTRAP:-$root/target/sam-build/ItemsFunction/bootstrap}
sysroot=${SYSROOT:-/usr/aarch64-linux-gnu}
ca_bundle=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
dockerfile=${DOCKERFILE:-$root/deploy/image/Dockerfile}
hadolint=${HADOLINT:-$root/target/py/bin/hadolint}
tag=items-api:latest
archive="$out/items-api.oci.tar"

fail() { echo "image: $*" >&2; exit 1; }
for tool in buildah readelf; do
  command -v "$tool" > /dev/null || fail "$tool is not installed (Debian: apt-get install buildah binutils; make setup does)"
done
[[ -x $hadolint ]] || fail "no hadolint at $hadolint (tests/tools/setup.sh installs it)"
[[ -f $bootstrap ]] || fail "no bootstrap at $bootstrap: run make package first"
readelf -h "$bootstrap" | grep -q 'Machine:.*AArch64' || fail "$bootstrap is not an aarch64 binary"
# Lambda runs the image as an unprivileged user: it must be able to run the bootstrap.
[[ $(stat -c %a "$bootstrap") == 755 ]] || fail "$bootstrap has mode $(stat -c %a "$bootstrap"), not 755"
[[ -e $sysroot/lib/ld-linux-aarch64.so.1 ]] || fail "no aarch64 glibc in $sysroot (Debian: apt-get install libc6-arm64-cross)"
[[ -f $ca_bundle ]] || fail "no CA bundle at $ca_bundle (Debian: apt-get install ca-certificates)"

echo "== image: linting $(realpath --relative-to="$root" "$dockerfile") (hadolint)"
"$hadolint" "$dockerfile"

echo "== image: assembling the build context in ${out#"$root"/}/context"
context="$out/context"
rm -rf "$context"
mkdir -p "$context/lib" "$context/etc/ssl/certs"
install -m 0755 "$bootstrap" "$context/bootstrap"
install -m 0644 "$ca_bundle" "$context/etc/ssl/certs/ca-certificates.crt"
# The interpreter, then every library in the closure of DT_NEEDED, taken from the
# sysroot (the files, not their symlinks).
interpreter=$(readelf -lW "$bootstrap" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
[[ $interpreter == /lib/* ]] || fail "unexpected interpreter '$interpreter' (the image has its libraries in /lib)"
install -m 0755 "$(readlink -f "$sysroot$interpreter")" "$context$interpreter"
pending=("$bootstrap")
while [[ ${#pending[@]} -gt 0 ]]; do
  file=${pending[0]}
  pending=("${pending[@]:1}")
  for library in $(readelf -dW "$file" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    [[ -e $context/lib/$library ]] && continue
    source=$(readlink -f "$sysroot/lib/$library") || true
    [[ -f $source ]] || fail "$library (needed by $(basename "$file")) is not in $sysroot/lib"
    install -m 0755 "$source" "$context/lib/$library"
    pending+=("$context/lib/$library")
  done
done
echo "   libraries: $(cd "$context/lib" && ls | tr '\n' ' ')"

echo "== image: building $tag for linux/arm64 (buildah, offline)"
storage=(--root "$out/storage" --runroot "$out/run" --storage-driver vfs)
buildah "${storage[@]}" bud --quiet --isolation chroot --arch arm64 --os linux --layers=false \
  --pull=never -f "$dockerfile" -t "$tag" "$context" > /dev/null
rm -f "$archive"
buildah "${storage[@]}" push --quiet "$tag" "oci-archive:$archive:$tag"
# The build's copy in vfs storage is a full file tree per step; the archive is what counts.
buildah "${storage[@]}" rmi --all > /dev/null
echo "== image: ${archive#"$root"/} ($(du -h "$archive" | cut -f1), entrypoint /var/runtime/bootstrap)"
