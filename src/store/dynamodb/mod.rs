//! The DynamoDB store: where items live on AWS.
//!
//! Key design (`layout.rs`): each owner's items sit in item collections of their own,
//! sort key `id` (a UUID v7, so a collection is in creation order). A table made by
//! `items-api create-table --shards N` or moved by `items-api migrate` spreads each
//! owner's items over `N` partition key values, by a hash of the id, so creates are not
//! bound by one partition's ceiling (1,000 writes/s); `get`, `replace` and `delete`
//! address one shard, and `list` queries every shard of the owner in parallel with
//! `id > :after` and merges them by id. Tables of earlier releases keep one partition
//! key value per owner until migrated (`migrate.rs`). Either way the store has the
//! SQLite store's semantics: strongly consistent reads and lists, and keyset
//! pagination by id, so a cursor is the same 16 bytes for both stores and every item
//! present for a whole walk is listed exactly once. docs/dynamodb.md has the capacity
//! plan.
//!
//! Writes are conditional: create never overwrites (`attribute_not_exists`), replace
//! and delete of a missing item fail (`attribute_exists`) instead of creating one.

pub mod layout;
pub mod migrate;

use super::{
    ITEM_NOT_FOUND, ItemStore, StoreError, corrupt, parse_stored_id, parse_stored_timestamp,
    stored_timestamp,
};
use crate::domain::{
    IdempotentCreate, IdempotentOutcome, Item, ItemFields, ItemId, ItemPage, Owner, PageRequest,
    StoredResponse, Version, item::now,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, KeySchemaElement, KeyType,
    Put, ReturnValue, ScalarAttributeType, TableStatus, TransactWriteItem,
};
use chrono::Utc;
use layout::{LAYOUT_ID, LAYOUT_PK, Layout, Place};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// The attribute DynamoDB's time to live deletes expired keys by (epoch seconds; the
/// SAM template enables it). Deletion lags, so reads compare it themselves.
const TTL_ATTRIBUTE: &str = "expires_at";
/// The partition key of the health check's probe, apart from the items.
const HEALTH_PARTITION: &str = "HEALTH";
/// How long clients are asked to wait after throttling or an outage.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How long a process uses the layout it read before reading it again.
pub const DEFAULT_LAYOUT_REFRESH: Duration = Duration::from_secs(30);

/// Items in one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
    /// The layout last read, and when (wall-clock time: a Lambda environment frozen
    /// between invocations reads it again when it thaws); shared by the store's clones.
    layout: Arc<Mutex<Option<(Layout, SystemTime)>>>,
    layout_refresh: Duration,
}

/// A record's key: partition and sort key.
type Key = HashMap<String, AttributeValue>;

