//! The public consent routes over HTTP, on a SQLite store: the banner's configuration and
//! assets, CORS, choices reaching the ledger (with GPC), bad input, the rate limit, minting
//! links, the preference centre and one-click unsubscribe (RFC 8058).

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use pledge_domain::consent::{ConsentState, Method as ConsentMethod, Target};
use pledge_lang::types::SubjectRef;
use pledge_server::crypto::token;
use pledge_server::http::banner::Settings;
use pledge_server::{Clock, Config};
use pledge_store::{Role, Store};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

mod common;
use common::{Reply, TestApp};

const SHOP: &str = include_str!("fixtures/banner/shop.toml");
const LINK_KEY: &[u8] = b"a link key for tests, thirty-two bytes or more";
const VISITOR: &str = "0123456789abcdef0123456789abcdef";

/// The server of one test: the harness's, with the banner's calls.
struct Env(TestApp);

impl std::ops::Deref for Env {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.0
    }
}

async fn env(name: &str, settings: Settings) -> Env {
    env_clocked(name, settings, Clock::system()).await
}

async fn env_clocked(name: &str, settings: Settings, clock: Clock) -> Env {
    env_on(name, None, settings, clock).await
}

/// A server on `store` (default: a SQLite file of its own), no worker.
async fn env_on(name: &str, store: Option<Store>, settings: Settings, clock: Clock) -> Env {
    let mut builder = TestApp::builder(&format!("banner-{name}"))
        .declaration("shop.toml", SHOP)
        .keys(&[Role::Admin, Role::SupportAgent])
        .config(Config {
            workers: 0,
            ..Config::default()
        })
        .settings(settings)
        .clock(clock)
        .without_worker();
    if let Some(store) = store {
        builder = builder.store(store);
    }
    Env(builder.spawn().await)
}

fn settings() -> Settings {
    Settings {
        link_key: LINK_KEY.to_vec(),
        ..Settings::default()
    }
}

