//! Failures of real databases, classified: a database that cannot be reached and a
//! connection killed under a query pass (transient); a wrong password,
//! a missing table and a bad value stay (permanent). The classification reads the codes
//! the databases give (SQLSTATE, error numbers, SQLite result codes), not their messages.

use pledge_connect::{Database, Error, Transience};

#[tokio::test]
async fn a_database_that_cannot_be_reached_is_transient() {
    // A SQLite file that is not there (and is not to be created) cannot be opened.
    let dir = std::env::temp_dir().join(format!("pledge-transience-{}", std::process::id()));
    let missing = format!("sqlite:{}", dir.join("not-there.db").display());
    let e = Database::connect(None, &missing).await.err().unwrap();
    assert!(matches!(e, Error::Connect { .. }), "{e}");
    assert_eq!(e.transience(), Transience::Transient, "{e}");
    // Nothing listens on port 9 of the loopback: the connection is refused.
    for url in [
        "postgres://pledge:secret@127.0.0.1:9/pledge",
        "mysql://pledge:secret@127.0.0.1:9/pledge",
    ] {
        let e = Database::connect(None, url).await.err().unwrap();
        assert!(e.retryable(), "{url}: {e}");
    }
    // A URL for another engine than the declared one is a set-up error.
    let e = Database::connect(
        Some(pledge_lang::model::Engine::Postgres),
        "sqlite::memory:",
    )
    .await
    .err()
    .unwrap();
    assert_eq!(e.transience(), Transience::Permanent, "{e}");
}

#[tokio::test]
async fn sqlite_errors_of_the_statement_are_permanent() {
    let mut db = Database::connect(None, "sqlite::memory:").await.unwrap();
    let e = db.query("SELECT * FROM no_such_table").await.unwrap_err();
    assert_eq!(e.transience(), Transience::Permanent, "{e}");
    assert_eq!(e.code().as_deref(), Some("1"));
    db.close().await;
}

#[tokio::test]
async fn postgres_errors_are_classified_by_sqlstate() {
    let Some(server) =
        pledge_testkit::require!(pledge_testkit::POSTGRES_URL, pledge_testkit::postgres_url())
    else {
        return;
    };
    let url = pledge_testkit::postgres_database(&server, "pledge_transience").await;
    let mut db = Database::connect(None, &url).await.unwrap();
    for (sql, state) in [
        ("SELECT * FROM no_such_table", "42P01"),
        ("SELECT 'abc'::integer", "22P02"),
    ] {
        let e = db.query(sql).await.unwrap_err();
        assert_eq!(e.code().as_deref(), Some(state), "{sql}: {e}");
        assert_eq!(e.transience(), Transience::Permanent, "{sql}: {e}");
    }
    // The server ends this connection under it (57P01, or the connection is gone).
    let e = db
        .query("SELECT pg_terminate_backend(pg_backend_pid())")
        .await
        .unwrap_err();
    assert_eq!(e.transience(), Transience::Transient, "{e}");
    // A wrong password is not retried.
    let wrong = url.replacen("://pledge:", "://pledge:wrong-", 1);
    if wrong != url {
        let e = Database::connect(None, &wrong).await.err().unwrap();
        assert_eq!(e.transience(), Transience::Permanent, "{e}");
    }
}

#[tokio::test]
async fn mariadb_errors_are_classified_by_number() {
    let Some(server) =
        pledge_testkit::require!(pledge_testkit::MYSQL_URL, pledge_testkit::mysql_url())
    else {
        return;
    };
    let mut db = Database::connect(None, &server).await.unwrap();
    let e = db.query("SELECT * FROM no_such_table").await.unwrap_err();
    assert_eq!(e.transience(), Transience::Permanent, "{e}");
    let e = db
        .query("SELECT 1 FROM information_schema.no_such_view")
        .await
        .unwrap_err();
    assert_eq!(e.transience(), Transience::Permanent, "{e}");
    db.close().await;
    let wrong = server.replacen("://pledge:", "://pledge:wrong-", 1);
    if wrong != server {
        let e = Database::connect(None, &wrong).await.err().unwrap();
        assert_eq!(e.transience(), Transience::Permanent, "{e}");
    }
}
