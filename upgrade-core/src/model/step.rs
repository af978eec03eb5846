//! `Step`: one upgrade step — identity, phase, SQL body and checksum — the
//! normalisation of bodies and the names of step files.
//!
//! A standalone file is `<name>.sql` or per-database variants `<name>.<db>.sql`;
//! reading its header and checking its text is `step_file`. The body is
//! normalised before it is stored or hashed, so editor noise never counts as a
//! change.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::model::batch::Batch;
use crate::model::component::ComponentName;
use crate::model::release_name::ReleaseName;
use crate::model::step_name::StepName;
use crate::model::tree_error::TreeErrorKind;

pub use crate::model::step_file::{Header, parse_step_file};

/// The databases a step may have a variant for.
pub const DATABASES: [&str; 2] = ["postgres", "sqlite"];

/// When a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Additive changes run before maintenance mode.
    Pre,
    /// Changes run under maintenance.
    Main,
    /// Changes run after the site is back, in resumable batches.
    Post,
}

impl Phase {
    /// Parses `pre`, `main` or `post`.
    pub fn parse(text: &str) -> Option<Phase> {
        match text {
            "pre" => Some(Phase::Pre),
            "main" => Some(Phase::Main),
            "post" => Some(Phase::Post),
            _ => None,
        }
    }

    /// The phase as text.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pre => "pre",
            Phase::Main => "main",
            Phase::Post => "post",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The identity of a step: component and name, written `component/name`.
// Equality is written out only to count comparisons in tests
// (model/op_count.rs); it compares the same fields as the derived hash.
#[allow(clippy::derived_hash_with_manual_eq)]
#[derive(Debug, Clone, Eq, PartialOrd, Ord, Hash)]
pub struct StepKey {
    /// The component.
    pub component: ComponentName,
    /// The step name.
    pub name: StepName,
}

impl PartialEq for StepKey {
    fn eq(&self, other: &Self) -> bool {
        crate::model::op_count::tick(1);
        self.component == other.component && self.name == other.name
    }
}

impl StepKey {
    /// Parses `component/name`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (c, n) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not `component/name`"))?;
        Ok(StepKey {
            component: ComponentName::parse(c.trim()).map_err(|e| e.to_string())?,
            name: StepName::parse(n.trim()).map_err(|e| e.to_string())?,
        })
    }
}

impl fmt::Display for StepKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.component, self.name)
    }
}

/// A `sha256:<hex>` checksum of a step's normalised body or bodies.
///
/// Held as its 32 bytes, inline: a step keeps two (the recorded and the
/// computed one) in 64 bytes, where their shared text cost a 16-byte pointer
/// pair and a 96-byte allocation. [`Checksum::text`] gives the text
/// (`sha256:` and 64 lowercase hex digits) on the stack, [`Checksum::matches`]
/// compares with a recorded text without building one. Bytes order as their
/// hex text does.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Checksum([u8; 32]);

/// The text of a [`Checksum`]: `sha256:` and 64 lowercase hex digits.
#[derive(Clone, Copy)]
pub struct ChecksumText([u8; CHECKSUM_TEXT_LEN]);

/// The length of a checksum's text.
const CHECKSUM_TEXT_LEN: usize = 7 + 64;

const HEX: &[u8; 16] = b"0123456789abcdef";

impl Checksum {
    /// The checksum of a body: one body for every database, or one per database.
    pub fn of(body: &Body) -> Self {
        let mut hasher = Sha256::new();
        match body {
            Body::Any(sql) => hasher.update(normalise(sql).as_bytes()),
            Body::PerDatabase(map) => {
                for (db, sql) in map.iter() {
                    hasher.update(b"\0variant:");
                    hasher.update(db.as_bytes());
                    hasher.update(b"\n");
                    hasher.update(normalise(sql).as_bytes());
                }
            }
        }
        Checksum(hasher.finalize().into())
    }

