//! Domain types: the rules of the API live here, not in handlers or stores.

pub mod item;
pub mod page;

pub use item::{Item, ItemFields, ItemId, NewItem};
pub use page::{Cursor, ItemPage, PageRequest};
