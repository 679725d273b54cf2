//! Request context every layer may read: the state built at start-up, the base path the
//! client used, the request id header, the body limit, and the facts of the runtime and
//! of one Lambda invocation.
//!
//! This module sits at the bottom of the crate (it imports only `config` and `store`),
//! so handlers, extractors, error rendering and the Lambda adapter can all share these
//! types without importing one another.

use crate::config::Config;
use crate::store::ItemStore;
use axum::extract::FromRequestParts;
use axum::http::{HeaderName, request::Parts};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// The request id header, accepted from the client or generated, and always returned.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What every handler may need, built once at start-up (once per cold start on Lambda).
#[derive(Debug, Clone)]
pub struct AppState {
    /// Where items live.
    pub store: Arc<dyn ItemStore>,
    /// The bearer token writes need.
    pub write_token: WriteToken,
    /// Where the process runs, as known at start-up (reported by `/api/aws-info`).
    pub runtime: Arc<Runtime>,
    /// What writes must carry, and how long idempotency keys live.
    pub writes: WritePolicy,
}

/// The rules for writes: required headers and the idempotency keys' lifetime.
#[derive(Debug, Clone, Copy)]
pub struct WritePolicy {
    /// Creates without `Idempotency-Key` answer 428.
    pub require_idempotency_key: bool,
    /// Replaces and deletes without `If-Match` answer 428.
    pub require_if_match: bool,
    /// How long a key is remembered.
    pub idempotency_ttl: std::time::Duration,
}

impl WritePolicy {
    /// The policy `config` sets.
    pub fn new(config: &Config) -> Self {
        Self {
            require_idempotency_key: config.require_idempotency_key,
            require_if_match: config.require_if_match,
            idempotency_ttl: std::time::Duration::from_secs(config.idempotency_ttl_seconds),
        }
    }
}

impl AppState {
    /// State for `config`, with `store` as the item store, running locally.
    pub fn new(config: &Config, store: Arc<dyn ItemStore>) -> Self {
        Self {
            store,
            write_token: WriteToken::Open,
            runtime: Arc::new(Runtime::local()),
            writes: WritePolicy::new(config),
        }
        .with_api_token(config.api_token.clone())
    }

    /// The same state with `token` as the bearer token writes need (`None` or empty: open).
    pub fn with_api_token(mut self, token: Option<String>) -> Self {
        self.write_token = match token.filter(|t| !t.is_empty()) {
            Some(token) => WriteToken::Known(Arc::from(token)),
            None => WriteToken::Open,
        };
        self
    }

    /// The same state with writes checked against the token `source` yields, read when
    /// a write first needs it (reads never wait for it).
    pub fn with_deferred_token(mut self, source: Box<dyn TokenSource>) -> Self {
        self.write_token = WriteToken::Deferred(Arc::new(DeferredToken::new(source)));
        self
    }

    /// The same state running in `runtime` (the Lambda adapter describes its own).
    pub fn with_runtime(mut self, runtime: Runtime) -> Self {
        self.runtime = Arc::new(runtime);
        self
    }
}

/// An error and all its sources, joined with ": ".
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}

/// The bearer token writes need.
#[derive(Debug, Clone)]
pub enum WriteToken {
    /// None: anyone who reaches the service may write.
    Open,
    /// This one, known at start-up (`API_TOKEN`).
    Known(Arc<str>),
    /// The one a [`TokenSource`] yields, read when a write first needs it and then
    /// kept for the life of the process (on Lambda, of the execution environment).
    Deferred(Arc<DeferredToken>),
}

/// Where a deferred token comes from (AWS Secrets Manager: the `secrets` module).
#[async_trait::async_trait]
pub trait TokenSource: Send + Sync + std::fmt::Debug {
    /// Reads the token; the error says which source failed and why.
    async fn read(&self) -> Result<String, Box<dyn std::error::Error + Send + Sync>>;
}

