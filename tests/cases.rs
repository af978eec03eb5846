//! Folder-per-case CLI tests, as cargo's own tests are written: each
//! `tests/cases/<case>/` holds `args` (one argument per line), an `in/` tree,
//! the expected `out/` tree (absent: the tree must not change), and the
//! expected `stdout`, `stderr` and `code`; optional `env` holds `KEY=VALUE`
//! lines. `SNAPSHOTS=overwrite cargo test` rewrites the expectations, which
//! are then reviewed by eye before they are committed.

use std::path::Path;

use crate::util::*;

fn read_opt(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn run_case(case: &Path) -> Result<(), String> {
    let overwrite = std::env::var("SNAPSHOTS").as_deref() == Ok("overwrite");
    let args_text = read_opt(&case.join("args")).ok_or("no args file")?;
    let args: Vec<&str> = args_text.lines().filter(|l| !l.is_empty()).collect();
    let env_text = read_opt(&case.join("env")).unwrap_or_default();
    let env: Vec<(&str, &str)> = env_text.lines().filter_map(|l| l.split_once('=')).collect();
    let tree = TempTree::empty();
    copy_dir(&case.join("in"), tree.path());
    let out = tree.run_env(&args, &env);
    let root = tree.path().to_string_lossy().into_owned();
    let clean = |s: String| s.replace(&root, "[ROOT]");
    let actual_stdout = clean(stdout(&out));
    let actual_stderr = clean(stderr(&out));
    let actual_code = format!("{}\n", out.status.code().unwrap_or(-1));
    let after = snapshot(tree.path());
    let unchanged = after == snapshot(&case.join("in"));
    if overwrite {
        std::fs::write(case.join("stdout"), &actual_stdout).map_err(|e| e.to_string())?;
        std::fs::write(case.join("stderr"), &actual_stderr).map_err(|e| e.to_string())?;
        std::fs::write(case.join("code"), &actual_code).map_err(|e| e.to_string())?;
        let out_dir = case.join("out");
        let _ = std::fs::remove_dir_all(&out_dir);
        if !unchanged {
            copy_dir(tree.path(), &out_dir);
        }
        return Ok(());
    }
    let mut problems = Vec::new();
    let expect = |name: &str| read_opt(&case.join(name)).unwrap_or_default();
    if expect("code") != actual_code {
        problems.push(format!(
            "exit code: expected {} got {}",
            expect("code").trim(),
            actual_code.trim()
        ));
    }
    if expect("stdout") != actual_stdout {
        problems.push(format!("stdout differs:\n{actual_stdout}"));
    }
    if expect("stderr") != actual_stderr {
        problems.push(format!("stderr differs:\n{actual_stderr}"));
    }
    let out_dir = case.join("out");
    let expected_tree = if out_dir.exists() {
        snapshot(&out_dir)
    } else {
        snapshot(&case.join("in"))
    };
    if after != expected_tree {
        let names = |s: &[(String, Vec<u8>)]| s.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
        let differing: Vec<String> = after
            .iter()
            .filter(|f| !expected_tree.contains(f))
            .map(|(p, _)| p.clone())
            .collect();
        problems.push(format!(
            "tree differs: files {:?}, expected {:?}; differing {:?}",
            names(&after),
            names(&expected_tree),
            differing
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

#[test]
fn every_case_folder() {
    let dir = workspace().join("tests").join("cases");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/cases exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases in {}", dir.display());
    let mut failures = Vec::new();
    for case in &cases {
        if let Err(e) = run_case(case) {
            failures.push(format!(
                "case {}:\n{e}",
                case.file_name().unwrap_or_default().to_string_lossy()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
