//! The public side of consent: the cookie banner (`/banner.js`, `/banner.css`,
//! `/banner/config.json`, `POST /banner/consent`), the preference centre (`/preferences`)
//! and one-click unsubscribe (`/unsubscribe`, RFC 8058), plus the staff route that mints
//! preference and unsubscribe links (`POST /v1/subjects/{subject}/preference-links`).
//!
//! These routes take no API key: the banner runs in visitors' browsers on the company's
//! site, and the pages are opened from e-mails. What protects them: CORS limited to the
//! declared origins, a rate limit per network, links signed with the server's link key
//! (see `token.rs`), and choices recorded only through the consent ledger, each with the
//! notice version and the hash of the text the person saw.

pub(crate) mod pages;
mod unsubscribe;

use crate::consent::{Choice, RecordConsent, SubjectConsent, gpc_signal};
use crate::crypto::token::{self, LinkKind, SignedLink};
use crate::http::problem::{ApiJson, Problem};
use crate::http::ratelimit::{Limiter, Rate};
use crate::{AppState, Caller};
use axum::Extension;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pledge_docs::banner::{self as core_banner, BannerConfig};
use pledge_domain::consent::{ConsentState, Method, Target, cookie_category_name};
use pledge_lang::time::CivilTime;
use pledge_lang::types::PurposeId;
use pledge_lang::types::SubjectRef;
use pledge_store::Role;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

const SCRIPT: &str = include_str!("../../../assets/banner.js");
const STYLE: &str = include_str!("../../../assets/banner.css");

/// Settings of the public consent routes, from the environment (see `docs/banner.md`).
#[derive(Clone, Debug)]
pub struct Settings {
    /// The key that signs preference and unsubscribe links (at least
    /// [`token::MIN_KEY_LEN`] bytes). Empty: links are off, those routes answer 503.
    pub link_key: Vec<u8>,
    /// Origins (`https://shop.example`) whose pages may call the banner routes, besides the
    /// origin of the declaration's `policy.url`. `*` allows every origin.
    pub origins: Vec<String>,
    /// Writes (choices, unsubscribes) each network (/24 or /48) may make per minute, per
    /// replica; 0: no limit.
    pub writes_per_minute: u32,
    /// How long a minted preference link works, in days.
    pub preference_link_days: u32,
    /// How long a minted unsubscribe link works, in days.
    pub unsubscribe_link_days: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            link_key: Vec::new(),
            origins: Vec::new(),
            writes_per_minute: 60,
            preference_link_days: 30,
            unsubscribe_link_days: 730,
        }
    }
}

impl Settings {
    /// The environment variables the settings are read from.
    pub const LINK_KEY_ENV: &'static str = "PLEDGE_LINK_KEY";
    pub const ORIGINS_ENV: &'static str = "PLEDGE_BANNER_ORIGINS";
    pub const WRITES_PER_MINUTE_ENV: &'static str = "PLEDGE_BANNER_WRITES_PER_MINUTE";

    /// Reads the settings through `var` (the caller's access to the environment): a link key
    /// shorter than [`token::MIN_KEY_LEN`] is an error, origins are comma-separated.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let mut settings = Settings::default();
        if let Some(key) = var(Self::LINK_KEY_ENV).filter(|k| !k.is_empty()) {
            if key.len() < token::MIN_KEY_LEN {
                return Err(format!(
                    "{} must hold at least {} characters",
                    Self::LINK_KEY_ENV,
                    token::MIN_KEY_LEN
                ));
            }
            settings.link_key = key.into_bytes();
        }
        let list = |text: String| -> Vec<String> {
            text.split(',')
                .map(|o| o.trim().trim_end_matches('/').to_string())
                .filter(|o| !o.is_empty())
                .collect()
        };
        if let Some(origins) = var(Self::ORIGINS_ENV) {
            settings.origins = list(origins);
        }
        if let Some(n) = var(Self::WRITES_PER_MINUTE_ENV).filter(|v| !v.is_empty()) {
            settings.writes_per_minute = n.trim().parse().map_err(|_| {
                format!(
                    "{} must be a whole number (0: no limit), not `{n}`",
                    Self::WRITES_PER_MINUTE_ENV
                )
            })?;
        }
        Ok(settings)
    }
}

/// What the banner routes compute once per process.
pub(crate) struct Banner {
    config: BannerConfig,
    /// The configuration as served, without and with `"gpc": true` (the answer to a call
    /// that carried `Sec-GPC: 1`), each with its ETag.
    config_json: [(String, String); 2],
    script_etag: String,
    style_etag: String,
    origins: Vec<String>,
    limiter: RateLimiter,
}

