//! Safe writes over an unreliable network: `Idempotency-Key` on createItem and
//! `ETag` / `If-Match` / `If-None-Match` on items, through the router.

use crate::support::{TOKEN, TestApp};
use axum::body::Body;
use axum::http::Method;
use serde_json::json;

const BODY: &str = r#"{"name": "Retried item", "description": "sent twice"}"#;

async fn create_with_key(app: &TestApp, key: &str, body: &str) -> crate::support::TestResponse {
    let bearer = format!("Bearer {TOKEN}");
    app.send(
        Method::POST,
        "/api/items",
        &[
            ("authorization", bearer.as_str()),
            ("content-type", "application/json"),
            ("idempotency-key", key),
        ],
        Body::from(body.to_owned()),
    )
    .await
}

async fn write(
    app: &TestApp,
    method: Method,
    uri: &str,
    if_match: Option<&str>,
) -> crate::support::TestResponse {
    let bearer = format!("Bearer {TOKEN}");
    let mut headers = vec![
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
    ];
    if let Some(tag) = if_match {
        headers.push(("if-match", tag));
    }
    let body = if method == Method::PUT {
        Body::from(r#"{"name": "Renamed"}"#)
    } else {
        Body::empty()
    };
    app.send(method, uri, &headers, body).await
}

#[tokio::test]
async fn a_retried_create_replays_the_first_answer_and_creates_nothing() {
    let app = TestApp::with_token();
    let first = create_with_key(&app, "7c1d3e0a-retry", BODY).await;
    assert_eq!(first.status, 201);
    assert_eq!(first.header("idempotent-replayed"), "");
    let retry = create_with_key(&app, "7c1d3e0a-retry", BODY).await;
    assert_eq!(retry.status, 201);
    assert_eq!(retry.header("idempotent-replayed"), "true");
    assert_eq!(retry.json(), first.json());
    assert_eq!(retry.header("location"), first.header("location"));
    assert_eq!(retry.header("etag"), first.header("etag"));
    assert_eq!(retry.header("content-type"), "application/json");
    let page = app.get("/api/items").await.json();
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");
}

#[tokio::test]
async fn a_reused_key_with_another_body_is_422_and_creates_nothing() {
    let app = TestApp::with_token();
    assert_eq!(create_with_key(&app, "reused", BODY).await.status, 201);
    let problem = create_with_key(&app, "reused", r#"{"name": "Something else"}"#)
        .await
        .problem(422);
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("Idempotency-Key")),
        "{problem}"
    );
    let page = app.get("/api/items").await.json();
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn malformed_keys_are_400() {
    let app = TestApp::with_token();
    let long = "k".repeat(256);
    for key in ["two words", "", long.as_str(), "tab\there"] {
        if axum::http::HeaderValue::from_str(key).is_err() {
            continue;
        }
        let problem = create_with_key(&app, key, BODY).await.problem(400);
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("Idempotency-Key")),
            "{key:?}: {problem}"
        );
    }
    let bearer = format!("Bearer {TOKEN}");
    let twice = app
        .send(
            Method::POST,
            "/api/items",
            &[
                ("authorization", bearer.as_str()),
                ("content-type", "application/json"),
                ("idempotency-key", "a"),
                ("idempotency-key", "b"),
            ],
            Body::from(BODY),
        )
        .await;
    twice.problem(400);
}

#[tokio::test]
async fn a_required_key_is_428_when_missing() {
    let app = TestApp::configured(|config| {
        config.writes.api_token = Some(TOKEN.to_owned());
        config.writes.require_idempotency_key = true;
    });
    let problem = app
        .send_json(Method::POST, "/api/items", &json!({"name": "n"}))
        .await
        .problem(428);
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("Idempotency-Key"))
    );
    assert_eq!(create_with_key(&app, "present", BODY).await.status, 201);
}

