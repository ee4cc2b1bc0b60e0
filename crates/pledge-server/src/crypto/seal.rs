//! Exports encrypted at rest (envelope encryption).
//!
//! Each export gets a fresh random 256-bit data key. The zip is encrypted with it
//! (XChaCha20-Poly1305, a random 192-bit nonce), and the data key is encrypted ("wrapped")
//! with the master key from `PLEDGE_EXPORT_KEY`. The export's id and its request's id are the
//! associated data of both, so a ciphertext moved to another row, or a wrapped key swapped
//! between exports, fails to open instead of handing out someone else's data. The record
//! keeps the id of the master key that wrapped it: after a rotation the old key stays listed
//! for reading until the exports it wrapped have expired.
//!
//! Layout: `wrapped_key` = nonce (24) || ciphertext of the data key (32 + 16 tag);
//! the stored bytes = nonce (24) || ciphertext of the zip (+ 16 tag).

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use pledge_store::{SealedExport, StoredExport};
use sha2::{Digest, Sha256};
use thiserror::Error;

const NONCE_LEN: usize = 24;

/// A master key that did not parse, or an export that cannot be sealed or opened.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SealError {
    #[error("an export key is 32 bytes written as 64 hex digits or base64 (got {0})")]
    BadKey(String),
    #[error("the export was wrapped by key `{0}`, which this server does not have")]
    UnknownKey(String),
    #[error("the export does not decrypt: wrong key, or its bytes or ids were changed")]
    Tampered,
    #[error("cannot draw random bytes: {0}")]
    Random(String),
}

/// One master key and its id (the start of its SHA-256, so the id names the key without
/// revealing it and needs no configuration of its own).
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    key: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

impl MasterKey {
    pub fn new(key: [u8; 32]) -> Self {
        let digest = Sha256::digest([b"pledge export key id:".as_slice(), &key].concat());
        MasterKey {
            id: pledge_store::audit::hex(&digest[..6]),
            key,
        }
    }

    /// 64 hex digits, or 32 bytes in base64 (standard or URL-safe, padded or not).
    pub fn parse(text: &str) -> Result<Self, SealError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| SealError::BadKey("not hex".into()))?
        } else {
            use base64::Engine;
            let engines = [
                base64::engine::general_purpose::STANDARD,
                base64::engine::general_purpose::STANDARD_NO_PAD,
                base64::engine::general_purpose::URL_SAFE,
                base64::engine::general_purpose::URL_SAFE_NO_PAD,
            ];
            engines
                .iter()
                .find_map(|e| e.decode(text).ok())
                .ok_or_else(|| SealError::BadKey("neither hex nor base64".into()))?
        };
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| SealError::BadKey(format!("{} bytes", bytes.len())))?;
        Ok(MasterKey::new(key))
    }

    /// A fresh random key (the demo's).
    pub fn generate() -> Result<Self, SealError> {
        Ok(MasterKey::new(random()?))
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key as 64 hex digits, to print for the demo.
    pub fn to_hex(&self) -> String {
        pledge_store::audit::hex(&self.key)
    }
}

/// The master keys: the current one seals; every one listed opens.
#[derive(Clone, Debug)]
pub struct ExportKeys {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl ExportKeys {
    pub fn new(current: MasterKey, previous: Vec<MasterKey>) -> Self {
        ExportKeys { current, previous }
    }

    pub fn current_id(&self) -> &str {
        self.current.id()
    }

    fn find(&self, id: &str) -> Option<&MasterKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
    }

    /// Encrypts an export zip for `request_id` under a fresh data key.
    pub fn seal(
        &self,
        request_id: &str,
        zip: &[u8],
        expires_at: i64,
    ) -> Result<SealedExport, SealError> {
        let export_id = format!("exp_{}", pledge_store::audit::hex(&random::<10>()?));
        let data_key: [u8; 32] = random()?;
        let wrapped_key = encrypt(
            &self.current.key,
            &data_key,
            &associated("key", &export_id, request_id),
        )?;
        let ciphertext = encrypt(&data_key, zip, &associated("zip", &export_id, request_id))?;
        Ok(SealedExport {
            export_id,
            key_id: self.current.id.clone(),
            wrapped_key,
            ciphertext,
            expires_at,
        })
    }

