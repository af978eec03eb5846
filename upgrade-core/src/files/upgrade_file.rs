//! A component's major-release file `db/upgrade.toml`: reading its `[[step]]`
//! entries and appending new ones while keeping every existing byte.

use std::collections::BTreeMap;
use std::sync::Arc;

use toml_edit::{Item, Table};

use crate::model::batch::{Batch, missing_placeholders};
use crate::model::component::ComponentName;
use crate::model::release_name::ReleaseName;
use crate::model::sql_text::Dialect;
use crate::model::step::{Body, Checksum, DATABASES, Origin, Phase, Step, StepKey};
use crate::model::step_name::StepName;
use crate::model::step_text::{SqlProblem, check_sql};
use crate::model::toml_doc::TomlFile;
use crate::model::tree_error::{TreeError, TreeErrorKind};

mod append;
pub use append::{append, new_file_header};

const KEYS: [&str; 8] = [
    "name",
    "release",
    "phase",
    "requires",
    "transaction",
    "batch",
    "checksum",
    "sql",
];

/// Reads the released steps of `component` from its `db/upgrade.toml` text.
pub fn parse(path: &str, text: &str, component: &ComponentName) -> Result<Vec<Step>, TreeError> {
    let file = TomlFile::parse(path, text)?;
    let root = file.doc.as_table();
    if let Some((key, item)) = root.iter().find(|(k, _)| *k != "step") {
        return Err(file.field_error(
            Some(item),
            format!(
                "unexpected top-level `{key}`: a component upgrade.toml holds only [[step]] tables"
            ),
        ));
    }
    let Some(item) = root.get("step") else {
        return Ok(Vec::new());
    };
    let array = item
        .as_array_of_tables()
        .ok_or_else(|| file.field_error(Some(item), "steps are [[step]] tables".into()))?;
    // The entries share the file's path, and each run of entries tagged
    // with one release its name (a reference count each, not a copy).
    let shared = Arc::new(path.to_string());
    let mut last_release: Option<ReleaseName> = None;
    array
        .iter()
        .map(|table| parse_entry(&file, table, component, &shared, &mut last_release))
        .collect()
}

