//! Messages to the person: the mailer drains the store's outbox, renders each message from
//! a plain-text template (one per event, `templates/mail/`), and sends it over SMTP
//! (`lettre`), or writes it to the log when no SMTP URL is configured (the demo). A failed
//! send is retried later by the store's schedule; sending never blocks a request.

use crate::i18n::{self, tr};
use crate::{AppState, MailConfig};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use pledge_plan::retry::Transience;
use pledge_store::notify::{Event, OutboxMessage};
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::watch;

/// Why a message was not sent, and whether sending it again later may work.
#[derive(Debug, Error)]
pub enum SendError {
    #[error("recipient address: {0}")]
    Address(String),
    #[error("cannot build the message: {0}")]
    Build(String),
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
}

impl SendError {
    /// A bad address or message stays bad; the SMTP server's permanent refusals (5xx)
    /// stand; its temporary ones (4xx), a connection or TLS failure, a timeout may pass.
    pub fn transience(&self) -> Transience {
        match self {
            SendError::Address(_) | SendError::Build(_) => Transience::Permanent,
            SendError::Smtp(e) if e.is_permanent() => Transience::Permanent,
            SendError::Smtp(_) => Transience::Transient,
        }
    }
}

pub(crate) const TEMPLATES: [(Event, &str); 7] = [
    (
        Event::Verification,
        include_str!("../../templates/mail/verification.txt"),
    ),
    (
        Event::Received,
        include_str!("../../templates/mail/received.txt"),
    ),
    (
        Event::Verified,
        include_str!("../../templates/mail/verified.txt"),
    ),
    (
        Event::Extended,
        include_str!("../../templates/mail/extended.txt"),
    ),
    (
        Event::Completed,
        include_str!("../../templates/mail/completed.txt"),
    ),
    (
        Event::Denied,
        include_str!("../../templates/mail/denied.txt"),
    ),
    (
        Event::Digest,
        include_str!("../../templates/mail/digest.txt"),
    ),
];

/// Messages claimed at once.
const BATCH: i64 = 20;
/// Seconds a claimed message is this mailer's before another may send it.
const LEASE_SECS: i64 = 120;
/// How often expired codes are purged, in seconds.
const PURGE_EVERY: i64 = 600;

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
}

/// What the templates know beside the message's own data.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub controller: String,
    pub base_url: String,
    pub authority_name: Option<String>,
    pub authority_website: Option<String>,
    /// Purpose id → name, for what a request recorded in the consent ledger.
    pub purposes: Vec<(String, String)>,
    /// The language of a message whose request names none (`public.language`).
    pub language: String,
}

impl Context {
    pub fn of(state: &AppState) -> Self {
        let doc = state.decl.doc();
        let authority = doc.supervisory_authority.as_ref();
        Context {
            controller: crate::http::public::controller_name(state),
            base_url: state
                .config
                .public
                .base_url
                .trim_end_matches('/')
                .to_string(),
            authority_name: authority.map(|a| a.name.value.clone()),
            authority_website: authority
                .and_then(|a| a.website.as_ref())
                .map(|w| w.value.to_string()),
            purposes: doc
                .purposes
                .iter()
                .map(|p| (p.id.value.to_string(), p.name.value.clone()))
                .collect(),
            language: state.config.public.language.clone(),
        }
    }
}

/// One line per change a request recorded in the consent ledger (the message data's
/// `ledger_changes`: kind, target, state), in words of `lang`, with the purposes' names.
fn ledger_lines(data: &Value, ctx: &Context, lang: &str) -> Vec<String> {
    let name = |target: &str| -> String {
        if let Some(category) = target.strip_prefix("cookies:") {
            let category = tr(lang, &format!("cookie.{category}"), &[]);
            return tr(lang, "mail.ledger.cookies", &[("category", &category)]);
        }
        let id = target.strip_prefix("purpose:").unwrap_or(target);
        ctx.purposes
            .iter()
            .find(|(p, _)| p == id)
            .map_or_else(|| id.to_string(), |(_, n)| n.clone())
    };
    let changes = data.get("ledger_changes").and_then(Value::as_array);
    changes
        .into_iter()
        .flatten()
        .map(|c| {
            let get = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("");
            let target = || name(get("target"));
            match (get("kind"), get("state")) {
                ("consent", "given") => {
                    tr(lang, "mail.ledger.consent_given", &[("target", &target())])
                }
                ("consent", "withdrawn") => tr(
                    lang,
                    "mail.ledger.consent_withdrawn",
                    &[("target", &target())],
                ),
                ("objection", "raised") => {
                    tr(lang, "mail.ledger.objection", &[("target", &target())])
                }
                ("restriction", "raised") => tr(lang, "mail.ledger.restricted", &[]),
                ("opt_out", "raised") => tr(lang, "mail.ledger.opted_out", &[]),
                (kind, state) => tr(
                    lang,
                    "mail.ledger.other",
                    &[("kind", kind), ("state", state)],
                ),
            }
        })
        .collect()
}

