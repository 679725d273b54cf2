//! Users: bearer JWTs verified against an OpenID Connect issuer's keys (`AUTH_MODE=jwt`),
//! and the claims API Gateway's authorizer verified (`AUTH_MODE=gateway`). Either way
//! the caller becomes an [`Owner`]; the extractors in `extract.rs` apply the mode.
//!
//! Verification follows RFC 7519 and RFC 8725 (JWT best practices): only RS256 and
//! ES256, and only with the key of the issuer's JSON Web Key Set that the token's `kid`
//! names and whose type fits the algorithm (so `alg: none` and HS256 keyed with the
//! public key are refused); then `iss`, the audience (`aud`, or for a Cognito access
//! token its `client_id`), `token_use` when the token has one, `exp` and `nbf` with a
//! leeway, and a `sub`. `jsonwebtoken` checks the signature and the standard claims;
//! this module finds the key and checks what Cognito adds.
//!
//! The keys are read when a token first needs them (never at start-up, so a cold start
//! that serves no token pays nothing), kept for `max_age`, and read again at once for
//! an unknown `kid` at most once per `refresh_min` (an issuer publishes a new key before
//! it signs with it).

use crate::domain::Owner;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The largest discovery document or key set read from an issuer.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// How long clients are asked to wait when the issuer's keys cannot be read.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// What `jwt` mode accepts (from the `Users` options of the configuration).
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// The exact `iss` claim; also where the discovery document is.
    pub issuer: String,
    /// What `aud` must contain (or a Cognito access token's `client_id` be).
    pub audience: String,
    /// The key set's URL, when not the discovery document's `jwks_uri`.
    pub jwks_url: Option<String>,
    /// `token_use` a token must have when it has one: `access` or `id`.
    pub token_use: &'static str,
    pub leeway: Duration,
    pub max_bytes: usize,
    pub max_age: Duration,
    pub refresh_min: Duration,
    pub timeout: Duration,
}

/// Why a bearer token was refused: the `error_description` of the 401 (RFC 6750).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the token is longer than this API accepts")]
    TooLong,
    #[error("the token is not a JWT signed with RS256 or ES256")]
    Malformed,
    #[error("the token's algorithm does not fit its key")]
    Algorithm,
    #[error("the token's key is not one of the issuer's")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is from another issuer")]
    Issuer,
    #[error("the token is for another audience")]
    Audience,
    #[error("the token is not the kind this API accepts (token_use)")]
    TokenUse,
    #[error("the token names no valid subject")]
    Subject,
    #[error("the token lacks a claim it must have (exp, iss) or has one of the wrong type")]
    Claims,
    #[error("the token is not the API's token")]
    NotTheToken,
}

/// Why a token could not be checked or was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The token was refused: 401.
    #[error("bearer token refused: {0}")]
    Refused(Refusal),
    /// The issuer's keys could not be read: 503, worth a retry.
    #[error("the issuer's keys could not be read")]
    KeysUnavailable {
        retry_after: Duration,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl From<Refusal> for AuthError {
    fn from(refusal: Refusal) -> Self {
        Self::Refused(refusal)
    }
}

/// Verifies bearer JWTs of one issuer and audience; cheap to clone.
#[derive(Debug, Clone)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

/// The HTTPS client that reads the issuer's documents.
type Https = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

#[derive(Debug)]
struct Inner {
    settings: JwtSettings,
    /// Made at the first read of the keys, not at start-up: loading the system's
    /// certificates is work a cold start that serves no token should not do.
    http: std::sync::OnceLock<Https>,
    keys: tokio::sync::RwLock<KeySet>,
    /// One read of the keys at a time; the others wait for it and use its result.
    reading: tokio::sync::Mutex<()>,
}

/// The issuer's keys as last read.
#[derive(Default)]
struct KeySet {
    by_kid: HashMap<String, (Algorithm, DecodingKey)>,
    read_at: Option<Instant>,
    /// When a read was last tried, successful or not.
    tried_at: Option<Instant>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("kids", &self.by_kid.keys().collect::<Vec<_>>())
            .field("read_at", &self.read_at)
            .finish()
    }
}

