//! The pre-step lint: a `pre` step runs while the old code is still online,
//! so it may only add. This module reads a step's statements (with the
//! tokenizer of `sql_text`, never a regex, so strings, quoted identifiers and
//! comments cannot fool it) and says which statement drops, renames,
//! rewrites or locks what the old code uses, why, and what to do instead.
//!
//! The rules follow strong_migrations' checks (removing or renaming a column
//! or table, changing a column's type, setting NOT NULL, adding an index
//! non-concurrently, adding a foreign key or a check constraint without
//! `NOT VALID`, adding a column with a volatile default, backfilling data),
//! plus what takes a long exclusive lock on PostgreSQL (`VACUUM FULL`,
//! `CLUSTER`, `REINDEX`, `LOCK TABLE`). As strong_migrations does for new
//! tables, whatever the step itself created earlier may be changed freely:
//! the old code cannot be using it. A statement the lint does not know to be
//! additive is refused too (deny by default). docs/format.md, "What a pre
//! step may do", lists every rule.
//!
//! [`lint`] is pure (statements in, findings out); [`lint_step`] turns the
//! findings of a tree's pre step into tree errors (standalone steps) or
//! warnings (released entries: history is never edited).

use std::collections::BTreeSet;

use crate::model::sql_text::{Dialect, Splitter, Statement, Token, TokenKind, tokens};

#[path = "pre_lint_step.rs"]
mod step;
pub use step::lint_step;

/// Why a statement may not run in a pre step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// `DROP ...`, `ALTER TABLE ... DROP ...`.
    Drop,
    /// `ALTER ... RENAME`, `RENAME`, `ALTER TABLE ... SET SCHEMA`.
    Rename,
    /// `ALTER TABLE ... ALTER COLUMN ... TYPE`.
    ChangeType,
    /// `ALTER TABLE ... ALTER COLUMN ... SET NOT NULL`.
    SetNotNull,
    /// Any other `ALTER COLUMN` (defaults, nullability...).
    AlterColumn,
    /// `ADD COLUMN ... NOT NULL` without a `DEFAULT`.
    NotNullWithoutDefault,
    /// A column whose default is not a constant (a function call, a serial,
    /// a generated column): PostgreSQL rewrites the table.
    VolatileDefault,
    /// `DELETE`, `REPLACE`, `INSERT OR REPLACE`.
    Delete,
    /// `UPDATE`, `INSERT ... DO UPDATE`, `MERGE`, a data-modifying `WITH`.
    Update,
    /// `TRUNCATE`.
    Truncate,
    /// `CREATE INDEX` without `CONCURRENTLY` on a table the step did not
    /// create; a `UNIQUE` or `PRIMARY KEY` constraint added without `USING INDEX`.
    IndexNotConcurrent,
    /// A foreign key added without `NOT VALID`.
    ForeignKeyNotValid,
    /// A `CHECK` constraint added without `NOT VALID`.
    CheckNotValid,
    /// `VACUUM FULL`, `CLUSTER`, `REINDEX`, `REFRESH MATERIALIZED VIEW`,
    /// `ALTER TABLE ... SET ...`: a rewrite or rebuild under a long lock.
    Rewrite,
    /// `LOCK TABLE`.
    Lock,
    /// `CREATE OR REPLACE ...`: replaces what the old code may use.
    Replace,
    /// `REVOKE`: takes away what the old code uses.
    Revoke,
    /// `DO`, `CALL`, `EXECUTE`: the lint cannot see what it does.
    Opaque,
    /// A statement or `ALTER` action the lint does not know to be additive.
    Unknown,
}

