//! API keys recently found valid, so that a busy caller (the application asking for a
//! decision before each use of data) is not one store query per call. Only valid keys are
//! kept, each for [`Config::key_recheck`](crate::Config::key_recheck) at most: a key revoked
//! in the store stops working within that time on every replica.

use pledge_store::{ApiKey, Store, audit::sha256_hex};
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// More distinct live keys than this in one recheck period is not a real deployment; the
/// cache starts over rather than grow.
const MAX_KEYS: usize = 10_000;

pub struct KeyCache {
    recheck: Duration,
    /// SHA-256 of the key → the key's record and when the store last confirmed it.
    valid: RwLock<HashMap<String, (ApiKey, Instant)>>,
}

impl KeyCache {
    pub fn new(recheck: Duration) -> Self {
        KeyCache {
            recheck,
            valid: RwLock::new(HashMap::new()),
        }
    }

    /// The live key `secret` names: from the cache while fresh, else from the store.
    pub async fn authenticate(
        &self,
        store: &Store,
        secret: &str,
    ) -> Result<Option<ApiKey>, pledge_store::Error> {
        let hash = sha256_hex(secret.as_bytes());
        if !self.recheck.is_zero() {
            let valid = self.valid.read().unwrap_or_else(|e| e.into_inner());
            if let Some((key, checked)) = valid.get(&hash)
                && checked.elapsed() < self.recheck
            {
                return Ok(Some(key.clone()));
            }
        }
        let found = store.authenticate(secret).await?;
        let mut valid = self.valid.write().unwrap_or_else(|e| e.into_inner());
        match &found {
            Some(key) if !self.recheck.is_zero() => {
                if valid.len() >= MAX_KEYS {
                    valid.clear();
                }
                valid.insert(hash, (key.clone(), Instant::now()));
            }
            _ => {
                valid.remove(&hash);
            }
        }
        Ok(found)
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
        let trusting = KeyCache::new(Duration::from_secs(3600));
        let strict = KeyCache::new(Duration::ZERO);
        for cache in [&trusting, &strict] {
            assert!(cache.authenticate(&store, &secret).await.unwrap().is_some());
        }
        store.revoke_key(&key.id, "test", 2).await.unwrap();
        // Within its recheck period the cache still trusts the key; with none, the store
        // answers at once.
        assert!(
            trusting
                .authenticate(&store, &secret)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            strict
                .authenticate(&store, &secret)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            trusting
                .authenticate(&store, "pledge_unknown")
                .await
                .unwrap()
                .is_none()
        );
    }
}
