//! The examples as data-driven tests: every `examples/<name>/pledge.toml` is loaded and linted,
//! and its whole report is kept as the snapshot `<name>`. The examples transcribe real privacy
//! policies with their defects, so a change in what a rule finds on them shows up in review.
//! A `-corrected` example must stay free of errors and warnings; the transcribed policies must
//! keep at least one error, or they no longer show what they were written to show.

use pledge_lang::{Severity, SourceMap, load};
use pledge_law::lint::lint;
use pledge_law::report;
use std::path::{Path, PathBuf};

/// The examples that transcribe a real policy as written, defects included.
const POLICIES: &[&str] = &[
    "aspectium",
    "smartcomms",
    "smartertools",
    "spectral-tms",
    "spektr",
];

/// The example folders that hold a `pledge.toml`, sorted by name.
fn examples() -> Vec<(String, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let entries = std::fs::read_dir(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
    let mut found: Vec<(String, PathBuf)> = entries
        .map(|e| e.unwrap().path())
        .filter(|dir| dir.join("pledge.toml").is_file())
        .map(|dir| {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            (name, dir.join("pledge.toml"))
        })
        .collect();
    found.sort();
    found
}

/// The findings of one example and its report, with the file named as from the repository
/// root so that snapshots do not depend on where the repository lives.
fn check(name: &str, path: &Path) -> (Vec<Severity>, String) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let sources = SourceMap::single(format!("examples/{name}/pledge.toml"), text);
    let decl = load(&sources).unwrap_or_else(|errors| {
        panic!(
            "examples/{name} does not load:\n{}",
            report::human(&errors, &sources, false)
        )
    });
    let diagnostics: Vec<_> = lint(&decl).iter().map(|f| f.to_diagnostic()).collect();
    let severities = diagnostics.iter().map(|d| d.severity).collect();
    (severities, report::human(&diagnostics, &sources, false))
}

#[test]
fn every_example_matches_its_snapshot() {
    let all = examples();
    for policy in POLICIES.iter().chain(&["spektr-corrected"]) {
        assert!(
            all.iter().any(|(name, _)| name == policy),
            "examples/{policy} is missing"
        );
    }
    let mut failures = Vec::new();
    for (name, path) in &all {
        let (severities, report) = check(name, path);
        if name.ends_with("-corrected") {
            if severities.iter().any(|&s| s >= Severity::Warning) {
                failures.push(format!(
                    "{name} should have no errors or warnings:\n{report}"
                ));
            }
        } else if POLICIES.contains(&name.as_str()) && !severities.contains(&Severity::Error) {
            failures.push(format!("{name} no longer shows any error:\n{report}"));
        }
        insta::assert_snapshot!(name.as_str(), report);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