impl Banner {
    fn new(state: &AppState) -> Self {
        let config = core_banner::config(&state.decl);
        let config_json = [false, true].map(|gpc| {
            // The configuration holds only strings, numbers, booleans and lists.
            let mut value = serde_json::to_value(&config).unwrap_or_default();
            value["gpc"] = json!(gpc);
            let text = value.to_string();
            (etag(text.as_bytes()), text)
        });
        let mut origins = state.config.banner.origins.clone();
        if let Some(origin) = config.notice.url.as_deref().and_then(origin_of) {
            origins.push(origin);
        }
        Banner {
            script_etag: etag(SCRIPT.as_bytes()),
            style_etag: etag(STYLE.as_bytes()),
            config,
            config_json,
            origins,
            limiter: RateLimiter::new(state.config.banner.writes_per_minute),
        }
    }

    /// The origin to echo in `Access-Control-Allow-Origin`, if the caller's is allowed.
    fn allowed_origin(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        let origin = headers.get(header::ORIGIN)?;
        let text = origin.to_str().ok()?;
        let allowed = self.origins.iter().any(|o| o == "*" || o == text);
        allowed.then(|| origin.clone())
    }
}

/// `https://shop.example/privacy` → `https://shop.example`.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then(|| format!("{scheme}://{host}"))
}

/// Whether the caller's `If-None-Match` names `tag`: it has the current version.
fn unchanged(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"))
}

fn etag(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// The public routes, to merge into the application.
pub fn routes(state: &AppState) -> OpenApiRouter<AppState> {
    let banner = Arc::new(Banner::new(state));
    OpenApiRouter::new()
        .routes(routes!(script))
        .routes(routes!(style))
        .routes(routes!(config, config_preflight))
        .routes(routes!(record_choice, choice_preflight))
        .routes(routes!(pages::preference_centre, pages::change_preference))
        .routes(routes!(unsubscribe::confirm_page, unsubscribe::one_click))
        .layer(Extension(banner))
}

/// Serves a static asset with its ETag; `If-None-Match` with the same tag gets a 304.
fn asset(
    headers: &HeaderMap,
    body: &'static str,
    tag: &str,
    content_type: &'static str,
) -> Response {
    let cache = [
        (header::CACHE_CONTROL, "public, max-age=300"),
        (header::CONTENT_TYPE, content_type),
    ];
    let etag_value = HeaderValue::from_str(tag).unwrap_or(HeaderValue::from_static("\"\""));
    let mut response = if unchanged(headers, tag) {
        (StatusCode::NOT_MODIFIED, cache).into_response()
    } else {
        (cache, body).into_response()
    };
    response.headers_mut().insert(header::ETAG, etag_value);
    response
}

#[utoipa::path(get, path = "/banner.js", summary = "The banner's script", tag = "banner", operation_id = "banner_script", security(()),
    description = "The banner's script, for the company's pages.",
    responses(
        (status = 200, description = "The script, with its `ETag`", content_type = "text/javascript", body = String),
        (status = 304, description = "Unchanged since the `ETag` sent in `If-None-Match`")
    ))]
async fn script(Extension(b): Extension<Arc<Banner>>, headers: HeaderMap) -> Response {
    asset(
        &headers,
        SCRIPT,
        &b.script_etag,
        "text/javascript; charset=utf-8",
    )
}

#[utoipa::path(get, path = "/banner.css", summary = "The banner's style sheet", tag = "banner", operation_id = "banner_style", security(()),
    description = "The banner's style sheet.",
    responses(
        (status = 200, description = "The style sheet, with its `ETag`", content_type = "text/css", body = String),
        (status = 304, description = "Unchanged since the `ETag` sent in `If-None-Match`")
    ))]
async fn style(Extension(b): Extension<Arc<Banner>>, headers: HeaderMap) -> Response {
    asset(&headers, STYLE, &b.style_etag, "text/css; charset=utf-8")
}

