//! Where the table keeps each record: one partition key value per owner (the layout of
//! the releases before sharding), or `shards` of them per owner, each record on the
//! shard a hash of its id (or key) names. The table itself says which (its layout
//! item), so every process that uses the table agrees, whatever its own settings.
//!
//! Partition key values (`pk`), for the shared owner and for a user (`sub`):
//!
//! | records | single partition | sharded (`n` = shard) |
//! |---|---|---|
//! | items | `ITEM`, `ITEM#<sub>` | `ITEMS#<n>`, `USER#<sub>#ITEMS#<n>` |
//! | idempotency keys | `IDEMPOTENCY`, `IDEMPOTENCY#<sub>` | `KEYS#<n>`, `USER#<sub>#KEYS#<n>` |
//!
//! No two (owner, shard) pairs share a value: the shared owner's values never start
//! with `USER#`, a subject is never empty, and a shard number (digits) is what follows
//! the last `#`.

use crate::domain::Owner;
use sha2::{Digest, Sha256};

/// The partition key of the layout item (sort key [`LAYOUT_ID`]).
pub const LAYOUT_PK: &str = "LAYOUT";
/// The sort key of the layout item.
pub const LAYOUT_ID: &str = "layout";
/// The partition key value of the shared owner's items in a single-partition table; a
/// user's is this, `#` and their subject.
pub const SINGLE_ITEMS: &str = "ITEM";
/// The same for idempotency keys.
pub const SINGLE_KEYS: &str = "IDEMPOTENCY";
/// The most shards a table may have: a list page reads every shard of its owner.
pub const MAX_SHARDS: u16 = 64;

/// How the table keeps its records, as its layout item says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// No layout item: one partition key value per owner (tables of the releases before
    /// sharding, and tables no one has migrated).
    Single,
    /// `shards` partition key values per owner.
    Sharded { shards: u16 },
    /// `items-api migrate` is moving a single-partition table to `shards`: new records
    /// go to the sharded layout; reads look in the single partition first, then in the
    /// shards (a record only ever moves that way, so it is seen in one or the other).
    Migrating { shards: u16 },
}

/// One of the two places a record may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Single,
    Sharded(u16),
}

impl Layout {
    /// Where new records go.
    pub fn write_place(self) -> Place {
        match self {
            Self::Single => Place::Single,
            Self::Sharded { shards } | Self::Migrating { shards } => Place::Sharded(shards),
        }
    }

    /// Where records are looked for, in the order to look.
    pub fn read_places(self) -> Vec<Place> {
        match self {
            Self::Single => vec![Place::Single],
            Self::Sharded { shards } => vec![Place::Sharded(shards)],
            Self::Migrating { shards } => vec![Place::Single, Place::Sharded(shards)],
        }
    }
}

/// The shard of a record: the first 8 bytes of the SHA-256 of its id (or key) as a
/// number, modulo the shard count. Stable across processes and releases.
pub fn shard_of(text: &str, shards: u16) -> u16 {
    let digest = Sha256::digest(text.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % u64::from(shards.max(1))) as u16
}

/// The partition key value of `owner`'s item `id` in `place`.
pub fn item_pk(place: Place, owner: &Owner, id: &str) -> String {
    match place {
        Place::Single => single(SINGLE_ITEMS, owner),
        Place::Sharded(shards) => sharded("ITEMS", owner, shard_of(id, shards)),
    }
}

/// Every partition key value of `owner`'s items in `place`.
pub fn item_pks(place: Place, owner: &Owner) -> Vec<String> {
    match place {
        Place::Single => vec![single(SINGLE_ITEMS, owner)],
        Place::Sharded(shards) => (0..shards).map(|n| sharded("ITEMS", owner, n)).collect(),
    }
}

/// The partition key value of `owner`'s idempotency key `key` in `place`.
pub fn key_pk(place: Place, owner: &Owner, key: &str) -> String {
    match place {
        Place::Single => single(SINGLE_KEYS, owner),
        Place::Sharded(shards) => sharded("KEYS", owner, shard_of(key, shards)),
    }
}

