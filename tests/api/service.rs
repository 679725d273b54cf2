//! Welcome, health and aws-info; a failing store gives 503s, never 500s.

use crate::operations::operations;
use crate::support::{TOKEN, TestApp};
use axum::http::Method;
use items_api::config::Config;
use items_api::store::layer::{StoreCall, StoreOperation};
use items_api::store::{Decorated, SqliteStore, Store, StoreError, StoreLayer};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn welcome_names_the_service_and_links_its_docs() {
    let response = TestApp::new().get("/").await;
    assert_eq!(response.status, 200);
    let welcome = response.json();
    assert_eq!(welcome["name"], "Items API");
    assert_eq!(welcome["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(welcome["docs_url"], "/docs/");
    assert_eq!(welcome["redoc_url"], "/redoc");
    assert_eq!(welcome["openapi_url"], "/openapi.json");
}

#[tokio::test]
async fn health_reports_the_store_ok() {
    let response = TestApp::new().get("/api/health").await;
    assert_eq!(response.status, 200);
    let health = response.json();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(health["store"]["backend"], "sqlite");
    assert_eq!(health["store"]["status"], "ok");
    assert!(
        health["store"]["latency_ms"]
            .as_f64()
            .is_some_and(|ms| ms >= 0.0)
    );
}

#[tokio::test]
async fn aws_info_says_it_is_not_in_lambda_locally() {
    let info = TestApp::new().get("/api/aws-info").await.json();
    assert_eq!(
        info,
        json!({"in_lambda": false, "architecture": std::env::consts::ARCH})
    );
}

/// A store whose backend is down: every call answers Unavailable, whatever the method.
#[derive(Debug)]
struct Down;

impl StoreLayer for Down {
    fn around<'a, T: Send + 'a>(
        &'a self,
        _: StoreOperation,
        _: StoreCall<'a, T>,
    ) -> StoreCall<'a, T> {
        Box::pin(async {
            Err(StoreError::Unavailable {
                retry_after: Duration::from_secs(2),
                source: "connection refused".into(),
            })
        })
    }

    fn backend(&self, _: &'static str) -> &'static str {
        "down"
    }
}

/// A store whose health check takes at least 20 ms.
#[derive(Debug)]
struct SlowCheck;

impl StoreLayer for SlowCheck {
    fn around<'a, T: Send + 'a>(
        &'a self,
        operation: StoreOperation,
        call: StoreCall<'a, T>,
    ) -> StoreCall<'a, T> {
        Box::pin(async move {
            if operation == StoreOperation::Check {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            call.await
        })
    }
}

#[tokio::test]
async fn health_reports_the_store_checks_latency_in_milliseconds() {
    let store = SqliteStore::in_memory().expect("in-memory SQLite opens");
    let app = TestApp::with_store(
        Config::default(),
        Arc::new(Decorated::new(Arc::new(store), SlowCheck)),
    );
    let started = std::time::Instant::now();
    let health = app.get("/api/health").await.json();
    let waited_ms = started.elapsed().as_secs_f64() * 1000.0;
    let latency = health["store"]["latency_ms"]
        .as_f64()
        .unwrap_or_else(|| panic!("latency_ms is a number: {health}"));
    assert!(
        (20.0..=waited_ms).contains(&latency),
        "the check took 20 ms or more, the request {waited_ms:.3} ms; reported {latency}"
    );
    // Rounded to the microsecond.
    let micros = latency * 1000.0;
    assert!((micros - micros.round()).abs() < 1e-6, "{latency}");
}

fn down_store() -> Arc<dyn Store> {
    let store = SqliteStore::in_memory().expect("in-memory SQLite opens");
    Arc::new(Decorated::new(Arc::new(store), Down))
}

#[tokio::test]
async fn an_unreachable_store_makes_health_503_with_the_same_schema() {
    let app = TestApp::with_store(Config::default(), down_store());
    let response = app.get("/api/health").await;
    assert_eq!(response.status, 503);
    assert_eq!(response.header("content-type"), "application/json");
    let health = response.json();
    assert_eq!(health["status"], "unavailable");
    assert_eq!(health["store"]["status"], "unavailable");
    assert_eq!(health["store"]["backend"], "down");
}

/// With the store down, every operation of the contract answers a status its operation
/// documents: an operation that reads the store must list 503 (SharedResponses adds it
/// to store and token operations; any other handler that reads the store needs it too).
#[tokio::test]
async fn with_the_store_down_every_operation_answers_a_documented_status() {
    let app = TestApp::with_store(
        {
            let mut config = Config::default();
            config.writes.api_token = Some(TOKEN.to_owned());
            config
        },
        down_store(),
    );
    let id = uuid::Uuid::now_v7().to_string();
    let bearer = format!("Bearer {TOKEN}");
    let mut undocumented = Vec::new();
    for operation in operations() {
        let value = |name: &str| (name == "item_id").then(|| id.clone());
        let response = app
            .send_request(operation.request(value, Some(&bearer)))
            .await;
        let status = response.status.as_u16();
        if !operation.responses.contains(&status) {
            undocumented.push(format!("{operation}: {status} {}", response.text()));
        }
    }
    assert!(
        undocumented.is_empty(),
        "statuses the contract does not list:\n{}",
        undocumented.join("\n")
    );
}

#[tokio::test]
async fn an_unreachable_store_makes_item_operations_503_with_retry_after() {
    let app = TestApp::with_store(Config::default(), down_store());
    let id = uuid::Uuid::now_v7();
    let uri = format!("/api/items/{id}");
    let responses = [
        app.get("/api/items").await,
        app.get(&uri).await,
        app.send_json(Method::POST, "/api/items", &json!({"name": "n"}))
            .await,
        app.send_json(Method::PUT, &uri, &json!({"name": "n"}))
            .await,
        app.delete(&uri).await,
    ];
    for response in responses {
        let problem = response.problem(503);
        assert_eq!(response.header("retry-after"), "2");
        assert!(
            !problem["detail"]
                .as_str()
                .expect("text")
                .contains("refused"),
            "no internals: {problem}"
        );
    }
}
