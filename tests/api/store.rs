//! One conformance suite for every `ItemStore`, and SQLite's own durability.
//!
//! `conformance_suite!(module, factory)` instantiates every test for a store; each
//! promise in the `ItemStore` docs has a test here.

use crate::support::dynamodb_client;
use items_api::context::error_chain;
use items_api::domain::idempotency::fingerprint;
use items_api::domain::{
    Cursor, IdempotencyKey, IdempotentCreate, IdempotentOutcome, Item, ItemFields, ItemId, NewItem,
    Owner, PageRequest, StoredResponse, Version,
};
use items_api::store::{DynamoDbStore, ItemStore, SqliteStore, StoreError};

/// The owner of every item in the cases that are not about owners.
const SHARED: Owner = Owner::Shared;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub fn fields(name: &str, description: Option<&str>) -> ItemFields {
    ItemFields::try_from(NewItem {
        name: name.to_owned(),
        description: description.map(str::to_owned),
    })
    .expect("valid fields")
}

pub async fn insert_then_get_returns_the_same_item(store: Arc<dyn ItemStore>) {
    let item = Item::create(fields("name", Some("description")));
    store.insert(&SHARED, &item).await.expect("insert");
    assert_eq!(store.get(&SHARED, item.id).await.expect("get"), item);
}

pub async fn insert_never_overwrites(store: Arc<dyn ItemStore>) {
    let item = Item::create(fields("first", None));
    store.insert(&SHARED, &item).await.expect("insert");
    let clash = Item {
        name: "second".to_owned(),
        ..item.clone()
    };
    assert!(matches!(
        store.insert(&SHARED, &clash).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        store.get(&SHARED, item.id).await.expect("get").name,
        "first"
    );
}

pub async fn missing_items_are_not_found(store: Arc<dyn ItemStore>) {
    let id = ItemId::generate();
    assert!(matches!(
        store.get(&SHARED, id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.replace(&SHARED, id, &fields("n", None), None).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.delete(&SHARED, id, None).await,
        Err(StoreError::NotFound { .. })
    ));
}

pub async fn replace_keeps_id_and_created_at(store: Arc<dyn ItemStore>) {
    let item = Item::create(fields("before", Some("old")));
    store.insert(&SHARED, &item).await.expect("insert");
    let replaced = store
        .replace(&SHARED, item.id, &fields("after", None), None)
        .await
        .expect("replace");
    assert_eq!(replaced.id, item.id);
    assert_eq!(replaced.created_at, item.created_at);
    assert!(replaced.updated_at >= item.updated_at);
    assert_eq!(replaced.name, "after");
    assert_eq!(replaced.description, None);
    assert_eq!(store.get(&SHARED, item.id).await.expect("get"), replaced);
}

pub async fn delete_removes_for_good(store: Arc<dyn ItemStore>) {
    let item = Item::create(fields("n", None));
    store.insert(&SHARED, &item).await.expect("insert");
    store.delete(&SHARED, item.id, None).await.expect("delete");
    assert!(matches!(
        store.get(&SHARED, item.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.delete(&SHARED, item.id, None).await,
        Err(StoreError::NotFound { .. })
    ));
}

/// Walks every page; returns the ids in the order listed.
pub async fn walk(store: &dyn ItemStore, limit: u32) -> Vec<ItemId> {
    let mut ids = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list(&SHARED, PageRequest { limit, after })
            .await
            .expect("list");
        assert!(page.items.len() <= limit as usize);
        ids.extend(page.items.iter().map(|item| item.id));
        match page.next_cursor {
            Some(text) => {
                after = Some(Cursor::decode(&text).expect("the store's own cursor decodes"))
            }
            None => return ids,
        }
    }
}

pub async fn list_pages_through_every_item_once_in_id_order(store: Arc<dyn ItemStore>) {
    let mut ids = Vec::new();
    for i in 0..25 {
        let item = Item::create(fields(&format!("item {i}"), None));
        store.insert(&SHARED, &item).await.expect("insert");
        ids.push(item.id);
    }
    for limit in [1, 7, 25, 100] {
        assert_eq!(walk(store.as_ref(), limit).await, ids, "limit {limit}");
    }
    let last = store
        .list(
            &SHARED,
            PageRequest {
                limit: 25,
                after: None,
            },
        )
        .await
        .expect("list");
    assert_eq!(
        last.next_cursor, None,
        "an exactly full last page has no cursor"
    );
}

pub async fn pagination_under_inserts_and_deletes_misses_nothing_present_throughout(
    store: Arc<dyn ItemStore>,
) {
    let mut stable = Vec::new();
    for i in 0..10 {
        let item = Item::create(fields(&format!("stable {i}"), None));
        store.insert(&SHARED, &item).await.expect("insert");
        stable.push(item.id);
    }
    let mut seen = Vec::new();
    let mut after = None;
    let mut round = 0;
    loop {
        let page = store
            .list(&SHARED, PageRequest { limit: 3, after })
            .await
            .expect("list");
        seen.extend(page.items.iter().map(|item| item.id));
        // Between pages: add new items and delete the last one listed.
        let extra = Item::create(fields(&format!("new {round}"), None));
        store.insert(&SHARED, &extra).await.expect("insert");
        if let Some(listed) = page.items.last().filter(|item| !stable.contains(&item.id)) {
            store
                .delete(&SHARED, listed.id, None)
                .await
                .expect("delete");
        }
        round += 1;
        match page.next_cursor {
            Some(text) => after = Cursor::decode(&text),
            None => break,
        }
        assert!(round < 100, "pagination terminates");
    }
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no item listed twice");
    for id in &stable {
        assert!(seen.contains(id), "{id} was present throughout");
    }
}

pub async fn a_cursor_after_a_deleted_item_still_continues(store: Arc<dyn ItemStore>) {
    let items: Vec<Item> = (0..3)
        .map(|i| Item::create(fields(&i.to_string(), None)))
        .collect();
    for item in &items {
        store.insert(&SHARED, item).await.expect("insert");
    }
    store
        .delete(&SHARED, items[0].id, None)
        .await
        .expect("delete");
    let page = store
        .list(
            &SHARED,
            PageRequest {
                limit: 10,
                after: Some(Cursor::after(items[0].id)),
            },
        )
        .await
        .expect("list");
    assert_eq!(
        page.items.iter().map(|i| i.id).collect::<Vec<_>>(),
        [items[1].id, items[2].id]
    );
}

pub async fn unicode_and_edge_size_values_round_trip(store: Arc<dyn ItemStore>) {
    let values = [
        ("x".to_owned(), Some(String::new())),
        ("🚀".repeat(200), Some("ß".repeat(2000))),
        (
            "日本語 \u{0} \"quotes\" \\ / \n".to_owned(),
            Some("\u{feff}\u{10ffff}".to_owned()),
        ),
    ];
    for (name, description) in values {
        let item = Item::create(fields(&name, description.as_deref()));
        store.insert(&SHARED, &item).await.expect("insert");
        assert_eq!(store.get(&SHARED, item.id).await.expect("get"), item);
    }
}

pub async fn concurrent_writers_lose_nothing(store: Arc<dyn ItemStore>) {
    let mut tasks = Vec::new();
    for writer in 0..8 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..10 {
                let item = Item::create(fields(&format!("w{writer} #{i}"), None));
                store.insert(&SHARED, &item).await.expect("insert");
                ids.push(item.id);
            }
            ids
        }));
    }
    let mut written = HashSet::new();
    for task in tasks {
        written.extend(task.await.expect("writer finished"));
    }
    let listed: HashSet<ItemId> = walk(store.as_ref(), 100).await.into_iter().collect();
    assert_eq!(listed, written);
    assert_eq!(listed.len(), 80);
}

