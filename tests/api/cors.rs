//! CORS comes from CORS_ALLOW_ORIGINS and is off by default.

use crate::support::TestApp;
use axum::body::Body;
use axum::http::Method;

const PREFLIGHT: [(&str, &str); 3] = [
    ("origin", "https://app.example.com"),
    ("access-control-request-method", "POST"),
    (
        "access-control-request-headers",
        "authorization,content-type",
    ),
];

#[tokio::test]
async fn no_cors_headers_without_configured_origins() {
    let app = TestApp::new();
    let response = app
        .send(
            Method::GET,
            "/api/health",
            &[("origin", "https://app.example.com")],
            Body::empty(),
        )
        .await;
    assert_eq!(response.header("access-control-allow-origin"), "");
    let preflight = app
        .send(Method::OPTIONS, "/api/items", &PREFLIGHT, Body::empty())
        .await;
    preflight.problem(405);
}

#[tokio::test]
async fn configured_origins_get_cors_headers_and_preflights() {
    let app = TestApp::configured(|config| {
        config.server.cors_allow_origins = vec!["https://app.example.com".to_owned()];
    });
    let preflight = app
        .send(Method::OPTIONS, "/api/items", &PREFLIGHT, Body::empty())
        .await;
    assert_eq!(preflight.status, 200);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        "https://app.example.com"
    );
    assert!(
        preflight
            .header("access-control-allow-methods")
            .contains("POST")
    );
    assert!(
        preflight
            .header("access-control-allow-headers")
            .contains("authorization")
    );

    let response = app
        .send(
            Method::GET,
            "/nope",
            &[("origin", "https://app.example.com")],
            Body::empty(),
        )
        .await;
    assert_eq!(
        response.header("access-control-allow-origin"),
        "https://app.example.com",
        "errors carry CORS too"
    );
    assert!(
        response
            .header("access-control-expose-headers")
            .contains("x-request-id")
    );

    let other = app
        .send(
            Method::GET,
            "/api/health",
            &[("origin", "https://evil.example")],
            Body::empty(),
        )
        .await;
    assert_eq!(other.header("access-control-allow-origin"), "");
}

#[tokio::test]
async fn a_star_allows_any_origin() {
    let app = TestApp::configured(|config| {
        config.server.cors_allow_origins = vec!["*".to_owned()];
    });
    let response = app
        .send(
            Method::GET,
            "/api/health",
            &[("origin", "https://any.example")],
            Body::empty(),
        )
        .await;
    assert_eq!(response.header("access-control-allow-origin"), "*");
}
