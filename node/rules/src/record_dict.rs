//! Records into Python dicts on the hot path, with the dict keys interned once per engine.
//!
//! Records of one log type share their keys, so each key string is created (and hashed) once:
//! later records reuse the same interned `str`, which also lets a rule's `rec['eventName']`
//! find the key by identity. Dicts and lists are filled through the C API directly: lists are
//! created at their final length, and no per-item conversion machinery runs.

use std::collections::HashMap;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use sa_engine::fxhash::FxBuildHasher;
use serde_json::{Map, Value};

use crate::convert::to_python;
use crate::rule_catalog::RecordView;

/// Bound on cached keys, so records with data-dependent keys cannot grow it without limit.
const MAX_KEYS: usize = 20_000;

#[derive(Default)]
pub(crate) struct RecordDicts {
    /// Fx hashes a key a word at a time (keys are short; SipHash's setup would dominate).
    keys: HashMap<String, Py<PyString>, FxBuildHasher>,
}

impl RecordDicts {
    /// The dict of `record` that `view` calls for.
    pub(crate) fn view<'py>(
        &mut self,
        py: Python<'py>,
        record: &Map<String, Value>,
        view: &RecordView,
    ) -> PyResult<Bound<'py, PyDict>> {
        let RecordView::Keys(keys) = view else {
            return self.dict(py, record);
        };
        let dict = presized_dict(py, keys.len())?;
        for key in keys.iter() {
            let Some(value) = record.get(key) else {
                continue;
            };
            self.insert(py, &dict, key, value)?;
        }
        Ok(dict)
    }

    pub(crate) fn dict<'py>(
        &mut self,
        py: Python<'py>,
        map: &Map<String, Value>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let dict = presized_dict(py, map.len())?;
        for (key, value) in map {
            self.insert(py, &dict, key, value)?;
        }
        Ok(dict)
    }

    /// `dict[key] = value` converted.
    fn insert(
        &mut self,
        py: Python<'_>,
        dict: &Bound<'_, PyDict>,
        key: &str,
        value: &Value,
    ) -> PyResult<()> {
        let value = self.value(py, value)?;
        // A cached key is used through the cache's own reference: no reference count
        // traffic on it beyond the dict's.
        let status = match self.keys.get(key) {
            Some(cached) => set_item(dict, cached.as_ptr(), &value),
            None => set_item(dict, self.key(py, key).as_ptr(), &value),
        };
        if status != 0 {
            return Err(PyErr::fetch(py));
        }
        Ok(())
    }

    fn value<'py>(&mut self, py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
        match value {
            Value::Object(map) => Ok(self.dict(py, map)?.into_any()),
            Value::Array(items) => {
                let length = ffi::Py_ssize_t::try_from(items.len())
                    .map_err(|_| pyo3::exceptions::PyOverflowError::new_err("list too long"))?;
                // SAFETY: PyList_New returns a new reference or NULL with an exception set.
                let list = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyList_New(length))? };
                for (index, item) in (0..length).zip(items) {
                    let item = self.value(py, item)?;
                    // SAFETY: `index` is within the list's length and the slot is empty;
                    // PyList_SET_ITEM steals the reference into_ptr hands over. A list left
                    // partly filled by an error above is still safe to free (NULL slots).
                    unsafe { ffi::PyList_SET_ITEM(list.as_ptr(), index, item.into_ptr()) };
                }
                Ok(list)
            }
            Value::String(text) => string(py, text),
            scalar => to_python(py, scalar),
        }
    }

    /// Interns a key not cached yet (and caches it while the cache has room).
    fn key<'py>(&mut self, py: Python<'py>, key: &str) -> Bound<'py, PyString> {
        let interned = PyString::intern(py, key);
        if self.keys.len() < MAX_KEYS {
            self.keys.insert(key.to_owned(), interned.clone().unbind());
        }
        interned
    }
}

// Not in pyo3's bindings, but part of CPython's (non-limited) C API since 3.x.
unsafe extern "C" {
    fn _PyDict_NewPresized(minused: ffi::Py_ssize_t) -> *mut ffi::PyObject;
}

