//! The staff console in a real headless Chromium, driven through ChromeDriver: the sign-in
//! form typed into and sent, the session cookie kept over plain HTTP on 127.0.0.1 (a secure
//! context for Chromium, so `Secure` and the `__Secure-` prefix hold), the dashboard shown at
//! desktop width and at 375 px, with screenshots of both kept under the target directory.

use base64::Engine;
use pledge_server::Config;
use pledge_store::Role;
use pledge_store::staff::NewStaff;
use pledge_testkit::webdriver::Browser;
use serde_json::json;
use std::path::PathBuf;

mod common;
use common::TestApp;

fn browser(test: &str) -> Option<Browser> {
    let chromium =
        pledge_testkit::require_as(test, pledge_testkit::CHROMIUM, pledge_testkit::chromium())?;
    let driver = pledge_testkit::require_as(
        test,
        pledge_testkit::CHROMEDRIVER,
        pledge_testkit::chromedriver(),
    )?;
    Some(Browser::start(&driver, &chromium).expect("ChromeDriver and Chromium start"))
}

/// Where the screenshots are kept: under the target directory, for a person to look at.
fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn screenshot(b: &Browser, name: &str) {
    let shot = b
        .cdp(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        )
        .unwrap();
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap())
        .unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    std::fs::write(screenshots().join(name), png).unwrap();
}

/// Clicks the field `css` and types `text` into it, key by key.
fn type_into(b: &Browser, css: &str, text: &str) {
    let field = b.find(css).unwrap();
    b.click(&field).unwrap();
    let keys: Vec<String> = text.chars().map(String::from).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    b.press(&keys).unwrap();
}

/// A runtime for a test that drives the browser from its own thread.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A listening server without workers (with the Chinook dataset when asked) and one staff
/// account `(email, name, role)` whose password is "a long staff password".
async fn console_app(name: &str, chinook: bool, staff: (&str, &str, Role)) -> TestApp {
    let mut builder = TestApp::builder(name);
    if chinook {
        builder = builder.chinook();
    }
    let app = builder
        .config(Config {
            workers: 0,
            ..Config::default()
        })
        .listen()
        .spawn()
        .await;
    let (email, name, role) = staff;
    app.state
        .store
        .create_staff(
            NewStaff {
                email,
                name,
                role,
                password: "a long staff password",
            },
            "test",
            app.state.now(),
        )
        .await
        .unwrap();
    app
}

