//! Ledger rows in key order, `(component, step)` by bytes, for a ledger read
//! in storage order (SQLite: walking the primary-key index would look up
//! every row in the table).
//!
//! Rows are read into one text (nothing built per row), then each gets a
//! number — its component's place among the distinct components (a few
//! hundred) and the first eight bytes of its step — one sort of numbers
//! decides most places, and only rows with equal numbers compare their
//! step's text. The rows are then built in that order, so they lie in order
//! in memory for the passes over them (matching them to the tree's steps).

use std::collections::HashMap;

use super::LedgerRow;
use crate::model::text_order::head;

/// Rows as read: their columns one after the other in one text, and where
/// each row's columns end. Nothing is built per row until the rows are in
/// order ([`Read::sorted`]): reading appends to two lists, and the rows are
/// built once, in sorted order, so they lie in that order in memory.
#[derive(Default)]
pub(super) struct Read {
    text: String,
    /// Per row, where its `component`, `step`, `checksum` and `applied_at`
    /// end in `text` (the row starts where the one before ends).
    ends: Vec<[usize; 4]>,
}

impl Read {
    /// Adds a row after the others.
    pub(super) fn push(&mut self, component: &str, step: &str, checksum: &str, applied_at: &str) {
        let mut ends = [0; 4];
        for (end, column) in ends.iter_mut().zip([component, step, checksum, applied_at]) {
            self.text.push_str(column);
            *end = self.text.len();
        }
        self.ends.push(ends);
    }

    /// The columns of row `i`.
    fn columns(&self, i: usize) -> [&str; 4] {
        let start = i
            .checked_sub(1)
            .and_then(|before| self.ends.get(before))
            .map_or(0, |e| e[3]);
        let ends = self.ends.get(i).copied().unwrap_or([start; 4]);
        let column = |from: usize, to: usize| self.text.get(from..to).unwrap_or_default();
        [
            column(start, ends[0]),
            column(ends[0], ends[1]),
            column(ends[1], ends[2]),
            column(ends[2], ends[3]),
        ]
    }

    /// Row `i`.
    fn row(&self, i: usize) -> LedgerRow {
        let [component, step, checksum, applied_at] = self.columns(i);
        LedgerRow::new(component, step, checksum, applied_at)
    }

    /// The rows sorted by `(component, step)` in byte order (the order of
    /// `str` and of `COLLATE "C"`).
    pub(super) fn sorted(self) -> Vec<LedgerRow> {
        let count = self.ends.len();
        let Ok(count32) = u32::try_from(count) else {
            let mut rows: Vec<LedgerRow> = (0..count).map(|i| self.row(i)).collect();
            rows.sort_unstable_by(|a, b| (a.component(), a.step()).cmp(&(b.component(), b.step())));
            return rows;
        };
        let component = |i: usize| self.columns(i)[0];
        let step = |i: u32| self.columns(i as usize)[1];
        // Each row's component as a number in order of first sight (one
        // hash per row, none for a row of the same component as the one
        // before), then those numbers as places in byte order.
        let mut seen: HashMap<&str, u32> = HashMap::new();
        let mut last: Option<(&str, u32)> = None;
        let firsts: Vec<u32> = (0..count)
            .map(|i| {
                let component = component(i);
                match last {
                    Some((name, id)) if name == component => id,
                    _ => {
                        let next = u32::try_from(seen.len()).unwrap_or(u32::MAX);
                        let id = *seen.entry(component).or_insert(next);
                        last = Some((component, id));
                        id
                    }
                }
            })
            .collect();
        let mut names: Vec<(&str, u32)> = seen.into_iter().collect();
        names.sort_unstable();
        let mut place_of = vec![0u32; names.len()];
        for (place, &(_, id)) in (0u32..).zip(&names) {
            if let Some(slot) = place_of.get_mut(id as usize) {
                *slot = place;
            }
        }
        // (component place, step head, row index): the index keeps the number
        // of every row distinct and says where the row is.
        let mut keys: Vec<(u32, u64, u32)> = (0..count32)
            .zip(&firsts)
            .map(|(i, &id)| {
                let place = place_of.get(id as usize).copied().unwrap_or(u32::MAX);
                (place, head(step(i).as_bytes()), i)
            })
            .collect();
        drop(firsts);
        keys.sort_unstable();
        for run in keys.chunk_by_mut(|a, b| (a.0, a.1) == (b.0, b.1)) {
            if run.len() > 1 {
                run.sort_unstable_by(|a, b| step(a.2).cmp(step(b.2)).then(a.2.cmp(&b.2)));
            }
        }
        // Built in sorted order: each row's text is one place of `text`,
        // and each row lies after the one before it in memory.
        keys.iter().map(|&(_, _, i)| self.row(i as usize)).collect()
    }
}

/// `rows` sorted by `(component, step)` in byte order.
#[cfg(test)]
pub(super) fn sorted(rows: Vec<LedgerRow>) -> Vec<LedgerRow> {
    let mut read = Read::default();
    for row in &rows {
        read.push(
            row.component(),
            row.step(),
            row.checksum(),
            row.applied_at(),
        );
    }
    read.sorted()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(component: &str, step: &str) -> LedgerRow {
        LedgerRow::new(component, step, "", "")
    }

    #[test]
    fn the_order_is_the_plain_sort_of_the_texts() {
        let texts = [
            ("core", "2001010100-a"),
            ("core", "2001010100"),
            ("core", "2001010100\0"),
            ("core", "2001010100-b"),
            ("core", ""),
            ("core", "2001"),
            ("core", "2001\0"),
            ("core", "20010101"),
            ("mod_a", "2001010100-a"),
            ("mod", "2001010100-a"),
            ("", "x"),
            ("mod_a", "1999010100-z"),
            ("core", "2001010100-ab"),
            ("mod_ä", "2001010100-a"),
            ("core", "é"),
        ];
        // Every rotation of the input gives the same output.
        for shift in 0..texts.len() {
            let mut input: Vec<LedgerRow> = texts.iter().map(|(c, s)| row(c, s)).collect();
            input.rotate_left(shift);
            let mut expected = input.clone();
            expected.sort_by(|a, b| (&a.component(), &a.step()).cmp(&(&b.component(), &b.step())));
            assert_eq!(sorted(input), expected, "rotation {shift}");
        }
    }

    #[test]
    fn many_rows_of_many_components_come_sorted() {
        // A storage order like a ledger's: by date across components.
        let mut input = Vec::new();
        for s in 0..300 {
            for c in 0..40 {
                input.push(row(
                    &format!("mod_{c:02}"),
                    &format!("{:010}-s{s}", 2001010100 + s % 7),
                ));
            }
        }
        let mut expected = input.clone();
        expected.sort_by(|a, b| (&a.component(), &a.step()).cmp(&(&b.component(), &b.step())));
        // And stored component by component (a site that installed them
        // one at a time), newest first: runs of one component.
        let mut grouped = expected.clone();
        grouped.reverse();
        assert_eq!(sorted(input), expected);
        assert_eq!(sorted(grouped), expected);
    }
}
