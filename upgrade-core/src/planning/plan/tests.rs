//! Tests of the plan order: the numbered sort against the keys, the global
//! and staged orders with requirements, and cycles named step by step.

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
            sort_key(&t.steps[a], ranks[a], staged).cmp(&sort_key(&t.steps[b], ranks[b], staged))
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
