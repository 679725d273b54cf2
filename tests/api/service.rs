//! Welcome, health and aws-info; a failing store gives 503s, never 500s.

use crate::support::TestApp;
use async_trait::async_trait;
use axum::http::Method;
use items_api::config::Config;
use items_api::domain::{
    IdempotentCreate, IdempotentOutcome, Item, ItemFields, ItemId, ItemPage, PageRequest, Version,
};
use items_api::store::{ItemStore, StoreError};
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

/// A store whose backend is down.
#[derive(Debug)]
struct DownStore;

fn down() -> StoreError {
    StoreError::Unavailable {
        retry_after: Duration::from_secs(2),
        source: "connection refused".into(),
    }
}

#[async_trait]
impl ItemStore for DownStore {
    fn backend(&self) -> &'static str {
        "down"
    }
    async fn insert(&self, _: &Item) -> Result<(), StoreError> {
        Err(down())
    }
    async fn get(&self, _: ItemId) -> Result<Item, StoreError> {
        Err(down())
    }
    async fn insert_idempotent(
        &self,
        _: &Item,
        _: &IdempotentCreate,
    ) -> Result<IdempotentOutcome, StoreError> {
        Err(down())
    }
    async fn replace(
        &self,
        _: ItemId,
        _: &ItemFields,
        _: Option<Version>,
    ) -> Result<Item, StoreError> {
        Err(down())
    }
    async fn delete(&self, _: ItemId, _: Option<Version>) -> Result<(), StoreError> {
        Err(down())
    }
    async fn list(&self, _: PageRequest) -> Result<ItemPage, StoreError> {
        Err(down())
    }
    async fn check(&self) -> Result<(), StoreError> {
        Err(down())
    }
    async fn warm_up(&self) -> Result<(), StoreError> {
        Err(down())
    }
}

#[tokio::test]
async fn an_unreachable_store_makes_health_503_with_the_same_schema() {
    let app = TestApp::with_store(Config::default(), Arc::new(DownStore));
    let response = app.get("/api/health").await;
    assert_eq!(response.status, 503);
    assert_eq!(response.header("content-type"), "application/json");
    let health = response.json();
    assert_eq!(health["status"], "unavailable");
    assert_eq!(health["store"]["status"], "unavailable");
    assert_eq!(health["store"]["backend"], "down");
}

#[tokio::test]
async fn an_unreachable_store_makes_item_operations_503_with_retry_after() {
    let app = TestApp::with_store(Config::default(), Arc::new(DownStore));
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
