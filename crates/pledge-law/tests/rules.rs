//! Data-driven lint tests: `tests/rules/clean.toml` is a declaration with no finding, and
//! `tests/rules/<rule-id>.patch` is one change to it (a unified diff, `diff -u` output) that
//! must make rule `<rule-id>` fire. A change to the base is one edit, not one per rule; a
//! patch that no longer applies fails with its name. Each fixture's whole report is kept as
//! a snapshot, so a change in any rule's behaviour shows up in review.

use pledge_lang::{SourceFile, SourceMap, load};
use pledge_law::lint::{lint, rules};
use pledge_law::report;
use std::path::Path;

fn rules_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rules")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The fixture `name`: the clean base, with `<name>.patch` applied unless it is `clean`.
fn fixture(name: &str) -> String {
    let base = read(&rules_dir().join("clean.toml"));
    if name == "clean" {
        return base;
    }
    let text = read(&rules_dir().join(format!("{name}.patch")));
    let patch = diffy::Patch::from_str(&text).unwrap_or_else(|e| panic!("{name}.patch: {e}"));
    diffy::apply(&base, &patch)
        .unwrap_or_else(|e| panic!("{name}.patch no longer applies to clean.toml: {e}"))
}

fn check(name: &str) -> (Vec<pledge_law::lint::Finding>, String) {
    let sources = SourceMap::single(format!("{name}.toml"), fixture(name));
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
    for entry in std::fs::read_dir(rules_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(stem) = name.strip_suffix(".patch") {
            assert!(
                pledge_law::lint::rule(stem).is_some(),
                "{name} names no rule"
            );
        } else {
            assert_eq!(
                name, "clean.toml",
                "the fixtures are clean.toml and <rule-id>.patch"
            );
        }
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
