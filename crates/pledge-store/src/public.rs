//! Requests from the public form: the person proves the e-mail address is theirs with a
//! one-time code or link sent there. Only hashes of the code, the link token and the
//! person's status token are stored; a code expires, is single-use, and allows a few wrong
//! attempts. Every outcome is decided and recorded in one transaction.

use crate::notify::Event;
use crate::{
    Any, Error, NewRequest, RequestEvent, RequestRecord, Result, Store, audit, random_hex,
};
use pledge_domain::workflow::{State, Transition};
use serde_json::json;
use sqlx::{Row, Transaction};

/// The secrets handed to the person (by e-mail), never stored as such.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicSecrets {
    /// Eight digits, for typing in.
    pub code: String,
    /// For the link in the message: `GET /public/verify?token=...`.
    pub link_token: String,
    /// For the person's status page: `GET /public/requests/{id}?token=...`.
    pub status_token: String,
}

/// How codes are issued.
#[derive(Debug, Clone, Copy)]
pub struct VerificationPolicy {
    /// Seconds a code and link stay valid.
    pub ttl_secs: i64,
    /// Wrong codes allowed before the code is locked.
    pub max_attempts: i64,
}

/// Why a code or link was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum VerificationError {
    #[error("request {0} has no code to check (it was never sent, or it was purged)")]
    NoCode(String),
    #[error("the code has expired: send the request again for a new one")]
    Expired,
    #[error("the code was already used")]
    Used,
    #[error("too many wrong codes: this code is locked; send the request again")]
    TooManyAttempts,
    #[error("the code is not right ({attempts_left} attempts left)")]
    Wrong { attempts_left: i64 },
    #[error("the link is not valid (mistyped, or already purged)")]
    UnknownLink,
    #[error("the status token does not match this request")]
    BadStatusToken,
}

/// The actor named in events and the audit log for what the person does.
pub const PERSON: &str = "person";

fn code_hash(request_id: &str, code: &str) -> String {
    // Salted by the request, so equal codes of two requests do not hash alike.
    audit::sha256_hex(format!("{request_id}:{code}").as_bytes())
}

/// Equality whose time does not depend on where the inputs differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn eight_digits() -> Result<String> {
    let mut buf = [0u8; 8];
    getrandom::fill(&mut buf).map_err(|e| Error::Random(e.to_string()))?;
    // The bias of a 64-bit value modulo 10^8 is below 10^-10: negligible.
    Ok(format!("{:08}", u64::from_le_bytes(buf) % 100_000_000))
}

