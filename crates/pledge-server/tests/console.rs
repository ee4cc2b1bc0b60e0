//! The staff console over HTTP, on a SQLite store and a PostgreSQL one: sign-in and its
//! one answer for every refusal, lock-out and its end on the manual clock, sign-out and
//! sign-out everywhere, forms without their CSRF token refused, sessions that run out,
//! disabled accounts, and what each role sees.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use pledge_server::Clock;
use pledge_store::Role;
use pledge_store::staff::NewStaff;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

mod common;
use common::{Reply, TestApp};

const T0: i64 = 1_800_000_000;
const PASSWORD: &str = "a long staff password";

struct Env {
    app: TestApp,
    clock: Arc<AtomicI64>,
}

impl std::ops::Deref for Env {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// The value of the cookie `name` that `reply` sets, if it sets one.
fn set_cookie(reply: &Reply, name: &str) -> Option<String> {
    reply
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with(&format!("{name}=")))
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string()
}

/// The value of the hidden `csrf` field of a page.
fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("no csrf field in {page}"));
    let rest = &page[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

const SESSION: &str = "__Secure-pledge-console";
const SIGN_IN: &str = "__Secure-pledge-sign-in";

/// A browser's session: its cookie and its forms' token.
#[derive(Clone, Debug)]
struct Session {
    cookie: String,
    csrf: String,
}

impl Env {
    fn now(&self) -> i64 {
        self.clock.load(Ordering::SeqCst)
    }

    fn advance(&self, secs: i64) {
        self.clock.fetch_add(secs, Ordering::SeqCst);
    }

    async fn add(&self, email: &str, role: Role) {
        self.state
            .store
            .create_staff(
                NewStaff {
                    email,
                    name: "Staff Member",
                    role,
                    password: PASSWORD,
                },
                "test",
                self.now(),
            )
            .await
            .unwrap();
    }

    async fn get(&self, path: &str, session: Option<&Session>) -> Reply {
        let mut req = Request::builder().method(Method::GET).uri(path);
        if let Some(s) = session {
            req = req.header(header::COOKIE, format!("{SESSION}={}", s.cookie));
        }
        self.send(req.body(Body::empty()).unwrap()).await
    }

    async fn post(&self, path: &str, cookies: &str, form: &[(&str, &str)]) -> Reply {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, cookies)
            .body(Body::from(body))
            .unwrap();
        self.send(req).await
    }

    /// The sign-in page's token, as its cookie and field give it.
    async fn sign_in_token(&self) -> String {
        let page = self.get("/console/sign-in", None).await;
        assert_eq!(page.status, StatusCode::OK);
        let token = cookie_value(&set_cookie(&page, SIGN_IN).expect("the sign-in cookie"));
        assert_eq!(csrf_of(&page.text()), token);
        token
    }

    /// Posts the sign-in form.
    async fn try_sign_in(&self, email: &str, password: &str) -> Reply {
        let token = self.sign_in_token().await;
        self.post(
            "/console/sign-in",
            &format!("{SIGN_IN}={token}"),
            &[("csrf", &token), ("email", email), ("password", password)],
        )
        .await
    }

    /// Signs in, and reads the session's token from the dashboard.
    async fn sign_in(&self, email: &str) -> Session {
        let r = self.try_sign_in(email, PASSWORD).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
        assert_eq!(r.header(header::LOCATION), Some("/console"));
        let set = set_cookie(&r, SESSION).expect("a session cookie");
        for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/console"] {
            assert!(set.contains(attribute), "{set} lacks {attribute}");
        }
        let cookie = cookie_value(&set);
        let dashboard = self
            .get(
                "/console",
                Some(&Session {
                    cookie: cookie.clone(),
                    csrf: String::new(),
                }),
            )
            .await;
        assert_eq!(dashboard.status, StatusCode::OK);
        Session {
            csrf: csrf_of(&dashboard.text()),
            cookie,
        }
    }

    async fn signed_in(&self, session: &Session) -> bool {
        let r = self.get("/console", Some(session)).await;
        match r.status {
            StatusCode::OK => true,
            StatusCode::SEE_OTHER => {
                assert_eq!(r.header(header::LOCATION), Some("/console/sign-in"));
                false
            }
            s => panic!("GET /console: {s}"),
        }
    }

    async fn actions(&self) -> Vec<String> {
        self.state
            .store
            .audit_records(0, 10_000)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.action)
            .collect()
    }
}

async fn env(name: &str, store: pledge_store::Store) -> Env {
    let clock = Arc::new(AtomicI64::new(T0));
    let app = TestApp::builder(name)
        .store(store)
        .clock(Clock::manual(clock.clone()))
        .without_worker()
        .spawn()
        .await;
    Env { app, clock }
}

