//! The consent index written out and read back: what lets a server start without applying
//! the whole ledger again. A snapshot is the index as it stood after event `last_seq`; a
//! server reads it, checks it against the ledger (the shell compares the hash of that event),
//! and applies only the events after it.
//!
//! The format is Pledge's own, versioned, compact and fast to read: a magic and version
//! byte, the last event, then the subjects in one chunk per shard of the index, each with
//! its length in bytes (so that shards are built side by side: [`SnapshotReader`]), then the
//! links;
//! integers as LEB128 varints (signed ones zigzag-coded), texts as a length and UTF-8 bytes,
//! every enumeration as one byte. Decoding checks every identifier as parsing it anywhere
//! else would, and fails with a [`SnapshotError`] on any byte it does not expect, never with a
//! panic: a snapshot that does not read is rebuilt from the ledger, so a bad one costs time,
//! never a wrong decision.

use super::{
    COOKIE_CATEGORIES, ConsentIndex, ConsentState, Method, SHARDS, SubjectState, Target,
    TargetState, shard_of,
};
use pledge_lang::types::{PurposeId, SubjectRef};
use std::collections::HashMap;
use thiserror::Error;

/// The first bytes of every snapshot.
const MAGIC: &[u8; 7] = b"PLGCIDX";
/// Raised whenever the layout changes: a snapshot of another version is not read (and is
/// rebuilt from the ledger).
pub const FORMAT_VERSION: u8 = 2;

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
    /// the hash maps' choosing: two snapshots of one index may differ byte for byte and read
    /// back equal.
    pub fn to_snapshot(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(64 + self.subjects() * 64));
        w.0.extend_from_slice(MAGIC);
        w.0.push(FORMAT_VERSION);
        w.int(self.last_seq);
        w.uint(self.subjects() as u64);
        // One chunk per shard that has subjects: each is built on its own.
        let mut chunk = Writer(Vec::new());
        for (shard, subjects) in self.subjects.iter().enumerate() {
            if subjects.is_empty() {
                continue;
            }
            chunk.0.clear();
            for (subject, state) in subjects {
                chunk.text(subject.as_str());
                chunk.subject_state(state);
            }
            w.chunk(shard, subjects.len(), &chunk.0);
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

    /// Reads a snapshot written by [`ConsentIndex::to_snapshot`], on this thread.
    pub fn from_snapshot(bytes: &[u8]) -> Result<ConsentIndex, SnapshotError> {
        let reader = SnapshotReader::new(bytes)?;
        let shards = (0..SHARDS)
            .map(|i| reader.build_shard(i))
            .collect::<Result<Vec<_>, _>>()?;
        reader.finish(shards)
    }

    /// [`ConsentIndex::from_snapshot`] with the shards built on `threads` threads side by
    /// side, each decoding its own chunks into its own map (computation only: the threads
    /// are scoped and end before this returns).
    pub fn from_snapshot_on(bytes: &[u8], threads: usize) -> Result<ConsentIndex, SnapshotError> {
        let reader = SnapshotReader::new(bytes)?;
        let next = std::sync::atomic::AtomicUsize::new(0);
        let built: Vec<(usize, Result<Shard, SnapshotError>)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads.clamp(1, SHARDS))
                .map(|_| {
                    let (reader, next) = (&reader, &next);
                    scope.spawn(move || {
                        let mut mine = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            if i >= SHARDS {
                                return mine;
                            }
                            mine.push((i, reader.build_shard(i)));
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                // A worker only builds shards; it does not panic on any input (the
                // property tests feed it damaged bytes), so joining it gives its result.
                .flat_map(|w| w.join().unwrap_or_default())
                .collect()
        });
        let mut shards: Vec<Option<Shard>> = (0..SHARDS).map(|_| None).collect();
        for (i, shard) in built {
            shards[i] = Some(shard?);
        }
        let shards = shards
            .into_iter()
            .map(|s| s.ok_or_else(|| damaged_at(0, "a shard was not built")))
            .collect::<Result<Vec<_>, _>>()?;
        reader.finish(shards)
    }
}

/// One shard of the index's subjects.
type Shard = HashMap<SubjectRef, SubjectState>;

fn damaged_at(at: usize, what: &str) -> SnapshotError {
    SnapshotError::Damaged {
        at,
        what: what.to_string(),
    }
}

/// A snapshot taken apart: its chunks of subjects by shard, each shard built on its own
/// ([`SnapshotReader::build_shard`], on any thread), then put together with the links.
pub struct SnapshotReader<'a> {
    last_seq: i64,
    subjects: usize,
    /// Per shard, its chunks: how many subjects each holds, and its bytes.
    chunks: Vec<Vec<(usize, &'a [u8])>>,
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
        let mut chunks: Vec<Vec<(usize, &[u8])>> = (0..SHARDS).map(|_| Vec::new()).collect();
        let mut seen = 0usize;
        while seen < subjects {
            let shard = usize::from(r.byte()?);
            let n = r.count()?;
            if shard >= SHARDS || n == 0 || n > subjects - seen {
                return Err(r.damaged("a chunk of the wrong shard or size"));
            }
            let len = r.count()?;
            chunks[shard].push((n, r.take(len)?));
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
        Ok(SnapshotReader {
            last_seq,
            subjects,
            chunks,
            aliases,
            linked,
        })
    }

    /// Shard `i` (below [`SHARDS`]): its chunks decoded into its map. Fails on a subject
    /// that appears twice, that belongs to another shard, or a chunk whose count is wrong.
    pub fn build_shard(&self, i: usize) -> Result<Shard, SnapshotError> {
        let chunks = self.chunks.get(i).map_or(&[][..], Vec::as_slice);
        let mut shard = HashMap::with_capacity(chunks.iter().map(|(n, _)| n).sum());
        for &(n, bytes) in chunks {
            let mut r = Reader { bytes, at: 0 };
            let mut count = 0;
            while r.at < bytes.len() {
                let subject = r.subject()?;
                if shard_of(&subject) != i {
                    return Err(r.damaged("a subject in another shard's chunk"));
                }
                let state = r.subject_state()?;
                if shard.insert(subject, state).is_some() {
                    return Err(r.damaged("a subject appears twice"));
                }
                count += 1;
            }
            if count != n {
                return Err(r.damaged("a chunk with another number of subjects than it says"));
            }
        }
        Ok(shard)
    }

    /// The index, from every shard built (in shard order).
    pub fn finish(self, shards: Vec<Shard>) -> Result<ConsentIndex, SnapshotError> {
        let subjects: [Shard; SHARDS] = shards
            .try_into()
            .map_err(|_| damaged_at(0, "not every shard was built"))?;
        let count: usize = subjects.iter().map(HashMap::len).sum();
        if count != self.subjects {
            return Err(damaged_at(
                0,
                &format!("{count} subjects decoded, {} counted", self.subjects),
            ));
        }
        Ok(ConsentIndex {
            subjects,
            aliases: self.aliases,
            linked: self.linked,
            last_seq: self.last_seq,
        })
    }
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

    fn chunk(&mut self, shard: usize, subjects: usize, bytes: &[u8]) {
        // Below SHARDS, a handful.
        self.0.push(shard as u8);
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
        damaged_at(self.at, what)
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
    fn a_large_index_reads_back_on_any_number_of_threads() {
        let mut index = ConsentIndex::default();
        let n = 20_000;
        for i in 0..n {
            let subject = format!("visitor-{i}");
            index.apply(
                i as i64 + 1,
                &event(&subject, action(0, "ads"), 1_700_000_000),
            );
        }
        let bytes = index.to_snapshot();
        assert_eq!(ConsentIndex::from_snapshot(&bytes).expect("reads"), index);
        for threads in [1, 2, 7, 64] {
            assert_eq!(
                ConsentIndex::from_snapshot_on(&bytes, threads).expect("reads"),
                index
            );
        }
        // The first chunk said to be another shard's: its subjects are refused there.
        let mut r = Reader {
            bytes: &bytes,
            at: MAGIC.len() + 1,
        };
        r.int().expect("last seq");
        r.count().expect("subjects");
        let mut damaged = bytes.clone();
        damaged[r.at] = (damaged[r.at] + 1) % SHARDS as u8;
        assert!(matches!(
            ConsentIndex::from_snapshot_on(&damaged, 2),
            Err(SnapshotError::Damaged { .. })
        ));
        assert!(ConsentIndex::from_snapshot_on(&bytes[..bytes.len() - 1], 2).is_err());
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
