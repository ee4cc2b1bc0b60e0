//! Signed checkpoints of the store's hash chains, after Certificate Transparency's signed
//! tree heads (RFC 6962/9162) in the text form of a "signed note" checkpoint: whoever
//! keeps a copy and the public key can later prove the store still holds what was signed,
//! without trusting the store.
//!
//! A checkpoint is a note whose text is five lines, each ending in a newline:
//!
//! ```text
//! pledge/audit-log                                       origin: key name, `/`, the log
//! 1234                                                   size: records (the last seq)
//! 3sYl0yzzJdQ1m4rS2cM0vinXLLl5eeD9Kl6MUb8Sq0A=           root: base64 of 32 bytes
//! head dec625d32cf3...  (64 hex digits)                 the chain's head hash
//! time 1796292000                                        when it was signed (unix s)
//! ```
//!
//! then an empty line and one signature line per key: `— <key name> <base64(key id ||
//! signature)>`, where the key id is the first four bytes of SHA-256(key name || "\n" ||
//! 0x01 || public key) and the signature is Ed25519 over the bytes of the text (the five
//! lines with their newlines, nothing after). For the audit log, root is the chain's head
//! hash itself; for the consent ledger it is the RFC 6962 Merkle root over the ledger's
//! events (each leaf the canonical JSON of one event), so one event can be proven in it.
//!
//! The public key is written as `<name>+<key id, hex>+<base64(0x01 || public key)>`.
//!
//! Pure: keys come in as bytes, time as a value.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, SigningKey as DalekSigning, VerifyingKey};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// The chains a checkpoint can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogKind {
    AuditLog,
    ConsentLedger,
}

pub const LOGS: [LogKind; 2] = [LogKind::AuditLog, LogKind::ConsentLedger];

impl LogKind {
    /// The last part of the origin line.
    pub fn as_str(self) -> &'static str {
        match self {
            LogKind::AuditLog => "audit-log",
            LogKind::ConsentLedger => "consent-ledger",
        }
    }

    /// In words, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            LogKind::AuditLog => "audit log",
            LogKind::ConsentLedger => "consent ledger",
        }
    }

    /// What one entry is called.
    pub fn unit(self) -> &'static str {
        match self {
            LogKind::AuditLog => "record",
            LogKind::ConsentLedger => "event",
        }
    }
}

impl FromStr for LogKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        LOGS.into_iter()
            .find(|l| l.as_str() == s || l.as_str().replace('-', "_") == s)
            .ok_or_else(|| format!("unknown log `{s}`: audit-log or consent-ledger"))
    }
}

/// Why a checkpoint or a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CheckpointError {
    #[error("not a checkpoint: {0}")]
    Malformed(String),
    #[error("the checkpoint carries no signature by the key `{0}`")]
    NotSignedBy(String),
    #[error(
        "the signature by `{0}` does not verify: the checkpoint was changed or not signed by this key"
    )]
    BadSignature(String),
    #[error("not a checkpoint key: {0}")]
    BadKey(String),
}

type Result<T, E = CheckpointError> = std::result::Result<T, E>;

/// What a checkpoint vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// `<key name>/<log>`.
    pub origin: String,
    /// How many entries the log had (numbered 1 to size).
    pub size: u64,
    /// The audit log's head hash, or the consent ledger's Merkle root.
    pub root: [u8; 32],
    /// The chain's head hash (of entry `size`), lower-case hex; the genesis hash at size 0.
    pub head: String,
    /// Unix seconds.
    pub time: i64,
}

impl Checkpoint {
    /// The origin for `log` under key `name`.
    pub fn origin_for(name: &str, log: LogKind) -> String {
        format!("{name}/{}", log.as_str())
    }

    /// The log the origin names.
    pub fn log(&self) -> Option<LogKind> {
        self.origin
            .rsplit_once('/')
            .and_then(|(_, l)| l.parse().ok())
    }

    /// The signed text: five lines, each with its newline.
    pub fn text(&self) -> String {
        format!(
            "{}\n{}\n{}\nhead {}\ntime {}\n",
            self.origin,
            self.size,
            B64.encode(self.root),
            self.head,
            self.time
        )
    }

