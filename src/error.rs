//! The one place errors become HTTP: every non-2xx answer is an RFC 9457
//! `application/problem+json` document carrying the request id.
//!
//! Handlers and extractors return [`ApiError`]. Its `IntoResponse` only records the
//! problem in the response extensions; [`render_problems`], a middleware that sees the
//! request, writes the body with the request id and path, logs the error chain once,
//! and turns the framework's own bare error responses (unknown route 404, 405 with
//! `Allow`) into the same shape.

use crate::store::StoreError;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;
use utoipa::{ToResponse, ToSchema};
use validator::{ValidationErrors, ValidationErrorsKind};

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem details document.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "about:blank",
    "title": "Not Found",
    "status": 404,
    "detail": "No item has this id.",
    "instance": "/api/items/0193a6f0-7c2e-7d3a-9b1e-4f5a6b7c8d9e",
    "request_id": "5f0c6d1e-8a43-4a5b-9d6e-2f1a3b4c5d6e"
}))]
pub struct Problem {
    /// A URI reference naming the problem type. This API uses `about:blank`: the status
    /// code says what kind of problem it is.
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub problem_type: String,
    /// The status code's reason phrase.
    pub title: String,
    /// The HTTP status code.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// What went wrong with this request, for a person to read.
    pub detail: String,
    /// The path of the request that failed.
    pub instance: String,
    /// The request id, also sent as the `x-request-id` header: quote it when reporting a problem.
    pub request_id: String,
    /// One entry per invalid input, on validation failures (422).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(nullable = false)]
    pub errors: Vec<FieldError>,
}

/// A problem document API Gateway answers itself on a deployed stage, from the gateway
/// responses of template.yaml. It has no `status` when API Gateway's default response
/// of the class answered (a function that failed: 502): no variable of API Gateway's
/// holds the status code, so only the types with a status of their own write it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "about:blank",
    "title": "Internal server error",
    "detail": "API Gateway answered DEFAULT_5XX.",
    "instance": "/prod/api/items",
    "request_id": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
}))]
pub struct GatewayProblem {
    /// Always `about:blank`.
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub problem_type: String,
    /// API Gateway's message for the error.
    pub title: String,
    /// The HTTP status code, when the gateway response type has one of its own; absent
    /// otherwise (never null): the response's own status code is the one to read.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 400, maximum = 599, nullable = false)]
    pub status: Option<u16>,
    /// Which gateway response API Gateway answered.
    pub detail: String,
    /// The path of the request, with the stage.
    pub instance: String,
    /// API Gateway's request id: quote it when reporting a problem.
    pub request_id: String,
}

/// What API Gateway answers itself behind an HTTP API (template.yaml's `ApiType=Http`),
/// which has no gateway responses to shape: `application/json` with its message.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"message": "Too Many Requests"}))]
pub struct GatewayMessage {
    /// API Gateway's message for the error.
    pub message: String,
}

/// Where an invalid input was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InputLocation {
    Body,
    Query,
    Path,
}

/// One invalid input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The part of the request that holds the input.
    pub location: InputLocation,
    /// The parameter name (query, path), or a JSON Pointer into the body (RFC 6901);
    /// the empty pointer `""` names the whole body.
    pub field: String,
    /// Why the input was refused.
    pub message: String,
}

