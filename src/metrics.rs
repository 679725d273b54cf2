//! Application metrics as CloudWatch Embedded Metric Format (EMF) log lines: no SDK
//! call and no agent; CloudWatch Logs turns each line into metrics
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>).
//!
//! - One line per API operation served: `Requests`, `Latency`, `Status4xx`,
//!   `Status5xx`, `IdempotentReplays`, `PreconditionFailures`, with the dimension sets
//!   `[Service, Operation]` and `[Service]`; the process's first request also carries
//!   `ColdStart` (dimension `[Service]`, so the service dimension is never lost).
//! - One line per item-store call: `StoreLatency` and `StoreErrors`, dimensions
//!   `[Service, StoreOperation]`.
//!
//! Dimensions are few and fixed (never more than two per set; CloudWatch drops sets
//! over 30). On Lambda by default, locally with `METRICS=true`.

use crate::store::StoreError;
use crate::store::layer::{StoreCall, StoreLayer, StoreOperation};
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Where EMF lines go and what they are called.
#[derive(Debug)]
pub struct Metrics {
    namespace: String,
    service: String,
    /// route → (method, operationId), from the OpenAPI document; looked up by `&str`
    /// so a request allocates nothing to find its operation.
    operations: HashMap<String, Vec<(Method, String)>>,
    cold: AtomicBool,
}

/// What one served operation measured.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestSample {
    pub operation: String,
    pub latency_ms: f64,
    pub status: u16,
    pub replayed: bool,
}

impl Metrics {
    /// Metrics in `namespace` for `service`; `document` names the operations.
    pub fn new(namespace: &str, service: &str, document: &Value) -> Self {
        let mut operations = HashMap::new();
        if let Some(paths) = document["paths"].as_object() {
            for (path, item) in paths {
                for (method, operation) in item.as_object().into_iter().flatten() {
                    let (Ok(method), Some(id)) = (
                        method.to_ascii_uppercase().parse::<Method>(),
                        operation["operationId"].as_str(),
                    ) else {
                        continue;
                    };
                    operations
                        .entry(path.clone())
                        .or_insert_with(Vec::new)
                        .push((method, id.to_owned()));
                }
            }
        }
        Self {
            namespace: namespace.to_owned(),
            service: service.to_owned(),
            operations,
            cold: AtomicBool::new(true),
        }
    }

    /// The operationId of a matched route, if it is an operation of the contract.
    pub fn operation(&self, method: &Method, route: &str) -> Option<&str> {
        self.operations
            .get(route)?
            .iter()
            .find(|(m, _)| m == method)
            .map(|(_, id)| id.as_str())
    }

    /// The EMF line of one served operation (the first one of the process is the cold
    /// start).
    pub fn request_line(&self, sample: &RequestSample, timestamp_ms: i64) -> Value {
        let cold = self.cold.swap(false, Ordering::Relaxed);
        let mut directives = vec![json!({
            "Namespace": self.namespace,
            "Dimensions": [["Service", "Operation"], ["Service"]],
            "Metrics": [
                {"Name": "Requests", "Unit": "Count"},
                {"Name": "Latency", "Unit": "Milliseconds"},
                {"Name": "Status4xx", "Unit": "Count"},
                {"Name": "Status5xx", "Unit": "Count"},
                {"Name": "IdempotentReplays", "Unit": "Count"},
                {"Name": "PreconditionFailures", "Unit": "Count"},
            ],
        })];
        let flag = |condition: bool| u8::from(condition);
        let mut line = json!({
            "Service": self.service,
            "Operation": sample.operation,
            "Requests": 1,
            "Latency": (sample.latency_ms * 1000.0).round() / 1000.0,
            "Status4xx": flag((400..500).contains(&sample.status)),
            "Status5xx": flag(sample.status >= 500),
            "IdempotentReplays": flag(sample.replayed),
            "PreconditionFailures": flag(sample.status == 412),
        });
        if cold {
            directives.push(json!({
                "Namespace": self.namespace,
                "Dimensions": [["Service"]],
                "Metrics": [{"Name": "ColdStart", "Unit": "Count"}],
            }));
            line["ColdStart"] = json!(1);
        }
        line["_aws"] = json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": directives});
        line
    }

