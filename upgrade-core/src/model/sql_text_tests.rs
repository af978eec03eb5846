//! Tests of the SQL tokenizer and statement splitting.

use super::*;
use proptest::prelude::*;

fn starts(sql: &str, dialect: Dialect) -> Vec<(usize, String)> {
    statements(sql, dialect)
        .iter()
        .map(|s| (s.line, s.leading_words(1).join(" ")))
        .collect()
}

fn kinds(sql: &str, dialect: Dialect) -> Vec<(TokenKind, &str)> {
    tokenize(sql, dialect)
        .into_iter()
        .map(|t| (t.kind, t.text))
        .collect()
}

#[test]
fn semicolons_in_quotes_and_comments_do_not_split() {
    let sql = "INSERT INTO t VALUES ('a;b', 'it''s; fine');\n\
               -- COMMIT;\n\
               /* COMMIT; */ SELECT \"x;y\" FROM t;\n";
    for d in Dialect::ALL {
        assert_eq!(
            starts(sql, d),
            vec![(1, "INSERT".into()), (3, "SELECT".into())],
            "{d:?}"
        );
    }
}

#[test]
fn escape_strings_and_backslashes_in_postgres() {
    // E'' with \' keeps going; a plain '' string ends at the quote after a backslash.
    let sql = "SELECT E'a\\'; COMMIT; \\'';\nSELECT 'b\\';\nSELECT 1;";
    assert_eq!(
        starts(sql, Dialect::Postgres),
        vec![
            (1, "SELECT".into()),
            (2, "SELECT".into()),
            (3, "SELECT".into())
        ]
    );
    assert_eq!(
        kinds("e'x\\'y'", Dialect::Postgres),
        vec![(TokenKind::String, "e'x\\'y'")]
    );
    // SQLite has no E strings: E is a word, and the string ends at the second quote.
    assert_eq!(kinds("E'x\\'", Dialect::Sqlite)[0], (TokenKind::Word, "E"));
    // A word ending in e before a quote is not an E string.
    assert_eq!(
        kinds("somee'a\\'", Dialect::Postgres)[1],
        (TokenKind::String, "'a\\'")
    );
}

#[test]
fn dollar_quotes_hide_their_content() {
    let sql = "CREATE FUNCTION f() RETURNS void AS $body$\nBEGIN\n  COMMIT;\nEND;\n$body$ LANGUAGE plpgsql;\n\
               DO $$ BEGIN ROLLBACK; END $$;\nSELECT $1, a$b$c FROM t;\nSELECT $x$ $$ ; $y$ $x$;";
    assert_eq!(
        starts(sql, Dialect::Postgres),
        vec![
            (1, "CREATE".into()),
            (6, "DO".into()),
            (7, "SELECT".into()),
            (8, "SELECT".into())
        ]
    );
    let t = kinds("$a$ x $b$ y $a$", Dialect::Postgres);
    assert_eq!(t, vec![(TokenKind::DollarString, "$a$ x $b$ y $a$")]);
    // In SQLite a $ starts a parameter, never a quote.
    assert_eq!(
        starts("SELECT $$;\nCOMMIT;", Dialect::Sqlite),
        vec![(1, "SELECT".into()), (2, "COMMIT".into())]
    );
}

#[test]
fn block_comments_nest_in_postgres_only() {
    let sql = "/* a /* b */ COMMIT; */ SELECT 1;";
    assert_eq!(starts(sql, Dialect::Postgres), vec![(1, "SELECT".into())]);
    // SQLite ends the comment at the first */: COMMIT runs.
    assert_eq!(
        starts(sql, Dialect::Sqlite),
        vec![(1, "COMMIT".into()), (1, "*".into())]
    );
    let t = tokenize("/* open", Dialect::Sqlite);
    assert!(!t[0].closed && t[0].kind == TokenKind::BlockComment);
}

#[test]
fn sqlite_identifier_quotes() {
    let sql = "SELECT [a;b], `c;``d` FROM t;\nCOMMIT;";
    assert_eq!(
        starts(sql, Dialect::Sqlite),
        vec![(1, "SELECT".into()), (2, "COMMIT".into())]
    );
}

#[test]
fn trigger_bodies_are_one_statement() {
    let sql = "CREATE TRIGGER tr AFTER INSERT ON t\nBEGIN\n  UPDATE t SET x = CASE WHEN 1 THEN 2 END;\n  INSERT INTO log VALUES ('end');\nEND;\nCOMMIT;\n";
    for d in Dialect::ALL {
        let s = statements(sql, d);
        assert_eq!(s.len(), 2, "{d:?}: {s:#?}");
        assert_eq!(s[0].leading_words(2), ["CREATE", "TRIGGER"]);
        assert!(s[0].text.ends_with("END;"), "{}", s[0].text);
        assert_eq!(
            (s[1].line, s[1].leading_words(1)),
            (6, vec!["COMMIT".to_string()])
        );
    }
    let temp = "CREATE TEMP TRIGGER IF NOT EXISTS x BEFORE DELETE ON t BEGIN SELECT RAISE(ABORT, 'no'); END; BEGIN;";
    assert_eq!(
        starts(temp, Dialect::Sqlite),
        vec![(1, "CREATE".into()), (1, "BEGIN".into())]
    );
}

#[test]
fn begin_atomic_bodies_are_one_statement() {
    let sql = "CREATE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT CASE WHEN true THEN 1 END;\n  SELECT 2;\nEND;\nEND;";
    assert_eq!(
        starts(sql, Dialect::Postgres),
        vec![(1, "CREATE".into()), (6, "END".into())]
    );
    // A plain BEGIN is a statement of its own.
    assert_eq!(
        starts("BEGIN;\nCREATE TABLE t (a INT);\nEND;", Dialect::Postgres),
        vec![(1, "BEGIN".into()), (2, "CREATE".into()), (3, "END".into())]
    );
}

