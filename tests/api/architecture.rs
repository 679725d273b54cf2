//! The module graph of `src/`: every `crate::` reference points down a fixed stack of
//! floors, so the graph has no cycle. `cargo test --test api architecture` checks it;
//! docs/architecture.md explains the floors.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The floors, lowest first. A module may use modules of lower floors only.
const FLOORS: &[&[&str]] = &[
    &["domain"],
    &["config", "store", "auth"],
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

/// Each top-level module of `src/` and the modules it names, itself left out.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        let text = std::fs::read_to_string(file).expect("a readable source file");
        let targets = edges.entry(module.clone()).or_default();
        targets.extend(references(&text).into_iter().filter(|t| *t != module));
    }
    edges
}

#[test]
fn every_import_in_src_points_down_so_the_module_graph_has_no_cycle() {
    let edges = module_graph();
    let upward: Vec<String> = edges
        .iter()
        .flat_map(|(module, targets)| {
            targets
                .iter()
                .filter(|target| floor_of(target) >= floor_of(module))
                .map(move |target| {
                    format!(
                        "`{module}` (floor {}) uses `{target}` (floor {})",
                        floor_of(module),
                        floor_of(target)
                    )
                })
        })
        .collect();
    assert!(
        upward.is_empty(),
        "imports that do not point down:\n{}",
        upward.join("\n")
    );
    // The floors make a cycle impossible; the edges prove the check saw the code.
    assert!(edges["app"].contains("api") && edges["lambda"].contains("app"));
}

/// The module table of docs/architecture.md: each top-level module's row, as
/// (floor, the modules its `imports` cell names).
fn documented_modules(text: &str) -> BTreeMap<String, (usize, BTreeSet<String>)> {
    let ticked = |cell: &str| -> BTreeSet<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(|name| {
                name.trim_end_matches(".rs")
                    .trim_end_matches('/')
                    .to_owned()
            })
            .collect()
    };
    let mut rows = BTreeMap::new();
    for line in text
        .lines()
        .skip_while(|l| !l.starts_with("| floor | module |"))
        .skip(2)
    {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let [floor, module, _owns, imports] = cells[..] else {
            panic!("a row of four cells: {line}");
        };
        // Rows of submodules (`api/items/`) leave the floor empty.
        let Ok(floor) = floor.parse::<usize>() else {
            continue;
        };
        let names = ticked(module);
        assert_eq!(names.len(), 1, "one module per row: {line}");
        let name = names.into_iter().next().expect("one name");
        rows.insert(name, (floor, ticked(imports)));
    }
    rows
}

#[test]
fn the_module_table_of_docs_architecture_md_is_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/architecture.md");
    let text = std::fs::read_to_string(path).expect("docs/architecture.md is readable");
    let table = documented_modules(&text);
    let edges = module_graph();
    let mut wrong = Vec::new();
    for (module, targets) in &edges {
        match table.get(module) {
            None => wrong.push(format!("`{module}` has no row")),
            Some((floor, imports)) => {
                if *floor != floor_of(module) {
                    wrong.push(format!(
                        "`{module}`: the table says floor {floor}, FLOORS says {}",
                        floor_of(module)
                    ));
                }
                if imports != targets {
                    wrong.push(format!(
                        "`{module}` imports {targets:?}, the table says {imports:?}"
                    ));
                }
            }
        }
    }
    for module in table.keys().filter(|m| !edges.contains_key(*m)) {
        wrong.push(format!("`{module}` has a row but no code"));
    }
    assert!(
        wrong.is_empty(),
        "docs/architecture.md's module table differs from src/:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_table_reader_sees_floors_modules_and_imports() {
    let text = "| floor | module | owns | imports |\n|---|---|---|---|\n\
                | 2 | `context.rs` | state | `store`, `config` |\n\
                |  | `api/items/` | items | |\n\
                | 0 | `domain/` | types | — |\n\nafter\n| 9 | `x` | y | z |";
    let rows = documented_modules(text);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows["context"].0, 2);
    assert_eq!(
        rows["context"].1,
        BTreeSet::from(["store".to_owned(), "config".to_owned()])
    );
    assert!(rows["domain"].1.is_empty());
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
