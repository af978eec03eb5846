//! *Published releases unchanged*: each release of the history compared with
//! what the commit that published it recorded (see
//! [`super::history::publications`]).
//!
//! Sites that completed a release count every entry tagged with it as
//! applied, ledger row or not. So after a release is published:
//!
//! - its `[[release]]` entry keeps its name, version and place in the history;
//! - no entry tagged with it may appear later (same tag, correct checksum,
//!   added to the release file too): those sites would skip it forever;
//! - its release file keeps its version and covers.
//!
//! A release the work tree's history lists but HEAD's does not is being made
//! (`consolidate release` not committed yet): nothing is published to compare.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::files::release_file::ReleaseFile;
use crate::model::manifest::MANIFEST_FILE;
use crate::model::release_name::ReleaseName;
use crate::model::step::StepKey;
use crate::trees::tree::Tree;

use super::history::Publication;
use super::{CheckOutcome, WORK_TREE};

/// The 1-based line of `name = "<release>"` in a `[[release]]` table of the manifest.
fn manifest_line(text: &str, release: &ReleaseName) -> Option<usize> {
    let mut in_release = false;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            in_release = t.replace(' ', "") == "[[release]]";
            continue;
        }
        if !in_release {
            continue;
        }
        if let Some((key, value)) = t.split_once('=')
            && key.trim() == "name"
            && value.trim().trim_matches(['"', '\'']) == release.as_str()
        {
            return Some(i + 1);
        }
    }
    None
}

fn at_line(line: Option<usize>) -> String {
    line.map_or_else(
        || MANIFEST_FILE.to_string(),
        |l| format!("{MANIFEST_FILE}:{l}"),
    )
}

/// Compares the work tree with each release's publishing commit. `trees`
/// holds the tree at every publication commit (by commit id); `head_releases`
/// are the releases of HEAD's manifest (committed ones).
pub(super) fn check(
    work: &Tree,
    publications: &[Publication],
    trees: &HashMap<String, Tree>,
    head_releases: &BTreeSet<ReleaseName>,
) -> CheckOutcome {
    let mut failures: Vec<(String, String)> = Vec::new();
    let ours = &work.manifest.releases;

    // The [[release]] entries: name, version and place as published.
    for p in publications {
        let name = &p.entry.name;
        let line = manifest_line(&work.manifest.text, name);
        let restore = format!(
            "the release history is append-only: restore [[release]] name = \"{name}\" version = \"{}\" as entry {} of upgrade.toml (commit {} published it)",
            p.entry.version,
            p.index + 1,
            p.commit
        );
        match ours.iter().position(|e| &e.name == name) {
            None => failures.push((
                format!(
                    "{MANIFEST_FILE}: release {name} (version {}), published by commit {}, is no longer in the release history (renamed or removed)",
                    p.entry.version, p.commit
                ),
                restore,
            )),
            Some(i) if i != p.index => failures.push((
                format!(
                    "{}: release {name} is entry {} of the release history, but commit {} published it as entry {}",
                    at_line(line),
                    i + 1,
                    p.commit,
                    p.index + 1
                ),
                restore,
            )),
            Some(i) if ours[i].version != p.entry.version => failures.push((
                format!(
                    "{}: release {name} has version {}, but commit {} published it with version {}",
                    at_line(line),
                    ours[i].version,
                    p.commit,
                    p.entry.version
                ),
                restore,
            )),
            Some(_) => {}
        }
    }

    // The entries and release file of each published release.
    let mut published: BTreeMap<&ReleaseName, &Publication> = BTreeMap::new();
    for p in publications {
        published.entry(&p.entry.name).or_insert(p);
    }
    let mut entries_checked = 0;
    let mut appended = 0;
    for entry in ours {
        let Some(p) = published.get(&entry.name) else {
            // Only a release being made (not in HEAD's history yet) may lack a
            // publishing commit; `verify` refuses the other case before this.
            continue;
        };
        if !head_releases.contains(&entry.name) {
            continue;
        }
        let Some(then) = trees.get(&p.commit.commit) else {
            continue;
        };
        let recorded: BTreeSet<&StepKey> = then
            .steps
            .iter()
            .filter(|s| s.release() == Some(&entry.name))
            .map(|s| &s.key)
            .collect();
        for step in work
            .steps
            .iter()
            .filter(|s| s.release() == Some(&entry.name))
        {
            entries_checked += 1;
            if recorded.contains(&step.key) {
                continue;
            }
            appended += 1;
            let standalone = work.manifest.folder_of(&step.key.component).map_or_else(
                || format!("db/upgrades/{}.sql", step.key.name),
                |f| {
                    if f.is_empty() {
                        format!("db/upgrades/{}.sql", step.key.name)
                    } else {
                        format!("{f}/db/upgrades/{}.sql", step.key.name)
                    }
                },
            );
            failures.push((
                format!(
                    "{}: step {} is tagged {}, but commit {} published {} without it: sites that completed {} count it as applied and would never run it",
                    step.location(),
                    step.key,
                    entry.name,
                    p.commit,
                    entry.name,
                    entry.name
                ),
                format!(
                    "make it a standalone step: move its SQL to {standalone}, delete the entry and its line in releases/{}.toml (the next `consolidate release` folds it into a new release)",
                    entry.name
                ),
            ));
        }
        let now = work.release_files.get(&entry.name);
        let was = then.release_files.get(&entry.name);
        if let (Some(now), Some(was)) = (now, was) {
            let (changes, first) = covers_changes(&was.rules, &now.rules);
            if !changes.is_empty() {
                // The line of the first added or changed cover, where there is one.
                let line = first.and_then(|key| {
                    let name = key.rsplit('/').next().unwrap_or(&key).to_string();
                    now.text
                        .lines()
                        .position(|l| l.trim_start().starts_with(&format!("\"{name}\"")))
                        .map(|i| i + 1)
                });
                let at = line.map_or_else(|| now.path.clone(), |l| format!("{}:{l}", now.path));
                failures.push((
                    format!(
                        "{at}: changed since commit {} published {}: {}",
                        p.commit,
                        entry.name,
                        changes.join("; ")
                    ),
                    format!(
                        "a published release file is never edited: restore it with `git checkout {} -- {}` (a new step goes in a new release)",
                        p.commit.short(),
                        now.path
                    ),
                ));
            }
        }
    }

    let mut out = CheckOutcome::new(
        "published releases unchanged",
        &[
            ("publications", publications.len()),
            ("entries", entries_checked),
            ("appended", appended),
        ],
        format!(
            "{} release(s) compared with the commit that published them, {entries_checked} entries in {WORK_TREE}, {appended} appended after publication",
            publications.len()
        ),
    );
    for (message, hint) in failures {
        out.fail(message, hint);
    }
    out
}

