//! Tests of the pre-step lint: every refused and every allowed form, and
//! quoting and comments that must not fool it.

use super::*;
use crate::model::release_name::ReleaseName;
use crate::model::step::{Body, Origin, Phase, Step};

/// The rules found in `sql` read by both dialects.
fn rules(sql: &str) -> Vec<(usize, Rule)> {
    lint_text(sql, &Dialect::ALL)
        .into_iter()
        .map(|f| (f.line, f.rule))
        .collect()
}

#[test]
fn every_refused_form_is_found_with_its_rule() {
    use Rule::*;
    for (sql, rule) in [
        ("DROP TABLE seen;", Drop),
        ("drop table if exists seen, other;", Drop),
        ("DROP INDEX CONCURRENTLY IF EXISTS big_v_ix;", Drop),
        ("DROP VIEW v;", Drop),
        ("DROP MATERIALIZED VIEW mv;", Drop),
        ("DROP FUNCTION f(int);", Drop),
        ("DROP TRIGGER tr ON big;", Drop),
        ("ALTER TABLE big DROP COLUMN v;", Drop),
        ("ALTER TABLE big DROP v;", Drop),
        ("ALTER TABLE big DROP CONSTRAINT big_v_ck;", Drop),
        ("ALTER TABLE big RENAME TO huge;", Rename),
        ("ALTER TABLE big RENAME COLUMN v TO w;", Rename),
        ("ALTER TABLE big RENAME v TO w;", Rename),
        ("ALTER TABLE big SET SCHEMA archive;", Rename),
        ("ALTER INDEX big_ix RENAME TO big_v_ix;", Rename),
        ("ALTER VIEW v RENAME TO w;", Rename),
        ("RENAME TABLE big TO huge;", Rename),
        ("ALTER TABLE big ALTER COLUMN v TYPE BIGINT;", ChangeType),
        ("ALTER TABLE big ALTER v SET DATA TYPE TEXT;", ChangeType),
        ("ALTER TABLE big ALTER COLUMN v SET NOT NULL;", SetNotNull),
        ("ALTER TABLE big ALTER COLUMN v DROP DEFAULT;", AlterColumn),
        ("ALTER TABLE big ALTER COLUMN v SET DEFAULT 1;", AlterColumn),
        ("ALTER TABLE big ALTER COLUMN v DROP NOT NULL;", AlterColumn),
        (
            "ALTER TABLE big ADD COLUMN w INT NOT NULL;",
            NotNullWithoutDefault,
        ),
        (
            "ALTER TABLE big ADD w TEXT NOT NULL;",
            NotNullWithoutDefault,
        ),
        (
            "ALTER TABLE big ADD COLUMN w FLOAT DEFAULT random();",
            VolatileDefault,
        ),
        (
            "ALTER TABLE big ADD COLUMN w UUID DEFAULT gen_random_uuid() NOT NULL;",
            VolatileDefault,
        ),
        ("ALTER TABLE big ADD COLUMN w BIGSERIAL;", VolatileDefault),
        (
            "ALTER TABLE big ADD COLUMN w INT GENERATED ALWAYS AS (v * 2) STORED;",
            VolatileDefault,
        ),
        ("DELETE FROM big WHERE v = 0;", Delete),
        ("REPLACE INTO big VALUES (1, 2);", Delete),
        ("INSERT OR REPLACE INTO big VALUES (1, 2);", Delete),
        ("UPDATE big SET v = 1;", Update),
        ("UPDATE OR IGNORE big SET v = 1;", Update),
        (
            "UPDATE ONLY big SET v = 1 WHERE id BETWEEN 1 AND 10;",
            Update,
        ),
        (
            "INSERT INTO big VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET v = 2;",
            Update,
        ),
        (
            "WITH x AS (UPDATE big SET v = 1 RETURNING id) SELECT count(*) FROM x;",
            Update,
        ),
        (
            "WITH x AS (SELECT id FROM big) DELETE FROM big WHERE id IN (SELECT id FROM x);",
            Delete,
        ),
        (
            "MERGE INTO big USING src ON big.id = src.id WHEN MATCHED THEN UPDATE SET v = 1;",
            Update,
        ),
        ("TRUNCATE big;", Truncate),
        ("TRUNCATE TABLE big;", Truncate),
        ("CREATE INDEX big_v_ix ON big (v);", IndexNotConcurrent),
        (
            "CREATE UNIQUE INDEX IF NOT EXISTS big_v_ix ON big (v);",
            IndexNotConcurrent,
        ),
        ("CREATE INDEX ON big (v);", IndexNotConcurrent),
        (
            "ALTER TABLE big ADD CONSTRAINT big_v_uq UNIQUE (v);",
            IndexNotConcurrent,
        ),
        ("ALTER TABLE big ADD PRIMARY KEY (id);", IndexNotConcurrent),
        (
            "ALTER TABLE big ADD COLUMN w INT UNIQUE;",
            IndexNotConcurrent,
        ),
        (
            "ALTER TABLE big ADD CONSTRAINT ex EXCLUDE USING gist (v WITH =);",
            IndexNotConcurrent,
        ),
        (
            "ALTER TABLE big ADD CONSTRAINT big_o_fk FOREIGN KEY (o) REFERENCES other (id);",
            ForeignKeyNotValid,
        ),
        (
            "ALTER TABLE big ADD FOREIGN KEY (o) REFERENCES other (id);",
            ForeignKeyNotValid,
        ),
        (
            "ALTER TABLE big ADD COLUMN o INT REFERENCES other (id);",
            ForeignKeyNotValid,
        ),
        (
            "ALTER TABLE big ADD CONSTRAINT big_v_ck CHECK (v > 0);",
            CheckNotValid,
        ),
        ("ALTER TABLE big ADD CHECK (v > 0);", CheckNotValid),
        (
            "ALTER TABLE big ADD COLUMN w INT CHECK (w > 0);",
            CheckNotValid,
        ),
        ("VACUUM FULL big;", Rewrite),
        ("VACUUM (FULL, ANALYZE) big;", Rewrite),
        ("CLUSTER big USING big_pkey;", Rewrite),
        ("REINDEX TABLE big;", Rewrite),
        ("REFRESH MATERIALIZED VIEW mv;", Rewrite),
        ("ALTER TABLE big SET TABLESPACE slow;", Rewrite),
        ("ALTER TABLE big SET UNLOGGED;", Rewrite),
        ("LOCK TABLE big IN ACCESS EXCLUSIVE MODE;", Lock),
        ("LOCK big;", Lock),
        ("CREATE OR REPLACE VIEW v AS SELECT 1;", Replace),
        (
            "CREATE OR REPLACE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql;",
            Replace,
        ),
        ("REVOKE SELECT ON big FROM app;", Revoke),
        ("DO $$ BEGIN DELETE FROM big; END $$;", Opaque),
        ("CALL cleanup();", Opaque),
        ("ALTER TABLE big OWNER TO someone;", Unknown),
        ("ALTER TABLE big DISABLE TRIGGER ALL;", Unknown),
        ("ALTER SEQUENCE s RESTART;", Unknown),
        ("ALTER TABLE;", Unknown),
        ("COPY big FROM '/tmp/x';", Unknown),
        ("DETACH DATABASE other;", Unknown),
    ] {
        assert_eq!(rules(sql), vec![(1, rule)], "{sql}");
    }
}

