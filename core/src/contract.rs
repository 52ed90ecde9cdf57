//! The stable codes and names of zkha's kinds — error kinds, revoke and lost reasons,
//! connection states, lock kinds — defined once, here and at each enum. Every binding maps from
//! these and from nothing else: C's enum values are the codes, Python's strings are the names,
//! the JNI's event bytes are the codes; each binding has a test that walks [`Coded::ALL`].
//!
//! A code is never reused or renumbered. A lock is lost for the reasons leadership is revoked
//! for ([`LostReason`](crate::LostReason) is [`RevokeReason`](crate::RevokeReason)), so one C
//! enum (`zkha_reason`) serves both.

use crate::error::{Error, Result};

/// A kind with a stable code and name, the same in every binding.
pub trait Coded: Copy + Eq + Sized + 'static {
    /// Every member, in code order.
    const ALL: &'static [Self];
    /// What a value of this kind is called in messages ("lock kind").
    const WHAT: &'static str;

    /// The stable code.
    fn code(self) -> i32;

    /// The stable name (snake_case).
    fn name(self) -> &'static str;

    /// The member with `code`, if any.
    fn from_code(code: i32) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.code() == code)
    }

    /// The member called `name`, if any.
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// The member with `code`, or an `InvalidArgument` error naming the value and every code.
    fn parse_code(code: i32) -> Result<Self> {
        Self::from_code(code).ok_or_else(|| {
            let all: Vec<String> = Self::ALL
                .iter()
                .map(|k| format!("{} ({})", k.code(), k.name()))
                .collect();
            Error::invalid(format!(
                "{} must be one of {}, got {code}",
                Self::WHAT,
                all.join(", ")
            ))
        })
    }

    /// The member called `name`, or an `InvalidArgument` error naming the value and every name.
    fn parse_name(name: &str) -> Result<Self> {
        Self::from_name(name).ok_or_else(|| {
            let all: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
            Error::invalid(format!(
                "unknown {} {name:?} ({})",
                Self::WHAT,
                all.join(", ")
            ))
        })
    }
}

/// Declares a field-less enum with a stable code and name per member, and its [`Coded`] impl;
/// `ALL` is generated from the same list, so it cannot miss a member.
macro_rules! coded_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $ty:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal, $name:literal; )+
        }
    ) => {
        $(#[$meta])*
        $vis enum $ty {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $crate::contract::Coded for $ty {
            const ALL: &'static [Self] = &[$($ty::$variant),+];
            const WHAT: &'static str = $what;

            fn code(self) -> i32 {
                match self {
                    $($ty::$variant => $code,)+
                }
            }

            fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)+
                }
            }
        }
    };
}

pub(crate) use coded_enum;

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::Coded;
    use crate::{ConnectionStateKind, ErrorKind, LockKind, NodeMode, RevokeReason};

    /// Codes and names are unique within a kind, names are snake_case, and both round-trip.
    fn check<K: Coded + std::fmt::Debug>() {
        let codes: HashSet<i32> = K::ALL.iter().map(|k| k.code()).collect();
        let names: HashSet<&str> = K::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(codes.len(), K::ALL.len(), "{} codes repeat", K::WHAT);
        assert_eq!(names.len(), K::ALL.len(), "{} names repeat", K::WHAT);
        for &k in K::ALL {
            assert_eq!(K::from_code(k.code()), Some(k));
            assert_eq!(K::parse_name(k.name()).unwrap(), k);
            assert!(
                k.name().chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{k:?} is named {:?}",
                k.name()
            );
        }
    }

    #[test]
    fn every_kind_has_unique_codes_and_names() {
        check::<ErrorKind>();
        check::<RevokeReason>();
        check::<ConnectionStateKind>();
        check::<LockKind>();
        check::<NodeMode>();
    }

    /// The numbering C, Python and Java have shipped: changing one breaks their users.
    #[test]
    fn codes_are_the_published_ones() {
        let errors: Vec<(i32, &str)> = ErrorKind::ALL
            .iter()
            .map(|k| (k.code(), k.name()))
            .collect();
        assert_eq!(
            errors,
            [
                (1, "invalid_argument"),
                (2, "config"),
                (3, "connection_loss"),
                (4, "session_expired"),
                (5, "closed"),
                (6, "timeout"),
                (7, "no_node"),
                (8, "node_exists"),
                (9, "bad_version"),
                (10, "not_empty"),
                (11, "not_leader"),
                (12, "too_large"),
                (13, "corrupt"),
                (14, "no_auth"),
                (15, "interrupted"),
                (16, "io"),
                (17, "zookeeper"),
            ]
        );
        let states: Vec<&str> = ConnectionStateKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(
            states,
            [
                "connecting",
                "connected",
                "suspended",
                "reconnected",
                "lost",
                "expired",
                "closed"
            ]
        );
        let locks: Vec<(i32, &str)> = LockKind::ALL.iter().map(|k| (k.code(), k.name())).collect();
        assert_eq!(
            locks,
            [(0, "mutex"), (1, "read"), (2, "write"), (3, "semaphore")]
        );
        let reasons: Vec<(i32, &str)> = RevokeReason::ALL
            .iter()
            .map(|k| (k.code(), k.name()))
            .collect();
        assert_eq!(
            reasons,
            [
                (1, "lease_expired"),
                (2, "session_expired"),
                (3, "node_deleted"),
                (4, "closed"),
                (5, "suspended"),
                (6, "step_down")
            ]
        );
    }

    #[test]
    fn bad_codes_and_names_name_the_value_and_the_choices() {
        let e = LockKind::parse_code(7).unwrap_err().to_string();
        assert!(
            e.contains("lock kind") && e.contains("got 7") && e.contains("3 (semaphore)"),
            "{e}"
        );
        let e = LockKind::parse_name("mutx").unwrap_err().to_string();
        assert!(
            e.contains("\"mutx\"") && e.contains("mutex, read, write, semaphore"),
            "{e}"
        );
    }
}
