//! Standalone step files: splitting the `-- key: value` header from the body,
//! and refusing a file whose text would run differently from how it reads
//! (hidden characters, lost or misspelled header lines, transaction control in
//! a transactional step) — naming the file line.

use crate::model::batch::{Batch, missing_placeholders};
use crate::model::sql_text::{Dialect, Token, TokenKind};
use crate::model::step::{Phase, Requires, StepKey, normalise};
use crate::model::step_text::{
    SqlProblem, TextProblem, check_characters, check_tokens, header_key_of,
};
use crate::model::tree_error::{TreeError, TreeErrorKind};

/// The header of a standalone step file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `-- phase:` (default main).
    pub phase: Phase,
    /// `-- requires:` (default none).
    pub requires: Requires,
    /// `-- transaction:` (default yes).
    pub transaction: bool,
    /// `-- batch: TABLE.COLUMN SIZE` (post steps only; default none).
    pub batch: Option<Box<Batch>>,
}

/// Splits a standalone step file into its header and its normalised body.
///
/// Header lines are the leading lines of the form `-- key: value` with a
/// lowercase key; free comments among them stay in the body. The text is
/// refused, naming the line, when it would run differently from how it reads
/// (see `step_text`): hidden characters, a header-looking line outside the
/// header or misspelled, white space at a line end inside a string, or —
/// unless `-- transaction: no` — transaction control. The dialects checked
/// follow the file name: `.sqlite.sql`, `.postgres.sql`, or both.
pub fn parse_step_file(path: &str, text: &str) -> Result<(Header, String), TreeError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let at = |line: usize, kind: TreeErrorKind| TreeError::new(path, kind).at_line(line);
    check_characters(text).map_err(|p| at(p.line, runs_differently(p)))?;
    let (header, body, header_lines) = split_header(path, text)?;
    let dialects = dialects_of(path);
    let misplaced = |token: &Token<'_>| misplaced_header(text, token, header_lines).err();
    check_tokens(text, dialects, header.transaction, misplaced).map_err(|p| {
        sql_problem(
            path,
            p,
            "declare `-- transaction: no` in the step's header (the step then runs statement by statement, outside a transaction), or remove the statement",
        )
    })?;
    check_batch(path, &header, &body, dialects, batch_line(text))?;
    Ok((header, normalise(&body)))
}

/// The line of the `-- batch:` header line, if any.
fn batch_line(text: &str) -> usize {
    text.lines()
        .position(|l| {
            l.trim()
                .strip_prefix("--")
                .and_then(directive)
                .is_some_and(|(k, _)| k == "batch")
        })
        .map_or(1, |i| i + 1)
}

/// A batch declaration belongs to a `post` step whose body uses both `:lo`
/// and `:hi` (as every dialect the file is read in sees them).
fn check_batch(
    path: &str,
    header: &Header,
    body: &str,
    dialects: &[Dialect],
    line: usize,
) -> Result<(), TreeError> {
    let Some(batch) = &header.batch else {
        return Ok(());
    };
    let err = |msg: String| TreeError::new(path, TreeErrorKind::Header(msg)).at_line(line);
    if header.phase != Phase::Post {
        return Err(err(format!(
            "`-- batch: {batch}` is declared on a {} step: only `-- phase: post` steps run in batches (they run while the site is online); add `-- phase: post` or remove the batch line",
            header.phase
        )));
    }
    if !header.transaction {
        return Err(err(format!(
            "`-- batch: {batch}` with `-- transaction: no`: each range commits in one transaction with its row in the batch ledger, so a batched step must be transactional"
        )));
    }
    for dialect in dialects {
        let missing = missing_placeholders(body, *dialect);
        if !missing.is_empty() {
            let names: Vec<String> = missing.iter().map(|m| format!("`:{m}`")).collect();
            return Err(err(format!(
                "`-- batch: {batch}` but the SQL never uses {} (outside strings and comments): each range binds `:lo` and `:hi`, e.g. `WHERE {} BETWEEN :lo AND :hi`",
                names.join(" and "),
                batch.column
            )));
        }
    }
    Ok(())
}

/// The dialects a step file is read in: its database's, or both for a plain `.sql`.
pub(crate) fn dialects_of(path: &str) -> &'static [Dialect] {
    if path.ends_with(".sqlite.sql") {
        &[Dialect::Sqlite]
    } else if path.ends_with(".postgres.sql") {
        &[Dialect::Postgres]
    } else {
        &Dialect::ALL
    }
}

