//! Where a failing statement is in its file: maps a line of a step's script
//! (as the database reports it) to the line of the step's file, header lines
//! and the lines before a released entry's SQL counted.
//!
//! The script is the file's text minus its header and normalised, so every
//! script line is, in order, a line of the file (trailing white space aside):
//! the script's lines are matched to the file's lines one after the other.
//! No SQL is parsed here.

use super::*;
use crate::model::step::{Body, Origin};

/// `file:line` of line `script_line` (1-based) of the script `step` runs on
/// `database`, or `None` when the file's text does not show it (a TOML string
/// with escapes, a file not read).
pub fn file_line(
    tree: &Tree,
    step: &Step,
    database: Database,
    script_line: usize,
) -> Option<String> {
    let script = step.body.for_database(database.as_str())?;
    let (file, start) = match &step.origin {
        Origin::Standalone { files } => {
            let file = match &step.body {
                Body::PerDatabase(_) => {
                    let suffix = format!(".{}.sql", database.as_str());
                    files.iter().find(|f| f.ends_with(&suffix))?
                }
                Body::Any(_) => files.first()?,
            };
            (file.to_string(), 0)
        }
        Origin::Released { file, line, .. } => {
            let text = tree.file_text(file)?;
            let header = line.map_or(1, |l| l as usize).saturating_sub(1);
            let start = match &step.body {
                // Skip to the variant's key inside the entry.
                Body::PerDatabase(_) => {
                    let key = format!("{} =", database.as_str());
                    text.lines()
                        .enumerate()
                        .skip(header)
                        .find(|(_, l)| l.trim_start().starts_with(&key))
                        .map_or(header, |(i, _)| i)
                }
                Body::Any(_) => header,
            };
            (file.to_string(), start)
        }
    };
    let text = tree.file_text(&file)?;
    let file_lines: Vec<&str> = text.lines().collect();
    let mut at = start;
    let mut found = None;
    for (i, line) in script.lines().enumerate() {
        let wanted = line.trim_end();
        let offset = file_lines.get(at..)?.iter().position(|l| {
            let l = l.trim_end();
            // A released entry's first line may share the line of `sql = '''`.
            l == wanted || (!wanted.is_empty() && l.ends_with(wanted) && i == 0)
        })?;
        at += offset;
        if i + 1 == script_line {
            found = Some(at + 1);
            break;
        }
        at += 1;
    }
    Some(format!("{file}:{}", found?))
}
