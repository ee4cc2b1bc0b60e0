//! The console's reading of requests: a filtered, paged list and the counts of its
//! dashboard. Values are always bound; only fixed SQL fragments are put together.

use crate::requests::request_from_row;
use crate::{REQUEST_COLUMNS, RequestRecord, Result, Store, parse};
use pledge_domain::workflow::{Regime, State};
use pledge_lang::rights::Right;
use sqlx::Row;
use std::sync::LazyLock;

/// The states a request is open in, as an SQL list: named one by one (not "not closed"), so
/// that the indexes on `state` answer the counts without reading the table.
static OPEN: LazyLock<String> = LazyLock::new(|| {
    let open: Vec<String> = pledge_domain::workflow::STATES
        .iter()
        .filter(|s| !s.is_final())
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!("({})", open.join(", "))
});

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

/// Which audit records to show: each filter narrows; text filters match the start
/// (`staff:` is every staff account, `request.` every request action).
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub request: Option<String>,
    /// At or after this time (unix seconds).
    pub from: Option<i64>,
    /// Before this time.
    pub to: Option<i64>,
    /// Records older than this one (the next page of a newest-first list).
    pub before_seq: Option<i64>,
    pub limit: i64,
}

/// One page of audit records, newest first, and whether older ones match too.
#[derive(Debug, Clone)]
pub struct AuditPage {
    pub records: Vec<crate::audit::AuditRecord>,
    pub more: bool,
}

/// A value bound to a placeholder.
enum Bind {
    Text(String),
    Int(i64),
}

/// A `WHERE` clause put together from fixed fragments, its values bound in order: no value
/// is ever part of the SQL text.
struct Where {
    sql: String,
    binds: Vec<Bind>,
    marks: usize,
}

impl Default for Where {
    fn default() -> Self {
        Where {
            sql: " WHERE 1 = 1".into(),
            binds: Vec::new(),
            marks: 0,
        }
    }
}

impl Where {
    /// The next placeholder, `$n`.
    fn mark(&mut self) -> String {
        self.marks += 1;
        format!("${}", self.marks)
    }

    /// Binds `value` to the next placeholder, which it returns.
    fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        self.mark()
    }

    /// `AND <fragment>`.
    fn push(&mut self, fragment: &str) {
        self.sql.push_str(" AND ");
        self.sql.push_str(fragment);
    }

    /// `AND <before>$n<after>` with `value` bound to `$n`.
    fn and(&mut self, before: &str, value: Bind, after: &str) {
        let mark = self.bind(value);
        self.push(&format!("{before}{mark}{after}"));
    }

    /// `sql` with every value of the clause bound, in order; more may be bound after.
    fn query(&self, sql: String) -> crate::chain::AnyQuery<'static> {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in &self.binds {
            query = match b {
                Bind::Text(s) => query.bind(s.clone()),
                Bind::Int(i) => query.bind(*i),
            };
        }
        query
    }
}