/// The language of a message: its request's, else `ctx`'s default.
fn language_of(data: &Value, ctx: &Context) -> &'static str {
    data.get("language")
        .and_then(Value::as_str)
        .and_then(i18n::matching)
        .or_else(|| i18n::matching(&ctx.language))
        .unwrap_or(i18n::FALLBACK)
}

/// Renders `event`'s template with the message data. Pure: the same input, the same text.
pub fn render(event: Event, data: &Value, ctx: &Context) -> Result<Rendered, String> {
    let source = TEMPLATES
        .iter()
        .find(|(e, _)| *e == event)
        .map(|(_, s)| *s)
        .ok_or_else(|| format!("no template for {event}"))?;
    let get = |k: &str| data.get(k).and_then(Value::as_str).unwrap_or("");
    let request_id = get("request_id");
    let lang = language_of(data, ctx);
    // The links open the pages in the request's language, when it chose one.
    let lang_param = if data.get("language").and_then(Value::as_str).is_some() {
        format!("lang={lang}")
    } else {
        String::new()
    };
    let with_lang = |url: String| match (lang_param.is_empty(), url.contains('?')) {
        (true, _) => url,
        (false, true) => format!("{url}&{lang_param}"),
        (false, false) => format!("{url}?{lang_param}"),
    };
    let mut vars = json!({
        "lang": lang,
        "controller": ctx.controller,
        "request_id": request_id,
        "about": tr(lang, &format!("kind.{}.about", get("kind")), &[]),
        "received_at": data.get("received_at").and_then(Value::as_i64),
        "due_at": data.get("due_at").and_then(Value::as_i64),
        "extension_reason": data.get("extension_reason"),
        "denial_reason": data.get("denial_reason"),
        "authority_name": ctx.authority_name,
        "authority_website": ctx.authority_website,
        "has_export": data.get("has_export").and_then(Value::as_bool).unwrap_or(false),
        "no_data_held": data.get("no_data_held").and_then(Value::as_bool).unwrap_or(false),
        // The hook for the export's download link: filled when the request has one.
        "export_url": data.get("export_url"),
        "ledger_right": data.get("ledger_right").and_then(Value::as_bool).unwrap_or(false),
        "ledger_changes": ledger_lines(data, ctx, lang),
    });
    if event == Event::Digest {
        vars["digest"] = data.clone();
    }
    if event == Event::Verification {
        // A code sent again is issued later than the request was received.
        let issued = data
            .get("issued_at")
            .or_else(|| data.get("received_at"))
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let expires = data.get("expires_at").and_then(Value::as_i64).unwrap_or(0);
        vars["code"] = json!(get("code"));
        vars["expires_minutes"] = json!((expires - issued).max(0) / 60);
        vars["verify_url"] = json!(with_lang(format!(
            "{}/public/verify?token={}",
            ctx.base_url,
            get("link_token")
        )));
        vars["code_url"] = json!(with_lang(format!(
            "{}/public/requests/{request_id}/code",
            ctx.base_url
        )));
        vars["status_url"] = json!(with_lang(format!(
            "{}/public/requests/{request_id}?token={}",
            ctx.base_url,
            get("status_token")
        )));
    }
    let mut env = minijinja::Environment::new();
    i18n::register(&mut env);
    let text = env
        .render_str(source, minijinja::value::Serde(&vars))
        .map_err(|e| format!("template {event}: {e}"))?;
    let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let subject = first
        .strip_prefix("Subject: ")
        .ok_or_else(|| format!("template {event} does not start with `Subject: `"))?;
    Ok(Rendered {
        subject: subject.trim().to_string(),
        body: rest.trim_start_matches('\n').to_string(),
    })
}

/// Where messages go.
pub enum Sender {
    /// Written to the log (stderr): the demo, and a server with no SMTP URL.
    Log,
    Smtp {
        transport: Box<AsyncSmtpTransport<Tokio1Executor>>,
        from: Mailbox,
    },
}

