//! The batch declaration of a `post` step (`-- batch: TABLE.COLUMN SIZE`):
//! parsing and validating it, finding the `:lo` / `:hi` placeholders of its
//! body with the SQL tokenizer (never inside a string, an identifier or a
//! comment), rewriting them as PostgreSQL parameters, and the range
//! arithmetic of walking `[key_min, key_max]` in ranges of `SIZE` keys
//! without overflowing near `i64::MAX`.

use std::fmt;

use crate::model::sql_text::{Dialect, Statement, TokenKind, statements, tokenize};

/// `-- batch: TABLE.COLUMN SIZE`: the step walks the integer key `COLUMN` of
/// `TABLE` in ranges of `SIZE` keys, each range bound to `:lo` and `:hi`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Batch {
    /// The table (a plain identifier).
    pub table: String,
    /// The integer key column (a plain identifier).
    pub column: String,
    /// Keys per range (positive).
    pub size: i64,
}

impl Batch {
    /// Parses `TABLE.COLUMN SIZE` (the text after `batch:`); the error says
    /// what is wrong.
    pub fn parse(text: &str) -> Result<Batch, String> {
        let usage = "write `TABLE.COLUMN SIZE`, e.g. `forum_posts.id 1000`";
        let mut parts = text.split_whitespace();
        let (Some(target), Some(size), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!(
                "batch `{text}` is not `TABLE.COLUMN SIZE`: {usage}"
            ));
        };
        let Some((table, column)) = target.split_once('.') else {
            return Err(format!("batch `{target}` names no column: {usage}"));
        };
        for (what, name) in [("table", table), ("column", column)] {
            if !is_plain_identifier(name) {
                return Err(format!(
                    "batch {what} `{name}` is not a plain identifier (letters, digits and _, not starting with a digit): {usage}"
                ));
            }
        }
        let size = size
            .parse::<i64>()
            .ok()
            .filter(|s| *s > 0 && size.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| format!("batch size `{size}` is not a positive integer: {usage}"))?;
        Ok(Batch {
            table: table.to_string(),
            column: column.to_string(),
            size,
        })
    }

    /// The SQL reading the key range once, as two BIGINTs (NULL for an empty table).
    pub fn bounds_sql(&self) -> String {
        format!(
            "SELECT CAST(min({c}) AS BIGINT), CAST(max({c}) AS BIGINT) FROM {t}",
            c = self.column,
            t = self.table
        )
    }
}

impl fmt::Display for Batch {
    /// `TABLE.COLUMN SIZE`, as written in a header and in an upgrade.toml entry.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{} {}", self.table, self.column, self.size)
    }
}

/// ASCII letters, digits and `_`, not starting with a digit, at most 63 bytes.
pub fn is_plain_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.as_bytes()[0].is_ascii_digit()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A `:lo` or `:hi` placeholder: its byte offset (of the `:`) and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placeholder {
    /// Byte offset of the `:` in the text.
    pub offset: usize,
    /// `lo` or `hi`.
    pub name: &'static str,
}

/// The `:lo` / `:hi` placeholders of `sql` as `dialect` reads it: a `:`
/// directly followed by the word `lo` or `hi`, not part of a `::` cast, and
/// never inside a string, a quoted identifier or a comment.
pub fn placeholders(sql: &str, dialect: Dialect) -> Vec<Placeholder> {
    let tokens = tokenize(sql, dialect);
    let mut out = Vec::new();
    for (i, pair) in tokens.windows(2).enumerate() {
        let (colon, word) = (pair[0], pair[1]);
        if colon.kind != TokenKind::Other
            || colon.text != ":"
            || word.kind != TokenKind::Word
            || word.offset != colon.offset + 1
        {
            continue;
        }
        let cast = i > 0 && {
            let before = tokens[i - 1];
            before.text == ":" && before.offset + 1 == colon.offset
        };
        let name = match word.text {
            "lo" => "lo",
            "hi" => "hi",
            _ => continue,
        };
        if !cast {
            out.push(Placeholder {
                offset: colon.offset,
                name,
            });
        }
    }
    out
}

/// Which of `:lo` and `:hi` are missing from a batched body (empty when both appear).
pub fn missing_placeholders(sql: &str, dialect: Dialect) -> Vec<&'static str> {
    let found = placeholders(sql, dialect);
    ["lo", "hi"]
        .into_iter()
        .filter(|n| !found.iter().any(|p| p.name == *n))
        .collect()
}

/// One statement of a batched body ready for PostgreSQL: `:lo` / `:hi`
/// replaced by `CAST($n AS BIGINT)`, and which value each `$n` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundStatement {
    /// The rewritten statement text.
    pub sql: String,
    /// `params[n - 1]` is the placeholder `$n` stands for (`lo` or `hi`).
    pub params: Vec<&'static str>,
}

/// Splits a batched body into PostgreSQL statements with numbered parameters
/// (numbered per statement, so each statement binds only what it uses).
pub fn bind_postgres(sql: &str) -> Vec<BoundStatement> {
    statements(sql, Dialect::Postgres)
        .iter()
        .map(bind_statement)
        .collect()
}

fn bind_statement(statement: &Statement<'_>) -> BoundStatement {
    let text = statement.text;
    let mut params: Vec<&'static str> = Vec::new();
    let mut out = String::with_capacity(text.len() + 16);
    let mut cursor = 0;
    for p in placeholders(text, Dialect::Postgres) {
        let n = match params.iter().position(|q| *q == p.name) {
            Some(i) => i + 1,
            None => {
                params.push(p.name);
                params.len()
            }
        };
        out.push_str(&text[cursor..p.offset]);
        out.push_str(&format!("CAST(${n} AS BIGINT)"));
        cursor = p.offset + 1 + p.name.len();
    }
    out.push_str(&text[cursor..]);
    BoundStatement { sql: out, params }
}

/// The range `[lo, hi]` that starts at `lo` for a key range ending at
/// `key_max` with `size` keys per range: `hi = min(lo + size - 1, key_max)`,
/// saturating (no overflow near `i64::MAX`).
pub fn range_at(lo: i64, size: i64, key_max: i64) -> (i64, i64) {
    let hi = lo.saturating_add(size.max(1) - 1).min(key_max);
    (lo, hi)
}

/// The start of the range after `[_, hi]`, or `None` when `hi` is the last key.
pub fn next_lo(hi: i64, key_max: i64) -> Option<i64> {
    if hi >= key_max {
        None
    } else {
        hi.checked_add(1)
    }
}

/// How many ranges of `size` keys cover `[key_min, key_max]` (0 for an empty
/// table, i.e. no bounds), computed in 128 bits.
pub fn range_count(bounds: Option<(i64, i64)>, size: i64) -> u64 {
    let Some((min, max)) = bounds else {
        return 0;
    };
    if max < min {
        return 0;
    }
    let span = i128::from(max) - i128::from(min) + 1;
    let size = i128::from(size.max(1));
    u64::try_from((span + size - 1) / size).unwrap_or(u64::MAX)
}

/// The start of the range that contains `key`, on the grid `key_min + k * size`.
pub fn grid_lo(key: i64, key_min: i64, size: i64) -> i64 {
    let offset = i128::from(key) - i128::from(key_min);
    let size = i128::from(size.max(1));
    let lo = i128::from(key_min) + offset.div_euclid(size) * size;
    i64::try_from(lo).unwrap_or(key_min)
}

#[cfg(test)]
mod tests;
