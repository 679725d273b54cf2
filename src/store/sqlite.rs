//! The embedded SQLite store: the local default.
//!
//! WAL mode, one writer connection and a few read-only ones.
//!
//! - Writes run on tokio's blocking pool: a commit can fsync (at a WAL checkpoint), so
//!   it must not stall an async worker. WAL with `synchronous=NORMAL` keeps every
//!   committed write across a crash of the process (`kill -9`): the commit is in the WAL
//!   file before the response is sent. Only a power loss or OS crash can drop the last
//!   commits, never corrupt the file (<https://www.sqlite.org/wal.html#durability>).
//! - Reads run inline on the calling task, each on a free reader connection. In WAL
//!   mode a reader never waits for the writer, and a read of this table takes a few
//!   microseconds: handing it to the blocking pool cost more than the query itself
//!   (thread wake-ups dominated the profile; see docs/performance.md).
//!
//! `:memory:` databases are private to one connection, so they use the writer for
//! reads too (tests and throw-away runs).

use super::{
    ITEM_NOT_FOUND, ItemStore, StoreError, parse_stored_id, parse_stored_timestamp,
    stored_timestamp,
};
use crate::domain::{Item, ItemFields, ItemId, ItemPage, PageRequest, item::now};
use async_trait::async_trait;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, Row, params};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a writer waits for a lock held by another connection or process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a reader waits (only WAL recovery by another process can make it wait).
const READER_BUSY_TIMEOUT: Duration = Duration::from_millis(200);
/// Read-only connections of a file database: more than the cores that read at once.
const READERS: usize = 4;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    description TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) WITHOUT ROWID;
";

/// Items in a SQLite database file (or in memory, for tests).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: Arc<Mutex<Connection>>,
    /// Empty for `:memory:`, whose reads use the writer.
    readers: Arc<[Mutex<Connection>]>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and its parent folder. The path
    /// `:memory:` gives a private in-memory database.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if path != Path::new(":memory:")
            && let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Other(Box::new(e)))?;
        }
        let connection = Connection::open(path).map_err(map_error)?;
        connection.busy_timeout(BUSY_TIMEOUT).map_err(map_error)?;
        // journal_mode answers with a row, so it is read rather than executed.
        let _mode: String = connection
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(map_error)?;
        connection
            .execute_batch("PRAGMA synchronous = NORMAL;")
            .map_err(map_error)?;
        connection.execute_batch(SCHEMA).map_err(map_error)?;
        let readers = if path == Path::new(":memory:") {
            Vec::new()
        } else {
            (0..READERS)
                .map(|_| open_reader(path))
                .collect::<Result<_, _>>()?
        };
        Ok(Self {
            writer: Arc::new(Mutex::new(connection)),
            readers: readers.into(),
        })
    }

    /// A fresh in-memory store.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::open(Path::new(":memory:"))
    }

    /// Runs `work` with the writer connection on the blocking pool.
    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let writer = Arc::clone(&self.writer);
        tokio::task::spawn_blocking(move || work(&lock(&writer)))
            .await
            .map_err(|e| StoreError::Other(Box::new(e)))?
    }

    /// Runs `work` inline on a free reader connection (the first one if all are busy).
    fn read<T>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let Some(first) = self.readers.first() else {
            return work(&lock(&self.writer));
        };
        for reader in self.readers.iter() {
            if let Ok(connection) = reader.try_lock() {
                return work(&connection);
            }
        }
        work(&lock(first))
    }
}

/// A panic while holding the lock cannot leave a half-done transaction behind (SQLite
/// rolls it back), so a poisoned lock is safe to keep using.
fn lock(connection: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    connection
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn open_reader(path: &Path) -> Result<Mutex<Connection>, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let connection = Connection::open_with_flags(path, flags).map_err(map_error)?;
    connection
        .busy_timeout(READER_BUSY_TIMEOUT)
        .map_err(map_error)?;
    Ok(Mutex::new(connection))
}

