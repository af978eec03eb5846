//! What a loaded tree answers: a file's text as read, a step by identity
//! or position, a component's settings, its standalone steps.

use super::*;

impl Tree {
    /// The text of a file of the tree as it was read (manifest, upgrade,
    /// release or standalone step file); `None` for an `upgrade.toml` read
    /// quickly for a site (its text is not kept).
    pub fn file_text(&self, path: &str) -> Option<String> {
        if path == MANIFEST_FILE {
            return Some(self.manifest.text.clone());
        }
        self.standalone_texts
            .get(path)
            .or_else(|| {
                self.upgrade_files
                    .values()
                    .find(|f| f.path == path && !f.read_quickly)
                    .map(|f| &f.text)
            })
            .or_else(|| {
                self.component_files
                    .values()
                    .find(|f| f.path == path)
                    .map(|f| &f.text)
            })
            .or_else(|| {
                self.release_files
                    .values()
                    .find(|f| f.path == path)
                    .map(|f| &f.text)
            })
            .or_else(|| self.install_texts.get(path))
            .map(String::as_str)
            .or_else(|| standalone_file_body(self, path))
            .map(str::to_string)
    }

    /// The position in [`Tree::steps`] of `step`, when it is one of them
    /// (by address: a plan order holds references into `steps`).
    pub fn position(&self, step: &Step) -> Option<usize> {
        let size = std::mem::size_of::<Step>().max(1);
        let offset =
            (std::ptr::from_ref(step) as usize).checked_sub(self.steps.as_ptr() as usize)?;
        let i = offset / size;
        (offset % size == 0 && i < self.steps.len()).then_some(i)
    }

    /// The step with this identity.
    pub fn step(&self, key: &StepKey) -> Option<&Step> {
        self.steps
            .binary_search_by(|s| s.key.cmp(key))
            .ok()
            .map(|i| &self.steps[i])
    }

    /// Is this component safe to disable during its upgrade (its
    /// `db/component.toml` says `safe_to_disable = true`)? Core never is.
    pub fn safe_to_disable(&self, component: &ComponentName) -> bool {
        !component.is_core()
            && self
                .components
                .get(component)
                .is_some_and(|s| s.safe_to_disable)
    }

    /// The standalone steps.
    pub fn standalone(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.release().is_none())
    }

    /// The position of a step's release in the history: `None` for standalone
    /// steps; `Some(usize::MAX)` for a release the history does not know.
    pub fn release_rank(&self, step: &Step) -> Option<usize> {
        step.release()
            .map(|r| self.manifest.release_index(r).unwrap_or(usize::MAX))
    }
}
