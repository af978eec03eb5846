//! The install snapshots and the project baseline of a tree, assembled from
//! the files `Tree::load` found: each snapshot must cover a step of its
//! component; the baseline the manifest names must have its file.

use std::collections::BTreeMap;

use crate::model::component::ComponentName;
use crate::model::install_snapshot::{
    BaselineSnapshot, InstallSnapshot, baseline_snapshot, install_snapshot,
};
use crate::model::manifest::{MANIFEST_FILE, Manifest};
use crate::model::step::{Step, StepKey};
use crate::model::tree_error::{TreeError, TreeErrorKind};

/// Files found: path, database (`None` for the plain one), text.
pub(super) type Found = Vec<(String, Option<String>, String)>;

/// The snapshots by component, the baseline, and the text of every file
/// read, by path; problems go to `errors`.
pub(super) fn assemble(
    manifest: Option<&Manifest>,
    steps: &[Step],
    install_files: BTreeMap<ComponentName, Found>,
    baseline_files: Found,
    errors: &mut Vec<TreeError>,
) -> (
    BTreeMap<ComponentName, InstallSnapshot>,
    Option<BaselineSnapshot>,
    BTreeMap<String, String>,
) {
    let mut installs = BTreeMap::new();
    let mut texts = BTreeMap::new();
    for (component, files) in install_files {
        match install_snapshot(component.clone(), &files) {
            Ok(snapshot) => {
                let key = StepKey {
                    component: component.clone(),
                    name: snapshot.covers.clone(),
                };
                if super::standalone::holding(steps, &key).is_some() {
                    installs.insert(component, snapshot);
                } else {
                    errors.push(
                        TreeError::new(
                            snapshot.files[0].as_str(),
                            TreeErrorKind::Snapshot(format!(
                                "covers {}, which is not a step of {component}: name the newest step of {component} the snapshot includes",
                                snapshot.covers
                            )),
                        )
                        .at_line(1),
                    );
                }
            }
            Err(e) => errors.push(e),
        }
        texts.extend(files.into_iter().map(|(path, _, text)| (path, text)));
    }
    let baseline = match manifest.and_then(|m| m.baseline.clone()) {
        Some(release) if baseline_files.is_empty() => {
            errors.push(TreeError::new(
                MANIFEST_FILE,
                TreeErrorKind::Snapshot(format!(
                    "[baseline] names {release}, but there is no releases/{release}.baseline.sql (or .sqlite.sql / .postgres.sql): add the schema snapshot of {release}"
                )),
            ));
            None
        }
        Some(release) => match baseline_snapshot(release, &baseline_files) {
            Ok(b) => {
                texts.extend(baseline_files.into_iter().map(|(p, _, t)| (p, t)));
                Some(b)
            }
            Err(e) => {
                errors.push(e);
                None
            }
        },
        None => None,
    };
    (installs, baseline, texts)
}
