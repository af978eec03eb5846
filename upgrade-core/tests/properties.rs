//! Property tests of the contract at plan level, on random trees and random
//! site states: C1 (consolidation never changes `pending`), I1 (a second
//! consolidation with the same release changes nothing), P1 (pruning never
//! changes `pending`), and determinism of the consolidated bytes.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use upgrade_core::consolidation::consolidate::consolidate;
use upgrade_core::files::source::MemoryTree;
use upgrade_core::planning::plan;
use upgrade_core::{ReleaseName, SiteState, StepKey, Tree};

const COMPONENTS: [(&str, &str); 4] = [
    ("core", "lib"),
    ("mod_forum", "mod/forum"),
    ("mod_assign", "mod/assign"),
    ("block_nav", "blocks/nav"),
];

#[derive(Debug, Clone)]
struct GenStep {
    component: usize,
    day: u32,
    seq: u32,
    phase: usize,
    requires_earlier: Option<usize>,
}

fn manifest(releases: usize) -> String {
    let mut text = String::from(
        "[project]\nname = \"prop\"\nversion = \"2009010100.00\"\nrevision = 1\n\n[components]\ncore = \"lib\"\nplugin_types = [\n  { name = \"block\", folder = \"blocks\" },\n  { name = \"mod\", folder = \"mod\" },\n]\n",
    );
    for r in 0..releases {
        text.push_str(&format!(
            "\n[[release]]\nname = \"R{r}\"\nversion = \"200{r}010100\"\n"
        ));
    }
    text
}

/// A tree whose first `released` steps (in plan order) went through real
/// consolidations R0..R(k-1) and whose other steps are standalone.
fn build(steps: &[GenStep], cuts: &[usize]) -> Option<MemoryTree> {
    let mut mem = MemoryTree::default();
    mem.files
        .insert("upgrade.toml".into(), manifest(0).into_bytes());
    let names: Vec<(usize, String)> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                s.component,
                format!(
                    "2008{:02}{:02}{:02}-s{i}",
                    1 + s.day / 28,
                    1 + s.day % 28,
                    s.seq
                ),
            )
        })
        .collect();
    let mut written: BTreeSet<(usize, String)> = BTreeSet::new();
    let mut release = 0;
    let mut add_upto = |mem: &mut MemoryTree, upto: usize| {
        for (i, s) in steps.iter().enumerate().take(upto) {
            let (c, name) = &names[i];
            if !written.insert((*c, name.clone())) {
                continue;
            }
            let mut text = String::new();
            text.push_str(&format!("-- phase: {}\n", ["pre", "main", "post"][s.phase]));
            if let Some(j) = s.requires_earlier.filter(|&j| j < i)
                && steps[j].phase <= s.phase
            {
                text.push_str(&format!(
                    "-- requires: {}/{}\n",
                    COMPONENTS[names[j].0].0, names[j].1
                ));
            }
            text.push_str(&format!("CREATE TABLE t{i} (id INT);\n"));
            mem.files.insert(
                format!("{}/db/upgrades/{name}.sql", COMPONENTS[*c].1),
                text.into_bytes(),
            );
        }
    };
    for &cut in cuts {
        add_upto(&mut mem, cut);
        let tree = Tree::load(&mem).ok()?;
        let r = ReleaseName::parse(&format!("R{release}")).ok()?;
        // Bump the version as a release manager would.
        let text = tree.manifest.text.replacen(
            &format!("version = \"2009010100.{release:02}\""),
            &format!("version = \"2009010100.{:02}\"", release + 1),
            1,
        );
        mem.files.insert("upgrade.toml".into(), text.into_bytes());
        let tree = Tree::load(&mem).ok()?;
        let c = consolidate(&tree, &r).ok()?;
        apply(&mut mem, &c.changes);
        release += 1;
    }
    add_upto(&mut mem, steps.len());
    Some(mem)
}

fn apply(mem: &mut MemoryTree, changes: &[upgrade_core::files::fsio::FileChange]) {
    for change in changes {
        match &change.after {
            Some(text) => {
                mem.files
                    .insert(change.path.clone(), text.clone().into_bytes());
            }
            None => {
                mem.files.remove(&change.path);
            }
        }
    }
}

fn gen_steps() -> impl Strategy<Value = Vec<GenStep>> {
    prop::collection::vec(
        (
            0..COMPONENTS.len(),
            0u32..300,
            0u32..3,
            0usize..3,
            prop::option::of(0usize..40),
        )
            .prop_map(|(component, day, seq, phase, requires_earlier)| GenStep {
                component,
                day,
                seq,
                phase,
                requires_earlier,
            }),
        1..40,
    )
}

