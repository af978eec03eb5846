//! Keeping every file a command writes or deletes inside the tree root.
//!
//! The files layer writes where it is told; the commands that compute paths
//! from a manifest (`new`, `release`, `rebase`) check each path with
//! [`inside_root`] before anything is written, so that a manifest folder such
//! as `../escaped`, an absolute path or a symlinked folder never makes them
//! write or delete a file elsewhere.

use std::path::Path;

/// Does the tree-relative `path` stay inside `root`? A relative path of
/// plain segments (no `..`, `.`, empty segment, `\\` or drive prefix) whose
/// existing folders below `root` are no symlinks. `Err` says why not.
pub fn inside_root(root: &Path, path: &str) -> Result<(), String> {
    if path.is_empty() || path.starts_with('/') || path.contains('\\') || path.contains(':') {
        return Err("not a relative `/`-separated path".into());
    }
    let segments: Vec<&str> = path.split('/').collect();
    if segments
        .iter()
        .any(|s| s.is_empty() || *s == "." || *s == "..")
    {
        return Err("it has an empty, `.` or `..` segment".into());
    }
    let mut at = root.to_path_buf();
    for segment in &segments[..segments.len() - 1] {
        at.push(segment);
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(format!("{} is a symlink", at.display()));
            }
            Ok(_) => {}
            Err(_) => break, // created by the rebase: a plain folder
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_below_real_folders_are_inside() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(inside_root(dir.path(), "mod/forum/db/upgrade.toml").is_ok());
        for bad in [
            "../escaped/db/upgrades/x.sql",
            "mod/../../x.sql",
            "/etc/passwd",
            "mod//x.sql",
            "./x.sql",
            "",
            "c:/x.sql",
        ] {
            assert!(inside_root(dir.path(), bad).is_err(), "{bad}");
        }
        #[cfg(unix)]
        {
            let outside = tempfile::tempdir().expect("tempdir");
            std::os::unix::fs::symlink(outside.path(), dir.path().join("mod")).expect("symlink");
            let err = inside_root(dir.path(), "mod/forum/db/upgrade.toml").expect_err("symlink");
            assert!(err.contains("is a symlink"), "{err}");
        }
    }
}
