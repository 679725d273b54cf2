//! The real binary: start-up, request logs, durability across `kill -9`, shutdown.

use crate::support::{BINARY, Server, client};
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("items.db");
    let server = Server::start(&database, Some("t0ken"));
    let client = client();
    let mut ids = Vec::new();
    for i in 0..25 {
        let response = client
            .post(server.url("/api/items"))
            .bearer_auth("t0ken")
            .json(&serde_json::json!({"name": format!("durable {i}")}))
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), 201);
        let item: serde_json::Value = response.json().await.expect("json");
        ids.push(item["id"].as_str().expect("id").to_owned());
    }
    drop(server); // SIGKILL: no shutdown, no checkpoint.

    let server = Server::start(&database, None);
    for id in &ids {
        let response = client
            .get(server.url(&format!("/api/items/{id}")))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200, "{id} survived");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_logs_one_structured_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = Server::start(&dir.path().join("items.db"), None);
    let id = uuid::Uuid::now_v7();
    let response = client()
        .get(server.url(&format!("/api/items/{id}")))
        .header("x-request-id", "log-test-1")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 404);
    let line = server.wait_for_log(|line| line["message"] == "request completed");
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["status"], 404);
    assert!(line["latency_ms"].as_f64().is_some());
    let span = &line["span"];
    assert_eq!(span["method"], "GET");
    assert_eq!(span["route"], "/api/items/{item_id}");
    assert_eq!(span["request_id"], "log-test-1");
}

/// The local server hands log lines to a writer thread; with its queue at one line,
/// 200 concurrent requests must still give 200 lines (a full queue makes requests wait,
/// it never drops a line), and the lines still queued at SIGTERM are written. With
/// `LOG_BUFFER_LINES=0` each line is written on the request's thread: the same 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_log_line_is_lost_when_the_log_queue_is_full_or_at_shutdown() {
    for queue in ["1", "0"] {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = Server::with_env(&[
            (
                "DATABASE_PATH",
                dir.path().join("items.db").display().to_string(),
            ),
            ("LOG_BUFFER_LINES", queue.to_owned()),
        ]);
        let client = client();
        let requests = (0..200).map(|i| {
            client
                .get(server.url("/api/health"))
                .header("x-request-id", format!("burst-{i}"))
                .send()
        });
        for response in futures_util::future::join_all(requests).await {
            assert_eq!(response.expect("sent").status(), 200);
        }
        server.signal("TERM");
        assert!(server.wait_for_exit().success());
        let burst = server
            .remaining_logs()
            .iter()
            .filter(|line| {
                line["message"] == "request completed"
                    && line["span"]["request_id"]
                        .as_str()
                        .is_some_and(|id| id.starts_with("burst-"))
            })
            .count();
        assert_eq!(burst, 200, "LOG_BUFFER_LINES={queue}");
    }
}

/// BLOCKING_THREADS bounds the threads SQLite writes may hold: 64 concurrent creates
/// each wait for the one writer connection on a pool thread, and with 2 allowed the
/// process keeps at most its runtime workers, 2 pool threads, the main thread and the
/// log writer (unbounded, the same load ran 10 threads here). Every create succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_threads_bounds_the_threads_writes_hold() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::with_env(&[
        (
            "DATABASE_PATH",
            dir.path().join("items.db").display().to_string(),
        ),
        ("BLOCKING_THREADS", "2".to_owned()),
    ]);
    let client = client();
    let creates = (0..64).map(|i| {
        client
            .post(server.url("/api/items"))
            .json(&serde_json::json!({"name": format!("concurrent {i}")}))
            .send()
    });
    for response in futures_util::future::join_all(creates).await {
        assert_eq!(response.expect("sent").status(), 201);
    }
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = server.threads();
    // No pool at all would leave writes waiting forever: refused at start-up.
    let zero = Command::new(BINARY)
        .arg("openapi")
        .env("BLOCKING_THREADS", "0")
        .output()
        .expect("runs");
    assert!(!zero.status.success());
    assert!(String::from_utf8_lossy(&zero.stderr).contains("BLOCKING_THREADS"));
    // The main thread and the log writer, the runtime's workers, two pool threads.
    assert!(
        threads <= 2 + workers + 2,
        "{threads} threads with {workers} workers and BLOCKING_THREADS=2"
    );
}

