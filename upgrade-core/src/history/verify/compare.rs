//! *No step lost*, *no conflicting twins* and *released entries unchanged*:
//! one pass over every step of every tree compared with the work tree.

use std::collections::BTreeMap;

use crate::model::step::{Step, StepKey};
use crate::trees::git_tree::Revision;
use crate::trees::tree::Tree;

use super::{CheckOutcome, Failure, WORK_TREE};

struct Seen<'a> {
    revision: &'a str,
    step: &'a Step,
}

fn differences(old: &Step, new: &Step) -> Vec<String> {
    let mut out = Vec::new();
    if old.release() != new.release() {
        out.push(format!(
            "release {} became {}",
            old.release().map_or("(none)", |r| r.as_str()),
            new.release().map_or("(none: standalone)", |r| r.as_str())
        ));
    }
    if old.computed() != new.computed() {
        out.push(format!("SQL {} became {}", old.computed(), new.computed()));
    }
    if old.phase != new.phase {
        out.push(format!("phase {} became {}", old.phase, new.phase));
    }
    if old.requires != new.requires {
        out.push("requires changed".into());
    }
    if old.transaction != new.transaction {
        out.push("transaction changed".into());
    }
    if old.batch != new.batch {
        let show = |b: &Option<Box<crate::model::batch::Batch>>| {
            b.as_ref()
                .map_or("(none)".to_string(), |b| format!("`{b}`"))
        };
        out.push(format!(
            "batch {} became {}",
            show(&old.batch),
            show(&new.batch)
        ));
    }
    out
}