/// `GET /banner/config.json`. A browser that sends `Sec-GPC: 1` is told so (`"gpc": true`),
/// so the script honours the signal even where the page cannot see it in
/// `navigator.globalPrivacyControl`.
#[utoipa::path(get, path = "/banner/config.json", summary = "The banner's configuration", tag = "banner", operation_id = "banner_config", security(()),
    params(("Sec-GPC" = Option<String>, Header, description = "`1`: the browser sends Global Privacy Control")),
    responses(
        (status = 200, description = "The notice, its categories and text hash, and whether the browser sent GPC", content_type = "application/json", body = crate::http::schemas::BannerConfig),
        (status = 304, description = "Unchanged since the `ETag` sent in `If-None-Match`")
    ))]
async fn config(Extension(b): Extension<Arc<Banner>>, headers: HeaderMap) -> Response {
    let (tag, body) = &b.config_json[usize::from(gpc_signal(&headers))];
    let mut response = if unchanged(&headers, tag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, "application/json")], body.clone()).into_response()
    };
    let h = response.headers_mut();
    // Revalidate every time: a new declaration after a restart is a new notice.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(tag) = HeaderValue::from_str(tag) {
        h.insert(header::ETAG, tag);
    }
    let mut response = cors(&b, &headers, response);
    // The answer depends on the signal too.
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Origin, Sec-GPC"));
    response
}

/// Adds the CORS headers for an allowed origin.
fn cors(b: &Banner, headers: &HeaderMap, mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = b.allowed_origin(headers) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    response
}

#[utoipa::path(options, path = "/banner/config.json", summary = "CORS preflight of the configuration", tag = "banner", operation_id = "banner_config_preflight", security(()),
    description = "The CORS preflight of `GET /banner/config.json`.",
    responses((status = 204, description = "Allowed methods and headers for a declared origin")))]
async fn config_preflight(b: Extension<Arc<Banner>>, headers: HeaderMap) -> Response {
    preflight(b, headers).await
}

#[utoipa::path(options, path = "/banner/consent", summary = "CORS preflight of a choice", tag = "banner", operation_id = "banner_consent_preflight", security(()),
    description = "The CORS preflight of `POST /banner/consent`.",
    responses((status = 204, description = "Allowed methods and headers for a declared origin")))]
async fn choice_preflight(b: Extension<Arc<Banner>>, headers: HeaderMap) -> Response {
    preflight(b, headers).await
}

/// The CORS preflight of the banner's calls.
async fn preflight(Extension(b): Extension<Arc<Banner>>, headers: HeaderMap) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    if b.allowed_origin(&headers).is_some() {
        let h = response.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("content-type, sec-gpc"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
    cors(&b, &headers, response)
}

/// `POST /banner/consent`: a choice made in the banner.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BannerChoice {
    /// The visitor's random id (32 lower-case hex digits), kept by the script; recorded as
    /// `visitor:<id>` so it can never be mistaken for, or used as, an application user id.
    subject: String,
    /// The notice version and text hash the banner showed (from its configuration).
    notice_version: String,
    text_hash: String,
    /// Each optional category: `true` accepted, `false` refused.
    categories: BTreeMap<String, bool>,
    /// `navigator.globalPrivacyControl` as the script saw it.
    #[serde(default)]
    gpc: bool,
}

/// The ledger subject of a banner visitor id, if it is one the script could have made.
fn visitor_subject(id: &str) -> Result<SubjectRef, Problem> {
    let well_formed = id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !well_formed {
        return Err(Problem::invalid(
            "`subject` must be the banner's visitor id: 32 lower-case hex digits",
        ));
    }
    format!("visitor:{id}")
        .parse()
        .map_err(|e| Problem::invalid(format!("`subject`: {e}")))
}

#[utoipa::path(post, path = "/banner/consent", summary = "Record a choice made in the banner", tag = "banner", operation_id = "banner_record_choice", security(()),
    description = "A choice made in the banner, recorded in the consent ledger. No API key: CORS limits it to the declared origins, and writes are rate-limited per network.",
    request_body = BannerChoice,
    responses(
        (status = 201, description = "Recorded: the ledger's receipts", body = crate::http::schemas::Receipts),
        (status = 400, description = "Malformed JSON", body = crate::http::problem::ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "An origin the banner is not declared for", body = crate::http::problem::ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "The notice changed since the banner was shown", body = crate::http::problem::ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Not a visitor id, or a category the banner does not offer", body = crate::http::problem::ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Too many writes from this network; see Retry-After", body = crate::http::problem::ProblemDoc, content_type = "application/problem+json")
    ))]
async fn record_choice(
    State(state): State<AppState>,
    Extension(b): Extension<Arc<Banner>>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Result<ApiJson<BannerChoice>, Problem>,
) -> Response {
    let result = record_choice_inner(&state, &b, &headers, peer, body).await;
    let response = match result {
        Ok(response) => response,
        Err(problem) => problem.into_response(),
    };
    cors(&b, &headers, response)
}

