//! Replays every input the fuzzers kept (`fuzz/corpus/TARGET/`) and every crash they found
//! (`fuzz/regressions/TARGET/`) through the targets' bodies, so the suite runs each target
//! briefly over its corpus and a fixed crash stays fixed.

use std::path::{Path, PathBuf};

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz")
        .join(kind)
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.is_file());
    files.sort();
    files
}

#[test]
fn every_target_has_a_seed_corpus() {
    for (target, _) in pledge_fuzz::TARGETS {
        assert!(
            !inputs("corpus", target).is_empty(),
            "fuzz/corpus/{target}/ is empty: every target keeps a seed corpus"
        );
    }
}

#[test]
fn corpora_and_regressions_replay_without_a_crash() {
    let mut replayed = 0;
    for (target, run) in pledge_fuzz::TARGETS {
        for path in inputs("corpus", target)
            .into_iter()
            .chain(inputs("regressions", target))
        {
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{target}: {} crashes", path.display());
            replayed += 1;
        }
    }
    assert!(replayed > 0);
}
