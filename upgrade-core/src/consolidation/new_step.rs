//! Creating a new standalone step: the next name for a day and the file
//! template.
//!
//! The sequence number `NN` of a new `YYYYMMDDNN-slug` is one above every
//! number already used that day anywhere in the tree (every component,
//! standalone, released, leftover and retired steps), never a free gap below:
//! a site that already ran today's steps and a fresh site then run the new
//! step at the same place, after all of them. A component unknown to the tree
//! (no steps, no `db/upgrade.toml`, no folder) is refused unless the caller
//! says it is new, so that a typo never silently creates a plugin.

use crate::model::component::ComponentName;
use crate::model::step::StepKey;
use crate::model::step_name::StepName;
use crate::trees::tree::Tree;

/// Why a new step cannot be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NewStepError {
    /// The component's plugin type is unknown.
    #[error("component {0} has no folder: its plugin type is not in upgrade.toml")]
    UnknownComponent(String),
    /// The component's type is known, but the tree has no such plugin.
    #[error(
        "component {component} does not exist yet: the tree has no step, no db/upgrade.toml and no folder {folder} for it"
    )]
    NoSuchComponent {
        /// The component asked for.
        component: ComponentName,
        /// Its folder, relative to the tree root.
        folder: String,
        /// Known components of the same plugin type, for the hint.
        known: Vec<ComponentName>,
    },
    /// The slug or date do not make a valid name.
    #[error("{0}")]
    BadName(String),
    /// Sequence number 99 of the day is used: no number above it is left.
    #[error(
        "no step name is left for {date}: {last} already uses sequence number 99, and a new step must sort after every step of its day"
    )]
    DayFull {
        /// The day, `YYYYMMDD`.
        date: String,
        /// The step using number 99.
        last: String,
    },
}

impl NewStepError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            NewStepError::UnknownComponent(_) | NewStepError::BadName(_) => {
                "components are `core` or `<plugin type>_<plugin>`; slugs are lowercase letters, digits, `_` and `-`".into()
            }
            NewStepError::NoSuchComponent { known, .. } => {
                let known: Vec<&str> = known.iter().map(ComponentName::as_str).collect();
                let similar = if known.is_empty() {
                    String::new()
                } else {
                    format!("known components of that type: {}; ", known.join(", "))
                };
                format!(
                    "{similar}check the spelling, or pass --new-component to start a new plugin"
                )
            }
            NewStepError::DayFull { .. } => {
                "create the step tomorrow (UTC), or give a later day with `--date YYYYMMDD`".into()
            }
        }
    }
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

/// What `new` is asked for.
#[derive(Debug, Clone, Copy)]
pub struct NewStepRequest<'a> {
    /// The component, e.g. `core` or `mod_forum`.
    pub component: &'a str,
    /// The slug.
    pub slug: &'a str,
    /// The day, `YYYYMMDD`.
    pub date: &'a str,
    /// The component may be new (no folder yet).
    pub new_component: bool,
}

/// The highest sequence number used on `date` by any step name of the tree,
/// with the step using it.
fn highest_of_day(tree: &Tree, date: &str) -> Option<(u32, String)> {
    let keys = tree
        .steps
        .iter()
        .map(|s| s.key.clone())
        .chain(tree.leftovers.iter().map(|l| l.key.clone()));
    let retired = tree
        .manifest
        .retired
        .iter()
        .map(|r| format!("{}/{}", r.component, r.name));
    keys.map(|k: StepKey| k.to_string())
        .chain(retired)
        .filter_map(|key| {
            let name = key.rsplit('/').next().unwrap_or(&key);
            let seq = name.strip_prefix(date)?.get(..2)?;
            let seq: u32 = seq.parse().ok()?;
            Some((seq, key))
        })
        .max()
}