async fn record_choice_inner(
    state: &AppState,
    b: &Banner,
    headers: &HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Result<ApiJson<BannerChoice>, Problem>,
) -> Result<Response, Problem> {
    // A page of another site may not record choices for its visitors here.
    if headers.contains_key(header::ORIGIN) && b.allowed_origin(headers).is_none() {
        return Err(Problem::forbidden(
            "this origin is not one the banner is declared for",
        ));
    }
    let ip = client_ip(state, headers, peer);
    b.limiter.check(ip, state.now())?;
    let ApiJson(body) = body?;
    let subject = visitor_subject(&body.subject)?;
    if body.notice_version != b.config.notice.version || body.text_hash != b.config.text_hash {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "notice-changed",
            "The notice changed since the banner was shown",
            "reload the banner's configuration and ask again",
        ));
    }
    let gpc_header = gpc_signal(headers);
    let previous = state.consent.current(&subject);
    let choices = choices(b, &body, gpc_header, &previous)?;
    let receipts = state
        .consent
        .record(RecordConsent {
            subject,
            choices,
            method: Method::Banner,
            notice_version: Some(b.config.notice.version.clone()),
            text_hash: Some(hex_of(&b.config.text_hash)),
            ip,
            user_agent: user_agent(headers),
            gpc: gpc_header,
            actor: "banner".to_string(),
        })
        .await?;
    state.progressed();
    let receipts: Vec<_> = receipts
        .into_iter()
        .map(|r| json!({"seq": r.seq, "hash": r.hash, "receipt": r.document}))
        .collect();
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "receipts": receipts })),
    )
        .into_response())
}

/// The ledger's choice for each category of the body: given, refused, or withdrawn when it
/// was given before. Only the banner's optional categories may be sent.
fn choices(
    b: &Banner,
    body: &BannerChoice,
    gpc_header: bool,
    previous: &SubjectConsent,
) -> Result<Vec<Choice>, Problem> {
    let mut choices = Vec::new();
    for (name, accepted) in &body.categories {
        let category = b
            .config
            .categories
            .iter()
            .find(|c| cookie_category_name(c.id) == name)
            .ok_or_else(|| {
                Problem::invalid(format!("`{name}` is not a category this banner offers"))
            })?;
        if category.essential {
            return Err(Problem::invalid(format!(
                "`{name}` is essential: it needs no consent and is not asked"
            )));
        }
        // Global Privacy Control wins over "accept all" for sale, sharing and advertising.
        let on = *accepted && !(category.gpc_opt_out && (gpc_header || body.gpc));
        let target = Target::Cookies(category.id);
        let was_given = previous
            .consents
            .iter()
            .any(|c| c.target == target && c.state == ConsentState::Given);
        let state = match (on, was_given) {
            (true, _) => ConsentState::Given,
            (false, true) => ConsentState::Withdrawn,
            (false, false) => ConsentState::Refused,
        };
        choices.push(Choice { target, state });
    }
    Ok(choices)
}

/// The ledger keeps text hashes as bare hex.
fn hex_of(hash: &str) -> String {
    hash.strip_prefix("sha256:").unwrap_or(hash).to_string()
}

pub(crate) fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(512).collect())
}

/// The caller's address: the connection's peer, or behind a trusted proxy the last entry of
/// the header it sets (`public.client_ip_header`, as for public intake).
pub(crate) fn client_ip(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
) -> Option<IpAddr> {
    let forwarded = state
        .config
        .public
        .client_ip_header
        .as_deref()
        .and_then(|name| crate::http::public::last_entry(headers, name))
        .and_then(|v| v.parse().ok());
    forwarded.or_else(|| peer.map(|Extension(ConnectInfo(addr))| addr.ip()))
}

/// Writes per network (/24 or /48), with the token buckets public intake uses.
struct RateLimiter {
    /// None: no limit.
    limiter: Option<Limiter>,
}

impl RateLimiter {
    fn new(per_minute: u32) -> Self {
        RateLimiter {
            limiter: (per_minute > 0)
                .then(|| Limiter::new(Rate::per_hour(per_minute, per_minute.saturating_mul(60)))),
        }
    }