impl Sender {
    /// Checks the configuration at start-up, so a bad URL or sender stops `pledge serve`
    /// instead of failing every message later.
    pub fn new(config: &MailConfig) -> Result<Sender, String> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| format!("mail sender `{}`: {e}", config.from))?;
        match &config.smtp_url {
            None => Ok(Sender::Log),
            Some(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| format!("the SMTP URL is not valid: {e}"))?
                    .timeout(Some(Duration::from_secs(30)))
                    .build();
                Ok(Sender::Smtp {
                    transport: Box::new(transport),
                    from,
                })
            }
        }
    }

    pub async fn send(&self, to: &str, message: &Rendered) -> Result<(), SendError> {
        match self {
            Sender::Log => {
                // The log stands in for the mail server (the demo, tests): the message is
                // written whole, on stderr, apart from the structured log.
                eprintln!(
                    "mail (not sent: no SMTP URL) to {to}\nSubject: {}\n\n{}\n-- end of mail",
                    message.subject, message.body
                );
                Ok(())
            }
            Sender::Smtp { transport, from } => {
                let to: Mailbox = to.parse().map_err(|e: lettre::address::AddressError| {
                    SendError::Address(e.to_string())
                })?;
                let email = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(message.subject.clone())
                    .header(ContentType::TEXT_PLAIN)
                    .body(message.body.clone())
                    .map_err(|e| SendError::Build(e.to_string()))?;
                transport.send(email).await.map(|_| ())?;
                Ok(())
            }
        }
    }
}

/// The mailer: until `stop`, sends what is due in the outbox, then waits for a wake-up or
/// the poll interval. Also purges expired codes now and then.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let sender = match Sender::new(&state.config.mail) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "the mailer did not start");
            return;
        }
    };
    let ctx = Context::of(&state);
    let mut last_purge = i64::MIN;
    loop {
        if *stop.borrow() {
            return;
        }
        let now = state.now();
        if now.saturating_sub(last_purge) >= PURGE_EVERY {
            last_purge = now;
            if let Err(e) = state.store.purge_expired_verifications(now).await {
                tracing::warn!(error = %e, "cannot purge expired codes");
            }
        }
        let sent = match drain_once(&state, &sender, &ctx).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "the mailer cannot read the outbox");
                0
            }
        };
        if sent > 0 {
            state.progressed();
            continue;
        }
        tokio::select! {
            _ = stop.changed() => {}
            () = state.wake_mail.notified() => {}
            () = tokio::time::sleep(state.config.poll) => {}
        }
    }
}

/// Claims the due messages once and sends them; returns how many were claimed.
pub async fn drain_once(
    state: &AppState,
    sender: &Sender,
    ctx: &Context,
) -> Result<usize, pledge_store::Error> {
    let now = state.now();
    let messages = state.store.claim_messages(BATCH, LEASE_SECS, now).await?;
    for m in &messages {
        deliver(state, sender, ctx, m).await?;
    }
    Ok(messages.len())
}

async fn deliver(
    state: &AppState,
    sender: &Sender,
    ctx: &Context,
    m: &OutboxMessage,
) -> Result<(), pledge_store::Error> {
    let max = state.config.mail.max_attempts;
    let data = with_export_link(state, m).await;
    let outcome = match render(m.event, &data, ctx) {
        Ok(rendered) => sender.send(&m.recipient, &rendered).await,
        // A template that does not render will not render later either: give up now.
        Err(e) => {
            return state
                .store
                .message_failed(m, &e, m.attempts, state.now())
                .await;
        }
    };
    match outcome {
        Ok(()) => {
            state.metrics.mail_sent.fetch_add(1, Ordering::Relaxed);
            state.store.message_sent(m, state.now()).await
        }
        Err(e) => {
            state.metrics.mail_failed.fetch_add(1, Ordering::Relaxed);
            let transience = e.transience();
            // The address is personal data: the log names the message, not its recipient.
            tracing::warn!(message = m.id, event = %m.event, transience = transience.as_str(), "a message was not sent");
            // A permanent refusal is given up now; a passing one is retried with back-off.
            let max = match transience {
                Transience::Permanent => m.attempts,
                Transience::Transient => max,
            };
            state
                .store
                .message_failed(m, &e.to_string(), max, state.now())
                .await
        }
    }
}

