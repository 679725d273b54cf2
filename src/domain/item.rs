//! Items: the stored entity, the request body that creates or replaces one, and the
//! validated fields the store accepts.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};
use uuid::Uuid;
use validator::{Validate, ValidationError, ValidationErrors};

/// What the API calls this resource in messages ("no item has this id").
pub const RESOURCE: &str = "item";
/// Longest accepted item name, in Unicode code points (JSON Schema `maxLength` counts the same way).
pub const NAME_MAX_CHARS: usize = 200;
/// Longest accepted item description, in Unicode code points.
pub const DESCRIPTION_MAX_CHARS: usize = 2000;
/// The contract's `pattern` for names: at least one character outside Unicode's
/// White_Space set (`char::is_whitespace`).
pub const NAME_NOT_BLANK_PATTERN: &str =
    r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";

/// Server-generated identifier of an item: a UUID (version 7, so ids sort by creation time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
#[schema(
    value_type = String,
    format = Uuid,
    example = "0193a6f0-7c2e-7d3a-9b1e-4f5a6b7c8d9e"
)]
#[serde(transparent)]
pub struct ItemId(Uuid);

impl ItemId {
    /// A fresh, time-ordered id (UUID v7).
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    /// Parses the hyphenated 36-character form that JSON Schema's `uuid` format names.
    /// Braced, URN and bare-hex forms are rejected so the server accepts exactly what the
    /// contract says.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 36 {
            return None;
        }
        Uuid::try_parse(text).ok().map(Self)
    }

    /// The id's 16 bytes, for compact cursors.
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// The id rebuilt from its 16 bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(Uuid::from_bytes(bytes))
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.as_hyphenated().fmt(f)
    }
}

/// An item as stored and returned by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a6f0-7c2e-7d3a-9b1e-4f5a6b7c8d9e",
    "name": "Test Item",
    "description": "AWS Lambda test",
    "created_at": "2026-11-24T10:15:30.123456Z",
    "updated_at": "2026-11-24T10:15:30.123456Z"
}))]
pub struct Item {
    pub id: ItemId,
    /// The item's name: 1 to 200 characters, not only whitespace.
    pub name: String,
    /// Free-text description, or null when the item has none.
    #[schema(required = true)]
    pub description: Option<String>,
    /// When the item was created (RFC 3339, UTC).
    pub created_at: DateTime<Utc>,
    /// When the item was last created or replaced (RFC 3339, UTC).
    pub updated_at: DateTime<Utc>,
    /// Bumped by every replace; sent as the strong `ETag` (not in the body).
    #[serde(skip)]
    pub version: Version,
}

/// An item's version: 1 when created, one more at each replace. Its `ETag` is the
/// number in quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u64);

impl Version {
    /// A new item's version.
    pub const FIRST: Self = Self(1);

    /// The strong entity tag of this version (RFC 9110 §8.8.3): `"3"`.
    pub fn etag(self) -> String {
        format!("\"{}\"", self.0)
    }

    /// The version an entity tag names, if it is one of ours (weak tags never are:
    /// If-Match compares strongly).
    pub fn from_etag(tag: &str) -> Option<Self> {
        let inner = tag.trim().strip_prefix('"')?.strip_suffix('"')?;
        inner.parse().ok().filter(|n| *n > 0).map(Self)
    }
}

impl Item {
    /// A new item with a fresh id, created now.
    pub fn create(fields: ItemFields) -> Self {
        let now = now();
        Self {
            id: ItemId::generate(),
            name: fields.name,
            description: fields.description,
            created_at: now,
            updated_at: now,
            version: Version::FIRST,
        }
    }
}

/// The current time at the precision every store keeps (microseconds), so an item
/// read back compares equal to the one written.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// The body that creates an item (`POST /api/items`) or replaces one (`PUT /api/items/{item_id}`).
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Test Item", "description": "AWS Lambda test"}))]
pub struct NewItem {
    #[schema(schema_with = name_schema)]
    #[validate(custom(function = "valid_name"))]
    pub name: String,
    #[schema(schema_with = description_schema)]
    #[validate(custom(function = "valid_description"))]
    #[serde(default)]
    pub description: Option<String>,
}

/// The contract's `NewItem.name`: its limits come from the constants the validation uses.
fn name_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(format!(
            "The item's name: 1 to {NAME_MAX_CHARS} characters, at least one of them not whitespace."
        )))
        .min_length(Some(1))
        .max_length(Some(NAME_MAX_CHARS))
        .pattern(Some(NAME_NOT_BLANK_PATTERN))
        .build()
}

