//! A quick read of a component's `db/upgrade.toml` for `status` of a site
//! that completed a release: when every `[[step]]` entry of the file is
//! tagged with that release or an earlier one, the entries are taken from
//! their `name`, `release`, `phase` and `checksum` lines only. Their SQL is
//! neither parsed, checked nor hashed: it never runs on that site (P1), and
//! its ledger rows are covered by the release.
//!
//! This reader gives up ([`None`]) on anything it does not recognise with
//! certainty: an entry tagged with a later or unknown release, `requires`,
//! a key it does not know, escapes or quoting it does not handle, anything
//! outside an entry. The caller then parses the whole file as usual
//! ([`super::upgrade_file::parse`]), with all its checks and messages, so a
//! pending entry (an edited one, one tagged with an unknown release) is
//! always read in full.

use crate::model::component::ComponentName;
use crate::model::line_index::count_newlines;
use crate::model::op_count::tick;
use crate::model::release_name::ReleaseName;
use crate::model::step::{Body, Checksum, DATABASES, Origin, Phase, Step, StepKey};
use crate::model::step_name::StepName;

/// Appends the entries of `text` to `steps` as steps whose body is not
/// read (empty; checksum as recorded), if every entry is tagged with a
/// release `covered` accepts and the file is laid out as `consolidate
/// release` writes it; else leaves `steps` as it was and returns `None`.
///
/// The steps go straight into the caller's list: a site's 100,000 released
/// entries are built once, in place, not in a list per file then copied.
pub fn read_covered(
    path: &str,
    text: &str,
    component: &ComponentName,
    covered: &dyn Fn(&ReleaseName) -> bool,
    steps: &mut Vec<Step>,
) -> Option<()> {
    let before = steps.len();
    // The entries share the path and each run of one release its name.
    let shared_path = std::sync::Arc::new(path.to_string());
    let mut last_release: Option<ReleaseName> = None;
    // Entries come in file order: lines are counted forward, once.
    let mut line = (0, 1);
    let read = Scanner::new(text).entries(|entry| {
        let (from, at) = line;
        let start = entry.start.clamp(from, text.len());
        line = (start, at + count_newlines(&text.as_bytes()[from..start]));
        // A run of entries of one release is checked once.
        let release = match &last_release {
            Some(last) if Some(last.as_str()) == entry.release => last.clone(),
            _ => {
                let release = ReleaseName::parse(entry.release?).ok()?;
                if !covered(&release) {
                    return None;
                }
                last_release.insert(release).clone()
            }
        };
        if !entry.sql {
            return None;
        }
        let checksum = Checksum::from_recorded(entry.checksum?)?;
        steps.push(Step {
            key: StepKey {
                component: component.clone(),
                name: StepName::parse(entry.name?).ok()?,
            },
            phase: Phase::parse(entry.phase?)?,
            requires: Default::default(),
            transaction: entry.transaction,
            batch: None,
            body: Body::Any(Box::default()),
            edited: None,
            checksum,
            origin: Origin::Released {
                release,
                file: shared_path.clone(),
                line: u32::try_from(line.1).ok(),
            },
        });
        Some(())
    });
    if read.is_none() {
        steps.truncate(before);
    }
    read
}

/// What the quick read takes from one `[[step]]` entry.
#[derive(Debug, Default)]
struct Entry<'a> {
    start: usize,
    name: Option<&'a str>,
    release: Option<&'a str>,
    phase: Option<&'a str>,
    checksum: Option<&'a str>,
    transaction: bool,
    sql: bool,
}

