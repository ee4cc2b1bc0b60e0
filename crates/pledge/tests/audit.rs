//! `pledge audit` with signed checkpoints, on a store file in a fresh directory: a key made
//! by `generate-key`, checkpoints made and exported by `checkpoint`, a store checked
//! against them by `verify` (intact, then with its tail cut), checkpoints refused for a bad
//! signature or another key, and a consent receipt proven offline by `verify-receipt`.

use pledge_domain::consent::{Action, ConsentEvent, ConsentState, Evidence, Method, Target};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pledge-audit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn pledge(args: &[&str], dir: &Path, seed: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pledge"));
    c.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("PLEDGE_STORE_URL")
        .env_remove("PLEDGE_CHECKPOINT_KEY")
        .env_remove("PLEDGE_CHECKPOINT_KEY_FILE")
        .env("PLEDGE_CHECKPOINT_NAME", "shop.example");
    if let Some(seed) = seed {
        c.env("PLEDGE_CHECKPOINT_KEY", seed);
    }
    c.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A new key: (seed, public key).
fn generate(d: &Path) -> (String, String) {
    let o = pledge(&["audit", "generate-key"], d, None);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let seed = out
        .lines()
        .find_map(|l| l.strip_prefix("PLEDGE_CHECKPOINT_KEY="))
        .unwrap()
        .to_string();
    let public = out
        .lines()
        .find_map(|l| l.strip_prefix("public key: "))
        .unwrap()
        .to_string();
    assert!(public.starts_with("shop.example+"), "{public}");
    (seed, public)
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn fill(url: &str) {
    block_on(async {
        let s = pledge_store::Store::open(url).await.unwrap();
        for i in 0..3 {
            s.create_key(pledge_store::Role::Service, None, "cli", 1_795_000_000 + i)
                .await
                .unwrap();
        }
        let events: Vec<ConsentEvent> = (1..=7)
            .map(|n| ConsentEvent {
                subject: format!("visitor-{n}").parse().unwrap(),
                action: Action::Consent {
                    target: Target::Purpose("newsletter".parse().unwrap()),
                    state: ConsentState::Given,
                },
                at: 1_795_000_000 + n,
                expires_at: None,
                notice_version: Some("v1".into()),
                text_hash: None,
                method: Method::Banner,
                evidence: Evidence::new(None, None),
                actor: "banner".into(),
            })
            .collect();
        s.append_consent(&events[..4]).await.unwrap();
        s.append_consent(&events[4..]).await.unwrap();
        s.close().await;
    });
}

#[test]
fn checkpoints_made_exported_and_checked() {
    let d = dir("cycle");
    let url = format!("sqlite:{}", d.join("store.db").display());
    fill(&url);
    let (seed, public) = generate(&d);
    let shown = pledge(&["audit", "public-key"], &d, Some(&seed));
    assert_eq!(String::from_utf8_lossy(&shown.stdout).trim(), public);

    let made = pledge(
        &["audit", "checkpoint", "--store", &url, "--dir", "out"],
        &d,
        Some(&seed),
    );
    assert!(made.status.success(), "{}", text(&made));
    assert!(
        text(&made).starts_with("shop.example/audit-log\n"),
        "{}",
        text(&made)
    );
    let audit_file = d.join("out/audit-log.checkpoints");
    let ledger_file = d.join("out/consent-ledger.checkpoints");
    let (audit_cp, ledger_cp) = (
        audit_file.display().to_string(),
        ledger_file.display().to_string(),
    );
    // A second run appends to the export files.
    let again = pledge(
        &["audit", "checkpoint", "--store", &url, "--dir", "out"],
        &d,
        Some(&seed),
    );
    assert!(again.status.success(), "{}", text(&again));
    let exported = std::fs::read_to_string(&audit_file).unwrap();
    assert_eq!(exported.matches("shop.example/audit-log\n").count(), 2);

    let verify = |extra: &[&str], key: &str| {
        let mut args = vec![
            "audit",
            "verify",
            "--store",
            &url,
            "--checkpoint",
            &audit_cp,
            "--checkpoint",
            &ledger_cp,
            "--public-key",
            key,
        ];
        args.extend_from_slice(extra);
        pledge(&args, &d, None)
    };
    let ok = verify(&[], &public);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert!(text(&ok).contains("matches"), "{}", text(&ok));
    assert!(
        text(&ok).contains("anchors: 2 groups in the audit log match the ledger's 7 events"),
        "{}",
        text(&ok)
    );

    // Another key's public key: refused.
    let (_, stranger) = generate(&d);
    let refused = verify(&[], &stranger);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("checkpoint REFUSED")
            && text(&refused).contains("carries no signature by the key `shop.example`"),
        "{}",
        text(&refused)
    );

    // One byte of the text changed: refused.
    let bent = d.join("bent.checkpoints");
    std::fs::write(&bent, exported.replacen("\ntime ", "\ntime 1", 1)).unwrap();
    let o = pledge(
        &[
            "audit",
            "verify",
            "--store",
            &url,
            "--checkpoint",
            &bent.display().to_string(),
            "--public-key",
            &public,
        ],
        &d,
        None,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("does not verify"), "{}", text(&o));

    // The tail of the audit log cut: the chain alone says intact, the checkpoint does not.
    block_on(async {
        let s = pledge_store::Store::open(&url).await.unwrap();
        s.execute_raw("DROP TRIGGER audit_log_no_delete")
            .await
            .unwrap();
        s.execute_raw("DELETE FROM audit_log WHERE seq > 4")
            .await
            .unwrap();
        s.close().await;
    });
    let plain = pledge(&["audit", "verify", "--store", &url], &d, None);
    assert!(
        text(&plain).contains("audit log intact: 4 records"),
        "{}",
        text(&plain)
    );
    let cut = verify(&[], &public);
    assert_eq!(cut.status.code(), Some(1), "{}", text(&cut));
    assert!(
        text(&cut).contains("MISMATCH: the audit log has 4 records, the checkpoint of"),
        "{}",
        text(&cut)
    );
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_receipt_is_proven_offline() {
    let d = dir("receipt");
    let url = format!("sqlite:{}", d.join("store.db").display());
    fill(&url);
    let (seed, public) = generate(&d);
    let made = pledge(
        &["audit", "checkpoint", "--store", &url, "--dir", "out"],
        &d,
        Some(&seed),
    );
    assert!(made.status.success(), "{}", text(&made));
    let cp = d
        .join("out/consent-ledger.checkpoints")
        .display()
        .to_string();
    let declaration = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/chinook/pledge.toml"
    );
    let o = pledge(
        &[
            "audit",
            "receipt",
            "3",
            declaration,
            "--store",
            &url,
            "--checkpoint",
            &cp,
            "--public-key",
            &public,
        ],
        &d,
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let receipt: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(receipt["inclusion"]["leaf_index"], 2);
    assert_eq!(receipt["inclusion"]["tree_size"], 7);
    assert_eq!(receipt["data_subject"]["id"], "visitor-3");
    let file = d.join("receipt.json");
    std::fs::write(&file, serde_json::to_string(&receipt).unwrap()).unwrap();
    let check = |file: &Path| {
        pledge(
            &[
                "audit",
                "verify-receipt",
                &file.display().to_string(),
                "--checkpoint",
                &cp,
                "--public-key",
                &public,
            ],
            &d,
            None,
        )
    };
    let proven = check(&file);
    assert_eq!(proven.status.code(), Some(0), "{}", text(&proven));
    assert!(
        text(&proven).contains("receipt proven: event 3"),
        "{}",
        text(&proven)
    );

    // The entry edited (another state), or the path bent: not proven.
    let mut edited = receipt.clone();
    let entry = edited["inclusion"]["entry"]
        .as_str()
        .unwrap()
        .replace("\"given\"", "\"refused\"");
    edited["inclusion"]["entry"] = entry.into();
    edited["event"]["state"] = "refused".into();
    std::fs::write(&file, edited.to_string()).unwrap();
    let o = check(&file);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("NOT PROVEN"), "{}", text(&o));
    let mut bent = receipt.clone();
    bent["inclusion"]["audit_path"][0] =
        serde_json::json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    std::fs::write(&file, bent.to_string()).unwrap();
    let o = check(&file);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("does not lead from event 3"),
        "{}",
        text(&o)
    );
    std::fs::remove_dir_all(&d).ok();
}
