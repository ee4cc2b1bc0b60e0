//! Connectors from Pledge to the company's application databases: PostgreSQL, MariaDB/MySQL
//! and SQLite. A connector reads the live schema (tables, columns, keys) for the planner and
//! runs a plan in one transaction per database. SQL is built with sea-query, which quotes
//! identifiers for each dialect; values are always bound, never spliced into SQL.

mod dialect;
mod exec;
mod identify;
mod introspect;
pub mod pool;
mod retain;

pub use exec::{Options, PSEUDONYM_PREFIX, Who, pseudonym};
pub use retain::{
    BatchHook, BatchOptions, DatasetSweep, RetentionOutcome, SweepOutcome, action_name,
    datasets_with_retention, sweep_dataset,
};

use pledge_lang::model::{Dataset, Engine};
pub use pledge_plan::TableRows;
use pledge_plan::retention::RetentionPlan;
pub use pledge_plan::retry::Transience;
use pledge_plan::{Plan, SchemaGraph, Value};
use serde::Serialize;
use sqlx::Connection as _;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("cannot connect to the {engine} database")]
    Connect {
        engine: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("a `{url_scheme}` URL does not suit the dataset's engine ({engine})")]
    WrongEngine { engine: String, url_scheme: String },
    #[error("the database refused a query: {sql}")]
    Query {
        sql: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "set {variable} to the connection URL of dataset `{dataset}` (postgres://..., mysql://..., sqlite:...)"
    )]
    NoConnection { variable: String, dataset: String },
    #[error("cannot read a value: {0}")]
    Decode(String),
    #[error(
        "step {index} (table `{table}`) failed; the transaction was rolled back and nothing was changed"
    )]
    Step {
        index: usize,
        table: String,
        #[source]
        source: Box<Error>,
    },
    /// Permanent: the same request is refused the same way.
    #[error(
        "the identity matches {rows} rows of `{table}`: it does not name one person; nothing was changed (name the person by an identity only they have, such as their id)"
    )]
    Ambiguous { table: String, rows: u64 },
    /// The identities of one request select different rows of a table (or one selects rows
    /// and another none): they are not one person's. Permanent.
    #[error(
        "the identities do not name one person: in `{table}`, {}, and {all} {} all of them; nothing was changed",
        matches_text(matched),
        if *all == 1 { "row matches" } else { "rows match" }
    )]
    Conflict {
        table: String,
        matched: Vec<KindMatch>,
        all: u64,
    },
    /// People of a batch that are not each one person: the whole batch is refused. Permanent.
    #[error(
        "{} of the {people} people of the batch {} not name one person each; nothing was changed: {}",
        refused.len(),
        if refused.len() == 1 { "does" } else { "do" },
        refusals_text(refused)
    )]
    BatchRefused {
        people: usize,
        refused: Vec<Refusal>,
    },
    #[error("no one with this identity was found (searched {tables}); nothing was changed")]
    NoSuchPerson { tables: String },
    /// A restriction whose person has rows in tables that declare no `restrict_column`:
    /// nothing could mark them. Permanent, until the declaration names a column.
    #[error(
        "the person's rows in {tables} cannot be marked as restricted: the table declares no restrict_column; nothing was changed"
    )]
    NotRestrictable { tables: String },
    #[error(transparent)]
    Plan(#[from] pledge_plan::PlanError),
}

/// How many rows of a table one identity kind selected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KindMatch {
    pub kind: String,
    pub rows: u64,
}

/// A person of a batch that was refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// Where the person is in the batch (`line 7`).
    pub at: String,
    pub reason: String,
}