impl Store {
    /// Records a request from the public form in state `verifying`, its code, link and
    /// status token (as hashes), and the message that carries them, in one transaction.
    pub async fn create_public_request(
        &self,
        mut new: NewRequest,
        policy: VerificationPolicy,
    ) -> Result<(RequestRecord, PublicSecrets)> {
        new.verified = false;
        let secrets = PublicSecrets {
            code: eight_digits()?,
            link_token: random_hex(32)?,
            status_token: random_hex(32)?,
        };
        let now = new.received_at;
        let mut tx = self.begin().await?;
        let record = self
            .insert_request(&mut tx, new, State::Verifying, PERSON)
            .await?;
        let expires_at = now + policy.ttl_secs;
        sqlx::query(
            "INSERT INTO verifications (request_id, code_hash, link_hash, expires_at, attempts, max_attempts) VALUES ($1, $2, $3, $4, 0, $5)",
        )
        .bind(&record.id)
        .bind(code_hash(&record.id, &secrets.code))
        .bind(audit::sha256_hex(secrets.link_token.as_bytes()))
        .bind(expires_at)
        .bind(policy.max_attempts)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO status_tokens (request_id, token_hash) VALUES ($1, $2)")
            .bind(&record.id)
            .bind(audit::sha256_hex(secrets.status_token.as_bytes()))
            .execute(&mut *tx)
            .await?;
        self.notify(
            &mut tx,
            &record,
            Event::Verification,
            json!({
                "code": secrets.code,
                "link_token": secrets.link_token,
                "status_token": secrets.status_token,
                "expires_at": expires_at,
            }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok((record, secrets))
    }

    /// Checks a typed code. Right: the code is spent and the request goes on (to approval
    /// or to a worker), all in one transaction. Wrong: the attempt is counted (and audited)
    /// and [`VerificationError::Wrong`] returned; nothing else changes.
    pub async fn verify_code(
        &self,
        request_id: &str,
        code: &str,
        now: i64,
    ) -> Result<RequestRecord> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "SELECT code_hash, expires_at, attempts, max_attempts, used_at FROM verifications WHERE request_id = $1",
        )
        .bind(request_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            // Unknown request and purged code look alike from outside, on purpose.
            return Err(VerificationError::NoCode(request_id.to_string()).into());
        };
        check_usable(
            row.try_get("used_at")?,
            row.try_get("expires_at")?,
            row.try_get("attempts")?,
            row.try_get("max_attempts")?,
            now,
        )?;
        // Every check, right or wrong, first claims one of the allowed attempts with one
        // conditional update (which holds the row until this transaction ends): concurrent
        // checks queue on it, so no more than `max_attempts` codes are ever compared, however
        // many arrive at once. Reading the count and comparing first would let a burst of
        // guesses all see the same count.
        let claimed = sqlx::query(
            "UPDATE verifications SET attempts = attempts + 1 WHERE request_id = $1 AND attempts < max_attempts AND used_at IS NULL AND expires_at > $2 RETURNING code_hash, attempts, max_attempts",
        )
        .bind(request_id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(claimed) = claimed else {
            // Spent, expired or locked by a concurrent check meanwhile: say which.
            let now_row = sqlx::query(
                "SELECT expires_at, attempts, max_attempts, used_at FROM verifications WHERE request_id = $1",
            )
            .bind(request_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| VerificationError::NoCode(request_id.to_string()))?;
            check_usable(
                now_row.try_get("used_at")?,
                now_row.try_get("expires_at")?,
                now_row.try_get("attempts")?,
                now_row.try_get("max_attempts")?,
                now,
            )?;
            return Err(VerificationError::TooManyAttempts.into());
        };
        let stored: String = claimed.try_get("code_hash")?;
        let attempts: i64 = claimed.try_get("attempts")?;
        let max_attempts: i64 = claimed.try_get("max_attempts")?;
        if !same(&stored, &code_hash(request_id, code.trim())) {
            let left = max_attempts - attempts;
            self.audit(
                &mut tx,
                now,
                PERSON,
                "verification.failed",
                Some(request_id),
                json!({"attempt": attempts, "attempts_left": left}),
            )
            .await?;
            tx.commit().await?;
            return Err(VerificationError::Wrong {
                attempts_left: left,
            }
            .into());
        }
        let record = self.spend(&mut tx, request_id, "code", now).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Checks the token of the link in the message (256 random bits: no attempt counting).
    pub async fn verify_link(&self, token: &str, now: i64) -> Result<RequestRecord> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "SELECT request_id, expires_at, attempts, max_attempts, used_at FROM verifications WHERE link_hash = $1",
        )
        .bind(audit::sha256_hex(token.trim().as_bytes()))
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(VerificationError::UnknownLink)?;
        let request_id: String = row.try_get("request_id")?;
        // The link stays good after wrong typed codes: it proves the mailbox by itself.
        check_usable(
            row.try_get("used_at")?,
            row.try_get("expires_at")?,
            0,
            1,
            now,
        )?;
        let record = self.spend(&mut tx, &request_id, "link", now).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Marks the code used and moves the request on: verified, then awaiting approval or
    /// in progress (queued for a worker).
    async fn spend(
        &self,
        tx: &mut Transaction<'static, Any>,
        request_id: &str,
        how: &str,
        now: i64,
    ) -> Result<RequestRecord> {
        let done = sqlx::query(
            "UPDATE verifications SET used_at = $1 WHERE request_id = $2 AND used_at IS NULL",
        )
        .bind(now)
        .bind(request_id)
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(VerificationError::Used.into());
        }
        self.audit(
            tx,
            now,
            PERSON,
            "verification.succeeded",
            Some(request_id),
            json!({ "by": how }),
        )
        .await?;
        let verified = self
            .transition_in(
                tx,
                request_id,
                &Transition::To(State::Verified),
                PERSON,
                now,
            )
            .await?;
        let next = if verified.needs_approval {
            State::AwaitingApproval
        } else {
            State::InProgress
        };
        self.transition_in(tx, request_id, &Transition::To(next), PERSON, now)
            .await
    }