impl FieldError {
    /// An invalid input at `location`/`field`.
    pub fn new(
        location: InputLocation,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            location,
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Every error the API answers with. Each variant documents its status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 Bad Request: the body is not well-formed JSON.
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    /// 400 Bad Request: the request could not be read (on Lambda: an event whose body
    /// or headers are broken).
    #[error("{0}")]
    BadRequest(String),
    /// 408 Request Timeout: the body did not arrive within the body-read timeout.
    #[error("the request body did not arrive within {seconds} seconds")]
    RequestTimeout { seconds: u64 },
    /// 414 URI Too Long: the request target is over the configured limit.
    #[error("the request URI is longer than the limit of {limit} bytes")]
    UriTooLong { limit: usize },
    /// 431 Request Header Fields Too Large: too many or too large headers.
    #[error("the request headers are over the limit: {0}")]
    HeadersTooLarge(String),
    /// 401 Unauthorized: no bearer token where the operation needs one.
    #[error("this operation needs a valid bearer token in the Authorization header")]
    Unauthorized,
    /// 401 Unauthorized: a bearer token that is refused, and why (RFC 6750's
    /// `invalid_token`).
    #[error("the bearer token was refused: {0}")]
    InvalidToken(crate::auth::Refusal),
    /// 404 Not Found: no resource of this kind has the id.
    #[error("no {resource} has this id")]
    NotFound { resource: &'static str },
    /// 422 Unprocessable Content: an `Idempotency-Key` used before with another request.
    /// (No `errors` entry: `location` has no value for headers, and a new enum value
    /// would break clients of the released contract.)
    #[error(
        "this Idempotency-Key was used with a different request; send a new key for a new item"
    )]
    IdempotencyKeyReused,
    /// 412 Precondition Failed: the item is not in the version `If-Match` names.
    #[error(
        "the item has changed since the version If-Match names; read it again and retry with its ETag"
    )]
    PreconditionFailed,
    /// 428 Precondition Required: the service is configured to require this header.
    #[error("this operation requires the {0} header")]
    PreconditionRequired(&'static str),
    /// 413 Content Too Large: the body is over the configured limit.
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// 415 Unsupported Media Type: a body that is not `application/json`.
    #[error("the request body must be sent as application/json")]
    UnsupportedMediaType,
    /// 422 Unprocessable Content: well-formed input that breaks the contract.
    #[error("the request has invalid input")]
    Validation(Vec<FieldError>),
    /// 503 Service Unavailable: the item store cannot answer now.
    #[error("the item store is unavailable")]
    StoreUnavailable {
        retry_after: Duration,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// 503 Service Unavailable: the bearer token a write is checked against cannot be
    /// read now (its secret store failed); reads are not affected.
    #[error("the service cannot check bearer tokens now")]
    TokenUnavailable(#[source] crate::context::TokenUnavailable),
    /// 503 Service Unavailable: the JWT issuer's keys cannot be read now.
    #[error("the service cannot check bearer tokens now")]
    IssuerUnavailable {
        retry_after: Duration,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// 500 Internal Server Error: a bug; the details go to the log only.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// The problem document's `detail` for this error, as served; a bug's own details
    /// stay in the log.
    pub fn detail(&self) -> String {
        match self {
            Self::Internal(_) => {
                "The server failed to handle this request; quote the request id when reporting it."
                    .to_owned()
            }
            other => sentence(&other.to_string()),
        }
    }

    /// 431 for `count` headers, more than `limit`.
    pub fn too_many_headers(count: usize, limit: usize) -> Self {
        Self::HeadersTooLarge(format!("{count} headers, more than {limit}"))
    }

    /// 431 for `bytes` of headers, more than `limit`.
    pub fn headers_too_large(bytes: usize, limit: usize) -> Self {
        Self::HeadersTooLarge(format!("{bytes} bytes of headers, more than {limit}"))
    }

    /// The status code this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MalformedJson(_) | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            Self::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::Unauthorized | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::PreconditionRequired(_) => StatusCode::PRECONDITION_REQUIRED,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) | Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::StoreUnavailable { .. }
            | Self::TokenUnavailable(_)
            | Self::IssuerUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A single invalid input.
    pub fn invalid(
        location: InputLocation,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::Validation(vec![FieldError::new(location, field, message)])
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { resource } => Self::NotFound { resource },
            StoreError::Unavailable {
                retry_after,
                source,
            } => Self::StoreUnavailable {
                retry_after,
                source,
            },
            // Ids are server-generated UUID v7s; a clash means a broken generator, not a client error.
            StoreError::Conflict => Self::Internal(Box::new(StoreError::Conflict)),
            StoreError::PreconditionFailed => Self::PreconditionFailed,
            StoreError::Other(source) => Self::Internal(source),
        }
    }
}

/// One entry per invalid body field, in field order for a stable answer.
impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        let mut fields: Vec<FieldError> = errors
            .errors()
            .iter()
            .flat_map(|(field, kind)| {
                let messages: Vec<Cow<'static, str>> = match kind {
                    ValidationErrorsKind::Field(errors) => errors
                        .iter()
                        .map(|e| e.message.clone().unwrap_or_else(|| e.code.clone()))
                        .collect(),
                    _ => vec![Cow::Borrowed("is invalid")],
                };
                messages.into_iter().map(move |message| {
                    FieldError::new(InputLocation::Body, format!("/{field}"), message)
                })
            })
            .collect();
        fields.sort_by(|a, b| a.field.cmp(&b.field));
        Self::Validation(fields)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status().into_response();
        // RFC 6750 section 3: the challenge, with `invalid_token` and why when a
        // token was presented and refused.
        let challenge = match &self {
            Self::Unauthorized => Some(HeaderValue::from_static(r#"Bearer realm="items-api""#)),
            Self::InvalidToken(refusal) => HeaderValue::try_from(format!(
                r#"Bearer realm="items-api", error="invalid_token", error_description="{refusal}""#
            ))
            .ok(),
            _ => None,
        };
        if let Some(challenge) = challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        if let Self::StoreUnavailable { retry_after, .. }
        | Self::IssuerUnavailable { retry_after, .. }
        | Self::TokenUnavailable(crate::context::TokenUnavailable { retry_after, .. }) = &self
        {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after.as_secs().max(1)),
            );
        }
        response.extensions_mut().insert(Arc::new(self));
        response
    }
}