fn keys(steps: &[&upgrade_core::Step]) -> Vec<String> {
    steps.iter().map(|s| s.key.to_string()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn consolidation_and_pruning_are_invisible(
        steps in gen_steps(),
        cut_fracs in prop::collection::vec(0usize..=100, 0..3),
        ledger_bits in prop::collection::vec(any::<bool>(), 40),
        site_release in 0usize..4,
    ) {
        let mut cuts: Vec<usize> = cut_fracs.iter().map(|f| f * steps.len() / 100).collect();
        cuts.sort_unstable();
        let Some(mut mem) = build(&steps, &cuts) else { return Ok(()) };
        let before = Tree::load(&mem).expect("built tree loads");
        let Ok(order_before) = plan::order(&before) else { return Ok(()) };

        // A site state the before tree could have produced: a completed release
        // of its history (its rows pruned) plus rows for any other steps.
        let history = before.manifest.releases.len();
        let completed = (site_release < history + 1 && site_release > 0).then(|| before.manifest.releases[site_release - 1].name.clone());
        let mut site = SiteState { release: completed, ..SiteState::default() };
        for (step, bit) in before.steps.iter().zip(&ledger_bits) {
            if *bit && !site.applied(&before, step) {
                site.ledger.insert(step.key.clone(), step.checksum.clone());
            }
        }
        let pending_before = keys(&plan::pending(&before, &order_before, &site));

        // C1: consolidate with a new release.
        let version = format!("version = \"2009010100.{history:02}\"");
        let bumped = before.manifest.text.replacen(&version, &format!("version = \"2009010100.{:02}\"", history + 1), 1);
        mem.files.insert("upgrade.toml".into(), bumped.into_bytes());
        let bumped_tree = Tree::load(&mem).expect("bumped tree loads");
        let new = ReleaseName::parse(&format!("R{history}")).expect("valid");
        let c = consolidate(&bumped_tree, &new).expect("consolidates");
        let mut after_mem = mem.clone();
        apply(&mut after_mem, &c.changes);
        let after = Tree::load(&after_mem).expect("consolidated tree loads");
        prop_assert_eq!(after.standalone().count(), 0);
        let order_after = plan::order(&after).expect("plan after");
        prop_assert_eq!(keys(&order_before), keys(&order_after));
        prop_assert_eq!(&pending_before, &keys(&plan::pending(&after, &order_after, &site)));

        // I1: the same release again changes nothing.
        let again = consolidate(&after, &new).expect("re-run");
        prop_assert!(again.is_noop(), "second run changes {:?}", again.changes.iter().map(|c| &c.path).collect::<Vec<_>>());
        prop_assert!(upgrade_core::consolidation::check::check(&after).is_empty());

        // P1: completing the site's release prunes rows without changing pending.
        if let Some(r) = &site.release {
            let idx = after.manifest.release_index(r).expect("in history");
            let mut pruned = site.clone();
            let covered: BTreeSet<&StepKey> = after.steps.iter()
                .filter(|s| s.release().and_then(|t| after.manifest.release_index(t)).is_some_and(|t| t <= idx))
                .map(|s| &s.key)
                .collect();
            pruned.ledger.retain(|k, _| !covered.contains(k));
            prop_assert_eq!(keys(&plan::pending(&after, &order_after, &site)), keys(&plan::pending(&after, &order_after, &pruned)));
        }
    }

    #[test]
    fn consolidated_bytes_do_not_depend_on_file_order(steps in gen_steps(), seed in any::<u64>()) {
        let Some(mem) = build(&steps, &[]) else { return Ok(()) };
        // Rebuild the same files in a shuffled insertion order.
        let mut entries: Vec<(String, Vec<u8>)> = mem.files.clone().into_iter().collect();
        let mut state = seed | 1;
        for i in (1..entries.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            entries.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let shuffled = MemoryTree { files: entries.into_iter().collect::<BTreeMap<_, _>>() };
        let (Ok(a), Ok(b)) = (Tree::load(&mem), Tree::load(&shuffled)) else { return Ok(()) };
        let r = ReleaseName::parse("R0").expect("valid");
        match (consolidate(&a, &r), consolidate(&b, &r)) {
            (Ok(x), Ok(y)) => prop_assert_eq!(x.changes, y.changes),
            (Err(x), Err(y)) => prop_assert_eq!(x, y),
            _ => prop_assert!(false, "one order failed"),
        }
    }
}
