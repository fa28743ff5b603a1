//! Tokens of a JMESPath expression, read as Python `jmespath` 0.10's lexer reads them: JSON
//! literals keep their key order, and a backtick literal that is not JSON is a string (the
//! deprecated form `` `foo` `` older StreamAlert configurations use).

use serde_json::Value;

use super::JmesPathError;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token {
    Identifier(String),
    QuotedIdentifier(String),
    Literal(Value),
    Number(i64),
    Dot,
    Star,
    Flatten,
    Filter,
    Lbracket,
    Rbracket,
    Lbrace,
    Rbrace,
    Lparen,
    Rparen,
    Comma,
    Colon,
    Current,
    Expref,
    Pipe,
    Or,
    And,
    Not,
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
    Eof,
}

/// A token and the character position it starts at.
pub(super) type Spanned = (Token, usize);

pub(super) fn tokenize(expression: &str) -> Result<Vec<Spanned>, JmesPathError> {
    if expression.is_empty() {
        return Err(JmesPathError::Syntax("the expression is empty".into()));
    }
    let chars: Vec<char> = expression.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let error =
        |at: usize, reason: String| JmesPathError::Syntax(format!("{reason} at character {at}"));
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let next = chars.get(i + 1).copied();
        let simple = match c {
            '.' => Some(Token::Dot),
            '*' => Some(Token::Star),
            ']' => Some(Token::Rbracket),
            ',' => Some(Token::Comma),
            ':' => Some(Token::Colon),
            '@' => Some(Token::Current),
            '(' => Some(Token::Lparen),
            ')' => Some(Token::Rparen),
            '{' => Some(Token::Lbrace),
            '}' => Some(Token::Rbrace),
            _ => None,
        };
        if let Some(token) = simple {
            tokens.push((token, start));
            i += 1;
            continue;
        }
        // Two-character operators and their one-character fallbacks.
        let pair = |second: char, both: Token, one: Token| {
            if next == Some(second) {
                (both, 2)
            } else {
                (one, 1)
            }
        };
        let (token, len) = match c {
            ' ' | '\t' | '\n' | '\r' => {
                i += 1;
                continue;
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let end = chars[i..]
                    .iter()
                    .position(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
                    .map_or(chars.len(), |p| i + p);
                (Token::Identifier(chars[i..end].iter().collect()), end - i)
            }
            '[' => match next {
                Some(']') => (Token::Flatten, 2),
                Some('?') => (Token::Filter, 2),
                _ => (Token::Lbracket, 1),
            },
            '\'' => {
                let (lexeme, len) = delimited(&chars, i, '\'').map_err(|r| error(start, r))?;
                (
                    Token::Literal(Value::String(lexeme.replace("\\'", "'"))),
                    len,
                )
            }
            '`' => {
                let (lexeme, len) = delimited(&chars, i, '`').map_err(|r| error(start, r))?;
                let lexeme = lexeme.replace("\\`", "`");
                let value = serde_json::from_str(&lexeme)
                    .or_else(|_| {
                        serde_json::from_str::<String>(&format!("\"{}\"", lexeme.trim_start()))
                            .map(Value::String)
                    })
                    .map_err(|_| error(start, format!("bad literal `{lexeme}`")))?;
                (Token::Literal(value), len)
            }
            '"' => {
                let (lexeme, len) = delimited(&chars, i, '"').map_err(|r| error(start, r))?;
                let name = serde_json::from_str::<String>(&format!("\"{lexeme}\""))
                    .map_err(|e| error(start, format!("bad quoted identifier: {e}")))?;
                (Token::QuotedIdentifier(name), len)
            }
            '0'..='9' | '-' => {
                let digits_from = if c == '-' { i + 1 } else { i };
                let end = chars[digits_from..]
                    .iter()
                    .position(|c| !c.is_ascii_digit())
                    .map_or(chars.len(), |p| digits_from + p);
                if end == digits_from {
                    return Err(error(start, "'-' must start a number".into()));
                }
                let text: String = chars[i..end].iter().collect();
                // Python's integers are unbounded; an index this large selects nothing either way.
                let number =
                    text.parse::<i64>()
                        .unwrap_or(if c == '-' { i64::MIN } else { i64::MAX });
                (Token::Number(number), end - i)
            }
            '|' => pair('|', Token::Or, Token::Pipe),
            '&' => pair('&', Token::And, Token::Expref),
            '<' => pair('=', Token::Lte, Token::Lt),
            '>' => pair('=', Token::Gte, Token::Gt),
            '!' => pair('=', Token::Ne, Token::Not),
            '=' if next == Some('=') => (Token::Eq, 2),
            other => return Err(error(start, format!("unknown token {other:?}"))),
        };
        tokens.push((token, start));
        i += len;
    }
    tokens.push((Token::Eof, chars.len()));
    Ok(tokens)
}

/// The text between the delimiter at `open` and its unescaped closing twin, backslashes kept
/// (each lexer unescapes its own delimiter), and the length consumed including both delimiters.
fn delimited(chars: &[char], open: usize, delimiter: char) -> Result<(String, usize), String> {
    let mut lexeme = String::new();
    let mut i = open + 1;
    loop {
        match chars.get(i) {
            None => return Err(format!("unclosed {delimiter} delimiter")),
            Some(c) if *c == delimiter => return Ok((lexeme, i + 1 - open)),
            Some('\\') => {
                lexeme.push('\\');
                i += 1;
                match chars.get(i) {
                    Some(c) => lexeme.push(*c),
                    None => return Err(format!("unclosed {delimiter} delimiter")),
                }
            }
            Some(c) => lexeme.push(*c),
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(expression: &str) -> Vec<Token> {
        tokenize(expression)
            .unwrap()
            .into_iter()
            .map(|(t, _)| t)
            .collect()
    }

    #[test]
    fn literals_keep_key_order_and_legacy_ones_are_strings() {
        let [Token::Literal(value), Token::Eof] = &tokens("`{\"b\": 1, \"a\": 2}`")[..] else {
            panic!("one literal");
        };
        assert_eq!(value.to_string(), r#"{"b":1,"a":2}"#);
        assert_eq!(
            tokens("`  foo bar`")[0],
            Token::Literal(Value::from("foo bar"))
        );
        assert_eq!(tokens("`a\\`b`")[0], Token::Literal(Value::from("a`b")));
        assert_eq!(tokens("'it\\'s'")[0], Token::Literal(Value::from("it's")));
        assert!(tokenize("`\"open`").is_err());
    }

    #[test]
    fn operators_numbers_and_names() {
        assert_eq!(
            tokens("a[?b>=`1`] || !c && \"d e\"[-2] | [] &x"),
            vec![
                Token::Identifier("a".into()),
                Token::Filter,
                Token::Identifier("b".into()),
                Token::Gte,
                Token::Literal(Value::from(1)),
                Token::Rbracket,
                Token::Or,
                Token::Not,
                Token::Identifier("c".into()),
                Token::And,
                Token::QuotedIdentifier("d e".into()),
                Token::Lbracket,
                Token::Number(-2),
                Token::Rbracket,
                Token::Pipe,
                Token::Flatten,
                Token::Expref,
                Token::Identifier("x".into()),
                Token::Eof,
            ]
        );
        assert!(tokenize("a = b").is_err());
        assert!(tokenize("a - b").is_err());
        assert!(tokenize("").is_err());
    }
}