fn parse_entry(
    file: &TomlFile<'_>,
    table: &Table,
    component: &ComponentName,
    shared_path: &Arc<String>,
    last_release: &mut Option<ReleaseName>,
) -> Result<Step, TreeError> {
    let line = file.line_of_table(table);
    if let Some((key, _)) = table.iter().find(|(k, _)| !KEYS.contains(k)) {
        return Err(file.entry_error(
            table,
            format!(
                "unknown key `{key}` in [[step]] (known: {})",
                KEYS.join(", ")
            ),
        ));
    }
    let name_text = file.string(table, "name", "[[step]]")?;
    let name = StepName::parse(&name_text).map_err(|e| file.entry_error(table, e.to_string()))?;
    let release = ReleaseName::parse(&file.string(table, "release", "[[step]]")?)
        .map_err(|e| file.entry_error(table, e.to_string()))?;
    let release = match last_release {
        Some(last) if *last == release => last.clone(),
        _ => last_release.insert(release).clone(),
    };
    let phase_text = file.string(table, "phase", "[[step]]")?;
    let phase = Phase::parse(&phase_text).ok_or_else(|| {
        file.entry_error(
            table,
            format!("phase `{phase_text}` is not pre, main or post"),
        )
    })?;
    let mut requires = Vec::new();
    if let Some(item) = table.get("requires") {
        let array = item.as_array().ok_or_else(|| {
            file.field_error(
                Some(item),
                "`requires` is a list of \"component/name\" strings".into(),
            )
        })?;
        for value in array.iter() {
            let text = value.as_str().ok_or_else(|| {
                file.field_error(
                    Some(item),
                    "`requires` is a list of \"component/name\" strings".into(),
                )
            })?;
            requires.push(StepKey::parse(text).map_err(|e| file.field_error(Some(item), e))?);
        }
    }
    let transaction = match table.get("transaction") {
        None => true,
        Some(item) => item
            .as_bool()
            .ok_or_else(|| file.field_error(Some(item), "`transaction` is true or false".into()))?,
    };
    let batch = match table.get("batch") {
        None => None,
        Some(item) => {
            let text = item.as_str().ok_or_else(|| {
                file.field_error(
                    Some(item),
                    "`batch` is a string \"TABLE.COLUMN SIZE\"".into(),
                )
            })?;
            let batch = Batch::parse(text).map_err(|e| file.field_error(Some(item), e))?;
            if phase != Phase::Post {
                return Err(file.field_error(
                    Some(item),
                    format!("`batch` on a {phase} step: only post steps run in batches"),
                ));
            }
            Some(Box::new(batch))
        }
    };
    let recorded = file.string(table, "checksum", "[[step]]")?;
    let checksum = Checksum::from_recorded(&recorded).ok_or_else(|| {
        file.field_error(
            table.get("checksum"),
            format!("`{recorded}` is not a sha256:<hex> checksum"),
        )
    })?;
    let sql = table
        .get("sql")
        .ok_or_else(|| file.entry_error(table, format!("step {name_text} has no `sql`")))?;
    let check = |text: &str, item: &Item, dialects: &[Dialect]| {
        check_released_sql(file, &name_text, item, text, dialects, transaction)
    };
    let body = if let Some(text) = sql.as_str() {
        check(text, sql, &Dialect::ALL)?;
        Body::Any(text.into())
    } else if let Some(map) = sql.as_table_like() {
        let mut bodies = BTreeMap::new();
        for (db, value) in map.iter() {
            if !DATABASES.contains(&db) {
                return Err(TreeError::new(
                    file.path,
                    TreeErrorKind::UnknownDatabase {
                        database: db.to_string(),
                    },
                )
                .at_line_opt(line));
            }
            let text = value.as_str().ok_or_else(|| {
                file.field_error(Some(value), format!("the {db} body must be a string"))
            })?;
            if let Some(dialect) = Dialect::of_database(db) {
                check(text, value, &[dialect])?;
            }
            bodies.insert(db.to_string(), text.to_string());
        }
        Body::PerDatabase(Box::new(bodies))
    } else {
        return Err(file.field_error(
            Some(sql),
            "`sql` is a string or a table of one string per database".into(),
        ));
    };
    if let Some(batch) = &batch {
        let texts: Vec<(&str, Dialect)> = match &body {
            Body::Any(sql) => Dialect::ALL.iter().map(|d| (&**sql, *d)).collect(),
            Body::PerDatabase(map) => map
                .iter()
                .filter_map(|(db, sql)| Dialect::of_database(db).map(|d| (sql.as_str(), d)))
                .collect(),
        };
        for (sql, dialect) in texts {
            let missing = missing_placeholders(sql, dialect);
            if !missing.is_empty() {
                return Err(file.field_error(
                    table.get("batch"),
                    format!(
                        "step {name_text} declares `batch = \"{batch}\"` but its SQL never uses :{}",
                        missing.join(" and :")
                    ),
                ));
            }
        }
    }
    let computed = Checksum::of(&body);
    Ok(Step {
        key: StepKey {
            component: component.clone(),
            name,
        },
        phase,
        requires: requires.into(),
        transaction,
        batch,
        body,
        edited: Step::edited(&checksum, computed),
        checksum,
        origin: Origin::Released {
            release,
            file: shared_path.clone(),
            line: line.and_then(|l| u32::try_from(l).ok()),
        },
    })
}

/// Refuses the `sql` text of a released entry that would run differently
/// from how it reads, or that breaks its transaction (the same rules as for
/// a step file, without the header rules: an entry has no header). The error
/// names the line of the upgrade.toml.
fn check_released_sql(
    file: &TomlFile<'_>,
    name: &str,
    item: &Item,
    text: &str,
    dialects: &[Dialect],
    transactional: bool,
) -> Result<(), TreeError> {
    let Err(problem) = check_sql(text, dialects, transactional) else {
        return Ok(());
    };
    let sql_line = problem.line();
    let where_ = format!("line {sql_line} of the `sql` of step {name}");
    let kind = match problem {
        SqlProblem::Text(p) => TreeErrorKind::RunsDifferently {
            problem: format!("{} ({where_})", p.problem),
            fix: p.fix,
        },
        SqlProblem::TransactionControl { statement, .. } => TreeErrorKind::TransactionControl {
            statement: statement.to_string(),
            within: format!(" ({where_})"),
            fix: "set `transaction = false` in this [[step]] entry (the checksum covers only the sql), so the runner runs it statement by statement, outside a transaction".into(),
        },
    };
    Err(TreeError::new(file.path, kind).at_line_opt(toml_line(file, item, sql_line)))
}

