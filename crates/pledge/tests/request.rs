//! `pledge request` as a user runs it, on a real SQLite copy of Chinook.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CHINOOK: &str =
    include_str!("../../pledge-connect/tests/fixtures/chinook/chinook_sqlite.sql");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fresh Chinook SQLite file, built through the CLI's own connector crate.
fn chinook(name: &str) -> (PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("pledge-request-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("chinook.db");
    let url = format!("sqlite:{}?mode=rwc", db.display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut conn = pledge_connect::Database::connect(None, &url).await.unwrap();
        // sqlx runs a script of several statements in one call on SQLite.
        conn.batch(&format!("BEGIN;\n{CHINOOK}\nCOMMIT;"))
            .await
            .unwrap();
        conn.close().await;
    });
    (dir, format!("sqlite:{}", db.display()))
}

fn pledge(args: &[&str], dir: &Path, url: &str, key: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pledge"));
    cmd.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("CHINOOK_DATABASE_URL", url)
        .env_remove("PLEDGE_HMAC_KEY");
    if let Some(key) = key {
        cmd.env("PLEDGE_HMAC_KEY", key);
    }
    cmd.output().expect("run pledge")
}

fn example() -> String {
    repo().join("examples/chinook").display().to_string()
}

#[test]
fn access_writes_a_complete_export() {
    let (dir, url) = chinook("access");
    let out = pledge(
        &[
            "request",
            "access",
            &example(),
            "-i",
            "email=luisg@embraer.com.br",
            "-o",
            "export.zip",
        ],
        &dir,
        &url,
        None,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("export written to export.zip"), "{stdout}");
    let bytes = std::fs::read(dir.join("export.zip")).unwrap();
    // Every file the issue asks for is in the archive.
    for name in [
        "data.json",
        "chinook/customer.csv",
        "chinook/invoice.csv",
        "chinook/invoice_line.csv",
        "report.html",
        "manifest.json",
    ] {
        assert!(
            bytes.windows(name.len()).any(|w| w == name.as_bytes()),
            "{name} missing"
        );
    }
}

#[test]
fn a_dry_run_erasure_prints_the_plan_and_changes_nothing() {
    let (dir, url) = chinook("dry");
    let out = pledge(
        &[
            "request",
            "erase",
            &example(),
            "-i",
            "customer_id=1",
            "--dry-run",
        ],
        &dir,
        &url,
        None,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("dry run: rolled back, nothing changed"),
        "{stdout}"
    );
    assert!(stdout.contains("Art. 17(3)(b)"), "{stdout}");
    // Nothing changed: the access request still finds Luís by e-mail.
    let out = pledge(
        &[
            "request",
            "access",
            &example(),
            "-i",
            "email=luisg@embraer.com.br",
            "-o",
            "a.zip",
        ],
        &dir,
        &url,
        None,
    );
    assert!(out.status.success());
}

#[test]
fn an_erasure_that_pseudonymises_needs_the_key() {
    let (dir, url) = chinook("key");
    let out = pledge(
        &["request", "erase", &example(), "-i", "customer_id=1"],
        &dir,
        &url,
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PLEDGE_HMAC_KEY"));
    let out = pledge(
        &[
            "request",
            "erase",
            &example(),
            "-i",
            "customer_id=1",
            "--format",
            "json",
        ],
        &dir,
        &url,
        Some("a-secret-of-sixteen+"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["datasets"][0]["committed"], true);
}

#[test]
fn bad_input_is_named() {
    let (dir, url) = chinook("bad");
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "request",
                "access",
                &example(),
                "-i",
                "luisg@embraer.com.br",
            ],
            "is not KIND=VALUE",
        ),
        (
            &["request", "access", &example(), "-i", "shoe_size=42"],
            "declares an identity column for `shoe_size`",
        ),
        (
            &[
                "request",
                "access",
                &example(),
                "-i",
                "email=nobody@example.com",
            ],
            "no one with this identity was found",
        ),
        (
            &["request", "rectify", &example(), "-i", "customer_id=1"],
            "needs at least one change",
        ),
        (
            &[
                "request",
                "rectify",
                &example(),
                "-i",
                "customer_id=1",
                "--set",
                "customer_id=9",
            ],
            "key column",
        ),
    ];
    for (args, expected) in cases {
        let out = pledge(args, &dir, &url, None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    let out = pledge(
        &["request", "access", &example(), "-i", "customer_id=1"],
        &dir,
        "",
        None,
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("CHINOOK_DATABASE_URL"));
}

/// A query on the Chinook copy, for "nothing changed" checks.
fn query(url: &str, sql: &str) -> Vec<Vec<pledge_plan::Value>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut conn = pledge_connect::Database::connect(None, url).await.unwrap();
        let rows = conn.query(sql).await.unwrap();
        conn.close().await;
        rows
    })
}

