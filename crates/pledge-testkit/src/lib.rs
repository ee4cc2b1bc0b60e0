//! Test helpers for Pledge's crates: where the real servers and the browser are.
//!
//! `scripts/test.sh` starts a throwaway PostgreSQL and MariaDB on loopback, finds Chromium
//! and ChromeDriver, and tells the tests where they are through environment variables
//! ([`POSTGRES_URL`], [`MYSQL_URL`], [`CHROMIUM`], [`CHROMEDRIVER`]), installs the
//! OpenAPI validators ([`OPENAPI_SPEC_VALIDATOR`], [`REDOCLY`]), and starts an OpenID
//! Connect provider ([`OIDC_ISSUER`]). A test that needs one
//! of them asks with [`require!`]:
//!
//! ```no_run
//! // in a `#[test] fn erases_in_foreign_key_order()`:
//! let Some(url) = pledge_testkit::require!(pledge_testkit::POSTGRES_URL, pledge_testkit::postgres_url()) else {
//!     return; // skipped, and the reason was printed
//! };
//! // ... create a fresh database inside `url` and test against it
//! # let _ = url;
//! ```
//!
//! When the variable is missing, the test is skipped with `skipping <test>: <reason>` on
//! stderr, except in CI (the `CI` variable is set): there a missing server is a broken
//! set-up, not a reason to skip, and the test panics.
//!
//! Tests create their own databases inside these servers; the URLs name the servers'
//! default database (`postgres`, `mysql`) and a superuser.

pub mod disk;
pub mod generate;
pub mod webdriver;

pub use disk::SmallDisk;

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// `postgres://user:password@127.0.0.1:PORT/postgres`: a superuser on a throwaway PostgreSQL.
pub const POSTGRES_URL: &str = "PLEDGE_TEST_POSTGRES_URL";
/// `mysql://user:password@127.0.0.1:PORT/mysql`: a user with all privileges on a throwaway MariaDB.
pub const MYSQL_URL: &str = "PLEDGE_TEST_MYSQL_URL";
/// The Chromium binary, for browser tests (run it headless; as root it also needs `--no-sandbox`).
pub const CHROMIUM: &str = "PLEDGE_TEST_CHROMIUM";
/// The ChromeDriver binary matching [`CHROMIUM`].
pub const CHROMEDRIVER: &str = "PLEDGE_TEST_CHROMEDRIVER";
/// The `openapi-spec-validator` command (PyPI `openapi-spec-validator`).
pub const OPENAPI_SPEC_VALIDATOR: &str = "PLEDGE_TEST_OPENAPI_SPEC_VALIDATOR";
/// The `redocly` command (npm `@redocly/cli`).
pub const REDOCLY: &str = "PLEDGE_TEST_REDOCLY";
/// axe-core's `axe.min.js` (npm `axe-core`), the accessibility checker browser tests run.
pub const AXE: &str = "PLEDGE_TEST_AXE";
/// `http://127.0.0.1:PORT`: the issuer of a throwaway OpenID Connect provider (npm
/// `oidc-provider`, run by `scripts/oidc-provider.mjs`), with the client [`OIDC_CLIENT_ID`].
pub const OIDC_ISSUER: &str = "PLEDGE_TEST_OIDC_ISSUER";
/// The static client of the test provider (`scripts/oidc-provider.mjs`): its id, ...
pub const OIDC_CLIENT_ID: &str = "pledge-console";
/// ... and its secret (a loopback test server's, not a secret anywhere else).
pub const OIDC_CLIENT_SECRET: &str = "pledge-console-test-secret";

/// A real SMTP server on loopback (`smtp://127.0.0.1:PORT`) that delivers every message to
/// the maildir [`SMTP_MAILDIR`].
pub const SMTP_URL: &str = "PLEDGE_TEST_SMTP_URL";
/// The maildir the SMTP server of [`SMTP_URL`] delivers to.
pub const SMTP_MAILDIR: &str = "PLEDGE_TEST_SMTP_MAILDIR";

