//! `GET /api/aws-info`: where the service runs.
//!
//! Only fields named here are ever reported, each from a fixed source; the environment
//! is never dumped and no credential can appear.

use super::SERVICE_TAG;
use crate::context::{AppState, Invocation, Runtime};
use axum::extract::State;
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

/// Where the service runs. Outside AWS Lambda only `in_lambda` and `architecture` are
/// present; in Lambda every field that the invocation provides is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({
    "in_lambda": true,
    "function_name": "items-api-prod-ItemsFunction-AbC123",
    "function_version": "$LATEST",
    "memory_limit_mb": 256,
    "region": "eu-west-1",
    "runtime": "provided.al2023",
    "architecture": "aarch64",
    "log_group": "/aws/lambda/items-api-prod",
    "log_stream": "2026/11/24/[$LATEST]0123456789abcdef0123456789abcdef",
    "lambda_request_id": "6f8e9d1c-2b3a-4c5d-8e7f-0a1b2c3d4e5f",
    "api_request_id": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
    "stage": "prod",
    "source_ip": "203.0.113.7",
    "trace_id": "Root=1-67891233-abcdef012345678912345678;Parent=1234567890abcdef;Sampled=1"
}))]
pub struct AwsInfo {
    /// Whether the service runs as an AWS Lambda function.
    pub in_lambda: bool,
    /// The Lambda function's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub function_name: Option<String>,
    /// The function version that runs (`$LATEST` or a number).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub function_version: Option<String>,
    /// Memory given to the function, in MB.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, minimum = 128)]
    pub memory_limit_mb: Option<u32>,
    /// The AWS region.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub region: Option<String>,
    /// The Lambda runtime (`provided.al2023`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub runtime: Option<String>,
    /// The processor architecture of the binary (`aarch64`, `x86_64`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub architecture: Option<String>,
    /// The CloudWatch Logs group of the function.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub log_group: Option<String>,
    /// The CloudWatch Logs stream of this execution environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub log_stream: Option<String>,
    /// The Lambda request id of this invocation.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub lambda_request_id: Option<String>,
    /// The API Gateway request id of this request.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub api_request_id: Option<String>,
    /// The API Gateway stage the request came through.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub stage: Option<String>,
    /// The caller's IP address as API Gateway saw it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub source_ip: Option<String>,
    /// The AWS X-Ray trace header of this invocation.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub trace_id: Option<String>,
}

impl AwsInfo {
    /// The start-up facts, completed with one invocation's when there is one.
    pub fn new(runtime: &Runtime, invocation: Option<&Invocation>) -> Self {
        let mut info = Self {
            in_lambda: runtime.in_lambda,
            region: runtime.region.clone(),
            runtime: runtime.runtime.clone(),
            architecture: runtime.architecture.clone(),
            ..Self::default()
        };
        if let Some(invocation) = invocation.cloned() {
            info.in_lambda = true;
            info.function_name = invocation.function_name;
            info.function_version = invocation.function_version;
            info.memory_limit_mb = invocation.memory_limit_mb;
            info.log_group = invocation.log_group;
            info.log_stream = invocation.log_stream;
            info.lambda_request_id = invocation.lambda_request_id;
            info.api_request_id = invocation.api_request_id;
            info.stage = invocation.stage;
            info.source_ip = invocation.source_ip;
            info.trace_id = invocation.trace_id;
        }
        info
    }
}

/// Runtime environment
///
/// Says whether the service runs in AWS Lambda and, if so, which function, region,
/// stage and request this is. Reports only a fixed list of fields; never credentials
/// or other environment variables.
#[utoipa::path(
    get,
    path = "/api/aws-info",
    operation_id = "getAwsInfo",
    tag = SERVICE_TAG,
    security(()),
    responses(
        (status = 200, description = "Where the service runs.", body = AwsInfo),
    ),
)]
pub async fn get_aws_info(
    State(state): State<AppState>,
    invocation: Option<Extension<Invocation>>,
) -> Json<AwsInfo> {
    let invocation = invocation.as_ref().map(|Extension(invocation)| invocation);
    Json(AwsInfo::new(&state.runtime, invocation))
}
