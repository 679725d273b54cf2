//! The real binary against slow and hostile clients and failing files: timeouts, the
//! connection cap, shutdown with a stalled client, the limits the application answers,
//! and a store that tells the truth and recovers by itself.
//!
//! Each test is bounded in time and talks only to 127.0.0.1. Run with `--nocapture` to
//! see the figures they measure (time to disconnect, shutdown time, RSS at the cap).

use crate::support::{Server, client};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A server with short timeouts, so a stall is visible within a test's time.
fn server_with(dir: &tempfile::TempDir, extra: &[(&str, &str)]) -> Server {
    let mut env = vec![
        (
            "DATABASE_PATH",
            dir.path().join("items.db").display().to_string(),
        ),
        ("API_TOKEN", "t0ken".to_owned()),
        ("HEADER_READ_TIMEOUT_MS", "500".to_owned()),
        ("BODY_READ_TIMEOUT_MS", "500".to_owned()),
    ];
    for (name, value) in extra {
        env.retain(|(n, _)| n != name);
        env.push((name, (*value).to_owned()));
    }
    Server::with_env(&env)
}

fn connect(server: &Server) -> TcpStream {
    let stream = TcpStream::connect(server.address()).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
}

/// Reads until the server closes the connection; returns what it sent and when.
fn read_until_closed(stream: &mut TcpStream) -> (String, Instant) {
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => {
                return (
                    String::from_utf8_lossy(&answer).into_owned(),
                    Instant::now(),
                );
            }
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
        }
    }
}

#[test]
fn a_client_that_stalls_in_its_headers_is_disconnected_within_the_header_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = server_with(&dir, &[]);
    let mut stream = connect(&server);
    let started = Instant::now();
    stream
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .expect("sends half a head");
    let (_, closed) = read_until_closed(&mut stream);
    let waited = closed - started;
    eprintln!("figure: stalled header disconnected after {waited:?} (HEADER_READ_TIMEOUT_MS=500)");
    assert!(waited >= Duration::from_millis(400), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
}

/// Reads one whole response (head and its `content-length` body) without waiting for
/// the connection to close.
fn read_response(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&answer).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().expect("a length"))
                })
                .unwrap_or(0);
            if answer.len() >= end + 4 + length {
                return text;
            }
        }
        let n = stream.read(&mut buffer).expect("the response");
        assert!(n > 0, "closed before a whole response: {text}");
        answer.extend_from_slice(&buffer[..n]);
    }
}

/// The connection stays open between requests (a second request is served on it),
/// then, idle, is closed once the header timeout has passed, not before and not long
/// after.
#[test]
fn an_idle_keep_alive_connection_is_closed_within_the_header_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = server_with(&dir, &[]);
    let mut stream = connect(&server);
    let request = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    stream.write_all(request).expect("sends a request");
    let first = read_response(&mut stream);
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert!(
        !first.to_ascii_lowercase().contains("connection: close"),
        "{first}"
    );
    std::thread::sleep(Duration::from_millis(200));
    stream
        .write_all(request)
        .expect("the connection was kept alive");
    let started = Instant::now();
    let (answer, closed) = read_until_closed(&mut stream);
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "a second request on it: {answer}"
    );
    let waited = closed - started;
    eprintln!(
        "figure: idle keep-alive connection closed after {waited:?} (HEADER_READ_TIMEOUT_MS=500)"
    );
    assert!(
        waited >= Duration::from_millis(400),
        "idle for only {waited:?}"
    );
    assert!(waited < Duration::from_secs(3), "idle for {waited:?}");
}

#[test]
fn a_body_that_stops_midway_is_answered_408_within_the_body_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = server_with(&dir, &[("HEADER_READ_TIMEOUT_MS", "30000")]);
    let mut stream = connect(&server);
    let started = Instant::now();
    stream
        .write_all(
            b"POST /api/items HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer t0ken\r\n\
              Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\": ",
        )
        .expect("sends part of a body");
    let (answer, _) = read_until_closed(&mut stream);
    let waited = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(answer.contains("did not arrive within"), "{answer}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
}

