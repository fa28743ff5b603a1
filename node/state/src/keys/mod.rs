//! The keys of the replicated state, one module per sa-raft keyspace (after TiKV's `keys`
//! module): every key a store reads or writes is a typed value here, turned into bytes by its
//! `encode` and back by its `decode`, and every prefix a store scans comes from here too. The
//! stores build no key by hand and cut none by position.
//!
//! The byte layouts are the ones sa has always stored (docs/architecture.md §4): existing data
//! dirs and running clusters read the same keys, which each module's tests pin byte for byte.
//! The `nodes` keyspace is reserved and has no keys yet.

pub mod alerts;
pub mod audit;
pub mod config;
pub mod leases;
pub mod lookups;
pub mod rules;

use std::io::Write;

use sa_raft::Keyspace;
use sa_rules::Micros;

/// A stored key that is not one of its keyspace's key families.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {} key \"{}\": {problem}", .keyspace.name(), .key.escape_ascii())]
pub struct KeyError {
    pub keyspace: Keyspace,
    /// The key as stored.
    pub key: Vec<u8>,
    pub problem: KeyProblem,
}

/// What is wrong with a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyProblem {
    #[error("it starts with no known key family")]
    UnknownFamily,
    #[error("it is not UTF-8")]
    NotUtf8,
    #[error("it has no {0}")]
    Missing(&'static str),
    #[error("its {0} is not {NUMBER_DIGITS} decimal digits of a u64")]
    BadNumber(&'static str),
    #[error("its {0} is past the microseconds an i64 holds")]
    TimeOutOfRange(&'static str),
    #[error("its {0} is empty")]
    Empty(&'static str),
    #[error("its dead letter id is not TIME-NODE-SEQUENCE")]
    DeadLetterId,
    #[error(transparent)]
    OutputName(#[from] sa_rules::OutputNameError),
}

/// Numbers in keys are zero-padded to this many digits (every u64 fits), so that their byte
/// order is their numeric order.
pub const NUMBER_DIGITS: usize = 20;

/// Appends `n` as [`NUMBER_DIGITS`] decimal digits.
fn push_number(out: &mut Vec<u8>, n: u64) {
    write!(out, "{n:020}").expect("writing to a Vec cannot fail");
}

/// A time as keys store it: µs since the epoch, a time before the epoch as 0.
fn key_micros(at: Micros) -> u64 {
    u64::try_from(at).unwrap_or(0)
}

/// `n` as [`NUMBER_DIGITS`] decimal digits, if it is exactly that.
fn parse_number(digits: &str) -> Option<u64> {
    if digits.len() != NUMBER_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The bytes of a key or of a scan prefix, built part by part.
struct KeyBytes(Vec<u8>);

impl KeyBytes {
    fn new(prefix: &str) -> Self {
        KeyBytes(prefix.as_bytes().to_vec())
    }

    fn text(mut self, text: &str) -> Self {
        self.0.extend_from_slice(text.as_bytes());
        self
    }

    fn number(mut self, n: u64) -> Self {
        push_number(&mut self.0, n);
        self
    }

    /// A time, as [`NUMBER_DIGITS`] digits of µs since the epoch (a time before it as 0), so
    /// that byte order is time order.
    fn micros(self, at: Micros) -> Self {
        self.number(key_micros(at))
    }

    fn byte(mut self, byte: u8) -> Self {
        self.0.push(byte);
        self
    }

    fn done(self) -> Vec<u8> {
        self.0
    }
}

/// One key being decoded: where its errors come from.
struct Decoding<'a> {
    keyspace: Keyspace,
    key: &'a [u8],
}

impl<'a> Decoding<'a> {
    fn new(keyspace: Keyspace, key: &'a [u8]) -> Self {
        Decoding { keyspace, key }
    }

    fn error(&self, problem: KeyProblem) -> KeyError {
        KeyError {
            keyspace: self.keyspace,
            key: self.key.to_vec(),
            problem,
        }
    }

    fn utf8(&self, bytes: &'a [u8]) -> Result<&'a str, KeyError> {
        std::str::from_utf8(bytes).map_err(|_| self.error(KeyProblem::NotUtf8))
    }

    /// The key after the first of `families`' prefixes it starts with, with that family.
    fn family<F: Copy>(
        &self,
        families: &[F],
        prefix: impl Fn(F) -> &'static str,
    ) -> Result<(F, &'a str), KeyError> {
        let text = self.utf8(self.key)?;
        families
            .iter()
            .find_map(|&family| Some((family, text.strip_prefix(prefix(family))?)))
            .ok_or_else(|| self.error(KeyProblem::UnknownFamily))
    }

    /// `text` split at its first `/` (the part before it cannot hold one).
    fn split_first(
        &self,
        text: &'a str,
        what: &'static str,
    ) -> Result<(&'a str, &'a str), KeyError> {
        text.split_once('/')
            .ok_or_else(|| self.error(KeyProblem::Missing(what)))
    }

    /// `text` split at its last `/` (the part after it cannot hold one).
    fn split_last(
        &self,
        text: &'a str,
        what: &'static str,
    ) -> Result<(&'a str, &'a str), KeyError> {
        text.rsplit_once('/')
            .ok_or_else(|| self.error(KeyProblem::Missing(what)))
    }

    fn number(&self, digits: &str, what: &'static str) -> Result<u64, KeyError> {
        parse_number(digits).ok_or_else(|| self.error(KeyProblem::BadNumber(what)))
    }

    /// A time written by [`KeyBytes::micros`].
    fn micros(&self, digits: &str, what: &'static str) -> Result<Micros, KeyError> {
        Micros::try_from(self.number(digits, what)?)
            .map_err(|_| self.error(KeyProblem::TimeOutOfRange(what)))
    }

    fn non_empty(&self, text: &'a str, what: &'static str) -> Result<String, KeyError> {
        if text.is_empty() {
            return Err(self.error(KeyProblem::Empty(what)));
        }
        Ok(text.to_owned())
    }
}

/// Checks shared by every keyspace's tests.
#[cfg(test)]
mod testing {
    use std::fmt::Debug;

    use super::*;

    /// Every key decodes back from its bytes.
    pub(super) fn assert_round_trips<K: Debug + PartialEq>(
        keys: impl IntoIterator<Item = K>,
        encode: impl Fn(&K) -> Vec<u8>,
        decode: impl Fn(&[u8]) -> Result<K, KeyError>,
    ) {
        for key in keys {
            assert_eq!(decode(&encode(&key)).as_ref(), Ok(&key), "{key:?}");
        }
    }

    /// Every malformed key is refused for its `problem`, naming `keyspace` and the key's bytes.
    pub(super) fn assert_refused<K: Debug>(
        keyspace: Keyspace,
        decode: impl Fn(&[u8]) -> Result<K, KeyError>,
        cases: &[(&[u8], KeyProblem)],
    ) {
        for (bad, problem) in cases {
            let error = decode(bad).expect_err(&bad.escape_ascii().to_string());
            assert_eq!(
                error,
                KeyError {
                    keyspace,
                    key: bad.to_vec(),
                    problem: problem.clone()
                }
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_fixed_width_so_byte_order_is_numeric_order() {
        let encode = |n| {
            let mut out = Vec::new();
            push_number(&mut out, n);
            out
        };
        assert_eq!(encode(7), b"00000000000000000007");
        assert_eq!(encode(u64::MAX), b"18446744073709551615");
        let numbers = [0, 9, 10, 999, 1_000, 1_700_000_000_000, u64::MAX];
        let encoded: Vec<Vec<u8>> = numbers.iter().map(|&n| encode(n)).collect();
        assert!(encoded.windows(2).all(|pair| pair[0] < pair[1]));
        for (n, bytes) in numbers.iter().zip(&encoded) {
            assert_eq!(parse_number(std::str::from_utf8(bytes).unwrap()), Some(*n));
        }
        for bad in [
            "7",
            "0000000000000000000x",
            "99999999999999999999",
            "+0000000000000000007",
        ] {
            assert_eq!(parse_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_key_error_names_its_keyspace_and_shows_the_bytes() {
        let error = Decoding::new(Keyspace::LookupTables, b"t\0\xff").error(KeyProblem::NotUtf8);
        assert_eq!(
            error.to_string(),
            r#"malformed lookup_tables key "t\x00\xff": it is not UTF-8"#
        );
    }
}
