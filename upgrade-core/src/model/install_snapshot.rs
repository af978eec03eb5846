//! `InstallSnapshot`: a component's schema as of one of its steps, from
//! `<component folder>/db/install.sql` (or `install.sqlite.sql` /
//! `install.postgres.sql`), so that a fresh site creates the component in one
//! script instead of replaying every step since its first day.
//!
//! The header line `-- covers: NAME` names the newest step of the component
//! the snapshot includes: every step of the component whose name is at most
//! `NAME` (all phases) is part of it. The text passes the same checks as a
//! step's (`step_text`): nothing a reviewer cannot see, no transaction
//! control (a snapshot always runs in one transaction, with the ledger rows
//! of the steps it covers). Per-database variants must declare the same
//! `covers`; the checksum is over the normalised bodies, like a step's.

use std::collections::BTreeMap;

use crate::model::component::ComponentName;
use crate::model::release_name::ReleaseName;
use crate::model::sql_text::TokenKind;
use crate::model::step::{Body, Checksum, normalise};
use crate::model::step_file::{dialects_of, runs_differently, sql_problem};
use crate::model::step_name::StepName;
use crate::model::step_text::{
    TextProblem, check_characters, check_sql, check_tokens, header_key_of,
};
use crate::model::tree_error::{TreeError, TreeErrorKind};

/// The file name of a component's install snapshot (inside its `db/`), plain.
pub const INSTALL_FILE: &str = "install.sql";

/// A component's install snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallSnapshot {
    /// The component.
    pub component: ComponentName,
    /// The newest step it includes.
    pub covers: StepName,
    /// Its SQL: one script, or one per database.
    pub body: Body,
    /// The checksum of the normalised body (as a step's).
    pub checksum: Checksum,
    /// Its files, sorted.
    pub files: Vec<String>,
}

impl InstallSnapshot {
    /// Where it is, for messages: its file or files.
    pub fn location(&self) -> String {
        self.files.join(", ")
    }
}

/// The project baseline's schema snapshot: `releases/R.baseline.sql` (or
/// `R.baseline.sqlite.sql` / `R.baseline.postgres.sql`), the whole schema of a
/// site that completed release R. No header; the same text checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselineSnapshot {
    /// The release it is the schema of.
    pub release: ReleaseName,
    /// Its SQL: one script, or one per database.
    pub body: Body,
    /// The checksum of the normalised body.
    pub checksum: Checksum,
    /// Its files, sorted.
    pub files: Vec<String>,
}

/// The release and database of a baseline file name inside `releases/`
/// (`R.baseline.sql`, `R.baseline.sqlite.sql`, `R.baseline.postgres.sql`).
pub fn baseline_file(file: &str) -> Option<Result<(String, Option<String>), String>> {
    let stem = file.strip_suffix(".sql")?;
    let (release, database) = match stem.rsplit_once(".baseline") {
        Some((release, "")) => (release, None),
        Some((release, rest)) => (release, Some(rest.trim_start_matches('.'))),
        None => return None,
    };
    Some(match database {
        None => Ok((release.to_string(), None)),
        Some(db @ ("sqlite" | "postgres")) => Ok((release.to_string(), Some(db.to_string()))),
        Some(other) => Err(format!(
            "`{file}`: unknown database `{other}` (a baseline is R.baseline.sql, R.baseline.sqlite.sql or R.baseline.postgres.sql)"
        )),
    })
}

/// Builds the baseline from its files (`(path, database, text)`).
pub fn baseline_snapshot(
    release: ReleaseName,
    files: &[(String, Option<String>, String)],
) -> Result<BaselineSnapshot, TreeError> {
    one_kind(
        files,
        "a baseline is either one R.baseline.sql or per-database R.baseline.sqlite.sql / R.baseline.postgres.sql, not both",
    )?;
    let mut bodies: BTreeMap<Option<String>, String> = BTreeMap::new();
    for (path, database, text) in files {
        bodies.insert(database.clone(), checked_sql(path, text)?);
    }
    let body = Body::from_variants(bodies);
    let paths = sorted_paths(files);
    Ok(BaselineSnapshot {
        release,
        checksum: Checksum::of(&body),
        body,
        files: paths,
    })
}

/// Refuses a plain file beside per-database ones (`files`: path, database, text).
fn one_kind(files: &[(String, Option<String>, String)], message: &str) -> Result<(), TreeError> {
    let plain = files.iter().filter(|(_, db, _)| db.is_none()).count();
    match files.first() {
        Some((path, _, _)) if plain > 0 && files.len() > 1 => Err(TreeError::new(
            path.as_str(),
            TreeErrorKind::Snapshot(format!(
                "{message} ({}): remove one",
                sorted_paths(files).join(", ")
            )),
        )),
        _ => Ok(()),
    }
}

