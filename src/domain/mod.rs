//! Domain types: the rules of the API live here, not in handlers or stores.

pub mod idempotency;
pub mod item;
pub mod owner;
pub mod page;

pub use idempotency::{IdempotencyKey, IdempotentCreate, IdempotentOutcome, StoredResponse};
pub use item::{Item, ItemFields, ItemId, NewItem, Version};
pub use owner::Owner;
pub use page::{Cursor, ItemPage, PageRequest};
