//! The DynamoDB store: where items live on AWS.
//!
//! Key design: each owner's items sit in one item collection, partition key `pk` =
//! `ITEM` for the shared owner (the key every item had before items had owners, so a
//! table written by an earlier release is the shared owner's as it stands) or
//! `ITEM#<subject>` for a user, and sort key `id` (a UUID v7, so the collection is in
//! creation order). Idempotency keys are kept per owner the same way (`IDEMPOTENCY`,
//! `IDEMPOTENCY#<subject>`). That gives
//! the SQLite store's semantics exactly: strongly consistent reads and lists, and
//! keyset pagination by id (`id > :after`), so a cursor is the same 16 bytes for both
//! stores. DynamoDB splits a hot item collection by sort-key range ("split for
//! heat"); its documented per-partition ceilings (1,000 writes/s, 3,000 reads/s) are
//! the limit of this design — see docs/dynamodb.md.
//!
//! Writes are conditional: create never overwrites (`attribute_not_exists`), replace
//! and delete of a missing item fail (`attribute_exists`) instead of creating one.

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
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put, ReturnValue,
    ScalarAttributeType, TransactWriteItem,
};
use chrono::Utc;
use std::collections::HashMap;
use std::time::Duration;

/// The partition key value of the shared owner's items; a user's is this, `#` and
/// their subject (see [`partition`]).
const PARTITION: &str = "ITEM";
/// The partition key of the shared owner's idempotency keys, apart from the items; a
/// user's is this, `#` and their subject.
const IDEMPOTENCY_PARTITION: &str = "IDEMPOTENCY";
/// The attribute DynamoDB's time to live deletes expired keys by (epoch seconds; the
/// SAM template enables it). Deletion lags, so reads compare it themselves.
const TTL_ATTRIBUTE: &str = "expires_at";
/// The partition key of the health check's probe, apart from the items.
const HEALTH_PARTITION: &str = "HEALTH";
/// How long clients are asked to wait after throttling or an outage.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Items in one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
}

impl DynamoDbStore {
    /// A store over `table`, using a client built once at start-up.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Creates the table with this store's key schema (on-demand billing), for local
    /// development against an emulator and for tests. On AWS, `template.yaml` creates it.
    pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
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
            .map_err(map_error)?;
        Ok(())
    }

    /// An item as stored: key, fields, timestamps, version.
    fn item_attributes(&self, owner: &Owner, item: &Item) -> HashMap<String, AttributeValue> {
        let mut attributes = self.key(owner, item.id);
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

    async fn get_item(&self, owner: &Owner, id: ItemId) -> Result<Item, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key(owner, id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(map_error)?;
        output.item.as_ref().map(read_item).ok_or(ITEM_NOT_FOUND)?
    }

    /// Why a conditional write of `id` failed: without an expected version only a
    /// missing item fails; with one, a strongly consistent read tells missing (404)
    /// from changed (412). The write itself was atomic; this only names the reason.
    async fn missing_or_changed(
        &self,
        owner: &Owner,
        id: ItemId,
        expected: Option<Version>,
    ) -> StoreError {
        if expected.is_none() {
            return ITEM_NOT_FOUND;
        }
        match self.get_item(owner, id).await {
            Ok(_) => StoreError::PreconditionFailed,
            Err(error) => error,
        }
    }

    /// The stored record of a key whose conditional write failed.
    async fn stored_outcome(
        &self,
        owner: &Owner,
        create: &IdempotentCreate,
    ) -> Result<IdempotentOutcome, StoreError> {
        let key = HashMap::from([
            (
                "pk".to_owned(),
                AttributeValue::S(partition(IDEMPOTENCY_PARTITION, owner)),
            ),
            (
                "id".to_owned(),
                AttributeValue::S(create.key.as_str().to_owned()),
            ),
        ]);
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(map_error)?;
        let record = output.item.ok_or_else(|| StoreError::Unavailable {
            retry_after: RETRY_AFTER,
            source: "the idempotency key expired while it was checked; retry".into(),
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

    fn key(&self, owner: &Owner, id: ItemId) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (
                "pk".to_owned(),
                AttributeValue::S(partition(PARTITION, owner)),
            ),
            ("id".to_owned(), AttributeValue::S(id.to_string())),
        ])
    }
}

/// The partition key value of `owner`'s records of a kind (`ITEM`, `IDEMPOTENCY`): the
/// kind alone for the shared owner, `<kind>#<subject>` for a user. No subject is empty,
/// so no user's value is the shared owner's.
fn partition(kind: &str, owner: &Owner) -> String {
    match owner.subject() {
        None => kind.to_owned(),
        Some(subject) => format!("{kind}#{subject}"),
    }
}