pub async fn check_succeeds_on_a_working_store(store: Arc<dyn ItemStore>) {
    store
        .check()
        .await
        .expect("a working store answers its check");
}

/// An idempotent create of `item` with `key`, fingerprinted by `body`.
fn keyed(item: &Item, key: &str, body: &str, expires_in: chrono::Duration) -> IdempotentCreate {
    IdempotentCreate {
        key: IdempotencyKey::parse(key).expect("a valid key"),
        fingerprint: fingerprint("POST", "/api/items", body.as_bytes()),
        response: StoredResponse {
            status: 201,
            location: format!("/api/items/{}", item.id),
            body: format!("{{\"id\":\"{}\"}}", item.id),
        },
        expires_at: chrono::Utc::now() + expires_in,
    }
}

pub async fn a_retried_create_with_its_key_is_replayed_never_stored_twice(
    store: Arc<dyn ItemStore>,
) {
    let day = chrono::Duration::hours(24);
    let first = Item::create(fields("first", None));
    let create = keyed(&first, "key-1", "{first}", day);
    assert_eq!(
        store
            .insert_idempotent(&SHARED, &first, &create)
            .await
            .expect("stored"),
        IdempotentOutcome::Created
    );
    // The retry builds a new item (a new id), as the handler does: it is not stored.
    let retry = Item::create(fields("first", None));
    let outcome = store
        .insert_idempotent(&SHARED, &retry, &keyed(&retry, "key-1", "{first}", day))
        .await
        .expect("answered");
    assert_eq!(
        outcome,
        IdempotentOutcome::Replayed(create.response.clone())
    );
    assert!(matches!(
        store.get(&SHARED, retry.id).await,
        Err(StoreError::NotFound { .. })
    ));
    // Another request with the same key: refused, nothing stored.
    let other = Item::create(fields("other", None));
    assert_eq!(
        store
            .insert_idempotent(&SHARED, &other, &keyed(&other, "key-1", "{other}", day))
            .await
            .expect("answered"),
        IdempotentOutcome::KeyReused
    );
    assert!(matches!(
        store.get(&SHARED, other.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(walk(store.as_ref(), 100).await, vec![first.id]);
}

pub async fn distinct_keys_are_independent(store: Arc<dyn ItemStore>) {
    let day = chrono::Duration::days(1);
    let (a, b) = (
        Item::create(fields("a", None)),
        Item::create(fields("b", None)),
    );
    for (item, key) in [(&a, "key-a"), (&b, "key-b")] {
        let outcome = store
            .insert_idempotent(&SHARED, item, &keyed(item, key, "{same body}", day))
            .await
            .expect("insert");
        assert!(
            matches!(outcome, IdempotentOutcome::Created),
            "{key}: {outcome:?}"
        );
    }
    assert_eq!(
        store
            .get(&SHARED, b.id)
            .await
            .expect("the second key's item"),
        b
    );
}

pub async fn an_expired_key_is_forgotten(store: Arc<dyn ItemStore>) {
    let old = Item::create(fields("old", None));
    let expired = keyed(&old, "key-2", "{old}", chrono::Duration::seconds(-10));
    assert_eq!(
        store
            .insert_idempotent(&SHARED, &old, &expired)
            .await
            .expect("stored"),
        IdempotentOutcome::Created
    );
    let new = Item::create(fields("new", None));
    assert_eq!(
        store
            .insert_idempotent(
                &SHARED,
                &new,
                &keyed(&new, "key-2", "{new}", chrono::Duration::hours(1))
            )
            .await
            .expect("stored"),
        IdempotentOutcome::Created
    );
    assert_eq!(walk(store.as_ref(), 100).await.len(), 2);
}

pub async fn concurrent_creates_with_one_key_store_exactly_one_item(store: Arc<dyn ItemStore>) {
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let item = Item::create(fields("same", None));
                // Half the callers retry the same request, half send another body.
                let body = if i % 2 == 0 { "{same}" } else { "{different}" };
                let create = keyed(&item, "key-3", body, chrono::Duration::hours(1));
                let outcome = store.insert_idempotent(&SHARED, &item, &create).await;
                (body, item.id, create.response, outcome)
            })
        })
        .collect();
    let mut calls = Vec::new();
    for task in tasks {
        let (body, id, response, outcome) = task.await.expect("joined");
        calls.push((body, id, response, outcome.expect("answered")));
    }
    let winners: Vec<_> = calls
        .iter()
        .filter(|(.., outcome)| *outcome == IdempotentOutcome::Created)
        .collect();
    assert_eq!(winners.len(), 1, "{calls:#?}");
    let (winning_body, winner, winning_response, _) = winners[0];
    assert_eq!(walk(store.as_ref(), 100).await, vec![*winner]);
    // Whoever lost saw the winner's record: a replay of the winner's response for the
    // winner's body, a refusal for the other body.
    for (body, id, _, outcome) in &calls {
        if id == winner {
            continue;
        }
        let expected = if body == winning_body {
            IdempotentOutcome::Replayed(winning_response.clone())
        } else {
            IdempotentOutcome::KeyReused
        };
        assert_eq!(*outcome, expected, "a caller that sent {body}: {calls:#?}");
    }
}

pub async fn conditional_writes_apply_only_to_the_version_named(store: Arc<dyn ItemStore>) {
    let item = Item::create(fields("v1", None));
    store.insert(&SHARED, &item).await.expect("insert");
    assert_eq!(
        store.get(&SHARED, item.id).await.expect("get").version,
        Version::FIRST
    );
    let v2 = store
        .replace(&SHARED, item.id, &fields("v2", None), Some(Version::FIRST))
        .await
        .expect("the named version is current");
    assert_eq!(v2.version, Version(2));
    assert!(matches!(
        store
            .replace(
                &SHARED,
                item.id,
                &fields("stale", None),
                Some(Version::FIRST)
            )
            .await,
        Err(StoreError::PreconditionFailed)
    ));
    assert!(matches!(
        store.delete(&SHARED, item.id, Some(Version::FIRST)).await,
        Err(StoreError::PreconditionFailed)
    ));
    assert_eq!(
        store.get(&SHARED, item.id).await.expect("still there").name,
        "v2"
    );
    let missing = ItemId::generate();
    assert!(matches!(
        store
            .replace(&SHARED, missing, &fields("n", None), Some(Version::FIRST))
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.delete(&SHARED, missing, Some(Version(2))).await,
        Err(StoreError::NotFound { .. })
    ));
    store
        .delete(&SHARED, item.id, Some(Version(2)))
        .await
        .expect("deleted at its version");
}

pub async fn concurrent_if_match_writers_exactly_one_wins(store: Arc<dyn ItemStore>) {
    let item = Item::create(fields("contended", None));
    store.insert(&SHARED, &item).await.expect("insert");
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .replace(
                        &SHARED,
                        item.id,
                        &fields(&format!("writer {i}"), None),
                        Some(Version::FIRST),
                    )
                    .await
            })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.expect("joined") {
            Ok(replaced) => {
                won += 1;
                assert_eq!(replaced.version, Version(2));
            }
            Err(StoreError::PreconditionFailed) => {}
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(
        store.get(&SHARED, item.id).await.expect("get").version,
        Version(2)
    );
}

