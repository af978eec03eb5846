//! Ledger rows in key order, `(component, step)` by bytes, for a ledger read
//! in storage order (SQLite: walking the primary-key index would look up
//! every row in the table).
//!
//! Rows are read into one text (nothing built per row), the order checked
//! as they come. Rows that came in key order (a SQLite table stored in key
//! order, sqlite/key_order.rs; PostgreSQL's `ORDER BY`) are built over that
//! text as they are. Otherwise each row's text is copied, in reading order,
//! into its component's bucket (components in byte order) and each bucket,
//! a few kilobytes, is sorted by step. Either way the rows are built over
//! one text holding them in key order, checked to be UTF-8 once: every
//! pass reads front to back, where sorting the rows themselves read a
//! scattered place per row, and rows scattered on the heap sent every
//! later pass over them (matching them to the tree's steps) to a scattered
//! place per row too.

use std::collections::HashMap;
use std::sync::Arc;

use super::LedgerRow;

/// Rows as read: their columns one after the other in one text, and where
/// each row's columns end. Nothing is built per row until the rows are in
/// order ([`Read::sorted`]): reading appends to two lists, and the rows are
/// built once, in sorted order, over one text holding them in that order.
#[derive(Default)]
pub(super) struct Read {
    /// The columns' bytes as the database gave them: checked to be text
    /// once, when the rows are built.
    text: Vec<u8>,
    /// Per row, where its `component`, `step`, `checksum` and `applied_at`
    /// end in `text` (the row starts where the one before ends).
    ends: Vec<[usize; 4]>,
    /// Some row came before a row with a smaller `(component, step)`.
    unordered: bool,
}

/// A column whose bytes are not UTF-8 text.
#[derive(Debug)]
pub(super) struct NotText {
    /// The row, counted from 0 in reading order.
    pub row: usize,
    /// The column, counted from 0: `component`, `step`, `checksum`,
    /// `applied_at`.
    pub column: usize,
    /// What is wrong with its bytes.
    pub error: String,
}

/// The ledger's columns, in the order rows are read.
pub(super) const COLUMNS: [&str; 4] = ["component", "step", "checksum", "applied_at"];

impl NotText {
    /// The error of the ledger `db` holding this row.
    pub(super) fn in_ledger(&self, db: &str) -> super::LedgerError {
        super::LedgerError::Corrupt {
            db: db.to_owned(),
            what: format!(
                "row {} of upgrade_ledger (in storage order): column {} is not UTF-8 text ({})",
                self.row + 1,
                COLUMNS.get(self.column).copied().unwrap_or("?"),
                self.error
            ),
        }
    }
}

