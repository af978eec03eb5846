//! `Version`: an exact decimal version such as `2007101500.01`.
//!
//! Versions are never floats. Two versions compare by their integer part, then
//! by their fraction digit by digit, so `.1` equals `.10` and `.01` is greater
//! than `.001`. The text a version was written with is kept for display.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// An exact decimal version: integer part plus an optional fraction.
#[derive(Debug, Clone, Eq)]
pub struct Version {
    text: String,
}

/// Why a text is not a version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a version: write digits with an optional fraction, e.g. `2007101500.01`")]
pub struct VersionError {
    /// The rejected text.
    pub text: String,
}

impl Version {
    /// Parses `DIGITS[.DIGITS]`.
    pub fn parse(text: &str) -> Result<Self, VersionError> {
        let err = || VersionError {
            text: text.to_string(),
        };
        let (int, frac) = match text.split_once('.') {
            Some((i, f)) => (i, f),
            None => (text, ""),
        };
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty()
            || !digits(int)
            || !digits(frac)
            || (text.contains('.') && frac.is_empty())
        {
            return Err(err());
        }
        Ok(Version {
            text: text.to_string(),
        })
    }

    /// The integer part without leading zeros and the fraction without trailing zeros.
    fn parts(&self) -> (&str, &str) {
        let (int, frac) = self.text.split_once('.').unwrap_or((&self.text, ""));
        (int.trim_start_matches('0'), frac.trim_end_matches('0'))
    }

    /// The text the version was written with.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let ((int_a, frac_a), (int_b, frac_b)) = (self.parts(), other.parts());
        // Leading zeros are stripped, so a longer integer part is a larger number.
        int_a
            .len()
            .cmp(&int_b.len())
            .then_with(|| int_a.cmp(int_b))
            // Trailing zeros are stripped, so digit-wise string order is numeric order.
            .then_with(|| frac_a.cmp(frac_b))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl FromStr for Version {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Version::parse(s)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).expect("valid version")
    }

    #[test]
    fn fraction_compares_digit_by_digit() {
        assert!(v("2007101500.01") > v("2007101500.001"));
        assert!(v("2007101500.1") > v("2007101500.09"));
        assert!(v("2007101500.001") < v("2007101500.01"));
        // The float bug this type exists to avoid: 0.01 vs 0.001 as "1" vs "01".
        assert_ne!(v("1.01"), v("1.001"));
    }

    #[test]
    fn trailing_zeros_do_not_count() {
        assert_eq!(v("2007101500.1"), v("2007101500.10"));
        assert_eq!(v("2007101500"), v("2007101500.00"));
        assert_eq!(v("007"), v("7"));
        assert_eq!(v("2007101500.10").as_str(), "2007101500.10");
    }

    #[test]
    fn integer_part_dominates() {
        assert!(v("2007101600") > v("2007101500.99999"));
        assert!(v("10") > v("9.9"));
        assert!(v("0.5") < v("1"));
    }

    #[test]
    fn rejects_non_decimals() {
        for bad in ["", ".1", "1.", "1.2.3", "1e5", "-1", "1,5", " 1", "v1"] {
            assert!(Version::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    proptest::proptest! {
        #[test]
        fn order_matches_exact_rational_order(a in 0u64..1000, af in 0u64..1000, b in 0u64..1000, bf in 0u64..1000) {
            // Fractions written with three digits: compare exactly as integers.
            let va = v(&format!("{a}.{af:03}"));
            let vb = v(&format!("{b}.{bf:03}"));
            proptest::prop_assert_eq!(va.cmp(&vb), (a * 1000 + af).cmp(&(b * 1000 + bf)));
        }
    }
}
