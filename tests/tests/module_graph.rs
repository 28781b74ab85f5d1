//! The house keeps its floors: no module of a crate depends, through any path of imports, on a
//! sibling that depends back on it, and no workspace crate depends on another that depends
//! back on it (dev-dependencies included, which Cargo allows in a cycle).
//!
//! A cycle between modules means neither can be understood, tested or moved without the other;
//! the SDK's `genesis ↔ governance` and the node's `store::check → ingest` were such knots
//! (issue 24). This reads each crate's sources as text: `use crate::…`, `use super::…` (with
//! brace groups) and inline `crate::…`/`super::…` paths, outside comments and `#[cfg(test)]`
//! modules, each resolved to the longest module it names. An edge between two modules is
//! counted between their ancestors that are siblings at each depth 1–4; one module's use of
//! its own parent or child is no cycle.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;

type Module = Vec<String>;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `a/b.rs` → `[a, b]`; `a/mod.rs` → `[a]`; `lib.rs`, `main.rs` → `[]`.
fn module_of(src: &Path, file: &Path) -> Module {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Module = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Splits `a, b::{c, d}, e` at its top-level commas.
fn split_top(tree: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in tree.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&tree[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&tree[start..]);
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// The paths a use tree names, each after `prefix`.
fn expand(prefix: &[String], tree: &str) -> Vec<Module> {
    let tree = tree.trim();
    if let Some(inner) = tree.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        return split_top(inner)
            .into_iter()
            .flat_map(|part| expand(prefix, part))
            .collect();
    }
    if let Some(open) = tree.find("::{")
        && tree.ends_with('}')
    {
        let mut longer = prefix.to_vec();
        longer.extend(segments(&tree[..open]));
        return expand(&longer, &tree[open + 2..]);
    }
    let tree = tree.split(" as ").next().unwrap_or(tree);
    let mut path = prefix.to_vec();
    path.extend(segments(tree));
    vec![path]
}

fn segments(path: &str) -> impl Iterator<Item = String> + '_ {
    path.split("::")
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "self" && *s != "*")
        .map(str::to_owned)
}

/// A compiled pattern, made once however many files it reads.
macro_rules! pattern {
    ($text:expr) => {{
        static PATTERN: LazyLock<Regex> = LazyLock::new(|| Regex::new($text).unwrap());
        &*PATTERN
    }};
}

/// The text of a source file that counts: without comments and test modules.
fn code(text: &str) -> String {
    let test_module =
        pattern!(r"(?s)#\[cfg\(test\)\]\s*(#\[[^\n]*\n\s*)*(pub(\(\w+\))? )?mod \w+\s*\{.*");
    let comment = pattern!(r"//[^\n]*");
    comment
        .replace_all(&test_module.replace_all(text, ""), "")
        .into_owned()
}

/// Every module path each module's file names.
fn imports(src: &Path) -> (BTreeSet<Module>, Vec<(Module, Module)>) {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut modules = BTreeSet::new();
    for file in &files {
        let module = module_of(src, file);
        for n in 1..=module.len() {
            modules.insert(module[..n].to_vec());
        }
    }
    let use_crate = pattern!(r"(?s)use crate::(.*?);");
    let inline_crate = pattern!(r"(?:^|[^\w:])crate::((?:\w+::)*\w+)");
    let use_super = pattern!(r"(?s)use ((?:super::)+)(.*?);");
    let inline_super = pattern!(r"(?:^|[^\w:])((?:super::)+)((?:\w+::)*\w+)");
    let mut named = Vec::new();
    for file in &files {
        let module = module_of(src, file);
        if module.iter().any(|m| m == "tests") {
            continue;
        }
        let text = code(&fs::read_to_string(file).unwrap());
        let mut paths = Vec::new();
        for m in use_crate.captures_iter(&text) {
            paths.extend(expand(&[], &m[1]));
        }
        for m in inline_crate.captures_iter(&text) {
            if !text[..m.get(0).unwrap().end()].ends_with(&format!("use crate::{}", &m[1])) {
                paths.push(segments(&m[1]).collect());
            }
        }
        let parent = |ups: &str| {
            let n = ups.matches("super::").count();
            module[..module.len().saturating_sub(n)].to_vec()
        };
        for m in use_super.captures_iter(&text) {
            paths.extend(expand(&parent(&m[1]), &m[2]));
        }
        for m in inline_super.captures_iter(&text) {
            let start = m.get(1).unwrap().start();
            if !text[..start].ends_with("use ") {
                let mut path = parent(&m[1]);
                path.extend(segments(&m[2]));
                paths.push(path);
            }
        }
        for path in paths {
            let longest = (1..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|prefix| modules.contains(prefix));
            if let Some(target) = longest {
                named.push((module.clone(), target));
            }
        }
    }
    (modules, named)
}