    /// A checksum as recorded in a file or a ledger (not validated beyond
    /// shape: `sha256:` and 64 lowercase hex digits).
    pub fn from_recorded(text: &str) -> Option<Self> {
        let hex = text.strip_prefix("sha256:")?.as_bytes();
        if hex.len() != 64 {
            return None;
        }
        let digit = |b: u8| match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        };
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
            *byte = (digit(pair[0])? << 4) | digit(pair[1])?;
        }
        Some(Checksum(bytes))
    }

    /// The checksum as text, on the stack.
    pub fn text(&self) -> ChecksumText {
        let mut text = [0u8; CHECKSUM_TEXT_LEN];
        text[..7].copy_from_slice(b"sha256:");
        for (pair, b) in text[7..].chunks_exact_mut(2).zip(self.0) {
            pair[0] = HEX[usize::from(b >> 4)];
            pair[1] = HEX[usize::from(b & 0xf)];
        }
        ChecksumText(text)
    }

    /// Is `text` this checksum's text (as a ledger row or a file records it)?
    pub fn matches(&self, text: &str) -> bool {
        text.len() == CHECKSUM_TEXT_LEN && self.text().as_str() == text
    }
}

impl ChecksumText {
    /// The text.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever written into it.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::ops::Deref for ChecksumText {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for ChecksumText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ChecksumText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Checksum({:?})", self.text())
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text().as_str())
    }
}

/// The SQL of a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// One script for every database.
    Any(Box<str>),
    /// One script per database; on other databases the step is a recorded
    /// no-op. Boxed: most steps are one script, and a body is then 24 bytes.
    PerDatabase(Box<BTreeMap<String, String>>),
}

impl Body {
    /// The body of one file per variant: the plain file (`None`) is the body
    /// for every database, else one script per named database.
    pub fn from_variants(mut variants: BTreeMap<Option<String>, String>) -> Body {
        match variants.remove(&None) {
            Some(sql) => Body::Any(sql.into_boxed_str()),
            None => Body::PerDatabase(Box::new(
                variants
                    .into_iter()
                    .filter_map(|(db, sql)| db.map(|d| (d, sql)))
                    .collect(),
            )),
        }
    }

    /// The script to run on `database`, or `None` when the step is a no-op there.
    pub fn for_database(&self, database: &str) -> Option<&str> {
        match self {
            Body::Any(sql) => Some(sql),
            Body::PerDatabase(map) => map.get(database).map(String::as_str),
        }
    }
}

/// Where a step is defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A standalone file (or one file per database variant) in `db/upgrades`.
    Standalone {
        /// The file or files, sorted.
        files: StepFiles,
    },
    /// An entry of a component's `db/upgrade.toml`, tagged with a release.
    Released {
        /// The release the entry is tagged with.
        release: ReleaseName,
        /// The component's upgrade.toml (shared by its entries; one pointer).
        file: Arc<String>,
        /// The line of its `[[step]]` header.
        line: Option<u32>,
    },
}

/// The files of a standalone step: one text of their paths, each ended by
/// `\0` (a byte no path holds), so that a step keeps one allocation of its
/// paths' exact size, not a `Vec` of `String`s (104 bytes more or less a
/// step in a tree of 100,000).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct StepFiles(Box<str>);

impl StepFiles {
    /// The paths, in order.
    pub fn iter(&self) -> std::str::SplitTerminator<'_, char> {
        self.0.split_terminator('\0')
    }

    /// The first path.
    pub fn first(&self) -> Option<&str> {
        self.iter().next()
    }

    /// How many files.
    pub fn len(&self) -> usize {
        self.0.bytes().filter(|b| *b == 0).count()
    }

    /// No file at all?
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Is `path` one of them?
    pub fn contains(&self, path: &str) -> bool {
        self.iter().any(|f| f == path)
    }

    /// The paths joined with `separator`.
    pub fn join(&self, separator: &str) -> String {
        self.iter().collect::<Vec<_>>().join(separator)
    }

    /// The paths as owned strings.
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_string).collect()
    }

    /// The bytes it keeps on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.0.len()
    }
}

