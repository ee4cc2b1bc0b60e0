//! The privacy notice as published: each version the server has served, kept with the
//! declaration it was made from, so that the console shows any version and compares any
//! two, however the declaration changed since.

use crate::{Result, Store};
use serde_json::json;
use sqlx::Row;

/// A version of the notice to record.
#[derive(Debug, Clone)]
pub struct NewNotice<'a> {
    /// The short content hash (`pledge notice` prints it).
    pub version: &'a str,
    /// `sha256:<hex>` of the notice's content.
    pub digest: &'a str,
    /// `YYYY-MM-DD`, when the declaration gives one.
    pub effective_date: Option<&'a str>,
    /// The declaration the notice was made from, as JSON (it loads as a declaration file).
    pub declaration: &'a str,
    /// The notice's HTML page as published.
    pub html: &'a str,
}

/// A published version, without its texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeVersion {
    pub version: String,
    pub digest: String,
    pub effective_date: Option<String>,
    /// When the server first published it (unix seconds).
    pub published_at: i64,
}

/// A published version with its texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredNotice {
    pub about: NoticeVersion,
    pub declaration: String,
    pub html: String,
}

const COLUMNS: &str = "version, digest, effective_date, published_at";

fn version_from_row(r: &sqlx::any::AnyRow) -> Result<NoticeVersion> {
    Ok(NoticeVersion {
        version: r.try_get("version")?,
        digest: r.try_get("digest")?,
        effective_date: r.try_get("effective_date")?,
        published_at: r.try_get("published_at")?,
    })
}

impl Store {
    /// Records `notice` as published at `now` unless that version is recorded already
    /// (a restart, another replica): returns whether it was new. A new version is audited.
    pub async fn publish_notice(
        &self,
        notice: &NewNotice<'_>,
        actor: &str,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let known = sqlx::query("SELECT version FROM notices WHERE version = $1")
            .bind(notice.version.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if known {
            return Ok(false);
        }
        // Two replicas starting together: on PostgreSQL the second insert waits for the
        // first's commit and then does nothing; SQLite's write lock orders them anyway.
        let inserted = sqlx::query(
            "INSERT INTO notices (version, digest, effective_date, published_at, declaration, html) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (version) DO NOTHING",
        )
        .bind(notice.version.to_string())
        .bind(notice.digest.to_string())
        .bind(notice.effective_date.map(str::to_string))
        .bind(now)
        .bind(notice.declaration.to_string())
        .bind(notice.html.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Ok(false);
        }
        self.audit(
            &mut tx,
            now,
            actor,
            "notice.published",
            None,
            json!({"version": notice.version, "digest": notice.digest, "effective_date": notice.effective_date}),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Every published version, newest first.
    pub async fn notice_versions(&self) -> Result<Vec<NoticeVersion>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM notices ORDER BY published_at DESC, version"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(version_from_row).collect()
    }

    /// One published version with its texts.
    pub async fn notice(&self, version: &str) -> Result<Option<StoredNotice>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS}, declaration, html FROM notices WHERE version = $1"
        )))
        .bind(version.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(StoredNotice {
                about: version_from_row(&r)?,
                declaration: r.try_get("declaration")?,
                html: r.try_get("html")?,
            })
        })
        .transpose()
    }
}