/// No step lost, no conflicting twins, released entries unchanged: one pass
/// over every step of every tree compared.
pub(super) fn compare_steps(head: &Tree, others: &[(&Revision, &Tree)]) -> [CheckOutcome; 3] {
    let retired: std::collections::BTreeSet<(String, String)> = head
        .manifest
        .retired
        .iter()
        .map(|r| (r.component.to_string(), r.name.clone()))
        .collect();
    let mut by_key: BTreeMap<&StepKey, Vec<Seen<'_>>> = BTreeMap::new();
    for step in &head.steps {
        by_key.entry(&step.key).or_default().push(Seen {
            revision: WORK_TREE,
            step,
        });
    }
    for (rev, tree) in others {
        for step in &tree.steps {
            by_key.entry(&step.key).or_default().push(Seen {
                revision: &rev.label,
                step,
            });
        }
    }

    let mut lost_missing = 0;
    let mut lost_retired = 0;
    let mut released_entries = 0;
    let mut released_changed = 0;
    let mut twin_conflicts = 0;
    let mut lost_failures = Vec::new();
    let mut released_failures = Vec::new();
    let mut twin_failures = Vec::new();
    let mut history_failures = Vec::new();

    for (rev, tree) in others {
        let theirs = &tree.manifest.releases;
        let ours = &head.manifest.releases;
        let prefix = theirs.len() <= ours.len()
            && theirs
                .iter()
                .zip(ours.iter())
                .all(|(a, b)| a.name == b.name);
        if !prefix {
            let names = |v: &[crate::model::manifest::ReleaseEntry]| {
                v.iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            history_failures.push(Failure {
                message: format!(
                    "upgrade.toml: the release history at {rev} ({}) is not a prefix of the work tree's ({})",
                    names(theirs),
                    names(ours)
                ),
                hint: "the history is append-only: restore the [[release]] entries from version control".into(),
            });
        }
    }

    for (key, seen) in &by_key {
        let at_head = seen
            .first()
            .filter(|s| s.revision == WORK_TREE)
            .map(|s| s.step);
        let is_retired = retired.contains(&(key.component.to_string(), key.name.to_string()));
        if at_head.is_none() {
            if is_retired {
                lost_retired += 1;
            } else {
                lost_missing += 1;
                let at: Vec<String> = seen
                    .iter()
                    .map(|s| format!("{}:{}", s.revision, s.step.location()))
                    .collect();
                lost_failures.push(Failure {
                    message: format!(
                        "step {key} is missing from {WORK_TREE}; it exists at {}",
                        at.join(", ")
                    ),
                    hint: format!(
                        "restore it from version control, or retire it on purpose with [[retired]] component = \"{}\" step = \"{}\" reason = \"...\" in upgrade.toml",
                        key.component, key.name
                    ),
                });
            }
        }
        let mut released_problem = false;
        // One failure per distinct change, listing every revision that shows it.
        let mut changed: Vec<(Vec<String>, Vec<String>, &Step)> = Vec::new();
        for s in seen.iter().filter(|s| s.revision != WORK_TREE) {
            if s.step.release().is_none() {
                continue;
            }
            released_entries += 1;
            let Some(now) = at_head else {
                continue;
            };
            let changes = differences(s.step, now);
            if changes.is_empty() {
                continue;
            }
            released_problem = true;
            let at = format!("{}:{}", s.revision, s.step.location());
            match changed.iter_mut().find(|(c, _, _)| *c == changes) {
                Some((_, revisions, _)) => revisions.push(at),
                None => changed.push((changes, vec![at], s.step)),
            }
        }
        if let Some(now) = at_head {
            for (changes, revisions, old) in changed {
                released_changed += 1;
                released_failures.push(Failure {
                    message: format!(
                        "step {key}, tagged {} at {}, was changed in {WORK_TREE} at {}: {}",
                        old.release().map_or("", |r| r.as_str()),
                        revisions.join(", "),
                        now.location(),
                        changes.join("; ")
                    ),
                    hint: "released entries are never edited: restore the entry from version control and put the change in a new step (`consolidate new`)".into(),
                });
            }
        }
        if released_problem {
            continue;
        }
        let first = &seen[0];
        let mut reported: Vec<crate::model::step::Checksum> = vec![first.step.computed()];
        for s in &seen[1..] {
            if reported.contains(&s.step.computed()) {
                continue;
            }
            reported.push(s.step.computed());
            twin_conflicts += 1;
            twin_failures.push(Failure {
                message: format!(
                    "step {key} has two contents: {}:{} ({}) and {}:{} ({})",
                    first.revision,
                    first.step.location(),
                    first.step.computed(),
                    s.revision,
                    s.step.location(),
                    s.step.computed()
                ),
                hint: "one name, one content: give one of them a new name (`consolidate new`), or make both identical".into(),
            });
        }
    }

    let distinct_other = by_key
        .values()
        .filter(|v| v.iter().any(|s| s.revision != WORK_TREE))
        .count();
    let mut lost = CheckOutcome::new(
        "no step lost",
        &[
            ("steps", distinct_other),
            ("revisions", others.len()),
            ("missing", lost_missing),
            ("retired", lost_retired),
        ],
        format!(
            "{distinct_other} step(s) at {} revision(s), {lost_missing} missing from {WORK_TREE}, {lost_retired} retired",
            others.len()
        ),
    );
    for f in lost_failures {
        lost.fail(f.message, f.hint);
    }
    let mut twins = CheckOutcome::new(
        "no conflicting twins",
        &[
            ("names", by_key.len()),
            ("trees", others.len() + 1),
            ("conflicts", twin_conflicts),
        ],
        format!(
            "{} step name(s) across {} tree(s), {twin_conflicts} conflict(s)",
            by_key.len(),
            others.len() + 1
        ),
    );
    for f in twin_failures {
        twins.fail(f.message, f.hint);
    }
    let mut released = CheckOutcome::new(
        "released entries unchanged",
        &[
            ("entries", released_entries),
            ("changed", released_changed),
            ("histories", others.len()),
        ],
        format!(
            "{released_entries} released entries at {} revision(s), {released_changed} changed, {} release history mismatch(es)",
            others.len(),
            history_failures.len()
        ),
    );
    for f in history_failures.into_iter().chain(released_failures) {
        released.fail(f.message, f.hint);
    }
    [lost, twins, released]
}