impl Rule {
    /// What the statement does to the old code.
    pub fn why(self) -> &'static str {
        match self {
            Rule::Drop => "it drops what the old code uses",
            Rule::Rename => "it renames what the old code uses",
            Rule::ChangeType => {
                "changing a column's type rewrites the table under an exclusive lock and breaks the old code's reads and writes"
            }
            Rule::SetNotNull => {
                "SET NOT NULL scans the whole table under an exclusive lock and makes the old code's inserts without the column fail"
            }
            Rule::AlterColumn => {
                "it changes a column the old code uses (its default or its nullability)"
            }
            Rule::NotNullWithoutDefault => {
                "a NOT NULL column without a DEFAULT makes the old code's inserts fail (and cannot be added to a table that has rows)"
            }
            Rule::VolatileDefault => {
                "a default that is not a constant (a function call, a serial or generated column) makes PostgreSQL rewrite the whole table under an exclusive lock"
            }
            Rule::Delete => "it deletes rows the old code uses",
            Rule::Update => {
                "it rewrites rows the old code uses, in one long transaction that locks them"
            }
            Rule::Truncate => "it empties a table the old code uses",
            Rule::IndexNotConcurrent => {
                "building an index without CONCURRENTLY blocks writes to the table on PostgreSQL until the index is built"
            }
            Rule::ForeignKeyNotValid => {
                "adding a foreign key without NOT VALID scans the table and blocks writes to both tables while it does"
            }
            Rule::CheckNotValid => {
                "adding a CHECK constraint without NOT VALID scans the whole table under an exclusive lock"
            }
            Rule::Rewrite => {
                "it rewrites or rebuilds a table or index under a lock that blocks the old code"
            }
            Rule::Lock => "it locks a table the old code uses",
            Rule::Replace => "it replaces an object the old code may use",
            Rule::Revoke => "it takes away a privilege the old code may use",
            Rule::Opaque => "the lint cannot see what it does",
            Rule::Unknown => "it is not a statement the pre-step lint knows to be additive",
        }
    }

    /// What to do instead.
    pub fn fix(self) -> &'static str {
        const MOVE: &str = "move the statement to a `main` step (it runs under maintenance), or split the step: keep what only adds in the pre step and put this statement in a main or post step";
        match self {
            Rule::Update => {
                "move the backfill to a `post` step with `-- batch: TABLE.COLUMN SIZE` (it then runs in resumable ranges `:lo`..`:hi` while the site is online), or to a `main` step"
            }
            Rule::IndexNotConcurrent => {
                "build it with `CREATE INDEX CONCURRENTLY` in a pre step of its own with `-- transaction: no` (PostgreSQL cannot build an index concurrently inside a transaction; give SQLite a `.sqlite.sql` variant with a plain `CREATE INDEX`), add a UNIQUE constraint `USING INDEX` of such an index, or move the statement to a `main` step"
            }
            Rule::ForeignKeyNotValid | Rule::CheckNotValid => {
                "add the constraint with `NOT VALID` in the pre step and run `ALTER TABLE ... VALIDATE CONSTRAINT ...` in a later step (validation does not block writes), or move the statement to a `main` step"
            }
            Rule::SetNotNull => {
                "add `CHECK (column IS NOT NULL) NOT VALID` in the pre step, validate it in a later step, and set NOT NULL in a `main` step; or move the statement to a `main` step"
            }
            Rule::NotNullWithoutDefault => {
                "give the column a constant DEFAULT, or add it nullable in the pre step and set NOT NULL in a `main` step after the backfill"
            }
            Rule::VolatileDefault => {
                "add the column without that default (or with a constant one) and backfill it in a `post` step with `-- batch: TABLE.COLUMN SIZE`; or move the statement to a `main` step"
            }
            Rule::Replace => {
                "create the new version under a new name in the pre step and switch to it in a `main` step, or move the statement to a `main` step"
            }
            _ => MOVE,
        }
    }
}

/// One statement a pre step may not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The 1-based line of the statement in the text linted.
    pub line: usize,
    /// Why it is refused.
    pub rule: Rule,
    /// The statement, on one line and shortened, for messages.
    pub statement: String,
}

/// The statements of a pre step that are not additive, in order. `dialect`
/// decides only what has no non-blocking form there: SQLite cannot build an
/// index concurrently, so a plain `CREATE INDEX` passes in SQLite's reading.
pub fn lint(statements: &[Statement<'_>], dialect: Dialect) -> Vec<Finding> {
    let mut created: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    for st in statements {
        if let Some(rule) = check(&st.tokens, dialect, &mut created) {
            out.push(Finding {
                line: st.line,
                rule,
                statement: excerpt(st.text),
            });
        }
    }
    out
}

/// [`lint`] of `text` read by each of `dialects`: every finding once, by line.
/// The statements are split as a stream (one statement's tokens held at a
/// time) and findings are deduplicated by a set: linear in the text.
pub fn lint_text(text: &str, dialects: &[Dialect]) -> Vec<Finding> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out: Vec<Finding> = Vec::new();
    let mut seen: std::collections::HashSet<(usize, Rule)> = std::collections::HashSet::new();
    for &dialect in dialects {
        let mut created: BTreeSet<String> = BTreeSet::new();
        let mut splitter = Splitter::new(text);
        let mut one = |st: Statement<'_>| {
            if let Some(rule) = check(&st.tokens, dialect, &mut created)
                && seen.insert((st.line, rule))
            {
                out.push(Finding {
                    line: st.line,
                    rule,
                    statement: excerpt(st.text),
                });
            }
        };
        for token in tokens(text, dialect) {
            if let Some(st) = splitter.push(token) {
                one(st);
            }
        }
        if let Some(st) = splitter.finish() {
            one(st);
        }
    }
    out.sort_by_key(|f| f.line);
    out
}

