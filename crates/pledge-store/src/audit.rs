//! The audit log's hash chain: canonical JSON of a record and the SHA-256 link to the
//! previous one. Pure; the store reads and writes the rows.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One record of the audit log, as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuditRecord {
    /// 1, 2, 3, ... without gaps: a missing number is a deleted record.
    pub seq: i64,
    /// Unix seconds.
    pub at: i64,
    /// Who: `key:<id>` for an API key, `worker:<id>`, `cli`, `system`.
    pub actor: String,
    /// What: `request.created`, `request.transition`, `request.read`, `key.created`, ...
    pub action: String,
    pub request_id: Option<String>,
    /// Details of the action, a JSON object.
    pub detail: Value,
    /// The detail as stored (canonical JSON when written): what the hash covers.
    #[serde(skip)]
    pub detail_text: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRecord {
    /// A record whose detail text is the canonical JSON of `detail`.
    pub fn new(
        seq: i64,
        at: i64,
        actor: &str,
        action: &str,
        request_id: Option<&str>,
        detail: Value,
        prev_hash: String,
    ) -> Self {
        let mut detail_text = String::new();
        canonical_json(&detail, &mut detail_text);
        let mut r = AuditRecord {
            seq,
            at,
            actor: actor.to_string(),
            action: action.to_string(),
            request_id: request_id.map(str::to_string),
            detail,
            detail_text,
            prev_hash,
            hash: String::new(),
        };
        r.hash = r.compute_hash();
        r
    }

    /// The canonical JSON of everything the hash covers (all fields but `hash`): keys
    /// sorted, no insignificant white space. The detail goes in as the text stored, so the
    /// hash never depends on how a JSON reader rounds numbers.
    pub fn canonical(&self) -> String {
        let text = |s: &str| Value::String(s.to_string()).to_string();
        format!(
            "{{\"action\":{},\"actor\":{},\"at\":{},\"detail\":{},\"request_id\":{},\"seq\":{}}}",
            text(&self.action),
            text(&self.actor),
            self.at,
            self.detail_text,
            self.request_id
                .as_deref()
                .map_or_else(|| "null".to_string(), text),
            self.seq
        )
    }

    /// SHA-256(prev_hash || canonical JSON), as lower-case hex.
    pub fn compute_hash(&self) -> String {
        chain_hash(&self.prev_hash, &self.canonical())
    }
}

/// SHA-256 of the previous hash (as its hex text) followed by the canonical record.
pub fn chain_hash(prev_hash: &str, canonical: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(canonical.as_bytes());
    hex(&h.finalize())
}

