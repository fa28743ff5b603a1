//! Cuts an object's (decompressed) bytes into payload records as they stream in, with
//! StreamAlert's rules (docs/spec §4): one JSON document is one record; otherwise, if the first
//! line is JSON, every line is a JSON record; otherwise every raw line (with its newline) is one.
//!
//! Only a JSON document spanning several lines needs the whole object in memory (up to a limit);
//! lines are emitted as soon as they are complete.

use serde_json::Value;
use serde_json::error::Category;

/// One payload record cut from an object.
#[derive(Debug, Clone, PartialEq)]
pub enum PayloadBody {
    /// A JSON document or JSON line, decoded.
    Json(Value),
    /// A line of a non-JSON object, as bytes, with its trailing newline if it had one.
    Raw(Vec<u8>),
    /// A line of a JSON-lines object that is not JSON (StreamAlert fails the whole object; sa
    /// dead-letters the line and goes on).
    BadJsonLine { line: Vec<u8>, reason: String },
}

/// A payload record and where it was in its object.
#[derive(Debug, Clone, PartialEq)]
pub struct FramedPayload {
    /// 0-based: the line number for line-oriented objects, 0 for a whole document.
    pub index: u64,
    /// The record itself.
    pub body: PayloadBody,
    /// Bytes of the object this record came from (to size chunks).
    pub source_len: usize,
}

/// Why an object cannot be framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FramingError {
    /// A multi-line JSON document is longer than `limit` bytes.
    DocumentTooLarge { limit: usize },
    /// Line `line` (1-based) is longer than `limit` bytes.
    LineTooLong { line: u64, limit: usize },
}

#[derive(Debug)]
enum Mode {
    /// Waiting for the first line.
    Detecting,
    /// The first line is JSON; whether more follows decides document vs JSON lines.
    FirstLineJson {
        first: Value,
        first_len: usize,
    },
    /// The first line opens a JSON value that it does not close: buffer the whole object.
    Document,
    JsonLines,
    RawLines,
}

/// Push-driven framer of one object.
#[derive(Debug)]
pub struct ObjectFramer {
    mode: Mode,
    buffer: Vec<u8>,
    next_index: u64,
    max_document_bytes: usize,
    max_line_bytes: usize,
}

impl ObjectFramer {
    /// A framer holding at most `max_document_bytes` of a multi-line document and
    /// `max_line_bytes` of an unfinished line.
    pub fn new(max_document_bytes: usize, max_line_bytes: usize) -> ObjectFramer {
        ObjectFramer {
            mode: Mode::Detecting,
            buffer: Vec::new(),
            next_index: 0,
            max_document_bytes,
            max_line_bytes,
        }
    }

