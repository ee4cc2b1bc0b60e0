//! `pledge users add/list/disable` against a store file in a fresh directory, and the
//! account they make signing in through the store as the console does.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pledge-users-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `pledge args` in `dir` with `stdin` on its standard input.
fn pledge(args: &[&str], dir: &Path, stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pledge"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("PLEDGE_STORE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const PASSWORD: &str = "staple battery horse correct";

#[test]
fn add_list_and_disable() {
    let d = dir("cycle");
    let add = |email: &str, role: &str, password: &str| {
        pledge(
            &[
                "users",
                "add",
                "--email",
                email,
                "--name",
                "Ana Lima",
                "--role",
                role,
                "--password-stdin",
            ],
            &d,
            &format!("{password}\n"),
        )
    };
    let added = add("Ana@Example.com", "privacy_officer", PASSWORD);
    assert!(added.status.success(), "{}", text(&added));
    assert!(text(&added).contains("ana@example.com"), "{}", text(&added));
    // The store holds a hash, not the password.
    let mut stored = std::fs::read(d.join("pledge-store.db")).unwrap();
    stored.extend(std::fs::read(d.join("pledge-store.db-wal")).unwrap_or_default());
    assert!(
        !stored
            .windows(PASSWORD.len())
            .any(|w| w == PASSWORD.as_bytes()),
        "the password itself was stored"
    );
    assert!(
        stored.windows(10).any(|w| w == b"$argon2id$"),
        "no Argon2id hash"
    );

    // Refused: the same address again, a short password, a role for API keys only, and no
    // terminal to ask for the password.
    let again = add("ana@example.com", "admin", PASSWORD);
    assert!(!again.status.success());
    assert!(text(&again).contains("already"), "{}", text(&again));
    let short = add("bo@example.com", "admin", "short");
    assert!(!short.status.success());
    assert!(text(&short).contains("at least 12"), "{}", text(&short));
    let service = add("svc@example.com", "service", PASSWORD);
    assert_eq!(service.status.code(), Some(2), "{}", text(&service));
    let no_tty = pledge(
        &[
            "users",
            "add",
            "--email",
            "cy@example.com",
            "--name",
            "Cy",
            "--role",
            "admin",
        ],
        &d,
        "",
    );
    assert!(!no_tty.status.success());
    assert!(
        text(&no_tty).contains("--password-stdin"),
        "{}",
        text(&no_tty)
    );

    let list = pledge(&["users", "list"], &d, "");
    let listed = text(&list);
    assert!(
        listed.contains("ana@example.com")
            && listed.contains("privacy_officer")
            && listed.contains("active")
            && listed.contains("Ana Lima"),
        "{listed}"
    );
    assert!(!listed.contains("argon2"), "{listed}");
    assert_eq!(listed.lines().count(), 1, "{listed}");

    // The account signs in as the console would have it, until it is disabled.
    let url = format!("sqlite:{}", d.join("pledge-store.db").display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sign_in = || {
        runtime.block_on(async {
            let store = pledge_store::Store::open(&url).await.unwrap();
            let answer = store
                .sign_in(
                    "ana@example.com",
                    PASSWORD,
                    &pledge_store::staff::SessionPolicy::default(),
                    2_000_000_000,
                )
                .await
                .unwrap();
            store.close().await;
            matches!(answer, pledge_store::staff::SignIn::Accepted { .. })
        })
    };
    assert!(sign_in());

    let disabled = pledge(&["users", "disable", "--email", "ANA@example.com"], &d, "");
    assert!(disabled.status.success(), "{}", text(&disabled));
    assert!(text(&pledge(&["users", "list"], &d, "")).contains("disabled"));
    assert!(!sign_in());
    let unknown = pledge(
        &["users", "disable", "--email", "nobody@example.com"],
        &d,
        "",
    );
    assert!(!unknown.status.success());

    let verify = pledge(&["audit", "verify"], &d, "");
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify));
    std::fs::remove_dir_all(&d).ok();
}