#[test]
fn every_allowed_form_passes() {
    for sql in [
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v INT NOT NULL);",
        "CREATE TABLE IF NOT EXISTS t (id INT, o INT REFERENCES other (id));",
        "CREATE TABLE t AS SELECT id FROM big;",
        "CREATE INDEX CONCURRENTLY big_v_ix ON big (v);",
        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS big_v_ix ON big (v);",
        "CREATE VIEW v AS SELECT id FROM big;",
        "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql;",
        "CREATE TRIGGER tr AFTER UPDATE ON big BEGIN UPDATE other SET n = n + 1; DELETE FROM x; END;",
        "CREATE SEQUENCE s;",
        "ALTER TABLE big ADD COLUMN w INT;",
        "ALTER TABLE big ADD w TEXT;",
        "ALTER TABLE big ADD COLUMN IF NOT EXISTS w INT;",
        "ALTER TABLE big ADD COLUMN w INT NOT NULL DEFAULT 0;",
        "ALTER TABLE big ADD COLUMN w TEXT DEFAULT 'a(b)' NOT NULL;",
        "ALTER TABLE big ADD COLUMN w TIMESTAMP DEFAULT now();",
        "ALTER TABLE big ADD COLUMN w INT DEFAULT -1, ADD COLUMN x VARCHAR(10);",
        "ALTER TABLE big ADD CONSTRAINT big_o_fk FOREIGN KEY (o) REFERENCES other (id) NOT VALID;",
        "ALTER TABLE big ADD CONSTRAINT big_v_ck CHECK (v > 0) NOT VALID;",
        "ALTER TABLE big VALIDATE CONSTRAINT big_v_ck;",
        "ALTER TABLE big ADD CONSTRAINT big_v_uq UNIQUE USING INDEX big_v_ix;",
        "ALTER TYPE mood ADD VALUE 'meh';",
        "INSERT INTO config (name, value) VALUES ('x', '1');",
        "INSERT INTO big SELECT id, 0 FROM other;",
        "INSERT INTO big VALUES (1, 1) ON CONFLICT DO NOTHING;",
        "INSERT OR IGNORE INTO big VALUES (1, 1);",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) INSERT INTO big SELECT i, 0 FROM n;",
        "SELECT id FROM big FOR UPDATE;",
        "VACUUM big;",
        "ANALYZE big;",
        "REINDEX INDEX CONCURRENTLY big_v_ix;",
        "REFRESH MATERIALIZED VIEW CONCURRENTLY mv;",
        "COMMENT ON TABLE big IS 'drop me later';",
        "GRANT SELECT ON big TO app;",
        "SET lock_timeout = '2s';",
        "PRAGMA user_version;",
        "SELECT 1;",
    ] {
        assert_eq!(rules(sql), vec![], "{sql}");
    }
}

