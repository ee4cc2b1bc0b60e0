//! `pledge serve --config FILE`: the server's settings from a TOML file, each overridable by
//! a `PLEDGE_*` environment variable, and command-line flags over both. Secrets (the SMTP
//! URL with its password, the HMAC key, a store URL with a password) come only from the
//! environment: the file refuses them, so it can be kept in git.

use anyhow::{Result, anyhow, bail};
use pledge_plan::retry::Backoff;
use pledge_server::http::ratelimit::Rate;
use pledge_server::{EdgeConfig, MailConfig, PublicConfig};
use pledge_store::staff::SessionPolicy;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file, as written. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The declaration (file or folder), relative to the config file.
    pub declaration: Option<PathBuf>,
    pub store: Option<toml::Spanned<String>>,
    pub listen: Option<String>,
    pub workers: Option<usize>,
    pub lease_secs: Option<i64>,
    /// Refused: a secret.
    pub hmac_key: Option<toml::Spanned<toml::Value>>,
    #[serde(default)]
    pub public: PublicFile,
    #[serde(default)]
    pub mail: MailFile,
    #[serde(default)]
    pub retention: RetentionFile,
    #[serde(default)]
    pub maintenance: MaintenanceFile,
    #[serde(default)]
    pub retry: RetryFile,
    #[serde(default)]
    pub limits: LimitsFile,
    #[serde(default)]
    pub metrics: MetricsFile,
    #[serde(default)]
    pub checkpoints: CheckpointsFile,
    #[serde(default)]
    pub digest: DigestFile,
    #[serde(default)]
    pub console: ConsoleFile,
}

/// The staff console's sign-in and sessions (`pledge_store::staff::SessionPolicy`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleFile {
    /// Failed sign-ins in a row that lock an account (default 5).
    pub max_failures: Option<i64>,
    /// How long a lock-out lasts, in seconds (default 900).
    pub lockout_secs: Option<i64>,
    /// A session unused this long ends, in seconds (default 1800).
    pub idle_secs: Option<i64>,
    /// A session ends this long after sign-in however much it is used (default 43200).
    pub absolute_secs: Option<i64>,
    /// Single sign-on with an OpenID Connect provider.
    pub oidc: Option<OidcFile>,
}

/// `[console.oidc]`: single sign-on for the console (`pledge_server::oidc::OidcConfig`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcFile {
    /// The provider's issuer URL (its discovery document is under it).
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    /// Refused: a secret (PLEDGE_CONSOLE_OIDC_CLIENT_SECRET).
    pub client_secret: Option<toml::Spanned<toml::Value>>,
    /// The callback URL registered at the provider (default: public.base_url and the path).
    pub redirect_url: Option<String>,
    /// Scopes besides `openid` (default `["email"]`).
    pub scopes: Option<Vec<String>>,
    /// `client_secret_basic` (default) or `client_secret_post`.
    pub token_auth: Option<String>,
    /// The name on the sign-in button (default: the issuer's host).
    pub name: Option<String>,
    /// Whether staff may still sign in with a password (default true).
    pub password_sign_in: Option<bool>,
}

/// The staff's digest of deadlines, by e-mail.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestFile {
    /// A cron expression in UTC (default every day at 07:00).
    pub schedule: Option<String>,
    /// Staff e-mail addresses; none: no digest.
    pub recipients: Option<Vec<String>>,
    /// "Due soon": within this many days (default 7).
    pub window_days: Option<i64>,
}

/// Retries of jobs that failed on a passing fault (a database down, a lock, a timeout).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryFile {
    /// Seconds before the first retry; each later one waits twice as long.
    pub first_delay_secs: Option<i64>,
    /// The longest wait between two retries, in seconds.
    pub max_delay_secs: Option<i64>,
    /// Seconds from the first failure after which the request goes to staff.
    pub budget_secs: Option<i64>,
    /// Each wait is shortened at random by up to this share (0 to 100).
    pub jitter_percent: Option<u8>,
}

/// Limits at the edge, and how long API keys are trusted while the store does not answer.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    pub header_read_timeout_secs: Option<u64>,
    pub body_read_timeout_secs: Option<u64>,
    pub max_connections: Option<usize>,
    pub key_check_timeout_ms: Option<u64>,
    pub key_grace_secs: Option<u64>,
}

/// `/metrics`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsFile {
    /// Serve `/metrics` without an API key (default: a metrics, admin or privacy officer key).
    pub public: Option<bool>,
}

/// Signed checkpoints of the audit log and the consent ledger.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointsFile {
    /// The key's name, the first part of each checkpoint's origin line.
    pub name: Option<String>,
    /// A cron expression in UTC.
    pub schedule: Option<String>,
    /// Also after this many new audit records.
    pub every_records: Option<u64>,
    /// Where each log's checkpoints are appended (outside the store).
    pub dir: Option<PathBuf>,
    /// A file holding the signing key (its path; the key itself is refused here).
    pub key_file: Option<PathBuf>,
    /// Refused: a secret.
    pub key: Option<toml::Spanned<toml::Value>>,
}

/// The scheduled retention sweep.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionFile {
    /// A cron expression in UTC; none: the server never sweeps on its own.
    pub schedule: Option<String>,
    pub batch_size: Option<u64>,
}

