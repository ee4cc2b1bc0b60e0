//! `pledge map` and `pledge check --live` as a privacy officer runs them, on real SQLite
//! files of a schema whose rows link two people, and on Chinook.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SHOP: &str = include_str!("../../pledge-connect/tests/fixtures/shop/shop.sql");
const SHOP_DECLARATION: &str = include_str!("fixtures/shop/pledge.toml");
const CHINOOK: &str =
    include_str!("../../pledge-connect/tests/fixtures/chinook/chinook_sqlite.sql");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fresh directory with a SQLite database made from `script`; returns it and the URL.
fn database(name: &str, script: &str) -> (PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("pledge-map-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("app.db");
    let url = format!("sqlite:{}?mode=rwc", db.display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut conn = pledge_connect::Database::connect(None, &url).await.unwrap();
        conn.batch(&format!("BEGIN;\n{script}\nCOMMIT;"))
            .await
            .unwrap();
        conn.close().await;
    });
    (dir, format!("sqlite:{}", db.display()))
}

fn pledge(args: &[&str], dir: &Path, env: (&str, &str)) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pledge"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env(env.0, env.1)
        .output()
        .expect("run pledge")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The shop declaration as written, or with its `owner` and `mentions` lines left out.
fn shop(name: &str, declared_owners: bool) -> (PathBuf, String) {
    let (dir, url) = database(name, SHOP);
    let text: String = SHOP_DECLARATION
        .lines()
        .filter(|l| declared_owners || !(l.starts_with("owner") || l.starts_with("mentions")))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.join("pledge.toml"), text).unwrap();
    (dir, url)
}

#[test]
fn the_map_shows_whose_rows_each_table_holds_and_what_requests_do() {
    let (dir, url) = shop("human", true);
    let out = pledge(&["map", "pledge.toml"], &dir, ("SHOP_DATABASE_URL", &url));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    insta::assert_snapshot!(stdout(&out));
}

#[test]
fn undeclared_owners_of_rows_that_link_two_people_are_ambiguous_and_fail_check_live() {
    let (dir, url) = shop("ambiguous", false);
    let out = pledge(&["map", "pledge.toml"], &dir, ("SHOP_DATABASE_URL", &url));
    let text = stdout(&out);
    assert!(text.contains("orders      AMBIGUOUS"), "{text}");
    assert!(text.contains("message     AMBIGUOUS"), "{text}");
    assert!(text.contains("refused: the rows of"), "{text}");

    let out = pledge(
        &["check", "--live", "--format", "json", "pledge.toml"],
        &dir,
        ("SHOP_DATABASE_URL", &url),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ambiguous: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["rule"] == "live-owner-ambiguous")
        .collect();
    assert_eq!(ambiguous.len(), 2, "{report:#}");
    // Each finding points at the table in the declaration.
    for d in ambiguous {
        assert!(d["location"]["line"].as_u64().is_some(), "{d:#}");
    }
}

#[test]
fn check_live_passes_once_owners_are_declared() {
    let (dir, url) = shop("declared", true);
    let out = pledge(
        &["check", "--live", "--format", "json", "pledge.toml"],
        &dir,
        ("SHOP_DATABASE_URL", &url),
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let live: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["rule"].as_str().unwrap().starts_with("live-"))
        .collect();
    assert!(live.is_empty(), "{live:#?}");
}

#[test]
fn the_map_is_json_dot_and_a_self_contained_page() {
    let (dir, url) = shop("formats", true);
    let env = ("SHOP_DATABASE_URL", url.as_str());
    let json = pledge(&["map", "pledge.toml", "--format", "json"], &dir, env);
    let maps: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let orders = maps[0]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "orders")
        .unwrap();
    assert_eq!(orders["ownership"]["type"], "owned");
    assert_eq!(orders["ownership"]["via"]["columns"][0], "customer_id");
    assert_eq!(orders["ownership"]["declared"], true);

    let dot = stdout(&pledge(
        &["map", "pledge.toml", "--format", "dot"],
        &dir,
        env,
    ));
    assert!(dot.starts_with("digraph pledge {"), "{dot}");
    assert!(dot.contains("\"shop.orders\" -> \"shop.employee\" [label=\"employee_id (mention: keep)\", style=dashed"), "{dot}");

    let out = pledge(
        &["map", "pledge.toml", "--format", "html", "-o", "map.html"],
        &dir,
        env,
    );
    assert!(out.status.success());
    let html = std::fs::read_to_string(dir.join("map.html")).unwrap();
    assert!(html.contains("<svg"), "a picture of the graph");
    for external in ["<script", "src=", "href=\"http", "@import"] {
        assert!(
            !html.contains(external),
            "the page is self-contained: {external}"
        );
    }
}

#[test]
fn chinook_has_no_ambiguity() {
    let (dir, url) = database("chinook", CHINOOK);
    let example = repo().join("examples/chinook").display().to_string();
    let out = pledge(&["map", &example], &dir, ("CHINOOK_DATABASE_URL", &url));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    insta::assert_snapshot!(stdout(&out));
}

#[test]
fn a_dataset_without_its_connection_is_a_clear_error() {
    let (dir, _) = shop("no-url", true);
    let out = pledge(&["map", "pledge.toml"], &dir, ("UNRELATED", "1"));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SHOP_DATABASE_URL"), "{stderr}");
}