/// Middleware: writes the problem+json body of every error response (see the module docs).
pub async fn render_problems(request: Request, next: Next) -> Response {
    // Kept as shared buffers (a reference count each), turned into text only when the
    // answer is a problem: most answers are not.
    let uri = request.uri().clone();
    let request_id = request.headers().get(crate::context::REQUEST_ID).cloned();
    let response = next.run(request).await;
    let status = response.status();
    let error = response.extensions().get::<Arc<ApiError>>().cloned();
    // Pass through successes, and error responses a handler shaped on purpose (the
    // health report's 503 is JSON of its own schema, a problem is already done).
    if error.is_none()
        && (!status.is_client_error() && !status.is_server_error() || is_json(&response))
    {
        return response;
    }

    let (detail, errors) = match &error {
        Some(error) => {
            log_error(error, status);
            let detail = error.detail();
            let errors = match error.as_ref() {
                ApiError::Validation(errors) => errors.clone(),
                _ => Vec::new(),
            };
            (detail, errors)
        }
        None => (framework_detail(status, &response), Vec::new()),
    };
    let instance = uri.path().to_owned();
    let request_id = request_id
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let problem = Problem {
        problem_type: "about:blank".to_owned(),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail,
        instance,
        request_id,
        errors,
    };
    let (mut parts, _) = response.into_parts();
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = serde_json::to_vec(&problem).expect("a Problem always serializes");
    Response::from_parts(parts, Body::from(body))
}

/// `application/json` or any `+json` type, such as `application/problem+json`.
fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim())
        .is_some_and(|essence| essence == "application/json" || essence.ends_with("+json"))
}

/// The detail for error responses the framework made itself.
fn framework_detail(status: StatusCode, response: &Response) -> String {
    match status {
        StatusCode::NOT_FOUND => {
            "No route matches this path; see /openapi.json for the operations.".to_owned()
        }
        StatusCode::METHOD_NOT_ALLOWED => {
            let allow = response
                .headers()
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            format!("This path does not support the method; it supports {allow}.")
        }
        other => other.canonical_reason().unwrap_or("Error").to_owned() + ".",
    }
}

/// Capitalises and ends an error message as a sentence.
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let mut out: String = chars
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default();
    out.push_str(chars.as_str());
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

pub use crate::context::error_chain;

