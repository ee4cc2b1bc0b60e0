//! Signed checkpoints made by the server, on a SQLite store (always) and a PostgreSQL store
//! (the server scripts/test.sh starts): two replicas wake for the same fire time and one
//! signs; the checkpoints are exported to files and served to staff; `/v1/audit/verify`
//! reports the latest one's status; after the audit log's tail is cut, the status says so
//! and the next run refuses to sign.

use axum::http::{Method, StatusCode};
use pledge_domain::checkpoint::SigningKey;
use pledge_domain::consent::{Action, ConsentEvent, ConsentState, Evidence, Method as How, Target};
use pledge_server::jobs::checkpoints::CheckpointConfig;
use pledge_server::jobs::schedule::{self, Task};
use pledge_server::{AppState, Config};
use pledge_store::{Backend, Role};
use serde_json::Value as Json;

mod common;
use common::TestApp;

const DECLARATION: &str = "../pledge-plan/tests/plans/retention.toml";

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

const FIRE: i64 = 1_795_000_200;

/// Two replicas on one store holding five consent events: `a` the harness's server (no
/// worker), `b` a second state on the same store; the checkpoints' key.
struct Env {
    a: TestApp,
    b: AppState,
    key: SigningKey,
}

impl std::ops::Deref for Env {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.a
    }
}

impl Env {
    /// A GET on replica `a` with the key of `role`; the body as JSON, or as a string.
    async fn get(&self, path: &str, role: Role) -> (StatusCode, Json) {
        let r = self
            .a
            .request(Method::GET, path, Some(self.a.key(role)), None, &[])
            .await;
        let body = serde_json::from_slice(&r.body).unwrap_or_else(|_| Json::String(r.text()));
        (r.status, body)
    }

    /// Replica `a` runs the checkpoint task for `fire`: its report.
    async fn checkpoint(&self, fire: i64) -> Json {
        let (_stop, stop_rx) = tokio::sync::watch::channel(false);
        schedule::run_once(&self.a.state, Task::Checkpoint, "replica-a", fire, &stop_rx)
            .await
            .unwrap()
            .expect("the lease")
    }

    /// The checkpoint of the audit log exported by the first run.
    fn exported(&self) -> pledge_domain::checkpoint::Checkpoint {
        let exported =
            std::fs::read_to_string(self.a.dir.join("checkpoints/audit-log.checkpoints")).unwrap();
        let notes = pledge_domain::checkpoint::split_notes(&exported);
        assert_eq!(notes.len(), 1);
        self.key.verifier().open(notes[0].as_bytes()).unwrap()
    }
}

async fn env(name: &str, store: pledge_store::Store) -> Env {
    let key = SigningKey::from_seed("shop.example", [3; 32]).unwrap();
    let dir = common::test_dir(name);
    let a = TestApp::builder(name)
        .store(store)
        .declaration_file(DECLARATION)
        .keys(&[Role::Admin, Role::SupportAgent])
        .config(Config {
            workers: 0,
            checkpoints: Some(CheckpointConfig {
                key: key.clone(),
                schedule: Some("*/5 * * * *".parse().unwrap()),
                every_records: None,
                // In the harness's directory for the test, removed with it.
                dir: Some(dir.join("checkpoints")),
            }),
            ..Config::default()
        })
        .without_worker()
        .spawn()
        .await;
    a.state
        .store
        .append_consent(&(1..=5).map(event).collect::<Vec<_>>())
        .await
        .unwrap();
    let b = AppState::new(
        a.state.store.clone(),
        (*a.state.decl).clone(),
        (*a.state.config).clone(),
    );
    Env { a, b, key }
}

/// Both replicas wake for the same fire time: one signs.
async fn two_replicas_wake_and_one_signs(e: Env) {
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let (ra, rb) = tokio::join!(
        schedule::run_once(&e.a.state, Task::Checkpoint, "replica-a", FIRE, &stop_rx),
        schedule::run_once(&e.b, Task::Checkpoint, "replica-b", FIRE, &stop_rx),
    );
    let reports: Vec<Json> = [ra.unwrap(), rb.unwrap()].into_iter().flatten().collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let report = &reports[0];
    assert_eq!(report["consent_ledger"]["size"], 5, "{report}");
    assert_eq!(report["audit_log"]["exported"], true, "{report}");
}

/// Exported outside the store, one file per log.
async fn checkpoints_are_exported_to_files(e: Env) {
    e.checkpoint(FIRE).await;
    let signed = e.exported();
    assert!(signed.size >= 4, "{signed:?}");
}

/// Served to staff, with the public key.
async fn checkpoints_are_served_to_staff(e: Env) {
    e.checkpoint(FIRE).await;
    let signed = e.exported();
    let (s, list) = e
        .get("/v1/audit/checkpoints?log=consent-ledger", Role::Admin)
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list["public_key"], e.key.verifier().to_string());
    assert_eq!(list["checkpoints"][0]["size"], 5);
    let (s, note) = e
        .get("/v1/audit/checkpoints/latest?log=audit-log", Role::Admin)
        .await;
    assert_eq!(s, StatusCode::OK);
    let latest = e
        .key
        .verifier()
        .open(note.as_str().unwrap().as_bytes())
        .unwrap();
    assert_eq!(latest, signed);
    let (s, _) = e
        .get("/v1/audit/checkpoints/latest", Role::SupportAgent)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, bad) = e
        .get("/v1/audit/checkpoints?log=everything", Role::Admin)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
}

/// `/v1/audit/verify` reports the latest checkpoint's status.
async fn verify_reports_the_latest_checkpoint(e: Env) {
    e.checkpoint(FIRE).await;
    let (_, v) = e.get("/v1/audit/verify", Role::Admin).await;
    assert_eq!(v["intact"], true, "{v}");
    assert_eq!(v["checkpoint"]["matches"], true, "{v}");
    assert_eq!(v["checkpoint"]["source"], "export_dir", "{v}");
    assert_eq!(v["consent_ledger"]["checkpoint"]["matches"], true, "{v}");
    assert_eq!(v["consent_ledger"]["anchors"]["events"], 5, "{v}");
}

/// The tail of the audit log cut by someone who can write the store: the status says so,
/// and the server does not sign the shortened log.
async fn a_cut_tail_is_reported_and_not_signed(e: Env) {
    e.checkpoint(FIRE).await;
    let signed = e.exported();
    let store = &e.a.state.store;
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
    let (_, v) = e.get("/v1/audit/verify", Role::Admin).await;
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
    let next = e.checkpoint(FIRE + 300).await;
    assert!(
        next["audit_log"]["refused"]
            .as_str()
            .is_some_and(|r| r.contains("differs from the last checkpoint")),
        "{next}"
    );
}

/// Runs one scenario on two fresh replicas on a store of `backend`.
async fn run(
    backend: pledge_testkit::StoreBackend,
    test: &str,
    scenario: impl FnOnce(Env) -> pledge_testkit::Scenario<'static>,
) {
    let Some(store) = common::store(backend, test).await else {
        return;
    };
    scenario(env(&test.replace("::", "-"), store).await).await;
}

pledge_testkit::scenarios!(run;
    two_replicas_wake_and_one_signs,
    checkpoints_are_exported_to_files,
    checkpoints_are_served_to_staff,
    verify_reports_the_latest_checkpoint,
    a_cut_tail_is_reported_and_not_signed,
);
