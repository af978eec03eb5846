//! `CliError`: the one error type of the binary. It owns the exit codes and
//! how an error prints: one message naming the file and line, then a hint.

use std::fmt;

use upgrade_core::TreeError;
use upgrade_core::consolidation::check::Problem;
use upgrade_core::consolidation::consolidate::ConsolidateError;
use upgrade_core::consolidation::new_step::NewStepError;
use upgrade_core::planning::plan::PlanError;
use upgrade_core::trees::git_repo::GitError;

/// Exit code: success, nothing to do.
pub const EXIT_OK: u8 = 0;
/// Exit code: an error, or `check`/`verify` found problems.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code of `status`: an upgrade or resync is pending.
pub const EXIT_PENDING: u8 = 2;
/// Exit code: the command line itself is wrong.
pub const EXIT_USAGE: u8 = 64;

/// An error as the user sees it.
#[derive(Debug)]
pub struct CliError {
    /// The message, starting with the file (and line) where there is one.
    pub message: String,
    /// What to do next.
    pub hint: Option<String>,
    /// The process exit code.
    pub code: u8,
}

impl CliError {
    /// A failure with a hint.
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            hint: Some(hint.into()),
            code: EXIT_FAILURE,
        }
    }

    /// Problems found by a check: listed one per line.
    pub fn problems(summary: &str, problems: &[Problem]) -> Self {
        let mut message = summary.to_string();
        for p in problems {
            message.push_str(&format!("\n  {p}\n    hint: {}", p.hint));
        }
        CliError {
            message,
            hint: None,
            code: EXIT_FAILURE,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl From<TreeError> for CliError {
    fn from(e: TreeError) -> Self {
        CliError::new(e.to_string(), e.hint())
    }
}

impl From<upgrade_core::model::tree_error::TreeErrors> for CliError {
    /// One problem: its message and hint. Several: each on its own line with its hint.
    fn from(e: upgrade_core::model::tree_error::TreeErrors) -> Self {
        match e.errors() {
            [one] => CliError::new(one.to_string(), one.hint()),
            all => {
                let mut message = format!("the step tree has {} problems:", all.len());
                for p in all {
                    message.push_str(&format!("\n  {p}\n    hint: {}", p.hint()));
                }
                CliError {
                    message,
                    hint: None,
                    code: EXIT_FAILURE,
                }
            }
        }
    }
}

impl From<PlanError> for CliError {
    fn from(e: PlanError) -> Self {
        CliError::new(e.to_string(), e.hint())
    }
}

impl From<ConsolidateError> for CliError {
    fn from(e: ConsolidateError) -> Self {
        CliError::new(e.to_string(), e.hint())
    }
}

impl From<GitError> for CliError {
    fn from(e: GitError) -> Self {
        CliError::new(e.to_string(), "check the repository with `git status`")
    }
}

impl From<NewStepError> for CliError {
    fn from(e: NewStepError) -> Self {
        CliError::new(e.to_string(), e.hint())
    }
}

impl From<upgrade_core::history::verify::VerifyError> for CliError {
    fn from(e: upgrade_core::history::verify::VerifyError) -> Self {
        CliError::new(e.to_string(), e.hint())
    }
}

impl From<upgrade_core::history::rebase::RebaseError> for CliError {
    fn from(e: upgrade_core::history::rebase::RebaseError) -> Self {
        CliError::new(e.to_string(), e.hint())
    }
}

impl From<upgrade_core::site::ledger::LedgerError> for CliError {
    fn from(e: upgrade_core::site::ledger::LedgerError) -> Self {
        let code = match e {
            upgrade_core::site::ledger::LedgerError::BadUrl { .. } => EXIT_USAGE,
            _ => EXIT_FAILURE,
        };
        CliError {
            message: e.to_string(),
            hint: Some(e.hint().to_string()),
            code,
        }
    }
}

impl From<upgrade_core::site::runner::RunError> for CliError {
    fn from(e: upgrade_core::site::runner::RunError) -> Self {
        match e {
            upgrade_core::site::runner::RunError::Ledger(l) => l.into(),
            e => CliError::new(e.to_string(), e.hint()),
        }
    }
}

/// An I/O error on a path.
pub fn io_error(path: &std::path::Path, e: &std::io::Error) -> CliError {
    CliError::new(
        format!("{}: {e}", path.display()),
        "check the permissions and free space of the folder, then re-run the command: it completes an interrupted run",
    )
}