/// `text` with LIKE's wildcards (`%`, `_`) and the escape character escaped (`\`).
fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
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
        let mut w = Where::default();
        if !q.states.is_empty() {
            let marks: Vec<String> = q
                .states
                .iter()
                .map(|s| w.bind(Bind::Text(s.as_str().into())))
                .collect();
            w.push(&format!("state IN ({})", marks.join(", ")));
        }
        if let Some(kind) = q.kind {
            w.and("kind = ", Bind::Text(kind.as_str().into()), "");
        }
        if let Some(regime) = q.regime {
            w.and("regime = ", Bind::Text(regime.as_str().into()), "");
        }
        if let Some(t) = q.due_before {
            w.and(
                "due_at <= ",
                Bind::Int(t),
                &format!(" AND state IN {}", *OPEN),
            );
        }
        if let Some(t) = q.due_after {
            w.and(
                "due_at > ",
                Bind::Int(t),
                &format!(" AND state IN {}", *OPEN),
            );
        }
        if let Some(t) = q.received_after {
            w.and("received_at >= ", Bind::Int(t), "");
        }
        if let Some(t) = q.received_before {
            w.and("received_at < ", Bind::Int(t), "");
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
            w.and(
                "id LIKE ",
                Bind::Text(format!("%{}%", like_escape(&text.to_ascii_lowercase()))),
                " ESCAPE '\\'",
            );
        }
        let total: i64 = w
            .query(format!("SELECT COUNT(*) AS n FROM requests{}", w.sql))
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let (limit, offset) = (w.mark(), w.mark());
        let rows = w
            .query(format!(
                "SELECT {REQUEST_COLUMNS} FROM requests{} ORDER BY due_at, id LIMIT {limit} OFFSET {offset}",
                w.sql
            ))
            .bind(q.limit.clamp(1, 500))
            .bind(q.offset.max(0))
            .fetch_all(&self.pool)
            .await?;
        Ok(RequestPage {
            requests: rows.iter().map(request_from_row).collect::<Result<_>>()?,
            total,
        })
    }

    /// The requests that name `value` as one of their identities (of any kind; an e-mail
    /// address in any case), newest first, at most `limit`. The identities are stored as
    /// JSON text: the store narrows by the text, then each candidate is compared exactly.
    pub async fn requests_naming(&self, value: &str, limit: i64) -> Result<Vec<RequestRecord>> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(Vec::new());
        }
        // As the identities are stored: a JSON string, quotes included, so that only a
        // whole value matches.
        let json = serde_json::Value::String(value.to_ascii_lowercase()).to_string();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} FROM requests WHERE LOWER(identities) LIKE $1 ESCAPE '\\' ORDER BY received_at DESC, id LIMIT $2"
        )))
        .bind(format!("%{}%", like_escape(&json)))
        .bind(limit.clamp(1, 1_000) * 4)
        .fetch_all(&self.pool)
        .await?;
        let mut found = Vec::new();
        for row in &rows {
            let r = request_from_row(row)?;
            let names = r
                .identities
                .iter()
                .any(|(kind, v)| v == value || (kind == "email" && v.eq_ignore_ascii_case(value)));
            if names {
                found.push(r);
            }
            if found.len() as i64 >= limit {
                break;
            }
        }
        Ok(found)
    }

    /// The audit records `q` selects, newest first, one page of them.
    pub async fn browse_audit(&self, q: &AuditQuery) -> Result<AuditPage> {
        let mut w = Where::default();
        if let Some(actor) = q.actor.as_deref().filter(|a| !a.is_empty()) {
            w.and(
                "actor LIKE ",
                Bind::Text(format!("{}%", like_escape(actor))),
                " ESCAPE '\\'",
            );
        }
        if let Some(action) = q.action.as_deref().filter(|a| !a.is_empty()) {
            w.and(
                "action LIKE ",
                Bind::Text(format!("{}%", like_escape(action))),
                " ESCAPE '\\'",
            );
        }
        if let Some(request) = q.request.as_deref().filter(|r| !r.is_empty()) {
            w.and("request_id = ", Bind::Text(request.to_string()), "");
        }
        if let Some(t) = q.from {
            w.and("at >= ", Bind::Int(t), "");
        }
        if let Some(t) = q.to {
            w.and("at < ", Bind::Int(t), "");
        }
        if let Some(seq) = q.before_seq {
            w.and("seq < ", Bind::Int(seq), "");
        }
        let limit = w.mark();
        let mut rows = w
            .query(format!(
                "SELECT seq, at, actor, action, request_id, detail, prev_hash, hash FROM audit_log{} ORDER BY seq DESC LIMIT {limit}",
                w.sql
            ))
            .bind(q.limit.clamp(1, 500) + 1)
            .fetch_all(&self.pool)
            .await?;
        let more = rows.len() as i64 > q.limit.clamp(1, 500);
        rows.truncate(q.limit.clamp(1, 500) as usize);
        Ok(AuditPage {
            records: rows
                .iter()
                .map(crate::audit_from_row)
                .collect::<Result<_>>()?,
            more,
        })
    }

    /// Open requests by regime and kind.
    pub async fn open_counts(&self) -> Result<Vec<OpenCount>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT regime, kind, COUNT(*) AS n FROM requests WHERE state IN {} GROUP BY regime, kind ORDER BY regime, kind",
            *OPEN
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
