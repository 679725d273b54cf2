//! Swagger UI and ReDoc, with relative URLs that survive a path prefix.

use crate::support::TestApp;
use items_api::config::{REDOC_CDN_INTEGRITY, REDOC_CDN_URL};

#[tokio::test]
async fn docs_redirects_relatively_into_its_folder() {
    let response = TestApp::new().get("/docs").await;
    assert_eq!(response.status, 308);
    // Relative, so `/prod/docs` lands on `/prod/docs/`.
    assert_eq!(response.header("location"), "docs/");
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary_and_reads_the_spec_relatively() {
    let app = TestApp::new();
    let index = app.get("/docs/").await;
    assert_eq!(index.status, 200);
    assert!(index.header("content-type").starts_with("text/html"));
    let html = index.text();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(
        !html.contains("src=\"/") && !html.contains("href=\"/"),
        "asset URLs must be relative: {html}"
    );

    let initializer = app.get("/docs/swagger-initializer.js").await;
    assert_eq!(initializer.status, 200);
    let script = initializer.text();
    assert!(script.contains(r#""url": "../openapi.json""#), "{script}");
    assert!(script.contains(r#""tryItOutEnabled": true"#), "{script}");

    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
    ] {
        let response = app.get(&format!("/docs/{asset}")).await;
        assert_eq!(response.status, 200, "{asset}");
        assert!(response.body.len() > 10_000, "{asset} is the real file");
    }
    app.get("/docs/no-such-file.js").await.problem(404);
}

#[tokio::test]
async fn redoc_loads_the_pinned_script_with_integrity_by_default() {
    let page = TestApp::new().get("/redoc").await;
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(
        html.contains(&format!(
            r#"src="{REDOC_CDN_URL}" integrity="{REDOC_CDN_INTEGRITY}" crossorigin="anonymous""#
        )),
        "{html}"
    );
    assert!(
        html.contains(r#"spec-url="openapi.json""#),
        "relative spec URL: {html}"
    );
}

#[tokio::test]
async fn redoc_self_hosted_serves_its_own_bundle() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bundle = dir.path().join("redoc.standalone.js");
    std::fs::write(&bundle, "/* redoc */ window.Redoc = {};").expect("writable");
    let app = TestApp::configured(|config| {
        config.docs.redoc_bundle_path = Some(bundle);
    });
    let html = app.get("/redoc").await.text();
    assert!(
        html.contains(r#"<script src="redoc/redoc.standalone.js"></script>"#),
        "{html}"
    );
    assert!(!html.contains("cdn."), "{html}");
    let script = app.get("/redoc/redoc.standalone.js").await;
    assert_eq!(script.status, 200);
    assert!(script.header("content-type").starts_with("text/javascript"));
    assert_eq!(script.text(), "/* redoc */ window.Redoc = {};");
}

#[tokio::test]
async fn redoc_bundle_route_is_404_unless_self_hosted() {
    TestApp::new()
        .get("/redoc/redoc.standalone.js")
        .await
        .problem(404);
}

#[tokio::test]
async fn redoc_with_slash_redirects_back_beside_the_spec() {
    let response = TestApp::new().get("/redoc/").await;
    assert_eq!(response.status, 308);
    assert_eq!(response.header("location"), "../redoc");
}

/// A request without a Host header (HTTP/1.0) gets a relative server URL, which
/// resolves against wherever the document was fetched from, never a default host.
#[tokio::test]
async fn without_a_host_header_the_served_server_is_relative() {
    use axum::body::Body;
    use axum::http::{Method, Request};
    let app = TestApp::new();
    let request = Request::builder()
        .method(Method::GET)
        .uri("/openapi.json")
        .body(Body::empty())
        .expect("a request");
    let response = app.send_request(request).await;
    assert_eq!(
        response.json()["servers"],
        serde_json::json!([{"url": "/"}])
    );
}
