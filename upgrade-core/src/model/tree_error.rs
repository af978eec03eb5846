//! `TreeError`: why a step tree cannot be read, with the file, the line and the fix.

use std::fmt;

/// A problem with one file of a step tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeError {
    /// The file, relative to the tree root, `/`-separated.
    pub path: String,
    /// The 1-based line, where known.
    pub line: Option<usize>,
    /// What is wrong.
    pub kind: TreeErrorKind,
}

/// What is wrong with a file of the tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeErrorKind {
    /// There is no root manifest.
    #[error("no upgrade.toml with a [project] table here or in any parent folder")]
    NoManifest,
    /// The file could not be read.
    #[error("cannot read: {0}")]
    Io(String),
    /// The file is not UTF-8.
    #[error("the file is not valid UTF-8 (first bad byte at offset {offset})")]
    NotUtf8 {
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// The file is not valid TOML.
    #[error("broken TOML: {0}")]
    Toml(String),
    /// A field of a TOML file is missing or has the wrong type or value.
    #[error("{0}")]
    Field(String),
    /// A file in a `db/upgrades` folder whose name is not `<step name>[.<database>].sql`.
    #[error("`{file}` is not a step file name: {reason}")]
    BadStepFileName {
        /// The file name.
        file: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `db/` folder that belongs to no component the manifest knows.
    #[error("`{folder}` is not the folder of any component the manifest knows")]
    UnknownComponentFolder {
        /// The folder holding `db/`.
        folder: String,
    },
    /// Two steps of one component share a name.
    #[error("step {component}/{name} is defined twice: here and in {other}")]
    DuplicateStep {
        /// The component.
        component: String,
        /// The step name.
        name: String,
        /// Where the other definition is.
        other: String,
    },
    /// A plain `.sql` file beside per-database variants of the same step.
    #[error("step {name} has both a plain .sql file and per-database variants")]
    MixedVariants {
        /// The step name.
        name: String,
    },
    /// A variant for a database the tool does not know.
    #[error("unknown database `{database}` (known: sqlite, postgres)")]
    UnknownDatabase {
        /// The database segment of the file name.
        database: String,
    },
    /// A bad `-- key: value` header line.
    #[error("{0}")]
    Header(String),
    /// Variants of one step declare different headers.
    #[error(
        "the header differs from the one in {other}: variants of one step must declare the same phase, requires and transaction"
    )]
    VariantHeadersDiffer {
        /// The other variant file.
        other: String,
    },
    /// An entry of a release file or a component's upgrade.toml is invalid.
    #[error("{0}")]
    Entry(String),
    /// A path of the tree leads outside the tree root (a symbolic link, or a
    /// manifest folder with `..` or an absolute path).
    #[error("leads outside the tree root: {0}")]
    OutsideRoot(String),
    /// A file or folder that looks like part of the step tree but would not be read.
    #[error("would never be read: {0}")]
    Unseen(String),
    /// A symbolic link where a step tree file or folder must be a plain one.
    #[error("is a symbolic link: {0}")]
    Symlink(String),
    /// The text of a step would run differently from how it reads in an editor
    /// or a diff (hidden characters, a misplaced or misspelled header line...).
    #[error("{problem}")]
    RunsDifferently {
        /// What is wrong, with the line.
        problem: String,
        /// What to do about it.
        fix: String,
    },
    /// A step that runs in a transaction contains a statement that ends,
    /// escapes or cannot run inside that transaction.
    #[error(
        "`{statement}`{within} in a step that runs in a transaction (the default): it ends the transaction or cannot run inside one, so the step would no longer be all-or-nothing"
    )]
    TransactionControl {
        /// What the statement is, e.g. `COMMIT`.
        statement: String,
        /// Where in the text, when the error's line is not enough (empty for a step file).
        within: String,
        /// What to do about it.
        fix: String,
    },
    /// A statement of a `pre` step that drops, renames, rewrites or locks
    /// what the old code uses (see `model/pre_lint.rs`).
    #[error(
        "`{statement}`{within} in a pre step: {}; pre steps run while the old code is online, so they may only add",
        .rule.why()
    )]
    NotAdditive {
        /// The statement, shortened.
        statement: String,
        /// Where in the text, when the error's line is not enough (empty for a step file).
        within: String,
        /// Which rule it breaks: what it does to the old code, and the fix.
        rule: crate::model::pre_lint::Rule,
    },
    /// An install snapshot or baseline that cannot be used as written.
    #[error("{0}")]
    Snapshot(String),
    /// A `db/` folder that belongs to no component of the manifest or of a
    /// plugin-declared type, with what to declare where
    /// (`model/plugin_types.rs`).
    #[error(
        "`{folder}` is not the folder of any component the manifest knows (nor of a plugin type a plugin's db/component.toml declares)"
    )]
    UnknownPluginFolder {
        /// The folder holding `db/`.
        folder: String,
        /// What to declare where.
        fix: String,
    },
}

impl TreeError {
    /// A new error for `path`, without a line.
    pub fn new(path: impl Into<String>, kind: TreeErrorKind) -> Self {
        TreeError {
            path: path.into(),
            line: None,
            kind,
        }
    }

