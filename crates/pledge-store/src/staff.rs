//! Staff accounts of the console and their sessions.
//!
//! A password is kept only as an Argon2id hash (PHC string, salt from the operating
//! system's randomness); a session only as the SHA-256 of its token, like API keys. Every
//! sign-in, failed sign-in, lock-out, sign-out, account creation and disabling appends its
//! audit record in the transaction of the change. Audit records name an account by its id,
//! and an e-mail address that matches no account only by its SHA-256.
//!
//! A sign-in by single sign-on ([`Store::sign_in_by_provider`]) opens the same session as
//! one by password, for the account of the address the provider vouched for; it never makes
//! an account.
//!
//! Sign-in answers the same for an unknown address, a wrong password, a locked and a
//! disabled account ([`SignIn::Refused`]), and it hashes the password in every case, so
//! neither the answer nor its time tells whether an address has an account.

use crate::{Error, Result, Role, Store, audit, parse, random_hex};
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::sync::OnceLock;

/// Why a staff account could not be made or changed.
#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("`{0}` is not an e-mail address")]
    BadEmail(String),
    #[error("a staff account is admin, privacy_officer or support_agent, not {0}")]
    BadRole(&'static str),
    #[error(
        "a password needs at least {MIN_PASSWORD} characters (and at most {MAX_PASSWORD} bytes)"
    )]
    BadPassword,
    #[error("the name is empty")]
    NoName,
    #[error("there is already an account for that address")]
    Exists,
    #[error("no account for that address")]
    Unknown,
    #[error("the password hash cannot be made or read: {0}")]
    Hash(String),
}

/// The shortest password accepted for a new account.
pub const MIN_PASSWORD: usize = 12;
/// The longest, in bytes: hashing is costly, and nobody types more.
pub const MAX_PASSWORD: usize = 1024;

/// An account's id (`stf_` and 12 hex digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct StaffId(pub String);

impl std::fmt::Display for StaffId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A staff account as stored (never the password or its hash).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StaffAccount {
    pub id: StaffId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub failed_attempts: i64,
    pub locked_until: Option<i64>,
    pub disabled_at: Option<i64>,
    pub created_at: i64,
}

impl StaffAccount {
    /// The actor named in events and the audit log.
    pub fn actor(&self) -> String {
        format!("staff:{}", self.id)
    }
}

/// A strong password for an account made by a program (the demo's admin): 96 random bits as
/// 24 hexadecimal digits, shown once to whoever runs it.
pub fn random_password() -> Result<String> {
    random_hex(12)
}

/// A new account.
#[derive(Debug, Clone)]
pub struct NewStaff<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub role: Role,
    pub password: &'a str,
}

/// How sign-in and sessions behave.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// Failed attempts in a row that lock an account.
    pub max_failures: i64,
    /// How long a lock-out lasts, in seconds.
    pub lockout_secs: i64,
    /// A session unused this long ends, in seconds.
    pub idle_secs: i64,
    /// A session ends this long after sign-in however much it is used, in seconds.
    pub absolute_secs: i64,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            max_failures: 5,
            lockout_secs: 15 * 60,
            idle_secs: 30 * 60,
            absolute_secs: 12 * 60 * 60,
        }
    }
}

/// A session just made: its token (for the cookie; only its hash is stored) and the
/// secret its forms carry.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub csrf: String,
    pub expires_at: i64,
}

/// The outcome of a sign-in.
#[derive(Debug, Clone)]
pub enum SignIn {
    Accepted {
        account: StaffAccount,
        session: NewSession,
    },
    /// The same for every reason, on purpose.
    Refused,
}

/// The outcome of a sign-in by single sign-on ([`Store::sign_in_by_provider`]).
#[derive(Debug, Clone)]
pub enum ProviderSignIn {
    Accepted {
        account: StaffAccount,
        session: NewSession,
    },
    Refused(ProviderRefusal),
}

