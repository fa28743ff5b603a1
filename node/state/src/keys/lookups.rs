//! Keys of the `lookup_tables` keyspace (docs/spec §14). A table's entries live in one
//! generation at a time, so that a replacement of any size, written in many commands, becomes
//! visible at once (lookup_store.rs):
//! - an entry of generation 0 is `{table}\0{key}`, as sa has always stored them;
//! - an entry of generation `g` > 0 is `{table}\x01{g:020}\0{key}`;
//! - the current generation of a table that has been replaced is `\x01{table}`, its value the
//!   generation as [`super::NUMBER_DIGITS`] digits.
//!
//! A table name is not empty and holds neither NUL nor `\x01`, so a generation's entries are
//! exactly the keys starting with [`table_prefix`], sorted by their key, and no table's keys
//! start with `\x01`.

use sa_raft::Keyspace;

use super::{Decoding, KeyBytes, KeyError, KeyProblem, parse_number, push_number};

const SEPARATOR: u8 = 0;
const GENERATION_MARK: u8 = 1;

/// Whether `table` can name a lookup table.
pub fn is_table_name(table: &str) -> bool {
    !table.is_empty()
        && !table
            .as_bytes()
            .iter()
            .any(|&b| b == SEPARATOR || b == GENERATION_MARK)
}

/// What the keys of `table`'s entries in `generation` start with.
pub fn table_prefix(table: &str, generation: u64) -> Vec<u8> {
    table_part(table, generation).byte(SEPARATOR).done()
}

/// What the keys of every generation of `table` above 0 start with.
pub fn generations_prefix(table: &str) -> Vec<u8> {
    KeyBytes::new(table).byte(GENERATION_MARK).done()
}

/// The first key of a generation of `table` above `generation` (when one has entries).
pub fn after_generation(table: &str, generation: u64) -> Vec<u8> {
    // `\x01` sorts after the separator (`\0`) that ends the generation's own prefix.
    table_part(table, generation).byte(GENERATION_MARK).done()
}

fn table_part(table: &str, generation: u64) -> KeyBytes {
    let part = KeyBytes::new(table);
    if generation == 0 {
        part
    } else {
        part.byte(GENERATION_MARK).number(generation)
    }
}

/// A key of the `lookup_tables` keyspace: one entry of one generation of a table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LookupKey {
    pub table: String,
    pub generation: u64,
    pub key: String,
}

