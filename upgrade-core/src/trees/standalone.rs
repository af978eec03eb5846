//! Standalone steps of a tree: one step from its file or its per-database
//! variant files, and whether a standalone step is what an interrupted
//! `consolidate release` left beside its released entry.

use std::collections::BTreeMap;

use crate::model::component::ComponentName;
use crate::model::step::{
    Body, Checksum, Origin, Step, StepKey, parse_step_file, parse_step_file_name,
};
use crate::model::step_name::StepName;
use crate::model::tree_error::{TreeError, TreeErrorKind};
use crate::trees::tree::Tree;

/// One file of a standalone step: its path (borrowed from the scan of the
/// tree, not a second copy of every path) and the database it is for.
pub(super) struct Variant<'s> {
    pub(super) path: &'s str,
    pub(super) database: Option<&'static str>,
}

/// Is the standalone `step` what remains of `released` after an interrupted
/// release: the same content, or — when the run was killed between deleting
/// the variant files of one step — some of its per-database variants?
pub(super) fn is_leftover(step: &Step, released: &Step) -> bool {
    if released.release().is_none()
        || step.phase != released.phase
        || step.requires != released.requires
        || step.transaction != released.transaction
        || step.batch != released.batch
    {
        return false;
    }
    match (&step.body, &released.body) {
        (Body::PerDatabase(left), Body::PerDatabase(full)) => left.iter().all(|(db, sql)| {
            full.get(db)
                .is_some_and(|f| crate::model::step::normalise(f) == *sql)
        }),
        _ => step.checksum == released.checksum,
    }
}

pub(super) fn standalone_step(
    component: ComponentName,
    name: StepName,
    variants: &[Variant<'_>],
    read: &mut dyn FnMut(&str) -> Result<String, TreeError>,
) -> Result<Step, TreeError> {
    let plain = variants.iter().filter(|v| v.database.is_none()).count();
    if plain > 0 && variants.len() > 1 {
        return Err(TreeError::new(
            variants[0].path,
            TreeErrorKind::MixedVariants {
                name: name.to_string(),
            },
        ));
    }
    let mut header = None;
    let mut bodies = BTreeMap::new();
    let mut first_path = String::new();
    for v in variants {
        let (h, body) = parse_step_file(v.path, &read(v.path)?)?;
        match &header {
            None => {
                header = Some(h);
                first_path = v.path.to_string();
            }
            Some(first) if *first != h => {
                return Err(TreeError::new(
                    v.path,
                    TreeErrorKind::VariantHeadersDiffer { other: first_path },
                ));
            }
            Some(_) => {}
        }
        bodies.insert(v.database.map(str::to_string), body);
    }
    let Some(header) = header else {
        return Err(TreeError::new(
            name.as_str(),
            TreeErrorKind::Io("no files".into()),
        ));
    };
    let body = Body::from_variants(bodies);
    let checksum = Checksum::of(&body);
    Ok(Step {
        key: StepKey { component, name },
        phase: header.phase,
        requires: header.requires,
        transaction: header.transaction,
        batch: header.batch,
        body,
        edited: None,
        checksum,
        origin: Origin::Standalone {
            files: variants.iter().map(|v| v.path).collect(),
        },
    })
}

/// Forgets the texts of `step`'s files that are exactly its body (no header,
/// already normalised — most step files): the tree keeps the body, and
/// [`file_body`] gives the text back, so a tree of 100,000 steps does not
/// hold each one twice.
pub(super) fn forget_texts_equal_to_body(step: &Step, texts: &mut BTreeMap<String, String>) {
    let Origin::Standalone { files } = &step.origin else {
        return;
    };
    for file in files {
        if texts
            .get(file)
            .is_some_and(|t| Some(t.as_str()) == file_body(step, file))
        {
            texts.remove(file);
        }
    }
}

/// The body of `step` that its standalone file `file` holds: the body for
/// every database, or the variant the file name names.
pub(super) fn file_body<'s>(step: &'s Step, file: &str) -> Option<&'s str> {
    match &step.body {
        Body::Any(sql) => Some(sql),
        Body::PerDatabase(map) => {
            let name = file.rsplit('/').next()?;
            let (_, database) = parse_step_file_name(name).ok()?;
            map.get(database?).map(String::as_str)
        }
    }
}

/// The step of `steps` (sorted by key) with this key.
pub(super) fn holding<'s>(steps: &'s [Step], key: &StepKey) -> Option<&'s Step> {
    steps
        .binary_search_by(|s| s.key.cmp(key))
        .ok()
        .map(|i| &steps[i])
}

/// The text of the standalone step file at `path` when it is exactly its
/// step's body (then not kept in `standalone_texts`).
pub(super) fn standalone_file_body<'t>(tree: &'t Tree, path: &str) -> Option<&'t str> {
    let (folder, rest) = super::tree::split_db(path);
    let file = rest.strip_prefix("upgrades/")?;
    let component = tree.manifest.component_for_folder(folder)?;
    let (name, _) = parse_step_file_name(file).ok()?;
    let step = tree.step(&StepKey { component, name })?;
    match &step.origin {
        Origin::Standalone { files } if files.contains(path) => file_body(step, path),
        _ => None,
    }
}

/// The standalone files of a scan grouped by step, in key order, each
/// step's files in scan order. Files come folder by folder, mostly in key
/// order already: one stable sort finds the runs (a map of 100,000 keys
/// compared each file's key at every level).
pub(super) fn by_step(
    mut files: Vec<((ComponentName, StepName), Variant)>,
) -> Vec<((ComponentName, StepName), Vec<Variant>)> {
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<((ComponentName, StepName), Vec<Variant>)> = Vec::with_capacity(files.len());
    for (key, variant) in files {
        match out.last_mut() {
            Some((last, variants)) if *last == key => variants.push(variant),
            _ => out.push((key, vec![variant])),
        }
    }
    out
}
