//! `Checksum`: the `sha256:<hex>` checksum of a step's normalised body or
//! bodies, held as its 32 bytes; its text is made on the stack when shown or
//! written, and compared with a recorded text without an allocation.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::model::step::{Body, normalise};

/// A `sha256:<hex>` checksum of a step's normalised body or bodies.
///
/// Held as its 32 bytes, inline: a step keeps two (the recorded and the
/// computed one) in 64 bytes, where their shared text cost a 16-byte pointer
/// pair and a 96-byte allocation. [`Checksum::text`] gives the text
/// (`sha256:` and 64 lowercase hex digits) on the stack, [`Checksum::matches`]
/// compares with a recorded text without building one. Bytes order as their
/// hex text does.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Checksum([u8; 32]);

/// The text of a [`Checksum`]: `sha256:` and 64 lowercase hex digits.
#[derive(Clone, Copy)]
pub struct ChecksumText([u8; CHECKSUM_TEXT_LEN]);

/// The length of a checksum's text.
const CHECKSUM_TEXT_LEN: usize = 7 + 64;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The value of each byte as a lowercase hex digit; 0xff for any other byte.
const DIGIT: [u8; 256] = {
    let mut table = [0xffu8; 256];
    let mut i = 0;
    while i < 16 {
        table[HEX[i] as usize] = i as u8;
        i += 1;
    }
    table
};

impl Checksum {
    /// The checksum of a body: one body for every database, or one per database.
    pub fn of(body: &Body) -> Self {
        let mut hasher = Sha256::new();
        match body {
            Body::Any(sql) => hasher.update(normalise(sql).as_bytes()),
            Body::PerDatabase(map) => {
                for (db, sql) in map.iter() {
                    hasher.update(b"\0variant:");
                    hasher.update(db.as_bytes());
                    hasher.update(b"\n");
                    hasher.update(normalise(sql).as_bytes());
                }
            }
        }
        Checksum(hasher.finalize().into())
    }

    /// A checksum as recorded in a file or a ledger (not validated beyond
    /// shape: `sha256:` and 64 lowercase hex digits).
    pub fn from_recorded(text: &str) -> Option<Self> {
        let hex = text.strip_prefix("sha256:")?.as_bytes();
        if hex.len() != 64 {
            return None;
        }
        // Without a branch per digit (hex digits are random: a `match` per
        // digit mispredicts about a third of them): one table lookup each,
        // anything else marked by a high bit, checked once at the end.
        let mut bytes = [0u8; 32];
        let mut bad = 0u8;
        for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
            let (high, low) = (DIGIT[usize::from(pair[0])], DIGIT[usize::from(pair[1])]);
            bad |= high | low;
            *byte = (high << 4) | (low & 0x0f);
        }
        (bad & 0xf0 == 0).then_some(Checksum(bytes))
    }

    /// The checksum as text, on the stack.
    pub fn text(&self) -> ChecksumText {
        let mut text = [0u8; CHECKSUM_TEXT_LEN];
        text[..7].copy_from_slice(b"sha256:");
        for (pair, b) in text[7..].chunks_exact_mut(2).zip(self.0) {
            pair[0] = HEX[usize::from(b >> 4)];
            pair[1] = HEX[usize::from(b & 0xf)];
        }
        ChecksumText(text)
    }

    /// Is `text` this checksum's text (as a ledger row or a file records it)?
    pub fn matches(&self, text: &str) -> bool {
        text.len() == CHECKSUM_TEXT_LEN && self.text().as_str() == text
    }
}

impl ChecksumText {
    /// The text.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever written into it.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::ops::Deref for ChecksumText {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for ChecksumText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ChecksumText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Checksum({:?})", self.text())
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text().as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checksum_reads_and_writes_its_text() {
        let sum = Checksum::of(&Body::Any("CREATE TABLE t (id INT);\n".into()));
        let text = sum.text();
        assert_eq!(text.len(), 71);
        assert!(text.starts_with("sha256:"));
        assert_eq!(sum.to_string(), text.as_str());
        assert_eq!(Checksum::from_recorded(&text).as_ref(), Some(&sum));
        assert!(sum.matches(&text));
        assert!(!sum.matches(&text[..70]));
        let other = Checksum::of(&Body::Any("B;\n".into()));
        assert!(!sum.matches(&other.text()));
        // The digest of "abc", as sha256sum prints it.
        let known = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let parsed = Checksum::from_recorded(known).expect("valid");
        assert_eq!(parsed.to_string(), known);
        assert_eq!(format!("{parsed:?}"), format!("Checksum({known:?})"));
        // Bytes order as the text does.
        let low = Checksum::from_recorded(&format!("sha256:0f{}", "0".repeat(62))).expect("valid");
        let high = Checksum::from_recorded(&format!("sha256:a0{}", "0".repeat(62))).expect("valid");
        assert!(low < high);
        for bad in [
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
            "sha256:ba7816bf",
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ag",
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0",
        ] {
            assert_eq!(Checksum::from_recorded(bad), None, "{bad}");
            assert!(!parsed.matches(bad), "{bad}");
        }
    }

    #[test]
    fn only_lowercase_hex_digits_read_at_any_place() {
        for byte in 0u8..=127 {
            for place in [0, 1, 31, 62, 63] {
                let mut hex = vec![b'0'; 64];
                hex[place] = byte;
                let text = format!("sha256:{}", String::from_utf8(hex).expect("ascii"));
                let hex_digit = byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte);
                assert_eq!(
                    Checksum::from_recorded(&text).map(|c| c.to_string()),
                    hex_digit.then(|| text.clone()),
                    "{byte:#x} at {place}"
                );
            }
        }
        // A non-ASCII character of the same byte length is no digit either.
        let text = format!("sha256:\u{e9}{}", "0".repeat(62));
        assert_eq!(text.len(), 71);
        assert_eq!(Checksum::from_recorded(&text), None);
    }
}