#[tokio::test]
async fn every_read_and_write_of_an_item_carries_its_etag() {
    let app = TestApp::with_token();
    let created = app
        .send_json(Method::POST, "/api/items", &json!({"name": "tagged"}))
        .await;
    assert_eq!(created.header("etag"), "\"1\"");
    let uri = created.header("location").to_owned();
    assert_eq!(app.get(&uri).await.header("etag"), "\"1\"");
    let replaced = write(&app, Method::PUT, &uri, None).await;
    assert_eq!(replaced.status, 200);
    assert_eq!(replaced.header("etag"), "\"2\"");
    assert_eq!(app.get(&uri).await.header("etag"), "\"2\"");
}

#[tokio::test]
async fn if_none_match_with_the_current_etag_is_304_without_a_body() {
    let app = TestApp::with_token();
    let uri = app.create("cached", None).await["id"]
        .as_str()
        .map(|id| format!("/api/items/{id}"))
        .expect("id");
    for tag in ["\"1\"", "W/\"1\"", "\"7\", \"1\"", "*"] {
        let response = app
            .send(Method::GET, &uri, &[("if-none-match", tag)], Body::empty())
            .await;
        assert_eq!(response.status, 304, "{tag}");
        assert!(response.body.is_empty());
        assert_eq!(response.header("etag"), "\"1\"");
    }
    let stale = app
        .send(
            Method::GET,
            &uri,
            &[("if-none-match", "\"9\"")],
            Body::empty(),
        )
        .await;
    assert_eq!(stale.status, 200);
}

#[tokio::test]
async fn a_stale_if_match_is_412_and_changes_nothing() {
    let app = TestApp::with_token();
    let uri = app.create("guarded", None).await["id"]
        .as_str()
        .map(|id| format!("/api/items/{id}"))
        .expect("id");
    assert_eq!(
        write(&app, Method::PUT, &uri, Some("\"1\"")).await.status,
        200
    );
    // Another client still holds version 1.
    write(&app, Method::PUT, &uri, Some("\"1\""))
        .await
        .problem(412);
    write(&app, Method::DELETE, &uri, Some("\"1\""))
        .await
        .problem(412);
    // Weak tags never match for If-Match (strong comparison).
    write(&app, Method::PUT, &uri, Some("W/\"2\""))
        .await
        .problem(412);
    assert_eq!(app.get(&uri).await.header("etag"), "\"2\"");
    assert_eq!(write(&app, Method::PUT, &uri, Some("*")).await.status, 200);
    assert_eq!(
        write(&app, Method::DELETE, &uri, Some("\"3\""))
            .await
            .status,
        204
    );
    write(&app, Method::DELETE, &uri, Some("\"3\""))
        .await
        .problem(404);
}

#[tokio::test]
async fn an_if_match_naming_no_version_of_ours_is_412_and_a_required_one_428() {
    let app = TestApp::with_token();
    let uri = app.create("strict", None).await["id"]
        .as_str()
        .map(|id| format!("/api/items/{id}"))
        .expect("id");
    for other in ["not-a-tag", "\"1\", \"2\"", "0", "\"abc\""] {
        write(&app, Method::PUT, &uri, Some(other))
            .await
            .problem(412);
    }
    assert_eq!(app.get(&uri).await.header("etag"), "\"1\"");

    let strict = TestApp::configured(|config| {
        config.writes.api_token = Some(TOKEN.to_owned());
        config.writes.require_if_match = true;
    });
    let uri = strict.create("strict", None).await["id"]
        .as_str()
        .map(|id| format!("/api/items/{id}"))
        .expect("id");
    let problem = write(&strict, Method::PUT, &uri, None).await.problem(428);
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("If-Match"))
    );
    write(&strict, Method::DELETE, &uri, None)
        .await
        .problem(428);
    assert_eq!(
        write(&strict, Method::PUT, &uri, Some("\"1\""))
            .await
            .status,
        200
    );
}