/// The paths of `files`, sorted.
fn sorted_paths(files: &[(String, Option<String>, String)]) -> Vec<String> {
    let mut paths: Vec<String> = files.iter().map(|(p, _, _)| p.clone()).collect();
    paths.sort();
    paths
}

/// The checks of a snapshot's text without a header; the normalised text.
fn checked_sql(path: &str, text: &str) -> Result<String, TreeError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let dialects = dialects_of(path);
    check_sql(text, dialects, true).map_err(|p| {
        sql_problem(
            path,
            p,
            "a baseline runs in one transaction with the site record: remove the statement",
        )
    })?;
    Ok(normalise(text))
}

/// The database of an install file name (`None` for the plain `install.sql`),
/// or `Err` when the name is no install file name. `file` is the name inside
/// `db/`.
pub fn install_file_database(file: &str) -> Option<Result<Option<String>, String>> {
    if file == INSTALL_FILE {
        return Some(Ok(None));
    }
    let middle = file.strip_prefix("install.")?.strip_suffix(".sql")?;
    Some(match middle {
        "sqlite" | "postgres" => Ok(Some(middle.to_string())),
        other => Err(format!(
            "`{file}`: unknown database `{other}` (an install snapshot is install.sql, install.sqlite.sql or install.postgres.sql)"
        )),
    })
}

/// Parses one install file: its `covers` step name and its normalised body.
pub fn parse_install_file(path: &str, text: &str) -> Result<(StepName, String), TreeError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let at = |line: usize, kind: TreeErrorKind| TreeError::new(path, kind).at_line(line);
    check_characters(text).map_err(|p| at(p.line, runs_differently(p)))?;
    let mut covers: Option<StepName> = None;
    let mut in_body = false;
    let mut body = String::new();
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if covers.is_some() || in_body {
            body.push_str(line);
            continue;
        }
        let trimmed = line.trim();
        let Some(comment) = trimmed.strip_prefix("--") else {
            body.push_str(line);
            in_body = true;
            continue;
        };
        match comment.split_once(':') {
            Some((key, value)) if key.trim().eq_ignore_ascii_case("covers") => {
                if key != " covers" && key != "covers" {
                    return Err(at(
                        index + 1,
                        TreeErrorKind::Snapshot(format!(
                            "`{trimmed}` is not spelled as a header line: write it `-- covers: {}`",
                            value.trim()
                        )),
                    ));
                }
                let name = StepName::parse(value.trim()).map_err(|e| {
                    at(
                        index + 1,
                        TreeErrorKind::Snapshot(format!(
                            "covers: {e}; write `-- covers: YYYYMMDDNN-slug`, the newest step of this component the snapshot includes"
                        )),
                    )
                })?;
                covers = Some(name);
            }
            Some(_) if header_key_of(comment).is_some() => {
                return Err(at(
                    index + 1,
                    TreeErrorKind::Snapshot(format!(
                        "`{trimmed}`: a step header key is no header of an install snapshot (it knows only `-- covers:`; a snapshot always runs first, in one transaction): remove the line"
                    )),
                ));
            }
            _ => body.push_str(line),
        }
    }
    let Some(covers) = covers else {
        return Err(TreeError::new(
            path,
            TreeErrorKind::Snapshot(
                "an install snapshot must start with `-- covers: NAME`, the newest step of this component it includes".into(),
            ),
        ));
    };
    let dialects = dialects_of(path);
    // A `-- covers:` line after the SQL would be a plain comment: refused.
    let first = header_line(text);
    let misplaced = |t: &crate::model::sql_text::Token<'_>| {
        let covers_line = t.kind == TokenKind::LineComment
            && t.line != first
            && t.text[2..]
                .split_once(':')
                .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("covers"));
        covers_line.then(|| TextProblem {
                line: t.line,
                problem: format!(
                    "`{}` is a second or misplaced covers line: only the first line of the header counts",
                    t.text.trim_end()
                ),
            fix: "keep one `-- covers:` line, at the top of the file".into(),
        })
    };
    check_tokens(text, dialects, true, misplaced).map_err(|p| {
        sql_problem(
            path,
            p,
            "an install snapshot always runs in one transaction with the ledger rows of the steps it covers: remove the statement",
        )
    })?;
    Ok((covers, normalise(&body)))
}

/// The 1-based line of the (first) `-- covers:` header line.
fn header_line(text: &str) -> usize {
    text.lines()
        .position(|l| {
            l.trim()
                .strip_prefix("--")
                .and_then(|c| c.split_once(':'))
                .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("covers"))
        })
        .map_or(0, |i| i + 1)
}

