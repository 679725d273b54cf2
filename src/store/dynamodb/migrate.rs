//! `items-api migrate`: moves a single-partition table to the sharded layout while the
//! service keeps serving it.
//!
//! 1. The layout item becomes "migrating to N shards" (written only if the table has
//!    no layout yet, or already says exactly that: a run that stopped resumes).
//! 2. It waits twice the layout refresh: by then every process serving the table has
//!    read the new layout at its next request, so each one writes new records to the
//!    shards and looks for records in the single partition first, then the shards.
//! 3. It scans the table for records in single partitions and moves each one with a
//!    transaction: put it on its shard (only if nothing is there), delete it from the
//!    single partition (only if it is unchanged since the scan read it). A record that
//!    changed meanwhile is read again and moved in its new state; one deleted
//!    meanwhile is left deleted. Passes repeat until one finds nothing to move (a
//!    process that had not yet read the new layout may have written to the single
//!    partition during the first pass).
//! 4. The layout item becomes "sharded to N shards".
//!
//! Each step is idempotent, so running the command again after any failure continues
//! where it stopped; nothing is lost or written twice (a record is in exactly one place
//! after every transaction).

use super::layout::{self, Kind, Layout, Place};
use super::{DynamoDbStore, Key, check_shards, lock, map_error};
use crate::store::StoreError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use std::collections::HashMap;
use std::time::Duration;

/// What a migration did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Items moved to their shards.
    pub items: u64,
    /// Idempotency keys moved to their shards.
    pub keys: u64,
    /// Scans of the table (the last one found nothing to move).
    pub passes: u32,
    /// The table was sharded already: nothing was done.
    pub already_sharded: bool,
}

/// How many times one record is read again and retried when it keeps changing under
/// the move (each retry follows a write by a client).
const MAX_RETRIES_PER_RECORD: u32 = 20;

/// Moves `store`'s table to `shards` shards per owner. `wait` is how long to let
/// running processes notice the migrating layout (twice their layout refresh).
pub async fn migrate(
    store: &DynamoDbStore,
    shards: u16,
    wait: Duration,
) -> Result<Report, StoreError> {
    let shards = check_shards(shards)?;
    let mut report = Report::default();
    match store.read_layout().await? {
        // Sharded already: one more sweep moves what a server that had not yet read the
        // layout wrote to the old place (one with a longer layout refresh than the wait).
        Layout::Sharded { shards: now } if now == shards => {
            report.already_sharded = true;
            report.passes = 1;
            move_pass(store, shards, &mut report).await?;
            return Ok(report);
        }
        Layout::Sharded { shards: now } | Layout::Migrating { shards: now } if now != shards => {
            return Err(StoreError::Other(
                format!(
                    "the table is sharded (or being sharded) to {now} shards, not {shards}: \
                     changing the shard count of a sharded table is not supported"
                )
                .into(),
            ));
        }
        Layout::Single => {
            store
                .write_layout(Layout::Migrating { shards }, None)
                .await?;
            tracing::info!(
                shards,
                wait_s = wait.as_secs(),
                "layout: migrating; waiting for every process to read it"
            );
            tokio::time::sleep(wait).await;
        }
        // Resuming: the processes read the migrating layout long ago.
        _ => {}
    }
    loop {
        report.passes += 1;
        let moved = move_pass(store, shards, &mut report).await?;
        tracing::info!(pass = report.passes, moved, "migration pass");
        if moved == 0 {
            break;
        }
    }
    store
        .write_layout(
            Layout::Sharded { shards },
            Some(Layout::Migrating { shards }),
        )
        .await?;
    *lock(&store.layout) = Some((Layout::Sharded { shards }, std::time::SystemTime::now()));
    Ok(report)
}

/// One scan of the whole table, moving every record found in a single partition;
/// how many it moved.
async fn move_pass(
    store: &DynamoDbStore,
    shards: u16,
    report: &mut Report,
) -> Result<u64, StoreError> {
    let mut moved = 0;
    let mut start: Option<Key> = None;
    loop {
        let output = store
            .client
            .scan()
            .table_name(&store.table)
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(map_error)?;
        for record in output.items() {
            let Some(AttributeValue::S(pk)) = record.get("pk") else {
                continue;
            };
            let Some((kind, owner)) = layout::parse_single(pk) else {
                continue;
            };
            if move_parsed(store, shards, kind, &owner, record.clone()).await? {
                moved += 1;
                match kind {
                    Kind::Item => report.items += 1,
                    Kind::Key => report.keys += 1,
                }
            }
        }
        match output.last_evaluated_key {
            Some(key) => start = Some(key),
            None => return Ok(moved),
        }
    }
}