    /// Parses the text (exactly the form [`Checkpoint::text`] writes).
    pub fn parse_text(text: &str) -> Result<Checkpoint> {
        let bad = |m: &str| CheckpointError::Malformed(m.to_string());
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| bad("the text does not end with a newline"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root, head, time] = lines.as_slice() else {
            return Err(bad(
                "the text has not the five lines origin, size, root, head, time",
            ));
        };
        if origin.is_empty() || origin.contains(char::is_whitespace) || !origin.contains('/') {
            return Err(bad("the origin line is not <name>/<log>"));
        }
        let size = canonical_u64(size).ok_or_else(|| bad("the size line is not a number"))?;
        let root: [u8; 32] = B64
            .decode(root)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("the root line is not 32 bytes in base64"))?;
        let head = head
            .strip_prefix("head ")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .ok_or_else(|| bad("the head line is not `head` and 64 lower-case hex digits"))?;
        let time = time
            .strip_prefix("time ")
            .and_then(canonical_i64)
            .ok_or_else(|| bad("the time line is not `time` and unix seconds"))?;
        let cp = Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            head: head.to_string(),
            time,
        };
        if cp.log() == Some(LogKind::AuditLog) && hex(&cp.root) != cp.head {
            return Err(bad("an audit log checkpoint's root is its head hash"));
        }
        Ok(cp)
    }
}

/// A decimal number written the one way (no sign, no leading zeros).
fn canonical_u64(s: &str) -> Option<u64> {
    let n: u64 = s.parse().ok()?;
    (n.to_string() == s).then_some(n)
}

fn canonical_i64(s: &str) -> Option<i64> {
    let n: i64 = s.parse().ok()?;
    (n.to_string() == s).then_some(n)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The 32 bytes of a 64-digit hex hash.
pub fn hash_from_hex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// A key name: what signature lines and origins carry.
fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 200
        || name.contains(|c: char| c.is_whitespace() || c == '+' || c.is_control())
    {
        return Err(CheckpointError::BadKey(format!(
            "the key name `{name}` must be 1 to 200 characters without spaces or `+`"
        )));
    }
    Ok(())
}

/// The key id of the signed-note format: the first four bytes of SHA-256(name || "\n" ||
/// 0x01 || public key), 0x01 naming Ed25519.
fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n\x01");
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The key that signs checkpoints: an Ed25519 seed and the name it signs under. Held
/// outside the store; its [`VerifierKey`] is what outsiders keep.
pub struct SigningKey {
    name: String,
    key: DalekSigning,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the seed.
        write!(f, "SigningKey({})", self.verifier())
    }
}

impl Clone for SigningKey {
    fn clone(&self) -> Self {
        SigningKey {
            name: self.name.clone(),
            key: DalekSigning::from_bytes(&self.key.to_bytes()),
        }
    }
}

impl SigningKey {
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<SigningKey> {
        check_name(name)?;
        Ok(SigningKey {
            name: name.to_string(),
            key: DalekSigning::from_bytes(&seed),
        })
    }

    /// A key from the base64 of its 32-byte seed (surrounding white space ignored).
    pub fn parse(name: &str, seed_base64: &str) -> Result<SigningKey> {
        let seed: [u8; 32] = B64
            .decode(seed_base64.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                CheckpointError::BadKey("the seed is not 32 bytes in base64".to_string())
            })?;
        SigningKey::from_seed(name, seed)
    }

    /// The seed in base64, the form [`SigningKey::parse`] reads.
    pub fn seed_base64(&self) -> String {
        B64.encode(self.key.to_bytes())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn verifier(&self) -> VerifierKey {
        let key = self.key.verifying_key();
        VerifierKey {
            id: key_id(&self.name, key.as_bytes()),
            name: self.name.clone(),
            key,
        }
    }

    /// The signed note of `cp`: its text, an empty line, the signature line.
    pub fn sign(&self, cp: &Checkpoint) -> String {
        use ed25519_dalek::Signer;
        let text = cp.text();
        let signature = self.key.sign(text.as_bytes());
        let mut blob = Vec::with_capacity(68);
        blob.extend_from_slice(&key_id(&self.name, self.key.verifying_key().as_bytes()));
        blob.extend_from_slice(&signature.to_bytes());
        format!("{text}\n\u{2014} {} {}\n", self.name, B64.encode(blob))
    }
}

/// The public half: checks checkpoints signed by its [`SigningKey`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut blob = vec![1u8];
        blob.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{}+{}", self.name, hex(&self.id), B64.encode(blob))
    }
}

impl FromStr for VerifierKey {
    type Err = CheckpointError;
    fn from_str(s: &str) -> Result<Self> {
        let bad = |m: &str| CheckpointError::BadKey(m.to_string());
        // The base64 part may hold `+` itself: the name and the key id cannot.
        let mut parts = s.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(key), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("a public key is <name>+<key id>+<base64 key>"));
        };
        check_name(name)?;
        let blob = B64
            .decode(key)
            .map_err(|_| bad("the key part is not base64"))?;
        let [1, rest @ ..] = blob.as_slice() else {
            return Err(bad("the key is not an Ed25519 key (type 0x01)"));
        };
        let public: [u8; 32] = rest
            .try_into()
            .map_err(|_| bad("an Ed25519 public key has 32 bytes"))?;
        let key =
            VerifyingKey::from_bytes(&public).map_err(|_| bad("not a valid Ed25519 point"))?;
        let expected = key_id(name, &public);
        if hex(&expected) != id {
            return Err(bad("the key id does not match the name and key"));
        }
        Ok(VerifierKey {
            name: name.to_string(),
            id: expected,
            key,
        })
    }
}