fn matches_text(matched: &[KindMatch]) -> String {
    matched
        .iter()
        .map(|m| {
            format!(
                "`{}` matches {} row{}",
                m.kind,
                m.rows,
                if m.rows == 1 { "" } else { "s" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first refusals of a batch, one per line.
fn refusals_text(refused: &[Refusal]) -> String {
    const SHOWN: usize = 20;
    let mut out: String = refused
        .iter()
        .take(SHOWN)
        .map(|r| format!("\n  {}: {}", r.at, r.reason))
        .collect();
    if refused.len() > SHOWN {
        out.push_str(&format!("\n  ... and {} more", refused.len() - SHOWN));
    }
    out
}

/// Whether a failed attempt to connect may succeed later: a refused or lost connection, a
/// server starting or shutting down, too many connections may; a wrong password, an unknown
/// database or a malformed URL will not.
fn connect_transience(e: &sqlx::Error) -> Transience {
    match e {
        sqlx::Error::Configuration(_) => Transience::Permanent,
        // Class 28: invalid authorization; 3D000: no such database (PostgreSQL).
        sqlx::Error::Database(db)
            if db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some()
                && db
                    .code()
                    .is_some_and(|state| state.starts_with("28") || state == "3D000") =>
        {
            Transience::Permanent
        }
        // Access denied, unknown database (MariaDB/MySQL).
        sqlx::Error::Database(db)
            if db
                .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                .is_some_and(|m| matches!(m.number(), 1044 | 1045 | 1049)) =>
        {
            Transience::Permanent
        }
        _ => sqlx_transience(e),
    }
}

/// The transience of a database error, by the driver's error kind and the database's code.
pub fn sqlx_transience(e: &sqlx::Error) -> Transience {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => Transience::Transient,
        sqlx::Error::Database(db) => {
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // SQLite's code is its (extended) result code, in decimal.
                let code = db.code().and_then(|c| c.parse().ok()).unwrap_or(1);
                return Transience::of_sqlite_code(code);
            }
            if let Some(e) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                && let Some(t) = Transience::of_mysql_error(e.number())
            {
                return t;
            }
            db.code().map_or(Transience::Permanent, |state| {
                Transience::of_sqlstate(&state)
            })
        }
        // Configuration, decoding, a missing column or type: the same next time.
        _ => Transience::Permanent,
    }
}

/// The connection URL of a dataset, from the environment variable it names.
pub fn dataset_url(dataset: &Dataset) -> Result<String, Error> {
    let variable = dataset.connection_env.as_str();
    std::env::var(variable)
        .ok()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| Error::NoConnection {
            variable: variable.to_string(),
            dataset: dataset.id.to_string(),
        })
}

impl Error {
    /// Whether running the same thing again later may succeed: connection failures, pool
    /// timeouts, deadlocks, serialization failures, locks, full disks and I/O errors may;
    /// plan errors, missing tables or columns, identities that name several people, type
    /// errors and wrong URLs will not. A `match` without a catch-all on purpose: a new
    /// variant must say which it is.
    pub fn transience(&self) -> Transience {
        match self {
            Error::Connect { source, .. } => connect_transience(source),
            Error::Query { source, .. } => sqlx_transience(source),
            Error::Step { source, .. } => source.transience(),
            Error::WrongEngine { .. }
            | Error::NoConnection { .. }
            | Error::Decode(_)
            | Error::Ambiguous { .. }
            | Error::Conflict { .. }
            | Error::BatchRefused { .. }
            | Error::NotRestrictable { .. }
            | Error::NoSuchPerson { .. }
            | Error::Plan(_) => Transience::Permanent,
        }
    }

    /// [`Error::transience`] is transient.
    pub fn retryable(&self) -> bool {
        self.transience() == Transience::Transient
    }

    /// The database's own code for the failure (SQLSTATE, MariaDB error number, SQLite
    /// result code), if it gave one: for logs, which never carry the message (it may quote
    /// a value).
    pub fn code(&self) -> Option<String> {
        match self {
            Error::Connect { source, .. } | Error::Query { source, .. } => match source {
                sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
                _ => None,
            },
            Error::Step { source, .. } => source.code(),
            _ => None,
        }
    }

    fn query(sql: &str, source: sqlx::Error) -> Self {
        Error::Query {
            sql: sql.to_string(),
            source,
        }
    }
}

/// What one step did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StepOutcome {
    /// Rows read, deleted, updated or (for `Keep`) left.
    pub rows: u64,
    /// For reads: the rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<TableRows>,
    /// For restriction: the primary keys of the restricted rows.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<Vec<Value>>,
}

/// What running a plan did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Outcome {
    /// One per plan step, in order.
    pub steps: Vec<StepOutcome>,
    /// False for a dry run (rolled back).
    pub committed: bool,
}

