//! The console's reading of requests: a filtered, paged list and the counts of its
//! dashboard. Values are always bound; only fixed SQL fragments are put together.

use crate::requests::request_from_row;
use crate::{REQUEST_COLUMNS, RequestRecord, Result, Store, parse};
use pledge_domain::workflow::{Regime, State};
use pledge_lang::rights::Right;
use sqlx::Row;

/// The states a request is closed in.
const CLOSED: &str = "('completed', 'denied', 'cancelled')";

/// Which requests to show, and which page of them.
#[derive(Debug, Clone, Default)]
pub struct RequestQuery {
    pub states: Vec<State>,
    pub kind: Option<Right>,
    pub regime: Option<Regime>,
    /// Open requests due at or before this time.
    pub due_before: Option<i64>,
    /// Open requests due after this time (with `due_before`: a window).
    pub due_after: Option<i64>,
    pub received_after: Option<i64>,
    pub received_before: Option<i64>,
    /// Part of the request id (letters, digits, `_` and `-`; any other text matches
    /// nothing).
    pub id_contains: Option<String>,
    pub offset: i64,
    pub limit: i64,
}

/// One page of requests, soonest deadline first, and how many match in all.
#[derive(Debug, Clone)]
pub struct RequestPage {
    pub requests: Vec<RequestRecord>,
    pub total: i64,
}

/// Open requests counted by regime and kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenCount {
    pub regime: Regime,
    pub kind: Right,
    pub count: i64,
}

impl Store {
    /// The requests `q` selects, one page of them.
    pub async fn browse_requests(&self, q: &RequestQuery) -> Result<RequestPage> {
        let mut filter = String::from(" WHERE 1 = 1");
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        enum Bind {
            Text(String),
            Int(i64),
        }
        let mut binds = Vec::new();
        if !q.states.is_empty() {
            let marks: Vec<String> = q.states.iter().map(|_| format!("${}", next())).collect();
            filter.push_str(&format!(" AND state IN ({})", marks.join(", ")));
            binds.extend(q.states.iter().map(|s| Bind::Text(s.as_str().into())));
        }
        if let Some(kind) = q.kind {
            filter.push_str(&format!(" AND kind = ${}", next()));
            binds.push(Bind::Text(kind.as_str().into()));
        }
        if let Some(regime) = q.regime {
            filter.push_str(&format!(" AND regime = ${}", next()));
            binds.push(Bind::Text(regime.as_str().into()));
        }
        if let Some(t) = q.due_before {
            filter.push_str(&format!(
                " AND due_at <= ${} AND state NOT IN {CLOSED}",
                next()
            ));
            binds.push(Bind::Int(t));
        }
        if let Some(t) = q.due_after {
            filter.push_str(&format!(
                " AND due_at > ${} AND state NOT IN {CLOSED}",
                next()
            ));
            binds.push(Bind::Int(t));
        }
        if let Some(t) = q.received_after {
            filter.push_str(&format!(" AND received_at >= ${}", next()));
            binds.push(Bind::Int(t));
        }
        if let Some(t) = q.received_before {
            filter.push_str(&format!(" AND received_at < ${}", next()));
            binds.push(Bind::Int(t));
        }
        if let Some(text) = q.id_contains.as_deref().filter(|t| !t.is_empty()) {
            if !text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Ok(RequestPage {
                    requests: Vec::new(),
                    total: 0,
                });
            }
            // `_` is LIKE's one-character wildcard, and every id has one: escaped.
            filter.push_str(&format!(" AND id LIKE ${} ESCAPE '\\'", next()));
            binds.push(Bind::Text(format!(
                "%{}%",
                text.to_ascii_lowercase().replace('_', "\\_")
            )));
        }
        let count_sql = format!("SELECT COUNT(*) AS n FROM requests{filter}");
        let limit_mark = next();
        let offset_mark = next();
        let page_sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM requests{filter} ORDER BY due_at, id LIMIT ${limit_mark} OFFSET ${offset_mark}"
        );
        let bind_all = |sql: String| {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for b in &binds {
                query = match b {
                    Bind::Text(s) => query.bind(s.clone()),
                    Bind::Int(i) => query.bind(*i),
                };
            }
            query
        };
        let total: i64 = bind_all(count_sql)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let rows = bind_all(page_sql)
            .bind(q.limit.clamp(1, 500))
            .bind(q.offset.max(0))
            .fetch_all(&self.pool)
            .await?;
        Ok(RequestPage {
            requests: rows.iter().map(request_from_row).collect::<Result<_>>()?,
            total,
        })
    }

    /// Open requests by regime and kind.
    pub async fn open_counts(&self) -> Result<Vec<OpenCount>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT regime, kind, COUNT(*) AS n FROM requests WHERE state NOT IN {CLOSED} GROUP BY regime, kind ORDER BY regime, kind"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OpenCount {
                    regime: parse(&r.try_get::<String, _>("regime")?)?,
                    kind: parse(&r.try_get::<String, _>("kind")?)?,
                    count: r.try_get("n")?,
                })
            })
            .collect()
    }
}