impl DynamoDbStore {
    /// A store over `table`, using a client built once at start-up.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            layout: Arc::default(),
            layout_refresh: DEFAULT_LAYOUT_REFRESH,
        }
    }

    /// The same store, reading the table's layout again after `refresh` (at the first
    /// call past it: a frozen Lambda environment reads it again when it thaws).
    #[must_use]
    pub fn with_layout_refresh(mut self, refresh: Duration) -> Self {
        self.layout_refresh = refresh;
        self
    }

    /// Creates the table with this store's key schema (on-demand billing) and its
    /// layout, `shards` partition key values per owner, for local development against an
    /// emulator, for tests, and for tables made by hand. The SAM template's table gets
    /// its layout from `items-api migrate`.
    pub async fn create_table(client: &Client, table: &str, shards: u16) -> Result<(), StoreError> {
        // Refused before anything is made: a table without its layout would be a
        // single-partition one.
        let shards = check_shards(shards)?;
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::Other(Box::new(e)))
        };
        let key = |name: &str, key_type| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
                .map_err(|e| StoreError::Other(Box::new(e)))
        };
        client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute("pk")?)
            .attribute_definitions(attribute("id")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("id", KeyType::Range)?)
            .send()
            .await
            .map_err(|error| {
                if error.code() == Some("ResourceInUseException") {
                    StoreError::Other(format!("table {table} exists already").into())
                } else {
                    map_error(error)
                }
            })?;
        wait_until_active(client, table).await?;
        // Expired idempotency keys are deleted by DynamoDB, as the template's table does.
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                    .attribute_name(TTL_ATTRIBUTE)
                    .enabled(true)
                    .build()
                    .map_err(|e| StoreError::Other(Box::new(e)))?,
            )
            .send()
            .await
            .map_err(map_error)?;
        let store = Self::new(client.clone(), table);
        store.write_layout(Layout::Sharded { shards }, None).await
    }

    /// The table's layout: the one read within `layout_refresh`, or read now.
    pub async fn layout(&self) -> Result<Layout, StoreError> {
        if let Some((layout, at)) = *lock(&self.layout)
            && at.elapsed().is_ok_and(|age| age < self.layout_refresh)
        {
            return Ok(layout);
        }
        let layout = self.read_layout().await?;
        *lock(&self.layout) = Some((layout, SystemTime::now()));
        Ok(layout)
    }

    /// Reads the layout item (strongly consistent); none is [`Layout::Single`].
    async fn read_layout(&self) -> Result<Layout, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(LAYOUT_PK.to_owned()))
            .key("id", AttributeValue::S(LAYOUT_ID.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(map_error)?;
        let Some(record) = output.item else {
            return Ok(Layout::Single);
        };
        let shards = match record.get("shards") {
            Some(AttributeValue::N(n)) => n
                .parse::<u16>()
                .ok()
                .filter(|n| (1..=layout::MAX_SHARDS).contains(n))
                .ok_or_else(|| corrupt(format!("layout item: shards {n:?}")))?,
            _ => return Err(corrupt("layout item without shards".to_owned())),
        };
        match record.get("state") {
            Some(AttributeValue::S(state)) if state == "sharded" => Ok(Layout::Sharded { shards }),
            Some(AttributeValue::S(state)) if state == "migrating" => {
                Ok(Layout::Migrating { shards })
            }
            other => Err(corrupt(format!("layout item: state {other:?}"))),
        }
    }

    /// Writes the layout item, only if it is still `expected` (`None`: absent).
    async fn write_layout(
        &self,
        layout: Layout,
        expected: Option<Layout>,
    ) -> Result<(), StoreError> {
        let (shards, state) = match layout {
            Layout::Sharded { shards } => (shards, "sharded"),
            Layout::Migrating { shards } => (shards, "migrating"),
            Layout::Single => {
                return Err(StoreError::Other("the single layout has no item".into()));
            }
        };
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(LAYOUT_PK.to_owned()))
            .item("id", AttributeValue::S(LAYOUT_ID.to_owned()))
            .item("shards", AttributeValue::N(shards.to_string()))
            .item("state", AttributeValue::S(state.to_owned()));
        put = match expected {
            None | Some(Layout::Single) => put.condition_expression("attribute_not_exists(pk)"),
            Some(Layout::Sharded { shards } | Layout::Migrating { shards }) => put
                .condition_expression("#shards = :shards AND #state = :state")
                .expression_attribute_names("#shards", "shards")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":shards", AttributeValue::N(shards.to_string()))
                .expression_attribute_values(
                    ":state",
                    AttributeValue::S(
                        if matches!(expected, Some(Layout::Migrating { .. })) {
                            "migrating"
                        } else {
                            "sharded"
                        }
                        .to_owned(),
                    ),
                ),
        };
        put.send().await.map_err(|error| {
            map_conditional(
                error,
                StoreError::Other(
                    "the table's layout changed meanwhile; run the command again".into(),
                ),
            )
        })?;
        *lock(&self.layout) = Some((layout, SystemTime::now()));
        Ok(())
    }

    /// An item as stored: key, fields, timestamps, version.
    fn item_attributes(&self, pk: &str, item: &Item) -> HashMap<String, AttributeValue> {
        let mut attributes = key(pk, &item.id.to_string());
        attributes.insert("name".to_owned(), AttributeValue::S(item.name.clone()));
        if let Some(description) = &item.description {
            attributes.insert(
                "description".to_owned(),
                AttributeValue::S(description.clone()),
            );
        }
        attributes.insert(
            "created_at".to_owned(),
            AttributeValue::S(stored_timestamp(item.created_at)),
        );
        attributes.insert(
            "updated_at".to_owned(),
            AttributeValue::S(stored_timestamp(item.updated_at)),
        );
        attributes.insert(
            "version".to_owned(),
            AttributeValue::N(item.version.0.to_string()),
        );
        attributes
    }

    /// `owner`'s item `id`, wherever the layout may keep it.
    async fn find(&self, layout: Layout, owner: &Owner, id: ItemId) -> Result<Item, StoreError> {
        let id_text = id.to_string();
        for place in layout.read_places() {
            let output = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(key(
                    &layout::item_pk(place, owner, &id_text),
                    &id_text,
                )))
                .consistent_read(true)
                .send()
                .await
                .map_err(map_error)?;
            if let Some(item) = output.item.as_ref() {
                return read_item(item);
            }
        }
        Err(ITEM_NOT_FOUND)
    }

    /// Why a conditional write of `id` failed in every place: without an expected
    /// version only a missing item fails; with one, a strongly consistent read tells
    /// missing (404) from changed (412). The write itself was atomic; this only names
    /// the reason.
    async fn missing_or_changed(
        &self,
        layout: Layout,
        owner: &Owner,
        id: ItemId,
        expected: Option<Version>,
    ) -> StoreError {
        if expected.is_none() {
            return ITEM_NOT_FOUND;
        }
        match self.find(layout, owner, id).await {
            Ok(_) => StoreError::PreconditionFailed,
            Err(error) => error,
        }
    }

    /// The stored record of a key whose conditional write failed, in partition `pk`.
    async fn stored_outcome(
        &self,
        pk: &str,
        create: &IdempotentCreate,
    ) -> Result<IdempotentOutcome, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, create.key.as_str())))
            .consistent_read(true)
            .send()
            .await
            .map_err(map_error)?;
        let record = output.item.ok_or_else(|| StoreError::Unavailable {
            retry_after: RETRY_AFTER,
            source: "the idempotency key expired or moved while it was checked; retry".into(),
        })?;
        let text = |name: &str| match record.get(name) {
            Some(AttributeValue::S(value)) => Ok(value.clone()),
            _ => Err(corrupt(format!("stored idempotency key has no {name:?}"))),
        };
        if text("fingerprint")? != create.fingerprint {
            return Ok(IdempotentOutcome::KeyReused);
        }
        let status = match record.get("status") {
            Some(AttributeValue::N(n)) => {
                n.parse().map_err(|_| corrupt(format!("status {n:?}")))?
            }
            _ => return Err(corrupt("stored idempotency key has no status".to_owned())),
        };
        Ok(IdempotentOutcome::Replayed(StoredResponse {
            status,
            location: text("location")?,
            body: text("body")?,
        }))
    }

    /// Up to `wanted` items of partition `pk` after `after`, in id order (a query stops
    /// at 1 MB: it reads on until it has them or the partition ends).
    async fn query_partition(
        &self,
        pk: String,
        after: Option<String>,
        wanted: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::with_capacity(wanted);
        let mut start: Option<Key> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .scan_index_forward(true)
                .limit(i32::try_from(wanted - items.len()).unwrap_or(i32::MAX))
                .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                .set_exclusive_start_key(start.take());
            query = match &after {
                Some(after) => query
                    .key_condition_expression("pk = :pk AND id > :after")
                    .expression_attribute_values(":after", AttributeValue::S(after.clone())),
                None => query.key_condition_expression("pk = :pk"),
            };
            let output = query.send().await.map_err(map_error)?;
            for attributes in output.items() {
                items.push(read_item(attributes)?);
            }
            match output.last_evaluated_key {
                Some(key) if items.len() < wanted => start = Some(key),
                _ => break,
            }
        }
        Ok(items)
    }

    /// One conditional update or delete of `id` in each place the layout may keep it,
    /// until one applies; `Ok(None)` when the condition failed everywhere.
    async fn in_place<T, F, Fut>(
        &self,
        layout: Layout,
        owner: &Owner,
        id: ItemId,
        write: F,
    ) -> Result<Option<T>, StoreError>
    where
        F: Fn(Key) -> Fut,
        Fut: std::future::Future<Output = Result<T, Conditional>>,
    {
        let id_text = id.to_string();
        for place in layout.read_places() {
            match write(key(&layout::item_pk(place, owner, &id_text), &id_text)).await {
                Ok(done) => return Ok(Some(done)),
                Err(Conditional::Failed) => {}
                Err(Conditional::Error(error)) => return Err(error),
            }
        }
        Ok(None)
    }
}

