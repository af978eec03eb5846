//! A component's major-release file `db/upgrade.toml`: reading its `[[step]]`
//! entries and appending new ones while keeping every existing byte.

use std::collections::BTreeMap;

use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, Value};

use crate::model::component::ComponentName;
use crate::model::release_name::ReleaseName;
use crate::model::step::{Body, Checksum, DATABASES, Origin, Phase, Step, StepKey};
use crate::model::step_name::StepName;
use crate::model::toml_doc::TomlFile;
use crate::model::tree_error::{TreeError, TreeErrorKind};

const KEYS: [&str; 7] = [
    "name",
    "release",
    "phase",
    "requires",
    "transaction",
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
    array
        .iter()
        .map(|table| parse_entry(&file, table, component))
        .collect()
}

fn parse_entry(
    file: &TomlFile<'_>,
    table: &Table,
    component: &ComponentName,
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
    let body = if let Some(text) = sql.as_str() {
        Body::Any(text.to_string())
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
            bodies.insert(db.to_string(), text.to_string());
        }
        Body::PerDatabase(bodies)
    } else {
        return Err(file.field_error(
            Some(sql),
            "`sql` is a string or a table of one string per database".into(),
        ));
    };
    let computed = Checksum::of(&body);
    Ok(Step {
        key: StepKey {
            component: component.clone(),
            name,
        },
        phase,
        requires,
        transaction,
        body,
        checksum,
        computed,
        origin: Origin::Released {
            release,
            file: file.path.to_string(),
            line,
        },
    })
}

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
    let mut base = match existing {
        Some(text) => text.to_string(),
        None => new_file_header(component),
    };
    if steps.is_empty() {
        return base;
    }
    if !base.is_empty() && !base.ends_with('\n') {
        base.push('\n');
    }
    let mut array = ArrayOfTables::new();
    for step in steps {
        array.push(entry_table(step, release));
    }
    let mut doc = DocumentMut::new();
    doc.insert("step", Item::ArrayOfTables(array));
    let rendered = doc.to_string();
    let mut out = base;
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(&rendered);
    out
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
    t.insert("checksum", Item::Value(step.checksum.as_str().into()));
    match &step.body {
        Body::Any(sql) => {
            t.insert("sql", Item::Value(multiline(sql)));
        }
        Body::PerDatabase(map) => {
            let mut sub = Table::new();
            for (db, sql) in map {
                sub.insert(db, Item::Value(multiline(sql)));
            }
            t.insert("sql", Item::Table(sub));
        }
    }
    t
}

/// A string value written as a multi-line literal (`'''` + newline + text) when
/// the text allows it, so SQL stays readable in review; otherwise as toml_edit
/// chooses.
fn multiline(text: &str) -> Value {
    let literal_ok = !text.contains("'''")
        && !text.ends_with('\'')
        && text
            .chars()
            .all(|c| c == '\n' || c == '\t' || !c.is_control());
    if literal_ok {
        if let Ok(value) = format!("'''\n{text}'''").parse::<Value>() {
            if value.as_str() == Some(text) {
                return value;
            }
        }
    }
    Value::from(text)
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
            requires: vec![StepKey::parse("mod_forum/2008010100-a").expect("valid")],
            transaction: false,
            body,
            computed: checksum.clone(),
            checksum,
            origin: Origin::Standalone { files: vec![] },
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
            Body::PerDatabase(BTreeMap::from([
                ("postgres".into(), "SELECT '''' AS q;\n".into()),
                (
                    "sqlite".into(),
                    "CREATE TRIGGER x AFTER INSERT ON t BEGIN\n  SELECT 1;\nEND;\n".into(),
                ),
            ])),
        );
        let out = append(Some(existing), &ComponentName::core(), &[&a, &b], &r2);
        assert!(out.starts_with(existing), "existing bytes changed:\n{out}");
        let steps = parse("lib/db/upgrade.toml", &out, &ComponentName::core()).expect("round trip");
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[1].body, a.body);
        assert_eq!(steps[1].checksum, steps[1].computed);
        assert_eq!(steps[1].requires, a.requires);
        assert!(!steps[1].transaction);
        assert_eq!(steps[2].body, b.body);
        assert_eq!(steps[2].release().map(ReleaseName::as_str), Some("R2"));
        assert!(out.contains("sql = '''\nCREATE TABLE"), "{out}");
    }
}