/// What a store factory hands over beside the store: whatever must live as long as the
/// store (an emulator, a temporary folder).
pub type Guard = Box<dyn std::any::Any + Send>;

/// A user, by their token's subject.
fn user(subject: &str) -> Owner {
    Owner::user(subject).expect("a valid subject")
}

/// Two users and the shared owner on one store: each sees, changes and lists only
/// their own items; another's item is not found, whatever the write's condition (a 412
/// would tell the id exists), and stays as it was.
pub async fn owners_see_only_their_own_items(store: Arc<dyn ItemStore>) {
    let (alice, bob) = (user("alice"), user("bob"));
    let alices = Item::create(fields("alice's", None));
    let bobs = Item::create(fields("bob's", None));
    let shared = Item::create(fields("shared", None));
    store.insert(&alice, &alices).await.expect("insert");
    store.insert(&bob, &bobs).await.expect("insert");
    store.insert(&SHARED, &shared).await.expect("insert");
    for (owner, item) in [(&alice, &alices), (&bob, &bobs), (&SHARED, &shared)] {
        assert_eq!(&store.get(owner, item.id).await.expect("own item"), item);
        let page = store
            .list(
                owner,
                PageRequest {
                    limit: 10,
                    after: None,
                },
            )
            .await
            .expect("lists");
        assert_eq!(
            page.items,
            vec![item.clone()],
            "{owner:?} lists only its own"
        );
    }
    for (stranger, item) in [(&bob, &alices), (&SHARED, &alices), (&alice, &shared)] {
        let not_found = |result: Result<(), StoreError>, what: &str| {
            assert!(
                matches!(result, Err(StoreError::NotFound { .. })),
                "{stranger:?} {what} {}: {result:?}",
                item.name
            );
        };
        not_found(store.get(stranger, item.id).await.map(drop), "reads");
        for expected in [None, Some(Version::FIRST), Some(Version(2))] {
            not_found(
                store
                    .replace(stranger, item.id, &fields("taken", None), expected)
                    .await
                    .map(drop),
                "replaces",
            );
            not_found(store.delete(stranger, item.id, expected).await, "deletes");
        }
    }
    assert_eq!(
        store.get(&alice, alices.id).await.expect("unchanged"),
        alices
    );
    assert_eq!(
        store.get(&SHARED, shared.id).await.expect("unchanged"),
        shared
    );
}

/// One `Idempotency-Key` in two owners' hands is two keys: each creates its own item,
/// and each retry replays its own owner's answer.
pub async fn idempotency_keys_are_per_owner(store: Arc<dyn ItemStore>) {
    let day = chrono::Duration::days(1);
    let (alice, bob) = (user("alice"), user("bob"));
    let alices = Item::create(fields("alice's", None));
    let bobs = Item::create(fields("bob's", None));
    let alices_key = keyed(&alices, "shared-key", "{alice}", day);
    let bobs_key = keyed(&bobs, "shared-key", "{bob}", day);
    for (owner, item, create) in [(&alice, &alices, &alices_key), (&bob, &bobs, &bobs_key)] {
        assert_eq!(
            store
                .insert_idempotent(owner, item, create)
                .await
                .expect("stored"),
            IdempotentOutcome::Created,
            "{owner:?}"
        );
    }
    let retry = Item::create(fields("alice's", None));
    assert_eq!(
        store
            .insert_idempotent(&alice, &retry, &keyed(&retry, "shared-key", "{alice}", day))
            .await
            .expect("answered"),
        IdempotentOutcome::Replayed(alices_key.response.clone())
    );
    assert_eq!(store.get(&bob, bobs.id).await.expect("bob's own"), bobs);
    assert!(matches!(
        store.get(&bob, alices.id).await,
        Err(StoreError::NotFound { .. })
    ));
}

/// Instantiates the conformance suite for a store factory; with `after`, an async check
/// of the store and its guard that runs after each case.
#[macro_export]
macro_rules! conformance_suite {
    ($module:ident, $factory:expr) => {
        $crate::conformance_suite!($module, $factory, nothing_after);
    };
    ($module:ident, $factory:expr, $after:expr) => {
        mod $module {
            use super::*;

            macro_rules! case {
                ($name:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        let (store, guard): (Arc<dyn ItemStore>, Guard) = $factory.await;
                        super::$name(Arc::clone(&store)).await;
                        $after(store, guard).await;
                    }
                };
            }

            case!(insert_then_get_returns_the_same_item);
            case!(insert_never_overwrites);
            case!(missing_items_are_not_found);
            case!(replace_keeps_id_and_created_at);
            case!(delete_removes_for_good);
            case!(list_pages_through_every_item_once_in_id_order);
            case!(pagination_under_inserts_and_deletes_misses_nothing_present_throughout);
            case!(a_cursor_after_a_deleted_item_still_continues);
            case!(unicode_and_edge_size_values_round_trip);
            case!(concurrent_writers_lose_nothing);
            case!(check_succeeds_on_a_working_store);
            case!(a_retried_create_with_its_key_is_replayed_never_stored_twice);
            case!(an_expired_key_is_forgotten);
            case!(distinct_keys_are_independent);
            case!(concurrent_creates_with_one_key_store_exactly_one_item);
            case!(conditional_writes_apply_only_to_the_version_named);
            case!(concurrent_if_match_writers_exactly_one_wins);
            case!(owners_see_only_their_own_items);
            case!(idempotency_keys_are_per_owner);
        }
    };
}

/// No check after a case.
async fn nothing_after(_store: Arc<dyn ItemStore>, _guard: Guard) {}

/// `:memory:`: private to one connection, so its reads go through the writer.
async fn sqlite_in_memory() -> (Arc<dyn ItemStore>, Guard) {
    (
        Arc::new(SqliteStore::in_memory().expect("in-memory SQLite")),
        Box::new(()),
    )
}

/// A SQLite database file and the folder that holds it (removed on drop).
struct SqliteFile {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

/// A store on a database file in a fresh folder, as the service runs: reads go through
/// the pool of read-only connections, writes through the writer.
async fn sqlite_file() -> (Arc<dyn ItemStore>, Guard) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("items.db");
    let store = SqliteStore::open(&path).expect("file SQLite");
    (Arc::new(store), Box::new(SqliteFile { path, _dir: dir }))
}

/// A store that has been through its reopen path: after it opened its database file,
/// another database took the path (as restoring a backup does), and a write noticed
/// (the file-identity check), opened the path anew and brought the readers along. Every
/// promise must hold on the new file, and it must hold what the store answers.
async fn sqlite_file_reopened() -> (Arc<dyn ItemStore>, Guard) {
    let (store, guard) = sqlite_file().await;
    let file = guard.downcast_ref::<SqliteFile>().expect("a SqliteFile");
    replace_database(&file.path, &[]).await;
    let scratch = Item::create(fields("makes the store reopen its path", None));
    store
        .insert(&SHARED, &scratch)
        .await
        .expect("the first write after the swap opens the path anew");
    store
        .delete(&SHARED, scratch.id, None)
        .await
        .expect("delete");
    (store, guard)
}