/// The claims this module reads; `jsonwebtoken` checks `exp`, `nbf` and `iss` itself.
#[derive(Debug, serde::Deserialize)]
struct Claims {
    sub: Option<String>,
    #[serde(default)]
    aud: Option<serde_json::Value>,
    client_id: Option<String>,
    token_use: Option<String>,
}

/// The issuer's URL or the key set's is neither HTTPS nor on this machine.
#[derive(Debug, thiserror::Error)]
#[error("{0} must be an https:// URL (http:// only for 127.0.0.1 or localhost)")]
pub struct InsecureUrl(String);

impl JwtVerifier {
    /// A verifier; nothing is read from the issuer until a token needs its keys.
    pub fn new(settings: JwtSettings) -> Result<Self, InsecureUrl> {
        for url in std::iter::once(&settings.issuer).chain(settings.jwks_url.as_ref()) {
            let loopback = [
                "http://127.0.0.1:",
                "http://127.0.0.1/",
                "http://localhost:",
            ]
            .iter()
            .any(|prefix| url.starts_with(prefix));
            if !url.starts_with("https://") && !loopback {
                return Err(InsecureUrl(url.clone()));
            }
        }
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                http: std::sync::OnceLock::new(),
                keys: tokio::sync::RwLock::default(),
                reading: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// The owner a bearer token names, once it is verified.
    pub async fn verify(&self, token: &str) -> Result<Owner, AuthError> {
        let settings = &self.inner.settings;
        if token.len() > settings.max_bytes {
            return Err(Refusal::TooLong.into());
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| Refusal::Malformed)?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(Refusal::Algorithm.into());
        }
        let kid = header.kid.ok_or(Refusal::UnknownKey)?;
        let (algorithm, key) = self.key(&kid).await?;
        if algorithm != header.alg {
            return Err(Refusal::Algorithm.into());
        }
        let mut validation = Validation::new(algorithm);
        validation.leeway = settings.leeway.as_secs();
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_issuer(&[&settings.issuer]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|error| refusal(error.kind()))?
            .claims;
        if let Some(token_use) = &claims.token_use
            && token_use != settings.token_use
        {
            return Err(Refusal::TokenUse.into());
        }
        if !for_audience(&claims, &settings.audience) {
            return Err(Refusal::Audience.into());
        }
        claims
            .sub
            .as_deref()
            .and_then(Owner::user)
            .ok_or(Refusal::Subject.into())
    }

    /// The key `kid` names: from the keys read, or from a new read when they are
    /// older than `max_age`, or when `kid` is unknown and no read was tried within
    /// `refresh_min`.
    async fn key(&self, kid: &str) -> Result<(Algorithm, DecodingKey), AuthError> {
        let settings = &self.inner.settings;
        let lookup = |keys: &KeySet| -> Lookup {
            let fresh = keys
                .read_at
                .is_some_and(|at| at.elapsed() < settings.max_age);
            match keys.by_kid.get(kid) {
                Some(found) if fresh => Lookup::Found(found.clone()),
                found => {
                    let may_read = keys
                        .tried_at
                        .is_none_or(|at| at.elapsed() >= settings.refresh_min);
                    if !fresh || (found.is_none() && may_read) {
                        Lookup::Read
                    } else {
                        Lookup::Unknown
                    }
                }
            }
        };
        match lookup(&*self.inner.keys.read().await) {
            Lookup::Found(found) => return Ok(found),
            Lookup::Unknown => return Err(Refusal::UnknownKey.into()),
            Lookup::Read => {}
        }
        let _reading = self.inner.reading.lock().await;
        // Another request may have read them while this one waited.
        match lookup(&*self.inner.keys.read().await) {
            Lookup::Found(found) => return Ok(found),
            Lookup::Unknown => return Err(Refusal::UnknownKey.into()),
            Lookup::Read => {}
        }
        let read = tokio::time::timeout(settings.timeout, self.read_keys()).await;
        let mut keys = self.inner.keys.write().await;
        keys.tried_at = Some(Instant::now());
        match read {
            Ok(Ok(by_kid)) => {
                keys.by_kid = by_kid;
                keys.read_at = Some(Instant::now());
            }
            Ok(Err(source)) => {
                tracing::warn!(error = %source, "reading the issuer's keys failed");
                return stale_or_unavailable(&keys, kid, source);
            }
            Err(elapsed) => {
                tracing::warn!(
                    timeout_ms = settings.timeout.as_millis() as u64,
                    "reading the issuer's keys timed out"
                );
                return stale_or_unavailable(&keys, kid, Box::new(elapsed));
            }
        }
        keys.by_kid
            .get(kid)
            .cloned()
            .ok_or(Refusal::UnknownKey.into())
    }

