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
