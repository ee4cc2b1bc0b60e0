//! Signed checkpoints made by the server, on a SQLite store (always) and a PostgreSQL store
//! (the server scripts/test.sh starts): two replicas wake for the same fire time and one
//! signs; the checkpoints are exported to files and served to staff; `/v1/audit/verify`
//! reports the latest one's status; after the audit log's tail is cut, the status says so
//! and the next run refuses to sign.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use pledge_domain::checkpoint::SigningKey;
use pledge_domain::consent::{Action, ConsentEvent, ConsentState, Evidence, Method as How, Target};
use pledge_server::checkpoints::CheckpointConfig;
use pledge_server::schedule::{self, Task};
use pledge_server::{AppState, Config, router};
use pledge_store::{Backend, Role, Store};
use serde_json::Value as Json;
use std::path::Path;
use tower::ServiceExt;

const DECLARATION: &str = "../pledge-plan/tests/plans/retention.toml";

async fn get(state: &AppState, path: &str, key: &str) -> (StatusCode, Json) {
    let req = Request::builder()
        .method(Method::GET)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .body(Body::empty())
        .unwrap();
    let response = router(state.clone()).oneshot(req).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Json::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, body)
}

fn event(n: i64) -> ConsentEvent {
    ConsentEvent {
        subject: format!("visitor-{n}").parse().unwrap(),
        action: Action::Consent {
            target: Target::Purpose("newsletter".parse().unwrap()),
            state: ConsentState::Given,
        },
        at: 1_795_000_000 + n,
        expires_at: None,
        notice_version: None,
        text_hash: None,
        method: How::Banner,
        evidence: Evidence::new(None, None),
        actor: "banner".into(),
    }
}

async fn suite(name: &str, store: Store) {
    let dir =
        std::env::temp_dir().join(format!("pledge-checkpoints-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(DECLARATION)).unwrap();
    let decl = pledge_lang::load(&pledge_lang::SourceMap::single("retention.toml", text)).unwrap();
    let key = SigningKey::from_seed("shop.example", [3; 32]).unwrap();
    let config = Config {
        workers: 0,
        checkpoints: Some(CheckpointConfig {
            key: key.clone(),
            schedule: Some("*/5 * * * *".parse().unwrap()),
            every_records: None,
            dir: Some(dir.join("checkpoints")),
        }),
        ..Config::default()
    };
    let (_, admin) = store
        .create_key(Role::Admin, None, "test", 1)
        .await
        .unwrap();
    let (_, support) = store
        .create_key(Role::SupportAgent, None, "test", 1)
        .await
        .unwrap();
    store
        .append_consent(&(1..=5).map(event).collect::<Vec<_>>())
        .await
        .unwrap();
    let a = AppState::new(store.clone(), decl.clone(), config.clone());
    let b = AppState::new(store.clone(), decl, config);
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let fire = 1_795_000_200;

    // Both replicas wake for the same fire time: one signs.
    let (ra, rb) = tokio::join!(
        schedule::run_once(&a, Task::Checkpoint, "replica-a", fire, &stop_rx),
        schedule::run_once(&b, Task::Checkpoint, "replica-b", fire, &stop_rx),
    );
    let reports: Vec<Json> = [ra.unwrap(), rb.unwrap()].into_iter().flatten().collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let report = &reports[0];
    assert_eq!(report["consent_ledger"]["size"], 5, "{report}");
    assert_eq!(report["audit_log"]["exported"], true, "{report}");

    // Exported outside the store, one file per log.
    let exported = std::fs::read_to_string(dir.join("checkpoints/audit-log.checkpoints")).unwrap();
    let notes = pledge_domain::checkpoint::split_notes(&exported);
    assert_eq!(notes.len(), 1);
    let signed = key.verifier().open(notes[0].as_bytes()).unwrap();
    assert!(signed.size >= 4, "{signed:?}");

    // Served to staff, with the public key.
    let (s, list) = get(&a, "/v1/audit/checkpoints?log=consent-ledger", &admin).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list["public_key"], key.verifier().to_string());
    assert_eq!(list["checkpoints"][0]["size"], 5);
    let (s, note) = get(&a, "/v1/audit/checkpoints/latest?log=audit-log", &admin).await;
    assert_eq!(s, StatusCode::OK);
    let latest = key
        .verifier()
        .open(note.as_str().unwrap().as_bytes())
        .unwrap();
    assert_eq!(latest, signed);
    let (s, _) = get(&a, "/v1/audit/checkpoints/latest", &support).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, bad) = get(&a, "/v1/audit/checkpoints?log=everything", &admin).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");

    let (_, v) = get(&a, "/v1/audit/verify", &admin).await;
    assert_eq!(v["intact"], true, "{v}");
    assert_eq!(v["checkpoint"]["matches"], true, "{v}");
    assert_eq!(v["checkpoint"]["source"], "export_dir", "{v}");
    assert_eq!(v["consent_ledger"]["checkpoint"]["matches"], true, "{v}");
    assert_eq!(v["consent_ledger"]["anchors"]["events"], 5, "{v}");

    // The tail of the audit log cut by someone who can write the store.
    match store.backend() {
        Backend::Sqlite => store.execute_raw("DROP TRIGGER audit_log_no_delete").await,
        Backend::Postgres => {
            store
                .execute_raw("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
                .await
        }
    }
    .unwrap();
    store
        .execute_raw(&format!(
            "DELETE FROM audit_log WHERE seq >= {}",
            signed.size
        ))
        .await
        .unwrap();
    assert_eq!(store.verify_audit().await.unwrap().first_broken, None);
    let (_, v) = get(&a, "/v1/audit/verify", &admin).await;
    assert_eq!(v["intact"], false, "{v}");
    assert_eq!(v["checkpoint"]["matches"], false, "{v}");
    assert!(
        v["checkpoint"]["problem"]
            .as_str()
            .unwrap()
            .contains(&format!("vouches for {}", signed.size)),
        "{v}"
    );
    // And the server does not sign the shortened log.
    let next = schedule::run_once(&a, Task::Checkpoint, "replica-a", fire + 300, &stop_rx)
        .await
        .unwrap()
        .unwrap();
    assert!(
        next["audit_log"]["refused"]
            .as_str()
            .is_some_and(|r| r.contains("differs from the last checkpoint")),
        "{next}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_store() {
    let dir = std::env::temp_dir().join(format!("pledge-checkpoints-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite:{}", dir.join("store.db").display());
    suite("sqlite", Store::open(&url).await.unwrap()).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_store() {
    let Some(url) =
        pledge_testkit::require!(pledge_testkit::POSTGRES_URL, pledge_testkit::postgres_url())
    else {
        return;
    };
    let database = pledge_testkit::postgres_database(&url, "pledge_checkpoints").await;
    suite("postgres", Store::open(&database).await.unwrap()).await;
}
