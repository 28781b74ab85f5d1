//! No production source file grows past 800 lines.
//!
//! A file that long has usually grown past a seam (issue 24 split `replicate/engine.rs`,
//! `epcis/query.rs`, `event_hash.rs` and `api/epcis.rs` along theirs); this keeps the next one
//! from slipping by unnoticed. The crates' `src/` folders are read; test files there
//! (`tests.rs`, anything under a `tests/` folder) are left out, as are the integration tests,
//! benchmarks and the test kit: a long list of cases is not a file past its seam.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 800;

/// `path` relative to its crate's `src/`, so that where the checkout lies does not count.
fn is_test_file(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "tests.rs")
        || path.components().any(|c| c.as_os_str() == "tests")
}

fn production_files(src: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            production_files(src, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            && !is_test_file(path.strip_prefix(src).unwrap())
        {
            out.push(path);
        }
    }
}

#[test]
fn no_production_source_file_is_longer_than_800_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files = Vec::new();
    for src in ["sdk/src", "node/src", "cli/src"] {
        let src = root.join(src);
        production_files(&src, &src, &mut files);
    }
    assert!(files.len() > 100, "the sources were read: {}", files.len());
    let too_long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let lines = fs::read_to_string(file).unwrap().lines().count();
            (lines > MAX_LINES).then(|| {
                format!(
                    "{} ({lines} lines)",
                    file.strip_prefix(root).unwrap().display()
                )
            })
        })
        .collect();
    assert!(
        too_long.is_empty(),
        "split these along their seams:\n{}",
        too_long.join("\n")
    );
}

#[test]
fn test_files_are_told_apart_from_production_files() {
    assert!(is_test_file(Path::new("replicate/engine/tests.rs")));
    assert!(is_test_file(Path::new("epcis/query/tests/cases.rs")));
    assert!(!is_test_file(Path::new("api/epcis/captures.rs")));
    assert!(!is_test_file(Path::new("tests_support.rs")));
}