    /// Takes one write from the caller's network's bucket at `now`, or refuses with 429.
    fn check(&self, ip: Option<IpAddr>, now: i64) -> Result<(), Problem> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        let key = ip.map_or_else(String::new, pledge_domain::consent::truncate_ip);
        limiter.take(&key, now).map_err(|wait| {
            Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                format!("try again in {wait} seconds"),
            )
        })
    }
}

/// `POST /v1/subjects/{subject}/preference-links`: what to put in an e-mail to a known person.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// The marketing purposes the e-mail is sent for: its unsubscribe link withdraws them.
    /// Empty: no unsubscribe link.
    #[serde(default)]
    pub purposes: Vec<String>,
}

const LINK_MINTERS: &[Role] = &[Role::Admin, Role::PrivacyOfficer, Role::Service];

#[utoipa::path(post, path = "/v1/subjects/{subject}/preference-links", summary = "Mint preference and unsubscribe links", operation_id = "mint_preference_links", security(("api_key" = ["admin", "privacy_officer", "service"])), tag = "consent",
    params(("subject" = String, Path, description = "The person's subject id, as the application names it")),
    request_body = LinkRequest,
    responses(
        (status = 200, description = "The preference link, and the unsubscribe link and e-mail headers", body = crate::http::schemas::PreferenceLinks),
        (status = 422, description = "Unknown subject format or a purpose one cannot unsubscribe from", body = crate::http::problem::ProblemDoc, content_type = "application/problem+json"),
        crate::http::problem::AuthProblems,
        (status = 503, description = "No link key is configured, or the store did not answer the key's check (see Retry-After)", body = crate::http::problem::ProblemDoc, content_type = "application/problem+json")
    ))]
pub async fn mint_links(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(subject): Path<String>,
    body: Result<ApiJson<LinkRequest>, Problem>,
) -> Result<Response, Problem> {
    caller.require(LINK_MINTERS, "mint preference links")?;
    let ApiJson(request) = body?;
    // 503 before anything else when links are off.
    link_key(&state)?;
    let subject: SubjectRef = subject
        .parse()
        .map_err(|e| Problem::invalid(format!("subject: {e}")))?;
    let marketing: Vec<_> = core_banner::preferences(&state.decl)
        .into_iter()
        .filter(|p| p.marketing)
        .map(|p| p.purpose)
        .collect();
    let mut purposes = Vec::new();
    for p in &request.purposes {
        if !marketing.contains(p) {
            return Err(Problem::invalid(format!(
                "`{p}` is not a direct-marketing purpose of the declaration; those are: {}",
                marketing.join(", ")
            )));
        }
        let id: PurposeId = p
            .parse()
            .map_err(|e| Problem::invalid(format!("purpose `{p}`: {e}")))?;
        purposes.push(id);
    }
    let minted = mint_preference_links(&state, &subject, purposes, &caller.actor()).await?;
    let base = public_base(&state);
    let mut out = json!({
        "subject": subject.as_str(),
        "preferences": {
            "url": format!("{base}/{}", minted.preferences.path),
            "expires_at": CivilTime::from_unix(minted.preferences.expires_at).to_rfc3339(),
        },
    });
    if let Some(unsubscribe) = &minted.unsubscribe {
        let url = format!("{base}/{}", unsubscribe.path);
        out["unsubscribe"] = json!({
            "url": url,
            "expires_at": CivilTime::from_unix(unsubscribe.expires_at).to_rfc3339(),
            "headers": {
                "List-Unsubscribe": format!("<{url}>"),
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        });
    }
    let mut response = axum::Json(out).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// A signed link just made: its path under the public URL (`preferences?token=...`) and
/// when it stops working.
pub(crate) struct MintedLink {
    pub path: String,
    pub expires_at: i64,
}

/// The links minted for one subject: always a preference link, and an unsubscribe link when
/// purposes were named.
pub(crate) struct MintedLinks {
    pub preferences: MintedLink,
    pub unsubscribe: Option<MintedLink>,
}

/// The one way preference and unsubscribe links are made: signed under the link key, timed
/// by the server's clock, and recorded in the audit log (the links let their holder change
/// the person's choices, so who made them, for whom, is kept). No link is handed out when
/// the record cannot be written.
pub(crate) async fn mint_preference_links(
    state: &AppState,
    subject: &SubjectRef,
    unsubscribe: Vec<PurposeId>,
    actor: &str,
) -> Result<MintedLinks, Problem> {
    let key = link_key(state)?;
    let settings = &state.config.banner;
    let now = state.now();
    let sign = |kind: LinkKind, purposes: Vec<PurposeId>, days: u32| {
        let link = SignedLink {
            kind,
            subject: subject.to_string(),
            purposes,
            expires_at: now + i64::from(days) * 86_400,
        };
        let page = match kind {
            LinkKind::Preferences => "preferences",
            LinkKind::Unsubscribe => "unsubscribe",
        };
        MintedLink {
            path: format!("{page}?token={}", token::sign(key, &link)),
            expires_at: link.expires_at,
        }
    };
    let purposes: Vec<String> = unsubscribe.iter().map(ToString::to_string).collect();
    let minted = MintedLinks {
        preferences: sign(
            LinkKind::Preferences,
            Vec::new(),
            settings.preference_link_days,
        ),
        unsubscribe: (!unsubscribe.is_empty()).then(|| {
            sign(
                LinkKind::Unsubscribe,
                unsubscribe,
                settings.unsubscribe_link_days,
            )
        }),
    };
    let mut kinds = vec!["preferences"];
    if minted.unsubscribe.is_some() {
        kinds.push("unsubscribe");
    }
    state
        .store
        .record_links_minted(subject.as_str(), &kinds, &purposes, actor, now)
        .await?;
    Ok(minted)
}

/// The link key, or 503 when none is configured.
pub(crate) fn link_key(state: &AppState) -> Result<&[u8], Problem> {
    let key = &state.config.banner.link_key;
    if key.len() < token::MIN_KEY_LEN {
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "links-disabled",
            "Preference and unsubscribe links are not configured",
            "set PLEDGE_LINK_KEY (32 or more characters) and restart the server",
        ));
    }
    Ok(key)
}