impl LookupKey {
    pub fn new(table: &str, generation: u64, key: &str) -> Self {
        LookupKey {
            table: table.to_owned(),
            generation,
            key: key.to_owned(),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        table_part(&self.table, self.generation)
            .byte(SEPARATOR)
            .text(&self.key)
            .done()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, KeyError> {
        let d = Decoding::new(Keyspace::LookupTables, bytes);
        let end = bytes
            .iter()
            .position(|&b| b == SEPARATOR)
            .ok_or_else(|| d.error(KeyProblem::Missing("NUL after the table")))?;
        let head = d.utf8(&bytes[..end])?;
        let (table, generation) = match head.split_once(char::from(GENERATION_MARK)) {
            None => (head, 0),
            Some((table, digits)) => (table, d.number(digits, "generation")?),
        };
        Ok(LookupKey {
            table: d.non_empty(table, "table")?,
            generation,
            key: d.utf8(&bytes[end + 1..])?.to_owned(),
        })
    }
}

/// The key holding a table's current generation (absent: generation 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerationKey {
    pub table: String,
}

impl GenerationKey {
    pub fn new(table: &str) -> Self {
        GenerationKey {
            table: table.to_owned(),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut key = vec![GENERATION_MARK];
        key.extend_from_slice(self.table.as_bytes());
        key
    }

    /// Whether a key of the keyspace is a generation key rather than an entry.
    pub fn is_one(key: &[u8]) -> bool {
        key.first() == Some(&GENERATION_MARK)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, KeyError> {
        let d = Decoding::new(Keyspace::LookupTables, bytes);
        let table = bytes
            .strip_prefix(&[GENERATION_MARK])
            .ok_or_else(|| d.error(KeyProblem::UnknownFamily))?;
        Ok(GenerationKey {
            table: d.non_empty(d.utf8(table)?, "table")?,
        })
    }

    pub fn encode_value(generation: u64) -> Vec<u8> {
        let mut value = Vec::new();
        push_number(&mut value, generation);
        value
    }

    pub fn decode_value(&self, value: &[u8]) -> Result<u64, KeyError> {
        let key = self.encode();
        let d = Decoding::new(Keyspace::LookupTables, &key);
        std::str::from_utf8(value)
            .ok()
            .and_then(parse_number)
            .ok_or_else(|| d.error(KeyProblem::BadNumber("generation value")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::testing::{assert_refused, assert_round_trips};

    #[test]
    fn an_entry_encodes_to_the_bytes_stored_today() {
        assert_eq!(
            LookupKey::new("ips", 0, "10.0.0.1").encode(),
            b"ips\x0010.0.0.1"
        );
        assert_eq!(LookupKey::new("t", 0, "").encode(), b"t\x00");
        assert_eq!(table_prefix("ips", 0), b"ips\x00");
        assert_eq!(
            LookupKey::new("ips", 7, "k").encode(),
            b"ips\x0100000000000000000007\x00k"
        );
        assert_eq!(table_prefix("ips", 7), b"ips\x0100000000000000000007\x00");
        assert_eq!(generations_prefix("ips"), b"ips\x01");
        assert_eq!(GenerationKey::new("ips").encode(), b"\x01ips");
        assert_eq!(GenerationKey::encode_value(7), b"00000000000000000007");
    }

    #[test]
    fn an_entry_decodes_what_it_encodes() {
        let keys = [
            ("ips", "10.0.0.1"),
            ("t", ""),
            ("a:b/c", "k\0with nul"),
            ("é", "ü"),
        ]
        .into_iter()
        .flat_map(|(table, key)| [0, 1, u64::MAX].map(|g| LookupKey::new(table, g, key)));
        assert_round_trips(keys, LookupKey::encode, LookupKey::decode);
        let tables = ["ips", "é"].map(GenerationKey::new);
        assert_round_trips(tables, GenerationKey::encode, GenerationKey::decode);
        let key = GenerationKey::new("ips");
        assert_eq!(key.decode_value(&GenerationKey::encode_value(42)), Ok(42));
        assert!(key.decode_value(b"42").is_err());
    }

    #[test]
    fn malformed_keys_are_refused_with_the_keyspace_and_the_bytes() {
        assert_refused(
            Keyspace::LookupTables,
            LookupKey::decode,
            &[
                (b"no-separator", KeyProblem::Missing("NUL after the table")),
                (b"\0key", KeyProblem::Empty("table")),
                (b"t\0\xff", KeyProblem::NotUtf8),
                (b"t\x01x\0k", KeyProblem::BadNumber("generation")),
                (b"\x0100000000000000000007\0k", KeyProblem::Empty("table")),
            ],
        );
        assert_refused(
            Keyspace::LookupTables,
            GenerationKey::decode,
            &[
                (b"t", KeyProblem::UnknownFamily),
                (b"\x01", KeyProblem::Empty("table")),
            ],
        );
        assert!(is_table_name("ips"));
        assert!(!is_table_name(""));
        assert!(!is_table_name("a\0b"));
        assert!(!is_table_name("a\u{1}b"));
    }

    #[test]
    fn a_generations_entries_sort_by_key_and_its_prefix_holds_no_other_generation_or_table() {
        let entries = [
            LookupKey::new("a", 2, "b"),
            LookupKey::new("ab", 2, "a"),
            LookupKey::new("a", 2, ""),
            LookupKey::new("a", 2, "a\u{1}"),
            LookupKey::new("a", 2, "a"),
            LookupKey::new("a", 0, "a"),
            LookupKey::new("a", 3, "a"),
            LookupKey::new("a", 20, "a"),
            LookupKey::new("b", 2, "a"),
        ];
        let of = |prefix: &[u8]| -> Vec<LookupKey> {
            let mut keys: Vec<Vec<u8>> = entries
                .iter()
                .map(LookupKey::encode)
                .filter(|key| key.starts_with(prefix))
                .collect();
            keys.sort();
            keys.iter()
                .map(|key| LookupKey::decode(key).unwrap())
                .collect()
        };
        let keys: Vec<String> = of(&table_prefix("a", 2))
            .into_iter()
            .map(|key| key.key)
            .collect();
        assert_eq!(keys, ["", "a", "a\u{1}", "b"]);
        let generations: Vec<u64> = of(&generations_prefix("a"))
            .into_iter()
            .map(|key| key.generation)
            .collect();
        assert_eq!(generations, [2, 2, 2, 2, 3, 20]);
        // The first key after generation 2's entries is the next generation's first.
        let mut all: Vec<Vec<u8>> = entries.iter().map(LookupKey::encode).collect();
        all.sort();
        let after = after_generation("a", 2);
        let next = all.iter().find(|key| **key >= after).unwrap();
        assert_eq!(
            LookupKey::decode(next).unwrap(),
            LookupKey::new("a", 3, "a")
        );
        assert!(GenerationKey::is_one(&GenerationKey::new("a").encode()));
        assert!(!GenerationKey::is_one(&LookupKey::new("a", 2, "").encode()));
    }
}
