//! The Fx hash (as in rustc-hash) for the small, config-defined key tables looked up once per
//! record field: schema keys and optional-key sets. Much cheaper than SipHash on short keys;
//! flooding is not a concern because record keys are only looked up, never inserted.

use std::hash::{BuildHasherDefault, Hasher};

use indexmap::{IndexMap, IndexSet};

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

// `#[inline]` throughout: the hasher runs inside other crates' lookups (sa-rules' key cache),
// and without it every key costs a call.
impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

pub type FxBuildHasher = BuildHasherDefault<FxHasher>;
pub type FxIndexMap<K, V> = IndexMap<K, V, FxBuildHasher>;
/// A set of key names in configuration order (optional keys, for example).
pub type KeySet = IndexSet<String, FxBuildHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_keys_stay_distinct() {
        let keys: KeySet = [
            "eventID",
            "eventName",
            "eventTime",
            "a",
            "ab",
            "abcdefgh",
            "abcdefghi",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(keys.len(), 7);
        assert!(keys.contains("abcdefgh") && !keys.contains("abcdefg"));
    }
}