/// The expiry of Pledge's own data.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceFile {
    pub schedule: Option<String>,
    /// An ISO 8601 duration.
    pub minimise_closed_after: Option<String>,
    pub export_ttl_days: Option<i64>,
    pub link_ttl_days: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicFile {
    pub enabled: Option<bool>,
    pub base_url: Option<String>,
    pub needs_approval: Option<bool>,
    pub code_ttl_minutes: Option<i64>,
    pub max_attempts: Option<i64>,
    pub client_ip_header: Option<String>,
    pub intake_per_ip: Option<RateFile>,
    pub intake_per_email: Option<RateFile>,
    pub verify_per_ip: Option<RateFile>,
    /// Origins whose pages may call public intake from a script (CORS).
    pub origins: Option<Vec<String>>,
    /// The privacy center's accent colour, `#rrggbb`.
    pub accent_color: Option<String>,
    /// The language of the person's pages and mails when nothing else says (`en`, `da`, `fr`).
    pub language: Option<String>,
    /// An image file (PNG, JPEG, WebP, SVG): the company's logo on the person's pages.
    pub logo: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateFile {
    pub burst: u32,
    pub per_hour: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailFile {
    pub from: Option<String>,
    pub max_attempts: Option<i64>,
    /// Refused: holds the password.
    pub smtp_url: Option<toml::Spanned<toml::Value>>,
}

/// The environment variable for the SMTP URL (a secret).
pub const SMTP_URL_ENV: &str = "PLEDGE_SMTP_URL";

/// The origins of `[public] origins`: `scheme://host[:port]` each (a trailing `/` is
/// dropped, as browsers send none), or `*`.
fn origins(list: &[String]) -> Result<Vec<String>> {
    list.iter()
        .map(|o| o.trim().trim_end_matches('/'))
        .filter(|o| !o.is_empty())
        .map(|o| {
            let ok = o == "*"
                || ((o.starts_with("https://") || o.starts_with("http://"))
                    && !o
                        .split_once("://")
                        .is_some_and(|(_, rest)| rest.is_empty() || rest.contains('/')));
            if ok {
                Ok(o.to_string())
            } else {
                bail!("public.origins: `{o}` is not an origin (scheme://host[:port], or *)")
            }
        })
        .collect()
}

/// The privacy center's accent colour: `#rrggbb`, dark enough that its buttons' white text
/// reads (a contrast of at least 4.5:1, WCAG 2.2's level AA for text).
fn accent_color(text: &str) -> Result<String> {
    let hex = text
        .strip_prefix('#')
        .filter(|h| h.len() == 6 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| anyhow::anyhow!("public.accent_color: `{text}` is not a colour #rrggbb"))?;
    // Relative luminance of sRGB (WCAG 2.2, definitions).
    let channel = |i: usize| {
        let v = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0)) / 255.0;
        if v <= 0.04045 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    let luminance = 0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4);
    let contrast = 1.05 / (luminance + 0.05);
    if contrast < 4.5 {
        bail!(
            "public.accent_color: white text on {text} has a contrast of {contrast:.1}:1, under the 4.5:1 text needs; choose a darker colour"
        );
    }
    Ok(text.to_ascii_lowercase())
}

/// `file:line:column` of a byte offset.
fn locate(path: &Path, text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{}:{line}:{column}", path.display())
}

/// serde's "unknown field `x`, expected one of `a`, `b`" with a "did you mean" added when
/// one of the expected keys is close to `x`.
fn with_suggestion(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_string();
    };
    let Some((field, expected)) = rest.split_once('`') else {
        return message.to_string();
    };
    let keys = expected.split('`').skip(1).step_by(2);
    match pledge_lang::de::did_you_mean(field, keys) {
        Some(near) => format!("{message} (did you mean `{near}`?)"),
        None => message.to_string(),
    }
}

impl FileConfig {
    /// Parses the file's text. Errors name the file, line and column.
    pub fn parse(path: &Path, text: &str) -> Result<FileConfig> {
        let config: FileConfig = toml::from_str(text).map_err(|e| {
            let at = e.span().map_or_else(
                || path.display().to_string(),
                |s| locate(path, text, s.start),
            );
            anyhow!("{at}: {}", with_suggestion(e.message()))
        })?;
        if let Some(v) = &config.mail.smtp_url {
            bail!(
                "{}: `mail.smtp_url` holds a password: set it in the environment as {SMTP_URL_ENV}, not in the file",
                locate(path, text, v.span().start)
            );
        }
        if let Some(v) = &config.hmac_key {
            bail!(
                "{}: `hmac_key` is a secret: set it in the environment as PLEDGE_HMAC_KEY, not in the file",
                locate(path, text, v.span().start)
            );
        }
        if let Some(v) = &config.checkpoints.key {
            bail!(
                "{}: `checkpoints.key` is a secret: set it in the environment as PLEDGE_CHECKPOINT_KEY, or name a file with `checkpoints.key_file`",
                locate(path, text, v.span().start)
            );
        }
        if let Some(v) = config
            .console
            .oidc
            .as_ref()
            .and_then(|o| o.client_secret.as_ref())
        {
            bail!(
                "{}: `console.oidc.client_secret` is a secret: set it in the environment as {}, not in the file",
                locate(path, text, v.span().start),
                pledge_server::oidc::CLIENT_SECRET_ENV
            );
        }
        if let Some(store) = config.store.as_ref().filter(|s| has_password(s.get_ref())) {
            bail!(
                "{}: `store` holds a password: set the URL in the environment as PLEDGE_STORE_URL, not in the file",
                locate(path, text, store.span().start)
            );
        }
        Ok(config)
    }

    /// Reads and parses `path`; a relative path in it (`declaration`, `public.logo`, the
    /// checkpoints') is taken from the file's folder.
    pub fn read(path: &Path) -> Result<FileConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?;
        let mut config = FileConfig::parse(path, &text)?;
        if let Some(dir) = path.parent() {
            for p in [
                &mut config.declaration,
                &mut config.checkpoints.dir,
                &mut config.checkpoints.key_file,
                &mut config.public.logo,
            ] {
                if let Some(d) = p.as_ref().filter(|d| d.is_relative()) {
                    *p = Some(dir.join(d));
                }
            }
        }
        Ok(config)
    }
}