/// The next `YYYYMMDDNN-slug` name of the request's component for its day:
/// `NN` is one above the highest number used that day in the whole tree
/// (`00` on a fresh day). `folder_exists` says whether a folder (relative to
/// the tree root) exists, for components the tree has no step of yet.
pub fn new_step(
    tree: &Tree,
    request: &NewStepRequest<'_>,
    folder_exists: &dyn Fn(&str) -> bool,
) -> Result<NewStep, NewStepError> {
    let date = request.date;
    let component = ComponentName::parse(request.component)
        .map_err(|e| NewStepError::BadName(e.to_string()))?;
    let folder = tree
        .manifest
        .folder_of(&component)
        .ok_or_else(|| NewStepError::UnknownComponent(component.to_string()))?;
    let known = component.is_core()
        || tree.upgrade_files.contains_key(&component)
        || tree.steps.iter().any(|s| s.key.component == component)
        || folder_exists(&folder);
    if !known && !request.new_component {
        let plugin = folder.rsplit('/').next().unwrap_or_default();
        let plugin_type = component
            .as_str()
            .strip_suffix(plugin)
            .unwrap_or_default()
            .to_string();
        let mut similar: Vec<ComponentName> = tree
            .steps
            .iter()
            .map(|s| s.key.component.clone())
            .chain(tree.upgrade_files.keys().cloned())
            .filter(|c| !plugin_type.is_empty() && c.as_str().starts_with(&plugin_type))
            .collect();
        similar.sort();
        similar.dedup();
        return Err(NewStepError::NoSuchComponent {
            component,
            folder,
            known: similar,
        });
    }
    let seq = match highest_of_day(tree, date) {
        None => 0,
        Some((99, last)) => {
            return Err(NewStepError::DayFull {
                date: date.to_string(),
                last,
            });
        }
        Some((n, _)) => n + 1,
    };
    let name = StepName::parse(&format!("{date}{seq:02}-{}", request.slug))
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
    Ok(NewStep { name, path, text })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::source::MemoryTree;

    const MANIFEST: &str = "[project]\nname = \"t\"\nversion = \"2008010100.00\"\nrevision = 1\n\n[components]\ncore = \"lib\"\nplugin_types = [{ name = \"mod\", folder = \"mod\" }]\n";

    fn tree(files: &[(&str, &str)]) -> Tree {
        let mut all = vec![("upgrade.toml", MANIFEST)];
        all.extend_from_slice(files);
        let memory = MemoryTree {
            files: all
                .iter()
                .map(|(p, t)| ((*p).to_string(), t.as_bytes().to_vec()))
                .collect(),
        };
        Tree::load(&memory).expect("tree loads")
    }

    fn request<'a>(component: &'a str, new_component: bool) -> NewStepRequest<'a> {
        NewStepRequest {
            component,
            slug: "next",
            date: "20080301",
            new_component,
        }
    }

    #[test]
    fn the_number_is_above_every_number_of_the_day_in_the_whole_tree() {
        // core used 00 and mod_forum 05: a new core step is 06, not the free 01.
        let t = tree(&[
            ("lib/db/upgrades/2008030100-a.sql", "SELECT 1;\n"),
            ("mod/forum/db/upgrades/2008030105-f.sql", "SELECT 1;\n"),
            ("mod/forum/db/upgrades/2008030207-g.sql", "SELECT 1;\n"),
        ]);
        let step = new_step(&t, &request("core", false), &|_| false).expect("new");
        assert_eq!(step.name.as_str(), "2008030106-next");
        assert_eq!(step.path, "lib/db/upgrades/2008030106-next.sql");
        let fresh = tree(&[]);
        let step = new_step(&fresh, &request("core", false), &|_| false).expect("new");
        assert_eq!(step.name.as_str(), "2008030100-next");
    }

    #[test]
    fn a_full_day_says_which_step_uses_99() {
        let t = tree(&[("mod/forum/db/upgrades/2008030199-last.sql", "SELECT 1;\n")]);
        let err = new_step(&t, &request("core", false), &|_| false).expect_err("full");
        assert_eq!(
            err,
            NewStepError::DayFull {
                date: "20080301".into(),
                last: "mod_forum/2008030199-last".into()
            }
        );
        assert!(err.hint().contains("--date"));
    }

    #[test]
    fn an_unknown_plugin_needs_new_component() {
        let t = tree(&[("mod/forum/db/upgrades/2008010100-f.sql", "SELECT 1;\n")]);
        let err = new_step(&t, &request("mod_forun", false), &|_| false).expect_err("typo");
        assert!(matches!(err, NewStepError::NoSuchComponent { .. }), "{err}");
        assert!(err.to_string().contains("mod/forun"), "{err}");
        assert!(err.hint().contains("mod_forum"), "{}", err.hint());
        let step = new_step(&t, &request("mod_forun", true), &|_| false).expect("new plugin");
        assert_eq!(step.path, "mod/forun/db/upgrades/2008030100-next.sql");
        // A plugin folder without steps yet is a known component.
        let step = new_step(&t, &request("mod_quiz", false), &|f| f == "mod/quiz").expect("quiz");
        assert_eq!(step.path, "mod/quiz/db/upgrades/2008030100-next.sql");
    }
}