    /// The issuer's signing keys (RS256 and ES256 on P-256) by key id, from JWT_JWKS_URL
    /// or the discovery document's `jwks_uri`.
    async fn read_keys(
        &self,
    ) -> Result<HashMap<String, (Algorithm, DecodingKey)>, Box<dyn std::error::Error + Send + Sync>>
    {
        let settings = &self.inner.settings;
        let jwks_url = match &settings.jwks_url {
            Some(url) => url.clone(),
            None => {
                let discovery = format!(
                    "{}/.well-known/openid-configuration",
                    settings.issuer.trim_end_matches('/')
                );
                let document: serde_json::Value = self.get_json(&discovery).await?;
                document["jwks_uri"]
                    .as_str()
                    .ok_or("the discovery document has no jwks_uri")?
                    .to_owned()
            }
        };
        let set: JwkSet = self.get_json(&jwks_url).await?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = &jwk.common.key_id else {
                continue;
            };
            let algorithm = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Algorithm::RS256,
                AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                    Algorithm::ES256
                }
                _ => continue,
            };
            // A key marked for encryption only is not a signing key.
            if matches!(
                jwk.common.public_key_use,
                Some(jsonwebtoken::jwk::PublicKeyUse::Encryption)
            ) {
                continue;
            }
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                keys.insert(kid.clone(), (algorithm, key));
            }
        }
        Ok(keys)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
    ) -> Result<T, Box<dyn std::error::Error + Send + Sync>> {
        let uri: hyper::Uri = url.parse()?;
        let response = self.inner.http.get_or_init(https_client).get(uri).await?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()).into());
        }
        let body = Limited::new(response.into_body(), MAX_DOCUMENT_BYTES)
            .collect()
            .await?
            .to_bytes();
        Ok(serde_json::from_slice(&body)?)
    }
}

/// HTTPS (rustls with *ring*, the system's certificates or `SSL_CERT_FILE`), and plain
/// HTTP, which `JwtVerifier::new` allows only for a loopback issuer.
fn https_client() -> Https {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(provider)
        // No system certificates (a bare container): only the loopback issuer of tests
        // and local runs can be read; https fails with a clear error.
        .unwrap_or_else(|_| {
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(
                rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
            )
        })
        .https_or_http()
        .enable_http1()
        .build();
    Client::builder(TokioExecutor::new()).build(connector)
}

enum Lookup {
    Found((Algorithm, DecodingKey)),
    Read,
    Unknown,
}

/// After a failed read: the key as read before (an issuer's outage does not lock
/// users out while their key is known), else 503.
fn stale_or_unavailable(
    keys: &KeySet,
    kid: &str,
    source: Box<dyn std::error::Error + Send + Sync>,
) -> Result<(Algorithm, DecodingKey), AuthError> {
    keys.by_kid
        .get(kid)
        .cloned()
        .ok_or(AuthError::KeysUnavailable {
            retry_after: RETRY_AFTER,
            source,
        })
}

/// The audience check: `aud` (a string or an array) holds `audience`, or a Cognito
/// access token (no `aud`, `token_use` = `access`) was issued to the client `audience`.
fn for_audience(claims: &Claims, audience: &str) -> bool {
    match &claims.aud {
        Some(serde_json::Value::String(aud)) => aud == audience,
        Some(serde_json::Value::Array(auds)) => auds.iter().any(|aud| aud == audience),
        Some(_) => false,
        None => {
            claims.token_use.as_deref() == Some("access")
                && claims.client_id.as_deref() == Some(audience)
        }
    }
}

