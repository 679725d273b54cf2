//! The physical ceiling: a bare axum server answering GET /api/health with the same
//! JSON body the service sends, with no middleware, no store and no validation. The
//! gap between it and the service is what our layers cost.
//!
//! `cargo run --release --example bare-axum -- PORT`

use axum::Router;
use axum::http::header;
use axum::routing::get;

const HEALTH: &str = r#"{"status":"ok","version":"0.1.0","store":{"backend":"sqlite","status":"ok","latency_ms":0.012}}"#;

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8090);
    let app = Router::new().route(
        "/api/health",
        get(|| async { ([(header::CONTENT_TYPE, "application/json")], HEALTH) }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("port is free");
    axum::serve(listener, app).await.expect("serves");
}
