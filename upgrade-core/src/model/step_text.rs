//! What runs is what was reviewed: the checks a step's SQL text must pass
//! before it is stored, hashed or run.
//!
//! - No character a reviewer cannot see or that a server reads differently
//!   from an editor: control characters (NUL, a lone CR, form feed, C1...),
//!   line and paragraph separators, bidirectional overrides and isolates,
//!   zero-width spaces, a BOM after the start; and no white space other than
//!   spaces and tabs at the end of a line.
//! - No trailing white space at a line end inside a string, quoted identifier
//!   or dollar quote, where normalisation would change the data.
//! - In a step that runs in a transaction, no statement that ends, escapes or
//!   cannot run in that transaction ([`transaction_control`]).
//!
//! Header rules (`-- key: value` lines) live with the header parser in
//! `step.rs`; this module only says which comments look like header lines.

use crate::model::sql_text::{Dialect, Splitter, Statement, Token, TokenKind, statements, tokens};

/// A problem with a step's text, at a 1-based line of that text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextProblem {
    /// The line of the text.
    pub line: usize,
    /// What is wrong.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

/// A problem found by [`check_sql`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlProblem {
    /// The text would run differently from how it reads.
    Text(TextProblem),
    /// A statement that ends, escapes or cannot run in the step's transaction.
    TransactionControl {
        /// The 1-based line of the statement.
        line: usize,
        /// What it is, e.g. `COMMIT`.
        statement: &'static str,
    },
}

impl SqlProblem {
    /// The 1-based line of the text it is about.
    pub fn line(&self) -> usize {
        match self {
            SqlProblem::Text(p) => p.line,
            SqlProblem::TransactionControl { line, .. } => *line,
        }
    }
}

/// Runs every check of this module on `text`, read by each of `dialects`;
/// transaction control is refused when `transactional`. Reports the problem
/// on the first line.
pub fn check_sql(text: &str, dialects: &[Dialect], transactional: bool) -> Result<(), SqlProblem> {
    check_characters(text).map_err(SqlProblem::Text)?;
    check_tokens(text, dialects, transactional, |_| None)
}

/// The checks of [`check_sql`] after [`check_characters`], plus `extra` on
/// each token of each dialect; each dialect's reading is tokenized once, as a
/// stream (the tokens are never all held: a 50 MB step is checked in memory
/// bounded by its longest statement).
pub fn check_tokens(
    text: &str,
    dialects: &[Dialect],
    transactional: bool,
    mut extra: impl FnMut(&Token<'_>) -> Option<TextProblem>,
) -> Result<(), SqlProblem> {
    let mut found: Option<SqlProblem> = None;
    let mut keep = |p: SqlProblem| {
        if found.as_ref().is_none_or(|f| p.line() < f.line()) {
            found = Some(p);
        }
    };
    for &dialect in dialects {
        // Each check reports its first problem in this dialect's reading.
        let (mut extra_done, mut quoted_done, mut control_done) = (false, false, !transactional);
        let mut splitter = Splitter::new(text);
        for token in tokens(text, dialect) {
            if !extra_done && let Some(p) = extra(&token) {
                keep(SqlProblem::Text(p));
                extra_done = true;
            }
            if !quoted_done && let Err(p) = quoted_line_end(&token) {
                keep(SqlProblem::Text(p));
                quoted_done = true;
            }
            if !control_done && let Some(p) = splitter.push(token).and_then(control_problem) {
                keep(p);
                control_done = true;
            }
        }
        if !control_done && let Some(p) = splitter.finish().and_then(control_problem) {
            keep(p);
        }
    }
    found.map_or(Ok(()), Err)
}

/// The header keys of a standalone step file.
pub const HEADER_KEYS: [&str; 4] = ["phase", "requires", "transaction", "batch"];

/// The header key a comment (the text after `--`) looks like it declares,
/// whatever its case and spacing: `Phase : pre` looks like `phase`.
pub fn header_key_of(comment: &str) -> Option<&'static str> {
    let (key, _) = comment.split_once(':')?;
    let key = key.trim().trim_start_matches('-').trim();
    HEADER_KEYS
        .into_iter()
        .find(|k| k.eq_ignore_ascii_case(key))
}