/// Why a sign-in by single sign-on was refused. The person has proved who they are to the
/// provider, so the console may tell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderRefusal {
    /// No account has the address.
    Unknown,
    /// The account of the address is disabled.
    Disabled,
}

/// A live session and its account.
#[derive(Debug, Clone)]
pub struct StaffSession {
    pub account: StaffAccount,
    /// The CSRF secret every form of this session carries.
    pub csrf: String,
    pub created_at: i64,
    pub expires_at: i64,
}

const ACCOUNT_COLUMNS: &str =
    "id, email, name, role, failed_attempts, locked_until, disabled_at, created_at";

/// Addresses compare without case and surrounding space.
pub fn normalise_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(StaffError::BadEmail(email).into())
    }
}

/// Argon2id with the crate's default parameters (19 MiB, two passes, one lane: the
/// minimum OWASP recommends), a 16-byte salt from the operating system.
fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| Error::Random(e.to_string()))?;
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StaffError::Hash(e.to_string()).into())
}

/// Whether `password` matches `hash`; a hash that cannot be read matches nothing.
fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// A hash no password is checked against for real: the stand-in for an unknown address,
/// so that its sign-in costs one verification too. Made once, with the same parameters as
/// every stored hash.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        // Without randomness a fixed salt does as well: nothing is protected by this hash.
        Argon2::default()
            .hash_password_with_salt(b"decoy password, never anyone's", b"pledge-decoy-salt")
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// Hashing takes tens of milliseconds of CPU: off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StaffError::Hash(e.to_string()).into())
}

fn account_from_row(r: &AnyRow) -> Result<StaffAccount> {
    Ok(StaffAccount {
        id: StaffId(r.try_get("id")?),
        email: r.try_get("email")?,
        name: r.try_get("name")?,
        role: parse(&r.try_get::<String, _>("role")?)?,
        failed_attempts: r.try_get("failed_attempts")?,
        locked_until: r.try_get("locked_until")?,
        disabled_at: r.try_get("disabled_at")?,
        created_at: r.try_get("created_at")?,
    })
}

impl Store {
    /// Creates a staff account. `actor` is who made it (`cli`, or a staff actor).
    pub async fn create_staff(
        &self,
        new: NewStaff<'_>,
        actor: &str,
        now: i64,
    ) -> Result<StaffAccount> {
        let email = normalise_email(new.email)?;
        let name = new.name.trim().to_string();
        if name.is_empty() {
            return Err(StaffError::NoName.into());
        }
        if !matches!(
            new.role,
            Role::Admin | Role::PrivacyOfficer | Role::SupportAgent
        ) {
            return Err(StaffError::BadRole(new.role.as_str()).into());
        }
        if new.password.chars().count() < MIN_PASSWORD || new.password.len() > MAX_PASSWORD {
            return Err(StaffError::BadPassword.into());
        }
        let password = new.password.to_string();
        let hash = blocking(move || hash_password(&password)).await??;
        let id = StaffId(format!("stf_{}", random_hex(6)?));
        let mut tx = self.begin().await?;
        let exists = sqlx::query("SELECT id FROM staff_accounts WHERE email = $1")
            .bind(&email)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Err(StaffError::Exists.into());
        }
        sqlx::query(
            "INSERT INTO staff_accounts (id, email, name, role, password_hash, failed_attempts, created_at) VALUES ($1, $2, $3, $4, $5, 0, $6)",
        )
        .bind(&id.0)
        .bind(&email)
        .bind(&name)
        .bind(new.role.as_str())
        .bind(&hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        self.audit(
            &mut tx,
            now,
            actor,
            "staff.created",
            None,
            json!({"account": id.0, "role": new.role.as_str()}),
        )
        .await?;
        tx.commit().await?;
        Ok(StaffAccount {
            id,
            email,
            name,
            role: new.role,
            failed_attempts: 0,
            locked_until: None,
            disabled_at: None,
            created_at: now,
        })
    }