    /// Feeds the next bytes; complete records are appended to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<FramedPayload>) -> Result<(), FramingError> {
        self.buffer.extend_from_slice(bytes);
        loop {
            match &self.mode {
                Mode::Detecting => {
                    let Some(end) = newline(&self.buffer) else {
                        return self.check_pending_line();
                    };
                    self.mode = match serde_json::from_slice::<Value>(&self.buffer[..=end]) {
                        Ok(first) => {
                            self.buffer.drain(..=end);
                            Mode::FirstLineJson {
                                first,
                                first_len: end + 1,
                            }
                        }
                        Err(e) if e.classify() == Category::Eof => Mode::Document,
                        Err(_) => Mode::RawLines,
                    };
                }
                Mode::FirstLineJson { .. } => {
                    let more = self.buffer.iter().any(|b| !b.is_ascii_whitespace());
                    if !more && self.buffer.len() <= self.max_line_bytes {
                        return Ok(());
                    }
                    let Mode::FirstLineJson { first, first_len } =
                        std::mem::replace(&mut self.mode, Mode::JsonLines)
                    else {
                        unreachable!("matched above");
                    };
                    self.emit(out, PayloadBody::Json(first), first_len);
                }
                Mode::Document => {
                    if self.buffer.len() <= self.max_document_bytes {
                        return Ok(());
                    }
                    match serde_json::from_slice::<Value>(&self.buffer) {
                        Err(e) if e.classify() == Category::Eof => {
                            return Err(FramingError::DocumentTooLarge {
                                limit: self.max_document_bytes,
                            });
                        }
                        // Not a document after all (the first line only looked like the start
                        // of one): its lines are raw, as StreamAlert reads them.
                        _ => self.mode = Mode::RawLines,
                    }
                }
                Mode::JsonLines | Mode::RawLines => {
                    while let Some(end) = newline(&self.buffer) {
                        let line: Vec<u8> = self.buffer.drain(..=end).collect();
                        self.emit_line(out, line);
                    }
                    return self.check_pending_line();
                }
            }
        }
    }

    /// The object ended: emits what is left.
    pub fn finish(mut self, out: &mut Vec<FramedPayload>) -> Result<(), FramingError> {
        match std::mem::replace(&mut self.mode, Mode::RawLines) {
            Mode::Detecting | Mode::Document => {
                if self.buffer.iter().all(u8::is_ascii_whitespace) {
                    if !self.buffer.is_empty() {
                        // blank content: StreamAlert's line fallback yields the raw lines
                        self.emit_lines(out);
                    }
                    return Ok(());
                }
                match serde_json::from_slice::<Value>(&self.buffer) {
                    Ok(document) => {
                        let len = self.buffer.len();
                        self.emit(out, PayloadBody::Json(document), len);
                    }
                    Err(_) => self.emit_lines(out),
                }
            }
            Mode::FirstLineJson { first, first_len } => {
                // only whitespace followed the first line: the object is one JSON document
                self.emit(out, PayloadBody::Json(first), first_len + self.buffer.len());
            }
            Mode::JsonLines => {
                self.mode = Mode::JsonLines;
                self.emit_lines(out);
            }
            Mode::RawLines => self.emit_lines(out),
        }
        Ok(())
    }

    fn emit_lines(&mut self, out: &mut Vec<FramedPayload>) {
        let rest = std::mem::take(&mut self.buffer);
        for line in rest.split_inclusive(|b| *b == b'\n') {
            self.emit_line(out, line.to_vec());
        }
    }

    fn emit_line(&mut self, out: &mut Vec<FramedPayload>, line: Vec<u8>) {
        let len = line.len();
        let body = match self.mode {
            Mode::JsonLines => match serde_json::from_slice::<Value>(&line) {
                Ok(value) => PayloadBody::Json(value),
                Err(e) => PayloadBody::BadJsonLine {
                    reason: format!("line {} is not JSON: {e}", self.next_index + 1),
                    line,
                },
            },
            _ => PayloadBody::Raw(line),
        };
        self.emit(out, body, len);
    }

    fn emit(&mut self, out: &mut Vec<FramedPayload>, body: PayloadBody, source_len: usize) {
        out.push(FramedPayload {
            index: self.next_index,
            body,
            source_len,
        });
        self.next_index += 1;
    }

    fn check_pending_line(&self) -> Result<(), FramingError> {
        if self.buffer.len() > self.max_line_bytes {
            return Err(FramingError::LineTooLong {
                line: self.next_index + 1,
                limit: self.max_line_bytes,
            });
        }
        Ok(())
    }
}