/// Checks every character of `text` (see the module documentation).
pub fn check_characters(text: &str) -> Result<(), TextProblem> {
    for (index, raw_line) in text.split('\n').enumerate() {
        let line = index + 1;
        let content = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        let plain = |b: u8| (0x20..0x7f).contains(&b) || b == b'\t';
        if content.bytes().all(plain) {
            continue;
        }
        for (column, c) in content.chars().enumerate() {
            if let Some((name, why, fix)) = refused_character(c, line == 1 && column == 0) {
                return Err(TextProblem {
                    line,
                    problem: format!("{name} at column {}: {why}", column + 1),
                    fix: fix.to_string(),
                });
            }
        }
        let kept = content.trim_end_matches([' ', '\t']);
        if let Some(c) = kept.chars().next_back().filter(|c| c.is_whitespace()) {
            return Err(TextProblem {
                line,
                problem: format!(
                    "the white space character U+{:04X} ends the line: normalisation would remove it, but the servers read it as part of a name",
                    u32::from(c)
                ),
                fix: "remove it (or end the line with a plain space)".into(),
            });
        }
    }
    Ok(())
}

/// What `c` is, why it is refused and the fix, or `None` when it is fine.
fn refused_character(c: char, at_start: bool) -> Option<(String, &'static str, &'static str)> {
    const ESCAPE: &str = "remove it; if the data needs it, write it with an escape (PostgreSQL `E'\\uXXXX'`, SQLite `char(N)`)";
    const UNSEEN: &str = "a reviewer cannot see it in an editor or a diff";
    let (name, why, fix) = match c {
        '\t' | '\n' => return None,
        '\0' => (
            "a NUL byte",
            "SQLite stops reading the step there",
            "remove it",
        ),
        '\r' => (
            "a lone carriage return (CR)",
            "editors and diffs show the text after it on the same line, but the databases read a new line (PostgreSQL ends a -- comment there)",
            "use LF or CRLF line ends only: remove the CR or replace it with a line break",
        ),
        '\u{feff}' if at_start => return None,
        '\u{feff}' => (
            "a byte order mark after the start of the text",
            UNSEEN,
            ESCAPE,
        ),
        '\u{2028}' | '\u{2029}' => (
            "a Unicode line or paragraph separator",
            "some editors show a line break there, the databases do not",
            ESCAPE,
        ),
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => (
            "a bidirectional control character",
            "it reorders what editors show, so the text does not read as it runs",
            ESCAPE,
        ),
        '\u{200e}' | '\u{200f}' | '\u{061c}' => ("an invisible direction mark", UNSEEN, ESCAPE),
        '\u{200b}' | '\u{2060}'..='\u{2064}' | '\u{00ad}' | '\u{180e}' => {
            ("an invisible zero-width character", UNSEEN, ESCAPE)
        }
        c if c.is_control() => ("a control character", UNSEEN, ESCAPE),
        _ => return None,
    };
    Some((format!("{name} (U+{:04X})", u32::from(c)), why, fix))
}

/// Checks that no line inside a string, quoted identifier or dollar quote ends
/// in white space: normalisation removes white space at line ends, which
/// there would change the data.
pub fn check_quoted_line_ends(text: &str, dialect: Dialect) -> Result<(), TextProblem> {
    tokens(text, dialect).try_for_each(|t| quoted_line_end(&t))
}

/// [`check_quoted_line_ends`] of one token.
fn quoted_line_end(token: &Token<'_>) -> Result<(), TextProblem> {
    if token.is_quoted() {
        let breaks = token.text.matches('\n').count();
        for (i, part) in token.text.split('\n').enumerate() {
            let line = token.line + i;
            let is_last = i == breaks;
            let part = part.strip_suffix('\r').unwrap_or(part);
            if !is_last && part.ends_with(char::is_whitespace) {
                return Err(TextProblem {
                    line,
                    problem: format!(
                        "the line ends in white space inside a {}: normalisation removes white space at line ends, which would change it",
                        match token.kind {
                            TokenKind::QuotedIdent => "quoted identifier",
                            TokenKind::DollarString => "dollar-quoted string",
                            _ => "string literal",
                        }
                    ),
                    fix: "remove the white space at the end of the line; if the data needs it, write it with an escape or a concatenation".into(),
                });
            }
        }
    }
    Ok(())
}

/// The first statement of `text` that ends, escapes or cannot run inside the
/// transaction a step runs in: its line and what it is (`COMMIT`, `CREATE
/// INDEX CONCURRENTLY`...).
pub fn transaction_control(text: &str, dialect: Dialect) -> Option<(usize, &'static str)> {
    control_in(&statements(text, dialect))
}