#[test]
fn start_up_warns_only_when_writes_are_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let open = Server::start(&dir.path().join("open.db"), None);
    assert!(open.startup.iter().any(|l| {
        l["level"] == "WARN"
            && l["message"]
                .as_str()
                .is_some_and(|m| m.contains("API_TOKEN is not set"))
    }));
    let closed = Server::start(&dir.path().join("closed.db"), Some("secret-token"));
    assert!(
        closed.startup.iter().all(|l| l["level"] != "WARN"),
        "{:?}",
        closed.startup
    );
    assert!(
        !closed
            .startup
            .iter()
            .any(|l| l.to_string().contains("secret-token")),
        "the token is never logged"
    );
}

#[test]
fn sigterm_shuts_down_gracefully() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = Server::start(&dir.path().join("items.db"), Some("x"));
    server.signal("TERM");
    server.wait_for_log(|line| line["message"] == "shut down");
    assert!(server.wait_for_exit().success());
}

/// Every option a user sets (not the hidden ones Lambda sets) is in `--help` with its
/// variable and in the README's configuration table: the list comes from the CLI
/// definition itself, so a new limit cannot be left undocumented.
#[test]
fn help_and_the_readme_list_every_environment_variable() {
    use clap::CommandFactory;
    let output = Command::new(BINARY).arg("--help").output().expect("runs");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let command = items_api::config::Cli::command();
    let variables: Vec<String> = command
        .get_arguments()
        .filter(|arg| !arg.is_hide_set())
        .filter_map(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned())
        .collect();
    assert!(variables.len() >= 20, "{variables:?}");
    for variable in &variables {
        assert!(
            help.contains(&format!("[env: {variable}")),
            "{variable} missing from --help:\n{help}"
        );
        assert!(
            readme.contains(&format!("| `{variable}` |")),
            "{variable} missing from the README's configuration table"
        );
    }
    assert!(
        help.contains("[default: 127.0.0.1]") && help.contains("[default: 8000]"),
        "{help}"
    );
}

#[test]
fn openapi_subcommand_prints_the_contract() {
    for format in ["json", "yaml"] {
        let output = Command::new(BINARY)
            .args(["openapi", "--format", format])
            .output()
            .expect("runs");
        assert!(output.status.success());
        let printed: serde_json::Value =
            yaml_serde::from_slice(&output.stdout).expect("JSON and YAML both parse as YAML");
        crate::contract::compare(&crate::contract::contract(), &printed)
            .expect("printed document is the contract");
    }
}

#[test]
fn a_database_path_that_cannot_be_created_fails_start_up_with_a_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").expect("writable");
    let output = Command::new(BINARY)
        .env_clear()
        .env("DATABASE_PATH", blocker.join("items.db"))
        .env("LOG_FORMAT", "json")
        .env("PORT", "0")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let logs = String::from_utf8_lossy(&output.stdout);
    assert!(logs.contains("the server stopped"), "{logs}");
}

/// `openapi --check FILE` compares as data and lists only real differences, with
/// their JSON paths; the committed contract has none.
#[test]
fn openapi_check_lists_only_real_differences() {
    let contract = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml");
    let same = Command::new(BINARY)
        .args(["openapi", "--check", contract])
        .output()
        .expect("runs");
    assert!(
        same.status.success(),
        "{}",
        String::from_utf8_lossy(&same.stderr)
    );
    assert!(String::from_utf8_lossy(&same.stdout).contains("generates exactly"));

    let dir = tempfile::tempdir().expect("temp dir");
    let changed = dir.path().join("openapi.yaml");
    let text = std::fs::read_to_string(contract).expect("contract");
    std::fs::write(
        &changed,
        text.replace("summary: List items", "summary: List all items"),
    )
    .expect("written");
    let different = Command::new(BINARY)
        .args(["openapi", "--check"])
        .arg(&changed)
        .output()
        .expect("runs");
    assert!(!different.status.success());
    let listed = String::from_utf8_lossy(&different.stdout);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(
        listed.starts_with("/paths/~1api~1items/get/summary:"),
        "{listed}"
    );
}

/// The start-up line carries a URL a terminal can open.
#[test]
fn start_up_logs_a_clickable_url() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(&dir.path().join("items.db"), Some("x"));
    let listening = server
        .startup
        .iter()
        .find(|line| {
            line["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("listening on "))
        })
        .expect("a listening line");
    let docs = format!("http://{}/docs/", server.address());
    assert!(
        listening["message"]
            .as_str()
            .is_some_and(|m| m.contains(&docs)),
        "{listening}"
    );
}
