//! Runs tests/python/test_shims.py and test_record_keys.py inside sa's embedded interpreter
//! (with sa's module finder installed) and fails with every failing Python test's traceback.

use std::ffi::CString;

use pyo3::prelude::*;
use sa_rules::{PythonEnv, prepare_interpreter};

use crate::common::exclusive;

#[test]
fn python_shim_tests_pass() {
    run_python_tests("test_shims", 25);
}

#[test]
fn record_key_analysis_tests_pass() {
    run_python_tests("test_record_keys", 10);
}

/// Runs every `test_*` function of `tests/python/{name}.py`, expecting at least `at_least`.
fn run_python_tests(name: &str, at_least: usize) {
    let _turn = exclusive();
    prepare_interpreter(&PythonEnv::default()).unwrap();
    let path = format!("{}/tests/python/{name}.py", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(&path).unwrap();
    let (ran, failures): (usize, Vec<String>) = Python::attach(|py| {
        let module = PyModule::from_code(py, &CString::new(source).unwrap(), &CString::new(path.as_str()).unwrap(), &CString::new(name).unwrap())?;
        py.import("sys")?.getattr("modules")?.set_item(name, &module)?;
        let runner = PyModule::from_code(
            py,
            c"import traceback\ndef run(function):\n    try:\n        function()\n    except BaseException:\n        return traceback.format_exc()\n    return None\n",
            c"<harness>",
            c"harness",
        )?;
        let names: Vec<String> = module
            .dict()
            .keys()
            .iter()
            .map(|key| key.extract::<String>())
            .collect::<PyResult<Vec<_>>>()?
            .into_iter()
            .filter(|name| name.starts_with("test_"))
            .collect();
        let mut failures = Vec::new();
        for name in &names {
            let failure: Option<String> = runner.getattr("run")?.call1((module.getattr(name.as_str())?,))?.extract()?;
            if let Some(text) = failure {
                failures.push(format!("{name}:\n{text}"));
            }
        }
        Ok::<_, PyErr>((names.len(), failures))
    })
    .unwrap();
    assert!(ran >= at_least, "only {ran} python tests found in {path}");
    assert!(
        failures.is_empty(),
        "{} of {ran} python tests failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