/// `https://privacy.shop.example`: the server's public URL (`public.base_url`).
fn public_base(state: &AppState) -> String {
    state
        .config
        .public
        .base_url
        .trim_end_matches('/')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_and_host() {
        assert_eq!(
            origin_of("https://shop.example/privacy?x#y").as_deref(),
            Some("https://shop.example")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(origin_of("https:///x"), None);
    }

    #[test]
    fn settings_come_from_the_environment() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| (*v).to_string())
            }
        };
        let s = Settings::from_vars(vars(&[
            ("PLEDGE_LINK_KEY", "k-0123456789-0123456789-0123456789"),
            (
                "PLEDGE_BANNER_ORIGINS",
                "https://shop.example/, ,http://127.0.0.1:3000",
            ),
            ("PLEDGE_BANNER_WRITES_PER_MINUTE", "600"),
        ]))
        .expect("valid settings");
        assert_eq!(s.origins, ["https://shop.example", "http://127.0.0.1:3000"]);
        assert_eq!(s.link_key.len(), 34);
        assert_eq!(s.writes_per_minute, 600);

        let none = Settings::from_vars(vars(&[])).expect("nothing set is valid");
        assert!(none.link_key.is_empty() && none.origins.is_empty());
        assert_eq!(none.writes_per_minute, 60);
        let short = Settings::from_vars(vars(&[("PLEDGE_LINK_KEY", "short")]));
        assert!(short.is_err());
        let many = Settings::from_vars(vars(&[("PLEDGE_BANNER_WRITES_PER_MINUTE", "many")]));
        assert!(many.is_err());
    }

    #[test]
    fn visitor_ids_are_32_hex_digits() {
        assert_eq!(
            visitor_subject("0123456789abcdef0123456789abcdef")
                .expect("valid")
                .as_str(),
            "visitor:0123456789abcdef0123456789abcdef"
        );
        for bad in ["", "user-42", "0123456789ABCDEF0123456789ABCDEF", "0123"] {
            assert!(visitor_subject(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_bucket_refuses_past_its_capacity() {
        let limiter = RateLimiter::new(3);
        let ip: Option<IpAddr> = "192.0.2.7".parse().ok();
        let now = 1_800_000_000;
        for _ in 0..3 {
            assert!(limiter.check(ip, now).is_ok());
        }
        let refused = limiter
            .check(ip, now)
            .expect_err("the fourth write is refused");
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        // Another address of the same /24 shares the bucket; another network does not.
        assert!(limiter.check("192.0.2.99".parse().ok(), now).is_err());
        assert!(limiter.check("198.51.100.1".parse().ok(), now).is_ok());
        // Refilled evenly: one write a minute at three a minute... after 20 s.
        assert!(limiter.check(ip, now + 20).is_ok());
        assert!(RateLimiter::new(0).check(ip, now).is_ok());
    }
}