/// Builds a component's snapshot from its files (`(path, database, text)`).
pub fn install_snapshot(
    component: ComponentName,
    files: &[(String, Option<String>, String)],
) -> Result<InstallSnapshot, TreeError> {
    one_kind(
        files,
        "an install snapshot is either one install.sql or per-database install.sqlite.sql / install.postgres.sql, not both",
    )?;
    let mut covers: Option<(StepName, &str)> = None;
    let mut bodies: BTreeMap<Option<String>, String> = BTreeMap::new();
    for (path, database, text) in files {
        let (name, body) = parse_install_file(path, text)?;
        match &covers {
            Some((first, first_path)) if *first != name => {
                return Err(TreeError::new(
                    path.as_str(),
                    TreeErrorKind::Snapshot(format!(
                        "covers {name} but {first_path} covers {first}: per-database snapshots of one component must cover the same step"
                    )),
                ));
            }
            Some(_) => {}
            None => covers = Some((name, path)),
        }
        bodies.insert(database.clone(), body);
    }
    let Some((covers, _)) = covers else {
        return Err(TreeError::new(
            component.as_str(),
            TreeErrorKind::Io("no install files".into()),
        ));
    };
    let body = Body::from_variants(bodies);
    let paths = sorted_paths(files);
    Ok(InstallSnapshot {
        component,
        covers,
        checksum: Checksum::of(&body),
        body,
        files: paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_header_and_body() {
        let (name, body) = parse_install_file(
            "lib/db/install.sql",
            "-- covers: 2008010200-b\n-- The core schema.\nCREATE TABLE a (id INT);\n",
        )
        .expect("valid");
        assert_eq!(name.as_str(), "2008010200-b");
        assert_eq!(body, "-- The core schema.\nCREATE TABLE a (id INT);\n");
    }

    #[test]
    fn bad_headers_and_text_name_the_line() {
        for (text, line, says) in [
            (
                "CREATE TABLE a (id INT);\n",
                None,
                "must start with `-- covers: NAME`",
            ),
            (
                "-- covers: yesterday\nSELECT 1;\n",
                Some(1),
                "YYYYMMDDNN-slug",
            ),
            (
                "-- Covers: 2008010200-b\nSELECT 1;\n",
                Some(1),
                "write it `-- covers: 2008010200-b`",
            ),
            (
                "-- phase: pre\n-- covers: 2008010200-b\n",
                Some(1),
                "knows only `-- covers:`",
            ),
            ("-- covers: 2008010200-b\nCOMMIT;\n", Some(2), "`COMMIT`"),
            (
                "-- covers: 2008010200-b\nSELECT 1;\n-- covers: 2008010300-c\n",
                Some(3),
                "misplaced covers line",
            ),
            ("-- covers: 2008010200-b\nSELECT 1;\0\n", Some(2), "NUL"),
        ] {
            let err = parse_install_file("lib/db/install.sql", text).expect_err(text);
            assert_eq!(err.line, line, "{text:?}: {err}");
            assert!(err.to_string().contains(says), "{text:?}: {err}");
            assert_eq!(err.path, "lib/db/install.sql");
        }
    }

    #[test]
    fn variants_must_agree_and_not_mix_with_plain() {
        let c = ComponentName::parse("mod_forum").expect("name");
        let f = |p: &str, db: Option<&str>, t: &str| {
            (p.to_string(), db.map(String::from), t.to_string())
        };
        let ok = install_snapshot(
            c.clone(),
            &[
                f(
                    "mod/forum/db/install.postgres.sql",
                    Some("postgres"),
                    "-- covers: 2008010200-b\nCREATE TABLE f (id SERIAL);\n",
                ),
                f(
                    "mod/forum/db/install.sqlite.sql",
                    Some("sqlite"),
                    "-- covers: 2008010200-b\nCREATE TABLE f (id INTEGER);\n",
                ),
            ],
        )
        .expect("valid");
        assert_eq!(
            ok.body.for_database("sqlite"),
            Some("CREATE TABLE f (id INTEGER);\n")
        );
        let err = install_snapshot(
            c.clone(),
            &[
                f(
                    "mod/forum/db/install.postgres.sql",
                    Some("postgres"),
                    "-- covers: 2008010200-b\n",
                ),
                f(
                    "mod/forum/db/install.sqlite.sql",
                    Some("sqlite"),
                    "-- covers: 2008010300-c\n",
                ),
            ],
        )
        .expect_err("differ");
        assert!(
            err.to_string().contains("must cover the same step"),
            "{err}"
        );
        let err = install_snapshot(
            c,
            &[
                f(
                    "mod/forum/db/install.sql",
                    None,
                    "-- covers: 2008010200-b\n",
                ),
                f(
                    "mod/forum/db/install.sqlite.sql",
                    Some("sqlite"),
                    "-- covers: 2008010200-b\n",
                ),
            ],
        )
        .expect_err("mixed");
        assert!(err.to_string().contains("not both"), "{err}");
        assert_eq!(install_file_database("install.sql"), Some(Ok(None)));
        assert!(matches!(
            install_file_database("install.mysql.sql"),
            Some(Err(_))
        ));
        assert_eq!(install_file_database("upgrade.toml"), None);
    }
}
