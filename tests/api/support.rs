//! The one set-up module of the black-box suite: the app in-process over an in-memory
//! store ([`TestApp`]), the real binary on a random port ([`Server`]), the AWS emulator
//! ([`Moto`]), and the constants every test shares (tokens, event fixtures, binary).

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use items_api::config::Config;
use items_api::startup::{Serving, compose};
use items_api::store::{SqliteStore, Store};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};
use tower::ServiceExt;

/// The token the authenticated test apps require.
pub const TOKEN: &str = "test-token-0123456789";
/// The token the Lambda event fixtures in tests/events/ carry.
pub const FIXTURE_TOKEN: &str = "fixture-token";
/// The Lambda event fixtures.
pub const EVENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/events");
/// The binary under test.
pub const BINARY: &str = env!("CARGO_BIN_EXE_items-api");

/// One event fixture's text.
pub fn event(name: &str) -> String {
    std::fs::read_to_string(format!("{EVENTS}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The service in-process, over the given store.
#[derive(Clone)]
pub struct TestApp {
    app: items_api::app::App,
}

/// What the service answered.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl TestResponse {
    /// The body as JSON; panics with the body text when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts a problem+json answer with `status`, and returns its body.
    #[track_caller]
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text());
        assert_eq!(self.header("content-type"), "application/problem+json");
        let problem = self.json();
        assert_eq!(problem["status"], status);
        assert_eq!(problem["type"], "about:blank");
        assert_eq!(
            problem["title"],
            self.status.canonical_reason().expect("known status")
        );
        assert!(
            problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{problem}"
        );
        assert_eq!(
            problem["request_id"],
            self.header("x-request-id"),
            "{problem}"
        );
        assert!(!self.header("x-request-id").is_empty());
        problem
    }
}

impl TestApp {
    /// Open writes, in-memory SQLite.
    pub fn new() -> Self {
        Self::with_config(Config::default())
    }

    /// Writes need [`TOKEN`].
    pub fn with_token() -> Self {
        Self::configured(|config| config.writes.api_token = Some(TOKEN.to_owned()))
    }

    /// In-memory SQLite and the default configuration as `edit` changes it.
    pub fn configured(edit: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::default();
        edit(&mut config);
        Self::with_config(config)
    }

    /// In-memory SQLite and this configuration.
    pub fn with_config(config: Config) -> Self {
        let store = SqliteStore::in_memory().expect("in-memory SQLite opens");
        Self::with_store(config, Arc::new(store))
    }

    /// This store and configuration, composed as production composes them.
    pub fn with_store(config: Config, store: Arc<dyn Store>) -> Self {
        Self {
            app: compose(&config, store, None, Serving::Http).expect("the app builds"),
        }
    }

    /// In-memory SQLite and this configuration, composed to serve Lambda events (as
    /// `lambda::run` and `invoke` do).
    pub fn for_lambda(config: Config) -> Self {
        let store = SqliteStore::in_memory().expect("in-memory SQLite opens");
        Self {
            app: compose(&config, Arc::new(store), None, Serving::Lambda).expect("the app builds"),
        }
    }

    /// The service itself, for adapters such as the Lambda one.
    pub fn app(&self) -> items_api::app::App {
        self.app.clone()
    }

    /// Sends a request with the given headers and body.
    pub async fn send(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: Body,
    ) -> TestResponse {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::HOST, "127.0.0.1:8000");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(body).expect("a valid request");
        self.send_request(request).await
    }

    /// Sends a request exactly as built (no Host header added).
    pub async fn send_request(&self, request: Request<Body>) -> TestResponse {
        let response = self
            .app
            .clone()
            .oneshot(request)
            .await
            .expect("the service never fails");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("the body streams").to_bytes();
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub async fn get(&self, uri: &str) -> TestResponse {
        self.send(Method::GET, uri, &[], Body::empty()).await
    }

    /// Sends JSON with the test token.
    pub async fn send_json(&self, method: Method, uri: &str, json: &Value) -> TestResponse {
        let bearer = format!("Bearer {TOKEN}");
        let headers = [
            ("content-type", "application/json"),
            ("authorization", bearer.as_str()),
        ];
        self.send(method, uri, &headers, Body::from(json.to_string()))
            .await
    }

    /// Creates an item and returns its JSON.
    pub async fn create(&self, name: &str, description: Option<&str>) -> Value {
        let response = self
            .send_json(
                Method::POST,
                "/api/items",
                &serde_json::json!({"name": name, "description": description}),
            )
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
        response.json()
    }

    /// Deletes with the test token.
    pub async fn delete(&self, uri: &str) -> TestResponse {
        let bearer = format!("Bearer {TOKEN}");
        self.send(
            Method::DELETE,
            uri,
            &[("authorization", bearer.as_str())],
            Body::empty(),
        )
        .await
    }
}

/// A `moto_server` (the AWS emulator from PyPI's moto) on 127.0.0.1, stopped on drop.
/// `make setup` installs it into target/py; `MOTO_SERVER` may name another binary.
pub struct Moto {
    child: std::process::Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Self {
        Self::start_on(emulator_port())
    }

