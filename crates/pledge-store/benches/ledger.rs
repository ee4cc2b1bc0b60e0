//! The consent ledger on a SQLite file: appends (hash chain included, committed) in groups of
//! several sizes, beside the anchor, a raw insert of the same rows (no chain, no hash, no
//! audit record) in groups of the same size through the same driver; then verification of a
//! chain of 1,000,000 events. Goals (issue "Consent"): 20,000 events/s or more with group
//! commit; verifying 1M events under 2 s.
//!
//! Run: `cargo bench -p pledge-store --bench ledger` (`-- --events N` for another size of the
//! chain to verify, `-- --verify-only` to skip the append figures, `-- --keep FILE` to leave
//! the store with the verified chain at FILE, for bench/start.sh). The store runs SQLite in WAL mode with `synchronous = NORMAL`: a commit
//! survives a crash of the process, and is written to disk at the next checkpoint.

use pledge_domain::consent::{Action, ConsentEvent, ConsentState, Evidence, Method, Target};
use pledge_store::Store;
use sqlx::Connection;
use std::time::Instant;

const T0: i64 = 1_772_323_200;

fn event(n: usize) -> ConsentEvent {
    ConsentEvent {
        subject: format!(
            "visitor-{:08x}",
            n.wrapping_mul(2_654_435_761) & 0xffff_ffff
        )
        .parse()
        .expect("a subject id"),
        action: Action::Consent {
            target: Target::Purpose(
                if n.is_multiple_of(2) {
                    "newsletter"
                } else {
                    "ads"
                }
                .parse()
                .expect("id"),
            ),
            state: if n.is_multiple_of(5) {
                ConsentState::Refused
            } else {
                ConsentState::Given
            },
        },
        at: T0 + n as i64,
        expires_at: Some(T0 + n as i64 + 63_072_000),
        notice_version: Some("2026-03".into()),
        text_hash: Some("5d41402abc4b2a76b9719d911017c592".repeat(2)),
        method: Method::Banner,
        evidence: Evidence::new(
            Some(std::net::IpAddr::from([203, 0, 113, (n % 250) as u8])),
            Some("Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"),
        ),
        actor: "banner".into(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let chain: usize = args
        .iter()
        .position(|a| a == "--events")
        .and_then(|i| args.get(i + 1))
        .map_or(1_000_000, |n| n.parse().expect("--events takes a number"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = std::env::temp_dir().join(format!("pledge-ledger-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    runtime.block_on(async {
        let groups: &[(usize, usize)] = if args.iter().any(|a| a == "--verify-only") {
            &[]
        } else {
            &[(1, 2_000), (64, 64_000), (1000, 200_000), (4096, 200_000)]
        };
        for &(group, total) in groups {
            let path = dir.join(format!("append-{group}.db"));
            let store = Store::open(&format!("sqlite:{}", path.display()))
                .await
                .expect("the store opens");
            let events: Vec<ConsentEvent> = (0..total).map(event).collect();
            let start = Instant::now();
            for g in events.chunks(group) {
                store.append_consent(g).await.expect("append");
            }
            let rate = total as f64 / start.elapsed().as_secs_f64();
            store.close().await;
            let raw = raw_inserts(&dir.join(format!("raw-{group}.db")), &events, group).await;
            println!(
                "append in groups of {group:>4}: {rate:>9.0} events/s; raw insert of the same rows: {raw:>9.0} rows/s ({:.0}%)",
                100.0 * rate / raw
            );
        }

        let keep = args
            .iter()
            .position(|a| a == "--keep")
            .and_then(|i| args.get(i + 1))
            .map(std::path::PathBuf::from);
        let path = keep.clone().unwrap_or_else(|| dir.join("verify.db"));
        let store = Store::open(&format!("sqlite:{}", path.display()))
            .await
            .expect("the store opens");
        let start = Instant::now();
        for from in (0..chain).step_by(4096) {
            let group: Vec<ConsentEvent> = (from..(from + 4096).min(chain)).map(event).collect();
            store.append_consent(&group).await.expect("append");
        }
        let filled = start.elapsed().as_secs_f64();
        println!(
            "filled a chain of {chain} events in {filled:.1} s ({:.0} events/s)",
            chain as f64 / filled
        );
        let mut times = Vec::new();
        let mut cpu = Vec::new();
        for _ in 0..3 {
            let start = Instant::now();
            let cpu_start = cpu_seconds();
            let v = store.verify_consent().await.expect("verify");
            times.push(start.elapsed().as_secs_f64());
            if let (Some(a), Some(b)) = (cpu_start, cpu_seconds()) {
                cpu.push(b - a);
            }
            assert_eq!(v.records as usize, chain);
            assert!(v.first_broken.is_none());
        }
        times.sort_by(f64::total_cmp);
        cpu.sort_by(f64::total_cmp);
        println!(
            "verify {chain} events: median {:.2} s, min {:.2} s, max {:.2} s (3 runs); CPU of the process (all threads, SQLite's included) median {:.2} s",
            times[1],
            times[0],
            times[2],
            cpu.get(cpu.len() / 2).copied().unwrap_or(f64::NAN)
        );
        // What a starting server reads to build its decision index (decoding included).
        let start = Instant::now();
        let (mut after, mut events) = (0, 0usize);
        let mut index = pledge_domain::consent::ConsentIndex::default();
        loop {
            let page = store
                .consent_rows_after(after, pledge_store::ledger::PAGE)
                .await
                .expect("read");
            let Some(last) = page.last() else { break };
            after = last.seq;
            for row in &page {
                index.apply(row.seq, &row.event().expect("an event"));
            }
            events += page.len();
        }
        println!(
            "read the whole ledger ({events} events) into the decision index, as a server without a snapshot does at start: {:.2} s",
            start.elapsed().as_secs_f64()
        );
        // The same index through its snapshot, as a server with one starts.
        let start = Instant::now();
        let body = index.to_snapshot();
        let encoded = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let back = pledge_domain::consent::ConsentIndex::from_snapshot(&body).expect("reads");
        let decoded = start.elapsed().as_secs_f64();
        drop(back);
        // As the server reads it: the index's shards built on every core.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let start = Instant::now();
        let back = pledge_domain::consent::ConsentIndex::from_snapshot_on(&body, threads)
            .expect("reads");
        let parallel = start.elapsed().as_secs_f64();
        assert_eq!(back.subjects(), index.subjects());
        println!(
            "the index's snapshot: {} subjects, {:.1} MB, written in {encoded:.2} s, read back in {decoded:.2} s on one thread, {parallel:.2} s with its shards built on {threads} threads",
            index.subjects(),
            body.len() as f64 / 1e6
        );
        store.close().await;
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// The anchor: the same columns inserted with the same grouping, multi-row statements
/// (anonymous `?` parameters, as the store writes them) and pragmas as the store, without
/// computing or reading a chain.
async fn raw_inserts(path: &std::path::Path, events: &[ConsentEvent], group: usize) -> f64 {
    let url = format!("sqlite:{}?mode=rwc", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("sqlite opens");
    for pragma in ["PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL"] {
        sqlx::query(pragma)
            .execute(&mut conn)
            .await
            .expect("pragma");
    }
    sqlx::query(
        "CREATE TABLE raw (seq BIGINT PRIMARY KEY, at BIGINT, subject TEXT, kind TEXT, target TEXT, state TEXT, expires_at BIGINT, notice_version TEXT, text_hash TEXT, method TEXT, ip TEXT, user_agent TEXT, actor TEXT)",
    )
    .execute(&mut conn)
    .await
    .expect("create");
    sqlx::query("CREATE INDEX raw_by_subject ON raw (subject, seq)")
        .execute(&mut conn)
        .await
        .expect("index");
    let start = Instant::now();
    let mut seq = 0i64;
    for g in events.chunks(group) {
        let mut tx = conn.begin().await.expect("begin");
        for chunk in g.chunks(64) {
            let row = format!("({})", ["?"; 13].join(", "));
            let rows = vec![row; chunk.len()];
            let sql = format!("INSERT INTO raw VALUES {}", rows.join(", "));
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for e in chunk {
                seq += 1;
                let cols = e.action.columns();
                q = q
                    .bind(seq)
                    .bind(e.at)
                    .bind(e.subject.as_str().to_string())
                    .bind(cols.kind)
                    .bind(cols.target)
                    .bind(cols.state)
                    .bind(e.expires_at)
                    .bind(e.notice_version.clone())
                    .bind(e.text_hash.clone())
                    .bind(e.method.as_str())
                    .bind(e.evidence.ip.clone())
                    .bind(e.evidence.user_agent.clone())
                    .bind(e.actor.clone());
            }
            q.execute(&mut *tx).await.expect("insert");
        }
        tx.commit().await.expect("commit");
    }
    let rate = events.len() as f64 / start.elapsed().as_secs_f64();
    conn.close().await.expect("close");
    rate
}

/// User and system CPU time of the whole process so far, in seconds, from `/proc/self/stat`
/// (fields 14 and 15, in clock ticks of 10 ms on Linux): what the other jobs of a shared
/// machine disturb much less than the wall clock.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks = |i: usize| fields.get(i - 3)?.parse::<f64>().ok();
    Some((ticks(14)? + ticks(15)?) / 100.0)
}
