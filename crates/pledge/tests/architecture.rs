//! The invariants ARCHITECTURE.md states about where things live, checked over the source:
//! a claim there that this test does not hold is a claim nobody checks.
//!
//! Each check reads the workspace's Rust source (comments left out) and names the file and
//! line that breaks the rule.

use std::path::{Path, PathBuf};

/// The workspace's `crates/` directory.
fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the CLI crate lives in crates/")
        .to_path_buf()
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a readable directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// `(file relative to crates/, line number, code)` of every line of library and binary
/// source (each crate's `src/`) that is not a comment.
fn source_lines() -> Vec<(String, usize, String)> {
    let root = crates_dir();
    let mut out = Vec::new();
    for krate in std::fs::read_dir(&root).expect("crates/ is readable") {
        let src = krate.expect("an entry of crates/").path().join("src");
        for file in rust_files(&src) {
            let text = std::fs::read_to_string(&file).expect("source is UTF-8");
            let name = file
                .strip_prefix(&root)
                .expect("under crates/")
                .to_string_lossy()
                .replace('\\', "/");
            for (i, line) in text.lines().enumerate() {
                let code = line.trim_start();
                if code.starts_with("//") {
                    continue;
                }
                out.push((name.clone(), i + 1, code.to_string()));
            }
        }
    }
    out
}

/// The lines that contain any of `needles`, outside the files `allowed`.
fn offenders(needles: &[&str], scope: impl Fn(&str) -> bool, allowed: &[&str]) -> Vec<String> {
    source_lines()
        .into_iter()
        .filter(|(file, _, _)| scope(file) && !allowed.contains(&file.as_str()))
        .filter(|(_, _, code)| needles.iter().any(|n| code.contains(n)))
        .map(|(file, line, code)| format!("{file}:{line}: {code}"))
        .collect()
}

#[test]
fn the_wall_clock_is_read_in_one_place() {
    // The server's `Clock::system` is the one reader; the CLI asks it too. Monotonic
    // `Instant`s (timeouts, durations measured for logs) are not "now".
    let found = offenders(
        &[
            "SystemTime::now",
            "Timestamp::now",
            "Zoned::now",
            "Utc::now",
            "Local::now",
            "OffsetDateTime::now",
        ],
        |_| true,
        &["pledge-server/src/lib.rs"],
    );
    assert!(
        found.is_empty(),
        "read the time from the injected clock (pledge_server::Clock), not the system:\n{}",
        found.join("\n")
    );
}

/// The crates of the pure core, lowest first.
const PURE_CORE: [&str; 6] = [
    "pledge-lang",
    "pledge-plan",
    "pledge-law",
    "pledge-docs",
    "pledge-domain",
    "pledge-scan",
];

/// The workspace crates each crate may depend on (its `[dependencies]`, not its tests'):
/// the layers of ARCHITECTURE.md. A crate not listed may use any. The store and the
/// connectors stay below the documents, so that they never compile the notice templates.
const LAYERS: &[(&str, &[&str])] = &[
    ("pledge-lang", &[]),
    ("pledge-plan", &["pledge-lang"]),
    ("pledge-law", &["pledge-lang", "pledge-plan"]),
    ("pledge-docs", &["pledge-lang", "pledge-plan", "pledge-law"]),
    ("pledge-domain", &["pledge-lang", "pledge-plan"]),
    ("pledge-scan", &[]),
    ("pledge-connect", &["pledge-lang", "pledge-plan"]),
    (
        "pledge-store",
        &["pledge-lang", "pledge-plan", "pledge-domain"],
    ),
];

/// Crates that do I/O or read the clock, which no crate of the pure core may depend on.
const IO_CRATES: &[&str] = &[
    "tokio",
    "sqlx",
    "reqwest",
    "axum",
    "hyper",
    "hyper-util",
    "lettre",
    "getrandom",
    "rand",
];

