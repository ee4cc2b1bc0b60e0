//! API keys recently found valid, so that a busy caller (the application asking for a
//! decision before each use of data) is not one store query per call, and so that decisions,
//! which are answered from memory, go on while the store does not answer.
//!
//! - A key confirmed within [`Config::key_recheck`](crate::Config::key_recheck) is taken
//!   without asking the store: a key revoked in the store stops working within that time on
//!   every replica.
//! - Past it, the store is asked, for at most
//!   [`Config::key_check_timeout`](crate::Config::key_check_timeout).
//! - When the store does not answer in that time (or fails), a key the store confirmed within
//!   [`Config::key_grace`](crate::Config::key_grace) is still taken **for decisions only**
//!   ([`Trust::Recent`]), and the store is not asked again for that key until another recheck
//!   period has passed, so an outage costs one short wait per key and period, not one per
//!   call. Every other route answers 503 at once: it needs the store anyway.

use pledge_store::{ApiKey, Store, audit::sha256_hex};
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// More distinct live keys than this in one grace period is not a real deployment; the
/// cache starts over rather than grow.
const MAX_KEYS: usize = 10_000;

/// How much a caller's route trusts a key the store could not confirm just now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// Only a key the store has just confirmed (or confirmed within the recheck period).
    Confirmed,
    /// Also a key the store confirmed within the grace period (decisions: answered from
    /// memory, read-only).
    Recent,
}

/// Why a key could not be taken.
#[derive(Debug)]
pub enum KeyError {
    /// The store does not know the key, or it was revoked.
    Unknown,
    /// The store did not answer in time or failed, and the key was not confirmed recently
    /// enough for this route.
    Unavailable(String),
}

#[derive(Clone)]
struct Entry {
    key: ApiKey,
    /// When the store last confirmed the key.
    confirmed: Instant,
    /// When to ask the store next (after a failed check: not before another period).
    next_check: Instant,
}

pub struct KeyCache {
    recheck: Duration,
    timeout: Duration,
    grace: Duration,
    /// SHA-256 of the key → the key's record and when the store last confirmed it.
    valid: RwLock<HashMap<String, Entry>>,
}

impl KeyCache {
    pub fn new(recheck: Duration, timeout: Duration, grace: Duration) -> Self {
        KeyCache {
            recheck,
            timeout,
            grace,
            valid: RwLock::new(HashMap::new()),
        }
    }