#[async_trait]
impl ItemStore for DynamoDbStore {
    fn backend(&self) -> &'static str {
        "dynamodb"
    }

    async fn insert(&self, owner: &Owner, item: &Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.item_attributes(owner, item)))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await
            .map_err(|e| map_conditional(e, StoreError::Conflict))?;
        Ok(())
    }

    /// One `TransactWriteItems`: the item (never overwriting one) and the key record
    /// (unless a live one exists). When the key's condition fails, the stored record
    /// is read (strongly consistent) and its fingerprint decides: replay or reuse.
    async fn insert_idempotent(
        &self,
        owner: &Owner,
        item: &Item,
        create: &IdempotentCreate,
    ) -> Result<IdempotentOutcome, StoreError> {
        let now = Utc::now().timestamp();
        let key_record = HashMap::from([
            (
                "pk".to_owned(),
                AttributeValue::S(partition(IDEMPOTENCY_PARTITION, owner)),
            ),
            (
                "id".to_owned(),
                AttributeValue::S(create.key.as_str().to_owned()),
            ),
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
        let built = |put: Result<Put, _>| {
            put.map(|put| TransactWriteItem::builder().put(put).build())
                .map_err(|e: aws_sdk_dynamodb::error::BuildError| StoreError::Other(Box::new(e)))
        };
        let item_put = built(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(self.item_attributes(owner, item)))
                .condition_expression("attribute_not_exists(id)")
                .build(),
        )?;
        let key_put = built(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(key_record))
                .condition_expression("attribute_not_exists(id) OR #expires_at < :now")
                .expression_attribute_names("#expires_at", TTL_ATTRIBUTE)
                .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                .build(),
        )?;
        let written = self
            .client
            .transact_write_items()
            .transact_items(item_put)
            .transact_items(key_put)
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
            return self.stored_outcome(owner, create).await;
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
        self.get_item(owner, id).await
    }

    async fn replace(
        &self,
        owner: &Owner,
        id: ItemId,
        fields: &ItemFields,
        expected: Option<Version>,
    ) -> Result<Item, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(owner, id)))
            .expression_attribute_names("#name", "name")
            .expression_attribute_names("#updated_at", "updated_at")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":name", AttributeValue::S(fields.name().to_owned()))
            .expression_attribute_values(":updated_at", AttributeValue::S(stored_timestamp(now())))
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
                .expression_attribute_values(":expected", AttributeValue::N(version.0.to_string())),
        };
        let output = match update.send().await {
            Ok(output) => output,
            Err(error) if is_condition_failure(&error) => {
                return Err(self.missing_or_changed(owner, id, expected).await);
            }
            Err(error) => return Err(map_error(error)),
        };
        let attributes = output
            .attributes
            .ok_or_else(|| StoreError::Other("UpdateItem returned no attributes".into()))?;
        read_item(&attributes)
    }

    async fn delete(
        &self,
        owner: &Owner,
        id: ItemId,
        expected: Option<Version>,
    ) -> Result<(), StoreError> {
        let mut delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.key(owner, id)));
        delete = match expected {
            None => delete.condition_expression("attribute_exists(id)"),
            Some(version) => delete
                .condition_expression(version_condition(version))
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":expected", AttributeValue::N(version.0.to_string())),
        };
        match delete.send().await {
            Ok(_) => Ok(()),
            Err(error) if is_condition_failure(&error) => {
                Err(self.missing_or_changed(owner, id, expected).await)
            }
            Err(error) => Err(map_error(error)),
        }
    }

    async fn list(&self, owner: &Owner, page: PageRequest) -> Result<ItemPage, StoreError> {
        let partition = partition(PARTITION, owner);
        let wanted = page.limit as usize + 1;
        let mut items = Vec::with_capacity(wanted);
        // A query stops at 1 MB; keep reading until the page and its lookahead are full.
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .scan_index_forward(true)
                .limit(i32::try_from(wanted - items.len()).unwrap_or(i32::MAX))
                .expression_attribute_values(":pk", AttributeValue::S(partition.clone()))
                .set_exclusive_start_key(start.take());
            query = match page.after {
                Some(cursor) => query
                    .key_condition_expression("pk = :pk AND id > :after")
                    .expression_attribute_values(
                        ":after",
                        AttributeValue::S(cursor.last_id().to_string()),
                    ),
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
        Ok(ItemPage::from_lookahead(items, page.limit))
    }

    /// Reads the probe key (proves the table answers reads) and makes a conditional
    /// write whose condition can never hold: DynamoDB checks the permission, the
    /// table's state and its capacity for the write, and refuses it without writing
    /// anything. `ConditionalCheckFailedException` is the healthy answer.
    async fn check(&self) -> Result<(), StoreError> {
        let probe = HashMap::from([
            (
                "pk".to_owned(),
                AttributeValue::S(HEALTH_PARTITION.to_owned()),
            ),
            ("id".to_owned(), AttributeValue::S("write-probe".to_owned())),
        ]);
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

    async fn warm_up(&self) -> Result<(), StoreError> {
        // One eventually consistent read of the probe's key (half a read unit): DNS,
        // the TCP connection, the TLS handshake and the signing path, before any request.
        self.client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(HEALTH_PARTITION.to_owned()))
            .key("id", AttributeValue::S("write-probe".to_owned()))
            .send()
            .await
            .map(drop)
            .map_err(|e| map_error(e).context("warm-up read"))
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
