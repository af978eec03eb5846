//! The cleanup rules of a release, `releases/<R>.toml`: which ledger rows a site
//! deletes when it completes the release. Also rendered as SQL for
//! applications that keep the ledger themselves.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::model::component::ComponentName;
use crate::model::release_name::ReleaseName;
use crate::model::step::Checksum;
use crate::model::step_name::StepName;
use crate::model::toml_doc::TomlFile;
use crate::model::tree_error::TreeError;
use crate::model::version::Version;

/// The cleanup rules of one release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseFile {
    /// The release.
    pub release: ReleaseName,
    /// The project version at the release.
    pub version: Version,
    /// Per component, the steps the release covers and their checksums.
    pub covers: BTreeMap<ComponentName, BTreeMap<StepName, Checksum>>,
}

/// The path of the release file of `release`.
pub fn path_of(release: &ReleaseName) -> String {
    format!("releases/{release}.toml")
}

impl ReleaseFile {
    /// Parses a release file.
    pub fn parse(path: &str, text: &str) -> Result<Self, TreeError> {
        let file = TomlFile::parse(path, text)?;
        let root = file.doc.as_table();
        let release_text = file.string(root, "release", "the release file")?;
        let release = ReleaseName::parse(&release_text)
            .map_err(|e| file.field_error(root.get("release"), e.to_string()))?;
        let version = Version::parse(&file.string(root, "version", "the release file")?)
            .map_err(|e| file.field_error(root.get("version"), e.to_string()))?;
        let mut covers = BTreeMap::new();
        if let Some(item) = root.get("covers") {
            let table = item.as_table().ok_or_else(|| {
                file.field_error(Some(item), "`covers` is a table of components".into())
            })?;
            for (component, steps) in table.iter() {
                let component = ComponentName::parse(component)
                    .map_err(|e| file.field_error(Some(steps), e.to_string()))?;
                let steps_table = steps.as_table().ok_or_else(|| {
                    file.field_error(
                        Some(steps),
                        format!("[covers.{component}] is a table of step = checksum"),
                    )
                })?;
                let mut map = BTreeMap::new();
                for (name, checksum) in steps_table.iter() {
                    let name = StepName::parse(name)
                        .map_err(|e| file.field_error(Some(checksum), e.to_string()))?;
                    let sum = checksum
                        .as_str()
                        .and_then(Checksum::from_recorded)
                        .ok_or_else(|| {
                            file.field_error(
                                Some(checksum),
                                format!("the checksum of {name} is not sha256:<hex>"),
                            )
                        })?;
                    map.insert(name, sum);
                }
                covers.insert(component, map);
            }
        }
        if let Some((key, item)) = root
            .iter()
            .find(|(k, _)| !["release", "version", "covers"].contains(k))
        {
            return Err(file.field_error(
                Some(item),
                format!("unexpected key `{key}` in a release file"),
            ));
        }
        Ok(ReleaseFile {
            release,
            version,
            covers,
        })
    }

    /// The file text: deterministic, components and steps sorted.
    pub fn render(&self) -> String {
        render_covering(
            &self.release,
            &self.version,
            self.covers
                .iter()
                .flat_map(|(c, steps)| steps.iter().map(move |(n, sum)| (c, n, sum))),
        )
    }

    /// Number of steps covered.
    pub fn len(&self) -> usize {
        self.covers.values().map(BTreeMap::len).sum()
    }

    /// Does it cover no step?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The text of a release file ([`ReleaseFile::render`]) from the covered
/// steps in component then name order, without building the map first.
pub fn render_covering<'a>(
    release: &ReleaseName,
    version: &Version,
    covered: impl Iterator<Item = (&'a ComponentName, &'a StepName, &'a Checksum)> + Clone,
) -> String {
    // Sized first (the file of a release of 100,000 steps is ~10 MB).
    let mut size = 200 + 2 * release.as_str().len() + version.as_str().len();
    let mut current: Option<&ComponentName> = None;
    for (component, name, checksum) in covered.clone() {
        if current != Some(component) {
            size += component.as_str().len() + 12;
            current = Some(component);
        }
        size += name.as_str().len() + checksum.text().len() + 8;
    }
    let mut out = String::with_capacity(size);
    // Writing into a String cannot fail.
    let _ = write_covering(&mut out, release, version, covered);
    out
}

/// Writes the text of [`render_covering`] to `out`, line by line (a dry
/// run streams it instead of holding it).
pub fn write_covering<'a>(
    out: &mut dyn std::fmt::Write,
    release: &ReleaseName,
    version: &Version,
    covered: impl Iterator<Item = (&'a ComponentName, &'a StepName, &'a Checksum)>,
) -> std::fmt::Result {
    writeln!(
        out,
        "# Cleanup rules of {release}, written by `consolidate release`.\n\
         # A site that completes this release deletes the ledger rows of these steps.\n\
         release = \"{release}\"\nversion = \"{version}\""
    )?;
    let mut current: Option<&ComponentName> = None;
    for (component, name, checksum) in covered {
        if current != Some(component) {
            writeln!(out, "\n[covers.{component}]")?;
            current = Some(component);
        }
        writeln!(out, "\"{name}\" = \"{}\"", checksum.text().as_str())?;
    }
    Ok(())
}

/// A SQL string literal: single quotes, embedded quotes doubled.
pub fn sql_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A SQL identifier: double quotes, embedded quotes doubled.
pub fn sql_identifier(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// The cleanup rules of completing the last of `files` as SQL `DELETE`
/// statements against `table`, in one transaction. `files` are the release
/// files of every release up to and including it, so a site that skipped a
/// release is cleaned as well.
pub fn render_sql(files: &[&ReleaseFile], table: &str) -> String {
    let mut out = String::new();
    if let Some(last) = files.last() {
        let _ = writeln!(
            out,
            "-- Cleanup rules of {} ({} releases, written by `consolidate rules --sql`).\n\
             -- Run after the site completed {}: deletes the ledger rows these releases cover.",
            last.release,
            files.len(),
            last.release
        );
    }
    out.push_str("BEGIN;\n");
    for file in files {
        for (component, steps) in &file.covers {
            if steps.is_empty() {
                continue;
            }
            let names: Vec<String> = steps.keys().map(|n| sql_literal(n.as_str())).collect();
            let _ = writeln!(
                out,
                "DELETE FROM {} WHERE component = {} AND step IN ({});",
                sql_identifier(table),
                sql_literal(component.as_str()),
                names.join(", ")
            );
        }
    }
    out.push_str("COMMIT;\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_parse_round_trip_and_sql_quoting() {
        let sum = Checksum::of(&crate::model::step::Body::Any("SELECT 1;".into()));
        let file = ReleaseFile {
            release: ReleaseName::parse("MOODLE_20_STABLE").expect("valid"),
            version: Version::parse("2008030100.02").expect("valid"),
            covers: BTreeMap::from([(
                ComponentName::core(),
                BTreeMap::from([(StepName::parse("2008010100-it_s").expect("valid"), sum)]),
            )]),
        };
        let text = file.render();
        assert_eq!(
            ReleaseFile::parse("releases/MOODLE_20_STABLE.toml", &text).expect("parses"),
            file
        );
        let sql = render_sql(&[&file], "my\"ledger");
        assert!(sql.contains("DELETE FROM \"my\"\"ledger\" WHERE component = 'core' AND step IN ('2008010100-it_s');"), "{sql}");
        assert_eq!(sql_literal("o'clock"), "'o''clock'");
    }
}