/// The line of the upgrade.toml holding line `sql_line` of the string `item`:
/// exact for multi-line strings without escapes, else the line where the
/// string starts.
fn toml_line(file: &TomlFile<'_>, item: &Item, sql_line: usize) -> Option<usize> {
    let span = item.span()?;
    let start = file.lines.line_of(span.start);
    let raw = file.text.get(span)?;
    let literal = raw.starts_with('\'') || !raw.contains('\\');
    let multi = raw.starts_with("'''") || raw.starts_with("\"\"\"");
    if !literal || !multi {
        return Some(start);
    }
    let after = &raw[3..];
    let skipped = after.starts_with('\n') || after.starts_with("\r\n");
    Some(start + sql_line - usize::from(!skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, body: Body) -> Step {
        let checksum = Checksum::of(&body);
        Step {
            key: StepKey {
                component: ComponentName::core(),
                name: StepName::parse(name).expect("valid"),
            },
            phase: Phase::Main,
            requires: vec![StepKey::parse("mod_forum/2008010100-a").expect("valid")].into(),
            transaction: false,
            batch: None,
            body,
            edited: None,
            checksum,
            origin: Origin::Standalone {
                files: Default::default(),
            },
        }
    }

    #[test]
    fn append_keeps_bytes_and_round_trips() {
        let existing = "# my comment, kept\n[[step]] # odd spacing kept\nname   = \"2007010100-old\"\nrelease = \"R1\"\nphase = \"main\"\nchecksum = \"sha256:0000000000000000000000000000000000000000000000000000000000000000\"\nsql = \"SELECT 1;\"";
        let r2 = ReleaseName::parse("R2").expect("valid");
        let a = step(
            "2008010100-new",
            Body::Any("CREATE TABLE t (x TEXT DEFAULT 'a''b');\n".into()),
        );
        let b = step(
            "2008010200-var",
            Body::PerDatabase(Box::new(BTreeMap::from([
                ("postgres".into(), "SELECT '''' AS q;\n".into()),
                (
                    "sqlite".into(),
                    "CREATE TRIGGER x AFTER INSERT ON t BEGIN\n  SELECT 1;\nEND;\n".into(),
                ),
            ]))),
        );
        let out = append(Some(existing), &ComponentName::core(), &[&a, &b], &r2);
        assert!(out.starts_with(existing), "existing bytes changed:\n{out}");
        let steps = parse("lib/db/upgrade.toml", &out, &ComponentName::core()).expect("round trip");
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[1].body, a.body);
        assert_eq!(steps[1].checksum, steps[1].computed());
        assert_eq!(steps[1].requires, a.requires);
        assert!(!steps[1].transaction);
        assert_eq!(steps[2].body, b.body);
        assert_eq!(steps[2].release().map(ReleaseName::as_str), Some("R2"));
        assert!(out.contains("sql = '''\nCREATE TABLE"), "{out}");
    }

    #[test]
    fn batch_is_written_byte_for_byte_and_checked() {
        let r1 = ReleaseName::parse("R1").expect("valid");
        let mut post = step(
            "2008010300-backfill",
            Body::Any("UPDATE big SET v = 1 WHERE id BETWEEN :lo AND :hi;\n".into()),
        );
        post.phase = Phase::Post;
        post.transaction = true;
        post.requires.clear();
        post.batch = Some(Box::new(Batch::parse("big.id 500").expect("valid")));
        let out = append(None, &ComponentName::core(), &[&post], &r1);
        let golden = "# Major-release upgrade steps of core.\n# Written by `consolidate release`: entries are appended, never edited.\n\n[[step]]\nname = \"2008010300-backfill\"\nrelease = \"R1\"\nphase = \"post\"\nbatch = \"big.id 500\"\nchecksum = \"".to_string();
        assert!(out.starts_with(&golden), "{out}");
        let steps = parse("lib/db/upgrade.toml", &out, &ComponentName::core()).expect("round trip");
        assert_eq!(steps[0].batch, post.batch);
        assert_eq!(append(Some(&out), &ComponentName::core(), &[], &r1), out);
        // A batch on a main entry, or a body without the placeholders, is refused.
        let main = out.replace("phase = \"post\"", "phase = \"main\"");
        let err = parse("lib/db/upgrade.toml", &main, &ComponentName::core()).expect_err("main");
        assert!(err.to_string().contains("`batch` on a main step"), "{err}");
        let no_hi = out.replace("AND :hi", "AND 10");
        let err = parse("lib/db/upgrade.toml", &no_hi, &ComponentName::core()).expect_err(":hi");
        assert!(err.to_string().contains("never uses :hi"), "{err}");
    }

    /// Naming the line of every entry scans the file once (a line index),
    /// not once per entry from the start: twice the entries, twice the work.
    #[test]
    fn parsing_scans_the_file_a_bounded_number_of_times() {
        let core = ComponentName::core();
        let work = |n: usize| {
            let text: String = (0..n)
                .map(|i| {
                    entry(&format!("sql = '''\nINSERT INTO kv VALUES ({i});\n'''"), "")
                        .replace("2008010100-a", &format!("2008010100-s{i}"))
                })
                .collect();
            crate::model::op_count::take();
            let steps = parse("lib/db/upgrade.toml", &text, &core).expect("valid");
            let work = crate::model::op_count::take();
            assert_eq!(steps.len(), n);
            let Origin::Released { line, .. } = &steps[n - 1].origin else {
                panic!("released");
            };
            // Each entry is 8 lines long.
            assert_eq!(*line, Some(8 * (n as u32 - 1) + 1));
            assert!(
                work <= 2 * text.len() as u64,
                "{work} units for {} bytes",
                text.len()
            );
            work
        };
        let (small, large) = (work(1000), work(2000));
        assert!(
            large * 10 <= small * 22,
            "2,000 entries cost {large} units, 1,000 entries {small}: not linear"
        );
    }

    fn entry(sql: &str, extra: &str) -> String {
        format!(
            "[[step]]\nname = \"2008010100-a\"\nrelease = \"R1\"\nphase = \"main\"\n{extra}checksum = \"sha256:0000000000000000000000000000000000000000000000000000000000000000\"\n{sql}\n"
        )
    }

    #[test]
    fn released_sql_follows_the_step_file_rules_naming_the_toml_line() {
        let core = ComponentName::core();
        let path = "lib/db/upgrade.toml";
        // Transaction control, on the toml line of the statement.
        let text = entry("sql = '''\nINSERT INTO a VALUES (1);\nCOMMIT;\n'''", "");
        let err = parse(path, &text, &core).expect_err("COMMIT in a transactional entry");
        assert_eq!(err.line, Some(8), "{err}");
        assert!(
            matches!(err.kind, TreeErrorKind::TransactionControl { .. }),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("line 2 of the `sql` of step 2008010100-a"),
            "{err}"
        );
        assert!(err.hint().contains("transaction = false"), "{}", err.hint());
        let ok = entry(
            "sql = '''\nINSERT INTO a VALUES (1);\nCOMMIT;\n'''",
            "transaction = false\n",
        );
        assert!(parse(path, &ok, &core).is_ok());
        // Per database: only that database's reading counts.
        let nested = entry(
            "[step.sql]\npostgres = '''\n/* a /* b */ COMMIT; */\n'''\nsqlite = '''\nSELECT 1;\n\n/* a /* b */ COMMIT; */\n'''",
            "",
        );
        let err = parse(path, &nested, &core).expect_err("SQLite runs the COMMIT");
        assert_eq!(err.line, Some(13), "{err}");
        // A lone CR in a basic string: the line where the string starts.
        let text = entry("sql = \"-- note\\rDROP TABLE victim;\"", "");
        let err = parse(path, &text, &core).expect_err("lone CR");
        assert_eq!(err.line, Some(6), "{err}");
        assert!(err.to_string().contains("lone carriage return"), "{err}");
        // White space at a line end inside a literal.
        let text = entry("sql = '''\nINSERT INTO t VALUES ('a \nb');\n'''", "");
        let err = parse(path, &text, &core).expect_err("trailing space in literal");
        assert_eq!(err.line, Some(7), "{err}");
    }
}