#[test]
fn what_the_step_created_may_be_changed() {
    let sql = "CREATE TABLE tmp (id INT, v INT);
INSERT INTO tmp VALUES (1, 1);
UPDATE tmp SET v = 2;
DELETE FROM tmp WHERE id = 1;
CREATE INDEX tmp_v_ix ON tmp (v);
ALTER TABLE tmp ADD COLUMN w INT NOT NULL;
ALTER TABLE tmp ALTER COLUMN v TYPE BIGINT;
ALTER TABLE \"tmp\" RENAME COLUMN w TO x;
DROP INDEX tmp_v_ix;
TRUNCATE tmp;
DROP TABLE public.tmp;
";
    assert_eq!(rules(sql), vec![]);
    // Only what came before: a table created after the statement is not new yet,
    // and another table of the same step is not covered.
    let sql = "UPDATE later SET v = 1;\nCREATE TABLE later (v INT);\nCREATE TABLE a (v INT);\nDROP TABLE a, b;\n";
    assert_eq!(rules(sql), vec![(1, Rule::Update), (4, Rule::Drop)]);
}

#[test]
fn sqlite_has_no_concurrent_index_build() {
    let sql = "CREATE INDEX big_v_ix ON big (v);\n";
    assert!(lint_text(sql, &[Dialect::Sqlite]).is_empty());
    assert_eq!(lint_text(sql, &[Dialect::Postgres]).len(), 1);
    assert_eq!(
        lint_text(sql, &Dialect::ALL).len(),
        1,
        "a plain .sql runs on both"
    );
}

#[test]
fn strings_quotes_and_comments_do_not_fool_it() {
    // Keywords inside strings, quoted identifiers, comments and dollar quotes are data.
    let fine = "-- DROP TABLE big;\n/* UPDATE big SET v = 1; */\nINSERT INTO log VALUES ('DROP TABLE big; UPDATE big SET v = 1');\nCREATE TABLE \"drop\" (\"update\" INT);\nINSERT INTO \"drop\" SELECT 1 WHERE 'x' <> 'TRUNCATE';\n";
    assert_eq!(rules(fine), vec![]);
    let dollar =
        "CREATE FUNCTION f() RETURNS void AS $body$ DELETE FROM big; $body$ LANGUAGE sql;\n";
    assert_eq!(lint_text(dollar, &[Dialect::Postgres]), vec![]);
    // A statement hidden after a comment or a string on the same line is found, on its line.
    let hidden = "INSERT INTO log VALUES ('a;'); /* ; */ DELETE\nFROM big;\nSELECT 1; -- x\n  drop /* c */ TABLE\n big;\n";
    assert_eq!(rules(hidden), vec![(1, Rule::Delete), (4, Rule::Drop)]);
    // Case and layout do not matter.
    assert_eq!(
        rules("\n\n  uPdAtE\n big SET v = 1;"),
        vec![(3, Rule::Update)]
    );
    // A BOM does not hide the first statement.
    assert_eq!(rules("\u{feff}DROP TABLE big;"), vec![(1, Rule::Drop)]);
    // A quoted name equal to a created one in another case is another table (PostgreSQL).
    assert_eq!(
        rules("CREATE TABLE t (v INT);\nDROP TABLE \"T\";"),
        vec![(2, Rule::Drop)]
    );
}

