//! Connections to one application database kept warm between requests, and its schema read
//! once: a server runs many requests against the same databases, and connecting (a TCP
//! handshake and a password exchange) and reading the schema cost more than most requests'
//! own statements.
//!
//! - **Connections.** A job takes an idle connection or opens one ([`DatasetPool::checkout`])
//!   and gives it back when its plan ran to the end ([`Lease::release`]); one that failed is
//!   closed instead, so a connection in an unknown state is never reused. At most
//!   [`MAX_IDLE`] wait idle. SQLite files are opened afresh each time (opening a file costs
//!   next to nothing, and a kept handle would keep reading a file replaced since).
//!   The connection's statement cache (sqlx's) keeps each statement prepared for its life.
//! - **The schema** is read once and kept with the database's fingerprint
//!   ([`Database::fingerprint`]: one query); each checkout asks for the fingerprint and reads
//!   the schema again only when it changed. The schema is never guessed to be the same.
//! - A kept connection the server closed meanwhile (a restart, an idle timeout) fails its
//!   first query: the checkout then opens a new one, once.

use crate::{Database, Error};
use pledge_lang::model::{Dataset, Engine};
use pledge_plan::SchemaGraph;
use std::sync::{Arc, Mutex};

/// Idle connections kept per database.
pub const MAX_IDLE: usize = 4;

/// The connections and the schema of one application database.
pub struct DatasetPool {
    engine: Option<Engine>,
    url: String,
    schema_name: Option<String>,
    idle: Mutex<Vec<Database>>,
    /// The schema last read, with the fingerprint it was read under.
    schema: tokio::sync::Mutex<Option<(String, Arc<SchemaGraph>)>>,
}

/// A connection taken from a pool: [`Lease::release`] gives it back; dropped, it is closed.
pub struct Lease {
    db: Option<Database>,
    pool: Arc<DatasetPool>,
}

impl Lease {
    pub fn db(&mut self) -> &mut Database {
        // Taken out only by `release`, which consumes the lease.
        self.db
            .as_mut()
            .expect("a lease holds its connection until released")
    }

    /// The plan ran to its end (committed or rolled back): the connection is clean and goes
    /// back to the pool.
    pub fn release(mut self) {
        if let Some(db) = self.db.take() {
            self.pool.give_back(db);
        }
    }
}

impl DatasetPool {
    pub fn new(dataset: &Dataset, url: &str) -> Arc<DatasetPool> {
        Arc::new(DatasetPool {
            engine: dataset.engine.as_ref().map(|e| e.value),
            url: url.to_string(),
            schema_name: dataset.schema.as_ref().map(|s| s.as_str().to_string()),
            idle: Mutex::new(Vec::new()),
            schema: tokio::sync::Mutex::new(None),
        })
    }

    /// The URL the pool connects with.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn take_idle(&self) -> Option<Database> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    fn give_back(&self, db: Database) {
        if matches!(db, Database::Sqlite(_)) {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(db);
        }
    }

    /// Idle connections now (for tests and metrics).
    pub fn idle(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// A connection and the database's schema as it is now.
    pub async fn checkout(self: &Arc<Self>) -> Result<(Lease, Arc<SchemaGraph>), Error> {
        let schema_name = self.schema_name.as_deref();
        let (mut db, print) = match self.take_idle() {
            Some(mut db) => match db.fingerprint(schema_name).await {
                Ok(print) => (db, print),
                // Closed under us: a fresh connection, once.
                Err(_) => {
                    let mut db = Database::connect(self.engine, &self.url).await?;
                    let print = db.fingerprint(schema_name).await?;
                    (db, print)
                }
            },
            None => {
                let mut db = Database::connect(self.engine, &self.url).await?;
                let print = db.fingerprint(schema_name).await?;
                (db, print)
            }
        };
        let schema = {
            let mut kept = self.schema.lock().await;
            match kept.as_ref() {
                Some((seen, schema)) if *seen == print => schema.clone(),
                _ => {
                    let schema = Arc::new(db.introspect(schema_name).await?);
                    *kept = Some((print, schema.clone()));
                    schema
                }
            }
        };
        Ok((
            Lease {
                db: Some(db),
                pool: self.clone(),
            },
            schema,
        ))
    }
}