struct Scanner<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Self {
        Scanner {
            text,
            b: text.as_bytes(),
            i: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn starts(&self, s: &str) -> bool {
        self.b
            .get(self.i..)
            .is_some_and(|rest| rest.starts_with(s.as_bytes()))
    }

    fn skip_blank(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn skip_comment(&mut self) {
        let rest = self.b.get(self.i..).unwrap_or_default();
        self.i += memchr::memchr(b'\n', rest).unwrap_or(rest.len());
    }

    /// Blanks, an optional comment, then the end of the line (consumed).
    fn line_end(&mut self) -> Option<()> {
        self.skip_blank();
        if self.peek() == Some(b'#') {
            self.skip_comment();
        }
        if self.peek() == Some(b'\r') {
            self.i += 1;
        }
        match self.peek() {
            None => Some(()),
            Some(b'\n') => {
                self.i += 1;
                Some(())
            }
            Some(_) => None,
        }
    }

    /// Hands every entry to `each` once it is complete, in file order;
    /// `None` when the layout is not one this reader knows or `each` gives up.
    fn entries(mut self, mut each: impl FnMut(&Entry<'a>) -> Option<()>) -> Option<()> {
        // The entry being read; handed over when the next one starts.
        let mut entry: Option<Entry<'a>> = None;
        let mut in_sql_table = false;
        loop {
            while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
                self.i += 1;
            }
            let Some(c) = self.peek() else {
                break;
            };
            tick(1);
            if c == b'#' {
                self.skip_comment();
                continue;
            }
            if c == b'[' {
                let start = self.i;
                let double = self.starts("[[");
                let open = if double { 2 } else { 1 };
                let close = if double { "]]" } else { "]" };
                let rest = self.text.get(self.i + open..)?;
                // `]` is ASCII: its first byte is where `]` or `]]` starts.
                let end = memchr::memchr(b']', rest.as_bytes())?;
                if !rest[end..].starts_with(close) {
                    return None;
                }
                let header = rest[..end].trim();
                if rest[..end].contains('\n') {
                    return None;
                }
                self.i += open + end + close.len();
                self.line_end()?;
                if double && header == "step" {
                    if let Some(done) = entry.replace(Entry {
                        start,
                        transaction: true,
                        ..Entry::default()
                    }) {
                        each(&done)?;
                    }
                    in_sql_table = false;
                } else if !double && header == "step.sql" {
                    let entry = entry.as_mut()?;
                    if entry.sql {
                        return None;
                    }
                    entry.sql = true;
                    in_sql_table = true;
                } else {
                    return None;
                }
                continue;
            }
            let key = match self.written_key() {
                Some(key) => key,
                None => {
                    let key_start = self.i;
                    while matches!(self.peek(), Some(b) if b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                    {
                        self.i += 1;
                    }
                    let key = self.text.get(key_start..self.i)?;
                    self.skip_blank();
                    if key.is_empty() || self.peek() != Some(b'=') {
                        return None;
                    }
                    self.i += 1;
                    key
                }
            };
            self.skip_blank();
            let entry = entry.as_mut()?;
            if in_sql_table {
                if !DATABASES.contains(&key) {
                    return None;
                }
                self.skip_value()?;
            } else {
                match key {
                    "name" => set(&mut entry.name, self.plain_string()?)?,
                    "release" => set(&mut entry.release, self.plain_string()?)?,
                    "phase" => set(&mut entry.phase, self.plain_string()?)?,
                    "checksum" => set(&mut entry.checksum, self.plain_string()?)?,
                    "transaction" => {
                        entry.transaction = if self.starts("true") {
                            true
                        } else if self.starts("false") {
                            false
                        } else {
                            return None;
                        };
                        self.i += if entry.transaction { 4 } else { 5 };
                    }
                    "sql" => {
                        if entry.sql {
                            return None;
                        }
                        entry.sql = true;
                        self.skip_value()?;
                    }
                    "batch" => {
                        self.plain_string()?;
                    }
                    _ => return None,
                }
            }
            self.line_end()?;
        }
        match entry {
            Some(last) => each(&last),
            None => Some(()),
        }
    }

    /// A key spelled as `consolidate release` writes it, with its ` = `,
    /// taken whole (one comparison instead of a byte at a time); any other
    /// spelling is left to the general reading.
    fn written_key(&mut self) -> Option<&'static str> {
        let rest = self.b.get(self.i..)?;
        let key = match rest.first()? {
            b'n' => "name",
            b'r' => "release",
            b'p' => "phase",
            b'c' => "checksum",
            b's' => "sql",
            _ => return None,
        };
        let written = rest
            .strip_prefix(key.as_bytes())
            .is_some_and(|after| after.starts_with(b" = "));
        written.then(|| {
            self.i += key.len() + 3;
            key
        })
    }

    /// A one-line `"..."` string without escapes.
    fn plain_string(&mut self) -> Option<&'a str> {
        if self.peek() != Some(b'"') || self.starts("\"\"\"") {
            return None;
        }
        let rest = self.text.get(self.i + 1..)?;
        // Bytes, not chars: the three are ASCII, never inside a longer one.
        let end = memchr::memchr3(b'"', b'\\', b'\n', rest.as_bytes())?;
        if rest.as_bytes()[end] != b'"' {
            return None;
        }
        self.i += end + 2;
        Some(&rest[..end])
    }

    /// Skips a value: a string of any kind, or an inline table or array of
    /// them; stops right after it.
    fn skip_value(&mut self) -> Option<()> {
        let mut depth = 0usize;
        let start = self.i;
        loop {
            match self.peek()? {
                q @ (b'"' | b'\'') => self.skip_string(q)?,
                b'[' | b'{' => {
                    depth += 1;
                    self.i += 1;
                }
                b']' | b'}' => {
                    depth = depth.checked_sub(1)?;
                    self.i += 1;
                }
                b'#' if depth > 0 => self.skip_comment(),
                _ if depth == 0 => return None,
                _ => self.i += 1,
            }
            if depth == 0 {
                tick((self.i - start).div_ceil(64));
                return Some(());
            }
        }
    }

    /// Skips one string starting with `quote` (basic or literal, one-line or
    /// multi-line).
    fn skip_string(&mut self, quote: u8) -> Option<()> {
        let escapes = quote == b'"';
        let triple = if escapes { "\"\"\"" } else { "'''" };
        if self.starts(triple) {
            self.i += 3;
            loop {
                // Straight to the next quote or escape: every other byte
                // (most of a step's SQL) is just passed.
                let rest = self.b.get(self.i..)?;
                self.i += if escapes {
                    memchr::memchr2(quote, b'\\', rest)?
                } else {
                    memchr::memchr(quote, rest)?
                };
                if escapes && self.peek() == Some(b'\\') {
                    self.i += 2;
                } else if self.starts(triple) {
                    self.i += 3;
                    // Up to two quotes may close the string too: leave that to the parser.
                    return (self.peek() != Some(quote)).then_some(());
                } else {
                    self.i += 1;
                }
            }
        }
        self.i += 1;
        loop {
            let rest = self.b.get(self.i..)?;
            self.i += memchr::memchr3(quote, b'\n', b'\\', rest)?;
            match self.peek()? {
                b'\\' if escapes => self.i += 2,
                c if c == quote => {
                    self.i += 1;
                    return Some(());
                }
                // A line end, or `\` in a literal string where it is just a byte.
                b'\n' => return None,
                _ => self.i += 1,
            }
        }
    }
}

/// Sets a field read once; a second one is left to the parser.
fn set<'a>(field: &mut Option<&'a str>, value: &'a str) -> Option<()> {
    match field {
        Some(_) => None,
        None => {
            *field = Some(value);
            Some(())
        }
    }
}

#[cfg(test)]
mod tests;