    /// The EMF line of one item-store call.
    pub fn store_line(
        &self,
        operation: &str,
        latency_ms: f64,
        failed: bool,
        timestamp_ms: i64,
    ) -> Value {
        json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [["Service", "StoreOperation"]],
                    "Metrics": [
                        {"Name": "StoreLatency", "Unit": "Milliseconds"},
                        {"Name": "StoreErrors", "Unit": "Count"},
                    ],
                }],
            },
            "Service": self.service,
            "StoreOperation": operation,
            "StoreLatency": (latency_ms * 1000.0).round() / 1000.0,
            "StoreErrors": u8::from(failed),
        })
    }
}

/// Writes one EMF line to stdout, where CloudWatch Logs reads it (a whole line in one
/// write, so it never interleaves with log lines).
fn emit(line: &Value) {
    let mut text = line.to_string();
    text.push('\n');
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Middleware (per route): measures the operation and emits its line.
pub async fn record(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let operation = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|route| metrics.operation(request.method(), route.as_str()))
        .map(str::to_owned);
    let started = Instant::now();
    let response = next.run(request).await;
    if let Some(operation) = operation {
        let sample = RequestSample {
            operation,
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
            status: response.status().as_u16(),
            replayed: response.headers().contains_key("idempotent-replayed"),
        };
        emit(&metrics.request_line(&sample, now_ms()));
    }
    response
}

/// A [`StoreLayer`] that measures every store call (`startup` warms the store up
/// before `app` wraps it, so the warm-up is not measured).
#[derive(Debug)]
pub struct Measured {
    metrics: Arc<Metrics>,
}

impl Measured {
    /// Measures into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl StoreLayer for Measured {
    fn around<'a, T: Send + 'a>(
        &'a self,
        operation: StoreOperation,
        call: StoreCall<'a, T>,
    ) -> StoreCall<'a, T> {
        Box::pin(async move {
            let started = Instant::now();
            let result = call.await;
            // NotFound and PreconditionFailed are answers, not store errors.
            let failed = matches!(
                result,
                Err(StoreError::Unavailable { .. } | StoreError::Other(_))
            );
            emit(&self.metrics.store_line(
                operation.name(),
                started.elapsed().as_secs_f64() * 1000.0,
                failed,
                now_ms(),
            ));
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> Metrics {
        let document =
            json!({"paths": {"/api/items/{item_id}": {"get": {"operationId": "getItem"}}}});
        Metrics::new("ItemsApi", "items-api", &document)
    }

    #[test]
    fn operations_come_from_the_document() {
        let metrics = metrics();
        assert_eq!(
            metrics.operation(&Method::GET, "/api/items/{item_id}"),
            Some("getItem")
        );
        assert_eq!(
            metrics.operation(&Method::PUT, "/api/items/{item_id}"),
            None
        );
        assert_eq!(metrics.operation(&Method::GET, "/docs/"), None);
    }

    #[test]
    fn only_the_first_request_is_a_cold_start() {
        let metrics = metrics();
        let sample = RequestSample {
            operation: "getItem".to_owned(),
            latency_ms: 1.5,
            status: 412,
            replayed: false,
        };
        let first = metrics.request_line(&sample, 1);
        assert_eq!(first["ColdStart"], 1);
        assert_eq!(
            first["_aws"]["CloudWatchMetrics"].as_array().map(Vec::len),
            Some(2)
        );
        assert_eq!(first["PreconditionFailures"], 1);
        assert_eq!(first["Status4xx"], 1);
        let second = metrics.request_line(&sample, 2);
        assert!(second.get("ColdStart").is_none());
        assert_eq!(
            second["_aws"]["CloudWatchMetrics"].as_array().map(Vec::len),
            Some(1)
        );
    }
}
