//! Ledger rows in key order, `(component, step)` by bytes, for a ledger read
//! in storage order (SQLite: walking the primary-key index would look up
//! every row in the table).
//!
//! Rows are read into one text (nothing built per row). Each row's text is
//! then copied, in reading order, into its component's bucket (components
//! in byte order); each bucket, a few kilobytes, is sorted by step and its
//! rows built. Every pass reads front to back: sorting the rows themselves
//! read a scattered place per row, and built rows scattered on the heap
//! sent every later pass over them (matching them to the tree's steps) to
//! a scattered place per row too.

use std::collections::HashMap;

use super::LedgerRow;

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

    /// Where row `i` starts in `text`, and where its columns end.
    fn span(&self, i: usize) -> Span {
        let start = i
            .checked_sub(1)
            .and_then(|before| self.ends.get(before))
            .map_or(0, |e| e[3]);
        (start, self.ends.get(i).copied().unwrap_or([start; 4]))
    }

    /// The columns of row `i`.
    fn columns(&self, i: usize) -> [&str; 4] {
        columns_in(&self.text, self.span(i))
    }

    /// The rows built in reading order, then sorted as rows: for more rows
    /// than the numbers below count.
    fn sorted_as_rows(self) -> Vec<LedgerRow> {
        let mut rows: Vec<LedgerRow> = (0..self.ends.len())
            .map(|i| {
                let [component, step, checksum, applied_at] = self.columns(i);
                LedgerRow::new(component, step, checksum, applied_at)
            })
            .collect();
        rows.sort_unstable_by(|a, b| (a.component(), a.step()).cmp(&(b.component(), b.step())));
        rows
    }

    /// The rows sorted by `(component, step)` in byte order (the order of
    /// `str` and of `COLLATE "C"`).
    pub(super) fn sorted(self) -> Vec<LedgerRow> {
        let count = self.ends.len();
        if u32::try_from(count).is_err() {
            return self.sorted_as_rows();
        }
        let component = |i: usize| self.columns(i)[0];
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
        let mut place_of = vec![0usize; names.len()];
        for (place, &(_, id)) in names.iter().enumerate() {
            place_of[id as usize] = place;
        }
        drop(names);
        // A bucket per component, in byte order: how many rows and bytes
        // each holds, then where each starts.
        let places = place_of.len();
        let mut row_start = vec![0usize; places + 1];
        let mut byte_start = vec![0usize; places + 1];
        for (i, &id) in firsts.iter().enumerate() {
            let place = place_of[id as usize];
            let (start, ends) = self.span(i);
            row_start[place + 1] += 1;
            byte_start[place + 1] += ends[3] - start;
        }
        for place in 0..places {
            row_start[place + 1] += row_start[place];
            byte_start[place + 1] += byte_start[place];
        }
        // Each row's text copied to its component's bucket, the rows taken
        // in reading order: the reads go front to back and the writes to
        // one of a few hundred places each moving forward, where sorting
        // the rows themselves read a scattered place per row (a cache miss
        // or two each, a third of reading 100,000 rows).
        let mut bytes = vec![0u8; self.text.len()];
        let mut spans: Vec<Span> = vec![(0, [0; 4]); count];
        let (mut row_at, mut byte_at) = (row_start.clone(), byte_start);
        for (i, &id) in firsts.iter().enumerate() {
            let place = place_of[id as usize];
            let (start, ends) = self.span(i);
            let to = byte_at[place];
            let len = ends[3] - start;
            bytes[to..to + len].copy_from_slice(&self.text.as_bytes()[start..ends[3]]);
            spans[row_at[place]] = (to, ends.map(|end| end - start + to));
            row_at[place] += 1;
            byte_at[place] += len;
        }
        drop(firsts);
        // Whole rows of a text, moved: still text.
        let Ok(text) = String::from_utf8(bytes) else {
            return self.sorted_as_rows();
        };
        drop(self);
        // Each bucket sorted by step (a few kilobytes, in cache), equal
        // steps in reading order, and its rows built in that order.
        let step = |span: &Span| columns_in(&text, *span)[1];
        let mut rows = Vec::with_capacity(count);
        for place in 0..places {
            let bucket = &mut spans[row_start[place]..row_start[place + 1]];
            bucket.sort_unstable_by(|a, b| step(a).cmp(step(b)).then(a.0.cmp(&b.0)));
            rows.extend(bucket.iter().map(|&span| {
                let [component, step, checksum, applied_at] = columns_in(&text, span);
                LedgerRow::new(component, step, checksum, applied_at)
            }));
        }
        rows
    }
}

/// Where a row starts in a text, and where its columns end.
type Span = (usize, [usize; 4]);

/// The columns of the row at `span` of `text`.
fn columns_in(text: &str, (start, ends): Span) -> [&str; 4] {
    let column = |from: usize, to: usize| text.get(from..to).unwrap_or_default();
    [
        column(start, ends[0]),
        column(ends[0], ends[1]),
        column(ends[1], ends[2]),
        column(ends[2], ends[3]),
    ]
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
            // Around the second eight bytes, and a character across byte 8.
            ("core", "2001010100-abcde"),
            ("core", "2001010100-abcde\0"),
            ("core", "2001010100-abcdef"),
            ("core", "2001010100-abcdd~"),
            ("core", "2001010100-abcdf"),
            ("core", "2001010100-abcdefg"),
            ("core", "2001010100-abcdefa"),
            ("core", "2001010é"),
            ("core", "2001010éa"),
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