#[test]
fn every_statement_is_reported_with_a_short_excerpt() {
    let sql = "DROP TABLE a;\nSELECT 1;\nUPDATE b SET note = 'a very long text that goes on and on and on and on and on' WHERE id = 1;\n";
    let found = lint_text(sql, &Dialect::ALL);
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].statement, "DROP TABLE a");
    assert_eq!(found[1].line, 3);
    assert!(found[1].statement.ends_with('…'), "{}", found[1].statement);
    assert_eq!(found[1].statement.chars().count(), 61);
}

fn step(phase: Phase, body: Body, origin: Origin) -> Step {
    Step {
        origin,
        ..Step::core_for_test("2008010500-drop", phase, body)
    }
}

#[test]
fn standalone_pre_steps_are_errors_naming_file_line_and_statement() {
    let path = "lib/db/upgrades/2008010500-drop.sql";
    let text = "-- phase: pre\n-- Tidies up.\nCREATE TABLE t (v INT);\nDROP TABLE seen;\n";
    let s = step(
        Phase::Pre,
        Body::Any("-- Tidies up.\nCREATE TABLE t (v INT);\nDROP TABLE seen;\n".into()),
        Origin::Standalone {
            files: [path].into_iter().collect(),
        },
    );
    let (errors, warnings) = lint_step(&s, |p| (p == path).then_some(text));
    assert!(warnings.is_empty());
    assert_eq!(errors.len(), 1);
    let e = &errors[0];
    assert_eq!(e.line, Some(4), "the file's line, header included");
    assert_eq!(
        e.to_string(),
        "lib/db/upgrades/2008010500-drop.sql:4: `DROP TABLE seen` in a pre step: it drops what the old code uses; pre steps run while the old code is online, so they may only add"
    );
    assert!(
        e.hint().contains("move the statement to a `main` step"),
        "{}",
        e.hint()
    );
    // The same step in another phase is not linted.
    let main = Step {
        phase: Phase::Main,
        ..s.clone()
    };
    assert_eq!(lint_step(&main, |_| Some(text)), (vec![], vec![]));
    // Variants are read in their own dialect.
    let sqlite = "-- phase: pre\nCREATE INDEX big_v_ix ON big (v);\n";
    let variants = Step {
        origin: Origin::Standalone {
            files: [
                "lib/db/upgrades/2008010500-drop.postgres.sql",
                "lib/db/upgrades/2008010500-drop.sqlite.sql",
            ]
            .into_iter()
            .collect(),
        },
        ..s
    };
    let (errors, _) = lint_step(&variants, |_| Some(sqlite));
    assert_eq!(errors.len(), 1);
    assert!(errors[0].path.ends_with(".postgres.sql"), "{}", errors[0]);
    assert!(
        errors[0].hint().contains("CONCURRENTLY"),
        "{}",
        errors[0].hint()
    );
}

#[test]
fn released_pre_entries_are_warnings_naming_the_upgrade_toml_line() {
    let file = "lib/db/upgrade.toml";
    let toml = "[[step]]\nname = \"2008010100-a\"\nsql = \"SELECT 1;\"\n\n[[step]]\nname = \"2008010500-drop\"\nrelease = \"MOODLE_20_STABLE\"\nphase = \"pre\"\nsql = '''\nINSERT INTO t VALUES (1);\nUPDATE big SET v = 1;\n'''\n";
    let s = step(
        Phase::Pre,
        Body::Any("INSERT INTO t VALUES (1);\nUPDATE big SET v = 1;\n".into()),
        Origin::Released {
            release: ReleaseName::parse("MOODLE_20_STABLE").expect("release"),
            file: std::sync::Arc::new(file.to_string()),
            line: Some(5),
        },
    );
    let (errors, warnings) = lint_step(&s, |p| (p == file).then_some(toml));
    assert!(
        errors.is_empty(),
        "released history is never edited: no error"
    );
    assert_eq!(warnings.len(), 1);
    let w = &warnings[0];
    assert_eq!(w.path, file);
    assert!(
        w.message.starts_with("line 11: `UPDATE big SET v = 1` (line 2 of the `sql` of step 2008010500-drop) in a pre step"),
        "{}",
        w.message
    );
    assert!(w.message.contains("released entry"), "{}", w.message);
    assert!(w.message.contains("maintenance on"), "{}", w.message);
}