/// Logs an error with its whole source chain, once.
fn log_error(error: &ApiError, status: StatusCode) {
    let chain = error_chain(error);
    if status.is_server_error() {
        tracing::error!(error = %chain, "request failed");
    } else {
        tracing::debug!(error = %chain, "request rejected");
    }
}

/// Answer to panics caught by tower-http's `CatchPanicLayer`: a 500 problem, with the
/// panic message in the log only.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    ApiError::Internal(format!("handler panicked: {message}").into()).into_response()
}

// Reusable responses of the contract (`components/responses`).

/// The request could not be read: the body is not well-formed JSON, or a header is
/// malformed (`Idempotency-Key`, `If-Match`).
#[derive(Debug, ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({"type": "about:blank", "title": "Bad Request", "status": 400, "detail": "The request body is not valid JSON: EOF while parsing an object at line 1 column 9.", "instance": "/api/items", "request_id": "5f0c6d1e-8a43-4a5b-9d6e-2f1a3b4c5d6e"})
)]
pub struct MalformedJson(#[allow(dead_code)] Problem);

/// The request could not be read: on AWS Lambda, an event whose body is marked base64
/// but is not, or whose Host header is not a host.
#[derive(Debug, ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({"type": "about:blank", "title": "Bad Request", "status": 400, "detail": "The event's body is marked base64-encoded but is not valid base64.", "instance": "/api/items", "request_id": "5f0c6d1e-8a43-4a5b-9d6e-2f1a3b4c5d6e"})
)]
pub struct BadRequest(#[allow(dead_code)] Problem);

/// The request body did not arrive within the server's body-read timeout (the
/// description and example with the default are set by `api::SharedResponses`).
#[derive(Debug, ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({"type": "about:blank", "title": "Request Timeout", "status": 408, "detail": "The request body did not arrive within 10 seconds.", "instance": "/api/items", "request_id": "5f0c6d1e-8a43-4a5b-9d6e-2f1a3b4c5d6e"})
)]
pub struct RequestTimeout(#[allow(dead_code)] Problem);

/// The request target (path and query) is longer than the server's limit (the
/// description and example with the default are set by `api::SharedResponses`).
#[derive(Debug, ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({"type": "about:blank", "title": "URI Too Long", "status": 414, "detail": "The request URI is longer than the limit of 8192 bytes.", "instance": "/api/items", "request_id": "5f0c6d1e-8a43-4a5b-9d6e-2f1a3b4c5d6e"})
)]
pub struct UriTooLong(#[allow(dead_code)] Problem);

/// Too many request headers, or too large ones (the description and example with the
/// defaults are set by `api::SharedResponses`).
#[derive(Debug, ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({"type": "about:blank", "title": "Request Header Fields Too Large", "status": 431, "detail": "The request headers are over the limit: 20480 bytes of headers, more than 16384.", "instance": "/api/items", "request_id": "5f0c6d1e-8a43-4a5b-9d6e-2f1a3b4c5d6e"})
)]
pub struct HeadersTooLarge(#[allow(dead_code)] Problem);

/// Valid bearer credentials are required: the shared token for writes, or a user's JWT for
/// every items operation when the service runs with users. Sent with `WWW-Authenticate`.
#[derive(Debug, ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(
        ("WWW-Authenticate" = String, description = "The challenge (RFC 6750): `Bearer realm=\"items-api\"` without credentials; with refused ones, also `error=\"invalid_token\"` and an `error_description` that says why. Behind an API Gateway REST API (a stage deployed with template.yaml) the service's challenge is renamed `x-amzn-Remapped-WWW-Authenticate`; the gateway's own 401 (Cognito authorizer) sends `WWW-Authenticate` itself."),
        ("x-amzn-Remapped-WWW-Authenticate" = String, description = "On a stage deployed with template.yaml: the `WWW-Authenticate` challenge, renamed by API Gateway.")
    ),
    example = json!({"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": "This operation needs a valid bearer token in the Authorization header.", "instance": "/api/items", "request_id": "5f0c6d1e-8a43-4a5b-9d6e-2f1a3b4c5d6e"})
)]
pub struct Unauthorized(#[allow(dead_code)] Problem);

/// The request body is larger than the server's limit (the description and example
/// with the default are set by `api::SharedResponses`).
#[derive(Debug, ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({"type": "about:blank", "title": "Payload Too Large", "status": 413, "detail": "The request body is larger than the limit of 65536 bytes.", "instance": "/api/items", "request_id": "5f0c6d1e-8a43-4a5b-9d6e-2f1a3b4c5d6e"})
)]
pub struct PayloadTooLarge(#[allow(dead_code)] Problem);

/// The item has changed since the version `If-Match` names: read it again (its `ETag`)
/// and decide whether to retry.
#[derive(Debug, ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({"type": "about:blank", "title": "Precondition Failed", "status": 412, "detail": "The item has changed since the version If-Match names; read it again and retry with its ETag.", "instance": "/api/items/0193a6f0-7c2e-7d3a-9b1e-4f5a6b7c8d9e", "request_id": "5f0c6d1e-8a43-4a5b-9d6e-2f1a3b4c5d6e"})
)]
pub struct PreconditionFailed(#[allow(dead_code)] Problem);

/// The service is configured to require a header this request lacks: `Idempotency-Key`
/// on createItem (REQUIRE_IDEMPOTENCY_KEY), `If-Match` on replaceItem and deleteItem
/// (REQUIRE_IF_MATCH).
#[derive(Debug, ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({"type": "about:blank", "title": "Precondition Required", "status": 428, "detail": "This operation requires the If-Match header.", "instance": "/api/items/0193a6f0-7c2e-7d3a-9b1e-4f5a6b7c8d9e", "request_id": "5f0c6d1e-8a43-4a5b-9d6e-2f1a3b4c5d6e"})
)]
pub struct PreconditionRequired(#[allow(dead_code)] Problem);

/// The body was not sent as `application/json`.
#[derive(Debug, ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({"type": "about:blank", "title": "Unsupported Media Type", "status": 415, "detail": "The request body must be sent as application/json.", "instance": "/api/items", "request_id": "5f0c6d1e-8a43-4a5b-9d6e-2f1a3b4c5d6e"})
)]
pub struct UnsupportedMediaType(#[allow(dead_code)] Problem);

/// The input breaks the contract; `errors` lists each invalid input and where it is.
#[derive(Debug, ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({"type": "about:blank", "title": "Unprocessable Entity", "status": 422, "detail": "The request has invalid input.", "instance": "/api/items", "request_id": "5f0c6d1e-8a43-4a5b-9d6e-2f1a3b4c5d6e", "errors": [{"location": "body", "field": "/name", "message": "must be 1 to 200 characters long"}]})
)]
pub struct ValidationFailed(#[allow(dead_code)] Problem);

/// Too many requests: a deployed stage's throttling limit (API Gateway answers this,
/// before the service sees the request); retry with backoff.
#[derive(Debug, ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({"type": "about:blank", "title": "Too Many Requests", "status": 429, "detail": "API Gateway answered THROTTLED.", "instance": "/prod/api/items", "request_id": "5f0c6d1e-8a43-4a5b-9d6e-2f1a3b4c5d6e"})
)]
pub struct TooManyRequests(#[allow(dead_code)] Problem);

/// Bad gateway: on a deployed stage, the function failed, timed out or answered
/// malformed output, and API Gateway answered itself; retry with backoff.
#[derive(Debug, ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({"type": "about:blank", "title": "Internal server error", "detail": "API Gateway answered DEFAULT_5XX.", "instance": "/prod/api/items", "request_id": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"})
)]
pub struct BadGateway(#[allow(dead_code)] GatewayProblem);

/// Internal server error: a bug in the service (a problem document; quote its request
/// id), or, on an HTTP API stage, the function failed, timed out or answered malformed
/// output and API Gateway answered itself (`{"message": "Internal Server Error"}`);
/// retry with backoff.
#[derive(Debug, ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({"type": "about:blank", "title": "Internal Server Error", "status": 500, "detail": "The server failed to handle this request; quote the request id when reporting it.", "instance": "/api/items", "request_id": "5f0c6d1e-8a43-4a5b-9d6e-2f1a3b4c5d6e"})
)]
pub struct InternalError(#[allow(dead_code)] Problem);

/// Gateway timeout: on a deployed stage, the function did not answer within API
/// Gateway's integration timeout (29 s), or could not be invoked; retry with backoff.
#[derive(Debug, ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({"type": "about:blank", "title": "Gateway Timeout", "status": 504, "detail": "API Gateway answered INTEGRATION_TIMEOUT.", "instance": "/prod/api/items", "request_id": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"})
)]
pub struct GatewayTimeout(#[allow(dead_code)] Problem);

/// The item store cannot answer now (or, for a write, the secret holding the bearer
/// token cannot be read); retry after the `Retry-After` delay.
#[derive(Debug, ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("Retry-After" = u32, description = "Seconds to wait before retrying.")),
    example = json!({"type": "about:blank", "title": "Service Unavailable", "status": 503, "detail": "The item store is unavailable.", "instance": "/api/items", "request_id": "5f0c6d1e-8a43-4a5b-9d6e-2f1a3b4c5d6e"})
)]
pub struct StoreUnavailable(#[allow(dead_code)] Problem);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_map_to_their_statuses() {
        assert_eq!(
            ApiError::from(StoreError::NotFound { resource: "item" }).status(),
            StatusCode::NOT_FOUND
        );
        let unavailable = StoreError::Unavailable {
            retry_after: Duration::from_secs(2),
            source: "down".into(),
        };
        assert_eq!(
            ApiError::from(unavailable).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            ApiError::from(StoreError::Conflict).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn unavailable_store_answers_with_retry_after() {
        let response = ApiError::StoreUnavailable {
            retry_after: Duration::from_secs(3),
            source: "down".into(),
        }
        .into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "3");
    }

    #[test]
    fn sentences_are_capitalised_and_closed() {
        assert_eq!(sentence("no item has this id"), "No item has this id.");
        assert_eq!(sentence("Done."), "Done.");
    }

    #[test]
    fn a_panic_is_a_500_whose_message_stays_in_the_log() {
        for panic in [
            Box::new("boom") as Box<dyn std::any::Any + Send>,
            Box::new("boom".to_owned()),
        ] {
            let response = panic_response(panic);
            assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
            let error = response
                .extensions()
                .get::<Arc<ApiError>>()
                .expect("rendered as a problem");
            assert_eq!(
                error_chain(error.as_ref()),
                "internal error: handler panicked: boom"
            );
            assert!(!error.detail().contains("boom"), "{}", error.detail());
        }
        let unknown = panic_response(Box::new(42_u8));
        let error = unknown
            .extensions()
            .get::<Arc<ApiError>>()
            .expect("a problem");
        assert!(error_chain(error.as_ref()).ends_with("handler panicked: unknown panic"));
    }

    #[test]
    fn server_errors_are_logged_as_errors_and_client_errors_as_debug() {
        use std::sync::Mutex;
        #[derive(Clone, Default)]
        struct Lines(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0
                    .lock()
                    .expect("not poisoned")
                    .extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            log_error(
                &ApiError::Internal("disk on fire".into()),
                StatusCode::INTERNAL_SERVER_ERROR,
            );
            log_error(
                &ApiError::UnsupportedMediaType,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            );
        });
        let text = String::from_utf8(lines.0.lock().expect("not poisoned").clone()).expect("UTF-8");
        let events: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect();
        assert_eq!(events.len(), 2, "{text}");
        assert_eq!(events[0]["level"], "ERROR");
        assert_eq!(events[0]["fields"]["error"], "internal error: disk on fire");
        assert_eq!(events[1]["level"], "DEBUG");
        assert_eq!(events[1]["fields"]["message"], "request rejected");
    }
}
