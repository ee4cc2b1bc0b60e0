//! The consent index written out and read back: what lets a server start without applying
//! the whole ledger again. A snapshot is the index as it stood after event `last_seq`; a
//! server reads it, checks it against the ledger (the shell compares the hash of that event),
//! and applies only the events after it.
//!
//! The format is Pledge's own, versioned, compact and fast to read: a magic and version
//! byte, the last event, then the subjects in chunks of [`CHUNK`] (each with its length in
//! bytes, so that chunks can be decoded side by side: [`SnapshotReader`]), then the links;
//! integers as LEB128 varints (signed ones zigzag-coded), texts as a length and UTF-8 bytes,
//! every enumeration as one byte. Decoding checks every identifier as parsing it anywhere
//! else would, and fails with a [`SnapshotError`] on any byte it does not expect, never with a
//! panic: a snapshot that does not read is rebuilt from the ledger, so a bad one costs time,
//! never a wrong decision.

use super::{
    COOKIE_CATEGORIES, ConsentIndex, ConsentState, Method, SubjectState, Target, TargetState,
};
use pledge_lang::types::{PurposeId, SubjectRef};
use std::collections::HashMap;
use thiserror::Error;

/// The first bytes of every snapshot.
const MAGIC: &[u8; 7] = b"PLGCIDX";
/// Raised whenever the layout changes: a snapshot of another version is not read (and is
/// rebuilt from the ledger).
pub const FORMAT_VERSION: u8 = 1;

/// Subjects per chunk: small enough to spread over a few threads, large enough that the
/// chunking costs nothing measurable.
pub const CHUNK: usize = 16_384;

/// One chunk's subjects, decoded.
pub type Subjects = Vec<(SubjectRef, SubjectState)>;

/// Why a snapshot cannot be read.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SnapshotError {
    #[error("not a consent index snapshot")]
    NotASnapshot,
    #[error("snapshot format {0}, this version reads {FORMAT_VERSION}")]
    Version(u8),
    #[error("the snapshot ends early, at byte {0}")]
    Truncated(usize),
    #[error("the snapshot is damaged at byte {at}: {what}")]
    Damaged { at: usize, what: String },
}

impl ConsentIndex {
    /// The index as bytes (see the module's documentation). Subjects come out in an order of
    /// the hash map's choosing: two snapshots of one index may differ byte for byte and read
    /// back equal.
    pub fn to_snapshot(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(64 + self.subjects.len() * 64));
        w.0.extend_from_slice(MAGIC);
        w.0.push(FORMAT_VERSION);
        w.int(self.last_seq);
        w.uint(self.subjects.len() as u64);
        let mut chunk = Writer(Vec::new());
        let mut in_chunk = 0;
        for (subject, state) in &self.subjects {
            chunk.text(subject.as_str());
            chunk.subject_state(state);
            in_chunk += 1;
            if in_chunk == CHUNK {
                w.chunk(in_chunk, &chunk.0);
                chunk.0.clear();
                in_chunk = 0;
            }
        }
        if in_chunk > 0 {
            w.chunk(in_chunk, &chunk.0);
        }
        w.uint(self.aliases.len() as u64);
        for (from, to) in &self.aliases {
            w.text(from.as_str());
            w.text(to.as_str());
        }
        w.uint(self.linked.len() as u64);
        for (to, ids) in &self.linked {
            w.text(to.as_str());
            w.uint(ids.len() as u64);
            for id in ids {
                w.text(id.as_str());
            }
        }
        w.0
    }

    /// Reads a snapshot written by [`ConsentIndex::to_snapshot`], on this thread (a caller
    /// with cores to spare decodes the chunks of a [`SnapshotReader`] side by side).
    pub fn from_snapshot(bytes: &[u8]) -> Result<ConsentIndex, SnapshotError> {
        let reader = SnapshotReader::new(bytes)?;
        let chunks: Vec<&[u8]> = reader.chunks().to_vec();
        reader.assemble(chunks.into_iter().map(decode_chunk))
    }
}

