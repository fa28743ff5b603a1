//! Text renderings StreamAlert's outputs produce with Python: `str()` of values and `json.dumps`
//! (sa-engine's `python` module, shared with the classifier and rules), and eliding long text in
//! the middle.

pub(crate) use sa_engine::python::{Dumps, dumps_as as dumps, py_str as python_str};

/// Shortens text longer than `max` characters by replacing its middle with `" ... "`
/// (StreamAlert's `elide_string_middle`).
pub(crate) fn elide_middle(text: &str, max: usize) -> String {
    let length = text.chars().count();
    if length <= max {
        return text.to_string();
    }
    let half = max.saturating_sub(5) / 2;
    let head: String = text.chars().take(half).collect();
    let tail: String = text.chars().skip(length - half).collect();
    format!("{head} ... {tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_render_as_python_renders_them() {
        // Outputs once had their own Python renderings, with serde's float notation.
        let record = serde_json::json!({"n": 1e16, "m": 0.0001, "s": "é"});
        assert_eq!(python_str(&record), "{'n': 1e+16, 'm': 0.0001, 's': 'é'}");
        assert_eq!(
            dumps(&record, Dumps::COMPACT),
            r#"{"n":1e+16,"m":0.0001,"s":"\u00e9"}"#
        );
    }

    #[test]
    fn elides_the_middle() {
        assert_eq!(elide_middle("short", 99), "short");
        let long = "x".repeat(50) + &"y".repeat(60);
        let elided = elide_middle(&long, 99);
        assert_eq!(elided.chars().count(), 99);
        assert!(elided.starts_with("xxxx") && elided.ends_with("yyyy") && elided.contains(" ... "));
    }
}