#[async_trait]
impl ItemStore for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn insert(&self, item: &Item) -> Result<(), StoreError> {
        let item = item.clone();
        self.write(move |db| {
            db.prepare_cached(
                "INSERT INTO items (id, name, description, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut insert| {
                insert.execute(params![
                    item.id.to_string(),
                    item.name,
                    item.description,
                    stored_timestamp(item.created_at),
                    stored_timestamp(item.updated_at),
                ])
            })
            .map(drop)
            .map_err(map_error)
        })
        .await
    }

    async fn get(&self, id: ItemId) -> Result<Item, StoreError> {
        self.read(|db| {
            db.prepare_cached(
                "SELECT id, name, description, created_at, updated_at FROM items WHERE id = ?1",
            )
            .and_then(|mut select| select.query_row([id.to_string()], read_row).optional())
            .map_err(map_error)?
            .ok_or(ITEM_NOT_FOUND)?
        })
    }

    async fn replace(&self, id: ItemId, fields: &ItemFields) -> Result<Item, StoreError> {
        let name = fields.name().to_owned();
        let description = fields.description().map(str::to_owned);
        self.write(move |db| {
            db.prepare_cached(
                "UPDATE items SET name = ?2, description = ?3, updated_at = ?4 WHERE id = ?1
                 RETURNING id, name, description, created_at, updated_at",
            )
            .and_then(|mut update| {
                update
                    .query_row(
                        params![id.to_string(), name, description, stored_timestamp(now())],
                        read_row,
                    )
                    .optional()
            })
            .map_err(map_error)?
            .ok_or(ITEM_NOT_FOUND)?
        })
        .await
    }

    async fn delete(&self, id: ItemId) -> Result<(), StoreError> {
        self.write(move |db| {
            let deleted = db
                .prepare_cached("DELETE FROM items WHERE id = ?1")
                .and_then(|mut delete| delete.execute([id.to_string()]))
                .map_err(map_error)?;
            if deleted == 0 {
                return Err(ITEM_NOT_FOUND);
            }
            Ok(())
        })
        .await
    }

    async fn list(&self, page: PageRequest) -> Result<ItemPage, StoreError> {
        // The empty string sorts before every id, so it stands for "from the start".
        let after = page
            .after
            .map(|c| c.last_id().to_string())
            .unwrap_or_default();
        self.read(|db| {
            let mut select = db
                .prepare_cached(
                    "SELECT id, name, description, created_at, updated_at FROM items
                     WHERE id > ?1 ORDER BY id LIMIT ?2",
                )
                .map_err(map_error)?;
            let rows = select
                .query_map(params![after, page.limit + 1], read_row)
                .map_err(map_error)?;
            let items = rows
                .map(|row| row.map_err(map_error)?)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ItemPage::from_lookahead(items, page.limit))
        })
    }

    async fn check(&self) -> Result<(), StoreError> {
        self.read(|db| {
            db.query_row("SELECT count(*) FROM items WHERE 0", [], |_| Ok(()))
                .map_err(map_error)
        })
    }
}

/// Reads one row; the outer `Result` is SQLite's, the inner one flags stored data that
/// is not a valid item.
fn read_row(row: &Row<'_>) -> rusqlite::Result<Result<Item, StoreError>> {
    let id: String = row.get(0)?;
    let created_at: String = row.get(3)?;
    let updated_at: String = row.get(4)?;
    let name = row.get(1)?;
    let description = row.get(2)?;
    Ok((|| {
        Ok(Item {
            id: parse_stored_id(&id)?,
            name,
            description,
            created_at: parse_stored_timestamp(&created_at)?,
            updated_at: parse_stored_timestamp(&updated_at)?,
        })
    })())
}

/// Lock contention and I/O trouble may pass; everything else is a bug or corruption.
fn map_error(error: rusqlite::Error) -> StoreError {
    let code = error.sqlite_error_code();
    match code {
        Some(ErrorCode::ConstraintViolation) => StoreError::Conflict,
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::CannotOpen
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::OutOfMemory
            | ErrorCode::ReadOnly,
        ) => StoreError::Unavailable {
            retry_after: Duration::from_secs(1),
            source: Box::new(error),
        },
        _ => StoreError::Other(Box::new(error)),
    }
}
