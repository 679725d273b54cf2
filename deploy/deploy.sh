#!/usr/bin/env bash
# Deploys one stage of the pipeline (.github/workflows/delivery.yml) with the package
# `sam build` made (.aws-sam/build): `staging` or `production`, whose settings are the
# samconfig.toml environments of the same names (stack, stage, traffic shifting).
# It runs deploy/preflight.sh first (account quotas and settings, tools, the stack's
# state), which says what to fix before CloudFormation would fail half-way.
# SAM=... and PREFLIGHT=... run stand-ins (the local test uses recorders).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
stage=${1:-}
case "$stage" in
  staging | production) ;;
  *) echo "usage: deploy/deploy.sh staging|production" >&2; exit 2 ;;
esac
template="$root/.aws-sam/build/template.yaml"
if [[ ! -f "$template" && -z "${SAM:-}" ]]; then
  echo "deploy: no $template; run sam build first (the pipeline's package job does)" >&2
  exit 2
fi
echo "== deploy: $stage: preflight"
"${PREFLIGHT:-$root/deploy/preflight.sh}" --config-env "$stage" --deploy-only
echo "== deploy: $stage"
"${SAM:-sam}" deploy \
  --config-file "$root/samconfig.toml" \
  --config-env "$stage" \
  --template-file "$template" \
  --no-confirm-changeset \
  --no-fail-on-empty-changeset
