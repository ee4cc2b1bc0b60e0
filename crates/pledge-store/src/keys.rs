//! API keys: their roles, created shown once, listed, revoked, and the one authentication
//! of a bearer secret (only its hash is stored).

use super::*;

/// The roles an API key can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including keys.
    Admin,
    /// Requests, their personal data, approvals, exports, the audit log.
    PrivacyOfficer,
    /// Requests and their status; never personal data or exports.
    SupportAgent,
    /// An application: takes requests in (each waits for approval), records consent and
    /// asks for decisions; never personal data.
    Service,
    /// A monitoring system: reads `/metrics`, nothing else.
    Metrics,
}

pub const ROLES: [Role; 5] = [
    Role::Admin,
    Role::PrivacyOfficer,
    Role::SupportAgent,
    Role::Service,
    Role::Metrics,
];

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::PrivacyOfficer => "privacy_officer",
            Role::SupportAgent => "support_agent",
            Role::Service => "service",
            Role::Metrics => "metrics",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ROLES
            .iter()
            .copied()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown role `{s}`: admin, privacy_officer, support_agent, service or metrics"
                )
            })
    }
}

/// An API key as stored: never the key itself, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiKey {
    pub id: String,
    pub role: Role,
    pub label: Option<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

impl Store {
    // ------------------------------------------------------------------------------------
    // API keys

    /// Creates a key with `role`. Returns the record and the key itself, which is not stored
    /// anywhere and cannot be shown again.
    pub async fn create_key(
        &self,
        role: Role,
        label: Option<&str>,
        actor: &str,
        now: i64,
    ) -> Result<(ApiKey, String)> {
        let id = format!("key_{}", random_hex(6)?);
        let secret = format!("pledge_{}", random_hex(24)?);
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO api_keys (id, hash, role, label, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(audit::sha256_hex(secret.as_bytes()))
        .bind(role.as_str())
        .bind(label)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        self.audit(
            &mut tx,
            now,
            actor,
            "key.created",
            None,
            json!({"key": id, "role": role.as_str(), "label": label}),
        )
        .await?;
        tx.commit().await?;
        Ok((
            ApiKey {
                id,
                role,
                label: label.map(str::to_string),
                created_at: now,
                revoked_at: None,
            },
            secret,
        ))
    }

    pub async fn list_keys(&self) -> Result<Vec<ApiKey>> {
        let rows = sqlx::query(
            "SELECT id, role, label, created_at, revoked_at FROM api_keys ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    /// Revokes a key; it stops working at once. Revoking twice is not an error.
    pub async fn revoke_key(&self, id: &str, actor: &str, now: i64) -> Result<ApiKey> {
        let mut tx = self.begin().await?;
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        let row = sqlx::query(
            "SELECT id, role, label, created_at, revoked_at FROM api_keys WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Error::UnknownKey(id.to_string()))?;
        if done.rows_affected() > 0 {
            self.audit(&mut tx, now, actor, "key.revoked", None, json!({"key": id}))
                .await?;
        }
        let key = key_from_row(&row)?;
        tx.commit().await?;
        Ok(key)
    }

    /// The live key whose SHA-256 is the hash of `secret`.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<ApiKey>> {
        let row = sqlx::query(
            "SELECT id, role, label, created_at, revoked_at FROM api_keys WHERE hash = $1 AND revoked_at IS NULL",
        )
        .bind(audit::sha256_hex(secret.as_bytes()))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(key_from_row).transpose()
    }
}

fn key_from_row(r: &AnyRow) -> Result<ApiKey> {
    Ok(ApiKey {
        id: r.try_get("id")?,
        role: r
            .try_get::<String, _>("role")?
            .parse()
            .map_err(Error::Corrupt)?,
        label: r.try_get("label")?,
        created_at: r.try_get("created_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}
