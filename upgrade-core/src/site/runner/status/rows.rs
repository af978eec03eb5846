//! Where each ledger row's step is in the tree, and which rows the site's
//! completed release covers (`prune` deletes those).

use super::*;

/// Each row's `(component, step)`, as [`SiteChange::delete`] lists them.
pub(in crate::site::runner) fn keys_of<'r>(
    rows: impl IntoIterator<Item = &'r LedgerRow>,
) -> Vec<(String, String)> {
    rows.into_iter()
        .map(|r| (r.component().to_string(), r.step().to_string()))
        .collect()
}

/// Is `row` spelled exactly as the key of `step`?
fn is_row(step: &Step, row: &LedgerRow) -> bool {
    crate::model::op_count::tick(1);
    step.key.is(row.component(), row.step())
}

/// Where a ledger row's step is.
pub(super) enum RowIn {
    /// In the tree, at this position of its steps.
    Tree(usize),
    /// In no step of the tree: the row's key as read.
    Elsewhere(StepKey),
    /// The row's names are not a step identity (it matches no step).
    Invalid,
}

/// The step of `row` in the tree. A row spelled exactly as its step's key
/// (the common case) is found by comparing text, the others by their key as
/// [`LedgerRow::key`] reads it. The rows come sorted like the tree's steps:
/// the step after the last one found (`next`) is tried first, else searched.
pub(super) fn find_row(tree: &Tree, row: &LedgerRow, next: &mut usize) -> RowIn {
    // Steps are sorted by key, which orders as (component, name) text.
    let spelled = |s: &Step| {
        crate::model::op_count::tick(1);
        (s.key.component.as_str(), s.key.name.as_str()).cmp(&(row.component(), row.step()))
    };
    let exact = match tree.steps.get(*next) {
        Some(step) if is_row(step, row) => Some(*next),
        _ => tree.steps.binary_search_by(spelled).ok(),
    };
    let index = match exact {
        Some(index) => index,
        None => {
            let Some(key) = row.key() else {
                return RowIn::Invalid;
            };
            match tree.steps.binary_search_by(|s| s.key.cmp(&key)) {
                Ok(index) => index,
                Err(_) => return RowIn::Elsewhere(key),
            }
        }
    };
    *next = index + 1;
    RowIn::Tree(index)
}

/// The ledger rows a site that completed the release at history position
/// `upto` no longer needs: rows of steps the tree tags with that release or an
/// earlier one, and rows of steps not in the tree that a release file up to it
/// covers. Deleting them never changes `pending` (P1).
pub fn covered_rows(tree: &Tree, rows: &[LedgerRow], upto: usize) -> Vec<LedgerRow> {
    rows.iter()
        .filter(|row| {
            row.key()
                .is_some_and(|key| covered(tree, &key, tree.step(&key), upto))
        })
        .cloned()
        .collect()
}

/// Does the release at history position `upto` cover the row of `key`
/// (`step`: the tree's step of that key, if any)?
pub(in crate::site::runner) fn covered(
    tree: &Tree,
    key: &StepKey,
    step: Option<&Step>,
    upto: usize,
) -> bool {
    crate::model::op_count::tick(1);
    match step {
        Some(step) => step
            .release()
            .and_then(|r| tree.manifest.release_index(r))
            .is_some_and(|i| i <= upto),
        None => tree.manifest.releases[..=upto.min(tree.manifest.releases.len().saturating_sub(1))]
            .iter()
            .any(|entry| {
                tree.release_files.get(&entry.name).is_some_and(|file| {
                    file.rules
                        .covers
                        .get(&key.component)
                        .is_some_and(|steps| steps.contains_key(&key.name))
                })
            }),
    }
}