/// A connection to one application database.
pub enum Database {
    Postgres(sqlx::PgConnection),
    MySql(sqlx::MySqlConnection),
    Sqlite(sqlx::SqliteConnection),
}

impl Database {
    /// Connect with a URL (`postgres://`, `mysql://` or `mariadb://`, `sqlite:`). The engine
    /// is read from the URL; when the declaration names one, the URL must match it.
    pub async fn connect(declared: Option<Engine>, url: &str) -> Result<Self, Error> {
        let scheme = url.split(':').next().unwrap_or("").to_ascii_lowercase();
        let engine = match scheme.as_str() {
            "postgres" | "postgresql" => Engine::Postgres,
            "mysql" | "mariadb" => Engine::Mysql,
            "sqlite" => Engine::Sqlite,
            _ => {
                return Err(Error::WrongEngine {
                    engine: declared.map_or("postgres, mysql or sqlite".into(), |e| {
                        pledge_lang::model::variant_name(&e)
                    }),
                    url_scheme: format!("{scheme}:"),
                });
            }
        };
        if let Some(declared) = declared
            && declared != engine
        {
            return Err(Error::WrongEngine {
                engine: pledge_lang::model::variant_name(&declared),
                url_scheme: format!("{scheme}:"),
            });
        }
        Ok(match engine {
            Engine::Postgres => {
                Database::Postgres(sqlx::PgConnection::connect(url).await.map_err(|source| {
                    Error::Connect {
                        engine: "PostgreSQL",
                        source,
                    }
                })?)
            }
            Engine::Mysql => {
                let url = url.replacen("mariadb:", "mysql:", 1);
                Database::MySql(
                    sqlx::MySqlConnection::connect(&url)
                        .await
                        .map_err(|source| Error::Connect {
                            engine: "MariaDB/MySQL",
                            source,
                        })?,
                )
            }
            Engine::Sqlite => {
                use sqlx::sqlite::SqliteConnectOptions;
                use std::str::FromStr;
                let options = SqliteConnectOptions::from_str(url)
                    .map_err(|source| Error::Connect {
                        engine: "SQLite",
                        source,
                    })?
                    .foreign_keys(true);
                Database::Sqlite(
                    sqlx::SqliteConnection::connect_with(&options)
                        .await
                        .map_err(|source| Error::Connect {
                            engine: "SQLite",
                            source,
                        })?,
                )
            }
        })
    }

    /// Connect to a declared dataset at `url` and read its schema: what every request and
    /// retention run starts with.
    pub async fn open_dataset(dataset: &Dataset, url: &str) -> Result<(Self, SchemaGraph), Error> {
        let mut db = Database::connect(dataset.engine.as_ref().map(|e| e.value), url).await?;
        let schema = db
            .introspect(dataset.schema.as_ref().map(|s| s.as_str()))
            .await?;
        Ok((db, schema))
    }

    /// Read tables, columns, primary keys and foreign keys. `schema` is the PostgreSQL schema
    /// (default `public`); the others use the connection's database.
    pub async fn introspect(&mut self, schema: Option<&str>) -> Result<SchemaGraph, Error> {
        match self {
            Database::Postgres(c) => introspect::postgres(c, schema.unwrap_or("public")).await,
            Database::MySql(c) => introspect::mysql(c).await,
            Database::Sqlite(c) => introspect::sqlite(c).await,
        }
    }

    /// A short text that changes whenever what [`Database::introspect`] reads changes: one
    /// query, far cheaper than reading the schema, to know whether a schema read before
    /// still holds ([`pool::DatasetPool`]).
    pub async fn fingerprint(&mut self, schema: Option<&str>) -> Result<String, Error> {
        match self {
            Database::Postgres(c) => {
                introspect::postgres_fingerprint(c, schema.unwrap_or("public")).await
            }
            Database::MySql(c) => introspect::mysql_fingerprint(c).await,
            Database::Sqlite(c) => introspect::sqlite_fingerprint(c).await,
        }
    }

