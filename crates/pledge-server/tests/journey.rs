//! The whole journey in a real headless Chromium, with the mail going through a real SMTP
//! server on loopback (Debian's aiosmtpd, started by scripts/test.sh, delivering to a
//! maildir the test reads):
//!
//! - a person asks for their data on the privacy center, reads the code from the mail the
//!   server sent, types it on the code page; a privacy officer signs in, finds the request
//!   from the dashboard, reviews the dry run's plan and approves; the worker runs it; the
//!   person follows the link of the completion mail and downloads the export;
//! - the same person asks for erasure; a support agent signs in and is offered no approval
//!   (and a forged approval is refused); the officer approves and the rows are gone.

use pledge_server::crypto::seal::{ExportKeys, MasterKey};
use pledge_server::{Config, MailConfig, PublicConfig};
use pledge_store::Role;
use pledge_store::staff::NewStaff;
use pledge_testkit::webdriver::Browser;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;
use common::TestApp;

const PERSON: &str = "luisg@embraer.com.br";
const PASSWORD: &str = "a long staff password";

/// One message of the maildir: its headers (names lower-cased) and its decoded text.
struct Mail {
    to: String,
    subject: String,
    text: String,
}

/// Quoted-printable (RFC 2045 6.7) to bytes.
fn unquote(body: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'=' if bytes.get(i + 1) == Some(&b'\r') && bytes.get(i + 2) == Some(&b'\n') => i += 3,
            b'=' if bytes.get(i + 1) == Some(&b'\n') => i += 2,
            b'=' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn parse_mail(raw: &str) -> Mail {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    // Unfold the headers' continuation lines.
    let head = head.replace("\n ", " ").replace("\n\t", " ");
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    let encoding = header("Content-Transfer-Encoding").to_ascii_lowercase();
    let text = match encoding.as_str() {
        "quoted-printable" => String::from_utf8(unquote(body)).unwrap(),
        "base64" => {
            use base64::Engine;
            let joined: String = body.split_whitespace().collect();
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(joined)
                    .unwrap(),
            )
            .unwrap()
        }
        _ => body.to_string(),
    };
    Mail {
        to: header("To"),
        subject: header("Subject"),
        text,
    }
}