#[test]
fn sigterm_with_a_stalled_client_exits_within_the_shutdown_deadline() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = server_with(
        &dir,
        &[
            ("HEADER_READ_TIMEOUT_MS", "60000"),
            ("BODY_READ_TIMEOUT_MS", "60000"),
            ("SHUTDOWN_TIMEOUT_MS", "1000"),
        ],
    );
    // One client stalled in its headers, one in its body.
    let mut stalled = connect(&server);
    stalled
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .expect("half a head");
    let mut slow_body = connect(&server);
    slow_body
        .write_all(
            b"POST /api/items HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer t0ken\r\n\
              Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
        )
        .expect("part of a body");
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    server.signal("TERM");
    let status = server.wait_for_exit();
    let took = started.elapsed();
    eprintln!("figure: shutdown with two stalled clients took {took:?} (SHUTDOWN_TIMEOUT_MS=1000)");
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    let (_, _) = read_until_closed(&mut stalled);
}

#[test]
fn an_in_flight_request_finishes_during_shutdown_and_is_told_to_close() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = server_with(
        &dir,
        &[
            ("BODY_READ_TIMEOUT_MS", "10000"),
            ("SHUTDOWN_TIMEOUT_MS", "5000"),
        ],
    );
    let mut stream = connect(&server);
    let body = br#"{"name": "finished during shutdown"}"#;
    stream
        .write_all(
            format!(
                "POST /api/items HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer t0ken\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .expect("the head");
    stream.write_all(&body[..5]).expect("part of the body");
    std::thread::sleep(Duration::from_millis(200));
    server.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(&body[5..]).expect("the rest of the body");
    let (answer, _) = read_until_closed(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(server.wait_for_exit().success());
}

#[test]
fn connections_over_the_cap_wait_until_one_closes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = server_with(
        &dir,
        &[
            ("MAX_CONNECTIONS", "4"),
            ("HEADER_READ_TIMEOUT_MS", "30000"),
        ],
    );
    let mut held: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut stream = connect(&server);
            stream
                .write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                .expect("request");
            let mut buffer = [0u8; 512];
            let n = stream.read(&mut buffer).expect("an answer");
            assert!(buffer[..n].starts_with(b"HTTP/1.1 200"));
            stream
        })
        .collect();
    eprintln!(
        "figure: {} connections held at MAX_CONNECTIONS=4, RSS {} kB",
        held.len(),
        server.rss_kb()
    );
    let mut fifth = connect(&server);
    fifth
        .set_read_timeout(Some(Duration::from_millis(700)))
        .expect("timeout");
    fifth
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("queued in the listen backlog");
    let mut buffer = [0u8; 512];
    assert!(
        fifth.read(&mut buffer).is_err(),
        "a fifth connection was served while four were held"
    );
    held.pop();
    fifth
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let n = fifth.read(&mut buffer).expect("served once one closed");
    assert!(buffer[..n].starts_with(b"HTTP/1.1 200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_long_uris_and_headers_are_problem_documents_not_hyper_answers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = server_with(
        &dir,
        &[
            ("MAX_URI_BYTES", "1024"),
            ("MAX_HEADER_BYTES", "2048"),
            ("MAX_HEADERS", "16"),
        ],
    );
    let client = client();
    let long = client
        .get(server.url(&format!("/api/items?cursor={}", "a".repeat(2000))))
        .send()
        .await
        .expect("answers");
    assert_eq!(long.status(), 414);
    assert_eq!(long.headers()["content-type"], "application/problem+json");
    let large = client
        .get(server.url("/api/health"))
        .header("x-large", "v".repeat(3000))
        .send()
        .await
        .expect("answers");
    assert_eq!(large.status(), 431);
    assert_eq!(large.headers()["content-type"], "application/problem+json");
    let mut many = client.get(server.url("/api/health"));
    for i in 0..20 {
        many = many.header(format!("x-h{i}"), "v");
    }
    let many = many.send().await.expect("answers");
    assert_eq!(many.status(), 431);
    let problem: serde_json::Value = many.json().await.expect("problem");
    assert_eq!(problem["status"], 431);
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("headers")),
        "{problem}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_the_security_headers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = server_with(&dir, &[]);
    for path in [
        "/api/health",
        "/api/items/nope",
        "/docs/",
        "/redoc",
        "/openapi.json",
    ] {
        let response = client()
            .get(server.url(path))
            .send()
            .await
            .expect("answers");
        assert_eq!(
            response.headers()["x-content-type-options"],
            "nosniff",
            "{path}"
        );
        assert_eq!(
            response.headers()["referrer-policy"],
            "no-referrer",
            "{path}"
        );
    }
}

