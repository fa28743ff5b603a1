//! `_sa_native`: the functions the Python shim calls back into Rust for.

use pyo3::exceptions::PyLookupError;
use pyo3::prelude::*;

use crate::convert::to_python;
use crate::lookup;

/// `(found, value)` for `LookupTables.get`.
#[pyfunction]
fn lookup_get<'py>(
    py: Python<'py>,
    table: &str,
    key: &Bound<'py, PyAny>,
) -> PyResult<(bool, Bound<'py, PyAny>)> {
    let Some(source) = lookup::active() else {
        return Ok((false, py.None().into_bound(py)));
    };
    // StreamAlert's drivers look keys up by their string form.
    let key = key.str()?.to_string();
    match py.detach(|| source.get(table, &key)) {
        Ok(Some(value)) => Ok((true, to_python(py, &value)?)),
        Ok(None) => Ok((false, py.None().into_bound(py))),
        Err(reason) => Err(PyLookupError::new_err(format!(
            "lookup table {table:?}: {reason}"
        ))),
    }
}

/// The table's driver type, `"null"` for a table that does not exist.
#[pyfunction]
fn lookup_driver(table: &str) -> String {
    lookup::active()
        .and_then(|source| source.driver(table))
        .unwrap_or_else(|| "null".to_owned())
}

/// Python logging records, forwarded to sa's log.
#[pyfunction]
fn log(level: u32, logger: &str, message: &str) {
    match level {
        0..=10 => tracing::debug!(target: "python", logger, "{message}"),
        11..=20 => tracing::info!(target: "python", logger, "{message}"),
        21..=30 => tracing::warn!(target: "python", logger, "{message}"),
        _ => tracing::error!(target: "python", logger, "{message}"),
    }
}

pub(crate) fn module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    let module = PyModule::new(py, "_sa_native")?;
    module.add_function(wrap_pyfunction!(lookup_get, &module)?)?;
    module.add_function(wrap_pyfunction!(lookup_driver, &module)?)?;
    module.add_function(wrap_pyfunction!(log, &module)?)?;
    Ok(module)
}
