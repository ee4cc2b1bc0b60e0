//! The `--store` option shared by the commands that use the engine's store.

use anyhow::{Context, Result};
use pledge_store::Store;
use std::process::ExitCode;

/// The environment variable naming the store when `--store` is not given.
pub const STORE_URL_ENV: &str = "PLEDGE_STORE_URL";
/// The default store: a SQLite file in the working directory.
pub const DEFAULT_STORE: &str = "sqlite:pledge-store.db";

#[derive(clap::Args, Clone)]
pub struct StoreArg {
    /// The engine's store: sqlite:FILE or postgres://... Default: $PLEDGE_STORE_URL, else
    /// sqlite:pledge-store.db in the working directory.
    #[arg(long = "store", value_name = "URL")]
    pub url: Option<String>,
}

impl StoreArg {
    pub fn resolve(&self) -> String {
        let url = self
            .url
            .clone()
            .or_else(|| std::env::var(STORE_URL_ENV).ok().filter(|u| !u.is_empty()))
            .unwrap_or_else(|| DEFAULT_STORE.to_string());
        normalise(&url)
    }
}

/// A bare path is a SQLite file.
pub fn normalise(url: &str) -> String {
    if url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://")
    {
        url.to_string()
    } else {
        format!("sqlite:{url}")
    }
}

/// Opens the store and runs `f` on a one-thread runtime.
pub fn with_store<F>(arg: &StoreArg, f: F) -> Result<ExitCode>
where
    F: AsyncFnOnce(&Store) -> Result<ExitCode>,
{
    let runtime = super::runtime()?;
    let url = arg.resolve();
    runtime.block_on(async {
        let store = Store::open(&url)
            .await
            .with_context(|| format!("cannot open the store {}", redact(&url)))?;
        let result = f(&store).await;
        store.close().await;
        result
    })
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
