//! The embedded interpreter: which Python the node runs rules with.

use pyo3::prelude::*;

/// What `sanode --version`-style reports and error messages say about the embedded Python.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpreterInfo {
    pub version: String,
    pub executable: String,
    pub prefix: String,
}

/// Starts the interpreter if needed and describes it.
pub fn interpreter_info() -> PyResult<InterpreterInfo> {
    Python::attach(|py| {
        let sys = py.import("sys")?;
        let version_info = sys.getattr("version_info")?;
        let (major, minor, micro): (u32, u32, u32) = (
            version_info.getattr("major")?.extract()?,
            version_info.getattr("minor")?.extract()?,
            version_info.getattr("micro")?.extract()?,
        );
        Ok(InterpreterInfo {
            version: format!("{major}.{minor}.{micro}"),
            executable: sys.getattr("executable")?.extract()?,
            prefix: sys.getattr("prefix")?.extract()?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_interpreter_is_python_3_and_runs_code() {
        let info = interpreter_info().unwrap();
        assert!(info.version.starts_with("3."), "{info:?}");
        let sum: i64 = Python::attach(|py| py.eval(c"sum(range(10))", None, None)?.extract()).unwrap();
        assert_eq!(sum, 45);
    }
}