const CUSTOMERS: &str = "SELECT customer_id, first_name, email FROM customer ORDER BY customer_id";

#[test]
fn identities_of_two_people_are_refused_and_change_nothing() {
    let (dir, url) = chinook("two-people");
    let before = query(&url, CUSTOMERS);
    let out = pledge(
        &[
            "request",
            "erase",
            &example(),
            "-i",
            "customer_id=5",
            "-i",
            "email=luisg@embraer.com.br",
        ],
        &dir,
        &url,
        Some("a key of at least sixteen characters"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("the identities do not name one person: in `customer`, `customer_id` matches 1 row, `email` matches 1 row, and 0 rows match all of them"),
        "{stderr}"
    );
    assert_eq!(query(&url, CUSTOMERS), before);

    // The same person by two identities runs.
    let out = pledge(
        &[
            "request",
            "access",
            &example(),
            "-i",
            "customer_id=1",
            "-i",
            "email=luisg@embraer.com.br",
            "-o",
            "one.zip",
        ],
        &dir,
        &url,
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn one_request_names_one_person_on_the_command_line() {
    let (dir, url) = chinook("one-person");
    let cases: &[(&[&str], &str)] = &[
        (
            &["-i", "email=a@example.com", "-i", "email=b@example.com"],
            "two different values for `email`",
        ),
        (
            &["-i", "customer_id=abc"],
            "identity `customer_id` must be an integer: it is looked up in `customer.customer_id`",
        ),
        (
            &["-i", "email=a@example.com", "--identities", "people.txt"],
            "cannot be used with",
        ),
    ];
    for (extra, expected) in cases {
        let declaration = example();
        let mut args = vec!["request", "access", declaration.as_str()];
        args.extend_from_slice(extra);
        let out = pledge(&args, &dir, &url, None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        // One clear message, not the database's error.
        assert_eq!(stderr.matches(expected).count(), 1, "{stderr}");
        assert!(!stderr.contains("refused a query"), "{stderr}");
    }
}

#[test]
fn a_batch_file_has_one_person_per_record() {
    let (dir, url) = chinook("batch");
    std::fs::write(
        dir.join("people.csv"),
        "customer_id,email\n1,luisg@embraer.com.br\n,leonekohler@surfeu.de\n3,\n",
    )
    .unwrap();
    let out = pledge(
        &[
            "request",
            "access",
            &example(),
            "--identities",
            "people.csv",
            "-o",
            "batch.zip",
            "--format",
            "json",
        ],
        &dir,
        &url,
        None,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let customers = report["datasets"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["table"] == "customer")
        .unwrap()["rows"]
        .clone();
    assert_eq!(customers, 3);

    // A record whose identities are two people's, and one whose e-mail two customers share:
    // the whole batch is refused, each named by its line.
    query(
        &url,
        "UPDATE customer SET email = 'luisg@embraer.com.br' WHERE customer_id = 4",
    );
    let before = query(&url, CUSTOMERS);
    std::fs::write(
        dir.join("people.txt"),
        "# two bad records\nemail=leonekohler@surfeu.de\ncustomer_id=3,email=leonekohler@surfeu.de\nemail=luisg@embraer.com.br\n",
    )
    .unwrap();
    let out = pledge(
        &["request", "erase", &example(), "--identities", "people.txt"],
        &dir,
        &url,
        Some("a key of at least sixteen characters"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("2 of the 3 people of the batch do not name one person each"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 3: the identities do not name one person"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 4: the identity matches 2 rows of `customer`"),
        "{stderr}"
    );
    assert_eq!(query(&url, CUSTOMERS), before);
}

#[test]
fn restriction_without_a_column_is_refused() {
    let (dir, url) = chinook("restrict");
    let out = pledge(
        &["request", "restrict", &example(), "-i", "customer_id=1"],
        &dir,
        &url,
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("the person's rows in customer cannot be marked as restricted: the table declares no restrict_column; nothing was changed"),
        "{stderr}"
    );
}