/// The test SMTP server and its maildir, if one was provided.
pub fn smtp() -> Option<(String, PathBuf)> {
    Some((var(SMTP_URL)?, var_os(SMTP_MAILDIR).map(PathBuf::from)?))
}

/// The URL of the test PostgreSQL server, if one was provided.
pub fn postgres_url() -> Option<String> {
    var(POSTGRES_URL)
}

/// The URL of the test MariaDB (MySQL protocol) server, if one was provided.
pub fn mysql_url() -> Option<String> {
    var(MYSQL_URL)
}

/// The Chromium binary, if one was provided.
pub fn chromium() -> Option<PathBuf> {
    var_os(CHROMIUM).map(PathBuf::from)
}

/// The ChromeDriver binary, if one was provided.
pub fn chromedriver() -> Option<PathBuf> {
    var_os(CHROMEDRIVER).map(PathBuf::from)
}

/// The program `name` on `PATH` (`python3`, `unzip`), if there is one: for tests that check
/// our output with an independent tool. Pass it to [`require!`].
pub fn program(name: &str) -> Option<PathBuf> {
    env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

/// axe-core's script, if one was provided.
pub fn axe() -> Option<PathBuf> {
    var_os(AXE).map(PathBuf::from)
}

/// The test OpenID Connect provider's issuer, if one was provided.
pub fn oidc_issuer() -> Option<String> {
    var(OIDC_ISSUER)
}

/// The `openapi-spec-validator` command, if one was provided.
pub fn openapi_spec_validator() -> Option<PathBuf> {
    var_os(OPENAPI_SPEC_VALIDATOR).map(PathBuf::from)
}

/// The `redocly` command, if one was provided.
pub fn redocly() -> Option<PathBuf> {
    var_os(REDOCLY).map(PathBuf::from)
}

/// Whether the tests run in CI, where a missing server fails the test instead of skipping it.
///
/// `CI` counts as set unless it is absent, empty, `0` or `false`.
pub fn in_ci() -> bool {
    ci_from(env::var_os("CI"))
}

/// Returns `value` if it is there. Otherwise skips or fails the calling test: in CI it
/// panics, elsewhere it prints `skipping <test>: <what> is not set ...` to stderr and returns
/// `None`, so the test can return early.
///
/// `what` names what is missing, usually the variable ([`POSTGRES_URL`], ...). The test is
/// named after the current thread, which the test harness (libtest, also under nextest) names
/// after the test; [`require!`] names it after the enclosing function instead, which also
/// works off the test's thread (inside a spawned task, say).
#[track_caller]
pub fn require<T>(what: &str, value: Option<T>) -> Option<T> {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("this test");
    require_in(in_ci(), test, what, value)
}

/// [`require`] with the test named by the caller: `require_as("my_test", POSTGRES_URL, postgres_url())`.
#[track_caller]
pub fn require_as<T>(test: &str, what: &str, value: Option<T>) -> Option<T> {
    require_in(in_ci(), test, what, value)
}

/// `require!(what, value)`: [`require`], with the test named after the enclosing function.
///
/// ```no_run
/// fn needs_a_browser() {
///     let Some(chromium) = pledge_testkit::require!(pledge_testkit::CHROMIUM, pledge_testkit::chromium()) else {
///         return;
///     };
///     # let _ = chromium;
/// }
/// # needs_a_browser();
/// ```
#[macro_export]
macro_rules! require {
    ($what:expr, $value:expr $(,)?) => {
        $crate::require_as($crate::__function_path!(), $what, $value)
    };
}

/// The path of the enclosing function, e.g. `my_crate::tests::my_test`.
#[doc(hidden)]
#[macro_export]
macro_rules! __function_path {
    () => {{
        fn here() {}
        fn name_of<T>(_: T) -> &'static str {
            ::std::any::type_name::<T>()
        }
        $crate::__trim_function_path(name_of(here))
    }};
}

