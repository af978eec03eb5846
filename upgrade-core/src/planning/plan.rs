//! The plan order of a tree and the pending steps of a site.
//!
//! Phases come first (`pre`, `main`, `post`). Within a phase steps run in name
//! (date) order, ties broken by component rank: core, then plugin types in the
//! manifest's order, then component name. `requires` adds edges. With the
//! staged strategy `main` steps are grouped by component in rank order, and a
//! requirement that order would break is an error, never a silent reorder.

use std::borrow::Borrow;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::model::manifest::Strategy;
use crate::model::step::{Phase, Step, StepKey};
use crate::model::text_order;
use crate::planning::site_state::SiteState;
use crate::trees::tree::Tree;

/// Why a tree has no plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A step requires a step that is not in the tree.
    #[error("{step} ({location}) requires {requires}, which does not exist")]
    MissingRequirement {
        /// The requiring step.
        step: String,
        /// Where it is defined.
        location: String,
        /// The missing step.
        requires: String,
    },
    /// A step requires a step of a later phase.
    #[error(
        "{step} ({phase}, {location}) requires {requires} ({required_phase}, {required_location}), which runs in a later phase"
    )]
    LaterPhase {
        /// The requiring step.
        step: String,
        /// Its phase.
        phase: Phase,
        /// Where it is defined.
        location: String,
        /// The required step.
        requires: String,
        /// Its phase.
        required_phase: Phase,
        /// Where it is defined.
        required_location: String,
    },
    /// Requirements form a cycle.
    #[error("requirements form a cycle: {}", .steps.join(" -> "))]
    Cycle {
        /// The steps of the cycle, each with its location, the first repeated at the end.
        steps: Vec<String>,
    },
    /// The staged order runs a required step after the step that requires it.
    #[error(
        "{step} ({location}) requires {requires} ({required_location}), but the staged strategy runs {requires} later"
    )]
    StagedOrder {
        /// The requiring step.
        step: String,
        /// Where it is defined.
        location: String,
        /// The required step.
        requires: String,
        /// Where it is defined.
        required_location: String,
    },
}

impl PlanError {
    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            PlanError::MissingRequirement { .. } => {
                "fix the `requires` line, or add the missing step"
            }
            PlanError::LaterPhase { .. } => {
                "move the required step to an earlier phase, or the requiring step to a later one"
            }
            PlanError::Cycle { .. } => "remove one of the `requires` lines of the cycle",
            PlanError::StagedOrder { .. } => {
                "drop the requirement, move the step to the component it depends on, or use strategy = \"global\""
            }
        }
    }
}

/// Phase first, so the two shapes below never decide against each other:
/// staged main steps `(phase, rank, component, 0, name)`, every other step
/// `(phase, 0, name, rank, component)`. Borrowed: nothing is copied per step.
type SortKey<'t> = (Phase, usize, &'t str, usize, &'t str);

fn sort_key(step: &Step, rank: usize, staged: bool) -> SortKey<'_> {
    let component = step.key.component.as_str();
    let name = step.key.name.as_str();
    if staged && step.phase == Phase::Main {
        (step.phase, rank, component, 0, name)
    } else {
        (step.phase, 0, name, rank, component)
    }
}

/// The steps' indices in (key, index) order. Each step gets a number that
/// orders as its key's head does (phase, then the ten digits of its name and
/// its next eight bytes, or its component rank for a staged main step): one
/// sort of (number, index) pairs decides most places, and only runs of
/// equal numbers compare keys.
fn sorted_by_key<S: Borrow<Step>>(steps: &[S], ranks: &[usize], staged: bool) -> Vec<usize> {
    let steps: Vec<&Step> = steps.iter().map(Borrow::borrow).collect();
    let steps = steps.as_slice();
    let key = |i: usize| sort_key(steps[i], ranks[i], staged);
    let digits = |s: &Step| {
        let head = s.key.name.as_str().get(..10)?;
        head.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| head.parse::<u64>().ok())
            .flatten()
    };
    // The eight bytes after the digits: a smaller number is a smaller rest
    // of the name (equal numbers say nothing).
    let next_bytes = |s: &Step| {
        let rest = s.key.name.as_str().as_bytes().get(10..).unwrap_or_default();
        u128::from(text_order::head(rest))
    };
    // All or none: a number must never order two keys against their order.
    let heads: Option<Vec<u64>> = steps.iter().map(|s| digits(s)).collect();
    const LOW: u64 = (1 << 40) - 1;
    let number = |i: usize| -> u128 {
        let step = steps[i];
        let phase = match step.phase {
            Phase::Pre => 0u128,
            Phase::Main => 1,
            Phase::Post => 2,
        } << 104;
        if staged && step.phase == Phase::Main {
            phase | u128::from(u64::try_from(ranks[i]).unwrap_or(LOW).min(LOW)) << 64
        } else if let Some(heads) = &heads {
            phase | u128::from(heads[i].min(LOW)) << 64 | next_bytes(step)
        } else {
            phase
        }
    };
    let mut pairs: Vec<(u128, usize)> = (0..steps.len()).map(|i| (number(i), i)).collect();
    pairs.sort_unstable();
    for run in pairs.chunk_by_mut(|a, b| a.0 == b.0) {
        if run.len() > 1 {
            run.sort_unstable_by(|a, b| key(a.1).cmp(&key(b.1)).then(a.1.cmp(&b.1)));
        }
    }
    pairs.into_iter().map(|(_, i)| i).collect()
}

