//! C1 between two trees: for every site state the earlier tree can produce,
//! the later tree leaves pending exactly the steps the earlier one does, in
//! the same order.
//!
//! The states are every prefix `k` of the earlier tree's plan combined with no
//! completed release or with any release `c` of its history that a site could
//! have completed after applying that prefix (every step tagged `c` or earlier
//! lies in the prefix); ledger rows of steps tagged `c` or earlier are pruned,
//! as completing `c` does. In such a state the earlier tree's pending steps
//! are exactly `plan[k..]`, so instead of enumerating states × steps the
//! comparison is decided per step and release (`O(steps × releases)`):
//!
//! - a step lies beyond the prefix in some state where the later tree counts
//!   it as applied by release (it would be skipped), or
//! - a step's ledger row was pruned by `c` and the later tree does not count
//!   it as applied by `c` (it would run again), or
//! - the later tree lacks the step, or orders the shared steps differently.
//!
//! Steps the later tree has and the earlier one lacks are returned as
//! `arrived`: they are new to every site, which is not a C1 question.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::release_name::ReleaseName;
use crate::model::step::{Step, StepKey};
use crate::planning::site_state::SiteState;
use crate::trees::tree::Tree;

/// A site state of the earlier tree: the first `applied` steps of its plan,
/// and the release completed (if any).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SampleState {
    /// How many steps of the earlier plan the site applied.
    pub applied: usize,
    /// The last of them.
    #[serde(serialize_with = "crate::history::verify::as_text::option")]
    pub last_applied: Option<StepKey>,
    /// The release the site completed.
    #[serde(serialize_with = "crate::history::verify::as_text::option")]
    pub release: Option<ReleaseName>,
}

impl std::fmt::Display for SampleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.last_applied {
            None => write!(f, "a site that applied no step")?,
            Some(last) => write!(
                f,
                "a site that applied the first {} step(s) (up to {last})",
                self.applied
            )?,
        }
        match &self.release {
            Some(r) => write!(f, " and completed {r}"),
            None => write!(f, " and completed no release"),
        }
    }
}

/// How a step fares differently in the two trees.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Difference {
    /// The later tree lacks the step: a site that has not run it never will.
    Lost,
    /// The earlier tree leaves it pending, the later one counts it applied by release.
    Skipped,
    /// The earlier tree counts it applied (its ledger row was pruned), the later one runs it again.
    RunsAgain,
    /// The shared steps are planned in another order.
    Order {
        /// The step the earlier tree runs at this position.
        #[serde(serialize_with = "crate::history::verify::as_text::one")]
        before: StepKey,
        /// The step the later tree runs there.
        #[serde(serialize_with = "crate::history::verify::as_text::one")]
        after: StepKey,
    },
}

/// One difference, with a site state that shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct C1Difference {
    /// The step.
    #[serde(serialize_with = "crate::history::verify::as_text::one")]
    pub step: StepKey,
    /// What differs.
    pub difference: Difference,
    /// A state of the earlier tree where it shows.
    pub state: SampleState,
}

/// The result of comparing two trees.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct C1Outcome {
    /// How many site states the comparison covers.
    pub states: usize,
    /// Steps of the earlier tree compared.
    pub steps: usize,
    /// Every difference found (at most one per step).
    pub differences: Vec<C1Difference>,
    /// Steps the later tree has and the earlier one lacks.
    pub arrived: Vec<StepKey>,
}

/// The site states of the earlier tree: for each release of its history, the
/// smallest prefix after which a site can have completed it.
#[derive(Debug, Clone)]
pub struct StateSpace<'t> {
    before: &'t Tree,
    plan: Vec<&'t Step>,
    /// Per release of the history: the smallest prefix length that includes
    /// every step tagged with it or earlier.
    min_prefix: Vec<usize>,
    /// Per plan position: the history index of the step's release.
    tag: Vec<Option<usize>>,
}

