//! The cookie banner (and the API docs page) in a real headless Chromium, driven through
//! ChromeDriver.
//!
//! Each test starts the real server (in process, on a random port, with a SQLite store) and
//! a second server for a shop's test page on another port, so the banner works across
//! origins as it does on a company's site. The page carries a tagged analytics script
//! (inline and from a file) and a tagged advertising script, each of which notes in
//! `window.ran` that it ran. The ledger is read back through the consent service.

use pledge_domain::consent::{ConsentState, Method as ConsentMethod, Target};
use pledge_lang::types::SubjectRef;
use pledge_server::Config;
use pledge_server::crypto::token;
use pledge_server::http::banner::Settings;
use pledge_testkit::webdriver::{Browser, keys};
use serde_json::{Value, json};

use std::time::Duration;

mod common;
use common::TestApp;

const SHOP: &str = include_str!("fixtures/banner/shop.toml");
const PAGE: &str = include_str!("fixtures/banner/page.html");
const LINK_KEY: &[u8] = b"a link key for browser tests, 32 bytes or more";

/// The servers of one test: Pledge (the harness's, listening) and the shop's page, on a
/// runtime of their own.
struct Site {
    pledge: String,
    page: String,
    app: TestApp,
    runtime: tokio::runtime::Runtime,
}

impl std::ops::Deref for Site {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// The browser, or `None` (skipped with the reason printed) where none is installed.
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

fn site(name: &str) -> Site {
    site_of(name, SHOP)
}

/// The servers for a declaration of the test's own.
fn site_of(name: &str, declaration: &str) -> Site {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (pledge, page, app) = runtime.block_on(async {
        let page_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let page_origin = format!("http://{}", page_listener.local_addr().unwrap());
        let app = TestApp::builder(&format!("browser-{name}"))
            .declaration("shop.toml", declaration)
            .keys(&[])
            .config(Config {
                workers: 0,
                ..Config::default()
            })
            .settings(Settings {
                link_key: LINK_KEY.to_vec(),
                origins: vec![page_origin.clone()],
                ..Settings::default()
            })
            .listen()
            .spawn()
            .await;
        let pledge = app.base_url();

        let html = PAGE.replace("PLEDGE_SERVER", &pledge);
        // The same page, far longer than the window: the banner must not scroll it.
        let long = html.replace(
            "</body>",
            "<div style=\"height: 6000px\"></div>\n<p id=\"end\">End</p>\n</body>",
        );
        // A request form on the company's own page, posting straight to Pledge.
        let form = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Your data</title></head><body>\n\
             <form method=\"post\" action=\"{pledge}/public/requests\">\n\
             <select name=\"kind\"><option value=\"access\">See my data</option></select>\n\
             <input type=\"email\" name=\"email\" id=\"email\" required>\n\
             <button type=\"submit\" id=\"send\">Send</button>\n</form></body></html>"
        );
        let shop = axum::Router::new()
            .route(
                "/form",
                axum::routing::get(move || {
                    let form = form.clone();
                    async move { axum::response::Html(form) }
                }),
            )
            .route(
                "/",
                axum::routing::get(move || {
                    let html = html.clone();
                    async move { axum::response::Html(html) }
                }),
            )
            .route(
                "/long",
                axum::routing::get(move || {
                    let long = long.clone();
                    async move { axum::response::Html(long) }
                }),
            )
            .route(
                "/analytics.js",
                axum::routing::get(|| async {
                    (
                        [(axum::http::header::CONTENT_TYPE, "text/javascript")],
                        "window.ran.analyticsFile = (window.ran.analyticsFile || 0) + 1;",
                    )
                }),
            );
        tokio::spawn(async move { axum::serve(page_listener, shop).await });
        (pledge, format!("{page_origin}/"), app)
    });
    Site {
        pledge,
        page,
        app,
        runtime,
    }
}

impl Site {
    /// The latest state the ledger holds for a target of the subject.
    fn ledger(&self, subject: &str, target: &Target) -> Option<(ConsentState, ConsentMethod)> {
        let subject: SubjectRef = subject.parse().unwrap();
        self.state
            .consent
            .current(&subject)
            .consents
            .iter()
            .find(|c| &c.target == target)
            .map(|c| (c.state, c.method))
    }

