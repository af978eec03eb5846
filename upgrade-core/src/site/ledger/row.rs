//! One ledger row as stored, and the step identity it names.

use crate::model::component::ComponentName;
use crate::model::step::StepKey;
use crate::model::step_name::StepName;

/// One row of the ledger, as stored (names are not validated: a row written
/// by another tool may hold anything, and is then an orphan).
///
/// The four columns are one text, read through accessors: a site's 100,000
/// rows are then 100,000 allocations, not 400,000, and matching a row to its
/// step reads one place in memory, not four (rows are sorted after reading,
/// so neighbours in the list are not neighbours on the heap).
#[allow(clippy::derived_hash_with_manual_eq)]
#[derive(Clone, Eq, Hash)]
pub struct LedgerRow {
    /// `component`, `step`, `checksum` and `applied_at`, one after the other.
    text: Box<str>,
    /// Where `step`, `checksum` and `applied_at` start in `text`.
    starts: [usize; 3],
}

// Equality is written out only to count comparisons in tests
// (model/op_count.rs); it compares the same fields as the derived hash.
impl PartialEq for LedgerRow {
    fn eq(&self, other: &Self) -> bool {
        crate::model::op_count::tick(1);
        self.starts == other.starts && self.text == other.text
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
        let mut text =
            String::with_capacity(component.len() + step.len() + checksum.len() + applied_at.len());
        let mut starts = [0; 3];
        text.push_str(component);
        for (start, column) in starts.iter_mut().zip([step, checksum, applied_at]) {
            *start = text.len();
            text.push_str(column);
        }
        LedgerRow {
            text: text.into_boxed_str(),
            starts,
        }
    }

    /// The `component` column.
    pub fn component(&self) -> &str {
        self.text.get(..self.starts[0]).unwrap_or_default()
    }

    /// The `step` column.
    pub fn step(&self) -> &str {
        self.text
            .get(self.starts[0]..self.starts[1])
            .unwrap_or_default()
    }

    /// The `checksum` column.
    pub fn checksum(&self) -> &str {
        self.text
            .get(self.starts[1]..self.starts[2])
            .unwrap_or_default()
    }

    /// The `applied_at` column (UTC, `YYYY-MM-DDTHH:MM:SSZ`).
    pub fn applied_at(&self) -> &str {
        self.text.get(self.starts[2]..).unwrap_or_default()
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
        self.starts[1] + 1
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