impl ConsentIndex {
    /// [`ConsentIndex::from_snapshot`] with the chunks decoded on `threads` threads while
    /// this one builds the index from what they decoded (computation only: the threads are
    /// scoped and end before this returns).
    pub fn from_snapshot_on(bytes: &[u8], threads: usize) -> Result<ConsentIndex, SnapshotError> {
        let reader = SnapshotReader::new(bytes)?;
        let chunks: Vec<&[u8]> = reader.chunks().to_vec();
        let threads = threads.clamp(1, chunks.len().max(1));
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel(threads * 2);
            for _ in 0..threads {
                let (tx, chunks, next) = (tx.clone(), &chunks, &next);
                scope.spawn(move || {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(chunk) = chunks.get(i) else { return };
                        // The receiver stopped at an error: nothing more is needed.
                        if tx.send(decode_chunk(chunk)).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(tx);
            reader.assemble(rx)
        })
    }
}

/// A snapshot taken apart: its chunks of subjects, to decode ([`decode_chunk`]) in any order
/// and on any thread, and what [`SnapshotReader::assemble`] puts back together.
pub struct SnapshotReader<'a> {
    last_seq: i64,
    subjects: usize,
    chunks: Vec<(usize, &'a [u8])>,
    chunk_slices: Vec<&'a [u8]>,
    aliases: HashMap<SubjectRef, SubjectRef>,
    linked: HashMap<SubjectRef, Vec<SubjectRef>>,
}

impl<'a> SnapshotReader<'a> {
    /// Reads the header, finds the chunks and reads the links.
    pub fn new(bytes: &'a [u8]) -> Result<SnapshotReader<'a>, SnapshotError> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(MAGIC.len())
            .map_err(|_| SnapshotError::NotASnapshot)?
            != MAGIC
        {
            return Err(SnapshotError::NotASnapshot);
        }
        let version = r.byte()?;
        if version != FORMAT_VERSION {
            return Err(SnapshotError::Version(version));
        }
        let last_seq = r.int()?;
        let subjects = r.count()?;
        let mut chunks = Vec::new();
        let mut seen = 0usize;
        while seen < subjects {
            let n = r.count()?;
            if n == 0 || n > subjects - seen {
                return Err(r.damaged("a chunk of the wrong size"));
            }
            let len = r.count()?;
            chunks.push((n, r.take(len)?));
            seen += n;
        }
        let n = r.count()?;
        let mut aliases = HashMap::with_capacity(n);
        for _ in 0..n {
            let from = r.subject()?;
            let to = r.subject()?;
            aliases.insert(from, to);
        }
        let n = r.count()?;
        let mut linked = HashMap::with_capacity(n);
        for _ in 0..n {
            let to = r.subject()?;
            let k = r.count()?;
            let mut ids = Vec::with_capacity(k);
            for _ in 0..k {
                ids.push(r.subject()?);
            }
            linked.insert(to, ids);
        }
        if r.at != bytes.len() {
            return Err(r.damaged("bytes after the end"));
        }
        let chunk_slices = chunks.iter().map(|(_, c)| *c).collect();
        Ok(SnapshotReader {
            last_seq,
            subjects,
            chunks,
            chunk_slices,
            aliases,
            linked,
        })
    }

    /// The chunks of subjects, each for [`decode_chunk`].
    pub fn chunks(&self) -> &[&'a [u8]] {
        &self.chunk_slices
    }

