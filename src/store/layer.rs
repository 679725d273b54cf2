//! Store decorators without copies: a [`StoreLayer`] says what happens around every
//! call of a store ([`Decorated`] forwards each [`ItemStore`] method through it), so a
//! decorator is one function, and a new store method is one method in `Decorated` and
//! its [`StoreOperation`] (a name for metrics and logs); no decorator changes.

use super::{ItemStore, Store, StoreError};
use crate::domain::{
    IdempotentCreate, IdempotentOutcome, Item, ItemFields, ItemId, ItemPage, Owner, PageRequest,
    Version,
};
use async_trait::async_trait;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A store call not yet started, as [`StoreLayer::around`] receives and returns it.
pub type StoreCall<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The [`ItemStore`] methods, named as metrics and logs name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOperation {
    Insert,
    InsertIdempotent,
    Get,
    Replace,
    Delete,
    List,
    Check,
    /// Start-up work, not a request's.
    WarmUp,
}

impl StoreOperation {
    /// The method's name (`insertIdempotent`), the `StoreOperation` metric dimension.
    pub fn name(self) -> &'static str {
        match self {
            Self::Insert => "insert",
            Self::InsertIdempotent => "insertIdempotent",
            Self::Get => "get",
            Self::Replace => "replace",
            Self::Delete => "delete",
            Self::List => "list",
            Self::Check => "check",
            Self::WarmUp => "warmUp",
        }
    }
}

/// What a decorator does around each call of the store it wraps.
pub trait StoreLayer: Send + Sync + std::fmt::Debug {
    /// Runs `call` (the wrapped store's answer to `operation`), or answers instead of it.
    fn around<'a, T: Send + 'a>(
        &'a self,
        operation: StoreOperation,
        call: StoreCall<'a, T>,
    ) -> StoreCall<'a, T>;

    /// The backend name health reports: the wrapped store's, unless the layer says otherwise.
    fn backend(&self, inner: &'static str) -> &'static str {
        inner
    }
}

/// `inner` with `layer` around every call.
#[derive(Debug)]
pub struct Decorated<L> {
    inner: Arc<dyn Store>,
    layer: L,
}

impl<L: StoreLayer> Decorated<L> {
    /// Wraps `inner` in `layer`.
    pub fn new(inner: Arc<dyn Store>, layer: L) -> Self {
        Self { inner, layer }
    }
}

#[async_trait]
impl<L: StoreLayer> ItemStore for Decorated<L> {
    fn backend(&self) -> &'static str {
        self.layer.backend(self.inner.backend())
    }

    async fn insert(&self, owner: &Owner, item: &Item) -> Result<(), StoreError> {
        let call = self.inner.insert(owner, item);
        self.layer.around(StoreOperation::Insert, call).await
    }

    async fn insert_idempotent(
        &self,
        owner: &Owner,
        item: &Item,
        create: &IdempotentCreate,
    ) -> Result<IdempotentOutcome, StoreError> {
        let call = self.inner.insert_idempotent(owner, item, create);
        self.layer
            .around(StoreOperation::InsertIdempotent, call)
            .await
    }

    async fn get(&self, owner: &Owner, id: ItemId) -> Result<Item, StoreError> {
        let call = self.inner.get(owner, id);
        self.layer.around(StoreOperation::Get, call).await
    }

    async fn replace(
        &self,
        owner: &Owner,
        id: ItemId,
        fields: &ItemFields,
        expected: Option<Version>,
    ) -> Result<Item, StoreError> {
        let call = self.inner.replace(owner, id, fields, expected);
        self.layer.around(StoreOperation::Replace, call).await
    }

    async fn delete(
        &self,
        owner: &Owner,
        id: ItemId,
        expected: Option<Version>,
    ) -> Result<(), StoreError> {
        let call = self.inner.delete(owner, id, expected);
        self.layer.around(StoreOperation::Delete, call).await
    }

    async fn list(&self, owner: &Owner, page: PageRequest) -> Result<ItemPage, StoreError> {
        let call = self.inner.list(owner, page);
        self.layer.around(StoreOperation::List, call).await
    }

    async fn check(&self) -> Result<(), StoreError> {
        let call = self.inner.check();
        self.layer.around(StoreOperation::Check, call).await
    }