impl Env {
    async fn get(&self, path: &str) -> Reply {
        self.send(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    async fn choose(&self, body: Value, extra: &[(&str, &str)]) -> Reply {
        let mut req = Request::post("/banner/consent")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, "test-agent/1.0");
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let mut req = req.body(Body::from(body.to_string())).unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([203, 0, 113, 77], 5000))));
        self.send(req).await
    }

    async fn form(&self, path: &str, content_type: &str, body: &str) -> Reply {
        self.send(
            Request::post(path)
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
    }

    async fn mint(&self, key: &str, subject: &str, body: Value) -> Reply {
        self.send(
            Request::post(format!("/v1/subjects/{subject}/preference-links"))
                .header(header::AUTHORIZATION, format!("Bearer {key}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
    }

    async fn config(&self) -> Value {
        self.get("/banner/config.json").await.json()
    }

    fn state_of(&self, subject: &str, target: &Target) -> Option<(ConsentState, ConsentMethod)> {
        let subject: SubjectRef = subject.parse().unwrap();
        self.state
            .consent
            .current(&subject)
            .consents
            .iter()
            .find(|c| &c.target == target)
            .map(|c| (c.state, c.method))
    }
}

fn cookies(name: &str) -> Target {
    Target::Cookies(pledge_domain::consent::parse_cookie_category(name).unwrap())
}

fn purpose(id: &str) -> Target {
    Target::Purpose(id.parse().unwrap())
}

/// The path and query of a minted absolute URL.
fn path_of(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    rest[rest.find('/').unwrap()..].to_string()
}

fn choice(config: &Value, categories: Value) -> Value {
    json!({
        "subject": VISITOR,
        "notice_version": config["notice"]["version"],
        "text_hash": config["text_hash"],
        "categories": categories,
    })
}

#[tokio::test]
async fn the_configuration_and_assets_are_served_with_etags() {
    let e = env("config", settings()).await;
    let reply = e.get("/banner/config.json").await;
    assert_eq!(reply.status, StatusCode::OK);
    let config = reply.json();
    let mut redacted = config.clone();
    redacted["notice"]["version"] = json!("[version]");
    redacted["notice"]["digest"] = json!("[digest]");
    redacted["text_hash"] = json!("[hash]");
    insta::assert_json_snapshot!("banner_config", redacted);

    for path in ["/banner/config.json", "/banner.js", "/banner.css"] {
        let first = e.get(path).await;
        assert_eq!(first.status, StatusCode::OK, "{path}");
        let tag = first.header(header::ETAG).expect("an ETag").to_string();
        let again = e
            .send(
                Request::get(path)
                    .header(header::IF_NONE_MATCH, &tag)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{path}");
        assert!(again.body.is_empty());
    }
    // A browser that sends Sec-GPC: 1 is told so, under another ETag.
    let plain = e.get("/banner/config.json").await;
    let signalled = e
        .send(
            Request::get("/banner/config.json")
                .header("sec-gpc", "1")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(plain.json()["gpc"], json!(false));
    assert_eq!(signalled.json()["gpc"], json!(true));
    assert_ne!(plain.header(header::ETAG), signalled.header(header::ETAG));
    assert_eq!(signalled.header(header::VARY), Some("Origin, Sec-GPC"));

    let script = e.get("/banner.js").await;
    assert!(
        script
            .header(header::CONTENT_TYPE)
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(script.text().contains("data-pledge-category"));
}

#[tokio::test]
async fn cors_answers_only_the_declared_origins() {
    let e = env(
        "cors",
        Settings {
            origins: vec!["http://127.0.0.1:9999".into()],
            ..settings()
        },
    )
    .await;
    for (origin, allowed) in [
        ("https://shop.example", true),
        ("http://127.0.0.1:9999", true),
        ("https://elsewhere.example", false),
    ] {
        let reply = e
            .send(
                Request::options("/banner/consent")
                    .header(header::ORIGIN, origin)
                    .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT);
        assert_eq!(
            reply.header(header::ACCESS_CONTROL_ALLOW_ORIGIN),
            allowed.then_some(origin),
            "{origin}"
        );
        assert_eq!(
            reply.header(header::ACCESS_CONTROL_ALLOW_METHODS).is_some(),
            allowed
        );
    }
    // A page of another site cannot record choices, and nothing is written.
    let config = e.config().await;
    let reply = e
        .choose(
            choice(&config, json!({"analytics": true})),
            &[("origin", "https://elsewhere.example")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text());
    assert_eq!(
        reply.header(header::CONTENT_TYPE),
        Some("application/problem+json")
    );
    assert_eq!(
        e.state_of(&format!("visitor:{VISITOR}"), &cookies("analytics")),
        None
    );
}

#[tokio::test]
async fn banner_choices_reach_the_ledger_with_their_evidence() {
    choices_reach_the_ledger(&env("choices", settings()).await).await;
}

async fn choices_reach_the_ledger(e: &Env) {
    let config = e.config().await;
    let subject = format!("visitor:{VISITOR}");

    let reply = e
        .choose(
            choice(&config, json!({"analytics": true, "advertising": true})),
            &[("origin", "https://shop.example")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    assert_eq!(
        reply.header(header::ACCESS_CONTROL_ALLOW_ORIGIN),
        Some("https://shop.example")
    );
    let receipts = reply.json()["receipts"].clone();
    assert_eq!(receipts.as_array().unwrap().len(), 2);
    // Each receipt names the notice and the text shown, the method and the evidence.
    let receipt = &receipts[0]["receipt"];
    assert_eq!(receipt["method"], "banner");
    assert_eq!(receipt["notice"]["version"], config["notice"]["version"]);
    assert_eq!(
        format!(
            "sha256:{}",
            receipt["notice"]["text_sha256"].as_str().unwrap()
        ),
        config["text_hash"].as_str().unwrap()
    );
    let ip = std::net::IpAddr::from([203, 0, 113, 77]);
    assert_eq!(
        receipt["evidence"],
        json!({"ip_truncated": pledge_domain::consent::truncate_ip(ip), "user_agent": "test-agent/1.0"})
    );
    assert!(!receipt.to_string().contains("203.0.113.77"));
    assert_eq!(
        e.state_of(&subject, &cookies("analytics")),
        Some((ConsentState::Given, ConsentMethod::Banner))
    );

    // Reject all after accepting: a withdrawal, not a refusal.
    let reply = e
        .choose(
            choice(&config, json!({"analytics": false, "advertising": false})),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    assert_eq!(
        e.state_of(&subject, &cookies("analytics")).unwrap().0,
        ConsentState::Withdrawn
    );

    // With Sec-GPC: 1, "accept all" leaves advertising off and records the opt-out.
    let reply = e
        .choose(
            choice(&config, json!({"analytics": true, "advertising": true})),
            &[("sec-gpc", "1")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    assert_eq!(
        e.state_of(&subject, &cookies("analytics")).unwrap().0,
        ConsentState::Given
    );
    assert_ne!(
        e.state_of(&subject, &cookies("advertising")).unwrap().0,
        ConsentState::Given
    );
    let current = e.state.consent.current(&subject.parse().unwrap());
    assert!(current.opted_out_since.is_some(), "{current:?}");
}

#[tokio::test]
async fn bad_choices_are_refused_and_write_nothing() {
    let e = env("bad", settings()).await;
    let config = e.config().await;
    let cases = [
        (
            choice(&config, json!({"marketing": true})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            choice(&config, json!({"strictly_necessary": true})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"subject": "user-42", "notice_version": config["notice"]["version"],
                   "text_hash": config["text_hash"], "categories": {"analytics": true}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"subject": VISITOR, "notice_version": "000000000000",
                   "text_hash": config["text_hash"], "categories": {"analytics": true}}),
            StatusCode::CONFLICT,
        ),
        (
            json!({"subject": VISITOR, "notice_version": config["notice"]["version"],
                   "text_hash": config["text_hash"], "categories": {"analytics": true},
                   "extra": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (json!([1, 2]), StatusCode::UNPROCESSABLE_ENTITY),
    ];
    for (body, status) in cases {
        let reply = e.choose(body.clone(), &[]).await;
        assert_eq!(reply.status, status, "{body}: {}", reply.text());
        assert_eq!(
            reply.header(header::CONTENT_TYPE),
            Some("application/problem+json")
        );
    }
    let malformed = e
        .send(
            Request::post("/banner/consent")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{not json"))
                .unwrap(),
        )
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    let current = e
        .state
        .consent
        .current(&format!("visitor:{VISITOR}").parse().unwrap());
    assert!(current.consents.is_empty(), "{current:?}");
    assert!(current.opted_out_since.is_none());
}

#[tokio::test]
async fn writes_are_rate_limited_per_network() {
    let e = env(
        "rate",
        Settings {
            writes_per_minute: 2,
            ..settings()
        },
    )
    .await;
    let config = e.config().await;
    let body = choice(&config, json!({"analytics": false}));
    assert_eq!(
        e.choose(body.clone(), &[]).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        e.choose(body.clone(), &[]).await.status,
        StatusCode::CREATED
    );
    let third = e.choose(body, &[]).await;
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(third.json()["type"], "urn:pledge:problem:rate-limited");
}

#[tokio::test]
async fn minting_links_needs_a_role_a_key_and_marketing_purposes() {
    let e = env("mint", settings()).await;
    let reply = e
        .mint(e.key(Role::SupportAgent), "user-42", json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    for purposes in [json!(["audience"]), json!(["nothing"])] {
        let reply = e
            .mint(
                e.key(Role::Admin),
                "user-42",
                json!({ "purposes": purposes }),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.text()
        );
    }
    let reply = e
        .mint(
            e.key(Role::Admin),
            "user-42",
            json!({"purposes": ["newsletter"]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let links = reply.json();
    let url = links["unsubscribe"]["url"].as_str().unwrap();
    assert_eq!(
        links["unsubscribe"]["headers"]["List-Unsubscribe"],
        format!("<{url}>")
    );
    assert_eq!(
        links["unsubscribe"]["headers"]["List-Unsubscribe-Post"],
        "List-Unsubscribe=One-Click"
    );
    assert!(
        links["preferences"]["url"]
            .as_str()
            .unwrap()
            .contains("/preferences?token=")
    );

    // Minting is audited, the subject only as a hash.
    let audit = e.state.store.audit_records(0, 1000).await.unwrap();
    let minted = audit
        .iter()
        .find(|r| r.action == "consent.links_minted")
        .expect("an audit record of the minting");
    assert!(minted.actor.starts_with("key:"));
    assert_eq!(
        minted.detail["links"],
        json!(["preferences", "unsubscribe"])
    );
    assert!(!minted.detail.to_string().contains("user-42"));
    assert!(
        e.state
            .store
            .verify_audit()
            .await
            .unwrap()
            .first_broken
            .is_none()
    );

    let openapi = e.get("/v1/openapi.json").await.json();
    assert!(
        openapi["paths"]["/v1/subjects/{subject}/preference-links"]["post"].is_object(),
        "the staff route is in the OpenAPI document"
    );

    let without_key = env("mint-nokey", Settings::default()).await;
    let reply = without_key
        .mint(without_key.key(Role::Admin), "user-42", json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn the_preference_centre_shows_and_changes_each_choice() {
    let e = env("prefs", settings()).await;
    let links = e
        .mint(e.key(Role::Admin), "user-42", json!({}))
        .await
        .json();
    let page_path = path_of(links["preferences"]["url"].as_str().unwrap());
    let token = page_path.split_once("token=").unwrap().1.to_string();

    let page = e.get(&page_path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.header(header::REFERRER_POLICY), Some("no-referrer"));
    assert_eq!(page.header(header::CACHE_CONTROL), Some("no-store"));
    let html = page.text();
    for shown in [
        "Monthly newsletter",
        "Offers to customers",
        "Audience measurement",
    ] {
        assert!(html.contains(shown), "{shown} missing from\n{html}");
    }
    assert!(
        !html.contains(">Orders<"),
        "a contract purpose is no choice"
    );
    let main = &html[html.find("<main>").unwrap()..html.find("</main>").unwrap()];
    insta::assert_snapshot!("preference_centre", main.replace(&token, "[token]"));

    // Turning the newsletter on is one click; so is turning it off.
    let form = "application/x-www-form-urlencoded";
    let on = e
        .form(
            "/preferences",
            form,
            &format!("token={token}&purpose=newsletter&choice=on"),
        )
        .await;
    assert_eq!(on.status, StatusCode::SEE_OTHER, "{}", on.text());
    assert!(on.header(header::LOCATION).unwrap().contains("saved=1"));
    assert_eq!(
        e.state_of("user-42", &purpose("newsletter")),
        Some((ConsentState::Given, ConsentMethod::Form))
    );
    assert!(
        e.get(&page_path)
            .await
            .text()
            .contains("you gave your consent")
    );

    // Offers rest on legitimate interests: turning them off is an objection.
    let off = e
        .form(
            "/preferences",
            form,
            &format!("token={token}&purpose=offers&choice=off"),
        )
        .await;
    assert_eq!(off.status, StatusCode::SEE_OTHER, "{}", off.text());
    let current = e.state.consent.current(&"user-42".parse().unwrap());
    assert!(
        current.objections.iter().any(|p| p.as_str() == "offers"),
        "{current:?}"
    );

    // Everything off at once.
    let all = e
        .form(
            "/preferences",
            form,
            &format!("token={token}&purpose=*&choice=off"),
        )
        .await;
    assert_eq!(all.status, StatusCode::SEE_OTHER);
    assert_eq!(
        e.state_of("user-42", &purpose("newsletter")).unwrap().0,
        ConsentState::Withdrawn
    );

    // Links that do not work show a page and change nothing.
    let expired = token::sign(
        LINK_KEY,
        &token::SignedLink {
            kind: token::LinkKind::Preferences,
            subject: "user-42".into(),
            purposes: Vec::new(),
            expires_at: 1,
        },
    );
    assert_eq!(
        e.get(&format!("/preferences?token={expired}")).await.status,
        StatusCode::GONE
    );
    let tampered = format!("/preferences?token=x{token}");
    assert_eq!(e.get(&tampered).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(e.get("/preferences").await.status, StatusCode::BAD_REQUEST);
    let refused = e
        .form(
            "/preferences",
            form,
            &format!("token=x{token}&purpose=newsletter&choice=on"),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        e.state_of("user-42", &purpose("newsletter")).unwrap().0,
        ConsentState::Withdrawn
    );
}

#[tokio::test]
async fn one_click_unsubscribe_withdraws_on_post_only() {
    unsubscribe_withdraws_on_post_only(&env("unsubscribe", settings()).await).await;
}

async fn unsubscribe_withdraws_on_post_only(e: &Env) {
    let links = e
        .mint(
            e.key(Role::Admin),
            "user-7",
            json!({"purposes": ["newsletter"]}),
        )
        .await
        .json();
    let prefs = path_of(links["preferences"]["url"].as_str().unwrap());
    let token = prefs.split_once("token=").unwrap().1.to_string();
    let form = "application/x-www-form-urlencoded";
    e.form(
        "/preferences",
        form,
        &format!("token={token}&purpose=newsletter&choice=on"),
    )
    .await;
    let given = e.state_of("user-7", &purpose("newsletter"));
    assert_eq!(given.unwrap().0, ConsentState::Given);

    let unsubscribe = path_of(links["unsubscribe"]["url"].as_str().unwrap());
    // A GET (a person, or a scanner following links) shows the button and changes nothing.
    let page = e.get(&unsubscribe).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("List-Unsubscribe"));
    assert_eq!(e.state_of("user-7", &purpose("newsletter")), given);
    // A POST without the RFC 8058 body changes nothing either.
    let wrong = e.form(&unsubscribe, form, "List-Unsubscribe=Maybe").await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert_eq!(e.state_of("user-7", &purpose("newsletter")), given);
    // A preference link is not an unsubscribe link.
    let other = e
        .form(
            &format!("/unsubscribe?token={token}"),
            form,
            "List-Unsubscribe=One-Click",
        )
        .await;
    assert_eq!(other.status, StatusCode::BAD_REQUEST);

    // The mail client's one click, as multipart/form-data.
    let body = "--b0undary\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--b0undary--\r\n";
    let done = e
        .form(&unsubscribe, "multipart/form-data; boundary=b0undary", body)
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text());
    assert!(done.text().contains("Monthly newsletter"));
    assert_eq!(
        e.state_of("user-7", &purpose("newsletter")),
        Some((ConsentState::Withdrawn, ConsentMethod::EmailLink))
    );
    // Sent twice: still withdrawn, and no second event.
    let seq = |e: &Env| {
        e.state
            .consent
            .current(&"user-7".parse().unwrap())
            .consents
            .iter()
            .map(|c| c.seq)
            .max()
    };
    let before = seq(e);
    let again = e
        .form(&unsubscribe, form, "List-Unsubscribe=One-Click")
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(seq(e), before);

    // The page after an unsubscribe offers a fresh preference link: minted, so audited,
    // like the links the API makes.
    let audit = e.state.store.audit_records(0, 1000).await.unwrap();
    let by_page: Vec<_> = audit
        .iter()
        .filter(|r| r.action == "consent.links_minted" && r.actor == "unsubscribe")
        .collect();
    assert_eq!(
        by_page.len(),
        2,
        "one per page shown after a one-click POST"
    );
    assert_eq!(by_page[0].detail["links"], json!(["preferences"]));
}

/// Links and consent follow the server's clock, not the wall clock: a test (or an operator
/// replaying) that turns it sees links expire and consent lapse at the turned time.
#[tokio::test]
async fn links_expire_by_the_servers_clock() {
    let now = Arc::new(AtomicI64::new(1_900_000_000));
    let e = env_clocked("clock", settings(), Clock::manual(now.clone())).await;
    let links = e
        .mint(
            e.key(Role::Admin),
            "user-8",
            json!({"purposes": ["newsletter"]}),
        )
        .await
        .json();
    // Minted on the server's clock, 30 days on.
    assert_eq!(
        links["preferences"]["expires_at"], "2030-04-16T17:46:40Z",
        "{links}"
    );
    let prefs = path_of(links["preferences"]["url"].as_str().unwrap());
    assert_eq!(e.get(&prefs).await.status, StatusCode::OK);
    now.fetch_add(31 * 86_400, Ordering::SeqCst);
    let expired = e.get(&prefs).await;
    assert_ne!(expired.status, StatusCode::OK);
    assert!(expired.text().contains("expired"), "{}", expired.text());
}

/// The ledger's two paths here, choices from the banner and one-click unsubscribe, on a
/// PostgreSQL store (the server that scripts/test.sh starts).
#[tokio::test(flavor = "multi_thread")]
async fn on_a_postgres_store() {
    let Some(url) =
        pledge_testkit::require!(pledge_testkit::POSTGRES_URL, pledge_testkit::postgres_url())
    else {
        return;
    };
    let database = pledge_testkit::postgres_database(&url, "pledge_banner").await;
    let store = Store::open(&database).await.unwrap();
    let e = env_on("pg", Some(store), settings(), Clock::system()).await;
    choices_reach_the_ledger(&e).await;
    unsubscribe_withdraws_on_post_only(&e).await;
}

/// The preference centre says whose it is, and does not offer switches for what cookies do:
/// those are chosen in each browser's banner, and the page names them and says so.
#[tokio::test]
async fn the_preference_centre_names_the_company_and_leaves_cookies_to_the_banner() {
    let e = env("prefs-company", settings()).await;
    let links = e
        .mint(e.key(Role::Admin), "user-42", json!({}))
        .await
        .json();
    let page_path = path_of(links["preferences"]["url"].as_str().unwrap());
    let token = page_path.split_once("token=").unwrap().1.to_string();
    let html = e.get(&page_path).await.text();
    assert!(
        html.contains("<h1>Your privacy choices with Shop Example Ltd</h1>"),
        "{html}"
    );
    // Audience measurement and advertising are what the analytics and advertising cookies
    // do: named, without a switch. The newsletter keeps its switch.
    assert!(
        html.contains("<li>Audience measurement (analytics cookies)</li>"),
        "{html}"
    );
    assert!(
        !html.contains("name=\"purpose\" value=\"audience\""),
        "{html}"
    );
    assert!(!html.contains("name=\"purpose\" value=\"ads\""), "{html}");
    assert!(
        html.contains("name=\"purpose\" value=\"newsletter\""),
        "{html}"
    );
    // A post for a cookie purpose changes nothing, and everything off leaves it alone.
    let form = "application/x-www-form-urlencoded";
    let refused = e
        .form(
            "/preferences",
            form,
            &format!("token={token}&purpose=audience&choice=on"),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{}",
        refused.text()
    );
    let all = e
        .form(
            "/preferences",
            form,
            &format!("token={token}&purpose=*&choice=off"),
        )
        .await;
    assert_eq!(all.status, StatusCode::SEE_OTHER);
    assert_eq!(e.state_of("user-42", &purpose("audience")), None);
}

/// The preference centre speaks the person's language: `?lang=da` (the switcher's links keep
/// the link's token), and a link that does not work says so in French.
#[tokio::test]
async fn the_preference_centre_is_in_the_person_s_language() {
    let e = env("prefs-lang", settings()).await;
    let links = e
        .mint(e.key(Role::Admin), "user-42", json!({}))
        .await
        .json();
    let page_path = path_of(links["preferences"]["url"].as_str().unwrap());
    let token = page_path.split_once("token=").unwrap().1.to_string();
    let page = e.get(&format!("{page_path}&lang=da")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.header(header::CONTENT_LANGUAGE), Some("da"));
    let html = page.text();
    assert!(html.contains("<html lang=\"da\">"), "{html}");
    assert!(
        html.contains("<h1>Dine valg om privatliv hos Shop Example Ltd</h1>"),
        "{html}"
    );
    assert!(
        html.contains("<li>Audience measurement (cookies til statistik)</li>"),
        "{html}"
    );
    assert!(
        html.contains(">Slå fra<") || html.contains(">Slå til<"),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            "href=\"/preferences?token={token}&amp;lang=fr\" lang=\"fr\""
        )),
        "{html}"
    );
    let refused = e.get("/preferences?token=nope&lang=fr").await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let html = refused.text();
    assert!(
        html.contains("<h1>Ce lien ne fonctionne pas</h1>"),
        "{html}"
    );
    assert!(
        html.contains("Ce lien ne vient pas de nous, ou il a été modifié."),
        "{html}"
    );
}