/// Puts another database holding `items` at `path`, in place of the one there and its
/// WAL and shared-memory index. The new one is closed first, so it is whole in its one
/// file (its schema on its first page, no WAL): a connection still on the old file
/// reads another schema and other pages, and shows.
async fn replace_database(path: &Path, items: &[Item]) {
    let other = path.with_extension("other.db");
    {
        let other = SqliteStore::open(&other).expect("another database");
        for item in items {
            other.insert(&SHARED, item).await.expect("insert");
        }
    }
    remove_database(path);
    std::fs::rename(&other, path).expect("the other database takes the path");
}

/// Removes a database file with its WAL and shared-memory index.
fn remove_database(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", path.display());
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("cannot remove {file}: {e}"),
        }
    }
}

/// After a case: the file the path names holds exactly what the store answers, so what
/// it acknowledged is what a restart reads.
async fn the_file_holds_what_the_store_answers(store: Arc<dyn ItemStore>, guard: Guard) {
    let file = guard.downcast_ref::<SqliteFile>().expect("a SqliteFile");
    let reopened = SqliteStore::open(&file.path).expect("reopens");
    let answered = walk(store.as_ref(), 100).await;
    assert_eq!(
        walk(&reopened, 100).await,
        answered,
        "{}",
        file.path.display()
    );
    for id in answered {
        assert_eq!(
            reopened.get(&SHARED, id).await.expect("in the file"),
            store.get(&SHARED, id).await.expect("answered")
        );
    }
}

/// A DynamoDB store over a fresh table in its own moto_server, sharded the default way.
async fn dynamodb_on_moto() -> (Arc<dyn ItemStore>, Guard) {
    dynamodb_sharded(items_api::config::DEFAULT_SHARDS).await
}

/// The same with `shards` shards per owner.
async fn dynamodb_sharded(shards: u16) -> (Arc<dyn ItemStore>, Guard) {
    let moto = crate::support::Moto::start();
    let client = dynamodb_client(&moto.endpoint);
    DynamoDbStore::create_table(&client, "items", shards)
        .await
        .expect("moto creates the table");
    (
        Arc::new(DynamoDbStore::new(client, "items")),
        Box::new(moto),
    )
}

/// A table without a layout item (the template's, an earlier release's): one
/// partition per owner.
async fn dynamodb_single_partition() -> (Arc<dyn ItemStore>, Guard) {
    let moto = crate::support::Moto::start();
    let client = dynamodb_client(&moto.endpoint);
    crate::support::single_partition_table(&client, "items").await;
    (
        Arc::new(DynamoDbStore::new(client, "items")),
        Box::new(moto),
    )
}

/// A table in the middle of a migration to 3 shards: new records go to the shards,
/// reads look in the single partition too (records still there are the migration
/// test's: `dynamodb_migration_moves_everything_under_traffic`).
async fn dynamodb_migrating() -> (Arc<dyn ItemStore>, Guard) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let moto = crate::support::Moto::start();
    let client = dynamodb_client(&moto.endpoint);
    crate::support::single_partition_table(&client, "items").await;
    client
        .put_item()
        .table_name("items")
        .item("pk", AttributeValue::S("LAYOUT".into()))
        .item("id", AttributeValue::S("layout".into()))
        .item("shards", AttributeValue::N("3".into()))
        .item("state", AttributeValue::S("migrating".into()))
        .send()
        .await
        .expect("the migrating layout");
    (
        Arc::new(DynamoDbStore::new(client, "items")),
        Box::new(moto),
    )
}

conformance_suite!(sqlite_in_memory, sqlite_in_memory());
conformance_suite!(
    sqlite_file,
    sqlite_file(),
    the_file_holds_what_the_store_answers
);
conformance_suite!(
    sqlite_file_reopened,
    sqlite_file_reopened(),
    the_file_holds_what_the_store_answers
);
conformance_suite!(dynamodb, dynamodb_on_moto());
conformance_suite!(dynamodb_one_shard, dynamodb_sharded(1));
conformance_suite!(dynamodb_sixteen_shards, dynamodb_sharded(16));
conformance_suite!(dynamodb_single_partition, dynamodb_single_partition());
conformance_suite!(dynamodb_migrating, dynamodb_migrating());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_missing_table_is_unavailable_not_a_bug() {
    let moto = crate::support::Moto::start();
    let store = DynamoDbStore::new(dynamodb_client(&moto.endpoint), "no-such-table");
    assert!(matches!(
        store.check().await,
        Err(StoreError::Unavailable { .. })
    ));
    assert!(matches!(
        store.get(&SHARED, ItemId::generate()).await,
        Err(StoreError::Unavailable { .. })
    ));
    // Health reports name it so.
    assert_eq!(store.backend(), "dynamodb");
}

