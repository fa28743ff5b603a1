//! The embedded interpreter: which Python the node runs rules with, the user's environment
//! (`VIRTUAL_ENV` / `--python-env`) on its path, and sa's modules installed, once per process.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::{native, shim};

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

/// A Python environment whose packages rules may import (a virtualenv or a prefix with
/// `lib/pythonX.Y/site-packages`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PythonEnv {
    pub dir: Option<PathBuf>,
}

impl PythonEnv {
    /// `explicit` (e.g. `--python-env`) if given, else `$VIRTUAL_ENV`, else none.
    pub fn resolve(explicit: Option<PathBuf>) -> Self {
        let dir = explicit.or_else(|| {
            std::env::var_os("VIRTUAL_ENV")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        PythonEnv { dir }
    }
}

/// Why the embedded Python could not be prepared.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum InterpreterError {
    #[error("python environment {dir}: {reason}")]
    Environment { dir: PathBuf, reason: String },
    #[error("embedded python failed to start sa's modules: {0}")]
    Bootstrap(String),
}

static PREPARED: OnceLock<Result<Option<PathBuf>, InterpreterError>> = OnceLock::new();

/// Installs sa's modules into the interpreter (once per process) and adds `env`'s
/// site-packages to `sys.path`. Every later call must name the same environment.
pub fn prepare(env: &PythonEnv) -> Result<(), InterpreterError> {
    let prepared =
        PREPARED.get_or_init(|| Python::attach(|py| bootstrap(py, env)).map(|()| env.dir.clone()));
    match prepared {
        Err(error) => Err(error.clone()),
        Ok(dir) if *dir != env.dir => Err(InterpreterError::Environment {
            dir: env.dir.clone().unwrap_or_default(),
            reason: format!(
                "this process already runs rules with {}; one interpreter per process",
                dir.as_deref()
                    .map_or("no environment".to_owned(), |d| d.display().to_string())
            ),
        }),
        Ok(_) => Ok(()),
    }
}

fn bootstrap(py: Python<'_>, env: &PythonEnv) -> Result<(), InterpreterError> {
    let describe = |error: PyErr| InterpreterError::Bootstrap(error.to_string());
    let sys = py.import("sys").map_err(describe)?;
    if let Some(dir) = &env.dir {
        let version: (u32, u32) = sys
            .getattr("version_info")
            .and_then(|v| {
                Ok((
                    v.getattr("major")?.extract()?,
                    v.getattr("minor")?.extract()?,
                ))
            })
            .map_err(describe)?;
        let site_packages = site_packages(dir, version)?;
        let site = py.import("site").map_err(describe)?;
        site.call_method1("addsitedir", (site_packages.to_string_lossy().as_ref(),))
            .map_err(describe)?;
    }
    let modules = sys.getattr("modules").map_err(describe)?;
    modules
        .set_item("_sa_native", native::module(py).map_err(describe)?)
        .map_err(describe)?;
    let sources = PyDict::new(py);
    for (name, origin, source, is_package) in shim::MODULES {
        sources
            .set_item(name, (*origin, *source, *is_package))
            .map_err(describe)?;
    }
    let globals = PyDict::new(py);
    globals.set_item("SOURCES", sources).map_err(describe)?;
    globals
        .set_item("__name__", "_sa_bootstrap")
        .map_err(describe)?;
    let code =
        CString::new(shim::BOOTSTRAP).map_err(|e| InterpreterError::Bootstrap(e.to_string()))?;
    py.run(&code, Some(&globals), None)
        .map_err(|error| InterpreterError::Bootstrap(crate::python_error::describe(py, &error)))
}

/// `<dir>/lib/pythonX.Y/site-packages` for the embedded X.Y, with an error that says which
/// Python the environment was made for when it is not ours.
fn site_packages(dir: &Path, (major, minor): (u32, u32)) -> Result<PathBuf, InterpreterError> {
    let error = |reason: String| InterpreterError::Environment {
        dir: dir.to_owned(),
        reason,
    };
    if !dir.is_dir() {
        return Err(error("no such directory".to_owned()));
    }
    let wanted = dir
        .join("lib")
        .join(format!("python{major}.{minor}"))
        .join("site-packages");
    if wanted.is_dir() {
        return Ok(wanted);
    }
    let found: Vec<String> = std::fs::read_dir(dir.join("lib"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            entry
                .file_name()
                .to_str()
                .filter(|n| n.starts_with("python"))
                .map(str::to_owned)
        })
        .collect();
    Err(error(if found.is_empty() {
        format!("has no lib/python{major}.{minor}/site-packages (is it a virtualenv?)")
    } else {
        format!(
            "was made for {} but sa embeds python{major}.{minor}: recreate it with /usr/bin/python3 -m venv",
            found.join(", ")
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_interpreter_is_python_3_and_runs_code() {
        let info = interpreter_info().unwrap();
        assert!(info.version.starts_with("3."), "{info:?}");
        let sum: i64 =
            Python::attach(|py| py.eval(c"sum(range(10))", None, None)?.extract()).unwrap();
        assert_eq!(sum, 45);
    }

    #[test]
    fn an_environment_for_another_python_is_refused_with_the_reason() {
        let dir = std::env::temp_dir().join(format!("sa-venv-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("lib/python2.7/site-packages")).unwrap();
        let error = site_packages(&dir, (3, 11)).unwrap_err().to_string();
        assert!(
            error.contains("python2.7") && error.contains("python3.11"),
            "{error}"
        );
        std::fs::create_dir_all(dir.join("lib/python3.11/site-packages")).unwrap();
        assert!(site_packages(&dir, (3, 11)).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
