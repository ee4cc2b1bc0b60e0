//! `pledge keys` and `pledge audit verify` against a store file in a fresh directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pledge-keys-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn pledge(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pledge"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("PLEDGE_STORE_URL")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn create_list_revoke_and_verify() {
    let d = dir("cycle");
    let created = pledge(
        &[
            "keys",
            "create",
            "--role",
            "privacy_officer",
            "--label",
            "Ana",
        ],
        &d,
    );
    assert!(created.status.success(), "{}", text(&created));
    let secret = String::from_utf8(created.stdout.clone()).unwrap();
    let secret = secret.trim();
    assert!(secret.starts_with("pledge_"), "{secret}");
    // The default store is a file in the working directory, and it does not hold the key.
    let mut stored = std::fs::read(d.join("pledge-store.db")).unwrap();
    stored.extend(std::fs::read(d.join("pledge-store.db-wal")).unwrap_or_default());
    assert!(
        !stored.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the key itself was stored"
    );

    let list = pledge(&["keys", "list"], &d);
    let listed = text(&list);
    assert!(
        listed.contains("privacy_officer") && listed.contains("active") && listed.contains("Ana"),
        "{listed}"
    );
    assert!(!listed.contains(secret));
    let id = listed.split_whitespace().next().unwrap().to_string();

    let revoked = pledge(&["keys", "revoke", &id], &d);
    assert!(revoked.status.success(), "{}", text(&revoked));
    assert!(text(&pledge(&["keys", "list"], &d)).contains("revoked"));
    let unknown = pledge(&["keys", "revoke", "key_nope"], &d);
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
    assert!(text(&unknown).contains("key_nope"));

    let verify = pledge(&["audit", "verify"], &d);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify));
    assert!(
        text(&verify).contains("intact: 2 records"),
        "{}",
        text(&verify)
    );
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_bad_role_is_refused() {
    let d = dir("role");
    let o = pledge(&["keys", "create", "--role", "root"], &d);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("unknown role `root`"), "{}", text(&o));
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_tampered_log_names_the_record() {
    let d = dir("tamper");
    let store = d.join("other.db");
    let url = format!("sqlite:{}", store.display());
    for role in ["admin", "service", "support_agent"] {
        assert!(
            pledge(&["keys", "create", "--role", role, "--store", &url], &d)
                .status
                .success()
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let s = pledge_store::Store::open(&url).await.unwrap();
        s.execute_raw("DROP TRIGGER audit_log_no_update").await.unwrap();
        s.execute_raw("UPDATE audit_log SET detail = '{\"key\":\"key_x\",\"role\":\"support_agent\",\"label\":null}' WHERE seq = 2")
            .await
            .unwrap();
        s.close().await;
    });
    let verify = pledge(&["audit", "verify", "--store", &url], &d);
    assert_eq!(verify.status.code(), Some(1), "{}", text(&verify));
    assert!(
        text(&verify).contains("BROKEN at record 2"),
        "{}",
        text(&verify)
    );
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_tampered_consent_ledger_names_the_event() {
    use pledge_domain::consent::{Action, ConsentEvent, ConsentState, Evidence, Method, Target};
    let d = dir("consent");
    let url = format!("sqlite:{}", d.join("store.db").display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let s = pledge_store::Store::open(&url).await.unwrap();
        let events: Vec<ConsentEvent> = (0..3)
            .map(|n| ConsentEvent {
                subject: format!("visitor-{n}").parse().unwrap(),
                action: Action::Consent {
                    target: Target::Purpose("newsletter".parse().unwrap()),
                    state: ConsentState::Given,
                },
                at: 1_795_000_000,
                expires_at: None,
                notice_version: None,
                text_hash: None,
                method: Method::Banner,
                evidence: Evidence::default(),
                actor: "test".into(),
            })
            .collect();
        s.append_consent(&events).await.unwrap();
        s.close().await;
    });
    let verify = pledge(&["audit", "verify", "--store", &url], &d);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify));
    assert!(
        text(&verify).contains("consent ledger intact: 3 events"),
        "{}",
        text(&verify)
    );
    runtime.block_on(async {
        let s = pledge_store::Store::open(&url).await.unwrap();
        s.execute_raw("DROP TRIGGER consent_events_no_update")
            .await
            .unwrap();
        s.execute_raw("UPDATE consent_events SET state = 'withdrawn' WHERE seq = 2")
            .await
            .unwrap();
        s.close().await;
    });
    let verify = pledge(&["audit", "verify", "--store", &url], &d);
    assert_eq!(verify.status.code(), Some(1), "{}", text(&verify));
    assert!(
        text(&verify).contains("consent ledger BROKEN at event 2"),
        "{}",
        text(&verify)
    );
    std::fs::remove_dir_all(&d).ok();
}