    /// Waits until the ledger holds `expected` for the target: the browser sends choices
    /// asynchronously.
    fn wait_for_ledger(&self, subject: &str, target: &Target, expected: ConsentState) {
        self.runtime.block_on(pledge_testkit::until(
            &format!("the ledger holds {expected:?} for {target:?} of {subject}"),
            Duration::from_secs(20),
            self.state.progress(),
            || async {
                (self.ledger(subject, target).map(|(s, _)| s) == Some(expected)).then_some(())
            },
        ));
    }
}

fn cookies(name: &str) -> Target {
    Target::Cookies(pledge_domain::consent::parse_cookie_category(name).unwrap())
}

/// What ran on the page: `{essential, analyticsInline, analyticsFile, advertising}`.
fn ran(b: &Browser) -> Value {
    b.run("return window.ran").unwrap()
}

/// The `src` of the advertising pixel, which waits for its category in `data-src`.
fn pixel(b: &Browser) -> Value {
    b.run("return document.getElementById('pixel').getAttribute('src')")
        .unwrap()
}

fn banner_shown(b: &Browser) {
    b.wait_for(
        "the banner",
        "var d = document.getElementById('pledge-banner'); return !!d && !d.hidden;",
    )
    .unwrap();
}

/// The ledger's name of this browser's visitor.
fn visitor(b: &Browser) -> String {
    let id = b
        .run("return JSON.parse(localStorage.getItem('pledge.subject'))")
        .unwrap();
    format!(
        "visitor:{}",
        id.as_str().expect("the banner kept a visitor id")
    )
}

/// Reloads and waits until the banner's script has started again.
fn reload(b: &Browser) {
    b.reload().unwrap();
    b.wait_for(
        "the banner script",
        "return !!window.Pledge && document.readyState === 'complete'",
    )
    .unwrap();
}

#[test]
fn accept_runs_analytics_and_withdrawing_stops_it() {
    let Some(b) = browser("accept_runs_analytics_and_withdrawing_stops_it") else {
        return;
    };
    let s = site("accept");
    b.goto(&s.page).unwrap();
    banner_shown(&b);

    // Nothing optional runs before a choice, and the advertising pixel is not loaded.
    assert_eq!(ran(&b), json!({"essential": true}));
    assert_eq!(pixel(&b), Value::Null);

    // The dialog is labelled, has the focus, and accepting and refusing look the same.
    let a11y = b
        .run(
            "var d = document.getElementById('pledge-banner');
             var title = document.getElementById(d.getAttribute('aria-labelledby'));
             return [d.getAttribute('role'), !!title && title.textContent.length > 0,
                     d.contains(document.activeElement)];",
        )
        .unwrap();
    assert_eq!(a11y, json!(["dialog", true, true]));
    let same = b
        .run(
            "var a = document.querySelector('[data-pledge-action=accept]');
             var r = document.querySelector('[data-pledge-action=reject]');
             var ca = getComputedStyle(a), cr = getComputedStyle(r);
             var ba = a.getBoundingClientRect(), br = r.getBoundingClientRect();
             return a.tagName === r.tagName && a.className === r.className
               && ca.backgroundColor === cr.backgroundColor && ca.color === cr.color
               && ca.fontSize === cr.fontSize && ca.fontWeight === cr.fontWeight
               && Math.abs(ba.width - br.width) < 1 && Math.abs(ba.height - br.height) < 1
               && ba.width > 0;",
        )
        .unwrap();
    assert_eq!(same, json!(true), "accept and reject differ in prominence");

    b.click(&b.find("[data-pledge-action=accept]").unwrap())
        .unwrap();
    b.wait_for(
        "the analytics scripts",
        "return window.ran.analyticsInline === 1 && window.ran.analyticsFile === 1",
    )
    .unwrap();
    assert_eq!(ran(&b)["advertising"], json!(true));
    assert_eq!(pixel(&b), json!("/pixel.gif"));
    let subject = visitor(&b);
    s.wait_for_ledger(&subject, &cookies("analytics"), ConsentState::Given);
    assert_eq!(
        s.ledger(&subject, &cookies("advertising")),
        Some((ConsentState::Given, ConsentMethod::Banner))
    );

    // The choice is remembered: no banner, analytics runs.
    reload(&b);
    b.wait_for(
        "analytics after reload",
        "return window.ran.analyticsFile === 1",
    )
    .unwrap();
    assert_eq!(
        b.run("return !document.getElementById('pledge-banner')")
            .unwrap(),
        json!(true)
    );

    // Reopen from the page's link and reject all: the page reloads without analytics.
    b.click(&b.find("#settings").unwrap()).unwrap();
    banner_shown(&b);
    b.run("window.beforeWithdrawal = true; return true")
        .unwrap();
    b.click(&b.find("[data-pledge-action=reject]").unwrap())
        .unwrap();
    s.wait_for_ledger(&subject, &cookies("analytics"), ConsentState::Withdrawn);
    b.wait_for(
        "the reload after withdrawal",
        "return window.beforeWithdrawal === undefined && !!window.Pledge && document.readyState === 'complete'",
    )
    .unwrap();
    assert_eq!(ran(&b), json!({"essential": true}));
    assert_eq!(
        s.ledger(&subject, &cookies("advertising")).map(|(s, _)| s),
        Some(ConsentState::Withdrawn)
    );

    // The store holds each choice, in order, with its evidence, and the chain is intact.
    let (history, verified) = s.runtime.block_on(async {
        let store = &s.state.store;
        let history = store
            .consent_history(&[subject.parse().unwrap()])
            .await
            .unwrap();
        (history, store.verify_consent().await.unwrap())
    });
    let analytics: Vec<_> = history
        .iter()
        .filter(|r| r.target.as_deref() == Some("cookies:analytics"))
        .map(|r| {
            (
                r.state.as_str(),
                r.method.as_str(),
                r.ip.as_deref(),
                r.notice_version.is_some() && r.text_hash.is_some(),
            )
        })
        .collect();
    let ip = pledge_domain::consent::truncate_ip([127, 0, 0, 1].into());
    assert_eq!(
        analytics,
        [
            ("given", "banner", Some(ip.as_str()), true),
            ("withdrawn", "banner", Some(ip.as_str()), true)
        ]
    );
    assert!(history.iter().all(|r| {
        r.user_agent
            .as_deref()
            .is_some_and(|ua| ua.contains("Chrome"))
    }));
    assert!(verified.first_broken.is_none(), "{verified:?}");
}