impl VerifierKey {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks the note's signature by this key, then reads the checkpoint it signs. The
    /// origin must be `<this key's name>/<log>`.
    pub fn open(&self, note: &[u8]) -> Result<Checkpoint> {
        let bad = |m: &str| CheckpointError::Malformed(m.to_string());
        let note = std::str::from_utf8(note).map_err(|_| bad("the note is not UTF-8"))?;
        let split = note
            .find("\n\n")
            .ok_or_else(|| bad("no empty line between the text and the signatures"))?;
        let (text, signatures) = (&note[..=split], &note[split + 2..]);
        let signatures = signatures
            .strip_suffix('\n')
            .ok_or_else(|| bad("the last signature line does not end with a newline"))?;
        let mut found = None;
        for line in signatures.split('\n') {
            let rest = line
                .strip_prefix("\u{2014} ")
                .ok_or_else(|| bad("a signature line does not start with `— `"))?;
            let (name, blob) = rest
                .split_once(' ')
                .ok_or_else(|| bad("a signature line is not `— <name> <signature>`"))?;
            let blob = B64
                .decode(blob)
                .map_err(|_| bad("a signature is not base64"))?;
            if blob.len() < 4 {
                return Err(bad("a signature is shorter than its key id"));
            }
            if name == self.name && blob[..4] == self.id {
                found = Some(blob);
            }
        }
        let blob = found.ok_or_else(|| CheckpointError::NotSignedBy(self.name.clone()))?;
        let signature: [u8; 64] = blob[4..]
            .try_into()
            .map_err(|_| CheckpointError::BadSignature(self.name.clone()))?;
        self.key
            .verify_strict(text.as_bytes(), &Signature::from_bytes(&signature))
            .map_err(|_| CheckpointError::BadSignature(self.name.clone()))?;
        let cp = Checkpoint::parse_text(text)?;
        match cp.origin.rsplit_once('/') {
            Some((name, log)) if name == self.name && log.parse::<LogKind>().is_ok() => Ok(cp),
            _ => Err(bad(&format!(
                "the origin `{}` is not {}/audit-log or {}/consent-ledger",
                cp.origin, self.name, self.name
            ))),
        }
    }
}

/// The notes of a file that holds several, one after another (an export file appends one
/// per checkpoint, each followed by an empty line). Each slice is one whole note.
pub fn split_notes(text: &str) -> Vec<&str> {
    let mut notes = Vec::new();
    let mut start: Option<usize> = None;
    let mut in_signatures = false;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let content = line.trim_end_matches('\n');
        if in_signatures && !content.starts_with('\u{2014}') {
            if let Some(s) = start.take() {
                notes.push(&text[s..pos]);
            }
            in_signatures = false;
        }
        if content.starts_with('\u{2014}') && start.is_some() {
            in_signatures = true;
        } else if !content.is_empty() && start.is_none() {
            start = Some(pos);
        }
        pos += line.len();
    }
    if let Some(s) = start {
        notes.push(&text[s..]);
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_seed("pledge", [7; 32]).unwrap()
    }

    fn cp() -> Checkpoint {
        Checkpoint {
            origin: "pledge/consent-ledger".into(),
            size: 12,
            root: [9; 32],
            head: "ab".repeat(32),
            time: 1_796_292_000,
        }
    }

    #[test]
    fn a_signed_checkpoint_opens_with_the_public_key() {
        let note = key().sign(&cp());
        let verifier: VerifierKey = key().verifier().to_string().parse().unwrap();
        assert_eq!(verifier.open(note.as_bytes()).unwrap(), cp());
        assert!(note.starts_with("pledge/consent-ledger\n12\n"), "{note}");
        assert!(note.contains("\n\n\u{2014} pledge "), "{note}");
    }

    #[test]
    fn another_key_is_refused() {
        let note = key().sign(&cp());
        let other = SigningKey::from_seed("pledge", [8; 32]).unwrap().verifier();
        assert_eq!(
            other.open(note.as_bytes()),
            Err(CheckpointError::NotSignedBy("pledge".into()))
        );
    }

    #[test]
    fn several_notes_in_one_file_are_split() {
        let a = key().sign(&cp());
        let b = key().sign(&Checkpoint { size: 13, ..cp() });
        let file = format!("{a}\n{b}\n");
        assert_eq!(split_notes(&file), vec![a.as_str(), b.as_str()]);
        assert_eq!(
            split_notes(&format!("{a}{b}")),
            vec![a.as_str(), b.as_str()]
        );
    }
}