/// What a single-partition value says: whose record of which kind it is, if it is one.
pub fn parse_single(pk: &str) -> Option<(Kind, Owner)> {
    for (prefix, kind) in [(SINGLE_ITEMS, Kind::Item), (SINGLE_KEYS, Kind::Key)] {
        if pk == prefix {
            return Some((kind, Owner::Shared));
        }
        if let Some(subject) = pk
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('#'))
        {
            return Owner::user(subject).map(|owner| (kind, owner));
        }
    }
    None
}

/// The kinds of record the layout places.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Item,
    Key,
}

fn single(kind: &str, owner: &Owner) -> String {
    match owner.subject() {
        None => kind.to_owned(),
        Some(subject) => format!("{kind}#{subject}"),
    }
}

fn sharded(kind: &str, owner: &Owner, shard: u16) -> String {
    match owner.subject() {
        None => format!("{kind}#{shard}"),
        Some(subject) => format!("USER#{subject}#{kind}#{shard}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_spread_and_stable() {
        let mut counts = [0u32; 4];
        for _ in 0..4000 {
            let id = uuid::Uuid::now_v7().to_string();
            let shard = shard_of(&id, 4);
            assert_eq!(shard, shard_of(&id, 4), "the same id, the same shard");
            counts[usize::from(shard)] += 1;
        }
        // 1,000 expected per shard; 4000 draws stay within ±15% with overwhelming odds.
        assert!(
            counts.iter().all(|&c| (850..=1150).contains(&c)),
            "{counts:?}"
        );
        assert_eq!(shard_of("anything", 1), 0);
        // Pinned (SHA-256's first 8 bytes, big-endian, as Python's hashlib computes them):
        // a change here would strand every stored record on the wrong shard.
        assert_eq!(shard_of("0193a6f0-7c2e-7d3a-9b1e-4f5a6b7c8d9e", 16), 2);
        assert_eq!(shard_of("key-1", 16), 3);
    }

    #[test]
    fn no_two_owners_or_shards_share_a_partition() {
        let owners = [
            Owner::Shared,
            Owner::user("alice").expect("valid"),
            Owner::user("ITEMS#1").expect("valid"),
            Owner::user("a#ITEMS#1").expect("valid"),
            Owner::user("a").expect("valid"),
        ];
        let mut seen = std::collections::HashSet::new();
        for owner in &owners {
            for place in [Place::Single, Place::Sharded(16)] {
                for pk in item_pks(place, owner) {
                    assert!(seen.insert(pk.clone()), "{pk} twice");
                }
                for n in 0..16 {
                    let key = key_pk(place, owner, &format!("key-{n}"));
                    // Keys share values only with keys of the same owner and place.
                    assert!(!item_pks(place, owner).contains(&key), "{key}");
                }
            }
        }
        assert_eq!(
            parse_single("ITEM#alice"),
            Some((Kind::Item, Owner::user("alice").expect("valid")))
        );
        assert_eq!(
            parse_single("IDEMPOTENCY"),
            Some((Kind::Key, Owner::Shared))
        );
        for not_single in [
            "ITEMS#3",
            "USER#a#ITEMS#1",
            "KEYS#0",
            "LAYOUT",
            "HEALTH",
            "ITEM#",
        ] {
            assert_eq!(parse_single(not_single), None, "{not_single}");
        }
    }

    #[test]
    fn migrating_reads_the_single_partition_first_and_writes_sharded() {
        let migrating = Layout::Migrating { shards: 4 };
        assert_eq!(migrating.read_places(), [Place::Single, Place::Sharded(4)]);
        assert_eq!(migrating.write_place(), Place::Sharded(4));
        assert_eq!(Layout::Single.read_places(), [Place::Single]);
        assert_eq!(
            Layout::Sharded { shards: 2 }.write_place(),
            Place::Sharded(2)
        );
    }
}
