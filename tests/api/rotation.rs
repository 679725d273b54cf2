//! Rotating the bearer token in AWS Secrets Manager (against moto_server): a new secret
//! value takes effect within TOKEN_CACHE_TTL_S without a restart, a Secrets Manager
//! outage keeps the token read last working, and wrong tokens cannot run up
//! GetSecretValue calls.

use crate::support::{Moto, Server, client, secretsmanager_client};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const OLD: &str = "old-token-0123456789";
const NEW: &str = "new-token-9876543210";

/// A proxy in front of moto that counts the GetSecretValue calls reaching it. It counts
/// what Secrets Manager would bill and throttle: every HTTP call, the SDK's retries
/// included, which a count of the service's reads or of its log lines would miss.
struct CountingProxy {
    endpoint: String,
    get_secret_value: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Upstream {
    endpoint: String,
    client: reqwest::Client,
    get_secret_value: Arc<AtomicUsize>,
}

impl CountingProxy {
    async fn start(upstream: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let endpoint = format!("http://{}", listener.local_addr().expect("an address"));
        let get_secret_value = Arc::new(AtomicUsize::new(0));
        let upstream = Upstream {
            endpoint: upstream.to_owned(),
            client: client(),
            get_secret_value: Arc::clone(&get_secret_value),
        };
        let app = axum::Router::new().fallback(forward).with_state(upstream);
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the proxy serves");
        });
        Self {
            endpoint,
            get_secret_value,
            task,
        }
    }

    fn get_secret_value_calls(&self) -> usize {
        self.get_secret_value.load(Ordering::SeqCst)
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Counts a GetSecretValue call (the JSON protocol names the operation in X-Amz-Target)
/// and passes the request on; 502 when moto does not answer.
async fn forward(State(upstream): State<Upstream>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if parts
        .headers
        .get("x-amz-target")
        .is_some_and(|target| target == "secretsmanager.GetSecretValue")
    {
        upstream.get_secret_value.fetch_add(1, Ordering::SeqCst);
    }
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("the SDK sends a body");
    let mut headers = parts.headers;
    headers.remove(header::HOST);
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let answer = upstream
        .client
        .request(parts.method, format!("{}{path}", upstream.endpoint))
        .headers(headers)
        .body(body)
        .send()
        .await;
    let Ok(answer) = answer else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = answer.status();
    let mut headers = answer.headers().clone();
    headers.remove(header::TRANSFER_ENCODING);
    headers.remove(header::CONNECTION);
    let body = answer.bytes().await.unwrap_or_default();
    (status, headers, Body::from(body)).into_response()
}

/// moto with the token secret holding [`OLD`], the counting proxy in front of it, and
/// the service reading the secret through the proxy with `settings`.
async fn rotation_setup(
    settings: &[(&'static str, &str)],
) -> (Moto, CountingProxy, String, Server) {
    let moto = Moto::start();
    let arn = secretsmanager_client(&moto.endpoint)
        .create_secret()
        .name("items-api/token")
        .secret_string(OLD)
        .send()
        .await
        .expect("moto creates the secret")
        .arn()
        .expect("an ARN")
        .to_owned();
    let proxy = CountingProxy::start(&moto.endpoint).await;
    let mut env = moto.env();
    env.retain(|(name, _)| *name != "AWS_ENDPOINT_URL");
    env.extend([
        ("AWS_ENDPOINT_URL", proxy.endpoint.clone()),
        ("DATABASE_PATH", ":memory:".to_owned()),
        ("API_TOKEN_SECRET_ARN", arn.clone()),
        ("STORE_TIMEOUT_MS", "1000".to_owned()),
    ]);
    env.extend(
        settings
            .iter()
            .map(|(name, value)| (*name, (*value).to_owned())),
    );
    let server = Server::with_env(&env);
    (moto, proxy, arn, server)
}

async fn put_secret_value(moto: &Moto, arn: &str, token: &str) {
    secretsmanager_client(&moto.endpoint)
        .put_secret_value()
        .secret_id(arn)
        .secret_string(token)
        .send()
        .await
        .expect("moto stores the new value");
}

/// The status of a create with `token`.
async fn create_with(server: &Server, token: &str) -> u16 {
    client()
        .post(server.url("/api/items"))
        .bearer_auth(token)
        .json(&serde_json::json!({"name": "rotation"}))
        .send()
        .await
        .expect("the server answers")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_secret_value_takes_effect_within_the_ttl_without_a_restart() {
    // Early reads are out of reach here: only the TTL can bring the new value in.
    let (mut moto, proxy, arn, mut server) =
        rotation_setup(&[("TOKEN_CACHE_TTL_S", "1"), ("TOKEN_REFRESH_MIN_S", "3600")]).await;
    assert_eq!(create_with(&server, OLD).await, 201);
    assert_eq!(proxy.get_secret_value_calls(), 1);

    put_secret_value(&moto, &arn, NEW).await;
    let rotated = Instant::now();
    // The old token keeps working until the cached one is a TTL old, then gets 401.
    loop {
        match create_with(&server, OLD).await {
            201 => {}
            401 => break,
            status => panic!("the old token got {status}"),
        }
        // 1 s of TTL, plus slack for a busy machine.
        assert!(
            rotated.elapsed() < Duration::from_secs(6),
            "the old token still works {:?} after the rotation",
            rotated.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(create_with(&server, NEW).await, 201);
    assert_eq!(create_with(&server, OLD).await, 401);
    server.wait_for_log(|line| line["message"] == "the bearer token changed");

    // Secrets Manager goes away: past the TTL the token read last keeps working (no
    // 503s), and the failed re-read is logged.
    moto.stop();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(create_with(&server, NEW).await, 201);
    assert_eq!(create_with(&server, OLD).await, 401);
    let warning = server.wait_for_log(|line| {
        line["message"] == "cannot read the bearer token again; the one read last stays in use"
    });
    assert_eq!(warning["level"], "WARN", "{warning}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_wrong_tokens_reads_the_secret_at_most_once_per_refresh_interval() {
    let (_moto, proxy, _arn, server) =
        rotation_setup(&[("TOKEN_CACHE_TTL_S", "3600"), ("TOKEN_REFRESH_MIN_S", "1")]).await;
    assert_eq!(create_with(&server, OLD).await, 201);
    assert_eq!(proxy.get_secret_value_calls(), 1);

    const WRONG: usize = 200;
    let started = Instant::now();
    for _ in 0..WRONG / 20 {
        let burst = (0..20).map(|i| {
            let server = &server;
            async move { create_with(server, &format!("wrong-token-{i}")).await }
        });
        for status in futures_util::future::join_all(burst).await {
            assert_eq!(status, 401);
        }
    }
    let flood = started.elapsed();
    // The first read, then at most one per TOKEN_REFRESH_MIN_S of flood (and one more
    // for a read that began as the flood started).
    let bound = 1 + flood.as_secs() as usize + 1;
    let calls = proxy.get_secret_value_calls();
    assert!(
        calls <= bound,
        "{calls} GetSecretValue calls for {WRONG} wrong tokens in {flood:?}"
    );
    assert_eq!(create_with(&server, OLD).await, 201);
}

/// Needs `WriteAccess` (src/extract.rs) to ask `DeferredToken::expected_for(presented)`
/// instead of `get()`: only then does a non-matching token read the secret early.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_token_is_accepted_before_the_ttl_once_the_refresh_interval_has_passed() {
    let (moto, proxy, arn, server) =
        rotation_setup(&[("TOKEN_CACHE_TTL_S", "3600"), ("TOKEN_REFRESH_MIN_S", "1")]).await;
    assert_eq!(create_with(&server, OLD).await, 201);
    put_secret_value(&moto, &arn, NEW).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(create_with(&server, NEW).await, 201);
    assert_eq!(create_with(&server, OLD).await, 401);
    assert_eq!(proxy.get_secret_value_calls(), 2);
}