/// `scheme://user:password@host`: a password before the `@` of the authority.
fn has_password(url: &str) -> bool {
    url.split_once("://")
        .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or(""))
        .and_then(|authority| authority.rsplit_once('@'))
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

/// Applies the `PLEDGE_*` overrides of `env` (a lookup, so tests need no process
/// environment) to the file's settings.
pub fn apply_env(config: &mut FileConfig, env: &dyn Fn(&str) -> Option<String>) -> Result<()> {
    fn parsed<T: std::str::FromStr>(name: &str, v: &str) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        v.trim().parse().map_err(|e| anyhow!("{name}=`{v}`: {e}"))
    }
    fn rate(name: &str, v: &str) -> Result<RateFile> {
        let (burst, per_hour) = v
            .split_once('/')
            .ok_or_else(|| anyhow!("{name}=`{v}`: write BURST/PER_HOUR, e.g. 5/20"))?;
        Ok(RateFile {
            burst: parsed(name, burst)?,
            per_hour: parsed(name, per_hour)?,
        })
    }
    let get = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(v) = get("PLEDGE_DECLARATION") {
        config.declaration = Some(PathBuf::from(v));
    }
    if let Some(v) = get("PLEDGE_LISTEN") {
        config.listen = Some(v);
    }
    if let Some(v) = get("PLEDGE_WORKERS") {
        config.workers = Some(parsed("PLEDGE_WORKERS", &v)?);
    }
    if let Some(v) = get("PLEDGE_LEASE_SECS") {
        config.lease_secs = Some(parsed("PLEDGE_LEASE_SECS", &v)?);
    }
    let p = &mut config.public;
    if let Some(v) = get("PLEDGE_PUBLIC_ENABLED") {
        p.enabled = Some(parsed("PLEDGE_PUBLIC_ENABLED", &v)?);
    }
    if let Some(v) = get("PLEDGE_PUBLIC_BASE_URL") {
        p.base_url = Some(v);
    }
    if let Some(v) = get("PLEDGE_PUBLIC_NEEDS_APPROVAL") {
        p.needs_approval = Some(parsed("PLEDGE_PUBLIC_NEEDS_APPROVAL", &v)?);
    }
    if let Some(v) = get("PLEDGE_PUBLIC_CODE_TTL_MINUTES") {
        p.code_ttl_minutes = Some(parsed("PLEDGE_PUBLIC_CODE_TTL_MINUTES", &v)?);
    }
    if let Some(v) = get("PLEDGE_PUBLIC_MAX_ATTEMPTS") {
        p.max_attempts = Some(parsed("PLEDGE_PUBLIC_MAX_ATTEMPTS", &v)?);
    }
    if let Some(v) = get("PLEDGE_PUBLIC_CLIENT_IP_HEADER") {
        p.client_ip_header = Some(v);
    }
    if let Some(v) = get("PLEDGE_PUBLIC_INTAKE_PER_IP") {
        p.intake_per_ip = Some(rate("PLEDGE_PUBLIC_INTAKE_PER_IP", &v)?);
    }
    if let Some(v) = get("PLEDGE_PUBLIC_INTAKE_PER_EMAIL") {
        p.intake_per_email = Some(rate("PLEDGE_PUBLIC_INTAKE_PER_EMAIL", &v)?);
    }
    if let Some(v) = get("PLEDGE_PUBLIC_VERIFY_PER_IP") {
        p.verify_per_ip = Some(rate("PLEDGE_PUBLIC_VERIFY_PER_IP", &v)?);
    }
    if let Some(v) = get("PLEDGE_PUBLIC_ACCENT_COLOR") {
        p.accent_color = Some(v);
    }
    if let Some(v) = get("PLEDGE_PUBLIC_LANGUAGE") {
        p.language = Some(v);
    }
    if let Some(v) = get("PLEDGE_PUBLIC_LOGO") {
        p.logo = Some(PathBuf::from(v));
    }
    if let Some(v) = get("PLEDGE_PUBLIC_ORIGINS") {
        p.origins = Some(v.split(',').map(str::to_string).collect());
    }
    if let Some(v) = get("PLEDGE_RETAIN_SCHEDULE") {
        config.retention.schedule = Some(v);
    }
    if let Some(v) = get("PLEDGE_RETAIN_BATCH_SIZE") {
        config.retention.batch_size = Some(parsed("PLEDGE_RETAIN_BATCH_SIZE", &v)?);
    }
    let m = &mut config.maintenance;
    if let Some(v) = get("PLEDGE_MAINTENANCE_SCHEDULE") {
        m.schedule = Some(v);
    }
    if let Some(v) = get("PLEDGE_MINIMISE_CLOSED_AFTER") {
        m.minimise_closed_after = Some(v);
    }
    if let Some(v) = get("PLEDGE_EXPORT_TTL_DAYS") {
        m.export_ttl_days = Some(parsed("PLEDGE_EXPORT_TTL_DAYS", &v)?);
    }
    if let Some(v) = get("PLEDGE_LINK_TTL_DAYS") {
        m.link_ttl_days = Some(parsed("PLEDGE_LINK_TTL_DAYS", &v)?);
    }
    let r = &mut config.retry;
    if let Some(v) = get("PLEDGE_RETRY_FIRST_DELAY_SECS") {
        r.first_delay_secs = Some(parsed("PLEDGE_RETRY_FIRST_DELAY_SECS", &v)?);
    }
    if let Some(v) = get("PLEDGE_RETRY_MAX_DELAY_SECS") {
        r.max_delay_secs = Some(parsed("PLEDGE_RETRY_MAX_DELAY_SECS", &v)?);
    }
    if let Some(v) = get("PLEDGE_RETRY_BUDGET_SECS") {
        r.budget_secs = Some(parsed("PLEDGE_RETRY_BUDGET_SECS", &v)?);
    }
    if let Some(v) = get("PLEDGE_RETRY_JITTER_PERCENT") {
        r.jitter_percent = Some(parsed("PLEDGE_RETRY_JITTER_PERCENT", &v)?);
    }
    let l = &mut config.limits;
    if let Some(v) = get("PLEDGE_HEADER_READ_TIMEOUT_SECS") {
        l.header_read_timeout_secs = Some(parsed("PLEDGE_HEADER_READ_TIMEOUT_SECS", &v)?);
    }
    if let Some(v) = get("PLEDGE_BODY_READ_TIMEOUT_SECS") {
        l.body_read_timeout_secs = Some(parsed("PLEDGE_BODY_READ_TIMEOUT_SECS", &v)?);
    }
    if let Some(v) = get("PLEDGE_MAX_CONNECTIONS") {
        l.max_connections = Some(parsed("PLEDGE_MAX_CONNECTIONS", &v)?);
    }
    if let Some(v) = get("PLEDGE_KEY_CHECK_TIMEOUT_MS") {
        l.key_check_timeout_ms = Some(parsed("PLEDGE_KEY_CHECK_TIMEOUT_MS", &v)?);
    }
    if let Some(v) = get("PLEDGE_KEY_GRACE_SECS") {
        l.key_grace_secs = Some(parsed("PLEDGE_KEY_GRACE_SECS", &v)?);
    }
    if let Some(v) = get("PLEDGE_METRICS_PUBLIC") {
        config.metrics.public = Some(parsed("PLEDGE_METRICS_PUBLIC", &v)?);
    }
    let c = &mut config.checkpoints;
    if let Some(v) = get("PLEDGE_CHECKPOINT_NAME") {
        c.name = Some(v);
    }
    let k = &mut config.console;
    if let Some(v) = get("PLEDGE_CONSOLE_MAX_FAILURES") {
        k.max_failures = Some(parsed("PLEDGE_CONSOLE_MAX_FAILURES", &v)?);
    }
    if let Some(v) = get("PLEDGE_CONSOLE_LOCKOUT_SECS") {
        k.lockout_secs = Some(parsed("PLEDGE_CONSOLE_LOCKOUT_SECS", &v)?);
    }
    if let Some(v) = get("PLEDGE_CONSOLE_IDLE_SECS") {
        k.idle_secs = Some(parsed("PLEDGE_CONSOLE_IDLE_SECS", &v)?);
    }
    if let Some(v) = get("PLEDGE_CONSOLE_ABSOLUTE_SECS") {
        k.absolute_secs = Some(parsed("PLEDGE_CONSOLE_ABSOLUTE_SECS", &v)?);
    }
    let oidc_vars = [
        "PLEDGE_CONSOLE_OIDC_ISSUER",
        "PLEDGE_CONSOLE_OIDC_CLIENT_ID",
        "PLEDGE_CONSOLE_OIDC_REDIRECT_URL",
        "PLEDGE_CONSOLE_OIDC_SCOPES",
        "PLEDGE_CONSOLE_OIDC_NAME",
        "PLEDGE_CONSOLE_OIDC_PASSWORD_SIGN_IN",
    ];
    if oidc_vars.iter().any(|v| get(v).is_some()) {
        let o = k.oidc.get_or_insert_with(OidcFile::default);
        if let Some(v) = get("PLEDGE_CONSOLE_OIDC_ISSUER") {
            o.issuer = Some(v);
        }
        if let Some(v) = get("PLEDGE_CONSOLE_OIDC_CLIENT_ID") {
            o.client_id = Some(v);
        }
        if let Some(v) = get("PLEDGE_CONSOLE_OIDC_REDIRECT_URL") {
            o.redirect_url = Some(v);
        }
        if let Some(v) = get("PLEDGE_CONSOLE_OIDC_SCOPES") {
            o.scopes = Some(v.split([',', ' ']).map(str::to_string).collect());
        }
        if let Some(v) = get("PLEDGE_CONSOLE_OIDC_NAME") {
            o.name = Some(v);
        }
        if let Some(v) = get("PLEDGE_CONSOLE_OIDC_PASSWORD_SIGN_IN") {
            o.password_sign_in = Some(parsed("PLEDGE_CONSOLE_OIDC_PASSWORD_SIGN_IN", &v)?);
        }
    }
    if let Some(v) = get("PLEDGE_DIGEST_SCHEDULE") {
        config.digest.schedule = Some(v);
    }
    if let Some(v) = get("PLEDGE_DIGEST_RECIPIENTS") {
        config.digest.recipients = Some(v.split(',').map(str::to_string).collect());
    }
    if let Some(v) = get("PLEDGE_CHECKPOINT_SCHEDULE") {
        c.schedule = Some(v);
    }
    if let Some(v) = get("PLEDGE_CHECKPOINT_EVERY_RECORDS") {
        c.every_records = Some(parsed("PLEDGE_CHECKPOINT_EVERY_RECORDS", &v)?);
    }
    if let Some(v) = get("PLEDGE_CHECKPOINT_DIR") {
        c.dir = Some(PathBuf::from(v));
    }
    if let Some(v) = get("PLEDGE_CHECKPOINT_KEY_FILE") {
        c.key_file = Some(PathBuf::from(v));
    }
    if let Some(v) = get("PLEDGE_MAIL_FROM") {
        config.mail.from = Some(v);
    }
    if let Some(v) = get("PLEDGE_MAIL_MAX_ATTEMPTS") {
        config.mail.max_attempts = Some(parsed("PLEDGE_MAIL_MAX_ATTEMPTS", &v)?);
    }
    Ok(())
}

