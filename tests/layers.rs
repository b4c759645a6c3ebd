//! The layers of docs/architecture.md, held: read from the source, which
//! top-level module names which (`crate::x`, outside tests and comments),
//! and refuse a loop between modules, an import of `server` from below it,
//! and a hub that knows more than the statuses and the metrics.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each top-level module of `src/` and the modules it names.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&root, &mut files);
    for file in files {
        let relative = file.strip_prefix(&root).unwrap();
        let top = relative.components().next().unwrap().as_os_str();
        let top = top.to_str().unwrap().trim_end_matches(".rs").to_string();
        if ["lib", "main", "bin"].contains(&top.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        // Tests may reach anywhere: what counts is the code they test.
        let code = text.split("#[cfg(test)]").next().unwrap();
        let named = graph.entry(top.clone()).or_default();
        for line in code.lines() {
            let line = line.split("//").next().unwrap();
            for (at, _) in line.match_indices("crate::") {
                let rest = &line[at + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !name.is_empty() && name != top {
                    named.insert(name);
                }
            }
        }
    }
    graph
}

fn collect(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The modules `from` reaches through any chain of imports.
fn reach(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut next = vec![from.to_string()];
    while let Some(module) = next.pop() {
        for named in graph.get(&module).into_iter().flatten() {
            if seen.insert(named.clone()) {
                next.push(named.clone());
            }
        }
    }
    seen
}

#[test]
fn no_module_reaches_itself_through_its_imports() {
    let graph = imports();
    assert!(graph.len() > 20, "the source was read: {graph:?}");
    let looping: Vec<&String> = graph
        .keys()
        .filter(|m| reach(&graph, m).contains(*m))
        .collect();
    assert!(looping.is_empty(), "in a loop: {looping:?}\n{graph:#?}");
}

#[test]
fn nothing_below_the_server_imports_it_and_the_hub_knows_only_statuses() {
    let graph = imports();
    let importers: Vec<&String> = graph
        .iter()
        .filter(|(_, named)| named.contains("server"))
        .map(|(module, _)| module)
        .collect();
    assert!(importers.is_empty(), "import server.rs: {importers:?}");
    let hub: Vec<&String> = graph["hub"].iter().collect();
    assert_eq!(hub, ["metrics", "status"], "the hub imports {hub:?}");
}
