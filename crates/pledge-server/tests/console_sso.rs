//! Single sign-on to the console with a real OpenID Connect provider: `oidc-provider` (npm,
//! run by `scripts/oidc-provider.mjs`, started by `scripts/test.sh`: [`pledge_testkit::OIDC_ISSUER`])
//! in front of a headless Chromium driven through ChromeDriver. The provider's development
//! login form takes any password; the login name typed is the address it vouches for.
//!
//! The ID token's checks one by one (audience, nonce, signature, times) are unit tests of
//! `pledge_server::oidc::jwt`, with keys made on the spot.

use pledge_server::Config;
use pledge_server::oidc::{OidcConfig, OidcSettings};
use pledge_store::Role;
use pledge_store::staff::NewStaff;
use pledge_testkit::webdriver::Browser;
use serde_json::json;

mod common;
use common::TestApp;

/// The browser, the provider's issuer and axe-core's script, or `None` when the test is
/// skipped (outside CI).
fn browser_and_provider(test: &str) -> Option<(Browser, String, String)> {
    let axe = pledge_testkit::require_as(test, pledge_testkit::AXE, pledge_testkit::axe())?;
    let axe = std::fs::read_to_string(&axe).expect("axe-core's script");
    let issuer = pledge_testkit::require_as(
        test,
        pledge_testkit::OIDC_ISSUER,
        pledge_testkit::oidc_issuer(),
    )?;
    let chromium =
        pledge_testkit::require_as(test, pledge_testkit::CHROMIUM, pledge_testkit::chromium())?;
    let driver = pledge_testkit::require_as(
        test,
        pledge_testkit::CHROMEDRIVER,
        pledge_testkit::chromedriver(),
    )?;
    let browser = Browser::start(&driver, &chromium).expect("ChromeDriver and Chromium start");
    Some((browser, issuer, axe))
}