#[test]
fn reject_keeps_everything_blocked_after_reload() {
    let Some(b) = browser("reject_keeps_everything_blocked_after_reload") else {
        return;
    };
    let s = site("reject");
    b.goto(&s.page).unwrap();
    banner_shown(&b);
    b.click(&b.find("[data-pledge-action=reject]").unwrap())
        .unwrap();
    let subject = visitor(&b);
    s.wait_for_ledger(&subject, &cookies("analytics"), ConsentState::Refused);
    s.wait_for_ledger(&subject, &cookies("advertising"), ConsentState::Refused);
    assert_eq!(ran(&b), json!({"essential": true}));

    reload(&b);
    assert_eq!(
        b.run("return !document.getElementById('pledge-banner')")
            .unwrap(),
        json!(true),
        "a choice made is not asked again"
    );
    assert_eq!(ran(&b), json!({"essential": true}));
    assert_eq!(pixel(&b), Value::Null);
    assert_eq!(
        b.run("return Pledge.allowed('analytics')").unwrap(),
        json!(false)
    );

    // Accept and at once reject: the ledger gets both in that order and ends withdrawn;
    // the page reloads without analytics.
    b.run(
        "window.beforeWithdrawal = true;
         Pledge.open();
         document.querySelector('[data-pledge-action=accept]').click();
         Pledge.open();
         document.querySelector('[data-pledge-action=reject]').click();
         return true;",
    )
    .unwrap();
    s.wait_for_ledger(&subject, &cookies("analytics"), ConsentState::Withdrawn);
    b.wait_for(
        "the reload after withdrawal",
        "return window.beforeWithdrawal === undefined && !!window.Pledge && document.readyState === 'complete'",
    )
    .unwrap();
    assert_eq!(ran(&b)["analyticsFile"], Value::Null);
    assert_eq!(
        b.run("return Pledge.allowed('analytics')").unwrap(),
        json!(false)
    );
}

