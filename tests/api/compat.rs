//! The original FastAPI service's calls keep working.

use crate::support::{TOKEN, TestApp};
use axum::body::Body;
use axum::http::Method;

#[tokio::test]
async fn originals_post_with_trailing_slash_creates_an_item() {
    let app = TestApp::with_token();
    let bearer = format!("Bearer {TOKEN}");
    let headers = [
        ("content-type", "application/json"),
        ("authorization", bearer.as_str()),
    ];
    let body = r#"{"name": "Test Item", "description": "AWS Lambda test"}"#;
    let response = app
        .send(Method::POST, "/api/items/", &headers, Body::from(body))
        .await;
    assert_eq!(response.status, 201, "{}", response.text());
    let item = response.json();
    assert_eq!(item["name"], "Test Item");
    assert_eq!(item["description"], "AWS Lambda test");
    // The canonical Location, without the slash.
    assert_eq!(
        response.header("location"),
        format!("/api/items/{}", item["id"].as_str().expect("id"))
    );
}

#[tokio::test]
async fn trailing_slashes_work_on_every_api_path() {
    let app = TestApp::new();
    let item = app.create("x", None).await;
    let id = item["id"].as_str().expect("id");
    assert_eq!(app.get(&format!("/api/items/{id}/")).await.json(), item);
    assert_eq!(
        app.get("/api/items/?limit=1").await.json()["items"][0],
        item
    );
    assert_eq!(app.get("/api/health/").await.status, 200);
    assert_eq!(app.get("/api/aws-info/").await.status, 200);
}
