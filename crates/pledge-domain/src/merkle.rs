//! A Merkle tree with the hashing of RFC 6962 (section 2.1, kept by RFC 9162): a leaf is
//! `SHA-256(0x00 || entry)`, an inner node `SHA-256(0x01 || left || right)`, and a tree of
//! `n` leaves splits at the largest power of two below `n`. Inclusion proofs (audit paths)
//! let one entry be proven part of a signed tree head without the rest of the tree.
//!
//! Pure: the caller hands in the leaves.

use sha2::{Digest, Sha256};

/// A SHA-256 value.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The hash of one entry as a leaf.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// The hash of an inner node over two subtrees.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two strictly below `n` (for `n >= 2`).
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// The root over these leaf hashes (RFC 6962's MTH), by the definition: recursion at the
/// split point. O(n); [`Frontier`] builds the same root as leaves arrive.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The audit path of leaf `index` in the tree of `leaves` (RFC 6962's PATH), from the leaf
/// up. None when `index` is not a leaf of the tree.
pub fn inclusion_path(leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    let mut path = Vec::new();
    let (mut lo, mut hi) = (0, leaves.len());
    let mut siblings = Vec::new();
    while hi - lo > 1 {
        let k = split(hi - lo);
        if index < lo + k {
            siblings.push(root(&leaves[lo + k..hi]));
            hi = lo + k;
        } else {
            siblings.push(root(&leaves[lo..lo + k]));
            lo += k;
        }
    }
    // Collected from the top down; the path goes from the leaf up.
    while let Some(s) = siblings.pop() {
        path.push(s);
    }
    Some(path)
}

/// Whether `path` proves the leaf `leaf` at `index` part of the tree of `size` leaves whose
/// root is `root` (the verification of RFC 9162, section 2.1.3.2).
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// The tree's right edge as leaves are appended: one perfect subtree per bit of the size,
/// so the root of every prefix is at hand without keeping the leaves (O(log n) memory).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// Roots of the perfect subtrees, largest (leftmost) first.
    subtrees: Vec<Hash>,
}

impl Frontier {
    /// How many leaves were appended.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut size = self.size;
        // Each trailing 1 bit of the old size is a subtree of the same height to merge with.
        while size & 1 == 1 {
            // The count of subtrees equals the number of 1 bits, so one is there to pop.
            let Some(left) = self.subtrees.pop() else {
                break;
            };
            h = node_hash(&left, &h);
            size >>= 1;
        }
        self.subtrees.push(h);
        self.size += 1;
    }

    /// The root of the tree of the leaves appended so far.
    pub fn root(&self) -> Hash {
        let mut it = self.subtrees.iter().rev();
        let Some(last) = it.next() else {
            return empty_root();
        };
        it.fold(*last, |acc, left| node_hash(left, &acc))
    }

    /// The subtree roots, for keeping the frontier between runs.
    pub fn subtrees(&self) -> &[Hash] {
        &self.subtrees
    }

    /// A frontier from a size and its subtree roots; None if their count does not match
    /// the size.
    pub fn from_parts(size: u64, subtrees: Vec<Hash>) -> Option<Frontier> {
        (size.count_ones() as usize == subtrees.len()).then_some(Frontier { size, subtrees })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&[i as u8])).collect()
    }

    /// The test vector of the empty tree in RFC 6962's reference data.
    #[test]
    fn the_empty_root_is_the_hash_of_nothing() {
        let hex: String = empty_root().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn the_frontier_gives_the_root_of_every_prefix() {
        let all = leaves(40);
        let mut f = Frontier::default();
        for (i, l) in all.iter().enumerate() {
            f.push(*l);
            assert_eq!(f.root(), root(&all[..=i]), "size {}", i + 1);
            assert_eq!(
                Frontier::from_parts(f.size(), f.subtrees().to_vec()).as_ref(),
                Some(&f)
            );
        }
    }

    #[test]
    fn a_proof_for_a_seven_leaf_tree() {
        let all = leaves(7);
        let r = root(&all);
        for i in 0..7 {
            let path = inclusion_path(&all, i).unwrap();
            assert!(verify_inclusion(i as u64, 7, &all[i], &path, &r), "{i}");
        }
        // Leaf 6 is alone on the right: its path is the root of the first six.
        assert_eq!(
            inclusion_path(&all, 6).unwrap(),
            vec![root(&all[4..6]), root(&all[..4])]
        );
    }
}