pub(crate) fn runs_differently(p: TextProblem) -> TreeErrorKind {
    TreeErrorKind::RunsDifferently {
        problem: p.problem,
        fix: p.fix,
    }
}

/// The error of a problem [`check_tokens`] found in the file at `path`;
/// `transaction_fix` says what to do about transaction control in this kind
/// of file (a step, an install snapshot, a baseline).
pub(crate) fn sql_problem(path: &str, problem: SqlProblem, transaction_fix: &str) -> TreeError {
    let (line, kind) = match problem {
        SqlProblem::Text(p) => (p.line, runs_differently(p)),
        SqlProblem::TransactionControl { line, statement } => (
            line,
            TreeErrorKind::TransactionControl {
                statement: statement.to_string(),
                within: String::new(),
                fix: transaction_fix.into(),
            },
        ),
    };
    TreeError::new(path, kind).at_line(line)
}

/// The header, the body text without header lines, and the number of lines
/// of the header block (header lines and the comments among them).
fn split_header(path: &str, text: &str) -> Result<(Header, String, usize), TreeError> {
    let mut header = Header {
        phase: Phase::Main,
        requires: Requires::default(),
        transaction: true,
        batch: None,
    };
    let mut seen: Vec<&str> = Vec::new();
    let mut body = String::new();
    let mut header_lines = None;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if header_lines.is_some() {
            body.push_str(line);
            continue;
        }
        let err = |kind: TreeErrorKind| TreeError::new(path, kind).at_line(index + 1);
        let header_err = |msg: String| err(TreeErrorKind::Header(msg));
        let Some(comment) = line.trim().strip_prefix("--") else {
            header_lines = Some(index);
            body.push_str(line);
            continue;
        };
        let Some((key, value)) = directive(comment) else {
            if let Some(key) = header_key_of(comment) {
                let value = comment.split_once(':').map_or("", |(_, v)| v.trim());
                return Err(err(TreeErrorKind::RunsDifferently {
                    problem: format!(
                        "`{}` looks like a header line but is not spelled as one, so it would be a plain comment and the step would run without it",
                        line.trim()
                    ),
                    fix: format!("write it `-- {key}: {value}`"),
                }));
            }
            body.push_str(line);
            continue;
        };
        if seen.contains(&key) {
            return Err(header_err(format!("`{key}` is declared twice")));
        }
        seen.push(key);
        match key {
            "phase" => {
                header.phase = Phase::parse(value).ok_or_else(|| {
                    header_err(format!("phase `{value}` is not pre, main or post"))
                })?;
            }
            "requires" => {
                for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let key = StepKey::parse(part).map_err(|e| {
                        header_err(format!("requires: {e}; write `component/YYYYMMDDNN-slug`"))
                    })?;
                    header.requires.push(key);
                }
            }
            "transaction" => {
                header.transaction = match value {
                    "yes" => true,
                    "no" => false,
                    _ => {
                        return Err(header_err(format!(
                            "transaction `{value}` is not yes or no"
                        )));
                    }
                }
            }
            "batch" => {
                header.batch = Some(Box::new(Batch::parse(value).map_err(header_err)?));
            }
            other => {
                return Err(header_err(format!(
                    "unknown header key `{other}` (known: phase, requires, transaction, batch)"
                )));
            }
        }
    }
    let lines = header_lines.unwrap_or_else(|| text.split_inclusive('\n').count());
    Ok((header, body, lines))
}

/// Refuses a comment line after the header block that looks like a header
/// line: it would be a plain comment, and what it declares would be lost.
/// Looks at one token (and back to the start of its line only).
fn misplaced_header(text: &str, token: &Token<'_>, header_lines: usize) -> Result<(), TextProblem> {
    if token.kind != TokenKind::LineComment || token.line <= header_lines {
        return Ok(());
    }
    let line_start = text[..token.offset].rfind('\n').map_or(0, |i| i + 1);
    if !text[line_start..token.offset].trim().is_empty() {
        return Ok(());
    }
    let comment = &token.text[2..];
    if let Some(key) = header_key_of(comment) {
        let value = comment.split_once(':').map_or("", |(_, v)| v.trim());
        let blank_first = text.lines().next().is_some_and(|l| l.trim().is_empty());
        return Err(TextProblem {
            line: token.line,
            problem: format!(
                "`{}` looks like a header line but comes after the header block, so it is a plain comment and the step would run without it",
                token.text.trim_end()
            ),
            fix: format!(
                "header lines must be the first lines of the file{}: move it there as `-- {key}: {value}`, or reword the comment",
                if blank_first {
                    " (remove the blank line at the top)"
                } else {
                    ", with no blank line or SQL before them"
                }
            ),
        });
    }
    Ok(())
}