impl FileConfig {
    /// The public intake settings, over the defaults; `listen` gives the default base URL.
    pub fn public(&self, listen: &str) -> Result<PublicConfig> {
        let d = PublicConfig::default();
        let p = &self.public;
        let rate = |r: Option<RateFile>, default: Rate| {
            r.map_or(default, |r| Rate::per_hour(r.burst, r.per_hour))
        };
        let ttl = p.code_ttl_minutes.unwrap_or(d.code_ttl_secs / 60);
        if !(1..=24 * 60).contains(&ttl) {
            bail!("public.code_ttl_minutes must be 1 to 1440, not {ttl}");
        }
        let attempts = p.max_attempts.unwrap_or(d.max_attempts);
        if !(1..=20).contains(&attempts) {
            bail!("public.max_attempts must be 1 to 20, not {attempts}");
        }
        Ok(PublicConfig {
            enabled: p.enabled.unwrap_or(d.enabled),
            base_url: p
                .base_url
                .clone()
                .unwrap_or_else(|| format!("http://{listen}")),
            needs_approval: p.needs_approval.unwrap_or(d.needs_approval),
            code_ttl_secs: ttl * 60,
            max_attempts: attempts,
            intake_per_ip: rate(p.intake_per_ip, d.intake_per_ip),
            intake_per_email: rate(p.intake_per_email, d.intake_per_email),
            verify_per_ip: rate(p.verify_per_ip, d.verify_per_ip),
            client_ip_header: p.client_ip_header.clone(),
            origins: origins(p.origins.as_deref().unwrap_or_default())?,
            accent_color: p.accent_color.as_deref().map(accent_color).transpose()?,
            language: match p.language.as_deref() {
                None => d.language,
                Some(tag) => pledge_server::i18n::matching(tag)
                    .ok_or_else(|| {
                        let known: Vec<&str> = pledge_server::i18n::languages().collect();
                        anyhow::anyhow!(
                            "public.language: `{tag}` is not a language of the pages (one of {})",
                            known.join(", ")
                        )
                    })?
                    .to_string(),
            },
            logo: p
                .logo
                .as_deref()
                .map(|path| {
                    let bytes = std::fs::read(path)
                        .map_err(|e| anyhow!("public.logo: cannot read {}: {e}", path.display()))?;
                    pledge_server::Logo::new(bytes)
                        .map_err(|e| anyhow!("public.logo: {}: {e}", path.display()))
                })
                .transpose()?,
        })
    }

