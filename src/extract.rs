//! Extractors any resource uses (a JSON body, write access), answering every rejection
//! with [`ApiError`] so framework errors look like all the others. A resource's own
//! path and query parameters live with its handlers.
//!
//! `JsonBody` is written here rather than wrapping `axum::Json` because axum's data
//! error carries only a text message; the contract promises a structured list of
//! invalid fields with their JSON Pointers, which needs `serde_path_to_error`'s path
//! (the same crate axum uses inside) and the validator's per-field errors.

use crate::auth::{AuthError, GatewayClaims, Refusal};
use crate::context::{AppState, BodyLimit, BodyReadTimeout, Callers, WriteToken};
use crate::domain::Owner;
use crate::error::{ApiError, InputLocation};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// A JSON body, deserialized; its domain rules are checked when it becomes a domain type.
#[derive(Debug)]
/// The body's bytes come along, as received: an idempotent create fingerprints them.
pub struct JsonBody<T>(pub T, pub Bytes);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(request.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let limit = request.extensions().get::<BodyLimit>().map_or(0, |l| l.0);
        let timeout = request
            .extensions()
            .get::<BodyReadTimeout>()
            .map_or(0, |t| t.0.as_secs());
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge { limit }
                } else if caused_by_timeout(&rejection) {
                    ApiError::RequestTimeout { seconds: timeout }
                } else {
                    ApiError::BadRequest(format!(
                        "the request body could not be read: {}",
                        rejection.body_text()
                    ))
                }
            })?;
        let value = parse_json(&bytes)?;
        Ok(Self(value, bytes))
    }
}

/// Whether reading the body failed because its deadline passed (tower-http's
/// `TimeoutError` somewhere in the error's source chain).
fn caused_by_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        current = error.source();
    }
    false
}

/// `application/json`, the one media type the contract lists for request bodies;
/// parameters (`charset=utf-8`) are ignored and the type is case-insensitive (RFC 9110
/// §8.3.1). Other JSON-flavoured types (`application/merge-patch+json`,
/// `application/problem+json`) mean something else and are refused with 415.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// Bytes that are not JSON are 400. JSON that is not an object (every request body of
/// the contract is one) or that breaks the body's shape is 422, with a JSON Pointer to
/// what is wrong.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    if !value.is_object() {
        return Err(ApiError::invalid(
            InputLocation::Body,
            "",
            format!("must be a JSON object, not {}", json_type(&value)),
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let pointer = json_pointer(error.path());
        ApiError::invalid(
            InputLocation::Body,
            pointer,
            strip_position(&error.into_inner().to_string()),
        )
    })
}

/// The JSON Schema name of a value's type.
fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// serde_path_to_error's path as an RFC 6901 JSON Pointer ("" for the whole body).
fn json_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|segment| match segment {
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Map { key } => Some(key.replace('~', "~0").replace('/', "~1")),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        })
        .fold(String::new(), |mut pointer, token| {
            pointer.push('/');
            pointer.push_str(&token);
            pointer
        })
}

/// serde_json appends " at line L column C"; the pointer already says where.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// A read's caller: the owner whose items it sees. In `token` mode reads need no
/// token and see the shared owner's items; otherwise they need a user's token.
#[derive(Debug, Clone)]
pub struct ReadAccess(pub Owner);

impl FromRequestParts<AppState> for ReadAccess {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match &state.callers {
            Callers::SharedToken => Ok(Self(Owner::Shared)),
            _ => user(parts, state).await.map(Self),
        }
    }
}

/// A write's caller: the owner whose items it changes. In `token` mode writes present
/// the configured token (or none is configured) and change the shared owner's items;
/// otherwise they need a user's token.
#[derive(Debug, Clone)]
pub struct WriteAccess(pub Owner);

impl FromRequestParts<AppState> for WriteAccess {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match &state.callers {
            Callers::SharedToken => shared_token(parts, state)
                .await
                .map(|()| Self(Owner::Shared)),
            _ => user(parts, state).await.map(Self),
        }
    }
}

/// The `Authorization: Bearer` credentials, if any.
fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
}