    /// The index, from every chunk decoded (in any order). Fails on the first chunk that did
    /// not decode, on a subject that appears twice, or when the chunks do not add up to the
    /// subjects the header counts.
    pub fn assemble(
        self,
        decoded: impl IntoIterator<Item = Result<Subjects, SnapshotError>>,
    ) -> Result<ConsentIndex, SnapshotError> {
        let mut subjects = HashMap::with_capacity(self.subjects);
        let mut count = 0usize;
        for part in decoded {
            for (subject, state) in part? {
                count += 1;
                if subjects.insert(subject, state).is_some() {
                    return Err(SnapshotError::Damaged {
                        at: 0,
                        what: "a subject appears twice".into(),
                    });
                }
            }
        }
        let expected: usize = self.chunks.iter().map(|(n, _)| n).sum();
        if count != self.subjects || count != expected {
            return Err(SnapshotError::Damaged {
                at: 0,
                what: format!("{count} subjects decoded, {} counted", self.subjects),
            });
        }
        Ok(ConsentIndex {
            subjects,
            aliases: self.aliases,
            linked: self.linked,
            last_seq: self.last_seq,
        })
    }
}

/// The subjects of one chunk of a snapshot. A chunk's errors name byte offsets within it.
pub fn decode_chunk(chunk: &[u8]) -> Result<Subjects, SnapshotError> {
    let mut r = Reader {
        bytes: chunk,
        at: 0,
    };
    let mut out = Vec::with_capacity(CHUNK.min(chunk.len()));
    while r.at < chunk.len() {
        let subject = r.subject()?;
        let state = r.subject_state()?;
        out.push((subject, state));
    }
    Ok(out)
}

struct Writer(Vec<u8>);

impl Writer {
    fn uint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn int(&mut self, v: i64) {
        self.uint(((v << 1) ^ (v >> 63)) as u64);
    }

    fn opt_int(&mut self, v: Option<i64>) {
        match v {
            None => self.0.push(0),
            Some(v) => {
                self.0.push(1);
                self.int(v);
            }
        }
    }

    fn text(&mut self, s: &str) {
        self.uint(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }

    fn opt_text(&mut self, s: Option<&str>) {
        match s {
            None => self.0.push(0),
            Some(s) => {
                self.0.push(1);
                self.text(s);
            }
        }
    }

    fn chunk(&mut self, subjects: usize, bytes: &[u8]) {
        self.uint(subjects as u64);
        self.uint(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
    }

    fn subject_state(&mut self, s: &SubjectState) {
        self.uint(s.consents.len() as u64);
        for t in &s.consents {
            match &t.target {
                Target::Purpose(p) => {
                    self.0.push(0);
                    self.text(p.as_str());
                }
                Target::Cookies(c) => {
                    self.0.push(1);
                    // Every category is in the list.
                    let i = COOKIE_CATEGORIES.iter().position(|x| x == c).unwrap_or(0);
                    self.0.push(i as u8);
                }
            }
            self.0.push(state_byte(t.state));
            self.int(t.at);
            self.opt_int(t.expires_at);
            self.0.push(method_byte(t.method));
            self.opt_text(t.notice_version.as_deref());
            self.int(t.seq);
        }
        self.uint(s.objections.len() as u64);
        for (p, at) in &s.objections {
            self.text(p.as_str());
            self.int(*at);
        }
        self.opt_int(s.restricted_since);
        self.opt_int(s.opted_out_since);
    }
}

const STATES: [ConsentState; 4] = [
    ConsentState::Given,
    ConsentState::Refused,
    ConsentState::Withdrawn,
    ConsentState::Expired,
];

fn state_byte(s: ConsentState) -> u8 {
    STATES.iter().position(|x| *x == s).unwrap_or(0) as u8
}

fn method_byte(m: Method) -> u8 {
    Method::ALL.iter().position(|x| *x == m).unwrap_or(0) as u8
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn damaged(&self, what: &str) -> SnapshotError {
        SnapshotError::Damaged {
            at: self.at,
            what: what.to_string(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or(SnapshotError::Truncated(self.bytes.len()))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.take(1)?[0])
    }

    fn uint(&mut self) -> Result<u64, SnapshotError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(self.damaged("a number too large"));
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.damaged("a number too long"))
    }

    fn int(&mut self) -> Result<i64, SnapshotError> {
        let u = self.uint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// A count of things still to read: never more than the bytes left (each takes at
    /// least one), so a damaged count cannot make the reader reserve unbounded memory.
    fn count(&mut self) -> Result<usize, SnapshotError> {
        let n = self.uint()?;
        let left = (self.bytes.len() - self.at) as u64;
        if n > left {
            return Err(self.damaged("a count larger than what follows"));
        }
        Ok(n as usize)
    }

    fn flag(&mut self) -> Result<bool, SnapshotError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.damaged("a flag that is neither 0 nor 1")),
        }
    }

    fn opt_int(&mut self) -> Result<Option<i64>, SnapshotError> {
        Ok(if self.flag()? {
            Some(self.int()?)
        } else {
            None
        })
    }

