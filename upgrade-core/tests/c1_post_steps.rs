//! C1 with batched post steps half-done: for random site states the tree
//! before `release` could produce — any set of applied steps, including a
//! batched post step still pending while later steps are applied (`apply`
//! leaves it to `post run`) — the consolidated tree leaves exactly the same
//! steps pending, in the same order, and keeps every batch declaration.

use std::collections::BTreeMap;

use upgrade_core::consolidation::consolidate::consolidate;
use upgrade_core::planning::plan;
use upgrade_core::{ReleaseName, SiteState, Tree, WorkTree};

const MANIFEST: &str = "[project]\nname = \"t\"\nversion = \"2008030100.00\"\nrevision = 1\n\n[components]\ncore = \"lib\"\nplugin_types = [\n  { name = \"mod\", folder = \"mod\" },\n]\n";

fn write(root: &std::path::Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

fn load(root: &std::path::Path) -> Tree {
    Tree::load(&WorkTree::new(root)).expect("tree loads")
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    #[test]
    fn consolidation_keeps_pending_with_post_steps_half_done(
        posts in proptest::collection::vec((0u8..3, 1i64..50, proptest::bool::ANY), 1..5),
        applied_bits in proptest::collection::vec(proptest::bool::ANY, 12),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        write(root, "upgrade.toml", MANIFEST);
        write(root, "lib/db/upgrades/2008010100-core.sql", "CREATE TABLE big (id INTEGER PRIMARY KEY, v INT);\n");
        write(root, "mod/forum/db/upgrades/2008010150-forum.sql", "CREATE TABLE f (id INT);\n");
        for (i, (day, size, batched)) in posts.iter().enumerate() {
            let component = if i % 2 == 0 { "lib" } else { "mod/forum" };
            let name = format!("20080102{:02}-post{i}", u32::from(*day) * 10 + i as u32);
            let batch = if *batched { format!("-- batch: big.id {size}\n") } else { String::new() };
            write(root, &format!("{component}/db/upgrades/{name}.sql"),
                &format!("-- phase: post\n{batch}UPDATE big SET v = {i} WHERE id BETWEEN :lo AND :hi;\n"));
        }
        write(root, "lib/db/upgrades/2008010900-late.sql", "-- phase: main\nCREATE TABLE late (id INT);\n");
        let before = load(root);
        let order_before = plan::order(&before).expect("order");
        let batches_before: BTreeMap<String, Option<String>> = before.steps.iter()
            .map(|s| (s.key.to_string(), s.batch.as_ref().map(ToString::to_string))).collect();
        let release = ReleaseName::parse("MOODLE_20_STABLE").expect("name");
        let consolidation = consolidate(&before, &release).expect("consolidates");
        consolidation.apply(root).expect("writes");
        let after = load(root);
        proptest::prop_assert!(after.steps.iter().all(|s| s.release().is_some()));
        let batches_after: BTreeMap<String, Option<String>> = after.steps.iter()
            .map(|s| (s.key.to_string(), s.batch.as_ref().map(ToString::to_string))).collect();
        proptest::prop_assert_eq!(&batches_before, &batches_after);
        let order_after = plan::order(&after).expect("order");
        // Any set of applied steps: batched post steps may be half-done (no
        // ledger row) while later steps are applied.
        let mut site = SiteState::fresh();
        for (step, bit) in order_before.iter().zip(applied_bits.iter().cycle()) {
            if *bit {
                site.ledger.insert(step.key.clone(), step.checksum.clone());
            }
        }
        let keys = |steps: Vec<&upgrade_core::Step>| steps.iter().map(|s| s.key.to_string()).collect::<Vec<_>>();
        proptest::prop_assert_eq!(
            keys(plan::pending(&before, &order_before, &site)),
            keys(plan::pending(&after, &order_after, &site))
        );
    }
}