/// The user the request's credentials name: a verified bearer JWT (`jwt`), or the
/// claims of API Gateway's authorizer in the Lambda event (`gateway`).
async fn user(parts: &Parts, state: &AppState) -> Result<Owner, ApiError> {
    match &state.callers {
        Callers::Jwt(verifier) => {
            let token = bearer(parts).ok_or(ApiError::Unauthorized)?;
            verifier.verify(token).await.map_err(|error| match error {
                AuthError::Refused(refusal) => ApiError::InvalidToken(refusal),
                AuthError::KeysUnavailable {
                    retry_after,
                    source,
                } => ApiError::IssuerUnavailable {
                    retry_after,
                    source,
                },
            })
        }
        // Only the Lambda adapter puts claims in a request, from the event; the local
        // server never does, so gateway mode refuses every request it serves.
        Callers::Gateway => parts
            .extensions
            .get::<GatewayClaims>()
            .ok_or(ApiError::Unauthorized)?
            .owner()
            .map_err(ApiError::InvalidToken),
        Callers::SharedToken => Ok(Owner::Shared),
    }
}

/// Checks the shared token a write must carry (or that none is configured).
async fn shared_token(parts: &Parts, state: &AppState) -> Result<(), ApiError> {
    if let WriteToken::Open = state.write_token {
        return Ok(());
    }
    // A request without a bearer token is refused before the expected one is read.
    let presented = bearer(parts).ok_or(ApiError::Unauthorized)?;
    let expected = match &state.write_token {
        WriteToken::Open => return Ok(()),
        WriteToken::Known(token) => Arc::clone(token),
        // A token that does not match may be a rotated one: read the secret again
        // first (at most once per TOKEN_REFRESH_MIN_S).
        WriteToken::Deferred(deferred) => deferred
            .expected_for(presented)
            .await
            .map_err(ApiError::TokenUnavailable)?,
    };
    // Constant time for equal lengths; only the token's length can leak.
    if bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::InvalidToken(Refusal::NotTheToken))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_split_into_syntax_and_data() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Body {
            name: String,
        }
        assert!(matches!(
            parse_json::<Body>(b"{"),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(matches!(
            parse_json::<Body>(br#"{"name": "n"} x"#),
            Err(ApiError::MalformedJson(_))
        ));
        // Valid JSON of the wrong type is never "malformed", and never a struct.
        for not_an_object in [
            &br#"["n"]"#[..],
            br#"["x","d","e"]"#,
            b"null",
            b"1",
            br#""n""#,
        ] {
            let Err(ApiError::Validation(errors)) = parse_json::<Body>(not_an_object) else {
                panic!("{} is a data error", String::from_utf8_lossy(not_an_object));
            };
            assert_eq!(errors[0].field, "");
        }
        let Err(ApiError::Validation(errors)) = parse_json::<Body>(br#"{"name": 1}"#) else {
            panic!("a number for a string is a data error");
        };
        assert_eq!(errors[0].field, "/name");
        let Err(ApiError::Validation(errors)) = parse_json::<Body>(br#"[]"#) else {
            panic!("an array for an object is a data error");
        };
        assert_eq!(errors[0].field, "");
    }

    #[test]
    fn a_body_that_is_not_an_object_is_named_by_its_type() {
        for (body, kind) in [
            (&b"null"[..], "null"),
            (b"true", "a boolean"),
            (b"1.5", "a number"),
            (br#""n""#, "a string"),
            (b"[]", "an array"),
        ] {
            let Err(ApiError::Validation(errors)) = parse_json::<serde_json::Value>(body) else {
                panic!("{} is a data error", String::from_utf8_lossy(body));
            };
            assert_eq!(
                errors[0].message,
                format!("must be a JSON object, not {kind}")
            );
        }
        assert_eq!(json_type(&serde_json::json!({})), "an object");
    }

    #[tokio::test]
    async fn only_a_passed_deadline_in_the_chain_is_a_timeout() {
        use http_body_util::BodyExt;
        #[derive(Debug, thiserror::Error)]
        #[error("reading the body")]
        struct Reading(#[source] Box<dyn std::error::Error + Send + Sync>);
        let stalled = axum::body::Body::from_stream(futures_util::stream::pending::<
            Result<Bytes, std::io::Error>,
        >());
        let mut body = Box::pin(tower_http::timeout::TimeoutBody::new(
            std::time::Duration::from_millis(1),
            stalled,
        ));
        let passed = body
            .frame()
            .await
            .expect("the body ends in an error")
            .expect_err("the deadline passes");
        assert!(caused_by_timeout(&Reading(passed)));
        let reset = Reading(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        assert!(!caused_by_timeout(&reset));
        assert!(!caused_by_timeout(&std::io::Error::other("closed")));
    }
}
