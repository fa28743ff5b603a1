//! `parser: syslog5424` (sa extension): RFC 5424 syslog with structured data,
//! `<PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]`.
//! Record keys: `facility`, `severity` (integers from PRI), `version`, `timestamp`, `hostname`,
//! `app_name`, `procid`, `msgid` (strings, `null` for the NILVALUE `-`), `structured_data`
//! (object SD-ID → object of PARAM-NAME → value) and `message` (string, BOM removed).

use serde_json::{Map, Value};

use super::{Parse, ParserSpec, Rejection};

pub static PARSER: ParserSpec = ParserSpec {
    name: "syslog5424",
    parse: Parse::Text(parse),
};

fn reject(why: &str) -> Rejection {
    Rejection::Format(format!("not RFC 5424 syslog: {why}"))
}

fn parse(text: &str) -> Result<Value, Rejection> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    let rest = text.strip_prefix('<').ok_or_else(|| reject("no <PRI>"))?;
    let (pri, rest) = rest.split_once('>').ok_or_else(|| reject("no <PRI>"))?;
    let pri: u16 = pri
        .parse()
        .ok()
        .filter(|p| *p <= 191 && !pri.is_empty() && pri.len() <= 3)
        .ok_or_else(|| reject("PRI is not 0-191"))?;
    let mut header = Map::new();
    header.insert("facility".into(), Value::from(pri / 8));
    header.insert("severity".into(), Value::from(pri % 8));
    let mut rest = rest;
    for key in [
        "version",
        "timestamp",
        "hostname",
        "app_name",
        "procid",
        "msgid",
    ] {
        let (token, after) = rest
            .split_once(' ')
            .ok_or_else(|| reject("header is incomplete"))?;
        if token.is_empty() {
            return Err(reject("empty header field"));
        }
        if key == "version" && !token.chars().all(|c| c.is_ascii_digit()) {
            return Err(reject("VERSION is not a number"));
        }
        header.insert(
            key.into(),
            if token == "-" {
                Value::Null
            } else {
                Value::String(token.into())
            },
        );
        rest = after;
    }
    let (structured, message) = parse_structured_data(rest)?;
    header.insert("structured_data".into(), Value::Object(structured));
    let message = message.strip_prefix('\u{feff}').unwrap_or(message);
    header.insert("message".into(), Value::String(message.into()));
    Ok(Value::Object(header))
}

/// `-` or one or more `[SD-ID param="value" …]` elements, then an optional ` MSG`.
fn parse_structured_data(text: &str) -> Result<(Map<String, Value>, &str), Rejection> {
    let mut elements = Map::new();
    if let Some(after) = text.strip_prefix('-') {
        return Ok((elements, after.strip_prefix(' ').unwrap_or(after)));
    }
    let mut rest = text;
    while let Some(body) = rest.strip_prefix('[') {
        let id_end = body
            .find([' ', ']'])
            .ok_or_else(|| reject("unterminated SD-ELEMENT"))?;
        let id = &body[..id_end];
        let mut params = Map::new();
        let mut cursor = &body[id_end..];
        loop {
            cursor = cursor.trim_start_matches(' ');
            if let Some(after) = cursor.strip_prefix(']') {
                cursor = after;
                break;
            }
            let (name, after) = cursor
                .split_once("=\"")
                .ok_or_else(|| reject("SD-PARAM without =\"value\""))?;
            let (value, after) = read_param_value(after)?;
            params.insert(name.to_string(), Value::String(value));
            cursor = after;
        }
        elements.insert(id.to_string(), Value::Object(params));
        rest = cursor;
    }
    if elements.is_empty() {
        return Err(reject("STRUCTURED-DATA is neither - nor [..]"));
    }
    if rest.is_empty() {
        return Ok((elements, rest));
    }
    let message = rest
        .strip_prefix(' ')
        .ok_or_else(|| reject("no space after STRUCTURED-DATA"))?;
    Ok((elements, message))
}

/// A PARAM-VALUE up to its closing `"`, with `\"`, `\\` and `\]` unescaped.
fn read_param_value(text: &str) -> Result<(String, &str), Rejection> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, next @ ('"' | '\\' | ']'))) => value.push(next),
                Some((_, other)) => {
                    value.push('\\');
                    value.push(other);
                }
                None => break,
            },
            '"' => return Ok((value, &text[i + 1..])),
            c => value.push(c),
        }
    }
    Err(reject("unterminated PARAM-VALUE"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc_example_with_structured_data() {
        // RFC 5424 §6.5 example 3.
        let line = r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] An application event"#;
        assert_eq!(
            parse(line).unwrap(),
            json!({
                "facility": 20, "severity": 5, "version": "1", "timestamp": "2003-10-11T22:14:15.003Z",
                "hostname": "mymachine.example.com", "app_name": "evntslog", "procid": null, "msgid": "ID47",
                "structured_data": {"exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"},
                                    "examplePriority@32473": {"class": "high"}},
                "message": "An application event"
            })
        );
    }

    #[test]
    fn nil_structured_data_bom_and_escapes() {
        let v = parse("<34>1 2003-10-11T22:14:15.003Z host su - ID47 - \u{feff}'su root' failed\n")
            .unwrap();
        assert_eq!(v["structured_data"], json!({}));
        assert_eq!(v["message"], json!("'su root' failed"));
        let v = parse(r#"<14>1 - - - - - [a x="q\"\]"]"#).unwrap();
        assert_eq!(v["structured_data"], json!({"a": {"x": "q\"]"}}));
        assert_eq!(v["message"], json!(""));
    }

    #[test]
    fn malformed_lines_are_rejected() {
        assert!(parse("Jan 10 19:35:13 host ssh: x").is_err());
        assert!(parse("<999>1 - - - - - -").is_err());
        assert!(parse("<14>1 - - - - -").is_err());
        assert!(parse(r#"<14>1 - - - - - [a x="open"#).is_err());
    }
}