    /// A fresh, empty emulator on `port` (to restart one that was stopped).
    pub fn start_on(port: u16) -> Self {
        // moto with its requests applied one at a time, as DynamoDB applies conditional
        // writes atomically (tests/tools/moto_serial.py says why); MOTO_SERVER may name
        // another emulator taking moto_server's arguments.
        let (binary, mut args) = match std::env::var("MOTO_SERVER") {
            Ok(binary) => (binary, Vec::new()),
            Err(_) => (
                concat!(env!("CARGO_MANIFEST_DIR"), "/target/py/bin/python").to_owned(),
                vec![concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/moto_serial.py").to_owned()],
            ),
        };
        args.extend([
            "-H".to_owned(),
            "127.0.0.1".to_owned(),
            "-p".to_owned(),
            port.to_string(),
        ]);
        let mut child = std::process::Command::new(&binary)
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary} (run `make setup`): {e}"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("moto_server on port {port} exited ({status}) before it listened");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "moto_server did not listen within 20 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Environment variables that point AWS SDKs at this emulator with fake credentials.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", "eu-west-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "AKIAFAKEFAKEFAKEFAKE".to_owned()),
            (
                "AWS_SECRET_ACCESS_KEY",
                "fake-secret-access-key-do-not-leak".to_owned(),
            ),
        ]
    }
}

impl Moto {
    /// Stops the emulator now (its data is gone).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.endpoint
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("endpoint has a port")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A DynamoDB client for `endpoint` with fake credentials, as the service builds one.
pub fn dynamodb_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .http_client(items_api::aws::http_client())
        .endpoint_url(endpoint)
        .region(aws_sdk_dynamodb::config::Region::new("eu-west-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "AKIAFAKE", "fake", None, None, "test",
        ))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A Secrets Manager client for `endpoint` with fake credentials, as the service builds one.
pub fn secretsmanager_client(endpoint: &str) -> aws_sdk_secretsmanager::Client {
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
        .http_client(items_api::aws::http_client())
        .endpoint_url(endpoint)
        .region(aws_sdk_secretsmanager::config::Region::new("eu-west-1"))
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "AKIAFAKE", "fake", None, None, "test",
        ))
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
}

/// A running `items-api` on 127.0.0.1 with a random port, its JSON log lines readable.
pub struct Server {
    child: Child,
    address: SocketAddr,
    logs: Receiver<serde_json::Value>,
    /// Log lines up to and including "listening".
    pub startup: Vec<serde_json::Value>,
}

impl Server {
    /// SQLite at `database`; writes need `token` when given.
    pub fn start(database: &Path, token: Option<&str>) -> Self {
        let mut env = vec![("DATABASE_PATH", database.display().to_string())];
        if let Some(token) = token {
            env.push(("API_TOKEN", token.to_owned()));
        }
        Self::with_env(&env)
    }

    /// Starts the binary with only these variables (and PORT=0, JSON logs) set.
    pub fn with_env(env: &[(&str, String)]) -> Self {
        let mut command = Command::new(BINARY);
        command
            .env_clear()
            .env("PORT", "0")
            .env("HOST", "127.0.0.1")
            .env("LOG_FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, logs) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
                if sender.send(value).is_err() {
                    return;
                }
            }
        });
        let mut server = Self {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            logs,
            startup: Vec::new(),
        };
        let mut startup = Vec::new();
        let listening = server.wait_for_log(|line| {
            startup.push(line.clone());
            line["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("listening on http://"))
        });
        server.startup = startup;
        server.address = listening["address"]
            .as_str()
            .expect("address")
            .parse()
            .expect("a socket address");
        server
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Its resident memory now, in kB (Linux).
    pub fn rss_kb(&self) -> u64 {
        self.status("VmRSS")
    }

    /// How many threads it runs now (Linux).
    pub fn threads(&self) -> usize {
        self.status("Threads")
    }

    /// The number a line of `/proc/PID/status` gives `field` (its unit, if any, dropped).
    fn status<T: std::str::FromStr>(&self, field: &str) -> T {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the server runs");
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|value| value.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no number for {field} in /proc/PID/status"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// The first log line (from now) that `matches`, within 10 s.
    pub fn wait_for_log(
        &mut self,
        mut matches: impl FnMut(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.logs.recv_timeout(left) {
                Ok(line) if matches(&line) => return line,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => panic!("no matching log line within 10 s"),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the server exited: {:?}", self.child.try_wait())
                }
            }
        }
    }

    /// Every log line still to come once the server has exited: read until its
    /// output closes (at most 10 s).
    pub fn remaining_logs(&self) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut lines = Vec::new();
        while let Ok(line) = self
            .logs
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            lines.push(line);
        }
        lines
    }

    /// Every log line received so far, as text (for failure messages).
    pub fn drain_logs(&self) -> String {
        self.logs
            .try_iter()
            .map(|line| line.to_string() + "\n")
            .collect()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    pub fn wait_for_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("waitable") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client that talks to 127.0.0.1 directly (no proxy from the environment).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client")
}

