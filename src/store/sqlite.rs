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
//! The store tells the truth about its file and recovers by itself:
//! - Before and after every write it checks that the path still names the file its
//!   connection has open (device and inode). A database file deleted or replaced while
//!   the service runs would otherwise take writes into a file nobody will read again:
//!   such a write answers 503 and the store reopens the path, so no write is ever
//!   acknowledged that is not in the database a restart reads.
//! - A write that fails because the file cannot be written (read-only, I/O error,
//!   cannot open) drops the writer; the next write or health check opens it again, so
//!   the store recovers when the fault goes away, without a restart.
//! - The health check writes (a probe row, in the same WAL as item writes) and checks
//!   the configured size limit, so a full disk or a full database shows in
//!   `/api/health`, not only in failing creates.
//!
//! The schema is the ordered list of steps `MIGRATIONS`. The writer brings every file
//! it opens (a new one, one from an older release, one that replaced the file it had
//! open) to the latest version, and refuses one made by a newer release; readers only
//! read.
//!
//! `:memory:` databases are private to one connection, so they use the writer for
//! reads too (tests and throw-away runs), and are never reopened.

use super::{
    ITEM_NOT_FOUND, ItemStore, StoreError, corrupt, parse_stored_id, parse_stored_timestamp,
    stored_timestamp,
};
use crate::domain::{
    IdempotentCreate, IdempotentOutcome, Item, ItemFields, ItemId, ItemPage, Owner, PageRequest,
    StoredResponse, Version, item::now,
};
use async_trait::async_trait;
use rusqlite::{
    Connection, ErrorCode, OpenFlags, OptionalExtension, Row, TransactionBehavior, params,
};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a writer waits for a lock held by another connection or process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a reader waits (only WAL recovery by another process can make it wait).
const READER_BUSY_TIMEOUT: Duration = Duration::from_millis(200);
/// Read-only connections of a file database: more than the cores that read at once.
const READERS: usize = 4;
/// How long clients are asked to wait after a storage fault.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How long a successful write proves the write path to the health check.
const WRITE_PROOF_MAX_AGE: Duration = Duration::from_secs(1);
/// Free pages the health check wants left under the size limit (a few items' worth).
const HEALTH_HEADROOM_PAGES: i64 = 4;

/// The schema, as the ordered steps that build it. A database's `PRAGMA user_version` is
/// the number of steps applied to it; the writer applies the missing ones when it opens
/// the file, each in one transaction together with its new version number.
///
/// To change the schema, append one step here and one test that opens a database made
/// by the steps before it (`database_at` in the tests builds one). Never edit, reorder
/// or remove a step that has shipped, and keep schema changes out of the rest of the
/// code.
///
/// The first four steps are the schema of the releases before `user_version`, which
/// left it at 0 and created what was missing at every open: such a database holds any
/// part of these steps, each table or column whole or absent (not always a prefix: a
/// release interrupted while upgrading could add `idempotency_keys` but not yet
/// `health_probe`). So these four skip what exists (`IF NOT EXISTS`, a column check).
/// Later steps only ever run on a database exactly one version behind them, and need
/// not.
const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "items",
        change: Change::Sql(
            "CREATE TABLE IF NOT EXISTS items (
                id          TEXT PRIMARY KEY NOT NULL,
                name        TEXT NOT NULL,
                description TEXT,
                created_at  TEXT NOT NULL,
                updated_at  TEXT NOT NULL
            ) WITHOUT ROWID;",
        ),
    },
    Migration {
        name: "health probe",
        change: Change::Sql(
            "CREATE TABLE IF NOT EXISTS health_probe (
                id         INTEGER PRIMARY KEY,
                checked_at TEXT NOT NULL
            );",
        ),
    },
    Migration {
        name: "idempotency keys",
        change: Change::Sql(
            "CREATE TABLE IF NOT EXISTS idempotency_keys (
                key         TEXT PRIMARY KEY NOT NULL,
                fingerprint TEXT NOT NULL,
                status      INTEGER NOT NULL,
                location    TEXT NOT NULL,
                body        TEXT NOT NULL,
                expires_at  TEXT NOT NULL
            ) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS idempotency_keys_expiry ON idempotency_keys (expires_at);",
        ),
    },
    Migration {
        name: "item versions",
        change: Change::Code(add_version_column),
    },
    // Items and idempotency keys get their owner (`owner_key`); what is stored
    // already belongs to the shared owner. The keys' table is made anew, since its
    // primary key becomes (owner, key).
    Migration {
        name: "owners",
        change: Change::Sql(
            "ALTER TABLE items ADD COLUMN owner TEXT NOT NULL DEFAULT '';
            CREATE INDEX items_by_owner ON items (owner, id);
            CREATE TABLE idempotency_keys_by_owner (
                owner       TEXT NOT NULL,
                key         TEXT NOT NULL,
                fingerprint TEXT NOT NULL,
                status      INTEGER NOT NULL,
                location    TEXT NOT NULL,
                body        TEXT NOT NULL,
                expires_at  TEXT NOT NULL,
                PRIMARY KEY (owner, key)
            ) WITHOUT ROWID;
            INSERT INTO idempotency_keys_by_owner
                SELECT '', key, fingerprint, status, location, body, expires_at
                FROM idempotency_keys;
            DROP TABLE idempotency_keys;
            ALTER TABLE idempotency_keys_by_owner RENAME TO idempotency_keys;
            CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);",
        ),
    },
];

/// One step of the schema: takes a database at version N (the step's index in
/// [`MIGRATIONS`]) to version N + 1.
#[derive(Debug)]
struct Migration {
    /// What the step adds, for the log.
    name: &'static str,
    change: Change,
}

/// How a step changes the schema; it runs inside the step's transaction.
#[derive(Debug)]
enum Change {
    /// Statements, run as one batch.
    Sql(&'static str),
    /// Code, for a change that must look at the database first.
    Code(fn(&Connection) -> rusqlite::Result<()>),
}

/// Items in a SQLite database file (or in memory, for tests).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// `None` for `:memory:`.
    path: Option<PathBuf>,
    /// DATABASE_MAX_BYTES, as a page count limit; `None`: unlimited.
    max_bytes: Option<u64>,
    /// DATABASE_CACHE_KIB, each connection's page cache; `None`: SQLite's default.
    cache_kib: Option<u64>,
    writer: Mutex<Writer>,
    /// Empty for `:memory:`, whose reads use the writer.
    readers: Box<[Mutex<Reader>]>,
    /// When a write last succeeded; cleared by a write the store could not make. The
    /// health check's write probe is skipped while this is recent.
    last_write_ok: Mutex<Option<Instant>>,
}

