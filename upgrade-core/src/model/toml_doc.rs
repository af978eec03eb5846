//! Reading TOML files of the tree with line numbers in every error.

use toml_edit::{Document, Item, Table};

use crate::model::line_index::LineIndex;
use crate::model::tree_error::{TreeError, TreeErrorKind, line_of};

/// A parsed TOML file of the tree that remembers its path and text for errors.
pub(crate) struct TomlFile<'a> {
    pub path: &'a str,
    pub text: &'a str,
    pub doc: Document<&'a str>,
    /// Where the lines of `text` start (built once: every entry names its line).
    pub lines: LineIndex,
}

impl<'a> TomlFile<'a> {
    pub fn parse(path: &'a str, text: &'a str) -> Result<Self, TreeError> {
        let doc = Document::parse(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            let err = TreeError::new(path, TreeErrorKind::Toml(e.message().trim().to_string()));
            match line {
                Some(l) => err.at_line(l),
                None => err,
            }
        })?;
        Ok(TomlFile {
            path,
            text,
            doc,
            lines: LineIndex::new(text),
        })
    }

    /// An error about `item` (at its line when it has a span).
    pub fn field_error(&self, item: Option<&Item>, message: String) -> TreeError {
        let err = TreeError::new(self.path, TreeErrorKind::Field(message));
        match item.and_then(Item::span) {
            Some(span) => err.at_line(self.lines.line_of(span.start)),
            None => err,
        }
    }

    /// An entry error at the line of a table.
    pub fn entry_error(&self, table: &Table, message: String) -> TreeError {
        let err = TreeError::new(self.path, TreeErrorKind::Entry(message));
        match table.span() {
            Some(span) => err.at_line(self.lines.line_of(span.start)),
            None => err,
        }
    }

    /// The line of a table, when known.
    pub fn line_of_table(&self, table: &Table) -> Option<usize> {
        table.span().map(|s| self.lines.line_of(s.start))
    }

    /// A required string field of `table` (named `where_` in messages).
    pub fn string(&self, table: &Table, key: &str, where_: &str) -> Result<String, TreeError> {
        match table.get(key) {
            Some(item) => item.as_str().map(str::to_string).ok_or_else(|| {
                self.field_error(Some(item), format!("`{key}` in {where_} must be a string"))
            }),
            None => Err(self
                .field_error(None, format!("{where_} has no `{key}`"))
                .at_line_opt(self.line_of_table(table))),
        }
    }

    /// An optional string field.
    #[allow(dead_code)]
    pub fn opt_string(
        &self,
        table: &Table,
        key: &str,
        where_: &str,
    ) -> Result<Option<String>, TreeError> {
        match table.get(key) {
            Some(_) => self.string(table, key, where_).map(Some),
            None => Ok(None),
        }
    }
}

impl TreeError {
    pub(crate) fn at_line_opt(self, line: Option<usize>) -> Self {
        match line {
            Some(l) => self.at_line(l),
            None => self,
        }
    }
}

/// Decodes bytes as UTF-8 or says where they are not.
pub(crate) fn utf8(path: &str, bytes: Vec<u8>) -> Result<String, TreeError> {
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(&e.into_bytes()[..offset]).into_owned();
        TreeError::new(path, TreeErrorKind::NotUtf8 { offset }).at_line(line_of(&text, offset))
    })
}
