//! `pledge serve`: the engine's server, or with `--demo` a ready-to-try one on Chinook.

use super::store::{STORE_URL_ENV, StoreArg, normalise, redact};
use crate::clock::now_unix;
use crate::cmd::request::HMAC_KEY_ENV;
use crate::input;
use anyhow::{Context, Result, bail};
use pledge_core::{SourceMap, report};
use pledge_server::{AppState, Bound, Config};
use pledge_store::{Role, Store};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The Chinook declaration and database script, built into the binary for `--demo`.
const DEMO_DECLARATION: &str = include_str!("../../../../examples/chinook/pledge.toml");
const DEMO_CHINOOK_SQL: &str =
    include_str!("../../../pledge-connect/tests/fixtures/chinook/chinook_sqlite.sql");
const DEMO_CONNECTION_ENV: &str = "CHINOOK_DATABASE_URL";

#[derive(clap::Args)]
pub struct Args {
    /// The declaration (file or folder) whose datasets requests run against. Default:
    /// pledge.toml.
    path: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArg,
    /// Where to listen.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Background workers in this process (0: serve the API only).
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Seconds a claimed job stays a worker's before another may take it over.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(i64).range(1..=3600))]
    lease_secs: i64,
    /// Start a demo: the Chinook example declaration on a private copy of the Chinook
    /// database, a fresh store, and an admin key printed once.
    #[arg(long, conflicts_with_all = ["path", "url"])]
    demo: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> Result<ExitCode> {
    let mut config = Config {
        workers: args.workers,
        lease_secs: args.lease_secs,
        ..Config::default()
    };
    if let Some(ms) = std::env::var("PLEDGE_TEST_PAUSE_BEFORE_COMPLETE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        config.pause_before_complete = Some(Duration::from_millis(ms));
    }
    config.hmac_key = match std::env::var(HMAC_KEY_ENV) {
        Ok(k) if k.len() >= 16 => k.into_bytes(),
        Ok(_) => bail!("{HMAC_KEY_ENV} must hold at least 16 characters"),
        Err(_) => Vec::new(),
    };
    config.banner = pledge_server::banner::Settings::from_vars(|k| std::env::var(k).ok())
        .map_err(anyhow::Error::msg)?;
    let (decl, store_url, demo_dir) = if args.demo {
        let dir = std::env::temp_dir().join(format!("pledge-demo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let db = dir.join("chinook.db");
        let url = format!("sqlite:{}", db.display());
        build_chinook(&url).await?;
        config
            .connections
            .push((DEMO_CONNECTION_ENV.to_string(), url));
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
        let decl = pledge_core::load(&sources)
            .map_err(|_| anyhow::anyhow!("the built-in demo declaration does not load"))?;
        let store = format!("sqlite:{}", dir.join("pledge-store.db").display());
        (decl, store, Some(dir))
    } else {
        let path = input::declaration_path(args.path.clone());
        let decl = match input::load_or_report(&path)? {
            Ok((_, decl)) => decl,
            Err((sources, errors)) => {
                anstream::eprint!("{}", report::human(&errors, &sources, true));
                return Ok(super::exit_invalid());
            }
        };
        (decl, args.store.resolve(), None)
    };
    let store_url = normalise(&store_url);
    let store = Store::open(&store_url)
        .await
        .with_context(|| format!("cannot open the store {}", redact(&store_url)))?;
    let bound = Bound::bind(&args.listen).await?;
    let addr = bound
        .local_addr()
        .map_or_else(|| args.listen.clone(), |a| a.to_string());
    println!("pledge serve: listening on http://{addr}");
    println!("store: {}", redact(&store_url));
    if let Some(dir) = &demo_dir {
        let (key, secret) = store
            .create_key(Role::Admin, Some("demo"), "cli", now_unix())
            .await?;
        println!();
        println!("Demo: the Chinook music store, on a private copy of its database in");
        println!("  {}", dir.display());
        println!("Admin API key ({}, shown once):", key.id);
        println!("  {secret}");
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
            "  kinds: access, portability, erasure, rectification (with \"changes\":{{\"address\":\"...\"}}), restriction"
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

/// A fresh Chinook database in a SQLite file.
async fn build_chinook(url: &str) -> Result<()> {
    let mut db = pledge_connect::Database::connect(None, &format!("{url}?mode=rwc"))
        .await
        .context("cannot create the demo database")?;
    db.batch(&format!("BEGIN;\n{DEMO_CHINOOK_SQL}\nCOMMIT;"))
        .await
        .context("cannot load the Chinook data")?;
    db.close().await;
    Ok(())
}