/// The contract's `NewItem.description`.
fn description_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .description(Some(format!(
            "Free-text description, at most {DESCRIPTION_MAX_CHARS} characters; null or absent for none."
        )))
        .max_length(Some(DESCRIPTION_MAX_CHARS))
        .build()
}

/// 1 to [`NAME_MAX_CHARS`] characters (code points, as JSON Schema counts them), not
/// all of them whitespace. "Whitespace" is Unicode's White_Space property
/// (`char::is_whitespace`), the set [`NAME_NOT_BLANK_PATTERN`] spells out, so the
/// server and any JSON Schema validator agree on every input.
fn valid_name(name: &str) -> Result<(), ValidationError> {
    let length = name.chars().count();
    if !(1..=NAME_MAX_CHARS).contains(&length) {
        return Err(invalid(
            "length",
            format!("must be 1 to {NAME_MAX_CHARS} characters long"),
        ));
    }
    if name.chars().all(char::is_whitespace) {
        return Err(invalid(
            "blank",
            "must contain a character that is not whitespace".to_owned(),
        ));
    }
    Ok(())
}

/// At most [`DESCRIPTION_MAX_CHARS`] characters.
fn valid_description(description: &str) -> Result<(), ValidationError> {
    if description.chars().count() > DESCRIPTION_MAX_CHARS {
        return Err(invalid(
            "length",
            format!("must be at most {DESCRIPTION_MAX_CHARS} characters long"),
        ));
    }
    Ok(())
}

fn invalid(code: &'static str, message: String) -> ValidationError {
    let mut error = ValidationError::new(code);
    error.message = Some(message.into());
    error
}

/// The fields of an item after validation. Only [`TryFrom<NewItem>`] makes one outside
/// the stores, so every value that exists satisfies the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemFields {
    name: String,
    description: Option<String>,
}

impl ItemFields {
    /// The validated name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The validated description.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
}

impl TryFrom<NewItem> for ItemFields {
    type Error = ValidationErrors;

    fn try_from(input: NewItem) -> Result<Self, Self::Error> {
        input.validate()?;
        Ok(Self {
            name: input.name,
            description: input.description,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(name: &str, description: Option<&str>) -> Result<ItemFields, ValidationErrors> {
        ItemFields::try_from(NewItem {
            name: name.to_owned(),
            description: description.map(str::to_owned),
        })
    }

    #[test]
    fn name_length_counts_characters_not_bytes() {
        assert!(fields(&"é".repeat(200), None).is_ok());
        assert!(fields(&"é".repeat(201), None).is_err());
        assert!(fields("", None).is_err());
    }

    #[test]
    fn blank_names_are_rejected_for_every_unicode_space() {
        for blank in [" ", "\t\n", "\u{85}", "\u{a0}", "\u{2003}\u{3000}"] {
            let errors = fields(blank, None).expect_err(blank);
            assert!(errors.field_errors().contains_key("name"));
        }
        assert!(fields(" x ", None).is_ok());
        // U+FEFF is not White_Space in Unicode, nor in the contract's pattern.
        assert!(fields("\u{feff}", None).is_ok());
    }

    #[test]
    fn description_is_limited_to_2000_characters() {
        assert!(fields("n", Some(&"d".repeat(2000))).is_ok());
        let errors = fields("n", Some(&"d".repeat(2001))).expect_err("too long");
        assert!(errors.field_errors().contains_key("description"));
        assert!(fields("n", Some("")).is_ok());
    }

    #[test]
    fn versions_round_trip_through_strong_etags_only() {
        assert_eq!(Version(3).etag(), "\"3\"");
        assert_eq!(Version::from_etag("\"3\""), Some(Version(3)));
        assert_eq!(Version::from_etag(" \"12\" "), Some(Version(12)));
        for other in ["W/\"3\"", "3", "\"\"", "\"0\"", "\"x\"", "*"] {
            assert_eq!(Version::from_etag(other), None, "{other}");
        }
    }

    #[test]
    fn item_ids_parse_only_the_hyphenated_form() {
        let id = ItemId::generate();
        assert_eq!(ItemId::parse(&id.to_string()), Some(id));
        assert_eq!(ItemId::parse(&id.to_string().to_uppercase()), Some(id));
        let simple = id.to_string().replace('-', "");
        assert_eq!(ItemId::parse(&simple), None);
        assert_eq!(ItemId::parse(&format!("{{{id}}}")), None);
        assert_eq!(ItemId::parse("not-a-uuid-not-a-uuid-not-a-uuid-123"), None);
    }
}