#[test]
fn the_console_signs_in_and_shows_the_dashboard() {
    let Some(b) = browser("the_console_signs_in_and_shows_the_dashboard") else {
        return;
    };
    let runtime = runtime();
    let app = runtime.block_on(async {
        let app = console_app(
            "console-browser",
            false,
            ("ana@example.com", "Ana Lima", Role::PrivacyOfficer),
        )
        .await;
        for (kind, regime) in [("access", "gdpr"), ("erasure", "ccpa"), ("opt_out", "ccpa")] {
            let (status, body) = app
                .call(
                    Role::Admin,
                    axum::http::Method::POST,
                    "/v1/requests",
                    Some(json!({"kind": kind, "regime": regime, "identities": {"email": "luis@example.com"}})),
                )
                .await;
            assert!(status.is_success(), "{body}");
        }
        app
    });
    let base = app.base_url();

    // Not signed in: the console sends the browser to sign-in.
    b.goto(&format!("{base}/console")).unwrap();
    b.wait_for(
        "the sign-in page",
        "return location.pathname === '/console/sign-in' && !!document.getElementById('email')",
    )
    .unwrap();
    type_into(&b, "#email", "ana@example.com");
    type_into(&b, "#password", "a long staff password");
    b.click(&b.find("#sign-in").unwrap()).unwrap();
    b.wait_for(
        "the dashboard",
        "return location.pathname === '/console' && document.querySelector('h1') && document.querySelector('h1').textContent === 'Dashboard'",
    )
    .unwrap();
    let shown = b
        .run(
            "return [document.documentElement.lang, document.querySelectorAll('main').length,
                     document.querySelectorAll('nav').length, document.cookie,
                     getComputedStyle(document.body).fontFamily.length > 0,
                     document.getElementById('chain-state').textContent.includes('intact'),
                     document.querySelector('#counts-h .count').textContent];",
        )
        .unwrap();
    // The session cookie is HttpOnly: the page's script cannot read it. Two navigations:
    // the console's and the language switcher.
    assert_eq!(shown, json!(["en", 1, 2, "", true, true, "3"]));
    b.cdp(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
    )
    .unwrap();
    screenshot(&b, "dashboard-desktop.png");

    // At phone width nothing is wider than the window.
    b.cdp(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 375, "height": 740, "deviceScaleFactor": 1, "mobile": true}),
    )
    .unwrap();
    b.reload().unwrap();
    b.wait_for(
        "the dashboard at 375 px",
        "return document.readyState === 'complete' && innerWidth === 375",
    )
    .unwrap();
    let fits = b
        .run("return document.documentElement.scrollWidth <= innerWidth")
        .unwrap();
    assert_eq!(fits, json!(true));
    screenshot(&b, "dashboard-phone.png");

    // The list, and signing out through the header's form.
    b.goto(&format!("{base}/console/requests")).unwrap();
    b.wait_for(
        "the list",
        "return document.getElementById('found') && document.getElementById('found').textContent.startsWith('3 requests')",
    )
    .unwrap();
    let fits = b
        .run("return document.documentElement.scrollWidth <= innerWidth")
        .unwrap();
    assert_eq!(fits, json!(true));
    screenshot(&b, "requests-phone.png");
    b.click(&b.find(".who button").unwrap()).unwrap();
    b.wait_for(
        "the sign-in page again",
        "return location.pathname === '/console/sign-in'",
    )
    .unwrap();
    b.goto(&format!("{base}/console")).unwrap();
    b.wait_for(
        "signed out",
        "return location.pathname === '/console/sign-in'",
    )
    .unwrap();
    drop(app);
}

/// A privacy officer opens a request awaiting approval, reviews the dry run's preview on
/// its page, approves it with the page's form, and sees the new state.
#[test]
fn a_privacy_officer_reviews_the_preview_and_approves() {
    let Some(b) = browser("a_privacy_officer_reviews_the_preview_and_approves") else {
        return;
    };
    let runtime = runtime();
    let (app, id) = runtime.block_on(async {
        let app = console_app(
            "console-browser-approve",
            true,
            ("ana@example.com", "Ana Lima", Role::PrivacyOfficer),
        )
        .await;
        let (status, body) = app
            .call(
                Role::Admin,
                axum::http::Method::POST,
                "/v1/requests",
                Some(json!({"kind": "erasure", "identities": {"email": "luisg@embraer.com.br"}, "needs_approval": true})),
            )
            .await;
        assert!(status.is_success(), "{body}");
        let id = body["id"].as_str().unwrap().to_string();
        (app, id)
    });
    let base = app.base_url();
    b.goto(&format!("{base}/console/requests/{id}")).unwrap();
    b.wait_for(
        "the sign-in page",
        "return location.pathname === '/console/sign-in' && !!document.getElementById('email')",
    )
    .unwrap();
    type_into(&b, "#email", "ana@example.com");
    type_into(&b, "#password", "a long staff password");
    b.click(&b.find("#sign-in").unwrap()).unwrap();
    b.wait_for("the dashboard", "return location.pathname === '/console'")
        .unwrap();
    b.goto(&format!("{base}/console/requests/{id}")).unwrap();
    b.wait_for(
        "the request's page with its preview",
        "return document.getElementById('state') && document.getElementById('state').dataset.state === 'awaiting_approval' && document.querySelectorAll('#preview table.plan tbody tr').length > 0",
    )
    .unwrap();
    screenshot(&b, "request-preview.png");
    b.click(&b.find("#action-approve button").unwrap()).unwrap();
    b.wait_for(
        "the request approved",
        "return document.getElementById('state') && document.getElementById('state').dataset.state === 'in_progress' && !!document.getElementById('done')",
    )
    .unwrap();
    let state = runtime.block_on(async { app.state.store.get_request(&id).await.unwrap().state });
    assert_eq!(state.as_str(), "in_progress");
    drop(app);
}

