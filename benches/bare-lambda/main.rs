//! The cold-start ceiling on Lambda: a bare `lambda_http` function whose axum router
//! answers GET /api/health with the service's health JSON; no middleware, no store, no
//! AWS SDK. `make bench` runs it under its Lambda Runtime API emulator next to the
//! service, so the gap between the two is what our start-up and layers cost.
//!
//! `AWS_LAMBDA_RUNTIME_API=127.0.0.1:PORT cargo run --release --example bare-lambda`

use axum::Router;
use axum::http::header;
use axum::routing::get;

const HEALTH: &str = r#"{"status":"ok","version":"0.1.0","store":{"backend":"dynamodb","status":"ok","latency_ms":0.012}}"#;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = Router::new().route(
        "/api/health",
        get(|| async { ([(header::CONTENT_TYPE, "application/json")], HEALTH) }),
    );
    lambda_http::run(app).await
}