/// Waits for the message to `to` whose text names `reference` and says `what`.
fn mail_for(maildir: &Path, to: &str, reference: &str, what: &str) -> Mail {
    let started = Instant::now();
    loop {
        for dir in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(maildir.join(dir)) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(raw) = std::fs::read_to_string(entry.path()) else {
                    continue;
                };
                let mail = parse_mail(&raw);
                if mail.to.contains(to) && mail.text.contains(reference) && mail.text.contains(what)
                {
                    return mail;
                }
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no mail to {to} about {reference} saying {what:?} in {}",
            maildir.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The indented line after `label`'s line in a mail: where the templates put a link.
fn url_after(text: &str, needle: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with("http") && l.contains(needle))
        .unwrap_or_else(|| panic!("no link with {needle} in:\n{text}"))
        .to_string()
}

/// `url` on this test's server: the mails speak of the configured public address.
fn local(url: &str, base: &str) -> String {
    let path = url
        .strip_prefix("https://privacy.example.com")
        .unwrap_or_else(|| panic!("{url} is not on the public address"));
    format!("{base}{path}")
}

fn type_into(b: &Browser, css: &str, text: &str) {
    let field = b.find(css).unwrap();
    b.click(&field).unwrap();
    let keys: Vec<String> = text.chars().map(String::from).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    b.press(&keys).unwrap();
}

fn shot(b: &Browser, name: &str) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("journey-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    b.screenshot(&dir.join(format!("{name}.png"))).unwrap();
}

/// The person asks on the privacy center; returns the request's id once confirmed with
/// the code from the mail.
fn ask(b: &Browser, base: &str, maildir: &Path, kind: &str) -> String {
    b.goto(&format!("{base}/privacy")).unwrap();
    b.wait_for(
        "the privacy center",
        "return !!document.getElementById('email')",
    )
    .unwrap();
    shot(b, &format!("{kind}-1-privacy-center"));
    b.click(&b.find(&format!("#kind-{kind}")).unwrap()).unwrap();
    type_into(b, "#email", PERSON);
    b.click(&b.find("form button[type=submit]").unwrap())
        .unwrap();
    b.wait_for("the code form", "return !!document.getElementById('code')")
        .unwrap();
    let action = b
        .run("return document.querySelector('form').getAttribute('action')")
        .unwrap();
    let id = action
        .as_str()
        .and_then(|a| a.strip_prefix("/public/requests/"))
        .and_then(|rest| rest.strip_suffix("/verify"))
        .expect("the code form names the request")
        .to_string();
    shot(b, &format!("{kind}-2-check-your-mail"));
    let mail = mail_for(maildir, PERSON, &id, "code");
    assert!(!mail.subject.is_empty());
    let code = mail
        .text
        .lines()
        .find_map(|l| {
            let digits: String = l.chars().filter(char::is_ascii_digit).collect();
            (l.contains(':') && digits.len() == 8).then_some(digits)
        })
        .unwrap_or_else(|| panic!("no code in:\n{}", mail.text));
    // The code page the mail points to, as the person opens it later.
    b.goto(&local(&url_after(&mail.text, "/code"), base))
        .unwrap();
    b.wait_for("the code page", "return !!document.getElementById('code')")
        .unwrap();
    type_into(b, "#code", &code);
    b.click(&b.find("form button[type=submit]").unwrap())
        .unwrap();
    b.wait_for(
        "the confirmation",
        "return document.readyState === 'complete' && !document.getElementById('code')",
    )
    .unwrap();
    shot(b, &format!("{kind}-3-confirmed"));
    id
}

fn sign_in(b: &Browser, base: &str, email: &str) {
    // A new browser session: nobody is signed in.
    b.cdp("Network.clearBrowserCookies", json!({})).unwrap();
    b.goto(&format!("{base}/console/sign-in")).unwrap();
    b.wait_for(
        "the sign-in page",
        "return !!document.getElementById('email')",
    )
    .unwrap();
    type_into(b, "#email", email);
    type_into(b, "#password", PASSWORD);
    b.click(&b.find("#sign-in").unwrap()).unwrap();
    b.wait_for("the dashboard", "return location.pathname === '/console'")
        .unwrap();
}

#[test]
fn a_person_asks_confirms_and_downloads_and_staff_handle_it_in_the_console() {
    let test = "a_person_asks_confirms_and_downloads_and_staff_handle_it_in_the_console";
    let Some(chromium) =
        pledge_testkit::require_as(test, pledge_testkit::CHROMIUM, pledge_testkit::chromium())
    else {
        return;
    };
    let Some(driver) = pledge_testkit::require_as(
        test,
        pledge_testkit::CHROMEDRIVER,
        pledge_testkit::chromedriver(),
    ) else {
        return;
    };
    let Some((smtp, maildir)) =
        pledge_testkit::require_as(test, pledge_testkit::SMTP_URL, pledge_testkit::smtp())
    else {
        return;
    };
    let b = Browser::start(&driver, &chromium).expect("ChromeDriver and Chromium start");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = runtime.block_on(async {
        let app = TestApp::builder("journey")
            .chinook()
            .config(Config {
                workers: 1,
                poll: Duration::from_millis(50),
                mail: MailConfig {
                    smtp_url: Some(smtp.clone()),
                    from: "Chinook Privacy <privacy@example.com>".into(),
                    max_attempts: 3,
                },
                export_keys: Some(ExportKeys::new(MasterKey::new([7; 32]), Vec::new())),
                hmac_key: b"the journey's key for pseudonyms, 32 bytes".to_vec(),
                ..Config::default()
            })
            .public(PublicConfig {
                base_url: "https://privacy.example.com".into(),
                ..PublicConfig::default()
            })
            .listen()
            .spawn()
            .await;
        for (email, name, role) in [
            ("ana@example.com", "Ana Lima", Role::PrivacyOfficer),
            ("sam@example.com", "Sam Support", Role::SupportAgent),
        ] {
            app.state
                .store
                .create_staff(
                    NewStaff {
                        email,
                        name,
                        role,
                        password: PASSWORD,
                    },
                    "test",
                    app.state.now(),
                )
                .await
                .unwrap();
        }
        app
    });
    let base = app.base_url();
    let state_of = |id: &str| {
        runtime.block_on(async {
            app.state
                .store
                .get_request(id)
                .await
                .unwrap()
                .state
                .as_str()
                .to_string()
        })
    };
    let wait_state = |id: &str, want: &str| {
        let started = Instant::now();
        while state_of(id) != want {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{id} is {} and not {want}: {:?}",
                state_of(id),
                runtime
                    .block_on(app.state.store.request_events(id))
                    .unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };

    // Access: asked and confirmed by the person.
    let access = ask(&b, &base, &maildir, "access");
    wait_state(&access, "awaiting_approval");

    // The officer finds it from the dashboard: the open requests' count leads to it.
    sign_in(&b, &base, "ana@example.com");
    shot(&b, "access-4-dashboard");
    b.click(&b.find("a[href*='kind=access']").unwrap()).unwrap();
    b.wait_for(
        "the list",
        &format!("return !!document.querySelector(\"a[href='/console/requests/{access}']\")"),
    )
    .unwrap();
    b.click(
        &b.find(&format!("a[href='/console/requests/{access}']"))
            .unwrap(),
    )
    .unwrap();
    b.wait_for(
        "the request with its plan",
        "return document.querySelectorAll('#preview table.plan tbody tr').length > 0",
    )
    .unwrap();
    shot(&b, "access-5-review");
    b.click(&b.find("#action-approve button").unwrap()).unwrap();
    b.wait_for("approved", "return !!document.getElementById('done')")
        .unwrap();
    wait_state(&access, "completed");

    // The person follows the completion mail's link and downloads the export.
    let done = mail_for(&maildir, PERSON, &access, "/public/exports/");
    let link = local(&url_after(&done.text, "/public/exports/"), &base);
    let downloads = app.dir.join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    b.cdp(
        "Browser.setDownloadBehavior",
        json!({"behavior": "allow", "downloadPath": downloads.to_str().unwrap()}),
    )
    .unwrap();
    b.goto(&link).unwrap();
    b.wait_for(
        "the download page",
        "return document.readyState === 'complete'",
    )
    .unwrap();
    if let Ok(button) = b.find("form button[type=submit]") {
        shot(&b, "access-6-download-page");
        b.click(&button).unwrap();
    }
    let started = Instant::now();
    let zip = loop {
        let found = std::fs::read_dir(&downloads)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "zip"));
        if let Some(zip) = found {
            break zip;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no download");
        std::thread::sleep(Duration::from_millis(50));
    };
    let bytes = std::fs::read(&zip).unwrap();
    assert!(bytes.starts_with(b"PK"), "a zip");
    // The link has been spent.
    let path = link.strip_prefix(&base).unwrap().to_string();
    let again = runtime.block_on(async {
        app.send(
            axum::http::Request::post(&path)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .status
    });
    assert_eq!(again.as_u16(), 410);

    // Erasure: a support agent sees it but cannot approve it.
    let erasure = ask(&b, &base, &maildir, "erasure");
    wait_state(&erasure, "awaiting_approval");
    sign_in(&b, &base, "sam@example.com");
    b.goto(&format!("{base}/console/requests/{erasure}"))
        .unwrap();
    b.wait_for("the request", "return !!document.getElementById('state')")
        .unwrap();
    shot(&b, "erasure-4-support-agent");
    let offered = b
        .run("return [!!document.getElementById('action-approve'), document.body.textContent.includes('luisg@')]")
        .unwrap();
    assert_eq!(offered, json!([false, false]), "no approval, no identity");
    let forged = b
        .run(&format!(
            "const f = document.createElement('form'); f.method = 'post'; \
             f.action = '/console/requests/{erasure}/actions/approve'; \
             const c = document.createElement('input'); c.name = 'csrf'; \
             c.value = document.querySelector('input[name=csrf]').value; f.appendChild(c); \
             document.body.appendChild(f); f.submit(); return true"
        ))
        .unwrap();
    assert_eq!(forged, json!(true));
    b.wait_for("the refusal", "return document.readyState === 'complete' && !document.getElementById('state') || document.title.length > 0")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        state_of(&erasure),
        "awaiting_approval",
        "a support agent approves nothing"
    );
    sign_in(&b, &base, "ana@example.com");
    b.goto(&format!("{base}/console/requests/{erasure}"))
        .unwrap();
    b.wait_for(
        "the erasure with its plan",
        "return document.querySelectorAll('#preview table.plan tbody tr').length > 0",
    )
    .unwrap();
    shot(&b, "erasure-5-review");
    b.click(&b.find("#action-approve button").unwrap()).unwrap();
    wait_state(&erasure, "completed");
    let left = runtime.block_on(async {
        let db = sqlx::SqlitePool::connect(&format!("sqlite:{}", app.chinook_file.display()))
            .await
            .unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM customer WHERE email = ?")
            .bind(PERSON)
            .fetch_one(&db)
            .await
            .unwrap();
        n
    });
    assert_eq!(
        left, 0,
        "the person's address is erased from their customer row"
    );
    let _ = mail_for(&maildir, PERSON, &erasure, "finished");
    drop(app);
}
