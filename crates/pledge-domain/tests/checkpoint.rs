//! Property tests of signed checkpoints and Merkle proofs, against a naive model: the
//! tree's root recomputed by its recursive definition, the note's text rebuilt field by field.

use pledge_domain::checkpoint::{Checkpoint, CheckpointError, LogKind, SigningKey};
use pledge_domain::merkle::{self, Frontier, Hash};
use proptest::prelude::*;

/// RFC 6962's MTH written out again from its definition, apart from `merkle::root`: the
/// first subtree takes the largest power of two of leaves below n.
fn model_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => merkle::empty_root(),
        1 => leaves[0],
        n => {
            let mut k = 1;
            while k < n {
                k <<= 1;
            }
            k >>= 1;
            merkle::node_hash(&model_root(&leaves[..k]), &model_root(&leaves[k..]))
        }
    }
}

fn leaves(n: usize, salt: u8) -> Vec<Hash> {
    (0..n)
        .map(|i| merkle::leaf_hash(&[salt, (i & 0xff) as u8, (i >> 8) as u8]))
        .collect()
}

fn checkpoint() -> impl Strategy<Value = (Checkpoint, [u8; 32])> {
    (
        prop_oneof![Just(LogKind::AuditLog), Just(LogKind::ConsentLedger)],
        any::<u64>(),
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        any::<i64>(),
        any::<[u8; 32]>(),
    )
        .prop_map(|(log, size, root, head, time, seed)| {
            let head_hex: String = head.iter().map(|b| format!("{b:02x}")).collect();
            let root = if log == LogKind::AuditLog { head } else { root };
            (
                Checkpoint {
                    origin: Checkpoint::origin_for("pledge.example", log),
                    size,
                    root,
                    head: head_hex,
                    time,
                },
                seed,
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_frontier_root_is_the_definition(n in 0usize..300) {
        let all = leaves(n, 1);
        let mut f = Frontier::default();
        for l in &all {
            f.push(*l);
        }
        prop_assert_eq!(f.root(), model_root(&all));
        prop_assert_eq!(merkle::root(&all), model_root(&all));
    }

    #[test]
    fn every_inclusion_proof_verifies_and_a_change_fails(n in 1usize..200, pick in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>()) {
        let all = leaves(n, 2);
        let root = model_root(&all);
        let i = pick.index(n);
        let path = merkle::inclusion_path(&all, i).unwrap();
        prop_assert!(merkle::verify_inclusion(i as u64, n as u64, &all[i], &path, &root));
        // Another leaf at this index fails.
        let other = merkle::leaf_hash(b"not the entry");
        prop_assert!(!merkle::verify_inclusion(i as u64, n as u64, &other, &path, &root));
        // So does another index and a path with one hash changed.
        if n > 1 {
            let j = (i + 1) % n;
            prop_assert!(!merkle::verify_inclusion(j as u64, n as u64, &all[i], &path, &root));
        }
        if !path.is_empty() {
            let mut bent = path.clone();
            let k = flip.index(bent.len());
            bent[k][0] ^= 1;
            prop_assert!(!merkle::verify_inclusion(i as u64, n as u64, &all[i], &bent, &root));
            let mut short = path.clone();
            short.pop();
            prop_assert!(!merkle::verify_inclusion(i as u64, n as u64, &all[i], &short, &root));
        }
    }

    #[test]
    fn a_checkpoint_round_trips_through_its_note((cp, seed) in checkpoint()) {
        let key = SigningKey::from_seed("pledge.example", seed).unwrap();
        let note = key.sign(&cp);
        let verifier = key.verifier().to_string().parse::<pledge_domain::checkpoint::VerifierKey>().unwrap();
        prop_assert_eq!(verifier.open(note.as_bytes()), Ok(cp.clone()));
        // The text is the five lines, as documented.
        let root_b64 = note.lines().nth(2).unwrap().to_string();
        let expected = format!("{}\n{}\n{}\nhead {}\ntime {}\n\n", cp.origin, cp.size, root_b64, cp.head, cp.time);
        prop_assert!(note.starts_with(&expected));
    }

    #[test]
    fn any_byte_changed_fails((cp, seed) in checkpoint(), at in any::<prop::sample::Index>(), to in any::<u8>()) {
        let key = SigningKey::from_seed("pledge.example", seed).unwrap();
        let mut note = key.sign(&cp).into_bytes();
        let i = at.index(note.len());
        prop_assume!(note[i] != to);
        note[i] = to;
        prop_assert!(key.verifier().open(&note).is_err());
    }

    #[test]
    fn another_key_fails((cp, seed) in checkpoint(), other in any::<[u8; 32]>()) {
        prop_assume!(seed != other);
        let note = SigningKey::from_seed("pledge.example", seed).unwrap().sign(&cp);
        let stranger = SigningKey::from_seed("pledge.example", other).unwrap().verifier();
        prop_assert_eq!(stranger.open(note.as_bytes()), Err(CheckpointError::NotSignedBy("pledge.example".into())));
    }
}