/// Why a deferred token is not available now (the source failed, now or very recently).
#[derive(Debug, thiserror::Error)]
#[error("the bearer token is not available")]
pub struct TokenUnavailable {
    /// When to try again.
    pub retry_after: Duration,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// A token read once, on first use. Concurrent first writes share one read; after a
/// failed read, writes are answered at once for [`DeferredToken::RETRY_AFTER`] instead
/// of each calling the source again.
#[derive(Debug)]
pub struct DeferredToken {
    source: Box<dyn TokenSource>,
    token: tokio::sync::OnceCell<Arc<str>>,
    failed: std::sync::Mutex<Option<(tokio::time::Instant, String)>>,
}

impl DeferredToken {
    /// How long a failed read is answered from memory before the source is asked again.
    pub const RETRY_AFTER: Duration = Duration::from_secs(1);

    fn new(source: Box<dyn TokenSource>) -> Self {
        Self {
            source,
            token: tokio::sync::OnceCell::new(),
            failed: std::sync::Mutex::new(None),
        }
    }

    /// The token, read from the source the first time.
    pub async fn get(&self) -> Result<Arc<str>, TokenUnavailable> {
        if let Some(token) = self.token.get() {
            return Ok(Arc::clone(token));
        }
        // The cell lets one initializer run at a time, so writes that queued behind a
        // failing read find its failure here instead of each asking the source again.
        self.token
            .get_or_try_init(|| async {
                let recent = self
                    .failed
                    .lock()
                    .expect("never poisoned")
                    .as_ref()
                    .filter(|(at, _)| at.elapsed() < Self::RETRY_AFTER)
                    .map(|(_, why)| why.clone());
                if let Some(why) = recent {
                    return Err(TokenUnavailable {
                        retry_after: Self::RETRY_AFTER,
                        source: format!("{why} (a read failed within the last second)").into(),
                    });
                }
                match self.source.read().await {
                    Ok(token) => Ok(Arc::from(token)),
                    Err(source) => {
                        let why = error_chain(source.as_ref());
                        *self.failed.lock().expect("never poisoned") =
                            Some((tokio::time::Instant::now(), why));
                        Err(TokenUnavailable {
                            retry_after: Self::RETRY_AFTER,
                            source,
                        })
                    }
                }
            })
            .await
            .map(Arc::clone)
    }
}

/// Where the process runs, as known at start-up: the fixed part of `/api/aws-info`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Runtime {
    /// Whether the process serves AWS Lambda invocations.
    pub in_lambda: bool,
    /// The AWS region (Lambda's `AWS_REGION`).
    pub region: Option<String>,
    /// The Lambda runtime, such as `provided.al2023`.
    pub runtime: Option<String>,
    /// The processor architecture of the binary.
    pub architecture: Option<String>,
}

impl Runtime {
    /// A process outside Lambda: only the architecture is known.
    pub fn local() -> Self {
        Self {
            in_lambda: false,
            architecture: Some(std::env::consts::ARCH.to_owned()),
            ..Self::default()
        }
    }
}

/// The facts of one Lambda invocation, put in the request extensions by the Lambda
/// adapter; absent on the local server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invocation {
    pub function_name: Option<String>,
    pub function_version: Option<String>,
    pub memory_limit_mb: Option<u32>,
    pub log_group: Option<String>,
    pub log_stream: Option<String>,
    pub lambda_request_id: Option<String>,
    pub api_request_id: Option<String>,
    pub stage: Option<String>,
    pub source_ip: Option<String>,
    pub trace_id: Option<String>,
}

/// The path prefix the client used in front of the API's own paths: empty locally, the
/// stage (`/prod`) or a custom domain's base path behind API Gateway. Links the service
/// returns (Location, welcome links, the docs' URLs) start with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BasePath(String);

