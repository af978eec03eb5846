//! Running a step's SQL script on SQLite statement by statement, so that a
//! failure names the line of the failing statement; errors of the
//! environment (busy, read-only, disk full) are ledger errors, not the step's.
//!
//! Cost: linear in the script. SQLite itself splits the script (its own
//! tokenizer decides where each statement ends, exactly as `execute_batch`
//! and the `sqlite3` shell do), and it is handed the script once, NUL
//! terminated: `sqlite3_prepare` copies any text that is not NUL terminated
//! before parsing it, and it is called once per statement with the rest of
//! the script, so an unterminated script costs the square of its size (a
//! 50 MB step took 20 minutes). Each statement is then located in the script
//! from where the previous one ended, looking at its own bytes only.

use rusqlite::fallible_iterator::FallibleIterator as _;
use rusqlite::{Connection, ErrorCode};

use super::{StepRunError, code_of, error};

/// Runs a step's script statement by statement (as `execute_batch` does), so
/// that a failure names the line (1-based) of the failing statement in the
/// script: SQLite's own offset for a syntax error, else where the statement
/// starts. Errors of the environment are ledger errors, not the step's.
pub(super) fn run_script(db: &str, conn: &Connection, script: &str) -> Result<(), StepRunError> {
    // One copy, NUL terminated, so that no prepare copies the rest again. A
    // NUL inside the script is refused when the step is read (step_text).
    let mut terminated = String::with_capacity(script.len() + 1);
    terminated.push_str(script);
    terminated.push('\0');
    let mut batch = rusqlite::Batch::new(conn, &terminated);
    // Where the statement run last ended in `script`; `None` once a
    // statement could not be located (its expanded text differs from the
    // script, e.g. it has parameters): errors then name where it was lost.
    let mut cursor = Some(0);
    let mut lost_at = 0;
    loop {
        let statement = match batch.next() {
            Ok(Some(statement)) => statement,
            Ok(None) => return Ok(()),
            Err(e) => {
                let from = cursor.unwrap_or(lost_at);
                let at = from + script.get(from..).map_or(0, significant);
                return Err(step_error(db, script, terminated.len(), at, &e));
            }
        };
        let mut statement = statement;
        let start = match (cursor, statement.expanded_sql()) {
            (Some(from), Some(text)) => locate(script, from, &text),
            _ => None,
        };
        let at = match start {
            Some((start, end)) => {
                cursor = Some(end);
                start
            }
            None => {
                lost_at = cursor.unwrap_or(lost_at);
                cursor = None;
                lost_at
            }
        };
        let mut rows = statement.raw_query();
        if let Err(e) = rows.next() {
            let at = at + script.get(at..).map_or(0, significant);
            return Err(step_error(db, script, terminated.len(), at, &e));
        }
    }
}

/// Where `text` (a statement as SQLite saved it: from where its prepare
/// started, so with the comments and white space before it) is in `script`
/// at or after `from`: its start and end. SQLite skips only empty statements
/// (`;` with white space or comments) between two statements, so the text is
/// at `from` or after such a run; the search stops at the first byte that
/// is neither, so each byte of the script is looked at a bounded number of
/// times.
fn locate(script: &str, from: usize, text: &str) -> Option<(usize, usize)> {
    let mut at = from;
    loop {
        let rest = script.get(at..)?;
        crate::model::op_count::tick(text.len().min(rest.len()) + 1);
        if rest.starts_with(text) {
            return Some((at, at + text.len()));
        }
        // Skip one empty statement: white space and comments, then a `;`.
        let skip = significant(rest);
        crate::model::op_count::tick(skip);
        if rest.as_bytes().get(skip) != Some(&b';') {
            return None;
        }
        at += skip + 1;
    }
}

/// The offset of the first character of `text` that is not white space or a comment.
fn significant(text: &str) -> usize {
    let mut at = 0;
    loop {
        let rest = &text[at..];
        let trimmed = rest.trim_start();
        at += rest.len() - trimmed.len();
        if trimmed.starts_with("--") {
            at += trimmed.find('\n').map_or(trimmed.len(), |i| i + 1);
        } else if trimmed.starts_with("/*") {
            at += trimmed.find("*/").map_or(trimmed.len(), |i| i + 2);
        } else {
            return at;
        }
    }
}

/// 1-based line of byte offset `at` in `script`.
fn line_at(script: &str, at: usize) -> usize {
    script
        .get(..at.min(script.len()))
        .map_or(1, |head| head.matches('\n').count() + 1)
}

/// The error of a failed statement at byte `at` of the script; `sent` is the
/// length of the text handed to SQLite (the script and its NUL).
fn step_error(db: &str, script: &str, sent: usize, at: usize, e: &rusqlite::Error) -> StepRunError {
    if let Some(
        ErrorCode::ReadOnly
        | ErrorCode::CannotOpen
        | ErrorCode::DatabaseBusy
        | ErrorCode::DatabaseLocked
        | ErrorCode::DiskFull
        | ErrorCode::SystemIoFailure
        | ErrorCode::NotADatabase
        | ErrorCode::DatabaseCorrupt
        | ErrorCode::OutOfMemory,
    ) = code_of(e)
    {
        return StepRunError::Ledger(error(db, "running the step", e));
    }
    match e {
        rusqlite::Error::SqlInputError {
            msg, sql, offset, ..
        } => {
            // `sql` is the tail of the text sent where the failing statement starts.
            let start = sent.saturating_sub(sql.len());
            let at = start + usize::try_from(*offset).unwrap_or(0);
            StepRunError::Sql {
                message: msg.clone(),
                line: Some(line_at(script, at)),
            }
        }
        other => StepRunError::Sql {
            message: other.to_string(),
            line: Some(line_at(script, at)),
        },
    }
}

#[cfg(test)]
#[path = "script_tests.rs"]
mod tests;
