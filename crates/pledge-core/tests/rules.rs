//! Data-driven lint tests: `tests/rules/<rule-id>.toml` is the clean base with one change that
//! must make rule `<rule-id>` fire. Each fixture's whole report is kept as a snapshot, so a
//! change in any rule's behaviour shows up in review.

use pledge_core::lint::{lint, rules};
use pledge_core::{SourceFile, SourceMap, load, report};
use std::path::Path;

fn check(name: &str) -> (Vec<pledge_core::lint::Finding>, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/rules")
        .join(format!("{name}.toml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let sources = SourceMap::single(format!("{name}.toml"), text);
    let decl = load(&sources).unwrap_or_else(|errors| {
        panic!(
            "{name}.toml does not load:\n{}",
            report::human(&errors, &sources, false)
        )
    });
    let findings = lint(&decl);
    let diagnostics: Vec<_> = findings.iter().map(|f| f.to_diagnostic()).collect();
    (findings, report::human(&diagnostics, &sources, false))
}

#[test]
fn the_clean_base_has_no_findings() {
    let (findings, report) = check("clean");
    assert!(findings.is_empty(), "{report}");
}

#[test]
fn every_rule_fires_on_its_fixture() {
    let mut failures = Vec::new();
    for rule in rules() {
        let (findings, report) = check(rule.id);
        if !findings.iter().any(|f| f.rule == rule.id) {
            failures.push(format!("{} did not fire:\n{report}", rule.id));
        }
        insta::assert_snapshot!(rule.id, report);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_fixture_names_a_rule() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rules");
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(stem) = name.strip_suffix(".toml") else {
            continue;
        };
        assert!(
            stem == "clean" || pledge_core::lint::rule(stem).is_some(),
            "{name} names no rule"
        );
    }
}

#[test]
fn yaml_declarations_lint_like_toml() {
    let yaml = "controller:\n  name: Acme\npurposes:\n  - id: a\n    name: A\n";
    let toml = "[controller]\nname = \"Acme\"\n[[purposes]]\nid = \"a\"\nname = \"A\"\n";
    let ids = |name: &str, text: &str| -> Vec<&'static str> {
        let decl = load(&SourceMap::single(name, text)).unwrap();
        lint(&decl).into_iter().map(|f| f.rule).collect()
    };
    assert_eq!(ids("a.yaml", yaml), ids("a.toml", toml));
    let _ = SourceFile::new("unused", "");
}
