//! Which maintenance scope each selected step runs under.
//!
//! - `pre` and `post` steps run with the site online (no row).
//! - Strategy `global`: every `main` step runs under whole-site maintenance (`*`).
//! - Strategy `staged`: `main` steps of core, of every component that is not
//!   safe to disable (`db/component.toml`), and of any component such a step
//!   requires, run first under `*`, in plan order; then the site is online
//!   and each other component runs under its own scope, one after the other
//!   in plan order (plugin-type order, subplugins with their parent). Plan
//!   order already puts a required step of another component first, so
//!   moving the site's steps ahead never runs a step before one it requires.

use std::collections::BTreeSet;

use crate::model::component::ComponentName;
use crate::model::manifest::Strategy;
use crate::model::step::{Phase, Step, StepKey};
use crate::site::ledger::maintenance::SITE_SCOPE;
use crate::trees::tree::Tree;

/// Where a group of steps runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// With the site online (`pre`, `post`).
    Online,
    /// Under whole-site maintenance (`*`).
    Site,
    /// Under the component's own maintenance.
    Component(ComponentName),
}

impl Scope {
    /// The `upgrade_maintenance.scope` value (`None` when online).
    pub fn key(&self) -> Option<&str> {
        match self {
            Scope::Online => None,
            Scope::Site => Some(SITE_SCOPE),
            Scope::Component(c) => Some(c.as_str()),
        }
    }
}

/// Consecutive steps that run under one scope.
#[derive(Debug, Clone)]
pub struct Segment<'t> {
    /// The scope.
    pub scope: Scope,
    /// The steps, in run order.
    pub steps: Vec<&'t Step>,
}

/// The components whose pending `main` steps (of `steps`) run under `*`.
pub fn site_components(tree: &Tree, steps: &[&Step]) -> BTreeSet<ComponentName> {
    let main: Vec<&Step> = steps
        .iter()
        .copied()
        .filter(|s| s.phase == Phase::Main)
        .collect();
    let mut site: BTreeSet<ComponentName> = main
        .iter()
        .map(|s| &s.key.component)
        .filter(|c| tree.manifest.strategy == Strategy::Global || !tree.safe_to_disable(c))
        .cloned()
        .collect();
    // A step under `*` that requires a step of a component of its own:
    // that component joins the site's part, so that it runs first.
    let keys: BTreeSet<&StepKey> = main.iter().map(|s| &s.key).collect();
    loop {
        let joined: Vec<ComponentName> = main
            .iter()
            .filter(|s| site.contains(&s.key.component))
            .flat_map(|s| s.requires.iter())
            .filter(|r| keys.contains(r) && !site.contains(&r.component))
            .map(|r| r.component.clone())
            .collect();
        if joined.is_empty() {
            return site;
        }
        site.extend(joined);
    }
}

/// The selected steps (in plan order) cut into segments by scope.
pub fn segments<'t>(tree: &Tree, steps: &[&'t Step]) -> Vec<Segment<'t>> {
    let site = site_components(tree, steps);
    let mut out: Vec<Segment<'t>> = Vec::new();
    let mut push = |scope: Scope, step: &'t Step| match out.last_mut() {
        Some(last) if last.scope == scope => last.steps.push(step),
        _ => out.push(Segment {
            scope,
            steps: vec![step],
        }),
    };
    for phase in [Phase::Pre, Phase::Main, Phase::Post] {
        let of_phase = steps.iter().copied().filter(|s| s.phase == phase);
        if phase != Phase::Main {
            for step in of_phase {
                push(Scope::Online, step);
            }
            continue;
        }
        let (first, rest): (Vec<&Step>, Vec<&Step>) =
            of_phase.partition(|s| site.contains(&s.key.component));
        for step in first {
            push(Scope::Site, step);
        }
        for step in rest {
            push(Scope::Component(step.key.component.clone()), step);
        }
    }
    out
}

/// The maintenance a component's pending work needs: `none` (only `pre`
/// or `post` steps), `component` (its own scope) or `site` (`*`).
pub fn scope_needed(tree: &Tree, pending: &[&Step], component: &str) -> &'static str {
    if !pending
        .iter()
        .any(|s| s.phase == Phase::Main && s.key.component.as_str() == component)
    {
        return "none";
    }
    if site_components(tree, pending)
        .iter()
        .any(|c| c.as_str() == component)
    {
        "site"
    } else {
        "component"
    }
}
