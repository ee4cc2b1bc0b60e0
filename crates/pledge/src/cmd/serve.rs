//! `pledge serve`: the engine's server, or with `--demo` a ready-to-try one on Chinook.

use super::serve_config::{FileConfig, SMTP_URL_ENV, apply_env};
use super::store::{STORE_URL_ENV, StoreArg, normalise, redact};
use crate::clock::now_unix;
use crate::cmd::request::HMAC_KEY_ENV;
use crate::input;
use anyhow::{Context, Result, bail};
use pledge_domain::cron::Schedule;
use pledge_lang::SourceMap;
use pledge_lang::types::IsoDuration;
use pledge_law::report;
use pledge_server::crypto::seal::{ExportKeys, MasterKey};
use pledge_server::{AppState, Bound, Config};
use pledge_store::{Role, Store};
use std::path::PathBuf;
use std::process::ExitCode;

/// The Chinook declaration and database script, built into the binary for `--demo`.
const DEMO_DECLARATION: &str = include_str!("../../../../examples/chinook/pledge.toml");
const DEMO_CONNECTION_ENV: &str = "CHINOOK_DATABASE_URL";

#[derive(clap::Args)]
pub struct Args {
    /// The declaration (file or folder) whose datasets requests run against. Default:
    /// pledge.toml.
    path: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArg,
    /// Settings from a TOML file (see examples/serve.toml); PLEDGE_* environment
    /// variables override it, and these flags override both.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where to listen. Default: 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Background workers in this process (0: serve the API only). Default: 1.
    #[arg(long)]
    workers: Option<usize>,
    /// Seconds a claimed job stays a worker's before another may take it over. Default: 30.
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..=3600))]
    lease_secs: Option<i64>,
    /// When the retention sweep runs: a cron expression in UTC (`0 3 * * *`, `@daily`).
    /// Default: `retention.schedule` of the file or PLEDGE_RETAIN_SCHEDULE; without any, the
    /// server never sweeps on its own.
    #[arg(long, value_name = "CRON")]
    retain_schedule: Option<Schedule>,
    /// Rows per batch (and per transaction) in the scheduled sweep. Default: 1000.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    retain_batch_size: Option<u64>,
    /// When maintenance runs: expired exports and links deleted, closed requests minimised.
    /// Default: `maintenance.schedule` or PLEDGE_MAINTENANCE_SCHEDULE, else hourly at minute 17.
    #[arg(long, value_name = "CRON")]
    maintenance_schedule: Option<Schedule>,
    /// How long after it closed (completed, denied, cancelled) a request is minimised: its
    /// identities and changes replaced by hashes. An ISO 8601 duration. Default: P90D.
    #[arg(long, value_name = "DURATION")]
    minimise_closed_after: Option<IsoDuration>,
    /// Days an export is kept before it is deleted. Default: 30.
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(i64).range(1..=3650))]
    export_ttl_days: Option<i64>,
    /// Days a download link works (never longer than its export). Default: 7.
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(i64).range(1..=365))]
    link_ttl_days: Option<i64>,
    /// The server's address as people reach it (https://privacy.example.com), for links in
    /// messages and webhooks. Default: `public.base_url` or PLEDGE_PUBLIC_BASE_URL, else
    /// http://LISTEN.
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// Start a demo: the Chinook example declaration on a private copy of the Chinook
    /// database, a fresh store, and an admin key printed once.
    #[arg(long, conflicts_with_all = ["path", "url"])]
    demo: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    init_logging()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> Result<ExitCode> {
    let env = |name: &str| std::env::var(name).ok();
    let mut file = match &args.config {
        Some(path) => FileConfig::read(path)?,
        None => FileConfig::default(),
    };
    apply_env(&mut file, &env)?;
    let listen = args
        .listen
        .clone()
        .or_else(|| file.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let lease_secs = args.lease_secs.or(file.lease_secs).unwrap_or(30);
    if !(1..=3600).contains(&lease_secs) {
        bail!("lease_secs must be 1 to 3600, not {lease_secs}");
    }
    let smtp_url = env(SMTP_URL_ENV).filter(|u| !u.is_empty());
    let mut config = Config {
        workers: args.workers.or(file.workers).unwrap_or(1),
        lease_secs,
        public: file.public(&listen)?,
        // The demo never sends mail: its messages go to the log.
        mail: file.mail(if args.demo { None } else { smtp_url }),
        retain_schedule: schedule_from(
            args.retain_schedule.clone(),
            file.retention.schedule.as_deref(),
            RETAIN_SCHEDULE_ENV,
        )?,
        retain_batch_size: args
            .retain_batch_size
            .or(file.retention.batch_size)
            .unwrap_or(1000)
            .max(1),
        maintenance_schedule: schedule_from(
            args.maintenance_schedule.clone(),
            Some(
                file.maintenance
                    .schedule
                    .as_deref()
                    .unwrap_or(DEFAULT_MAINTENANCE_SCHEDULE),
            ),
            MAINTENANCE_SCHEDULE_ENV,
        )?,
        minimise_closed_after: match (&args.minimise_closed_after, &file.maintenance.minimise_closed_after) {
            (Some(d), _) => *d,
            (None, Some(text)) => text
                .parse()
                .map_err(|e| anyhow::anyhow!("maintenance.minimise_closed_after (or PLEDGE_MINIMISE_CLOSED_AFTER) `{text}`: {e}"))?,
            (None, None) => IsoDuration::days(90),
        },
        export_ttl_secs: days(args.export_ttl_days.or(file.maintenance.export_ttl_days), 30, 3650, "export_ttl_days")? * 86_400,
        link_ttl_secs: days(args.link_ttl_days.or(file.maintenance.link_ttl_days), 7, 365, "link_ttl_days")? * 86_400,
        export_keys: export_keys()?,
        retry: file.retry()?,
        edge: file.edge()?,
        metrics_public: file.metrics.public.unwrap_or(false),
        checkpoints: checkpoint_config(&file)?,
        digest: digest_config(&file)?,
        console: file.console()?,
        // The callback is under an address staff reach: given, never the one bound.
        console_oidc: file.console_oidc(
            env(pledge_server::oidc::CLIENT_SECRET_ENV),
            args.public_url
                .as_deref()
                .or(file.public.base_url.as_deref()),
        )?,
        ..Config::default()
    };
    (config.key_check_timeout, config.key_grace) =
        file.key_trust((config.key_check_timeout, config.key_grace))?;
    pledge_server::jobs::mail::Sender::new(&config.mail).map_err(anyhow::Error::msg)?;
    // A test hook for the crash tests, which run the debug binary cargo builds for them; a
    // release build (what is installed and shipped) ignores the variable.
    #[cfg(debug_assertions)]
    if let Some(ms) = std::env::var("PLEDGE_TEST_PAUSE_BEFORE_COMPLETE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        config.pause_before_complete = Some(std::time::Duration::from_millis(ms));
    }
    #[cfg(debug_assertions)]
    if let Some(ms) = std::env::var("PLEDGE_TEST_PAUSE_AFTER_BATCH_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        config.pause_after_batch = Some(std::time::Duration::from_millis(ms));
    }
    config.hmac_key = match std::env::var(HMAC_KEY_ENV) {
        Ok(k) if k.len() >= 16 => k.into_bytes(),
        Ok(_) => bail!("{HMAC_KEY_ENV} must hold at least 16 characters"),
        Err(_) => Vec::new(),
    };
    config.banner = pledge_server::http::banner::Settings::from_vars(|k| std::env::var(k).ok())
        .map_err(anyhow::Error::msg)?;
    let (decl, store_url, demo_dir) = if args.demo {
        let dir = std::env::temp_dir().join(format!("pledge-demo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let db = dir.join("chinook.db");
        let url = format!("sqlite:{}", db.display());
        super::init::build_chinook(&url).await?;
        config
            .connections
            .push((DEMO_CONNECTION_ENV.to_string(), url));
        if config.export_keys.is_none() {
            let key = MasterKey::generate().context("cannot make a demo export key")?;
            // The key itself is a secret: the log names it by id only.
            tracing::warn!(
                key = %key.id(),
                "demo export key generated for this run only: exports made now cannot be opened after a restart. Never use a demo key for real data"
            );
            config.export_keys = Some(ExportKeys::new(key, Vec::new()));
        }
        if config.hmac_key.is_empty() {
            // A demo key, so erasures can pseudonymise what they keep; never for real data.
            config.hmac_key =
                format!("demo-key-{}-{}", std::process::id(), now_unix()).into_bytes();
        }
        if config.banner.link_key.is_empty() {
            // A demo key for preference and unsubscribe links; never for real data.
            config.banner.link_key = format!(
                "demo-link-key-{}-{}-not-for-real-data",
                std::process::id(),
                now_unix()
            )
            .into_bytes();
        }
        let sources = SourceMap::single("examples/chinook/pledge.toml", DEMO_DECLARATION);
        let decl = pledge_lang::load(&sources)
            .map_err(|_| anyhow::anyhow!("the built-in demo declaration does not load"))?;
        let store = format!("sqlite:{}", dir.join("pledge-store.db").display());
        (decl, store, Some(dir))
    } else {
        let path = input::declaration_path(args.path.clone().or(file.declaration.clone()));
        let decl = match input::load_or_report(&path)? {
            Ok((_, decl)) => decl,
            Err((sources, errors)) => {
                anstream::eprint!("{}", report::human(&errors, &sources, true));
                return Ok(super::exit_invalid());
            }
        };
        let store = match (&args.store.url, std::env::var(STORE_URL_ENV)) {
            (None, Err(_)) => file
                .store
                .as_ref()
                .map_or_else(|| args.store.resolve(), |s| s.get_ref().clone()),
            _ => args.store.resolve(),
        };
        (decl, store, None)
    };
    if config.export_keys.is_none() {
        tracing::warn!(
            "{EXPORT_KEY_ENV} is not set: access and portability requests will fail until it is (exports are encrypted at rest)"
        );
    }
    let store_url = normalise(&store_url);
    let store = Store::open(&store_url)
        .await
        .with_context(|| format!("cannot open the store {}", redact(&store_url)))?;
    let bound = Bound::bind(&listen).await?;
    let addr = bound
        .local_addr()
        .map_or_else(|| listen.clone(), |a| a.to_string());
    match (&args.public_url, &file.public.base_url) {
        (Some(url), _) => config.public.base_url = url.trim_end_matches('/').to_string(),
        (None, Some(_)) => {}
        // Links in messages point at the address actually bound (port 0 picks one).
        (None, None) => config.public.base_url = format!("http://{addr}"),
    }
    println!("pledge serve: listening on http://{addr}");
    println!("store: {}", redact(&store_url));
    println!("API documentation: http://{addr}/docs");
    println!("staff console: http://{addr}/console (accounts: pledge users add)");
    if let Some(o) = &config.console_oidc {
        println!(
            "console single sign-on: {} (callback {}){}",
            o.issuer.as_str(),
            o.redirect_url.as_str(),
            if o.password_sign_in {
                ""
            } else {
                ", passwords turned off"
            }
        );
    }
    if config.mail.smtp_url.is_none() {
        println!("mail: no {SMTP_URL_ENV}: messages to people are written to the log, not sent");
    }
    if let Some(c) = &config.checkpoints {
        println!("checkpoints: signed by {}", c.key.verifier());
    }
    if config.retain_schedule.is_some()
        && pledge_connect::datasets_with_retention(&decl, None, None).is_empty()
    {
        // A schedule that can delete nothing is a mistake worth saying at once: purposes
        // state retention periods, but only a table's `retention` tells the sweep what to do.
        println!(
            "retention: scheduled, but no table of the declaration has a `retention` rule: the sweep will delete nothing (see docs/retention.md)"
        );
    }
    if let Some(dir) = &demo_dir {
        let (key, secret) = store
            .create_key(Role::Admin, Some("demo"), "cli", now_unix())
            .await?;
        println!();
        println!("Demo: the Chinook music store, on a private copy of its database in");
        println!("  {}", dir.display());
        println!("Admin API key ({}, shown once):", key.id);
        println!("  {secret}");
        let password = pledge_store::staff::random_password()?;
        let admin = store
            .create_staff(
                pledge_store::staff::NewStaff {
                    email: "admin@demo.example",
                    name: "Demo admin",
                    role: Role::Admin,
                    password: &password,
                },
                "cli",
                now_unix(),
            )
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        println!(
            "Staff console: http://{addr}/console, sign in as {} with password {password} (shown once)",
            admin.email
        );
        println!("The person's page: http://{addr}/privacy");
        println!();
        println!("Try:");
        println!("  export KEY={secret}");
        println!(
            "  curl -s -H \"Authorization: Bearer $KEY\" -H 'Content-Type: application/json' \\\n    -d '{{\"kind\":\"access\",\"identities\":{{\"email\":\"luisg@embraer.com.br\"}}}}' http://{addr}/v1/requests"
        );
        println!(
            "  curl -s -H \"Authorization: Bearer $KEY\" http://{addr}/v1/requests/REQUEST_ID"
        );
        println!(
            "  curl -s -H \"Authorization: Bearer $KEY\" -o export.zip http://{addr}/v1/requests/REQUEST_ID/export"
        );
        println!(
            "  curl -s -X POST -H \"Authorization: Bearer $KEY\" http://{addr}/v1/requests/REQUEST_ID/export/link   # a single-use link for the person"
        );
        println!(
            "  kinds: access, portability, erasure, rectification (with \"changes\":{{\"address\":\"...\"}}), restriction, objection, withdraw_consent, opt_out"
        );
        println!("As the person (no key; the code appears in this log as the e-mail would):");
        println!(
            "  curl -s -H 'Content-Type: application/json' -d '{{\"kind\":\"access\",\"email\":\"luisg@embraer.com.br\"}}' http://{addr}/public/requests"
        );
        println!(
            "  curl -s -H 'Content-Type: application/json' -d '{{\"code\":\"CODE\"}}' http://{addr}/public/requests/REQUEST_ID/verify"
        );
        println!(
            "  curl -s -H \"Authorization: Bearer $KEY\" -H 'Content-Type: application/json' \\\n    -d '{{\"purposes\":[\"newsletter\"]}}' http://{addr}/v1/subjects/customer-1/preference-links"
        );
        println!(
            "  (open the preferences URL it prints; the unsubscribe URL takes a POST of List-Unsubscribe=One-Click)"
        );
        println!(
            "  pledge audit verify --store sqlite:{}",
            dir.join("pledge-store.db").display()
        );
        println!("Stop with Ctrl-C.");
    } else if std::env::var(STORE_URL_ENV).is_err() && args.store.url.is_none() {
        println!("(create a key with: pledge keys create --role admin)");
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let state = AppState::new(store.clone(), decl, config);
    bound.serve(state).await?;
    store.close().await;
    if let Some(dir) = demo_dir {
        // The demo's database and store are throwaway.
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(ExitCode::SUCCESS)
}

/// The server's log on stderr: one line per event with its time (UTC), level and fields, or
/// one JSON object per event with `PLEDGE_LOG_FORMAT=json` (for a log collector); HTTP
/// events carry the request's id, method and route (never the path itself, which can hold
/// a token or a subject id). `PLEDGE_LOG` sets the level (error, warn, info (default), debug,
/// trace). The log never carries personal data: workers name requests by id and failures by
/// kind and code.
fn init_logging() -> Result<()> {
    let level = match std::env::var(LOG_ENV).ok().filter(|v| !v.is_empty()) {
        None => tracing::Level::INFO,
        Some(v) => v.trim().parse().map_err(|_| {
            anyhow::anyhow!("{LOG_ENV}=`{v}`: use error, warn, info, debug or trace")
        })?,
    };
    let json = match std::env::var(LOG_FORMAT_ENV).ok().filter(|v| !v.is_empty()) {
        None => false,
        Some(v) => match v.trim() {
            "text" => false,
            "json" => true,
            other => anyhow::bail!("{LOG_FORMAT_ENV}=`{other}`: use text or json"),
        },
    };
    let log = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false);
    // A second call (tests that start several servers in one process) keeps the first.
    let _ = if json {
        log.json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        log.try_init()
    };
    Ok(())
}

const LOG_FORMAT_ENV: &str = "PLEDGE_LOG_FORMAT";
const LOG_ENV: &str = "PLEDGE_LOG";
const RETAIN_SCHEDULE_ENV: &str = "PLEDGE_RETAIN_SCHEDULE";
const MAINTENANCE_SCHEDULE_ENV: &str = "PLEDGE_MAINTENANCE_SCHEDULE";
const DEFAULT_MAINTENANCE_SCHEDULE: &str = "17 * * * *";
const EXPORT_KEY_ENV: &str = "PLEDGE_EXPORT_KEY";
const PREVIOUS_EXPORT_KEYS_ENV: &str = "PLEDGE_EXPORT_KEYS_PREVIOUS";

/// A schedule from its flag, else the file's or environment's text (the environment
/// overrode the file already), named by its variable when it does not parse.
fn schedule_from(
    flag: Option<Schedule>,
    text: Option<&str>,
    variable: &str,
) -> Result<Option<Schedule>> {
    if flag.is_some() {
        return Ok(flag);
    }
    text.filter(|t| !t.trim().is_empty())
        .map(|t| t.parse::<Schedule>().with_context(|| variable.to_string()))
        .transpose()
}

/// Signed checkpoints: the key from the environment (or the key file), the schedule (every
/// five minutes unless set), a count of new audit records, the export directory. None
/// without a key; a configured section without one is an error.
fn checkpoint_config(
    file: &FileConfig,
) -> Result<Option<pledge_server::jobs::checkpoints::CheckpointConfig>> {
    use super::audit::{CHECKPOINT_KEY_ENV, DEFAULT_CHECKPOINT_NAME, signing_key};
    let c = &file.checkpoints;
    let name = c.name.as_deref().unwrap_or(DEFAULT_CHECKPOINT_NAME);
    let Some(key) = signing_key(name, c.key_file.as_deref())? else {
        if c.schedule.is_some() || c.dir.is_some() || c.every_records.is_some() {
            bail!(
                "checkpoints are configured but there is no key: set {CHECKPOINT_KEY_ENV} or checkpoints.key_file (`pledge audit generate-key` makes one)"
            );
        }
        return Ok(None);
    };
    if let Some(n) = c.every_records
        && n < 10
    {
        bail!(
            "checkpoints.every_records must be at least 10, not {n} (each checkpoint run adds audit records itself)"
        );
    }
    Ok(Some(pledge_server::jobs::checkpoints::CheckpointConfig {
        key,
        schedule: schedule_from(
            None,
            Some(c.schedule.as_deref().unwrap_or(DEFAULT_CHECKPOINT_SCHEDULE)),
            "PLEDGE_CHECKPOINT_SCHEDULE",
        )?,
        every_records: c.every_records,
        dir: c.dir.clone(),
    }))
}

const DEFAULT_CHECKPOINT_SCHEDULE: &str = "*/5 * * * *";

/// The staff's digest: on when it has recipients (each an e-mail address), every morning
/// unless scheduled otherwise; "due soon" within 1 to 90 days (7).
fn digest_config(file: &FileConfig) -> Result<Option<pledge_server::DigestConfig>> {
    let d = &file.digest;
    let recipients: Vec<String> = d
        .recipients
        .iter()
        .flatten()
        .map(|r| r.trim())
        .filter(|r| !r.is_empty())
        .map(|r| {
            r.parse::<pledge_lang::types::Email>()
                .map(|_| r.to_string())
                .map_err(|e| anyhow::anyhow!("digest.recipients: `{r}`: {e}"))
        })
        .collect::<Result<_>>()?;
    if recipients.is_empty() {
        if d.schedule.is_some() || d.window_days.is_some() {
            bail!(
                "digest is configured but has no recipients: set digest.recipients (or PLEDGE_DIGEST_RECIPIENTS)"
            );
        }
        return Ok(None);
    }
    let schedule = schedule_from(
        None,
        Some(d.schedule.as_deref().unwrap_or("0 7 * * *")),
        "PLEDGE_DIGEST_SCHEDULE",
    )?
    .context("digest.schedule is empty")?;
    Ok(Some(pledge_server::DigestConfig {
        schedule,
        recipients,
        window_days: days(d.window_days, 7, 90, "digest.window_days")?,
    }))
}

/// A number of days within `1..=max`, `default` when not given.
fn days(value: Option<i64>, default: i64, max: i64, key: &str) -> Result<i64> {
    let days = value.unwrap_or(default);
    if !(1..=max).contains(&days) {
        bail!("{key} must be 1 to {max}, not {days}");
    }
    Ok(days)
}

/// The export master keys: PLEDGE_EXPORT_KEY seals; the comma-separated
/// PLEDGE_EXPORT_KEYS_PREVIOUS still open what they sealed before a rotation.
fn export_keys() -> Result<Option<ExportKeys>> {
    let Some(current) = std::env::var(EXPORT_KEY_ENV).ok().filter(|k| !k.is_empty()) else {
        return Ok(None);
    };
    let current = MasterKey::parse(&current).with_context(|| EXPORT_KEY_ENV.to_string())?;
    let previous = std::env::var(PREVIOUS_EXPORT_KEYS_ENV)
        .unwrap_or_default()
        .split(',')
        .filter(|k| !k.trim().is_empty())
        .map(MasterKey::parse)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| PREVIOUS_EXPORT_KEYS_ENV.to_string())?;
    Ok(Some(ExportKeys::new(current, previous)))
}
