//! JSON text to `serde_json::Value` on the classifier's hot path, with exactly serde_json's
//! results (value, key order, duplicate keys, numbers, errors) at a fraction of its cost.
//!
//! sonic-rs scans the text into its arena-backed value; the copy into `serde_json::Value` then
//! sizes every map and list up front, so no `IndexMap` grows or rehashes. Where sonic-rs and
//! serde_json disagree, serde_json decides:
//! - nesting: sonic-rs recurses without a limit, with large frames (over 16 KB per level in a
//!   debug build), so only shallow documents (all real logs) reach it; serde_json reads the
//!   others and refuses depth 128 and beyond;
//! - `-0`: sonic-rs drops the sign of a zero, so a document holding a float zero is re-read by
//!   serde_json;
//! - anything sonic-rs rejects is re-read by serde_json, which then accepts or rejects it.

use serde_json::{Map, Number, Value};
use sonic_rs::{JsonContainerTrait, JsonNumberTrait, JsonValueTrait};

/// Deepest nesting handed to sonic-rs: its recursion stays within a small share of a 2 MB
/// thread stack (measured: under 3 KB per level in release, about 20 KB in debug).
const SONIC_MAX_DEPTH: usize = if cfg!(debug_assertions) { 16 } else { 64 };

/// Decodes `bytes` as one JSON document, like `serde_json::from_slice::<Value>(bytes).ok()`.
pub fn decode(bytes: &[u8]) -> Option<Value> {
    if shallow(bytes, SONIC_MAX_DEPTH)
        && let Ok(scanned) = sonic_rs::from_slice::<sonic_rs::Value>(bytes)
        && let Some(value) = copy(&scanned)
    {
        return Some(value);
    }
    serde_json::from_slice(bytes).ok()
}

/// [`decode`] for text.
pub fn decode_str(text: &str) -> Option<Value> {
    decode(text.as_bytes())
}

/// Whether no array or object in `bytes` nests deeper than `limit`.
fn shallow(bytes: &[u8], limit: usize) -> bool {
    // The count of opening brackets bounds the depth and costs a vectorized pass; only
    // documents with many brackets (S3 objects of many records) need the exact scan.
    openings(bytes) <= limit || max_depth(bytes) <= limit
}

/// The number of `[` and `{` bytes. `b | 0x20` maps `[` onto `{` and nothing else onto it; byte
/// counters over blocks of 255 let the compiler vectorize the loop.
fn openings(bytes: &[u8]) -> usize {
    bytes
        .chunks(255)
        .map(|block| {
            let count = block
                .iter()
                .fold(0u8, |n, &b| n.wrapping_add(u8::from((b | 0x20) == b'{')));
            usize::from(count)
        })
        .sum()
}

/// The deepest nesting of arrays and objects outside strings (a lower bound for malformed text,
/// which sonic-rs rejects anyway, but never below the real depth of a valid document).
fn max_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    // An escape swallows the next byte, so `\"` does not end the string.
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            _ => {}
        }
        i += 1;
    }
    deepest
}