#[doc(hidden)]
pub fn __trim_function_path(path: &'static str) -> &'static str {
    let mut path = path.strip_suffix("::here").unwrap_or(path);
    // Inside closures and async blocks the path ends in `::{{closure}}`.
    while let Some(outer) = path.strip_suffix("::{{closure}}") {
        path = outer;
    }
    path
}

/// The decision behind [`require`], with the CI flag as a parameter.
#[track_caller]
fn require_in<T>(ci: bool, test: &str, what: &str, value: Option<T>) -> Option<T> {
    match decide(ci, test, what, value) {
        Decision::Run(value) => Some(value),
        Decision::Skip(message) => {
            eprintln!("{message}");
            None
        }
        Decision::Fail(message) => panic!("{message}"),
    }
}

#[derive(Debug, PartialEq)]
enum Decision<T> {
    Run(T),
    Skip(String),
    Fail(String),
}

fn decide<T>(ci: bool, test: &str, what: &str, value: Option<T>) -> Decision<T> {
    match value {
        Some(value) => Decision::Run(value),
        None if ci => Decision::Fail(format!(
            "{test}: {what} is not set, and CI must run every test: run the suite with scripts/test.sh, which provides it"
        )),
        None => Decision::Skip(format!(
            "skipping {test}: {what} is not set (scripts/test.sh provides it)"
        )),
    }
}

fn ci_from(value: Option<OsString>) -> bool {
    match value {
        None => false,
        Some(value) => {
            let value = value.to_string_lossy();
            let value = value.trim();
            !(value.is_empty() || value == "0" || value.eq_ignore_ascii_case("false"))
        }
    }
}

/// A variable's value, with an empty value counted as missing.
fn var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|value| !value.is_empty())
}

fn var_os(name: &str) -> Option<OsString> {
    env::var_os(name).filter(|value| !value.is_empty())
}

/// Waits until `check` gives a value, checking again each time `progress` changes (the
/// server's `AppState::progress`, the signal that background work recorded something),
/// at most `within`; panics naming `what` after that. No sleeping: a check runs when
/// something happened, and once more in case the change came before the wait began.
///
pub async fn until<T, F, Fut>(
    what: &str,
    within: std::time::Duration,
    mut progress: tokio::sync::watch::Receiver<u64>,
    mut check: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        progress.borrow_and_update();
        if let Some(value) = check().await {
            return value;
        }
        match tokio::time::timeout_at(deadline, progress.changed()).await {
            Ok(Ok(())) => {}
            // The sender is gone (the server stopped): one last check.
            Ok(Err(_)) => {
                return check()
                    .await
                    .unwrap_or_else(|| panic!("{what}: the server stopped first"));
            }
            Err(_) => panic!("{what}: not within {within:?}"),
        }
    }
}

/// The two backends a store test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreBackend {
    Sqlite,
    Postgres,
}

