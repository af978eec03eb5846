//! SQL text as SQLite and PostgreSQL read it: a small tokenizer (strings,
//! quoted identifiers, dollar quotes, comments) with 1-based line numbers, and
//! the splitting of a script into statements the way the servers do.
//!
//! This is not a parser: it knows exactly as much SQL as is needed to say
//! where each statement starts and ends and what its first words are, without
//! being fooled by a `;` or an `END` inside a string, a comment, a
//! parenthesised `CREATE RULE` action, a SQLite `CREATE TRIGGER ... BEGIN ...
//! END` body or a PostgreSQL `BEGIN ATOMIC ... END` body.
//!
//! Assumptions: PostgreSQL runs with `standard_conforming_strings = on` (the
//! default since 9.1), so a backslash escapes only inside `E'...'` strings.

/// Which server's lexical rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// SQLite: `[ident]` and `` `ident` `` quoting, block comments do not nest,
    /// no dollar quotes, no `E'...'` strings.
    Sqlite,
    /// PostgreSQL: dollar quotes, `E'...'` strings with backslash escapes,
    /// nested block comments.
    Postgres,
}

impl Dialect {
    /// Both dialects, for a body that runs on every database.
    pub const ALL: [Dialect; 2] = [Dialect::Sqlite, Dialect::Postgres];

    /// The dialect of a database name (`sqlite`, `postgres`).
    pub fn of_database(database: &str) -> Option<Dialect> {
        match database {
            "sqlite" => Some(Dialect::Sqlite),
            "postgres" => Some(Dialect::Postgres),
            _ => None,
        }
    }
}

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A keyword or unquoted identifier (or a number: digits are word characters).
    Word,
    /// A `"quoted"` identifier (also `[x]` and `` `x` `` in SQLite).
    QuotedIdent,
    /// A `'string'` literal, including `E'...'` in PostgreSQL (the prefix is part of it).
    String,
    /// A PostgreSQL `$tag$ ... $tag$` string.
    DollarString,
    /// A `-- comment` up to (not including) the end of its line.
    LineComment,
    /// A `/* comment */`.
    BlockComment,
    /// `;`
    Semicolon,
    /// `(`
    OpenParen,
    /// `)`
    CloseParen,
    /// Any other character (operators, commas, parameters' `$`...).
    Other,
}

/// One token of a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// What it is.
    pub kind: TokenKind,
    /// Its text, exactly as written.
    pub text: &'a str,
    /// Its byte offset in the script.
    pub offset: usize,
    /// The 1-based line it starts on.
    pub line: usize,
    /// False for a string, identifier or comment that runs to the end of the
    /// script without being closed.
    pub closed: bool,
}

impl Token<'_> {
    /// Whether it is a comment.
    pub fn is_comment(&self) -> bool {
        matches!(self.kind, TokenKind::LineComment | TokenKind::BlockComment)
    }

    /// Whether it is the word `keyword` (ASCII case-insensitive).
    pub fn is_word(&self, keyword: &str) -> bool {
        self.kind == TokenKind::Word && self.text.eq_ignore_ascii_case(keyword)
    }

    /// Whether its text may hold a line break that is data, not layout: a
    /// string, a quoted identifier or a dollar-quoted string.
    pub fn is_quoted(&self) -> bool {
        matches!(
            self.kind,
            TokenKind::String | TokenKind::QuotedIdent | TokenKind::DollarString
        )
    }
}

/// Splits `sql` into tokens; white space is skipped. Never fails: an unclosed
/// string or comment is one token running to the end (`closed` is false).
pub fn tokenize(sql: &str, dialect: Dialect) -> Vec<Token<'_>> {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut pos = 0;
    let mut line = 1;
    while pos < bytes.len() {
        let b = bytes[pos];
        if b.is_ascii_whitespace() {
            if b == b'\n' {
                line += 1;
            }
            pos += 1;
            continue;
        }
        let (kind, end, closed) = scan(sql, pos, dialect);
        let text = &sql[pos..end];
        tokens.push(Token {
            kind,
            text,
            offset: pos,
            line,
            closed,
        });
        line += text.bytes().filter(|&c| c == b'\n').count();
        pos = end;
    }
    tokens
}

