//! The DynamoDB store: where items live on AWS.
//!
//! Key design: every item sits in one item collection, partition key `pk` = `ITEM`
//! and sort key `id` (a UUID v7, so the collection is in creation order). That gives
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
use crate::domain::{Item, ItemFields, ItemId, ItemPage, PageRequest, item::now};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ReturnValue,
    ScalarAttributeType,
};
use std::collections::HashMap;
use std::time::Duration;

/// The partition key value every item shares.
const PARTITION: &str = "ITEM";
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

    fn key(&self, id: ItemId) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("pk".to_owned(), AttributeValue::S(PARTITION.to_owned())),
            ("id".to_owned(), AttributeValue::S(id.to_string())),
        ])
    }
}

#[async_trait]
impl ItemStore for DynamoDbStore {
    fn backend(&self) -> &'static str {
        "dynamodb"
    }

    async fn insert(&self, item: &Item) -> Result<(), StoreError> {
        let mut attributes = self.key(item.id);
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
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(attributes))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await
            .map_err(|e| map_conditional(e, StoreError::Conflict))?;
        Ok(())
    }

    async fn get(&self, id: ItemId) -> Result<Item, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(map_error)?;
        output.item.as_ref().map(read_item).ok_or(ITEM_NOT_FOUND)?
    }

    async fn replace(&self, id: ItemId, fields: &ItemFields) -> Result<Item, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(id)))
            .condition_expression("attribute_exists(id)")
            .expression_attribute_names("#name", "name")
            .expression_attribute_names("#updated_at", "updated_at")
            .expression_attribute_values(":name", AttributeValue::S(fields.name().to_owned()))
            .expression_attribute_values(":updated_at", AttributeValue::S(stored_timestamp(now())))
            .return_values(ReturnValue::AllNew);
        update = match fields.description() {
            Some(description) => update
                .update_expression(
                    "SET #name = :name, #updated_at = :updated_at, #description = :description",
                )
                .expression_attribute_names("#description", "description")
                .expression_attribute_values(
                    ":description",
                    AttributeValue::S(description.to_owned()),
                ),
            None => update
                .update_expression(
                    "SET #name = :name, #updated_at = :updated_at REMOVE #description",
                )
                .expression_attribute_names("#description", "description"),
        };
        let output = update
            .send()
            .await
            .map_err(|e| map_conditional(e, ITEM_NOT_FOUND))?;
        let attributes = output
            .attributes
            .ok_or_else(|| StoreError::Other("UpdateItem returned no attributes".into()))?;
        read_item(&attributes)
    }

    async fn delete(&self, id: ItemId) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.key(id)))
            .condition_expression("attribute_exists(id)")
            .send()
            .await
            .map_err(|e| map_conditional(e, ITEM_NOT_FOUND))?;
        Ok(())
    }

    async fn list(&self, page: PageRequest) -> Result<ItemPage, StoreError> {
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
                .expression_attribute_values(":pk", AttributeValue::S(PARTITION.to_owned()))
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
