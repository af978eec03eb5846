//! Running a step's SQL script on SQLite statement by statement, so that a
//! failure names the line of the failing statement; errors of the
//! environment (busy, read-only, disk full) are ledger errors, not the step's.

use rusqlite::fallible_iterator::FallibleIterator as _;
use rusqlite::{Connection, ErrorCode};

use super::{StepRunError, code_of, error};

/// Runs a step's script statement by statement (as `execute_batch` does), so
/// that a failure names the line (1-based) of the failing statement in the
/// script: SQLite's own offset for a syntax error, else where the statement
/// starts. Errors of the environment are ledger errors, not the step's.
pub(super) fn run_script(db: &str, conn: &Connection, script: &str) -> Result<(), StepRunError> {
    let mut batch = rusqlite::Batch::new(conn, script);
    let mut cursor = 0;
    loop {
        let statement = match batch.next() {
            Ok(Some(statement)) => statement,
            Ok(None) => return Ok(()),
            Err(e) => {
                let at = cursor + script.get(cursor..).map_or(0, significant);
                return Err(step_error(db, script, at, &e));
            }
        };
        let mut statement = statement;
        if let Some(text) = statement.expanded_sql()
            && let Some(i) = script.get(cursor..).and_then(|rest| rest.find(&text))
        {
            let start = cursor + i;
            cursor = start + text.len();
            let mut rows = statement.raw_query();
            if let Err(e) = rows.next() {
                return Err(step_error(db, script, start + significant(&text), &e));
            }
            continue;
        }
        let mut rows = statement.raw_query();
        if let Err(e) = rows.next() {
            return Err(step_error(db, script, cursor, &e));
        }
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

/// The error of a failed statement at byte `at` of the script.
fn step_error(db: &str, script: &str, at: usize, e: &rusqlite::Error) -> StepRunError {
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
            // `sql` is the tail of the script where the failing statement starts.
            let start = script.len().saturating_sub(sql.len());
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