    /// The retry schedule of jobs, over the defaults (5 s doubling to 10 minutes, for 6
    /// hours, 20 % jitter).
    pub fn retry(&self) -> Result<Backoff> {
        let d = Backoff::default();
        let r = &self.retry;
        let b = Backoff {
            first_secs: r.first_delay_secs.unwrap_or(d.first_secs),
            max_secs: r.max_delay_secs.unwrap_or(d.max_secs),
            budget_secs: r.budget_secs.unwrap_or(d.budget_secs),
            jitter_percent: r.jitter_percent.unwrap_or(d.jitter_percent),
        };
        if !(1..=3600).contains(&b.first_secs) {
            bail!(
                "retry.first_delay_secs must be 1 to 3600, not {}",
                b.first_secs
            );
        }
        if !(b.first_secs..=86_400).contains(&b.max_secs) {
            bail!(
                "retry.max_delay_secs must be retry.first_delay_secs ({}) to 86400, not {}",
                b.first_secs,
                b.max_secs
            );
        }
        if !(0..=30 * 86_400).contains(&b.budget_secs) {
            bail!(
                "retry.budget_secs must be 0 to 2592000 (30 days), not {}",
                b.budget_secs
            );
        }
        if b.jitter_percent > 100 {
            bail!(
                "retry.jitter_percent must be 0 to 100, not {}",
                b.jitter_percent
            );
        }
        Ok(b)
    }

    /// The console's sign-in and session policy over the defaults, each within a range
    /// that keeps it a protection: a lock that lets guessing go on, or a session that
    /// outlives a working day by much, is refused.
    pub fn console(&self) -> Result<SessionPolicy> {
        let d = SessionPolicy::default();
        let k = &self.console;
        let p = SessionPolicy {
            max_failures: k.max_failures.unwrap_or(d.max_failures),
            lockout_secs: k.lockout_secs.unwrap_or(d.lockout_secs),
            idle_secs: k.idle_secs.unwrap_or(d.idle_secs),
            absolute_secs: k.absolute_secs.unwrap_or(d.absolute_secs),
        };
        if !(1..=100).contains(&p.max_failures) {
            bail!(
                "console.max_failures must be 1 to 100, not {}",
                p.max_failures
            );
        }
        if !(60..=86_400).contains(&p.lockout_secs) {
            bail!(
                "console.lockout_secs must be 60 to 86400 (a day), not {}",
                p.lockout_secs
            );
        }
        if !(60..=86_400).contains(&p.idle_secs) {
            bail!(
                "console.idle_secs must be 60 to 86400 (a day), not {}",
                p.idle_secs
            );
        }
        if !(p.idle_secs..=7 * 86_400).contains(&p.absolute_secs) {
            bail!(
                "console.absolute_secs must be console.idle_secs ({}) to 604800 (7 days), not {}",
                p.idle_secs,
                p.absolute_secs
            );
        }
        Ok(p)
    }

