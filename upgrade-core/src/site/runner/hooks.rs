//! The application's maintenance hooks (`[maintenance] enter` / `leave` in
//! the manifest), run by `apply` when a scope enters or leaves maintenance.
//!
//! A hook runs as `sh -c '<command> "$1"' consolidate <scope>` in the tree
//! root, with `CONSOLIDATE_SCOPE` and `CONSOLIDATE_EVENT` (`enter`/`leave`)
//! in its environment: the scope reaches it as one argument and is never
//! pasted into the command text. Its output is captured; a non-zero exit (or
//! a command that cannot start) is a failure whose message keeps the end of
//! what it printed on stderr.

use std::path::Path;
use std::process::{Command, Stdio};

/// How much of a failed hook's stderr its message keeps.
const KEPT_OUTPUT: usize = 400;

/// Runs `command` for `scope`; `Err` says why it failed.
pub fn run_hook(dir: Option<&Path>, command: &str, scope: &str, event: &str) -> Result<(), String> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("{command} \"$1\""))
        .arg("consolidate")
        .arg(scope)
        .env("CONSOLIDATE_SCOPE", scope)
        .env("CONSOLIDATE_EVENT", event)
        .stdin(Stdio::null());
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let output = cmd
        .output()
        .map_err(|e| format!("{event} hook `{command}` could not start: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stderr = stderr.trim();
    let tail: String = {
        let chars: Vec<char> = stderr.chars().collect();
        let start = chars.len().saturating_sub(KEPT_OUTPUT);
        chars[start..].iter().collect()
    };
    let status = match output.status.code() {
        Some(code) => format!("exit code {code}"),
        None => "killed by a signal".to_string(),
    };
    Err(if tail.is_empty() {
        format!("{event} hook `{command}` failed ({status})")
    } else {
        format!("{event} hook `{command}` failed ({status}): {tail}")
    })
}
