//! Unit tests of plugin-declared plugin types.

use std::collections::BTreeMap;

use super::*;

const MANIFEST: &str = "[project]\nname = \"t\"\nversion = \"2008030100.00\"\nrevision = 1\n\n[components]\ncore = \"lib\"\nplugin_types = [\n  { name = \"mod\", folder = \"mod\" },\n  { name = \"assignsubmission\", folder = \"mod/assign/submission\" },\n  { name = \"block\", folder = \"blocks\" },\n]\n";

fn declare(files: &[(&str, &str)]) -> (Manifest, Vec<TreeError>) {
    let mut manifest = Manifest::parse(MANIFEST_FILE, MANIFEST).expect("valid manifest");
    let map: BTreeMap<String, String> = files
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();
    let paths: Vec<String> = map.keys().cloned().collect();
    let read = |p: &str| {
        map.get(p)
            .cloned()
            .ok_or_else(|| TreeError::new(p, TreeErrorKind::Io("missing".into())))
    };
    let errors = add_declared_types(&mut manifest, &paths, &read);
    (manifest, errors)
}

fn entry(name: &str, folder: &str) -> String {
    format!("[[plugin_types]]\nname = \"{name}\"\nfolder = \"{folder}\"\n")
}

fn names(m: &Manifest) -> Vec<&str> {
    m.plugin_types.iter().map(|t| t.name.as_str()).collect()
}

#[test]
fn declared_types_resolve_folders_and_rank_with_their_parent() {
    let quiz = entry("quizaccess", "accessrule");
    let (m, errors) = declare(&[
        ("mod/quiz/db/component.toml", &quiz),
        ("blocks/x/db/component.toml", &entry("xpart", "parts")),
        ("mod/forum/db/component.toml", "safe_to_disable = true\n"),
    ]);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        names(&m),
        ["mod", "assignsubmission", "quizaccess", "block", "xpart"]
    );
    let seb = m
        .component_for_folder("mod/quiz/accessrule/seb")
        .expect("a component");
    assert_eq!(seb.as_str(), "quizaccess_seb");
    assert_eq!(
        m.folder_of(&seb).as_deref(),
        Some("mod/quiz/accessrule/seb")
    );
    let forum = ComponentName::parse("mod_forum").expect("name");
    let block = ComponentName::parse("block_x").expect("name");
    assert!(m.type_rank(&forum) < m.type_rank(&seb));
    assert!(m.type_rank(&seb) < m.type_rank(&block));
}

#[test]
fn declarations_are_read_in_path_order_whatever_the_listing_order() {
    let files = [
        (
            "mod/quiz/db/component.toml",
            entry("quizaccess", "accessrule"),
        ),
        (
            "mod/assign/db/component.toml",
            entry("assignfeedback", "feedback"),
        ),
    ];
    let (a, _) = declare(&[(files[0].0, &files[0].1), (files[1].0, &files[1].1)]);
    let (b, _) = declare(&[(files[1].0, &files[1].1), (files[0].0, &files[0].1)]);
    assert_eq!(names(&a), names(&b));
    assert_eq!(
        names(&a),
        [
            "mod",
            "assignsubmission",
            "assignfeedback",
            "quizaccess",
            "block"
        ]
    );
}

fn refused(files: &[(&str, &str)]) -> Vec<String> {
    let (_, errors) = declare(files);
    assert!(!errors.is_empty(), "accepted: {files:?}");
    errors.iter().map(ToString::to_string).collect()
}

#[test]
fn clashes_core_and_nesting_are_refused_naming_file_and_line() {
    let twice = refused(&[
        ("mod/a/db/component.toml", &entry("sub", "x")),
        ("mod/b/db/component.toml", &entry("sub", "y")),
    ]);
    assert_eq!(twice.len(), 1);
    assert!(
        twice[0].starts_with("mod/b/db/component.toml:1:")
            && twice[0].contains("already declared in mod/a/db/component.toml:1"),
        "{twice:?}"
    );
    let upstream = refused(&[("mod/a/db/component.toml", &entry("block", "x"))]);
    assert!(
        upstream[0].contains("`block` is already listed in upgrade.toml"),
        "{upstream:?}"
    );
    let shared = refused(&[(
        "mod/assign/db/component.toml",
        &entry("other", "submission"),
    )]);
    assert!(
        shared[0].contains("already the folder of plugin type `assignsubmission`"),
        "{shared:?}"
    );
    let core = refused(&[("lib/db/component.toml", &entry("sub", "x"))]);
    assert!(
        core[0].starts_with("lib/db/component.toml:1:") && core[0].contains("core cannot declare"),
        "{core:?}"
    );
    let nested = refused(&[
        (
            "mod/quiz/db/component.toml",
            &entry("quizaccess", "accessrule"),
        ),
        (
            "mod/quiz/accessrule/seb/db/component.toml",
            &format!("safe_to_disable = true\n{}", entry("sebpart", "parts")),
        ),
    ]);
    assert_eq!(nested.len(), 1, "{nested:?}");
    assert!(
        nested[0].starts_with("mod/quiz/accessrule/seb/db/component.toml:2:")
            && nested[0].contains("quizaccess_seb")
            && nested[0].contains("declared in mod/quiz/db/component.toml:1")
            && nested[0].contains("cannot declare plugin types of their own"),
        "{nested:?}"
    );
}

#[test]
fn folders_overlapping_components_or_types_are_refused() {
    // A declared folder that is itself a component's folder.
    let two = format!("{}\n{}", entry("a", "x"), entry("b", "x/y"));
    let overlap = refused(&[("mod/quiz/db/component.toml", &two)]);
    assert!(
        overlap[0].contains("`mod/quiz/x/y` is the folder of component a_y"),
        "{overlap:?}"
    );
    // Declared in the other order: the later one would hold the earlier one's folder.
    let two = format!("{}\n{}", entry("b", "x/y"), entry("a", "x"));
    let holds = refused(&[("mod/quiz/db/component.toml", &two)]);
    assert!(
        holds[0].starts_with("mod/quiz/db/component.toml:5:")
            && holds[0].contains("holds `mod/quiz/x/y`, the folder of plugin type `b`"),
        "{holds:?}"
    );
    // Every problem at once: parse errors and clashes of several files.
    let (_, errors) = declare(&[
        ("mod/a/db/component.toml", &entry("block", "x")),
        ("mod/b/db/component.toml", &entry("sub", "../x")),
        ("mod/c/db/component.toml", "rank = 1\n"),
    ]);
    let files: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        files,
        [
            "mod/a/db/component.toml",
            "mod/b/db/component.toml",
            "mod/c/db/component.toml"
        ]
    );
}

#[test]
fn the_fix_for_an_unknown_folder_names_the_file_to_declare_in() {
    let (m, _) = declare(&[]);
    let hint = declare_type_hint(&m, "mod/quiz/accessrule/seb", Some("quizaccess"));
    assert!(
        hint.contains("mod/quiz/db/component.toml as [[plugin_types]] name = \"quizaccess\"")
            && hint.contains("folder = \"accessrule\"")
            && hint.contains("folder = \"mod/quiz/accessrule\" }"),
        "{hint}"
    );
    let hint = declare_type_hint(&m, "local/myplugin", None);
    assert!(
        hint.starts_with("add { name = \"<type>\", folder = \"local\" }"),
        "{hint}"
    );
    assert!(declare_type_hint(&m, "stray", None).contains("move the folder"));
}