/// Moves one record, as a scan read it (perhaps long ago), from its single partition
/// to its shard: `migrate`'s step for each record, public so a test can hand it a
/// stale copy. True when it moved the record, in its state now; false when the record
/// was gone (or, an expired key, only deleted). A record that is not in a single
/// partition is refused.
pub async fn move_record(
    store: &DynamoDbStore,
    shards: u16,
    record: HashMap<String, AttributeValue>,
) -> Result<bool, StoreError> {
    let parsed = match record.get("pk") {
        Some(AttributeValue::S(pk)) => layout::parse_single(pk),
        _ => None,
    };
    let (kind, owner) =
        parsed.ok_or_else(|| StoreError::Other("not a single-partition record".into()))?;
    move_parsed(store, check_shards(shards)?, kind, &owner, record).await
}

async fn move_parsed(
    store: &DynamoDbStore,
    shards: u16,
    kind: Kind,
    owner: &crate::domain::Owner,
    mut record: HashMap<String, AttributeValue>,
) -> Result<bool, StoreError> {
    for _ in 0..MAX_RETRIES_PER_RECORD {
        let (Some(AttributeValue::S(pk)), Some(AttributeValue::S(id))) =
            (record.get("pk").cloned(), record.get("id").cloned())
        else {
            return Err(crate::store::corrupt(
                "a record without pk or id".to_owned(),
            ));
        };
        let target = match kind {
            Kind::Item => layout::item_pk(Place::Sharded(shards), owner, &id),
            Kind::Key => layout::key_pk(Place::Sharded(shards), owner, &id),
        };
        let mut moved = record.clone();
        moved.insert("pk".to_owned(), AttributeValue::S(target));
        // The delete holds only while the record is exactly as read: every attribute
        // read is compared (a replace always changes `updated_at`, and `version`; a key
        // is never changed, only written anew after it expired).
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut conditions = Vec::new();
        for (index, (name, value)) in record.iter().enumerate() {
            names.insert(format!("#a{index}"), name.clone());
            values.insert(format!(":a{index}"), value.clone());
            conditions.push(format!("#a{index} = :a{index}"));
        }
        // An expired key is only deleted: a live key of the same name may be on the
        // shard already (made after this one expired).
        let expired = kind == Kind::Key
            && matches!(record.get(super::TTL_ATTRIBUTE), Some(AttributeValue::N(at))
                if at.parse::<i64>().is_ok_and(|at| at < chrono::Utc::now().timestamp()));
        let delete = Delete::builder()
            .table_name(&store.table)
            .set_key(Some(super::key(&pk, &id)))
            .condition_expression(conditions.join(" AND "))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| StoreError::Other(Box::new(e)))?;
        let mut transaction = store.client.transact_write_items();
        if !expired {
            let put = Put::builder()
                .table_name(&store.table)
                .set_item(Some(moved))
                .condition_expression("attribute_not_exists(id)")
                .build()
                .map_err(|e| StoreError::Other(Box::new(e)))?;
            transaction = transaction.transact_items(TransactWriteItem::builder().put(put).build());
        }
        let written = transaction
            .transact_items(TransactWriteItem::builder().delete(delete).build())
            .send()
            .await;
        let Err(error) = written else {
            return Ok(!expired);
        };
        let cancelled = error
            .as_service_error()
            .is_some_and(|e| e.is_transaction_canceled_exception());
        if !cancelled {
            return Err(map_error(error));
        }
        // Changed, deleted or (for a key) written anew meanwhile: read it again.
        let current = store
            .client
            .get_item()
            .table_name(&store.table)
            .set_key(Some(super::key(&pk, &id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(map_error)?;
        match current.item {
            Some(now) => record = now,
            None => return Ok(false),
        }
    }
    Err(StoreError::Unavailable {
        retry_after: Duration::from_secs(1),
        source: "a record kept changing while it was moved; run the migration again".into(),
    })
}
