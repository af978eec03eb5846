//! Appending `[[step]]` entries to a component's `db/upgrade.toml`: the text
//! toml_edit renders for them, written directly when every value is plain
//! (a release of 100,000 steps renders 100,000 entries), through toml_edit
//! otherwise. Both give the same bytes (tests below).

use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, Value};

use crate::model::component::ComponentName;
use crate::model::release_name::ReleaseName;
use crate::model::step::{Body, Step};

/// The header of a newly created component upgrade.toml.
pub fn new_file_header(component: &ComponentName) -> String {
    format!(
        "# Major-release upgrade steps of {component}.\n\
         # Written by `consolidate release`: entries are appended, never edited.\n"
    )
}

/// Appends `steps` as `[[step]]` entries tagged `release` to a component's
/// upgrade.toml (`existing` is its text, `None` when there is none yet).
///
/// The existing text is kept byte for byte: the result starts with it.
pub fn append(
    existing: Option<&str>,
    component: &ComponentName,
    steps: &[&Step],
    release: &ReleaseName,
) -> String {
    let mut out = match existing {
        Some(text) => text.to_string(),
        None => new_file_header(component),
    };
    if steps.is_empty() {
        return out;
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    if !out.is_empty() {
        out.push('\n');
    }
    match render_plain(steps, release) {
        Some(entries) => out.push_str(&entries),
        None => out.push_str(&render_with_toml_edit(steps, release)),
    }
    out
}

/// The entries as toml_edit renders them.
fn render_with_toml_edit(steps: &[&Step], release: &ReleaseName) -> String {
    let mut array = ArrayOfTables::new();
    for step in steps {
        array.push(entry_table(step, release));
    }
    let mut doc = DocumentMut::new();
    doc.insert("step", Item::ArrayOfTables(array));
    doc.to_string()
}

fn entry_table(step: &Step, release: &ReleaseName) -> Table {
    let mut t = Table::new();
    t.insert("name", Item::Value(step.key.name.as_str().into()));
    t.insert("release", Item::Value(release.as_str().into()));
    t.insert("phase", Item::Value(step.phase.as_str().into()));
    if !step.requires.is_empty() {
        let mut array = Array::new();
        for r in &step.requires {
            array.push(r.to_string());
        }
        t.insert("requires", Item::Value(Value::Array(array)));
    }
    if !step.transaction {
        t.insert("transaction", Item::Value(false.into()));
    }
    if let Some(batch) = &step.batch {
        t.insert("batch", Item::Value(batch.to_string().into()));
    }
    t.insert(
        "checksum",
        Item::Value(step.checksum.text().as_str().into()),
    );
    match &step.body {
        Body::Any(sql) => {
            t.insert("sql", Item::Value(multiline(sql)));
        }
        Body::PerDatabase(map) => {
            let mut sub = Table::new();
            for (db, sql) in map.iter() {
                sub.insert(db, Item::Value(multiline(sql)));
            }
            t.insert("sql", Item::Table(sub));
        }
    }
    t
}

/// Can `text` be written as a multi-line literal (`'''` + newline + text)?
fn literal_ok(text: &str) -> bool {
    !text.contains("'''")
        && !text.ends_with('\'')
        && text
            .chars()
            .all(|c| c == '\n' || c == '\t' || !c.is_control())
}

/// A string value written as a multi-line literal when the text allows it,
/// so SQL stays readable in review; otherwise as toml_edit chooses.
fn multiline(text: &str) -> Value {
    if literal_ok(text)
        && let Ok(value) = format!("'''\n{text}'''").parse::<Value>()
        && value.as_str() == Some(text)
    {
        return value;
    }
    Value::from(text)
}

/// Is `text` written by toml_edit as a plain `"text"` (no escape needed, no
/// other quoting chosen)? Names, releases, phases, checksums, requirements
/// and batches are.
fn plain_string(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_-./: ".contains(&b))
}

/// Is `key` a bare TOML key?
fn bare_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The entries written directly, as toml_edit renders them; `None` when a
/// value is not plain (then toml_edit writes them all).
fn render_plain(steps: &[&Step], release: &ReleaseName) -> Option<String> {
    use std::fmt::Write as _;
    let mut out = String::new();
    let string = |out: &mut String, key: &str, value: &str| {
        plain_string(value).then(|| {
            let _ = writeln!(out, "{key} = \"{value}\"");
        })
    };
    let literal = |out: &mut String, key: &str, sql: &str| {
        literal_ok(sql).then(|| {
            let _ = writeln!(out, "{key} = '''\n{sql}'''");
        })
    };
    for (i, step) in steps.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str("[[step]]\n");
        string(&mut out, "name", step.key.name.as_str())?;
        string(&mut out, "release", release.as_str())?;
        string(&mut out, "phase", step.phase.as_str())?;
        if !step.requires.is_empty() {
            let mut items = Vec::with_capacity(step.requires.len());
            for r in &step.requires {
                let r = r.to_string();
                plain_string(&r).then_some(())?;
                items.push(format!("\"{r}\""));
            }
            let _ = writeln!(out, "requires = [{}]", items.join(", "));
        }
        if !step.transaction {
            out.push_str("transaction = false\n");
        }
        if let Some(batch) = &step.batch {
            string(&mut out, "batch", &batch.to_string())?;
        }
        string(&mut out, "checksum", step.checksum.text().as_str())?;
        match &step.body {
            Body::Any(sql) => literal(&mut out, "sql", sql)?,
            Body::PerDatabase(map) => {
                out.push_str("\n[step.sql]\n");
                for (db, sql) in map.iter() {
                    bare_key(db).then_some(())?;
                    literal(&mut out, db, sql)?;
                }
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::batch::Batch;
    use crate::model::step::{Phase, StepKey};

    fn step(name: &str, body: Body) -> Step {
        Step::core_for_test(name, Phase::Main, body)
    }

    /// Every shape of entry the direct writer handles gives toml_edit's
    /// bytes; a value it does not handle falls back to toml_edit.
    #[test]
    fn plain_entries_are_written_as_toml_edit_writes_them() {
        let r1 = ReleaseName::parse("MOODLE_20_STABLE").expect("valid");
        let mut steps = Vec::new();
        steps.push(step("2008010100-a", Body::Any("SELECT 1;\n".into())));
        let mut s = step(
            "2008010200-b",
            Body::Any("\nCREATE TABLE t (x TEXT DEFAULT 'a''b');\n-- \"q\" \\ é\tend".into()),
        );
        s.requires = vec![
            StepKey::parse("mod_forum/2008010100-a").expect("valid"),
            StepKey::parse("core/2007010100-z").expect("valid"),
        ]
        .into();
        s.transaction = false;
        steps.push(s);
        let mut s = step(
            "2008010300-c",
            Body::Any("UPDATE big SET v = 1 WHERE id BETWEEN :lo AND :hi;\n".into()),
        );
        s.phase = Phase::Post;
        s.batch = Some(Box::new(Batch::parse("big.id 500").expect("valid")));
        steps.push(s);
        let mut s = step(
            "2008010400-d",
            Body::PerDatabase(Box::new(BTreeMap::from([
                ("postgres".into(), "SELECT 'x' AS q;\n".into()),
                (
                    "sqlite".into(),
                    "CREATE TRIGGER x BEGIN\n  SELECT 1;\nEND;\n".into(),
                ),
            ]))),
        );
        s.phase = Phase::Pre;
        s.requires = vec![StepKey::parse("core/2008010100-a").expect("valid")].into();
        steps.push(s);
        steps.push(step("2008010500-e", Body::Any(Box::default())));
        let refs: Vec<&Step> = steps.iter().collect();
        for n in 1..=refs.len() {
            for window in refs.windows(n) {
                assert_eq!(
                    render_plain(window, &r1).as_deref(),
                    Some(render_with_toml_edit(window, &r1).as_str())
                );
            }
        }
        // SQL that cannot be a literal: toml_edit writes the entries.
        for sql in ["SELECT ''';\n", "SELECT 'a'", "SELECT 1;\r\n"] {
            let odd = step("2008010600-f", Body::Any(sql.into()));
            assert_eq!(render_plain(&[refs[0], &odd], &r1), None, "{sql:?}");
            let out = append(None, &ComponentName::core(), &[refs[0], &odd], &r1);
            assert!(out.ends_with(&render_with_toml_edit(&[refs[0], &odd], &r1)));
        }
    }
}
