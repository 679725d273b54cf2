//! The module graph of `src/`: every `crate::` reference points down a fixed stack of
//! floors, so the graph has no cycle. `cargo test --test api architecture` checks it;
//! docs/architecture.md explains the floors.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The floors, lowest first. A module may use modules of lower floors only.
const FLOORS: &[&[&str]] = &[
    &["domain"],
    &["config", "store"],
    &["context", "aws"],
    &["error", "secrets"],
    &["extract", "docs", "telemetry", "middleware", "metrics"],
    &["api"],
    &["app"],
    &["lambda", "server"],
    &["startup"],
];

fn floor_of(module: &str) -> usize {
    FLOORS
        .iter()
        .position(|floor| floor.contains(&module))
        .unwrap_or_else(|| panic!("module `{module}` is on no floor; add it to FLOORS"))
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/api/items/mod.rs` → `api`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).expect("under src/");
    let first = relative.components().next()?.as_os_str().to_str()?;
    match first {
        "lib.rs" | "main.rs" => None,
        name => Some(name.trim_end_matches(".rs").to_owned()),
    }
}

/// The top-level modules a file names as `crate::<module>`, in code or in attributes.
fn references(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        // `items_api::` in the binary is not `crate::`; skip `$crate::` of macros.
        if text[..at].ends_with('$') {
            continue;
        }
        let rest = &text[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    // `use crate::{a, b}` groups.
    for (at, _) in text.match_indices("crate::{") {
        let rest = &text[at + "crate::{".len()..];
        let group = &rest[..rest.find('}').unwrap_or(0)];
        for item in group.split(',') {
            let name = item.trim().split("::").next().unwrap_or("").trim();
            if !name.is_empty() {
                found.insert(name.to_owned());
            }
        }
    }
    found
}

#[test]
fn every_import_in_src_points_down_so_the_module_graph_has_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut upward = Vec::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        let text = std::fs::read_to_string(file).expect("a readable source file");
        for target in references(&text) {
            if target == module {
                continue;
            }
            if floor_of(&target) >= floor_of(&module) {
                upward.push(format!(
                    "{}: `{module}` (floor {}) uses `{target}` (floor {})",
                    file.strip_prefix(&src).expect("under src/").display(),
                    floor_of(&module),
                    floor_of(&target)
                ));
            }
            edges.entry(module.clone()).or_default().insert(target);
        }
    }
    assert!(
        upward.is_empty(),
        "imports that do not point down:\n{}",
        upward.join("\n")
    );
    // The floors make a cycle impossible; the edges prove the check saw the code.
    assert!(edges["app"].contains("api") && edges["lambda"].contains("app"));
}

#[test]
fn the_reference_scanner_sees_paths_groups_and_attributes() {
    let text = "use crate::context::{AppState, BasePath};\nuse crate::{api, error::Problem};\n\
                #[utoipa::path(responses((status = 429, response = crate::error::TooManyRequests)))]";
    let found = references(text);
    let expected: BTreeSet<String> = ["context", "api", "error"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(found, expected);
}
