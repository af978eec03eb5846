//! One ledger row as stored, and the step identity it names.

use crate::model::component::ComponentName;
use crate::model::step::StepKey;
use crate::model::step_name::StepName;

/// One row of the ledger, as stored (names are not validated: a row written
/// by another tool may hold anything, and is then an orphan).
///
/// The four columns are one text, read through accessors, held in the row
/// itself when short (as every row this tool writes is): reading a site's
/// 100,000 rows allocates nothing per row, and once sorted the rows lie in
/// order in memory, so the passes that match them to steps read memory
/// front to back (rows that were allocated one by one and then sorted sent
/// every pass to a scattered place per row).
#[derive(Clone)]
pub struct LedgerRow(Repr);

/// The longest row (all four columns) held inline.
const INLINE: usize = 180;

#[derive(Clone)]
enum Repr {
    /// Where `step`, `checksum` and `applied_at` start, the length, then
    /// the text (the bytes of `str`s, at their boundaries).
    Inline {
        starts: [u8; 3],
        len: u8,
        bytes: [u8; INLINE],
    },
    /// A longer row.
    Heap { starts: [usize; 3], text: Box<str> },
}

// Equality is written out to count comparisons in tests
// (model/op_count.rs); it compares what the hash hashes.
impl PartialEq for LedgerRow {
    fn eq(&self, other: &Self) -> bool {
        crate::model::op_count::tick(1);
        self.parts() == other.parts()
    }
}

impl Eq for LedgerRow {}

impl std::hash::Hash for LedgerRow {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

impl std::fmt::Debug for LedgerRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerRow")
            .field("component", &self.component())
            .field("step", &self.step())
            .field("checksum", &self.checksum())
            .field("applied_at", &self.applied_at())
            .finish()
    }
}

impl LedgerRow {
    /// A row of these columns (`applied_at`: UTC, `YYYY-MM-DDTHH:MM:SSZ`).
    pub fn new(component: &str, step: &str, checksum: &str, applied_at: &str) -> LedgerRow {
        let columns = [component, step, checksum, applied_at];
        let mut starts = [0; 3];
        let mut len = component.len();
        for (start, column) in starts.iter_mut().zip(&columns[1..]) {
            *start = len;
            len += column.len();
        }
        match u8::try_from(len) {
            Ok(short) if len <= INLINE => {
                let mut bytes = [0; INLINE];
                let mut at = 0;
                for column in columns {
                    bytes[at..at + column.len()].copy_from_slice(column.as_bytes());
                    at += column.len();
                }
                LedgerRow(Repr::Inline {
                    // Each start is at most `len`, which fits a byte.
                    starts: starts.map(|s| u8::try_from(s).unwrap_or(short)),
                    len: short,
                    bytes,
                })
            }
            _ => LedgerRow(Repr::Heap {
                starts,
                text: columns.concat().into_boxed_str(),
            }),
        }
    }

    /// Where the columns start and the text's bytes: what makes two rows
    /// equal, however each is held.
    fn parts(&self) -> ([usize; 3], &[u8]) {
        match &self.0 {
            Repr::Inline { starts, len, bytes } => (
                starts.map(usize::from),
                bytes.get(..usize::from(*len)).unwrap_or_default(),
            ),
            Repr::Heap { starts, text } => (*starts, text.as_bytes()),
        }
    }

    /// Column `i` (0 to 3) of the row.
    fn column(&self, i: usize) -> &str {
        let (starts, bytes) = self.parts();
        let from = i.checked_sub(1).map_or(0, |s| starts[s]);
        let to = starts.get(i).copied().unwrap_or(bytes.len());
        // Columns were `str`s: each slice is whole characters.
        bytes
            .get(from..to)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or_default()
    }

    /// The `component` column.
    pub fn component(&self) -> &str {
        self.column(0)
    }

    /// The `step` column.
    pub fn step(&self) -> &str {
        self.column(1)
    }

    /// The `checksum` column.
    pub fn checksum(&self) -> &str {
        self.column(2)
    }