impl Read {
    /// Adds a row after the others: the bytes of its four columns.
    pub(super) fn push(&mut self, columns: [&[u8]; 4]) {
        if !self.unordered
            && let Some(&[component_end, step_end, _, _]) = self.ends.last()
        {
            let start = self.span(self.ends.len() - 1).0;
            let before = (
                self.text.get(start..component_end).unwrap_or_default(),
                self.text.get(component_end..step_end).unwrap_or_default(),
            );
            self.unordered = before > (columns[0], columns[1]);
        }
        let mut ends = [0; 4];
        for (end, column) in ends.iter_mut().zip(columns) {
            self.text.extend_from_slice(column);
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

    /// The rows in reading order (a ledger that sorted them itself).
    pub(super) fn in_order(self) -> Result<Vec<LedgerRow>, NotText> {
        let Read { text, ends, .. } = self;
        built(
            text,
            || spans_of(&ends),
            |text| first_not_text(text, spans_of(&ends)),
        )
    }

    /// The rows sorted by `(component, step)` in byte order (the order of
    /// `str` and of `COLLATE "C"`): as read when they came in that order.
    pub(super) fn sorted(self) -> Result<Vec<LedgerRow>, NotText> {
        if !self.unordered {
            return self.in_order();
        }
        let count = self.ends.len();
        let component = |i: usize| {
            let (start, ends) = self.span(i);
            self.text.get(start..ends[0]).unwrap_or_default()
        };
        // Each row's component as a number in order of first sight (one
        // hash per row, none for a row of the same component as the one
        // before), then those numbers as places in byte order.
        let mut seen: HashMap<&[u8], usize> = HashMap::new();
        let mut last: Option<(&[u8], usize)> = None;
        let firsts: Vec<usize> = (0..count)
            .map(|i| {
                let component = component(i);
                match last {
                    Some((name, id)) if name == component => id,
                    _ => {
                        let next = seen.len();
                        let id = *seen.entry(component).or_insert(next);
                        last = Some((component, id));
                        id
                    }
                }
            })
            .collect();
        let mut names: Vec<(&[u8], usize)> = seen.into_iter().collect();
        names.sort_unstable();
        let mut place_of = vec![0usize; names.len()];
        for (place, &(_, id)) in names.iter().enumerate() {
            place_of[id] = place;
        }
        drop(names);
        // A bucket per component, in byte order: how many rows and bytes
        // each holds, then where each starts.
        let places = place_of.len();
        let mut row_start = vec![0usize; places + 1];
        let mut byte_start = vec![0usize; places + 1];
        for (i, &id) in firsts.iter().enumerate() {
            let place = place_of[id];
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
            let place = place_of[id];
            let (start, ends) = self.span(i);
            let to = byte_at[place];
            let len = ends[3] - start;
            bytes[to..to + len].copy_from_slice(&self.text[start..ends[3]]);
            spans[row_at[place]] = (to, ends.map(|end| end - start + to));
            row_at[place] += 1;
            byte_at[place] += len;
        }
        drop(firsts);
        // Each bucket sorted by step (a few kilobytes, in cache), equal
        // steps in reading order.
        let step = |span: &Span| bytes.get(span.1[0]..span.1[1]).unwrap_or_default();
        for place in 0..places {
            let bucket = &mut spans[row_start[place]..row_start[place + 1]];
            bucket.sort_unstable_by(|a, b| step(a).cmp(step(b)).then(a.0.cmp(&b.0)));
        }
        built(
            bytes,
            || spans.iter().copied(),
            |_| first_not_text(&self.text, spans_of(&self.ends)),
        )
    }
}

/// The spans of rows one after the other whose columns end at `ends`.
fn spans_of(ends: &[[usize; 4]]) -> impl Iterator<Item = Span> + '_ {
    ends.iter().scan(0, |start, &ends| {
        let span = (*start, ends);
        *start = ends[3];
        Some(span)
    })
}

/// The rows at `spans` of `bytes`, which must be text with every column
/// end a character boundary; otherwise what `not_text` finds.
fn built<I: Iterator<Item = Span>>(
    bytes: Vec<u8>,
    spans: impl Fn() -> I,
    not_text: impl FnOnce(&[u8]) -> NotText,
) -> Result<Vec<LedgerRow>, NotText> {
    // The whole text checked once (a check per column cost more than the
    // sort); every column then starts and ends at a character boundary.
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => return Err(not_text(e.as_bytes())),
    };
    if !spans().all(|(_, ends)| ends.iter().all(|&end| text.is_char_boundary(end))) {
        return Err(not_text(text.as_bytes()));
    }
    let text = Arc::new(text);
    Ok(spans()
        .map(|(start, ends)| LedgerRow::within(&text, start, ends))
        .collect())
}

/// The first column of the rows at `spans` of `bytes` that is not text
/// (one always is when the whole is not, or a column ends inside a
/// character: the row and column 0 otherwise).
fn first_not_text(bytes: &[u8], spans: impl Iterator<Item = Span>) -> NotText {
    for (row, (start, ends)) in spans.enumerate() {
        let mut from = start;
        for (column, &end) in ends.iter().enumerate() {
            if let Err(error) = std::str::from_utf8(bytes.get(from..end).unwrap_or_default()) {
                return NotText {
                    row,
                    column,
                    error: error.to_string(),
                };
            }
            from = end;
        }
    }
    NotText {
        row: 0,
        column: 0,
        error: "not UTF-8 text".to_owned(),
    }
}