async fn create(server: &Server) -> reqwest::Response {
    client()
        .post(server.url("/api/items"))
        .bearer_auth("t0ken")
        .json(&serde_json::json!({"name": "n", "description": "d".repeat(1500)}))
        .send()
        .await
        .expect("answers")
}

async fn health(server: &Server) -> (u16, serde_json::Value) {
    let response = client()
        .get(server.url("/api/health"))
        .send()
        .await
        .expect("answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_database_turns_health_to_503_and_back_when_room_is_made() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = server_with(&dir, &[("DATABASE_MAX_BYTES", "131072")]);
    assert_eq!(health(&server).await.0, 200);
    let mut ids = Vec::new();
    let mut full = false;
    for _ in 0..200 {
        let response = create(&server).await;
        if response.status() == 503 {
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json"
            );
            full = true;
            break;
        }
        assert_eq!(response.status(), 201);
        let item: serde_json::Value = response.json().await.expect("item");
        ids.push(item["id"].as_str().expect("id").to_owned());
    }
    assert!(full, "200 items of 1.5 KB fit in 128 KiB");
    let (status, body) = health(&server).await;
    assert_eq!(status, 503, "{body}");
    let error = body["store"]["error"].as_str().expect("says what failed");
    assert!(error.contains("write"), "{error}");
    for id in ids.iter().take(ids.len() / 2) {
        let deleted = client()
            .delete(server.url(&format!("/api/items/{id}")))
            .bearer_auth("t0ken")
            .send()
            .await
            .expect("answers");
        assert_eq!(deleted.status(), 204);
    }
    let (status, body) = health(&server).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(create(&server).await.status(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_database_file_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("items.db");
    let server = server_with(&dir, &[]);
    assert_eq!(create(&server).await.status(), 201);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", database.display()));
    }
    let mut acknowledged = Vec::new();
    for _ in 0..20 {
        let response = create(&server).await;
        if response.status() == 201 {
            let item: serde_json::Value = response.json().await.expect("item");
            acknowledged.push(item["id"].as_str().expect("id").to_owned());
        } else {
            assert_eq!(response.status(), 503);
        }
    }
    assert!(
        !acknowledged.is_empty(),
        "the store reopened the path and went on"
    );
    drop(server);
    let server = server_with(&dir, &[]);
    for id in &acknowledged {
        let response = client()
            .get(server.url(&format!("/api/items/{id}")))
            .send()
            .await
            .expect("answers");
        assert_eq!(
            response.status(),
            200,
            "acknowledged {id} is gone after a restart"
        );
    }
}

/// Makes the database's files unwritable, for root too (`chattr +i`), or restores them.
fn set_read_only(database: &std::path::Path, read_only: bool) {
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", database.display());
        if !std::path::Path::new(&file).exists() {
            continue;
        }
        let is_root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        let status = if is_root {
            std::process::Command::new("chattr")
                .arg(if read_only { "+i" } else { "-i" })
                .arg(&file)
                .status()
                .expect("chattr runs (e2fsprogs)")
        } else {
            std::process::Command::new("chmod")
                .arg(if read_only { "a-w" } else { "u+w" })
                .arg(&file)
                .status()
                .expect("chmod runs")
        };
        assert!(status.success(), "cannot change {file}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_database_files_recover_without_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("items.db");
    let server = server_with(&dir, &[]);
    assert_eq!(create(&server).await.status(), 201);
    drop(server);
    set_read_only(&database, true);
    let server = server_with(&dir, &[]);
    let refused = create(&server).await;
    let (status, body) = health(&server).await;
    set_read_only(&database, false);
    assert_eq!(refused.status(), 503);
    assert_eq!(status, 503, "{body}");
    assert!(
        body["store"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("write")),
        "{body}"
    );
    // The permissions are back: the next write opens the file again.
    let created = create(&server).await;
    let status = created.status();
    assert_eq!(
        status,
        201,
        "{}\n{}",
        created.text().await.unwrap_or_default(),
        server.drain_logs()
    );
    assert_eq!(health(&server).await.0, 200);
}