    /// The `applied_at` column (UTC, `YYYY-MM-DDTHH:MM:SSZ`).
    pub fn applied_at(&self) -> &str {
        self.column(3)
    }

    /// The row's identity as `component/step`.
    pub fn key_text(&self) -> String {
        format!("{}/{}", self.component(), self.step())
    }

    /// The step identity the row names, when its names are valid: the same
    /// answer as `StepKey::parse(&row.key_text())`, without building the
    /// text (one parse per row on a site with 100,000 rows).
    pub fn key(&self) -> Option<StepKey> {
        row_key(self.component(), self.step())
    }

    /// The width of `component/step` in bytes, as `key_text().len()` (for
    /// aligning listings without building the text).
    pub fn key_len(&self) -> usize {
        self.parts().0[1] + 1
    }
}

/// The step identity of a row whose columns are `component` and `step`
/// ([`LedgerRow::key`]).
pub fn row_key(component: &str, step: &str) -> Option<StepKey> {
    crate::model::op_count::tick(1);
    if component.contains('/') {
        // `key_text` splits at the first `/`: keep exactly that reading.
        return StepKey::parse(&format!("{component}/{step}")).ok();
    }
    Some(StepKey {
        component: ComponentName::parse(component.trim()).ok()?,
        name: StepName::parse(step.trim()).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_column_reads_back_as_given() {
        let row = LedgerRow::new(
            "local_a",
            "2008010100-x",
            "sha256:ab",
            "2008-01-01T00:00:00Z",
        );
        assert_eq!(
            (
                row.component(),
                row.step(),
                row.checksum(),
                row.applied_at()
            ),
            (
                "local_a",
                "2008010100-x",
                "sha256:ab",
                "2008-01-01T00:00:00Z"
            )
        );
        assert_eq!(row.key_text(), "local_a/2008010100-x");
        assert_eq!(row.key_len(), row.key_text().len());
        let empty = LedgerRow::new("", "", "", "");
        assert_eq!(
            (
                empty.component(),
                empty.step(),
                empty.checksum(),
                empty.applied_at()
            ),
            ("", "", "", "")
        );
        assert_eq!(empty.key_len(), 1);
        // A row too long to be held inline reads back the same, and equals
        // the same row however it is held.
        let long = "x".repeat(INLINE);
        let row = LedgerRow::new("core", &long, "sha256:ab", "é");
        assert!(matches!(row.0, Repr::Heap { .. }));
        assert_eq!(
            (
                row.component(),
                row.step(),
                row.checksum(),
                row.applied_at()
            ),
            ("core", long.as_str(), "sha256:ab", "é")
        );
        assert_eq!(row, LedgerRow::new("core", &long, "sha256:ab", "é"));
        let fits = "x".repeat(INLINE - 4);
        let row = LedgerRow::new("core", &fits, "", "");
        assert!(matches!(row.0, Repr::Inline { .. }));
        assert_eq!(row.step(), fits);
    }

    #[test]
    fn a_row_is_a_few_cache_lines() {
        // Three 64-byte lines on a 64-bit machine: the text inline, its
        // length and where its columns start.
        assert!(std::mem::size_of::<LedgerRow>() <= 192);
    }

    #[test]
    fn rows_are_equal_only_column_by_column() {
        // The same text split differently is another row.
        let a = LedgerRow::new("ab", "c", "d", "e");
        let b = LedgerRow::new("a", "bc", "d", "e");
        assert_ne!(a, b);
        assert_eq!(a, LedgerRow::new("ab", "c", "d", "e"));
        let hash = |r: &LedgerRow| {
            use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
            BuildHasherDefault::<DefaultHasher>::default().hash_one(r)
        };
        assert_eq!(hash(&a), hash(&LedgerRow::new("ab", "c", "d", "e")));
        assert_eq!(
            format!("{a:?}"),
            r#"LedgerRow { component: "ab", step: "c", checksum: "d", applied_at: "e" }"#
        );
    }
}