impl BasePath {
    /// A prefix such as `/prod`; empty or `/` means none.
    pub fn new(prefix: &str) -> Self {
        let trimmed = prefix.trim_end_matches('/');
        if trimmed.is_empty() {
            return Self::default();
        }
        if trimmed.starts_with('/') {
            Self(trimmed.to_owned())
        } else {
            Self(format!("/{trimmed}"))
        }
    }

    /// The prefix, empty or starting with `/` and never ending with one.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for BasePath {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Self>().cloned().unwrap_or_default())
    }
}

/// A request the transport could not read whole (on Lambda: an event whose body is
/// marked base64 but is not, or whose Host header is not a host). The transport
/// passes a readable stand-in with this extension, and the service answers 400 with
/// the reason instead of running an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestDefect(pub String);

/// The body limit in force, put in the request extensions by the app so that a 413 can
/// say it (axum's `DefaultBodyLimit` enforces it but does not expose it to extractors).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// The body-read timeout in force, for the 408's detail (tower-http's deadline layer
/// enforces it).
#[derive(Debug, Clone, Copy)]
pub struct BodyReadTimeout(pub std::time::Duration);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_paths_are_normalised() {
        assert_eq!(BasePath::new("").as_str(), "");
        assert_eq!(BasePath::new("/").as_str(), "");
        assert_eq!(BasePath::new("prod").as_str(), "/prod");
        assert_eq!(BasePath::new("/prod/").as_str(), "/prod");
    }

    /// Yields its answers in turn, counting reads; each read takes 20 ms.
    #[derive(Debug)]
    struct Scripted {
        answers: std::sync::Mutex<Vec<Result<String, String>>>,
        reads: std::sync::atomic::AtomicUsize,
    }

    #[async_trait::async_trait]
    impl TokenSource for Arc<Scripted> {
        async fn read(&self) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
            self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.answers.lock().unwrap().remove(0).map_err(Into::into)
        }
    }

    fn scripted(answers: Vec<Result<String, String>>) -> (Arc<Scripted>, DeferredToken) {
        let source = Arc::new(Scripted {
            answers: std::sync::Mutex::new(answers),
            reads: 0.into(),
        });
        (Arc::clone(&source), DeferredToken::new(Box::new(source)))
    }

    #[tokio::test]
    async fn concurrent_first_writes_share_one_read_and_the_token_is_kept() {
        let (source, token) = scripted(vec![Ok("t0ken".to_owned())]);
        let (a, b, c) = tokio::join!(token.get(), token.get(), token.get());
        for got in [a, b, c] {
            assert_eq!(&*got.expect("read"), "t0ken");
        }
        assert_eq!(&*token.get().await.expect("kept"), "t0ken");
        assert_eq!(source.reads.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn concurrent_first_writes_behind_a_failing_read_share_its_failure() {
        let (source, token) = scripted(vec![Err("denied".to_owned()), Ok("t0ken".to_owned())]);
        let (a, b, c) = tokio::join!(token.get(), token.get(), token.get());
        for got in [a, b, c] {
            assert!(error_chain(&got.expect_err("the read failed")).contains("denied"));
        }
        assert_eq!(source.reads.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_read_is_answered_from_memory_for_a_second_then_retried() {
        let (source, token) = scripted(vec![Err("denied".to_owned()), Ok("t0ken".to_owned())]);
        let failed = token.get().await.expect_err("the source failed");
        assert_eq!(failed.retry_after, DeferredToken::RETRY_AFTER);
        assert_eq!(
            error_chain(&failed),
            "the bearer token is not available: denied"
        );
        let remembered = token.get().await.expect_err("within a second");
        assert!(error_chain(&remembered).contains("denied"), "{remembered}");
        assert_eq!(source.reads.load(std::sync::atomic::Ordering::SeqCst), 1);
        tokio::time::advance(DeferredToken::RETRY_AFTER).await;
        assert_eq!(&*token.get().await.expect("retried"), "t0ken");
        assert_eq!(source.reads.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
