//! Single sign-on for the staff console with an OpenID Connect provider: the settings
//! (`[console.oidc]`, each part parsed into a type that can only hold a valid value), and
//! the client of the provider: discovery (cached), the token exchange, the ID token's
//! verification ([`jwt`]) and, when the token carries no address, the UserInfo endpoint.
//! The console's routes that use it are in `http::console::sso`.
//!
//! Nothing here logs a secret, a token or a claim: errors name what failed, not what was
//! received.

pub mod jwt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::Url;
use serde::Deserialize;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The path of the console's callback, the redirect URI's path.
pub const CALLBACK_PATH: &str = "/console/sign-in/oidc/callback";
/// The environment variable the client secret is read from.
pub const CLIENT_SECRET_ENV: &str = "PLEDGE_CONSOLE_OIDC_CLIENT_SECRET";
/// How far the provider's clock may be off the server's, in seconds.
pub const LEEWAY_SECS: i64 = 60;
/// How long the provider's discovery document is used before it is read again, in seconds.
pub const DISCOVERY_TTL_SECS: i64 = 60 * 60;
/// The JWKS is read again on a key it does not have, but not more often than this.
pub const JWKS_REFRESH_SECS: i64 = 10;
/// Each call to the provider answers within this or fails.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest document read from the provider, in bytes.
const MAX_DOCUMENT: usize = 256 * 1024;

/// A setting of `[console.oidc]` that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("console.oidc.{key}: `{value}` is not a URL: {reason}")]
    NotUrl {
        key: &'static str,
        value: String,
        reason: String,
    },
    #[error(
        "console.oidc.{key}: `{value}` must be https (http only on a loopback address, for tests)"
    )]
    NotHttps { key: &'static str, value: String },
    #[error("console.oidc.{key}: `{value}` must have no query, fragment or user name")]
    Extra { key: &'static str, value: String },
    #[error("console.oidc.redirect_url: `{0}` must end in {CALLBACK_PATH}, the console's callback")]
    RedirectPath(String),
    #[error("console.oidc.client_id is missing or empty")]
    NoClientId,
    #[error("console.oidc.issuer is missing or empty")]
    NoIssuer,
    #[error(
        "console.oidc needs the client secret in the environment as {CLIENT_SECRET_ENV} (it is never read from the file)"
    )]
    NoSecret,
    #[error("console.oidc.scopes: `{0}` is not a scope (printable ASCII, no space or quote)")]
    BadScope(String),
    #[error("console.oidc.token_auth: `{0}` is not client_secret_basic or client_secret_post")]
    BadTokenAuth(String),
    #[error(
        "console.oidc needs the console's address: set console.oidc.redirect_url, or public.base_url (the callback is then BASE{CALLBACK_PATH})"
    )]
    NoRedirect,
    #[error("console.oidc.name: a name of 1 to 60 characters, not `{0}`")]
    BadName(String),
}

/// Whether `url` may be used for the provider or the callback: https, or http to a
/// loopback address (a provider or a console on the same machine, as in tests).
fn secure_enough(url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => url.host_str().is_some_and(|h| {
            h == "localhost"
                || h.trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }),
        _ => false,
    }
}

fn checked_url(key: &'static str, text: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(text.trim()).map_err(|e| ConfigError::NotUrl {
        key,
        value: text.to_string(),
        reason: e.to_string(),
    })?;
    if !secure_enough(&url) {
        return Err(ConfigError::NotHttps {
            key,
            value: text.to_string(),
        });
    }
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(ConfigError::Extra {
            key,
            value: text.to_string(),
        });
    }
    Ok(url)
}

/// The provider's issuer identifier: an https URL (http on loopback), compared exactly
/// with the `iss` of discovery and of every ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer(String);

impl Issuer {
    pub fn parse(text: &str) -> Result<Issuer, ConfigError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ConfigError::NoIssuer);
        }
        checked_url("issuer", text)?;
        // As written: `https://id.example/` and `https://id.example` are different issuers.
        Ok(Issuer(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `ISSUER/.well-known/openid-configuration` (Discovery 1.0, 4).
    pub fn discovery_url(&self) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            self.0.trim_end_matches('/')
        )
    }

    /// The host, the default name on the sign-in button.
    fn host(&self) -> String {
        Url::parse(&self.0)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| self.0.clone())
    }
}