/// The refusal of `statement` if it is transaction control.
fn control_problem(statement: Statement<'_>) -> Option<SqlProblem> {
    control_kind(&statement).map(|kind| SqlProblem::TransactionControl {
        line: statement.line,
        statement: kind,
    })
}

fn control_in(statements: &[Statement<'_>]) -> Option<(usize, &'static str)> {
    statements
        .iter()
        .find_map(|s| control_kind(s).map(|kind| (s.line, kind)))
}

/// What transaction control `statement` is, if any.
fn control_kind(statement: &Statement<'_>) -> Option<&'static str> {
    let tokens = &statement.tokens;
    let word = |i: usize| -> String {
        tokens
            .get(i)
            .filter(|t| t.kind == TokenKind::Word)
            .map(|t| t.text.to_ascii_uppercase())
            .unwrap_or_default()
    };
    let has = |w: &str| tokens.iter().any(|t| t.is_word(w));
    let has_pair = |a: &str, b: &str| {
        tokens
            .windows(2)
            .any(|p| p[0].is_word(a) && p[1].is_word(b))
    };
    let w0 = word(0);
    let w1 = word(1);
    let found = match w0.as_str() {
        "BEGIN" => "BEGIN",
        "COMMIT" => "COMMIT",
        "END" => "END",
        "ROLLBACK" => "ROLLBACK",
        "ABORT" => "ABORT",
        "SAVEPOINT" => "SAVEPOINT",
        "RELEASE" => "RELEASE",
        "VACUUM" => "VACUUM",
        "ATTACH" => "ATTACH",
        "DETACH" => "DETACH",
        "START" if w1 == "TRANSACTION" => "START TRANSACTION",
        "PREPARE" if w1 == "TRANSACTION" => "PREPARE TRANSACTION",
        "DISCARD" if w1 == "ALL" => "DISCARD ALL",
        "CLUSTER"
            if tokens[1..]
                .iter()
                .all(|t| t.kind != TokenKind::Word || t.is_word("VERBOSE")) =>
        {
            "CLUSTER (every table)"
        }
        "PRAGMA"
            if has("FOREIGN_KEYS")
                && tokens
                    .iter()
                    .any(|t| t.text == "=" || t.kind == TokenKind::OpenParen) =>
        {
            "PRAGMA foreign_keys"
        }
        "CREATE" | "DROP" => {
            let index = if word(1) == "UNIQUE" { 2 } else { 1 };
            match word(index).as_str() {
                "INDEX" if word(index + 1) == "CONCURRENTLY" => {
                    if w0 == "CREATE" {
                        "CREATE INDEX CONCURRENTLY"
                    } else {
                        "DROP INDEX CONCURRENTLY"
                    }
                }
                "DATABASE" => "CREATE/DROP DATABASE",
                "TABLESPACE" => "CREATE/DROP TABLESPACE",
                "SUBSCRIPTION" => "CREATE/DROP SUBSCRIPTION",
                _ => return None,
            }
        }
        "REINDEX" => {
            // REINDEX [(options)] {INDEX|TABLE|SCHEMA|DATABASE|SYSTEM} [CONCURRENTLY] name
            let mut i = 1;
            if tokens
                .get(1)
                .is_some_and(|t| t.kind == TokenKind::OpenParen)
            {
                while i < tokens.len() && tokens[i].kind != TokenKind::CloseParen {
                    i += 1;
                }
                i += 1;
            }
            match word(i).as_str() {
                "DATABASE" | "SYSTEM" => "REINDEX DATABASE/SYSTEM",
                _ if word(i + 1) == "CONCURRENTLY" => "REINDEX ... CONCURRENTLY",
                _ => return None,
            }
        }
        "ALTER" => match w1.as_str() {
            "SYSTEM" => "ALTER SYSTEM",
            "SUBSCRIPTION" if has_pair("REFRESH", "PUBLICATION") => {
                "ALTER SUBSCRIPTION ... REFRESH PUBLICATION"
            }
            "DATABASE" if has_pair("SET", "TABLESPACE") => "ALTER DATABASE ... SET TABLESPACE",
            "TYPE" if has_pair("ADD", "VALUE") => "ALTER TYPE ... ADD VALUE",
            "TABLE" if has_pair("DETACH", "PARTITION") && has("CONCURRENTLY") => {
                "ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY"
            }
            _ => return None,
        },
        _ => return None,
    };
    Some(found)
}

#[cfg(test)]
#[path = "step_text_tests.rs"]
mod tests;
