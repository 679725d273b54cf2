//! Request context every layer may read: the state built at start-up, the base path the
//! client used, the request id header, the body limit, and the facts of the runtime and
//! of one Lambda invocation.
//!
//! This module sits at the bottom of the crate (it imports only `config` and `store`),
//! so handlers, extractors, error rendering and the Lambda adapter can all share these
//! types without importing one another.

use crate::config::WriteConfig;
use crate::store::Store;
use axum::extract::FromRequestParts;
use axum::http::{HeaderName, request::Parts};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::time::Instant;

/// The request id header, accepted from the client or generated, and always returned.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What every handler may need, built once at start-up (once per cold start on Lambda).
#[derive(Debug, Clone)]
pub struct AppState {
    /// Where items live.
    pub store: Arc<dyn Store>,
    /// The bearer token writes need (`AUTH_MODE=token`).
    pub write_token: WriteToken,
    /// How callers are known, and so who owns what they read and write.
    pub callers: Callers,
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
    pub fn new(config: &WriteConfig) -> Self {
        Self {
            require_idempotency_key: config.require_idempotency_key,
            require_if_match: config.require_if_match,
            idempotency_ttl: std::time::Duration::from_secs(config.idempotency_ttl_seconds),
        }
    }
}

impl AppState {
    /// State for `config`, with `store` as the item store, running locally.
    pub fn new(config: &WriteConfig, store: Arc<dyn Store>) -> Self {
        Self {
            store,
            write_token: WriteToken::Open,
            callers: Callers::SharedToken,
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
    pub fn with_deferred_token(
        mut self,
        source: Box<dyn TokenSource>,
        refresh: TokenRefresh,
    ) -> Self {
        self.write_token = WriteToken::Deferred(Arc::new(DeferredToken::new(source, refresh)));
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

/// How callers are known (`AUTH_MODE`), and so whose items an operation sees.
#[derive(Debug, Clone)]
pub enum Callers {
    /// `token`: every caller is the shared owner; writes present the [`WriteToken`],
    /// reads nothing.
    SharedToken,
    /// `jwt`: every items operation presents a bearer JWT this verifier accepts; the
    /// caller is its subject.
    Jwt(crate::auth::JwtVerifier),
    /// `gateway`: API Gateway verified the caller; the Lambda event's claims
    /// ([`crate::auth::GatewayClaims`]) name the subject.
    Gateway,
}

/// The bearer token writes need.
#[derive(Debug, Clone)]
pub enum WriteToken {
    /// None: anyone who reaches the service may write.
    Open,
    /// This one, known at start-up (`API_TOKEN`).
    Known(Arc<str>),
    /// The one a [`TokenSource`] yields, read when a write first needs it and read
    /// again as its [`TokenRefresh`] says, so a rotated secret takes effect without a
    /// deploy.
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

/// When a deferred token is read again (`TOKEN_CACHE_TTL_S`, `TOKEN_REFRESH_MIN_S`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRefresh {
    /// How long a token read is used before the source is read again.
    pub ttl: Duration,
    /// Shortest time from one read of the source to a read that a write with a
    /// non-matching token causes.
    pub min_interval: Duration,
}

impl TokenRefresh {
    /// The refresh `config` sets.
    pub fn new(config: &WriteConfig) -> Self {
        Self {
            ttl: Duration::from_secs(config.token_cache_ttl_s),
            min_interval: Duration::from_secs(config.token_refresh_min_s),
        }
    }
}

/// A token read on first use, read again once it is [`TokenRefresh::ttl`] old, and
/// read early when a write presents another token (the secret may have been rotated),
/// at most once per [`TokenRefresh::min_interval`], so wrong tokens cannot run up
/// calls to the source.
///
/// Writes that need a read share one: the first read, and an early one, are awaited by
/// all; a write whose TTL re-read is already under way uses the token read last rather
/// than wait for it. After a failed read, writes are answered from memory for
/// [`DeferredToken::RETRY_AFTER`] instead of each calling the source again.
///
/// A failed re-read keeps the token read last in use for a while: a token the source
/// handed out is no less trusted because the source is unreachable for a few minutes,
/// and the alternative is refusing every write (503) until it answers. But not for ever:
/// a token is rotated because it leaked, and a source that stays unreadable (a disabled
/// key, an edited policy) must not keep the leaked one valid. So a failed re-read is
/// logged as a warning and the old token works on until it is
/// [`DeferredToken::MAX_STALE_TTLS`] TTLs old; past that, and after a failed first
/// read, writes answer 503 until a read succeeds.
#[derive(Debug)]
pub struct DeferredToken {
    source: Box<dyn TokenSource>,
    refresh: TokenRefresh,
    /// Held while the source is read.
    reading: tokio::sync::Mutex<()>,
    /// What the reads so far left; never held across an await.
    reads: std::sync::Mutex<Reads>,
}

/// What a [`DeferredToken`]'s reads so far left.
#[derive(Debug, Default)]
struct Reads {
    /// The token read last, and when.
    token: Option<(Arc<str>, Instant)>,
    /// When the source last answered, with a token or an error: early reads count
    /// from here, so failing early reads are limited too.
    answered: Option<Instant>,
    /// The last failure, if none succeeded since, and its reason.
    failed: Option<(Instant, String)>,
}

impl DeferredToken {
    /// How long a failed read is answered from memory before the source is asked again.
    pub const RETRY_AFTER: Duration = Duration::from_secs(1);
    /// How many TTLs old a token may get while the source cannot be read (15 minutes at
    /// the default TTL of 5); then writes answer 503 rather than trust it longer.
    pub const MAX_STALE_TTLS: u32 = 3;

    /// Whether a token read at `at` may still be used at `now` when no newer one can be
    /// had.
    fn usable(&self, at: Instant, now: Instant) -> bool {
        now.saturating_duration_since(at) < self.refresh.ttl * Self::MAX_STALE_TTLS
    }

    fn new(source: Box<dyn TokenSource>, refresh: TokenRefresh) -> Self {
        Self {
            source,
            refresh,
            reading: tokio::sync::Mutex::new(()),
            reads: std::sync::Mutex::new(Reads::default()),
        }
    }

    /// The token, read from the source the first time and again once it is older than
    /// the TTL.
    pub async fn get(&self) -> Result<Arc<str>, TokenUnavailable> {
        let ttl = self.refresh.ttl;
        let stale = {
            let reads = self.reads.lock().expect("never poisoned");
            match &reads.token {
                Some((token, at)) if at.elapsed() < ttl => return Ok(Arc::clone(token)),
                Some((token, at)) if self.usable(*at, Instant::now()) => Some(Arc::clone(token)),
                _ => None,
            }
        };
        self.read_unless(stale, |reads, now| {
            reads
                .token
                .as_ref()
                .is_some_and(|(_, at)| now.saturating_duration_since(*at) < ttl)
        })
        .await
    }

    /// The token to check `presented` against: [`Self::get`]'s, but when `presented`
    /// does not match it the source is read again first, unless it answered within the
    /// min interval. Compares in constant time for equal lengths, like the caller.
    pub async fn expected_for(&self, presented: &str) -> Result<Arc<str>, TokenUnavailable> {
        let token = self.get().await?;
        if same_token(presented, &token) {
            return Ok(token);
        }
        let min_interval = self.refresh.min_interval;
        self.read_unless(None, |reads, now| {
            reads
                .answered
                .is_some_and(|at| now.saturating_duration_since(at) < min_interval)
        })
        .await
    }

    /// Reads the source, one caller at a time, unless `enough` says what the reads
    /// so far left will do, or a read failed within [`Self::RETRY_AFTER`]. Both are
    /// checked on the caller's turn, so callers that queued behind a read use its
    /// answer. With a `stale` token a caller does not queue: it uses that one.
    async fn read_unless(
        &self,
        stale: Option<Arc<str>>,
        enough: impl Fn(&Reads, Instant) -> bool,
    ) -> Result<Arc<str>, TokenUnavailable> {
        let _turn = match (self.reading.try_lock(), stale) {
            (Ok(turn), _) => turn,
            (Err(_), Some(stale)) => return Ok(stale),
            (Err(_), None) => self.reading.lock().await,
        };
        {
            let reads = self.reads.lock().expect("never poisoned");
            let now = Instant::now();
            let failed = reads
                .failed
                .as_ref()
                .filter(|(at, _)| now.saturating_duration_since(*at) < Self::RETRY_AFTER)
                .map(|(_, why)| why);
            let usable = reads.token.as_ref().filter(|(_, at)| self.usable(*at, now));
            match (usable, failed) {
                (Some((token, _)), failed) if failed.is_some() || enough(&reads, now) => {
                    return Ok(Arc::clone(token));
                }
                (None, Some(why)) => {
                    return Err(TokenUnavailable {
                        retry_after: Self::RETRY_AFTER,
                        source: format!("{why} (a read failed within the last second)").into(),
                    });
                }
                _ => {}
            }
        }
        let answer = self.source.read().await;
        let now = Instant::now();
        let mut reads = self.reads.lock().expect("never poisoned");
        reads.answered = Some(now);
        match answer {
            Ok(token) => {
                let token: Arc<str> = Arc::from(token);
                if reads.token.as_ref().is_some_and(|(old, _)| *old != token) {
                    tracing::info!("the bearer token changed");
                }
                reads.token = Some((Arc::clone(&token), now));
                reads.failed = None;
                Ok(token)
            }
            Err(source) => {
                let why = error_chain(source.as_ref());
                reads.failed = Some((now, why.clone()));
                match &reads.token {
                    Some((token, at)) if self.usable(*at, now) => {
                        tracing::warn!(error = %why, "cannot read the bearer token again; the one read last stays in use");
                        Ok(Arc::clone(token))
                    }
                    Some(_) => {
                        tracing::error!(error = %why, "cannot read the bearer token again, and the one read last is too old to trust; writes answer 503");
                        Err(TokenUnavailable {
                            retry_after: Self::RETRY_AFTER,
                            source,
                        })
                    }
                    None => Err(TokenUnavailable {
                        retry_after: Self::RETRY_AFTER,
                        source,
                    }),
                }
            }
        }
    }
}

/// Whether `presented` is `expected`, in time that does not depend on where they
/// differ (only the length can leak).
fn same_token(presented: &str, expected: &str) -> bool {
    bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
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

/// A request whose target (path and query) is longer than the transport can carry; it
/// holds the transport's limit in bytes (on Lambda: the 65,534 of an `http::Uri`). The
/// transport passes `/` in its place with this extension, and the service answers 414.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetTooLong(pub usize);

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

    impl Scripted {
        fn reads(&self) -> usize {
            self.reads.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    /// The defaults: re-read after 300 s, early at most every 30 s.
    const REFRESH: TokenRefresh = TokenRefresh {
        ttl: Duration::from_secs(300),
        min_interval: Duration::from_secs(30),
    };

    fn scripted(answers: Vec<Result<String, String>>) -> (Arc<Scripted>, DeferredToken) {
        let source = Arc::new(Scripted {
            answers: std::sync::Mutex::new(answers),
            reads: 0.into(),
        });
        (
            Arc::clone(&source),
            DeferredToken::new(Box::new(source), REFRESH),
        )
    }

    fn ok(token: &str) -> Result<String, String> {
        Ok(token.to_owned())
    }

    fn err(why: &str) -> Result<String, String> {
        Err(why.to_owned())
    }

    #[tokio::test(start_paused = true)]
    async fn the_token_is_read_again_once_the_ttl_has_passed() {
        let (source, token) = scripted(vec![ok("old"), ok("new")]);
        assert_eq!(&*token.get().await.expect("read"), "old");
        tokio::time::advance(REFRESH.ttl - Duration::from_secs(1)).await;
        assert_eq!(&*token.get().await.expect("cached"), "old");
        assert_eq!(source.reads(), 1);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(&*token.get().await.expect("read again"), "new");
        assert_eq!(source.reads(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_writes_past_the_ttl_share_one_read_and_only_a_new_token_waits() {
        let (source, token) = scripted(vec![ok("old"), ok("new")]);
        token.get().await.expect("read");
        tokio::time::advance(REFRESH.ttl).await;
        let (first, old, new) = tokio::join!(
            token.get(),
            token.expected_for("old"),
            token.expected_for("new")
        );
        assert_eq!(&*first.expect("read again"), "new");
        // Did not wait for the read under way: compared with the token read last.
        assert_eq!(&*old.expect("the token read last"), "old");
        // Did not match the token read last: waited for the read under way.
        assert_eq!(&*new.expect("read again"), "new");
        assert_eq!(source.reads(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_mismatching_token_reads_again_early_but_not_within_the_min_interval() {
        let (source, token) = scripted(vec![ok("old"), ok("new")]);
        // A matching token never reads again before the TTL.
        assert_eq!(&*token.expected_for("old").await.expect("read"), "old");
        tokio::time::advance(REFRESH.min_interval - Duration::from_secs(1)).await;
        assert_eq!(&*token.expected_for("old").await.expect("cached"), "old");
        // Too soon after the last read: the mismatch is compared with the cached token.
        assert_eq!(&*token.expected_for("new").await.expect("cached"), "old");
        assert_eq!(source.reads(), 1);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            &*token.expected_for("new").await.expect("read early"),
            "new"
        );
        assert_eq!(source.reads(), 2);
        // The old token is refused from now on, without another read.
        assert_eq!(&*token.expected_for("old").await.expect("cached"), "new");
        assert_eq!(source.reads(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_flood_of_wrong_tokens_reads_at_most_once_per_min_interval() {
        let (source, token) = scripted(vec![ok("t0ken"); 100]);
        token.get().await.expect("read");
        // Ten wrong tokens at once every 100 ms, until just before the TTL.
        let start = tokio::time::Instant::now();
        while start.elapsed() < REFRESH.ttl - Duration::from_secs(1) {
            let wrong = (0..10).map(|_| token.expected_for("wrong"));
            for got in futures_util::future::join_all(wrong).await {
                assert_eq!(&*got.expect("the token"), "t0ken");
            }
            tokio::time::advance(Duration::from_millis(100)).await;
        }
        // One read at first, then one per 30 s: 9 in 299 s.
        assert_eq!(source.reads(), 1 + 9);
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_too_old_to_trust_is_refused_while_the_source_cannot_be_read() {
        let (source, token) = scripted(vec![
            ok("leaked"),
            err("AccessDenied"),
            err("AccessDenied"),
            err("AccessDenied"),
            ok("rotated"),
        ]);
        token.get().await.expect("read");
        // Just inside the limit the old token still works, the failure logged.
        tokio::time::advance(REFRESH.ttl * DeferredToken::MAX_STALE_TTLS - Duration::from_secs(2))
            .await;
        assert_eq!(&*token.get().await.expect("still usable"), "leaked");
        assert_eq!(source.reads(), 2);
        // Past it, writes get 503: neither a re-read that fails nor its remembered
        // failure hands the old token out again.
        tokio::time::advance(Duration::from_secs(3)).await;
        assert!(token.get().await.is_err(), "a token past the limit");
        assert!(
            token.expected_for("leaked").await.is_err(),
            "nor through the remembered failure"
        );
        assert_eq!(source.reads(), 3);
        tokio::time::advance(DeferredToken::RETRY_AFTER).await;
        assert!(token.expected_for("leaked").await.is_err());
        assert_eq!(source.reads(), 4);
        tokio::time::advance(DeferredToken::RETRY_AFTER).await;
        assert_eq!(&*token.get().await.expect("read again"), "rotated");
    }

    #[tokio::test(start_paused = true)]
    async fn writes_queued_behind_a_failing_read_never_get_a_token_past_the_limit() {
        let (source, token) = scripted(vec![ok("leaked"), err("AccessDenied")]);
        token.get().await.expect("read");
        tokio::time::advance(REFRESH.ttl * DeferredToken::MAX_STALE_TTLS + Duration::from_secs(1))
            .await;
        // The second does not take the old token while the first reads: it waits for
        // that read, and shares its failure.
        let (first, second) = tokio::join!(token.get(), token.get());
        assert!(first.is_err() && second.is_err(), "{first:?} {second:?}");
        assert_eq!(source.reads(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn failed_re_reads_keep_the_cached_token_and_are_retried_after_a_second() {
        let (source, token) = scripted(vec![
            ok("old"),
            err("throttled"),
            err("throttled"),
            ok("new"),
        ]);
        token.get().await.expect("read");
        tokio::time::advance(REFRESH.ttl).await;
        assert_eq!(&*token.get().await.expect("the cached token"), "old");
        assert_eq!(source.reads(), 2);
        // The failure is remembered for a second: no read.
        assert_eq!(&*token.expected_for("old").await.expect("cached"), "old");
        assert_eq!(source.reads(), 2);
        tokio::time::advance(DeferredToken::RETRY_AFTER).await;
        assert_eq!(&*token.get().await.expect("the cached token"), "old");
        assert_eq!(source.reads(), 3);
        tokio::time::advance(DeferredToken::RETRY_AFTER).await;
        assert_eq!(&*token.get().await.expect("read again"), "new");
        assert_eq!(source.reads(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_early_read_keeps_the_cached_token() {
        let (source, token) = scripted(vec![ok("old"), err("throttled"), ok("new")]);
        token.get().await.expect("read");
        tokio::time::advance(REFRESH.min_interval).await;
        assert_eq!(&*token.expected_for("new").await.expect("cached"), "old");
        assert_eq!(source.reads(), 2);
        assert_eq!(&*token.expected_for("old").await.expect("cached"), "old");
        // The failed read counts towards the min interval.
        tokio::time::advance(REFRESH.min_interval - Duration::from_secs(1)).await;
        assert_eq!(&*token.expected_for("new").await.expect("cached"), "old");
        assert_eq!(source.reads(), 2);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            &*token.expected_for("new").await.expect("read early"),
            "new"
        );
        assert_eq!(source.reads(), 3);
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