#[derive(Debug)]
struct Writer {
    /// `None` after a failure that needs the file opened again.
    connection: Option<Connection>,
    /// The file the connection has open.
    file: Option<FileId>,
}

#[derive(Debug)]
struct Reader {
    /// `None` until first used, and after the file was opened anew (a reader then
    /// opens the path again, so it follows the writer to the file the path names).
    connection: Option<Connection>,
}

/// A file's identity: device and inode (Unix); a replaced or deleted file has another
/// one, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId(u64, u64);

fn file_id(path: &Path) -> Option<FileId> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path)
            .ok()
            .map(|m| FileId(m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        std::fs::metadata(path).ok().map(|_| FileId(0, 0))
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and its parent folder. The path
    /// `:memory:` gives a private in-memory database.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_limited(path, None)
    }

    /// Like [`SqliteStore::open`], with the database limited to `max_bytes` (writes past
    /// it answer 503 and the health check reports the store full).
    pub fn open_limited(path: &Path, max_bytes: Option<u64>) -> Result<Self, StoreError> {
        Self::open_with(path, max_bytes, None)
    }

    /// Like [`SqliteStore::open_limited`], with each connection's page cache at most
    /// `cache_kib` KiB (`None`: SQLite's default, 2000 KiB). The store keeps five
    /// connections, so this bounds up to five times that much memory.
    pub fn open_with(
        path: &Path,
        max_bytes: Option<u64>,
        cache_kib: Option<u64>,
    ) -> Result<Self, StoreError> {
        let in_memory = path == Path::new(":memory:");
        if !in_memory && let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| {
                StoreError::Other(Box::new(CreateFolder {
                    folder: parent.to_owned(),
                    source,
                }))
            })?;
        }
        let (connection, file) = open_writer(path, max_bytes, cache_kib)?;
        let readers = if in_memory {
            Vec::new()
        } else {
            (0..READERS)
                .map(|_| {
                    Ok(Mutex::new(Reader {
                        connection: Some(open_reader(path, cache_kib)?),
                    }))
                })
                .collect::<Result<_, StoreError>>()?
        };
        Ok(Self {
            inner: Arc::new(Inner {
                path: (!in_memory).then(|| path.to_owned()),
                max_bytes,
                cache_kib,
                writer: Mutex::new(Writer {
                    connection: Some(connection),
                    file,
                }),
                readers: readers.into_boxed_slice(),
                last_write_ok: Mutex::new(None),
            }),
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
        // Waiting writes each hold a pool thread on the writer's lock: queueing them as
        // tasks instead (a semaphore) halved createItem's requests/s under 32
        // concurrent clients, as each write then waited for a thread to wake.
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.write(work))
            .await
            .map_err(|e| StoreError::Other(Box::new(e)))?
    }

    /// Runs `work` inline on a free reader connection (the first one if all are busy).
    fn read<T>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let inner = &self.inner;
        let Some(first) = inner.readers.first() else {
            let writer = lock(&inner.writer);
            let connection = writer
                .connection
                .as_ref()
                .ok_or_else(|| unavailable("the database is closed".into()))?;
            return work(connection);
        };
        let reader = inner
            .readers
            .iter()
            .find_map(|reader| reader.try_lock().ok())
            .unwrap_or_else(|| lock(first));
        inner.read_with(reader, work)
    }
}

impl Inner {
    /// Runs `work` on the writer, on the file the path names now; see the module docs.
    fn write<T>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut writer = lock(&self.writer);
        let Some(path) = &self.path else {
            let connection = writer
                .connection
                .as_ref()
                .ok_or_else(|| unavailable("the database is closed".into()))?;
            let result = work(connection);
            self.note_write(&result);
            return result;
        };
        if file_id(path) != writer.file {
            tracing::warn!(path = %path.display(), "the database file was replaced or deleted; opening the path again");
            self.close_all(&mut writer);
        }
        if writer.connection.is_none() {
            let (connection, file) = open_writer(path, self.max_bytes, self.cache_kib)?;
            writer.connection = Some(connection);
            writer.file = file;
        }
        let connection = writer.connection.as_ref().expect("opened above");
        let result = work(connection);
        if let Err(StoreError::Unavailable { source, .. }) = &result
            && needs_reopen(source.as_ref())
        {
            tracing::warn!(error = %source, "the database cannot be written; it is opened again on the next write");
            self.close_all(&mut writer);
        }
        // A write that went into a file the path no longer names is not acknowledged.
        if result.is_ok() && file_id(path) != writer.file {
            self.close_all(&mut writer);
            *lock(&self.last_write_ok) = None;
            return Err(unavailable(
                "the database file was replaced or deleted during the write".into(),
            ));
        }
        self.note_write(&result);
        result
    }

    /// Remembers when a write last succeeded, or that the last one could not be made.
    fn note_write<T>(&self, result: &Result<T, StoreError>) {
        match result {
            Ok(_) => *lock(&self.last_write_ok) = Some(Instant::now()),
            Err(StoreError::Unavailable { .. }) => *lock(&self.last_write_ok) = None,
            Err(_) => {}
        }
    }

    /// Closes the writer and every reader, so the next use opens the file anew. All of
    /// them: SQLite shares one view of a file (its locks and the WAL index, read-only
    /// if it was opened so) among a process's connections while any stays open.
    fn close_all(&self, writer: &mut Writer) {
        writer.connection = None;
        for reader in &self.readers {
            lock(reader).connection = None;
        }
    }

    /// Runs `work` on `reader`, opening it first when it is closed (not used yet, or
    /// closed by `close_all` when the writer opened the file anew).
    fn read_with<T>(
        &self,
        mut reader: MutexGuard<'_, Reader>,
        work: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if reader.connection.is_none() {
            let path = self.path.as_deref().expect("readers exist only for files");
            reader.connection = Some(open_reader(path, self.cache_kib)?);
        }
        let connection = reader.connection.as_ref().expect("opened above");
        let result = work(connection);
        if let Err(StoreError::Unavailable { source, .. }) = &result
            && needs_reopen(source.as_ref())
        {
            reader.connection = None;
        }
        result
    }
}

