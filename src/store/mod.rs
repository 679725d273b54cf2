//! Item storage behind one trait, so the API runs on SQLite locally and on other
//! backends on AWS without a handler knowing which.

pub mod dynamodb;
pub mod layer;
pub mod sqlite;

use crate::domain::item;
use crate::domain::{
    IdempotentCreate, IdempotentOutcome, Item, ItemFields, ItemId, ItemPage, Owner, PageRequest,
    Version,
};
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use std::time::Duration;

pub use dynamodb::DynamoDbStore;
pub use layer::{Decorated, StoreLayer};
pub use sqlite::SqliteStore;

/// What went wrong in storage. It knows nothing of HTTP; `error.rs` maps it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No record of this resource has the key.
    #[error("{resource} not found")]
    NotFound { resource: &'static str },
    /// A record with that key already exists.
    #[error("a record with this key already exists")]
    Conflict,
    /// The record exists but not in the version the write was conditional on.
    #[error("the record has changed since the version the write names")]
    PreconditionFailed,
    /// The store cannot serve the request now; trying again later may work.
    #[error("store unavailable")]
    Unavailable {
        retry_after: Duration,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Any other failure: a bug or corrupt data, not the client's fault.
    #[error("store failed")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// The same error, saying which part of a check it comes from (`read`, `write`):
    /// its chain then reads "store unavailable: write: database or disk is full".
    pub fn context(self, part: &'static str) -> Self {
        let wrap = |source| Box::new(CheckPart { part, source });
        match self {
            Self::Unavailable {
                retry_after,
                source,
            } => Self::Unavailable {
                retry_after,
                source: wrap(source),
            },
            Self::Other(source) => Self::Other(wrap(source)),
            other => other,
        }
    }
}

/// Which part of a store check failed.
#[derive(Debug, thiserror::Error)]
#[error("{part}")]
struct CheckPart {
    part: &'static str,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

/// What stores answer when no item has the id.
const ITEM_NOT_FOUND: StoreError = StoreError::NotFound {
    resource: item::RESOURCE,
};

/// Storage of items, each with its [`Owner`]. Every method works within one owner's
/// items: another owner's item is not found (never a conflict or a precondition
/// failure that would tell its id exists), a list holds only the owner's items, and
/// idempotency keys are the owner's own (two owners may use the same key).
///
/// # Errors
/// Every implementation MUST return:
/// - [`StoreError::NotFound`] (resource [`item::RESOURCE`]) from `get`, `replace` and `delete` when no item has the id;
/// - [`StoreError::Conflict`] from `insert` when an item with the id exists (it is never overwritten);
/// - [`StoreError::PreconditionFailed`] from `replace` and `delete` when the item exists
///   in another version than the `expected` one (nothing is written; the check and the
///   write are one atomic operation of the backend);
/// - [`StoreError::Unavailable`] when the backend cannot be reached or is overloaded;
/// - [`StoreError::Other`] for anything else.
#[async_trait]
pub trait ItemStore: Send + Sync + std::fmt::Debug {
    /// A short name for health reports ("sqlite", "dynamodb").
    fn backend(&self) -> &'static str;

    /// Stores a new item of `owner`.
    async fn insert(&self, owner: &Owner, item: &Item) -> Result<(), StoreError>;

    /// Stores a new item together with its idempotency key, atomically: when the key
    /// is stored (and not expired) nothing is written, and the stored response is
    /// returned if the fingerprints match, [`IdempotentOutcome::KeyReused`] if not.
    /// Of concurrent calls with one key, exactly one returns `Created`.
    async fn insert_idempotent(
        &self,
        owner: &Owner,
        item: &Item,
        create: &IdempotentCreate,
    ) -> Result<IdempotentOutcome, StoreError>;

    /// Reads one item.
    async fn get(&self, owner: &Owner, id: ItemId) -> Result<Item, StoreError>;

    /// Replaces an item's fields, keeping its `created_at`, bumping its version, and
    /// returns it as stored; with `expected`, only if that is its version now.
    async fn replace(
        &self,
        owner: &Owner,
        id: ItemId,
        fields: &ItemFields,
        expected: Option<Version>,
    ) -> Result<Item, StoreError>;

    /// Deletes one item; with `expected`, only if that is its version now.
    async fn delete(
        &self,
        owner: &Owner,
        id: ItemId,
        expected: Option<Version>,
    ) -> Result<(), StoreError>;

    /// Lists items in id order, starting after the page request's cursor. Every item
    /// present for the whole walk is returned exactly once across the pages.
    async fn list(&self, owner: &Owner, page: PageRequest) -> Result<ItemPage, StoreError>;

    /// Proves the backend can serve reads and writes now; used by the health endpoint.
    /// An error says which part failed (see [`StoreError::context`]).
    async fn check(&self) -> Result<(), StoreError>;

    /// Does at start-up what the first request would otherwise pay for: a network
    /// store opens its connection (and TLS session) with one cheap read. On Lambda this
    /// runs in Init, which has the full CPU whatever the memory size. An error is only
    /// reported: the first request then tries again and answers as it must.
    async fn warm_up(&self) -> Result<(), StoreError>;
}

/// The whole storage of the service, as one backend provides it: what the state holds
/// and decorators wrap. A backend has it by implementing each resource's store trait;
/// a new resource adds its trait to the supertraits and to the implementation below,
/// and nothing that holds a `Store` changes.
pub trait Store: ItemStore {}

impl<T: ItemStore + ?Sized> Store for T {}

/// How every store writes a timestamp: fixed-width RFC 3339 with microseconds, so it
/// sorts as text and reads back to the same value.
fn stored_timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Reads a stored timestamp; anything else is corrupt data, not a client error.
fn parse_stored_timestamp(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| corrupt(format!("stored timestamp {text:?}: {e}")))
}

/// Reads a stored item id; anything else is corrupt data, not a client error.
fn parse_stored_id(text: &str) -> Result<ItemId, StoreError> {
    ItemId::parse(text).ok_or_else(|| corrupt(format!("stored id {text:?}")))
}

/// Stored data that is not a valid item: a bug or corruption, answered as a 500.
fn corrupt(message: String) -> StoreError {
    StoreError::Other(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_timestamps_read_back_exactly_and_sort_as_text() {
        let earlier = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.000007Z")
            .expect("valid")
            .with_timezone(&Utc);
        let later = earlier + chrono::Duration::microseconds(993);
        let (a, b) = (stored_timestamp(earlier), stored_timestamp(later));
        assert_eq!(a, "2026-01-02T03:04:05.000007Z");
        assert_eq!(a.len(), b.len());
        assert!(a < b);
        assert_eq!(parse_stored_timestamp(&a).expect("reads back"), earlier);
    }

    #[test]
    fn corrupt_stored_values_are_store_errors_not_panics() {
        for bad in ["", "yesterday", "2026-13-01T00:00:00Z"] {
            assert!(
                matches!(parse_stored_timestamp(bad), Err(StoreError::Other(_))),
                "{bad:?}"
            );
        }
        for bad in ["", "not-an-id", "01a20c1b27897"] {
            assert!(
                matches!(parse_stored_id(bad), Err(StoreError::Other(_))),
                "{bad:?}"
            );
        }
        let id = ItemId::generate();
        assert_eq!(parse_stored_id(&id.to_string()).expect("valid"), id);
    }
}