    /// A new code and link for a request still waiting for its person (the old code
    /// expired, was locked, or never arrived), sent like the first. Needs the status token
    /// from the first message; the old code stops working.
    pub async fn reissue_code(
        &self,
        request_id: &str,
        status_token: &str,
        policy: VerificationPolicy,
        now: i64,
    ) -> Result<RequestRecord> {
        let (record, _) = self.public_status(request_id, status_token).await?;
        let secrets = PublicSecrets {
            code: eight_digits()?,
            link_token: random_hex(32)?,
            status_token: status_token.trim().to_string(),
        };
        let mut tx = self.begin().await?;
        // Re-read under the write lock: only a request still waiting gets a new code.
        let state: String = sqlx::query("SELECT state FROM requests WHERE id = $1")
            .bind(request_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("state")?;
        let state: State = crate::parse(&state)?;
        if state != State::Verifying {
            return Err(Error::Conflict(state));
        }
        sqlx::query("DELETE FROM verifications WHERE request_id = $1")
            .bind(request_id)
            .execute(&mut *tx)
            .await?;
        let expires_at = now + policy.ttl_secs;
        sqlx::query(
            "INSERT INTO verifications (request_id, code_hash, link_hash, expires_at, attempts, max_attempts) VALUES ($1, $2, $3, $4, 0, $5)",
        )
        .bind(request_id)
        .bind(code_hash(request_id, &secrets.code))
        .bind(audit::sha256_hex(secrets.link_token.as_bytes()))
        .bind(expires_at)
        .bind(policy.max_attempts)
        .execute(&mut *tx)
        .await?;
        self.audit(
            &mut tx,
            now,
            PERSON,
            "verification.reissued",
            Some(request_id),
            json!({ "expires_at": expires_at }),
        )
        .await?;
        self.notify(
            &mut tx,
            &record,
            Event::Verification,
            json!({
                "code": secrets.code,
                "link_token": secrets.link_token,
                "status_token": secrets.status_token,
                "expires_at": expires_at,
                // The template counts the minutes of validity from here.
                "issued_at": now,
            }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// The request and its history, for the person holding its status token.
    pub async fn public_status(
        &self,
        request_id: &str,
        token: &str,
    ) -> Result<(RequestRecord, Vec<RequestEvent>)> {
        let stored: Option<String> =
            sqlx::query("SELECT token_hash FROM status_tokens WHERE request_id = $1")
                .bind(request_id)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| r.try_get("token_hash"))
                .transpose()?;
        match stored {
            Some(hash) if same(&hash, &audit::sha256_hex(token.trim().as_bytes())) => {}
            _ => return Err(VerificationError::BadStatusToken.into()),
        }
        let record = self.get_request(request_id).await?;
        let events = self.request_events(request_id).await?;
        Ok((record, events))
    }

    /// Deletes codes and links that expired or were used before `now`; returns how many.
    /// For the scheduled maintenance; cheap enough to call now and then from intake too.
    pub async fn purge_expired_verifications(&self, now: i64) -> Result<u64> {
        let mut tx = self.begin().await?;
        let done =
            sqlx::query("DELETE FROM verifications WHERE expires_at <= $1 OR used_at IS NOT NULL")
                .bind(now)
                .execute(&mut *tx)
                .await?;
        let n = done.rows_affected();
        if n > 0 {
            self.audit(
                &mut tx,
                now,
                "maintenance",
                "verifications.purged",
                None,
                json!({ "count": n }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(n)
    }
}

/// Used, expired and locked codes are refused, in that order.
fn check_usable(
    used_at: Option<i64>,
    expires_at: i64,
    attempts: i64,
    max_attempts: i64,
    now: i64,
) -> Result<(), VerificationError> {
    if used_at.is_some() {
        Err(VerificationError::Used)
    } else if now >= expires_at {
        Err(VerificationError::Expired)
    } else if attempts >= max_attempts {
        Err(VerificationError::TooManyAttempts)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_eight_digits() {
        for _ in 0..100 {
            let c = eight_digits().unwrap();
            assert_eq!(c.len(), 8);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn comparison_is_plain_equality() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
    }

    #[test]
    fn refusals_in_order() {
        assert_eq!(
            check_usable(Some(1), 0, 9, 5, 10),
            Err(VerificationError::Used)
        );
        assert_eq!(
            check_usable(None, 10, 9, 5, 10),
            Err(VerificationError::Expired)
        );
        assert_eq!(
            check_usable(None, 11, 5, 5, 10),
            Err(VerificationError::TooManyAttempts)
        );
        assert_eq!(check_usable(None, 11, 4, 5, 10), Ok(()));
    }
}
