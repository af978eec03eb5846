//! `consolidate check`: is the tree consolidated as its manifest says?
//!
//! Every problem carries the file, the line where known, and the fix. The
//! tree must already load (a [`crate::TreeError`] is reported before this).

use std::collections::BTreeMap;
use std::fmt;

use crate::consolidation::consolidate::consolidate;
use crate::model::release_name::ReleaseName;
use crate::model::step::Step;
use crate::planning::plan;
use crate::trees::tree::Tree;

/// One thing `check` found wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The file, relative to the tree root.
    pub path: String,
    /// The 1-based line, where known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub hint: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.path, l, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

fn at(step: &Step) -> (String, Option<usize>) {
    match &step.origin {
        crate::model::step::Origin::Released { file, line, .. } => {
            (file.to_string(), line.map(|l| l as usize))
        }
        crate::model::step::Origin::Standalone { files } => (files.join(", "), None),
    }
}

/// Problems of the released history: edited entries, entries tagged with a
/// release the history does not know (`in_progress` is allowed: a release
/// being made), release files that disagree with the entries.
pub fn released_history_problems(tree: &Tree, in_progress: Option<&ReleaseName>) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut tagged: BTreeMap<&ReleaseName, Vec<&Step>> = BTreeMap::new();
    for step in &tree.steps {
        let Some(release) = step.release() else {
            continue;
        };
        let (path, line) = at(step);
        if step.checksum != step.computed() {
            out.push(Problem {
                path: path.clone(),
                line,
                message: format!(
                    "step {} was edited after release {release}: its checksum is {} but its SQL hashes to {}",
                    step.key, step.checksum, step.computed()
                ),
                hint: "restore the released SQL from version control, and put the change in a new step (`consolidate new`)".into(),
            });
        }
        if tree.manifest.release_index(release).is_none() && Some(release) != in_progress {
            out.push(Problem {
                path,
                line,
                message: format!(
                    "step {} is tagged {release}, which is not in the release history",
                    step.key
                ),
                hint: format!("an interrupted `consolidate release {release}`? re-run it"),
            });
        }
        tagged.entry(release).or_default().push(step);
    }
    for entry in &tree.manifest.releases {
        let steps = tagged.remove(&entry.name).unwrap_or_default();
        let Some(found) = tree.release_files.get(&entry.name) else {
            out.push(Problem {
                path: crate::files::release_file::path_of(&entry.name),
                line: None,
                message: format!(
                    "release {} is in the history but has no release file",
                    entry.name
                ),
                hint: "restore the file from version control".into(),
            });
            continue;
        };
        if found.rules.version != entry.version {
            out.push(Problem {
                path: found.path.clone(),
                line: None,
                message: format!(
                    "version {} differs from {} in the history of upgrade.toml",
                    found.rules.version, entry.version
                ),
                hint: "restore the release file or the history entry from version control".into(),
            });
        }
        let mut covered: BTreeMap<(String, String), &crate::model::step::Checksum> =
            BTreeMap::new();
        for (component, names) in &found.rules.covers {
            for (name, sum) in names {
                covered.insert((component.to_string(), name.to_string()), sum);
            }
        }
        for step in steps {
            let key = (step.key.component.to_string(), step.key.name.to_string());
            let (path, line) = at(step);
            match covered.remove(&key) {
                None => out.push(Problem {
                    path,
                    line,
                    message: format!("step {} is tagged {} but {} does not cover it", step.key, entry.name, found.path),
                    hint: "restore both files from version control: released entries are never added by hand".into(),
                }),
                Some(sum) if *sum != step.checksum => out.push(Problem {
                    path,
                    line,
                    message: format!(
                        "step {} was edited after release {}: {} records {sum}, the entry {}",
                        step.key, entry.name, found.path, step.checksum
                    ),
                    hint: "restore the released entry from version control".into(),
                }),
                Some(_) => {}
            }
        }
        for ((component, name), _) in covered {
            let retired = tree
                .manifest
                .retired
                .iter()
                .any(|r| r.component.as_str() == component && r.name == name);
            if retired {
                continue;
            }
            out.push(Problem {
                path: found.path.clone(),
                line: None,
                message: format!("covers {component}/{name}, but no entry tagged {} has that name", entry.name),
                hint: "a released step was removed: restore it from version control (or list it under [[retired]])".into(),
            });
        }
    }
    for (name, found) in &tree.release_files {
        if tree.manifest.release_index(name).is_none() && Some(name) != in_progress {
            out.push(Problem {
                path: found.path.clone(),
                line: None,
                message: format!("release {name} is not in the history of upgrade.toml"),
                hint: format!("an interrupted `consolidate release {name}`? re-run it"),
            });
        }
    }
    out
}

/// Every problem of a loaded tree: its plan, its released history, leftovers
/// of an interrupted release, and whether re-running the newest release would
/// change anything (I1).
pub fn check(tree: &Tree) -> Vec<Problem> {
    let mut out = Vec::new();
    if let Err(e) = plan::order(tree) {
        out.push(Problem {
            path: "upgrade.toml".into(),
            line: None,
            message: e.to_string(),
            hint: e.hint().into(),
        });
    }
    out.extend(released_history_problems(tree, None));
    for leftover in &tree.leftovers {
        out.push(Problem {
            path: leftover.files.join(", "),
            line: None,
            message: format!("standalone {} duplicates its released entry", leftover.key),
            hint: match tree.step(&leftover.key).and_then(|s| s.release()) {
                Some(r) => {
                    format!("left by an interrupted release: re-run `consolidate release {r}`")
                }
                None => "delete the standalone file".into(),
            },
        });
    }
    if out.is_empty()
        && let Some(newest) = tree.manifest.newest_release()
    {
        match consolidate(tree, &newest.name) {
            Ok(c) if !c.is_noop() => out.push(Problem {
                path: "upgrade.toml".into(),
                line: None,
                message: format!(
                    "re-running `consolidate release {}` would change files:\n{}",
                    newest.name,
                    c.diff()
                ),
                hint: format!(
                    "run `consolidate release {}` and commit the result",
                    newest.name
                ),
            }),
            Ok(_) => {}
            Err(e) => out.push(Problem {
                path: "upgrade.toml".into(),
                line: None,
                message: e.to_string(),
                hint: e.hint(),
            }),
        }
    }
    out
}
