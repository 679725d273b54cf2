//! Cursor pagination over items, ordered by id (and so by creation time).
//!
//! A cursor names the last item of the previous page; the next page starts after it.
//! That works the same for SQLite (`WHERE id > ?`) and for a key-value store whose
//! sort key is the id, stays correct when the named item has been deleted meanwhile, and
//! never skips or repeats an item when others are inserted between two pages.

use crate::domain::{Item, ItemId};
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};

/// Default page size when `limit` is absent.
pub const DEFAULT_LIMIT: u32 = 20;
/// Smallest page size a client may ask for.
pub const MIN_LIMIT: u32 = 1;
/// Largest page size a client may ask for.
pub const MAX_LIMIT: u32 = 100;
/// The contract's pattern of a cursor: 22 URL-safe base64 characters (16 bytes).
pub const CURSOR_PATTERN: &str = "^[A-Za-z0-9_-]{22}$";
/// The length of a cursor's text form.
const CURSOR_CHARS: usize = 22;

/// URL-safe base64 without padding. Trailing bits are allowed so that every string of
/// the contract's cursor pattern decodes: a syntactically valid cursor is never refused.
const CURSOR_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

/// An opaque position in the item list: the id of the last item already returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(ItemId);

impl Cursor {
    /// The cursor that continues after `id`.
    pub fn after(id: ItemId) -> Self {
        Self(id)
    }

    /// The id the next page starts after.
    pub fn last_id(&self) -> ItemId {
        self.0
    }

    /// The cursor's text form (22 URL-safe base64 characters).
    pub fn encode(&self) -> String {
        CURSOR_ENGINE.encode(self.0.as_bytes())
    }

    /// Reads a cursor produced by [`Cursor::encode`]; `None` for anything else.
    pub fn decode(text: &str) -> Option<Self> {
        if text.len() != CURSOR_CHARS {
            return None;
        }
        let bytes = CURSOR_ENGINE.decode(text).ok()?;
        let bytes: [u8; 16] = bytes.try_into().ok()?;
        Some(Self(ItemId::from_bytes(bytes)))
    }
}

/// What a client asked for: how many items, and where to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Page size, 1..=100.
    pub limit: u32,
    /// Start after this position; `None` for the first page.
    pub after: Option<Cursor>,
}

/// One page of items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ItemPage {
    /// The items of this page, oldest first.
    pub items: Vec<Item>,
    #[schema(required = true, schema_with = next_cursor_schema)]
    pub next_cursor: Option<String>,
}

/// The contract's `ItemPage.next_cursor`. Its single `example` is what the published
/// document carries (OpenAPI 3.1 still accepts the keyword utoipa marks deprecated).
#[allow(deprecated)]
fn next_cursor_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .description(Some(
            "Pass as `cursor` to get the next page; null on the last page.",
        ))
        .pattern(Some(CURSOR_PATTERN))
        .example(Some("AZOm8HwufTqbHk9aa3yNng".into()))
        .build()
}

impl ItemPage {
    /// Builds a page from up to `limit + 1` items read in id order: the extra item, when
    /// present, only proves that another page exists.
    pub fn from_lookahead(mut items: Vec<Item>, limit: u32) -> Self {
        let limit = limit as usize;
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|item| Cursor::after(item.id).encode())
        } else {
            None
        };
        Self { items, next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let id = ItemId::generate();
        let cursor = Cursor::after(id);
        let text = cursor.encode();
        assert_eq!(text.len(), 22);
        assert_eq!(Cursor::decode(&text), Some(cursor));
    }

    #[test]
    fn corrupt_cursors_are_refused() {
        for bad in [
            "",
            "abc",
            "!!!!!!!!!!!!!!!!!!!!!!",
            "AZOm8HwufTqbHk9aa3yNng==",
            "AZOm8HwufTqbHk9aa3yNn",
        ] {
            assert_eq!(Cursor::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn every_string_of_the_cursor_pattern_decodes() {
        // The last character carries 2 spare bits; all 64 choices must be accepted.
        for last in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".chars() {
            let text = format!("AAAAAAAAAAAAAAAAAAAAA{last}");
            assert!(Cursor::decode(&text).is_some(), "{text}");
        }
    }
}
