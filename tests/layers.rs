//! The library's modules import each other one way (ARCHITECTURE.md, "Layers"): no circle of
//! modules, and the model imports neither the claims' catalogue nor the reports. Read from the
//! sources: every `crate::…` and `super::…` path of a module names a module it depends on.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Files that count as modules of their own, apart from the rest of their folder: the formula
/// tree stands below the scenario, its checker and evaluator above it; the wire format below
/// the scenario, the actors above it; the matrix's renderers above the matrix, which uses the
/// reports. Every other folder is one module.
const APART: [&str; 7] = [
    "formula::tree",
    "formula::compile",
    "formula::eval",
    "formula::observe",
    "formula::syntax",
    "protocol::wire",
    "report::matrix",
];

/// The module a path of the crate belongs to (`formula::tree::Formula` -> `formula::tree`).
fn module_of(path: &str, known: &BTreeSet<String>) -> Option<String> {
    let apart = APART
        .iter()
        .find(|a| path == **a || path.starts_with(&format!("{a}::")));
    if let Some(a) = apart {
        return Some(a.to_string());
    }
    let first = path.split("::").next()?;
    known.contains(first).then(|| first.to_string())
}

/// The library's source files with their module paths (`src/formula/tree.rs` ->
/// `formula::tree`; `src/protocol/mod.rs` -> `protocol`), without the crate root and the
/// command line (`src/cli/`, part of the binary).
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let src = crate::repo_path("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut out = Vec::new();
    for f in files {
        let rel = f
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if rel == "lib.rs" || rel == "main.rs" || rel.starts_with("cli/") {
            continue;
        }
        let module = rel
            .trim_end_matches(".rs")
            .trim_end_matches("/mod")
            .replace('/', "::");
        out.push((module, std::fs::read_to_string(&f).unwrap()));
    }
    out
}

/// The paths after `crate::` and `super::` in a file's code (comments left out), resolved to
/// paths from the crate root; a name the crate root re-exports is resolved to its module.
fn paths(
    module: &str,
    is_folder: bool,
    text: &str,
    root: &BTreeMap<String, String>,
) -> Vec<String> {
    let parent: Vec<&str> = {
        let mut p: Vec<&str> = module.split("::").collect();
        if !is_folder {
            p.pop();
        }
        p
    };
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        for (prefix, base) in [("crate::", Vec::new()), ("super::", parent.clone())] {
            let mut rest = code;
            while let Some(i) = rest.find(prefix) {
                let before = rest[..i].chars().last();
                rest = &rest[i + prefix.len()..];
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                    continue;
                }
                let tail: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                let mut segs = base.clone();
                segs.extend(tail.split("::").filter(|s| !s.is_empty()));
                let path = segs.join("::");
                let first = segs.first().copied().unwrap_or("");
                out.push(root.get(first).cloned().unwrap_or(path));
            }
        }
    }
    out
}

/// Module -> the modules it depends on.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let files = sources();
    let mut known: BTreeSet<String> = files
        .iter()
        .map(|(m, _)| m.split("::").next().unwrap().to_string())
        .collect();
    known.extend(APART.iter().map(|a| a.to_string()));
    // Names the crate root re-exports (`pub use claims::{Claim, …}`), by the module they come from.
    let lib = std::fs::read_to_string(crate::repo_path("src/lib.rs")).unwrap();
    let mut root = BTreeMap::new();
    for line in lib.lines().filter(|l| l.starts_with("pub use ")) {
        let body = line.trim_start_matches("pub use ").trim_end_matches(';');
        if let Some((module, names)) = body.split_once("::") {
            for n in names.trim_matches(|c| c == '{' || c == '}').split(',') {
                root.insert(n.trim().to_string(), module.to_string());
            }
        }
    }
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, text) in &files {
        let from = module_of(module, &known).unwrap();
        let folder =
            crate::repo_path(&format!("src/{}/mod.rs", module.replace("::", "/"))).exists();
        let deps = g.entry(from.clone()).or_default();
        for p in paths(module, folder, text, &root) {
            if let Some(to) = module_of(&p, &known) {
                if to != from {
                    deps.insert(to);
                }
            }
        }
    }
    g
}

/// A circle of modules, if there is one.
fn circle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| s == n) {
            let mut c = stack[i..].to_vec();
            c.push(n.to_string());
            return Some(c);
        }
        if !done.insert(n.to_string()) {
            return None;
        }
        stack.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, g, done, stack) {
                return Some(c);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    g.keys()
        .find_map(|n| visit(n, g, &mut done, &mut Vec::new()))
}

#[test]
fn the_modules_import_each_other_one_way() {
    let g = graph();
    assert!(g.len() > 20, "the sources were read: {g:?}");
    if let Some(c) = circle(&g) {
        panic!("a circle of modules: {}", c.join(" -> "));
    }
}

#[test]
fn the_model_and_what_it_stands_on_import_no_claim_catalogue_and_no_report() {
    let g = graph();
    let above = [
        "claims",
        "report",
        "check",
        "footprints",
        "load",
        "properties",
        "matrix",
    ];
    for low in [
        "model",
        "state",
        "protocol",
        "scenario",
        "claim",
        "verdict",
        "formula::tree",
    ] {
        let deps = &g[low];
        for a in above {
            assert!(!deps.contains(a), "`{low}` imports `{a}`: {deps:?}");
        }
    }
    // The formula tree reads no state and knows no scenario: scenarios hold compiled trees.
    for a in [
        "model",
        "state",
        "scenario",
        "formula::eval",
        "formula::compile",
    ] {
        assert!(
            !g["formula::tree"].contains(a),
            "the formula tree imports `{a}`"
        );
    }
    assert!(!g["scenario"].contains("formula::compile"));
}

#[test]
fn a_circle_is_found_when_there_is_one() {
    // The check itself: a module graph with a circle is caught.
    let mut g = graph();
    g.get_mut("verdict").unwrap().insert("report".to_string());
    let c = circle(&g).expect("verdict -> report closes a circle");
    assert_eq!(c.first(), c.last());
    assert!(c.iter().any(|m| m == "verdict"));
}
