#!/usr/bin/env bash
# Deploys the Items API with the AWS CLI alone, for those who do not use SAM or
# CloudFormation (docs/deployment.md, "The AWS CLI by hand"). What template.yaml makes,
# less its alarms, dashboard, access logs, alias and canary deploys:
#
#   deploy/cli/deploy.sh [--name NAME] [--stage STAGE] [--package ZIP]
#
#   NAME     prefix of every resource (default items-api-cli): table NAME-items,
#            secret NAME-api-token, role NAME-function, function NAME, REST API NAME
#   STAGE    the API Gateway stage (default prod)
#   ZIP      the package (default target/sam-build/items-api.zip, from make package)
#
# 1. the DynamoDB table, with template.yaml's key schema (pk HASH, id RANGE), on-demand,
#    point-in-time recovery, TTL on expires_at, deletion protection;
# 2. the Secrets Manager secret with a generated token (48 characters, no punctuation,
#    as the template's GenerateSecretString);
# 3. the function's IAM role: Lambda's basic execution and X-Ray write policies and the
#    template's own statements (the table's six actions, GetSecretValue on the secret);
# 4. the log group /aws/lambda/NAME (30 days) and the function: provided.al2023, arm64,
#    handler bootstrap, 256 MB, 10 s, X-Ray active, JSON logs, the template's variables;
# 5. the REST API, imported from the document deploy/cli/api_document.py makes from
#    openapi.yaml and template.yaml (aws_proxy on / and /{proxy+}, the gateway
#    responses, binary media types), deployed to STAGE with the template's throttling;
# 6. the permission for API Gateway to invoke the function from this API.
#
# Needs the AWS CLI (`aws`, v1 or v2) and python3 with PyYAML (the AWS CLI's own venv
# has it); AWS_REGION or AWS_DEFAULT_REGION; credentials. AWS_ENDPOINT_URL sends every
# call elsewhere (the test's moto). Removed by deploy/cli/teardown.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)

name=items-api-cli
stage=prod
package=$root/target/sam-build/items-api.zip
usage() { echo "usage: deploy/cli/deploy.sh [--name NAME] [--stage STAGE] [--package ZIP]" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --name) name=${2:?}; shift 2 ;;
    --stage) stage=${2:?}; shift 2 ;;
    --package) package=${2:?}; shift 2 ;;
    *) usage ;;
  esac
done
region=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
[[ -n $region ]] || { echo "deploy: set AWS_REGION (or AWS_DEFAULT_REGION)" >&2; exit 2; }
[[ -f $package ]] || { echo "deploy: no package at $package (make package builds it)" >&2; exit 1; }
[[ $name =~ ^[A-Za-z0-9-]{1,40}$ ]] || { echo "deploy: NAME must be 1-40 letters, digits or -" >&2; exit 2; }
[[ $stage =~ ^[A-Za-z0-9_]{1,128}$ ]] || { echo "deploy: STAGE must be letters, digits or _" >&2; exit 2; }
aws() { command aws --region "$region" --output text "$@"; }
step() { echo "== deploy: $*"; }

table=$name-items
secret_name=$name-api-token
role=$name-function
function=$name
log_group=/aws/lambda/$function
# The template's defaults (template.yaml, Parameters).
throttle_rate=100
throttle_burst=200
log_retention_days=30

if aws lambda get-function --function-name "$function" > /dev/null 2>&1; then
  echo "deploy: the function $function exists already; update its code with" >&2
  echo "  aws lambda update-function-code --function-name $function --zip-file fileb://$package" >&2
  exit 1
fi
account=$(aws sts get-caller-identity --query Account)

step "DynamoDB table $table (pk HASH, id RANGE, on demand)"
table_arn=$(aws dynamodb create-table --table-name "$table" --billing-mode PAY_PER_REQUEST \
  --attribute-definitions AttributeName=pk,AttributeType=S AttributeName=id,AttributeType=S \
  --key-schema AttributeName=pk,KeyType=HASH AttributeName=id,KeyType=RANGE \
  --sse-specification Enabled=true --deletion-protection-enabled \
  --query TableDescription.TableArn)
aws dynamodb wait table-exists --table-name "$table"
aws dynamodb update-time-to-live --table-name "$table" \
  --time-to-live-specification Enabled=true,AttributeName=expires_at > /dev/null
aws dynamodb update-continuous-backups --table-name "$table" \
  --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true > /dev/null

