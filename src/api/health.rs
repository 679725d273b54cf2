//! `GET /api/health`: is the service able to serve items?

use super::SERVICE_TAG;
use crate::context::AppState;
use crate::error::error_chain;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use std::time::Instant;
use utoipa::ToSchema;

/// Whether a part of the service works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Ok,
    Unavailable,
}

/// The service's health and the state of its item store.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "status": "ok",
    "version": "0.1.0",
    "store": {"backend": "sqlite", "status": "ok", "latency_ms": 0.08}
}))]
pub struct Health {
    /// `ok` when the service can serve items.
    pub status: HealthStatus,
    /// The running version.
    pub version: String,
    /// The item store's state.
    pub store: StoreHealth,
}

/// The item store's state, as seen by one check.
#[derive(Debug, Serialize, ToSchema)]
pub struct StoreHealth {
    /// Which store the service uses.
    #[schema(example = "sqlite")]
    pub backend: String,
    /// `ok` when the store answered the check.
    pub status: HealthStatus,
    /// How long the check took, in milliseconds.
    #[schema(minimum = 0)]
    pub latency_ms: f64,
    /// What failed, when the store is unavailable: the part of the check (`read` or
    /// `write`) and the store's own message.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(
        nullable = false,
        example = "store unavailable: write: database or disk is full"
    )]
    pub error: Option<String>,
}

/// Health check
///
/// Checks that the item store can be read and written and reports the result: `200`
/// when the service can serve items, `503` with the same body, saying which part
/// failed, when the store cannot (unreachable, full, read-only, its file gone).
/// Load balancers and uptime monitors can poll it; it needs no token.
#[utoipa::path(
    get,
    path = "/api/health",
    operation_id = "getHealth",
    tag = SERVICE_TAG,
    security(()),
    responses(
        (status = 200, description = "The service and its store work.", body = Health),
        (status = 503, description = "The item store does not answer; the body says which part failed.", body = Health),
    ),
)]
pub async fn get_health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let started = Instant::now();
    let result = state.store.check().await;
    let latency_ms = (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
    let (status, error) = match &result {
        Ok(()) => (HealthStatus::Ok, None),
        Err(error) => {
            let chain = error_chain(error);
            tracing::warn!(error = %chain, "health check: store unavailable");
            (HealthStatus::Unavailable, Some(chain))
        }
    };
    let code = match status {
        HealthStatus::Ok => StatusCode::OK,
        HealthStatus::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    };
    let health = Health {
        status,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        store: StoreHealth {
            backend: state.store.backend().to_owned(),
            status,
            latency_ms,
            error,
        },
    };
    (code, Json(health))
}
