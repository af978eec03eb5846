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
            .or_else(|| kept_upgrade_text(&self.upgrade_files, path))
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

    /// Per step of [`Tree::steps`], whether it is one of `steps` (by
    /// address, [`Tree::position`]: a step of another tree is none).
    pub fn marked(&self, steps: &[&Step]) -> Vec<bool> {
        let mut marked = vec![false; self.steps.len()];
        for step in steps {
            if let Some(i) = self.position(step) {
                marked[i] = true;
            }
        }
        marked
    }

    /// Whether a step is one of `steps`, by address: a mark per step of the
    /// tree ([`Tree::marked`]), nothing hashed; a step of another tree is
    /// looked for in `steps`.
    pub fn among<'s>(&'s self, steps: &'s [&Step]) -> impl Fn(&Step) -> bool + 's {
        let marked = self.marked(steps);
        move |step| match self.position(step) {
            Some(i) => marked[i],
            None => steps.iter().any(|s| std::ptr::eq(*s, step)),
        }
    }

    /// The components of the steps at the positions `keep` holds for, each
    /// once: one pass over the steps, sorted by key, and a set entry per
    /// component (a set of names built step by step compared a dozen names
    /// per step, and steps in plan order come by date across components).
    pub fn components_where(
        &self,
        keep: impl Fn(usize) -> bool,
    ) -> std::collections::BTreeSet<&ComponentName> {
        let mut out = std::collections::BTreeSet::new();
        let mut last: Option<&ComponentName> = None;
        for (i, step) in self.steps.iter().enumerate() {
            let component = &step.key.component;
            if last != Some(component) && keep(i) {
                out.insert(component);
                last = Some(component);
            }
        }
        out
    }

    /// Per step of [`Tree::steps`], `decide` of its component: called once
    /// per component (the steps are sorted by key), not per step.
    pub fn per_component(&self, mut decide: impl FnMut(&ComponentName) -> bool) -> Vec<bool> {
        let mut out = Vec::with_capacity(self.steps.len());
        let mut last: Option<(&ComponentName, bool)> = None;
        for step in &self.steps {
            let component = &step.key.component;
            let answer = match last {
                Some((name, answer)) if name == component => answer,
                _ => {
                    let answer = decide(component);
                    last = Some((component, answer));
                    answer
                }
            };
            out.push(answer);
        }
        out
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::source::MemoryTree;

    /// core: 2 steps, mod_a: 3, mod_b: 1.
    fn tree() -> Tree {
        let mut mem = MemoryTree::default();
        let manifest = "[project]\nname = \"t\"\nversion = \"2008030100.00\"\nrevision = 1\n[components]\ncore = \"lib\"\nplugin_types = [{ name = \"mod\", folder = \"mod\" }]\n";
        mem.files.insert("upgrade.toml".into(), manifest.into());
        for path in [
            "lib/db/upgrades/2008010100-a.sql",
            "lib/db/upgrades/2008010300-b.sql",
            "mod/a/db/upgrades/2008010100-x.sql",
            "mod/a/db/upgrades/2008010200-y.sql",
            "mod/a/db/upgrades/2008010400-z.sql",
            "mod/b/db/upgrades/2008010250-w.sql",
        ] {
            mem.files
                .insert(path.into(), b"CREATE TABLE t (id INT);\n".to_vec());
        }
        Tree::load(&mem).expect("valid tree")
    }

    #[test]
    fn steps_are_marked_and_their_components_found_once_each() {
        let t = tree();
        let names = |set: std::collections::BTreeSet<&ComponentName>| -> Vec<String> {
            set.into_iter().map(ToString::to_string).collect()
        };
        // In date order across components, as a plan holds them.
        let mut some: Vec<&Step> = vec![&t.steps[4], &t.steps[1], &t.steps[3]];
        some.sort_by_key(|s| s.key.name.as_str());
        let marked = t.marked(&some);
        assert_eq!(marked, [false, true, false, true, true, false]);
        assert_eq!(names(t.components_where(|i| marked[i])), ["core", "mod_a"]);
        assert_eq!(
            names(t.components_where(|i| !marked[i])),
            ["core", "mod_a", "mod_b"]
        );
        // A step of another tree (a copy) is not marked, but is among the
        // steps it is one of.
        let copy = t.steps[0].clone();
        assert_eq!(t.marked(&[&copy]), [false; 6]);
        let with_copy = [&copy, &t.steps[4]];
        let among = t.among(&with_copy);
        assert!(among(&copy) && among(&t.steps[4]));
        assert!(!among(&t.steps[0]) && !among(&t.steps[1]));
        // One decision per component, in key order.
        let mut asked = Vec::new();
        let per = t.per_component(|c| {
            asked.push(c.to_string());
            c.as_str() == "mod_a"
        });
        assert_eq!(asked, ["core", "mod_a", "mod_b"]);
        assert_eq!(per, [false, false, true, true, true, false]);
    }
}
