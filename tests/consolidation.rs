//! Consolidation end to end: golden cases, idempotence, bad input, crashes.

use crate::util::*;

#[test]
fn smoke_release_on_demo() {
    let tree = TempTree::copy_of("demo");
    assert_exit(&tree.run(&["release", "MOODLE_20_STABLE", "--allow-dirty"]), 0);
    assert_exit(&tree.run(&["check"]), 0);
}