impl<S: AsRef<str>> FromIterator<S> for StepFiles {
    fn from_iter<I: IntoIterator<Item = S>>(paths: I) -> Self {
        let mut text = String::new();
        for path in paths {
            text.push_str(path.as_ref());
            text.push('\0');
        }
        StepFiles(text.into_boxed_str())
    }
}

impl From<Vec<String>> for StepFiles {
    fn from(paths: Vec<String>) -> Self {
        paths.iter().collect()
    }
}

impl<'a> IntoIterator for &'a StepFiles {
    type Item = &'a str;
    type IntoIter = std::str::SplitTerminator<'a, char>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl fmt::Debug for StepFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The steps a step requires, in the order declared. Most steps require
/// none: then it is one null pointer, not an empty `Vec`'s 24 bytes. Reads
/// as a slice.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Requires(Option<Box<Vec<StepKey>>>);

impl Requires {
    /// Keeps the requirements `keep` accepts.
    pub fn retain(&mut self, keep: impl FnMut(&StepKey) -> bool) {
        if let Some(list) = &mut self.0 {
            list.retain(keep);
            if list.is_empty() {
                self.0 = None;
            }
        }
    }

    /// Removes every requirement.
    pub fn clear(&mut self) {
        self.0 = None;
    }

    /// Adds a requirement.
    pub fn push(&mut self, key: StepKey) {
        self.0.get_or_insert_default().push(key);
    }
}

impl std::ops::Deref for Requires {
    type Target = [StepKey];
    fn deref(&self) -> &[StepKey] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }
}

impl From<Vec<StepKey>> for Requires {
    fn from(keys: Vec<StepKey>) -> Self {
        Requires((!keys.is_empty()).then(|| Box::new(keys)))
    }
}

impl<'a> IntoIterator for &'a Requires {
    type Item = &'a StepKey;
    type IntoIter = std::slice::Iter<'a, StepKey>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl fmt::Debug for Requires {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// One upgrade step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Its identity.
    pub key: StepKey,
    /// When it runs.
    pub phase: Phase,
    /// Steps that must run before it.
    pub requires: Requires,
    /// Whether it runs inside a transaction with its ledger row.
    pub transaction: bool,
    /// `-- batch: TABLE.COLUMN SIZE` of a `post` step: it runs in resumable
    /// ranges under `consolidate post run`, not under `apply`.
    pub batch: Option<Box<Batch>>,
    /// The SQL.
    pub body: Body,
    /// The checksum sites record: the recorded one for released entries, else computed.
    pub checksum: Checksum,
    /// The checksum of the body as it is now.
    pub computed: Checksum,
    /// Where it is defined.
    pub origin: Origin,
}

impl Step {
    /// The release it is tagged with, if consolidated.
    pub fn release(&self) -> Option<&ReleaseName> {
        match &self.origin {
            Origin::Released { release, .. } => Some(release),
            Origin::Standalone { .. } => None,
        }
    }

    /// Is it a `post` step with a batch declaration (run by `post run`)?
    pub fn is_batched(&self) -> bool {
        self.phase == Phase::Post && self.batch.is_some()
    }

    /// Where it is defined, as `file` or `file:line`, for messages.
    pub fn location(&self) -> String {
        match &self.origin {
            Origin::Standalone { files } => files.join(", "),
            Origin::Released {
                file,
                line: Some(l),
                ..
            } => format!("{file}:{l}"),
            Origin::Released { file, .. } => file.to_string(),
        }
    }
}

/// Normalises a body: no BOM, LF line ends, no trailing white space on any
/// line, no blank lines at the start or end, and exactly one final newline
/// (an empty body stays empty).
pub fn normalise(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let start = lines.iter().position(|l| !l.is_empty());
    let end = lines.iter().rposition(|l| !l.is_empty());
    match (start, end) {
        (Some(s), Some(e)) => {
            // Sized exactly: a tree keeps every body it read.
            let kept = &lines[s..=e];
            let mut out = String::with_capacity(kept.iter().map(|l| l.len() + 1).sum());
            for line in kept {
                out.push_str(line);
                out.push('\n');
            }
            out
        }
        _ => String::new(),
    }
}

