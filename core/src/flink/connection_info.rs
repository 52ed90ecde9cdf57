//! The payload of Flink's `leader/<component>/connection_info` znodes: a Java serialization
//! stream of `writeUTF(address)` followed by `writeObject(java.util.UUID)`.
//!
//! Encoded byte for byte as `ObjectOutputStream` does it (block data in chunks of at most
//! 1024 bytes, modified UTF-8), and checked against payloads written by Flink 2.3.0.

use uuid::Uuid;

use crate::error::{Error, ErrorKind, Result};

const MAGIC: [u8; 4] = [0xac, 0xed, 0x00, 0x05];
const TC_BLOCKDATA: u8 = 0x77;
const TC_BLOCKDATALONG: u8 = 0x7a;
const TC_OBJECT: u8 = 0x73;
const MAX_BLOCK: usize = 1024;

/// `TC_CLASSDESC` of `java.util.UUID` with its serialVersionUID and two long fields, then
/// `TC_ENDBLOCKDATA` and `TC_NULL` (no superclass), exactly as the JDK writes it.
const UUID_CLASS_DESC: &[u8] = &[
    0x72, 0x00, 0x0e, b'j', b'a', b'v', b'a', b'.', b'u', b't', b'i', b'l', b'.', b'U', b'U', b'I',
    b'D', //
    0xbc, 0x99, 0x03, 0xf7, 0x98, 0x6d, 0x85, 0x2f, // serialVersionUID
    0x02, // SC_SERIALIZABLE
    0x00, 0x02, // two fields
    b'J', 0x00, 0x0c, b'l', b'e', b'a', b's', b't', b'S', b'i', b'g', b'B', b'i', b't',
    b's', //
    b'J', 0x00, 0x0b, b'm', b'o', b's', b't', b'S', b'i', b'g', b'B', b'i', b't', b's', //
    0x78, // TC_ENDBLOCKDATA
    0x70, // TC_NULL
];

/// Encodes an address and a leader session id as Flink writes `connection_info`.
pub fn encode(address: &str, leader_session_id: Uuid) -> Result<Vec<u8>> {
    let utf = modified_utf8(address);
    if utf.len() > 0xffff {
        return Err(Error::invalid(format!(
            "leader address of {} bytes is too long for Java's writeUTF (at most 65535)",
            utf.len()
        )));
    }
    let mut block = Vec::with_capacity(2 + utf.len());
    block.extend_from_slice(&(utf.len() as u16).to_be_bytes());
    block.extend_from_slice(&utf);
    let mut out = Vec::with_capacity(block.len() + 80);
    out.extend_from_slice(&MAGIC);
    for chunk in block.chunks(MAX_BLOCK) {
        if chunk.len() <= 0xff {
            out.push(TC_BLOCKDATA);
            out.push(chunk.len() as u8);
        } else {
            out.push(TC_BLOCKDATALONG);
            out.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
        }
        out.extend_from_slice(chunk);
    }
    out.push(TC_OBJECT);
    out.extend_from_slice(UUID_CLASS_DESC);
    let (most, least) = leader_session_id.as_u64_pair();
    out.extend_from_slice(&least.to_be_bytes());
    out.extend_from_slice(&most.to_be_bytes());
    Ok(out)
}

