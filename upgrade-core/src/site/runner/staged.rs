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
    // Each component once (not once per step): the tree's steps marked,
    // then walked component by component.
    let marked = tree.marked(&main);
    let mut components = tree.components_where(|i| marked[i]);
    components.extend(
        main.iter()
            .filter(|s| tree.position(s).is_none())
            .map(|s| &s.key.component),
    );
    let mut site: BTreeSet<ComponentName> = components
        .into_iter()
        .filter(|c| tree.manifest.strategy == Strategy::Global || !tree.safe_to_disable(c))
        .cloned()
        .collect();
    if main.iter().all(|s| s.requires.is_empty()) {
        return site;
    }
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
    // Looked up once per component of the tree, not per step.
    let site_at = tree.per_component(|c| site.contains(c));
    let on_site = |s: &Step| {
        tree.position(s)
            .map_or_else(|| site.contains(&s.key.component), |i| site_at[i])
    };
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
        let (first, rest): (Vec<&Step>, Vec<&Step>) = of_phase.partition(|s| on_site(s));
        for step in first {
            push(Scope::Site, step);
        }
        for step in rest {
            push(Scope::Component(step.key.component.clone()), step);
        }
    }
    out
}

/// The selected steps in the order `apply` runs them (the segments one
/// after the other): what `plan` shows.
pub fn run_order<'t>(tree: &Tree, steps: &[&'t Step]) -> Vec<&'t Step> {
    segments(tree, steps)
        .into_iter()
        .flat_map(|s| s.steps)
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::source::MemoryTree;
    use crate::planning::plan;

    fn tree(strategy: &str, files: &[(&str, &str)]) -> Tree {
        let manifest = format!(
            "[project]\nname = \"t\"\nversion = \"2008030100.00\"\nrevision = 1\nstrategy = \"{strategy}\"\n[components]\ncore = \"lib\"\nplugin_types = [{{ name = \"block\", folder = \"blocks\" }}, {{ name = \"mod\", folder = \"mod\" }}]\n"
        );
        let mut mem = MemoryTree::default();
        mem.files
            .insert("upgrade.toml".into(), manifest.into_bytes());
        for (path, text) in files {
            mem.files.insert((*path).into(), text.as_bytes().to_vec());
        }
        Tree::load(&mem).expect("valid tree")
    }

    fn describe(segments: &[Segment<'_>]) -> Vec<String> {
        segments
            .iter()
            .map(|s| {
                let scope = s.scope.key().unwrap_or("online").to_string();
                let steps: Vec<String> = s.steps.iter().map(|s| s.key.to_string()).collect();
                format!("{scope}: {}", steps.join(" "))
            })
            .collect()
    }

    const SAFE: &str = "safe_to_disable = true\n";

    #[test]
    fn staged_runs_site_scope_first_then_each_safe_component_in_type_order() {
        let t = tree(
            "staged",
            &[
                ("lib/db/upgrades/2008010100-a.sql", "SELECT 1;\n"),
                (
                    "lib/db/upgrades/2008010101-p.sql",
                    "-- phase: pre\nSELECT 1;\n",
                ),
                (
                    "lib/db/upgrades/2008010102-q.sql",
                    "-- phase: post\nSELECT 1;\n",
                ),
                ("mod/forum/db/component.toml", SAFE),
                ("mod/forum/db/upgrades/2008010200-f.sql", "SELECT 1;\n"),
                ("mod/quiz/db/upgrades/2008010300-q.sql", "SELECT 1;\n"),
                ("blocks/nav/db/component.toml", SAFE),
                ("blocks/nav/db/upgrades/2008010400-n.sql", "SELECT 1;\n"),
            ],
        );
        let order = plan::order(&t).expect("order");
        assert_eq!(
            describe(&segments(&t, &order)),
            [
                "online: core/2008010101-p",
                "*: core/2008010100-a mod_quiz/2008010300-q",
                "block_nav: block_nav/2008010400-n",
                "mod_forum: mod_forum/2008010200-f",
                "online: core/2008010102-q",
            ]
        );
        assert_eq!(scope_needed(&t, &order, "mod_forum"), "component");
        assert_eq!(scope_needed(&t, &order, "mod_quiz"), "site");
        assert_eq!(scope_needed(&t, &order, "core"), "site");
    }

    #[test]
    fn a_safe_component_required_by_a_site_step_joins_the_site_scope() {
        let t = tree(
            "staged",
            &[
                ("blocks/nav/db/component.toml", SAFE),
                ("blocks/nav/db/upgrades/2008010400-n.sql", "SELECT 1;\n"),
                (
                    "mod/quiz/db/upgrades/2008010300-q.sql",
                    "-- requires: block_nav/2008010400-n\nSELECT 1;\n",
                ),
            ],
        );
        let order = plan::order(&t).expect("order");
        assert_eq!(
            describe(&segments(&t, &order)),
            ["*: block_nav/2008010400-n mod_quiz/2008010300-q"]
        );
        assert_eq!(scope_needed(&t, &order, "block_nav"), "site");
    }

    #[test]
    fn global_runs_every_main_step_under_the_site_scope() {
        let t = tree(
            "global",
            &[
                ("mod/forum/db/component.toml", SAFE),
                ("mod/forum/db/upgrades/2008010200-f.sql", "SELECT 1;\n"),
                ("lib/db/upgrades/2008010300-a.sql", "SELECT 1;\n"),
            ],
        );
        let order = plan::order(&t).expect("order");
        assert_eq!(
            describe(&segments(&t, &order)),
            ["*: mod_forum/2008010200-f core/2008010300-a"]
        );
        assert_eq!(scope_needed(&t, &order, "mod_forum"), "site");
    }
}
