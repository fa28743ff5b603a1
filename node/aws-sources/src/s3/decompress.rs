//! Streaming gunzip of an object whose first bytes are the gzip magic; other objects pass
//! through. Concatenated gzip members (what `cat a.gz b.gz` and many log shippers produce) are
//! all decompressed.

use std::io::Write;

use flate2::write::MultiGzDecoder;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Push-driven decoder of one object's bytes.
pub enum BodyDecoder {
    /// Fewer bytes than the magic seen so far.
    Undecided(Vec<u8>),
    /// Not gzip: bytes pass through.
    Plain,
    /// Gzip: bytes are inflated as they come.
    Gzip(Box<MultiGzDecoder<Vec<u8>>>),
}

impl BodyDecoder {
    /// A decoder that decides on the first two bytes.
    pub fn new() -> BodyDecoder {
        BodyDecoder::Undecided(Vec::new())
    }

    /// Feeds the next object bytes; returns the plain bytes available so far.
    pub fn push(&mut self, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
        if let BodyDecoder::Undecided(seen) = self {
            seen.extend_from_slice(bytes);
            if seen.len() < GZIP_MAGIC.len() {
                return Ok(Vec::new());
            }
            let seen = std::mem::take(seen);
            if seen.starts_with(&GZIP_MAGIC) {
                *self = BodyDecoder::Gzip(Box::new(MultiGzDecoder::new(Vec::new())));
            } else {
                *self = BodyDecoder::Plain;
            }
            return self.push(&seen);
        }
        match self {
            BodyDecoder::Plain => Ok(bytes.to_vec()),
            BodyDecoder::Gzip(decoder) => {
                decoder.write_all(bytes)?;
                Ok(std::mem::take(decoder.get_mut()))
            }
            BodyDecoder::Undecided(_) => unreachable!("decided above"),
        }
    }

    /// The object ended: the last plain bytes (an error if a gzip stream is cut short).
    pub fn finish(self) -> std::io::Result<Vec<u8>> {
        match self {
            BodyDecoder::Undecided(seen) => Ok(seen),
            BodyDecoder::Plain => Ok(Vec::new()),
            BodyDecoder::Gzip(decoder) => decoder.finish(),
        }
    }
}

impl Default for BodyDecoder {
    fn default() -> BodyDecoder {
        BodyDecoder::new()
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

    fn decode(bytes: &[u8], piece: usize) -> std::io::Result<Vec<u8>> {
        let mut decoder = BodyDecoder::new();
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
    fn a_truncated_gzip_stream_is_an_error() {
        let compressed = gzip(b"some text that will be cut off before its end");
        assert!(decode(&compressed[..compressed.len() - 6], 4).is_err());
    }
}
