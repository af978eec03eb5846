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
    tokens(sql, dialect).collect()
}

/// The tokens of `sql` one at a time, as [`tokenize`] gives them, without
/// holding them all: each byte is scanned a bounded number of times.
pub fn tokens(sql: &str, dialect: Dialect) -> Tokens<'_> {
    Tokens {
        sql,
        dialect,
        pos: 0,
        line: 1,
    }
}

/// The iterator of [`tokens`].
#[derive(Debug, Clone)]
pub struct Tokens<'a> {
    sql: &'a str,
    dialect: Dialect,
    pos: usize,
    line: usize,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let bytes = self.sql.as_bytes();
        let start = self.pos;
        while self.pos < bytes.len() && bytes[self.pos].is_ascii_whitespace() {
            if bytes[self.pos] == b'\n' {
                self.line += 1;
            }
            self.pos += 1;
        }
        if self.pos >= bytes.len() {
            crate::model::op_count::tick(self.pos - start);
            return None;
        }
        let pos = self.pos;
        let (kind, end, closed) = scan(self.sql, pos, self.dialect);
        let text = &self.sql[pos..end];
        let token = Token {
            kind,
            text,
            offset: pos,
            line: self.line,
            closed,
        };
        self.line += crate::model::line_index::count_newlines(text.as_bytes());
        self.pos = end;
        crate::model::op_count::tick(end - start);
        Some(token)
    }
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

/// The `$tag$` opening a dollar quote at `pos`, if there is one there. Only
/// the tag's own bytes are looked at (a `$1` parameter does not send a search
/// through the rest of the script).
fn dollar_tag(sql: &str, pos: usize) -> Option<&str> {
    let bytes = sql.as_bytes();
    let mut i = pos + 1;
    while let Some(&b) = bytes.get(i) {
        crate::model::op_count::tick(1);
        if b == b'$' {
            return Some(&sql[pos..=i]);
        }
        let tag_byte = b.is_ascii_alphabetic()
            || b == b'_'
            || b >= 0x80
            || (i > pos + 1 && b.is_ascii_digit());
        if !tag_byte {
            return None;
        }
        i += 1;
    }
    None
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
/// `CREATE RULE ... DO (a; b)`) or inside a body that `CREATE [TEMP] TRIGGER
/// ... BEGIN` (SQLite) or `BEGIN ATOMIC` (PostgreSQL) opens; such a body ends
/// at the `END` that starts a statement inside it, so `CASE ... END` does not
/// close it.
pub fn statements<'a>(sql: &'a str, dialect: Dialect) -> Vec<Statement<'a>> {
    let mut splitter = Splitter::new(sql);
    let mut out: Vec<Statement<'a>> = tokens(sql, dialect)
        .filter_map(|t| splitter.push(t))
        .collect();
    out.extend(splitter.finish());
    out
}

/// [`statements`] from the tokens [`tokenize`] gave for `sql`.
pub fn split_statements<'a>(sql: &'a str, tokens: &[Token<'a>]) -> Vec<Statement<'a>> {
    let mut splitter = Splitter::new(sql);
    let mut out: Vec<Statement<'a>> = tokens.iter().filter_map(|t| splitter.push(*t)).collect();
    out.extend(splitter.finish());
    out
}

/// The words that may come between `CREATE` and `TRIGGER`.
const TRIGGER_MODIFIERS: [&str; 5] = ["TEMP", "TEMPORARY", "OR", "REPLACE", "CONSTRAINT"];

/// Splits a stream of tokens into statements as [`statements`] does, one
/// token at a time: only the tokens of the current statement are held, and
/// each token costs O(1).
#[derive(Debug)]
pub struct Splitter<'a> {
    sql: &'a str,
    current: Vec<Token<'a>>,
    depth: usize,
    /// Inside a trigger or atomic body: whether the next token starts a statement.
    body: Option<bool>,
    /// The current statement so far is `CREATE [TEMP|TEMPORARY] [OR REPLACE]
    /// [CONSTRAINT]` (`Some(true)` once `TRIGGER` follows).
    head: Option<bool>,
    /// The previous token (comments aside) was `BEGIN` opening a body.
    pending_begin: bool,
}

impl<'a> Splitter<'a> {
    /// A splitter of the tokens of `sql`.
    pub fn new(sql: &'a str) -> Self {
        Splitter {
            sql,
            current: Vec::new(),
            depth: 0,
            body: None,
            head: None,
            pending_begin: false,
        }
    }

    /// Takes the next token of the script; returns the statement it ends, if any.
    pub fn push(&mut self, token: Token<'a>) -> Option<Statement<'a>> {
        if token.is_comment() {
            return None;
        }
        // A `BEGIN` seen last time opens a body if this is ATOMIC, or if the
        // statement is a trigger.
        if std::mem::take(&mut self.pending_begin) {
            if token.is_word("ATOMIC") {
                self.body = Some(true);
                self.current.push(token);
                return None;
            }
            if self.head == Some(true) {
                self.body = Some(true);
            }
        }
        match token.kind {
            TokenKind::OpenParen => self.depth += 1,
            TokenKind::CloseParen => self.depth = self.depth.saturating_sub(1),
            _ => {}
        }
        if token.kind == TokenKind::Semicolon && self.depth == 0 {
            if self.body.is_none() {
                return self.take(token.offset + 1);
            }
            self.body = Some(true);
            self.current.push(token);
            return None;
        }
        self.head = match self.head {
            _ if self.current.is_empty() => token.is_word("CREATE").then_some(false),
            Some(false) if token.is_word("TRIGGER") => Some(true),
            Some(false) if TRIGGER_MODIFIERS.iter().any(|w| token.is_word(w)) => Some(false),
            Some(true) => Some(true),
            _ => None,
        };
        match self.body {
            Some(true) if token.is_word("END") => self.body = None,
            Some(_) => self.body = Some(false),
            None if token.is_word("BEGIN") && self.is_create() => self.pending_begin = true,
            None => {}
        }
        self.current.push(token);
        None
    }

    /// Whether the current statement is a `CREATE` statement.
    fn is_create(&self) -> bool {
        self.current.first().is_some_and(|t| t.is_word("CREATE"))
    }

    /// The statement ending at `end`, if it has tokens; resets the state.
    fn take(&mut self, end: usize) -> Option<Statement<'a>> {
        self.depth = 0;
        self.body = None;
        self.head = None;
        self.pending_begin = false;
        let tokens = std::mem::take(&mut self.current);
        let first = *tokens.first()?;
        Some(Statement {
            line: first.line,
            offset: first.offset,
            text: &self.sql[first.offset..end],
            tokens,
        })
    }

    /// The last statement, not closed by a `;`, if any.
    pub fn finish(&mut self) -> Option<Statement<'a>> {
        self.take(self.sql.len())
    }
}

#[cfg(test)]
#[path = "sql_text_tests.rs"]
mod tests;