    async fn warm_up(&self) -> Result<(), StoreError> {
        let call = self.inner.warm_up();
        self.layer.around(StoreOperation::WarmUp, call).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;
    use std::sync::Mutex;

    /// Records each operation, and refuses deletes.
    #[derive(Debug, Default)]
    struct Recorder(Mutex<Vec<StoreOperation>>);

    impl StoreLayer for Recorder {
        fn around<'a, T: Send + 'a>(
            &'a self,
            operation: StoreOperation,
            call: StoreCall<'a, T>,
        ) -> StoreCall<'a, T> {
            self.0.lock().expect("not poisoned").push(operation);
            if operation == StoreOperation::Delete {
                return Box::pin(async { Err(StoreError::Conflict) });
            }
            call
        }

        fn backend(&self, inner: &'static str) -> &'static str {
            if inner == "sqlite" { "recorded" } else { inner }
        }
    }

    fn fields(name: &str) -> ItemFields {
        ItemFields::try_from(crate::domain::NewItem {
            name: name.to_owned(),
            description: None,
        })
        .expect("valid fields")
    }

    #[tokio::test]
    async fn every_method_goes_through_the_layer_and_reaches_the_store() {
        let inner = Arc::new(SqliteStore::in_memory().expect("opens"));
        let store = Decorated::new(inner, Recorder::default());
        let item = Item::create(fields("name"));
        store.insert(&Owner::Shared, &item).await.expect("inserted");
        assert_eq!(
            store.get(&Owner::Shared, item.id).await.expect("read back"),
            item
        );
        let replaced = store
            .replace(&Owner::Shared, item.id, &fields("renamed"), None)
            .await
            .expect("replaced");
        assert_eq!(replaced.name, "renamed");
        assert!(matches!(
            store.delete(&Owner::Shared, item.id, None).await,
            Err(StoreError::Conflict)
        ));
        let page = store
            .list(
                &Owner::Shared,
                PageRequest {
                    limit: 10,
                    after: None,
                },
            )
            .await
            .expect("listed");
        assert_eq!(
            page.items.len(),
            1,
            "the refused delete never reached the store"
        );
        store.check().await.expect("healthy");
        store.warm_up().await.expect("warm");
        let other = Item::create(fields("other"));
        let create = IdempotentCreate {
            key: crate::domain::IdempotencyKey::parse("key-1").expect("a valid key"),
            fingerprint: "f".to_owned(),
            response: crate::domain::StoredResponse {
                status: 201,
                location: format!("/api/items/{}", other.id),
                body: "{}".to_owned(),
            },
            expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
        };
        store
            .insert_idempotent(&Owner::Shared, &other, &create)
            .await
            .expect("stored");
        assert_eq!(
            store
                .get(&Owner::Shared, other.id)
                .await
                .expect("stored once"),
            other
        );
        assert_eq!(store.backend(), "recorded");
        use StoreOperation::*;
        assert_eq!(
            *store.layer.0.lock().expect("not poisoned"),
            [
                Insert,
                Get,
                Replace,
                Delete,
                List,
                Check,
                WarmUp,
                InsertIdempotent,
                Get
            ]
        );
        let names = [
            Insert,
            InsertIdempotent,
            Get,
            Replace,
            Delete,
            List,
            Check,
            WarmUp,
        ]
        .map(StoreOperation::name);
        assert_eq!(
            names,
            [
                "insert",
                "insertIdempotent",
                "get",
                "replace",
                "delete",
                "list",
                "check",
                "warmUp"
            ]
        );
    }

    /// Passes every call through, saying nothing of the backend.
    #[derive(Debug)]
    struct PassThrough;

    impl StoreLayer for PassThrough {
        fn around<'a, T: Send + 'a>(
            &'a self,
            _: StoreOperation,
            call: StoreCall<'a, T>,
        ) -> StoreCall<'a, T> {
            call
        }
    }

    #[test]
    fn a_layer_reports_the_wrapped_backend_unless_it_says_otherwise() {
        let inner = Arc::new(SqliteStore::in_memory().expect("opens"));
        assert_eq!(Decorated::new(inner, PassThrough).backend(), "sqlite");
    }
}
