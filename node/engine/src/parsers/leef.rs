//! `parser: leef` (sa extension): IBM QRadar Log Event Extended Format.
//! `LEEF:1.0|Vendor|Product|Version|EventID|key=value<TAB>key=value…` and
//! `LEEF:2.0|Vendor|Product|Version|EventID|DelimiterChar|…` (delimiter as a character or hex like
//! `x09`/`0x5e`), optionally after a syslog header (discarded). Record keys: `leef_version`,
//! `vendor`, `product`, `version`, `event_id` (strings) and `attributes` (object of strings).

use serde_json::{Map, Value};

use super::{Parse, ParserSpec, Rejection};

pub static PARSER: ParserSpec = ParserSpec {
    name: "leef",
    parse: Parse::Text(parse),
};

fn parse(text: &str) -> Result<Value, Rejection> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    let start = text
        .find("LEEF:")
        .ok_or_else(|| Rejection::Format("no `LEEF:` header".into()))?;
    let mut parts = text[start + 5..].splitn(6, '|');
    let mut next = |what: &str| {
        parts
            .next()
            .map(str::to_string)
            .ok_or_else(|| Rejection::Format(format!("LEEF header lacks {what}")))
    };
    let leef_version = next("a version")?;
    let vendor = next("a vendor")?;
    let product = next("a product")?;
    let version = next("a product version")?;
    let event_id = next("an event id")?;
    let rest = parts.next().unwrap_or("");
    let (delimiter, attributes) = if leef_version.starts_with('2') {
        let (spec, attrs) = rest.split_once('|').unwrap_or((rest, ""));
        (delimiter_from(spec)?, attrs)
    } else {
        ('\t', rest)
    };
    let mut record = Map::new();
    for (key, value) in [
        ("leef_version", leef_version),
        ("vendor", vendor),
        ("product", product),
        ("version", version),
        ("event_id", event_id),
    ] {
        record.insert(key.into(), Value::String(value));
    }
    let mut attrs = Map::new();
    for pair in attributes.split(delimiter).filter(|p| !p.is_empty()) {
        if let Some((k, v)) = pair.split_once('=') {
            attrs.insert(k.to_string(), Value::String(v.to_string()));
        }
    }
    record.insert("attributes".into(), Value::Object(attrs));
    Ok(Value::Object(record))
}

fn delimiter_from(spec: &str) -> Result<char, Rejection> {
    if spec.is_empty() {
        return Ok('\t');
    }
    let hex = spec
        .strip_prefix("0x")
        .or_else(|| spec.strip_prefix("x"))
        .or_else(|| spec.strip_prefix("0X"));
    if let Some(hex) = hex.filter(|h| !h.is_empty()) {
        return u32::from_str_radix(hex, 16)
            .ok()
            .and_then(char::from_u32)
            .ok_or_else(|| {
                Rejection::Format(format!(
                    "LEEF delimiter {spec:?} is not a hex character code"
                ))
            });
    }
    let mut chars = spec.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(Rejection::Format(format!(
            "LEEF delimiter {spec:?} is not one character"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leef_1_uses_tabs() {
        let v = parse("LEEF:1.0|Microsoft|MSExchange|4.0 SP1|15345|src=192.0.2.0\tdst=172.50.123.1\tsev=5\tcat=anomaly").unwrap();
        assert_eq!(
            v,
            json!({"leef_version": "1.0", "vendor": "Microsoft", "product": "MSExchange", "version": "4.0 SP1", "event_id": "15345",
                   "attributes": {"src": "192.0.2.0", "dst": "172.50.123.1", "sev": "5", "cat": "anomaly"}})
        );
    }

    #[test]
    fn leef_2_declares_its_delimiter() {
        let v = parse("<13>Jan 18 11:07:53 host LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^sev=5").unwrap();
        assert_eq!(
            v["attributes"],
            json!({"src": "10.0.1.8", "dst": "10.0.0.5", "sev": "5"})
        );
        let v = parse("LEEF:2.0|V|P|1|E|x7C|a=1|b=2").unwrap();
        assert_eq!(v["attributes"], json!({"a": "1", "b": "2"}));
    }

    #[test]
    fn malformed_lines_are_rejected() {
        assert!(parse("LEEF:1.0|V|P").is_err());
        assert!(parse("LEEF:2.0|V|P|1|E|xZZ|a=1").is_err());
        assert!(parse("plain").is_err());
    }
}
