#!/usr/bin/env bash
# Removes what deploy/cli/deploy.sh made, found by their names:
#
#   deploy/cli/teardown.sh [--name NAME] [--delete-table]
#
# The REST API, the function (and with it API Gateway's permission), its log group,
# the role and its policies, the secret (at once, without a recovery window). The
# table is kept, as `sam delete` keeps the stack's, unless --delete-table: then its
# deletion protection is turned off and it is deleted with every item. What is already
# gone is skipped, so it can run again after a partial deploy or teardown.
set -euo pipefail

name=items-api-cli
delete_table=false
usage() { echo "usage: deploy/cli/teardown.sh [--name NAME] [--delete-table]" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --name) name=${2:?}; shift 2 ;;
    --delete-table) delete_table=true; shift ;;
    *) usage ;;
  esac
done
region=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
[[ -n $region ]] || { echo "teardown: set AWS_REGION (or AWS_DEFAULT_REGION)" >&2; exit 2; }
aws() { command aws --region "$region" --output text "$@"; }
step() { echo "== teardown: $*"; }

table=$name-items
secret_name=$name-api-token
role=$name-function
function=$name
log_group=/aws/lambda/$function

for api_id in $(aws apigateway get-rest-apis --query "items[?name=='$name'].id"); do
  step "REST API $name ($api_id)"
  aws apigateway delete-rest-api --rest-api-id "$api_id"
done

if aws lambda get-function --function-name "$function" > /dev/null 2>&1; then
  step "function $function"
  aws lambda delete-function --function-name "$function" > /dev/null
fi
if [[ -n $(aws logs describe-log-groups --log-group-name-prefix "$log_group" \
    --query "logGroups[?logGroupName=='$log_group'].logGroupName") ]]; then
  step "log group $log_group"
  aws logs delete-log-group --log-group-name "$log_group"
fi

if aws iam get-role --role-name "$role" > /dev/null 2>&1; then
  step "role $role"
  for policy in $(aws iam list-role-policies --role-name "$role" --query PolicyNames); do
    aws iam delete-role-policy --role-name "$role" --policy-name "$policy"
  done
  for arn in $(aws iam list-attached-role-policies --role-name "$role" --query AttachedPolicies[].PolicyArn); do
    aws iam detach-role-policy --role-name "$role" --policy-arn "$arn"
  done
  aws iam delete-role --role-name "$role"
fi

if aws secretsmanager describe-secret --secret-id "$secret_name" > /dev/null 2>&1; then
  step "secret $secret_name"
  aws secretsmanager delete-secret --secret-id "$secret_name" --force-delete-without-recovery > /dev/null
fi

if aws dynamodb describe-table --table-name "$table" > /dev/null 2>&1; then
  if [[ $delete_table == true ]]; then
    step "table $table (deletion protection off, then deleted with its items)"
    aws dynamodb update-table --table-name "$table" --no-deletion-protection-enabled > /dev/null
    aws dynamodb delete-table --table-name "$table" > /dev/null
    aws dynamodb wait table-not-exists --table-name "$table"
  else
    echo "teardown: kept the table $table and its items (--delete-table deletes it)"
  fi
fi
echo "teardown: done"