/// No serious or critical accessibility violation in the page shown.
fn accessible(b: &Browser, axe: &str, page: &str) {
    let found = b.accessibility_violations(axe).unwrap();
    assert!(found.is_empty(), "{page}: {found:#?}");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A listening console with the test provider configured, and Ana's support agent account.
async fn console(name: &str, issuer: &str) -> TestApp {
    let issuer = issuer.to_string();
    let app = TestApp::builder(name)
        .config(Config {
            workers: 0,
            ..Config::default()
        })
        .listen()
        .configure_at(move |c, addr| {
            c.console_oidc = Some(
                OidcConfig::parse(OidcSettings {
                    issuer: Some(issuer),
                    client_id: Some(pledge_testkit::OIDC_CLIENT_ID.into()),
                    client_secret: Some(pledge_testkit::OIDC_CLIENT_SECRET.into()),
                    base_url: Some(format!("http://{addr}")),
                    name: Some("Test SSO".into()),
                    ..OidcSettings::default()
                })
                .unwrap(),
            );
        })
        .spawn()
        .await;
    app.state
        .store
        .create_staff(
            NewStaff {
                email: "ana@example.com",
                name: "Ana Lima",
                role: Role::SupportAgent,
                password: "a long staff password",
            },
            "test",
            app.state.now(),
        )
        .await
        .unwrap();
    app
}

/// Waits until `script` returns true; on time-out, fails with where the browser is and what
/// it shows.
fn wait(b: &Browser, what: &str, script: &str) {
    if let Err(e) = b.wait_for(what, script) {
        let at = b.run("return location.href");
        let shown = b.run("return document.documentElement.outerHTML");
        panic!("{e}; the browser is at {at:?}, showing {shown:?}");
    }
}

/// Clicks the field `css` and types `text` into it, key by key.
fn type_into(b: &Browser, css: &str, text: &str) {
    let field = b.find(css).unwrap();
    b.click(&field).unwrap();
    let keys: Vec<String> = text.chars().map(String::from).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    b.press(&keys).unwrap();
}

/// From the console's sign-in page, through the button, to the provider's login form. The
/// browser's cookies are cleared first: the provider would otherwise remember who signed in
/// last.
fn open_provider_login(b: &Browser, base: &str) {
    b.cdp("Network.clearBrowserCookies", json!({})).unwrap();
    b.goto(&format!("{base}/console/sign-in")).unwrap();
    wait(
        b,
        "the sign-in page with its single sign-on button",
        "return document.getElementById('sign-in-sso') && document.getElementById('sign-in-sso').textContent === 'Sign in with Test SSO'",
    );
    b.click(&b.find("#sign-in-sso").unwrap()).unwrap();
    wait(
        b,
        "the provider's login form",
        "return !!document.querySelector('input[name=login]')",
    );
}

/// Types `login` and a password into the provider's login form and sends it; then, as a
/// native client's every authorization has one, confirms the consent screen.
fn sign_in_at_provider(b: &Browser, login: &str) {
    type_into(b, "input[name=login]", login);
    type_into(b, "input[name=password]", "any password at all");
    b.click(&b.find("button[type=submit]").unwrap()).unwrap();
    wait(
        b,
        "the provider's consent screen, or the console",
        "return document.readyState === 'complete' && (!!document.querySelector('input[name=prompt][value=consent]') || location.pathname.startsWith('/console'))",
    );
    let consent = b
        .run("return !!document.querySelector('input[name=prompt][value=consent]')")
        .unwrap();
    if consent == json!(true) {
        b.click(&b.find("button[type=submit]").unwrap()).unwrap();
    }
}

/// The console's audit records with `action`, oldest first.
async fn audit(app: &TestApp, action: &str) -> Vec<serde_json::Value> {
    app.state
        .store
        .audit_records(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action == action)
        .map(|r| r.detail)
        .collect()
}

#[test]
fn a_known_staff_address_signs_in_by_sso_with_its_accounts_role() {
    let Some((b, issuer, axe)) =
        browser_and_provider("a_known_staff_address_signs_in_by_sso_with_its_accounts_role")
    else {
        return;
    };
    let runtime = runtime();
    let app = runtime.block_on(console("console-sso-known", &issuer));
    let base = app.base_url();
    b.goto(&format!("{base}/console/sign-in")).unwrap();
    wait(
        &b,
        "the sign-in page",
        "return !!document.getElementById('sign-in-sso') && !!document.getElementById('password')",
    );
    accessible(&b, &axe, "the sign-in page with single sign-on");
    open_provider_login(&b, &base);
    // The address as the provider has it, in another case: addresses compare without case.
    sign_in_at_provider(&b, "Ana@Example.com");
    wait(
        &b,
        "the dashboard",
        "return location.pathname === '/console' && document.querySelector('h1') && document.querySelector('h1').textContent === 'Dashboard'",
    );
    let shown = b
        .run("return [document.querySelector('.who .name').textContent, document.querySelector('.who .role').textContent, document.cookie]")
        .unwrap();
    // The session cookie (and the flow's) are HttpOnly: the page cannot read them.
    assert_eq!(shown, json!(["Ana Lima", "support agent", ""]));
    runtime.block_on(async {
        let account = app.state.store.list_staff().await.unwrap()[0].id.0.clone();
        assert_eq!(
            audit(&app, "staff.signed_in").await,
            [json!({"account": account, "method": "oidc", "issuer": issuer})]
        );
    });
    // The session is an ordinary one: signing out ends it.
    b.click(&b.find(".who button").unwrap()).unwrap();
    wait(
        &b,
        "the sign-in page again",
        "return location.pathname === '/console/sign-in'",
    );
    b.goto(&format!("{base}/console")).unwrap();
    wait(
        &b,
        "signed out",
        "return location.pathname === '/console/sign-in'",
    );
    drop(app);
}

#[test]
fn an_address_without_a_staff_account_is_refused() {
    let Some((b, issuer, axe)) =
        browser_and_provider("an_address_without_a_staff_account_is_refused")
    else {
        return;
    };
    let runtime = runtime();
    let app = runtime.block_on(console("console-sso-unknown", &issuer));
    let base = app.base_url();
    open_provider_login(&b, &base);
    sign_in_at_provider(&b, "mallory@example.com");
    wait(
        &b,
        "the refusal",
        "return location.pathname === '/console/sign-in/oidc/callback' && document.querySelector('h1') && document.querySelector('h1').textContent === 'No staff account'",
    );
    accessible(&b, &axe, "the refusal");
    let text = b
        .run("return document.querySelector('main').textContent")
        .unwrap();
    assert!(
        text.as_str()
            .unwrap()
            .contains("as mallory@example.com, but no enabled staff account"),
        "{text}"
    );
    // Nobody is signed in.
    b.goto(&format!("{base}/console")).unwrap();
    wait(
        &b,
        "still signed out",
        "return location.pathname === '/console/sign-in'",
    );
    runtime.block_on(async {
        assert!(audit(&app, "staff.signed_in").await.is_empty());
        assert_eq!(
            audit(&app, "staff.sign_in_failed").await,
            [json!({
                "email_sha256": pledge_store::audit::sha256_hex(b"mallory@example.com"),
                "why": "unknown",
                "method": "oidc",
            })]
        );
        assert_eq!(app.state.store.list_staff().await.unwrap().len(), 1);
    });

    // An address the provider has not verified opens no account, not even an existing one.
    open_provider_login(&b, &base);
    sign_in_at_provider(&b, "unverified-ana@example.com");
    wait(
        &b,
        "the refusal of an unverified address",
        "return location.pathname === '/console/sign-in/oidc/callback' && document.querySelector('main').textContent.includes('has not verified your e-mail address')",
    );
    runtime.block_on(async {
        assert!(audit(&app, "staff.signed_in").await.is_empty());
    });
    drop(app);
}

/// The flow cookie the browser holds for the callback (HttpOnly: read through DevTools).
fn flow_cookie(b: &Browser, base: &str) -> serde_json::Value {
    let cookies = b
        .cdp(
            "Network.getCookies",
            json!({"urls": [format!("{base}/console/sign-in/oidc/callback")]}),
        )
        .unwrap();
    cookies["cookies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "__Secure-pledge-oidc")
        .cloned()
        .expect("the flow cookie is set")
}

#[test]
fn a_tampered_state_is_refused() {
    let Some((b, issuer, _)) = browser_and_provider("a_tampered_state_is_refused") else {
        return;
    };
    let runtime = runtime();
    let app = runtime.block_on(console("console-sso-state", &issuer));
    let base = app.base_url();
    open_provider_login(&b, &base);
    let cookie = flow_cookie(&b, &base);
    assert_eq!(
        (
            &cookie["httpOnly"],
            &cookie["secure"],
            &cookie["sameSite"],
            &cookie["path"]
        ),
        (
            &json!(true),
            &json!(true),
            &json!("Lax"),
            &json!("/console/sign-in/oidc")
        )
    );
    // Another state in the flow cookie: the provider's answer then carries a state that is
    // not the one this browser's flow has.
    let value = cookie["value"].as_str().unwrap().to_string();
    let mut parts: Vec<String> = value.split('.').map(str::to_string).collect();
    assert_eq!(parts.len(), 5, "{value}");
    let state = parts[2].clone();
    parts[2] = format!(
        "{}{}",
        if state.starts_with('A') { "B" } else { "A" },
        &state[1..]
    );
    b.cdp(
        "Network.setCookie",
        json!({
            "name": "__Secure-pledge-oidc", "value": parts.join("."),
            "url": format!("{base}/console/sign-in/oidc"), "path": "/console/sign-in/oidc",
            "secure": true, "httpOnly": true, "sameSite": "Lax",
        }),
    )
    .unwrap();
    sign_in_at_provider(&b, "ana@example.com");
    wait(
        &b,
        "the refusal",
        "return location.pathname === '/console/sign-in/oidc/callback' && document.querySelector('main').textContent.includes('does not belong to the sign-in this browser started')",
    );
    // The refusal used the flow up: its cookie is gone.
    let left = b
        .cdp(
            "Network.getCookies",
            json!({"urls": [format!("{base}/console/sign-in/oidc/callback")]}),
        )
        .unwrap();
    let flows = left["cookies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == "__Secure-pledge-oidc")
        .count();
    assert_eq!(flows, 0, "{left}");
    b.goto(&format!("{base}/console")).unwrap();
    wait(
        &b,
        "still signed out",
        "return location.pathname === '/console/sign-in'",
    );
    runtime.block_on(async {
        assert!(audit(&app, "staff.signed_in").await.is_empty());
    });

    // The provider's own refusal (a cancelled sign-in) is a page too; and an answer without
    // the flow cookie (another browser's, or a late one) finds no flow.
    open_provider_login(&b, &base);
    let cookie = flow_cookie(&b, &base);
    let value = cookie["value"].as_str().unwrap().to_string();
    let state = value.split('.').nth(2).unwrap().to_string();
    let callback = format!("/console/sign-in/oidc/callback?error=access_denied&state={state}");
    let with_cookie = format!("__Secure-pledge-oidc={value}");
    let (cancelled, without) = runtime.block_on(async {
        let cancelled = app
            .request(
                axum::http::Method::GET,
                &callback,
                None,
                None,
                &[("cookie", &with_cookie)],
            )
            .await;
        let without = app
            .request(axum::http::Method::GET, &callback, None, None, &[])
            .await;
        (cancelled, without)
    });
    assert_eq!(cancelled.status, 403, "{}", cancelled.text());
    assert!(
        cancelled.text().contains("access_denied"),
        "{}",
        cancelled.text()
    );
    assert!(
        cancelled
            .header(axum::http::header::SET_COOKIE)
            .is_some_and(|c| c.starts_with("__Secure-pledge-oidc=;") && c.contains("Max-Age=0"))
    );
    assert_eq!(without.status, 400, "{}", without.text());
    assert!(
        without.text().contains("did not start the sign-in"),
        "{}",
        without.text()
    );
    drop(app);
}

/// With `password_sign_in = false` the sign-in page has the provider's button only, and a
/// password posted anyway is refused before anything is checked. No provider is asked: the
/// page needs none.
#[tokio::test]
async fn passwords_can_be_turned_off() {
    let app = TestApp::builder("console-sso-passwords-off")
        .configure(|c| {
            c.console_oidc = Some(
                OidcConfig::parse(OidcSettings {
                    issuer: Some("https://login.example.com".into()),
                    client_id: Some("pledge-console".into()),
                    client_secret: Some("not used".into()),
                    base_url: Some("https://privacy.example.com".into()),
                    password_sign_in: Some(false),
                    ..OidcSettings::default()
                })
                .unwrap(),
            );
        })
        .without_worker()
        .spawn()
        .await;
    let page = app
        .request(axum::http::Method::GET, "/console/sign-in", None, None, &[])
        .await;
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(
        html.contains(r#"href="/console/sign-in/oidc">Sign in with login.example.com</a>"#),
        "{html}"
    );
    assert!(!html.contains("type=\"password\""), "{html}");
    let token = "ab".repeat(32);
    let cookie = format!("__Secure-pledge-sign-in={token}");
    let form = format!("csrf={token}&email=ana%40example.com&password=a+long+staff+password");
    let req = axum::http::Request::post("/console/sign-in")
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(form))
        .unwrap();
    let r = app.send(req).await;
    assert_eq!(r.status, 403);
    assert!(
        r.text().contains("Password sign-in is turned off"),
        "{}",
        r.text()
    );
    assert!(r.header(axum::http::header::SET_COOKIE).is_none());
    // Without single sign-on configured, its routes say so.
    let plain = TestApp::builder("console-sso-none")
        .without_worker()
        .spawn()
        .await;
    for path in [
        "/console/sign-in/oidc",
        "/console/sign-in/oidc/callback?code=x&state=y",
    ] {
        let r = plain
            .request(axum::http::Method::GET, path, None, None, &[])
            .await;
        assert_eq!(r.status, 404, "{path}");
        assert!(r.text().contains("Single sign-on is not set up"), "{path}");
    }
    let page = plain
        .request(axum::http::Method::GET, "/console/sign-in", None, None, &[])
        .await;
    assert!(!page.text().contains("sign-in-sso"));
}