#[test]
fn global_privacy_control_keeps_advertising_off() {
    let Some(b) = browser("global_privacy_control_keeps_advertising_off") else {
        return;
    };
    let s = site("gpc");
    // Chromium has no GPC switch: the signal is set as a GPC browser sends it, in the DOM
    // and as a header on every request.
    b.cdp(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({"source": "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: function () { return true; }, configurable: true});"}),
    )
    .unwrap();
    b.cdp("Network.enable", json!({})).unwrap();
    b.cdp(
        "Network.setExtraHTTPHeaders",
        json!({"headers": {"Sec-GPC": "1"}}),
    )
    .unwrap();
    b.goto(&s.page).unwrap();
    banner_shown(&b);
    let offered = b
        .run(
            "var box = document.getElementById('pledge-cat-advertising');
             return [box.disabled, box.checked, !!document.querySelector('.pledge-gpc')];",
        )
        .unwrap();
    assert_eq!(offered, json!([true, false, true]));

    b.click(&b.find("[data-pledge-action=accept]").unwrap())
        .unwrap();
    b.wait_for(
        "the analytics scripts",
        "return window.ran.analyticsFile === 1",
    )
    .unwrap();
    let subject = visitor(&b);
    s.wait_for_ledger(&subject, &cookies("analytics"), ConsentState::Given);
    assert_eq!(
        s.ledger(&subject, &cookies("advertising")).map(|(s, _)| s),
        Some(ConsentState::Refused)
    );
    let current = s.state.consent.current(&subject.parse().unwrap());
    assert!(
        current.opted_out_since.is_some(),
        "the Sec-GPC header records an opt-out: {current:?}"
    );
    assert_eq!(pixel(&b), Value::Null);
    reload(&b);
    assert_eq!(ran(&b)["advertising"], Value::Null);
    assert_eq!(ran(&b)["analyticsFile"], json!(1));
}

#[test]
fn the_banner_works_with_the_keyboard_alone() {
    let Some(b) = browser("the_banner_works_with_the_keyboard_alone") else {
        return;
    };
    let s = site("keyboard");
    b.goto(&s.page).unwrap();
    banner_shown(&b);
    let focused = |b: &Browser| {
        b.run("var a = document.activeElement; return a.getAttribute('data-pledge-action') || a.id || a.tagName")
            .unwrap()
    };
    let tab_to = |b: &Browser, target: &str| {
        for _ in 0..12 {
            if focused(b) == json!(target) {
                return;
            }
            b.press(&[keys::TAB]).unwrap();
        }
        panic!("Tab never reached {target}; focus is on {}", focused(b));
    };

    // Every control has a name a screen reader can announce.
    let named = b
        .run(
            "var d = document.getElementById('pledge-banner');
             var boxes = Array.prototype.every.call(d.querySelectorAll('input'), function (i) {
               return !!d.querySelector('label[for=\"' + i.id + '\"]') && !!i.getAttribute('aria-describedby');
             });
             var buttons = Array.prototype.every.call(d.querySelectorAll('button'), function (x) {
               return x.textContent.trim().length > 0;
             });
             return boxes && buttons;",
        )
        .unwrap();
    assert_eq!(named, json!(true));

    // Choose: open the categories, tick analytics with Space, save with Enter.
    tab_to(&b, "choose");
    b.press(&[keys::ENTER]).unwrap();
    assert_eq!(focused(&b), json!("pledge-cat-analytics"));
    assert_eq!(
        b.run("return document.querySelector('[data-pledge-action=choose]').getAttribute('aria-expanded')")
            .unwrap(),
        json!("true")
    );
    b.press(&[keys::SPACE]).unwrap();
    tab_to(&b, "save");
    b.press(&[keys::ENTER]).unwrap();
    b.wait_for(
        "the analytics scripts",
        "return window.ran.analyticsFile === 1",
    )
    .unwrap();
    assert_eq!(ran(&b)["advertising"], Value::Null);
    assert_eq!(
        b.run("var s = document.getElementById('pledge-status'); return [s.getAttribute('role'), s.textContent]")
            .unwrap(),
        json!(["status", "Your cookie choice is saved."]),
        "the choice is announced to screen readers"
    );
    let subject = visitor(&b);
    s.wait_for_ledger(&subject, &cookies("analytics"), ConsentState::Given);
    s.wait_for_ledger(&subject, &cookies("advertising"), ConsentState::Refused);

    // Reopen from the page's link with Enter; Escape closes and gives the focus back.
    b.run("document.getElementById('settings').focus(); return true")
        .unwrap();
    b.press(&[keys::ENTER]).unwrap();
    banner_shown(&b);
    assert_eq!(
        b.run("return document.getElementById('pledge-banner').contains(document.activeElement)")
            .unwrap(),
        json!(true)
    );
    b.press(&[keys::ESCAPE]).unwrap();
    assert_eq!(
        b.run("return document.getElementById('pledge-banner').hidden")
            .unwrap(),
        json!(true)
    );
    assert_eq!(focused(&b), json!("settings"));
}

