//! The decision as a library call: an index of 100,000 subjects (three events each, some
//! opted out, some objecting) and a mix of questions over every kind of legal basis and
//! cookie category. Goal (issue "Consent"): under 1 µs a decision.
//!
//! Run: `cargo bench -p pledge-domain --bench consent`; over HTTP, `bench/decisions.sh`.

use pledge_domain::consent::*;
use pledge_lang::model::CookieCategory;
use pledge_lang::types::SubjectRef;
use pledge_lang::{SourceMap, load};
use std::hint::black_box;
use std::sync::RwLock;
use std::time::Instant;

const DECLARATION: &str = include_str!("../../../bench/decisions/shop.toml");
const SUBJECTS: usize = 100_000;
const DECISIONS: usize = 2_000_000;
const RUNS: usize = 7;
/// 2026-03-01T00:00:00Z
const T0: i64 = 1_772_323_200;

fn main() {
    let decl = load(&SourceMap::single("shop.toml", DECLARATION.to_string()))
        .expect("the bench declaration loads");
    let policy = ConsentPolicy::new(&decl);
    let index = build_index(&policy);
    let purpose = |p: &str| Target::Purpose(p.parse().expect("a purpose id"));
    let targets = [
        purpose("newsletter"),
        purpose("ads"),
        purpose("orders"),
        purpose("fraud"),
        purpose("bookkeeping"),
        purpose("resale"),
        Target::Cookies(CookieCategory::Analytics),
        Target::Cookies(CookieCategory::StrictlyNecessary),
    ];
    let questions: Vec<(SubjectRef, Query)> = (0..4096)
        .map(|i| {
            let subject = subject(i * 7919 % (SUBJECTS + SUBJECTS / 10));
            let target = targets[i % targets.len()].clone();
            let categories = if i.is_multiple_of(3) && matches!(target, Target::Purpose(_)) {
                vec!["contact.email".parse().expect("a category")]
            } else {
                Vec::new()
            };
            (subject, Query { target, categories })
        })
        .collect();

    let now = T0 + 86_400;
    let plain = measure(|i| {
        let (s, q) = &questions[i & 4095];
        index.decide(&policy, s, q, now).allow
    });
    report("decide (the core call)", plain);

    // What a handler does: the index behind a read lock, as the server keeps it.
    let shared = RwLock::new(index);
    let locked = measure(|i| {
        let (s, q) = &questions[i & 4095];
        let guard = shared.read().unwrap_or_else(|e| e.into_inner());
        guard.decide(&policy, s, q, now).allow
    });
    report("decide under the server's read lock", locked);
}

fn subject(n: usize) -> SubjectRef {
    format!("user-{n}").parse().expect("a subject id")
}

fn build_index(policy: &ConsentPolicy) -> ConsentIndex {
    let mut index = ConsentIndex::default();
    let mut seq = 0;
    let start = Instant::now();
    for n in 0..SUBJECTS {
        let who = subject(n);
        let mut actions = vec![
            Action::Consent {
                target: Target::Purpose("newsletter".parse().expect("id")),
                state: if n.is_multiple_of(4) {
                    ConsentState::Withdrawn
                } else {
                    ConsentState::Given
                },
            },
            Action::Consent {
                target: Target::Cookies(CookieCategory::Analytics),
                state: if n.is_multiple_of(2) {
                    ConsentState::Given
                } else {
                    ConsentState::Refused
                },
            },
            Action::Consent {
                target: Target::Purpose("ads".parse().expect("id")),
                state: ConsentState::Given,
            },
        ];
        if n.is_multiple_of(10) {
            actions.push(Action::OptOut { raised: true });
        }
        if n.is_multiple_of(17) {
            actions.push(Action::Objection {
                purpose: "fraud".parse().expect("id"),
                raised: true,
            });
        }
        for action in actions {
            seq += 1;
            let expires_at = match &action {
                Action::Consent {
                    target,
                    state: ConsentState::Given,
                } => policy.expires_at(target, T0),
                _ => None,
            };
            let e = ConsentEvent {
                subject: who.clone(),
                action,
                at: T0,
                expires_at,
                notice_version: Some("v1".into()),
                text_hash: None,
                method: Method::Banner,
                evidence: Evidence::default(),
                actor: "bench".into(),
            };
            index.apply(seq, &e);
        }
    }
    println!(
        "index of {} subjects from {seq} events built in {:.0} ms",
        index.subjects(),
        start.elapsed().as_secs_f64() * 1000.0
    );
    index
}

/// Nanoseconds a decision, per run.
fn measure(mut f: impl FnMut(usize) -> bool) -> Vec<f64> {
    let mut allowed = 0usize;
    for i in 0..DECISIONS / 10 {
        allowed += usize::from(black_box(f(black_box(i)))); // warm-up
    }
    let runs = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            for i in 0..DECISIONS {
                allowed += usize::from(black_box(f(black_box(i))));
            }
            start.elapsed().as_nanos() as f64 / DECISIONS as f64
        })
        .collect();
    black_box(allowed);
    runs
}

fn report(what: &str, mut ns: Vec<f64>) {
    ns.sort_by(f64::total_cmp);
    println!(
        "{what}: median {:.0} ns a decision, min {:.0} ns, max {:.0} ns ({RUNS} runs of {DECISIONS} decisions)",
        ns[ns.len() / 2],
        ns[0],
        ns[ns.len() - 1]
    );
}
