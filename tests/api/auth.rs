//! Bearer-token protection of writes.

use crate::operations::operations;
use crate::support::{TOKEN, TestApp};
use axum::body::Body;
use axum::http::Method;
use serde_json::json;

const BODY: &str = r#"{"name": "n"}"#;

async fn post_with(
    app: &TestApp,
    authorization: Option<&str>,
    body: &str,
) -> crate::support::TestResponse {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(value) = authorization {
        headers.push(("authorization", value));
    }
    app.send(
        Method::POST,
        "/api/items",
        &headers,
        Body::from(body.to_owned()),
    )
    .await
}

#[tokio::test]
async fn create_item_without_token_is_401_with_www_authenticate() {
    let app = TestApp::with_token();
    let response = post_with(&app, None, BODY).await;
    response.problem(401);
    assert_eq!(
        response.header("www-authenticate"),
        r#"Bearer realm="items-api""#
    );
}

#[tokio::test]
async fn wrong_or_malformed_credentials_are_401() {
    let app = TestApp::with_token();
    let wrong_scheme = format!("Basic {TOKEN}");
    let longer = format!("Bearer {TOKEN}x");
    for value in [
        "Bearer wrong",
        "Bearer",
        "",
        wrong_scheme.as_str(),
        longer.as_str(),
    ] {
        post_with(&app, Some(value), BODY).await.problem(401);
    }
    // A token presented and refused is RFC 6750's invalid_token, saying why.
    let refused = post_with(&app, Some("Bearer wrong"), BODY).await;
    assert_eq!(
        refused.header("www-authenticate"),
        r#"Bearer realm="items-api", error="invalid_token", error_description="the token is not the API's token""#
    );
}

#[tokio::test]
async fn the_token_opens_writes_and_the_scheme_is_case_insensitive() {
    let app = TestApp::with_token();
    assert_eq!(
        post_with(&app, Some(&format!("Bearer {TOKEN}")), BODY)
            .await
            .status,
        201
    );
    assert_eq!(
        post_with(&app, Some(&format!("bearer {TOKEN}")), BODY)
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn auth_is_checked_before_the_body() {
    let app = TestApp::with_token();
    post_with(&app, None, "{not json").await.problem(401);
    let response = app
        .send(
            Method::POST,
            "/api/items",
            &[("content-type", "text/plain")],
            Body::from("x"),
        )
        .await;
    response.problem(401);
}

/// Every operation `openapi.yaml` marks as needing the bearer token refuses a request
/// without it (or with a wrong one) with a 401 and changes nothing, and takes it with the
/// token; every operation the contract leaves public answers without one. The list is
/// the contract's, so a new operation is checked as soon as it is there.
#[tokio::test]
async fn every_write_needs_the_token_and_reads_do_not() {
    let app = TestApp::with_token();
    let operations = operations();
    assert!(
        operations.iter().any(|o| o.needs_token) && operations.iter().any(|o| !o.needs_token),
        "the contract has protected and public operations"
    );
    let bearer = format!("Bearer {TOKEN}");
    for operation in &operations {
        // A fresh item for each operation, so a delete takes no other's.
        let item = app.create("auth", None).await;
        let id = item["id"].as_str().expect("id").to_owned();
        let value = |name: &str| (name == "item_id").then(|| id.clone());
        let before = app.get("/api/items?limit=100").await.json();
        let without = app.send_request(operation.request(value, None)).await;
        if !operation.needs_token {
            assert_eq!(
                without.status.as_u16(),
                operation.success(),
                "{operation} is public: {}",
                without.text()
            );
            continue;
        }
        assert_eq!(
            without.status,
            401,
            "{operation} without a token: {}",
            without.text()
        );
        without.problem(401);
        assert_eq!(
            without.header("www-authenticate"),
            r#"Bearer realm="items-api""#,
            "{operation}"
        );
        let wrong = app
            .send_request(operation.request(value, Some("Bearer wrong")))
            .await;
        assert_eq!(
            wrong.status,
            401,
            "{operation} with a wrong token: {}",
            wrong.text()
        );
        assert_eq!(
            app.get("/api/items?limit=100").await.json(),
            before,
            "{operation} refused, yet the items changed"
        );
        let with = app
            .send_request(operation.request(value, Some(&bearer)))
            .await;
        assert_eq!(
            with.status.as_u16(),
            operation.success(),
            "{operation} with the token: {}",
            with.text()
        );
    }
}

#[tokio::test]
async fn without_a_configured_token_writes_are_open() {
    let app = TestApp::new();
    assert_eq!(post_with(&app, None, BODY).await.status, 201);
    let created = app
        .send_json(Method::POST, "/api/items", &json!({"name": "m"}))
        .await;
    assert_eq!(
        created.status, 201,
        "a token sent to an open server is ignored"
    );
}