/// A panic while holding the lock cannot leave a half-done transaction behind (SQLite
/// rolls it back), so a poisoned lock is safe to keep using.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The writer connection of `path`: WAL, the size limit, the schema brought up to date.
fn open_writer(
    path: &Path,
    max_bytes: Option<u64>,
    cache_kib: Option<u64>,
) -> Result<(Connection, Option<FileId>), StoreError> {
    let connection = Connection::open(path).map_err(map_error)?;
    connection.busy_timeout(BUSY_TIMEOUT).map_err(map_error)?;
    set_cache(&connection, cache_kib)?;
    // Before anything writes: a database from a newer release is left as it is.
    schema_version(&connection, MIGRATIONS.len())?;
    // journal_mode answers with a row, so it is read rather than executed.
    let _mode: String = connection
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(map_error)?;
    connection
        .execute_batch("PRAGMA synchronous = NORMAL;")
        .map_err(map_error)?;
    if let Some(max_bytes) = max_bytes {
        let page_size: i64 = connection
            .query_row("PRAGMA page_size", [], |row| row.get(0))
            .map_err(map_error)?;
        let pages = i64::try_from(max_bytes).unwrap_or(i64::MAX) / page_size.max(1);
        let _limit: i64 = connection
            .query_row(
                &format!("PRAGMA max_page_count = {}", pages.max(1)),
                [],
                |row| row.get(0),
            )
            .map_err(map_error)?;
    }
    migrate(&connection, MIGRATIONS)?;
    let file = (path != Path::new(":memory:"))
        .then(|| file_id(path))
        .flatten();
    Ok((connection, file))
}

/// The schema version of the database: the number of [`MIGRATIONS`] steps applied to
/// it. One newer than the `known` steps is refused: a newer release made it, and this
/// one could break it by writing.
fn schema_version(connection: &Connection, known: usize) -> Result<usize, StoreError> {
    let version: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(map_error)?;
    match usize::try_from(version) {
        Ok(version) if version <= known => Ok(version),
        Ok(_) => Err(StoreError::Other(
            format!(
                "the database is at schema version {version}, this build knows up to {known}: \
                 run a newer items-api"
            )
            .into(),
        )),
        Err(_) => Err(StoreError::Other(
            format!("the database is at schema version {version}, which no items-api writes")
                .into(),
        )),
    }
}

/// Applies the `steps` the database lacks, each in one transaction with its new
/// `user_version`, so a crash leaves the database at a whole version. Each step reads
/// the version again under the write lock: another process may be migrating the file.
fn migrate(connection: &Connection, steps: &[Migration]) -> Result<(), StoreError> {
    // Read first without the lock, so a database already up to date (every open but the
    // first) is not locked at all. Then one step per turn, or none once another process
    // has taken the version further.
    let start = schema_version(connection, steps.len())?;
    for _ in start..steps.len() {
        let tx = rusqlite::Transaction::new_unchecked(connection, TransactionBehavior::Immediate)
            .map_err(map_error)?;
        let version = schema_version(&tx, steps.len())?;
        let Some(step) = steps.get(version) else {
            break;
        };
        tracing::info!(
            from = version,
            to = version + 1,
            step = step.name,
            "migrating the database schema"
        );
        match step.change {
            Change::Sql(sql) => tx.execute_batch(sql),
            Change::Code(change) => change(&tx),
        }
        .and_then(|()| tx.execute_batch(&format!("PRAGMA user_version = {}", version + 1)))
        .and_then(|()| tx.commit())
        .map_err(map_error)?;
    }
    Ok(())
}

/// Databases made before items had versions get the column (every item at version 1);
/// releases before `user_version` may have added it already.
fn add_version_column(connection: &Connection) -> rusqlite::Result<()> {
    let has_version: bool = connection.query_row(
        "SELECT count(*) FROM pragma_table_info('items') WHERE name = 'version'",
        [],
        |row| row.get::<_, i64>(0),
    )? > 0;
    if !has_version {
        connection
            .execute_batch("ALTER TABLE items ADD COLUMN version INTEGER NOT NULL DEFAULT 1")?;
    }
    Ok(())
}

fn open_reader(path: &Path, cache_kib: Option<u64>) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let connection = Connection::open_with_flags(path, flags).map_err(map_error)?;
    connection
        .busy_timeout(READER_BUSY_TIMEOUT)
        .map_err(map_error)?;
    set_cache(&connection, cache_kib)?;
    Ok(connection)
}

/// The connection's page cache: at most `cache_kib` KiB (a negative cache_size is KiB).
fn set_cache(connection: &Connection, cache_kib: Option<u64>) -> Result<(), StoreError> {
    match cache_kib {
        Some(kib) => connection
            .execute_batch(&format!("PRAGMA cache_size = -{}", kib.clamp(1, 1 << 40)))
            .map_err(map_error),
        None => Ok(()),
    }
}