/// Where a row starts in a text, and where its columns end.
type Span = (usize, [usize; 4]);

/// `rows` sorted by `(component, step)` in byte order.
#[cfg(test)]
pub(super) fn sorted(rows: Vec<LedgerRow>) -> Vec<LedgerRow> {
    let mut read = Read::default();
    for row in &rows {
        read.push(
            [
                row.component(),
                row.step(),
                row.checksum(),
                row.applied_at(),
            ]
            .map(str::as_bytes),
        );
    }
    match read.sorted() {
        Ok(rows) => rows,
        Err(e) => panic!("rows of text: {e:?}"),
    }
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

    #[test]
    fn a_column_that_is_not_text_is_named_in_reading_order() {
        // Rows of four columns' bytes, and the (row, column) named.
        type Case<'a> = (&'a [[&'a [u8]; 4]], (usize, usize));
        let cases: [Case; 2] = [
            // Bytes that are no UTF-8 at all, the first in reading order
            // named.
            (
                &[
                    [b"core", b"2001010100-a", b"sha256:ab", b"t"],
                    [b"mod", b"2001010100-a", b"sha\xff", b"t"],
                    [b"core", b"\xfe", b"sha256:ab", b"t"],
                ],
                (1, 2),
            ),
            // "é" is two bytes split across two columns: each alone is not
            // text, the two together are.
            (
                &[
                    [b"core", b"2001010100-a", b"x", b"t"],
                    [b"core\xc3", b"\xa92001010100-b", b"x", b"t"],
                ],
                (1, 0),
            ),
        ];
        for (rows, expected) in cases {
            for order in [Read::sorted, Read::in_order] {
                let mut read = Read::default();
                for &row in rows {
                    read.push(row);
                }
                let Err(e) = order(read) else {
                    panic!("bytes that are not text read as rows: {rows:?}")
                };
                assert_eq!((e.row, e.column), expected, "{e:?}");
            }
        }
    }

    #[test]
    fn rows_read_in_order_are_not_sorted_again() {
        let mut read = Read::default();
        for (c, s) in [("core", "a"), ("core", "b"), ("mod", "a"), ("mod", "a")] {
            read.push([c.as_bytes(), s.as_bytes(), b"", b""]);
        }
        assert!(!read.unordered);
        // One row out of order, anywhere, is seen.
        for at in 0..4 {
            let mut read = Read::default();
            let mut keys = [("core", "a"), ("core", "b"), ("mod", "a"), ("mod", "b")];
            keys.swap(at, (at + 1) % 4);
            for (c, s) in keys {
                read.push([c.as_bytes(), s.as_bytes(), b"", b""]);
            }
            assert!(read.unordered, "{keys:?}");
            let rows = sorted_rows(read);
            assert_eq!(rows[0].step(), "a");
            assert_eq!(rows[3].key_text(), "mod/b");
        }
    }

    fn sorted_rows(read: Read) -> Vec<LedgerRow> {
        match read.sorted() {
            Ok(rows) => rows,
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn rows_in_reading_order_share_one_text() {
        let mut read = Read::default();
        read.push([
            b"mod",
            b"2001010100-a",
            b"sha256:ab",
            b"2001-01-01T00:00:00Z",
        ]);
        read.push([b"core", "é".as_bytes(), b"", b"t"]);
        let rows = match read.in_order() {
            Ok(rows) => rows,
            Err(e) => panic!("{e:?}"),
        };
        assert_eq!(
            rows,
            [
                LedgerRow::new("mod", "2001010100-a", "sha256:ab", "2001-01-01T00:00:00Z"),
                LedgerRow::new("core", "é", "", "t"),
            ]
        );
    }
}