    /// The same error at a 1-based line.
    pub fn at_line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }

    /// What to do about it.
    pub fn hint(&self) -> String {
        match &self.kind {
            TreeErrorKind::NoManifest => "run the command inside a step tree, or pass --root DIR".into(),
            TreeErrorKind::Io(_) => "check that the path exists and is readable".into(),
            TreeErrorKind::NotUtf8 { .. } => "save the file as UTF-8".into(),
            TreeErrorKind::Toml(_) => "fix the TOML syntax at the line shown".into(),
            TreeErrorKind::Field(_) => "fix the field as docs/format.md describes".into(),
            TreeErrorKind::BadStepFileName { .. } => {
                "rename the file to `YYYYMMDDNN-slug.sql` (or `YYYYMMDDNN-slug.<sqlite|postgres>.sql`), or move it out of db/upgrades".into()
            }
            TreeErrorKind::UnknownComponentFolder { .. } => {
                "add its plugin type to [components] plugin_types in upgrade.toml, or move the folder".into()
            }
            TreeErrorKind::DuplicateStep { .. } => {
                "rename one of the two steps (`consolidate new` picks a free name)".into()
            }
            TreeErrorKind::MixedVariants { .. } => {
                "keep either one plain .sql file or one file per database, not both".into()
            }
            TreeErrorKind::UnknownDatabase { .. } => {
                "name variants `<step>.sqlite.sql` or `<step>.postgres.sql`".into()
            }
            TreeErrorKind::Header(_) => {
                "header lines are `-- phase: pre|main|post`, `-- requires: component/name, ...` and `-- transaction: yes|no` and, on post steps, `-- batch: TABLE.COLUMN SIZE`".into()
            }
            TreeErrorKind::VariantHeadersDiffer { .. } => {
                "make the header lines of all variants identical".into()
            }
            TreeErrorKind::Entry(_) => {
                "restore the entry from version control: released entries are never edited".into()
            }
            TreeErrorKind::OutsideRoot(_) => {
                "keep every step file and component folder inside the tree root: copy the file in instead of linking it, and write manifest folders relative to the root without `..`".into()
            }
            TreeErrorKind::Unseen(_) => {
                "move step files directly into <component folder>/db/upgrades with a step file name, or move the file out of db/ (see docs/format.md, \"What is read\")".into()
            }
            TreeErrorKind::Symlink(_) => {
                "replace the link with the file itself (`cp --remove-destination TARGET LINK`) and commit that".into()
            }
            TreeErrorKind::RunsDifferently { fix, .. }
            | TreeErrorKind::TransactionControl { fix, .. } => fix.clone(),
            TreeErrorKind::NotAdditive { rule, .. } => rule.fix().into(),
            TreeErrorKind::Snapshot(_) => "an install snapshot is `db/install.sql` (or install.sqlite.sql / install.postgres.sql) starting with `-- covers: NAME`, NAME the newest step of the component it includes; a baseline is releases/R.baseline.sql for the release `[baseline]` names (docs/install.md)".into(),
            TreeErrorKind::UnknownPluginFolder { fix, .. } => fix.clone(),
        }
    }
}

impl fmt::Display for TreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.path, line, self.kind),
            None => write!(f, "{}: {}", self.path, self.kind),
        }
    }
}

impl std::error::Error for TreeError {}

/// The 1-based line of a byte offset in `text`.
/// Scans from the start of `text`: for one error; a file naming many lines
/// builds a [`crate::model::line_index::LineIndex`] once instead.
pub fn line_of(text: &str, offset: usize) -> usize {
    crate::model::op_count::tick(offset.min(text.len()));
    crate::model::line_index::count_newlines(&text.as_bytes()[..offset.min(text.len())]) + 1
}

/// Every problem of a tree at once: what [`crate::Tree::load`] returns when
/// the tree does not load. Sorted by file, then line, then message, without
/// duplicates; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeErrors(Vec<TreeError>);

impl TreeErrors {
    /// The errors, sorted and deduplicated. `errors` must not be empty.
    pub fn new(mut errors: Vec<TreeError>) -> Self {
        errors.sort_by_cached_key(|e| (e.path.clone(), e.line, e.kind.to_string()));
        errors.dedup();
        TreeErrors(errors)
    }

    /// The errors, in order.
    pub fn errors(&self) -> &[TreeError] {
        &self.0
    }

    /// The first error in order.
    pub fn first(&self) -> Option<&TreeError> {
        self.0.first()
    }

    /// How many problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true for errors [`crate::Tree::load`] returns.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// What to do: the hint of each distinct kind of problem.
    pub fn hint(&self) -> String {
        let mut hints: Vec<String> = Vec::new();
        for e in &self.0 {
            let h = e.hint();
            if !hints.contains(&h) {
                hints.push(h);
            }
        }
        hints.join("; ")
    }
}

impl From<TreeError> for TreeErrors {
    fn from(e: TreeError) -> Self {
        TreeErrors(vec![e])
    }
}

impl fmt::Display for TreeErrors {
    /// One error per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TreeErrors {}

impl serde::Serialize for TreeError {
    /// `{ "file", "line", "message", "hint" }`, as `check --json` prints it.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut st = s.serialize_struct("TreeError", 4)?;
        st.serialize_field("file", &self.path)?;
        st.serialize_field("line", &self.line)?;
        st.serialize_field("message", &self.kind.to_string())?;
        st.serialize_field("hint", &self.hint())?;
        st.end()
    }
}

/// A file of the tree that is ignored on purpose (an editor leftover such as
/// `x.sql~`): loading goes on, and commands print the warning.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct TreeWarning {
    /// The file, relative to the tree root, `/`-separated.
    pub path: String,
    /// Why it is ignored.
    pub message: String,
}

impl fmt::Display for TreeWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}
