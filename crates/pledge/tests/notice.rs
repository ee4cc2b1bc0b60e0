//! `pledge notice`, `pledge notice diff` and `pledge ropa` as a user runs them: files written,
//! templates replaced, git revisions read, exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn pledge(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pledge"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run pledge")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pledge-notice-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A folder holding the complete fixture declaration as `pledge.toml`.
fn with_fixture(name: &str) -> PathBuf {
    let dir = temp_dir(name);
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../pledge-docs/tests/fixtures/complete.toml");
    std::fs::copy(fixture, dir.join("pledge.toml")).unwrap();
    dir
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "`{from}` not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn writes_the_notice_in_each_format() {
    let dir = with_fixture("formats");
    let out = pledge(&["notice", "-o", "privacy.html"], &dir);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("wrote privacy.html (version "),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("effective 2026-03-01"));
    let html = std::fs::read_to_string(dir.join("privacy.html")).unwrap();
    assert!(html.starts_with("<!doctype html>") && html.contains("Kestrel Labs privacy notice"));
    let md = pledge(&["notice", "--format", "md"], &dir);
    assert!(stdout(&md).starts_with("# Kestrel Labs privacy notice\n"));
    let ld = pledge(
        &[
            "notice",
            "--format",
            "jsonld",
            "--effective-date",
            "2026-05-01",
        ],
        &dir,
    );
    let json: serde_json::Value = serde_json::from_slice(&ld.stdout).unwrap();
    assert_eq!(json["dct:valid"]["@value"], "2026-05-01");
    let bad = pledge(&["notice", "--effective-date", "1 May"], &dir);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("--effective-date"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn templates_can_be_replaced_per_language() {
    let dir = with_fixture("templates");
    std::fs::create_dir_all(dir.join("tpl/fr")).unwrap();
    std::fs::write(
        dir.join("tpl/fr/notice.md"),
        "Politique de {{ notice.controller.full_name }}\n",
    )
    .unwrap();
    let out = pledge(
        &[
            "notice",
            "--format",
            "md",
            "--lang",
            "fr",
            "--templates",
            "tpl",
        ],
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Politique de Kestrel Labs ApS\n");
    // French HTML was not given: the error says what to do.
    let out = pledge(&["notice", "--lang", "fr", "--templates", "tpl"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no `notice.html` template for language `fr`"),
        "{}",
        stderr(&out)
    );
    std::fs::write(dir.join("tpl/notice.html"), "{{ notice.missing_field }}").unwrap();
    let out = pledge(&["notice", "--templates", "tpl"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("notice.html"), "{}", stderr(&out));
}

#[test]
fn strict_refuses_a_declaration_with_errors() {
    let dir = with_fixture("strict");
    edit(
        &dir.join("pledge.toml"),
        "legal_bases = [\"contract\"]\nretention",
        "retention",
    );
    let lenient = pledge(&["notice", "--format", "md"], &dir);
    assert!(lenient.status.success());
    assert!(
        stderr(&lenient).contains("reports 1 error(s)"),
        "{}",
        stderr(&lenient)
    );
    let strict = pledge(&["notice", "--strict", "-o", "out.html"], &dir);
    assert_eq!(strict.status.code(), Some(2));
    assert!(
        stderr(&strict).contains("legal-basis-missing"),
        "{}",
        stderr(&strict)
    );
    assert!(!dir.join("out.html").exists());
}

#[test]
fn diff_separates_material_from_editorial_changes() {
    let dir = with_fixture("diff");
    std::fs::copy(dir.join("pledge.toml"), dir.join("old.toml")).unwrap();
    edit(
        &dir.join("pledge.toml"),
        "retention = \"P90D\"",
        "retention = \"P2Y\"",
    );
    edit(
        &dir.join("pledge.toml"),
        "A monthly e-mail about new features.",
        "A monthly letter.",
    );
    let out = pledge(&["notice", "diff", "old.toml", "pledge.toml"], &dir);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("Material changes: tell people before they take effect (1):"),
        "{text}"
    );
    assert!(
        text.contains("purpose `security`: data is kept longer (90 days -> 2 years)"),
        "{text}"
    );
    assert!(text.contains("Editorial changes (1):"), "{text}");
    let check = pledge(
        &[
            "notice",
            "diff",
            "old.toml",
            "pledge.toml",
            "--check",
            "--format",
            "json",
        ],
        &dir,
    );
    assert_eq!(check.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(json["material"][0]["kind"], "retention_longer");
    let same = pledge(&["notice", "diff", "old.toml", "old.toml", "--check"], &dir);
    assert_eq!(same.status.code(), Some(0));
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn diff_reads_git_revisions() {
    let dir = with_fixture("git");
    std::fs::create_dir_all(dir.join("decl")).unwrap();
    std::fs::rename(dir.join("pledge.toml"), dir.join("decl/main.toml")).unwrap();
    git(&dir, &["init", "-q"]);
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "first"]);
    edit(
        &dir.join("decl/main.toml"),
        "categories = [\"online.ip_address\", \"online.user_agent\"]",
        "categories = [\"online.ip_address\", \"online.user_agent\", \"location.precise\"]",
    );
    // A file at a revision, against the working copy.
    let out = pledge(
        &[
            "notice",
            "diff",
            "git:HEAD:decl/main.toml",
            "decl/main.toml",
        ],
        &dir,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(
            "purpose `security`: now collects precise geolocation (GPS) [location.precise]"
        ),
        "{}",
        stdout(&out)
    );
    // A folder, with the path taken from the other argument; relative to the working directory.
    let out = pledge(&["notice", "diff", "git:HEAD", "."], &dir.join("decl"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("collects precise geolocation"),
        "{}",
        stdout(&out)
    );
    let bad = pledge(
        &[
            "notice",
            "diff",
            "git:no-such-rev:decl/main.toml",
            "decl/main.toml",
        ],
        &dir,
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("git"), "{}", stderr(&bad));
}

#[test]
fn ropa_writes_each_format() {
    let dir = with_fixture("ropa");
    let csv = pledge(&["ropa", "--date", "2026-04-01"], &dir);
    assert!(csv.status.success(), "{}", stderr(&csv));
    assert!(stdout(&csv).starts_with("Record,Processing activity,Id,"));
    assert_eq!(stdout(&csv).lines().count(), 10);
    let json = pledge(&["ropa", "--format", "json", "--date", "2026-04-01"], &dir);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["activities"][8]["record"], "Art. 30(2)");
    let out = pledge(&["ropa", "--format", "xlsx", "-o", "record.xlsx"], &dir);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("wrote record.xlsx (9 processing activities)"));
    assert_eq!(
        &std::fs::read(dir.join("record.xlsx")).unwrap()[..4],
        b"PK\x03\x04"
    );
    // Piped, the workbook goes to standard output.
    let piped = pledge(&["ropa", "--format", "xlsx"], &dir);
    assert_eq!(&piped.stdout[..4], b"PK\x03\x04");
    let html = pledge(&["ropa", "--format", "html"], &dir);
    assert!(stdout(&html).contains("Time limits for erasure"));
}
