//! The `db/upgrade.toml` files of a load, parsed on the cores: every file
//! is read first (by the calling thread: a tree source need not be shared
//! between threads), then parsed a few files at a time per thread, and the
//! answers taken in the order of the files, so a load gives the same tree
//! and the same errors as one file after the other. A tree of 1,000
//! components spent most of a released `status` parsing them one by one.

use std::collections::HashSet;

use crate::files::{upgrade_file, upgrade_scan};
use crate::model::component::ComponentName;
use crate::model::release_name::ReleaseName;
use crate::model::step::Step;
use crate::model::tree_error::TreeError;

/// Files per turn of a thread: a few small files are not worth a thread.
const FILES_PER_TURN: usize = 16;

/// A component's `db/upgrade.toml` as read, to parse.
pub(super) struct ReadFile {
    /// Its component.
    pub(super) component: ComponentName,
    /// Its path.
    pub(super) path: String,
    /// Its text.
    pub(super) text: String,
}

/// The entries of each file, in the order of `files`: read quickly (name,
/// release, phase and checksum only) when every entry of the file is tagged
/// with a release in `covered`, else parsed in full.
pub(super) fn parse(
    files: &[ReadFile],
    covered: Option<&HashSet<ReleaseName>>,
) -> Vec<Result<Vec<Step>, TreeError>> {
    crate::files::parallel::cpu_map(files, FILES_PER_TURN, |file| {
        let quick = covered.and_then(|covered| {
            upgrade_scan::read_covered(&file.path, &file.text, &file.component, &|r| {
                covered.contains(r)
            })
        });
        match quick {
            Some(steps) => Ok(steps),
            None => upgrade_file::parse(&file.path, &file.text, &file.component),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files of 40 components, every fifth one broken.
    fn files() -> Vec<ReadFile> {
        let sum = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        (0..40)
            .map(|i| ReadFile {
                component: ComponentName::parse(&format!("local_c{i:02}")).expect("name"),
                path: format!("local/c{i:02}/db/upgrade.toml"),
                text: if i % 5 == 3 {
                    format!("[[step]]\nname = \"bad {i}\"\n")
                } else {
                    format!(
                        "[[step]]\nname = \"2007010100-s{i}\"\nrelease = \"R{}\"\nphase = \"main\"\nchecksum = \"{sum}\"\nsql = \"SELECT {i};\"\n",
                        18 + i % 2
                    )
                },
            })
            .collect()
    }

    #[test]
    fn files_parsed_on_threads_give_what_one_after_the_other_gives() {
        let files = files();
        let covered: HashSet<ReleaseName> = [ReleaseName::parse("R18").expect("release")]
            .into_iter()
            .collect();
        for covered in [None, Some(&covered)] {
            let one_by_one: Vec<_> = files
                .iter()
                .map(|file| parse(std::slice::from_ref(file), covered).remove(0))
                .collect();
            let all = parse(&files, covered);
            assert_eq!(all.len(), 40);
            assert_eq!(all, one_by_one);
            assert_eq!(all.iter().filter(|r| r.is_err()).count(), 8);
            assert!(
                all[3]
                    .as_ref()
                    .is_err_and(|e| e.path == "local/c03/db/upgrade.toml")
            );
        }
    }
}