/// The audience (app client id) the test apps in `jwt` mode accept.
pub const AUDIENCE: &str = "items-api-tests";

/// The test OpenID Connect issuer (tests/tools/oidc_issuer.py): keys made at its start,
/// discovery and JWKS on a free port of 127.0.0.1, tokens minted on request; stopped
/// when dropped.
pub struct Issuer {
    child: Child,
    pub url: String,
    http: reqwest::Client,
}

impl Issuer {
    pub fn start() -> Self {
        let python = concat!(env!("CARGO_MANIFEST_DIR"), "/target/py/bin/python");
        let mut child = Command::new(python)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/tools/oidc_issuer.py"
            ))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the issuer (run `make setup`): {e}"));
        let stdout = child.stdout.take().expect("piped");
        let (sender, receiver) = channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line = receiver
            .recv_timeout(Duration::from_secs(20))
            .expect("the issuer says where it listens within 20 s");
        let ready: Value = serde_json::from_str(&line).expect("a JSON line");
        Self {
            child,
            url: ready["issuer"].as_str().expect("its URL").to_owned(),
            http: reqwest::Client::new(),
        }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.http
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .expect("the issuer answers")
            .json()
            .await
            .expect("JSON")
    }

    /// A token with `claims` (`iat` and `exp` added unless given); `options` may set
    /// `alg` (`RS256`, `ES256`, `none`, `HS256-public-key`) and `kid`.
    pub async fn mint(&self, claims: Value, options: Value) -> String {
        let mut request = options;
        request["claims"] = claims;
        self.post("/mint", request).await["token"]
            .as_str()
            .expect("a token")
            .to_owned()
    }

    /// An access token for `subject` this issuer signs as the test apps expect.
    pub async fn token_for(&self, subject: &str) -> String {
        self.mint(
            serde_json::json!({"iss": self.url, "sub": subject, "aud": AUDIENCE}),
            serde_json::json!({}),
        )
        .await
    }

    /// Publishes a new signing key; its kid.
    pub async fn rotate(&self) -> String {
        self.post("/rotate", serde_json::json!({})).await["kid"]
            .as_str()
            .expect("a kid")
            .to_owned()
    }

    /// How often discovery (`discovery`) and the key set (`jwks`) were read.
    pub async fn stats(&self) -> Value {
        self.http
            .get(format!("{}/stats", self.url))
            .send()
            .await
            .expect("the issuer answers")
            .json()
            .await
            .expect("JSON")
    }

    /// `config` set to accept this issuer's tokens for [`AUDIENCE`].
    pub fn configure(&self, config: &mut Config) {
        config.auth.auth_mode = items_api::config::AuthMode::Jwt;
        config.auth.jwt_issuer = Some(self.url.clone());
        config.auth.jwt_audience = Some(AUDIENCE.to_owned());
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// DynamoDB's per-partition limits modelled in front of a moto (tests/tools/partition_limits.py):
/// `write_units` and `read_units` per second per partition key value; stopped when dropped.
pub struct PartitionLimits {
    child: Child,
    pub endpoint: String,
}

impl PartitionLimits {
    pub fn start(upstream: &str, write_units: f64, read_units: f64) -> Self {
        let python = concat!(env!("CARGO_MANIFEST_DIR"), "/target/py/bin/python");
        let mut child = Command::new(python)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/tools/partition_limits.py"
            ))
            .args(["--upstream", upstream, "--port", "0"])
            .args(["--write-units-per-key", &write_units.to_string()])
            .args(["--read-units-per-key", &read_units.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start the partition limits (run `make setup`): {e}")
            });
        let stdout = child.stdout.take().expect("piped");
        let (sender, receiver) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("partition_limits: listening on ") {
                    let _ = sender.send(
                        rest.split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_owned(),
                    );
                }
            }
        });
        let endpoint = receiver
            .recv_timeout(Duration::from_secs(20))
            .expect("the partition limits listen within 20 s");
        Self { child, endpoint }
    }
}

impl Drop for PartitionLimits {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A table as the SAM template and the releases before sharding made it: the key
/// schema, no layout item (so the store keeps one partition per owner).
pub async fn single_partition_table(client: &aws_sdk_dynamodb::Client, table: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("valid")
    };
    let key = |name: &str, key_type| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(key_type)
            .build()
            .expect("valid")
    };
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk"))
        .attribute_definitions(attribute("id"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("id", KeyType::Range))
        .send()
        .await
        .expect("moto creates the table");
}

/// A port for an emulator that no other test of this process is given: taken in turn
/// from a range below Linux's ephemeral ports (32768 and up, where a port 0 bind lands),
/// starting at an offset from the process id, skipping ports something holds. (A port
/// 0 bind released and handed to the emulator could be handed to a second test at once
/// too: two tests then shared one emulator, "table items exists already".)
pub fn emulator_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        (std::process::id() % 600) * 20,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SPAN {
        let port = (FIRST + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port for an emulator in {FIRST}..{}", FIRST + SPAN);
}
