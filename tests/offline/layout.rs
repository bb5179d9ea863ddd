//! docs/design.md's *Layout* describes the tree as it is: every source file under `src/`,
//! every folder and file directly under `tests/`, and every script is named there.

use std::path::Path;

fn layout_block() -> String {
    let design = std::fs::read_to_string(crate::support::repo_root().join("docs/design.md"))
        .expect("docs/design.md");
    let start = design.find("## Layout").expect("a Layout section");
    let block = &design[start..];
    let open = block.find("```").expect("the layout's code block") + 3;
    let close = open + block[open..].find("```").expect("its end");
    block[open..close].to_string()
}

fn names(dir: &Path, recurse: bool, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if recurse {
                names(&path, true, out);
            } else {
                out.push(format!("{name}/"));
            }
        } else if name != "mod.rs" && name != "tests.rs" {
            out.push(name);
        }
    }
}

#[test]
fn the_documented_layout_names_every_file() {
    let block = layout_block();
    let root = crate::support::repo_root();
    let mut missing = Vec::new();
    for (dir, recurse) in [("src", true), ("tests", false), ("scripts", false)] {
        let mut found = Vec::new();
        names(&root.join(dir), recurse, &mut found);
        for name in found {
            let shown = match dir {
                "tests" => format!("tests/{name}"),
                _ => name,
            };
            if !block.contains(&shown) {
                missing.push(format!("{dir}: {shown}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/design.md's Layout does not name: {missing:?}"
    );
}

/// Each kind's files in reading order: a file imports only from the files before it
/// (a stage's own submodules, such as `plan/daemon.rs`, belong to that stage). `mod.rs`
/// comes last: it wires the steps and nothing imports it but its re-exports of `api`.
const READING_ORDER: &[(&str, &[&str])] = &[
    (
        "daemon_service",
        &[
            "api",
            "task_definition",
            "filter",
            "ecs",
            "desired",
            "capacity",
            "cache",
            "observe",
            "plan",
            "apply",
            "status",
            "mod",
        ],
    ),
    (
        "integration_role",
        &[
            "api", "document", "split", "desired", "observe", "plan", "apply", "status", "mod",
        ],
    ),
    (
        "scaling_group",
        &[
            "api",
            "overrides",
            "desired",
            "observe",
            "plan",
            "apply",
            "status",
            "mod",
        ],
    ),
];

/// The source of `path` without its inline test module.
fn product_source(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]\nmod tests {") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// The sibling modules and items `source` reaches through `super::` (`relative`) or
/// `crate::<kind>::`.
fn references(source: &str, kind: &str, relative: bool) -> Vec<String> {
    let mut found = Vec::new();
    let absolute = format!("crate::{kind}::");
    let mut prefixes = vec![absolute.as_str()];
    if relative {
        prefixes.push("super::");
    }
    for prefix in prefixes {
        for (at, _) in source.match_indices(prefix) {
            let rest = &source[at + prefix.len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                found.extend(group.split(',').map(|n| n.trim().to_string()));
            } else {
                let end = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                found.push(rest[..end].to_string());
            }
        }
    }
    found.retain(|name| !name.is_empty() && name != "super" && name != "self");
    found
}

#[test]
fn each_kind_reads_in_one_order_without_import_circles() {
    let root = crate::support::repo_root().join("src");
    let mut violations = Vec::new();
    for (kind, order) in READING_ORDER {
        let dir = root.join(kind);
        let api = std::fs::read_to_string(dir.join("api.rs")).unwrap();
        let defined_in_api = |name: &str| {
            ["struct", "enum", "type", "fn", "const"]
                .iter()
                .any(|item| api.contains(&format!("pub {item} {name}")))
                || api.contains(&format!("pub {name}"))
        };
        let stage_of = |name: &str| -> Option<usize> {
            let module = name.split("::").next().unwrap();
            if let Some(at) = order.iter().position(|m| *m == module) {
                return Some(at);
            }
            // An item: from api (re-exported by mod.rs) or from mod.rs itself.
            if module.starts_with(char::is_uppercase) || module.contains(char::is_uppercase) {
                return Some(if defined_in_api(module) {
                    0
                } else {
                    order.len() - 1
                });
            }
            None
        };
        let mut files = Vec::new();
        names_with_paths(&dir, &mut files);
        for path in files {
            let relative = path.strip_prefix(&dir).unwrap();
            let parts: Vec<_> = relative.iter().map(|p| p.to_string_lossy()).collect();
            if parts.last().is_some_and(|f| f == "tests.rs") || parts.contains(&"tests".into()) {
                continue;
            }
            let stage = parts[0].trim_end_matches(".rs").to_string();
            let Some(own) = order.iter().position(|m| *m == stage) else {
                violations.push(format!("{kind}/{stage}: not in the reading order"));
                continue;
            };
            let top_level = parts.len() == 1;
            let source = product_source(&path);
            for name in references(&source, kind, top_level) {
                let Some(at) = stage_of(&name) else { continue };
                let same_stage = at == own;
                if at > own || (same_stage && top_level && stage != "mod") {
                    violations.push(format!(
                        "{kind}/{}: imports {name} ({})",
                        relative.display(),
                        order[at]
                    ));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports that point up the reading order: {violations:#?}"
    );
}

fn names_with_paths(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            names_with_paths(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}
