#!/usr/bin/env bash
# Property-based contract tests (schemathesis) of the Items API against openapi.yaml.
#
#   contract-tests/run.sh                 build the service, start it on 127.0.0.1 with a
#                                         temporary SQLite file and a generated token, test, stop
#   contract-tests/run.sh --lambda        the same through the local Lambda emulation
#                                         (cargo lambda watch), so every request goes
#                                         through the Lambda event translation
#   contract-tests/run.sh --stage         through the local stage (make stage): the arm64
#                                         package under qemu behind the REST API stage
#                                         template.yaml configures, DynamoDB and Secrets
#                                         Manager on moto over TLS; ITEMS_API_BIN runs
#                                         another build (an x86_64 one answers ~2.4x faster)
#   contract-tests/run.sh --users         the local server with users (AUTH_MODE=jwt) and the
#                                         test OpenID Connect issuer: schemathesis as alice,
#                                         with alice and bob as peers for its
#                                         object_level_authorization check, then
#                                         cross_user.py (bob replays alice's writes)
#   contract-tests/run.sh URL             a deployed stage, e.g.
#                                         https://abc.execute-api.eu-west-1.amazonaws.com/prod;
#                                         the token comes from API_TOKEN, or from the stack's
#                                         secret with --token-from-stack STACK
#   contract-tests/run.sh --stack STACK   a deployed stage found by its stack: URL and token
#                                         from the stack's outputs (stack_outputs.py says
#                                         which IAM permissions that needs)
#
# Options:
#   --seed N              replay a run (the seed is printed at the start and the end)
#   --max-examples N      cases per operation and phase (default 100 locally, 20 remote)
#   --rate-limit R        request rate, e.g. 10/s (default: none locally, 5/s remote)
#   --max-time S          time budget in seconds (default: none locally, 600 remote)
#   --token-from-stack S  read the token from stack S's ApiTokenSecretArn output
#   --stack S             read the URL and the token from stack S
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
users=""

while [[ $# -gt 0 ]]; do
  case "$1" in
    --lambda) mode=lambda ;;
    --stage) mode=stage ;;
    --users) users=1 ;;
    --seed) seed=$2; shift ;;
    --max-examples) max_examples=$2; shift ;;
    --rate-limit) rate_limit=$2; shift ;;
    --max-time) max_time=$2; shift ;;
    --token-from-stack) stack=$2; shift ;;
    --stack) stack=$2; mode=remote; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    http://* | https://*) mode=remote; target_url=${1%/} ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

"$root/tests/tools/setup.sh"
export PATH="$root/target/py/bin:$PATH"
reports="$here/reports"
mkdir -p "$reports"
rm -f "$reports/junit.xml" "$reports/cassette.yaml" "$reports/emulator-resends.log"

if [[ -z "$seed" ]]; then
  if [[ -n "${CI:-}" ]]; then seed=20261124; else seed=$(( (RANDOM << 15) | RANDOM )); fi
fi
echo "== contract tests: mode $mode, seed $seed (replay with --seed $seed)"

# The service: started, waited for and stopped by tests/tools/service.py, which hands
# schemathesis BASE_URL and API_TOKEN; a deployed stage is used as it is.
service=()
case "$mode" in
  local | lambda | stage)
    service=(python3 "$root/tests/tools/service.py" --log "$reports/service.log")
    # ITEMS_API_BIN runs another build of the service (self-test.sh uses it).
    if [[ -n "${ITEMS_API_BIN:-}" ]]; then service+=(--binary "$ITEMS_API_BIN"); fi
    if [[ "$mode" == stage ]]; then service+=(--stage); fi
    if [[ -n "$users" ]]; then service+=(--users); fi
    if [[ "$mode" == lambda ]]; then
      service+=(--lambda)
      # The emulator cannot carry non-UTF-8 JSON bodies; see hooks/lambda_transport.py.
      export PYTHONPATH="$here/hooks${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=lambda_transport
    fi
    service+=(--)
    : "${max_examples:=100}"
    ;;
  remote)
    if [[ -n "$stack" ]]; then
      found=$("$root/target/py/bin/python" "$here/stack_outputs.py" "$stack") || exit 2
      { read -r stack_url; read -r API_TOKEN; } <<< "$found"
      target_url=${target_url:-$stack_url}
      export API_TOKEN
      echo "== contract tests: stack $stack serves $target_url"
    fi
    export BASE_URL=$target_url
    if [[ -z "${API_TOKEN:-}" ]]; then
      echo "run.sh: set API_TOKEN to the stage's token, or pass --token-from-stack STACK" >&2
      exit 2
    fi
    # A real stage: few cases, a gentle rate, a time budget.
    : "${max_examples:=20}" "${rate_limit:=5/s}" "${max_time:=600}"
    ;;
