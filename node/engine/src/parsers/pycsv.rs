//! A port of CPython's `csv.reader` state machine (`Modules/_csv.c`, 3.7) for one dialect:
//! `doublequote=True`, `skipinitialspace=False`, `strict=False`, `QUOTE_MINIMAL`. The input is read
//! line by line as `io.StringIO` yields it (split after each `\n`); a quoted field may span lines.

/// Delimiter, quote and escape characters (docs/spec §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CsvDialect {
    pub delimiter: char,
    pub quotechar: char,
    pub escapechar: Option<char>,
}

impl Default for CsvDialect {
    fn default() -> CsvDialect {
        CsvDialect {
            delimiter: ',',
            quotechar: '"',
            escapechar: None,
        }
    }
}

const FIELD_LIMIT: usize = 131_072;

#[derive(Clone, Copy, PartialEq)]
enum State {
    StartRecord,
    StartField,
    EscapedChar,
    AfterEscapedCrnl,
    InField,
    InQuotedField,
    EscapeInQuotedField,
    QuoteInQuotedField,
    EatCrnl,
}

/// End of line, the NUL that CPython feeds the state machine after each line.
const EOL: char = '\0';

/// CPython's `csv.Error` messages, for the inputs that raise one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    #[error("field larger than field limit ({FIELD_LIMIT})")]
    FieldLimit,
    #[error("new-line character seen in unquoted field")]
    NewlineInUnquotedField,
    #[error("line contains NUL")]
    Nul,
}

struct Machine {
    dialect: CsvDialect,
    state: State,
    field: String,
    fields: Vec<String>,
}

impl Machine {
    fn save_field(&mut self) {
        // Copy out at the exact size and keep the grown buffer for the next field.
        self.fields.push(self.field.clone());
        self.field.clear();
    }

    /// A line end closes the field: after `\n` or `\r` the rest of the line ending is eaten;
    /// after the end-of-line NUL the next record starts.
    fn save_field_at_line_end(&mut self, c: char) {
        self.save_field();
        self.state = if c == EOL {
            State::StartRecord
        } else {
            State::EatCrnl
        };
    }

    fn add_char(&mut self, c: char) -> Result<(), CsvError> {
        if self.field.len() >= FIELD_LIMIT {
            return Err(CsvError::FieldLimit);
        }
        self.field.push(c);
        Ok(())
    }

    fn process(&mut self, c: char) -> Result<(), CsvError> {
        let d = self.dialect;
        let is_eol = |c: char| c == '\n' || c == '\r' || c == EOL;
        let mut state = self.state;
        loop {
            match state {
                State::StartRecord => {
                    if c == EOL {
                        break;
                    }
                    if c == '\n' || c == '\r' {
                        self.state = State::EatCrnl;
                        break;
                    }
                    state = State::StartField;
                }
                State::EscapedChar => {
                    if c == '\n' || c == '\r' {
                        self.add_char(c)?;
                        self.state = State::AfterEscapedCrnl;
                        break;
                    }
                    self.add_char(if c == EOL { '\n' } else { c })?;
                    self.state = State::InField;
                    break;
                }
                State::AfterEscapedCrnl => {
                    if c == EOL {
                        break;
                    }
                    state = State::InField;
                }
                // CPython's START_FIELD is IN_FIELD plus one test: a field that opens with the
                // quote character is quoted (line ends are tested first in both).
                State::StartField if c == d.quotechar && !is_eol(c) => {
                    self.state = State::InQuotedField;
                    break;
                }
                State::StartField | State::InField => {
                    if is_eol(c) {
                        self.save_field_at_line_end(c);
                    } else if Some(c) == d.escapechar {
                        self.state = State::EscapedChar;
                    } else if c == d.delimiter {
                        self.save_field();
                        self.state = State::StartField;
                    } else {
                        self.add_char(c)?;
                        self.state = State::InField;
                    }
                    break;
                }
                State::InQuotedField => {
                    if c == EOL {
                    } else if Some(c) == d.escapechar {
                        self.state = State::EscapeInQuotedField;
                    } else if c == d.quotechar {
                        self.state = State::QuoteInQuotedField;
                    } else {
                        self.add_char(c)?;
                    }
                    break;
                }
                State::EscapeInQuotedField => {
                    self.add_char(if c == EOL { '\n' } else { c })?;
                    self.state = State::InQuotedField;
                    break;
                }
                State::QuoteInQuotedField => {
                    if c == d.quotechar {
                        self.add_char(c)?;
                        self.state = State::InQuotedField;
                    } else if c == d.delimiter {
                        self.save_field();
                        self.state = State::StartField;
                    } else if is_eol(c) {
                        self.save_field_at_line_end(c);
                    } else {
                        self.add_char(c)?;
                        self.state = State::InField;
                    }
                    break;
                }
                State::EatCrnl => {
                    if c == '\n' || c == '\r' {
                    } else if c == EOL {
                        self.state = State::StartRecord;
                    } else {
                        return Err(CsvError::NewlineInUnquotedField);
                    }
                    break;
                }
            }
        }
        Ok(())
    }
}