impl<'t> StateSpace<'t> {
    /// The state space of `before` with its plan order `plan`.
    pub fn new(before: &'t Tree, plan: &[&'t Step]) -> Self {
        let releases = before.manifest.releases.len();
        let tag: Vec<Option<usize>> = plan
            .iter()
            .map(|s| s.release().and_then(|r| before.manifest.release_index(r)))
            .collect();
        let mut last_at = vec![0usize; releases];
        for (p, t) in tag.iter().enumerate() {
            if let Some(t) = *t {
                last_at[t] = last_at[t].max(p + 1);
            }
        }
        let mut min_prefix = Vec::with_capacity(releases);
        let mut running = 0;
        for last in last_at {
            running = running.max(last);
            min_prefix.push(running);
        }
        StateSpace {
            before,
            plan: plan.to_vec(),
            min_prefix,
            tag,
        }
    }

    /// The number of states: every prefix with no release, plus every prefix
    /// long enough for each release.
    pub fn len(&self) -> usize {
        let n = self.plan.len();
        (n + 1)
            + self
                .min_prefix
                .iter()
                .map(|&m| n + 1 - m.min(n + 1))
                .sum::<usize>()
    }

    /// Per release of the history, the shortest prefix after which a site
    /// can have completed it: the states right after a release completes.
    pub fn release_prefixes(&self) -> &[usize] {
        &self.min_prefix
    }

    /// Is the space empty? (Never: the fresh site is always in it.)
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Every state as `(prefix, release index)`, in order; for tests and sampling.
    pub fn states(&self) -> impl Iterator<Item = (usize, Option<usize>)> + '_ {
        let n = self.plan.len();
        let none = (0..=n).map(|k| (k, None));
        let released = self
            .min_prefix
            .iter()
            .enumerate()
            .flat_map(move |(j, &m)| (m..=n).map(move |k| (k, Some(j))));
        none.chain(released)
    }

    /// The site state `(prefix, release)`: ledger rows of the prefix minus the
    /// rows completing the release pruned.
    pub fn site_state(&self, prefix: usize, release: Option<usize>) -> SiteState {
        let mut site = SiteState::fresh();
        for (p, step) in self.plan.iter().take(prefix).enumerate() {
            let pruned = matches!((self.tag[p], release), (Some(t), Some(c)) if t <= c);
            if !pruned {
                site.ledger.insert(step.key.clone(), step.checksum.clone());
            }
        }
        site.release = release.map(|c| self.before.manifest.releases[c].name.clone());
        site
    }

    /// The description of a state for messages.
    pub fn sample(&self, prefix: usize, release: Option<usize>) -> SampleState {
        SampleState {
            applied: prefix,
            last_applied: prefix
                .checked_sub(1)
                .and_then(|p| self.plan.get(p))
                .map(|s| s.key.clone()),
            release: release.map(|c| self.before.manifest.releases[c].name.clone()),
        }
    }
}

/// Compares `after` with `before` over every state of `before` (plans given
/// in plan order, as [`crate::planning::plan::order`] returns them).
pub fn compare(
    before: &Tree,
    plan_before: &[&Step],
    after: &Tree,
    plan_after: &[&Step],
) -> C1Outcome {
    let space = StateSpace::new(before, plan_before);
    let history = &before.manifest.releases;
    let in_after: Vec<Option<usize>> = history
        .iter()
        .map(|r| after.manifest.release_index(&r.name))
        .collect();
    let mut differences = Vec::new();
    for (p, step) in plan_before.iter().enumerate() {
        let Some(later) = after.step(&step.key) else {
            differences.push(C1Difference {
                step: step.key.clone(),
                difference: Difference::Lost,
                state: space.sample(p, None),
            });
            continue;
        };
        let tag_after = later
            .release()
            .and_then(|r| after.manifest.release_index(r));
        for (j, &min_prefix) in space.min_prefix.iter().enumerate() {
            let applied_by_release_after =
                matches!((tag_after, in_after[j]), (Some(t), Some(c)) if t <= c);
            let pruned_before = space.tag[p].is_some_and(|t| t <= j);
            if pruned_before && !applied_by_release_after {
                differences.push(C1Difference {
                    step: step.key.clone(),
                    difference: Difference::RunsAgain,
                    state: space.sample((p + 1).max(min_prefix), Some(j)),
                });
                break;
            }
            if min_prefix <= p && applied_by_release_after {
                differences.push(C1Difference {
                    step: step.key.clone(),
                    difference: Difference::Skipped,
                    state: space.sample(min_prefix, Some(j)),
                });
                break;
            }
        }
    }
    let keys_before: BTreeMap<&StepKey, usize> = plan_before
        .iter()
        .enumerate()
        .map(|(i, s)| (&s.key, i))
        .collect();
    let keys_after: BTreeSet<&StepKey> = plan_after.iter().map(|s| &s.key).collect();
    let shared_before = plan_before
        .iter()
        .map(|s| &s.key)
        .filter(|k| keys_after.contains(k));
    let shared_after = plan_after
        .iter()
        .map(|s| &s.key)
        .filter(|k| keys_before.contains_key(k));
    if let Some((b, a)) = shared_before.zip(shared_after).find(|(b, a)| b != a) {
        differences.push(C1Difference {
            step: b.clone(),
            difference: Difference::Order {
                before: b.clone(),
                after: a.clone(),
            },
            state: space.sample(0, None),
        });
    }
    C1Outcome {
        states: space.len(),
        steps: plan_before.len(),
        differences,
        arrived: plan_after
            .iter()
            .filter(|s| !keys_before.contains_key(&s.key))
            .map(|s| s.key.clone())
            .collect(),
    }
}

#[cfg(test)]
mod tests;
