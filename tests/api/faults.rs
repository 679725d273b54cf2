//! The DynamoDB store going away and coming back while the server runs.

use crate::support::{Moto, Server, client, dynamodb_client};
use items_api::store::DynamoDbStore;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

async fn create_with_key(server: &Server, key: &str) -> reqwest::Response {
    client()
        .post(server.url("/api/items"))
        .header("idempotency-key", key)
        .json(&serde_json::json!({"name": "retried across the outage"}))
        .send()
        .await
        .expect("the server answers")
}

async fn create_item(server: &Server) -> reqwest::Response {
    client()
        .post(server.url("/api/items"))
        .json(&serde_json::json!({"name": "during a fault"}))
        .send()
        .await
        .expect("the server answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_outage_gives_503_problems_then_recovers_without_a_restart() {
    let mut moto = Moto::start();
    DynamoDbStore::create_table(
        &dynamodb_client(&moto.endpoint),
        "items",
        items_api::config::DEFAULT_SHARDS,
    )
    .await
    .expect("table");
    let mut env = moto.env();
    env.extend([
        ("ITEMS_TABLE", "items".to_owned()),
        ("STORE_TIMEOUT_MS", "1000".to_owned()),
    ]);
    let server = Server::with_env(&env);
    assert_eq!(create_item(&server).await.status(), 201);

    moto.stop();
    // A client's create fails with the store; it will retry with the same key.
    assert_eq!(
        create_with_key(&server, "outage-retry-1").await.status(),
        503
    );
    // Requests keep flowing: every one is a bounded 503 problem, never a 500 or a hang.
    for _ in 0..5 {
        let started = Instant::now();
        let response = create_item(&server).await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "bounded by STORE_TIMEOUT_MS: {:?}",
            started.elapsed()
        );
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "1");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: serde_json::Value = response.json().await.expect("problem JSON");
        assert_eq!(problem["status"], 503);
        let listed = client()
            .get(server.url("/api/items"))
            .send()
            .await
            .expect("answers");
        assert_eq!(listed.status(), 503);
    }
    let asked = Instant::now();
    let health = client()
        .get(server.url("/api/health"))
        .send()
        .await
        .expect("answers");
    assert_eq!(health.status(), 503);
    let body: serde_json::Value = health.json().await.expect("JSON");
    assert_eq!(body["status"], "unavailable", "{body}");
    let store = body["store"].as_object().expect("the store's state");
    assert_eq!(
        store.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        BTreeSet::from(["backend", "error", "latency_ms", "status"]),
        "{body}"
    );
    assert_eq!(store["backend"], "dynamodb");
    assert_eq!(store["status"], "unavailable");
    // How long the failed check took: a number of milliseconds, no more than the client
    // waited for the answer.
    let latency_ms = store["latency_ms"]
        .as_f64()
        .expect("latency_ms is a number");
    assert!(
        (0.0..=asked.elapsed().as_secs_f64() * 1000.0).contains(&latency_ms),
        "{body}"
    );
    // It says which part failed.
    let error = store["error"].as_str().expect("an error message");
    assert!(error.starts_with("store unavailable: read: "), "{error}");
    assert!(
        error.len() > "store unavailable: read: ".len(),
        "and why: {error}"
    );

    // The emulator comes back (empty, as moto keeps nothing): recreate the table.
    let moto = Moto::start_on(moto.port());
    DynamoDbStore::create_table(
        &dynamodb_client(&moto.endpoint),
        "items",
        items_api::config::DEFAULT_SHARDS,
    )
    .await
    .expect("table");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let health = client()
            .get(server.url("/api/health"))
            .send()
            .await
            .expect("answers");
        if health.status() == 200 {
            break;
        }
        let text = health.text().await.unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "the service did not recover by itself: {text}\n{}",
            server.drain_logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(create_item(&server).await.status(), 201);

    // The retried create succeeds once; retried again it is replayed, not duplicated.
    let first = create_with_key(&server, "outage-retry-1").await;
    assert_eq!(first.status(), 201);
    let replay = create_with_key(&server, "outage-retry-1").await;
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let page: serde_json::Value = client()
        .get(server.url("/api/items?limit=100"))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("JSON");
    let retried = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|item| item["name"] == "retried across the outage")
        .count();
    assert_eq!(retried, 1, "{page}");
}
