//! One ledger row as stored, and the step identity it names.

use std::sync::Arc;

use crate::model::component::ComponentName;
use crate::model::step::StepKey;
use crate::model::step_name::StepName;

/// One row of the ledger, as stored (names are not validated: a row written
/// by another tool may hold anything, and is then an orphan).
///
/// The four columns are one text, read through accessors. Rows read from a
/// ledger share one text, the rows' texts in sorted order one after the
/// other (site/ledger/row_order.rs): reading a site's 100,000 rows builds
/// one text and a small value per row, and the passes that match the rows
/// to steps read that text front to back (rows that were allocated one by
/// one and then sorted sent every pass to a scattered place per row).
#[derive(Clone)]
pub struct LedgerRow {
    /// The text holding the row (and, for rows read together, the others).
    text: Arc<String>,
    /// Where the row starts in `text`.
    start: usize,
    /// Where its `component`, `step`, `checksum` and `applied_at` end.
    ends: [usize; 4],
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
        let mut ends = [0; 4];
        let mut len = 0;
        for (end, column) in ends.iter_mut().zip(columns) {
            len += column.len();
            *end = len;
        }
        LedgerRow {
            text: Arc::new(columns.concat()),
            start: 0,
            ends,
        }
    }

    /// The row at `start` of `text`, its columns ending at `ends`, each a
    /// character boundary of `text` (row_order.rs checks).
    pub(super) fn within(text: &Arc<String>, start: usize, ends: [usize; 4]) -> LedgerRow {
        LedgerRow {
            text: Arc::clone(text),
            start,
            ends,
        }
    }

    /// Where the columns start in the row and its text: what makes two
    /// rows equal, wherever each is held.
    fn parts(&self) -> ([usize; 3], &str) {
        let starts = [self.ends[0], self.ends[1], self.ends[2]].map(|e| e - self.start);
        (starts, self.column_range(self.start, self.ends[3]))
    }

    /// The text from `from` to `to` (character boundaries, checked when the
    /// row was built; empty if they were not).
    fn column_range(&self, from: usize, to: usize) -> &str {
        self.text.get(from..to).unwrap_or_default()
    }

    /// Column `i` (0 to 3) of the row.
    fn column(&self, i: usize) -> &str {
        let from = i.checked_sub(1).map_or(self.start, |s| self.ends[s]);
        self.column_range(from, self.ends[i])
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
        self.ends[1] - self.start + 1
    }
}

/// A site view reads the rows' names straight from them.
impl crate::trees::site_view::RowNames for Vec<LedgerRow> {
    fn count(&self) -> usize {
        self.len()
    }

    fn names(&self) -> Box<dyn Iterator<Item = (&str, &str)> + '_> {
        Box::new(self.iter().map(|r| (r.component(), r.step())))
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
        // A row within a shared text reads back the same, and equals the
        // same row however it is held.
        let text = Arc::new(String::from("xxcorestepsha256:abé"));
        let row = LedgerRow::within(&text, 2, [6, 10, 19, 21]);
        assert_eq!(
            (
                row.component(),
                row.step(),
                row.checksum(),
                row.applied_at()
            ),
            ("core", "step", "sha256:ab", "é")
        );
        assert_eq!(row, LedgerRow::new("core", "step", "sha256:ab", "é"));
        assert_eq!(row.key_len(), "core/step".len());
    }

    #[test]
    fn a_row_is_a_small_value() {
        // The text is shared: a row is a pointer and five places.
        assert!(std::mem::size_of::<LedgerRow>() <= 48);
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