/// Every page of the console, signed in as an admin (who sees them all), at desktop and
/// phone widths, checked with axe-core (WCAG 2.x A and AA rules and best practices): no
/// serious or critical violation, nothing wider than a phone's window, a screenshot of
/// each under the target directory (`console-screenshots/`).
#[test]
fn every_console_page_has_no_serious_accessibility_violation() {
    let test = "every_console_page_has_no_serious_accessibility_violation";
    let Some(b) = browser(test) else {
        return;
    };
    let Some(axe) = pledge_testkit::require_as(test, pledge_testkit::AXE, pledge_testkit::axe())
    else {
        return;
    };
    let axe = std::fs::read_to_string(&axe).expect("axe-core's script");
    let runtime = runtime();
    let app = runtime.block_on(async {
        let app = console_app(
            "console-browser-axe",
            true,
            ("ada@example.com", "Ada Admin", Role::Admin),
        )
        .await;
        let (status, body) = app
            .call(
                Role::Admin,
                axum::http::Method::POST,
                "/v1/requests",
                Some(json!({"kind": "access", "identities": {"email": "luisg@embraer.com.br"}, "needs_approval": true})),
            )
            .await;
        assert!(status.is_success(), "{body}");
        let (status, body) = app
            .call(
                Role::Admin,
                axum::http::Method::POST,
                "/v1/consent",
                Some(json!({"subject": "cust-1", "method": "form", "choices": [{"purpose": "newsletter", "state": "given"}]})),
            )
            .await;
        assert!(status.is_success(), "{body}");
        app
    });
    let base = app.base_url();
    b.goto(&format!("{base}/console/sign-in")).unwrap();
    b.wait_for(
        "the sign-in page",
        "return !!document.getElementById('email')",
    )
    .unwrap();
    let mut pages = vec![("sign-in".to_string(), format!("{base}/console/sign-in"))];
    type_into(&b, "#email", "ada@example.com");
    type_into(&b, "#password", "a long staff password");
    b.click(&b.find("#sign-in").unwrap()).unwrap();
    b.wait_for("the dashboard", "return location.pathname === '/console'")
        .unwrap();
    let request = runtime.block_on(async {
        app.state
            .store
            .browse_requests(&pledge_store::browse::RequestQuery {
                limit: 1,
                ..Default::default()
            })
            .await
            .unwrap()
            .requests[0]
            .id
            .clone()
    });
    for (name, path) in [
        ("dashboard", "/console".to_string()),
        ("requests", "/console/requests".to_string()),
        ("request", format!("/console/requests/{request}")),
        ("people", "/console/people?q=cust-1".to_string()),
        ("declaration", "/console/declaration".to_string()),
        ("purposes", "/console/declaration/purposes".to_string()),
        ("categories", "/console/declaration/categories".to_string()),
        ("recipients", "/console/declaration/recipients".to_string()),
        ("transfers", "/console/declaration/transfers".to_string()),
        ("datasets", "/console/declaration/datasets".to_string()),
        ("notice", "/console/notice".to_string()),
        ("audit", "/console/audit".to_string()),
        ("admin", "/console/admin".to_string()),
    ] {
        pages.push((name.to_string(), format!("{base}{path}")));
    }
    let mut found = Vec::new();
    for (width, height, device) in [(1280, 900, "desktop"), (375, 740, "phone")] {
        b.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": device == "phone"}),
        )
        .unwrap();
        for (name, url) in &pages {
            if name == "sign-in" {
                continue;
            }
            b.goto(url).unwrap();
            b.wait_for(name, "return document.readyState === 'complete'")
                .unwrap();
            assert_eq!(
                b.run("return document.querySelector('h1') !== null")
                    .unwrap(),
                json!(true),
                "{name}: signed in, with a heading"
            );
            if device == "phone" {
                let fits = b
                    .run("return document.documentElement.scrollWidth <= innerWidth + 1")
                    .unwrap();
                if fits != json!(true) {
                    found.push(format!("{name}: wider than a phone"));
                }
            }
            screenshot(&b, &format!("{name}-{device}.png"));
            for v in b.accessibility_violations(&axe).unwrap() {
                found.push(format!("{name} ({device}): {v}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "serious or critical accessibility violations, or pages too wide:\n{}",
        found.join("\n")
    );
    drop(app);
}

/// The console in French in the browser: the switcher's choice is kept from page to page,
/// `<html lang>` says so, and the pages pass axe-core as the English ones do.
#[test]
fn the_console_in_french_has_no_serious_accessibility_violation() {
    let test = "the_console_in_french_has_no_serious_accessibility_violation";
    let Some(b) = browser(test) else {
        return;
    };
    let Some(axe) = pledge_testkit::require_as(test, pledge_testkit::AXE, pledge_testkit::axe())
    else {
        return;
    };
    let axe = std::fs::read_to_string(&axe).expect("axe-core's script");
    let runtime = runtime();
    let (app, id) = runtime.block_on(async {
        let app = console_app(
            "console-browser-french",
            true,
            ("ana@example.com", "Ana Lima", Role::PrivacyOfficer),
        )
        .await;
        let (status, body) = app
            .call(
                Role::Admin,
                axum::http::Method::POST,
                "/v1/requests",
                Some(json!({"kind": "access", "identities": {"email": "luisg@embraer.com.br"}, "needs_approval": true})),
            )
            .await;
        assert!(status.is_success(), "{body}");
        let id = body["id"].as_str().unwrap().to_string();
        (app, id)
    });
    let base = app.base_url();
    // The sign-in page's switcher chooses French; the sign-in keeps it.
    b.goto(&format!("{base}/console/sign-in")).unwrap();
    b.wait_for(
        "the sign-in page",
        "return !!document.getElementById('email')",
    )
    .unwrap();
    b.click(&b.find("a[hreflang=fr]").unwrap()).unwrap();
    b.wait_for(
        "the sign-in page in French",
        "return document.documentElement.lang === 'fr' && !!document.getElementById('email')",
    )
    .unwrap();
    type_into(&b, "#email", "ana@example.com");
    type_into(&b, "#password", "a long staff password");
    b.click(&b.find("#sign-in").unwrap()).unwrap();
    b.wait_for(
        "the dashboard in French",
        "return location.pathname === '/console' && document.documentElement.lang === 'fr'",
    )
    .unwrap();
    let mut found = Vec::new();
    for (width, height, device) in [(1280, 900, "desktop"), (375, 740, "phone")] {
        b.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": device == "phone"}),
        )
        .unwrap();
        for (name, path) in [
            ("dashboard", "/console".to_string()),
            ("requests", "/console/requests".to_string()),
            ("request", format!("/console/requests/{id}")),
        ] {
            b.goto(&format!("{base}{path}")).unwrap();
            b.wait_for(name, "return document.readyState === 'complete'")
                .unwrap();
            assert_eq!(
                b.run("return document.documentElement.lang").unwrap(),
                json!("fr"),
                "{name}: in French"
            );
            assert_ne!(
                b.run("return document.querySelector('h1').textContent")
                    .unwrap(),
                json!(""),
                "{name}: a heading"
            );
            if device == "phone" {
                let fits = b
                    .run("return document.documentElement.scrollWidth <= innerWidth + 1")
                    .unwrap();
                if fits != json!(true) {
                    found.push(format!("{name}: wider than a phone"));
                }
            }
            screenshot(&b, &format!("{name}-fr-{device}.png"));
            for v in b.accessibility_violations(&axe).unwrap() {
                found.push(format!("{name} ({device}, fr): {v}"));
            }
        }
    }
    let title = b.run("return document.title").unwrap();
    assert!(title.as_str().unwrap().starts_with("Demande "), "{title}");
    assert!(
        found.is_empty(),
        "serious or critical accessibility violations, or pages too wide:\n{}",
        found.join("\n")
    );
    drop(app);
}