    /// `[console.oidc]`, parsed, or None when it is not there. `secret` is the client
    /// secret (from the environment only); `base_url` the console's public address, which
    /// the callback URL is derived from unless `redirect_url` is given.
    pub fn console_oidc(
        &self,
        secret: Option<String>,
        base_url: Option<&str>,
    ) -> Result<Option<pledge_server::oidc::OidcConfig>> {
        let Some(o) = &self.console.oidc else {
            return Ok(None);
        };
        let settings = pledge_server::oidc::OidcSettings {
            issuer: o.issuer.clone(),
            client_id: o.client_id.clone(),
            client_secret: secret,
            redirect_url: o.redirect_url.clone(),
            base_url: base_url.map(str::to_string),
            scopes: o.scopes.clone(),
            token_auth: o.token_auth.clone(),
            name: o.name.clone(),
            password_sign_in: o.password_sign_in,
        };
        Ok(Some(pledge_server::oidc::OidcConfig::parse(settings)?))
    }

    /// The limits at the edge over the defaults, each within a sensible range.
    pub fn edge(&self) -> Result<EdgeConfig> {
        let d = EdgeConfig::default();
        let l = &self.limits;
        let secs = |v: Option<u64>, default: Duration, key: &str| -> Result<Duration> {
            match v {
                None => Ok(default),
                Some(n @ 1..=3600) => Ok(Duration::from_secs(n)),
                Some(n) => bail!("limits.{key} must be 1 to 3600 seconds, not {n}"),
            }
        };
        let max_connections = l.max_connections.unwrap_or(d.max_connections);
        if !(1..=1_000_000).contains(&max_connections) {
            bail!("limits.max_connections must be 1 to 1000000, not {max_connections}");
        }
        Ok(EdgeConfig {
            header_read_timeout: secs(
                l.header_read_timeout_secs,
                d.header_read_timeout,
                "header_read_timeout_secs",
            )?,
            body_read_timeout: secs(
                l.body_read_timeout_secs,
                d.body_read_timeout,
                "body_read_timeout_secs",
            )?,
            max_connections,
        })
    }

    /// How long a key re-check waits for the store, and how long a key it confirmed still
    /// works for decisions while it does not answer: `(timeout, grace)`.
    pub fn key_trust(&self, defaults: (Duration, Duration)) -> Result<(Duration, Duration)> {
        let l = &self.limits;
        let timeout = match l.key_check_timeout_ms {
            None => defaults.0,
            Some(ms @ 10..=30_000) => Duration::from_millis(ms),
            Some(ms) => bail!("limits.key_check_timeout_ms must be 10 to 30000, not {ms}"),
        };
        let grace = match l.key_grace_secs {
            None => defaults.1,
            Some(s @ 0..=86_400) => Duration::from_secs(s),
            Some(s) => bail!("limits.key_grace_secs must be 0 to 86400, not {s}"),
        };
        Ok((timeout, grace))
    }

