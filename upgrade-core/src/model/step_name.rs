//! `StepName`: the `YYYYMMDDNN-slug` name of an upgrade step.
//!
//! The name is the step's identity within its component and its place in the
//! global order: names sort by date, then by the two-digit sequence number,
//! then by slug, which is plain byte order of the text.

use std::fmt;

/// A validated step name such as `2008021700-webdavlocks`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StepName(Box<str>);

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
        Ok(StepName(text.into()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `YYYYMMDD` date part.
    pub fn date(&self) -> &str {
        &self.0[..8]
    }

    /// The two-digit sequence number after the date.
    pub fn sequence(&self) -> u8 {
        let b = self.0.as_bytes();
        (b[8] - b'0') * 10 + (b[9] - b'0')
    }

    /// The slug after the `-`.
    pub fn slug(&self) -> &str {
        &self.0[11..]
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
        f.write_str(&self.0)
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