/// What a release before owners wrote (pk `ITEM` and `IDEMPOTENCY`; the oldest
/// releases wrote no `version`) is the shared owner's as it stands: no migration step.
/// A versionless item counts as version 1 for `If-Match`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_data_of_earlier_releases_is_the_shared_owners() {
    use aws_sdk_dynamodb::types::AttributeValue::{N, S};
    let moto = crate::support::Moto::start();
    let client = dynamodb_client(&moto.endpoint);
    crate::support::single_partition_table(&client, "items").await;
    let (versioned, versionless) = (
        Item::create(fields("written with a version", None)),
        Item::create(fields("written before versions", Some("old"))),
    );
    for (item, version) in [(&versioned, Some("4")), (&versionless, None)] {
        let mut put = client
            .put_item()
            .table_name("items")
            .item("pk", S("ITEM".into()))
            .item("id", S(item.id.to_string()))
            .item("name", S(item.name.clone()))
            .item(
                "created_at",
                S(item
                    .created_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
            )
            .item(
                "updated_at",
                S(item
                    .updated_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
            );
        if let Some(description) = &item.description {
            put = put.item("description", S(description.clone()));
        }
        if let Some(version) = version {
            put = put.item("version", N(version.into()));
        }
        put.send().await.expect("an earlier release's item");
    }
    let keyed_item = Item::create(fields("keyed", None));
    let create = keyed(&keyed_item, "old-key", "{old}", chrono::Duration::days(1));
    client
        .put_item()
        .table_name("items")
        .item("pk", S("IDEMPOTENCY".into()))
        .item("id", S("old-key".into()))
        .item("fingerprint", S(create.fingerprint.clone()))
        .item("status", N("201".into()))
        .item("location", S(create.response.location.clone()))
        .item("body", S(create.response.body.clone()))
        .item(
            "expires_at",
            N((chrono::Utc::now().timestamp() + 3600).to_string()),
        )
        .send()
        .await
        .expect("an earlier release's key");

    let store = DynamoDbStore::new(client, "items");
    let listed = store
        .list(
            &SHARED,
            PageRequest {
                limit: 10,
                after: None,
            },
        )
        .await
        .expect("lists");
    let mut ids: Vec<_> = listed.items.iter().map(|item| item.id).collect();
    let mut expected = vec![versioned.id, versionless.id];
    ids.sort();
    expected.sort();
    assert_eq!(ids, expected);
    let read = store
        .get(&SHARED, versionless.id)
        .await
        .expect("the shared owner's");
    assert_eq!(
        (read.version, read.description.as_deref()),
        (Version::FIRST, Some("old"))
    );
    assert_eq!(
        store
            .get(&SHARED, versioned.id)
            .await
            .expect("read")
            .version,
        Version(4)
    );
    assert!(matches!(
        store.get(&user("someone"), versionless.id).await,
        Err(StoreError::NotFound { .. })
    ));
    // A versionless item is version 1: If-Match 2 fails, If-Match 1 holds.
    assert!(matches!(
        store
            .delete(&SHARED, versionless.id, Some(Version(2)))
            .await,
        Err(StoreError::PreconditionFailed)
    ));
    let replaced = store
        .replace(
            &SHARED,
            versionless.id,
            &fields("replaced", None),
            Some(Version::FIRST),
        )
        .await
        .expect("version 1 matches");
    assert_eq!(replaced.version, Version(2));
    // The earlier release's key replays for the shared owner, and is no user's.
    let retry = Item::create(fields("keyed", None));
    assert_eq!(
        store
            .insert_idempotent(&SHARED, &retry, &create)
            .await
            .expect("answered"),
        IdempotentOutcome::Replayed(create.response.clone())
    );
    assert_eq!(
        store
            .insert_idempotent(&user("someone"), &retry, &create)
            .await
            .expect("answered"),
        IdempotentOutcome::Created
    );
}

/// An endpoint nothing listens on: every operation is `Unavailable` (503, retry), never
/// a missing item (a failed write read as a failed condition) or a bug (500).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_unreachable_is_unavailable_for_every_operation() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let endpoint = format!("http://{}", closed.local_addr().expect("an address"));
    drop(closed);
    // Without the SDK's retries: each call fails at once, as every attempt would.
    let client = aws_sdk_dynamodb::Client::from_conf(
        dynamodb_client(&endpoint)
            .config()
            .to_builder()
            .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
            .build(),
    );
    let store = DynamoDbStore::new(client, "items");
    let item = Item::create(fields("n", None));
    let create = keyed(&item, "k", "{}", chrono::Duration::days(1));
    let id = item.id;
    let results: Vec<(&str, Result<(), StoreError>)> = vec![
        ("insert", store.insert(&SHARED, &item).await),
        (
            "insert_idempotent",
            store
                .insert_idempotent(&SHARED, &item, &create)
                .await
                .map(drop),
        ),
        ("get", store.get(&SHARED, id).await.map(drop)),
        (
            "replace",
            store
                .replace(&SHARED, id, &fields("m", None), None)
                .await
                .map(drop),
        ),
        (
            "replace if-match",
            store
                .replace(&SHARED, id, &fields("m", None), Some(Version::FIRST))
                .await
                .map(drop),
        ),
        ("delete", store.delete(&SHARED, id, None).await),
        (
            "list",
            store
                .list(
                    &SHARED,
                    PageRequest {
                        limit: 5,
                        after: None,
                    },
                )
                .await
                .map(drop),
        ),
        ("check", store.check().await),
    ];
    for (operation, result) in results {
        assert!(
            matches!(result, Err(StoreError::Unavailable { .. })),
            "{operation}: {result:?}"
        );
    }
}

/// A partition over its write throughput (modelled in front of moto, as DynamoDB
/// answers it): every kind of write is `Unavailable` (503, retry), the idempotent
/// create's transaction included (DynamoDB cancels it with a `ThrottlingError`
/// reason, which the SDK does not retry), and the health check's write probe fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_throttled_writes_are_unavailable_not_a_bug() {
    let moto = crate::support::Moto::start();
    // One shard: every write of the test lands on the one throttled partition.
    DynamoDbStore::create_table(&dynamodb_client(&moto.endpoint), "items", 1)
        .await
        .expect("moto creates the table");
    let limits = crate::support::PartitionLimits::start(&moto.endpoint, 0.01, 1000.0);
    let client = aws_sdk_dynamodb::Client::from_conf(
        dynamodb_client(&limits.endpoint)
            .config()
            .to_builder()
            .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
            .build(),
    );
    let store = DynamoDbStore::new(client, "items");
    // The bucket holds its burst: spend it with one plain create.
    let first = Item::create(fields("first", None));
    let _ = store.insert(&SHARED, &first).await;
    let item = Item::create(fields("n", None));
    let create = keyed(&item, "k", "{}", chrono::Duration::days(1));
    let results: Vec<(&str, Result<(), StoreError>)> = vec![
        ("insert", store.insert(&SHARED, &item).await),
        (
            "insert_idempotent",
            store
                .insert_idempotent(&SHARED, &item, &create)
                .await
                .map(drop),
        ),
        (
            "replace",
            store
                .replace(&SHARED, first.id, &fields("m", None), None)
                .await
                .map(drop),
        ),
        ("delete", store.delete(&SHARED, first.id, None).await),
    ];
    for (operation, result) in results {
        assert!(
            matches!(result, Err(StoreError::Unavailable { .. })),
            "{operation}: {result:?}"
        );
    }
    // The probe's own partition: its first write spends the burst, the next is refused.
    let _ = store.check().await;
    let checked = store.check().await;
    assert!(
        matches!(checked, Err(StoreError::Unavailable { .. })),
        "{checked:?}"
    );
    assert!(
        error_chain(&checked.expect_err("failed")).contains("write"),
        "the check names its write"
    );
}

/// Writes `item` of `owner` as the releases before sharding did (pk `ITEM`/`ITEM#sub`).
async fn put_single_partition_item(client: &aws_sdk_dynamodb::Client, owner: &Owner, item: &Item) {
    use aws_sdk_dynamodb::types::AttributeValue::{N, S};
    let pk = match owner.subject() {
        None => "ITEM".to_owned(),
        Some(subject) => format!("ITEM#{subject}"),
    };
    let stamp = |at: chrono::DateTime<chrono::Utc>| {
        S(at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    };
    client
        .put_item()
        .table_name("items")
        .item("pk", S(pk))
        .item("id", S(item.id.to_string()))
        .item("name", S(item.name.clone()))
        .item("created_at", stamp(item.created_at))
        .item("updated_at", stamp(item.updated_at))
        .item("version", N(item.version.0.to_string()))
        .send()
        .await
        .expect("an earlier release's item");
}

/// Every item of `owner`, by walking the list `limit` at a time; fails on a repeat.
async fn walk_items(store: &dyn ItemStore, owner: &Owner, limit: u32) -> Vec<Item> {
    let mut items: Vec<Item> = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list(owner, PageRequest { limit, after })
            .await
            .expect("lists");
        for item in &page.items {
            assert!(
                items.iter().all(|seen| seen.id != item.id),
                "{} listed twice",
                item.id
            );
        }
        items.extend(page.items.iter().cloned());
        match page.next_cursor {
            Some(text) => after = Some(Cursor::decode(&text).expect("the store's own cursor")),
            None => return items,
        }
    }
}