/// Every row `csv.reader(io.StringIO(text), ...)` yields, or the `csv.Error`.
pub fn read_rows(text: &str, dialect: CsvDialect) -> Result<Vec<Vec<String>>, CsvError> {
    let mut machine = Machine {
        dialect,
        state: State::StartRecord,
        field: String::new(),
        fields: Vec::new(),
    };
    let mut rows = Vec::new();
    let mut lines = text.split_inclusive('\n').peekable();
    while lines.peek().is_some() {
        machine.fields.clear();
        machine.field.clear();
        machine.state = State::StartRecord;
        loop {
            let Some(line) = lines.next() else {
                // CPython ends the iteration here unless a field is pending; the pending
                // row's fields are then returned.
                if machine.field.is_empty() && machine.state != State::InQuotedField {
                    return Ok(rows);
                }
                machine.save_field();
                break;
            };
            for c in line.chars() {
                if c == EOL {
                    return Err(CsvError::Nul);
                }
                machine.process(c)?;
            }
            machine.process(EOL)?;
            if machine.state == State::StartRecord {
                break;
            }
        }
        rows.push(std::mem::take(&mut machine.fields));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Vec<Vec<String>> {
        read_rows(text, CsvDialect::default()).unwrap()
    }

    #[test]
    fn quoting_and_doubling() {
        assert_eq!(
            rows(r#""1485729127","john_adams","memcache,us-east1""#),
            vec![vec!["1485729127", "john_adams", "memcache,us-east1"]]
        );
        assert_eq!(
            rows(r#"a,"say ""hi""",c"#),
            vec![vec!["a", r#"say "hi""#, "c"]]
        );
        assert_eq!(rows(r#"a,x"y"z,c"#), vec![vec!["a", r#"x"y"z"#, "c"]]);
        assert_eq!(
            rows(r#"a,"q"tail,c"#),
            vec![vec!["a", "qtail", "c"]],
            "strict=False keeps text after a closing quote"
        );
    }

    #[test]
    fn lines_and_blank_rows() {
        // docs/spec §5.3: each row is a separate candidate; a blank line yields an empty row.
        assert_eq!(
            rows("a,b\n\nc,d\n"),
            vec![vec!["a", "b"], vec![], vec!["c", "d"]]
        );
        assert_eq!(
            rows("a,\"multi\nline\",b"),
            vec![vec!["a", "multi\nline", "b"]]
        );
        assert_eq!(rows(""), Vec::<Vec<String>>::new());
        assert_eq!(rows("a,b,"), vec![vec!["a", "b", ""]]);
        assert_eq!(rows("\"open"), vec![vec!["open"]]);
    }

    #[test]
    fn escapes_and_errors() {
        let d = CsvDialect {
            delimiter: '|',
            quotechar: '\'',
            escapechar: Some('\\'),
        };
        assert_eq!(
            read_rows(r"a\|b|'c|d'", d).unwrap(),
            vec![vec!["a|b", "c|d"]]
        );
        assert!(read_rows("a\rb", CsvDialect::default()).is_err());
        assert!(read_rows("a\0b", CsvDialect::default()).is_err());
    }
}