/// The completion message of a request with an export carries a fresh single-use download
/// link, made when the message is sent so that no usable token waits in the outbox. Without
/// one (the export already expired, or the store failed) the message says a separate one
/// follows, and staff can make a link through the API.
async fn with_export_link(state: &AppState, m: &OutboxMessage) -> Value {
    let mut data = m.data.clone();
    let wants_link = m.event == Event::Completed
        && data.get("has_export").and_then(Value::as_bool) == Some(true)
        && data.get("export_url").is_none();
    let request_id = data
        .get("request_id")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let (true, Some(request_id)) = (wants_link, request_id) {
        match crate::http::links::mint(state, &request_id, "mailer").await {
            Ok(link) => data["export_url"] = json!(link.url),
            Err(e) => {
                tracing::warn!(request = %request_id, error = %e, "no download link for the completion message")
            }
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            controller: "Chinook Corp.".into(),
            base_url: "https://privacy.example.com".into(),
            authority_name: Some("Datatilsynet".into()),
            authority_website: Some("https://www.datatilsynet.dk".into()),
            purposes: vec![("newsletter".into(), "New releases newsletter".into())],
            language: "en".into(),
        }
    }

    fn data(extra: Value) -> Value {
        let mut d = json!({
            "request_id": "req_0123",
            "kind": "access",
            "regime": "gdpr",
            "received_at": 1_767_225_600, // 2026-01-01
            "due_at": 1_769_904_000,      // 2026-02-01
            "extension_reason": null,
            "denial_reason": null,
        });
        if let (Some(o), Value::Object(e)) = (d.as_object_mut(), extra) {
            o.extend(e);
        }
        d
    }

    #[test]
    fn every_event_renders() {
        let extras = [
            json!({}),
            json!({"code": "01234567", "link_token": "ab", "status_token": "cd", "expires_at": 1_767_227_400}),
            json!({}),
            json!({"extension_reason": "backups in three systems", "due_at": 1_775_001_600}),
            json!({"has_export": true}),
            json!({"denial_reason": "we hold no data about this address"}),
            json!({"window_days": 7, "as_of": "2026-03-01",
                   "overdue": [{"id": "req_1", "kind": "erasure", "regime": "gdpr", "state": "awaiting_approval", "due": "2026-02-27", "url": "https://privacy.example.com/console/requests/req_1"}],
                   "due_soon": [{"id": "req_2", "kind": "access", "regime": "ccpa", "state": "in_progress", "due": "2026-03-05", "due_at": 1772668800, "url": "https://privacy.example.com/console/requests/req_2"}],
                   "needs_action": []}),
        ];
        let mut all = String::new();
        for (event, extra) in pledge_store::notify::EVENTS.iter().zip(extras) {
            let r = render(*event, &data(extra), &ctx()).unwrap();
            assert!(!r.subject.is_empty() && !r.body.contains("{{"), "{event}");
            all.push_str(&format!(
                "=== {event}\nSubject: {}\n\n{}\n",
                r.subject, r.body
            ));
        }
        insta::assert_snapshot!(all);
    }

    /// The person's messages in the language of their request, dates and links too.
    #[test]
    fn every_event_renders_in_the_request_s_language() {
        let extras = [
            json!({}),
            json!({"code": "01234567", "link_token": "ab", "status_token": "cd", "expires_at": 1_767_227_400}),
            json!({}),
            json!({"extension_reason": "sauvegardes dans trois systèmes", "due_at": 1_775_001_600}),
            json!({"has_export": true, "export_url": "https://x.example/e/1", "ledger_right": true,
                   "ledger_changes": [{"kind": "consent", "target": "cookies:social_media", "state": "withdrawn"}]}),
            json!({"denial_reason": "aucune donnée"}),
        ];
        let mut all = String::new();
        for lang in ["da", "fr"] {
            for (event, extra) in pledge_store::notify::EVENTS.iter().zip(&extras) {
                let mut d = data(extra.clone());
                d["language"] = json!(lang);
                let r = render(*event, &d, &ctx()).unwrap();
                all.push_str(&format!(
                    "=== {lang} {event}\nSubject: {}\n\n{}\n",
                    r.subject, r.body
                ));
            }
        }
        insta::assert_snapshot!(all);
    }

    #[test]
    fn no_data_held_is_said_with_the_meta_information() {
        let r = render(
            Event::Completed,
            &data(json!({"has_export": true, "no_data_held": true, "export_url": "https://x.example/e/2"})),
            &ctx(),
        )
        .unwrap();
        insta::assert_snapshot!(r.body);
        assert!(!r.body.contains("Your data is ready"), "{}", r.body);
    }

    #[test]
    fn the_completion_of_a_ledger_right_says_what_changed() {
        let changes = json!({"kind": "withdraw_consent", "ledger_right": true, "ledger_changes": [
            {"kind": "consent", "target": "purpose:newsletter", "state": "withdrawn"},
            {"kind": "consent", "target": "cookies:social_media", "state": "withdrawn"},
        ]});
        let r = render(Event::Completed, &data(changes), &ctx()).unwrap();
        assert!(
            r.body
                .contains("  - consent withdrawn: New releases newsletter\n")
                && r.body
                    .contains("  - consent withdrawn: social media cookies\n"),
            "{}",
            r.body
        );
        let nothing = json!({"kind": "opt_out", "ledger_right": true, "ledger_changes": []});
        let r = render(Event::Completed, &data(nothing), &ctx()).unwrap();
        assert!(r.body.contains("nothing to change"), "{}", r.body);
    }

    #[test]
    fn the_export_link_hook() {
        let r = render(
            Event::Completed,
            &data(json!({"has_export": true, "export_url": "https://x.example/e/1"})),
            &ctx(),
        )
        .unwrap();
        assert!(r.body.contains("https://x.example/e/1"), "{}", r.body);
    }
}
