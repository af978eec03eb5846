//! `StepName`: the `YYYYMMDDNN-slug` name of an upgrade step.
//!
//! The name is the step's identity within its component and its place in the
//! global order: names sort by date, then by the two-digit sequence number,
//! then by slug, which is plain byte order of the text.

use std::fmt;

/// A validated step name such as `2008021700-webdavlocks`.
///
/// A name of up to [`INLINE`] bytes (most: ten digits, `-` and a slug of
/// eleven) is held inline, without an allocation of its own: a tree of
/// 100,000 steps holds every name. Names compare, order and hash as their
/// text.
#[derive(Clone)]
pub struct StepName(Repr);

/// The longest name held inline.
pub const INLINE: usize = 22;

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

/// Why a text is not a step name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not a step name ({reason}): name steps `YYYYMMDDNN-slug`, e.g. `2008021700-webdavlocks`, with a lowercase slug of letters, digits, `_` and `-`"
)]
pub struct StepNameError {
    /// The rejected text.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl StepName {
    /// Parses and validates a step name.
    pub fn parse(text: &str) -> Result<Self, StepNameError> {
        let err = |reason| StepNameError {
            text: text.to_string(),
            reason,
        };
        let bytes = text.as_bytes();
        if bytes.len() < 12 || !bytes[..10].iter().all(u8::is_ascii_digit) {
            return Err(err("it must start with ten digits YYYYMMDDNN"));
        }
        if bytes[10] != b'-' {
            return Err(err("the ten digits must be followed by `-`"));
        }
        let slug = &text[11..];
        if slug.is_empty()
            || !slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return Err(err(
                "the slug may hold only lowercase letters, digits, `_` and `-`",
            ));
        }
        let num = |r: std::ops::Range<usize>| -> u32 {
            text[r]
                .bytes()
                .fold(0, |acc, b| acc * 10 + u32::from(b - b'0'))
        };
        let (year, month, day) = (num(0..4), num(4..6), num(6..8));
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return Err(err("YYYYMMDD is not a calendar date"));
        }
        Ok(StepName(match u8::try_from(text.len()) {
            Ok(len) if usize::from(len) <= INLINE => {
                let mut bytes = [0u8; INLINE];
                bytes[..text.len()].copy_from_slice(text.as_bytes());
                Repr::Inline { len, bytes }
            }
            _ => Repr::Heap(text.into()),
        }))
    }

    /// The name's bytes (ASCII: digits, `-`, lowercase letters and `_`).
    fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Heap(text) => text.as_bytes(),
        }
    }

    /// Is the name spelled exactly `text`? The same answer as
    /// `as_str() == text`, without reading the name as text first (rows
    /// are matched to steps this way 100,000 times per `status`).
    pub fn is(&self, text: &str) -> bool {
        self.as_bytes() == text.as_bytes()
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Only a validated (ASCII) name is ever stored.
            Repr::Inline { .. } => std::str::from_utf8(self.as_bytes()).unwrap_or_default(),
            Repr::Heap(text) => text,
        }
    }

    /// The `YYYYMMDD` date part.
    pub fn date(&self) -> &str {
        &self.as_str()[..8]
    }

    /// The two-digit sequence number after the date.
    pub fn sequence(&self) -> u8 {
        let b = self.as_bytes();
        (b[8] - b'0') * 10 + (b[9] - b'0')
    }

    /// The slug after the `-`.
    pub fn slug(&self) -> &str {
        &self.as_str()[11..]
    }
}

impl PartialEq for StepName {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for StepName {}

impl PartialOrd for StepName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for StepName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Byte order is the text's order.
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl std::hash::Hash for StepName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for StepName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StepName").field(&self.as_str()).finish()
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl fmt::Display for StepName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_names() {
        let n = StepName::parse("2008021700-webdavlocks").expect("valid");
        assert_eq!(n.date(), "20080217");
        assert_eq!(n.sequence(), 0);
        assert_eq!(n.slug(), "webdavlocks");
        assert!(StepName::parse("2008022901-leap_day-fix2").is_ok());
    }

    #[test]
    fn short_names_are_inline_and_long_ones_are_not_and_both_read_the_same() {
        assert_eq!(std::mem::size_of::<StepName>(), 24);
        let short = StepName::parse("2008021700-webdavlocks").expect("valid");
        assert!(matches!(short.0, Repr::Inline { .. }));
        let long = StepName::parse("2008021700-webdavlocks_and_more").expect("valid");
        assert!(matches!(long.0, Repr::Heap(_)));
        for (name, text) in [
            (&short, "2008021700-webdavlocks"),
            (&long, "2008021700-webdavlocks_and_more"),
        ] {
            assert_eq!(name.as_str(), text);
            assert_eq!(name.to_string(), text);
            assert_eq!(format!("{name:?}"), format!("StepName({text:?})"));
            assert_eq!(name.date(), "20080217");
            assert_eq!(name.sequence(), 0);
        }
        // Inline or not, names order as their text.
        assert!(short < long);
        let hash = |n: &StepName| {
            use std::hash::{BuildHasher, BuildHasherDefault};
            BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(n)
        };
        let again = StepName::parse("2008021700-webdavlocks").expect("valid");
        assert_eq!(short, again);
        assert_eq!(hash(&short), hash(&again));
    }

    #[test]
    fn rejects_bad_names() {
        for bad in [
            "200802170-short",
            "2008021700webdav",
            "2008021700-",
            "2008021700-WebDav",
            "2008021700-web dav",
            "2008021700-web.dav",
            "2008130100-month13",
            "2007022900-not_leap",
            "2008043100-april31",
            "abcd021700-x",
        ] {
            assert!(StepName::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn order_is_date_then_sequence_then_slug() {
        let mut names: Vec<StepName> = [
            "2008021701-a",
            "2008021700-z",
            "2007123100-b",
            "2008021700-a",
        ]
        .iter()
        .map(|s| StepName::parse(s).expect("valid"))
        .collect();
        names.sort();
        let texts: Vec<&str> = names.iter().map(StepName::as_str).collect();
        assert_eq!(
            texts,
            [
                "2007123100-b",
                "2008021700-a",
                "2008021700-z",
                "2008021701-a"
            ]
        );
    }
}
