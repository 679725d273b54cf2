//! `GET /`: what this service is and where its documentation lives.

use super::SERVICE_TAG;
use crate::context::BasePath;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// The service's name and version, and links to its documentation.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "name": "Items API",
    "version": "0.2.0",
    "docs_url": "/docs/",
    "redoc_url": "/redoc",
    "openapi_url": "/openapi.json"
}))]
pub struct Welcome {
    /// The service's name.
    pub name: String,
    /// The running version.
    pub version: String,
    /// Swagger UI, to browse and try the operations.
    pub docs_url: String,
    /// ReDoc, to read the reference.
    pub redoc_url: String,
    /// The OpenAPI document (also as YAML at `openapi.yaml` beside it).
    pub openapi_url: String,
}

/// Welcome
///
/// Names the service and its version, with links to Swagger UI, ReDoc and the OpenAPI
/// document. The links are absolute paths that include any base path the request came
/// through (an API Gateway stage, for example).
#[utoipa::path(
    get,
    path = "/",
    operation_id = "getWelcome",
    tag = SERVICE_TAG,
    security(()),
    responses(
        (status = 200, description = "The service and its documentation links.", body = Welcome),
    ),
)]
pub async fn get_welcome(base: BasePath) -> Json<Welcome> {
    let base = base.as_str();
    Json(Welcome {
        name: "Items API".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        docs_url: format!("{base}/docs/"),
        redoc_url: format!("{base}/redoc"),
        openapi_url: format!("{base}/openapi.json"),
    })
}