/// The index of `key` in the tree's steps (sorted by key, as [`Tree::step`]).
fn index_of(steps: &[Step], key: &StepKey) -> Option<usize> {
    steps.binary_search_by(|s| s.key.cmp(key)).ok()
}

/// Does any step of the tree require another? Without requirements the
/// plan order is the key order ([`key_order`]) and cannot fail.
pub fn has_requires(tree: &Tree) -> bool {
    tree.steps.iter().any(|s| !s.requires.is_empty())
}

/// `steps` (steps of `tree`) in key order: the plan order of a tree without
/// requirements, for a part of its steps (`status` orders only the pending
/// ones, often none).
pub fn key_order<'t>(tree: &Tree, steps: Vec<&'t Step>) -> Vec<&'t Step> {
    let ranks: Vec<usize> = steps
        .iter()
        .map(|s| tree.manifest.type_rank(&s.key.component))
        .collect();
    let staged = tree.manifest.strategy == Strategy::Staged;
    sorted_by_key(&steps, &ranks, staged)
        .into_iter()
        .map(|i| steps[i])
        .collect()
}

/// Every step of the tree in plan order.
pub fn order(tree: &Tree) -> Result<Vec<&Step>, PlanError> {
    let steps = &tree.steps;
    // Keys are built when compared, from each step's component rank: no
    // table of keys per step (release holds the whole tree while ordering).
    let ranks: Vec<usize> = steps
        .iter()
        .map(|s| tree.manifest.type_rank(&s.key.component))
        .collect();
    let staged = tree.manifest.strategy == Strategy::Staged;
    if !has_requires(tree) {
        // No edges: the plan order is the key order, for both strategies
        // (and no table of dependents, nor of in-degrees, is needed).
        let sorted = sorted_by_key(steps, &ranks, staged);
        return Ok(sorted.into_iter().map(|i| &steps[i]).collect());
    }
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    let mut indegree = vec![0usize; steps.len()];
    for (i, step) in steps.iter().enumerate() {
        for req in &step.requires {
            let Some(j) = index_of(steps, req) else {
                return Err(PlanError::MissingRequirement {
                    step: step.key.to_string(),
                    location: step.location(),
                    requires: req.to_string(),
                });
            };
            let required = &steps[j];
            if required.phase > step.phase && required.is_batched() {
                // Checked on the site instead: `plan` and `apply` stop while
                // the batched post step has not finished there (runner::post).
                continue;
            }
            if required.phase > step.phase {
                return Err(PlanError::LaterPhase {
                    step: step.key.to_string(),
                    phase: step.phase,
                    location: step.location(),
                    requires: req.to_string(),
                    required_phase: required.phase,
                    required_location: required.location(),
                });
            }
            dependents[j].push(i);
            indegree[i] += 1;
        }
    }
    // Each step's rank in (key, index) order, computed with one sort: the
    // heap then compares integers, not keys (100,000 steps: 5x faster).
    let sorted = sorted_by_key(steps, &ranks, staged);
    let mut rank = vec![0usize; steps.len()];
    for (r, &i) in sorted.iter().enumerate() {
        rank[i] = r;
    }
    let mut heap: BinaryHeap<Reverse<usize>> = BinaryHeap::new();
    for (i, d) in indegree.iter().enumerate() {
        if *d == 0 {
            heap.push(Reverse(rank[i]));
        }
    }
    let mut out = Vec::with_capacity(steps.len());
    while let Some(Reverse(r)) = heap.pop() {
        let i = sorted[r];
        out.push(i);
        for &d in &dependents[i] {
            indegree[d] -= 1;
            if indegree[d] == 0 {
                heap.push(Reverse(rank[d]));
            }
        }
    }
    if out.len() < steps.len() {
        return Err(cycle(tree, &indegree));
    }
    if staged {
        // Staged order is fixed by the keys alone (`sorted`, each step at
        // `rank`): any requirement it breaks is an error.
        for (i, step) in steps.iter().enumerate() {
            for req in &step.requires {
                if let Some(j) = index_of(steps, req) {
                    if steps[j].phase > step.phase && steps[j].is_batched() {
                        continue;
                    }
                    if rank[j] > rank[i] {
                        return Err(PlanError::StagedOrder {
                            step: step.key.to_string(),
                            location: step.location(),
                            requires: req.to_string(),
                            required_location: steps[j].location(),
                        });
                    }
                }
            }
        }
        return Ok(sorted.into_iter().map(|i| &steps[i]).collect());
    }
    Ok(out.into_iter().map(|i| &steps[i]).collect())
}

