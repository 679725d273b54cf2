//! Warm Lambda invocations: one process, the service built once, API Gateway REST
//! events handled in a loop through the same path Lambda uses (`lambda::invoke`:
//! event JSON -> router -> Lambda response JSON).
//!
//! `cargo bench --bench warm_invoke` runs criterion (mean and its confidence
//! interval); afterwards the same loop is timed event by event for p50/p99, written to
//! target/bench/warm-rust.json for benches/run.py.

use criterion::{Criterion, criterion_group};
use items_api::app::App;
use items_api::config::Config;
use items_api::startup::{Serving, compose};
use items_api::store::SqliteStore;
use std::sync::Arc;
use std::time::Instant;

const EVENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/events");

fn event(name: &str) -> String {
    std::fs::read_to_string(format!("{EVENTS}/{name}")).expect("fixture exists")
}

fn app() -> App {
    let mut config = Config::default();
    config.writes.api_token = Some("fixture-token".to_owned());
    let store = SqliteStore::in_memory().expect("in-memory SQLite");
    compose(&config, Arc::new(store), None, Serving::Lambda).expect("app builds")
}

/// The operations measured, with their events. getItem reads an item created first.
fn cases(runtime: &tokio::runtime::Runtime, app: &App) -> Vec<(&'static str, String)> {
    let created = runtime
        .block_on(items_api::lambda::invoke(
            app.clone(),
            &event("rest-v1-create-item.json"),
            Default::default(),
        ))
        .expect("create runs");
    let id = serde_json::from_str::<serde_json::Value>(created["body"].as_str().expect("body"))
        .expect("item JSON")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let get_item = event("rest-v1-get-health.json")
        .replace("/api/health", &format!("/api/items/{id}"))
        .replace("\"api/health\"", &format!("\"api/items/{id}\""));
    vec![
        ("getHealth", event("rest-v1-get-health.json")),
        ("getItem", get_item),
        ("createItem", event("rest-v1-create-item.json")),
    ]
}

fn warm_invoke(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let app = app();
    let mut group = c.benchmark_group("warm_invoke");
    for (name, event) in cases(&runtime, &app) {
        group.bench_function(name, |b| {
            b.iter(|| {
                runtime
                    .block_on(items_api::lambda::invoke(
                        app.clone(),
                        &event,
                        Default::default(),
                    ))
                    .expect("invoke")
            });
        });
    }
    group.finish();
}

/// p50/p99 per event over `count` invocations after a warm-up.
fn percentiles(count: usize) -> serde_json::Value {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let app = app();
    let mut out = serde_json::Map::new();
    for (name, event) in cases(&runtime, &app) {
        for _ in 0..count / 10 {
            runtime
                .block_on(items_api::lambda::invoke(
                    app.clone(),
                    &event,
                    Default::default(),
                ))
                .expect("invoke");
        }
        let mut samples: Vec<f64> = (0..count)
            .map(|_| {
                let started = Instant::now();
                runtime
                    .block_on(items_api::lambda::invoke(
                        app.clone(),
                        &event,
                        Default::default(),
                    ))
                    .expect("invoke");
                started.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        samples.sort_by(f64::total_cmp);
        out.insert(
            name.to_owned(),
            serde_json::json!({"p50_us": samples[count / 2], "p99_us": samples[count * 99 / 100]}),
        );
    }
    serde_json::Value::Object(out)
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = warm_invoke
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    let count: usize = std::env::var("WARM_INVOKE_COUNT")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5000);
    let results = percentiles(count);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/target/bench");
    std::fs::create_dir_all(dir).expect("target/bench is writable");
    std::fs::write(format!("{dir}/warm-rust.json"), results.to_string()).expect("writable");
    println!("warm invoke percentiles ({count} events each): {results}");
}
