#!/usr/bin/env bash
# `make doctor`: checks, in seconds, everything `make test` needs on this machine, and
# says for each missing piece what it is for and the command that installs it. `make
# setup` runs it first (after installing the Debian packages itself when it can, see
# system-packages.sh). Exit status 1 when something is missing.
#
# Overridable for tests: CHROMIUM (the browser), DOCTOR_MIN_FREE_GB (default 8).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
missing=0

ok() { printf 'doctor: ok       %-10s %s\n' "$1" "$2"; }
lack() { # name, what it is for, how to install
  printf 'doctor: MISSING  %-10s %s\n                  install: %s\n' "$1" "$2" "$3"
  missing=$((missing + 1))
}

# version_at_least HAVE WANT: dotted versions, numerically.
version_at_least() {
  [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" == "$2" ]]
}

rust_wanted=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' "$root/Cargo.toml")
if command -v cargo > /dev/null; then
  have=$(rustc --version 2> /dev/null | awk '{print $2}')
  if version_at_least "${have:-0}" "$rust_wanted"; then
    ok rust "rustc $have (needs $rust_wanted or newer)"
  else
    lack rust "rustc $have is older than the $rust_wanted this crate needs" "rustup update stable"
  fi
else
  lack rust "cargo builds and tests the service" "curl https://sh.rustup.rs -sSf | sh   (https://rustup.rs)"
fi
if command -v rustup > /dev/null; then
  ok rustup "adds rustfmt, clippy and the arm64 target"
else
  lack rustup "make setup adds rustfmt, clippy and the aarch64-unknown-linux-gnu target with it" "https://rustup.rs"
fi

if command -v python3 > /dev/null; then
  py=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  # The pinned schemathesis and openapi-python-client need 3.11 (SAM CLI and moto 3.10).
  if ! version_at_least "$py" 3.11; then
    lack python3 "python3 $py is older than 3.11: the pinned schemathesis and openapi-python-client need 3.11+ (SAM CLI and moto 3.10+)" \
      "apt-get install -y python3 python3-venv   (Debian 12 and later have 3.11+; elsewhere put a python3.11 first on PATH as python3)"
  elif ! python3 -c 'import ensurepip, venv' 2> /dev/null; then
    lack venv "python3 $py cannot make a venv with pip (the test tools live in target/py)" "apt-get install -y python3-venv"
  else
    ok python3 "python3 $py with venv and pip"
  fi
else
  lack python3 "the test tools (schemathesis, moto, SAM CLI, cfn-lint, cargo-lambda)" "apt-get install -y python3 python3-venv"
fi

if command -v node > /dev/null && command -v npm > /dev/null; then
  node_version=$(node --version | tr -d v)
  # @redocly/cli (the contract linter and the ReDoc bundle) and playwright-core (the
  # browser test) need Node 20.
  if version_at_least "$node_version" 20; then
    ok node "node $node_version, npm $(npm --version)"
  else
    lack node "node $node_version is older than 20: @redocly/cli and playwright-core need 20+" \
      "apt-get install -y nodejs npm   (Debian 13 and later have 20+; elsewhere NodeSource's nodejs 20 or newer)"
  fi
else
  lack node "the contract linters, Prism, Optic, the TypeScript client, the browser test" "apt-get install -y nodejs npm"
fi

chromium=${CHROMIUM:-/usr/bin/chromium}
if [[ -x "$chromium" ]]; then
  ok chromium "$chromium (the browser test of /docs and /redoc)"
else
  lack chromium "the browser test of /docs and /redoc (Debian's chromium; set CHROMIUM to another binary)" "apt-get install -y chromium"
fi

if command -v stunnel4 > /dev/null || command -v stunnel > /dev/null; then
  ok stunnel "the TLS endpoint of the emulated DynamoDB and Secrets Manager (local stage, bench)"
else
  lack stunnel "the TLS endpoint of the emulated DynamoDB and Secrets Manager (local stage, bench)" "apt-get install -y stunnel4"
fi
if command -v qemu-aarch64-static > /dev/null && [[ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ]]; then
  ok qemu "qemu-aarch64-static and the arm64 C library (the local stage runs the arm64 package)"
else
  lack qemu "runs the arm64 package on this machine (the local stage)" "apt-get install -y qemu-user-static libc6-arm64-cross"
fi

if command -v buildah > /dev/null && command -v readelf > /dev/null && [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
  ok buildah "buildah $(buildah --version | awk '{print $3}'), readelf and the CA bundle (the container image, built offline)"
else
  lack buildah "builds the Lambda container image offline (make image, make image-test)" "apt-get install -y buildah binutils ca-certificates"
fi

if command -v curl > /dev/null; then
  ok curl "curl $(curl --version | awk 'NR == 1 {print $2}')"
else
  lack curl "the README's examples and some scripts" "apt-get install -y curl"
fi

want_gb=${DOCTOR_MIN_FREE_GB:-8}
mkdir -p "$root/target"
free_gb=$(df -Pk "$root/target" | awk 'NR == 2 {print int($4 / 1024 / 1024)}')
if [[ "$free_gb" -ge "$want_gb" ]]; then
  ok disk "${free_gb} GB free under target/ (builds, venvs and node_modules take about 8 GB)"
else
  lack disk "only ${free_gb} GB free under target/; builds, venvs and node_modules take about ${want_gb} GB" "free disk space, or point CARGO_TARGET_DIR elsewhere"
fi

if [[ $missing -gt 0 ]]; then
  echo "doctor: $missing missing; install them (as root, \`make setup\` installs the Debian packages itself) and run \`make doctor\` again"
  exit 1
fi
echo "doctor: everything make test needs is here (it also downloads crates, PyPI and npm packages: the registries must be reachable)"