    /// Whether the store confirmed the key `secret` names before (it may be due for a
    /// re-check): such a key is never refused for another client's guesses.
    /// Forgets key `id` (revoked here): its next use asks the store.
    pub fn forget(&self, id: &str) {
        self.valid
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, entry| entry.key.id != id);
    }

    pub fn known(&self, secret: &str) -> bool {
        let valid = self.valid.read().unwrap_or_else(|e| e.into_inner());
        valid.contains_key(&sha256_hex(secret.as_bytes()))
    }

    /// The live key `secret` names, trusted as far as `trust` allows.
    pub async fn authenticate(
        &self,
        store: &Store,
        secret: &str,
        trust: Trust,
    ) -> Result<ApiKey, KeyError> {
        let hash = sha256_hex(secret.as_bytes());
        let cached = self
            .valid
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&hash)
            .cloned();
        let now = Instant::now();
        if let Some(entry) = &cached
            && !self.recheck.is_zero()
            && now < entry.next_check
        {
            if now.duration_since(entry.confirmed) < self.recheck || self.recent(entry, trust) {
                return Ok(entry.key.clone());
            }
            // The last check failed moments ago: answer at once rather than wait again.
            return Err(KeyError::Unavailable(
                "the store did not answer the last check of this key".into(),
            ));
        }
        let answer = match tokio::time::timeout(self.timeout, store.authenticate(secret)).await {
            Ok(Ok(found)) => Ok(found),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "the store did not confirm the key within {} ms",
                self.timeout.as_millis()
            )),
        };
        let mut valid = self.valid.write().unwrap_or_else(|e| e.into_inner());
        match answer {
            Ok(Some(key)) => {
                if !self.recheck.is_zero() {
                    if valid.len() >= MAX_KEYS {
                        valid.clear();
                    }
                    let now = Instant::now();
                    valid.insert(
                        hash,
                        Entry {
                            key: key.clone(),
                            confirmed: now,
                            next_check: now + self.recheck,
                        },
                    );
                }
                Ok(key)
            }
            Ok(None) => {
                valid.remove(&hash);
                Err(KeyError::Unknown)
            }
            Err(why) => match cached {
                Some(mut entry) if !self.grace.is_zero() && self.recent(&entry, Trust::Recent) => {
                    // Do not ask again for this key until another period has passed.
                    entry.next_check = Instant::now() + self.recheck;
                    let key = entry.key.clone();
                    let usable = self.recent(&entry, trust);
                    valid.insert(hash, entry);
                    if usable {
                        Ok(key)
                    } else {
                        Err(KeyError::Unavailable(why))
                    }
                }
                _ => Err(KeyError::Unavailable(why)),
            },
        }
    }

    /// Whether `entry` is trusted for `trust` without the store: within the grace period,
    /// for routes that accept that.
    fn recent(&self, entry: &Entry, trust: Trust) -> bool {
        trust == Trust::Recent && entry.confirmed.elapsed() < self.grace
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pledge_store::Role;

    #[tokio::test]
    async fn a_revoked_key_is_refused_once_the_recheck_is_due() {
        let store = Store::open("sqlite::memory:").await.unwrap();
        let (key, secret) = store
            .create_key(Role::Service, None, "test", 1)
            .await
            .unwrap();
        let second = Duration::from_secs(1);
        let trusting = KeyCache::new(Duration::from_secs(3600), second, Duration::ZERO);
        let strict = KeyCache::new(Duration::ZERO, second, Duration::ZERO);
        for cache in [&trusting, &strict] {
            assert!(
                cache
                    .authenticate(&store, &secret, Trust::Confirmed)
                    .await
                    .is_ok()
            );
        }
        store.revoke_key(&key.id, "test", 2).await.unwrap();
        // Within its recheck period the cache still trusts the key; with none, the store
        // answers at once.
        assert!(
            trusting
                .authenticate(&store, &secret, Trust::Confirmed)
                .await
                .is_ok()
        );
        assert!(matches!(
            strict.authenticate(&store, &secret, Trust::Confirmed).await,
            Err(KeyError::Unknown)
        ));
        assert!(matches!(
            trusting
                .authenticate(&store, "pledge_unknown", Trust::Confirmed)
                .await,
            Err(KeyError::Unknown)
        ));
    }

    /// The store closed stands for one that is down: a key confirmed recently still works
    /// for decisions, not for the other routes, and an unknown key is not let in.
    #[tokio::test]
    async fn a_closed_store_leaves_recent_keys_to_decisions_only() {
        let store = Store::open("sqlite::memory:").await.unwrap();
        let (_, secret) = store
            .create_key(Role::Service, None, "test", 1)
            .await
            .unwrap();
        let cache = KeyCache::new(
            Duration::from_millis(1),
            Duration::from_millis(500),
            Duration::from_secs(3600),
        );
        assert!(
            cache
                .authenticate(&store, &secret, Trust::Confirmed)
                .await
                .is_ok()
        );
        store.close().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(
            cache
                .authenticate(&store, &secret, Trust::Recent)
                .await
                .is_ok()
        );
        assert!(matches!(
            cache.authenticate(&store, &secret, Trust::Confirmed).await,
            Err(KeyError::Unavailable(_))
        ));
        assert!(matches!(
            cache
                .authenticate(&store, "pledge_unknown", Trust::Recent)
                .await,
            Err(KeyError::Unavailable(_))
        ));
    }
}