    /// Run a plan in one transaction (rolled back for a dry run).
    pub async fn execute(
        &mut self,
        schema: &SchemaGraph,
        plan: &Plan,
        options: &Options<'_>,
    ) -> Result<Outcome, Error> {
        match self {
            Database::Postgres(c) => {
                exec::execute::<sqlx::Postgres>(c, schema, plan, options).await
            }
            Database::MySql(c) => exec::execute::<sqlx::MySql>(c, schema, plan, options).await,
            Database::Sqlite(c) => exec::execute::<sqlx::Sqlite>(c, schema, plan, options).await,
        }
    }

    /// Run a retention plan in batches of keys, one short transaction per batch (all of them
    /// in one transaction, rolled back, for a dry run). Unlike [`Database::execute`], what a
    /// batch did stays when a later batch fails or the run is stopped; every batch is
    /// idempotent, so running the plan again finishes the work.
    pub async fn execute_batched(
        &mut self,
        schema: &SchemaGraph,
        plan: &RetentionPlan,
        options: &BatchOptions<'_>,
    ) -> Result<RetentionOutcome, Error> {
        match self {
            Database::Postgres(c) => {
                retain::execute_batched::<sqlx::Postgres>(c, schema, plan, options).await
            }
            Database::MySql(c) => {
                retain::execute_batched::<sqlx::MySql>(c, schema, plan, options).await
            }
            Database::Sqlite(c) => {
                retain::execute_batched::<sqlx::Sqlite>(c, schema, plan, options).await
            }
        }
    }

    /// Run a statement (fixtures, set-up). Not for plans.
    pub async fn batch(&mut self, sql: &str) -> Result<(), Error> {
        use sqlx::{AssertSqlSafe, Executor};
        let result = match self {
            Database::Postgres(c) => c.execute(AssertSqlSafe(sql.to_string())).await.map(|_| ()),
            Database::MySql(c) => c.execute(AssertSqlSafe(sql.to_string())).await.map(|_| ()),
            Database::Sqlite(c) => c.execute(AssertSqlSafe(sql.to_string())).await.map(|_| ()),
        };
        result.map_err(|e| Error::query(&sql.chars().take(200).collect::<String>(), e))
    }

    /// Run a query written by hand and decode its rows (tests, diagnostics). Not for plans.
    pub async fn query(&mut self, sql: &str) -> Result<Vec<Vec<Value>>, Error> {
        use dialect::Dialect;
        use sqlx::{AssertSqlSafe, Row};
        async fn decode<DB: Dialect>(rows: Vec<DB::Row>) -> Result<Vec<Vec<Value>>, Error> {
            rows.iter()
                .map(|r| (0..r.len()).map(|i| DB::decode(r, i)).collect())
                .collect()
        }
        let query = || sqlx::raw_sql(AssertSqlSafe(sql.to_string()));
        match self {
            Database::Postgres(c) => {
                decode::<sqlx::Postgres>(
                    query()
                        .fetch_all(c)
                        .await
                        .map_err(|e| Error::query(sql, e))?,
                )
                .await
            }
            Database::MySql(c) => {
                decode::<sqlx::MySql>(
                    query()
                        .fetch_all(c)
                        .await
                        .map_err(|e| Error::query(sql, e))?,
                )
                .await
            }
            Database::Sqlite(c) => {
                decode::<sqlx::Sqlite>(
                    query()
                        .fetch_all(c)
                        .await
                        .map_err(|e| Error::query(sql, e))?,
                )
                .await
            }
        }
    }

    pub async fn close(self) {
        let _ = match self {
            Database::Postgres(c) => c.close().await,
            Database::MySql(c) => c.close().await,
            Database::Sqlite(c) => c.close().await,
        };
    }
}
