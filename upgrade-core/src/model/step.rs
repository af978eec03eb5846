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

use crate::model::batch::Batch;
use crate::model::component::ComponentName;
use crate::model::release_name::ReleaseName;
use crate::model::step_name::StepName;
use crate::model::tree_error::TreeErrorKind;

pub use crate::model::checksum::{Checksum, ChecksumText};
pub use crate::model::step_file::{Header, parse_step_file};
pub use crate::model::step_lists::{Requires, StepFiles};

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
    /// Is the key spelled exactly `component` and `name` (as a ledger row
    /// names it)? Names are compared first: they differ more.
    pub fn is(&self, component: &str, name: &str) -> bool {
        self.name.is(name) && self.component.as_str() == component
    }

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
    /// The checksum of the body as it is now when it is not `checksum` (an
    /// edited released entry), else `None`: [`Step::computed`]. Boxed: a
    /// step almost never has one, and then it costs 8 bytes, not 32.
    pub edited: Option<Box<Checksum>>,
    /// Where it is defined.
    pub origin: Origin,
}

impl Step {
    /// The checksum of the body as it is now (`checksum` unless edited).
    pub fn computed(&self) -> Checksum {
        self.edited.as_deref().unwrap_or(&self.checksum).clone()
    }

    /// [`Step::edited`] for a step recorded with `checksum` whose body's
    /// checksum is `computed`.
    pub fn edited(checksum: &Checksum, computed: Checksum) -> Option<Box<Checksum>> {
        (computed != *checksum).then(|| Box::new(computed))
    }

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
        self.location_shown().to_string()
    }

    /// [`Step::location`] written where it is shown, without building the
    /// text (`plan` lists 100,000 of them).
    pub fn location_shown(&self) -> Location<'_> {
        Location(&self.origin)
    }
}

/// Where a step is defined, as shown ([`Step::location_shown`]).
#[derive(Debug, Clone, Copy)]
pub struct Location<'a>(&'a Origin);

impl std::fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Origin::Standalone { files } => {
                for (i, path) in files.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(path)?;
                }
                Ok(())
            }
            Origin::Released {
                file,
                line: Some(l),
                ..
            } => write!(f, "{file}:{l}"),
            Origin::Released { file, .. } => f.write_str(file),
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
pub fn parse_step_file_name(file: &str) -> Result<(StepName, Option<&'static str>), TreeErrorKind> {
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
        Some(db) => Some(
            DATABASES
                .into_iter()
                .find(|known| *known == db)
                .ok_or_else(|| TreeErrorKind::UnknownDatabase {
                    database: db.to_string(),
                })?,
        ),
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
            edited: None,
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
        use std::mem::size_of;
        // A tree of 100,000 steps holds each Step inline: every byte here
        // is 100 kB there (release --dry-run's peak, issue 10). Was 256.
        assert!(size_of::<Step>() <= 144, "{}", size_of::<Step>());
        assert_eq!(size_of::<Checksum>(), 32, "inline, no text");
        assert_eq!(size_of::<Option<Box<Checksum>>>(), 8, "edited: rare");
        assert_eq!(size_of::<Body>(), 16, "one Box<str>, variants boxed");
        assert_eq!(size_of::<Origin>(), 24, "one text of files, or 3 words");
        assert_eq!(size_of::<StepFiles>(), 16);
        assert_eq!(size_of::<Requires>(), 8, "most steps require none");
        assert_eq!(size_of::<Option<Box<Batch>>>(), 8, "most steps have none");
        assert_eq!(size_of::<StepName>(), 24, "inline up to 22 bytes");
        // A body is sized exactly: a tree keeps every one.
        let body = normalise("\nCREATE TABLE t (id INT);  \r\nINSERT INTO t VALUES (1);\n\n");
        assert_eq!(
            body,
            "CREATE TABLE t (id INT);\nINSERT INTO t VALUES (1);\n"
        );
        assert_eq!(body.capacity(), body.len());
        // The steps of a component share its name.
        let name = ComponentName::parse("mod_forum").expect("valid");
        assert_eq!(name.clone().as_str().as_ptr(), name.as_str().as_ptr());
        // An unedited step has no second checksum.
        let step = Step::core_for_test("2008010100-a", Phase::Main, Body::Any("A;\n".into()));
        assert!(step.edited.is_none());
        assert_eq!(step.computed(), step.checksum);
        let other = Checksum::of(&Body::Any("B;\n".into()));
        assert_eq!(Step::edited(&step.checksum, step.checksum.clone()), None);
        assert_eq!(
            Step::edited(&step.checksum, other.clone()).as_deref(),
            Some(&other)
        );
    }

    #[test]
    fn file_names() {
        let (n, db) = parse_step_file_name("2008021700-webdavlocks.postgres.sql").expect("valid");
        assert_eq!(n.as_str(), "2008021700-webdavlocks");
        assert_eq!(db, Some("postgres"));
        assert!(matches!(
            parse_step_file_name("2008021700-x.mysql.sql"),
            Err(TreeErrorKind::UnknownDatabase { .. })
        ));
        assert!(parse_step_file_name("2008021700-x.txt").is_err());
        assert!(parse_step_file_name("20080217-x.sql").is_err());
    }
}