/// What a file name in `db/upgrades` declares: the step name and the database
/// of a variant (`None` for a plain `.sql`).
pub fn parse_step_file_name(
    file: &str,
) -> Result<(StepName, Option<&'static str>), TreeErrorKind> {
    let bad = |reason: String| TreeErrorKind::BadStepFileName {
        file: file.to_string(),
        reason,
    };
    let stem = file
        .strip_suffix(".sql")
        .ok_or_else(|| bad("it does not end in .sql".into()))?;
    let (name, database) = match stem.split_once('.') {
        Some((name, db)) => (name, Some(db)),
        None => (stem, None),
    };
    let name = StepName::parse(name).map_err(|e| bad(e.to_string()))?;
    let database = match database {
        None => None,
        Some(db) => Some(DATABASES.into_iter().find(|known| *known == db).ok_or_else(
            || TreeErrorKind::UnknownDatabase {
                database: db.to_string(),
            },
        )?),
    };
    Ok((name, database))
}

/// A step for the library's unit tests.
#[cfg(test)]
impl Step {
    /// A core step `name` of `phase` with the checksum of its body, no
    /// requirements, in a transaction, from no file.
    pub(crate) fn core_for_test(name: &str, phase: Phase, body: Body) -> Step {
        let checksum = Checksum::of(&body);
        Step {
            key: StepKey {
                component: ComponentName::core(),
                name: StepName::parse(name).expect("valid"),
            },
            phase,
            requires: Requires::default(),
            transaction: true,
            batch: None,
            body,
            computed: checksum.clone(),
            checksum,
            origin: Origin::Standalone {
                files: StepFiles::default(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_ignores_editor_noise() {
        let a = Checksum::of(&Body::Any("CREATE TABLE t (id INT);\n".into()));
        for noisy in [
            "CREATE TABLE t (id INT);",
            "CREATE TABLE t (id INT);\r\n",
            "CREATE TABLE t (id INT);   \n\n\n",
            "\u{feff}\nCREATE TABLE t (id INT);\n",
        ] {
            assert_eq!(Checksum::of(&Body::Any(noisy.into())), a, "{noisy:?}");
        }
        let b = Checksum::of(&Body::Any("CREATE TABLE t (id BIGINT);\n".into()));
        assert_ne!(a, b);
    }

    #[test]
    fn variants_hash_per_database() {
        let one = Body::PerDatabase(Box::new(BTreeMap::from([(
            "sqlite".to_string(),
            "A;\n".to_string(),
        )])));
        let two = Body::PerDatabase(Box::new(BTreeMap::from([(
            "postgres".to_string(),
            "A;\n".to_string(),
        )])));
        assert_ne!(Checksum::of(&one), Checksum::of(&two));
        assert_ne!(Checksum::of(&one), Checksum::of(&Body::Any("A;\n".into())));
    }

    #[test]
    fn a_step_keeps_its_text_once() {
        eprintln!(
            "SIZES step {} key {} name {} body {} origin {} files {} requires {} checksum {} batch {}",
            std::mem::size_of::<Step>(),
            std::mem::size_of::<StepKey>(),
            std::mem::size_of::<StepName>(),
            std::mem::size_of::<Body>(),
            std::mem::size_of::<Origin>(),
            std::mem::size_of::<StepFiles>(),
            std::mem::size_of::<Vec<StepKey>>(),
            std::mem::size_of::<Checksum>(),
            std::mem::size_of::<Option<Box<Batch>>>()
        );
    }

    #[test]
    fn file_names() {
        let (n, db) = parse_step_file_name("2008021700-webdavlocks.postgres.sql").expect("valid");
        assert_eq!(n.as_str(), "2008021700-webdavlocks");
        assert_eq!(db.as_deref(), Some("postgres"));
        assert!(matches!(
            parse_step_file_name("2008021700-x.mysql.sql"),
            Err(TreeErrorKind::UnknownDatabase { .. })
        ));
        assert!(parse_step_file_name("2008021700-x.txt").is_err());
        assert!(parse_step_file_name("20080217-x.sql").is_err());
    }
}