/// A conditional write's failure: its condition, or anything else.
enum Conditional {
    Failed,
    Error(StoreError),
}

impl<E, R> From<SdkError<E, R>> for Conditional
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    fn from(error: SdkError<E, R>) -> Self {
        if is_condition_failure(&error) {
            Self::Failed
        } else {
            Self::Error(map_error(error))
        }
    }
}

fn key(pk: &str, id: &str) -> Key {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk.to_owned())),
        ("id".to_owned(), AttributeValue::S(id.to_owned())),
    ])
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A shard count the layout allows.
fn check_shards(shards: u16) -> Result<u16, StoreError> {
    if (1..=layout::MAX_SHARDS).contains(&shards) {
        Ok(shards)
    } else {
        Err(StoreError::Other(
            format!("shards must be 1 to {}, not {shards}", layout::MAX_SHARDS).into(),
        ))
    }
}

/// Waits (up to a minute) until a table just created accepts writes.
async fn wait_until_active(client: &Client, table: &str) -> Result<(), StoreError> {
    for _ in 0..120 {
        let described = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(map_error)?;
        if described.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(StoreError::Unavailable {
        retry_after: RETRY_AFTER,
        source: format!("table {table} is not active after a minute").into(),
    })
}

#[async_trait]
impl ItemStore for DynamoDbStore {
    fn backend(&self) -> &'static str {
        "dynamodb"
    }

    async fn insert(&self, owner: &Owner, item: &Item) -> Result<(), StoreError> {
        let layout = self.layout().await?;
        let pk = layout::item_pk(layout.write_place(), owner, &item.id.to_string());
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.item_attributes(&pk, item)))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await
            .map_err(|e| map_conditional(e, StoreError::Conflict))?;
        Ok(())
    }

    /// One `TransactWriteItems`: the item (never overwriting one) and the key record
    /// (unless a live one exists; while the table is migrating, also unless a live one
    /// is still in the single partition). When a key's condition fails, the stored
    /// record is read (strongly consistent) and its fingerprint decides: replay or reuse.
    async fn insert_idempotent(
        &self,
        owner: &Owner,
        item: &Item,
        create: &IdempotentCreate,
    ) -> Result<IdempotentOutcome, StoreError> {
        let layout = self.layout().await?;
        let place = layout.write_place();
        let key_pk = layout::key_pk(place, owner, create.key.as_str());
        let now = Utc::now().timestamp().to_string();
        let mut key_record = key(&key_pk, create.key.as_str());
        key_record.extend([
            (
                "fingerprint".to_owned(),
                AttributeValue::S(create.fingerprint.clone()),
            ),
            (
                "status".to_owned(),
                AttributeValue::N(create.response.status.to_string()),
            ),
            (
                "location".to_owned(),
                AttributeValue::S(create.response.location.clone()),
            ),
            (
                "body".to_owned(),
                AttributeValue::S(create.response.body.clone()),
            ),
            (
                TTL_ATTRIBUTE.to_owned(),
                AttributeValue::N(create.expires_at.timestamp().to_string()),
            ),
        ]);
        let built = |item: Result<TransactWriteItem, aws_sdk_dynamodb::error::BuildError>| {
            item.map_err(|e| StoreError::Other(Box::new(e)))
        };
        let live_key_absent = "attribute_not_exists(id) OR #expires_at < :now";
        let item_pk = layout::item_pk(place, owner, &item.id.to_string());
        let mut transaction = vec![
            built(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(self.item_attributes(&item_pk, item)))
                    .condition_expression("attribute_not_exists(id)")
                    .build()
                    .map(|put| TransactWriteItem::builder().put(put).build()),
            )?,
            built(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(key_record))
                    .condition_expression(live_key_absent)
                    .expression_attribute_names("#expires_at", TTL_ATTRIBUTE)
                    .expression_attribute_values(":now", AttributeValue::N(now.clone()))
                    .build()
                    .map(|put| TransactWriteItem::builder().put(put).build()),
            )?,
        ];
        let single_key_pk = layout::key_pk(Place::Single, owner, create.key.as_str());
        if let Layout::Migrating { .. } = layout {
            transaction.push(built(
                ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(&single_key_pk, create.key.as_str())))
                    .condition_expression(live_key_absent)
                    .expression_attribute_names("#expires_at", TTL_ATTRIBUTE)
                    .expression_attribute_values(":now", AttributeValue::N(now))
                    .build()
                    .map(|check| TransactWriteItem::builder().condition_check(check).build()),
            )?);
        }
        let written = self
            .client
            .transact_write_items()
            .set_transact_items(Some(transaction))
            .send()
            .await;
        let Err(error) = written else {
            return Ok(IdempotentOutcome::Created);
        };
        let reasons: Vec<Option<String>> = error
            .as_service_error()
            .and_then(|e| match e {
                TransactWriteItemsError::TransactionCanceledException(cancelled) => Some(
                    cancelled
                        .cancellation_reasons()
                        .iter()
                        .map(|reason| reason.code().map(str::to_owned))
                        .collect(),
                ),
                _ => None,
            })
            .unwrap_or_default();
        let failed = |index: usize| {
            reasons
                .get(index)
                .and_then(Option::as_deref)
                .is_some_and(|code| code == "ConditionalCheckFailed")
        };
        if failed(1) {
            return self.stored_outcome(&key_pk, create).await;
        }
        if failed(2) {
            return self.stored_outcome(&single_key_pk, create).await;
        }
        if failed(0) {
            return Err(StoreError::Conflict);
        }
        // Cancelled for capacity or a concurrent transaction on the same items: worth a
        // retry, as the same errors outside a transaction are (the SDK does not retry a
        // cancelled transaction itself). API_TransactWriteItems.html lists the reasons.
        let transient = reasons.iter().flatten().any(|code| {
            matches!(
                code.as_str(),
                "ThrottlingError" | "ProvisionedThroughputExceeded" | "TransactionConflict"
            )
        });
        if transient {
            return Err(StoreError::Unavailable {
                retry_after: RETRY_AFTER,
                source: aws_sdk_dynamodb::error::DisplayErrorContext(error)
                    .to_string()
                    .into(),
            });
        }
        Err(map_error(error))
    }

    async fn get(&self, owner: &Owner, id: ItemId) -> Result<Item, StoreError> {
        let layout = self.layout().await?;
        self.find(layout, owner, id).await
    }

    async fn replace(
        &self,
        owner: &Owner,
        id: ItemId,
        fields: &ItemFields,
        expected: Option<Version>,
    ) -> Result<Item, StoreError> {
        let layout = self.layout().await?;
        let updated_at = stored_timestamp(now());
        let replaced = self
            .in_place(layout, owner, id, |key| {
                let mut update = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key))
                    .expression_attribute_names("#name", "name")
                    .expression_attribute_names("#updated_at", "updated_at")
                    .expression_attribute_names("#version", "version")
                    .expression_attribute_values(
                        ":name",
                        AttributeValue::S(fields.name().to_owned()),
                    )
                    .expression_attribute_values(
                        ":updated_at",
                        AttributeValue::S(updated_at.clone()),
                    )
                    .expression_attribute_values(":one", AttributeValue::N("1".to_owned()))
                    .return_values(ReturnValue::AllNew);
                let set = "SET #name = :name, #updated_at = :updated_at, \
                           #version = if_not_exists(#version, :one) + :one";
                update = match fields.description() {
                    Some(description) => update
                        .update_expression(format!("{set}, #description = :description"))
                        .expression_attribute_names("#description", "description")
                        .expression_attribute_values(
                            ":description",
                            AttributeValue::S(description.to_owned()),
                        ),
                    None => update
                        .update_expression(format!("{set} REMOVE #description"))
                        .expression_attribute_names("#description", "description"),
                };
                update = match expected {
                    None => update.condition_expression("attribute_exists(id)"),
                    Some(version) => update
                        .condition_expression(version_condition(version))
                        .expression_attribute_values(
                            ":expected",
                            AttributeValue::N(version.0.to_string()),
                        ),
                };
                async move {
                    let output = update.send().await?;
                    output.attributes.ok_or_else(|| {
                        Conditional::Error(StoreError::Other(
                            "UpdateItem returned no attributes".into(),
                        ))
                    })
                }
            })
            .await?;
        match replaced {
            Some(attributes) => read_item(&attributes),
            None => Err(self.missing_or_changed(layout, owner, id, expected).await),
        }
    }

    async fn delete(
        &self,
        owner: &Owner,
        id: ItemId,
        expected: Option<Version>,
    ) -> Result<(), StoreError> {
        let layout = self.layout().await?;
        let deleted = self
            .in_place(layout, owner, id, |key| {
                let mut delete = self
                    .client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(key));
                delete = match expected {
                    None => delete.condition_expression("attribute_exists(id)"),
                    Some(version) => delete
                        .condition_expression(version_condition(version))
                        .expression_attribute_names("#version", "version")
                        .expression_attribute_values(
                            ":expected",
                            AttributeValue::N(version.0.to_string()),
                        ),
                };
                async move {
                    delete.send().await?;
                    Ok(())
                }
            })
            .await?;
        match deleted {
            Some(()) => Ok(()),
            None => Err(self.missing_or_changed(layout, owner, id, expected).await),
        }
    }

    /// Every partition of the owner, each with `id > :after` and up to `limit + 1`
    /// items, merged by id: the page and its lookahead. The shards are read in
    /// parallel; while the table migrates, the single partition is read first (a
    /// record moves from it to a shard, never back, so it is seen in one or the other).
    async fn list(&self, owner: &Owner, page: PageRequest) -> Result<ItemPage, StoreError> {
        let layout = self.layout().await?;
        let wanted = page.limit as usize + 1;
        let after = page.after.map(|cursor| cursor.last_id().to_string());
        let mut items = Vec::new();
        for place in layout.read_places() {
            let queries = layout::item_pks(place, owner)
                .into_iter()
                .map(|pk| self.query_partition(pk, after.clone(), wanted));
            for partition in futures_util::future::try_join_all(queries).await? {
                items.extend(partition);
            }
        }
        items.sort_by_key(|item| item.id);
        items.dedup_by_key(|item| item.id);
        items.truncate(wanted);
        Ok(ItemPage::from_lookahead(items, page.limit))
    }

    /// Reads the probe key (proves the table answers reads) and makes a conditional
    /// write whose condition can never hold: DynamoDB checks the permission, the
    /// table's state and its capacity for the write, and refuses it without writing
    /// anything. `ConditionalCheckFailedException` is the healthy answer.
    async fn check(&self) -> Result<(), StoreError> {
        let probe = key(HEALTH_PARTITION, "write-probe");
        self.client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(probe.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| map_error(e).context("read"))?;
        let refused = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(probe))
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(pk)")
            .send()
            .await;
        match refused {
            Err(error) if error.code() == Some("ConditionalCheckFailedException") => Ok(()),
            Err(error) => Err(map_error(error).context("write")),
            Ok(_) => Err(StoreError::Other(
                "the health probe's impossible condition held; the probe item was written".into(),
            )
            .context("write")),
        }
    }

    /// Reads the table's layout (one strongly consistent read): DNS, the TCP
    /// connection, the TLS handshake and the signing path, before any request, and the
    /// layout every request needs.
    async fn warm_up(&self) -> Result<(), StoreError> {
        let layout = self.layout().await.map_err(|e| e.context("warm-up read"))?;
        match layout {
            Layout::Single => tracing::warn!(
                table = %self.table,
                "the table keeps each owner's items in one partition (no layout item): \
                 creates are bound by one partition's 1,000 writes/s; run `items-api migrate` \
                 (docs/dynamodb.md)"
            ),
            Layout::Migrating { shards } => {
                tracing::info!(table = %self.table, shards, "the table is being migrated to shards");
            }
            Layout::Sharded { shards } => {
                tracing::info!(table = %self.table, shards, "sharded table")
            }
        }
        Ok(())
    }
}