/// Faults of the file itself, which a new connection may not have: read-only or
/// unopenable files, I/O errors, a file that is not a database any more.
fn needs_reopen(error: &(dyn std::error::Error + 'static)) -> bool {
    matches!(
        error
            .downcast_ref::<rusqlite::Error>()
            .and_then(rusqlite::Error::sqlite_error_code),
        Some(
            ErrorCode::ReadOnly
                | ErrorCode::CannotOpen
                | ErrorCode::SystemIoFailure
                | ErrorCode::NotADatabase
                | ErrorCode::DatabaseCorrupt
        )
    )
}

fn unavailable(source: Box<dyn std::error::Error + Send + Sync>) -> StoreError {
    StoreError::Unavailable {
        retry_after: RETRY_AFTER,
        source,
    }
}

/// The health check's write: one probe row, upserted (it goes through the same WAL
/// as item writes), and the room left under the size limit.
fn probe_write(db: &Connection) -> Result<(), StoreError> {
    db.prepare_cached(
        "INSERT INTO health_probe (id, checked_at) VALUES (1, ?1)
         ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
    )
    .and_then(|mut probe| probe.execute([stored_timestamp(now())]))
    .map_err(map_error)?;
    let (pages, free, max): (i64, i64, i64) = db
        .query_row(
            "SELECT (SELECT page_count FROM pragma_page_count()),
                    (SELECT freelist_count FROM pragma_freelist_count()),
                    (SELECT max_page_count FROM pragma_max_page_count())",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .map_err(map_error)?;
    if pages - free + HEALTH_HEADROOM_PAGES > max {
        return Err(unavailable(
            format!(
                "the database is full: {} of {max} pages used (DATABASE_MAX_BYTES)",
                pages - free
            )
            .into(),
        ));
    }
    Ok(())
}

#[async_trait]
impl ItemStore for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn insert(&self, owner: &Owner, item: &Item) -> Result<(), StoreError> {
        let owner = owner_key(owner).to_owned();
        let item = item.clone();
        self.write(move |db| insert_row(db, &owner, &item)).await
    }

    async fn insert_idempotent(
        &self,
        owner: &Owner,
        item: &Item,
        create: &IdempotentCreate,
    ) -> Result<IdempotentOutcome, StoreError> {
        let owner = owner_key(owner).to_owned();
        let item = item.clone();
        let create = create.clone();
        self.write(move |db| {
            // The writer connection is this process's only one: the transaction runs
            // alone, so the key check and the two inserts are atomic.
            let tx = rusqlite::Transaction::new_unchecked(db, TransactionBehavior::Immediate)
                .map_err(map_error)?;
            let now = stored_timestamp(now());
            tx.prepare_cached("DELETE FROM idempotency_keys WHERE expires_at < ?1")
                .and_then(|mut sweep| sweep.execute([&now]))
                .map_err(map_error)?;
            let stored = tx
                .prepare_cached(
                    "SELECT fingerprint, status, location, body FROM idempotency_keys
                     WHERE owner = ?1 AND key = ?2",
                )
                .and_then(|mut select| {
                    select
                        .query_row([owner.as_str(), create.key.as_str()], |row| {
                            Ok((
                                row.get::<_, String>(0)?,
                                StoredResponse {
                                    status: row.get(1)?,
                                    location: row.get(2)?,
                                    body: row.get(3)?,
                                },
                            ))
                        })
                        .optional()
                })
                .map_err(map_error)?;
            if let Some((fingerprint, response)) = stored {
                return Ok(if fingerprint == create.fingerprint {
                    IdempotentOutcome::Replayed(response)
                } else {
                    IdempotentOutcome::KeyReused
                });
            }
            insert_row(&tx, &owner, &item)?;
            tx.prepare_cached(
                "INSERT INTO idempotency_keys
                     (owner, key, fingerprint, status, location, body, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut insert| {
                insert.execute(params![
                    owner,
                    create.key.as_str(),
                    create.fingerprint,
                    create.response.status,
                    create.response.location,
                    create.response.body,
                    stored_timestamp(create.expires_at),
                ])
            })
            .map_err(map_error)?;
            tx.commit().map_err(map_error)?;
            Ok(IdempotentOutcome::Created)
        })
        .await
    }

    async fn get(&self, owner: &Owner, id: ItemId) -> Result<Item, StoreError> {
        self.read(|db| {
            db.prepare_cached(
                "SELECT id, name, description, created_at, updated_at, version FROM items
                 WHERE id = ?1 AND owner = ?2",
            )
            .and_then(|mut select| {
                select
                    .query_row(params![id.to_string(), owner_key(owner)], read_row)
                    .optional()
            })
            .map_err(map_error)?
            .ok_or(ITEM_NOT_FOUND)?
        })
    }

    async fn replace(
        &self,
        owner: &Owner,
        id: ItemId,
        fields: &ItemFields,
        expected: Option<Version>,
    ) -> Result<Item, StoreError> {
        let owner = owner_key(owner).to_owned();
        let name = fields.name().to_owned();
        let description = fields.description().map(str::to_owned);
        let expected = expected.map(stored_version);
        self.write(move |db| {
            let replaced = db
                .prepare_cached(
                    "UPDATE items SET name = ?2, description = ?3, updated_at = ?4,
                         version = version + 1
                     WHERE id = ?1 AND owner = ?6 AND (?5 IS NULL OR version = ?5)
                     RETURNING id, name, description, created_at, updated_at, version",
                )
                .and_then(|mut update| {
                    update
                        .query_row(
                            params![
                                id.to_string(),
                                name,
                                description,
                                stored_timestamp(now()),
                                expected,
                                owner
                            ],
                            read_row,
                        )
                        .optional()
                })
                .map_err(map_error)?;
            match replaced {
                Some(item) => item,
                None => Err(missing_or_changed(db, &owner, id)?),
            }
        })
        .await
    }

    async fn delete(
        &self,
        owner: &Owner,
        id: ItemId,
        expected: Option<Version>,
    ) -> Result<(), StoreError> {
        let owner = owner_key(owner).to_owned();
        let expected = expected.map(stored_version);
        self.write(move |db| {
            let deleted = db
                .prepare_cached(
                    "DELETE FROM items WHERE id = ?1 AND owner = ?3 AND (?2 IS NULL OR version = ?2)",
                )
                .and_then(|mut delete| delete.execute(params![id.to_string(), expected, owner]))
                .map_err(map_error)?;
            if deleted == 0 {
                return Err(missing_or_changed(db, &owner, id)?);
            }
            Ok(())
        })
        .await
    }

    async fn list(&self, owner: &Owner, page: PageRequest) -> Result<ItemPage, StoreError> {
        // The empty string sorts before every id, so it stands for "from the start".
        let after = page
            .after
            .map(|c| c.last_id().to_string())
            .unwrap_or_default();
        self.read(|db| {
            let mut select = db
                .prepare_cached(
                    "SELECT id, name, description, created_at, updated_at, version FROM items
                     WHERE owner = ?3 AND id > ?1 ORDER BY id LIMIT ?2",
                )
                .map_err(map_error)?;
            let rows = select
                .query_map(params![after, page.limit + 1, owner_key(owner)], read_row)
                .map_err(map_error)?;
            let items = rows
                .map(|row| row.map_err(map_error)?)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ItemPage::from_lookahead(items, page.limit))
        })
    }

    async fn check(&self) -> Result<(), StoreError> {
        let read = self
            .read(|db| {
                // Cached like every other statement: parsing it anew took ~8% of the
                // server's CPU under a getHealth load.
                db.prepare_cached("SELECT count(*) FROM items WHERE 0")
                    .and_then(|mut probe| probe.query_row([], |_| Ok(())))
                    .map_err(map_error)
            })
            .map_err(|e| e.context("read"));
        if let Err(error) = read {
            // Reads fail, too, when the file was deleted or replaced under the store,
            // and only a write checks the file and reopens it: try one, so a store that
            // gets no writes still recovers by the next check.
            let _reopened = self.write(probe_write).await;
            return Err(error);
        }
        // A write that succeeded moments ago (an item's or a previous probe's) proves
        // the write path; a failed one clears it, so a fault shows at once. This keeps
        // a health endpoint polled many times a second from writing each time.
        let proven =
            lock(&self.inner.last_write_ok).is_some_and(|at| at.elapsed() < WRITE_PROOF_MAX_AGE);
        if proven {
            return Ok(());
        }
        self.write(probe_write)
            .await
            .map_err(|e| e.context("write"))
    }

    async fn warm_up(&self) -> Result<(), StoreError> {
        // Nothing to open: `open` made every connection and checked the file.
        Ok(())
    }
}

/// The database's folder cannot be made: the path names it, the operating system says why.
#[derive(Debug, thiserror::Error)]
#[error("cannot create the folder {}", folder.display())]
struct CreateFolder {
    folder: PathBuf,
    #[source]
    source: std::io::Error,
}

/// A version as SQLite stores it (an INTEGER is an i64).
fn stored_version(version: Version) -> i64 {
    i64::try_from(version.0).unwrap_or(i64::MAX)
}

/// Inserts one item row.
/// How the schema keys an owner: the shared owner as `''` (items stored before items
/// had owners read as the shared owner's), a user by their subject (never empty).
fn owner_key(owner: &Owner) -> &str {
    owner.subject().unwrap_or_default()
}

fn insert_row(db: &Connection, owner: &str, item: &Item) -> Result<(), StoreError> {
    db.prepare_cached(
        "INSERT INTO items (id, name, description, created_at, updated_at, version, owner)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .and_then(|mut insert| {
        insert.execute(params![
            item.id.to_string(),
            item.name,
            item.description,
            stored_timestamp(item.created_at),
            stored_timestamp(item.updated_at),
            stored_version(item.version),
            owner,
        ])
    })
    .map(drop)
    .map_err(map_error)
}