fn newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|b| *b == b'\n')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Frames `content` fed in pieces of `piece` bytes.
    fn frame(content: &[u8], piece: usize) -> Result<Vec<(u64, PayloadBody)>, FramingError> {
        let mut framer = ObjectFramer::new(1024, 256);
        let mut out = Vec::new();
        for part in content.chunks(piece.max(1)) {
            framer.push(part, &mut out)?;
        }
        framer.finish(&mut out)?;
        Ok(out.into_iter().map(|p| (p.index, p.body)).collect())
    }

    /// The same content must frame the same way however it is split.
    fn frame_all_ways(content: &[u8]) -> Result<Vec<(u64, PayloadBody)>, FramingError> {
        let whole = frame(content, content.len());
        for piece in [1, 2, 3, 7, 64] {
            assert_eq!(frame(content, piece), whole, "piece {piece}");
        }
        whole
    }

    fn raw(s: &str) -> PayloadBody {
        PayloadBody::Raw(s.as_bytes().to_vec())
    }

    #[test]
    fn a_one_line_document_is_one_record() {
        let cloudtrail = br#"{"Records": [{"eventName": "a"}, {"eventName": "b"}]}"#;
        assert_eq!(
            frame_all_ways(cloudtrail).unwrap(),
            vec![(
                0,
                PayloadBody::Json(json!({"Records": [{"eventName": "a"}, {"eventName": "b"}]}))
            )]
        );
        let with_newline = b"{\"a\": 1}\n\n  \n";
        assert_eq!(
            frame_all_ways(with_newline).unwrap(),
            vec![(0, PayloadBody::Json(json!({"a": 1})))]
        );
    }

    #[test]
    fn a_pretty_printed_document_is_one_record() {
        let pretty = b"{\n  \"Records\": [\n    {\"x\": 1}\n  ]\n}\n";
        assert_eq!(
            frame_all_ways(pretty).unwrap(),
            vec![(0, PayloadBody::Json(json!({"Records": [{"x": 1}]})))]
        );
    }

    #[test]
    fn json_lines_are_records_and_a_bad_line_is_kept_apart() {
        let content = b"{\"n\": 1}\n{\"n\": 2}\nnot json\n{\"n\": 4}";
        let got = frame_all_ways(content).unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!(got[0], (0, PayloadBody::Json(json!({"n": 1}))));
        assert_eq!(got[1], (1, PayloadBody::Json(json!({"n": 2}))));
        match &got[2] {
            (2, PayloadBody::BadJsonLine { line, reason }) => {
                assert_eq!(line, b"not json\n");
                assert!(reason.starts_with("line 3 is not JSON"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(got[3], (3, PayloadBody::Json(json!({"n": 4}))));
    }

    #[test]
    fn other_content_is_raw_lines_with_their_newlines() {
        let csv = b"time,user,action\n1,alice,login\n2,bob,logout";
        assert_eq!(
            frame_all_ways(csv).unwrap(),
            vec![
                (0, raw("time,user,action\n")),
                (1, raw("1,alice,login\n")),
                (2, raw("2,bob,logout")),
            ]
        );
        // looks like JSON on the first line, but is not a document
        let braces = b"{foo} bar\n{baz}\n";
        assert_eq!(
            frame_all_ways(braces).unwrap(),
            vec![(0, raw("{foo} bar\n")), (1, raw("{baz}\n"))]
        );
        // opens a document that never closes properly: raw lines
        let broken = b"{\n\"a\": 1\n}\n}\n";
        assert_eq!(frame_all_ways(broken).unwrap().len(), 4);
        assert_eq!(frame_all_ways(b"").unwrap(), vec![]);
    }

    #[test]
    fn limits_give_clear_errors() {
        let mut framer = ObjectFramer::new(64, 32);
        let mut out = Vec::new();
        let mut big_document = b"{\n".to_vec();
        big_document.extend(std::iter::repeat_n(b"\"k\": 1,\n".as_slice(), 20).flatten());
        assert_eq!(
            framer.push(&big_document, &mut out),
            Err(FramingError::DocumentTooLarge { limit: 64 })
        );
        let mut framer = ObjectFramer::new(1024, 32);
        let long = [b"short\n".as_slice(), &[b'x'; 40]].concat();
        assert_eq!(
            framer.push(&long, &mut out),
            Err(FramingError::LineTooLong { line: 2, limit: 32 })
        );
    }

    #[test]
    fn a_large_not_a_document_object_falls_back_to_lines_past_the_document_limit() {
        let mut content = b"{\n".to_vec();
        for i in 0..40 {
            content.extend_from_slice(format!("}} line {i}\n").as_bytes());
        }
        let mut framer = ObjectFramer::new(64, 32);
        let mut out = Vec::new();
        framer.push(&content, &mut out).unwrap();
        framer.finish(&mut out).unwrap();
        assert_eq!(out.len(), 41);
    }

    /// StreamAlert's rule over the whole content at once (docs/spec §4), the oracle the
    /// streaming framer must agree with.
    fn whole_object_oracle(content: &[u8]) -> Vec<(u64, PayloadBody)> {
        if content.is_empty() {
            return Vec::new();
        }
        if let Ok(document) = serde_json::from_slice::<Value>(content) {
            return vec![(0, PayloadBody::Json(document))];
        }
        let lines: Vec<&[u8]> = content.split_inclusive(|b| *b == b'\n').collect();
        let json_lines = serde_json::from_slice::<Value>(lines[0]).is_ok();
        lines
            .into_iter()
            .enumerate()
            .map(|(i, line)| {
                let body = if !json_lines {
                    PayloadBody::Raw(line.to_vec())
                } else {
                    match serde_json::from_slice::<Value>(line) {
                        Ok(value) => PayloadBody::Json(value),
                        Err(e) => PayloadBody::BadJsonLine {
                            line: line.to_vec(),
                            reason: format!("line {} is not JSON: {e}", i + 1),
                        },
                    }
                };
                (i as u64, body)
            })
            .collect()
    }

    #[test]
    fn streaming_agrees_with_the_whole_object_rule_on_random_objects() {
        let palette: &[&str] = &[
            "{\"a\": 1}",
            "{\"Records\": [{\"x\": \"y\"}]}",
            "[1, 2]",
            "\"text\"",
            "42",
            "{",
            "}",
            "\"k\": [",
            "],",
            "plain text",
            "1,alice,login",
            "{foo} bar",
            "",
            "   ",
        ];
        let mut rng = fastrand::Rng::with_seed(11);
        for _ in 0..3000 {
            let lines = rng.usize(1..6);
            let mut content = Vec::new();
            for i in 0..lines {
                content.extend_from_slice(palette[rng.usize(..palette.len())].as_bytes());
                if i + 1 < lines || rng.bool() {
                    content.push(b'\n');
                }
            }
            let mut framer = ObjectFramer::new(1 << 20, 1 << 20);
            let mut out = Vec::new();
            let mut rest = content.as_slice();
            while !rest.is_empty() {
                let (piece, tail) = rest.split_at(rng.usize(1..=rest.len()));
                framer.push(piece, &mut out).unwrap();
                rest = tail;
            }
            framer.finish(&mut out).unwrap();
            let got: Vec<(u64, PayloadBody)> = out.into_iter().map(|p| (p.index, p.body)).collect();
            assert_eq!(
                got,
                whole_object_oracle(&content),
                "{:?}",
                String::from_utf8_lossy(&content)
            );
        }
    }
}
