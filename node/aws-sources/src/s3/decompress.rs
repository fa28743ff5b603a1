//! Streaming gunzip of an object whose first bytes are the gzip magic; other objects pass
//! through. Concatenated gzip members (what `cat a.gz b.gz` and many log shippers produce) are
//! all decompressed, up to a size and a ratio (docs/security.md: a decompression bomb meets a
//! limit, not the node's memory).

use std::io::Write;

use flate2::write::MultiGzDecoder;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Compressed bytes inflated at a time: gzip inflates at most about 1032:1, so one step makes
/// at most about 8 MiB before the limits are checked again.
const STEP: usize = 8 * 1024;

/// How far an object may inflate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecompressionLimits {
    /// Decompressed bytes of one object.
    pub max_bytes: u64,
    /// Decompressed over compressed bytes, checked once `ratio_floor` bytes came out (small
    /// objects of repetitive text legitimately compress far).
    pub max_ratio: u64,
    pub ratio_floor: u64,
}

impl Default for DecompressionLimits {
    fn default() -> Self {
        DecompressionLimits {
            max_bytes: 4 << 30,
            max_ratio: 200,
            // Logs compress 5-30:1; past 1 MiB out, 200:1 is a bomb (gzip tops out near 1032:1).
            // Checked early, so little of a bomb reaches the pipeline before it is stopped.
            ratio_floor: 1 << 20,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("gzip: {0}")]
    Gzip(#[from] std::io::Error),
    #[error(
        "decompression stopped at {decompressed} bytes from {compressed} compressed: {limit} \
         (a decompression bomb, or raise the limit)"
    )]
    Limit {
        decompressed: u64,
        compressed: u64,
        limit: String,
    },
}

/// Push-driven decoder of one object's bytes.
pub struct BodyDecoder {
    state: State,
    limits: DecompressionLimits,
    compressed: u64,
    decompressed: u64,
}

enum State {
    /// Fewer bytes than the magic seen so far.
    Undecided(Vec<u8>),
    /// Not gzip: bytes pass through.
    Plain,
    /// Gzip: bytes are inflated as they come.
    Gzip(Box<MultiGzDecoder<Vec<u8>>>),
}

impl BodyDecoder {
    /// A decoder that decides on the first two bytes.
    pub fn new(limits: DecompressionLimits) -> BodyDecoder {
        BodyDecoder {
            state: State::Undecided(Vec::new()),
            limits,
            compressed: 0,
            decompressed: 0,
        }
    }

    /// Feeds the next object bytes; returns the plain bytes available so far.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<u8>, DecodeError> {
        if let State::Undecided(seen) = &mut self.state {
            seen.extend_from_slice(bytes);
            if seen.len() < GZIP_MAGIC.len() {
                return Ok(Vec::new());
            }
            let seen = std::mem::take(seen);
            self.state = if seen.starts_with(&GZIP_MAGIC) {
                State::Gzip(Box::new(MultiGzDecoder::new(Vec::new())))
            } else {
                State::Plain
            };
            return self.push(&seen);
        }
        match &mut self.state {
            State::Plain => Ok(bytes.to_vec()),
            State::Gzip(decoder) => {
                let mut out = Vec::new();
                for step in bytes.chunks(STEP) {
                    decoder.write_all(step)?;
                    let inflated = std::mem::take(decoder.get_mut());
                    self.compressed += step.len() as u64;
                    self.decompressed += inflated.len() as u64;
                    check(&self.limits, self.compressed, self.decompressed)?;
                    out.extend_from_slice(&inflated);
                }
                Ok(out)
            }
            State::Undecided(_) => unreachable!("decided above"),
        }
    }

    /// The object ended: the last plain bytes (an error if a gzip stream is cut short).
    pub fn finish(self) -> Result<Vec<u8>, DecodeError> {
        match self.state {
            State::Undecided(seen) => Ok(seen),
            State::Plain => Ok(Vec::new()),
            State::Gzip(decoder) => {
                let rest = decoder.finish()?;
                check(
                    &self.limits,
                    self.compressed,
                    self.decompressed + rest.len() as u64,
                )?;
                Ok(rest)
            }
        }
    }
}

fn check(
    limits: &DecompressionLimits,
    compressed: u64,
    decompressed: u64,
) -> Result<(), DecodeError> {
    let limit = if decompressed > limits.max_bytes {
        format!("more than the {}-byte limit", limits.max_bytes)
    } else if decompressed > limits.ratio_floor
        && decompressed > compressed.saturating_mul(limits.max_ratio)
    {
        format!("a ratio above the {}:1 limit", limits.max_ratio)
    } else {
        return Ok(());
    };
    Err(DecodeError::Limit {
        decompressed,
        compressed,
        limit,
    })
}

impl Default for BodyDecoder {
    fn default() -> BodyDecoder {
        BodyDecoder::new(DecompressionLimits::default())
    }
}

#[cfg(test)]
mod tests {
    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn decode(bytes: &[u8], piece: usize) -> Result<Vec<u8>, DecodeError> {
        decode_limited(bytes, piece, DecompressionLimits::default())
    }

    fn decode_limited(
        bytes: &[u8],
        piece: usize,
        limits: DecompressionLimits,
    ) -> Result<Vec<u8>, DecodeError> {
        let mut decoder = BodyDecoder::new(limits);
        let mut out = Vec::new();
        for part in bytes.chunks(piece) {
            out.extend(decoder.push(part)?);
        }
        out.extend(decoder.finish()?);
        Ok(out)
    }

    #[test]
    fn gzip_is_decompressed_in_any_piece_size_and_members_concatenate() {
        let text: Vec<u8> = (0..2000)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let mut two_members = gzip(&text[..5000]);
        two_members.extend(gzip(&text[5000..]));
        for piece in [1, 2, 5, 1000, 100_000] {
            assert_eq!(decode(&gzip(&text), piece).unwrap(), text);
            assert_eq!(decode(&two_members, piece).unwrap(), text);
        }
    }

    #[test]
    fn plain_bytes_pass_through() {
        for content in [&b""[..], b"x", b"\x1f", b"plain text\n"] {
            assert_eq!(decode(content, 1).unwrap(), content);
        }
    }

    #[test]
    fn a_bomb_stops_at_the_ratio_and_big_objects_at_the_size() {
        // 64 MiB of zeros: about 64 KiB compressed, a ratio near 1000:1.
        let bomb = gzip(&vec![0u8; 64 << 20]);
        let error = decode(&bomb, 1 << 20).unwrap_err();
        assert!(
            matches!(&error, DecodeError::Limit { decompressed, .. } if *decompressed <= 9 << 20),
            "{error}"
        );
        assert!(
            error.to_string().contains("ratio above the 200:1 limit"),
            "{error}"
        );

        let text: Vec<u8> = (0..200_000)
            .flat_map(|i| format!("{{\"n\": {i}}}\n").into_bytes())
            .collect();
        let limits = DecompressionLimits {
            max_bytes: 1 << 20,
            ..DecompressionLimits::default()
        };
        let error = decode_limited(&gzip(&text), 4096, limits).unwrap_err();
        assert!(error.to_string().contains("1048576-byte limit"), "{error}");
        assert_eq!(
            decode(&gzip(&text), 4096).unwrap(),
            text,
            "within the limits"
        );
    }

    #[test]
    fn a_truncated_gzip_stream_is_an_error() {
        let compressed = gzip(b"some text that will be cut off before its end");
        assert!(decode(&compressed[..compressed.len() - 6], 4).is_err());
    }
}