/// Why a conditional write of `id` touched no row: the owner has no such item (another
/// owner's is missing too), or it is in another version (asked in the same writer
/// call, so nothing changed in between).
fn missing_or_changed(db: &Connection, owner: &str, id: ItemId) -> Result<StoreError, StoreError> {
    let exists = db
        .prepare_cached("SELECT 1 FROM items WHERE id = ?1 AND owner = ?2")
        .and_then(|mut select| select.exists(params![id.to_string(), owner]))
        .map_err(map_error)?;
    Ok(if exists {
        StoreError::PreconditionFailed
    } else {
        ITEM_NOT_FOUND
    })
}

/// Reads one row; the outer `Result` is SQLite's, the inner one flags stored data that
/// is not a valid item.
fn read_row(row: &Row<'_>) -> rusqlite::Result<Result<Item, StoreError>> {
    let id: String = row.get(0)?;
    let created_at: String = row.get(3)?;
    let updated_at: String = row.get(4)?;
    let name = row.get(1)?;
    let description = row.get(2)?;
    let version: i64 = row.get(5)?;
    Ok((|| {
        Ok(Item {
            id: parse_stored_id(&id)?,
            name,
            description,
            created_at: parse_stored_timestamp(&created_at)?,
            updated_at: parse_stored_timestamp(&updated_at)?,
            version: Version(
                u64::try_from(version).map_err(|_| corrupt(format!("stored version {version}")))?,
            ),
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
            | ErrorCode::ReadOnly
            | ErrorCode::NotADatabase
            | ErrorCode::DatabaseCorrupt,
        ) => unavailable(Box::new(error)),
        _ => StoreError::Other(Box::new(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{IdempotencyKey, NewItem};
    use tempfile::TempDir;

    #[tokio::test]
    async fn every_connection_gets_the_configured_page_cache() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store =
            SqliteStore::open_with(&dir.path().join("items.db"), None, Some(64)).expect("opens");
        let cache = |db: &Connection| {
            db.query_row("PRAGMA cache_size", [], |row| row.get::<_, i64>(0))
                .map_err(map_error)
        };
        assert_eq!(store.read(cache).expect("a reader"), -64);
        assert_eq!(store.write(cache).await.expect("the writer"), -64);
        let default = SqliteStore::open(&dir.path().join("default.db")).expect("opens");
        assert_eq!(default.read(cache).expect("a reader"), -2000);
    }

    // Schema migrations. Databases of releases before `user_version` are built from the
    // SQL those releases ran (`git log -p src/store/sqlite.rs`), versioned ones from the
    // steps themselves.

    /// The schema version this build migrates every database to.
    const LATEST: usize = MIGRATIONS.len();

    /// What the first releases (90d5f26 to 8344bba) ran at every open.
    const FIRST_RELEASE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    description TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) WITHOUT ROWID;
";

    /// What the releases from 5007391 to 6baff2b ran at every open.
    const HEALTH_PROBE_RELEASE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    description TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS health_probe (
    id         INTEGER PRIMARY KEY,
    checked_at TEXT NOT NULL
);
";

    /// What the releases from 577d535 to the last one before `user_version` ran at
    /// every open, statement by statement, then [`SAFE_WRITES_RELEASE_VERSION_COLUMN`]
    /// when the items table had no version column.
    const SAFE_WRITES_RELEASE_SCHEMA: [&str; 4] = [
        "CREATE TABLE IF NOT EXISTS items (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    description TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) WITHOUT ROWID;",
        "CREATE TABLE IF NOT EXISTS idempotency_keys (
    key         TEXT PRIMARY KEY NOT NULL,
    fingerprint TEXT NOT NULL,
    status      INTEGER NOT NULL,
    location    TEXT NOT NULL,
    body        TEXT NOT NULL,
    expires_at  TEXT NOT NULL
) WITHOUT ROWID;",
        "CREATE INDEX IF NOT EXISTS idempotency_keys_expiry ON idempotency_keys (expires_at);",
        "CREATE TABLE IF NOT EXISTS health_probe (
    id         INTEGER PRIMARY KEY,
    checked_at TEXT NOT NULL
);",
    ];
    const SAFE_WRITES_RELEASE_VERSION_COLUMN: &str =
        "ALTER TABLE items ADD COLUMN version INTEGER NOT NULL DEFAULT 1";

    fn fields(name: &str, description: Option<&str>) -> ItemFields {
        ItemFields::try_from(NewItem {
            name: name.to_owned(),
            description: description.map(str::to_owned),
        })
        .expect("valid fields")
    }

    fn database_file() -> (TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("items.db");
        (dir, path)
    }

    /// A connection as every release opened its database (WAL), with `sql` run on it
    /// the way a release before `user_version` ran its schema.
    fn legacy_database(path: &Path, sql: &[&str]) -> Connection {
        let db = Connection::open(path).expect("creates the file");
        let _mode: String = db
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .expect("WAL");
        for statement in sql {
            db.execute_batch(statement).expect("the old schema");
        }
        db
    }

    /// Writes `item` with the first release's columns, which every later schema keeps.
    fn insert_first_release_row(db: &Connection, item: &Item) {
        db.execute(
            "INSERT INTO items (id, name, description, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                item.id.to_string(),
                item.name,
                item.description,
                stored_timestamp(item.created_at),
                stored_timestamp(item.updated_at),
            ],
        )
        .expect("an old row");
    }

    /// A database file at schema version `version`, made by the first `version` steps,
    /// and the item written in it (none before the items table exists).
    fn database_at(version: usize) -> (TempDir, PathBuf, Option<Item>) {
        let (dir, path) = database_file();
        let db = Connection::open(&path).expect("creates the file");
        migrate(&db, &MIGRATIONS[..version]).expect("the first steps");
        assert_eq!(schema_version(&db, version).expect("a version"), version);
        let item = (version > 0).then(|| {
            let item = Item::create(fields(&format!("made at {version}"), Some("old")));
            insert_first_release_row(&db, &item);
            item
        });
        (dir, path, item)
    }

    fn user_version(path: &Path) -> usize {
        let db = Connection::open(path).expect("opens");
        schema_version(&db, usize::MAX).expect("a version")
    }

    fn keyed(item: &Item, key: &str) -> IdempotentCreate {
        IdempotentCreate {
            key: IdempotencyKey::parse(key).expect("a valid key"),
            fingerprint: format!("fingerprint of {key}"),
            response: StoredResponse {
                status: 201,
                location: format!("/api/items/{}", item.id),
                body: format!("{{\"id\":\"{}\"}}", item.id),
            },
            expires_at: now() + chrono::Duration::days(1),
        }
    }

    /// Opens the database at `path` with the store and checks it is at the latest
    /// version, `stored` (if any) reads back as it was written, and every kind of write
    /// works: each needs some step's table or column.
    async fn assert_migrated_and_usable(path: &Path, stored: Option<&Item>) -> SqliteStore {
        let store = SqliteStore::open(path).expect("opens and migrates");
        assert_eq!(user_version(path), LATEST);
        let all = || PageRequest {
            limit: 100,
            after: None,
        };
        let listed = store.list(&Owner::Shared, all()).await.expect("lists");
        assert_eq!(
            listed.items,
            stored.into_iter().cloned().collect::<Vec<_>>()
        );
        if let Some(stored) = stored {
            assert_eq!(
                &store
                    .get(&Owner::Shared, stored.id)
                    .await
                    .expect("reads back"),
                stored
            );
            let replaced = store
                .replace(
                    &Owner::Shared,
                    stored.id,
                    &fields("replaced", None),
                    Some(stored.version),
                )
                .await
                .expect("replaces at its version");
            assert_eq!(replaced.version, Version(stored.version.0 + 1));
            assert_eq!(
                store
                    .get(&Owner::Shared, stored.id)
                    .await
                    .expect("reads back"),
                replaced
            );
        }
        let created = Item::create(fields("created", None));
        store
            .insert(&Owner::Shared, &created)
            .await
            .expect("inserts");
        assert_eq!(
            store
                .get(&Owner::Shared, created.id)
                .await
                .expect("reads back"),
            created
        );
        let keyed_item = Item::create(fields("keyed", None));
        let create = keyed(&keyed_item, "key-1");
        assert_eq!(
            store
                .insert_idempotent(&Owner::Shared, &keyed_item, &create)
                .await
                .expect("creates with a key"),
            IdempotentOutcome::Created
        );
        assert_eq!(
            store
                .insert_idempotent(
                    &Owner::Shared,
                    &Item::create(fields("retry", None)),
                    &create
                )
                .await
                .expect("replays"),
            IdempotentOutcome::Replayed(create.response.clone())
        );
        store
            .delete(&Owner::Shared, created.id, Some(Version::FIRST))
            .await
            .expect("deletes");
        store
            .check()
            .await
            .expect("healthy: reads and the probe write");
        assert_eq!(
            store
                .list(&Owner::Shared, all())
                .await
                .expect("lists")
                .items
                .len(),
            stored.iter().len() + 1
        );
        store
    }

    /// A health check right after a successful write proves the write path by it and
    /// writes nothing; once that proof is old, or after a write the store could not
    /// make, it writes its probe again.
    #[tokio::test]
    async fn the_health_check_writes_only_without_a_recent_successful_write() {
        let (_dir, path) = database_file();
        let store = SqliteStore::open(&path).expect("opens");
        // Another connection sees each commit as a new `data_version`.
        let watcher = Connection::open(&path).expect("opens");
        let version = || -> i64 {
            watcher
                .query_row("PRAGMA data_version", [], |row| row.get(0))
                .expect("reads")
        };
        let before = version();
        store
            .insert(&Owner::Shared, &Item::create(fields("written", None)))
            .await
            .expect("insert");
        let written = version();
        assert_ne!(written, before, "the insert commits");
        store.check().await.expect("healthy");
        assert_eq!(version(), written, "no probe right after a write");
        tokio::time::sleep(WRITE_PROOF_MAX_AGE + Duration::from_millis(50)).await;
        store.check().await.expect("healthy");
        assert_ne!(version(), written, "a probe once the proof is old");
    }

    #[test]
    fn readers_cannot_write() {
        let (_dir, path) = database_file();
        let _store = SqliteStore::open(&path).expect("opens");
        let reader = open_reader(&path, None).expect("opens");
        let error = reader
            .execute_batch("CREATE TABLE x (y)")
            .expect_err("a reader is read-only");
        assert_eq!(error.sqlite_error_code(), Some(ErrorCode::ReadOnly));
    }

    #[test]
    fn only_faults_of_the_file_need_a_reopen() {
        let error = |code: ErrorCode| {
            rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error {
                    code,
                    extended_code: 0,
                },
                None,
            )
        };
        for code in [
            ErrorCode::CannotOpen,
            ErrorCode::ReadOnly,
            ErrorCode::SystemIoFailure,
        ] {
            assert!(needs_reopen(&error(code)), "{code:?}");
        }
        for code in [
            ErrorCode::DatabaseBusy,
            ErrorCode::DiskFull,
            ErrorCode::ConstraintViolation,
        ] {
            assert!(!needs_reopen(&error(code)), "{code:?}");
        }
        assert!(!needs_reopen(&std::io::Error::other("not SQLite's")));
    }

    /// The health check calls the store full when fewer than HEALTH_HEADROOM_PAGES
    /// pages are left under DATABASE_MAX_BYTES, counting free pages as usable.
    #[tokio::test]
    async fn the_store_is_full_exactly_when_less_than_the_headroom_is_left() {
        let (_dir, path) = database_file();
        {
            let store = SqliteStore::open(&path).expect("opens");
            store.check().await.expect("the probe row exists");
            let long = "d".repeat(1000);
            let mut items = Vec::new();
            for index in 0..12 {
                let item = Item::create(fields(&format!("item {index}"), Some(&long)));
                store.insert(&Owner::Shared, &item).await.expect("insert");
                items.push(item);
            }
            for item in &items[..2] {
                store
                    .delete(&Owner::Shared, item.id, None)
                    .await
                    .expect("delete");
            }
        }
        let db = Connection::open(&path).expect("opens");
        let (pages, free, page_size): (i64, i64, i64) = db
            .query_row(
                "SELECT (SELECT page_count FROM pragma_page_count()),
                        (SELECT freelist_count FROM pragma_freelist_count()),
                        (SELECT page_size FROM pragma_page_size())",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .expect("reads");
        drop(db);
        assert!(
            (1..HEALTH_HEADROOM_PAGES).contains(&free),
            "free pages: {free}"
        );
        let used = pages - free;
        let limited = |max_pages: i64| {
            let bytes = u64::try_from(max_pages * page_size).expect("positive");
            SqliteStore::open_limited(&path, Some(bytes)).expect("opens")
        };
        limited(used + HEALTH_HEADROOM_PAGES)
            .check()
            .await
            .expect("exactly the headroom left is not full");
        let full = limited(used + HEALTH_HEADROOM_PAGES - 1).check().await;
        assert!(
            matches!(&full, Err(StoreError::Unavailable { .. })),
            "{full:?}"
        );
    }

    #[tokio::test]
    async fn a_new_file_gets_every_step() {
        let (_dir, path, item) = database_at(0);
        assert_migrated_and_usable(&path, item.as_ref()).await;
    }

    #[tokio::test]
    async fn step_2_adds_the_health_probe_to_a_version_1_database() {
        let (_dir, path, item) = database_at(1);
        assert_migrated_and_usable(&path, item.as_ref()).await;
    }

    #[tokio::test]
    async fn step_3_adds_idempotency_keys_to_a_version_2_database() {
        let (_dir, path, item) = database_at(2);
        assert_migrated_and_usable(&path, item.as_ref()).await;
        let db = Connection::open(&path).expect("opens");
        let index: i64 = db
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name = 'idempotency_keys_expiry'",
                [],
                |row| row.get(0),
            )
            .expect("reads the schema");
        assert_eq!(index, 1, "the expiry sweep's index");
    }

    #[tokio::test]
    async fn step_4_gives_a_version_3_databases_items_version_1() {
        let (_dir, path, item) = database_at(3);
        let item = item.expect("an item");
        assert_eq!(
            item.version,
            Version::FIRST,
            "what the stored row must read as"
        );
        assert_migrated_and_usable(&path, Some(&item)).await;
    }

    #[tokio::test]
    async fn every_version_is_migrated_to_the_latest() {
        for version in 0..=LATEST {
            let (_dir, path, item) = database_at(version);
            assert_migrated_and_usable(&path, item.as_ref()).await;
        }
    }

    /// Step 5 (owners): the items and idempotency keys of a database from before owners
    /// are the shared owner's; a user sees none of them, and the same key is theirs anew.
    #[tokio::test]
    async fn items_and_keys_from_before_owners_are_the_shared_owners() {
        let (_dir, path, item) = database_at(4);
        let item = item.expect("an item at version 4");
        let keyed_item = Item::create(fields("keyed", None));
        let create = keyed(&keyed_item, "key-before-owners");
        {
            let db = Connection::open(&path).expect("opens");
            db.execute(
                "INSERT INTO idempotency_keys (key, fingerprint, status, location, body, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    create.key.as_str(),
                    create.fingerprint,
                    create.response.status,
                    create.response.location,
                    create.response.body,
                    stored_timestamp(create.expires_at),
                ],
            )
            .expect("a key of the release before owners");
        }
        let store = SqliteStore::open(&path).expect("opens and migrates");
        assert_eq!(user_version(&path), LATEST);
        let someone = Owner::user("someone").expect("a subject");
        assert_eq!(
            store
                .get(&Owner::Shared, item.id)
                .await
                .expect("the shared owner's"),
            item
        );
        assert!(matches!(
            store.get(&someone, item.id).await,
            Err(StoreError::NotFound { .. })
        ));
        let retry = Item::create(fields("keyed", None));
        assert_eq!(
            store
                .insert_idempotent(&Owner::Shared, &retry, &create)
                .await
                .expect("answered"),
            IdempotentOutcome::Replayed(create.response.clone())
        );
        assert_eq!(
            store
                .insert_idempotent(&someone, &retry, &create)
                .await
                .expect("answered"),
            IdempotentOutcome::Created
        );
    }

    #[tokio::test]
    async fn a_first_release_database_is_migrated_with_its_items_at_version_1() {
        let (_dir, path) = database_file();
        let item = Item::create(fields("from the first release", Some("no version")));
        let db = legacy_database(&path, &[FIRST_RELEASE_SCHEMA]);
        insert_first_release_row(&db, &item);
        drop(db);
        assert_eq!(user_version(&path), 0);
        assert_migrated_and_usable(&path, Some(&item)).await;
    }

    #[tokio::test]
    async fn a_health_probe_release_database_is_migrated_with_its_items_at_version_1() {
        let (_dir, path) = database_file();
        let item = Item::create(fields("from the health probe release", None));
        let db = legacy_database(&path, &[HEALTH_PROBE_RELEASE_SCHEMA]);
        insert_first_release_row(&db, &item);
        db.execute(
            "INSERT INTO health_probe (id, checked_at) VALUES (1, ?1)",
            [stored_timestamp(now())],
        )
        .expect("an old probe row");
        drop(db);
        assert_migrated_and_usable(&path, Some(&item)).await;
    }

    #[tokio::test]
    async fn a_safe_writes_release_database_is_stamped_keeping_its_versions() {
        let (_dir, path) = database_file();
        let mut statements = SAFE_WRITES_RELEASE_SCHEMA.to_vec();
        statements.push(SAFE_WRITES_RELEASE_VERSION_COLUMN);
        let db = legacy_database(&path, &statements);
        let mut item = Item::create(fields("from the safe writes release", Some("v3")));
        item.version = Version(3);
        db.execute(
            "INSERT INTO items (id, name, description, created_at, updated_at, version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                item.id.to_string(),
                item.name,
                item.description,
                stored_timestamp(item.created_at),
                stored_timestamp(item.updated_at),
                stored_version(item.version),
            ],
        )
        .expect("a row with its version");
        drop(db);
        assert_eq!(
            user_version(&path),
            0,
            "releases before user_version left it at 0"
        );
        assert_migrated_and_usable(&path, Some(&item)).await;
        let db = Connection::open(&path).expect("opens");
        let version_columns: i64 = db
            .query_row(
                "SELECT count(*) FROM pragma_table_info('items') WHERE name = 'version'",
                [],
                |row| row.get(0),
            )
            .expect("reads the schema");
        assert_eq!(version_columns, 1);
    }

    #[tokio::test]
    async fn an_upgrade_the_safe_writes_release_left_half_done_is_completed() {
        // The safe writes release opening a first release's database, stopped after its
        // first two statements: idempotency keys but no index, no health probe, and no
        // version column. Not a prefix of the steps.
        let (_dir, path) = database_file();
        let item = Item::create(fields("half upgraded", None));
        let db = legacy_database(&path, &[FIRST_RELEASE_SCHEMA]);
        insert_first_release_row(&db, &item);
        for statement in &SAFE_WRITES_RELEASE_SCHEMA[..2] {
            db.execute_batch(statement).expect("the old statement");
        }
        drop(db);
        assert_migrated_and_usable(&path, Some(&item)).await;
    }

    #[tokio::test]
    async fn opening_a_migrated_database_again_changes_nothing() {
        let (_dir, path) = database_file();
        let item = Item::create(fields("kept", None));
        let schema = |path: &Path| -> Vec<String> {
            let db = Connection::open(path).expect("opens");
            let mut select = db
                .prepare("SELECT sql FROM sqlite_schema ORDER BY name")
                .expect("prepares");
            select
                .query_map([], |row| row.get(0))
                .expect("reads the schema")
                .collect::<Result<_, _>>()
                .expect("rows")
        };
        let first = SqliteStore::open(&path).expect("creates");
        first.insert(&Owner::Shared, &item).await.expect("inserts");
        let before = schema(&path);
        let second = SqliteStore::open(&path).expect("opens beside the first");
        drop(first);
        drop(second);
        let third = SqliteStore::open(&path).expect("opens again");
        assert_eq!(user_version(&path), LATEST);
        assert_eq!(schema(&path), before);
        assert_eq!(
            third
                .get(&Owner::Shared, item.id)
                .await
                .expect("still there"),
            item
        );
    }

    #[tokio::test]
    async fn an_in_memory_database_gets_the_latest_version() {
        let store = SqliteStore::in_memory().expect("opens");
        let version = store
            .write(|db| schema_version(db, LATEST))
            .await
            .expect("reads");
        assert_eq!(version, LATEST);
        let item = Item::create(fields("in memory", None));
        store.insert(&Owner::Shared, &item).await.expect("inserts");
        assert_eq!(
            store
                .get(&Owner::Shared, item.id)
                .await
                .expect("reads back"),
            item
        );
    }

    #[test]
    fn a_database_from_a_newer_release_is_refused_and_left_alone() {
        let (_dir, path) = database_file();
        {
            let db = Connection::open(&path).expect("creates the file");
            db.execute_batch(&format!(
                "CREATE TABLE from_the_future (x); PRAGMA user_version = {};",
                LATEST + 1
            ))
            .expect("a database from a newer release");
        }
        let before = std::fs::read(&path).expect("readable");
        let error = SqliteStore::open(&path).expect_err("a newer schema is refused");
        let StoreError::Other(source) = &error else {
            panic!("not a fault that may pass: {error:?}");
        };
        assert_eq!(
            source.to_string(),
            format!(
                "the database is at schema version {}, this build knows up to {LATEST}: \
                 run a newer items-api",
                LATEST + 1
            )
        );
        assert_eq!(
            std::fs::read(&path).expect("readable"),
            before,
            "not written"
        );
        assert_eq!(user_version(&path), LATEST + 1);
    }

    #[test]
    fn a_failing_step_leaves_the_database_at_the_last_whole_version() {
        let (_dir, path) = database_file();
        let db = Connection::open(&path).expect("creates the file");
        let first = Migration {
            name: "first",
            change: Change::Sql("CREATE TABLE first (x);"),
        };
        let failing = Migration {
            name: "failing",
            change: Change::Sql("CREATE TABLE second (x); INSERT INTO nowhere VALUES (1);"),
        };
        migrate(&db, &[first, failing]).expect_err("the second step fails");
        assert_eq!(schema_version(&db, 2).expect("a version"), 1);
        let second: i64 = db
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name = 'second'",
                [],
                |row| row.get(0),
            )
            .expect("reads the schema");
        assert_eq!(
            second, 0,
            "the failed step's first statement is rolled back"
        );
        let first = Migration {
            name: "first",
            change: Change::Sql("CREATE TABLE first (x);"),
        };
        let fixed = Migration {
            name: "fixed",
            change: Change::Sql("CREATE TABLE second (x);"),
        };
        migrate(&db, &[first, fixed]).expect("the first step is not run again");
        assert_eq!(schema_version(&db, 2).expect("a version"), 2);
    }

    #[test]
    fn two_writers_migrating_one_file_at_once_apply_each_step_once() {
        // Steps that fail when run twice, as steps after the first four may.
        let steps = || {
            [
                Migration {
                    name: "a",
                    change: Change::Sql("CREATE TABLE a (x);"),
                },
                Migration {
                    name: "b",
                    change: Change::Sql("CREATE TABLE b (x);"),
                },
            ]
        };
        for _ in 0..20 {
            let (_dir, path) = database_file();
            let start = std::sync::Barrier::new(2);
            std::thread::scope(|scope| {
                let writers: Vec<_> = (0..2)
                    .map(|_| {
                        scope.spawn(|| {
                            let db = Connection::open(&path).expect("opens");
                            db.busy_timeout(BUSY_TIMEOUT).expect("a busy timeout");
                            start.wait();
                            migrate(&db, &steps())
                        })
                    })
                    .collect();
                for writer in writers {
                    writer.join().expect("no panic").expect("migrates");
                }
            });
            assert_eq!(user_version(&path), 2);
        }
    }

    #[tokio::test]
    async fn a_file_replaced_by_an_older_database_is_migrated_when_the_writer_reopens() {
        let (dir, path) = database_file();
        let store = SqliteStore::open(&path).expect("creates");
        let old_path = dir.path().join("old.db");
        let old = Item::create(fields("restored from an old backup", None));
        let db = legacy_database(&old_path, &[FIRST_RELEASE_SCHEMA]);
        insert_first_release_row(&db, &old);
        drop(db);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        std::fs::rename(&old_path, &path).expect("replaces the file");
        let created = Item::create(fields("after the restore", None));
        store
            .insert(&Owner::Shared, &created)
            .await
            .expect("writes into the new file");
        assert_eq!(user_version(&path), LATEST);
        assert_eq!(
            store
                .get(&Owner::Shared, old.id)
                .await
                .expect("the old item"),
            old
        );
        assert_eq!(
            store
                .get(&Owner::Shared, created.id)
                .await
                .expect("the new item"),
            created
        );
    }
}
