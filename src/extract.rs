//! Extractors that turn raw requests into domain types, answering every rejection with
//! [`ApiError`] so framework errors look like all the others.
//!
//! `JsonBody` is written here rather than wrapping `axum::Json` because axum's data
//! error carries only a text message; the contract promises a structured list of
//! invalid fields with their JSON Pointers, which needs `serde_path_to_error`'s path
//! (the same crate axum uses inside) and the validator's per-field errors.

use crate::app::AppState;
use crate::domain::{Cursor, ItemId, PageRequest, page};
use crate::error::{ApiError, FieldError, InputLocation};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::{HeaderMap, StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;
use utoipa::IntoParams;

/// A JSON body, deserialized; its domain rules are checked when it becomes a domain type.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

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
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge { limit }
                } else {
                    ApiError::MalformedJson(rejection.body_text())
                }
            })?;
        parse_json(&bytes).map(Self)
    }
}

/// The body limit in force, put in the request extensions by the app for error details.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// `application/json` or any `application/*+json`, parameters (charset) ignored.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Syntax errors are 400; well-formed JSON of the wrong shape is 422 with its location.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let pointer = json_pointer(error.path());
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => ApiError::invalid(
                InputLocation::Body,
                pointer,
                strip_position(&inner.to_string()),
            ),
            _ => ApiError::MalformedJson(inner.to_string()),
        }
    })?;
    // Trailing characters after the value make the document malformed.
    deserializer
        .end()
        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    Ok(value)
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

/// The `item_id` path parameter, parsed.
#[derive(Debug, Clone, Copy)]
pub struct ItemPath(pub ItemId);

impl<S: Send + Sync> FromRequestParts<S> for ItemPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::invalid(InputLocation::Path, "item_id", e.body_text()))?;
        ItemId::parse(&raw).map(Self).ok_or_else(|| {
            ApiError::invalid(
                InputLocation::Path,
                "item_id",
                "must be a UUID in its hyphenated form",
            )
        })
    }
}

/// Query parameters of `listItems`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by hand in `PageQuery::from_request_parts`; this type documents them
pub struct ListItemsQuery {
    /// How many items to return, 1 to 100.
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page; absent for the first page.
    #[param(pattern = "^[A-Za-z0-9_-]{22}$")]
    cursor: Option<String>,
}

/// The page request of `listItems`, from its query string.
#[derive(Debug, Clone, Copy)]
pub struct PageQuery(pub PageRequest);

impl<S: Send + Sync> FromRequestParts<S> for PageQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let mut limit = None;
        let mut cursor = None;
        let mut errors = Vec::new();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let slot = match key.as_ref() {
                "limit" => &mut limit,
                "cursor" => &mut cursor,
                _ => continue,
            };
            if slot.replace(value.into_owned()).is_some() {
                errors.push(FieldError::new(
                    InputLocation::Query,
                    key.as_ref(),
                    "must be given at most once",
                ));
            }
        }
        let limit = match limit.as_deref().map(parse_limit) {
            None => Some(page::DEFAULT_LIMIT),
            Some(Ok(limit)) => Some(limit),
            Some(Err(message)) => {
                errors.push(FieldError::new(InputLocation::Query, "limit", message));
                None
            }
        };
        let after = match cursor.as_deref().map(Cursor::decode) {
            None => None,
            Some(Some(cursor)) => Some(cursor),
            Some(None) => {
                errors.push(FieldError::new(
                    InputLocation::Query,
                    "cursor",
                    "is not a cursor this API returned; pass a next_cursor value unchanged",
                ));
                None
            }
        };
        match limit {
            Some(limit) if errors.is_empty() => Ok(Self(PageRequest { limit, after })),
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

/// A whole number from 1 to 100. `5.0` counts as 5: JSON Schema's integers include
/// numbers with a zero fraction, and clients that serialize them so must not be refused.
fn parse_limit(text: &str) -> Result<u32, &'static str> {
    const MESSAGE: &str = "must be a whole number from 1 to 100";
    let number: f64 = text.parse().map_err(|_| MESSAGE)?;
    if number.fract() != 0.0 || !(1.0..=f64::from(page::MAX_LIMIT)).contains(&number) {
        return Err(MESSAGE);
    }
    // Exact: a whole number within 1..=100.
    Ok(number as u32)
}

/// Proof that a write carries the configured bearer token (or that none is configured).
#[derive(Debug, Clone, Copy)]
pub struct WriteAccess;

impl FromRequestParts<AppState> for WriteAccess {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(expected) = state.api_token.as_deref() else {
            return Ok(Self);
        };
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .ok_or(ApiError::Unauthorized)?;
        // Constant time for equal lengths; only the token's length can leak.
        if bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
            Ok(Self)
        } else {
            Err(ApiError::Unauthorized)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_accept_whole_numbers_in_range() {
        assert_eq!(parse_limit("1"), Ok(1));
        assert_eq!(parse_limit("100"), Ok(100));
        assert_eq!(parse_limit("5.0"), Ok(5));
        for bad in [
            "0", "101", "-1", "2.5", "", "abc", " 5", "NaN", "inf", "1e400",
        ] {
            assert!(parse_limit(bad).is_err(), "{bad:?}");
        }
    }

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
        let Err(ApiError::Validation(errors)) = parse_json::<Body>(br#"{"name": 1}"#) else {
            panic!("a number for a string is a data error");
        };
        assert_eq!(errors[0].field, "/name");
        let Err(ApiError::Validation(errors)) = parse_json::<Body>(br#"[]"#) else {
            panic!("an array for an object is a data error");
        };
        assert_eq!(errors[0].field, "");
    }
}
