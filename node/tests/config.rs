//! Config fixtures: every file in `fixtures/config/good` validates, every file in
//! `fixtures/config/bad` is refused with a message that contains what its first line
//! (`# error: ...`) says, which names the bad key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use tally_node::config::{LogFormat, TokenScope, UserConfig};

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn load(path: &Path) -> Result<tally_node::config::Config, tally_node::config::ConfigError> {
    UserConfig::from_file(path)?
        .with_env(Vec::<(String, String)>::new())?
        .validate(Path::new("/srv/tally"))
}

#[test]
fn good_fixtures_validate() {
    let files = fixtures("good");
    assert!(files.len() >= 2);
    for file in &files {
        load(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
    let full = load(
        &files
            .iter()
            .find(|f| f.ends_with("full.toml"))
            .unwrap()
            .clone(),
    )
    .unwrap();
    assert_eq!(full.log_format, LogFormat::Json);
    assert_eq!(full.data_dir, Path::new("/srv/tally/data"));
    assert_eq!(
        full.token("test").unwrap().scope,
        TokenScope::Read {
            role: "regulator".into()
        }
    );
}

#[test]
fn bad_fixtures_are_refused_naming_the_key() {
    let files = fixtures("bad");
    assert!(files.len() >= 10);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let expected = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# error: "))
            .unwrap_or_else(|| panic!("{} has no `# error:` line", file.display()));
        let error = load(&file)
            .expect_err(&file.display().to_string())
            .to_string();
        assert!(
            error.contains(expected),
            "{}: {error:?} does not contain {expected:?}",
            file.display()
        );
    }
}
