//! Creating a new standalone step: the next free name for a day and the file
//! template.

use crate::model::component::ComponentName;
use crate::model::step_name::StepName;
use crate::trees::tree::Tree;

/// Why a new step cannot be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NewStepError {
    /// The component's plugin type is unknown.
    #[error("component {0} has no folder: its plugin type is not in upgrade.toml")]
    UnknownComponent(String),
    /// The slug or date do not make a valid name.
    #[error("{0}")]
    BadName(String),
    /// All hundred sequence numbers of the day are used.
    #[error("all 100 step names of {0} for this component are taken")]
    DayFull(String),
}

/// A new step: where to write it and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStep {
    /// The step name.
    pub name: StepName,
    /// The file, relative to the tree root.
    pub path: String,
    /// The file template.
    pub text: String,
}

/// The next free `YYYYMMDDNN-slug` name of `component` for the day `date`
/// (`YYYYMMDD`): `00`, then `01`, ... A sequence number is taken when any
/// step of any component uses that date and number, so that two new steps of
/// one day never tie on their number.
pub fn new_step(
    tree: &Tree,
    component: &str,
    slug: &str,
    date: &str,
) -> Result<NewStep, NewStepError> {
    let component =
        ComponentName::parse(component).map_err(|e| NewStepError::BadName(e.to_string()))?;
    let folder = tree
        .manifest
        .folder_of(&component)
        .ok_or_else(|| NewStepError::UnknownComponent(component.to_string()))?;
    for seq in 0..100u32 {
        let prefix = format!("{date}{seq:02}");
        let taken = tree
            .steps
            .iter()
            .any(|s| s.key.name.as_str().starts_with(&prefix));
        if taken {
            continue;
        }
        let name = StepName::parse(&format!("{prefix}-{slug}"))
            .map_err(|e| NewStepError::BadName(e.to_string()))?;
        let dir = if folder.is_empty() {
            "db/upgrades".to_string()
        } else {
            format!("{folder}/db/upgrades")
        };
        let path = format!("{dir}/{name}.sql");
        let text = format!(
            "-- phase: main\n\
             -- requires:\n\
             -- transaction: yes\n\
             -- Describe here what {name} changes in {component} and why.\n\
             -- For per-database SQL, rename this file to {name}.sqlite.sql and add {name}.postgres.sql.\n"
        );
        return Ok(NewStep { name, path, text });
    }
    Err(NewStepError::DayFull(date.to_string()))
}

/// Today as `YYYYMMDD` in UTC; `CONSOLIDATE_TODAY` overrides it (for tests
/// and reproducible scripts).
pub fn today_utc() -> String {
    if let Ok(day) = std::env::var("CONSOLIDATE_TODAY") {
        return day;
    }
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}",
        now.year(),
        u8::from(now.month()),
        now.day()
    )
}