/// What differs between a release file as published and as it is now, and
/// the first cover (`component/name`) added or changed.
fn covers_changes(was: &ReleaseFile, now: &ReleaseFile) -> (Vec<String>, Option<String>) {
    let mut out = Vec::new();
    if was.version != now.version {
        out.push(format!("version {} became {}", was.version, now.version));
    }
    let flat = |f: &ReleaseFile| -> BTreeMap<String, String> {
        f.covers
            .iter()
            .flat_map(|(c, names)| {
                names
                    .iter()
                    .map(move |(n, sum)| (format!("{c}/{n}"), sum.to_string()))
            })
            .collect()
    };
    let (a, b) = (flat(was), flat(now));
    let added: Vec<&str> = b
        .keys()
        .filter(|k| !a.contains_key(*k))
        .map(String::as_str)
        .collect();
    let removed: Vec<&str> = a
        .keys()
        .filter(|k| !b.contains_key(*k))
        .map(String::as_str)
        .collect();
    let changed: Vec<&str> = a
        .iter()
        .filter(|(k, v)| b.get(*k).is_some_and(|w| w != *v))
        .map(|(k, _)| k.as_str())
        .collect();
    if !added.is_empty() {
        out.push(format!("covers {} added", added.join(", ")));
    }
    if !removed.is_empty() {
        out.push(format!("covers {} removed", removed.join(", ")));
    }
    if !changed.is_empty() {
        out.push(format!("checksum of {} changed", changed.join(", ")));
    }
    let first = added.first().or(changed.first()).map(|k| (*k).to_string());
    (out, first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_line_of_a_release_entry() {
        let text = "[project]\nname = \"R2\"\n\n[[release]]\nname = \"R1\"\nversion = \"1.0\"\n\n[[ release ]]\nname = 'R2'\n";
        let r2 = ReleaseName::parse("R2").expect("name");
        assert_eq!(manifest_line(text, &r2), Some(9));
        let r3 = ReleaseName::parse("R3").expect("name");
        assert_eq!(manifest_line(text, &r3), None);
    }
}
