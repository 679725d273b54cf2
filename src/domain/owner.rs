//! Who items belong to: every item has one owner, and every operation sees only its
//! caller's items.

/// The longest subject (`sub` claim) an owner may have, in bytes: OpenID Connect Core
/// 1.0 section 2 bounds `sub` at 255 ASCII characters.
pub const MAX_SUBJECT_BYTES: usize = 255;

/// The owner of items: the one shared owner of the shared-token mode, or a user, named
/// by the `sub` claim of their token. No user is the shared owner, whatever their
/// subject: the stores key the shared owner apart from every subject.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Owner {
    /// Everyone who holds the shared token (`AUTH_MODE=token`), and every item stored
    /// before items had owners.
    Shared,
    /// A user: their token's subject, 1 to [`MAX_SUBJECT_BYTES`] bytes of visible text.
    User(String),
}

impl Owner {
    /// The user a token's subject names; `None` for an empty or oversized subject or
    /// one with control characters (no key or log line should carry those).
    pub fn user(subject: &str) -> Option<Self> {
        let valid = !subject.is_empty()
            && subject.len() <= MAX_SUBJECT_BYTES
            && !subject.chars().any(char::is_control);
        valid.then(|| Self::User(subject.to_owned()))
    }

    /// The user's subject; `None` for the shared owner.
    pub fn subject(&self) -> Option<&str> {
        match self {
            Self::Shared => None,
            Self::User(subject) => Some(subject),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_a_visible_subject_of_bounded_length() {
        assert_eq!(
            Owner::user("0b8e6f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b")
                .as_ref()
                .and_then(Owner::subject),
            Some("0b8e6f2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b")
        );
        let longest = "s".repeat(MAX_SUBJECT_BYTES);
        assert!(Owner::user(&longest).is_some());
        assert!(Owner::user(&format!("{longest}s")).is_none());
        for bad in ["", "a\nb", "a\0b", "\u{7f}"] {
            assert!(Owner::user(bad).is_none(), "{bad:?}");
        }
        assert_eq!(Owner::Shared.subject(), None);
    }
}
