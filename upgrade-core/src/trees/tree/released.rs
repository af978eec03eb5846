//! The `db/upgrade.toml` files of a load, read and parsed on the cores a few
//! files at a time per thread (read first by the calling thread when the
//! tree source may not be shared between threads: a git tree), the answers
//! taken in the order of the files, so a load gives the same tree and the
//! same errors as one file after the other. A tree of 1,000 components
//! spent most of a released `status` reading and parsing them one by one.

use std::collections::HashSet;

use crate::files::source::TreeSource;
use crate::files::{upgrade_file, upgrade_scan};
use crate::model::component::ComponentName;
use crate::model::release_name::ReleaseName;
use crate::model::step::Step;
use crate::model::toml_doc::utf8;
use crate::model::tree_error::{TreeError, TreeErrorKind};

/// Files per turn of a thread: a few small files are not worth a thread.
const FILES_PER_TURN: usize = 16;

/// A file's text when read by [`parse`], and its entries.
pub(super) type Parsed = (Option<String>, Vec<Step>);

/// A component's `db/upgrade.toml`, to read and parse.
pub(super) struct ReadFile {
    /// Its component.
    pub(super) component: ComponentName,
    /// Its path.
    pub(super) path: String,
    /// Its text when read already (`None`: read it from the shared source).
    pub(super) text: Option<String>,
}

/// The entries of each file, in the order of `files`, with its text when
/// read here (from `shared`: a file not read already is read there): read
/// quickly (name, release, phase and checksum only) when every entry of the
/// file is tagged with a release in `covered`, else parsed in full.
pub(super) fn parse(
    files: &[ReadFile],
    shared: Option<&(dyn TreeSource + Sync)>,
    covered: Option<&HashSet<ReleaseName>>,
) -> Vec<Result<Parsed, TreeError>> {
    crate::files::parallel::cpu_map(files, FILES_PER_TURN, |file| {
        let read_here = match (&file.text, shared) {
            (Some(_), _) => None,
            (None, Some(source)) => Some(utf8(&file.path, source.read(&file.path)?)?),
            (None, None) => {
                return Err(TreeError::new(
                    &file.path,
                    TreeErrorKind::Io("neither read nor readable here".into()),
                ));
            }
        };
        let text = read_here
            .as_deref()
            .or(file.text.as_deref())
            .unwrap_or_default();
        let quick = covered.and_then(|covered| {
            upgrade_scan::read_covered(&file.path, text, &file.component, &|r| covered.contains(r))
        });
        let steps = match quick {
            Some(steps) => steps,
            None => upgrade_file::parse(&file.path, text, &file.component)?,
        };
        Ok((read_here, steps))
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
                text: Some(if i % 5 == 3 {
                    format!("[[step]]\nname = \"bad {i}\"\n")
                } else {
                    format!(
                        "[[step]]\nname = \"2007010100-s{i}\"\nrelease = \"R{}\"\nphase = \"main\"\nchecksum = \"{sum}\"\nsql = \"SELECT {i};\"\n",
                        18 + i % 2
                    )
                }),
            })
            .collect()
    }

    /// The entries (or error) of each answer.
    fn entries(answers: Vec<Result<Parsed, TreeError>>) -> Vec<Result<Vec<Step>, TreeError>> {
        answers
            .into_iter()
            .map(|a| a.map(|(_, steps)| steps))
            .collect()
    }

    #[test]
    fn files_parsed_on_threads_give_what_one_after_the_other_gives() {
        let files = files();
        // The same files in a source the threads read themselves.
        let memory = crate::files::source::MemoryTree {
            files: files
                .iter()
                .map(|f| {
                    (
                        f.path.clone(),
                        f.text.clone().unwrap_or_default().into_bytes(),
                    )
                })
                .collect(),
        };
        let unread: Vec<ReadFile> = files
            .iter()
            .map(|f| ReadFile {
                component: f.component.clone(),
                path: f.path.clone(),
                text: None,
            })
            .collect();
        let covered: HashSet<ReleaseName> = [ReleaseName::parse("R18").expect("release")]
            .into_iter()
            .collect();
        for covered in [None, Some(&covered)] {
            let one_by_one: Vec<_> = files
                .iter()
                .map(|file| parse(std::slice::from_ref(file), None, covered).remove(0))
                .collect();
            let all = parse(&files, None, covered);
            assert_eq!(all.len(), 40);
            assert_eq!(all, one_by_one);
            assert_eq!(all.iter().filter(|r| r.is_err()).count(), 8);
            assert!(
                all[3]
                    .as_ref()
                    .is_err_and(|e| e.path == "local/c03/db/upgrade.toml")
            );
            // Read on the threads: the same entries, each text read there.
            let read_there = parse(&unread, memory.shared(), covered);
            assert!(read_there.iter().flatten().all(|(text, _)| text.is_some()));
            assert_eq!(entries(read_there), entries(all));
        }
    }
}