/// The serde_json value of a scanned one; `None` when serde_json must decide (a float zero,
/// whose sign sonic-rs loses).
fn copy(value: &sonic_rs::Value) -> Option<Value> {
    if let Some(object) = value.as_object() {
        let mut map = Map::with_capacity(object.len());
        for (key, item) in object.iter() {
            // insert keeps the first position and the last value of a duplicate key, as serde_json.
            map.insert(key.to_owned(), copy(item)?);
        }
        return Some(Value::Object(map));
    }
    if let Some(array) = value.as_array() {
        let mut items = Vec::with_capacity(array.len());
        for item in array.iter() {
            items.push(copy(item)?);
        }
        return Some(Value::Array(items));
    }
    if let Some(text) = value.as_str() {
        return Some(Value::String(text.to_owned()));
    }
    if let Some(number) = value.as_number() {
        return if let Some(u) = number.as_u64() {
            Some(Value::from(u))
        } else if let Some(i) = number.as_i64() {
            Some(Value::from(i))
        } else {
            let float = number.as_f64()?;
            if float == 0.0 {
                return None;
            }
            Number::from_f64(float).map(Value::Number)
        };
    }
    if let Some(flag) = value.as_bool() {
        return Some(Value::Bool(flag));
    }
    Some(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value and its debug form (which tells `1` from `1.0` and `-0.0` from `0.0`).
    fn serde(bytes: &[u8]) -> Option<(Value, String)> {
        serde_json::from_slice::<Value>(bytes)
            .ok()
            .map(|v| (v.clone(), format!("{v:?}")))
    }

    fn ours(bytes: &[u8]) -> Option<(Value, String)> {
        decode(bytes).map(|v| (v.clone(), format!("{v:?}")))
    }

    fn assert_same(bytes: &[u8]) {
        assert_eq!(
            ours(bytes),
            serde(bytes),
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
    }

    #[test]
    fn agrees_with_serde_json_on_edge_cases() {
        let cases: &[&[u8]] = &[
            br#"{"b": 1, "a": [true, false, null], "c": {"d": "e"}}"#,
            br#"{"a": 1, "a": 2, "b": 3}"#,
            b"-0",
            b"[-0]",
            b"-0.0",
            b"0.0",
            b"0e5",
            b"[0, -1, 1.5, -2.5e-3]",
            b"1e400",
            b"-1e-400",
            b"4.9e-325",
            b"18446744073709551615",
            b"18446744073709551616",
            b"-9223372036854775808",
            b"-9223372036854775809",
            b"123456789012345678901234567890",
            b"9007199254740993",
            b"0.30000000000000004",
            b"NaN",
            b"01",
            b"1.",
            b".5",
            b"+1",
            b"[1,]",
            br#"{"a":1,}"#,
            b" {} ",
            b"{} x",
            b"\xef\xbb\xbf{}",
            b"\"\xff\"",
            b"\"\x00\"",
            b"\"x\ty\"",
            b"\"\\u0000\"",
            b"\"\\ud800\"",
            b"\"\\udc00x\"",
            b"\"\\uD83D\\uDE00\"",
            b"\"\\uD83Dx\"",
            b"\"\\x\"",
            b"\"\x7f\"",
            b"",
            b"   ",
            b"nul",
            b"\x0c{}",
            b"{}\x0c",
            b"\t[1]\r\n",
            br#"{"a \" [[[": "]]] \\", "b": ["{", "}"]}"#,
            br#""unterminated"#,
        ];
        for case in cases {
            assert_same(case);
        }
    }

    #[test]
    fn deep_nesting_follows_serde_json_without_overflowing() {
        let limits = [SONIC_MAX_DEPTH, SONIC_MAX_DEPTH + 1];
        for depth in limits
            .into_iter()
            .chain([126, 127, 128, 129, 1_000, 200_000])
        {
            let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            assert_same(arrays.as_bytes());
            let objects = format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
            assert_same(objects.as_bytes());
            assert_same("[".repeat(depth).as_bytes());
        }
        // Brackets inside strings do not count as nesting.
        let quoted = format!(r#"["{}"]"#, "[".repeat(500));
        assert!(decode(quoted.as_bytes()).is_some());
    }

    #[test]
    fn openings_count_brackets_and_braces_only() {
        let text = "[{x}] {[ ]} ;:[{";
        let expected = text.bytes().filter(|&b| b == b'[' || b == b'{').count();
        assert_eq!(openings(text.as_bytes()), expected);
        let all: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let expected = all.iter().filter(|&&b| b == b'[' || b == b'{').count();
        assert_eq!(openings(&all), expected);
        assert_eq!(openings(&[b'{'; 1000]), 1000);
    }

    #[test]
    fn numbers_decode_to_the_same_bits_as_serde_json() {
        let mut rng = fastrand::Rng::with_seed(0x5a_5a);
        for i in 0..100_000 {
            let text = match i % 4 {
                0 => format!("{}", f64::from_bits(rng.u64(..))),
                1 => format!("{:e}", f64::from_bits(rng.u64(..))),
                2 => format!("{}e{}", rng.u64(..), rng.i32(-350..350)),
                _ => format!("{}.{}", rng.u32(..100_000), rng.u64(..)),
            };
            let text = format!("[{text}, -{text}]");
            assert_same(text.as_bytes());
        }
    }

    #[test]
    fn agrees_with_serde_json_on_mutated_documents() {
        let seed = br#"{"eventVersion": "1.08", "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/a\"b", "n": [1, 2.5, -3, true, null, "\u00e9"]}, "empty": {}, "list": []}"#;
        let mut rng = fastrand::Rng::with_seed(7);
        let alphabet = b"{}[]\",:\\-0123456789.eE+ tfnu\x00\xff";
        for _ in 0..20_000 {
            let mut doc = seed.to_vec();
            for _ in 0..rng.usize(1..4) {
                let at = rng.usize(..doc.len());
                match rng.u8(..3) {
                    0 => doc[at] = alphabet[rng.usize(..alphabet.len())],
                    1 => {
                        doc.remove(at);
                    }
                    _ => doc.insert(at, alphabet[rng.usize(..alphabet.len())]),
                }
            }
            assert_same(&doc);
        }
    }
}
