//! The pre-step lint applied to a step of a tree: errors naming the step
//! file and line for a standalone step, warnings naming the `upgrade.toml`
//! line for a released entry (never edited).

use super::{Finding, lint_text};
use crate::model::sql_text::Dialect;
use crate::model::step::{Body, Origin, Phase, Step};
use crate::model::tree_error::{TreeError, TreeErrorKind, TreeWarning, line_of};

/// The findings of a `pre` step of a tree: errors naming the step file and
/// line for a standalone step; warnings for a released entry, which is never
/// edited (it was released before the lint, or by hand). `text_of` gives the
/// text of a tree file. Steps of other phases give nothing.
pub fn lint_step<'t>(
    step: &Step,
    text_of: impl Fn(&str) -> Option<&'t str>,
) -> (Vec<TreeError>, Vec<TreeWarning>) {
    let (mut errors, mut warnings) = (Vec::new(), Vec::new());
    if step.phase != Phase::Pre {
        return (errors, warnings);
    }
    match &step.origin {
        Origin::Standalone { files } => {
            for file in files {
                let Some(text) = text_of(file) else { continue };
                for f in lint_text(text, dialects_of_file(file)) {
                    errors.push(TreeError::new(file, kind(&f, String::new())).at_line(f.line));
                }
            }
        }
        Origin::Released { file, line, .. } => {
            let bodies: Vec<(&str, &[Dialect])> = match &step.body {
                Body::Any(sql) => vec![(&**sql, &Dialect::ALL[..])],
                Body::PerDatabase(map) => map
                    .iter()
                    .map(|(db, sql)| (sql.as_str(), dialects_of_database(db)))
                    .collect(),
            };
            let toml = text_of(file).unwrap_or("");
            let line = line.map(|l| l as usize);
            let entry_start = entry_offset(toml, line);
            for (sql, dialects) in bodies {
                // Findings come by line: the body's lines and the entry's
                // text are each walked once, forward.
                let mut body_lines = sql.lines().enumerate();
                let mut from = entry_start;
                let mut prev: Option<(usize, Option<usize>)> = None;
                for f in lint_text(sql, dialects) {
                    let at = match prev {
                        Some((l, at)) if l == f.line => at,
                        _ => {
                            let wanted = f.line.saturating_sub(1);
                            let body_line = body_lines
                                .find(|(i, _)| *i >= wanted)
                                .map_or("", |(_, l)| l);
                            let found = from.and_then(|from| released_line(toml, from, body_line));
                            if let Some((_, end)) = found {
                                from = Some(end);
                            }
                            found.map(|(l, _)| l).or(line)
                        }
                    };
                    prev = Some((f.line, at));
                    let within =
                        format!(" (line {} of the `sql` of step {})", f.line, step.key.name);
                    let message = kind(&f, within).to_string();
                    let place = at.map(|l| format!("line {l}: ")).unwrap_or_default();
                    warnings.push(TreeWarning {
                        path: file.to_string(),
                        message: format!(
                            "{place}{message}; it is a released entry, which is never edited, so it stays: on a site that has not applied it yet, put the site in maintenance (`consolidate maintenance on`) before `consolidate apply --phase pre`"
                        ),
                    });
                }
            }
        }
    }
    (errors, warnings)
}

fn kind(f: &Finding, within: String) -> TreeErrorKind {
    TreeErrorKind::NotAdditive {
        statement: f.statement.clone(),
        within,
        rule: f.rule,
    }
}

/// The dialects a step file is read in: its database's, or both.
fn dialects_of_file(path: &str) -> &'static [Dialect] {
    if path.ends_with(".sqlite.sql") {
        &[Dialect::Sqlite]
    } else if path.ends_with(".postgres.sql") {
        &[Dialect::Postgres]
    } else {
        &Dialect::ALL
    }
}

fn dialects_of_database(db: &str) -> &'static [Dialect] {
    match Dialect::of_database(db) {
        Some(Dialect::Sqlite) => &[Dialect::Sqlite],
        Some(Dialect::Postgres) => &[Dialect::Postgres],
        None => &Dialect::ALL,
    }
}

/// The byte offset and line of a released entry's `[[step]]` line (1-based).
fn entry_offset(toml: &str, entry: Option<usize>) -> Option<(usize, usize)> {
    let entry = entry?.max(1);
    let start = toml
        .split_inclusive('\n')
        .take(entry - 1)
        .map(str::len)
        .sum::<usize>();
    Some((start, entry))
}

/// The line of the upgrade.toml where a released entry's statement starts —
/// the statement's first line of SQL, searched from `from` (a byte offset
/// and its line: the entry's `[[step]]` line, or where the previous
/// finding's line ended) — and the offset and line where that line ends
/// (`None` when the string is escaped beyond recognition).
fn released_line(
    toml: &str,
    from: (usize, usize),
    sql_line: &str,
) -> Option<(usize, (usize, usize))> {
    let needle = sql_line.trim();
    if needle.is_empty() {
        return None;
    }
    let (start, start_line) = from;
    let rest = toml.get(start..)?;
    let found = rest.find(needle)?;
    // Lines counted from `from` on, not again from the start of the file.
    let line = start_line + line_of(rest, found) - 1;
    Some((line, (start + found + needle.len(), line)))
}
