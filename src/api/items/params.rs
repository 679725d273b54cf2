//! The item operations' path and query parameters, parsed into domain types, and their
//! description in the contract (the limits come from the same constants).

use crate::context::AppState;
use crate::domain::idempotency::{KEY_MAX_CHARS, KEY_PATTERN};
use crate::domain::page::{CURSOR_PATTERN, DEFAULT_LIMIT, MAX_LIMIT, MIN_LIMIT};
use crate::domain::{Cursor, IdempotencyKey, ItemId, PageRequest, Version};
use crate::error::{ApiError, FieldError, InputLocation};
use axum::extract::{FromRequestParts, Path};
use axum::http::{header, request::Parts};
use utoipa::IntoParams;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};

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
            None => Some(DEFAULT_LIMIT),
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

/// A whole number from [`MIN_LIMIT`] to [`MAX_LIMIT`], in decimal digits. `5.0` counts
/// as 5: JSON Schema's integers include numbers with a zero fraction, and clients that
/// serialize them so must not be refused. Exponents (`1e1`), signs, and fractions that
/// only round to a whole number (`99.999999999999999`) are not integers and are refused.
fn parse_limit(text: &str) -> Result<u32, String> {
    let message = || format!("must be a whole number from {MIN_LIMIT} to {MAX_LIMIT}");
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    let zero_fraction =
        !text.contains('.') || (!fraction.is_empty() && fraction.bytes().all(|b| b == b'0'));
    if whole.is_empty() || !digits(whole) || !zero_fraction {
        return Err(message());
    }
    // Leading zeros aside, no digit left (zero) or more than three is out of range anyway.
    let significant = whole.trim_start_matches('0');
    let number: u32 = match significant.len() {
        1..=3 => significant.parse().map_err(|_| message())?,
        _ => return Err(message()),
    };
    if !(MIN_LIMIT..=MAX_LIMIT).contains(&number) {
        return Err(message());
    }
    Ok(number)
}

/// `limit` and `cursor`, as the contract describes them.
impl IntoParams for PageQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let limit = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
            .default(Some(DEFAULT_LIMIT.into()))
            .minimum(Some(MIN_LIMIT))
            .maximum(Some(MAX_LIMIT));
        let cursor = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(CURSOR_PATTERN));
        vec![
            ParameterBuilder::new()
                .name("limit")
                .parameter_in(ParameterIn::Query)
                .description(Some(format!(
                    "How many items to return, {MIN_LIMIT} to {MAX_LIMIT}."
                )))
                .required(Required::False)
                .schema(Some(limit))
                .build(),
            ParameterBuilder::new()
                .name("cursor")
                .parameter_in(ParameterIn::Query)
                .description(Some(
                    "The `next_cursor` of the previous page; absent for the first page.",
                ))
                .required(Required::False)
                .schema(Some(cursor))
                .build(),
        ]
    }
}

/// The `Idempotency-Key` header of createItem: absent, or a valid key. Malformed or
/// repeated: 400; absent while the service requires it: 428.
#[derive(Debug, Clone)]
pub struct IdempotencyKeyHeader(pub Option<IdempotencyKey>);

/// The header's name.
const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

impl FromRequestParts<AppState> for IdempotencyKeyHeader {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let mut values = parts.headers.get_all(IDEMPOTENCY_KEY).iter();
        let Some(value) = values.next() else {
            if state.writes.require_idempotency_key {
                return Err(ApiError::PreconditionRequired(IDEMPOTENCY_KEY));
            }
            return Ok(Self(None));
        };
        let key = (values.next().is_none())
            .then(|| value.to_str().ok().and_then(IdempotencyKey::parse))
            .flatten()
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "the {IDEMPOTENCY_KEY} header must be sent once, as 1 to {KEY_MAX_CHARS} visible ASCII characters"
                ))
            })?;
        Ok(Self(Some(key)))
    }
}