fn cycle(tree: &Tree, indegree: &[usize]) -> PlanError {
    let steps = &tree.steps;
    // Walk requirements among the steps left unsorted until one repeats.
    let start = indegree.iter().position(|&d| d > 0).unwrap_or(0);
    let mut path: Vec<usize> = vec![start];
    let mut current = start;
    loop {
        let next = steps[current]
            .requires
            .iter()
            .filter_map(|r| index_of(steps, r))
            .find(|&j| indegree[j] > 0);
        let Some(next) = next else { break };
        if let Some(pos) = path.iter().position(|&p| p == next) {
            let mut cycle: Vec<String> = path[pos..]
                .iter()
                .map(|&i| format!("{} ({})", steps[i].key, steps[i].location()))
                .collect();
            cycle.push(format!("{}", steps[next].key));
            return PlanError::Cycle { steps: cycle };
        }
        path.push(next);
        current = next;
    }
    PlanError::Cycle {
        steps: path.iter().map(|&i| steps[i].key.to_string()).collect(),
    }
}

/// `pending(T, S)`: the steps of the tree not applied on the site, in plan order.
pub fn pending<'t>(tree: &'t Tree, order: &[&'t Step], site: &SiteState) -> Vec<&'t Step> {
    order
        .iter()
        .copied()
        .filter(|s| !site.applied(tree, s))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::source::MemoryTree;

    fn tree(strategy: &str, steps: &[(&str, &str)]) -> Tree {
        let mut mem = MemoryTree::default();
        mem.files.insert(
            "upgrade.toml".into(),
            format!(
                "[project]\nname = \"t\"\nversion = \"1\"\nrevision = 1\nstrategy = \"{strategy}\"\n\n[components]\ncore = \"lib\"\nplugin_types = [\n  {{ name = \"theme\", folder = \"theme\" }},\n  {{ name = \"block\", folder = \"blocks\" }},\n  {{ name = \"mod\", folder = \"mod\" }},\n]\n"
            )
            .into_bytes(),
        );
        for (path, text) in steps {
            mem.files
                .insert((*path).to_string(), text.as_bytes().to_vec());
        }
        Tree::load(&mem).expect("tree loads")
    }

    fn names(tree: &Tree) -> Result<Vec<String>, PlanError> {
        order(tree).map(|o| o.iter().map(|s| s.key.to_string()).collect())
    }

    #[test]
    fn numbered_sort_orders_as_the_keys_do() {
        // Shared date heads across components and phases, staged and global.
        let mut files = Vec::new();
        for (i, folder) in ["lib", "theme/a", "blocks/b", "mod/c", "mod/d"]
            .iter()
            .enumerate()
        {
            for n in 0..12 {
                let phase = ["pre", "main", "post"][(n + i) % 3];
                let name = format!(
                    "2008{:02}{:02}{:02}-s{}",
                    1 + n % 3,
                    1 + (n * 7 + i) % 5,
                    n % 2,
                    n
                );
                files.push((
                    format!("{folder}/db/upgrades/{name}.sql"),
                    format!("-- phase: {phase}\nINSERT INTO kv (k) VALUES ('{n}');\n"),
                ));
            }
            // One date head, names differing before, at and after the
            // eight bytes that follow the digits.
            for (n, slug) in [
                "a",
                "abcdefg",
                "abcdefgh",
                "abcdefghi",
                "abcdefgh-x",
                "ab_c",
                "b",
            ]
            .iter()
            .enumerate()
            {
                let phase = ["pre", "main"][(n + i) % 2];
                files.push((
                    format!("{folder}/db/upgrades/2008010100-{slug}.sql"),
                    format!("-- phase: {phase}\nINSERT INTO kv (k) VALUES ('x{n}');\n"),
                ));
            }
        }
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        for strategy in ["global", "staged"] {
            let t = tree(strategy, &files);
            let staged = t.manifest.strategy == Strategy::Staged;
            let ranks: Vec<usize> = t
                .steps
                .iter()
                .map(|s| t.manifest.type_rank(&s.key.component))
                .collect();
            let mut naive: Vec<usize> = (0..t.steps.len()).collect();
            naive.sort_by(|&a, &b| {
                sort_key(&t.steps[a], ranks[a], staged).cmp(&sort_key(
                    &t.steps[b],
                    ranks[b],
                    staged,
                ))
            });
            assert_eq!(sorted_by_key(&t.steps, &ranks, staged), naive, "{strategy}");
        }
    }

    #[test]
    fn global_order_is_phase_name_then_rank_with_requires() {
        let t = tree(
            "global",
            &[
                ("mod/forum/db/upgrades/2008010100-a.sql", "SELECT 1;\n"),
                ("blocks/nav/db/upgrades/2008010100-a.sql", "SELECT 1;\n"),
                ("theme/x/db/upgrades/2008010100-a.sql", "SELECT 1;\n"),
                ("lib/db/upgrades/2008010100-a.sql", "SELECT 1;\n"),
                (
                    "lib/db/upgrades/2007010100-late.sql",
                    "-- requires: mod_forum/2008020100-z\nSELECT 1;\n",
                ),
                ("mod/forum/db/upgrades/2008020100-z.sql", "SELECT 1;\n"),
                (
                    "mod/forum/db/upgrades/2006010100-post.sql",
                    "-- phase: post\nSELECT 1;\n",
                ),
                (
                    "mod/forum/db/upgrades/2009010100-pre.sql",
                    "-- phase: pre\nSELECT 1;\n",
                ),
            ],
        );
        assert_eq!(
            names(&t).expect("plan"),
            [
                "mod_forum/2009010100-pre",
                "core/2008010100-a",
                "theme_x/2008010100-a",
                "block_nav/2008010100-a",
                "mod_forum/2008010100-a",
                "mod_forum/2008020100-z",
                "core/2007010100-late",
                "mod_forum/2006010100-post",
            ]
        );
    }

    #[test]
    fn staged_order_groups_main_by_component_and_refuses_broken_requires() {
        let steps = [
            ("mod/forum/db/upgrades/2007010100-m.sql", "SELECT 1;\n"),
            ("lib/db/upgrades/2008010100-c.sql", "SELECT 1;\n"),
            ("blocks/nav/db/upgrades/2006010100-b.sql", "SELECT 1;\n"),
        ];
        let t = tree("staged", &steps);
        assert_eq!(
            names(&t).expect("plan"),
            [
                "core/2008010100-c",
                "block_nav/2006010100-b",
                "mod_forum/2007010100-m"
            ]
        );
        let mut broken = steps.to_vec();
        broken[1] = (
            "lib/db/upgrades/2008010100-c.sql",
            "-- requires: mod_forum/2007010100-m\nSELECT 1;\n",
        );
        let err = names(&tree("staged", &broken)).expect_err("staged order broken");
        assert!(matches!(err, PlanError::StagedOrder { .. }), "{err}");
        assert!(
            err.to_string().contains("core/2008010100-c")
                && err.to_string().contains("mod_forum/2007010100-m")
        );
        // The same requirement is fine in the global strategy: it reorders.
        assert_eq!(
            names(&tree("global", &broken)).expect("plan")[0],
            "block_nav/2006010100-b"
        );
    }

    #[test]
    fn cycles_name_every_step() {
        let t = tree(
            "global",
            &[
                (
                    "lib/db/upgrades/2008010100-a.sql",
                    "-- requires: core/2008010200-b\nSELECT 1;\n",
                ),
                (
                    "lib/db/upgrades/2008010200-b.sql",
                    "-- requires: core/2008010100-a\nSELECT 1;\n",
                ),
            ],
        );
        let err = names(&t).expect_err("cycle");
        let text = err.to_string();
        assert!(
            text.contains("cycle")
                && text.contains("core/2008010100-a")
                && text.contains("core/2008010200-b"),
            "{text}"
        );
        assert!(text.contains("lib/db/upgrades/2008010100-a.sql"), "{text}");
    }
}