    fn text(&mut self) -> Result<&'a str, SnapshotError> {
        let n = self.count()?;
        let bytes = self.take(n)?;
        std::str::from_utf8(bytes).map_err(|_| self.damaged("text that is not UTF-8"))
    }

    fn opt_text(&mut self) -> Result<Option<String>, SnapshotError> {
        Ok(if self.flag()? {
            Some(self.text()?.to_string())
        } else {
            None
        })
    }

    fn subject(&mut self) -> Result<SubjectRef, SnapshotError> {
        let s = self.text()?;
        s.parse()
            .map_err(|_| self.damaged("a subject id that does not parse"))
    }

    fn purpose(&mut self) -> Result<PurposeId, SnapshotError> {
        let s = self.text()?;
        s.parse()
            .map_err(|_| self.damaged("a purpose id that does not parse"))
    }

    fn subject_state(&mut self) -> Result<SubjectState, SnapshotError> {
        let n = self.count()?;
        let mut consents = Vec::with_capacity(n);
        for _ in 0..n {
            let target = match self.byte()? {
                0 => Target::Purpose(self.purpose()?),
                1 => {
                    let i = usize::from(self.byte()?);
                    Target::Cookies(
                        *COOKIE_CATEGORIES
                            .get(i)
                            .ok_or_else(|| self.damaged("an unknown cookie category"))?,
                    )
                }
                _ => return Err(self.damaged("an unknown kind of target")),
            };
            let state = *STATES
                .get(usize::from(self.byte()?))
                .ok_or_else(|| self.damaged("an unknown consent state"))?;
            let at = self.int()?;
            let expires_at = self.opt_int()?;
            let method = *Method::ALL
                .get(usize::from(self.byte()?))
                .ok_or_else(|| self.damaged("an unknown method"))?;
            let notice_version = self.opt_text()?;
            let seq = self.int()?;
            consents.push(TargetState {
                target,
                state,
                at,
                expires_at,
                method,
                notice_version,
                seq,
            });
        }
        let n = self.count()?;
        let mut objections = Vec::with_capacity(n);
        for _ in 0..n {
            let p = self.purpose()?;
            objections.push((p, self.int()?));
        }
        Ok(SubjectState {
            consents,
            objections,
            restricted_since: self.opt_int()?,
            opted_out_since: self.opt_int()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::{Action, ConsentEvent, Evidence};
    use proptest::prelude::*;

    fn event(subject: &str, action: Action, at: i64) -> ConsentEvent {
        ConsentEvent {
            subject: subject.parse().expect("subject"),
            action,
            at,
            expires_at: Some(at + 1000),
            notice_version: (at.rem_euclid(2) == 0).then(|| "2026-03".to_string()),
            text_hash: None,
            method: Method::ALL[(at as usize) % Method::ALL.len()],
            evidence: Evidence::default(),
            actor: "test".into(),
        }
    }

    fn action(k: u8, purpose: &str) -> Action {
        let purpose: PurposeId = purpose.parse().expect("purpose");
        match k % 7 {
            0 => Action::Consent {
                target: Target::Purpose(purpose),
                state: STATES[usize::from(k / 7) % 4],
            },
            1 => Action::Consent {
                target: Target::Cookies(COOKIE_CATEGORIES[usize::from(k / 7) % 6]),
                state: ConsentState::Given,
            },
            2 => Action::Objection {
                purpose,
                raised: k.is_multiple_of(2),
            },
            3 => Action::Restriction { raised: k > 100 },
            4 => Action::OptOut { raised: k > 50 },
            5 => Action::Link {
                to: format!("user-{}", k % 3).parse().expect("subject"),
            },
            _ => Action::Consent {
                target: Target::Purpose(purpose),
                state: ConsentState::Withdrawn,
            },
        }
    }

    /// Applies `events[from..]` (who, what, purpose) to `index`, numbered from `from + 1`.
    fn apply_from(index: &mut ConsentIndex, events: &[(u8, u8, u8)], from: usize) {
        for (seq, (who, k, p)) in events.iter().enumerate().skip(from) {
            let subject = if who % 3 == 0 {
                format!("user-{}", who % 5)
            } else {
                format!("visitor-{who}")
            };
            let purpose = ["newsletter", "ads", "analytics"][usize::from(*p) % 3];
            index.apply(
                seq as i64 + 1,
                &event(&subject, action(*k, purpose), 1_700_000_000 + seq as i64),
            );
        }
    }

    fn index_of(events: &[(u8, u8, u8)]) -> ConsentIndex {
        let mut index = ConsentIndex::default();
        apply_from(&mut index, events, 0);
        index
    }

    proptest! {
        /// Whatever events built an index, its snapshot reads back as the same index.
        #[test]
        fn a_snapshot_reads_back_as_the_index(events in proptest::collection::vec(any::<(u8, u8, u8)>(), 0..200)) {
            let index = index_of(&events);
            let back = ConsentIndex::from_snapshot(&index.to_snapshot()).expect("reads");
            prop_assert_eq!(back, index);
        }

        /// Damaged bytes give an error or an index, never a panic.
        #[test]
        fn damaged_snapshots_never_panic(events in proptest::collection::vec(any::<(u8, u8, u8)>(), 1..40), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut bytes = index_of(&events).to_snapshot();
            let i = at.index(bytes.len());
            bytes[i] = byte;
            let _ = ConsentIndex::from_snapshot(&bytes);
            let _ = ConsentIndex::from_snapshot(&bytes[..i]);
        }
    }

    #[test]
    fn a_snapshot_of_another_version_or_kind_is_refused() {
        let mut bytes = ConsentIndex::default().to_snapshot();
        assert!(ConsentIndex::from_snapshot(&bytes).is_ok());
        bytes[MAGIC.len()] = FORMAT_VERSION + 1;
        assert_eq!(
            ConsentIndex::from_snapshot(&bytes),
            Err(SnapshotError::Version(FORMAT_VERSION + 1))
        );
        assert_eq!(
            ConsentIndex::from_snapshot(b"{\"subjects\":[]}"),
            Err(SnapshotError::NotASnapshot)
        );
    }

    #[test]
    fn the_chunks_of_a_large_index_decode_in_any_order() {
        let mut index = ConsentIndex::default();
        let n = 2 * CHUNK + 5;
        for i in 0..n {
            let subject = format!("visitor-{i}");
            index.apply(
                i as i64 + 1,
                &event(&subject, action(0, "ads"), 1_700_000_000),
            );
        }
        let bytes = index.to_snapshot();
        assert_eq!(ConsentIndex::from_snapshot(&bytes).expect("reads"), index);
        let reader = SnapshotReader::new(&bytes).expect("reads");
        assert_eq!(reader.chunks().len(), 3);
        let mut parts: Vec<_> = reader.chunks().iter().map(|c| decode_chunk(c)).collect();
        parts.reverse();
        assert_eq!(reader.assemble(parts).expect("assembles"), index);
        for threads in [1, 2, 7] {
            assert_eq!(
                ConsentIndex::from_snapshot_on(&bytes, threads).expect("reads"),
                index
            );
        }
        let mut damaged = bytes.clone();
        let at = damaged.len() / 2;
        damaged[at] = 0xff;
        assert!(ConsentIndex::from_snapshot_on(&damaged, 2).is_err());
        // A chunk left out does not pass for the whole.
        let reader = SnapshotReader::new(&bytes).expect("reads");
        let first: Vec<_> = reader.chunks()[..2]
            .iter()
            .map(|c| decode_chunk(c))
            .collect();
        assert!(matches!(
            reader.assemble(first),
            Err(SnapshotError::Damaged { .. })
        ));
    }

    #[test]
    fn a_snapshot_then_the_later_events_is_the_whole_ledger() {
        let events: Vec<(u8, u8, u8)> = (0..120u8)
            .map(|i| (i % 17, i.wrapping_mul(37), i))
            .collect();
        let whole = index_of(&events);
        let part = index_of(&events[..60]);
        let mut part = ConsentIndex::from_snapshot(&part.to_snapshot()).expect("reads");
        apply_from(&mut part, &events, 60);
        assert_eq!(part, whole);
    }
}
