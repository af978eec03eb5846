//! `post pause` / `post resume`, and naming a batched step on the command line.

use super::*;

impl<'t> Runner<'t> {
    /// `post pause [STEP]` (`pause = true`) or `post resume [STEP]`: the
    /// steps changed. Pausing a step that has not started reads its key
    /// range first (it must be able to run), so that the pause is stored.
    pub fn post_pause(&self, step: Option<&str>, pause: bool) -> Result<Vec<StepKey>, RunError> {
        let (mut store, status) = self.batches_with_status()?;
        let selected: Vec<&Step> = match step {
            Some(given) => vec![self.batched_step(&status, given)?],
            None => status
                .pending
                .iter()
                .copied()
                .filter(|s| s.is_batched())
                .collect(),
        };
        let mut changed = Vec::new();
        for s in selected {
            let key = s.key.to_string();
            if pause {
                if let (Some(reason), Some(_)) = (waits_for(&status, s), step) {
                    return Err(RunError::Post {
                        message: format!(
                            "{}: cannot pause {key}: it has not started, it {reason}",
                            status.db
                        ),
                        hint: "a step that cannot start is not run by `post run` anyway".into(),
                    });
                }
                if waits_for(&status, s).is_some() {
                    continue;
                }
                start_step(store.as_mut(), s)?;
            }
            let state = if pause { "paused" } else { "running" };
            if store.set_state(&key, state, None)? {
                changed.push(s.key.clone());
            }
        }
        Ok(changed)
    }

    /// A pending batched step named by the user.
    pub(super) fn batched_step(
        &self,
        status: &Status<'t>,
        given: &str,
    ) -> Result<&'t Step, RunError> {
        let step = self.resolve(given)?;
        if !step.is_batched() {
            return Err(RunError::Post {
                message: format!(
                    "{} ({}) is not a batched post step: `apply` runs it",
                    step.key,
                    step.location()
                ),
                hint: "name a step with a `-- batch:` line; `consolidate post status` lists them"
                    .into(),
            });
        }
        if !status.pending.iter().any(|p| p.key == step.key) {
            return Err(RunError::Post {
                message: format!(
                    "{}: {} is already applied on this site",
                    status.db, step.key
                ),
                hint: "nothing to do: `consolidate post status` shows what is left".into(),
            });
        }
        Ok(step)
    }

    /// A step of the tree named `component/name` or by a name unique in the tree.
    pub(super) fn resolve(&self, given: &str) -> Result<&'t Step, RunError> {
        let unknown = || RunError::UnknownStep {
            given: given.to_string(),
        };
        if given.contains('/') {
            let key = StepKey::parse(given).map_err(|_| unknown())?;
            return self.tree.step(&key).ok_or_else(unknown);
        }
        let found: Vec<&'t Step> = self
            .tree
            .steps
            .iter()
            .filter(|s| s.key.name.as_str() == given)
            .collect();
        match found.as_slice() {
            [] => Err(unknown()),
            [one] => Ok(one),
            many => Err(RunError::AmbiguousStep {
                given: given.to_string(),
                candidates: many.iter().map(|s| s.key.to_string()).collect(),
            }),
        }
    }
}