#[test]
fn the_preference_centre_changes_a_choice_with_one_click() {
    let Some(b) = browser("the_preference_centre_changes_a_choice_with_one_click") else {
        return;
    };
    let s = site("preferences");
    let link = token::SignedLink {
        kind: token::LinkKind::Preferences,
        subject: "user-42".into(),
        purposes: Vec::new(),
        expires_at: pledge_server::Clock::system().now() + 3600,
    };
    let url = format!(
        "{}/preferences?token={}",
        s.pledge,
        token::sign(LINK_KEY, &link)
    );
    b.goto(&url).unwrap();
    b.click(&b.find("form:has(input[value=newsletter]) button").unwrap())
        .unwrap();
    b.wait_for(
        "the saved page",
        "return !!document.querySelector('[role=status]')",
    )
    .unwrap();
    let newsletter = Target::Purpose("newsletter".parse().unwrap());
    assert_eq!(
        s.ledger("user-42", &newsletter),
        Some((ConsentState::Given, ConsentMethod::Form))
    );
    let label = b
        .run(
            "return document.querySelector('form:has(input[value=newsletter]) button').textContent",
        )
        .unwrap();
    assert!(
        label.as_str().unwrap().starts_with("Turn off"),
        "withdrawing is the same one click: {label}"
    );
}

#[test]
fn a_gpc_header_alone_is_honoured() {
    let Some(b) = browser("a_gpc_header_alone_is_honoured") else {
        return;
    };
    let s = site("gpc-header");
    // Only the header: the page cannot see the signal, the server tells the banner.
    b.cdp("Network.enable", json!({})).unwrap();
    b.cdp(
        "Network.setExtraHTTPHeaders",
        json!({"headers": {"Sec-GPC": "1"}}),
    )
    .unwrap();
    b.goto(&s.page).unwrap();
    banner_shown(&b);
    assert_eq!(
        b.run("return navigator.globalPrivacyControl === true")
            .unwrap(),
        json!(false)
    );
    b.click(&b.find("[data-pledge-action=accept]").unwrap())
        .unwrap();
    b.wait_for(
        "the analytics scripts",
        "return window.ran.analyticsFile === 1",
    )
    .unwrap();
    assert_eq!(ran(&b)["advertising"], Value::Null);
    let subject = visitor(&b);
    s.wait_for_ledger(&subject, &cookies("analytics"), ConsentState::Given);
    assert_eq!(
        s.ledger(&subject, &cookies("advertising")).map(|(s, _)| s),
        Some(ConsentState::Refused)
    );
}

#[test]
fn nothing_to_ask_shows_no_banner() {
    let Some(b) = browser("nothing_to_ask_shows_no_banner") else {
        return;
    };
    // Only strictly necessary cookies: no consent to ask for, so no banner and no button.
    let essential_only = SHOP
        .split("[[cookies]]")
        .take(2)
        .collect::<Vec<_>>()
        .join("[[cookies]]");
    assert!(!essential_only.contains("_stats"));
    let s = site_of("essential-only", &essential_only);
    b.goto(&s.page).unwrap();
    b.wait_for(
        "the banner script",
        "return !!window.Pledge && Pledge.allowed('strictly_necessary')",
    )
    .unwrap();
    let shown = b
        .run("return [!!document.getElementById('pledge-banner'), !!document.querySelector('.pledge-reopen')]")
        .unwrap();
    assert_eq!(shown, json!([false, false]));
    assert_eq!(ran(&b), json!({"essential": true}));
}

/// `/docs` renders every operation of the document with who may call it.
#[test]
fn the_docs_page_shows_every_operation_and_who_may_call_it() {
    let Some(b) = browser("the_docs_page_shows_every_operation_and_who_may_call_it") else {
        return;
    };
    let s = site("docs");
    b.goto(&format!("{}/docs", s.pledge)).unwrap();
    b.wait_for(
        "the operations",
        "return document.querySelectorAll('details summary').length > 0",
    )
    .unwrap();
    let shown = b
        .run(
            "return [...document.querySelectorAll('details summary')].map(s =>
                [s.querySelector('.method').textContent, s.querySelector('code').textContent,
                 s.querySelector('.lock').textContent]);",
        )
        .unwrap();
    let shown: Vec<(String, String, String)> = serde_json::from_value(shown).unwrap();
    let table = pledge_server::route_table(&s.state).unwrap();
    assert_eq!(shown.len(), table.len(), "{shown:?}");
    let lock = |method: &str, path: &str| {
        shown
            .iter()
            .find(|(m, p, _)| m == method && p == path)
            .map(|(_, _, lock)| lock.clone())
            .unwrap_or_else(|| panic!("{method} {path} is not on the page"))
    };
    assert_eq!(
        lock("get", "/v1/requests"),
        "API key: admin, privacy_officer, support_agent"
    );
    assert_eq!(
        lock("post", "/v1/requests/{id}/callbacks/{recipient}"),
        "signed by the recipient"
    );
    assert_eq!(lock("post", "/public/requests"), "no key");
    assert_eq!(lock("options", "/banner/consent"), "no key");
}