/// A dict with room for `len` items: filling it never resizes. On CPython 3.11 a presized dict
/// of more than 5 items gets the general key table (24-byte entries, not the 16 of str-only
/// tables), so rule lookups are slightly slower; `sactl bench rules` still measures the whole
/// rules stage 5-10% faster than with resizing.
fn presized_dict(py: Python<'_>, len: usize) -> PyResult<Bound<'_, PyDict>> {
    let len = ffi::Py_ssize_t::try_from(len)
        .map_err(|_| pyo3::exceptions::PyOverflowError::new_err("object too large"))?;
    // SAFETY: _PyDict_NewPresized returns a new reference to a dict, or NULL with an exception.
    let dict = unsafe { Bound::from_owned_ptr_or_err(py, _PyDict_NewPresized(len))? };
    // SAFETY: the object was just created by the dict constructor.
    Ok(unsafe { dict.cast_into_unchecked() })
}

/// A `str` from Rust text. ASCII (most log text) is copied straight into a new compact string,
/// skipping the UTF-8 decoder's scan for the widest character.
fn string<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    let length = ffi::Py_ssize_t::try_from(text.len())
        .map_err(|_| pyo3::exceptions::PyOverflowError::new_err("string too long"))?;
    if text.is_ascii() {
        // SAFETY: PyUnicode_New returns a new compact ASCII string (maxchar 127) of `length`
        // one-byte characters, or NULL with an exception set; its data area holds exactly
        // `length` bytes, which the copy fills with ASCII.
        unsafe {
            let object = Bound::from_owned_ptr_or_err(py, ffi::PyUnicode_New(length, 127))?;
            std::ptr::copy_nonoverlapping(
                text.as_ptr(),
                ffi::PyUnicode_1BYTE_DATA(object.as_ptr()),
                text.len(),
            );
            return Ok(object);
        }
    }
    // SAFETY: the pointer and length describe valid UTF-8 owned by `text`; the call returns a
    // new reference or NULL with an exception set.
    unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyUnicode_FromStringAndSize(text.as_ptr().cast(), length),
        )
    }
}

/// `PyDict_SetItem`: 0, or -1 with a Python exception set.
fn set_item(dict: &Bound<'_, PyDict>, key: *mut ffi::PyObject, value: &Bound<'_, PyAny>) -> i32 {
    // SAFETY: `dict`, `key` and `value` are live objects of the attached interpreter (`key` is
    // held by the key cache or by the caller's temporary); PyDict_SetItem takes its own
    // references to the key and the value.
    unsafe { ffi::PyDict_SetItem(dict.as_ptr(), key, value.as_ptr()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dicts_equal_the_plain_conversion_and_share_key_objects() {
        let record = json!({
            "a": {"b": [1, {"c": null}], "d": "x"}, "e": [true, 2.5], "u": "é漢\u{1F600}", "empty": "",
            "l": [], "n": [[1, "x"], []], "big": 18446744073709551615u64, "neg": -3, "f": false
        });
        let mut dicts = RecordDicts::default();
        Python::attach(|py| {
            let first = dicts.dict(py, record.as_object().unwrap()).unwrap();
            let second = dicts.dict(py, record.as_object().unwrap()).unwrap();
            assert!(first.eq(to_python(py, &record).unwrap()).unwrap());
            let (first_key, second_key) = (
                first.keys().get_item(0).unwrap(),
                second.keys().get_item(0).unwrap(),
            );
            assert!(first_key.is(&second_key));
            assert_eq!(crate::convert::from_python(&second).unwrap(), record);
        });
    }

    #[test]
    fn a_view_of_keys_holds_those_the_record_has_with_their_whole_values() {
        let record = json!({"a": {"b": [1, {"c": null}]}, "d": "x", "e": 2});
        let record = record.as_object().unwrap();
        let keys = RecordView::Keys(["a", "e", "missing"].map(String::from).into());
        let mut dicts = RecordDicts::default();
        Python::attach(|py| {
            let partial = dicts.view(py, record, &keys).unwrap();
            assert_eq!(
                crate::convert::from_python(&partial).unwrap(),
                json!({"a": {"b": [1, {"c": null}]}, "e": 2})
            );
            let whole = dicts.view(py, record, &RecordView::Whole).unwrap();
            assert_eq!(
                crate::convert::from_python(&whole).unwrap(),
                Value::Object(record.clone())
            );
        });
    }
}