/// `key: value` with a lowercase key, from the text after `--`.
fn directive(comment: &str) -> Option<(&str, &str)> {
    let (key, value) = comment.trim_start().split_once(':')?;
    let ok = !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    ok.then(|| (key, value.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_split_from_body() {
        let text = "-- phase: pre\n-- Adds the lock table.\n-- requires: core/2008010100-base, mod_forum/2008010200-x\n-- transaction: no\nCREATE TABLE t (id INT);\n";
        let (h, body) = parse_step_file("x.sql", text).expect("valid");
        assert_eq!(h.phase, Phase::Pre);
        assert!(!h.transaction);
        assert_eq!(h.requires.len(), 2);
        assert_eq!(h.requires[1].to_string(), "mod_forum/2008010200-x");
        assert_eq!(body, "-- Adds the lock table.\nCREATE TABLE t (id INT);\n");
    }

    #[test]
    fn header_errors_name_the_line() {
        let err = parse_step_file(
            "x.sql",
            "-- phase: pre\n-- requries: core/2008010100-a\nSELECT 1;\n",
        )
        .expect_err("typo accepted");
        assert_eq!(err.line, Some(2));
        assert!(
            err.to_string().contains("unknown header key `requries`"),
            "{err}"
        );
        assert!(parse_step_file("x.sql", "-- phase: later\n").is_err());
        // A header line after the body would be lost: refused.
        let err = parse_step_file("x.sql", "SELECT 1;\n-- phase: post\n").expect_err("lost header");
        assert_eq!(err.line, Some(2));
    }

    #[test]
    fn headers_that_would_be_lost_are_refused() {
        for (text, line, fix) in [
            (
                "\n-- transaction: no\nCOMMIT;\n",
                2,
                "remove the blank line at the top",
            ),
            (
                "-- phase: pre\n\n-- transaction: no\nSELECT 1;\n",
                3,
                "no blank line or SQL",
            ),
            (
                "-- phase: pre\n/* note */\n-- requires: core/2008010100-a\n",
                3,
                "move it there",
            ),
            ("-- Phase: pre\nSELECT 1;\n", 1, "write it `-- phase: pre`"),
            (
                "--phase : post\nSELECT 1;\n",
                1,
                "write it `-- phase: post`",
            ),
            (
                "-- adds t\n--- transaction: no\nSELECT 1;\n",
                2,
                "write it `-- transaction: no`",
            ),
            (
                "SELECT 1;\n  -- TRANSACTION: no\n",
                2,
                "as `-- transaction: no`",
            ),
        ] {
            let err = parse_step_file("lib/db/upgrades/2008010100-x.sql", text).expect_err(text);
            assert_eq!(err.line, Some(line), "{text:?}: {err}");
            assert!(err.hint().contains(fix), "{text:?}: {}", err.hint());
        }
        // Not header lines: a trailing comment, a comment inside a string or a
        // block comment, and comments that merely mention a key.
        let fine = "-- phase: post\n-- Phase out the old column.\nSELECT 1; -- phase: pre\nSELECT '\n-- phase: pre\n';\n/*\n-- phase: pre\n*/\n-- note: the phase changes\n";
        let (h, body) = parse_step_file("lib/db/upgrades/2008010100-x.sql", fine).expect("valid");
        assert_eq!(h.phase, Phase::Post);
        assert!(body.starts_with("-- Phase out"), "{body}");
    }

    #[test]
    fn hidden_text_is_refused_and_crlf_is_accepted() {
        let path = "lib/db/upgrades/2008010100-x.sql";
        let err = parse_step_file(path, "-- harmless comment\rDROP TABLE victim;\n")
            .expect_err("lone CR");
        assert_eq!(err.line, Some(1));
        assert!(err.to_string().contains("lone carriage return"), "{err}");
        let err = parse_step_file(path, "SELECT 1;\nSELECT 2;\0DROP TABLE t;\n").expect_err("NUL");
        assert_eq!(err.line, Some(2));
        let (h, body) = parse_step_file(path, "-- transaction: no\r\nSELECT 1;  \r\nSELECT 2;\r\n")
            .expect("CRLF");
        assert!(!h.transaction);
        assert_eq!(body, "SELECT 1;\nSELECT 2;\n");
        let err = parse_step_file(path, "INSERT INTO t VALUES ('a \nb');\n")
            .expect_err("space in literal");
        assert_eq!(err.line, Some(1));
    }

    #[test]
    fn batch_header_on_post_steps_only() {
        let path = "lib/db/upgrades/2008010100-x.sql";
        let text = "-- phase: post\n-- batch: forum_posts.id 1000\nUPDATE forum_posts SET f = 1 WHERE id BETWEEN :lo AND :hi;\n";
        let (h, body) = parse_step_file(path, text).expect("valid");
        let batch = h.batch.expect("batch");
        assert_eq!(batch.to_string(), "forum_posts.id 1000");
        assert!(body.starts_with("UPDATE"), "{body}");
        // The batch line may come first: the phase is checked after the header.
        let text = "-- batch: t.id 10\n-- phase: post\nSELECT :lo, :hi;\n";
        assert!(parse_step_file(path, text).is_ok());
        for (text, line, says) in [
            (
                "-- batch: t.id 10\nSELECT :lo, :hi;\n",
                1,
                "declared on a main step",
            ),
            (
                "-- phase: pre\n-- batch: t.id 10\nSELECT :lo, :hi;\n",
                2,
                "declared on a pre step",
            ),
            (
                "-- phase: post\n-- transaction: no\n-- batch: t.id 10\nSELECT :lo, :hi;\n",
                3,
                "must be transactional",
            ),
            (
                "-- phase: post\n-- batch: t.id 10\nSELECT :lo /* :hi */;\n",
                2,
                "never uses `:hi`",
            ),
            (
                "-- phase: post\n-- batch: t.id 10\nSELECT 1;\n",
                2,
                "never uses `:lo` and `:hi`",
            ),
            (
                "-- phase: post\n-- batch: t 10\nSELECT :lo, :hi;\n",
                2,
                "names no column",
            ),
            (
                "-- phase: post\n-- batch: t.id ten\nSELECT :lo, :hi;\n",
                2,
                "not a positive integer",
            ),
            (
                "-- phase: post\n-- Batch: t.id 10\nSELECT :lo, :hi;\n",
                2,
                "write it `-- batch: t.id 10`",
            ),
        ] {
            let err = parse_step_file(path, text).expect_err(text);
            assert_eq!(err.line, Some(line), "{text:?}: {err}");
            let all = format!("{err} {}", err.hint());
            assert!(all.contains(says), "{text:?}: {all}");
        }
    }

    #[test]
    fn transaction_control_needs_transaction_no() {
        let text = "INSERT INTO a VALUES (1);\nCOMMIT;\nINSERT INTO missing VALUES (2);\n";
        let err = parse_step_file("lib/db/upgrades/2008010100-x.sql", text).expect_err("COMMIT");
        assert_eq!(err.line, Some(2));
        assert!(
            err.to_string()
                .starts_with("lib/db/upgrades/2008010100-x.sql:2: `COMMIT`"),
            "{err}"
        );
        assert!(err.hint().contains("-- transaction: no"), "{}", err.hint());
        // The line counts the header.
        let err = parse_step_file("x.sql", &format!("-- phase: pre\n-- adds a\n{text}"))
            .expect_err("COMMIT");
        assert_eq!(err.line, Some(4));
        let (h, _) =
            parse_step_file("x.sql", &format!("-- transaction: no\n{text}")).expect("declared");
        assert!(!h.transaction);
        // Dialects follow the file name: nested comments hide COMMIT from PostgreSQL only.
        let nested = "/* a /* b */ COMMIT; */\nSELECT 1;\n";
        assert!(parse_step_file("x.postgres.sql", nested).is_ok());
        assert!(parse_step_file("x.sqlite.sql", nested).is_err());
        assert!(parse_step_file("x.sql", nested).is_err());
    }
}