/// The names of the `[dependencies]` of a crate of the workspace.
fn dependencies(krate: &str) -> Vec<String> {
    let path = crates_dir().join(krate).join("Cargo.toml");
    let text = std::fs::read_to_string(&path).expect("a crate's Cargo.toml");
    let manifest: toml::Table = toml::from_str(&text).expect("Cargo.toml is TOML");
    manifest
        .get("dependencies")
        .and_then(|d| d.as_table())
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn crates_depend_only_on_the_layers_below() {
    let mut found = Vec::new();
    for (krate, allowed) in LAYERS {
        for dep in dependencies(krate) {
            let ours = dep.starts_with("pledge");
            if ours && !allowed.contains(&dep.as_str()) {
                found.push(format!("{krate} depends on {dep}"));
            }
            if PURE_CORE.contains(krate) && IO_CRATES.contains(&dep.as_str()) {
                found.push(format!("{krate} (pure core) depends on {dep}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "a crate depends on one above it or, in the pure core, on I/O:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_pure_core_does_no_io_and_reads_no_clock() {
    let found = offenders(
        &[
            "std::fs",
            "std::env",
            "std::process",
            "std::net::Tcp",
            "std::net::Udp",
            "std::io::stdin",
            "std::io::stdout",
            "std::io::stderr",
            "println!",
            "eprintln!",
            "tokio",
            "sqlx",
            "reqwest",
            "SystemTime",
            "Instant::now",
            "getrandom",
        ],
        |file| PURE_CORE.iter().any(|c| file.starts_with(&format!("{c}/"))),
        &[],
    );
    assert!(
        found.is_empty(),
        "the pure core does no I/O: its callers do the I/O and pass the time in:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_hash_chains_are_appended_in_one_place() {
    // Two appenders that each read the head and write `seq + 1` fork a chain: the lock,
    // the head and the numbering live in pledge-store's chain module alone.
    let found = offenders(
        &[
            "INSERT INTO audit_log",
            "INSERT INTO consent_events",
            "pg_advisory",
        ],
        |_| true,
        &["pledge-store/src/chain.rs"],
    );
    assert!(
        found.is_empty(),
        "append to the audit log and the consent ledger through chain::append, and take \
         advisory locks through chain::Lock:\n{}",
        found.join("\n")
    );
}

#[test]
fn preference_links_are_minted_in_one_place() {
    // A preference or unsubscribe link lets its holder change a person's choices: the one
    // minting function also writes the audit record of who made it.
    let found = offenders(
        &["token::sign("],
        |file| file.starts_with("pledge-server/"),
        &["pledge-server/src/http/banner/mod.rs"],
    );
    assert!(
        found.is_empty(),
        "mint preference links with banner::mint_preference_links (it records them):\n{}",
        found.join("\n")
    );
}

#[test]
fn libraries_log_through_tracing() {
    // The mailer's stand-in for an SMTP server prints the message itself, apart from the
    // log, by design (the demo and tests read it there).
    let found = offenders(
        &["eprintln!", "println!"],
        |file| {
            ["pledge-server/", "pledge-store/", "pledge-connect/"]
                .iter()
                .any(|c| file.starts_with(c))
        },
        &["pledge-server/src/jobs/mail.rs"],
    );
    assert!(
        found.is_empty(),
        "log with tracing, never print, in the libraries:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_generic_executor_asks_the_dialect_which_engine_it_is() {
    // exec.rs, retain.rs and identify.rs are written once for every engine; what differs
    // is a method or constant of `Dialect` in dialect.rs, so no branch contradicts it.
    let found = offenders(
        &[
            "DB::NAME",
            "sqlx::Postgres",
            "sqlx::MySql",
            "sqlx::Sqlite",
            "is_postgres",
        ],
        |file| {
            [
                "pledge-connect/src/exec.rs",
                "pledge-connect/src/retain.rs",
                "pledge-connect/src/identify.rs",
            ]
            .contains(&file)
        },
        &[],
    );
    assert!(
        found.is_empty(),
        "put what differs between engines in pledge-connect's Dialect:\n{}",
        found.join("\n")
    );
}