/// A first-time visitor of a long page stays at its top: the banner takes the focus only once
/// its style sheet has placed it in the window, and without scrolling.
#[test]
fn the_banner_does_not_scroll_a_long_page() {
    let Some(b) = browser("the_banner_does_not_scroll_a_long_page") else {
        return;
    };
    let s = site("long");
    b.goto(&format!("{}long", s.page)).unwrap();
    banner_shown(&b);
    b.wait_for(
        "the focus in the banner",
        "return document.readyState === 'complete' && document.getElementById('pledge-banner').contains(document.activeElement)",
    )
    .unwrap();
    let shown = b
        .run(
            "var d = document.getElementById('pledge-banner');
             return [window.scrollY, document.documentElement.scrollHeight > 3 * innerHeight,
                     getComputedStyle(d).position];",
        )
        .unwrap();
    assert_eq!(shown, json!([0, true, "fixed"]));
}

/// Each cookie is listed with who sets it, how long it lasts and what it is for, as the
/// banner's configuration gives them.
#[test]
fn the_banner_lists_each_cookie_with_its_lifetime_description_and_purpose() {
    let Some(b) = browser("the_banner_lists_each_cookie_with_its_lifetime_description_and_purpose")
    else {
        return;
    };
    let s = site("cookie-facts");
    b.goto(&s.page).unwrap();
    banner_shown(&b);
    b.click(&b.find("[data-pledge-action=choose]").unwrap())
        .unwrap();
    let text = |category: &str| -> String {
        b.run(&format!(
            "return document.getElementById('pledge-cat-{category}-desc').innerText"
        ))
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
    };
    let necessary = text("strictly_necessary");
    for shown in [
        "session",
        "until the browser is closed",
        "Keeps the basket.",
    ] {
        assert!(
            necessary.contains(shown),
            "{shown} missing from {necessary}"
        );
    }
    let analytics = text("analytics");
    for shown in ["_stats", "1 year", "Audience measurement"] {
        assert!(
            analytics.contains(shown),
            "{shown} missing from {analytics}"
        );
    }
    let advertising = text("advertising");
    for shown in [
        "_adid",
        "Ad Network Inc.",
        "3 months",
        "Advertising on other sites",
    ] {
        assert!(
            advertising.contains(shown),
            "{shown} missing from {advertising}"
        );
    }
}

/// `/docs` on a phone: nothing wider than the window, and code shown as code, not as
/// backticks.
#[test]
fn the_docs_page_fits_a_phone_and_shows_no_backticks() {
    let Some(b) = browser("the_docs_page_fits_a_phone_and_shows_no_backticks") else {
        return;
    };
    let s = site("docs-phone");
    b.cdp(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 375, "height": 740, "deviceScaleFactor": 1, "mobile": true}),
    )
    .unwrap();
    b.goto(&format!("{}/docs", s.pledge)).unwrap();
    b.wait_for(
        "the operations",
        "return document.querySelectorAll('details summary').length > 0",
    )
    .unwrap();
    let shown = b
        .run(
            "document.querySelectorAll('details').forEach(d => { d.open = true; });
             var text = document.body.innerText;
             return [innerWidth, document.documentElement.scrollWidth <= innerWidth,
                     text.includes('`'), document.querySelectorAll('.body p code').length > 0];",
        )
        .unwrap();
    assert_eq!(shown, json!([375, true, false, true]));
}