    /// Decrypts a stored export. One stored before encryption at rest (no key id) is
    /// returned as it is.
    pub fn open(&self, stored: &StoredExport) -> Result<Vec<u8>, SealError> {
        let (Some(key_id), Some(export_id), Some(wrapped)) = (
            stored.key_id.as_deref(),
            stored.export_id.as_deref(),
            stored.wrapped_key.as_deref(),
        ) else {
            return Ok(stored.bytes.clone());
        };
        let master = self
            .find(key_id)
            .ok_or_else(|| SealError::UnknownKey(key_id.to_string()))?;
        let data_key = decrypt(
            &master.key,
            wrapped,
            &associated("key", export_id, &stored.request_id),
        )?;
        decrypt(
            &data_key,
            &stored.bytes,
            &associated("zip", export_id, &stored.request_id),
        )
    }
}

fn associated(what: &str, export_id: &str, request_id: &str) -> Vec<u8> {
    format!("pledge-export-{what}\0{export_id}\0{request_id}").into_bytes()
}

fn random<const N: usize>() -> Result<[u8; N], SealError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| SealError::Random(e.to_string()))?;
    Ok(bytes)
}

fn encrypt(key: &[u8], plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, SealError> {
    let cipher = XChaCha20Poly1305::new_from_slice(key).map_err(|_| SealError::Tampered)?;
    let nonce_bytes: [u8; NONCE_LEN] = random()?;
    let nonce = XNonce::from(nonce_bytes);
    let sealed = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| SealError::Tampered)?;
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce_bytes);
    out.extend_from_slice(&sealed);
    Ok(out)
}

fn decrypt(key: &[u8], sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, SealError> {
    let cipher = XChaCha20Poly1305::new_from_slice(key).map_err(|_| SealError::Tampered)?;
    let (nonce, body) = sealed
        .split_at_checked(NONCE_LEN)
        .ok_or(SealError::Tampered)?;
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Tampered)?;
    cipher
        .decrypt(&XNonce::from(nonce), Payload { msg: body, aad })
        .map_err(|_| SealError::Tampered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(sealed: &SealedExport, request_id: &str) -> StoredExport {
        StoredExport {
            request_id: request_id.into(),
            export_id: Some(sealed.export_id.clone()),
            key_id: Some(sealed.key_id.clone()),
            wrapped_key: Some(sealed.wrapped_key.clone()),
            bytes: sealed.ciphertext.clone(),
            created_at: 0,
            expires_at: Some(sealed.expires_at),
        }
    }

    #[test]
    fn round_trip_rotation_and_tampering() {
        let old = MasterKey::new([7; 32]);
        let new = MasterKey::new([9; 32]);
        let before = ExportKeys::new(old.clone(), vec![]);
        let sealed = before.seal("req_1", b"PK zip bytes", 100).unwrap();
        assert_eq!(sealed.key_id, old.id());
        assert!(!sealed.ciphertext.windows(6).any(|w| w == b"zip by"));
        assert_eq!(
            before.open(&stored(&sealed, "req_1")).unwrap(),
            b"PK zip bytes"
        );
        // After a rotation the old key still opens what it wrapped; without it, nothing does.
        let rotated = ExportKeys::new(new.clone(), vec![old.clone()]);
        assert_eq!(
            rotated.open(&stored(&sealed, "req_1")).unwrap(),
            b"PK zip bytes"
        );
        let forgot = ExportKeys::new(new, vec![]);
        assert_eq!(
            forgot.open(&stored(&sealed, "req_1")),
            Err(SealError::UnknownKey(old.id().to_string()))
        );
        // Bound to its request and export: moved or edited, it does not open.
        assert_eq!(
            before.open(&stored(&sealed, "req_2")),
            Err(SealError::Tampered)
        );
        let mut edited = stored(&sealed, "req_1");
        let last = edited.bytes.len() - 1;
        edited.bytes[last] ^= 1;
        assert_eq!(before.open(&edited), Err(SealError::Tampered));
        let mut renamed = stored(&sealed, "req_1");
        renamed.export_id = Some("exp_other".into());
        assert_eq!(before.open(&renamed), Err(SealError::Tampered));
        // Two seals of the same zip differ (fresh key and nonce).
        let again = before.seal("req_1", b"PK zip bytes", 100).unwrap();
        assert_ne!(again.ciphertext, sealed.ciphertext);
    }

    #[test]
    fn keys_parse_from_hex_and_base64() {
        let hex = "00".repeat(31) + "ff";
        let k = MasterKey::parse(&hex).unwrap();
        assert_eq!(k.to_hex(), hex);
        let b64 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAP8=";
        assert_eq!(MasterKey::parse(b64).unwrap().id(), k.id());
        assert!(matches!(
            MasterKey::parse("c2hvcnQ="),
            Err(SealError::BadKey(_))
        ));
        assert!(matches!(
            MasterKey::parse("not a key!"),
            Err(SealError::BadKey(_))
        ));
    }
}
