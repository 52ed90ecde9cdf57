//! Authentication of the liveness hello (protocol 2). The key is the contender's uuid: it is
//! in the latch node's name, which only a client allowed to list the latch (the latch's ACL,
//! over the ZooKeeper connection's own TLS) can read, and it never crosses the liveness link.
//! The successor names the contender by a key id derived from it, both sides prove that they
//! know it with an HMAC over two fresh nonces, and the endpoint commits a held link only to a
//! successor that proved it.
//!
//! ```text
//! successor -> endpoint   zkha-liveness 2 <key id> <successor nonce>
//! endpoint  -> successor  zkha-liveness 2 ok <endpoint nonce> <endpoint proof>
//!                       | zkha-liveness 2 unknown        (it serves no contender with that id)
//!                       | zkha-liveness 2 busy           (its link budget is spent)
//! successor -> endpoint   zkha-liveness 2 proof <successor proof>
//! ```
//!
//! Ids, nonces and proofs are 32 lowercase hex digits (128 bits of HMAC-SHA-256).

use aws_lc_rs::hmac;

/// First words of every protocol-2 line.
pub(crate) const HELLO2: &str = "zkha-liveness 2";

/// The key id a successor names a contender by.
pub(crate) fn key_id(uuid: &str) -> String {
    mac(uuid, &[b"zkha-liveness key id"])
}

/// The endpoint's proof (`who` = `b"endpoint"`) or the successor's (`b"successor"`).
pub(crate) fn proof(uuid: &str, who: &[u8], successor_nonce: &str, endpoint_nonce: &str) -> String {
    mac(
        uuid,
        &[
            who,
            b"|",
            successor_nonce.as_bytes(),
            b"|",
            endpoint_nonce.as_bytes(),
        ],
    )
}

/// A fresh random nonce.
pub(crate) fn nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// True if `got` equals `expected` (compared in constant time).
pub(crate) fn same(expected: &str, got: &str) -> bool {
    let (a, b) = (expected.as_bytes(), got.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// True for a well-formed id, nonce or proof.
pub(crate) fn is_token(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn mac(uuid: &str, parts: &[&[u8]]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, uuid.as_bytes());
    let mut ctx = hmac::Context::with_key(&key);
    for p in parts {
        ctx.update(p);
    }
    let tag = ctx.sign();
    tag.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_depend_on_key_side_and_both_nonces() {
        let u = "0f8fad5b-d9cb-469f-a165-70867728950e";
        let v = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
        let (s, e) = (nonce(), nonce());
        assert!(is_token(&key_id(u)) && is_token(&s) && is_token(&proof(u, b"endpoint", &s, &e)));
        assert_ne!(key_id(u), key_id(v));
        assert_ne!(key_id(u), u.replace('-', ""));
        let p = proof(u, b"endpoint", &s, &e);
        assert!(same(&p, &proof(u, b"endpoint", &s, &e)));
        assert!(!same(&p, &proof(v, b"endpoint", &s, &e)));
        assert!(!same(&p, &proof(u, b"successor", &s, &e)));
        assert!(!same(&p, &proof(u, b"endpoint", &e, &s)));
        assert!(!same(&p, &p[..31]));
        assert!(!is_token("ABCDEF0123456789abcdef0123456789"));
    }
}