fn related(a: &[String], b: &[String]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Pairs of sibling modules (at `depth`) that reach each other.
fn cycles(named: &[(Module, Module)], depth: usize) -> BTreeSet<(Module, Module)> {
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (from, to) in named {
        let (from, to) = (
            from[..from.len().min(depth)].to_vec(),
            to[..to.len().min(depth)].to_vec(),
        );
        if !from.is_empty() && !to.is_empty() && !related(&from, &to) {
            edges.entry(from).or_default().insert(to);
        }
    }
    let mut found = BTreeSet::new();
    for (a, targets) in &edges {
        for b in targets {
            let mut seen = BTreeSet::from([b.clone()]);
            let mut stack = vec![b.clone()];
            while let Some(x) = stack.pop() {
                for y in edges.get(&x).into_iter().flatten() {
                    if y == a {
                        let pair = if a < b { (a, b) } else { (b, a) };
                        found.insert((pair.0.clone(), pair.1.clone()));
                    } else if seen.insert(y.clone()) {
                        stack.push(y.clone());
                    }
                }
            }
        }
    }
    found
}

#[test]
fn no_module_of_a_crate_depends_on_a_sibling_that_depends_back_on_it() {
    let root = workspace();
    let mut problems = Vec::new();
    for krate in ["sdk", "node", "cli"] {
        let (modules, named) = imports(&root.join(krate).join("src"));
        assert!(modules.len() > 5, "{krate}: the sources were read");
        assert!(named.len() > 20, "{krate}: imports were found");
        for depth in 1..=4 {
            for (a, b) in cycles(&named, depth) {
                problems.push(format!("{krate}: {} <-> {}", a.join("::"), b.join("::")));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "module cycles:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_sees_a_cycle_through_a_third_module_and_brace_groups() {
    let dir = tempfile_dir();
    let src = dir.join("src");
    fs::create_dir_all(src.join("store")).unwrap();
    fs::write(
        src.join("lib.rs"),
        "pub mod ingest;\npub mod store;\npub mod api;\n",
    )
    .unwrap();
    fs::write(src.join("store/mod.rs"), "mod check;\n").unwrap();
    // store::check → ingest (a brace group), ingest → api (inline path), api → store (super).
    fs::write(
        src.join("store/check.rs"),
        "use crate::{ids, ingest::{Pipeline, Ledger as L}};\n// use crate::api;\n",
    )
    .unwrap();
    fs::write(src.join("ingest.rs"), "fn f() { crate::api::serve(); }\n").unwrap();
    fs::write(
        src.join("api.rs"),
        "use super::store::Store;\n#[cfg(test)]\nmod tests {\n use crate::ingest;\n}\n",
    )
    .unwrap();
    let (_, named) = imports(&src);
    let cycles = cycles(&named, 1);
    let names: Vec<String> = cycles
        .iter()
        .map(|(a, b)| format!("{} <-> {}", a.join("::"), b.join("::")))
        .collect();
    assert_eq!(
        names,
        ["api <-> ingest", "api <-> store", "ingest <-> store"],
        "{named:?}"
    );
    // Without the edge that closes it, none.
    fs::write(src.join("api.rs"), "pub fn serve() {}\n").unwrap();
    let (_, named) = imports(&src);
    assert!(no_cycles_at_any_depth(&named), "{named:?}");
    fs::remove_dir_all(dir).unwrap();
}

fn no_cycles_at_any_depth(named: &[(Module, Module)]) -> bool {
    (1..=4).all(|d| cycles(named, d).is_empty())
}

/// A fresh directory under the target's temporary directory.
fn tempfile_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "module-graph-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// The workspace crates each crate depends on (normal, build and dev dependencies).
fn crate_dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let root = workspace();
    let manifests = [
        "sdk/Cargo.toml",
        "node/Cargo.toml",
        "cli/Cargo.toml",
        "tests/Cargo.toml",
        "tests/testkit/Cargo.toml",
    ];
    let name = pattern!(r#"(?m)^name\s*=\s*"([\w-]+)""#);
    let dependency = pattern!(r"(?m)^(tally-[\w-]+)\s*[.=]");
    let mut graph = BTreeMap::new();
    for manifest in manifests {
        let text = fs::read_to_string(root.join(manifest)).unwrap();
        let package = name.captures(&text).unwrap()[1].to_owned();
        let mut uses = BTreeSet::new();
        for section in text.split("\n[").skip(1) {
            if section.contains("dependencies]") {
                for m in dependency.captures_iter(section) {
                    uses.insert(m[1].to_owned());
                }
            }
        }
        graph.insert(package, uses);
    }
    graph
}

#[test]
fn no_workspace_crate_depends_on_one_that_depends_back_on_it() {
    let graph = crate_dependencies();
    assert!(graph["tally-node"].contains("tally-sdk"), "{graph:?}");
    assert!(graph["tally-tests"].contains("tally-testkit"), "{graph:?}");
    for start in graph.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&String> = graph[start].iter().collect();
        while let Some(next) = stack.pop() {
            assert_ne!(next, start, "{start} depends on itself: {graph:?}");
            if seen.insert(next) {
                stack.extend(graph.get(next).into_iter().flatten());
            }
        }
    }
}
