//! CloudWatch Embedded Metric Format: a known sequence of requests against the real
//! binary produces exactly the expected EMF lines, and every line follows the EMF
//! specification (field names, units, dimension sets, timestamps).

use crate::support::{Server, client};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

/// The units CloudWatch accepts (MetricDatum.Unit).
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Checks one line against the EMF specification; panics with the line otherwise.
fn assert_valid_emf(line: &Value) {
    let aws = &line["_aws"];
    let timestamp = aws["Timestamp"]
        .as_i64()
        .expect("Timestamp: integer milliseconds");
    let now = chrono::Utc::now().timestamp_millis();
    assert!((now - 60_000..=now + 1000).contains(&timestamp), "{line}");
    let directives = aws["CloudWatchMetrics"]
        .as_array()
        .expect("CloudWatchMetrics array");
    assert!(!directives.is_empty(), "{line}");
    for directive in directives {
        let namespace = directive["Namespace"].as_str().expect("Namespace");
        assert!(!namespace.is_empty() && namespace.len() <= 256, "{line}");
        let sets = directive["Dimensions"].as_array().expect("Dimensions");
        for set in sets {
            let keys = set.as_array().expect("a dimension set is an array");
            assert!(keys.len() <= 30, "{line}");
            for key in keys {
                let key = key.as_str().expect("dimension keys are strings");
                assert!(
                    line[key].is_string(),
                    "dimension {key} has a string value: {line}"
                );
            }
        }
        let metrics = directive["Metrics"].as_array().expect("Metrics");
        assert!(metrics.len() <= 100, "{line}");
        for metric in metrics {
            let name = metric["Name"].as_str().expect("metric Name");
            assert!(line[name].is_number(), "metric {name} has a number: {line}");
            let unit = metric["Unit"].as_str().expect("metric Unit");
            assert!(UNITS.contains(&unit), "unit {unit}: {line}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_sequence_of_requests_gives_exactly_the_expected_emf_lines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = Server::with_env(&[
        (
            "DATABASE_PATH",
            dir.path().join("items.db").display().to_string(),
        ),
        ("API_TOKEN", "t0ken".to_owned()),
        ("METRICS", "true".to_owned()),
        ("METRICS_NAMESPACE", "ItemsApiTest".to_owned()),
    ]);
    let client = client();
    let base = |path: &str| server.url(path);
    client
        .get(base("/api/health"))
        .send()
        .await
        .expect("health");
    let created: Value = client
        .post(base("/api/items"))
        .bearer_auth("t0ken")
        .header("idempotency-key", "emf-1")
        .json(&serde_json::json!({"name": "measured"}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("item");
    let replay = client
        .post(base("/api/items"))
        .bearer_auth("t0ken")
        .header("idempotency-key", "emf-1")
        .json(&serde_json::json!({"name": "measured"}))
        .send()
        .await
        .expect("replay");
    assert_eq!(replay.status(), 201);
    let id = created["id"].as_str().expect("id");
    let stale = client
        .put(base(&format!("/api/items/{id}")))
        .bearer_auth("t0ken")
        .header("if-match", "\"9\"")
        .json(&serde_json::json!({"name": "lost"}))
        .send()
        .await
        .expect("stale");
    assert_eq!(stale.status(), 412);
    client.get(base("/docs/")).send().await.expect("docs");
    client
        .get(base("/api/health"))
        .send()
        .await
        .expect("health again");

    let mut requests = Vec::new();
    let mut stores = Vec::new();
    while requests.len() < 5 {
        let line = server.wait_for_log(|line| line.get("_aws").is_some());
        assert_valid_emf(&line);
        if line.get("Operation").is_some() {
            requests.push(line);
        } else {
            stores.push(line);
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    let operations: Vec<&str> = requests
        .iter()
        .map(|l| l["Operation"].as_str().expect("op"))
        .collect();
    // The docs page is no operation of the contract: no line.
    assert_eq!(
        operations,
        [
            "getHealth",
            "createItem",
            "createItem",
            "replaceItem",
            "getHealth"
        ]
    );
    let value = |i: usize, name: &str| requests[i][name].as_i64().unwrap_or(-1);
    assert_eq!(
        value(0, "ColdStart"),
        1,
        "the first request is the cold start"
    );
    assert!(requests[1..].iter().all(|l| l.get("ColdStart").is_none()));
    assert!(
        requests
            .iter()
            .all(|l| l["Requests"] == 1 && l["Service"] == "items-api")
    );
    assert!(
        requests
            .iter()
            .all(|l| l["Latency"].as_f64().is_some_and(|ms| ms >= 0.0))
    );
    assert_eq!(
        (value(1, "IdempotentReplays"), value(2, "IdempotentReplays")),
        (0, 1)
    );
    assert_eq!(
        (value(3, "PreconditionFailures"), value(3, "Status4xx")),
        (1, 1)
    );
    assert_eq!(value(0, "Status4xx") + value(0, "Status5xx"), 0);
    let namespaces: BTreeSet<&str> = requests
        .iter()
        .flat_map(|l| {
            l["_aws"]["CloudWatchMetrics"]
                .as_array()
                .into_iter()
                .flatten()
        })
        .filter_map(|d| d["Namespace"].as_str())
        .collect();
    assert_eq!(namespaces, BTreeSet::from(["ItemsApiTest"]));
    // The store calls: health checks, the idempotent inserts, the conditional replace.
    let store_ops: BTreeSet<&str> = stores
        .iter()
        .filter_map(|l| l["StoreOperation"].as_str())
        .collect();
    for expected in ["check", "insertIdempotent", "replace"] {
        assert!(store_ops.contains(expected), "{expected} in {store_ops:?}");
    }
    assert!(stores.iter().all(|l| l["StoreErrors"] == 0));
}

/// The lines a server logs up to and including the one that ends a health request.
async fn lines_of_one_health_request(mut server: Server, request_id: &str) -> Vec<Value> {
    let response = client()
        .get(server.url("/api/health"))
        .header("x-request-id", request_id)
        .send()
        .await
        .expect("health");
    assert_eq!(response.status(), 200);
    let mut seen = Vec::new();
    server.wait_for_log(|line| {
        seen.push(line.clone());
        line["message"] == "request completed" && line["span"]["request_id"] == request_id
    });
    seen
}

/// Locally, without METRICS, a request writes no EMF line. Every line a request writes
/// is out before the request's own log line (the control, with METRICS=true, shows it
/// for this build), so reading up to that line sees them all: a line that is merely
/// late cannot pass for no line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_off_locally_by_default() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = |name: &str| ("DATABASE_PATH", dir.path().join(name).display().to_string());
    let is_emf = |line: &Value| line.get("_aws").is_some();
    let control = Server::with_env(&[database("on.db"), ("METRICS", "true".to_owned())]);
    let on = lines_of_one_health_request(control, "metrics-on").await;
    assert!(
        on.iter().any(is_emf),
        "with METRICS=true the EMF lines come before the request's log line: {on:#?}"
    );
    let server = Server::with_env(&[database("off.db")]);
    let off = lines_of_one_health_request(server, "metrics-off").await;
    let emf: Vec<&Value> = off.iter().filter(|line| is_emf(line)).collect();
    assert!(emf.is_empty(), "EMF lines without METRICS: {emf:#?}");
}
