//! Idempotent creates (IETF draft-ietf-httpapi-idempotency-key-header): the key a
//! client sends, the fingerprint of the request it came with, and the response
//! stored with the item, so a retry gets the same answer and never a second item.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// Longest accepted key, in characters.
pub const KEY_MAX_CHARS: usize = 255;
/// The contract's pattern of a key: 1 to 255 visible ASCII characters.
pub const KEY_PATTERN: &str = "^[\\x21-\\x7E]{1,255}$";

/// An `Idempotency-Key` header value: 1 to [`KEY_MAX_CHARS`] visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The key, if `text` is one.
    pub fn parse(text: &str) -> Option<Self> {
        let valid =
            (1..=KEY_MAX_CHARS).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_graphic());
        valid.then(|| Self(text.to_owned()))
    }

    /// The key as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What identifies "the same request" for a key: method, path and body as received,
/// hashed (SHA-256, hex).
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    for part in [method.as_bytes(), b"\n", path.as_bytes(), b"\n", body] {
        hash.update(part);
    }
    hash.finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The response a create answered, kept with its key to be replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// The status code (201).
    pub status: u16,
    /// The `Location` header.
    pub location: String,
    /// The body, as sent.
    pub body: String,
}

/// A create that carries a key: what the store writes with the item, atomically.
#[derive(Debug, Clone)]
pub struct IdempotentCreate {
    pub key: IdempotencyKey,
    pub fingerprint: String,
    pub response: StoredResponse,
    /// When the key may be forgotten.
    pub expires_at: DateTime<Utc>,
}

/// What a store did with an [`IdempotentCreate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotentOutcome {
    /// The key was new: the item and the key were stored together.
    Created,
    /// The key was stored with the same request: its response, and nothing written.
    Replayed(StoredResponse),
    /// The key was stored with another request: nothing written.
    KeyReused,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_reads_back_as_sent() {
        for text in ["k", "order-42", "~!ZZ", &"x".repeat(255)] {
            assert_eq!(IdempotencyKey::parse(text).expect("valid").as_str(), text);
        }
    }

    #[test]
    fn keys_are_one_to_255_visible_ascii_characters() {
        assert!(IdempotencyKey::parse("a").is_some());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_some());
        assert!(IdempotencyKey::parse("8e03978e-40d5-43e8-bc93-6894a57f9324").is_some());
        for bad in ["", " ", "two words", "tab\tkey", "é", &"k".repeat(256)] {
            assert!(IdempotencyKey::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn fingerprints_tell_requests_apart() {
        let a = fingerprint("POST", "/api/items", br#"{"name":"a"}"#);
        assert_eq!(a.len(), 64);
        assert_eq!(a, fingerprint("POST", "/api/items", br#"{"name":"a"}"#));
        assert_ne!(a, fingerprint("POST", "/api/items", br#"{"name":"b"}"#));
        assert_ne!(a, fingerprint("PUT", "/api/items", br#"{"name":"a"}"#));
    }
}
