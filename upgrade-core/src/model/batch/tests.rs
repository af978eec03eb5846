//! Tests of batch declarations, placeholders and range arithmetic.

use super::*;

#[test]
fn parses_and_prints_byte_for_byte() {
    let b = Batch::parse("forum_posts.id 1000").expect("valid");
    assert_eq!(
        (b.table.as_str(), b.column.as_str(), b.size),
        ("forum_posts", "id", 1000)
    );
    assert_eq!(b.to_string(), "forum_posts.id 1000");
    assert_eq!(
        b.bounds_sql(),
        "SELECT CAST(min(id) AS BIGINT), CAST(max(id) AS BIGINT) FROM forum_posts"
    );
}

#[test]
fn refuses_what_is_not_plain() {
    for (text, says) in [
        ("forum_posts.id", "not `TABLE.COLUMN SIZE`"),
        ("forum_posts.id 10 20", "not `TABLE.COLUMN SIZE`"),
        ("forum_posts 10", "names no column"),
        ("forum-posts.id 10", "table `forum-posts`"),
        ("t.\"id\" 10", "column `\"id\"`"),
        ("t.1d 10", "column `1d`"),
        ("t.id; 10", "column `id;`"),
        ("t.id 0", "size `0`"),
        ("t.id -5", "size `-5`"),
        ("t.id +5", "size `+5`"),
        ("t.id 1e3", "size `1e3`"),
        ("t.id 99999999999999999999", "size"),
        ("a.b.c 10", "column `b.c`"),
    ] {
        let err = Batch::parse(text).expect_err(text);
        assert!(err.contains(says), "{text}: {err}");
    }
}

#[test]
fn placeholders_outside_strings_and_comments() {
    let sql = "UPDATE t SET a = ':lo', b = x::hi /* :hi */ WHERE id BETWEEN :lo AND :hi; -- :lo\n";
    let found = placeholders(sql, Dialect::Postgres);
    let names: Vec<&str> = found.iter().map(|p| p.name).collect();
    assert_eq!(names, ["lo", "hi"]);
    assert_eq!(&sql[found[0].offset..found[0].offset + 3], ":lo");
    assert_eq!(
        missing_placeholders("UPDATE t SET a = ':lo' WHERE id <= :hi;", Dialect::Sqlite),
        ["lo"]
    );
    assert_eq!(
        missing_placeholders("UPDATE t SET a = 1 WHERE id >= :lower;", Dialect::Sqlite),
        ["lo", "hi"]
    );
    assert!(missing_placeholders("SELECT :lo, :hi;", Dialect::Sqlite).is_empty());
}

#[test]
fn postgres_binding_numbers_per_statement() {
    let bound = bind_postgres(
        "UPDATE t SET v = 1 WHERE id BETWEEN :lo AND :hi AND note <> ':lo';\nDELETE FROM u WHERE id <= :hi;\n",
    );
    assert_eq!(bound.len(), 2);
    assert_eq!(
        bound[0].sql,
        "UPDATE t SET v = 1 WHERE id BETWEEN CAST($1 AS BIGINT) AND CAST($2 AS BIGINT) AND note <> ':lo';"
    );
    assert_eq!(bound[0].params, ["lo", "hi"]);
    assert_eq!(
        bound[1].sql,
        "DELETE FROM u WHERE id <= CAST($1 AS BIGINT);"
    );
    assert_eq!(bound[1].params, ["hi"]);
}

#[test]
fn range_arithmetic_edges() {
    // Empty table: no ranges.
    assert_eq!(range_count(None, 10), 0);
    // min = max: one range of one key.
    assert_eq!(range_count(Some((5, 5)), 10), 1);
    assert_eq!(range_at(5, 10, 5), (5, 5));
    assert_eq!(next_lo(5, 5), None);
    // Negative keys.
    assert_eq!(range_count(Some((-25, 4)), 10), 3);
    assert_eq!(range_at(-25, 10, 4), (-25, -16));
    assert_eq!(next_lo(-16, 4), Some(-15));
    assert_eq!(grid_lo(-16, -25, 10), -25);
    assert_eq!(grid_lo(-15, -25, 10), -15);
    // Size larger than the range.
    assert_eq!(range_count(Some((1, 3)), 1000), 1);
    assert_eq!(range_at(1, 1000, 3), (1, 3));
    // Near i64::MAX and over the whole i64 range: no overflow.
    assert_eq!(
        range_at(i64::MAX - 5, 10, i64::MAX),
        (i64::MAX - 5, i64::MAX)
    );
    assert_eq!(next_lo(i64::MAX, i64::MAX), None);
    assert_eq!(range_count(Some((i64::MIN, i64::MAX)), i64::MAX), 3);
    assert_eq!(range_count(Some((i64::MIN, i64::MAX)), 1), u64::MAX);
    assert_eq!(grid_lo(i64::MAX, i64::MIN, i64::MAX), i64::MAX - 1);
    // Walking covers every key exactly once.
    for (min, max, size) in [
        (1, 100, 7),
        (-3, 3, 2),
        (0, 0, 1),
        (i64::MAX - 20, i64::MAX, 6),
    ] {
        let mut lo = min;
        let mut walked = 0u64;
        let mut keys = 0i128;
        loop {
            let (l, h) = range_at(lo, size, max);
            assert!(l <= h);
            walked += 1;
            keys += i128::from(h) - i128::from(l) + 1;
            match next_lo(h, max) {
                Some(n) => lo = n,
                None => break,
            }
        }
        assert_eq!(
            walked,
            range_count(Some((min, max)), size),
            "{min} {max} {size}"
        );
        assert_eq!(keys, i128::from(max) - i128::from(min) + 1);
    }
}

proptest::proptest! {
    /// Killed after any number of committed ranges, a walk that resumes after
    /// the committed range with the largest `lo` covers every key exactly once.
    #[test]
    fn resuming_after_any_prefix_covers_every_key_once(
        min in -1_000_000i64..1_000_000,
        span in 0i64..5_000,
        size in 1i64..700,
        kill in 0usize..50,
    ) {
        let max = min + span;
        let walk = |from: Option<i64>| {
            let mut out = Vec::new();
            let mut lo = match from {
                None => min,
                Some(hi) => match next_lo(hi, max) {
                    Some(lo) => lo,
                    None => return out,
                },
            };
            loop {
                let (l, h) = range_at(lo, size, max);
                out.push((l, h));
                match next_lo(h, max) {
                    Some(n) => lo = n,
                    None => return out,
                }
            }
        };
        let full = walk(None);
        proptest::prop_assert_eq!(full.len() as u64, range_count(Some((min, max)), size));
        let committed = &full[..kill.min(full.len())];
        let mut resumed = committed.to_vec();
        resumed.extend(walk(committed.last().map(|r| r.1)));
        proptest::prop_assert_eq!(&resumed, &full);
        for (l, _) in &full {
            proptest::prop_assert_eq!(grid_lo(*l, min, size), *l);
        }
    }
}