/// A request form on the company's own site posts to Pledge without script or CORS; the page
/// that answers says what happens next and has the field for the code, which posts in turn.
#[test]
fn a_form_on_the_company_site_sends_a_request_and_the_code_field_posts() {
    let Some(b) = browser("a_form_on_the_company_site_sends_a_request_and_the_code_field_posts")
    else {
        return;
    };
    let chinook = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/chinook/pledge.toml"),
    )
    .unwrap();
    let s = site_of("form", &chinook);
    b.goto(&format!("{}form", s.page)).unwrap();
    b.run("document.getElementById('email').value = 'ana@example.com'; return true")
        .unwrap();
    b.click(&b.find("#send").unwrap()).unwrap();
    b.wait_for(
        "the answer page",
        "return document.title.startsWith('Check your e-mail') && document.readyState === 'complete'",
    )
    .unwrap();
    let answer = b
        .run(
            "var f = document.querySelector('form');
             return [location.origin, f.getAttribute('action'), !!document.getElementById('code'),
                     document.scripts.length];",
        )
        .unwrap();
    assert_eq!(answer[0], json!(s.pledge), "{answer}");
    assert_eq!(answer[3], json!(0), "no script on the page");
    let action = answer[1].as_str().unwrap();
    let id = action
        .strip_prefix("/public/requests/")
        .and_then(|rest| rest.strip_suffix("/verify"))
        .unwrap_or_else(|| panic!("the code form's action: {action}"));
    let state = s
        .runtime
        .block_on(s.state.store.get_request(id))
        .unwrap()
        .state;
    assert_eq!(state.as_str(), "verifying");

    // The code field posts as a plain form: a wrong code is answered with a page that says
    // so and offers the field again.
    b.run("document.getElementById('code').value = '0000 0000'; return true")
        .unwrap();
    b.click(&b.find("form button").unwrap()).unwrap();
    b.wait_for(
        "the wrong-code page",
        "return document.readyState === 'complete' && document.body.innerText.includes('attempt')",
    )
    .unwrap();
    let again = b
        .run("return [!!document.getElementById('code'), location.pathname]")
        .unwrap();
    assert_eq!(
        again,
        json!([true, format!("/public/requests/{id}/verify")])
    );
}

/// The privacy center works on a phone without script: at 375 px nothing overflows, every
/// field has its label, and the form sends the request the person chose, answered with the
/// page that asks for the code.
#[test]
fn the_privacy_center_sends_a_request_from_a_phone() {
    let Some(b) = browser("the_privacy_center_sends_a_request_from_a_phone") else {
        return;
    };
    let chinook = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/chinook/pledge.toml"),
    )
    .unwrap();
    let s = site_of("privacy-center", &chinook);
    b.cdp(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 375, "height": 740, "deviceScaleFactor": 1, "mobile": true}),
    )
    .unwrap();
    b.goto(&format!("{}/privacy", s.pledge)).unwrap();
    b.wait_for(
        "the privacy center",
        "return document.readyState === 'complete' && !!document.querySelector('form')",
    )
    .unwrap();
    let shown = b
        .run(
            "var unlabelled = Array.from(document.querySelectorAll('input:not([type=hidden]), select'))
                 .filter(el => !document.querySelector('label[for=\"' + el.id + '\"]')).length;
             return [innerWidth, document.documentElement.scrollWidth <= innerWidth,
                     unlabelled, document.scripts.length, document.documentElement.lang];",
        )
        .unwrap();
    assert_eq!(shown, json!([375, true, 0, 0, "en"]));
    b.click(&b.find("#kind-erasure").unwrap()).unwrap();
    b.run("document.getElementById('email').value = 'ana@example.com'; return true")
        .unwrap();
    b.click(&b.find("form button[type=submit]").unwrap())
        .unwrap();
    b.wait_for(
        "the answer page",
        "return document.title.startsWith('Check your e-mail') && document.readyState === 'complete'",
    )
    .unwrap();
    let action = b
        .run("return document.querySelector('form').getAttribute('action')")
        .unwrap();
    let id = action
        .as_str()
        .and_then(|a| a.strip_prefix("/public/requests/"))
        .and_then(|rest| rest.strip_suffix("/verify"))
        .unwrap_or_else(|| panic!("the code form's action: {action}"))
        .to_string();
    let record = s.runtime.block_on(s.state.store.get_request(&id)).unwrap();
    assert_eq!(record.kind.as_str(), "erasure");
    assert_eq!(record.state.as_str(), "verifying");
}