/// The condition of a write that needs the item in `version` (items stored before
/// versions existed have none, and count as version 1).
fn version_condition(version: Version) -> String {
    if version == Version::FIRST {
        "attribute_exists(id) AND (attribute_not_exists(#version) OR #version = :expected)"
            .to_owned()
    } else {
        "attribute_exists(id) AND #version = :expected".to_owned()
    }
}

fn is_condition_failure<E, R>(error: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    error.code() == Some("ConditionalCheckFailedException")
}

fn read_item(attributes: &HashMap<String, AttributeValue>) -> Result<Item, StoreError> {
    let text = |name: &str| -> Result<&str, StoreError> {
        match attributes.get(name) {
            Some(AttributeValue::S(value)) => Ok(value),
            _ => Err(corrupt(format!(
                "stored item has no text attribute {name:?}"
            ))),
        }
    };
    let parse_time = |name: &str| parse_stored_timestamp(text(name)?);
    let id = text("id")?;
    Ok(Item {
        id: parse_stored_id(id)?,
        name: text("name")?.to_owned(),
        description: match attributes.get("description") {
            Some(AttributeValue::S(value)) => Some(value.clone()),
            _ => None,
        },
        created_at: parse_time("created_at")?,
        updated_at: parse_time("updated_at")?,
        version: match attributes.get("version") {
            Some(AttributeValue::N(n)) => Version(
                n.parse()
                    .map_err(|_| corrupt(format!("stored version {n:?}")))?,
            ),
            _ => Version::FIRST,
        },
    })
}

/// A failed condition becomes `on_condition` (Conflict or NotFound); the rest as usual.
fn map_conditional<E, R>(error: SdkError<E, R>, on_condition: StoreError) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if error.code() == Some("ConditionalCheckFailedException") {
        return on_condition;
    }
    map_error(error)
}

/// Throttling, timeouts, an unreachable endpoint and server-side faults may pass:
/// `Unavailable` (503 with Retry-After). Everything else is a bug or misconfiguration.
fn map_error<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let transient = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(_) => matches!(
            error.code(),
            Some(
                "ProvisionedThroughputExceededException"
                    | "ThrottlingException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
                    | "ServiceUnavailable"
                    | "ResourceNotFoundException"
                    | "TransactionConflictException"
            )
        ),
        _ => false,
    };
    let source: Box<dyn std::error::Error + Send + Sync> =
        aws_sdk_dynamodb::error::DisplayErrorContext(error)
            .to_string()
            .into();
    if transient {
        StoreError::Unavailable {
            retry_after: RETRY_AFTER,
            source,
        }
    } else {
        StoreError::Other(source)
    }
}
