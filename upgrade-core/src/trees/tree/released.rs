//! The `db/upgrade.toml` files of a load, parsed after the scan: each file
//! read quickly when every entry of it is tagged with a release the site
//! completed, else parsed in full, in the order of the files.
//!
//! (Parsing them on two threads was tried and left: in interleaved runs of a
//! released `status` of 1,000 components it was no faster — the threads'
//! own heaps and the steps moved between threads ate what the parsing
//! shared — and the second core is the ledger reader's while the tree
//! loads.)

use std::collections::HashSet;

use crate::files::{upgrade_file, upgrade_scan};
use crate::model::component::ComponentName;
use crate::model::release_name::ReleaseName;
use crate::model::step::Step;
use crate::model::tree_error::TreeError;

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
    files
        .iter()
        .map(|file| {
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
        .collect()
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
    fn each_file_gets_its_own_answer_in_file_order() {
        let files = files();
        let covered: HashSet<ReleaseName> = [ReleaseName::parse("R18").expect("release")]
            .into_iter()
            .collect();
        for covered in [None, Some(&covered)] {
            let all = parse(&files, covered);
            assert_eq!(all.len(), 40);
            for (i, answer) in all.iter().enumerate() {
                match answer {
                    Err(e) => {
                        assert_eq!(i % 5, 3, "{e}");
                        assert_eq!(e.path, files[i].path);
                    }
                    Ok(steps) => {
                        let names: Vec<String> = steps.iter().map(|s| s.key.to_string()).collect();
                        assert_eq!(names, [format!("local_c{i:02}/2007010100-s{i}")]);
                    }
                }
            }
        }
    }
}