/// A table written by the release before sharding, migrated to 4 shards while clients
/// keep creating, replacing, deleting and listing through a store that reads the
/// layout every 100 ms (as each process does every DYNAMODB_LAYOUT_REFRESH_S): no item
/// is lost or duplicated, every change made during the move is kept, walks made
/// during it list each item that was there throughout exactly once, and the earlier
/// release's idempotency keys still replay. Interrupted, it resumes; run again, it
/// does nothing; asked for another shard count, it refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_migration_moves_everything_under_traffic() {
    use items_api::store::dynamodb::migrate::migrate;
    use std::time::Duration;
    let moto = crate::support::Moto::start();
    let client = dynamodb_client(&moto.endpoint);
    crate::support::single_partition_table(&client, "items").await;
    let alice = user("alice");
    let mut before: Vec<(Owner, Item)> = Vec::new();
    for n in 0..60 {
        let owner = if n % 3 == 0 { alice.clone() } else { SHARED };
        let item = Item::create(fields(&format!("old {n}"), None));
        put_single_partition_item(&client, &owner, &item).await;
        before.push((owner, item));
    }
    let keyed_item = Item::create(fields("keyed", None));
    let old_key = keyed(&keyed_item, "old-key", "{old}", chrono::Duration::days(1));
    let store =
        DynamoDbStore::new(client.clone(), "items").with_layout_refresh(Duration::from_millis(100));
    assert_eq!(
        store
            .insert_idempotent(&SHARED, &keyed_item, &old_key)
            .await
            .expect("stored in the single partition"),
        IdempotentOutcome::Created
    );

    // Interrupted in its first pass: the layout stays "migrating", records are in both
    // places, and the service answers from both.
    let interrupted = DynamoDbStore::new(client.clone(), "items");
    let _ = tokio::time::timeout(
        Duration::from_millis(400),
        migrate(&interrupted, 4, Duration::from_millis(300)),
    )
    .await;
    assert!(matches!(
        store.layout().await.expect("read"),
        items_api::store::dynamodb::layout::Layout::Migrating { shards: 4 }
    ));

    // Traffic during the (resumed) migration.
    let traffic = {
        let store = store.clone();
        let before = before.clone();
        let alice = alice.clone();
        tokio::spawn(async move {
            let mut created = Vec::new();
            let mut replaced = Vec::new();
            let mut deleted = Vec::new();
            for round in 0..12 {
                let owner = if round % 2 == 0 {
                    SHARED
                } else {
                    alice.clone()
                };
                let item = Item::create(fields(&format!("new {round}"), None));
                store
                    .insert(&owner, &item)
                    .await
                    .expect("create during the move");
                created.push((owner, item));
                let (owner, old) = &before[round * 5];
                let new = store
                    .replace(
                        owner,
                        old.id,
                        &fields(&format!("replaced {round}"), None),
                        Some(old.version),
                    )
                    .await
                    .expect("replace during the move");
                replaced.push((owner.clone(), new));
                let (owner, old) = &before[round * 5 + 1];
                store
                    .delete(owner, old.id, None)
                    .await
                    .expect("delete during the move");
                deleted.push(old.id);
                // A walk during the move lists each untouched old item exactly once.
                let listed = walk_items(&store, &SHARED, 7).await;
                for (owner, old) in before
                    .iter()
                    .skip(round * 5 + 2)
                    .filter(|(o, _)| *o == SHARED)
                {
                    assert!(
                        listed.iter().any(|i| i.id == old.id),
                        "{owner:?} {} missed mid-move",
                        old.id
                    );
                }
            }
            (created, replaced, deleted)
        })
    };
    let report = migrate(&store, 4, Duration::from_millis(300))
        .await
        .expect("migrates");
    let (created, replaced, deleted) = traffic.await.expect("the traffic ran");
    assert!(report.passes >= 1 && !report.already_sharded, "{report:?}");
    assert!(matches!(
        store.layout().await.expect("read"),
        items_api::store::dynamodb::layout::Layout::Sharded { shards: 4 }
    ));

    // Nothing left in a single partition; every record once.
    let scanned = client
        .scan()
        .table_name("items")
        .send()
        .await
        .expect("scans");
    let pks: Vec<String> = scanned
        .items()
        .iter()
        .filter_map(|record| record.get("pk").and_then(|pk| pk.as_s().ok()).cloned())
        .collect();
    assert!(
        pks.iter().all(|pk| pk.starts_with("ITEMS#")
            || pk.starts_with("USER#")
            || pk.starts_with("KEYS#")
            || pk == "LAYOUT"),
        "{pks:?}"
    );
    let mut expected: std::collections::HashMap<ItemId, Item> = before
        .iter()
        .map(|(_, item)| (item.id, item.clone()))
        .chain(created.iter().map(|(_, item)| (item.id, item.clone())))
        .chain(std::iter::once((keyed_item.id, keyed_item.clone())))
        .collect();
    for (_, item) in &replaced {
        expected.insert(item.id, item.clone());
    }
    for id in &deleted {
        expected.remove(id);
    }
    let mut listed = walk_items(&store, &SHARED, 9).await;
    listed.extend(walk_items(&store, &alice, 9).await);
    assert_eq!(listed.len(), expected.len(), "no item lost or duplicated");
    for item in &listed {
        assert_eq!(Some(item), expected.get(&item.id), "as last written");
    }
    assert_eq!(
        pks.iter()
            .filter(|pk| !pk.starts_with("KEYS#") && *pk != "LAYOUT")
            .count(),
        expected.len()
    );
    // The earlier key, moved, still replays.
    let retry = Item::create(fields("keyed", None));
    assert_eq!(
        store
            .insert_idempotent(&SHARED, &retry, &old_key)
            .await
            .expect("answered"),
        IdempotentOutcome::Replayed(old_key.response.clone())
    );

    // Again: nothing to do. Another shard count: refused.
    let again = migrate(&store, 4, Duration::ZERO).await.expect("runs");
    assert!(again.already_sharded);
    assert_eq!((again.items, again.keys), (0, 0));
    // A straggler (a server whose layout refresh outlasted the wait) wrote to the old
    // place after the switch: the item is invisible until migrate runs again.
    let straggler = Item::create(fields("written late to the old place", None));
    put_single_partition_item(&client, &SHARED, &straggler).await;
    assert!(matches!(
        store.get(&SHARED, straggler.id).await,
        Err(StoreError::NotFound { .. })
    ));
    let swept = migrate(&store, 4, Duration::ZERO).await.expect("sweeps");
    assert_eq!((swept.already_sharded, swept.items), (true, 1));
    assert_eq!(
        store.get(&SHARED, straggler.id).await.expect("moved"),
        straggler
    );
    let refused = migrate(&store, 8, Duration::ZERO)
        .await
        .expect_err("refused");
    assert!(
        error_chain(&refused).contains("not supported"),
        "{}",
        error_chain(&refused)
    );
}

/// A table with nothing to move: one pass finds nothing, the layout becomes sharded,
/// and the command ends (within seconds: it must not loop looking for more).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_migrating_an_empty_table_takes_one_pass() {
    use items_api::store::dynamodb::migrate::migrate;
    let moto = crate::support::Moto::start();
    let client = dynamodb_client(&moto.endpoint);
    crate::support::single_partition_table(&client, "items").await;
    let store = DynamoDbStore::new(client, "items");
    let report = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        migrate(&store, 2, std::time::Duration::ZERO),
    )
    .await
    .expect("ends")
    .expect("migrates");
    assert_eq!((report.passes, report.items, report.keys), (1, 0, 0));
    assert!(!report.already_sharded);
    assert_eq!(
        store.layout().await.expect("read"),
        items_api::store::dynamodb::layout::Layout::Sharded { shards: 2 }
    );
}