#[test]
fn sqlite_variants_may_add_a_column_with_references_or_check() {
    for sql in [
        "ALTER TABLE big ADD COLUMN o INT REFERENCES other (id);",
        "ALTER TABLE big ADD COLUMN w INT CHECK (w > 0);",
    ] {
        assert!(lint_text(sql, &[Dialect::Sqlite]).is_empty(), "{sql}");
        assert_eq!(lint_text(sql, &[Dialect::Postgres]).len(), 1, "{sql}");
    }
    // What SQLite has no safe form of is still refused there.
    assert_eq!(
        lint_text(
            "ALTER TABLE big ADD COLUMN w INT UNIQUE;",
            &[Dialect::Sqlite]
        )
        .len(),
        1
    );
}

/// Refused statements of every rule, one per line, for the tests below.
const REFUSED: [&str; 8] = [
    "DROP TABLE big",
    "ALTER TABLE big RENAME TO huge",
    "UPDATE big SET v = 1",
    "DELETE FROM big",
    "TRUNCATE big",
    "CREATE INDEX big_v_ix ON big (v)",
    "ALTER TABLE big ALTER COLUMN v TYPE TEXT",
    "LOCK TABLE big",
];

#[test]
fn refused_statements_inside_strings_and_comments_are_data() {
    for sql in REFUSED {
        let quoted = sql.replace('\'', "''");
        for text in [
            format!("INSERT INTO log VALUES ('{quoted}; {quoted}');\n"),
            format!("-- {sql};\nSELECT 1;\n"),
            format!("/* {sql}; */ SELECT 1;\n"),
            format!("SELECT 1 AS \"{sql}\";\n"),
            format!("CREATE TABLE \"{sql}\" (id INT);\n"),
        ] {
            assert_eq!(rules(&text), vec![], "{text}");
        }
        let dollar = format!("SELECT $x${sql}; {sql};$x$;\n");
        assert_eq!(lint_text(&dollar, &[Dialect::Postgres]), vec![], "{dollar}");
    }
}

proptest::proptest! {
    /// Comments and line breaks between the words of a refused statement
    /// never hide it, and the statement's line is where its first word is.
    #[test]
    fn comments_between_words_never_hide_a_statement(
        which in 0..REFUSED.len(),
        seps in proptest::collection::vec(0..4usize, 12),
        blank_lines in 0..3usize,
    ) {
        let sql = REFUSED[which];
        let plain = rules(&format!("{sql};"));
        proptest::prop_assert_eq!(plain.len(), 1);
        let mut text = "\n".repeat(blank_lines);
        for (i, word) in sql.split(' ').enumerate() {
            if i > 0 {
                text.push_str(match seps[i % seps.len()] {
                    0 => " ",
                    1 => " /* ; DROP */ ",
                    2 => " -- '; \n",
                    _ => "\n\t",
                });
            }
            text.push_str(word);
        }
        text.push_str(";\nSELECT 1;\n");
        proptest::prop_assert_eq!(rules(&text), vec![(blank_lines + 1, plain[0].1)]);
    }
}

/// Warnings of a released pre entry with `n` refused statements (the same
/// statement twice in a row each time), counted in bytes scanned.
fn released_lint_work(n: usize) -> u64 {
    let file = "lib/db/upgrade.toml";
    let sql: String = (0..n)
        .map(|i| format!("UPDATE big SET v = {i};\nUPDATE big SET v = {i};\n"))
        .collect();
    let toml = format!(
        "[[step]]\nname = \"2008010500-drop\"\nrelease = \"MOODLE_20_STABLE\"\nphase = \"pre\"\nsql = '''\n{sql}'''\n"
    );
    let s = step(
        Phase::Pre,
        Body::Any(sql.into()),
        Origin::Released {
            release: ReleaseName::parse("MOODLE_20_STABLE").expect("release"),
            file: std::sync::Arc::new(file.to_string()),
            line: Some(1),
        },
    );
    crate::model::op_count::take();
    let (_, warnings) = lint_step(&s, |p| (p == file).then_some(toml.as_str()));
    let work = crate::model::op_count::take();
    assert_eq!(warnings.len(), 2 * n);
    // Each warning names its own line, the repeated statement included.
    assert!(
        warnings[1].message.starts_with("line 7: "),
        "{}",
        warnings[1].message
    );
    let last = &warnings[2 * n - 1].message;
    assert!(last.starts_with(&format!("line {}: ", 5 + 2 * n)), "{last}");
    work
}

#[test]
fn released_pre_entries_are_linted_in_linear_work() {
    let (small, large) = (released_lint_work(1_000), released_lint_work(2_000));
    assert!(large * 10 <= small * 22, "not linear: {small} then {large}");
}