/// Decodes a `connection_info` payload into the address and the leader session id.
pub fn decode(bytes: &[u8]) -> Result<(String, Uuid)> {
    let corrupt = |why: &str| {
        Error::new(
            ErrorKind::Corrupt,
            format!(
                "connection_info payload of {} bytes is not Flink's format: {why}",
                bytes.len()
            ),
        )
    };
    if bytes.len() < 4 || bytes[..4] != MAGIC {
        return Err(corrupt("no Java serialization header"));
    }
    let mut pos = 4;
    let mut block = Vec::new();
    loop {
        match bytes.get(pos) {
            Some(&TC_BLOCKDATA) => {
                let n = *bytes
                    .get(pos + 1)
                    .ok_or_else(|| corrupt("truncated block"))? as usize;
                let data = bytes
                    .get(pos + 2..pos + 2 + n)
                    .ok_or_else(|| corrupt("truncated block"))?;
                block.extend_from_slice(data);
                pos += 2 + n;
            }
            Some(&TC_BLOCKDATALONG) => {
                let len = bytes
                    .get(pos + 1..pos + 5)
                    .ok_or_else(|| corrupt("truncated block"))?;
                let n = u32::from_be_bytes(len.try_into().expect("4 bytes")) as usize;
                let data = bytes
                    .get(pos + 5..pos + 5 + n)
                    .ok_or_else(|| corrupt("truncated block"))?;
                block.extend_from_slice(data);
                pos += 5 + n;
            }
            Some(&TC_OBJECT) => break,
            _ => return Err(corrupt("expected block data then an object")),
        }
    }
    if block.len() < 2 {
        return Err(corrupt("no UTF string"));
    }
    let len = u16::from_be_bytes([block[0], block[1]]) as usize;
    let utf = block
        .get(2..2 + len)
        .ok_or_else(|| corrupt("UTF string longer than its block"))?;
    let address = from_modified_utf8(utf).ok_or_else(|| corrupt("bad modified UTF-8"))?;
    pos += 1;
    let desc = bytes
        .get(pos..pos + UUID_CLASS_DESC.len())
        .ok_or_else(|| corrupt("truncated UUID"))?;
    if desc != UUID_CLASS_DESC {
        return Err(corrupt("the object is not a java.util.UUID"));
    }
    pos += UUID_CLASS_DESC.len();
    let tail = bytes
        .get(pos..pos + 16)
        .ok_or_else(|| corrupt("truncated UUID"))?;
    if bytes.len() != pos + 16 {
        return Err(corrupt("trailing bytes after the UUID"));
    }
    let least = u64::from_be_bytes(tail[..8].try_into().expect("8 bytes"));
    let most = u64::from_be_bytes(tail[8..].try_into().expect("8 bytes"));
    Ok((address, Uuid::from_u64_pair(most, least)))
}

/// Java's modified UTF-8: NUL as two bytes, supplementary characters as surrogate pairs.
fn modified_utf8(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for unit in s.encode_utf16() {
        match unit {
            0x0001..=0x007f => out.push(unit as u8),
            0x0000 | 0x0080..=0x07ff => {
                out.push(0xc0 | ((unit >> 6) & 0x1f) as u8);
                out.push(0x80 | (unit & 0x3f) as u8);
            }
            _ => {
                out.push(0xe0 | ((unit >> 12) & 0x0f) as u8);
                out.push(0x80 | ((unit >> 6) & 0x3f) as u8);
                out.push(0x80 | (unit & 0x3f) as u8);
            }
        }
    }
    out
}

fn from_modified_utf8(b: &[u8]) -> Option<String> {
    let mut units = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as u16;
        if c & 0x80 == 0 {
            units.push(c);
            i += 1;
        } else if c & 0xe0 == 0xc0 {
            let c2 = *b.get(i + 1)? as u16;
            units.push(((c & 0x1f) << 6) | (c2 & 0x3f));
            i += 2;
        } else if c & 0xf0 == 0xe0 {
            let c2 = *b.get(i + 1)? as u16;
            let c3 = *b.get(i + 2)? as u16;
            units.push(((c & 0x0f) << 12) | ((c2 & 0x3f) << 6) | (c3 & 0x3f));
            i += 3;
        } else {
            return None;
        }
    }
    String::from_utf16(&units).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_odd_strings() {
        for s in ["", "a", "\u{0}x", "é", "☃", "𝄞 music", &"x".repeat(5000)] {
            let id = Uuid::new_v4();
            let bytes = encode(s, id).unwrap();
            assert_eq!(decode(&bytes).unwrap(), (s.to_string(), id), "{s:?}");
        }
        assert!(encode(&"x".repeat(70000), Uuid::nil()).is_err());
    }

    #[test]
    fn rejects_garbage_with_a_clear_error() {
        let e = decode(b"hello").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        assert!(e.to_string().contains("5 bytes"), "{e}");
        let mut good = encode("a", Uuid::nil()).unwrap();
        good.push(0);
        assert!(decode(&good).is_err());
    }
}