/// A migration reports what it moved, and repeats its pass until one moves nothing:
/// three items and a key, then nothing, in two passes. An expired key in the old place
/// is only deleted, even when a live key of the same name was made on its shard since.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_migration_counts_what_it_moved_and_deletes_expired_keys() {
    use aws_sdk_dynamodb::types::AttributeValue::{N, S};
    use items_api::store::dynamodb::migrate::migrate;
    let moto = crate::support::Moto::start();
    let client = dynamodb_client(&moto.endpoint);
    crate::support::single_partition_table(&client, "items").await;
    for n in 0..3 {
        put_single_partition_item(
            &client,
            &SHARED,
            &Item::create(fields(&format!("{n}"), None)),
        )
        .await;
    }
    let single_key = |name: &str, expires_at: i64| {
        client
            .put_item()
            .table_name("items")
            .item("pk", S("IDEMPOTENCY".into()))
            .item("id", S(name.into()))
            .item("fingerprint", S("f".into()))
            .item("status", N("201".into()))
            .item("location", S("/api/items/x".into()))
            .item("body", S("{}".into()))
            .item("expires_at", N(expires_at.to_string()))
            .send()
    };
    let now = chrono::Utc::now().timestamp();
    single_key("live-key", now + 3600)
        .await
        .expect("a live key");
    single_key("expired-key", now - 60)
        .await
        .expect("an expired key");
    // The same name, live, on its shard: made during the migration after the old expired.
    let store = DynamoDbStore::new(client.clone(), "items");
    client
        .put_item()
        .table_name("items")
        .item("pk", S("LAYOUT".into()))
        .item("id", S("layout".into()))
        .item("shards", N("4".into()))
        .item("state", S("migrating".into()))
        .send()
        .await
        .expect("migrating");
    let fresh = Item::create(fields("fresh", None));
    let fresh_key = keyed(&fresh, "expired-key", "{fresh}", chrono::Duration::days(1));
    assert_eq!(
        store
            .insert_idempotent(&SHARED, &fresh, &fresh_key)
            .await
            .expect("a new key over the expired one"),
        IdempotentOutcome::Created
    );
    let report = migrate(&store, 4, std::time::Duration::ZERO)
        .await
        .expect("migrates");
    assert_eq!(
        (report.items, report.keys, report.passes),
        (3, 1, 2),
        "three items and the live key moved, the expired key only deleted, then a pass that moved nothing"
    );
    let retry = Item::create(fields("fresh", None));
    assert_eq!(
        store
            .insert_idempotent(&SHARED, &retry, &fresh_key)
            .await
            .expect("answered"),
        IdempotentOutcome::Replayed(fresh_key.response.clone()),
        "the live key made during the migration is kept"
    );
    let scanned = client
        .scan()
        .table_name("items")
        .send()
        .await
        .expect("scans");
    assert!(
        scanned.items().iter().all(|record| record
            .get("pk")
            .and_then(|pk| pk.as_s().ok())
            .is_some_and(|pk| pk != "IDEMPOTENCY" && pk != "ITEM")),
        "nothing left in the old places"
    );
}

/// The layout is read once per DYNAMODB_LAYOUT_REFRESH_S: a change of the layout item
/// is seen only after it (so a request does not pay a read for it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_the_layout_is_kept_for_its_refresh_interval() {
    use aws_sdk_dynamodb::types::AttributeValue::{N, S};
    use items_api::store::dynamodb::layout::Layout;
    let moto = crate::support::Moto::start();
    let client = dynamodb_client(&moto.endpoint);
    crate::support::single_partition_table(&client, "items").await;
    let store = DynamoDbStore::new(client.clone(), "items")
        .with_layout_refresh(std::time::Duration::from_millis(800));
    assert_eq!(store.layout().await.expect("read"), Layout::Single);
    client
        .put_item()
        .table_name("items")
        .item("pk", S("LAYOUT".into()))
        .item("id", S("layout".into()))
        .item("shards", N("2".into()))
        .item("state", S("sharded".into()))
        .send()
        .await
        .expect("the layout changes");
    assert_eq!(store.layout().await.expect("kept"), Layout::Single);
    tokio::time::sleep(std::time::Duration::from_millis(900)).await;
    assert_eq!(
        store.layout().await.expect("read again"),
        Layout::Sharded { shards: 2 }
    );
}

/// A layout item the store cannot read (an unknown state, a shard count out of range)
/// is a stored-data error, never taken for a layout: the store would put records where
/// no other process looks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_a_layout_item_it_cannot_read_is_an_error() {
    use aws_sdk_dynamodb::types::AttributeValue::{N, S};
    let moto = crate::support::Moto::start();
    let client = dynamodb_client(&moto.endpoint);
    crate::support::single_partition_table(&client, "items").await;
    for (shards, state) in [
        ("4", "resharding"),
        ("0", "sharded"),
        ("65", "sharded"),
        ("2.5", "sharded"),
    ] {
        client
            .put_item()
            .table_name("items")
            .item("pk", S("LAYOUT".into()))
            .item("id", S("layout".into()))
            .item("shards", N(shards.into()))
            .item("state", S(state.into()))
            .send()
            .await
            .expect("a layout item");
        let read = DynamoDbStore::new(client.clone(), "items").layout().await;
        assert!(
            matches!(read, Err(StoreError::Other(_))),
            "{shards} {state}: {read:?}"
        );
    }
}

