#!/usr/bin/env bash
# Installs the Debian packages `make test` needs and does not have yet (curl, Chromium,
# Node and npm, python3-venv, stunnel4, qemu-user-static, libc6-arm64-cross, buildah, binutils,
# ca-certificates), when this runs as root on a machine with apt-get; else
# it says so and leaves the rest to `make doctor`, which names the commands.
set -euo pipefail

missing=()
command -v curl > /dev/null || missing+=(curl)
[[ -x "${CHROMIUM:-/usr/bin/chromium}" ]] || missing+=(chromium)
command -v node > /dev/null || missing+=(nodejs)
command -v npm > /dev/null || missing+=(npm)
python3 -c 'import ensurepip, venv' 2> /dev/null || missing+=(python3-venv)
# The local stage: the emulated AWS behind TLS, the arm64 package under qemu-user.
command -v stunnel4 > /dev/null || command -v stunnel > /dev/null || missing+=(stunnel4)
command -v qemu-aarch64-static > /dev/null || missing+=(qemu-user-static)
[[ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ]] || missing+=(libc6-arm64-cross)
# The container image (make image): built offline from the package's bootstrap, its
# libraries (readelf finds them) and the CA bundle.
command -v buildah > /dev/null || missing+=(buildah)
command -v readelf > /dev/null || missing+=(binutils)
[[ -f /etc/ssl/certs/ca-certificates.crt ]] || missing+=(ca-certificates)

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get > /dev/null; then
  echo "system-packages: not root on a Debian/Ubuntu machine; not installing ${missing[*]} (make doctor says how)"
  exit 0
fi
echo "== system-packages: installing ${missing[*]} (apt-get)"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" > /dev/null