esac
# Fresh Idempotency-Key values in every mode (see hooks/idempotency.py); the Lambda
# mode's hook module loads it too.
export PYTHONPATH="$here/hooks${PYTHONPATH:+:$PYTHONPATH}"
export SCHEMATHESIS_HOOKS=${SCHEMATHESIS_HOOKS:-idempotency}

# Behind API Gateway (the local stage, a deployed stage) a method API Gateway does not
# route, TRACE, is answered by the gateway itself with 403 MISSING_AUTHENTICATION_TOKEN
# before the service sees it (openapi.yaml's description says so; tests/stage checks
# it): the coverage phase sends it only where the service answers it (405).
config=()
if [[ "$mode" == stage || "$mode" == remote ]]; then
  sed 's/^unexpected-methods = \(.*\), "TRACE"\]/unexpected-methods = \1]/' "$here/schemathesis.toml" > "$reports/schemathesis-gateway.toml"
  if cmp -s "$here/schemathesis.toml" "$reports/schemathesis-gateway.toml"; then
    echo "run.sh: schemathesis.toml's unexpected-methods no longer ends with TRACE; update run.sh" >&2
    exit 2
  fi
  config=(--config-file "$reports/schemathesis-gateway.toml")
fi
if [[ -n "$users" ]]; then
  [[ "$mode" == local ]] || { echo "run.sh: --users runs the local server only" >&2; exit 2; }
  # Two identities instead of the one token: schemathesis authenticates as alice, and
  # replays her reads as bob (object_level_authorization; it needs the peers).
  python3 - "$here/schemathesis.toml" "$reports/schemathesis-users.toml" <<'PY'
import sys
text = open(sys.argv[1]).read()
shared = '[auth.openapi.bearerAuth]\nbearer = "${API_TOKEN}"\n'
if shared not in text:
    sys.exit("run.sh: schemathesis.toml's [auth.openapi.bearerAuth] section changed; update run.sh")
users = '[auth.wfc]\npath = "${WFC_AUTH_FILE}"\nuser = "alice"\npeers = ["alice", "bob"]\n'
open(sys.argv[2], "w").write(text.replace(shared, users))
PY
  config=(--config-file "$reports/schemathesis-users.toml")
fi
args=(run "$root/openapi.yaml" --seed "$seed" --max-examples "$max_examples")
if [[ -n "$rate_limit" ]]; then args+=(--rate-limit "$rate_limit"); fi
if [[ -n "$max_time" ]]; then args+=(--max-time "$max_time"); fi

status=0
export AFTER=true
if [[ -n "$users" ]]; then AFTER="python3 $here/cross_user.py"; fi
# shellcheck disable=SC2016 # BASE_URL is the service's, expanded in the inner shell
"${service[@]}" bash -c 'cd "$0" && schemathesis "$@" --url "$BASE_URL" && $AFTER' "$here" "${config[@]}" "${args[@]}" || status=$?

if [[ "$status" != 0 && "$mode" != remote && -f "$reports/service.log" ]]; then
  # The service's own problems are in the cassette; what the emulator or the process
  # said (restarts, crashes, runtime errors) is only here.
  echo "== the service's log, without its per-request warnings (full: $reports/service.log)"
  grep -v '"level":"WARN"' "$reports/service.log" | tail -n 40 || true
fi

python3 "$here/summary.py" "$reports/junit.xml" "$mode" "$seed" "$status"
if [[ -s "$reports/emulator-resends.log" ]]; then
  echo "contract: $(wc -l < "$reports/emulator-resends.log") read(s) sent again after the emulator's own 500 (see hooks/lambda_transport.py; list in $reports/emulator-resends.log)"
fi
exit "$status"
