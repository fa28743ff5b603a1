//! Python exceptions as text for error messages.

use pyo3::prelude::*;

/// `Type: message` followed by the formatted traceback when there is one.
pub fn describe(py: Python<'_>, error: &PyErr) -> String {
    let formatted = py.import("traceback").and_then(|traceback| {
        let lines = traceback.call_method1("format_exception", (error.value(py),))?;
        let text: Vec<String> = lines.extract()?;
        Ok(text.concat())
    });
    formatted
        .unwrap_or_else(|_| error.to_string())
        .trim_end()
        .to_owned()
}