/// The statement on one line, at most 60 characters, without its `;`.
fn excerpt(text: &str) -> String {
    let flat = text
        .trim_end_matches(';')
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    match flat.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &flat[..i]),
        None => flat,
    }
}

/// The upper-case word at `i`, or "" when it is not a word.
fn word(t: &[Token<'_>], i: usize) -> String {
    t.get(i)
        .filter(|t| t.kind == TokenKind::Word)
        .map(|t| t.text.to_ascii_uppercase())
        .unwrap_or_default()
}

/// `i` past the words `seq` when they follow at `i`, else `i`.
fn skip(t: &[Token<'_>], i: usize, seq: &[&str]) -> usize {
    let all = seq
        .iter()
        .enumerate()
        .all(|(k, w)| t.get(i + k).is_some_and(|x| x.is_word(w)));
    if all { i + seq.len() } else { i }
}

fn has(t: &[Token<'_>], w: &str) -> bool {
    t.iter().any(|x| x.is_word(w))
}

fn has_pair(t: &[Token<'_>], a: &str, b: &str) -> bool {
    t.windows(2).any(|p| p[0].is_word(a) && p[1].is_word(b))
}

/// A possibly qualified name at `i` (`a`, `s.a`, `"A"`): its last part,
/// folded as the servers fold it, and the index after it.
fn name_at(t: &[Token<'_>], mut i: usize) -> Option<(String, usize)> {
    let mut last = None;
    loop {
        let tok = t.get(i)?;
        last = Some(match tok.kind {
            TokenKind::Word => tok.text.to_ascii_lowercase(),
            TokenKind::QuotedIdent if tok.text.len() >= 2 => {
                let inner = &tok.text[1..tok.text.len() - 1];
                inner.replace("\"\"", "\"").replace("``", "`")
            }
            _ => return last.map(|l| (l, i)),
        });
        i += 1;
        if t.get(i).is_some_and(|x| x.text == ".") {
            i += 1;
        } else {
            return last.map(|l| (l, i));
        }
    }
}

/// The name after `i` once `IF [NOT] EXISTS` and `ONLY` are skipped.
fn target(t: &[Token<'_>], i: usize) -> Option<(String, usize)> {
    let i = skip(t, skip(t, i, &["IF", "NOT", "EXISTS"]), &["IF", "EXISTS"]);
    name_at(t, skip(t, i, &["ONLY"]))
}

/// Why a statement may not run in a pre step, if it may not; records what it creates.
fn check(t: &[Token<'_>], dialect: Dialect, created: &mut BTreeSet<String>) -> Option<Rule> {
    let is_new = |i: usize, created: &BTreeSet<String>| {
        target(t, i).is_some_and(|(n, _)| created.contains(&n))
    };
    let unless_new = |rule: Rule, i: usize| (!is_new(i, created)).then_some(rule);
    match word(t, 0).as_str() {
        "CREATE" => check_create(t, dialect, created),
        "ALTER" => check_alter(t, dialect, created),
        "INSERT" if word(t, 1) == "OR" && word(t, 2) == "REPLACE" => Some(Rule::Delete),
        "INSERT" if has_pair(t, "DO", "UPDATE") => Some(Rule::Update),
        "INSERT" => None,
        "REPLACE" => Some(Rule::Delete),
        "UPDATE" => unless_new(
            Rule::Update,
            skip(t, 1, &["OR"]) + usize::from(word(t, 1) == "OR"),
        ),
        "DELETE" => unless_new(Rule::Delete, 2),
        "TRUNCATE" => unless_new(Rule::Truncate, skip(t, 1, &["TABLE"])),
        "DROP" => {
            let mut i = skip(t, 1, &["MATERIALIZED"]);
            i = skip(t, i + 1, &["CONCURRENTLY"]);
            let names = list_after(t, i);
            (names.is_empty() || !names.iter().all(|n| created.contains(n))).then_some(Rule::Drop)
        }
        "WITH" => {
            // A data-modifying CTE or main statement follows a parenthesis.
            let verb = t.windows(2).find_map(|p| {
                let after = matches!(p[0].kind, TokenKind::OpenParen | TokenKind::CloseParen);
                match word(p, 1).as_str() {
                    "DELETE" if after => Some(Rule::Delete),
                    "UPDATE" | "MERGE" if after => Some(Rule::Update),
                    _ => None,
                }
            });
            verb.or(has_pair(t, "DO", "UPDATE").then_some(Rule::Update))
        }
        "MERGE" => Some(Rule::Update),
        "RENAME" => Some(Rule::Rename),
        "LOCK" => Some(Rule::Lock),
        "CLUSTER" => Some(Rule::Rewrite),
        "REINDEX" => (!has(t, "CONCURRENTLY")).then_some(Rule::Rewrite),
        "VACUUM" => has(t, "FULL").then_some(Rule::Rewrite),
        "REFRESH" => (!has(t, "CONCURRENTLY")).then_some(Rule::Rewrite),
        "REVOKE" => Some(Rule::Revoke),
        "DO" | "CALL" | "EXECUTE" => Some(Rule::Opaque),
        "SELECT" | "VALUES" | "TABLE" | "COMMENT" | "GRANT" | "ANALYZE" | "ANALYSE" | "SET"
        | "RESET" | "PRAGMA" | "NOTIFY" | "BEGIN" | "COMMIT" | "END" | "ROLLBACK" | "SAVEPOINT"
        | "RELEASE" | "START" => None,
        _ => Some(Rule::Unknown),
    }
}

/// The comma-separated names from `i` on (after `IF EXISTS`).
fn list_after(t: &[Token<'_>], i: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = skip(t, i, &["IF", "EXISTS"]);
    while let Some((name, next)) = name_at(t, i) {
        out.push(name);
        if t.get(next).is_some_and(|x| x.text == ",") {
            i = next + 1;
        } else {
            break;
        }
    }
    out
}

fn check_create(t: &[Token<'_>], dialect: Dialect, created: &mut BTreeSet<String>) -> Option<Rule> {
    if has_pair(t, "OR", "REPLACE") && word(t, 1) == "OR" {
        return Some(Rule::Replace);
    }
    let mut i = 1;
    while matches!(
        word(t, i).as_str(),
        "TEMP" | "TEMPORARY" | "UNLOGGED" | "GLOBAL" | "LOCAL" | "UNIQUE" | "MATERIALIZED"
    ) {
        i += 1;
    }
    match word(t, i).as_str() {
        "INDEX" => {
            let concurrently = word(t, i + 1) == "CONCURRENTLY";
            let on = t.iter().position(|x| x.is_word("ON"))?;
            let table = target(t, on + 1).map(|(n, _)| n);
            let name_at = i + 1 + usize::from(concurrently);
            if let Some((name, _)) = target(t, name_at).filter(|_| on > name_at) {
                created.insert(name);
            }
            let new_table = table.is_some_and(|n| created.contains(&n));
            (!concurrently && !new_table && dialect == Dialect::Postgres)
                .then_some(Rule::IndexNotConcurrent)
        }
        "TABLE" | "VIEW" | "SEQUENCE" | "TYPE" | "TRIGGER" | "FUNCTION" => {
            if let Some((name, _)) = target(t, i + 1) {
                created.insert(name);
            }
            None
        }
        _ => None,
    }
}

fn check_alter(t: &[Token<'_>], dialect: Dialect, created: &BTreeSet<String>) -> Option<Rule> {
    let object = word(t, 1);
    let Some((name, after)) = target(t, 2) else {
        return Some(Rule::Unknown);
    };
    if created.contains(&name) {
        return None;
    }
    match object.as_str() {
        "TABLE" => {}
        "TYPE" if has_pair(t, "ADD", "VALUE") => return None,
        _ if has(t, "RENAME") => return Some(Rule::Rename),
        _ => return Some(Rule::Unknown),
    }
    let mut depth = 0usize;
    let mut actions: Vec<Vec<Token<'_>>> = vec![Vec::new()];
    for tok in &t[after..] {
        match tok.kind {
            TokenKind::OpenParen => depth += 1,
            TokenKind::CloseParen => depth = depth.saturating_sub(1),
            _ if depth == 0 && tok.text == "," => {
                actions.push(Vec::new());
                continue;
            }
            _ => {}
        }
        if let Some(a) = actions.last_mut() {
            a.push(*tok);
        }
    }
    actions.iter().find_map(|a| alter_table_action(a, dialect))
}

/// Why one action of `ALTER TABLE name ...` may not run in a pre step.
fn alter_table_action(a: &[Token<'_>], dialect: Dialect) -> Option<Rule> {
    match word(a, 0).as_str() {
        "ADD" => {
            let i = skip(a, 1, &["CONSTRAINT"]);
            let i = if i > 1 { i + 1 } else { i };
            match word(a, i).as_str() {
                "FOREIGN" => (!has_pair(a, "NOT", "VALID")).then_some(Rule::ForeignKeyNotValid),
                "CHECK" => (!has_pair(a, "NOT", "VALID")).then_some(Rule::CheckNotValid),
                "UNIQUE" | "PRIMARY" => {
                    (!has_pair(a, "USING", "INDEX")).then_some(Rule::IndexNotConcurrent)
                }
                "EXCLUDE" => Some(Rule::IndexNotConcurrent),
                _ => {
                    let i = skip(a, skip(a, 1, &["COLUMN"]), &["IF", "NOT", "EXISTS"]);
                    column_definition(&a[(i + 1).min(a.len())..], dialect)
                }
            }
        }
        "DROP" => Some(Rule::Drop),
        "RENAME" => Some(Rule::Rename),
        "VALIDATE" => None,
        "ALTER" => {
            let rest = a.get(skip(a, 1, &["COLUMN"]) + 1..).unwrap_or(&[]);
            if word(rest, 0) == "TYPE" || has_pair(rest, "DATA", "TYPE") {
                Some(Rule::ChangeType)
            } else if has_pair(rest, "SET", "NOT") {
                Some(Rule::SetNotNull)
            } else {
                Some(Rule::AlterColumn)
            }
        }
        "SET" if word(a, 1) == "SCHEMA" => Some(Rule::Rename),
        "SET" => Some(Rule::Rewrite),
        _ => Some(Rule::Unknown),
    }
}

/// Why a column added to an existing table may not be added in a pre step:
/// `d` is its definition after the name (type, then constraints). SQLite
/// neither locks for nor offers `NOT VALID`: a new column's `REFERENCES` or
/// `CHECK` passes in its reading.
fn column_definition(d: &[Token<'_>], dialect: Dialect) -> Option<Rule> {
    if matches!(
        word(d, 0).as_str(),
        "SERIAL" | "BIGSERIAL" | "SMALLSERIAL" | "SERIAL2" | "SERIAL4" | "SERIAL8"
    ) || has(d, "GENERATED")
    {
        return Some(Rule::VolatileDefault);
    }
    let pg = dialect == Dialect::Postgres;
    if pg && has(d, "REFERENCES") {
        return Some(Rule::ForeignKeyNotValid);
    }
    if has(d, "UNIQUE") || has_pair(d, "PRIMARY", "KEY") {
        return Some(Rule::IndexNotConcurrent);
    }
    if pg && has(d, "CHECK") {
        return Some(Rule::CheckNotValid);
    }
    let Some(default) = d.iter().position(|x| x.is_word("DEFAULT")) else {
        return has_pair(d, "NOT", "NULL").then_some(Rule::NotNullWithoutDefault);
    };
    const STABLE: [&str; 3] = ["CAST", "NOW", "COALESCE"];
    let called = d[default + 1..].windows(2).any(|p| {
        p[0].kind == TokenKind::Word
            && p[1].kind == TokenKind::OpenParen
            && !STABLE.iter().any(|s| p[0].is_word(s))
    });
    called.then_some(Rule::VolatileDefault)
}

#[cfg(test)]
#[path = "pre_lint_tests.rs"]
mod tests;