/// The token starting at `pos`: its kind, end offset and whether it is closed.
fn scan(sql: &str, pos: usize, dialect: Dialect) -> (TokenKind, usize, bool) {
    let bytes = sql.as_bytes();
    let at = |i: usize| bytes.get(i).copied();
    let pg = dialect == Dialect::Postgres;
    match bytes[pos] {
        b'-' if at(pos + 1) == Some(b'-') => {
            let end = sql[pos..].find('\n').map_or(sql.len(), |i| pos + i);
            (TokenKind::LineComment, end, true)
        }
        b'/' if at(pos + 1) == Some(b'*') => {
            let (end, closed) = block_comment_end(bytes, pos, pg);
            (TokenKind::BlockComment, end, closed)
        }
        b'\'' => {
            let (end, closed) = quoted_end(bytes, pos + 1, b'\'', false);
            (TokenKind::String, end, closed)
        }
        b'"' => {
            let (end, closed) = quoted_end(bytes, pos + 1, b'"', false);
            (TokenKind::QuotedIdent, end, closed)
        }
        b'`' if !pg => {
            let (end, closed) = quoted_end(bytes, pos + 1, b'`', false);
            (TokenKind::QuotedIdent, end, closed)
        }
        b'[' if !pg => match sql[pos..].find(']') {
            Some(i) => (TokenKind::QuotedIdent, pos + i + 1, true),
            None => (TokenKind::QuotedIdent, sql.len(), false),
        },
        b'e' | b'E' if pg && at(pos + 1) == Some(b'\'') => {
            let (end, closed) = quoted_end(bytes, pos + 2, b'\'', true);
            (TokenKind::String, end, closed)
        }
        b'$' if pg => match dollar_tag(sql, pos) {
            Some(tag) => match sql[pos + tag.len()..].find(tag) {
                Some(i) => (
                    TokenKind::DollarString,
                    pos + tag.len() + i + tag.len(),
                    true,
                ),
                None => (TokenKind::DollarString, sql.len(), false),
            },
            None => (TokenKind::Other, pos + 1, true),
        },
        b';' => (TokenKind::Semicolon, pos + 1, true),
        b'(' => (TokenKind::OpenParen, pos + 1, true),
        b')' => (TokenKind::CloseParen, pos + 1, true),
        b if is_word_byte(b) && b != b'$' => {
            let len = sql[pos..]
                .bytes()
                .position(|c| !is_word_byte(c))
                .unwrap_or(sql.len() - pos);
            (TokenKind::Word, pos + len, true)
        }
        _ => {
            let len = sql[pos..].chars().next().map_or(1, char::len_utf8);
            (TokenKind::Other, pos + len, true)
        }
    }
}

/// Letters, digits, `_`, `$` and every non-ASCII byte: both servers treat
/// bytes above 0x7F as identifier characters.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// The end of a quoted token whose body starts at `from`; a doubled quote is an
/// escaped quote, and with `backslash` a backslash escapes the next byte.
fn quoted_end(bytes: &[u8], from: usize, quote: u8, backslash: bool) -> (usize, bool) {
    let mut i = from;
    while i < bytes.len() {
        let b = bytes[i];
        if backslash && b == b'\\' {
            i += 2;
            continue;
        }
        if b == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return (i + 1, true);
        }
        i += 1;
    }
    (bytes.len(), false)
}

/// The end of a block comment starting at `pos` (which holds `/*`).
fn block_comment_end(bytes: &[u8], pos: usize, nested: bool) -> (usize, bool) {
    let mut depth = 0usize;
    let mut i = pos;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') if nested || depth == 0 => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return (i, true);
                }
            }
            _ => i += 1,
        }
    }
    (bytes.len(), false)
}

/// The `$tag$` opening a dollar quote at `pos`, if there is one there.
fn dollar_tag(sql: &str, pos: usize) -> Option<&str> {
    let rest = &sql[pos + 1..];
    let close = rest.find('$')?;
    let tag = &rest[..close];
    let ok = tag.bytes().enumerate().all(|(i, b)| {
        b.is_ascii_alphabetic() || b == b'_' || b >= 0x80 || (i > 0 && b.is_ascii_digit())
    });
    ok.then(|| &sql[pos..pos + close + 2])
}