/// A right password opens a session; its cookie is what the console asks for; the pages
/// have the console's own strict policy; signing out ends it, and the chain says so.
async fn signs_in_and_out(e: Env) {
    e.add("ada@example.com", Role::Admin).await;
    // Without a session, every page sends to sign-in.
    for path in ["/console", "/console/requests", "/console/requests/req_x"] {
        let r = e.get(path, None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.header(header::LOCATION), Some("/console/sign-in"));
    }
    // The address is found whatever its case and the spaces around it.
    let s = e.sign_in(" ADA@example.com").await;
    let page = e.get("/console", Some(&s)).await;
    let csp = page.header(header::CONTENT_SECURITY_POLICY).unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("style-src 'self'"));
    assert!(!csp.contains("unsafe"), "{csp}");
    assert!(page.text().contains("<html lang=\"en\">"));
    assert!(page.text().contains("The chain of"), "{}", page.text());
    assert!(page.body.len() < 100_000);
    let css = e.get("/console/console.css", None).await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        css.header(header::CONTENT_TYPE)
            .unwrap()
            .starts_with("text/css")
    );
    // The API and the root are as they were.
    let r = e.get("/v1/requests", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = e
        .post(
            "/console/sign-out",
            &format!("{SESSION}={}", s.cookie),
            &[("csrf", &s.csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(set_cookie(&r, SESSION).unwrap().contains("Max-Age=0"));
    assert!(!e.signed_in(&s).await);
    let actions = e.actions().await;
    for action in ["staff.created", "staff.signed_in", "staff.signed_out"] {
        assert!(actions.iter().any(|a| a == action), "{action}: {actions:?}");
    }
    assert!(
        e.state
            .store
            .verify_audit()
            .await
            .unwrap()
            .first_broken
            .is_none()
    );
}

/// An unknown address, a wrong password, a locked and a disabled account get the very same
/// page, with no session.
async fn every_refusal_reads_the_same(e: Env) {
    e.add("ada@example.com", Role::Admin).await;
    e.add("bob@example.com", Role::SupportAgent).await;
    e.state
        .store
        .disable_staff("bob@example.com", "test", e.now())
        .await
        .unwrap();
    let unknown = e.try_sign_in("nobody@example.com", PASSWORD).await;
    let wrong = e.try_sign_in("ada@example.com", "not the password").await;
    let disabled = e.try_sign_in("bob@example.com", PASSWORD).await;
    for r in [&unknown, &wrong, &disabled] {
        assert_eq!(r.status, StatusCode::OK);
        assert!(set_cookie(r, SESSION).is_none());
        assert!(r.text().contains("do not open an account"), "{}", r.text());
    }
    // The pages differ only in the address typed and the form's token.
    let scrub = |r: &Reply, email: &str| {
        let text = r.text().replace(email, "EMAIL");
        text.replace(&csrf_of(&text), "TOKEN")
    };
    assert_eq!(
        scrub(&unknown, "nobody@example.com"),
        scrub(&wrong, "ada@example.com")
    );
    assert_eq!(
        scrub(&unknown, "nobody@example.com"),
        scrub(&disabled, "bob@example.com")
    );
    let actions = e.actions().await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "staff.sign_in_failed")
            .count(),
        3
    );
}

/// Five wrong passwords in a row lock the account for 15 minutes: the right password is
/// refused as any other meanwhile, and works once the lock has run out.
async fn five_failures_lock_the_account_for_15_minutes(e: Env) {
    e.add("ada@example.com", Role::Admin).await;
    let refused = e.try_sign_in("ada@example.com", "wrong").await.text();
    for _ in 0..4 {
        e.try_sign_in("ada@example.com", "wrong").await;
    }
    assert!(e.actions().await.iter().any(|a| a == "staff.locked_out"));
    let r = e.try_sign_in("ada@example.com", PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(set_cookie(&r, SESSION).is_none());
    let token = |t: &str| t.replace(&csrf_of(t), "TOKEN");
    assert_eq!(token(&r.text()), token(&refused));
    e.advance(15 * 60 - 1);
    let r = e.try_sign_in("ada@example.com", PASSWORD).await;
    assert!(set_cookie(&r, SESSION).is_none(), "still locked");
    e.advance(1);
    e.sign_in("ada@example.com").await;
    let account = &e.state.store.list_staff().await.unwrap()[0];
    assert_eq!(account.failed_attempts, 0);
    assert_eq!(account.locked_until, None);
}

/// The sign-in form without its token, or with another one, is refused before anything is
/// checked: no session, no attempt counted.
async fn sign_in_without_its_token_is_refused(e: Env) {
    e.add("ada@example.com", Role::Admin).await;
    let token = e.sign_in_token().await;
    let other = e.sign_in_token().await;
    assert_ne!(token, other);
    for (cookies, field) in [
        (String::new(), token.clone()),
        (format!("{SIGN_IN}={token}"), String::new()),
        (format!("{SIGN_IN}={token}"), other.clone()),
    ] {
        let r = e
            .post(
                "/console/sign-in",
                &cookies,
                &[
                    ("csrf", &field),
                    ("email", "ada@example.com"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(set_cookie(&r, SESSION).is_none());
    }
    assert!(
        !e.actions()
            .await
            .iter()
            .any(|a| a.starts_with("staff.sign"))
    );
}

/// A form of a session without the session's token, or with a wrong one, is refused (403)
/// and does nothing.
async fn forms_without_the_session_token_are_refused(e: Env) {
    e.add("ada@example.com", Role::Admin).await;
    let s = e.sign_in("ada@example.com").await;
    let mut wrong = s.csrf.clone();
    wrong.replace_range(..1, if wrong.starts_with('0') { "1" } else { "0" });
    for path in ["/console/sign-out", "/console/sign-out-everywhere"] {
        for form in [vec![], vec![("csrf", wrong.as_str())], vec![("csrf", "")]] {
            let r = e
                .post(path, &format!("{SESSION}={}", s.cookie), &form)
                .await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path} {form:?}");
            assert!(e.signed_in(&s).await, "{path} {form:?} did something");
        }
    }
    // Without a session there is nothing to refuse: on to sign-in.
    let r = e
        .post("/console/sign-out", "", &[("csrf", s.csrf.as_str())])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(e.signed_in(&s).await);
}

/// Signing out everywhere ends every session of the account, and only its own.
async fn sign_out_everywhere_ends_every_session(e: Env) {
    e.add("ada@example.com", Role::Admin).await;
    e.add("cy@example.com", Role::PrivacyOfficer).await;
    let first = e.sign_in("ada@example.com").await;
    let second = e.sign_in("ada@example.com").await;
    let other = e.sign_in("cy@example.com").await;
    let r = e
        .post(
            "/console/sign-out-everywhere",
            &format!("{SESSION}={}", second.cookie),
            &[("csrf", &second.csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(!e.signed_in(&first).await);
    assert!(!e.signed_in(&second).await);
    assert!(e.signed_in(&other).await);
    assert!(
        e.actions()
            .await
            .iter()
            .any(|a| a == "staff.signed_out_everywhere")
    );
}

/// A session ends after 30 idle minutes, and after 12 hours however much it is used; a
/// disabled account's sessions end at once.
async fn sessions_run_out(e: Env) {
    e.add("ada@example.com", Role::Admin).await;
    e.add("bob@example.com", Role::SupportAgent).await;
    let s = e.sign_in("ada@example.com").await;
    e.advance(29 * 60);
    assert!(e.signed_in(&s).await);
    e.advance(29 * 60);
    assert!(e.signed_in(&s).await, "use moves the idle expiry on");
    e.advance(30 * 60);
    assert!(!e.signed_in(&s).await, "30 idle minutes");
    let s = e.sign_in("ada@example.com").await;
    for _ in 0..(12 * 3) {
        assert!(e.signed_in(&s).await);
        e.advance(20 * 60);
    }
    assert!(!e.signed_in(&s).await, "12 hours at most");
    // A session nobody came back to is gone after the next sign-in.
    let forgotten = e.sign_in("ada@example.com").await;
    e.advance(31 * 60);
    let _ = e.sign_in("ada@example.com").await;
    let left = e
        .state
        .store
        .execute_raw(&format!(
            "DELETE FROM staff_sessions WHERE csrf = '{}'",
            forgotten.csrf
        ))
        .await
        .unwrap();
    assert_eq!(left, 0, "the forgotten session was still stored");
    let bob = e.sign_in("bob@example.com").await;
    e.state
        .store
        .disable_staff("bob@example.com", "test", e.now())
        .await
        .unwrap();
    assert!(!e.signed_in(&bob).await);
    assert!(e.actions().await.iter().any(|a| a == "staff.disabled"));
}

/// Every role of the console sees requests; only admins and privacy officers see whose
/// they are, and their view is audited.
async fn a_support_agent_sees_no_identities(e: Env) {
    let (s, r) = e
        .call(
            Role::Admin,
            Method::POST,
            "/v1/requests",
            Some(json!({"kind": "access", "identities": {"email": "luis.goncalves@example.com"}})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let id = r["id"].as_str().unwrap().to_string();
    e.call(
        Role::Admin,
        Method::POST,
        "/v1/requests",
        Some(json!({"kind": "erasure", "regime": "ccpa", "identities": {"email": "someone@example.com"}})),
    )
    .await;
    for (email, role, sees) in [
        ("ada@example.com", Role::Admin, true),
        ("cy@example.com", Role::PrivacyOfficer, true),
        ("bob@example.com", Role::SupportAgent, false),
    ] {
        e.add(email, role).await;
        let session = e.sign_in(email).await;
        let list = e.get("/console/requests", Some(&session)).await;
        assert_eq!(list.status, StatusCode::OK);
        assert!(list.text().contains(&id), "{role:?}");
        assert!(list.text().contains("2 requests"), "{}", list.text());
        let page = e
            .get(&format!("/console/requests/{id}"), Some(&session))
            .await;
        assert_eq!(page.status, StatusCode::OK);
        let text = page.text();
        for shown in [&id, "access", "GDPR"] {
            assert!(text.contains(shown), "{shown}");
        }
        assert_eq!(
            text.contains("luis.goncalves@example.com"),
            sees,
            "{role:?}"
        );
        assert_eq!(text.contains("identities-hidden"), !sees, "{role:?}");
        // The messages to the person: the receipt, its address only for those who see identities.
        let messages = &text[text.find("id=\"messages-h\"").expect("the messages")..];
        assert!(messages.contains("received"), "{messages}");
        // No page of the console shows identities to a support agent.
        for path in ["/console", "/console/requests?state=open"] {
            let text = e.get(path, Some(&session)).await.text();
            assert!(!text.contains("luis.goncalves@example.com"), "{path}");
        }
    }
    let reads = e
        .state
        .store
        .audit_records(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "request.read" && r.actor.starts_with("staff:"))
        .map(|r| r.detail["what"].as_str().unwrap().to_string())
        .collect::<Vec<_>>();
    // The admin's and the privacy officer's views, each with the dry run of its preview.
    assert_eq!(
        reads,
        [
            "request with identities (console)",
            "dry-run plan (console)",
            "request with identities (console)",
            "dry-run plan (console)",
        ],
    );
    let admin = e.sign_in("ada@example.com").await;
    let missing = e.get("/console/requests/req_nope", Some(&admin)).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

/// The list's filters: kind, regime, state, due, received and part of the id.
async fn the_list_filters(e: Env) {
    let mut ids = Vec::new();
    for (kind, regime) in [("access", "gdpr"), ("erasure", "ccpa"), ("erasure", "gdpr")] {
        let (_, r) = e
            .call(
                Role::Admin,
                Method::POST,
                "/v1/requests",
                Some(json!({"kind": kind, "regime": regime, "identities": {"email": "x@example.com"}})),
            )
            .await;
        ids.push(r["id"].as_str().unwrap().to_string());
    }
    e.add("ada@example.com", Role::Admin).await;
    let s = e.sign_in("ada@example.com").await;
    let ids = &ids;
    let found = |query: &str| {
        let s = s.clone();
        let query = query.to_string();
        let e = &e;
        async move {
            let text = e
                .get(&format!("/console/requests?{query}"), Some(&s))
                .await
                .text();
            let n: Vec<&String> = ids.iter().filter(|id| text.contains(id.as_str())).collect();
            (n.len(), text)
        }
    };
    assert_eq!(found("kind=erasure").await.0, 2);
    assert_eq!(found("kind=erasure&regime=gdpr").await.0, 1);
    assert_eq!(found("state=completed").await.0, 0);
    assert_eq!(found("state=open").await.0, 3);
    assert_eq!(found("due=overdue").await.0, 0);
    assert_eq!(
        found("due=30d").await.0,
        0,
        "a month and 45 days are further"
    );
    assert_eq!(found(&format!("q={}", &ids[1][4..12])).await.0, 1);
    assert_eq!(found("q=req_").await.0, 3);
    assert_eq!(found("q=%25").await.0, 0, "a wildcard is no id");
    assert_eq!(found("received_from=2027-01-15").await.0, 3);
    assert_eq!(found("received_to=2027-01-14").await.0, 0);
    let (n, text) = found("kind=nonsense").await;
    assert_eq!(n, 3);
    assert!(text.contains("not understood"), "{text}");
}

/// The dashboard: a run that stopped for staff is needing action, a request past its
/// deadline is overdue, and open requests are counted by regime and kind.
async fn the_dashboard_shows_what_needs_staff(e: Env) {
    let (_, r) = e
        .call(
            Role::Admin,
            Method::POST,
            "/v1/requests",
            Some(json!({"kind": "access", "identities": {"email": "x@example.com"}})),
        )
        .await;
    let id = r["id"].as_str().unwrap().to_string();
    // No dataset can be reached here: the run stops for staff.
    e.start_worker("worker:console");
    e.wait_for(&id, "needs_action").await;
    e.add("ada@example.com", Role::SupportAgent).await;
    let s = e.sign_in("ada@example.com").await;
    let section = |text: &str, heading: &str| {
        let start = text.find(&format!("id=\"{heading}\"")).unwrap();
        let end = text[start..].find("</section>").unwrap() + start;
        text[start..end].to_string()
    };
    let text = e.get("/console", Some(&s)).await.text();
    assert!(section(&text, "action-h").contains(&id), "{text}");
    assert!(!section(&text, "overdue-h").contains(&id));
    assert!(section(&text, "counts-h").contains(">1</a>"), "{text}");
    // A month and a day later (the session is a new one: the old one ran out).
    e.advance(32 * 86_400);
    let s = e.sign_in("ada@example.com").await;
    let text = e.get("/console", Some(&s)).await.text();
    let overdue = section(&text, "overdue-h");
    assert!(overdue.contains(&id), "{text}");
    assert!(overdue.contains("overdue by"), "{overdue}");
    assert!(text.contains("The chain of"));
}

/// Failed sign-ins from one network, at any accounts, run out its budget of failed
/// credentials: then even a right password from there is refused (429) unchecked, while
/// other networks sign in.
async fn one_network_cannot_guess_at_many_accounts(e: Env) {
    e.add("ada@example.com", Role::Admin).await;
    let from = |ip: &str, email: &str, password: &str| {
        let ip: std::net::IpAddr = ip.parse().unwrap();
        let email = email.to_string();
        let password = password.to_string();
        let e = &e;
        async move {
            let token = e.sign_in_token().await;
            let body = form_urlencoded::Serializer::new(String::new())
                .extend_pairs([("csrf", &token), ("email", &email), ("password", &password)])
                .finish();
            let mut req = Request::builder()
                .method(Method::POST)
                .uri("/console/sign-in")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::COOKIE, format!("{SIGN_IN}={token}"))
                .body(Body::from(body))
                .unwrap();
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(std::net::SocketAddr::new(
                    ip, 40_000,
                )));
            e.send(req).await
        }
    };
    for n in 0..30 {
        let r = from("203.0.113.9", &format!("guess{n}@example.com"), "guess").await;
        assert_eq!(r.status, StatusCode::OK, "attempt {n}");
    }
    let r = from("203.0.113.9", "ada@example.com", PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(set_cookie(&r, SESSION).is_none());
    let r = from("198.51.100.7", "ada@example.com", PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(set_cookie(&r, SESSION).is_some());
}

/// What single sign-on does in the store (`Store::sign_in_by_provider`, which the callback
/// calls once the provider's ID token is verified; the flow itself is `console_sso.rs`): the
/// session of an existing account, the same as a password's; an unknown or disabled address
/// refused and audited; the password's lock-out not in the way, and its count left alone.
async fn a_provider_sign_in_opens_the_accounts_own_session(e: Env) {
    use pledge_store::staff::{ProviderRefusal, ProviderSignIn};
    e.add("ada@example.com", Role::SupportAgent).await;
    e.add("bob@example.com", Role::Admin).await;
    let policy = e.state.config.console;
    let issuer = "https://login.example.com";
    // Locked out by wrong passwords.
    for _ in 0..5 {
        e.try_sign_in("ada@example.com", "wrong").await;
    }
    let ProviderSignIn::Accepted { account, session } = e
        .state
        .store
        .sign_in_by_provider(" Ada@Example.com", issuer, &policy, e.now())
        .await
        .unwrap()
    else {
        panic!("refused");
    };
    assert_eq!(account.role, Role::SupportAgent);
    let s = Session {
        cookie: session.token.clone(),
        csrf: session.csrf.clone(),
    };
    let page = e.get("/console", Some(&s)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("support agent"), "{}", page.text());
    let staff = e.state.store.list_staff().await.unwrap();
    let ada = staff.iter().find(|a| a.email == "ada@example.com").unwrap();
    assert!(ada.locked_until.is_some(), "the password stays locked");
    // Signing out ends it as any session.
    let r = e
        .post(
            "/console/sign-out",
            &format!("{SESSION}={}", s.cookie),
            &[("csrf", &s.csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        e.get("/console", Some(&s)).await.status,
        StatusCode::SEE_OTHER
    );

    e.state
        .store
        .disable_staff("bob@example.com", "test", e.now())
        .await
        .unwrap();
    for (email, why) in [
        ("bob@example.com", ProviderRefusal::Disabled),
        ("nobody@example.com", ProviderRefusal::Unknown),
    ] {
        let r = e
            .state
            .store
            .sign_in_by_provider(email, issuer, &policy, e.now())
            .await
            .unwrap();
        assert!(
            matches!(r, ProviderSignIn::Refused(w) if w == why),
            "{email}: {r:?}"
        );
    }
    let records = e.state.store.audit_records(0, 1000).await.unwrap();
    let details = |action: &str| -> Vec<serde_json::Value> {
        records
            .iter()
            .filter(|r| r.action == action && r.detail.get("method").is_some())
            .map(|r| r.detail.clone())
            .collect()
    };
    let bob = staff.iter().find(|a| a.email == "bob@example.com").unwrap();
    assert_eq!(
        details("staff.signed_in"),
        [json!({"account": ada.id.0, "method": "oidc", "issuer": issuer})]
    );
    assert_eq!(
        details("staff.sign_in_failed"),
        [
            json!({"account": bob.id.0, "why": "disabled", "method": "oidc"}),
            json!({"email_sha256": pledge_store::audit::sha256_hex(b"nobody@example.com"), "why": "unknown", "method": "oidc"}),
        ]
    );
    assert_eq!(
        e.state.store.list_staff().await.unwrap().len(),
        2,
        "nobody made"
    );
}

/// The text of an HTML page as a reader sees it: the tags left out, the entities the
/// escaper writes read back, the spaces run together.
fn visible_text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&#x2f;", "/");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The console in Danish and in French: `?lang=` chooses (and the cookie keeps it),
/// `Accept-Language` chooses when nothing else does; `<html lang>`, `Content-Language` and
/// the headings are the language's, and no sentence of the English catalogue's console
/// that the language says otherwise is left on the pages.
async fn the_console_speaks_danish_and_french(e: Env) {
    use pledge_server::i18n;
    let (s, r) = e
        .call(
            Role::Admin,
            Method::POST,
            "/v1/requests",
            Some(json!({"kind": "access", "identities": {"email": "luis.goncalves@example.com"}, "needs_approval": true})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let id = r["id"].as_str().unwrap().to_string();
    let (s, r) = e
        .call(
            Role::Admin,
            Method::POST,
            "/v1/consent",
            Some(json!({"subject": "cust-42", "method": "form", "choices": [{"purpose": "newsletter", "state": "given"}]})),
        )
        .await;
    assert!(s.is_success(), "{r}");
    e.add("ada@example.com", Role::Admin).await;
    let session = e.sign_in("ada@example.com").await;
    let english = i18n::catalogues().get("en").unwrap();
    let pages: [(&str, &str); 9] = [
        ("/console", "console.dashboard.title"),
        ("/console/requests", "console.requests.title"),
        ("/console/declaration", "console.nav.declaration"),
        ("/console/declaration/purposes", "console.section.purposes"),
        ("/console/notice", "console.notice.title"),
        ("/console/audit", "console.audit.title"),
        ("/console/admin", "console.nav.admin"),
        ("/console/people?q=cust-42", "console.people.title"),
        (
            "/console/people?q=luis.goncalves%40example.com",
            "console.people.title",
        ),
    ];
    let request_page = format!("/console/requests/{id}");
    for lang in ["da", "fr"] {
        let theirs = i18n::catalogues().get(lang).unwrap();
        // The English sentences (their literal parts, long enough to be telling) that this
        // language writes otherwise.
        let english_only: Vec<&str> = english
            .keys()
            .filter(|k| k.starts_with("console.") || k.starts_with("ground."))
            .flat_map(|k| {
                let ours = theirs.raw(k).unwrap_or_default();
                english
                    .raw(k)
                    .unwrap_or_default()
                    .split(['{', '}'])
                    .step_by(2)
                    .map(str::trim)
                    .filter(|part| part.len() >= 16 && !ours.contains(part))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert!(english_only.len() > 200, "{lang}: {}", english_only.len());
        let mut all = pages
            .iter()
            .map(|(path, h1)| (path.to_string(), Some(*h1)))
            .collect::<Vec<_>>();
        all.push((request_page.clone(), None));
        for (path, h1) in all {
            let and = if path.contains('?') { '&' } else { '?' };
            let page = e
                .get(&format!("{path}{and}lang={lang}"), Some(&session))
                .await;
            assert_eq!(page.status, StatusCode::OK, "{path} in {lang}");
            let html = page.text();
            assert!(
                html.contains(&format!("<html lang=\"{lang}\">")),
                "{path} in {lang}"
            );
            assert_eq!(page.header(header::CONTENT_LANGUAGE), Some(lang), "{path}");
            let kept = set_cookie(&page, i18n::COOKIE).expect("the language cookie");
            assert!(kept.starts_with(&format!("pledge_lang={lang};")), "{kept}");
            if let Some(h1) = h1 {
                let heading = &html[html.find("<h1>").expect("a heading") + 4..];
                let heading = &heading[..heading.find(['<', '\n']).unwrap()];
                assert_eq!(
                    visible_text(heading),
                    i18n::tr(lang, h1, &[]),
                    "{path} in {lang}"
                );
            }
            let text = visible_text(&html);
            for sentence in &english_only {
                assert!(
                    !text.contains(sentence),
                    "{path} in {lang} says in English: {sentence:?}\n{text}"
                );
            }
        }
        // Without `?lang=`, the browser's languages choose; a kept choice comes first.
        let req = Request::builder()
            .uri("/console/requests")
            .header(header::COOKIE, format!("{SESSION}={}", session.cookie))
            .header(header::ACCEPT_LANGUAGE, format!("{lang}, en;q=0.5"))
            .body(Body::empty())
            .unwrap();
        let page = e.send(req).await;
        assert!(page.text().contains(&format!("<html lang=\"{lang}\">")));
        let req = Request::builder()
            .uri("/console/requests")
            .header(
                header::COOKIE,
                format!("{SESSION}={}; pledge_lang={lang}", session.cookie),
            )
            .header(header::ACCEPT_LANGUAGE, "en")
            .body(Body::empty())
            .unwrap();
        let page = e.send(req).await;
        assert!(page.text().contains(&format!("<html lang=\"{lang}\">")));
        assert!(
            page.text()
                .contains(&i18n::tr(lang, "console.requests.found_one", &[]))
        );
    }
    // A page that says something went wrong is in the language too, without a switcher.
    let page = e
        .get("/console/requests/req_none?lang=da", Some(&session))
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let html = page.text();
    assert!(html.contains("<html lang=\"da\">"), "{html}");
    assert!(
        html.contains(&i18n::tr("da", "console.message.no_request", &[])),
        "{html}"
    );
    assert!(!html.contains("hreflang"), "{html}");
    // A choice made on an address that sends to sign-in is kept for the sign-in page.
    let r = e.get("/console/requests?lang=fr", None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let kept = set_cookie(&r, i18n::COOKIE).expect("the language cookie");
    assert!(kept.starts_with("pledge_lang=fr;"), "{kept}");
    // The sign-in page too, before any session, with its switcher.
    let page = e.get("/console/sign-in?lang=fr", None).await;
    let html = page.text();
    assert!(html.contains("<html lang=\"fr\">"));
    assert!(html.contains(&format!(
        "<h1>{}</h1>",
        i18n::tr("fr", "console.sign_in.title", &[])
    )));
    assert!(html.contains("hreflang=\"da\""), "{html}");
}

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
    signs_in_and_out,
    the_console_speaks_danish_and_french,
    every_refusal_reads_the_same,
    five_failures_lock_the_account_for_15_minutes,
    sign_in_without_its_token_is_refused,
    forms_without_the_session_token_are_refused,
    sign_out_everywhere_ends_every_session,
    sessions_run_out,
    a_support_agent_sees_no_identities,
    the_list_filters,
    the_dashboard_shows_what_needs_staff,
    one_network_cannot_guess_at_many_accounts,
    a_provider_sign_in_opens_the_accounts_own_session,
);

/// Acting on a request from its page, on the Chinook dataset (so the preview has rows to
/// show): each action by an allowed role changes the state and is audited as the staff
/// account; a support agent, a form without its token and an action the state does not
/// allow change nothing.
mod actions {
    use super::*;
    use pledge_server::Config;
    use pledge_server::crypto::seal::{ExportKeys, MasterKey};

    const LUIS: &str = "luisg@embraer.com.br";

    async fn env(name: &str, store: pledge_store::Store) -> Env {
        let clock = Arc::new(AtomicI64::new(T0));
        let app = TestApp::builder(name)
            .store(store)
            .chinook()
            .config(Config {
                export_keys: Some(ExportKeys::new(MasterKey::new([7; 32]), Vec::new())),
                ..Config::default()
            })
            .clock(Clock::manual(clock.clone()))
            .without_worker()
            .spawn()
            .await;
        Env { app, clock }
    }

    impl Env {
        /// A request taken in through the API; its id.
        async fn request(&self, body: serde_json::Value) -> String {
            let (s, r) = self
                .call(Role::Admin, Method::POST, "/v1/requests", Some(body))
                .await;
            assert_eq!(s, StatusCode::CREATED, "{r}");
            r["id"].as_str().unwrap().to_string()
        }

        async fn state_of(&self, id: &str) -> String {
            self.state
                .store
                .get_request(id)
                .await
                .unwrap()
                .state
                .as_str()
                .to_string()
        }

        /// Posts an action's form with the session's cookie.
        async fn act(&self, s: &Session, id: &str, action: &str, form: &[(&str, &str)]) -> Reply {
            let mut fields = vec![("csrf", s.csrf.as_str())];
            fields.extend_from_slice(form);
            self.post(
                &format!("/console/requests/{id}/actions/{action}"),
                &format!("{SESSION}={}", s.cookie),
                &fields,
            )
            .await
        }

        /// The audit records of `id`'s transitions by staff accounts.
        async fn staff_transitions(&self, id: &str) -> Vec<String> {
            self.state
                .store
                .audit_records(0, 10_000)
                .await
                .unwrap()
                .into_iter()
                .filter(|r| {
                    r.actor.starts_with("staff:stf_")
                        && r.request_id.as_deref() == Some(id)
                        && r.action == "request.transition"
                })
                .map(|r| r.action)
                .collect()
        }
    }

    fn awaiting() -> serde_json::Value {
        json!({"kind": "access", "identities": {"email": LUIS}, "needs_approval": true})
    }

    /// Approve, then (on others) deny with a ground, extend with a ground, cancel: each
    /// redirects back with a message, changes the state and is audited as the account.
    async fn each_action_changes_the_state(e: Env) {
        e.add("po@example.com", Role::PrivacyOfficer).await;
        let po = e.sign_in("po@example.com").await;
        let id = e.request(awaiting()).await;
        assert_eq!(e.state_of(&id).await, "awaiting_approval");
        let page = e
            .get(&format!("/console/requests/{id}"), Some(&po))
            .await
            .text();
        for shown in [
            "action-approve",
            "action-deny",
            "action-extend",
            "action-cancel",
        ] {
            assert!(page.contains(shown), "{shown} in {page}");
        }
        for hidden in ["action-retry", "action-complete", "action-link"] {
            assert!(!page.contains(hidden), "{hidden}");
        }
        let r = e.act(&po, &id, "approve", &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
        let back = r.header(header::LOCATION).unwrap().to_string();
        assert_eq!(back, format!("/console/requests/{id}?done=approve"));
        assert_eq!(e.state_of(&id).await, "in_progress");
        let page = e.get(&back, Some(&po)).await.text();
        assert!(page.contains("id=\"done\""), "{page}");
        assert!(!e.staff_transitions(&id).await.is_empty());

        let id = e.request(awaiting()).await;
        let r = e
            .act(
                &po,
                &id,
                "extend",
                &[("ground", "complexity"), ("details", "Three systems.")],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
        let record = e.state.store.get_request(&id).await.unwrap();
        assert_eq!(record.state.as_str(), "extended");
        assert_eq!(
            record.extension_reason.as_deref(),
            Some("The request is complex, so we need more time (GDPR Art. 12(3)). Three systems.")
        );
        // Extended once: the form is not offered again.
        let page = e
            .get(&format!("/console/requests/{id}"), Some(&po))
            .await
            .text();
        assert!(!page.contains("action-extend"), "{page}");
        let r = e.act(&po, &id, "deny", &[("ground", "identity")]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
        let record = e.state.store.get_request(&id).await.unwrap();
        assert_eq!(record.state.as_str(), "denied");
        assert_eq!(
            record.denial_reason.as_deref(),
            Some("We could not establish your identity (GDPR Art. 12(6)).")
        );
        assert!(e.staff_transitions(&id).await.len() >= 2);

        let id = e.request(awaiting()).await;
        let r = e.act(&po, &id, "cancel", &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
        assert_eq!(e.state_of(&id).await, "cancelled");
        // Closed: no action is offered, and one posted anyway is refused (409).
        let page = e
            .get(&format!("/console/requests/{id}"), Some(&po))
            .await
            .text();
        assert!(!page.contains("id=\"actions\""), "{page}");
        for action in ["approve", "cancel", "retry", "complete"] {
            let r = e
                .act(&po, &id, action, &[("details", "done by hand")])
                .await;
            assert_eq!(r.status, StatusCode::CONFLICT, "{action}: {}", r.text());
        }
        assert_eq!(e.state_of(&id).await, "cancelled");
    }

    /// A support agent sees the request, no action, no preview; posting one is refused.
    /// A form without the session's token, or with a wrong one, is refused too.
    async fn refusals_change_nothing(e: Env) {
        e.add("bob@example.com", Role::SupportAgent).await;
        e.add("po@example.com", Role::PrivacyOfficer).await;
        let bob = e.sign_in("bob@example.com").await;
        let po = e.sign_in("po@example.com").await;
        let id = e.request(awaiting()).await;
        let page = e.get(&format!("/console/requests/{id}"), Some(&bob)).await;
        assert_eq!(page.status, StatusCode::OK);
        let text = page.text();
        assert!(!text.contains("id=\"actions\""), "{text}");
        assert!(!text.contains("id=\"preview\""), "{text}");
        assert!(!text.contains(LUIS));
        let before = e.actions().await.len();
        for action in ["approve", "deny", "extend", "cancel"] {
            let r = e.act(&bob, &id, action, &[("ground", "identity")]).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{action}");
        }
        for csrf in [None, Some("0".repeat(64))] {
            let mut form = vec![];
            if let Some(c) = &csrf {
                form.push(("csrf", c.as_str()));
            }
            let r = e
                .post(
                    &format!("/console/requests/{id}/actions/approve"),
                    &format!("{SESSION}={}", po.cookie),
                    &form,
                )
                .await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{csrf:?}");
        }
        assert_eq!(e.state_of(&id).await, "awaiting_approval");
        assert_eq!(e.actions().await.len(), before, "nothing audited");
    }

    /// Deny and extend without a ground show the form again with its error.
    async fn a_reason_is_required(e: Env) {
        e.add("po@example.com", Role::PrivacyOfficer).await;
        let po = e.sign_in("po@example.com").await;
        let id = e.request(awaiting()).await;
        for action in ["deny", "extend"] {
            let r = e.act(&po, &id, action, &[("details", "no ground")]).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{action}");
            let text = r.text();
            assert!(text.contains(&format!("id=\"{action}-error\"")), "{text}");
            assert!(text.contains(&format!("action-{action}")));
        }
        assert_eq!(e.state_of(&id).await, "awaiting_approval");
    }

    /// The preview is the dry run's plan, as tables, and changes nothing.
    async fn the_preview_shows_the_plan(e: Env) {
        e.add("po@example.com", Role::PrivacyOfficer).await;
        let po = e.sign_in("po@example.com").await;
        let id = e.request(awaiting()).await;
        let text = e
            .get(&format!("/console/requests/{id}"), Some(&po))
            .await
            .text();
        assert!(text.contains("id=\"preview\""), "{text}");
        assert!(!text.contains("preview-error"), "{text}");
        assert!(text.contains("<table class=\"plan\">"), "{text}");
        assert!(text.contains("customer"), "{text}");
        assert!(text.contains("Whose rows"), "{text}");
        assert_eq!(e.state_of(&id).await, "awaiting_approval");
        let (_, plan) = e
            .call(
                Role::Admin,
                Method::GET,
                &format!("/v1/requests/{id}/plan"),
                None,
            )
            .await;
        for d in plan["plan"]["datasets"].as_array().unwrap() {
            let caption = format!("Dataset {}", d["dataset"].as_str().unwrap());
            assert!(text.contains(&caption), "{caption}");
        }
    }

    /// A completed access request gets a link from its page: shown once, works once.
    async fn a_download_link_works_once(e: Env) {
        e.add("po@example.com", Role::PrivacyOfficer).await;
        let po = e.sign_in("po@example.com").await;
        e.start_worker("console-test");
        let id = e
            .request(json!({"kind": "access", "identities": {"email": LUIS}}))
            .await;
        e.wait_for(&id, "completed").await;
        let page = e
            .get(&format!("/console/requests/{id}"), Some(&po))
            .await
            .text();
        assert!(page.contains("action-link"), "{page}");
        let r = e
            .post(
                &format!("/console/requests/{id}/download-link"),
                &format!("{SESSION}={}", po.cookie),
                &[("csrf", &po.csrf)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let text = r.text();
        let at = text.find("/public/exports/").expect("the link");
        let path: String = text[at..]
            .chars()
            .take_while(|c| *c != '<' && *c != '"')
            .collect();
        let first = e.post(&path, "", &[]).await;
        assert_eq!(first.status, StatusCode::OK);
        assert!(first.body.starts_with(b"PK"));
        let second = e.post(&path, "", &[]).await;
        assert_eq!(second.status, StatusCode::GONE);
        // Reloading the page does not show it again.
        let again = e
            .get(&format!("/console/requests/{id}"), Some(&po))
            .await
            .text();
        assert!(!again.contains(&path));
    }

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
        each_action_changes_the_state,
        refusals_change_nothing,
        a_reason_is_required,
        the_preview_shows_the_plan,
        a_download_link_works_once,
    );
}

/// The pages beyond requests: people, the declaration, the notice's versions, the record,
/// the audit log and administration; and every console route against every role.
mod pages {
    use super::*;

    /// Every console route, as the OpenAPI document lists it, with a path to try and the
    /// roles that get the page (the others get 403); POST routes are tried without their
    /// CSRF token, which every role gets refused.
    const ROUTES: &[(&str, &str, &[Role])] = &[
        ("/console", "/console", ALL),
        ("/console/console.css", "/console/console.css", ALL),
        ("/console/sign-in", "/console/sign-in", ALL),
        // Single sign-on is not configured here: both answer their page without a session.
        ("/console/sign-in/oidc", "/console/sign-in/oidc", ALL),
        (
            "/console/sign-in/oidc/callback",
            "/console/sign-in/oidc/callback",
            ALL,
        ),
        ("/console/requests", "/console/requests", ALL),
        ("/console/requests/{id}", "/console/requests/req_none", ALL),
        (
            "/console/people",
            "/console/people?q=ana%40example.com",
            PERSONAL,
        ),
        ("/console/declaration", "/console/declaration", ALL),
        (
            "/console/declaration/{section}",
            "/console/declaration/purposes",
            ALL,
        ),
        ("/console/notice", "/console/notice", ALL),
        ("/console/notice/{version}", "/console/notice/none", ALL),
        (
            "/console/notice-diff",
            "/console/notice-diff?from=a&to=b",
            ALL,
        ),
        ("/console/record", "/console/record?format=csv", ALL),
        ("/console/audit", "/console/audit", PERSONAL),
        ("/console/admin", "/console/admin", ADMIN),
    ];
    const POSTS: &[&str] = &[
        "/console/sign-out",
        "/console/sign-out-everywhere",
        "/console/requests/{id}/actions/{action}",
        "/console/requests/{id}/download-link",
        "/console/audit/verify",
        "/console/admin/staff",
        "/console/admin/staff/disable",
        "/console/admin/keys",
        "/console/admin/keys/revoke",
    ];
    const ALL: &[Role] = &[Role::Admin, Role::PrivacyOfficer, Role::SupportAgent];
    const PERSONAL: &[Role] = &[Role::Admin, Role::PrivacyOfficer];
    const ADMIN: &[Role] = &[Role::Admin];

    async fn signed_in_as(e: &Env, role: Role) -> Session {
        let email = format!("{}@example.com", role.as_str().replace('_', "-"));
        e.add(&email, role).await;
        e.sign_in(&email).await
    }

    /// The matrix: each route of the document is in it; each role gets what it may have;
    /// a POST without the session's token changes nothing for anyone.
    async fn every_route_answers_every_role_as_documented(e: Env) {
        let (_, doc) = e
            .call(Role::Admin, Method::GET, "/v1/openapi.json", None)
            .await;
        let mut documented: Vec<String> = doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|p| p.starts_with("/console"))
            .cloned()
            .collect();
        documented.sort();
        let mut listed: Vec<String> = ROUTES
            .iter()
            .map(|(p, _, _)| p.to_string())
            .chain(POSTS.iter().map(|p| p.to_string()))
            .collect();
        listed.sort();
        listed.dedup();
        assert_eq!(documented, listed, "every console route is in the matrix");
        for role in ALL {
            let s = signed_in_as(&e, *role).await;
            for (route, path, allowed) in ROUTES {
                let r = e.get(path, Some(&s)).await;
                let expected_ok = allowed.contains(role);
                if expected_ok {
                    assert!(
                        matches!(r.status, StatusCode::OK | StatusCode::NOT_FOUND),
                        "{route} as {role:?}: {}",
                        r.status
                    );
                } else {
                    assert_eq!(r.status, StatusCode::FORBIDDEN, "{route} as {role:?}");
                    assert!(!r.text().contains("ana@example.com"), "{route}");
                }
                if r.header(header::CONTENT_TYPE)
                    .is_some_and(|t| t.starts_with("text/html"))
                {
                    assert!(r.body.len() < 100_000, "{route}: {} bytes", r.body.len());
                    assert!(
                        r.header(header::CONTENT_SECURITY_POLICY).is_some(),
                        "{route}"
                    );
                }
            }
            let before = e.state.store.audit_records(0, 10_000).await.unwrap().len();
            for route in POSTS {
                let path = route
                    .replace("{id}", "req_none")
                    .replace("{action}", "approve");
                let r = e
                    .post(
                        &path,
                        &format!("{SESSION}={}", s.cookie),
                        &[("email", "x@example.com")],
                    )
                    .await;
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{route} as {role:?}");
            }
            let after = e.state.store.audit_records(0, 10_000).await.unwrap().len();
            assert_eq!(before, after, "a refused form writes nothing");
            assert!(e.signed_in(&s).await, "a refused sign-out signs nobody out");
        }
        // Without a session, every page but sign-in and the style sheet sends to sign-in.
        for (route, path, _) in ROUTES {
            let r = e.get(path, None).await;
            if !route.starts_with("/console/sign-in") && *route != "/console/console.css" {
                assert_eq!(r.status, StatusCode::SEE_OTHER, "{route}");
            }
        }
    }

    /// A person found by the identity their request names and by their ledger subject:
    /// their requests, the decision for each purpose with its reason, the history with
    /// receipts; the lookup is audited.
    async fn a_person_is_found_with_requests_and_consent(e: Env) {
        let (s, r) = e
            .call(
                Role::Admin,
                Method::POST,
                "/v1/requests",
                Some(json!({"kind": "access", "identities": {"email": "Ana.Lopez@example.com"}})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        let id = r["id"].as_str().unwrap().to_string();
        e.call(
            Role::Admin,
            Method::POST,
            "/v1/requests",
            Some(json!({"kind": "access", "identities": {"email": "ana.lopez@example.com.evil"}})),
        )
        .await;
        let (s, r) = e
            .call(
                Role::Admin,
                Method::POST,
                "/v1/consent",
                Some(json!({"subject": "cust-42", "method": "form", "choices": [{"purpose": "newsletter", "state": "given"}]})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        let po = signed_in_as(&e, Role::PrivacyOfficer).await;
        let page = e
            .get("/console/people?q=ana.lopez%40EXAMPLE.com", Some(&po))
            .await;
        assert_eq!(page.status, StatusCode::OK);
        let text = page.text();
        assert!(text.contains(&id), "{text}");
        assert!(
            !text.contains("example.com.evil"),
            "only the whole address matches"
        );
        assert!(text.contains("The consent ledger knows no subject"));
        let page = e.get("/console/people?q=cust-42", Some(&po)).await.text();
        assert!(page.contains("id=\"decisions\""), "{page}");
        assert!(page.contains("New releases newsletter"));
        assert!(page.contains("consent given"), "{page}");
        assert!(page.contains("id=\"consent-history\""));
        assert!(page.contains("#1 "), "the receipt's number: {page}");
        let reads: Vec<String> = e
            .state
            .store
            .audit_records(0, 10_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.actor.starts_with("staff:"))
            .map(|r| r.action)
            .collect();
        assert!(reads.iter().any(|a| a == "request.read"), "{reads:?}");
        assert!(reads.iter().any(|a| a == "consent.read"), "{reads:?}");
    }

    /// The declaration's pages, its findings, the record's downloads, and the notice's
    /// versions compared: a version published with another category reads as material.
    async fn the_declaration_notice_and_record_are_pages(e: Env) {
        let s = signed_in_as(&e, Role::SupportAgent).await;
        let overview = e.get("/console/declaration", Some(&s)).await.text();
        assert!(overview.contains("id=\"check-summary\""), "{overview}");
        for (section, shown) in [
            ("purposes", "Customer accounts and orders"),
            ("categories", "contact.email"),
            ("recipients", "Purposes"),
            ("transfers", "Transfers"),
            ("datasets", "Connection from the environment variable"),
        ] {
            let r = e
                .get(&format!("/console/declaration/{section}"), Some(&s))
                .await;
            assert_eq!(r.status, StatusCode::OK, "{section}");
            assert!(r.text().contains(shown), "{section}: {}", r.text());
        }
        let csv = e.get("/console/record?format=csv", Some(&s)).await;
        assert!(
            csv.header(header::CONTENT_TYPE)
                .unwrap()
                .starts_with("text/csv")
        );
        assert!(csv.text().contains("Customer accounts and orders"));
        let xlsx = e.get("/console/record?format=xlsx", Some(&s)).await;
        assert_eq!(&xlsx.body[..2], b"PK");
        let html = e.get("/console/record", Some(&s)).await;
        assert!(
            html.header(header::CONTENT_SECURITY_POLICY)
                .unwrap()
                .contains("default-src 'none'")
        );
        // The page of versions records the running one.
        let notices = e.get("/console/notice", Some(&s)).await.text();
        let versions = e.state.store.notice_versions().await.unwrap();
        assert_eq!(versions.len(), 1);
        let current = versions[0].version.clone();
        assert!(notices.contains(&current));
        let published = e.get(&format!("/console/notice/{current}"), Some(&s)).await;
        assert!(published.text().contains("<h1"), "the notice as published");
        // A later declaration: one more category for a purpose.
        let stored = e.state.store.notice(&current).await.unwrap().unwrap();
        let mut doc: serde_json::Value = serde_json::from_str(&stored.declaration).unwrap();
        doc["purposes"][0]["categories"]
            .as_array_mut()
            .unwrap()
            .push(json!("location.precise"));
        let text = doc.to_string();
        e.state
            .store
            .publish_notice(
                &pledge_store::notices::NewNotice {
                    version: "0123456789ab",
                    digest: "sha256:0123",
                    effective_date: None,
                    declaration: &text,
                    html: "<p>later</p>",
                },
                "test",
                e.now() + 60,
            )
            .await
            .unwrap();
        let diff = e
            .get(
                &format!("/console/notice-diff?from={current}&to=0123456789ab"),
                Some(&s),
            )
            .await;
        assert_eq!(diff.status, StatusCode::OK, "{}", diff.text());
        let text = diff.text();
        let material = &text[text.find("material-h").unwrap()..text.find("editorial-h").unwrap()];
        assert!(material.contains("precise"), "{text}");
        let same = e
            .get(
                &format!("/console/notice-diff?from={current}&to={current}"),
                Some(&s),
            )
            .await;
        assert!(same.text().contains("id=\"no-change\""));
    }

    /// The log filtered by actor and action; the button walks the chains and names the
    /// first broken record after someone edits one.
    async fn the_audit_page_filters_and_names_the_first_broken_record(e: Env) {
        let admin = signed_in_as(&e, Role::Admin).await;
        e.call(
            Role::Admin,
            Method::POST,
            "/v1/requests",
            Some(json!({"kind": "access", "identities": {"email": "ana@example.com"}})),
        )
        .await;
        let page = e
            .get("/console/audit?action=staff.", Some(&admin))
            .await
            .text();
        assert!(page.contains("staff.signed_in"), "{page}");
        assert!(!page.contains("request.created"));
        let page = e
            .get("/console/audit?actor=key%3A", Some(&admin))
            .await
            .text();
        assert!(page.contains("request.created"), "{page}");
        assert!(!page.contains("staff.signed_in"));
        let bad = e
            .get("/console/audit?from=yesterday", Some(&admin))
            .await
            .text();
        assert!(bad.contains("from `yesterday`"));
        let cookies = format!("{SESSION}={}", admin.cookie);
        let ok = e
            .post("/console/audit/verify", &cookies, &[("csrf", &admin.csrf)])
            .await;
        assert_eq!(ok.status, StatusCode::OK);
        assert!(ok.text().contains("Audit log: "), "{}", ok.text());
        assert!(ok.text().contains("intact"));
        // Someone who can write the store, past its triggers, edits a record.
        let store = &e.state.store;
        match store.backend() {
            pledge_store::Backend::Sqlite => {
                store.execute_raw("DROP TRIGGER audit_log_no_update").await
            }
            pledge_store::Backend::Postgres => {
                store
                    .execute_raw("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
                    .await
            }
        }
        .unwrap();
        store
            .execute_raw("UPDATE audit_log SET actor = 'someone' WHERE seq = 2")
            .await
            .unwrap();
        let broken = e
            .post("/console/audit/verify", &cookies, &[("csrf", &admin.csrf)])
            .await;
        assert!(
            broken.text().contains("broken at record 2"),
            "{}",
            broken.text()
        );
        let dashboard = e.get("/console", Some(&admin)).await.text();
        assert!(dashboard.contains("broken at record 2"), "{dashboard}");
    }

    /// An admin adds an account (its password shown once signs in), creates a key (shown
    /// once, it works), revokes it (refused at once) and disables the account.
    async fn an_admin_manages_accounts_and_keys(e: Env) {
        let admin = signed_in_as(&e, Role::Admin).await;
        let cookies = format!("{SESSION}={}", admin.cookie);
        let r = e
            .post(
                "/console/admin/staff",
                &cookies,
                &[
                    ("csrf", &admin.csrf),
                    ("email", "new@example.com"),
                    ("name", "New One"),
                    ("role", "support_agent"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let text = r.text();
        let secret = |text: &str| {
            let at = text.find("id=\"secret\">").unwrap() + "id=\"secret\">".len();
            text[at..at + text[at..].find('<').unwrap()].to_string()
        };
        let password = secret(&text);
        let signed = e.try_sign_in("new@example.com", &password).await;
        assert_eq!(signed.status, StatusCode::SEE_OTHER);
        let again = e
            .post(
                "/console/admin/staff",
                &cookies,
                &[
                    ("csrf", &admin.csrf),
                    ("email", "new@example.com"),
                    ("name", "Twice"),
                    ("role", "admin"),
                ],
            )
            .await;
        assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
        let r = e
            .post(
                "/console/admin/keys",
                &cookies,
                &[
                    ("csrf", &admin.csrf),
                    ("role", "service"),
                    ("label", "shop backend"),
                ],
            )
            .await;
        let key = secret(&r.text());
        let id = {
            let t = r.text();
            let at = t.find("Created key ").unwrap() + "Created key ".len();
            t[at..at + t[at..].find(' ').unwrap()].to_string()
        };
        let decide = |key: String| {
            let e = &e;
            async move {
                let req = Request::builder()
                    .method(Method::POST)
                    .uri("/v1/decisions")
                    .header(header::AUTHORIZATION, format!("Bearer {key}"))
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(
                        json!({"subject": "cust-1", "purpose": "newsletter"}).to_string(),
                    ))
                    .unwrap();
                e.send(req).await.status
            }
        };
        assert_eq!(decide(key.clone()).await, StatusCode::OK);
        let r = e
            .post(
                "/console/admin/keys/revoke",
                &cookies,
                &[("csrf", &admin.csrf), ("id", &id)],
            )
            .await;
        assert!(r.text().contains("Revoked key"), "{}", r.text());
        assert_eq!(decide(key).await, StatusCode::UNAUTHORIZED);
        let r = e
            .post(
                "/console/admin/staff/disable",
                &cookies,
                &[("csrf", &admin.csrf), ("email", "admin@example.com")],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "not one's own");
        let r = e
            .post(
                "/console/admin/staff/disable",
                &cookies,
                &[("csrf", &admin.csrf), ("email", "new@example.com")],
            )
            .await;
        assert!(r.text().contains("Disabled new@example.com"));
        let page = e.get("/console/admin", Some(&admin)).await.text();
        assert!(page.contains("id=\"settings\""));
        assert!(!page.contains("smtp://"), "no secret among the settings");
        let actions = e.actions().await;
        for a in [
            "staff.created",
            "key.created",
            "key.revoked",
            "staff.disabled",
        ] {
            assert!(actions.iter().any(|x| x == a), "{a}");
        }
    }

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
        every_route_answers_every_role_as_documented,
        a_person_is_found_with_requests_and_consent,
        the_declaration_notice_and_record_are_pages,
        the_audit_page_filters_and_names_the_first_broken_record,
        an_admin_manages_accounts_and_keys,
    );
}
