//! Ledger rows in key order, `(component, step)` by bytes, for a ledger read
//! in storage order (SQLite: walking the primary-key index would look up
//! every row in the table).
//!
//! Rows read one by one sit all over the heap, so comparing their text is
//! a cache miss or two per comparison: sorting 100,000 rows that way was a
//! third of reading them. Each row gets a number instead — its component's
//! place among the distinct components (a few hundred) and the first eight
//! bytes of its step — one sort of numbers decides most places, and only
//! rows with equal numbers compare their step's text.

use std::collections::HashMap;

use super::LedgerRow;
use crate::model::text_order::head;

/// `rows` sorted by `(component, step)` in byte order (the order of `str`
/// and of `COLLATE "C"`).
pub(super) fn sorted(rows: Vec<LedgerRow>) -> Vec<LedgerRow> {
    let Ok(count) = u32::try_from(rows.len()) else {
        let mut rows = rows;
        rows.sort_unstable_by(|a, b| (&a.component(), &a.step()).cmp(&(&b.component(), &b.step())));
        return rows;
    };
    let mut places: HashMap<&str, u32> = HashMap::new();
    for row in &rows {
        places.entry(row.component()).or_insert(0);
    }
    let mut names: Vec<&str> = places.keys().copied().collect();
    names.sort_unstable();
    for (place, name) in (0u32..).zip(&names) {
        places.insert(name, place);
    }
    // (component place, step head, row index): the index keeps the number
    // of every row distinct and says where the row is.
    let mut keys: Vec<(u32, u64, u32)> = (0..count)
        .zip(&rows)
        .map(|(i, row)| (places[row.component()], head(row.step().as_bytes()), i))
        .collect();
    drop(places);
    keys.sort_unstable();
    let step = |i: u32| rows[i as usize].step();
    for run in keys.chunk_by_mut(|a, b| (a.0, a.1) == (b.0, b.1)) {
        if run.len() > 1 {
            run.sort_unstable_by(|a, b| step(a.2).cmp(step(b.2)).then(a.2.cmp(&b.2)));
        }
    }
    // Copied in order (a row is held inline: a copy allocates nothing), so
    // the sorted rows lie in order in memory for the passes over them.
    keys.iter()
        .map(|&(_, _, i)| rows[i as usize].clone())
        .collect()
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
        assert_eq!(sorted(input), expected);
    }
}
