#!/usr/bin/env bash
# Property-based contract tests (schemathesis) of the Items API against openapi.yaml.
#
#   contract-tests/run.sh                 build the service, start it on 127.0.0.1 with a
#                                         temporary SQLite file and a generated token, test, stop
#   contract-tests/run.sh --lambda        the same through the local Lambda emulation
#                                         (cargo lambda watch), so every request goes
#                                         through the Lambda event translation
#   contract-tests/run.sh URL             a deployed stage, e.g.
#                                         https://abc.execute-api.eu-west-1.amazonaws.com/prod;
#                                         the token comes from API_TOKEN, or from the stack's
#                                         secret with --token-from-stack STACK (AWS CLI)
#
# Options:
#   --seed N              replay a run (the seed is printed at the start and the end)
#   --max-examples N      cases per operation and phase (default 100 locally, 20 remote)
#   --rate-limit R        request rate, e.g. 10/s (default: none locally, 5/s remote)
#   --max-time S          time budget in seconds (default: none locally, 600 remote)
#   --token-from-stack S  read the token from stack S's ApiTokenSecretArn output
#
# In CI (CI set) the seed is fixed so failures reproduce; by hand it is random.
# Reports: contract-tests/reports/junit.xml and cassette.yaml (VCR of the requests).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
mode=local
target_url=""
seed=""
max_examples=""
rate_limit=""
max_time=""
stack=""

while [[ $# -gt 0 ]]; do
  case "$1" in
    --lambda) mode=lambda ;;
    --seed) seed=$2; shift ;;
    --max-examples) max_examples=$2; shift ;;
    --rate-limit) rate_limit=$2; shift ;;
    --max-time) max_time=$2; shift ;;
    --token-from-stack) stack=$2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    http://* | https://*) mode=remote; target_url=${1%/} ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

"$here/setup.sh"
venv="$here/.venv"
export PATH="$venv/bin:$PATH"
reports="$here/reports"
mkdir -p "$reports"
rm -f "$reports/junit.xml" "$reports/cassette.yaml" "$reports/emulator-resends.log"

if [[ -z "$seed" ]]; then
  if [[ -n "${CI:-}" ]]; then seed=20261124; else seed=$(( (RANDOM << 15) | RANDOM )); fi
fi
echo "== contract tests: mode $mode, seed $seed (replay with --seed $seed)"

server_pid=""
workdir=""
cleanup() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [[ -n "$workdir" ]]; then rm -rf "$workdir"; fi
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_for() {
  local url=$1 seconds=$2
  for _ in $(seq 1 $((seconds * 5))); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
    if [[ -n "$server_pid" ]] && ! kill -0 "$server_pid" 2>/dev/null; then
      echo "the service exited; its log:" >&2
      tail -n 40 "$reports/service.log" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "no answer from $url within ${seconds}s; the service's log:" >&2
  tail -n 40 "$reports/service.log" >&2
  return 1
}

case "$mode" in
  local | lambda)
    workdir=$(mktemp -d)
    export API_TOKEN
    API_TOKEN=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
    port=$(free_port)
    if [[ "$mode" == local ]]; then
      # ITEMS_API_BIN runs another build of the service (self-test.sh uses it).
      binary=${ITEMS_API_BIN:-}
      if [[ -z "$binary" ]]; then
        (cd "$root" && cargo build --quiet --bin items-api)
        binary="$root/target/debug/items-api"
      fi
      DATABASE_PATH="$workdir/items.db" PORT=$port HOST=127.0.0.1 LOG_FORMAT=json LOG_LEVEL=warn \
        "$binary" > "$reports/service.log" 2>&1 &
      server_pid=$!
      base_url="http://127.0.0.1:$port"
    else
      # cargo lambda watch runs the binary under an emulated Lambda runtime and turns
      # each HTTP request into a function-URL (payload v2) event. The binary is built
      # first so the emulator's own `cargo run` starts it at once, and --ignore-changes
      # keeps it from restarting the function when a file changes mid-run (a restart
      # drops the request in flight with the emulator's own 500).
      (cd "$root" && cargo build --quiet --bin items-api)
      (cd "$root" && DATABASE_PATH="$workdir/items.db" LOG_FORMAT=json LOG_LEVEL=warn \
        exec cargo lambda watch --quiet --ignore-changes -A 127.0.0.1 -P "$port") \
        > "$reports/service.log" 2>&1 &
      server_pid=$!
      base_url="http://127.0.0.1:$port/lambda-url/items-api"
      # The emulator cannot carry non-UTF-8 JSON bodies; see hooks/lambda_transport.py.
      export PYTHONPATH="$here/hooks${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=lambda_transport
    fi
    wait_for "$base_url/api/health" 120
    : "${max_examples:=100}"
    ;;
  remote)
    base_url=$target_url
    if [[ -n "$stack" ]]; then
      arn=$(aws cloudformation describe-stacks --stack-name "$stack" \
        --query "Stacks[0].Outputs[?OutputKey=='ApiTokenSecretArn'].OutputValue" --output text)
      API_TOKEN=$(aws secretsmanager get-secret-value --secret-id "$arn" --query SecretString --output text)
      export API_TOKEN
    fi
    if [[ -z "${API_TOKEN:-}" ]]; then
      echo "run.sh: set API_TOKEN to the stage's token, or pass --token-from-stack STACK" >&2
      exit 2
    fi
    # A real stage: few cases, a gentle rate, a time budget.
    : "${max_examples:=20}" "${rate_limit:=5/s}" "${max_time:=600}"
    ;;
esac

args=(run "$root/openapi.yaml" --url "$base_url" --seed "$seed" --max-examples "$max_examples")
if [[ -n "$rate_limit" ]]; then args+=(--rate-limit "$rate_limit"); fi
if [[ -n "$max_time" ]]; then args+=(--max-time "$max_time"); fi

status=0
(cd "$here" && schemathesis "${args[@]}") || status=$?

if [[ "$status" != 0 && "$mode" != remote ]]; then
  # The service's own problems are in the cassette; what the emulator or the process
  # said (restarts, crashes, runtime errors) is only here.
  echo "== the service's log, without its per-request warnings (full: $reports/service.log)"
  grep -v '"level":"WARN"' "$reports/service.log" | tail -n 40 || true
fi

python3 - "$reports/junit.xml" "$mode" "$seed" "$status" <<'PY'
import sys
import xml.etree.ElementTree as ET

path, mode, seed, status = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
try:
    root = ET.parse(path).getroot()
    cases = root.iter("testcase")
    total = failed = 0
    for case in cases:
        total += 1
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
    print(f"contract tests ({mode}, seed {seed}, exit {status}): one JUnit case per operation plus the stateful run")
    print(f"contract: {total - failed} passed, {failed} failed")
except (OSError, ET.ParseError) as error:
    print(f"contract tests ({mode}, seed {seed}): no JUnit report ({error}); exit {status}")
PY
if [[ -s "$reports/emulator-resends.log" ]]; then
  echo "contract: $(wc -l < "$reports/emulator-resends.log") read(s) sent again after the emulator's own 500 (see hooks/lambda_transport.py; list in $reports/emulator-resends.log)"
fi
exit "$status"
