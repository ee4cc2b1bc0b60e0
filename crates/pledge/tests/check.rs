//! `pledge check` as a user runs it: exit codes, output formats, located errors.

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

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pledge-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn init(dir: &Path) {
    let out = pledge(&["init"], dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_init_template_checks_clean() {
    let dir = temp_dir("init");
    init(&dir);
    let out = pledge(&["check"], &dir);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("no findings"));
    // A second init refuses to overwrite.
    assert_eq!(pledge(&["init"], &dir).status.code(), Some(2));
}

#[test]
fn findings_at_the_deny_level_exit_1() {
    let dir = temp_dir("deny");
    init(&dir);
    let text = std::fs::read_to_string(dir.join("pledge.toml")).unwrap();
    std::fs::write(
        dir.join("pledge.toml"),
        text.replace("response_time = \"P1M\"", "response_time = \"P2M\""),
    )
    .unwrap();
    let out = pledge(&["check"], &dir);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("error[response-time]"));
    // Allowing the rule silences it.
    assert_eq!(
        pledge(&["check", "--allow", "response-time"], &dir)
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn warnings_fail_only_when_denied() {
    let dir = temp_dir("warn");
    init(&dir);
    let text = std::fs::read_to_string(dir.join("pledge.toml")).unwrap();
    let text = text.replace(
        "security = [\"encryption_at_rest\", \"encryption_in_transit\", \"access_control\"]\n",
        "",
    );
    std::fs::write(dir.join("pledge.toml"), text).unwrap();
    assert_eq!(pledge(&["check"], &dir).status.code(), Some(0));
    assert_eq!(
        pledge(&["check", "--deny", "warning"], &dir).status.code(),
        Some(1)
    );
}

#[test]
fn invalid_input_exits_2_with_file_line_and_column() {
    let dir = temp_dir("invalid");
    std::fs::write(
        dir.join("pledge.toml"),
        "[controller]\nname = \"Acme\"\ncountry = \"Denmark\"\n\n[[purposes]]\nid = \"a\"\nname = \"A\"\nlegal_bases = [\"contrat\"]\n",
    )
    .unwrap();
    let out = pledge(&["check"], &dir);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(text.contains("--> pledge.toml:3:11"), "{text}");
    assert!(text.contains("for Denmark, write `DK`"), "{text}");
    assert!(text.contains("--> pledge.toml:8:16"), "{text}");
    assert!(text.contains("did you mean `contract`?"), "{text}");
    assert!(text.contains("3 | country = \"Denmark\""), "{text}");
}

#[test]
fn a_syntax_error_is_located() {
    let dir = temp_dir("syntax");
    std::fs::write(dir.join("pledge.toml"), "[controller]\nname = \"Acme\n").unwrap();
    let out = pledge(&["check"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("pledge.toml:2:"), "{}", stdout(&out));
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let dir = temp_dir("missing");
    let out = pledge(&["check", "nowhere.toml"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read nowhere.toml"));
}

#[test]
fn json_and_sarif_are_machine_readable() {
    let dir = temp_dir("formats");
    std::fs::write(dir.join("pledge.toml"), "[controller]\nname = \"Acme\"\n").unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&pledge(&["check", "--format", "json"], &dir).stdout).unwrap();
    assert!(json["summary"]["errors"].as_u64().unwrap() > 0);
    let first = &json["findings"][0];
    assert!(first["rule"].is_string() && first["law"].is_string());

    let sarif: serde_json::Value =
        serde_json::from_slice(&pledge(&["check", "--format", "sarif"], &dir).stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    for result in run["results"].as_array().unwrap() {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
    }
}

#[test]
fn a_folder_of_files_is_merged() {
    let dir = temp_dir("folder");
    init(&dir);
    let decl = dir.join("decl");
    std::fs::create_dir_all(&decl).unwrap();
    std::fs::rename(dir.join("pledge.toml"), decl.join("main.toml")).unwrap();
    std::fs::write(
        decl.join("extra.yaml"),
        "subjects:\n  - id: staff\n    name: Staff\n",
    )
    .unwrap();
    let out = pledge(&["check", "decl"], &dir);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn the_schema_is_json_schema() {
    let dir = temp_dir("schema");
    let schema: serde_json::Value =
        serde_json::from_slice(&pledge(&["schema"], &dir).stdout).unwrap();
    assert!(
        schema["$schema"]
            .as_str()
            .unwrap()
            .contains("json-schema.org")
    );
    assert!(schema["properties"]["purposes"].is_object());
}

#[test]
fn the_rule_reference_is_current() {
    let committed = include_str!("../../../docs/rules.md");
    assert_eq!(
        committed,
        pledge_law::lint::markdown_reference(),
        "docs/rules.md is stale: run `cargo run -p pledge -- rules --markdown > docs/rules.md`"
    );
}

#[test]
fn a_misspelt_rule_id_gets_a_did_you_mean() {
    let dir = temp_dir("allow-typo");
    init(&dir);
    let o = pledge(&["check", "--allow", "consent-invaild"], &dir);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("did you mean `consent-invalid`?"), "{err}");
    let o = pledge(&["rules", "dpia-likly"], &dir);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("did you mean `dpia-likely`?"), "{err}");
}

/// The README's tour starts here: `init --sample-db` writes the declaration and the Chinook
/// database that `examples/chinook` describes, and the tour's first request finds Luís.
#[test]
fn init_writes_the_sample_database_the_tour_uses() {
    let dir = temp_dir("sample-db");
    let o = pledge(&["init", "--sample-db", "chinook.db"], &dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(dir.join("pledge.toml").is_file() && dir.join("chinook.db").is_file());
    let chinook = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/chinook");
    let o = Command::new(env!("CARGO_BIN_EXE_pledge"))
        .args(["request", "access"])
        .arg(&chinook)
        .args(["-i", "email=luisg@embraer.com.br", "--output", "luis.zip"])
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .env("CHINOOK_DATABASE_URL", "sqlite:chinook.db")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout(&o).contains("customer                   1 row"),
        "{}",
        stdout(&o)
    );
    // A second run overwrites nothing.
    let o = pledge(&["init", "--sample-db", "chinook.db"], &dir);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