step "Secrets Manager secret $secret_name (a generated token)"
token=$(aws secretsmanager get-random-password --password-length 48 --exclude-punctuation --query RandomPassword)
secret_arn=$(aws secretsmanager create-secret --name "$secret_name" \
  --description "Bearer token that POST, PUT and DELETE on the Items API require." \
  --secret-string "$token" --query ARN)
unset token

step "IAM role $role"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/trust.json" << 'EOF'
{"Version": "2012-10-17",
 "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
EOF
cat > "$work/policy.json" << EOF
{"Version": "2012-10-17",
 "Statement": [
  {"Sid": "ItemsTable", "Effect": "Allow",
   "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:ConditionCheckItem"],
   "Resource": "$table_arn"},
  {"Sid": "ApiToken", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "$secret_arn"}]}
EOF
role_arn=$(aws iam create-role --role-name "$role" --assume-role-policy-document "file://$work/trust.json" \
  --description "The Items API function ($function)" --query Role.Arn)
aws iam put-role-policy --role-name "$role" --policy-name items-api --policy-document "file://$work/policy.json"
for policy in service-role/AWSLambdaBasicExecutionRole AWSXrayWriteOnlyAccess; do
  aws iam attach-role-policy --role-name "$role" --policy-arn "arn:aws:iam::aws:policy/$policy"
done

step "log group $log_group ($log_retention_days days) and function $function (arm64, provided.al2023)"
aws logs create-log-group --log-group-name "$log_group"
aws logs put-retention-policy --log-group-name "$log_group" --retention-in-days "$log_retention_days"
cat > "$work/environment.json" << EOF
{"Variables": {"ITEMS_TABLE": "$table", "AUTH_MODE": "token", "API_TOKEN_SECRET_ARN": "$secret_arn", "CORS_ALLOW_ORIGINS": "",
               "STORE_TIMEOUT_MS": "3000", "METRICS_NAMESPACE": "ItemsApi", "METRICS_SERVICE": "$name"}}
EOF
# A new role takes a few seconds to be usable by Lambda ("The role defined for the
# function cannot be assumed by Lambda"): retry for up to a minute.
for attempt in $(seq 1 12); do
  if function_arn=$(aws lambda create-function --function-name "$function" \
      --runtime provided.al2023 --architectures arm64 --handler bootstrap \
      --zip-file "fileb://$package" --role "$role_arn" --memory-size 256 --timeout 10 \
      --tracing-config Mode=Active --environment "file://$work/environment.json" \
      --logging-config "LogFormat=JSON,ApplicationLogLevel=INFO,SystemLogLevel=WARN,LogGroup=$log_group" \
      --description "Items API (Rust, lambda_http + axum)" --query FunctionArn 2> "$work/error"); then
    break
  fi
  if [[ $attempt -eq 12 ]] || ! grep -q "cannot be assumed" "$work/error"; then
    cat "$work/error" >&2
    exit 1
  fi
  sleep 5
done
aws lambda wait function-active-v2 --function-name "$function"

step "REST API $name, imported with a proxy integration to the function"
python3 "$root/deploy/cli/api_document.py" "$function_arn" "$region" > "$work/api.json"
api_id=$(aws apigateway import-rest-api --parameters endpointConfigurationTypes=REGIONAL \
  --body "fileb://$work/api.json" --query id)
aws apigateway update-rest-api --rest-api-id "$api_id" \
  --patch-operations "op=replace,path=/name,value=$name" > /dev/null
aws apigateway create-deployment --rest-api-id "$api_id" --stage-name "$stage" \
  --description "deploy/cli/deploy.sh" > /dev/null
aws apigateway update-stage --rest-api-id "$api_id" --stage-name "$stage" --patch-operations \
  "op=replace,path=/*/*/throttling/rateLimit,value=$throttle_rate" \
  "op=replace,path=/*/*/throttling/burstLimit,value=$throttle_burst" \
  "op=replace,path=/tracingEnabled,value=true" > /dev/null

step "permission for API Gateway to invoke $function from API $api_id"
aws lambda add-permission --function-name "$function" --statement-id apigateway-invoke \
  --action lambda:InvokeFunction --principal apigateway.amazonaws.com \
  --source-arn "arn:aws:execute-api:$region:$account:$api_id/*/*/*" > /dev/null

echo "deploy: https://$api_id.execute-api.$region.amazonaws.com/$stage"
echo "deploy: the token: aws secretsmanager get-secret-value --secret-id $secret_name --region $region --query SecretString --output text"