#[test]
fn parentheses_hold_rule_actions() {
    let sql = "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2));\nSELECT 1;";
    assert_eq!(
        starts(sql, Dialect::Postgres),
        vec![(1, "CREATE".into()), (2, "SELECT".into())]
    );
}

#[test]
fn lines_count_inside_multi_line_tokens() {
    let sql = "SELECT 'a\nb', /* c\nd */ $$e\nf$$;\n\n  COMMIT";
    let s = statements(sql, Dialect::Postgres);
    assert_eq!(s[1].line, 6);
    assert_eq!(s[1].text, "COMMIT");
    assert_eq!(s[0].text, "SELECT 'a\nb', /* c\nd */ $$e\nf$$;");
}

#[test]
fn unclosed_quotes_run_to_the_end() {
    for (sql, kind) in [
        ("'abc; COMMIT;", TokenKind::String),
        ("\"abc; COMMIT;", TokenKind::QuotedIdent),
        ("$$ abc; COMMIT;", TokenKind::DollarString),
    ] {
        let t = tokenize(sql, Dialect::Postgres);
        assert_eq!(t.len(), 1, "{sql}");
        assert_eq!((t[0].kind, t[0].closed), (kind, false));
    }
}

proptest! {
    /// Tokens never overlap, follow each other in order, cover every
    /// non-blank byte and carry the right line; splitting never panics and
    /// statements appear in order.
    #[test]
    fn tokens_cover_the_text(sql in "[a-zA-Z0-9 ;'\"$/*\\-\\n\\\\()\\[\\]`EeéΩ]{0,80}") {
        for dialect in Dialect::ALL {
            let tokens = tokenize(&sql, dialect);
            let mut pos = 0;
            for t in &tokens {
                prop_assert!(t.offset >= pos);
                prop_assert!(sql[pos..t.offset].bytes().all(|b| b.is_ascii_whitespace()));
                prop_assert_eq!(t.line, sql[..t.offset].matches('\n').count() + 1);
                prop_assert!(!t.text.is_empty());
                pos = t.offset + t.text.len();
            }
            prop_assert!(sql[pos..].bytes().all(|b| b.is_ascii_whitespace()));
            let stmts = statements(&sql, dialect);
            let mut last = 0;
            for s in &stmts {
                prop_assert!(s.offset >= last);
                prop_assert!(!s.tokens.is_empty());
                last = s.offset + s.text.len();
            }
        }
    }

    /// A statement hidden in any quote or comment is never seen.
    #[test]
    fn quoted_commit_is_never_a_statement(prefix in "[a-z ]{0,10}", quote in 0usize..5) {
        let hidden = ["'x; COMMIT; y'", "\"x; COMMIT; y\"", "/* x; COMMIT; y */", "-- x; COMMIT; y\n", "$q$ x; COMMIT; y $q$"];
        let sql = format!("SELECT {prefix} {} ;", hidden[quote]);
        let dialects: &[Dialect] = if quote == 4 { &[Dialect::Postgres] } else { &Dialect::ALL };
        for &d in dialects {
            let s = statements(&sql, d);
            prop_assert!(s.iter().all(|s| s.leading_words(1) != ["COMMIT"]), "{:?}", s);
        }
    }
}

/// The work of tokenizing and splitting `sql` in both dialects, in bytes
/// scanned.
fn split_work(sql: &str) -> u64 {
    crate::model::op_count::take();
    for d in Dialect::ALL {
        let _ = statements(sql, d);
    }
    crate::model::op_count::take()
}

#[test]
fn tokenizing_and_splitting_scan_each_byte_a_bounded_number_of_times() {
    // Inserts, PostgreSQL parameters (a `$` not opening a dollar quote once
    // searched the rest of the script) and a CREATE statement with many
    // `BEGIN` words (each once searched its statement for TRIGGER).
    let inserts = |n: usize| -> String {
        (0..n)
            .map(|i| format!("INSERT INTO t VALUES ({i}, 'v;{i}', $1); -- c{i}\n"))
            .collect()
    };
    let begins = |n: usize| -> String {
        let cols: Vec<String> = (0..n).map(|i| format!("begin{i} int, begin")).collect();
        format!("CREATE TABLE x ({} int);\n", cols.join(", "))
    };
    for make in [&inserts as &dyn Fn(usize) -> String, &begins] {
        let (small, large) = (make(5_000), make(10_000));
        let (ws, wl) = (split_work(&small), split_work(&large));
        assert!(
            ws <= 2 * 2 * small.len() as u64,
            "{ws} units for {} bytes",
            small.len()
        );
        assert!(wl * 10 <= ws * 22, "not linear: {ws} then {wl}");
    }
}

#[test]
fn only_create_trigger_opens_a_body_in_sqlite() {
    // A view that merely names columns `trigger` and `begin` opens no body:
    // the statements after it stay statements (SQLite reads them so too).
    let sql = "CREATE VIEW v AS SELECT trigger, begin FROM x;\nCOMMIT;\nSELECT 1;\n";
    assert_eq!(
        starts(sql, Dialect::Sqlite),
        vec![
            (1, "CREATE".into()),
            (2, "COMMIT".into()),
            (3, "SELECT".into())
        ]
    );
    let sql = "CREATE TEMPORARY TRIGGER IF NOT EXISTS tr AFTER INSERT ON t BEGIN\n  SELECT 1;\nEND;\nCOMMIT;\n";
    assert_eq!(
        starts(sql, Dialect::Sqlite),
        vec![(1, "CREATE".into()), (4, "COMMIT".into())]
    );
}