    /// The mail settings; the SMTP URL from the environment only.
    pub fn mail(&self, smtp_url: Option<String>) -> MailConfig {
        let d = MailConfig::default();
        MailConfig {
            smtp_url,
            from: self.mail.from.clone().unwrap_or(d.from),
            max_attempts: self.mail.max_attempts.unwrap_or(d.max_attempts).max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FileConfig> {
        FileConfig::parse(Path::new("serve.toml"), text)
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn a_misspelt_key_gets_a_did_you_mean() {
        let e = error("workrs = 2\n");
        assert!(
            e.starts_with("serve.toml:1:1: unknown field `workrs`"),
            "{e}"
        );
        assert!(e.ends_with("(did you mean `workers`?)"), "{e}");
        let e = error("[retention]\nschedul = \"@daily\"\n");
        assert!(e.ends_with("(did you mean `schedule`?)"), "{e}");
        assert!(!error("zzz = 1\n").contains("did you mean"));
    }

    #[test]
    fn the_example_parses() {
        let text = include_str!("../../../../examples/serve.toml");
        let c = parse(text).unwrap();
        let p = c.public("127.0.0.1:8080").unwrap();
        assert_eq!(p.code_ttl_secs, 30 * 60);
        assert_eq!(p.client_ip_header.as_deref(), Some("x-forwarded-for"));
        assert_eq!(c.workers, Some(2));
        assert_eq!(c.retention.schedule.as_deref(), Some("0 3 * * *"));
        assert_eq!(c.maintenance.link_ttl_days, Some(7));
        assert_eq!(c.retry().unwrap(), Backoff::default());
    }

    #[test]
    fn the_retry_schedule_from_the_file_and_the_environment() {
        let mut c = parse("[retry]\nfirst_delay_secs = 2\nbudget_secs = 3600\n").unwrap();
        let env = |name: &str| (name == "PLEDGE_RETRY_MAX_DELAY_SECS").then(|| "120".to_string());
        apply_env(&mut c, &env).unwrap();
        let b = c.retry().unwrap();
        assert_eq!(
            (b.first_secs, b.max_secs, b.budget_secs, b.jitter_percent),
            (2, 120, 3600, 20)
        );
        let mut c = parse("[retry]\nmax_delay_secs = 1\n").unwrap();
        assert!(
            c.retry()
                .unwrap_err()
                .to_string()
                .contains("retry.max_delay_secs")
        );
        let bad = |name: &str| (name == "PLEDGE_RETRY_JITTER_PERCENT").then(|| "lots".to_string());
        let e = apply_env(&mut c, &bad).unwrap_err().to_string();
        assert!(e.contains("PLEDGE_RETRY_JITTER_PERCENT=`lots`"), "{e}");
    }

    #[test]
    fn the_environment_overrides_the_schedules_and_periods() {
        let mut c = parse("[retention]\nschedule = \"@daily\"\n").unwrap();
        let env = |name: &str| match name {
            "PLEDGE_RETAIN_SCHEDULE" => Some("0 4 * * *".to_string()),
            "PLEDGE_EXPORT_TTL_DAYS" => Some("14".to_string()),
            _ => None,
        };
        apply_env(&mut c, &env).unwrap();
        assert_eq!(c.retention.schedule.as_deref(), Some("0 4 * * *"));
        assert_eq!(c.maintenance.export_ttl_days, Some(14));
        let bad = |name: &str| (name == "PLEDGE_LINK_TTL_DAYS").then(|| "a week".to_string());
        let e = apply_env(&mut c, &bad).unwrap_err().to_string();
        assert!(e.contains("PLEDGE_LINK_TTL_DAYS=`a week`"), "{e}");
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let cases = [
            ("listen = \"a\"\nworkers = \"two\"\n", "serve.toml:2:11:"),
            ("[public]\nenabeld = true\n", "serve.toml:2:1:"),
            (
                "[mail]\nfrom = \"x\"\nsmtp_url = \"smtps://u:p@h\"\n",
                "serve.toml:3:12:",
            ),
            ("hmac_key = \"0123456789abcdef\"\n", "serve.toml:1:12:"),
            ("[checkpoints]\nkey = \"c2VlZA==\"\n", "serve.toml:2:7:"),
            (
                "\nstore = \"postgres://pledge:secret@db/pledge\"\n",
                "serve.toml:2:9:",
            ),
            ("listen = \n", "serve.toml:1:"),
        ];
        for (text, at) in cases {
            let e = error(text);
            assert!(e.starts_with(at), "{text:?}: {e}");
        }
        insta::assert_snapshot!(
            cases
                .iter()
                .map(|(t, _)| error(t))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    #[test]
    fn checkpoint_settings_come_from_the_file_and_the_environment() {
        let mut c = parse(
            "[checkpoints]\nname = \"shop.example\"\nschedule = \"@hourly\"\ndir = \"cps\"\nkey_file = \"/etc/pledge/cp.key\"\n",
        )
        .unwrap();
        assert_eq!(c.checkpoints.name.as_deref(), Some("shop.example"));
        assert_eq!(
            c.checkpoints.key_file,
            Some(PathBuf::from("/etc/pledge/cp.key"))
        );
        let env = |name: &str| match name {
            "PLEDGE_CHECKPOINT_SCHEDULE" => Some("*/10 * * * *".to_string()),
            "PLEDGE_CHECKPOINT_EVERY_RECORDS" => Some("500".to_string()),
            _ => None,
        };
        apply_env(&mut c, &env).unwrap();
        assert_eq!(c.checkpoints.schedule.as_deref(), Some("*/10 * * * *"));
        assert_eq!(c.checkpoints.every_records, Some(500));
        assert_eq!(c.checkpoints.dir, Some(PathBuf::from("cps")));
    }

    #[test]
    fn the_accent_colour_is_a_colour_white_text_reads_on() {
        for (colour, ok) in [
            ("#1a5fb4", true),
            ("#000000", true),
            ("#767676", true),
            ("#777777", false),
            ("#ffcc00", false),
            ("blue", false),
            ("#12345", false),
        ] {
            let c = parse(&format!("[public]\naccent_color = \"{colour}\"\n")).unwrap();
            assert_eq!(c.public("127.0.0.1:8080").is_ok(), ok, "{colour}");
        }
    }

    #[test]
    fn public_origins_come_from_the_file_or_the_environment_and_must_be_origins() {
        let c =
            parse("[public]\norigins = [\"https://shop.example/\", \"http://localhost:3000\"]\n")
                .unwrap();
        assert_eq!(
            c.public("127.0.0.1:8080").unwrap().origins,
            ["https://shop.example", "http://localhost:3000"]
        );
        let mut c = parse("").unwrap();
        assert!(c.public("127.0.0.1:8080").unwrap().origins.is_empty());
        let env = |name: &str| (name == "PLEDGE_PUBLIC_ORIGINS").then(|| "*".to_string());
        apply_env(&mut c, &env).unwrap();
        assert_eq!(c.public("127.0.0.1:8080").unwrap().origins, ["*"]);
        for bad in ["shop.example", "https://shop.example/form", "https://"] {
            let c = parse(&format!("[public]\norigins = [\"{bad}\"]\n")).unwrap();
            let e = c.public("127.0.0.1:8080").unwrap_err().to_string();
            assert!(e.contains("is not an origin"), "{bad}: {e}");
        }
    }

    #[test]
    fn console_settings_come_from_the_file_and_the_environment() {
        let c = parse("").unwrap();
        let p = c.console().unwrap();
        assert_eq!(
            (p.max_failures, p.lockout_secs, p.idle_secs, p.absolute_secs),
            (5, 900, 1800, 43_200)
        );
        let mut c = parse("[console]\nmax_failures = 3\nidle_secs = 600\n").unwrap();
        let env = |name: &str| match name {
            "PLEDGE_CONSOLE_LOCKOUT_SECS" => Some("3600".to_string()),
            "PLEDGE_CONSOLE_IDLE_SECS" => Some("900".to_string()),
            _ => None,
        };
        apply_env(&mut c, &env).unwrap();
        let p = c.console().unwrap();
        assert_eq!(
            (p.max_failures, p.lockout_secs, p.idle_secs, p.absolute_secs),
            (3, 3600, 900, 43_200)
        );
        for (bad, says) in [
            ("max_failures = 0", "console.max_failures must be 1 to 100"),
            (
                "lockout_secs = 5",
                "console.lockout_secs must be 60 to 86400",
            ),
            (
                "idle_secs = 100000",
                "console.idle_secs must be 60 to 86400",
            ),
            (
                "idle_secs = 3600\nabsolute_secs = 600",
                "console.absolute_secs must be console.idle_secs (3600)",
            ),
        ] {
            let e = parse(&format!("[console]\n{bad}\n"))
                .unwrap()
                .console()
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let e = error("[console]\nidle_sec = 60\n");
        assert!(e.ends_with("(did you mean `idle_secs`?)"), "{e}");
        let env = |name: &str| (name == "PLEDGE_CONSOLE_MAX_FAILURES").then(|| "many".to_string());
        assert!(apply_env(&mut parse("").unwrap(), &env).is_err());
    }

    #[test]
    fn console_oidc_comes_from_the_file_and_the_environment_never_its_secret() {
        assert!(
            parse("")
                .unwrap()
                .console_oidc(None, None)
                .unwrap()
                .is_none()
        );
        let text = "[console.oidc]\nissuer = \"https://login.example.com\"\nclient_id = \"pledge\"\nclient_secret = \"s3cret\"\n";
        let e = error(text);
        assert!(e.starts_with("serve.toml:4:17:"), "{e}");
        assert!(e.contains("PLEDGE_CONSOLE_OIDC_CLIENT_SECRET"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
        let mut c = parse(
            "[console.oidc]\nissuer = \"https://login.example.com\"\nclient_id = \"pledge\"\npassword_sign_in = false\n",
        )
        .unwrap();
        let e = c
            .console_oidc(None, Some("https://privacy.example.com"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("PLEDGE_CONSOLE_OIDC_CLIENT_SECRET"), "{e}");
        let o = c
            .console_oidc(Some("s3cret".into()), Some("https://privacy.example.com"))
            .unwrap()
            .unwrap();
        assert_eq!(
            o.redirect_url.as_str(),
            "https://privacy.example.com/console/sign-in/oidc/callback"
        );
        assert!(!o.password_sign_in);
        let env = |name: &str| match name {
            "PLEDGE_CONSOLE_OIDC_NAME" => Some("Example SSO".to_string()),
            "PLEDGE_CONSOLE_OIDC_SCOPES" => Some("email,profile".to_string()),
            _ => None,
        };
        apply_env(&mut c, &env).unwrap();
        let o = c
            .console_oidc(Some("s3cret".into()), Some("https://privacy.example.com"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (o.name.as_str(), o.scopes.joined()),
            ("Example SSO", "openid email profile".into())
        );
        // From the environment alone.
        let mut c = parse("").unwrap();
        let env = |name: &str| match name {
            "PLEDGE_CONSOLE_OIDC_ISSUER" => Some("http://login.example.com".to_string()),
            "PLEDGE_CONSOLE_OIDC_CLIENT_ID" => Some("pledge".to_string()),
            _ => None,
        };
        apply_env(&mut c, &env).unwrap();
        let e = c
            .console_oidc(Some("s3cret".into()), Some("https://privacy.example.com"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("console.oidc.issuer: `http://login.example.com` must be https"),
            "{e}"
        );
        let e = error("[console.oidc]\nisuer = \"x\"\n");
        assert!(e.ends_with("(did you mean `issuer`?)"), "{e}");
    }

    #[test]
    fn a_store_url_without_a_password_is_fine() {
        for url in [
            "sqlite:pledge-store.db",
            "postgres://pledge@db/pledge",
            "postgres:///pledge?host=/run/postgresql",
        ] {
            assert!(parse(&format!("store = \"{url}\"")).is_ok(), "{url}");
        }
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let mut c = parse("workers = 1\n[public]\nmax_attempts = 3\n").unwrap();
        let env = |k: &str| match k {
            "PLEDGE_WORKERS" => Some("4".to_string()),
            "PLEDGE_PUBLIC_INTAKE_PER_IP" => Some("2/30".to_string()),
            "PLEDGE_MAIL_FROM" => Some("Privacy <p@example.com>".to_string()),
            _ => None,
        };
        apply_env(&mut c, &env).unwrap();
        assert_eq!(c.workers, Some(4));
        let p = c.public("0.0.0.0:80").unwrap();
        assert_eq!(p.max_attempts, 3);
        assert_eq!(p.intake_per_ip, Rate::per_hour(2, 30));
        assert_eq!(p.base_url, "http://0.0.0.0:80");
        assert_eq!(c.mail(None).from, "Privacy <p@example.com>");
        let bad = |k: &str| (k == "PLEDGE_PUBLIC_VERIFY_PER_IP").then(|| "lots".to_string());
        assert!(
            apply_env(&mut c, &bad)
                .unwrap_err()
                .to_string()
                .contains("BURST/PER_HOUR")
        );
    }

    #[test]
    fn limits_come_from_the_file_and_the_environment() {
        let mut c = parse(
            "[limits]\nheader_read_timeout_secs = 5\nmax_connections = 300\n[metrics]\npublic = true\n",
        )
        .unwrap();
        let env = |k: &str| match k {
            "PLEDGE_BODY_READ_TIMEOUT_SECS" => Some("7".to_string()),
            "PLEDGE_MAX_CONNECTIONS" => Some("200".to_string()),
            "PLEDGE_KEY_GRACE_SECS" => Some("60".to_string()),
            _ => None,
        };
        apply_env(&mut c, &env).unwrap();
        let edge = c.edge().unwrap();
        assert_eq!(edge.header_read_timeout, Duration::from_secs(5));
        assert_eq!(edge.body_read_timeout, Duration::from_secs(7));
        assert_eq!(edge.max_connections, 200);
        assert_eq!(c.metrics.public, Some(true));
        let (timeout, grace) = c
            .key_trust((Duration::from_secs(1), Duration::from_secs(300)))
            .unwrap();
        assert_eq!(
            (timeout, grace),
            (Duration::from_secs(1), Duration::from_secs(60))
        );
        let defaults = parse("").unwrap().edge().unwrap();
        assert_eq!(
            defaults.max_connections,
            EdgeConfig::default().max_connections
        );
        let zero = parse("[limits]\nheader_read_timeout_secs = 0\n").unwrap();
        assert!(zero.edge().is_err());
    }
}