/// The client's id at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(text: &str) -> Result<ClientId, ConfigError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ConfigError::NoClientId);
        }
        Ok(ClientId(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The client secret: from the environment only, never printed (its `Debug` hides it).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// The secret, if there is one (an empty value counts as none).
    pub fn parse(value: Option<String>) -> Result<ClientSecret, ConfigError> {
        match value {
            Some(v) if !v.is_empty() => Ok(ClientSecret(v)),
            _ => Err(ConfigError::NoSecret),
        }
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(hidden)")
    }
}

/// Where the provider sends the browser back: the console's callback, https (http on
/// loopback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUrl(String);

impl RedirectUrl {
    pub fn parse(text: &str) -> Result<RedirectUrl, ConfigError> {
        let url = checked_url("redirect_url", text)?;
        if url.path() != CALLBACK_PATH {
            return Err(ConfigError::RedirectPath(text.to_string()));
        }
        Ok(RedirectUrl(url.to_string()))
    }

    /// The callback under the console's public address (`https://privacy.example.com`).
    pub fn under(base: &str) -> Result<RedirectUrl, ConfigError> {
        let base = base.trim().trim_end_matches('/');
        Url::parse(base).map_err(|e| ConfigError::NotUrl {
            key: "redirect_url",
            value: base.to_string(),
            reason: e.to_string(),
        })?;
        RedirectUrl::parse(&format!("{base}{CALLBACK_PATH}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The scopes asked for; `openid` always first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes(Vec<String>);

impl Scopes {
    pub fn parse<S: AsRef<str>>(list: &[S]) -> Result<Scopes, ConfigError> {
        let mut scopes = vec!["openid".to_string()];
        for s in list.iter().flat_map(|s| s.as_ref().split_whitespace()) {
            let ok = s
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
            if !ok {
                return Err(ConfigError::BadScope(s.to_string()));
            }
            if !scopes.iter().any(|have| have == s) {
                scopes.push(s.to_string());
            }
        }
        Ok(Scopes(scopes))
    }

    /// The `scope` parameter.
    pub fn joined(&self) -> String {
        self.0.join(" ")
    }
}

impl Default for Scopes {
    fn default() -> Self {
        Scopes(vec!["openid".into(), "email".into()])
    }
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenAuth {
    /// HTTP Basic with the id and secret (RFC 6749, 2.3.1), the default.
    #[default]
    ClientSecretBasic,
    /// The id and secret in the form's body.
    ClientSecretPost,
}

impl TokenAuth {
    pub fn parse(text: &str) -> Result<TokenAuth, ConfigError> {
        match text.trim() {
            "client_secret_basic" => Ok(TokenAuth::ClientSecretBasic),
            "client_secret_post" => Ok(TokenAuth::ClientSecretPost),
            other => Err(ConfigError::BadTokenAuth(other.to_string())),
        }
    }
}

/// `[console.oidc]`, parsed: a provider Pledge can sign staff in with.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    pub issuer: Issuer,
    pub client_id: ClientId,
    pub client_secret: ClientSecret,
    pub redirect_url: RedirectUrl,
    pub scopes: Scopes,
    pub token_auth: TokenAuth,
    /// Shown on the sign-in page: "Sign in with NAME" (default: the issuer's host).
    pub name: String,
    /// Whether staff may still sign in with a password (default true).
    pub password_sign_in: bool,
}

/// The settings of `[console.oidc]` as written (file, then environment), before parsing.
#[derive(Debug, Clone, Default)]
pub struct OidcSettings {
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub redirect_url: Option<String>,
    /// The console's public address, which the redirect URL is derived from when it is not
    /// given.
    pub base_url: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub token_auth: Option<String>,
    pub name: Option<String>,
    pub password_sign_in: Option<bool>,
}

impl OidcConfig {
    /// Parses every setting; the first that cannot be used is the error.
    pub fn parse(s: OidcSettings) -> Result<OidcConfig, ConfigError> {
        let issuer = Issuer::parse(s.issuer.as_deref().unwrap_or_default())?;
        let client_id = ClientId::parse(s.client_id.as_deref().unwrap_or_default())?;
        let redirect_url = match (&s.redirect_url, &s.base_url) {
            (Some(url), _) => RedirectUrl::parse(url)?,
            (None, Some(base)) => RedirectUrl::under(base)?,
            (None, None) => return Err(ConfigError::NoRedirect),
        };
        let scopes = match &s.scopes {
            Some(list) => Scopes::parse(list)?,
            None => Scopes::default(),
        };
        let token_auth = s
            .token_auth
            .as_deref()
            .map(TokenAuth::parse)
            .transpose()?
            .unwrap_or_default();
        let name = match s.name.as_deref().map(str::trim) {
            None => issuer.host(),
            Some(n) if (1..=60).contains(&n.chars().count()) => n.to_string(),
            Some(n) => return Err(ConfigError::BadName(n.to_string())),
        };
        Ok(OidcConfig {
            client_secret: ClientSecret::parse(s.client_secret)?,
            issuer,
            client_id,
            redirect_url,
            scopes,
            token_auth,
            name,
            password_sign_in: s.password_sign_in.unwrap_or(true),
        })
    }
}

/// Why a sign-in with the provider failed. The messages name the step, never a token, a
/// secret or a claim's value.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the provider's {what} cannot be fetched: {detail}")]
    Unreachable { what: &'static str, detail: String },
    #[error("the provider answered {status} for its {what}")]
    Status {
        what: &'static str,
        status: reqwest::StatusCode,
    },
    #[error("the provider's {what} is not valid: {detail}")]
    BadDocument { what: &'static str, detail: String },
    #[error("the token endpoint refused the code: {0}")]
    TokenRefused(String),
    #[error("the ID token is not accepted: {0}")]
    IdToken(#[from] jwt::TokenError),
    #[error("neither the ID token nor the user info has an e-mail address")]
    NoEmail,
    #[error("the provider has not verified the e-mail address")]
    EmailNotVerified,
    #[error("the user info is of another subject than the ID token")]
    OtherSubject,
    #[error("the HTTP client cannot be built: {0}")]
    Client(String),
}

/// What the provider's discovery document says (Discovery 1.0, 3), of what Pledge uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub userinfo_endpoint: Option<String>,
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
}

/// Who the provider says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub subject: String,
    /// The address, verified (or not said to be unverified) by the provider.
    pub email: String,
}

/// What a callback brings to [`Provider::identify`].
#[derive(Debug, Clone, Copy)]
pub struct Callback<'a> {
    pub code: &'a str,
    pub verifier: &'a str,
    pub nonce: &'a str,
    pub now: i64,
}

struct Cached<T> {
    value: Arc<T>,
    at: i64,
}

/// The provider, with its discovery document and keys cached.
pub struct Provider {
    pub config: OidcConfig,
    http: OnceLock<Result<reqwest::Client, String>>,
    metadata: Mutex<Option<Cached<Metadata>>>,
    keys: Mutex<Option<Cached<jwt::Jwks>>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

/// The authorization request's parameters that change with each sign-in.
#[derive(Debug, Clone, Copy)]
pub struct Authorization<'a> {
    pub state: &'a str,
    pub nonce: &'a str,
    /// `BASE64URL(SHA-256(verifier))`.
    pub challenge: &'a str,
}

impl Provider {
    pub fn new(config: OidcConfig) -> Provider {
        Provider {
            config,
            http: OnceLock::new(),
            metadata: Mutex::new(None),
            keys: Mutex::new(None),
        }
    }

    /// One client for the provider, built on first use: rustls on ring with the web's
    /// roots, a timeout, no redirects followed.
    fn http(&self) -> Result<&reqwest::Client, OidcError> {
        self.http
            .get_or_init(|| {
                let tls = crate::jobs::forward::tls_config()?;
                reqwest::Client::builder()
                    .tls_backend_preconfigured(tls)
                    .user_agent("Pledge")
                    .timeout(TIMEOUT)
                    .connect_timeout(TIMEOUT)
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| crate::jobs::forward::error_chain(&e))
            })
            .as_ref()
            .map_err(|e| OidcError::Client(e.clone()))
    }

    /// Reads a response whole, at most [`MAX_DOCUMENT`] bytes.
    async fn body(what: &'static str, mut r: reqwest::Response) -> Result<Vec<u8>, OidcError> {
        let mut body = Vec::new();
        while let Some(chunk) = r.chunk().await.map_err(|e| OidcError::Unreachable {
            what,
            detail: crate::jobs::forward::error_chain(&e),
        })? {
            if body.len() + chunk.len() > MAX_DOCUMENT {
                return Err(OidcError::BadDocument {
                    what,
                    detail: format!("longer than {MAX_DOCUMENT} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    async fn get(&self, what: &'static str, url: &str) -> Result<Vec<u8>, OidcError> {
        let r = self
            .http()?
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| OidcError::Unreachable {
                what,
                detail: crate::jobs::forward::error_chain(&e),
            })?;
        if !r.status().is_success() {
            return Err(OidcError::Status {
                what,
                status: r.status(),
            });
        }
        Self::body(what, r).await
    }

    /// The discovery document, read again after [`DISCOVERY_TTL_SECS`]. Its issuer must be
    /// the configured one exactly (Discovery 1.0, 4.3), and its endpoints as secure.
    pub async fn metadata(&self, now: i64) -> Result<Arc<Metadata>, OidcError> {
        if let Some(c) = lock(&self.metadata).as_ref()
            && now - c.at < DISCOVERY_TTL_SECS
            && now >= c.at
        {
            return Ok(c.value.clone());
        }
        const WHAT: &str = "discovery document";
        let body = self.get(WHAT, &self.config.issuer.discovery_url()).await?;
        let m: Metadata = serde_json::from_slice(&body).map_err(|e| OidcError::BadDocument {
            what: WHAT,
            detail: e.to_string(),
        })?;
        if m.issuer != self.config.issuer.as_str() {
            return Err(OidcError::BadDocument {
                what: WHAT,
                detail: format!(
                    "its issuer is `{}`, not the configured `{}`",
                    m.issuer,
                    self.config.issuer.as_str()
                ),
            });
        }
        let endpoints = [
            Some(&m.authorization_endpoint),
            Some(&m.token_endpoint),
            Some(&m.jwks_uri),
            m.userinfo_endpoint.as_ref(),
        ];
        for e in endpoints.into_iter().flatten() {
            let ok = Url::parse(e).is_ok_and(|u| secure_enough(&u));
            if !ok {
                return Err(OidcError::BadDocument {
                    what: WHAT,
                    detail: format!("the endpoint `{e}` is not an https URL"),
                });
            }
        }
        if let Some(methods) = &m.code_challenge_methods_supported
            && !methods.iter().any(|x| x == "S256")
        {
            return Err(OidcError::BadDocument {
                what: WHAT,
                detail: "it does not support PKCE with S256".into(),
            });
        }
        let m = Arc::new(m);
        *lock(&self.metadata) = Some(Cached {
            value: m.clone(),
            at: now,
        });
        Ok(m)
    }

    /// The provider's keys; read again when `refresh` and the copy is older than
    /// [`JWKS_REFRESH_SECS`].
    async fn keys(
        &self,
        meta: &Metadata,
        refresh: bool,
        now: i64,
    ) -> Result<Arc<jwt::Jwks>, OidcError> {
        if let Some(c) = lock(&self.keys).as_ref() {
            let fresh = now >= c.at && now - c.at < JWKS_REFRESH_SECS;
            if !refresh || fresh {
                return Ok(c.value.clone());
            }
        }
        const WHAT: &str = "JWKS";
        let body = self.get(WHAT, &meta.jwks_uri).await?;
        let jwks = jwt::Jwks::parse(&body).map_err(|e| OidcError::BadDocument {
            what: WHAT,
            detail: e.to_string(),
        })?;
        tracing::info!(keys = jwks.len(), "console sso: read the provider's keys");
        let jwks = Arc::new(jwks);
        *lock(&self.keys) = Some(Cached {
            value: jwks.clone(),
            at: now,
        });
        Ok(jwks)
    }

    /// The URL of the authorization request: the code flow, PKCE with S256.
    pub fn authorization_url(
        &self,
        meta: &Metadata,
        a: Authorization<'_>,
    ) -> Result<String, OidcError> {
        let mut url =
            Url::parse(&meta.authorization_endpoint).map_err(|e| OidcError::BadDocument {
                what: "discovery document",
                detail: e.to_string(),
            })?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", self.config.client_id.as_str())
            .append_pair("redirect_uri", self.config.redirect_url.as_str())
            .append_pair("scope", &self.config.scopes.joined())
            .append_pair("state", a.state)
            .append_pair("nonce", a.nonce)
            .append_pair("code_challenge", a.challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(url.into())
    }

    /// Exchanges the code, verifies the ID token and finds the address: who signed in.
    pub async fn identify(&self, c: Callback<'_>) -> Result<Identity, OidcError> {
        let meta = self.metadata(c.now).await?;
        let tokens = self.exchange(&meta, c.code, c.verifier).await?;
        let unverified = jwt::parse(&tokens.id_token)?;
        let mut keys = self.keys(&meta, false, c.now).await?;
        if keys.find(&unverified.header).is_none() {
            // A key the copy does not have: the provider may have rotated its keys.
            keys = self.keys(&meta, true, c.now).await?;
        }
        let key = keys
            .find(&unverified.header)
            .ok_or_else(|| jwt::TokenError::UnknownKey(unverified.header.kid.clone()))?;
        let claims = unverified.verify(
            key,
            &jwt::Expected {
                issuer: self.config.issuer.as_str(),
                client_id: self.config.client_id.as_str(),
                nonce: c.nonce,
                now: c.now,
                leeway: LEEWAY_SECS,
            },
        )?;
        let (email, verified) = match claims.email {
            Some(email) => (email, claims.email_verified),
            // Core 5.4: claims asked for with scopes may come from UserInfo only.
            None => {
                let info = self.userinfo(&meta, tokens.access_token.as_deref()).await?;
                if info.get("sub").and_then(|s| s.as_str()) != Some(claims.subject.as_str()) {
                    return Err(OidcError::OtherSubject);
                }
                let email = info
                    .get("email")
                    .and_then(|e| e.as_str())
                    .ok_or(OidcError::NoEmail)?
                    .to_string();
                let verified = info.get("email_verified").and_then(jwt::truthy);
                (email, verified)
            }
        };
        if verified == Some(false) {
            return Err(OidcError::EmailNotVerified);
        }
        Ok(Identity {
            subject: claims.subject,
            email,
        })
    }

    async fn exchange(
        &self,
        meta: &Metadata,
        code: &str,
        verifier: &str,
    ) -> Result<Tokens, OidcError> {
        const WHAT: &str = "token response";
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.config.redirect_url.as_str()),
            ("code_verifier", verifier),
        ];
        let secret = self.config.client_secret.expose();
        let mut request = self.http()?.post(&meta.token_endpoint);
        match self.config.token_auth {
            TokenAuth::ClientSecretBasic => {
                // RFC 6749, 2.3.1: each part form-encoded before it is joined.
                let enc =
                    |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                let pair = format!("{}:{}", enc(self.config.client_id.as_str()), enc(secret));
                request = request.header(
                    reqwest::header::AUTHORIZATION,
                    format!("Basic {}", STANDARD.encode(pair)),
                );
            }
            TokenAuth::ClientSecretPost => {
                form.push(("client_id", self.config.client_id.as_str()));
                form.push(("client_secret", secret));
            }
        }
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let r = request
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| OidcError::Unreachable {
                what: WHAT,
                detail: crate::jobs::forward::error_chain(&e),
            })?;
        let status = r.status();
        let body = Self::body(WHAT, r).await?;
        if !status.is_success() {
            #[derive(Deserialize)]
            struct Refusal {
                error: String,
            }
            // Only the error code: its description is the provider's free text.
            return Err(match serde_json::from_slice::<Refusal>(&body) {
                Ok(r) => OidcError::TokenRefused(short_code(&r.error)),
                Err(_) => OidcError::Status { what: WHAT, status },
            });
        }
        // Not serde's message: it may quote what the answer holds.
        serde_json::from_slice(&body).map_err(|_| OidcError::BadDocument {
            what: WHAT,
            detail: "not JSON with an id_token".into(),
        })
    }

    async fn userinfo(
        &self,
        meta: &Metadata,
        access_token: Option<&str>,
    ) -> Result<serde_json::Map<String, serde_json::Value>, OidcError> {
        const WHAT: &str = "user info";
        let (Some(endpoint), Some(token)) = (&meta.userinfo_endpoint, access_token) else {
            return Err(OidcError::NoEmail);
        };
        let r = self
            .http()?
            .get(endpoint)
            .bearer_auth(token)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| OidcError::Unreachable {
                what: WHAT,
                detail: crate::jobs::forward::error_chain(&e),
            })?;
        if !r.status().is_success() {
            return Err(OidcError::Status {
                what: WHAT,
                status: r.status(),
            });
        }
        let body = Self::body(WHAT, r).await?;
        serde_json::from_slice(&body).map_err(|_| OidcError::BadDocument {
            what: WHAT,
            detail: "not a JSON object (a signed user info response is not supported)".into(),
        })
    }
}

/// The token endpoint's answer, of what Pledge uses.
#[derive(Deserialize)]
struct Tokens {
    id_token: String,
    access_token: Option<String>,
}

/// An OAuth error code as it may be logged and shown: its `[A-Za-z0-9_.-]` characters, at
/// most 40.
pub fn short_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .take(40)
        .collect()
}

/// A poisoned lock still holds a usable cache: take it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> OidcSettings {
        OidcSettings {
            issuer: Some("https://login.example.com/realms/staff".into()),
            client_id: Some("pledge-console".into()),
            client_secret: Some("s3cret".into()),
            base_url: Some("https://privacy.example.com/".into()),
            ..OidcSettings::default()
        }
    }

    #[test]
    fn settings_parse_into_a_provider() {
        let c = OidcConfig::parse(settings()).unwrap();
        assert_eq!(
            c.redirect_url.as_str(),
            "https://privacy.example.com/console/sign-in/oidc/callback"
        );
        assert_eq!(c.name, "login.example.com");
        assert_eq!(c.scopes.joined(), "openid email");
        assert_eq!(c.token_auth, TokenAuth::ClientSecretBasic);
        assert!(c.password_sign_in);
        assert_eq!(
            c.issuer.discovery_url(),
            "https://login.example.com/realms/staff/.well-known/openid-configuration"
        );
        // The secret never shows in a debug print.
        assert!(!format!("{c:?}").contains("s3cret"));
        let c = OidcConfig::parse(OidcSettings {
            scopes: Some(vec!["email profile".into(), "openid".into()]),
            redirect_url: Some("http://127.0.0.1:8080/console/sign-in/oidc/callback".into()),
            token_auth: Some("client_secret_post".into()),
            name: Some("Example SSO".into()),
            password_sign_in: Some(false),
            ..settings()
        })
        .unwrap();
        assert_eq!(c.scopes.joined(), "openid email profile");
        assert_eq!(c.token_auth, TokenAuth::ClientSecretPost);
        assert_eq!(c.name, "Example SSO");
        assert!(!c.password_sign_in);
    }

    #[test]
    fn unusable_settings_are_refused_with_what_to_do() {
        for (change, says) in [
            (
                OidcSettings {
                    issuer: Some("http://login.example.com".into()),
                    ..settings()
                },
                "must be https",
            ),
            (
                OidcSettings {
                    issuer: Some("login.example.com".into()),
                    ..settings()
                },
                "is not a URL",
            ),
            (
                OidcSettings {
                    issuer: None,
                    ..settings()
                },
                "issuer is missing",
            ),
            (
                OidcSettings {
                    client_id: Some(" ".into()),
                    ..settings()
                },
                "client_id is missing",
            ),
            (
                OidcSettings {
                    client_secret: Some(String::new()),
                    ..settings()
                },
                CLIENT_SECRET_ENV,
            ),
            (
                OidcSettings {
                    base_url: None,
                    ..settings()
                },
                "set console.oidc.redirect_url, or public.base_url",
            ),
            (
                OidcSettings {
                    redirect_url: Some("https://privacy.example.com/callback".into()),
                    ..settings()
                },
                "must end in /console/sign-in/oidc/callback",
            ),
            (
                OidcSettings {
                    redirect_url: Some(
                        "https://privacy.example.com/console/sign-in/oidc/callback?x=1".into(),
                    ),
                    ..settings()
                },
                "no query",
            ),
            (
                OidcSettings {
                    scopes: Some(vec!["email\"".into()]),
                    ..settings()
                },
                "is not a scope",
            ),
            (
                OidcSettings {
                    token_auth: Some("private_key_jwt".into()),
                    ..settings()
                },
                "not client_secret_basic or client_secret_post",
            ),
        ] {
            let e = OidcConfig::parse(change).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
    }

    /// A provider on a loopback port, for the client's own logic: what it serves can be
    /// changed between calls, and it counts the JWKS reads.
    mod fake {
        use super::super::jwt::tests::TestKey;
        use axum::handler::HandlerWithoutStateExt;
        use axum::http::{Method, StatusCode};
        use axum::response::{IntoResponse, Response};
        use serde_json::{Value as Json, json};
        use std::sync::{Arc, Mutex};

        pub struct Served {
            pub jwks: Json,
            pub id_token: Option<String>,
            pub userinfo: Json,
            pub jwks_reads: usize,
            pub token_auth: Option<String>,
            pub token_form: String,
        }

        pub type Shared = Arc<Mutex<Served>>;

        /// One handler for every path (not a router: this is no route of the server's).
        async fn answer(shared: Shared, issuer: String, req: axum::extract::Request) -> Response {
            let (parts, body) = req.into_parts();
            let header = |name: &str| {
                parts
                    .headers
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_string())
            };
            let json = |status: StatusCode, body: Json| (status, axum::Json(body)).into_response();
            match (parts.method.clone(), parts.uri.path()) {
                (Method::GET, "/.well-known/openid-configuration") => json(
                    StatusCode::OK,
                    json!({
                        "issuer": issuer,
                        "authorization_endpoint": format!("{issuer}/auth"),
                        "token_endpoint": format!("{issuer}/token"),
                        "jwks_uri": format!("{issuer}/jwks"),
                        "userinfo_endpoint": format!("{issuer}/me"),
                        "code_challenge_methods_supported": ["S256"],
                    }),
                ),
                (Method::GET, "/jwks") => {
                    let mut s = shared.lock().unwrap();
                    s.jwks_reads += 1;
                    json(StatusCode::OK, s.jwks.clone())
                }
                (Method::POST, "/token") => {
                    let body = axum::body::to_bytes(body, 64 * 1024).await.unwrap();
                    let mut s = shared.lock().unwrap();
                    s.token_auth = header("authorization");
                    s.token_form = String::from_utf8(body.to_vec()).unwrap();
                    match &s.id_token {
                        Some(t) => json(
                            StatusCode::OK,
                            json!({"id_token": t, "access_token": "at-1", "token_type": "Bearer"}),
                        ),
                        None => json(
                            StatusCode::BAD_REQUEST,
                            json!({"error": "invalid_grant", "error_description": "the code was used"}),
                        ),
                    }
                }
                (Method::GET, "/me")
                    if header("authorization").as_deref() == Some("Bearer at-1") =>
                {
                    json(StatusCode::OK, shared.lock().unwrap().userinfo.clone())
                }
                (Method::GET, "/me") => json(StatusCode::UNAUTHORIZED, json!({})),
                _ => json(StatusCode::NOT_FOUND, json!({})),
            }
        }

        pub async fn start(key: &TestKey) -> (String, Shared) {
            let shared = Arc::new(Mutex::new(Served {
                jwks: key.jwks_json("k1"),
                id_token: None,
                userinfo: json!({}),
                jwks_reads: 0,
                token_auth: None,
                token_form: String::new(),
            }));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let (s, issuer) = (shared.clone(), base.clone());
            let handler = move |req: axum::extract::Request| answer(s.clone(), issuer.clone(), req);
            tokio::spawn(async move { axum::serve(listener, handler.into_make_service()).await });
            (base, shared)
        }
    }

    #[tokio::test]
    async fn the_client_verifies_what_a_provider_answers() {
        use jwt::tests::TestKey;
        use serde_json::json;
        let key = TestKey::new();
        let (issuer, served) = fake::start(&key).await;
        let provider = Provider::new(
            OidcConfig::parse(OidcSettings {
                issuer: Some(issuer.clone()),
                client_id: Some("pledge console".into()),
                client_secret: Some("s3cret:x".into()),
                base_url: Some("http://127.0.0.1:8080".into()),
                ..OidcSettings::default()
            })
            .unwrap(),
        );
        let now = 1_800_000_000;
        let claims = |change: serde_json::Value| {
            let mut c = json!({
                "iss": issuer, "sub": "u-1", "aud": "pledge console", "exp": now + 300,
                "iat": now, "nonce": "the-nonce", "email": "ana@example.com",
            });
            for (k, v) in change.as_object().unwrap() {
                if v.is_null() {
                    c.as_object_mut().unwrap().remove(k);
                } else {
                    c[k] = v.clone();
                }
            }
            c
        };
        let answer = |token: Option<String>| served.lock().unwrap().id_token = token;
        let callback = Callback {
            code: "the-code",
            verifier: "the-verifier",
            nonce: "the-nonce",
            now,
        };

        // A good token; the client authenticated with HTTP Basic, each part form-encoded.
        answer(Some(key.sign(
            &json!({"alg": "ES256", "kid": "k1"}),
            &claims(json!({})),
        )));
        let who = provider.identify(callback).await.unwrap();
        assert_eq!(who.email, "ana@example.com");
        {
            let s = served.lock().unwrap();
            assert_eq!(
                s.token_auth.as_deref(),
                Some(format!("Basic {}", STANDARD.encode("pledge+console:s3cret%3Ax")).as_str())
            );
            assert!(
                s.token_form.contains("code_verifier=the-verifier"),
                "{}",
                s.token_form
            );
            assert!(s.token_form.contains("grant_type=authorization_code"));
            assert!(!s.token_form.contains("s3cret"));
            assert_eq!(s.jwks_reads, 1);
        }

        // The provider rotated its keys: a token of a new kid makes the client read the JWKS
        // again (once, not again within JWKS_REFRESH_SECS).
        let rotated = TestKey::new();
        served.lock().unwrap().jwks = rotated.jwks_json("k2");
        answer(Some(rotated.sign(
            &json!({"alg": "ES256", "kid": "k2"}),
            &claims(json!({})),
        )));
        let later = Callback {
            now: now + JWKS_REFRESH_SECS,
            ..callback
        };
        assert!(provider.identify(later).await.is_ok());
        assert_eq!(served.lock().unwrap().jwks_reads, 2);
        answer(Some(rotated.sign(
            &json!({"alg": "ES256", "kid": "k3"}),
            &claims(json!({})),
        )));
        let e = provider.identify(later).await.unwrap_err();
        assert!(
            matches!(e, OidcError::IdToken(jwt::TokenError::UnknownKey(_))),
            "{e}"
        );
        assert_eq!(
            served.lock().unwrap().jwks_reads,
            2,
            "not read again so soon"
        );

        // A token for another client, or another sign-in.
        for (change, expected) in [
            (json!({"aud": "another client"}), jwt::TokenError::Audience),
            (json!({"nonce": "another-nonce"}), jwt::TokenError::Nonce),
            (
                json!({"iss": "https://elsewhere.example"}),
                jwt::TokenError::Issuer,
            ),
        ] {
            answer(Some(
                rotated.sign(&json!({"alg": "ES256", "kid": "k2"}), &claims(change)),
            ));
            match provider.identify(later).await {
                Err(OidcError::IdToken(e)) => assert_eq!(e, expected),
                other => panic!("{other:?}"),
            }
        }

        // No address in the token: UserInfo's, if it is of the same subject and verified.
        let sign = |c| rotated.sign(&json!({"alg": "ES256", "kid": "k2"}), &c);
        answer(Some(sign(claims(json!({"email": null})))));
        served.lock().unwrap().userinfo =
            json!({"sub": "u-1", "email": "bo@example.com", "email_verified": true});
        assert_eq!(
            provider.identify(later).await.unwrap().email,
            "bo@example.com"
        );
        served.lock().unwrap().userinfo = json!({"sub": "u-2", "email": "bo@example.com"});
        assert!(matches!(
            provider.identify(later).await,
            Err(OidcError::OtherSubject)
        ));
        served.lock().unwrap().userinfo =
            json!({"sub": "u-1", "email": "bo@example.com", "email_verified": false});
        assert!(matches!(
            provider.identify(later).await,
            Err(OidcError::EmailNotVerified)
        ));
        served.lock().unwrap().userinfo = json!({"sub": "u-1"});
        assert!(matches!(
            provider.identify(later).await,
            Err(OidcError::NoEmail)
        ));
        answer(Some(sign(claims(json!({"email_verified": "false"})))));
        assert!(matches!(
            provider.identify(later).await,
            Err(OidcError::EmailNotVerified)
        ));

        // The token endpoint's refusal: its code only, never its description.
        answer(None);
        let e = provider.identify(later).await.unwrap_err();
        assert!(
            matches!(&e, OidcError::TokenRefused(c) if c == "invalid_grant"),
            "{e}"
        );
        assert!(!e.to_string().contains("the code was used"));
    }
}