/// `jsonwebtoken`'s error as the reason given to the client.
fn refusal(kind: &jsonwebtoken::errors::ErrorKind) -> Refusal {
    use jsonwebtoken::errors::ErrorKind;
    match kind {
        ErrorKind::InvalidSignature => Refusal::Signature,
        ErrorKind::ExpiredSignature => Refusal::Expired,
        ErrorKind::ImmatureSignature => Refusal::NotYetValid,
        ErrorKind::InvalidIssuer => Refusal::Issuer,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => Refusal::Algorithm,
        ErrorKind::MissingRequiredClaim(_) | ErrorKind::Json(_) => Refusal::Claims,
        _ => Refusal::Malformed,
    }
}

/// The claims API Gateway's authorizer verified, as the Lambda event carries them
/// (REST API: `requestContext.authorizer.claims`, every value a string; HTTP API:
/// `requestContext.authorizer.jwt.claims`). Only `lambda.rs` makes one, from the
/// event, so no client of a local port can present one.
#[derive(Debug, Clone)]
pub struct GatewayClaims(pub serde_json::Map<String, serde_json::Value>);

impl GatewayClaims {
    /// The owner the claims' `sub` names.
    pub fn owner(&self) -> Result<Owner, Refusal> {
        self.0
            .get("sub")
            .and_then(serde_json::Value::as_str)
            .and_then(Owner::user)
            .ok_or(Refusal::Subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(
        aud: Option<serde_json::Value>,
        client_id: Option<&str>,
        token_use: Option<&str>,
    ) -> Claims {
        Claims {
            sub: Some("user".to_owned()),
            aud,
            client_id: client_id.map(str::to_owned),
            token_use: token_use.map(str::to_owned),
        }
    }

    #[test]
    fn the_audience_is_aud_or_a_cognito_access_tokens_client() {
        let api = "api-client";
        assert!(for_audience(
            &claims(Some("api-client".into()), None, None),
            api
        ));
        assert!(for_audience(
            &claims(Some(serde_json::json!(["other", "api-client"])), None, None),
            api
        ));
        assert!(!for_audience(
            &claims(Some("other".into()), None, None),
            api
        ));
        assert!(!for_audience(
            &claims(Some(serde_json::json!(1)), None, None),
            api
        ));
        assert!(for_audience(
            &claims(None, Some("api-client"), Some("access")),
            api
        ));
        // client_id counts only for an access token without aud.
        assert!(!for_audience(
            &claims(None, Some("api-client"), Some("id")),
            api
        ));
        assert!(!for_audience(&claims(None, Some("api-client"), None), api));
        assert!(!for_audience(
            &claims(None, Some("other"), Some("access")),
            api
        ));
        assert!(!for_audience(
            &claims(Some("other".into()), Some("api-client"), Some("access")),
            api
        ));
    }

    #[test]
    fn only_https_or_a_loopback_issuer_is_read() {
        let settings = |issuer: &str| JwtSettings {
            issuer: issuer.to_owned(),
            audience: "a".to_owned(),
            jwks_url: None,
            token_use: "access",
            leeway: Duration::ZERO,
            max_bytes: 8192,
            max_age: Duration::from_secs(60),
            refresh_min: Duration::from_secs(60),
            timeout: Duration::from_secs(1),
        };
        for good in [
            "https://issuer.example",
            "http://127.0.0.1:8080",
            "http://localhost:9",
        ] {
            assert!(JwtVerifier::new(settings(good)).is_ok(), "{good}");
        }
        for bad in [
            "http://issuer.example",
            "http://127.0.0.1.example.com",
            "ftp://x",
        ] {
            assert!(JwtVerifier::new(settings(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn gateway_claims_name_their_subject() {
        let claims =
            |value: serde_json::Value| GatewayClaims(value.as_object().expect("an object").clone());
        assert_eq!(
            claims(serde_json::json!({"sub": "u-1", "cognito:groups": "[a b]"})).owner(),
            Ok(Owner::User("u-1".to_owned()))
        );
        for bad in [
            serde_json::json!({}),
            serde_json::json!({"sub": ""}),
            serde_json::json!({"sub": 7}),
        ] {
            assert_eq!(claims(bad).owner(), Err(Refusal::Subject));
        }
    }
}