/// On AWS a new table is CREATING for seconds, and a write to it fails until it is
/// ACTIVE: `create-table` waits for ACTIVE before it writes the layout and time to live.
/// (moto makes tables ACTIVE at once, so a stand-in endpoint answers here: CREATING to
/// the first DescribeTable, ACTIVE to the next.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_create_table_waits_for_the_table_to_be_active() {
    use axum::http::{HeaderMap, header};
    use std::sync::Mutex;
    let calls: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = Arc::clone(&calls);
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |headers: HeaderMap| {
            let seen = Arc::clone(&seen);
            async move {
                let target = headers
                    .get("x-amz-target")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .rsplit('.')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let mut calls = seen.lock().expect("not poisoned");
                let describes = calls.iter().filter(|c| c.starts_with("DescribeTable")).count();
                let (call, body) = match target.as_str() {
                    "CreateTable" => (
                        target.clone(),
                        serde_json::json!({"TableDescription": {"TableName": "items", "TableStatus": "CREATING"}}),
                    ),
                    "DescribeTable" => {
                        let status = if describes == 0 { "CREATING" } else { "ACTIVE" };
                        (
                            format!("DescribeTable {status}"),
                            serde_json::json!({"Table": {"TableName": "items", "TableStatus": status}}),
                        )
                    }
                    "UpdateTimeToLive" => (
                        target.clone(),
                        serde_json::json!({"TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": true}}),
                    ),
                    _ => (target.clone(), serde_json::json!({})),
                };
                calls.push(call);
                (
                    [(header::CONTENT_TYPE, "application/x-amz-json-1.0")],
                    body.to_string(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let endpoint = format!("http://{}", listener.local_addr().expect("an address"));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    DynamoDbStore::create_table(&dynamodb_client(&endpoint), "items", 4)
        .await
        .expect("created");
    server.abort();
    assert_eq!(
        *calls.lock().expect("not poisoned"),
        [
            "CreateTable",
            "DescribeTable CREATING",
            "DescribeTable ACTIVE",
            "UpdateTimeToLive",
            "PutItem"
        ],
        "nothing written before the table is ACTIVE"
    );
}

/// `create-table` makes the key schema, the layout and time to live on `expires_at`
/// (expired idempotency keys are deleted, as on the template's table), and refuses a
/// table that exists, saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_create_table_sets_the_layout_and_time_to_live() {
    let moto = crate::support::Moto::start();
    let client = dynamodb_client(&moto.endpoint);
    DynamoDbStore::create_table(&client, "items", 3)
        .await
        .expect("creates");
    let ttl = client
        .describe_time_to_live()
        .table_name("items")
        .send()
        .await
        .expect("described");
    let description = ttl.time_to_live_description().expect("a description");
    assert_eq!(description.attribute_name(), Some("expires_at"));
    assert_eq!(
        description.time_to_live_status(),
        Some(&aws_sdk_dynamodb::types::TimeToLiveStatus::Enabled)
    );
    assert_eq!(
        DynamoDbStore::new(client.clone(), "items")
            .layout()
            .await
            .expect("read"),
        items_api::store::dynamodb::layout::Layout::Sharded { shards: 3 }
    );
    // A shard count out of range is refused before any table is made.
    for shards in [0, 65] {
        let refused = DynamoDbStore::create_table(&client, "other", shards)
            .await
            .expect_err("out of range");
        assert!(
            error_chain(&refused).contains("shards must be 1 to 64"),
            "{}",
            error_chain(&refused)
        );
    }
    let tables = client.list_tables().send().await.expect("listed");
    assert_eq!(
        tables.table_names(),
        ["items"],
        "nothing made for the refused counts"
    );
    let again = DynamoDbStore::create_table(&client, "items", 3)
        .await
        .expect_err("exists");
    assert_eq!(
        error_chain(&again),
        "store failed: table items exists already"
    );
}

/// The migration's step for one record, handed the copy a scan read before a client
/// replaced the item: it moves the item as it is now, never the stale copy; handed a
/// copy of an item deleted since, it moves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_a_record_changed_after_the_scan_moves_in_its_new_state() {
    use items_api::store::dynamodb::migrate::move_record;
    let moto = crate::support::Moto::start();
    let client = dynamodb_client(&moto.endpoint);
    crate::support::single_partition_table(&client, "items").await;
    let (kept, gone) = (
        Item::create(fields("old", None)),
        Item::create(fields("gone", None)),
    );
    put_single_partition_item(&client, &SHARED, &kept).await;
    put_single_partition_item(&client, &SHARED, &gone).await;
    let stale = client
        .scan()
        .table_name("items")
        .send()
        .await
        .expect("scans");
    let copy_of = |item: &Item| {
        stale
            .items()
            .iter()
            .find(|record| {
                record.get("id").and_then(|id| id.as_s().ok()) == Some(&item.id.to_string())
            })
            .cloned()
            .expect("scanned")
    };
    let store = DynamoDbStore::new(client.clone(), "items");
    let replaced = store
        .replace(
            &SHARED,
            kept.id,
            &fields("replaced after the scan", None),
            None,
        )
        .await
        .expect("replaced");
    store.delete(&SHARED, gone.id, None).await.expect("deleted");
    assert!(move_record(&store, 4, copy_of(&kept)).await.expect("moves"));
    assert!(
        !move_record(&store, 4, copy_of(&gone))
            .await
            .expect("nothing to move")
    );
    // Read as a sharded table would: only the shards.
    let sharded = DynamoDbStore::new(client.clone(), "items");
    client
        .put_item()
        .table_name("items")
        .item(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("LAYOUT".into()),
        )
        .item(
            "id",
            aws_sdk_dynamodb::types::AttributeValue::S("layout".into()),
        )
        .item(
            "shards",
            aws_sdk_dynamodb::types::AttributeValue::N("4".into()),
        )
        .item(
            "state",
            aws_sdk_dynamodb::types::AttributeValue::S("sharded".into()),
        )
        .send()
        .await
        .expect("the layout");
    assert_eq!(
        sharded.get(&SHARED, kept.id).await.expect("on its shard"),
        replaced
    );
    assert!(matches!(
        sharded.get(&SHARED, gone.id).await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn sqlite_file_keeps_items_across_reopening() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nested/folder/items.db");
    let item = Item::create(fields("kept", Some("across restarts")));
    {
        let store = SqliteStore::open(&path).expect("creates the file and its folders");
        store.insert(&SHARED, &item).await.expect("insert");
    }
    let reopened = SqliteStore::open(&path).expect("reopens");
    assert_eq!(reopened.get(&SHARED, item.id).await.expect("get"), item);
}

/// The database moved aside and another put in its place while the store runs: the
/// next write notices, and from then on the store answers from the file the path names,
/// never from the one it had open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_follows_a_replaced_database_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("items.db");
    let store = SqliteStore::open(&path).expect("opens");
    let before = Item::create(fields("in the old file", None));
    store.insert(&SHARED, &before).await.expect("insert");

    let moved_in = Item::create(fields("in the new file", None));
    replace_database(&path, std::slice::from_ref(&moved_in)).await;

    let after = Item::create(fields("written after the swap", None));
    store
        .insert(&SHARED, &after)
        .await
        .expect("the write opens the path anew");
    assert_eq!(store.get(&SHARED, after.id).await.expect("get"), after);
    assert_eq!(
        store.get(&SHARED, moved_in.id).await.expect("get"),
        moved_in
    );
    assert!(matches!(
        store.get(&SHARED, before.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(
        walk(&store, 100).await,
        [moved_in.id, after.id],
        "the file the path names"
    );
    store.check().await.expect("healthy on the new file");
    let restarted = SqliteStore::open(&path).expect("reopens");
    assert_eq!(walk(&restarted, 100).await, [moved_in.id, after.id]);
}

/// A path under a file, not a folder: opening fails, and the error names the folder
/// and says why in the operating system's words, rather than SQLite's generic "unable
/// to open database file" or nothing at all.
#[tokio::test]
async fn sqlite_in_an_unwritable_place_fails_to_open_clearly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a folder").expect("writable");
    let error = SqliteStore::open(&file.join("items.db")).expect_err("a file is not a folder");
    let chain = error_chain(&error);
    let mut source = std::error::Error::source(&error);
    let cause = loop {
        match source {
            Some(error) if error.is::<std::io::Error>() => {
                break error
                    .downcast_ref::<std::io::Error>()
                    .expect("is an io::Error");
            }
            Some(error) => source = error.source(),
            None => panic!("the operating system's error is the cause: {chain}"),
        }
    };
    assert!(
        matches!(
            cause.kind(),
            std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::NotADirectory
        ),
        "{chain}"
    );
    assert!(
        chain.contains(&format!("cannot create the folder {}", file.display())),
        "the folder is named: {chain}"
    );
    assert!(chain.ends_with(&cause.to_string()), "{chain}");
}

/// The database file deleted under a running store that gets no writes: the health
/// check fails once (the read finds the file gone), reopens the path, and the next one
/// succeeds on the new, empty file; no write from a client is needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_health_recovers_from_a_deleted_file_without_a_client_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("items.db");
    let store = SqliteStore::open(&path).expect("opens");
    let item = Item::create(fields("in the deleted file", None));
    store.insert(&SHARED, &item).await.expect("insert");
    // Past the proof of the last write, so the check probes the file again.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let mut results = Vec::new();
    for _ in 0..3 {
        let result = store.check().await;
        let ok = result.is_ok();
        results.push(result.map_err(|e| error_chain(&e)));
        if ok {
            break;
        }
    }
    assert!(
        results.last().is_some_and(Result::is_ok) && results.len() <= 2,
        "healthy again by the second check: {results:?}"
    );
    assert!(matches!(
        store.get(&SHARED, item.id).await,
        Err(StoreError::NotFound { .. })
    ));
}
