//! One ledger row as stored, and the step identity it names.

use crate::model::component::ComponentName;
use crate::model::step::StepKey;
use crate::model::step_name::StepName;

/// One row of the ledger, as stored (names are not validated: a row written
/// by another tool may hold anything, and is then an orphan).
// Equality is written out only to count comparisons in tests
// (model/op_count.rs); it compares the same fields as the derived hash.
#[allow(clippy::derived_hash_with_manual_eq)]
#[derive(Debug, Clone, Eq, Hash)]
pub struct LedgerRow {
    /// The `component` column.
    pub component: String,
    /// The `step` column.
    pub step: String,
    /// The `checksum` column.
    pub checksum: String,
    /// The `applied_at` column (UTC, `YYYY-MM-DDTHH:MM:SSZ`).
    pub applied_at: String,
}

impl PartialEq for LedgerRow {
    fn eq(&self, other: &Self) -> bool {
        crate::model::op_count::tick(1);
        self.component == other.component
            && self.step == other.step
            && self.checksum == other.checksum
            && self.applied_at == other.applied_at
    }
}

impl LedgerRow {
    /// The row's identity as `component/step`.
    pub fn key_text(&self) -> String {
        format!("{}/{}", self.component, self.step)
    }

    /// The step identity the row names, when its names are valid: the same
    /// answer as `StepKey::parse(&row.key_text())`, without building the
    /// text (one parse per row on a site with 100,000 rows).
    pub fn key(&self) -> Option<StepKey> {
        row_key(&self.component, &self.step)
    }

    /// The width of `component/step` in bytes, as `key_text().len()` (for
    /// aligning listings without building the text).
    pub fn key_len(&self) -> usize {
        self.component.len() + 1 + self.step.len()
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