/// One statement of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement<'a> {
    /// The 1-based line of its first token.
    pub line: usize,
    /// Its byte offset in the script.
    pub offset: usize,
    /// Its text, from its first token to its closing `;` (included) or the
    /// end of the script.
    pub text: &'a str,
    /// Its tokens without comments and without the closing `;`.
    pub tokens: Vec<Token<'a>>,
}

impl Statement<'_> {
    /// Its first `n` tokens' texts, words in upper case, e.g. `["CREATE",
    /// "UNIQUE", "INDEX"]`.
    pub fn leading_words(&self, n: usize) -> Vec<String> {
        self.tokens
            .iter()
            .take(n)
            .map(|t| match t.kind {
                TokenKind::Word => t.text.to_ascii_uppercase(),
                _ => t.text.to_string(),
            })
            .collect()
    }
}

/// Splits `sql` into the statements the server runs, in order, each with the
/// line it starts on. Empty statements (a lone `;`) and comments between
/// statements are dropped.
///
/// A `;` ends a statement unless it is inside parentheses (PostgreSQL's
/// `CREATE RULE ... DO (a; b)`) or inside a body that `CREATE ... TRIGGER ...
/// BEGIN` (SQLite) or `BEGIN ATOMIC` (PostgreSQL) opens; such a body ends at
/// the `END` that starts a statement inside it, so `CASE ... END` does not
/// close it.
pub fn statements<'a>(sql: &'a str, dialect: Dialect) -> Vec<Statement<'a>> {
    split_statements(sql, &tokenize(sql, dialect))
}

/// [`statements`] from the tokens [`tokenize`] gave for `sql`.
pub fn split_statements<'a>(sql: &'a str, tokens: &[Token<'a>]) -> Vec<Statement<'a>> {
    let tokens: Vec<Token<'a>> = tokens.iter().filter(|t| !t.is_comment()).copied().collect();
    let mut out = Vec::new();
    let mut current: Vec<Token<'a>> = Vec::new();
    let mut depth = 0usize;
    // Inside a trigger or atomic body: whether the next token starts a statement.
    let mut body: Option<bool> = None;
    let finish = |current: &mut Vec<Token<'a>>, end: usize, out: &mut Vec<Statement<'a>>| {
        if let Some(first) = current.first() {
            out.push(Statement {
                line: first.line,
                offset: first.offset,
                text: &sql[first.offset..end],
                tokens: std::mem::take(current),
            });
        }
    };
    for (i, token) in tokens.iter().enumerate() {
        match token.kind {
            TokenKind::OpenParen => depth += 1,
            TokenKind::CloseParen => depth = depth.saturating_sub(1),
            _ => {}
        }
        if token.kind == TokenKind::Semicolon && depth == 0 {
            match body {
                Some(_) => body = Some(true),
                None => {
                    finish(&mut current, token.offset + 1, &mut out);
                    continue;
                }
            }
            current.push(*token);
            continue;
        }
        let after_begin = current.last().is_some_and(|t| t.is_word("BEGIN"));
        match body {
            Some(true) if token.is_word("END") => body = None,
            // `BEGIN ATOMIC`: the body's first statement starts after ATOMIC.
            Some(true) if after_begin && token.is_word("ATOMIC") => {}
            Some(_) => body = Some(false),
            None if token.is_word("BEGIN") && opens_body(&current, tokens.get(i + 1)) => {
                body = Some(true);
            }
            None => {}
        }
        current.push(*token);
    }
    finish(&mut current, sql.len(), &mut out);
    out
}

/// Whether a `BEGIN` after the tokens `before` of a statement opens a body:
/// the statement is a `CREATE ... TRIGGER` or the `BEGIN` is `BEGIN ATOMIC`
/// inside a `CREATE` statement.
fn opens_body(before: &[Token<'_>], next: Option<&Token<'_>>) -> bool {
    let create = before.first().is_some_and(|t| t.is_word("CREATE"));
    create
        && (before.iter().any(|t| t.is_word("TRIGGER"))
            || next.is_some_and(|n| n.is_word("ATOMIC")))
}

#[cfg(test)]
#[path = "sql_text_tests.rs"]
mod tests;