impl IntoParams for IdempotencyKeyHeader {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![header_parameter(
            IDEMPOTENCY_KEY,
            format!(
                "Makes a retried create safe: the same key with the same body answers the first \
                 response again (marked `Idempotent-Replayed: true`) and creates nothing; the same \
                 key with another body is refused (422). A key is remembered for 24 hours by \
                 default (IDEMPOTENCY_TTL_SECONDS). Send a new random key (a UUID) for each new item. \
                 1 to {KEY_MAX_CHARS} visible ASCII characters."
            ),
            Some(KEY_PATTERN),
        )]
    }
}

/// What `If-Match` asks of a replace or delete: nothing (absent), any current version
/// (`*`), or one version. Anything that is not `*` or one of our strong entity tags
/// (a weak tag, another server's tag, a list, text) names no version of ours, so the
/// precondition is false: 412 (RFC 9110 §13.1.1). Absent while the service requires
/// it: 428.
#[derive(Debug, Clone, Copy)]
pub struct IfMatch(pub Option<Version>);

impl FromRequestParts<AppState> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let values: Vec<&str> = parts
            .headers
            .get_all(header::IF_MATCH)
            .iter()
            .map(|value| value.to_str().unwrap_or("").trim())
            .collect();
        match values.as_slice() {
            [] if state.writes.require_if_match => Err(ApiError::PreconditionRequired("If-Match")),
            [] | ["*"] => Ok(Self(None)),
            [tag] => Ok(Self(Some(Version::from_etag(tag).unwrap_or(NO_VERSION)))),
            _ => Ok(Self(Some(NO_VERSION))),
        }
    }
}

/// A version no item has: what an `If-Match` that names none of ours asks for.
const NO_VERSION: Version = Version(u64::MAX);

impl IntoParams for IfMatch {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![header_parameter(
            "If-Match",
            "Applies the write only if the item is still in this version: the `ETag` of the \
             item as you last read it (`\"3\"`), or `*` for any version. Another version \
             (or any other value) answers 412 and changes nothing. Required when the service \
             runs with REQUIRE_IF_MATCH (428 without it)."
                .to_owned(),
            None,
        )]
    }
}

/// `If-None-Match` of getItem: the entity tags the client has; `*` matches any.
#[derive(Debug, Clone, Default)]
pub struct IfNoneMatch(pub Vec<String>);

impl IfNoneMatch {
    /// Whether the client already has `version` (weak comparison, RFC 9110 §13.1.2).
    pub fn matches(&self, version: Version) -> bool {
        self.0.iter().any(|tag| {
            tag == "*" || Version::from_etag(tag.trim_start_matches("W/")) == Some(version)
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IfNoneMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .headers
                .get_all(header::IF_NONE_MATCH)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(|tag| tag.trim().to_owned())
                .filter(|tag| !tag.is_empty())
                .collect(),
        ))
    }
}

impl IntoParams for IfNoneMatch {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![header_parameter(
            "If-None-Match",
            "The `ETag` of the copy you have: when the item is still in that version the \
             answer is 304 without a body."
                .to_owned(),
            None,
        )]
    }
}

/// An optional string header parameter of the contract.
fn header_parameter(name: &str, description: String, pattern: Option<&str>) -> Parameter {
    let mut schema = ObjectBuilder::new().schema_type(Type::String);
    if let Some(pattern) = pattern {
        schema = schema.pattern(Some(pattern));
    }
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .description(Some(description))
        .required(Required::False)
        .schema(Some(schema))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_accept_whole_numbers_in_range() {
        assert_eq!(parse_limit("1"), Ok(1));
        assert_eq!(parse_limit("100"), Ok(100));
        assert_eq!(parse_limit("5.0"), Ok(5));
        assert_eq!(parse_limit("007"), Ok(7));
        assert_eq!(parse_limit("100.000"), Ok(100));
        for bad in [
            "0",
            "101",
            "-1",
            "2.5",
            "",
            "abc",
            " 5",
            "NaN",
            "inf",
            "1e400",
            "1e1",
            "+5",
            "99.999999999999999",
            "5.",
            ".5",
            "0x10",
            "0005.0000001",
            "99999999999999999999",
        ] {
            assert!(parse_limit(bad).is_err(), "{bad:?}");
        }
    }
}