/// The language switcher is a plain link: the privacy center in Danish from one click, kept
/// for the next page by the cookie, and a request sent from it is a Danish one.
#[test]
fn the_language_switcher_turns_the_privacy_center_danish() {
    let Some(b) = browser("the_language_switcher_turns_the_privacy_center_danish") else {
        return;
    };
    let chinook = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/chinook/pledge.toml"),
    )
    .unwrap();
    let s = site_of("language-switcher", &chinook);
    b.goto(&format!("{}/privacy", s.pledge)).unwrap();
    b.wait_for(
        "the privacy center",
        "return document.readyState === 'complete' && document.documentElement.lang === 'en'",
    )
    .unwrap();
    b.click(&b.find("nav a[hreflang=da]").unwrap()).unwrap();
    b.wait_for(
        "the Danish page",
        "return document.readyState === 'complete' && document.documentElement.lang === 'da'",
    )
    .unwrap();
    // Opened again without `?lang=`: the cookie keeps Danish.
    b.goto(&format!("{}/privacy", s.pledge)).unwrap();
    b.wait_for(
        "the privacy center again",
        "return document.readyState === 'complete' && !!document.querySelector('form')",
    )
    .unwrap();
    let shown = b
        .run("return [document.documentElement.lang, document.querySelector('h1').textContent];")
        .unwrap();
    assert_eq!(shown, json!(["da", "Dit privatliv hos Chinook Music ApS"]));
    b.click(&b.find("#kind-access").unwrap()).unwrap();
    b.run("document.getElementById('email').value = 'ana@example.com'; return true")
        .unwrap();
    b.click(&b.find("form button[type=submit]").unwrap())
        .unwrap();
    b.wait_for(
        "the Danish answer page",
        "return document.title.startsWith('Tjek din e-mail') && document.readyState === 'complete'",
    )
    .unwrap();
    let action = b
        .run("return document.querySelector('form').getAttribute('action')")
        .unwrap();
    let id = action
        .as_str()
        .and_then(|a| a.strip_prefix("/public/requests/"))
        .and_then(|rest| rest.strip_suffix("/verify"))
        .unwrap_or_else(|| panic!("the code form's action: {action}"))
        .to_string();
    let record = s.runtime.block_on(s.state.store.get_request(&id)).unwrap();
    assert_eq!(record.language.as_deref(), Some("da"));
}

/// The pages a person sees, checked by axe-core (WCAG 2.2 A and AA rules, and axe's best
/// practices) at desktop and phone widths: no serious or critical violation. A screenshot of
/// each is kept under the target directory (`browser-screenshots/`).
#[test]
fn the_person_s_pages_have_no_serious_accessibility_violation() {
    let test = "the_person_s_pages_have_no_serious_accessibility_violation";
    let Some(b) = browser(test) else {
        return;
    };
    let Some(axe) = pledge_testkit::require_as(test, pledge_testkit::AXE, pledge_testkit::axe())
    else {
        return;
    };
    let axe = std::fs::read_to_string(&axe).expect("axe-core's script");
    let chinook = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/chinook/pledge.toml"),
    )
    .unwrap();
    let s = site_of("accessibility", &chinook);
    // A request, for the pages that follow one.
    b.goto(&format!("{}/privacy", s.pledge)).unwrap();
    b.click(&b.find("#kind-access").unwrap()).unwrap();
    b.run("document.getElementById('email').value = 'ana@example.com'; return true")
        .unwrap();
    b.click(&b.find("form button[type=submit]").unwrap())
        .unwrap();
    b.wait_for(
        "the answer page",
        "return document.title.startsWith('Check your e-mail') && document.readyState === 'complete'",
    )
    .unwrap();
    let code_form = b
        .run("return document.querySelector('form').getAttribute('action')")
        .unwrap();
    let id = code_form
        .as_str()
        .and_then(|a| a.strip_prefix("/public/requests/"))
        .and_then(|rest| rest.strip_suffix("/verify"))
        .expect("the code form names the request")
        .to_string();
    let pages = [
        ("privacy-center", format!("{}/privacy", s.pledge)),
        ("privacy-center-da", format!("{}/privacy?lang=da", s.pledge)),
        ("privacy-center-fr", format!("{}/privacy?lang=fr", s.pledge)),
        ("code", format!("{}/public/requests/{id}/code", s.pledge)),
        ("docs", format!("{}/docs", s.pledge)),
        ("banner", s.page.clone()),
    ];
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-screenshots");
    let mut found = Vec::new();
    for (width, height, device) in [(1280, 900, "desktop"), (375, 740, "phone")] {
        b.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": device == "phone"}),
        )
        .unwrap();
        for (name, url) in &pages {
            b.goto(url).unwrap();
            b.wait_for("the page", "return document.readyState === 'complete'")
                .unwrap();
            b.screenshot(&shots.join(format!("{name}-{device}.png")))
                .unwrap();
            for v in b.accessibility_violations(&axe).unwrap() {
                found.push(format!("{name} ({device}): {v}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "serious or critical accessibility violations:\n{}",
        found.join("\n")
    );
}