/// SHA-256 of `data` as lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// `text` with every word that holds an `@` (an e-mail address, however quoted) replaced by
/// `[address]`: for error texts of mail servers and webhooks, which can quote the address
/// and are kept where identities are not (the audit log, minimised requests).
pub fn redact_addresses(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.contains('@') {
            out.push_str("[address]");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_whitespace() {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// JSON with object keys sorted by their UTF-8 bytes and no white space (the key order of
/// RFC 8785; numbers are written as serde_json writes them, which for the integers and
/// strings the log holds is the same).
pub fn canonical_json(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                canonical_json(&map[k.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Appends `s` as a JSON string, escaped exactly as serde_json escapes it (so canonical
/// texts built by hand and through `Value` agree), without allocating.
pub fn push_json_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// A record of a hash chain: the audit log's records and the consent ledger's events are
/// walked by the same [`Walker`].
pub trait Chained {
    fn seq(&self) -> i64;
    fn prev_hash(&self) -> &str;
    fn hash(&self) -> &str;
    /// The hash the record's content gives (compared with [`Chained::hash`]).
    fn compute_hash(&self) -> String;
}

impl Chained for AuditRecord {
    fn seq(&self) -> i64 {
        self.seq
    }
    fn prev_hash(&self) -> &str {
        &self.prev_hash
    }
    fn hash(&self) -> &str {
        &self.hash
    }
    fn compute_hash(&self) -> String {
        AuditRecord::compute_hash(self)
    }
}

/// The first record of a chain that does not hold, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Broken {
    pub seq: i64,
    pub reason: String,
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verification {
    /// How many records were checked.
    pub records: u64,
    /// The hash of the last record: publish or keep it elsewhere to detect a cut tail.
    pub head: String,
    pub first_broken: Option<Broken>,
}

/// Walks records in `seq` order. Returns the first broken one: a gap in the numbers (a
/// deleted record), a `prev_hash` that is not the previous record's hash (a record removed
/// or reordered), or a hash that does not match the content (a record edited).
pub struct Walker {
    expected_seq: i64,
    prev: String,
    records: u64,
    broken: Option<Broken>,
}

impl Default for Walker {
    fn default() -> Self {
        Walker {
            expected_seq: 1,
            prev: GENESIS.to_string(),
            records: 0,
            broken: None,
        }
    }
}

impl Walker {
    /// A walker for the part of a chain that starts at `seq`, trusting `prev` as the hash
    /// before it: parts are walked side by side and their joins checked afterwards.
    pub fn starting_at(seq: i64, prev: &str) -> Self {
        Walker {
            expected_seq: seq,
            prev: prev.to_string(),
            records: 0,
            broken: None,
        }
    }

    /// Checks the next record; false once the chain is broken (the rest need not be read).
    pub fn push(&mut self, r: &impl Chained) -> bool {
        if self.broken.is_some() {
            return false;
        }
        let seq = r.seq();
        let reason = if seq != self.expected_seq {
            Some(format!(
                "record {} is missing: the log jumps from {} to {}",
                self.expected_seq,
                self.expected_seq - 1,
                seq
            ))
        } else if r.prev_hash() != self.prev {
            Some("its prev_hash is not the hash of the record before it".to_string())
        } else if r.compute_hash() != r.hash() {
            Some("its content does not match its hash: the record was changed".to_string())
        } else {
            None
        };
        if let Some(reason) = reason {
            self.broken = Some(Broken {
                seq: if seq != self.expected_seq {
                    self.expected_seq
                } else {
                    seq
                },
                reason,
            });
            return false;
        }
        self.records += 1;
        self.expected_seq += 1;
        self.prev.clear();
        self.prev.push_str(r.hash());
        true
    }

    pub fn finish(self) -> Verification {
        Verification {
            records: self.records,
            head: self.prev,
            first_broken: self.broken,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn addresses_are_cut_out_of_error_texts() {
        assert_eq!(
            redact_addresses("SMTP: 550 5.1.1 <ana@example.com>: Recipient address rejected"),
            "SMTP: 550 5.1.1 [address] Recipient address rejected"
        );
        assert_eq!(redact_addresses("no at-sign here\n"), "no at-sign here\n");
        assert_eq!(redact_addresses("a@b"), "[address]");
    }

    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let r = AuditRecord::new(
                    seq,
                    1_700_000_000 + seq,
                    "cli",
                    "test",
                    None,
                    json!({"n": seq, "b": [1, {"z": 1, "a": 2}], "f": 0.1 + 0.2}),
                    prev.clone(),
                );
                prev = r.hash.clone();
                r
            })
            .collect()
    }

    fn verify(records: &[AuditRecord]) -> Verification {
        let mut w = Walker::default();
        for r in records {
            if !w.push(r) {
                break;
            }
        }
        w.finish()
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let mut s = String::new();
        canonical_json(
            &json!({"b": 1, "a": {"d": [true, null], "c": "x\"y"}}),
            &mut s,
        );
        assert_eq!(s, r#"{"a":{"c":"x\"y","d":[true,null]},"b":1}"#);
    }

    #[test]
    fn json_strings_are_escaped_as_serde_json_does() {
        for s in [
            "",
            "plain",
            "a\"b\\c",
            "line\nfeed\r\t",
            "\u{1}\u{8}\u{c}\u{1f}",
            "ünï/cødé ✓",
        ] {
            let mut out = String::new();
            push_json_string(&mut out, s);
            assert_eq!(out, Value::String(s.to_string()).to_string(), "{s:?}");
        }
    }

    #[test]
    fn sha256_matches_the_standard_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_canonical_record_sorts_its_keys() {
        let r = AuditRecord::new(
            1,
            2,
            "cli",
            "x",
            Some("req_1"),
            json!({"b": 1, "a": 1.5}),
            GENESIS.into(),
        );
        assert_eq!(
            r.canonical(),
            r#"{"action":"x","actor":"cli","at":2,"detail":{"a":1.5,"b":1},"request_id":"req_1","seq":1}"#
        );
        // The same as canonical_json of the whole record would give.
        let mut whole = String::new();
        canonical_json(
            &json!({"seq": 1, "at": 2, "actor": "cli", "action": "x", "request_id": "req_1", "detail": {"b": 1, "a": 1.5}}),
            &mut whole,
        );
        assert_eq!(r.canonical(), whole);
    }

    #[test]
    fn an_intact_chain_verifies() {
        let v = verify(&chain(5));
        assert_eq!(v.records, 5);
        assert_eq!(v.first_broken, None);
    }

    #[test]
    fn an_edit_a_deletion_and_a_reorder_are_named() {
        let mut edited = chain(5);
        edited[2].actor = "someone else".into();
        assert_eq!(verify(&edited).first_broken.map(|b| b.seq), Some(3));

        let mut deleted = chain(5);
        deleted.remove(1);
        let broken = verify(&deleted).first_broken.unwrap();
        assert_eq!(broken.seq, 2);
        assert!(broken.reason.contains("missing"), "{}", broken.reason);

        // Deleting a record and renumbering the rest breaks the link instead.
        let mut renumbered = chain(5);
        renumbered.remove(1);
        for (i, r) in renumbered.iter_mut().enumerate() {
            r.seq = i as i64 + 1;
        }
        assert_eq!(verify(&renumbered).first_broken.map(|b| b.seq), Some(2));

        // Rewriting a record's hash to match its new content breaks the next link.
        let mut rehashed = chain(5);
        rehashed[1].detail_text = r#"{"n":99}"#.into();
        rehashed[1].hash = rehashed[1].compute_hash();
        let mut edited_detail = chain(5);
        edited_detail[3].detail_text = edited_detail[3].detail_text.replace("\"n\":4", "\"n\":5");
        assert_eq!(verify(&edited_detail).first_broken.map(|b| b.seq), Some(4));
        assert_eq!(verify(&rehashed).first_broken.map(|b| b.seq), Some(3));
    }
}