    /// Every staff account, oldest first.
    pub async fn list_staff(&self) -> Result<Vec<StaffAccount>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM staff_accounts ORDER BY created_at, id"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(account_from_row).collect()
    }

    /// Disables the account of `email` and ends its sessions. Disabling twice is not an error.
    pub async fn disable_staff(&self, email: &str, actor: &str, now: i64) -> Result<StaffAccount> {
        let email = normalise_email(email)?;
        let mut tx = self.begin().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM staff_accounts WHERE email = $1"
        )))
        .bind(&email)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StaffError::Unknown)?;
        let mut account = account_from_row(&row)?;
        if account.disabled_at.is_none() {
            sqlx::query("UPDATE staff_accounts SET disabled_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&account.id.0)
                .execute(&mut *tx)
                .await?;
            let ended = sqlx::query("DELETE FROM staff_sessions WHERE account_id = $1")
                .bind(&account.id.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            self.audit(
                &mut tx,
                now,
                actor,
                "staff.disabled",
                None,
                json!({"account": account.id.0, "sessions_ended": ended}),
            )
            .await?;
            account.disabled_at = Some(now);
        }
        tx.commit().await?;
        Ok(account)
    }

    /// Checks `password` for the account of `email` and, if it matches an account that is
    /// neither locked nor disabled, opens a session. Failures are counted; the
    /// `policy.max_failures`-th in a row locks the account for `policy.lockout_secs`.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        policy: &SessionPolicy,
        now: i64,
    ) -> Result<SignIn> {
        let email = email.trim().to_lowercase();
        let row = sqlx::query(
            "SELECT id, email, name, role, failed_attempts, locked_until, disabled_at, created_at, password_hash FROM staff_accounts WHERE email = $1",
        )
        .bind(&email)
        .fetch_optional(&self.pool)
        .await?;
        let (account, hash) = match &row {
            Some(r) => (
                Some(account_from_row(r)?),
                r.try_get::<String, _>("password_hash")?,
            ),
            None => (None, decoy_hash().to_string()),
        };
        let password = password.to_string();
        // Checked in every case, also for an unknown address and a locked account: the
        // time of the answer must not tell them apart.
        let matches = password.len() <= MAX_PASSWORD
            && blocking(move || verify_password(&password, &hash)).await?;
        let Some(account) = account else {
            let mut tx = self.begin().await?;
            self.audit(
                &mut tx,
                now,
                "anonymous",
                "staff.sign_in_failed",
                None,
                json!({"email_sha256": audit::sha256_hex(email.as_bytes()), "why": "unknown"}),
            )
            .await?;
            tx.commit().await?;
            return Ok(SignIn::Refused);
        };
        let locked = account.locked_until.is_some_and(|t| t > now);
        let why = if account.disabled_at.is_some() {
            Some("disabled")
        } else if locked {
            Some("locked")
        } else if !matches {
            Some("password")
        } else {
            None
        };
        let mut tx = self.begin().await?;
        if let Some(why) = why {
            self.audit(
                &mut tx,
                now,
                "anonymous",
                "staff.sign_in_failed",
                None,
                json!({"account": account.id.0, "why": why}),
            )
            .await?;
            if why == "password" {
                // A lock that has run out starts the count again.
                let row = sqlx::query(
                    "UPDATE staff_accounts SET failed_attempts = CASE WHEN locked_until IS NOT NULL AND locked_until <= $1 THEN 1 ELSE failed_attempts + 1 END, locked_until = CASE WHEN locked_until IS NOT NULL AND locked_until <= $1 THEN NULL ELSE locked_until END WHERE id = $2 RETURNING failed_attempts",
                )
                .bind(now)
                .bind(&account.id.0)
                .fetch_one(&mut *tx)
                .await?;
                let failures: i64 = row.try_get("failed_attempts")?;
                if failures >= policy.max_failures {
                    let until = now + policy.lockout_secs;
                    sqlx::query(
                        "UPDATE staff_accounts SET failed_attempts = 0, locked_until = $1 WHERE id = $2",
                    )
                    .bind(until)
                    .bind(&account.id.0)
                    .execute(&mut *tx)
                    .await?;
                    self.audit(
                        &mut tx,
                        now,
                        "anonymous",
                        "staff.locked_out",
                        None,
                        json!({"account": account.id.0, "failures": failures, "until": until}),
                    )
                    .await?;
                }
            }
            tx.commit().await?;
            return Ok(SignIn::Refused);
        }
        sqlx::query(
            "UPDATE staff_accounts SET failed_attempts = 0, locked_until = NULL WHERE id = $1",
        )
        .bind(&account.id.0)
        .execute(&mut *tx)
        .await?;
        let session = self
            .open_session(
                &mut tx,
                &account,
                policy,
                now,
                json!({"account": account.id.0}),
            )
            .await?;
        tx.commit().await?;
        let account = StaffAccount {
            failed_attempts: 0,
            locked_until: None,
            ..account
        };
        Ok(SignIn::Accepted { account, session })
    }

    /// Opens a session of `account` inside `tx`, with its `staff.signed_in` audit record
    /// (`detail`): the one way a session is made, whatever proved who signed in.
    async fn open_session(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        account: &StaffAccount,
        policy: &SessionPolicy,
        now: i64,
        detail: serde_json::Value,
    ) -> Result<NewSession> {
        // Sessions that ran out without being looked at again go here, so the table holds
        // only live ones (and at most a day's worth of dead ones) with no task of its own.
        sqlx::query("DELETE FROM staff_sessions WHERE idle_expires_at <= $1 OR expires_at <= $1")
            .bind(now)
            .execute(&mut **tx)
            .await?;
        let token = format!("stfs_{}", random_hex(32)?);
        let csrf = random_hex(32)?;
        let expires_at = now + policy.absolute_secs;
        sqlx::query(
            "INSERT INTO staff_sessions (hash, account_id, csrf, created_at, last_seen, idle_expires_at, expires_at) VALUES ($1, $2, $3, $4, $4, $5, $6)",
        )
        .bind(audit::sha256_hex(token.as_bytes()))
        .bind(&account.id.0)
        .bind(&csrf)
        .bind(now)
        .bind((now + policy.idle_secs).min(expires_at))
        .bind(expires_at)
        .execute(&mut **tx)
        .await?;
        self.audit(tx, now, &account.actor(), "staff.signed_in", None, detail)
            .await?;
        Ok(NewSession {
            token,
            csrf,
            expires_at,
        })
    }

    /// Opens a session for the holder of `email`, whom the single sign-on provider `issuer`
    /// has vouched for (the address verified, the ID token checked): the account of that
    /// address, if there is one and it is not disabled. Nobody's account is made here. The
    /// password's lock-out does not apply (it stops guessing at passwords, and no password
    /// is involved), and its count of failures is left as it is.
    pub async fn sign_in_by_provider(
        &self,
        email: &str,
        issuer: &str,
        policy: &SessionPolicy,
        now: i64,
    ) -> Result<ProviderSignIn> {
        let email = email.trim().to_lowercase();
        let mut tx = self.begin().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM staff_accounts WHERE email = $1"
        )))
        .bind(&email)
        .fetch_optional(&mut *tx)
        .await?;
        let (why, detail) = match row.as_ref().map(account_from_row).transpose()? {
            None => (
                ProviderRefusal::Unknown,
                json!({"email_sha256": audit::sha256_hex(email.as_bytes()), "why": "unknown", "method": "oidc"}),
            ),
            Some(a) if a.disabled_at.is_some() => (
                ProviderRefusal::Disabled,
                json!({"account": a.id.0, "why": "disabled", "method": "oidc"}),
            ),
            Some(account) => {
                let session = self
                    .open_session(
                        &mut tx,
                        &account,
                        policy,
                        now,
                        json!({"account": account.id.0, "method": "oidc", "issuer": issuer}),
                    )
                    .await?;
                tx.commit().await?;
                return Ok(ProviderSignIn::Accepted { account, session });
            }
        };
        self.audit(
            &mut tx,
            now,
            "anonymous",
            "staff.sign_in_failed",
            None,
            detail,
        )
        .await?;
        tx.commit().await?;
        Ok(ProviderSignIn::Refused(why))
    }

    /// The live session of `token` at `now`, its idle expiry moved on. An expired session
    /// is deleted and gives `None`, as does a session of a disabled account.
    pub async fn staff_session(
        &self,
        token: &str,
        policy: &SessionPolicy,
        now: i64,
    ) -> Result<Option<StaffSession>> {
        let hash = audit::sha256_hex(token.as_bytes());
        let row = sqlx::query(
            "SELECT a.id AS id, a.email AS email, a.name AS name, a.role AS role, a.failed_attempts AS failed_attempts, a.locked_until AS locked_until, a.disabled_at AS disabled_at, a.created_at AS created_at, s.csrf AS csrf, s.created_at AS session_created, s.last_seen AS last_seen, s.idle_expires_at AS idle_expires_at, s.expires_at AS expires_at FROM staff_sessions s JOIN staff_accounts a ON a.id = s.account_id WHERE s.hash = $1",
        )
        .bind(&hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let account = account_from_row(&row)?;
        let idle_expires_at: i64 = row.try_get("idle_expires_at")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        let last_seen: i64 = row.try_get("last_seen")?;
        if now >= idle_expires_at || now >= expires_at || account.disabled_at.is_some() {
            sqlx::query("DELETE FROM staff_sessions WHERE hash = $1")
                .bind(&hash)
                .execute(&self.pool)
                .await?;
            return Ok(None);
        }
        // Once a minute at most: a page view need not be a write.
        if now - last_seen >= 60 {
            sqlx::query(
                "UPDATE staff_sessions SET last_seen = $1, idle_expires_at = $2 WHERE hash = $3",
            )
            .bind(now)
            .bind((now + policy.idle_secs).min(expires_at))
            .bind(&hash)
            .execute(&self.pool)
            .await?;
        }
        Ok(Some(StaffSession {
            account,
            csrf: row.try_get("csrf")?,
            created_at: row.try_get("session_created")?,
            expires_at,
        }))
    }

    /// Ends the session of `token`; ending one that is gone is not an error.
    pub async fn sign_out(&self, token: &str, now: i64) -> Result<()> {
        let hash = audit::sha256_hex(token.as_bytes());
        let mut tx = self.begin().await?;
        let row = sqlx::query("SELECT account_id FROM staff_sessions WHERE hash = $1")
            .bind(&hash)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = row {
            let account: String = row.try_get("account_id")?;
            sqlx::query("DELETE FROM staff_sessions WHERE hash = $1")
                .bind(&hash)
                .execute(&mut *tx)
                .await?;
            self.audit(
                &mut tx,
                now,
                &format!("staff:{account}"),
                "staff.signed_out",
                None,
                json!({"account": account}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Ends every session of `account`; the number ended.
    pub async fn sign_out_everywhere(&self, account: &StaffId, now: i64) -> Result<u64> {
        let mut tx = self.begin().await?;
        let ended = sqlx::query("DELETE FROM staff_sessions WHERE account_id = $1")
            .bind(&account.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        self.audit(
            &mut tx,
            now,
            &format!("staff:{account}"),
            "staff.signed_out_everywhere",
            None,
            json!({"account": account.0, "sessions_ended": ended}),
        )
        .await?;
        tx.commit().await?;
        Ok(ended)
    }
}