/// A store URL of its own for the test `test` (its path, e.g. `api::sqlite::workflow`): a
/// fresh SQLite file under the temporary directory, or a fresh database on the test
/// PostgreSQL server. `None` when the server is not configured (the test then returns:
/// [`require_as`] skipped it, or failed it in CI).
pub async fn store_url(backend: StoreBackend, test: &str) -> Option<String> {
    match backend {
        StoreBackend::Sqlite => {
            let dir = env::temp_dir().join(format!(
                "pledge-store-{}-{}",
                test.replace("::", "-"),
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("a temporary directory");
            Some(format!(
                "sqlite:{}?mode=rwc",
                dir.join("store.db").display()
            ))
        }
        StoreBackend::Postgres => {
            let server = require_as(test, POSTGRES_URL, postgres_url())?;
            let prefix: String = test
                .rsplit("::")
                .next()
                .unwrap_or("t")
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(20)
                .collect();
            Some(postgres_database(&server, &format!("pledge_{prefix}")).await)
        }
    }
}

/// A scenario as [`scenarios!`] passes it: an async function of the test's environment.
pub type Scenario<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>>;

/// `scenarios!(run; a, b, c)`: one test per scenario and store backend, in modules `sqlite`
/// and `postgres`, each calling `run(backend, "module::path::a", a)`. A failure names its
/// scenario and backend, and no scenario hides another's failure.
#[macro_export]
macro_rules! scenarios {
    ($run:ident; $($scenario:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $scenario() {
                    super::$run(
                        $crate::StoreBackend::Sqlite,
                        concat!(module_path!(), "::", stringify!($scenario)),
                        |e| Box::pin(super::$scenario(e)),
                    )
                    .await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $scenario() {
                    super::$run(
                        $crate::StoreBackend::Postgres,
                        concat!(module_path!(), "::", stringify!($scenario)),
                        |e| Box::pin(super::$scenario(e)),
                    )
                    .await;
                }
            )+
        }
    };
}

/// Creates a database of its own for one test inside the test PostgreSQL server at
/// `server_url` (a superuser's URL, as [`postgres_url`] gives), named `PREFIX_` and random
/// hex, and returns its URL. Tests never share a database, so they can run in parallel.
pub async fn postgres_database(server_url: &str, prefix: &str) -> String {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(server_url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL server: {e}"));
    let name = database_name(prefix);
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
    let _ = admin.close().await;
    with_database(server_url, &name)
}

/// A new, empty MariaDB database on the test server at `server_url` (utf8mb4), named
/// `prefix` and a random suffix; its URL.
pub async fn mysql_database(server_url: &str, prefix: &str) -> String {
    use sqlx::Connection;
    let mut admin = sqlx::MySqlConnection::connect(server_url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test MariaDB server: {e}"));
    let name = database_name(prefix);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE {name} CHARACTER SET utf8mb4"
    )))
    .execute(&mut admin)
    .await
    .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
    let _ = admin.close().await;
    with_database(server_url, &name)
}

/// `prefix` and 12 random hex digits.
fn database_name(prefix: &str) -> String {
    let mut random = [0u8; 6];
    getrandom::fill(&mut random).expect("random bytes for a database name");
    format!(
        "{prefix}_{}",
        random
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// The server URL with its database replaced by `name` (a query string is kept).
fn with_database(server_url: &str, name: &str) -> String {
    let (server, query) = match server_url.split_once('?') {
        Some((s, q)) => (s, format!("?{q}")),
        None => (server_url, String::new()),
    };
    let base = server.rsplit_once('/').map_or(server, |(base, _)| base);
    format!("{base}/{name}{query}")
}

/// Loads PostgreSQL dumps in plain format (SQL statements and `COPY ... FROM stdin;` blocks
/// ended by `\.`, as `pg_dump` writes them) into the database at `url`, one after the
/// other, in one transaction on a connection of its own (a dump may change its session's
/// settings). Panics with the failing part on any error: it is for fixtures.
pub async fn load_postgres_dump(url: &str, dumps: &[&str]) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to load a dump: {e}"));
    async fn run(conn: &mut sqlx::PgConnection, sql: &str) {
        if sql.trim().is_empty() {
            return;
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut *conn)
            .await
            .unwrap_or_else(|e| {
                let head: String = sql.trim().chars().take(300).collect();
                panic!("loading a dump failed: {e}\nin: {head}")
            });
    }
    run(&mut conn, "BEGIN").await;
    for dump in dumps {
        let mut sql = String::new();
        let mut lines = dump.split_inclusive('\n');
        while let Some(line) = lines.next() {
            let trimmed = line.trim_end();
            if !(trimmed.starts_with("COPY ") && trimmed.ends_with("FROM stdin;")) {
                sql.push_str(line);
                continue;
            }
            run(&mut conn, &sql).await;
            sql.clear();
            let mut data = String::new();
            for row in lines.by_ref() {
                if row.trim_end() == "\\." {
                    break;
                }
                data.push_str(row);
            }
            let mut copy = conn
                .copy_in_raw(trimmed)
                .await
                .unwrap_or_else(|e| panic!("{trimmed} failed: {e}"));
            copy.send(data.as_bytes())
                .await
                .unwrap_or_else(|e| panic!("{trimmed} failed: {e}"));
            copy.finish()
                .await
                .unwrap_or_else(|e| panic!("{trimmed} failed: {e}"));
        }
        run(&mut conn, &sql).await;
    }
    run(&mut conn, "COMMIT").await;
    let _ = conn.close().await;
}

/// The terms of one list of the W3C Data Privacy Vocabulary (`dpv.csv`, `eu-gdpr.csv`,
/// `pd.csv`, kept in this crate's `data/dpv` with their licence), each with its prefix
/// (`dpv:ConsentGiven`): what the notices and consent receipts must use, and only that.
pub fn dpv_terms(file: &str) -> std::collections::BTreeSet<String> {
    let prefix = file
        .strip_suffix(".csv")
        .expect("a DPV list is a .csv file");
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/dpv")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .skip(1)
        .filter_map(|l| l.strip_prefix('"')?.split('"').next())
        .map(|term| format!("{prefix}:{term}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn present_value_runs_in_and_out_of_ci() {
        assert_eq!(decide(false, "t", POSTGRES_URL, Some(1)), Decision::Run(1));
        assert_eq!(decide(true, "t", POSTGRES_URL, Some(2)), Decision::Run(2));
        assert_eq!(require_in(true, "t", MYSQL_URL, Some("url")), Some("url"));
    }

    #[test]
    fn missing_value_skips_outside_ci_with_the_test_and_the_reason() {
        let decision = decide::<String>(false, "connect::tests::erasure", POSTGRES_URL, None);
        assert_eq!(
            decision,
            Decision::Skip(
                "skipping connect::tests::erasure: PLEDGE_TEST_POSTGRES_URL is not set (scripts/test.sh provides it)"
                    .to_owned()
            )
        );
        assert_eq!(require_in::<String>(false, "t", POSTGRES_URL, None), None);
    }

    #[test]
    fn missing_value_fails_in_ci() {
        match decide::<String>(true, "server::tests::banner", CHROMIUM, None) {
            Decision::Fail(message) => {
                assert!(
                    message.starts_with("server::tests::banner: PLEDGE_TEST_CHROMIUM is not set"),
                    "{message}"
                );
                assert!(message.contains("scripts/test.sh"), "{message}");
            }
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    #[should_panic(expected = "PLEDGE_TEST_MYSQL_URL is not set")]
    fn require_panics_in_ci() {
        require_in::<String>(true, "t", MYSQL_URL, None);
    }

    #[test]
    fn ci_flag_parsing() {
        assert!(!ci_from(None));
        for off in ["", " ", "0", "false", "FALSE", "False"] {
            assert!(!ci_from(Some(off.into())), "{off:?} should not count as CI");
        }
        for on in ["true", "1", "yes", "TRUE", "anything"] {
            assert!(ci_from(Some(on.into())), "{on:?} should count as CI");
        }
    }

    #[test]
    fn macro_names_the_enclosing_function() {
        assert_eq!(
            crate::__function_path!(),
            "pledge_testkit::tests::macro_names_the_enclosing_function"
        );
        let in_closure = || crate::__function_path!();
        assert_eq!(
            in_closure(),
            "pledge_testkit::tests::macro_names_the_enclosing_function"
        );
    }

    #[test]
    fn require_names_the_test_after_the_harness_thread() {
        // libtest names each test's thread after the test, also with one thread and under
        // nextest (one test per process); `require` relies on it.
        let thread = std::thread::current();
        let name = thread.name().unwrap_or_default();
        assert!(
            name == "tests::require_names_the_test_after_the_harness_thread",
            "unexpected thread name {name:?}"
        );
    }
}
